/* LTI state-space ops.
 *
 * lti_kernel: K[n, l] = A_n^l (kernels/cpu/lti.c: running products in double, see there why not
 *   exp(l log A)). backward: dA_n += sum_l g[n, l] conj(l A_n^{l-1}).
 * lti_scan: h_t = A h_{t-1} + u_t per (b, n). backward (reverse scan with conj(A)):
 *   du_t = g_t + conj(A) du_{t+1}, dA += sum_{b, t>=1} du_t conj(h_{t-1}).
 * opt_ssm_forward (lrnnx core/convolution.py; arXiv 2409.03377):
 *   y[b, t, o] = Re sum_n C[o, n] sum_{s <= t} K[n, s] sum_i Bbar[n, i] x[b, t - s, i], by one of
 *   FULL_KERNEL: k[o, i, s] = Re sum_n C[o, n] K[n, s] Bbar[n, i]; y = sum_i fft_conv(x_i, k[o, i])
 *   STATE_CONV:  u = x Bbar^T (B, L, N); v = fft_conv_c(u, K); y = Re(v C^T)
 *   FREQ:        Y = ((fft(x) Bbar^T) * fft(K)^T) C^T in frequency; y = Re(ifft(Y))[:L]
 *   composed of differentiable ops, so each order has its backward from theirs.
 * lti_recurrent: y = Re(lti_scan(x Bbar^T, Abar) C^T): the same system, step by step.
 * On CUDA tensors lti_kernel and lti_scan run kernels/cuda/lti.cu; opt_ssm_forward and
 * lti_recurrent follow from their parts (fft, fft_conv, matmul, mul, complex, real, views).
 */
#include "ops/lti.h"

#include "kernels/cpu/fft.h"
#include "kernels/cpu/lti.h"
#include "ops/complex.h"
#include "ops/elementwise.h"
#include "ops/fft_conv.h"
#include "ops/linalg.h"
#include "ops/op_util.h"
#include "ops/reduce.h"
#include "ops/registry.h"
#include "ops/view.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"

#endif

static lr_status lti_kernel_backward(lr_node *n);
static lr_status lti_scan_backward(lr_node *n);
static const lr_op_def op_lti_kernel = {"lti_kernel", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, lti_kernel_backward};
static const lr_op_def op_lti_scan = {"lti_scan", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, lti_scan_backward};

static char *shp(const lr_tensor *t, char *b) { return (char *)lr_shape_str(t->ndim, t->shape, b, 64); }

lr_status lr_lti_kernel(lr_tensor *Abar, int64_t L, lr_tensor **out) {
  const char *fn = "lr_lti_kernel";
  LR_TRY(lr_check_ptr(fn, Abar, "Abar"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_dtype(fn, Abar, "Abar", op_lti_kernel.dtypes));
  LR_TRY(lr_check_device(fn, &op_lti_kernel, Abar));
  char b[64];
  if (Abar->ndim != 1) return lr_fail(LR_ERR_SHAPE, "%s: Abar is %s, expected 1 dim (N)", fn, shp(Abar, b));
  if (L < 0) return lr_fail(LR_ERR_ARG, "%s: L is %lld, expected >= 0", fn, (long long)L);
  lr_tensor *a, *K;
  LR_TRY(lr_tensor_contiguous_raw(Abar, &a));
  int64_t N = Abar->shape[0];
  LR_TRY(lr_empty_on(Abar->dtype, Abar->device, LR_SHAPE(N, L), &K));
#ifdef LR_CUDA
  if (K->device == LR_DEVICE_CUDA) LR_TRY(lr_kcuda_lti_kernel(Abar->dtype, N, L, a->data, K->data, lr_cuda_stream()));
  else
#endif
  lr_kcpu_lti_kernel(Abar->dtype, N, L, a->data, K->data);
  lr_node *nd;
  LR_TRY(lr_record(&op_lti_kernel, 1, &Abar, 1, &K, &nd));
  *out = K;
  return LR_OK;
}

static lr_status lti_kernel_backward(lr_node *nd) {
  lr_tensor *A = nd->in[0], *K = nd->out[0], *g = K->grad, *dA;
  if (!g || !A->requires_grad) return LR_OK;
  LR_TRY(lr_empty_on(A->dtype, A->device, 1, A->shape, &dA));
#ifdef LR_CUDA
  if (dA->device == LR_DEVICE_CUDA) {
    LR_TRY(lr_kcuda_lti_kernel_bwd(A->dtype, A->shape[0], K->shape[1], K->data, g->data, dA->data, lr_cuda_stream()));
    return lr_grad_acc(A, dA);
  }
#endif
  lr_kcpu_lti_kernel_bwd(A->dtype, A->shape[0], K->shape[1], K->data, g->data, dA->data);
  return lr_grad_acc(A, dA);
}

lr_status lr_lti_scan(lr_tensor *u, lr_tensor *Abar, lr_tensor **out) {
  const char *fn = "lr_lti_scan";
  LR_TRY(lr_check_ptr(fn, u, "u"));
  LR_TRY(lr_check_ptr(fn, Abar, "Abar"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_same(fn, u, "u", Abar, "Abar"));
  LR_TRY(lr_check_dtype(fn, u, "u", op_lti_scan.dtypes));
  LR_TRY(lr_check_device(fn, &op_lti_scan, u));
  char b1[64], b2[64];
  if (u->ndim != 3) return lr_fail(LR_ERR_SHAPE, "%s: u is %s, expected 3 dims (B, L, N)", fn, shp(u, b1));
  if (Abar->ndim != 1 || Abar->shape[0] != u->shape[2])
    return lr_fail(LR_ERR_SHAPE, "%s: u is %s and Abar is %s, expected Abar (%lld)", fn, shp(u, b1), shp(Abar, b2),
                   (long long)u->shape[2]);
  lr_tensor *uc, *ac, *h;
  LR_TRY(lr_tensor_contiguous_raw(u, &uc));
  LR_TRY(lr_tensor_contiguous_raw(Abar, &ac));
  LR_TRY(lr_empty_on(u->dtype, u->device, 3, u->shape, &h));
#ifdef LR_CUDA
  if (h->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_lti_scan(u->dtype, u->shape[0], u->shape[1], u->shape[2], uc->data, ac->data, h->data,
                             lr_cuda_stream()));
  else
#endif
  lr_kcpu_lti_scan(u->dtype, u->shape[0], u->shape[1], u->shape[2], uc->data, ac->data, h->data);
  lr_node *nd;
  LR_TRY(lr_record(&op_lti_scan, 2, (lr_tensor *[]){u, Abar}, 1, &h, &nd));
  if (nd) nd->saved[0] = ac;
  *out = h;
  return LR_OK;
}

static lr_status lti_scan_backward(lr_node *nd) {
  lr_tensor *u = nd->in[0], *A = nd->in[1], *h = nd->out[0], *g = h->grad, *du = NULL, *dA = NULL;
  if (!g) return LR_OK;
  if (u->requires_grad) LR_TRY(lr_empty_on(u->dtype, u->device, 3, u->shape, &du));
  if (A->requires_grad) LR_TRY(lr_empty_on(A->dtype, A->device, 1, A->shape, &dA));
  if (!du && !dA) return LR_OK;
#ifdef LR_CUDA
  if (u->device == LR_DEVICE_CUDA) {
    void *w;
    LR_TRY(lr_op_scratch(LR_DEVICE_CUDA, lr_kcuda_lti_scan_bwd_work(u->shape[0], u->shape[2]), &w));
    LR_TRY(lr_kcuda_lti_scan_bwd(u->dtype, u->shape[0], u->shape[1], u->shape[2], nd->saved[0]->data, h->data,
                                 g->data, du ? du->data : NULL, dA ? dA->data : NULL, w, lr_cuda_stream()));
    LR_TRY(lr_grad_acc(u, du));
    return lr_grad_acc(A, dA);
  }
#endif
  lr_kcpu_lti_scan_bwd(u->dtype, u->shape[0], u->shape[1], u->shape[2], nd->saved[0]->data, h->data, g->data,
                       du ? du->data : NULL, dA ? dA->data : NULL);
  LR_TRY(lr_grad_acc(u, du));
  return lr_grad_acc(A, dA);
}

lr_ssm_path lr_opt_ssm_path(int64_t B, int64_t N, int64_t Hin, int64_t Hout) {
  double lhs = 1.0 / (double)Hin + 1.0 / (double)Hout, rhs = 1.0 / (double)B + 1.0 / (double)N;
  if (lhs > rhs && Hin * Hout <= N) return LR_SSM_FULL_KERNEL;
  if (lhs <= rhs && N <= Hin) return LR_SSM_STATE_CONV;
  return LR_SSM_FREQ;
}

/* Checks x (B, L, Hin) real, Bbar (N, Hin), C (Hout, N) complex of x's complex dtype. */
static lr_status ssm_check(const char *fn, lr_tensor *x, lr_tensor *A, const char *an, int a_ndim, lr_tensor *Bbar,
                           lr_tensor *C, lr_tensor **out) {
  LR_TRY(lr_check_ptr(fn, x, "x"));
  LR_TRY(lr_check_ptr(fn, A, an));
  LR_TRY(lr_check_ptr(fn, Bbar, "Bbar"));
  LR_TRY(lr_check_ptr(fn, C, "C"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_dtype(fn, x, "x", LR_DT_REAL));
  LR_TRY(lr_check_dtype(fn, A, an, LR_DT_COMPLEX));
  LR_TRY(lr_check_same(fn, A, an, Bbar, "Bbar"));
  LR_TRY(lr_check_same(fn, A, an, C, "C"));
  if (lr_dtype_complex(x->dtype) != A->dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: x is %s and %s is %s, expected %s", fn, lr_dtype_name(x->dtype), an,
                   lr_dtype_name(A->dtype), lr_dtype_name(lr_dtype_complex(x->dtype)));
  char b1[64], b2[64], b3[64];
  if (x->ndim != 3) return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected 3 dims (B, L, Hin)", fn, shp(x, b1));
  if (A->ndim != a_ndim)
    return lr_fail(LR_ERR_SHAPE, "%s: %s is %s, expected %d dims", fn, an, shp(A, b1), a_ndim);
  int64_t N = A->shape[0], Hin = x->shape[2];
  if (Bbar->ndim != 2 || Bbar->shape[0] != N || Bbar->shape[1] != Hin)
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, %s is %s and Bbar is %s, expected Bbar (%lld, %lld)", fn, shp(x, b1),
                   an, shp(A, b2), shp(Bbar, b3), (long long)N, (long long)Hin);
  if (C->ndim != 2 || C->shape[1] != N)
    return lr_fail(LR_ERR_SHAPE, "%s: %s is %s and C is %s, expected C (Hout, %lld)", fn, an, shp(A, b1),
                   shp(C, b2), (long long)N);
  return LR_OK;
}

/* x real -> complex (imaginary part 0), differentiable in x. */
static lr_status to_complex(lr_tensor *x, lr_tensor **out) {
  lr_tensor *z;
  LR_TRY(lr_zeros_on(x->dtype, x->device, 0, NULL, &z)); /* on x's device: lr_complex wants both there */
  return lr_complex(x, z, out);
}

static lr_status path_full_kernel(lr_tensor *x, lr_tensor *K, lr_tensor *Bbar, lr_tensor *C, lr_tensor **out) {
  int64_t Bn = x->shape[0], L = x->shape[1], Hin = x->shape[2], N = K->shape[0], Lk = K->shape[1], Hout = C->shape[0];
  lr_tensor *K3, *B3, *M, *M2, *CM, *re, *r3, *rp, *kf, *x4, *xe, *xf, *yc, *y4, *y;
  LR_TRY(lr_unsqueeze(K, 2, &K3));     /* (N, Lk, 1) */
  LR_TRY(lr_unsqueeze(Bbar, 1, &B3));  /* (N, 1, Hin) */
  LR_TRY(lr_mul(K3, B3, &M));          /* (N, Lk, Hin) */
  LR_TRY(lr_reshape(M, LR_SHAPE(N, Lk * Hin), &M2));
  LR_TRY(lr_matmul(C, M2, &CM));       /* (Hout, Lk * Hin) */
  LR_TRY(lr_real(CM, &re));
  LR_TRY(lr_reshape(re, LR_SHAPE(Hout, Lk, Hin), &r3));
  LR_TRY(lr_permute(r3, (const int[]){0, 2, 1}, &rp)); /* (Hout, Hin, Lk) */
  LR_TRY(lr_reshape(rp, LR_SHAPE(Hout * Hin, Lk), &kf));
  LR_TRY(lr_unsqueeze(x, 2, &x4));     /* (B, L, 1, Hin) */
  LR_TRY(lr_expand(x4, LR_SHAPE(Bn, L, Hout, Hin), &xe));
  LR_TRY(lr_reshape(xe, LR_SHAPE(Bn, L, Hout * Hin), &xf));
  LR_TRY(lr_fft_conv(xf, kf, &yc));    /* (B, L, Hout * Hin) */
  LR_TRY(lr_reshape(yc, LR_SHAPE(Bn, L, Hout, Hin), &y4));
  LR_TRY(lr_sum(y4, 1, (const int[]){3}, false, &y));
  *out = y;
  return LR_OK;
}

static lr_status path_state_conv(lr_tensor *x, lr_tensor *K, lr_tensor *Bbar, lr_tensor *C, lr_tensor **out) {
  lr_tensor *xc, *Bt, *u, *v, *Ct, *w;
  LR_TRY(to_complex(x, &xc));
  LR_TRY(lr_transpose(Bbar, 0, 1, &Bt));
  LR_TRY(lr_matmul(xc, Bt, &u));       /* (B, L, N) */
  LR_TRY(lr_fft_conv_c(u, K, &v));
  LR_TRY(lr_transpose(C, 0, 1, &Ct));
  LR_TRY(lr_matmul(v, Ct, &w));        /* (B, L, Hout) */
  return lr_real(w, out);
}

static lr_status path_freq(lr_tensor *x, lr_tensor *K, lr_tensor *Bbar, lr_tensor *C, lr_tensor **out) {
  int64_t L = x->shape[1], n = lr_kcpu_fft_good_size(L + K->shape[1] - 1);
  lr_tensor *xc, *X, *Kf, *Kt, *Bt, *P, *P2, *Ct, *Q, *q, *qn;
  LR_TRY(to_complex(x, &xc));
  LR_TRY(lr_fft(xc, 1, n, false, &X));  /* (B, n, Hin) */
  LR_TRY(lr_fft(K, 1, n, false, &Kf));  /* (N, n) */
  LR_TRY(lr_transpose(Kf, 0, 1, &Kt));  /* (n, N) */
  LR_TRY(lr_transpose(Bbar, 0, 1, &Bt));
  LR_TRY(lr_matmul(X, Bt, &P));         /* (B, n, N) */
  LR_TRY(lr_mul(P, Kt, &P2));
  LR_TRY(lr_transpose(C, 0, 1, &Ct));
  LR_TRY(lr_matmul(P2, Ct, &Q));        /* (B, n, Hout) */
  LR_TRY(lr_fft(Q, 1, n, true, &q));
  LR_TRY(lr_narrow(q, 1, 0, L, &qn));
  return lr_real(qn, out);
}

lr_status lr_opt_ssm_forward(lr_tensor *x, lr_tensor *K, lr_tensor *Bbar, lr_tensor *C, lr_ssm_path path,
                             lr_tensor **out) {
  const char *fn = "lr_opt_ssm_forward";
  LR_TRY(ssm_check(fn, x, K, "K", 2, Bbar, C, out));
  if (K->shape[1] < 1) {
    char b[64];
    return lr_fail(LR_ERR_SHAPE, "%s: K is %s, expected a kernel length >= 1", fn, shp(K, b));
  }
  if (path == LR_SSM_AUTO) path = lr_opt_ssm_path(x->shape[0], K->shape[0], x->shape[2], C->shape[0]);
  switch (path) {
    case LR_SSM_FULL_KERNEL: return path_full_kernel(x, K, Bbar, C, out);
    case LR_SSM_STATE_CONV: return path_state_conv(x, K, Bbar, C, out);
    case LR_SSM_FREQ: return path_freq(x, K, Bbar, C, out);
    default: return lr_fail(LR_ERR_ARG, "%s: path is %d, expected 0..3", fn, (int)path);
  }
}

lr_status lr_lti_recurrent(lr_tensor *x, lr_tensor *Abar, lr_tensor *Bbar, lr_tensor *C, lr_tensor **out) {
  LR_TRY(ssm_check("lr_lti_recurrent", x, Abar, "Abar", 1, Bbar, C, out));
  lr_tensor *xc, *Bt, *u, *h, *Ct, *w;
  LR_TRY(to_complex(x, &xc));
  LR_TRY(lr_transpose(Bbar, 0, 1, &Bt));
  LR_TRY(lr_matmul(xc, Bt, &u));
  LR_TRY(lr_lti_scan(u, Abar, &h));
  LR_TRY(lr_transpose(C, 0, 1, &Ct));
  LR_TRY(lr_matmul(h, Ct, &w));
  return lr_real(w, out);
}

const lr_op_def *const lr_ops_lti[] = {&op_lti_kernel, &op_lti_scan, NULL};
