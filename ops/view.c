/* Differentiable views: the output shares x's memory (no copy), only shape, strides and the data
 * offset change. Each op builds the view with the raw functions of tensor/tensor.h and records a
 * node whose backward maps the gradient back onto x's shape:
 *
 *   reshape, squeeze, unsqueeze  dx += view(g, shape of x)
 *   permute, transpose           dx += permute(g, inverse perm)
 *   narrow, slice                dx[..., start : start + step * n : step, ...] += g
 *                                (a strided add into a window of x's gradient buffer)
 *   expand                       dx += g summed over the expanded dims (lr_grad_acc)
 *   contiguous                   dx += g (a copy with identity backward; x itself when contiguous)
 *
 * reshape follows PyTorch: a view when the strides allow one, otherwise a contiguous copy that is
 * then viewed (the same backward either way). squeeze(dim) of a dim whose size is not 1 is a
 * no-op view, as torch.squeeze. Views take every dtype; only float ones carry gradients.
 * Views move no data, so their forward also runs on CUDA tensors. Backward runs on CUDA too: the
 * window add of narrow/slice is lr_kcuda_acc_broadcast on the window's strides (deterministic, one
 * thread per element), the rest is lr_grad_acc and strided device copies (lr_tensor_contiguous_raw).
 */
#include "ops/view.h"

#include <string.h>

#include "kernels/cpu/accumulate.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif
#include "ops/op_util.h"
#include "ops/registry.h"

#define LR_DT_ANY ((1u << LR_DTYPE_COUNT) - 1u)

static lr_status reshape_backward(lr_node *n);
static lr_status permute_backward(lr_node *n);
static lr_status slice_backward(lr_node *n);
static lr_status acc_backward(lr_node *n);

static const lr_op_def op_reshape = {"reshape", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, reshape_backward};
static const lr_op_def op_squeeze = {"squeeze", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, reshape_backward};
static const lr_op_def op_unsqueeze = {"unsqueeze", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, reshape_backward};
static const lr_op_def op_permute = {"permute", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, permute_backward};
static const lr_op_def op_transpose = {"transpose", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, permute_backward};
static const lr_op_def op_narrow = {"narrow", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, slice_backward};
static const lr_op_def op_slice = {"slice", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, slice_backward};
static const lr_op_def op_expand = {"expand", LR_DT_ANY, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA, acc_backward};
static const lr_op_def op_contiguous = {"contiguous", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, acc_backward};

/* Re-labels the failure of a raw view function ("lr_tensor_expand: cannot expand ...") with the
 * name of the op the user called ("lr_expand: cannot expand ..."). */
static lr_status relabel(lr_status s, const char *name) {
  if (s == LR_OK) return s;
  char msg[512];
  const char *m = lr_last_error();
  const char *c = strstr(m, ": ");
  snprintf(msg, sizeof msg, "%s", c ? c + 2 : m);
  return lr_fail(s, "%s: %s", name, msg);
}

static lr_status record1(const lr_op_def *def, lr_tensor *x, lr_tensor *y, lr_node **nd) {
  return lr_record(def, 1, (lr_tensor *[]){x}, 1, &y, nd);
}

/* ---- reshape, squeeze, unsqueeze ---- */

lr_status lr_reshape(lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_reshape", x, "x"));
  LR_TRY(lr_check_ptr("lr_reshape", out, "out"));
  if (ndim < 0 || ndim > LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "lr_reshape: %d dims, expected 0..%d", ndim, LR_MAX_DIMS);
  if (ndim > 0) LR_TRY(lr_check_ptr("lr_reshape", shape, "shape"));
  int64_t sh[LR_MAX_DIMS], known = 1, numel = lr_numel(x);
  int infer = -1;
  for (int i = 0; i < ndim; i++) {
    sh[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0)
        return lr_fail(LR_ERR_SHAPE, "lr_reshape: -1 at dims %d and %d; only one size can be inferred", infer, i);
      infer = i;
    } else if (shape[i] < 0) {
      return lr_fail(LR_ERR_SHAPE, "lr_reshape: invalid size %lld at dim %d", (long long)shape[i], i);
    } else {
      known *= shape[i];
    }
  }
  char a[160], b[160];
  if (infer >= 0) {
    if (known == 0)
      return lr_fail(LR_ERR_SHAPE, "lr_reshape: cannot infer the -1 in %s for %s: the other sizes multiply to 0",
                     lr_shape_str(ndim, shape, a, 160), lr_shape_str(x->ndim, x->shape, b, 160));
    if (numel % known == 0) sh[infer] = numel / known;
  }
  int64_t total = 1;
  for (int i = 0; i < ndim; i++) total *= sh[i];
  if (infer >= 0 && numel % known != 0) total = -1;
  if (total != numel)
    return lr_fail(LR_ERR_SHAPE, "lr_reshape: cannot reshape %s (%lld elements) into %s",
                   lr_shape_str(x->ndim, x->shape, a, 160), (long long)numel, lr_shape_str(ndim, shape, b, 160));
  lr_tensor *y;
  if (lr_tensor_view(x, ndim, sh, &y) != LR_OK) {
    lr_clear_error(); /* the strides need a copy first (PyTorch's reshape) */
    lr_tensor *c;
    LR_TRY(lr_tensor_contiguous_raw(x, &c));
    LR_TRY(relabel(lr_tensor_view(c, ndim, sh, &y), "lr_reshape"));
  }
  lr_node *nd;
  LR_TRY(record1(&op_reshape, x, y, &nd));
  *out = y;
  return LR_OK;
}

lr_status lr_squeeze(lr_tensor *x, int dim, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_squeeze", x, "x"));
  LR_TRY(lr_check_ptr("lr_squeeze", out, "out"));
  int d;
  LR_TRY(lr_norm_dim("lr_squeeze", dim, x->ndim, &d));
  lr_tensor *y;
  static const int identity[LR_MAX_DIMS] = {0, 1, 2, 3, 4, 5, 6, 7};
  if (x->ndim > 0 && x->shape[d] == 1) LR_TRY(relabel(lr_tensor_squeeze(x, d, &y), "lr_squeeze"));
  else LR_TRY(relabel(lr_tensor_permute(x, identity, &y), "lr_squeeze")); /* torch: a no-op view */
  lr_node *nd;
  LR_TRY(record1(&op_squeeze, x, y, &nd));
  *out = y;
  return LR_OK;
}

lr_status lr_unsqueeze(lr_tensor *x, int dim, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_unsqueeze", x, "x"));
  LR_TRY(lr_check_ptr("lr_unsqueeze", out, "out"));
  lr_tensor *y;
  LR_TRY(relabel(lr_tensor_unsqueeze(x, dim, &y), "lr_unsqueeze"));
  lr_node *nd;
  LR_TRY(record1(&op_unsqueeze, x, y, &nd));
  *out = y;
  return LR_OK;
}

static lr_status reshape_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *gv;
  if (!x->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(g, &g));
  LR_TRY(lr_tensor_view(g, x->ndim, x->shape, &gv));
  return lr_grad_acc(x, gv);
}

/* ---- permute, transpose ---- */

static lr_status permute_impl(const lr_op_def *def, const char *name, lr_tensor *x, const int *perm, lr_tensor **out) {
  lr_tensor *y;
  LR_TRY(relabel(lr_tensor_permute(x, perm, &y), name));
  lr_node *nd;
  LR_TRY(record1(def, x, y, &nd));
  if (nd)
    for (int i = 0; i < x->ndim; i++) nd->iarg[i] = perm[i];
  *out = y;
  return LR_OK;
}

lr_status lr_permute(lr_tensor *x, const int *perm, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_permute", x, "x"));
  LR_TRY(lr_check_ptr("lr_permute", out, "out"));
  if (x->ndim > 0) LR_TRY(lr_check_ptr("lr_permute", perm, "perm"));
  int p[LR_MAX_DIMS], seen[LR_MAX_DIMS] = {0};
  bool ok = true;
  for (int i = 0; i < x->ndim; i++) {
    p[i] = perm[i] < 0 ? perm[i] + x->ndim : perm[i];
    if (p[i] < 0 || p[i] >= x->ndim || seen[p[i]]++) ok = false;
  }
  if (!ok) {
    char b[160];
    int k = 0;
    k += snprintf(b + k, sizeof b - (size_t)k, "(");
    for (int i = 0; i < x->ndim; i++) k += snprintf(b + k, sizeof b - (size_t)k, i ? ", %d" : "%d", perm[i]);
    snprintf(b + k, sizeof b - (size_t)k, ")");
    return lr_fail(LR_ERR_ARG, "lr_permute: perm %s is not a permutation of the %d dims of x", b, x->ndim);
  }
  return permute_impl(&op_permute, "lr_permute", x, p, out);
}

lr_status lr_transpose(lr_tensor *x, int d0, int d1, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_transpose", x, "x"));
  LR_TRY(lr_check_ptr("lr_transpose", out, "out"));
  int a, b, p[LR_MAX_DIMS];
  LR_TRY(lr_norm_dim("lr_transpose", d0, x->ndim, &a));
  LR_TRY(lr_norm_dim("lr_transpose", d1, x->ndim, &b));
  for (int i = 0; i < x->ndim; i++) p[i] = i;
  if (x->ndim > 0) { p[a] = b; p[b] = a; }
  return permute_impl(&op_transpose, "lr_transpose", x, p, out);
}

static lr_status permute_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *gp, *gc;
  if (!x->requires_grad) return LR_OK;
  int inv[LR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) inv[n->iarg[i]] = i;
  LR_TRY(lr_tensor_permute(g, inv, &gp));
  LR_TRY(lr_tensor_contiguous_raw(gp, &gc));
  return lr_grad_acc(x, gc);
}

/* ---- narrow, slice ---- */

/* The view x[..., start : start + step * len : step, ...] along d (all in range). */
static lr_status slice_impl(const lr_op_def *def, const char *name, lr_tensor *x, int d, int64_t start, int64_t len,
                            int64_t step, lr_tensor **out) {
  lr_tensor *y;
  LR_TRY(relabel(lr_tensor_narrow(x, d, start, 0, &y), name));
  y->shape[d] = len;
  y->strides[d] = x->strides[d] * step;
  lr_node *nd;
  LR_TRY(record1(def, x, y, &nd));
  if (nd) {
    nd->iarg[0] = d;
    nd->iarg[1] = start;
    nd->iarg[2] = step;
  }
  *out = y;
  return LR_OK;
}

lr_status lr_narrow(lr_tensor *x, int dim, int64_t start, int64_t length, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_narrow", x, "x"));
  LR_TRY(lr_check_ptr("lr_narrow", out, "out"));
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "lr_narrow: x is 0-dim");
  int d;
  LR_TRY(lr_norm_dim("lr_narrow", dim, x->ndim, &d));
  int64_t size = x->shape[d], s = start < 0 ? start + size : start;
  if (s < 0 || length < 0 || s + length > size)
    return lr_fail(LR_ERR_ARG, "lr_narrow: start %lld, length %lld out of range for dim %d of size %lld",
                   (long long)start, (long long)length, d, (long long)size);
  return slice_impl(&op_narrow, "lr_narrow", x, d, s, length, 1, out);
}

lr_status lr_slice(lr_tensor *x, int dim, int64_t start, int64_t stop, int64_t step, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_slice", x, "x"));
  LR_TRY(lr_check_ptr("lr_slice", out, "out"));
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "lr_slice: x is 0-dim");
  int d;
  LR_TRY(lr_norm_dim("lr_slice", dim, x->ndim, &d));
  if (step <= 0) return lr_fail(LR_ERR_ARG, "lr_slice: step %lld, expected > 0", (long long)step);
  /* Python's rules: negative bounds count from the end, then both are clamped to [0, size]. */
  int64_t size = x->shape[d];
  int64_t b = start < 0 ? start + size : start, e = stop < 0 ? stop + size : stop;
  b = b < 0 ? 0 : b > size ? size : b;
  e = e < 0 ? 0 : e > size ? size : e;
  int64_t len = e > b ? (e - b + step - 1) / step : 0;
  return slice_impl(&op_slice, "lr_slice", x, d, len ? b : 0, len, step, out);
}

static lr_status slice_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *buf, *gc;
  if (!x->requires_grad) return LR_OK;
  int d = (int)n->iarg[0];
  int64_t start = n->iarg[1], step = n->iarg[2];
  LR_TRY(lr_grad_buffer(x, &buf));
  LR_TRY(lr_tensor_contiguous_raw(g, &gc));
  /* The window of the (contiguous) gradient buffer that the view covered. */
  int64_t wstr[LR_MAX_DIMS];
  for (int i = 0; i < buf->ndim; i++) wstr[i] = buf->strides[i];
  wstr[d] *= step;
  unsigned char *w = (unsigned char *)buf->data + start * buf->strides[d] * (int64_t)lr_dtype_size(buf->dtype);
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA)
    return lr_kcuda_acc_broadcast(buf->dtype, w, wstr, gc->data, gc->ndim, gc->shape, lr_cuda_stream());
#endif
  if (x->device != LR_DEVICE_CPU)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s backward: no %s implementation", n->op->name, lr_device_name(x->device));
  lr_kcpu_acc_broadcast(buf->dtype, w, wstr, gc->data, gc->ndim, gc->shape);
  return LR_OK;
}

/* ---- expand, contiguous ---- */

lr_status lr_expand(lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_expand", x, "x"));
  LR_TRY(lr_check_ptr("lr_expand", out, "out"));
  if (ndim > 0) LR_TRY(lr_check_ptr("lr_expand", shape, "shape"));
  char a[160], b[160];
  for (int i = 0; i < ndim && ndim <= LR_MAX_DIMS; i++)
    if (shape[i] < -1 || (shape[i] == -1 && i < ndim - x->ndim))
      return lr_fail(LR_ERR_SHAPE, "lr_expand: cannot expand %s to %s: size %lld at dim %d",
                     lr_shape_str(x->ndim, x->shape, a, 160), lr_shape_str(ndim, shape, b, 160), (long long)shape[i], i);
  lr_tensor *y;
  LR_TRY(relabel(lr_tensor_expand(x, ndim, shape, &y), "lr_expand"));
  lr_node *nd;
  LR_TRY(record1(&op_expand, x, y, &nd));
  *out = y;
  return LR_OK;
}

lr_status lr_contiguous(lr_tensor *x, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_contiguous", x, "x"));
  LR_TRY(lr_check_ptr("lr_contiguous", out, "out"));
  if (lr_is_contiguous(x)) {
    *out = x;
    return LR_OK;
  }
  LR_TRY(lr_check_device("lr_contiguous", &op_contiguous, x));
  lr_tensor *y;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &y));
  LR_TRY(lr_tensor_copy_(y, x));
  lr_node *nd;
  LR_TRY(record1(&op_contiguous, x, y, &nd));
  *out = y;
  return LR_OK;
}

/* dx += g, summed over the dims x was broadcast along (expand) or as is (contiguous). */
static lr_status acc_backward(lr_node *n) { return lr_grad_acc(n->in[0], n->out[0]->grad); }

const lr_op_def *const lr_ops_view[] = {&op_reshape, &op_squeeze, &op_unsqueeze, &op_permute, &op_transpose,
                                        &op_narrow,  &op_slice,   &op_expand,    &op_contiguous, NULL};
