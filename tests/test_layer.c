/* `lrnnx layer` end to end on synthetic files written here:
 * - Linear (the registry's test model): y and every gradient against lr_linear run directly with
 *   the same weights (same kernels: agreement to f32 rounding of differently shaped GEMMs);
 *   step mode of a stateless model equals the forward;
 * - "TestCumSum", a stateful model registered at run time (y = scale * cumsum_t(dt * x)): step mode
 *   with a cache (allocated, used, freed) and integration_timesteps equals the forward, and its
 *   gradients match the same ops run directly;
 * - every error path with its exit code: usage (2), unknown model, bad JSON, bad model arguments,
 *   missing / unexpected / mis-shaped weights, a missing x, a wrong g, no step mode, unwritable
 *   OUT (1); --device cuda either works (a GPU) and matches the CPU, or fails with a message. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/checkpoint.h"
#include "nn/registry.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "tensor/rng.h"
#include "tensor/safetensors.h"
#include "tools/tools.h"

typedef struct {
  int rc;
  char *out, *err;
} result;

static result run(const char *const *args) {
  char *argv[40] = {"layer"};
  int argc = 1;
  while (args[argc - 1]) {
    argv[argc] = (char *)args[argc - 1];
    argc++;
  }
  result r;
  size_t no, ne;
  FILE *out = open_memstream(&r.out, &no), *err = open_memstream(&r.err, &ne);
  cr_assert(out && err);
  r.rc = lr_tool_layer(argc, argv, out, err);
  fclose(out);
  fclose(err);
  return r;
}
#define RUN(...) run((const char *const[]){__VA_ARGS__, NULL})
static void done(result r) {
  free(r.out);
  free(r.err);
}
/* Exit code rc and err containing needle. */
#define EXPECT(call, code, needle)                                                                 \
  do {                                                                                             \
    result r_ = (call);                                                                            \
    cr_assert_eq(r_.rc, (code), "rc %d, err: %s", r_.rc, r_.err);                                   \
    cr_assert(strstr(r_.err, (needle)), "expected \"%s\" in: %s", (const char *)(needle), r_.err); \
    done(r_);                                                                                      \
  } while (0)

static const char *tmp(const char *tag) {
  static char buf[16][256];
  static int k;
  char *b = buf[k++ % 16];
  snprintf(b, 256, "/tmp/lr_layer_%s_%d.safetensors", tag, (int)getpid());
  return b;
}

static lr_tensor *randn(int ndim, const int64_t *shape, uint64_t seed) {
  lr_tensor *t;
  lr_rng r;
  lr_rng_init(&r, seed);
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, ndim, shape, &t), LR_OK);
  cr_assert_eq(lr_rand_normal_(t, 0, 1, &r), LR_OK);
  return t;
}

static void save(const char *path, int n, const char *const *names, lr_tensor *const *ts) {
  cr_assert_eq(lr_safetensors_save(path, n, names, (const lr_tensor *const *)ts, NULL), LR_OK, "%s", lr_last_error());
}

/* max |a - b| / max |b| over all elements (b the reference). */
static double rel_err(const lr_tensor *a, const lr_tensor *b) {
  cr_assert(lr_same_shape(a, b));
  double d = 0, m = 0;
  for (int64_t i = 0; i < lr_numel(b); i++) {
    d = fmax(d, fabs(lr_tensor_get(a, i) - lr_tensor_get(b, i)));
    m = fmax(m, fabs(lr_tensor_get(b, i)));
  }
  return m > 0 ? d / m : d;
}

static lr_tensor *get(const char *path, const char *name) {
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  lr_tensor *t;
  cr_assert_eq(lr_safetensors_get(f, name, &t), LR_OK, "%s", lr_last_error());
  lr_safetensors_close(f);
  return t;
}

static int count(const char *path) {
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK);
  int n = lr_safetensors_count(f);
  lr_safetensors_close(f);
  return n;
}

/* Linear 3 -> 4: weights W (4, 3), b (4); io x (2, 5, 3), g (2, 5, 4). */
typedef struct {
  lr_tensor *W, *b, *x, *g;
  const char *weights, *io, *io_nog;
} linear_case;

static linear_case linear_files(void) {
  linear_case c;
  c.W = randn(LR_SHAPE(4, 3), 1);
  c.b = randn(LR_SHAPE(4), 2);
  c.x = randn(LR_SHAPE(2, 5, 3), 3);
  c.g = randn(LR_SHAPE(2, 5, 4), 4);
  c.weights = tmp("lin_w");
  c.io = tmp("lin_io");
  c.io_nog = tmp("lin_io_nog");
  save(c.weights, 2, (const char *const[]){"weight", "bias"}, (lr_tensor *const[]){c.W, c.b});
  save(c.io, 2, (const char *const[]){"x", "g"}, (lr_tensor *const[]){c.x, c.g});
  save(c.io_nog, 1, (const char *const[]){"x"}, (lr_tensor *const[]){c.x});
  return c;
}

static void linear_free(linear_case *c) {
  lr_tensor_free(c->W);
  lr_tensor_free(c->b);
  lr_tensor_free(c->x);
  lr_tensor_free(c->g);
  unlink(c->weights);
  unlink(c->io);
  unlink(c->io_nog);
}

#define LIN_ARGS "{\"in_features\": 3, \"out_features\": 4}"

/* f32 GEMMs of different shapes (the whole (10, 3) batch vs per-row calls) round differently. */
#define TOL 1e-6

Test(layer, linear_forward_and_gradients) {
  linear_case c = linear_files();
  const char *out = tmp("lin_out");
  result r = RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", c.io, "--out", out);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "Linear forward on cpu: y (2, 5, 4), 3 gradients"), "%s", r.out);
  done(r);
  cr_assert_eq(count(out), 4, "y, grad.x, grad.weight, grad.bias");

  /* The same computation directly. */
  lr_tensor *W, *b, *x;
  cr_assert_eq(lr_tensor_clone_persistent(c.W, &W), LR_OK);
  cr_assert_eq(lr_tensor_clone_persistent(c.b, &b), LR_OK);
  cr_assert_eq(lr_tensor_clone_persistent(c.x, &x), LR_OK);
  lr_requires_grad_(W, true);
  lr_requires_grad_(b, true);
  lr_requires_grad_(x, true);
  lr_tensor *y;
  cr_assert_eq(lr_linear(x, W, b, &y), LR_OK);
  cr_assert_eq(lr_backward(y, c.g), LR_OK);
  const char *names[] = {"y", "grad.x", "grad.weight", "grad.bias"};
  const lr_tensor *want[] = {y, x->grad, W->grad, b->grad};
  for (int i = 0; i < 4; i++) {
    lr_tensor *got = get(out, names[i]);
    cr_assert_eq(got->dtype, LR_DTYPE_F32);
    double e = rel_err(got, want[i]);
    cr_assert(e <= TOL, "%s: relative error %g", names[i], e);
    lr_tensor_free(got);
  }
  /* Against hand-computed values for one element: y[1, 2, 3] = sum_k x[1,2,k] W[3,k] + b[3]. */
  lr_tensor *yo = get(out, "y");
  double acc = lr_tensor_get(c.b, 3);
  for (int k = 0; k < 3; k++) acc += lr_tensor_get(c.x, (1 * 5 + 2) * 3 + k) * lr_tensor_get(c.W, 3 * 3 + k);
  cr_assert(fabs(lr_tensor_get(yo, (1 * 5 + 2) * 4 + 3) - acc) < 1e-5);
  lr_tensor_free(yo);
  lr_tensor_free(W);
  lr_tensor_free(b);
  lr_tensor_free(x);
  linear_free(&c);
  unlink(out);
}

Test(layer, linear_step_equals_forward) {
  linear_case c = linear_files();
  const char *o1 = tmp("lin_f"), *o2 = tmp("lin_s");
  result r = RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", c.io_nog, "--out", o1);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "0 gradients"), "%s", r.out);
  done(r);
  /* Step mode ignores g (no gradients), and takes the flags in any order, with --flag=value. */
  r = RUN("--mode=step", "--io", c.io, "--out", o2, "--model", "Linear", "--weights", c.weights, "--args=" LIN_ARGS);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  cr_assert(strstr(r.out, "Linear step on cpu: y (2, 5, 4), 0 gradients"), "%s", r.out);
  done(r);
  cr_assert_eq(count(o2), 1);
  lr_tensor *yf = get(o1, "y"), *ys = get(o2, "y");
  cr_assert(rel_err(ys, yf) <= TOL, "step vs forward: %g", rel_err(ys, yf));
  lr_tensor_free(yf);
  lr_tensor_free(ys);
  linear_free(&c);
  unlink(o1);
  unlink(o2);
}

/* ---- a stateful model registered at run time: y = scale * cumsum_t(dt * x) ---- */
typedef struct {
  lr_module base;
  lr_tensor *scale; /* (H,) */
} cumsum_module;

static lr_status cs_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"d_model", NULL};
  int64_t H;
  LR_TRY(lr_args_check(args, "TestCumSum", known));
  LR_TRY(lr_args_int(args, "TestCumSum", "d_model", 3, &H));
  lr_module *m;
  LR_TRY(lr_module_new(sizeof(cumsum_module), "TestCumSum", &m));
  lr_status s = lr_module_add_param(m, "scale", LR_DTYPE_F32, LR_SHAPE(H), &((cumsum_module *)m)->scale);
  if (s != LR_OK) lr_module_free(m);
  else *out = m;
  return s;
}

static lr_status cs_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)lengths;
  lr_tensor *u = x, *d, *c;
  if (dt) {
    LR_TRY(lr_unsqueeze(dt, -1, &d));
    LR_TRY(lr_mul(x, d, &u));
  }
  LR_TRY(lr_cumsum(u, 1, &c));
  return lr_mul(c, ((cumsum_module *)m)->scale, y);
}

static int n_caches; /* live caches: the tool must free what it allocates */

static lr_status cs_alloc(lr_module *m, int64_t B, int64_t L, void **cache) {
  (void)L;
  lr_tensor *h;
  LR_TRY(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(B, ((cumsum_module *)m)->scale->shape[0]), &h));
  n_caches++;
  *cache = h;
  return LR_OK;
}

static void cs_free(lr_module *m, void *cache) {
  (void)m;
  lr_tensor_free(cache);
  n_caches--;
}

static lr_status cs_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  lr_tensor *h = cache, *u = x_t, *d, *hn;
  if (dt_t) {
    LR_TRY(lr_unsqueeze(dt_t, -1, &d));
    LR_TRY(lr_mul(x_t, d, &u));
  }
  LR_TRY(lr_add(h, u, &hn));
  LR_TRY(lr_tensor_copy_(h, hn));
  return lr_mul(hn, ((cumsum_module *)m)->scale, y_t);
}

static const lr_model_def cumsum_def = {"TestCumSum", "d_model=3", cs_create, cs_forward, cs_step, cs_alloc, cs_free};
static const lr_model_def nostep_def = {"TestNoStep", "d_model=3", cs_create, cs_forward, NULL, NULL, NULL};

static void register_test_models(void) {
  if (!lr_model_find("TestCumSum")) cr_assert_eq(lr_model_register(&cumsum_def), LR_OK);
  if (!lr_model_find("TestNoStep")) cr_assert_eq(lr_model_register(&nostep_def), LR_OK);
}

Test(layer, stateful_step_with_timesteps_equals_forward) {
  register_test_models();
  lr_tensor *scale = randn(LR_SHAPE(3), 5), *x = randn(LR_SHAPE(2, 7, 3), 6), *g = randn(LR_SHAPE(2, 7, 3), 7);
  lr_tensor *dt = randn(LR_SHAPE(2, 7), 8);
  const char *w = tmp("cs_w"), *io = tmp("cs_io"), *of = tmp("cs_f"), *os = tmp("cs_s");
  save(w, 1, (const char *const[]){"scale"}, (lr_tensor *const[]){scale});
  save(io, 3, (const char *const[]){"x", "integration_timesteps", "g"}, (lr_tensor *const[]){x, dt, g});
  result r = RUN("--model", "TestCumSum", "--args", "{\"d_model\": 3}", "--weights", w, "--io", io, "--out", of);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  done(r);
  r = RUN("--model", "TestCumSum", "--args", "{}", "--weights", w, "--io", io, "--out", os, "--mode", "step");
  cr_assert_eq(r.rc, 0, "%s", r.err);
  done(r);
  cr_assert_eq(n_caches, 0, "the cache was freed");
  lr_tensor *yf = get(of, "y"), *ys = get(os, "y");
  /* Sums in a different order (running sum vs cumsum kernel): f32 rounding of 7 terms. */
  cr_assert(rel_err(ys, yf) <= 1e-6, "step vs forward: %g", rel_err(ys, yf));
  /* Gradients: the same ops directly. */
  lr_tensor *sc, *xx;
  cr_assert_eq(lr_tensor_clone_persistent(scale, &sc), LR_OK);
  cr_assert_eq(lr_tensor_clone_persistent(x, &xx), LR_OK);
  lr_requires_grad_(sc, true);
  lr_requires_grad_(xx, true);
  lr_tensor *d, *u, *c, *y;
  cr_assert_eq(lr_unsqueeze(dt, -1, &d), LR_OK);
  cr_assert_eq(lr_mul(xx, d, &u), LR_OK);
  cr_assert_eq(lr_cumsum(u, 1, &c), LR_OK);
  cr_assert_eq(lr_mul(c, sc, &y), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK);
  cr_assert(rel_err(yf, y) <= 1e-6);
  lr_tensor *gx = get(of, "grad.x"), *gs = get(of, "grad.scale");
  cr_assert(rel_err(gx, xx->grad) <= 1e-6, "grad.x %g", rel_err(gx, xx->grad));
  cr_assert(rel_err(gs, sc->grad) <= 1e-6, "grad.scale %g", rel_err(gs, sc->grad));
  cr_assert_eq(count(of), 3, "y, grad.x, grad.scale; no gradient for integration_timesteps");
  lr_tensor *all[] = {scale, x, g, dt, yf, ys, sc, xx, gx, gs};
  for (int i = 0; i < 10; i++) lr_tensor_free(all[i]);
  unlink(w), unlink(io), unlink(of), unlink(os);
}

Test(layer, usage_errors_exit_2) {
  linear_case c = linear_files();
  const char *o = tmp("u_out");
  EXPECT(run((const char *const[]){NULL}), 2, "--model is required");
  EXPECT(RUN("--model", "Linear", "--weights", c.weights, "--io", c.io, "--out", o, "--frob", "1"), 2,
         "unknown flag \"--frob\"");
  EXPECT(RUN("--model", "Linear", "--weights", c.weights, "--io", c.io, "--out"), 2, "--out needs a value");
  EXPECT(RUN("--model", "Linear", "--weights", c.weights, "--out", o), 2, "--io is required");
  EXPECT(RUN("--model", "Linear", "--io", c.io, "--out", o), 2, "--weights is required");
  EXPECT(RUN("--model", "Linear", "--weights", c.weights, "--io", c.io), 2, "--out is required");
  EXPECT(RUN("--model", "Linear", "--weights", c.weights, "--io", c.io, "--out", o, "--device", "tpu"), 2,
         "--device is \"tpu\", expected cpu or cuda");
  EXPECT(RUN("--model", "Linear", "--weights", c.weights, "--io", c.io, "--out", o, "--mode", "train"), 2,
         "--mode is \"train\", expected forward or step");
  EXPECT(RUN("--model", "Linear", "--model", "Linear", "--weights", c.weights, "--io", c.io, "--out", o), 2,
         "--model given twice");
  EXPECT(RUN("Linear", "--weights", c.weights), 2, "unexpected argument \"Linear\"");
  /* Each usage error prints the usage line. */
  result r = RUN("--mode", "x");
  cr_assert(strstr(r.err, "usage: lrnnx layer --model NAME --args JSON"), "%s", r.err);
  done(r);
  /* Through the dispatcher: help, and the command listed. */
  size_t n1, n2;
  char *out, *err;
  FILE *fo = open_memstream(&out, &n1), *fe = open_memstream(&err, &n2);
  cr_assert_eq(lr_tool_main(3, (char *[]){"lrnnx", "layer", "--help"}, fo, fe), 0);
  cr_assert_eq(lr_tool_main(2, (char *[]){"lrnnx", "--help"}, fo, fe), 0);
  fclose(fo);
  fclose(fe);
  cr_assert(strstr(out, "usage: lrnnx layer --model NAME --args JSON --weights W --io IO --out OUT"), "%s", out);
  cr_assert(strstr(out, "\n  layer --model NAME"), "%s", out);
  free(out);
  free(err);
  linear_free(&c);
}

Test(layer, work_errors_exit_1) {
  register_test_models();
  linear_case c = linear_files();
  const char *o = tmp("e_out");
#define L(...) RUN("--model", "Linear", "--weights", c.weights, "--io", c.io, "--out", o, __VA_ARGS__)
  EXPECT(RUN("--model", "Nope", "--weights", c.weights, "--io", c.io, "--out", o), 1,
         "unknown model \"Nope\" (known: Linear, ");
  EXPECT(L("--args", "{\"in_features\": 3,"), 1, "--args is not valid JSON: error at offset");
  EXPECT(L("--args", "{\"in_features\": 3} x"), 1, "error at offset 19 (near \"x\")");
  EXPECT(L("--args", "[3, 4]"), 1, "--args must be a JSON object");
  EXPECT(L("--args", "{\"in_featurs\": 3, \"out_features\": 4}"), 1,
         "Linear: unknown argument 'in_featurs' (known: in_features, out_features, bias, dtype, seed)");
  EXPECT(L("--args", "{\"in_features\": 3}"), 1, "Linear: argument 'out_features' is required");
  EXPECT(L("--args", "{\"in_features\": \"3\", \"out_features\": 4}"), 1,
         "Linear: argument 'in_features' must be an integer, got \"3\"");
  EXPECT(L("--args", "{\"in_features\": 3.5, \"out_features\": 4}"), 1, "must be an integer, got 3.5");
  EXPECT(L("--args", "{\"in_features\": 3, \"out_features\": 4, \"bias\": 1}"), 1, "must be true or false, got 1");
  EXPECT(L("--args", "{\"in_features\": 3, \"out_features\": 4, \"dtype\": \"half\"}"), 1,
         "argument 'dtype' is \"half\", expected one of float32, float64");
  /* Weights: a model without bias finds an unexpected tensor; a wider one a shape mismatch. */
  char want[512];
  snprintf(want, sizeof want, "lr_module_load(%s): unexpected: bias", c.weights);
  EXPECT(L("--args", "{\"in_features\": 3, \"out_features\": 4, \"bias\": false}"), 1, want);
  snprintf(want, sizeof want, "lr_module_load(%s): shape mismatch: bias (file (4,), model (5,)), weight (file (4, 3), model (5, 3))",
           c.weights);
  EXPECT(L("--args", "{\"in_features\": 3, \"out_features\": 5}"), 1, want);
  const char *w1 = tmp("w_nobias");
  save(w1, 1, (const char *const[]){"weight"}, (lr_tensor *const[]){c.W});
  snprintf(want, sizeof want, "lr_module_load(%s): missing: bias", w1);
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", w1, "--io", c.io, "--out", o), 1, want);
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", "/nonexistent.safetensors", "--io", c.io, "--out", o),
         1, "/nonexistent.safetensors");
  /* io: no x; x of the wrong width; g of the wrong shape. */
  const char *io1 = tmp("io_nox"), *io2 = tmp("io_wide"), *io3 = tmp("io_badg");
  save(io1, 1, (const char *const[]){"g"}, (lr_tensor *const[]){c.g});
  lr_tensor *xw = randn(LR_SHAPE(2, 5, 6), 9);
  save(io2, 1, (const char *const[]){"x"}, (lr_tensor *const[]){xw});
  save(io3, 2, (const char *const[]){"x", "g"}, (lr_tensor *const[]){c.x, c.x});
  snprintf(want, sizeof want, "the io file %s has no tensor \"x\"", io1);
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", io1, "--out", o), 1, want);
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", io2, "--out", o), 1,
         "Linear forward on cpu: lr_linear_forward: x is (2, 5, 6), expected last dim in_features = 3");
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", io3, "--out", o), 1,
         "g is (2, 5, 3) but y is (2, 5, 4)");
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", "/nonexistent_io", "--out", o), 1,
         "/nonexistent_io");
  /* No step mode. */
  lr_tensor *sc = randn(LR_SHAPE(3), 10);
  const char *w2 = tmp("w_ns");
  save(w2, 1, (const char *const[]){"scale"}, (lr_tensor *const[]){sc});
  EXPECT(RUN("--model", "TestNoStep", "--weights", w2, "--io", c.io, "--out", o, "--mode", "step"), 1,
         "model TestNoStep has no step mode");
  /* OUT that cannot be written. */
  EXPECT(L("--args", LIN_ARGS, "--out", "/nonexistent/dir/out.safetensors"), 2, "--out given twice");
  EXPECT(RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", c.io, "--out",
             "/nonexistent/dir/out.safetensors"),
         1, "cannot create /nonexistent/dir/out.safetensors");
  cr_assert(access(o, F_OK) != 0, "no OUT is written by a failed run");
#undef L
  lr_tensor_free(xw);
  lr_tensor_free(sc);
  unlink(w1), unlink(w2), unlink(io1), unlink(io2), unlink(io3);
  linear_free(&c);
}

Test(layer, device_cuda_matches_cpu_or_says_why) {
  linear_case c = linear_files();
  const char *o1 = tmp("dev_cpu"), *o2 = tmp("dev_cuda");
  result r = RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", c.io, "--out", o1);
  cr_assert_eq(r.rc, 0, "%s", r.err);
  done(r);
  r = RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", c.io, "--out", o2, "--device", "cuda");
  if (r.rc != 0) {
    /* No GPU (the move fails), or no CUDA kernel yet for an op of the model: a message that
     * says which. */
    cr_assert_eq(r.rc, 1, "%s", r.err);
    cr_assert(strstr(r.err, "lrnnx layer: --device cuda: ") || strstr(r.err, "lrnnx layer: Linear forward on cuda: "),
              "%s", r.err);
    fprintf(stderr, "device_cuda: %s", r.err);
    done(r);
  } else {
    done(r);
    const char *names[] = {"y", "grad.x", "grad.weight", "grad.bias"};
    for (int i = 0; i < 4; i++) {
      lr_tensor *a = get(o2, names[i]), *b = get(o1, names[i]);
      /* cuBLAS vs OpenBLAS f32 GEMMs: rounding only. */
      cr_assert(rel_err(a, b) <= 1e-5, "%s: cuda vs cpu %g", names[i], rel_err(a, b));
      lr_tensor_free(a);
      lr_tensor_free(b);
    }
    r = RUN("--model", "Linear", "--args", LIN_ARGS, "--weights", c.weights, "--io", c.io, "--out", o2, "--device",
            "cuda", "--mode", "step");
    cr_assert_eq(r.rc, 0, "%s", r.err);
    done(r);
    lr_tensor *a = get(o2, "y"), *b = get(o1, "y");
    cr_assert(rel_err(a, b) <= 1e-5, "cuda step vs cpu forward %g", rel_err(a, b));
    lr_tensor_free(a);
    lr_tensor_free(b);
    unlink(o2);
  }
  linear_free(&c);
  unlink(o1);
}
