/* nn/module: dotted names, iteration order, lookup, counts, buffers, hints, zero_grad, train/eval,
 * error paths and freeing (run under --config=asan for leaks). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "nn/module.h"
#include "ops/elementwise.h"

/* A concrete module type that owns something besides tensors, to check the destroy hook. */
typedef struct {
  lr_module base;
  lr_tensor *A_log, *D;
  double *cache;
} mixer;

static int destroyed;
static void mixer_destroy(lr_module *m) {
  free(((mixer *)m)->cache);
  destroyed++;
}

static lr_status mixer_new(lr_module *parent, const char *name, mixer **out) {
  lr_module *m;
  LR_TRY(lr_module_new(sizeof(mixer), "Mixer", &m));
  mixer *x = (mixer *)m;
  m->destroy = mixer_destroy;
  x->cache = malloc(100 * sizeof(double));
  lr_status s = lr_module_add_param(m, "A_log", LR_DTYPE_F64, LR_SHAPE(2, 3), &x->A_log);
  if (s == LR_OK) s = lr_module_add_param(m, "D", LR_DTYPE_F64, LR_SHAPE(2), &x->D);
  if (s == LR_OK) s = lr_module_add_buffer(m, "steps", LR_DTYPE_I64, LR_SHAPE(1), NULL);
  if (s == LR_OK) s = lr_module_no_weight_decay(m, "A_log");
  if (s != LR_OK) {
    lr_module_free(m);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, m));
  *out = x;
  return LR_OK;
}

/* root: embedding (4, 3); layers.{0,1}: Block{ mixer: Mixer }; norm.weight (3). */
static lr_module *make_model(void) {
  lr_module *root, *layers, *norm;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Model", &root), LR_OK);
  cr_assert_eq(lr_module_add_param(root, "embedding", LR_DTYPE_F32, LR_SHAPE(4, 3), NULL), LR_OK);
  cr_assert_eq(lr_module_new(sizeof(lr_module), "ModuleList", &layers), LR_OK);
  cr_assert_eq(lr_module_add_child(root, "layers", layers), LR_OK);
  for (int i = 0; i < 2; i++) {
    lr_module *blk;
    mixer *mx;
    cr_assert_eq(lr_module_new(sizeof(lr_module), "Block", &blk), LR_OK);
    cr_assert_eq(lr_module_add_child_at(layers, i, blk), LR_OK);
    cr_assert_eq(mixer_new(blk, "mixer", &mx), LR_OK, "%s", lr_last_error());
  }
  cr_assert_eq(lr_module_new(sizeof(lr_module), "RMSNorm", &norm), LR_OK);
  cr_assert_eq(lr_module_attach(root, "norm", norm), LR_OK);
  cr_assert_eq(lr_module_add_param(norm, "weight", LR_DTYPE_F32, LR_SHAPE(3), NULL), LR_OK);
  return root;
}

Test(module, dotted_names_in_order) {
  lr_module *m = make_model();
  lr_param_list l;
  cr_assert_eq(lr_module_list(m, LR_VISIT_PARAMS, &l), LR_OK);
  const char *want[] = {"embedding", "layers.0.mixer.A_log", "layers.0.mixer.D", "layers.1.mixer.A_log",
                        "layers.1.mixer.D", "norm.weight"};
  cr_assert_eq(l.n, 6);
  for (int i = 0; i < 6; i++) cr_assert_str_eq(l.items[i].name, want[i]);
  lr_param_list_free(&l);

  cr_assert_eq(lr_module_list(m, LR_VISIT_ALL, &l), LR_OK);
  cr_assert_eq(l.n, 8);
  cr_assert_str_eq(l.items[3].name, "layers.0.mixer.steps");
  cr_assert(l.items[3].param->flags & LR_PARAM_BUFFER);
  cr_assert_not(l.items[3].param->t->requires_grad);
  lr_param_list_free(&l);

  cr_assert_eq(lr_module_list(m, LR_VISIT_BUFFERS, &l), LR_OK);
  cr_assert_eq(l.n, 2);
  cr_assert_str_eq(l.items[1].name, "layers.1.mixer.steps");
  lr_param_list_free(&l);

  /* Names are relative to the module iterated. */
  lr_module *layer1;
  cr_assert_eq(lr_module_find_child(m, "layers.1", &layer1), LR_OK);
  cr_assert_str_eq(layer1->type, "Block");
  cr_assert_eq(lr_module_list(layer1, LR_VISIT_PARAMS, &l), LR_OK);
  cr_assert_eq(l.n, 2);
  cr_assert_str_eq(l.items[0].name, "mixer.A_log");
  lr_param_list_free(&l);
  char path[LR_NAME_MAX];
  cr_assert_eq(lr_module_path(layer1->children[0], path, sizeof path), LR_OK);
  cr_assert_str_eq(path, "layers.1.mixer");
  cr_assert_eq(lr_module_path(m, path, sizeof path), LR_OK);
  cr_assert_str_eq(path, "");
  cr_assert_eq(lr_module_path(layer1->children[0], path, 8), LR_ERR_ARG);
  lr_module_free(m);
}

static lr_status stop_at_third(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)name, (void)p, (void)owner;
  if (++*(int *)ctx == 3) return lr_fail(LR_ERR_IO, "stop");
  return LR_OK;
}

Test(module, visit_stops_on_error) {
  lr_module *m = make_model();
  int k = 0;
  cr_assert_eq(lr_module_visit(m, LR_VISIT_ALL, stop_at_third, &k), LR_ERR_IO);
  cr_assert_eq(k, 3);
  lr_module_free(m);
}

Test(module, counts) {
  lr_module *m = make_model();
  /* 4*3 + 2 * (2*3 + 2) + 3 = 31 elements in 6 parameter tensors; buffers not counted. */
  cr_assert_eq(lr_module_num_params(m), 31);
  cr_assert_eq(lr_module_num_param_tensors(m), 6);
  lr_module *mx;
  cr_assert_eq(lr_module_find_child(m, "layers.0.mixer", &mx), LR_OK);
  cr_assert_eq(lr_module_num_params(mx), 8);
  cr_assert_eq(lr_module_num_params(NULL), 0);
  lr_module_free(m);
}

Test(module, find) {
  lr_module *m = make_model();
  lr_tensor *t;
  lr_param *p;
  mixer *mx1;
  cr_assert_eq(lr_module_find_child(m, "layers.1.mixer", (lr_module **)&mx1), LR_OK);
  cr_assert_eq(lr_module_find(m, "layers.1.mixer.A_log", &t, &p), LR_OK);
  cr_assert_eq(t, mx1->A_log);
  cr_assert_str_eq(p->name, "A_log");
  cr_assert(t->requires_grad);
  cr_assert_eq(t->dtype, LR_DTYPE_F64);
  cr_assert(p->flags & LR_PARAM_WD);
  cr_assert_eq(p->weight_decay, 0.0);
  cr_assert_eq(lr_module_find(m, "embedding", &t, NULL), LR_OK);
  cr_assert_eq(t->shape[0], 4);
  cr_assert_eq(lr_module_find(m, "layers.1.mixer.steps", &t, &p), LR_OK);
  cr_assert(p->flags & LR_PARAM_BUFFER);

  t = NULL;
  cr_assert_eq(lr_module_find(m, "layers.2.mixer.A_log", &t, NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_module_find: Model has no tensor 'layers.2.mixer.A_log'");
  cr_assert_null(t);
  cr_assert_eq(lr_module_find(m, "layers.0.mixer", &t, NULL), LR_ERR_ARG); /* a module, not a tensor */
  cr_assert_eq(lr_module_find(m, "layers.0.mixer.A_log.x", &t, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_module_find(m, "", &t, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_module_find(m, "layers.", &t, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_module_find(m, "lay", &t, NULL), LR_ERR_ARG);
  lr_module *c;
  cr_assert_eq(lr_module_find_child(m, "layers.0.mixxer", &c), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "layers.0.mixxer"), "%s", lr_last_error());
  cr_assert_eq(lr_module_find_child(m, "", &c), LR_OK); /* the empty path is the module itself */
  cr_assert_eq(c, m);
  lr_module_free(m);
}

Test(module, optim_hints) {
  lr_module *m = make_model();
  lr_param *p;
  cr_assert_eq(lr_module_set_optim(m, "layers.0.mixer.D", 1e-3, -1), LR_OK);
  cr_assert_eq(lr_module_find(m, "layers.0.mixer.D", NULL, &p), LR_OK);
  cr_assert_eq(p->flags & (LR_PARAM_LR | LR_PARAM_WD), LR_PARAM_LR);
  cr_assert_eq(p->lr, 1e-3);
  cr_assert_eq(lr_module_set_optim(m, "norm.weight", -1, 0.5), LR_OK);
  cr_assert_eq(lr_module_find(m, "norm.weight", NULL, &p), LR_OK);
  cr_assert_eq(p->flags & (LR_PARAM_LR | LR_PARAM_WD), LR_PARAM_WD);
  cr_assert_eq(p->weight_decay, 0.5);
  cr_assert_eq(lr_module_no_weight_decay(m, "layers.0.mixer.steps"), LR_ERR_ARG); /* a buffer */
  cr_assert_eq(lr_module_no_weight_decay(m, "nope"), LR_ERR_ARG);
  lr_module_free(m);
}

Test(module, zero_grad) {
  lr_module *m = make_model();
  lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
  mixer *mx;
  cr_assert_eq(lr_module_find_child(m, "layers.0.mixer", (lr_module **)&mx), LR_OK);
  /* y = A_log + D[None]... shapes (2, 3) and (2,) do not broadcast; use A_log + A_log. */
  lr_tensor *y, *ones;
  cr_assert_eq(lr_add(mx->A_log, mx->A_log, &y), LR_OK);
  cr_assert_eq(lr_ones(LR_DTYPE_F64, LR_SHAPE(2, 3), &ones), LR_OK);
  cr_assert_eq(lr_backward(y, ones), LR_OK, "%s", lr_last_error());
  cr_assert_not_null(mx->A_log->grad);
  cr_assert(mx->A_log->grad->flags & LR_TF_HEAP); /* a persistent leaf gets a persistent grad */
  for (int i = 0; i < 6; i++) cr_assert_eq(lr_tensor_get(mx->A_log->grad, i), 2.0);
  lr_arena_rewind(lr_arena_current(), mk);
  cr_assert_null(mx->D->grad);
  cr_assert_eq(lr_module_zero_grad(m), LR_OK);
  for (int i = 0; i < 6; i++) cr_assert_eq(lr_tensor_get(mx->A_log->grad, i), 0.0);
  cr_assert_null(mx->D->grad); /* no grad is made where there was none */
  lr_module_free(m);
}

Test(module, train_eval) {
  lr_module *m = make_model();
  lr_module *mx;
  cr_assert_eq(lr_module_find_child(m, "layers.1.mixer", &mx), LR_OK);
  cr_assert(m->training && mx->training);
  lr_module_train(m, false);
  cr_assert(!m->training && !mx->training && !m->children[0]->training);
  lr_module_train(m, true);
  cr_assert(m->training && mx->training);
  lr_module_free(m);
}

Test(module, free_runs_destroy_hooks) {
  destroyed = 0;
  lr_module *m = make_model();
  lr_module *child;
  cr_assert_eq(lr_module_find_child(m, "layers.0", &child), LR_OK);
  lr_module_free(child); /* owned by its parent: ignored */
  cr_assert_eq(destroyed, 0);
  lr_module_free(m);
  cr_assert_eq(destroyed, 2);
  lr_module_free(NULL);
}

Test(module, registration_errors) {
  lr_module *m, *c, *c2;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Model", &m), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "w", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_OK);
  cr_assert_eq(lr_module_add_param(m, "w", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_module_add_param: Model already has a member named 'w'");
  cr_assert_eq(lr_module_add_param(m, "a.b", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_module_add_param: name 'a.b' contains '.'");
  cr_assert_eq(lr_module_add_param(m, "", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_ERR_ARG);
  cr_assert_eq(lr_module_add_param(m, NULL, LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_ERR_ARG);
  cr_assert_eq(lr_module_add_param(m, "idx", LR_DTYPE_I64, LR_SHAPE(2), NULL), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_module_add_param: parameter 'idx' is i64, expected f32, f64, c64 or c128");
  cr_assert_eq(lr_module_add_param(m, "neg", LR_DTYPE_F32, LR_SHAPE(-1), NULL), LR_ERR_SHAPE);
  cr_assert_eq(lr_module_add_buffer(m, "idx", LR_DTYPE_I64, LR_SHAPE(2), NULL), LR_OK);
  cr_assert_eq(lr_module_add_param(NULL, "x", LR_DTYPE_F32, LR_SHAPE(2), NULL), LR_ERR_ARG);

  /* register: takes persistent tensors only; on failure the caller keeps ownership. */
  lr_tensor *t, *a;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_C64, LR_DEVICE_CPU, LR_SHAPE(3), &t), LR_OK);
  cr_assert_eq(lr_module_register(m, "w", t, false), LR_ERR_ARG); /* name taken */
  cr_assert_eq(lr_module_register(m, "z", t, false), LR_OK);
  cr_assert(t->requires_grad);
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2), &a), LR_OK);
  cr_assert_eq(lr_module_register(m, "arena", a, false), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "lr_tensor_new"), "%s", lr_last_error());

  /* children */
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Child", &c), LR_OK);
  cr_assert_eq(lr_module_add_child(m, "w", c), LR_ERR_ARG); /* a tensor has that name */
  cr_assert_eq(lr_module_add_child(m, "c", c), LR_OK);
  cr_assert_eq(lr_module_add_child(m, "c2", c), LR_ERR_ARG); /* already has a parent */
  cr_assert_str_eq(lr_last_error(), "lr_module_add_child: 'c2' already has a parent");
  cr_assert_eq(lr_module_add_child(c, "loop", m), LR_ERR_ARG); /* cycle */
  cr_assert_eq(lr_module_add_child_at(m, -1, c), LR_ERR_ARG);
  cr_assert_eq(lr_module_add_child(m, "x", NULL), LR_ERR_ARG);
  /* attach frees the child when it fails (ASan checks the leak). */
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Child", &c2), LR_OK);
  cr_assert_eq(lr_module_add_param(c2, "p", LR_DTYPE_F32, LR_SHAPE(5), NULL), LR_OK);
  cr_assert_eq(lr_module_attach(m, "c", c2), LR_ERR_ARG);
  cr_assert_eq(lr_module_attach(NULL, "c", NULL), LR_OK); /* no parent: nothing to do */
  cr_assert_eq(lr_module_new(4, "Tiny", &c2), LR_ERR_ARG);
  cr_assert_eq(lr_module_num_params(m), 2 + 3);
  lr_module_free(m);
}

Test(module, long_names) {
  /* A chain deep enough that full names exceed LR_NAME_MAX: the walk fails cleanly. */
  lr_module *root, *cur;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Root", &root), LR_OK);
  cur = root;
  char nm[64];
  memset(nm, 'a', 60);
  nm[60] = '\0';
  for (int i = 0; i < 5; i++) {
    lr_module *c;
    cr_assert_eq(lr_module_new(sizeof(lr_module), "Deep", &c), LR_OK);
    cr_assert_eq(lr_module_add_child(cur, nm, c), LR_OK);
    cur = c;
  }
  cr_assert_eq(lr_module_add_param(cur, "w", LR_DTYPE_F32, LR_SHAPE(1), NULL), LR_OK);
  lr_param_list l = {0, NULL};
  cr_assert_eq(lr_module_list(root, LR_VISIT_ALL, &l), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "longer than 255"), "%s", lr_last_error());
  cr_assert_eq(l.n, 0);
  cr_assert_eq(lr_module_num_params(root), 1);
  lr_module_free(root);
}
