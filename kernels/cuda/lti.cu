/* LTI kernels on the GPU, the twins of kernels/cpu/lti.c (F32, F64, C64, C128; arithmetic in
 * double complex as there, results rounded once to the storage type).
 *
 * kernel:      K[n, l] = A[n]^l. One thread per (n, chunk of kChunk positions): the chunk's
 *              first power A^(c kChunk) by binary powering, then a running product (the CPU runs
 *              one product over all l; the two agree to a few ulps times log2 l).
 * kernel_bwd:  dA[n] = sum_{l >= 1} l g[n, l] conj(K[n, l-1]). One block per n, each thread a
 *              fixed strided subset of l, then a fixed shared-memory tree.
 * scan:        h[b, t, n] = A[n] h[b, t-1, n] + u[b, t, n]. One thread per (b, n) (adjacent
 *              threads adjacent n: coalesced), sequential in t.
 * scan_bwd:    du[b, t] = g[b, t] + conj(A) du[b, t+1]; dA[n] = sum_{b, t >= 1} du conj(h[t-1]).
 *              One thread per (b, n) runs the reverse scan and writes its partial of dA (double)
 *              to work (B, N); a second kernel, one thread per n, adds b = 0, 1, ... in order.
 * Deterministic: no atomics; every sum has a fixed order independent of the launch.
 */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;
const int64_t kChunk = 64;

struct cd {
  double re, im;
};
__device__ __forceinline__ cd mk(double r, double i) { return cd{r, i}; }
__device__ __forceinline__ cd operator+(cd a, cd b) { return mk(a.re + b.re, a.im + b.im); }
__device__ __forceinline__ cd operator*(cd a, cd b) { return mk(a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re); }
__device__ __forceinline__ cd operator*(double s, cd a) { return mk(s * a.re, s * a.im); }
__device__ __forceinline__ cd cj(cd a) { return mk(a.re, -a.im); }

template <typename T, bool C> __device__ __forceinline__ cd ld(const T *p, int64_t i) {
  if constexpr (C) return mk((double)p[2 * i], (double)p[2 * i + 1]);
  else return mk((double)p[i], 0.0);
}
template <typename T, bool C> __device__ __forceinline__ void st(T *p, int64_t i, cd v) {
  if constexpr (C) {
    p[2 * i] = (T)v.re;
    p[2 * i + 1] = (T)v.im;
  } else {
    p[i] = (T)v.re;
  }
}

template <typename T, bool C> __global__ void kernel_k(int64_t N, int64_t L, const T *A, T *K) {
  int64_t chunks = (L + kChunk - 1) / kChunk;
  for (int64_t idx = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; idx < N * chunks;
       idx += (int64_t)blockDim.x * gridDim.x) {
    int64_t n = idx / chunks, c = idx % chunks, l0 = c * kChunk, l1 = l0 + kChunk < L ? l0 + kChunk : L;
    cd a = ld<T, C>(A, n), p = mk(1, 0), b = a;
    for (int64_t e = l0; e > 0; e >>= 1) { /* p = a^l0 */
      if (e & 1) p = p * b;
      b = b * b;
    }
    for (int64_t l = l0; l < l1; l++) {
      st<T, C>(K, n * L + l, p);
      p = p * a;
    }
  }
}

template <typename T, bool C> __global__ void kernel_bwd_k(int64_t N, int64_t L, const T *K, const T *g, T *dA) {
  __shared__ double sre[kThreads], sim[kThreads];
  for (int64_t n = blockIdx.x; n < N; n += gridDim.x) {
    cd s = mk(0, 0);
    for (int64_t l = 1 + threadIdx.x; l < L; l += blockDim.x)
      s = s + (double)l * (ld<T, C>(g, n * L + l) * cj(ld<T, C>(K, n * L + l - 1)));
    sre[threadIdx.x] = s.re;
    sim[threadIdx.x] = s.im;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w >>= 1) {
      if ((int)threadIdx.x < w) {
        sre[threadIdx.x] += sre[threadIdx.x + w];
        sim[threadIdx.x] += sim[threadIdx.x + w];
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) st<T, C>(dA, n, mk(sre[0], sim[0]));
    __syncthreads();
  }
}

template <typename T, bool C> __global__ void scan_k(int64_t B, int64_t L, int64_t N, const T *u, const T *A, T *h) {
  for (int64_t bn = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; bn < B * N; bn += (int64_t)blockDim.x * gridDim.x) {
    int64_t b = bn / N, n = bn % N;
    cd a = ld<T, C>(A, n), s = mk(0, 0);
    for (int64_t t = 0; t < L; t++) {
      int64_t i = (b * L + t) * N + n;
      s = a * s + ld<T, C>(u, i);
      st<T, C>(h, i, s);
    }
  }
}

template <typename T, bool C>
__global__ void scan_bwd_k(int64_t B, int64_t L, int64_t N, const T *A, const T *h, const T *g, T *du, cd *part) {
  for (int64_t bn = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; bn < B * N; bn += (int64_t)blockDim.x * gridDim.x) {
    int64_t b = bn / N, n = bn % N;
    cd ac = cj(ld<T, C>(A, n)), d = mk(0, 0), da = mk(0, 0);
    for (int64_t t = L - 1; t >= 0; t--) {
      int64_t i = (b * L + t) * N + n;
      d = ld<T, C>(g, i) + ac * d;
      if (du) st<T, C>(du, i, d);
      if (t > 0) da = da + d * cj(ld<T, C>(h, i - N));
    }
    if (part) part[bn] = da;
  }
}

template <typename T, bool C> __global__ void sum_b_k(int64_t B, int64_t N, const cd *part, T *dA) {
  for (int64_t n = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; n < N; n += (int64_t)blockDim.x * gridDim.x) {
    cd s = mk(0, 0);
    for (int64_t b = 0; b < B; b++) s = s + part[b * N + n];
    st<T, C>(dA, n, s);
  }
}

lr_status bad_dt(const char *fn, lr_dtype dt) {
  return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32, f64, c64 or c128", fn, lr_dtype_name(dt));
}

#define LTI_DISPATCH(fn, dt, LAUNCH)                        \
  switch (dt) {                                              \
    case LR_DTYPE_F32: { typedef float T; const bool C = false; LAUNCH; break; }  \
    case LR_DTYPE_F64: { typedef double T; const bool C = false; LAUNCH; break; } \
    case LR_DTYPE_C64: { typedef float T; const bool C = true; LAUNCH; break; }   \
    case LR_DTYPE_C128: { typedef double T; const bool C = true; LAUNCH; break; } \
    default: return bad_dt(fn, dt);                          \
  }                                                          \
  return lr_cuda_check_launch(fn)

} // namespace

extern "C" lr_status lr_kcuda_lti_kernel(lr_dtype dt, int64_t N, int64_t L, const void *A, void *K,
                                         lr_cuda_stream_t s) {
  if (N * L == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  int64_t items = N * ((L + kChunk - 1) / kChunk);
  LTI_DISPATCH("lr_kcuda_lti_kernel", dt,
               (kernel_k<T, C><<<lr_cuda_blocks(items, kThreads), kThreads, 0, st>>>(N, L, (const T *)A, (T *)K)));
}

extern "C" lr_status lr_kcuda_lti_kernel_bwd(lr_dtype dt, int64_t N, int64_t L, const void *K, const void *g, void *dA,
                                             lr_cuda_stream_t s) {
  if (N == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  unsigned blocks = (unsigned)(N < 65536 ? N : 65536);
  LTI_DISPATCH("lr_kcuda_lti_kernel_bwd", dt,
               (kernel_bwd_k<T, C><<<blocks, kThreads, 0, st>>>(N, L, (const T *)K, (const T *)g, (T *)dA)));
}

extern "C" lr_status lr_kcuda_lti_scan(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *u, const void *A,
                                       void *h, lr_cuda_stream_t s) {
  if (B * L * N == 0) return LR_OK;
  cudaStream_t st = lr_cuda_pick_stream(s);
  LTI_DISPATCH("lr_kcuda_lti_scan", dt,
               (scan_k<T, C><<<lr_cuda_blocks(B * N, kThreads), kThreads, 0, st>>>(B, L, N, (const T *)u,
                                                                                 (const T *)A, (T *)h)));
}

extern "C" size_t lr_kcuda_lti_scan_bwd_work(int64_t B, int64_t N) { return (size_t)(B * N) * sizeof(cd); }

extern "C" lr_status lr_kcuda_lti_scan_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *A, const void *h,
                                           const void *g, void *du, void *dA, void *work, lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_lti_scan_bwd";
  cudaStream_t st = lr_cuda_pick_stream(s);
  size_t es = lr_dtype_size(dt);
  if (B * N == 0 || L == 0) { /* no terms: du is empty or zero-length, dA is zero */
    if (dA && N > 0) LR_CUDA_TRY(fn, cudaMemsetAsync(dA, 0, (size_t)N * es, st));
    return LR_OK;
  }
  cd *part = dA ? (cd *)work : NULL;
  switch (dt) {
    case LR_DTYPE_F32: case LR_DTYPE_F64: case LR_DTYPE_C64: case LR_DTYPE_C128: break;
    default: return bad_dt(fn, dt);
  }
#define LAUNCH_BWD                                                                                            \
  scan_bwd_k<T, C><<<lr_cuda_blocks(B * N, kThreads), kThreads, 0, st>>>(B, L, N, (const T *)A, (const T *)h, \
                                                                         (const T *)g, (T *)du, part);        \
  if (dA) sum_b_k<T, C><<<lr_cuda_blocks(N, kThreads), kThreads, 0, st>>>(B, N, part, (T *)dA)
  LTI_DISPATCH(fn, dt, LAUNCH_BWD);
#undef LAUNCH_BWD
}
