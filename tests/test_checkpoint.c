/* nn/checkpoint: module save/load over safetensors.
 * - round trip of a tree with Linear children, buffers, a complex parameter stored as a real view
 *   (F32 (..., 2) in the file), a complex one stored as C64, and a tied weight written under both
 *   names; the file's names, dtypes and shapes are checked, not only the values;
 * - lrnnx storage: an F32 (..., 2) entry loads into a complex parameter;
 * - strict failures: one message listing missing, unexpected and mis-shaped tensors, exact text,
 *   the status by kind, and the module unchanged afterwards (also for a bad entry late in the file);
 * - LR_LOAD_PARTIAL: matching tensors load, the report lists the rest;
 * - lr_module_tie / lr_module_store_as_real / lr_module_to and their errors.
 * Values are compared exactly: a checkpoint copies bytes. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nn/checkpoint.h"
#include "nn/linear.h"

static const char *tmp_path(const char *tag) {
  static char buf[8][256];
  static int k;
  char *b = buf[k++ % 8];
  snprintf(b, 256, "/tmp/lr_ckpt_%s_%d.safetensors", tag, (int)getpid());
  return b;
}

/* A mixer with lrnnx-style complex storage: A c64 (4,) as a real view, Lambda c64 (2, 3) as C64,
 * D f32 (4,), a buffer steps i64 (1,). */
typedef struct {
  lr_module base;
  lr_tensor *A, *Lambda, *D, *steps;
} mixer;

static lr_status mixer_new(lr_module *parent, const char *name, mixer **out) {
  lr_module *m;
  LR_TRY(lr_module_new(sizeof(mixer), "Mixer", &m));
  mixer *x = (mixer *)m;
  lr_status s = lr_module_add_param(m, "A", LR_DTYPE_C64, LR_SHAPE(4), &x->A);
  if (s == LR_OK) s = lr_module_store_as_real(m, "A");
  if (s == LR_OK) s = lr_module_add_param(m, "Lambda", LR_DTYPE_C64, LR_SHAPE(2, 3), &x->Lambda);
  if (s == LR_OK) s = lr_module_add_param(m, "D", LR_DTYPE_F32, LR_SHAPE(4), &x->D);
  if (s == LR_OK) s = lr_module_add_buffer(m, "steps", LR_DTYPE_I64, LR_SHAPE(1), &x->steps);
  if (s != LR_OK) {
    lr_module_free(m);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, m));
  *out = x;
  return LR_OK;
}

/* root: embedding (Linear 4->5, its weight (5, 4) plays the embedding table), layers.0.mixer,
 * layers.1.mixer, lm_head (Linear 5->4 without bias, weight (4, 5)... tied needs equal shapes, so
 * lm_head is Linear 4->5 whose weight (5, 4) is tied to embedding.weight). */
typedef struct {
  lr_module *root;
  lr_linear_module *emb, *head;
  mixer *mix[2];
} model;

static model make_model(uint64_t seed) {
  model md;
  lr_rng rng;
  lr_rng_init(&rng, seed);
  cr_assert_eq(lr_module_new(sizeof(lr_module), "LM", &md.root), LR_OK);
  cr_assert_eq(lr_linear_new(md.root, "embedding", 4, 5, true, LR_DTYPE_F32, &rng, &md.emb), LR_OK);
  lr_module *layers;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "ModuleList", &layers), LR_OK);
  cr_assert_eq(lr_module_add_child(md.root, "layers", layers), LR_OK);
  for (int i = 0; i < 2; i++) {
    lr_module *blk;
    cr_assert_eq(lr_module_new(sizeof(lr_module), "Block", &blk), LR_OK);
    cr_assert_eq(lr_module_add_child_at(layers, i, blk), LR_OK);
    cr_assert_eq(mixer_new(blk, "mixer", &md.mix[i]), LR_OK);
    cr_assert_eq(lr_rand_normal_(md.mix[i]->A, 0, 1, &rng), LR_OK);
    cr_assert_eq(lr_rand_normal_(md.mix[i]->Lambda, 0, 1, &rng), LR_OK);
    cr_assert_eq(lr_rand_normal_(md.mix[i]->D, 0, 1, &rng), LR_OK);
    ((int64_t *)md.mix[i]->steps->data)[0] = (int64_t)(seed * 10 + (uint64_t)i);
  }
  cr_assert_eq(lr_linear_new(md.root, "lm_head", 4, 5, false, LR_DTYPE_F32, &rng, &md.head), LR_OK);
  cr_assert_eq(lr_module_tie(&md.head->base, "weight", md.emb->weight), LR_OK, "%s", lr_last_error());
  md.head->weight = md.emb->weight;
  return md;
}

static bool same_bytes(const lr_tensor *a, const lr_tensor *b) {
  return a->dtype == b->dtype && lr_same_shape(a, b) && !memcmp(a->data, b->data, lr_nbytes(a));
}

static void assert_models_equal(model *a, model *b) {
  lr_param_list la, lb;
  cr_assert_eq(lr_module_list(a->root, LR_VISIT_ALL | LR_VISIT_TIED, &la), LR_OK);
  cr_assert_eq(lr_module_list(b->root, LR_VISIT_ALL | LR_VISIT_TIED, &lb), LR_OK);
  cr_assert_eq(la.n, lb.n);
  for (int i = 0; i < la.n; i++) {
    cr_assert_str_eq(la.items[i].name, lb.items[i].name);
    cr_assert(same_bytes(la.items[i].param->t, lb.items[i].param->t), "%s differs", la.items[i].name);
  }
  lr_param_list_free(&la);
  lr_param_list_free(&lb);
}

Test(checkpoint, round_trip_tree_complex_and_tied) {
  model a = make_model(1), b = make_model(2);
  /* The tie: one tensor, counted once as a parameter, visited twice only with LR_VISIT_TIED. */
  cr_assert_eq(a.head->weight, a.emb->weight);
  cr_assert_eq(lr_module_num_param_tensors(a.root), 2 + 2 * 3);
  cr_assert_eq(lr_module_num_params(a.root), 20 + 5 + 2 * (4 + 6 + 4));
  lr_param_list l;
  cr_assert_eq(lr_module_list(a.root, LR_VISIT_PARAMS, &l), LR_OK);
  cr_assert_eq(l.n, 8);
  lr_param_list_free(&l);
  cr_assert_eq(lr_module_list(a.root, LR_VISIT_ALL | LR_VISIT_TIED, &l), LR_OK);
  cr_assert_eq(l.n, 11);
  cr_assert_str_eq(l.items[10].name, "lm_head.weight");
  lr_param_list_free(&l);

  const char *path = tmp_path("rt");
  cr_assert_eq(lr_module_save(a.root, path, (const char *const[]){"format", "pt", NULL}), LR_OK, "%s", lr_last_error());
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK);
  cr_assert_eq(lr_safetensors_count(f), 11);
  cr_assert_str_eq(lr_safetensors_metadata(f, "format"), "pt");
  lr_safetensors_info e;
  cr_assert_eq(lr_safetensors_info_of(f, "layers.1.mixer.A", &e), LR_OK);
  cr_assert_str_eq(e.format, "F32", "a REAL_VIEW complex parameter is stored as F32 (..., 2)");
  cr_assert(e.ndim == 2 && e.shape[0] == 4 && e.shape[1] == 2);
  cr_assert_eq(lr_safetensors_info_of(f, "layers.0.mixer.Lambda", &e), LR_OK);
  cr_assert_str_eq(e.format, "C64");
  cr_assert_eq(lr_safetensors_info_of(f, "layers.0.mixer.steps", &e), LR_OK);
  cr_assert_str_eq(e.format, "I64");
  cr_assert_eq(lr_safetensors_info_of(f, "embedding.weight", &e), LR_OK);
  cr_assert_eq(lr_safetensors_info_of(f, "lm_head.weight", &e), LR_OK, "a tied weight is written under both names");
  /* The real view holds re, im interleaved. */
  lr_tensor *Ar;
  cr_assert_eq(lr_safetensors_get(f, "layers.1.mixer.A", &Ar), LR_OK);
  for (int i = 0; i < 4; i++) {
    double re, im;
    lr_tensor_get_c(a.mix[1]->A, i, &re, &im);
    cr_assert_eq(lr_tensor_get(Ar, 2 * i), re);
    cr_assert_eq(lr_tensor_get(Ar, 2 * i + 1), im);
  }
  lr_tensor_free(Ar);
  lr_safetensors_close(f);

  cr_assert(!same_bytes(a.mix[0]->A, b.mix[0]->A));
  lr_load_report r;
  cr_assert_eq(lr_module_load(b.root, path, LR_LOAD_STRICT, &r), LR_OK, "%s", lr_last_error());
  cr_assert_eq(r.n_loaded, 11);
  cr_assert(r.n_missing == 0 && r.n_unexpected == 0 && r.n_mismatched == 0);
  lr_load_report_free(&r);
  assert_models_equal(&a, &b);
  cr_assert_eq(b.head->weight, b.emb->weight, "still one tensor after loading");
  lr_module_free(a.root);
  lr_module_free(b.root);
  unlink(path);
}

Test(checkpoint, lrnnx_real_view_loads_into_complex) {
  /* A complex parameter WITHOUT the flag also takes lrnnx's F32 (..., 2) storage. */
  lr_module *m;
  lr_tensor *z;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "S5", &m), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "B", LR_DTYPE_C64, LR_SHAPE(2, 3), &z), LR_OK);
  lr_tensor *w;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(2, 3, 2), &w), LR_OK);
  for (int i = 0; i < 12; i++) ((float *)w->data)[i] = (float)(i + 1) * 0.5f;
  const char *path = tmp_path("rv");
  cr_assert_eq(lr_safetensors_save(path, 1, (const char *const[]){"B"}, (const lr_tensor *const[]){w}, NULL), LR_OK);
  cr_assert_eq(lr_module_load(m, path, LR_LOAD_STRICT, NULL), LR_OK, "%s", lr_last_error());
  for (int i = 0; i < 6; i++) {
    double re, im;
    lr_tensor_get_c(z, i, &re, &im);
    cr_assert_eq(re, (2 * i + 1) * 0.5);
    cr_assert_eq(im, (2 * i + 2) * 0.5);
  }
  /* And it saves as C64 (no flag), which loads back too. */
  const char *p2 = tmp_path("rv2");
  cr_assert_eq(lr_module_save(m, p2, NULL), LR_OK);
  lr_safetensors_file *f;
  lr_safetensors_info e;
  cr_assert_eq(lr_safetensors_open(p2, &f), LR_OK);
  cr_assert_eq(lr_safetensors_info_of(f, "B", &e), LR_OK);
  cr_assert_str_eq(e.format, "C64");
  lr_safetensors_close(f);
  cr_assert_eq(lr_module_load(m, p2, LR_LOAD_STRICT, NULL), LR_OK);
  lr_tensor_free(w);
  lr_module_free(m);
  unlink(path);
  unlink(p2);
}

/* Model: a.b (2,), c (3,), e (3, 4), f f32 (2,), z c64 (3,). */
static lr_module *small_model(void) {
  lr_module *m, *a;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "M", &m), LR_OK);
  cr_assert_eq(lr_module_new(sizeof(lr_module), "A", &a), LR_OK);
  cr_assert_eq(lr_module_add_child(m, "a", a), LR_OK);
  cr_assert_eq(lr_module_add_param(a, "b", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "c", LR_DTYPE_F32, LR_SHAPE(3), NULL), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "e", LR_DTYPE_F32, LR_SHAPE(3, 4), NULL), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "f", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "z", LR_DTYPE_C64, LR_SHAPE(3), NULL), LR_OK);
  /* Distinct known values everywhere: 100 + position. */
  lr_param_list l;
  cr_assert_eq(lr_module_list(m, LR_VISIT_ALL, &l), LR_OK);
  for (int i = 0; i < l.n; i++)
    for (int64_t k = 0; k < lr_numel(l.items[i].param->t); k++) lr_tensor_set(l.items[i].param->t, k, 100 + k, -k);
  lr_param_list_free(&l);
  return m;
}

static void assert_small_untouched(lr_module *m) {
  lr_param_list l;
  cr_assert_eq(lr_module_list(m, LR_VISIT_ALL, &l), LR_OK);
  for (int i = 0; i < l.n; i++)
    for (int64_t k = 0; k < lr_numel(l.items[i].param->t); k++) {
      double re, im;
      lr_tensor_get_c(l.items[i].param->t, k, &re, &im);
      cr_assert(re == 100 + k && (!lr_dtype_is_complex(l.items[i].param->t->dtype) || im == -k),
                "%s[%lld] changed by a failed load", l.items[i].name, (long long)k);
    }
  lr_param_list_free(&l);
}

/* A file with the given entries, each filled with 7. */
static const char *write_file(const char *tag, int n, const char *const *names, const lr_dtype *dts, const int *ndims,
                              const int64_t (*shapes)[4]) {
  lr_tensor *ts[8];
  for (int i = 0; i < n; i++) {
    cr_assert_eq(lr_tensor_new(dts[i], LR_DEVICE_CPU, ndims[i], shapes[i], &ts[i]), LR_OK);
    cr_assert_eq(lr_tensor_fill_(ts[i], 7), LR_OK);
  }
  const char *path = tmp_path(tag);
  cr_assert_eq(lr_safetensors_save(path, n, names, (const lr_tensor *const *)ts, NULL), LR_OK, "%s", lr_last_error());
  for (int i = 0; i < n; i++) lr_tensor_free(ts[i]);
  return path;
}

Test(checkpoint, strict_lists_every_problem_in_one_message) {
  lr_module *m = small_model();
  /* a.b and c missing; d unexpected; e transposed; f, z fine (z as F32 (3, 2)). */
  const char *path = write_file("strict", 4, (const char *const[]){"d", "e", "f", "z"},
                                (const lr_dtype[]){LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32},
                                (const int[]){1, 2, 1, 2}, (const int64_t[][4]){{5}, {4, 3}, {2}, {3, 2}});
  lr_load_report r;
  lr_status s = lr_module_load(m, path, LR_LOAD_STRICT, &r);
  cr_assert_eq(s, LR_ERR_ARG, "missing/unexpected come first: %s", lr_status_name(s));
  char want[512];
  snprintf(want, sizeof want,
           "lr_module_load(%s): missing: a.b, c; unexpected: d; shape mismatch: e (file (4, 3), model (3, 4))", path);
  cr_assert_str_eq(lr_last_error(), want);
  cr_assert_eq(r.n_loaded, 0);
  cr_assert(r.n_missing == 2 && !strcmp(r.missing[0], "a.b") && !strcmp(r.missing[1], "c"));
  cr_assert(r.n_unexpected == 1 && !strcmp(r.unexpected[0], "d"));
  cr_assert(r.n_mismatched == 1 && !strcmp(r.mismatched[0], "e (file (4, 3), model (3, 4))"));
  lr_load_report_free(&r);
  assert_small_untouched(m);
  lr_module_free(m);
  unlink(path);
}

Test(checkpoint, strict_shape_and_dtype_codes) {
  lr_module *m = small_model();
  const char *const names[] = {"a.b", "c", "e", "f", "z"};
  /* Only e mis-shaped, and z's real view has a trailing 3: LR_ERR_SHAPE, both listed. */
  const char *p1 = write_file("shape", 5, names, (const lr_dtype[]){0, 0, 0, 0, 0}, (const int[]){1, 1, 2, 1, 2},
                              (const int64_t[][4]){{2}, {3}, {3, 5}, {2}, {3, 3}});
  cr_assert_eq(lr_module_load(m, p1, LR_LOAD_STRICT, NULL), LR_ERR_SHAPE);
  char want[512];
  snprintf(want, sizeof want,
           "lr_module_load(%s): shape mismatch: e (file (3, 5), model (3, 4)), z (file (3, 3), model (3, 2))", p1);
  cr_assert_str_eq(lr_last_error(), want);
  assert_small_untouched(m);
  /* f stored as F64: LR_ERR_DTYPE (no conversion). */
  const char *p2 = write_file("dtype", 5, names,
                              (const lr_dtype[]){LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64},
                              (const int[]){1, 1, 2, 1, 1}, (const int64_t[][4]){{2}, {3}, {3, 4}, {2}, {3}});
  cr_assert_eq(lr_module_load(m, p2, LR_LOAD_STRICT, NULL), LR_ERR_DTYPE);
  snprintf(want, sizeof want, "lr_module_load(%s): dtype mismatch: f (file F64, model f32)", p2);
  cr_assert_str_eq(lr_last_error(), want);
  assert_small_untouched(m);
  /* Everything right (z as C64 this time): loads, all 7. */
  const char *p3 = write_file("ok", 5, names,
                              (const lr_dtype[]){LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_C64},
                              (const int[]){1, 1, 2, 1, 1}, (const int64_t[][4]){{2}, {3}, {3, 4}, {2}, {3}});
  cr_assert_eq(lr_module_load(m, p3, LR_LOAD_STRICT, NULL), LR_OK, "%s", lr_last_error());
  lr_tensor *t;
  cr_assert_eq(lr_module_find(m, "e", &t, NULL), LR_OK);
  cr_assert_eq(lr_tensor_get(t, 11), 7);
  lr_module_free(m);
  unlink(p1);
  unlink(p2);
  unlink(p3);
}

Test(checkpoint, failed_read_leaves_module_unchanged) {
  /* Headers all fine, but the file is truncated after open validated it: the late entry's read
   * fails, and nothing was copied before. */
  lr_module *m = small_model();
  const char *const names[] = {"a.b", "c", "e", "f", "z"};
  const char *p = write_file("trunc", 5, names,
                             (const lr_dtype[]){LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_C64},
                             (const int[]){1, 1, 2, 1, 1}, (const int64_t[][4]){{2}, {3}, {3, 4}, {2}, {3}});
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(p, &f), LR_OK);
  FILE *fp = fopen(p, "rb");
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fclose(fp);
  cr_assert_eq(truncate(p, size - 8), 0); /* "z" is last in sorted order: its data is cut */
  lr_status s = lr_module_load_file(m, f, LR_LOAD_STRICT, NULL);
  cr_assert_eq(s, LR_ERR_IO, "%s: %s", lr_status_name(s), lr_last_error());
  assert_small_untouched(m);
  lr_safetensors_close(f);
  lr_module_free(m);
  unlink(p);
}

Test(checkpoint, partial_loads_what_matches) {
  lr_module *m = small_model();
  const char *path = write_file("partial", 4, (const char *const[]){"d", "e", "f", "z"},
                                (const lr_dtype[]){LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32},
                                (const int[]){1, 2, 1, 2}, (const int64_t[][4]){{5}, {4, 3}, {2}, {3, 2}});
  lr_load_report r;
  cr_assert_eq(lr_module_load(m, path, LR_LOAD_PARTIAL, &r), LR_OK, "%s", lr_last_error());
  cr_assert_eq(r.n_loaded, 2, "f and z");
  cr_assert(r.n_missing == 2 && !strcmp(r.missing[0], "a.b") && !strcmp(r.missing[1], "c"));
  cr_assert(r.n_unexpected == 1 && !strcmp(r.unexpected[0], "d"));
  cr_assert(r.n_mismatched == 1 && !strcmp(r.mismatched[0], "e (file (4, 3), model (3, 4))"));
  lr_load_report_free(&r);
  cr_assert_eq(r.missing, NULL);
  lr_tensor *t;
  cr_assert_eq(lr_module_find(m, "f", &t, NULL), LR_OK);
  cr_assert(lr_tensor_get(t, 0) == 7 && lr_tensor_get(t, 1) == 7);
  cr_assert_eq(lr_module_find(m, "z", &t, NULL), LR_OK);
  double re, im;
  lr_tensor_get_c(t, 2, &re, &im);
  cr_assert(re == 7 && im == 7);
  cr_assert_eq(lr_module_find(m, "e", &t, NULL), LR_OK);
  cr_assert_eq(lr_tensor_get(t, 5), 105, "a mis-shaped tensor is skipped");
  cr_assert_eq(lr_module_find(m, "c", &t, NULL), LR_OK);
  cr_assert_eq(lr_tensor_get(t, 1), 101);
  /* No report pointer is fine too. */
  cr_assert_eq(lr_module_load(m, path, LR_LOAD_PARTIAL, NULL), LR_OK);
  lr_module_free(m);
  unlink(path);
}

Test(checkpoint, tied_name_missing_from_file) {
  model a = make_model(3);
  const char *path = tmp_path("tied");
  /* A file with everything but lm_head.weight (as a checkpoint that dedups ties would be). */
  lr_param_list l;
  cr_assert_eq(lr_module_list(a.root, LR_VISIT_ALL, &l), LR_OK);
  const char *names[16];
  const lr_tensor *ts[16];
  lr_tensor views[16];
  for (int i = 0; i < l.n; i++) {
    names[i] = l.items[i].name;
    ts[i] = l.items[i].param->t;
    if (l.items[i].param->flags & LR_PARAM_REAL_VIEW) { /* as lrnnx would store it */
      const lr_tensor *z = ts[i];
      views[i] = *z;
      views[i].dtype = LR_DTYPE_F32;
      views[i].ndim = 2;
      views[i].shape[1] = 2;
      views[i].strides[0] = 2;
      views[i].strides[1] = 1;
      ts[i] = &views[i];
    }
  }
  cr_assert_eq(lr_safetensors_save(path, l.n, names, ts, NULL), LR_OK, "%s", lr_last_error());
  lr_param_list_free(&l);
  model b = make_model(4);
  cr_assert_eq(lr_module_load(b.root, path, LR_LOAD_STRICT, NULL), LR_ERR_ARG);
  char want[300];
  snprintf(want, sizeof want, "lr_module_load(%s): missing: lm_head.weight", path);
  cr_assert_str_eq(lr_last_error(), want);
  lr_load_report r;
  cr_assert_eq(lr_module_load(b.root, path, LR_LOAD_PARTIAL, &r), LR_OK);
  cr_assert_eq(r.n_loaded, 10);
  lr_load_report_free(&r);
  assert_models_equal(&a, &b); /* the tie shares the one tensor, so lm_head.weight is loaded too */
  lr_module_free(a.root);
  lr_module_free(b.root);
  unlink(path);
}

Test(checkpoint, errors_of_load_and_save) {
  lr_module *m = small_model();
  cr_assert_eq(lr_module_load(m, "/nonexistent/x.safetensors", LR_LOAD_STRICT, NULL), LR_ERR_IO);
  cr_assert(strstr(lr_last_error(), "/nonexistent/x.safetensors"), "%s", lr_last_error());
  cr_assert_eq(lr_module_save(m, "/nonexistent/dir/x.safetensors", NULL), LR_ERR_IO);
  cr_assert_eq(lr_module_load(NULL, "x", 0, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_module_save(m, NULL, NULL), LR_ERR_ARG);
  const char *p = tmp_path("flags");
  cr_assert_eq(lr_module_save(m, p, NULL), LR_OK);
  cr_assert_eq(lr_module_load(m, p, 8u, NULL), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "unknown flags 0x8"), "%s", lr_last_error());
  lr_module_free(m);
  unlink(p);
}

Test(module, tie_and_real_view_errors) {
  lr_module *m;
  lr_tensor *w, *v, *c;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "M", &m), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "w", LR_DTYPE_F32, LR_SHAPE(2, 3), &w), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "v", LR_DTYPE_F32, LR_SHAPE(3, 2), &v), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "c", LR_DTYPE_F64, LR_SHAPE(2, 3), &c), LR_OK);
  cr_assert_eq(lr_module_tie(m, "v", w), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_module_tie: 'v' of M is (3, 2), the tensor to tie is (2, 3)");
  cr_assert_eq(lr_module_tie(m, "c", w), LR_ERR_DTYPE);
  cr_assert_eq(lr_module_tie(m, "w", w), LR_ERR_ARG);
  cr_assert_eq(lr_module_tie(m, "bad.name", w), LR_ERR_ARG);
  cr_assert_eq(lr_module_tie(m, "w2", w), LR_OK);
  cr_assert_eq(lr_module_tie(m, "w2", w), LR_ERR_ARG, "w2 already is w");
  cr_assert_eq(lr_module_num_param_tensors(m), 3);
  lr_tensor *found;
  cr_assert_eq(lr_module_find(m, "w2", &found, NULL), LR_OK);
  cr_assert_eq(found, w);
  cr_assert_eq(lr_module_store_as_real(m, "w"), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_module_store_as_real: 'w' is f32, expected c64 or c128");
  cr_assert_eq(lr_module_store_as_real(m, "nope"), LR_ERR_ARG);
  lr_module_free(m); /* w freed once (asan checks) */
}

Test(module, to_device) {
  model a = make_model(5);
  cr_assert_eq(lr_module_to(a.root, LR_DEVICE_CPU), LR_OK, "a no-op on the same device");
  cr_assert_eq(lr_module_to(a.root, (lr_device)7), LR_ERR_DEVICE);
  lr_tensor *keep = a.mix[1]->A;
  lr_tensor before = *keep;
  lr_status s = lr_module_to(a.root, LR_DEVICE_CUDA);
  if (s != LR_OK) {
    /* No usable GPU here: the module stays on the CPU, untouched. */
    cr_assert_eq(s, LR_ERR_DEVICE, "%s", lr_last_error());
    cr_assert(keep->device == LR_DEVICE_CPU && keep->data == before.data);
  } else {
    /* The structs stay, the data moved; a checkpoint goes through host copies both ways. */
    cr_assert(a.mix[1]->A == keep && keep->device == LR_DEVICE_CUDA && a.emb->weight->device == LR_DEVICE_CUDA);
    cr_assert_eq(a.head->weight->device, LR_DEVICE_CUDA);
    model b = make_model(6);
    const char *path = tmp_path("cuda");
    cr_assert_eq(lr_module_save(a.root, path, NULL), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_module_to(b.root, LR_DEVICE_CUDA), LR_OK);
    cr_assert_eq(lr_module_load(b.root, path, LR_LOAD_STRICT, NULL), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_module_to(a.root, LR_DEVICE_CPU), LR_OK);
    cr_assert_eq(lr_module_to(b.root, LR_DEVICE_CPU), LR_OK);
    assert_models_equal(&a, &b);
    lr_module_free(b.root);
    unlink(path);
  }
  lr_module_free(a.root);
}
