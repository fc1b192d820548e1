/* Reductions: gradchecks (cases_reduce.c), exact values, large inputs against naive sums in
 * double, bitwise determinism across thread counts, and the error paths. */
#include <criterion/criterion.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#include "tests/cases.h"

Test(reduce, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_reduce, "reduce"), 0); }

static lr_tensor *from(lr_dtype dt, int ndim, const int64_t *shape, const double *v) {
  lr_tensor *t;
  lr_empty(dt, ndim, shape, &t);
  for (int64_t i = 0; i < lr_numel(t); i++) lr_tensor_set(t, i, v[i], 0);
  return t;
}

Test(reduce, sum_mean_values) {
  lr_tensor *x = from(LR_DTYPE_F32, LR_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}), *y;
  cr_assert_eq(lr_sum(x, 1, (int[]){1}, false, &y), LR_OK);
  cr_assert_eq(y->ndim, 1);
  cr_assert_eq(lr_tensor_get(y, 0), 6.0);
  cr_assert_eq(lr_tensor_get(y, 1), 15.0);
  cr_assert_eq(lr_sum(x, 1, (int[]){-2}, true, &y), LR_OK);
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(y->shape[0], 1);
  cr_assert_eq(y->shape[1], 3);
  cr_assert_eq(lr_tensor_get(y, 2), 9.0);
  cr_assert_eq(lr_sum(x, 0, NULL, false, &y), LR_OK);
  cr_assert_eq(y->ndim, 0);
  cr_assert_eq(lr_tensor_get(y, 0), 21.0);
  cr_assert_eq(lr_mean(x, 2, (int[]){0, 1}, true, &y), LR_OK);
  cr_assert_eq(y->ndim, 2);
  cr_assert_eq(lr_tensor_get(y, 0), 3.5);
  /* complex: both parts */
  lr_tensor *z;
  lr_empty(LR_DTYPE_C128, LR_SHAPE(3), &z);
  for (int i = 0; i < 3; i++) lr_tensor_set(z, i, i + 1, -2.0 * i);
  cr_assert_eq(lr_mean(z, 0, NULL, false, &y), LR_OK);
  double re, im;
  lr_tensor_get_c(y, 0, &re, &im);
  cr_assert_eq(re, 2.0);
  cr_assert_eq(im, -2.0);
}

Test(reduce, var_values) {
  lr_tensor *x = from(LR_DTYPE_F64, LR_SHAPE(2, 4), (double[]){1, 2, 3, 4, 2, 2, 2, 2}), *y;
  cr_assert_eq(lr_var(x, 1, (int[]){1}, 1, false, &y), LR_OK);
  cr_assert_float_eq(lr_tensor_get(y, 0), 5.0 / 3.0, 1e-15);
  cr_assert_eq(lr_tensor_get(y, 1), 0.0);
  cr_assert_eq(lr_var(x, 1, (int[]){1}, 0, true, &y), LR_OK);
  cr_assert_float_eq(lr_tensor_get(y, 0), 1.25, 1e-15);
  cr_assert_eq(y->shape[1], 1);
  /* one element, unbiased: 0/0 */
  lr_tensor *one = from(LR_DTYPE_F64, LR_SHAPE(1), (double[]){3});
  cr_assert_eq(lr_var(one, 0, NULL, 1, false, &y), LR_OK);
  cr_assert(isnan(lr_tensor_get(y, 0)));
}

Test(reduce, max_min_values_indices_ties_nan) {
  lr_tensor *x = from(LR_DTYPE_F64, LR_SHAPE(2, 4), (double[]){1, 3, 3, 2, 5, -1, -1, 0}), *v, *i;
  cr_assert_eq(lr_max(x, 1, false, &v, &i), LR_OK);
  cr_assert_eq(i->dtype, LR_DTYPE_I64);
  cr_assert_eq(lr_tensor_get(v, 0), 3.0);
  cr_assert_eq(lr_tensor_get(i, 0), 1.0); /* the first of the tied maxima */
  cr_assert_eq(lr_tensor_get(v, 1), 5.0);
  cr_assert_eq(lr_tensor_get(i, 1), 0.0);
  cr_assert_eq(lr_min(x, -1, true, &v, NULL), LR_OK);
  cr_assert_eq(v->ndim, 2);
  cr_assert_eq(lr_tensor_get(v, 1), -1.0);
  cr_assert_eq(lr_min(x, -1, false, NULL, &i), LR_OK);
  cr_assert_eq(lr_tensor_get(i, 1), 1.0);
  cr_assert_eq(lr_max(x, 0, false, NULL, &i), LR_OK);
  cr_assert_eq(lr_tensor_get(i, 0), 1.0);
  cr_assert_eq(lr_tensor_get(i, 2), 0.0);
  lr_tensor *n = from(LR_DTYPE_F32, LR_SHAPE(3), (double[]){1, NAN, 2});
  cr_assert_eq(lr_max(n, 0, false, &v, &i), LR_OK);
  cr_assert(isnan(lr_tensor_get(v, 0)));
  cr_assert_eq(lr_tensor_get(i, 0), 1.0);
}

/* The gradient of max goes to the first maximal element only. */
Test(reduce, max_gradient_to_first_extreme) {
  lr_tensor *x = from(LR_DTYPE_F64, LR_SHAPE(4), (double[]){1, 3, 3, 2}), *v;
  x->requires_grad = true;
  cr_assert_eq(lr_max(x, 0, false, &v, NULL), LR_OK);
  cr_assert_eq(lr_backward(v, NULL), LR_OK);
  double want[4] = {0, 1, 0, 0};
  for (int k = 0; k < 4; k++) cr_assert_eq(lr_tensor_get(x->grad, k), want[k]);
}

/* naive double sum over dims (mask) of a 3-D tensor read through lr_tensor_get */
static double naive_sum3(const lr_tensor *x, unsigned mask, int64_t o) {
  int64_t s0 = x->shape[0], s1 = x->shape[1], s2 = x->shape[2];
  int64_t k[3], kk = o;
  int64_t ks[3] = {mask & 1 ? 1 : s0, mask & 2 ? 1 : s1, mask & 4 ? 1 : s2};
  for (int d = 2; d >= 0; d--) {
    k[d] = kk % ks[d];
    kk /= ks[d];
  }
  double s = 0;
  for (int64_t a = 0; a < s0; a++)
    for (int64_t b = 0; b < s1; b++)
      for (int64_t c = 0; c < s2; c++) {
        if ((!(mask & 1) && a != k[0]) || (!(mask & 2) && b != k[1]) || (!(mask & 4) && c != k[2])) continue;
        s += lr_tensor_get(x, (a * s1 + b) * s2 + c);
      }
  return s;
}

/* Every dim set of a large F32 tensor, contiguous and transposed: rows, columns and chunked
 * paths. F32 values in [-1, 1) summed in double then rounded once: relative error ~6e-8 of
 * the sum of |terms|, checked at 1e-6 of n. */
Test(reduce, sum_all_dim_sets_large) {
  for (int tr = 0; tr < 2; tr++) {
    lr_tensor *x = tr ? gc_leaf_strided(LR_DTYPE_F32, LR_SHAPE(7, 130, 90), -1, 1, 5)
                      : gc_leaf(LR_DTYPE_F32, LR_SHAPE(7, 130, 90), -1, 1, 5);
    x->requires_grad = false;
    for (unsigned mask = 1; mask < 8; mask++) {
      int dims[3], nd = 0;
      for (int d = 0; d < 3; d++)
        if (mask & (1u << d)) dims[nd++] = d;
      lr_tensor *y;
      cr_assert_eq(lr_sum(x, nd, dims, true, &y), LR_OK);
      int64_t n = lr_numel(x) / lr_numel(y);
      for (int64_t o = 0; o < lr_numel(y); o += 1 + lr_numel(y) / 50)
        cr_assert(fabs(lr_tensor_get(y, o) - naive_sum3(x, mask, o)) <= 1e-6 * (double)n, "tr %d mask %u o %lld", tr,
                  mask, (long long)o);
    }
  }
}

/* Same bits with 1 and 2 threads: fixed partitions, no atomics. */
Test(reduce, deterministic_across_threads) {
  lr_tensor *x = gc_leaf(LR_DTYPE_F32, LR_SHAPE(300, 1000), -1, 1, 9);
  x->requires_grad = false;
  int sets[3][2] = {{0, 1}, {0, 0}, {1, 1}}; /* all, dim 0 (columns), dim 1 (rows) */
  int nds[3] = {2, 1, 1};
  for (int s = 0; s < 3; s++) {
    lr_tensor *y1, *y2, *v1, *v2;
    omp_set_num_threads(1);
    cr_assert_eq(lr_sum(x, nds[s], sets[s], false, &y1), LR_OK);
    cr_assert_eq(lr_var(x, nds[s], sets[s], 1, false, &v1), LR_OK);
    omp_set_num_threads(2);
    cr_assert_eq(lr_sum(x, nds[s], sets[s], false, &y2), LR_OK);
    cr_assert_eq(lr_var(x, nds[s], sets[s], 1, false, &v2), LR_OK);
    cr_assert_eq(memcmp(y1->data, y2->data, lr_nbytes(y1)), 0, "sum set %d", s);
    cr_assert_eq(memcmp(v1->data, v2->data, lr_nbytes(v1)), 0, "var set %d", s);
  }
  /* the full sum agrees with double to float rounding: n = 3e5 terms in [-1, 1) */
  lr_tensor *y;
  lr_sum(x, 0, NULL, false, &y);
  double s = 0;
  for (int64_t i = 0; i < lr_numel(x); i++) s += lr_tensor_get(x, i);
  cr_assert(fabs(lr_tensor_get(y, 0) - s) <= 1e-4 * (fabs(s) + 1), "%g vs %g", lr_tensor_get(y, 0), s);
}

Test(reduce, var_large_columns) {
  lr_tensor *x = gc_leaf(LR_DTYPE_F64, LR_SHAPE(500, 40), 2, 3, 11), *y;
  x->requires_grad = false;
  cr_assert_eq(lr_var(x, 1, (int[]){0}, 1, false, &y), LR_OK);
  for (int j = 0; j < 40; j++) {
    double m = 0, q = 0;
    for (int i = 0; i < 500; i++) m += lr_tensor_get(x, i * 40 + j);
    m /= 500;
    for (int i = 0; i < 500; i++) q += pow(lr_tensor_get(x, i * 40 + j) - m, 2);
    cr_assert_float_eq(lr_tensor_get(y, j), q / 499, 1e-12);
  }
}

Test(reduce, errors) {
  lr_tensor *x, *c, *i64, *y = NULL, *ix = NULL;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3, 4), &x);
  lr_zeros(LR_DTYPE_C64, LR_SHAPE(2, 3), &c);
  lr_zeros(LR_DTYPE_I64, LR_SHAPE(2, 3), &i64);
  cr_assert_eq(lr_sum(x, 2, (int[]){1, -2}, false, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_sum: dims (1, -2) name dim 1 more than once");
  cr_assert_eq(lr_mean(x, 1, (int[]){3}, false, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_mean: dim 3 out of range for a tensor with 3 dims");
  cr_assert_eq(lr_sum(x, 1, NULL, false, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_sum: argument 'dims' is NULL but ndims is 1");
  cr_assert_eq(lr_sum(NULL, 0, NULL, false, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_sum: argument 'x' is NULL");
  cr_assert_eq(lr_sum(i64, 0, NULL, false, &y), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_sum: x is i64, expected f32, f64, c64 or c128");
  cr_assert_eq(lr_var(c, 0, NULL, 1, false, &y), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_var: x is c64, expected f32 or f64");
  cr_assert_eq(lr_var(x, 0, NULL, -1, false, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_var: correction is -1, expected >= 0");
  cr_assert_eq(lr_max(x, -4, false, &y, &ix), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_max: dim -4 out of range for a tensor with 3 dims");
  cr_assert_eq(lr_min(x, 0, false, NULL, NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_min: values and indices are both NULL");
  cr_assert_eq(lr_max(c, 0, false, &y, NULL), LR_ERR_DTYPE);
  lr_tensor *e;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 0), &e);
  cr_assert_eq(lr_max(e, 1, false, &y, NULL), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_max: x is (2, 0): cannot reduce dim 1 of size 0");
  cr_assert_null(y);
  cr_assert_null(ix);
}
