/* The elementwise and complex op families on CUDA against the CPU, through the public ops:
 * forward outputs and the gradients of L = sum(Re(conj(w) y)) (lr_backward with a random w) for
 * every op, dtype (F32, F64, C64, C128 where the op takes them; I32/I64 for where, masked_fill
 * and comparisons), at 1 element, 0-dim, odd sizes, sizes that are no multiple of the 256-thread
 * block, broadcasting (with size-1 dims), transposed (strided) inputs and about 4M elements; plus
 * determinism (the same GPU run twice gives the same bits) and device errors.
 *
 * Tagged "manual" and "cuda". Build here, run on the GPU machine:
 *   ./bazelw build //tests:test_cuda_parity_elementwise
 *   ../shared/tools/gpu-bundle bazel-bin/tests/test_cuda_parity_elementwise
 *   (there) .gpu/run test_cuda_parity_elementwise
 *
 * Tolerances, per component, eps = 2^-23 (f32, c64) or 2^-52 (f64, c128), c the CPU's value:
 *  - k = 0, bitwise: ops that use no library function (arithmetic, neg, affine, abs of real,
 *    sqrt, rsqrt, relu, clamp, maximum, minimum, where, masked_fill, comparisons, complex make,
 *    parts, conj, views, complex mul/div) and their backward. Both sides round the same IEEE
 *    operations in the same order (the GPU kernels avoid fused multiply-adds on purpose; IEEE
 *    division and square root are correctly rounded on both).
 *  - k > 0: |gpu - cpu| <= k eps (|c| + 1). CUDA's library functions are within 1 to 4 ulp of the
 *    true value (expf 2, sinf/cosf 2, tanhf 2, erff 2, atan2f 3, hypotf 3, powf 4 per the CUDA
 *    Programming Guide; 1 to 2 in double), glibc's within 1; derivative formulas reuse the
 *    forward output (tanh: 1 - y^2, sigmoid: y (1 - y)) or cancel (gelu: 1 + erf(x / sqrt 2) for
 *    negative x, absolute error ~eps), which at most doubles that. k = 8 (16 for pow) is a 2x
 *    margin over the sum; the +1 makes it absolute near zeros of the result (sin near pi).
 *    Complex products of such values cancel terms larger than the result: see the complex exp
 *    case for its bound.
 *  - gradients of broadcast inputs are sums of R = numel(y) / numel(x) terms: the GPU sums them in
 *    the CPU's order (bitwise) when R <= 64 or numel(x) >= 65536 (kernels/cuda/accumulate.cu),
 *    else in another fixed order, off by at most ~R eps on terms of size <= ~1 here, so the bound
 *    becomes eps (k (|c| + R) + 2 R + |c|).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

#define F32 LR_DTYPE_F32
#define F64 LR_DTYPE_F64
#define C64 LR_DTYPE_C64
#define C128 LR_DTYPE_C128
#define ALLF (LR_DT_FLOAT)
#define REAL (LR_DT_REAL)
#define CPLX (LR_DT_COMPLEX)
#define INTS (LR_DT_INT)

/* ---- shapes ---- */

typedef struct {
  int nd;
  int64_t d[4];
  bool tr; /* stored transposed in its last two dims: a strided view */
} shp;

#define S(...) ((shp){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}, false})
#define ST(...) ((shp){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}, true})
#define S0 ((shp){0, {0}, false})
#define BIG ((1 << 22) + 1)

/* A set of input shapes for one call (unused entries are zero). */
typedef struct {
  shp s[3];
} shapes;

static const shapes k_unary_small[] = {{{S(1)}}, {{S0}}, {{S(777)}}, {{ST(33, 65)}}, {{S(5, 1, 7)}}};
static const shapes k_unary_large[] = {{{S(BIG)}}, {{ST(1025, 2047)}}};
static const shapes k_binary_small[] = {
    {{S(1), S(1)}},          {{S0, S(3)}},           {{S(777), S(777)}},       {{S(257, 3), S(3)}},
    {{S(257, 1), S(1, 259)}}, {{S(5, 1, 7), S(1, 6, 1)}}, {{ST(33, 65), S(33, 65)}}, {{ST(33, 65), S(65)}},
};
static const shapes k_binary_large[] = {
    {{S(BIG), S(BIG)}}, {{S(2049, 2047), S(2049, 1)}}, {{ST(1025, 2047), S(2047)}}, {{S(3), ST(1 << 20, 3)}}};
/* where: cond, a, b */
static const shapes k_where_small[] = {
    {{S(777), S(777), S(777)}}, {{S(257, 3), S(3), S(257, 1)}}, {{S(65), ST(33, 65), S(1, 65)}}, {{S0, S(5), S(5)}}};
static const shapes k_where_large[] = {{{S(BIG), S(BIG), S(BIG)}}, {{S(1025, 1), ST(1025, 2047), S(2047)}}};
/* masked_fill: x, mask */
static const shapes k_masked_small[] = {{{S(777), S(777)}}, {{ST(33, 65), S(65)}}, {{S(257, 3), S(257, 1)}}, {{S0, S0}}};
static const shapes k_masked_large[] = {{{S(BIG), S(BIG)}}, {{ST(1025, 2047), S(1025, 1)}}};
/* views: contiguous only (a strided view's output cannot be copied to the host before the strided
 * device copy lands); view_as_complex takes a trailing dim of 2 */
static const shapes k_viewr_small[] = {{{S(1)}}, {{S0}}, {{S(777)}}, {{S(33, 65)}}};
static const shapes k_viewr_large[] = {{{S(BIG)}}};
static const shapes k_viewc_small[] = {{{S(2)}}, {{S(777, 2)}}, {{S(33, 65, 2)}}};
static const shapes k_viewc_large[] = {{{S(BIG, 2)}}};

/* ---- the ops ---- */

enum {
  OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_POW, OP_MAX, OP_MIN,
  OP_AFFINE, OP_POW_SCALAR, OP_NEG, OP_EXP, OP_LOG, OP_LOG1P, OP_EXPM1, OP_SQRT, OP_RSQRT, OP_ABS, OP_SIN,
  OP_COS, OP_TANH, OP_SIGMOID, OP_SOFTPLUS, OP_SILU, OP_GELU, OP_RELU, OP_CLAMP,
  OP_WHERE, OP_MASKED_FILL, OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE,
  OP_COMPLEX, OP_REAL, OP_IMAG, OP_CONJ, OP_ANGLE, OP_VIEW_AS_REAL, OP_VIEW_AS_COMPLEX, OP_CHAIN
};

/* How the inputs are made. */
enum {
  K_UNARY,  /* x: dt */
  K_BINARY, /* a, b: dt */
  K_WHERE,  /* cond: bool, a, b: dt */
  K_MASKED, /* x: dt, mask: bool */
  K_CMP,    /* a, b: dt, integer values (ties), no grad */
  K_VIEWR,  /* z: dt, contiguous */
  K_VIEWC   /* x: dt (..., 2), contiguous */
};

typedef struct {
  const char *name;
  int op, kind;
  double p0, p1;
  uint32_t dtypes;
  double lo, hi, lo2, hi2; /* ranges of the first and second float input */
  bool ints;               /* integer-valued inputs: maximum/minimum ties */
  double kf, kb;           /* forward, backward tolerance factors (0: bitwise) */
} op_case;

static lr_status call(const op_case *c, lr_tensor *const *in, lr_tensor **out) {
  switch (c->op) {
    case OP_ADD: return lr_add(in[0], in[1], out);
    case OP_SUB: return lr_sub(in[0], in[1], out);
    case OP_MUL: return lr_mul(in[0], in[1], out);
    case OP_DIV: return lr_div(in[0], in[1], out);
    case OP_POW: return lr_pow(in[0], in[1], out);
    case OP_MAX: return lr_maximum(in[0], in[1], out);
    case OP_MIN: return lr_minimum(in[0], in[1], out);
    case OP_AFFINE: return lr_affine(in[0], c->p0, c->p1, out);
    case OP_POW_SCALAR: return lr_pow_scalar(in[0], c->p0, out);
    case OP_NEG: return lr_neg(in[0], out);
    case OP_EXP: return lr_exp(in[0], out);
    case OP_LOG: return lr_log(in[0], out);
    case OP_LOG1P: return lr_log1p(in[0], out);
    case OP_EXPM1: return lr_expm1(in[0], out);
    case OP_SQRT: return lr_sqrt(in[0], out);
    case OP_RSQRT: return lr_rsqrt(in[0], out);
    case OP_ABS: return lr_abs(in[0], out);
    case OP_SIN: return lr_sin(in[0], out);
    case OP_COS: return lr_cos(in[0], out);
    case OP_TANH: return lr_tanh(in[0], out);
    case OP_SIGMOID: return lr_sigmoid(in[0], out);
    case OP_SOFTPLUS: return lr_softplus(in[0], c->p0, c->p1, out);
    case OP_SILU: return lr_silu(in[0], out);
    case OP_GELU: return lr_gelu(in[0], (lr_gelu_kind)c->p0, out);
    case OP_RELU: return lr_relu(in[0], out);
    case OP_CLAMP: return lr_clamp(in[0], c->p0, c->p1, out);
    case OP_WHERE: return lr_where(in[0], in[1], in[2], out);
    case OP_MASKED_FILL: return lr_masked_fill(in[0], in[1], c->p0, out);
    case OP_EQ: return lr_eq(in[0], in[1], out);
    case OP_NE: return lr_ne(in[0], in[1], out);
    case OP_LT: return lr_lt(in[0], in[1], out);
    case OP_LE: return lr_le(in[0], in[1], out);
    case OP_GT: return lr_gt(in[0], in[1], out);
    case OP_GE: return lr_ge(in[0], in[1], out);
    case OP_COMPLEX: return lr_complex(in[0], in[1], out);
    case OP_REAL: return lr_real(in[0], out);
    case OP_IMAG: return lr_imag(in[0], out);
    case OP_CONJ: return lr_conj(in[0], out);
    case OP_ANGLE: return lr_angle(in[0], out);
    case OP_VIEW_AS_REAL: return lr_view_as_real(in[0], out);
    case OP_VIEW_AS_COMPLEX: return lr_view_as_complex(in[0], out);
    case OP_CHAIN: { /* Re(z conj(z)) of z = view_as_complex(x): views composed with arithmetic */
      lr_tensor *z, *zc, *p;
      LR_TRY(lr_view_as_complex(in[0], &z));
      LR_TRY(lr_conj(z, &zc));
      LR_TRY(lr_mul(z, zc, &p));
      return lr_real(p, out);
    }
  }
  return LR_ERR_ARG;
}

/* kf 8 / 16: library functions (see the top comment); 0: bitwise. */
static const op_case k_unary_cases[] = {
    {"neg", OP_NEG, K_UNARY, 0, 0, ALLF, -1, 1, 0, 0, false, 0, 0},
    {"exp", OP_EXP, K_UNARY, 0, 0, REAL, -3, 3, 0, 0, false, 8, 8},
    /* backward g conj(e^z): Re = g.re y.re + g.im y.im cancels terms of size up to |y| <= e, each
     * off by ~5 eps |y| (expf, cosf, the product), so 32 eps bounds the difference */
    {"exp", OP_EXP, K_UNARY, 0, 0, CPLX, -1, 1, 0, 0, false, 8, 32},
    {"log", OP_LOG, K_UNARY, 0, 0, ALLF, 0.2, 3, 0, 0, false, 8, 0}, /* backward g / conj(x) */
    {"affine", OP_AFFINE, K_UNARY, -1.5, 0.25, ALLF, -1, 1, 0, 0, false, 0, 0},
    {"abs", OP_ABS, K_UNARY, 0, 0, REAL, -1, 1, 0, 0, false, 0, 0},
    {"abs", OP_ABS, K_UNARY, 0, 0, CPLX, -1, 1, 0, 0, false, 8, 8}, /* hypot */
    {"log1p", OP_LOG1P, K_UNARY, 0, 0, REAL, -0.5, 3, 0, 0, false, 8, 0},
    {"expm1", OP_EXPM1, K_UNARY, 0, 0, REAL, -3, 3, 0, 0, false, 8, 8},
    {"sqrt", OP_SQRT, K_UNARY, 0, 0, REAL, 0.1, 4, 0, 0, false, 0, 0},
    {"rsqrt", OP_RSQRT, K_UNARY, 0, 0, REAL, 0.1, 4, 0, 0, false, 0, 0},
    {"sin", OP_SIN, K_UNARY, 0, 0, REAL, -4, 4, 0, 0, false, 8, 8},
    {"cos", OP_COS, K_UNARY, 0, 0, REAL, -4, 4, 0, 0, false, 8, 8},
    {"tanh", OP_TANH, K_UNARY, 0, 0, REAL, -3, 3, 0, 0, false, 8, 8},
    {"sigmoid", OP_SIGMOID, K_UNARY, 0, 0, REAL, -6, 6, 0, 0, false, 8, 8},
    {"softplus", OP_SOFTPLUS, K_UNARY, 1, 20, REAL, -6, 6, 0, 0, false, 8, 8},
    {"softplus(2, 3)", OP_SOFTPLUS, K_UNARY, 2, 3, REAL, -3, 3, 0, 0, false, 8, 8},
    {"silu", OP_SILU, K_UNARY, 0, 0, REAL, -6, 6, 0, 0, false, 8, 8},
    {"gelu_erf", OP_GELU, K_UNARY, LR_GELU_ERF, 0, REAL, -4, 4, 0, 0, false, 8, 8},
    {"gelu_tanh", OP_GELU, K_UNARY, LR_GELU_TANH, 0, REAL, -4, 4, 0, 0, false, 8, 8},
    {"relu", OP_RELU, K_UNARY, 0, 0, REAL, -1, 1, 0, 0, false, 0, 0},
    {"clamp", OP_CLAMP, K_UNARY, -0.5, 0.5, REAL, -1, 1, 0, 0, false, 0, 0},
    {"pow_scalar(2.5)", OP_POW_SCALAR, K_UNARY, 2.5, 0, REAL, 0.1, 3, 0, 0, false, 16, 16},
    {"pow_scalar(3)", OP_POW_SCALAR, K_UNARY, 3, 0, REAL, -2, 2, 0, 0, false, 16, 16},
};

static const op_case k_binary_cases[] = {
    {"add", OP_ADD, K_BINARY, 0, 0, ALLF, -1, 1, -1, 1, false, 0, 0},
    {"sub", OP_SUB, K_BINARY, 0, 0, ALLF, -1, 1, -1, 1, false, 0, 0},
    {"mul", OP_MUL, K_BINARY, 0, 0, ALLF, -1, 1, -1, 1, false, 0, 0},
    {"div", OP_DIV, K_BINARY, 0, 0, ALLF, -1, 1, 0.5, 2, false, 0, 0},
    {"pow", OP_POW, K_BINARY, 0, 0, REAL, 0.1, 3, -2, 3, false, 16, 16},
    {"maximum", OP_MAX, K_BINARY, 0, 0, REAL, -1, 1, -1, 1, false, 0, 0},
    {"minimum", OP_MIN, K_BINARY, 0, 0, REAL, -1, 1, -1, 1, false, 0, 0},
    {"maximum ties", OP_MAX, K_BINARY, 0, 0, REAL, -3, 3, -3, 3, true, 0, 0},
    {"minimum ties", OP_MIN, K_BINARY, 0, 0, REAL, -3, 3, -3, 3, true, 0, 0},
    {"complex", OP_COMPLEX, K_BINARY, 0, 0, REAL, -1, 1, -1, 1, false, 0, 0},
};

static const op_case k_select_cases[] = {
    {"where", OP_WHERE, K_WHERE, 0, 0, ALLF | INTS, -1, 1, -1, 1, false, 0, 0},
    {"masked_fill", OP_MASKED_FILL, K_MASKED, 0.5, 0, ALLF | INTS, -1, 1, 0, 0, false, 0, 0},
    {"masked_fill(-7.9)", OP_MASKED_FILL, K_MASKED, -7.9, 0, REAL | INTS, -9, 9, 0, 0, false, 0, 0},
    {"eq", OP_EQ, K_CMP, 0, 0, REAL | INTS, -3, 3, -3, 3, true, 0, 0},
    {"ne", OP_NE, K_CMP, 0, 0, REAL | INTS, -3, 3, -3, 3, true, 0, 0},
    {"lt", OP_LT, K_CMP, 0, 0, REAL | INTS, -3, 3, -3, 3, true, 0, 0},
    {"le", OP_LE, K_CMP, 0, 0, REAL | INTS, -3, 3, -3, 3, true, 0, 0},
    {"gt", OP_GT, K_CMP, 0, 0, REAL | INTS, -3, 3, -3, 3, true, 0, 0},
    {"ge", OP_GE, K_CMP, 0, 0, REAL | INTS, -3, 3, -3, 3, true, 0, 0},
};

static const op_case k_complex_cases[] = {
    {"real", OP_REAL, K_UNARY, 0, 0, CPLX, -1, 1, 0, 0, false, 0, 0},
    {"imag", OP_IMAG, K_UNARY, 0, 0, CPLX, -1, 1, 0, 0, false, 0, 0},
    {"conj", OP_CONJ, K_UNARY, 0, 0, CPLX, -1, 1, 0, 0, false, 0, 0},
    {"angle", OP_ANGLE, K_UNARY, 0, 0, CPLX, -1, 1, 0, 0, false, 8, 0}, /* atan2; backward bitwise */
    {"view_as_real", OP_VIEW_AS_REAL, K_VIEWR, 0, 0, CPLX, -1, 1, 0, 0, false, 0, 0},
    {"view_as_complex", OP_VIEW_AS_COMPLEX, K_VIEWC, 0, 0, REAL, -1, 1, 0, 0, false, 0, 0},
    {"view chain", OP_CHAIN, K_VIEWC, 0, 0, REAL, -1, 1, 0, 0, false, 0, 0},
};

/* ---- inputs ---- */

static double eps_of(lr_dtype dt) { return pt_single(dt) ? 0x1.0p-23 : 0x1.0p-52; }

/* n elements of dt in host memory: components uniform in [lo, hi) (floored when ints or an integer
 * dtype), bools about half true. */
static void *rand_host(lr_dtype dt, int64_t n, uint64_t seed, double lo, double hi, bool ints) {
  size_t es = lr_dtype_size(dt);
  unsigned char *p = malloc((size_t)(n ? n : 1) * es);
  cr_assert_not_null(p);
  int nc = lr_dtype_is_complex(dt) ? 2 : 1;
  for (int64_t i = 0; i < n * nc; i++) {
    double u = (double)(pt_splitmix(&seed) >> 11) * 0x1.0p-53, v = lo + (hi - lo) * u;
    if (ints) v = floor(v);
    switch (dt) {
      case F32: case C64: ((float *)p)[i] = (float)v; break;
      case F64: case C128: ((double *)p)[i] = v; break;
      case LR_DTYPE_I32: ((int32_t *)p)[i] = (int32_t)floor(v); break;
      case LR_DTYPE_I64: ((int64_t *)p)[i] = (int64_t)floor(v); break;
      case LR_DTYPE_BOOL: ((uint8_t *)p)[i] = (uint8_t)(u < 0.5); break;
      default: cr_assert_fail("rand_host: dtype %s", lr_dtype_name(dt));
    }
  }
  return p;
}

typedef struct {
  lr_dtype dt;
  double lo, hi;
  bool ints, grad;
} in_spec;

/* The same random tensor on the CPU (*c) and on the GPU (*g): a leaf, transposed in memory when
 * s->tr (a strided view whose base is dropped so that it is a leaf of its own). */
static void make_pair(const shp *s, const in_spec *sp, uint64_t seed, lr_tensor **c, lr_tensor **g) {
  int64_t st[4], n = 1;
  for (int i = 0; i < s->nd; i++) {
    st[i] = s->d[i];
    n *= s->d[i];
  }
  bool tr = s->tr && s->nd >= 2;
  if (tr) {
    st[s->nd - 1] = s->d[s->nd - 2];
    st[s->nd - 2] = s->d[s->nd - 1];
  }
  void *h = rand_host(sp->dt, n, seed, sp->lo, sp->hi, sp->ints);
  size_t bytes = (size_t)n * lr_dtype_size(sp->dt);
  lr_tensor *bc, *bg;
  cr_assert_eq(lr_empty_on(sp->dt, LR_DEVICE_CPU, s->nd, st, &bc), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_empty_on(sp->dt, LR_DEVICE_CUDA, s->nd, st, &bg), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_tensor_copy_from_host(bc, h, bytes), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_tensor_copy_from_host(bg, h, bytes), LR_OK, "%s", lr_last_error());
  free(h);
  if (tr) {
    cr_assert_eq(lr_tensor_transpose(bc, -1, -2, c), LR_OK);
    cr_assert_eq(lr_tensor_transpose(bg, -1, -2, g), LR_OK);
    (*c)->base = (*g)->base = NULL;
  } else {
    *c = bc;
    *g = bg;
  }
  bool grad = sp->grad && lr_dtype_is_float(sp->dt);
  (*c)->requires_grad = (*g)->requires_grad = grad;
}

/* ---- comparison ---- */

static double comp(lr_dtype dt, const void *p, int64_t i) {
  switch (dt) {
    case F32: case C64: return ((const float *)p)[i];
    case F64: case C128: return ((const double *)p)[i];
    case LR_DTYPE_I32: return ((const int32_t *)p)[i];
    case LR_DTYPE_I64: return (double)((const int64_t *)p)[i];
    default: return ((const uint8_t *)p)[i];
  }
}

/* gpu against cpu: bitwise when k == 0 and r == 1 (or the sum over r terms is in the CPU's order),
 * else within eps (k (|c| + r) + [r > 1] (2 r + |c|)), as in the top comment. */
static void expect_match(const char *what, const lr_tensor *cpu, const lr_tensor *gpu, double k, int64_t r, bool exact_sum) {
  cr_assert_eq(cpu->dtype, gpu->dtype, "%s: dtype %s vs %s", what, lr_dtype_name(cpu->dtype), lr_dtype_name(gpu->dtype));
  cr_assert_eq(gpu->device, LR_DEVICE_CUDA, "%s: the GPU result is on %s", what, lr_device_name(gpu->device));
  cr_assert(lr_same_shape(cpu, gpu), "%s: shapes differ", what);
  lr_dtype dt = cpu->dtype;
  size_t bytes = lr_nbytes(cpu);
  void *hc = malloc(bytes ? bytes : 1), *hg = malloc(bytes ? bytes : 1);
  cr_assert_eq(lr_tensor_copy_to_host(cpu, hc, bytes), LR_OK, "%s: %s", what, lr_last_error());
  cr_assert_eq(lr_tensor_copy_to_host(gpu, hg, bytes), LR_OK, "%s: %s", what, lr_last_error());
  int64_t nc = lr_numel(cpu) * (lr_dtype_is_complex(dt) ? 2 : 1);
  bool bitwise = k == 0 && (r <= 1 || exact_sum);
  if (!lr_dtype_is_float(dt)) bitwise = true;
  double eps = lr_dtype_is_float(dt) ? eps_of(dt) : 0;
  for (int64_t i = 0; i < nc; i++) {
    double c = comp(dt, hc, i), g = comp(dt, hg, i);
    if (bitwise) {
      size_t cs = lr_dtype_is_complex(dt) ? lr_dtype_size(dt) / 2 : lr_dtype_size(dt);
      if (memcmp((char *)hc + i * cs, (char *)hg + i * cs, cs) != 0)
        cr_assert_fail("%s: component %lld of %lld: gpu %.17g, cpu %.17g (must be bitwise equal)", what, (long long)i,
                       (long long)nc, g, c);
    } else {
      double rr = (double)r, tol = eps * (k * (fabs(c) + rr) + (r > 1 ? 2 * rr + fabs(c) : 0));
      if (!(fabs(g - c) <= tol) && !(isnan(g) && isnan(c)))
        cr_assert_fail("%s: component %lld of %lld: gpu %.17g, cpu %.17g, |diff| %.3g > tol %.3g", what, (long long)i,
                       (long long)nc, g, c, fabs(g - c), tol);
    }
  }
  free(hc);
  free(hg);
}

/* ---- one case ---- */

static int n_inputs(int kind) {
  return kind == K_WHERE ? 3 : (kind == K_BINARY || kind == K_MASKED || kind == K_CMP) ? 2 : 1;
}

/* Input i of case c in dtype dt: the first float input takes [lo, hi), the second [lo2, hi2). */
static in_spec spec_of(const op_case *c, lr_dtype dt, int i) {
  in_spec sp = {dt, c->lo, c->hi, c->ints, c->kind != K_CMP};
  bool is_mask = (c->kind == K_WHERE && i == 0) || (c->kind == K_MASKED && i == 1);
  int fi = c->kind == K_WHERE ? i - 1 : i; /* index among the float inputs */
  if (fi == 1) {
    sp.lo = c->lo2;
    sp.hi = c->hi2;
  }
  if (is_mask) sp.dt = LR_DTYPE_BOOL;
  if (!lr_dtype_is_float(sp.dt)) {
    sp.grad = false;
    sp.ints = true;
  }
  return sp;
}

/* Runs case c on both devices and compares outputs and gradients; with `twice` (determinism) the
 * GPU run is repeated instead and must give the same bits. */
static void run_case(const op_case *c, lr_dtype dt, const shapes *sh, uint64_t seed, bool twice) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  int n = n_inputs(c->kind);
  lr_tensor *xc[3] = {0}, *xg[3] = {0};
  for (int i = 0; i < n; i++) {
    in_spec sp = spec_of(c, dt, i);
    make_pair(&sh->s[i], &sp, seed * 7 + (uint64_t)i, &xc[i], &xg[i]);
  }
  char what[256], sb[3][64];
  for (int i = 0; i < 3; i++) {
    sb[i][0] = 0;
    if (i < n) lr_shape_str(sh->s[i].nd, sh->s[i].d, sb[i], sizeof sb[i]);
  }
  snprintf(what, sizeof what, "%s %s %s%s%s%s%s%s%s%s", c->name, lr_dtype_name(dt), sb[0], sh->s[0].tr ? "T" : "",
           n > 1 ? " " : "", sb[1], n > 1 && sh->s[1].tr ? "T" : "", n > 2 ? " " : "", sb[2],
           n > 2 && sh->s[2].tr ? "T" : "");
  /* yc is the reference: the CPU's result, or with `twice` a first GPU run on the same inputs */
  lr_tensor *yc, *yg;
  cr_assert_eq(call(c, twice ? xg : xc, &yc), LR_OK, "%s (%s): %s", what, twice ? "gpu, first run" : "cpu",
               lr_last_error());
  cr_assert_eq(call(c, xg, &yg), LR_OK, "%s (gpu): %s", what, lr_last_error());
  expect_match(what, yc, yg, twice ? 0 : c->kf, 1, true);
  if (!yc->requires_grad) goto done;
  {
    int64_t ny = lr_numel(yc);
    lr_tensor *wc, *wg;
    void *hw = rand_host(yc->dtype, ny, seed + 99, -1, 1, false);
    cr_assert_eq(lr_empty_on(yc->dtype, LR_DEVICE_CPU, yc->ndim, yc->shape, &wc), LR_OK);
    cr_assert_eq(lr_empty_on(yc->dtype, LR_DEVICE_CUDA, yc->ndim, yc->shape, &wg), LR_OK);
    cr_assert_eq(lr_tensor_copy_from_host(wc, hw, lr_nbytes(wc)), LR_OK);
    cr_assert_eq(lr_tensor_copy_from_host(wg, hw, lr_nbytes(wg)), LR_OK);
    free(hw);
    if (twice) {
      /* both runs' graphs share the GPU leaves: backward of the first, save the grads, then the second */
      cr_assert_eq(lr_backward(yc, wg), LR_OK, "%s: backward (gpu, first run): %s", what, lr_last_error());
      lr_tensor *g1[3] = {0};
      for (int i = 0; i < n; i++) {
        if (!xg[i]->requires_grad) continue;
        cr_assert_not_null(xg[i]->grad, "%s: input %d got no gradient", what, i);
        cr_assert_eq(lr_tensor_contiguous_raw(xg[i]->grad, &g1[i]), LR_OK);
        lr_tensor *cp;
        cr_assert_eq(lr_empty_like(g1[i], &cp), LR_OK);
        cr_assert_eq(lr_tensor_copy_(cp, g1[i]), LR_OK, "%s", lr_last_error());
        g1[i] = cp;
        xg[i]->grad = NULL;
      }
      cr_assert_eq(lr_backward(yg, wg), LR_OK, "%s: backward (gpu, second run): %s", what, lr_last_error());
      for (int i = 0; i < n; i++) {
        if (!g1[i]) continue;
        char w2[300];
        snprintf(w2, sizeof w2, "%s: grad of input %d, two runs", what, i);
        expect_match(w2, g1[i], xg[i]->grad, 0, 1, true);
        xg[i]->grad = NULL;
      }
      goto done;
    }
    cr_assert_eq(lr_backward(yc, wc), LR_OK, "%s: backward (cpu): %s", what, lr_last_error());
    cr_assert_eq(lr_backward(yg, wg), LR_OK, "%s: backward (gpu): %s", what, lr_last_error());
    for (int i = 0; i < n; i++) {
      if (!xc[i]->requires_grad) continue;
      char w2[300];
      snprintf(w2, sizeof w2, "%s: grad of input %d", what, i);
      cr_assert_not_null(xc[i]->grad, "%s: no CPU gradient", w2);
      cr_assert_not_null(xg[i]->grad, "%s: no GPU gradient", w2);
      int64_t nx = lr_numel(xc[i]), r = nx ? ny / nx : 1;
      /* the accumulate kernels' rule for summing in the CPU's order (kernels/cuda/accumulate.cu) */
      bool exact_sum = r <= 64 || nx >= 65536;
      expect_match(w2, xc[i]->grad, xg[i]->grad, c->kb, r, exact_sum);
    }
  }
done:
  for (int i = 0; i < n; i++) {
    xc[i]->grad = NULL;
    xg[i]->grad = NULL;
  }
  lr_arena_rewind(ar, m);
}

static const shapes *shapes_for(int kind, bool large, int *count) {
#define PICK(a, b)                                                            \
  do {                                                                        \
    *count = large ? (int)(sizeof b / sizeof b[0]) : (int)(sizeof a / sizeof a[0]); \
    return large ? b : a;                                                     \
  } while (0)
  switch (kind) {
    case K_UNARY: PICK(k_unary_small, k_unary_large);
    case K_BINARY: case K_CMP: PICK(k_binary_small, k_binary_large);
    case K_WHERE: PICK(k_where_small, k_where_large);
    case K_MASKED: PICK(k_masked_small, k_masked_large);
    case K_VIEWR: PICK(k_viewr_small, k_viewr_large);
    default: PICK(k_viewc_small, k_viewc_large);
  }
#undef PICK
}

static void run_table(const op_case *cases, int n_cases, bool large) {
  for (int ci = 0; ci < n_cases; ci++) {
    const op_case *c = &cases[ci];
    int ns;
    const shapes *sh = shapes_for(c->kind, large, &ns);
    for (int d = 0; d < LR_DTYPE_COUNT; d++) {
      if (!(c->dtypes & LR_DT(d))) continue;
      for (int s = 0; s < ns; s++) run_case(c, (lr_dtype)d, &sh[s], 1000u * (uint64_t)ci + 10u * (uint64_t)d + (uint64_t)s, false);
    }
  }
}

#define N(t) ((int)(sizeof t / sizeof t[0]))

Test(cuda_parity_elementwise, unary_small, .init = pt_on_gpu) { run_table(k_unary_cases, N(k_unary_cases), false); }
Test(cuda_parity_elementwise, unary_large, .init = pt_on_gpu) { run_table(k_unary_cases, N(k_unary_cases), true); }
Test(cuda_parity_elementwise, binary_small, .init = pt_on_gpu) { run_table(k_binary_cases, N(k_binary_cases), false); }
Test(cuda_parity_elementwise, binary_large, .init = pt_on_gpu) { run_table(k_binary_cases, N(k_binary_cases), true); }
Test(cuda_parity_elementwise, select_compare_small, .init = pt_on_gpu) {
  run_table(k_select_cases, N(k_select_cases), false);
}
Test(cuda_parity_elementwise, select_compare_large, .init = pt_on_gpu) {
  run_table(k_select_cases, N(k_select_cases), true);
}
Test(cuda_parity_elementwise, complex_small, .init = pt_on_gpu) { run_table(k_complex_cases, N(k_complex_cases), false); }
Test(cuda_parity_elementwise, complex_large, .init = pt_on_gpu) { run_table(k_complex_cases, N(k_complex_cases), true); }

/* The same inputs through forward and backward twice on the GPU: the same bits. Ops whose
 * kernels take every path (library functions, broadcast backward with a long reduction, strided
 * inputs, complex arithmetic), at ~4M elements. */
static const op_case *find(const op_case *t, int n, const char *name) {
  for (int i = 0; i < n; i++)
    if (!strcmp(t[i].name, name)) return &t[i];
  cr_assert_fail("no case %s", name);
  return NULL;
}

Test(cuda_parity_elementwise, deterministic, .init = pt_on_gpu) {
  const op_case *picks[] = {find(k_unary_cases, N(k_unary_cases), "gelu_tanh"), find(k_unary_cases, N(k_unary_cases), "log"),
                            find(k_binary_cases, N(k_binary_cases), "div"), find(k_binary_cases, N(k_binary_cases), "pow"),
                            find(k_select_cases, N(k_select_cases), "where"),
                            find(k_complex_cases, N(k_complex_cases), "angle")};
  for (size_t p = 0; p < sizeof picks / sizeof picks[0]; p++) {
    const op_case *c = picks[p];
    int ns;
    const shapes *sh = shapes_for(c->kind, true, &ns);
    for (int d = 0; d < LR_DTYPE_COUNT; d++) {
      if (!(c->dtypes & LR_DT(d)) || !lr_dtype_is_float((lr_dtype)d)) continue;
      for (int s = 0; s < ns; s++) run_case(c, (lr_dtype)d, &sh[s], 77 + (uint64_t)s, true);
    }
  }
}

/* Mixed devices are refused with a message naming both; CPU-only inputs are untouched. */
Test(cuda_parity_elementwise, device_errors, .init = pt_on_gpu) {
  lr_tensor *c, *g, *mc, *y = NULL;
  cr_assert_eq(lr_zeros_on(F32, LR_DEVICE_CPU, LR_SHAPE(3), &c), LR_OK);
  cr_assert_eq(lr_zeros_on(F32, LR_DEVICE_CUDA, LR_SHAPE(3), &g), LR_OK);
  cr_assert_eq(lr_zeros_on(LR_DTYPE_BOOL, LR_DEVICE_CPU, LR_SHAPE(3), &mc), LR_OK);
  cr_assert_eq(lr_add(g, c, &y), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_add: a is on cuda, b is on cpu"), "%s", lr_last_error());
  cr_assert_eq(lr_where(mc, g, g, &y), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_where: cond is on cpu, x is on cuda"), "%s", lr_last_error());
  cr_assert_eq(lr_masked_fill(g, mc, 0, &y), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_masked_fill: mask is on cpu, x is on cuda"), "%s", lr_last_error());
  cr_assert_eq(lr_complex(g, c, &y), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_complex: re is on cuda, im is on cpu"), "%s", lr_last_error());
  cr_assert_null(y);
  /* the ops advertise CUDA in the registry (lrnnx info lists it) */
  cr_assert_eq(lr_exp(g, &y), LR_OK, "%s", lr_last_error());
  cr_assert_eq(y->device, LR_DEVICE_CUDA);
}

#else
Test(cuda_parity_elementwise, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
