/* The functional ops on CUDA against the CPU (ops/functional.c, kernels/cuda/functional.cu):
 * softmax, log_softmax, cross_entropy (ignore_index, label smoothing, extra dims, all ignored,
 * a bad target), mse_loss (every reduction), layer_norm, rms_norm (with and without parameters)
 * and dropout, forward and backward, F32 and F64, at one element, odd sizes, rows shorter and
 * longer than a warp and a block, strided inputs and about 4M elements; dropout masks equal to the
 * CPU's bit for bit; lr_rand_* on CUDA tensors equal to the CPU's; determinism (two runs, same
 * bits). Gradients are those of sum(w * y) for a random w (lr_backward with grad_root = w).
 *
 * GPU machine only (tags manual, cuda): ./bazelw build //tests:test_cuda_parity_functional, then
 * ../shared/tools/gpu-bundle it and `.gpu/run test_cuda_parity_functional` there. Without a
 * usable device every test is skipped.
 *
 * Tolerances, |gpu - cpu| <= rtol * max|cpu| over the tensor (a scale-aware bound: gradients
 * such as dx of a norm are differences of O(1) terms, so an element's own size says little):
 *  - F64 rtol 1e-11: both sides compute in double with the same operations; what differs is exp
 *    and log (CUDA's libdevice vs glibc, each within about 1 ulp, 1e-16) and, in rows split over
 *    a warp or a block, the order of the row sums: for sums of up to 4096 terms of size <= 4 the
 *    rounding error is below 4096 * 2^-53 * 4 ~ 2e-12 relative to the largest value, well inside.
 *  - F32 rtol 2e-6: the double results are rounded once to float; where the double values differ
 *    in the last bits a rounding can flip, which is one float ulp (6e-8 relative) of an element,
 *    so 2e-6 of the largest element leaves a wide margin while any indexing error (O(1)) fails.
 *  - bitwise where the GPU runs the CPU's exact operation sequence: mse (none, its backward),
 *    dropout (forward, mask, backward), the norms with rows of H <= 32 (one thread per row, no
 *    transcendental function, -fmad=false, correctly rounded sqrt and division), and the norms'
 *    parameter gradients for rows <= 64 of H <= 32 (one chunk of rows summed in the CPU's order,
 *    with the bitwise-equal mean and rstd of the forward).
 *  - cross entropy's scalar loss (a mean over rows in another order): rtol as above on the value.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

static const lr_dtype k_dts[] = {LR_DTYPE_F32, LR_DTYPE_F64};

static double rtol_of(lr_dtype dt) { return dt == LR_DTYPE_F32 ? 2e-6 : 1e-11; }

/* ---- inputs on both devices ---- */

typedef struct {
  lr_tensor *c, *g; /* the same values on the CPU and on the GPU */
} pair;

/* A random pair, values uniform in [lo, hi). strided: stored with its last two dims swapped and
 * viewed back (a non-contiguous leaf on both sides). grad: requires_grad leaves. */
static pair mk(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed, bool strided, bool grad) {
  int64_t st[LR_MAX_DIMS];
  for (int i = 0; i < ndim; i++) st[i] = shape[i];
  strided = strided && ndim >= 2;
  if (strided) {
    st[ndim - 1] = shape[ndim - 2];
    st[ndim - 2] = shape[ndim - 1];
  }
  lr_tensor *bc, *bg;
  cr_assert_eq(lr_empty_on(dt, LR_DEVICE_CPU, ndim, st, &bc), LR_OK, "%s", lr_last_error());
  lr_rng r;
  lr_rng_init(&r, seed);
  cr_assert_eq(lr_rand_uniform_(bc, lo, hi, &r), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_empty_on(dt, LR_DEVICE_CUDA, ndim, st, &bg), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_tensor_copy_(bg, bc), LR_OK, "%s", lr_last_error());
  pair p = {bc, bg};
  if (strided) {
    cr_assert_eq(lr_tensor_transpose(bc, -1, -2, &p.c), LR_OK);
    cr_assert_eq(lr_tensor_transpose(bg, -1, -2, &p.g), LR_OK);
    p.c->base = p.g->base = NULL; /* leaves of their own */
  }
  p.c->requires_grad = p.g->requires_grad = grad;
  return p;
}

/* A tensor of the GPU back on the host (contiguous, malloc'ed). */
static void *host_copy(const lr_tensor *g) {
  size_t bytes = lr_nbytes(g);
  void *h = malloc(bytes ? bytes : 1);
  cr_assert_not_null(h);
  cr_assert(lr_is_contiguous(g));
  cr_assert_eq(lr_tensor_copy_to_host(g, h, bytes), LR_OK, "%s", lr_last_error());
  return h;
}

static double elt(lr_dtype dt, const void *p, int64_t i) {
  return dt == LR_DTYPE_F32 ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* cpu vs gpu, both contiguous: bitwise when exact, else within rtol * max|cpu|. NaN must meet NaN. */
static void check(const char *what, const lr_tensor *c, const lr_tensor *g, double rtol, bool exact) {
  cr_assert_not_null(c, "%s: no cpu tensor", what);
  cr_assert_not_null(g, "%s: no gpu tensor", what);
  cr_assert_eq(g->device, LR_DEVICE_CUDA, "%s: result is not on the GPU", what);
  cr_assert(lr_same_shape(c, g) && c->dtype == g->dtype, "%s: shapes or dtypes differ", what);
  lr_tensor *cc;
  cr_assert_eq(lr_tensor_contiguous_raw(c, &cc), LR_OK);
  void *h = host_copy(g);
  int64_t n = lr_numel(c);
  lr_dtype dt = c->dtype;
  if (exact) {
    if (memcmp(h, cc->data, lr_nbytes(c)) != 0) {
      int64_t i = 0;
      while (i < n && memcmp((char *)h + i * lr_dtype_size(dt), (char *)cc->data + i * lr_dtype_size(dt),
                             lr_dtype_size(dt)) == 0)
        i++;
      cr_assert_fail("%s %s: element %lld: gpu %.17g, cpu %.17g (must be bitwise equal)", what, lr_dtype_name(dt),
                     (long long)i, elt(dt, h, i), elt(dt, cc->data, i));
    }
  } else {
    double mx = 0;
    for (int64_t i = 0; i < n; i++) {
      double v = fabs(elt(dt, cc->data, i));
      if (isfinite(v) && v > mx) mx = v;
    }
    double tol = rtol * (mx > 0 ? mx : 1.0);
    for (int64_t i = 0; i < n; i++) {
      double a = elt(dt, h, i), b = elt(dt, cc->data, i);
      if (isnan(a) && isnan(b)) continue;
      if (!(fabs(a - b) <= tol))
        cr_assert_fail("%s %s: element %lld of %lld: gpu %.17g, cpu %.17g, tol %.3g", what, lr_dtype_name(dt),
                       (long long)i, (long long)n, a, b, tol);
    }
  }
  free(h);
}

/* Two GPU tensors with the same bits. */
static void same_bits(const char *what, const lr_tensor *a, const lr_tensor *b) {
  void *ha = host_copy(a), *hb = host_copy(b);
  cr_assert_eq(memcmp(ha, hb, lr_nbytes(a)), 0, "%s: two GPU runs differ", what);
  free(ha);
  free(hb);
}

/* ---- the generic parity run: forward, backward from a random w, compare ---- */

typedef lr_status (*fwd_fn)(void *ctx, lr_tensor *const *in, lr_tensor **out);

typedef struct {
  double rtol;
  bool exact_out, exact_grad; /* bitwise forward / input gradients */
  bool exact_wgrad;           /* bitwise gradients of inputs 1.. (norm parameters) */
} tolspec;

static void parity(const char *what, fwd_fn f, void *ctx_c, void *ctx_g, int n, pair *in, tolspec t, uint64_t seed) {
  lr_tensor *inc[4], *ing[4], *yc, *yg;
  for (int i = 0; i < n; i++) {
    inc[i] = in[i].c;
    ing[i] = in[i].g;
  }
  cr_assert_eq(f(ctx_c, inc, &yc), LR_OK, "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(f(ctx_g, ing, &yg), LR_OK, "%s gpu: %s", what, lr_last_error());
  char w[200];
  snprintf(w, sizeof w, "%s: y", what);
  check(w, yc, yg, t.rtol, t.exact_out);
  if (!yc->requires_grad) return;
  pair gr = mk(yc->dtype, yc->ndim, yc->shape, -1, 1, seed, false, false);
  cr_assert_eq(lr_backward(yc, gr.c), LR_OK, "%s cpu backward: %s", what, lr_last_error());
  cr_assert_eq(lr_backward(yg, gr.g), LR_OK, "%s gpu backward: %s", what, lr_last_error());
  for (int i = 0; i < n; i++) {
    if (!inc[i] || !inc[i]->requires_grad) continue;
    snprintf(w, sizeof w, "%s: grad of input %d", what, i);
    check(w, inc[i]->grad, ing[i]->grad, t.rtol, i == 0 ? t.exact_grad : t.exact_wgrad);
  }
}

#define SH(...) (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (int64_t[]){__VA_ARGS__}

static lr_arena_mark mark(void) { return lr_arena_get_mark(lr_arena_current()); }
static void rewind_to(lr_arena_mark m) { lr_arena_rewind(lr_arena_current(), m); }

/* ---- softmax / log_softmax ---- */

typedef struct {
  int dim;
  bool lg;
} sm_ctx;

static lr_status f_softmax(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  sm_ctx *c = ctx;
  return c->lg ? lr_log_softmax(in[0], c->dim, out) : lr_softmax(in[0], c->dim, out);
}

static void softmax_case(lr_dtype dt, int ndim, const int64_t *shape, int dim, bool strided, uint64_t seed) {
  for (int lg = 0; lg < 2; lg++) {
    lr_arena_mark m = mark();
    sm_ctx c = {dim, lg};
    pair x = mk(dt, ndim, shape, -4, 4, seed, strided, true);
    char w[160], sh[100];
    snprintf(w, sizeof w, "%s %s dim %d%s", lg ? "log_softmax" : "softmax", lr_shape_str(ndim, shape, sh, sizeof sh),
             dim, strided ? " strided" : "");
    parity(w, f_softmax, &c, &c, 1, &x, (tolspec){rtol_of(dt), false, false, false}, seed + 1);
    rewind_to(m);
  }
}

Test(cuda_functional, softmax, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = k_dts[d];
    softmax_case(dt, SH(1), 0, false, 1);              /* one element */
    softmax_case(dt, SH(7, 5), -1, false, 2);          /* thread per row */
    softmax_case(dt, SH(13, 33), -1, false, 3);        /* warp per row, odd */
    softmax_case(dt, SH(5, 1025), 1, false, 4);        /* block per row, just past a warp's limit */
    softmax_case(dt, SH(3, 4099), -1, false, 5);       /* block per row, not a multiple of 256 */
    softmax_case(dt, SH(6, 37, 9), 1, false, 6);       /* middle dim: strided rows */
    softmax_case(dt, SH(2, 1, 4), 1, false, 7);        /* size-1 dim */
    softmax_case(dt, SH(33, 65), -1, true, 8);         /* strided input */
    softmax_case(dt, SH(65, 33), 0, true, 9);          /* strided input along dim 0 */
    softmax_case(dt, SH(2048, 2049), -1, false, 10);   /* 4M, block per row */
    softmax_case(dt, SH(4, 1 << 20), 0, false, 11);    /* 4M, short strided rows */
    softmax_case(dt, SH(1 << 17, 31), -1, false, 12);  /* 4M, many short rows */
  }
}

/* rows of -inf: NaN on both sides (0/0), as PyTorch */
Test(cuda_functional, softmax_all_neg_inf, .init = pt_on_gpu) {
  pair x = mk(LR_DTYPE_F32, SH(3, 40), -1, 1, 1, false, false);
  for (int i = 40; i < 80; i++) {
    lr_tensor_set(x.c, i, -INFINITY, 0);
    lr_tensor_set(x.g, i, -INFINITY, 0);
  }
  sm_ctx c = {-1, false};
  parity("softmax -inf row", f_softmax, &c, &c, 1, &x, (tolspec){2e-6, false, false, false}, 2);
}

/* ---- cross entropy ---- */

typedef struct {
  lr_tensor *t;
  int64_t ignore;
  double ls;
} ce_ctx;

static lr_status f_ce(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  ce_ctx *c = ctx;
  return lr_cross_entropy(in[0], c->t, c->ignore, c->ls, out);
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Targets (N, d...) in [0, C), each ignored with probability p_ignore; on both devices. */
static pair targets(int ndim, const int64_t *shape, int64_t C, int64_t ignore, double p_ignore, uint64_t seed) {
  lr_tensor *tc, *tg;
  cr_assert_eq(lr_empty_on(LR_DTYPE_I64, LR_DEVICE_CPU, ndim, shape, &tc), LR_OK);
  int64_t n = lr_numel(tc), *t = tc->data;
  for (int64_t i = 0; i < n; i++) {
    double u = (double)(splitmix(&seed) >> 11) * 0x1p-53;
    t[i] = u < p_ignore ? ignore : (int64_t)(splitmix(&seed) % (uint64_t)C);
  }
  cr_assert_eq(lr_empty_on(LR_DTYPE_I64, LR_DEVICE_CUDA, ndim, shape, &tg), LR_OK);
  cr_assert_eq(lr_tensor_copy_(tg, tc), LR_OK);
  return (pair){tc, tg};
}

static void ce_case(lr_dtype dt, int ndim, const int64_t *shape, double ls, double p_ignore, bool strided, uint64_t seed) {
  lr_arena_mark m = mark();
  int64_t tsh[LR_MAX_DIMS], C = shape[1];
  tsh[0] = shape[0];
  for (int i = 2; i < ndim; i++) tsh[i - 1] = shape[i];
  pair t = targets(ndim - 1, tsh, C, -100, p_ignore, seed);
  ce_ctx cc = {t.c, -100, ls}, cg = {t.g, -100, ls};
  pair x = mk(dt, ndim, shape, -3, 3, seed + 1, strided, true);
  char w[160], sh[100];
  snprintf(w, sizeof w, "cross_entropy %s ls %g ignore %g%s", lr_shape_str(ndim, shape, sh, sizeof sh), ls, p_ignore,
           strided ? " strided" : "");
  parity(w, f_ce, &cc, &cg, 1, &x, (tolspec){rtol_of(dt), false, false, false}, seed + 2);
  rewind_to(m);
}

Test(cuda_functional, cross_entropy, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = k_dts[d];
    ce_case(dt, SH(1, 1), 0.0, 0.0, false, 1);             /* one element */
    ce_case(dt, SH(37, 5), 0.1, 0.2, false, 2);            /* thread per row */
    ce_case(dt, SH(64, 33), 0.0, 0.3, false, 3);           /* warp per row */
    ce_case(dt, SH(3, 2001), 0.25, 0.0, false, 4);         /* block per row */
    ce_case(dt, SH(4, 7, 33), 0.1, 0.2, false, 5);         /* extra dim: strided rows */
    ce_case(dt, SH(2, 5, 3, 4), 0.0, 0.1, true, 6);        /* extra dims, strided input */
    ce_case(dt, SH(33, 65), 1.0, 0.1, true, 7);            /* full smoothing, strided */
    ce_case(dt, SH(4096, 1025), 0.1, 0.05, false, 8);      /* 4M, block per row */
    ce_case(dt, SH(1 << 19, 8), 0.0, 0.1, false, 9);       /* 4M, 512K rows: multi-block mean */
    ce_case(dt, SH(64, 16, 4096), 0.1, 0.1, false, 10);    /* 4M, (N, C, S) */
  }
}

/* Every target ignored: NaN loss on both devices, zero gradient. */
Test(cuda_functional, cross_entropy_all_ignored, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) ce_case(k_dts[d], SH(6, 4), 0.1, 1.0, false, 20);
}

/* A bad target on the GPU: the CPU's status and message, word for word. */
Test(cuda_functional, cross_entropy_bad_target, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) {
    pair t = targets(SH(300), 7, -100, 0.1, 30);
    int64_t bad = 9, pos = 123;
    ((int64_t *)t.c->data)[pos] = bad;
    ((int64_t *)t.c->data)[250] = -1; /* a later one: the first is reported */
    cr_assert_eq(lr_tensor_copy_(t.g, t.c), LR_OK);
    pair x = mk(k_dts[d], SH(300, 7), -1, 1, 31, false, true);
    lr_tensor *y;
    cr_assert_eq(lr_cross_entropy(x.c, t.c, -100, 0.0, &y), LR_ERR_ARG);
    char want[512];
    snprintf(want, sizeof want, "%s", lr_last_error());
    cr_assert(strstr(want, "target 9 at position 123"), "%s", want);
    cr_assert_eq(lr_cross_entropy(x.g, t.g, -100, 0.0, &y), LR_ERR_ARG);
    cr_assert_str_eq(lr_last_error(), want);
  }
}

/* ---- mse ---- */

static lr_status f_mse(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_mse_loss(in[0], in[1], *(lr_reduction *)ctx, out);
}

static void mse_case(lr_dtype dt, int ndim, const int64_t *shape, bool strided, uint64_t seed) {
  for (lr_reduction red = LR_REDUCE_MEAN; red <= LR_REDUCE_NONE; red++) {
    lr_arena_mark m = mark();
    pair in[2] = {mk(dt, ndim, shape, -2, 2, seed, strided, true), mk(dt, ndim, shape, -2, 2, seed + 1, false, true)};
    char w[160], sh[100];
    snprintf(w, sizeof w, "mse %s red %d%s", lr_shape_str(ndim, shape, sh, sizeof sh), (int)red,
             strided ? " strided" : "");
    /* none: one IEEE expression per element on both sides; sum/mean: the sum's order differs */
    bool none = red == LR_REDUCE_NONE;
    parity(w, f_mse, &red, &red, 2, in, (tolspec){rtol_of(dt), none, true, true}, seed + 2);
    rewind_to(m);
  }
}

Test(cuda_functional, mse, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = k_dts[d];
    mse_case(dt, SH(1), false, 1);
    mse_case(dt, SH(777), false, 2);
    mse_case(dt, SH(33, 65), true, 3);
    mse_case(dt, SH((1 << 22) + 1), false, 4);
  }
}

/* mean over zero elements: NaN on both */
Test(cuda_functional, mse_empty, .init = pt_on_gpu) {
  lr_reduction red = LR_REDUCE_MEAN;
  pair in[2] = {mk(LR_DTYPE_F64, SH(0, 3), -1, 1, 1, false, true), mk(LR_DTYPE_F64, SH(0, 3), -1, 1, 2, false, false)};
  lr_tensor *yg;
  cr_assert_eq(lr_mse_loss(in[0].g, in[1].g, red, &yg), LR_OK, "%s", lr_last_error());
  cr_assert(isnan(lr_tensor_get(yg, 0)));
}

/* ---- layer norm / RMS norm ---- */

typedef struct {
  bool rms;
} nm_ctx;

static lr_status f_norm(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  nm_ctx *c = ctx;
  return c->rms ? lr_rms_norm(in[0], in[1], 1e-5, out) : lr_layer_norm(in[0], in[1], in[2], 1e-5, out);
}

static void norm_case(lr_dtype dt, bool rms, int ndim, const int64_t *shape, int params, bool strided, uint64_t seed) {
  lr_arena_mark m = mark();
  int64_t H = shape[ndim - 1], rows = 1;
  for (int i = 0; i < ndim - 1; i++) rows *= shape[i];
  pair in[3] = {mk(dt, ndim, shape, -2, 3, seed, strided, true), {NULL, NULL}, {NULL, NULL}};
  if (params >= 1) in[1] = mk(dt, SH(H), 0.5, 1.5, seed + 1, false, true);
  if (params >= 2 && !rms) in[2] = mk(dt, SH(H), -1, 1, seed + 2, false, true);
  nm_ctx c = {rms};
  char w[160], sh[100];
  snprintf(w, sizeof w, "%s %s params %d%s", rms ? "rms_norm" : "layer_norm", lr_shape_str(ndim, shape, sh, sizeof sh),
           params, strided ? " strided" : "");
  bool thread_rows = H <= 32; /* one thread per row: the CPU's order */
  parity(w, f_norm, &c, &c, rms ? 2 : 3, in, (tolspec){rtol_of(dt), thread_rows, thread_rows, thread_rows && rows <= 64}, seed + 3);
  rewind_to(m);
}

static void norm_cases(bool rms) {
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = k_dts[d];
    for (int params = 0; params <= 2; params++) {
      uint64_t s = 100 * params + 10 * d + (rms ? 1000 : 0);
      norm_case(dt, rms, SH(1), params, false, s + 1);              /* one element */
      norm_case(dt, rms, SH(5, 7), params, false, s + 2);           /* thread per row: bitwise */
      norm_case(dt, rms, SH(2, 3, 32), params, false, s + 3);       /* thread per row, H = 32 */
      norm_case(dt, rms, SH(33, 100), params, false, s + 4);        /* warp per row */
      norm_case(dt, rms, SH(3, 1500), params, false, s + 5);        /* block per row */
      norm_case(dt, rms, SH(65, 33), params, true, s + 6);          /* strided; two row chunks */
      norm_case(dt, rms, SH(1000, 3), params, false, s + 7);        /* many chunks of rows */
    }
    norm_case(dt, rms, SH(4096, 1024), 2, false, 10 * d + 7);     /* 4M, warp per row */
    norm_case(dt, rms, SH(1024, 4099), 1, false, 10 * d + 8);     /* 4M, block per row */
    norm_case(dt, rms, SH(1 << 20, 4), 2, false, 10 * d + 9);     /* 4M, thread per row, 4096 chunks */
  }
}

Test(cuda_functional, layer_norm, .init = pt_on_gpu) { norm_cases(false); }
Test(cuda_functional, rms_norm, .init = pt_on_gpu) { norm_cases(true); }

/* ---- dropout ---- */

/* Dropout of the same x with the same rng state on both devices: y, the gradient and the rng's
 * offset afterwards are bitwise equal (one IEEE product chain per element, the same mask). */
static void dropout_case(lr_dtype dt, int ndim, const int64_t *shape, double p, uint64_t pre_draws, bool strided,
                         uint64_t seed) {
  lr_arena_mark m = mark();
  pair x = mk(dt, ndim, shape, -1, 1, seed, strided, true);
  lr_rng rc, rg;
  lr_rng_init(&rc, seed * 7 + 3);
  rc.offset = pre_draws; /* a start that is not a Philox block boundary when pre_draws % 4 != 0 */
  rg = rc;
  lr_tensor *yc, *yg;
  cr_assert_eq(lr_dropout(x.c, p, true, &rc, &yc), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_dropout(x.g, p, true, &rg, &yg), LR_OK, "%s", lr_last_error());
  cr_assert_eq(rc.offset, rg.offset, "rng offsets differ: cpu %llu, gpu %llu", (unsigned long long)rc.offset,
               (unsigned long long)rg.offset);
  char w[160], sh[100];
  snprintf(w, sizeof w, "dropout %s p %g from %llu", lr_shape_str(ndim, shape, sh, sizeof sh), p,
           (unsigned long long)pre_draws);
  check(w, yc, yg, 0, true);
  if (yc != x.c) {
    pair gr = mk(dt, ndim, shape, -1, 1, seed + 1, false, false);
    cr_assert_eq(lr_backward(yc, gr.c), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_backward(yg, gr.g), LR_OK, "%s", lr_last_error());
    check(w, x.c->grad, x.g->grad, 0, true);
  } else {
    cr_assert_eq(yg, x.g, "%s: identity on the CPU but not on the GPU", w);
  }
  rewind_to(m);
}

Test(cuda_functional, dropout, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = k_dts[d];
    dropout_case(dt, SH(1), 0.5, 0, false, 1);
    dropout_case(dt, SH(5), 0.3, 3, false, 2);
    dropout_case(dt, SH(1023), 0.3, 1, false, 3);
    dropout_case(dt, SH(33, 65), 0.7, 6, true, 4);
    dropout_case(dt, SH((1 << 22) + 3), 0.1, 5, false, 5);
    dropout_case(dt, SH(17, 9), 1.0, 2, false, 6); /* zeros, no draws */
    dropout_case(dt, SH(17, 9), 0.0, 2, false, 7); /* identity, no draws */
  }
}

/* The mask itself: the GPU's dropout keeps exactly the elements where lr_rand_bernoulli_ on the
 * CPU (same rng state) draws 1. x = 1 everywhere, so y = mask / (1 - p). */
Test(cuda_functional, dropout_mask_is_bernoulli, .init = pt_on_gpu) {
  int64_t n = 100003;
  double p = 0.37;
  lr_tensor *xg, *yg, *mask;
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, 1, &n, &xg), LR_OK);
  cr_assert_eq(lr_tensor_fill_(xg, 1.0), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CPU, 1, &n, &mask), LR_OK);
  lr_rng r1, r2;
  lr_rng_init(&r1, 2024);
  r1.offset = 11;
  r2 = r1;
  cr_assert_eq(lr_dropout(xg, p, true, &r1, &yg), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_rand_bernoulli_(mask, 1.0 - p, &r2), LR_OK);
  cr_assert_eq(r1.offset, r2.offset);
  float *h = host_copy(yg);
  const float *mk_ = mask->data;
  int64_t kept = 0;
  for (int64_t i = 0; i < n; i++) {
    cr_assert_eq(h[i] != 0.0f, mk_[i] != 0.0f, "element %lld: gpu %g, cpu mask %g", (long long)i, h[i], mk_[i]);
    kept += mk_[i] != 0.0f;
  }
  /* and the mask is a plausible Bernoulli(0.63): 5 standard deviations */
  double mean = (1 - p) * n, sd = sqrt(n * p * (1 - p));
  cr_assert(fabs((double)kept - mean) < 5 * sd, "kept %lld of %lld", (long long)kept, (long long)n);
  free(h);
}

/* lr_rand_* on CUDA tensors: the same stream as on the CPU, bit for bit. */
Test(cuda_functional, rand_on_cuda, .init = pt_on_gpu) {
  const lr_dtype dts[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};
  for (int d = 0; d < 4; d++) {
    for (int kind = 0; kind < 3; kind++) {
      if (kind == 2 && d >= 2) continue; /* bernoulli: real and bool only */
      int64_t n = 4099;
      lr_tensor *c, *g;
      cr_assert_eq(lr_empty_on(dts[d], LR_DEVICE_CPU, 1, &n, &c), LR_OK);
      cr_assert_eq(lr_empty_on(dts[d], LR_DEVICE_CUDA, 1, &n, &g), LR_OK);
      lr_rng a, b;
      lr_rng_init(&a, 99 + d);
      a.offset = 5;
      b = a;
      if (kind == 0) {
        cr_assert_eq(lr_rand_uniform_(c, -2, 3, &a), LR_OK);
        cr_assert_eq(lr_rand_uniform_(g, -2, 3, &b), LR_OK);
      } else if (kind == 1) {
        cr_assert_eq(lr_rand_normal_(c, 1, 2, &a), LR_OK);
        cr_assert_eq(lr_rand_normal_(g, 1, 2, &b), LR_OK);
      } else {
        cr_assert_eq(lr_rand_bernoulli_(c, 0.3, &a), LR_OK);
        cr_assert_eq(lr_rand_bernoulli_(g, 0.3, &b), LR_OK);
      }
      cr_assert_eq(a.offset, b.offset);
      void *h = host_copy(g);
      cr_assert_eq(memcmp(h, c->data, lr_nbytes(c)), 0, "%s kind %d differs", lr_dtype_name(dts[d]), kind);
      free(h);
    }
  }
  int64_t n = 1001;
  lr_tensor *c, *g;
  cr_assert_eq(lr_empty_on(LR_DTYPE_I64, LR_DEVICE_CPU, 1, &n, &c), LR_OK);
  cr_assert_eq(lr_empty_on(LR_DTYPE_I64, LR_DEVICE_CUDA, 1, &n, &g), LR_OK);
  lr_rng a, b;
  lr_rng_init(&a, 5);
  b = a;
  cr_assert_eq(lr_rand_int_(c, -7, 1000, &a), LR_OK);
  cr_assert_eq(lr_rand_int_(g, -7, 1000, &b), LR_OK);
  void *h = host_copy(g);
  cr_assert_eq(memcmp(h, c->data, lr_nbytes(c)), 0, "rand_int differs");
  free(h);
}

/* ---- determinism: each op twice on the GPU, same bits (outputs and gradients) ---- */

static void twice(const char *what, fwd_fn f, void *ctx, int n, pair *in, uint64_t seed) {
  lr_tensor *ing[4], *y1 = NULL, *y2 = NULL, *g1[4] = {0};
  for (int i = 0; i < n; i++) ing[i] = in[i].g;
  pair gr = {NULL, NULL};
  for (int rep = 0; rep < 2; rep++) {
    for (int i = 0; i < n; i++)
      if (ing[i]) cr_assert_eq(lr_zero_grad(ing[i]), LR_OK);
    lr_tensor *y;
    cr_assert_eq(f(ctx, ing, &y), LR_OK, "%s: %s", what, lr_last_error());
    if (!gr.g) gr = mk(y->dtype, y->ndim, y->shape, -1, 1, seed, false, false);
    cr_assert_eq(lr_backward(y, gr.g), LR_OK, "%s: %s", what, lr_last_error());
    if (rep == 0) {
      y1 = y;
      for (int i = 0; i < n; i++) /* keep the first run's gradients */
        if (ing[i] && ing[i]->grad) {
          cr_assert_eq(lr_empty_like(ing[i]->grad, &g1[i]), LR_OK);
          cr_assert_eq(lr_tensor_copy_(g1[i], ing[i]->grad), LR_OK);
        }
    } else {
      y2 = y;
    }
  }
  same_bits(what, y1, y2);
  for (int i = 0; i < n; i++)
    if (g1[i]) same_bits(what, g1[i], ing[i]->grad);
}

Test(cuda_functional, deterministic, .init = pt_on_gpu) {
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = k_dts[d];
    sm_ctx sc = {-1, false};
    pair x = mk(dt, SH(512, 8193), -4, 4, 1, false, true);
    twice("softmax 4M", f_softmax, &sc, 1, &x, 2);
    pair t = targets(SH(1 << 19), 8, -100, 0.1, 3);
    ce_ctx cc = {t.g, -100, 0.1};
    pair xl = mk(dt, SH(1 << 19, 8), -3, 3, 4, false, true);
    twice("cross_entropy 512K rows", f_ce, &cc, 1, &xl, 5);
    nm_ctx nc = {false};
    pair in[3] = {mk(dt, SH(4096, 1024), -2, 3, 6, false, true), mk(dt, SH(1024), 0.5, 1.5, 7, false, true),
                  mk(dt, SH(1024), -1, 1, 8, false, true)};
    twice("layer_norm 4M", f_norm, &nc, 3, in, 9);
    lr_reduction red = LR_REDUCE_SUM;
    pair mi[2] = {mk(dt, SH((1 << 22) + 1), -2, 2, 10, false, true), mk(dt, SH((1 << 22) + 1), -2, 2, 11, false, true)};
    twice("mse sum 4M", f_mse, &red, 2, mi, 12);
  }
}

#else
Test(cuda_functional, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
