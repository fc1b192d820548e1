/* Complex construction and parts on the CPU: re + i im, Re, Im, conj, angle.
 *
 * angle(z) = atan2(y, x) for z = x + iy has dθ/dx = -y/|z|^2, dθ/dy = x/|z|^2, so in PyTorch's
 * convention (grad = dL/dx + i dL/dy) the backward is gz = g (-y + i x)/|z|^2 = g i z/|z|^2.
 */
#include "kernels/cpu/complex.h"

#include "kernels/cpu/elementwise.h"

#define MAKE_LOOP(T, R)                                                                    \
  LR_EW_FOR(&it, {                                                                         \
    R r_ = re ? ((const R *)re)[LR_EW_AT(1)] : 0, i_ = im ? ((const R *)im)[LR_EW_AT(2)] : 0; \
    ((T *)out)[LR_EW_AT(0)] = T##_make(r_, i_);                                            \
  })

void lr_kcpu_complex_make(lr_dtype dt, void *out, const void *re, const int64_t *rs, const void *im,
                          const int64_t *is, int ndim, const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 3, (const int64_t *const[]){NULL, re ? rs : NULL, im ? is : NULL});
  if (dt == LR_DTYPE_F32) MAKE_LOOP(lr_c64, float);
  else if (dt == LR_DTYPE_F64) MAKE_LOOP(lr_c128, double);
}

#define PART_LOOP(TO, TI, EXPR)                                          \
  LR_EW_FOR(&it, {                                                       \
    TI z_ = ((const TI *)z)[LR_EW_AT(1)];                                \
    ((TO *)out)[LR_EW_AT(0)] = (EXPR);                                   \
  })

#define PART_CASES(T, R, ATAN2)                                                \
  case LR_CPART_RE: PART_LOOP(R, T, z_.re); break;                             \
  case LR_CPART_IM: PART_LOOP(R, T, z_.im); break;                             \
  case LR_CPART_CONJ: PART_LOOP(T, T, T##_conj(z_)); break;                    \
  case LR_CPART_ANGLE: PART_LOOP(R, T, ATAN2(z_.im, z_.re)); break;

void lr_kcpu_complex_part(lr_cpart_kind k, lr_dtype dt, void *out, const void *z, const int64_t *zs, int ndim,
                          const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 2, (const int64_t *const[]){NULL, zs});
  if (dt == LR_DTYPE_C64) {
    switch (k) { PART_CASES(lr_c64, float, atan2f) }
  } else if (dt == LR_DTYPE_C128) {
    switch (k) { PART_CASES(lr_c128, double, atan2) }
  }
}

#define ANGLE_BWD_LOOP(T, R)                                                            \
  LR_EW_FOR(&it, {                                                                      \
    int64_t i_ = LR_EW_AT(0);                                                           \
    T z_ = ((const T *)z)[LR_EW_AT(1)];                                                 \
    R m_ = z_.re * z_.re + z_.im * z_.im, s_ = m_ == 0 ? 0 : ((const R *)g)[i_] / m_;   \
    ((T *)gz)[i_] = T##_make(-z_.im * s_, z_.re * s_);                                  \
  })

void lr_kcpu_angle_bwd(lr_dtype dt, void *gz, const void *g, const void *z, const int64_t *zs, int ndim,
                       const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 2, (const int64_t *const[]){NULL, zs});
  if (dt == LR_DTYPE_C64) ANGLE_BWD_LOOP(lr_c64, float);
  else if (dt == LR_DTYPE_C128) ANGLE_BWD_LOOP(lr_c128, double);
}
