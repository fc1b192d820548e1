/* dst += reduce(src): the backward of every broadcasting op ends here.
 *
 * src is walked in row-major order with a running dst offset; a dst stride of 0 sums the
 * broadcast dim into one element. The outermost dim is split across threads only when dst has a
 * non-zero stride there, so no two threads write the same element.
 */
#include "kernels/cpu/accumulate.h"

#define LR_ACC_LOOP(T, NPART)                                                                       \
  do {                                                                                              \
    T *d = dst;                                                                                     \
    const T *s = src;                                                                               \
    int64_t inner = ss[ndim - 1], ds_in = dstr[ndim - 1];                                           \
    int64_t outer = n / (inner ? inner : 1);                                                        \
    _Pragma("omp parallel for if (par && outer > 64)")                                               \
    for (int64_t o = 0; o < outer; o++) {                                                           \
      int64_t rem = o, off = 0;                                                                     \
      for (int k = ndim - 2; k >= 0; k--) {                                                         \
        off += (rem % ss[k]) * dstr[k];                                                             \
        rem /= ss[k];                                                                               \
      }                                                                                             \
      const T *sp = s + o * inner * NPART;                                                          \
      for (int64_t j = 0; j < inner; j++)                                                           \
        for (int p = 0; p < NPART; p++) d[(off + j * ds_in) * NPART + p] += sp[j * NPART + p];      \
    }                                                                                               \
  } while (0)

void lr_kcpu_acc_broadcast(lr_dtype dt, void *dst, const int64_t *dstr, const void *src, int ndim,
                           const int64_t *ss) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= ss[i];
  if (n == 0) return;
  if (ndim == 0) {
    static const int64_t one = 1;
    lr_kcpu_acc_broadcast(dt, dst, &one, src, 1, &one);
    return;
  }
  /* Threads may split the outer dims only if no outer dim is broadcast (stride 0) in dst. */
  int par = 1;
  for (int i = 0; i < ndim - 1; i++)
    if (dstr[i] == 0 && ss[i] > 1) par = 0;
  switch (dt) {
    case LR_DTYPE_F32: LR_ACC_LOOP(float, 1); break;
    case LR_DTYPE_F64: LR_ACC_LOOP(double, 1); break;
    case LR_DTYPE_C64: LR_ACC_LOOP(float, 2); break;
    case LR_DTYPE_C128: LR_ACC_LOOP(double, 2); break;
    default: break;
  }
}
