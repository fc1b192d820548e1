/* Every registered model (nn/registry.h) on CUDA against the CPU: forward, backward, step, lengths,
 * determinism; and lrnnx's reference cases (../shared/fixtures/lrnnx) through `lrnnx layer
 * --device cuda`.
 *
 * models_cuda/parity, one parameterised test per (model, configuration, dtype, size):
 *  1. the model is built twice from the same JSON arguments and seed through its registry entry
 *     (identical initialisation); one copy moves to the GPU with lr_module_to, and its parameters
 *     must then hold the same bits as the CPU copy's;
 *  2. the same inputs on both devices (x uniform in [-1, 1), integration_timesteps in [0.5, 2) for
 *     the event modes, values rounded to float so F32 and F64 cases see the same numbers), forward,
 *     then lr_backward(y, w) with the same random w: the gradients of sum(w * y). Compared: y, the
 *     gradient of x and of every parameter (a parameter with a gradient on one side only fails);
 *  3. the same with lengths (B,) = {L, L/2, 1} (or {L, L - 5}): CPU vs GPU again, and on the GPU
 *     y[b, :len] equals the forward without lengths, y[b, len:] is 0 (S7: x, its residual);
 *  4. a second GPU run from a fresh arena gives the same bits (y and every gradient);
 *  5. (short cases) stepping the cache on the GPU through all L steps (grad mode off) gives the GPU
 *     forward's y[:, t] at every t;
 *  6. (short cases) the step recorded as a graph (tensor/graph.h) and replayed for every t gives the
 *     eager step's y_t bit for bit.
 * Every comparison is made and printed (max |gpu - cpu| / max |cpu| per tensor) before the test
 * asserts, so one run shows every tensor that differs and by how much.
 *
 * Configurations: LRU; S5_LTI zoh/bilinear/dirac (no_discretization,
 * Abar = λ with |λ| up to π N, overflows to inf on both devices at these lengths); S4D zoh/bilinear (transposed
 * false, the Linear + GELU head); S5 zoh/bilinear/dirac x conj_sym false/true x event off/on
 * (Event-SSM); Mamba mamba/zoh/bilinear/dirac x event off/on (STREAM); RGLRU; S7. A registered
 * model this table does not know (S4, Centaurus, ...) runs with guessed arguments ({"d_model",
 * "d_state", "transposed": false}, then without "transposed", then d_model alone): it is skipped
 * with the reason when none of them builds or the CPU forward fails, and fails like any other when
 * the GPU differs. Sizes: short (B 3, L 37, H 16, N 8) in F32 and F64; long (B 2, L 1100, H 32,
 * N 16) in F32, which crosses the scan kernels' chunk and block boundaries.
 *
 * Tolerances (max |gpu - cpu| <= tol * max |cpu| over each tensor), with the reason:
 *  - F64: 1e-9. Both sides compute in double; they differ by summation order (cuBLAS vs OpenBLAS,
 *    cuFFT vs FFTW, chunked vs sequential scans), fused multiply-adds and GPU exp/sincos ulps;
 *  - F32 y: 5e-4; F32 gradients: 2e-3. Float storage between ops with different summation orders
 *    over up to B L = 2200 terms per parameter gradient; 2e-3 is FORMAT.md's bound for an
 *    independent F32 implementation of the same math;
 *  - step vs forward on the GPU: 1e-9 (F64), 5e-4 (F32): a recurrence against a scan or an FFT
 *    convolution of the same system;
 *  - lengths prefix on the GPU: the same as step (the masked input changes FFT rounding).
 *
 * models_cuda/fixtures: each case of ../shared/fixtures/lrnnx (FORMAT.md) through lr_tool_layer with
 * --device cuda, forward (y and every gradient) and step (y), against the reference with FORMAT.md's
 * criterion (max |out - ref| <= 2e-3 max |ref|, 5e-3 past 2048 steps), as tests/test_fixtures.c does
 * on the CPU. The folder: $LR_FIXTURES, else /work/shared/fixtures/lrnnx, ../shared/fixtures/lrnnx
 * or shared/fixtures/lrnnx (relative to the working directory); skipped when none exists.
 *
 * Tagged "manual" and "cuda": build here, run on the GPU machine.
 */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/module.h"
#include "nn/registry.h"
#include "ops/ops.h"
#include "tensor/graph.h"
#include "tensor/safetensors.h"
#include "tools/tools.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"

/* The device compared against the CPU: the GPU; LR_PARITY_ON_CPU=1 runs every check with the CPU
 * in its place (a dry run of the test's own logic on a machine without a GPU). */
static lr_device gdev = LR_DEVICE_CUDA;

static void on_gpu(void) {
  const char *e = getenv("LR_PARITY_ON_CPU");
  if (e && *e && strcmp(e, "0")) {
    gdev = LR_DEVICE_CPU;
    return;
  }
  if (!lr_cuda_available()) cr_skip_test("no usable CUDA device");
}

/* ---- cases ---- */
typedef struct {
  char model[32];  /* registry name */
  char label[96];  /* "Mamba bilinear STREAM f32 short" */
  char args[320];  /* JSON constructor arguments; "" = guess (a model this table does not know) */
  int event;       /* pass integration_timesteps */
  int f64;         /* dtype float64 */
  int long_size;   /* B 2, L 1100, H 32, N 16 instead of B 3, L 37, H 16, N 8 */
} mcase;

typedef struct {
  int64_t B, L, H, N;
} dims;

static dims dims_of(const mcase *c) { return c->long_size ? (dims){2, 1100, 32, 16} : (dims){3, 37, 16, 8}; }

static void add(mcase **v, int *n, int *cap, const char *model, const char *variant, const char *extra, int event) {
  for (int sz = 0; sz < 2; sz++)
    for (int f64 = 0; f64 < 2; f64++) {
      if (sz && f64) continue; /* long: F32 only */
      if (*n == *cap) {
        mcase *w = cr_malloc(sizeof *w * (size_t)(*cap) * 2);
        memcpy(w, *v, sizeof *w * (size_t)*n);
        cr_free(*v);
        *v = w;
        *cap *= 2;
      }
      mcase *c = &(*v)[(*n)++];
      memset(c, 0, sizeof *c);
      snprintf(c->model, sizeof c->model, "%s", model);
      dims d = dims_of(&(mcase){.long_size = sz});
      snprintf(c->label, sizeof c->label, "%s%s%s%s %s %s", model, *variant ? " " : "", variant, event ? " event" : "",
               f64 ? "f64" : "f32", sz ? "long" : "short");
      c->event = event;
      c->f64 = f64;
      c->long_size = sz;
      if (extra) {
        const char *dt = f64 ? "float64" : "float32";
        if (!strcmp(model, "RGLRU"))
          snprintf(c->args, sizeof c->args, "{\"d_model\": %lld, \"dtype\": \"%s\"%s}", (long long)d.H, dt, extra);
        else
          snprintf(c->args, sizeof c->args, "{\"d_model\": %lld, \"d_state\": %lld, \"dtype\": \"%s\"%s}",
                   (long long)d.H, (long long)d.N, dt, extra);
      }
    }
}

ParameterizedTestParameters(models_cuda, parity) {
  int n = 0, cap = 64;
  mcase *v = cr_malloc(sizeof *v * (size_t)cap);
  add(&v, &n, &cap, "LRU", "", "", 0);
  /* no_discretization (Abar = λ, |λ| up to π N) overflows on both devices at these lengths */
  const char *s5lti[] = {"zoh", "bilinear", "dirac"};
  char ex[200];
  for (int i = 0; i < 3; i++) {
    snprintf(ex, sizeof ex, ", \"discretization\": \"%s\"", s5lti[i]);
    add(&v, &n, &cap, "S5_LTI", s5lti[i], ex, 0);
  }
  const char *s4d[] = {"zoh", "bilinear"};
  for (int i = 0; i < 2; i++) {
    snprintf(ex, sizeof ex, ", \"transposed\": false, \"disc\": \"%s\"", s4d[i]);
    add(&v, &n, &cap, "S4D", s4d[i], ex, 0);
  }
  const char *s5[] = {"zoh", "bilinear", "dirac"};
  for (int i = 0; i < 3; i++)
    for (int cs = 0; cs < 2; cs++)
      for (int ev = 0; ev < 2; ev++) {
        char var[64];
        snprintf(var, sizeof var, "%s%s", s5[i], cs ? " conj_sym" : "");
        snprintf(ex, sizeof ex, ", \"discretization\": \"%s\", \"conj_sym\": %s", s5[i], cs ? "true" : "false");
        add(&v, &n, &cap, "S5", var, ex, ev);
      }
  const char *mamba[] = {"mamba", "zoh", "bilinear", "dirac"};
  for (int i = 0; i < 4; i++)
    for (int ev = 0; ev < 2; ev++) {
      snprintf(ex, sizeof ex, ", \"discretization\": \"%s\"", mamba[i]);
      add(&v, &n, &cap, "Mamba", mamba[i], ex, ev);
    }
  add(&v, &n, &cap, "RGLRU", "", "", 0);
  add(&v, &n, &cap, "S7", "", "", 0);
  /* Centaurus's dws and full modes tie d_state to d_model (d_model, d_model^2): the neck and
   * pointwise modes run at the table's sizes; all four are checked step == forward on the CPU
   * (test_models_s4.c) and share their ops with these two */
  const char *cmode[] = {"neck", "pointwise"};
  for (int i = 0; i < 2; i++) {
    snprintf(ex, sizeof ex, ", \"sub_state_dim\": 4, \"mode\": \"%s\"", cmode[i]);
    add(&v, &n, &cap, "Centaurus", cmode[i], ex, 0);
  }
  /* registered models this table does not know: guessed arguments */
  static const char *const known[] = {"Linear", "LRU", "S5_LTI", "S4D", "S5", "Mamba", "RGLRU", "S7", "Centaurus", NULL};
  for (int i = 0; i < lr_model_count(); i++) {
    const char *name = lr_model_at(i)->name;
    bool k = false;
    for (int j = 0; known[j]; j++) k = k || !strcmp(known[j], name);
    if (!k) add(&v, &n, &cap, name, "(guessed args)", NULL, 0);
  }
  return cr_make_param_array(mcase, v, (size_t)n);
}

/* ---- inputs ---- */
static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* n values uniform in [lo, hi), rounded to float. */
static double *rand_host(int64_t n, double lo, double hi, uint64_t seed) {
  double *v = malloc(sizeof(double) * (size_t)(n ? n : 1));
  cr_assert_not_null(v);
  for (int64_t i = 0; i < n; i++) v[i] = (float)(lo + (hi - lo) * (double)(splitmix(&seed) >> 11) * 0x1.0p-53);
  return v;
}

/* An arena tensor of dt on dev holding v (real dt). */
static lr_tensor *upload(const double *v, lr_dtype dt, lr_device dev, int nd, const int64_t *sh) {
  lr_tensor *t;
  cr_assert_eq(lr_empty_on(dt, dev, nd, sh, &t), LR_OK, "%s", lr_last_error());
  int64_t n = lr_numel(t);
  size_t es = lr_dtype_size(dt);
  void *h = malloc((size_t)(n ? n : 1) * es);
  cr_assert_not_null(h);
  for (int64_t i = 0; i < n; i++) {
    if (dt == LR_DTYPE_F32) ((float *)h)[i] = (float)v[i];
    else if (dt == LR_DTYPE_F64) ((double *)h)[i] = v[i];
    else ((int64_t *)h)[i] = (int64_t)v[i];
  }
  if (n) cr_assert_eq(lr_tensor_copy_from_host(t, h, (size_t)n * es), LR_OK, "%s", lr_last_error());
  free(h);
  return t;
}

/* Components of t (any device, any strides) as doubles; *n gets their count. */
static double *to_host(const lr_tensor *t, int64_t *n) {
  lr_tensor *h;
  cr_assert_eq(lr_empty_on(t->dtype, LR_DEVICE_CPU, t->ndim, t->shape, &h), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_tensor_copy_(h, t), LR_OK, "%s", lr_last_error());
  int nc = lr_dtype_is_complex(t->dtype) ? 2 : 1;
  bool single = t->dtype == LR_DTYPE_F32 || t->dtype == LR_DTYPE_C64;
  int64_t m = lr_numel(h) * nc;
  double *d = malloc(sizeof(double) * (size_t)(m ? m : 1));
  cr_assert_not_null(d);
  for (int64_t i = 0; i < m; i++) d[i] = single ? (double)((float *)h->data)[i] : ((double *)h->data)[i];
  *n = m;
  return d;
}

/* ---- one run: forward + backward, everything copied to the host ---- */
#define MAXT 96
typedef struct {
  int n;
  char name[MAXT][LR_NAME_MAX];
  double *v[MAXT]; /* NULL: no gradient */
  int64_t len[MAXT];
} snap;

static void snap_add(snap *s, const char *name, const lr_tensor *t) {
  cr_assert(s->n < MAXT, "more than %d tensors", MAXT);
  snprintf(s->name[s->n], LR_NAME_MAX, "%s", name);
  s->v[s->n] = t ? to_host(t, &s->len[s->n]) : NULL;
  if (!t) s->len[s->n] = 0;
  s->n++;
}

static void snap_free(snap *s) {
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  s->n = 0;
}

typedef struct {
  const double *x, *tau, *w, *len; /* host inputs; tau, len may be NULL */
  dims d;
  lr_dtype dt;
} inputs;

static lr_status run(const lr_model_def *def, lr_module *m, const inputs *in, lr_device dev, snap *out) {
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  memset(out, 0, sizeof *out);
  const dims d = in->d;
  lr_tensor *x = upload(in->x, in->dt, dev, LR_SHAPE(d.B, d.L, d.H)), *tau = NULL, *len = NULL, *y;
  if (in->tau) tau = upload(in->tau, in->dt, dev, LR_SHAPE(d.B, d.L));
  if (in->len) len = upload(in->len, LR_DTYPE_I64, dev, LR_SHAPE(d.B));
  x->requires_grad = true;
  LR_TRY(lr_module_zero_grad(m));
  bool prev = lr_set_grad_enabled(true);
  lr_status s = def->forward(m, x, tau, len, &y);
  lr_tensor *w = NULL;
  if (s == LR_OK) {
    w = upload(in->w, y->dtype, dev, y->ndim, y->shape);
    s = lr_backward(y, w);
  }
  lr_set_grad_enabled(prev);
  if (s == LR_OK) {
    snap_add(out, "y", y);
    snap_add(out, "grad.x", x->grad);
    lr_param_list pl;
    cr_assert_eq(lr_module_list(m, LR_VISIT_PARAMS, &pl), LR_OK);
    for (int i = 0; i < pl.n; i++) {
      char nm[LR_NAME_MAX + 8];
      snprintf(nm, sizeof nm, "grad.%s", pl.items[i].name);
      snap_add(out, nm, pl.items[i].param->t->grad);
    }
    lr_param_list_free(&pl);
  }
  lr_arena_rewind(a, mk);
  return s;
}

/* ---- comparison, collected into a report ---- */
typedef struct {
  char text[8192];
  int failures;
} report;

static void note(report *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(report *r, const char *fmt, ...) {
  size_t k = strlen(r->text);
  if (k + 1 >= sizeof r->text) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->text + k, sizeof r->text - k, fmt, ap);
  va_end(ap);
}

/* max |b - a| / max |a| (NaN anywhere in b: inf); a is the reference. */
static double rel_err(const double *a, const double *b, int64_t n) {
  double mx = 0, e = 0;
  for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(a[i]));
  for (int64_t i = 0; i < n; i++) e = fmax(e, isnan(b[i]) || isnan(a[i]) ? INFINITY : fabs(b[i] - a[i]));
  return mx > 0 ? e / mx : e;
}

static void compare_snaps(report *r, const char *what, const snap *ref, const snap *got, double tol_y, double tol_g) {
  if (ref->n != got->n) {
    note(r, "\n  %s: %d tensors on the CPU, %d on the GPU", what, ref->n, got->n);
    r->failures++;
    return;
  }
  double worst_y = 0, worst_g = 0;
  for (int i = 0; i < ref->n; i++) {
    bool is_y = i == 0;
    double tol = is_y ? tol_y : tol_g;
    if (!ref->v[i] != !got->v[i]) {
      note(r, "\n  %s %s: gradient on the %s only", what, ref->name[i], ref->v[i] ? "CPU" : "GPU");
      r->failures++;
      continue;
    }
    if (!ref->v[i]) continue;
    if (ref->len[i] != got->len[i]) {
      note(r, "\n  %s %s: %lld components on the CPU, %lld on the GPU", what, ref->name[i], (long long)ref->len[i],
           (long long)got->len[i]);
      r->failures++;
      continue;
    }
    double e = rel_err(ref->v[i], got->v[i], ref->len[i]);
    if (is_y) worst_y = fmax(worst_y, e);
    else worst_g = fmax(worst_g, e);
    if (!(e <= tol)) {
      note(r, "\n  %s %s: max|gpu - cpu| / max|cpu| = %.3g > %.0e", what, ref->name[i], e, tol);
      r->failures++;
    }
  }
  note(r, "\n  %s: y %.2g, worst gradient %.2g (tol %.0e / %.0e)", what, worst_y, worst_g, tol_y, tol_g);
}

static void same_bits(report *r, const snap *a, const snap *b) {
  for (int i = 0; i < a->n && i < b->n; i++) {
    if (!a->v[i] || !b->v[i] || a->len[i] != b->len[i]) continue;
    if (memcmp(a->v[i], b->v[i], sizeof(double) * (size_t)a->len[i])) {
      note(r, "\n  determinism: %s differs between two GPU runs (max rel %.3g)", a->name[i],
           rel_err(a->v[i], b->v[i], a->len[i]));
      r->failures++;
    }
  }
}

/* ---- the model for a case ---- */
static lr_status create(const lr_model_def *def, const char *args, lr_module **m) {
  cJSON *js = cJSON_Parse(args);
  cr_assert_not_null(js, "bad JSON %s", args);
  lr_status s = def->create(js, m);
  cJSON_Delete(js);
  return s;
}

static bool guess_args(const lr_model_def *def, const mcase *c, char *args, size_t n, char *why, size_t nw) {
  dims d = dims_of(c);
  const char *dt = c->f64 ? "float64" : "float32";
  for (int k = 0; k < 3; k++) {
    if (k == 0)
      snprintf(args, n, "{\"d_model\": %lld, \"d_state\": %lld, \"transposed\": false, \"dtype\": \"%s\"}",
               (long long)d.H, (long long)d.N, dt);
    else if (k == 1)
      snprintf(args, n, "{\"d_model\": %lld, \"d_state\": %lld, \"dtype\": \"%s\"}", (long long)d.H, (long long)d.N, dt);
    else
      snprintf(args, n, "{\"d_model\": %lld, \"dtype\": \"%s\"}", (long long)d.H, dt);
    lr_module *m;
    if (create(def, args, &m) == LR_OK) {
      lr_module_free(m);
      return true;
    }
    snprintf(why, nw, "%s", lr_last_error());
  }
  return false;
}

/* Parameters of a and b (same architecture) hold the same bits. */
static void same_params(report *r, lr_module *a, lr_module *b) {
  lr_param_list pa, pb;
  cr_assert_eq(lr_module_list(a, LR_VISIT_ALL, &pa), LR_OK);
  cr_assert_eq(lr_module_list(b, LR_VISIT_ALL, &pb), LR_OK);
  cr_assert_eq(pa.n, pb.n);
  lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
  for (int i = 0; i < pa.n; i++) {
    int64_t na, nb;
    double *va = to_host(pa.items[i].param->t, &na), *vb = to_host(pb.items[i].param->t, &nb);
    if (pb.items[i].param->t->device != gdev || na != nb || memcmp(va, vb, sizeof(double) * (size_t)na)) {
      note(r, "\n  lr_module_to: %s is not the same on the GPU", pa.items[i].name);
      r->failures++;
    }
    free(va);
    free(vb);
  }
  lr_arena_rewind(lr_arena_current(), mk);
  lr_param_list_free(&pa);
  lr_param_list_free(&pb);
}

/* GPU: stepping the cache through all L steps gives the forward's y[:, t]. */
static void check_step(report *r, const lr_model_def *def, lr_module *m, const inputs *in, double tol) {
  if (!def->step) return;
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  const dims d = in->d;
  bool prev = lr_set_grad_enabled(false);
  lr_tensor *x = upload(in->x, in->dt, gdev, LR_SHAPE(d.B, d.L, d.H)), *tau = NULL, *y;
  if (in->tau) tau = upload(in->tau, in->dt, gdev, LR_SHAPE(d.B, d.L));
  lr_status s = def->forward(m, x, tau, NULL, &y);
  if (s != LR_OK) {
    note(r, "\n  step: the GPU forward failed: %s", lr_last_error());
    r->failures++;
    lr_set_grad_enabled(prev);
    lr_arena_rewind(a, mk);
    return;
  }
  int64_t ny;
  double *yv = to_host(y, &ny), err = 0, mx = 0;
  int64_t per_t = ny / (d.B * d.L); /* y (B, L, ...) */
  for (int64_t i = 0; i < ny; i++) mx = fmax(mx, fabs(yv[i]));
  void *cache = NULL;
  if (def->allocate_cache) s = def->allocate_cache(m, d.B, d.L, &cache);
  for (int64_t t = 0; s == LR_OK && t < d.L; t++) {
    lr_arena_mark ms = lr_arena_get_mark(a);
    lr_tensor *xs, *xt, *xc, *ts = NULL, *yt;
    s = lr_tensor_narrow(x, 1, t, 1, &xs);
    if (s == LR_OK) s = lr_tensor_squeeze(xs, 1, &xt);
    if (s == LR_OK) s = lr_contiguous(xt, &xc);
    if (s == LR_OK && tau) {
      lr_tensor *t1, *t2;
      s = lr_tensor_narrow(tau, 1, t, 1, &t1);
      if (s == LR_OK) s = lr_tensor_squeeze(t1, 1, &t2);
      if (s == LR_OK) s = lr_contiguous(t2, &ts);
    }
    if (s == LR_OK) s = def->step(m, cache, xc, ts, &yt);
    if (s == LR_OK && (yt->device != gdev || lr_numel(yt) != d.B * per_t)) {
      note(r, "\n  step: y_t at t = %lld is on %s with %lld elements, expected the GPU and %lld", (long long)t,
           lr_device_name(yt->device), (long long)lr_numel(yt), (long long)(d.B * per_t));
      r->failures++;
      lr_arena_rewind(a, ms);
      break;
    }
    if (s == LR_OK) {
      int64_t nt;
      double *v = to_host(yt, &nt);
      for (int64_t b = 0; b < d.B; b++)
        for (int64_t j = 0; j < per_t; j++) {
          double f = yv[(b * d.L + t) * per_t + j], g = v[b * per_t + j];
          err = fmax(err, isnan(g) ? INFINITY : fabs(g - f));
        }
      free(v);
    }
    lr_arena_rewind(a, ms);
  }
  if (s != LR_OK) {
    note(r, "\n  step on the GPU failed: %s", lr_last_error());
    r->failures++;
  } else {
    double e = mx > 0 ? err / mx : err;
    note(r, "\n  step vs forward (GPU): %.2g (tol %.0e)", e, tol);
    if (!(e <= tol)) {
      note(r, " FAILED");
      r->failures++;
    }
  }
  if (cache && def->free_cache) def->free_cache(m, cache);
  free(yv);
  lr_set_grad_enabled(prev);
  lr_arena_rewind(a, mk);
}

/* GPU: the step recorded once as a graph (tensor/graph.h) on fixed input and output buffers, then
 * replayed for every t, gives the eager step's y_t bit for bit (the same kernels on the same
 * data). The eager step runs on a second cache beside it. */
typedef struct {
  const lr_model_def *def;
  lr_module *m;
  void *cache;
  lr_tensor *x, *tau, *y; /* (B, H), (B) or NULL, y_t's shape: persistent */
} gstep;

static lr_status graph_step(void *p) {
  gstep *g = p;
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  lr_tensor *yt;
  lr_status s = g->def->step(g->m, g->cache, g->x, g->tau, &yt);
  if (s == LR_OK) s = lr_tensor_copy_(g->y, yt);
  lr_arena_rewind(a, mk);
  return s;
}

/* x[:, t] (B, L, ...) as a contiguous (B, ...) tensor in the arena */
static lr_status slice_t(lr_tensor *x, int64_t t, lr_tensor **out) {
  lr_tensor *xs, *xt;
  LR_TRY(lr_tensor_narrow(x, 1, t, 1, &xs));
  LR_TRY(lr_tensor_squeeze(xs, 1, &xt));
  return lr_contiguous(xt, out);
}

static void check_graph(report *r, const lr_model_def *def, lr_module *m, const inputs *in) {
  if (!def->step) return;
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  const dims d = in->d;
  bool prev = lr_set_grad_enabled(false);
  lr_tensor *x = upload(in->x, in->dt, gdev, LR_SHAPE(d.B, d.L, d.H)), *tau = NULL, *x0, *t0 = NULL, *y0;
  if (in->tau) tau = upload(in->tau, in->dt, gdev, LR_SHAPE(d.B, d.L));
  gstep g = {def, m, NULL, NULL, NULL, NULL};
  void *ce = NULL, *cw = NULL; /* the eager step's cache; a warm-up cache (lazy set-up before the capture) */
  lr_graph *gr = NULL;
  double err = 0;
  int64_t nd = 0;
  /* one eager step first: y_t's shape, and lazy set-up (cuBLAS, plans) before the capture */
  lr_status s = slice_t(x, 0, &x0);
  if (s == LR_OK && tau) s = slice_t(tau, 0, &t0);
  if (s == LR_OK && def->allocate_cache) s = def->allocate_cache(m, d.B, d.L, &cw);
  if (s == LR_OK) s = def->step(m, cw, x0, t0, &y0);
  if (s == LR_OK && def->allocate_cache) s = def->allocate_cache(m, d.B, d.L, &g.cache);
  if (s == LR_OK && def->allocate_cache) s = def->allocate_cache(m, d.B, d.L, &ce);
  if (s == LR_OK) s = lr_tensor_new(x0->dtype, gdev, x0->ndim, x0->shape, &g.x);
  if (s == LR_OK && t0) s = lr_tensor_new(t0->dtype, gdev, t0->ndim, t0->shape, &g.tau);
  if (s == LR_OK) s = lr_tensor_new(y0->dtype, gdev, y0->ndim, y0->shape, &g.y);
  if (s == LR_OK) s = lr_graph_capture(gdev, graph_step, &g, &gr);
  for (int64_t t = 0; s == LR_OK && t < d.L; t++) {
    lr_arena_mark ms = lr_arena_get_mark(a);
    lr_tensor *xt, *tt = NULL, *ye;
    s = slice_t(x, t, &xt);
    if (s == LR_OK && tau) s = slice_t(tau, t, &tt);
    if (s == LR_OK) s = lr_tensor_copy_(g.x, xt);
    if (s == LR_OK && tau) s = lr_tensor_copy_(g.tau, tt);
    if (s == LR_OK) s = lr_graph_replay(gr);
    if (s == LR_OK) s = def->step(m, ce, xt, tt, &ye);
    if (s == LR_OK) {
      int64_t n1, n2;
      double *v1 = to_host(g.y, &n1), *v2 = to_host(ye, &n2);
      if (n1 != n2) err = INFINITY;
      for (int64_t i = 0; i < n1 && i < n2; i++)
        if (memcmp(&v1[i], &v2[i], sizeof(double))) err = fmax(err, isnan(v1[i]) ? INFINITY : fabs(v1[i] - v2[i])), nd++;
      free(v1);
      free(v2);
    }
    lr_arena_rewind(a, ms);
  }
  if (s != LR_OK) {
    note(r, "\n  step as a graph failed: %s", lr_last_error());
    r->failures++;
  } else {
    note(r, "\n  step as a graph vs the eager step (GPU): %lld values differ, by up to %.2g", (long long)nd, err);
    if (nd) {
      note(r, " FAILED");
      r->failures++;
    }
  }
  lr_graph_free(gr);
  if (def->free_cache) {
    if (cw) def->free_cache(m, cw);
    if (ce) def->free_cache(m, ce);
    if (g.cache) def->free_cache(m, g.cache);
  }
  lr_tensor_free(g.x);
  lr_tensor_free(g.tau);
  lr_tensor_free(g.y);
  lr_set_grad_enabled(prev);
  lr_arena_rewind(a, mk);
}

/* GPU: y with lengths equals y without on t < len and is 0 (S7: x) on t >= len. */
static void check_lengths_prefix(report *r, const char *model, const snap *with, const snap *without, const inputs *in,
                                 double tol, bool known) {
  const dims d = in->d;
  int64_t n = with->len[0], per_t = n / (d.B * d.L);
  if (n != without->len[0] || per_t * d.B * d.L != n) return;
  bool residual = !strcmp(model, "S7");
  double mx = 0, e_pre = 0, e_post = 0;
  for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(without->v[0][i]));
  for (int64_t b = 0; b < d.B; b++)
    for (int64_t t = 0; t < d.L; t++)
      for (int64_t j = 0; j < per_t; j++) {
        int64_t i = (b * d.L + t) * per_t + j;
        double g = with->v[0][i];
        if (t < (int64_t)in->len[b]) e_pre = fmax(e_pre, isnan(g) ? INFINITY : fabs(g - without->v[0][i]));
        else e_post = fmax(e_post, isnan(g) ? INFINITY : fabs(g - (residual ? in->x[i] : 0.0)));
      }
  e_pre = mx > 0 ? e_pre / mx : e_pre;
  note(r, "\n  lengths (GPU): prefix vs no lengths %.2g (tol %.0e), past the length %.2g", e_pre, tol, e_post);
  if (!(e_pre <= tol)) {
    note(r, " PREFIX FAILED");
    r->failures++;
  }
  if (known && !(e_post <= tol * fmax(mx, 1.0))) {
    note(r, " PAST-LENGTH FAILED (expected %s)", residual ? "x" : "0");
    r->failures++;
  }
}

ParameterizedTest(mcase *c, models_cuda, parity, .init = on_gpu, .timeout = 600) {
  const lr_model_def *def = lr_model_find(c->model);
  if (!def) cr_skip_test("%s: not registered", c->model);
  char args[sizeof c->args], why[512] = "";
  bool known = c->args[0] != 0;
  if (known) snprintf(args, sizeof args, "%s", c->args);
  else if (!guess_args(def, c, args, sizeof args, why, sizeof why))
    cr_skip_test("%s: no guessed arguments build it (%s); add it to this test's table", c->label, why);

  const dims d = dims_of(c);
  const lr_dtype dt = c->f64 ? LR_DTYPE_F64 : LR_DTYPE_F32;
  const double tol_y = c->f64 ? 1e-9 : 5e-4, tol_g = c->f64 ? 1e-9 : 2e-3, tol_s = c->f64 ? 1e-9 : 5e-4;
  lr_module *mc, *mg;
  cr_assert_eq(create(def, args, &mc), LR_OK, "%s: create %s: %s", c->label, args, lr_last_error());
  cr_assert_eq(create(def, args, &mg), LR_OK, "%s: %s", c->label, lr_last_error());
  cr_assert_eq(lr_module_to(mg, gdev), LR_OK, "%s: lr_module_to: %s", c->label, lr_last_error());
  report r = {.text = ""};
  same_params(&r, mc, mg);

  uint64_t seed = 1000 + (uint64_t)strlen(c->label) * 31 + (uint64_t)c->label[0];
  double *x = rand_host(d.B * d.L * d.H, -1, 1, seed), *tau = c->event ? rand_host(d.B * d.L, 0.5, 2.0, seed + 1) : NULL;
  /* w: as large as any output (Mamba's and S4D's outputs have H features; others too) */
  double *w = rand_host(d.B * d.L * d.H * 4, -1, 1, seed + 2);
  double len[3] = {(double)d.L, d.B == 3 ? (double)(d.L / 2) : (double)(d.L - 5), 1};
  inputs in = {x, tau, w, NULL, d, dt};

  snap cpu, gpu, gpu2;
  lr_status s = run(def, mc, &in, LR_DEVICE_CPU, &cpu);
  if (s != LR_OK && !known) cr_skip_test("%s: the CPU forward with guessed args %s failed: %s", c->label, args, lr_last_error());
  cr_assert_eq(s, LR_OK, "%s: CPU run: %s", c->label, lr_last_error());
  s = run(def, mg, &in, gdev, &gpu);
  cr_assert_eq(s, LR_OK, "%s: GPU forward/backward failed: %s", c->label, lr_last_error());
  compare_snaps(&r, "no lengths", &cpu, &gpu, tol_y, tol_g);
  cr_assert_eq(run(def, mg, &in, gdev, &gpu2), LR_OK, "%s: second GPU run: %s", c->label, lr_last_error());
  same_bits(&r, &gpu, &gpu2);
  snap_free(&gpu2);

  /* lengths */
  inputs il = in;
  il.len = len;
  snap cl, gl;
  s = run(def, mc, &il, LR_DEVICE_CPU, &cl);
  if (s == LR_OK) {
    lr_status sg = run(def, mg, &il, gdev, &gl);
    if (sg != LR_OK) {
      note(&r, "\n  lengths: the GPU run failed: %s", lr_last_error());
      r.failures++;
    } else {
      compare_snaps(&r, "lengths", &cl, &gl, tol_y, tol_g);
      check_lengths_prefix(&r, c->model, &gl, &gpu, &il, tol_s, known);
      snap_free(&gl);
    }
    snap_free(&cl);
  } else {
    note(&r, "\n  lengths: not supported on the CPU either (%s): skipped", lr_last_error());
  }

  if (!c->long_size) check_step(&r, def, mg, &in, tol_s);
  if (!c->long_size) check_graph(&r, def, mg, &in);

  fprintf(stderr, "[models_cuda] %s (%s):%s\n", c->label, args, r.text);
  snap_free(&cpu);
  snap_free(&gpu);
  free(x);
  free(tau);
  free(w);
  lr_module_free(mc);
  lr_module_free(mg);
  cr_assert(r.failures == 0, "%s: %d failure(s):%s", c->label, r.failures, r.text);
}

/* ---- the reference cases through `lrnnx layer --device cuda` ---- */
typedef struct {
  char dir[256];
  char name[200]; /* "" when no folder was found */
  int step;
} fixture_case;

static const char *fixture_dir(void) {
  const char *e = getenv("LR_FIXTURES");
  if (e && *e) return e;
  static const char *const dirs[] = {"/work/shared/fixtures/lrnnx", "../shared/fixtures/lrnnx", "shared/fixtures/lrnnx",
                                     NULL};
  for (int i = 0; dirs[i]; i++) {
    DIR *d = opendir(dirs[i]);
    if (d) {
      closedir(d);
      return dirs[i];
    }
  }
  return NULL;
}

static int cmp_case(const void *a, const void *b) {
  const fixture_case *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : x->step - y->step;
}

ParameterizedTestParameters(models_cuda, fixtures) {
  int n = 0, cap = 16;
  fixture_case *v = cr_malloc(sizeof *v * (size_t)cap);
  const char *dir = fixture_dir();
  DIR *d = dir ? opendir(dir) : NULL;
  for (struct dirent *e; d && (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len <= 5 || strcmp(e->d_name + len - 5, ".json") || len - 5 >= sizeof v->name) continue;
    for (int step = 0; step < 2; step++) {
      if (n == cap) {
        fixture_case *w = cr_malloc(sizeof *w * (size_t)cap * 2);
        memcpy(w, v, sizeof *v * (size_t)n);
        cr_free(v);
        v = w;
        cap *= 2;
      }
      memset(&v[n], 0, sizeof v[n]);
      snprintf(v[n].dir, sizeof v[n].dir, "%s", dir);
      memcpy(v[n].name, e->d_name, len - 5);
      v[n++].step = step;
    }
  }
  if (d) closedir(d);
  if (n == 0) n = 1; /* one empty case, which skips */
  qsort(v, (size_t)n, sizeof *v, cmp_case);
  return cr_make_param_array(fixture_case, v, (size_t)n);
}

static char *slurp(const char *path) {
  FILE *f = fopen(path, "rb");
  cr_assert_not_null(f, "cannot open %s", path);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *s = malloc((size_t)n + 1);
  cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
  s[n] = 0;
  fclose(f);
  return s;
}

static bool is_input(const char *name) {
  return !strcmp(name, "x") || !strcmp(name, "g") || !strcmp(name, "integration_timesteps") || !strcmp(name, "lengths");
}

ParameterizedTest(fixture_case *c, models_cuda, fixtures, .init = on_gpu, .timeout = 600) {
  if (!c->name[0])
    cr_skip_test("no fixtures: set LR_FIXTURES or provide /work/shared/fixtures/lrnnx, ../shared/fixtures/lrnnx or "
                 "shared/fixtures/lrnnx");
  char json_path[512], weights[512], io[512], out[512];
  snprintf(json_path, sizeof json_path, "%s/%s.json", c->dir, c->name);
  snprintf(weights, sizeof weights, "%s/%s.weights.safetensors", c->dir, c->name);
  snprintf(io, sizeof io, "%s/%s.io.safetensors", c->dir, c->name);
  snprintf(out, sizeof out, "/tmp/lr_fixture_cuda_%s_%d_%d.safetensors", c->name, c->step, (int)getpid());
  char *text = slurp(json_path);
  cJSON *js = cJSON_Parse(text);
  cr_assert_not_null(js, "%s is not JSON", json_path);
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(js, "model");
  cr_assert(cJSON_IsString(model), "%s: no \"model\"", json_path);
  const lr_model_def *def = lr_model_find(model->valuestring);
  if (!def) cr_skip_test("%s: model %s is not registered yet", c->name, model->valuestring);
  if (c->step && !def->step) cr_skip_test("%s: model %s has no step mode", c->name, model->valuestring);
  char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(js, "args"));
  cr_assert_not_null(args);

  char *argv[] = {"layer", "--model", model->valuestring, "--args",  args,     "--weights", weights, "--io",
                  io,      "--out",   out,                "--device", gdev == LR_DEVICE_CPU ? "cpu" : "cuda", "--mode",    c->step ? "step" : "forward"};
  char *o, *e;
  size_t no, ne;
  FILE *fo = open_memstream(&o, &no), *fe = open_memstream(&e, &ne);
  int rc = lr_tool_layer((int)(sizeof argv / sizeof argv[0]), argv, fo, fe);
  fclose(fo);
  fclose(fe);
  cr_assert_eq(rc, 0, "%s (%s, cuda): lrnnx layer failed: %s", c->name, c->step ? "step" : "forward", e);

  lr_safetensors_file *ref, *got;
  cr_assert_eq(lr_safetensors_open(io, &ref), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_open(out, &got), LR_OK, "%s", lr_last_error());
  lr_safetensors_info xi;
  cr_assert_eq(lr_safetensors_info_of(ref, "x", &xi), LR_OK);
  double tol = xi.ndim >= 2 && xi.shape[1] > 2048 ? 5e-3 : 2e-3;
  int compared = 0;
  char failures[4096] = "", margins[2048] = "";
  for (int i = 0; i < lr_safetensors_count(ref); i++) {
    const char *name = lr_safetensors_name(ref, i);
    if (is_input(name)) continue;
    if (c->step && strcmp(name, "y")) continue;
    lr_tensor *r, *g;
    cr_assert_eq(lr_safetensors_get(ref, name, &r), LR_OK, "%s", lr_last_error());
    if (lr_safetensors_get(got, name, &g) != LR_OK) {
      size_t k = strlen(failures);
      snprintf(failures + k, sizeof failures - k, "\n  %s: not in the output", name);
      lr_tensor_free(r);
      continue;
    }
    double dmax = 0, rmax = 0;
    if (!lr_same_shape(r, g)) {
      char a[128], b[128];
      size_t k = strlen(failures);
      snprintf(failures + k, sizeof failures - k, "\n  %s: shape %s, reference %s", name,
               lr_shape_str(g->ndim, g->shape, a, sizeof a), lr_shape_str(r->ndim, r->shape, b, sizeof b));
    } else {
      for (int64_t j = 0; j < lr_numel(r); j++) {
        double rv = lr_tensor_get(r, j), gv = lr_tensor_get(g, j);
        dmax = fmax(dmax, isnan(gv) ? INFINITY : fabs(gv - rv));
        rmax = fmax(rmax, fabs(rv));
      }
      size_t k = strlen(margins);
      snprintf(margins + k, sizeof margins - k, " %s %.2g", name, rmax > 0 ? dmax / rmax : dmax);
      if (!(dmax <= tol * rmax)) {
        k = strlen(failures);
        snprintf(failures + k, sizeof failures - k, "\n  %s: max|out - ref| = %.3g > %.0e * max|ref| = %.3g", name, dmax,
                 tol, tol * rmax);
      }
    }
    compared++;
    lr_tensor_free(r);
    lr_tensor_free(g);
  }
  lr_safetensors_close(ref);
  lr_safetensors_close(got);
  unlink(out);
  fprintf(stderr, "[models_cuda fixtures] %s (%s, cuda): relative errors%s\n", c->name, c->step ? "step" : "forward",
          margins);
  cr_assert(compared > 0, "%s: nothing to compare", c->name);
  cr_assert(!failures[0], "%s (%s on cuda, model %s):%s", c->name, c->step ? "step" : "forward", model->valuestring,
            failures);
  free(o);
  free(e);
  cJSON_free(args);
  cJSON_Delete(js);
  free(text);
}

#else
Test(models_cuda, not_built) { cr_skip_test("built without CUDA"); }
#endif
