/* FFT kernels on the GPU (cuFFT): the strided complex DFT and the real causal FFT convolution,
 * the twins of kernels/cpu/fft.c (same math, same n, same scaling).
 *
 * complex DFT along the middle dim of contiguous x (outer, m_in, inner):
 *   pack: buf[line, t] = x[o, t, i] for t < m_in, 0 up to n (line = o * inner + i), (lines, n)
 *   one batched in-place C2C / Z2Z of size n over the lines,
 *   unpack: y[o, j, i] = scale * buf[line, j], j < m_out.
 * causal convolution y[b, t, h] = sum_{s <= t} k[h, s] x[b, t - s, h] with n >= L + Lk - 1:
 *   lines (b, h) of P = 2 (n/2 + 1) reals each (the padded in-place real layout), x packed and
 *   zero-padded, batched R2C in place, times khat[h] = R2C(k[h] padded), C2R in place, y = buf/n.
 * backward (the correlations): with G = R2C(g), dx = C2R(conj(khat) G)[:L] / n,
 *   dk = C2R(sum_b conj(X_b) G_b)[:Lk] / n, X = R2C(x).
 *
 * Launch layout: grid-stride loops, one thread per element of a pack / unpack / product.
 * Determinism: cuFFT runs the same plan the same way every time; the batch sum of dk is one
 * thread per (h, f) adding b = 0, 1, ... in order; no atomics anywhere.
 *
 * Plans: cached per (n, batch, cufftType) in a process-wide table under a mutex (made once,
 * cufftMakePlanMany with auto-allocation off); executed under the same mutex after binding the
 * caller's stream and work area, so the work area comes from the caller's workspace (the arena's
 * device memory) rather than from cuFFT's own cudaMalloc. A full table (kMaxPlans) is emptied
 * after synchronising the stream. cuFFT itself is loaded on first use (cufft_lazy.cu).
 */
#include <pthread.h>

#include <cufft.h>

#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;
const int kMaxPlans = 128;

size_t al256(size_t b) { return (b + 255) / 256 * 256; }

struct PlanEntry {
  int64_t n;
  int batch;
  cufftType type;
  cufftHandle h;
  size_t work;
};

PlanEntry plans[kMaxPlans];
int n_plans;
pthread_mutex_t plan_mu = PTHREAD_MUTEX_INITIALIZER;

lr_status fft_fail(cufftResult r, const char *fn, const char *what) {
  const char *le = lr_cufft_load_error();
  if (le) return lr_fail(LR_ERR_DEVICE, "%s: cuFFT could not be loaded (%s) for %s", fn, le, what);
  lr_status code = r == CUFFT_ALLOC_FAILED ? LR_ERR_MEMORY
                   : (r == CUFFT_INVALID_SIZE || r == CUFFT_INVALID_VALUE) ? LR_ERR_INTERNAL
                                                                           : LR_ERR_DEVICE;
  return lr_fail(code, "%s: cuFFT error %d in %s", fn, (int)r, what);
}

bool is_real_fwd(cufftType t) { return t == CUFFT_R2C || t == CUFFT_D2Z; }
bool is_real_inv(cufftType t) { return t == CUFFT_C2R || t == CUFFT_Z2D; }

/* The cached plan (plan_mu held). Real transforms use the padded in-place layout: a line of
 * P = 2 (n/2 + 1) reals holds n/2 + 1 complex values. */
lr_status plan_locked(const char *fn, int64_t n, int64_t batch, cufftType type, PlanEntry **out) {
  if (n < 1 || n > 0x7fffffff || batch < 1 || batch > 0x7fffffff)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: an FFT of size %lld over %lld lines is beyond cuFFT's int sizes", fn,
                   (long long)n, (long long)batch);
  for (int i = 0; i < n_plans; i++)
    if (plans[i].n == n && plans[i].batch == (int)batch && plans[i].type == type) {
      *out = &plans[i];
      return LR_OK;
    }
  if (n_plans == kMaxPlans) { /* the table is full: drop every plan once no queued work uses them */
    LR_CUDA_TRY(fn, cudaStreamSynchronize(lr_cuda_stream()));
    for (int i = 0; i < n_plans; i++) cufftDestroy(plans[i].h);
    n_plans = 0;
  }
  cufftHandle h;
  cufftResult r = cufftCreate(&h);
  if (r != CUFFT_SUCCESS) return fft_fail(r, fn, "cufftCreate");
  r = cufftSetAutoAllocation(h, 0);
  int ni = (int)n, F = (int)(n / 2 + 1), P = 2 * F;
  int ine[1], one[1], idist = ni, odist = ni;
  int *pin = NULL, *pon = NULL;
  if (is_real_fwd(type)) {
    ine[0] = P, one[0] = F, idist = P, odist = F, pin = ine, pon = one;
  } else if (is_real_inv(type)) {
    ine[0] = F, one[0] = P, idist = F, odist = P, pin = ine, pon = one;
  }
  size_t work = 0;
  if (r == CUFFT_SUCCESS) r = cufftMakePlanMany(h, 1, &ni, pin, 1, idist, pon, 1, odist, type, (int)batch, &work);
  if (r != CUFFT_SUCCESS) {
    cufftDestroy(h);
    return fft_fail(r, fn, "cufftMakePlanMany");
  }
  plans[n_plans] = PlanEntry{n, (int)batch, type, h, work};
  *out = &plans[n_plans++];
  return LR_OK;
}

struct Lock {
  Lock() { pthread_mutex_lock(&plan_mu); }
  ~Lock() { pthread_mutex_unlock(&plan_mu); }
};

lr_status plan_work(const char *fn, int64_t n, int64_t batch, cufftType type, size_t *work) {
  Lock l;
  PlanEntry *e;
  LR_TRY(plan_locked(fn, n, batch, type, &e));
  *work = e->work;
  return LR_OK;
}

/* Runs the plan (n, batch, type) in place on buf with the caller's work area. */
lr_status exec(const char *fn, int64_t n, int64_t batch, cufftType type, int dir, void *buf, void *work,
               size_t work_bytes, cudaStream_t s) {
  Lock l;
  PlanEntry *e;
  LR_TRY(plan_locked(fn, n, batch, type, &e));
  if (e->work > work_bytes)
    return lr_fail(LR_ERR_INTERNAL, "%s: cuFFT needs %zu bytes of work area, the workspace has %zu", fn, e->work,
                   work_bytes);
  cufftResult r = cufftSetStream(e->h, s);
  if (r == CUFFT_SUCCESS && e->work > 0) r = cufftSetWorkArea(e->h, work);
  if (r != CUFFT_SUCCESS) return fft_fail(r, fn, "binding the stream and work area");
  switch (type) {
    case CUFFT_C2C: r = cufftExecC2C(e->h, (cufftComplex *)buf, (cufftComplex *)buf, dir); break;
    case CUFFT_Z2Z: r = cufftExecZ2Z(e->h, (cufftDoubleComplex *)buf, (cufftDoubleComplex *)buf, dir); break;
    case CUFFT_R2C: r = cufftExecR2C(e->h, (cufftReal *)buf, (cufftComplex *)buf); break;
    case CUFFT_D2Z: r = cufftExecD2Z(e->h, (cufftDoubleReal *)buf, (cufftDoubleComplex *)buf); break;
    case CUFFT_C2R: r = cufftExecC2R(e->h, (cufftComplex *)buf, (cufftReal *)buf); break;
    default: r = cufftExecZ2D(e->h, (cufftDoubleComplex *)buf, (cufftDoubleReal *)buf); break;
  }
  if (r != CUFFT_SUCCESS) return fft_fail(r, fn, "cufftExec");
  return lr_cuda_check_launch(fn);
}

template <typename R> struct Cx;
template <> struct Cx<float> {
  typedef float2 t;
  static const cufftType c2c = CUFFT_C2C, r2c = CUFFT_R2C, c2r = CUFFT_C2R;
};
template <> struct Cx<double> {
  typedef double2 t;
  static const cufftType c2c = CUFFT_Z2Z, r2c = CUFFT_D2Z, c2r = CUFFT_Z2D;
};

/* ---- complex DFT ---- */
template <typename R>
__global__ void pack_c(const typename Cx<R>::t *x, typename Cx<R>::t *buf, int64_t lines, int64_t inner, int64_t m_in,
                       int64_t n) {
  typedef typename Cx<R>::t C;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < lines * n;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t line = idx / n, t = idx % n, o = line / inner, i = line % inner;
    C v;
    v.x = 0;
    v.y = 0;
    if (t < m_in) v = x[(o * m_in + t) * inner + i];
    buf[idx] = v;
  }
}

template <typename R>
__global__ void unpack_c(const typename Cx<R>::t *buf, typename Cx<R>::t *y, int64_t outer, int64_t inner,
                         int64_t m_out, int64_t n, double scale) {
  typedef typename Cx<R>::t C;
  int64_t total = outer * m_out * inner;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t i = idx % inner, j = (idx / inner) % m_out, o = idx / (inner * m_out);
    C v = buf[(o * inner + i) * n + j];
    C r;
    r.x = (R)((double)v.x * scale);
    r.y = (R)((double)v.y * scale);
    y[idx] = r;
  }
}

template <typename R>
lr_status fft_c(bool inverse, int64_t n, int64_t outer, int64_t m_in, int64_t m_out, int64_t inner, const void *x,
                void *y, double scale, void *work, size_t work_bytes, cudaStream_t s) {
  const char *fn = "lr_kcuda_fft_c";
  typedef typename Cx<R>::t C;
  int64_t lines = outer * inner;
  if (lines * m_out == 0) return LR_OK;
  size_t bb = al256((size_t)(lines * n) * sizeof(C));
  if (work_bytes < bb) return lr_fail(LR_ERR_INTERNAL, "%s: workspace of %zu bytes, need at least %zu", fn, work_bytes, bb);
  C *buf = (C *)work;
  pack_c<R><<<lr_cuda_blocks(lines * n, kThreads), kThreads, 0, s>>>((const C *)x, buf, lines, inner, m_in, n);
  LR_TRY(lr_cuda_check_launch(fn));
  LR_TRY(exec(fn, n, lines, Cx<R>::c2c, inverse ? CUFFT_INVERSE : CUFFT_FORWARD, buf, (char *)work + bb,
              work_bytes - bb, s));
  unpack_c<R><<<lr_cuda_blocks(outer * m_out * inner, kThreads), kThreads, 0, s>>>(buf, (C *)y, outer, inner, m_out,
                                                                                   n, scale);
  return lr_cuda_check_launch(fn);
}

/* ---- real causal convolution ---- */
/* buf[(b * H + h) * P + t] = x[b, t, h] for t < L (x (B, L, H)), 0 for L <= t < P. */
template <typename R>
__global__ void pack_r(const R *x, R *buf, int64_t B, int64_t L, int64_t H, int64_t P) {
  int64_t total = B * H * P;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t t = idx % P, line = idx / P, b = line / H, h = line % H;
    buf[idx] = t < L ? x[(b * L + t) * H + h] : (R)0;
  }
}

/* buf[h * P + s] = k[h, s] for s < Lk (k (H, Lk)), 0 for Lk <= s < P. */
template <typename R>
__global__ void pack_k(const R *k, R *buf, int64_t H, int64_t Lk, int64_t P) {
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < H * P;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t t = idx % P, h = idx / P;
    buf[idx] = t < Lk ? k[h * Lk + t] : (R)0;
  }
}

/* y[b, t, h] = buf[(b * H + h) * P + t] * inv_n for t < L (y (B, L, H)). */
template <typename R>
__global__ void unpack_r(const R *buf, R *y, int64_t B, int64_t L, int64_t H, int64_t P, R inv_n) {
  int64_t total = B * L * H;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < total;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t h = idx % H, t = (idx / H) % L, b = idx / (H * L);
    y[idx] = buf[(b * H + h) * P + t] * inv_n;
  }
}

/* A[line, f] = (conj?)(K[line % H, f]) * A[line, f] over lines x F complex values. */
template <typename R>
__global__ void mul_k(typename Cx<R>::t *A, const typename Cx<R>::t *K, int64_t lines, int64_t H, int64_t F,
                      bool conj_k) {
  typedef typename Cx<R>::t C;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < lines * F;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t line = idx / F, f = idx % F;
    C a = A[idx], k = K[(line % H) * F + f];
    R kr = k.x, ki = conj_k ? -k.y : k.y;
    C r;
    r.x = kr * a.x - ki * a.y;
    r.y = kr * a.y + ki * a.x;
    A[idx] = r;
  }
}

/* X[h, f] = sum_{b = 0, 1, ...} conj(X[b, h, f]) G[b, h, f]: one thread per (h, f), the batch in
 * order (written over line b = 0, which only this thread reads at this f). */
template <typename R>
__global__ void acc_dk(typename Cx<R>::t *X, const typename Cx<R>::t *G, int64_t B, int64_t H, int64_t F) {
  typedef typename Cx<R>::t C;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < H * F;
       idx += (int64_t)blockDim.x * gridDim.x) {
    R ar = 0, ai = 0;
    for (int64_t b = 0; b < B; b++) {
      C x = X[b * H * F + idx], g = G[b * H * F + idx];
      ar += x.x * g.x + x.y * g.y;
      ai += x.x * g.y - x.y * g.x;
    }
    C r;
    r.x = ar;
    r.y = ai;
    X[idx] = r;
  }
}

/* dk[h, s] = buf[h * P + s] * inv_n, s < Lk. */
template <typename R>
__global__ void unpack_k(const R *buf, R *dk, int64_t H, int64_t Lk, int64_t P, R inv_n) {
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < H * Lk;
       idx += (int64_t)blockDim.x * gridDim.x)
    dk[idx] = buf[(idx / Lk) * P + idx % Lk] * inv_n;
}

struct ConvWork {
  char *A, *X, *K, *cu;
  size_t cu_bytes;
};

size_t conv_bufs(size_t es, int64_t B, int64_t H, int64_t n, bool bwd, ConvWork *w, char *base) {
  int64_t P = 2 * (n / 2 + 1);
  size_t a = al256((size_t)(B * H * P) * es), k = al256((size_t)(H * P) * es), off = 0;
  if (w) w->A = base;
  off += a;
  if (bwd) {
    if (w) w->X = base + off;
    off += a;
  }
  if (w) w->K = base + off;
  off += k;
  if (w) w->cu = base + off;
  return off;
}

template <typename R>
lr_status conv_fwd(int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const R *x, const R *k, R *y, void *work,
                   size_t work_bytes, cudaStream_t s) {
  const char *fn = "lr_kcuda_fft_conv_fwd";
  typedef typename Cx<R>::t C;
  ConvWork w;
  size_t used = conv_bufs(sizeof(R), B, H, n, false, &w, (char *)work);
  if (work_bytes < used) return lr_fail(LR_ERR_INTERNAL, "%s: workspace of %zu bytes, need %zu", fn, work_bytes, used);
  size_t cub = work_bytes - used;
  int64_t F = n / 2 + 1, P = 2 * F;
  R *A = (R *)w.A, *K = (R *)w.K;
  pack_k<R><<<lr_cuda_blocks(H * P, kThreads), kThreads, 0, s>>>(k, K, H, Lk, P);
  LR_TRY(lr_cuda_check_launch(fn));
  LR_TRY(exec(fn, n, H, Cx<R>::r2c, 0, K, w.cu, cub, s));
  pack_r<R><<<lr_cuda_blocks(B * H * P, kThreads), kThreads, 0, s>>>(x, A, B, L, H, P);
  LR_TRY(lr_cuda_check_launch(fn));
  LR_TRY(exec(fn, n, B * H, Cx<R>::r2c, 0, A, w.cu, cub, s));
  mul_k<R><<<lr_cuda_blocks(B * H * F, kThreads), kThreads, 0, s>>>((C *)A, (const C *)K, B * H, H, F, false);
  LR_TRY(lr_cuda_check_launch(fn));
  LR_TRY(exec(fn, n, B * H, Cx<R>::c2r, 0, A, w.cu, cub, s));
  unpack_r<R><<<lr_cuda_blocks(B * L * H, kThreads), kThreads, 0, s>>>(A, y, B, L, H, P, (R)(1.0 / (double)n));
  return lr_cuda_check_launch(fn);
}

template <typename R>
lr_status conv_bwd(int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const R *x, const R *k, const R *g, R *dx,
                   R *dk, void *work, size_t work_bytes, cudaStream_t s) {
  const char *fn = "lr_kcuda_fft_conv_bwd";
  typedef typename Cx<R>::t C;
  ConvWork w;
  size_t used = conv_bufs(sizeof(R), B, H, n, true, &w, (char *)work);
  if (work_bytes < used) return lr_fail(LR_ERR_INTERNAL, "%s: workspace of %zu bytes, need %zu", fn, work_bytes, used);
  size_t cub = work_bytes - used;
  int64_t F = n / 2 + 1, P = 2 * F;
  R *G = (R *)w.A, *X = (R *)w.X, *K = (R *)w.K, inv_n = (R)(1.0 / (double)n);
  pack_r<R><<<lr_cuda_blocks(B * H * P, kThreads), kThreads, 0, s>>>(g, G, B, L, H, P);
  LR_TRY(lr_cuda_check_launch(fn));
  LR_TRY(exec(fn, n, B * H, Cx<R>::r2c, 0, G, w.cu, cub, s));
  if (dk) {
    pack_r<R><<<lr_cuda_blocks(B * H * P, kThreads), kThreads, 0, s>>>(x, X, B, L, H, P);
    LR_TRY(lr_cuda_check_launch(fn));
    LR_TRY(exec(fn, n, B * H, Cx<R>::r2c, 0, X, w.cu, cub, s));
    acc_dk<R><<<lr_cuda_blocks(H * F, kThreads), kThreads, 0, s>>>((C *)X, (const C *)G, B, H, F);
    LR_TRY(lr_cuda_check_launch(fn));
    LR_TRY(exec(fn, n, H, Cx<R>::c2r, 0, X, w.cu, cub, s));
    unpack_k<R><<<lr_cuda_blocks(H * Lk, kThreads), kThreads, 0, s>>>(X, dk, H, Lk, P, inv_n);
    LR_TRY(lr_cuda_check_launch(fn));
  }
  if (dx) {
    pack_k<R><<<lr_cuda_blocks(H * P, kThreads), kThreads, 0, s>>>(k, K, H, Lk, P);
    LR_TRY(lr_cuda_check_launch(fn));
    LR_TRY(exec(fn, n, H, Cx<R>::r2c, 0, K, w.cu, cub, s));
    mul_k<R><<<lr_cuda_blocks(B * H * F, kThreads), kThreads, 0, s>>>((C *)G, (const C *)K, B * H, H, F, true);
    LR_TRY(lr_cuda_check_launch(fn));
    LR_TRY(exec(fn, n, B * H, Cx<R>::c2r, 0, G, w.cu, cub, s));
    unpack_r<R><<<lr_cuda_blocks(B * L * H, kThreads), kThreads, 0, s>>>(G, dx, B, L, H, P, inv_n);
    LR_TRY(lr_cuda_check_launch(fn));
  }
  return LR_OK;
}

bool dt_real_ok(lr_dtype dt) { return dt == LR_DTYPE_F32 || dt == LR_DTYPE_F64; }

} // namespace

extern "C" lr_status lr_kcuda_fft_c_work(lr_dtype dt, int64_t n, int64_t lines, size_t *bytes) {
  const char *fn = "lr_kcuda_fft_c";
  if (dt != LR_DTYPE_C64 && dt != LR_DTYPE_C128)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected c64 or c128", fn, lr_dtype_name(dt));
  *bytes = 0;
  if (lines < 1) return LR_OK;
  size_t cu;
  LR_TRY(plan_work(fn, n, lines, dt == LR_DTYPE_C64 ? CUFFT_C2C : CUFFT_Z2Z, &cu));
  *bytes = al256((size_t)(lines * n) * lr_dtype_size(dt)) + cu;
  return LR_OK;
}

extern "C" lr_status lr_kcuda_fft_c(lr_dtype dt, bool inverse, int64_t n, int64_t outer, int64_t m_in, int64_t m_out,
                                    int64_t inner, const void *x, void *y, double scale, void *work, size_t work_bytes,
                                    lr_cuda_stream_t s) {
  cudaStream_t st = lr_cuda_pick_stream(s);
  if (dt == LR_DTYPE_C64) return fft_c<float>(inverse, n, outer, m_in, m_out, inner, x, y, scale, work, work_bytes, st);
  if (dt == LR_DTYPE_C128)
    return fft_c<double>(inverse, n, outer, m_in, m_out, inner, x, y, scale, work, work_bytes, st);
  return lr_fail(LR_ERR_DTYPE, "lr_kcuda_fft_c: dtype %s, expected c64 or c128", lr_dtype_name(dt));
}

extern "C" lr_status lr_kcuda_fft_conv_work(lr_dtype dt, int64_t B, int64_t H, int64_t n, bool bwd, size_t *bytes) {
  const char *fn = "lr_kcuda_fft_conv";
  if (!dt_real_ok(dt)) return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(dt));
  *bytes = 0;
  if (B * H < 1) return LR_OK;
  bool f = dt == LR_DTYPE_F32;
  cufftType r2c = f ? CUFFT_R2C : CUFFT_D2Z, c2r = f ? CUFFT_C2R : CUFFT_Z2D;
  size_t cu = 0, w;
  LR_TRY(plan_work(fn, n, H, r2c, &w));
  cu = w > cu ? w : cu;
  LR_TRY(plan_work(fn, n, B * H, r2c, &w));
  cu = w > cu ? w : cu;
  LR_TRY(plan_work(fn, n, B * H, c2r, &w));
  cu = w > cu ? w : cu;
  if (bwd) {
    LR_TRY(plan_work(fn, n, H, c2r, &w));
    cu = w > cu ? w : cu;
  }
  *bytes = conv_bufs(lr_dtype_size(dt), B, H, n, bwd, NULL, NULL) + cu;
  return LR_OK;
}

extern "C" lr_status lr_kcuda_fft_conv_fwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n,
                                           const void *x, const void *k, void *y, void *work, size_t work_bytes,
                                           lr_cuda_stream_t s) {
  if (B * L * H == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  if (dt == LR_DTYPE_F32)
    return conv_fwd<float>(B, L, H, Lk, n, (const float *)x, (const float *)k, (float *)y, work, work_bytes, st);
  if (dt == LR_DTYPE_F64)
    return conv_fwd<double>(B, L, H, Lk, n, (const double *)x, (const double *)k, (double *)y, work, work_bytes, st);
  return lr_fail(LR_ERR_DTYPE, "lr_kcuda_fft_conv_fwd: dtype %s, expected f32 or f64", lr_dtype_name(dt));
}

extern "C" lr_status lr_kcuda_fft_conv_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n,
                                           const void *x, const void *k, const void *g, void *dx, void *dk, void *work,
                                           size_t work_bytes, lr_cuda_stream_t s) {
  cudaStream_t st = lr_cuda_pick_stream(s);
  if (!dx && !dk) return LR_OK;
  if (B * L * H == 0) { /* nothing flows: dx is empty, dk is zero */
    if (dk) LR_CUDA_TRY("lr_kcuda_fft_conv_bwd", cudaMemsetAsync(dk, 0, (size_t)(H * Lk) * lr_dtype_size(dt), st));
    return LR_OK;
  }
  if (dt == LR_DTYPE_F32)
    return conv_bwd<float>(B, L, H, Lk, n, (const float *)x, (const float *)k, (const float *)g, (float *)dx,
                           (float *)dk, work, work_bytes, st);
  if (dt == LR_DTYPE_F64)
    return conv_bwd<double>(B, L, H, Lk, n, (const double *)x, (const double *)k, (const double *)g, (double *)dx,
                            (double *)dk, work, work_bytes, st);
  return lr_fail(LR_ERR_DTYPE, "lr_kcuda_fft_conv_bwd: dtype %s, expected f32 or f64", lr_dtype_name(dt));
}

extern "C" void lr_kcuda_fft_clear_cache(void) {
  Lock l;
  if (n_plans > 0 && lr_cuda_stream()) cudaStreamSynchronize(lr_cuda_stream());
  for (int i = 0; i < n_plans; i++) cufftDestroy(plans[i].h);
  n_plans = 0;
}
