/* S7 (selective and simplified state space layer): lrnnx.models.ltv.S7 (lrnnx-inventory §3.9).
 *
 * Parameters (H = d_model, N = d_state), lrnnx's names and shapes, state_dict order:
 *   base_params (N)   in_proj.weight (H, H)   x_proj.weight (N + 2HN + H + N, H)   gate_proj.weight (H, H)
 * Init: base_params = Re Λ of HiPPO-DPLR(N/J) repeated J times, i.e. -0.5 everywhere (lrnnx's
 * `.float()` of a complex array keeps the real part, §13.6; kept, since it is what lrnnx
 * checkpoints and inits hold); x_proj N(0, 0.02²); in_proj, gate_proj PyTorch's default.
 *
 * Forward on u (B, L, H):
 *   x = in_proj(u);  [a, B, C, D, b] = x_proj(x) with sizes (N, H·N, H·N, H, N), B and C laid out
 *   (h n) (n fastest);  a_t += base_params;  Ā_t = 1 - 1/(a_t² + 1/2);
 *   h_t = Ā_t h_{t-1} + Σ_h B_t[h, n] x_t[h] + b_t  (lr_selective_scan, "s7", N channels, state 1);
 *   y_t = Σ_n C_t[h, n] h_t[n] + D_t ⊙ x_t;  out = σ(gate_proj(GELU(y))) ⊙ y + u.
 * integration_timesteps is ignored (as lrnnx); lengths (B) i64: y = 0 at t >= lengths[b] before
 * the gate, so out = u there (the layer's own residual).
 */
#ifndef LR_NN_S7_H
#define LR_NN_S7_H

#include "nn/linear.h"

typedef struct {
  int64_t d_model, d_state; /* H, N: required */
  int64_t J;                /* 1; d_state % J == 0 */
  lr_dtype dtype;           /* F32 (F64 for gradchecks) */
} lr_s7_config;

lr_s7_config lr_s7_config_default(int64_t d_model, int64_t d_state);

typedef struct {
  lr_module base;
  int64_t d_model, d_state, J;
  lr_dtype dtype;
  lr_tensor *base_params; /* (N) */
  lr_linear_module *in_proj, *x_proj, *gate_proj;
} lr_s7;

typedef struct {
  int64_t batch, max_len, seqlen_offset;
  lr_tensor *ssm_state; /* (B, N, 1) */
} lr_s7_cache;

lr_status lr_s7_new(lr_module *parent, const char *name, const lr_s7_config *cfg, lr_rng *rng, lr_s7 **out);
lr_status lr_s7_forward(lr_s7 *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths, lr_tensor **y);
lr_status lr_s7_forward_cached(lr_s7 *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                               lr_s7_cache *cache, lr_tensor **y);
lr_status lr_s7_allocate_cache(lr_s7 *m, int64_t batch, int64_t max_len, lr_s7_cache **out);
void lr_s7_cache_free(lr_s7_cache *c);
lr_status lr_s7_cache_reset(lr_s7_cache *c);
/* x_t (B, H) -> y_t (B, H); dt_t ignored. No grad. */
lr_status lr_s7_step(lr_s7 *m, lr_s7_cache *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t);

#endif
