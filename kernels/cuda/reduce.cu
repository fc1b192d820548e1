/* Reductions on the GPU: sum / mean / var's squared deviations, arg-extremes, and their backwards.
 * The twin of kernels/cpu/reduce.c.
 *
 *   sum:    out[o] = scale * sum_r x[o, r]                    (mean: scale = 1/n)
 *   sqdev:  out[o] = scale * sum_r (x[o, r] - center[o])^2    (var's second pass, center = mean)
 *   argext: first max / min along one dim, NaN counting as the extreme (torch.max(x, dim))
 *   expand_acc / scatter_acc: dx += scale * g broadcast back (times (x - mean) for var), and
 *           dx[argmax] += g.
 *
 * x is read through strides (kept dims in output order, reduced dims sorted by decreasing
 * stride, neighbours merged on the host by ops/reduce.c), so views reduce without a copy.
 * Accumulation is in double for F32 and F64, in a double pair for C64 and C128 (as on the CPU), so
 * F32 results differ from the CPU's only where the two double sums, added in different orders,
 * round to different floats: at most one float ulp in practice.
 *
 * Launch layout. The m outputs each sum r elements; the r are cut into P chunks of equal length
 * (P = 1 unless there are too few outputs to fill the GPU), giving m * P work items:
 *  - row: a group of G threads (1, 32 or 256 by r) per item; lane t adds elements t, t + G, ...
 *    of the chunk into four accumulators in turn, then (a0 + a1) + (a2 + a3), then a fixed
 *    shuffle / shared-memory tree over the group. Used when the innermost reduced dim has unit
 *    stride (coalesced) or nothing better applies.
 *  - column: x's innermost kept dim has unit stride (e.g. a sum over the batch of (B, H)): a block
 *    of 32 x 8 threads takes 32 neighbouring outputs (coalesced along x); row y adds elements y,
 *    y + 8, ... of the chunk; the 8 partials are added in order of y.
 *  With P > 1 the items write partials to scratch, and a second kernel adds each output's P
 *  partials with a fixed tree and applies the scale.
 * Determinism: which thread adds which element in which order depends on the shapes only; there
 * are no atomics, so results repeat bitwise run to run.
 *
 * argext uses the same row layout with a (value, index) pair per thread and a combine that keeps
 * NaN first, then the larger (smaller) value, then the smaller index: the result is exactly the
 * sequential scan's, whatever the grouping, hence bitwise equal to the CPU.
 *
 * Index arithmetic is 32-bit when every offset fits (64-bit division is slow on the GPU).
 */
#include "kernels/cuda/common.cuh"

namespace {

const int kThreads = 256;

/* ---- accumulator types ---- */
template <typename T> struct Acc { typedef double type; };
template <> struct Acc<lr_c64> { typedef lr_c128 type; };
template <> struct Acc<lr_c128> { typedef lr_c128 type; };

__device__ __forceinline__ lr_c128 widen(lr_c64 v) { return lr_c128_make((double)v.re, (double)v.im); }

__device__ __forceinline__ double add(double a, double b) { return __dadd_rn(a, b); }
__device__ __forceinline__ lr_c128 add(lr_c128 a, lr_c128 b) {
  return lr_c128_make(__dadd_rn(a.re, b.re), __dadd_rn(a.im, b.im));
}

template <typename A> __device__ __forceinline__ A zero();
template <> __device__ __forceinline__ double zero<double>() { return 0.0; }
template <> __device__ __forceinline__ lr_c128 zero<lr_c128>() { return lr_c128_make(0.0, 0.0); }

/* (T)(scale * a), rounded once in double then once to T, as the CPU's STORE */
__device__ __forceinline__ void store(float *o, double a, double s) { *o = (float)__dmul_rn(s, a); }
__device__ __forceinline__ void store(double *o, double a, double s) { *o = __dmul_rn(s, a); }
__device__ __forceinline__ void store(lr_c64 *o, lr_c128 a, double s) {
  *o = lr_c64_make((float)__dmul_rn(s, a.re), (float)__dmul_rn(s, a.im));
}
__device__ __forceinline__ void store(lr_c128 *o, lr_c128 a, double s) {
  *o = lr_c128_make(__dmul_rn(s, a.re), __dmul_rn(s, a.im));
}

__device__ __forceinline__ double shfl_down(double v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ lr_c128 shfl_down(lr_c128 v, int d) {
  return lr_c128_make(__shfl_down_sync(0xffffffffu, v.re, d), __shfl_down_sync(0xffffffffu, v.im, d));
}

/* One term: x, or (x - c)^2 for var (real only). */
template <bool SQ, typename T> __device__ __forceinline__ typename Acc<T>::type term(T v, double c);
template <> __device__ __forceinline__ double term<false, float>(float v, double) { return (double)v; }
template <> __device__ __forceinline__ double term<false, double>(double v, double) { return v; }
template <> __device__ __forceinline__ lr_c128 term<false, lr_c64>(lr_c64 v, double) { return widen(v); }
template <> __device__ __forceinline__ lr_c128 term<false, lr_c128>(lr_c128 v, double) { return v; }
template <> __device__ __forceinline__ double term<true, float>(float v, double c) {
  double d = __dsub_rn((double)v, c);
  return __dmul_rn(d, d);
}
template <> __device__ __forceinline__ double term<true, double>(double v, double c) {
  double d = __dsub_rn(v, c);
  return __dmul_rn(d, d);
}

template <typename T> __device__ __forceinline__ double center_of(const T *, int64_t) { return 0.0; }
template <> __device__ __forceinline__ double center_of<float>(const float *c, int64_t o) { return c ? (double)c[o] : 0.0; }
template <> __device__ __forceinline__ double center_of<double>(const double *c, int64_t o) { return c ? c[o] : 0.0; }

/* ---- geometry ---- */
struct RGeom {
  int nk, nr;
  int64_t kshape[LR_MAX_DIMS], kstr[LR_MAX_DIMS];
  int64_t rshape[LR_MAX_DIMS], rstr[LR_MAX_DIMS];
  int64_t m, r;   /* outputs, elements per output */
  int64_t P, chunk; /* chunks per output and their length */
};

template <typename I> __device__ __forceinline__ I kept_off(const RGeom &g, I o) {
  I off = 0;
  for (int k = g.nk - 1; k >= 0; k--) {
    I sz = (I)g.kshape[k];
    off += (o % sz) * (I)g.kstr[k];
    o /= sz;
  }
  return off;
}

template <typename I> __device__ __forceinline__ I red_off(const RGeom &g, I q) {
  if (g.nr == 1) return q * (I)g.rstr[0];
  I off = 0;
  for (int k = g.nr - 1; k >= 0; k--) {
    I sz = (I)g.rshape[k];
    off += (q % sz) * (I)g.rstr[k];
    q /= sz;
  }
  return off;
}

/* The second stage of a 256-lane tree: lane 0 of each warp holds its warp's total; warp 0 adds
 * the 8 totals with a fixed shuffle tree. Every thread of the block must call it. */
template <typename A> __device__ __forceinline__ A block_sum(A a, A *sh) {
  const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) sh[w] = a;
  __syncthreads();
  if (w == 0) {
    a = lane < kThreads / 32 ? sh[lane] : zero<A>();
#pragma unroll
    for (int d = 4; d > 0; d >>= 1) a = add(a, shfl_down(a, d));
  }
  __syncthreads(); /* sh is rewritten by the next item */
  return a;
}

/* Fixed tree over a group of G lanes (G = 1, 32 or 256 = the block); lane 0 gets the total.
 * sh: kThreads / 32 slots, used only when G = 256. */
template <int G, typename A> __device__ __forceinline__ A group_sum(A a, A *sh) {
  if constexpr (G == 1) {
    return a;
  } else {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) a = add(a, shfl_down(a, d));
    if constexpr (G == 32) return a;
    else return block_sum(a, sh);
  }
}

/* row layout: a group of G lanes per (output, chunk) item */
template <typename T, typename I, int G, bool SQ>
__global__ void __launch_bounds__(kThreads)
    red_row(const T *__restrict__ x, const T *__restrict__ center, RGeom g, T *__restrict__ out,
            typename Acc<T>::type *__restrict__ part, double scale) {
  typedef typename Acc<T>::type A;
  __shared__ A sh[kThreads / 32];
  const int lane = threadIdx.x % G, grp = threadIdx.x / G, gpb = kThreads / G;
  const I items = (I)(g.m * g.P), P = (I)g.P, chunk = (I)g.chunk, r = (I)g.r;
  for (I it0 = (I)blockIdx.x * gpb; it0 < items; it0 += (I)gridDim.x * gpb) {
    I it = it0 + grp; /* every lane of a block runs the same iterations (group_sum syncs) */
    A a0 = zero<A>(), a1 = zero<A>(), a2 = zero<A>(), a3 = zero<A>();
    I o = 0;
    if (it < items) {
      o = it / P;
      I c = it % P;
      I q0 = c * chunk, q1 = q0 + chunk < r ? q0 + chunk : r;
      I base = kept_off<I>(g, o);
      double cen = SQ ? center_of<T>(center, (int64_t)o) : 0.0;
      I q = q0 + lane;
      if (g.nr == 1) {
        const I rs = (I)g.rstr[0];
        for (; q + 3 * G < q1; q += 4 * G) {
          a0 = add(a0, term<SQ>(x[base + q * rs], cen));
          a1 = add(a1, term<SQ>(x[base + (q + G) * rs], cen));
          a2 = add(a2, term<SQ>(x[base + (q + 2 * G) * rs], cen));
          a3 = add(a3, term<SQ>(x[base + (q + 3 * G) * rs], cen));
        }
        for (; q < q1; q += G) a0 = add(a0, term<SQ>(x[base + q * rs], cen));
      } else {
        for (; q < q1; q += G) a0 = add(a0, term<SQ>(x[base + red_off<I>(g, q)], cen));
      }
    }
    A a = add(add(a0, a1), add(a2, a3));
    a = group_sum<G>(a, sh);
    if (lane == 0 && it < items) {
      if (g.P == 1) store(out + o, a, scale);
      else part[it] = a;
    }
  }
}

const int kColX = 32, kColY = 8;

/* column layout: 32 neighbouring outputs x 8 rows per block */
template <typename T, typename I, bool SQ>
__global__ void __launch_bounds__(kColX * kColY)
    red_col(const T *__restrict__ x, const T *__restrict__ center, RGeom g, T *__restrict__ out,
            typename Acc<T>::type *__restrict__ part, double scale) {
  typedef typename Acc<T>::type A;
  __shared__ A sh[kColY][kColX + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  const I m = (I)g.m, P = (I)g.P, chunk = (I)g.chunk, r = (I)g.r;
  const I groups = (m + kColX - 1) / kColX, items = groups * P;
  for (I it = blockIdx.x; it < items; it += gridDim.x) {
    I grp = it / P, c = it % P;
    I o = grp * kColX + tx;
    A a0 = zero<A>(), a1 = zero<A>();
    if (o < m) {
      I q0 = c * chunk, q1 = q0 + chunk < r ? q0 + chunk : r;
      I base = kept_off<I>(g, o);
      double cen = SQ ? center_of<T>(center, (int64_t)o) : 0.0;
      I q = q0 + ty;
      for (; q + kColY < q1; q += 2 * kColY) {
        a0 = add(a0, term<SQ>(x[base + red_off<I>(g, q)], cen));
        a1 = add(a1, term<SQ>(x[base + red_off<I>(g, q + kColY)], cen));
      }
      if (q < q1) a0 = add(a0, term<SQ>(x[base + red_off<I>(g, q)], cen));
    }
    sh[ty][tx] = add(a0, a1);
    __syncthreads();
    if (ty == 0 && o < m) {
      A a = sh[0][tx];
      for (int y = 1; y < kColY; y++) a = add(a, sh[y][tx]);
      if (g.P == 1) store(out + o, a, scale);
      else part[(int64_t)o * g.P + c] = a;
    }
    __syncthreads();
  }
}

/* out[o] = scale * (fixed tree over part[o, 0..P)) */
template <typename T>
__global__ void __launch_bounds__(kThreads)
    red_combine(const typename Acc<T>::type *__restrict__ part, int64_t m, int64_t P, T *__restrict__ out,
                double scale) {
  typedef typename Acc<T>::type A;
  __shared__ A sh[kThreads / 32];
  for (int64_t o = blockIdx.x; o < m; o += gridDim.x) {
    A a = zero<A>();
    for (int64_t c = threadIdx.x; c < P; c += kThreads) a = add(a, part[o * P + c]);
    a = group_sum<kThreads>(a, sh);
    if (threadIdx.x == 0) store(out + o, a, scale);
  }
}

/* ---- planning (host) ---- */
enum Kind { K_ROW1, K_ROW32, K_ROW256, K_COL };

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Fills g from the op's plan (nr = 0: each output is one element) and picks the layout and P:
 * functions of the shapes only. */
Kind plan(int nk, const int64_t *kshape, const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr,
          RGeom *g) {
  g->nk = nk;
  g->m = 1;
  for (int k = 0; k < nk; k++) {
    g->kshape[k] = kshape[k];
    g->kstr[k] = kstr[k];
    g->m *= kshape[k];
  }
  g->r = 1;
  if (nr == 0) {
    g->nr = 1;
    g->rshape[0] = 1;
    g->rstr[0] = 0;
  } else {
    g->nr = nr;
    for (int k = 0; k < nr; k++) {
      g->rshape[k] = rshape[k];
      g->rstr[k] = rstr[k];
      g->r *= rshape[k];
    }
  }
  bool unit_red = false;
  for (int k = 0; k < g->nr; k++) unit_red |= g->rstr[k] == 1 && g->rshape[k] > 1;
  bool unit_kept = g->nk >= 1 && g->kstr[g->nk - 1] == 1 && g->kshape[g->nk - 1] > 1;
  Kind kind;
  g->P = 1;
  if (unit_kept && !unit_red && g->r > 1) {
    kind = K_COL;
    int64_t groups = cdiv(g->m, kColX);
    if (groups < 1024) g->P = clamp64(cdiv(g->r, 16 * kColY), 1, 2048 / groups > 1 ? 2048 / groups : 1);
  } else if (g->r <= 32) {
    kind = K_ROW1;
  } else if (g->r <= 4096) {
    kind = K_ROW32;
  } else {
    kind = K_ROW256;
    if (g->m < 2048) g->P = clamp64(cdiv(g->r, 8192), 1, 1024);
  }
  g->chunk = g->P > 1 ? cdiv(g->r, g->P) : g->r;
  return kind;
}

bool has_neg(int n, const int64_t *str) {
  for (int k = 0; k < n; k++)
    if (str[k] < 0) return true;
  return false;
}

bool small_index(const RGeom &g) {
  int64_t items = g.m * g.P, span = g.P * g.chunk;
  return !has_neg(g.nk, g.kstr) && !has_neg(g.nr, g.rstr) && items < INT32_MAX / 2 && span < INT32_MAX / 2 &&
         g.r < INT32_MAX / 2 &&
         lr_cuda_reach(g.nk, g.kshape, g.kstr) + lr_cuda_reach(g.nr, g.rshape, g.rstr) < INT32_MAX / 2 &&
         g.m * (int64_t)kColX < INT32_MAX / 2;
}

template <typename T> size_t acc_size() { return sizeof(typename Acc<T>::type); }

template <typename T, typename I, bool SQ>
void launch_sum(Kind kind, const RGeom &g, void *out, const void *x, const void *center, double scale, void *part,
                cudaStream_t s) {
  typedef typename Acc<T>::type A;
  const T *xp = (const T *)x, *cp = (const T *)center;
  T *op = (T *)out;
  A *pp = (A *)part;
  int64_t items = g.m * g.P;
  switch (kind) {
    case K_COL: {
      int64_t blocks = clamp64(cdiv(g.m, kColX) * g.P, 1, 65536);
      red_col<T, I, SQ><<<(unsigned)blocks, dim3(kColX, kColY), 0, s>>>(xp, cp, g, op, pp, scale);
      break;
    }
    case K_ROW1:
      red_row<T, I, 1, SQ><<<lr_cuda_blocks(items, kThreads), kThreads, 0, s>>>(xp, cp, g, op, pp, scale);
      break;
    case K_ROW32:
      red_row<T, I, 32, SQ><<<lr_cuda_blocks(items, kThreads / 32), kThreads, 0, s>>>(xp, cp, g, op, pp, scale);
      break;
    case K_ROW256:
      red_row<T, I, 256, SQ><<<lr_cuda_blocks(items, 1), kThreads, 0, s>>>(xp, cp, g, op, pp, scale);
      break;
  }
  if (g.P > 1) red_combine<T><<<lr_cuda_blocks(g.m, 1), kThreads, 0, s>>>(pp, g.m, g.P, op, scale);
}

template <typename T, bool SQ>
lr_status sum_t(Kind kind, const RGeom &g, void *out, const void *x, const void *center, double scale, void *scratch,
                size_t scratch_bytes, cudaStream_t s) {
  const char *fn = "lr_kcuda_reduce_sum";
  if (g.P > 1 && (!scratch || scratch_bytes < (size_t)(g.m * g.P) * acc_size<T>()))
    return lr_fail(LR_ERR_INTERNAL, "%s: needs %zu bytes of scratch, got %zu", fn, (size_t)(g.m * g.P) * acc_size<T>(),
                   scratch ? scratch_bytes : 0);
  if (small_index(g)) launch_sum<T, int32_t, SQ>(kind, g, out, x, center, scale, scratch, s);
  else launch_sum<T, int64_t, SQ>(kind, g, out, x, center, scale, scratch, s);
  return lr_cuda_check_launch(fn);
}

/* ---- arg-extremes ---- */

/* Whether (v2, i2) replaces (v1, i1) as the first extreme; i < 0: none yet. */
template <typename T> __device__ __forceinline__ bool better(T v1, int64_t i1, T v2, int64_t i2, bool is_max) {
  if (i2 < 0) return false;
  if (i1 < 0) return true;
  bool n1 = isnan(v1), n2 = isnan(v2);
  if (n1 || n2) return n1 && n2 ? i2 < i1 : n2;
  if (v2 != v1) return is_max ? v2 > v1 : v2 < v1;
  return i2 < i1;
}

struct AGeom {
  int nk;
  int64_t kshape[LR_MAX_DIMS], kstr[LR_MAX_DIMS];
  int64_t m, L, ls, P, chunk;
};

template <typename I> __device__ __forceinline__ I akept_off(const AGeom &g, I o) {
  I off = 0;
  for (int k = g.nk - 1; k >= 0; k--) {
    I sz = (I)g.kshape[k];
    off += (o % sz) * (I)g.kstr[k];
    o /= sz;
  }
  return off;
}

/* Replaces (v, i) by (v2, i2) when that is the better candidate. */
template <typename T> __device__ __forceinline__ void take(T *v, int64_t *i, T v2, int64_t i2, bool is_max) {
  if (better(*v, *i, v2, i2, is_max)) {
    *v = v2;
    *i = i2;
  }
}

template <typename T> __device__ __forceinline__ void warp_best(T *v, int64_t *i, bool is_max, int from) {
  for (int d = from; d > 0; d >>= 1) {
    T v2 = __shfl_down_sync(0xffffffffu, *v, d);
    int64_t i2 = __shfl_down_sync(0xffffffffu, (long long)*i, d);
    take(v, i, v2, i2, is_max);
  }
}

/* The best candidate of a group of G lanes (G = 1, 32 or 256 = the block) into lane 0. */
template <int G, typename T>
__device__ __forceinline__ void group_best(T *v, int64_t *i, bool is_max, T *shv, int64_t *shi) {
  if constexpr (G > 1) {
    warp_best(v, i, is_max, 16);
    if constexpr (G > 32) {
      const int w = threadIdx.x / 32, lane = threadIdx.x % 32;
      if (lane == 0) {
        shv[w] = *v;
        shi[w] = *i;
      }
      __syncthreads();
      if (w == 0) {
        *v = lane < kThreads / 32 ? shv[lane] : shv[0];
        *i = lane < kThreads / 32 ? shi[lane] : -1;
        warp_best(v, i, is_max, 4);
      }
      __syncthreads();
    }
  }
}

template <typename T, typename I, int G>
__global__ void __launch_bounds__(kThreads)
    argext_row(const T *__restrict__ x, AGeom g, bool is_max, T *__restrict__ values, int64_t *__restrict__ idx,
               T *__restrict__ pv, int64_t *__restrict__ pi) {
  __shared__ T shv[kThreads / 32];
  __shared__ int64_t shi[kThreads / 32];
  const int lane = threadIdx.x % G, grp = threadIdx.x / G, gpb = kThreads / G;
  const I items = (I)(g.m * g.P), P = (I)g.P, chunk = (I)g.chunk, L = (I)g.L, ls = (I)g.ls;
  for (I it0 = (I)blockIdx.x * gpb; it0 < items; it0 += (I)gridDim.x * gpb) {
    I it = it0 + grp;
    T best = T(0);
    int64_t bi = -1;
    I o = 0;
    if (it < items) {
      o = it / P;
      I c = it % P;
      I l0 = c * chunk, l1 = l0 + chunk < L ? l0 + chunk : L;
      const T *p = x + akept_off<I>(g, o);
      for (I l = l0 + lane; l < l1; l += G) {
        T v = p[l * ls];
        if (better(best, bi, v, (int64_t)l, is_max)) {
          best = v;
          bi = (int64_t)l;
        }
      }
    }
    group_best<G>(&best, &bi, is_max, shv, shi);
    if (lane == 0 && it < items) {
      if (g.P == 1) {
        if (values) values[o] = best;
        idx[o] = bi;
      } else {
        pv[it] = best;
        pi[it] = bi;
      }
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    argext_combine(const T *__restrict__ pv, const int64_t *__restrict__ pi, int64_t m, int64_t P, bool is_max,
                   T *__restrict__ values, int64_t *__restrict__ idx) {
  __shared__ T shv[kThreads / 32];
  __shared__ int64_t shi[kThreads / 32];
  for (int64_t o = blockIdx.x; o < m; o += gridDim.x) {
    T best = T(0);
    int64_t bi = -1;
    for (int64_t c = threadIdx.x; c < P; c += kThreads)
      if (better(best, bi, pv[o * P + c], pi[o * P + c], is_max)) {
        best = pv[o * P + c];
        bi = pi[o * P + c];
      }
    group_best<kThreads>(&best, &bi, is_max, shv, shi);
    if (threadIdx.x == 0) {
      if (values) values[o] = best;
      idx[o] = bi;
    }
  }
}

enum AKind { A_ROW1, A_ROW32, A_ROW256 };

AKind aplan(int nk, const int64_t *kshape, const int64_t *kstr, int64_t L, int64_t ls, AGeom *g) {
  g->nk = nk;
  g->m = 1;
  for (int k = 0; k < nk; k++) {
    g->kshape[k] = kshape[k];
    g->kstr[k] = kstr[k];
    g->m *= kshape[k];
  }
  g->L = L;
  g->ls = ls;
  g->P = 1;
  bool unit_kept = nk >= 1 && kstr[nk - 1] == 1 && kshape[nk - 1] > 1;
  AKind k;
  if (L <= 32 || (ls != 1 && unit_kept && g->m >= 256)) k = A_ROW1; /* a thread per output: coalesced across outputs */
  else if (L <= 4096) k = A_ROW32;
  else {
    k = A_ROW256;
    if (g->m < 2048) g->P = clamp64(cdiv(L, 8192), 1, 1024);
  }
  g->chunk = g->P > 1 ? cdiv(L, g->P) : L;
  return k;
}

size_t aalign(size_t b) { return (b + 255) / 256 * 256; }

template <typename T, typename I>
void launch_argext(AKind k, const AGeom &g, bool is_max, void *values, int64_t *idx, const void *x, void *scratch,
                   cudaStream_t s) {
  const T *xp = (const T *)x;
  T *vp = (T *)values;
  T *pv = (T *)scratch;
  int64_t *pi = scratch ? (int64_t *)((char *)scratch + aalign((size_t)(g.m * g.P) * sizeof(T))) : NULL;
  int64_t items = g.m * g.P;
  switch (k) {
    case A_ROW1:
      argext_row<T, I, 1><<<lr_cuda_blocks(items, kThreads), kThreads, 0, s>>>(xp, g, is_max, vp, idx, pv, pi);
      break;
    case A_ROW32:
      argext_row<T, I, 32><<<lr_cuda_blocks(items, kThreads / 32), kThreads, 0, s>>>(xp, g, is_max, vp, idx, pv, pi);
      break;
    case A_ROW256:
      argext_row<T, I, 256><<<lr_cuda_blocks(items, 1), kThreads, 0, s>>>(xp, g, is_max, vp, idx, pv, pi);
      break;
  }
  if (g.P > 1) argext_combine<T><<<lr_cuda_blocks(g.m, 1), kThreads, 0, s>>>(pv, pi, g.m, g.P, is_max, vp, idx);
}

size_t argext_bytes(const AGeom &g, size_t es) {
  if (g.P <= 1) return 0;
  return aalign((size_t)(g.m * g.P) * es) + (size_t)(g.m * g.P) * sizeof(int64_t);
}

/* ---- backwards ---- */
struct EGeom {
  int nd;
  int64_t shape[LR_MAX_DIMS], gs[LR_MAX_DIMS], xs[LR_MAX_DIMS];
};

template <typename T> __device__ __forceinline__ T expand_term(T d, T g, double s);
template <> __device__ __forceinline__ float expand_term(float d, float g, double s) {
  return __fadd_rn(d, (float)__dmul_rn(s, (double)g));
}
template <> __device__ __forceinline__ double expand_term(double d, double g, double s) {
  return __dadd_rn(d, __dmul_rn(s, g));
}
template <> __device__ __forceinline__ lr_c64 expand_term(lr_c64 d, lr_c64 g, double s) {
  return lr_c64_make(__fadd_rn(d.re, (float)__dmul_rn(s, (double)g.re)), __fadd_rn(d.im, (float)__dmul_rn(s, (double)g.im)));
}
template <> __device__ __forceinline__ lr_c128 expand_term(lr_c128 d, lr_c128 g, double s) {
  return lr_c128_make(__dadd_rn(d.re, __dmul_rn(s, g.re)), __dadd_rn(d.im, __dmul_rn(s, g.im)));
}

/* (T)(s * g * (x - c)), evaluated as the CPU does: ((s * g) * (x - c)) in double */
__device__ __forceinline__ float var_term(float d, float g, float x, float c, double s) {
  return __fadd_rn(d, (float)__dmul_rn(__dmul_rn(s, (double)g), __dsub_rn((double)x, (double)c)));
}
__device__ __forceinline__ double var_term(double d, double g, double x, double c, double s) {
  return __dadd_rn(d, __dmul_rn(__dmul_rn(s, g), __dsub_rn(x, c)));
}

template <typename T, typename I, bool VAR>
__global__ void expand_kernel(T *__restrict__ dx, I n, EGeom e, const T *__restrict__ g, double s, const T *__restrict__ x,
                              const T *__restrict__ c) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
    I rem = i, go = 0, xo = 0;
    for (int k = e.nd - 1; k >= 0; k--) {
      I sz = (I)e.shape[k];
      I ik = rem % sz;
      rem /= sz;
      go += ik * (I)e.gs[k];
      if (VAR) xo += ik * (I)e.xs[k];
    }
    if constexpr (VAR) dx[i] = var_term(dx[i], g[go], x[xo], c[go], s);
    else dx[i] = expand_term(dx[i], g[go], s);
  }
}

template <typename T, bool VAR>
lr_status launch_expand(void *dx, int64_t n, const EGeom &e, const void *g, double s, const void *x, const void *c,
                        cudaStream_t st) {
  bool small = n < INT32_MAX && !has_neg(e.nd, e.gs) && lr_cuda_reach(e.nd, e.shape, e.gs) < INT32_MAX &&
               (!VAR || (!has_neg(e.nd, e.xs) && lr_cuda_reach(e.nd, e.shape, e.xs) < INT32_MAX));
  unsigned blocks = lr_cuda_blocks(n, kThreads);
  if (small)
    expand_kernel<T, uint32_t, VAR><<<blocks, kThreads, 0, st>>>((T *)dx, (uint32_t)n, e, (const T *)g, s,
                                                                 (const T *)x, (const T *)c);
  else
    expand_kernel<T, int64_t, VAR><<<blocks, kThreads, 0, st>>>((T *)dx, n, e, (const T *)g, s, (const T *)x,
                                                                (const T *)c);
  return lr_cuda_check_launch("lr_kcuda_expand_acc");
}

template <typename T>
__global__ void scatter_kernel(T *__restrict__ dx, const T *__restrict__ g, const int64_t *__restrict__ idx, int64_t no,
                               int64_t L, int64_t ni) {
  int64_t n = no * ni;
  for (int64_t j = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; j < n; j += (int64_t)blockDim.x * gridDim.x) {
    int64_t o = j / ni, i = j % ni;
    T *d = dx + (o * L + idx[j]) * ni + i;
    *d = *d + g[j];
  }
}

} // namespace

extern "C" size_t lr_kcuda_reduce_scratch(lr_dtype dt, int nk, const int64_t *kshape, const int64_t *kstr, int nr,
                                          const int64_t *rshape, const int64_t *rstr) {
  if (nk < 0 || nk > LR_MAX_DIMS || nr < 0 || nr > LR_MAX_DIMS) return 0;
  RGeom g;
  plan(nk, kshape, kstr, nr, rshape, rstr, &g);
  if (g.P <= 1 || g.m == 0) return 0;
  size_t a = lr_dtype_is_complex(dt) ? sizeof(lr_c128) : sizeof(double);
  return (size_t)(g.m * g.P) * a;
}

extern "C" lr_status lr_kcuda_reduce_sum(lr_dtype dt, void *out, const void *x, const void *center, int nk,
                                         const int64_t *kshape, const int64_t *kstr, int nr, const int64_t *rshape,
                                         const int64_t *rstr, double scale, void *scratch, size_t scratch_bytes,
                                         lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_reduce_sum";
  if (nk < 0 || nk > LR_MAX_DIMS || nr < 0 || nr > LR_MAX_DIMS)
    return lr_fail(LR_ERR_ARG, "%s: %d kept and %d reduced dims, expected 0..%d each", fn, nk, nr, LR_MAX_DIMS);
  RGeom g;
  Kind kind = plan(nk, kshape, kstr, nr, rshape, rstr, &g);
  if (g.m == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (center) {
    switch (dt) {
      case LR_DTYPE_F32: return sum_t<float, true>(kind, g, out, x, center, scale, scratch, scratch_bytes, s);
      case LR_DTYPE_F64: return sum_t<double, true>(kind, g, out, x, center, scale, scratch, scratch_bytes, s);
      default: return lr_fail(LR_ERR_DTYPE, "%s: squared deviations of %s are not supported", fn, lr_dtype_name(dt));
    }
  }
  switch (dt) {
    case LR_DTYPE_F32: return sum_t<float, false>(kind, g, out, x, NULL, scale, scratch, scratch_bytes, s);
    case LR_DTYPE_F64: return sum_t<double, false>(kind, g, out, x, NULL, scale, scratch, scratch_bytes, s);
    case LR_DTYPE_C64: return sum_t<lr_c64, false>(kind, g, out, x, NULL, scale, scratch, scratch_bytes, s);
    case LR_DTYPE_C128: return sum_t<lr_c128, false>(kind, g, out, x, NULL, scale, scratch, scratch_bytes, s);
    default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
  }
}

extern "C" size_t lr_kcuda_argext_scratch(int nk, const int64_t *kshape, const int64_t *kstr, int64_t L, int64_t ls) {
  if (nk < 0 || nk > LR_MAX_DIMS) return 0;
  AGeom g;
  aplan(nk, kshape, kstr, L, ls, &g);
  if (g.m == 0) return 0;
  return argext_bytes(g, sizeof(double)); /* room for either float or double values */
}

extern "C" lr_status lr_kcuda_argext(lr_dtype dt, bool is_max, void *values, int64_t *idx, const void *x, int nk,
                                     const int64_t *kshape, const int64_t *kstr, int64_t L, int64_t ls, void *scratch,
                                     size_t scratch_bytes, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_argext";
  if (nk < 0 || nk > LR_MAX_DIMS) return lr_fail(LR_ERR_ARG, "%s: %d kept dims, expected 0..%d", fn, nk, LR_MAX_DIMS);
  if (L <= 0) return lr_fail(LR_ERR_SHAPE, "%s: the reduced dim has size %lld, expected >= 1", fn, (long long)L);
  AGeom g;
  AKind k = aplan(nk, kshape, kstr, L, ls, &g);
  if (g.m == 0) return LR_OK;
  size_t need = argext_bytes(g, dt == LR_DTYPE_F32 ? sizeof(float) : sizeof(double));
  if (need && (!scratch || scratch_bytes < need))
    return lr_fail(LR_ERR_INTERNAL, "%s: needs %zu bytes of scratch, got %zu", fn, need, scratch ? scratch_bytes : 0);
  bool small = !has_neg(nk, kstr) && ls >= 0 && g.m * g.P < INT32_MAX / 2 && g.P * g.chunk < INT32_MAX / 2 &&
               lr_cuda_reach(nk, kshape, kstr) + (L - 1) * ls < INT32_MAX / 2;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32:
      if (small) launch_argext<float, int32_t>(k, g, is_max, values, idx, x, scratch, s);
      else launch_argext<float, int64_t>(k, g, is_max, values, idx, x, scratch, s);
      break;
    case LR_DTYPE_F64:
      if (small) launch_argext<double, int32_t>(k, g, is_max, values, idx, x, scratch, s);
      else launch_argext<double, int64_t>(k, g, is_max, values, idx, x, scratch, s);
      break;
    default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
  }
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_expand_acc(lr_dtype dt, void *dx, int ndim, const int64_t *shape, const void *g,
                                         const int64_t *gs, double scale, const void *x, const int64_t *xs,
                                         const void *center, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_expand_acc";
  if (ndim < 0 || ndim > LR_MAX_DIMS) return lr_fail(LR_ERR_ARG, "%s: ndim is %d, expected 0..%d", fn, ndim, LR_MAX_DIMS);
  EGeom e;
  int64_t n = 1;
  e.nd = 0;
  for (int k = 0; k < ndim; k++) {
    n *= shape[k];
    if (shape[k] == 1) continue; /* its index is always 0 */
    e.shape[e.nd] = shape[k];
    e.gs[e.nd] = gs[k];
    e.xs[e.nd] = x ? xs[k] : 0;
    e.nd++;
  }
  if (n == 0) return LR_OK;
  bool var = x && center;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32:
      return var ? launch_expand<float, true>(dx, n, e, g, scale, x, center, s)
                 : launch_expand<float, false>(dx, n, e, g, scale, NULL, NULL, s);
    case LR_DTYPE_F64:
      return var ? launch_expand<double, true>(dx, n, e, g, scale, x, center, s)
                 : launch_expand<double, false>(dx, n, e, g, scale, NULL, NULL, s);
    case LR_DTYPE_C64: return launch_expand<lr_c64, false>(dx, n, e, g, scale, NULL, NULL, s);
    case LR_DTYPE_C128: return launch_expand<lr_c128, false>(dx, n, e, g, scale, NULL, NULL, s);
    default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
  }
}

extern "C" lr_status lr_kcuda_scatter_acc(lr_dtype dt, void *dx, const void *g, const int64_t *idx, int64_t no,
                                          int64_t L, int64_t ni, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_scatter_acc";
  int64_t n = no * ni;
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned blocks = lr_cuda_blocks(n, kThreads);
  switch (dt) {
    case LR_DTYPE_F32:
      scatter_kernel<float><<<blocks, kThreads, 0, s>>>((float *)dx, (const float *)g, idx, no, L, ni);
      break;
    case LR_DTYPE_F64:
      scatter_kernel<double><<<blocks, kThreads, 0, s>>>((double *)dx, (const double *)g, idx, no, L, ni);
      break;
    default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
  }
  return lr_cuda_check_launch(fn);
}
