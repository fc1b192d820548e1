/* dst += src reduced over broadcast dims, on the GPU: the end of every broadcasting op's backward.
 * Mirrors kernels/cpu/accumulate.c.
 *
 * src is contiguous with shape ss; dst has strides dstr in src's dim space, 0 along the dims it
 * was broadcast over ("reduced" dims; the others are "kept"). On the host, size-1 dims are dropped
 * and neighbouring dims of the same kind merged, leaving m dst elements (kept dims) each summing r
 * src elements (reduced dims).
 *
 * Deterministic, no atomics: who adds what in which order depends only on the shapes.
 *  - flat: nothing reduced and both sides contiguous (a gradient of the input's own shape):
 *    dst[i] += src[i], by 16 bytes where F32 and aligned; the same adds as thread.
 *  - thread: one thread per dst element adds its r elements in src's row-major order, exactly as
 *    the CPU does, so the result is bitwise equal to the CPU's. Used when there are enough dst
 *    elements to fill the GPU (m >= 65536) or the reductions are short (r <= 64).
 *  - column: the innermost src dim is kept (sum over rows, e.g. a bias gradient): a 32 x 32 block
 *    takes 32 neighbouring dst elements (coalesced reads along x); thread row y adds reduced
 *    elements y, y + 32, ... in order, and the 32 partials are added in order of y.
 *  - row: the innermost src dim is reduced (sum along a row): a block of 256 threads per dst
 *    element; thread t adds elements t, t + 256, ... in order, then a fixed shared-memory tree.
 */
#include <type_traits>

#include "kernels/cuda/common.cuh"

namespace {

struct AccGeom {
  int nk, nr;
  int64_t ksize[LR_MAX_DIMS], ksrc[LR_MAX_DIMS], kdst[LR_MAX_DIMS]; /* kept dims, outermost first */
  int64_t rsize[LR_MAX_DIMS], rsrc[LR_MAX_DIMS];                    /* reduced dims, outermost first */
  int64_t m, r;
};

/* Offsets in src and dst of the kept multi-index with flat (row-major) index p. */
template <typename I> __device__ __forceinline__ void kept_offsets(const AccGeom &g, I p, I *so, I *dof) {
  I s = 0, d = 0;
  for (int k = g.nk - 1; k >= 0; k--) {
    I sz = (I)g.ksize[k];
    I ik = p % sz;
    p /= sz;
    s += ik * (I)g.ksrc[k];
    d += ik * (I)g.kdst[k];
  }
  *so = s;
  *dof = d;
}

/* Offset in src of the reduced multi-index with flat index q. */
template <typename I> __device__ __forceinline__ I reduced_offset(const AccGeom &g, I q) {
  if (g.nr == 1) return q * (I)g.rsrc[0];
  I s = 0;
  for (int k = g.nr - 1; k >= 0; k--) {
    I sz = (I)g.rsize[k];
    s += (q % sz) * (I)g.rsrc[k];
    q /= sz;
  }
  return s;
}

template <typename T, typename I> __global__ void acc_thread(T *dst, const T *__restrict__ src, AccGeom g) {
  for (I p = (I)blockIdx.x * blockDim.x + threadIdx.x; p < (I)g.m; p += (I)blockDim.x * gridDim.x) {
    I so, dof;
    kept_offsets<I>(g, p, &so, &dof);
    T acc = dst[dof];
    if (g.nr == 0) {
      acc = lr_add_(acc, src[so]);
    } else {
      /* row-major over the reduced dims: a strided inner loop and an odometer over the outer ones */
      I inner = (I)g.rsize[g.nr - 1], istr = (I)g.rsrc[g.nr - 1];
      I cnt[LR_MAX_DIMS] = {0};
      I off = so;
      for (;;) {
        const T *sp = src + off;
        for (I j = 0; j < inner; j++) acc = lr_add_(acc, sp[j * istr]);
        int d = g.nr - 2;
        for (; d >= 0; d--) {
          cnt[d]++;
          off += (I)g.rsrc[d];
          if (cnt[d] < (I)g.rsize[d]) break;
          off -= (I)g.rsrc[d] * (I)g.rsize[d];
          cnt[d] = 0;
        }
        if (d < 0) break;
      }
    }
    dst[dof] = acc;
  }
}

const int kColX = 32, kColY = 32;

/* __launch_bounds__: 1024 threads leave 64 registers each; without it, the c128 / 64-bit-index
 * instance could ask for more and fail to launch. */
template <typename T, typename I> __global__ void __launch_bounds__(kColX * kColY) acc_column(T *dst, const T *__restrict__ src, AccGeom g) {
  __shared__ T part[kColY][kColX + 1];
  const int x = threadIdx.x, y = threadIdx.y;
  for (I p0 = (I)blockIdx.x * kColX; p0 < (I)g.m; p0 += (I)gridDim.x * kColX) {
    I p = p0 + x;
    I so = 0, dof = 0;
    T acc = lr_zero_<T>();
    if (p < (I)g.m) {
      kept_offsets<I>(g, p, &so, &dof);
      for (I q = y; q < (I)g.r; q += kColY) acc = lr_add_(acc, src[so + reduced_offset<I>(g, q)]);
    }
    part[y][x] = acc;
    __syncthreads();
    if (y == 0 && p < (I)g.m) {
      T sum = part[0][x];
      for (int yy = 1; yy < kColY; yy++) sum = lr_add_(sum, part[yy][x]);
      dst[dof] = lr_add_(dst[dof], sum);
    }
    __syncthreads(); /* part is rewritten by the next group */
  }
}

const int kRowThreads = 256;

template <typename T, typename I> __global__ void __launch_bounds__(kRowThreads) acc_row(T *dst, const T *__restrict__ src, AccGeom g) {
  __shared__ T part[kRowThreads];
  const int t = threadIdx.x;
  for (I p = blockIdx.x; p < (I)g.m; p += gridDim.x) {
    I so, dof;
    kept_offsets<I>(g, p, &so, &dof);
    T acc = lr_zero_<T>();
    for (I q = t; q < (I)g.r; q += kRowThreads) acc = lr_add_(acc, src[so + reduced_offset<I>(g, q)]);
    part[t] = acc;
    __syncthreads();
    for (int h = kRowThreads / 2; h > 0; h >>= 1) {
      if (t < h) part[t] = lr_add_(part[t], part[t + h]);
      __syncthreads();
    }
    if (t == 0) dst[dof] = lr_add_(dst[dof], part[0]);
    __syncthreads();
  }
}

/* Splits src's dims into merged runs of kept and reduced dims (see the top of the file);
 * inner_kept: the innermost non-trivial dim is kept. */
void build_geom(const int64_t *dstr, int ndim, const int64_t *ss, AccGeom *g, bool *inner_kept) {
  int64_t cs[LR_MAX_DIMS];
  int64_t acc = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    cs[i] = acc;
    acc *= ss[i];
  }
  g->nk = g->nr = 0;
  g->m = g->r = 1;
  int last = -1; /* kind of the previous non-trivial dim: 0 kept, 1 reduced */
  *inner_kept = true;
  for (int i = 0; i < ndim; i++) {
    if (ss[i] == 1) continue;
    int red = dstr[i] == 0;
    if (red) {
      if (last == 1) { /* merge: src is contiguous across dropped size-1 dims too */
        g->rsize[g->nr - 1] *= ss[i];
        g->rsrc[g->nr - 1] = cs[i];
      } else {
        g->rsize[g->nr] = ss[i];
        g->rsrc[g->nr] = cs[i];
        g->nr++;
      }
      g->r *= ss[i];
    } else {
      if (last == 0 && g->kdst[g->nk - 1] == dstr[i] * ss[i]) {
        g->ksize[g->nk - 1] *= ss[i];
        g->ksrc[g->nk - 1] = cs[i];
        g->kdst[g->nk - 1] = dstr[i];
      } else {
        g->ksize[g->nk] = ss[i];
        g->ksrc[g->nk] = cs[i];
        g->kdst[g->nk] = dstr[i];
        g->nk++;
      }
      g->m *= ss[i];
    }
    last = red;
    *inner_kept = !red;
  }
}

/* dst += src over m elements, both contiguous (no dim reduced: a gradient of the input's own
 * shape, the common case), by 16 bytes where aligned: the same adds as acc_thread without its
 * per-element index arithmetic (acc_thread ran these at 2.8 TB/s on an H200, 18% of a Mamba
 * layer's training step at B 32, L 2048, H 128) */
template <typename T> __global__ void acc_flat(T *dst, const T *__restrict__ src, int64_t m) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < m; i += (int64_t)blockDim.x * gridDim.x)
    dst[i] = lr_add_(dst[i], src[i]);
}
__global__ void acc_flat4(float4 *dst, const float4 *__restrict__ src, int64_t m4) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < m4; i += (int64_t)blockDim.x * gridDim.x) {
    float4 a = dst[i];
    const float4 b = src[i];
    a.x += b.x, a.y += b.y, a.z += b.z, a.w += b.w;
    dst[i] = a;
  }
}

template <typename T, typename I> lr_status launch(void *dst, const void *src, const AccGeom &g, bool inner_kept,
                                                   cudaStream_t s) {
  if (g.nr == 0 && g.nk == 1 && g.kdst[0] == 1 && g.ksrc[0] == 1) {
    if (std::is_same<T, float>::value && g.m % 4 == 0 && ((uintptr_t)dst & 15) == 0 && ((uintptr_t)src & 15) == 0)
      acc_flat4<<<lr_cuda_blocks(g.m / 4, 256), 256, 0, s>>>((float4 *)dst, (const float4 *)src, g.m / 4);
    else
      acc_flat<T><<<lr_cuda_blocks(g.m, 256), 256, 0, s>>>((T *)dst, (const T *)src, g.m);
  } else if (g.m >= 65536 || g.r <= 64) {
    acc_thread<T, I><<<lr_cuda_blocks(g.m, 256), 256, 0, s>>>((T *)dst, (const T *)src, g);
  } else if (inner_kept) {
    acc_column<T, I><<<lr_cuda_blocks(g.m, kColX), dim3(kColX, kColY), 0, s>>>((T *)dst, (const T *)src, g);
  } else {
    unsigned blocks = g.m < 65536 ? (unsigned)g.m : 65536u;
    acc_row<T, I><<<blocks, kRowThreads, 0, s>>>((T *)dst, (const T *)src, g);
  }
  return lr_cuda_check_launch("lr_kcuda_acc_broadcast");
}

template <typename T> lr_status launch_t(void *dst, const void *src, const AccGeom &g, bool inner_kept, cudaStream_t s) {
  int64_t dmax = 0;
  bool neg = false;
  for (int k = 0; k < g.nk; k++) {
    if (g.kdst[k] < 0) neg = true;
    dmax += (g.ksize[k] - 1) * g.kdst[k];
  }
  if (!neg && g.m * g.r < INT32_MAX && dmax < INT32_MAX) return launch<T, uint32_t>(dst, src, g, inner_kept, s);
  return launch<T, int64_t>(dst, src, g, inner_kept, s);
}

} // namespace

extern "C" lr_status lr_kcuda_acc_broadcast(lr_dtype dt, void *dst, const int64_t *dstr, const void *src, int ndim,
                                            const int64_t *ss, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_acc_broadcast";
  if (ndim < 0 || ndim > LR_MAX_DIMS) return lr_fail(LR_ERR_ARG, "%s: ndim is %d, expected 0..%d", fn, ndim, LR_MAX_DIMS);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= ss[i];
  if (n == 0) return LR_OK;
  AccGeom g;
  bool inner_kept;
  build_geom(dstr, ndim, ss, &g, &inner_kept);
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32: return launch_t<float>(dst, src, g, inner_kept, s);
    case LR_DTYPE_F64: return launch_t<double>(dst, src, g, inner_kept, s);
    case LR_DTYPE_C64: return launch_t<lr_c64>(dst, src, g, inner_kept, s);
    case LR_DTYPE_C128: return launch_t<lr_c128>(dst, src, g, inner_kept, s);
    default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
  }
}
