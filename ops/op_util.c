/* Argument checks and gradient accumulation shared by all ops; see op_util.h. */
#include "ops/op_util.h"

#include "kernels/cpu/accumulate.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

lr_status lr_check_ptr(const char *op, const void *p, const char *what) {
  if (!p) return lr_fail(LR_ERR_ARG, "%s: argument '%s' is NULL", op, what);
  return LR_OK;
}

static void mask_str(uint32_t mask, char *buf, size_t n) {
  size_t k = 0;
  buf[0] = 0;
  int cnt = 0, total = 0;
  for (int d = 0; d < LR_DTYPE_COUNT; d++) total += (mask >> d) & 1;
  for (int d = 0; d < LR_DTYPE_COUNT && k < n; d++) {
    if (!((mask >> d) & 1)) continue;
    cnt++;
    const char *sep = cnt == 1 ? "" : cnt == total ? " or " : ", ";
    k += (size_t)snprintf(buf + k, n - k, "%s%s", sep, lr_dtype_name((lr_dtype)d));
  }
}

lr_status lr_check_dtype(const char *op, const lr_tensor *t, const char *what, uint32_t mask) {
  if (!(mask & LR_DT(t->dtype))) {
    char b[96];
    mask_str(mask, b, sizeof b);
    return lr_fail(LR_ERR_DTYPE, "%s: %s is %s, expected %s", op, what, lr_dtype_name(t->dtype), b);
  }
  return LR_OK;
}

lr_status lr_check_same(const char *op, const lr_tensor *a, const char *an, const lr_tensor *b, const char *bn) {
  if (a->device != b->device)
    return lr_fail(LR_ERR_DEVICE, "%s: %s is on %s, %s is on %s", op, an, lr_device_name(a->device), bn,
                   lr_device_name(b->device));
  if (a->dtype != b->dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: %s is %s, %s is %s", op, an, lr_dtype_name(a->dtype), bn, lr_dtype_name(b->dtype));
  return LR_OK;
}

lr_status lr_check_device(const char *op, const lr_op_def *def, const lr_tensor *t) {
  if (!(def->fwd_devices & (1u << t->device)))
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: no %s implementation", op, lr_device_name(t->device));
  return LR_OK;
}

void lr_broadcast_strides(const lr_tensor *t, int ndim, const int64_t *shape, int64_t *strides) {
  int off = ndim - t->ndim;
  for (int i = 0; i < ndim; i++) {
    int j = i - off;
    strides[i] = (j < 0 || (t->shape[j] == 1 && shape[i] != 1)) ? 0 : t->strides[j];
  }
}

lr_status lr_grad_acc(lr_tensor *t, const lr_tensor *g) {
  if (!t || !t->requires_grad || !g) return LR_OK; /* g NULL: an output that got no gradient */
  /* g must be t broadcast to g's shape; anything else is a bug in the calling backward, and
   * reading t's dims misaligned would accumulate into the wrong elements. */
  bool fits = g->ndim >= t->ndim;
  for (int i = 0; fits && i < t->ndim; i++) {
    int64_t ts = t->shape[i], gs = g->shape[g->ndim - t->ndim + i];
    fits = ts == gs || ts == 1;
  }
  if (!fits) {
    char a[160], b[160];
    return lr_fail(LR_ERR_INTERNAL, "lr_grad_acc: gradient of shape %s does not fit a tensor of shape %s",
                   lr_shape_str(g->ndim, g->shape, a, 160), lr_shape_str(t->ndim, t->shape, b, 160));
  }
  if (g->dtype != t->dtype)
    return lr_fail(LR_ERR_INTERNAL, "lr_grad_acc: gradient is %s, tensor is %s", lr_dtype_name(g->dtype),
                   lr_dtype_name(t->dtype));
  if (g->device != t->device)
    return lr_fail(LR_ERR_DEVICE, "lr_grad_acc: gradient is on %s, tensor is on %s", lr_device_name(g->device),
                   lr_device_name(t->device));
  lr_tensor *buf, *gc;
  LR_TRY(lr_grad_buffer(t, &buf));
  LR_TRY(lr_tensor_contiguous_raw(g, &gc));
  int64_t dstr[LR_MAX_DIMS];
  lr_broadcast_strides(buf, gc->ndim, gc->shape, dstr);
#ifdef LR_CUDA
  if (t->device == LR_DEVICE_CUDA)
    return lr_kcuda_acc_broadcast(t->dtype, buf->data, dstr, gc->data, gc->ndim, gc->shape, lr_cuda_stream());
#endif
  if (t->device != LR_DEVICE_CPU)
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_grad_acc: no %s implementation", lr_device_name(t->device));
  lr_kcpu_acc_broadcast(t->dtype, buf->data, dstr, gc->data, gc->ndim, gc->shape);
  return LR_OK;
}

lr_status lr_op_scratch(lr_device dev, size_t bytes, void **out) {
  *out = NULL;
  if (!bytes) return LR_OK;
  lr_tensor *t;
  LR_TRY(lr_empty_on(LR_DTYPE_F64, dev, 1, (int64_t[]){(int64_t)((bytes + 7) / 8)}, &t));
  *out = t->data;
  return LR_OK;
}
