/* Element types, devices and the complex POD types.
 *
 * Complex numbers are plain structs so the same headers compile as C11 and as CUDA C++; the
 * inline helpers below are the only complex arithmetic kernels need. Gradients of complex
 * tensors follow PyTorch: grad = dL/dRe + i dL/dIm (the conjugate Wirtinger form).
 */
#ifndef LR_DTYPE_H
#define LR_DTYPE_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __CUDACC__
#define LR_HD __host__ __device__ static inline
#else
#define LR_HD static inline
#endif

typedef enum {
  LR_DTYPE_F32 = 0,
  LR_DTYPE_F64,
  LR_DTYPE_C64,
  LR_DTYPE_C128,
  LR_DTYPE_I32,
  LR_DTYPE_I64,
  LR_DTYPE_BOOL,
  LR_DTYPE_COUNT
} lr_dtype;

/* Bit masks of dtypes, for op tables. */
#define LR_DT(d) (1u << (d))
#define LR_DT_REAL (LR_DT(LR_DTYPE_F32) | LR_DT(LR_DTYPE_F64))
#define LR_DT_COMPLEX (LR_DT(LR_DTYPE_C64) | LR_DT(LR_DTYPE_C128))
#define LR_DT_FLOAT (LR_DT_REAL | LR_DT_COMPLEX)
#define LR_DT_INT (LR_DT(LR_DTYPE_I32) | LR_DT(LR_DTYPE_I64))

typedef enum { LR_DEVICE_CPU = 0, LR_DEVICE_CUDA, LR_DEVICE_COUNT } lr_device;

typedef struct { float re, im; } lr_c64;
typedef struct { double re, im; } lr_c128;

size_t lr_dtype_size(lr_dtype d);
const char *lr_dtype_name(lr_dtype d);   /* "f32", "c64", ... */
const char *lr_device_name(lr_device d); /* "cpu", "cuda" */
bool lr_dtype_is_complex(lr_dtype d);
bool lr_dtype_is_float(lr_dtype d); /* real or complex floating point */
/* The real dtype of a complex one (C64 -> F32); real dtypes map to themselves. */
lr_dtype lr_dtype_real(lr_dtype d);
/* The complex dtype of a real one (F32 -> C64); complex dtypes map to themselves. */
lr_dtype lr_dtype_complex(lr_dtype d);

/* ---- complex arithmetic (C and CUDA) ---- */
LR_HD lr_c64 lr_c64_make(float re, float im) { lr_c64 z; z.re = re; z.im = im; return z; }
LR_HD lr_c64 lr_c64_add(lr_c64 a, lr_c64 b) { return lr_c64_make(a.re + b.re, a.im + b.im); }
LR_HD lr_c64 lr_c64_sub(lr_c64 a, lr_c64 b) { return lr_c64_make(a.re - b.re, a.im - b.im); }
LR_HD lr_c64 lr_c64_mul(lr_c64 a, lr_c64 b) {
  return lr_c64_make(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
}
LR_HD lr_c64 lr_c64_conj(lr_c64 a) { return lr_c64_make(a.re, -a.im); }
LR_HD lr_c64 lr_c64_scale(lr_c64 a, float s) { return lr_c64_make(a.re * s, a.im * s); }
LR_HD lr_c64 lr_c64_div(lr_c64 a, lr_c64 b) {
  float d = b.re * b.re + b.im * b.im;
  return lr_c64_make((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d);
}
LR_HD float lr_c64_abs(lr_c64 a) { return hypotf(a.re, a.im); }
LR_HD lr_c64 lr_c64_exp(lr_c64 a) {
  float m = expf(a.re);
  return lr_c64_make(m * cosf(a.im), m * sinf(a.im));
}
LR_HD lr_c64 lr_c64_log(lr_c64 a) { return lr_c64_make(logf(lr_c64_abs(a)), atan2f(a.im, a.re)); }

LR_HD lr_c128 lr_c128_make(double re, double im) { lr_c128 z; z.re = re; z.im = im; return z; }
LR_HD lr_c128 lr_c128_add(lr_c128 a, lr_c128 b) { return lr_c128_make(a.re + b.re, a.im + b.im); }
LR_HD lr_c128 lr_c128_sub(lr_c128 a, lr_c128 b) { return lr_c128_make(a.re - b.re, a.im - b.im); }
LR_HD lr_c128 lr_c128_mul(lr_c128 a, lr_c128 b) {
  return lr_c128_make(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re);
}
LR_HD lr_c128 lr_c128_conj(lr_c128 a) { return lr_c128_make(a.re, -a.im); }
LR_HD lr_c128 lr_c128_scale(lr_c128 a, double s) { return lr_c128_make(a.re * s, a.im * s); }
LR_HD lr_c128 lr_c128_div(lr_c128 a, lr_c128 b) {
  double d = b.re * b.re + b.im * b.im;
  return lr_c128_make((a.re * b.re + a.im * b.im) / d, (a.im * b.re - a.re * b.im) / d);
}
LR_HD double lr_c128_abs(lr_c128 a) { return hypot(a.re, a.im); }
LR_HD lr_c128 lr_c128_exp(lr_c128 a) {
  double m = exp(a.re);
  return lr_c128_make(m * cos(a.im), m * sin(a.im));
}
LR_HD lr_c128 lr_c128_log(lr_c128 a) { return lr_c128_make(log(lr_c128_abs(a)), atan2(a.im, a.re)); }

#endif
