/* LTI state-space ops: the kernel K = A^l of a diagonal A, the diagonal linear recurrence, and
 * lrnnx's opt_ssm_forward (the LTI layer's convolution in one of three contraction orders) with
 * the recurrent path of the same system. See ops/lti.c for the math. */
#ifndef LR_OPS_LTI_H
#define LR_OPS_LTI_H

#include "autograd/autograd.h"

/* K[n, l] = Abar[n]^l for l < L: Abar (N) f32/f64/c64/c128 -> K (N, L) of the same dtype.
 * Differentiable w.r.t. Abar. (lrnnx: S5 compute_kernel, Abar ** arange(L).) */
lr_status lr_lti_kernel(lr_tensor *Abar, int64_t L, lr_tensor **out);

/* h[b, t, n] = Abar[n] h[b, t-1, n] + u[b, t, n] with h[b, -1] = 0.
 * u (B, L, N), Abar (N), same dtype (real or complex) -> h (B, L, N). Differentiable w.r.t. both. */
lr_status lr_lti_scan(lr_tensor *u, lr_tensor *Abar, lr_tensor **out);

/* opt_ssm_forward's three contraction orders (lrnnx core/convolution.py, arXiv 2409.03377). */
typedef enum {
  LR_SSM_AUTO = 0,    /* lrnnx's rule: lr_opt_ssm_path */
  LR_SSM_FULL_KERNEL, /* materialize Re(sum_n C K B) (L, Hout, Hin), then real FFT convolutions */
  LR_SSM_STATE_CONV,  /* project x to the N states, complex FFT convolution per state, then C */
  LR_SSM_FREQ         /* everything in the frequency domain: FFT x, contract B, K, C, inverse FFT */
} lr_ssm_path;

/* lrnnx's choice: FULL_KERNEL if 1/Hin + 1/Hout > 1/B + 1/N and Hin*Hout <= N; else STATE_CONV
 * if 1/Hin + 1/Hout <= 1/B + 1/N and N <= Hin; else FREQ. */
lr_ssm_path lr_opt_ssm_path(int64_t B, int64_t N, int64_t Hin, int64_t Hout);

/* y[b, t, o] = Re sum_{n, s <= t, i} C[o, n] K[n, s] Bbar[n, i] x[b, t - s, i]
 * x (B, L, Hin) real, K (N, Lk) complex, Bbar (N, Hin), C (Hout, N) complex (the complex dtype
 * of x) -> y (B, L, Hout) real. path: LR_SSM_AUTO or a forced order (all give the same y).
 * Composed of differentiable ops: gradients reach x, K, Bbar and C. */
lr_status lr_opt_ssm_forward(lr_tensor *x, lr_tensor *K, lr_tensor *Bbar, lr_tensor *C, lr_ssm_path path,
                             lr_tensor **out);

/* The same system run as a recurrence: h_t = Abar h_{t-1} + Bbar x_t, y_t = Re(C h_t).
 * x (B, L, Hin) real, Abar (N), Bbar (N, Hin), C (Hout, N) complex -> y (B, L, Hout). Equals
 * lr_opt_ssm_forward(x, lr_lti_kernel(Abar, L), Bbar, C). */
lr_status lr_lti_recurrent(lr_tensor *x, lr_tensor *Abar, lr_tensor *Bbar, lr_tensor *C, lr_tensor **out);

#endif
