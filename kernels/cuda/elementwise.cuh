/* The strided elementwise iterator of the CUDA backend, shared by elementwise.cu and complex.cu
 * (the GPU twin of lr_ew_iter in kernels/cpu/elementwise.h). Not for C.
 *
 * An elementwise kernel writes one or more contiguous outputs of a (broadcast) shape and reads
 * N inputs through strides in the output's dim space (0 along broadcast dims; NULL: contiguous).
 * On the host, size-1 dims are dropped and a dim is merged into its outer neighbour when every
 * input steps contiguously across the two, so a same-shape op reaches the kernel as one flat dim
 * and a row broadcast as two.
 *
 * Kernels:
 *  - dense: every input and output contiguous in the one merged dim (a same-shape op on
 *    contiguous tensors) and every pointer 16-byte aligned (checked on the host: tensor data is
 *    64-byte aligned at allocation, views may start anywhere), for functors that declare kE
 *    (elements per 32-byte chunk: 8 f32, 4 f64/c64, 2 c128) and a `vec` method. Each thread of a
 *    grid-stride loop takes whole chunks, loaded and stored as 16-byte vectors (two per array and
 *    chunk: a memory-bound kernel needs several bytes in flight per thread to approach copy
 *    bandwidth, and one 4-byte load per thread is too few on an H100/H200); the last n % kE
 *    elements go one per thread through the scalar functor. Index math is 64-bit: additions and
 *    one multiply per chunk, no division, so n needs no 32-bit case.
 *    Misaligned views, broadcast scalars (stride 0) and other strides take the kernels below: one
 *    code path per kernel keeps nvcc from cloning the (unrolled) formula for each load variant.
 *  - general, one thread per output element: element i's input offsets come from splitting i
 *    into a multi-index, innermost first (skipped for one dim: offset i * stride). Index
 *    arithmetic is 32-bit when every offset fits, since 64-bit division is several times slower
 *    on the GPU.
 *
 * A kernel body is a functor: `template <typename I> __device__ void operator()(I i, const I *off)`
 * with i the output index (also the index into every contiguous array) and off[k] the element
 * offset of input k; vectorised ones add `static constexpr int kE`, `template <int E> __device__
 * void vec(int64_t i)` (elements i .. i + E - 1, all arrays contiguous and aligned, the same
 * formula per element) and a host `bool aligned() const` (every pointer, NULL allowed). No
 * reductions, and every element is computed by the same formula on either path, so results do
 * not depend on the launch layout.
 *
 * Numerics: CUDA contracts a * b + c into one fused multiply-add, the CPU build (x86-64, no
 * -mfma, ISO C) never does. The *_rn helpers below round every product and sum like the CPU,
 * so a formula written with them gives the CPU's bits wherever it uses no library function.
 */
#ifndef LR_KCUDA_ELEMENTWISE_CUH
#define LR_KCUDA_ELEMENTWISE_CUH

#include <stdint.h>

#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace lr_ew {

const int kThreads = 256;

template <int N> struct Geo {
  int nd;
  int64_t shape[LR_MAX_DIMS];
  int64_t st[N][LR_MAX_DIMS];
};

/* Builds the launch geometry; st[k] NULL means input k is contiguous in shape. Leaves at least
 * one dim. Returns the number of elements. */
template <int N> int64_t collapse(int ndim, const int64_t *shape, const int64_t *const *st, Geo<N> *g) {
  int64_t cs[LR_MAX_DIMS], n = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    cs[d] = n;
    n *= shape[d];
  }
  int m = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    bool merge = m > 0;
    for (int k = 0; k < N && merge; k++) {
      int64_t s = st[k] ? st[k][d] : cs[d];
      merge = g->st[k][m - 1] == s * shape[d];
    }
    if (merge) {
      g->shape[m - 1] *= shape[d];
      for (int k = 0; k < N; k++) g->st[k][m - 1] = st[k] ? st[k][d] : cs[d];
    } else {
      g->shape[m] = shape[d];
      for (int k = 0; k < N; k++) g->st[k][m] = st[k] ? st[k][d] : cs[d];
      m++;
    }
  }
  if (m == 0) { /* a scalar, or all dims of size 1 */
    g->shape[0] = 1;
    for (int k = 0; k < N; k++) g->st[k][0] = 0;
    m = 1;
  }
  g->nd = m;
  return n;
}

/* Whether every element offset of every input fits in 32 bits (negative strides never come from
 * lrnnx's views; they take the 64-bit path). */
template <int N> bool fits32(const Geo<N> &g, int64_t n) {
  if (n >= INT32_MAX) return false;
  for (int k = 0; k < N; k++) {
    int64_t o = 0;
    for (int d = 0; d < g.nd; d++) {
      if (g.st[k][d] < 0) return false;
      o += (g.shape[d] - 1) * g.st[k][d];
    }
    if (o >= INT32_MAX) return false;
  }
  return true;
}

template <int N, typename I, typename F> __global__ void ew_kernel(F f, I n, Geo<N> g) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
    I off[N];
    if (g.nd == 1) { /* uniform: no division (a runtime test rather than a template parameter,
                        which would double the kernels) */
#pragma unroll
      for (int k = 0; k < N; k++) off[k] = i * (I)g.st[k][0];
    } else {
#pragma unroll
      for (int k = 0; k < N; k++) off[k] = 0;
      I rem = i;
      for (int d = g.nd - 1; d >= 0; d--) {
        I sz = (I)g.shape[d];
        I id = rem % sz;
        rem /= sz;
#pragma unroll
        for (int k = 0; k < N; k++) off[k] += id * (I)g.st[k][d];
      }
    }
    f(i, off);
  }
}

/* ---- the dense, vectorised path ---- */

/* E elements, 16-byte aligned so that a chunk moves as E * sizeof(T) / 16 vector accesses. */
template <typename T, int E> struct alignas(16) Pack {
  T v[E];
};

/* E elements at p + i, p + i 16-byte aligned. */
template <int E, typename T> __device__ __forceinline__ Pack<T, E> ld_v(const T *p, int64_t i) {
  return *(const Pack<T, E> *)(p + i);
}
template <int E, typename T> __device__ __forceinline__ void st_v(T *p, int64_t i, const Pack<T, E> &r) {
  *(Pack<T, E> *)(p + i) = r;
}

/* Whether p (which may be NULL) is 16-byte aligned. */
static inline bool al16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* Elements per chunk for a 32-byte chunk of T. */
template <typename T> constexpr int chunk() { return (int)(32 / sizeof(T)); }

/* F::kE when F has a vec method, else 0. */
template <typename F, typename = void> struct vec_of {
  static const int value = 0;
};
template <typename F> struct vec_of<F, std::void_t<decltype(F::kE)>> {
  static const int value = F::kE;
};

/* Chunk j: elements j E .. j E + E - 1 as vectors; then the last n % E elements, one per thread. */
template <int N, int E, typename F> __global__ void vec_kernel(F f, int64_t n) {
  const int64_t nc = n / E, step = (int64_t)blockDim.x * gridDim.x;
  const int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  for (int64_t j = t; j < nc; j += step) f.template vec<E>(j * E);
  int64_t r = nc * E + t;
  if (r < n) {
    int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; k++) off[k] = r;
    f(r, off);
  }
}

/* Runs f over the n elements of g on stream s; fn names the caller in error messages. */
template <int N, typename F> lr_status launch(const char *fn, const F &f, int64_t n, const Geo<N> &g, cudaStream_t s) {
  if (n <= 0) return LR_OK;
  constexpr int E = vec_of<F>::value;
  if constexpr (E > 0) {
    bool dense = g.nd == 1 && f.aligned();
    for (int k = 0; k < N && dense; k++) dense = g.st[k][0] == 1;
    if (dense) {
      int64_t nc = n / E;
      vec_kernel<N, E><<<lr_cuda_blocks(nc > 0 ? nc : 1, kThreads), kThreads, 0, s>>>(f, n);
      return lr_cuda_check_launch(fn);
    }
  }
  unsigned blocks = lr_cuda_blocks(n, kThreads);
  if (fits32(g, n)) ew_kernel<N, uint32_t><<<blocks, kThreads, 0, s>>>(f, (uint32_t)n, g);
  else ew_kernel<N, int64_t><<<blocks, kThreads, 0, s>>>(f, n, g); /* over 2^31 elements or offsets */
  return lr_cuda_check_launch(fn);
}

/* Collapse and launch in one call: st[N] as in collapse. */
template <int N, typename F>
lr_status run(const char *fn, const F &f, int ndim, const int64_t *shape, const int64_t *const *st,
              lr_cuda_stream_t stream) {
  if (ndim < 0 || ndim > LR_MAX_DIMS)
    return lr_fail(LR_ERR_ARG, "%s: ndim is %d, expected 0..%d", fn, ndim, LR_MAX_DIMS);
  Geo<N> g;
  int64_t n = collapse<N>(ndim, shape, st, &g);
  return launch<N>(fn, f, n, g, lr_cuda_pick_stream(stream));
}

/* ---- rounding like the CPU: no contraction into fused multiply-adds ---- */
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ float sub_rn(float a, float b) { return __fsub_rn(a, b); }
__device__ __forceinline__ double sub_rn(double a, double b) { return __dsub_rn(a, b); }

/* The complex arithmetic of tensor/dtype.h, with the same formulas and roundings. */
template <typename C> struct cplx;
template <> struct cplx<lr_c64> { typedef float R; };
template <> struct cplx<lr_c128> { typedef double R; };

template <typename C> __device__ __forceinline__ C cmake(typename cplx<C>::R re, typename cplx<C>::R im) {
  C z;
  z.re = re;
  z.im = im;
  return z;
}
template <typename C> __device__ __forceinline__ C cadd(C a, C b) { return cmake<C>(a.re + b.re, a.im + b.im); }
template <typename C> __device__ __forceinline__ C csub(C a, C b) { return cmake<C>(a.re - b.re, a.im - b.im); }
template <typename C> __device__ __forceinline__ C cconj(C a) { return cmake<C>(a.re, -a.im); }
template <typename C> __device__ __forceinline__ C cscale(C a, typename cplx<C>::R s) {
  return cmake<C>(a.re * s, a.im * s);
}
template <typename C> __device__ __forceinline__ C cmul(C a, C b) {
  return cmake<C>(sub_rn(mul_rn(a.re, b.re), mul_rn(a.im, b.im)), add_rn(mul_rn(a.re, b.im), mul_rn(a.im, b.re)));
}
template <typename C> __device__ __forceinline__ C cdiv(C a, C b) {
  typename cplx<C>::R d = add_rn(mul_rn(b.re, b.re), mul_rn(b.im, b.im));
  return cmake<C>(add_rn(mul_rn(a.re, b.re), mul_rn(a.im, b.im)) / d,
                  sub_rn(mul_rn(a.im, b.re), mul_rn(a.re, b.im)) / d);
}

/* Library functions by overload (float calls the f-suffixed one, as <tgmath.h> does on the CPU). */
#define LR_EW_MATH1(name)                                                        \
  __device__ __forceinline__ float name##_(float x) { return ::name##f(x); }     \
  __device__ __forceinline__ double name##_(double x) { return ::name(x); }
LR_EW_MATH1(exp)
LR_EW_MATH1(log)
LR_EW_MATH1(log1p)
LR_EW_MATH1(expm1)
LR_EW_MATH1(sqrt)
LR_EW_MATH1(sin)
LR_EW_MATH1(cos)
LR_EW_MATH1(tanh)
LR_EW_MATH1(erf)
LR_EW_MATH1(fabs)
#undef LR_EW_MATH1
__device__ __forceinline__ float pow_(float x, float y) { return ::powf(x, y); }
__device__ __forceinline__ double pow_(double x, double y) { return ::pow(x, y); }
__device__ __forceinline__ float atan2_(float y, float x) { return ::atan2f(y, x); }
__device__ __forceinline__ double atan2_(double y, double x) { return ::atan2(y, x); }
__device__ __forceinline__ float hypot_(float x, float y) { return ::hypotf(x, y); }
__device__ __forceinline__ double hypot_(double x, double y) { return ::hypot(x, y); }

} // namespace lr_ew

#endif
