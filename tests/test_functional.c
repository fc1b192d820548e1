/* Functional ops: gradchecks (cases_functional.c), exact values against hand-computed references,
 * F32 against F64, the parallel paths, dropout's mask, and the error paths.
 *
 * Tolerances: F64 results are compared to references computed in double with 1e-12 (a handful
 * of roundings of O(1) values); F32 results with 1e-6 (float epsilon 6e-8 times the O(10)
 * roundings of a row). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

#define TOL64 1e-12
#define TOL32 1e-6

Test(functional, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_functional, "functional"), 0); }

static lr_tensor *f64(int ndim, const int64_t *shape, const double *v) {
  lr_tensor *t;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, ndim, shape, v, &t), LR_OK);
  return t;
}
static lr_tensor *i64(int ndim, const int64_t *shape, const int64_t *v) {
  lr_tensor *t;
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, ndim, shape, v, &t), LR_OK);
  return t;
}
static void expect_vals(const lr_tensor *t, const double *want, int n, double tol) {
  cr_assert_eq(lr_numel(t), n);
  for (int i = 0; i < n; i++)
    cr_expect(fabs(lr_tensor_get(t, i) - want[i]) <= tol, "element %d: %.17g, expected %.17g", i, lr_tensor_get(t, i),
              want[i]);
}

/* softmax([1, 2, 3]) = e^x / (e + e^2 + e^3); log_softmax = x - 3 - log(1 + e^-1 + e^-2). */
static const double SM123[3] = {0.09003057317038046, 0.24472847105479767, 0.6652409557748219};
static const double LSM123[3] = {-2.4076059644443806, -1.4076059644443806, -0.4076059644443806};

Test(functional, softmax_values) {
  lr_tensor *y;
  cr_assert_eq(lr_softmax(f64(LR_SHAPE(3), (double[]){1, 2, 3}), 0, &y), LR_OK);
  expect_vals(y, SM123, 3, TOL64);
  /* stable: a shift by 1000 changes nothing */
  cr_assert_eq(lr_log_softmax(f64(LR_SHAPE(3), (double[]){1001, 1002, 1003}), -1, &y), LR_OK);
  expect_vals(y, LSM123, 3, 1e-12);
  /* along dim 0 of a (3, 2) tensor: columns [1,2,3] and [5,5,5] */
  cr_assert_eq(lr_softmax(f64(LR_SHAPE(3, 2), (double[]){1, 5, 2, 5, 3, 5}), 0, &y), LR_OK);
  double third = 1.0 / 3;
  expect_vals(y, (double[]){SM123[0], third, SM123[1], third, SM123[2], third}, 6, TOL64);
  /* a strided (transposed) view gives the same as its contiguous copy */
  lr_tensor *b = f64(LR_SHAPE(2, 3), (double[]){1, 2, 3, 5, 5, 5}), *v;
  lr_tensor_transpose(b, 0, 1, &v);
  cr_assert_eq(lr_log_softmax(v, 0, &y), LR_OK);
  double l3 = -log(3.0);
  expect_vals(y, (double[]){LSM123[0], l3, LSM123[1], l3, LSM123[2], l3}, 6, TOL64);
  /* -inf entries get probability 0 */
  cr_assert_eq(lr_softmax(f64(LR_SHAPE(3), (double[]){-INFINITY, 0, 0}), 0, &y), LR_OK);
  expect_vals(y, (double[]){0, 0.5, 0.5}, 3, TOL64);
  /* a 0-dim tensor: softmax 1, log_softmax 0 */
  lr_tensor *s;
  lr_scalar(LR_DTYPE_F64, 4.0, &s);
  cr_assert_eq(lr_softmax(s, 0, &y), LR_OK);
  cr_expect_eq(lr_tensor_get(y, 0), 1.0);
}

Test(functional, softmax_backward_values) {
  /* L = sum(w * softmax(x)) with w = onehot(2): dx = y (w - y_2) */
  lr_tensor *x = f64(LR_SHAPE(3), (double[]){1, 2, 3}), *y, *w = f64(LR_SHAPE(3), (double[]){0, 0, 1});
  lr_requires_grad_(x, true);
  cr_assert_eq(lr_softmax(x, 0, &y), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  double p2 = SM123[2];
  expect_vals(x->grad, (double[]){-SM123[0] * p2, -SM123[1] * p2, p2 * (1 - p2)}, 3, TOL64);
  /* log_softmax: dx = w - softmax * sum(w) */
  lr_tensor *x2 = f64(LR_SHAPE(3), (double[]){1, 2, 3});
  lr_requires_grad_(x2, true);
  cr_assert_eq(lr_log_softmax(x2, 0, &y), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  expect_vals(x2->grad, (double[]){-SM123[0], -SM123[1], 1 - SM123[2]}, 3, TOL64);
}

/* Rows of 1024 across 64 rows (above the OpenMP threshold), F32 and F64, both dims. */
Test(functional, softmax_parallel_rows_f32_vs_f64) {
  lr_tensor *x64, *x32, *y64, *y32;
  lr_empty(LR_DTYPE_F64, LR_SHAPE(64, 1024), &x64);
  lr_empty(LR_DTYPE_F32, LR_SHAPE(64, 1024), &x32);
  lr_rng r;
  lr_rng_init(&r, 1);
  lr_rand_normal_(x64, 0, 3, &r);
  for (int64_t i = 0; i < 64 * 1024; i++) ((float *)x32->data)[i] = (float)((double *)x64->data)[i];
  for (int dim = 0; dim < 2; dim++) {
    cr_assert_eq(lr_softmax(x64, dim, &y64), LR_OK);
    cr_assert_eq(lr_softmax(x32, dim, &y32), LR_OK);
    double worst = 0, sum0 = 0;
    for (int64_t i = 0; i < 64 * 1024; i++) {
      worst = fmax(worst, fabs(((float *)y32->data)[i] - ((double *)y64->data)[i]));
      if (dim == 1 ? i < 1024 : i % 1024 == 0) sum0 += ((double *)y64->data)[i];
    }
    cr_expect(worst < TOL32, "dim %d: f32 vs f64 %g", dim, worst);
    cr_expect(fabs(sum0 - 1) < 1e-12, "dim %d: row sums to %.17g", dim, sum0);
  }
}

Test(functional, cross_entropy_values) {
  lr_tensor *y;
  lr_tensor *x = f64(LR_SHAPE(2, 3), (double[]){1, 2, 3, 1, 1, 1});
  /* row 0: -logp_2; row 1 ignored */
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){2, -100}), -100, 0.0, &y), LR_OK);
  cr_assert_eq(y->ndim, 0);
  expect_vals(y, (double[]){-LSM123[2]}, 1, TOL64);
  /* smoothing 0.2: 0.8 * 0.40760596 + 0.2 * mean(2.40760596, 1.40760596, 0.40760596) */
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){2, -100}), -100, 0.2, &y), LR_OK);
  expect_vals(y, (double[]){0.6076059644443806}, 1, TOL64);
  /* both rows: mean of 0.40760596 and log 3, smoothing does not change a uniform row */
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){2, 0}), -100, 0.2, &y), LR_OK);
  expect_vals(y, (double[]){(0.6076059644443806 + log(3.0)) / 2}, 1, TOL64);
  /* (N, C, d) = (1, 3, 2): positions are columns; ignore_index inside [0, C) */
  lr_tensor *x3 = f64(LR_SHAPE(1, 3, 2), (double[]){1, 0, 2, 0, 3, 0});
  cr_assert_eq(lr_cross_entropy(x3, i64(LR_SHAPE(1, 2), (int64_t[]){0, 1}), 1, 0.0, &y), LR_OK);
  expect_vals(y, (double[]){-LSM123[0]}, 1, TOL64);
  /* all ignored: NaN, as PyTorch */
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){-100, -100}), -100, 0.1, &y), LR_OK);
  cr_expect(isnan(lr_tensor_get(y, 0)));
}

Test(functional, cross_entropy_backward_values) {
  lr_tensor *x = f64(LR_SHAPE(2, 3), (double[]){1, 2, 3, 1, 1, 1}), *y;
  lr_requires_grad_(x, true);
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){2, -100}), -100, 0.0, &y), LR_OK);
  cr_assert_eq(lr_backward(y, NULL), LR_OK);
  expect_vals(x->grad, (double[]){SM123[0], SM123[1], SM123[2] - 1, 0, 0, 0}, 6, TOL64);
  /* smoothing 0.3, both rows kept: (softmax - 0.7 onehot - 0.1) / 2 */
  lr_zero_grad(x);
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){2, 0}), -100, 0.3, &y), LR_OK);
  cr_assert_eq(lr_backward(y, NULL), LR_OK);
  double t = 1.0 / 3;
  expect_vals(x->grad,
              (double[]){(SM123[0] - 0.1) / 2, (SM123[1] - 0.1) / 2, (SM123[2] - 0.8) / 2, (t - 0.8) / 2, (t - 0.1) / 2,
                         (t - 0.1) / 2},
              6, TOL64);
  /* all ignored: the gradient is 0 (not NaN) */
  lr_zero_grad(x);
  cr_assert_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){-100, -100}), -100, 0.0, &y), LR_OK);
  cr_assert_eq(lr_backward(y, NULL), LR_OK);
  expect_vals(x->grad, (double[]){0, 0, 0, 0, 0, 0}, 6, 0);
}

/* F32 against F64 on 4096 rows of 50 classes (the parallel path), with smoothing and ignores;
 * the F32 loss and gradient agree with the F64 ones to float precision. */
Test(functional, cross_entropy_f32_vs_f64) {
  int64_t N = 4096, C = 50;
  lr_tensor *x64, *x32, *t, *y64, *y32;
  lr_empty(LR_DTYPE_F64, 2, (int64_t[]){N, C}, &x64);
  lr_empty(LR_DTYPE_F32, 2, (int64_t[]){N, C}, &x32);
  lr_empty(LR_DTYPE_I64, 1, &N, &t);
  lr_rng r;
  lr_rng_init(&r, 2);
  lr_rand_normal_(x64, 0, 2, &r);
  lr_rand_int_(t, 0, C, &r);
  for (int64_t i = 0; i < N * C; i++) { /* both precisions see the same (float) numbers */
    float v = (float)((double *)x64->data)[i];
    ((float *)x32->data)[i] = v;
    ((double *)x64->data)[i] = v;
  }
  for (int64_t i = 0; i < N; i += 7) ((int64_t *)t->data)[i] = -1;
  lr_requires_grad_(x64, true);
  lr_requires_grad_(x32, true);
  cr_assert_eq(lr_cross_entropy(x64, t, -1, 0.1, &y64), LR_OK);
  cr_assert_eq(lr_cross_entropy(x32, t, -1, 0.1, &y32), LR_OK);
  cr_expect(fabs(lr_tensor_get(y64, 0) - lr_tensor_get(y32, 0)) < TOL32 * fabs(lr_tensor_get(y64, 0)));
  cr_assert_eq(lr_backward(y64, NULL), LR_OK);
  cr_assert_eq(lr_backward(y32, NULL), LR_OK);
  double worst = 0;
  for (int64_t i = 0; i < N * C; i++)
    worst = fmax(worst, fabs(((float *)x32->grad->data)[i] - ((double *)x64->grad->data)[i]));
  cr_expect(worst < TOL32 / N, "gradient f32 vs f64 %g", worst);
}

Test(functional, cross_entropy_errors) {
  lr_tensor *x = f64(LR_SHAPE(2, 3), (double[]){1, 2, 3, 1, 1, 1}), *y = NULL;
  cr_expect_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){3, 0}), -100, 0, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(),
                   "lr_cross_entropy: target 3 at position 0 is out of range for C = 3 classes (ignore_index -100)");
  cr_expect_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){0, -1}), -100, 0, &y), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "target -1 at position 1"), "%s", lr_last_error());
  cr_expect_eq(lr_cross_entropy(x, i64(LR_SHAPE(3), (int64_t[]){0, 0, 0}), -100, 0, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_cross_entropy: logits are (2, 3), targets are (3,), expected targets (N, d1, "
                                    "...) = logits without C");
  cr_expect_eq(lr_cross_entropy(f64(LR_SHAPE(3), (double[]){1, 2, 3}), i64(LR_SHAPE(1), (int64_t[]){0}), -100, 0, &y),
               LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "logits are (3,)"), "%s", lr_last_error());
  lr_tensor *ti32;
  lr_from_host(LR_DTYPE_I32, LR_SHAPE(2), (int32_t[]){0, 1}, &ti32);
  cr_expect_eq(lr_cross_entropy(x, ti32, -100, 0, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_cross_entropy: targets is i32, expected i64");
  cr_expect_eq(lr_cross_entropy(x, i64(LR_SHAPE(2), (int64_t[]){0, 1}), -100, 1.5, &y), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "label_smoothing = 1.5"), "%s", lr_last_error());
  cr_expect_eq(lr_cross_entropy(x, NULL, -100, 0, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_cross_entropy: argument 'targets' is NULL");
  cr_expect_eq(lr_cross_entropy(i64(LR_SHAPE(2, 2), (int64_t[]){0, 0, 0, 0}), i64(LR_SHAPE(2), (int64_t[]){0, 1}), -100,
                                0, &y),
               LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_cross_entropy: logits is i64, expected f32 or f64");
  cr_expect_null(y);
}

Test(functional, mse_values_and_errors) {
  lr_tensor *x = f64(LR_SHAPE(3), (double[]){1, 2, 3}), *t = f64(LR_SHAPE(3), (double[]){1, 0, 5}), *y = NULL;
  cr_assert_eq(lr_mse_loss(x, t, LR_REDUCE_SUM, &y), LR_OK);
  expect_vals(y, (double[]){8}, 1, 0);
  cr_assert_eq(lr_mse_loss(x, t, LR_REDUCE_MEAN, &y), LR_OK);
  expect_vals(y, (double[]){8.0 / 3}, 1, TOL64);
  cr_assert_eq(lr_mse_loss(x, t, LR_REDUCE_NONE, &y), LR_OK);
  expect_vals(y, (double[]){0, 4, 4}, 3, 0);
  /* gradients of the mean: dx = 2 (x - t) / 3, dt = -dx */
  lr_requires_grad_(x, true);
  lr_requires_grad_(t, true);
  cr_assert_eq(lr_mse_loss(x, t, LR_REDUCE_MEAN, &y), LR_OK);
  cr_assert_eq(lr_backward(y, NULL), LR_OK);
  expect_vals(x->grad, (double[]){0, 4.0 / 3, -4.0 / 3}, 3, TOL64);
  expect_vals(t->grad, (double[]){0, -4.0 / 3, 4.0 / 3}, 3, TOL64);
  y = NULL;
  cr_expect_eq(lr_mse_loss(x, f64(LR_SHAPE(1, 3), (double[]){1, 2, 3}), LR_REDUCE_MEAN, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_mse_loss: x is (3,), target is (1, 3): shapes must match (no broadcasting)");
  lr_tensor *t32;
  lr_from_host(LR_DTYPE_F32, LR_SHAPE(3), (float[]){1, 2, 3}, &t32);
  cr_expect_eq(lr_mse_loss(x, t32, LR_REDUCE_MEAN, &y), LR_ERR_DTYPE);
  cr_expect(strstr(lr_last_error(), "lr_mse_loss") && strstr(lr_last_error(), "f32"), "%s", lr_last_error());
  cr_expect_eq(lr_mse_loss(x, t, (lr_reduction)7, &y), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "reduction 7"), "%s", lr_last_error());
  cr_expect_eq(lr_mse_loss(x, NULL, LR_REDUCE_MEAN, &y), LR_ERR_ARG);
  cr_expect_null(y);
}

/* layer_norm([1, 2, 3, 4]): mean 2.5, var 1.25, xh = [-1.5, -0.5, 0.5, 1.5] / sqrt(1.25). */
Test(functional, layer_norm_values) {
  const double k = 1.0 / sqrt(1.25);
  lr_tensor *x = f64(LR_SHAPE(2, 4), (double[]){1, 2, 3, 4, 10, 10, 10, 10}), *y;
  cr_assert_eq(lr_layer_norm(x, NULL, NULL, 0.0, &y), LR_OK);
  const double want[4] = {-1.5 * k, -0.5 * k, 0.5 * k, 1.5 * k};
  for (int i = 0; i < 4; i++) cr_expect(fabs(lr_tensor_get(y, i) - want[i]) <= TOL64, "element %d", i);
  for (int i = 4; i < 8; i++) cr_expect(isnan(lr_tensor_get(y, i)), "a constant row with eps 0 is 0/0");
  lr_tensor *w = f64(LR_SHAPE(4), (double[]){1, 2, 1, 2}), *b = f64(LR_SHAPE(4), (double[]){0, 0, 1, 1});
  cr_assert_eq(lr_layer_norm(x, w, b, 1e-5, &y), LR_OK);
  double k5 = 1.0 / sqrt(1.25 + 1e-5);
  expect_vals(y, (double[]){-1.5 * k5, -1.0 * k5, 0.5 * k5 + 1, 3.0 * k5 + 1, 0, 0, 1, 1}, 8, TOL64);
}

/* rms_norm([3, 4]): mean of squares 12.5; with weight [2, 0.5]. */
Test(functional, rms_norm_values) {
  lr_tensor *x = f64(LR_SHAPE(1, 2), (double[]){3, 4}), *y;
  double k = 1.0 / sqrt(12.5);
  cr_assert_eq(lr_rms_norm(x, NULL, 0.0, &y), LR_OK);
  expect_vals(y, (double[]){3 * k, 4 * k}, 2, TOL64);
  cr_assert_eq(lr_rms_norm(x, f64(LR_SHAPE(2), (double[]){2, 0.5}), 0.5, &y), LR_OK);
  double k5 = 1.0 / sqrt(13.0);
  expect_vals(y, (double[]){6 * k5, 2 * k5}, 2, TOL64);
}

/* The F32 norm kernels, forward and backward (dx, dw, db), against F64 on 300 rows of 256. */
Test(functional, norms_f32_vs_f64) {
  int64_t R = 300, H = 256;
  lr_tensor *x64, *w64, *b64, *g64;
  lr_empty(LR_DTYPE_F64, 2, (int64_t[]){R, H}, &x64);
  lr_empty(LR_DTYPE_F64, 1, &H, &w64);
  lr_empty(LR_DTYPE_F64, 1, &H, &b64);
  lr_empty(LR_DTYPE_F64, 2, (int64_t[]){R, H}, &g64);
  lr_rng r;
  lr_rng_init(&r, 3);
  lr_rand_normal_(x64, 1, 2, &r);
  lr_rand_uniform_(w64, 0.5, 1.5, &r);
  lr_rand_uniform_(b64, -1, 1, &r);
  lr_rand_uniform_(g64, -1, 1, &r);
  /* round the inputs to float first so that both precisions see the same numbers */
  lr_tensor *src[4] = {x64, w64, b64, g64}, *f[4];
  for (int k = 0; k < 4; k++) {
    lr_empty(LR_DTYPE_F32, src[k]->ndim, src[k]->shape, &f[k]);
    for (int64_t i = 0; i < lr_numel(src[k]); i++) {
      float v = (float)((double *)src[k]->data)[i];
      ((float *)f[k]->data)[i] = v;
      ((double *)src[k]->data)[i] = v;
    }
  }
  for (int rms = 0; rms < 2; rms++) {
    lr_tensor *in64[3] = {x64, w64, b64}, *in32[3] = {f[0], f[1], f[2]};
    for (int k = 0; k < 3; k++) {
      in64[k]->grad = NULL;
      in32[k]->grad = NULL;
      lr_requires_grad_(in64[k], true);
      lr_requires_grad_(in32[k], true);
    }
    lr_tensor *y64, *y32;
    if (rms) {
      cr_assert_eq(lr_rms_norm(x64, w64, 1e-6, &y64), LR_OK);
      cr_assert_eq(lr_rms_norm(f[0], f[1], 1e-6, &y32), LR_OK);
    } else {
      cr_assert_eq(lr_layer_norm(x64, w64, b64, 1e-6, &y64), LR_OK);
      cr_assert_eq(lr_layer_norm(f[0], f[1], f[2], 1e-6, &y32), LR_OK);
    }
    double worst = 0;
    for (int64_t i = 0; i < R * H; i++) worst = fmax(worst, fabs(lr_tensor_get(y32, i) - lr_tensor_get(y64, i)));
    cr_expect(worst < 1e-5, "%s forward f32 vs f64 %g", rms ? "rms" : "ln", worst);
    cr_assert_eq(lr_backward(y64, g64), LR_OK);
    cr_assert_eq(lr_backward(y32, f[3]), LR_OK);
    for (int k = 0; k < (rms ? 2 : 3); k++) {
      double wk = 0, scale = 0;
      for (int64_t i = 0; i < lr_numel(in64[k]); i++) {
        wk = fmax(wk, fabs(lr_tensor_get(in32[k]->grad, i) - lr_tensor_get(in64[k]->grad, i)));
        scale = fmax(scale, fabs(lr_tensor_get(in64[k]->grad, i)));
      }
      /* dw, db sum 300 rows: relative to the largest entry */
      cr_expect(wk < 1e-5 * fmax(scale, 1), "%s grad of input %d: f32 vs f64 %g (scale %g)", rms ? "rms" : "ln", k, wk,
                scale);
    }
  }
}

Test(functional, norm_errors) {
  lr_tensor *x = f64(LR_SHAPE(2, 4), (double[]){1, 2, 3, 4, 5, 6, 7, 8}), *y = NULL, *s;
  cr_expect_eq(lr_layer_norm(x, f64(LR_SHAPE(3), (double[]){1, 1, 1}), NULL, 1e-5, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_layer_norm: x is (2, 4), weight is (3,), expected (4,)");
  cr_expect_eq(lr_layer_norm(x, NULL, f64(LR_SHAPE(1, 4), (double[]){1, 1, 1, 1}), 1e-5, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "bias is (1, 4)"), "%s", lr_last_error());
  cr_expect_eq(lr_layer_norm(x, NULL, NULL, -1, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_layer_norm: eps = -1 is not finite and >= 0");
  lr_scalar(LR_DTYPE_F64, 1, &s);
  cr_expect_eq(lr_rms_norm(s, NULL, 1e-5, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_rms_norm: x is a scalar, expected at least 1 dim");
  lr_tensor *w32;
  lr_from_host(LR_DTYPE_F32, LR_SHAPE(4), (float[]){1, 1, 1, 1}, &w32);
  cr_expect_eq(lr_rms_norm(x, w32, 1e-5, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_rms_norm: x is f64, weight is f32");
  cr_expect_eq(lr_rms_norm(NULL, NULL, 1e-5, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_rms_norm: argument 'x' is NULL");
  cr_expect_null(y);
}

Test(functional, dropout_identity_and_extremes) {
  lr_tensor *x = f64(LR_SHAPE(5), (double[]){1, 2, 3, 4, 5}), *y;
  lr_rng r;
  lr_rng_init(&r, 9);
  cr_assert_eq(lr_dropout(x, 0.5, false, &r, &y), LR_OK);
  cr_expect_eq(y, x, "eval mode returns x itself");
  cr_assert_eq(lr_dropout(x, 0.0, true, NULL, &y), LR_OK);
  cr_expect_eq(y, x, "p = 0 returns x itself");
  cr_expect_eq(r.offset, 0u, "no draws");
  lr_requires_grad_(x, true);
  cr_assert_eq(lr_dropout(x, 1.0, true, &r, &y), LR_OK);
  expect_vals(y, (double[]){0, 0, 0, 0, 0}, 5, 0);
  cr_expect_eq(r.offset, 0u, "p = 1 draws nothing");
  cr_assert_eq(lr_backward(y, f64(LR_SHAPE(5), (double[]){1, 1, 1, 1, 1})), LR_OK);
  expect_vals(x->grad, (double[]){0, 0, 0, 0, 0}, 5, 0);
}

/* The mask is lr_rand_bernoulli_(1 - p) of the same stream; kept values are scaled by 1/(1-p);
 * the backward multiplies by the same mask. The kept fraction of 4000 at p = 0.25 is within 5 se
 * (se = sqrt(0.1875 / 4000) = 0.0068). */
Test(functional, dropout_mask_matches_rng) {
  int64_t n = 4000;
  lr_tensor *x, *y, *keep, *ones;
  lr_empty(LR_DTYPE_F32, LR_SHAPE(40, 100), &x);
  lr_rng r;
  lr_rng_init(&r, 4);
  lr_rand_uniform_(x, 1, 2, &r);
  lr_requires_grad_(x, true);
  lr_rng d, q;
  lr_rng_init(&d, 77);
  lr_rng_init(&q, 77);
  cr_assert_eq(lr_dropout(x, 0.25, true, &d, &y), LR_OK);
  cr_expect_eq(d.offset, (uint64_t)n);
  lr_empty(LR_DTYPE_BOOL, LR_SHAPE(40, 100), &keep);
  lr_rand_bernoulli_(keep, 0.75, &q);
  int kept = 0;
  for (int64_t i = 0; i < n; i++) {
    int k = ((uint8_t *)keep->data)[i];
    kept += k;
    float want = k ? ((float *)x->data)[i] * (float)(1 / 0.75) : 0.0f;
    cr_assert_eq(((float *)y->data)[i], want, "element %lld", (long long)i);
  }
  cr_expect(fabs(kept / (double)n - 0.75) < 5 * 0.0068, "kept %d", kept);
  lr_ones(LR_DTYPE_F32, LR_SHAPE(40, 100), &ones);
  cr_assert_eq(lr_backward(y, ones), LR_OK);
  for (int64_t i = 0; i < n; i++)
    cr_assert_eq(((float *)x->grad->data)[i], ((uint8_t *)keep->data)[i] ? (float)(1 / 0.75) : 0.0f);
}

Test(functional, dropout_and_softmax_errors) {
  lr_tensor *x = f64(LR_SHAPE(2, 2), (double[]){1, 2, 3, 4}), *y = NULL;
  lr_rng r;
  lr_rng_init(&r, 0);
  cr_expect_eq(lr_dropout(x, 1.5, true, &r, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_dropout: p = 1.5 is not in [0, 1]");
  cr_expect_eq(lr_dropout(x, 0.5, true, NULL, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_dropout: argument 'rng' is NULL");
  cr_expect_eq(lr_dropout(i64(LR_SHAPE(2), (int64_t[]){1, 2}), 0.5, true, &r, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_dropout: x is i64, expected f32 or f64");
  cr_expect_eq(lr_softmax(x, 2, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_softmax: dim 2 out of range for a tensor with 2 dims");
  cr_expect_eq(lr_log_softmax(x, -3, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_log_softmax: dim -3 out of range for a tensor with 2 dims");
  cr_expect_eq(lr_softmax(NULL, 0, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_softmax: argument 'x' is NULL");
  cr_expect_eq(lr_softmax(x, 0, NULL), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_softmax: argument 'out' is NULL");
  lr_tensor *c;
  lr_zeros(LR_DTYPE_C128, LR_SHAPE(2), &c);
  cr_expect_eq(lr_log_softmax(c, 0, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_log_softmax: x is c128, expected f32 or f64");
  cr_expect_null(y);
}
