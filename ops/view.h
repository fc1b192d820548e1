/* Differentiable views: no copy where the strides allow (reshape copies only when it must).
 * Gradients flow back to the viewed tensor. The output shares x's memory, so writing through x is
 * visible in the view. Views take every dtype (only float ones record); negative dims count from
 * the end. */
#ifndef LR_OPS_VIEW_H
#define LR_OPS_VIEW_H

#include "autograd/autograd.h"

lr_status lr_reshape(lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out); /* one -1 allowed */
lr_status lr_permute(lr_tensor *x, const int *perm, lr_tensor **out);
lr_status lr_transpose(lr_tensor *x, int d0, int d1, lr_tensor **out);
lr_status lr_narrow(lr_tensor *x, int dim, int64_t start, int64_t length, lr_tensor **out); /* start < 0 from the end */
/* x[..., start:stop:step, ...] along dim; negative start/stop count from the end, both are clamped
 * to the dim as in Python (stop = INT64_MAX: to the end); step > 0. */
lr_status lr_slice(lr_tensor *x, int dim, int64_t start, int64_t stop, int64_t step, lr_tensor **out);
lr_status lr_expand(lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out); /* -1 keeps a dim */
lr_status lr_squeeze(lr_tensor *x, int dim, lr_tensor **out); /* a no-op view if dim's size is not 1 (torch) */
lr_status lr_unsqueeze(lr_tensor *x, int dim, lr_tensor **out);
/* A contiguous copy (or x itself if already contiguous). */
lr_status lr_contiguous(lr_tensor *x, lr_tensor **out);

#endif
