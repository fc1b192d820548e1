/* Copies that transpose: the destination steps by one element along its innermost dim t while the
 * source steps by one along another dim p, as in (B, L, D) -> (B, D, L). The element-wise copy
 * kernels (copy.cu's strided copy, linalg.cu's pack) write such a copy coalesced but read it a
 * whole row apart per element: 1.1 TB/s on an H200 for a 67 MB (B, L, D) -> (B, D, L) copy, 27%
 * of a device-to-device copy; 26% of the time of a Mamba layer's training step at B 32, L 2048,
 * H 128 went to such copies. Here a block takes 32 x 32 tiles of (p, t) through shared memory:
 * its lanes read 32 consecutive p and write 32 consecutive t, so both sides coalesce.
 *
 *   plan    whether a copy (already collapsed: no size-1 dims, dims merged where possible) has
 *           that form, with both dims at least 16 long, and its tiling;
 *   launch  the copy dst[i] = op(src[i]) over the plan on a stream (op: identity, or a complex
 *           conjugate for linalg's pack).
 *
 * Every destination element is written by one thread: deterministic, bit-exact for an identity op.
 */
#pragma once

#include "kernels/cuda/common.cuh"

namespace lr_tile {

const int kDims = 2 * LR_MAX_DIMS; /* linalg's pack has up to twice the tensor dims */

struct Geom {
  int nd, p;                                   /* dims; the source's unit-stride dim (t = nd - 1) */
  int64_t shape[kDims], ds[kDims], ss[kDims];  /* strides in elements */
  int64_t np, nt, ntiles;                      /* tiles along p, along t, in all */
};

/* The tiling of a copy of nd dims whose destination has unit stride along its last dim and whose
 * source has unit stride along an earlier one; false for any other copy. */
inline bool plan(int nd, const int64_t *shape, const int64_t *ds, const int64_t *ss, Geom *g) {
  if (nd < 2 || nd > kDims) return false;
  const int t = nd - 1;
  if (ds[t] != 1 || ss[t] == 1 || shape[t] < 16) return false;
  int p = -1;
  for (int k = t - 1; k >= 0 && p < 0; k--)
    if (ss[k] == 1) p = k;
  if (p < 0 || shape[p] < 16) return false;
  g->nd = nd;
  g->p = p;
  int64_t outer = 1;
  for (int k = 0; k < nd; k++) {
    g->shape[k] = shape[k];
    g->ds[k] = ds[k];
    g->ss[k] = ss[k];
    if (k != p && k != t) outer *= shape[k];
  }
  g->np = (shape[p] + 31) / 32;
  g->nt = (shape[t] + 31) / 32;
  g->ntiles = outer * g->np * g->nt;
  return true;
}

struct Same {
  template <typename W> __device__ W operator()(W v) const { return v; }
};

/* 256 threads: lane x of row y reads (p0 + x, t0 + y + 8i) and writes (p0 + y + 8i, t0 + x) */
template <typename W, typename I, typename Op>
__global__ void __launch_bounds__(256) copy_k(W *__restrict__ dst, const W *__restrict__ src, Geom g, Op op) {
  __shared__ W tile[32][33];
  const int x = threadIdx.x & 31, y = threadIdx.x >> 5, t = g.nd - 1, p = g.p;
  const I sp = (I)g.shape[p], st = (I)g.shape[t], sst = (I)g.ss[t], dsp = (I)g.ds[p];
  for (I b = blockIdx.x; b < (I)g.ntiles; b += gridDim.x) {
    I r = b;
    const I t0 = (r % (I)g.nt) * 32;
    r /= (I)g.nt;
    const I p0 = (r % (I)g.np) * 32;
    r /= (I)g.np;
    I d0 = 0, s0 = 0;
    for (int k = t - 1; k >= 0; k--) {
      if (k == p) continue;
      const I sz = (I)g.shape[k], ik = r % sz;
      r /= sz;
      d0 += ik * (I)g.ds[k];
      s0 += ik * (I)g.ss[k];
    }
    for (int i = y; i < 32; i += 8)
      if (p0 + x < sp && t0 + i < st) tile[i][x] = src[s0 + (p0 + x) + (t0 + i) * sst];
    __syncthreads();
    for (int i = y; i < 32; i += 8)
      if (p0 + i < sp && t0 + x < st) dst[d0 + (p0 + i) * dsp + (t0 + x)] = op(tile[x][i]);
    __syncthreads();
  }
}

/* The copy of a plan, with 32-bit index arithmetic where every offset fits */
template <typename W, typename Op = Same>
void launch(W *dst, const W *src, const Geom &g, cudaStream_t s, Op op = Op()) {
  const unsigned blocks = (unsigned)(g.ntiles < 65536 ? g.ntiles : 65536);
  if (g.ntiles < INT32_MAX && lr_cuda_reach(g.nd, g.shape, g.ds) < INT32_MAX &&
      lr_cuda_reach(g.nd, g.shape, g.ss) < INT32_MAX)
    copy_k<W, int32_t, Op><<<blocks, 256, 0, s>>>(dst, src, g, op);
  else
    copy_k<W, int64_t, Op><<<blocks, 256, 0, s>>>(dst, src, g, op);
}

} // namespace lr_tile
