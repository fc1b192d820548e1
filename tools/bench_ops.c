/* `lrnnx bench ops [--device cpu|cuda] [--n N] [--sizes 1024,2048,4096] [--reps N]`: how close the
 * core ops run to the machine's limits, on the CPU or the GPU.
 *
 * Bandwidth table: elementwise ops (add, mul, exp, silu) and reductions (sum over all, sum over the
 * last dim) on N f32 elements (default 64M), in GB/s of the bytes they must move (add/mul read two
 * inputs and write one: 12 B per element; exp/silu 8 B; a sum reads 4 B), against a plain copy of
 * the same size measured in the same run (cudaMemcpy device to device on the GPU, an OpenMP memcpy
 * on the CPU; 8 B per element) and as a percentage of it.
 * Matmul table: TFLOP/s of lr_matmul on square f32 matrices against the bare BLAS GEMM on the same
 * buffers (cublasSgemm through the same handle and math mode; cblas_sgemm on the CPU), their ratio
 * (1.00: no overhead) and the relative difference of the results.
 *
 * Timing: on the GPU with cudaEvents around each call on the context's stream (the call's host
 * overhead included when it exceeds the GPU work), on the CPU with a monotonic clock; 2 warm-up
 * calls, then the median of --reps. Grad mode is off and the arena is rewound after every call, so
 * nothing accumulates; the mallocs column counts cudaMalloc calls (lr_cuda_mem_stats) during the
 * timed reps, which the caching allocator keeps at 0 once warm. TF32 stays as configured (off by
 * default). An op with no implementation on the device prints its error instead of a row.
 */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/ops.h"
#include "tools/tools.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

#define MAX_SIZES 8
#define WARMUP 2

typedef struct {
  lr_device dev;
  int reps;
  double *times; /* reps */
#ifdef LR_CUDA
  lr_cuda_timer *tm;
#endif
} bench;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static uint64_t cuda_mallocs(void) {
#ifdef LR_CUDA
  lr_cuda_memstats st;
  lr_cuda_mem_stats(&st);
  return st.n_cuda_malloc;
#else
  return 0;
#endif
}

/* One timed call: fn(arg) between the timer's two marks. */
typedef lr_status (*call_fn)(void *arg);

static lr_status time_call(bench *b, call_fn fn, void *arg, double *ms) {
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) {
    LR_TRY(lr_cuda_timer_start(b->tm));
    lr_status s = fn(arg);
    double t;
    lr_status s2 = lr_cuda_timer_stop(b->tm, &t); /* waits for the call's work */
    LR_TRY(s);
    LR_TRY(s2);
    *ms = t;
    return LR_OK;
  }
#endif
  double t0 = now_ms();
  LR_TRY(fn(arg));
  *ms = now_ms() - t0;
  return LR_OK;
}

/* Median ms of fn over the reps after the warm-up, the arena rewound after each call; *mallocs:
 * cudaMalloc calls during the timed reps. */
static lr_status measure(bench *b, call_fn fn, void *arg, double *median, uint64_t *mallocs) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  uint64_t m0 = 0;
  for (int r = -WARMUP; r < b->reps; r++) {
    if (r == 0) m0 = cuda_mallocs();
    double t;
    lr_status s = time_call(b, fn, arg, &t);
    lr_arena_rewind(ar, m);
    LR_TRY(s);
    if (r >= 0) b->times[r] = t;
  }
  *mallocs = cuda_mallocs() - m0;
  qsort(b->times, (size_t)b->reps, sizeof(double), cmp_double);
  int n = b->reps;
  *median = n % 2 ? b->times[n / 2] : 0.5 * (b->times[n / 2 - 1] + b->times[n / 2]);
  return LR_OK;
}

/* ---- the calls ---- */
typedef struct {
  lr_tensor *a, *b, *y, *ref;
  int64_t n;
} args;

static lr_status c_add(void *p) {
  args *a = p;
  return lr_add(a->a, a->b, &a->y);
}
static lr_status c_mul(void *p) {
  args *a = p;
  return lr_mul(a->a, a->b, &a->y);
}
static lr_status c_exp(void *p) {
  args *a = p;
  return lr_exp(a->a, &a->y);
}
static lr_status c_silu(void *p) {
  args *a = p;
  return lr_silu(a->a, &a->y);
}
static lr_status c_sum_all(void *p) {
  args *a = p;
  return lr_sum(a->a, 0, NULL, false, &a->y);
}
static lr_status c_sum_last(void *p) {
  args *a = p;
  return lr_sum(a->b, 1, (int[]){-1}, false, &a->y); /* b: the 2-D view */
}
static lr_status c_matmul(void *p) {
  args *a = p;
  return lr_matmul(a->a, a->b, &a->y);
}

/* The copy reference: a into b (same size). */
static lr_status c_copy(void *p) {
  args *a = p;
  size_t bytes = lr_nbytes(a->a);
#ifdef LR_CUDA
  if (a->a->device == LR_DEVICE_CUDA) return lr_cuda_memcpy_d2d(a->ref->data, a->a->data, bytes);
#endif
  const char *src = a->a->data;
  char *dst = a->ref->data;
  int nt = omp_get_max_threads();
#pragma omp parallel for
  for (int t = 0; t < nt; t++) {
    size_t lo = bytes * (size_t)t / (size_t)nt, hi = bytes * (size_t)(t + 1) / (size_t)nt;
    memcpy(dst + lo, src + lo, hi - lo);
  }
  return LR_OK;
}

/* The bare GEMM on the same buffers, into ref. */
static lr_status c_gemm_ref(void *p) {
  args *a = p;
  int n = (int)a->n;
#ifdef LR_CUDA
  if (a->a->device == LR_DEVICE_CUDA) return lr_kcuda_sgemm_ref(n, n, n, a->a->data, a->b->data, a->ref->data);
#endif
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a->a->data, n, a->b->data, n, 0.0f,
              a->ref->data, n);
  return LR_OK;
}

/* ---- inputs ---- */

/* Uniform values in [-1, 1) from a fixed xorshift stream (reproducible, no RNG dependency). */
static void fill_uniform(float *p, int64_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (float)((double)(x >> 11) * 0x1.0p-52 - 1.0);
  }
}

/* A persistent f32 tensor on dev with uniform values. */
static lr_status rand_tensor(lr_device dev, int ndim, const int64_t *shape, uint64_t seed, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_tensor_new(LR_DTYPE_F32, dev, ndim, shape, &t));
  int64_t n = lr_numel(t);
  if (dev == LR_DEVICE_CPU) {
    fill_uniform(t->data, n, seed);
  } else {
    float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
    if (!h) {
      lr_tensor_free(t);
      return lr_fail(LR_ERR_MEMORY, "lrnnx bench ops: cannot allocate %lld floats on the host", (long long)n);
    }
    fill_uniform(h, n, seed);
    lr_status s = lr_tensor_copy_from_host(t, h, sizeof(float) * (size_t)n);
    free(h);
    if (s != LR_OK) {
      lr_tensor_free(t);
      return s;
    }
  }
  *out = t;
  return LR_OK;
}

/* max |y - ref| / max |ref| (ref: a tensor of y's shape). */
static double rel_diff(const lr_tensor *y, const lr_tensor *ref) {
  int64_t n = lr_numel(y);
  float *p = malloc(sizeof(float) * (size_t)n), *q = malloc(sizeof(float) * (size_t)n);
  double d = NAN;
  if (p && q && lr_tensor_copy_to_host(y, p, sizeof(float) * (size_t)n) == LR_OK &&
      lr_tensor_copy_to_host(ref, q, sizeof(float) * (size_t)n) == LR_OK) {
    double dmax = 0, rmax = 0;
    for (int64_t i = 0; i < n; i++) {
      dmax = fmax(dmax, fabs((double)p[i] - q[i]));
      rmax = fmax(rmax, fabs((double)q[i]));
    }
    d = rmax > 0 ? dmax / rmax : dmax;
  }
  free(p);
  free(q);
  return d;
}

/* ---- tables ---- */

static void bw_row(FILE *out, const char *name, const char *what, double ms, double bytes, double copy_gbs,
                   uint64_t mallocs) {
  double gbs = bytes / (ms * 1e-3) * 1e-9;
  fprintf(out, "%-10s  %-24s  %9.3f  %9.1f  %8.1f%%  %7llu\n", name, what, ms, gbs, copy_gbs > 0 ? 100.0 * gbs / copy_gbs : 0.0,
          (unsigned long long)mallocs);
}

static int bandwidth_table(bench *b, int64_t n, FILE *out, FILE *err) {
  const char *dn = lr_device_name(b->dev);
  int64_t cols = 4096, rows = n / cols;
  args a = {NULL, NULL, NULL, NULL, n};
  lr_tensor *x = NULL, *z = NULL, *cp = NULL, *v2 = NULL;
  lr_status s = rand_tensor(b->dev, 1, (int64_t[]){n}, 1, &x);
  if (s == LR_OK) s = rand_tensor(b->dev, 1, (int64_t[]){n}, 2, &z);
  if (s == LR_OK) s = lr_tensor_new(LR_DTYPE_F32, b->dev, 1, (int64_t[]){n}, &cp);
  if (s == LR_OK) s = lr_tensor_view(x, 2, (int64_t[]){rows, cols}, &v2);
  if (s != LR_OK) {
    fprintf(err, "lrnnx bench ops: %s\n", lr_last_error());
    lr_tensor_free(x);
    lr_tensor_free(z);
    lr_tensor_free(cp);
    return 1;
  }
  double fb = (double)n * sizeof(float);
  char nm[32];
  snprintf(nm, sizeof nm, "%lld f32", (long long)n);
  fprintf(out, "bandwidth on %s: %s elements; median of %d after %d warm-up; GB/s of the bytes each op must move\n",
          dn, nm, b->reps, WARMUP);
  fprintf(out, "%-10s  %-24s  %9s  %9s  %9s  %7s\n", "op", "shape", "ms", "GB/s", "% of copy", "mallocs");
  /* the copy first: the reference of the rows below */
  a.a = x;
  a.ref = cp;
  double ms_copy;
  uint64_t mal;
  s = measure(b, c_copy, &a, &ms_copy, &mal);
  if (s != LR_OK) {
    fprintf(err, "lrnnx bench ops: copy: %s\n", lr_last_error());
    lr_tensor_free(x);
    lr_tensor_free(z);
    lr_tensor_free(cp);
    return 1;
  }
  double copy_gbs = 2 * fb / (ms_copy * 1e-3) * 1e-9;
  bw_row(out, b->dev == LR_DEVICE_CUDA ? "copy (d2d)" : "memcpy", nm, ms_copy, 2 * fb, copy_gbs, mal);
  struct {
    const char *name;
    call_fn fn;
    double bytes;
    const char *shape;
  } rows_[] = {
      {"add", c_add, 3 * fb, "a + b"},
      {"mul", c_mul, 3 * fb, "a * b"},
      {"exp", c_exp, 2 * fb, "exp(a)"},
      {"silu", c_silu, 2 * fb, "silu(a)"},
      {"sum", c_sum_all, fb, "all"},
      {"sum", c_sum_last, fb, NULL},
  };
  char last[64];
  snprintf(last, sizeof last, "(%lld, %lld), dim -1", (long long)rows, (long long)cols);
  for (size_t i = 0; i < sizeof rows_ / sizeof rows_[0]; i++) {
    a.a = x;
    a.b = rows_[i].fn == c_sum_last ? v2 : z;
    double ms;
    const char *shape = rows_[i].shape ? rows_[i].shape : last;
    if (measure(b, rows_[i].fn, &a, &ms, &mal) != LR_OK) {
      fprintf(out, "%-10s  %-24s  n/a: %s\n", rows_[i].name, shape, lr_last_error());
      continue;
    }
    bw_row(out, rows_[i].name, shape, ms, rows_[i].bytes, copy_gbs, mal);
  }
  lr_tensor_free(x);
  lr_tensor_free(z);
  lr_tensor_free(cp);
  return 0;
}

static int matmul_table(bench *b, const long *sizes, int n_sizes, FILE *out, FILE *err) {
  bool cuda = b->dev == LR_DEVICE_CUDA;
  fprintf(out, "\nmatmul f32 on %s, (n, n) @ (n, n); median of %d after %d warm-up\n", lr_device_name(b->dev), b->reps,
          WARMUP);
#ifdef LR_CUDA
  if (cuda) fprintf(out, "TF32 %s; reference: cublasSgemm on the same buffers and handle\n", lr_cuda_tf32() ? "on" : "off");
#endif
  if (!cuda) fprintf(out, "%d OpenMP threads; reference: cblas_sgemm on the same buffers\n", omp_get_max_threads());
  fprintf(out, "%6s  %12s  %9s  %12s  %9s  %6s  %9s  %7s\n", "n", "lr_matmul ms", "TFLOP/s", cuda ? "cublas ms" : "cblas ms",
          "TFLOP/s", "ratio", "rel diff", "mallocs");
  for (int i = 0; i < n_sizes; i++) {
    int64_t n = sizes[i];
    int64_t sh[2] = {n, n};
    args a = {NULL, NULL, NULL, NULL, n};
    lr_status s = rand_tensor(b->dev, 2, sh, 3, &a.a);
    if (s == LR_OK) s = rand_tensor(b->dev, 2, sh, 4, &a.b);
    if (s == LR_OK) s = lr_tensor_new(LR_DTYPE_F32, b->dev, 2, sh, &a.ref);
    double ml = 0, mb = 0, diff = NAN;
    uint64_t mal = 0, mal2 = 0;
    if (s == LR_OK) s = measure(b, c_gemm_ref, &a, &mb, &mal2);
    if (s == LR_OK) s = measure(b, c_matmul, &a, &ml, &mal);
    if (s == LR_OK) { /* one more product, kept for the comparison */
      lr_arena *ar = lr_arena_current();
      lr_arena_mark m = lr_arena_get_mark(ar);
      s = lr_matmul(a.a, a.b, &a.y);
      if (s == LR_OK) diff = rel_diff(a.y, a.ref);
      lr_arena_rewind(ar, m);
    }
    lr_tensor_free(a.a);
    lr_tensor_free(a.b);
    lr_tensor_free(a.ref);
    if (s != LR_OK) {
      fprintf(err, "lrnnx bench ops: matmul n = %lld: %s\n", (long long)n, lr_last_error());
      return 1;
    }
    double flop = 2.0 * (double)n * (double)n * (double)n;
    double tl = flop / (ml * 1e-3) * 1e-12, tb = flop / (mb * 1e-3) * 1e-12;
    fprintf(out, "%6lld  %12.3f  %9.2f  %12.3f  %9.2f  %6.2f  %9.1e  %7llu\n", (long long)n, ml, tl, mb, tb, tl / tb, diff,
            (unsigned long long)(mal + mal2));
  }
  return 0;
}

static int usage(FILE *err, const char *msg, const char *arg) {
  fprintf(err, "lrnnx bench ops: %s%s%s\n", msg, arg ? " " : "", arg ? arg : "");
  fprintf(err, "usage: lrnnx bench ops [--device cpu|cuda] [--n N] [--sizes 1024,2048,4096] [--reps N]\n");
  return 2;
}

int lr_tool_bench_ops(int argc, char **argv, FILE *out, FILE *err) {
  lr_device dev = LR_DEVICE_CPU;
  long n = 1L << 26, sizes[MAX_SIZES] = {1024, 2048, 4096};
  int n_sizes = 3, reps = 10;
  for (int i = 2; i < argc; i++) {
    const char *arg = argv[i], *eq = strchr(arg, '='), *val = NULL;
    size_t kl = eq ? (size_t)(eq - arg) : strlen(arg);
    if (eq) val = eq + 1;
    else if (i + 1 < argc) val = argv[i + 1];
    bool is_dev = kl == 8 && !strncmp(arg, "--device", 8), is_n = kl == 3 && !strncmp(arg, "--n", 3);
    bool is_sizes = kl == 7 && !strncmp(arg, "--sizes", 7), is_reps = kl == 6 && !strncmp(arg, "--reps", 6);
    if (!is_dev && !is_n && !is_sizes && !is_reps) return usage(err, "unknown option", arg);
    if (!val) return usage(err, "a value is missing after", arg);
    if (!eq) i++;
    if (is_dev) {
      if (!strcmp(val, "cpu")) dev = LR_DEVICE_CPU;
      else if (!strcmp(val, "cuda")) dev = LR_DEVICE_CUDA;
      else return usage(err, "--device must be cpu or cuda, got", val);
    } else if (is_sizes) {
      n_sizes = lr_tool_parse_sizes(val, sizes, MAX_SIZES, 32768, err);
      if (n_sizes < 0) return 2;
    } else {
      char *end;
      long v = strtol(val, &end, 10);
      long hi = is_reps ? 10000 : (1L << 32);
      if (end == val || *end || v < (is_reps ? 1 : 4096) || v > hi)
        return usage(err, is_reps ? "--reps must be an integer in [1, 10000], got" : "--n must be an integer in [4096, 2^32], got",
                     val);
      if (is_reps) reps = (int)v;
      else n = v / 4096 * 4096; /* whole rows of the 4096-wide view */
    }
  }
  bench b;
  memset(&b, 0, sizeof b);
  b.dev = dev;
  b.reps = reps;
  b.times = malloc(sizeof(double) * (size_t)reps);
  if (!b.times) {
    fprintf(err, "lrnnx bench ops: out of memory\n");
    return 1;
  }
  if (dev == LR_DEVICE_CUDA) {
#ifdef LR_CUDA
    if (lr_cuda_timer_new(&b.tm) != LR_OK) {
      fprintf(err, "lrnnx bench ops: CUDA is not usable: %s\n", lr_last_error());
      free(b.times);
      return 1;
    }
    fprintf(out, "device: %s\n", lr_cuda_device_name());
#else
    fprintf(err, "lrnnx bench ops: this build has no CUDA backend (build with nvcc present or --config=cuda)\n");
    free(b.times);
    return 1;
#endif
  }
  bool grad = lr_set_grad_enabled(false);
  int rc = bandwidth_table(&b, n, out, err);
  if (!rc) rc = matmul_table(&b, sizes, n_sizes, out, err);
  lr_set_grad_enabled(grad);
#ifdef LR_CUDA
  lr_cuda_timer_free(b.tm);
#endif
  free(b.times);
  return rc;
}
