/* Complex ops: gradchecks (cases_complex.c), values, the no-copy views, and error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

#define ERR(expr, code, msg)                                                                      \
  do {                                                                                            \
    cr_assert_eq((expr), (code), "%s: %s", #expr, lr_last_error());                               \
    cr_expect_str_eq(lr_last_error(), (msg));                                                     \
  } while (0)

static void expect_c(const lr_tensor *t, int64_t i, double re, double im, double tol) {
  double r, m;
  lr_tensor_get_c(t, i, &r, &m);
  cr_expect(fabs(r - re) <= tol && fabs(m - im) <= tol, "element %lld: got %g%+gi, want %g%+gi", (long long)i, r, m,
            re, im);
}

Test(complex, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_complex, "complex"), 0); }

Test(complex, make_and_parts) {
  lr_tensor *re, *im, *z, *y;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 1), (float[]){1, -2}, &re), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(3), (float[]){0, 1, -1}, &im), LR_OK);
  cr_assert_eq(lr_complex(re, im, &z), LR_OK);
  cr_assert_eq(z->dtype, LR_DTYPE_C64);
  cr_assert(z->ndim == 2 && z->shape[0] == 2 && z->shape[1] == 3);
  double want[6][2] = {{1, 0}, {1, 1}, {1, -1}, {-2, 0}, {-2, 1}, {-2, -1}};
  for (int i = 0; i < 6; i++) expect_c(z, i, want[i][0], want[i][1], 0);
  cr_assert_eq(lr_real(z, &y), LR_OK);
  cr_assert_eq(y->dtype, LR_DTYPE_F32);
  for (int i = 0; i < 6; i++) cr_expect_eq(lr_tensor_get(y, i), want[i][0]);
  cr_assert_eq(lr_imag(z, &y), LR_OK);
  for (int i = 0; i < 6; i++) cr_expect_eq(lr_tensor_get(y, i), want[i][1]);
  cr_assert_eq(lr_conj(z, &y), LR_OK);
  cr_assert_eq(y->dtype, LR_DTYPE_C64);
  for (int i = 0; i < 6; i++) expect_c(y, i, want[i][0], -want[i][1], 0);
  cr_assert_eq(lr_angle(z, &y), LR_OK);
  cr_assert_eq(y->dtype, LR_DTYPE_F32);
  for (int i = 0; i < 6; i++) cr_expect_float_eq(lr_tensor_get(y, i), atan2(want[i][1], want[i][0]), 1e-6);
}

/* real and conj of a real tensor are the tensor itself (PyTorch); imag and angle need complex. */
Test(complex, real_input) {
  lr_tensor *x, *y = NULL;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3), &x);
  cr_assert_eq(lr_real(x, &y), LR_OK);
  cr_expect_eq(y, x);
  cr_assert_eq(lr_conj(x, &y), LR_OK);
  cr_expect_eq(y, x);
  y = NULL;
  ERR(lr_imag(x, &y), LR_ERR_DTYPE, "lr_imag: z is f64, expected c64 or c128");
  ERR(lr_angle(x, &y), LR_ERR_DTYPE, "lr_angle: z is f64, expected c64 or c128");
  cr_assert_null(y);
}

/* Gradients by hand: L = sum(w * angle(z)) at z = 3+4i, w = 2: dz = 2 i z / 25 = (-8 + 6i)/25. */
Test(complex, angle_and_abs_gradient) {
  lr_tensor *z, *y, *w;
  cr_assert_eq(lr_from_host(LR_DTYPE_C128, LR_SHAPE(1), (double[]){3, 4}, &z), LR_OK);
  z->requires_grad = true;
  cr_assert_eq(lr_angle(z, &y), LR_OK);
  cr_assert_eq(lr_full(LR_DTYPE_F64, LR_SHAPE(1), 2, &w), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  expect_c(z->grad, 0, -8.0 / 25, 6.0 / 25, 1e-15);
  z->grad = NULL;
  cr_assert_eq(lr_abs(z, &y), LR_OK); /* dz = w z / |z| = (1.2 + 1.6i) */
  cr_assert_eq(lr_backward(y, w), LR_OK);
  expect_c(z->grad, 0, 1.2, 1.6, 1e-15);
}

/* view_as_complex shares memory: a write through x shows in z and the other way round. */
Test(complex, views_share_memory) {
  lr_tensor *x, *z, *r;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2, 3, 2), (double[]){0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, &x),
               LR_OK);
  cr_assert_eq(lr_view_as_complex(x, &z), LR_OK);
  cr_assert_eq(z->dtype, LR_DTYPE_C128);
  cr_assert(z->ndim == 2 && z->shape[0] == 2 && z->shape[1] == 3);
  cr_assert(z->strides[0] == 3 && z->strides[1] == 1);
  cr_assert_eq(z->data, x->data);
  cr_assert_eq(z->base, x);
  expect_c(z, 4, 8, 9, 0);
  lr_tensor_set(x, 5, -1, 0);
  expect_c(z, 2, 4, -1, 0);
  cr_assert_eq(lr_view_as_real(z, &r), LR_OK);
  cr_assert_eq(r->dtype, LR_DTYPE_F64);
  cr_assert(r->ndim == 3 && r->shape[2] == 2 && r->strides[0] == 6 && r->strides[1] == 2 && r->strides[2] == 1);
  cr_assert_eq(r->data, x->data);
  lr_tensor_set(z, 0, 42, 43);
  cr_expect(lr_tensor_get(r, 0) == 42 && lr_tensor_get(x, 1) == 43);
  /* a C64 tensor with a transposed layout: view_as_real doubles its strides */
  lr_tensor *c, *ct, *cr;
  cr_assert_eq(lr_zeros(LR_DTYPE_C64, LR_SHAPE(3, 4), &c), LR_OK);
  cr_assert_eq(lr_tensor_transpose(c, 0, 1, &ct), LR_OK);
  cr_assert_eq(lr_view_as_real(ct, &cr), LR_OK);
  cr_assert_eq(cr->dtype, LR_DTYPE_F32);
  cr_assert(cr->strides[0] == 2 && cr->strides[1] == 8 && cr->strides[2] == 1);
}

Test(complex, errors) {
  lr_tensor *a, *b, *f, *z, *x3, *y = NULL;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 3), &a);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(4), &b);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(3), &f);
  lr_zeros(LR_DTYPE_C128, LR_SHAPE(3), &z);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(4, 3), &x3);
  ERR(lr_complex(a, b, &y), LR_ERR_SHAPE, "lr_complex: shapes (2, 3) and (4,) do not broadcast");
  ERR(lr_complex(a, f, &y), LR_ERR_DTYPE, "lr_complex: re is f64, im is f32");
  ERR(lr_complex(z, z, &y), LR_ERR_DTYPE, "lr_complex: re is c128, expected f32 or f64");
  ERR(lr_complex(NULL, a, &y), LR_ERR_ARG, "lr_complex: argument 're' is NULL");
  ERR(lr_complex(a, a, NULL), LR_ERR_ARG, "lr_complex: argument 'out' is NULL");
  ERR(lr_real(NULL, &y), LR_ERR_ARG, "lr_real: argument 'z' is NULL");
  lr_tensor *i32;
  lr_zeros(LR_DTYPE_I32, LR_SHAPE(3), &i32);
  ERR(lr_conj(i32, &y), LR_ERR_DTYPE, "lr_conj: z is i32, expected f32, f64, c64 or c128");
  /* view_as_complex: last dim 2, stride 1 there, even strides elsewhere */
  ERR(lr_view_as_complex(x3, &y), LR_ERR_SHAPE, "lr_view_as_complex: x is (4, 3), expected a last dim of size 2");
  lr_tensor *s0;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(0), &s0);
  ERR(lr_view_as_complex(s0, &y), LR_ERR_SHAPE, "lr_view_as_complex: x is (0,), expected a last dim of size 2");
  lr_tensor *base, *t;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 3), &base);
  lr_tensor_transpose(base, 0, 1, &t); /* (3, 2), strides (1, 3) */
  ERR(lr_view_as_complex(t, &y), LR_ERR_SHAPE,
      "lr_view_as_complex: x has strides (1, 3), expected stride 1 in the last dim");
  lr_tensor *wide, *n;
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(4, 3), &wide);
  lr_tensor_narrow(wide, 1, 0, 2, &n); /* (4, 2), strides (3, 1) */
  ERR(lr_view_as_complex(n, &y), LR_ERR_SHAPE,
      "lr_view_as_complex: x has strides (3, 1), expected even strides in all but the last dim (dim 0)");
  ERR(lr_view_as_complex(z, &y), LR_ERR_DTYPE, "lr_view_as_complex: x is c128, expected f32 or f64");
  ERR(lr_view_as_real(a, &y), LR_ERR_DTYPE, "lr_view_as_real: z is f64, expected c64 or c128");
  lr_tensor *z7;
  lr_zeros(LR_DTYPE_C64, LR_SHAPE(1, 1, 1, 1, 1, 1, 1, 2), &z7);
  ERR(lr_view_as_real(z7, &y), LR_ERR_SHAPE, "lr_view_as_real: z has 8 dims, at most 7");
  cr_assert_null(y);
}

/* A narrowed-but-even layout is accepted: rows 0..1 of a (4, 3, 2) tensor, strides (6, 2, 1). */
Test(complex, view_as_complex_narrowed) {
  lr_tensor *x, *n, *z;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(4, 3, 2), &x), LR_OK);
  for (int i = 0; i < 24; i++) lr_tensor_set(x, i, i, 0);
  cr_assert_eq(lr_tensor_narrow(x, 1, 1, 2, &n), LR_OK);
  cr_assert_eq(lr_view_as_complex(n, &z), LR_OK);
  cr_assert(z->ndim == 2 && z->shape[0] == 4 && z->shape[1] == 2 && z->strides[0] == 3 && z->strides[1] == 1);
  expect_c(z, 0, 2, 3, 0);
  expect_c(z, 3, 10, 11, 0);
}
