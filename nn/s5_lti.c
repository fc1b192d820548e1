/* S5-LTI (lrnnx.models.lti.S5); see s5_lti.h for the parameters and the math.
 *
 * Init (lrnnx _init_parameters): log_A_real = log(e^0.5 - 1) (softplus^-1(0.5)), A_imag = π n;
 * B = 1/sqrt(H); log_dt = linspace(log 1e-3, log 1e-1, N) (deterministic); then the random draws
 * C ~ N(0, 2/N) per real component of (H, N, 2) and D ~ N(0, 2/H).
 * Backward: composed of differentiable ops (softplus, complex, discretize, lti_kernel,
 * view_as_complex, opt_ssm_forward, matmul).
 */
#include "nn/s5_lti.h"

#include "nn/registry.h"

#include <math.h>

#include "ops/complex.h"
#include "ops/discretize.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/lti.h"
#include "ops/view.h"
#include "tensor/arena.h"

lr_s5_lti_config lr_s5_lti_config_default(int64_t d_model, int64_t d_state, lr_disc discretization) {
  return (lr_s5_lti_config){d_model, d_state, discretization, false, LR_DTYPE_F32};
}

static lr_status s5_init(lr_s5_lti *m, lr_rng *rng) {
  int64_t N = m->cfg.d_state, H = m->cfg.d_model;
  double lo = log(1e-3), hi = log(1e-1);
  for (int64_t n = 0; n < N; n++) {
    lr_tensor_set(m->A, 2 * n, log(exp(0.5) - 1.0), 0);
    lr_tensor_set(m->A, 2 * n + 1, M_PI * (double)n, 0);
    lr_tensor_set(m->log_dt, n, N == 1 ? lo : lo + (hi - lo) * (double)n / (double)(N - 1), 0);
  }
  LR_TRY(lr_tensor_fill_(m->B, 1.0 / sqrt((double)H)));
  LR_TRY(lr_rand_normal_(m->C, 0.0, sqrt(2.0 / (double)N), rng));
  return lr_rand_normal_(m->D, 0.0, sqrt(2.0 / (double)H), rng);
}

lr_status lr_s5_lti_new(lr_module *parent, const char *name, const lr_s5_lti_config *cfg, lr_rng *rng,
                        lr_s5_lti **out) {
  const char *fn = "lr_s5_lti_new";
  if (!cfg || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !cfg ? "cfg" : !rng ? "rng" : "out");
  if (cfg->d_model < 1 || cfg->d_state < 1)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld, d_state %lld: both must be >= 1", fn, (long long)cfg->d_model,
                   (long long)cfg->d_state);
  lr_disc d = cfg->discretization;
  if (d != LR_DISC_ZOH && d != LR_DISC_BILINEAR && d != LR_DISC_DIRAC && d != LR_DISC_NONE)
    return lr_fail(LR_ERR_ARG, "%s: discretization %s, expected zoh, bilinear, dirac or no_discretization", fn,
                   lr_disc_name(d));
  if (cfg->conj_sym) return lr_fail(LR_ERR_UNSUPPORTED, "%s: conj_sym is not implemented (as in lrnnx)", fn);
  if (cfg->dtype != LR_DTYPE_F32 && cfg->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(cfg->dtype));
  lr_module *mod;
  LR_TRY(lr_module_new(sizeof(lr_s5_lti), "S5_LTI", &mod));
  lr_s5_lti *m = (lr_s5_lti *)mod;
  m->cfg = *cfg;
  int64_t N = cfg->d_state, H = cfg->d_model;
  lr_dtype dt = cfg->dtype;
  lr_status s = lr_module_add_param(mod, "A", dt, LR_SHAPE(N, 2), &m->A);
  if (s == LR_OK) s = lr_module_add_param(mod, "B", dt, LR_SHAPE(N, H), &m->B);
  if (s == LR_OK) s = lr_module_add_param(mod, "log_dt", dt, LR_SHAPE(N), &m->log_dt);
  if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(H, N, 2), &m->C);
  if (s == LR_OK) s = lr_module_add_param(mod, "D", dt, LR_SHAPE(H, H), &m->D);
  if (s == LR_OK) s = s5_init(m, rng);
  if (s != LR_OK) {
    lr_module_free(mod);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, mod));
  *out = m;
  return LR_OK;
}

/* column j of A (N, 2) as (N) */
static lr_status col(lr_tensor *A, int j, lr_tensor **out) {
  lr_tensor *c;
  LR_TRY(lr_narrow(A, 1, j, 1, &c));
  return lr_reshape(c, LR_SHAPE(A->shape[0]), out);
}

lr_status lr_s5_lti_discretize(lr_s5_lti *m, lr_tensor **Abar, lr_tensor **gamma_bar, lr_tensor **C) {
  if (!m || !Abar || !gamma_bar || !C) return lr_fail(LR_ERR_ARG, "lr_s5_lti_discretize: NULL argument");
  lr_tensor *lar, *aim, *sp, *re, *lam, *dt, *ab, *gb, *c;
  LR_TRY(col(m->A, 0, &lar));
  LR_TRY(col(m->A, 1, &aim));
  LR_TRY(lr_softplus(lar, 1.0, 20.0, &sp));
  LR_TRY(lr_neg(sp, &re));
  LR_TRY(lr_complex(re, aim, &lam));
  LR_TRY(lr_exp(m->log_dt, &dt));
  LR_TRY(lr_discretize(lam, dt, NULL, m->cfg.discretization, &ab, &gb));
  LR_TRY(lr_view_as_complex(m->C, &c));
  *Abar = ab;
  *gamma_bar = gb;
  *C = c;
  return LR_OK;
}

lr_status lr_s5_lti_compute_kernel(lr_s5_lti *m, int64_t L, lr_tensor *Abar, lr_tensor *gamma_bar, lr_tensor **K,
                                   lr_tensor **Bbar) {
  if (!m || !Abar || !gamma_bar || !K || !Bbar) return lr_fail(LR_ERR_ARG, "lr_s5_lti_compute_kernel: NULL argument");
  lr_tensor *k, *g2, *bc, *bb;
  LR_TRY(lr_lti_kernel(Abar, L, &k));
  LR_TRY(lr_unsqueeze(gamma_bar, 1, &g2));
  LR_TRY(lr_lti_to_complex(m->B, &bc));
  LR_TRY(lr_mul(g2, bc, &bb));
  *K = k;
  *Bbar = bb;
  return LR_OK;
}

lr_status lr_s5_lti_forward(lr_s5_lti *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y) {
  const char *fn = "lr_s5_lti_forward";
  if (!m || !y) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  LR_TRY(lr_lti_check_x(fn, x, m->cfg.d_model, m->cfg.dtype));
  int64_t L = x->shape[1];
  if (L < 1) return lr_fail(LR_ERR_SHAPE, "%s: x has length 0", fn);
  lr_tensor *mask = NULL, *ab, *gb, *C, *K, *Bb, *yc, *xd, *out;
  if (lengths) {
    LR_TRY(lr_lti_length_mask(fn, lengths, x->shape[0], L, x->dtype, x->device, &mask));
    LR_TRY(lr_mul(x, mask, &x));
  }
  LR_TRY(lr_s5_lti_discretize(m, &ab, &gb, &C));
  LR_TRY(lr_s5_lti_compute_kernel(m, L, ab, gb, &K, &Bb));
  LR_TRY(lr_opt_ssm_forward(x, K, Bb, C, LR_SSM_AUTO, &yc));
  LR_TRY(lr_matmul(x, m->D, &xd));
  LR_TRY(lr_add(yc, xd, &out));
  if (mask) LR_TRY(lr_mul(out, mask, &out));
  *y = out;
  return LR_OK;
}

lr_status lr_s5_lti_allocate_cache(lr_s5_lti *m, int64_t batch, lr_lti_cache **out) {
  const char *fn = "lr_s5_lti_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  bool prev = lr_set_grad_enabled(false);
  lr_tensor *ab, *gb, *C, *K, *Bb;
  lr_status s = lr_s5_lti_discretize(m, &ab, &gb, &C);
  if (s == LR_OK) s = lr_s5_lti_compute_kernel(m, 1, ab, gb, &K, &Bb);
  if (s == LR_OK) s = lr_lti_cache_new(fn, batch, ab, Bb, C, out);
  lr_set_grad_enabled(prev);
  lr_arena_rewind(a, mk);
  return s;
}

lr_status lr_s5_lti_step(lr_s5_lti *m, lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  const char *fn = "lr_s5_lti_step";
  if (!m) return lr_fail(LR_ERR_ARG, "%s: model is NULL", fn);
  lr_tensor *yc, *xd;
  LR_TRY(lr_lti_cache_step(fn, c, x_t, &yc));
  bool prev = lr_set_grad_enabled(false);
  lr_status s = lr_matmul(x_t, m->D, &xd);
  if (s == LR_OK) s = lr_add(yc, xd, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- the registry entry "S5_LTI" (nn/registry.h) ----
 * lrnnx's keyword arguments d_model, d_state, discretization (all required: lrnnx has no default
 * discretization) and conj_sym=false, plus this port's dtype="float32" ("float64") and seed=0.
 * A, B, C, log_dt and D are real tensors already in lrnnx's storage (A (N, 2), C (H, N, 2)), so
 * the checkpoint needs no real views. integration_timesteps is ignored, as in lrnnx. */
static lr_status s5_lti_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_state", "discretization", "conj_sym", "dtype", "seed", NULL};
  static const char *const discs[] = {"zoh", "bilinear", "dirac", "no_discretization", NULL};
  static const lr_disc disc_of[] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC, LR_DISC_NONE};
  const char *M = "S5_LTI";
  int64_t H, N, seed;
  int d;
  LR_TRY(lr_args_check(args, M, known));
  LR_TRY(lr_args_require(args, M, "d_model"));
  LR_TRY(lr_args_require(args, M, "d_state"));
  LR_TRY(lr_args_require(args, M, "discretization"));
  LR_TRY(lr_args_int(args, M, "d_model", 0, &H));
  LR_TRY(lr_args_int(args, M, "d_state", 0, &N));
  LR_TRY(lr_args_choice(args, M, "discretization", discs, 0, &d));
  lr_s5_lti_config c = lr_s5_lti_config_default(H, N, disc_of[d]);
  LR_TRY(lr_args_bool(args, M, "conj_sym", c.conj_sym, &c.conj_sym));
  LR_TRY(lr_args_dtype(args, M, "dtype", LR_DTYPE_F32, &c.dtype));
  LR_TRY(lr_args_int(args, M, "seed", 0, &seed));
  lr_rng rng;
  lr_rng_init(&rng, (uint64_t)seed);
  lr_s5_lti *m;
  LR_TRY(lr_s5_lti_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status s5_lti_model_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)dt;
  return lr_s5_lti_forward((lr_s5_lti *)m, x, lengths, y);
}

static lr_status s5_lti_model_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  return lr_s5_lti_step((lr_s5_lti *)m, (lr_lti_cache *)cache, x_t, y_t);
}

static lr_status s5_lti_model_alloc(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  (void)max_len;
  lr_lti_cache *c;
  LR_TRY(lr_s5_lti_allocate_cache((lr_s5_lti *)m, batch, &c));
  *cache = c;
  return LR_OK;
}

static void s5_lti_model_free(lr_module *m, void *cache) {
  (void)m;
  lr_lti_cache_free((lr_lti_cache *)cache);
}

const lr_model_def lr_model_s5_lti = {
    "S5_LTI", "d_model, d_state, discretization (zoh, bilinear, dirac, no_discretization), conj_sym=false, "
              "dtype=\"float32\", seed=0",
    s5_lti_create, s5_lti_model_forward, s5_lti_model_step, s5_lti_model_alloc, s5_lti_model_free};
