/* Centaurus ("Let SSMs be ConvNets", Centaurus, openreview PkpNRmBZ32), as lrnnx's
 * lrnnx.models.lti.Centaurus factory: Centaurus(d_model, d_state, sub_state_dim,
 * discretization="zoh", mode="neck") builds CentaurusNeck (mode "neck"), CentaurusPWNeck
 * ("pointwise", "pw", "s5"), CentaurusDWS ("dws") or CentaurusFull ("full").
 *
 * Parameters (H = d_model, N = d_state, M = sub_state_dim), lrnnx's names, shapes and order:
 *   A (N, M) complex: -1/2 + iπm/M on every row (stored as a real (N, M, 2) view; a complex C64
 *     entry loads too);  E (N, M) ~ N(0, 2) (not in pointwise);  log_delta (N) = log(logspace(-3, -1, N));
 *   neck:      B (N, H), C (H, N), both kaiming_uniform(a=√5)
 *   dws:       B (H), C (H), ones; needs N == H
 *   full:      B (N) ~ N(0, 2/H), C (N) ~ N(0, 2/N); needs N == H²; state n maps input n % H to
 *              output n / H
 *   pointwise: B (N·M, H) = 1/√H, C (H, N·M) ~ N(0, 2/(NM))
 * Math (Δ = exp(log_delta)):
 *   neck/dws/full: K[n, l] = Σ_m E[n, m] Re(exp(Δ_n A[n, m] l)) (N, L), B̄ = Δ ⊙ B_eff (N, H),
 *     y = opt_ssm_forward(x, K, B̄, C_eff) (ops/lti.h), i.e. the recurrence
 *     h_t[n, m] = e^{Δ_n A[n, m]} h_{t-1}[n, m] + (B̄ x_t)[n],  y_t = C_eff (Σ_m E ⊙ Re h_t).
 *     B_eff: neck B; dws diag(B); full B[n] at (n, n % H). C_eff: neck C; dws diag(C); full C[n]
 *     at (n / H, n).
 *   pointwise: K[s, l] = Re(exp(Δ_{s/M} A_flat[s] l)) (NM, L), B̄ = repeat_interleave(Δ, M) ⊙ B,
 *     h_t[s] = e^{ΔA}[s] h_{t-1}[s] + (B̄ x_t)[s],  y_t = C Re h_t.
 *   No D skip. discretization is accepted and ignored (lrnnx too: B̄ = ΔB with exp(ΔA)); lrnnx's
 *   discretize() raises, lr_centaurus_discretize returns LR_ERR_UNSUPPORTED.
 * The kernel is the log-Vandermonde product: K = 2 Re Σ_m (E/2) e^{ΔA l} (ops/s4_kernels.h).
 * Beyond lrnnx: lengths zero y past each length (lrnnx ignores lengths); a dtype (f32, f64); the
 * shape constraints of dws/full are checked at construction with a message (lrnnx fails inside).
 */
#ifndef LR_NN_CENTAURUS_H
#define LR_NN_CENTAURUS_H

#include "nn/module.h"
#include "tensor/rng.h"

typedef enum {
  LR_CENTAURUS_NECK = 0,
  LR_CENTAURUS_POINTWISE, /* lrnnx's CentaurusPWNeck: "pointwise", "pw", "s5" */
  LR_CENTAURUS_DWS,
  LR_CENTAURUS_FULL
} lr_centaurus_mode;

typedef struct {
  int64_t d_model, d_state, sub_state_dim; /* required, >= 1 */
  const char *discretization;             /* "zoh" (also bilinear, dirac, async, no_discretization): ignored */
  lr_centaurus_mode mode;                 /* neck */
  lr_dtype dtype;                         /* F32 (lrnnx) or F64 */
} lr_centaurus_config;

typedef struct {
  lr_module base;
  lr_centaurus_config cfg;
  lr_tensor *A;         /* (N, M) complex */
  lr_tensor *E;         /* (N, M) real; NULL in pointwise mode */
  lr_tensor *log_delta; /* (N) */
  lr_tensor *B, *C;     /* by mode, see above */
} lr_centaurus;

lr_centaurus_config lr_centaurus_config_default(int64_t d_model, int64_t d_state, int64_t sub_state_dim);
/* "neck", "pointwise", "pw", "s5", "dws", "full" -> *out; LR_ERR_ARG naming the string otherwise. */
lr_status lr_centaurus_mode_from_name(const char *name, lr_centaurus_mode *out);
lr_status lr_centaurus_new(lr_module *parent, const char *name, const lr_centaurus_config *cfg, lr_rng *rng,
                           lr_centaurus **out);

/* lrnnx's discretize(): always LR_ERR_UNSUPPORTED (lrnnx raises NotImplementedError). */
lr_status lr_centaurus_discretize(lr_centaurus *m);
/* compute_kernel() for length L: K (N, L) real ((N·M, L) in pointwise mode), differentiable. */
lr_status lr_centaurus_compute_kernel(lr_centaurus *m, int64_t L, lr_tensor **K);
/* _effective_B() (Δ included) (N, H) or (N·M, H) and _effective_C() (H, N) or (H, N·M), real. */
lr_status lr_centaurus_effective_B(lr_centaurus *m, lr_tensor **B);
lr_status lr_centaurus_effective_C(lr_centaurus *m, lr_tensor **C);
/* y (B, L, H) from x (B, L, H) of the model's dtype; lengths (B,) i64/i32 or NULL. */
lr_status lr_centaurus_forward(lr_centaurus *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);

/* lrnnx's inference cache, persistent tensors on the model's device:
 * neck/dws/full {"lrnn_state" (batch, N, M), "A_bar" (N, M), "B_bar" (N, H), "E" (N, M), "C" (H, N)};
 * pointwise {"lrnn_state" (batch, N·M), "A_bar_flat" (N·M), "B_bar_flat" (N·M, H), "C_flat" (H, N·M)}. */
typedef struct {
  int64_t batch;
  lr_centaurus_mode mode;
  lr_tensor *state; /* complex */
  lr_tensor *Abar;  /* complex */
  lr_tensor *Bbar;  /* real */
  lr_tensor *E;     /* real; NULL in pointwise mode */
  lr_tensor *C;     /* real */
} lr_centaurus_cache;

lr_status lr_centaurus_allocate_cache(lr_centaurus *m, int64_t batch, lr_centaurus_cache **out);
lr_status lr_centaurus_cache_reset(lr_centaurus_cache *c);
void lr_centaurus_cache_free(lr_centaurus_cache *c);
/* y_t (batch, H) from x_t (batch, H). */
lr_status lr_centaurus_step(lr_centaurus *m, lr_centaurus_cache *c, lr_tensor *x_t, lr_tensor **y_t);

#endif
