/* `lrnnx layer`: runs one registered model (nn/registry.h) on the inputs of an io file and writes
 * its output and gradients, the contract of ../shared/fixtures/lrnnx/FORMAT.md:
 *
 *   lrnnx layer --model NAME --args JSON --weights W --io IO --out OUT [--device cpu|cuda]
 *               [--mode forward|step]
 *
 * 1. builds the model from the JSON constructor arguments (lrnnx's keyword arguments);
 * 2. loads W strictly (nn/checkpoint.h): a missing, unexpected or mis-shaped tensor fails;
 * 3. switches it to eval mode and, with --device cuda, moves it to the GPU;
 * 4. reads x, and integration_timesteps / lengths / g when present, from IO. Floating inputs are
 *    converted to the precision of the model's parameters (an f64 model takes the f32 fixtures);
 * 5. forward: y = forward(x, integration_timesteps, lengths); with g, backward of sum(g * y)
 *    (lr_backward(y, g): the same gradient) gives grad.x and grad.<name> for every parameter that
 *    received a gradient, named as in the checkpoint (complex LR_PARAM_REAL_VIEW ones as real
 *    (..., 2) views, as PyTorch's grad of the real parameter);
 *    step: the cache is allocated for (B, L), then y[:, t] = step(x[:, t], integration_timesteps[:,
 *    t]) for t = 0..L-1 with grad mode off; the arena is rewound after every step.
 * 6. writes y (and the gradients) to OUT.
 * Exit codes: 0 done; 1 the work failed (unknown model, bad JSON, bad model arguments, files,
 * tensors), with one message on err; 2 bad usage (unknown or repeated flags, missing values or
 * required flags, a bad --device or --mode), with the usage line.
 */
#include <stdlib.h>
#include <string.h>

#include "nn/checkpoint.h"
#include "nn/registry.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "tensor/safetensors.h"
#include "tools/tools.h"

#define USAGE                                                                                                      \
  "usage: lrnnx layer --model NAME --args JSON --weights W --io IO --out OUT [--device cpu|cuda] [--mode " \
  "forward|step]\n"

typedef struct {
  const char *model, *args, *weights, *io, *out, *device, *mode;
} layer_opts;

static int usage_error(FILE *err, const char *fmt, const char *a, const char *b) {
  fprintf(err, "lrnnx layer: ");
  fprintf(err, fmt, a, b);
  fprintf(err, "\n" USAGE);
  return 2;
}

static int parse(int argc, char **argv, layer_opts *o, FILE *err) {
  static const char *const names[] = {"model", "args", "weights", "io", "out", "device", "mode"};
  memset(o, 0, sizeof *o);
  const char **slots[] = {&o->model, &o->args, &o->weights, &o->io, &o->out, &o->device, &o->mode};
  for (int k = 1; k < argc; k++) {
    const char *a = argv[k];
    if (strncmp(a, "--", 2)) return usage_error(err, "unexpected argument \"%s\"%s", a, "");
    const char *eq = strchr(a, '=');
    size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
    int which = -1;
    for (int i = 0; i < 7; i++)
      if (strlen(names[i]) == len && !strncmp(a + 2, names[i], len)) which = i;
    if (which < 0) return usage_error(err, "unknown flag \"%s\"%s", a, "");
    const char *v = eq ? eq + 1 : NULL;
    if (!v) {
      if (k + 1 >= argc) return usage_error(err, "%s needs a value%s", a, "");
      v = argv[++k];
    }
    if (*slots[which]) return usage_error(err, "--%s given twice%s", names[which], "");
    *slots[which] = v;
  }
  if (!o->model) return usage_error(err, "--model is required%s%s", "", "");
  if (!o->weights) return usage_error(err, "--weights is required%s%s", "", "");
  if (!o->io) return usage_error(err, "--io is required%s%s", "", "");
  if (!o->out) return usage_error(err, "--out is required%s%s", "", "");
  if (!o->args) o->args = "{}";
  if (!o->device) o->device = "cpu";
  if (!o->mode) o->mode = "forward";
  if (strcmp(o->device, "cpu") && strcmp(o->device, "cuda"))
    return usage_error(err, "--device is \"%s\", expected cpu or cuda%s", o->device, "");
  if (strcmp(o->mode, "forward") && strcmp(o->mode, "step"))
    return usage_error(err, "--mode is \"%s\", expected forward or step%s", o->mode, "");
  return 0;
}

/* ---- inputs ---- */
static lr_status first_real_dtype(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)name, (void)owner;
  if (lr_dtype_is_float(p->t->dtype)) {
    *(lr_dtype *)ctx = lr_dtype_real(p->t->dtype);
    return LR_ERR_STATE; /* stop the walk */
  }
  return LR_OK;
}

/* Tensor name of f as a new persistent tensor on dev; a real floating entry is converted to
 * `real` (F32 or F64) when that is given (not LR_DTYPE_COUNT). */
static lr_status read_input(const lr_safetensors_file *f, const char *name, lr_dtype real, lr_device dev,
                            lr_tensor **out) {
  lr_tensor *h;
  LR_TRY(lr_safetensors_get(f, name, &h));
  bool convert = real != LR_DTYPE_COUNT && h->dtype != real &&
                 (h->dtype == LR_DTYPE_F32 || h->dtype == LR_DTYPE_F64);
  lr_status s = LR_OK;
  if (convert) {
    lr_tensor *c;
    s = lr_tensor_new(real, LR_DEVICE_CPU, h->ndim, h->shape, &c);
    if (s == LR_OK) {
      int64_t n = lr_numel(h);
      for (int64_t i = 0; i < n; i++) {
        double v = h->dtype == LR_DTYPE_F32 ? ((float *)h->data)[i] : ((double *)h->data)[i];
        if (real == LR_DTYPE_F32) ((float *)c->data)[i] = (float)v;
        else ((double *)c->data)[i] = v;
      }
      lr_tensor_free(h);
      h = c;
    }
  }
  if (s == LR_OK && dev != LR_DEVICE_CPU) {
    lr_tensor *d;
    s = lr_tensor_new(h->dtype, dev, h->ndim, h->shape, &d);
    if (s == LR_OK) s = lr_tensor_copy_(d, h);
    if (s != LR_OK) lr_tensor_free(d);
    else {
      lr_tensor_free(h);
      h = d;
    }
  }
  if (s != LR_OK) {
    lr_tensor_free(h);
    return s;
  }
  *out = h;
  return LR_OK;
}

/* ---- outputs ---- */
typedef struct {
  int n, cap;
  char **names;
  const lr_tensor **ts;
  lr_tensor *views; /* real views of complex gradients, one slot per entry */
} out_list;

static lr_status out_add(out_list *o, const char *name, const lr_tensor *t, bool real_view) {
  if (o->n == o->cap) {
    int cap = o->cap ? 2 * o->cap : 16;
    char **nm = realloc(o->names, (size_t)cap * sizeof *nm);
    if (nm) o->names = nm;
    const lr_tensor **ts = realloc(o->ts, (size_t)cap * sizeof *ts);
    if (ts) o->ts = ts;
    lr_tensor *v = realloc(o->views, (size_t)cap * sizeof *v);
    if (v) o->views = v;
    if (!nm || !ts || !v) return lr_fail(LR_ERR_MEMORY, "lrnnx layer: out of memory");
    o->cap = cap;
  }
  char *nm = malloc(strlen(name) + 1);
  if (!nm) return lr_fail(LR_ERR_MEMORY, "lrnnx layer: out of memory");
  strcpy(nm, name);
  if (real_view && lr_dtype_is_complex(t->dtype) && t->ndim < LR_MAX_DIMS) {
    lr_tensor *v = &o->views[o->n];
    memset(v, 0, sizeof *v);
    v->dtype = lr_dtype_real(t->dtype);
    v->device = t->device;
    v->ndim = t->ndim + 1;
    for (int i = 0; i < t->ndim; i++) {
      v->shape[i] = t->shape[i];
      v->strides[i] = 2 * t->strides[i];
    }
    v->shape[t->ndim] = 2;
    v->strides[t->ndim] = 1;
    v->data = t->data;
    t = v;
  }
  o->names[o->n] = nm;
  o->ts[o->n++] = t;
  return LR_OK;
}

static void out_free(out_list *o) {
  for (int i = 0; i < o->n; i++) free(o->names[i]);
  free(o->names);
  free(o->ts);
  free(o->views);
}

typedef struct {
  out_list *o;
} grad_ctx;

static lr_status grad_cb(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)owner;
  if (!p->t->grad) return LR_OK;
  char full[LR_NAME_MAX + 8];
  snprintf(full, sizeof full, "grad.%s", name);
  return out_add(((grad_ctx *)ctx)->o, full, p->t->grad, (p->flags & LR_PARAM_REAL_VIEW) != 0);
}

/* ---- the run ---- */
typedef struct {
  const lr_model_def *def;
  lr_module *m;
  lr_device dev;
  lr_tensor *x, *dt, *lengths, *g; /* persistent */
  lr_tensor *y_host;               /* step mode: (B, L, ...) on the host */
  void *cache;
  bool has_cache;
  out_list outs;
} run_state;

static lr_status run_forward(run_state *r) {
  if (r->g && lr_dtype_is_float(r->x->dtype)) LR_TRY(lr_requires_grad_(r->x, true));
  lr_set_grad_enabled(r->g != NULL);
  lr_tensor *y;
  LR_TRY(r->def->forward(r->m, r->x, r->dt, r->lengths, &y));
  if (r->g) {
    char a[160], b[160];
    if (!lr_same_shape(r->g, y))
      return lr_fail(LR_ERR_SHAPE, "lrnnx layer: g is %s but y is %s", lr_shape_str(r->g->ndim, r->g->shape, a, sizeof a),
                     lr_shape_str(y->ndim, y->shape, b, sizeof b));
    if (r->g->dtype != y->dtype)
      return lr_fail(LR_ERR_DTYPE, "lrnnx layer: g is %s but y is %s", lr_dtype_name(r->g->dtype), lr_dtype_name(y->dtype));
    if (!y->requires_grad)
      return lr_fail(LR_ERR_STATE, "lrnnx layer: %s's output does not depend on x or any parameter: no gradients",
                     r->def->name);
    LR_TRY(lr_backward(y, r->g));
  }
  lr_set_grad_enabled(false);
  if (y->device != LR_DEVICE_CPU && !lr_is_contiguous(y)) LR_TRY(lr_contiguous(y, &y));
  LR_TRY(out_add(&r->outs, "y", y, false));
  if (r->x->grad) LR_TRY(out_add(&r->outs, "grad.x", r->x->grad, false));
  grad_ctx c = {&r->outs};
  return lr_module_visit(r->m, LR_VISIT_PARAMS, grad_cb, &c);
}

/* x[:, t] as a contiguous tensor on dev (x on the host). */
static lr_status time_slice(const lr_tensor *x, int64_t t, lr_device dev, lr_tensor **out) {
  lr_tensor *v, *s, *c;
  LR_TRY(lr_tensor_narrow(x, 1, t, 1, &v));
  LR_TRY(lr_tensor_squeeze(v, 1, &s));
  LR_TRY(lr_tensor_contiguous_raw(s, &c));
  if (dev == LR_DEVICE_CPU) {
    *out = c;
    return LR_OK;
  }
  return lr_to(c, dev, out);
}

static lr_status run_step(run_state *r, const char *io_path) {
  const char *name = r->def->name;
  if (!r->def->step) return lr_fail(LR_ERR_UNSUPPORTED, "lrnnx layer: model %s has no step mode", name);
  lr_tensor *x = r->x;
  char b[160];
  if (x->ndim < 2)
    return lr_fail(LR_ERR_SHAPE, "lrnnx layer: %s: x is %s, step mode needs (B, L, ...)", io_path,
                   lr_shape_str(x->ndim, x->shape, b, sizeof b));
  if (r->dt && (r->dt->ndim < 2 || r->dt->shape[0] != x->shape[0] || r->dt->shape[1] != x->shape[1]))
    return lr_fail(LR_ERR_SHAPE, "lrnnx layer: %s: integration_timesteps is %s, x is (B, L) = (%lld, %lld, ...)", io_path,
                   lr_shape_str(r->dt->ndim, r->dt->shape, b, sizeof b), (long long)x->shape[0], (long long)x->shape[1]);
  int64_t B = x->shape[0], L = x->shape[1];
  lr_set_grad_enabled(false);
  if (r->def->allocate_cache) {
    LR_TRY(r->def->allocate_cache(r->m, B, L, &r->cache));
    r->has_cache = true;
  }
  lr_arena *a = lr_arena_current();
  for (int64_t t = 0; t < L; t++) {
    lr_arena_mark mk = lr_arena_get_mark(a);
    lr_tensor *x_t, *dt_t = NULL, *y_t, *y_c;
    lr_status s = time_slice(x, t, r->dev, &x_t);
    if (s == LR_OK && r->dt) s = time_slice(r->dt, t, r->dev, &dt_t);
    if (s == LR_OK) s = r->def->step(r->m, r->cache, x_t, dt_t, &y_t);
    if (s == LR_OK && (y_t->ndim < 1 || y_t->ndim >= LR_MAX_DIMS || y_t->shape[0] != B))
      s = lr_fail(LR_ERR_SHAPE, "lrnnx layer: %s's step gave y_t %s at t = %lld, expected (B, ...) with B = %lld", name,
                  lr_shape_str(y_t->ndim, y_t->shape, b, sizeof b), (long long)t, (long long)B);
    if (s == LR_OK && !r->y_host) {
      int64_t shape[LR_MAX_DIMS] = {B, L};
      for (int d = 1; d < y_t->ndim; d++) shape[d + 1] = y_t->shape[d];
      s = lr_tensor_new(y_t->dtype, LR_DEVICE_CPU, y_t->ndim + 1, shape, &r->y_host);
    }
    if (s == LR_OK) s = y_t->device == LR_DEVICE_CPU ? lr_tensor_contiguous_raw(y_t, &y_c) : lr_to(y_t, LR_DEVICE_CPU, &y_c);
    lr_tensor *dst, *dsq;
    if (s == LR_OK) s = lr_tensor_narrow(r->y_host, 1, t, 1, &dst);
    if (s == LR_OK) s = lr_tensor_squeeze(dst, 1, &dsq);
    if (s == LR_OK && (s = lr_tensor_copy_(dsq, y_c)) != LR_OK)
      s = lr_fail(s, "lrnnx layer: %s's step at t = %lld: %s", name, (long long)t, lr_last_error());
    lr_arena_rewind(a, mk);
    if (s != LR_OK) return s;
  }
  if (!r->y_host) {
    /* L = 0: no step ran; an empty y of x's (B, 0) and no feature dims. */
    LR_TRY(lr_tensor_new(x->dtype, LR_DEVICE_CPU, 2, (const int64_t[]){B, 0}, &r->y_host));
  }
  return out_add(&r->outs, "y", r->y_host, false);
}

static int fail(FILE *err, const char *what) {
  fprintf(err, "lrnnx layer: %s%s%s\n", what ? what : "", what ? ": " : "", lr_last_error());
  return 1;
}

int lr_tool_layer(int argc, char **argv, FILE *out, FILE *err) {
  layer_opts o;
  int rc = parse(argc, argv, &o, err);
  if (rc) return rc;

  const lr_model_def *def = lr_model_find(o.model);
  if (!def) {
    char names[1024];
    fprintf(err, "lrnnx layer: unknown model \"%s\" (known: %s)\n", o.model, lr_model_names(names, sizeof names));
    return 1;
  }
  const char *end = NULL;
  cJSON *args = cJSON_ParseWithOpts(o.args, &end, 1);
  if (!args) {
    size_t pos = end && end >= o.args ? (size_t)(end - o.args) : 0;
    fprintf(err, "lrnnx layer: --args is not valid JSON: error at offset %zu (near \"%.20s\") in '%s'\n", pos,
            end ? end : "", o.args);
    return 1;
  }
  if (!cJSON_IsObject(args)) {
    fprintf(err, "lrnnx layer: --args must be a JSON object ({\"d_model\": 16, ...}), got '%s'\n", o.args);
    cJSON_Delete(args);
    return 1;
  }

  lr_arena *arena = NULL;
  if (lr_arena_new(0, &arena) != LR_OK) {
    cJSON_Delete(args);
    return fail(err, NULL);
  }
  lr_arena *prev_arena = lr_arena_use(arena);
  bool prev_grad = lr_set_grad_enabled(true);
  run_state r = {.def = def, .dev = strcmp(o.device, "cuda") ? LR_DEVICE_CPU : LR_DEVICE_CUDA};
  lr_safetensors_file *io = NULL;
  rc = 1;
  char what[600];

  if (def->create(args, &r.m) != LR_OK) {
    rc = fail(err, NULL);
    goto cleanup;
  }
  if (lr_module_load(r.m, o.weights, LR_LOAD_STRICT, NULL) != LR_OK) {
    rc = fail(err, NULL);
    goto cleanup;
  }
  lr_module_train(r.m, false);
  if (r.dev != LR_DEVICE_CPU && lr_module_to(r.m, r.dev) != LR_OK) {
    rc = fail(err, "--device cuda");
    goto cleanup;
  }
  if (lr_safetensors_open(o.io, &io) != LR_OK) {
    rc = fail(err, NULL);
    goto cleanup;
  }
  lr_safetensors_info info;
  if (lr_safetensors_info_of(io, "x", &info) != LR_OK) {
    fprintf(err, "lrnnx layer: the io file %s has no tensor \"x\"\n", o.io);
    goto cleanup;
  }
  lr_dtype real = LR_DTYPE_COUNT;
  (void)lr_module_visit(r.m, LR_VISIT_PARAMS, first_real_dtype, &real);
  bool step = !strcmp(o.mode, "step");
  /* Step mode slices x on the host and uploads each step. */
  lr_device in_dev = step ? LR_DEVICE_CPU : r.dev;
  const char *inputs[] = {"x", "integration_timesteps", "lengths", "g"};
  lr_tensor **slots[] = {&r.x, &r.dt, &r.lengths, &r.g};
  for (int i = 0; i < 4; i++) {
    if (i > 0 && lr_safetensors_info_of(io, inputs[i], &info) != LR_OK) continue;
    if (i == 3 && step) continue; /* no gradients in step mode */
    lr_dtype want = i == 2 ? LR_DTYPE_COUNT : real;
    lr_device dev = i <= 1 ? in_dev : r.dev;
    if (read_input(io, inputs[i], want, dev, slots[i]) != LR_OK) {
      snprintf(what, sizeof what, "reading \"%s\" from %s", inputs[i], o.io);
      rc = fail(err, what);
      goto cleanup;
    }
  }
  lr_status s = step ? run_step(&r, o.io) : run_forward(&r);
  if (s != LR_OK) {
    snprintf(what, sizeof what, "%s %s on %s", def->name, o.mode, o.device);
    rc = fail(err, what);
    goto cleanup;
  }
  const char *meta[] = {"model", def->name, "mode", o.mode, "device", o.device, NULL};
  if (lr_safetensors_save(o.out, r.outs.n, (const char *const *)r.outs.names, r.outs.ts, meta) != LR_OK) {
    rc = fail(err, NULL);
    goto cleanup;
  }
  char shape[160];
  const lr_tensor *y = r.outs.ts[0];
  fprintf(out, "lrnnx layer: %s %s on %s: y %s, %d gradient%s -> %s\n", def->name, o.mode, o.device,
          lr_shape_str(y->ndim, y->shape, shape, sizeof shape), r.outs.n - 1, r.outs.n == 2 ? "" : "s", o.out);
  rc = 0;

cleanup:
  if (r.has_cache && def->free_cache) def->free_cache(r.m, r.cache);
  out_free(&r.outs);
  lr_tensor_free(r.x);
  lr_tensor_free(r.dt);
  lr_tensor_free(r.lengths);
  lr_tensor_free(r.g);
  lr_tensor_free(r.y_host);
  lr_module_free(r.m);
  lr_safetensors_close(io);
  lr_set_grad_enabled(prev_grad);
  lr_arena_use(prev_arena);
  lr_arena_free(arena);
  cJSON_Delete(args);
  return rc;
}
