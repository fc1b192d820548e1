/* Centaurus (lrnnx.models.lti.centaurus); see centaurus.h for the parameters and the math.
 *
 * Init, in lrnnx's order: A = -1/2 + iπm/M (no draw); E ~ N(0, 1)·√2 (not in pointwise);
 * log_delta = log(logspace(-3, -1, N)); then B, C by mode (kaiming_uniform(a=√5) is U(±1/√fan_in)
 * with fan_in the second dim: H for B (N, H), N for C (H, N)).
 * Forward: the kernel K by lr_log_vandermonde with v = E/2 (so 2 Re Σ_m v e^{ΔA l} = Σ_m E Re(...)),
 * or v = 1/2 per flattened lane in pointwise mode; then lr_opt_ssm_forward with K, B̄ and C_eff
 * lifted to complex (imaginary 0), as lrnnx's .to(A.dtype). The dws/full B_eff and C_eff are
 * elementwise products with constant 0/1 selection matrices, so their gradients are the
 * scatter's. Backward: composed of differentiable ops, every parameter and x get gradients.
 * Step (no tape): lrnnx's step, s' = Ā ⊙ s + (B̄ x)[..., None], y = C (Σ_m E ⊙ Re s').
 */
#include "nn/centaurus.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lti_util.h"
#include "nn/registry.h"
#include "ops/complex.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/lti.h"
#include "ops/reduce.h"
#include "ops/s4_kernels.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "tensor/arena.h"

static const char *const mode_names[] = {"neck", "pointwise", "pw", "s5", "dws", "full", NULL};
static const lr_centaurus_mode mode_values[] = {LR_CENTAURUS_NECK, LR_CENTAURUS_POINTWISE, LR_CENTAURUS_POINTWISE,
                                                LR_CENTAURUS_POINTWISE, LR_CENTAURUS_DWS, LR_CENTAURUS_FULL};
static const char *const discs[] = {"zoh", "bilinear", "dirac", "async", "no_discretization", NULL};
static const char *const type_names[] = {"CentaurusNeck", "CentaurusPWNeck", "CentaurusDWS", "CentaurusFull"};

lr_centaurus_config lr_centaurus_config_default(int64_t d_model, int64_t d_state, int64_t sub_state_dim) {
  lr_centaurus_config c = {d_model, d_state, sub_state_dim, "zoh", LR_CENTAURUS_NECK, LR_DTYPE_F32};
  return c;
}

lr_status lr_centaurus_mode_from_name(const char *name, lr_centaurus_mode *out) {
  for (int i = 0; name && mode_names[i]; i++)
    if (!strcmp(name, mode_names[i])) {
      *out = mode_values[i];
      return LR_OK;
    }
  return lr_fail(LR_ERR_ARG, "lr_centaurus_mode_from_name: mode \"%.80s\", expected neck, pointwise, pw, s5, dws or full",
                 name ? name : "(null)");
}

static lr_status check_config(const lr_centaurus_config *c) {
  const char *fn = "lr_centaurus_new";
  if (c->d_model < 1 || c->d_state < 1 || c->sub_state_dim < 1)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld, d_state %lld, sub_state_dim %lld: each must be >= 1", fn,
                   (long long)c->d_model, (long long)c->d_state, (long long)c->sub_state_dim);
  bool ok = false;
  for (int i = 0; c->discretization && discs[i]; i++) ok |= !strcmp(c->discretization, discs[i]);
  if (!ok)
    return lr_fail(LR_ERR_ARG, "%s: discretization \"%.80s\", expected zoh, bilinear, dirac, async or no_discretization",
                   fn, c->discretization ? c->discretization : "(null)");
  if ((unsigned)c->mode > LR_CENTAURUS_FULL) return lr_fail(LR_ERR_ARG, "%s: mode %d, expected 0..3", fn, (int)c->mode);
  if (c->mode == LR_CENTAURUS_DWS && c->d_state != c->d_model)
    return lr_fail(LR_ERR_ARG, "%s: mode dws needs d_state == d_model, got d_state %lld, d_model %lld", fn,
                   (long long)c->d_state, (long long)c->d_model);
  if (c->mode == LR_CENTAURUS_FULL && c->d_state != c->d_model * c->d_model)
    return lr_fail(LR_ERR_ARG, "%s: mode full needs d_state == d_model^2 = %lld, got d_state %lld", fn,
                   (long long)(c->d_model * c->d_model), (long long)c->d_state);
  if (c->dtype != LR_DTYPE_F32 && c->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(c->dtype));
  return LR_OK;
}

static lr_status init(lr_centaurus *m, lr_rng *rng) {
  const lr_centaurus_config *c = &m->cfg;
  int64_t H = c->d_model, N = c->d_state, M = c->sub_state_dim;
  for (int64_t n = 0; n < N; n++)
    for (int64_t j = 0; j < M; j++) lr_tensor_set(m->A, n * M + j, -0.5, (double)j * M_PI / (double)M);
  if (m->E) LR_TRY(lr_rand_normal_(m->E, 0.0, sqrt(2.0), rng));
  for (int64_t n = 0; n < N; n++) { /* logspace(-3, -1, N): 10^(-3 + 2n/(N-1)), N = 1: 10^-3 */
    double e10 = N > 1 ? -3.0 + 2.0 * (double)n / (double)(N - 1) : -3.0;
    lr_tensor_set(m->log_delta, n, e10 * log(10.0), 0);
  }
  switch (c->mode) {
    case LR_CENTAURUS_NECK:
      LR_TRY(lr_rand_uniform_(m->B, -1.0 / sqrt((double)H), 1.0 / sqrt((double)H), rng));
      return lr_rand_uniform_(m->C, -1.0 / sqrt((double)N), 1.0 / sqrt((double)N), rng);
    case LR_CENTAURUS_DWS:
      LR_TRY(lr_tensor_fill_(m->B, 1.0));
      return lr_tensor_fill_(m->C, 1.0);
    case LR_CENTAURUS_FULL:
      LR_TRY(lr_rand_normal_(m->B, 0.0, sqrt(2.0 / (double)H), rng));
      return lr_rand_normal_(m->C, 0.0, sqrt(2.0 / (double)N), rng);
    default:
      LR_TRY(lr_tensor_fill_(m->B, 1.0 / sqrt((double)H)));
      return lr_rand_normal_(m->C, 0.0, sqrt(2.0 / (double)(N * M)), rng);
  }
}

lr_status lr_centaurus_new(lr_module *parent, const char *name, const lr_centaurus_config *cfg, lr_rng *rng,
                           lr_centaurus **out) {
  const char *fn = "lr_centaurus_new";
  if (!cfg || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !cfg ? "cfg" : !rng ? "rng" : "out");
  LR_TRY(check_config(cfg));
  lr_module *mod;
  LR_TRY(lr_module_new(sizeof(lr_centaurus), type_names[cfg->mode], &mod));
  lr_centaurus *m = (lr_centaurus *)mod;
  m->cfg = *cfg;
  int64_t H = cfg->d_model, N = cfg->d_state, M = cfg->sub_state_dim;
  lr_dtype dt = cfg->dtype;
  lr_status s = lr_module_add_param(mod, "A", lr_dtype_complex(dt), LR_SHAPE(N, M), &m->A);
  if (s == LR_OK) s = lr_module_store_as_real(mod, "A");
  if (s == LR_OK && cfg->mode != LR_CENTAURUS_POINTWISE) s = lr_module_add_param(mod, "E", dt, LR_SHAPE(N, M), &m->E);
  if (s == LR_OK) s = lr_module_add_param(mod, "log_delta", dt, LR_SHAPE(N), &m->log_delta);
  if (s == LR_OK) {
    switch (cfg->mode) {
      case LR_CENTAURUS_NECK:
        s = lr_module_add_param(mod, "B", dt, LR_SHAPE(N, H), &m->B);
        if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(H, N), &m->C);
        break;
      case LR_CENTAURUS_DWS:
        s = lr_module_add_param(mod, "B", dt, LR_SHAPE(H), &m->B);
        if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(H), &m->C);
        break;
      case LR_CENTAURUS_FULL:
        s = lr_module_add_param(mod, "B", dt, LR_SHAPE(N), &m->B);
        if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(N), &m->C);
        break;
      default:
        s = lr_module_add_param(mod, "B", dt, LR_SHAPE(N * M, H), &m->B);
        if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(H, N * M), &m->C);
        break;
    }
  }
  if (s == LR_OK) s = init(m, rng);
  if (s != LR_OK) {
    lr_module_free(mod);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, mod));
  *out = m;
  return LR_OK;
}

lr_status lr_centaurus_discretize(lr_centaurus *m) {
  (void)m;
  return lr_fail(LR_ERR_UNSUPPORTED, "lr_centaurus_discretize: Centaurus has no discretize(): its kernel uses exp(ΔA) "
                                     "and B̄ = ΔB directly (lrnnx raises NotImplementedError)");
}

/* Δ A (N, M) complex. */
static lr_status dtA(lr_centaurus *m, lr_tensor **out) {
  lr_tensor *d, *d2, *dc;
  LR_TRY(lr_exp(m->log_delta, &d));
  LR_TRY(lr_unsqueeze(d, 1, &d2));
  LR_TRY(lr_lti_to_complex(d2, &dc));
  return lr_mul(dc, m->A, out);
}

lr_status lr_centaurus_compute_kernel(lr_centaurus *m, int64_t L, lr_tensor **K) {
  const char *fn = "lr_centaurus_compute_kernel";
  if (!m || !K) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (L < 1) return lr_fail(LR_ERR_ARG, "%s: L %lld, expected >= 1", fn, (long long)L);
  int64_t N = m->cfg.d_state, M = m->cfg.sub_state_dim;
  lr_tensor *x, *v;
  LR_TRY(dtA(m, &x));
  if (m->cfg.mode == LR_CENTAURUS_POINTWISE) { /* K[s, l] = Re e^{ΔA_s l} = 2 Re (1/2) e^{ΔA_s l} */
    lr_tensor *xf, *h;
    LR_TRY(lr_reshape(x, LR_SHAPE(N * M, 1), &xf));
    LR_TRY(lr_full(m->cfg.dtype, LR_SHAPE(1), 0.5, &h));
    if (m->A->device != LR_DEVICE_CPU) LR_TRY(lr_to(h, m->A->device, &h));
    LR_TRY(lr_lti_to_complex(h, &v));
    return lr_log_vandermonde(v, xf, L, K);
  }
  lr_tensor *eh;
  LR_TRY(lr_affine(m->E, 0.5, 0.0, &eh));
  LR_TRY(lr_lti_to_complex(eh, &v));
  return lr_log_vandermonde(v, x, L, K); /* (N, L) */
}

/* A 0/1 constant (rows, cols) of the model dtype: sel[i][j] = (f(i) == j) with f by kind:
 * 0 identity (diag), 1 i % H (full B: (N, H)), 2 transposed: sel[o][n] = (n / H == o) (full C). */
static lr_status selector(lr_centaurus *m, int kind, int64_t rows, int64_t cols, lr_tensor **out) {
  int64_t H = m->cfg.d_model;
  lr_tensor *t;
  LR_TRY(lr_zeros(m->cfg.dtype, LR_SHAPE(rows, cols), &t));
  for (int64_t i = 0; i < rows; i++)
    for (int64_t j = 0; j < cols; j++) {
      bool on = kind == 0 ? i == j : kind == 1 ? i % H == j : j / H == i;
      if (on) lr_tensor_set(t, i * cols + j, 1.0, 0);
    }
  if (m->A->device != LR_DEVICE_CPU) return lr_to(t, m->A->device, out);
  *out = t;
  return LR_OK;
}

lr_status lr_centaurus_effective_B(lr_centaurus *m, lr_tensor **B) {
  if (!m || !B) return lr_fail(LR_ERR_ARG, "lr_centaurus_effective_B: NULL argument");
  int64_t H = m->cfg.d_model, N = m->cfg.d_state, M = m->cfg.sub_state_dim;
  lr_tensor *d, *d2, *b = m->B;
  LR_TRY(lr_exp(m->log_delta, &d));
  LR_TRY(lr_unsqueeze(d, 1, &d2)); /* (N, 1) */
  switch (m->cfg.mode) {
    case LR_CENTAURUS_NECK: break;
    case LR_CENTAURUS_DWS: { /* diag(B) */
      lr_tensor *sel, *bu;
      LR_TRY(selector(m, 0, H, H, &sel));
      LR_TRY(lr_unsqueeze(m->B, 0, &bu));
      LR_TRY(lr_mul(sel, bu, &b));
      break;
    }
    case LR_CENTAURUS_FULL: { /* B[n] at (n, n % H) */
      lr_tensor *sel, *bu;
      LR_TRY(selector(m, 1, N, H, &sel));
      LR_TRY(lr_unsqueeze(m->B, 1, &bu));
      LR_TRY(lr_mul(sel, bu, &b));
      break;
    }
    default: { /* repeat_interleave(Δ, M) */
      lr_tensor *e;
      LR_TRY(lr_expand(d2, LR_SHAPE(N, M), &e));
      LR_TRY(lr_reshape(e, LR_SHAPE(N * M, 1), &d2));
      break;
    }
  }
  return lr_mul(d2, b, B);
}

lr_status lr_centaurus_effective_C(lr_centaurus *m, lr_tensor **C) {
  if (!m || !C) return lr_fail(LR_ERR_ARG, "lr_centaurus_effective_C: NULL argument");
  int64_t H = m->cfg.d_model, N = m->cfg.d_state;
  lr_tensor *sel, *cu;
  switch (m->cfg.mode) {
    case LR_CENTAURUS_DWS:
      LR_TRY(selector(m, 0, H, H, &sel));
      LR_TRY(lr_unsqueeze(m->C, 0, &cu));
      return lr_mul(sel, cu, C);
    case LR_CENTAURUS_FULL: /* C[n] at (n / H, n) */
      LR_TRY(selector(m, 2, H, N, &sel));
      LR_TRY(lr_unsqueeze(m->C, 0, &cu));
      return lr_mul(sel, cu, C);
    default:
      *C = m->C;
      return LR_OK;
  }
}

lr_status lr_centaurus_forward(lr_centaurus *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y) {
  const char *fn = "lr_centaurus_forward";
  if (!m || !y) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  LR_TRY(lr_lti_check_x(fn, x, m->cfg.d_model, m->cfg.dtype));
  int64_t Bn = x->shape[0], L = x->shape[1];
  if (L < 1) return lr_fail(LR_ERR_SHAPE, "%s: x has length 0", fn);
  lr_tensor *mask = NULL, *K, *Kc, *Bb, *Bc, *Ce, *Cc, *out;
  if (lengths) {
    LR_TRY(lr_lti_length_mask(fn, lengths, Bn, L, x->dtype, x->device, &mask));
    LR_TRY(lr_mul(x, mask, &x));
  }
  LR_TRY(lr_centaurus_compute_kernel(m, L, &K));
  LR_TRY(lr_centaurus_effective_B(m, &Bb));
  LR_TRY(lr_centaurus_effective_C(m, &Ce));
  LR_TRY(lr_lti_to_complex(K, &Kc));
  LR_TRY(lr_lti_to_complex(Bb, &Bc));
  LR_TRY(lr_lti_to_complex(Ce, &Cc));
  LR_TRY(lr_opt_ssm_forward(x, Kc, Bc, Cc, LR_SSM_AUTO, &out));
  if (mask) LR_TRY(lr_mul(out, mask, &out));
  *y = out;
  return LR_OK;
}

/* ---- step ---- */

void lr_centaurus_cache_free(lr_centaurus_cache *c) {
  if (!c) return;
  lr_tensor_free(c->state);
  lr_tensor_free(c->Abar);
  lr_tensor_free(c->Bbar);
  lr_tensor_free(c->E);
  lr_tensor_free(c->C);
  free(c);
}

lr_status lr_centaurus_cache_reset(lr_centaurus_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_centaurus_cache_reset: cache is NULL");
  return lr_tensor_fill_(c->state, 0.0);
}

static lr_status persist(lr_tensor *x, lr_tensor **out) {
  LR_TRY(lr_tensor_new(x->dtype, x->device, x->ndim, x->shape, out));
  return lr_tensor_copy_(*out, x);
}

static lr_status build_cache(lr_centaurus *m, int64_t batch, lr_centaurus_cache *c) {
  int64_t N = m->cfg.d_state, M = m->cfg.sub_state_dim;
  bool pw = m->cfg.mode == LR_CENTAURUS_POINTWISE;
  lr_tensor *x, *Ab, *Bb, *Ce;
  LR_TRY(dtA(m, &x));
  LR_TRY(lr_exp(x, &Ab));
  if (pw) LR_TRY(lr_reshape(Ab, LR_SHAPE(N * M), &Ab));
  LR_TRY(lr_centaurus_effective_B(m, &Bb));
  LR_TRY(lr_centaurus_effective_C(m, &Ce));
  LR_TRY(persist(Ab, &c->Abar));
  LR_TRY(persist(Bb, &c->Bbar));
  LR_TRY(persist(Ce, &c->C));
  if (!pw) LR_TRY(persist(m->E, &c->E));
  if (pw) LR_TRY(lr_tensor_new(m->A->dtype, m->A->device, LR_SHAPE(batch, N * M), &c->state));
  else LR_TRY(lr_tensor_new(m->A->dtype, m->A->device, LR_SHAPE(batch, N, M), &c->state));
  return lr_tensor_fill_(c->state, 0.0);
}

lr_status lr_centaurus_allocate_cache(lr_centaurus *m, int64_t batch, lr_centaurus_cache **out) {
  const char *fn = "lr_centaurus_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (batch < 1) return lr_fail(LR_ERR_ARG, "%s: batch is %lld, expected >= 1", fn, (long long)batch);
  lr_centaurus_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  c->mode = m->cfg.mode;
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  bool prev = lr_set_grad_enabled(false);
  lr_status s = build_cache(m, batch, c);
  lr_set_grad_enabled(prev);
  lr_arena_rewind(a, mk);
  if (s != LR_OK) {
    lr_centaurus_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

static lr_status step(lr_centaurus_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  lr_tensor *Bt, *u, *uc, *as, *s, *re, *Ct;
  LR_TRY(lr_transpose(c->Bbar, 0, 1, &Bt));
  LR_TRY(lr_matmul(x_t, Bt, &u)); /* (B, N) or (B, NM), real */
  LR_TRY(lr_lti_to_complex(u, &uc));
  if (c->mode != LR_CENTAURUS_POINTWISE) LR_TRY(lr_unsqueeze(uc, 2, &uc)); /* (B, N, 1) */
  LR_TRY(lr_mul(c->Abar, c->state, &as));
  LR_TRY(lr_add(as, uc, &s));
  LR_TRY(lr_tensor_copy_(c->state, s));
  LR_TRY(lr_real(s, &re));
  if (c->mode != LR_CENTAURUS_POINTWISE) { /* Σ_m E ⊙ Re s' */
    lr_tensor *w;
    LR_TRY(lr_mul(re, c->E, &w));
    LR_TRY(lr_sum(w, 1, (const int[]){2}, false, &re));
  }
  LR_TRY(lr_transpose(c->C, 0, 1, &Ct));
  return lr_matmul(re, Ct, y_t);
}

lr_status lr_centaurus_step(lr_centaurus *m, lr_centaurus_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  const char *fn = "lr_centaurus_step";
  if (!m || !c || !x_t || !y_t) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  char b[64];
  if (x_t->ndim != 2 || x_t->shape[0] != c->batch || x_t->shape[1] != m->cfg.d_model)
    return lr_fail(LR_ERR_SHAPE, "%s: x_t is %s, expected (%lld, %lld)", fn,
                   lr_shape_str(x_t->ndim, x_t->shape, b, sizeof b), (long long)c->batch, (long long)m->cfg.d_model);
  if (x_t->dtype != m->cfg.dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: x_t is %s, the model is %s", fn, lr_dtype_name(x_t->dtype),
                   lr_dtype_name(m->cfg.dtype));
  bool prev = lr_set_grad_enabled(false);
  lr_status s = step(c, x_t, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- the registry entry "Centaurus" (nn/registry.h) ----
 * lrnnx's Centaurus(d_model, d_state, sub_state_dim, discretization="zoh", mode="neck"), all three
 * sizes required (lrnnx has no defaults for them); plus dtype="float32" ("float64"), seed=0.
 * integration_timesteps is ignored, as in lrnnx. */
static lr_status centaurus_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_state", "sub_state_dim", "discretization", "mode", "dtype", "seed",
                                      NULL};
  const char *M = "Centaurus";
  LR_TRY(lr_args_check(args, M, known));
  LR_TRY(lr_args_require(args, M, "d_model"));
  LR_TRY(lr_args_require(args, M, "d_state"));
  LR_TRY(lr_args_require(args, M, "sub_state_dim"));
  int64_t H, N, Ms, seed;
  LR_TRY(lr_args_int(args, M, "d_model", 0, &H));
  LR_TRY(lr_args_int(args, M, "d_state", 0, &N));
  LR_TRY(lr_args_int(args, M, "sub_state_dim", 0, &Ms));
  lr_centaurus_config c = lr_centaurus_config_default(H, N, Ms);
  int k;
  LR_TRY(lr_args_choice(args, M, "discretization", discs, 0, &k));
  c.discretization = discs[k];
  LR_TRY(lr_args_choice(args, M, "mode", mode_names, 0, &k));
  c.mode = mode_values[k];
  LR_TRY(lr_args_dtype(args, M, "dtype", LR_DTYPE_F32, &c.dtype));
  LR_TRY(lr_args_int(args, M, "seed", 0, &seed));
  lr_rng rng;
  lr_rng_init(&rng, (uint64_t)seed);
  lr_centaurus *m;
  LR_TRY(lr_centaurus_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status centaurus_model_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)dt;
  return lr_centaurus_forward((lr_centaurus *)m, x, lengths, y);
}

static lr_status centaurus_model_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  return lr_centaurus_step((lr_centaurus *)m, (lr_centaurus_cache *)cache, x_t, y_t);
}

static lr_status centaurus_model_alloc(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  (void)max_len;
  lr_centaurus_cache *c;
  LR_TRY(lr_centaurus_allocate_cache((lr_centaurus *)m, batch, &c));
  *cache = c;
  return LR_OK;
}

static void centaurus_model_free(lr_module *m, void *cache) {
  (void)m;
  lr_centaurus_cache_free((lr_centaurus_cache *)cache);
}

const lr_model_def lr_model_centaurus = {
    "Centaurus",
    "d_model, d_state, sub_state_dim, discretization=\"zoh\" (ignored, as lrnnx), mode=\"neck\" (pointwise, pw, s5, "
    "dws: d_state == d_model, full: d_state == d_model^2), dtype=\"float32\", seed=0",
    centaurus_create, centaurus_model_forward, centaurus_model_step, centaurus_model_alloc, centaurus_model_free};
