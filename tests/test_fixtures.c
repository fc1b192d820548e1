/* The lrnnx reference cases (../shared/fixtures/lrnnx, FORMAT.md) through the `lrnnx layer`
 * command run in-process: one parameterised test per case and mode (forward, step).
 * - forward: every reference tensor of CASE.io.safetensors except the inputs (y and every grad.*)
 *   must be in OUT and satisfy max|out - ref| <= 2e-3 * max|ref| (5e-3 for cases longer than 2048
 *   steps), FORMAT.md's criterion: lrnnx computed in f32 through other kernels and another
 *   summation order, so agreement is to f32 accumulation error, not bits;
 * - step: y only (step mode has no gradients), same criterion.
 * A case whose model is not registered yet (nn/registry.h) is SKIPPED with a message naming the
 * model; the whole test is skipped when the fixture folder is absent. LR_FIXTURES=DIR runs the
 * cases of another folder. */
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/registry.h"
#include "tensor/safetensors.h"
#include "tools/tools.h"

#define FIXTURES "/work/shared/fixtures/lrnnx"

/* LR_FIXTURES=DIR points the test at another folder of cases in the same format (for checking
 * the checker itself, or a larger set). */
static const char *fixture_dir(void) {
  const char *d = getenv("LR_FIXTURES");
  return d && *d ? d : FIXTURES;
}

typedef struct {
  char name[200]; /* "lru_B2_L64_H16_N8"; "" when the folder is absent */
  int step;
} fixture_case;

static int cmp_case(const void *a, const void *b) {
  const fixture_case *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : x->step - y->step;
}

ParameterizedTestParameters(fixtures, lrnnx) {
  int n = 0, cap = 16;
  fixture_case *v = cr_malloc(sizeof *v * (size_t)cap);
  DIR *d = opendir(fixture_dir());
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

ParameterizedTest(fixture_case *c, fixtures, lrnnx, .timeout = 600) {
  const char *dir = fixture_dir();
  if (!c->name[0]) cr_skip_test("no fixtures at %s", dir);
  char json_path[512], weights[512], io[512], out[512];
  snprintf(json_path, sizeof json_path, "%s/%s.json", dir, c->name);
  snprintf(weights, sizeof weights, "%s/%s.weights.safetensors", dir, c->name);
  snprintf(io, sizeof io, "%s/%s.io.safetensors", dir, c->name);
  snprintf(out, sizeof out, "/tmp/lr_fixture_%s_%d_%d.safetensors", c->name, c->step, (int)getpid());
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

  char *argv[] = {"layer", "--model", model->valuestring, "--args", args, "--weights", weights, "--io", io, "--out", out,
                  "--mode", c->step ? "step" : "forward"};
  char *o, *e;
  size_t no, ne;
  FILE *fo = open_memstream(&o, &no), *fe = open_memstream(&e, &ne);
  int rc = lr_tool_layer((int)(sizeof argv / sizeof argv[0]), argv, fo, fe);
  fclose(fo);
  fclose(fe);
  cr_assert_eq(rc, 0, "%s (%s): lrnnx layer failed: %s", c->name, c->step ? "step" : "forward", e);

  lr_safetensors_file *ref, *got;
  cr_assert_eq(lr_safetensors_open(io, &ref), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_open(out, &got), LR_OK, "%s", lr_last_error());
  lr_safetensors_info xi;
  cr_assert_eq(lr_safetensors_info_of(ref, "x", &xi), LR_OK);
  double tol = xi.ndim >= 2 && xi.shape[1] > 2048 ? 5e-3 : 2e-3;
  int compared = 0;
  char failures[2048] = "";
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
      if (!(dmax <= tol * rmax)) {
        size_t k = strlen(failures);
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
  cr_assert(compared > 0, "%s: nothing to compare", c->name);
  cr_assert(!failures[0], "%s (%s, model %s):%s", c->name, c->step ? "step" : "forward", model->valuestring, failures);
  free(o);
  free(e);
  cJSON_free(args);
  cJSON_Delete(js);
  free(text);
}
