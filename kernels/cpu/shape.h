/* CPU kernels of the shape ops (ops/shape.c): index copies, their index-add backward, cumsum.
 *
 * Index kernels move elements as bytes (es = element size), so they serve every dtype; the
 * backward kernels add, so they take F32, F64, C64 or C128. Indices are int64 and already
 * checked by the op to lie in range. Every backward partitions the work by DESTINATION (each
 * thread owns whole output rows/columns and walks the index serially), so sums are formed in
 * index order and results are bit-for-bit identical for any thread count.
 */
#ifndef LR_KCPU_SHAPE_H
#define LR_KCPU_SHAPE_H

#include <stddef.h>
#include <stdint.h>

#include "tensor/dtype.h"

/* out[o, j, q] = x[o, idx[j], q].
 * x: contiguous (outer, nsrc, inner); idx: (nidx) in [0, nsrc); out: contiguous (outer, nidx, inner). */
void lr_kcpu_index_select(size_t es, void *out, const void *x, int64_t outer, int64_t nsrc, int64_t inner,
                          const int64_t *idx, int64_t nidx);

/* gx[o, idx[j], q] += g[o, j, q] for every j with idx[j] != skip (skip < 0: none).
 * gx: contiguous (outer, nsrc, inner); g: contiguous (outer, nidx, inner). dt: F32, F64, C64, C128. */
void lr_kcpu_index_add(lr_dtype dt, void *gx, const void *g, int64_t outer, int64_t nsrc, int64_t inner,
                       const int64_t *idx, int64_t nidx, int64_t skip);

/* out[c] = x[c with c[dim] replaced by idx[c]] for every multi-index c of ishape.
 * x: strides xstr[ndim] in elements; idx, out: contiguous ishape[ndim]. */
void lr_kcpu_gather(size_t es, void *out, const void *x, const int64_t *xstr, const int64_t *idx, int ndim,
                    const int64_t *ishape, int dim);

/* gx[c with c[dim] replaced by idx[c]] += g[c]: the backward of lr_kcpu_gather.
 * gx: strides gxstr[ndim] in elements; idx, g: contiguous ishape[ndim]. dt: F32, F64, C64, C128. */
void lr_kcpu_scatter_add(lr_dtype dt, void *gx, const int64_t *gxstr, const void *g, const int64_t *idx, int ndim,
                         const int64_t *ishape, int dim);

/* Inclusive prefix sum along the middle dim: out[o, k, q] = sum_{t <= k} x[o, t, q], or with
 * reverse the suffix sum sum_{t >= k} (cumsum's backward). x, out: contiguous (outer, n, inner);
 * out may equal x. dt: F32, F64, C64, C128. */
void lr_kcpu_cumsum(lr_dtype dt, void *out, const void *x, int64_t outer, int64_t n, int64_t inner, int reverse);

#endif
