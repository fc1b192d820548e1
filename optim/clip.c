/* Global gradient-norm clipping (torch.nn.utils.clip_grad_norm_ with norm_type 2).
 *
 * total = sqrt(sum_p sum_i |g_p,i|^2), summed in double; coef = max_norm / (total + 1e-6);
 * if coef < 1 every grad is multiplied by coef (PyTorch multiplies by min(coef, 1), which is the
 * same). A non-finite total is returned as it is and, as in PyTorch with
 * error_if_nonfinite=False, the grads are scaled by the resulting NaN coefficient.
 * Complex grads: |g|^2 = re^2 + im^2, so they are summed as pairs of reals.
 * CUDA grads: each one's sum of squares is a deterministic two-pass sum on the GPU
 * (kernels/cuda/optim.cu) into a device slot; the slots come back in one copy and are added on
 * the host in parameter order with the CPU grads' sums, so the total is the same run to run.
 */
#include <math.h>
#include <stdlib.h>

#include "kernels/cpu/optim.h"
#include "optim/optim_internal.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"

/* Sums of squares of the CUDA grads among params, into sums[i] (host), one copy back. */
static lr_status cuda_sumsq(const char *fn, int n, lr_tensor *const *params, double *sums) {
  int n_cuda = 0;
  for (int i = 0; i < n; i++)
    if (params[i]->grad && params[i]->grad->device == LR_DEVICE_CUDA) n_cuda++;
  if (n_cuda == 0) return LR_OK;
  int64_t work_n = lr_kcuda_sumsq_work();
  double *buf = NULL, *h = malloc((size_t)n_cuda * sizeof *h);
  if (!h) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  lr_status s = lr_cuda_alloc((size_t)(work_n + n_cuda) * sizeof(double), (void **)&buf);
  for (int i = 0, k = 0; s == LR_OK && i < n; i++) {
    const lr_tensor *g = params[i]->grad;
    if (!g || g->device != LR_DEVICE_CUDA) continue;
    s = lr_kcuda_sumsq(lr_dtype_real(g->dtype), lr_optim_nreal_(g), g->data, buf + work_n + k++, buf, lr_cuda_stream());
  }
  if (s == LR_OK) s = lr_cuda_memcpy_d2h(h, buf + work_n, (size_t)n_cuda * sizeof *h);
  for (int i = 0, k = 0; s == LR_OK && i < n; i++)
    if (params[i]->grad && params[i]->grad->device == LR_DEVICE_CUDA) sums[i] = h[k++];
  lr_cuda_free(buf);
  free(h);
  return s;
}
#endif

lr_status lr_clip_grad_norm(int n, lr_tensor *const *params, double max_norm, double *total_norm) {
  const char *fn = "lr_clip_grad_norm";
  if (n < 0 || (n > 0 && !params)) return lr_fail(LR_ERR_ARG, "%s: %d parameters at %p", fn, n, (const void *)params);
  if (!(max_norm >= 0)) return lr_fail(LR_ERR_ARG, "%s: max_norm %g, expected >= 0", fn, max_norm);
  for (int i = 0; i < n; i++) {
    if (!params[i]) return lr_fail(LR_ERR_ARG, "%s: parameter %d is NULL", fn, i);
    const lr_tensor *g = params[i]->grad;
    if (!g) continue;
#ifndef LR_CUDA
    if (g->device != LR_DEVICE_CPU)
      return lr_fail(LR_ERR_UNSUPPORTED, "%s: grad of parameter %d is on %s; only cpu is implemented", fn, i,
                     lr_device_name(g->device));
#endif
    if (!lr_dtype_is_float(g->dtype) || !lr_is_contiguous(g))
      return lr_fail(LR_ERR_STATE, "%s: grad of parameter %d is %s%s", fn, i, lr_dtype_name(g->dtype),
                     lr_is_contiguous(g) ? "" : ", not contiguous");
  }
  double ss = 0.0;
#ifdef LR_CUDA
  double *sums = malloc((size_t)(n ? n : 1) * sizeof *sums);
  if (!sums) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  lr_status cs = cuda_sumsq(fn, n, params, sums);
  if (cs != LR_OK) {
    free(sums);
    return cs;
  }
#endif
  for (int i = 0; i < n; i++) {
    const lr_tensor *g = params[i]->grad;
    if (!g) continue;
#ifdef LR_CUDA
    if (g->device == LR_DEVICE_CUDA) {
      ss += sums[i];
      continue;
    }
#endif
    ss += lr_kcpu_sumsq(lr_dtype_real(g->dtype), lr_optim_nreal_(g), g->data);
  }
#ifdef LR_CUDA
  free(sums);
#endif
  double total = sqrt(ss);
  double coef = max_norm / (total + 1e-6);
  if (!(coef >= 1.0)) /* also NaN, as PyTorch */
    for (int i = 0; i < n; i++) {
      lr_tensor *g = params[i]->grad;
      if (!g) continue;
#ifdef LR_CUDA
      if (g->device == LR_DEVICE_CUDA) {
        LR_TRY(lr_kcuda_scale(lr_dtype_real(g->dtype), lr_optim_nreal_(g), g->data, coef, lr_cuda_stream()));
        continue;
      }
#endif
      lr_kcpu_scale(lr_dtype_real(g->dtype), lr_optim_nreal_(g), g->data, coef);
    }
  if (total_norm) *total_norm = total;
  return LR_OK;
}

lr_status lr_optim_clip_grad_norm(lr_optim *o, double max_norm, double *total_norm) {
  if (!o) return lr_fail(LR_ERR_ARG, "lr_optim_clip_grad_norm: optimizer is NULL");
  lr_tensor **ps = malloc((size_t)(o->n_st ? o->n_st : 1) * sizeof *ps);
  if (!ps) return lr_fail(LR_ERR_MEMORY, "lr_optim_clip_grad_norm: out of memory");
  for (int i = 0; i < o->n_st; i++) ps[i] = o->st[i].p;
  lr_status s = lr_clip_grad_norm(o->n_st, ps, max_norm, total_norm);
  free(ps);
  return s;
}
