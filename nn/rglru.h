/* RG-LRU, Griffin's recurrent block: lrnnx.models.ltv.RGLRU (lrnnx-inventory §3.8), from ops.
 *
 * Parameters (E = expand·H, K = d_conv), lrnnx's names and shapes, state_dict order:
 *   a_log (E, 1)   gate_proj.weight (E, H)   in_proj.weight (E, H)   (biases (E) iff bias)
 *   conv1d.weight (E, 1, K), conv1d.bias (E) iff conv_bias
 *   recurrent_gate_proj.weight (E, E) + bias   input_gate_proj.weight (E, E) + bias
 *   out_proj.weight (H, E) [+ bias (H) iff bias]
 * Init: Linear/Conv1d as PyTorch; a_log = logit(a0), a0 ~ U(a_init_range) = U(0.9, 0.999), so
 * that a = σ(a_log) = a0 as intended. lrnnx stores log(a0), which makes a ≈ 0.47..0.50 (§13.5);
 * the parameter's name and shape are unchanged, so lrnnx checkpoints load and run unchanged.
 *
 * Forward on x (B, L, H):
 *   gate = GELU(gate_proj(x)) (erf form);  x = causal_conv1d(in_proj(x)) (no activation);
 *   r = σ(W_r x + b_r);  i = σ(W_i x + b_i);  a = σ(a_log);
 *   Ā_t = a^{c r_t};  h_t = Ā_t h_{t-1} + sqrt(1 - Ā_t²) (i_t x_t)  (lr_selective_scan, "rglru");
 *   out = out_proj(gate ⊙ h).
 * integration_timesteps is accepted and ignored (as lrnnx); lengths (B) i64: h and y = 0 at
 * t >= lengths[b] before the gate and out_proj.
 */
#ifndef LR_NN_RGLRU_H
#define LR_NN_RGLRU_H

#include "nn/linear.h"

typedef struct {
  int64_t d_model;          /* H, required */
  int64_t d_conv;           /* 4 */
  int64_t expand;           /* 1 */
  double c;                 /* 8.0 */
  double a_init_lo, a_init_hi; /* a_init_range = (0.9, 0.999) */
  bool conv_bias;           /* true */
  bool bias;                /* false */
  lr_dtype dtype;           /* F32 (F64 for gradchecks) */
} lr_rglru_config;

lr_rglru_config lr_rglru_config_default(int64_t d_model);

typedef struct {
  lr_module base;
  int64_t d_model, d_conv, expand, d_inner;
  double c;
  lr_dtype dtype;
  lr_tensor *a_log; /* (E, 1) */
  lr_linear_module *gate_proj, *in_proj, *recurrent_gate_proj, *input_gate_proj, *out_proj;
  lr_module *conv1d;
  lr_tensor *conv_w, *conv_b;
} lr_rglru;

typedef struct {
  int64_t batch, max_len, seqlen_offset;
  lr_tensor *conv_state; /* (B, E, K-1), NULL when K = 1 */
  lr_tensor *ssm_state;  /* (B, E, 1) */
} lr_rglru_cache;

lr_status lr_rglru_new(lr_module *parent, const char *name, const lr_rglru_config *cfg, lr_rng *rng, lr_rglru **out);
lr_status lr_rglru_forward(lr_rglru *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                           lr_tensor **y);
/* From cache's states (when non-NULL), writing the final ones back (prefill). */
lr_status lr_rglru_forward_cached(lr_rglru *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                                  lr_rglru_cache *cache, lr_tensor **y);
lr_status lr_rglru_allocate_cache(lr_rglru *m, int64_t batch, int64_t max_len, lr_rglru_cache **out);
void lr_rglru_cache_free(lr_rglru_cache *c);
lr_status lr_rglru_cache_reset(lr_rglru_cache *c);
/* x_t (B, H) -> y_t (B, H); dt_t ignored. No grad. */
lr_status lr_rglru_step(lr_rglru *m, lr_rglru_cache *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t);

#endif
