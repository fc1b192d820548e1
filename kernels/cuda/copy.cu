/* Strided copies and fills on the GPU: the tensor layer's strided_copy and fill device hooks
 * (tensor/tensor.h), which make lr_tensor_copy_, lr_tensor_fill_ and lr_tensor_contiguous_raw
 * work for views of CUDA tensors of every dtype.
 *
 *   strided_copy  dst[i0, .., ik] = src[i0, .., ik] over a shape of up to LR_MAX_DIMS dims; both
 *                 sides have strides in elements of any sign (flip reads backwards) and src may
 *                 have zero strides (expand, and fills of strided tensors: one element copied
 *                 everywhere).
 *   fill          dst[0 .. n) = one element given as es bytes.
 *
 * Elements are moved as opaque words of es bytes (1, 2, 4, 8 or 16: uint8 .. a pair of uint64,
 * 8-byte aligned like lr_c128), so one kernel serves every dtype and copies are bit-exact.
 *
 * On the host, size-1 dims are dropped and neighbouring dims merged where both sides step
 * contiguously across them, so a window of a contiguous tensor (cat, narrow, pad) reaches the
 * kernel with one or two dims, and a copy that is contiguous on both sides becomes one
 * cudaMemcpyAsync. Launch: a grid-stride loop, one thread per destination element in row-major
 * order, the multi-index split innermost first; 32-bit signed index arithmetic when every offset
 * fits (64-bit division is several times slower on the GPU). A copy that transposes (the
 * destination's innermost dim is not the source's unit-stride one, as (B, L, D) -> (B, D, L))
 * goes by 32 x 32 tiles through shared memory instead (tile.cuh), so that both sides coalesce.
 *
 * Deterministic trivially: every destination element is written by exactly one thread (dst never
 * has zero strides: the tensor layer copies into allocated tensors and their windows only).
 */
#include "kernels/cuda/common.cuh"
#include "kernels/cuda/tile.cuh"

namespace {

const int kThreads = 256;

struct CopyGeom {
  int ndim;
  int64_t shape[LR_MAX_DIMS];
  int64_t ds[LR_MAX_DIMS], ss[LR_MAX_DIMS];
};

struct alignas(8) Word16 {
  uint64_t lo, hi;
};

template <typename W, typename I>
__global__ void copy_1d(W *__restrict__ dst, const W *__restrict__ src, I n, I ds, I ss) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) dst[i * ds] = src[i * ss];
}

template <typename W, typename I>
__global__ void copy_nd(W *__restrict__ dst, const W *__restrict__ src, I n, CopyGeom g) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
    I rem = i, d = 0, s = 0;
    for (int k = g.ndim - 1; k >= 0; k--) {
      I sz = (I)g.shape[k];
      I ik = rem % sz;
      rem /= sz;
      d += ik * (I)g.ds[k];
      s += ik * (I)g.ss[k];
    }
    dst[d] = src[s];
  }
}

/* Drops size-1 dims; merges dim k into the previous kept one when both sides step contiguously
 * across them. Leaves at least one dim. */
void collapse(int ndim, const int64_t *shape, const int64_t *ds, const int64_t *ss, CopyGeom *g) {
  int m = 0;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] == 1) continue;
    if (m > 0 && g->ds[m - 1] == ds[k] * shape[k] && g->ss[m - 1] == ss[k] * shape[k]) {
      g->shape[m - 1] *= shape[k];
      g->ds[m - 1] = ds[k];
      g->ss[m - 1] = ss[k];
      continue;
    }
    g->shape[m] = shape[k];
    g->ds[m] = ds[k];
    g->ss[m] = ss[k];
    m++;
  }
  if (m == 0) {
    g->shape[0] = 1;
    g->ds[0] = g->ss[0] = 1;
    m = 1;
  }
  g->ndim = m;
}

template <typename W, typename I>
void launch_copy(void *dst, const void *src, int64_t n, const CopyGeom &g, cudaStream_t s) {
  unsigned blocks = lr_cuda_blocks(n, kThreads);
  if (g.ndim == 1)
    copy_1d<W, I><<<blocks, kThreads, 0, s>>>((W *)dst, (const W *)src, (I)n, (I)g.ds[0], (I)g.ss[0]);
  else
    copy_nd<W, I><<<blocks, kThreads, 0, s>>>((W *)dst, (const W *)src, (I)n, g);
}

template <typename W> void launch_copy_w(void *dst, const void *src, int64_t n, const CopyGeom &g, cudaStream_t s) {
  bool small = n < INT32_MAX && lr_cuda_reach(g.ndim, g.shape, g.ds) < INT32_MAX &&
               lr_cuda_reach(g.ndim, g.shape, g.ss) < INT32_MAX;
  if (small) launch_copy<W, int32_t>(dst, src, n, g, s);
  else launch_copy<W, int64_t>(dst, src, n, g, s);
}

template <typename W> __global__ void fill_words(W *__restrict__ dst, int64_t n, W v) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
    dst[i] = v;
}

template <typename W> lr_status launch_fill(void *dst, int64_t n, const void *elem, cudaStream_t s) {
  W v;
  memcpy(&v, elem, sizeof v);
  fill_words<W><<<lr_cuda_blocks(n, kThreads), kThreads, 0, s>>>((W *)dst, n, v);
  return lr_cuda_check_launch("lr_cuda_fill");
}

} // namespace

extern "C" lr_status lr_cuda_strided_copy(void *dst, const int64_t *dst_strides, const void *src,
                                          const int64_t *src_strides, int ndim, const int64_t *shape, size_t es) {
  const char *fn = "lr_cuda_strided_copy";
  if (ndim < 0 || ndim > LR_MAX_DIMS) return lr_fail(LR_ERR_ARG, "%s: ndim is %d, expected 0..%d", fn, ndim, LR_MAX_DIMS);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (n == 0) return LR_OK;
  CopyGeom g;
  collapse(ndim, shape, dst_strides, src_strides, &g);
  if (g.ndim == 1 && g.ds[0] == 1 && g.ss[0] == 1) return lr_cuda_memcpy_d2d(dst, src, (size_t)n * es);
  cudaStream_t s;
  LR_TRY(lr_cuda_init());
  s = lr_cuda_stream();
  lr_tile::Geom tg; /* a transposing copy: by tiles (tile.cuh) */
  if (lr_tile::plan(g.ndim, g.shape, g.ds, g.ss, &tg)) {
    switch (es) {
      case 1: lr_tile::launch((uint8_t *)dst, (const uint8_t *)src, tg, s); break;
      case 2: lr_tile::launch((uint16_t *)dst, (const uint16_t *)src, tg, s); break;
      case 4: lr_tile::launch((uint32_t *)dst, (const uint32_t *)src, tg, s); break;
      case 8: lr_tile::launch((uint64_t *)dst, (const uint64_t *)src, tg, s); break;
      case 16: lr_tile::launch((Word16 *)dst, (const Word16 *)src, tg, s); break;
      default: return lr_fail(LR_ERR_ARG, "%s: element size %zu, expected 1, 2, 4, 8 or 16", fn, es);
    }
    return lr_cuda_check_launch(fn);
  }
  switch (es) {
    case 1: launch_copy_w<uint8_t>(dst, src, n, g, s); break;
    case 2: launch_copy_w<uint16_t>(dst, src, n, g, s); break;
    case 4: launch_copy_w<uint32_t>(dst, src, n, g, s); break;
    case 8: launch_copy_w<uint64_t>(dst, src, n, g, s); break;
    case 16: launch_copy_w<Word16>(dst, src, n, g, s); break;
    default: return lr_fail(LR_ERR_ARG, "%s: element size %zu, expected 1, 2, 4, 8 or 16", fn, es);
  }
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_cuda_fill(void *dst, int64_t n, const void *elem, size_t es) {
  const char *fn = "lr_cuda_fill";
  if (n <= 0) return LR_OK;
  if (!dst || !elem) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  LR_TRY(lr_cuda_init());
  cudaStream_t s = lr_cuda_stream();
  switch (es) {
    case 1: return launch_fill<uint8_t>(dst, n, elem, s);
    case 2: return launch_fill<uint16_t>(dst, n, elem, s);
    case 4: return launch_fill<uint32_t>(dst, n, elem, s);
    case 8: return launch_fill<uint64_t>(dst, n, elem, s);
    case 16: return launch_fill<Word16>(dst, n, elem, s);
    default: return lr_fail(LR_ERR_ARG, "%s: element size %zu, expected 1, 2, 4, 8 or 16", fn, es);
  }
}
