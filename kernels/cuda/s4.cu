/* S4 kernels on the GPU, the twins of kernels/cpu/s4.c (C64 / C128 storage, arithmetic in double
 * complex). Shapes: v, w, x (Bt, N); z (L); u (Bt, L); outputs as in kernels/cpu/s4.h.
 *   cauchy       out[b, l] = sum_n v/(z_l - w) + conj(v)/(z_l - conj w)
 *   cauchy_bwd   dv, dw per (b, n) summing over l; dz per l summing over b then n
 *   vand         out[b, l] = 2 Re sum_n v e^{x l}          (real output)
 *   vand_bwd     dv = 2 sum_l g conj(e^{xl}), dx = 2 conj(v) sum_l g l conj(e^{xl})
 *   vand_t       out[b, n] = v sum_l u_l e^{x l}
 *   vand_t_bwd   dv = g conj(S), dx = g conj(v sum_l l u e^{xl}) per (b, n); du[b, l] over n
 * Launch layout: one thread per output element, looping over the summed index in the CPU's order
 * (so each output has one fixed order: deterministic, no atomics; results match the CPU's to a few
 * ulps of the double arithmetic: the GPU fuses multiply-adds and has its own exp / sincos).
 * e^{x l} is evaluated directly for every l, as on the CPU (accurate for any l).
 */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;

struct cd {
  double re, im;
};
__device__ __forceinline__ cd mk(double r, double i) { return cd{r, i}; }
__device__ __forceinline__ cd operator+(cd a, cd b) { return mk(a.re + b.re, a.im + b.im); }
__device__ __forceinline__ cd operator-(cd a, cd b) { return mk(a.re - b.re, a.im - b.im); }
__device__ __forceinline__ cd operator*(cd a, cd b) { return mk(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re); }
__device__ __forceinline__ cd operator*(double s, cd a) { return mk(s * a.re, s * a.im); }
__device__ __forceinline__ cd cj(cd a) { return mk(a.re, -a.im); }
/* a / b by Smith's method (no overflow in |b|^2 for large b, as C's complex division) */
__device__ __forceinline__ cd operator/(cd a, cd b) {
  if (fabs(b.re) >= fabs(b.im)) {
    double r = b.im / b.re, den = b.re + b.im * r;
    return mk((a.re + a.im * r) / den, (a.im - a.re * r) / den);
  }
  double r = b.re / b.im, den = b.re * r + b.im;
  return mk((a.re * r + a.im) / den, (a.im * r - a.re) / den);
}
__device__ __forceinline__ cd cexp_(cd a) {
  double e = exp(a.re), sn, cs;
  sincos(a.im, &sn, &cs);
  return mk(e * cs, e * sn);
}

template <typename T> __device__ __forceinline__ cd ld(const T *p, int64_t i) {
  return mk((double)p[2 * i], (double)p[2 * i + 1]);
}
template <typename T> __device__ __forceinline__ void st(T *p, int64_t i, cd v) {
  p[2 * i] = (T)v.re;
  p[2 * i + 1] = (T)v.im;
}

#define GRID_LOOP(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)blockDim.x * gridDim.x)

template <typename T> __global__ void cauchy_k(int64_t Bt, int64_t N, int64_t L, const T *v, const T *z, const T *w, T *out) {
  GRID_LOOP(bl, Bt * L) {
    int64_t b = bl / L, l = bl % L;
    cd zl = ld(z, l), s = mk(0, 0);
    for (int64_t n = 0; n < N; n++) {
      cd vn = ld(v, b * N + n), wn = ld(w, b * N + n);
      s = s + (vn / (zl - wn) + cj(vn) / (zl - cj(wn)));
    }
    st(out, bl, s);
  }
}

template <typename T>
__global__ void cauchy_vw_k(int64_t Bt, int64_t N, int64_t L, const T *v, const T *z, const T *w, const T *g, T *dv,
                            T *dw) {
  GRID_LOOP(bn, Bt * N) {
    int64_t b = bn / N;
    cd vn = ld(v, bn), wn = ld(w, bn), sv = mk(0, 0), sw = mk(0, 0), one = mk(1, 0);
    for (int64_t l = 0; l < L; l++) {
      cd gl = ld(g, b * L + l), zl = ld(z, l);
      cd r1 = one / (zl - wn), r2 = one / (zl - cj(wn));
      sv = sv + (gl * cj(r1) + cj(gl) * r2);
      sw = sw + (gl * cj(r1 * r1) + cj(gl) * r2 * r2);
    }
    if (dv) st(dv, bn, sv);
    if (dw) st(dw, bn, cj(vn) * sw);
  }
}

template <typename T>
__global__ void cauchy_z_k(int64_t Bt, int64_t N, int64_t L, const T *v, const T *z, const T *w, const T *g, T *dz) {
  GRID_LOOP(l, L) {
    cd zl = ld(z, l), s = mk(0, 0), one = mk(1, 0);
    for (int64_t b = 0; b < Bt; b++) {
      cd gl = ld(g, b * L + l), d = mk(0, 0);
      for (int64_t n = 0; n < N; n++) {
        cd vn = ld(v, b * N + n), wn = ld(w, b * N + n);
        cd r1 = one / (zl - wn), r2 = one / (zl - cj(wn));
        d = d + (vn * r1 * r1 + cj(vn) * r2 * r2);
      }
      s = s - gl * cj(d);
    }
    st(dz, l, s);
  }
}

template <typename T> __global__ void vand_k(int64_t Bt, int64_t N, int64_t L, const T *v, const T *x, T *out) {
  GRID_LOOP(bl, Bt * L) {
    int64_t b = bl / L, l = bl % L;
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += (ld(v, b * N + n) * cexp_((double)l * ld(x, b * N + n))).re;
    out[bl] = (T)(2.0 * s);
  }
}

template <typename T>
__global__ void vand_bwd_k(int64_t Bt, int64_t N, int64_t L, const T *v, const T *x, const T *g, T *dv, T *dx) {
  GRID_LOOP(bn, Bt * N) {
    int64_t b = bn / N;
    cd xn = ld(x, bn), sv = mk(0, 0), sx = mk(0, 0);
    for (int64_t l = 0; l < L; l++) {
      cd e = (double)g[b * L + l] * cj(cexp_((double)l * xn));
      sv = sv + e;
      sx = sx + (double)l * e;
    }
    if (dv) st(dv, bn, 2.0 * sv);
    if (dx) st(dx, bn, 2.0 * (cj(ld(v, bn)) * sx));
  }
}

template <typename T>
__global__ void vand_t_k(int64_t Bt, int64_t N, int64_t L, const T *u, const T *v, const T *x, T *out) {
  GRID_LOOP(bn, Bt * N) {
    int64_t b = bn / N;
    cd xn = ld(x, bn), s = mk(0, 0);
    for (int64_t l = 0; l < L; l++) s = s + ld(u, b * L + l) * cexp_((double)l * xn);
    st(out, bn, ld(v, bn) * s);
  }
}

template <typename T>
__global__ void vand_t_vx_k(int64_t Bt, int64_t N, int64_t L, const T *u, const T *v, const T *x, const T *g, T *dv,
                            T *dx) {
  GRID_LOOP(bn, Bt * N) {
    int64_t b = bn / N;
    cd xn = ld(x, bn), s = mk(0, 0), sl = mk(0, 0);
    for (int64_t l = 0; l < L; l++) {
      cd t = ld(u, b * L + l) * cexp_((double)l * xn);
      s = s + t;
      sl = sl + (double)l * t;
    }
    cd gn = ld(g, bn);
    if (dv) st(dv, bn, gn * cj(s));
    if (dx) st(dx, bn, gn * cj(ld(v, bn) * sl));
  }
}

template <typename T>
__global__ void vand_t_u_k(int64_t Bt, int64_t N, int64_t L, const T *v, const T *x, const T *g, T *du) {
  GRID_LOOP(bl, Bt * L) {
    int64_t b = bl / L, l = bl % L;
    cd s = mk(0, 0);
    for (int64_t n = 0; n < N; n++)
      s = s + ld(g, b * N + n) * cj(ld(v, b * N + n) * cexp_((double)l * ld(x, b * N + n)));
    st(du, bl, s);
  }
}

#define S4_DISPATCH(fn, dt, LAUNCH)                                                              \
  do {                                                                                           \
    if ((dt) == LR_DTYPE_C64) { typedef float T; LAUNCH; }                                       \
    else if ((dt) == LR_DTYPE_C128) { typedef double T; LAUNCH; }                                \
    else return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected c64 or c128", fn, lr_dtype_name(dt)); \
    LR_TRY(lr_cuda_check_launch(fn));                                                            \
  } while (0)

#define BLK(n) lr_cuda_blocks((n), kThreads), kThreads, 0, st

} // namespace

extern "C" lr_status lr_kcuda_cauchy(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z,
                                     const void *w, void *out, lr_cuda_stream_t s) {
  if (Bt * L == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  S4_DISPATCH("lr_kcuda_cauchy", dt,
              (cauchy_k<T><<<BLK(Bt * L)>>>(Bt, N, L, (const T *)v, (const T *)z, (const T *)w, (T *)out)));
  return LR_OK;
}

extern "C" lr_status lr_kcuda_cauchy_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z,
                                         const void *w, const void *g, void *dv, void *dw, void *dz,
                                         lr_cuda_stream_t s) {
  cudaStream_t st = lr_cuda_pick_stream(s);
  if ((dv || dw) && Bt * N > 0)
    S4_DISPATCH("lr_kcuda_cauchy_bwd", dt,
                (cauchy_vw_k<T><<<BLK(Bt * N)>>>(Bt, N, L, (const T *)v, (const T *)z, (const T *)w, (const T *)g,
                                                 (T *)dv, (T *)dw)));
  if (dz && L > 0)
    S4_DISPATCH("lr_kcuda_cauchy_bwd", dt,
                (cauchy_z_k<T><<<BLK(L)>>>(Bt, N, L, (const T *)v, (const T *)z, (const T *)w, (const T *)g,
                                           (T *)dz)));
  return LR_OK;
}

extern "C" lr_status lr_kcuda_log_vandermonde(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v,
                                              const void *x, void *out, lr_cuda_stream_t s) {
  if (Bt * L == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  S4_DISPATCH("lr_kcuda_log_vandermonde", dt,
              (vand_k<T><<<BLK(Bt * L)>>>(Bt, N, L, (const T *)v, (const T *)x, (T *)out)));
  return LR_OK;
}

extern "C" lr_status lr_kcuda_log_vandermonde_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v,
                                                  const void *x, const void *g, void *dv, void *dx,
                                                  lr_cuda_stream_t s) {
  if (Bt * N == 0 || (!dv && !dx)) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  S4_DISPATCH("lr_kcuda_log_vandermonde_bwd", dt,
              (vand_bwd_k<T><<<BLK(Bt * N)>>>(Bt, N, L, (const T *)v, (const T *)x, (const T *)g, (T *)dv, (T *)dx)));
  return LR_OK;
}

extern "C" lr_status lr_kcuda_log_vandermonde_t(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u,
                                                const void *v, const void *x, void *out, lr_cuda_stream_t s) {
  if (Bt * N == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  S4_DISPATCH("lr_kcuda_log_vandermonde_t", dt,
              (vand_t_k<T><<<BLK(Bt * N)>>>(Bt, N, L, (const T *)u, (const T *)v, (const T *)x, (T *)out)));
  return LR_OK;
}

extern "C" lr_status lr_kcuda_log_vandermonde_t_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u,
                                                    const void *v, const void *x, const void *g, void *du, void *dv,
                                                    void *dx, lr_cuda_stream_t s) {
  cudaStream_t st = lr_cuda_pick_stream(s);
  if ((dv || dx) && Bt * N > 0)
    S4_DISPATCH("lr_kcuda_log_vandermonde_t_bwd", dt,
                (vand_t_vx_k<T><<<BLK(Bt * N)>>>(Bt, N, L, (const T *)u, (const T *)v, (const T *)x, (const T *)g,
                                                 (T *)dv, (T *)dx)));
  if (du && Bt * L > 0)
    S4_DISPATCH("lr_kcuda_log_vandermonde_t_bwd", dt,
                (vand_t_u_k<T><<<BLK(Bt * L)>>>(Bt, N, L, (const T *)v, (const T *)x, (const T *)g, (T *)du)));
  return LR_OK;
}
