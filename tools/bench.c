/* `lrnnx bench matmul`: GFLOP/s of lr_matmul (ops/linalg.h) against cblas_sgemm called directly
 * on the same square f32 matrices, and their ratio (lr_matmul / sgemm; 1.0 means no overhead).
 *
 * Per size: one warm-up call of each, then --reps timed calls; the median time is reported
 * (2 n^3 flops per product). Grad mode is off, and the arena is rewound after every lr_matmul so
 * the output does not accumulate; the table notes if the arena's usage did not come back to its
 * mark. The last lr_matmul output is compared with sgemm's (max |diff| / max |sgemm|) so a fast
 * but wrong matmul is visible.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/linalg.h"
#include "tools/tools.h"

#define MAX_SIZES 32
#define MAX_N 16384

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Uniform values in [-1, 1) from a fixed xorshift stream: reproducible inputs without an RNG
 * dependency. */
static void fill_uniform(float *p, int64_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (float)((double)(x >> 11) * 0x1.0p-52 - 1.0);
  }
}

/* max |y - ref| / max |ref| over n*n elements. */
static double rel_diff(const lr_tensor *y, const float *ref, int64_t nn) {
  double dmax = 0, rmax = 0;
  const float *p = y->dtype == LR_DTYPE_F32 && lr_is_contiguous(y) ? y->data : NULL;
  for (int64_t i = 0; i < nn; i++) {
    double v = p ? p[i] : lr_tensor_get(y, i);
    dmax = fmax(dmax, fabs(v - ref[i]));
    rmax = fmax(rmax, fabs(ref[i]));
  }
  return rmax > 0 ? dmax / rmax : dmax;
}

/* One row of the table; returns 0, or 1 after printing the failure to err. */
static int bench_size(long n, int reps, double *t_lr, double *t_blas, FILE *out, FILE *err) {
  int64_t shape[2] = {n, n};
  lr_tensor *a = NULL, *b = NULL;
  float *c = malloc(sizeof(float) * (size_t)n * (size_t)n);
  lr_status s = c ? LR_OK : lr_fail(LR_ERR_MEMORY, "lrnnx bench: cannot allocate a %ld x %ld matrix", n, n);
  if (s == LR_OK) s = lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, 2, shape, &a);
  if (s == LR_OK) s = lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, 2, shape, &b);
  if (s == LR_OK) {
    fill_uniform(a->data, (int64_t)n * n, 1);
    fill_uniform(b->data, (int64_t)n * n, 2);
  }

  lr_arena *arena = lr_arena_current();
  lr_arena_mark mark = lr_arena_get_mark(arena);
  size_t used0 = lr_arena_used(arena);
  bool grew = false;
  double diff = 0;
  const int ni = (int)n;
  for (int r = -1; r < reps && s == LR_OK; r++) { /* r = -1: warm-up */
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, a->data, ni, b->data, ni, 0.0f, c, ni);
    if (r >= 0) t_blas[r] = now_s() - t0;
  }
  for (int r = -1; r < reps && s == LR_OK; r++) {
    lr_tensor *y;
    double t0 = now_s();
    s = lr_matmul(a, b, &y);
    double t1 = now_s();
    if (s != LR_OK) break;
    if (r >= 0) t_lr[r] = t1 - t0;
    if (r == reps - 1) diff = rel_diff(y, c, (int64_t)n * n);
    lr_arena_rewind(arena, mark);
    if (lr_arena_used(arena) != used0) grew = true;
  }
  lr_tensor_free(a);
  lr_tensor_free(b);
  free(c);
  if (s != LR_OK) {
    fprintf(err, "lrnnx bench matmul: n = %ld: %s\n", n, lr_last_error());
    return 1;
  }
  double ml = median(t_lr, reps), mb = median(t_blas, reps), flop = 2.0 * (double)n * (double)n * (double)n;
  double gl = flop / ml * 1e-9, gb = flop / mb * 1e-9;
  fprintf(out, "%6ld  %12.3f  %9.1f  %14.3f  %9.1f  %6.2f  %10.1e%s\n", n, ml * 1e3, gl, mb * 1e3, gb, gl / gb, diff,
          grew ? "  (arena grew)" : "");
  return 0;
}

static int bench_matmul(int argc, char **argv, FILE *out, FILE *err) {
  long sizes[MAX_SIZES] = {256, 512, 1024, 2048};
  int n_sizes = 4, reps = 5;
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i], *val = NULL;
    const char *eq = strchr(arg, '=');
    size_t key_len = eq ? (size_t)(eq - arg) : strlen(arg);
    if (eq) val = eq + 1;
    else if (i + 1 < argc) val = argv[i + 1];
    bool is_sizes = key_len == 7 && !strncmp(arg, "--sizes", 7), is_reps = key_len == 6 && !strncmp(arg, "--reps", 6);
    if (!is_sizes && !is_reps) {
      fprintf(err, "lrnnx bench matmul: unknown option \"%s\"\nusage: lrnnx bench matmul [--sizes 256,512] [--reps N]\n", arg);
      return 2;
    }
    if (!val) {
      fprintf(err, "lrnnx bench matmul: %s needs a value\n", arg);
      return 2;
    }
    if (!eq) i++;
    if (is_sizes) {
      n_sizes = lr_tool_parse_sizes(val, sizes, MAX_SIZES, MAX_N, err);
      if (n_sizes < 0) return 2;
    } else {
      char *end;
      long v = strtol(val, &end, 10);
      if (end == val || *end || v < 1 || v > 10000) {
        fprintf(err, "lrnnx bench matmul: --reps \"%s\": expected an integer in [1, 10000]\n", val);
        return 2;
      }
      reps = (int)v;
    }
  }
  double *t_lr = malloc(sizeof(double) * (size_t)reps), *t_blas = malloc(sizeof(double) * (size_t)reps);
  if (!t_lr || !t_blas) {
    free(t_lr);
    free(t_blas);
    fprintf(err, "lrnnx bench matmul: out of memory\n");
    return 1;
  }
  fprintf(out, "matmul f32, (n, n) @ (n, n); median of %d rep%s after 1 warm-up; %d OpenMP threads\n", reps,
          reps == 1 ? "" : "s", omp_get_max_threads());
  fprintf(out, "ratio = lr_matmul GFLOP/s / cblas_sgemm GFLOP/s; rel diff = max|lr - sgemm| / max|sgemm|\n\n");
  fprintf(out, "%6s  %12s  %9s  %14s  %9s  %6s  %10s\n", "n", "lr_matmul ms", "GFLOP/s", "cblas_sgemm ms", "GFLOP/s", "ratio",
          "rel diff");
  bool grad = lr_set_grad_enabled(false);
  int rc = 0;
  for (int i = 0; i < n_sizes && !rc; i++) rc = bench_size(sizes[i], reps, t_lr, t_blas, out, err);
  lr_set_grad_enabled(grad);
  free(t_lr);
  free(t_blas);
  return rc;
}

int lr_tool_bench(int argc, char **argv, FILE *out, FILE *err) {
  if (argc < 2) {
    fprintf(err, "usage: lrnnx bench matmul [--sizes 256,512,1024,2048] [--reps N]\n");
    return 2;
  }
  if (!strcmp(argv[1], "matmul")) return bench_matmul(argc, argv, out, err);
  fprintf(err, "lrnnx bench: unknown benchmark \"%s\" (available: matmul)\n", argv[1]);
  return 2;
}
