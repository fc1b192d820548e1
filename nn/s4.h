/* S4, the structured state space layer with a diagonal-plus-low-rank (DPLR) state matrix (Gu et
 * al. 2022, "Efficiently Modeling Long Sequences with Structured State Spaces"), as lrnnx's
 * lrnnx.models.lti.S4 with S4Kernel (ops/s4_kernel_interface.py) and FFTConvS4.
 *
 * Parameters (H = d_model, N' = d_state/2, C = channels, r = rank), lrnnx's names, shapes, storage:
 *   inv_dt (H, 1) (dt_tie) or (H, N');  C (C, H, N', 2);  B (1, n_ssm, N', 2);
 *   A_real (n_ssm, N');  A_imag (n_ssm, N');  P (r, n_ssm, N', 2);  D (C, H);
 *   layer.kernel.{A_real, A_imag, B, C, P, inv_dt}: the same tensors a second time (tied aliases,
 *     S4KernelBase holds references to them), and the buffer layer.kernel.l_kernel (I64, 0-dim):
 *     the length that C has been transformed for (0: C is still the plain C);
 *   output_linear.0.weight (H, C·H), output_linear.0.bias (H)   (Linear + GELU)
 * Each SSM parameter carries lrnnx's optimizer hint {"weight_decay": 0.0}.
 *
 * The SSM: x' = A x + B u, y = Re(C x) (C·H outputs per input channel h), with the DPLR
 *   A = Λ - P Q^*,  Λ = -T_re(A_real) - i T_im(A_imag),  Q = conj(P),  Δ = T_dt(inv_dt),
 * discretised by the bilinear transform, dA = (I - Δ/2 A)^{-1}(I + Δ/2 A), dB = (I - Δ/2 A)^{-1} Δ B,
 * over the full conjugate-symmetric state of size 2N' (every quantity X of size N' stands for
 * [X, conj X]).
 *
 * C̃ (lrnnx's _setup_C): the kernel of length Lk is computed from its generating function at the
 * Lk-th roots of unity, which needs C̃ = (I - dA^Lk)^T C. lrnnx stores C̃ IN PLACE of C the first
 * time a kernel is needed (forward, or step setup with l_max set), and l_kernel records Lk; a
 * longer input doubles Lk (C̃ <- C̃ + (dA^Lk)^T C̃, which is the C̃ for 2 Lk). This port does the
 * same, so checkpoints written before or after the first forward load and behave as lrnnx's.
 *
 * Kernel (S4Kernel.forward), with Ld = l_kernel, ω_k = exp(-2πik/Ld) (k <= Ld/2),
 * z = 2(1 - ω)/(1 + ω):
 *   v = [B; P] ⊗ [C̃; Q] Δ   ((1 + r), (C + r), H, N')
 *   R = cauchy(v, z, ΔΛ):  R[a, b, h, k] = Σ_n v/(z_k - ΔΛ_n) + conj(v)/(z_k - conj(ΔΛ_n))
 *   k_f = R00 - R01 (I + R11)^{-1} R10  (Woodbury; rank 1: R00 - R01 R10/(1 + R11))
 *   K = irfft(k_f · 2/(1 + ω), Ld)[..., :L]   (C, H, L)
 * Forward on x (B, L, H) (or (B, H, L) when transposed):
 *   y[b, c, h] = causal_conv(x[b, :, h], K[c, h]) + x D[c, h];  y -> (B, L, C·H)
 *   y = GELU(GELU(y)) (conv_activation, mult_activation);  y = GELU(y W^T + b) (output_linear)
 * Step (S4Kernel._setup_step / step), three modes:
 *   dense:    s (B, H, 2N'), s' = dA s + dB u, y = Re(dC s'), dC = (I - dA^Lk^T)^{-1} C̃ (= C);
 *   linear:   s (B, H, N'), the O(N) DPLR step  s' = D_(E s - P Q^* s + 2 B u - P R^* (...)),
 *             y = Re(2 dC[:N'] s');
 *   diagonal: dA = V Λ V^{-1} (eigendecomposition), s in the eigenbasis: s' = Λ s + V^{-1} dB u,
 *             y = Re((V^T dC) s');
 *   then the same D, GELU, GELU, output_linear head as the forward.
 * Beyond lrnnx: lengths also zero y past each length (lrnnx only masks x), and a dtype (f32, f64).
 * Not supported (LR_ERR_UNSUPPORTED): bottleneck, gate, dropout > 0, is_real, deterministic,
 * swap_channels, the stateful forward (state=) and rate != 1, and the init helpers' keyword
 * arguments (real_random, B_init, P_scale, ...).
 */
#ifndef LR_NN_S4_H
#define LR_NN_S4_H

#include "nn/linear.h"
#include "nn/module.h"
#include "tensor/rng.h"

typedef struct {
  int64_t d_model;            /* required */
  int64_t d_state;            /* 64, even */
  int64_t channels;           /* 1 */
  int64_t l_max;              /* 0 = None: the kernel is as long as the input */
  int64_t n_ssm;              /* 0 = None: d_model; must divide d_model */
  int64_t rank;               /* 1: rank of the low-rank term P */
  double dt_min, dt_max;      /* 0.001, 0.1 */
  bool dt_tie;                /* true: inv_dt (H, 1) */
  bool dt_fast;               /* false: inv_dt stored through asinh */
  const char *dt_transform;   /* "exp" ("none", "exp", "relu", "sigmoid", "softplus") */
  const char *real_transform; /* "exp" */
  const char *imag_transform; /* "none" */
  const char *init;           /* "legs" (HiPPO-LegS NPLR); "legt" (rank >= 2), "fourier", "hippo" (legs +
                                 fourier), "diag-*" (P = 0), "dplr-*" (random P), "diag", "all" */
  bool final_act;             /* true (lrnnx "glu", which it ignores): output_linear = Linear + GELU;
                                 false (None): no output_linear */
  bool transposed;            /* true (lrnnx's default): x is (B, H, L) */
  double lr, wd;              /* accepted and ignored, as lrnnx */
  lr_dtype dtype;             /* F32 (lrnnx) or F64 */
  /* lrnnx options this port does not implement; anything but the default is LR_ERR_UNSUPPORTED */
  int64_t bottleneck, gate;   /* 0 = None */
  double dropout;             /* 0 */
  bool is_real, deterministic, swap_channels;
} lr_s4_config;

typedef struct {
  lr_module base;
  lr_s4_config cfg;
  int64_t N2, n_ssm;       /* d_state / 2; SSM copies */
  int tr_dt, tr_re, tr_im; /* transforms, indexes into s4.c's table */
  lr_tensor *inv_dt, *C, *B, *A_real, *A_imag, *P, *D; /* owned by base */
  lr_tensor *l_kernel;     /* buffer layer.kernel.l_kernel, I64 0-dim, owned by the kernel child */
  lr_linear_module *output_linear; /* the Linear inside output_linear, or NULL */
} lr_s4;

lr_s4_config lr_s4_config_default(int64_t d_model);
lr_status lr_s4_new(lr_module *parent, const char *name, const lr_s4_config *cfg, lr_rng *rng, lr_s4 **out);

/* The length C has been transformed for (the l_kernel buffer); 0 before the first kernel. */
int64_t lr_s4_l_kernel(const lr_s4 *m);
/* lrnnx's _setup_C(L): the first call turns C into C̃ for length L (l_kernel = L); later calls
 * with L > l_kernel double l_kernel once; otherwise nothing. In place, not recorded. */
lr_status lr_s4_setup_C(lr_s4 *m, int64_t L);
/* The SSM kernel K (C, H, Lk), Lk = min(L, l_max) (FFTConvS4 -> S4Kernel.forward): transforms C
 * (setup_C) as lrnnx does when l_kernel is shorter than needed; differentiable in the parameters. */
lr_status lr_s4_compute_kernel(lr_s4 *m, int64_t L, lr_tensor **K);
/* y (B, L, H) (or (B, H, L) when transposed) from x of the same layout; lengths (B,) or NULL. */
lr_status lr_s4_forward(lr_s4 *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);

typedef enum { LR_S4_STEP_DENSE = 0, LR_S4_STEP_LINEAR, LR_S4_STEP_DIAGONAL } lr_s4_step_mode;

/* The step cache; all tensors persistent (heap) on the model's device, complex. */
typedef struct {
  int64_t batch;
  lr_s4_step_mode mode;
  lr_tensor *state; /* (batch, H, 2N') dense/diagonal, (batch, H, N') linear */
  lr_tensor *dA;    /* dense (H, 2N', 2N'); diagonal (H, 2N'); linear NULL */
  lr_tensor *dB;    /* dense/diagonal (H, 2N'); linear NULL */
  lr_tensor *dC;    /* (C, H, 2N') dense/diagonal; (C, H, N') linear (2 dC[..., :N']) */
  /* linear mode's step_params: D, E, B (H, N'), P, Q, R (r, H, N') */
  lr_tensor *lD, *lE, *lB, *lP, *lQ, *lR;
} lr_s4_cache;

/* lrnnx's allocate_inference_cache (setup_step(mode) then default_state): transforms C first if
 * l_max is set and no kernel was built yet, as lrnnx's _setup_step. lrnnx's S4 uses "dense". */
lr_status lr_s4_allocate_cache(lr_s4 *m, int64_t batch, lr_s4_step_mode mode, lr_s4_cache **out);
lr_status lr_s4_cache_reset(lr_s4_cache *c);
void lr_s4_cache_free(lr_s4_cache *c);
/* y_t (batch, H) from x_t (batch, H). */
lr_status lr_s4_step(lr_s4 *m, lr_s4_cache *c, lr_tensor *x_t, lr_tensor **y_t);

#endif
