/* S5 (LTV scan) and Event-SSM, as lrnnx.models.ltv.S5; math, parameters and init in s5.h.
 *
 * The forward composes lr_view_as_complex (A, B, C real views), lr_exp/lr_affine (Δ),
 * lr_complex (u = x + 0i), lr_mul (Event-SSM's Δ_A = τ Δ) and lr_s5_scan (B̃u, diagonal scan,
 * C̃h, 2Re/Re + D x); the backward is theirs. The HiPPO eigendecomposition calls LAPACK's zheev
 * (OpenBLAS ships it) on the Hermitian -iS.
 */
#include "nn/s5.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lti_util.h"
#include "nn/ltv_args.h"
#include "ops/complex.h"
#include "ops/discretize.h"
#include "ops/elementwise.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "ops/view.h"

/* LAPACK (Fortran ABI), from OpenBLAS. */
extern void zheev_(const char *jobz, const char *uplo, const int *n, lr_c128 *a, const int *lda, double *w,
                   lr_c128 *work, const int *lwork, double *rwork, int *info);

lr_s5_config lr_s5_config_default(int64_t d_model, int64_t d_state) {
  lr_s5_config c = {0};
  c.d_model = d_model;
  c.d_state = d_state;
  c.discretization = "zoh";
  c.conj_sym = false;
  c.dt_min = 0.001;
  c.dt_max = 0.1;
  c.step_rescale = 1.0;
  c.dtype = LR_DTYPE_F32;
  return c;
}

lr_status lr_s5_dplr_hippo(int64_t M, double *lambda_im, lr_c128 *V) {
  const char *fn = "lr_s5_dplr_hippo";
  if (M < 1 || M > 1 << 14 || !lambda_im || !V) return lr_fail(LR_ERR_ARG, "%s: M %lld must be in [1, 16384]", fn, (long long)M);
  /* S = -(tril(p_n p_k) - diag(n)) + q qᵀ with p_n = sqrt(2n+1), q_n = sqrt(n + 1/2), so
   * S = -I/2 + a skew-symmetric part. -iS has the imaginary diagonal i/2, which numpy's eigh (and
   * zheev) ignore: the eigenpairs are those of -i·skew(S), Hermitian; the diagonal is set to 0. */
  for (int64_t k = 0; k < M; k++)
    for (int64_t i = 0; i < M; i++) {
      double a = i >= k ? sqrt(2.0 * i + 1) * sqrt(2.0 * k + 1) : 0.0;
      if (i == k) a -= (double)i;
      double s = i == k ? 0.0 : -a + sqrt(i + 0.5) * sqrt(k + 0.5);
      V[i + k * M] = lr_c128_make(0.0, -s);
    }
  int n = (int)M, lwork = -1, info = 0;
  lr_c128 q;
  double *rwork = malloc(sizeof(double) * (size_t)(3 * M));
  if (!rwork) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  zheev_("V", "L", &n, V, &n, lambda_im, &q, &lwork, rwork, &info);
  lwork = info == 0 ? (int)q.re : 2 * n;
  lr_c128 *work = malloc(sizeof(lr_c128) * (size_t)(lwork > 1 ? lwork : 1));
  if (!work) {
    free(rwork);
    return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  }
  zheev_("V", "L", &n, V, &n, lambda_im, work, &lwork, rwork, &info);
  free(work);
  free(rwork);
  if (info != 0) return lr_fail(LR_ERR_INTERNAL, "%s: zheev failed with info %d at M = %lld", fn, info, (long long)M);
  return LR_OK;
}

/* Writes the complex (R, Cc) matrix z (row-major) into the real view t (R, Cc, 2). */
static void set_complex(lr_tensor *t, int64_t n, const lr_c128 *z) {
  for (int64_t i = 0; i < n; i++) {
    lr_tensor_set(t, 2 * i, z[i].re, 0);
    lr_tensor_set(t, 2 * i + 1, z[i].im, 0);
  }
}

static lr_status s5_init(lr_s5 *m, const lr_s5_config *c, lr_rng *rng) {
  lr_module *b = &m->base;
  const int64_t H = m->d_model, P = m->d_state, M = m->conj_sym ? 2 * P : P;
  const lr_dtype dt = m->dtype;
  LR_TRY(lr_module_add_param(b, "A", dt, LR_SHAPE(P, 2), &m->A));
  LR_TRY(lr_module_add_param(b, "B", dt, LR_SHAPE(P, H, 2), &m->B));
  LR_TRY(lr_module_add_param(b, "C", dt, LR_SHAPE(H, P, 2), &m->C));
  LR_TRY(lr_module_add_param(b, "D", dt, LR_SHAPE(H), &m->D));
  LR_TRY(lr_module_add_param(b, "log_dt", dt, LR_SHAPE(P), &m->log_dt));
  size_t nb = sizeof(lr_c128) * (size_t)(M * M + P * H + H * P) + sizeof(double) * (size_t)M;
  char *buf = malloc(nb);
  if (!buf) return lr_fail(LR_ERR_MEMORY, "lr_s5_new: out of memory for the init");
  lr_c128 *V = (lr_c128 *)buf, *Bm = V + M * M, *Cm = Bm + P * H;
  double *lim = (double *)(Cm + H * P);
  lr_status s = lr_s5_dplr_hippo(M, lim, V);
  lr_tensor *rb = NULL, *rc = NULL;
  if (s == LR_OK) s = lr_empty(LR_DTYPE_F64, LR_SHAPE(M, H), &rb);
  if (s == LR_OK) s = lr_empty(LR_DTYPE_F64, LR_SHAPE(H, M, 2), &rc);
  if (s == LR_OK) s = lr_rand_normal_(rb, 0.0, 1.0, rng);
  if (s == LR_OK) s = lr_rand_normal_(rc, 0.0, 1.0, rng);
  if (s == LR_OK) {
    const double sc = sqrt(1.0 / (double)M);
    const double *r = rb->data, *q = rc->data;
    for (int64_t p = 0; p < P; p++) { /* B = V^H (randn(M, H) / sqrt(M)): row p of V^H is conj(V[:, p]) */
      for (int64_t h = 0; h < H; h++) {
        lr_c128 acc = lr_c128_make(0, 0);
        for (int64_t i = 0; i < M; i++) {
          lr_c128 v = V[i + p * M];
          acc.re += v.re * r[i * H + h] * sc;
          acc.im -= v.im * r[i * H + h] * sc;
        }
        Bm[p * H + h] = acc;
      }
    }
    for (int64_t h = 0; h < H; h++) /* C = ((randn + i randn)(H, M) / sqrt(M)) V[:, :P] */
      for (int64_t p = 0; p < P; p++) {
        lr_c128 acc = lr_c128_make(0, 0);
        for (int64_t i = 0; i < M; i++) {
          lr_c128 z = lr_c128_make(q[(h * M + i) * 2] * sc, q[(h * M + i) * 2 + 1] * sc);
          acc = lr_c128_add(acc, lr_c128_mul(z, V[i + p * M]));
        }
        Cm[h * P + p] = acc;
      }
    for (int64_t p = 0; p < P; p++) {
      lr_tensor_set(m->A, 2 * p, -0.5, 0);
      lr_tensor_set(m->A, 2 * p + 1, lim[p], 0);
    }
    set_complex(m->B, P * H, Bm);
    set_complex(m->C, H * P, Cm);
    s = lr_rand_normal_(m->D, 0.0, 0.1, rng);
  }
  if (s == LR_OK) s = lr_rand_uniform_(m->log_dt, log(c->dt_min), log(c->dt_max), rng);
  free(buf);
  return s;
}

lr_status lr_s5_new(lr_module *parent, const char *name, const lr_s5_config *c, lr_rng *rng, lr_s5 **out) {
  const char *fn = "lr_s5_new";
  if (!c || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !c ? "cfg" : !rng ? "rng" : "out");
  if (c->d_model < 1 || c->d_state < 1)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld and d_state %lld must be >= 1", fn, (long long)c->d_model,
                   (long long)c->d_state);
  if (!(c->dt_min > 0 && c->dt_max >= c->dt_min && isfinite(c->dt_max) && isfinite(c->step_rescale)))
    return lr_fail(LR_ERR_ARG, "%s: dt_min %g, dt_max %g, step_rescale %g: need 0 < dt_min <= dt_max, finite", fn,
                   c->dt_min, c->dt_max, c->step_rescale);
  lr_disc disc;
  if (!c->discretization || lr_disc_from_name(c->discretization, &disc) != LR_OK ||
      !(disc == LR_DISC_ZOH || disc == LR_DISC_BILINEAR || disc == LR_DISC_DIRAC))
    return lr_fail(LR_ERR_ARG, "%s: discretization \"%s\", expected one of zoh, bilinear, dirac", fn,
                   c->discretization ? c->discretization : "(null)");
  if (c->dtype != LR_DTYPE_F32 && c->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(c->dtype));
  lr_module *b;
  LR_TRY(lr_module_new(sizeof(lr_s5), "S5", &b));
  lr_s5 *m = (lr_s5 *)b;
  m->d_model = c->d_model;
  m->d_state = c->d_state;
  m->disc = disc;
  m->conj_sym = c->conj_sym;
  m->step_rescale = c->step_rescale;
  m->dtype = c->dtype;
  lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
  lr_status s = s5_init(m, c, rng);
  lr_arena_rewind(lr_arena_current(), mk);
  if (s != LR_OK) {
    lr_module_free(b);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, b));
  *out = m;
  return LR_OK;
}

/* λ (P), B̃ (P, H), C̃ (H, P) complex and Δ (P), recorded on the tape. */
static lr_status s5_params(lr_s5 *m, lr_tensor **lam, lr_tensor **Bt, lr_tensor **Ct, lr_tensor **delta) {
  lr_tensor *e;
  LR_TRY(lr_view_as_complex(m->A, lam));
  LR_TRY(lr_view_as_complex(m->B, Bt));
  LR_TRY(lr_view_as_complex(m->C, Ct));
  LR_TRY(lr_exp(m->log_dt, &e));
  return m->step_rescale == 1.0 ? (*delta = e, LR_OK) : lr_affine(e, m->step_rescale, 0.0, delta);
}

static lr_status to_complex(lr_tensor *x, lr_tensor **out) { return lr_lti_to_complex(x, out); }

static lr_status check_x(const char *fn, const lr_s5 *m, const lr_tensor *x, int ndim) {
  if (!x) return lr_fail(LR_ERR_ARG, "%s: x is NULL", fn);
  char b[128];
  if (x->ndim != ndim || x->shape[ndim - 1] != m->d_model)
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected %s with H = d_model = %lld", fn,
                   lr_shape_str(x->ndim, x->shape, b, sizeof b), ndim == 3 ? "(B, L, H)" : "(B, H)",
                   (long long)m->d_model);
  if (x->dtype != m->dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: x is %s, the model is %s", fn, lr_dtype_name(x->dtype), lr_dtype_name(m->dtype));
  return LR_OK;
}

/* τ (B, L) / (B, L, 1) [step: (B) / (B, 1)] -> (B, 1, L) [step: (B, 1)]. */
static lr_status check_tau(const char *fn, const lr_s5 *m, lr_tensor *tau, int64_t Bn, int64_t L, bool step,
                           lr_tensor **out) {
  char b[128];
  lr_tensor *t = tau;
  if (tau->dtype != m->dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: integration_timesteps is %s, the model is %s", fn, lr_dtype_name(tau->dtype),
                   lr_dtype_name(m->dtype));
  int want = step ? 1 : 2;
  if (t->ndim == want + 1 && t->shape[want] == 1) LR_TRY(lr_squeeze(t, want, &t));
  if (!(t->ndim == want && t->shape[0] == Bn && (step || t->shape[1] == L)))
    return lr_fail(LR_ERR_SHAPE, "%s: integration_timesteps is %s, expected %s = (%lld%s)", fn,
                   lr_shape_str(tau->ndim, tau->shape, b, sizeof b), step ? "(B)" : "(B, L)", (long long)Bn,
                   step ? "" : ", L");
  return lr_unsqueeze(t, 1, out);
}

lr_status lr_s5_forward_cached(lr_s5 *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_s5_cache *cache,
                               lr_tensor **y) {
  const char *fn = "lr_s5_forward";
  if (!m || !y) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "y");
  LR_TRY(check_x(fn, m, x, 3));
  const int64_t Bn = x->shape[0], L = x->shape[1];
  if (cache && cache->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x has %lld", fn, (long long)cache->batch, (long long)Bn);
  lr_tensor *tau1 = NULL, *lam, *Bt, *Ct, *delta, *xt, *u, *dA = NULL, *h0 = NULL, *yt, *hL;
  if (tau) LR_TRY(check_tau(fn, m, tau, Bn, L, false, &tau1));
  LR_TRY(s5_params(m, &lam, &Bt, &Ct, &delta));
  LR_TRY(lr_transpose(x, 1, 2, &xt)); /* (B, H, L) */
  LR_TRY(to_complex(xt, &u));
  if (tau1) {
    lr_tensor *d1;
    LR_TRY(lr_unsqueeze(delta, 1, &d1)); /* (P, 1) */
    LR_TRY(lr_mul(tau1, d1, &dA));       /* (B, P, L) */
  }
  if (cache) {
    LR_TRY(lr_empty_like(cache->ssm_state, &h0));
    LR_TRY(lr_tensor_copy_(h0, cache->ssm_state));
  }
  lr_s5_opts o = {0};
  o.deltaA = dA;
  o.h0 = h0;
  o.lengths = lengths;
  o.disc = m->disc;
  o.conj_sym = m->conj_sym;
  LR_TRY(lr_s5_scan(u, delta, lam, Bt, Ct, m->D, &o, &yt, &hL));
  if (lengths) { /* the scan zeroes the state past the length, not the D x skip: mask y */
    lr_tensor *mask, *m1;
    LR_TRY(lr_lti_length_mask(fn, lengths, Bn, L, m->dtype, x->device, &mask)); /* (B, L, 1) */
    LR_TRY(lr_reshape(mask, LR_SHAPE(Bn, 1, L), &m1));
    LR_TRY(lr_mul(yt, m1, &yt));
  }
  LR_TRY(lr_transpose(yt, 1, 2, y));
  if (cache) {
    LR_TRY(lr_tensor_copy_(cache->ssm_state, hL));
    cache->seqlen_offset += L;
  }
  return LR_OK;
}

lr_status lr_s5_forward(lr_s5 *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_s5_forward_cached(m, x, tau, lengths, NULL, y);
}

lr_status lr_s5_allocate_cache(lr_s5 *m, int64_t batch, int64_t max_len, lr_s5_cache **out) {
  const char *fn = "lr_s5_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "out");
  if (batch < 1 || max_len < 0)
    return lr_fail(LR_ERR_ARG, "%s: batch %lld must be >= 1 and max_len %lld >= 0", fn, (long long)batch,
                   (long long)max_len);
  lr_s5_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  c->max_len = max_len;
  /* the cache lives with the parameters (lr_module_to) */
  lr_status s = lr_tensor_new(lr_dtype_complex(m->dtype), m->A->device, LR_SHAPE(batch, m->d_state), &c->ssm_state);
  if (s == LR_OK) s = lr_s5_cache_reset(c);
  if (s != LR_OK) {
    lr_s5_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

void lr_s5_cache_free(lr_s5_cache *c) {
  if (!c) return;
  lr_tensor_free(c->ssm_state);
  free(c);
}

lr_status lr_s5_cache_reset(lr_s5_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_s5_cache_reset: cache is NULL");
  LR_TRY(lr_tensor_fill_(c->ssm_state, 0.0));
  c->seqlen_offset = 0;
  return LR_OK;
}

static lr_status s5_step(lr_s5 *m, lr_s5_cache *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y) {
  const char *fn = "lr_s5_step_model";
  LR_TRY(check_x(fn, m, x, 2));
  const int64_t Bn = x->shape[0];
  if (c->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x_t has %lld", fn, (long long)c->batch, (long long)Bn);
  lr_tensor *tau1 = NULL, *lam, *Bt, *Ct, *delta, *u, *dA = NULL;
  if (tau) LR_TRY(check_tau(fn, m, tau, Bn, 1, true, &tau1));
  LR_TRY(s5_params(m, &lam, &Bt, &Ct, &delta));
  LR_TRY(to_complex(x, &u));
  if (tau1) LR_TRY(lr_mul(tau1, delta, &dA)); /* (B, 1) * (P) -> (B, P) */
  lr_s5_opts o = {0};
  o.deltaA = dA;
  o.disc = m->disc;
  o.conj_sym = m->conj_sym;
  LR_TRY(lr_s5_step(c->ssm_state, u, delta, lam, Bt, Ct, m->D, &o, y));
  c->seqlen_offset++;
  return LR_OK;
}

lr_status lr_s5_step_model(lr_s5 *m, lr_s5_cache *c, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  if (!m || !c || !y_t) return lr_fail(LR_ERR_ARG, "lr_s5_step_model: %s is NULL", !m ? "m" : !c ? "cache" : "y_t");
  bool prev = lr_set_grad_enabled(false);
  lr_status s = s5_step(m, c, x_t, dt_t, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- registry entry (nn/registry.h): "S5" ----
 * A, B, C are real (..., 2) parameters here, exactly lrnnx's view_as_real storage, so checkpoints
 * need no LR_PARAM_REAL_VIEW mark. */
static lr_status s5_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_state", "discretization", "conj_sym", "dt_min", "dt_max",
                                      "step_rescale", "use_fast_path", "device", "dtype", "seed", NULL};
  static const char *const discs[] = {"zoh", "bilinear", "dirac", NULL};
  const char *M = "S5";
  lr_rng rng;
  lr_s5_config c = lr_s5_config_default(0, 0);
  LR_TRY(lr_ltv_args_common(args, M, known, &c.dtype, &rng));
  LR_TRY(lr_ltv_args_size(args, M, "d_model", true, 0, &c.d_model));
  LR_TRY(lr_ltv_args_size(args, M, "d_state", true, 0, &c.d_state));
  int k;
  LR_TRY(lr_args_choice(args, M, "discretization", discs, 0, &k));
  c.discretization = discs[k];
  LR_TRY(lr_args_bool(args, M, "conj_sym", c.conj_sym, &c.conj_sym));
  LR_TRY(lr_args_double(args, M, "dt_min", c.dt_min, &c.dt_min));
  LR_TRY(lr_args_double(args, M, "dt_max", c.dt_max, &c.dt_max));
  LR_TRY(lr_args_double(args, M, "step_rescale", c.step_rescale, &c.step_rescale));
  lr_s5 *m;
  LR_TRY(lr_s5_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status s5_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_s5_forward((lr_s5 *)m, x, tau, lengths, y);
}
static lr_status s5_step_def(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  return lr_s5_step_model((lr_s5 *)m, cache, x_t, dt_t, y_t);
}
static lr_status s5_alloc_def(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  return lr_s5_allocate_cache((lr_s5 *)m, batch, max_len, (lr_s5_cache **)cache);
}
static void s5_free_def(lr_module *m, void *cache) {
  (void)m;
  lr_s5_cache_free(cache);
}

const lr_model_def lr_model_s5 = {
    "S5",
    "d_model, d_state, discretization=\"zoh\", conj_sym=false, dt_min=0.001, dt_max=0.1, step_rescale=1.0, "
    "dtype=\"float32\", seed=0 (use_fast_path, device ignored)",
    s5_create, s5_fwd, s5_step_def, s5_alloc_def, s5_free_def};
