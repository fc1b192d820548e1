/* Gradcheck cases for causal_conv1d: bias and SiLU, K = 1 without bias, an initial state with
 * gradients through y, through the final state only and through both, a transposed x, K > L. */
#include "tests/cases.h"

#define F64 LR_DTYPE_F64

typedef struct {
  bool silu, bias, state0;
  int which; /* 0: y, 1: final state, 2: y and the final state summed into one output */
} conv_args;

static lr_status f_conv(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  conv_args *a = ctx;
  int i = 2;
  lr_tensor *bias = a->bias ? in[i++] : NULL, *s0 = a->state0 ? in[i++] : NULL, *y, *st;
  LR_TRY(lr_causal_conv1d(in[0], in[1], bias, s0, a->silu, &y, a->which ? &st : NULL));
  if (a->which == 0) {
    *out = y;
    return LR_OK;
  }
  if (a->which == 1) {
    *out = st;
    return LR_OK;
  }
  /* both: y (B, D, L) and state (B, D, K-1) joined along time */
  return lr_cat(2, (lr_tensor *[]){y, st}, 2, out);
}

static lr_status run(conv_args a, lr_tensor *x, int64_t K, uint64_t s, lr_gc_result *r) {
  int64_t B = x->shape[0], D = x->shape[1];
  lr_tensor *in[4] = {x, gc_leaf(F64, LR_SHAPE(D, K), -1, 1, s)};
  int n = 2;
  if (a.bias) in[n++] = gc_leaf(F64, LR_SHAPE(D), -1, 1, s + 1);
  if (a.state0) in[n++] = gc_leaf(F64, LR_SHAPE(B, D, K - 1), -1, 1, s + 2);
  return lr_gradcheck("causal_conv1d", f_conv, &a, n, in, NULL, r);
}

static lr_status bias_silu(lr_gc_result *r) {
  return run((conv_args){true, true, false, 0}, gc_leaf(F64, LR_SHAPE(2, 3, 7), -1, 1, 1), 4, 2, r);
}
static lr_status k1_plain(lr_gc_result *r) {
  return run((conv_args){false, false, false, 0}, gc_leaf(F64, LR_SHAPE(2, 2, 5), -1, 1, 3), 1, 4, r);
}
static lr_status state_y(lr_gc_result *r) {
  return run((conv_args){true, true, true, 0}, gc_leaf(F64, LR_SHAPE(2, 3, 5), -1, 1, 5), 3, 6, r);
}
static lr_status state_final(lr_gc_result *r) {
  return run((conv_args){false, true, true, 1}, gc_leaf(F64, LR_SHAPE(1, 2, 4), -1, 1, 7), 3, 8, r);
}
/* K = 6 > L = 3: the final state holds part of state0 and all of x */
static lr_status state_both_long_k(lr_gc_result *r) {
  return run((conv_args){true, false, true, 2}, gc_leaf(F64, LR_SHAPE(2, 2, 3), -1, 1, 9), 6, 10, r);
}
/* x transposed in (D, L): kernels see a copied contiguous x */
static lr_status strided(lr_gc_result *r) {
  return run((conv_args){true, true, false, 2}, gc_leaf_strided(F64, LR_SHAPE(2, 4, 6), -1, 1, 11), 2, 12, r);
}
/* L = 1, D = 1 */
static lr_status size1(lr_gc_result *r) {
  return run((conv_args){true, true, true, 2}, gc_leaf(F64, LR_SHAPE(1, 1, 1), -1, 1, 13), 3, 14, r);
}

const lr_gc_case lr_cases_conv[] = {
    {"causal_conv1d_bias_silu", bias_silu},
    {"causal_conv1d_k1", k1_plain},
    {"causal_conv1d_state_y", state_y},
    {"causal_conv1d_state_final", state_final},
    {"causal_conv1d_state_both_long_k", state_both_long_k},
    {"causal_conv1d_strided", strided},
    {"causal_conv1d_size1", size1},
    {NULL, NULL},
};
