/* matmul and linear: gradchecks (cases_linalg.c), values against naive loops in double for every
 * dtype and layout, the no-copy guarantee of the BLAS paths, and the error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/linalg.h"
#include "tests/cases.h"

Test(linalg, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_linalg, "linalg"), 0); }

static const lr_dtype all_dt[4] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};

/* Tolerance relative to sqrt(K) * max|term|: F32 rounds each of K products and sums at ~6e-8,
 * so 1e-5 leaves a wide margin; F64 at ~1e-16 gets 1e-12. */
static double tol_of(lr_dtype dt) { return lr_dtype_real(dt) == LR_DTYPE_F32 ? 1e-5 : 1e-12; }

static lr_tensor *rnd(lr_dtype dt, int ndim, const int64_t *shape, uint64_t seed, bool transposed) {
  lr_tensor *t = transposed ? gc_leaf_strided(dt, ndim, shape, -1, 1, seed) : gc_leaf(dt, ndim, shape, -1, 1, seed);
  t->requires_grad = false;
  return t;
}

/* element (b, i, j) of a (B, R, C) view given as its 3-D tensor (or 2-D when B is broadcast) */
static void at3(const lr_tensor *t, int64_t b, int64_t i, int64_t j, double *re, double *im) {
  int64_t R = t->shape[t->ndim - 2], C = t->shape[t->ndim - 1];
  int64_t lin = (t->ndim == 3 ? b * R * C : 0) + i * C + j;
  lr_tensor_get_c(t, lin, re, im);
}

/* y (B, M, N) vs a (B or none, M, K) @ b (B or none, K, N), computed naively in double */
static void check_product(const lr_tensor *a, const lr_tensor *b, const lr_tensor *y, int64_t B, double tol) {
  int64_t M = a->shape[a->ndim - 2], K = a->shape[a->ndim - 1], N = b->shape[b->ndim - 1];
  for (int64_t bb = 0; bb < B; bb++)
    for (int64_t i = 0; i < M; i++)
      for (int64_t j = 0; j < N; j++) {
        double sr = 0, si = 0;
        for (int64_t k = 0; k < K; k++) {
          double ar, ai, br, bi;
          at3(a, bb, i, k, &ar, &ai);
          at3(b, bb, k, j, &br, &bi);
          sr += ar * br - ai * bi;
          si += ar * bi + ai * br;
        }
        double yr, yi;
        lr_tensor_get_c(y, (bb * M + i) * N + j, &yr, &yi);
        double scale = sqrt((double)K);
        cr_assert(fabs(yr - sr) <= tol * scale && fabs(yi - si) <= tol * scale,
                  "%s (%lld, %lld, %lld): got %g%+gi, want %g%+gi", lr_dtype_name(y->dtype), (long long)bb,
                  (long long)i, (long long)j, yr, yi, sr, si);
      }
}

Test(linalg, matmul_values_2x2) {
  lr_tensor *a, *b, *y;
  lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 3), (float[]){1, 2, 3, 4, 5, 6}, &a);
  lr_from_host(LR_DTYPE_F32, LR_SHAPE(3, 2), (float[]){7, 8, 9, 10, 11, 12}, &b);
  cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
  float got[4], want[4] = {58, 64, 139, 154}; /* small integers: exact in f32 */
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(lr_tensor_copy_to_host(y, got, sizeof got), LR_OK);
  cr_assert_arr_eq(got, want, sizeof want);
}

/* every dtype x {contiguous, transposed view} for both operands, batched and not */
Test(linalg, matmul_layouts_all_dtypes) {
  for (int d = 0; d < 4; d++)
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        lr_dtype dt = all_dt[d];
        lr_tensor *a = rnd(dt, LR_SHAPE(3, 7, 37), 1 + d, ta), *b = rnd(dt, LR_SHAPE(37, 5), 2 + d, tb), *y;
        cr_assert_eq(lr_matmul(a, b, &y), LR_OK, "%s", lr_last_error());
        cr_assert_eq(y->ndim, 3);
        cr_assert_eq(y->shape[1], 7);
        cr_assert_eq(y->shape[2], 5);
        check_product(a, b, y, 3, tol_of(dt));
        lr_tensor *b3 = rnd(dt, LR_SHAPE(3, 37, 5), 3 + d, tb);
        cr_assert_eq(lr_matmul(a, b3, &y), LR_OK, "%s", lr_last_error());
        check_product(a, b3, y, 3, tol_of(dt));
      }
}

Test(linalg, matmul_broadcast_and_1d_shapes) {
  lr_tensor *y;
  lr_tensor *a = rnd(LR_DTYPE_F64, LR_SHAPE(2, 1, 3, 4), 5, false), *b = rnd(LR_DTYPE_F64, LR_SHAPE(5, 4, 2), 6, false);
  cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
  int64_t want[4] = {2, 5, 3, 2};
  cr_assert_eq(y->ndim, 4);
  cr_assert_arr_eq(y->shape, want, sizeof want);
  /* spot-check batch (1, 4): a[1, 0] @ b[4] */
  double s = 0;
  for (int k = 0; k < 4; k++) s += lr_tensor_get(a, 12 + 2 * 4 + k) * lr_tensor_get(b, 4 * 8 + k * 2 + 1);
  cr_assert_float_eq(lr_tensor_get(y, ((1 * 5 + 4) * 3 + 2) * 2 + 1), s, 1e-12);

  lr_tensor *v = rnd(LR_DTYPE_F64, LR_SHAPE(4), 7, false), *m = rnd(LR_DTYPE_F64, LR_SHAPE(2, 4, 3), 8, false);
  cr_assert_eq(lr_matmul(v, m, &y), LR_OK);
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(y->shape[0], 2);
  cr_assert_eq(y->shape[1], 3);
  cr_assert_eq(lr_matmul(v, v, &y), LR_OK);
  cr_assert_eq(y->ndim, 0);
  double dot = 0;
  for (int k = 0; k < 4; k++) dot += lr_tensor_get(v, k) * lr_tensor_get(v, k);
  cr_assert_float_eq(lr_tensor_get(y, 0), dot, 1e-12);
  lr_tensor *m2 = rnd(LR_DTYPE_F64, LR_SHAPE(2, 3, 4), 9, false);
  cr_assert_eq(lr_matmul(m2, v, &y), LR_OK);
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(y->shape[1], 3);
}

Test(linalg, matmul_empty_inner_dim_gives_zeros) {
  lr_tensor *a, *b, *y;
  lr_empty(LR_DTYPE_F64, LR_SHAPE(2, 0), &a);
  lr_empty(LR_DTYPE_F64, LR_SHAPE(0, 3), &b);
  cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
  cr_assert_eq(lr_numel(y), 6);
  for (int i = 0; i < 6; i++) cr_assert_eq(lr_tensor_get(y, i), 0.0);
  lr_empty(LR_DTYPE_F64, LR_SHAPE(0, 4), &a);
  lr_empty(LR_DTYPE_F64, LR_SHAPE(4, 3), &b);
  cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
  cr_assert_eq(y->shape[0], 0);
}

/* The BLAS paths copy nothing: the arena grows by the output alone, for contiguous operands and
 * for transposed views (trans flags). A strided slice is copied. */
Test(linalg, matmul_no_copy_on_blas_layouts) {
  lr_arena *ar = lr_arena_current();
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      lr_tensor *a = rnd(LR_DTYPE_F32, LR_SHAPE(64, 48), 1, ta), *b = rnd(LR_DTYPE_F32, LR_SHAPE(48, 32), 2, tb), *y;
      size_t before = lr_arena_used(ar);
      cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
      size_t grew = lr_arena_used(ar) - before;
      cr_assert_leq(grew, lr_nbytes(y) + 512, "ta %d tb %d: arena grew by %zu for a %zu-byte output", ta, tb, grew,
                    lr_nbytes(y));
    }
  lr_tensor *x = rnd(LR_DTYPE_F32, LR_SHAPE(5, 64, 48), 3, false), *w = rnd(LR_DTYPE_F32, LR_SHAPE(32, 48), 4, false), *y;
  size_t before = lr_arena_used(ar);
  cr_assert_eq(lr_linear(x, w, NULL, &y), LR_OK);
  cr_assert_leq(lr_arena_used(ar) - before, lr_nbytes(y) + 512);
}

Test(linalg, linear_values_all_dtypes) {
  for (int d = 0; d < 4; d++) {
    lr_dtype dt = all_dt[d];
    for (int tw = 0; tw < 2; tw++) {
      lr_tensor *x = rnd(dt, LR_SHAPE(2, 3, 9), 10 + d, false), *w = rnd(dt, LR_SHAPE(6, 9), 20 + d, tw);
      lr_tensor *b = rnd(dt, LR_SHAPE(6), 30 + d, false), *y;
      cr_assert_eq(lr_linear(x, w, b, &y), LR_OK, "%s", lr_last_error());
      cr_assert_eq(y->ndim, 3);
      cr_assert_eq(y->shape[2], 6);
      for (int64_t r = 0; r < 6; r++)
        for (int64_t o = 0; o < 6; o++) {
          double sr, si;
          lr_tensor_get_c(b, o, &sr, &si);
          for (int64_t k = 0; k < 9; k++) {
            double xr, xi, wr, wi;
            lr_tensor_get_c(x, r * 9 + k, &xr, &xi);
            lr_tensor_get_c(w, o * 9 + k, &wr, &wi);
            sr += xr * wr - xi * wi;
            si += xr * wi + xi * wr;
          }
          double yr, yi;
          lr_tensor_get_c(y, r * 6 + o, &yr, &yi);
          cr_assert(fabs(yr - sr) <= 3 * tol_of(dt) && fabs(yi - si) <= 3 * tol_of(dt), "%s tw %d: %g vs %g",
                    lr_dtype_name(dt), tw, yr, sr);
        }
    }
  }
}

/* Two backward passes accumulate: the grads double. */
Test(linalg, backward_accumulates) {
  lr_tensor *a = gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 3), -1, 1, 1), *b = gc_leaf(LR_DTYPE_F64, LR_SHAPE(3, 2), -1, 1, 2);
  lr_tensor *y, *w;
  lr_ones(LR_DTYPE_F64, LR_SHAPE(2, 2), &w);
  cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  double g1 = lr_tensor_get(a->grad, 4);
  /* dA[1, 1] = sum_j B[1, j] */
  cr_assert_float_eq(g1, lr_tensor_get(b, 2) + lr_tensor_get(b, 3), 1e-14);
  cr_assert_eq(lr_matmul(a, b, &y), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  cr_assert_float_eq(lr_tensor_get(a->grad, 4), 2 * g1, 1e-14);
}

Test(linalg, kernel_gemm_matches_naive) {
  /* C = A^T (3x2 stored 2x3) @ B (2x2) + 1 * C, f64, small integers: exact */
  double A[6] = {1, 2, 3, 4, 5, 6}, B[4] = {1, 0, 2, 1}, C[6] = {1, 1, 1, 1, 1, 1};
  lr_kcpu_gemm(LR_DTYPE_F64, LR_GEMM_T, LR_GEMM_N, 3, 2, 2, 1.0, A, 3, B, 2, 1.0, C, 2);
  double want[6] = {1 + 1 + 8, 1 + 4, 1 + 2 + 10, 1 + 5, 1 + 3 + 12, 1 + 6};
  cr_assert_arr_eq(C, want, sizeof want);
}

Test(linalg, matmul_errors) {
  lr_tensor *a, *b, *c, *s, *y = NULL;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &a);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(4, 5), &b);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3, 5), &c);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(0), &s);
  cr_assert_eq(lr_matmul(a, b, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_matmul: a is (2, 3), b is (4, 5): inner dims 3 and 4 differ");
  cr_assert_null(y);
  cr_assert_eq(lr_matmul(a, c, &y), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_matmul: a is f32, b is f64");
  cr_assert_eq(lr_matmul(NULL, b, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_matmul: argument 'a' is NULL");
  cr_assert_eq(lr_matmul(a, b, NULL), LR_ERR_ARG);
  lr_tensor *z;
  lr_scalar(LR_DTYPE_F32, 1.0, &z);
  cr_assert_eq(lr_matmul(z, a, &y), LR_ERR_SHAPE);
  cr_assert(strstr(lr_last_error(), "lr_matmul: a is a 0-dim tensor"), "%s", lr_last_error());
  lr_tensor *i1, *i2;
  lr_zeros(LR_DTYPE_I64, LR_SHAPE(2, 2), &i1);
  lr_zeros(LR_DTYPE_I64, LR_SHAPE(2, 2), &i2);
  cr_assert_eq(lr_matmul(i1, i2, &y), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_matmul: a is i64, expected f32, f64, c64 or c128");
  lr_tensor *b1, *b2;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 2, 3), &b1);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(3, 3, 4), &b2);
  cr_assert_eq(lr_matmul(b1, b2, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_matmul: a is (2, 2, 3), b is (3, 3, 4): batch dims do not broadcast");
  cr_assert_null(y);
}

Test(linalg, linear_errors) {
  lr_tensor *x, *w, *b, *w3, *c, *y = NULL;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &x);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(4, 5), &w);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(5), &b);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(1, 4, 3), &w3);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(4, 3), &c);
  cr_assert_eq(lr_linear(x, w, NULL, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_linear: x is (2, 3), W is (4, 5): in features 3 and 5 differ");
  lr_tensor *w43;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(4, 3), &w43);
  cr_assert_eq(lr_linear(x, w43, b, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_linear: b is (5,), W is (4, 3): expected b of shape (4,)");
  cr_assert_eq(lr_linear(x, w3, NULL, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_linear: W is (1, 4, 3), expected 2 dims (out, in)");
  cr_assert_eq(lr_linear(x, c, NULL, &y), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_linear: x is f32, W is f64");
  cr_assert_eq(lr_linear(x, NULL, NULL, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_linear: argument 'W' is NULL");
  cr_assert_null(y);
}
