/* FFT ops.
 *
 * fft: y = s * sum_{t < m} x_t exp(sign 2 pi i j t / n), j < n (the DFT of x zero-padded to n).
 *   backward (PyTorch's convention: dx = sum_j g_j conj(dy_j/dx_t)): the DFT of the opposite
 *   sign with the same scale, truncated to the first m entries.
 * fft_conv: y[b, t, h] = sum_{s <= t} k[h, s] x[b, t - s, h] by rfft / irfft of size
 *   n >= L + Lk - 1 (kernels/cpu/fft.c); backward: the correlations
 *   dx[b, s, h] = sum_{t >= s} g[b, t, h] k[h, t - s], dk[h, s] = sum_{b, t >= s} g[b, t, h] x[b, t - s, h],
 *   also by FFT. The same as lrnnx's core/convolution.py fft_conv with a per-channel kernel
 *   (lrnnx uses a complex FFT of size 2L; a real FFT of a 7-smooth size >= L + Lk - 1 gives the
 *   same result with less work and any L).
 * fft_conv_c: ifft(fft(x, n) * fft(k, n))[:L] along time, composed of fft ops and mul.
 * On CUDA tensors fft and fft_conv run kernels/cuda/fft.cu (cuFFT, the same n and scaling), with
 * device scratch from the arena; fft_conv_c follows from its parts.
 */
#include "ops/fft_conv.h"

#include "kernels/cpu/fft.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/view.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"

#endif

static lr_status fft_backward(lr_node *n);
static lr_status fft_conv_backward(lr_node *n);
static const lr_op_def op_fft = {"fft", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, fft_backward};
static const lr_op_def op_fft_conv = {"fft_conv", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, fft_conv_backward};

static void *work_alloc(size_t bytes) { return lr_arena_alloc(lr_arena_current(), bytes ? bytes : 64); }

/* (outer, m, inner) of a contiguous tensor split at dim */
static void split_dims(const lr_tensor *t, int dim, int64_t *outer, int64_t *inner) {
  *outer = *inner = 1;
  for (int i = 0; i < dim; i++) *outer *= t->shape[i];
  for (int i = dim + 1; i < t->ndim; i++) *inner *= t->shape[i];
}

lr_status lr_fft(lr_tensor *x, int dim, int64_t n, bool inverse, lr_tensor **out) {
  const char *fn = "lr_fft";
  LR_TRY(lr_check_ptr(fn, x, "x"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_dtype(fn, x, "x", op_fft.dtypes));
  LR_TRY(lr_check_device(fn, &op_fft, x));
  if (x->ndim < 1) return lr_fail(LR_ERR_SHAPE, "%s: x is 0-dim, expected at least 1 dim", fn);
  int d;
  LR_TRY(lr_norm_dim(fn, dim, x->ndim, &d));
  int64_t m = x->shape[d];
  if (n < 1 || n < m || n > (int64_t)0x7fffffff)
    return lr_fail(LR_ERR_ARG, "%s: n is %lld, expected at least the length %lld of dim %d (and < 2^31)", fn,
                   (long long)n, (long long)m, d);
  lr_tensor *xc, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  int64_t sh[LR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) sh[i] = x->shape[i];
  sh[d] = n;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, sh, &y));
  int64_t outer, inner;
  split_dims(x, d, &outer, &inner);
  double scale = inverse ? 1.0 / (double)n : 1.0;
#ifdef LR_CUDA
  if (y->device == LR_DEVICE_CUDA && lr_numel(y) > 0) {
    size_t wb;
    void *w;
    LR_TRY(lr_kcuda_fft_c_work(x->dtype, n, outer * inner, &wb));
    LR_TRY(lr_op_scratch(LR_DEVICE_CUDA, wb, &w));
    LR_TRY(lr_kcuda_fft_c(x->dtype, inverse, n, outer, m, n, inner, xc->data, y->data, scale, w, wb, lr_cuda_stream()));
  } else
#endif
  if (lr_numel(y) > 0) {
    int th = lr_kcpu_fft_threads();
    void *w = work_alloc(lr_kcpu_fft_c_work_bytes(x->dtype, n, th));
    if (!w) return lr_fail(LR_ERR_MEMORY, "%s: out of arena memory for the FFT workspace", fn);
    LR_TRY(lr_kcpu_fft_c(x->dtype, inverse, n, outer, m, n, inner, xc->data, y->data, scale, w));
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_fft, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->iarg[0] = d;
    nd->iarg[1] = n;
    nd->iarg[2] = inverse;
    nd->farg[0] = scale;
  }
  *out = y;
  return LR_OK;
}

static lr_status fft_backward(lr_node *nd) {
  lr_tensor *x = nd->in[0], *g = nd->out[0]->grad;
  if (!g || !x->requires_grad) return LR_OK;
  int d = (int)nd->iarg[0];
  int64_t n = nd->iarg[1], outer, inner, m = x->shape[d];
  split_dims(x, d, &outer, &inner);
  lr_tensor *dx;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &dx));
#ifdef LR_CUDA
  if (dx->device == LR_DEVICE_CUDA && lr_numel(dx) > 0) {
    size_t wb;
    void *w;
    LR_TRY(lr_kcuda_fft_c_work(x->dtype, n, outer * inner, &wb));
    LR_TRY(lr_op_scratch(LR_DEVICE_CUDA, wb, &w));
    LR_TRY(lr_kcuda_fft_c(x->dtype, !nd->iarg[2], n, outer, n, m, inner, g->data, dx->data, nd->farg[0], w, wb,
                          lr_cuda_stream()));
  } else
#endif
  if (lr_numel(dx) > 0) {
    void *w = work_alloc(lr_kcpu_fft_c_work_bytes(x->dtype, n, lr_kcpu_fft_threads()));
    if (!w) return lr_fail(LR_ERR_MEMORY, "lr_fft backward: out of arena memory");
    LR_TRY(lr_kcpu_fft_c(x->dtype, !nd->iarg[2], n, outer, n, m, inner, g->data, dx->data, nd->farg[0], w));
  }
  return lr_grad_acc(x, dx);
}

static char *shp(const lr_tensor *t, char *b) { return (char *)lr_shape_str(t->ndim, t->shape, b, 64); }

/* Shared checks of fft_conv / fft_conv_c: x (B, L, H), k (H, Lk). */
static lr_status conv_check(const char *fn, const lr_op_def *def, uint32_t dtypes, lr_tensor *x, lr_tensor *k,
                            lr_tensor **out) {
  LR_TRY(lr_check_ptr(fn, x, "x"));
  LR_TRY(lr_check_ptr(fn, k, "k"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_same(fn, x, "x", k, "k"));
  LR_TRY(lr_check_dtype(fn, x, "x", dtypes));
  if (def) LR_TRY(lr_check_device(fn, def, x));
  char b1[64], b2[64];
  if (x->ndim != 3) return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected 3 dims (B, L, H)", fn, shp(x, b1));
  if (k->ndim != 2) return lr_fail(LR_ERR_SHAPE, "%s: k is %s, expected 2 dims (H, Lk)", fn, shp(k, b1));
  if (k->shape[0] != x->shape[2])
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s and k is %s: channels %lld and %lld differ", fn, shp(x, b1),
                   shp(k, b2), (long long)x->shape[2], (long long)k->shape[0]);
  if (k->shape[1] < 1) return lr_fail(LR_ERR_SHAPE, "%s: k is %s, expected a kernel length >= 1", fn, shp(k, b1));
  return LR_OK;
}

static int64_t conv_n(int64_t L, int64_t Lk) { return lr_kcpu_fft_good_size(L + Lk - 1); }

lr_status lr_fft_conv(lr_tensor *x, lr_tensor *k, lr_tensor **out) {
  const char *fn = "lr_fft_conv";
  LR_TRY(conv_check(fn, &op_fft_conv, op_fft_conv.dtypes, x, k, out));
  int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2], Lk = k->shape[1], n = conv_n(L, Lk);
  lr_tensor *xc, *kc, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_tensor_contiguous_raw(k, &kc));
  LR_TRY(lr_empty_on(x->dtype, x->device, 3, x->shape, &y));
#ifdef LR_CUDA
  if (y->device == LR_DEVICE_CUDA && lr_numel(y) > 0) {
    size_t wb;
    void *w;
    LR_TRY(lr_kcuda_fft_conv_work(x->dtype, B, H, n, false, &wb));
    LR_TRY(lr_op_scratch(LR_DEVICE_CUDA, wb, &w));
    LR_TRY(lr_kcuda_fft_conv_fwd(x->dtype, B, L, H, Lk, n, xc->data, kc->data, y->data, w, wb, lr_cuda_stream()));
  } else
#endif
  if (lr_numel(y) > 0) {
    void *w = work_alloc(lr_kcpu_fft_conv_work_bytes(x->dtype, n, H, lr_kcpu_fft_threads()));
    if (!w) return lr_fail(LR_ERR_MEMORY, "%s: out of arena memory for the FFT workspace", fn);
    LR_TRY(lr_kcpu_fft_conv_fwd(x->dtype, B, L, H, Lk, n, xc->data, kc->data, y->data, w));
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_fft_conv, 2, (lr_tensor *[]){x, k}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = kc;
    nd->iarg[0] = n;
  }
  *out = y;
  return LR_OK;
}

static lr_status fft_conv_backward(lr_node *nd) {
  lr_tensor *x = nd->in[0], *k = nd->in[1], *g = nd->out[0]->grad;
  if (!g) return LR_OK;
  lr_tensor *xc = nd->saved[0], *kc = nd->saved[1], *dx = NULL, *dk = NULL;
  int64_t B = x->shape[0], L = x->shape[1], H = x->shape[2], Lk = k->shape[1], n = nd->iarg[0];
  if (x->requires_grad) LR_TRY(lr_empty_on(x->dtype, x->device, 3, x->shape, &dx));
  if (k->requires_grad) LR_TRY(lr_empty_on(k->dtype, k->device, 2, k->shape, &dk));
  if (!dx && !dk) return LR_OK;
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA) {
    size_t wb;
    void *w;
    LR_TRY(lr_kcuda_fft_conv_work(x->dtype, B, H, n, true, &wb));
    LR_TRY(lr_op_scratch(LR_DEVICE_CUDA, wb, &w));
    LR_TRY(lr_kcuda_fft_conv_bwd(x->dtype, B, L, H, Lk, n, xc->data, kc->data, g->data, dx ? dx->data : NULL,
                                 dk ? dk->data : NULL, w, wb, lr_cuda_stream()));
  } else
#endif
  if (B * L * H > 0) {
    void *w = work_alloc(lr_kcpu_fft_conv_work_bytes(x->dtype, n, H, lr_kcpu_fft_threads()));
    if (!w) return lr_fail(LR_ERR_MEMORY, "lr_fft_conv backward: out of arena memory");
    LR_TRY(lr_kcpu_fft_conv_bwd(x->dtype, B, L, H, Lk, n, xc->data, kc->data, g->data, dx ? dx->data : NULL,
                                dk ? dk->data : NULL, w));
  } else if (dk) {
    LR_TRY(lr_tensor_fill_(dk, 0));
  }
  LR_TRY(lr_grad_acc(x, dx));
  return lr_grad_acc(k, dk);
}

lr_status lr_fft_conv_c(lr_tensor *x, lr_tensor *k, lr_tensor **out) {
  const char *fn = "lr_fft_conv_c";
  LR_TRY(conv_check(fn, &op_fft, LR_DT_COMPLEX, x, k, out));
  int64_t L = x->shape[1], n = conv_n(L, k->shape[1]);
  lr_tensor *X, *K, *Kt, *P, *Y, *y;
  LR_TRY(lr_fft(x, 1, n, false, &X));   /* (B, n, H) */
  LR_TRY(lr_fft(k, 1, n, false, &K));   /* (H, n) */
  LR_TRY(lr_transpose(K, 0, 1, &Kt));   /* (n, H) */
  LR_TRY(lr_mul(X, Kt, &P));
  LR_TRY(lr_fft(P, 1, n, true, &Y));
  LR_TRY(lr_narrow(Y, 1, 0, L, &y));
  *out = y;
  return LR_OK;
}

const lr_op_def *const lr_ops_fft[] = {&op_fft, &op_fft_conv, NULL};
