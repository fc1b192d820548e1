/* Load/store helpers for kernels written once over real and complex element types: with
 * CPLX = 1 an element is a (re, im) pair of T, otherwise one T; values are computed as
 * double complex (a real element has imaginary part 0). Not a public header. */
#ifndef T
#error "define T and CPLX before including cplx_impl.h"
#endif
#include <complex.h>

#undef LD
#undef ST
#undef CJ
#if CPLX
#define LD(p, i) CMPLX((double)(p)[2 * (i)], (double)(p)[2 * (i) + 1])
#define ST(p, i, v)                        \
  do {                                     \
    double complex st_v_ = (v);            \
    (p)[2 * (i)] = (T)creal(st_v_);        \
    (p)[2 * (i) + 1] = (T)cimag(st_v_);    \
  } while (0)
#define CJ(v) conj(v)
#else
#define LD(p, i) ((double complex)(double)(p)[i])
#define ST(p, i, v) ((p)[i] = (T)creal(v))
#define CJ(v) (v)
#endif
