/* The CUDA runtime: what a build does on a machine without a GPU, and, where there is one, the
 * caching allocator, host<->device copies, fill and graphs (tensor/graph.h).
 *
 * Runs everywhere. Without the CUDA backend (no nvcc at build time) only the "no device" checks
 * apply. With it but without a usable GPU (this build machine, CI), device requests must fail
 * with LR_ERR_DEVICE and a message giving the reason, and nothing may crash. With a GPU the
 * "no device" tests skip and the others run.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "tensor/graph.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static bool have_gpu(void) {
#ifdef LR_CUDA
  return lr_cuda_available();
#else
  return false;
#endif
}

/* The reason a device request failed, as the message must state it. */
static bool names_reason(const char *msg) {
#ifdef LR_CUDA
  return strstr(msg, "no CUDA driver") || strstr(msg, "no CUDA device") || strstr(msg, "CUDA driver is older");
#else
  return strstr(msg, "cuda") && strstr(msg, "not available");
#endif
}

Test(cuda_runtime, no_gpu_arena_tensor_is_device_error) {
  if (have_gpu()) cr_skip_test("a GPU is present");
  lr_tensor *t = NULL;
  for (int rep = 0; rep < 2; rep++) { /* the second request repeats the reason, it does not crash */
    cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2, 3), &t), LR_ERR_DEVICE);
    cr_assert(names_reason(lr_last_error()), "message: %s", lr_last_error());
    cr_assert_null(t);
    cr_assert_eq(lr_zeros_on(LR_DTYPE_C64, LR_DEVICE_CUDA, LR_SHAPE(4), &t), LR_ERR_DEVICE);
    cr_assert(names_reason(lr_last_error()), "message: %s", lr_last_error());
    cr_assert_null(t);
  }
}

Test(cuda_runtime, no_gpu_persistent_tensor_is_device_error) {
  if (have_gpu()) cr_skip_test("a GPU is present");
  lr_tensor *t = NULL;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CUDA, LR_SHAPE(3, 1), &t), LR_ERR_DEVICE);
  cr_assert(names_reason(lr_last_error()), "message: %s", lr_last_error());
  cr_assert_null(t);
  /* CPU tensors are unaffected. */
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_SHAPE(3, 1), &t), LR_OK);
  lr_tensor_free(t);
}

#ifdef LR_CUDA
static lr_status graph_nop(void *arg) {
  (void)arg;
  return LR_OK;
}

Test(cuda_runtime, no_gpu_runtime_calls) {
  if (have_gpu()) cr_skip_test("a GPU is present");
  cr_assert_eq(lr_cuda_device_count(), 0);
  cr_assert_not(lr_cuda_available());
  cr_assert_eq(lr_cuda_init(), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_cuda_init: ") && names_reason(lr_last_error()), "%s", lr_last_error());
  cr_assert_eq(lr_cuda_synchronize(), LR_ERR_DEVICE);
  lr_cublas_t h = NULL;
  cr_assert_eq(lr_cuda_blas(&h), LR_ERR_DEVICE);
  cr_assert_null(h);
  void *p = NULL;
  cr_assert_eq(lr_cuda_alloc(64, &p), LR_ERR_DEVICE);
  cr_assert_null(p);
  cr_assert_null(lr_cuda_stream());
  cr_assert_eq(lr_cuda_empty_cache(), LR_OK); /* nothing to release */
  lr_cuda_free(NULL);
  lr_cuda_memstats st;
  lr_cuda_mem_stats(&st);
  cr_assert_eq(st.current_bytes, 0);
  cr_assert_eq(st.n_cuda_malloc, 0);
  cr_assert_eq(st.n_alloc, 0); /* a request that cannot reach a device is not counted */
  lr_graph *g = NULL;
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, graph_nop, NULL, &g), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_graph_capture: ") && names_reason(lr_last_error()), "%s", lr_last_error());
  cr_assert_null(g);
}

/* Kernel arguments are checked before anything touches the device. */
Test(cuda_runtime, kernel_argument_errors) {
  int64_t shape[1] = {4}, st[1] = {1};
  float x[4] = {0};
  cr_assert_eq(lr_kcuda_binary(LR_BIN_ADD, LR_DTYPE_I32, x, x, st, x, st, 1, shape, NULL), LR_ERR_DTYPE);
  cr_assert(strstr(lr_last_error(), "lr_kcuda_binary") && strstr(lr_last_error(), "i32"), "%s", lr_last_error());
  cr_assert_eq(lr_kcuda_binary(LR_BIN_ADD, LR_DTYPE_F32, x, x, st, x, st, 9, shape, NULL), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "ndim is 9"), "%s", lr_last_error());
  cr_assert_eq(lr_kcuda_acc_broadcast(LR_DTYPE_BOOL, x, st, x, 1, shape, NULL), LR_ERR_DTYPE);
  cr_assert(strstr(lr_last_error(), "lr_kcuda_acc_broadcast") && strstr(lr_last_error(), "bool"), "%s",
            lr_last_error());
  cr_assert_eq(lr_kcuda_fill((lr_dtype)99, x, 4, 1.0, 0.0, NULL), LR_ERR_DTYPE);
  /* empty shapes are no-ops */
  int64_t zero[1] = {0};
  cr_assert_eq(lr_kcuda_binary(LR_BIN_ADD, LR_DTYPE_F32, x, x, st, x, st, 1, zero, NULL), LR_OK);
  cr_assert_eq(lr_kcuda_acc_broadcast(LR_DTYPE_F32, x, st, x, 1, zero, NULL), LR_OK);
  cr_assert_eq(lr_kcuda_fill(LR_DTYPE_F32, x, 0, 1.0, 0.0, NULL), LR_OK);
}

/* cuBLAS is not linked but loaded on first use; the library must be found (no GPU needed). */
Test(cuda_runtime, cublas_loads) {
  const char *e = lr_cublas_load_error();
  cr_assert_null(e, "cannot load cuBLAS: %s", e);
}

/* Size classes: 512 B steps to 1 MiB, 2 MiB steps to 64 MiB, then 4 per octave. Host-only. */
Test(cuda_runtime, size_classes) {
  const size_t K = 1024, M = 1024 * 1024;
  struct { size_t in, want; } c[] = {
      {0, 512},           {1, 512},           {512, 512},         {513, 1024},       {M - 1, M},
      {M, M},             {M + 1, 2 * M},     {3 * M, 4 * M},     {64 * M, 64 * M},  {64 * M + 1, 80 * M},
      {100 * M, 112 * M}, {113 * M, 128 * M}, {129 * M, 160 * M}, {4096 * M + 1, 5120 * M},
  };
  for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
    cr_assert_eq(lr_cuda_size_class(c[i].in), c[i].want, "class of %zu: %zu, want %zu", c[i].in,
                 lr_cuda_size_class(c[i].in), c[i].want);
  /* every class holds its request, wastes at most 25% past 1 MiB, and is stable (class of a class) */
  for (size_t b = 1; b < 8192 * M; b = b * 5 / 4 + 7 * K + 3) {
    size_t s = lr_cuda_size_class(b);
    cr_assert(s >= b && lr_cuda_size_class(s) == s, "class of %zu is %zu", b, s);
    if (b > 2 * M) cr_assert(s - b <= b / 4 + 2 * M, "class of %zu is %zu", b, s);
  }
}

/* ---- with a GPU ---- */

Test(cuda_runtime, allocator_steady_state) {
  if (!have_gpu()) cr_skip_test("no GPU: %s", (lr_cuda_init(), lr_last_error()));
  lr_cuda_memstats a, b;
  void *p, *q;
  cr_assert_eq(lr_cuda_alloc(1000, &p), LR_OK);
  lr_cuda_mem_stats(&a);
  cr_assert(a.caching);
  cr_assert_eq(a.current_bytes, 1024);
  lr_cuda_free(p);
  lr_cuda_mem_stats(&b);
  cr_assert_eq(b.current_bytes, 0);
  cr_assert_eq(b.cached_bytes, 1024);
  cr_assert_eq(lr_cuda_alloc(700, &q), LR_OK); /* same class: the same block, no cudaMalloc */
  cr_assert_eq(q, p);
  lr_cuda_mem_stats(&b);
  cr_assert_eq(b.n_cuda_malloc, a.n_cuda_malloc);
  cr_assert_eq(b.cached_bytes, 0);
  cr_assert_eq(b.peak_bytes, 1024);
  lr_cuda_free(q);

  /* a training-loop-like pattern through the arena: after the first step, no cudaMalloc */
  lr_arena *ar = lr_arena_current();
  uint64_t after_first = 0;
  for (int step = 0; step < 5; step++) {
    lr_arena_mark m = lr_arena_get_mark(ar);
    lr_tensor *x, *y, *z;
    cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(1000, 333), &x), LR_OK);
    cr_assert_eq(lr_zeros_on(LR_DTYPE_C64, LR_DEVICE_CUDA, LR_SHAPE(7), &y), LR_OK);
    cr_assert_eq(lr_empty_on(LR_DTYPE_F64, LR_DEVICE_CUDA, LR_SHAPE(3 << 20), &z), LR_OK);
    lr_arena_rewind(ar, m);
    lr_cuda_mem_stats(&b);
    if (step == 0) after_first = b.n_cuda_malloc;
    cr_assert_eq(b.n_cuda_malloc, after_first, "step %d called cudaMalloc", step);
    cr_assert_eq(b.current_bytes, 0);
  }
  cr_assert_eq(lr_cuda_empty_cache(), LR_OK);
  lr_cuda_mem_stats(&b);
  cr_assert_eq(b.cached_bytes, 0);
  cr_assert_eq(b.n_cuda_free, b.n_cuda_malloc);
}

Test(cuda_runtime, no_cache_switch) {
  setenv("LRNNX_CUDA_NO_CACHE", "1", 1); /* read when the context is created: each test is a process */
  if (!have_gpu()) cr_skip_test("no GPU");
  lr_cuda_memstats a, b;
  void *p;
  lr_cuda_mem_stats(&a);
  cr_assert_not(a.caching);
  cr_assert_eq(lr_cuda_alloc(1000, &p), LR_OK);
  lr_cuda_free(p);
  cr_assert_eq(lr_cuda_alloc(1000, &p), LR_OK);
  lr_cuda_free(p);
  lr_cuda_mem_stats(&b);
  cr_assert_eq(b.n_cuda_malloc - a.n_cuda_malloc, 2);
  cr_assert_eq(b.n_cuda_free - a.n_cuda_free, 2);
  cr_assert_eq(b.cached_bytes, 0);
  cr_assert_eq(b.peak_bytes, 1000); /* exact sizes, for compute-sanitizer */
}

/* n floats through host -> device -> device -> host; large n takes the pinned staging path. */
static void round_trip(int64_t n) {
  float *h = malloc((size_t)n * sizeof *h), *back = malloc((size_t)n * sizeof *back);
  for (int64_t i = 0; i < n; i++) h[i] = (float)(i % 100003) * 0.5f - 7.0f;
  lr_tensor *d, *d2;
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, 1, &n, &d), LR_OK);
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, 1, &n, &d2), LR_OK);
  cr_assert_eq(lr_tensor_copy_from_host(d, h, (size_t)n * sizeof *h), LR_OK);
  cr_assert_eq(lr_tensor_copy_(d2, d), LR_OK);
  memset(back, 0xff, (size_t)n * sizeof *back);
  cr_assert_eq(lr_tensor_copy_to_host(d2, back, (size_t)n * sizeof *back), LR_OK);
  cr_assert_eq(memcmp(h, back, (size_t)n * sizeof *h), 0, "n = %lld", (long long)n);
  free(h);
  free(back);
}

Test(cuda_runtime, copies_round_trip) {
  if (!have_gpu()) cr_skip_test("no GPU");
  round_trip(1);
  round_trip(1000);
  round_trip((1 << 18) - 1);         /* just under the staging threshold (1 MiB) */
  round_trip((1 << 18) + 3);         /* one pinned chunk */
  round_trip(5 * (1 << 20) + 12345); /* ~20 MiB: three chunks, the last partial */
  /* the staged path again, now with its events recorded */
  round_trip(5 * (1 << 20) + 12345);
  cr_assert_eq(lr_cuda_synchronize(), LR_OK);
}

Test(cuda_runtime, fill_and_zeros) {
  if (!have_gpu()) cr_skip_test("no GPU");
  const int64_t n = 1001;
  lr_tensor *t;
  double hd[1001];
  cr_assert_eq(lr_zeros_on(LR_DTYPE_F64, LR_DEVICE_CUDA, 1, &n, &t), LR_OK);
  cr_assert_eq(lr_tensor_copy_to_host(t, hd, sizeof hd), LR_OK);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(hd[i], 0.0);
  cr_assert_eq(lr_kcuda_fill(LR_DTYPE_F64, t->data, n, -2.5, 0, lr_cuda_stream()), LR_OK);
  cr_assert_eq(lr_tensor_copy_to_host(t, hd, sizeof hd), LR_OK);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(hd[i], -2.5);

  lr_c64 hc[1001];
  cr_assert_eq(lr_empty_on(LR_DTYPE_C64, LR_DEVICE_CUDA, 1, &n, &t), LR_OK);
  cr_assert_eq(lr_kcuda_fill(LR_DTYPE_C64, t->data, n, 1.5, -3.0, NULL), LR_OK);
  cr_assert_eq(lr_tensor_copy_to_host(t, hc, sizeof hc), LR_OK);
  for (int64_t i = 0; i < n; i++) cr_assert(hc[i].re == 1.5f && hc[i].im == -3.0f);

  int32_t hi[1001];
  cr_assert_eq(lr_empty_on(LR_DTYPE_I32, LR_DEVICE_CUDA, 1, &n, &t), LR_OK);
  cr_assert_eq(lr_kcuda_fill(LR_DTYPE_I32, t->data, n, 7.9, 0, NULL), LR_OK);
  cr_assert_eq(lr_tensor_copy_to_host(t, hi, sizeof hi), LR_OK);
  for (int64_t i = 0; i < n; i++) cr_assert_eq(hi[i], 7);

  float hf[6];
  lr_tensor *p;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(2, 3), &p), LR_OK); /* zero-filled */
  cr_assert_eq(lr_tensor_copy_to_host(p, hf, sizeof hf), LR_OK);
  for (int i = 0; i < 6; i++) cr_assert_eq(hf[i], 0.0f);
  cr_assert_eq(lr_tensor_fill_(p, 4.25), LR_OK);
  cr_assert_eq(lr_tensor_copy_to_host(p, hf, sizeof hf), LR_OK);
  for (int i = 0; i < 6; i++) cr_assert_eq(hf[i], 4.25f);
  lr_tensor_free(p);
}

Test(cuda_runtime, blas_handle_and_tf32_switch) {
  if (!have_gpu()) cr_skip_test("no GPU");
  cr_assert_not(lr_cuda_tf32());
  lr_cublas_t h1, h2;
  cr_assert_eq(lr_cuda_blas(&h1), LR_OK);
  cr_assert_eq(lr_cuda_blas(&h2), LR_OK);
  cr_assert_eq(h1, h2);
  lr_cuda_set_tf32(true);
  cr_assert(lr_cuda_tf32());
  lr_cuda_set_tf32(false);
  cr_assert_not(lr_cuda_tf32());
}

/* A kernel fault surfaces as a status with CUDA's text, not as a crash. */
Test(cuda_runtime, errors_carry_cuda_text) {
  if (!have_gpu()) cr_skip_test("no GPU");
  void *p;
  cr_assert_eq(lr_cuda_alloc((size_t)1 << 50, &p), LR_ERR_MEMORY); /* 1 PiB */
  cr_assert(strstr(lr_last_error(), "lr_cuda_alloc") && strstr(lr_last_error(), "out of memory"), "%s",
            lr_last_error());
  /* bad device pointers: rejected by the call or, asynchronously, by the next synchronisation */
  lr_status s = lr_cuda_memcpy_d2d((void *)16, (void *)32, 64);
  if (s == LR_OK) s = lr_cuda_synchronize();
  cr_assert_eq(s, LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), ": CUDA error cuda"), "%s", lr_last_error());
}

/* ---- graphs ---- */
typedef struct {
  lr_tensor *x; /* persistent, the graph's state */
  void *tmp;    /* the temporary of the last capture or call */
  lr_tensor *kept; /* a persistent tensor fn made (once, when keep is set) */
  bool keep;
  int host; /* 1: wait on the device inside fn; 2: fail; 3: capture inside the capture */
} dbl_arg;

/* x <- 2 x + 1, through a temporary in the arena */
static lr_status dbl(void *p) {
  dbl_arg *a = p;
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  lr_tensor *y;
  lr_status s = lr_affine(a->x, 2.0, 1.0, &y);
  if (s == LR_OK) {
    a->tmp = y->data;
    s = lr_tensor_copy_(a->x, y);
  }
  if (s == LR_OK && a->keep && !a->kept) s = lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(77), &a->kept);
  if (s == LR_OK && a->host == 1) s = lr_cuda_synchronize();
  if (s == LR_OK && a->host == 2) s = lr_fail(LR_ERR_SHAPE, "dbl: x is (2, 3)");
  if (s == LR_OK && a->host == 3) {
    lr_graph *inner = NULL;
    s = lr_graph_capture(LR_DEVICE_CUDA, graph_nop, NULL, &inner);
  }
  lr_arena_rewind(ar, m);
  return s;
}

static void expect_all(lr_tensor *x, float v) {
  float h[1000];
  cr_assert_eq(lr_tensor_copy_to_host(x, h, sizeof h), LR_OK);
  for (int i = 0; i < 1000; i++) cr_assert_eq(h[i], v, "x[%d] = %g, expected %g", i, h[i], v);
}

/* Capture runs nothing; each replay runs the recorded work again on the same buffers; the capture's
 * temporaries are reserved for the graph until it is freed. */
Test(cuda_runtime, graph_replays) {
  if (!have_gpu()) cr_skip_test("no GPU");
  lr_cuda_memstats st0, st1;
  lr_cuda_mem_stats(&st0);
  dbl_arg a = {0};
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(1000), &a.x), LR_OK);
  cr_assert_eq(lr_tensor_fill_(a.x, 1.0), LR_OK);
  cr_assert_eq(dbl(&a), LR_OK); /* eager: 3 */
  expect_all(a.x, 3);
  lr_graph *g = NULL;
  a.keep = true; /* made during the capture */
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, dbl, &a, &g), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_graph_device(g), LR_DEVICE_CUDA);
  expect_all(a.x, 3); /* nothing ran */
  void *tmp = a.tmp;
  cr_assert_not_null(a.kept);
  for (int i = 0; i < 3; i++) cr_assert_eq(lr_graph_replay(g), LR_OK);
  expect_all(a.x, 31); /* 3 -> 7 -> 15 -> 31 */
  /* the capture's temporary is not handed out meanwhile: an eager tensor of its size lands elsewhere,
   * and replays leave it alone */
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  lr_tensor *e;
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(1000), &e), LR_OK);
  cr_assert_neq(e->data, tmp);
  cr_assert_eq(lr_tensor_fill_(e, -5.0), LR_OK);
  cr_assert_eq(lr_graph_replay(g), LR_OK);
  expect_all(a.x, 63);
  expect_all(e, -5);
  /* a block the capture made and kept returns to the graph when freed, not to others */
  void *kept = a.kept->data;
  lr_tensor_free(a.kept);
  lr_tensor *k2;
  cr_assert_eq(lr_empty_on(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(77), &k2), LR_OK);
  cr_assert_neq(k2->data, kept);
  lr_arena_rewind(ar, m);
  /* the eager call still works beside the graph, and the graph after it */
  cr_assert_eq(dbl(&a), LR_OK);
  cr_assert_eq(lr_graph_replay(g), LR_OK);
  expect_all(a.x, 255);
  lr_graph_free(g);
  lr_tensor_free(a.x);
  lr_cuda_mem_stats(&st1);
  cr_assert_eq(st1.current_bytes, st0.current_bytes, "every block is back: %zu vs %zu", st1.current_bytes,
               st0.current_bytes);
}

/* a <- (a b)[:, :48] with a (64, 48), b (48, 64): cuBLAS inside the recording */
typedef struct {
  lr_tensor *a, *b;
} mm_arg;

static lr_status mm_step(void *p) {
  mm_arg *m = p;
  lr_arena *ar = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(ar);
  lr_tensor *c, *cn;
  lr_status s = lr_matmul(m->a, m->b, &c);
  if (s == LR_OK) s = lr_tensor_narrow(c, 1, 0, 48, &cn);
  if (s == LR_OK) s = lr_tensor_copy_(m->a, cn);
  lr_arena_rewind(ar, mk);
  return s;
}

/* cuBLAS work records too (its handle made before the capture, as graph.h asks). */
Test(cuda_runtime, graph_records_cublas) {
  if (!have_gpu()) cr_skip_test("no GPU");
  mm_arg m;
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(64, 48), &m.a), LR_OK);
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(48, 64), &m.b), LR_OK);
  cr_assert_eq(lr_tensor_fill_(m.b, 0.25), LR_OK);
  cr_assert_eq(mm_step(&m), LR_OK); /* makes the handle (a stays 0) */
  cr_assert_eq(lr_tensor_fill_(m.a, 0.5), LR_OK);
  lr_graph *g = NULL;
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, mm_step, &m, &g), LR_OK, "%s", lr_last_error());
  for (int i = 0; i < 2; i++) cr_assert_eq(lr_graph_replay(g), LR_OK);
  /* 0.5 -> 0.5 * 0.25 * 48 = 6 -> 6 * 0.25 * 48 = 72, exact in f32 */
  static float h[64 * 48];
  cr_assert_eq(lr_tensor_copy_to_host(m.a, h, sizeof h), LR_OK);
  for (int i = 0; i < 64 * 48; i++) cr_assert_eq(h[i], 72.0f, "a[%d] = %g", i, h[i]);
  lr_graph_free(g);
  lr_tensor_free(m.a);
  lr_tensor_free(m.b);
}

Test(cuda_runtime, graph_capture_errors) {
  if (!have_gpu()) cr_skip_test("no GPU");
  dbl_arg a = {0};
  cr_assert_eq(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, LR_SHAPE(1000), &a.x), LR_OK);
  lr_graph *g = NULL;
  a.host = 1; /* waits on the device: refused, and the stream works afterwards */
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, dbl, &a, &g), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_graph_capture: fn failed: lr_cuda_synchronize: CUDA error"), "%s",
            lr_last_error());
  cr_assert_null(g);
  a.host = 2; /* fn's own error */
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, dbl, &a, &g), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_graph_capture: fn failed: dbl: x is (2, 3)");
  a.host = 3; /* one capture at a time */
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, dbl, &a, &g), LR_ERR_STATE);
  cr_assert(strstr(lr_last_error(), "another capture is under way"), "%s", lr_last_error());
  cr_assert_null(g);
  a.host = 0;
  cr_assert_eq(lr_tensor_fill_(a.x, 0.0), LR_OK);
  cr_assert_eq(dbl(&a), LR_OK);
  expect_all(a.x, 1);
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, dbl, &a, &g), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_graph_replay(g), LR_OK);
  expect_all(a.x, 3);
  lr_graph_free(g);
  lr_tensor_free(a.x);
}
#endif
