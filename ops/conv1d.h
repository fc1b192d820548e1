/* Causal depthwise conv1d (Mamba's and RG-LRU's short convolution) and its single step. */
#ifndef LR_OPS_CONV1D_H
#define LR_OPS_CONV1D_H

#include "autograd/autograd.h"

/* y[b, d, t] = act(bias[d] + sum_{j<K} w[d, j] xp[b, d, t + j]), act = SiLU if silu else identity,
 * where xp = [state0 (or zeros), x] along time (K-1 + L). x (B, D, L), w (D, K) any K >= 1,
 * bias (D) or NULL, state0 (B, D, K-1) or NULL; f32 / f64. If state_out is not NULL it receives
 * the last K-1 entries of xp (B, D, K-1): the state to pass to the next chunk (or to the step).
 * Differentiable w.r.t. x, w, bias and state0, through y and state_out. */
lr_status lr_causal_conv1d(lr_tensor *x, lr_tensor *w, lr_tensor *bias, lr_tensor *state0, bool silu, lr_tensor **y,
                           lr_tensor **state_out);

/* One generation step, in place on state (contiguous, (B, D, K-1); may be NULL when K = 1):
 * window = [state, x_t]; y_t = act(bias + sum_j w[d, j] window[j]); state <- window[1:].
 * x_t (B, D) -> y_t (B, D). Equal to lr_causal_conv1d at every position. Not recorded on the
 * tape (inference only). */
lr_status lr_causal_conv1d_step(lr_tensor *x_t, lr_tensor *state, lr_tensor *w, lr_tensor *bias, bool silu,
                                lr_tensor **y_t);

#endif
