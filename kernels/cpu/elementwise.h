/* Elementwise kernels on the CPU. */
#ifndef LR_KCPU_ELEMENTWISE_H
#define LR_KCPU_ELEMENTWISE_H

#include "tensor/dtype.h"

typedef enum { LR_BIN_ADD, LR_BIN_SUB, LR_BIN_MUL, LR_BIN_DIV } lr_binary_kind;

/* out = a (op) b with broadcasting.
 * out: contiguous, shape[ndim]; a, b: strides in elements in out's dim space (0 = broadcast).
 * dt: F32, F64, C64, C128. */
void lr_kcpu_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as, const void *b,
                    const int64_t *bs, int ndim, const int64_t *shape);

#endif
