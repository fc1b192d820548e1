/* lr_discretize: gradchecks (cases_discretize.c), values against closed forms, stability near
 * Δλ -> 0, names, and error paths. */
#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

Test(discretize, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_discretize, "discretize"), 0); }

static void disc1(lr_disc k, double lam, double d, double *a, double *b) {
  lr_tensor *l, *dt, *A, *B;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), &lam, &l), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), &d, &dt), LR_OK);
  cr_assert_eq(lr_discretize(l, dt, NULL, k, &A, &B), LR_OK, "%s", lr_last_error());
  *a = lr_tensor_get(A, 0);
  *b = lr_tensor_get(B, 0);
}

static void disc1c(lr_disc k, double complex lam, double d, double da, double complex *a, double complex *b) {
  lr_tensor *l, *dt, *dA, *A, *B;
  double lv[2] = {creal(lam), cimag(lam)};
  cr_assert_eq(lr_from_host(LR_DTYPE_C128, LR_SHAPE(1), lv, &l), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), &d, &dt), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), &da, &dA), LR_OK);
  cr_assert_eq(lr_discretize(l, dt, dA, k, &A, &B), LR_OK, "%s", lr_last_error());
  double re, im;
  lr_tensor_get_c(A, 0, &re, &im);
  *a = re + I * im;
  lr_tensor_get_c(B, 0, &re, &im);
  *b = re + I * im;
}

/* 1e-14 relative: every form below is a handful of correctly rounded operations. */
#define CLOSE(x, y) cr_expect(fabs((x) - (y)) <= 1e-14 * fmax(1, fabs(y)), "%s: %.17g vs %.17g", #x, (double)(x), (double)(y))
#define CCLOSE(x, y) cr_expect(cabs((x) - (y)) <= 1e-14 * fmax(1, cabs(y)), "%s: (%.17g, %.17g) vs (%.17g, %.17g)", #x, creal(x), cimag(x), creal(y), cimag(y))

Test(discretize, real_values) {
  double a, b, lam = -0.7, d = 0.3;
  disc1(LR_DISC_ZOH, lam, d, &a, &b);
  CLOSE(a, exp(d * lam));
  CLOSE(b, expm1(d * lam) / lam);
  disc1(LR_DISC_BILINEAR, lam, d, &a, &b);
  CLOSE(a, (1 + d * lam / 2) / (1 - d * lam / 2));
  CLOSE(b, d / (1 - d * lam / 2));
  cr_expect(fabs(a) < 1, "bilinear must be stable for lambda < 0");
  disc1(LR_DISC_DIRAC, lam, d, &a, &b);
  CLOSE(a, exp(d * lam));
  CLOSE(b, 1.0);
  disc1(LR_DISC_MAMBA, lam, d, &a, &b);
  CLOSE(a, exp(d * lam));
  CLOSE(b, d);
  disc1(LR_DISC_NONE, lam, d, &a, &b);
  CLOSE(a, lam);
  CLOSE(b, 1.0);
  disc1(LR_DISC_S7, 0, 0.8, &a, &b);
  CLOSE(a, 1 - 1 / (0.64 + 0.5));
  disc1(LR_DISC_S7, 0, 0, &a, &b);
  CLOSE(a, -1.0);
  disc1(LR_DISC_RGLRU, 0.6, 2.5, &a, &b);
  CLOSE(a, pow(0.6, 2.5));
  CLOSE(b, sqrt(1 - pow(0.6, 5)));
}

Test(discretize, complex_values) {
  double complex lam = -0.4 + 2.0 * I, a, b;
  disc1c(LR_DISC_ZOH, lam, 0.3, 0.5, &a, &b);
  CCLOSE(a, cexp(0.5 * lam));
  CCLOSE(b, (cexp(0.3 * lam) - 1) / lam);
  disc1c(LR_DISC_BILINEAR, lam, 0.3, 0.5, &a, &b);
  CCLOSE(a, (1 + 0.5 * lam / 2) / (1 - 0.5 * lam / 2));
  CCLOSE(b, 0.3 / (1 - 0.3 * lam / 2));
  cr_expect(cabs(a) < 1);
  disc1c(LR_DISC_ASYNC, lam, 0.3, 0.5, &a, &b);
  CCLOSE(a, cexp(0.5 * lam));
  CCLOSE(b, (cexp(0.5 * lam) - 1) / lam);
  disc1c(LR_DISC_MAMBA, lam, 0.3, 0.5, &a, &b);
  CCLOSE(b, 0.3 + 0.0 * I);
}

/* Δλ -> 0: B̄ -> Δ with full relative accuracy (a naive (e^{Δλ} - 1)/λ loses all digits). */
Test(discretize, zoh_small_delta_lambda) {
  double complex a, b;
  double complex lam = 1e-13 * (-1.0 + 1.0 * I);
  disc1c(LR_DISC_ZOH, lam, 0.5, 0.5, &a, &b);
  cr_expect(cabs(b - 0.5 * (1 + 0.25 * lam)) < 1e-16, "b = (%.17g, %.17g)", creal(b), cimag(b));
  lam = 1e-6 * (-1.0 + 3.0 * I); /* v = 5e-7 (1 - 3i): series branch; compare with the exact series */
  disc1c(LR_DISC_ZOH, lam, 0.5, 0.5, &a, &b);
  double complex v = 0.5 * lam, want = 0.5 * (1 + v / 2 + v * v / 6);
  CCLOSE(b, want);
  double ar, br;
  disc1(LR_DISC_ZOH, 0.0, 0.25, &ar, &br); /* λ = 0 exactly */
  CLOSE(ar, 1.0);
  CLOSE(br, 0.25);
  /* Complex expm1 just above the series threshold keeps relative accuracy. */
  lam = 3e-3 * I;
  disc1c(LR_DISC_ZOH, lam, 1.0, 1.0, &a, &b);
  v = lam;
  want = 1 + v / 2 + v * v / 6 + v * v * v / 24 + v * v * v * v / 120;
  cr_expect(cabs(b - want) < 1e-15, "(%.17g, %.17g)", creal(b), cimag(b));
}

/* ∂B̄/∂λ (zoh) is continuous across the ψ series threshold |Δλ| = 0.5. */
Test(discretize, zoh_psi_threshold) {
  for (int side = 0; side < 2; side++) {
    double lam = side ? -0.5001 : -0.4999, d = 1;
    lr_tensor *l, *dt, *A, *B;
    cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), &lam, &l), LR_OK);
    cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(1), &d, &dt), LR_OK);
    l->requires_grad = true;
    cr_assert_eq(lr_discretize(l, dt, NULL, LR_DISC_ZOH, &A, &B), LR_OK);
    cr_assert_eq(lr_backward(B, NULL), LR_OK, "%s", lr_last_error());
    double v = lam, want = (v * exp(v) - expm1(v)) / (v * v);
    cr_expect(fabs(lr_tensor_get(l->grad, 0) - want) < 1e-13, "%.17g vs %.17g", lr_tensor_get(l->grad, 0), want);
  }
}

Test(discretize, names) {
  lr_disc k;
  cr_assert_eq(lr_disc_from_name("zoh", &k), LR_OK);
  cr_expect_eq(k, LR_DISC_ZOH);
  cr_assert_eq(lr_disc_from_name("no_discretization", &k), LR_OK);
  cr_expect_eq(k, LR_DISC_NONE);
  cr_assert_eq(lr_disc_from_name("rglru", &k), LR_OK);
  cr_expect_eq(k, LR_DISC_RGLRU);
  for (int i = 0; i < LR_DISC_COUNT; i++) {
    cr_assert_eq(lr_disc_from_name(lr_disc_name((lr_disc)i), &k), LR_OK);
    cr_expect_eq((int)k, i);
  }
  cr_expect_eq(lr_disc_from_name("zoh2", &k), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "lr_disc_from_name") && strstr(lr_last_error(), "\"zoh2\""), "%s", lr_last_error());
}

Test(discretize, errors) {
  lr_tensor *lr, *lc, *d, *d32, *d5, *A = NULL, *B = NULL;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3, 2), &lr);
  lr_zeros(LR_DTYPE_C128, LR_SHAPE(3, 2), &lc);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3, 1), &d);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(3, 1), &d32);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(5), &d5);
  cr_expect_eq(lr_discretize(lc, d, NULL, LR_DISC_S7, &A, &B), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_discretize: s7 takes a real lambda, got c128");
  cr_expect_eq(lr_discretize(lc, d, NULL, LR_DISC_RGLRU, &A, &B), LR_ERR_DTYPE);
  cr_expect_eq(lr_discretize(lr, d32, NULL, LR_DISC_ZOH, &A, &B), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_discretize: delta is f32, expected f64 (the real dtype of lambda, f64)");
  cr_expect_eq(lr_discretize(lr, d, d5, LR_DISC_ZOH, &A, &B), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_discretize") && strstr(lr_last_error(), "(5,)"), "%s", lr_last_error());
  cr_expect_eq(lr_discretize(NULL, d, NULL, LR_DISC_ZOH, &A, &B), LR_ERR_ARG);
  cr_expect_eq(lr_discretize(lr, d, NULL, (lr_disc)42, &A, &B), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_discretize: kind 42 is not a discretization");
  cr_expect_null(A);
  cr_expect_null(B);
}
