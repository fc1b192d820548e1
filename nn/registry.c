/* The model registry and the constructor-argument helpers; see registry.h.
 *
 * The static table lists the models compiled into nn/; run-time registrations (tests) follow it.
 * "Linear" is registered here as the smallest complete entry: it lets the `lrnnx layer` command
 * and its tests run end to end before any sequence model exists.
 */
#include "nn/registry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nn/linear.h"

/* ---- Linear, the test model ---- */
static lr_status linear_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {"in_features", "out_features", "bias", "dtype", "seed", NULL};
  const char *M = "Linear";
  int64_t in, outf, seed;
  bool bias;
  lr_dtype dt;
  LR_TRY(lr_args_check(args, M, known));
  LR_TRY(lr_args_require(args, M, "in_features"));
  LR_TRY(lr_args_require(args, M, "out_features"));
  LR_TRY(lr_args_int(args, M, "in_features", 0, &in));
  LR_TRY(lr_args_int(args, M, "out_features", 0, &outf));
  LR_TRY(lr_args_bool(args, M, "bias", true, &bias));
  LR_TRY(lr_args_dtype(args, M, "dtype", LR_DTYPE_F32, &dt));
  LR_TRY(lr_args_int(args, M, "seed", 0, &seed));
  if (in < 1 || outf < 1)
    return lr_fail(LR_ERR_ARG, "Linear: in_features %lld and out_features %lld must be >= 1", (long long)in,
                   (long long)outf);
  lr_rng rng;
  lr_rng_init(&rng, (uint64_t)seed);
  lr_linear_module *l;
  LR_TRY(lr_linear_new(NULL, NULL, in, outf, bias, dt, &rng, &l));
  *out = &l->base;
  return LR_OK;
}

static lr_status linear_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)dt, (void)lengths; /* position-wise: neither time steps nor lengths change a row */
  return lr_linear_forward((lr_linear_module *)m, x, y);
}

static lr_status linear_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)cache, (void)dt_t;
  return lr_linear_forward((lr_linear_module *)m, x_t, y_t);
}

const lr_model_def lr_model_linear = {"Linear", "in_features, out_features, bias=true, dtype=\"float32\", seed=0",
                                      linear_create, linear_forward, linear_step, NULL, NULL};

/* ---- the table ---- */
static const lr_model_def *const builtin[] = {
    &lr_model_linear,
    &lr_model_lru,
    &lr_model_s5_lti,
    &lr_model_s4d,
    &lr_model_mamba,
    &lr_model_s5,
    &lr_model_rglru,
    &lr_model_s7,
    &lr_model_s4,
    &lr_model_centaurus,
};
#define N_BUILTIN (int)(sizeof builtin / sizeof builtin[0])
#define MAX_RUNTIME 64
static const lr_model_def *runtime[MAX_RUNTIME];
static int n_runtime;

int lr_model_count(void) { return N_BUILTIN + n_runtime; }

const lr_model_def *lr_model_at(int i) {
  if (i < 0) return NULL;
  if (i < N_BUILTIN) return builtin[i];
  return i - N_BUILTIN < n_runtime ? runtime[i - N_BUILTIN] : NULL;
}

const lr_model_def *lr_model_find(const char *name) {
  if (!name) return NULL;
  for (int i = 0; i < lr_model_count(); i++)
    if (!strcmp(lr_model_at(i)->name, name)) return lr_model_at(i);
  return NULL;
}

const char *lr_model_names(char *buf, size_t n) {
  if (!buf || !n) return buf;
  size_t k = 0;
  buf[0] = '\0';
  for (int i = 0; i < lr_model_count() && k < n; i++) {
    int w = snprintf(buf + k, n - k, i ? ", %s" : "%s", lr_model_at(i)->name);
    if (w < 0) break;
    k += (size_t)w;
  }
  return buf;
}

lr_status lr_model_register(const lr_model_def *def) {
  if (!def || !def->name || !def->create || !def->forward)
    return lr_fail(LR_ERR_ARG, "lr_model_register: a model needs a name, create and forward");
  if (lr_model_find(def->name)) return lr_fail(LR_ERR_ARG, "lr_model_register: model \"%s\" is already registered", def->name);
  if (n_runtime == MAX_RUNTIME)
    return lr_fail(LR_ERR_ARG, "lr_model_register: more than %d run-time models (\"%s\")", MAX_RUNTIME, def->name);
  runtime[n_runtime++] = def;
  return LR_OK;
}

/* ---- arguments ---- */
static const char *type_name(const cJSON *v) {
  if (cJSON_IsBool(v)) return "a boolean";
  if (cJSON_IsNumber(v)) return "a number";
  if (cJSON_IsString(v)) return "a string";
  if (cJSON_IsArray(v)) return "an array";
  if (cJSON_IsObject(v)) return "an object";
  return "null";
}

/* The value of key, or NULL when absent or null; LR_ERR_ARG when args is not an object. */
static lr_status get(const cJSON *args, const char *model, const char *key, const cJSON **v) {
  *v = NULL;
  if (!args) return LR_OK;
  if (!cJSON_IsObject(args)) return lr_fail(LR_ERR_ARG, "%s: the arguments must be a JSON object, got %s", model, type_name(args));
  const cJSON *x = cJSON_GetObjectItemCaseSensitive(args, key);
  if (x && !cJSON_IsNull(x)) *v = x;
  return LR_OK;
}

/* A short rendering of a JSON value for messages. */
static lr_status wrong_type(const char *model, const char *key, const char *want, const cJSON *v) {
  char *s = cJSON_PrintUnformatted(v);
  lr_status st = lr_fail(LR_ERR_ARG, "%s: argument '%s' must be %s, got %.80s", model, key, want, s ? s : type_name(v));
  cJSON_free(s);
  return st;
}

lr_status lr_args_check(const cJSON *args, const char *model, const char *const *known) {
  if (!args) return LR_OK;
  if (!cJSON_IsObject(args)) return lr_fail(LR_ERR_ARG, "%s: the arguments must be a JSON object, got %s", model, type_name(args));
  for (const cJSON *c = args->child; c; c = c->next) {
    bool ok = false;
    for (int i = 0; known && known[i] && !ok; i++) ok = !strcmp(c->string, known[i]);
    if (ok) continue;
    char list[512];
    size_t k = 0;
    list[0] = '\0';
    for (int i = 0; known && known[i] && k < sizeof list; i++) {
      int w = snprintf(list + k, sizeof list - k, i ? ", %s" : "%s", known[i]);
      if (w < 0) break;
      k += (size_t)w;
    }
    return lr_fail(LR_ERR_ARG, "%s: unknown argument '%s' (known: %s)", model, c->string, list);
  }
  return LR_OK;
}

lr_status lr_args_require(const cJSON *args, const char *model, const char *key) {
  const cJSON *v;
  LR_TRY(get(args, model, key, &v));
  if (!v) return lr_fail(LR_ERR_ARG, "%s: argument '%s' is required", model, key);
  return LR_OK;
}

lr_status lr_args_int(const cJSON *args, const char *model, const char *key, int64_t def, int64_t *out) {
  const cJSON *v;
  LR_TRY(get(args, model, key, &v));
  if (!v) {
    *out = def;
    return LR_OK;
  }
  double d = cJSON_IsNumber(v) ? v->valuedouble : NAN;
  if (!cJSON_IsNumber(v) || d != floor(d) || fabs(d) > 9007199254740992.0) return wrong_type(model, key, "an integer", v);
  *out = (int64_t)d;
  return LR_OK;
}

lr_status lr_args_double(const cJSON *args, const char *model, const char *key, double def, double *out) {
  const cJSON *v;
  LR_TRY(get(args, model, key, &v));
  if (!v) {
    *out = def;
    return LR_OK;
  }
  if (!cJSON_IsNumber(v)) return wrong_type(model, key, "a number", v);
  *out = v->valuedouble;
  return LR_OK;
}

lr_status lr_args_bool(const cJSON *args, const char *model, const char *key, bool def, bool *out) {
  const cJSON *v;
  LR_TRY(get(args, model, key, &v));
  if (!v) {
    *out = def;
    return LR_OK;
  }
  if (!cJSON_IsBool(v)) return wrong_type(model, key, "true or false", v);
  *out = cJSON_IsTrue(v);
  return LR_OK;
}

lr_status lr_args_string(const cJSON *args, const char *model, const char *key, const char *def, const char **out) {
  const cJSON *v;
  LR_TRY(get(args, model, key, &v));
  if (!v) {
    *out = def;
    return LR_OK;
  }
  if (!cJSON_IsString(v)) return wrong_type(model, key, "a string", v);
  *out = v->valuestring;
  return LR_OK;
}

lr_status lr_args_choice(const cJSON *args, const char *model, const char *key, const char *const *choices, int def,
                         int *out) {
  const char *s;
  LR_TRY(lr_args_string(args, model, key, NULL, &s));
  if (!s) {
    *out = def;
    return LR_OK;
  }
  char list[512];
  size_t k = 0;
  list[0] = '\0';
  for (int i = 0; choices[i]; i++) {
    if (!strcmp(s, choices[i])) {
      *out = i;
      return LR_OK;
    }
    if (k < sizeof list) {
      int w = snprintf(list + k, sizeof list - k, i ? ", %s" : "%s", choices[i]);
      if (w > 0) k += (size_t)w;
    }
  }
  return lr_fail(LR_ERR_ARG, "%s: argument '%s' is \"%.80s\", expected one of %s", model, key, s, list);
}

lr_status lr_args_dtype(const cJSON *args, const char *model, const char *key, lr_dtype def, lr_dtype *out) {
  static const char *const names[] = {"float32", "float64", "complex64", "complex128", "f32", "f64", "c64", "c128", NULL};
  static const lr_dtype dts[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128,
                                 LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};
  int i;
  LR_TRY(lr_args_choice(args, model, key, names, -1, &i));
  *out = i < 0 ? def : dts[i];
  return LR_OK;
}
