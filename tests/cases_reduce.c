/* Gradcheck cases for the reductions: F64 (C128 for sum and mean), several dim sets, keepdim,
 * negative dims, size-1 dims and transposed views. max/min inputs are random doubles, so ties
 * (where the gradient is not defined) do not occur and eps never reorders the elements. Leaves
 * are made on gc_device, so the GPU suite runs the same cases through kernels/cuda/reduce.cu. */
#include "tests/cases.h"

#define F64 LR_DTYPE_F64
#define C128 LR_DTYPE_C128

typedef struct {
  int ndims;
  int dims[4];
  bool keepdim;
  int correction;
} red_args;

static lr_status f_sum(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const red_args *a = ctx;
  return lr_sum(in[0], a->ndims, a->ndims ? a->dims : NULL, a->keepdim, out);
}
static lr_status f_mean(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const red_args *a = ctx;
  return lr_mean(in[0], a->ndims, a->ndims ? a->dims : NULL, a->keepdim, out);
}
static lr_status f_var(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const red_args *a = ctx;
  return lr_var(in[0], a->ndims, a->ndims ? a->dims : NULL, a->correction, a->keepdim, out);
}
static lr_status f_max(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const red_args *a = ctx;
  return lr_max(in[0], a->dims[0], a->keepdim, out, NULL);
}
static lr_status f_min(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const red_args *a = ctx;
  lr_tensor *idx;
  return lr_min(in[0], a->dims[0], a->keepdim, out, &idx);
}

static lr_status run1(const char *name, lr_gc_fn f, red_args a, lr_tensor *x, lr_gc_result *r) {
  return lr_gradcheck(name, f, &a, 1, &x, NULL, r);
}

static lr_status sum_02_keep(lr_gc_result *r) {
  return run1("sum", f_sum, (red_args){2, {0, 2}, true, 0}, gc_leaf(F64, LR_SHAPE(2, 3, 4), -1, 1, 1), r);
}
static lr_status sum_all_c128(lr_gc_result *r) {
  return run1("sum", f_sum, (red_args){0, {0}, false, 0}, gc_leaf(C128, LR_SHAPE(3, 1, 4), -1, 1, 2), r);
}
/* the batch of a transposed view: x's unit-stride dim is reduced */
static lr_status sum_strided_neg(lr_gc_result *r) {
  return run1("sum", f_sum, (red_args){1, {-2}, false, 0}, gc_leaf_strided(F64, LR_SHAPE(2, 3, 5), -1, 1, 3), r);
}
static lr_status sum_strided_c128(lr_gc_result *r) {
  return run1("sum", f_sum, (red_args){2, {0, -1}, false, 0}, gc_leaf_strided(C128, LR_SHAPE(2, 3, 5), -1, 1, 4), r);
}
static lr_status mean_1_c128(lr_gc_result *r) {
  return run1("mean", f_mean, (red_args){1, {1}, true, 0}, gc_leaf(C128, LR_SHAPE(3, 1, 4), -1, 1, 5), r);
}
/* the column path: reduce dim 0 of (20, 17), whose kept dim has unit stride */
static lr_status mean_cols(lr_gc_result *r) {
  return run1("mean", f_mean, (red_args){1, {0}, false, 0}, gc_leaf(F64, LR_SHAPE(20, 17), -1, 1, 6), r);
}
static lr_status mean_all_strided(lr_gc_result *r) {
  return run1("mean", f_mean, (red_args){0, {0}, true, 0}, gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 7), r);
}
static lr_status var_unbiased(lr_gc_result *r) {
  return run1("var", f_var, (red_args){2, {0, 2}, false, 1}, gc_leaf(F64, LR_SHAPE(2, 3, 4), -1, 1, 8), r);
}
static lr_status var_pop_strided_keep(lr_gc_result *r) {
  return run1("var", f_var, (red_args){1, {-1}, true, 0}, gc_leaf_strided(F64, LR_SHAPE(2, 1, 5), -1, 1, 9), r);
}
static lr_status var_cols(lr_gc_result *r) {
  return run1("var", f_var, (red_args){1, {0}, false, 1}, gc_leaf(F64, LR_SHAPE(6, 20), -1, 1, 10), r);
}
/* only a size-1 dim reduced: each output is one element (the kernels' "nothing reduced" case) */
static lr_status sum_size1_dim(lr_gc_result *r) {
  return run1("sum", f_sum, (red_args){1, {1}, false, 0}, gc_leaf(F64, LR_SHAPE(3, 1, 4), -1, 1, 15), r);
}
static lr_status var_all_strided(lr_gc_result *r) {
  return run1("var", f_var, (red_args){0, {0}, false, 1}, gc_leaf_strided(F64, LR_SHAPE(4, 5), -1, 1, 16), r);
}
static lr_status max_1d(lr_gc_result *r) {
  return run1("max", f_max, (red_args){1, {0}, false, 0}, gc_leaf(F64, LR_SHAPE(7), -1, 1, 17), r);
}
static lr_status max_dim1(lr_gc_result *r) {
  return run1("max", f_max, (red_args){1, {1}, false, 0}, gc_leaf(F64, LR_SHAPE(3, 5, 2), -1, 1, 11), r);
}
static lr_status max_strided_keep(lr_gc_result *r) {
  return run1("max", f_max, (red_args){1, {-1}, true, 0}, gc_leaf_strided(F64, LR_SHAPE(2, 1, 4), -1, 1, 12), r);
}
static lr_status min_dim0(lr_gc_result *r) {
  return run1("min", f_min, (red_args){1, {0}, false, 0}, gc_leaf(F64, LR_SHAPE(4, 3), -1, 1, 13), r);
}
static lr_status min_strided_neg(lr_gc_result *r) {
  return run1("min", f_min, (red_args){1, {-2}, true, 0}, gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 14), r);
}

const lr_gc_case lr_cases_reduce[] = {
    {"sum_02_keep", sum_02_keep},
    {"sum_all_c128", sum_all_c128},
    {"sum_strided_neg", sum_strided_neg},
    {"sum_strided_c128", sum_strided_c128},
    {"mean_1_c128", mean_1_c128},
    {"mean_cols", mean_cols},
    {"mean_all_strided", mean_all_strided},
    {"var_unbiased", var_unbiased},
    {"var_pop_strided_keep", var_pop_strided_keep},
    {"var_cols", var_cols},
    {"sum_size1_dim", sum_size1_dim},
    {"var_all_strided", var_all_strided},
    {"max_1d", max_1d},
    {"max_dim1", max_dim1},
    {"max_strided_keep", max_strided_keep},
    {"min_dim0", min_dim0},
    {"min_strided_neg", min_strided_neg},
    {NULL, NULL},
};
