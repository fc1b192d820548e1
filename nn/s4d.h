/* S4D, the diagonal S4 layer (Gu et al. 2022, "On the Parameterization and Initialization of
 * Diagonal State Space Models"), as lrnnx's lrnnx.models.lti.S4D: the SSM kernel by the
 * log-Vandermonde product, an FFT convolution per (channel, feature), then lrnnx's head.
 *
 * Parameters (H = d_model, N' = d_state/2, C = channels), lrnnx's names, shapes and storage:
 *   inv_dt (H, 1) (dt_tie) or (H, N');  C (C, H, N', 2);  B (1, n_ssm, N', 2);
 *   A_real (n_ssm, N');  A_imag (n_ssm, N');  D (C, H);
 *   output_linear.0.weight (H, C·H), output_linear.0.bias (H)   (Linear + GELU, nn.Sequential)
 * lrnnx's state_dict() also lists the SSM parameters a second time, as layer.kernel.{A_real,
 * A_imag, B, C, inv_dt} (the FFTConvS4 -> S4DKernel holds references to them), between D and
 * output_linear: they are tied aliases (lr_module_tie) of children "layer" -> "kernel", so
 * checkpoints match lrnnx's while optimizers see each tensor once. Each SSM parameter carries lrnnx's optimizer hint
 * {"weight_decay": 0.0} (state-spaces' register(..., lr=None, wd=0.0)); lrnnx ignores the `lr`
 * and `wd` constructor arguments, and so does this port.
 *
 * Kernel (S4DKernel.forward), per row h (A, B tiled from n_ssm to H rows):
 *   Δ = T_dt(inv_dt);  A = -T_re(A_real) - i T_im(A_imag);  dtA = Δ A
 *   zoh:      C' = C B (e^{dtA} - 1)/A,             K[c, h, l] = 2 Re Σ_n C'_n e^{dtA_n l}
 *   bilinear: C' = C B Δ/(1 - dtA/2), Ā = (1 + dtA/2)/(1 - dtA/2), K = 2 Re Σ_n C'_n Ā_n^l
 * Forward on x (B, L, H) (or (B, H, L) when transposed):
 *   y[b, c, h] = causal_conv(x[b, :, h], K[c, h]) + x D[c, h];  y -> (B, L, C·H)
 *   y = GELU(GELU(y)) (conv_activation, mult_activation);  y = GELU(y W^T + b) (output_linear)
 * Step (S4DKernel._setup_step/step): s' = dA ⊙ s + dB u, y = 2 Re Σ_n dC s', then the same head;
 * dA = e^{dtA} or the bilinear Ā, dB = B (e^{dtA} - 1)/A or B Δ/(1 - dtA/2), dC = C.
 * Beyond lrnnx: lengths zero y past each length (lrnnx only masks x), and a dtype (f32, f64).
 * Not supported (LR_ERR_UNSUPPORTED): bottleneck, gate, dropout > 0, is_real, deterministic,
 * swap_channels, and the inits outside the list below.
 */
#ifndef LR_NN_S4D_H
#define LR_NN_S4D_H

#include "nn/linear.h"
#include "nn/module.h"
#include "tensor/rng.h"

typedef struct {
  int64_t d_model;            /* required */
  int64_t d_state;            /* 64, even */
  int64_t channels;           /* 1 */
  int64_t l_max;              /* 0 = None: the kernel is as long as the input */
  int64_t n_ssm;              /* 0 = None: d_model; must divide d_model */
  double dt_min, dt_max;      /* 0.001, 0.1 */
  bool dt_tie;                /* true: inv_dt (H, 1) */
  bool dt_fast;               /* false: inv_dt stored through asinh */
  const char *dt_transform;   /* "exp" ("none", "exp", "relu", "sigmoid", "softplus") */
  const char *real_transform; /* "exp" */
  const char *imag_transform; /* "none" */
  const char *init;           /* "legs" (S4D-LegS); "diag-lin", "diag-inv", "diag-inv2", "diag-quad",
                                 "diag-real", "diag-legs", "diag" (= diag-inv + diag-lin) */
  const char *disc;           /* "zoh" or "bilinear" */
  bool final_act;             /* true (lrnnx "glu", which it ignores): output_linear = Linear + GELU;
                                 false (None): no output_linear */
  bool transposed;            /* true (lrnnx's default): x is (B, H, L) */
  double lr, wd;              /* accepted and ignored, as lrnnx */
  lr_dtype dtype;             /* F32 (lrnnx) or F64 */
  /* lrnnx options this port does not implement; anything but the default is LR_ERR_UNSUPPORTED */
  int64_t bottleneck, gate;   /* 0 = None */
  double dropout;             /* 0 */
  bool is_real, deterministic, swap_channels;
} lr_s4d_config;

typedef struct {
  lr_module base;
  lr_s4d_config cfg;
  int64_t N2;      /* d_state / 2 */
  int disc;        /* 0 zoh, 1 bilinear */
  int tr_dt, tr_re, tr_im; /* transforms, indexes into s4d.c's table */
  lr_tensor *inv_dt, *C, *B, *A_real, *A_imag, *D; /* owned by base */
  lr_linear_module *output_linear;                  /* the Linear inside output_linear, or NULL */
} lr_s4d;

lr_s4d_config lr_s4d_config_default(int64_t d_model);
lr_status lr_s4d_new(lr_module *parent, const char *name, const lr_s4d_config *cfg, lr_rng *rng, lr_s4d **out);

/* The SSM kernel K (C, H, Lk) for Lk = min(L, l_max) (S4DKernel.forward without state). */
lr_status lr_s4d_compute_kernel(lr_s4d *m, int64_t L, lr_tensor **K);
/* y (B, L, H) (or (B, H, L) when transposed) from x of the same layout; lengths (B,) or NULL. */
lr_status lr_s4d_forward(lr_s4d *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);

typedef struct {
  int64_t batch;
  lr_tensor *state; /* (batch, H, N') complex */
  lr_tensor *dA;    /* (H, N') */
  lr_tensor *dB;    /* (H, N') */
  lr_tensor *dC;    /* (C, H, N') */
} lr_s4d_cache;

lr_status lr_s4d_allocate_cache(lr_s4d *m, int64_t batch, lr_s4d_cache **out);
lr_status lr_s4d_cache_reset(lr_s4d_cache *c);
void lr_s4d_cache_free(lr_s4d_cache *c);
/* y_t (batch, H) from x_t (batch, H). */
lr_status lr_s4d_step(lr_s4d *m, lr_s4d_cache *c, lr_tensor *x_t, lr_tensor **y_t);

#endif
