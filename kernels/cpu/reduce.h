/* Reductions on the CPU: sums (sum, mean, var's second pass), arg-extremes, and the broadcasting
 * accumulations their backwards need. */
#ifndef LR_KCPU_REDUCE_H
#define LR_KCPU_REDUCE_H

#include <stdbool.h>

#include "tensor/dtype.h"

/* A reduction's view of x: kept dims (nk, kshape, kstr) in output order and reduced dims
 * (nr, rshape, rstr), strides in elements of x. out is contiguous over kshape.
 *
 * out[o] (+)= scale * sum_r x[o, r]            (center NULL)
 * out[o] (+)= scale * sum_r (x[o, r] - center[o])^2   (center contiguous over kshape; real only)
 * accumulate: add to out instead of overwriting it. dt: F32, F64, C64, C128 (F32 sums in double).
 * Deterministic: each output's terms are added in a fixed order that depends on the shapes only,
 * never on the thread count (large single outputs are split into a fixed number of chunks). */
void lr_kcpu_reduce_sum(lr_dtype dt, void *out, bool accumulate, const void *x, int nk, const int64_t *kshape,
                        const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr, double scale);
void lr_kcpu_reduce_sqdev(lr_dtype dt, void *out, const void *x, const void *center, int nk, const int64_t *kshape,
                          const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr, double scale);

/* values[o] = x at the first max (is_max) or min along a dim of size L with stride ls; idx[o] its
 * index. o runs over the other dims: outer (no, ostr) x inner (ni, istr), values/idx contiguous
 * (no, ni). A NaN counts as the extreme (the first NaN wins), as in PyTorch. dt: F32, F64.
 * values may be NULL. */
void lr_kcpu_argext(lr_dtype dt, bool is_max, void *values, int64_t *idx, const void *x, int64_t no, int64_t ostr,
                    int64_t L, int64_t ls, int64_t ni, int64_t istr);

/* dx += scale * g[bcast] (center NULL), or dx += scale * g[bcast] * (x - center[bcast]) (real):
 * dx contiguous (ndim, shape); g and center read through strides gs (0 along reduced dims);
 * x through xs. The backward of sum, mean and var. */
void lr_kcpu_expand_acc(lr_dtype dt, void *dx, int ndim, const int64_t *shape, const void *g, const int64_t *gs,
                        double scale, const void *x, const int64_t *xs, const void *center);

/* dx[o, idx[o], i] += g[o, i]: dx contiguous (no, L, ni), g and idx contiguous (no, ni). dt: F32, F64. */
void lr_kcpu_scatter_acc(lr_dtype dt, void *dx, const void *g, const int64_t *idx, int64_t no, int64_t L, int64_t ni);

#endif
