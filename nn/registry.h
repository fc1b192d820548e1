/* The model registry: every model the `lrnnx layer` command (tools/layer.c) and the fixture test
 * (tests/test_fixtures.c) can build by name, as ../shared/fixtures/lrnnx/FORMAT.md names them
 * ("LRU", "S5", "Mamba", ...).
 *
 * A model file adds itself with one definition and one line in the table of nn/registry.c:
 *
 *   // nn/lru.c
 *   const lr_model_def lr_model_lru = {"LRU", "d_model, d_state, r_min=0.0, r_max=1.0, ...",
 *                                      lru_create, lru_forward, lru_step, lru_alloc, lru_free};
 *   // nn/registry.h: extern const lr_model_def lr_model_lru;   nn/registry.c: &lr_model_lru,
 *
 * The calls, on (B, L, H) inputs (for the LM: x is (B, L) i64 token ids):
 *   create(args, &m): builds the module from lrnnx's constructor keyword arguments as a JSON
 *     object (cJSON), with lrnnx's defaults for absent or null keys; unknown keys, wrong types and
 *     bad values are LR_ERR_ARG naming the model and the key (use the lr_args_* helpers below).
 *     Initialisation draws from a fixed seed (the "seed" key when the model takes one).
 *   forward(m, x, integration_timesteps, lengths, &y): integration_timesteps (B, L) or NULL (event
 *     mode: Event-SSM, STREAM), lengths (B,) i64 or NULL. y lives in the current arena and is
 *     differentiable with respect to x and the parameters.
 *   allocate_cache(m, batch, max_len, &cache): the recurrent state for step, zeroed. It must be
 *     heap memory (persistent tensors, malloc), never the arena: callers rewind the arena between
 *     steps. free_cache(m, cache) releases it. Both NULL for a model with no state (cache NULL).
 *   step(m, cache, x_t, dt_t, &y_t): one time step: x_t = x[:, t] (B, H) (or (B,) ids), dt_t =
 *     integration_timesteps[:, t] (B,) or NULL; y_t = y[:, t] in the current arena. NULL for a model
 *     with no step mode (the Classifier).
 */
#ifndef LR_NN_REGISTRY_H
#define LR_NN_REGISTRY_H

#include <cjson/cJSON.h>

#include "nn/module.h"

typedef struct lr_model_def {
  const char *name; /* "LRU": FORMAT.md's model name */
  const char *args; /* the constructor arguments with their defaults, for help texts */
  lr_status (*create)(const cJSON *args, lr_module **out);
  lr_status (*forward)(lr_module *m, lr_tensor *x, lr_tensor *integration_timesteps, lr_tensor *lengths,
                       lr_tensor **y);
  lr_status (*step)(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t);
  lr_status (*allocate_cache)(lr_module *m, int64_t batch, int64_t max_len, void **cache);
  void (*free_cache)(lr_module *m, void *cache);
} lr_model_def;

/* The model called name (exact, case-sensitive), or NULL. */
const lr_model_def *lr_model_find(const char *name);
/* Number of registered models, and model i in registration order (NULL out of range). */
int lr_model_count(void);
const lr_model_def *lr_model_at(int i);
/* "Linear, LRU, Mamba": the registered names, comma-separated, into buf (also returned). */
const char *lr_model_names(char *buf, size_t n);
/* Adds a model at run time (tests, programs with their own models). LR_ERR_ARG for a NULL or
 * incomplete definition (name, create and forward are required) or a name already taken. The
 * definition must outlive its use; at most 64 run-time models. */
lr_status lr_model_register(const lr_model_def *def);

/* ---- the models of the static table (nn/registry.c) ---- */
/* "Linear" (nn/linear.h), for exercising the command: args in_features, out_features (required),
 * bias=true, dtype="float32" ("float64", "complex64", "complex128"), seed=0. Stateless: step is
 * the forward on one time step. */
extern const lr_model_def lr_model_linear;
/* "LRU" (nn/lru.h), "S5_LTI" (nn/s5_lti.h, lrnnx.models.lti.S5), "S4D" (nn/s4d.h): lrnnx's
 * constructor arguments (see each model file's registry section), plus dtype="float32" and
 * seed=0. Stateful: step runs the recurrence from a heap cache. */
extern const lr_model_def lr_model_lru;
extern const lr_model_def lr_model_s5_lti;
extern const lr_model_def lr_model_s4d;
/* "S4" (nn/s4.h, lrnnx.models.lti.S4, DPLR) and "Centaurus" (nn/centaurus.h, the factory
 * lrnnx.models.lti.Centaurus with mode neck | pointwise | pw | s5 | dws | full): lrnnx's
 * constructor arguments, plus dtype="float32" and seed=0. Stateful (heap caches). */
extern const lr_model_def lr_model_s4;
extern const lr_model_def lr_model_centaurus;
/* The LTV models, with lrnnx's constructor keys and defaults (use_fast_path, layer_idx, device are
 * accepted and ignored; dtype "float32" or "float64"; seed=0 is ours): nn/mamba.h, nn/s5.h,
 * nn/rglru.h (a_init_range a 2-element list), nn/s7.h. Mamba's dt_rank is "auto" or an integer. */
extern const lr_model_def lr_model_mamba;
extern const lr_model_def lr_model_s5;
extern const lr_model_def lr_model_rglru;
extern const lr_model_def lr_model_s7;

/* ---- reading constructor arguments (cJSON) ----
 * Every helper: args must be a JSON object (or NULL: all defaults); an absent key or JSON null
 * gives the default; a present key of the wrong type is LR_ERR_ARG:
 *   "Linear: argument 'in_features' must be an integer, got \"8\"" */
/* LR_ERR_ARG naming the first key of args that is not in known (NULL-terminated), and the known
 * ones; or if args is neither NULL nor an object. */
lr_status lr_args_check(const cJSON *args, const char *model, const char *const *known);
/* LR_ERR_ARG if key is absent or null. */
lr_status lr_args_require(const cJSON *args, const char *model, const char *key);
/* An integral JSON number within int64. */
lr_status lr_args_int(const cJSON *args, const char *model, const char *key, int64_t def, int64_t *out);
lr_status lr_args_double(const cJSON *args, const char *model, const char *key, double def, double *out);
lr_status lr_args_bool(const cJSON *args, const char *model, const char *key, bool def, bool *out);
/* A string; *out points into args (valid while args lives). */
lr_status lr_args_string(const cJSON *args, const char *model, const char *key, const char *def, const char **out);
/* A string from choices (NULL-terminated): *out gets its index; def is the default's index.
 * "Mamba: argument 'discretization' is \"zoo\", expected one of mamba, zoh, bilinear, dirac" */
lr_status lr_args_choice(const cJSON *args, const char *model, const char *key, const char *const *choices, int def,
                         int *out);
/* "float32" (default def), "float64", "complex64", "complex128" (also "f32", "f64", "c64",
 * "c128") as an lr_dtype. */
lr_status lr_args_dtype(const cJSON *args, const char *model, const char *key, lr_dtype def, lr_dtype *out);

#endif
