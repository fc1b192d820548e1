/* S4's structured kernels.
 *
 * cauchy: out_l = sum_n v_n/(z_l - w_n) + conj(v_n)/(z_l - conj(w_n)). PyTorch's convention
 *   gives, for y = a p: dp += conj(a) g, and for y = a conj(p): dp += a conj(g), so
 *   dv = sum_l g conj(1/(z-w)) + conj(g)/(z - conj w);
 *   dw = conj(v) sum_l [g / conj(z-w)^2 + conj(g) / (z - conj w)^2];
 *   dz = -sum_{b,n} g conj(v/(z-w)^2 + conj(v)/(z - conj w)^2).
 * log_vandermonde: out_l = 2 Re sum_n v_n e^{x_n l}; dv = 2 sum_l g conj(e^{xl}),
 *   dx = 2 conj(v) sum_l g l conj(e^{xl}) (lrnnx csrc/s4 log_vandermonde_cuda's backward).
 * log_vandermonde_transpose: out_n = v_n S_n, S_n = sum_l u_l e^{x_n l} (holomorphic in all):
 *   dv = g conj(S), dx = g conj(v sum_l l u_l e^{xl}), du_l = sum_n g_n conj(v_n e^{x_n l}).
 * power: A^L by binary powers; sum_i A^i v_i by the reverse divide and conquer of
 *   s4_utils.power: fold the tail beyond the largest power of two l <= L with A^l, then halve:
 *   v <- v[:h] + A^h v[h:] until one column is left.
 * Batch dims broadcast: inputs are expanded and copied to the common batch shape, and the
 * gradients, computed in that shape, are summed back by lr_grad_acc.
 * On CUDA tensors: kernels/cuda/s4.cu (same sums, one thread per output); power follows from its
 * parts.
 */
#include "ops/s4_kernels.h"

#include "kernels/cpu/s4.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/shape.h"
#include "ops/view.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status cauchy_backward(lr_node *n);
static lr_status vand_backward(lr_node *n);
static lr_status vand_t_backward(lr_node *n);
static const lr_op_def op_cauchy = {"cauchy", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, cauchy_backward};
static const lr_op_def op_vand = {"log_vandermonde", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, vand_backward};
static const lr_op_def op_vand_t = {"log_vandermonde_transpose", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, vand_t_backward};

static char *shp(const lr_tensor *t, char *b) { return (char *)lr_shape_str(t->ndim, t->shape, b, 64); }

/* Checks n complex tensors of one dtype with >= 1 dim, broadcasts their batch dims (all but the
 * last) and gives contiguous copies expanded to (batch..., last_i). *Bt: the batch numel. */
static lr_status bcast(const char *fn, const lr_op_def *def, int n, lr_tensor *const *ts, const char *const *names,
                       lr_tensor **cs, int *nb, int64_t *bsh, int64_t *Bt) {
  for (int i = 0; i < n; i++) LR_TRY(lr_check_ptr(fn, ts[i], names[i]));
  LR_TRY(lr_check_dtype(fn, ts[0], names[0], def->dtypes));
  LR_TRY(lr_check_device(fn, def, ts[0]));
  for (int i = 1; i < n; i++) LR_TRY(lr_check_same(fn, ts[0], names[0], ts[i], names[i]));
  char b1[64];
  for (int i = 0; i < n; i++)
    if (ts[i]->ndim < 1) return lr_fail(LR_ERR_SHAPE, "%s: %s is %s, expected at least 1 dim", fn, names[i], shp(ts[i], b1));
  *nb = ts[0]->ndim - 1;
  for (int d = 0; d < *nb; d++) bsh[d] = ts[0]->shape[d];
  for (int i = 1; i < n; i++) {
    int o;
    int64_t s[LR_MAX_DIMS];
    if (lr_broadcast_shape(fn, *nb, bsh, ts[i]->ndim - 1, ts[i]->shape, &o, s) != LR_OK) {
      char b2[64];
      return lr_fail(LR_ERR_SHAPE, "%s: %s is %s and %s is %s: the batch dims (all but the last) do not broadcast",
                     fn, names[0], shp(ts[0], b1), names[i], shp(ts[i], b2));
    }
    *nb = o;
    for (int d = 0; d < o; d++) bsh[d] = s[d];
  }
  if (*nb + 1 > LR_MAX_DIMS) return lr_fail(LR_ERR_SHAPE, "%s: more than %d dims", fn, LR_MAX_DIMS);
  *Bt = 1;
  for (int d = 0; d < *nb; d++) *Bt *= bsh[d];
  for (int i = 0; i < n; i++) {
    int64_t sh[LR_MAX_DIMS];
    for (int d = 0; d < *nb; d++) sh[d] = bsh[d];
    sh[*nb] = ts[i]->shape[ts[i]->ndim - 1];
    lr_tensor *e;
    LR_TRY(lr_tensor_expand(ts[i], *nb + 1, sh, &e));
    LR_TRY(lr_tensor_contiguous_raw(e, &cs[i]));
  }
  return LR_OK;
}

/* A (batch..., last) output shape */
static lr_status out_like(lr_dtype dt, lr_device dev, int nb, const int64_t *bsh, int64_t last, lr_tensor **out) {
  int64_t sh[LR_MAX_DIMS];
  for (int d = 0; d < nb; d++) sh[d] = bsh[d];
  sh[nb] = last;
  return lr_empty_on(dt, dev, nb + 1, sh, out);
}

static lr_status grad_buf(lr_tensor *t, const lr_tensor *like, lr_tensor **g) {
  *g = NULL;
  if (!t->requires_grad) return LR_OK;
  return lr_empty_on(like->dtype, like->device, like->ndim, like->shape, g);
}

static void *dp(lr_tensor *t) { return t ? t->data : NULL; }

lr_status lr_cauchy(lr_tensor *v, lr_tensor *z, lr_tensor *w, lr_tensor **out) {
  const char *fn = "lr_cauchy";
  LR_TRY(lr_check_ptr(fn, out, "out"));
  lr_tensor *cs[2];
  int nb;
  int64_t bsh[LR_MAX_DIMS], Bt;
  LR_TRY(bcast(fn, &op_cauchy, 2, (lr_tensor *[]){v, w}, (const char *[]){"v", "w"}, cs, &nb, bsh, &Bt));
  LR_TRY(lr_check_ptr(fn, z, "z"));
  LR_TRY(lr_check_same(fn, v, "v", z, "z"));
  char b1[64], b2[64], b3[64];
  if (v->shape[v->ndim - 1] != w->shape[w->ndim - 1])
    return lr_fail(LR_ERR_SHAPE, "%s: v is %s and w is %s: last dims (N) differ", fn, shp(v, b1), shp(w, b2));
  if (z->ndim != 1) return lr_fail(LR_ERR_SHAPE, "%s: z is %s, expected 1 dim (L)", fn, shp(z, b3));
  int64_t N = v->shape[v->ndim - 1], L = z->shape[0];
  lr_tensor *zc, *y;
  LR_TRY(lr_tensor_contiguous_raw(z, &zc));
  LR_TRY(out_like(v->dtype, v->device, nb, bsh, L, &y));
#ifdef LR_CUDA
  if (y->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_cauchy(v->dtype, Bt, N, L, cs[0]->data, zc->data, cs[1]->data, y->data, lr_cuda_stream()));
  else
#endif
  lr_kcpu_cauchy(v->dtype, Bt, N, L, cs[0]->data, zc->data, cs[1]->data, y->data);
  lr_node *nd;
  LR_TRY(lr_record(&op_cauchy, 3, (lr_tensor *[]){v, z, w}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = cs[0];
    nd->saved[1] = zc;
    nd->saved[2] = cs[1];
    nd->iarg[0] = Bt;
    nd->iarg[1] = N;
  }
  *out = y;
  return LR_OK;
}

static lr_status cauchy_backward(lr_node *nd) {
  lr_tensor *v = nd->in[0], *z = nd->in[1], *w = nd->in[2], *g = nd->out[0]->grad, *dv, *dz, *dw;
  if (!g) return LR_OK;
  lr_tensor *vc = nd->saved[0], *zc = nd->saved[1], *wc = nd->saved[2];
  LR_TRY(grad_buf(v, vc, &dv));
  LR_TRY(grad_buf(z, zc, &dz));
  LR_TRY(grad_buf(w, wc, &dw));
#ifdef LR_CUDA
  if (vc->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_cauchy_bwd(v->dtype, nd->iarg[0], nd->iarg[1], zc->shape[0], vc->data, zc->data, wc->data, g->data,
                               dp(dv), dp(dw), dp(dz), lr_cuda_stream()));
  else
#endif
  lr_kcpu_cauchy_bwd(v->dtype, nd->iarg[0], nd->iarg[1], zc->shape[0], vc->data, zc->data, wc->data, g->data, dp(dv),
                     dp(dw), dp(dz));
  LR_TRY(lr_grad_acc(v, dv));
  LR_TRY(lr_grad_acc(z, dz));
  return lr_grad_acc(w, dw);
}

lr_status lr_log_vandermonde(lr_tensor *v, lr_tensor *x, int64_t L, lr_tensor **out) {
  const char *fn = "lr_log_vandermonde";
  LR_TRY(lr_check_ptr(fn, out, "out"));
  lr_tensor *cs[2];
  int nb;
  int64_t bsh[LR_MAX_DIMS], Bt;
  LR_TRY(bcast(fn, &op_vand, 2, (lr_tensor *[]){v, x}, (const char *[]){"v", "x"}, cs, &nb, bsh, &Bt));
  char b1[64], b2[64];
  if (v->shape[v->ndim - 1] != x->shape[x->ndim - 1])
    return lr_fail(LR_ERR_SHAPE, "%s: v is %s and x is %s: last dims (N) differ", fn, shp(v, b1), shp(x, b2));
  if (L < 0) return lr_fail(LR_ERR_ARG, "%s: L is %lld, expected >= 0", fn, (long long)L);
  int64_t N = v->shape[v->ndim - 1];
  lr_tensor *y;
  LR_TRY(out_like(lr_dtype_real(v->dtype), v->device, nb, bsh, L, &y));
#ifdef LR_CUDA
  if (y->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_log_vandermonde(v->dtype, Bt, N, L, cs[0]->data, cs[1]->data, y->data, lr_cuda_stream()));
  else
#endif
  lr_kcpu_log_vandermonde(v->dtype, Bt, N, L, cs[0]->data, cs[1]->data, y->data);
  lr_node *nd;
  LR_TRY(lr_record(&op_vand, 2, (lr_tensor *[]){v, x}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = cs[0];
    nd->saved[1] = cs[1];
    nd->iarg[0] = Bt;
    nd->iarg[1] = N;
    nd->iarg[2] = L;
  }
  *out = y;
  return LR_OK;
}

static lr_status vand_backward(lr_node *nd) {
  lr_tensor *v = nd->in[0], *x = nd->in[1], *g = nd->out[0]->grad, *dv, *dx;
  if (!g) return LR_OK;
  LR_TRY(grad_buf(v, nd->saved[0], &dv));
  LR_TRY(grad_buf(x, nd->saved[1], &dx));
#ifdef LR_CUDA
  if (v->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_log_vandermonde_bwd(v->dtype, nd->iarg[0], nd->iarg[1], nd->iarg[2], nd->saved[0]->data,
                                        nd->saved[1]->data, g->data, dp(dv), dp(dx), lr_cuda_stream()));
  else
#endif
  lr_kcpu_log_vandermonde_bwd(v->dtype, nd->iarg[0], nd->iarg[1], nd->iarg[2], nd->saved[0]->data, nd->saved[1]->data,
                              g->data, dp(dv), dp(dx));
  LR_TRY(lr_grad_acc(v, dv));
  return lr_grad_acc(x, dx);
}

lr_status lr_log_vandermonde_transpose(lr_tensor *u, lr_tensor *v, lr_tensor *x, lr_tensor **out) {
  const char *fn = "lr_log_vandermonde_transpose";
  LR_TRY(lr_check_ptr(fn, out, "out"));
  lr_tensor *cs[3];
  int nb;
  int64_t bsh[LR_MAX_DIMS], Bt;
  LR_TRY(bcast(fn, &op_vand_t, 3, (lr_tensor *[]){u, v, x}, (const char *[]){"u", "v", "x"}, cs, &nb, bsh, &Bt));
  char b1[64], b2[64];
  if (v->shape[v->ndim - 1] != x->shape[x->ndim - 1])
    return lr_fail(LR_ERR_SHAPE, "%s: v is %s and x is %s: last dims (N) differ", fn, shp(v, b1), shp(x, b2));
  int64_t N = v->shape[v->ndim - 1], L = u->shape[u->ndim - 1];
  lr_tensor *y;
  LR_TRY(out_like(v->dtype, v->device, nb, bsh, N, &y));
#ifdef LR_CUDA
  if (y->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_log_vandermonde_t(v->dtype, Bt, N, L, cs[0]->data, cs[1]->data, cs[2]->data, y->data,
                                      lr_cuda_stream()));
  else
#endif
  lr_kcpu_log_vandermonde_t(v->dtype, Bt, N, L, cs[0]->data, cs[1]->data, cs[2]->data, y->data);
  lr_node *nd;
  LR_TRY(lr_record(&op_vand_t, 3, (lr_tensor *[]){u, v, x}, 1, &y, &nd));
  if (nd) {
    for (int i = 0; i < 3; i++) nd->saved[i] = cs[i];
    nd->iarg[0] = Bt;
    nd->iarg[1] = N;
    nd->iarg[2] = L;
  }
  *out = y;
  return LR_OK;
}

static lr_status vand_t_backward(lr_node *nd) {
  lr_tensor *u = nd->in[0], *v = nd->in[1], *x = nd->in[2], *g = nd->out[0]->grad, *du, *dv, *dx;
  if (!g) return LR_OK;
  LR_TRY(grad_buf(u, nd->saved[0], &du));
  LR_TRY(grad_buf(v, nd->saved[1], &dv));
  LR_TRY(grad_buf(x, nd->saved[2], &dx));
#ifdef LR_CUDA
  if (v->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_log_vandermonde_t_bwd(v->dtype, nd->iarg[0], nd->iarg[1], nd->iarg[2], nd->saved[0]->data,
                                          nd->saved[1]->data, nd->saved[2]->data, g->data, dp(du), dp(dv), dp(dx),
                                          lr_cuda_stream()));
  else
#endif
  lr_kcpu_log_vandermonde_t_bwd(v->dtype, nd->iarg[0], nd->iarg[1], nd->iarg[2], nd->saved[0]->data,
                                nd->saved[1]->data, nd->saved[2]->data, g->data, dp(du), dp(dv), dp(dx));
  LR_TRY(lr_grad_acc(u, du));
  LR_TRY(lr_grad_acc(v, dv));
  return lr_grad_acc(x, dx);
}

lr_status lr_s4_power(int64_t L, lr_tensor *A, lr_tensor *v, lr_tensor **AL, lr_tensor **vout) {
  const char *fn = "lr_s4_power";
  LR_TRY(lr_check_ptr(fn, A, "A"));
  LR_TRY(lr_check_dtype(fn, A, "A", LR_DT_FLOAT));
  char b1[64], b2[64];
  if (A->ndim < 2 || A->shape[A->ndim - 1] != A->shape[A->ndim - 2])
    return lr_fail(LR_ERR_SHAPE, "%s: A is %s, expected (..., N, N)", fn, shp(A, b1));
  if (L < 0) return lr_fail(LR_ERR_ARG, "%s: L is %lld, expected >= 0", fn, (long long)L);
  int64_t N = A->shape[A->ndim - 1];
  if (v) {
    LR_TRY(lr_check_same(fn, A, "A", v, "v"));
    if (v->ndim < 2 || v->shape[v->ndim - 2] != N || v->shape[v->ndim - 1] != L)
      return lr_fail(LR_ERR_SHAPE, "%s: A is %s and v is %s, expected v (..., %lld, %lld) with L = %lld", fn,
                     shp(A, b1), shp(v, b2), (long long)N, (long long)L, (long long)L);
    if (L < 1) return lr_fail(LR_ERR_ARG, "%s: L is 0, expected >= 1 when v is given", fn);
  }
  /* powers[k] = A^(2^k) for 2^k <= L */
  lr_tensor *powers[64], *I = NULL;
  int np = 1;
  powers[0] = A;
  int64_t rem = L;
  for (;;) {
    if (rem % 2 == 1) {
      if (!I) I = powers[np - 1];
      else LR_TRY(lr_matmul(powers[np - 1], I, &I));
    }
    rem /= 2;
    if (rem == 0) break;
    LR_TRY(lr_matmul(powers[np - 1], powers[np - 1], &powers[np]));
    np++;
  }
  if (!I) { /* L = 0: the identity, broadcast to A's shape (constant) */
    lr_tensor *e;
    LR_TRY(lr_zeros_on(A->dtype, A->device, A->ndim, A->shape, &e)); /* on A's device (set: one copy per 1) */
    int64_t mats = lr_numel(e) / (N * N);
    for (int64_t m = 0; m < mats; m++)
      for (int64_t i = 0; i < N; i++) lr_tensor_set(e, m * N * N + i * N + i, 1, 0);
    I = e;
  }
  if (v && vout) {
    int64_t l = (int64_t)1 << (np - 1); /* the largest power of two <= L */
    int64_t k = L - l;
    int top = np - 1;
    lr_tensor *cur;
    if (k > 0) {
      lr_tensor *tail, *vt, *head, *hs, *rest;
      LR_TRY(lr_narrow(v, -1, l, k, &tail));
      LR_TRY(lr_matmul(powers[top], tail, &vt)); /* A^l v[..., l:] */
      LR_TRY(lr_narrow(v, -1, 0, k, &head));
      LR_TRY(lr_add(head, vt, &hs));
      if (l > k) {
        LR_TRY(lr_narrow(v, -1, k, l - k, &rest));
        LR_TRY(lr_cat(2, (lr_tensor *[]){hs, rest}, -1, &cur));
      } else {
        cur = hs;
      }
    } else {
      cur = v;
    }
    top--;
    while (cur->shape[cur->ndim - 1] > 1) {
      int64_t h = cur->shape[cur->ndim - 1] / 2;
      lr_tensor *v0, *v1, *pv;
      LR_TRY(lr_narrow(cur, -1, 0, h, &v0));
      LR_TRY(lr_narrow(cur, -1, h, h, &v1));
      LR_TRY(lr_matmul(powers[top--], v1, &pv));
      LR_TRY(lr_add(v0, pv, &cur));
    }
    LR_TRY(lr_squeeze(cur, -1, vout));
  }
  if (AL) *AL = I;
  return LR_OK;
}

const lr_op_def *const lr_ops_s4[] = {&op_cauchy, &op_vand, &op_vand_t, NULL};
