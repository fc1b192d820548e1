/* S4 kernels: gradchecks (cases_s4.c), Cauchy and log-Vandermonde (and its transpose) against
 * naive sums, c64 against c128, power against repeated multiplication, and the error paths. */
#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

Test(s4, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_s4, "s4"), 0); }

static lr_tensor *rnd(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
  lr_tensor *t = gc_leaf(dt, ndim, shape, lo, hi, seed);
  t->requires_grad = false;
  return t;
}

static double complex cget(const lr_tensor *t, int64_t i) {
  double re, im;
  lr_tensor_get_c(t, i, &re, &im);
  return CMPLX(re, im);
}

Test(s4, cauchy_matches_naive) {
  int64_t B = 3, N = 17, L = 9; /* N not a power of two (lrnnx's CUDA kernel needs one) */
  lr_tensor *v = rnd(LR_DTYPE_C128, LR_SHAPE(B, N), -1, 1, 1), *z = rnd(LR_DTYPE_C128, LR_SHAPE(L), 0.5, 1.5, 2);
  lr_tensor *w = rnd(LR_DTYPE_C128, LR_SHAPE(N), -1.5, -0.5, 3), *y, *y32, *v32, *z32, *w32;
  cr_assert_eq(lr_cauchy(v, z, w, &y), LR_OK, "%s", lr_last_error());
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(y->shape[1], L);
  for (int64_t b = 0; b < B; b++)
    for (int64_t l = 0; l < L; l++) {
      double complex s = 0, zl = cget(z, l);
      for (int64_t n = 0; n < N; n++) {
        double complex vn = cget(v, b * N + n), wn = cget(w, n);
        s += vn / (zl - wn) + conj(vn) / (zl - conj(wn));
      }
      cr_assert(cabs(cget(y, b * L + l) - s) < 1e-12);
    }
  /* c64: inputs rounded to f32 (rel 6e-8), sums in double: within 1e-5 of c128 at |y| ~ 10 */
  cr_assert_eq(lr_empty(LR_DTYPE_C64, 2, v->shape, &v32), LR_OK);
  cr_assert_eq(lr_empty(LR_DTYPE_C64, 1, z->shape, &z32), LR_OK);
  cr_assert_eq(lr_empty(LR_DTYPE_C64, 1, w->shape, &w32), LR_OK);
  for (int64_t i = 0; i < B * N; i++) lr_tensor_set(v32, i, creal(cget(v, i)), cimag(cget(v, i)));
  for (int64_t i = 0; i < L; i++) lr_tensor_set(z32, i, creal(cget(z, i)), cimag(cget(z, i)));
  for (int64_t i = 0; i < N; i++) lr_tensor_set(w32, i, creal(cget(w, i)), cimag(cget(w, i)));
  cr_assert_eq(lr_cauchy(v32, z32, w32, &y32), LR_OK);
  for (int64_t i = 0; i < B * L; i++) cr_assert(cabs(cget(y32, i) - cget(y, i)) < 1e-5);
}

Test(s4, vandermonde_matches_naive) {
  int64_t B = 2, N = 5, L = 300;
  lr_tensor *v = rnd(LR_DTYPE_C128, LR_SHAPE(B, N), -1, 1, 4), *x = rnd(LR_DTYPE_C128, LR_SHAPE(B, N), -0.3, 0.0, 5), *y;
  cr_assert_eq(lr_log_vandermonde(v, x, L, &y), LR_OK, "%s", lr_last_error());
  cr_assert_eq(y->dtype, LR_DTYPE_F64);
  for (int64_t b = 0; b < B; b++)
    for (int64_t l = 0; l < L; l++) {
      double complex s = 0;
      for (int64_t n = 0; n < N; n++) s += cget(v, b * N + n) * cexp(cget(x, b * N + n) * (double)l);
      cr_assert(fabs(lr_tensor_get(y, b * L + l) - 2 * creal(s)) < 1e-12);
    }
  /* transpose: out_n = v_n sum_l u_l e^{x_n l} */
  lr_tensor *u = rnd(LR_DTYPE_C128, LR_SHAPE(B, L), -1, 1, 6), *t;
  cr_assert_eq(lr_log_vandermonde_transpose(u, v, x, &t), LR_OK, "%s", lr_last_error());
  for (int64_t b = 0; b < B; b++)
    for (int64_t n = 0; n < N; n++) {
      double complex s = 0;
      for (int64_t l = 0; l < L; l++) s += cget(u, b * L + l) * cexp(cget(x, b * N + n) * (double)l);
      cr_assert(cabs(cget(t, b * N + n) - cget(v, b * N + n) * s) < 1e-10);
    }
}

/* <u, V v>: the transpose is the adjoint-free transpose of the Vandermonde map: with
 * out = v . (V^T u) and K = V v (before 2 Re), sum_l u_l K_l = sum_n out_n. */
Test(s4, vandermonde_transpose_is_transpose) {
  int64_t N = 4, L = 11;
  lr_tensor *v = rnd(LR_DTYPE_C128, LR_SHAPE(N), -1, 1, 7), *x = rnd(LR_DTYPE_C128, LR_SHAPE(N), -0.4, 0.1, 8);
  lr_tensor *u = rnd(LR_DTYPE_C128, LR_SHAPE(L), -1, 1, 9), *t;
  cr_assert_eq(lr_log_vandermonde_transpose(u, v, x, &t), LR_OK);
  double complex lhs = 0, rhs = 0;
  for (int64_t l = 0; l < L; l++) {
    double complex k = 0;
    for (int64_t n = 0; n < N; n++) k += cget(v, n) * cexp(cget(x, n) * (double)l);
    lhs += cget(u, l) * k;
  }
  for (int64_t n = 0; n < N; n++) rhs += cget(t, n);
  cr_assert(cabs(lhs - rhs) < 1e-12);
}

Test(s4, power_matches_repeated_products) {
  int64_t N = 3;
  for (int64_t L = 1; L <= 13; L++) {
    lr_tensor *A = rnd(LR_DTYPE_C128, LR_SHAPE(N, N), -0.6, 0.6, 10 + L), *v = rnd(LR_DTYPE_C128, LR_SHAPE(N, L), -1, 1, 30 + L);
    lr_tensor *AL, *vo;
    cr_assert_eq(lr_s4_power(L, A, v, &AL, &vo), LR_OK, "L=%lld: %s", (long long)L, lr_last_error());
    /* P = A^i, acc = sum_i A^i v_i, naively */
    double complex P[9], Q[9], acc[3] = {0, 0, 0};
    for (int i = 0; i < 9; i++) P[i] = (i % 4 == 0) ? 1 : 0;
    for (int64_t i = 0; i < L; i++) {
      for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) acc[r] += P[r * 3 + c] * cget(v, c * L + i);
      for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
          Q[r * 3 + c] = 0;
          for (int k = 0; k < 3; k++) Q[r * 3 + c] += P[r * 3 + k] * cget(A, k * 3 + c);
        }
      memcpy(P, Q, sizeof P);
    }
    for (int i = 0; i < 9; i++) cr_assert(cabs(cget(AL, i) - P[i]) < 1e-12, "L=%lld A^L[%d]", (long long)L, i);
    for (int r = 0; r < 3; r++) cr_assert(cabs(cget(vo, r) - acc[r]) < 1e-12, "L=%lld v[%d]", (long long)L, r);
  }
  lr_tensor *A = rnd(LR_DTYPE_F64, LR_SHAPE(2, 2, 2), -1, 1, 50), *Id;
  cr_assert_eq(lr_s4_power(0, A, NULL, &Id, NULL), LR_OK);
  for (int m = 0; m < 2; m++)
    for (int i = 0; i < 4; i++) cr_expect_eq(lr_tensor_get(Id, m * 4 + i), (i == 0 || i == 3) ? 1.0 : 0.0);
}

static void expect_err(lr_status s, lr_status want, const char *n1, const char *n2) {
  cr_expect_eq(s, want, "status %s, expected %s (%s)", lr_status_name(s), lr_status_name(want), lr_last_error());
  cr_expect(strstr(lr_last_error(), n1) != NULL, "'%s' lacks '%s'", lr_last_error(), n1);
  if (n2) cr_expect(strstr(lr_last_error(), n2) != NULL, "'%s' lacks '%s'", lr_last_error(), n2);
}

Test(s4, errors) {
  lr_dtype C = LR_DTYPE_C128;
  lr_tensor *v = rnd(C, LR_SHAPE(2, 4), -1, 1, 1), *z = rnd(C, LR_SHAPE(5), 0.5, 1, 2), *w = rnd(C, LR_SHAPE(4), -1, -0.5, 3);
  lr_tensor *y = NULL, *vr = rnd(LR_DTYPE_F64, LR_SHAPE(2, 4), -1, 1, 4);
  expect_err(lr_cauchy(v, z, rnd(C, LR_SHAPE(3), -1, 0, 5), &y), LR_ERR_SHAPE, "lr_cauchy", "w is (3,)");
  expect_err(lr_cauchy(v, z, rnd(C, LR_SHAPE(3, 4), -1, 0, 6), &y), LR_ERR_SHAPE, "lr_cauchy: v is (2, 4) and w is (3, 4)", "broadcast");
  expect_err(lr_cauchy(v, rnd(C, LR_SHAPE(1, 5), 0, 1, 7), w, &y), LR_ERR_SHAPE, "lr_cauchy: z is (1, 5)", NULL);
  expect_err(lr_cauchy(vr, z, w, &y), LR_ERR_DTYPE, "lr_cauchy", "f64");
  expect_err(lr_cauchy(v, NULL, w, &y), LR_ERR_ARG, "lr_cauchy", "'z'");
  expect_err(lr_log_vandermonde(v, w, -2, &y), LR_ERR_ARG, "lr_log_vandermonde: L is -2", NULL);
  expect_err(lr_log_vandermonde(v, rnd(C, LR_SHAPE(5), 0, 1, 8), 3, &y), LR_ERR_SHAPE, "lr_log_vandermonde", "(5,)");
  expect_err(lr_log_vandermonde(v, rnd(LR_DTYPE_C64, LR_SHAPE(4), 0, 1, 9), 3, &y), LR_ERR_DTYPE, "lr_log_vandermonde",
             "c64");
  expect_err(lr_log_vandermonde_transpose(rnd(C, LR_SHAPE(3, 6), -1, 1, 10), v, w, &y), LR_ERR_SHAPE,
             "lr_log_vandermonde_transpose: u is (3, 6) and v is (2, 4)", NULL);
  lr_tensor *A = rnd(C, LR_SHAPE(3, 3), -1, 1, 11), *AL;
  expect_err(lr_s4_power(2, rnd(C, LR_SHAPE(3, 2), -1, 1, 12), NULL, &AL, NULL), LR_ERR_SHAPE,
             "lr_s4_power: A is (3, 2)", NULL);
  expect_err(lr_s4_power(-1, A, NULL, &AL, NULL), LR_ERR_ARG, "lr_s4_power: L is -1", NULL);
  expect_err(lr_s4_power(4, A, rnd(C, LR_SHAPE(3, 5), -1, 1, 13), &AL, &y), LR_ERR_SHAPE, "lr_s4_power",
             "v is (3, 5)");
  cr_expect_null(y);
}
