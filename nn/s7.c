/* S7, as lrnnx.models.ltv.S7; math, parameters and init in s7.h.
 *
 * Built from lr_linear, lr_split/lr_reshape, lr_matmul (Bu = x B per step, y = C h per step),
 * lr_selective_scan with the "s7" discretization over N channels with one state each (A unused,
 * fixed B = C = 1, the time-varying a_t in the delta slot), lr_gelu (erf), lr_sigmoid, lr_mul,
 * lr_add; the backward is theirs (so the gradient of GELU is the exact one, unlike lrnnx's fused
 * backward, §13.7).
 */
#include "nn/s7.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lti_util.h"
#include "nn/ltv_args.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "ops/view.h"

lr_s7_config lr_s7_config_default(int64_t d_model, int64_t d_state) {
  lr_s7_config c = {0};
  c.d_model = d_model;
  c.d_state = d_state;
  c.J = 1;
  c.dtype = LR_DTYPE_F32;
  return c;
}

static lr_status s7_init(lr_s7 *m, lr_rng *rng) {
  lr_module *b = &m->base;
  const int64_t H = m->d_model, N = m->d_state;
  LR_TRY(lr_module_add_param(b, "base_params", m->dtype, LR_SHAPE(N), &m->base_params));
  LR_TRY(lr_tensor_fill_(m->base_params, -0.5)); /* Re Λ_HiPPO, repeated J times */
  LR_TRY(lr_linear_new(b, "in_proj", H, H, false, m->dtype, rng, &m->in_proj));
  LR_TRY(lr_linear_new(b, "x_proj", H, N + 2 * H * N + H + N, false, m->dtype, rng, &m->x_proj));
  LR_TRY(lr_linear_new(b, "gate_proj", H, H, false, m->dtype, rng, &m->gate_proj));
  return lr_rand_normal_(m->x_proj->weight, 0.0, 0.02, rng);
}

lr_status lr_s7_new(lr_module *parent, const char *name, const lr_s7_config *c, lr_rng *rng, lr_s7 **out) {
  const char *fn = "lr_s7_new";
  if (!c || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !c ? "cfg" : !rng ? "rng" : "out");
  if (c->d_model < 1 || c->d_state < 1 || c->J < 1)
    return lr_fail(LR_ERR_ARG, "%s: d_model %lld, d_state %lld, J %lld must be >= 1", fn, (long long)c->d_model,
                   (long long)c->d_state, (long long)c->J);
  if (c->d_state % c->J)
    return lr_fail(LR_ERR_ARG, "%s: d_state %lld must be divisible by J %lld", fn, (long long)c->d_state,
                   (long long)c->J);
  if (c->dtype != LR_DTYPE_F32 && c->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(c->dtype));
  lr_module *b;
  LR_TRY(lr_module_new(sizeof(lr_s7), "S7", &b));
  lr_s7 *m = (lr_s7 *)b;
  m->d_model = c->d_model;
  m->d_state = c->d_state;
  m->J = c->J;
  m->dtype = c->dtype;
  lr_status s = s7_init(m, rng);
  if (s != LR_OK) {
    lr_module_free(b);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, b));
  *out = m;
  return LR_OK;
}

static lr_status check_x(const char *fn, const lr_s7 *m, const lr_tensor *x, int ndim) {
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

/* The projections shared by forward and step, on rows (..., H) with `lead` leading dims:
 * x = in_proj(u); a = a + base (..., N); Bu = Σ_h B[h, n] x[h] + b (..., N); C (..., H, N); D (..., H). */
static lr_status project(lr_s7 *m, lr_tensor *u, lr_tensor **x, lr_tensor **a, lr_tensor **Bu, lr_tensor **C,
                         lr_tensor **D) {
  const int64_t H = m->d_model, N = m->d_state;
  const int nd = u->ndim;
  lr_tensor *xd, *p[5], *Bm, *x1, *bu;
  int64_t sh[LR_MAX_DIMS];
  LR_TRY(lr_linear(u, m->in_proj->weight, NULL, x));
  LR_TRY(lr_linear(*x, m->x_proj->weight, NULL, &xd));
  LR_TRY(lr_split(xd, 5, (int64_t[]){N, H * N, H * N, H, N}, nd - 1, p));
  LR_TRY(lr_add(p[0], m->base_params, a));
  for (int i = 0; i < nd - 1; i++) sh[i] = u->shape[i];
  sh[nd - 1] = H, sh[nd] = N;
  LR_TRY(lr_reshape(p[1], nd + 1, sh, &Bm)); /* (..., H, N) */
  LR_TRY(lr_reshape(p[2], nd + 1, sh, C));
  LR_TRY(lr_unsqueeze(*x, nd - 1, &x1));     /* (..., 1, H) */
  LR_TRY(lr_matmul(x1, Bm, &bu));            /* (..., 1, N) */
  LR_TRY(lr_squeeze(bu, nd - 1, &bu));
  LR_TRY(lr_add(bu, p[4], Bu));
  *D = p[3];
  return LR_OK;
}

/* y = C h + D x, then out = σ(gate_proj(GELU(y))) y + u. h (..., N). */
static lr_status readout(lr_s7 *m, lr_tensor *u, lr_tensor *x, lr_tensor *h, lr_tensor *C, lr_tensor *D,
                         lr_tensor *mask, lr_tensor **out) {
  const int nd = h->ndim;
  lr_tensor *h1, *y, *dx, *g;
  LR_TRY(lr_unsqueeze(h, nd, &h1)); /* (..., N, 1) */
  LR_TRY(lr_matmul(C, h1, &y));     /* (..., H, 1) */
  LR_TRY(lr_squeeze(y, nd, &y));
  LR_TRY(lr_mul(D, x, &dx));
  LR_TRY(lr_add(y, dx, &y));
  if (mask) LR_TRY(lr_mul(y, mask, &y));
  LR_TRY(lr_gelu(y, LR_GELU_ERF, &g));
  LR_TRY(lr_linear(g, m->gate_proj->weight, NULL, &g));
  LR_TRY(lr_sigmoid(g, &g));
  LR_TRY(lr_mul(g, y, &y));
  return lr_add(y, u, out);
}

lr_status lr_s7_forward_cached(lr_s7 *m, lr_tensor *u, lr_tensor *tau, lr_tensor *lengths, lr_s7_cache *cache,
                               lr_tensor **out) {
  const char *fn = "lr_s7_forward";
  (void)tau; /* lrnnx ignores integration_timesteps */
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "out");
  LR_TRY(check_x(fn, m, u, 3));
  const int64_t Bn = u->shape[0], L = u->shape[1], N = m->d_state;
  if (cache && cache->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x has %lld", fn, (long long)cache->batch, (long long)Bn);
  lr_tensor *x, *a, *Bu, *C, *D, *at, *but, *A0, *ones, *h, *hL, *hl, *h0 = NULL, *mask = NULL;
  LR_TRY(project(m, u, &x, &a, &Bu, &C, &D));
  LR_TRY(lr_transpose(a, 1, 2, &at)); /* (B, N, L) */
  LR_TRY(lr_transpose(Bu, 1, 2, &but));
  LR_TRY(lr_zeros_on(m->dtype, u->device, LR_SHAPE(N, 1), &A0));
  LR_TRY(lr_lti_full_on(m->dtype, u->device, LR_SHAPE(N, 1), 1.0, &ones));
  if (cache) {
    LR_TRY(lr_empty_like(cache->ssm_state, &h0));
    LR_TRY(lr_tensor_copy_(h0, cache->ssm_state));
  }
  lr_scan_opts o = {0};
  o.disc = LR_DISC_S7;
  o.h0 = h0;
  o.lengths = lengths;
  LR_TRY(lr_selective_scan(but, at, A0, ones, ones, &o, &h, &hL)); /* (B, N, L): y = h (C = 1, one state) */
  LR_TRY(lr_transpose(h, 1, 2, &hl));
  if (lengths) LR_TRY(lr_lti_length_mask(fn, lengths, Bn, L, m->dtype, u->device, &mask)); /* (B, L, 1) */
  LR_TRY(readout(m, u, x, hl, C, D, mask, out));
  if (cache) {
    LR_TRY(lr_tensor_copy_(cache->ssm_state, hL));
    cache->seqlen_offset += L;
  }
  return LR_OK;
}

lr_status lr_s7_forward(lr_s7 *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_s7_forward_cached(m, x, tau, lengths, NULL, y);
}

lr_status lr_s7_allocate_cache(lr_s7 *m, int64_t batch, int64_t max_len, lr_s7_cache **out) {
  const char *fn = "lr_s7_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !m ? "m" : "out");
  if (batch < 1 || max_len < 0)
    return lr_fail(LR_ERR_ARG, "%s: batch %lld must be >= 1 and max_len %lld >= 0", fn, (long long)batch,
                   (long long)max_len);
  lr_s7_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  c->max_len = max_len;
  /* the cache lives with the parameters (lr_module_to) */
  lr_status s = lr_tensor_new(m->dtype, m->base_params->device, LR_SHAPE(batch, m->d_state, 1), &c->ssm_state);
  if (s == LR_OK) s = lr_s7_cache_reset(c);
  if (s != LR_OK) {
    lr_s7_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

void lr_s7_cache_free(lr_s7_cache *c) {
  if (!c) return;
  lr_tensor_free(c->ssm_state);
  free(c);
}

lr_status lr_s7_cache_reset(lr_s7_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_s7_cache_reset: cache is NULL");
  LR_TRY(lr_tensor_fill_(c->ssm_state, 0.0));
  c->seqlen_offset = 0;
  return LR_OK;
}

static lr_status s7_step(lr_s7 *m, lr_s7_cache *c, lr_tensor *u, lr_tensor **out) {
  const char *fn = "lr_s7_step";
  LR_TRY(check_x(fn, m, u, 2));
  const int64_t Bn = u->shape[0], N = m->d_state;
  if (c->batch != Bn)
    return lr_fail(LR_ERR_SHAPE, "%s: the cache holds batch %lld, x_t has %lld", fn, (long long)c->batch, (long long)Bn);
  lr_tensor *x, *a, *Bu, *C, *D, *A0, *ones, *h, *ac, *buc;
  LR_TRY(project(m, u, &x, &a, &Bu, &C, &D));
  LR_TRY(lr_contiguous(a, &ac));
  LR_TRY(lr_contiguous(Bu, &buc));
  LR_TRY(lr_zeros_on(m->dtype, u->device, LR_SHAPE(N, 1), &A0));
  LR_TRY(lr_lti_full_on(m->dtype, u->device, LR_SHAPE(N, 1), 1.0, &ones));
  lr_scan_opts o = {0};
  o.disc = LR_DISC_S7;
  LR_TRY(lr_selective_scan_step(c->ssm_state, buc, ac, A0, ones, ones, &o, &h)); /* (B, N) */
  LR_TRY(readout(m, u, x, h, C, D, NULL, out));
  c->seqlen_offset++;
  return LR_OK;
}

lr_status lr_s7_step(lr_s7 *m, lr_s7_cache *c, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  if (!m || !c || !y_t) return lr_fail(LR_ERR_ARG, "lr_s7_step: %s is NULL", !m ? "m" : !c ? "cache" : "y_t");
  bool prev = lr_set_grad_enabled(false);
  lr_status s = s7_step(m, c, x_t, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- registry entry (nn/registry.h): "S7" ---- */
static lr_status s7_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", "d_state", "J", "use_fast_path", "layer_idx", "device", "dtype",
                                      "seed", NULL};
  const char *M = "S7";
  lr_rng rng;
  lr_s7_config c = lr_s7_config_default(0, 0);
  LR_TRY(lr_ltv_args_common(args, M, known, &c.dtype, &rng));
  LR_TRY(lr_ltv_args_size(args, M, "d_model", true, 0, &c.d_model));
  LR_TRY(lr_ltv_args_size(args, M, "d_state", true, 0, &c.d_state));
  LR_TRY(lr_ltv_args_size(args, M, "J", false, c.J, &c.J));
  lr_s7 *m;
  LR_TRY(lr_s7_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status s7_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *lengths, lr_tensor **y) {
  return lr_s7_forward((lr_s7 *)m, x, tau, lengths, y);
}
static lr_status s7_step_def(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  return lr_s7_step((lr_s7 *)m, cache, x_t, dt_t, y_t);
}
static lr_status s7_alloc_def(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  return lr_s7_allocate_cache((lr_s7 *)m, batch, max_len, (lr_s7_cache **)cache);
}
static void s7_free_def(lr_module *m, void *cache) {
  (void)m;
  lr_s7_cache_free(cache);
}

const lr_model_def lr_model_s7 = {
    "S7", "d_model, d_state, J=1, dtype=\"float32\", seed=0 (use_fast_path, layer_idx, device ignored)",
    s7_create, s7_fwd, s7_step_def, s7_alloc_def, s7_free_def};
