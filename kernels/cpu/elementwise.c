/* Elementwise CPU kernels: binary ops with broadcasting, unary maps, where, comparisons.
 *
 * Each kernel is one switch on (dtype, kind) around one strided loop (LR_EW_FOR in the header);
 * a case is just the scalar expression. Real math goes through <tgmath.h>, so the same
 * expression calls expf for float and exp for double. Numerically careful forms:
 *   sigmoid(x)  = 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise (no overflow);
 *   softplus(x) = x if beta x > threshold, else (max(bx, 0) + log1p(e^-|bx|)) / beta;
 *   gelu_erf(x) = x Phi(x) = x (1 + erf(x / sqrt 2)) / 2;
 *   gelu_tanh(x)= x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2.
 * Derivatives (backward, gx = g f'(x); complex: g conj(f'(z))):
 *   exp: y; log: 1/x; log1p: 1/(1+x); expm1: y+1; sqrt: 1/(2y); rsqrt: -y^3/2; abs: sign(x)
 *   (complex: z/|z|); tanh: 1-y^2; sigmoid: y(1-y); softplus: sigmoid(bx) (1 above threshold);
 *   silu: s(1 + x(1-s)); gelu_erf: Phi(x) + x phi(x); relu: x > 0; clamp: lo <= x <= hi;
 *   pow_scalar: p x^(p-1). Binary: mul da = g conj(b), db = g conj(a); div da = g / conj(b),
 *   db = -g conj(y / b); pow da = g b a^(b-1), db = g y log(a) (0 where a = 0 and b >= 0);
 *   maximum/minimum send g to the selected input, half to each on ties.
 */
#include "kernels/cpu/elementwise.h"

#include <string.h>
#include <tgmath.h>

/* One loop over operands 0 (out), 1 and 2 with a binary expression of x (op 1) and y (op 2). */
#define BIN_LOOP(TO, TI, EXPR)                                       \
  LR_EW_FOR(&it, {                                                   \
    TI x = ((const TI *)a)[LR_EW_AT(1)], y = ((const TI *)b)[LR_EW_AT(2)]; \
    ((TO *)out)[LR_EW_AT(0)] = (EXPR);                               \
  })

#define BIN_REAL_CASES(T)                                                    \
  case LR_BIN_ADD: BIN_LOOP(T, T, x + y); break;                             \
  case LR_BIN_SUB: BIN_LOOP(T, T, x - y); break;                             \
  case LR_BIN_MUL: BIN_LOOP(T, T, x * y); break;                             \
  case LR_BIN_DIV: BIN_LOOP(T, T, x / y); break;                             \
  case LR_BIN_POW: BIN_LOOP(T, T, pow(x, y)); break;                         \
  case LR_BIN_MAX: BIN_LOOP(T, T, (x > y || isnan(x)) ? x : y); break;       \
  case LR_BIN_MIN: BIN_LOOP(T, T, (x < y || isnan(x)) ? x : y); break;

#define BIN_CPLX_CASES(T)                                                    \
  case LR_BIN_ADD: BIN_LOOP(T, T, T##_add(x, y)); break;                     \
  case LR_BIN_SUB: BIN_LOOP(T, T, T##_sub(x, y)); break;                     \
  case LR_BIN_MUL: BIN_LOOP(T, T, T##_mul(x, y)); break;                     \
  case LR_BIN_DIV: BIN_LOOP(T, T, T##_div(x, y)); break;                     \
  default: break;

void lr_kcpu_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as, const void *b,
                    const int64_t *bs, int ndim, const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 3, (const int64_t *const[]){NULL, as, bs});
  switch (dt) {
    case LR_DTYPE_F32: switch (k) { BIN_REAL_CASES(float) } break;
    case LR_DTYPE_F64: switch (k) { BIN_REAL_CASES(double) } break;
    case LR_DTYPE_C64: switch (k) { BIN_CPLX_CASES(lr_c64) } break;
    case LR_DTYPE_C128: switch (k) { BIN_CPLX_CASES(lr_c128) } break;
    default: break;
  }
}

/* Operand 0 is every contiguous array (ga, gb, g, y), 1 is a, 2 is b. GA and GB are expressions
 * of x (a), y (b), g and r (the output). */
#define BIN_BWD_LOOP(T, GA, GB)                                                        \
  LR_EW_FOR(&it, {                                                                     \
    int64_t i_ = LR_EW_AT(0);                                                          \
    T x = ((const T *)a)[LR_EW_AT(1)], y = ((const T *)b)[LR_EW_AT(2)];                \
    T g_ = ((const T *)g)[i_], r = ((const T *)out)[i_];                               \
    (void)r;                                                                           \
    (void)x;                                                                           \
    (void)g_;                                                                          \
    if (ga) ((T *)ga)[i_] = (GA);                                                      \
    if (gb) ((T *)gb)[i_] = (GB);                                                      \
  })

/* The share of a maximum's gradient that goes to x when the other operand is y. */
#define MAX_SHARE(T, x, y) ((x) > (y) ? (T)1 : (x) == (y) ? (T)0.5 : (T)0)
#define MIN_SHARE(T, x, y) ((x) < (y) ? (T)1 : (x) == (y) ? (T)0.5 : (T)0)

#define BIN_BWD_REAL_CASES(T)                                                                          \
  case LR_BIN_MUL: BIN_BWD_LOOP(T, g_ * y, g_ * x); break;                                             \
  case LR_BIN_DIV: BIN_BWD_LOOP(T, g_ / y, -g_ * r / y); break;                                        \
  case LR_BIN_POW:                                                                                     \
    BIN_BWD_LOOP(T, y == 0 ? (T)0 : g_ * y * pow(x, y - 1), (x == 0 && y >= 0) ? (T)0 : g_ * r * log(x)); \
    break;                                                                                             \
  case LR_BIN_MAX: BIN_BWD_LOOP(T, g_ * MAX_SHARE(T, x, y), g_ * MAX_SHARE(T, y, x)); break;           \
  case LR_BIN_MIN: BIN_BWD_LOOP(T, g_ * MIN_SHARE(T, x, y), g_ * MIN_SHARE(T, y, x)); break;           \
  default: break;

#define BIN_BWD_CPLX_CASES(T)                                                                          \
  case LR_BIN_MUL: BIN_BWD_LOOP(T, T##_mul(g_, T##_conj(y)), T##_mul(g_, T##_conj(x))); break;         \
  case LR_BIN_DIV:                                                                                     \
    BIN_BWD_LOOP(T, T##_div(g_, T##_conj(y)), T##_scale(T##_mul(g_, T##_conj(T##_div(r, y))), -1));    \
    break;                                                                                             \
  default: break;

void lr_kcpu_binary_bwd(lr_binary_kind k, lr_dtype dt, void *ga, void *gb, const void *g, const void *a,
                        const int64_t *as, const void *b, const int64_t *bs, const void *out, int ndim,
                        const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 3, (const int64_t *const[]){NULL, as, bs});
  switch (dt) {
    case LR_DTYPE_F32: switch (k) { BIN_BWD_REAL_CASES(float) } break;
    case LR_DTYPE_F64: switch (k) { BIN_BWD_REAL_CASES(double) } break;
    case LR_DTYPE_C64: switch (k) { BIN_BWD_CPLX_CASES(lr_c64) } break;
    case LR_DTYPE_C128: switch (k) { BIN_BWD_CPLX_CASES(lr_c128) } break;
    default: break;
  }
}

/* ---- unary ---- */

/* Operand 0 is y (contiguous), 1 is x. */
#define UN_LOOP(TO, TI, EXPR)                                         \
  LR_EW_FOR(&it, {                                                    \
    TI x = ((const TI *)xp)[LR_EW_AT(1)];                             \
    ((TO *)yp)[LR_EW_AT(0)] = (EXPR);                                 \
  })

#define SQRT1_2 0.70710678118654752440  /* 1 / sqrt(2) */
#define SQRT2_PI 0.79788456080286535588 /* sqrt(2 / pi) */
#define INV_SQRT2PI 0.39894228040143267794 /* 1 / sqrt(2 pi) */

/* Scalar helpers, one per real type, so the loops stay one expression. */
#define DEF_REAL_HELPERS(T, S)                                                                 \
  static inline T sigmoid_##S(T x) {                                                           \
    if (x >= 0) return 1 / (1 + exp(-x));                                                      \
    T e = exp(x);                                                                              \
    return e / (1 + e);                                                                        \
  }                                                                                            \
  static inline T softplus_##S(T x, T beta, T thr) {                                           \
    T bx = beta * x;                                                                           \
    if (bx > thr) return x;                                                                    \
    return ((bx > 0 ? bx : 0) + log1p(exp(-fabs(bx)))) / beta;                                 \
  }                                                                                            \
  static inline T gelu_tanh_inner_##S(T x) { return (T)SQRT2_PI * (x + (T)0.044715 * x * x * x); } \
  static inline T gelu_tanh_grad_##S(T x) {                                                    \
    T t = tanh(gelu_tanh_inner_##S(x));                                                        \
    return (T)0.5 * (1 + t) +                                                                  \
           (T)0.5 * x * (1 - t * t) * (T)SQRT2_PI * (1 + (T)(3 * 0.044715) * x * x);           \
  }
DEF_REAL_HELPERS(float, f)
DEF_REAL_HELPERS(double, d)

#define UN_REAL_CASES(T, S)                                                                     \
  case LR_UN_NEG: UN_LOOP(T, T, -x); break;                                                     \
  case LR_UN_EXP: UN_LOOP(T, T, exp(x)); break;                                                 \
  case LR_UN_LOG: UN_LOOP(T, T, log(x)); break;                                                 \
  case LR_UN_AFFINE: UN_LOOP(T, T, x * q0 + q1); break;                                         \
  case LR_UN_ABS: UN_LOOP(T, T, fabs(x)); break;                                                \
  case LR_UN_LOG1P: UN_LOOP(T, T, log1p(x)); break;                                             \
  case LR_UN_EXPM1: UN_LOOP(T, T, expm1(x)); break;                                             \
  case LR_UN_SQRT: UN_LOOP(T, T, sqrt(x)); break;                                               \
  case LR_UN_RSQRT: UN_LOOP(T, T, 1 / sqrt(x)); break;                                          \
  case LR_UN_SIN: UN_LOOP(T, T, sin(x)); break;                                                 \
  case LR_UN_COS: UN_LOOP(T, T, cos(x)); break;                                                 \
  case LR_UN_TANH: UN_LOOP(T, T, tanh(x)); break;                                               \
  case LR_UN_SIGMOID: UN_LOOP(T, T, sigmoid_##S(x)); break;                                     \
  case LR_UN_SOFTPLUS: UN_LOOP(T, T, softplus_##S(x, q0, q1)); break;                           \
  case LR_UN_SILU: UN_LOOP(T, T, x * sigmoid_##S(x)); break;                                    \
  case LR_UN_GELU_ERF: UN_LOOP(T, T, (T)0.5 * x * (1 + erf(x * (T)SQRT1_2))); break;            \
  case LR_UN_GELU_TANH: UN_LOOP(T, T, (T)0.5 * x * (1 + tanh(gelu_tanh_inner_##S(x)))); break;  \
  case LR_UN_RELU: UN_LOOP(T, T, x > 0 ? x : 0); break;                                         \
  case LR_UN_CLAMP: UN_LOOP(T, T, x < q0 ? q0 : x > q1 ? q1 : x); break;                        \
  case LR_UN_POW_SCALAR: UN_LOOP(T, T, pow(x, q0)); break;

#define UN_CPLX_CASES(T, R)                                                                     \
  case LR_UN_NEG: UN_LOOP(T, T, T##_scale(x, -1)); break;                                       \
  case LR_UN_EXP: UN_LOOP(T, T, T##_exp(x)); break;                                             \
  case LR_UN_LOG: UN_LOOP(T, T, T##_log(x)); break;                                             \
  case LR_UN_AFFINE: UN_LOOP(T, T, T##_make(x.re * (R)p0 + (R)p1, x.im * (R)p0)); break;        \
  case LR_UN_ABS: UN_LOOP(R, T, T##_abs(x)); break;                                             \
  default: break;

void lr_kcpu_unary(lr_unary_kind k, lr_dtype dt, void *yp, const void *xp, const int64_t *xs, int ndim,
                   const int64_t *shape, double p0, double p1) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 2, (const int64_t *const[]){NULL, xs});
  switch (dt) {
    case LR_DTYPE_F32: {
      float q0 = (float)p0, q1 = (float)p1;
      switch (k) { UN_REAL_CASES(float, f) }
      break;
    }
    case LR_DTYPE_F64: {
      double q0 = p0, q1 = p1;
      switch (k) { UN_REAL_CASES(double, d) }
      break;
    }
    case LR_DTYPE_C64: switch (k) { UN_CPLX_CASES(lr_c64, float) } break;
    case LR_DTYPE_C128: switch (k) { UN_CPLX_CASES(lr_c128, double) } break;
    default: break;
  }
}

/* Operand 0 is gx, g and y (contiguous), 1 is x. EXPR uses x, g_ and r (the output). */
#define UN_BWD_LOOP(TG, TX, TY, EXPR)                                 \
  LR_EW_FOR(&it, {                                                    \
    int64_t i_ = LR_EW_AT(0);                                         \
    TX x = ((const TX *)xp)[LR_EW_AT(1)];                             \
    TG g_ = ((const TG *)g)[i_];                                      \
    TY r = ((const TY *)y)[i_];                                       \
    (void)x;                                                          \
    (void)r;                                                          \
    ((TX *)gx)[i_] = (EXPR);                                          \
  })
#define UN_BWD(T, EXPR) UN_BWD_LOOP(T, T, T, EXPR)

#define UN_BWD_REAL_CASES(T, S)                                                                        \
  case LR_UN_NEG: UN_BWD(T, -g_); break;                                                               \
  case LR_UN_EXP: UN_BWD(T, g_ * r); break;                                                            \
  case LR_UN_LOG: UN_BWD(T, g_ / x); break;                                                            \
  case LR_UN_AFFINE: UN_BWD(T, g_ * q0); break;                                                        \
  case LR_UN_ABS: UN_BWD(T, x > 0 ? g_ : x < 0 ? -g_ : 0); break;                                      \
  case LR_UN_LOG1P: UN_BWD(T, g_ / (1 + x)); break;                                                    \
  case LR_UN_EXPM1: UN_BWD(T, g_ * (r + 1)); break;                                                    \
  case LR_UN_SQRT: UN_BWD(T, g_ / (2 * r)); break;                                                     \
  case LR_UN_RSQRT: UN_BWD(T, (T)-0.5 * g_ * r * r * r); break;                                        \
  case LR_UN_SIN: UN_BWD(T, g_ * cos(x)); break;                                                       \
  case LR_UN_COS: UN_BWD(T, -g_ * sin(x)); break;                                                      \
  case LR_UN_TANH: UN_BWD(T, g_ * (1 - r * r)); break;                                                 \
  case LR_UN_SIGMOID: UN_BWD(T, g_ * r * (1 - r)); break;                                              \
  case LR_UN_SOFTPLUS: UN_BWD(T, q0 * x > q1 ? g_ : g_ * sigmoid_##S(q0 * x)); break;                   \
  case LR_UN_SILU: {                                                                                   \
    UN_BWD(T, g_ * (sigmoid_##S(x) * (1 + x * (1 - sigmoid_##S(x)))));                                 \
    break;                                                                                             \
  }                                                                                                    \
  case LR_UN_GELU_ERF:                                                                                 \
    UN_BWD(T, g_ * ((T)0.5 * (1 + erf(x * (T)SQRT1_2)) + x * (T)INV_SQRT2PI * exp((T)-0.5 * x * x))); \
    break;                                                                                             \
  case LR_UN_GELU_TANH: UN_BWD(T, g_ * gelu_tanh_grad_##S(x)); break;                                  \
  case LR_UN_RELU: UN_BWD(T, x > 0 ? g_ : 0); break;                                                   \
  case LR_UN_CLAMP: UN_BWD(T, (x >= q0 && x <= q1) ? g_ : 0); break;                                   \
  case LR_UN_POW_SCALAR: UN_BWD(T, q0 == 0 ? (T)0 : g_ * q0 * pow(x, q0 - 1)); break;

#define UN_BWD_CPLX_CASES(T, R)                                                                        \
  case LR_UN_NEG: UN_BWD(T, T##_scale(g_, -1)); break;                                                 \
  case LR_UN_EXP: UN_BWD(T, T##_mul(g_, T##_conj(r))); break;                                          \
  case LR_UN_LOG: UN_BWD(T, T##_div(g_, T##_conj(x))); break;                                          \
  case LR_UN_AFFINE: UN_BWD(T, T##_scale(g_, (R)p0)); break;                                           \
  case LR_UN_ABS: UN_BWD_LOOP(R, T, R, r == 0 ? T##_make(0, 0) : T##_scale(x, g_ / r)); break;         \
  default: break;

void lr_kcpu_unary_bwd(lr_unary_kind k, lr_dtype dt, void *gx, const void *g, const void *xp, const int64_t *xs,
                       const void *y, int ndim, const int64_t *shape, double p0, double p1) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 2, (const int64_t *const[]){NULL, xs});
  switch (dt) {
    case LR_DTYPE_F32: {
      float q0 = (float)p0, q1 = (float)p1;
      switch (k) { UN_BWD_REAL_CASES(float, f) }
      break;
    }
    case LR_DTYPE_F64: {
      double q0 = p0, q1 = p1;
      switch (k) { UN_BWD_REAL_CASES(double, d) }
      break;
    }
    case LR_DTYPE_C64: switch (k) { UN_BWD_CPLX_CASES(lr_c64, float) } break;
    case LR_DTYPE_C128: switch (k) { UN_BWD_CPLX_CASES(lr_c128, double) } break;
    default: break;
  }
}

/* ---- where ---- */
typedef struct { uint64_t lo, hi; } u128;

#define WHERE_LOOP(T)                                                                          \
  LR_EW_FOR(&it, {                                                                             \
    ((T *)out)[LR_EW_AT(0)] = cond[LR_EW_AT(1)] ? ((const T *)a)[LR_EW_AT(2)] : ((const T *)b)[LR_EW_AT(3)]; \
  })

void lr_kcpu_where(size_t esize, void *out, const uint8_t *cond, const int64_t *cs, const void *a,
                   const int64_t *as, const void *b, const int64_t *bs, int ndim, const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 4, (const int64_t *const[]){NULL, cs, as, bs});
  switch (esize) {
    case 1: WHERE_LOOP(uint8_t); break;
    case 2: WHERE_LOOP(uint16_t); break;
    case 4: WHERE_LOOP(uint32_t); break;
    case 8: WHERE_LOOP(uint64_t); break;
    case 16: WHERE_LOOP(u128); break;
    default: break;
  }
}

#define WHERE_BWD_LOOP(T)                                                      \
  LR_EW_FOR(&it, {                                                             \
    int64_t i_ = LR_EW_AT(0);                                                  \
    T g_ = ((const T *)g)[i_], z_ = {0};                                       \
    bool c_ = cond[LR_EW_AT(1)];                                               \
    if (ga) ((T *)ga)[i_] = c_ ? g_ : z_;                                      \
    if (gb) ((T *)gb)[i_] = c_ ? z_ : g_;                                      \
  })

void lr_kcpu_where_bwd(lr_dtype dt, void *ga, void *gb, const void *g, const uint8_t *cond, const int64_t *cs,
                       int ndim, const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 2, (const int64_t *const[]){NULL, cs});
  switch (dt) {
    case LR_DTYPE_F32: WHERE_BWD_LOOP(float); break;
    case LR_DTYPE_F64: WHERE_BWD_LOOP(double); break;
    case LR_DTYPE_C64: WHERE_BWD_LOOP(lr_c64); break;
    case LR_DTYPE_C128: WHERE_BWD_LOOP(lr_c128); break;
    default: break;
  }
}

/* ---- comparisons ---- */
#define CMP_CASES(T)                                          \
  case LR_CMP_EQ: BIN_LOOP(uint8_t, T, x == y); break;        \
  case LR_CMP_NE: BIN_LOOP(uint8_t, T, x != y); break;        \
  case LR_CMP_LT: BIN_LOOP(uint8_t, T, x < y); break;         \
  case LR_CMP_LE: BIN_LOOP(uint8_t, T, x <= y); break;        \
  case LR_CMP_GT: BIN_LOOP(uint8_t, T, x > y); break;         \
  case LR_CMP_GE: BIN_LOOP(uint8_t, T, x >= y); break;

void lr_kcpu_compare(lr_compare_kind k, lr_dtype dt, uint8_t *out, const void *a, const int64_t *as, const void *b,
                     const int64_t *bs, int ndim, const int64_t *shape) {
  lr_ew_iter it;
  lr_ew_init(&it, ndim, shape, 3, (const int64_t *const[]){NULL, as, bs});
  switch (dt) {
    case LR_DTYPE_F32: switch (k) { CMP_CASES(float) } break;
    case LR_DTYPE_F64: switch (k) { CMP_CASES(double) } break;
    case LR_DTYPE_I32: switch (k) { CMP_CASES(int32_t) } break;
    case LR_DTYPE_I64: switch (k) { CMP_CASES(int64_t) } break;
    default: break;
  }
}
