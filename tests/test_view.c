/* View ops: gradchecks (cases_view.c), shared memory, exact values, backward windows, errors. */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/cases.h"

#define ERR_HAS(s) cr_assert(strstr(lr_last_error(), s), "message: %s", lr_last_error())

static lr_tensor *iota(lr_dtype dt, int ndim, const int64_t *shape) {
  lr_tensor *t;
  cr_assert_eq(lr_empty(dt, ndim, shape, &t), LR_OK);
  for (int64_t i = 0; i < lr_numel(t); i++) lr_tensor_set(t, i, (double)i, 0);
  return t;
}

static void expect_values(const lr_tensor *t, int n, const double *want) {
  cr_assert_eq(lr_numel(t), n, "numel %lld, expected %d", (long long)lr_numel(t), n);
  for (int i = 0; i < n; i++)
    cr_expect_eq(lr_tensor_get(t, i), want[i], "element %d: %g, expected %g", i, lr_tensor_get(t, i), want[i]);
}

Test(view, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_view, "view"), 0); }

/* Writing through the base is visible in every view: they share memory. */
Test(view, views_share_data) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(2, 1, 3));
  lr_tensor *v[8];
  cr_assert_eq(lr_reshape(x, LR_SHAPE(3, 2), &v[0]), LR_OK);
  cr_assert_eq(lr_permute(x, (const int[]){2, 0, 1}, &v[1]), LR_OK);
  cr_assert_eq(lr_transpose(x, 0, 2, &v[2]), LR_OK);
  cr_assert_eq(lr_narrow(x, 2, 1, 2, &v[3]), LR_OK);
  cr_assert_eq(lr_slice(x, -1, -2, INT64_MAX, 1, &v[4]), LR_OK);
  cr_assert_eq(lr_expand(x, LR_SHAPE(4, 2, 5, 3), &v[5]), LR_OK);
  cr_assert_eq(lr_squeeze(x, 1, &v[6]), LR_OK);
  cr_assert_eq(lr_unsqueeze(x, 0, &v[7]), LR_OK);
  ((float *)x->data)[5] = 42.0f; /* x[1, 0, 2] */
  double last[8] = {
      lr_tensor_get(v[0], 5),                 /* (3, 2): element 5 */
      lr_tensor_get(v[1], 2 * 2 + 1),         /* (3, 2, 1): [2, 1, 0] */
      lr_tensor_get(v[2], 2 * 2 + 1),         /* (3, 1, 2): [2, 0, 1] */
      lr_tensor_get(v[3], 3),                 /* (2, 1, 2): [1, 0, 1] */
      lr_tensor_get(v[4], 3),                 /* same window */
      lr_tensor_get(v[5], 1 * 5 * 3 + 4 * 3 + 2), /* (4, 2, 5, 3): [0, 1, 4, 2] */
      lr_tensor_get(v[6], 5),
      lr_tensor_get(v[7], 5),
  };
  for (int i = 0; i < 8; i++) cr_expect_eq(last[i], 42.0, "view %d reads %g", i, last[i]);
  for (int i = 0; i < 8; i++) cr_expect_eq(v[i]->base, x, "view %d has another base", i);
}

Test(view, reshape_copies_only_when_it_must) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(3, 4)), *t, *flat, *back;
  cr_assert_eq(lr_transpose(x, 0, 1, &t), LR_OK); /* (4, 3), strides (1, 4) */
  cr_assert_eq(lr_reshape(t, LR_SHAPE(-1), &flat), LR_OK);
  cr_expect_neq(flat->data, x->data, "a transposed tensor cannot be flattened without a copy");
  expect_values(flat, 12, (double[]){0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
  cr_assert_eq(lr_reshape(t, LR_SHAPE(4, 1, 3), &back), LR_OK); /* splitting in a size-1 dim: a view */
  cr_expect_eq(back->data, x->data);
}

Test(view, slice_values) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(2, 7)), *y;
  cr_assert_eq(lr_slice(x, 1, -6, 7, 2, &y), LR_OK);
  expect_values(y, 6, (double[]){1, 3, 5, 8, 10, 12});
  cr_assert_eq(lr_slice(x, 1, 5, 2, 1, &y), LR_OK); /* empty, as Python's [5:2] */
  cr_expect_eq(y->shape[1], 0);
  cr_assert_eq(lr_slice(x, 1, -100, 100, 3, &y), LR_OK); /* bounds clamp */
  expect_values(y, 6, (double[]){0, 3, 6, 7, 10, 13});
  cr_assert_eq(lr_slice(x, 0, 1, INT64_MAX, 5, &y), LR_OK);
  expect_values(y, 7, (double[]){7, 8, 9, 10, 11, 12, 13});
}

Test(view, contiguous_returns_x_or_a_copy) {
  lr_tensor *x = iota(LR_DTYPE_C64, LR_SHAPE(2, 3)), *y, *t;
  cr_assert_eq(lr_contiguous(x, &y), LR_OK);
  cr_expect_eq(y, x);
  cr_assert_eq(lr_transpose(x, 0, 1, &t), LR_OK);
  cr_assert_eq(lr_contiguous(t, &y), LR_OK);
  cr_expect(lr_is_contiguous(y));
  cr_expect_neq(y->data, x->data);
  expect_values(y, 6, (double[]){0, 3, 1, 4, 2, 5});
}

/* Gradients of overlapping windows add up in x's gradient buffer. */
Test(view, narrow_and_slice_backward_accumulate) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(6)), *a, *b, *y, *w;
  x->requires_grad = true;
  cr_assert_eq(lr_narrow(x, 0, 1, 3, &a), LR_OK);            /* x[1], x[2], x[3] */
  cr_assert_eq(lr_slice(x, 0, -3, INT64_MAX, 2, &b), LR_OK); /* x[3], x[5] */
  lr_tensor *two[2] = {a, b};
  cr_assert_eq(lr_cat(2, two, 0, &y), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(5), (double[]){1, 2, 3, 4, 5}, &w), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  expect_values(x->grad, 6, (double[]){0, 1, 2, 3 + 4, 0, 5});
}

/* expand's backward sums over the expanded dims; a size-1 dim keeps its place. */
Test(view, expand_backward_sums) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(3, 1)), *y, *w;
  x->requires_grad = true;
  cr_assert_eq(lr_expand(x, LR_SHAPE(2, 3, 4), &y), LR_OK);
  cr_expect_eq(y->strides[0], 0);
  cr_expect_eq(y->strides[2], 0);
  cr_assert_eq(lr_ones(LR_DTYPE_F64, LR_SHAPE(2, 3, 4), &w), LR_OK);
  cr_assert_eq(lr_backward(y, w), LR_OK);
  expect_values(x->grad, 3, (double[]){8, 8, 8});
}

Test(view, squeeze_of_a_non_unit_dim_is_a_no_op) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(2, 3)), *y;
  cr_assert_eq(lr_squeeze(x, -1, &y), LR_OK);
  cr_expect_eq(y->ndim, 2);
  cr_expect_eq(y->data, x->data);
}

/* Integer tensors can be viewed; nothing is recorded. */
Test(view, integer_views_do_not_record) {
  lr_tensor *x = iota(LR_DTYPE_I64, LR_SHAPE(2, 3)), *y;
  int before = lr_tape_size();
  cr_assert_eq(lr_reshape(x, LR_SHAPE(3, 2), &y), LR_OK);
  cr_assert_eq(lr_permute(y, (const int[]){1, 0}, &y), LR_OK);
  cr_expect_eq(lr_tape_size(), before);
  cr_expect_eq(lr_tensor_get(y, 1), 2.0);
}

Test(view, reshape_errors) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(2, 3)), *y = NULL;
  cr_assert_eq(lr_reshape(x, LR_SHAPE(4, 2), &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_reshape: cannot reshape (2, 3) (6 elements) into (4, 2)");
  cr_assert_eq(lr_reshape(x, LR_SHAPE(-1, 4), &y), LR_ERR_SHAPE);
  ERR_HAS("lr_reshape: cannot reshape (2, 3)");
  cr_assert_eq(lr_reshape(x, LR_SHAPE(-1, -1), &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_reshape: -1 at dims 0 and 1; only one size can be inferred");
  cr_assert_eq(lr_reshape(x, LR_SHAPE(-2, 3), &y), LR_ERR_SHAPE);
  ERR_HAS("invalid size -2 at dim 0");
  cr_assert_eq(lr_reshape(NULL, LR_SHAPE(6), &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_reshape: argument 'x' is NULL");
  cr_expect_null(y);
}

Test(view, permute_transpose_errors) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(2, 3, 4)), *y = NULL;
  cr_assert_eq(lr_permute(x, (const int[]){0, 0, 1}, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_permute: perm (0, 0, 1) is not a permutation of the 3 dims of x");
  cr_assert_eq(lr_permute(x, (const int[]){0, 1, 3}, &y), LR_ERR_ARG);
  cr_assert_eq(lr_permute(x, (const int[]){-1, 0, 1}, &y), LR_OK); /* negative dims count from the end */
  cr_expect_eq(y->shape[0], 4);
  y = NULL;
  cr_assert_eq(lr_transpose(x, 0, 3, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_transpose: dim 3 out of range for a tensor with 3 dims");
  cr_expect_null(y);
}

Test(view, narrow_slice_errors) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(2, 6)), *y = NULL;
  cr_assert_eq(lr_narrow(x, 1, 4, 3, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_narrow: start 4, length 3 out of range for dim 1 of size 6");
  cr_assert_eq(lr_narrow(x, 2, 0, 1, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_narrow: dim 2 out of range for a tensor with 2 dims");
  cr_assert_eq(lr_slice(x, 1, 0, 6, 0, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_slice: step 0, expected > 0");
  cr_assert_eq(lr_slice(x, -3, 0, 6, 1, &y), LR_ERR_ARG);
  ERR_HAS("lr_slice: dim -3 out of range");
  cr_expect_null(y);
  cr_assert_eq(lr_narrow(x, 1, -2, 2, &y), LR_OK); /* negative start counts from the end */
  expect_values(y, 4, (double[]){4, 5, 10, 11});
}

Test(view, expand_squeeze_unsqueeze_errors) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(2, 3)), *y = NULL;
  cr_assert_eq(lr_expand(x, LR_SHAPE(4, 3), &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_expand: cannot expand (2, 3) to (4, 3)");
  cr_assert_eq(lr_expand(x, LR_SHAPE(-1, 2, 3), &y), LR_ERR_SHAPE);
  ERR_HAS("size -1 at dim 0");
  cr_assert_eq(lr_squeeze(x, 2, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_squeeze: dim 2 out of range for a tensor with 2 dims");
  cr_assert_eq(lr_unsqueeze(x, 3, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_unsqueeze: dim 3 out of range for a tensor with 2 dims");
  cr_assert_eq(lr_contiguous(NULL, &y), LR_ERR_ARG);
  cr_expect_null(y);
}
