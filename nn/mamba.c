/* Mamba (S6) and STREAM, as lrnnx.models.ltv.Mamba; math, parameters and inits in mamba.h.
 *
 * Layout: the projections run on (B, L, ·) rows; the conv and the scan take channel-major
 * (B, E, L) views (lr_transpose), as lrnnx's kernels do. The backward is the ops' own: lr_linear,
 * lr_causal_conv1d (fused SiLU), lr_selective_scan (bias + softplus of Δ, D skip, SiLU(z) gate,
 * deltaA in event mode), lr_exp/lr_neg for A = -exp(A_log), lr_softplus/lr_mul for Δ_A.
 */
#include "nn/mamba.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/ltv_args.h"
#include "ops/conv1d.h"
#include "ops/discretize.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "ops/view.h"

lr_mamba_config lr_mamba_config_default(int64_t d_model) {
  lr_mamba_config c = {0};
  c.d_model = d_model;
  c.d_state = 16;
  c.d_conv = 4;
  c.expand = 2;
  c.dt_rank = 0;
  c.dt_min = 0.001;
  c.dt_max = 0.1;
  c.dt_init = "random";
  c.dt_scale = 1.0;
  c.dt_init_floor = 1e-4;
  c.conv_bias = true;
  c.bias = false;
  c.discretization = "mamba";
  c.dtype = LR_DTYPE_F32;
  return c;
}

/* A depthwise nn.Conv1d(E, E, K, groups=E) as a child "conv1d": weight (E, 1, K), bias (E);
 * PyTorch's init, fan_in = K: U(±1/sqrt(K)) for both. */
static lr_status conv1d_child(lr_module *parent, int64_t E, int64_t K, bool bias, lr_dtype dt, lr_rng *rng,
                              lr_module **out, lr_tensor **w, lr_tensor **b) {
  lr_module *c;
  LR_TRY(lr_module_new(sizeof(lr_module), "Conv1d", &c));
  double bound = 1.0 / sqrt((double)K);
  *b = NULL;
  lr_status s = lr_module_add_param(c, "weight", dt, LR_SHAPE(E, 1, K), w);
  if (s == LR_OK && bias) s = lr_module_add_param(c, "bias", dt, LR_SHAPE(E), b);
  if (s == LR_OK) s = lr_rand_uniform_(*w, -bound, bound, rng);
  if (s == LR_OK && bias) s = lr_rand_uniform_(*b, -bound, bound, rng);
  if (s != LR_OK) {
    lr_module_free(c);
    return s;
  }
  LR_TRY(lr_module_attach(parent, "conv1d", c));
  *out = c;
  return LR_OK;
}

static lr_status mamba_init(lr_mamba *m, const lr_mamba_config *c, lr_rng *rng) {
  lr_module *b = &m->base;
  const int64_t H = m->d_model, E = m->d_inner, N = m->d_state, R = m->dt_rank, K = m->d_conv;
  const lr_dtype dt = m->dtype;
  LR_TRY(lr_module_add_param(b, "A_log", dt, LR_SHAPE(E, N), &m->A_log));
  LR_TRY(lr_module_add_param(b, "D", dt, LR_SHAPE(E), &m->D));
  for (int64_t e = 0; e < E; e++)
    for (int64_t n = 0; n < N; n++) lr_tensor_set(m->A_log, e * N + n, log((double)(n + 1)), 0);
  LR_TRY(lr_tensor_fill_(m->D, 1.0));
  LR_TRY(lr_module_no_weight_decay(b, "A_log"));
  LR_TRY(lr_module_no_weight_decay(b, "D"));
  LR_TRY(lr_linear_new(b, "in_proj", H, 2 * E, c->bias, dt, rng, &m->in_proj));
  LR_TRY(conv1d_child(b, E, K, c->conv_bias, dt, rng, &m->conv1d, &m->conv_w, &m->conv_b));
  LR_TRY(lr_linear_new(b, "x_proj", E, R + 2 * N, false, dt, rng, &m->x_proj));
  LR_TRY(lr_linear_new(b, "dt_proj", R, E, true, dt, rng, &m->dt_proj));
  LR_TRY(lr_linear_new(b, "dtA_proj", R, E, true, dt, rng, &m->dtA_proj));
  double std = pow((double)R, -0.5) * c->dt_scale;
  if (!strcmp(c->dt_init, "constant")) LR_TRY(lr_tensor_fill_(m->dt_proj->weight, std));
  else LR_TRY(lr_rand_uniform_(m->dt_proj->weight, -std, std, rng));
  /* dt_proj.bias = softplus^-1(Δ0) so that softplus(bias) lies in [dt_min, dt_max]. */
  lr_tensor *u;
  LR_TRY(lr_empty(LR_DTYPE_F64, LR_SHAPE(E), &u));
  LR_TRY(lr_rand_uniform_(u, 0.0, 1.0, rng));
  const double lo = log(c->dt_min), hi = log(c->dt_max);
  for (int64_t e = 0; e < E; e++) {
    double d = fmax(exp(lr_tensor_get(u, e) * (hi - lo) + lo), c->dt_init_floor);
    lr_tensor_set(m->dt_proj->bias, e, d + log(-expm1(-d)), 0);
  }
  LR_TRY(lr_linear_new(b, "out_proj", E, H, c->bias, dt, rng, &m->out_proj));
  return LR_OK;
}

lr_status lr_mamba_new(lr_module *parent, const char *name, const lr_mamba_config *c, lr_rng *rng, lr_mamba **out) {
  const char *fn = "lr_mamba_new";
  if (!c || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !c ? "cfg" : !rng ? "rng" : "out");
  if (c->d_model < 1 || c->d_state < 1 || c->d_conv < 1 || c->expand < 1 || c->dt_rank < 0)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld, d_state %lld, d_conv %lld, expand %lld must be >= 1 (dt_rank %lld >= 0)",
                   fn, (long long)c->d_model, (long long)c->d_state, (long long)c->d_conv, (long long)c->expand,
                   (long long)c->dt_rank);
  if (!(c->dt_min > 0 && c->dt_max >= c->dt_min && c->dt_init_floor >= 0 && isfinite(c->dt_max)))
    return lr_fail(LR_ERR_ARG, "%s: dt_min %g, dt_max %g, dt_init_floor %g: need 0 < dt_min <= dt_max, floor >= 0", fn,
                   c->dt_min, c->dt_max, c->dt_init_floor);
  if (!c->dt_init || (strcmp(c->dt_init, "random") && strcmp(c->dt_init, "constant")))
    return lr_fail(LR_ERR_ARG, "%s: dt_init \"%s\", expected random or constant", fn, c->dt_init ? c->dt_init : "(null)");
  lr_disc disc;
  if (!c->discretization || lr_disc_from_name(c->discretization, &disc) != LR_OK ||
      !(disc == LR_DISC_MAMBA || disc == LR_DISC_ZOH || disc == LR_DISC_BILINEAR || disc == LR_DISC_DIRAC))
    return lr_fail(LR_ERR_ARG, "%s: discretization \"%s\", expected one of mamba, zoh, bilinear, dirac", fn,
                   c->discretization ? c->discretization : "(null)");
  if (c->dtype != LR_DTYPE_F32 && c->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(c->dtype));
  lr_module *b;
  LR_TRY(lr_module_new(sizeof(lr_mamba), "Mamba", &b));
  lr_mamba *m = (lr_mamba *)b;
  m->d_model = c->d_model;
  m->d_state = c->d_state;
  m->d_conv = c->d_conv;
  m->expand = c->expand;
  m->d_inner = c->expand * c->d_model;
  m->dt_rank = c->dt_rank ? c->dt_rank : (c->d_model + 15) / 16;
  m->disc = disc;
  m->dtype = c->dtype;
  lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
  lr_status s = mamba_init(m, c, rng);
  lr_arena_rewind(lr_arena_current(), mk);
  if (s != LR_OK) {
    lr_module_free(b);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, b));
  *out = m;
  return LR_OK;
}

/* ---- shared pieces of forward and step ---- */

static lr_status check_x(const char *fn, const lr_mamba *m, const lr_tensor *x, int ndim) {
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

/* τ (B, L) or (B, L, 1) [step: (B) or (B, 1)] -> a tensor of ndim_out dims ending in a unit
 * dim, ready to broadcast against softplus(dtA_proj.bias) laid out as (E, 1) / (E). */
static lr_status check_tau(const char *fn, const lr_mamba *m, lr_tensor *tau, int64_t Bn, int64_t L, bool step,
                           lr_tensor **out) {
  char b[128];
  lr_tensor *t = tau;
  if (tau->dtype != m->dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: integration_timesteps is %s, the model is %s", fn, lr_dtype_name(tau->dtype),
                   lr_dtype_name(m->dtype));
  int want = step ? 1 : 2;
  if (t->ndim == want + 1 && t->shape[want] == 1) LR_TRY(lr_squeeze(t, want, &t));
  bool ok = t->ndim == want && t->shape[0] == Bn && (step || t->shape[1] == L);
  if (!ok)
    return lr_fail(LR_ERR_SHAPE, "%s: integration_timesteps is %s, expected %s = (%lld%s)", fn,
                   lr_shape_str(tau->ndim, tau->shape, b, sizeof b), step ? "(B)" : "(B, L)", (long long)Bn,
                   step ? "" : ", L");
  LR_TRY(lr_unsqueeze(t, 1, out)); /* (B, 1, L) or (B, 1) */
  return LR_OK;
}

/* Δ_A = τ softplus(dtA_proj.bias): tau1 (B, 1, L) -> (B, E, L), or (B, 1) -> (B, E). */
static lr_status delta_a(lr_mamba *m, lr_tensor *tau1, lr_tensor **out) {
  lr_tensor *sp, *spv;
  LR_TRY(lr_softplus(m->dtA_proj->bias, 1.0, 20.0, &sp));
  if (tau1->ndim == 3) LR_TRY(lr_unsqueeze(sp, 1, &spv));
  else spv = sp;
  return lr_mul(tau1, spv, out);
}

static lr_status neg_exp(lr_tensor *a, lr_tensor **out) {
  lr_tensor *e;
  LR_TRY(lr_exp(a, &e));
  return lr_neg(e, out);
}

static lr_status check_lengths(const char *fn, lr_tensor *lengths, int64_t Bn) {
  char b[128];
  if (lengths->dtype != LR_DTYPE_I64 || lengths->ndim != 1 || lengths->shape[0] != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: lengths is %s %s, expected (B) = (%lld) i64", fn, lr_dtype_name(lengths->dtype),
                   lr_shape_str(lengths->ndim, lengths->shape, b, sizeof b), (long long)Bn);
  return LR_OK;
}

/* An arena copy of a persistent state, so the tape never sees the cache's memory change. */
static lr_status arena_copy(const lr_tensor *t, lr_tensor **out) {
  LR_TRY(lr_empty_like(t, out));
  return lr_tensor_copy_(*out, t);
}

lr_status lr_mamba_forward_cached(lr_mamba *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths,
                                  lr_mamba_cache *cache, lr_tensor **y) {
  const char *fn = "lr_mamba_forward";
  if (!m || !y) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "y");
  LR_TRY(check_x(fn, m, x, 3));
  const int64_t Bn = x->shape[0], L = x->shape[1], E = m->d_inner, N = m->d_state, R = m->dt_rank, K = m->d_conv;
  if (lengths) LR_TRY(check_lengths(fn, lengths, Bn));
  if (cache && cache->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x has %lld", fn, (long long)cache->batch, (long long)Bn);
  lr_tensor *tau1 = NULL;
  if (tau) LR_TRY(check_tau(fn, m, tau, Bn, L, false, &tau1));

  lr_tensor *xz, *parts[2], *xt, *zt, *w2, *xc, *conv_out = NULL, *state0 = NULL, *h0 = NULL;
  LR_TRY(lr_linear(x, m->in_proj->weight, m->in_proj->bias, &xz)); /* (B, L, 2E) */
  LR_TRY(lr_split(xz, 2, (int64_t[]){E, E}, 2, parts));
  LR_TRY(lr_transpose(parts[0], 1, 2, &xt)); /* (B, E, L) */
  LR_TRY(lr_transpose(parts[1], 1, 2, &zt));
  LR_TRY(lr_reshape(m->conv_w, 2, (int64_t[]){E, K}, &w2));
  if (cache && K > 1) LR_TRY(arena_copy(cache->conv_state, &state0));
  LR_TRY(lr_causal_conv1d(xt, w2, m->conv_b, state0, true, &xc, cache && K > 1 && !lengths ? &conv_out : NULL));

  lr_tensor *xr, *xdbl, *p3[3], *dt, *dtt, *Bv, *Cv, *A, *dA = NULL, *yc, *hL, *yl;
  LR_TRY(lr_transpose(xc, 1, 2, &xr));              /* (B, L, E) */
  LR_TRY(lr_linear(xr, m->x_proj->weight, NULL, &xdbl)); /* (B, L, R + 2N) */
  LR_TRY(lr_split(xdbl, 3, (int64_t[]){R, N, N}, 2, p3));
  LR_TRY(lr_linear(p3[0], m->dt_proj->weight, NULL, &dt)); /* (B, L, E) */
  LR_TRY(lr_transpose(dt, 1, 2, &dtt));
  LR_TRY(lr_permute(p3[1], (int[]){0, 2, 1}, &Bv)); /* (B, N, L) */
  LR_TRY(lr_permute(p3[2], (int[]){0, 2, 1}, &Cv));
  LR_TRY(lr_unsqueeze(Bv, 1, &Bv)); /* (B, 1, N, L) */
  LR_TRY(lr_unsqueeze(Cv, 1, &Cv));
  LR_TRY(neg_exp(m->A_log, &A));
  if (tau1) LR_TRY(delta_a(m, tau1, &dA));
  if (cache) LR_TRY(arena_copy(cache->ssm_state, &h0));
  lr_scan_opts o = {0};
  o.D = m->D;
  o.z = zt;
  o.delta_bias = m->dt_proj->bias;
  o.delta_softplus = true;
  o.deltaA = dA;
  o.h0 = h0;
  o.lengths = lengths;
  o.disc = m->disc;
  LR_TRY(lr_selective_scan(xc, dtt, A, Bv, Cv, &o, &yc, &hL)); /* (B, E, L) */
  LR_TRY(lr_transpose(yc, 1, 2, &yl));
  lr_tensor *out;
  LR_TRY(lr_linear(yl, m->out_proj->weight, m->out_proj->bias, &out));

  if (cache) {
    bool prev = lr_set_grad_enabled(false);
    lr_status s = lr_tensor_copy_(cache->ssm_state, hL);
    if (s == LR_OK && K > 1 && !lengths) s = lr_tensor_copy_(cache->conv_state, conv_out);
    if (s == LR_OK && K > 1 && lengths) {
      /* The conv window after position len-1: xp[len .. len+K-2], xp = [state0, x]. */
      lr_tensor *xp, *src, *dst;
      s = lr_cat(2, (lr_tensor *[]){state0, xt}, 2, &xp);
      for (int64_t bi = 0; s == LR_OK && bi < Bn; bi++) {
        int64_t len = (int64_t)lr_tensor_get(lengths, bi);
        if (len < 0 || len > L) {
          s = lr_fail(LR_ERR_ARG, "%s: lengths[%lld] = %lld is outside [0, %lld]", fn, (long long)bi, (long long)len,
                      (long long)L);
          break;
        }
        s = lr_tensor_narrow(xp, 0, bi, 1, &src);
        if (s == LR_OK) s = lr_tensor_narrow(src, 2, len, K - 1, &src);
        if (s == LR_OK) s = lr_tensor_narrow(cache->conv_state, 0, bi, 1, &dst);
        if (s == LR_OK) s = lr_tensor_copy_(dst, src);
      }
    }
    lr_set_grad_enabled(prev);
    LR_TRY(s);
    cache->seqlen_offset += L;
  }
  *y = out;
  return LR_OK;
}

lr_status lr_mamba_forward(lr_mamba *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_mamba_forward_cached(m, x, tau, lengths, NULL, y);
}

/* ---- cache and step ---- */

lr_status lr_mamba_allocate_cache(lr_mamba *m, int64_t batch, int64_t max_len, lr_mamba_cache **out) {
  const char *fn = "lr_mamba_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "out");
  if (batch < 1 || max_len < 0)
    return lr_fail(LR_ERR_ARG, "%s: batch %lld must be >= 1 and max_len %lld >= 0", fn, (long long)batch,
                   (long long)max_len);
  lr_mamba_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  c->max_len = max_len;
  lr_status s = LR_OK;
  const lr_device dev = m->A_log->device; /* the cache lives with the parameters (lr_module_to) */
  if (m->d_conv > 1) s = lr_tensor_new(m->dtype, dev, LR_SHAPE(batch, m->d_inner, m->d_conv - 1), &c->conv_state);
  if (s == LR_OK) s = lr_tensor_new(m->dtype, dev, LR_SHAPE(batch, m->d_inner, m->d_state), &c->ssm_state);
  if (s == LR_OK) s = lr_mamba_cache_reset(c);
  if (s != LR_OK) {
    lr_mamba_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

void lr_mamba_cache_free(lr_mamba_cache *c) {
  if (!c) return;
  lr_tensor_free(c->conv_state);
  lr_tensor_free(c->ssm_state);
  free(c);
}

lr_status lr_mamba_cache_reset(lr_mamba_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_mamba_cache_reset: cache is NULL");
  if (c->conv_state) LR_TRY(lr_tensor_fill_(c->conv_state, 0.0));
  LR_TRY(lr_tensor_fill_(c->ssm_state, 0.0));
  c->seqlen_offset = 0;
  return LR_OK;
}

static lr_status mamba_step(lr_mamba *m, lr_mamba_cache *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y) {
  const char *fn = "lr_mamba_step";
  LR_TRY(check_x(fn, m, x, 2));
  const int64_t Bn = x->shape[0], E = m->d_inner, N = m->d_state, R = m->dt_rank, K = m->d_conv;
  if (c->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x_t has %lld", fn, (long long)c->batch, (long long)Bn);
  lr_tensor *tau1 = NULL, *dA = NULL;
  if (tau) LR_TRY(check_tau(fn, m, tau, Bn, 1, true, &tau1));
  lr_tensor *xz, *parts[2], *xs, *w2, *xc, *xdbl, *p3[3], *dt, *Bv, *Cv, *A, *ys;
  LR_TRY(lr_linear(x, m->in_proj->weight, m->in_proj->bias, &xz)); /* (B, 2E) */
  LR_TRY(lr_split(xz, 2, (int64_t[]){E, E}, 1, parts));
  LR_TRY(lr_contiguous(parts[0], &xs));
  LR_TRY(lr_reshape(m->conv_w, 2, (int64_t[]){E, K}, &w2));
  LR_TRY(lr_causal_conv1d_step(xs, c->conv_state, w2, m->conv_b, true, &xc));
  LR_TRY(lr_linear(xc, m->x_proj->weight, NULL, &xdbl));
  LR_TRY(lr_split(xdbl, 3, (int64_t[]){R, N, N}, 1, p3));
  LR_TRY(lr_linear(p3[0], m->dt_proj->weight, NULL, &dt)); /* (B, E) */
  LR_TRY(lr_unsqueeze(p3[1], 1, &Bv));                     /* (B, 1, N) */
  LR_TRY(lr_unsqueeze(p3[2], 1, &Cv));
  LR_TRY(neg_exp(m->A_log, &A));
  if (tau1) LR_TRY(delta_a(m, tau1, &dA));
  lr_scan_opts o = {0};
  o.D = m->D;
  o.z = parts[1];
  o.delta_bias = m->dt_proj->bias;
  o.delta_softplus = true;
  o.deltaA = dA;
  o.disc = m->disc;
  LR_TRY(lr_selective_scan_step(c->ssm_state, xc, dt, A, Bv, Cv, &o, &ys));
  LR_TRY(lr_linear(ys, m->out_proj->weight, m->out_proj->bias, y));
  c->seqlen_offset++;
  return LR_OK;
}

lr_status lr_mamba_step(lr_mamba *m, lr_mamba_cache *c, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  if (!m || !c || !y_t)
    return lr_fail(LR_ERR_ARG, "lr_mamba_step: %s is NULL", !m ? "m" : !c ? "cache" : "y_t");
  bool prev = lr_set_grad_enabled(false);
  lr_status s = mamba_step(m, c, x_t, dt_t, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- registry entry (nn/registry.h): "Mamba" ---- */
static lr_status mamba_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_state", "d_conv", "expand", "dt_rank", "dt_min", "dt_max",
                                      "dt_init", "dt_scale", "dt_init_floor", "conv_bias", "bias", "use_fast_path",
                                      "layer_idx", "device", "dtype", "discretization", "seed", NULL};
  static const char *const dt_inits[] = {"random", "constant", NULL};
  static const char *const discs[] = {"mamba", "zoh", "bilinear", "dirac", NULL};
  const char *M = "Mamba";
  lr_rng rng;
  lr_mamba_config c = lr_mamba_config_default(0);
  LR_TRY(lr_ltv_args_common(args, M, known, &c.dtype, &rng));
  LR_TRY(lr_ltv_args_size(args, M, "d_model", true, 0, &c.d_model));
  LR_TRY(lr_ltv_args_size(args, M, "d_state", false, c.d_state, &c.d_state));
  LR_TRY(lr_ltv_args_size(args, M, "d_conv", false, c.d_conv, &c.d_conv));
  LR_TRY(lr_ltv_args_size(args, M, "expand", false, c.expand, &c.expand));
  /* dt_rank: "auto" (ceil(d_model / 16), the default) or an integer >= 1 */
  const cJSON *r = args ? cJSON_GetObjectItemCaseSensitive(args, "dt_rank") : NULL;
  if (cJSON_IsString(r)) {
    int auto_rank;
    LR_TRY(lr_args_choice(args, M, "dt_rank", (const char *const[]){"auto", NULL}, 0, &auto_rank));
    c.dt_rank = 0;
  } else if (r && !cJSON_IsNull(r)) {
    LR_TRY(lr_ltv_args_size(args, M, "dt_rank", false, 0, &c.dt_rank));
  }
  LR_TRY(lr_args_double(args, M, "dt_min", c.dt_min, &c.dt_min));
  LR_TRY(lr_args_double(args, M, "dt_max", c.dt_max, &c.dt_max));
  int k;
  LR_TRY(lr_args_choice(args, M, "dt_init", dt_inits, 0, &k));
  c.dt_init = dt_inits[k];
  LR_TRY(lr_args_double(args, M, "dt_scale", c.dt_scale, &c.dt_scale));
  LR_TRY(lr_args_double(args, M, "dt_init_floor", c.dt_init_floor, &c.dt_init_floor));
  LR_TRY(lr_args_bool(args, M, "conv_bias", c.conv_bias, &c.conv_bias));
  LR_TRY(lr_args_bool(args, M, "bias", c.bias, &c.bias));
  LR_TRY(lr_args_choice(args, M, "discretization", discs, 0, &k));
  c.discretization = discs[k];
  lr_mamba *m;
  LR_TRY(lr_mamba_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status mamba_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_mamba_forward((lr_mamba *)m, x, tau, lengths, y);
}
static lr_status mamba_step_def(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  return lr_mamba_step((lr_mamba *)m, cache, x_t, dt_t, y_t);
}
static lr_status mamba_alloc_def(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  return lr_mamba_allocate_cache((lr_mamba *)m, batch, max_len, (lr_mamba_cache **)cache);
}
static void mamba_free_def(lr_module *m, void *cache) {
  (void)m;
  lr_mamba_cache_free(cache);
}

const lr_model_def lr_model_mamba = {
    "Mamba",
    "d_model, d_state=16, d_conv=4, expand=2, dt_rank=\"auto\", dt_min=0.001, dt_max=0.1, dt_init=\"random\", "
    "dt_scale=1.0, dt_init_floor=1e-4, conv_bias=true, bias=false, discretization=\"mamba\", dtype=\"float32\", "
    "seed=0 (use_fast_path, layer_idx, device ignored)",
    mamba_create, mamba_fwd, mamba_step_def, mamba_alloc_def, mamba_free_def};
