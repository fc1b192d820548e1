/* Ops that combine, pick or rearrange elements (copies, not views; split and chunk are views).
 * Index values are checked before any read: out-of-range ones give LR_ERR_ARG naming the value. */
#ifndef LR_OPS_SHAPE_H
#define LR_OPS_SHAPE_H

#include "autograd/autograd.h"

lr_status lr_cat(int n, lr_tensor *const *xs, int dim, lr_tensor **out);
lr_status lr_stack(int n, lr_tensor *const *xs, int dim, lr_tensor **out);
/* Splits dim into pieces of the given sizes (views). */
lr_status lr_split(lr_tensor *x, int n, const int64_t *sizes, int dim, lr_tensor **outs);
/* n nearly equal pieces as torch.chunk (the last may be smaller; fewer if dim is small); *n_out gets the count. */
lr_status lr_chunk(lr_tensor *x, int n, int dim, lr_tensor **outs, int *n_out);
lr_status lr_index_select(lr_tensor *x, int dim, lr_tensor *index, lr_tensor **out); /* index: 1-D I64/I32 */
lr_status lr_gather(lr_tensor *x, int dim, lr_tensor *index, lr_tensor **out);       /* index: same ndim as x */
/* weight (V, H)[ids] -> (..., H); ids I64/I32 of any shape. padding_idx < 0: none (no gradient there otherwise). */
lr_status lr_embedding(lr_tensor *weight, lr_tensor *ids, int64_t padding_idx, lr_tensor **out);
/* Constant pad: pads[2*i], pads[2*i+1] = before/after for the LAST dims, as torch.nn.functional.pad. */
lr_status lr_pad(lr_tensor *x, int npairs, const int64_t *pads, double value, lr_tensor **out);
lr_status lr_flip(lr_tensor *x, int ndims, const int *dims, lr_tensor **out);
lr_status lr_roll(lr_tensor *x, int64_t shift, int dim, lr_tensor **out);
lr_status lr_cumsum(lr_tensor *x, int dim, lr_tensor **out);
/* A contiguous copy of x on device dev (always a copy, also on the same device); the gradient
 * is copied back to x's device. */
lr_status lr_to(lr_tensor *x, lr_device dev, lr_tensor **out);

#endif
