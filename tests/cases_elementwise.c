/* Gradcheck cases for the elementwise ops: F64, and C128 for complex arithmetic. Binary cases
 * broadcast, unary cases use a strided (1, 3, 4) input (a size-1 dim and a transposed layout);
 * input ranges keep away from the non-differentiable points (abs, relu, clamp kinks, where
 * maximum/minimum tie) and the domains' edges (log, sqrt, pow). Default tolerances (atol 1e-6,
 * rtol 1e-5, eps 1e-6): every op here is smooth on its range, so the central difference is
 * accurate to ~1e-10. Every input is made on gc_device, so the table also runs on the GPU. */
#include "tests/cases.h"

typedef lr_status (*bin_fn)(lr_tensor *, lr_tensor *, lr_tensor **);
typedef lr_status (*un_fn)(lr_tensor *, lr_tensor **);

/* What a case calls: one of the function shapes below, with its scalar arguments. */
typedef struct {
  bin_fn bin;
  un_fn un;
  int which; /* for ops with scalar arguments: see f_scalar */
  double p0, p1;
} op_ctx;

static lr_status f_bin(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return ((op_ctx *)ctx)->bin(in[0], in[1], out);
}
static lr_status f_un(void *ctx, lr_tensor *const *in, lr_tensor **out) { return ((op_ctx *)ctx)->un(in[0], out); }

enum { S_AFFINE, S_POW_SCALAR, S_SOFTPLUS, S_GELU, S_CLAMP, S_MASKED_FILL };
static lr_status f_scalar(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  op_ctx *c = ctx;
  switch (c->which) {
    case S_AFFINE: return lr_affine(in[0], c->p0, c->p1, out);
    case S_POW_SCALAR: return lr_pow_scalar(in[0], c->p0, out);
    case S_SOFTPLUS: return lr_softplus(in[0], c->p0, c->p1, out);
    case S_GELU: return lr_gelu(in[0], (lr_gelu_kind)c->p0, out);
    case S_CLAMP: return lr_clamp(in[0], c->p0, c->p1, out);
    case S_MASKED_FILL: return lr_masked_fill(in[0], in[1], c->p0, out);
  }
  return LR_ERR_ARG;
}

static lr_status f_where(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_where(in[0], in[1], in[2], out);
}

/* A BOOL tensor with a fixed pseudo-random pattern (about half true), on gc_device. */
static lr_tensor *bool_mask(int ndim, const int64_t *shape, uint64_t seed) {
  lr_tensor *t;
  if (lr_empty(LR_DTYPE_BOOL, ndim, shape, &t) != LR_OK) return NULL;
  int64_t n = lr_numel(t);
  for (int64_t i = 0; i < n; i++) {
    uint64_t h = (uint64_t)(i + 1) * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
    lr_tensor_set(t, i, (double)((h >> 33) & 1), 0);
  }
  return gc_input(t);
}

#define F64 LR_DTYPE_F64
#define C128 LR_DTYPE_C128

static lr_status bin_case(lr_gc_result *r, const char *name, bin_fn f, lr_tensor *a, lr_tensor *b) {
  op_ctx c = {.bin = f};
  return lr_gradcheck(name, f_bin, &c, 2, (lr_tensor *[]){a, b}, NULL, r);
}

/* A unary case on a strided (1, 3, 4) input with values in [lo, hi). */
static lr_status un_case(lr_gc_result *r, const char *name, un_fn f, lr_dtype dt, double lo, double hi) {
  op_ctx c = {.un = f};
  lr_tensor *x = gc_leaf_strided(dt, LR_SHAPE(1, 3, 4), lo, hi, 11);
  return lr_gradcheck(name, f_un, &c, 1, &x, NULL, r);
}

static lr_status scalar_case(lr_gc_result *r, const char *name, int which, double p0, double p1, lr_dtype dt,
                             double lo, double hi) {
  op_ctx c = {.which = which, .p0 = p0, .p1 = p1};
  lr_tensor *x = gc_leaf_strided(dt, LR_SHAPE(1, 3, 4), lo, hi, 12);
  return lr_gradcheck(name, f_scalar, &c, 1, &x, NULL, r);
}

/* ---- binary ---- */
static lr_status add_broadcast(lr_gc_result *r) {
  return bin_case(r, "add", lr_add, gc_leaf(F64, LR_SHAPE(3, 1, 4), -1, 1, 1), gc_leaf(F64, LR_SHAPE(2, 1), -1, 1, 2));
}
static lr_status add_strided_c128(lr_gc_result *r) {
  return bin_case(r, "add", lr_add, gc_leaf_strided(C128, LR_SHAPE(3, 5), -1, 1, 3), gc_leaf(C128, LR_SHAPE(5), -1, 1, 4));
}
static lr_status sub_broadcast(lr_gc_result *r) {
  return bin_case(r, "sub", lr_sub, gc_leaf_strided(F64, LR_SHAPE(2, 3, 4), -1, 1, 5), gc_leaf(F64, LR_SHAPE(3, 1), -1, 1, 6));
}
static lr_status sub_c128(lr_gc_result *r) {
  return bin_case(r, "sub", lr_sub, gc_leaf(C128, LR_SHAPE(4, 1), -1, 1, 7), gc_leaf_strided(C128, LR_SHAPE(4, 3), -1, 1, 8));
}
static lr_status mul_broadcast(lr_gc_result *r) {
  return bin_case(r, "mul", lr_mul, gc_leaf(F64, LR_SHAPE(2, 1, 4), -1, 1, 9), gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 10));
}
static lr_status mul_c128(lr_gc_result *r) {
  return bin_case(r, "mul", lr_mul, gc_leaf_strided(C128, LR_SHAPE(3, 4), -1, 1, 11), gc_leaf(C128, LR_SHAPE(1, 4), -1, 1, 12));
}
static lr_status mul_same_input(lr_gc_result *r) { /* x * x: both contributions accumulate into x */
  lr_tensor *x = gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 13);
  op_ctx c = {.bin = lr_mul};
  return lr_gradcheck("mul", f_bin, &c, 2, (lr_tensor *[]){x, x}, NULL, r);
}
static lr_status div_broadcast(lr_gc_result *r) {
  return bin_case(r, "div", lr_div, gc_leaf(F64, LR_SHAPE(2, 3, 1), -1, 1, 14),
                  gc_leaf_strided(F64, LR_SHAPE(3, 4), 0.5, 2, 15));
}
static lr_status div_c128(lr_gc_result *r) {
  return bin_case(r, "div", lr_div, gc_leaf_strided(C128, LR_SHAPE(3, 4), -1, 1, 16),
                  gc_leaf(C128, LR_SHAPE(4), 0.5, 1.5, 17));
}
static lr_status pow_broadcast(lr_gc_result *r) {
  return bin_case(r, "pow", lr_pow, gc_leaf_strided(F64, LR_SHAPE(3, 4), 0.5, 2, 18),
                  gc_leaf(F64, LR_SHAPE(4), -1.5, 2.5, 19));
}
static lr_status maximum_broadcast(lr_gc_result *r) {
  return bin_case(r, "maximum", lr_maximum, gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 20),
                  gc_leaf(F64, LR_SHAPE(3, 1), -1, 1, 21));
}
static lr_status minimum_broadcast(lr_gc_result *r) {
  return bin_case(r, "minimum", lr_minimum, gc_leaf(F64, LR_SHAPE(2, 1, 4), -1, 1, 22),
                  gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 23));
}

/* ---- scalar-argument ops ---- */
static lr_status affine_f64(lr_gc_result *r) { return scalar_case(r, "affine", S_AFFINE, -1.5, 0.25, F64, -1, 1); }
static lr_status affine_c128(lr_gc_result *r) { return scalar_case(r, "affine", S_AFFINE, 2, -1, C128, -1, 1); }
static lr_status pow_scalar_frac(lr_gc_result *r) {
  return scalar_case(r, "pow_scalar", S_POW_SCALAR, 2.5, 0, F64, 0.5, 2);
}
static lr_status pow_scalar_int_neg_base(lr_gc_result *r) {
  return scalar_case(r, "pow_scalar", S_POW_SCALAR, 3, 0, F64, -2, 2);
}
static lr_status softplus_default(lr_gc_result *r) {
  return scalar_case(r, "softplus", S_SOFTPLUS, 1, 20, F64, -3, 3);
}
/* beta 2, threshold 3: x > 1.5 takes the linear branch; the range has points on both sides. */
static lr_status softplus_beta_threshold(lr_gc_result *r) {
  return scalar_case(r, "softplus", S_SOFTPLUS, 2, 3, F64, -3, 3);
}
static lr_status gelu_erf(lr_gc_result *r) { return scalar_case(r, "gelu", S_GELU, LR_GELU_ERF, 0, F64, -3, 3); }
static lr_status gelu_tanh(lr_gc_result *r) { return scalar_case(r, "gelu", S_GELU, LR_GELU_TANH, 0, F64, -3, 3); }
static lr_status clamp_both(lr_gc_result *r) { return scalar_case(r, "clamp", S_CLAMP, -0.5, 0.5, F64, -1, 1); }

/* ---- unary ---- */
#define UN_CASE(fn, dt, lo, hi) \
  static lr_status fn##_##dt(lr_gc_result *r) { return un_case(r, #fn, lr_##fn, dt, lo, hi); }
UN_CASE(neg, F64, -1, 1)
UN_CASE(neg, C128, -1, 1)
UN_CASE(exp, F64, -2, 2)
UN_CASE(exp, C128, -1, 1)
UN_CASE(log, F64, 0.5, 2)
UN_CASE(log, C128, 0.3, 1.5) /* right half-plane: away from 0 and the branch cut */
UN_CASE(log1p, F64, -0.5, 2)
UN_CASE(expm1, F64, -2, 2)
UN_CASE(sqrt, F64, 0.5, 2)
UN_CASE(rsqrt, F64, 0.5, 2)
UN_CASE(abs, F64, -1, 1)
UN_CASE(abs, C128, -1, 1)
UN_CASE(sin, F64, -3, 3)
UN_CASE(cos, F64, -3, 3)
UN_CASE(tanh, F64, -2, 2)
UN_CASE(sigmoid, F64, -4, 4)
UN_CASE(silu, F64, -3, 3)
UN_CASE(relu, F64, -1, 1)

/* ---- selection ---- */
static lr_status where_broadcast(lr_gc_result *r) {
  lr_tensor *in[3] = {bool_mask(LR_SHAPE(3, 4), 1), gc_leaf(F64, LR_SHAPE(2, 1, 4), -1, 1, 30),
                      gc_leaf_strided(F64, LR_SHAPE(1, 3, 4), -1, 1, 31)};
  return lr_gradcheck("where", f_where, NULL, 3, in, NULL, r);
}
static lr_status where_c128(lr_gc_result *r) {
  lr_tensor *in[3] = {bool_mask(LR_SHAPE(4), 2), gc_leaf_strided(C128, LR_SHAPE(3, 4), -1, 1, 32),
                      gc_leaf(C128, LR_SHAPE(3, 1), -1, 1, 33)};
  return lr_gradcheck("where", f_where, NULL, 3, in, NULL, r);
}
static lr_status masked_fill_broadcast(lr_gc_result *r) {
  op_ctx c = {.which = S_MASKED_FILL, .p0 = 0.5};
  lr_tensor *in[2] = {gc_leaf_strided(F64, LR_SHAPE(2, 3, 4), -1, 1, 34), bool_mask(LR_SHAPE(3, 1), 3)};
  return lr_gradcheck("masked_fill", f_scalar, &c, 2, in, NULL, r);
}

const lr_gc_case lr_cases_elementwise[] = {
    {"add_broadcast", add_broadcast},
    {"add_strided_c128", add_strided_c128},
    {"sub_broadcast", sub_broadcast},
    {"sub_c128", sub_c128},
    {"mul_broadcast", mul_broadcast},
    {"mul_c128", mul_c128},
    {"mul_same_input", mul_same_input},
    {"div_broadcast", div_broadcast},
    {"div_c128", div_c128},
    {"pow_broadcast", pow_broadcast},
    {"maximum_broadcast", maximum_broadcast},
    {"minimum_broadcast", minimum_broadcast},
    {"affine_f64", affine_f64},
    {"affine_c128", affine_c128},
    {"pow_scalar_frac", pow_scalar_frac},
    {"pow_scalar_int_neg_base", pow_scalar_int_neg_base},
    {"softplus_default", softplus_default},
    {"softplus_beta_threshold", softplus_beta_threshold},
    {"gelu_erf", gelu_erf},
    {"gelu_tanh", gelu_tanh},
    {"clamp_both", clamp_both},
    {"neg_f64", neg_F64},
    {"neg_c128", neg_C128},
    {"exp_f64", exp_F64},
    {"exp_c128", exp_C128},
    {"log_f64", log_F64},
    {"log_c128", log_C128},
    {"log1p_f64", log1p_F64},
    {"expm1_f64", expm1_F64},
    {"sqrt_f64", sqrt_F64},
    {"rsqrt_f64", rsqrt_F64},
    {"abs_f64", abs_F64},
    {"abs_c128", abs_C128},
    {"sin_f64", sin_F64},
    {"cos_f64", cos_F64},
    {"tanh_f64", tanh_F64},
    {"sigmoid_f64", sigmoid_F64},
    {"silu_f64", silu_F64},
    {"relu_f64", relu_F64},
    {"where_broadcast", where_broadcast},
    {"where_c128", where_c128},
    {"masked_fill_broadcast", masked_fill_broadcast},
    {NULL, NULL},
};
