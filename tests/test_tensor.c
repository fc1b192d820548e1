/* tensor/: creation, queries, raw views, strided copies, host transfers, fill, broadcasting,
 * get/set, print, persistent tensors, device hooks and status messages.
 *
 * Values are exact (small integers and binary fractions), so comparisons use ==. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"

#define ERR_HAS(sub) cr_assert(strstr(lr_last_error(), (sub)) != NULL, "message \"%s\" lacks \"%s\"", lr_last_error(), (sub))
#define ERR_IS(s) cr_assert_str_eq(lr_last_error(), (s))
#define OK(expr) cr_assert_eq((expr), LR_OK, "%s: %s", #expr, lr_last_error())

static const lr_dtype all_dtypes[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128,
                                      LR_DTYPE_I32, LR_DTYPE_I64, LR_DTYPE_BOOL};
#define N_DTYPES (int)(sizeof all_dtypes / sizeof all_dtypes[0])

static bool all_bytes_zero(const void *p, size_t n) {
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    if (c[i]) return false;
  return true;
}

/* A (rows, cols) f64 tensor holding 0, 1, 2, ... in row-major order. */
static lr_tensor *iota_f64(int64_t rows, int64_t cols) {
  lr_tensor *t;
  if (lr_empty(LR_DTYPE_F64, LR_SHAPE(rows, cols), &t) != LR_OK) return NULL;
  for (int64_t i = 0; i < rows * cols; i++) ((double *)t->data)[i] = (double)i;
  return t;
}

/* ---- dtype tables ---- */
Test(tensor, dtype_tables) {
  const size_t sizes[] = {4, 8, 8, 16, 4, 8, 1};
  const char *names[] = {"f32", "f64", "c64", "c128", "i32", "i64", "bool"};
  for (int i = 0; i < N_DTYPES; i++) {
    cr_assert_eq(lr_dtype_size(all_dtypes[i]), sizes[i]);
    cr_assert_str_eq(lr_dtype_name(all_dtypes[i]), names[i]);
  }
  cr_assert_eq(lr_dtype_size((lr_dtype)99), 0);
  cr_assert_str_eq(lr_dtype_name((lr_dtype)99), "?");
  cr_assert(lr_dtype_is_float(LR_DTYPE_C128) && !lr_dtype_is_float(LR_DTYPE_I32) && !lr_dtype_is_float((lr_dtype)-1));
  cr_assert(lr_dtype_is_complex(LR_DTYPE_C64) && !lr_dtype_is_complex(LR_DTYPE_F64));
  cr_assert_eq(lr_dtype_real(LR_DTYPE_C64), LR_DTYPE_F32);
  cr_assert_eq(lr_dtype_real(LR_DTYPE_C128), LR_DTYPE_F64);
  cr_assert_eq(lr_dtype_real(LR_DTYPE_I32), LR_DTYPE_I32);
  cr_assert_eq(lr_dtype_complex(LR_DTYPE_F32), LR_DTYPE_C64);
  cr_assert_eq(lr_dtype_complex(LR_DTYPE_F64), LR_DTYPE_C128);
  cr_assert_str_eq(lr_device_name(LR_DEVICE_CPU), "cpu");
  cr_assert_str_eq(lr_device_name(LR_DEVICE_CUDA), "cuda");
}

/* ---- creation ---- */
Test(tensor, zeros_every_dtype) {
  for (int i = 0; i < N_DTYPES; i++) {
    lr_tensor *t = NULL;
    OK(lr_zeros(all_dtypes[i], LR_SHAPE(2, 3), &t));
    cr_assert_eq(t->dtype, all_dtypes[i]);
    cr_assert_eq(t->device, LR_DEVICE_CPU);
    cr_assert_eq(t->ndim, 2);
    cr_assert(t->shape[0] == 2 && t->shape[1] == 3);
    cr_assert(t->strides[0] == 3 && t->strides[1] == 1);
    cr_assert_eq(lr_numel(t), 6);
    cr_assert_eq(lr_nbytes(t), 6 * lr_dtype_size(all_dtypes[i]));
    cr_assert(lr_is_contiguous(t));
    cr_assert_eq((uintptr_t)t->data % 64, 0, "arena data is 64-byte aligned");
    cr_assert(all_bytes_zero(t->data, lr_nbytes(t)));
    cr_assert(!t->requires_grad && !t->grad && !t->node && !t->base);
    cr_assert(t->flags & LR_TF_ARENA);

    lr_tensor *h = NULL;
    OK(lr_tensor_new(all_dtypes[i], LR_DEVICE_CPU, LR_SHAPE(4, 5, 6), &h));
    cr_assert_eq(h->flags, LR_TF_HEAP | LR_TF_OWNS_DATA);
    cr_assert_eq((uintptr_t)h->data % 64, 0);
    cr_assert(all_bytes_zero(h->data, lr_nbytes(h)));
    cr_assert(h->strides[0] == 30 && h->strides[1] == 6 && h->strides[2] == 1);
    lr_tensor_free(h);
  }
}

Test(tensor, ones_full_like_from_host) {
  lr_tensor *o, *f, *z, *e, *h;
  OK(lr_ones(LR_DTYPE_F32, LR_SHAPE(3), &o));
  for (int i = 0; i < 3; i++) cr_assert_eq(((float *)o->data)[i], 1.0f);
  OK(lr_full(LR_DTYPE_I64, LR_SHAPE(2, 2), 7.0, &f));
  for (int i = 0; i < 4; i++) cr_assert_eq(((int64_t *)f->data)[i], 7);
  OK(lr_zeros_like(f, &z));
  cr_assert(z->dtype == LR_DTYPE_I64 && lr_same_shape(z, f) && all_bytes_zero(z->data, lr_nbytes(z)));
  lr_tensor *tv;
  OK(lr_tensor_transpose(f, 0, 1, &tv));
  OK(lr_empty_like(tv, &e));
  cr_assert(lr_is_contiguous(e) && lr_same_shape(e, tv), "_like is contiguous even for a strided like");
  const double src[3] = {1.5, -2.5, 4};
  OK(lr_from_host(LR_DTYPE_F64, LR_SHAPE(3), src, &h));
  cr_assert_arr_eq(h->data, src, sizeof src);
  cr_assert(h->data != (void *)src, "from_host copies");
  lr_tensor *bad = (lr_tensor *)0x1;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(3), NULL, &bad), LR_ERR_ARG);
  ERR_IS("lr_from_host: src is NULL");
  cr_assert_eq(bad, (lr_tensor *)0x1, "out untouched on failure");
  cr_assert_eq(lr_empty_like(NULL, &e), LR_ERR_ARG);
  ERR_HAS("lr_empty_like");
}

Test(tensor, zero_dim) {
  lr_tensor *s, *z;
  OK(lr_scalar(LR_DTYPE_F64, 2.5, &s));
  cr_assert_eq(s->ndim, 0);
  cr_assert_eq(lr_numel(s), 1);
  cr_assert_eq(lr_nbytes(s), 8);
  cr_assert(lr_is_contiguous(s));
  cr_assert_eq(lr_tensor_get(s, 0), 2.5);
  OK(lr_zeros(LR_DTYPE_C64, 0, NULL, &z));
  cr_assert_eq(z->ndim, 0);
  double re = 1, im = 1;
  lr_tensor_get_c(z, 0, &re, &im);
  cr_assert(re == 0 && im == 0);
  lr_tensor *h;
  OK(lr_tensor_new(LR_DTYPE_I32, LR_DEVICE_CPU, 0, NULL, &h));
  cr_assert_eq(lr_numel(h), 1);
  lr_tensor_free(h);
  char b[32];
  cr_assert_str_eq(lr_shape_str(0, NULL, b, sizeof b), "()");
}

Test(tensor, empty_dims) {
  lr_tensor *t;
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(2, 0, 3), &t));
  cr_assert_eq(lr_numel(t), 0);
  cr_assert_eq(lr_nbytes(t), 0);
  cr_assert(t->strides[0] == 3 && t->strides[1] == 3 && t->strides[2] == 1);
  cr_assert(lr_is_contiguous(t), "a fresh empty tensor is contiguous");
  cr_assert_not_null(t->data);
  OK(lr_tensor_fill_(t, 1.0));
  OK(lr_tensor_copy_to_host(t, NULL, 0));
  OK(lr_tensor_copy_from_host(t, NULL, 0));
  lr_tensor *c;
  OK(lr_tensor_contiguous_raw(t, &c));
  cr_assert_eq(c, t);
  lr_tensor *h;
  OK(lr_tensor_new(LR_DTYPE_C128, LR_DEVICE_CPU, LR_SHAPE(0), &h));
  cr_assert_eq(lr_numel(h), 0);
  cr_assert_not_null(h->data);
  lr_tensor_free(h);
  lr_tensor *v;
  OK(lr_tensor_view(t, LR_SHAPE(0, 5), &v));
  cr_assert(v->shape[0] == 0 && v->shape[1] == 5);
}

Test(tensor, max_dims) {
  int64_t sh[LR_MAX_DIMS + 1];
  for (int i = 0; i <= LR_MAX_DIMS; i++) sh[i] = 1 + (i % 2);
  lr_tensor *t = NULL;
  OK(lr_zeros(LR_DTYPE_F64, LR_MAX_DIMS, sh, &t));
  cr_assert_eq(t->ndim, LR_MAX_DIMS);
  cr_assert_eq(lr_numel(t), 16);
  cr_assert_eq(t->strides[LR_MAX_DIMS - 1], 1);
  cr_assert_eq(t->strides[0], 16);
  lr_tensor *u = NULL;
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_MAX_DIMS + 1, sh, &u), LR_ERR_SHAPE);
  ERR_IS("lr_empty: 9 dims, expected 0..8");
  cr_assert_null(u);
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_MAX_DIMS + 1, sh, &u), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_new: 9 dims, expected 0..8");
  cr_assert_eq(lr_tensor_unsqueeze(t, 0, &u), LR_ERR_SHAPE);
  ERR_HAS("already has 8 dims");
  cr_assert_null(u);
}

Test(tensor, invalid_creation_args) {
  lr_tensor *t = NULL;
  cr_assert_eq(lr_empty(LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_ERR_ARG);
  ERR_IS("lr_empty: out is NULL");
  cr_assert_eq(lr_empty((lr_dtype)99, LR_SHAPE(2), &t), LR_ERR_DTYPE);
  ERR_IS("lr_empty: unknown dtype 99");
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, -3), &t), LR_ERR_SHAPE);
  ERR_IS("lr_empty: dim 1 has size -3");
  cr_assert_eq(lr_empty(LR_DTYPE_F32, 2, NULL, &t), LR_ERR_ARG);
  ERR_IS("lr_empty: shape is NULL");
  cr_assert_eq(lr_empty(LR_DTYPE_F32, -1, NULL, &t), LR_ERR_SHAPE);
  /* numel * element size overflows: must fail instead of allocating a small buffer */
  cr_assert_eq(lr_empty(LR_DTYPE_C128, LR_SHAPE(INT64_C(1) << 32, INT64_C(1) << 32), &t), LR_ERR_SHAPE);
  ERR_IS("lr_empty: shape (4294967296, 4294967296) has too many elements");
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(INT64_MAX, 2), &t), LR_ERR_SHAPE);
  ERR_HAS("too many elements");
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(2), NULL), LR_ERR_ARG);
  ERR_IS("lr_tensor_new: out is NULL");
  cr_assert_eq(lr_tensor_new((lr_dtype)-2, LR_DEVICE_CPU, LR_SHAPE(2), &t), LR_ERR_DTYPE);
  ERR_IS("lr_tensor_new: unknown dtype -2");
  cr_assert_null(t, "out untouched by every failure");
  /* a zero dim makes a huge product harmless */
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(0, INT64_MAX), &t));
  cr_assert_eq(lr_numel(t), 0);
}

Test(tensor, device_without_backend) {
  lr_set_device_hooks(LR_DEVICE_CUDA, NULL); /* whatever a build links, no backend now */
  lr_tensor *t = NULL;
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2), &t), LR_ERR_DEVICE);
  ERR_IS("lr_empty: device cuda is not available (lrnnx built without it, or not initialised)");
  cr_assert_eq(lr_zeros_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2), &t), LR_ERR_DEVICE);
  ERR_HAS("cuda");
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CUDA, LR_SHAPE(3, 3), &t), LR_ERR_DEVICE);
  ERR_IS("lr_tensor_new: device cuda is not available (lrnnx built without it, or not initialised)");
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, (lr_device)5, LR_SHAPE(2), &t), LR_ERR_DEVICE);
  ERR_IS("lr_empty: unknown device 5");
  cr_assert_null(t);
}

/* ---- a fake device backend: host memory behind the hooks, with counters ---- */
static int fake_allocs, fake_frees, fake_h2d, fake_d2h, fake_d2d;
static lr_status fake_alloc(size_t bytes, void **p) {
  *p = malloc(bytes);
  if (!*p) return lr_fail(LR_ERR_MEMORY, "fake_alloc");
  fake_allocs++;
  return LR_OK;
}
static void fake_free(void *p) {
  free(p);
  fake_frees++;
}
static lr_status fake_h2d_fn(void *d, const void *s, size_t n) {
  if (n) memcpy(d, s, n);
  fake_h2d++;
  return LR_OK;
}
static lr_status fake_d2h_fn(void *d, const void *s, size_t n) {
  if (n) memcpy(d, s, n);
  fake_d2h++;
  return LR_OK;
}
static lr_status fake_d2d_fn(void *d, const void *s, size_t n) {
  if (n) memcpy(d, s, n);
  fake_d2d++;
  return LR_OK;
}
static lr_status fake_memset0(void *d, size_t n) {
  if (n) memset(d, 0, n);
  return LR_OK;
}
static int fake_strided, fake_fills;
/* An element-wise strided copy over host memory, as the backend's kernel does it on the GPU. */
static lr_status fake_strided_copy(void *dst, const int64_t *ds, const void *src, const int64_t *ss, int ndim,
                                   const int64_t *shape, size_t es) {
  int64_t n = 1, idx[LR_MAX_DIMS] = {0};
  for (int i = 0; i < ndim; i++) n *= shape[i];
  for (int64_t k = 0; k < n; k++) {
    int64_t rem = k, od = 0, os = 0;
    for (int i = ndim - 1; i >= 0; i--) {
      idx[i] = rem % shape[i];
      rem /= shape[i];
      od += idx[i] * ds[i];
      os += idx[i] * ss[i];
    }
    memcpy((char *)dst + od * (int64_t)es, (const char *)src + os * (int64_t)es, es);
  }
  fake_strided++;
  return LR_OK;
}
static lr_status fake_fill(void *dst, int64_t n, const void *elem, size_t es) {
  for (int64_t i = 0; i < n; i++) memcpy((char *)dst + i * (int64_t)es, elem, es);
  fake_fills++;
  return LR_OK;
}
static const lr_device_hooks fake_hooks = {fake_alloc,   fake_free,    fake_h2d_fn,       fake_d2h_fn,
                                           fake_d2d_fn,  fake_memset0, fake_strided_copy, fake_fill,
                                           NULL,         NULL,         NULL};
/* The same backend without the strided_copy and fill hooks. */
static const lr_device_hooks fake_hooks_plain = {fake_alloc,  fake_free,    fake_h2d_fn, fake_d2h_fn,
                                                 fake_d2d_fn, fake_memset0, NULL,        NULL,
                                                 NULL,        NULL,         NULL};

Test(tensor, device_hooks_arena_and_heap) {
  lr_set_device_hooks(LR_DEVICE_CUDA, &fake_hooks);
  cr_assert_eq(lr_get_device_hooks(LR_DEVICE_CUDA), &fake_hooks);
  lr_arena *a = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(a);
  lr_tensor *d, *d2, *h;
  OK(lr_zeros_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2, 3), &d));
  cr_assert_eq(d->device, LR_DEVICE_CUDA);
  cr_assert_eq(fake_allocs, 1);
  const float src[6] = {1, 2, 3, 4, 5, 6};
  OK(lr_tensor_copy_from_host(d, src, sizeof src));
  cr_assert_eq(fake_h2d, 1);
  float back[6] = {0};
  OK(lr_tensor_copy_to_host(d, back, sizeof back));
  cr_assert_eq(fake_d2h, 1);
  cr_assert_arr_eq(back, src, sizeof src);
  OK(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2, 3), &d2));
  OK(lr_tensor_copy_(d2, d));
  cr_assert_eq(fake_d2d, 1);
  OK(lr_tensor_fill_(d2, 2.5));
  cr_assert_eq(fake_fills, 1, "a contiguous device fill is one fill hook call");
  OK(lr_tensor_copy_to_host(d2, back, sizeof back));
  for (int i = 0; i < 6; i++) cr_assert_eq(back[i], 2.5f);
  /* element access goes through the hooks (one element per copy) */
  int d2h_before = fake_d2h;
  cr_assert_eq(lr_tensor_get(d2, 4), 2.5);
  cr_assert_eq(fake_d2h, d2h_before + 1);
  lr_tensor_set(d2, 1, -7.0, 0);
  cr_assert_eq(lr_tensor_get(d2, 1), -7.0);
  cr_assert(isnan(lr_tensor_get(d2, 6)), "out of range");
  /* strided device views go through the strided_copy hook; across the bus through a contiguous
   * device staging buffer that is freed at once */
  lr_tensor *dt, *c, *dc, *dd;
  OK(lr_tensor_transpose(d, 0, 1, &dt)); /* d is (2, 3): 1 2 3 / 4 5 6 */
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(3, 2), &c));
  int frees_before = fake_frees;
  OK(lr_tensor_copy_(c, dt)); /* device strided -> host contiguous */
  cr_assert_eq(fake_strided, 1);
  cr_assert_eq(fake_frees, frees_before + 1, "the staging buffer is released");
  const float tr[6] = {1, 4, 2, 5, 3, 6};
  cr_assert_arr_eq(c->data, tr, sizeof tr);
  OK(lr_tensor_contiguous_raw(dt, &dc)); /* device -> device */
  cr_assert_eq(dc->device, LR_DEVICE_CUDA);
  cr_assert(lr_is_contiguous(dc));
  cr_assert_eq(fake_strided, 2);
  for (int i = 0; i < 6; i++) cr_assert_eq(lr_tensor_get(dc, i), tr[i]);
  /* host strided -> device strided: staged on both sides */
  lr_tensor *ht, *hb;
  OK(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 3), (const float[]){10, 20, 30, 40, 50, 60}, &hb));
  OK(lr_tensor_transpose(hb, 0, 1, &ht));
  OK(lr_zeros_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2, 3), &dd));
  lr_tensor *ddt;
  OK(lr_tensor_transpose(dd, 0, 1, &ddt));
  OK(lr_tensor_copy_(ddt, ht));
  OK(lr_tensor_copy_to_host(dd, back, sizeof back));
  for (int i = 0; i < 6; i++) cr_assert_eq(back[i], 10.0f * (float)(i + 1));
  /* device strided -> host strided */
  lr_tensor *hc, *hct;
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &hc));
  OK(lr_tensor_transpose(hc, 0, 1, &hct));
  OK(lr_tensor_copy_(hct, ddt));
  for (int i = 0; i < 6; i++) cr_assert_eq(((float *)hc->data)[i], 10.0f * (float)(i + 1));
  /* a strided device fill: one element copied through zero strides */
  int fills_before = fake_fills;
  OK(lr_tensor_fill_(ddt, -1.5));
  cr_assert_eq(fake_fills, fills_before, "strided fills use strided_copy");
  OK(lr_tensor_copy_to_host(dd, back, sizeof back));
  for (int i = 0; i < 6; i++) cr_assert_eq(back[i], -1.5f);
  /* a backend without the hooks refuses strided copies and fills through the host */
  lr_set_device_hooks(LR_DEVICE_CUDA, &fake_hooks_plain);
  cr_assert_eq(lr_tensor_copy_(c, dt), LR_ERR_UNSUPPORTED);
  ERR_IS("lr_tensor_copy_: strided copies on cuda are not supported by its backend");
  OK(lr_tensor_fill_(d2, 4.0));
  cr_assert_eq(lr_tensor_get(d2, 5), 4.0);
  lr_set_device_hooks(LR_DEVICE_CUDA, &fake_hooks);
  /* the arena frees device buffers when it is rewound past them */
  frees_before = fake_frees;
  lr_arena_rewind(a, m);
  cr_assert_eq(fake_frees, frees_before + 4, "d, d2, dc, dd");
  /* persistent device tensors: zero-filled, freed by lr_tensor_free */
  OK(lr_tensor_new(LR_DTYPE_C64, LR_DEVICE_CUDA, LR_SHAPE(4), &h));
  cr_assert(all_bytes_zero(h->data, lr_nbytes(h)));
  frees_before = fake_frees;
  lr_tensor_free(h);
  cr_assert_eq(fake_frees, frees_before + 1);
  lr_set_device_hooks(LR_DEVICE_CUDA, NULL);
}

/* ---- queries ---- */
Test(tensor, strides_and_contiguity) {
  lr_tensor *t, *tt, *n;
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(2, 3, 4), &t));
  cr_assert(t->strides[0] == 12 && t->strides[1] == 4 && t->strides[2] == 1);
  cr_assert(lr_is_contiguous(t));
  OK(lr_tensor_transpose(t, 1, 2, &tt));
  cr_assert(!lr_is_contiguous(tt));
  OK(lr_tensor_narrow(t, 2, 1, 2, &n));
  cr_assert(!lr_is_contiguous(n));
  OK(lr_tensor_narrow(t, 0, 1, 1, &n));
  cr_assert(lr_is_contiguous(n), "narrowing the outer dim keeps rows contiguous");
  /* a size-1 dim's stride does not matter */
  lr_tensor odd = *t;
  odd.shape[0] = 1;
  odd.strides[0] = 999;
  cr_assert(lr_is_contiguous(&odd));
  int64_t st[3];
  lr_contiguous_strides(LR_SHAPE(5, 1, 7), st);
  cr_assert(st[0] == 7 && st[1] == 7 && st[2] == 1);
  int64_t idx[3] = {1, 2, 3};
  cr_assert_eq(lr_offset(t, idx), 12 + 8 + 3);
  cr_assert_eq(lr_offset(tt, (int64_t[]){1, 3, 2}), 12 + 3 + 8);
  lr_tensor *u;
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(2, 3, 4), &u));
  cr_assert(lr_same_shape(t, u) && !lr_same_shape(t, tt));
}

Test(tensor, shape_str) {
  char b[64];
  cr_assert_str_eq(lr_shape_str(LR_SHAPE(3), b, sizeof b), "(3,)");
  cr_assert_str_eq(lr_shape_str(LR_SHAPE(2, 3, 4), b, sizeof b), "(2, 3, 4)");
  char small[6];
  memset(small, 'x', sizeof small);
  lr_shape_str(LR_SHAPE(123, 456, 789), small, sizeof small);
  cr_assert_eq(small[5], '\0', "truncated, terminated, no overflow");
  cr_assert_str_eq(small, "(123,");
}

Test(tensor, norm_dim) {
  int d = -7;
  OK(lr_norm_dim("op", -1, 3, &d));
  cr_assert_eq(d, 2);
  OK(lr_norm_dim("op", 0, 3, &d));
  cr_assert_eq(d, 0);
  cr_assert_eq(lr_norm_dim("lr_sum", 3, 3, &d), LR_ERR_ARG);
  ERR_IS("lr_sum: dim 3 out of range for a tensor with 3 dims");
  cr_assert_eq(lr_norm_dim("lr_sum", -4, 3, &d), LR_ERR_ARG);
  ERR_IS("lr_sum: dim -4 out of range for a tensor with 3 dims");
  cr_assert_eq(d, 0, "out untouched");
  /* 0-dim tensors take 0 and -1, as in PyTorch */
  OK(lr_norm_dim("op", -1, 0, &d));
  cr_assert_eq(d, 0);
  OK(lr_norm_dim("op", 0, 0, &d));
  cr_assert_eq(lr_norm_dim("op", 1, 0, &d), LR_ERR_ARG);
}

/* ---- raw views ---- */
Test(tensor, view_contiguous_and_infer) {
  lr_tensor *x, *v;
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(2, 3, 4), &x));
  for (int i = 0; i < 24; i++) ((double *)x->data)[i] = i;
  OK(lr_tensor_view(x, LR_SHAPE(6, 4), &v));
  cr_assert(v->ndim == 2 && v->shape[0] == 6 && v->shape[1] == 4 && v->strides[0] == 4 && v->strides[1] == 1);
  cr_assert_eq(v->data, x->data, "views share data");
  cr_assert_eq(v->base, x);
  OK(lr_tensor_view(x, LR_SHAPE(4, -1), &v));
  cr_assert(v->shape[0] == 4 && v->shape[1] == 6);
  OK(lr_tensor_view(x, LR_SHAPE(-1), &v));
  cr_assert(v->ndim == 1 && v->shape[0] == 24 && v->strides[0] == 1);
  OK(lr_tensor_view(x, LR_SHAPE(2, -1, 2, 1), &v));
  cr_assert(v->shape[1] == 6 && v->strides[0] == 12 && v->strides[1] == 2 && v->strides[2] == 1);
  /* a view of a view keeps the original base, and writes show through */
  lr_tensor *vv;
  OK(lr_tensor_view(v, LR_SHAPE(24), &vv));
  cr_assert_eq(vv->base, x);
  lr_tensor_set(vv, 5, -1.0, 0);
  cr_assert_eq(((double *)x->data)[5], -1.0);
  /* 0-dim <-> (1, 1) */
  lr_tensor *s, *s11, *s0;
  OK(lr_scalar(LR_DTYPE_F32, 3, &s));
  OK(lr_tensor_view(s, LR_SHAPE(1, 1), &s11));
  cr_assert(s11->ndim == 2 && s11->shape[0] == 1 && lr_tensor_get(s11, 0) == 3);
  OK(lr_tensor_view(s11, 0, NULL, &s0));
  cr_assert_eq(s0->ndim, 0);
  OK(lr_tensor_view(s, LR_SHAPE(-1), &s0));
  cr_assert(s0->ndim == 1 && s0->shape[0] == 1);
}

Test(tensor, view_errors) {
  lr_tensor *x, *v = NULL;
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(2, 3, 4), &x));
  cr_assert_eq(lr_tensor_view(x, LR_SHAPE(5, -1), &v), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_view: cannot view (2, 3, 4) as (5, -1)");
  cr_assert_eq(lr_tensor_view(x, LR_SHAPE(5, 5), &v), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_view: cannot view (2, 3, 4) as (5, 5)");
  cr_assert_eq(lr_tensor_view(x, LR_SHAPE(-1, -1), &v), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_view: more than one -1 in the shape");
  cr_assert_eq(lr_tensor_view(x, LR_SHAPE(-2, 12), &v), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_view: dim 0 has size -2");
  cr_assert_eq(lr_tensor_view(NULL, LR_SHAPE(2), &v), LR_ERR_ARG);
  ERR_IS("lr_tensor_view: x is NULL");
  lr_tensor *e;
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(0, 3), &e));
  cr_assert_eq(lr_tensor_view(e, LR_SHAPE(0, -1), &v), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_view: cannot infer the -1 in (0, -1) for (0, 3): it could be any size");
  cr_assert_null(v);
}

Test(tensor, view_stride_rule) {
  lr_tensor *x = iota_f64(3, 4), *t, *v = NULL;
  /* viewing a transposed tensor needs a copy */
  OK(lr_tensor_transpose(x, 0, 1, &t));
  cr_assert_eq(lr_tensor_view(t, LR_SHAPE(12), &v), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_view: (4, 3) with strides (1, 4) cannot be viewed as (12,) without a copy");
  cr_assert_null(v);
  /* ... but splitting or adding size-1 dims of its own dims does not */
  OK(lr_tensor_view(t, LR_SHAPE(2, 2, 3), &v));
  cr_assert(v->strides[0] == 2 && v->strides[1] == 1 && v->strides[2] == 4);
  cr_assert_eq(lr_tensor_get(v, 4), 5.0); /* t[1][1] = x[1][1] */
  OK(lr_tensor_view(t, LR_SHAPE(4, 1, 3), &v));
  cr_assert(v->strides[0] == 1 && v->strides[2] == 4);

  /* narrowed along the outer dim: rows stay one chunk, any view works */
  lr_tensor *y = iota_f64(4, 6), *n;
  OK(lr_tensor_narrow(y, 0, 1, 2, &n));
  OK(lr_tensor_view(n, LR_SHAPE(12), &v));
  cr_assert(v->strides[0] == 1 && v->data == (double *)y->data + 6);
  cr_assert_eq(lr_tensor_get(v, 11), 17.0);
  /* narrowed along the inner dim: the outer dim can be split, not merged with the inner */
  OK(lr_tensor_narrow(y, 1, 0, 3, &n));
  OK(lr_tensor_view(n, LR_SHAPE(2, 2, 3), &v));
  cr_assert(v->strides[0] == 12 && v->strides[1] == 6 && v->strides[2] == 1);
  cr_assert_eq(lr_tensor_get(v, 4), 7.0); /* [0][1][1] = y[1][1] */
  cr_assert_eq(lr_tensor_view(n, LR_SHAPE(12), &v), LR_ERR_SHAPE);
  ERR_HAS("without a copy");

  /* an expanded tensor (stride 0) can split its broadcast dim */
  lr_tensor *c = iota_f64(3, 1), *ex;
  OK(lr_tensor_expand(c, LR_SHAPE(3, 4), &ex));
  OK(lr_tensor_view(ex, LR_SHAPE(3, 2, 2), &v));
  cr_assert(v->strides[0] == 1 && v->strides[1] == 0 && v->strides[2] == 0);
  cr_assert_eq(lr_tensor_view(ex, LR_SHAPE(12), &v), LR_ERR_SHAPE);
}

Test(tensor, permute_transpose) {
  lr_tensor *x, *p;
  OK(lr_empty(LR_DTYPE_F32, LR_SHAPE(2, 3, 4), &x));
  for (int i = 0; i < 24; i++) ((float *)x->data)[i] = (float)i;
  OK(lr_tensor_permute(x, (int[]){2, 0, 1}, &p));
  cr_assert(p->shape[0] == 4 && p->shape[1] == 2 && p->shape[2] == 3);
  cr_assert(p->strides[0] == 1 && p->strides[1] == 12 && p->strides[2] == 4);
  cr_assert_eq(p->data, x->data);
  /* p[3][1][2] = x[1][2][3] = 23 */
  cr_assert_eq(lr_tensor_get(p, 3 * 6 + 1 * 3 + 2), 23.0);
  lr_tensor *q = NULL;
  cr_assert_eq(lr_tensor_permute(x, (int[]){0, 0, 1}, &q), LR_ERR_ARG);
  ERR_IS("lr_tensor_permute: perm is not a permutation of 3 dims");
  cr_assert_eq(lr_tensor_permute(x, (int[]){0, 1, 3}, &q), LR_ERR_ARG);
  cr_assert_eq(lr_tensor_permute(x, NULL, &q), LR_ERR_ARG);
  cr_assert_null(q);
  OK(lr_tensor_transpose(x, -1, 0, &q));
  cr_assert(q->shape[0] == 4 && q->shape[2] == 2 && q->strides[0] == 1 && q->strides[2] == 12);
  cr_assert_eq(lr_tensor_transpose(x, 0, 3, &q), LR_ERR_ARG);
  ERR_IS("lr_tensor_transpose: dim 3 out of range for a tensor with 3 dims");
  lr_tensor *s;
  OK(lr_scalar(LR_DTYPE_F32, 1, &s));
  OK(lr_tensor_transpose(s, 0, -1, &q));
  cr_assert_eq(q->ndim, 0);
}

Test(tensor, narrow) {
  lr_tensor *x = iota_f64(3, 4), *n = NULL;
  OK(lr_tensor_narrow(x, 1, 1, 2, &n));
  cr_assert(n->shape[0] == 3 && n->shape[1] == 2 && n->strides[0] == 4 && n->strides[1] == 1);
  cr_assert_eq(n->data, (double *)x->data + 1);
  cr_assert_eq(lr_tensor_get(n, 3), 6.0); /* [1][1] = x[1][2] */
  OK(lr_tensor_narrow(x, -2, 3, 0, &n));
  cr_assert_eq(lr_numel(n), 0);
  n = NULL;
  cr_assert_eq(lr_tensor_narrow(x, 1, 2, 3, &n), LR_ERR_ARG);
  ERR_IS("lr_tensor_narrow: [2, 5) out of range for dim 1 of size 4");
  cr_assert_eq(lr_tensor_narrow(x, 1, -1, 2, &n), LR_ERR_ARG);
  cr_assert_eq(lr_tensor_narrow(x, 1, 1, INT64_MAX, &n), LR_ERR_ARG);
  cr_assert_eq(lr_tensor_narrow(x, 2, 0, 1, &n), LR_ERR_ARG);
  ERR_IS("lr_tensor_narrow: dim 2 out of range for a tensor with 2 dims");
  lr_tensor *s;
  OK(lr_scalar(LR_DTYPE_F64, 1, &s));
  cr_assert_eq(lr_tensor_narrow(s, 0, 0, 1, &n), LR_ERR_ARG);
  ERR_IS("lr_tensor_narrow: cannot narrow a 0-dim tensor");
  cr_assert_null(n);
}

Test(tensor, expand) {
  lr_tensor *c = iota_f64(3, 1), *e = NULL;
  OK(lr_tensor_expand(c, LR_SHAPE(2, 3, 4), &e));
  cr_assert(e->ndim == 3 && e->shape[0] == 2 && e->shape[1] == 3 && e->shape[2] == 4);
  cr_assert(e->strides[0] == 0 && e->strides[1] == 1 && e->strides[2] == 0);
  cr_assert_eq(e->data, c->data);
  cr_assert_eq(lr_tensor_get(e, 12 + 2 * 4 + 3), 2.0);
  OK(lr_tensor_expand(c, LR_SHAPE(-1, 5), &e));
  cr_assert(e->shape[0] == 3 && e->strides[0] == 1 && e->shape[1] == 5);
  OK(lr_tensor_expand(c, LR_SHAPE(3, 0), &e));
  cr_assert_eq(lr_numel(e), 0);
  e = NULL;
  lr_tensor *d = iota_f64(3, 2);
  cr_assert_eq(lr_tensor_expand(d, LR_SHAPE(3, 4), &e), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_expand: cannot expand (3, 2) to (3, 4)");
  cr_assert_eq(lr_tensor_expand(d, LR_SHAPE(2), &e), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_expand: cannot expand (3, 2) to (2,)");
  cr_assert_eq(lr_tensor_expand(c, LR_SHAPE(-1, 3, 1), &e), LR_ERR_SHAPE, "-1 for a new leading dim");
  cr_assert_eq(lr_tensor_expand(c, LR_SHAPE(3, -3), &e), LR_ERR_SHAPE, "negative size");
  ERR_IS("lr_tensor_expand: cannot expand (3, 1) to (3, -3)");
  cr_assert_null(e);
}

Test(tensor, squeeze_unsqueeze) {
  lr_tensor *x = iota_f64(2, 3), *u = NULL, *s;
  OK(lr_tensor_unsqueeze(x, 0, &u));
  cr_assert(u->ndim == 3 && u->shape[0] == 1 && u->shape[1] == 2 && u->strides[0] == 6 && u->strides[1] == 3);
  OK(lr_tensor_unsqueeze(x, 1, &u));
  cr_assert(u->shape[1] == 1 && u->strides[1] == 3 && u->shape[2] == 3 && u->strides[2] == 1);
  OK(lr_tensor_unsqueeze(x, -1, &u));
  cr_assert(u->ndim == 3 && u->shape[2] == 1 && u->strides[2] == 1);
  cr_assert_eq(u->data, x->data);
  OK(lr_tensor_squeeze(u, -1, &s));
  cr_assert(s->ndim == 2 && s->shape[0] == 2 && s->shape[1] == 3 && s->strides[0] == 3 && s->strides[1] == 1);
  cr_assert(lr_same_shape(s, x));
  lr_tensor *bad = NULL;
  cr_assert_eq(lr_tensor_unsqueeze(x, 3, &bad), LR_ERR_ARG);
  ERR_IS("lr_tensor_unsqueeze: dim 3 out of range for a tensor with 2 dims");
  cr_assert_eq(lr_tensor_unsqueeze(x, -4, &bad), LR_ERR_ARG);
  cr_assert_eq(lr_tensor_squeeze(x, 0, &bad), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_squeeze: dim 0 has size 2, expected 1");
  cr_assert_eq(lr_tensor_squeeze(x, 2, &bad), LR_ERR_ARG);
  cr_assert_null(bad);
  /* squeezing a scalar gives a scalar (PyTorch) */
  lr_tensor *sc, *sq;
  OK(lr_scalar(LR_DTYPE_F64, 4, &sc));
  OK(lr_tensor_squeeze(sc, 0, &sq));
  cr_assert(sq->ndim == 0 && lr_tensor_get(sq, 0) == 4);
  OK(lr_tensor_unsqueeze(sc, 0, &sq));
  cr_assert(sq->ndim == 1 && sq->shape[0] == 1 && sq->strides[0] == 1);
}

Test(tensor, views_do_not_carry_autograd_state) {
  lr_tensor *x = iota_f64(2, 3), *v;
  x->requires_grad = true;
  OK(lr_tensor_view(x, LR_SHAPE(6), &v));
  cr_assert(!v->requires_grad && !v->grad && !v->node);
  cr_assert_eq(v->flags, LR_TF_ARENA);
  lr_tensor *h, *hv;
  OK(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(2, 2), &h));
  OK(lr_tensor_transpose(h, 0, 1, &hv));
  cr_assert_eq(hv->flags, LR_TF_ARENA, "a view of a heap tensor owns nothing");
  lr_tensor_free(hv); /* ignored: arena tensor */
  lr_tensor_free(h);
}

/* ---- copies ---- */
Test(tensor, copy_between_strided) {
  lr_tensor *x = iota_f64(3, 4), *t, *dst;
  OK(lr_tensor_transpose(x, 0, 1, &t));
  OK(lr_zeros(LR_DTYPE_F64, LR_SHAPE(4, 3), &dst));
  OK(lr_tensor_copy_(dst, t));
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) cr_assert_eq(((double *)dst->data)[i * 3 + j], (double)(j * 4 + i));
  /* into a strided destination: the transposed view of a (3, 4) buffer */
  lr_tensor *buf, *bt;
  OK(lr_zeros(LR_DTYPE_F64, LR_SHAPE(3, 4), &buf));
  OK(lr_tensor_transpose(buf, 0, 1, &bt));
  OK(lr_tensor_copy_(bt, dst));
  cr_assert_arr_eq(buf->data, x->data, 12 * sizeof(double));
  /* narrow -> narrow, leaving everything else alone */
  lr_tensor *y = iota_f64(4, 5), *z, *yn, *zn;
  OK(lr_zeros(LR_DTYPE_F64, LR_SHAPE(4, 5), &z));
  OK(lr_tensor_narrow(y, 1, 1, 3, &yn));
  OK(lr_tensor_narrow(z, 1, 2, 3, &zn));
  OK(lr_tensor_copy_(zn, yn));
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 5; j++) {
      double want = j >= 2 ? (double)(i * 5 + j - 1) : 0.0;
      cr_assert_eq(((double *)z->data)[i * 5 + j], want, "z[%d][%d]", i, j);
    }
  /* from an expanded (stride 0) source */
  lr_tensor *c = iota_f64(1, 3), *ce, *d3;
  OK(lr_tensor_expand(c, LR_SHAPE(2, 3), &ce));
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(2, 3), &d3));
  OK(lr_tensor_copy_(d3, ce));
  for (int i = 0; i < 6; i++) cr_assert_eq(((double *)d3->data)[i], (double)(i % 3));
  /* complex, 3-d, permuted */
  lr_tensor *cz, *czp, *cd;
  OK(lr_empty(LR_DTYPE_C64, LR_SHAPE(2, 3, 2), &cz));
  for (int i = 0; i < 12; i++) lr_tensor_set(cz, i, i, -i);
  OK(lr_tensor_permute(cz, (int[]){2, 1, 0}, &czp));
  OK(lr_empty(LR_DTYPE_C64, LR_SHAPE(2, 3, 2), &cd));
  OK(lr_tensor_copy_(cd, czp));
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int k = 0; k < 2; k++) {
        lr_c64 v = ((lr_c64 *)cd->data)[a * 6 + b * 2 + k];
        int src = k * 6 + b * 2 + a;
        cr_assert(v.re == src && v.im == -src);
      }
  /* 0-dim */
  lr_tensor *s1, *s2;
  OK(lr_scalar(LR_DTYPE_I32, 9, &s1));
  OK(lr_scalar(LR_DTYPE_I32, 0, &s2));
  OK(lr_tensor_copy_(s2, s1));
  cr_assert_eq(*(int32_t *)s2->data, 9);
}

Test(tensor, copy_errors) {
  lr_tensor *a, *b, *c;
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &a));
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(3, 2), &b));
  OK(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 3), &c));
  cr_assert_eq(lr_tensor_copy_(a, b), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_copy_: shapes (2, 3) and (3, 2) differ");
  cr_assert_eq(lr_tensor_copy_(a, c), LR_ERR_DTYPE);
  ERR_IS("lr_tensor_copy_: dtypes f32 and f64 differ");
  cr_assert_eq(lr_tensor_copy_(NULL, c), LR_ERR_ARG);
  ERR_IS("lr_tensor_copy_: NULL tensor");
}

Test(tensor, copy_host) {
  lr_tensor *x = iota_f64(2, 3), *t;
  OK(lr_tensor_transpose(x, 0, 1, &t));
  double got[6];
  OK(lr_tensor_copy_to_host(t, got, sizeof got));
  const double want[6] = {0, 3, 1, 4, 2, 5};
  cr_assert_arr_eq(got, want, sizeof want, "row-major order of the strided view");
  const double in[6] = {10, 20, 30, 40, 50, 60};
  OK(lr_tensor_copy_from_host(t, in, sizeof in));
  const double want_x[6] = {10, 30, 50, 20, 40, 60};
  cr_assert_arr_eq(x->data, want_x, sizeof want_x);
  cr_assert_eq(lr_tensor_copy_from_host(t, in, 8), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_copy_from_host: 8 bytes given, tensor holds 48");
  cr_assert_eq(lr_tensor_copy_to_host(t, got, sizeof got + 8), LR_ERR_SHAPE);
  ERR_IS("lr_tensor_copy_to_host: 56 bytes given, tensor holds 48");
  cr_assert_eq(lr_tensor_copy_to_host(t, NULL, 48), LR_ERR_ARG);
  ERR_IS("lr_tensor_copy_to_host: NULL argument");
  cr_assert_eq(lr_tensor_copy_from_host(NULL, in, 48), LR_ERR_ARG);
  cr_assert_arr_eq(x->data, want_x, sizeof want_x, "failed copies write nothing");
}

Test(tensor, contiguous_raw) {
  lr_tensor *x = iota_f64(2, 3), *t, *c;
  OK(lr_tensor_contiguous_raw(x, &c));
  cr_assert_eq(c, x, "contiguous input is returned as is");
  OK(lr_tensor_transpose(x, 0, 1, &t));
  OK(lr_tensor_contiguous_raw(t, &c));
  cr_assert(c != t && lr_is_contiguous(c) && lr_same_shape(c, t));
  const double want[6] = {0, 3, 1, 4, 2, 5};
  cr_assert_arr_eq(c->data, want, sizeof want);
}

Test(tensor, clone_persistent) {
  lr_tensor *x = iota_f64(2, 3), *t, *h;
  OK(lr_tensor_transpose(x, 0, 1, &t));
  OK(lr_tensor_clone_persistent(t, &h));
  cr_assert(h->flags & LR_TF_HEAP);
  cr_assert(lr_is_contiguous(h) && h->shape[0] == 3 && h->shape[1] == 2);
  const double want[6] = {0, 3, 1, 4, 2, 5};
  cr_assert_arr_eq(h->data, want, sizeof want);
  lr_tensor_free(h);
  cr_assert_eq(lr_tensor_clone_persistent(NULL, &h), LR_ERR_ARG);
}

/* ---- fill ---- */
Test(tensor, fill_every_dtype) {
  for (int i = 0; i < N_DTYPES; i++) {
    lr_dtype dt = all_dtypes[i];
    lr_tensor *t;
    OK(lr_full(dt, LR_SHAPE(2, 3), 2.75, &t));
    for (int64_t e = 0; e < 6; e++) {
      double re, im;
      lr_tensor_get_c(t, e, &re, &im);
      double want = dt == LR_DTYPE_BOOL ? 1.0 : (dt == LR_DTYPE_I32 || dt == LR_DTYPE_I64) ? 2.0 : 2.75;
      cr_assert_eq(re, want, "%s element %lld", lr_dtype_name(dt), (long long)e);
      cr_assert_eq(im, 0.0);
    }
    OK(lr_tensor_fill_(t, -3.9));
    double want = dt == LR_DTYPE_BOOL ? 1.0 : (dt == LR_DTYPE_I32 || dt == LR_DTYPE_I64) ? -3.0 : -3.9;
    if (dt == LR_DTYPE_F32 || dt == LR_DTYPE_C64) want = (float)-3.9;
    cr_assert_eq(lr_tensor_get(t, 5), want, "%s", lr_dtype_name(dt));
    OK(lr_tensor_fill_(t, 0.0));
    cr_assert(all_bytes_zero(t->data, lr_nbytes(t)), "%s", lr_dtype_name(dt));
  }
  /* raw storage: complex imaginary parts are zeroed, bool is 0/1 */
  lr_tensor *z, *b;
  OK(lr_full(LR_DTYPE_C128, LR_SHAPE(2), 1.5, &z));
  cr_assert(((lr_c128 *)z->data)[1].re == 1.5 && ((lr_c128 *)z->data)[1].im == 0.0);
  OK(lr_full(LR_DTYPE_BOOL, LR_SHAPE(2), -0.5, &b));
  cr_assert_eq(((uint8_t *)b->data)[0], 1);
  cr_assert_eq(lr_tensor_fill_(NULL, 1), LR_ERR_ARG);
}

Test(tensor, fill_integers_saturate) {
  lr_tensor *i32, *i64;
  OK(lr_full(LR_DTYPE_I32, LR_SHAPE(1), 1e20, &i32));
  cr_assert_eq(((int32_t *)i32->data)[0], INT32_MAX);
  OK(lr_tensor_fill_(i32, -1e20));
  cr_assert_eq(((int32_t *)i32->data)[0], INT32_MIN);
  OK(lr_tensor_fill_(i32, NAN));
  cr_assert_eq(((int32_t *)i32->data)[0], 0);
  OK(lr_full(LR_DTYPE_I64, LR_SHAPE(1), 1e30, &i64));
  cr_assert_eq(((int64_t *)i64->data)[0], INT64_MAX);
  OK(lr_tensor_fill_(i64, 9223372036854775807.0)); /* rounds to 2^63 */
  cr_assert_eq(((int64_t *)i64->data)[0], INT64_MAX);
  OK(lr_tensor_fill_(i64, -9223372036854775808.0));
  cr_assert_eq(((int64_t *)i64->data)[0], INT64_MIN);
  OK(lr_tensor_fill_(i64, 123456789012.0));
  cr_assert_eq(((int64_t *)i64->data)[0], INT64_C(123456789012));
}

Test(tensor, fill_strided_views) {
  lr_tensor *x, *t, *n;
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(3, 4), &x));
  OK(lr_tensor_narrow(x, 1, 1, 2, &n));
  OK(lr_tensor_fill_(n, 5));
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) cr_assert_eq(((float *)x->data)[i * 4 + j], (j == 1 || j == 2) ? 5.0f : 0.0f);
  OK(lr_tensor_transpose(x, 0, 1, &t));
  OK(lr_tensor_fill_(t, 1));
  for (int i = 0; i < 12; i++) cr_assert_eq(((float *)x->data)[i], 1.0f);
}

/* ---- broadcasting ---- */
Test(tensor, broadcast_shape) {
  int n = -1;
  int64_t s[LR_MAX_DIMS];
  OK(lr_broadcast_shape("op", LR_SHAPE(3, 1, 4), LR_SHAPE(2, 1), &n, s));
  cr_assert(n == 3 && s[0] == 3 && s[1] == 2 && s[2] == 4);
  OK(lr_broadcast_shape("op", 0, NULL, LR_SHAPE(2, 3), &n, s));
  cr_assert(n == 2 && s[0] == 2 && s[1] == 3);
  OK(lr_broadcast_shape("op", 0, NULL, 0, NULL, &n, s));
  cr_assert_eq(n, 0);
  OK(lr_broadcast_shape("op", LR_SHAPE(0), LR_SHAPE(1), &n, s));
  cr_assert(n == 1 && s[0] == 0, "1 broadcasts to 0");
  /* the output may alias an input */
  int64_t a[3] = {5, 1, 1};
  OK(lr_broadcast_shape("op", 3, a, LR_SHAPE(1, 6, 7), &n, a));
  cr_assert(a[0] == 5 && a[1] == 6 && a[2] == 7);
  n = -1;
  s[0] = -1;
  cr_assert_eq(lr_broadcast_shape("lr_add", LR_SHAPE(2, 3), LR_SHAPE(4), &n, s), LR_ERR_SHAPE);
  ERR_IS("lr_add: shapes (2, 3) and (4,) do not broadcast");
  cr_assert(n == -1 && s[0] == -1, "outputs untouched");
  cr_assert_eq(lr_broadcast_shape("lr_mul", LR_SHAPE(2, 1, 3), LR_SHAPE(4, 2), &n, s), LR_ERR_SHAPE);
  ERR_IS("lr_mul: shapes (2, 1, 3) and (4, 2) do not broadcast");
  cr_assert_eq(lr_broadcast_shape("op", LR_SHAPE(0), LR_SHAPE(2), &n, s), LR_ERR_SHAPE);
}

/* ---- get / set ---- */
Test(tensor, get_set) {
  lr_tensor *x = iota_f64(3, 4), *t;
  OK(lr_tensor_transpose(x, 0, 1, &t));
  cr_assert_eq(lr_tensor_get(t, 1), 4.0, "logical row-major index into the view");
  lr_tensor_set(t, 1, -7, 99);
  cr_assert_eq(((double *)x->data)[4], -7.0);
  cr_assert(isnan(lr_tensor_get(t, 12)) && isnan(lr_tensor_get(t, -1)), "out of range reads NaN");
  lr_tensor_set(t, 12, 1, 0); /* ignored */
  lr_tensor *z;
  OK(lr_zeros(LR_DTYPE_C128, LR_SHAPE(2), &z));
  lr_tensor_set(z, 1, 1.25, -2.5);
  double re, im;
  lr_tensor_get_c(z, 1, &re, &im);
  cr_assert(re == 1.25 && im == -2.5);
  cr_assert_eq(lr_tensor_get(z, 1), 1.25);
  lr_tensor_get_c(z, 1, NULL, &im);
  cr_assert_eq(im, -2.5);
  lr_tensor *r;
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(1), &r));
  lr_tensor_set(r, 0, 3.0, 5.0);
  lr_tensor_get_c(r, 0, &re, &im);
  cr_assert(re == 3.0 && im == 0.0, "real tensors read imaginary 0");
  lr_tensor *i;
  OK(lr_zeros(LR_DTYPE_I64, LR_SHAPE(1), &i));
  lr_tensor_set(i, 0, -5.7, 0);
  cr_assert_eq(lr_tensor_get(i, 0), -5.0);
}

/* ---- print ---- */
static char *print_to_string(const lr_tensor *t, const char *name, int max) {
  FILE *f = tmpfile();
  if (!f) return NULL;
  lr_tensor_print(t, name, f, max);
  long n = ftell(f);
  rewind(f);
  char *s = calloc(1, (size_t)n + 1);
  if (s && fread(s, 1, (size_t)n, f) != (size_t)n) s[0] = '\0';
  fclose(f);
  return s;
}

Test(tensor, print) {
  lr_tensor *x;
  OK(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 2), (float[]){1, 2.5f, -3, 4}, &x));
  char *s = print_to_string(x, "x", 10);
  cr_assert_str_eq(s, "x: f32 cpu (2, 2)\n  [1, 2.5, -3, 4]\n");
  free(s);
  s = print_to_string(x, NULL, 2);
  cr_assert_str_eq(s, "tensor: f32 cpu (2, 2)\n  [1, 2.5, ...]\n");
  free(s);
  lr_tensor *t;
  OK(lr_tensor_transpose(x, 0, 1, &t));
  s = print_to_string(t, "t", 4);
  cr_assert_str_eq(s, "t: f32 cpu (2, 2) (strided)\n  [1, -3, 2.5, 4]\n");
  free(s);
  lr_tensor *z;
  OK(lr_zeros(LR_DTYPE_C64, LR_SHAPE(2), &z));
  lr_tensor_set(z, 0, 1, 2);
  lr_tensor_set(z, 1, -0.5, -1);
  s = print_to_string(z, "z", 4);
  cr_assert_str_eq(s, "z: c64 cpu (2,)\n  [1+2i, -0.5-1i]\n");
  free(s);
  lr_tensor *sc;
  OK(lr_scalar(LR_DTYPE_I32, 7, &sc));
  s = print_to_string(sc, "s", 4);
  cr_assert_str_eq(s, "s: i32 cpu ()\n  [7]\n");
  free(s);
  s = print_to_string(NULL, "n", 4);
  cr_assert_str_eq(s, "n: NULL\n");
  free(s);
}

/* ---- persistent tensors ---- */
Test(tensor, new_free) {
  /* many allocations and frees; LeakSanitizer (--config=asan) checks that nothing is lost */
  for (int k = 0; k < 50; k++) {
    lr_tensor *t;
    OK(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_SHAPE(k + 1, 3), &t));
    ((double *)t->data)[3 * k + 2] = 1.0; /* the last element is writable */
    lr_tensor *g;
    OK(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_SHAPE(k + 1, 3), &g));
    t->grad = g; /* freed with t */
    lr_tensor_free(t);
  }
  lr_tensor_free(NULL);
  lr_tensor *a;
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2), &a));
  lr_tensor_free(a); /* arena tensors are ignored */
  cr_assert_eq(((float *)a->data)[1], 0.0f, "still valid");
}

/* ---- status ---- */
Test(tensor, status) {
  lr_clear_error();
  cr_assert_str_eq(lr_last_error(), "");
  cr_assert_eq(lr_fail(LR_ERR_IO, "f: file %s, line %d", "a.txt", 3), LR_ERR_IO);
  cr_assert_str_eq(lr_last_error(), "f: file a.txt, line 3");
  /* the previous message as an argument (a wrapper adding context) */
  cr_assert_eq(lr_fail(LR_ERR_IO, "g: %s", lr_last_error()), LR_ERR_IO);
  cr_assert_str_eq(lr_last_error(), "g: f: file a.txt, line 3");
  char big[2000];
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  lr_fail(LR_ERR_ARG, "%s", big);
  cr_assert_eq(strlen(lr_last_error()), 1023, "truncated to the buffer");
  cr_assert_str_eq(lr_status_name(LR_OK), "LR_OK");
  cr_assert_str_eq(lr_status_name(LR_ERR_SHAPE), "LR_ERR_SHAPE");
  cr_assert_str_eq(lr_status_name(LR_ERR_INTERNAL), "LR_ERR_INTERNAL");
  cr_assert_str_eq(lr_status_name((lr_status)77), "LR_ERR_?");
}

static lr_status try_twice(lr_status first) {
  LR_TRY(first);
  LR_TRY(lr_fail(LR_ERR_STATE, "second"));
  return LR_OK;
}

Test(tensor, lr_try) {
  cr_assert_eq(try_twice(LR_ERR_DTYPE), LR_ERR_DTYPE);
  cr_assert_eq(try_twice(LR_OK), LR_ERR_STATE);
  cr_assert_str_eq(lr_last_error(), "second");
}
