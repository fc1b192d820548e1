/* Causal depthwise conv1d.
 *
 * forward (xp = [state0 or 0, x] along time, length K-1 + L):
 *   pre[b, d, t] = bias[d] + sum_{j<K} w[d, j] xp[b, d, t + j];  y = silu(pre) or pre;
 *   state_out = xp[..., L : L + K-1].
 * backward, with gpre = g * silu'(pre) (silu'(z) = s(z) (1 + z (1 - s(z)))):
 *   dxp[p] = sum_j w[j] gpre[p - j] + gstate[p - L];  dx = dxp[K-1:], dstate0 = dxp[:K-1];
 *   dw[d, j] = sum_{b, t} gpre[b, d, t] xp[b, d, t + j];  dbias[d] = sum_{b, t} gpre[b, d, t].
 * step: the same window at one position, shifting the state in place.
 * Reference: causal-conv1d (causal_conv1d_fn, causal_conv1d_update) as used by lrnnx's Mamba
 * and RG-LRU; F.conv1d(x, w[:, None], bias, padding=K-1, groups=D)[..., :L].
 * On CUDA tensors: kernels/cuda/conv1d.cu (forward, backward and step).
 */
#include "ops/conv1d.h"

#include "kernels/cpu/conv1d.h"
#include "ops/op_util.h"
#include "ops/registry.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"

#endif

static lr_status conv1d_backward(lr_node *n);
static const lr_op_def op_conv1d = {"causal_conv1d", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, conv1d_backward};
static const lr_op_def op_conv1d_step = {"causal_conv1d_step", LR_DT_REAL, LR_ON_CPU_CUDA, 0, NULL};

static char *shp(const lr_tensor *t, char *b) { return (char *)lr_shape_str(t->ndim, t->shape, b, 64); }

/* w (D, K), bias (D) or NULL, same dtype as x; *D and *K from w. */
static lr_status check_w(const char *fn, const lr_tensor *x, const lr_tensor *w, const lr_tensor *bias, int64_t D) {
  char b1[64], b2[64];
  LR_TRY(lr_check_same(fn, x, "x", w, "w"));
  if (w->ndim != 2 || w->shape[0] != D || w->shape[1] < 1)
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s and w is %s, expected w (%lld, K) with K >= 1", fn, shp(x, b1),
                   shp(w, b2), (long long)D);
  if (bias) {
    LR_TRY(lr_check_same(fn, x, "x", bias, "bias"));
    if (bias->ndim != 1 || bias->shape[0] != D)
      return lr_fail(LR_ERR_SHAPE, "%s: bias is %s, expected (%lld)", fn, shp(bias, b1), (long long)D);
  }
  return LR_OK;
}

static lr_status check_state(const char *fn, const lr_tensor *x, const lr_tensor *s, int64_t B, int64_t D, int64_t K) {
  char b1[64];
  LR_TRY(lr_check_same(fn, x, "x", s, "state"));
  if (s->ndim != 3 || s->shape[0] != B || s->shape[1] != D || s->shape[2] != K - 1)
    return lr_fail(LR_ERR_SHAPE, "%s: state is %s, expected (%lld, %lld, %lld)", fn, shp(s, b1), (long long)B,
                   (long long)D, (long long)(K - 1));
  return LR_OK;
}

static const void *dat(const lr_tensor *t) { return t ? t->data : NULL; }

lr_status lr_causal_conv1d(lr_tensor *x, lr_tensor *w, lr_tensor *bias, lr_tensor *state0, bool silu, lr_tensor **y,
                           lr_tensor **state_out) {
  const char *fn = "lr_causal_conv1d";
  LR_TRY(lr_check_ptr(fn, x, "x"));
  LR_TRY(lr_check_ptr(fn, w, "w"));
  LR_TRY(lr_check_ptr(fn, y, "y"));
  LR_TRY(lr_check_dtype(fn, x, "x", op_conv1d.dtypes));
  LR_TRY(lr_check_device(fn, &op_conv1d, x));
  char b1[64];
  if (x->ndim != 3) return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected 3 dims (B, D, L)", fn, shp(x, b1));
  int64_t B = x->shape[0], D = x->shape[1], L = x->shape[2];
  LR_TRY(check_w(fn, x, w, bias, D));
  int64_t K = w->shape[1];
  if (state0) LR_TRY(check_state(fn, x, state0, B, D, K));
  lr_tensor *xc, *wc, *bc = NULL, *sc = NULL, *out, *st = NULL;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_tensor_contiguous_raw(w, &wc));
  if (bias) LR_TRY(lr_tensor_contiguous_raw(bias, &bc));
  if (state0) LR_TRY(lr_tensor_contiguous_raw(state0, &sc));
  LR_TRY(lr_empty_on(x->dtype, x->device, 3, x->shape, &out));
  if (state_out) LR_TRY(lr_empty_on(x->dtype, x->device, LR_SHAPE(B, D, K - 1), &st));
#ifdef LR_CUDA
  if (out->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_causal_conv1d_fwd(x->dtype, B, D, L, K, xc->data, wc->data, dat(bc), dat(sc), silu, out->data,
                                      st ? st->data : NULL, lr_cuda_stream()));
  else
#endif
  lr_kcpu_causal_conv1d_fwd(x->dtype, B, D, L, K, xc->data, wc->data, dat(bc), dat(sc), silu, out->data,
                            st ? st->data : NULL);
  lr_tensor *in[4] = {x, w}, *outs[2] = {out, st};
  int n_in = 2;
  if (bias) in[n_in++] = bias;
  if (state0) in[n_in++] = state0;
  lr_node *nd;
  LR_TRY(lr_record(&op_conv1d, n_in, in, st ? 2 : 1, outs, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = wc;
    nd->saved[2] = bc;
    nd->saved[3] = sc;
    nd->iarg[0] = bias != NULL;
    nd->iarg[1] = state0 != NULL;
    nd->iarg[2] = silu;
  }
  *y = out;
  if (state_out) *state_out = st;
  return LR_OK;
}

static lr_status conv1d_backward(lr_node *nd) {
  lr_tensor *x = nd->in[0], *w = nd->in[1];
  lr_tensor *bias = nd->iarg[0] ? nd->in[2] : NULL, *s0 = nd->iarg[1] ? nd->in[2 + nd->iarg[0]] : NULL;
  lr_tensor *g = nd->out[0]->grad, *gs = nd->n_out > 1 ? nd->out[1]->grad : NULL;
  if (!g && !gs) return LR_OK;
  int64_t B = x->shape[0], D = x->shape[1], L = x->shape[2], K = w->shape[1];
  lr_tensor *dx = NULL, *dw = NULL, *db = NULL, *ds = NULL;
  if (x->requires_grad) LR_TRY(lr_empty_on(x->dtype, x->device, 3, x->shape, &dx));
  if (w->requires_grad) LR_TRY(lr_empty_on(w->dtype, w->device, 2, w->shape, &dw));
  if (bias && bias->requires_grad) LR_TRY(lr_empty_on(bias->dtype, bias->device, 1, bias->shape, &db));
  if (s0 && s0->requires_grad) LR_TRY(lr_empty_on(s0->dtype, s0->device, 3, s0->shape, &ds));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA) {
    void *wk;
    LR_TRY(lr_op_scratch(LR_DEVICE_CUDA, lr_kcuda_causal_conv1d_bwd_work(B, D, L, K), &wk));
    LR_TRY(lr_kcuda_causal_conv1d_bwd(x->dtype, B, D, L, K, nd->saved[0]->data, nd->saved[1]->data, dat(nd->saved[2]),
                                      dat(nd->saved[3]), nd->iarg[2], dat(g), dat(gs), dx ? dx->data : NULL,
                                      dw ? dw->data : NULL, db ? db->data : NULL, ds ? ds->data : NULL, wk,
                                      lr_cuda_stream()));
    LR_TRY(lr_grad_acc(x, dx));
    LR_TRY(lr_grad_acc(w, dw));
    LR_TRY(lr_grad_acc(bias, db));
    return lr_grad_acc(s0, ds);
  }
#endif
  void *work = lr_arena_alloc(lr_arena_current(), lr_kcpu_causal_conv1d_work_bytes(L, K));
  if (!work) return lr_fail(LR_ERR_MEMORY, "lr_causal_conv1d backward: out of arena memory");
  lr_kcpu_causal_conv1d_bwd(x->dtype, B, D, L, K, nd->saved[0]->data, nd->saved[1]->data, dat(nd->saved[2]),
                            dat(nd->saved[3]), nd->iarg[2], dat(g), dat(gs), dx ? dx->data : NULL,
                            dw ? dw->data : NULL, db ? db->data : NULL, ds ? ds->data : NULL, work);
  LR_TRY(lr_grad_acc(x, dx));
  LR_TRY(lr_grad_acc(w, dw));
  LR_TRY(lr_grad_acc(bias, db));
  return lr_grad_acc(s0, ds);
}

lr_status lr_causal_conv1d_step(lr_tensor *x_t, lr_tensor *state, lr_tensor *w, lr_tensor *bias, bool silu,
                                lr_tensor **y_t) {
  const char *fn = "lr_causal_conv1d_step";
  LR_TRY(lr_check_ptr(fn, x_t, "x_t"));
  LR_TRY(lr_check_ptr(fn, w, "w"));
  LR_TRY(lr_check_ptr(fn, y_t, "y_t"));
  LR_TRY(lr_check_dtype(fn, x_t, "x_t", op_conv1d_step.dtypes));
  LR_TRY(lr_check_device(fn, &op_conv1d_step, x_t));
  char b1[64];
  if (x_t->ndim != 2) return lr_fail(LR_ERR_SHAPE, "%s: x_t is %s, expected 2 dims (B, D)", fn, shp(x_t, b1));
  int64_t B = x_t->shape[0], D = x_t->shape[1];
  LR_TRY(check_w(fn, x_t, w, bias, D));
  int64_t K = w->shape[1];
  if (!state && K > 1) return lr_fail(LR_ERR_ARG, "%s: argument 'state' is NULL, required for K = %lld", fn, (long long)K);
  if (state) {
    LR_TRY(check_state(fn, x_t, state, B, D, K));
    if (!lr_is_contiguous(state))
      return lr_fail(LR_ERR_ARG, "%s: state %s is not contiguous; it is updated in place", fn, shp(state, b1));
  }
  lr_tensor *xc, *wc, *bc = NULL, *out;
  LR_TRY(lr_tensor_contiguous_raw(x_t, &xc));
  LR_TRY(lr_tensor_contiguous_raw(w, &wc));
  if (bias) LR_TRY(lr_tensor_contiguous_raw(bias, &bc));
  LR_TRY(lr_empty_on(x_t->dtype, x_t->device, 2, x_t->shape, &out));
#ifdef LR_CUDA
  if (out->device == LR_DEVICE_CUDA) {
    LR_TRY(lr_kcuda_causal_conv1d_step(x_t->dtype, B, D, K, xc->data, state ? state->data : NULL, wc->data, dat(bc),
                                       silu, out->data, lr_cuda_stream()));
    *y_t = out;
    return LR_OK;
  }
#endif
  lr_kcpu_causal_conv1d_step(x_t->dtype, B, D, K, xc->data, state ? state->data : NULL, wc->data, dat(bc), silu,
                             out->data);
  *y_t = out;
  return LR_OK;
}

const lr_op_def *const lr_ops_conv[] = {&op_conv1d, &op_conv1d_step, NULL};
