/* Gradient accumulation with broadcasting, on the CPU. */
#ifndef LR_KCPU_ACCUMULATE_H
#define LR_KCPU_ACCUMULATE_H

#include "tensor/dtype.h"

/* dst += src reduced over broadcast dims.
 * src: contiguous, shape ss[ndim]; dst: strides dstr[ndim] in elements, given in src's dim space
 * (0 along dims that dst broadcasts over). dt: F32, F64, C64 or C128. */
void lr_kcpu_acc_broadcast(lr_dtype dt, void *dst, const int64_t *dstr, const void *src, int ndim,
                           const int64_t *ss);

#endif
