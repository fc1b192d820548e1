/* RG-LRU, as lrnnx.models.ltv.RGLRU with the a-init fix; math, parameters and inits in rglru.h.
 *
 * Built from lr_linear, lr_gelu (erf), lr_causal_conv1d (no activation), lr_sigmoid, lr_affine
 * (g = c r), lr_mul (u = i x, gate ⊙ h) and lr_selective_scan with the "rglru" discretization
 * (A = a (E, 1), fixed B = C = 1, no D/z/softplus); the backward is theirs. The step runs
 * lr_causal_conv1d_step and lr_selective_scan_step, the scan's own per-step code.
 */
#include "nn/rglru.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lti_util.h"
#include "nn/ltv_args.h"
#include "ops/conv1d.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "ops/view.h"

lr_rglru_config lr_rglru_config_default(int64_t d_model) {
  lr_rglru_config c = {0};
  c.d_model = d_model;
  c.d_conv = 4;
  c.expand = 1;
  c.c = 8.0;
  c.a_init_lo = 0.9;
  c.a_init_hi = 0.999;
  c.conv_bias = true;
  c.bias = false;
  c.dtype = LR_DTYPE_F32;
  return c;
}

/* Depthwise nn.Conv1d(E, E, K, groups=E) as child "conv1d", PyTorch init U(±1/sqrt(K)). */
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

static lr_status rglru_init(lr_rglru *m, const lr_rglru_config *c, lr_rng *rng) {
  lr_module *b = &m->base;
  const int64_t H = m->d_model, E = m->d_inner, K = m->d_conv;
  const lr_dtype dt = m->dtype;
  LR_TRY(lr_module_add_param(b, "a_log", dt, LR_SHAPE(E, 1), &m->a_log));
  LR_TRY(lr_module_no_weight_decay(b, "a_log"));
  LR_TRY(lr_linear_new(b, "gate_proj", H, E, c->bias, dt, rng, &m->gate_proj));
  LR_TRY(lr_linear_new(b, "in_proj", H, E, c->bias, dt, rng, &m->in_proj));
  LR_TRY(conv1d_child(b, E, K, c->conv_bias, dt, rng, &m->conv1d, &m->conv_w, &m->conv_b));
  LR_TRY(lr_linear_new(b, "recurrent_gate_proj", E, E, true, dt, rng, &m->recurrent_gate_proj));
  LR_TRY(lr_linear_new(b, "input_gate_proj", E, E, true, dt, rng, &m->input_gate_proj));
  /* a_log = logit(a0), a0 ~ U(lo, hi): σ(a_log) = a0 (lrnnx's log(a0) gives σ ≈ 0.5). */
  lr_tensor *u;
  LR_TRY(lr_empty(LR_DTYPE_F64, LR_SHAPE(E), &u));
  LR_TRY(lr_rand_uniform_(u, c->a_init_lo, c->a_init_hi, rng));
  for (int64_t e = 0; e < E; e++) {
    double a0 = lr_tensor_get(u, e);
    lr_tensor_set(m->a_log, e, log(a0) - log1p(-a0), 0);
  }
  LR_TRY(lr_linear_new(b, "out_proj", E, H, c->bias, dt, rng, &m->out_proj));
  return LR_OK;
}

lr_status lr_rglru_new(lr_module *parent, const char *name, const lr_rglru_config *c, lr_rng *rng, lr_rglru **out) {
  const char *fn = "lr_rglru_new";
  if (!c || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !c ? "cfg" : !rng ? "rng" : "out");
  if (c->d_model < 1 || c->d_conv < 1 || c->expand < 1)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld, d_conv %lld, expand %lld must be >= 1", fn, (long long)c->d_model,
                   (long long)c->d_conv, (long long)c->expand);
  if (!(c->a_init_lo > 0 && c->a_init_lo <= c->a_init_hi && c->a_init_hi < 1))
    return lr_fail(LR_ERR_ARG, "%s: a_init_range (%g, %g) must satisfy 0 < lo <= hi < 1", fn, c->a_init_lo,
                   c->a_init_hi);
  if (!(c->c > 0 && isfinite(c->c))) return lr_fail(LR_ERR_ARG, "%s: c %g must be > 0 and finite", fn, c->c);
  if (c->dtype != LR_DTYPE_F32 && c->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(c->dtype));
  lr_module *b;
  LR_TRY(lr_module_new(sizeof(lr_rglru), "RGLRU", &b));
  lr_rglru *m = (lr_rglru *)b;
  m->d_model = c->d_model;
  m->d_conv = c->d_conv;
  m->expand = c->expand;
  m->d_inner = c->expand * c->d_model;
  m->c = c->c;
  m->dtype = c->dtype;
  lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
  lr_status s = rglru_init(m, c, rng);
  lr_arena_rewind(lr_arena_current(), mk);
  if (s != LR_OK) {
    lr_module_free(b);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, b));
  *out = m;
  return LR_OK;
}

static lr_status check_x(const char *fn, const lr_rglru *m, const lr_tensor *x, int ndim) {
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

/* r, i gates and the scan inputs from the conv output xr (..., E): g = c σ(W_r x + b_r),
 * u = σ(W_i x + b_i) x. */
static lr_status gates(lr_rglru *m, lr_tensor *xr, lr_tensor **g, lr_tensor **u) {
  lr_tensor *r, *i;
  LR_TRY(lr_linear(xr, m->recurrent_gate_proj->weight, m->recurrent_gate_proj->bias, &r));
  LR_TRY(lr_sigmoid(r, &r));
  LR_TRY(lr_affine(r, m->c, 0.0, g));
  LR_TRY(lr_linear(xr, m->input_gate_proj->weight, m->input_gate_proj->bias, &i));
  LR_TRY(lr_sigmoid(i, &i));
  return lr_mul(i, xr, u);
}

lr_status lr_rglru_forward_cached(lr_rglru *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_rglru_cache *cache,
                                  lr_tensor **y) {
  const char *fn = "lr_rglru_forward";
  (void)tau; /* lrnnx ignores integration_timesteps */
  if (!m || !y) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "y");
  LR_TRY(check_x(fn, m, x, 3));
  const int64_t Bn = x->shape[0], L = x->shape[1], E = m->d_inner, K = m->d_conv;
  if (cache && cache->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x has %lld", fn, (long long)cache->batch, (long long)Bn);
  lr_tensor *gate, *xi, *xt, *w2, *xc, *xr, *g, *u, *gt, *ut, *a, *ones, *h, *hL, *hl, *gy, *state0 = NULL,
                                                                                       *conv_out = NULL, *h0 = NULL;
  LR_TRY(lr_linear(x, m->gate_proj->weight, m->gate_proj->bias, &gate));
  LR_TRY(lr_gelu(gate, LR_GELU_ERF, &gate)); /* (B, L, E) */
  LR_TRY(lr_linear(x, m->in_proj->weight, m->in_proj->bias, &xi));
  LR_TRY(lr_transpose(xi, 1, 2, &xt)); /* (B, E, L) */
  LR_TRY(lr_reshape(m->conv_w, 2, (int64_t[]){E, K}, &w2));
  if (cache && K > 1) {
    LR_TRY(lr_empty_like(cache->conv_state, &state0));
    LR_TRY(lr_tensor_copy_(state0, cache->conv_state));
  }
  LR_TRY(lr_causal_conv1d(xt, w2, m->conv_b, state0, false, &xc, cache && K > 1 && !lengths ? &conv_out : NULL));
  LR_TRY(lr_transpose(xc, 1, 2, &xr)); /* (B, L, E) */
  LR_TRY(gates(m, xr, &g, &u));
  LR_TRY(lr_transpose(g, 1, 2, &gt));
  LR_TRY(lr_transpose(u, 1, 2, &ut));
  LR_TRY(lr_sigmoid(m->a_log, &a)); /* (E, 1) */
  LR_TRY(lr_lti_full_on(m->dtype, m->a_log->device, LR_SHAPE(E, 1), 1.0, &ones));
  if (cache) {
    LR_TRY(lr_empty_like(cache->ssm_state, &h0));
    LR_TRY(lr_tensor_copy_(h0, cache->ssm_state));
  }
  lr_scan_opts o = {0};
  o.disc = LR_DISC_RGLRU;
  o.h0 = h0;
  o.lengths = lengths;
  LR_TRY(lr_selective_scan(ut, gt, a, ones, ones, &o, &h, &hL)); /* (B, E, L) */
  LR_TRY(lr_transpose(h, 1, 2, &hl));
  LR_TRY(lr_mul(gate, hl, &gy));
  LR_TRY(lr_linear(gy, m->out_proj->weight, m->out_proj->bias, y));
  if (cache) {
    bool prev = lr_set_grad_enabled(false);
    lr_status s = lr_tensor_copy_(cache->ssm_state, hL);
    if (s == LR_OK && K > 1 && !lengths) s = lr_tensor_copy_(cache->conv_state, conv_out);
    if (s == LR_OK && K > 1 && lengths) { /* the window after position len-1: xp[len .. len+K-2] */
      lr_tensor *xp, *src, *dst;
      s = lr_cat(2, (lr_tensor *[]){state0, xt}, 2, &xp);
      for (int64_t bi = 0; s == LR_OK && bi < Bn; bi++) {
        int64_t len = (int64_t)lr_tensor_get(lengths, bi);
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
  return LR_OK;
}

lr_status lr_rglru_forward(lr_rglru *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_rglru_forward_cached(m, x, tau, lengths, NULL, y);
}

lr_status lr_rglru_allocate_cache(lr_rglru *m, int64_t batch, int64_t max_len, lr_rglru_cache **out) {
  const char *fn = "lr_rglru_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "out");
  if (batch < 1 || max_len < 0)
    return lr_fail(LR_ERR_ARG, "%s: batch %lld must be >= 1 and max_len %lld >= 0", fn, (long long)batch,
                   (long long)max_len);
  lr_rglru_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  c->max_len = max_len;
  lr_status s = LR_OK;
  const lr_device dev = m->a_log->device; /* the cache lives with the parameters (lr_module_to) */
  if (m->d_conv > 1) s = lr_tensor_new(m->dtype, dev, LR_SHAPE(batch, m->d_inner, m->d_conv - 1), &c->conv_state);
  if (s == LR_OK) s = lr_tensor_new(m->dtype, dev, LR_SHAPE(batch, m->d_inner, 1), &c->ssm_state);
  if (s == LR_OK) s = lr_rglru_cache_reset(c);
  if (s != LR_OK) {
    lr_rglru_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

void lr_rglru_cache_free(lr_rglru_cache *c) {
  if (!c) return;
  lr_tensor_free(c->conv_state);
  lr_tensor_free(c->ssm_state);
  free(c);
}

lr_status lr_rglru_cache_reset(lr_rglru_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_rglru_cache_reset: cache is NULL");
  if (c->conv_state) LR_TRY(lr_tensor_fill_(c->conv_state, 0.0));
  LR_TRY(lr_tensor_fill_(c->ssm_state, 0.0));
  c->seqlen_offset = 0;
  return LR_OK;
}

static lr_status rglru_step(lr_rglru *m, lr_rglru_cache *c, lr_tensor *x, lr_tensor **y) {
  const char *fn = "lr_rglru_step";
  LR_TRY(check_x(fn, m, x, 2));
  const int64_t Bn = x->shape[0], E = m->d_inner, K = m->d_conv;
  if (c->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x_t has %lld", fn, (long long)c->batch, (long long)Bn);
  lr_tensor *gate, *xi, *w2, *xc, *g, *u, *a, *ones, *h, *gy;
  LR_TRY(lr_linear(x, m->gate_proj->weight, m->gate_proj->bias, &gate));
  LR_TRY(lr_gelu(gate, LR_GELU_ERF, &gate));
  LR_TRY(lr_linear(x, m->in_proj->weight, m->in_proj->bias, &xi));
  LR_TRY(lr_reshape(m->conv_w, 2, (int64_t[]){E, K}, &w2));
  LR_TRY(lr_causal_conv1d_step(xi, c->conv_state, w2, m->conv_b, false, &xc));
  LR_TRY(gates(m, xc, &g, &u));
  LR_TRY(lr_sigmoid(m->a_log, &a));
  LR_TRY(lr_lti_full_on(m->dtype, m->a_log->device, LR_SHAPE(E, 1), 1.0, &ones));
  lr_scan_opts o = {0};
  o.disc = LR_DISC_RGLRU;
  LR_TRY(lr_selective_scan_step(c->ssm_state, u, g, a, ones, ones, &o, &h));
  LR_TRY(lr_mul(gate, h, &gy));
  LR_TRY(lr_linear(gy, m->out_proj->weight, m->out_proj->bias, y));
  c->seqlen_offset++;
  return LR_OK;
}

lr_status lr_rglru_step(lr_rglru *m, lr_rglru_cache *c, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  if (!m || !c || !y_t) return lr_fail(LR_ERR_ARG, "lr_rglru_step: %s is NULL", !m ? "m" : !c ? "cache" : "y_t");
  bool prev = lr_set_grad_enabled(false);
  lr_status s = rglru_step(m, c, x_t, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- registry entry (nn/registry.h): "RGLRU" ---- */
static lr_status rglru_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_conv", "expand", "c", "a_init_range", "conv_bias", "bias",
                                      "use_fast_path", "layer_idx", "device", "dtype", "seed", NULL};
  const char *M = "RGLRU";
  lr_rng rng;
  lr_rglru_config c = lr_rglru_config_default(0);
  LR_TRY(lr_ltv_args_common(args, M, known, &c.dtype, &rng));
  LR_TRY(lr_ltv_args_size(args, M, "d_model", true, 0, &c.d_model));
  LR_TRY(lr_ltv_args_size(args, M, "d_conv", false, c.d_conv, &c.d_conv));
  LR_TRY(lr_ltv_args_size(args, M, "expand", false, c.expand, &c.expand));
  LR_TRY(lr_args_double(args, M, "c", c.c, &c.c));
  /* a_init_range: a list (tuple) of two numbers */
  const cJSON *r = args ? cJSON_GetObjectItemCaseSensitive(args, "a_init_range") : NULL;
  if (r && !cJSON_IsNull(r)) {
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 || !cJSON_IsNumber(cJSON_GetArrayItem(r, 0)) ||
        !cJSON_IsNumber(cJSON_GetArrayItem(r, 1))) {
      char *s = cJSON_PrintUnformatted(r);
      lr_status st = lr_fail(LR_ERR_ARG, "RGLRU: argument 'a_init_range' must be a list of 2 numbers, got %.80s",
                             s ? s : "?");
      cJSON_free(s);
      return st;
    }
    c.a_init_lo = cJSON_GetArrayItem(r, 0)->valuedouble;
    c.a_init_hi = cJSON_GetArrayItem(r, 1)->valuedouble;
  }
  LR_TRY(lr_args_bool(args, M, "conv_bias", c.conv_bias, &c.conv_bias));
  LR_TRY(lr_args_bool(args, M, "bias", c.bias, &c.bias));
  lr_rglru *m;
  LR_TRY(lr_rglru_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status rglru_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_rglru_forward((lr_rglru *)m, x, tau, lengths, y);
}
static lr_status rglru_step_def(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  return lr_rglru_step((lr_rglru *)m, cache, x_t, dt_t, y_t);
}
static lr_status rglru_alloc_def(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  return lr_rglru_allocate_cache((lr_rglru *)m, batch, max_len, (lr_rglru_cache **)cache);
}
static void rglru_free_def(lr_module *m, void *cache) {
  (void)m;
  lr_rglru_cache_free(cache);
}

const lr_model_def lr_model_rglru = {
    "RGLRU",
    "d_model, d_conv=4, expand=1, c=8.0, a_init_range=[0.9, 0.999], conv_bias=true, bias=false, "
    "dtype=\"float32\", seed=0 (use_fast_path, layer_idx, device ignored)",
    rglru_create, rglru_fwd, rglru_step_def, rglru_alloc_def, rglru_free_def};
