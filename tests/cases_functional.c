/* Gradcheck cases for the functional ops (F64): softmax and log_softmax along a middle, a last
 * and a size-1 dim; cross entropy with label smoothing, ignored targets and extra dims; mse with
 * every reduction and a target that requires grad; the norms with and without parameters; and
 * dropout with a mask fixed by reseeding the rng in every evaluation. Strided inputs come from
 * gc_leaf_strided. Default tolerances (atol 1e-6, rtol 1e-5, eps 1e-6): the ops are smooth at
 * the sampled points and the central difference error is about 1e-10 in f64. With gc_device =
 * CUDA the same cases run on the GPU: targets go there through gc_input. */
#include "tests/cases.h"

/* ---- softmax / log_softmax ---- */

static lr_status f_softmax(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_softmax(in[0], *(int *)ctx, out);
}
static lr_status f_log_softmax(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_log_softmax(in[0], *(int *)ctx, out);
}

static lr_status softmax_mid_dim(lr_gc_result *r) {
  int dim = 1;
  lr_tensor *in[1] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 5, 3), -2, 2, 11)};
  return lr_gradcheck("softmax", f_softmax, &dim, 1, in, NULL, r);
}

static lr_status softmax_last_strided(lr_gc_result *r) {
  int dim = -1;
  lr_tensor *in[1] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(4, 5), -2, 2, 12)};
  return lr_gradcheck("softmax", f_softmax, &dim, 1, in, NULL, r);
}

static lr_status log_softmax_mid_strided(lr_gc_result *r) {
  int dim = 0;
  lr_tensor *in[1] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(4, 3), -2, 2, 13)};
  return lr_gradcheck("log_softmax", f_log_softmax, &dim, 1, in, NULL, r);
}

static lr_status log_softmax_size1(lr_gc_result *r) {
  int dim = -2; /* (2, 1, 4) along the size-1 dim: y = 0, gradient 0 */
  lr_tensor *in[1] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 1, 4), -2, 2, 14)};
  lr_status s = lr_gradcheck("log_softmax", f_log_softmax, &dim, 1, in, NULL, r);
  if (s != LR_OK || !r->passed) return s;
  dim = 2;
  return lr_gradcheck("log_softmax", f_log_softmax, &dim, 1, in, NULL, r);
}

static lr_status softmax_size1(lr_gc_result *r) {
  int dim = 1;
  lr_tensor *in[1] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(3, 1), -2, 2, 15)};
  return lr_gradcheck("softmax", f_softmax, &dim, 1, in, NULL, r);
}

/* ---- cross entropy ---- */

typedef struct {
  lr_tensor *targets;
  int64_t ignore;
  double smoothing;
} ce_ctx;

static lr_status f_cross_entropy(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  ce_ctx *c = ctx;
  return lr_cross_entropy(in[0], c->targets, c->ignore, c->smoothing, out);
}

static lr_status ce_smooth_ignore(lr_gc_result *r) {
  ce_ctx c = {NULL, -100, 0.1};
  LR_TRY(lr_from_host(LR_DTYPE_I64, LR_SHAPE(5), (int64_t[]){1, -100, 4, 0, 4}, &c.targets));
  c.targets = gc_input(c.targets); /* on gc_device with the logits */
  lr_tensor *in[1] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(5, 5), -2, 2, 21)};
  return lr_gradcheck("cross_entropy", f_cross_entropy, &c, 1, in, NULL, r);
}

static lr_status ce_plain(lr_gc_result *r) {
  ce_ctx c = {NULL, -100, 0.0};
  LR_TRY(lr_from_host(LR_DTYPE_I64, LR_SHAPE(3), (int64_t[]){2, 0, 1}, &c.targets));
  c.targets = gc_input(c.targets); /* on gc_device with the logits */
  lr_tensor *in[1] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(3, 4), -2, 2, 22)};
  return lr_gradcheck("cross_entropy", f_cross_entropy, &c, 1, in, NULL, r);
}

/* (N, C, d1, d2) = (2, 3, 2, 2), strided in the last two dims, an in-range ignore_index (1). */
static lr_status ce_extra_dims_strided(lr_gc_result *r) {
  ce_ctx c = {NULL, 1, 0.25};
  LR_TRY(lr_from_host(LR_DTYPE_I64, LR_SHAPE(2, 2, 2), (int64_t[]){0, 2, 1, 2, 2, 0, 0, 1}, &c.targets));
  c.targets = gc_input(c.targets); /* on gc_device with the logits */
  lr_tensor *in[1] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(2, 3, 2, 2), -2, 2, 23)};
  return lr_gradcheck("cross_entropy", f_cross_entropy, &c, 1, in, NULL, r);
}

/* ---- mse ---- */

static lr_status f_mse(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_mse_loss(in[0], in[1], *(lr_reduction *)ctx, out);
}

static lr_status mse_all_reductions(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(3, 4), -1, 1, 31),
                      gc_leaf(LR_DTYPE_F64, LR_SHAPE(3, 4), -1, 1, 32)};
  for (lr_reduction red = LR_REDUCE_MEAN; red <= LR_REDUCE_NONE; red++) {
    lr_status s = lr_gradcheck("mse_loss", f_mse, &red, 2, in, NULL, r);
    if (s != LR_OK || !r->passed) return s;
  }
  return LR_OK;
}

static lr_status mse_size1(lr_gc_result *r) {
  lr_reduction red = LR_REDUCE_MEAN;
  lr_tensor *in[2] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 1, 3), -1, 1, 33),
                      gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 1, 3), -1, 1, 34)};
  in[1]->requires_grad = false; /* only x */
  return lr_gradcheck("mse_loss", f_mse, &red, 2, in, NULL, r);
}

/* ---- layer norm / RMS norm ---- */

static lr_status f_layer_norm(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_layer_norm(in[0], in[1], in[2], 1e-5, out);
}
static lr_status f_rms_norm(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_rms_norm(in[0], in[1], 1e-5, out);
}

static lr_status layer_norm_affine_strided(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(3, 5), -2, 2, 41),
                      gc_leaf(LR_DTYPE_F64, LR_SHAPE(5), 0.5, 1.5, 42), gc_leaf(LR_DTYPE_F64, LR_SHAPE(5), -1, 1, 43)};
  return lr_gradcheck("layer_norm", f_layer_norm, NULL, 3, in, NULL, r);
}

static lr_status layer_norm_plain_size1(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 1, 4), -2, 2, 44), NULL, NULL};
  return lr_gradcheck("layer_norm", f_layer_norm, NULL, 3, in, NULL, r);
}

static lr_status layer_norm_weight_only(lr_gc_result *r) {
  lr_tensor *in[3] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(4, 3), -2, 2, 45), gc_leaf(LR_DTYPE_F64, LR_SHAPE(3), 0.5, 1.5, 46),
                      NULL};
  return lr_gradcheck("layer_norm", f_layer_norm, NULL, 3, in, NULL, r);
}

static lr_status rms_norm_weight_strided(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(3, 4), -2, 2, 51),
                      gc_leaf(LR_DTYPE_F64, LR_SHAPE(4), 0.5, 1.5, 52)};
  return lr_gradcheck("rms_norm", f_rms_norm, NULL, 2, in, NULL, r);
}

static lr_status rms_norm_plain_size1(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 1, 3), -2, 2, 53), NULL};
  return lr_gradcheck("rms_norm", f_rms_norm, NULL, 2, in, NULL, r);
}

/* ---- dropout ---- */

/* The rng is reset in every evaluation, so the mask is the same for the analytic pass and every
 * finite-difference pass. */
static lr_status f_dropout(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  lr_rng g;
  lr_rng_init(&g, *(uint64_t *)ctx);
  return lr_dropout(in[0], 0.4, true, &g, out);
}

static lr_status dropout_strided(lr_gc_result *r) {
  uint64_t seed = 1234;
  lr_tensor *in[1] = {gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(4, 6), -1, 1, 61)};
  return lr_gradcheck("dropout", f_dropout, &seed, 1, in, NULL, r);
}

const lr_gc_case lr_cases_functional[] = {
    {"softmax_mid_dim", softmax_mid_dim},
    {"softmax_last_strided", softmax_last_strided},
    {"softmax_size1", softmax_size1},
    {"log_softmax_mid_strided", log_softmax_mid_strided},
    {"log_softmax_size1", log_softmax_size1},
    {"ce_smooth_ignore", ce_smooth_ignore},
    {"ce_plain", ce_plain},
    {"ce_extra_dims_strided", ce_extra_dims_strided},
    {"mse_all_reductions", mse_all_reductions},
    {"mse_size1", mse_size1},
    {"layer_norm_affine_strided", layer_norm_affine_strided},
    {"layer_norm_plain_size1", layer_norm_plain_size1},
    {"layer_norm_weight_only", layer_norm_weight_only},
    {"rms_norm_weight_strided", rms_norm_weight_strided},
    {"rms_norm_plain_size1", rms_norm_plain_size1},
    {"dropout_strided", dropout_strided},
    {NULL, NULL},
};
