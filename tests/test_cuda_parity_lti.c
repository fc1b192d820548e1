/* FFT, LTI, causal conv1d and S4 kernels on CUDA against the CPU, forward and backward, on a GPU.
 *
 * Each case makes the same random inputs on both devices (values rounded to float first, so F32
 * and F64 runs see the same numbers; optionally a transposed view), runs the op, then lr_backward
 * with the same random output gradient w (the gradients of sum(w * y)), and compares outputs and
 * every input gradient. A second GPU run from fresh leaves must give the same bits (determinism).
 * Lengths L in {1, 7, 64, 1000, 2049}, several batch / channel counts, conv1d K in {1, 4, 7},
 * Cauchy N in {1, 16, 64, 300}. Plus: conv1d step == full conv on the GPU, and the FFT path ==
 * the recurrent path of the same LTI system on the GPU.
 *
 * Tolerances (|gpu - cpu| <= tol * max |cpu| over the tensor), with the reason:
 *  - FFT-based ops (fft, fft_conv, fft_conv_c, opt_ssm_forward): cuFFT and FFTW use different
 *    factorizations, each with error ~ eps log2(n) relative to the norm: 2e-4 for F32 / C64
 *    (eps 6e-8, n up to 4096, plus the products around it), 1e-10 for F64 / C128;
 *  - direct kernels in double (lti_kernel, lti_scan, conv1d, cauchy, log_vandermonde*): both
 *    sides sum in double in the same or a tree order and round once: 2e-6 for F32 / C64 (a few
 *    float ulps of the largest element), 1e-10 for F64 / C128 (sums of up to 2049 x 300 terms,
 *    GPU fused multiply-adds, GPU exp / sincos).
 *
 * Tagged "manual" and "cuda": build here, run on the GPU machine.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

#define F32 LR_DTYPE_F32
#define F64 LR_DTYPE_F64
#define C64 LR_DTYPE_C64
#define C128 LR_DTYPE_C128

typedef struct {
  lr_dtype dt;
  int nd;
  int64_t sh[4];
  double lo, hi;
  bool strided, grad;
} spec;

/* A tensor of logical shape sp->sh on dev with components uniform in [lo, hi) (rounded to
 * float), stored transposed in its last two dims when sp->strided. */
static lr_tensor *make(lr_device dev, const spec *sp, uint64_t seed) {
  int nd = sp->nd, nc = pt_ncomp(sp->dt);
  int64_t n = pt_numel(nd, sp->sh), bsh[4];
  for (int i = 0; i < nd; i++) bsh[i] = sp->sh[i];
  bool tr = sp->strided && nd >= 2;
  if (tr) {
    bsh[nd - 1] = sp->sh[nd - 2];
    bsh[nd - 2] = sp->sh[nd - 1];
  }
  size_t es = lr_dtype_size(sp->dt);
  unsigned char *host = malloc((size_t)(n ? n : 1) * es);
  cr_assert_not_null(host);
  int64_t R = tr ? sp->sh[nd - 2] : 1, C = tr ? sp->sh[nd - 1] : 1;
  for (int64_t i = 0; i < n; i++) {
    int64_t j = i;
    if (tr) {
      int64_t mat = i / (R * C), r = (i / C) % R, c = i % C;
      j = mat * R * C + c * R + r;
    }
    for (int k = 0; k < nc; k++) {
      double u = (double)(pt_splitmix(&seed) >> 11) * 0x1.0p-53;
      float v = (float)(sp->lo + (sp->hi - sp->lo) * u);
      if (pt_single(sp->dt)) ((float *)host)[j * nc + k] = v;
      else ((double *)host)[j * nc + k] = v;
    }
  }
  lr_tensor *base, *t;
  cr_assert_eq(lr_empty_on(sp->dt, dev, nd, bsh, &base), LR_OK, "%s", lr_last_error());
  if (n > 0) cr_assert_eq(lr_tensor_copy_from_host(base, host, (size_t)n * es), LR_OK, "%s", lr_last_error());
  free(host);
  if (tr) {
    cr_assert_eq(lr_tensor_transpose(base, -1, -2, &t), LR_OK);
    t->base = NULL;
  } else {
    t = base;
  }
  t->requires_grad = sp->grad;
  return t;
}

/* Components of t (any strides) as doubles. */
static double *to_host(const lr_tensor *t) {
  lr_tensor *c = NULL, *h;
  cr_assert_eq(lr_empty_on(t->dtype, LR_DEVICE_CPU, t->ndim, t->shape, &h), LR_OK);
  cr_assert_eq(lr_tensor_copy_(h, t), LR_OK, "%s", lr_last_error());
  c = h;
  int64_t nc = lr_numel(c) * pt_ncomp(c->dtype);
  double *d = malloc(sizeof(double) * (size_t)(nc ? nc : 1));
  cr_assert_not_null(d);
  for (int64_t i = 0; i < nc; i++) d[i] = pt_single(c->dtype) ? (double)((float *)c->data)[i] : ((double *)c->data)[i];
  return d;
}

static void compare(const char *what, const char *part, const lr_tensor *c, const lr_tensor *g, double tol) {
  cr_assert(lr_same_shape(c, g), "%s %s: shapes differ", what, part);
  int64_t nc = lr_numel(c) * pt_ncomp(c->dtype);
  double *a = to_host(c), *b = to_host(g), mx = 0;
  for (int64_t i = 0; i < nc; i++) mx = fmax(mx, fabs(a[i]));
  for (int64_t i = 0; i < nc; i++)
    if (!(fabs(a[i] - b[i]) <= tol * mx))
      cr_assert_fail("%s %s: component %lld: gpu %.17g, cpu %.17g (max |cpu| %.3g, tol %.3g)", what, part,
                     (long long)i, b[i], a[i], mx, tol);
  free(a);
  free(b);
}

static void same_bits(const char *what, const char *part, const lr_tensor *a, const lr_tensor *b) {
  size_t bytes = lr_nbytes(a);
  void *x = malloc(bytes ? bytes : 1), *y = malloc(bytes ? bytes : 1);
  cr_assert(x && y);
  if (bytes) {
    cr_assert_eq(lr_tensor_copy_to_host(a, x, bytes), LR_OK);
    cr_assert_eq(lr_tensor_copy_to_host(b, y, bytes), LR_OK);
  }
  cr_assert(memcmp(x, y, bytes) == 0, "%s %s: two GPU runs differ", what, part);
  free(x);
  free(y);
}

typedef lr_status (*op_fn)(void *ctx, lr_tensor *const *in, lr_tensor **out);

#define MAXIN 4

/* Runs f on CPU and GPU inputs made from the same specs, compares y and the gradients of
 * sum(w * y); runs the GPU twice and compares the bits. */
static void parity(const char *what, op_fn f, void *ctx, int n, const spec *sp, double tol, uint64_t seed) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(ar);
  lr_tensor *ic[MAXIN], *ig[MAXIN], *ig2[MAXIN], *yc, *yg, *yg2;
  for (int i = 0; i < n; i++) {
    ic[i] = make(LR_DEVICE_CPU, &sp[i], seed + 17 * (uint64_t)i);
    ig[i] = make(LR_DEVICE_CUDA, &sp[i], seed + 17 * (uint64_t)i);
    ig2[i] = make(LR_DEVICE_CUDA, &sp[i], seed + 17 * (uint64_t)i);
  }
  cr_assert_eq(f(ctx, ic, &yc), LR_OK, "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(f(ctx, ig, &yg), LR_OK, "%s gpu: %s", what, lr_last_error());
  cr_assert_eq(f(ctx, ig2, &yg2), LR_OK, "%s gpu (2): %s", what, lr_last_error());
  cr_assert_eq(yg->device, LR_DEVICE_CUDA, "%s: output not on the GPU", what);
  compare(what, "output", yc, yg, tol);
  same_bits(what, "output", yg, yg2);
  if (lr_numel(yc) > 0 && yc->requires_grad) {
    spec ws = {yc->dtype, yc->ndim, {0}, -1, 1, false, false};
    for (int i = 0; i < yc->ndim; i++) ws.sh[i] = yc->shape[i];
    lr_tensor *wc = make(LR_DEVICE_CPU, &ws, seed + 99), *wg = make(LR_DEVICE_CUDA, &ws, seed + 99);
    cr_assert_eq(lr_backward(yc, wc), LR_OK, "%s cpu backward: %s", what, lr_last_error());
    cr_assert_eq(lr_backward(yg, wg), LR_OK, "%s gpu backward: %s", what, lr_last_error());
    cr_assert_eq(lr_backward(yg2, wg), LR_OK, "%s gpu backward (2): %s", what, lr_last_error());
    for (int i = 0; i < n; i++) {
      if (!sp[i].grad) continue;
      char part[32];
      snprintf(part, sizeof part, "grad of input %d", i);
      cr_assert_not_null(ic[i]->grad, "%s: no CPU %s", what, part);
      cr_assert_not_null(ig[i]->grad, "%s: no GPU %s", what, part);
      compare(what, part, ic[i]->grad, ig[i]->grad, tol);
      same_bits(what, part, ig[i]->grad, ig2[i]->grad);
    }
  }
  lr_arena_rewind(ar, mk);
}

static double tol_fft(lr_dtype dt) { return pt_single(dt) ? 2e-4 : 1e-10; }
static double tol_direct(lr_dtype dt) { return pt_single(dt) ? 2e-6 : 1e-10; }

static const int64_t k_L[] = {1, 7, 64, 1000, 2049};
static const int64_t k_BH[][2] = {{1, 1}, {2, 3}, {3, 5}};

/* ---- fft ---- */
typedef struct {
  int dim;
  int64_t n;
  bool inverse;
} fft_args;

static lr_status f_fft(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  fft_args *a = ctx;
  return lr_fft(in[0], a->dim, a->n, a->inverse, out);
}

Test(cuda_lti, fft, .init = pt_on_gpu) {
  lr_dtype dts[] = {C64, C128};
  for (int d = 0; d < 2; d++)
    for (int l = 0; l < 5; l++)
      for (int b = 0; b < 3; b++) {
        int64_t L = k_L[l], B = k_BH[b][0], H = k_BH[b][1];
        for (int v = 0; v < 3; v++) {
          fft_args a = {1, v == 1 ? L + 3 : L, v == 2};
          spec sp = {dts[d], 3, {B, L, H}, -1, 1, b == 1, true};
          char what[128];
          snprintf(what, sizeof what, "fft %s (%lld, %lld, %lld) n %lld%s%s", lr_dtype_name(dts[d]), (long long)B,
                   (long long)L, (long long)H, (long long)a.n, a.inverse ? " inverse" : "", sp.strided ? " strided" : "");
          parity(what, f_fft, &a, 1, &sp, tol_fft(dts[d]), 1000 + 10 * (uint64_t)(l * 3 + b) + (uint64_t)v);
        }
      }
}

/* ---- fft_conv (real) and fft_conv_c ---- */
static lr_status f_conv(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return *(bool *)ctx ? lr_fft_conv_c(in[0], in[1], out) : lr_fft_conv(in[0], in[1], out);
}

static void conv_cases(bool cplx) {
  lr_dtype dts[2] = {cplx ? C64 : F32, cplx ? C128 : F64};
  for (int d = 0; d < 2; d++)
    for (int l = 0; l < 5; l++)
      for (int b = 0; b < 3; b++)
        for (int kk = 0; kk < 2; kk++) {
          int64_t L = k_L[l], B = k_BH[b][0], H = k_BH[b][1], Lk = kk ? L : (L < 5 ? L : 5);
          spec sp[2] = {{dts[d], 3, {B, L, H}, -1, 1, b == 2, true}, {dts[d], 2, {H, Lk}, -1, 1, false, true}};
          char what[128];
          snprintf(what, sizeof what, "%s %s x (%lld, %lld, %lld)%s k (%lld, %lld)", cplx ? "fft_conv_c" : "fft_conv",
                   lr_dtype_name(dts[d]), (long long)B, (long long)L, (long long)H, sp[0].strided ? " strided" : "",
                   (long long)H, (long long)Lk);
          parity(what, f_conv, &cplx, 2, sp, tol_fft(dts[d]), 2000 + 10 * (uint64_t)(l * 6 + b * 2 + kk));
        }
}

Test(cuda_lti, fft_conv, .init = pt_on_gpu) { conv_cases(false); }
Test(cuda_lti, fft_conv_c, .init = pt_on_gpu) { conv_cases(true); }

/* ---- lti_kernel, lti_scan ---- */
static lr_status f_kernel(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_lti_kernel(in[0], *(int64_t *)ctx, out);
}
static lr_status f_scan(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_lti_scan(in[0], in[1], out);
}

Test(cuda_lti, lti_kernel_and_scan, .init = pt_on_gpu) {
  lr_dtype dts[] = {F32, F64, C64, C128};
  for (int d = 0; d < 4; d++)
    for (int l = 0; l < 5; l++) {
      int64_t L = k_L[l];
      double r = lr_dtype_is_complex(dts[d]) ? 0.65 : 0.95; /* |A| < 0.92 */
      for (int N = 1; N <= 16; N += 15) {
        spec ka = {dts[d], 1, {N}, -r, r, false, true};
        char what[128];
        snprintf(what, sizeof what, "lti_kernel %s N %d L %lld", lr_dtype_name(dts[d]), N, (long long)L);
        parity(what, f_kernel, &L, 1, &ka, tol_direct(dts[d]), 3000 + 10 * (uint64_t)(d * 5 + l) + (uint64_t)N);
      }
      for (int b = 0; b < 3; b++) {
        int64_t B = k_BH[b][0], N = k_BH[b][1];
        spec sp[2] = {{dts[d], 3, {B, L, N}, -1, 1, b == 1, true}, {dts[d], 1, {N}, -r, r, false, true}};
        char what[128];
        snprintf(what, sizeof what, "lti_scan %s u (%lld, %lld, %lld)%s", lr_dtype_name(dts[d]), (long long)B,
                 (long long)L, (long long)N, sp[0].strided ? " strided" : "");
        parity(what, f_scan, NULL, 2, sp, tol_direct(dts[d]), 4000 + 10 * (uint64_t)(d * 15 + l * 3 + b));
      }
    }
}

/* ---- causal conv1d ---- */
typedef struct {
  bool bias, state, silu, want_state;
} c1_args;

static lr_status f_conv1d(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  c1_args *a = ctx;
  int i = 2;
  lr_tensor *bias = a->bias ? in[i++] : NULL, *s0 = a->state ? in[i++] : NULL, *y, *st = NULL;
  LR_TRY(lr_causal_conv1d(in[0], in[1], bias, s0, a->silu, &y, a->want_state ? &st : NULL));
  if (!a->want_state || st->shape[2] == 0) {
    *out = y;
    return LR_OK;
  }
  return lr_cat(2, (lr_tensor *[]){y, st}, 2, out);
}

Test(cuda_lti, causal_conv1d, .init = pt_on_gpu) {
  lr_dtype dts[] = {F32, F64};
  const int64_t Ks[] = {1, 4, 7};
  for (int d = 0; d < 2; d++)
    for (int l = 0; l < 5; l++)
      for (int b = 0; b < 3; b++)
        for (int k = 0; k < 3; k++) {
          int64_t L = k_L[l], B = k_BH[b][0], D = k_BH[b][1], K = Ks[k];
          int v = (l + b + k) % 4; /* rotate the variants over the grid */
          c1_args a = {v != 1, v >= 2, v != 0, v == 3};
          spec sp[4] = {{dts[d], 3, {B, D, L}, -1, 1, b == 2, true}, {dts[d], 2, {D, K}, -1, 1, false, true}};
          int n = 2;
          if (a.bias) sp[n++] = (spec){dts[d], 1, {D}, -1, 1, false, true};
          if (a.state) sp[n++] = (spec){dts[d], 3, {B, D, K - 1}, -1, 1, false, true};
          char what[160];
          snprintf(what, sizeof what, "causal_conv1d %s x (%lld, %lld, %lld)%s K %lld%s%s%s%s", lr_dtype_name(dts[d]),
                   (long long)B, (long long)D, (long long)L, sp[0].strided ? " strided" : "", (long long)K,
                   a.bias ? " bias" : "", a.state ? " state0" : "", a.silu ? " silu" : "",
                   a.want_state ? " +state_out" : "");
          parity(what, f_conv1d, &a, n, sp, tol_direct(dts[d]), 5000 + 10 * (uint64_t)(d * 45 + l * 9 + b * 3 + k));
        }
}

/* step by step on the GPU == the full convolution on the GPU (the same double arithmetic per
 * position; F64 to 1e-14, F32 exactly up to the last bit of exp: 1e-6) */
Test(cuda_lti, conv1d_step_equals_full, .init = pt_on_gpu) {
  lr_dtype dts[] = {F32, F64};
  const int64_t Ks[] = {1, 4, 7};
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < 3; k++) {
      lr_arena *ar = lr_arena_current();
      lr_arena_mark mk = lr_arena_get_mark(ar);
      int64_t B = 2, D = 3, L = 9, K = Ks[k];
      spec xs = {dts[d], 3, {B, D, L}, -1, 1, false, false}, ws = {dts[d], 2, {D, K}, -1, 1, false, false},
           bs = {dts[d], 1, {D}, -1, 1, false, false};
      lr_tensor *x = make(LR_DEVICE_CUDA, &xs, 1 + k), *w = make(LR_DEVICE_CUDA, &ws, 2 + k),
                *bias = make(LR_DEVICE_CUDA, &bs, 3 + k), *y, *st = NULL, *yt;
      cr_assert_eq(lr_causal_conv1d(x, w, bias, NULL, true, &y, NULL), LR_OK, "%s", lr_last_error());
      if (K > 1) cr_assert_eq(lr_zeros_on(dts[d], LR_DEVICE_CUDA, LR_SHAPE(B, D, K - 1), &st), LR_OK);
      double *yh = to_host(y);
      for (int64_t t = 0; t < L; t++) {
        lr_tensor *xt, *xtc;
        cr_assert_eq(lr_tensor_narrow(x, 2, t, 1, &xt), LR_OK);
        cr_assert_eq(lr_tensor_squeeze(xt, 2, &xtc), LR_OK);
        cr_assert_eq(lr_causal_conv1d_step(xtc, st, w, bias, true, &yt), LR_OK, "%s", lr_last_error());
        cr_assert_eq(yt->device, LR_DEVICE_CUDA);
        double *s = to_host(yt);
        for (int64_t i = 0; i < B * D; i++) {
          double full = yh[i * L + t];
          cr_assert(fabs(s[i] - full) <= (pt_single(dts[d]) ? 1e-6 : 1e-14) * fmax(1.0, fabs(full)),
                    "%s K %lld t %lld line %lld: step %.17g, full %.17g", lr_dtype_name(dts[d]), (long long)K,
                    (long long)t, (long long)i, s[i], full);
        }
        free(s);
      }
      free(yh);
      lr_arena_rewind(ar, mk);
    }
}

/* ---- S4: Cauchy, log-Vandermonde and its transpose ---- */
static lr_status f_cauchy(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_cauchy(in[0], in[1], in[2], out);
}
static lr_status f_vand(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_log_vandermonde(in[0], in[1], *(int64_t *)ctx, out);
}
static lr_status f_vand_t(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_log_vandermonde_transpose(in[0], in[1], in[2], out);
}

Test(cuda_lti, s4_kernels, .init = pt_on_gpu) {
  lr_dtype dts[] = {C64, C128};
  const int64_t Ns[] = {1, 16, 64, 300};
  for (int d = 0; d < 2; d++)
    for (int ni = 0; ni < 4; ni++)
      for (int l = 0; l < 5; l++) {
        int64_t N = Ns[ni], L = k_L[l], Bt = 1 + (ni + l) % 3;
        char what[128];
        /* poles kept away: Re z in [0.5, 1.5), Re w in [-1.5, -0.5) */
        spec cs[3] = {{dts[d], 2, {Bt, N}, -1, 1, ni == 2, true},
                      {dts[d], 1, {L}, 0.5, 1.5, false, true},
                      {dts[d], 2, {Bt, N}, -1.5, -0.5, false, true}};
        snprintf(what, sizeof what, "cauchy %s Bt %lld N %lld L %lld", lr_dtype_name(dts[d]), (long long)Bt,
                 (long long)N, (long long)L);
        parity(what, f_cauchy, NULL, 3, cs, tol_direct(dts[d]), 6000 + 10 * (uint64_t)(d * 20 + ni * 5 + l));
        /* x in [-3 / L, 0) (both parts): e^{x l} decays but not to nothing over L, and never overflows */
        double lo = -3.0 / (double)L;
        spec vs[2] = {{dts[d], 2, {Bt, N}, -1, 1, ni == 1, true}, {dts[d], 2, {1, N}, lo, 0.0, false, true}};
        snprintf(what, sizeof what, "log_vandermonde %s Bt %lld N %lld L %lld", lr_dtype_name(dts[d]),
                 (long long)Bt, (long long)N, (long long)L);
        parity(what, f_vand, &L, 2, vs, tol_direct(dts[d]), 7000 + 10 * (uint64_t)(d * 20 + ni * 5 + l));
        spec ts[3] = {{dts[d], 2, {Bt, L}, -1, 1, false, true},
                      {dts[d], 2, {Bt, N}, -1, 1, false, true},
                      {dts[d], 2, {Bt, N}, lo, 0.0, ni == 3, true}};
        snprintf(what, sizeof what, "log_vandermonde_transpose %s Bt %lld N %lld L %lld", lr_dtype_name(dts[d]),
                 (long long)Bt, (long long)N, (long long)L);
        parity(what, f_vand_t, NULL, 3, ts, tol_direct(dts[d]), 8000 + 10 * (uint64_t)(d * 20 + ni * 5 + l));
      }
}

/* ---- opt_ssm_forward (every path) and the recurrent path ---- */
typedef struct {
  lr_ssm_path path;
} ssm_args;

static lr_status f_ssm(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_opt_ssm_forward(in[0], in[1], in[2], in[3], ((ssm_args *)ctx)->path, out);
}

Test(cuda_lti, opt_ssm_forward, .init = pt_on_gpu) {
  const lr_ssm_path paths[] = {LR_SSM_FULL_KERNEL, LR_SSM_STATE_CONV, LR_SSM_FREQ, LR_SSM_AUTO};
  lr_dtype rd[] = {F32, F64}, cd[] = {C64, C128};
  for (int d = 0; d < 2; d++)
    for (int p = 0; p < 4; p++)
      for (int l = 0; l < 5; l += 2) {
        int64_t B = 2, L = k_L[l], Hin = 3, N = 4, Hout = 2;
        ssm_args a = {paths[p]};
        spec sp[4] = {{rd[d], 3, {B, L, Hin}, -1, 1, false, true},
                      {cd[d], 2, {N, L}, -0.5, 0.5, false, true},
                      {cd[d], 2, {N, Hin}, -1, 1, false, true},
                      {cd[d], 2, {Hout, N}, -1, 1, true, true}};
        char what[128];
        snprintf(what, sizeof what, "opt_ssm_forward %s path %d L %lld", lr_dtype_name(rd[d]), (int)paths[p],
                 (long long)L);
        parity(what, f_ssm, &a, 4, sp, tol_fft(rd[d]), 9000 + 10 * (uint64_t)(d * 20 + p * 5 + l));
      }
}

/* The FFT path equals the recurrent path on the GPU: y = opt_ssm_forward(x, lti_kernel(A, L),
 * B, C) and y = lti_recurrent(x, A, B, C), for every contraction order; |A| < 0.92, so the
 * kernel is well-conditioned: 2e-4 (F32, FFT error) / 1e-9 (F64) of max |y|. */
Test(cuda_lti, fft_path_equals_recurrent, .init = pt_on_gpu) {
  lr_dtype rd[] = {F32, F64}, cd[] = {C64, C128};
  const lr_ssm_path paths[] = {LR_SSM_FULL_KERNEL, LR_SSM_STATE_CONV, LR_SSM_FREQ};
  for (int d = 0; d < 2; d++)
    for (int l = 0; l < 5; l++) {
      lr_arena *ar = lr_arena_current();
      lr_arena_mark mk = lr_arena_get_mark(ar);
      int64_t B = 2, L = k_L[l], Hin = 3, N = 5, Hout = 2;
      spec xs = {rd[d], 3, {B, L, Hin}, -1, 1, false, false}, as = {cd[d], 1, {N}, -0.65, 0.65, false, false},
           bs = {cd[d], 2, {N, Hin}, -1, 1, false, false}, cs = {cd[d], 2, {Hout, N}, -1, 1, false, false};
      lr_tensor *x = make(LR_DEVICE_CUDA, &xs, 11), *A = make(LR_DEVICE_CUDA, &as, 12),
                *Bb = make(LR_DEVICE_CUDA, &bs, 13), *C = make(LR_DEVICE_CUDA, &cs, 14), *K, *yr;
      cr_assert_eq(lr_lti_recurrent(x, A, Bb, C, &yr), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_lti_kernel(A, L, &K), LR_OK, "%s", lr_last_error());
      for (int p = 0; p < 3; p++) {
        lr_tensor *yf;
        cr_assert_eq(lr_opt_ssm_forward(x, K, Bb, C, paths[p], &yf), LR_OK, "%s", lr_last_error());
        cr_assert_eq(yf->device, LR_DEVICE_CUDA);
        char what[96];
        snprintf(what, sizeof what, "%s L %lld path %d vs recurrent", lr_dtype_name(rd[d]), (long long)L, (int)paths[p]);
        compare(what, "output", yr, yf, pt_single(rd[d]) ? 2e-4 : 1e-9);
      }
      lr_arena_rewind(ar, mk);
    }
}

#else
Test(cuda_lti, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
