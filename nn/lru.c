/* LRU (lrnnx.models.lti.LRU); see lru.h for the parameters and the math.
 *
 * Init (lrnnx _init_parameters, in this order of draws): u1, u2 ~ U[0, 1) (N each);
 *   nu_log    = log(-½ log(u1 (r_max² - r_min²) + r_min²))   so |λ| = exp(-exp(nu_log)) is
 *               sqrt(u1 (r_max² - r_min²) + r_min²): uniform over the ring's area;
 *   theta_log = log(max_phase u2);
 *   B_re, B_im ~ N(0, 1/(2H)); C_re, C_im ~ N(0, 1/N); D ~ N(0, 1);
 *   gamma_log = log(sqrt(1 - |λ|²)).
 * A draw of exactly 0 (u1 with r_min = 0, or u2) would store ±inf; it is replaced by 2^-53.
 * The transforms run in double on the host for both dtypes.
 *
 * Backward: every step of the forward is a differentiable op (exp, complex, mul, lti_kernel,
 * opt_ssm_forward), so the gradients of all eight parameters and of x come from the tape.
 */
#include "nn/lru.h"

#include "nn/registry.h"

#include <math.h>

#include "ops/complex.h"
#include "ops/elementwise.h"
#include "ops/lti.h"
#include "ops/view.h"
#include "tensor/arena.h"

lr_lru_config lr_lru_config_default(int64_t d_model, int64_t d_state) {
  return (lr_lru_config){d_model, d_state, 0.0, 1.0, 2.0 * M_PI, LR_DTYPE_F32};
}

static lr_status lru_init(lr_lru *m, lr_rng *rng) {
  const lr_lru_config *c = &m->cfg;
  int64_t N = c->d_state, H = c->d_model;
  LR_TRY(lr_rand_uniform_(m->nu_log, 0.0, 1.0, rng));    /* u1 */
  LR_TRY(lr_rand_uniform_(m->theta_log, 0.0, 1.0, rng)); /* u2 */
  LR_TRY(lr_rand_normal_(m->B_re, 0.0, 1.0 / sqrt(2.0 * (double)H), rng));
  LR_TRY(lr_rand_normal_(m->B_im, 0.0, 1.0 / sqrt(2.0 * (double)H), rng));
  LR_TRY(lr_rand_normal_(m->C_re, 0.0, 1.0 / sqrt((double)N), rng));
  LR_TRY(lr_rand_normal_(m->C_im, 0.0, 1.0 / sqrt((double)N), rng));
  LR_TRY(lr_rand_normal_(m->D, 0.0, 1.0, rng));
  double r2 = c->r_max * c->r_max - c->r_min * c->r_min, q2 = c->r_min * c->r_min;
  for (int64_t n = 0; n < N; n++) {
    double u1 = lr_tensor_get(m->nu_log, n), u2 = lr_tensor_get(m->theta_log, n);
    if (u1 <= 0.0) u1 = 0x1p-53;
    if (u2 <= 0.0) u2 = 0x1p-53;
    double nu_log = log(-0.5 * log(u1 * r2 + q2));
    double mod = exp(-exp(nu_log)); /* |λ| */
    lr_tensor_set(m->nu_log, n, nu_log, 0);
    lr_tensor_set(m->theta_log, n, log(c->max_phase * u2), 0);
    lr_tensor_set(m->gamma_log, n, log(sqrt(1.0 - mod * mod)), 0);
  }
  return LR_OK;
}

lr_status lr_lru_new(lr_module *parent, const char *name, const lr_lru_config *cfg, lr_rng *rng, lr_lru **out) {
  const char *fn = "lr_lru_new";
  if (!cfg || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !cfg ? "cfg" : !rng ? "rng" : "out");
  if (cfg->d_model < 1 || cfg->d_state < 1)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld, d_state %lld: both must be >= 1", fn, (long long)cfg->d_model,
                   (long long)cfg->d_state);
  if (!(cfg->r_min >= 0.0 && cfg->r_min <= cfg->r_max && cfg->r_max <= 1.0 && cfg->r_min < 1.0 && cfg->r_max > 0.0))
    return lr_fail(LR_ERR_ARG, "%s: r_min %g, r_max %g: expected 0 <= r_min <= r_max <= 1, r_min < 1, r_max > 0", fn,
                   cfg->r_min, cfg->r_max);
  if (!(cfg->max_phase > 0.0) || !isfinite(cfg->max_phase))
    return lr_fail(LR_ERR_ARG, "%s: max_phase %g, expected a finite value > 0", fn, cfg->max_phase);
  if (cfg->dtype != LR_DTYPE_F32 && cfg->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(cfg->dtype));
  lr_module *mod;
  LR_TRY(lr_module_new(sizeof(lr_lru), "LRU", &mod));
  lr_lru *m = (lr_lru *)mod;
  m->cfg = *cfg;
  int64_t N = cfg->d_state, H = cfg->d_model;
  lr_dtype dt = cfg->dtype;
  lr_status s = lr_module_add_param(mod, "nu_log", dt, LR_SHAPE(N), &m->nu_log);
  if (s == LR_OK) s = lr_module_add_param(mod, "theta_log", dt, LR_SHAPE(N), &m->theta_log);
  if (s == LR_OK) s = lr_module_add_param(mod, "B_re", dt, LR_SHAPE(N, H), &m->B_re);
  if (s == LR_OK) s = lr_module_add_param(mod, "B_im", dt, LR_SHAPE(N, H), &m->B_im);
  if (s == LR_OK) s = lr_module_add_param(mod, "C_re", dt, LR_SHAPE(H, N), &m->C_re);
  if (s == LR_OK) s = lr_module_add_param(mod, "C_im", dt, LR_SHAPE(H, N), &m->C_im);
  if (s == LR_OK) s = lr_module_add_param(mod, "D", dt, LR_SHAPE(H), &m->D);
  if (s == LR_OK) s = lr_module_add_param(mod, "gamma_log", dt, LR_SHAPE(N), &m->gamma_log);
  if (s == LR_OK) s = lru_init(m, rng);
  if (s != LR_OK) {
    lr_module_free(mod);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, mod));
  *out = m;
  return LR_OK;
}

lr_status lr_lru_discretize(lr_lru *m, lr_tensor **lambda, lr_tensor **B, lr_tensor **C) {
  if (!m || !lambda || !B || !C) return lr_fail(LR_ERR_ARG, "lr_lru_discretize: NULL argument");
  lr_tensor *enu, *nenu, *eth, *z;
  LR_TRY(lr_exp(m->nu_log, &enu));
  LR_TRY(lr_neg(enu, &nenu));
  LR_TRY(lr_exp(m->theta_log, &eth));
  LR_TRY(lr_complex(nenu, eth, &z));
  lr_tensor *l, *b, *c;
  LR_TRY(lr_exp(z, &l));
  LR_TRY(lr_complex(m->B_re, m->B_im, &b));
  LR_TRY(lr_complex(m->C_re, m->C_im, &c));
  *lambda = l;
  *B = b;
  *C = c;
  return LR_OK;
}

lr_status lr_lru_compute_kernel(lr_lru *m, int64_t L, lr_tensor *lambda, lr_tensor *B, lr_tensor **K,
                                lr_tensor **B_norm) {
  if (!m || !lambda || !B || !K || !B_norm) return lr_fail(LR_ERR_ARG, "lr_lru_compute_kernel: NULL argument");
  lr_tensor *k, *g, *g2, *gc, *bn;
  LR_TRY(lr_lti_kernel(lambda, L, &k));
  LR_TRY(lr_exp(m->gamma_log, &g));
  LR_TRY(lr_unsqueeze(g, 1, &g2));
  LR_TRY(lr_lti_to_complex(g2, &gc));
  LR_TRY(lr_mul(B, gc, &bn));
  *K = k;
  *B_norm = bn;
  return LR_OK;
}

lr_status lr_lru_forward(lr_lru *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y) {
  const char *fn = "lr_lru_forward";
  if (!m || !y) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  LR_TRY(lr_lti_check_x(fn, x, m->cfg.d_model, m->cfg.dtype));
  int64_t L = x->shape[1];
  if (L < 1) return lr_fail(LR_ERR_SHAPE, "%s: x has length 0", fn);
  lr_tensor *mask = NULL, *lam, *B, *C, *K, *Bn, *yc, *xd, *out;
  if (lengths) {
    /* x is masked too, so that padding reaches neither y nor (through FFT rounding) x's grad */
    LR_TRY(lr_lti_length_mask(fn, lengths, x->shape[0], L, x->dtype, x->device, &mask));
    LR_TRY(lr_mul(x, mask, &x));
  }
  LR_TRY(lr_lru_discretize(m, &lam, &B, &C));
  LR_TRY(lr_lru_compute_kernel(m, L, lam, B, &K, &Bn));
  LR_TRY(lr_opt_ssm_forward(x, K, Bn, C, LR_SSM_AUTO, &yc));
  LR_TRY(lr_mul(x, m->D, &xd));
  LR_TRY(lr_add(yc, xd, &out));
  if (mask) LR_TRY(lr_mul(out, mask, &out));
  *y = out;
  return LR_OK;
}

lr_status lr_lru_allocate_cache(lr_lru *m, int64_t batch, lr_lti_cache **out) {
  const char *fn = "lr_lru_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  bool prev = lr_set_grad_enabled(false);
  lr_tensor *lam, *B, *C, *K, *Bn;
  lr_status s = lr_lru_discretize(m, &lam, &B, &C);
  if (s == LR_OK) s = lr_lru_compute_kernel(m, 1, lam, B, &K, &Bn);
  if (s == LR_OK) s = lr_lti_cache_new(fn, batch, lam, Bn, C, out);
  lr_set_grad_enabled(prev);
  lr_arena_rewind(a, mk);
  return s;
}

lr_status lr_lru_step(lr_lru *m, lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  const char *fn = "lr_lru_step";
  if (!m) return lr_fail(LR_ERR_ARG, "%s: model is NULL", fn);
  lr_tensor *yc, *xd;
  LR_TRY(lr_lti_cache_step(fn, c, x_t, &yc));
  bool prev = lr_set_grad_enabled(false);
  lr_status s = lr_mul(x_t, m->D, &xd);
  if (s == LR_OK) s = lr_add(yc, xd, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- the registry entry "LRU" (nn/registry.h) ----
 * lrnnx's keyword arguments d_model, d_state (required), r_min=0, r_max=1, max_phase=2π, plus this
 * port's dtype="float32" ("float64") and seed=0 for the initialisation. lrnnx's LRU keeps B and C
 * as separate _re/_im real tensors, so the checkpoint needs no real views. integration_timesteps
 * is ignored, as lrnnx's forward does (an LTI model has no event mode). */
static lr_status lru_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_state", "r_min", "r_max", "max_phase", "dtype", "seed", NULL};
  const char *M = "LRU";
  int64_t H, N, seed;
  LR_TRY(lr_args_check(args, M, known));
  LR_TRY(lr_args_require(args, M, "d_model"));
  LR_TRY(lr_args_require(args, M, "d_state"));
  LR_TRY(lr_args_int(args, M, "d_model", 0, &H));
  LR_TRY(lr_args_int(args, M, "d_state", 0, &N));
  lr_lru_config c = lr_lru_config_default(H, N);
  LR_TRY(lr_args_double(args, M, "r_min", c.r_min, &c.r_min));
  LR_TRY(lr_args_double(args, M, "r_max", c.r_max, &c.r_max));
  LR_TRY(lr_args_double(args, M, "max_phase", c.max_phase, &c.max_phase));
  LR_TRY(lr_args_dtype(args, M, "dtype", LR_DTYPE_F32, &c.dtype));
  LR_TRY(lr_args_int(args, M, "seed", 0, &seed));
  lr_rng rng;
  lr_rng_init(&rng, (uint64_t)seed);
  lr_lru *m;
  LR_TRY(lr_lru_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status lru_model_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)dt;
  return lr_lru_forward((lr_lru *)m, x, lengths, y);
}

static lr_status lru_model_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  return lr_lru_step((lr_lru *)m, (lr_lti_cache *)cache, x_t, y_t);
}

static lr_status lru_model_alloc(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  (void)max_len;
  lr_lti_cache *c;
  LR_TRY(lr_lru_allocate_cache((lr_lru *)m, batch, &c));
  *cache = c;
  return LR_OK;
}

static void lru_model_free(lr_module *m, void *cache) {
  (void)m;
  lr_lti_cache_free((lr_lti_cache *)cache);
}

const lr_model_def lr_model_lru = {"LRU",
                                   "d_model, d_state, r_min=0, r_max=1, max_phase=2*pi, dtype=\"float32\", seed=0",
                                   lru_create, lru_model_forward, lru_model_step, lru_model_alloc, lru_model_free};
