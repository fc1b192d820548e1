/* Helpers shared by the op families: argument checks that produce lrnnx's error messages, and
 * gradient accumulation with broadcasting. Not part of the public API. */
#ifndef LR_OP_UTIL_H
#define LR_OP_UTIL_H

#include "autograd/autograd.h"

/* The devices an op runs on when it has a CUDA path: LR_CUDA is defined for everything that
 * depends on //kernels when the CUDA backend is built (--config=cuda). */
#ifdef LR_CUDA
#define LR_ON_CPU_CUDA (LR_ON_CPU | LR_ON_CUDA)
#else
#define LR_ON_CPU_CUDA LR_ON_CPU
#endif

/* NULL checks: "op: argument 'x' is NULL". */
lr_status lr_check_ptr(const char *op, const void *p, const char *what);
/* t's dtype is in the mask: "op: x is i64, expected f32, f64, c64 or c128". */
lr_status lr_check_dtype(const char *op, const lr_tensor *t, const char *what, uint32_t mask);
/* Same dtype and device: "op: a is f32 on cpu, b is f64 on cpu". */
lr_status lr_check_same(const char *op, const lr_tensor *a, const char *an, const lr_tensor *b, const char *bn);
/* The op has a forward on t's device. */
lr_status lr_check_device(const char *op, const lr_op_def *def, const lr_tensor *t);

/* t->grad += g, summing g over the dims along which t was broadcast to g's shape.
 * g: any strides, same dtype as t, shape t broadcast to (g->ndim >= t->ndim; otherwise
 * LR_ERR_INTERNAL). No-op unless t->requires_grad, and for g NULL. */
lr_status lr_grad_acc(lr_tensor *t, const lr_tensor *g);

/* Scratch of `bytes` on dev (8-byte aligned) from the current arena; *out NULL when bytes is 0.
 * For kernels' workspaces; contiguous copies of strided inputs come from
 * lr_tensor_contiguous_raw, which works on every device. */
lr_status lr_op_scratch(lr_device dev, size_t bytes, void **out);

/* Strides of t aligned to a broadcast shape of ndim dims (0 where t is broadcast). */
void lr_broadcast_strides(const lr_tensor *t, int ndim, const int64_t *shape, int64_t *strides);

#endif
