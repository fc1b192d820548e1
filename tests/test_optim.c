/* optim/: Adam, AdamW and SGD steps against values computed from PyTorch's update formulas,
 * parameter groups and hints, gradient clipping, schedules, and end-to-end minimisation.
 *
 * Reference values: p0 = (1, -2, 0.5), grad = 2 (p - c) with c = (0.25, 0.5, -1) recomputed
 * from the current p before each step, 3 steps, lr 0.1 — the loss sum (p - c)^2. The numbers
 * were produced by an independent double-precision Python transcription of torch.optim's
 * single-tensor Adam/AdamW/SGD code (step_size = lr / bc1, denom = sqrt(v) / sqrt(bc2) + eps).
 * Tolerance for f64: 1e-14 absolute (values are O(1); the two evaluations differ only in rounding
 * order, a few ulp per step).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "ops/elementwise.h"
#include "optim/optim.h"

#define TOL64 1e-14

static const double p0[3] = {1.0, -2.0, 0.5};
static const double c0[3] = {0.25, 0.5, -1.0};

static const double adam_want[3][3] = {
    {0.90000000066666663, -1.9000000001999999, 0.40000000033333333},
    {0.80062558295907305, -1.8001271883808261, 0.30023906229228026},
    {0.70245665849130734, -1.7004739338629591, 0.20090287051809985},
};
static const double adam_l2_want[3][3] = {
    {0.90000000062499996, -1.9000000001923076, 0.40000000032786887},
    {0.80061100402896124, -1.800128642282149, 0.30024925402118996},
    {0.70239627209576727, -1.7004794391133837, 0.20094246189266871},
};
static const double adamw_want[3][3] = {
    {0.89000000066666662, -1.8800000001999999, 0.39500000033333332},
    {0.78182297399118883, -1.7613583758696036, 0.29130466833734203},
    {0.67612903435286775, -1.644176218495963, 0.18909580203847248},
};
static const double sgd_want[3][3] = {
    {0.84999999999999998, -1.5, 0.19999999999999996},
    {0.72999999999999998, -1.1000000000000001, -0.040000000000000036},
    {0.63400000000000001, -0.78000000000000003, -0.23200000000000004},
};
static const double sgd_mom_want[3][3] = { /* momentum 0.9, dampening 0.1 */
    {0.84999999999999998, -1.5, 0.19999999999999996},
    {0.60699999999999998, -0.68999999999999995, -0.28600000000000009},
    {0.32403999999999994, 0.25320000000000009, -0.85192000000000023},
};
static const double sgd_nesterov_want[3][3] = { /* momentum 0.9, nesterov */
    {0.71499999999999997, -1.0499999999999998, -0.070000000000000062},
    {0.41679999999999995, -0.055999999999999828, -0.6664000000000001},
    {0.16873599999999991, 0.77088000000000023, -1.1625280000000002},
};
static const double sgd_wd_want[3][3] = { /* momentum 0.5, weight decay 0.05 */
    {0.84499999999999997, -1.49, 0.19750000000000001},
    {0.64427499999999993, -0.82955000000000001, -0.19423750000000001},
    {0.46183612499999993, -0.22926724999999992, -0.55028756249999999},
};

static lr_tensor *param(lr_dtype dt, int ndim, const int64_t *shape, const double *vals) {
  lr_tensor *t;
  cr_assert_eq(lr_tensor_new(dt, LR_DEVICE_CPU, ndim, shape, &t), LR_OK);
  cr_assert_eq(lr_requires_grad_(t, true), LR_OK);
  int64_t n = lr_numel(t);
  for (int64_t i = 0; vals && i < n; i++) lr_tensor_set(t, i, vals[i], 0.0);
  return t;
}

/* grad = 2 (p - c), written into p's persistent grad buffer. */
static void set_quadratic_grad(lr_tensor *p, const double *c) {
  lr_tensor *g;
  cr_assert_eq(lr_grad_buffer(p, &g), LR_OK);
  for (int64_t i = 0; i < lr_numel(p); i++) lr_tensor_set(g, i, 2.0 * (lr_tensor_get(p, i) - c[i]), 0.0);
}

static void run_reference(lr_optim_config cfg, const double want[3][3], const char *what) {
  lr_tensor *p = param(LR_DTYPE_F64, LR_SHAPE(3), p0);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_optim_add_group(o, 1, &p, cfg.lr, cfg.weight_decay), LR_OK);
  for (int s = 0; s < 3; s++) {
    set_quadratic_grad(p, c0);
    cr_assert_eq(lr_optim_step(o), LR_OK, "%s", lr_last_error());
    for (int i = 0; i < 3; i++)
      cr_assert(fabs(lr_tensor_get(p, i) - want[s][i]) < TOL64, "%s step %d [%d]: %.17g, want %.17g", what, s + 1, i,
                lr_tensor_get(p, i), want[s][i]);
  }
  cr_assert_eq(o->st[0].step, 3);
  lr_optim_free(o);
  lr_tensor_free(p);
}

Test(optim, adam_reference) { run_reference(lr_adam_config(0.1), adam_want, "adam"); }

Test(optim, adam_l2_reference) {
  lr_optim_config c = lr_adam_config(0.1);
  c.weight_decay = 0.1;
  run_reference(c, adam_l2_want, "adam+l2");
}

Test(optim, adamw_reference) { run_reference(lr_adamw_config(0.1, 0.1), adamw_want, "adamw"); }

Test(optim, sgd_reference) {
  run_reference(lr_sgd_config(0.1, 0.0), sgd_want, "sgd");
  lr_optim_config c = lr_sgd_config(0.1, 0.9);
  c.dampening = 0.1;
  run_reference(c, sgd_mom_want, "sgd momentum");
  c = lr_sgd_config(0.1, 0.9);
  c.nesterov = true;
  run_reference(c, sgd_nesterov_want, "sgd nesterov");
  c = lr_sgd_config(0.1, 0.5);
  c.weight_decay = 0.05;
  run_reference(c, sgd_wd_want, "sgd weight decay");
}

Test(optim, defaults_are_pytorchs) {
  lr_optim_config a = lr_adam_config(1e-3);
  cr_assert(a.kind == LR_OPTIM_ADAM && a.beta1 == 0.9 && a.beta2 == 0.999 && a.eps == 1e-8 && a.weight_decay == 0);
  lr_optim_config w = lr_adamw_config(1e-3, 1e-2);
  cr_assert(w.kind == LR_OPTIM_ADAMW && w.beta1 == 0.9 && w.beta2 == 0.999 && w.eps == 1e-8 && w.weight_decay == 1e-2);
  lr_optim_config s = lr_sgd_config(0.1, 0.9);
  cr_assert(s.kind == LR_OPTIM_SGD && s.momentum == 0.9 && s.dampening == 0 && !s.nesterov && s.weight_decay == 0);
}

/* f32 runs the same formulas in single precision: within 1e-6 of the f64 reference (3 steps of
 * O(1) values, each step a few f32 roundings of relative size 6e-8). */
Test(optim, adam_f32) {
  lr_tensor *p = param(LR_DTYPE_F32, LR_SHAPE(3), p0);
  lr_optim_config cfg = lr_adamw_config(0.1, 0.1);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &p, 0.1, 0.1), LR_OK);
  for (int s = 0; s < 3; s++) {
    set_quadratic_grad(p, c0);
    cr_assert_eq(lr_optim_step(o), LR_OK);
    for (int i = 0; i < 3; i++) cr_assert(fabs(lr_tensor_get(p, i) - adamw_want[s][i]) < 1e-6);
  }
  cr_assert_eq(o->st[0].m->dtype, LR_DTYPE_F32);
  lr_optim_free(o);
  lr_tensor_free(p);
}

/* A complex parameter is updated as its (re, im) pairs: a c128 (3,) parameter and an f64 (3, 2)
 * parameter holding the same reals, with the same grads, stay identical (bitwise). */
Test(optim, complex_as_real_pairs) {
  const lr_optim_config cfgs[3] = {lr_adam_config(0.05), lr_adamw_config(0.05, 0.2), lr_sgd_config(0.05, 0.9)};
  for (int k = 0; k < 3; k++) {
    lr_tensor *z = param(LR_DTYPE_C128, LR_SHAPE(3), NULL), *r = param(LR_DTYPE_F64, LR_SHAPE(3, 2), NULL);
    for (int i = 0; i < 3; i++) {
      lr_tensor_set(z, i, p0[i], c0[i]);
      lr_tensor_set(r, 2 * i, p0[i], 0);
      lr_tensor_set(r, 2 * i + 1, c0[i], 0);
    }
    lr_optim *oz, *or_;
    cr_assert_eq(lr_optim_new(&cfgs[k], &oz), LR_OK);
    cr_assert_eq(lr_optim_new(&cfgs[k], &or_), LR_OK);
    cr_assert_eq(lr_optim_add_group(oz, 1, &z, cfgs[k].lr, cfgs[k].weight_decay), LR_OK);
    cr_assert_eq(lr_optim_add_group(or_, 1, &r, cfgs[k].lr, cfgs[k].weight_decay), LR_OK);
    for (int s = 0; s < 4; s++) {
      lr_tensor *gz, *gr;
      cr_assert_eq(lr_grad_buffer(z, &gz), LR_OK);
      cr_assert_eq(lr_grad_buffer(r, &gr), LR_OK);
      for (int i = 0; i < 3; i++) { /* grad of |z - (1 + 2i)|^2 * (i + 1) in PyTorch's convention */
        double re, im;
        lr_tensor_get_c(z, i, &re, &im);
        double g_re = 2.0 * (i + 1) * (re - 1.0), g_im = 2.0 * (i + 1) * (im - 2.0);
        lr_tensor_set(gz, i, g_re, g_im);
        lr_tensor_set(gr, 2 * i, g_re, 0);
        lr_tensor_set(gr, 2 * i + 1, g_im, 0);
      }
      cr_assert_eq(lr_optim_step(oz), LR_OK);
      cr_assert_eq(lr_optim_step(or_), LR_OK);
    }
    for (int i = 0; i < 3; i++) {
      double re, im;
      lr_tensor_get_c(z, i, &re, &im);
      cr_assert_eq(re, lr_tensor_get(r, 2 * i), "config %d element %d", k, i);
      cr_assert_eq(im, lr_tensor_get(r, 2 * i + 1), "config %d element %d", k, i);
      cr_assert(re != p0[i] || im != c0[i], "config %d: the parameter did not move", k);
    }
    lr_optim_free(oz);
    lr_optim_free(or_);
    lr_tensor_free(z);
    lr_tensor_free(r);
  }
}

/* A module with the usual mix: a matrix, a bias (1-D), a Mamba-style A_log with
 * `_no_weight_decay`, and an S4-style parameter registered with its own lr (state-spaces'
 * register(name, t, lr=1e-3) sets {"weight_decay": 0.0, "lr": 1e-3}). */
static lr_module *grouped_model(void) {
  lr_module *m, *blk;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Model", &m), LR_OK);
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Block", &blk), LR_OK);
  cr_assert_eq(lr_module_add_child(m, "block", blk), LR_OK);
  lr_tensor *t;
  cr_assert_eq(lr_module_add_param(blk, "weight", LR_DTYPE_F64, LR_SHAPE(2, 2), &t), LR_OK);
  lr_tensor_fill_(t, 1.0);
  cr_assert_eq(lr_module_add_param(blk, "bias", LR_DTYPE_F64, LR_SHAPE(2), &t), LR_OK);
  lr_tensor_fill_(t, 1.0);
  cr_assert_eq(lr_module_add_param(blk, "A_log", LR_DTYPE_F64, LR_SHAPE(2, 3), &t), LR_OK);
  lr_tensor_fill_(t, 1.0);
  cr_assert_eq(lr_module_add_param(blk, "log_dt", LR_DTYPE_F64, LR_SHAPE(2, 1), &t), LR_OK);
  lr_tensor_fill_(t, 1.0);
  cr_assert_eq(lr_module_add_param(m, "head", LR_DTYPE_F64, LR_SHAPE(3, 2), &t), LR_OK);
  lr_tensor_fill_(t, 1.0);
  cr_assert_eq(lr_module_no_weight_decay(m, "block.A_log"), LR_OK);
  cr_assert_eq(lr_module_set_optim(m, "block.log_dt", 1e-3, 0.0), LR_OK);
  return m;
}

static lr_tensor *find(lr_module *m, const char *name) {
  lr_tensor *t;
  cr_assert_eq(lr_module_find(m, name, &t, NULL), LR_OK);
  return t;
}

Test(optim, weight_decay_groups) {
  lr_module *m = grouped_model();
  lr_optim_config cfg = lr_adamw_config(0.1, 0.5);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_module(o, m, LR_GROUP_NO_DECAY_1D), LR_OK, "%s", lr_last_error());
  /* Parameters in named_parameters order (the module's own first, then children): head,
   * block.weight, block.bias, block.A_log, block.log_dt. Groups in order of first appearance:
   * (0.1, 0.5) head+weight, (0.1, 0) bias+A_log, (1e-3, 0) log_dt. */
  cr_assert_eq(o->n_groups, 3);
  cr_assert_eq(o->n_st, 5);
  cr_assert(o->groups[0].lr == 0.1 && o->groups[0].weight_decay == 0.5 && o->groups[0].n == 2);
  cr_assert(o->groups[1].lr == 0.1 && o->groups[1].weight_decay == 0.0 && o->groups[1].n == 2);
  cr_assert(o->groups[2].lr == 1e-3 && o->groups[2].weight_decay == 0.0 && o->groups[2].n == 1);
  cr_assert_eq(o->st[0].p, find(m, "head"));
  cr_assert_eq(o->st[1].p, find(m, "block.weight"));
  cr_assert_eq(o->st[4].p, find(m, "block.log_dt"));
  cr_assert_eq(o->st[0].group, 0);
  cr_assert_eq(o->st[1].group, 0);
  cr_assert_eq(o->st[2].group, 1); /* bias: 1-D */
  cr_assert_eq(o->st[3].group, 1); /* A_log: hint */
  cr_assert_eq(o->st[4].group, 2); /* log_dt: own lr */

  /* Zero grads: Adam's update is 0 / (0 + eps) = 0, so only decoupled decay moves parameters:
   * p = 1 * (1 - lr * wd) = 0.95 in group 0, unchanged elsewhere (exact in binary? 0.95 is the
   * double nearest to 1 - 0.1*0.5 both ways). */
  cr_assert_eq(lr_module_zero_grad(m), LR_OK);
  lr_param_list l;
  cr_assert_eq(lr_module_list(m, LR_VISIT_PARAMS, &l), LR_OK);
  for (int i = 0; i < l.n; i++) {
    lr_tensor *g;
    cr_assert_eq(lr_grad_buffer(l.items[i].param->t, &g), LR_OK);
  }
  cr_assert_eq(lr_optim_step(o), LR_OK);
  for (int i = 0; i < l.n; i++) {
    const char *nm = l.items[i].name;
    double want = (!strcmp(nm, "block.weight") || !strcmp(nm, "head")) ? 1.0 - 0.1 * 0.5 : 1.0;
    lr_tensor *t = l.items[i].param->t;
    for (int64_t k = 0; k < lr_numel(t); k++)
      cr_assert_eq(lr_tensor_get(t, k), want, "%s[%lld] = %.17g", nm, (long long)k, lr_tensor_get(t, k));
  }
  lr_param_list_free(&l);

  /* A second module with the same hyperparameters reuses the groups; a parameter cannot be added twice. */
  lr_module *m2 = grouped_model();
  cr_assert_eq(lr_optim_add_module(o, m2, 0), LR_OK);
  cr_assert_eq(o->n_groups, 3); /* without the policy the bias joins group 0 */
  cr_assert_eq(o->groups[0].n, 2 + 3);
  cr_assert_eq(lr_optim_add_module(o, m2, 0), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "already in group 0") && strstr(lr_last_error(), "'head'"), "%s",
            lr_last_error());
  cr_assert_eq(o->n_st, 10);
  lr_optim_free(o);
  lr_module_free(m);
  lr_module_free(m2);
}

Test(optim, lr_factor_and_groups) {
  lr_tensor *a = param(LR_DTYPE_F64, LR_SHAPE(1), (double[]){1.0}), *b = param(LR_DTYPE_F64, LR_SHAPE(1), (double[]){1.0});
  lr_optim_config cfg = lr_sgd_config(1.0, 0.0);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &a, 0.5, 0.0), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &b, 0.25, 0.0), LR_OK);
  lr_optim_set_lr_factor(o, 0.5);
  cr_assert(o->groups[0].lr == 0.25 && o->groups[1].lr == 0.125 && o->groups[0].base_lr == 0.5);
  lr_tensor *g;
  lr_grad_buffer(a, &g);
  lr_tensor_fill_(g, 1.0);
  lr_grad_buffer(b, &g);
  lr_tensor_fill_(g, 1.0);
  cr_assert_eq(lr_optim_step(o), LR_OK);
  cr_assert_eq(lr_tensor_get(a, 0), 0.75);
  cr_assert_eq(lr_tensor_get(b, 0), 0.875);
  cr_assert_eq(lr_optim_zero_grad(o), LR_OK);
  cr_assert_eq(lr_tensor_get(a->grad, 0), 0.0);
  lr_optim_free(o);
  lr_tensor_free(a);
  lr_tensor_free(b);
}

Test(optim, params_without_grad_are_skipped) {
  lr_tensor *a = param(LR_DTYPE_F64, LR_SHAPE(2), (double[]){1, 2}), *b = param(LR_DTYPE_F64, LR_SHAPE(2), (double[]){3, 4});
  lr_optim_config cfg = lr_adamw_config(0.1, 0.1);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 2, (lr_tensor *[]){a, b}, 0.1, 0.1), LR_OK);
  lr_tensor *g;
  lr_grad_buffer(a, &g);
  lr_tensor_fill_(g, 1.0);
  cr_assert_eq(lr_optim_step(o), LR_OK);
  cr_assert_eq(o->st[0].step, 1);
  cr_assert_eq(o->st[1].step, 0);
  cr_assert_null(o->st[1].m); /* state is made lazily */
  cr_assert_not_null(o->st[0].v);
  cr_assert_eq(lr_tensor_get(b, 0), 3.0); /* no decay either, as PyTorch skips grad None */
  cr_assert(lr_tensor_get(a, 0) < 1.0);
  lr_optim_free(o);
  lr_tensor_free(a);
  lr_tensor_free(b);
}

/* Grads from the tape: y = p + p with upstream ones gives dL/dp = 2; SGD lr 0.5 moves p by -1. */
Test(optim, grads_from_backward) {
  lr_tensor *p = param(LR_DTYPE_F32, LR_SHAPE(3), (double[]){1, 2, 3});
  lr_optim_config cfg = lr_sgd_config(0.5, 0.0);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &p, 0.5, 0.0), LR_OK);
  for (int step = 0; step < 2; step++) {
    lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
    lr_tensor *y, *ones;
    cr_assert_eq(lr_add(p, p, &y), LR_OK);
    cr_assert_eq(lr_ones(LR_DTYPE_F32, LR_SHAPE(3), &ones), LR_OK);
    cr_assert_eq(lr_backward(y, ones), LR_OK);
    cr_assert_eq(lr_optim_step(o), LR_OK);
    cr_assert_eq(lr_optim_zero_grad(o), LR_OK);
    lr_arena_rewind(lr_arena_current(), mk);
  }
  for (int i = 0; i < 3; i++) cr_assert_eq(lr_tensor_get(p, i), (double)(i + 1) - 2.0);
  cr_assert(lr_grad_enabled()); /* the step restores grad mode */
  lr_optim_free(o);
  lr_tensor_free(p);
}

/* clip_grad_norm: grads (3, 4) and (12) have global norm 13; complex grad 3+4i has norm 5. */
Test(optim, clip_grad_norm) {
  lr_tensor *a = param(LR_DTYPE_F64, LR_SHAPE(2), NULL), *b = param(LR_DTYPE_F32, LR_SHAPE(1), NULL);
  lr_tensor *c = param(LR_DTYPE_F64, LR_SHAPE(1), NULL); /* never gets a grad */
  lr_tensor *ga, *gb;
  lr_grad_buffer(a, &ga);
  lr_grad_buffer(b, &gb);
  lr_tensor_set(ga, 0, 3, 0);
  lr_tensor_set(ga, 1, 4, 0);
  lr_tensor_set(gb, 0, 12, 0);
  lr_tensor *ps[3] = {a, b, c};
  double norm = 0;
  /* Below the threshold nothing changes. */
  cr_assert_eq(lr_clip_grad_norm(3, ps, 100.0, &norm), LR_OK);
  cr_assert_eq(norm, 13.0);
  cr_assert_eq(lr_tensor_get(ga, 0), 3.0);
  /* Clipping to 6.5: coef = 6.5 / (13 + 1e-6) as PyTorch; f32 grad within 1 f32 ulp. */
  cr_assert_eq(lr_clip_grad_norm(3, ps, 6.5, &norm), LR_OK);
  cr_assert_eq(norm, 13.0);
  double coef = 6.5 / (13.0 + 1e-6);
  cr_assert(fabs(lr_tensor_get(ga, 0) - 3 * coef) < 1e-15);
  cr_assert(fabs(lr_tensor_get(ga, 1) - 4 * coef) < 1e-15);
  cr_assert(fabs(lr_tensor_get(gb, 0) - 12 * coef) < 12 * 1.2e-7);
  cr_assert_null(c->grad);
  /* The clipped norm is max_norm (up to the 1e-6 guard). */
  cr_assert_eq(lr_clip_grad_norm(3, ps, 1000.0, &norm), LR_OK);
  cr_assert(fabs(norm - 6.5) < 1e-6);

  lr_tensor *z = param(LR_DTYPE_C64, LR_SHAPE(1), NULL), *gz;
  lr_grad_buffer(z, &gz);
  lr_tensor_set(gz, 0, 3, 4);
  cr_assert_eq(lr_clip_grad_norm(1, &z, 1.0, &norm), LR_OK);
  cr_assert(fabs(norm - 5.0) < 1e-6);
  double re, im;
  lr_tensor_get_c(gz, 0, &re, &im);
  cr_assert(fabs(re - 0.6) < 1e-6 && fabs(im - 0.8) < 1e-6);

  cr_assert_eq(lr_clip_grad_norm(3, ps, -1.0, &norm), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_clip_grad_norm: max_norm -1, expected >= 0");
  cr_assert_eq(lr_clip_grad_norm(2, (lr_tensor *[]){a, NULL}, 1.0, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_clip_grad_norm(0, NULL, 1.0, &norm), LR_OK);
  cr_assert_eq(norm, 0.0);
  lr_tensor_free(a);
  lr_tensor_free(b);
  lr_tensor_free(c);
  lr_tensor_free(z);
}

Test(optim, optim_clip_grad_norm) {
  lr_tensor *a = param(LR_DTYPE_F64, LR_SHAPE(2), NULL), *g;
  lr_grad_buffer(a, &g);
  lr_tensor_set(g, 0, 6, 0);
  lr_tensor_set(g, 1, 8, 0);
  lr_optim_config cfg = lr_sgd_config(0.1, 0.0);
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &a, 0.1, 0.0), LR_OK);
  double norm;
  cr_assert_eq(lr_optim_clip_grad_norm(o, 5.0, &norm), LR_OK);
  cr_assert_eq(norm, 10.0);
  cr_assert(fabs(lr_tensor_get(g, 0) - 3.0) < 1e-6 && fabs(lr_tensor_get(g, 1) - 4.0) < 1e-6);
  lr_optim_free(o);
  lr_tensor_free(a);
}

/* Schedules at key steps: exact where the formula gives exact binary values; 1e-15 otherwise. */
Test(optim, schedules) {
  lr_schedule cs = {LR_SCHED_WARMUP_COSINE, .warmup_steps = 10, .total_steps = 110};
  cr_assert_eq(lr_schedule_factor(&cs, 0), 0.0);
  cr_assert_eq(lr_schedule_factor(&cs, 5), 0.5);
  cr_assert_eq(lr_schedule_factor(&cs, 10), 1.0);
  cr_assert(fabs(lr_schedule_factor(&cs, 60) - 0.5) < 1e-15);
  cr_assert(fabs(lr_schedule_factor(&cs, 35) - 0.5 * (1 + cos(M_PI / 4))) < 1e-15);
  cr_assert(fabs(lr_schedule_factor(&cs, 110)) < 1e-15);
  cr_assert(fabs(lr_schedule_factor(&cs, 500)) < 1e-15); /* clamped after the end */
  cs.min_factor = 0.1;
  cr_assert(fabs(lr_schedule_factor(&cs, 110) - 0.1) < 1e-15);
  cr_assert(fabs(lr_schedule_factor(&cs, 60) - 0.55) < 1e-15);
  cr_assert_eq(lr_schedule_factor(&cs, 5), 0.5); /* warmup ignores the floor */

  lr_schedule ln = {LR_SCHED_WARMUP_LINEAR, .warmup_steps = 4, .total_steps = 104};
  cr_assert_eq(lr_schedule_factor(&ln, 1), 0.25);
  cr_assert_eq(lr_schedule_factor(&ln, 4), 1.0);
  cr_assert_eq(lr_schedule_factor(&ln, 29), 0.75);
  cr_assert_eq(lr_schedule_factor(&ln, 54), 0.5);
  cr_assert_eq(lr_schedule_factor(&ln, 104), 0.0);
  cr_assert_eq(lr_schedule_factor(&ln, 1000), 0.0);

  lr_schedule k = {LR_SCHED_CONSTANT, .warmup_steps = 0};
  cr_assert_eq(lr_schedule_factor(&k, 0), 1.0);
  cr_assert_eq(lr_schedule_factor(&k, 123456), 1.0);
  k.warmup_steps = 8;
  cr_assert_eq(lr_schedule_factor(&k, 2), 0.25);
  cr_assert_eq(lr_schedule_factor(&k, 8), 1.0);

  /* CosineAnnealingLR(T_max=10, eta_min=0.01) from lr 0.1: lr_t = 0.01 + 0.09 (1 + cos(pi t/10)) / 2. */
  lr_schedule ca = {LR_SCHED_WARMUP_COSINE, .warmup_steps = 0, .total_steps = 10, .min_factor = 0.1};
  for (int t = 0; t <= 10; t++)
    cr_assert(fabs(0.1 * lr_schedule_factor(&ca, t) - (0.01 + 0.09 * (1 + cos(M_PI * t / 10)) / 2)) < 1e-15);
  /* Degenerate: total <= warmup decays at once to the floor. */
  lr_schedule d = {LR_SCHED_WARMUP_LINEAR, .warmup_steps = 5, .total_steps = 5, .min_factor = 0.2};
  cr_assert_eq(lr_schedule_factor(&d, 5), 0.2);
}

/* End to end: minimise f(p) = sum_i a_i (p_i - c_i)^2 with curvatures a = (1, 10, 100), whose
 * condition number 100 needs the per-coordinate scaling Adam provides. Grads are set from the
 * formula (the ops that would build f are not in this tree yet). */
static double run_quadratic(lr_optim_config cfg, int steps, const lr_schedule *sch) {
  static const double a[3] = {1, 10, 100}, c[3] = {0.5, -1.5, 2.0};
  lr_tensor *p = param(LR_DTYPE_F64, LR_SHAPE(3), (double[]){-3, 4, -5});
  lr_optim *o;
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &p, cfg.lr, cfg.weight_decay), LR_OK);
  for (int s = 0; s < steps; s++) {
    lr_tensor *g;
    cr_assert_eq(lr_grad_buffer(p, &g), LR_OK);
    for (int i = 0; i < 3; i++) lr_tensor_set(g, i, 2 * a[i] * (lr_tensor_get(p, i) - c[i]), 0);
    if (sch) lr_optim_set_lr_factor(o, lr_schedule_factor(sch, s));
    cr_assert_eq(lr_optim_step(o), LR_OK);
  }
  double err = 0;
  for (int i = 0; i < 3; i++) err = fmax(err, fabs(lr_tensor_get(p, i) - c[i]));
  lr_optim_free(o);
  lr_tensor_free(p);
  return err;
}

Test(optim, minimises_quadratic) {
  /* Adam with warmup + cosine decay to 0 settles at the minimum (constant-lr Adam would keep
   * oscillating at the lr scale). */
  lr_schedule sch = {LR_SCHED_WARMUP_COSINE, .warmup_steps = 20, .total_steps = 2000};
  double e = run_quadratic(lr_adam_config(0.1), 2000, &sch);
  cr_assert(e < 1e-4, "adam: max error %g", e);
  e = run_quadratic(lr_adamw_config(0.1, 0.0), 2000, &sch);
  cr_assert(e < 1e-4, "adamw: max error %g", e);
  /* Heavy-ball SGD: lr 0.005 (< 2 / max curvature 200), momentum 0.9: contraction per step at most
   * sqrt(0.9) ~ 0.95 on every coordinate, so 1000 steps reach 1e-12 easily. */
  e = run_quadratic(lr_sgd_config(0.005, 0.9), 1000, NULL);
  cr_assert(e < 1e-10, "sgd momentum: max error %g", e);
  lr_optim_config n = lr_sgd_config(0.005, 0.9);
  n.nesterov = true;
  e = run_quadratic(n, 1000, NULL);
  cr_assert(e < 1e-10, "sgd nesterov: max error %g", e);
  /* Plain SGD with the same lr converges on the stiff coordinates but crawls on a = 1:
   * (1 - 0.01)^1000 * 3.5 ~ 1.5e-4. The check shows that the run is not trivially converged. */
  e = run_quadratic(lr_sgd_config(0.005, 0.0), 1000, NULL);
  cr_assert(e > 1e-5 && e < 1e-3, "sgd: max error %g", e);
}

Test(optim, errors) {
  lr_optim *o = NULL;
  lr_optim_config c = lr_adam_config(1e-3);
  c.beta1 = 1.0;
  cr_assert_eq(lr_optim_new(&c, &o), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_optim_new: Adam betas (1, 0.999), expected each in [0, 1)");
  cr_assert_null(o);
  c = lr_adamw_config(-1.0, 0.0);
  cr_assert_eq(lr_optim_new(&c, &o), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_optim_new: lr -1, expected a finite value >= 0");
  c = lr_adamw_config(1e-3, NAN);
  cr_assert_eq(lr_optim_new(&c, &o), LR_ERR_ARG);
  c = lr_sgd_config(0.1, 0.0);
  c.nesterov = true;
  cr_assert_eq(lr_optim_new(&c, &o), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "nesterov"), "%s", lr_last_error());
  c.kind = (lr_optim_kind)7;
  cr_assert_eq(lr_optim_new(&c, &o), LR_ERR_ARG);
  cr_assert_eq(lr_optim_new(NULL, &o), LR_ERR_ARG);

  c = lr_adam_config(1e-3);
  cr_assert_eq(lr_optim_new(&c, &o), LR_OK);
  lr_tensor *p = param(LR_DTYPE_F64, LR_SHAPE(2), NULL), *i64;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_I64, LR_DEVICE_CPU, LR_SHAPE(2), &i64), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 2, (lr_tensor *[]){p, p}, 1e-3, 0), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_optim_add_group: parameters 0 and 1 are the same tensor");
  cr_assert_eq(lr_optim_add_group(o, 1, &i64, 1e-3, 0), LR_ERR_DTYPE);
  cr_assert_str_eq(lr_last_error(), "lr_optim_add_group: parameter 0 is i64, expected f32, f64, c64 or c128");
  cr_assert_eq(lr_optim_add_group(o, 1, (lr_tensor *[]){NULL}, 1e-3, 0), LR_ERR_ARG);
  cr_assert_eq(lr_optim_add_group(o, 1, &p, -1, 0), LR_ERR_ARG);
  cr_assert_eq(lr_optim_add_group(o, -1, &p, 1e-3, 0), LR_ERR_ARG);
  cr_assert_eq(o->n_groups, 0);
  cr_assert_eq(lr_optim_add_group(o, 1, &p, 1e-3, 0), LR_OK);
  cr_assert_eq(lr_optim_add_group(o, 1, &p, 1e-3, 0), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_optim_add_group: parameter 0 is already in group 0");
  /* A grad of the wrong shape (set by hand) is refused before anything moves. */
  lr_tensor *bad;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_SHAPE(3), &bad), LR_OK);
  p->grad = bad;
  cr_assert_eq(lr_optim_step(o), LR_ERR_STATE);
  cr_assert(strstr(lr_last_error(), "(2,)") && strstr(lr_last_error(), "(3,)"), "%s", lr_last_error());
  cr_assert_null(o->st[0].m);
  cr_assert_eq(lr_optim_step(NULL), LR_ERR_ARG);
  cr_assert_eq(lr_sgd_step(o), LR_ERR_ARG); /* an Adam optimizer */
  lr_optim_free(o);
  lr_tensor_free(p);
  lr_tensor_free(i64);
}
