/* Gradcheck cases for the S4 kernels: Cauchy (broadcast batch, a 1-D w, a strided v, z
 * gradient), log-Vandermonde and its transpose (broadcast, size-1 dims, strided), and power
 * (both outputs, L a power of two and not). Values keep away from the Cauchy poles: Re z >= 0.5,
 * Re w < -0.5. */
#include "tests/cases.h"

#define C128 LR_DTYPE_C128

static lr_status f_cauchy(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_cauchy(in[0], in[1], in[2], out);
}

static lr_status run_cauchy(lr_tensor *v, lr_tensor *z, lr_tensor *w, lr_gc_result *r) {
  lr_tensor *in[3] = {v, z, w};
  return lr_gradcheck("cauchy", f_cauchy, NULL, 3, in, NULL, r);
}

static lr_status cauchy_batch(lr_gc_result *r) {
  return run_cauchy(gc_leaf(C128, LR_SHAPE(2, 3, 4), -1, 1, 1), gc_leaf(C128, LR_SHAPE(5), 0.5, 1.5, 2),
                    gc_leaf(C128, LR_SHAPE(3, 4), -1.5, -0.5, 3), r);
}

static lr_status cauchy_strided(lr_gc_result *r) {
  return run_cauchy(gc_leaf_strided(C128, LR_SHAPE(3, 2), -1, 1, 4), gc_leaf(C128, LR_SHAPE(3), 0.5, 1.5, 5),
                    gc_leaf(C128, LR_SHAPE(2), -1.5, -0.5, 6), r);
}

static lr_status cauchy_size1(lr_gc_result *r) {
  return run_cauchy(gc_leaf(C128, LR_SHAPE(1, 1), -1, 1, 7), gc_leaf(C128, LR_SHAPE(1), 0.5, 1.5, 8),
                    gc_leaf(C128, LR_SHAPE(1, 1), -1.5, -0.5, 9), r);
}

typedef struct {
  int64_t L;
} vand_args;

static lr_status f_vand(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_log_vandermonde(in[0], in[1], ((vand_args *)ctx)->L, out);
}

static lr_status vand_batch(lr_gc_result *r) {
  vand_args a = {7};
  lr_tensor *in[2] = {gc_leaf(C128, LR_SHAPE(2, 3, 4), -1, 1, 10), gc_leaf(C128, LR_SHAPE(3, 4), -0.5, 0.3, 11)};
  return lr_gradcheck("log_vandermonde", f_vand, &a, 2, in, NULL, r);
}

static lr_status vand_strided(lr_gc_result *r) {
  vand_args a = {5};
  lr_tensor *in[2] = {gc_leaf_strided(C128, LR_SHAPE(3, 2), -1, 1, 12), gc_leaf(C128, LR_SHAPE(1, 2), -0.5, 0.3, 13)};
  return lr_gradcheck("log_vandermonde", f_vand, &a, 2, in, NULL, r);
}

static lr_status f_vand_t(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_log_vandermonde_transpose(in[0], in[1], in[2], out);
}

static lr_status vand_t_batch(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(C128, LR_SHAPE(2, 1, 6), -1, 1, 14), gc_leaf(C128, LR_SHAPE(3, 4), -1, 1, 15),
                      gc_leaf(C128, LR_SHAPE(3, 4), -0.5, 0.3, 16)};
  return lr_gradcheck("log_vandermonde_transpose", f_vand_t, NULL, 3, in, NULL, r);
}

static lr_status vand_t_strided(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf_strided(C128, LR_SHAPE(2, 5), -1, 1, 17), gc_leaf(C128, LR_SHAPE(3), -1, 1, 18),
                      gc_leaf(C128, LR_SHAPE(2, 3), -0.5, 0.3, 19)};
  return lr_gradcheck("log_vandermonde_transpose", f_vand_t, NULL, 3, in, NULL, r);
}

typedef struct {
  int64_t L;
  bool want_v;
} pow_args;

static lr_status f_pow(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  pow_args *a = ctx;
  lr_tensor *AL, *vo;
  LR_TRY(lr_s4_power(a->L, in[0], a->want_v ? in[1] : NULL, &AL, a->want_v ? &vo : NULL));
  *out = a->want_v ? vo : AL;
  return LR_OK;
}

static lr_status power_AL(lr_gc_result *r) {
  pow_args a = {5, false};
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(2, 3, 3), -0.5, 0.5, 20)};
  return lr_gradcheck("s4_power", f_pow, &a, 1, in, NULL, r);
}

static lr_status power_v_odd(lr_gc_result *r) {
  pow_args a = {7, true};
  lr_tensor *in[2] = {gc_leaf(C128, LR_SHAPE(3, 3), -0.5, 0.5, 21), gc_leaf(C128, LR_SHAPE(2, 3, 7), -1, 1, 22)};
  return lr_gradcheck("s4_power", f_pow, &a, 2, in, NULL, r);
}

static lr_status power_v_pow2(lr_gc_result *r) {
  pow_args a = {4, true};
  lr_tensor *in[2] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 2), -0.5, 0.5, 23), gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 4), -1, 1, 24)};
  return lr_gradcheck("s4_power", f_pow, &a, 2, in, NULL, r);
}

const lr_gc_case lr_cases_s4[] = {
    {"cauchy_batch", cauchy_batch},
    {"cauchy_strided", cauchy_strided},
    {"cauchy_size1", cauchy_size1},
    {"log_vandermonde_batch", vand_batch},
    {"log_vandermonde_strided", vand_strided},
    {"log_vandermonde_transpose_batch", vand_t_batch},
    {"log_vandermonde_transpose_strided", vand_t_strided},
    {"s4_power_AL", power_AL},
    {"s4_power_v_odd", power_v_odd},
    {"s4_power_v_pow2", power_v_pow2},
    {NULL, NULL},
};
