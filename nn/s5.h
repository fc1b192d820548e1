/* S5, the LTV scan version, and Event-SSM: lrnnx.models.ltv.S5 (lrnnx-inventory §3.4), from ops.
 *
 * Parameters (H = d_model, P = d_state), lrnnx's names, shapes and real-view storage:
 *   A (P, 2) = [Re Λ, Im Λ]   B (P, H, 2)   C (H, P, 2)   D (H)   log_dt (P)
 * Init (S5 paper, lrnnx utils/init.py): S = HiPPO-LegS + P Pᵀ (normal plus low rank) of size
 * M = P (or 2P with conj_sym); Λ = mean(diag S) + i·eigh(-iS).values (ascending; conj_sym keeps
 * the first P, with V the first P eigenvectors); Vinv = V^H (lrnnx uses inv(V) without conj_sym:
 * V is unitary, so the two agree to rounding);
 *   B = Vinv (randn(M, H)/sqrt(M)),  C = ((randn + i randn)(H, M)/sqrt(M)) V,
 *   D = 0.1 randn(H),  log_dt = U[log dt_min, log dt_max).
 * A is unconstrained, as in lrnnx.
 *
 * Forward on x (B, L, H): λ = A[...,0] + i A[...,1]; Δ = exp(log_dt)·step_rescale (P);
 *   u = x as complex (B, H, L); h_t = Ā h_{t-1} + B̄ (B̃ u_t) (zoh | bilinear | dirac, the kernels'
 *   correct bilinear); y = f Re(C̃ h_t) + D x_t with f = 2 if conj_sym else 1 (lr_s5_scan).
 * Event-SSM (integration_timesteps τ (B, L)): Ā uses Δ_A = τ Δ_p, B̄ uses Δ.
 * lengths (B) i64: y = 0 at t >= lengths[b] (lrnnx ignores lengths).
 * Step: lr_s5_step on the cache's (B, P) complex state; the cache resets like every other model's
 * (lrnnx's generation reset misses S5-LTV's "ssm_state", §13.9).
 */
#ifndef LR_NN_S5_H
#define LR_NN_S5_H

#include "kernels/discretize_math.h"
#include "nn/module.h"
#include "tensor/rng.h"

typedef struct {
  int64_t d_model, d_state;   /* H, P: required */
  const char *discretization; /* "zoh" | "bilinear" | "dirac" */
  bool conj_sym;              /* false */
  double dt_min, dt_max;      /* 0.001, 0.1 */
  double step_rescale;        /* 1.0 */
  lr_dtype dtype;             /* LR_DTYPE_F32 (complex math in C64); F64 -> C128 */
} lr_s5_config;

lr_s5_config lr_s5_config_default(int64_t d_model, int64_t d_state);

typedef struct {
  lr_module base;
  int64_t d_model, d_state;
  lr_disc disc;
  bool conj_sym;
  double step_rescale;
  lr_dtype dtype;
  lr_tensor *A, *B, *C, *D, *log_dt;
} lr_s5;

typedef struct {
  int64_t batch, max_len, seqlen_offset;
  lr_tensor *ssm_state; /* (B, P) complex */
} lr_s5_cache;

lr_status lr_s5_new(lr_module *parent, const char *name, const lr_s5_config *cfg, lr_rng *rng, lr_s5 **out);
/* x (B, L, H) -> y (B, L, H); integration_timesteps (B, L) / (B, L, 1) or NULL; lengths (B) i64
 * or NULL. Differentiable in x and the parameters. */
lr_status lr_s5_forward(lr_s5 *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths, lr_tensor **y);
/* The same from cache's state (when non-NULL), writing the final state back (prefill). */
lr_status lr_s5_forward_cached(lr_s5 *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                               lr_s5_cache *cache, lr_tensor **y);
lr_status lr_s5_allocate_cache(lr_s5 *m, int64_t batch, int64_t max_len, lr_s5_cache **out);
void lr_s5_cache_free(lr_s5_cache *c);
lr_status lr_s5_cache_reset(lr_s5_cache *c);
/* x_t (B, H), dt_t (B) (τ at this step, Event-SSM) or NULL -> y_t (B, H). No grad. */
lr_status lr_s5_step_model(lr_s5 *m, lr_s5_cache *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t);

/* The HiPPO-DPLR eigenpairs of size M (lrnnx make_DPLR_HiPPO): lambda_im[M] ascending (Re Λ is
 * -0.5 for every entry), V[M*M] column-major complex (V[i + k M] = component i of eigenvector k). */
lr_status lr_s5_dplr_hippo(int64_t M, double *lambda_im, lr_c128 *V);

#endif
