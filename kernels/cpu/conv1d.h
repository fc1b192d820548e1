/* Causal depthwise conv1d kernels on the CPU (f32 / f64, arithmetic in double).
 *
 * With xp[b, d, p] = s0[b, d, p] for p < K-1 (zeros when s0 is NULL) and x[b, d, p-K+1] after:
 *   pre[b, d, t] = bias[d] + sum_{j<K} w[d, j] xp[b, d, t + j],   y = silu(pre) or pre,
 *   state[b, d, i] = xp[b, d, L + i], i < K-1 (the last K-1 inputs, for the next chunk).
 * All arrays contiguous: x, y (B, D, L), w (D, K), bias (D), s0 / state (B, D, K-1).
 */
#ifndef LR_KCPU_CONV1D_H
#define LR_KCPU_CONV1D_H

#include "tensor/dtype.h"

void lr_kcpu_causal_conv1d_fwd(lr_dtype dt, int64_t B, int64_t D, int64_t L, int64_t K, const void *x, const void *w,
                               const void *bias, const void *s0, bool silu, void *y, void *state);
/* g (B, D, L) and gs (B, D, K-1): gradients of y and of state, either may be NULL (zero).
 * Outputs (overwritten, each may be NULL): dx (B, D, L), dw (D, K), dbias (D), ds0 (B, D, K-1).
 * dxp[p] = sum_j w[j] gpre[p - j] + gs[p - L]; gpre = g * silu'(pre);
 * dw[d, j] = sum_{b, t} gpre xp[t + j]; dbias[d] = sum_{b, t} gpre. Parallel over d (sums over
 * the batch in a fixed order: deterministic). work: lr_kcpu_causal_conv1d_work_bytes(L, K). */
size_t lr_kcpu_causal_conv1d_work_bytes(int64_t L, int64_t K);
void lr_kcpu_causal_conv1d_bwd(lr_dtype dt, int64_t B, int64_t D, int64_t L, int64_t K, const void *x, const void *w,
                               const void *bias, const void *s0, bool silu, const void *g, const void *gs, void *dx,
                               void *dw, void *dbias, void *ds0, void *work);
/* One step: window = [state, x_t]; y_t = act(bias + sum_j w[j] window[j]); state <- window[1:].
 * x_t, y_t (B, D), state (B, D, K-1) updated in place. Equals the full conv at each position. */
void lr_kcpu_causal_conv1d_step(lr_dtype dt, int64_t B, int64_t D, int64_t K, const void *x, void *state,
                                const void *w, const void *bias, bool silu, void *y);

#endif
