/* Gradcheck cases for matmul and linear: F64 and C128, broadcast batch dims, 1-D operands,
 * size-1 dims, and transposed views (gc_leaf_strided), which reach BLAS through trans flags and,
 * for complex, its conjugate-no-transpose path in the backward. Every leaf is made on gc_device,
 * so the GPU suite runs the same cases through cuBLAS, where complex conjugate-no-transpose
 * operands are packed and batch sums that do not fold into one GEMM go through a scratch buffer. */
#include "tests/cases.h"

static lr_status f_matmul(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_matmul(in[0], in[1], out);
}

static lr_status f_linear(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_linear(in[0], in[1], in[2], out);
}

static lr_status f_linear_nobias(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_linear(in[0], in[1], NULL, out);
}

static lr_status run2(lr_gc_fn f, lr_tensor *a, lr_tensor *b, lr_gc_result *r) {
  lr_tensor *in[2] = {a, b};
  return lr_gradcheck("matmul", f, NULL, 2, in, NULL, r);
}

#define F64 LR_DTYPE_F64
#define C128 LR_DTYPE_C128

static lr_status mm_2d(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(F64, LR_SHAPE(3, 4), -1, 1, 1), gc_leaf(F64, LR_SHAPE(4, 5), -1, 1, 2), r);
}

/* (2, 1, 3, 4) @ (3, 4, 2) -> (2, 3, 3, 2): both operands broadcast over a batch dim */
static lr_status mm_batch_broadcast(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(F64, LR_SHAPE(2, 1, 3, 4), -1, 1, 3), gc_leaf(F64, LR_SHAPE(3, 4, 2), -1, 1, 4), r);
}

/* (2, 3, 4) @ (4, 2): the batch folds into M forward and into K for dB */
static lr_status mm_batch_2d_c128(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(C128, LR_SHAPE(2, 3, 4), -1, 1, 5), gc_leaf(C128, LR_SHAPE(4, 2), -1, 1, 6), r);
}

/* (3, 4) @ (2, 4, 5): dA sums over the batch of B */
static lr_status mm_2d_batch_c128(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(C128, LR_SHAPE(3, 4), -1, 1, 7), gc_leaf(C128, LR_SHAPE(2, 4, 5), -1, 1, 8), r);
}

static lr_status mm_1d_left(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(F64, LR_SHAPE(4), -1, 1, 9), gc_leaf(F64, LR_SHAPE(2, 4, 3), -1, 1, 10), r);
}

static lr_status mm_1d_right(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(F64, LR_SHAPE(2, 3, 4), -1, 1, 11), gc_leaf(F64, LR_SHAPE(4), -1, 1, 12), r);
}

static lr_status mm_1d_1d_c128(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(C128, LR_SHAPE(4), -1, 1, 13), gc_leaf(C128, LR_SHAPE(4), -1, 1, 14), r);
}

/* a size-1 M and a size-1 N */
static lr_status mm_size1(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(F64, LR_SHAPE(2, 1, 4), -1, 1, 15), gc_leaf(F64, LR_SHAPE(4, 1), -1, 1, 16), r);
}

/* transposed views on both sides: T flags forward, N/CONJ flags in the backward */
static lr_status mm_strided_c128(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf_strided(C128, LR_SHAPE(2, 3, 4), -1, 1, 17),
              gc_leaf_strided(C128, LR_SHAPE(4, 5), -1, 1, 18), r);
}

static lr_status mm_strided_f64(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(F64, LR_SHAPE(3, 4), -1, 1, 19), gc_leaf_strided(F64, LR_SHAPE(2, 4, 5), -1, 1, 20), r);
}

/* A leaf viewing every other column of a (rows, 2 cols) buffer: strides (2 cols, 2), a layout
 * BLAS cannot take, so matmul copies it. */
static lr_tensor *leaf_every_other_col(lr_dtype dt, int64_t rows, int64_t cols, uint64_t seed) {
  lr_tensor *base, *v = lr_tensor_struct_alloc();
  if (!v || lr_empty_on(dt, gc_device, LR_SHAPE(rows, 2 * cols), &base) != LR_OK) return NULL;
  *v = *base;
  v->shape[1] = cols;
  v->strides[1] = 2;
  lr_gc_fill_uniform(v, -1, 1, seed);
  v->requires_grad = true;
  return v;
}

static lr_status mm_sliced(lr_gc_result *r) {
  return run2(f_matmul, leaf_every_other_col(F64, 3, 3, 21), gc_leaf(F64, LR_SHAPE(3, 2), -1, 1, 22), r);
}

/* (3, 1, 2, 4) @ (1, 2, 4, 3): each gradient sums over a different broadcast batch dim */
static lr_status mm_cross_broadcast_c128(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf(C128, LR_SHAPE(3, 1, 2, 4), -1, 1, 34), gc_leaf(C128, LR_SHAPE(1, 2, 4, 3), -1, 1, 35), r);
}

/* a sliced complex operand with a transposed view on the other side */
static lr_status mm_sliced_c128(lr_gc_result *r) {
  return run2(f_matmul, gc_leaf_strided(C128, LR_SHAPE(2, 3), -1, 1, 36), leaf_every_other_col(C128, 3, 4, 37), r);
}

static lr_status lin_bias(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(F64, LR_SHAPE(2, 3, 4), -1, 1, 23), gc_leaf(F64, LR_SHAPE(5, 4), -1, 1, 24),
                      gc_leaf(F64, LR_SHAPE(5), -1, 1, 25)};
  return lr_gradcheck("linear", f_linear, NULL, 3, in, NULL, r);
}

/* strided x (copied) and strided W (W^T reaches BLAS untransposed) */
static lr_status lin_strided_c128(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf_strided(C128, LR_SHAPE(3, 4), -1, 1, 26), gc_leaf_strided(C128, LR_SHAPE(5, 4), -1, 1, 27),
                      gc_leaf(C128, LR_SHAPE(5), -1, 1, 28)};
  return lr_gradcheck("linear", f_linear, NULL, 3, in, NULL, r);
}

static lr_status lin_1d_nobias_c128(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf(C128, LR_SHAPE(4), -1, 1, 29), gc_leaf(C128, LR_SHAPE(3, 4), -1, 1, 30)};
  return lr_gradcheck("linear", f_linear_nobias, NULL, 2, in, NULL, r);
}

/* batched complex x with a bias: dW sums over the batch and rows, conj(x) on the right */
static lr_status lin_batch_c128(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(C128, LR_SHAPE(2, 3, 4), -1, 1, 38), gc_leaf(C128, LR_SHAPE(5, 4), -1, 1, 39),
                      gc_leaf(C128, LR_SHAPE(5), -1, 1, 40)};
  return lr_gradcheck("linear", f_linear, NULL, 3, in, NULL, r);
}

static lr_status lin_size1(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(F64, LR_SHAPE(1, 2, 1), -1, 1, 31), gc_leaf(F64, LR_SHAPE(3, 1), -1, 1, 32),
                      gc_leaf(F64, LR_SHAPE(3), -1, 1, 33)};
  return lr_gradcheck("linear", f_linear, NULL, 3, in, NULL, r);
}

const lr_gc_case lr_cases_linalg[] = {
    {"matmul_2d", mm_2d},
    {"matmul_batch_broadcast", mm_batch_broadcast},
    {"matmul_batch_2d_c128", mm_batch_2d_c128},
    {"matmul_2d_batch_c128", mm_2d_batch_c128},
    {"matmul_1d_left", mm_1d_left},
    {"matmul_1d_right", mm_1d_right},
    {"matmul_1d_1d_c128", mm_1d_1d_c128},
    {"matmul_size1", mm_size1},
    {"matmul_strided_c128", mm_strided_c128},
    {"matmul_strided_f64", mm_strided_f64},
    {"matmul_sliced", mm_sliced},
    {"matmul_cross_broadcast_c128", mm_cross_broadcast_c128},
    {"matmul_sliced_c128", mm_sliced_c128},
    {"linear_bias", lin_bias},
    {"linear_strided_c128", lin_strided_c128},
    {"linear_1d_nobias_c128", lin_1d_nobias_c128},
    {"linear_batch_c128", lin_batch_c128},
    {"linear_size1", lin_size1},
    {NULL, NULL},
};
