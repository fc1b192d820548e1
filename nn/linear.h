/* Linear: y = x W^T + b, PyTorch's nn.Linear.
 *
 * Parameters "weight" (out, in) and, with bias, "bias" (out). Initialisation as PyTorch's
 * reset_parameters: kaiming_uniform_(W, a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)), and the bias is
 * U(-1/sqrt(in), 1/sqrt(in)) too (fan_in = in). Backward is lr_linear's (ops/linalg.c).
 */
#ifndef LR_NN_LINEAR_H
#define LR_NN_LINEAR_H

#include "nn/module.h"
#include "tensor/rng.h"

typedef struct {
  lr_module base;
  int64_t in_features, out_features;
  lr_tensor *weight; /* (out, in), owned by base */
  lr_tensor *bias;   /* (out) or NULL */
} lr_linear_module;

/* A new Linear of dtype dt (f32, f64, c64, c128), initialised from rng. With parent non-NULL it
 * becomes parent's child `name` (and is freed with it); otherwise it is a root the caller frees
 * with lr_module_free(&l->base). */
lr_status lr_linear_new(lr_module *parent, const char *name, int64_t in_features, int64_t out_features, bool bias,
                        lr_dtype dt, lr_rng *rng, lr_linear_module **out);
/* Re-draws weight and bias with PyTorch's default initialisation. */
lr_status lr_linear_reset(lr_linear_module *l, lr_rng *rng);
/* y = x W^T + b: x (..., in) -> (..., out). */
lr_status lr_linear_forward(lr_linear_module *l, lr_tensor *x, lr_tensor **out);

#endif
