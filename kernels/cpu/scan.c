/* CPU scan kernels.
 *
 * Selective scan (lrnnx selective_scan_fn, inventory §4.1), per batch b and channel d:
 *   Δ_t = softplus?(delta[b,d,t] + delta_bias[d]),  Δ_A,t = deltaA[b,d,t] or Δ_t
 *   h_t[n] = Ā(λ_dn, Δ_A,t) · (reset[b,t] ? 0 : h_{t-1}[n]) + B̄(λ_dn, Δ_t) · B_n(t) · u_t,  h_{-1} = h0
 *   y_t = Σ_n C_n(t) h_t[n]  (complex: 2 Re Σ_n)  + D_d u_t,   then · silu(z_t) if z is given
 *   for t >= lengths[b]: y_t = 0 and the state is frozen; hL = h_{len-1} (h0 when len = 0).
 * Layout: u, delta, deltaA, z, y (B, D, L); A (D, N); fixed B/C (D, N); variable B/C (B, G, N, L)
 * with channel d in group d / (D/G). Parallel over (b, d) with OpenMP, sequential over L; the
 * state is a per-thread buffer of N in the caller's workspace (no allocation inside the loops).
 *
 * Memory: the forward stores the state entering every chunk of `chunk` timesteps (ckpt,
 * (B, D, ceil(L/chunk), N)), i.e. O(B·D·N·L/chunk). The backward walks chunks in reverse,
 * recomputes a chunk's states from its checkpoint with the same per-timestep function as the
 * forward (bitwise equal states), then runs the adjoint recurrence backwards:
 *   dh_t += dy_t · conj(C_t) (· 2 for complex),  dC_t += dy_t · conj(h_t) (· 2)
 *   dĀ = dh_t conj(h_{t-1}),  dB̄ = dh_t conj(B_t u_t),  dB_t += dh_t conj(B̄) u_t,
 *   du_t += Re(dh_t conj(B̄ B_t)),  dλ += dĀ conj(∂Ā/∂λ) + dB̄ conj(∂B̄/∂λ),
 *   dΔ_t += Re(dĀ conj(∂Ā/∂Δ) + dB̄ conj(∂B̄/∂Δ)) (Δ_A partials to ddeltaA in event mode),
 *   dh_{t-1} = dh_t conj(Ā) (0 across a reset), then the softplus factor σ(x) for x <= 20.
 * h_{t-1} always comes from the recomputed scan, never from a division by Ā (inventory §13.20).
 * Reductions over batch and time are deterministic (see scan_bwd in scan_impl.h).
 *
 * Diagonal scan (the S5 core, lrnnx simplified_scan's kernel): the same recurrence with N = 1 per
 * (b, p), a complex (or real) input x instead of B·u, every state written out; its backward
 * reads h_{t-1} from that output.
 */
#include "kernels/cpu/scan.h"

#include <math.h>
#include <omp.h>
#include <string.h>

int64_t lr_kcpu_scan_nchunks(const lr_scan_in *a) { return a->L ? (a->L + a->chunk - 1) / a->chunk : 0; }

#define S f
#define T float
#define R float
#define CPLX 0
#include "kernels/cpu/scan_impl.h"
#define S d
#define T double
#define R double
#define CPLX 0
#include "kernels/cpu/scan_impl.h"
#define S cf
#define T lr_c64
#define R float
#define CPLX 1
#include "kernels/cpu/scan_impl.h"
#define S cd
#define T lr_c128
#define R double
#define CPLX 1
#include "kernels/cpu/scan_impl.h"

static size_t wsize(const lr_scan_in *a) {
  size_t r = lr_dtype_size(a->rdt);
  return a->cplx ? 2 * r : r;
}

size_t lr_kcpu_scan_ws_bytes(const lr_scan_in *a, int nthreads, bool backward) {
  size_t w = wsize(a), r = lr_dtype_size(a->rdt);
  size_t per = backward ? (size_t)((a->chunk + 1) * a->N + 4 * a->N) * w + (size_t)(3 * a->chunk) * r
                        : (size_t)a->N * w;
  return per * (size_t)(nthreads > 0 ? nthreads : 1) + 64;
}

void lr_kcpu_scan_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, void *ws, int nt) {
  if (a->rdt == LR_DTYPE_F32) {
    if (a->cplx) scan_fwd_cf(a, y, hL, ckpt, ws, nt);
    else scan_fwd_f(a, y, hL, ckpt, ws, nt);
  } else {
    if (a->cplx) scan_fwd_cd(a, y, hL, ckpt, ws, nt);
    else scan_fwd_d(a, y, hL, ckpt, ws, nt);
  }
}

void lr_kcpu_scan_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, int nt) {
  if (a->rdt == LR_DTYPE_F32) {
    if (a->cplx) scan_bwd_cf(a, ckpt, g, ws, nt);
    else scan_bwd_f(a, ckpt, g, ws, nt);
  } else {
    if (a->cplx) scan_bwd_cd(a, ckpt, g, ws, nt);
    else scan_bwd_d(a, ckpt, g, ws, nt);
  }
}

void lr_kcpu_sum_leading(lr_dtype rdt, int64_t Bn, int64_t M, const void *src, void *dst) {
  if (rdt == LR_DTYPE_F32) {
    const float *s = src;
    float *o = dst;
    for (int64_t m = 0; m < M; m++) {
      float acc = 0;
      for (int64_t b = 0; b < Bn; b++) acc += s[b * M + m];
      o[m] = acc;
    }
  } else {
    const double *s = src;
    double *o = dst;
    for (int64_t m = 0; m < M; m++) {
      double acc = 0;
      for (int64_t b = 0; b < Bn; b++) acc += s[b * M + m];
      o[m] = acc;
    }
  }
}

void lr_kcpu_dscan_fwd(const lr_dscan_in *a, void *h, void *hL) {
  switch (a->dt) {
    case LR_DTYPE_F32: dscan_fwd_f(a, h, hL); break;
    case LR_DTYPE_F64: dscan_fwd_d(a, h, hL); break;
    case LR_DTYPE_C64: dscan_fwd_cf(a, h, hL); break;
    case LR_DTYPE_C128: dscan_fwd_cd(a, h, hL); break;
    default: break;
  }
}

void lr_kcpu_dscan_bwd(const lr_dscan_in *a, const void *h, const void *gh, const void *ghL, void *dx, void *dlam_p,
                       void *ddelta, void *ddeltaA, void *dh0) {
  switch (a->dt) {
    case LR_DTYPE_F32: dscan_bwd_f(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    case LR_DTYPE_F64: dscan_bwd_d(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    case LR_DTYPE_C64: dscan_bwd_cf(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    case LR_DTYPE_C128: dscan_bwd_cd(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    default: break;
  }
}

void lr_kcpu_sum_bl(lr_dtype rdt, int64_t Bn, int64_t P, int64_t L, const void *src, void *dst) {
  for (int64_t p = 0; p < P; p++) {
    double acc = 0; /* summed in double for both precisions, in a fixed order */
    for (int64_t b = 0; b < Bn; b++)
      for (int64_t t = 0; t < L; t++)
        acc += rdt == LR_DTYPE_F32 ? (double)((const float *)src)[(b * P + p) * L + t]
                                   : ((const double *)src)[(b * P + p) * L + t];
    if (rdt == LR_DTYPE_F32) ((float *)dst)[p] = (float)acc;
    else ((double *)dst)[p] = acc;
  }
}

#define READOUT(R)                                                                                            \
  static void readout_##R(int64_t Bn, int64_t H, int64_t L, R f, const R *yc, const R *u, const R *D, R *y) { \
    for (int64_t i = 0; i < Bn * H; i++) {                                                                    \
      R dv = D ? D[i % H] : (R)0;                                                                             \
      for (int64_t t = 0; t < L; t++) {                                                                       \
        int64_t k = i * L + t;                                                                                \
        y[k] = D ? f * yc[2 * k] + dv * u[2 * k] : f * yc[2 * k];                                             \
      }                                                                                                       \
    }                                                                                                         \
  }                                                                                                           \
  static void readout_bwd_##R(int64_t Bn, int64_t H, int64_t L, R f, const R *g, const R *u, const R *D,      \
                              R *dyc, R *du, R *dDp) {                                                        \
    for (int64_t i = 0; i < Bn * H; i++) {                                                                    \
      R dv = D ? D[i % H] : (R)0, acc = 0;                                                                    \
      for (int64_t t = 0; t < L; t++) {                                                                       \
        int64_t k = i * L + t;                                                                                \
        dyc[2 * k] = f * g[k];                                                                                \
        dyc[2 * k + 1] = 0;                                                                                   \
        if (D) {                                                                                              \
          du[2 * k] = dv * g[k];                                                                              \
          du[2 * k + 1] = 0;                                                                                  \
          acc += g[k] * u[2 * k];                                                                             \
        }                                                                                                     \
      }                                                                                                       \
      if (D) dDp[i] = acc;                                                                                    \
    }                                                                                                         \
  }
READOUT(float)
READOUT(double)

void lr_kcpu_s5_readout(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *yc, const void *u,
                        const void *D, void *y) {
  if (cdt == LR_DTYPE_C64) readout_float(Bn, H, L, (float)f, yc, u, D, y);
  else readout_double(Bn, H, L, f, yc, u, D, y);
}

void lr_kcpu_s5_readout_bwd(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *g, const void *u,
                            const void *D, void *dyc, void *du, void *dD_p) {
  if (cdt == LR_DTYPE_C64) readout_bwd_float(Bn, H, L, (float)f, g, u, D, dyc, du, dD_p);
  else readout_bwd_double(Bn, H, L, f, g, u, D, dyc, du, dD_p);
}
