/* lr_module: named persistent tensors and child modules; see module.h.
 *
 * Tensors and children live in small growable arrays on the module; full dotted names are built
 * during a depth-first walk into one LR_NAME_MAX buffer, so iteration allocates nothing.
 * Lookup by dotted name walks the path one component at a time.
 */
#include "nn/module.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

lr_status lr_module_new(size_t size, const char *type, lr_module **out) {
  if (!out) return lr_fail(LR_ERR_ARG, "lr_module_new: out is NULL");
  if (size < sizeof(lr_module))
    return lr_fail(LR_ERR_ARG, "lr_module_new: size %zu is smaller than lr_module (%zu)", size, sizeof(lr_module));
  lr_module *m = calloc(1, size);
  char *nm = dup_str("");
  if (!m || !nm) {
    free(m);
    free(nm);
    return lr_fail(LR_ERR_MEMORY, "lr_module_new: out of memory (%s, %zu bytes)", type ? type : "?", size);
  }
  m->name = nm;
  m->type = type ? type : "Module";
  m->training = true;
  *out = m;
  return LR_OK;
}

static void module_free_tree(lr_module *m) {
  for (int i = 0; i < m->n_children; i++) module_free_tree(m->children[i]);
  free(m->children);
  for (int i = 0; i < m->n_params; i++) {
    if (!(m->params[i].flags & LR_PARAM_TIED)) lr_tensor_free(m->params[i].t);
    free(m->params[i].name);
  }
  free(m->params);
  m->children = NULL;
  m->params = NULL;
  m->n_children = m->n_params = 0;
  if (m->destroy) m->destroy(m);
  free(m->name);
  free(m);
}

void lr_module_free(lr_module *m) {
  if (!m) return;
  if (m->parent) {
    /* Freeing a child alone would leave a dangling pointer in its parent; the parent owns it. */
    return;
  }
  module_free_tree(m);
}

/* ---- registration ---- */
static bool name_taken(const lr_module *m, const char *name) {
  for (int i = 0; i < m->n_params; i++)
    if (!strcmp(m->params[i].name, name)) return true;
  for (int i = 0; i < m->n_children; i++)
    if (!strcmp(m->children[i]->name, name)) return true;
  return false;
}

static lr_status check_local_name(const char *fn, const lr_module *m, const char *name) {
  if (!m) return lr_fail(LR_ERR_ARG, "%s: module is NULL", fn);
  if (!name) return lr_fail(LR_ERR_ARG, "%s: name is NULL", fn);
  if (!*name) return lr_fail(LR_ERR_ARG, "%s: empty name in %s", fn, m->type);
  if (strchr(name, '.')) return lr_fail(LR_ERR_ARG, "%s: name '%s' contains '.'", fn, name);
  if (strlen(name) >= LR_NAME_MAX) return lr_fail(LR_ERR_ARG, "%s: name '%.32s...' is too long", fn, name);
  if (name_taken(m, name)) return lr_fail(LR_ERR_ARG, "%s: %s already has a member named '%s'", fn, m->type, name);
  return LR_OK;
}

static lr_status push_param(const char *fn, lr_module *m, const char *name, lr_tensor *t, uint32_t flags) {
  if (m->n_params == m->cap_params) {
    int cap = m->cap_params ? 2 * m->cap_params : 4;
    lr_param *p = realloc(m->params, (size_t)cap * sizeof *p);
    if (!p) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    m->params = p;
    m->cap_params = cap;
  }
  char *nm = dup_str(name);
  if (!nm) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  m->params[m->n_params++] = (lr_param){.name = nm, .t = t, .flags = flags};
  return LR_OK;
}

lr_status lr_module_register(lr_module *m, const char *name, lr_tensor *t, bool buffer) {
  const char *fn = "lr_module_register";
  LR_TRY(check_local_name(fn, m, name));
  if (!t) return lr_fail(LR_ERR_ARG, "%s: tensor '%s' is NULL", fn, name);
  if (!(t->flags & LR_TF_HEAP) || !(t->flags & LR_TF_OWNS_DATA))
    return lr_fail(LR_ERR_ARG, "%s: tensor '%s' is not a persistent tensor from lr_tensor_new", fn, name);
  if (!buffer) {
    if (!lr_dtype_is_float(t->dtype))
      return lr_fail(LR_ERR_DTYPE, "%s: parameter '%s' is %s, expected f32, f64, c64 or c128", fn, name,
                     lr_dtype_name(t->dtype));
    LR_TRY(lr_requires_grad_(t, true));
  }
  return push_param(fn, m, name, t, buffer ? LR_PARAM_BUFFER : 0u);
}

static lr_status add_tensor(const char *fn, lr_module *m, const char *name, lr_dtype dt, int ndim,
                            const int64_t *shape, bool buffer, lr_tensor **out) {
  LR_TRY(check_local_name(fn, m, name));
  if (!buffer && !lr_dtype_is_float(dt))
    return lr_fail(LR_ERR_DTYPE, "%s: parameter '%s' is %s, expected f32, f64, c64 or c128", fn, name,
                   lr_dtype_name(dt));
  lr_tensor *t;
  LR_TRY(lr_tensor_new(dt, LR_DEVICE_CPU, ndim, shape, &t));
  t->requires_grad = !buffer;
  lr_status s = push_param(fn, m, name, t, buffer ? LR_PARAM_BUFFER : 0u);
  if (s != LR_OK) {
    lr_tensor_free(t);
    return s;
  }
  if (out) *out = t;
  return LR_OK;
}

lr_status lr_module_add_param(lr_module *m, const char *name, lr_dtype dt, int ndim, const int64_t *shape,
                              lr_tensor **out) {
  return add_tensor("lr_module_add_param", m, name, dt, ndim, shape, false, out);
}

lr_status lr_module_add_buffer(lr_module *m, const char *name, lr_dtype dt, int ndim, const int64_t *shape,
                               lr_tensor **out) {
  return add_tensor("lr_module_add_buffer", m, name, dt, ndim, shape, true, out);
}

lr_status lr_module_add_child(lr_module *m, const char *name, lr_module *child) {
  const char *fn = "lr_module_add_child";
  LR_TRY(check_local_name(fn, m, name));
  if (!child) return lr_fail(LR_ERR_ARG, "%s: child '%s' is NULL", fn, name);
  if (child->parent) return lr_fail(LR_ERR_ARG, "%s: '%s' already has a parent", fn, name);
  for (const lr_module *a = m; a; a = a->parent)
    if (a == child) return lr_fail(LR_ERR_ARG, "%s: adding '%s' would make a cycle", fn, name);
  if (m->n_children == m->cap_children) {
    int cap = m->cap_children ? 2 * m->cap_children : 4;
    lr_module **c = realloc(m->children, (size_t)cap * sizeof *c);
    if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    m->children = c;
    m->cap_children = cap;
  }
  char *nm = dup_str(name);
  if (!nm) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  free(child->name);
  child->name = nm;
  child->parent = m;
  m->children[m->n_children++] = child;
  return LR_OK;
}

lr_status lr_module_add_child_at(lr_module *m, int index, lr_module *child) {
  if (index < 0) return lr_fail(LR_ERR_ARG, "lr_module_add_child_at: index %d is negative", index);
  char nm[16];
  snprintf(nm, sizeof nm, "%d", index);
  return lr_module_add_child(m, nm, child);
}

lr_status lr_module_attach(lr_module *parent, const char *name, lr_module *child) {
  if (!parent) return LR_OK;
  lr_status s = lr_module_add_child(parent, name, child);
  if (s != LR_OK) lr_module_free(child);
  return s;
}

lr_status lr_module_tie(lr_module *m, const char *name, lr_tensor *t) {
  const char *fn = "lr_module_tie";
  if (!m || !name || !t) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  uint32_t kind = t->requires_grad ? 0u : LR_PARAM_BUFFER;
  for (int i = 0; i < m->n_params; i++) {
    lr_param *p = &m->params[i];
    if (strcmp(p->name, name)) continue;
    if (p->t == t) return lr_fail(LR_ERR_ARG, "%s: '%s' of %s already is that tensor", fn, name, m->type);
    if (p->flags & LR_PARAM_TIED) return lr_fail(LR_ERR_ARG, "%s: '%s' of %s is already tied", fn, name, m->type);
    if (p->t->dtype != t->dtype)
      return lr_fail(LR_ERR_DTYPE, "%s: '%s' of %s is %s, the tensor to tie is %s", fn, name, m->type,
                     lr_dtype_name(p->t->dtype), lr_dtype_name(t->dtype));
    if (!lr_same_shape(p->t, t)) {
      char a[128], b[128];
      return lr_fail(LR_ERR_SHAPE, "%s: '%s' of %s is %s, the tensor to tie is %s", fn, name, m->type,
                     lr_shape_str(p->t->ndim, p->t->shape, a, sizeof a), lr_shape_str(t->ndim, t->shape, b, sizeof b));
    }
    lr_tensor_free(p->t);
    p->t = t;
    p->flags = LR_PARAM_TIED | kind | (p->flags & LR_PARAM_REAL_VIEW);
    return LR_OK;
  }
  LR_TRY(check_local_name(fn, m, name));
  return push_param(fn, m, name, t, LR_PARAM_TIED | kind);
}

lr_status lr_module_store_as_real(lr_module *m, const char *name) {
  lr_param *p;
  LR_TRY(lr_module_find(m, name, NULL, &p));
  if (!lr_dtype_is_complex(p->t->dtype))
    return lr_fail(LR_ERR_DTYPE, "lr_module_store_as_real: '%s' is %s, expected c64 or c128", name,
                   lr_dtype_name(p->t->dtype));
  p->flags |= LR_PARAM_REAL_VIEW;
  return LR_OK;
}

/* ---- devices ---- */
/* A move in two phases: fresh[] get new contiguous buffers on dev filled from the old tensors;
 * only when every one succeeded are data pointers swapped into the old structs (which stay where
 * they are) and the old buffers released through the fresh structs. */
typedef struct {
  lr_tensor **old, **fresh;
  int n, cap;
  lr_device dev;
} move_plan;

static lr_status plan_add(move_plan *mp, lr_tensor *t) {
  if (mp->n == mp->cap) {
    int cap = mp->cap ? 2 * mp->cap : 16;
    lr_tensor **o = realloc(mp->old, (size_t)cap * sizeof *o);
    if (!o) return lr_fail(LR_ERR_MEMORY, "lr_module_to: out of memory");
    mp->old = o;
    lr_tensor **f = realloc(mp->fresh, (size_t)cap * sizeof *f);
    if (!f) return lr_fail(LR_ERR_MEMORY, "lr_module_to: out of memory");
    mp->fresh = f;
    mp->cap = cap;
  }
  lr_tensor *f;
  LR_TRY(lr_tensor_new(t->dtype, mp->dev, t->ndim, t->shape, &f));
  lr_status s = LR_OK;
  if (t->device == LR_DEVICE_CPU || lr_is_contiguous(t)) {
    s = lr_tensor_copy_(f, t);
  } else {
    /* A strided device tensor: through a contiguous host copy. */
    void *h = malloc(lr_nbytes(t) + 1);
    if (!h) s = lr_fail(LR_ERR_MEMORY, "lr_module_to: out of memory");
    if (s == LR_OK) s = lr_tensor_copy_to_host(t, h, lr_nbytes(t));
    if (s == LR_OK) s = lr_tensor_copy_from_host(f, h, lr_nbytes(t));
    free(h);
  }
  if (s != LR_OK) {
    lr_tensor_free(f);
    return s;
  }
  mp->old[mp->n] = t;
  mp->fresh[mp->n++] = f;
  return LR_OK;
}

static lr_status plan_tree(move_plan *mp, lr_module *m) {
  for (int i = 0; i < m->n_params; i++) {
    lr_param *p = &m->params[i];
    if (p->flags & LR_PARAM_TIED) continue; /* its owner moves the struct they share */
    if (p->t->device != mp->dev) LR_TRY(plan_add(mp, p->t));
    if (p->t->grad && p->t->grad->device != mp->dev) LR_TRY(plan_add(mp, p->t->grad));
  }
  for (int i = 0; i < m->n_children; i++) LR_TRY(plan_tree(mp, m->children[i]));
  return LR_OK;
}

lr_status lr_module_to(lr_module *m, lr_device dev) {
  if (!m) return lr_fail(LR_ERR_ARG, "lr_module_to: module is NULL");
  if ((unsigned)dev >= LR_DEVICE_COUNT) return lr_fail(LR_ERR_DEVICE, "lr_module_to: unknown device %d", (int)dev);
  move_plan mp = {.dev = dev};
  lr_status s = plan_tree(&mp, m);
  for (int i = 0; i < mp.n; i++) {
    lr_tensor *o = mp.old[i], *f = mp.fresh[i];
    if (s == LR_OK) {
      /* Swap storage: o takes f's new buffer, f takes o's old one and frees it below. */
      void *data = o->data;
      lr_device od = o->device;
      uint32_t oflags = o->flags;
      o->data = f->data;
      o->device = f->device;
      lr_contiguous_strides(o->ndim, o->shape, o->strides);
      o->flags = (oflags & ~LR_TF_OWNS_DATA) | (f->flags & LR_TF_OWNS_DATA);
      f->data = data;
      f->device = od;
      f->flags = LR_TF_HEAP | (oflags & LR_TF_OWNS_DATA);
    }
    lr_tensor_free(f);
  }
  free(mp.old);
  free(mp.fresh);
  return s;
}

/* ---- lookup ---- */
/* Splits off the first component of path: its length, and the rest after '.' (NULL if last). */
static size_t first_component(const char *path, const char **rest) {
  const char *dot = strchr(path, '.');
  *rest = dot ? dot + 1 : NULL;
  return dot ? (size_t)(dot - path) : strlen(path);
}

static lr_module *child_named(const lr_module *m, const char *nm, size_t len) {
  for (int i = 0; i < m->n_children; i++)
    if (strlen(m->children[i]->name) == len && !strncmp(m->children[i]->name, nm, len)) return m->children[i];
  return NULL;
}

lr_status lr_module_find_child(lr_module *m, const char *path, lr_module **out) {
  if (!m || !path || !out) return lr_fail(LR_ERR_ARG, "lr_module_find_child: NULL argument");
  lr_module *cur = m;
  const char *p = path;
  while (p && *p) {
    const char *rest;
    size_t len = first_component(p, &rest);
    lr_module *c = child_named(cur, p, len);
    if (!c) return lr_fail(LR_ERR_ARG, "lr_module_find_child: %s has no module '%s'", m->type, path);
    cur = c;
    p = rest;
  }
  *out = cur;
  return LR_OK;
}

lr_status lr_module_find(lr_module *m, const char *name, lr_tensor **t, lr_param **p) {
  if (!m || !name) return lr_fail(LR_ERR_ARG, "lr_module_find: NULL argument");
  lr_module *cur = m;
  const char *s = name;
  for (;;) {
    const char *rest;
    size_t len = first_component(s, &rest);
    if (!rest) {
      for (int i = 0; i < cur->n_params; i++)
        if (!strcmp(cur->params[i].name, s)) {
          if (t) *t = cur->params[i].t;
          if (p) *p = &cur->params[i];
          return LR_OK;
        }
      break;
    }
    cur = child_named(cur, s, len);
    if (!cur) break;
    s = rest;
  }
  return lr_fail(LR_ERR_ARG, "lr_module_find: %s has no tensor '%s'", m->type, name);
}

lr_status lr_module_no_weight_decay(lr_module *m, const char *name) {
  return lr_module_set_optim(m, name, -1.0, 0.0);
}

lr_status lr_module_set_optim(lr_module *m, const char *name, double lr, double weight_decay) {
  lr_param *p;
  LR_TRY(lr_module_find(m, name, NULL, &p));
  if (p->flags & LR_PARAM_BUFFER) return lr_fail(LR_ERR_ARG, "lr_module_set_optim: '%s' is a buffer", name);
  if (lr != lr || weight_decay != weight_decay)
    return lr_fail(LR_ERR_ARG, "lr_module_set_optim: '%s': lr %g, weight_decay %g (NaN)", name, lr, weight_decay);
  if (lr >= 0) {
    p->flags |= LR_PARAM_LR;
    p->lr = lr;
  }
  if (weight_decay >= 0) {
    p->flags |= LR_PARAM_WD;
    p->weight_decay = weight_decay;
  }
  return LR_OK;
}

/* ---- iteration ---- */
static lr_status visit(lr_module *m, char *buf, size_t len, unsigned what, lr_param_visit_fn fn, void *ctx) {
  for (int i = 0; i < m->n_params; i++) {
    lr_param *p = &m->params[i];
    unsigned kind = (p->flags & LR_PARAM_BUFFER) ? LR_VISIT_BUFFERS : LR_VISIT_PARAMS;
    if (!(what & kind)) continue;
    if ((p->flags & LR_PARAM_TIED) && !(what & LR_VISIT_TIED)) continue;
    size_t k = strlen(p->name);
    if (len + k + 1 > LR_NAME_MAX)
      return lr_fail(LR_ERR_ARG, "lr_module_visit: the name '%s%s' is longer than %d", buf, p->name, LR_NAME_MAX - 1);
    memcpy(buf + len, p->name, k + 1);
    lr_status s = fn(buf, p, m, ctx);
    buf[len] = '\0';
    if (s != LR_OK) return s;
  }
  for (int i = 0; i < m->n_children; i++) {
    lr_module *c = m->children[i];
    size_t k = strlen(c->name);
    if (len + k + 2 > LR_NAME_MAX)
      return lr_fail(LR_ERR_ARG, "lr_module_visit: the name '%s%s.' is longer than %d", buf, c->name, LR_NAME_MAX - 1);
    memcpy(buf + len, c->name, k);
    buf[len + k] = '.';
    buf[len + k + 1] = '\0';
    lr_status s = visit(c, buf, len + k + 1, what, fn, ctx);
    buf[len] = '\0';
    if (s != LR_OK) return s;
  }
  return LR_OK;
}

lr_status lr_module_visit(lr_module *m, unsigned what, lr_param_visit_fn fn, void *ctx) {
  if (!m || !fn) return lr_fail(LR_ERR_ARG, "lr_module_visit: NULL argument");
  char buf[LR_NAME_MAX];
  buf[0] = '\0';
  return visit(m, buf, 0, what, fn, ctx);
}

static lr_status count_cb(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)name, (void)p, (void)owner;
  (*(int *)ctx)++;
  return LR_OK;
}

typedef struct {
  lr_param_list *l;
} list_ctx;

static lr_status list_cb(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)owner;
  lr_param_list *l = ((list_ctx *)ctx)->l;
  char *nm = dup_str(name);
  if (!nm) return lr_fail(LR_ERR_MEMORY, "lr_module_list: out of memory");
  l->items[l->n++] = (lr_named_param){.name = nm, .param = p};
  return LR_OK;
}

lr_status lr_module_list(lr_module *m, unsigned what, lr_param_list *out) {
  if (!m || !out) return lr_fail(LR_ERR_ARG, "lr_module_list: NULL argument");
  int n = 0;
  LR_TRY(lr_module_visit(m, what, count_cb, &n));
  lr_param_list l = {0, NULL};
  l.items = calloc(n ? (size_t)n : 1, sizeof *l.items);
  if (!l.items) return lr_fail(LR_ERR_MEMORY, "lr_module_list: out of memory (%d tensors)", n);
  list_ctx c = {&l};
  lr_status s = lr_module_visit(m, what, list_cb, &c);
  if (s != LR_OK) {
    lr_param_list_free(&l);
    return s;
  }
  *out = l;
  return LR_OK;
}

void lr_param_list_free(lr_param_list *l) {
  if (!l) return;
  for (int i = 0; i < l->n; i++) free(l->items[i].name);
  free(l->items);
  l->items = NULL;
  l->n = 0;
}

static void numel_walk(const lr_module *m, int64_t *total, int *count) {
  for (int i = 0; i < m->n_params; i++) {
    if (m->params[i].flags & (LR_PARAM_BUFFER | LR_PARAM_TIED)) continue;
    *total += lr_numel(m->params[i].t);
    (*count)++;
  }
  for (int i = 0; i < m->n_children; i++) numel_walk(m->children[i], total, count);
}

int64_t lr_module_num_params(lr_module *m) {
  int64_t total = 0;
  int count = 0;
  if (m) numel_walk(m, &total, &count);
  return total;
}

int lr_module_num_param_tensors(lr_module *m) {
  int64_t total = 0;
  int count = 0;
  if (m) numel_walk(m, &total, &count);
  return count;
}

static lr_status zero_cb(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)name, (void)owner, (void)ctx;
  return lr_zero_grad(p->t);
}

lr_status lr_module_zero_grad(lr_module *m) {
  if (!m) return lr_fail(LR_ERR_ARG, "lr_module_zero_grad: module is NULL");
  return lr_module_visit(m, LR_VISIT_PARAMS, zero_cb, NULL);
}

void lr_module_train(lr_module *m, bool on) {
  if (!m) return;
  m->training = on;
  for (int i = 0; i < m->n_children; i++) lr_module_train(m->children[i], on);
}

lr_status lr_module_path(const lr_module *m, char *buf, size_t n) {
  if (!m || !buf || !n) return lr_fail(LR_ERR_ARG, "lr_module_path: NULL argument");
  const lr_module *chain[64];
  int k = 0;
  for (const lr_module *a = m; a->parent; a = a->parent) {
    if (k == 64) return lr_fail(LR_ERR_ARG, "lr_module_path: modules nested deeper than 64");
    chain[k++] = a;
  }
  size_t len = 0;
  buf[0] = '\0';
  for (int i = k - 1; i >= 0; i--) {
    int w = snprintf(buf + len, n - len, i == k - 1 ? "%s" : ".%s", chain[i]->name);
    if (w < 0 || (size_t)w >= n - len) return lr_fail(LR_ERR_ARG, "lr_module_path: buffer of %zu bytes is too small", n);
    len += (size_t)w;
  }
  return LR_OK;
}
