/* lr_discretize: Ā, B̄ of a diagonal SSM for each discretization (table and derivatives in
 * kernels/discretize_math.h; lrnnx-inventory §2, with the bilinear form corrected, §13.3).
 *
 * backward: per element, dλ += gĀ conj(∂Ā/∂λ) + gB̄ conj(∂B̄/∂λ), dΔ += Re(gĀ conj(∂Ā/∂Δ) +
 * gB̄ conj(∂B̄/∂Δ)), dΔ_A likewise (into dΔ when Δ_A is absent), each summed over the dims along
 * which its input was broadcast.
 */
#include "ops/discretize.h"

#include <string.h>

#include "kernels/cpu/discretize.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status discretize_backward(lr_node *n);
static const lr_op_def op_discretize = {"discretize", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, discretize_backward};

/* A contiguous copy of a gradient (device tensors packed by lr_kcuda_pack). */
static const char *const disc_names[LR_DISC_COUNT] = {"mamba", "zoh", "bilinear", "dirac", "async",
                                                      "no_discretization", "s7", "rglru"};

const char *lr_disc_name(lr_disc kind) { return (unsigned)kind < LR_DISC_COUNT ? disc_names[kind] : "?"; }

lr_status lr_disc_from_name(const char *name, lr_disc *out) {
  LR_TRY(lr_check_ptr("lr_disc_from_name", name, "name"));
  LR_TRY(lr_check_ptr("lr_disc_from_name", out, "out"));
  for (int k = 0; k < LR_DISC_COUNT; k++)
    if (!strcmp(name, disc_names[k])) {
      *out = (lr_disc)k;
      return LR_OK;
    }
  if (!strcmp(name, "none")) {
    *out = LR_DISC_NONE;
    return LR_OK;
  }
  return lr_fail(LR_ERR_ARG,
                 "lr_disc_from_name: unknown discretization \"%s\" (expected mamba, zoh, bilinear, dirac, async, "
                 "no_discretization, s7 or rglru)",
                 name);
}

lr_status lr_discretize(lr_tensor *lambda, lr_tensor *delta, lr_tensor *delta_A, lr_disc kind, lr_tensor **abar,
                        lr_tensor **bbar) {
  const char *op = "lr_discretize";
  LR_TRY(lr_check_ptr(op, lambda, "lambda"));
  LR_TRY(lr_check_ptr(op, delta, "delta"));
  LR_TRY(lr_check_ptr(op, abar, "abar"));
  LR_TRY(lr_check_ptr(op, bbar, "bbar"));
  if ((unsigned)kind >= LR_DISC_COUNT) return lr_fail(LR_ERR_ARG, "%s: kind %d is not a discretization", op, (int)kind);
  LR_TRY(lr_check_dtype(op, lambda, "lambda", LR_DT_FLOAT));
  LR_TRY(lr_check_device(op, &op_discretize, lambda));
  lr_dtype rdt = lr_dtype_real(lambda->dtype);
  if (delta->dtype != rdt)
    return lr_fail(LR_ERR_DTYPE, "%s: delta is %s, expected %s (the real dtype of lambda, %s)", op,
                   lr_dtype_name(delta->dtype), lr_dtype_name(rdt), lr_dtype_name(lambda->dtype));
  if (delta_A && delta_A->dtype != rdt)
    return lr_fail(LR_ERR_DTYPE, "%s: delta_A is %s, expected %s (the real dtype of lambda, %s)", op,
                   lr_dtype_name(delta_A->dtype), lr_dtype_name(rdt), lr_dtype_name(lambda->dtype));
  if ((kind == LR_DISC_S7 || kind == LR_DISC_RGLRU) && lr_dtype_is_complex(lambda->dtype))
    return lr_fail(LR_ERR_DTYPE, "%s: %s takes a real lambda, got %s", op, lr_disc_name(kind),
                   lr_dtype_name(lambda->dtype));
  if (delta->device != lambda->device || (delta_A && delta_A->device != lambda->device))
    return lr_fail(LR_ERR_DEVICE, "%s: lambda, delta and delta_A must be on one device", op);
  int nd;
  int64_t sh[LR_MAX_DIMS];
  LR_TRY(lr_broadcast_shape(op, lambda->ndim, lambda->shape, delta->ndim, delta->shape, &nd, sh));
  if (delta_A) LR_TRY(lr_broadcast_shape(op, nd, sh, delta_A->ndim, delta_A->shape, &nd, sh));
  lr_tensor *a, *b;
  LR_TRY(lr_empty_on(lambda->dtype, lambda->device, nd, sh, &a));
  LR_TRY(lr_empty_on(lambda->dtype, lambda->device, nd, sh, &b));
  int64_t ls[LR_MAX_DIMS], ds[LR_MAX_DIMS], as[LR_MAX_DIMS];
  lr_broadcast_strides(lambda, nd, sh, ls);
  lr_broadcast_strides(delta, nd, sh, ds);
  if (delta_A) lr_broadcast_strides(delta_A, nd, sh, as);
#ifdef LR_CUDA
  if (lambda->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_discretize(lambda->dtype, kind, nd, sh, lambda->data, ls, delta->data, ds,
                               delta_A ? delta_A->data : NULL, as, a->data, b->data, lr_cuda_stream()));
  else
#endif
    lr_kcpu_discretize(lambda->dtype, kind, nd, sh, lambda->data, ls, delta->data, ds, delta_A ? delta_A->data : NULL,
                       as, a->data, b->data);
  lr_node *n;
  lr_tensor *outs[2] = {a, b};
  LR_TRY(lr_record(&op_discretize, 3, (lr_tensor *[]){lambda, delta, delta_A}, 2, outs, &n));
  if (n) n->iarg[0] = kind;
  *abar = a;
  *bbar = b;
  return LR_OK;
}

static lr_status discretize_backward(lr_node *n) {
  lr_tensor *lam = n->in[0], *d = n->in[1], *dA = n->in[2];
  lr_tensor *gA = n->out[0]->grad, *gB = n->out[1]->grad;
  if (!gA && !gB) return LR_OK;
  int nd = n->out[0]->ndim;
  const int64_t *sh = n->out[0]->shape;
  lr_dtype rdt = lr_dtype_real(lam->dtype);
  lr_tensor *gAc = NULL, *gBc = NULL, *dl = NULL, *dd = NULL, *ddA = NULL;
  const lr_device dev = lam->device;
  if (gA) LR_TRY(lr_tensor_contiguous_raw(gA, &gAc));
  if (gB) LR_TRY(lr_tensor_contiguous_raw(gB, &gBc));
  if (lam->requires_grad) LR_TRY(lr_empty_on(lam->dtype, dev, nd, sh, &dl));
  if (d->requires_grad) LR_TRY(lr_empty_on(rdt, dev, nd, sh, &dd));
  if (dA && dA->requires_grad) LR_TRY(lr_empty_on(rdt, dev, nd, sh, &ddA));
  /* ddA's buffer must exist whenever dA does, so its partials do not leak into dd. */
  if (dA && !ddA) LR_TRY(lr_empty_on(rdt, dev, nd, sh, &ddA));
  int64_t ls[LR_MAX_DIMS], ds[LR_MAX_DIMS], as[LR_MAX_DIMS];
  lr_broadcast_strides(lam, nd, sh, ls);
  lr_broadcast_strides(d, nd, sh, ds);
  if (dA) lr_broadcast_strides(dA, nd, sh, as);
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_discretize_bwd(lam->dtype, (int)n->iarg[0], nd, sh, lam->data, ls, d->data, ds,
                                   dA ? dA->data : NULL, as, gAc ? gAc->data : NULL, gBc ? gBc->data : NULL,
                                   dl ? dl->data : NULL, dd ? dd->data : NULL, ddA ? ddA->data : NULL,
                                   lr_cuda_stream()));
  else
#endif
    lr_kcpu_discretize_bwd(lam->dtype, (int)n->iarg[0], nd, sh, lam->data, ls, d->data, ds, dA ? dA->data : NULL, as,
                           gAc ? gAc->data : NULL, gBc ? gBc->data : NULL, dl ? dl->data : NULL, dd ? dd->data : NULL,
                           ddA ? ddA->data : NULL);
  LR_TRY(lr_grad_acc(lam, dl));
  LR_TRY(lr_grad_acc(d, dd));
  if (dA) LR_TRY(lr_grad_acc(dA, ddA));
  return LR_OK;
}

const lr_op_def *const lr_ops_discretize[] = {&op_discretize, NULL};
