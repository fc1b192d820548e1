/* Neural-network functions: softmax, losses, norms, dropout. */
#ifndef LR_OPS_FUNCTIONAL_H
#define LR_OPS_FUNCTIONAL_H

#include "autograd/autograd.h"
#include "tensor/rng.h"

lr_status lr_softmax(lr_tensor *x, int dim, lr_tensor **out);
lr_status lr_log_softmax(lr_tensor *x, int dim, lr_tensor **out);
/* logits (N, C) or (N, C, d1...), targets I64 (N) or (N, d1...). Mean over non-ignored targets.
 * ignore_index: targets equal to it are skipped (-100 as PyTorch). */
lr_status lr_cross_entropy(lr_tensor *logits, lr_tensor *targets, int64_t ignore_index, double label_smoothing,
                           lr_tensor **out);
typedef enum { LR_REDUCE_MEAN = 0, LR_REDUCE_SUM, LR_REDUCE_NONE } lr_reduction;
lr_status lr_mse_loss(lr_tensor *x, lr_tensor *target, lr_reduction red, lr_tensor **out);
/* Over the last dim; weight and bias (H) may be NULL. */
lr_status lr_layer_norm(lr_tensor *x, lr_tensor *weight, lr_tensor *bias, double eps, lr_tensor **out);
lr_status lr_rms_norm(lr_tensor *x, lr_tensor *weight, double eps, lr_tensor **out);
/* Inverted dropout: in training, zero with probability p and scale by 1/(1-p); identity otherwise. */
lr_status lr_dropout(lr_tensor *x, double p, bool training, lr_rng *rng, lr_tensor **out);

#endif
