/* `lrnnx bench models [--device cpu|cuda] [--grid small|lrnnx|all] [--models LIST] [--reps N]
 * [--warmup N] [--gen-reps N] [--what all|train|gen]`: the models' training step and generation
 * time on lrnnx's benchmark grid, next to lrnnx's own figures (../shared/anchors.md).
 *
 * Models (each built through its registry entry, nn/registry.h, f32, d_state N, seed 0):
 *   S5       S5_LTI, zoh (FFT convolution): lrnnx's benchmark "S5"
 *   LRU      LRU
 *   Mamba    Mamba (d_conv 4, expand 2, discretization mamba)
 *   S4D      S4D (transposed false, zoh, the Linear + GELU head)
 *   S5-scan  S5 (the LTV scan, zoh)
 *   RGLRU    RGLRU (expand 1, d_conv 4)
 *   S7       S7
 *   S4       S4 (DPLR, transposed false)
 *   Centaurus Centaurus (neck, sub_state_dim 4)
 * and any other registered model (S4, Centaurus, ...) with guessed arguments ({d_model, d_state,
 * transposed false}, then without transposed, then d_model alone; skipped with a note when none
 * builds).
 *
 * Training step: y = forward(x) on x (B, L, H) (no gradient for x, as lrnnx's x = torch.randn),
 * then lr_backward(sum(y)): lrnnx's `y.sum().backward()`, no optimizer step. Parameter gradients
 * accumulate across runs as in PyTorch; the arena is rewound after each run.
 * Generation: the cache for (B, L) is allocated (not timed), then L steps from x0 (B, H), each
 * output fed back as the next input (copied into the input buffer on the device), grad mode off, the
 * arena rewound after every step: the whole L steps timed. As lrnnx does, the step is recorded once
 * as a CUDA graph (tensor/graph.h; the recording not timed) and replayed L times; on CUDA the
 * same generation launched op by op is timed too ("eager"), and the counters are that run's (a
 * replay launches no op from the host). On the CPU a replay is the step itself.
 *
 * Grids: small = B 8, L 512, H 128 (the CPU anchor; the CPU default); lrnnx = B 32, L {128, 512,
 * 2048}, H 128 and B 8, L 4096, H 1024 (the CUDA default); all = lrnnx plus B 16, L 8192, H 512,
 * N 64. N = 16 unless stated. --shape B,L,H[,N] times that one point instead of the grid. Generation: B 32, H 128, N 16, L {128, 512}.
 * Timing: cudaEvents around each call on the context's stream (GPU), a monotonic clock (CPU);
 * --warmup runs (default 10 on CUDA, 1 on the CPU), then the median of --reps (50 / 5); generation
 * --gen-reps after 3 (CUDA) or 1 (CPU) warm-ups (default 10 / 3). lrnnx's protocol: 50 after 10,
 * generation 10 after 3.
 * On CUDA three counters are read around the timed calls, from lr_cuda_mem_stats, before the
 * closing event's wait: cudaMalloc calls during all timed runs (0 once the caching allocator is
 * warm), host waits per call (device-to-host copies, stream synchronisations: there should be none
 * inside forward or backward) and host-to-device uploads per call. A non-zero wait count names an
 * op that synchronises; the command then says so under the table.
 * Columns: lrnnx = the anchor's ms (H200 on CUDA; 2-thread CPU on the CPU), ours = our median ms,
 * ratio = ours / lrnnx (above 1: slower than lrnnx).
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "nn/registry.h"
#include "ops/ops.h"
#include "tensor/graph.h"
#include "tools/tools.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

#define P "lrnnx bench models"

/* ---- the anchors (../shared/anchors.md) ---- */
typedef struct {
  int gpu; /* 1: H200, 0: CPU with 2 threads */
  int gen; /* 0: training step at (B, L, H, N); 1: generation of L steps at B 32, H 128, N 16 */
  int64_t B, L, H, N;
  const char *model;
  double ms;
} anchor;

static const anchor anchors[] = {
    {1, 0, 32, 128, 128, 16, "S5", 3.56},     {1, 0, 32, 128, 128, 16, "LRU", 3.06},
    {1, 0, 32, 128, 128, 16, "Mamba", 3.28},  {1, 0, 32, 512, 128, 16, "S5", 3.89},
    {1, 0, 32, 512, 128, 16, "LRU", 3.45},    {1, 0, 32, 512, 128, 16, "Mamba", 3.12},
    {1, 0, 32, 2048, 128, 16, "S5", 3.61},    {1, 0, 32, 2048, 128, 16, "LRU", 3.16},
    {1, 0, 32, 2048, 128, 16, "Mamba", 5.85}, {1, 0, 8, 4096, 1024, 16, "S5", 7.16},
    {1, 0, 8, 4096, 1024, 16, "LRU", 3.16},   {1, 0, 8, 4096, 1024, 16, "Mamba", 42.8},
    {1, 0, 16, 8192, 512, 64, "S5", 12.2},    {1, 0, 16, 8192, 512, 64, "LRU", 8.12},
    {1, 0, 16, 8192, 512, 64, "Mamba", 124.1}, {1, 1, 32, 128, 128, 16, "S5", 3.89},
    {1, 1, 32, 128, 128, 16, "LRU", 3.47},    {1, 1, 32, 128, 128, 16, "Mamba", 5.71},
    {1, 1, 32, 512, 128, 16, "S5", 15.6},     {1, 1, 32, 512, 128, 16, "LRU", 15.2},
    {1, 1, 32, 512, 128, 16, "Mamba", 22.8},  {0, 0, 8, 512, 128, 16, "S5", 13.6},
    {0, 0, 8, 512, 128, 16, "LRU", 11.2},
};

static double anchor_ms(int gpu, int gen, int64_t B, int64_t L, int64_t H, int64_t N, const char *model) {
  for (size_t i = 0; i < sizeof anchors / sizeof anchors[0]; i++) {
    const anchor *a = &anchors[i];
    if (a->gpu == gpu && a->gen == gen && a->B == B && a->L == L && a->H == H && a->N == N && !strcmp(a->model, model))
      return a->ms;
  }
  return NAN;
}

/* ---- the models ---- */
typedef struct {
  const char *label;    /* column name */
  const char *registry; /* registry name */
  const char *extra;    /* extra JSON keys after d_model/d_state; NULL: guess */
  bool no_state;        /* RGLRU: no d_state argument */
} bmodel;

static const bmodel known_models[] = {
    {"S5", "S5_LTI", ", \"discretization\": \"zoh\"", false},
    {"LRU", "LRU", "", false},
    {"Mamba", "Mamba", "", false},
    {"S4D", "S4D", ", \"transposed\": false", false},
    {"S5-scan", "S5", "", false},
    {"RGLRU", "RGLRU", "", true},
    {"S7", "S7", "", false},
    {"S4", "S4", ", \"transposed\": false", false},
    {"Centaurus", "Centaurus", ", \"sub_state_dim\": 4", false},
};
#define N_KNOWN (int)(sizeof known_models / sizeof known_models[0])

static lr_status create_json(const lr_model_def *def, const char *json, lr_module **m) {
  cJSON *js = cJSON_Parse(json);
  if (!js) return lr_fail(LR_ERR_ARG, P ": bad JSON %s", json);
  lr_status s = def->create(js, m);
  cJSON_Delete(js);
  return s;
}

/* Builds model bm (or a registered model of that name with guessed args) for H, N. */
static lr_status build(const bmodel *bm, int64_t H, int64_t N, lr_module **m, const lr_model_def **def) {
  *def = lr_model_find(bm->registry);
  if (!*def) return lr_fail(LR_ERR_ARG, P ": model %s is not registered", bm->registry);
  char js[256];
  if (bm->extra) {
    if (bm->no_state) snprintf(js, sizeof js, "{\"d_model\": %lld%s}", (long long)H, bm->extra);
    else snprintf(js, sizeof js, "{\"d_model\": %lld, \"d_state\": %lld%s}", (long long)H, (long long)N, bm->extra);
    return create_json(*def, js, m);
  }
  lr_status s = LR_ERR_ARG;
  for (int k = 0; k < 3 && s != LR_OK; k++) {
    if (k == 0) snprintf(js, sizeof js, "{\"d_model\": %lld, \"d_state\": %lld, \"transposed\": false}", (long long)H, (long long)N);
    else if (k == 1) snprintf(js, sizeof js, "{\"d_model\": %lld, \"d_state\": %lld}", (long long)H, (long long)N);
    else snprintf(js, sizeof js, "{\"d_model\": %lld}", (long long)H);
    s = create_json(*def, js, m);
  }
  return s;
}

/* ---- timing ---- */
typedef struct {
  lr_device dev;
  int reps, warmup, gen_reps, gen_warmup;
  double *times;
#ifdef LR_CUDA
  lr_cuda_timer *tm;
#endif
  int n_syncing;          /* rows with host waits inside the timed calls */
  char syncing[1024];     /* their names */
} bctx;

typedef struct {
  uint64_t mallocs, syncs, h2d;
} counters;

static void read_counters(counters *c) {
  memset(c, 0, sizeof *c);
#ifdef LR_CUDA
  lr_cuda_memstats st;
  lr_cuda_mem_stats(&st);
  c->mallocs = st.n_cuda_malloc;
  c->syncs = st.n_sync;
  c->h2d = st.n_h2d;
#endif
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef lr_status (*call_fn)(void *arg);

/* One call between the timer's marks; the counters' deltas (read before the closing wait) are
 * added to *d. */
static lr_status time_one(bctx *b, call_fn fn, void *arg, double *ms, counters *d) {
  counters c0, c1;
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) {
    LR_TRY(lr_cuda_timer_start(b->tm));
    read_counters(&c0);
    lr_status s = fn(arg);
    read_counters(&c1);
    double t = 0;
    lr_status s2 = lr_cuda_timer_stop(b->tm, &t);
    LR_TRY(s);
    LR_TRY(s2);
    *ms = t;
    d->mallocs += c1.mallocs - c0.mallocs;
    d->syncs += c1.syncs - c0.syncs;
    d->h2d += c1.h2d - c0.h2d;
    return LR_OK;
  }
#endif
  (void)c0, (void)c1, (void)d;
  double t0 = now_ms();
  LR_TRY(fn(arg));
  *ms = now_ms() - t0;
  return LR_OK;
}

/* Median of reps timed calls after warmup ones; the arena rewound after each; d: the counters of
 * the timed calls. */
static lr_status measure(bctx *b, int warmup, int reps, call_fn fn, void *arg, double *median, counters *d) {
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  memset(d, 0, sizeof *d);
  for (int r = -warmup; r < reps; r++) {
    counters junk = {0};
    double t;
    lr_status s = time_one(b, fn, arg, &t, r >= 0 ? d : &junk);
    lr_arena_rewind(a, mk);
    LR_TRY(s);
    if (r >= 0) b->times[r] = t;
  }
  qsort(b->times, (size_t)reps, sizeof(double), cmp_d);
  *median = reps % 2 ? b->times[reps / 2] : 0.5 * (b->times[reps / 2 - 1] + b->times[reps / 2]);
  return LR_OK;
}

/* ---- the calls ---- */
typedef struct {
  const lr_model_def *def;
  lr_module *m;
  lr_tensor *x;    /* training: (B, L, H); generation: the (B, H) input buffer */
  void *cache;     /* generation */
  int64_t L;       /* generation steps */
  lr_graph *g;     /* generation: one step recorded (gen_step) */
} call_args;

static lr_status train_step(void *p) {
  call_args *a = p;
  lr_tensor *y, *loss;
  LR_TRY(a->def->forward(a->m, a->x, NULL, NULL, &y));
  LR_TRY(lr_sum(y, 0, NULL, false, &loss));
  return lr_backward(loss, NULL);
}

/* One generation step: y = step(x), fed back into x. */
static lr_status gen_step(void *p) {
  call_args *a = p;
  lr_arena *ar = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(ar);
  lr_tensor *y;
  lr_status s = a->def->step(a->m, a->cache, a->x, NULL, &y);
  if (s == LR_OK && !lr_same_shape(y, a->x))
    s = lr_fail(LR_ERR_SHAPE, P ": %s's step output cannot be fed back as its input", a->def->name);
  if (s == LR_OK) s = lr_tensor_copy_(a->x, y);
  lr_arena_rewind(ar, mk);
  return s;
}

/* L steps, each launched op by op */
static lr_status generate(void *p) {
  call_args *a = p;
  for (int64_t t = 0; t < a->L; t++) LR_TRY(gen_step(a));
  return LR_OK;
}

/* L replays of the recorded step */
static lr_status generate_graph(void *p) {
  call_args *a = p;
  for (int64_t t = 0; t < a->L; t++) LR_TRY(lr_graph_replay(a->g));
  return LR_OK;
}

/* ---- inputs ---- */
static void fill_uniform(float *p, int64_t n, uint64_t seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  for (int64_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = (float)((double)(x >> 11) * 0x1.0p-52 - 1.0);
  }
}

static lr_status rand_tensor(lr_device dev, int ndim, const int64_t *shape, uint64_t seed, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_tensor_new(LR_DTYPE_F32, dev, ndim, shape, &t));
  int64_t n = lr_numel(t);
  float *h = malloc(sizeof(float) * (size_t)(n ? n : 1));
  if (!h) {
    lr_tensor_free(t);
    return lr_fail(LR_ERR_MEMORY, P ": cannot allocate %lld floats on the host", (long long)n);
  }
  fill_uniform(h, n, seed);
  lr_status s = lr_tensor_copy_from_host(t, h, sizeof(float) * (size_t)n);
  free(h);
  if (s != LR_OK) {
    lr_tensor_free(t);
    return s;
  }
  *out = t;
  return LR_OK;
}

/* ---- the table ---- */
static void print_ms(FILE *out, double v) {
  if (isnan(v)) fprintf(out, " %9s |", "-");
  else fprintf(out, " %9.3g |", v);
}

static void note_sync(bctx *b, const char *what) {
  b->n_syncing++;
  size_t k = strlen(b->syncing);
  snprintf(b->syncing + k, sizeof b->syncing - k, "%s%s", k ? "; " : "", what);
}

static void row_tail(bctx *b, FILE *out, const char *label, double ours, double ref, const counters *c, int calls) {
  print_ms(out, ref);
  print_ms(out, ours);
  if (isnan(ref) || isnan(ours)) fprintf(out, " %6s |", "-");
  else fprintf(out, " %6.2f |", ours / ref);
  if (b->dev == LR_DEVICE_CUDA) {
    fprintf(out, " %7llu | %6.1f | %6.1f |", (unsigned long long)c->mallocs, (double)c->syncs / calls,
            (double)c->h2d / calls);
    if (c->syncs) note_sync(b, label);
  }
  fprintf(out, "\n");
}

typedef struct {
  int64_t B, L, H, N;
} point;

static bool selected(const char *list, const char *label) {
  if (!list) return true;
  size_t n = strlen(label);
  for (const char *p = list; *p;) {
    size_t k = strcspn(p, ",");
    if (k == n && !strncmp(p, label, n)) return true;
    p += k + (p[k] == ',');
  }
  return false;
}

/* The models to run: the known ones, then every other registered model (not Linear). */
static int model_list(bmodel *v, int max) {
  int n = 0;
  for (int i = 0; i < N_KNOWN && n < max; i++) v[n++] = known_models[i];
  for (int i = 0; i < lr_model_count() && n < max; i++) {
    const char *name = lr_model_at(i)->name;
    bool k = !strcmp(name, "Linear");
    for (int j = 0; j < N_KNOWN; j++) k = k || !strcmp(known_models[j].registry, name);
    if (!k) v[n++] = (bmodel){name, name, NULL, false};
  }
  return n;
}

static void train_table(bctx *b, FILE *out, const point *pts, int np, const char *list) {
  bool gpu = b->dev == LR_DEVICE_CUDA;
  fprintf(out, "\nTraining step (forward + backward of sum(y)), f32, ms: median of %d after %d warm-up%s\n\n", b->reps,
          b->warmup, b->warmup == 1 ? "" : "s");
  fprintf(out, "| B | L | H | N | model | lrnnx (%s) ms | ours ms | ours/lrnnx |%s\n", gpu ? "H200" : "CPU 2 thr",
          gpu ? " cudaMalloc | waits/call | uploads/call |" : "");
  fprintf(out, "|---|---|---|---|---|---|---|---|%s\n", gpu ? "---|---|---|" : "");
  bmodel ms[32];
  int nm = model_list(ms, 32);
  for (int p = 0; p < np; p++) {
    const point *q = &pts[p];
    lr_tensor *x = NULL;
    if (rand_tensor(b->dev, LR_SHAPE(q->B, q->L, q->H), 1, &x) != LR_OK) {
      fprintf(out, "| %lld | %lld | %lld | %lld | (input) | %s |\n", (long long)q->B, (long long)q->L, (long long)q->H,
              (long long)q->N, lr_last_error());
      continue;
    }
    for (int i = 0; i < nm; i++) {
      if (!selected(list, ms[i].label)) continue;
      fprintf(out, "| %lld | %lld | %lld | %lld | %s |", (long long)q->B, (long long)q->L, (long long)q->H, (long long)q->N,
              ms[i].label);
      fflush(out);
      call_args a = {0};
      lr_module *m = NULL;
      counters c = {0};
      double med = NAN;
      lr_status s = build(&ms[i], q->H, q->N, &m, &a.def);
      if (s == LR_OK && b->dev != LR_DEVICE_CPU) s = lr_module_to(m, b->dev);
      if (s == LR_OK) {
        a.m = m;
        a.x = x;
        bool prev = lr_set_grad_enabled(true);
        s = measure(b, b->warmup, b->reps, train_step, &a, &med, &c);
        lr_set_grad_enabled(prev);
      }
      if (s != LR_OK) fprintf(out, " failed: %s |\n", lr_last_error());
      else {
        char what[96];
        snprintf(what, sizeof what, "%s training at B %lld L %lld H %lld", ms[i].label, (long long)q->B, (long long)q->L,
                 (long long)q->H);
        row_tail(b, out, what, med, anchor_ms(gpu, 0, q->B, q->L, q->H, q->N, ms[i].label), &c, b->reps);
      }
      lr_module_free(m);
      fflush(out);
    }
    lr_tensor_free(x);
  }
}

/* The median ms of b->gen_reps generations of L steps (after b->gen_warmup), each from a fresh
 * cache and the same x0; graph: the step recorded once per generation (not timed) and replayed. */
static lr_status gen_time(bctx *b, call_args *a, lr_tensor *x0, int64_t B, bool graph, double *med, counters *c) {
  lr_status s = LR_OK;
  for (int r = -b->gen_warmup; s == LR_OK && r < b->gen_reps; r++) {
    if (a->def->allocate_cache) LR_TRY(a->def->allocate_cache(a->m, B, a->L, &a->cache));
    s = lr_tensor_copy_(a->x, x0); /* the same start every rep */
    if (s == LR_OK && graph) s = lr_graph_capture(b->dev, gen_step, a, &a->g);
    counters junk = {0};
    double t = 0;
    if (s == LR_OK) s = time_one(b, graph ? generate_graph : generate, a, &t, r >= 0 ? c : &junk);
    lr_graph_free(a->g);
    a->g = NULL;
    if (a->def->free_cache) a->def->free_cache(a->m, a->cache);
    a->cache = NULL;
    if (r >= 0) b->times[r] = t;
  }
  LR_TRY(s);
  int n = b->gen_reps;
  qsort(b->times, (size_t)n, sizeof(double), cmp_d);
  *med = n % 2 ? b->times[n / 2] : 0.5 * (b->times[n / 2 - 1] + b->times[n / 2]);
  return LR_OK;
}

static void gen_table(bctx *b, FILE *out, const char *list) {
  bool gpu = b->dev == LR_DEVICE_CUDA;
  const int64_t B = 32, H = 128, N = 16, Ls[] = {128, 512};
  fprintf(out, "\nGeneration (B %lld, H %lld, N %lld; each output fed back as the next input), f32, ms for all L steps: "
          "median of %d after %d warm-up%s%s\n\n",
          (long long)B, (long long)H, (long long)N, b->gen_reps, b->gen_warmup, b->gen_warmup == 1 ? "" : "s",
          gpu ? "; ours: the step recorded as a CUDA graph and replayed, eager: launched op by op" : "");
  fprintf(out, "| L | model | lrnnx (%s) ms | ours ms | ours/lrnnx | ours us/step |%s\n", gpu ? "H200, CUDA graph" : "-",
          gpu ? " eager us/step | cudaMalloc | waits/step | uploads/step |" : "");
  fprintf(out, "|---|---|---|---|---|---|%s\n", gpu ? "---|---|---|---|" : "");
  bmodel ms[32];
  int nm = model_list(ms, 32);
  for (int l = 0; l < 2; l++) {
    for (int i = 0; i < nm; i++) {
      if (!selected(list, ms[i].label)) continue;
      fprintf(out, "| %lld | %s |", (long long)Ls[l], ms[i].label);
      fflush(out);
      call_args a = {0};
      lr_module *m = NULL;
      counters c = {0}, ce = {0};
      lr_status s = build(&ms[i], H, N, &m, &a.def);
      if (s == LR_OK && !a.def->step) s = lr_fail(LR_ERR_UNSUPPORTED, "%s has no step mode", a.def->name);
      if (s == LR_OK && b->dev != LR_DEVICE_CPU) s = lr_module_to(m, b->dev);
      lr_tensor *x0 = NULL;
      if (s == LR_OK) s = rand_tensor(b->dev, LR_SHAPE(B, H), 2, &x0);
      if (s == LR_OK) s = lr_tensor_new(LR_DTYPE_F32, b->dev, LR_SHAPE(B, H), &a.x);
      bool prev = lr_set_grad_enabled(false);
      a.m = m;
      a.L = Ls[l];
      double med = NAN, med_e = NAN;
      /* one eager step first: lazy set-up (cuBLAS, plans) must not fall inside a capture */
      if (s == LR_OK && a.def->allocate_cache) s = a.def->allocate_cache(m, B, Ls[l], &a.cache);
      if (s == LR_OK) s = lr_tensor_copy_(a.x, x0);
      if (s == LR_OK) s = gen_step(&a);
      if (a.cache && a.def->free_cache) a.def->free_cache(m, a.cache);
      a.cache = NULL;
      if (s == LR_OK) s = gen_time(b, &a, x0, B, true, &med, &c);
      if (s == LR_OK && gpu) s = gen_time(b, &a, x0, B, false, &med_e, &ce);
      lr_set_grad_enabled(prev);
      if (s != LR_OK) fprintf(out, " failed: %s |\n", lr_last_error());
      else {
        double ref = anchor_ms(gpu, 1, B, Ls[l], H, N, ms[i].label);
        print_ms(out, ref);
        print_ms(out, med);
        if (isnan(ref)) fprintf(out, " %6s |", "-");
        else fprintf(out, " %6.2f |", med / ref);
        fprintf(out, " %7.1f |", 1e3 * med / (double)Ls[l]);
        if (gpu) {
          double steps = (double)b->gen_reps * (double)Ls[l];
          fprintf(out, " %7.1f | %7llu | %6.2f | %6.2f |", 1e3 * med_e / (double)Ls[l],
                  (unsigned long long)(c.mallocs + ce.mallocs), (double)ce.syncs / steps, (double)ce.h2d / steps);
          if (ce.syncs) {
            char what[96];
            snprintf(what, sizeof what, "%s generation at L %lld", ms[i].label, (long long)Ls[l]);
            note_sync(b, what);
          }
        }
        fprintf(out, "\n");
      }
      lr_tensor_free(a.x);
      lr_tensor_free(x0);
      lr_module_free(m);
      fflush(out);
    }
  }
}

/* The CPU header: threads, OMP_WAIT_POLICY and the load average. libgomp's default wait policy
 * spins at every barrier: on cores shared with other processes (load above the thread count) the
 * spinning thread takes the core from the one with work, and small ops slow down by 10x or more;
 * OMP_WAIT_POLICY=passive avoids that. */
static void cpu_header(FILE *out) {
  int nt = omp_get_max_threads();
  const char *wp = getenv("OMP_WAIT_POLICY");
  double load = -1;
  FILE *f = fopen("/proc/loadavg", "r");
  if (f) {
    if (fscanf(f, "%lf", &load) != 1) load = -1;
    fclose(f);
  }
  fprintf(out, P ": cpu, %d OpenMP thread%s, OMP_WAIT_POLICY %s", nt, nt == 1 ? "" : "s", wp && *wp ? wp : "unset");
  if (load >= 0) fprintf(out, ", load average %.2f", load);
  fprintf(out, "\n");
  if (load > nt && !(wp && !strcasecmp(wp, "passive")))
    fprintf(out, "(the load exceeds the thread count and OpenMP threads spin while waiting: expect inflated times; "
                 "OMP_WAIT_POLICY=passive helps)\n");
}

int lr_tool_bench_models(int argc, char **argv, FILE *out, FILE *err) {
  bctx b = {0};
  b.dev = LR_DEVICE_CPU;
  const char *grid = NULL, *list = NULL, *what = "all";
  int reps = -1, warmup = -1, gen_reps = -1;
  point custom = {0};
  bool has_custom = false;
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    if (i + 1 >= argc) {
      fprintf(err, P ": %s needs a value\n", o);
      return 2;
    }
    const char *v = argv[++i];
    if (!strcmp(o, "--device")) {
      if (!strcmp(v, "cpu")) b.dev = LR_DEVICE_CPU;
      else if (!strcmp(v, "cuda")) b.dev = LR_DEVICE_CUDA;
      else {
        fprintf(err, P ": --device is \"%s\", expected cpu or cuda\n", v);
        return 2;
      }
    } else if (!strcmp(o, "--grid")) {
      if (strcmp(v, "small") && strcmp(v, "lrnnx") && strcmp(v, "all")) {
        fprintf(err, P ": --grid is \"%s\", expected small, lrnnx or all\n", v);
        return 2;
      }
      grid = v;
    } else if (!strcmp(o, "--shape")) {
      long v4[4] = {0, 0, 0, 16};
      int k = lr_tool_parse_sizes(v, v4, 4, 1L << 24, err);
      if (k < 3) {
        if (k > 0) fprintf(err, P ": --shape is \"%s\", expected B,L,H or B,L,H,N\n", v);
        return 2;
      }
      custom = (point){v4[0], v4[1], v4[2], v4[3]};
      has_custom = true;
    } else if (!strcmp(o, "--models")) {
      list = v;
    } else if (!strcmp(o, "--what")) {
      if (strcmp(v, "all") && strcmp(v, "train") && strcmp(v, "gen")) {
        fprintf(err, P ": --what is \"%s\", expected all, train or gen\n", v);
        return 2;
      }
      what = v;
    } else {
      char *end;
      long x = strtol(v, &end, 10);
      bool zero_ok = !strcmp(o, "--warmup");
      if (*end || x < (zero_ok ? 0 : 1) || x > 100000) {
        fprintf(err, P ": %s \"%s\" is not a %s integer\n", o, v, zero_ok ? "non-negative" : "positive");
        return 2;
      }
      if (!strcmp(o, "--reps")) reps = (int)x;
      else if (!strcmp(o, "--warmup")) warmup = (int)x;
      else if (!strcmp(o, "--gen-reps")) gen_reps = (int)x;
      else {
        fprintf(err, P ": unknown option %s\n", o);
        return 2;
      }
    }
  }
  bool gpu = b.dev == LR_DEVICE_CUDA;
  if (!grid) grid = gpu ? "lrnnx" : "small";
  b.reps = reps > 0 ? reps : gpu ? 50 : 5;
  b.warmup = warmup >= 0 ? warmup : gpu ? 10 : 1;
  b.gen_reps = gen_reps > 0 ? gen_reps : gpu ? 10 : 3;
  b.gen_warmup = gpu ? 3 : 1;
#ifndef LR_CUDA
  if (gpu) {
    fprintf(err, P ": built without CUDA\n");
    return 1;
  }
  cpu_header(out);
#else
  if (gpu) {
    if (lr_cuda_init() != LR_OK || lr_cuda_timer_new(&b.tm) != LR_OK) {
      fprintf(err, P ": %s\n", lr_last_error());
      return 1;
    }
    fprintf(out, P ": cuda, %s, TF32 %s\n", lr_cuda_device_name(), lr_cuda_tf32() ? "on" : "off");
  } else {
    cpu_header(out);
  }
#endif
  static const point small[] = {{8, 512, 128, 16}};
  static const point lrnnx[] = {{32, 128, 128, 16}, {32, 512, 128, 16}, {32, 2048, 128, 16}, {8, 4096, 1024, 16},
                                {16, 8192, 512, 64}};
  const point *pts = has_custom ? &custom : !strcmp(grid, "small") ? small : lrnnx;
  int np = has_custom ? 1 : !strcmp(grid, "small") ? 1 : !strcmp(grid, "lrnnx") ? 4 : 5;
  int nt = b.reps > b.gen_reps ? b.reps : b.gen_reps;
  b.times = malloc(sizeof(double) * (size_t)nt);
  if (!b.times) {
    fprintf(err, P ": out of memory\n");
    return 1;
  }
  lr_arena *arena = NULL;
  if (lr_arena_new(0, &arena) != LR_OK) {
    free(b.times);
    fprintf(err, P ": %s\n", lr_last_error());
    return 1;
  }
  lr_arena *prev = lr_arena_use(arena);
  if (strcmp(what, "gen")) train_table(&b, out, pts, np, list);
  if (strcmp(what, "train")) gen_table(&b, out, list);
  if (gpu) {
    if (b.n_syncing)
      fprintf(out, "\nHost waits inside the timed calls (an op synchronises): %s\n", b.syncing);
    else
      fprintf(out, "\nNo host waits inside any timed call.\n");
  }
  lr_arena_use(prev);
  lr_arena_free(arena);
  free(b.times);
#ifdef LR_CUDA
  if (b.tm) lr_cuda_timer_free(b.tm);
#endif
  return 0;
}
