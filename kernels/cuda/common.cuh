/* Shared by the .cu files of the CUDA backend (not installed, not for C): CUDA's headers, the
 * C headers of the tensor layer with C linkage, error conversion and launch helpers. */
#ifndef LR_KCUDA_COMMON_CUH
#define LR_KCUDA_COMMON_CUH

#include <cuda_runtime.h>

/* cuda.h pulls in the C headers (status, dtype) inside extern "C"; keep it first among ours. */
#include "kernels/cuda/cuda.h"

extern "C" {
#include "tensor/tensor.h" /* LR_MAX_DIMS, the device hooks */
}

/* CUDA error -> lr_status: LR_ERR_MEMORY for out of memory, LR_ERR_DEVICE otherwise. The message
 * names the function, CUDA's error name and text, and what was being done. */
lr_status lr_cuda_fail(cudaError_t e, const char *fn, const char *what);

#define LR_CUDA_TRY(fn, expr)                                  \
  do {                                                         \
    cudaError_t lr_cu_e_ = (expr);                             \
    if (lr_cu_e_ != cudaSuccess) return lr_cuda_fail(lr_cu_e_, fn, #expr); \
  } while (0)

/* After a launch: configuration errors show up here (asynchronous faults on a later sync). */
static inline lr_status lr_cuda_check_launch(const char *fn) {
  cudaError_t e = cudaGetLastError();
  return e == cudaSuccess ? LR_OK : lr_cuda_fail(e, fn, "kernel launch");
}

/* The stream a kernel runs on: the given one, or the context's when NULL. */
static inline cudaStream_t lr_cuda_pick_stream(lr_cuda_stream_t s) { return s ? s : lr_cuda_stream(); }

/* A grid for a grid-stride loop over n items with `threads` per block. */
static inline unsigned lr_cuda_blocks(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  if (b < 1) b = 1;
  if (b > 65536) b = 65536;
  return (unsigned)b;
}

/* Largest |offset| that strides str reach over shape (n dims): whether 32-bit indices fit. */
static inline int64_t lr_cuda_reach(int n, const int64_t *shape, const int64_t *str) {
  int64_t o = 0;
  for (int k = 0; k < n; k++) o += (shape[k] > 0 ? shape[k] - 1 : 0) * (str[k] < 0 ? -str[k] : str[k]);
  return o;
}

/* Addition for the four float dtypes, used by kernels templated on the element type. */
__device__ __forceinline__ float lr_add_(float a, float b) { return a + b; }
__device__ __forceinline__ double lr_add_(double a, double b) { return a + b; }
__device__ __forceinline__ lr_c64 lr_add_(lr_c64 a, lr_c64 b) { return lr_c64_add(a, b); }
__device__ __forceinline__ lr_c128 lr_add_(lr_c128 a, lr_c128 b) { return lr_c128_add(a, b); }

template <typename T> __device__ __forceinline__ T lr_zero_() { return T(0); }
template <> __device__ __forceinline__ lr_c64 lr_zero_<lr_c64>() { return lr_c64_make(0.f, 0.f); }
template <> __device__ __forceinline__ lr_c128 lr_zero_<lr_c128>() { return lr_c128_make(0.0, 0.0); }

#endif
