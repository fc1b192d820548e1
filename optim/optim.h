/* Optimizers (SGD, Adam, AdamW) with parameter groups, global gradient-norm clipping and
 * learning-rate schedules, with PyTorch's semantics and defaults.
 *
 *   lr_optim *opt;
 *   lr_optim_config c = lr_adamw_config(1e-3, 0.1);
 *   LR_TRY(lr_optim_new(&c, &opt));
 *   LR_TRY(lr_optim_add_module(opt, model, LR_GROUP_NO_DECAY_1D));
 *   lr_schedule sch = {LR_SCHED_WARMUP_COSINE, .warmup_steps = 100, .total_steps = 10000};
 *   for (step ...) {
 *     ... forward, lr_backward ...
 *     lr_optim_set_lr_factor(opt, lr_schedule_factor(&sch, step));
 *     LR_TRY(lr_optim_clip_grad_norm(opt, 1.0, &norm));
 *     LR_TRY(lr_optim_step(opt));
 *     LR_TRY(lr_optim_zero_grad(opt));
 *   }
 *   lr_optim_free(opt);
 *
 * Groups: each has its own lr and weight decay (the other hyperparameters are the optimizer's).
 * lr_optim_add_module reads the per-parameter hints of nn/module.h (lrnnx's `_optim` dicts and
 * `_no_weight_decay`) and sorts the parameters into one group per distinct (lr, weight decay),
 * as state-spaces' setup_optimizer does.
 *
 * State: per parameter, the step count and the moment tensors (Adam: m, v; SGD with momentum:
 * the momentum buffer), persistent tensors allocated on the parameter's first step and freed
 * with the optimizer. Parameters without a grad (never reached by backward) are skipped, as
 * PyTorch skips p.grad is None. Complex parameters are updated as pairs of reals
 * (view_as_real), as PyTorch's Adam does. Steps run with grad mode off on raw data
 * (kernels/cpu/optim.h); CUDA parameters are LR_ERR_UNSUPPORTED until the CUDA kernels exist.
 */
#ifndef LR_OPTIM_H
#define LR_OPTIM_H

#include "nn/module.h"

typedef enum { LR_OPTIM_SGD = 0, LR_OPTIM_ADAM, LR_OPTIM_ADAMW } lr_optim_kind;

typedef struct {
  lr_optim_kind kind;
  double lr;           /* default lr of groups added without their own */
  double weight_decay; /* default weight decay (Adam: L2 added to the grad; AdamW: decoupled) */
  double beta1, beta2, eps;              /* Adam(W) */
  double momentum, dampening; bool nesterov; /* SGD */
} lr_optim_config;

/* PyTorch defaults: Adam(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0);
 * AdamW(..., weight_decay=wd) (PyTorch's default wd is 1e-2); SGD(lr, momentum, dampening=0,
 * weight_decay=0, nesterov=false). */
lr_optim_config lr_adam_config(double lr);
lr_optim_config lr_adamw_config(double lr, double weight_decay);
lr_optim_config lr_sgd_config(double lr, double momentum);

typedef struct {
  double lr;           /* lr used by the next step: base_lr * the factor last set */
  double base_lr;      /* lr the group was created with */
  double weight_decay;
  int n;               /* parameters in the group */
} lr_param_group;

typedef struct {
  lr_tensor *p;      /* the parameter (not owned) */
  int group;         /* index into groups */
  int64_t step;      /* steps taken on it */
  lr_tensor *m, *v;  /* Adam moments, or SGD momentum buffer in m; owned, NULL until used */
} lr_optim_state;

typedef struct {
  lr_optim_config cfg;
  lr_param_group *groups;
  int n_groups, cap_groups;
  lr_optim_state *st; /* one per parameter, in the order added */
  int n_st, cap_st;
} lr_optim;

/* Validates the config (lr >= 0, 0 <= betas < 1, eps >= 0, momentum >= 0, nesterov needs
 * momentum > 0 and dampening 0, as PyTorch). */
lr_status lr_optim_new(const lr_optim_config *cfg, lr_optim **out);
/* Frees the optimizer state (not the parameters). NULL is ignored. */
void lr_optim_free(lr_optim *o);

/* A group of n parameters (persistent, float, requires_grad) with its own lr and weight decay.
 * A parameter may belong to one group only. */
lr_status lr_optim_add_group(lr_optim *o, int n, lr_tensor *const *params, double lr, double weight_decay);

/* lr_optim_add_module policy flags. */
#define LR_GROUP_NO_DECAY_1D 1u /* no weight decay for tensors with < 2 dims (biases, norm scales) */
/* Adds m's parameters: a parameter's lr is its LR_PARAM_LR hint or cfg.lr; its weight decay is
 * its LR_PARAM_WD hint, else 0 under LR_GROUP_NO_DECAY_1D for ndim < 2, else cfg.weight_decay.
 * Parameters with the same (lr, weight decay) share a group (existing groups included). */
lr_status lr_optim_add_module(lr_optim *o, lr_module *m, unsigned policy);

/* One update of every parameter that has a grad (dispatches to the two below by cfg.kind). */
lr_status lr_optim_step(lr_optim *o);
lr_status lr_adam_step(lr_optim *o); /* adam.c: ADAM and ADAMW */
lr_status lr_sgd_step(lr_optim *o);  /* sgd.c */
/* Zeroes every parameter's grad. */
lr_status lr_optim_zero_grad(lr_optim *o);
/* Every group's lr = base_lr * factor (for schedules). */
void lr_optim_set_lr_factor(lr_optim *o, double factor);

/* ---- gradient clipping (torch.nn.utils.clip_grad_norm_, norm_type 2) ----
 * total = sqrt(sum over params of sum |g|^2) (complex: |g|^2 = re^2 + im^2); when
 * coef = max_norm / (total + 1e-6) is < 1 every grad is scaled by coef. *total_norm (optional)
 * gets the norm before clipping. Parameters without a grad are skipped. */
lr_status lr_clip_grad_norm(int n, lr_tensor *const *params, double max_norm, double *total_norm);
lr_status lr_optim_clip_grad_norm(lr_optim *o, double max_norm, double *total_norm);

/* ---- learning-rate schedules: pure functions of the step, returning the factor on base lr ----
 * step counts optimizer steps already taken (0 for the first), as PyTorch's LambdaLR/HF's
 * get_*_schedule_with_warmup: warmup factor = step / warmup_steps (0 at step 0), then over
 * progress = (step - warmup) / (total - warmup), clamped to [0, 1]:
 *   CONSTANT:       1 after warmup
 *   WARMUP_COSINE:  min + (1 - min) * (1 + cos(pi * progress)) / 2
 *   WARMUP_LINEAR:  min + (1 - min) * (1 - progress)
 * With warmup 0 and min = eta_min / lr, WARMUP_COSINE is PyTorch's CosineAnnealingLR(T_max =
 * total_steps). */
typedef enum { LR_SCHED_CONSTANT = 0, LR_SCHED_WARMUP_COSINE, LR_SCHED_WARMUP_LINEAR } lr_sched_kind;
typedef struct {
  lr_sched_kind kind;
  int64_t warmup_steps;
  int64_t total_steps; /* including warmup */
  double min_factor;   /* the factor at the end of decay (0: decay to zero) */
} lr_schedule;
double lr_schedule_factor(const lr_schedule *s, int64_t step);

#endif
