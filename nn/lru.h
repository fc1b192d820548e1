/* LRU, the Linear Recurrent Unit (Orvieto et al. 2023, arXiv 2303.06349), as lrnnx's
 * lrnnx.models.lti.LRU(d_model, d_state, r_min=0, r_max=1, max_phase=2π).
 *
 * Parameters (H = d_model, N = d_state), lrnnx's names, shapes and storage (separate re/im):
 *   nu_log (N), theta_log (N), B_re, B_im (N, H), C_re, C_im (H, N), D (H), gamma_log (N).
 * Math:
 *   λ = exp(-exp(nu_log) + i exp(theta_log));  B_norm = (B_re + i B_im) ⊙ exp(gamma_log)[:, None]
 *   h_t = λ ⊙ h_{t-1} + B_norm x_t;            y_t = Re((C_re + i C_im) h_t) + D ⊙ x_t
 * The forward is lrnnx's: K = λ^arange(L) (lr_lti_kernel), y = opt_ssm_forward(x, K, B_norm, C)
 * (lrnnx's contraction-order rule) + x ⊙ D. Beyond lrnnx: lengths (positions t >= lengths[b]
 * give y = 0; the system is causal, so they never reach earlier outputs) and a dtype (f32, f64).
 */
#ifndef LR_NN_LRU_H
#define LR_NN_LRU_H

#include "nn/lti_util.h"
#include "nn/module.h"
#include "tensor/rng.h"

typedef struct {
  int64_t d_model, d_state; /* required, >= 1 */
  double r_min;             /* 0: ring radii of λ in [r_min, r_max] at init */
  double r_max;             /* 1 */
  double max_phase;         /* 2π: arg λ in [0, max_phase) at init */
  lr_dtype dtype;           /* F32 (lrnnx) or F64 */
} lr_lru_config;

typedef struct {
  lr_module base;
  lr_lru_config cfg;
  lr_tensor *nu_log, *theta_log, *B_re, *B_im, *C_re, *C_im, *D, *gamma_log; /* owned by base */
} lr_lru;

/* lrnnx's defaults for the optional arguments, F32. */
lr_lru_config lr_lru_config_default(int64_t d_model, int64_t d_state);
/* A new LRU initialised from rng (lrnnx's ring init, see lru.c). LR_ERR_ARG for d_model or
 * d_state < 1, radii outside 0 <= r_min <= r_max <= 1 (r_min < 1, r_max > 0), max_phase <= 0;
 * LR_ERR_DTYPE unless F32/F64. With parent non-NULL it becomes parent's child `name`. */
lr_status lr_lru_new(lr_module *parent, const char *name, const lr_lru_config *cfg, lr_rng *rng, lr_lru **out);

/* lrnnx discretize(): (λ (N), B = B_re + i B_im (N, H), C = C_re + i C_im (H, N)), differentiable. */
lr_status lr_lru_discretize(lr_lru *m, lr_tensor **lambda, lr_tensor **B, lr_tensor **C);
/* lrnnx compute_kernel(L, λ, B): K = λ^arange(L) (N, L), B_norm = B ⊙ exp(gamma_log)[:, None]. */
lr_status lr_lru_compute_kernel(lr_lru *m, int64_t L, lr_tensor *lambda, lr_tensor *B, lr_tensor **K,
                                lr_tensor **B_norm);
/* y (B, L, H) from x (B, L, H) of the model's dtype; lengths (B,) i64/i32 or NULL. */
lr_status lr_lru_forward(lr_lru *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);

/* The step cache (λ, B_norm, C computed once, as lrnnx's allocate_inference_cache) and a zero
 * state (batch, N). Free with lr_lti_cache_free; lr_lti_cache_reset zeroes the state. */
lr_status lr_lru_allocate_cache(lr_lru *m, int64_t batch, lr_lti_cache **out);
/* y_t (batch, H) = Re(C h_t) + D ⊙ x_t, h_t = λ ⊙ h_{t-1} + B_norm x_t; x_t (batch, H). */
lr_status lr_lru_step(lr_lru *m, lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y_t);

#endif
