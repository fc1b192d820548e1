/* Complex construction and parts on the CPU. */
#ifndef LR_KCPU_COMPLEX_H
#define LR_KCPU_COMPLEX_H

#include "tensor/dtype.h"

/* out = re + i im with broadcasting. out: contiguous complex (C64 for F32, C128 for F64),
 * shape[ndim]; re, im: real dt, strides in out's dim space; either may be NULL (read as 0). */
void lr_kcpu_complex_make(lr_dtype dt, void *out, const void *re, const int64_t *rs, const void *im,
                          const int64_t *is, int ndim, const int64_t *shape);

typedef enum {
  LR_CPART_RE,    /* Re z (real out) */
  LR_CPART_IM,    /* Im z (real out) */
  LR_CPART_CONJ,  /* conj z (complex out) */
  LR_CPART_ANGLE  /* atan2(Im z, Re z) (real out) */
} lr_cpart_kind;

/* out = part(z). z: complex dt, strides zs; out: contiguous. */
void lr_kcpu_complex_part(lr_cpart_kind k, lr_dtype dt, void *out, const void *z, const int64_t *zs, int ndim,
                          const int64_t *shape);

/* Backward of angle: gz = g i z / |z|^2 (0 at z = 0). gz: contiguous complex dt; g: contiguous
 * real; z: strides zs. */
void lr_kcpu_angle_bwd(lr_dtype dt, void *gz, const void *g, const void *z, const int64_t *zs, int ndim,
                       const int64_t *shape);

#endif
