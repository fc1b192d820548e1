/* Mamba (S6) and STREAM: lrnnx.models.ltv.Mamba (lrnnx-inventory §3.7), built from ops.
 *
 * Parameters (E = expand·H, R = dt_rank, N = d_state, K = d_conv), lrnnx's names and shapes, in
 * PyTorch's state_dict order:
 *   A_log (E, N) = log(1..N) (S4D-Real)            D (E) = 1
 *   in_proj.weight (2E, H) [.bias (2E) iff bias]   conv1d.weight (E, 1, K), conv1d.bias (E) iff conv_bias
 *   x_proj.weight (R + 2N, E)                       dt_proj.weight (E, R), dt_proj.bias (E)
 *   dtA_proj.weight (E, R), dtA_proj.bias (E)      out_proj.weight (H, E) [.bias (H) iff bias]
 * Inits: Linear/Conv1d as PyTorch (U(±1/sqrt(fan_in))); dt_proj.weight U(±R^-½·dt_scale) (or the
 * constant R^-½·dt_scale); dt_proj.bias = softplus⁻¹(Δ₀), Δ₀ = max(exp(U[log dt_min, log dt_max]),
 * dt_init_floor), softplus⁻¹(Δ) = Δ + log(-expm1(-Δ)). dtA_proj keeps the Linear default; its
 * weight is never used (lrnnx's dead parameter, kept so checkpoints load).
 *
 * Forward on x (B, L, H):
 *   [x, z] = in_proj(x);  x = SiLU(causal_conv1d(x));  [δ, B_t, C_t] = x_proj(x) (R, N, N);
 *   Δ = softplus(dt_proj.weight δ + dt_proj.bias);  A = -exp(A_log);
 *   h_t = Ā_t h_{t-1} + B̄_t B_t x_t  (discretization mamba | zoh | bilinear | dirac, §2);
 *   y = (C_t h_t + D x_t) SiLU(z_t);  out = out_proj(y).
 * STREAM (integration_timesteps τ (B, L) given): Ā uses Δ_A = τ·softplus(dtA_proj.bias), B̄ uses Δ.
 * lengths (B) i64: positions t >= lengths[b] give y = 0 before out_proj (lrnnx ignores lengths).
 *
 * The recurrent step runs the same kernels with L = 1 (lr_causal_conv1d_step,
 * lr_selective_scan_step), so step-by-step equals the forward for every discretization. lrnnx's
 * own step uses Ā = exp(ΔA) for bilinear, which disagrees with its scan (§13.4); we keep the
 * scan's form everywhere.
 */
#ifndef LR_NN_MAMBA_H
#define LR_NN_MAMBA_H

#include "kernels/discretize_math.h"
#include "nn/linear.h"

typedef struct {
  int64_t d_model;            /* H, required */
  int64_t d_state;            /* N = 16 */
  int64_t d_conv;             /* K = 4 */
  int64_t expand;             /* 2 */
  int64_t dt_rank;            /* 0: "auto" = ceil(d_model / 16) */
  double dt_min, dt_max;      /* 0.001, 0.1 */
  const char *dt_init;        /* "random" | "constant" */
  double dt_scale;            /* 1.0 */
  double dt_init_floor;       /* 1e-4 */
  bool conv_bias;             /* true */
  bool bias;                  /* false */
  const char *discretization; /* "mamba" | "zoh" | "bilinear" | "dirac" */
  lr_dtype dtype;             /* LR_DTYPE_F32 (F64 for gradchecks) */
} lr_mamba_config;

/* lrnnx's defaults for a model of width d_model. */
lr_mamba_config lr_mamba_config_default(int64_t d_model);

typedef struct {
  lr_module base;
  int64_t d_model, d_state, d_conv, expand, d_inner, dt_rank;
  lr_disc disc;
  lr_dtype dtype;
  lr_tensor *A_log, *D; /* (E, N), (E) */
  lr_linear_module *in_proj, *x_proj, *dt_proj, *dtA_proj, *out_proj;
  lr_module *conv1d;
  lr_tensor *conv_w, *conv_b; /* (E, 1, K), (E) or NULL */
} lr_mamba;

/* Recurrent state for step: heap tensors, zeroed. conv_state (B, E, K-1) holds the last K-1
 * conv inputs (NULL when K = 1); ssm_state (B, E, N). */
typedef struct {
  int64_t batch, max_len, seqlen_offset;
  lr_tensor *conv_state, *ssm_state;
} lr_mamba_cache;

/* A new Mamba from cfg, initialised from rng. parent/name as lr_linear_new. LR_ERR_ARG naming the
 * argument for sizes < 1, dt_min/dt_max out of order, an unknown dt_init or discretization. */
lr_status lr_mamba_new(lr_module *parent, const char *name, const lr_mamba_config *cfg, lr_rng *rng, lr_mamba **out);

/* x (B, L, H) -> y (B, L, H), in the current arena, differentiable in x and the parameters.
 * integration_timesteps (B, L) (or (B, L, 1)) or NULL; lengths (B) i64 or NULL. */
lr_status lr_mamba_forward(lr_mamba *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                           lr_tensor **y);
/* The same, starting from the states in cache (when non-NULL) and writing the final states back
 * (the state after position lengths[b] - 1 with lengths): a prefill, after which step continues.
 * The states are not differentiated. */
lr_status lr_mamba_forward_cached(lr_mamba *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                                  lr_mamba_cache *cache, lr_tensor **y);

lr_status lr_mamba_allocate_cache(lr_mamba *m, int64_t batch, int64_t max_len, lr_mamba_cache **out);
void lr_mamba_cache_free(lr_mamba_cache *c);
/* Zeroes the states and the offset (a new sequence). */
lr_status lr_mamba_cache_reset(lr_mamba_cache *c);
/* One step: x_t (B, H), dt_t (B) (τ at this step, STREAM) or NULL; y_t (B, H) in the arena. No
 * grad. Updates cache in place. */
lr_status lr_mamba_step(lr_mamba *m, lr_mamba_cache *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t);

#endif
