/* Shape ops: gradchecks (cases_shape.c), exact values, embedding padding, deterministic index
 * backward, and error paths. */
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

static lr_tensor *i64(int ndim, const int64_t *shape, const int64_t *v) {
  lr_tensor *t;
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, ndim, shape, v, &t), LR_OK);
  return t;
}

static void expect_values(const lr_tensor *t, int n, const double *want) {
  cr_assert_eq(lr_numel(t), n, "numel %lld, expected %d", (long long)lr_numel(t), n);
  for (int i = 0; i < n; i++)
    cr_expect_eq(lr_tensor_get(t, i), want[i], "element %d: %g, expected %g", i, lr_tensor_get(t, i), want[i]);
}

Test(shape, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_shape, "shape"), 0); }

Test(shape, cat_stack_values) {
  lr_tensor *a = iota(LR_DTYPE_F32, LR_SHAPE(2, 2)), *b, *t, *y;
  cr_assert_eq(lr_full(LR_DTYPE_F32, LR_SHAPE(2, 1), 9, &b), LR_OK);
  lr_tensor *ab[2] = {a, b};
  cr_assert_eq(lr_cat(2, ab, -1, &y), LR_OK);
  expect_values(y, 6, (double[]){0, 1, 9, 2, 3, 9});
  cr_assert_eq(lr_transpose(a, 0, 1, &t), LR_OK); /* strided input */
  lr_tensor *at[2] = {a, t};
  cr_assert_eq(lr_stack(2, at, -1, &y), LR_OK);
  cr_assert_eq(y->ndim, 3);
  cr_expect_eq(y->shape[2], 2);
  expect_values(y, 8, (double[]){0, 0, 1, 2, 2, 1, 3, 3});
  lr_tensor *i[1] = {iota(LR_DTYPE_I64, LR_SHAPE(3))}; /* copies take integer tensors too */
  cr_assert_eq(lr_stack(1, i, 0, &y), LR_OK);
  expect_values(y, 3, (double[]){0, 1, 2});
}

Test(shape, cat_errors) {
  lr_tensor *a = iota(LR_DTYPE_F32, LR_SHAPE(2, 3)), *b = iota(LR_DTYPE_F32, LR_SHAPE(3, 4)), *c = iota(LR_DTYPE_F64, LR_SHAPE(2, 3));
  lr_tensor *y = NULL;
  cr_assert_eq(lr_cat(3, (lr_tensor *[]){a, a, b}, 1, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(),
                   "lr_cat: tensor 2 has shape (3, 4), tensor 0 has shape (2, 3): sizes differ in dim 0 (cat dim is 1)");
  cr_assert_eq(lr_cat(2, (lr_tensor *[]){a, c}, 0, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_cat: tensor 1 is f64 on cpu, tensor 0 is f32 on cpu");
  cr_assert_eq(lr_cat(2, (lr_tensor *[]){a, NULL}, 0, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_cat: tensor 1 is NULL");
  cr_assert_eq(lr_cat(0, (lr_tensor *[]){a}, 0, &y), LR_ERR_ARG);
  cr_assert_eq(lr_cat(1, (lr_tensor *[]){a}, -3, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_cat: dim -3 out of range for a tensor with 2 dims");
  cr_assert_eq(lr_cat(2, (lr_tensor *[]){a, iota(LR_DTYPE_F32, LR_SHAPE(6))}, 0, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_cat: tensor 1 has shape (6,), tensor 0 has shape (2, 3): 1 and 2 dims");
  cr_assert_eq(lr_stack(2, (lr_tensor *[]){a, b}, 0, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_stack: tensor 1 has shape (3, 4), tensor 0 has shape (2, 3); stack needs equal shapes");
  cr_assert_eq(lr_stack(1, (lr_tensor *[]){a}, 3, &y), LR_ERR_ARG);
  cr_expect_null(y);
}

Test(shape, split_chunk_views) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(7, 2)), *p[4];
  cr_assert_eq(lr_split(x, 3, (const int64_t[]){2, 0, 5}, 0, p), LR_OK);
  cr_expect_eq(p[1]->shape[0], 0);
  ((double *)x->data)[4] = 100; /* x[2, 0]: the first row of piece 2 */
  cr_expect_eq(lr_tensor_get(p[2], 0), 100.0, "split pieces are views");
  int n;
  cr_assert_eq(lr_chunk(x, 3, 0, p, &n), LR_OK);
  cr_assert_eq(n, 3);
  cr_expect(p[0]->shape[0] == 3 && p[1]->shape[0] == 3 && p[2]->shape[0] == 1);
  lr_tensor *five = iota(LR_DTYPE_F64, LR_SHAPE(5));
  cr_assert_eq(lr_chunk(five, 4, -1, p, &n), LR_OK); /* torch: pieces of 2 -> 2, 2, 1 */
  cr_assert_eq(n, 3);
  cr_expect(p[0]->shape[0] == 2 && p[2]->shape[0] == 1);
  expect_values(p[2], 1, (double[]){4});
  lr_tensor *empty;
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(0, 2), &empty), LR_OK);
  cr_assert_eq(lr_chunk(empty, 3, 0, p, &n), LR_OK);
  cr_expect_eq(n, 3);
}

/* Only piece 1 reaches the loss: the gradient is zero outside its window. */
Test(shape, split_partial_gradient) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(5)), *p[3], *w;
  x->requires_grad = true;
  cr_assert_eq(lr_split(x, 3, (const int64_t[]){1, 3, 1}, 0, p), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(3), (double[]){1, 2, 3}, &w), LR_OK);
  cr_assert_eq(lr_backward(p[1], w), LR_OK);
  expect_values(x->grad, 5, (double[]){0, 1, 2, 3, 0});
}

Test(shape, split_chunk_errors) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(2, 6)), *p[4] = {NULL};
  int n = -1;
  cr_assert_eq(lr_split(x, 2, (const int64_t[]){2, 3}, 1, p), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_split: sizes sum to 5, dim 1 has size 6");
  cr_assert_eq(lr_split(x, 2, (const int64_t[]){7, -1}, 1, p), LR_ERR_ARG);
  ERR_HAS("size -1 of piece 1 is negative");
  cr_assert_eq(lr_chunk(x, 0, 1, p, &n), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_chunk: 0 chunks, expected at least 1");
  cr_assert_eq(lr_chunk(x, 2, 2, p, &n), LR_ERR_ARG);
  cr_expect_null(p[0]);
  cr_expect_eq(n, -1);
}

Test(shape, index_select_gather_values) {
  lr_tensor *x = iota(LR_DTYPE_C64, LR_SHAPE(3, 4)), *y;
  cr_assert_eq(lr_index_select(x, 1, i64(LR_SHAPE(3), (const int64_t[]){3, 0, 3}), &y), LR_OK);
  expect_values(y, 9, (double[]){3, 0, 3, 7, 4, 7, 11, 8, 11});
  cr_assert_eq(lr_gather(x, 0, i64(LR_SHAPE(2, 3), (const int64_t[]){2, 0, 1, 1, 1, 2}), &y), LR_OK);
  expect_values(y, 6, (double[]){8, 1, 6, 4, 5, 10});
}

Test(shape, index_errors) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(3, 4)), *y = NULL, *fidx;
  cr_assert_eq(lr_index_select(x, 0, i64(LR_SHAPE(2), (const int64_t[]){1, 3}), &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_index_select: index 3 at position 1 is out of range for dim 0 of size 3");
  cr_assert_eq(lr_index_select(x, 1, i64(LR_SHAPE(1), (const int64_t[]){-1}), &y), LR_ERR_ARG);
  ERR_HAS("index -1 at position 0");
  cr_assert_eq(lr_index_select(x, 1, i64(LR_SHAPE(1, 1), (const int64_t[]){0}), &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_index_select: index has shape (1, 1), expected 1-D");
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2), &fidx), LR_OK);
  cr_assert_eq(lr_index_select(x, 1, fidx, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_index_select: index is f32, expected i32 or i64");
  cr_assert_eq(lr_index_select(x, 2, i64(LR_SHAPE(1), (const int64_t[]){0}), &y), LR_ERR_ARG);
  cr_assert_eq(lr_gather(x, 1, i64(LR_SHAPE(4, 1), (const int64_t[]){0, 0, 0, 0}), &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_gather: index has shape (4, 1), x has shape (3, 4): index dim 0 has size 4 > 3");
  cr_assert_eq(lr_gather(x, 1, i64(LR_SHAPE(2), (const int64_t[]){0, 0}), &y), LR_ERR_SHAPE);
  ERR_HAS("expected the same number of dims");
  cr_assert_eq(lr_gather(x, 1, i64(LR_SHAPE(1, 2), (const int64_t[]){0, 4}), &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_gather: index 4 at position 1 is out of range for dim 1 of size 4");
  cr_assert_eq(lr_gather(NULL, 1, fidx, &y), LR_ERR_ARG);
  cr_expect_null(y);
}

Test(shape, embedding_values_and_padding) {
  lr_tensor *w = iota(LR_DTYPE_F64, LR_SHAPE(4, 2)), *y, *g;
  w->requires_grad = true;
  lr_tensor *ids;
  cr_assert_eq(lr_from_host(LR_DTYPE_I32, LR_SHAPE(2, 2), (const int32_t[]){3, 1, 1, 0}, &ids), LR_OK);
  cr_assert_eq(lr_embedding(w, ids, 1, &y), LR_OK);
  cr_assert_eq(y->ndim, 3);
  expect_values(y, 8, (double[]){6, 7, 2, 3, 2, 3, 0, 1}); /* the padding row is still read */
  cr_assert_eq(lr_ones(LR_DTYPE_F64, LR_SHAPE(2, 2, 2), &g), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK);
  expect_values(w->grad, 8, (double[]){1, 1, 0, 0, 0, 0, 1, 1}); /* row 1 (padding) gets nothing */
}

Test(shape, embedding_errors) {
  lr_tensor *w = iota(LR_DTYPE_F32, LR_SHAPE(10, 3)), *y = NULL, *ids = i64(LR_SHAPE(3), (const int64_t[]){0, 9, 10});
  cr_assert_eq(lr_embedding(w, ids, -1, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_embedding: id 10 at position 2 is out of range for V = 10");
  cr_assert_eq(lr_embedding(w, i64(LR_SHAPE(1), (const int64_t[]){-3}), -1, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_embedding: id -3 at position 0 is out of range for V = 10");
  cr_assert_eq(lr_embedding(w, i64(LR_SHAPE(1), (const int64_t[]){0}), 10, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_embedding: padding_idx 10 out of range for V = 10");
  cr_assert_eq(lr_embedding(iota(LR_DTYPE_F32, LR_SHAPE(10)), ids, -1, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_embedding: weight has shape (10,), expected 2 dims (V, H)");
  cr_assert_eq(lr_embedding(w, w, -1, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_embedding: ids is f32, expected i32 or i64");
  cr_assert_eq(lr_embedding(iota(LR_DTYPE_I64, LR_SHAPE(2, 2)), ids, -1, &y), LR_ERR_DTYPE);
  cr_expect_null(y);
}

/* Index backward with many duplicates, large enough to run threaded: equal, bit for bit, to a
 * serial sum in index order (f32, so a different order would show). */
Test(shape, index_backward_is_deterministic) {
  enum { V = 7, H = 300, N = 4000 };
  lr_tensor *w, *ids, *y, *g;
  cr_assert_eq(lr_empty(LR_DTYPE_F32, LR_SHAPE(V, H), &w), LR_OK);
  lr_gc_fill_uniform(w, -1, 1, 1);
  w->requires_grad = true;
  cr_assert_eq(lr_empty(LR_DTYPE_I64, LR_SHAPE(N), &ids), LR_OK);
  for (int i = 0; i < N; i++) ((int64_t *)ids->data)[i] = (i * 7919) % V;
  cr_assert_eq(lr_empty(LR_DTYPE_F32, LR_SHAPE(N, H), &g), LR_OK);
  lr_gc_fill_uniform(g, -1, 1, 2);
  cr_assert_eq(lr_embedding(w, ids, -1, &y), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK);
  static float ref[V * H];
  const float *gp = g->data;
  for (int i = 0; i < N; i++)
    for (int h = 0; h < H; h++) ref[((i * 7919) % V) * H + h] += gp[(int64_t)i * H + h];
  cr_assert_eq(memcmp(ref, w->grad->data, sizeof ref), 0, "embedding backward differs from the serial sum");

  lr_tensor *x, *xs, *gx;
  cr_assert_eq(lr_empty(LR_DTYPE_F32, LR_SHAPE(3, V, 50), &x), LR_OK);
  lr_gc_fill_uniform(x, -1, 1, 3);
  x->requires_grad = true;
  cr_assert_eq(lr_index_select(x, 1, ids, &xs), LR_OK);
  cr_assert_eq(lr_empty(LR_DTYPE_F32, LR_SHAPE(3, N, 50), &gx), LR_OK);
  lr_gc_fill_uniform(gx, -1, 1, 4);
  cr_assert_eq(lr_backward(xs, gx), LR_OK);
  static float ref2[3 * V * 50];
  const float *gq = gx->data;
  for (int o = 0; o < 3; o++)
    for (int i = 0; i < N; i++)
      for (int q = 0; q < 50; q++) ref2[(o * V + (i * 7919) % V) * 50 + q] += gq[((int64_t)o * N + i) * 50 + q];
  cr_assert_eq(memcmp(ref2, x->grad->data, sizeof ref2), 0, "index_select backward differs from the serial sum");
}

Test(shape, pad_values_and_errors) {
  lr_tensor *x = iota(LR_DTYPE_F64, LR_SHAPE(2, 3)), *y = NULL;
  cr_assert_eq(lr_pad(x, 1, (const int64_t[]){1, -1}, -5, &y), LR_OK); /* last dim: 1 before, crop 1 after */
  expect_values(y, 6, (double[]){-5, 0, 1, -5, 3, 4});
  cr_assert_eq(lr_pad(x, 2, (const int64_t[]){0, 0, 1, 0}, 7, &y), LR_OK); /* dim 0: 1 before */
  expect_values(y, 9, (double[]){7, 7, 7, 0, 1, 2, 3, 4, 5});
  cr_assert_eq(lr_pad(x, 1, (const int64_t[]){-3, 2}, 1, &y), LR_OK); /* everything cropped */
  expect_values(y, 4, (double[]){1, 1, 1, 1});
  y = NULL;
  cr_assert_eq(lr_pad(x, 3, (const int64_t[]){0, 0, 0, 0, 0, 0}, 0, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_pad: 3 pairs of pads for a tensor with 2 dims");
  cr_assert_eq(lr_pad(x, 1, (const int64_t[]){-2, -2}, 0, &y), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_pad: pads (-2, -2) make dim 1 of size 3 negative (-1)");
  cr_expect_null(y);
}

Test(shape, flip_roll_values_and_errors) {
  lr_tensor *x = iota(LR_DTYPE_C128, LR_SHAPE(2, 3)), *y = NULL;
  cr_assert_eq(lr_flip(x, 2, (const int[]){-1, 0}, &y), LR_OK);
  expect_values(y, 6, (double[]){5, 4, 3, 2, 1, 0});
  cr_assert_eq(lr_flip(x, 1, (const int[]){1}, &y), LR_OK);
  expect_values(y, 6, (double[]){2, 1, 0, 5, 4, 3});
  cr_assert_eq(lr_roll(x, -4, 1, &y), LR_OK); /* -4 = -1 mod 3 */
  expect_values(y, 6, (double[]){1, 2, 0, 4, 5, 3});
  cr_assert_eq(lr_roll(x, 1, 0, &y), LR_OK);
  expect_values(y, 6, (double[]){3, 4, 5, 0, 1, 2});
  y = NULL;
  cr_assert_eq(lr_flip(x, 2, (const int[]){1, -1}, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_flip: dim 1 appears more than once in dims");
  cr_assert_eq(lr_flip(x, 1, (const int[]){2}, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_flip: dim 2 out of range for a tensor with 2 dims");
  cr_assert_eq(lr_roll(x, 1, -3, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_roll: dim -3 out of range for a tensor with 2 dims");
  cr_expect_null(y);
}

Test(shape, cumsum_values_and_errors) {
  lr_tensor *x = iota(LR_DTYPE_F32, LR_SHAPE(2, 3)), *y = NULL;
  cr_assert_eq(lr_cumsum(x, 1, &y), LR_OK);
  expect_values(y, 6, (double[]){0, 1, 3, 3, 7, 12});
  cr_assert_eq(lr_cumsum(x, -2, &y), LR_OK);
  expect_values(y, 6, (double[]){0, 1, 2, 3, 5, 7});
  lr_tensor *z = iota(LR_DTYPE_C64, LR_SHAPE(3));
  lr_tensor_set(z, 2, 2, -1);
  cr_assert_eq(lr_cumsum(z, 0, &y), LR_OK);
  double re, im;
  lr_tensor_get_c(y, 2, &re, &im);
  cr_expect(re == 3 && im == -1, "cumsum of (0, 1, 2-i) ends at %g%+gi", re, im);
  y = NULL;
  cr_assert_eq(lr_cumsum(iota(LR_DTYPE_I64, LR_SHAPE(3)), 0, &y), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_cumsum: x is i64, expected f32, f64, c64 or c128");
  cr_assert_eq(lr_cumsum(x, 2, &y), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_cumsum: dim 2 out of range for a tensor with 2 dims");
  cr_expect_null(y);
}
