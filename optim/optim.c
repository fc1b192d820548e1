/* Optimizer objects: configuration, parameter groups, per-parameter state, zero_grad and the
 * lr factor; the updates are in adam.c and sgd.c, clipping in clip.c, schedules in schedule.c.
 */
#include "optim/optim.h"

#include <stdio.h>
#include <stdlib.h>

#include "optim/optim_internal.h"

static const char *kind_name(lr_optim_kind k) {
  return k == LR_OPTIM_SGD ? "SGD" : k == LR_OPTIM_ADAM ? "Adam" : k == LR_OPTIM_ADAMW ? "AdamW" : "?";
}

lr_optim_config lr_adam_config(double lr) {
  return (lr_optim_config){.kind = LR_OPTIM_ADAM, .lr = lr, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
}

lr_optim_config lr_adamw_config(double lr, double weight_decay) {
  lr_optim_config c = lr_adam_config(lr);
  c.kind = LR_OPTIM_ADAMW;
  c.weight_decay = weight_decay;
  return c;
}

lr_optim_config lr_sgd_config(double lr, double momentum) {
  return (lr_optim_config){.kind = LR_OPTIM_SGD, .lr = lr, .momentum = momentum};
}

static bool finite_nonneg(double x) { return x >= 0 && x <= 1e300; }

static lr_status check_hparams(const char *fn, double lr, double wd) {
  if (!finite_nonneg(lr)) return lr_fail(LR_ERR_ARG, "%s: lr %g, expected a finite value >= 0", fn, lr);
  if (!finite_nonneg(wd)) return lr_fail(LR_ERR_ARG, "%s: weight_decay %g, expected a finite value >= 0", fn, wd);
  return LR_OK;
}

lr_status lr_optim_new(const lr_optim_config *cfg, lr_optim **out) {
  const char *fn = "lr_optim_new";
  if (!cfg || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (cfg->kind != LR_OPTIM_SGD && cfg->kind != LR_OPTIM_ADAM && cfg->kind != LR_OPTIM_ADAMW)
    return lr_fail(LR_ERR_ARG, "%s: unknown optimizer kind %d", fn, (int)cfg->kind);
  LR_TRY(check_hparams(fn, cfg->lr, cfg->weight_decay));
  if (cfg->kind == LR_OPTIM_SGD) {
    if (!finite_nonneg(cfg->momentum)) return lr_fail(LR_ERR_ARG, "%s: SGD momentum %g, expected >= 0", fn, cfg->momentum);
    if (!(cfg->dampening == cfg->dampening)) return lr_fail(LR_ERR_ARG, "%s: SGD dampening is NaN", fn);
    if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0))
      return lr_fail(LR_ERR_ARG, "%s: SGD nesterov needs momentum > 0 and dampening 0 (momentum %g, dampening %g)", fn,
                     cfg->momentum, cfg->dampening);
  } else {
    if (!(cfg->beta1 >= 0 && cfg->beta1 < 1) || !(cfg->beta2 >= 0 && cfg->beta2 < 1))
      return lr_fail(LR_ERR_ARG, "%s: %s betas (%g, %g), expected each in [0, 1)", fn, kind_name(cfg->kind),
                     cfg->beta1, cfg->beta2);
    if (!finite_nonneg(cfg->eps)) return lr_fail(LR_ERR_ARG, "%s: %s eps %g, expected >= 0", fn, kind_name(cfg->kind), cfg->eps);
  }
  lr_optim *o = calloc(1, sizeof *o);
  if (!o) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  o->cfg = *cfg;
  *out = o;
  return LR_OK;
}

void lr_optim_free(lr_optim *o) {
  if (!o) return;
  for (int i = 0; i < o->n_st; i++) {
    lr_tensor_free(o->st[i].m);
    lr_tensor_free(o->st[i].v);
  }
  free(o->st);
  free(o->groups);
  free(o);
}

static int find_param(const lr_optim *o, const lr_tensor *p) {
  for (int i = 0; i < o->n_st; i++)
    if (o->st[i].p == p) return i;
  return -1;
}

static lr_status check_param(const char *fn, const lr_optim *o, const lr_tensor *p, int i) {
  if (!p) return lr_fail(LR_ERR_ARG, "%s: parameter %d is NULL", fn, i);
  if (!lr_dtype_is_float(p->dtype))
    return lr_fail(LR_ERR_DTYPE, "%s: parameter %d is %s, expected f32, f64, c64 or c128", fn, i, lr_dtype_name(p->dtype));
  if (p->node) return lr_fail(LR_ERR_ARG, "%s: parameter %d is not a leaf (output of '%s')", fn, i, p->node->op->name);
  if (!lr_is_contiguous(p)) return lr_fail(LR_ERR_UNSUPPORTED, "%s: parameter %d is not contiguous", fn, i);
  int j = find_param(o, p);
  if (j >= 0) return lr_fail(LR_ERR_ARG, "%s: parameter %d is already in group %d", fn, i, o->st[j].group);
  return LR_OK;
}

static lr_status reserve(const char *fn, lr_optim *o, int more_params, int more_groups) {
  if (o->n_st + more_params > o->cap_st) {
    int cap = o->cap_st ? o->cap_st : 8;
    while (cap < o->n_st + more_params) cap *= 2;
    lr_optim_state *s = realloc(o->st, (size_t)cap * sizeof *s);
    if (!s) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    o->st = s;
    o->cap_st = cap;
  }
  if (o->n_groups + more_groups > o->cap_groups) {
    int cap = o->cap_groups ? o->cap_groups : 4;
    while (cap < o->n_groups + more_groups) cap *= 2;
    lr_param_group *g = realloc(o->groups, (size_t)cap * sizeof *g);
    if (!g) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    o->groups = g;
    o->cap_groups = cap;
  }
  return LR_OK;
}

lr_status lr_optim_add_group(lr_optim *o, int n, lr_tensor *const *params, double lr, double weight_decay) {
  const char *fn = "lr_optim_add_group";
  if (!o || (n > 0 && !params)) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (n < 0) return lr_fail(LR_ERR_ARG, "%s: n %d is negative", fn, n);
  LR_TRY(check_hparams(fn, lr, weight_decay));
  for (int i = 0; i < n; i++) {
    LR_TRY(check_param(fn, o, params[i], i));
    for (int j = 0; j < i; j++)
      if (params[j] == params[i]) return lr_fail(LR_ERR_ARG, "%s: parameters %d and %d are the same tensor", fn, j, i);
  }
  LR_TRY(reserve(fn, o, n, 1));
  int g = o->n_groups++;
  o->groups[g] = (lr_param_group){.lr = lr, .base_lr = lr, .weight_decay = weight_decay, .n = n};
  for (int i = 0; i < n; i++) o->st[o->n_st++] = (lr_optim_state){.p = params[i], .group = g};
  return LR_OK;
}

typedef struct {
  lr_optim *o;
  unsigned policy;
  lr_tensor **tensors;
  double *lr, *wd;
  int n;
} collect_ctx;

static lr_status collect_cb(const char *name, lr_param *p, lr_module *owner, void *ctx) {
  (void)owner;
  collect_ctx *c = ctx;
  if (!p->t->requires_grad) return LR_OK; /* frozen */
  int i = c->n++;
  c->tensors[i] = p->t;
  c->lr[i] = (p->flags & LR_PARAM_LR) ? p->lr : c->o->cfg.lr;
  if (p->flags & LR_PARAM_WD) c->wd[i] = p->weight_decay;
  else if ((c->policy & LR_GROUP_NO_DECAY_1D) && p->t->ndim < 2) c->wd[i] = 0.0;
  else c->wd[i] = c->o->cfg.weight_decay;
  lr_status s = check_param("lr_optim_add_module", c->o, p->t, i);
  if (s != LR_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", lr_last_error());
    return lr_fail(s, "%s (parameter '%s')", msg, name);
  }
  return check_hparams("lr_optim_add_module", c->lr[i], c->wd[i]);
}

lr_status lr_optim_add_module(lr_optim *o, lr_module *m, unsigned policy) {
  const char *fn = "lr_optim_add_module";
  if (!o || !m) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  int n = lr_module_num_param_tensors(m);
  collect_ctx c = {o, policy, malloc((size_t)(n ? n : 1) * sizeof(lr_tensor *)), malloc((size_t)(n ? n : 1) * sizeof(double)),
                   malloc((size_t)(n ? n : 1) * sizeof(double)), 0};
  int *gid = malloc((size_t)(n ? n : 1) * sizeof(int));
  lr_status s = LR_OK;
  if (!c.tensors || !c.lr || !c.wd || !gid) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  if (s == LR_OK) s = lr_module_visit(m, LR_VISIT_PARAMS, collect_cb, &c);
  /* Assign groups: an existing group with the same (lr, wd), else a new one. New groups are
   * counted first so that nothing changes on failure. */
  int new_groups = 0;
  for (int i = 0; s == LR_OK && i < c.n; i++) {
    gid[i] = -1;
    for (int g = 0; g < o->n_groups && gid[i] < 0; g++)
      if (o->groups[g].base_lr == c.lr[i] && o->groups[g].weight_decay == c.wd[i]) gid[i] = g;
    for (int j = 0; j < i && gid[i] < 0; j++)
      if (gid[j] >= o->n_groups && c.lr[j] == c.lr[i] && c.wd[j] == c.wd[i]) gid[i] = gid[j];
    if (gid[i] < 0) gid[i] = o->n_groups + new_groups++;
  }
  if (s == LR_OK) s = reserve(fn, o, c.n, new_groups);
  if (s == LR_OK) {
    for (int i = 0; i < c.n; i++) {
      if (gid[i] == o->n_groups) /* first parameter of a new group (ids are given in order) */
        o->groups[o->n_groups++] = (lr_param_group){.lr = c.lr[i], .base_lr = c.lr[i], .weight_decay = c.wd[i]};
      o->groups[gid[i]].n++;
      o->st[o->n_st++] = (lr_optim_state){.p = c.tensors[i], .group = gid[i]};
    }
  }
  free(c.tensors);
  free(c.lr);
  free(c.wd);
  free(gid);
  return s;
}

lr_status lr_optim_step(lr_optim *o) {
  if (!o) return lr_fail(LR_ERR_ARG, "lr_optim_step: optimizer is NULL");
  return o->cfg.kind == LR_OPTIM_SGD ? lr_sgd_step(o) : lr_adam_step(o);
}

lr_status lr_optim_zero_grad(lr_optim *o) {
  if (!o) return lr_fail(LR_ERR_ARG, "lr_optim_zero_grad: optimizer is NULL");
  for (int i = 0; i < o->n_st; i++) LR_TRY(lr_zero_grad(o->st[i].p));
  return LR_OK;
}

void lr_optim_set_lr_factor(lr_optim *o, double factor) {
  if (!o) return;
  for (int g = 0; g < o->n_groups; g++) o->groups[g].lr = o->groups[g].base_lr * factor;
}

lr_status lr_optim_prepare_(lr_optim *o, const char *fn, int n_bufs) {
  /* Check everything and allocate all missing state before any parameter changes, so that a
   * failure leaves the parameters and the state as they were. */
  for (int i = 0; i < o->n_st; i++) {
    lr_optim_state *st = &o->st[i];
    lr_tensor *p = st->p, *g = p->grad;
    if (!g) continue;
#ifdef LR_CUDA
    /* CUDA parameters update on the GPU (kernels/cuda/optim.cu); the state lives on p's device. */
    if (g->device != p->device)
      return lr_fail(LR_ERR_DEVICE, "%s: parameter %d is on %s, its grad on %s", fn, i, lr_device_name(p->device),
                     lr_device_name(g->device));
#else
    if (p->device != LR_DEVICE_CPU || g->device != LR_DEVICE_CPU)
      return lr_fail(LR_ERR_UNSUPPORTED, "%s: parameter %d is on %s; only cpu is implemented", fn, i,
                     lr_device_name(p->device));
#endif
    if (g->dtype != p->dtype || !lr_same_shape(g, p) || !lr_is_contiguous(g) || !lr_is_contiguous(p)) {
      char a[128], b[128];
      return lr_fail(LR_ERR_STATE, "%s: parameter %d is %s %s, its grad %s %s (%s)", fn, i, lr_dtype_name(p->dtype),
                     lr_shape_str(p->ndim, p->shape, a, sizeof a), lr_dtype_name(g->dtype),
                     lr_shape_str(g->ndim, g->shape, b, sizeof b),
                     lr_is_contiguous(g) ? "contiguous" : "not contiguous");
    }
    lr_tensor **bufs[2] = {&st->m, &st->v};
    for (int k = 0; k < n_bufs; k++)
      if (!*bufs[k]) LR_TRY(lr_tensor_new(p->dtype, p->device, p->ndim, p->shape, bufs[k]));
  }
  return LR_OK;
}
