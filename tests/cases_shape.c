/* Gradcheck cases for the shape ops (F64; C128 for cat, flip and cumsum). Inputs include size-1
 * dims, non-contiguous leaves (gc_leaf_strided) and indices with repeats, so index backward has
 * to sum duplicates. Every op here is linear: the default tolerances (atol 1e-6, rtol 1e-5) hold
 * with room. Embedding's padding row gets no gradient by design, which a finite difference would
 * contradict, so its padding behaviour is checked exactly in test_shape.c instead.
 * Index tensors are made on the host and moved with gc_input, so the table also runs on the GPU
 * (tests/test_cuda_parity_gradcheck.c). */
#include "tests/cases.h"

#define F64 LR_DTYPE_F64
#define C128 LR_DTYPE_C128

/* An index tensor on gc_device (indices must live on the device of the tensor they index). */
static lr_tensor *idx64(int ndim, const int64_t *shape, const int64_t *v) {
  lr_tensor *t = NULL;
  if (lr_from_host(LR_DTYPE_I64, ndim, shape, v, &t) != LR_OK) return NULL;
  return gc_input(t);
}

static lr_status f_cat_last(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_cat(3, in, -1, out);
}
static lr_status cat3(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(F64, LR_SHAPE(2, 3), -1, 1, 1), gc_leaf_strided(F64, LR_SHAPE(2, 4), -1, 1, 2),
                      gc_leaf(F64, LR_SHAPE(2, 1), -1, 1, 3)};
  return lr_gradcheck("cat3", f_cat_last, NULL, 3, in, NULL, r);
}

static lr_status f_cat0(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_cat(2, in, 0, out);
}
static lr_status cat_c128(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf_strided(C128, LR_SHAPE(1, 2, 3), -1, 1, 4), gc_leaf(C128, LR_SHAPE(2, 2, 3), -1, 1, 5)};
  return lr_gradcheck("cat_c128", f_cat0, NULL, 2, in, NULL, r);
}

static lr_status f_stack(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_stack(2, in, 1, out);
}
static lr_status stack(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf_strided(F64, LR_SHAPE(1, 3, 2), -1, 1, 6), gc_leaf(F64, LR_SHAPE(1, 3, 2), -1, 1, 7)};
  return lr_gradcheck("stack", f_stack, NULL, 2, in, NULL, r);
}

/* Only the last piece is used: the other pieces' nodes never run. */
static lr_status f_split_last(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *p[3];
  LR_TRY(lr_split(in[0], 3, (const int64_t[]){2, 0, 5}, -1, p));
  *out = p[2];
  return LR_OK;
}
static lr_status split_partial(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(2, 7), -1, 1, 8)};
  return lr_gradcheck("split_partial", f_split_last, NULL, 1, in, NULL, r);
}

static lr_status f_chunk_swap(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *p[3];
  int n;
  LR_TRY(lr_chunk(in[0], 3, 0, p, &n)); /* 7 rows -> 3, 3, 1 */
  lr_tensor *two[2] = {p[2], p[0]};
  return lr_cat(2, two, 0, out);
}
static lr_status chunk(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(7, 3), -1, 1, 9)};
  return lr_gradcheck("chunk", f_chunk_swap, NULL, 1, in, NULL, r);
}

static lr_status f_index_select0(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_index_select(in[0], 0, idx64(LR_SHAPE(5), (const int64_t[]){3, 0, 3, 1, 3}), out);
}
static lr_status index_select_rows(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(4, 3), -1, 1, 10)};
  return lr_gradcheck("index_select_rows", f_index_select0, NULL, 1, in, NULL, r);
}

static lr_status f_index_select_last(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *i32;
  LR_TRY(lr_from_host(LR_DTYPE_I32, LR_SHAPE(3), (const int32_t[]){4, 4, 0}, &i32));
  return lr_index_select(in[0], -1, gc_input(i32), out);
}
static lr_status index_select_i32(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(F64, LR_SHAPE(2, 1, 5), -1, 1, 11)};
  return lr_gradcheck("index_select_i32", f_index_select_last, NULL, 1, in, NULL, r);
}

static lr_status f_gather1(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_gather(in[0], 1, idx64(LR_SHAPE(2, 3), (const int64_t[]){3, 3, 0, 1, 2, 1}), out);
}
static lr_status gather_dim1(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 12)};
  return lr_gradcheck("gather_dim1", f_gather1, NULL, 1, in, NULL, r);
}

static lr_status f_gather0(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_gather(in[0], 0, idx64(LR_SHAPE(4, 1, 2), (const int64_t[]){2, 2, 0, 2, 1, 0, 2, 2}), out);
}
static lr_status gather_dim0(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(F64, LR_SHAPE(3, 1, 2), -1, 1, 13)};
  return lr_gradcheck("gather_dim0", f_gather0, NULL, 1, in, NULL, r);
}

static lr_status f_embedding(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  int64_t pad = *(const int64_t *)ctx;
  return lr_embedding(in[0], idx64(LR_SHAPE(2, 3), (const int64_t[]){4, 0, 2, 2, 4, 4}), pad, out);
}
static lr_status embedding(lr_gc_result *r) {
  static const int64_t no_pad = -1;
  lr_tensor *in[1] = {gc_leaf(F64, LR_SHAPE(5, 3), -1, 1, 14)};
  return lr_gradcheck("embedding", f_embedding, (void *)&no_pad, 1, in, NULL, r);
}
static lr_status embedding_unused_pad(lr_gc_result *r) { /* padding row 1 is not among the ids */
  static const int64_t pad = 1;
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(5, 3), -1, 1, 15)};
  return lr_gradcheck("embedding_unused_pad", f_embedding, (void *)&pad, 1, in, NULL, r);
}

static lr_status f_pad2(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_pad(in[0], 2, (const int64_t[]){1, 2, -1, 1}, 0.5, out); /* last dim +1/+2, dim 0 crop 1, +1 */
}
static lr_status pad_crop(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 16)};
  return lr_gradcheck("pad_crop", f_pad2, NULL, 1, in, NULL, r);
}
static lr_status f_pad_mid(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_pad(in[0], 2, (const int64_t[]){0, -1, 2, 1}, 0.0, out);
}
static lr_status pad_size1(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(F64, LR_SHAPE(2, 1, 3), -1, 1, 17)};
  return lr_gradcheck("pad_size1", f_pad_mid, NULL, 1, in, NULL, r);
}

static lr_status f_flip(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_flip(in[0], 2, (const int[]){0, -1}, out);
}
static lr_status flip(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(2, 3, 4), -1, 1, 18)};
  return lr_gradcheck("flip", f_flip, NULL, 1, in, NULL, r);
}
static lr_status flip_c128(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(3, 1, 2), -1, 1, 19)};
  return lr_gradcheck("flip_c128", f_flip, NULL, 1, in, NULL, r);
}

static lr_status f_roll(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *a;
  LR_TRY(lr_roll(in[0], -7, 1, &a));
  return lr_roll(a, 2, 0, out);
}
static lr_status roll(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(3, 5), -1, 1, 20)};
  return lr_gradcheck("roll", f_roll, NULL, 1, in, NULL, r);
}

static lr_status f_cumsum0(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_cumsum(in[0], 0, out);
}
static lr_status cumsum(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(4, 3), -1, 1, 21)};
  return lr_gradcheck("cumsum", f_cumsum0, NULL, 1, in, NULL, r);
}
static lr_status f_cumsum_mid(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_cumsum(in[0], -2, out);
}
static lr_status cumsum_c128(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(C128, LR_SHAPE(1, 4, 3), -1, 1, 22)};
  return lr_gradcheck("cumsum_c128", f_cumsum_mid, NULL, 1, in, NULL, r);
}

/* to: CPU -> gc_device -> CPU, so the case also crosses the bus when the suite runs on the GPU */
static lr_status f_to(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *d, *m;
  LR_TRY(lr_to(in[0], LR_DEVICE_CPU, &d));
  LR_TRY(lr_mul(d, d, &m));
  return lr_to(m, in[0]->device, out);
}

static lr_status to_roundtrip(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(2, 3, 4), -1, 1, 91)};
  return lr_gradcheck("to", f_to, NULL, 1, in, NULL, r);
}

const lr_gc_case lr_cases_shape[] = {
    {"to_roundtrip", to_roundtrip},
    {"cat3", cat3},
    {"cat_c128", cat_c128},
    {"stack", stack},
    {"split_partial", split_partial},
    {"chunk", chunk},
    {"index_select_rows", index_select_rows},
    {"index_select_i32", index_select_i32},
    {"gather_dim1", gather_dim1},
    {"gather_dim0", gather_dim0},
    {"embedding", embedding},
    {"embedding_unused_pad", embedding_unused_pad},
    {"pad_crop", pad_crop},
    {"pad_size1", pad_size1},
    {"flip", flip},
    {"flip_c128", flip_c128},
    {"roll", roll},
    {"cumsum", cumsum},
    {"cumsum_c128", cumsum_c128},
    {NULL, NULL},
};
