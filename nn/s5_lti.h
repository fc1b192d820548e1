/* S5, the LTI convolution version, as lrnnx's lrnnx.models.lti.S5(d_model, d_state,
 * discretization, conj_sym=False) (Smith et al. 2023, "Simplified State Space Layers").
 *
 * Parameters (H = d_model, N = d_state), lrnnx's names, shapes and storage:
 *   A (N, 2) real [log_A_real, A_imag]; B (N, H) real; log_dt (N); C (H, N, 2) real view of a
 *   complex (H, N); D (H, H), a full matrix.
 * Math:
 *   λ = -softplus(log_A_real) + i A_imag;  Δ = exp(log_dt);  (Ā, γ̄) = discretize(λ, Δ)
 *   B̄ = γ̄[:, None] ⊙ B;  h_t = Ā ⊙ h_{t-1} + B̄ x_t;  y_t = Re(C h_t) + D^T x_t   (y = ... + x @ D)
 * Forward as lrnnx: K = Ā^arange(L), y = opt_ssm_forward(x, K, B̄, C) + x @ D.
 * Discretizations: zoh, bilinear, dirac, no_discretization (ops/discretize.h). bilinear is the
 * stable form Ā = (1 + Δλ/2)/(1 - Δλ/2), γ̄ = Δ/(1 - Δλ/2): lrnnx's core/discretization.py has the
 * signs inverted (|Ā| > 1 for Re λ < 0, inventory §13.3); no checkpoint changes with the fix.
 * Beyond lrnnx: lengths, and a dtype (f32, f64). conj_sym = true is LR_ERR_UNSUPPORTED, as in
 * lrnnx (NotImplementedError).
 */
#ifndef LR_NN_S5_LTI_H
#define LR_NN_S5_LTI_H

#include "kernels/discretize_math.h"
#include "nn/lti_util.h"
#include "nn/module.h"
#include "tensor/rng.h"

typedef struct {
  int64_t d_model, d_state; /* required, >= 1 */
  lr_disc discretization;   /* required: LR_DISC_ZOH, _BILINEAR, _DIRAC or _NONE */
  bool conj_sym;            /* false (true is not implemented, as in lrnnx) */
  lr_dtype dtype;           /* F32 (lrnnx) or F64 */
} lr_s5_lti_config;

typedef struct {
  lr_module base;
  lr_s5_lti_config cfg;
  lr_tensor *A, *B, *log_dt, *C, *D; /* owned by base */
} lr_s5_lti;

lr_s5_lti_config lr_s5_lti_config_default(int64_t d_model, int64_t d_state, lr_disc discretization);
/* A new S5-LTI from rng (lrnnx init, see s5_lti.c). LR_ERR_ARG for sizes < 1 or another
 * discretization, LR_ERR_UNSUPPORTED for conj_sym, LR_ERR_DTYPE unless F32/F64. */
lr_status lr_s5_lti_new(lr_module *parent, const char *name, const lr_s5_lti_config *cfg, lr_rng *rng,
                        lr_s5_lti **out);

/* lrnnx discretize(): Ā (N), γ̄ (N) complex (ones for dirac and no_discretization), C (H, N). */
lr_status lr_s5_lti_discretize(lr_s5_lti *m, lr_tensor **Abar, lr_tensor **gamma_bar, lr_tensor **C);
/* lrnnx compute_kernel(L, Ā, γ̄): K = Ā^arange(L) (N, L), B̄ = γ̄[:, None] ⊙ B (N, H) complex. */
lr_status lr_s5_lti_compute_kernel(lr_s5_lti *m, int64_t L, lr_tensor *Abar, lr_tensor *gamma_bar, lr_tensor **K,
                                   lr_tensor **Bbar);
/* y (B, L, H) from x (B, L, H); lengths (B,) i64/i32 or NULL. */
lr_status lr_s5_lti_forward(lr_s5_lti *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);

/* Cache (Ā, B̄, C, zero state (batch, N)); free with lr_lti_cache_free, reset with
 * lr_lti_cache_reset. */
lr_status lr_s5_lti_allocate_cache(lr_s5_lti *m, int64_t batch, lr_lti_cache **out);
/* y_t = Re(C h_t) + x_t @ D, h_t = Ā ⊙ h_{t-1} + B̄ x_t; x_t (batch, H). */
lr_status lr_s5_lti_step(lr_s5_lti *m, lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y_t);

#endif
