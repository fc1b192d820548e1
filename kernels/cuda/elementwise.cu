/* Elementwise CUDA kernels: binary ops with broadcasting and fill.
 *
 * out = a (op) b, op in {+, -, *, /}, for F32, F64, C64, C128; mirrors kernels/cpu/elementwise.c.
 * The output is contiguous; a and b are read through strides aligned to the output's dims (0 along
 * broadcast dims). On the host, size-1 dims are dropped and neighbouring dims merged where both
 * inputs are laid out contiguously across them, so the common cases (same shape, a row vector
 * broadcast over rows) reach the kernel with one or two dims. One thread per output element in a
 * grid-stride loop; index arithmetic is 32-bit when every offset fits, since 64-bit division is
 * several times slower on the GPU.
 *
 * Real results are bitwise equal to the CPU's (one IEEE operation per element, and CUDA's float
 * division is correctly rounded by default); complex mul/div may differ in the last bit because
 * nvcc fuses multiply-adds.
 */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;

struct Geom {
  int ndim;
  int64_t shape[LR_MAX_DIMS];
  int64_t as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
};

template <typename T> __device__ __forceinline__ T sub_(T a, T b) { return a - b; }
template <typename T> __device__ __forceinline__ T mul_(T a, T b) { return a * b; }
template <typename T> __device__ __forceinline__ T div_(T a, T b) { return a / b; }
template <> __device__ __forceinline__ lr_c64 sub_(lr_c64 a, lr_c64 b) { return lr_c64_sub(a, b); }
template <> __device__ __forceinline__ lr_c64 mul_(lr_c64 a, lr_c64 b) { return lr_c64_mul(a, b); }
template <> __device__ __forceinline__ lr_c64 div_(lr_c64 a, lr_c64 b) { return lr_c64_div(a, b); }
template <> __device__ __forceinline__ lr_c128 sub_(lr_c128 a, lr_c128 b) { return lr_c128_sub(a, b); }
template <> __device__ __forceinline__ lr_c128 mul_(lr_c128 a, lr_c128 b) { return lr_c128_mul(a, b); }
template <> __device__ __forceinline__ lr_c128 div_(lr_c128 a, lr_c128 b) { return lr_c128_div(a, b); }

template <int K, typename T> __device__ __forceinline__ T apply(T a, T b) {
  if constexpr (K == LR_BIN_ADD) return lr_add_(a, b);
  else if constexpr (K == LR_BIN_SUB) return sub_(a, b);
  else if constexpr (K == LR_BIN_MUL) return mul_(a, b);
  else return div_(a, b);
}

/* One dim after merging: out[i] = a[i * as] (op) b[i * bs]. */
template <int K, typename T, typename I>
__global__ void binary_1d(T *__restrict__ out, const T *__restrict__ a, const T *__restrict__ b, I n, I as, I bs) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x)
    out[i] = apply<K>(a[i * as], b[i * bs]);
}

/* Any number of dims: the output index is split into a multi-index innermost first. */
template <int K, typename T, typename I>
__global__ void binary_nd(T *__restrict__ out, const T *__restrict__ a, const T *__restrict__ b, I n, Geom g) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
    I rem = i, ao = 0, bo = 0;
    for (int k = g.ndim - 1; k >= 0; k--) {
      I sz = (I)g.shape[k];
      I ik = rem % sz;
      rem /= sz;
      ao += ik * (I)g.as[k];
      bo += ik * (I)g.bs[k];
    }
    out[i] = apply<K>(a[ao], b[bo]);
  }
}

/* Drops size-1 dims and merges dim k into k + 1 when both inputs step contiguously across them
 * (the output always does). Leaves at least one dim. */
void collapse(int ndim, const int64_t *shape, const int64_t *as, const int64_t *bs, Geom *g) {
  int m = 0;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] == 1) continue;
    if (m > 0 && g->as[m - 1] == as[k] * shape[k] && g->bs[m - 1] == bs[k] * shape[k]) {
      g->shape[m - 1] *= shape[k];
      g->as[m - 1] = as[k];
      g->bs[m - 1] = bs[k];
      continue;
    }
    g->shape[m] = shape[k];
    g->as[m] = as[k];
    g->bs[m] = bs[k];
    m++;
  }
  if (m == 0) {
    g->shape[0] = 1;
    g->as[0] = g->bs[0] = 0;
    m = 1;
  }
  g->ndim = m;
}

/* Largest element offset reachable through strides, to decide whether 32-bit indices suffice. */
int64_t max_offset(const Geom &g, const int64_t *st) {
  int64_t o = 0;
  for (int k = 0; k < g.ndim; k++) {
    if (st[k] < 0) return INT64_MAX; /* never made by lrnnx's views; take the signed path */
    o += (g.shape[k] - 1) * st[k];
  }
  return o;
}

template <int K, typename T, typename I>
void launch_binary(void *out, const void *a, const void *b, int64_t n, const Geom &g, cudaStream_t s) {
  unsigned blocks = lr_cuda_blocks(n, kThreads);
  if (g.ndim == 1)
    binary_1d<K, T, I><<<blocks, kThreads, 0, s>>>((T *)out, (const T *)a, (const T *)b, (I)n, (I)g.as[0],
                                                    (I)g.bs[0]);
  else
    binary_nd<K, T, I><<<blocks, kThreads, 0, s>>>((T *)out, (const T *)a, (const T *)b, (I)n, g);
}

template <int K, typename T>
void launch_binary_t(void *out, const void *a, const void *b, int64_t n, const Geom &g, cudaStream_t s) {
  bool small = n < INT32_MAX && max_offset(g, g.as) < INT32_MAX && max_offset(g, g.bs) < INT32_MAX;
  if (small) launch_binary<K, T, uint32_t>(out, a, b, n, g, s);
  else launch_binary<K, T, int64_t>(out, a, b, n, g, s);
}

template <typename T>
lr_status dispatch_kind(lr_binary_kind k, void *out, const void *a, const void *b, int64_t n, const Geom &g,
                        cudaStream_t s) {
  switch (k) {
    case LR_BIN_ADD: launch_binary_t<LR_BIN_ADD, T>(out, a, b, n, g, s); return LR_OK;
    case LR_BIN_SUB: launch_binary_t<LR_BIN_SUB, T>(out, a, b, n, g, s); return LR_OK;
    case LR_BIN_MUL: launch_binary_t<LR_BIN_MUL, T>(out, a, b, n, g, s); return LR_OK;
    case LR_BIN_DIV: launch_binary_t<LR_BIN_DIV, T>(out, a, b, n, g, s); return LR_OK;
    default: return lr_fail(LR_ERR_UNSUPPORTED, "lr_kcuda_binary: binary kind %d has no CUDA kernel", (int)k);
  }
}

template <typename T> __global__ void fill_kernel(T *__restrict__ dst, int64_t n, T v) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
    dst[i] = v;
}

template <typename T> lr_status launch_fill(void *dst, int64_t n, T v, cudaStream_t s) {
  fill_kernel<T><<<lr_cuda_blocks(n, kThreads), kThreads, 0, s>>>((T *)dst, n, v);
  return lr_cuda_check_launch("lr_kcuda_fill");
}

} // namespace

extern "C" lr_status lr_kcuda_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as,
                                     const void *b, const int64_t *bs, int ndim, const int64_t *shape,
                                     lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_binary";
  if (ndim < 0 || ndim > LR_MAX_DIMS) return lr_fail(LR_ERR_ARG, "%s: ndim is %d, expected 0..%d", fn, ndim, LR_MAX_DIMS);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (n == 0) return LR_OK;
  Geom g;
  collapse(ndim, shape, as, bs, &g);
  cudaStream_t s = lr_cuda_pick_stream(stream);
  lr_status st;
  switch (dt) {
    case LR_DTYPE_F32: st = dispatch_kind<float>(k, out, a, b, n, g, s); break;
    case LR_DTYPE_F64: st = dispatch_kind<double>(k, out, a, b, n, g, s); break;
    case LR_DTYPE_C64: st = dispatch_kind<lr_c64>(k, out, a, b, n, g, s); break;
    case LR_DTYPE_C128: st = dispatch_kind<lr_c128>(k, out, a, b, n, g, s); break;
    default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
  }
  LR_TRY(st);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_fill(lr_dtype dt, void *dst, int64_t n, double re, double im, lr_cuda_stream_t stream) {
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32: return launch_fill<float>(dst, n, (float)re, s);
    case LR_DTYPE_F64: return launch_fill<double>(dst, n, re, s);
    case LR_DTYPE_C64: return launch_fill<lr_c64>(dst, n, lr_c64_make((float)re, (float)im), s);
    case LR_DTYPE_C128: return launch_fill<lr_c128>(dst, n, lr_c128_make(re, im), s);
    case LR_DTYPE_I32: return launch_fill<int32_t>(dst, n, (int32_t)re, s);
    case LR_DTYPE_I64: return launch_fill<int64_t>(dst, n, (int64_t)re, s);
    case LR_DTYPE_BOOL: return launch_fill<uint8_t>(dst, n, (uint8_t)(re != 0), s);
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_fill: unknown dtype %d", (int)dt);
  }
}
