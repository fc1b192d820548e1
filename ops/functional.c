/* Neural-network functions: softmax, log_softmax, cross entropy, mse, layer norm, RMS norm,
 * dropout. F32 and F64 on the CPU, each with a fused hand-written backward
 * (kernels/cpu/functional.c).
 *
 *   softmax      y = exp(x - max) / sum exp(x - max) along dim      dx = y (g - sum(g y))
 *   log_softmax  y = x - max - log sum exp(x - max)                  dx = g - exp(y) sum(g)
 *   cross_entropy(logits (N, C, d...), targets (N, d...) i64), as torch.nn.functional.cross_entropy
 *     with reduction 'mean' and no class weights: with logp = log_softmax over C and K the set of
 *     positions whose target != ignore_index,
 *       loss = 1/|K| sum_K [ (1 - eps) (-logp_t) + eps mean_c(-logp_c) ]
 *     (eps = label_smoothing; PyTorch >= 1.11 also divides the smoothing term by |K|). Every
 *     target ignored: 0/0 = NaN, as PyTorch; the gradient is then 0.
 *       dlogits = g/|K| (softmax - (1 - eps) onehot(t) - eps/C) on kept positions, 0 elsewhere.
 *   mse_loss     d = x - target (same shape, no broadcasting); none: d^2, sum: sum d^2,
 *                mean: sum d^2 / n (n = 0: NaN, as PyTorch);   dx = 2 d g (/ n), dtarget = -dx
 *   layer_norm   over the last dim H: xh = (x - mean) rstd, rstd = 1/sqrt(var + eps) (biased var),
 *                y = xh w + b;   dx = rstd (dxh - mean(dxh) - xh mean(dxh xh)), dxh = g w,
 *                dw = sum_rows g xh, db = sum_rows g
 *   rms_norm     y = x rstd w, rstd = 1/sqrt(mean(x^2) + eps);
 *                dx = rstd (dxh - xh mean(dxh xh)), xh = x rstd, dw = sum_rows g xh
 *   dropout      training and 0 < p < 1: keep_i ~ Bernoulli(1 - p) drawn with
 *                lr_rand_bernoulli_(mask, 1 - p, rng) over x's logical element order (numel draws;
 *                see tensor/rng.c), y = x keep / (1 - p), dx = g keep / (1 - p).
 *                p = 1: y = 0 (no draws). !training or p = 0: y is x itself, as PyTorch.
 * Saved for backward: the output (softmaxes), the contiguous inputs, per-row mean/rstd (norms,
 * f64), the 0/1 mask (dropout).
 *
 * CUDA (builds with LR_CUDA): every op runs forward and backward on CUDA tensors through
 * kernels/cuda/functional.cu, which mirrors the CPU kernels. Scalar results (cross entropy, mse
 * with a reduction) stay on the device; cross entropy reads back two integers (the kept count and
 * the first out-of-range target) to report a bad target and to save the count, a synchronisation
 * per call. Dropout draws its mask on the GPU from the same Philox stream as lr_rand_bernoulli_
 * (identical masks for the same rng state) and advances the rng's offset by numel, as the CPU.
 * Strided inputs are made contiguous first (lr_tensor_contiguous_raw, on their device).
 */
#include "ops/functional.h"

#include "kernels/cpu/functional.h"
#include "ops/op_util.h"
#include "ops/registry.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#define ON_CUDA(t) ((t)->device == LR_DEVICE_CUDA)
#endif

static lr_status softmax_backward(lr_node *n);
static lr_status log_softmax_backward(lr_node *n);
static lr_status cross_entropy_backward(lr_node *n);
static lr_status mse_loss_backward(lr_node *n);
static lr_status layer_norm_backward(lr_node *n);
static lr_status rms_norm_backward(lr_node *n);
static lr_status dropout_backward(lr_node *n);

static const lr_op_def op_softmax = {"softmax", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, softmax_backward};
static const lr_op_def op_log_softmax = {"log_softmax", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, log_softmax_backward};
static const lr_op_def op_cross_entropy = {"cross_entropy", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, cross_entropy_backward};
static const lr_op_def op_mse_loss = {"mse_loss", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, mse_loss_backward};
static const lr_op_def op_layer_norm = {"layer_norm", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, layer_norm_backward};
static const lr_op_def op_rms_norm = {"rms_norm", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, rms_norm_backward};
static const lr_op_def op_dropout = {"dropout", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, dropout_backward};

/* x is a real tensor on a device the op runs on; out is not NULL. */
static lr_status check_input(const char *fn, const lr_op_def *def, const lr_tensor *x, const char *xn, void *out) {
  LR_TRY(lr_check_ptr(fn, x, xn));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_dtype(fn, x, xn, def->dtypes));
  return lr_check_device(fn, def, x);
}

#ifdef LR_CUDA
/* Device scratch of at least `bytes` (an arena tensor on dev). */
static lr_status scratch(lr_device dev, size_t bytes, lr_tensor **out) {
  int64_t n = (int64_t)((bytes + 7) / 8);
  if (n < 1) n = 1;
  return lr_empty_on(LR_DTYPE_F64, dev, 1, &n, out);
}
#endif

/* The incoming gradient of a node's single output (contiguous). */
static lr_tensor *out_grad(lr_node *n) { return n->out[0]->grad; }

/* ---- softmax / log_softmax ---- */

static lr_status softmax_impl(const char *fn, const lr_op_def *def, bool lg, lr_tensor *x, int dim, lr_tensor **out) {
  LR_TRY(check_input(fn, def, x, "x", out));
  int d;
  LR_TRY(lr_norm_dim(fn, dim, x->ndim, &d));
  int64_t outer = 1, D = x->ndim ? x->shape[d] : 1, inner = 1;
  for (int i = 0; i < d; i++) outer *= x->shape[i];
  for (int i = d + 1; i < x->ndim; i++) inner *= x->shape[i];
  lr_tensor *xc, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_empty_like(x, &y));
#ifdef LR_CUDA
  if (ON_CUDA(x)) LR_TRY(lr_kcuda_softmax(x->dtype, lg, xc->data, y->data, outer, D, inner, lr_cuda_stream()));
  else
#endif
    lr_kcpu_softmax(x->dtype, lg, xc->data, y->data, outer, D, inner);
  lr_node *nd;
  LR_TRY(lr_record(def, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = y;
    nd->iarg[0] = outer;
    nd->iarg[1] = D;
    nd->iarg[2] = inner;
  }
  *out = y;
  return LR_OK;
}

lr_status lr_softmax(lr_tensor *x, int dim, lr_tensor **out) {
  return softmax_impl("lr_softmax", &op_softmax, false, x, dim, out);
}

lr_status lr_log_softmax(lr_tensor *x, int dim, lr_tensor **out) {
  return softmax_impl("lr_log_softmax", &op_log_softmax, true, x, dim, out);
}

static lr_status softmax_bwd_impl(lr_node *n, bool lg) {
  lr_tensor *x = n->in[0];
  if (!x->requires_grad) return LR_OK;
  lr_tensor *y = n->saved[0], *g = out_grad(n), *dx;
  LR_TRY(lr_empty_like(x, &dx));
#ifdef LR_CUDA
  if (ON_CUDA(x))
    LR_TRY(lr_kcuda_softmax_bwd(x->dtype, lg, y->data, g->data, dx->data, n->iarg[0], n->iarg[1], n->iarg[2],
                                lr_cuda_stream()));
  else
#endif
    lr_kcpu_softmax_bwd(x->dtype, lg, y->data, g->data, dx->data, n->iarg[0], n->iarg[1], n->iarg[2]);
  return lr_grad_acc(x, dx);
}

static lr_status softmax_backward(lr_node *n) { return softmax_bwd_impl(n, false); }
static lr_status log_softmax_backward(lr_node *n) { return softmax_bwd_impl(n, true); }

/* ---- cross entropy ---- */

lr_status lr_cross_entropy(lr_tensor *logits, lr_tensor *targets, int64_t ignore_index, double label_smoothing,
                           lr_tensor **out) {
  const char *fn = "lr_cross_entropy";
  LR_TRY(check_input(fn, &op_cross_entropy, logits, "logits", out));
  LR_TRY(lr_check_ptr(fn, targets, "targets"));
  LR_TRY(lr_check_dtype(fn, targets, "targets", LR_DT(LR_DTYPE_I64)));
  if (targets->device != logits->device)
    return lr_fail(LR_ERR_DEVICE, "%s: logits are on %s, targets on %s", fn, lr_device_name(logits->device),
                   lr_device_name(targets->device));
  char a[160], b[160];
  if (logits->ndim < 2)
    return lr_fail(LR_ERR_SHAPE, "%s: logits are %s, expected (N, C) or (N, C, d1, ...)", fn,
                   lr_shape_str(logits->ndim, logits->shape, a, sizeof a));
  bool fits = targets->ndim == logits->ndim - 1 && targets->shape[0] == logits->shape[0];
  for (int i = 1; fits && i < targets->ndim; i++) fits = targets->shape[i] == logits->shape[i + 1];
  if (!fits)
    return lr_fail(LR_ERR_SHAPE, "%s: logits are %s, targets are %s, expected targets (N, d1, ...) = logits without C",
                   fn, lr_shape_str(logits->ndim, logits->shape, a, sizeof a),
                   lr_shape_str(targets->ndim, targets->shape, b, sizeof b));
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0))
    return lr_fail(LR_ERR_ARG, "%s: label_smoothing = %g is not in [0, 1]", fn, label_smoothing);
  int64_t N = logits->shape[0], C = logits->shape[1], S = 1;
  for (int i = 2; i < logits->ndim; i++) S *= logits->shape[i];
  lr_tensor *xc, *tc, *y;
  LR_TRY(lr_tensor_contiguous_raw(targets, &tc));
  const int64_t *t = tc->data;
  int64_t count;
#ifdef LR_CUDA
  if (ON_CUDA(logits)) {
    lr_tensor *work, *info;
    int64_t two = 2, hinfo[2];
    LR_TRY(lr_tensor_contiguous_raw(logits, &xc));
    LR_TRY(lr_empty_on(logits->dtype, logits->device, 0, NULL, &y));
    LR_TRY(lr_empty_on(LR_DTYPE_I64, logits->device, 1, &two, &info));
    LR_TRY(scratch(logits->device, lr_kcuda_cross_entropy_work(N * S), &work));
    LR_TRY(lr_kcuda_cross_entropy(logits->dtype, xc->data, t, N, C, S, ignore_index, label_smoothing, y->data,
                                  info->data, work->data, lr_cuda_stream()));
    LR_TRY(lr_cuda_memcpy_d2h(hinfo, info->data, sizeof hinfo));
    if (hinfo[1] >= 0) {
      int64_t bad;
      LR_TRY(lr_cuda_memcpy_d2h(&bad, t + hinfo[1], sizeof bad));
      return lr_fail(LR_ERR_ARG, "%s: target %lld at position %lld is out of range for C = %lld classes (ignore_index %lld)",
                     fn, (long long)bad, (long long)hinfo[1], (long long)C, (long long)ignore_index);
    }
    count = hinfo[0];
  } else
#endif
  {
    for (int64_t i = 0; i < N * S; i++)
      if (t[i] != ignore_index && (t[i] < 0 || t[i] >= C))
        return lr_fail(LR_ERR_ARG,
                       "%s: target %lld at position %lld is out of range for C = %lld classes (ignore_index %lld)", fn,
                       (long long)t[i], (long long)i, (long long)C, (long long)ignore_index);
    LR_TRY(lr_tensor_contiguous_raw(logits, &xc));
    LR_TRY(lr_empty(logits->dtype, 0, NULL, &y));
    double sum;
    lr_kcpu_cross_entropy(logits->dtype, xc->data, t, N, C, S, ignore_index, label_smoothing, &sum, &count);
    lr_tensor_set(y, 0, sum / (double)count, 0); /* count 0: 0/0 = NaN, as PyTorch */
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_cross_entropy, 2, (lr_tensor *[]){logits, targets}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = tc;
    nd->iarg[0] = N;
    nd->iarg[1] = C;
    nd->iarg[2] = S;
    nd->iarg[3] = ignore_index;
    nd->iarg[4] = count;
    nd->farg[0] = label_smoothing;
  }
  *out = y;
  return LR_OK;
}

static lr_status cross_entropy_backward(lr_node *n) {
  lr_tensor *x = n->in[0];
  if (!x->requires_grad) return LR_OK;
  lr_tensor *dx;
  LR_TRY(lr_empty_like(x, &dx));
  int64_t count = n->iarg[4];
#ifdef LR_CUDA
  if (ON_CUDA(x)) { /* the scale g / count is formed on the device: no synchronisation */
    LR_TRY(lr_kcuda_cross_entropy_bwd(x->dtype, n->saved[0]->data, n->saved[1]->data, n->iarg[0], n->iarg[1],
                                      n->iarg[2], n->iarg[3], n->farg[0], out_grad(n)->data, count, dx->data,
                                      lr_cuda_stream()));
    return lr_grad_acc(x, dx);
  }
#endif
  double g = lr_tensor_get(out_grad(n), 0), scale = count ? g / (double)count : 0.0;
  lr_kcpu_cross_entropy_bwd(x->dtype, n->saved[0]->data, n->saved[1]->data, n->iarg[0], n->iarg[1], n->iarg[2],
                            n->iarg[3], n->farg[0], scale, dx->data);
  return lr_grad_acc(x, dx);
}

/* ---- mse ---- */

lr_status lr_mse_loss(lr_tensor *x, lr_tensor *target, lr_reduction red, lr_tensor **out) {
  const char *fn = "lr_mse_loss";
  LR_TRY(check_input(fn, &op_mse_loss, x, "x", out));
  LR_TRY(lr_check_ptr(fn, target, "target"));
  LR_TRY(lr_check_same(fn, x, "x", target, "target"));
  if (!lr_same_shape(x, target)) {
    char a[160], b[160];
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, target is %s: shapes must match (no broadcasting)", fn,
                   lr_shape_str(x->ndim, x->shape, a, sizeof a), lr_shape_str(target->ndim, target->shape, b, sizeof b));
  }
  if (red != LR_REDUCE_MEAN && red != LR_REDUCE_SUM && red != LR_REDUCE_NONE)
    return lr_fail(LR_ERR_ARG, "%s: reduction %d is not LR_REDUCE_MEAN, _SUM or _NONE", fn, (int)red);
  lr_tensor *xc, *tc, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_tensor_contiguous_raw(target, &tc));
  int64_t n = lr_numel(x);
#ifdef LR_CUDA
  if (ON_CUDA(x)) {
    lr_tensor *work = NULL;
    if (red == LR_REDUCE_NONE) {
      LR_TRY(lr_empty_like(x, &y));
    } else {
      LR_TRY(lr_empty_on(x->dtype, x->device, 0, NULL, &y));
      LR_TRY(scratch(x->device, lr_kcuda_mse_work(), &work));
    }
    bool none = red == LR_REDUCE_NONE;
    LR_TRY(lr_kcuda_mse(x->dtype, xc->data, tc->data, none ? y->data : NULL, none ? NULL : y->data,
                        red == LR_REDUCE_MEAN, n, work ? work->data : NULL, lr_cuda_stream()));
  } else
#endif
  if (red == LR_REDUCE_NONE) {
    LR_TRY(lr_empty_like(x, &y));
    lr_kcpu_mse(x->dtype, xc->data, tc->data, y->data, n);
  } else {
    LR_TRY(lr_empty(x->dtype, 0, NULL, &y));
    double s = lr_kcpu_mse(x->dtype, xc->data, tc->data, NULL, n);
    lr_tensor_set(y, 0, red == LR_REDUCE_MEAN ? s / (double)n : s, 0);
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_mse_loss, 2, (lr_tensor *[]){x, target}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = tc;
    nd->iarg[0] = red;
  }
  *out = y;
  return LR_OK;
}

static lr_status mse_loss_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *t = n->in[1], *dx = NULL, *dt = NULL;
  if (x->requires_grad) LR_TRY(lr_empty_like(x, &dx));
  if (t->requires_grad) LR_TRY(lr_empty_like(t, &dt));
  if (!dx && !dt) return LR_OK;
  int64_t cnt = lr_numel(x);
  lr_reduction red = (lr_reduction)n->iarg[0];
  double scale = red == LR_REDUCE_MEAN ? 1.0 / (double)cnt : 1.0;
#ifdef LR_CUDA
  if (ON_CUDA(x))
    LR_TRY(lr_kcuda_mse_bwd(x->dtype, n->saved[0]->data, n->saved[1]->data, out_grad(n)->data,
                            red == LR_REDUCE_NONE ? 1 : 0, scale, dx ? dx->data : NULL, dt ? dt->data : NULL, cnt,
                            lr_cuda_stream()));
  else
#endif
    lr_kcpu_mse_bwd(x->dtype, n->saved[0]->data, n->saved[1]->data, out_grad(n)->data, red == LR_REDUCE_NONE ? 1 : 0,
                    scale, dx ? dx->data : NULL, dt ? dt->data : NULL, cnt);
  if (dx) LR_TRY(lr_grad_acc(x, dx));
  if (dt) LR_TRY(lr_grad_acc(t, dt));
  return LR_OK;
}

/* ---- layer norm / RMS norm ---- */

/* Checks x and an optional (H) parameter p of the same dtype and device. */
static lr_status check_param(const char *fn, const lr_tensor *x, const lr_tensor *p, const char *pn) {
  if (!p) return LR_OK;
  LR_TRY(lr_check_same(fn, x, "x", p, pn));
  if (p->ndim != 1 || p->shape[0] != x->shape[x->ndim - 1]) {
    char a[160], b[160];
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, %s is %s, expected (%lld,)", fn,
                   lr_shape_str(x->ndim, x->shape, a, sizeof a), pn, lr_shape_str(p->ndim, p->shape, b, sizeof b),
                   (long long)x->shape[x->ndim - 1]);
  }
  return LR_OK;
}

static lr_status norm_prep(const char *fn, const lr_op_def *def, lr_tensor *x, lr_tensor *w, lr_tensor *b, double eps,
                           lr_tensor **out, int64_t *rows, int64_t *H) {
  LR_TRY(check_input(fn, def, x, "x", out));
  if (x->ndim < 1) return lr_fail(LR_ERR_SHAPE, "%s: x is a scalar, expected at least 1 dim", fn);
  LR_TRY(check_param(fn, x, w, "weight"));
  LR_TRY(check_param(fn, x, b, "bias"));
  if (!(eps >= 0.0) || !isfinite(eps)) return lr_fail(LR_ERR_ARG, "%s: eps = %g is not finite and >= 0", fn, eps);
  *H = x->shape[x->ndim - 1];
  *rows = 1;
  for (int i = 0; i < x->ndim - 1; i++) *rows *= x->shape[i];
  return LR_OK;
}

lr_status lr_layer_norm(lr_tensor *x, lr_tensor *weight, lr_tensor *bias, double eps, lr_tensor **out) {
  const char *fn = "lr_layer_norm";
  int64_t rows, H;
  LR_TRY(norm_prep(fn, &op_layer_norm, x, weight, bias, eps, out, &rows, &H));
  lr_tensor *xc, *wc = NULL, *bc = NULL, *y, *mean, *rstd;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  if (weight) LR_TRY(lr_tensor_contiguous_raw(weight, &wc));
  if (bias) LR_TRY(lr_tensor_contiguous_raw(bias, &bc));
  LR_TRY(lr_empty_like(x, &y));
  LR_TRY(lr_empty_on(LR_DTYPE_F64, x->device, 1, &rows, &mean));
  LR_TRY(lr_empty_on(LR_DTYPE_F64, x->device, 1, &rows, &rstd));
#ifdef LR_CUDA
  if (ON_CUDA(x))
    LR_TRY(lr_kcuda_layer_norm(x->dtype, xc->data, wc ? wc->data : NULL, bc ? bc->data : NULL, y->data, mean->data,
                               rstd->data, rows, H, eps, lr_cuda_stream()));
  else
#endif
    lr_kcpu_layer_norm(x->dtype, xc->data, wc ? wc->data : NULL, bc ? bc->data : NULL, y->data, mean->data,
                       rstd->data, rows, H, eps);
  lr_node *nd;
  LR_TRY(lr_record(&op_layer_norm, 3, (lr_tensor *[]){x, weight, bias}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = wc;
    nd->saved[2] = mean;
    nd->saved[3] = rstd;
    nd->iarg[0] = rows;
    nd->iarg[1] = H;
  }
  *out = y;
  return LR_OK;
}

lr_status lr_rms_norm(lr_tensor *x, lr_tensor *weight, double eps, lr_tensor **out) {
  const char *fn = "lr_rms_norm";
  int64_t rows, H;
  LR_TRY(norm_prep(fn, &op_rms_norm, x, weight, NULL, eps, out, &rows, &H));
  lr_tensor *xc, *wc = NULL, *y, *rstd;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  if (weight) LR_TRY(lr_tensor_contiguous_raw(weight, &wc));
  LR_TRY(lr_empty_like(x, &y));
  LR_TRY(lr_empty_on(LR_DTYPE_F64, x->device, 1, &rows, &rstd));
#ifdef LR_CUDA
  if (ON_CUDA(x))
    LR_TRY(lr_kcuda_rms_norm(x->dtype, xc->data, wc ? wc->data : NULL, y->data, rstd->data, rows, H, eps,
                             lr_cuda_stream()));
  else
#endif
    lr_kcpu_rms_norm(x->dtype, xc->data, wc ? wc->data : NULL, y->data, rstd->data, rows, H, eps);
  lr_node *nd;
  LR_TRY(lr_record(&op_rms_norm, 2, (lr_tensor *[]){x, weight}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = wc;
    nd->saved[2] = NULL; /* no mean: RMS norm */
    nd->saved[3] = rstd;
    nd->iarg[0] = rows;
    nd->iarg[1] = H;
  }
  *out = y;
  return LR_OK;
}

/* Shared by both norms: inputs (x, weight[, bias]); saved (xc, wc, mean or NULL, rstd). */
static lr_status norm_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
  lr_tensor *xc = n->saved[0], *wc = n->saved[1], *g = out_grad(n);
  const double *mean = n->saved[2] ? n->saved[2]->data : NULL, *rstd = n->saved[3]->data;
  int64_t rows = n->iarg[0], H = n->iarg[1];
  if (x->requires_grad) {
    lr_tensor *dx;
    LR_TRY(lr_empty_like(x, &dx));
#ifdef LR_CUDA
    if (ON_CUDA(x))
      LR_TRY(lr_kcuda_norm_bwd(x->dtype, xc->data, wc ? wc->data : NULL, mean, rstd, g->data, dx->data, rows, H,
                               lr_cuda_stream()));
    else
#endif
      lr_kcpu_norm_bwd(x->dtype, xc->data, wc ? wc->data : NULL, mean, rstd, g->data, dx->data, rows, H);
    LR_TRY(lr_grad_acc(x, dx));
  }
  bool need_w = w && w->requires_grad, need_b = b && b->requires_grad;
  if (need_w || need_b) {
    lr_tensor *dw = NULL, *db = NULL;
    if (need_w) LR_TRY(lr_empty_like(w, &dw));
    if (need_b) LR_TRY(lr_empty_like(b, &db));
#ifdef LR_CUDA
    if (ON_CUDA(x)) {
      lr_tensor *work;
      LR_TRY(scratch(x->device, (size_t)lr_kcuda_norm_param_work(rows, H) * sizeof(double), &work));
      LR_TRY(lr_kcuda_norm_param_bwd(x->dtype, xc->data, mean, rstd, g->data, dw ? dw->data : NULL,
                                     db ? db->data : NULL, rows, H, work->data, lr_cuda_stream()));
    } else
#endif
      lr_kcpu_norm_param_bwd(x->dtype, xc->data, mean, rstd, g->data, dw ? dw->data : NULL, db ? db->data : NULL,
                             rows, H);
    if (dw) LR_TRY(lr_grad_acc(w, dw));
    if (db) LR_TRY(lr_grad_acc(b, db));
  }
  return LR_OK;
}

static lr_status layer_norm_backward(lr_node *n) { return norm_backward(n); }
static lr_status rms_norm_backward(lr_node *n) { return norm_backward(n); }

/* ---- dropout ---- */

lr_status lr_dropout(lr_tensor *x, double p, bool training, lr_rng *rng, lr_tensor **out) {
  const char *fn = "lr_dropout";
  LR_TRY(check_input(fn, &op_dropout, x, "x", out));
  if (!(p >= 0.0 && p <= 1.0)) return lr_fail(LR_ERR_ARG, "%s: p = %g is not in [0, 1]", fn, p);
  if (!training || p == 0.0 || lr_numel(x) == 0) {
    *out = x;
    return LR_OK;
  }
  LR_TRY(lr_check_ptr(fn, rng, "rng"));
  lr_tensor *xc, *mask, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_empty_like(x, &y));
  double scale = 0.0;
  int64_t numel = lr_numel(x);
#ifdef LR_CUDA
  if (ON_CUDA(x) && p != 1.0) { /* mask and product in one kernel, the mask drawn on the GPU */
    LR_TRY(lr_empty_like(x, &mask));
    scale = 1.0 / (1.0 - p);
    LR_TRY(lr_kcuda_dropout(x->dtype, xc->data, mask->data, y->data, numel, 1.0 - p, scale, rng->seed, rng->offset,
                            lr_cuda_stream()));
    rng->offset += (uint64_t)numel; /* the draws lr_rand_bernoulli_ would have used */
  } else if (ON_CUDA(x)) {
    LR_TRY(lr_zeros_like(x, &mask));
    LR_TRY(lr_kcuda_mul_scaled(x->dtype, xc->data, mask->data, scale, y->data, numel, lr_cuda_stream()));
  } else
#endif
  {
    if (p == 1.0) {
      LR_TRY(lr_zeros_like(x, &mask));
    } else {
      LR_TRY(lr_empty_like(x, &mask));
      LR_TRY(lr_rand_bernoulli_(mask, 1.0 - p, rng));
      scale = 1.0 / (1.0 - p);
    }
    lr_kcpu_mul_scaled(x->dtype, xc->data, mask->data, scale, y->data, numel);
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_dropout, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = mask;
    nd->farg[0] = scale;
  }
  *out = y;
  return LR_OK;
}

static lr_status dropout_backward(lr_node *n) {
  lr_tensor *x = n->in[0];
  if (!x->requires_grad) return LR_OK;
  lr_tensor *dx;
  LR_TRY(lr_empty_like(x, &dx));
#ifdef LR_CUDA
  if (ON_CUDA(x))
    LR_TRY(lr_kcuda_mul_scaled(x->dtype, out_grad(n)->data, n->saved[0]->data, n->farg[0], dx->data, lr_numel(x),
                               lr_cuda_stream()));
  else
#endif
    lr_kcpu_mul_scaled(x->dtype, out_grad(n)->data, n->saved[0]->data, n->farg[0], dx->data, lr_numel(x));
  return lr_grad_acc(x, dx);
}

const lr_op_def *const lr_ops_functional[] = {&op_softmax,   &op_log_softmax, &op_cross_entropy, &op_mse_loss,
                                              &op_layer_norm, &op_rms_norm,    &op_dropout,       NULL};
