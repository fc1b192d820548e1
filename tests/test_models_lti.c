/* The LTI models LRU, S5_LTI and S4D (nn/lru.c, nn/s5_lti.c, nn/s4d.c): the lrnnx reference
 * fixture (forward, every gradient, and the step mode), step == forward, lengths, model-level
 * f64 gradchecks at tiny sizes, init distributions, constructor and call error paths; the registry
 * entries (nn/registry.h: arguments, lrnnx's checkpoint names incl. S4D's layer.kernel.* aliases)
 * and checkpoint round trips through nn/checkpoint.h. */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/gradcheck.h"
#include "nn/checkpoint.h"
#include "nn/lru.h"
#include "nn/registry.h"
#include "nn/s4d.h"
#include "nn/s5_lti.h"
#include "ops/discretize.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "ops/view.h"
#include "tensor/arena.h"
#include "tensor/safetensors.h"

#define FIXTURES "/work/shared/fixtures/lrnnx"

/* ---- helpers ---- */

static double max_abs(const lr_tensor *t) {
  double m = 0;
  for (int64_t i = 0; i < lr_numel(t); i++) m = fmax(m, fabs(lr_tensor_get(t, i)));
  return m;
}

static double max_diff(const lr_tensor *a, const lr_tensor *b) {
  cr_assert_eq(lr_numel(a), lr_numel(b));
  double m = 0;
  for (int64_t i = 0; i < lr_numel(a); i++) m = fmax(m, fabs(lr_tensor_get(a, i) - lr_tensor_get(b, i)));
  return m;
}

static void fill(lr_tensor *t, uint64_t seed) { lr_gc_fill_uniform(t, -1, 1, seed); }

/* x (B, L, H) of dtype dt in the arena, uniform in [-1, 1). */
static lr_tensor *rand_x(lr_dtype dt, int64_t B, int64_t L, int64_t H, uint64_t seed) {
  lr_tensor *x;
  cr_assert_eq(lr_empty(dt, LR_SHAPE(B, L, H), &x), LR_OK);
  fill(x, seed);
  return x;
}

/* Loads every parameter of m from path by its dotted name (strict: each must be there). */
static void load_weights(lr_module *m, const char *path) {
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  lr_param_list l;
  cr_assert_eq(lr_module_list(m, LR_VISIT_ALL, &l), LR_OK);
  for (int i = 0; i < l.n; i++)
    cr_assert_eq(lr_safetensors_read_into(f, l.items[i].name, l.items[i].param->t), LR_OK, "%s: %s",
                 l.items[i].name, lr_last_error());
  cr_assert_eq(l.n, lr_safetensors_count(f), "the module has %d tensors, the file %d", l.n, lr_safetensors_count(f));
  lr_param_list_free(&l);
  lr_safetensors_close(f);
}

/* FORMAT.md's criterion: max|out - ref| <= 2e-3 max|ref|. */
static void expect_close_ref(const char *what, const lr_tensor *out, const lr_tensor *ref) {
  double d = max_diff(out, ref), r = max_abs(ref);
  cr_expect(d <= 2e-3 * r, "%s: max|out - ref| %g > 2e-3 * max|ref| (%g)", what, d, 2e-3 * r);
}

/* A model seen through function pointers, so that the generic tests run on every model. */
typedef struct {
  lr_module *m;
  lr_status (*forward)(lr_module *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);
  lr_status (*alloc)(lr_module *m, int64_t batch, void **cache);
  lr_status (*step)(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor **y_t);
  lr_status (*reset)(void *cache);
  void (*free_cache)(void *cache);
  int64_t H;
} model_ops;

/* y of the step mode (B, L, H), one time step at a time. */
static lr_tensor *run_steps(const model_ops *o, lr_tensor *x) {
  int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2];
  void *cache;
  cr_assert_eq(o->alloc(o->m, B, &cache), LR_OK, "%s", lr_last_error());
  lr_tensor *y;
  cr_assert_eq(lr_empty(x->dtype, LR_SHAPE(B, L, H), &y), LR_OK);
  for (int64_t t = 0; t < L; t++) {
    lr_tensor *xt, *xtc, *yt;
    cr_assert_eq(lr_tensor_narrow(x, 1, t, 1, &xt), LR_OK);
    cr_assert_eq(lr_tensor_view(xt, LR_SHAPE(B, H), &xtc), LR_OK);
    cr_assert_eq(lr_tensor_contiguous_raw(xt, &xtc), LR_OK);
    cr_assert_eq(lr_tensor_view(xtc, LR_SHAPE(B, H), &xtc), LR_OK);
    cr_assert_eq(o->step(o->m, cache, xtc, &yt), LR_OK, "%s", lr_last_error());
    cr_assert(yt->ndim == 2 && yt->shape[0] == B && yt->shape[1] == o->H);
    for (int64_t b = 0; b < B; b++)
      for (int64_t h = 0; h < o->H; h++) lr_tensor_set(y, (b * L + t) * H + h, lr_tensor_get(yt, b * o->H + h), 0);
  }
  o->free_cache(cache);
  return y;
}

/* step == forward, relative to max|y|; then reset and again (the cache starts from zero). */
static void check_step_equals_forward(const model_ops *o, lr_tensor *x, double rtol) {
  lr_tensor *y;
  cr_assert_eq(o->forward(o->m, x, NULL, &y), LR_OK, "%s", lr_last_error());
  lr_tensor *ys = run_steps(o, x);
  double d = max_diff(y, ys), r = max_abs(y);
  cr_expect(d <= rtol * r, "step vs forward: max diff %g, max|y| %g, rtol %g", d, r, rtol);
  /* reset: two passes through one cache, reset in between, give the same y twice */
  int64_t B = x->shape[0], H = x->shape[2];
  void *cache;
  cr_assert_eq(o->alloc(o->m, B, &cache), LR_OK);
  lr_tensor *x0, *x0c, *ya, *yb;
  cr_assert_eq(lr_tensor_narrow(x, 1, 0, 1, &x0), LR_OK);
  cr_assert_eq(lr_tensor_contiguous_raw(x0, &x0c), LR_OK);
  cr_assert_eq(lr_tensor_view(x0c, LR_SHAPE(B, H), &x0c), LR_OK);
  cr_assert_eq(o->step(o->m, cache, x0c, &ya), LR_OK);
  cr_assert_eq(o->step(o->m, cache, x0c, &yb), LR_OK); /* second step differs (state) */
  cr_assert_eq(o->reset(cache), LR_OK);
  lr_tensor *yc;
  cr_assert_eq(o->step(o->m, cache, x0c, &yc), LR_OK);
  cr_expect_eq(max_diff(ya, yc), 0.0, "after reset the first step repeats");
  cr_expect_gt(max_diff(ya, yb), 0.0, "the state carries over between steps");
  o->free_cache(cache);
}

/* lengths: y = 0 where t >= len, and y[:, :len] equals the forward of the first len steps alone
 * (causal); the gradient w.r.t. x past len is 0. */
static void check_lengths(const model_ops *o, lr_dtype dt, int64_t L, double rtol) {
  int64_t B = 3, H = o->H;
  lr_tensor *x = rand_x(dt, B, L, H, 77);
  cr_assert_eq(lr_requires_grad_(x, true), LR_OK);
  const int64_t lens[3] = {L, 0, L / 2 + 1};
  lr_tensor *len, *y, *yfull;
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(B), lens, &len), LR_OK);
  cr_assert_eq(o->forward(o->m, x, len, &y), LR_OK, "%s", lr_last_error());
  cr_assert_eq(o->forward(o->m, x, NULL, &yfull), LR_OK);
  double r = max_abs(yfull);
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < L; t++)
      for (int64_t h = 0; h < H; h++) {
        int64_t i = (b * L + t) * H + h;
        if (t >= lens[b])
          cr_assert_eq(lr_tensor_get(y, i), 0.0, "y[%lld, %lld, %lld] past length", (long long)b, (long long)t,
                       (long long)h);
        else
          cr_assert(fabs(lr_tensor_get(y, i) - lr_tensor_get(yfull, i)) <= rtol * r, "y[%lld, %lld] inside length",
                    (long long)b, (long long)t);
      }
  lr_tensor *g;
  cr_assert_eq(lr_ones(dt, 3, y->shape, &g), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK, "%s", lr_last_error());
  cr_assert_not_null(x->grad);
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = lens[b]; t < L; t++)
      for (int64_t h = 0; h < H; h++)
        cr_assert_eq(lr_tensor_get(x->grad, (b * L + t) * H + h), 0.0, "grad x past length");
  /* errors: a length past L, a negative one, a wrong shape, a float dtype */
  lr_tensor *bad;
  const int64_t too_long[3] = {L + 1, 0, 0}, neg[3] = {-1, 0, 0};
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(B), too_long, &bad), LR_OK);
  cr_expect_eq(o->forward(o->m, x, bad, &y), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "lengths[0]"), "%s", lr_last_error());
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(B), neg, &bad), LR_OK);
  cr_expect_eq(o->forward(o->m, x, bad, &y), LR_ERR_ARG);
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(2), lens, &bad), LR_OK);
  cr_expect_eq(o->forward(o->m, x, bad, &y), LR_ERR_SHAPE);
  cr_assert_eq(lr_zeros(dt, LR_SHAPE(B), &bad), LR_OK);
  cr_expect_eq(o->forward(o->m, x, bad, &y), LR_ERR_DTYPE);
}

/* gradcheck of sum(w * forward(x)) w.r.t. x and every parameter. */
typedef struct {
  const model_ops *o;
} gc_ctx;

static lr_status gc_forward(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const model_ops *o = ((gc_ctx *)ctx)->o;
  return o->forward(o->m, in[0], NULL, out);
}

static void check_gradcheck(const char *name, const model_ops *o, lr_tensor *x, double atol, double rtol) {
  lr_param_list l;
  cr_assert_eq(lr_module_list(o->m, LR_VISIT_PARAMS, &l), LR_OK);
  cr_assert_lt(l.n, 16);
  lr_tensor *in[16];
  in[0] = x;
  cr_assert_eq(lr_requires_grad_(x, true), LR_OK);
  for (int i = 0; i < l.n; i++) in[i + 1] = l.items[i].param->t;
  gc_ctx c = {o};
  lr_gc_opts opts = {.eps = 1e-6, .atol = atol, .rtol = rtol, .seed = 5};
  lr_gc_result res;
  cr_assert_eq(lr_gradcheck(name, gc_forward, &c, l.n + 1, in, &opts, &res), LR_OK, "%s", lr_last_error());
  cr_expect(res.passed, "%s", res.msg);
  cr_expect_gt(res.n_checked, 0);
  lr_param_list_free(&l);
}

/* ---- LRU ---- */

static lr_status lru_fwd(lr_module *m, lr_tensor *x, lr_tensor *len, lr_tensor **y) {
  return lr_lru_forward((lr_lru *)m, x, len, y);
}
static lr_status lru_alloc(lr_module *m, int64_t b, void **c) {
  return lr_lru_allocate_cache((lr_lru *)m, b, (lr_lti_cache **)c);
}
static lr_status lru_stp(lr_module *m, void *c, lr_tensor *x, lr_tensor **y) {
  return lr_lru_step((lr_lru *)m, (lr_lti_cache *)c, x, y);
}
static lr_status lti_reset(void *c) { return lr_lti_cache_reset((lr_lti_cache *)c); }
static void lti_free(void *c) { lr_lti_cache_free((lr_lti_cache *)c); }

static lr_lru *make_lru(int64_t H, int64_t N, lr_dtype dt, uint64_t seed, model_ops *o) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_lru_config c = lr_lru_config_default(H, N);
  c.dtype = dt;
  lr_lru *m;
  cr_assert_eq(lr_lru_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  *o = (model_ops){&m->base, lru_fwd, lru_alloc, lru_stp, lti_reset, lti_free, H};
  return m;
}

Test(models_lti, lru_fixture) {
  const char *w = FIXTURES "/lru_B2_L64_H16_N8.weights.safetensors", *io = FIXTURES "/lru_B2_L64_H16_N8.io.safetensors";
  struct stat st;
  if (stat(w, &st) != 0 || stat(io, &st) != 0) cr_skip_test("%s not present", FIXTURES);
  model_ops o;
  lr_lru *m = make_lru(16, 8, LR_DTYPE_F32, 1, &o);
  load_weights(&m->base, w);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(io, &f), LR_OK, "%s", lr_last_error());
  lr_tensor *x, *g, *yref, *gx;
  cr_assert_eq(lr_safetensors_get(f, "x", &x), LR_OK);
  cr_assert_eq(lr_safetensors_get(f, "g", &g), LR_OK);
  cr_assert_eq(lr_safetensors_get(f, "y", &yref), LR_OK);
  cr_assert_eq(lr_safetensors_get(f, "grad.x", &gx), LR_OK);
  cr_assert_eq(lr_requires_grad_(x, true), LR_OK);
  lr_tensor *y;
  cr_assert_eq(lr_lru_forward(m, x, NULL, &y), LR_OK, "%s", lr_last_error());
  expect_close_ref("y", y, yref);
  cr_assert_eq(lr_backward(y, g), LR_OK, "%s", lr_last_error());
  expect_close_ref("grad.x", x->grad, gx);
  lr_param_list l;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_PARAMS, &l), LR_OK);
  cr_assert_eq(l.n, 8);
  for (int i = 0; i < l.n; i++) {
    char key[LR_NAME_MAX + 8];
    snprintf(key, sizeof key, "grad.%s", l.items[i].name);
    lr_tensor *ref;
    cr_assert_eq(lr_safetensors_get(f, key, &ref), LR_OK, "%s", lr_last_error());
    cr_assert_not_null(l.items[i].param->t->grad, "%s has no grad", l.items[i].name);
    expect_close_ref(key, l.items[i].param->t->grad, ref);
    lr_tensor_free(ref);
  }
  lr_param_list_free(&l);
  /* --mode step: y one step at a time */
  lr_tensor *x2;
  cr_assert_eq(lr_detach(x, &x2), LR_OK);
  lr_tensor *ys = run_steps(&o, x2);
  expect_close_ref("y (step)", ys, yref);
  lr_tensor_free(x);
  lr_tensor_free(g);
  lr_tensor_free(yref);
  lr_tensor_free(gx);
  lr_safetensors_close(f);
  lr_module_free(&m->base);
}

Test(models_lti, lru_names_and_shapes) {
  model_ops o;
  lr_lru *m = make_lru(5, 3, LR_DTYPE_F32, 2, &o);
  const char *names[] = {"nu_log", "theta_log", "B_re", "B_im", "C_re", "C_im", "D", "gamma_log"};
  const int64_t shapes[][2] = {{3, 0}, {3, 0}, {3, 5}, {3, 5}, {5, 3}, {5, 3}, {5, 0}, {3, 0}};
  lr_param_list l;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &l), LR_OK);
  cr_assert_eq(l.n, 8);
  for (int i = 0; i < 8; i++) {
    lr_tensor *t = l.items[i].param->t;
    cr_expect_str_eq(l.items[i].name, names[i]);
    cr_expect_eq(t->dtype, LR_DTYPE_F32);
    cr_expect_eq(t->ndim, shapes[i][1] ? 2 : 1);
    cr_expect_eq(t->shape[0], shapes[i][0]);
    if (shapes[i][1]) cr_expect_eq(t->shape[1], shapes[i][1]);
  }
  lr_param_list_free(&l);
  cr_expect_str_eq(m->base.type, "LRU");
  lr_module_free(&m->base);
}

Test(models_lti, lru_step_equals_forward) {
  /* f64: the FFT forward and the recurrence agree to rounding (1e-10 relative);
   * f32: to the FFT's single-precision error (1e-4 relative at L = 37). */
  for (int k = 0; k < 2; k++) {
    lr_dtype dt = k ? LR_DTYPE_F32 : LR_DTYPE_F64;
    model_ops o;
    lr_lru *m = make_lru(6, 4, dt, 3, &o);
    check_step_equals_forward(&o, rand_x(dt, 2, 37, 6, 9), k ? 1e-4 : 1e-10);
    /* a wide model takes another contraction order (lrnnx's rule): still equal */
    lr_module_free(&m->base);
    m = make_lru(2, 16, dt, 4, &o);
    check_step_equals_forward(&o, rand_x(dt, 3, 20, 2, 10), k ? 1e-4 : 1e-10);
    lr_module_free(&m->base);
  }
}

Test(models_lti, lru_lengths) {
  model_ops o;
  lr_lru *m = make_lru(4, 3, LR_DTYPE_F64, 5, &o);
  check_lengths(&o, LR_DTYPE_F64, 11, 1e-12);
  lr_module_free(&m->base);
}

Test(models_lti, lru_gradcheck) {
  /* f64 at B 2, L 5, H 3, N 2; the FFT path's rounding is ~1e-15, far below atol 1e-6. */
  model_ops o;
  lr_lru *m = make_lru(3, 2, LR_DTYPE_F64, 6, &o);
  check_gradcheck("LRU", &o, rand_x(LR_DTYPE_F64, 2, 5, 3, 11), 1e-6, 1e-5);
  lr_module_free(&m->base);
}

Test(models_lti, lru_init_distribution) {
  /* N = 4096 states: |λ| inside [r_min, r_max]; |λ|² uniform on [r_min², r_max²] (mean within 6
   * sigma of the uniform's, sigma = 1/sqrt(12 N) of the normalised value); arg λ in [0, max_phase)
   * with mean max_phase/2; gamma = sqrt(1 - |λ|²); B, C, D standard deviations within 5 %. */
  lr_rng rng;
  lr_rng_init(&rng, 8);
  lr_lru_config c = lr_lru_config_default(64, 4096);
  c.r_min = 0.4;
  c.r_max = 0.9;
  c.max_phase = 3.0;
  lr_lru *m;
  cr_assert_eq(lr_lru_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  int64_t N = 4096;
  double mu = 0, mph = 0;
  for (int64_t n = 0; n < N; n++) {
    double mod = exp(-exp(lr_tensor_get(m->nu_log, n)));
    double ph = exp(lr_tensor_get(m->theta_log, n));
    cr_assert(mod >= 0.4 - 1e-6 && mod <= 0.9 + 1e-6, "|lambda| %g", mod);
    cr_assert(ph >= 0 && ph < 3.0 + 1e-6, "phase %g", ph);
    double gam = exp(lr_tensor_get(m->gamma_log, n));
    cr_assert(fabs(gam - sqrt(1 - mod * mod)) < 1e-5, "gamma %g, |lambda| %g", gam, mod);
    mu += (mod * mod - 0.16) / (0.81 - 0.16);
    mph += ph / 3.0;
  }
  double sig = 1.0 / sqrt(12.0 * (double)N);
  cr_expect(fabs(mu / (double)N - 0.5) < 6 * sig, "mean normalised |lambda|^2 %g", mu / (double)N);
  cr_expect(fabs(mph / (double)N - 0.5) < 6 * sig, "mean normalised phase %g", mph / (double)N);
  struct {
    lr_tensor *t;
    double std;
  } chk[] = {{m->B_re, 1 / sqrt(128.0)}, {m->B_im, 1 / sqrt(128.0)}, {m->C_re, 1 / 64.0}, {m->C_im, 1 / 64.0}};
  for (int k = 0; k < 4; k++) {
    double s2 = 0;
    int64_t n = lr_numel(chk[k].t);
    for (int64_t i = 0; i < n; i++) s2 += pow(lr_tensor_get(chk[k].t, i), 2);
    double sd = sqrt(s2 / (double)n);
    cr_expect(fabs(sd / chk[k].std - 1) < 0.05, "param %d: std %g, expected %g", k, sd, chk[k].std);
  }
  lr_module_free(&m->base);
  /* the default ring is the unit disc: every |λ| < 1, so every gamma_log is finite */
  lr_rng_init(&rng, 9);
  cr_assert_eq(lr_lru_new(NULL, NULL, &(lr_lru_config){8, 512, 0, 1, 2 * M_PI, LR_DTYPE_F32}, &rng, &m), LR_OK);
  for (int64_t n = 0; n < 512; n++) cr_assert(isfinite(lr_tensor_get(m->gamma_log, n)));
  lr_module_free(&m->base);
}

Test(models_lti, lru_errors) {
  lr_rng rng;
  lr_rng_init(&rng, 1);
  lr_lru *m = NULL;
  struct {
    lr_lru_config c;
    lr_status want;
    const char *msg;
  } bad[] = {
      {{0, 4, 0, 1, 1, LR_DTYPE_F32}, LR_ERR_ARG, "d_model 0"},
      {{4, -1, 0, 1, 1, LR_DTYPE_F32}, LR_ERR_ARG, "d_state -1"},
      {{4, 4, 0.5, 0.4, 1, LR_DTYPE_F32}, LR_ERR_ARG, "r_min 0.5, r_max 0.4"},
      {{4, 4, -0.1, 0.4, 1, LR_DTYPE_F32}, LR_ERR_ARG, "r_min -0.1"},
      {{4, 4, 0, 1.5, 1, LR_DTYPE_F32}, LR_ERR_ARG, "r_max 1.5"},
      {{4, 4, 0, 1, 0, LR_DTYPE_F32}, LR_ERR_ARG, "max_phase 0"},
      {{4, 4, 0, 1, 1, LR_DTYPE_C64}, LR_ERR_DTYPE, "dtype c64"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_expect_eq(lr_lru_new(NULL, NULL, &bad[i].c, &rng, &m), bad[i].want, "case %zu", i);
    cr_expect(strstr(lr_last_error(), "lr_lru_new") && strstr(lr_last_error(), bad[i].msg), "case %zu: %s", i,
              lr_last_error());
  }
  cr_expect_null(m);
  cr_expect_eq(lr_lru_new(NULL, NULL, NULL, &rng, &m), LR_ERR_ARG);
  model_ops o;
  m = make_lru(4, 2, LR_DTYPE_F32, 1, &o);
  lr_tensor *y, *x = rand_x(LR_DTYPE_F32, 2, 3, 5, 1);
  cr_expect_eq(lr_lru_forward(m, x, NULL, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_lru_forward") && strstr(lr_last_error(), "(2, 3, 5)"), "%s", lr_last_error());
  x = rand_x(LR_DTYPE_F64, 2, 3, 4, 1);
  cr_expect_eq(lr_lru_forward(m, x, NULL, &y), LR_ERR_DTYPE);
  cr_expect_eq(lr_lru_forward(m, NULL, NULL, &y), LR_ERR_ARG);
  lr_lti_cache *c;
  cr_expect_eq(lr_lru_allocate_cache(m, 0, &c), LR_ERR_ARG);
  cr_assert_eq(lr_lru_allocate_cache(m, 2, &c), LR_OK);
  lr_tensor *xt;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(3, 4), &xt), LR_OK);
  cr_expect_eq(lr_lru_step(m, c, xt, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_lru_step") && strstr(lr_last_error(), "expected (2, 4)"), "%s",
            lr_last_error());
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 4), &xt), LR_OK);
  cr_expect_eq(lr_lru_step(m, c, xt, &y), LR_ERR_DTYPE);
  lr_lti_cache_free(c);
  lr_module_free(&m->base);
}

/* ---- S5_LTI ---- */

static lr_status s5_fwd(lr_module *m, lr_tensor *x, lr_tensor *len, lr_tensor **y) {
  return lr_s5_lti_forward((lr_s5_lti *)m, x, len, y);
}
static lr_status s5_alloc(lr_module *m, int64_t b, void **c) {
  return lr_s5_lti_allocate_cache((lr_s5_lti *)m, b, (lr_lti_cache **)c);
}
static lr_status s5_stp(lr_module *m, void *c, lr_tensor *x, lr_tensor **y) {
  return lr_s5_lti_step((lr_s5_lti *)m, (lr_lti_cache *)c, x, y);
}

static lr_s5_lti *make_s5(int64_t H, int64_t N, lr_disc d, lr_dtype dt, uint64_t seed, model_ops *o) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_s5_lti_config c = lr_s5_lti_config_default(H, N, d);
  c.dtype = dt;
  lr_s5_lti *m;
  cr_assert_eq(lr_s5_lti_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  *o = (model_ops){&m->base, s5_fwd, s5_alloc, s5_stp, lti_reset, lti_free, H};
  return m;
}

static const lr_disc s5_discs[] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC, LR_DISC_NONE};

Test(models_lti, s5_names_shapes_init) {
  model_ops o;
  lr_s5_lti *m = make_s5(64, 256, LR_DISC_ZOH, LR_DTYPE_F32, 3, &o);
  const char *names[] = {"A", "B", "log_dt", "C", "D"};
  lr_param_list l;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &l), LR_OK);
  cr_assert_eq(l.n, 5);
  for (int i = 0; i < 5; i++) cr_expect_str_eq(l.items[i].name, names[i]);
  lr_param_list_free(&l);
  cr_expect(m->A->ndim == 2 && m->A->shape[0] == 256 && m->A->shape[1] == 2);
  cr_expect(m->B->ndim == 2 && m->B->shape[0] == 256 && m->B->shape[1] == 64);
  cr_expect(m->C->ndim == 3 && m->C->shape[0] == 64 && m->C->shape[1] == 256 && m->C->shape[2] == 2);
  cr_expect(m->D->ndim == 2 && m->D->shape[0] == 64 && m->D->shape[1] == 64);
  cr_expect_str_eq(m->base.type, "S5_LTI");
  /* deterministic parts exactly (to f32 rounding) */
  for (int64_t n = 0; n < 256; n++) {
    cr_assert(fabs(lr_tensor_get(m->A, 2 * n) - log(exp(0.5) - 1)) < 1e-6);
    cr_assert(fabs(lr_tensor_get(m->A, 2 * n + 1) - M_PI * (double)n) < 1e-6 * (1 + M_PI * (double)n));
    double ld = log(1e-3) + (log(1e-1) - log(1e-3)) * (double)n / 255.0;
    cr_assert(fabs(lr_tensor_get(m->log_dt, n) - ld) < 1e-5);
  }
  for (int64_t i = 0; i < 256 * 64; i++) cr_assert(fabs(lr_tensor_get(m->B, i) - 0.125) < 1e-7);
  /* C ~ N(0, 2/N), D ~ N(0, 2/H): sample std within 5 % (32768 and 4096 draws) */
  double s2 = 0;
  for (int64_t i = 0; i < lr_numel(m->C); i++) s2 += pow(lr_tensor_get(m->C, i), 2);
  cr_expect(fabs(sqrt(s2 / (double)lr_numel(m->C)) / sqrt(2.0 / 256) - 1) < 0.05);
  s2 = 0;
  for (int64_t i = 0; i < lr_numel(m->D); i++) s2 += pow(lr_tensor_get(m->D, i), 2);
  cr_expect(fabs(sqrt(s2 / (double)lr_numel(m->D)) / sqrt(2.0 / 64) - 1) < 0.05);
  lr_module_free(&m->base);
}

Test(models_lti, s5_bilinear_is_stable) {
  /* lrnnx's sign-inverted bilinear gives |Ā| > 1 at this init (Re λ = -0.5); the fixed form keeps
   * every |Ā| < 1 and matches (1 + Δλ/2)/(1 - Δλ/2) computed here. */
  model_ops o;
  lr_s5_lti *m = make_s5(4, 16, LR_DISC_BILINEAR, LR_DTYPE_F64, 1, &o);
  lr_tensor *ab, *gb, *C;
  cr_assert_eq(lr_s5_lti_discretize(m, &ab, &gb, &C), LR_OK, "%s", lr_last_error());
  for (int64_t n = 0; n < 16; n++) {
    double re, im, gre, gim;
    lr_tensor_get_c(ab, n, &re, &im);
    lr_tensor_get_c(gb, n, &gre, &gim);
    cr_assert_lt(re * re + im * im, 1.0, "|Abar[%lld]| >= 1", (long long)n);
    double dt = exp(lr_tensor_get(m->log_dt, n));
    double complex_lr = -0.5, li = M_PI * (double)n; /* λ */
    /* (1 + z)/(1 - z), z = Δλ/2 */
    double zr = dt * complex_lr / 2, zi = dt * li / 2;
    double den = (1 - zr) * (1 - zr) + zi * zi;
    double er = ((1 + zr) * (1 - zr) - zi * zi) / den, ei = ((1 + zr) * zi + zi * (1 - zr)) / den;
    cr_assert(fabs(re - er) < 1e-12 && fabs(im - ei) < 1e-12, "Abar[%lld] = %g%+gi, expected %g%+gi", (long long)n,
              re, im, er, ei);
    /* γ̄ = Δ/(1 - z) */
    double gr = dt * (1 - zr) / den, gi = dt * zi / den;
    cr_assert(fabs(gre - gr) < 1e-12 && fabs(gim - gi) < 1e-12, "gamma[%lld]", (long long)n);
  }
  lr_module_free(&m->base);
}

Test(models_lti, s5_step_equals_forward) {
  /* every discretization, f64 (1e-10 relative: FFT rounding) and zoh in f32 (1e-4). For
   * no_discretization |Ā| = |λ| up to ~π(N-1), so the test keeps N and L small there. */
  for (size_t k = 0; k < sizeof s5_discs / sizeof s5_discs[0]; k++) {
    model_ops o;
    bool none = s5_discs[k] == LR_DISC_NONE;
    lr_s5_lti *m = make_s5(5, none ? 2 : 6, s5_discs[k], LR_DTYPE_F64, 20 + k, &o);
    check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 2, none ? 6 : 33, 5, 30 + k), 1e-10);
    lr_module_free(&m->base);
    /* another contraction order: B 1, H 2, N 12 */
    m = make_s5(2, none ? 3 : 12, s5_discs[k], LR_DTYPE_F64, 40 + k, &o);
    check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 1, none ? 5 : 19, 2, 50 + k), 1e-10);
    lr_module_free(&m->base);
  }
  model_ops o;
  lr_s5_lti *m = make_s5(8, 8, LR_DISC_ZOH, LR_DTYPE_F32, 60, &o);
  check_step_equals_forward(&o, rand_x(LR_DTYPE_F32, 2, 64, 8, 61), 1e-4);
  lr_module_free(&m->base);
}

Test(models_lti, s5_lengths) {
  model_ops o;
  lr_s5_lti *m = make_s5(4, 6, LR_DISC_ZOH, LR_DTYPE_F64, 7, &o);
  check_lengths(&o, LR_DTYPE_F64, 13, 1e-12);
  lr_module_free(&m->base);
}

Test(models_lti, s5_gradcheck) {
  /* f64, B 2, L 5, H 3, N 3 for each discretization (N 2, L 4 for no_discretization). */
  for (size_t k = 0; k < sizeof s5_discs / sizeof s5_discs[0]; k++) {
    model_ops o;
    bool none = s5_discs[k] == LR_DISC_NONE;
    lr_s5_lti *m = make_s5(3, none ? 2 : 3, s5_discs[k], LR_DTYPE_F64, 70 + k, &o);
    char name[32];
    snprintf(name, sizeof name, "S5_LTI %s", lr_disc_name(s5_discs[k]));
    check_gradcheck(name, &o, rand_x(LR_DTYPE_F64, 2, none ? 4 : 5, 3, 80 + k), 1e-6, 1e-5);
    lr_module_free(&m->base);
  }
}

Test(models_lti, s5_errors) {
  lr_rng rng;
  lr_rng_init(&rng, 1);
  lr_s5_lti *m = NULL;
  lr_s5_lti_config c = lr_s5_lti_config_default(4, 4, LR_DISC_MAMBA);
  cr_expect_eq(lr_s5_lti_new(NULL, NULL, &c, &rng, &m), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "lr_s5_lti_new") && strstr(lr_last_error(), "discretization mamba"), "%s",
            lr_last_error());
  c = lr_s5_lti_config_default(4, 4, LR_DISC_ZOH);
  c.conj_sym = true;
  cr_expect_eq(lr_s5_lti_new(NULL, NULL, &c, &rng, &m), LR_ERR_UNSUPPORTED);
  cr_expect(strstr(lr_last_error(), "conj_sym"), "%s", lr_last_error());
  c = lr_s5_lti_config_default(0, 4, LR_DISC_ZOH);
  cr_expect_eq(lr_s5_lti_new(NULL, NULL, &c, &rng, &m), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "d_model 0"), "%s", lr_last_error());
  c = lr_s5_lti_config_default(4, 4, LR_DISC_ZOH);
  c.dtype = LR_DTYPE_I64;
  cr_expect_eq(lr_s5_lti_new(NULL, NULL, &c, &rng, &m), LR_ERR_DTYPE);
  cr_expect_null(m);
  model_ops o;
  m = make_s5(4, 3, LR_DISC_ZOH, LR_DTYPE_F32, 1, &o);
  lr_tensor *y, *x = rand_x(LR_DTYPE_F32, 2, 3, 3, 1);
  cr_expect_eq(lr_s5_lti_forward(m, x, NULL, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_s5_lti_forward") && strstr(lr_last_error(), "(B, L, 4)"), "%s",
            lr_last_error());
  lr_lti_cache *cache;
  cr_assert_eq(lr_s5_lti_allocate_cache(m, 2, &cache), LR_OK);
  lr_tensor *xt;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 5), &xt), LR_OK);
  cr_expect_eq(lr_s5_lti_step(m, cache, xt, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_s5_lti_step"), "%s", lr_last_error());
  lr_lti_cache_free(cache);
  lr_module_free(&m->base);
}

/* ---- S4D ---- */

static lr_status s4d_fwd(lr_module *m, lr_tensor *x, lr_tensor *len, lr_tensor **y) {
  return lr_s4d_forward((lr_s4d *)m, x, len, y);
}
static lr_status s4d_alloc(lr_module *m, int64_t b, void **c) {
  return lr_s4d_allocate_cache((lr_s4d *)m, b, (lr_s4d_cache **)c);
}
static lr_status s4d_stp(lr_module *m, void *c, lr_tensor *x, lr_tensor **y) {
  return lr_s4d_step((lr_s4d *)m, (lr_s4d_cache *)c, x, y);
}
static lr_status s4d_reset(void *c) { return lr_s4d_cache_reset((lr_s4d_cache *)c); }
static void s4d_free(void *c) { lr_s4d_cache_free((lr_s4d_cache *)c); }

static lr_s4d *make_s4d(lr_s4d_config c, uint64_t seed, model_ops *o) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_s4d *m;
  cr_assert_eq(lr_s4d_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  *o = (model_ops){&m->base, s4d_fwd, s4d_alloc, s4d_stp, s4d_reset, s4d_free, c.d_model};
  return m;
}

static lr_s4d_config s4d_cfg(int64_t H, int64_t N, int64_t ch, const char *init, const char *disc, lr_dtype dt) {
  lr_s4d_config c = lr_s4d_config_default(H);
  c.d_state = N;
  c.channels = ch;
  c.init = init;
  c.disc = disc;
  c.transposed = false;
  c.dtype = dt;
  return c;
}

Test(models_lti, s4d_names_shapes_hints) {
  model_ops o;
  lr_s4d *m = make_s4d(s4d_cfg(6, 8, 2, "legs", "zoh", LR_DTYPE_F32), 1, &o);
  const char *names[] = {"inv_dt", "C", "B", "A_real", "A_imag", "D", "output_linear.0.weight", "output_linear.0.bias"};
  lr_param_list l;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_PARAMS, &l), LR_OK);
  cr_assert_eq(l.n, 8);
  for (int i = 0; i < 8; i++) cr_expect_str_eq(l.items[i].name, names[i]);
  for (int i = 0; i < 5; i++)
    cr_expect(l.items[i].param->flags & LR_PARAM_WD && l.items[i].param->weight_decay == 0.0 &&
                  !(l.items[i].param->flags & LR_PARAM_LR),
              "%s: weight_decay 0 hint", names[i]);
  cr_expect(!(l.items[5].param->flags & LR_PARAM_WD), "D has no hint");
  lr_param_list_free(&l);
  cr_expect(m->inv_dt->ndim == 2 && m->inv_dt->shape[0] == 6 && m->inv_dt->shape[1] == 1);
  cr_expect(m->C->ndim == 4 && m->C->shape[0] == 2 && m->C->shape[1] == 6 && m->C->shape[2] == 4 && m->C->shape[3] == 2);
  cr_expect(m->B->ndim == 4 && m->B->shape[0] == 1 && m->B->shape[1] == 6 && m->B->shape[2] == 4);
  cr_expect(m->A_real->shape[0] == 6 && m->A_real->shape[1] == 4 && m->A_imag->shape[1] == 4);
  cr_expect(m->D->shape[0] == 2 && m->D->shape[1] == 6);
  cr_expect(m->output_linear->weight->shape[0] == 6 && m->output_linear->weight->shape[1] == 12);
  lr_module_free(&m->base);
  /* final_act None: no output_linear; dt_tie false: inv_dt (H, N'); n_ssm 3 */
  lr_s4d_config c = s4d_cfg(6, 8, 1, "diag-lin", "zoh", LR_DTYPE_F32);
  c.final_act = false;
  c.dt_tie = false;
  c.n_ssm = 3;
  m = make_s4d(c, 2, &o);
  cr_expect_null(m->output_linear);
  cr_expect(m->inv_dt->shape[1] == 4 && m->A_real->shape[0] == 3 && m->B->shape[1] == 3);
  cr_expect_eq(lr_module_num_param_tensors(&m->base), 6);
  lr_module_free(&m->base);
}

Test(models_lti, s4d_init_values) {
  /* diag-lin: A_real = log 0.5, A_imag = max(π n, 1e-4), B = 1 */
  model_ops o;
  lr_s4d *m = make_s4d(s4d_cfg(2, 8, 1, "diag-lin", "zoh", LR_DTYPE_F64), 3, &o);
  for (int64_t h = 0; h < 2; h++)
    for (int64_t n = 0; n < 4; n++) {
      int64_t i = h * 4 + n;
      cr_expect(fabs(lr_tensor_get(m->A_real, i) - log(0.5)) < 1e-15);
      cr_expect(fabs(lr_tensor_get(m->A_imag, i) - fmax(M_PI * (double)n, 1e-4)) < 1e-12);
      cr_expect(lr_tensor_get(m->B, 2 * i) == 1.0 && lr_tensor_get(m->B, 2 * i + 1) == 0.0);
    }
  lr_module_free(&m->base);
  /* diag-inv: Im = N/π (N/(1 + 2n) - 1) */
  m = make_s4d(s4d_cfg(1, 8, 1, "diag-inv", "zoh", LR_DTYPE_F64), 3, &o);
  for (int64_t n = 0; n < 4; n++)
    cr_expect(fabs(lr_tensor_get(m->A_imag, n) - fmax(8 / M_PI * (8 / (1 + 2.0 * n) - 1), 1e-4)) < 1e-12);
  lr_module_free(&m->base);
  /* legs (S4D-LegS): Re λ = -1/2; Im λ are the positive eigenvalues of the skew part of HiPPO-LegS
   * (distinct); for N = 2 the skew part is [[0, -sqrt3/2], [sqrt3/2, 0]]: Im λ = sqrt(3)/2 and
   * B = V^H b with |B|^2 = (|b_0|^2 + |b_1|^2)/2 = 2, i.e. |B| = sqrt 2 before the clip to |Im| <= 2. */
  m = make_s4d(s4d_cfg(1, 2, 1, "legs", "zoh", LR_DTYPE_F64), 3, &o);
  cr_expect(fabs(lr_tensor_get(m->A_real, 0) - log(0.5)) < 1e-15);
  cr_expect(fabs(lr_tensor_get(m->A_imag, 0) - sqrt(3) / 2) < 1e-12, "A_imag %g", lr_tensor_get(m->A_imag, 0));
  double br = lr_tensor_get(m->B, 0), bi = lr_tensor_get(m->B, 1);
  cr_expect(fabs(br * br + bi * bi - 2) < 1e-12, "|B|^2 %g", br * br + bi * bi);
  lr_module_free(&m->base);
  m = make_s4d(s4d_cfg(1, 64, 1, "legs", "zoh", LR_DTYPE_F64), 3, &o);
  for (int64_t n = 0; n < 32; n++) {
    cr_expect(lr_tensor_get(m->A_imag, n) > 0);
    if (n) cr_expect(lr_tensor_get(m->A_imag, n) < lr_tensor_get(m->A_imag, n - 1), "sorted, distinct");
    cr_expect(fabs(lr_tensor_get(m->B, 2 * n + 1)) <= 2.0);
  }
  lr_module_free(&m->base);
  /* inv_dt = log Δ with Δ in [dt_min, dt_max) (log-uniform: mean of the logs in the middle);
   * C parts ~ N(0, 1/2), D ~ N(0, 1) */
  lr_s4d_config c = s4d_cfg(2048, 16, 1, "diag-lin", "zoh", LR_DTYPE_F64);
  c.final_act = false;
  m = make_s4d(c, 4, &o);
  double mean = 0;
  for (int64_t h = 0; h < 2048; h++) {
    double v = lr_tensor_get(m->inv_dt, h);
    cr_assert(v >= log(1e-3) && v < log(1e-1));
    mean += v / 2048;
  }
  double mid = (log(1e-3) + log(1e-1)) / 2, half = (log(1e-1) - log(1e-3)) / 2;
  cr_expect(fabs(mean - mid) < 6 * half / sqrt(3 * 2048.0), "mean log dt %g", mean);
  double s2 = 0;
  for (int64_t i = 0; i < lr_numel(m->C); i++) s2 += pow(lr_tensor_get(m->C, i), 2);
  cr_expect(fabs(s2 / (double)lr_numel(m->C) - 0.5) < 0.025, "C part variance %g", s2 / (double)lr_numel(m->C));
  lr_module_free(&m->base);
}

Test(models_lti, s4d_step_equals_forward) {
  /* f64, 1e-10 relative: zoh and bilinear, 1 and 2 channels, legs and diag inits, n_ssm < H and
   * untied Δ; f32 at 1e-4. */
  const char *inits[] = {"legs", "diag-lin", "diag"};
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < 3; k++) {
      model_ops o;
      lr_s4d_config c = s4d_cfg(4, 8, 1 + (k & 1), inits[k], d ? "bilinear" : "zoh", LR_DTYPE_F64);
      if (k == 2) {
        c.n_ssm = 2;
        c.dt_tie = false;
      }
      lr_s4d *m = make_s4d(c, 10 + d * 3 + k, &o);
      check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 2, 29, 4, 20 + k), 1e-10);
      lr_module_free(&m->base);
    }
  model_ops o;
  lr_s4d *m = make_s4d(s4d_cfg(8, 16, 1, "legs", "zoh", LR_DTYPE_F32), 30, &o);
  check_step_equals_forward(&o, rand_x(LR_DTYPE_F32, 2, 64, 8, 31), 1e-4);
  lr_module_free(&m->base);
}

Test(models_lti, s4d_transposed_and_l_max) {
  /* transposed (lrnnx's default) takes (B, H, L) and equals the untransposed model on x^T;
   * l_max = 4 truncates the kernel: y equals a forward with the kernel zero past 4 steps, checked
   * as "an impulse at t = 0 leaves no SSM trace at t >= 4" (only x D at t = 0 stays). */
  model_ops o;
  lr_s4d_config c = s4d_cfg(3, 4, 1, "diag-lin", "zoh", LR_DTYPE_F64);
  lr_s4d *m = make_s4d(c, 40, &o);
  lr_tensor *x = rand_x(LR_DTYPE_F64, 2, 7, 3, 41), *y, *xt, *yt;
  cr_assert_eq(lr_s4d_forward(m, x, NULL, &y), LR_OK, "%s", lr_last_error());
  m->cfg.transposed = true;
  cr_assert_eq(lr_transpose(x, 1, 2, &xt), LR_OK);
  cr_assert_eq(lr_s4d_forward(m, xt, NULL, &yt), LR_OK, "%s", lr_last_error());
  cr_assert(yt->shape[1] == 3 && yt->shape[2] == 7);
  cr_assert_eq(lr_transpose(yt, 1, 2, &yt), LR_OK);
  cr_assert_eq(lr_contiguous(yt, &yt), LR_OK);
  cr_expect_lt(max_diff(y, yt), 1e-14);
  m->cfg.transposed = false;
  m->cfg.l_max = 4;
  m->output_linear = NULL; /* compare the conv output through the GELUs only */
  lr_tensor *K;
  cr_assert_eq(lr_s4d_compute_kernel(m, 7, &K), LR_OK);
  cr_expect_eq(K->shape[2], 4);
  lr_module_free(&m->base);
}

Test(models_lti, s4d_lengths) {
  model_ops o;
  lr_s4d *m = make_s4d(s4d_cfg(3, 4, 2, "diag-lin", "zoh", LR_DTYPE_F64), 50, &o);
  check_lengths(&o, LR_DTYPE_F64, 9, 1e-12);
  lr_module_free(&m->base);
}

Test(models_lti, s4d_gradcheck) {
  /* f64, B 2, L 5, H 2, N 4, 2 channels, zoh and bilinear; every parameter including
   * output_linear. */
  for (int d = 0; d < 2; d++) {
    model_ops o;
    lr_s4d *m = make_s4d(s4d_cfg(2, 4, 2, "legs", d ? "bilinear" : "zoh", LR_DTYPE_F64), 60 + d, &o);
    check_gradcheck(d ? "S4D bilinear" : "S4D zoh", &o, rand_x(LR_DTYPE_F64, 2, 5, 2, 70 + d), 1e-6, 1e-5);
    lr_module_free(&m->base);
  }
}

Test(models_lti, s4d_errors) {
  lr_rng rng;
  lr_rng_init(&rng, 1);
  lr_s4d *m = NULL;
  lr_s4d_config c;
#define EXPECT_BAD(stmt, want, text)                                                                           \
  do {                                                                                                         \
    c = s4d_cfg(4, 8, 1, "legs", "zoh", LR_DTYPE_F32);                                                         \
    stmt;                                                                                                      \
    cr_expect_eq(lr_s4d_new(NULL, NULL, &c, &rng, &m), want, "%s", #stmt);                                     \
    cr_expect(strstr(lr_last_error(), "lr_s4d_new") && strstr(lr_last_error(), text), "%s: %s", #stmt,         \
              lr_last_error());                                                                                \
  } while (0)
  EXPECT_BAD(c.d_state = 7, LR_ERR_ARG, "d_state 7");
  EXPECT_BAD(c.d_model = 0, LR_ERR_ARG, "d_model 0");
  EXPECT_BAD(c.n_ssm = 3, LR_ERR_ARG, "n_ssm 3");
  EXPECT_BAD(c.disc = "dirac", LR_ERR_ARG, "disc \"dirac\"");
  EXPECT_BAD(c.dt_transform = "cube", LR_ERR_ARG, "transform \"cube\"");
  EXPECT_BAD(c.init = "fourier", LR_ERR_UNSUPPORTED, "init \"fourier\"");
  EXPECT_BAD(c.gate = 2, LR_ERR_UNSUPPORTED, "gate");
  EXPECT_BAD(c.dropout = 0.1, LR_ERR_UNSUPPORTED, "dropout");
  EXPECT_BAD(c.dt_min = 0, LR_ERR_ARG, "dt_min 0");
  EXPECT_BAD(c.dtype = LR_DTYPE_C64, LR_ERR_DTYPE, "dtype c64");
  cr_expect_null(m);
  model_ops o;
  m = make_s4d(s4d_cfg(4, 4, 1, "diag-lin", "zoh", LR_DTYPE_F32), 1, &o);
  lr_tensor *y, *x = rand_x(LR_DTYPE_F32, 2, 3, 5, 1);
  cr_expect_eq(lr_s4d_forward(m, x, NULL, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_s4d_forward"), "%s", lr_last_error());
  lr_s4d_cache *cache;
  cr_assert_eq(lr_s4d_allocate_cache(m, 2, &cache), LR_OK);
  lr_tensor *xt;
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 4), &xt), LR_OK);
  cr_expect_eq(lr_s4d_step(m, cache, xt, &y), LR_ERR_DTYPE);
  cr_expect(strstr(lr_last_error(), "lr_s4d_step"), "%s", lr_last_error());
  lr_s4d_cache_free(cache);
  lr_module_free(&m->base);
}

/* ---- registry entries and checkpoints ---- */

typedef struct {
  const char *model, *args;
  int n_tensors;       /* state_dict entries, aliases included */
  const char *dropped; /* the entry left out of the "missing" file */
} reg_case;

static const reg_case reg_cases[] = {
    {"LRU", "{\"d_model\": 5, \"d_state\": 3, \"dtype\": \"float64\"}", 8, "gamma_log"},
    {"S5_LTI", "{\"d_model\": 5, \"d_state\": 4, \"discretization\": \"bilinear\", \"dtype\": \"float64\"}", 5, "C"},
    /* 6 own + 5 layer.kernel.* aliases + output_linear.0.{weight,bias} */
    {"S4D", "{\"d_model\": 4, \"d_state\": 4, \"channels\": 2, \"transposed\": false, \"dtype\": \"float64\"}", 13,
     "layer.kernel.inv_dt"},
};

/* The model of c made through its registry entry with the given seed. */
static lr_module *reg_make(const reg_case *c, int seed) {
  const lr_model_def *def = lr_model_find(c->model);
  cr_assert_not_null(def, "%s is not registered", c->model);
  cJSON *args = cJSON_Parse(c->args);
  cr_assert_not_null(args);
  cJSON_AddNumberToObject(args, "seed", seed);
  lr_module *m;
  cr_assert_eq(def->create(args, &m), LR_OK, "%s: %s", c->model, lr_last_error());
  cJSON_Delete(args);
  return m;
}

/* max |a - b| over every tensor (aliases included) of two models of the same structure */
static double module_diff(lr_module *a, lr_module *b) {
  lr_param_list la, lb;
  cr_assert_eq(lr_module_list(a, LR_VISIT_ALL | LR_VISIT_TIED, &la), LR_OK);
  cr_assert_eq(lr_module_list(b, LR_VISIT_ALL | LR_VISIT_TIED, &lb), LR_OK);
  cr_assert_eq(la.n, lb.n);
  double d = 0;
  for (int i = 0; i < la.n; i++) {
    cr_assert_str_eq(la.items[i].name, lb.items[i].name);
    d = fmax(d, max_diff(la.items[i].param->t, lb.items[i].param->t));
  }
  lr_param_list_free(&la);
  lr_param_list_free(&lb);
  return d;
}

Test(models_lti, registry_checkpoint_round_trip) {
  for (size_t k = 0; k < sizeof reg_cases / sizeof reg_cases[0]; k++) {
    const reg_case *c = &reg_cases[k];
    char path[256];
    snprintf(path, sizeof path, "/tmp/lr_lti_ckpt_%s_%d.safetensors", c->model, (int)getpid());
    lr_module *a = reg_make(c, 1), *b = reg_make(c, 2);
    cr_assert(module_diff(a, b) > 0, "%s: two seeds gave the same weights: the round trip would prove nothing",
              c->model);
    cr_assert_eq(lr_module_save(a, path, NULL), LR_OK, "%s", lr_last_error());
    lr_safetensors_file *f;
    cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
    cr_expect_eq(lr_safetensors_count(f), c->n_tensors, "%s: %d entries", c->model, lr_safetensors_count(f));
    lr_safetensors_close(f);
    lr_load_report r;
    cr_assert_eq(lr_module_load(b, path, LR_LOAD_STRICT, &r), LR_OK, "%s: %s", c->model, lr_last_error());
    cr_expect_eq(r.n_loaded, c->n_tensors);
    lr_load_report_free(&r);
    cr_expect_eq(module_diff(a, b), 0.0, "%s: loaded weights differ from the saved ones", c->model);
    /* same weights, same function (bitwise: same ops in the same order) */
    lr_tensor *x = rand_x(LR_DTYPE_F64, 2, 6, lr_model_find(c->model) == &lr_model_s4d ? 4 : 5, 3), *ya, *yb;
    cr_assert_eq(lr_model_find(c->model)->forward(a, x, NULL, NULL, &ya), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_model_find(c->model)->forward(b, x, NULL, NULL, &yb), LR_OK, "%s", lr_last_error());
    cr_expect_eq(max_diff(ya, yb), 0.0, "%s", c->model);
    lr_module_free(a);
    lr_module_free(b);
    unlink(path);
  }
}

Test(models_lti, registry_s4d_kernel_aliases) {
  /* lrnnx's state_dict order: own parameters, then layer.kernel.{A_real, A_imag, B, C, inv_dt}
   * (S4KernelBase's assignment order), then output_linear; the aliases are the same tensors and
   * are not trained twice. */
  lr_module *m = reg_make(&reg_cases[2], 1);
  lr_s4d *s = (lr_s4d *)m;
  const char *names[] = {"inv_dt", "C", "B", "A_real", "A_imag", "D", "layer.kernel.A_real", "layer.kernel.A_imag",
                         "layer.kernel.B", "layer.kernel.C", "layer.kernel.inv_dt", "output_linear.0.weight",
                         "output_linear.0.bias"};
  lr_tensor *same[] = {s->A_real, s->A_imag, s->B, s->C, s->inv_dt};
  lr_param_list l;
  cr_assert_eq(lr_module_list(m, LR_VISIT_ALL | LR_VISIT_TIED, &l), LR_OK);
  cr_assert_eq(l.n, 13);
  for (int i = 0; i < 13; i++) cr_expect_str_eq(l.items[i].name, names[i]);
  for (int i = 0; i < 5; i++) cr_expect_eq(l.items[6 + i].param->t, same[i], "%s", names[6 + i]);
  lr_param_list_free(&l);
  cr_expect_eq(lr_module_num_param_tensors(m), 8, "aliases are not parameters a second time");
  lr_module_free(m);
}

Test(models_lti, registry_strict_load_missing) {
  for (size_t k = 0; k < sizeof reg_cases / sizeof reg_cases[0]; k++) {
    const reg_case *c = &reg_cases[k];
    char path[256];
    snprintf(path, sizeof path, "/tmp/lr_lti_missing_%s_%d.safetensors", c->model, (int)getpid());
    lr_module *a = reg_make(c, 1), *b = reg_make(c, 2), *b0 = reg_make(c, 2);
    /* every entry of a's checkpoint but c->dropped */
    lr_param_list l;
    cr_assert_eq(lr_module_list(a, LR_VISIT_ALL | LR_VISIT_TIED, &l), LR_OK);
    const char *names[16];
    const lr_tensor *ts[16];
    int n = 0;
    for (int i = 0; i < l.n; i++)
      if (strcmp(l.items[i].name, c->dropped)) {
        names[n] = l.items[i].name;
        ts[n++] = l.items[i].param->t;
      }
    cr_assert_eq(n, l.n - 1, "%s has no %s", c->model, c->dropped);
    cr_assert_eq(lr_safetensors_save(path, n, names, ts, NULL), LR_OK, "%s", lr_last_error());
    lr_param_list_free(&l);
    cr_expect_eq(lr_module_load(b, path, LR_LOAD_STRICT, NULL), LR_ERR_ARG, "%s", c->model);
    char want[512];
    snprintf(want, sizeof want, "lr_module_load(%s): missing: %s", path, c->dropped);
    cr_expect_str_eq(lr_last_error(), want);
    cr_expect_eq(module_diff(b, b0), 0.0, "%s: a failed strict load changed the module", c->model);
    lr_module_free(a);
    lr_module_free(b);
    lr_module_free(b0);
    unlink(path);
  }
}

Test(models_lti, registry_arguments) {
  struct {
    const char *model, *args;
    lr_status want;
    const char *msg;
  } bad[] = {
      {"LRU", "{\"d_model\": 4, \"d_state\": 2, \"dstate\": 3}", LR_ERR_ARG,
       "LRU: unknown argument 'dstate' (known: d_model, d_state, r_min, r_max, max_phase, dtype, seed)"},
      {"LRU", "{\"d_model\": 4}", LR_ERR_ARG, "LRU: argument 'd_state' is required"},
      {"LRU", "{\"d_model\": 4, \"d_state\": 2, \"r_max\": \"1\"}", LR_ERR_ARG, "LRU: argument 'r_max' must be a number"},
      {"LRU", "{\"d_model\": 4, \"d_state\": 2, \"r_min\": 0.9, \"r_max\": 0.5}", LR_ERR_ARG, "r_min 0.9, r_max 0.5"},
      {"S5_LTI", "{\"d_model\": 4, \"d_state\": 2}", LR_ERR_ARG, "S5_LTI: argument 'discretization' is required"},
      {"S5_LTI", "{\"d_model\": 4, \"d_state\": 2, \"discretization\": \"mamba\"}", LR_ERR_ARG,
       "S5_LTI: argument 'discretization' is \"mamba\", expected one of zoh, bilinear, dirac, no_discretization"},
      {"S5_LTI", "{\"d_model\": 4, \"d_state\": 2, \"discretization\": \"zoh\", \"conj_sym\": true}",
       LR_ERR_UNSUPPORTED, "conj_sym"},
      {"S4D", "{\"d_model\": 4, \"wat\": 1}", LR_ERR_ARG, "S4D: unknown argument 'wat'"},
      {"S4D", "{\"d_model\": 4, \"disc\": \"dirac\"}", LR_ERR_ARG,
       "S4D: argument 'disc' is \"dirac\", expected one of zoh, bilinear"},
      {"S4D", "{\"d_model\": 4, \"init\": \"fourier\"}", LR_ERR_UNSUPPORTED, "S4D: argument 'init' is \"fourier\""},
      {"S4D", "{\"d_model\": 4, \"postact\": \"glu\"}", LR_ERR_ARG, "S4D: argument 'postact' needs final_act null"},
      {"S4D", "{\"d_model\": 4, \"gate\": 2}", LR_ERR_UNSUPPORTED, "gate"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *args = cJSON_Parse(bad[i].args);
    cr_assert_not_null(args);
    lr_module *m = NULL;
    cr_expect_eq(lr_model_find(bad[i].model)->create(args, &m), bad[i].want, "%s %s", bad[i].model, bad[i].args);
    cr_expect(strstr(lr_last_error(), bad[i].msg), "%s %s: \"%s\"", bad[i].model, bad[i].args, lr_last_error());
    cr_expect_null(m);
    cJSON_Delete(args);
  }
  /* S4D: final_act null is lrnnx's None (no output_linear); postact with final_act null is the head;
   * defaults d_state 64, transposed */
  const char *ok[] = {"{\"d_model\": 4, \"final_act\": null}", "{\"d_model\": 4, \"final_act\": null, \"postact\": \"glu\"}",
                      "{\"d_model\": 4, \"lr\": null, \"n_ssm\": null, \"l_max\": null, \"verbose\": false}"};
  const bool head[] = {false, true, true};
  for (int i = 0; i < 3; i++) {
    cJSON *args = cJSON_Parse(ok[i]);
    lr_module *m;
    cr_assert_eq(lr_model_s4d.create(args, &m), LR_OK, "%s: %s", ok[i], lr_last_error());
    lr_s4d *s = (lr_s4d *)m;
    cr_expect_eq(s->output_linear != NULL, head[i], "%s", ok[i]);
    cr_expect(s->cfg.d_state == 64 && s->cfg.transposed && s->cfg.dtype == LR_DTYPE_F32, "%s", ok[i]);
    cJSON_Delete(args);
    cr_expect_str_eq(s->cfg.init, "legs", "the config outlives the JSON");
    lr_module_free(m);
  }
}
