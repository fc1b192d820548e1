/* SGD with momentum, dampening, Nesterov and weight decay (PyTorch torch.optim.SGD).
 *
 * For each parameter p with grad g:
 *   d <- g + wd p
 *   with momentum mu != 0: buf <- d on the first step, else mu buf + (1 - dampening) d;
 *                          d <- d + mu buf (nesterov) or buf
 *   p <- p - lr d
 * The momentum buffer is the state's m, allocated on the first step when mu != 0.
 * CUDA parameters are updated by kernels/cuda/optim.cu (bitwise equal to the CPU).
 */
#include "kernels/cpu/optim.h"
#include "optim/optim_internal.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

lr_status lr_sgd_step(lr_optim *o) {
  const char *fn = "lr_sgd_step";
  if (!o) return lr_fail(LR_ERR_ARG, "%s: optimizer is NULL", fn);
  if (o->cfg.kind != LR_OPTIM_SGD) return lr_fail(LR_ERR_ARG, "%s: the optimizer is not SGD", fn);
  bool mom = o->cfg.momentum != 0.0;
  bool prev = lr_set_grad_enabled(false);
  lr_status s = lr_optim_prepare_(o, fn, mom ? 1 : 0);
  for (int i = 0; s == LR_OK && i < o->n_st; i++) {
    lr_optim_state *st = &o->st[i];
    lr_tensor *p = st->p;
    if (!p->grad) continue;
    const lr_param_group *g = &o->groups[st->group];
    lr_sgd_args a = {
        .lr = g->lr,
        .momentum = o->cfg.momentum,
        .dampening = o->cfg.dampening,
        .weight_decay = g->weight_decay,
        .nesterov = o->cfg.nesterov,
        .first = st->step == 0,
    };
#ifdef LR_CUDA
    if (p->device == LR_DEVICE_CUDA)
      s = lr_kcuda_sgd(lr_dtype_real(p->dtype), lr_optim_nreal_(p), p->data, p->grad->data, mom ? st->m->data : NULL,
                       a.lr, a.momentum, a.dampening, a.weight_decay, a.nesterov, a.first, lr_cuda_stream());
    else
#endif
      lr_kcpu_sgd(lr_dtype_real(p->dtype), lr_optim_nreal_(p), p->data, p->grad->data, mom ? st->m->data : NULL, &a);
    st->step++;
  }
  lr_set_grad_enabled(prev);
  return s;
}
