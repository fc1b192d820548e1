/* Kernels of the shape ops on the GPU (ops/shape.c); mirrors kernels/cpu/shape.c.
 *
 *   index_select    out[o, j, q] = x[o, idx[j], q]                        (also embedding)
 *   index_add       gx[o, r, q] += sum_{j : idx[j] = r} g[o, j, q]          (their backward)
 *   gather          out[c] = x[c with c_dim = idx[c]]
 *   scatter_add     gx[c with c_dim = idx[c]] += g[c]                      (gather's backward)
 *   cumsum          out[o, k, q] = sum_{t <= k} x[o, t, q]  (reverse: t >= k, cumsum's backward)
 *
 * Copies move elements as opaque words of es bytes, so they serve every dtype; the adding kernels
 * take F32, F64, C64, C128 (complex addition is componentwise, as on the CPU).
 *
 * Launch layouts and determinism (no atomics anywhere; who adds what in which order depends only
 * on the shapes and the index, never on scheduling):
 *  - index_select, gather: one thread per output element in a grid-stride loop, the innermost
 *    dim fastest (coalesced writes, and coalesced reads along inner).
 *  - index_add: the op inverts the index on the host into segments, one per distinct destination
 *    row r, listing the j with idx[j] = r in ascending order (a counting sort, O(nidx + nsrc)).
 *    One thread per (o, segment, q) loads gx once, adds its segment's rows of g in order and
 *    stores: the terms arrive in index order exactly as in lr_kcpu_index_add, so the result is
 *    bitwise equal to the CPU's, and threads never share a destination. Rows no index points at
 *    (and the padding row of embedding) get no thread.
 *  - scatter_add: one thread per position off dim (o, q) walks j along dim in order, as the CPU
 *    does; two threads never touch the same gx element because their off-dim coordinates differ.
 *  - cumsum: with many columns (outer * inner >= 8192, or short columns) one thread per column
 *    (o, q) runs the recurrence, bitwise equal to the CPU. With few long columns each column is cut
 *    into nch fixed chunks: (a) one thread per (column, chunk) sums its chunk in scan order, (b)
 *    one thread per column turns the chunk sums into carries (an exclusive scan in chunk order),
 *    (c) one thread per (column, chunk) rescans its chunk from its carry. The chunking depends only
 *    on the shape, so runs are bitwise reproducible; the rounding differs from the CPU's serial sum
 *    (each element after the first chunk is carry + partial instead of one running sum).
 */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;

struct alignas(8) Word16 {
  uint64_t lo, hi;
};

#define LR_GRID_LOOP(I, i, n) for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (I)blockDim.x * gridDim.x)

/* ---- index_select ---- */

template <typename W, typename I>
__global__ void index_select_k(W *__restrict__ out, const W *__restrict__ x, I nsrc, I inner, const int64_t *__restrict__ idx,
                               I nidx, I n) {
  LR_GRID_LOOP(I, i, n) {
    I q = i % inner, r = i / inner;
    I j = r % nidx, o = r / nidx;
    out[i] = x[(o * nsrc + (I)idx[j]) * inner + q];
  }
}

template <typename W>
void launch_index_select(void *out, const void *x, int64_t outer, int64_t nsrc, int64_t inner, const int64_t *idx,
                         int64_t nidx, cudaStream_t s) {
  int64_t n = outer * nidx * inner;
  unsigned b = lr_cuda_blocks(n, kThreads);
  if (n < INT32_MAX && outer * nsrc * inner < INT32_MAX)
    index_select_k<W, uint32_t><<<b, kThreads, 0, s>>>((W *)out, (const W *)x, (uint32_t)nsrc, (uint32_t)inner, idx,
                                                       (uint32_t)nidx, (uint32_t)n);
  else
    index_select_k<W, int64_t><<<b, kThreads, 0, s>>>((W *)out, (const W *)x, nsrc, inner, idx, nidx, n);
}

/* ---- index_add over segments ---- */

template <typename T>
__global__ void index_add_k(T *gx, const T *__restrict__ g, int64_t nsrc, int64_t inner, int64_t nidx, int64_t nu,
                            const int64_t *__restrict__ rows, const int64_t *__restrict__ start,
                            const int64_t *__restrict__ js, int64_t n) {
  LR_GRID_LOOP(int64_t, i, n) {
    int64_t q = i % inner, r = i / inner;
    int64_t u = r % nu, o = r / nu;
    T *dp = gx + (o * nsrc + rows[u]) * inner + q;
    const T *gp = g + o * nidx * inner + q;
    T acc = *dp;
    for (int64_t p = start[u], e = start[u + 1]; p < e; p++) acc = lr_add_(acc, gp[js[p] * inner]);
    *dp = acc;
  }
}

template <typename T>
void launch_index_add(void *gx, const void *g, int64_t outer, int64_t nsrc, int64_t inner, int64_t nidx,
                      const int64_t *rows, const int64_t *start, const int64_t *js, int64_t nu, cudaStream_t s) {
  int64_t n = outer * nu * inner;
  index_add_k<T><<<lr_cuda_blocks(n, kThreads), kThreads, 0, s>>>((T *)gx, (const T *)g, nsrc, inner, nidx, nu, rows,
                                                                  start, js, n);
}

/* ---- gather, scatter_add ---- */

struct GatherGeom {
  int ndim, dim;
  int64_t ishape[LR_MAX_DIMS];
  int64_t xstr[LR_MAX_DIMS];
};

template <typename W, typename I>
__global__ void gather_k(W *__restrict__ out, const W *__restrict__ x, const int64_t *__restrict__ idx, GatherGeom g,
                         I n) {
  LR_GRID_LOOP(I, i, n) {
    I rem = i, off = 0;
    for (int k = g.ndim - 1; k >= 0; k--) {
      I sz = (I)g.ishape[k];
      I ik = rem % sz;
      rem /= sz;
      if (k != g.dim) off += ik * (I)g.xstr[k];
    }
    off += (I)idx[i] * (I)g.xstr[g.dim];
    out[i] = x[off];
  }
}

/* 64-bit offsets: x's size along dim (which bounds the index) is not passed, so 32-bit offsets
 * could not be proven to fit; gather is rarely hot. */
template <typename W>
void launch_gather(void *out, const void *x, const int64_t *idx, const GatherGeom &g, int64_t n, cudaStream_t s) {
  gather_k<W, int64_t><<<lr_cuda_blocks(n, kThreads), kThreads, 0, s>>>((W *)out, (const W *)x, idx, g, n);
}

/* One thread per (o, q): p = o * inner + q, with o over dims [0, dim) and q over (dim, ndim). */
template <typename T>
__global__ void scatter_add_k(T *gx, const T *__restrict__ g, const int64_t *__restrict__ idx, GatherGeom geo,
                              int64_t outer, int64_t inner) {
  int64_t D = geo.ishape[geo.dim], sd = geo.xstr[geo.dim];
  LR_GRID_LOOP(int64_t, p, outer * inner) {
    int64_t o = p / inner, q = p % inner, base = 0, qq = q, oo = o;
    for (int k = geo.ndim - 1; k > geo.dim; k--) {
      base += (qq % geo.ishape[k]) * geo.xstr[k];
      qq /= geo.ishape[k];
    }
    for (int k = geo.dim - 1; k >= 0; k--) {
      base += (oo % geo.ishape[k]) * geo.xstr[k];
      oo /= geo.ishape[k];
    }
    for (int64_t j = 0; j < D; j++) {
      int64_t lin = (o * D + j) * inner + q;
      T *dp = gx + base + idx[lin] * sd;
      *dp = lr_add_(*dp, g[lin]);
    }
  }
}

/* ---- cumsum ---- */

const int64_t kCumsumManyCols = 8192; /* columns enough to fill the GPU one thread each */
const int64_t kCumsumMinChunk = 64;   /* shortest chunk worth a thread */
const int64_t kCumsumThreads = 65536; /* (column, chunk) pairs aimed at */

/* Chunks per column (1: the one-thread-per-column path). */
int64_t cumsum_chunks(int64_t cols, int64_t n) {
  if (cols >= kCumsumManyCols || n < 2 * kCumsumMinChunk) return 1;
  int64_t nch = kCumsumThreads / cols;
  if (nch > n / kCumsumMinChunk) nch = n / kCumsumMinChunk;
  if (nch < 2) return 1;
  int64_t len = (n + nch - 1) / nch;
  return (n + len - 1) / len; /* no empty chunk */
}

/* Element at scan position t of column c. */
__device__ __forceinline__ int64_t scan_off(int64_t c, int64_t t, int64_t n, int64_t inner, int reverse) {
  int64_t o = c / inner, q = c % inner, k = reverse ? n - 1 - t : t;
  return (o * n + k) * inner + q;
}

template <typename T>
__global__ void cumsum_cols(T *out, const T *x, int64_t cols, int64_t n, int64_t inner, int reverse) {
  LR_GRID_LOOP(int64_t, c, cols) {
    int64_t o0 = scan_off(c, 0, n, inner, reverse);
    T acc = x[o0];
    out[o0] = acc;
    for (int64_t t = 1; t < n; t++) {
      int64_t off = scan_off(c, t, n, inner, reverse);
      acc = lr_add_(acc, x[off]);
      out[off] = acc;
    }
  }
}

/* (a): part[ch * cols + c] = sum of chunk ch of column c, in scan order. */
template <typename T>
__global__ void cumsum_chunk_sums(T *part, const T *x, int64_t cols, int64_t n, int64_t inner, int reverse,
                                  int64_t nch, int64_t len) {
  LR_GRID_LOOP(int64_t, p, cols * nch) {
    int64_t c = p % cols, ch = p / cols, t0 = ch * len, t1 = t0 + len < n ? t0 + len : n;
    T acc = x[scan_off(c, t0, n, inner, reverse)];
    for (int64_t t = t0 + 1; t < t1; t++) acc = lr_add_(acc, x[scan_off(c, t, n, inner, reverse)]);
    part[p] = acc;
  }
}

/* (b): part[ch * cols + c] = sum of chunks 0 .. ch - 1 (chunk 0's entry is unused). */
template <typename T> __global__ void cumsum_carries(T *part, int64_t cols, int64_t nch) {
  LR_GRID_LOOP(int64_t, c, cols) {
    T run = part[c];
    for (int64_t ch = 1; ch < nch; ch++) {
      T s = part[ch * cols + c];
      part[ch * cols + c] = run;
      run = lr_add_(run, s);
    }
  }
}

/* (c): rescan each chunk from its carry (chunk 0 from its first element, as the serial scan). */
template <typename T>
__global__ void cumsum_chunk_scan(T *out, const T *x, const T *part, int64_t cols, int64_t n, int64_t inner,
                                  int reverse, int64_t nch, int64_t len) {
  LR_GRID_LOOP(int64_t, p, cols * nch) {
    int64_t c = p % cols, ch = p / cols, t0 = ch * len, t1 = t0 + len < n ? t0 + len : n;
    int64_t off = scan_off(c, t0, n, inner, reverse);
    T acc = ch == 0 ? x[off] : lr_add_(part[p], x[off]);
    out[off] = acc;
    for (int64_t t = t0 + 1; t < t1; t++) {
      off = scan_off(c, t, n, inner, reverse);
      acc = lr_add_(acc, x[off]);
      out[off] = acc;
    }
  }
}

template <typename T>
void launch_cumsum(void *out, const void *x, int64_t outer, int64_t n, int64_t inner, int reverse, void *work,
                   cudaStream_t s) {
  int64_t cols = outer * inner, nch = cumsum_chunks(cols, n);
  if (nch == 1) {
    cumsum_cols<T><<<lr_cuda_blocks(cols, kThreads), kThreads, 0, s>>>((T *)out, (const T *)x, cols, n, inner, reverse);
    return;
  }
  int64_t len = (n + nch - 1) / nch;
  T *part = (T *)work;
  unsigned b = lr_cuda_blocks(cols * nch, kThreads);
  cumsum_chunk_sums<T><<<b, kThreads, 0, s>>>(part, (const T *)x, cols, n, inner, reverse, nch, len);
  cumsum_carries<T><<<lr_cuda_blocks(cols, kThreads), kThreads, 0, s>>>(part, cols, nch);
  cumsum_chunk_scan<T><<<b, kThreads, 0, s>>>((T *)out, (const T *)x, part, cols, n, inner, reverse, nch, len);
}

bool float_dtype(lr_dtype dt) {
  return dt == LR_DTYPE_F32 || dt == LR_DTYPE_F64 || dt == LR_DTYPE_C64 || dt == LR_DTYPE_C128;
}

lr_status bad_es(const char *fn, size_t es) {
  return lr_fail(LR_ERR_ARG, "%s: element size %zu, expected 1, 2, 4, 8 or 16", fn, es);
}

lr_status bad_dtype(const char *fn, lr_dtype dt) {
  return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
}

} // namespace

extern "C" lr_status lr_kcuda_index_select(size_t es, void *out, const void *x, int64_t outer, int64_t nsrc,
                                           int64_t inner, const int64_t *idx, int64_t nidx, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_index_select";
  if (outer * nidx * inner == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (es) {
    case 1: launch_index_select<uint8_t>(out, x, outer, nsrc, inner, idx, nidx, s); break;
    case 2: launch_index_select<uint16_t>(out, x, outer, nsrc, inner, idx, nidx, s); break;
    case 4: launch_index_select<uint32_t>(out, x, outer, nsrc, inner, idx, nidx, s); break;
    case 8: launch_index_select<uint64_t>(out, x, outer, nsrc, inner, idx, nidx, s); break;
    case 16: launch_index_select<Word16>(out, x, outer, nsrc, inner, idx, nidx, s); break;
    default: return bad_es(fn, es);
  }
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_index_add_segments(lr_dtype dt, void *gx, const void *g, int64_t outer, int64_t nsrc,
                                                 int64_t inner, int64_t nidx, const int64_t *rows,
                                                 const int64_t *start, const int64_t *js, int64_t nu,
                                                 lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_index_add_segments";
  if (outer * nu * inner == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32: launch_index_add<float>(gx, g, outer, nsrc, inner, nidx, rows, start, js, nu, s); break;
    case LR_DTYPE_F64: launch_index_add<double>(gx, g, outer, nsrc, inner, nidx, rows, start, js, nu, s); break;
    case LR_DTYPE_C64: launch_index_add<lr_c64>(gx, g, outer, nsrc, inner, nidx, rows, start, js, nu, s); break;
    case LR_DTYPE_C128: launch_index_add<lr_c128>(gx, g, outer, nsrc, inner, nidx, rows, start, js, nu, s); break;
    default: return bad_dtype(fn, dt);
  }
  return lr_cuda_check_launch(fn);
}

static lr_status gather_geom(const char *fn, int ndim, const int64_t *ishape, const int64_t *xstr, int dim,
                             GatherGeom *g, int64_t *n) {
  if (ndim < 1 || ndim > LR_MAX_DIMS || dim < 0 || dim >= ndim)
    return lr_fail(LR_ERR_ARG, "%s: ndim %d, dim %d", fn, ndim, dim);
  g->ndim = ndim;
  g->dim = dim;
  *n = 1;
  for (int k = 0; k < ndim; k++) {
    g->ishape[k] = ishape[k];
    g->xstr[k] = xstr[k];
    *n *= ishape[k];
  }
  return LR_OK;
}

extern "C" lr_status lr_kcuda_gather(size_t es, void *out, const void *x, const int64_t *xstr, const int64_t *idx,
                                     int ndim, const int64_t *ishape, int dim, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_gather";
  GatherGeom g;
  int64_t n = 0;
  LR_TRY(gather_geom(fn, ndim, ishape, xstr, dim, &g, &n));
  if (n == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (es) {
    case 1: launch_gather<uint8_t>(out, x, idx, g, n, s); break;
    case 2: launch_gather<uint16_t>(out, x, idx, g, n, s); break;
    case 4: launch_gather<uint32_t>(out, x, idx, g, n, s); break;
    case 8: launch_gather<uint64_t>(out, x, idx, g, n, s); break;
    case 16: launch_gather<Word16>(out, x, idx, g, n, s); break;
    default: return bad_es(fn, es);
  }
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_scatter_add(lr_dtype dt, void *gx, const int64_t *gxstr, const void *g,
                                          const int64_t *idx, int ndim, const int64_t *ishape, int dim,
                                          lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_scatter_add";
  GatherGeom geo;
  int64_t n = 0;
  LR_TRY(gather_geom(fn, ndim, ishape, gxstr, dim, &geo, &n));
  if (n == 0) return LR_OK;
  int64_t outer = 1, inner = 1;
  for (int k = 0; k < dim; k++) outer *= ishape[k];
  for (int k = dim + 1; k < ndim; k++) inner *= ishape[k];
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned b = lr_cuda_blocks(outer * inner, kThreads);
  switch (dt) {
    case LR_DTYPE_F32: scatter_add_k<float><<<b, kThreads, 0, s>>>((float *)gx, (const float *)g, idx, geo, outer, inner); break;
    case LR_DTYPE_F64: scatter_add_k<double><<<b, kThreads, 0, s>>>((double *)gx, (const double *)g, idx, geo, outer, inner); break;
    case LR_DTYPE_C64: scatter_add_k<lr_c64><<<b, kThreads, 0, s>>>((lr_c64 *)gx, (const lr_c64 *)g, idx, geo, outer, inner); break;
    case LR_DTYPE_C128: scatter_add_k<lr_c128><<<b, kThreads, 0, s>>>((lr_c128 *)gx, (const lr_c128 *)g, idx, geo, outer, inner); break;
    default: return bad_dtype(fn, dt);
  }
  return lr_cuda_check_launch(fn);
}

extern "C" size_t lr_kcuda_cumsum_work_bytes(lr_dtype dt, int64_t outer, int64_t n, int64_t inner) {
  int64_t cols = outer * inner;
  if (cols == 0 || n == 0 || !float_dtype(dt)) return 0;
  int64_t nch = cumsum_chunks(cols, n);
  return nch == 1 ? 0 : (size_t)(cols * nch) * lr_dtype_size(dt);
}

extern "C" lr_status lr_kcuda_cumsum(lr_dtype dt, void *out, const void *x, int64_t outer, int64_t n, int64_t inner,
                                     int reverse, void *work, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_cumsum";
  if (outer * n * inner == 0) return LR_OK;
  if (!float_dtype(dt)) return bad_dtype(fn, dt);
  if (lr_kcuda_cumsum_work_bytes(dt, outer, n, inner) && !work)
    return lr_fail(LR_ERR_ARG, "%s: work is NULL, %zu bytes needed", fn, lr_kcuda_cumsum_work_bytes(dt, outer, n, inner));
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32: launch_cumsum<float>(out, x, outer, n, inner, reverse, work, s); break;
    case LR_DTYPE_F64: launch_cumsum<double>(out, x, outer, n, inner, reverse, work, s); break;
    case LR_DTYPE_C64: launch_cumsum<lr_c64>(out, x, outer, n, inner, reverse, work, s); break;
    default: launch_cumsum<lr_c128>(out, x, outer, n, inner, reverse, work, s); break;
  }
  return lr_cuda_check_launch(fn);
}
