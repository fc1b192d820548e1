/* LTI kernels on the CPU: the powers of a diagonal state matrix and the diagonal linear
 * recurrence, for real (f32/f64) and complex (c64/c128) elements. All arithmetic in double. */
#ifndef LR_KCPU_LTI_H
#define LR_KCPU_LTI_H

#include "tensor/dtype.h"

/* K[n, l] = A[n]^l, l < L, by repeated multiplication in double (K[n, 0] = 1, also for A = 0).
 * A (N), K (N, L): contiguous, dtype dt. */
void lr_kcpu_lti_kernel(lr_dtype dt, int64_t N, int64_t L, const void *A, void *K);
/* dA[n] = sum_{l >= 1} g[n, l] * conj(l A[n]^{l-1}) = sum_l l g[n, l] conj(K[n, l-1]).
 * K (N, L) the forward output, g (N, L), dA (N): overwritten. */
void lr_kcpu_lti_kernel_bwd(lr_dtype dt, int64_t N, int64_t L, const void *K, const void *g, void *dA);

/* h[b, t, n] = A[n] h[b, t-1, n] + u[b, t, n], h[b, -1, n] = 0. u, h (B, L, N), A (N). */
void lr_kcpu_lti_scan(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *u, const void *A, void *h);
/* Reverse scan: du[b, t] = g[b, t] + conj(A) du[b, t+1];
 * dA[n] = sum_{b, t >= 1} du[b, t, n] conj(h[b, t-1, n]). du (B, L, N) or NULL, dA (N) or NULL:
 * overwritten. h: the forward output. */
void lr_kcpu_lti_scan_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *A, const void *h, const void *g,
                          void *du, void *dA);

#endif
