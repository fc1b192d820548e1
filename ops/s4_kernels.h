/* S4's structured kernels: the Cauchy kernel over conjugate pairs, the log-Vandermonde product
 * and its transpose, and power(L, A, v) by repeated squaring. See ops/s4_kernels.c. */
#ifndef LR_OPS_S4_KERNELS_H
#define LR_OPS_S4_KERNELS_H

#include "autograd/autograd.h"

/* out[..., l] = sum_n v[..., n] / (z[l] - w[..., n]) + conj(v[..., n]) / (z[l] - conj(w[..., n])).
 * v, w (..., N) c64/c128 (batch dims broadcast), z (L) -> (batch..., L). Differentiable w.r.t.
 * v, w and z. (lrnnx cauchy_mult; any N, not only powers of two.) */
lr_status lr_cauchy(lr_tensor *v, lr_tensor *z, lr_tensor *w, lr_tensor **out);

/* out[..., l] = 2 Re sum_n v[..., n] exp(x[..., n] l), l < L. v, x (..., N) complex (batch dims
 * broadcast) -> real (batch..., L) (f32 for c64, f64 for c128). (lrnnx log_vandermonde.) */
lr_status lr_log_vandermonde(lr_tensor *v, lr_tensor *x, int64_t L, lr_tensor **out);

/* out[..., n] = v[..., n] sum_l u[..., l] exp(x[..., n] l): u (..., L), v, x (..., N), all
 * complex with broadcasting batch dims -> (batch..., N). (lrnnx log_vandermonde_transpose, used
 * by S4D's forward_state; a real u goes through lr_complex first.) */
lr_status lr_log_vandermonde_transpose(lr_tensor *u, lr_tensor *v, lr_tensor *x, lr_tensor **out);

/* S4's power(L, A, v) (ops/s4_utils.py): *AL = A^L for A (..., N, N) by repeated squaring, and,
 * when v (..., N, L) is given, *vout = sum_{i<L} A^i v[..., i] (..., N) by the same reverse
 * divide and conquer (log2 L matmuls). L >= 0 (L >= 1 with v). Composed of matmul, narrow, add
 * and cat: differentiable. AL or vout may be NULL when not wanted. */
lr_status lr_s4_power(int64_t L, lr_tensor *A, lr_tensor *v, lr_tensor **AL, lr_tensor **vout);

#endif
