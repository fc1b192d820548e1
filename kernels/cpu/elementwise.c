/* Elementwise CPU kernels with broadcasting.
 *
 * The output is contiguous; inputs are read through strides aligned to the output's dims (0 along
 * broadcast dims). The outermost index is recovered per row of the innermost dim, so the inner
 * loop is a plain strided loop the compiler can vectorise; rows are split across threads.
 */
#include "kernels/cpu/elementwise.h"

#define LR_ROW_OFFSETS(o)                                      \
  int64_t ao = 0, bo = 0;                                      \
  {                                                            \
    int64_t rem = (o);                                         \
    for (int k = ndim - 2; k >= 0; k--) {                      \
      int64_t ik = rem % shape[k];                             \
      rem /= shape[k];                                         \
      ao += ik * as[k];                                        \
      bo += ik * bs[k];                                        \
    }                                                          \
  }

#define LR_BINARY_REAL(T, EXPR)                                                    \
  do {                                                                             \
    T *o_ = out;                                                                   \
    const T *a_ = a, *b_ = b;                                                      \
    _Pragma("omp parallel for if (n > 32768)")                                      \
    for (int64_t r = 0; r < rows; r++) {                                           \
      LR_ROW_OFFSETS(r)                                                            \
      T *op = o_ + r * inner;                                                      \
      const T *ap = a_ + ao, *bp = b_ + bo;                                        \
      for (int64_t j = 0; j < inner; j++) {                                        \
        T x = ap[j * ai], y = bp[j * bi];                                          \
        op[j] = EXPR;                                                              \
      }                                                                            \
    }                                                                              \
  } while (0)

#define LR_BINARY_CPLX(T, FN)                                                      \
  do {                                                                             \
    T *o_ = out;                                                                   \
    const T *a_ = a, *b_ = b;                                                      \
    _Pragma("omp parallel for if (n > 16384)")                                      \
    for (int64_t r = 0; r < rows; r++) {                                           \
      LR_ROW_OFFSETS(r)                                                            \
      T *op = o_ + r * inner;                                                      \
      const T *ap = a_ + ao, *bp = b_ + bo;                                        \
      for (int64_t j = 0; j < inner; j++) op[j] = FN(ap[j * ai], bp[j * bi]);      \
    }                                                                              \
  } while (0)


void lr_kcpu_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as, const void *b,
                    const int64_t *bs, int ndim, const int64_t *shape) {
  static const int64_t one = 1, zero = 0;
  if (ndim == 0) { /* scalars: treat as shape (1,) */
    lr_kcpu_binary(k, dt, out, a, &zero, b, &zero, 1, &one);
    return;
  }
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (n == 0) return;
  int64_t inner = shape[ndim - 1], rows = n / inner, ai = as[ndim - 1], bi = bs[ndim - 1];
  switch (dt) {
    case LR_DTYPE_F32:
      switch (k) {
        case LR_BIN_ADD: LR_BINARY_REAL(float, x + y); break;
        case LR_BIN_SUB: LR_BINARY_REAL(float, x - y); break;
        case LR_BIN_MUL: LR_BINARY_REAL(float, x * y); break;
        case LR_BIN_DIV: LR_BINARY_REAL(float, x / y); break;
      }
      break;
    case LR_DTYPE_F64:
      switch (k) {
        case LR_BIN_ADD: LR_BINARY_REAL(double, x + y); break;
        case LR_BIN_SUB: LR_BINARY_REAL(double, x - y); break;
        case LR_BIN_MUL: LR_BINARY_REAL(double, x * y); break;
        case LR_BIN_DIV: LR_BINARY_REAL(double, x / y); break;
      }
      break;
    case LR_DTYPE_C64:
      switch (k) {
        case LR_BIN_ADD: LR_BINARY_CPLX(lr_c64, lr_c64_add); break;
        case LR_BIN_SUB: LR_BINARY_CPLX(lr_c64, lr_c64_sub); break;
        case LR_BIN_MUL: LR_BINARY_CPLX(lr_c64, lr_c64_mul); break;
        case LR_BIN_DIV: LR_BINARY_CPLX(lr_c64, lr_c64_div); break;
      }
      break;
    case LR_DTYPE_C128:
      switch (k) {
        case LR_BIN_ADD: LR_BINARY_CPLX(lr_c128, lr_c128_add); break;
        case LR_BIN_SUB: LR_BINARY_CPLX(lr_c128, lr_c128_sub); break;
        case LR_BIN_MUL: LR_BINARY_CPLX(lr_c128, lr_c128_mul); break;
        case LR_BIN_DIV: LR_BINARY_CPLX(lr_c128, lr_c128_div); break;
      }
      break;
    default: break;
  }
}
