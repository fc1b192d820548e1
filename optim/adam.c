/* Adam and AdamW (PyTorch torch.optim.Adam / AdamW, amsgrad off, single-tensor path).
 *
 * For each parameter p with grad g, at its step t (1 for the first):
 *   Adam:  g <- g + wd p                   (L2 penalty through the gradient)
 *   AdamW: p <- p (1 - lr wd)              (decoupled weight decay, Loshchilov & Hutter)
 *   m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2
 *   p <- p - lr/(1 - beta1^t) * m / (sqrt(v)/sqrt(1 - beta2^t) + eps)
 * lr and wd are the parameter's group's. Complex parameters are pairs of reals (view_as_real):
 * v accumulates re^2 and im^2 separately, as PyTorch does. CUDA parameters are updated by
 * kernels/cuda/optim.cu with the same per-element arithmetic (bitwise equal to the CPU).
 */
#include <math.h>

#include "kernels/cpu/optim.h"
#include "optim/optim_internal.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

lr_status lr_adam_step(lr_optim *o) {
  const char *fn = o && o->cfg.kind == LR_OPTIM_ADAMW ? "lr_adamw_step" : "lr_adam_step";
  if (!o) return lr_fail(LR_ERR_ARG, "%s: optimizer is NULL", fn);
  if (o->cfg.kind != LR_OPTIM_ADAM && o->cfg.kind != LR_OPTIM_ADAMW)
    return lr_fail(LR_ERR_ARG, "%s: the optimizer is not Adam or AdamW", fn);
  bool prev = lr_set_grad_enabled(false);
  lr_status s = lr_optim_prepare_(o, fn, 2);
  for (int i = 0; s == LR_OK && i < o->n_st; i++) {
    lr_optim_state *st = &o->st[i];
    lr_tensor *p = st->p;
    if (!p->grad) continue;
    const lr_param_group *g = &o->groups[st->group];
    st->step++;
    double t = (double)st->step;
    lr_adam_args a = {
        .lr = g->lr,
        .beta1 = o->cfg.beta1,
        .beta2 = o->cfg.beta2,
        .eps = o->cfg.eps,
        .weight_decay = g->weight_decay,
        .decoupled = o->cfg.kind == LR_OPTIM_ADAMW,
        .bias_correction1 = 1.0 - pow(o->cfg.beta1, t),
        .bias_correction2_sqrt = sqrt(1.0 - pow(o->cfg.beta2, t)),
    };
#ifdef LR_CUDA
    if (p->device == LR_DEVICE_CUDA) {
      s = lr_kcuda_adam(lr_dtype_real(p->dtype), lr_optim_nreal_(p), p->data, p->grad->data, st->m->data, st->v->data,
                        a.lr, a.beta1, a.beta2, a.eps, a.weight_decay, a.decoupled, a.bias_correction1,
                        a.bias_correction2_sqrt, lr_cuda_stream());
      continue;
    }
#endif
    lr_kcpu_adam(lr_dtype_real(p->dtype), lr_optim_nreal_(p), p->data, p->grad->data, st->m->data, st->v->data, &a);
  }
  lr_set_grad_enabled(prev);
  return s;
}
