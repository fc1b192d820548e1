/* Optimizer kernels on the GPU: Adam/AdamW and SGD updates, the sum of squares and the scaling of
 * gradient-norm clipping. Mirrors kernels/cpu/optim.c (the formulas are in kernels/cpu/optim.h
 * and optim/adam.c, optim/sgd.c, optim/clip.c).
 *
 * Updates: one thread per real (a complex tensor is 2n reals), grid-stride loop, the CPU's
 * per-element expressions in the tensor's precision T with the scalars rounded to T the same
 * way. This file is compiled with -fmad=false (kernels/BUILD) so that b1 * m + omb1 * g is two
 * roundings, as on the CPU (C11 does not contract there), and CUDA's sqrt and division are
 * correctly rounded by default: an update is bitwise equal to the CPU's.
 *
 * Sum of squares: a deterministic two-pass sum in double. Pass 1: ceil(n / chunk) <= 1024 blocks
 * of 256 threads; block b sums its chunk of consecutive reals (thread t: reals t, t + 256, ... in
 * order, then a fixed shared-memory halving tree) into work[b]. Pass 2: one block adds the
 * partials the same way and writes *out. The order depends only on n, so the result is the same
 * run to run (it differs from the CPU's OpenMP sum in the last bits: another order).
 */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;
const int64_t kMaxParts = 1024;

template <typename T>
__global__ void adam_k(int64_t n, T *__restrict__ P, const T *__restrict__ G, T *__restrict__ M, T *__restrict__ V, T b1,
                       T b2, T omb1, T omb2, T wd, T decay, T step, T bc2s, T eps, int dec, int has_wd) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    T gi = G[i], pi = P[i];
    if (has_wd) {
      if (dec) pi *= decay;
      else gi += wd * pi;
    }
    T mi = b1 * M[i] + omb1 * gi;
    T vi = b2 * V[i] + omb2 * gi * gi;
    M[i] = mi;
    V[i] = vi;
    P[i] = pi - step * mi / (sqrt(vi) / bc2s + eps);
  }
}

template <typename T>
__global__ void sgd_k(int64_t n, T *__restrict__ P, const T *__restrict__ G, T *__restrict__ B, T wd, T mom, T omd, T lr,
                      int first, int nest) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    T d = G[i];
    if (wd != 0) d += wd * P[i];
    if (B) {
      T b = first ? d : mom * B[i] + omd * d;
      B[i] = b;
      d = nest ? d + mom * b : b;
    }
    P[i] -= lr * d;
  }
}

template <typename T> __global__ void scale_k(int64_t n, T *__restrict__ X, T f) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
    X[i] *= f;
}

/* Fixed halving tree over the block's values; the result is returned to every thread. */
__device__ double block_sum(double v, double *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) sh[threadIdx.x] += sh[threadIdx.x + h];
    __syncthreads();
  }
  return sh[0];
}

template <typename T>
__global__ void __launch_bounds__(kThreads) sumsq_pass1(int64_t n, const T *__restrict__ X, int64_t chunk, double *part) {
  __shared__ double sh[kThreads];
  const int64_t b0 = (int64_t)blockIdx.x * chunk, b1 = b0 + chunk < n ? b0 + chunk : n;
  double a = 0.0;
  for (int64_t i = b0 + threadIdx.x; i < b1; i += kThreads) a += (double)X[i] * (double)X[i];
  a = block_sum(a, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = a;
}

__global__ void __launch_bounds__(kThreads) sumsq_pass2(const double *part, int64_t k, double *out) {
  __shared__ double sh[kThreads];
  double a = 0.0;
  for (int64_t i = threadIdx.x; i < k; i += kThreads) a += part[i];
  a = block_sum(a, sh);
  if (threadIdx.x == 0) *out = a;
}

int64_t sumsq_chunk(int64_t n) {
  int64_t c = (n + kMaxParts - 1) / kMaxParts;
  c = (c + kThreads - 1) / kThreads * kThreads;
  return c < 2048 ? 2048 : c;
}

template <typename T> void sumsq_t(int64_t n, const void *x, double *out, double *work, cudaStream_t s) {
  int64_t chunk = sumsq_chunk(n), k = (n + chunk - 1) / chunk;
  if (k > 0) sumsq_pass1<T><<<(unsigned)k, kThreads, 0, s>>>(n, (const T *)x, chunk, work);
  sumsq_pass2<<<1, kThreads, 0, s>>>(work, k, out);
}

lr_status bad_dtype(const char *fn, lr_dtype dt) {
  return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel, expected f32 or f64", fn, lr_dtype_name(dt));
}

} // namespace

extern "C" lr_status lr_kcuda_adam(lr_dtype dt, int64_t n, void *p, const void *g, void *m, void *v, double lr,
                                   double beta1, double beta2, double eps, double weight_decay, int decoupled,
                                   double bias_correction1, double bias_correction2_sqrt, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_adam";
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned bl = lr_cuda_blocks(n, kThreads);
  int has_wd = weight_decay != 0.0;
  /* the scalars exactly as kernels/cpu/optim.c's ADAM_LOOP forms them */
#define ADAM_(T)                                                                                                 \
  adam_k<T><<<bl, kThreads, 0, s>>>(n, (T *)p, (const T *)g, (T *)m, (T *)v, (T)beta1, (T)beta2, (T)(1.0 - beta1), \
                                    (T)(1.0 - beta2), (T)weight_decay, (T)(1.0 - lr * weight_decay),                \
                                    (T)(lr / bias_correction1), (T)bias_correction2_sqrt, (T)eps, decoupled, has_wd)
  if (dt == LR_DTYPE_F32) ADAM_(float);
  else if (dt == LR_DTYPE_F64) ADAM_(double);
  else return bad_dtype(fn, dt);
#undef ADAM_
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_sgd(lr_dtype dt, int64_t n, void *p, const void *g, void *buf, double lr, double momentum,
                                  double dampening, double weight_decay, int nesterov, int first,
                                  lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_sgd";
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned bl = lr_cuda_blocks(n, kThreads);
#define SGD_(T)                                                                                                     \
  sgd_k<T><<<bl, kThreads, 0, s>>>(n, (T *)p, (const T *)g, (T *)buf, (T)weight_decay, (T)momentum,               \
                                   (T)(1.0 - dampening), (T)lr, first, nesterov)
  if (dt == LR_DTYPE_F32) SGD_(float);
  else if (dt == LR_DTYPE_F64) SGD_(double);
  else return bad_dtype(fn, dt);
#undef SGD_
  return lr_cuda_check_launch(fn);
}

extern "C" int64_t lr_kcuda_sumsq_work(void) { return kMaxParts; }

extern "C" lr_status lr_kcuda_sumsq(lr_dtype dt, int64_t n, const void *x, double *out, double *work,
                                    lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_sumsq";
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (n < 0) n = 0;
  if (dt == LR_DTYPE_F32) sumsq_t<float>(n, x, out, work, s);
  else if (dt == LR_DTYPE_F64) sumsq_t<double>(n, x, out, work, s);
  else return bad_dtype(fn, dt);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_scale(lr_dtype dt, int64_t n, void *x, double scale, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_scale";
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned bl = lr_cuda_blocks(n, kThreads);
  if (dt == LR_DTYPE_F32) scale_k<float><<<bl, kThreads, 0, s>>>(n, (float *)x, (float)scale);
  else if (dt == LR_DTYPE_F64) scale_k<double><<<bl, kThreads, 0, s>>>(n, (double *)x, scale);
  else return bad_dtype(fn, dt);
  return lr_cuda_check_launch(fn);
}
