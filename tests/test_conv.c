/* causal_conv1d: gradchecks (cases_conv.c), values against F.conv1d-style naive sums, chunked
 * processing with the carried state equal to one full pass, the step equal to the full conv
 * position by position (f32 and f64), and the error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

Test(conv, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_conv, "conv"), 0); }

static lr_tensor *rnd(lr_dtype dt, int ndim, const int64_t *shape, uint64_t seed) {
  lr_tensor *t = gc_leaf(dt, ndim, shape, -1, 1, seed);
  t->requires_grad = false;
  return t;
}

static double silu(double z) { return z / (1 + exp(-z)); }

Test(conv, values_match_naive) {
  int64_t B = 2, D = 3, L = 11, K = 4;
  for (int dti = 0; dti < 2; dti++) {
    lr_dtype dt = dti ? LR_DTYPE_F64 : LR_DTYPE_F32;
    double tol = dti ? 1e-13 : 1e-5; /* f32: inputs rounded to f32, sum in double, one rounding */
    lr_tensor *x = rnd(dt, LR_SHAPE(B, D, L), 1), *w = rnd(dt, LR_SHAPE(D, K), 2), *b = rnd(dt, LR_SHAPE(D), 3);
    lr_tensor *s0 = rnd(dt, LR_SHAPE(B, D, K - 1), 4), *y, *st;
    cr_assert_eq(lr_causal_conv1d(x, w, b, s0, true, &y, &st), LR_OK, "%s", lr_last_error());
    for (int64_t bb = 0; bb < B; bb++)
      for (int64_t d = 0; d < D; d++) {
        double xp[64];
        for (int64_t p = 0; p < K - 1; p++) xp[p] = lr_tensor_get(s0, (bb * D + d) * (K - 1) + p);
        for (int64_t t = 0; t < L; t++) xp[K - 1 + t] = lr_tensor_get(x, (bb * D + d) * L + t);
        for (int64_t t = 0; t < L; t++) {
          double s = lr_tensor_get(b, d);
          for (int64_t j = 0; j < K; j++) s += lr_tensor_get(w, d * K + j) * xp[t + j];
          cr_assert(fabs(lr_tensor_get(y, (bb * D + d) * L + t) - silu(s)) < tol);
        }
        for (int64_t i = 0; i < K - 1; i++)
          cr_assert_eq(lr_tensor_get(st, (bb * D + d) * (K - 1) + i), xp[L + i]);
      }
  }
}

Test(conv, exact_small) {
  /* x = 1, 2, 3; w = [1, 10] (w[K-1] multiplies the current input): y = 10, 21, 32 (+ bias 1) */
  lr_tensor *x, *w, *b, *y;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1, 1, 3), (double[]){1, 2, 3}, &x), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1, 2), (double[]){1, 10}, &w), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), (double[]){1}, &b), LR_OK);
  cr_assert_eq(lr_causal_conv1d(x, w, b, NULL, false, &y, NULL), LR_OK);
  cr_expect_eq(lr_tensor_get(y, 0), 11);
  cr_expect_eq(lr_tensor_get(y, 1), 22);
  cr_expect_eq(lr_tensor_get(y, 2), 33);
}

/* Two chunks with the carried state == one pass (bitwise: the same sums in the same order). */
Test(conv, chunks_equal_full) {
  int64_t B = 2, D = 3, L = 10, K = 4, L1 = 3;
  lr_tensor *x = rnd(LR_DTYPE_F64, LR_SHAPE(B, D, L), 5), *w = rnd(LR_DTYPE_F64, LR_SHAPE(D, K), 6);
  lr_tensor *b = rnd(LR_DTYPE_F64, LR_SHAPE(D), 7), *y, *x1, *x2, *y1, *y2, *s1, *s2, *sfull;
  cr_assert_eq(lr_causal_conv1d(x, w, b, NULL, true, &y, &sfull), LR_OK);
  cr_assert_eq(lr_tensor_narrow(x, 2, 0, L1, &x1), LR_OK);
  cr_assert_eq(lr_tensor_narrow(x, 2, L1, L - L1, &x2), LR_OK);
  cr_assert_eq(lr_causal_conv1d(x1, w, b, NULL, true, &y1, &s1), LR_OK);
  cr_assert_eq(lr_causal_conv1d(x2, w, b, s1, true, &y2, &s2), LR_OK);
  for (int64_t i = 0; i < B * D; i++) {
    for (int64_t t = 0; t < L; t++) {
      double want = lr_tensor_get(y, i * L + t);
      double got = t < L1 ? lr_tensor_get(y1, i * L1 + t) : lr_tensor_get(y2, i * (L - L1) + t - L1);
      cr_assert_eq(got, want, "line %lld t %lld", (long long)i, (long long)t);
    }
    for (int64_t j = 0; j < K - 1; j++) cr_assert_eq(lr_tensor_get(s2, i * (K - 1) + j), lr_tensor_get(sfull, i * (K - 1) + j));
  }
}

static void step_vs_full(lr_dtype dt, int64_t K, bool bias, bool silu_on) {
  int64_t B = 2, D = 3, L = 9;
  lr_tensor *x = rnd(dt, LR_SHAPE(B, D, L), 8), *w = rnd(dt, LR_SHAPE(D, K), 9);
  lr_tensor *b = bias ? rnd(dt, LR_SHAPE(D), 10) : NULL, *s0 = rnd(dt, LR_SHAPE(B, D, K - 1), 11), *y, *st, *state;
  cr_assert_eq(lr_causal_conv1d(x, w, b, s0, silu_on, &y, &st), LR_OK);
  cr_assert_eq(lr_zeros(dt, LR_SHAPE(B, D, K - 1), &state), LR_OK);
  cr_assert_eq(lr_tensor_copy_(state, s0), LR_OK);
  for (int64_t t = 0; t < L; t++) {
    lr_tensor *xt, *xtc, *yt;
    cr_assert_eq(lr_tensor_narrow(x, 2, t, 1, &xt), LR_OK);
    cr_assert_eq(lr_tensor_squeeze(xt, 2, &xtc), LR_OK);
    cr_assert_eq(lr_causal_conv1d_step(xtc, K > 1 ? state : NULL, w, b, silu_on, &yt), LR_OK, "%s", lr_last_error());
    /* the step sums the window in the same order as the full conv, in double: bitwise equal */
    for (int64_t i = 0; i < B * D; i++)
      cr_assert_eq(lr_tensor_get(yt, i), lr_tensor_get(y, i * L + t), "%s K=%lld t=%lld i=%lld", lr_dtype_name(dt),
                   (long long)K, (long long)t, (long long)i);
  }
  for (int64_t i = 0; i < lr_numel(st); i++) cr_assert_eq(lr_tensor_get(state, i), lr_tensor_get(st, i));
}

Test(conv, step_equals_full) {
  step_vs_full(LR_DTYPE_F64, 4, true, true);
  step_vs_full(LR_DTYPE_F32, 4, true, true);
  step_vs_full(LR_DTYPE_F64, 1, false, false);
  step_vs_full(LR_DTYPE_F32, 2, false, true);
  step_vs_full(LR_DTYPE_F64, 7, true, false);
}

static void expect_err(lr_status s, lr_status want, const char *n1, const char *n2) {
  cr_expect_eq(s, want, "status %s, expected %s (%s)", lr_status_name(s), lr_status_name(want), lr_last_error());
  cr_expect(strstr(lr_last_error(), n1) != NULL, "'%s' lacks '%s'", lr_last_error(), n1);
  if (n2) cr_expect(strstr(lr_last_error(), n2) != NULL, "'%s' lacks '%s'", lr_last_error(), n2);
}

Test(conv, errors) {
  lr_dtype F = LR_DTYPE_F64;
  lr_tensor *x = rnd(F, LR_SHAPE(2, 3, 5), 1), *w = rnd(F, LR_SHAPE(3, 4), 2), *b = rnd(F, LR_SHAPE(3), 3), *y = NULL, *st;
  expect_err(lr_causal_conv1d(x, rnd(F, LR_SHAPE(2, 4), 4), b, NULL, true, &y, NULL), LR_ERR_SHAPE, "lr_causal_conv1d",
             "w is (2, 4), expected w (3, K)");
  expect_err(lr_causal_conv1d(x, w, rnd(F, LR_SHAPE(4), 5), NULL, true, &y, NULL), LR_ERR_SHAPE, "lr_causal_conv1d",
             "bias is (4,), expected (3)");
  expect_err(lr_causal_conv1d(x, w, b, rnd(F, LR_SHAPE(2, 3, 2), 6), true, &y, NULL), LR_ERR_SHAPE, "lr_causal_conv1d",
             "state is (2, 3, 2), expected (2, 3, 3)");
  expect_err(lr_causal_conv1d(rnd(F, LR_SHAPE(3, 5), 7), w, b, NULL, true, &y, NULL), LR_ERR_SHAPE,
             "lr_causal_conv1d: x is (3, 5)", NULL);
  expect_err(lr_causal_conv1d(x, rnd(LR_DTYPE_F32, LR_SHAPE(3, 4), 8), b, NULL, true, &y, NULL), LR_ERR_DTYPE,
             "lr_causal_conv1d", "f32");
  expect_err(lr_causal_conv1d(rnd(LR_DTYPE_C128, LR_SHAPE(2, 3, 5), 9), w, b, NULL, true, &y, NULL), LR_ERR_DTYPE,
             "lr_causal_conv1d", "c128");
  expect_err(lr_causal_conv1d(x, NULL, b, NULL, true, &y, NULL), LR_ERR_ARG, "lr_causal_conv1d", "'w'");
  cr_expect_null(y);
  lr_tensor *xt = rnd(F, LR_SHAPE(2, 3), 10), *s = rnd(F, LR_SHAPE(2, 3, 3), 11), *sT, *sTv;
  expect_err(lr_causal_conv1d_step(xt, NULL, w, b, true, &y), LR_ERR_ARG, "lr_causal_conv1d_step", "K = 4");
  expect_err(lr_causal_conv1d_step(xt, rnd(F, LR_SHAPE(2, 3, 4), 12), w, b, true, &y), LR_ERR_SHAPE,
             "lr_causal_conv1d_step", "state is (2, 3, 4)");
  expect_err(lr_causal_conv1d_step(x, s, w, b, true, &y), LR_ERR_SHAPE, "lr_causal_conv1d_step: x_t is (2, 3, 5)", NULL);
  sT = rnd(F, LR_SHAPE(2, 3, 3), 13);
  cr_assert_eq(lr_tensor_transpose(sT, 1, 2, &sTv), LR_OK);
  expect_err(lr_causal_conv1d_step(xt, sTv, w, b, true, &y), LR_ERR_ARG, "lr_causal_conv1d_step", "not contiguous");
  cr_expect_null(y);
  (void)st;
}
