/* Reductions on CUDA (sum, mean, var, max, min) against the CPU, forward and backward, on a GPU.
 *
 * Each case makes the same random input on both devices (optionally a transposed view, so the
 * reduced or the kept dim is strided), reduces it, runs lr_backward with the same random output
 * gradient, and compares. The shapes reach every kernel layout of kernels/cuda/reduce.cu: one
 * thread, a warp or a block per output, the column layout (unit-stride kept dim), chunked sums
 * with partials in scratch (few outputs over millions of elements), two runs of reduced dims,
 * nothing reduced (a size-1 dim), empty reductions; 1 element, odd sizes, about 4M elements.
 *
 * Tolerances, with the reason:
 *  - integer-valued inputs: sums bitwise equal (every partial sum is exact in double, so the order
 *    cannot matter; catches any indexing error);
 *  - sum / mean of random data: |gpu - cpu| <= 2 r 2^-53 B (+ one float ulp of the result for
 *    F32 / C64), B = scale * sum |x| over the output's r elements: both sides add in double, and
 *    any order of r double additions is off by at most r 2^-53 B; F32 rounds the double result
 *    once, which can land one ulp apart;
 *  - var: the same reasoning on the squared deviations, plus the mean (the center), which can
 *    itself be one ulp apart: 2^-21 relative for F32, 4 r 2^-53 relative for F64;
 *  - max / min values and indices, and every backward except var's: bitwise (values are copied,
 *    the combine picks exactly the CPU's first extreme; dx += scale * g rounds as the CPU does);
 *  - var backward: (x - mean) inherits the mean's ulp: 2^-20 (F32) / 2^-48 (F64) of max |dx|.
 * Determinism: chunked sums and arg-extremes run twice give the same bits.
 *
 * Tagged "manual" and "cuda": build here, run on the GPU machine (see test_cuda_parity.c).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

static const lr_dtype k_dtypes[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};

typedef enum { OP_SUM, OP_MEAN, OP_VAR, OP_MAX, OP_MIN } red_op;
static const char *k_op[] = {"sum", "mean", "var", "max", "min"};

typedef struct {
  int nd;
  int64_t s[LR_MAX_DIMS];
} shp;
#define S(...) ((shp){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}})

typedef struct {
  int n;
  int d[4];
} dims_t;
#define D(...) ((dims_t){(int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)), {__VA_ARGS__}})
#define ALL ((dims_t){0, {0}})

static lr_status run_op(red_op op, lr_tensor *x, dims_t d, bool keep, int corr, lr_tensor **y, lr_tensor **idx) {
  const int *dp = d.n ? d.d : NULL;
  switch (op) {
    case OP_SUM: return lr_sum(x, d.n, dp, keep, y);
    case OP_MEAN: return lr_mean(x, d.n, dp, keep, y);
    case OP_VAR: return lr_var(x, d.n, dp, corr, keep, y);
    case OP_MAX: return lr_max(x, d.d[0], keep, y, idx);
    default: return lr_min(x, d.d[0], keep, y, idx);
  }
}

/* Elements per output of the reduction (for the tolerances). */
static int64_t red_count(const shp *s, red_op op, dims_t d) {
  if (s->nd == 0) return 1;
  if (op == OP_MAX || op == OP_MIN) return s->s[(d.d[0] + s->nd) % s->nd];
  if (d.n == 0) return pt_numel(s->nd, s->s);
  int64_t r = 1;
  for (int i = 0; i < d.n; i++) r *= s->s[(d.d[i] + s->nd) % s->nd];
  return r;
}

static bool same(double a, double b) { return a == b || (isnan(a) && isnan(b)); }

/* One case: forward (and backward unless the output is empty) on both devices, compared with the
 * tolerances at the top of the file. nan_at >= 0 puts a NaN at that element (max / min). */
static void check_red(red_op op, lr_dtype dt, shp s, bool tr, dims_t d, bool keep, int corr, bool integer,
                      int64_t nan_at, uint64_t seed) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(ar);
  char what[256], sh[96];
  snprintf(what, sizeof what, "%s %s x %s%s dims(%d: %d %d %d)%s%s", k_op[op], lr_dtype_name(dt),
           lr_shape_str(s.nd, s.s, sh, 96), tr ? "^T-view" : "", d.n, d.d[0], d.d[1], d.d[2], keep ? " keepdim" : "",
           integer ? " integers" : "");
  int64_t n = pt_numel(s.nd, s.s);
  double *comp = pt_rand_comp(dt, n, seed, integer);
  if (nan_at >= 0 && nan_at < n) comp[nan_at] = NAN;
  lr_tensor *xc = pt_leaf(LR_DEVICE_CPU, dt, s.nd, s.s, comp, tr, false);
  lr_tensor *xg = pt_leaf(LR_DEVICE_CUDA, dt, s.nd, s.s, comp, tr, false);
  lr_tensor *xa = pt_leaf(LR_DEVICE_CPU, dt, s.nd, s.s, comp, false, true);
  free(comp);
  lr_tensor *yc, *yg, *ya = NULL, *ic = NULL, *ig = NULL;
  cr_assert_eq(run_op(op, xc, d, keep, corr, &yc, &ic), LR_OK, "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(run_op(op, xg, d, keep, corr, &yg, &ig), LR_OK, "%s gpu: %s", what, lr_last_error());
  if (op == OP_SUM || op == OP_MEAN) cr_assert_eq(run_op(op, xa, d, keep, corr, &ya, NULL), LR_OK);
  cr_assert_eq(yg->device, LR_DEVICE_CUDA);
  cr_assert(lr_same_shape(yc, yg), "%s: shapes differ", what);
  int nc = pt_ncomp(dt);
  int64_t m = lr_numel(yc), r = red_count(&s, op, d);
  double *c = pt_to_host(yc), *g = pt_to_host(yg), *b = ya ? pt_to_host(ya) : NULL;
  for (int64_t i = 0; i < m * nc; i++) {
    double tol;
    bool exact = integer || op == OP_MAX || op == OP_MIN;
    if (exact) tol = 0;
    else if (op == OP_VAR) tol = (pt_single(dt) ? 0x1.0p-21 : 4.0 * (double)r * 0x1.0p-53) * fabs(c[i]);
    else tol = 2.0 * (double)r * 0x1.0p-53 * b[i / nc] + (pt_single(dt) ? 0x1.0p-23 * fabs(c[i]) : 0.0);
    if (exact ? !same(g[i], c[i]) : !(fabs(g[i] - c[i]) <= tol) && !same(g[i], c[i]))
      cr_assert_fail("%s: output component %lld: gpu %.17g, cpu %.17g, tol %.3g", what, (long long)i, g[i], c[i], tol);
  }
  if (ic) {
    double *jc = pt_to_host(ic), *jg = pt_to_host(ig);
    for (int64_t i = 0; i < m; i++)
      if (jc[i] != jg[i])
        cr_assert_fail("%s: index %lld: gpu %.0f, cpu %.0f", what, (long long)i, jg[i], jc[i]);
    free(jc);
    free(jg);
  }
  free(c);
  free(g);
  free(b);
  if (m > 0 && n > 0 && nan_at < 0) {
    double *w = pt_rand_comp(dt, m, seed + 5, false);
    lr_tensor *wc = pt_leaf(LR_DEVICE_CPU, dt, yc->ndim, yc->shape, w, false, false);
    lr_tensor *wg = pt_leaf(LR_DEVICE_CUDA, dt, yc->ndim, yc->shape, w, false, false);
    free(w);
    cr_assert_eq(lr_backward(yc, wc), LR_OK, "%s cpu backward: %s", what, lr_last_error());
    cr_assert_eq(lr_backward(yg, wg), LR_OK, "%s gpu backward: %s", what, lr_last_error());
    cr_assert_not_null(xg->grad, "%s: no GPU gradient", what);
    double *dc = pt_to_host(xc->grad), *dg = pt_to_host(xg->grad);
    double dmax = 0;
    for (int64_t i = 0; i < n * nc; i++) dmax = fmax(dmax, fabs(dc[i]));
    double tol = op == OP_VAR ? (pt_single(dt) ? 0x1.0p-20 : 0x1.0p-48) * dmax : 0.0;
    for (int64_t i = 0; i < n * nc; i++)
      if (!(fabs(dg[i] - dc[i]) <= tol))
        cr_assert_fail("%s: grad component %lld: gpu %.17g, cpu %.17g, tol %.3g", what, (long long)i, dg[i], dc[i],
                       tol);
    free(dc);
    free(dg);
  }
  lr_arena_rewind(ar, mk);
}

/* sum and mean over the layouts of reduce.cu, for every dtype */
static void sum_mean_cases(red_op op, bool integer, bool large) {
  for (int k = 0; k < 4; k++) {
    lr_dtype dt = k_dtypes[k];
    uint64_t s = 100 * (uint64_t)k + (uint64_t)op * 10 + integer;
    if (!large) {
      check_red(op, dt, S(1), false, ALL, false, 0, integer, -1, s + 1);               /* one element */
      check_red(op, dt, S(17), false, ALL, true, 0, integer, -1, s + 2);               /* warp */
      check_red(op, dt, S(4099), false, ALL, false, 0, integer, -1, s + 3);            /* block */
      check_red(op, dt, S(3000, 1001), false, D(-1), false, 0, integer, -1, s + 4);    /* warp per row */
      check_red(op, dt, S(1000, 3), false, D(-1), true, 0, integer, -1, s + 5);        /* thread per row */
      check_red(op, dt, S(1000, 513), false, D(0), false, 0, integer, -1, s + 6);      /* column */
      check_red(op, dt, S(6, 35, 40, 3), false, D(1, 2), true, 0, integer, -1, s + 7); /* middle dims */
      check_red(op, dt, S(2, 3, 4), false, D(0, 2), false, 0, integer, -1, s + 8);     /* two reduced runs */
      check_red(op, dt, S(500, 300), true, D(-1), false, 0, integer, -1, s + 9);       /* strided reduced dim */
      check_red(op, dt, S(500, 300), true, D(0), false, 0, integer, -1, s + 10);       /* strided kept dim */
      check_red(op, dt, S(300, 200), true, ALL, false, 0, integer, -1, s + 11);        /* all of a view */
      check_red(op, dt, S(64, 1, 33), false, D(1), false, 0, integer, -1, s + 12);     /* nothing reduced */
      check_red(op, dt, S(0, 5), false, D(0), false, 0, integer, -1, s + 13);          /* empty: 0 (sum), nan (mean) */
    } else {
      check_red(op, dt, S((1 << 22) + 1), false, ALL, false, 0, integer, -1, s + 21);  /* chunked, 4M */
      check_red(op, dt, S(7, 100003), false, D(-1), false, 0, integer, -1, s + 22);   /* chunked rows */
      check_red(op, dt, S(100003, 7), false, D(0), false, 0, integer, -1, s + 23);    /* chunked columns */
      check_red(op, dt, S(2048, 2048), true, D(0), true, 0, integer, -1, s + 24);     /* 4M view */
    }
  }
}

Test(cuda_parity_reduce, sum_small, .init = pt_on_gpu) {
  sum_mean_cases(OP_SUM, false, false);
  sum_mean_cases(OP_SUM, true, false);
}
Test(cuda_parity_reduce, sum_large, .init = pt_on_gpu) {
  sum_mean_cases(OP_SUM, false, true);
  sum_mean_cases(OP_SUM, true, true);
}
Test(cuda_parity_reduce, mean, .init = pt_on_gpu) {
  sum_mean_cases(OP_MEAN, false, false);
  sum_mean_cases(OP_MEAN, false, true);
}

Test(cuda_parity_reduce, var, .init = pt_on_gpu) {
  for (int k = 0; k < 2; k++) {
    lr_dtype dt = k_dtypes[k];
    uint64_t s = 7000 + 100 * (uint64_t)k;
    check_red(OP_VAR, dt, S(2), false, ALL, false, 1, false, -1, s + 1);
    check_red(OP_VAR, dt, S(1000, 513), false, D(0), false, 1, false, -1, s + 2);
    check_red(OP_VAR, dt, S(513, 1000), false, D(-1), true, 0, false, -1, s + 3);
    check_red(OP_VAR, dt, S(400, 300), true, D(-1), false, 1, false, -1, s + 4);
    check_red(OP_VAR, dt, S(6, 35, 40), false, D(0, 2), false, 1, false, -1, s + 5);
    check_red(OP_VAR, dt, S((1 << 22) + 3), false, ALL, false, 1, false, -1, s + 6);
    check_red(OP_VAR, dt, S(7, 100003), false, D(1), false, 0, false, -1, s + 7);
  }
}

Test(cuda_parity_reduce, max_min, .init = pt_on_gpu) {
  for (int k = 0; k < 2; k++) {
    lr_dtype dt = k_dtypes[k];
    for (red_op op = OP_MAX; op <= OP_MIN; op++) {
      uint64_t s = 8000 + 100 * (uint64_t)k + 50 * (uint64_t)(op - OP_MAX);
      check_red(op, dt, S(1), false, D(0), false, 0, false, -1, s + 1);
      check_red(op, dt, S(1000, 4097), false, D(1), false, 0, false, -1, s + 2);   /* a block per row */
      check_red(op, dt, S(1000, 777), false, D(0), true, 0, false, -1, s + 3);     /* a thread per column */
      check_red(op, dt, S(33, 45), true, D(-1), false, 0, false, -1, s + 4);       /* strided view */
      check_red(op, dt, S(6, 7, 500), false, D(1), false, 0, false, -1, s + 5);    /* middle dim */
      check_red(op, dt, S(5000001), false, D(0), false, 0, false, -1, s + 6);      /* chunked, 5M */
      check_red(op, dt, S(2000, 300), false, D(1), false, 0, true, -1, s + 7);     /* ties: first index wins */
      check_red(op, dt, S(2000, 300), false, D(0), false, 0, true, -1, s + 8);
      check_red(op, dt, S(3000001), false, D(0), false, 0, true, -1, s + 9);       /* ties across chunks */
      check_red(op, dt, S(40, 5000), false, D(1), false, 0, false, 3 * 5000 + 777, s + 10); /* a NaN wins */
      check_red(op, dt, S(3000001), false, D(0), false, 0, false, 2345678, s + 11);
    }
  }
}

/* Bitwise equality of two results (and of their indices when given). */
static void same_bits(const char *what, lr_tensor *a, lr_tensor *b) {
  double *p = pt_to_host(a), *q = pt_to_host(b);
  int64_t n = lr_numel(a) * pt_ncomp(a->dtype);
  cr_assert_eq(memcmp(p, q, sizeof(double) * (size_t)n), 0, "%s differs run to run", what);
  free(p);
  free(q);
}

/* The chunked paths (partials in scratch, combined by a second kernel) twice: the same bits. */
Test(cuda_parity_reduce, deterministic, .init = pt_on_gpu) {
  for (int k = 0; k < 4; k++) {
    lr_dtype dt = k_dtypes[k];
    bool real = !lr_dtype_is_complex(dt);
    int64_t n = (1 << 22) + 1;
    double *comp = pt_rand_comp(dt, n, 99 + (uint64_t)k, false);
    lr_tensor *x = pt_leaf(LR_DEVICE_CUDA, dt, 1, (int64_t[]){n}, comp, false, false);
    free(comp);
    comp = pt_rand_comp(dt, 100003 * 7, 199 + (uint64_t)k, false);
    lr_tensor *xc = pt_leaf(LR_DEVICE_CUDA, dt, 2, (int64_t[]){100003, 7}, comp, false, false);
    free(comp);
    lr_tensor *sum[2], *col[2], *var[2], *mx[2], *ix[2];
    for (int rep = 0; rep < 2; rep++) {
      cr_assert_eq(lr_sum(x, 0, NULL, false, &sum[rep]), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_sum(xc, 1, (int[]){0}, false, &col[rep]), LR_OK, "%s", lr_last_error());
      if (real) {
        cr_assert_eq(lr_var(x, 0, NULL, 1, false, &var[rep]), LR_OK, "%s", lr_last_error());
        cr_assert_eq(lr_max(x, 0, false, &mx[rep], &ix[rep]), LR_OK, "%s", lr_last_error());
      }
    }
    same_bits("sum over all", sum[0], sum[1]);
    same_bits("sum over dim 0 of (100003, 7)", col[0], col[1]);
    if (real) {
      same_bits("var over all", var[0], var[1]);
      same_bits("max over 4M", mx[0], mx[1]);
      same_bits("argmax over 4M", ix[0], ix[1]);
    }
  }
}

/* Mixed devices in a backward are refused, wrong dims keep their CPU messages. */
Test(cuda_parity_reduce, errors, .init = pt_on_gpu) {
  double comp[6] = {1, 2, 3, 4, 5, 6};
  lr_tensor *x = pt_leaf(LR_DEVICE_CUDA, LR_DTYPE_F32, 2, (int64_t[]){2, 3}, comp, false, false), *y;
  cr_assert_eq(lr_sum(x, 1, (int[]){2}, false, &y), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "lr_sum"), "%s", lr_last_error());
  cr_assert_eq(lr_max(x, 1, false, &y, NULL), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_tensor_get(y, 0), 3.0);
  cr_assert_eq(lr_tensor_get(y, 1), 6.0);
  lr_tensor *xi;
  cr_assert_eq(lr_empty_on(LR_DTYPE_I64, LR_DEVICE_CUDA, 1, (int64_t[]){4}, &xi), LR_OK);
  cr_assert_eq(lr_sum(xi, 0, NULL, false, &y), LR_ERR_DTYPE);
}

#else
Test(cuda_parity_reduce, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
