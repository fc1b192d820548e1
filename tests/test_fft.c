/* FFT and LTI ops: gradchecks (cases_fft.c), fft_conv against a naive O(L^2) sum at larger and
 * non-power-of-two L (f32 and f64), the DFT against its definition, the FFT path of an LTI system
 * (each contraction order) against its recurrence, values and gradients, the stability of the
 * powers, the plan cache under concurrent use, and the error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/fft.h"
#include "tests/cases.h"

Test(fft, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_fft, "fft"), 0); }

static lr_tensor *rnd(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
  lr_tensor *t = gc_leaf(dt, ndim, shape, lo, hi, seed);
  t->requires_grad = false;
  return t;
}

static double naive_conv(const lr_tensor *x, const lr_tensor *k, int64_t b, int64_t t, int64_t h) {
  int64_t L = x->shape[1], H = x->shape[2], Lk = k->shape[1];
  double s = 0;
  for (int64_t j = 0; j <= t && j < Lk; j++) s += lr_tensor_get(k, h * Lk + j) * lr_tensor_get(x, (b * L + t - j) * H + h);
  return s;
}

/* Error bound: FFT round-off is about eps * log2(n) * sum|terms|; with values in [-1, 1] and
 * L = 1000 terms, 1e-10 (f64) and 2e-3 absolute (f32, eps 6e-8 * ~1e3 * log n) are loose but
 * still far below any indexing or padding error, which is O(1). */
static void conv_vs_naive(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, double tol) {
  lr_tensor *x = rnd(dt, LR_SHAPE(B, L, H), -1, 1, 100 + L), *k = rnd(dt, LR_SHAPE(H, Lk), -1, 1, 200 + Lk), *y;
  cr_assert_eq(lr_fft_conv(x, k, &y), LR_OK, "%s", lr_last_error());
  double worst = 0;
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < L; t++)
      for (int64_t h = 0; h < H; h++) {
        double d = fabs(lr_tensor_get(y, (b * L + t) * H + h) - naive_conv(x, k, b, t, h));
        if (d > worst) worst = d;
      }
  cr_assert_lt(worst, tol, "%s B=%lld L=%lld H=%lld Lk=%lld: max error %g", lr_dtype_name(dt), (long long)B,
               (long long)L, (long long)H, (long long)Lk, worst);
}

Test(fft, conv_matches_naive_large_L) {
  conv_vs_naive(LR_DTYPE_F64, 2, 1000, 3, 1000, 1e-10); /* n = 2000 = 2^4 5^3 */
  conv_vs_naive(LR_DTYPE_F64, 1, 997, 2, 311, 1e-10);   /* prime L, n = 1323 = 3^3 7^2 */
  conv_vs_naive(LR_DTYPE_F64, 3, 64, 5, 64, 1e-11);     /* powers of two */
  conv_vs_naive(LR_DTYPE_F32, 2, 1000, 3, 1000, 2e-3);
  conv_vs_naive(LR_DTYPE_F32, 1, 333, 4, 17, 1e-4);
}

Test(fft, conv_exact_small) {
  /* x = [1, 2, 3], k = [1, 10]: y = [1, 12, 23] */
  lr_tensor *x, *k, *y;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1, 3, 1), (double[]){1, 2, 3}, &x), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1, 2), (double[]){1, 10}, &k), LR_OK);
  cr_assert_eq(lr_fft_conv(x, k, &y), LR_OK);
  double want[3] = {1, 12, 23};
  for (int i = 0; i < 3; i++) cr_expect(fabs(lr_tensor_get(y, i) - want[i]) < 1e-12, "y[%d] = %g", i, lr_tensor_get(y, i));
}

Test(fft, backward_matches_naive_correlations) {
  int64_t B = 2, L = 50, H = 2, Lk = 20;
  lr_tensor *x = gc_leaf(LR_DTYPE_F64, LR_SHAPE(B, L, H), -1, 1, 1), *k = gc_leaf(LR_DTYPE_F64, LR_SHAPE(H, Lk), -1, 1, 2);
  lr_tensor *g = rnd(LR_DTYPE_F64, LR_SHAPE(B, L, H), -1, 1, 3), *y;
  cr_assert_eq(lr_fft_conv(x, k, &y), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK, "%s", lr_last_error());
  for (int64_t b = 0; b < B; b++)
    for (int64_t s = 0; s < L; s++)
      for (int64_t h = 0; h < H; h++) {
        double want = 0;
        for (int64_t t = s; t < L && t - s < Lk; t++) want += lr_tensor_get(g, (b * L + t) * H + h) * lr_tensor_get(k, h * Lk + t - s);
        cr_assert(fabs(lr_tensor_get(x->grad, (b * L + s) * H + h) - want) < 1e-11);
      }
  for (int64_t h = 0; h < H; h++)
    for (int64_t s = 0; s < Lk; s++) {
      double want = 0;
      for (int64_t b = 0; b < B; b++)
        for (int64_t t = s; t < L; t++) want += lr_tensor_get(g, (b * L + t) * H + h) * lr_tensor_get(x, (b * L + t - s) * H + h);
      cr_assert(fabs(lr_tensor_get(k->grad, h * Lk + s) - want) < 1e-11);
    }
}

Test(fft, dft_matches_definition) {
  int64_t m = 5, n = 9;
  lr_tensor *x = rnd(LR_DTYPE_C128, LR_SHAPE(m), -1, 1, 7), *y, *z;
  cr_assert_eq(lr_fft(x, 0, n, false, &y), LR_OK);
  for (int64_t j = 0; j < n; j++) {
    double sr = 0, si = 0;
    for (int64_t t = 0; t < m; t++) {
      double re, im, a = -2 * M_PI * (double)(j * t) / (double)n;
      lr_tensor_get_c(x, t, &re, &im);
      sr += re * cos(a) - im * sin(a);
      si += re * sin(a) + im * cos(a);
    }
    double yr, yi;
    lr_tensor_get_c(y, j, &yr, &yi);
    cr_assert(fabs(yr - sr) < 1e-12 && fabs(yi - si) < 1e-12, "j=%lld", (long long)j);
  }
  /* the inverse undoes it */
  cr_assert_eq(lr_fft(y, 0, n, true, &z), LR_OK);
  for (int64_t t = 0; t < n; t++) {
    double a, b, c = 0, d = 0;
    lr_tensor_get_c(z, t, &a, &b);
    if (t < m) lr_tensor_get_c(x, t, &c, &d);
    cr_assert(fabs(a - c) < 1e-12 && fabs(b - d) < 1e-12);
  }
}

Test(fft, conv_c_matches_naive) {
  int64_t B = 2, L = 33, H = 2, Lk = 10;
  lr_tensor *x = rnd(LR_DTYPE_C128, LR_SHAPE(B, L, H), -1, 1, 8), *k = rnd(LR_DTYPE_C128, LR_SHAPE(H, Lk), -1, 1, 9), *y;
  cr_assert_eq(lr_fft_conv_c(x, k, &y), LR_OK, "%s", lr_last_error());
  cr_assert_eq(y->shape[1], L);
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < L; t++)
      for (int64_t h = 0; h < H; h++) {
        double sr = 0, si = 0;
        for (int64_t s = 0; s <= t && s < Lk; s++) {
          double kr, ki, xr, xi;
          lr_tensor_get_c(k, h * Lk + s, &kr, &ki);
          lr_tensor_get_c(x, (b * L + t - s) * H + h, &xr, &xi);
          sr += kr * xr - ki * xi;
          si += kr * xi + ki * xr;
        }
        double yr, yi;
        lr_tensor_get_c(y, (b * L + t) * H + h, &yr, &yi);
        cr_assert(fabs(yr - sr) < 1e-12 && fabs(yi - si) < 1e-12);
      }
}

/* The LTI system by FFT (each contraction order) equals its recurrence, values and gradients. */
static void fft_vs_recurrent(lr_ssm_path p, int64_t B, int64_t L, int64_t Hin, int64_t N, int64_t Hout) {
  lr_arena_mark m = lr_arena_get_mark(lr_arena_current());
  lr_tensor *x = gc_leaf(LR_DTYPE_F64, LR_SHAPE(B, L, Hin), -1, 1, 61), *A = gc_leaf(LR_DTYPE_C128, LR_SHAPE(N), -0.65, 0.65, 62);
  lr_tensor *Bb = gc_leaf(LR_DTYPE_C128, LR_SHAPE(N, Hin), -1, 1, 63), *C = gc_leaf(LR_DTYPE_C128, LR_SHAPE(Hout, N), -1, 1, 64);
  lr_tensor *g = rnd(LR_DTYPE_F64, LR_SHAPE(B, L, Hout), -1, 1, 65), *K, *y1, *y2;
  cr_assert_eq(lr_lti_kernel(A, L, &K), LR_OK);
  cr_assert_eq(lr_opt_ssm_forward(x, K, Bb, C, p, &y1), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_backward(y1, g), LR_OK, "%s", lr_last_error());
  lr_tensor *t[4] = {x, A, Bb, C}, *g1[4];
  for (int i = 0; i < 4; i++) {
    g1[i] = t[i]->grad;
    t[i]->grad = NULL;
  }
  cr_assert_eq(lr_lti_recurrent(x, A, Bb, C, &y2), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_backward(y2, g), LR_OK, "%s", lr_last_error());
  /* |A| <= 0.92, so the sums are bounded by ~1/(1-0.92) * N * Hin; 1e-10 absolute is rounding */
  for (int64_t i = 0; i < lr_numel(y1); i++)
    cr_assert(fabs(lr_tensor_get(y1, i) - lr_tensor_get(y2, i)) < 1e-10, "path %d L=%lld y[%lld]: %g vs %g", p,
              (long long)L, (long long)i, lr_tensor_get(y1, i), lr_tensor_get(y2, i));
  for (int j = 0; j < 4; j++)
    for (int64_t i = 0; i < lr_numel(g1[j]); i++) {
      double a, b, c, d;
      lr_tensor_get_c(g1[j], i, &a, &b);
      lr_tensor_get_c(t[j]->grad, i, &c, &d);
      cr_assert(fabs(a - c) < 1e-9 && fabs(b - d) < 1e-9, "path %d input %d grad[%lld]: %g%+gi vs %g%+gi", p, j,
                (long long)i, a, b, c, d);
    }
  lr_arena_rewind(lr_arena_current(), m);
}

Test(fft, fft_path_equals_recurrence) {
  for (int p = LR_SSM_FULL_KERNEL; p <= LR_SSM_FREQ; p++) {
    fft_vs_recurrent((lr_ssm_path)p, 2, 64, 3, 4, 2);
    fft_vs_recurrent((lr_ssm_path)p, 1, 37, 2, 5, 3);
    fft_vs_recurrent((lr_ssm_path)p, 3, 1, 1, 1, 1);
  }
  fft_vs_recurrent(LR_SSM_AUTO, 2, 300, 4, 8, 4);
}

Test(fft, path_rule_matches_lrnnx) {
  /* 1/1 + 1/1 > 1/8 + 1/16 and 1 <= 16 */
  cr_expect_eq(lr_opt_ssm_path(8, 16, 1, 1), LR_SSM_FULL_KERNEL);
  /* 1/64 + 1/64 <= 1/2 + 1/16 and 16 <= 64 */
  cr_expect_eq(lr_opt_ssm_path(2, 16, 64, 64), LR_SSM_STATE_CONV);
  /* 1/64 + 1/64 <= ..., but N = 128 > Hin */
  cr_expect_eq(lr_opt_ssm_path(2, 128, 64, 64), LR_SSM_FREQ);
  /* lhs > rhs but Hin * Hout = 16 > N = 8 */
  cr_expect_eq(lr_opt_ssm_path(64, 8, 4, 4), LR_SSM_FREQ);
}

Test(fft, lti_kernel_values_and_stability) {
  /* A = 0: K = 1, 0, 0; A = -0.5 (real, negative: no log needed): (-0.5)^l exactly */
  lr_tensor *A, *K;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2), (double[]){0, -0.5}, &A), LR_OK);
  cr_assert_eq(lr_lti_kernel(A, 6, &K), LR_OK);
  for (int l = 0; l < 6; l++) {
    cr_expect_eq(lr_tensor_get(K, l), l == 0 ? 1.0 : 0.0);
    cr_expect_eq(lr_tensor_get(K, 6 + l), pow(-0.5, l));
  }
  /* |A| = 1 on the unit circle at L = 10^5: |K| stays 1 to ~L * eps (running product error) */
  lr_tensor *U;
  double th = 0.3;
  cr_assert_eq(lr_from_host(LR_DTYPE_C128, LR_SHAPE(1), (double[]){cos(th), sin(th)}, &U), LR_OK);
  int64_t L = 100000;
  cr_assert_eq(lr_lti_kernel(U, L, &K), LR_OK);
  double worst = 0;
  for (int64_t l = 0; l < L; l += 997) {
    double re, im;
    lr_tensor_get_c(K, l, &re, &im);
    worst = fmax(worst, fabs(hypot(re, im) - 1));
    worst = fmax(worst, fabs(re - cos(th * (double)l)) + fabs(im - sin(th * (double)l)));
  }
  cr_assert_lt(worst, 1e-10, "unit-circle powers drift by %g", worst);
  /* f32 is rounded once from double: relative error ~6e-8 even at l = 10^4 */
  lr_tensor *Af;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(1), (float[]){0.9999f}, &Af), LR_OK);
  cr_assert_eq(lr_lti_kernel(Af, 10001, &K), LR_OK);
  double want = pow((double)0.9999f, 10000);
  cr_assert_lt(fabs(lr_tensor_get(K, 10000) - want) / want, 1e-7);
}

/* Concurrent planning and execution from several threads (each its own sizes). */
typedef struct {
  int64_t L;
  double err;
} thr_arg;

static void *thr_run(void *p) {
  thr_arg *a = p;
  int64_t B = 1, H = 2, L = a->L, Lk = L, n = lr_kcpu_fft_good_size(L + Lk - 1);
  double *x = malloc(sizeof(double) * (size_t)(B * L * H)), *k = malloc(sizeof(double) * (size_t)(H * Lk));
  double *y = malloc(sizeof(double) * (size_t)(B * L * H));
  size_t wb = lr_kcpu_fft_conv_work_bytes(LR_DTYPE_F64, n, H, lr_kcpu_fft_threads());
  void *w = aligned_alloc(64, (wb + 63) & ~(size_t)63);
  for (int64_t i = 0; i < B * L * H; i++) x[i] = sin((double)i * 0.37);
  for (int64_t i = 0; i < H * Lk; i++) k[i] = cos((double)i * 0.11);
  a->err = 0;
  for (int rep = 0; rep < 20; rep++) {
    if (lr_kcpu_fft_conv_fwd(LR_DTYPE_F64, B, L, H, Lk, n, x, k, y, w) != LR_OK) a->err = INFINITY;
  }
  for (int64_t t = 0; t < L; t++)
    for (int64_t h = 0; h < H; h++) {
      double s = 0;
      for (int64_t j = 0; j <= t; j++) s += k[h * Lk + j] * x[(t - j) * H + h];
      a->err = fmax(a->err, fabs(s - y[t * H + h]));
    }
  free(x);
  free(k);
  free(y);
  free(w);
  return NULL;
}

Test(fft, plan_cache_is_thread_safe) {
  pthread_t th[6];
  thr_arg args[6];
  for (int i = 0; i < 6; i++) {
    args[i].L = 40 + 13 * i;
    cr_assert_eq(pthread_create(&th[i], NULL, thr_run, &args[i]), 0);
  }
  for (int i = 0; i < 6; i++) {
    pthread_join(th[i], NULL);
    cr_expect_lt(args[i].err, 1e-10, "thread %d (L=%lld): error %g", i, (long long)args[i].L, args[i].err);
  }
}

Test(fft, good_size) {
  cr_expect_eq(lr_kcpu_fft_good_size(13), 14);
  cr_expect_eq(lr_kcpu_fft_good_size(11), 12);
  cr_expect_eq(lr_kcpu_fft_good_size(1), 1);
  cr_expect_eq(lr_kcpu_fft_good_size(1999), 2000);
}

static void expect_err(lr_status s, lr_status want, const char *needle1, const char *needle2) {
  cr_expect_eq(s, want, "status %s, expected %s (%s)", lr_status_name(s), lr_status_name(want), lr_last_error());
  cr_expect(strstr(lr_last_error(), needle1) != NULL, "'%s' lacks '%s'", lr_last_error(), needle1);
  if (needle2) cr_expect(strstr(lr_last_error(), needle2) != NULL, "'%s' lacks '%s'", lr_last_error(), needle2);
}

Test(fft, errors) {
  lr_tensor *x = rnd(LR_DTYPE_F64, LR_SHAPE(2, 5, 3), -1, 1, 1), *k = rnd(LR_DTYPE_F64, LR_SHAPE(4, 5), -1, 1, 2);
  lr_tensor *xc = rnd(LR_DTYPE_C128, LR_SHAPE(2, 5, 3), -1, 1, 3), *x2 = rnd(LR_DTYPE_F64, LR_SHAPE(5, 3), -1, 1, 4);
  lr_tensor *kf = rnd(LR_DTYPE_F32, LR_SHAPE(3, 5), -1, 1, 5), *y = NULL;
  expect_err(lr_fft_conv(x, k, &y), LR_ERR_SHAPE, "lr_fft_conv", "(2, 5, 3)");
  cr_expect_null(y);
  expect_err(lr_fft_conv(x2, k, &y), LR_ERR_SHAPE, "lr_fft_conv: x is (5, 3)", NULL);
  expect_err(lr_fft_conv(x, kf, &y), LR_ERR_DTYPE, "lr_fft_conv", "f32");
  expect_err(lr_fft_conv(xc, rnd(LR_DTYPE_C128, LR_SHAPE(3, 5), -1, 1, 6), &y), LR_ERR_DTYPE, "lr_fft_conv", "c128");
  expect_err(lr_fft_conv(NULL, k, &y), LR_ERR_ARG, "lr_fft_conv", "'x'");
  expect_err(lr_fft(x, 1, 8, false, &y), LR_ERR_DTYPE, "lr_fft", "f64");
  expect_err(lr_fft(xc, 1, 4, false, &y), LR_ERR_ARG, "lr_fft: n is 4", "5");
  expect_err(lr_fft(xc, 3, 8, false, &y), LR_ERR_ARG, "lr_fft", "3");
  expect_err(lr_fft_conv_c(x, k, &y), LR_ERR_DTYPE, "lr_fft_conv_c", "f64");
  lr_tensor *A = rnd(LR_DTYPE_C128, LR_SHAPE(4), -0.5, 0.5, 7);
  expect_err(lr_lti_kernel(A, -1, &y), LR_ERR_ARG, "lr_lti_kernel: L is -1", NULL);
  expect_err(lr_lti_kernel(xc, 3, &y), LR_ERR_SHAPE, "lr_lti_kernel: Abar is (2, 5, 3)", NULL);
  expect_err(lr_lti_kernel(rnd(LR_DTYPE_I64, LR_SHAPE(3), 0, 3, 1), 3, &y), LR_ERR_DTYPE, "lr_lti_kernel", "i64");
  expect_err(lr_lti_scan(xc, A, &y), LR_ERR_SHAPE, "lr_lti_scan", "Abar is (4,), expected Abar (3)");
  lr_tensor *K = rnd(LR_DTYPE_C128, LR_SHAPE(4, 5), -1, 1, 8), *Bb = rnd(LR_DTYPE_C128, LR_SHAPE(4, 3), -1, 1, 9);
  lr_tensor *C = rnd(LR_DTYPE_C128, LR_SHAPE(2, 4), -1, 1, 10);
  expect_err(lr_opt_ssm_forward(xc, K, Bb, C, LR_SSM_AUTO, &y), LR_ERR_DTYPE, "lr_opt_ssm_forward", "c128");
  expect_err(lr_opt_ssm_forward(x, K, rnd(LR_DTYPE_C128, LR_SHAPE(4, 2), -1, 1, 11), C, LR_SSM_AUTO, &y), LR_ERR_SHAPE,
             "lr_opt_ssm_forward", "Bbar is (4, 2)");
  expect_err(lr_opt_ssm_forward(x, K, Bb, rnd(LR_DTYPE_C128, LR_SHAPE(2, 3), -1, 1, 12), LR_SSM_AUTO, &y), LR_ERR_SHAPE,
             "lr_opt_ssm_forward", "C is (2, 3)");
  expect_err(lr_opt_ssm_forward(x, K, Bb, C, (lr_ssm_path)7, &y), LR_ERR_ARG, "lr_opt_ssm_forward: path is 7", NULL);
  expect_err(lr_opt_ssm_forward(rnd(LR_DTYPE_F32, LR_SHAPE(2, 5, 3), -1, 1, 13), K, Bb, C, LR_SSM_AUTO, &y),
             LR_ERR_DTYPE, "lr_opt_ssm_forward", "c64");
  expect_err(lr_lti_recurrent(x, K, Bb, C, &y), LR_ERR_SHAPE, "lr_lti_recurrent: Abar is (4, 5)", NULL);
  cr_expect_null(y);
}
