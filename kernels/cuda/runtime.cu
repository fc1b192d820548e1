/* The CUDA runtime of lrnnx: per-process context, caching allocator, copies, error conversion,
 * and the tensor layer's device hooks.
 *
 * Context: created lazily under a mutex on first use (device 0, one non-blocking stream; on the
 * first lr_cuda_blas a cuBLAS handle with a 32 MiB workspace, the size NVIDIA recommends for
 * Hopper; cuBLAS itself is loaded then, see cublas_lazy.cu), released by an atexit handler. Every kernel and copy runs on the one stream, so work is ordered: a block freed
 * on the host can be handed to the next allocation at once, since any kernel that still reads it
 * was queued before any kernel that will write it.
 *
 * Why CUDA is unavailable is decided once, from cudaGetDeviceCount: no driver (libcuda.so.1 cannot
 * be loaded), a driver older than this runtime, or no device; every later request repeats it.
 *
 * Allocator: size classes (see lr_cuda_size_class), free lists per class, live blocks in a hash
 * table keyed by pointer so a free finds its class. Block records are recycled, so the steady
 * state calls neither cudaMalloc nor malloc. LRNNX_CUDA_NO_CACHE=1: exact sizes, freed at once.
 *
 * Graphs (tensor/graph.h): a capture records the stream in relaxed mode (allocations may still
 * call cudaMalloc) and gives the blocks it allocates to its own pool: a pool block freed, during
 * the capture or later, goes to the pool's free list, which only later allocations of the same
 * capture draw from; so the temporaries a recording writes are never handed to anyone else while
 * it can be replayed. lr_graph_free returns the pool's free blocks to the cache (a replay still
 * queued runs before any later use: one stream) and the pool's live ones to the general rules.
 *
 * Copies: up to 1 MiB straight with cudaMemcpyAsync (pageable H2D returns once the source is
 * staged by the driver); larger ones go through two pinned 8 MiB chunks, so the host memcpy of
 * one chunk overlaps the DMA of the other. An event per chunk, recorded after every DMA that
 * touches it, says when the host may reuse it.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>

#include "kernels/cuda/common.cuh"

namespace {

const size_t kSmallMax = 1u << 20;        /* 1 MiB: classes of 512 B below */
const size_t kSmallStep = 512;
const size_t kMidMax = 64u << 20;         /* 64 MiB: classes of 2 MiB below */
const size_t kMidStep = 2u << 20;
const int kSmallClasses = (int)(kSmallMax / kSmallStep);
const size_t kStageMin = 1u << 20;        /* copies from this size use the pinned chunks */
const size_t kStageChunk = 8u << 20;
const size_t kBlasWorkspace = 32u << 20;
const int kHashBuckets = 4096;

struct Pool;

struct Block {
  void *ptr;
  size_t size; /* the class size (exact size when not caching) */
  Block *next; /* in a free list, a hash chain or the spare list */
  Pool *pool;  /* the graph that owns it, or NULL */
};

/* A graph's blocks: the free ones are reserved for its capture and replays */
struct Pool {
  Block *free;
};

struct Graph {
  cudaGraphExec_t exec;
  Pool pool;
};

struct LargeClass {
  size_t size;
  Block *head;
  LargeClass *next; /* sorted by size */
};

pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;       /* the context, allocator, counters */
pthread_mutex_t stage_mu = PTHREAD_MUTEX_INITIALIZER; /* the pinned chunks */

struct Ctx {
  /* probe */
  bool probed;
  int ndev;
  lr_status why_code;
  char why[320];
  /* context */
  bool ready, released;
  cudaStream_t stream;
  cublasHandle_t blas;
  void *blas_ws;
  bool tf32;
  bool caching;
  /* allocator */
  Block *small_free[kSmallClasses];
  LargeClass *large;
  Block *live[kHashBuckets];
  Block *spare;
  Pool *capturing; /* the pool of the capture under way */
  lr_cuda_memstats st;
  /* staging */
  void *pin[2];
  cudaEvent_t pin_ev[2];
  bool pin_tried;
};

Ctx g; /* zero-initialised */

struct Lock {
  pthread_mutex_t *m;
  explicit Lock(pthread_mutex_t *mu) : m(mu) { pthread_mutex_lock(m); }
  ~Lock() { pthread_mutex_unlock(m); }
};

/* ---- probe: is there a driver and a device? (mu held) ---- */
void probe_locked() {
  if (g.probed) return;
  g.probed = true;
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e == cudaSuccess && n > 0) {
    g.ndev = n;
    return;
  }
  cudaGetLastError(); /* clear it: the failure is remembered here instead */
  g.ndev = 0;
  g.why_code = LR_ERR_DEVICE;
  const char *txt = e == cudaSuccess ? "no device reported" : cudaGetErrorString(e);
  if (e == cudaErrorInsufficientDriver) {
    void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h)
      snprintf(g.why, sizeof g.why, "no CUDA driver (libcuda.so.1 cannot be loaded; cudaGetDeviceCount: %s)", txt);
    else {
      dlclose(h);
      snprintf(g.why, sizeof g.why, "the CUDA driver is older than this build's CUDA runtime %d.%d (%s)",
               CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10, txt);
    }
  } else if (e == cudaSuccess || e == cudaErrorNoDevice) {
    snprintf(g.why, sizeof g.why, "no CUDA device (cudaGetDeviceCount: %s)", txt);
  } else {
    snprintf(g.why, sizeof g.why, "CUDA cannot be used (cudaGetDeviceCount: %s: %s)", cudaGetErrorName(e), txt);
  }
}

void release_at_exit();

/* Creates the context (mu held). */
lr_status init_locked(const char *fn) {
  if (g.ready) return LR_OK;
  if (g.released) return lr_fail(LR_ERR_STATE, "%s: the CUDA context was already released at exit", fn);
  probe_locked();
  if (g.ndev == 0) return lr_fail(g.why_code, "%s: %s", fn, g.why);
  LR_CUDA_TRY(fn, cudaSetDevice(0));
  LR_CUDA_TRY(fn, cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
  const char *nc = getenv("LRNNX_CUDA_NO_CACHE");
  g.caching = !(nc && nc[0] && strcmp(nc, "0") != 0);
  g.st.caching = g.caching;
  g.ready = true;
  atexit(release_at_exit);
  return LR_OK;
}

/* ---- allocator (mu held) ---- */
size_t size_class(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes <= kSmallMax) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  if (bytes <= kMidMax) return (bytes + kMidStep - 1) / kMidStep * kMidStep;
  /* four classes per octave: 2^k * {1, 1.25, 1.5, 1.75}; all are multiples of 2 MiB here */
  size_t p = kMidMax;
  while (p * 2 < bytes) p *= 2;
  size_t q = p / 4;
  return (bytes + q - 1) / q * q;
}

Block **free_list(size_t size, bool create) {
  if (size <= kSmallMax) return &g.small_free[size / kSmallStep - 1];
  LargeClass **pp = &g.large;
  while (*pp && (*pp)->size < size) pp = &(*pp)->next;
  if (*pp && (*pp)->size == size) return &(*pp)->head;
  if (!create) return NULL;
  LargeClass *c = (LargeClass *)calloc(1, sizeof *c);
  if (!c) return NULL;
  c->size = size;
  c->next = *pp;
  *pp = c;
  return &c->head;
}

unsigned hash_ptr(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p >> 9; /* cudaMalloc pointers are at least 512 B aligned */
  x ^= x >> 17;
  x *= 0x9E3779B97F4A7C15ull;
  return (unsigned)(x >> 40) % kHashBuckets;
}

Block *new_record() {
  Block *b = g.spare;
  if (b) { g.spare = b->next; return b; }
  return (Block *)malloc(sizeof(Block));
}

/* Frees every cached block; the stream is synchronised first by the caller or by cudaFree. */
void drop_cache_locked() {
  for (int i = 0; i < kSmallClasses; i++) {
    while (Block *b = g.small_free[i]) {
      g.small_free[i] = b->next;
      cudaFree(b->ptr);
      g.st.n_cuda_free++;
      g.st.cached_bytes -= b->size;
      b->next = g.spare;
      g.spare = b;
    }
  }
  for (LargeClass *c = g.large; c; c = c->next) {
    while (Block *b = c->head) {
      c->head = b->next;
      cudaFree(b->ptr);
      g.st.n_cuda_free++;
      g.st.cached_bytes -= b->size;
      b->next = g.spare;
      g.spare = b;
    }
  }
}

lr_status alloc_locked(size_t bytes, void **out) {
  const char *fn = "lr_cuda_alloc";
  LR_TRY(init_locked(fn));
  size_t size = g.caching ? size_class(bytes) : (bytes ? bytes : 1);
  g.st.n_alloc++;
  Block *b = NULL;
  if (g.capturing) /* a temporary the capture freed earlier */
    for (Block **pp = &g.capturing->free; *pp; pp = &(*pp)->next)
      if ((*pp)->size == size) {
        b = *pp;
        *pp = b->next;
        break;
      }
  if (!b && g.caching) {
    Block **fl = free_list(size, false);
    if (fl && *fl) {
      b = *fl;
      *fl = b->next;
      g.st.cached_bytes -= size;
      g.st.n_cache_hits++;
    }
  }
  if (!b) {
    b = new_record();
    if (!b) return lr_fail(LR_ERR_MEMORY, "%s: out of host memory for a block record", fn);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, size);
    if (e == cudaErrorMemoryAllocation && g.st.cached_bytes) {
      cudaGetLastError();
      drop_cache_locked();
      e = cudaMalloc(&p, size);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      b->next = g.spare;
      g.spare = b;
      if (e == cudaErrorMemoryAllocation)
        return lr_fail(LR_ERR_MEMORY, "%s: cannot allocate %zu bytes on the GPU (%s; %zu bytes in use)", fn, size,
                       cudaGetErrorString(e), g.st.current_bytes);
      return lr_cuda_fail(e, fn, "cudaMalloc");
    }
    g.st.n_cuda_malloc++;
    b->ptr = p;
    b->size = size;
  }
  b->pool = g.capturing;
  unsigned h = hash_ptr(b->ptr);
  b->next = g.live[h];
  g.live[h] = b;
  g.st.current_bytes += b->size;
  if (g.st.current_bytes > g.st.peak_bytes) g.st.peak_bytes = g.st.current_bytes;
  *out = b->ptr;
  return LR_OK;
}

/* A free block into its class's free list, or back to the driver when not caching. */
void cache_block_locked(Block *b) {
  Block **fl = g.caching ? free_list(b->size, true) : NULL;
  if (fl) {
    b->next = *fl;
    *fl = b;
    g.st.cached_bytes += b->size;
  } else {
    cudaFree(b->ptr); /* synchronises the device, so no kernel still uses it */
    g.st.n_cuda_free++;
    b->next = g.spare;
    g.spare = b;
  }
}

void free_locked(void *p) {
  if (!p || !g.ready) return; /* after release at exit the driver reclaims everything */
  Block **pp = &g.live[hash_ptr(p)];
  while (*pp && (*pp)->ptr != p) pp = &(*pp)->next;
  Block *b = *pp;
  if (!b) {
    fprintf(stderr, "lr_cuda_free: %p was not allocated by lr_cuda_alloc (ignored)\n", p);
    return;
  }
  *pp = b->next;
  g.st.current_bytes -= b->size;
  if (b->pool) { /* kept for its graph's replays */
    b->next = b->pool->free;
    b->pool->free = b;
    return;
  }
  cache_block_locked(b);
}

void release_at_exit() {
  Lock l(&mu);
  if (!g.ready) return;
  cudaStreamSynchronize(g.stream);
  if (g.blas) cublasDestroy(g.blas);
  if (g.blas_ws) cudaFree(g.blas_ws);
  drop_cache_locked();
  {
    Lock ls(&stage_mu);
    for (int k = 0; k < 2; k++) {
      if (g.pin_ev[k]) cudaEventDestroy(g.pin_ev[k]);
      if (g.pin[k]) cudaFreeHost(g.pin[k]);
      g.pin[k] = NULL;
    }
  }
  cudaStreamDestroy(g.stream);
  g.blas = NULL;
  g.blas_ws = NULL;
  g.stream = NULL;
  g.ready = false;
  g.released = true;
}

/* ---- copies ---- */
/* The two pinned chunks, allocated on first large copy (stage_mu held). false: use plain copies. */
bool staging_locked() {
  if (g.pin[1]) return true;
  if (g.pin_tried) return false;
  g.pin_tried = true;
  for (int k = 0; k < 2; k++) {
    if (cudaHostAlloc(&g.pin[k], kStageChunk, cudaHostAllocDefault) != cudaSuccess ||
        cudaEventCreateWithFlags(&g.pin_ev[k], cudaEventDisableTiming) != cudaSuccess) {
      cudaGetLastError();
      return false; /* what was allocated is released at exit */
    }
  }
  return true;
}

lr_status ready_stream(const char *fn, cudaStream_t *s) {
  Lock l(&mu);
  LR_TRY(init_locked(fn));
  *s = g.stream;
  return LR_OK;
}

} // namespace

/* ---- errors ---- */
lr_status lr_cuda_fail(cudaError_t e, const char *fn, const char *what) {
  lr_status code = e == cudaErrorMemoryAllocation ? LR_ERR_MEMORY : LR_ERR_DEVICE;
  return lr_fail(code, "%s: CUDA error %s (%s) in %s", fn, cudaGetErrorName(e), cudaGetErrorString(e), what);
}

static lr_status blas_fail(cublasStatus_t e, const char *fn, const char *what) {
  lr_status code = e == CUBLAS_STATUS_ALLOC_FAILED     ? LR_ERR_MEMORY
                   : e == CUBLAS_STATUS_NOT_SUPPORTED ? LR_ERR_UNSUPPORTED
                   : e == CUBLAS_STATUS_INVALID_VALUE ? LR_ERR_INTERNAL
                                                      : LR_ERR_DEVICE;
  return lr_fail(code, "%s: cuBLAS error %s in %s", fn, cublasGetStatusString(e), what);
}

#define LR_BLAS_TRY(fn, expr)                                                  \
  do {                                                                         \
    cublasStatus_t lr_bs_ = (expr);                                            \
    if (lr_bs_ != CUBLAS_STATUS_SUCCESS) return blas_fail(lr_bs_, fn, #expr); \
  } while (0)

/* ---- runtime API ---- */
extern "C" int lr_cuda_device_count(void) {
  Lock l(&mu);
  probe_locked();
  return g.ndev;
}

extern "C" bool lr_cuda_available(void) {
  Lock l(&mu);
  if (init_locked("lr_cuda_available") == LR_OK) return true;
  lr_clear_error();
  return false;
}

extern "C" const char *lr_cuda_device_name(void) {
  static char name[320]; /* the device name (at most 255 chars) and the rest */
  if (!lr_cuda_available()) return "none";
  cudaDeviceProp p;
  if (cudaGetDeviceProperties(&p, 0) != cudaSuccess) return "unknown";
  snprintf(name, sizeof name, "%.255s, sm_%d%d, %.0f GiB", p.name, p.major, p.minor,
           (double)p.totalGlobalMem / (1024.0 * 1024.0 * 1024.0));
  return name;
}

extern "C" double lr_cuda_sfu_peak(void) {
  int sms = 0, khz = 0;
  if (!lr_cuda_available() || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess ||
      cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, 0) != cudaSuccess)
    return 0;
  return (double)sms * 16.0 * (double)khz * 1e3;
}

extern "C" lr_status lr_cuda_init(void) {
  Lock l(&mu);
  return init_locked("lr_cuda_init");
}

extern "C" lr_cuda_stream_t lr_cuda_stream(void) { return g.ready ? g.stream : NULL; }

static cublasMath_t math_mode() { return g.tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH; }

extern "C" lr_status lr_cuda_blas(lr_cublas_t *out) {
  const char *fn = "lr_cuda_blas";
  if (!out) return lr_fail(LR_ERR_ARG, "%s: out is NULL", fn);
  Lock l(&mu);
  LR_TRY(init_locked(fn));
  if (!g.blas) {
    const char *le = lr_cublas_load_error();
    if (le) return lr_fail(LR_ERR_DEVICE, "%s: cannot load cuBLAS: %s", fn, le);
    cublasHandle_t h;
    LR_BLAS_TRY(fn, cublasCreate(&h));
    void *ws = NULL;
    cudaError_t e = cudaMalloc(&ws, kBlasWorkspace);
    if (e != cudaSuccess) {
      cudaGetLastError();
      cublasDestroy(h);
      return lr_cuda_fail(e, fn, "cudaMalloc of the cuBLAS workspace");
    }
    cublasStatus_t bs = cublasSetStream(h, g.stream);
    /* A workspace of our own makes cuBLAS's choice of algorithm independent of its internal
     * pool, which is what keeps repeated runs bitwise identical. */
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetWorkspace(h, ws, kBlasWorkspace);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetMathMode(h, math_mode());
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetAtomicsMode(h, CUBLAS_ATOMICS_NOT_ALLOWED);
    if (bs == CUBLAS_STATUS_SUCCESS) bs = cublasSetPointerMode(h, CUBLAS_POINTER_MODE_HOST);
    if (bs != CUBLAS_STATUS_SUCCESS) {
      cublasDestroy(h);
      cudaFree(ws);
      return blas_fail(bs, fn, "setting up the handle");
    }
    g.blas = h;
    g.blas_ws = ws;
  }
  *out = g.blas;
  return LR_OK;
}

extern "C" void lr_cuda_set_tf32(bool on) {
  Lock l(&mu);
  g.tf32 = on;
  if (g.blas) cublasSetMathMode(g.blas, math_mode());
}

extern "C" bool lr_cuda_tf32(void) { return g.tf32; }

/* The copy counters of lr_cuda_memstats: bumped outside mu (copies hold stage_mu), read under mu. */
static void stat_bump(uint64_t *c) { __atomic_fetch_add(c, 1, __ATOMIC_RELAXED); }

extern "C" lr_status lr_cuda_synchronize(void) {
  stat_bump(&g.st.n_sync);
  cudaStream_t s;
  LR_TRY(ready_stream("lr_cuda_synchronize", &s));
  LR_CUDA_TRY("lr_cuda_synchronize", cudaStreamSynchronize(s));
  return LR_OK;
}

extern "C" size_t lr_cuda_size_class(size_t bytes) { return size_class(bytes); }

extern "C" void lr_cuda_mem_stats(lr_cuda_memstats *out) {
  if (!out) return;
  Lock l(&mu);
  *out = g.st;
}

extern "C" void lr_cuda_reset_peak(void) {
  Lock l(&mu);
  g.st.peak_bytes = g.st.current_bytes;
}

extern "C" lr_status lr_cuda_empty_cache(void) {
  Lock l(&mu);
  if (!g.ready) return LR_OK;
  stat_bump(&g.st.n_sync);
  LR_CUDA_TRY("lr_cuda_empty_cache", cudaStreamSynchronize(g.stream));
  drop_cache_locked();
  return LR_OK;
}

extern "C" lr_status lr_cuda_alloc(size_t bytes, void **ptr) {
  if (!ptr) return lr_fail(LR_ERR_ARG, "lr_cuda_alloc: ptr is NULL");
  Lock l(&mu);
  return alloc_locked(bytes, ptr);
}

extern "C" void lr_cuda_free(void *ptr) {
  Lock l(&mu);
  free_locked(ptr);
}

extern "C" lr_status lr_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes) {
  const char *fn = "lr_cuda_memcpy_h2d";
  if (!bytes) return LR_OK;
  stat_bump(&g.st.n_h2d);
  cudaStream_t s;
  LR_TRY(ready_stream(fn, &s));
  Lock ls(&stage_mu);
  if (bytes < kStageMin || !staging_locked()) {
    LR_CUDA_TRY(fn, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, s));
    return LR_OK;
  }
  for (size_t off = 0, k = 0; off < bytes; k ^= 1) {
    size_t len = bytes - off < kStageChunk ? bytes - off : kStageChunk;
    LR_CUDA_TRY(fn, cudaEventSynchronize(g.pin_ev[k])); /* its last DMA is done */
    memcpy(g.pin[k], (const char *)src + off, len);
    LR_CUDA_TRY(fn, cudaMemcpyAsync((char *)dst + off, g.pin[k], len, cudaMemcpyHostToDevice, s));
    LR_CUDA_TRY(fn, cudaEventRecord(g.pin_ev[k], s));
    off += len;
  }
  return LR_OK;
}

extern "C" lr_status lr_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes) {
  const char *fn = "lr_cuda_memcpy_d2h";
  if (!bytes) return LR_OK;
  stat_bump(&g.st.n_sync);
  cudaStream_t s;
  LR_TRY(ready_stream(fn, &s));
  Lock ls(&stage_mu);
  if (bytes < kStageMin || !staging_locked()) {
    LR_CUDA_TRY(fn, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, s));
    LR_CUDA_TRY(fn, cudaStreamSynchronize(s));
    return LR_OK;
  }
  /* Chunk i goes to pin[i % 2]; chunk i + 1 is queued before the host copies chunk i out. Queuing
   * into a chunk is safe without a wait: every earlier DMA that used it is on the same stream. */
  size_t n = (bytes + kStageChunk - 1) / kStageChunk;
  for (size_t i = 0; i <= n; i++) {
    if (i < n) {
      size_t off = i * kStageChunk, len = bytes - off < kStageChunk ? bytes - off : kStageChunk;
      LR_CUDA_TRY(fn, cudaMemcpyAsync(g.pin[i & 1], (const char *)src + off, len, cudaMemcpyDeviceToHost, s));
      LR_CUDA_TRY(fn, cudaEventRecord(g.pin_ev[i & 1], s));
    }
    if (i > 0) {
      size_t j = i - 1, off = j * kStageChunk, len = bytes - off < kStageChunk ? bytes - off : kStageChunk;
      LR_CUDA_TRY(fn, cudaEventSynchronize(g.pin_ev[j & 1]));
      memcpy((char *)dst + off, g.pin[j & 1], len);
    }
  }
  return LR_OK;
}

extern "C" lr_status lr_cuda_memcpy_d2d(void *dst, const void *src, size_t bytes) {
  const char *fn = "lr_cuda_memcpy_d2d";
  if (!bytes) return LR_OK;
  cudaStream_t s;
  LR_TRY(ready_stream(fn, &s));
  LR_CUDA_TRY(fn, cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, s));
  return LR_OK;
}

extern "C" lr_status lr_cuda_memset0(void *dst, size_t bytes) {
  const char *fn = "lr_cuda_memset0";
  if (!bytes) return LR_OK;
  cudaStream_t s;
  LR_TRY(ready_stream(fn, &s));
  LR_CUDA_TRY(fn, cudaMemsetAsync(dst, 0, bytes, s));
  return LR_OK;
}

/* ---- graphs (tensor/graph.h) ---- */
/* Gives a pool's blocks back (mu held): the free ones to the cache (or the driver), the live ones
 * to the general rules. */
static void release_pool_locked(Pool *p) {
  while (Block *b = p->free) {
    p->free = b->next;
    b->pool = NULL;
    cache_block_locked(b);
  }
  for (int i = 0; i < kHashBuckets; i++)
    for (Block *b = g.live[i]; b; b = b->next)
      if (b->pool == p) b->pool = NULL;
}

static lr_status graph_capture(lr_status (*fn)(void *), void *arg, void **out) {
  const char *f = "lr_graph_capture";
  Graph *gr = (Graph *)calloc(1, sizeof *gr);
  if (!gr) return lr_fail(LR_ERR_MEMORY, "%s: out of host memory", f);
  cudaStream_t s;
  {
    Lock l(&mu);
    lr_status st = init_locked(f);
    if (st == LR_OK && g.capturing) st = lr_fail(LR_ERR_STATE, "%s: another capture is under way", f);
    if (st != LR_OK) {
      free(gr);
      return st;
    }
    s = g.stream;
    g.capturing = &gr->pool;
  }
  cudaError_t e = cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed);
  lr_status st = LR_OK;
  char msg[512] = "";
  cudaGraph_t graph = NULL;
  if (e != cudaSuccess) {
    cudaGetLastError();
    st = lr_cuda_fail(e, f, "cudaStreamBeginCapture");
  } else {
    st = fn(arg);
    if (st != LR_OK) snprintf(msg, sizeof msg, "%s", lr_last_error());
    e = cudaStreamEndCapture(s, &graph);
    if (st == LR_OK && e != cudaSuccess)
      st = lr_fail(LR_ERR_DEVICE, "%s: the device refused the recording (%s: %s): does fn wait on the device or "
                   "copy from host memory?", f, cudaGetErrorName(e), cudaGetErrorString(e));
    else if (st != LR_OK)
      st = lr_fail(st, "%s: fn failed: %s", f, msg);
    if (e != cudaSuccess) cudaGetLastError();
  }
  if (st == LR_OK) {
    e = cudaGraphInstantiate(&gr->exec, graph, 0);
    if (e != cudaSuccess) {
      cudaGetLastError();
      st = lr_cuda_fail(e, f, "cudaGraphInstantiate");
    }
  }
  if (graph) cudaGraphDestroy(graph);
  Lock l(&mu);
  g.capturing = NULL;
  if (st != LR_OK) {
    release_pool_locked(&gr->pool);
    free(gr);
    return st;
  }
  *out = gr;
  return LR_OK;
}

static lr_status graph_launch(void *p) {
  LR_CUDA_TRY("lr_graph_replay", cudaGraphLaunch(((Graph *)p)->exec, g.stream));
  return LR_OK;
}

static void graph_free(void *p) {
  Graph *gr = (Graph *)p;
  Lock l(&mu);
  if (g.ready) { /* after release at exit the driver has reclaimed everything */
    cudaGraphExecDestroy(gr->exec);
    release_pool_locked(&gr->pool);
  }
  free(gr);
}

/* ---- the tensor layer's hooks, installed when the backend is linked (alwayslink) ---- */
static const lr_device_hooks cuda_hooks = {
    lr_cuda_alloc,      lr_cuda_free,   lr_cuda_memcpy_h2d,   lr_cuda_memcpy_d2h, lr_cuda_memcpy_d2d,
    lr_cuda_memset0,    lr_cuda_strided_copy, lr_cuda_fill, /* copy.cu */
    graph_capture,      graph_launch,   graph_free,
};

__attribute__((constructor)) static void install_hooks(void) { lr_set_device_hooks(LR_DEVICE_CUDA, &cuda_hooks); }
