/* Elementwise ops: gradchecks (cases_elementwise.c), exact values, the F32 kernels against the
 * F64 ones, the numerically careful forms, and error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

static lr_tensor *t64(int ndim, const int64_t *shape, const double *v) {
  lr_tensor *t = NULL;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, ndim, shape, v, &t), LR_OK, "%s", lr_last_error());
  return t;
}

/* Every element of t (real part) within tol of want[i]. */
static void expect_vals(const lr_tensor *t, const double *want, int64_t n, double tol) {
  cr_assert_eq(lr_numel(t), n);
  for (int64_t i = 0; i < n; i++) {
    double v = lr_tensor_get(t, i);
    cr_expect(fabs(v - want[i]) <= tol || v == want[i], "element %lld: got %.17g, want %.17g", (long long)i, v, want[i]);
  }
}

#define ERR(expr, code, msg)                                                                      \
  do {                                                                                            \
    cr_assert_eq((expr), (code), "%s: %s", #expr, lr_last_error());                               \
    cr_expect_str_eq(lr_last_error(), (msg));                                                     \
  } while (0)

Test(elementwise, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_elementwise, "elementwise"), 0); }

/* ---- binary values ---- */

Test(elementwise, add_values) {
  lr_tensor *a, *b, *y;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 2), (float[]){1, 2, 3, 4}, &a), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2), (float[]){10, 20}, &b), LR_OK);
  cr_assert_eq(lr_add(a, b, &y), LR_OK);
  float want[4] = {11, 22, 13, 24}, got[4];
  cr_assert_eq(lr_tensor_copy_to_host(y, got, sizeof got), LR_OK);
  cr_assert_arr_eq(got, want, sizeof want);
}

Test(elementwise, binary_broadcast_values) {
  lr_tensor *a = t64(LR_SHAPE(2, 1), (double[]){2, 3}), *b = t64(LR_SHAPE(3), (double[]){1, 2, 4}), *y;
  cr_assert_eq(lr_sub(a, b, &y), LR_OK);
  cr_assert_eq(y->ndim, 2);
  cr_assert(y->shape[0] == 2 && y->shape[1] == 3);
  expect_vals(y, (double[]){1, 0, -2, 2, 1, -1}, 6, 0);
  cr_assert_eq(lr_mul(a, b, &y), LR_OK);
  expect_vals(y, (double[]){2, 4, 8, 3, 6, 12}, 6, 0);
  cr_assert_eq(lr_div(a, b, &y), LR_OK);
  expect_vals(y, (double[]){2, 1, 0.5, 3, 1.5, 0.75}, 6, 0);
  cr_assert_eq(lr_pow(a, b, &y), LR_OK);
  expect_vals(y, (double[]){2, 4, 16, 3, 9, 81}, 6, 1e-12);
  cr_assert_eq(lr_maximum(a, b, &y), LR_OK);
  expect_vals(y, (double[]){2, 2, 4, 3, 3, 4}, 6, 0);
  cr_assert_eq(lr_minimum(a, b, &y), LR_OK);
  expect_vals(y, (double[]){1, 2, 2, 1, 2, 3}, 6, 0);
}

/* A transposed input read in place: y[i][j] = x[j][i] + 1. Large enough for the threaded path. */
Test(elementwise, strided_large) {
  lr_tensor *x, *xt, *one, *y;
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE(300, 257), &x), LR_OK);
  for (int64_t i = 0; i < 300 * 257; i++) lr_tensor_set(x, i, (double)i, 0);
  cr_assert_eq(lr_tensor_transpose(x, 0, 1, &xt), LR_OK);
  cr_assert_eq(lr_scalar(LR_DTYPE_F64, 1, &one), LR_OK);
  cr_assert_eq(lr_add(xt, one, &y), LR_OK);
  cr_assert(lr_is_contiguous(y));
  int bad = 0;
  for (int64_t i = 0; i < 257; i++)
    for (int64_t j = 0; j < 300; j++) bad += lr_tensor_get(y, i * 300 + j) != (double)(j * 257 + i) + 1;
  cr_assert_eq(bad, 0);
  cr_assert_eq(lr_mul(x, x, &y), LR_OK); /* contiguous: the unit-stride threaded path */
  bad = 0;
  for (int64_t i = 0; i < 300 * 257; i++) bad += lr_tensor_get(y, i) != (double)i * (double)i;
  cr_assert_eq(bad, 0);
  cr_assert_eq(lr_exp(xt, &y), LR_OK); /* unary on a strided input */
  cr_assert_float_eq(lr_tensor_get(y, 1), exp(257.0), 1e-12 * exp(257.0));
}

Test(elementwise, complex_arith_values) {
  lr_tensor *a, *b, *y;
  double re, im;
  cr_assert_eq(lr_from_host(LR_DTYPE_C128, LR_SHAPE(1), (double[]){1, 2}, &a), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_C128, LR_SHAPE(1), (double[]){3, -1}, &b), LR_OK);
  cr_assert_eq(lr_mul(a, b, &y), LR_OK); /* (1+2i)(3-i) = 5+5i */
  lr_tensor_get_c(y, 0, &re, &im);
  cr_expect(re == 5 && im == 5, "%g %g", re, im);
  cr_assert_eq(lr_div(a, b, &y), LR_OK); /* (1+2i)/(3-i) = (1+7i)/10 */
  lr_tensor_get_c(y, 0, &re, &im);
  cr_expect(fabs(re - 0.1) < 1e-15 && fabs(im - 0.7) < 1e-15, "%g %g", re, im);
  cr_assert_eq(lr_affine(a, 2, 1, &y), LR_OK); /* 2(1+2i)+1 = 3+4i */
  lr_tensor_get_c(y, 0, &re, &im);
  cr_expect(re == 3 && im == 4, "%g %g", re, im);
  cr_assert_eq(lr_abs(y, &b), LR_OK);
  cr_expect_eq(b->dtype, LR_DTYPE_F64);
  cr_expect_eq(lr_tensor_get(b, 0), 5);
  cr_assert_eq(lr_from_host(LR_DTYPE_C64, LR_SHAPE(1), (float[]){0, (float)M_PI}, &a), LR_OK);
  cr_assert_eq(lr_exp(a, &y), LR_OK); /* e^{i pi} = -1 */
  lr_tensor_get_c(y, 0, &re, &im);
  cr_expect(fabs(re + 1) < 1e-6 && fabs(im) < 1e-6, "%g %g", re, im);
  cr_assert_eq(lr_log(y, &b), LR_OK);
  lr_tensor_get_c(b, 0, &re, &im);
  cr_expect(fabs(re) < 1e-6 && fabs(fabs(im) - M_PI) < 1e-6, "%g %g", re, im);
}

/* Ties in maximum/minimum split the gradient half/half, as PyTorch does. */
Test(elementwise, maximum_tie_gradient) {
  lr_tensor *a = t64(LR_SHAPE(2), (double[]){1, 2}), *b = t64(LR_SHAPE(2), (double[]){1, 3}), *y;
  a->requires_grad = b->requires_grad = true;
  cr_assert_eq(lr_maximum(a, b, &y), LR_OK);
  lr_tensor *w = t64(LR_SHAPE(2), (double[]){1, 1});
  cr_assert_eq(lr_backward(y, w), LR_OK);
  expect_vals(a->grad, (double[]){0.5, 0}, 2, 0);
  expect_vals(b->grad, (double[]){0.5, 1}, 2, 0);
}

/* Backward sums over broadcast dims and accumulates across uses. */
Test(elementwise, broadcast_grad_sum) {
  lr_tensor *a = t64(LR_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}), *b = t64(LR_SHAPE(1), (double[]){2}), *y, *z;
  a->requires_grad = b->requires_grad = true;
  cr_assert_eq(lr_mul(a, b, &y), LR_OK);
  cr_assert_eq(lr_sub(y, b, &z), LR_OK); /* z = a b - b: db = sum(a) - 6 = 15 */
  cr_assert_eq(lr_backward(z, t64(LR_SHAPE(2, 3), (double[]){1, 1, 1, 1, 1, 1})), LR_OK);
  expect_vals(b->grad, (double[]){15}, 1, 0);
  expect_vals(a->grad, (double[]){2, 2, 2, 2, 2, 2}, 6, 0);
}

/* ---- unary values ---- */

Test(elementwise, unary_values) {
  lr_tensor *x = t64(LR_SHAPE(3), (double[]){-1, 0.5, 2}), *y;
  struct {
    lr_status (*f)(lr_tensor *, lr_tensor **);
    double want[3];
  } cases[] = {
      {lr_neg, {1, -0.5, -2}},
      {lr_exp, {exp(-1), exp(0.5), exp(2)}},
      {lr_log1p, {-INFINITY, log1p(0.5), log1p(2)}},
      {lr_expm1, {expm1(-1), expm1(0.5), expm1(2)}},
      {lr_abs, {1, 0.5, 2}},
      {lr_sin, {sin(-1), sin(0.5), sin(2)}},
      {lr_cos, {cos(-1), cos(0.5), cos(2)}},
      {lr_tanh, {tanh(-1), tanh(0.5), tanh(2)}},
      {lr_sigmoid, {1 / (1 + exp(1)), 1 / (1 + exp(-0.5)), 1 / (1 + exp(-2))}},
      {lr_silu, {-1 / (1 + exp(1)), 0.5 / (1 + exp(-0.5)), 2 / (1 + exp(-2))}},
      {lr_relu, {0, 0.5, 2}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    cr_assert_eq(cases[i].f(x, &y), LR_OK, "case %zu: %s", i, lr_last_error());
    expect_vals(y, cases[i].want, 3, 1e-15);
  }
  lr_tensor *p = t64(LR_SHAPE(2), (double[]){4, 0.25});
  cr_assert_eq(lr_sqrt(p, &y), LR_OK);
  expect_vals(y, (double[]){2, 0.5}, 2, 0);
  cr_assert_eq(lr_rsqrt(p, &y), LR_OK);
  expect_vals(y, (double[]){0.5, 2}, 2, 0);
  cr_assert_eq(lr_log(p, &y), LR_OK);
  expect_vals(y, (double[]){log(4), log(0.25)}, 2, 0);
  cr_assert_eq(lr_pow_scalar(p, 1.5, &y), LR_OK);
  expect_vals(y, (double[]){8, 0.125}, 2, 1e-15);
  cr_assert_eq(lr_affine(p, -2, 1, &y), LR_OK);
  expect_vals(y, (double[]){-7, 0.5}, 2, 0);
  cr_assert_eq(lr_clamp(x, -0.5, 1, &y), LR_OK);
  expect_vals(y, (double[]){-0.5, 0.5, 1}, 3, 0);
  cr_assert_eq(lr_clamp(x, -INFINITY, 0, &y), LR_OK);
  expect_vals(y, (double[]){-1, 0, 0}, 3, 0);
}

/* Reference values: torch.nn.functional.gelu(torch.tensor(1.0, dtype=float64)[, approximate='tanh']). */
Test(elementwise, gelu_values) {
  lr_tensor *x = t64(LR_SHAPE(2), (double[]){1, -2}), *y;
  cr_assert_eq(lr_gelu(x, LR_GELU_ERF, &y), LR_OK);
  expect_vals(y, (double[]){0.8413447460685429, -0.04550026389635842}, 2, 1e-15);
  cr_assert_eq(lr_gelu(x, LR_GELU_TANH, &y), LR_OK);
  expect_vals(y, (double[]){0.8411919906082768, -0.04540230591222}, 2, 1e-13);
}

/* Large |x| must not overflow: sigmoid, softplus; log1p/expm1 keep tiny arguments exact. */
Test(elementwise, numerically_careful) {
  lr_tensor *x = t64(LR_SHAPE(4), (double[]){-1000, -40, 40, 1000}), *y;
  cr_assert_eq(lr_sigmoid(x, &y), LR_OK);
  expect_vals(y, (double[]){0, exp(-40) / (1 + exp(-40)), 1 / (1 + exp(-40)), 1}, 4, 1e-300);
  cr_expect_gt(lr_tensor_get(y, 1), 0);
  cr_assert_eq(lr_softplus(x, 1, 20, &y), LR_OK); /* linear above the threshold */
  expect_vals(y, (double[]){0, log1p(exp(-40)), 40, 1000}, 4, 1e-300);
  cr_assert_eq(lr_softplus(x, 1, INFINITY, &y), LR_OK); /* no threshold: stable form, no inf */
  expect_vals(y, (double[]){0, log1p(exp(-40)), 40 + log1p(exp(-40)), 1000}, 4, 1e-12);
  cr_assert_eq(lr_softplus(x, 0.5, 20, &y), LR_OK); /* beta x = -20, 20: both below/at threshold */
  cr_expect_float_eq(lr_tensor_get(y, 2), 2 * log1p(exp(20)), 1e-12);
  cr_assert_eq(lr_silu(x, &y), LR_OK);
  expect_vals(y, (double[]){-0.0, -40 * exp(-40) / (1 + exp(-40)), 40 / (1 + exp(-40)), 1000}, 4, 1e-12);
  lr_tensor *t = t64(LR_SHAPE(2), (double[]){1e-17, -1e-17});
  cr_assert_eq(lr_log1p(t, &y), LR_OK);
  expect_vals(y, (double[]){1e-17, -1e-17}, 2, 1e-33);
  cr_assert_eq(lr_expm1(t, &y), LR_OK);
  expect_vals(y, (double[]){1e-17, -1e-17}, 2, 1e-33);
  lr_tensor *f;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2), (float[]){-200, 200}, &f), LR_OK);
  cr_assert_eq(lr_sigmoid(f, &y), LR_OK);
  cr_expect(lr_tensor_get(y, 0) == 0 && lr_tensor_get(y, 1) == 1);
  cr_assert_eq(lr_softplus(f, 1, 20, &y), LR_OK);
  cr_expect(lr_tensor_get(y, 0) == 0 && lr_tensor_get(y, 1) == 200);
}

/* The F32 kernels agree with the F64 ones (float rounding: rel 2e-6). */
Test(elementwise, f32_matches_f64) {
  lr_status (*fs[])(lr_tensor *, lr_tensor **) = {lr_neg,  lr_exp,     lr_log,  lr_log1p, lr_expm1, lr_sqrt,
                                                  lr_rsqrt, lr_abs,    lr_sin,  lr_cos,   lr_tanh,  lr_sigmoid,
                                                  lr_silu, lr_relu};
  float vf[8] = {0.1f, 0.3f, 0.7f, 1.2f, 1.9f, 2.5f, 3.3f, 4.8f};
  double v[8]; /* the same values, so only the kernels' rounding differs */
  for (int i = 0; i < 8; i++) v[i] = vf[i];
  lr_tensor *x64 = t64(LR_SHAPE(8), v), *x32, *y64, *y32;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(8), vf, &x32), LR_OK);
  for (size_t k = 0; k < sizeof fs / sizeof fs[0]; k++) {
    cr_assert_eq(fs[k](x64, &y64), LR_OK);
    cr_assert_eq(fs[k](x32, &y32), LR_OK);
    cr_assert_eq(y32->dtype, LR_DTYPE_F32);
    for (int i = 0; i < 8; i++) {
      double a = lr_tensor_get(y64, i), b = lr_tensor_get(y32, i);
      cr_expect(fabs(a - b) <= 2e-6 * fabs(a) + 1e-7, "op %zu element %d: f64 %.9g f32 %.9g", k, i, a, b);
    }
  }
  cr_assert_eq(lr_gelu(x32, LR_GELU_TANH, &y32), LR_OK);
  cr_assert_eq(lr_gelu(x64, LR_GELU_TANH, &y64), LR_OK);
  for (int i = 0; i < 8; i++) cr_expect_float_eq(lr_tensor_get(y32, i), lr_tensor_get(y64, i), 2e-6);
}

/* Gradients at the edges: relu 0 at 0, clamp passes at the bounds (inclusive, as PyTorch). */
Test(elementwise, kink_gradients) {
  lr_tensor *x = t64(LR_SHAPE(4), (double[]){-1, 0, 0.5, 1}), *y;
  x->requires_grad = true;
  cr_assert_eq(lr_clamp(x, 0, 0.5, &y), LR_OK);
  cr_assert_eq(lr_backward(y, t64(LR_SHAPE(4), (double[]){1, 1, 1, 1})), LR_OK);
  expect_vals(x->grad, (double[]){0, 1, 1, 0}, 4, 0);
  x->grad = NULL;
  cr_assert_eq(lr_relu(x, &y), LR_OK);
  cr_assert_eq(lr_backward(y, t64(LR_SHAPE(4), (double[]){1, 1, 1, 1})), LR_OK);
  expect_vals(x->grad, (double[]){0, 0, 1, 1}, 4, 0);
}

/* ---- where, masked_fill, comparisons ---- */

Test(elementwise, where_masked_fill_compare) {
  lr_tensor *a = t64(LR_SHAPE(2, 1), (double[]){1, 2}), *b = t64(LR_SHAPE(3), (double[]){0, 1.5, 3}), *c, *y;
  cr_assert_eq(lr_gt(a, b, &c), LR_OK); /* (2, 3) bool */
  cr_assert_eq(c->dtype, LR_DTYPE_BOOL);
  expect_vals(c, (double[]){1, 0, 0, 1, 1, 0}, 6, 0);
  cr_assert_eq(lr_where(c, a, b, &y), LR_OK);
  expect_vals(y, (double[]){1, 1.5, 3, 2, 2, 3}, 6, 0);
  cr_assert_eq(lr_le(a, b, &c), LR_OK);
  expect_vals(c, (double[]){0, 1, 1, 0, 0, 1}, 6, 0);
  cr_assert_eq(lr_eq(b, b, &c), LR_OK);
  expect_vals(c, (double[]){1, 1, 1}, 3, 0);
  cr_assert_eq(lr_ne(a, a, &c), LR_OK);
  expect_vals(c, (double[]){0, 0}, 2, 0);
  cr_assert_eq(lr_lt(b, a, &c), LR_OK);
  expect_vals(c, (double[]){1, 0, 0, 1, 1, 0}, 6, 0);
  cr_assert_eq(lr_ge(b, a, &c), LR_OK);
  expect_vals(c, (double[]){0, 1, 1, 0, 0, 1}, 6, 0);
  cr_assert_eq(lr_gt(b, t64(LR_SHAPE(1), (double[]){1}), &c), LR_OK);
  lr_tensor *x = t64(LR_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6});
  cr_assert_eq(lr_masked_fill(x, c, -INFINITY, &y), LR_OK); /* mask (3,) broadcast over rows */
  expect_vals(y, (double[]){1, -INFINITY, -INFINITY, 4, -INFINITY, -INFINITY}, 6, 0);
  lr_tensor *i64;
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(3), (int64_t[]){4, 5, 6}, &i64), LR_OK);
  cr_assert_eq(lr_masked_fill(i64, c, 7, &y), LR_OK);
  expect_vals(y, (double[]){4, 7, 7}, 3, 0);
}

/* ---- errors ---- */

Test(elementwise, binary_errors) {
  lr_tensor *a, *b, *c, *z, *i, *y = NULL;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &a);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(4), &b);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3), &c);
  lr_zeros(LR_DTYPE_C64, LR_SHAPE(3), &z);
  lr_zeros(LR_DTYPE_I64, LR_SHAPE(3), &i);
  ERR(lr_add(a, b, &y), LR_ERR_SHAPE, "lr_add: shapes (2, 3) and (4,) do not broadcast");
  ERR(lr_mul(a, b, &y), LR_ERR_SHAPE, "lr_mul: shapes (2, 3) and (4,) do not broadcast");
  ERR(lr_add(a, c, &y), LR_ERR_DTYPE, "lr_add: a is f32, b is f64");
  ERR(lr_div(i, i, &y), LR_ERR_DTYPE, "lr_div: a is i64, expected f32, f64, c64 or c128");
  ERR(lr_pow(z, z, &y), LR_ERR_DTYPE, "lr_pow: a is c64, expected f32 or f64");
  ERR(lr_maximum(z, z, &y), LR_ERR_DTYPE, "lr_maximum: a is c64, expected f32 or f64");
  ERR(lr_minimum(z, z, &y), LR_ERR_DTYPE, "lr_minimum: a is c64, expected f32 or f64");
  ERR(lr_sub(NULL, c, &y), LR_ERR_ARG, "lr_sub: argument 'a' is NULL");
  ERR(lr_sub(c, NULL, &y), LR_ERR_ARG, "lr_sub: argument 'b' is NULL");
  ERR(lr_sub(c, c, NULL), LR_ERR_ARG, "lr_sub: argument 'out' is NULL");
  ERR(lr_gt(z, z, &y), LR_ERR_DTYPE, "lr_gt: a is c64, expected f32, f64, i32 or i64");
  /* A tensor marked as on CUDA (never dereferenced: the checks fail first). */
  lr_tensor cu = *c;
  cu.device = LR_DEVICE_CUDA;
  ERR(lr_add(&cu, c, &y), LR_ERR_DEVICE, "lr_add: a is on cuda, b is on cpu");
#ifndef LR_CUDA /* with the CUDA backend built in, lr_mul runs on CUDA */
  ERR(lr_mul(&cu, &cu, &y), LR_ERR_UNSUPPORTED, "lr_mul: no cuda implementation");
#endif
  cr_assert_null(y);
}

Test(elementwise, unary_errors) {
  lr_tensor *x, *z, *i, *y = NULL;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3), &x);
  lr_zeros(LR_DTYPE_C128, LR_SHAPE(3), &z);
  lr_zeros(LR_DTYPE_I32, LR_SHAPE(3), &i);
  ERR(lr_exp(NULL, &y), LR_ERR_ARG, "lr_exp: argument 'x' is NULL");
  ERR(lr_exp(x, NULL), LR_ERR_ARG, "lr_exp: argument 'out' is NULL");
  ERR(lr_exp(i, &y), LR_ERR_DTYPE, "lr_exp: x is i32, expected f32, f64, c64 or c128");
  ERR(lr_sin(z, &y), LR_ERR_DTYPE, "lr_sin: x is c128, expected f32 or f64");
  ERR(lr_sigmoid(z, &y), LR_ERR_DTYPE, "lr_sigmoid: x is c128, expected f32 or f64");
  ERR(lr_pow_scalar(z, 2, &y), LR_ERR_DTYPE, "lr_pow_scalar: x is c128, expected f32 or f64");
  ERR(lr_relu(i, &y), LR_ERR_DTYPE, "lr_relu: x is i32, expected f32 or f64");
  ERR(lr_gelu(x, (lr_gelu_kind)7, &y), LR_ERR_ARG, "lr_gelu: kind is 7, expected LR_GELU_ERF (0) or LR_GELU_TANH (1)");
  ERR(lr_softplus(x, 0, 20, &y), LR_ERR_ARG, "lr_softplus: beta is 0, expected a nonzero number");
  ERR(lr_clamp(x, 1, -1, &y), LR_ERR_ARG, "lr_clamp: lo 1 and hi -1, expected lo <= hi");
  ERR(lr_clamp(x, NAN, 1, &y), LR_ERR_ARG, "lr_clamp: lo nan and hi 1, expected lo <= hi");
#ifndef LR_CUDA /* with the CUDA backend built in, lr_tanh runs on CUDA */
  lr_tensor cu = *x;
  cu.device = LR_DEVICE_CUDA;
  ERR(lr_tanh(&cu, &y), LR_ERR_UNSUPPORTED, "lr_tanh: no cuda implementation");
#endif
  cr_assert_null(y);
}

Test(elementwise, where_errors) {
  lr_tensor *c, *a, *b, *f, *m, *y = NULL;
  lr_zeros(LR_DTYPE_BOOL, LR_SHAPE(2, 3), &c);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3), &a);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(4), &b);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(3), &f);
  lr_zeros(LR_DTYPE_BOOL, LR_SHAPE(2, 3), &m);
  ERR(lr_where(a, a, a, &y), LR_ERR_DTYPE, "lr_where: cond is f64, expected bool");
  ERR(lr_where(c, a, f, &y), LR_ERR_DTYPE, "lr_where: a is f64, b is f32");
  ERR(lr_where(c, a, b, &y), LR_ERR_SHAPE, "lr_where: shapes (2, 3) and (4,) do not broadcast");
  ERR(lr_where(NULL, a, a, &y), LR_ERR_ARG, "lr_where: argument 'cond' is NULL");
  ERR(lr_masked_fill(a, m, 0, &y), LR_ERR_SHAPE, "lr_masked_fill: mask (2, 3) does not broadcast to x (3,)");
  ERR(lr_masked_fill(a, a, 0, &y), LR_ERR_DTYPE, "lr_masked_fill: mask is f64, expected bool");
  ERR(lr_masked_fill(a, NULL, 0, &y), LR_ERR_ARG, "lr_masked_fill: argument 'mask' is NULL");
  cr_assert_null(y);
}

/* Grad mode off: nothing is recorded, outputs do not require grad. */
Test(elementwise, no_record_without_grad) {
  lr_tensor *x = t64(LR_SHAPE(2), (double[]){1, 2}), *y;
  x->requires_grad = true;
  int before = lr_tape_size();
  bool prev = lr_set_grad_enabled(false);
  cr_assert_eq(lr_exp(x, &y), LR_OK);
  lr_set_grad_enabled(prev);
  cr_expect_eq(lr_tape_size(), before);
  cr_expect(!y->requires_grad);
  cr_assert_eq(lr_exp(x, &y), LR_OK);
  cr_expect_eq(lr_tape_size(), before + 1);
  cr_expect(y->requires_grad);
}
