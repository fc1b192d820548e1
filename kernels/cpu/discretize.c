/* Elementwise discretization over a broadcast shape; the math is kernels/discretize_math.h.
 * Forward writes Ā, B̄; backward applies the chain rule per element with PyTorch's complex
 * convention: dλ = gĀ conj(∂Ā/∂λ) + gB̄ conj(∂B̄/∂λ), dΔ = Re(gĀ conj(∂Ā/∂Δ) + gB̄ conj(∂B̄/∂Δ)).
 * The caller sums over broadcast dims (ops/discretize.c, lr_grad_acc). */
#include "kernels/cpu/discretize.h"

static inline int64_t off(int64_t i, int ndim, const int64_t *shape, const int64_t *st) {
  int64_t o = 0;
  for (int k = ndim - 1; k >= 0; k--) {
    int64_t q = i % shape[k];
    i /= shape[k];
    o += q * st[k];
  }
  return o;
}

#define DISC_FWD(S, T, R)                                                                           \
  static void fwd_##S(int kind, int ndim, const int64_t *shape, int64_t n, const T *lam, const int64_t *ls,  \
                      const R *d, const int64_t *ds, const R *dA, const int64_t *dAs, T *abar, T *bbar) { \
    _Pragma("omp parallel for if (n > 65536)") for (int64_t i = 0; i < n; i++) {                   \
      R dv = d[off(i, ndim, shape, ds)];                                                            \
      R dav = dA ? dA[off(i, ndim, shape, dAs)] : dv;                                               \
      lr_disc_eval_##S(kind, lam[off(i, ndim, shape, ls)], dav, dv, &abar[i], &bbar[i]);            \
    }                                                                                               \
  }                                                                                                 \
  static void bwd_##S(int kind, int ndim, const int64_t *shape, int64_t n, const T *lam, const int64_t *ls,  \
                      const R *d, const int64_t *ds, const R *dA, const int64_t *dAs, const T *gA,     \
                      const T *gB, T *dlam, R *dd, R *ddA) {                                          \
    _Pragma("omp parallel for if (n > 65536)") for (int64_t i = 0; i < n; i++) {                   \
      R dv = d[off(i, ndim, shape, ds)];                                                            \
      R dav = dA ? dA[off(i, ndim, shape, dAs)] : dv;                                               \
      T a, b, p[6];                                                                                 \
      lr_disc_deriv_##S(kind, lam[off(i, ndim, shape, ls)], dav, dv, &a, &b, p);                    \
      T ga = gA ? gA[i] : dm_r_##S((R)0), gb = gB ? gB[i] : dm_r_##S((R)0);                        \
      if (dlam)                                                                                     \
        dlam[i] = dm_add_##S(dm_mul_##S(ga, dm_conj_##S(p[0])), dm_mul_##S(gb, dm_conj_##S(p[3]))); \
      R gda = dm_redot_##S(ga, p[1]) + dm_redot_##S(gb, p[4]);                                      \
      R gd = dm_redot_##S(ga, p[2]) + dm_redot_##S(gb, p[5]);                                       \
      if (ddA) {                                                                                    \
        ddA[i] = gda;                                                                               \
        if (dd) dd[i] = gd;                                                                         \
      } else if (dd) {                                                                              \
        dd[i] = gd + gda;                                                                           \
      }                                                                                             \
    }                                                                                               \
  }
DISC_FWD(f, float, float)
DISC_FWD(d, double, double)
DISC_FWD(cf, lr_c64, float)
DISC_FWD(cd, lr_c128, double)

static int64_t numel(int ndim, const int64_t *shape) {
  int64_t n = 1;
  for (int k = 0; k < ndim; k++) n *= shape[k];
  return n;
}

void lr_kcpu_discretize(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam, const int64_t *ls,
                        const void *d, const int64_t *ds, const void *dA, const int64_t *dAs, void *abar, void *bbar) {
  int64_t n = numel(ndim, shape);
  switch (dt) {
    case LR_DTYPE_F32: fwd_f(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, abar, bbar); break;
    case LR_DTYPE_F64: fwd_d(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, abar, bbar); break;
    case LR_DTYPE_C64: fwd_cf(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, abar, bbar); break;
    case LR_DTYPE_C128: fwd_cd(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, abar, bbar); break;
    default: break;
  }
}

void lr_kcpu_discretize_bwd(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam,
                            const int64_t *ls, const void *d, const int64_t *ds, const void *dA, const int64_t *dAs,
                            const void *gA, const void *gB, void *dlam, void *dd, void *ddA) {
  int64_t n = numel(ndim, shape);
  switch (dt) {
    case LR_DTYPE_F32: bwd_f(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, gA, gB, dlam, dd, ddA); break;
    case LR_DTYPE_F64: bwd_d(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, gA, gB, dlam, dd, ddA); break;
    case LR_DTYPE_C64: bwd_cf(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, gA, gB, dlam, dd, ddA); break;
    case LR_DTYPE_C128: bwd_cd(kind, ndim, shape, n, lam, ls, d, ds, dA, dAs, gA, gB, dlam, dd, ddA); break;
    default: break;
  }
}
