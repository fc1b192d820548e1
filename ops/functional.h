/* Neural-network functions: softmax, losses, norms, dropout (F32 and F64, CPU; all
 * differentiable). ops/functional.c has the math and the backward formulas. */
#ifndef LR_OPS_FUNCTIONAL_H
#define LR_OPS_FUNCTIONAL_H

#include "autograd/autograd.h"
#include "tensor/rng.h"

/* Along dim (negative counts from the end), max-subtracted; any strides. */
lr_status lr_softmax(lr_tensor *x, int dim, lr_tensor **out);
lr_status lr_log_softmax(lr_tensor *x, int dim, lr_tensor **out);
/* logits (N, C) or (N, C, d1...), targets I64 (N) or (N, d1...). Mean over non-ignored targets,
 * as torch.nn.functional.cross_entropy without class weights:
 *   loss = mean_kept[(1 - ls) (-logp_t) + ls mean_c(-logp_c)],  ls = label_smoothing in [0, 1].
 * ignore_index: targets equal to it are skipped (-100 as PyTorch). Every target ignored: NaN (as
 * PyTorch). A target outside [0, C) that is not ignore_index: LR_ERR_ARG naming it and C.
 * The result is a 0-dim tensor. */
lr_status lr_cross_entropy(lr_tensor *logits, lr_tensor *targets, int64_t ignore_index, double label_smoothing,
                           lr_tensor **out);
typedef enum { LR_REDUCE_MEAN = 0, LR_REDUCE_SUM, LR_REDUCE_NONE } lr_reduction;
/* (x - target)^2, reduced; shapes must match exactly (no broadcasting). Both may require grad. */
lr_status lr_mse_loss(lr_tensor *x, lr_tensor *target, lr_reduction red, lr_tensor **out);
/* Over the last dim H; weight and bias (H) may be NULL. Biased variance, as PyTorch. */
lr_status lr_layer_norm(lr_tensor *x, lr_tensor *weight, lr_tensor *bias, double eps, lr_tensor **out);
/* x * rsqrt(mean(x^2) + eps) * weight over the last dim; weight (H) may be NULL. */
lr_status lr_rms_norm(lr_tensor *x, lr_tensor *weight, double eps, lr_tensor **out);
/* Inverted dropout: in training, zero with probability p and scale by 1/(1-p); identity otherwise.
 * The mask consumes numel(x) bernoulli draws of rng (tensor/rng.c); !training or p == 0: *out is
 * x itself (no copy, no draws); p == 1: zeros. rng may be NULL only when no draws are needed. */
lr_status lr_dropout(lr_tensor *x, double p, bool training, lr_rng *rng, lr_tensor **out);

#endif
