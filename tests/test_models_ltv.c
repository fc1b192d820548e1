/* The LTV models (nn/mamba, nn/s5): the lrnnx reference fixtures (forward, every gradient, step
 * mode), step == forward for every discretization x event mode, prefill + step, lengths, a
 * model-level f64 gradcheck, parameter names/shapes/inits, constructor and input errors; the
 * registry entries ("Mamba", "S5", "RGLRU", "S7": JSON arguments, forward/step through the
 * lr_model_def) and a checkpoint round trip per model (lr_module_save, strict lr_module_load into
 * a fresh model with other weights: every tensor and the output then agree exactly).
 *
 * Fixtures: ../shared/fixtures/lrnnx (FORMAT.md), read from $LRNNX_FIXTURES or
 * /work/shared/fixtures/lrnnx; the fixture tests skip when the folder is absent. A case passes
 * when max|out - ref| <= 2e-3 max|ref| (FORMAT.md's bound: f32 against PyTorch's f32, different
 * summation orders).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "autograd/gradcheck.h"
#include "nn/checkpoint.h"
#include "nn/mamba.h"
#include "nn/registry.h"
#include "nn/rglru.h"
#include "nn/s5.h"
#include "nn/s7.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "tensor/safetensors.h"

/* ---- a uniform face over the models ---- */
typedef struct {
  lr_module *m;
  lr_status (*fwd)(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *len, void *cache, lr_tensor **y);
  lr_status (*alloc)(lr_module *m, int64_t B, int64_t L, void **c);
  lr_status (*step)(lr_module *m, void *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y);
  lr_status (*reset)(void *c);
  void (*cfree)(void *c);
} model;

static lr_status mamba_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *len, void *c, lr_tensor **y) {
  return lr_mamba_forward_cached((lr_mamba *)m, x, tau, len, c, y);
}
static lr_status mamba_alloc(lr_module *m, int64_t B, int64_t L, void **c) {
  return lr_mamba_allocate_cache((lr_mamba *)m, B, L, (lr_mamba_cache **)c);
}
static lr_status mamba_stepf(lr_module *m, void *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y) {
  return lr_mamba_step((lr_mamba *)m, c, x, tau, y);
}
static lr_status mamba_reset(void *c) { return lr_mamba_cache_reset(c); }
static void mamba_cfree(void *c) { lr_mamba_cache_free(c); }

static lr_status s5_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *len, void *c, lr_tensor **y) {
  return lr_s5_forward_cached((lr_s5 *)m, x, tau, len, c, y);
}
static lr_status s5_alloc(lr_module *m, int64_t B, int64_t L, void **c) {
  return lr_s5_allocate_cache((lr_s5 *)m, B, L, (lr_s5_cache **)c);
}
static lr_status s5_stepf(lr_module *m, void *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y) {
  return lr_s5_step_model((lr_s5 *)m, c, x, tau, y);
}
static lr_status s5_reset(void *c) { return lr_s5_cache_reset(c); }
static void s5_cfree(void *c) { lr_s5_cache_free(c); }

static lr_status rglru_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *len, void *c, lr_tensor **y) {
  return lr_rglru_forward_cached((lr_rglru *)m, x, tau, len, c, y);
}
static lr_status rglru_alloc(lr_module *m, int64_t B, int64_t L, void **c) {
  return lr_rglru_allocate_cache((lr_rglru *)m, B, L, (lr_rglru_cache **)c);
}
static lr_status rglru_stepf(lr_module *m, void *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y) {
  return lr_rglru_step((lr_rglru *)m, c, x, tau, y);
}
static lr_status rglru_reset(void *c) { return lr_rglru_cache_reset(c); }
static void rglru_cfree(void *c) { lr_rglru_cache_free(c); }

static lr_status s7_fwd(lr_module *m, lr_tensor *x, lr_tensor *tau, lr_tensor *len, void *c, lr_tensor **y) {
  return lr_s7_forward_cached((lr_s7 *)m, x, tau, len, c, y);
}
static lr_status s7_alloc(lr_module *m, int64_t B, int64_t L, void **c) {
  return lr_s7_allocate_cache((lr_s7 *)m, B, L, (lr_s7_cache **)c);
}
static lr_status s7_stepf(lr_module *m, void *c, lr_tensor *x, lr_tensor *tau, lr_tensor **y) {
  return lr_s7_step((lr_s7 *)m, c, x, tau, y);
}
static lr_status s7_reset(void *c) { return lr_s7_cache_reset(c); }
static void s7_cfree(void *c) { lr_s7_cache_free(c); }

static model mamba_model(lr_mamba *m) {
  return (model){&m->base, mamba_fwd, mamba_alloc, mamba_stepf, mamba_reset, mamba_cfree};
}
static model s5_model(lr_s5 *m) { return (model){&m->base, s5_fwd, s5_alloc, s5_stepf, s5_reset, s5_cfree}; }
static model rglru_model(lr_rglru *m) {
  return (model){&m->base, rglru_fwd, rglru_alloc, rglru_stepf, rglru_reset, rglru_cfree};
}
static model s7_model(lr_s7 *m) { return (model){&m->base, s7_fwd, s7_alloc, s7_stepf, s7_reset, s7_cfree}; }
static int64_t model_width(const model *md) {
  if (!strcmp(md->m->type, "S7")) return ((lr_s7 *)md->m)->d_model;
  if (!strcmp(md->m->type, "Mamba")) return ((lr_mamba *)md->m)->d_model;
  if (!strcmp(md->m->type, "S5")) return ((lr_s5 *)md->m)->d_model;
  return ((lr_rglru *)md->m)->d_model;
}

static lr_mamba *new_mamba(lr_mamba_config c, uint64_t seed) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_mamba *m = NULL;
  cr_assert_eq(lr_mamba_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  return m;
}
static lr_rglru *new_rglru(lr_rglru_config c, uint64_t seed) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_rglru *m = NULL;
  cr_assert_eq(lr_rglru_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  return m;
}
static lr_s7 *new_s7(lr_s7_config c, uint64_t seed) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_s7 *m = NULL;
  cr_assert_eq(lr_s7_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  return m;
}
static lr_s5 *new_s5(lr_s5_config c, uint64_t seed) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_s5 *m = NULL;
  cr_assert_eq(lr_s5_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  return m;
}

static lr_tensor *rand_t(lr_dtype dt, int nd, const int64_t *sh, double lo, double hi, uint64_t seed) {
  lr_tensor *t;
  cr_assert_eq(lr_empty(dt, nd, sh, &t), LR_OK);
  lr_gc_fill_uniform(t, lo, hi, seed);
  return t;
}

static double max_abs(const lr_tensor *t) {
  double m = 0;
  for (int64_t i = 0, n = lr_numel(t); i < n; i++) m = fmax(m, fabs(lr_tensor_get(t, i)));
  return m;
}
static double max_diff(const lr_tensor *a, const lr_tensor *b) {
  cr_assert_eq(lr_numel(a), lr_numel(b));
  double m = 0;
  for (int64_t i = 0, n = lr_numel(a); i < n; i++) {
    double d = fabs(lr_tensor_get(a, i) - lr_tensor_get(b, i));
    if (isnan(d)) return INFINITY;
    m = fmax(m, d);
  }
  return m;
}

/* y computed one step at a time: (B, L, H). */
static lr_tensor *run_steps(model *md, void *cache, lr_tensor *x, lr_tensor *tau, int64_t t0) {
  const int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
  lr_tensor *y;
  cr_assert_eq(lr_zeros(x->dtype, LR_SHAPE(B, L - t0, H), &y), LR_OK);
  for (int64_t t = t0; t < L; t++) {
    lr_tensor *xt, *tt = NULL, *yt, *dst;
    cr_assert_eq(lr_tensor_narrow(x, 1, t, 1, &xt), LR_OK);
    cr_assert_eq(lr_tensor_squeeze(xt, 1, &xt), LR_OK);
    if (tau) {
      cr_assert_eq(lr_tensor_narrow(tau, 1, t, 1, &tt), LR_OK);
      cr_assert_eq(lr_tensor_squeeze(tt, 1, &tt), LR_OK);
    }
    cr_assert_eq(md->step(md->m, cache, xt, tt, &yt), LR_OK, "step %lld: %s", (long long)t, lr_last_error());
    cr_assert_eq(lr_tensor_narrow(y, 1, t - t0, 1, &dst), LR_OK);
    cr_assert_eq(lr_tensor_squeeze(dst, 1, &dst), LR_OK);
    cr_assert_eq(lr_tensor_copy_(dst, yt), LR_OK);
  }
  return y;
}

/* ---- fixtures ---- */
static const char *fixture_dir(void) {
  const char *d = getenv("LRNNX_FIXTURES");
  return d ? d : "/work/shared/fixtures/lrnnx";
}

static void run_fixture(const char *cas, model md) {
  char wpath[512], iopath[512];
  snprintf(wpath, sizeof wpath, "%s/%s.weights.safetensors", fixture_dir(), cas);
  snprintf(iopath, sizeof iopath, "%s/%s.io.safetensors", fixture_dir(), cas);
  if (access(wpath, R_OK) != 0 || access(iopath, R_OK) != 0) {
    lr_module_free(md.m);
    cr_skip_test("fixture %s not found under %s", cas, fixture_dir());
  }
  lr_safetensors_file *wf, *io;
  cr_assert_eq(lr_safetensors_open(wpath, &wf), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_open(iopath, &io), LR_OK, "%s", lr_last_error());
  lr_param_list pl;
  cr_assert_eq(lr_module_list(md.m, LR_VISIT_ALL, &pl), LR_OK);
  /* Strict: the file holds exactly the module's tensors, with the module's shapes. */
  cr_assert_eq(lr_safetensors_count(wf), pl.n, "%s: file has %d tensors, module %d", cas, lr_safetensors_count(wf),
               pl.n);
  for (int i = 0; i < pl.n; i++)
    cr_assert_eq(lr_safetensors_read_into(wf, pl.items[i].name, pl.items[i].param->t), LR_OK, "%s: %s: %s", cas,
                 pl.items[i].name, lr_last_error());
  lr_tensor *xp, *g, *yref, *tau = NULL;
  cr_assert_eq(lr_safetensors_get(io, "x", &xp), LR_OK);
  cr_assert_eq(lr_safetensors_get(io, "g", &g), LR_OK);
  cr_assert_eq(lr_safetensors_get(io, "y", &yref), LR_OK);
  lr_safetensors_info inf;
  if (lr_safetensors_info_of(io, "integration_timesteps", &inf) == LR_OK)
    cr_assert_eq(lr_safetensors_get(io, "integration_timesteps", &tau), LR_OK);
  xp->requires_grad = true;
  lr_module_zero_grad(md.m);
  lr_tensor *y;
  cr_assert_eq(md.fwd(md.m, xp, tau, NULL, NULL, &y), LR_OK, "%s", lr_last_error());
  const double tol = 2e-3; /* FORMAT.md */
  double e = max_diff(y, yref), r = max_abs(yref);
  cr_assert(e <= tol * r, "%s: y max|diff| %g > %g * max|ref| %g", cas, e, tol, r);
  cr_assert_eq(lr_backward(y, g), LR_OK, "%s", lr_last_error());
  int n_grads = 0;
  for (int i = 0; i < lr_safetensors_count(io); i++) {
    const char *nm = lr_safetensors_name(io, i);
    if (strncmp(nm, "grad.", 5)) continue;
    lr_tensor *ref, *got = NULL;
    cr_assert_eq(lr_safetensors_get(io, nm, &ref), LR_OK);
    if (!strcmp(nm + 5, "x")) got = xp->grad;
    else {
      lr_tensor *p;
      cr_assert_eq(lr_module_find(md.m, nm + 5, &p, NULL), LR_OK, "%s: %s", cas, lr_last_error());
      got = p->grad;
    }
    cr_assert_not_null(got, "%s: no gradient for %s", cas, nm);
    e = max_diff(got, ref), r = max_abs(ref);
    cr_assert(e <= tol * r, "%s: %s max|diff| %g > %g * max|ref| %g", cas, nm, e, tol, r);
    lr_tensor_free(ref);
    n_grads++;
  }
  cr_assert(n_grads >= 5, "%s: only %d gradients checked", cas, n_grads);
  /* Step mode: y one time step at a time. */
  void *cache;
  cr_assert_eq(md.alloc(md.m, xp->shape[0], xp->shape[1], &cache), LR_OK, "%s", lr_last_error());
  lr_tensor *ys = run_steps(&md, cache, xp, tau, 0);
  e = max_diff(ys, yref), r = max_abs(yref);
  cr_assert(e <= tol * r, "%s: step y max|diff| %g > %g * max|ref| %g", cas, e, tol, r);
  md.cfree(cache);
  lr_param_list_free(&pl);
  lr_tensor_free(xp);
  lr_tensor_free(g);
  lr_tensor_free(yref);
  lr_tensor_free(tau);
  lr_safetensors_close(wf);
  lr_safetensors_close(io);
  lr_module_free(md.m);
}

Test(models_ltv, fixture_mamba) {
  lr_mamba_config c = lr_mamba_config_default(16);
  c.d_state = 8;
  run_fixture("mamba_mamba_B2_L64_H16_N8", mamba_model(new_mamba(c, 1)));
}

Test(models_ltv, fixture_s5) {
  lr_s5_config c = lr_s5_config_default(16, 8);
  run_fixture("s5_zoh_cs0_B2_L64_H16_N8", s5_model(new_s5(c, 1)));
}

/* ---- step == forward, prefill + step ---- */
/* Forward over (B, L, H), then: steps from a fresh cache over all of it; a reset cache again
 * (the reset must clear everything); a prefill of the first half and steps over the rest. The
 * steps run the scans' own per-step code; the projections go through BLAS with other shapes,
 * so the bound is f64 rounding, not bitwise. */
static void check_step(model md, bool event, const char *what) {
  const int64_t B = 2, L = 11, H = 6, half = 5;
  lr_tensor *x = rand_t(LR_DTYPE_F64, LR_SHAPE(B, L, H), -1, 1, 3), *tau = NULL, *y, *x1, *t1 = NULL, *yp;
  if (event) tau = rand_t(LR_DTYPE_F64, LR_SHAPE(B, L), 0.2, 3.0, 4);
  cr_assert_eq(md.fwd(md.m, x, tau, NULL, NULL, &y), LR_OK, "%s: %s", what, lr_last_error());
  double scale = fmax(max_abs(y), 1e-3), tol = 1e-10;
  void *cache;
  cr_assert_eq(md.alloc(md.m, B, L, &cache), LR_OK);
  lr_tensor *ys = run_steps(&md, cache, x, tau, 0);
  cr_assert(max_diff(ys, y) <= tol * scale, "%s: step vs forward %g (scale %g)", what, max_diff(ys, y), scale);
  cr_assert_eq(md.reset(cache), LR_OK);
  ys = run_steps(&md, cache, x, tau, 0);
  cr_assert(max_diff(ys, y) <= tol * scale, "%s: after reset %g", what, max_diff(ys, y));
  /* prefill */
  cr_assert_eq(md.reset(cache), LR_OK);
  cr_assert_eq(lr_tensor_narrow(x, 1, 0, half, &x1), LR_OK);
  if (tau) cr_assert_eq(lr_tensor_narrow(tau, 1, 0, half, &t1), LR_OK);
  cr_assert_eq(md.fwd(md.m, x1, t1, NULL, cache, &yp), LR_OK, "%s: %s", what, lr_last_error());
  lr_tensor *yrest = run_steps(&md, cache, x, tau, half), *yref;
  cr_assert_eq(lr_tensor_narrow(y, 1, half, L - half, &yref), LR_OK);
  cr_assert(max_diff(yrest, yref) <= tol * scale, "%s: prefill + step %g", what, max_diff(yrest, yref));
  md.cfree(cache);
  lr_module_free(md.m);
}

static const char *const MAMBA_DISC[] = {"mamba", "zoh", "bilinear", "dirac"};
static const char *const S5_DISC[] = {"zoh", "bilinear", "dirac"};

Test(models_ltv, mamba_step_equals_forward) {
  for (int d = 0; d < 4; d++)
    for (int ev = 0; ev < 2; ev++) {
      lr_mamba_config c = lr_mamba_config_default(6);
      c.d_state = 4;
      c.d_conv = 3;
      c.discretization = MAMBA_DISC[d];
      c.dtype = LR_DTYPE_F64;
      char what[64];
      snprintf(what, sizeof what, "Mamba %s%s", MAMBA_DISC[d], ev ? " (STREAM)" : "");
      check_step(mamba_model(new_mamba(c, 10 + d)), ev, what);
    }
  /* K = 1: no conv state. */
  lr_mamba_config c = lr_mamba_config_default(6);
  c.d_conv = 1;
  c.dtype = LR_DTYPE_F64;
  check_step(mamba_model(new_mamba(c, 5)), false, "Mamba d_conv 1");
}

Test(models_ltv, s5_step_equals_forward) {
  for (int d = 0; d < 3; d++)
    for (int ev = 0; ev < 2; ev++)
      for (int cs = 0; cs < 2; cs++) {
        lr_s5_config c = lr_s5_config_default(6, 4);
        c.discretization = S5_DISC[d];
        c.conj_sym = cs;
        c.step_rescale = cs ? 1.5 : 1.0;
        c.dtype = LR_DTYPE_F64;
        char what[64];
        snprintf(what, sizeof what, "S5 %s%s%s", S5_DISC[d], ev ? " (Event-SSM)" : "", cs ? " conj_sym" : "");
        check_step(s5_model(new_s5(c, 20 + d)), ev, what);
      }
}

Test(models_ltv, rglru_step_equals_forward) {
  for (int k = 1; k <= 4; k += 3)
    for (int ex = 1; ex <= 2; ex++) {
      lr_rglru_config c = lr_rglru_config_default(6);
      c.d_conv = k;
      c.expand = ex;
      c.bias = ex == 2;
      c.dtype = LR_DTYPE_F64;
      char what[64];
      snprintf(what, sizeof what, "RGLRU d_conv %d expand %d", k, ex);
      check_step(rglru_model(new_rglru(c, 70 + k + ex)), false, what);
    }
}

Test(models_ltv, s7_step_equals_forward) {
  for (int J = 1; J <= 2; J++) {
    lr_s7_config c = lr_s7_config_default(6, 4);
    c.J = J;
    c.dtype = LR_DTYPE_F64;
    lr_s7 *m = new_s7(c, 90 + J);
    /* x_proj's N(0, 0.02²) init keeps a_t near -0.5; widen it so Ā_t moves through [-1, 1). */
    lr_gc_fill_uniform(m->x_proj->weight, -0.5, 0.5, 91);
    char what[64];
    snprintf(what, sizeof what, "S7 J %d", J);
    check_step(s7_model(m), false, what);
  }
}

/* ---- lengths ---- */
/* lengths {L, l1}: row 1 before l1 equals the forward of the first l1 steps; after l1 it is
 * y = model(0-state readout) = 0 (no biases in either model's output path); the prefill's final
 * state for row 1 is the state after l1 steps, so stepping on continues row 1 from there. */
static void check_lengths(model md, bool event, const char *what) {
  const bool residual = !strcmp(md.m->type, "S7"); /* S7's output past the length is its input */
  const int64_t B = 2, L = 9, H = 6, l1 = 4;
  lr_tensor *x = rand_t(LR_DTYPE_F64, LR_SHAPE(B, L, H), -1, 1, 7), *tau = NULL, *len, *y, *xs, *ts = NULL, *ys;
  if (event) tau = rand_t(LR_DTYPE_F64, LR_SHAPE(B, L), 0.2, 3.0, 8);
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(2), (int64_t[]){L, l1}, &len), LR_OK);
  void *c1, *c2;
  cr_assert_eq(md.alloc(md.m, B, L, &c1), LR_OK);
  cr_assert_eq(md.alloc(md.m, B, L, &c2), LR_OK);
  cr_assert_eq(md.fwd(md.m, x, tau, len, c1, &y), LR_OK, "%s: %s", what, lr_last_error());
  cr_assert_eq(lr_tensor_narrow(x, 1, 0, l1, &xs), LR_OK);
  if (tau) cr_assert_eq(lr_tensor_narrow(tau, 1, 0, l1, &ts), LR_OK);
  cr_assert_eq(md.fwd(md.m, xs, ts, NULL, c2, &ys), LR_OK, "%s: %s", what, lr_last_error());
  for (int64_t t = 0; t < L; t++)
    for (int64_t h = 0; h < H; h++) {
      double a = lr_tensor_get(y, (L + t) * H + h);
      double b = t < l1 ? lr_tensor_get(ys, (l1 + t) * H + h) : residual ? lr_tensor_get(x, (L + t) * H + h) : 0.0;
      cr_assert(fabs(a - b) <= 1e-10, "%s: y[1, %lld, %lld] = %g, expected %g", what, (long long)t, (long long)h, a, b);
    }
  /* Continuing both caches on the same next input gives the same row-1 output. */
  lr_tensor *xn = rand_t(LR_DTYPE_F64, LR_SHAPE(B, H), -1, 1, 9), *tn = NULL, *y1, *y2;
  if (event) tn = rand_t(LR_DTYPE_F64, LR_SHAPE(B), 0.2, 3.0, 10);
  cr_assert_eq(md.step(md.m, c1, xn, tn, &y1), LR_OK);
  cr_assert_eq(md.step(md.m, c2, xn, tn, &y2), LR_OK);
  for (int64_t h = 0; h < H; h++)
    cr_assert(fabs(lr_tensor_get(y1, H + h) - lr_tensor_get(y2, H + h)) <= 1e-10, "%s: step after lengths, h %lld", what,
              (long long)h);
  md.cfree(c1);
  md.cfree(c2);
  lr_module_free(md.m);
}

Test(models_ltv, lengths) {
  for (int ev = 0; ev < 2; ev++) {
    lr_mamba_config c = lr_mamba_config_default(6);
    c.d_state = 3;
    c.dtype = LR_DTYPE_F64;
    c.discretization = "zoh";
    check_lengths(mamba_model(new_mamba(c, 31)), ev, ev ? "Mamba STREAM" : "Mamba");
    lr_s5_config s = lr_s5_config_default(6, 4);
    s.dtype = LR_DTYPE_F64;
    check_lengths(s5_model(new_s5(s, 32)), ev, ev ? "Event-SSM" : "S5");
  }
  lr_rglru_config r = lr_rglru_config_default(6);
  r.dtype = LR_DTYPE_F64;
  check_lengths(rglru_model(new_rglru(r, 33)), false, "RGLRU");
  lr_s7_config s7 = lr_s7_config_default(6, 4);
  s7.dtype = LR_DTYPE_F64;
  check_lengths(s7_model(new_s7(s7, 34)), false, "S7");
}

/* ---- model-level gradcheck (f64, tiny) ---- */
typedef struct {
  model md;
  lr_tensor *tau;
} gc_ctx;

static lr_status gc_fwd(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  gc_ctx *c = ctx;
  return c->md.fwd(c->md.m, in[0], c->tau, NULL, NULL, out);
}

static void gradcheck_model(model md, bool event, const char *what) {
  const int64_t B = 2, L = 5;
  lr_param_list pl;
  cr_assert_eq(lr_module_list(md.m, LR_VISIT_PARAMS, &pl), LR_OK);
  lr_tensor *in[16];
  int n = 0;
  int64_t Hm = model_width(&md);
  lr_tensor *x;
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE(B, L, Hm), &x), LR_OK);
  lr_gc_fill_uniform(x, -1, 1, 41);
  x->requires_grad = true;
  in[n++] = x;
  for (int i = 0; i < pl.n && n < 16; i++) {
    if (!strcmp(pl.items[i].name, "dtA_proj.weight")) continue; /* lrnnx never uses it */
    if (!event && !strcmp(pl.items[i].name, "dtA_proj.bias")) continue;
    in[n++] = pl.items[i].param->t;
  }
  gc_ctx c = {md, event ? rand_t(LR_DTYPE_F64, LR_SHAPE(B, L), 0.3, 2.0, 42) : NULL};
  lr_gc_opts o = {.eps = 1e-6, .atol = 1e-7, .rtol = 1e-5, .seed = 3};
  lr_gc_result r;
  cr_assert_eq(lr_gradcheck(what, gc_fwd, &c, n, in, &o, &r), LR_OK, "%s: %s", what, lr_last_error());
  cr_assert(r.passed, "%s", r.msg);
  cr_assert(r.n_checked > 50, "%s: %lld derivatives", what, (long long)r.n_checked);
  lr_param_list_free(&pl);
  lr_module_free(md.m);
}

Test(models_ltv, gradcheck_mamba) {
  for (int d = 0; d < 4; d++)
    for (int ev = 0; ev < 2; ev++) {
      lr_mamba_config c = lr_mamba_config_default(3);
      c.d_state = 2;
      c.d_conv = 3;
      c.dtype = LR_DTYPE_F64;
      c.discretization = MAMBA_DISC[d];
      char what[64];
      snprintf(what, sizeof what, "Mamba %s%s", MAMBA_DISC[d], ev ? " STREAM" : "");
      gradcheck_model(mamba_model(new_mamba(c, 50 + d)), ev, what);
    }
}

Test(models_ltv, gradcheck_s5) {
  for (int d = 0; d < 3; d++)
    for (int ev = 0; ev < 2; ev++) {
      lr_s5_config c = lr_s5_config_default(3, 2);
      c.dtype = LR_DTYPE_F64;
      c.discretization = S5_DISC[d];
      c.conj_sym = ev;
      char what[64];
      snprintf(what, sizeof what, "S5 %s%s", S5_DISC[d], ev ? " Event-SSM conj_sym" : "");
      gradcheck_model(s5_model(new_s5(c, 60 + d)), ev, what);
    }
}

Test(models_ltv, gradcheck_rglru) {
  for (int k = 1; k <= 3; k += 2) {
    lr_rglru_config c = lr_rglru_config_default(3);
    c.d_conv = k;
    c.bias = k == 3;
    c.dtype = LR_DTYPE_F64;
    /* a nearer 0.5 keeps a^{c r} and sqrt(1 - Ā²) well inside the finite-difference range */
    c.a_init_lo = 0.5, c.a_init_hi = 0.8;
    char what[64];
    snprintf(what, sizeof what, "RGLRU d_conv %d", k);
    gradcheck_model(rglru_model(new_rglru(c, 80 + k)), false, what);
  }
}

Test(models_ltv, gradcheck_s7) {
  lr_s7_config c = lr_s7_config_default(3, 2);
  c.dtype = LR_DTYPE_F64;
  lr_s7 *m = new_s7(c, 95);
  lr_gc_fill_uniform(m->x_proj->weight, -0.4, 0.4, 96); /* away from the init's near-constant a_t */
  gradcheck_model(s7_model(m), false, "S7");
}

/* ---- names, shapes, inits ---- */
Test(models_ltv, mamba_params_and_init) {
  lr_mamba_config c = lr_mamba_config_default(20); /* dt_rank auto = ceil(20/16) = 2 */
  c.d_state = 5;
  lr_mamba *m = new_mamba(c, 1);
  const char *names[] = {"A_log", "D", "in_proj.weight", "conv1d.weight", "conv1d.bias", "x_proj.weight",
                         "dt_proj.weight", "dt_proj.bias", "dtA_proj.weight", "dtA_proj.bias", "out_proj.weight"};
  const int64_t shapes[][3] = {{40, 5}, {40}, {80, 20}, {40, 1, 4}, {40}, {12, 40}, {40, 2}, {40}, {40, 2}, {40}, {20, 40}};
  const int nd[] = {2, 1, 2, 3, 1, 2, 2, 1, 2, 1, 2};
  lr_param_list pl;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &pl), LR_OK);
  cr_assert_eq(pl.n, 11);
  for (int i = 0; i < 11; i++) {
    cr_assert_str_eq(pl.items[i].name, names[i]);
    lr_tensor *t = pl.items[i].param->t;
    cr_assert_eq(t->ndim, nd[i], "%s", names[i]);
    for (int k = 0; k < nd[i]; k++) cr_assert_eq(t->shape[k], shapes[i][k], "%s dim %d", names[i], k);
  }
  lr_param_list_free(&pl);
  for (int64_t e = 0; e < 40; e++) {
    for (int64_t n = 0; n < 5; n++) cr_assert_float_eq(lr_tensor_get(m->A_log, e * 5 + n), log(n + 1.0), 1e-6);
    cr_assert_eq(lr_tensor_get(m->D, e), 1.0);
    /* softplus(dt_proj.bias) in [dt_min, dt_max] */
    double b = lr_tensor_get(m->dt_proj->bias, e), sp = log1p(exp(b));
    cr_assert(sp >= 0.001 * (1 - 1e-5) && sp <= 0.1 * (1 + 1e-5), "softplus(dt bias) %g", sp);
    for (int64_t r = 0; r < 2; r++) cr_assert(fabs(lr_tensor_get(m->dt_proj->weight, e * 2 + r)) <= pow(2, -0.5));
    for (int64_t k = 0; k < 4; k++) cr_assert(fabs(lr_tensor_get(m->conv_w, e * 4 + k)) <= 0.5);
  }
  cr_assert_eq(m->d_inner, 40);
  cr_assert_eq(m->dt_rank, 2);
  lr_module_free(&m->base);
}

Test(models_ltv, s5_params_and_init) {
  for (int cs = 0; cs < 2; cs++) {
    lr_s5_config c = lr_s5_config_default(5, 6);
    c.conj_sym = cs;
    lr_s5 *m = new_s5(c, 2);
    const char *names[] = {"A", "B", "C", "D", "log_dt"};
    lr_param_list pl;
    cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &pl), LR_OK);
    cr_assert_eq(pl.n, 5);
    for (int i = 0; i < 5; i++) cr_assert_str_eq(pl.items[i].name, names[i]);
    lr_param_list_free(&pl);
    cr_assert(m->A->shape[0] == 6 && m->A->shape[1] == 2);
    cr_assert(m->B->shape[0] == 6 && m->B->shape[1] == 5 && m->B->shape[2] == 2);
    cr_assert(m->C->shape[0] == 5 && m->C->shape[1] == 6 && m->C->shape[2] == 2);
    /* Re Λ = -0.5; Im Λ ascending; conj_sym keeps the negative half of a ± spectrum. */
    for (int p = 0; p < 6; p++) {
      cr_assert_float_eq(lr_tensor_get(m->A, 2 * p), -0.5, 1e-6);
      if (p) cr_assert(lr_tensor_get(m->A, 2 * p + 1) >= lr_tensor_get(m->A, 2 * p - 1) - 1e-6);
      if (cs) cr_assert(lr_tensor_get(m->A, 2 * p + 1) < 0);
      double ld = lr_tensor_get(m->log_dt, p);
      cr_assert(ld >= log(0.001) - 1e-6 && ld <= log(0.1) + 1e-6);
    }
    lr_module_free(&m->base);
  }
  /* The HiPPO eigenpairs: -i skew(S) V = V diag(Λ_im) (S = -I/2 + skew(S); eigh ignores the
   * diagonal's imaginary part) and a ± symmetric spectrum for even M. */
  const int64_t M = 8;
  double lim[8];
  lr_c128 V[64];
  cr_assert_eq(lr_s5_dplr_hippo(M, lim, V), LR_OK);
  for (int k = 0; k < M; k++) cr_assert_float_eq(lim[k], -lim[M - 1 - k], 1e-9);
  for (int i = 0; i < M; i++)
    for (int k = 0; k < M; k++) { /* (-iS V)[i, k] vs V[i, k] λ_k */
      double re = 0, im = 0;
      for (int j = 0; j < M; j++) {
        double a = j <= i ? sqrt(2.0 * i + 1) * sqrt(2.0 * j + 1) : 0.0;
        if (i == j) a -= i;
        double s = i == j ? 0.0 : -a + sqrt(i + 0.5) * sqrt(j + 0.5); /* -i skew(S) = (0, -s) */
        re += s * V[j + k * M].im;
        im += -s * V[j + k * M].re;
      }
      cr_assert_float_eq(re, V[i + k * M].re * lim[k], 1e-8);
      cr_assert_float_eq(im, V[i + k * M].im * lim[k], 1e-8);
    }
}

Test(models_ltv, rglru_params_and_init) {
  lr_rglru_config c = lr_rglru_config_default(8);
  c.expand = 2;
  lr_rglru *m = new_rglru(c, 3);
  const char *names[] = {"a_log", "gate_proj.weight", "in_proj.weight", "conv1d.weight", "conv1d.bias",
                         "recurrent_gate_proj.weight", "recurrent_gate_proj.bias", "input_gate_proj.weight",
                         "input_gate_proj.bias", "out_proj.weight"};
  lr_param_list pl;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &pl), LR_OK);
  cr_assert_eq(pl.n, 10);
  for (int i = 0; i < 10; i++) cr_assert_str_eq(pl.items[i].name, names[i]);
  lr_param_list_free(&pl);
  cr_assert(m->a_log->ndim == 2 && m->a_log->shape[0] == 16 && m->a_log->shape[1] == 1);
  /* The fix of lrnnx's init: a = σ(a_log) in [0.9, 0.999], spread over the range. */
  double lo = 1, hi = 0;
  for (int64_t e = 0; e < 16; e++) {
    double a = 1.0 / (1.0 + exp(-lr_tensor_get(m->a_log, e)));
    cr_assert(a >= 0.9 - 1e-6 && a <= 0.999 + 1e-6, "a[%lld] = %g", (long long)e, a);
    lo = fmin(lo, a), hi = fmax(hi, a);
  }
  cr_assert(lo < 0.93 && hi > 0.97, "a spans [%g, %g]", lo, hi);
  lr_module_free(&m->base);
}

Test(models_ltv, s7_params_and_init) {
  lr_s7_config c = lr_s7_config_default(4, 6);
  c.J = 3;
  lr_s7 *m = new_s7(c, 4);
  const char *names[] = {"base_params", "in_proj.weight", "x_proj.weight", "gate_proj.weight"};
  lr_param_list pl;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &pl), LR_OK);
  cr_assert_eq(pl.n, 4);
  for (int i = 0; i < 4; i++) cr_assert_str_eq(pl.items[i].name, names[i]);
  lr_param_list_free(&pl);
  cr_assert(m->x_proj->weight->shape[0] == 6 + 2 * 4 * 6 + 4 + 6 && m->x_proj->weight->shape[1] == 4);
  for (int i = 0; i < 6; i++) cr_assert_float_eq(lr_tensor_get(m->base_params, i), -0.5, 1e-7);
  double ss = 0;
  int64_t n = lr_numel(m->x_proj->weight);
  for (int64_t i = 0; i < n; i++) ss += pow(lr_tensor_get(m->x_proj->weight, i), 2);
  double sd = sqrt(ss / (double)n); /* N(0, 0.02²): 256 draws, sample sd within ±25 % */
  cr_assert(sd > 0.015 && sd < 0.025, "x_proj sd %g", sd);
  lr_module_free(&m->base);
}

/* ---- errors ---- */
Test(models_ltv, constructor_errors) {
  lr_rng rng;
  lr_rng_init(&rng, 0);
  lr_mamba *m = NULL;
  lr_mamba_config c = lr_mamba_config_default(8);
  c.discretization = "s7";
  cr_assert_eq(lr_mamba_new(NULL, NULL, &c, &rng, &m), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "lr_mamba_new") && strstr(lr_last_error(), "\"s7\""), "%s", lr_last_error());
  c = lr_mamba_config_default(0);
  cr_assert_eq(lr_mamba_new(NULL, NULL, &c, &rng, &m), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "d_model 0"), "%s", lr_last_error());
  c = lr_mamba_config_default(8);
  c.dt_init = "xavier";
  cr_assert_eq(lr_mamba_new(NULL, NULL, &c, &rng, &m), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "xavier"), "%s", lr_last_error());
  c = lr_mamba_config_default(8);
  c.dt_min = 0.5, c.dt_max = 0.1;
  cr_assert_eq(lr_mamba_new(NULL, NULL, &c, &rng, &m), LR_ERR_ARG);
  c = lr_mamba_config_default(8);
  c.dtype = LR_DTYPE_C64;
  cr_assert_eq(lr_mamba_new(NULL, NULL, &c, &rng, &m), LR_ERR_DTYPE);
  cr_assert_null(m);
  lr_s5 *s = NULL;
  lr_s5_config sc = lr_s5_config_default(8, 4);
  sc.discretization = "mamba";
  cr_assert_eq(lr_s5_new(NULL, NULL, &sc, &rng, &s), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "lr_s5_new") && strstr(lr_last_error(), "\"mamba\""), "%s", lr_last_error());
  sc = lr_s5_config_default(8, 0);
  cr_assert_eq(lr_s5_new(NULL, NULL, &sc, &rng, &s), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "d_state 0"), "%s", lr_last_error());
  cr_assert_null(s);
  cr_assert_eq(lr_mamba_new(NULL, NULL, NULL, &rng, &m), LR_ERR_ARG);
  lr_rglru *r = NULL;
  lr_rglru_config rc = lr_rglru_config_default(8);
  rc.a_init_lo = 0.9, rc.a_init_hi = 1.0;
  cr_assert_eq(lr_rglru_new(NULL, NULL, &rc, &rng, &r), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "a_init_range (0.9, 1)"), "%s", lr_last_error());
  rc = lr_rglru_config_default(8);
  rc.c = 0;
  cr_assert_eq(lr_rglru_new(NULL, NULL, &rc, &rng, &r), LR_ERR_ARG);
  cr_assert_null(r);
  lr_s7 *s7 = NULL;
  lr_s7_config s7c = lr_s7_config_default(8, 6);
  s7c.J = 4;
  cr_assert_eq(lr_s7_new(NULL, NULL, &s7c, &rng, &s7), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "d_state 6 must be divisible by J 4"), "%s", lr_last_error());
  cr_assert_null(s7);
}

Test(models_ltv, input_errors) {
  lr_mamba_config c = lr_mamba_config_default(8);
  lr_mamba *m = new_mamba(c, 1);
  lr_tensor *x = rand_t(LR_DTYPE_F32, LR_SHAPE(2, 5, 7), -1, 1, 1), *y, *tau;
  cr_assert_eq(lr_mamba_forward(m, x, NULL, NULL, &y), LR_ERR_SHAPE);
  cr_assert(strstr(lr_last_error(), "(2, 5, 7)") && strstr(lr_last_error(), "d_model = 8"), "%s", lr_last_error());
  x = rand_t(LR_DTYPE_F64, LR_SHAPE(2, 5, 8), -1, 1, 1);
  cr_assert_eq(lr_mamba_forward(m, x, NULL, NULL, &y), LR_ERR_DTYPE);
  x = rand_t(LR_DTYPE_F32, LR_SHAPE(2, 5, 8), -1, 1, 1);
  tau = rand_t(LR_DTYPE_F32, LR_SHAPE(2, 4), 0, 1, 1);
  cr_assert_eq(lr_mamba_forward(m, x, tau, NULL, &y), LR_ERR_SHAPE);
  cr_assert(strstr(lr_last_error(), "integration_timesteps is (2, 4)"), "%s", lr_last_error());
  lr_mamba_cache *cache;
  cr_assert_eq(lr_mamba_allocate_cache(m, 3, 10, &cache), LR_OK);
  lr_tensor *xt = rand_t(LR_DTYPE_F32, LR_SHAPE(2, 8), -1, 1, 1);
  cr_assert_eq(lr_mamba_step(m, cache, xt, NULL, &y), LR_ERR_SHAPE);
  cr_assert(strstr(lr_last_error(), "batch 3"), "%s", lr_last_error());
  cr_assert_eq(lr_mamba_allocate_cache(m, 0, 10, &cache), LR_ERR_ARG);
  lr_mamba_cache_free(cache);
  lr_module_free(&m->base);

  lr_s5 *s = new_s5(lr_s5_config_default(8, 4), 1);
  x = rand_t(LR_DTYPE_F32, LR_SHAPE(2, 5), -1, 1, 1);
  cr_assert_eq(lr_s5_forward(s, x, NULL, NULL, &y), LR_ERR_SHAPE);
  cr_assert(strstr(lr_last_error(), "lr_s5_forward"), "%s", lr_last_error());
  lr_module_free(&s->base);
}

/* ---- registry entries and checkpoints ---- */
static lr_module *create_from(const char *name, const char *json) {
  const lr_model_def *def = lr_model_find(name);
  cr_assert_not_null(def, "%s is not registered", name);
  cJSON *a = cJSON_Parse(json);
  cr_assert_not_null(a, "%s", json);
  lr_module *m = NULL;
  cr_assert_eq(def->create(a, &m), LR_OK, "%s %s: %s", name, json, lr_last_error());
  cJSON_Delete(a);
  return m;
}

static lr_status create_err(const char *name, const char *json) {
  cJSON *a = cJSON_Parse(json);
  cr_assert_not_null(a, "%s", json);
  lr_module *m = NULL;
  lr_status s = lr_model_find(name)->create(a, &m);
  cJSON_Delete(a);
  cr_assert_null(m);
  return s;
}

typedef struct {
  lr_module *other;
  int n, differ;
} cmp_ctx;

/* Counts the tensors of ctx->other that differ from m's (same names, shapes, dtypes asserted). */
static lr_status cmp_param(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)owner;
  cmp_ctx *c = ctx;
  lr_tensor *t;
  cr_assert_eq(lr_module_find(c->other, name, &t, NULL), LR_OK, "%s", lr_last_error());
  cr_assert(lr_same_shape(t, p->t) && t->dtype == p->t->dtype, "%s", name);
  int64_t n = lr_numel(t) * (lr_dtype_is_complex(t->dtype) ? 2 : 1);
  size_t bytes = (size_t)n * lr_dtype_size(lr_dtype_real(t->dtype));
  c->n++;
  if (memcmp(t->data, p->t->data, bytes)) c->differ++;
  return LR_OK;
}

/* Save a (seed 1), strictly load into b (seed 2): b's tensors and output then equal a's. Also
 * step through the def's cache on the loaded model and compare with the forward. */
static void roundtrip(const char *name, const char *args1, const char *args2, int64_t H) {
  const lr_model_def *def = lr_model_find(name);
  lr_module *a = create_from(name, args1), *b = create_from(name, args2);
  cmp_ctx c = {b, 0, 0};
  cr_assert_eq(lr_module_visit(a, LR_VISIT_ALL, cmp_param, &c), LR_OK);
  cr_assert_gt(c.differ, 0, "%s: the two seeds gave the same weights", name);
  char path[128];
  snprintf(path, sizeof path, "/tmp/lr_ltv_ckpt_%s_%d.safetensors", name, (int)getpid());
  cr_assert_eq(lr_module_save(a, path, NULL), LR_OK, "%s", lr_last_error());
  lr_load_report rep = {0};
  cr_assert_eq(lr_module_load(b, path, LR_LOAD_STRICT, &rep), LR_OK, "%s: %s", name, lr_last_error());
  cr_assert_eq(rep.n_missing + rep.n_unexpected + rep.n_mismatched, 0);
  cr_assert_eq(rep.n_loaded, c.n, "%s: loaded %d of %d", name, rep.n_loaded, c.n);
  lr_load_report_free(&rep);
  c = (cmp_ctx){b, 0, 0};
  cr_assert_eq(lr_module_visit(a, LR_VISIT_ALL, cmp_param, &c), LR_OK);
  cr_assert_eq(c.differ, 0, "%s: %d tensors differ after the load", name, c.differ);

  const int64_t B = 2, L = 6;
  lr_tensor *x = rand_t(LR_DTYPE_F32, LR_SHAPE(B, L, H), -1, 1, 3), *ya, *yb;
  cr_assert_eq(def->forward(a, x, NULL, NULL, &ya), LR_OK, "%s", lr_last_error());
  cr_assert_eq(def->forward(b, x, NULL, NULL, &yb), LR_OK, "%s", lr_last_error());
  cr_assert_eq(max_diff(ya, yb), 0.0, "%s", name);
  void *cache = NULL;
  cr_assert_eq(def->allocate_cache(b, B, L, &cache), LR_OK, "%s", lr_last_error());
  double d = 0;
  for (int64_t t = 0; t < L; t++) {
    lr_tensor *xt, *xc, *yt, *ref;
    cr_assert_eq(lr_tensor_narrow(x, 1, t, 1, &xt), LR_OK);
    cr_assert_eq(lr_tensor_squeeze(xt, 1, &xt), LR_OK);
    cr_assert_eq(lr_tensor_contiguous_raw(xt, &xc), LR_OK);
    cr_assert_eq(def->step(b, cache, xc, NULL, &yt), LR_OK, "%s: %s", name, lr_last_error());
    cr_assert_eq(lr_tensor_narrow(yb, 1, t, 1, &ref), LR_OK);
    cr_assert_eq(lr_tensor_squeeze(ref, 1, &ref), LR_OK);
    d = fmax(d, max_diff(yt, ref));
  }
  cr_assert_lt(d, 1e-4 * fmax(1.0, max_abs(yb)), "%s: step vs forward %g", name, d); /* f32 rounding */
  def->free_cache(b, cache);
  unlink(path);
  lr_module_free(a);
  lr_module_free(b);
}

Test(models_ltv, checkpoint_roundtrip_mamba) {
  roundtrip("Mamba", "{\"d_model\": 8, \"d_state\": 4, \"seed\": 1}",
            "{\"d_model\": 8, \"d_state\": 4, \"seed\": 2, \"use_fast_path\": false, \"layer_idx\": 3}", 8);
}
Test(models_ltv, checkpoint_roundtrip_s5) {
  roundtrip("S5", "{\"d_model\": 8, \"d_state\": 4, \"seed\": 1, \"discretization\": \"bilinear\"}",
            "{\"d_model\": 8, \"d_state\": 4, \"seed\": 2, \"discretization\": \"bilinear\", \"device\": \"cpu\"}", 8);
}
Test(models_ltv, checkpoint_roundtrip_rglru) {
  roundtrip("RGLRU", "{\"d_model\": 8, \"seed\": 1, \"a_init_range\": [0.8, 0.95]}",
            "{\"d_model\": 8, \"seed\": 2, \"a_init_range\": [0.8, 0.95]}", 8);
}
Test(models_ltv, checkpoint_roundtrip_s7) {
  roundtrip("S7", "{\"d_model\": 8, \"d_state\": 4, \"J\": 2, \"seed\": 1}",
            "{\"d_model\": 8, \"d_state\": 4, \"J\": 2, \"seed\": 2}", 8);
}

/* S5's A, B, C are saved as lrnnx stores them: F32 (P, 2), (P, H, 2), (H, P, 2). */
Test(models_ltv, s5_checkpoint_layout) {
  lr_module *m = create_from("S5", "{\"d_model\": 6, \"d_state\": 4}");
  char path[128];
  snprintf(path, sizeof path, "/tmp/lr_ltv_s5_layout_%d.safetensors", (int)getpid());
  cr_assert_eq(lr_module_save(m, path, NULL), LR_OK, "%s", lr_last_error());
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  const char *names[] = {"A", "B", "C", "D", "log_dt"};
  const int nd[] = {2, 3, 3, 1, 1};
  const int64_t sh[][3] = {{4, 2}, {4, 6, 2}, {6, 4, 2}, {6}, {4}};
  cr_assert_eq(lr_safetensors_count(f), 5);
  for (int i = 0; i < 5; i++) {
    lr_safetensors_info in;
    cr_assert_eq(lr_safetensors_info_of(f, names[i], &in), LR_OK, "%s", names[i]);
    cr_assert_eq(in.dtype, LR_DTYPE_F32, "%s", names[i]);
    cr_assert_eq(in.ndim, nd[i], "%s", names[i]);
    for (int k = 0; k < nd[i]; k++) cr_assert_eq(in.shape[k], sh[i][k], "%s dim %d", names[i], k);
  }
  lr_safetensors_close(f);
  unlink(path);
  lr_module_free(m);
}

Test(models_ltv, registry_args) {
  /* defaults and lrnnx's key forms */
  lr_module *m = create_from("Mamba", "{\"d_model\": 40}");
  cr_assert_eq(((lr_mamba *)m)->dt_rank, 3); /* "auto" = ceil(40 / 16) */
  cr_assert_eq(((lr_mamba *)m)->d_state, 16);
  cr_assert_eq(((lr_mamba *)m)->d_inner, 80);
  lr_module_free(m);
  m = create_from("Mamba", "{\"d_model\": 40, \"dt_rank\": \"auto\", \"layer_idx\": null, \"device\": null}");
  cr_assert_eq(((lr_mamba *)m)->dt_rank, 3);
  lr_module_free(m);
  m = create_from("Mamba", "{\"d_model\": 8, \"dt_rank\": 5, \"discretization\": \"zoh\", \"dtype\": \"float64\"}");
  cr_assert_eq(((lr_mamba *)m)->dt_rank, 5);
  cr_assert_eq(((lr_mamba *)m)->disc, LR_DISC_ZOH);
  cr_assert_eq(((lr_mamba *)m)->dtype, LR_DTYPE_F64);
  lr_module_free(m);
  m = create_from("S5", "{\"d_model\": 8, \"d_state\": 4, \"conj_sym\": true}");
  cr_assert(((lr_s5 *)m)->conj_sym);
  lr_module_free(m);
  m = create_from("RGLRU", "{\"d_model\": 8, \"expand\": 2, \"c\": 4.0}");
  cr_assert_eq(((lr_rglru *)m)->d_inner, 16);
  cr_assert_eq(((lr_rglru *)m)->c, 4.0);
  lr_module_free(m);
  m = create_from("S7", "{\"d_model\": 8, \"d_state\": 6, \"J\": 3}");
  cr_assert_eq(((lr_s7 *)m)->J, 3);
  lr_module_free(m);

  /* errors: LR_ERR_ARG naming the model and the key */
  struct {
    const char *model, *json, *msg;
  } bad[] = {
      {"Mamba", "{\"d_model\": 8, \"d_stat\": 4}", "Mamba: unknown argument 'd_stat'"},
      {"Mamba", "{\"d_state\": 4}", "Mamba: argument 'd_model' is required"},
      {"Mamba", "{\"d_model\": 8, \"dt_rank\": \"full\"}", "Mamba: argument 'dt_rank' is \"full\", expected one of auto"},
      {"Mamba", "{\"d_model\": 8, \"dt_rank\": 0}", "Mamba: argument 'dt_rank' is 0, must be >= 1"},
      {"Mamba", "{\"d_model\": 8, \"discretization\": \"s7\"}", "Mamba: argument 'discretization' is \"s7\""},
      {"Mamba", "{\"d_model\": 8, \"dt_init\": \"xavier\"}", "Mamba: argument 'dt_init' is \"xavier\""},
      {"Mamba", "{\"d_model\": 8, \"use_fast_path\": 1}", "Mamba: argument 'use_fast_path' must be true or false"},
      {"Mamba", "{\"d_model\": 8, \"dtype\": \"complex64\"}", "Mamba: argument 'dtype' is c64, expected float32"},
      {"S5", "{\"d_model\": 8}", "S5: argument 'd_state' is required"},
      {"S5", "{\"d_model\": 8, \"d_state\": 4, \"layer_idx\": 0}", "S5: unknown argument 'layer_idx'"},
      {"S5", "{\"d_model\": 8, \"d_state\": 4, \"discretization\": \"mamba\"}", "S5: argument 'discretization' is \"mamba\""},
      {"RGLRU", "{\"d_model\": 8, \"d_state\": 4}", "RGLRU: unknown argument 'd_state'"},
      {"RGLRU", "{\"d_model\": 8, \"a_init_range\": [0.9]}", "RGLRU: argument 'a_init_range' must be a list of 2 numbers, got [0.9]"},
      {"RGLRU", "{\"d_model\": 8, \"a_init_range\": 0.9}", "RGLRU: argument 'a_init_range' must be a list of 2 numbers"},
      {"S7", "{\"d_model\": 8}", "S7: argument 'd_state' is required"},
      {"S7", "{\"d_model\": 8, \"d_state\": 4, \"J\": 0}", "S7: argument 'J' is 0, must be >= 1"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_assert_eq(create_err(bad[i].model, bad[i].json), LR_ERR_ARG, "%s %s", bad[i].model, bad[i].json);
    cr_assert(strstr(lr_last_error(), bad[i].msg), "%s %s: %s", bad[i].model, bad[i].json, lr_last_error());
  }
  /* a value the constructor rejects comes back with its message */
  cr_assert_eq(create_err("RGLRU", "{\"d_model\": 8, \"a_init_range\": [0.9, 1.0]}"), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "a_init_range (0.9, 1)"), "%s", lr_last_error());
}
