/* The selective scan, channel-sequential: the same recurrence, options, layouts and checkpoints as
 * the time-parallel tile kernels of scan.cu (math at the top of scan.cu and kernels/cpu/scan.c),
 * for problems with many channels, where walking time in order is the cheapest schedule:
 *   h_t[n] = Ā (reset ? 0 : h_{t-1}[n]) + B̄ B_n(t) u_t,  y_t = Σ_n C_n(t) h_t[n] (complex: 2 Re)
 *            + D u_t, · silu(z_t); lengths freeze the state and zero y.
 *
 * Layout: a thread owns NS states (n = j·NS + k) of one channel; TPC = the power of two >= N / NS
 * threads (consecutive lanes) share a channel, so a block of 128 threads holds CB = 128 / TPC
 * consecutive channels of one (b, group). Every thread walks time in order with its states in
 * registers (no scan of maps: each state update is one multiply-add), and y_t is the sum of its
 * TPC lanes' partials by a xor butterfly (a fixed order). Time goes in stages of 32 steps: u, Δ
 * (Δ_A, z) of the block's channels and the stage's variable B/C rows are copied asynchronously
 * (cp.async) into shared memory one stage ahead (two buffers), transposed to [step][channel] so the
 * lanes of a channel read one word; Δ's bias and softplus and z's SiLU are applied once per element
 * when a stage arrives; y goes back through u's slots and out coalesced. F32 mamba evaluates
 * Ā = 2^(Δ·A·log2 e) with the hardware exp2 (ex2.approx: ~2 ulp); everything else calls the
 * shared discretization (Tr<T>::eval: the CPU's functions, C64's with the hardware's exp2, sin,
 * cos and reciprocal, scan_k.cuh; C64 takes the kind at compile time). The state entering every step
 * t ≡ 0 (mod chunk) goes to ckpt (B, D, ceil(L / chunk), N) as the tile kernel writes it, so either
 * backward can follow either forward.
 *
 * When: lr_kcuda_scan_set_path / LRNNX_SCAN_PATH; auto takes the forward of complex scans and of F32
 * mamba problems that scan_mamba.cu does not take, with channels enough to fill the device (or
 * L <= 64, a generation step), where the H200 measures it faster than the tile kernel (see sok);
 * the backward only when asked for (it is slower than the tile backward at present: about 8 warps
 * per SM, latency-bound).
 *
 * Backward: the chunk (checkpoint spacing) must be <= 32: a segment of `chunk` steps is one stage,
 * walked in reverse order of segments. Per segment: u, Δ, Δ_A, dy, z and the B/C rows come into
 * shared memory (Δ's softplus, its derivative and dy·silu(z) once per element); pass 1 walks the
 * segment from its checkpoint and keeps the state every SS steps in shared memory; pass 2 takes the
 * sub-segments in reverse, recomputes their SS states and Ā in registers and runs the adjoint
 *   G_t = conj(C_t) dy'_t + E_{t+1},  E_t = conj(Ā_t) G_t  (E = dL/dh0 at the end; E starts at dhL)
 * with the gradients of the formulas at the top of kernels/cpu/scan.c. Sums: over a thread's states
 * in order, over the TPC lanes by a xor butterfly (du, dΔ, dΔ_A, Σ C h for dz); dA, fixed dB/dC,
 * dD, dΔbias over time in reverse order in registers (one thread owns each (b, d, n)); variable
 * dB/dC over the block's channels in channel order through shared memory, into a per-block partial
 * (B, G, nblocks, N, L) that sum_mid adds up in block order (straight into dB/dC when one block
 * covers a group). No atomics: bitwise reproducible.
 */
#include <cuda_pipeline.h>

#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "kernels/cuda/scan_k.cuh"

namespace lr_scank {

int g_scan_path = -1; /* -1: LRNNX_SCAN_PATH not read yet */

int scan_path() {
  if (g_scan_path == -1) {
    const char *e = getenv("LRNNX_SCAN_PATH");
    g_scan_path = !e ? 0 : !strcmp(e, "seq") ? 1 : !strcmp(e, "tile") ? 2 : !strcmp(e, "mamba") ? 3 : 0;
  }
  return g_scan_path;
}

namespace {

const int kST = 128; /* threads per block */
const int kTS = 32;  /* steps per stage; the backward's largest checkpoint spacing */

/* NS states per thread; SS steps per recomputed sub-segment of the backward (registers). */
template <typename T> struct SCfg;
template <> struct SCfg<float> { static constexpr int NS = 4, SS = 8; };
template <> struct SCfg<double> { static constexpr int NS = 4, SS = 4; };
template <> struct SCfg<lr_c64> { static constexpr int NS = 4, SS = 4; };
template <> struct SCfg<lr_c128> { static constexpr int NS = 2, SS = 4; };

struct SGeom {
  int tpc, ltpc, cb, lcb;  /* threads per channel, log2; channels per block, log2 (tpc = 0: N too large) */
  int64_t Gt, Dg, ntile;   /* channel groups, channels per group, blocks per (b, group) */
  bool vb, vc, ev;         /* variable B, variable C, event mode (deltaA) */
  int nr;                  /* real staging arrays */
  size_t rbytes, tbytes;   /* bytes of the real arrays (16-aligned), of the B/C arrays */
  size_t buf, sub, red;    /* forward: one stage buffer; backward: sub-segment states, dB/dC rows */
  size_t smem;
};

size_t al16(size_t x) { return (x + 15) & ~(size_t)15; }

template <typename T> SGeom sgeom(const lr_scan_in *a, bool bwd) {
  typedef typename Tr<T>::R R;
  constexpr int NS = SCfg<T>::NS, SS = SCfg<T>::SS;
  SGeom q = {};
  const int64_t need = (a->N + NS - 1) / NS;
  if (need > 32) return q;
  q.tpc = 1, q.ltpc = 0;
  while (q.tpc < need) q.tpc <<= 1, q.ltpc++;
  q.cb = kST / q.tpc, q.lcb = 7 - q.ltpc;
  q.Gt = (a->varB || a->varC) ? a->G : 1;
  q.Dg = a->D / q.Gt;
  q.ntile = (q.Dg + q.cb - 1) / q.cb;
  q.vb = a->varB, q.vc = a->varC, q.ev = a->deltaA != NULL;
  const int nbc = (q.vb ? 1 : 0) + (q.vc ? 1 : 0);
  /* forward: u, Δ, [Δ_A], [z]; backward: u, Δ, [Δ_A], dy, [z], dy', [softplus'] */
  q.nr = bwd ? 4 + (q.ev ? 1 : 0) + (a->z ? 1 : 0) + (a->softplus ? 1 : 0) : 2 + (q.ev ? 1 : 0) + (a->z ? 1 : 0);
  q.rbytes = al16((size_t)q.nr * kTS * (q.cb + 1) * sizeof(R));
  q.tbytes = al16((size_t)nbc * a->N * (kTS + 1) * sizeof(T));
  if (!bwd) {
    q.buf = q.rbytes + q.tbytes;
    q.smem = 2 * q.buf;
  } else {
    q.sub = al16((size_t)((a->chunk + SS - 1) / SS) * NS * kST * sizeof(T));
    q.red = (size_t)nbc * SS * NS * kST * sizeof(T);
    q.smem = q.rbytes + q.tbytes + q.sub + q.red;
  }
  return q;
}

template <typename T> bool aligned(const void *p) { return ((uintptr_t)p % sizeof(T)) == 0; }

/* Whether the sequential kernel takes the problem: it fits (N <= 32·NS, shared memory), the
 * asynchronous copies' alignment holds, and (auto) there are channels enough to fill the device
 * (4 warps per SM) or the sequence is short (a step, a short prompt: nothing to parallelise in
 * time). */
template <typename T> bool sok(const lr_scan_in *a, bool bwd) {
  typedef typename Tr<T>::R R;
  if (scan_path() == 2) return false;
  if (bwd && a->chunk > kTS) return false;
  SGeom q = sgeom<T>(a, bwd);
  if (!q.tpc || q.smem > smem_max()) return false;
  if (!aligned<R>(a->u) || !aligned<R>(a->delta) || !aligned<R>(a->deltaA) || !aligned<R>(a->z)) return false;
  if ((a->varB && !aligned<T>(a->Bm)) || (a->varC && !aligned<T>(a->Cm))) return false;
  if (g_scan_path == 1) return true;
  /* auto, from lrnnx bench scan on an H200 (B8 D2048 L4096 N16, ms, sequential / tile): forward
   * F32 mamba variable B/C 2.64 / 4.86, fixed 2.12 / 2.68, C64 zoh 5.43 / 6.67 (27.9 / 34.3 with
   * the full-precision special functions), but F32 zoh (the generic discretization) 11.0 / 5.3;
   * backward 13.9 / 15.4, 9.1 / 4.6, C64 zoh 73.9 / 20.1, F32 zoh 55 / 15. So the forward of F32
   * mamba and complex scans, never the backward (yet). */
  if (bwd) return false;
  const bool fits = a->rdt == LR_DTYPE_F32 && (a->cplx || (a->disc == LR_DISC_MAMBA && !a->deltaA));
  return fits && (a->L <= 64 || a->Bn * a->D * q.tpc >= (int64_t)sm_count() * 128);
}

/* F32 mamba: Ā by the hardware exp2 */
template <typename T, int DK> struct FastMamba {
  static constexpr bool v = DK == LR_DISC_MAMBA && std::is_same<T, float>::value;
};

/* One state's step h = Ā h + B̄ B u (Ā = 0 on a reset step; dlu = Δ u); returns Ā. */
template <typename T, int DK>
__device__ __forceinline__ T upd(int kind, T lam, float a2, typename Tr<T>::R dl, typename Tr<T>::R dla,
                                 typename Tr<T>::R uu, typename Tr<T>::R dlu, T Bk, bool rst, T &h) {
  typedef Tr<T> O;
  T av, bv;
  if constexpr (FastMamba<T, DK>::v) {
    av = ex2(dl * a2);
    bv = dlu * Bk;
  } else {
    (void)a2, (void)dlu;
    T bb;
    O::eval(kind, lam, dla, dl, &av, &bb);
    bv = O::mul(bb, O::scale(Bk, uu));
  }
  if (rst) av = O::r((typename Tr<T>::R)0);
  h = O::add(O::mul(av, h), bv);
  return av;
}

/* ================= forward =================
 * C64 is held to 128 registers (4 blocks an SM: B 8, D 2048, N 16 is 512 blocks, one wave on an
 * H200; at 168 registers it took 1.3 waves): complex zoh 7.25 -> 5.43 ms, though it spills. */
template <typename T, int DK, int VAR>
__global__ void __launch_bounds__(kST, std::is_same<T, lr_c64>::value ? 4 : 1)
    seq_fwd_k(lr_scan_in a, SGeom q, typename Tr<T>::R *__restrict__ y, T *hL, T *__restrict__ ckpt) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  constexpr int NS = SCfg<T>::NS;
  extern __shared__ __align__(16) unsigned char smem[];
  const int tid = threadIdx.x, c = tid >> q.ltpc, j = tid & (q.tpc - 1), cbp = q.cb + 1;
  const int64_t N = a.N, L = a.L, D = a.D, G = a.G;
  const int64_t tile = blockIdx.x % q.ntile, bg = blockIdx.x / q.ntile, g = bg % q.Gt, b = bg / q.Gt;
  const int64_t dl0 = tile * q.cb, d0 = g * q.Dg + dl0;
  const int ncb = (int)(q.Dg - dl0 < q.cb ? q.Dg - dl0 : q.cb);
  const bool live = c < ncb;
  const int64_t d = d0 + (live ? c : 0);
  const int kind = DK >= 0 ? DK : a.disc;
  const bool ev = DK < 0 && q.ev;
  const int64_t len = a.lengths ? a.lengths[b] : L;
  const int64_t C = a.chunk, nch = L ? (L + C - 1) / C : 0;
  const size_t AR = (size_t)kTS * cbp;
  const T zero = O::r((R)0);
  /* the stage's real inputs in this order */
  const R *src[4];
  int nsrc = 0;
  src[nsrc++] = (const R *)a.u;
  src[nsrc++] = (const R *)a.delta;
  if (ev) src[nsrc++] = (const R *)a.deltaA;
  const int iz = nsrc;
  if (a.z) src[nsrc++] = (const R *)a.z;
  const T *bcsrc[2];
  int nbc = 0;
  if (q.vb) bcsrc[nbc++] = (const T *)a.Bm + (b * G + g) * N * L;
  if (q.vc) bcsrc[nbc++] = (const T *)a.Cm + (b * G + g) * N * L;
  const int64_t row0 = (b * D + d0) * L;

  T h[NS], lam[NS], Bf[NS], Cf[NS];
  float a2[NS];
#pragma unroll
  for (int k = 0; k < NS; k++) {
    const int64_t n = (int64_t)j * NS + k;
    const bool in = n < N;
    lam[k] = in ? ((const T *)a.A)[d * N + n] : zero;
    h[k] = (in && a.h0) ? ((const T *)a.h0)[(b * D + d) * N + n] : zero;
    Bf[k] = (in && !q.vb) ? ((const T *)a.Bm)[d * N + n] : zero;
    Cf[k] = (in && !q.vc) ? ((const T *)a.Cm)[d * N + n] : zero;
    if constexpr (FastMamba<T, DK>::v) a2[k] = lam[k] * 1.4426950408889634f;
    else a2[k] = 0.f;
  }
  const R Dd = a.Dv ? ((const R *)a.Dv)[d] : (R)0;

  auto issue = [&](int buf, int64_t t0, int nv) {
    R *sb = (R *)(smem + buf * q.buf);
    for (int r = 0; r < nsrc; r++) {
      const R *s = src[r] + row0 + t0;
      R *dst = sb + r * AR;
      for (int e = tid; e < q.cb * kTS; e += kST) {
        const int cc = e / kTS, tt = e % kTS;
        if (cc < ncb && tt < nv) __pipeline_memcpy_async(dst + tt * cbp + cc, s + (int64_t)cc * L + tt, sizeof(R));
      }
    }
    T *tb = (T *)(smem + buf * q.buf + q.rbytes);
    for (int r = 0; r < nbc; r++) {
      const T *s = bcsrc[r] + t0;
      T *dst = tb + (size_t)r * N * (kTS + 1);
      for (int64_t e = tid; e < N * kTS; e += kST) {
        const int64_t n = e / kTS;
        const int tt = (int)(e % kTS);
        if (tt < nv) __pipeline_memcpy_async(dst + n * (kTS + 1) + tt, s + n * L + tt, sizeof(T));
      }
    }
    __pipeline_commit();
  };
  /* Δ's bias and softplus, z's SiLU, once per element */
  auto prepare = [&](int buf, int nv) {
    R *sd = (R *)(smem + buf * q.buf) + AR, *sz = a.z ? (R *)(smem + buf * q.buf) + iz * AR : NULL;
    for (int e = tid; e < q.cb * kTS; e += kST) {
      const int tt = e >> q.lcb, cc = e & (q.cb - 1);
      if (cc >= ncb || tt >= nv) continue;
      const int sl = tt * cbp + cc;
      const R bias = a.dbias ? ((const R *)a.dbias)[d0 + cc] : (R)0;
      sd[sl] = delta_of(sd[sl] + bias, a.softplus);
      if (sz) {
        const R zz = sz[sl];
        sz[sl] = zz / sig_den(zz);
      }
    }
  };
  /* y of a finished stage, from u's slots */
  auto flush = [&](int buf, int64_t t0, int nv) {
    const R *su = (const R *)(smem + buf * q.buf);
    for (int e = tid; e < q.cb * kTS; e += kST) {
      const int cc = e / kTS, tt = e % kTS;
      if (cc < ncb && tt < nv) y[row0 + (int64_t)cc * L + t0 + tt] = su[tt * cbp + cc];
    }
  };

  const int64_t nst = (len + kTS - 1) / kTS;
  int64_t nextck = 0;
  if (nst > 0) issue(0, 0, (int)(len < kTS ? len : kTS));
  for (int64_t s = 0; s < nst; s++) {
    const int buf = (int)(s & 1);
    const int64_t t0 = s * kTS;
    const int nv = (int)(len - t0 < kTS ? len - t0 : kTS);
    __pipeline_wait_prior(0);
    __syncthreads();
    if (s > 0) flush(buf ^ 1, t0 - kTS, kTS);
    prepare(buf, nv);
    __syncthreads();
    if (s + 1 < nst) issue(buf ^ 1, t0 + kTS, (int)(len - t0 - kTS < kTS ? len - t0 - kTS : kTS));
    R *su = (R *)(smem + buf * q.buf), *sd = su + AR, *sda = ev ? su + 2 * AR : sd, *sz = a.z ? su + iz * AR : NULL;
    const T *sB = (const T *)(smem + buf * q.buf + q.rbytes);
    const T *sC = sB + (q.vb ? N * (kTS + 1) : 0);
    if constexpr (FastMamba<T, DK>::v && VAR >= 0) {
      /* every thread holds NS real states (N = TPC·NS) and B, C are both fixed or both variable:
       * one basic block per step, the NS states' chains interleave */
      const T *sBj = sB + (size_t)(j * NS) * (kTS + 1), *sCj = sC + (size_t)(j * NS) * (kTS + 1);
      const uint8_t *rs = a.reset ? a.reset + b * L : NULL;
      /* two steps per iteration (a checkpoint never falls between them when the spacing is even),
       * so that one step's loads and exp2 overlap the other's sums and shuffles */
      const int step2 = (C % 2 == 0) ? 2 : 1;
      for (int i = 0; i < nv; i += step2) {
        const int64_t t = t0 + i;
        if (t == nextck) {
          if (ckpt && live) {
#pragma unroll
            for (int k = 0; k < NS; k++) ckpt[((b * D + d) * nch + t / C) * N + j * NS + k] = h[k];
          }
          nextck += C;
        }
        const int two = (step2 == 2 && i + 1 < nv) ? 2 : 1;
        float av[2][NS], bu[2][NS], Ck[2][NS], uu[2], yp[2];
#pragma unroll
        for (int p = 0; p < 2; p++) {
          const int ip = p < two ? i + p : i; /* the second slot repeats the first when absent */
          const int sl = ip * cbp + c;
          const float dl = sd[sl], dlu = dl * su[sl];
          uu[p] = su[sl];
          const bool rst = rs && rs[t0 + ip];
#pragma unroll
          for (int k = 0; k < NS; k++) {
            bu[p][k] = dlu * (VAR ? sBj[k * (kTS + 1) + ip] : Bf[k]);
            Ck[p][k] = VAR ? sCj[k * (kTS + 1) + ip] : Cf[k];
            av[p][k] = rst ? 0.f : ex2(dl * a2[k]);
          }
        }
#pragma unroll
        for (int p = 0; p < 2; p++) {
          yp[p] = 0.f;
          if (p < two) {
#pragma unroll
            for (int k = 0; k < NS; k++) {
              h[k] = av[p][k] * h[k] + bu[p][k];
              yp[p] += Ck[p][k] * h[k];
            }
          }
        }
        for (int m = 1; m < q.tpc; m <<= 1) {
          yp[0] += shxor(yp[0], m);
          yp[1] += shxor(yp[1], m);
        }
        if (j == 0 && live) {
#pragma unroll
          for (int p = 0; p < 2; p++) {
            if (p >= two) break;
            const int sl = (i + p) * cbp + c;
            float o = yp[p];
            if (a.Dv) o = o + Dd * uu[p];
            if (sz) o = o * sz[sl];
            su[sl] = o;
          }
        }
      }
    } else {
    for (int i = 0; i < nv; i++) {
      const int64_t t = t0 + i;
      if (t == nextck) {
        if (ckpt && live) {
#pragma unroll
          for (int k = 0; k < NS; k++) {
            const int64_t n = (int64_t)j * NS + k;
            if (n < N) ckpt[((b * D + d) * nch + t / C) * N + n] = h[k];
          }
        }
        nextck += C;
      }
      const int sl = i * cbp + c;
      const R dl = sd[sl], uu = su[sl], dla = sda[sl], dlu = dl * uu;
      const bool rst = a.reset && a.reset[b * L + t];
      R yp = (R)0;
#pragma unroll
      for (int k = 0; k < NS; k++) {
        const int64_t n = (int64_t)j * NS + k;
        if (n < N) {
          const T Bk = q.vb ? sB[n * (kTS + 1) + i] : Bf[k];
          upd<T, DK>(kind, lam[k], a2[k], dl, dla, uu, dlu, Bk, rst, h[k]);
          const T Ck = q.vc ? sC[n * (kTS + 1) + i] : Cf[k];
          yp += O::redot(Ck, O::conj(h[k]));
        }
      }
      for (int m = 1; m < q.tpc; m <<= 1) yp += shxor(yp, m);
      if (j == 0 && live) {
        R o = O::C ? (R)2 * yp : yp;
        if (a.Dv) o = o + Dd * uu;
        if (sz) o = o * sz[sl];
        su[sl] = o;
      }
    }
    }
  }
  if (nst > 0) {
    __syncthreads();
    flush((int)((nst - 1) & 1), (nst - 1) * kTS, (int)(len - (nst - 1) * kTS));
  }
  if (len < L)
    for (int64_t e = tid; e < (int64_t)ncb * (L - len); e += kST)
      y[row0 + (e / (L - len)) * L + len + e % (L - len)] = (R)0;
  if (live) {
#pragma unroll
    for (int k = 0; k < NS; k++) {
      const int64_t n = (int64_t)j * NS + k;
      if (n < N) hL[(b * D + d) * N + n] = h[k];
    }
  }
}

/* ================= backward ================= */
template <typename T, int DK>
__global__ void __launch_bounds__(kST) seq_bwd_k(lr_scan_in a, lr_scan_grads gr, SGeom q, const T *__restrict__ ckpt,
                                                 T *pB, T *pC) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  constexpr int NS = SCfg<T>::NS, SS = SCfg<T>::SS;
  extern __shared__ __align__(16) unsigned char smem[];
  const int tid = threadIdx.x, c = tid >> q.ltpc, j = tid & (q.tpc - 1), cbp = q.cb + 1;
  const int64_t N = a.N, L = a.L, D = a.D, G = a.G;
  const int64_t tile = blockIdx.x % q.ntile, bg = blockIdx.x / q.ntile, g = bg % q.Gt, b = bg / q.Gt;
  const int64_t dl0 = tile * q.cb, d0 = g * q.Dg + dl0;
  const int ncb = (int)(q.Dg - dl0 < q.cb ? q.Dg - dl0 : q.cb);
  const bool live = c < ncb;
  const int64_t d = d0 + (live ? c : 0);
  const int kind = DK >= 0 ? DK : a.disc;
  const bool ev = DK < 0 && q.ev;
  const int64_t len = a.lengths ? a.lengths[b] : L;
  const int64_t C = a.chunk, nch = L ? (L + C - 1) / C : 0;
  const size_t AR = (size_t)kTS * cbp;
  const T zero = O::r((R)0), one = O::r((R)1);
  /* real arrays: u, Δ, [Δ_A], dy, [z], dy' (dy·silu(z), ·2 complex), [softplus denominator] */
  R *sr = (R *)smem;
  int nr = 0;
  R *su = sr + AR * nr++, *sd = sr + AR * nr++;
  R *sda = ev ? sr + AR * nr++ : sd;
  R *sgy = sr + AR * nr++;
  R *sz = a.z ? sr + AR * nr++ : NULL;
  R *sgo = sr + AR * nr++;
  R *sx = a.softplus ? sr + AR * nr++ : NULL;
  T *sB = (T *)(smem + q.rbytes), *sC = sB + (q.vb ? N * (kTS + 1) : 0);
  T *sub = (T *)(smem + q.rbytes + q.tbytes);
  T *rB = (T *)(smem + q.rbytes + q.tbytes + q.sub), *rC = rB + (q.vb ? SS * NS * kST : 0);
  const int64_t row0 = (b * D + d0) * L;
  const R *in[5];
  R *dst[5];
  int nin = 0;
  in[nin] = (const R *)a.u, dst[nin++] = su;
  in[nin] = (const R *)a.delta, dst[nin++] = sd;
  if (ev) in[nin] = (const R *)a.deltaA, dst[nin++] = sda;
  in[nin] = (const R *)gr.gy, dst[nin++] = sgy;
  if (a.z) in[nin] = (const R *)a.z, dst[nin++] = sz;

  T lam[NS], Bf[NS], Cf[NS], E[NS], dlam[NS], dBf[NS], dCf[NS];
  float a2[NS];
#pragma unroll
  for (int k = 0; k < NS; k++) {
    const int64_t n = (int64_t)j * NS + k;
    const bool ok = n < N;
    lam[k] = ok ? ((const T *)a.A)[d * N + n] : zero;
    Bf[k] = (ok && !q.vb) ? ((const T *)a.Bm)[d * N + n] : zero;
    Cf[k] = (ok && !q.vc) ? ((const T *)a.Cm)[d * N + n] : zero;
    E[k] = (ok && gr.ghL) ? ((const T *)gr.ghL)[(b * D + d) * N + n] : zero;
    dlam[k] = dBf[k] = dCf[k] = zero;
    if constexpr (FastMamba<T, DK>::v) a2[k] = lam[k] * 1.4426950408889634f;
    else a2[k] = 0.f;
  }
  const R Dd = a.Dv ? ((const R *)a.Dv)[d] : (R)0;
  R dDacc = 0, dbacc = 0;

  /* one forward step of the thread's states at segment step i (Ā out for the adjoint) */
  auto step = [&](int i, int64_t t, T *hh, T *aout) {
    const int sl = i * cbp + c;
    const R dl = sd[sl], uu = su[sl], dla = sda[sl], dlu = dl * uu;
    const bool rst = a.reset && a.reset[b * L + t];
#pragma unroll
    for (int k = 0; k < NS; k++) {
      const int64_t n = (int64_t)j * NS + k;
      if (n < N) {
        const T Bk = q.vb ? sB[n * (kTS + 1) + i] : Bf[k];
        const T av = upd<T, DK>(kind, lam[k], a2[k], dl, dla, uu, dlu, Bk, rst, hh[k]);
        if (aout) aout[k] = av;
      }
    }
  };

  const int64_t nseg = (len + C - 1) / C;
  for (int64_t s = nseg - 1; s >= 0; s--) {
    const int64_t t0 = s * C;
    const int nv = (int)(len - t0 < C ? len - t0 : C);
    __syncthreads(); /* the previous segment's outputs are out */
    for (int r = 0; r < nin; r++)
      for (int e = tid; e < q.cb * kTS; e += kST) {
        const int cc = e / kTS, tt = e % kTS;
        if (cc < ncb && tt < nv) dst[r][tt * cbp + cc] = in[r][row0 + (int64_t)cc * L + t0 + tt];
      }
    for (int r = 0; r < (q.vb ? 1 : 0) + (q.vc ? 1 : 0); r++) {
      const bool isB = q.vb && r == 0;
      const T *s_ = (const T *)(isB ? a.Bm : a.Cm) + ((b * G + g) * N) * L + t0;
      T *dd = isB ? sB : sC;
      for (int64_t e = tid; e < N * kTS; e += kST) {
        const int64_t n = e / kTS;
        const int tt = (int)(e % kTS);
        if (tt < nv) dd[n * (kTS + 1) + tt] = s_[n * L + tt];
      }
    }
    __syncthreads();
    for (int e = tid; e < q.cb * kTS; e += kST) {
      const int tt = e >> q.lcb, cc = e & (q.cb - 1);
      if (cc >= ncb || tt >= nv) continue;
      const int sl = tt * cbp + cc;
      const R x = sd[sl] + (a.dbias ? ((const R *)a.dbias)[d0 + cc] : (R)0);
      sd[sl] = delta_of(x, a.softplus);
      if (sx) sx[sl] = x <= (R)20 ? sig_den(x) : (R)1; /* dΔ/dx = 1 / this */
      R gout = sgy[sl];
      if (sz) {
        const R zz = sz[sl];
        gout = gout * (zz / sig_den(zz));
      }
      sgo[sl] = O::C ? (R)2 * gout : gout;
    }
    __syncthreads();
    /* pass 1: the states entering every SS-th step, from the segment's checkpoint */
    {
      T hh[NS];
#pragma unroll
      for (int k = 0; k < NS; k++) {
        const int64_t n = (int64_t)j * NS + k;
        hh[k] = n < N ? ckpt[((b * D + d) * nch + s) * N + n] : zero;
      }
      for (int i = 0; i < nv; i++) {
        if (i % SS == 0) {
#pragma unroll
          for (int k = 0; k < NS; k++) sub[((i / SS) * NS + k) * kST + tid] = hh[k];
        }
        step(i, t0 + i, hh, NULL);
      }
    }
    /* pass 2: sub-segments in reverse */
    for (int qs = (nv - 1) / SS; qs >= 0; qs--) {
      const int i0 = qs * SS, m = nv - i0 < SS ? nv - i0 : SS;
      T hin[NS], hs[SS][NS], av[SS][NS];
#pragma unroll
      for (int k = 0; k < NS; k++) hin[k] = sub[(qs * NS + k) * kST + tid];
      {
        T hh[NS];
#pragma unroll
        for (int k = 0; k < NS; k++) hh[k] = hin[k];
#pragma unroll
        for (int ii = 0; ii < SS; ii++)
          if (ii < m) {
            step(i0 + ii, t0 + i0 + ii, hh, av[ii]);
#pragma unroll
            for (int k = 0; k < NS; k++) hs[ii][k] = hh[k];
          }
      }
#pragma unroll
      for (int ii = SS - 1; ii >= 0; ii--) {
        if (ii >= m) continue;
        const int i = i0 + ii;
        const int64_t t = t0 + i;
        const int sl = i * cbp + c;
        const R uu = su[sl], dl = sd[sl], dla = sda[sl], cf = sgo[sl];
        const bool rst = a.reset && a.reset[b * L + t];
        R dup = 0, gdp = 0, gdap = 0, yap = 0; /* this step's partial sums over the thread's states */
#pragma unroll
        for (int k = 0; k < NS; k++) {
          const int64_t n = (int64_t)j * NS + k;
          if (n >= N) continue;
          const T Bk = q.vb ? sB[n * (kTS + 1) + i] : Bf[k];
          const T Ck = q.vc ? sC[n * (kTS + 1) + i] : Cf[k];
          const T Gt_ = O::add(O::scale(O::conj(Ck), cf), E[k]);
          const T hp = rst ? zero : (ii ? hs[ii - 1][k] : hin[k]);
          const T gA = O::mul(Gt_, O::conj(hp));
          const T gB = O::mul(Gt_, O::conj(O::scale(Bk, uu)));
          T bb, p[6];
          if constexpr (DK == LR_DISC_MAMBA) {
            bb = O::r(dl);
            p[0] = O::scale(av[ii][k], dla); /* a reset step's Ā is 0 here, but its gA is 0 too */
            p[1] = O::mul(lam[k], av[ii][k]);
          } else {
            T ab;
            O::deriv(kind, lam[k], dla, dl, &ab, &bb, p);
          }
          const T dBc = O::scale(O::mul(Gt_, O::conj(bb)), uu);
          const T dCc = O::scale(O::conj(hs[ii][k]), cf);
          dup += O::redot(Gt_, O::mul(bb, Bk));
          if constexpr (DK == LR_DISC_MAMBA) {
            dlam[k] = O::add(dlam[k], O::mul(gA, O::conj(p[0])));
            gdap += O::redot(gA, p[1]);
            gdp += O::redot(gB, one);
          } else {
            dlam[k] = O::add(dlam[k], O::add(O::mul(gA, O::conj(p[0])), O::mul(gB, O::conj(p[3]))));
            gdap += O::redot(gA, p[1]) + O::redot(gB, p[4]);
            gdp += O::redot(gA, p[2]) + O::redot(gB, p[5]);
          }
          if (sz) yap += O::redot(Ck, O::conj(hs[ii][k]));
          E[k] = O::mul(O::conj(av[ii][k]), Gt_);
          if (q.vb) rB[(ii * NS + k) * kST + tid] = dBc;
          else dBf[k] = O::add(dBf[k], dBc);
          if (q.vc) rC[(ii * NS + k) * kST + tid] = dCc;
          else dCf[k] = O::add(dCf[k], dCc);
        }
        if (!ev) gdp += gdap; /* Δ_A is Δ */
        for (int mm = 1; mm < q.tpc; mm <<= 1) {
          dup += shxor(dup, mm);
          gdp += shxor(gdp, mm);
          if (ev) gdap += shxor(gdap, mm);
          if (sz) yap += shxor(yap, mm);
        }
        if (j == 0 && live) {
          const R gout = O::C ? cf * (R)0.5 : cf;
          R dui = dup, g1 = gdp;
          if (a.Dv) {
            dDacc += gout * uu;
            dui = gout * Dd + dui;
          }
          if (sx) g1 = g1 / sx[sl];
          dbacc += g1;
          if (sz) {
            R o = O::C ? (R)2 * yap : yap;
            if (a.Dv) o = o + Dd * uu;
            const R zz = sz[sl], sg = (R)1 / sig_den(zz);
            sz[sl] = sgy[sl] * o * (sg * ((R)1 + zz * ((R)1 - sg))); /* dy · out · silu'(z) */
          }
          su[sl] = dui;
          sd[sl] = g1;
          if (ev) sda[sl] = gdap;
        }
      }
      if (q.vb || q.vc) {
        /* variable dB / dC of the sub-segment's steps: Σ over the block's channels in order, into
         * the (consumed) B / C slots */
        __syncthreads();
        for (int e = tid; e < m * N; e += kST) {
          const int ii = e / (int)N, n = e % (int)N, jj = n / NS, k = n % NS;
          const size_t base = (size_t)(ii * NS + k) * kST + jj;
          if (q.vb) {
            T acc = rB[base];
            for (int cc = 1; cc < ncb; cc++) acc = O::add(acc, rB[base + (size_t)cc * q.tpc]);
            sB[(int64_t)n * (kTS + 1) + i0 + ii] = acc;
          }
          if (q.vc) {
            T acc = rC[base];
            for (int cc = 1; cc < ncb; cc++) acc = O::add(acc, rC[base + (size_t)cc * q.tpc]);
            sC[(int64_t)n * (kTS + 1) + i0 + ii] = acc;
          }
        }
        __syncthreads();
      }
    }
    __syncthreads();
    for (int e = tid; e < q.cb * kTS; e += kST) {
      const int cc = e / kTS, tt = e % kTS;
      if (cc >= ncb || tt >= nv) continue;
      const int sl = tt * cbp + cc;
      const int64_t o = row0 + (int64_t)cc * L + t0 + tt;
      ((R *)gr.du)[o] = su[sl];
      ((R *)gr.ddelta)[o] = sd[sl];
      if (ev) ((R *)gr.ddeltaA)[o] = sda[sl];
      if (sz) ((R *)gr.dz)[o] = sz[sl];
    }
    for (int r = 0; r < 2; r++) {
      T *op = r == 0 ? (q.vb ? pB : NULL) : (q.vc ? pC : NULL);
      if (!op) continue;
      const T *sl = r == 0 ? sB : sC;
      op += ((bg * q.ntile + tile) * N) * L + t0;
      for (int64_t e = tid; e < N * kTS; e += kST) {
        const int64_t n = e / kTS;
        const int tt = (int)(e % kTS);
        if (tt < nv) op[n * L + tt] = sl[n * (kTS + 1) + tt];
      }
    }
  }
  /* past the length: zeros */
  if (len < L) {
    const int64_t W = L - len;
    for (int64_t e = tid; e < (int64_t)ncb * W; e += kST) {
      const int64_t o = row0 + (e / W) * L + len + e % W;
      ((R *)gr.du)[o] = (R)0;
      ((R *)gr.ddelta)[o] = (R)0;
      if (ev) ((R *)gr.ddeltaA)[o] = (R)0;
      if (sz) ((R *)gr.dz)[o] = (R)0;
    }
    for (int r = 0; r < 2; r++) {
      T *op = r == 0 ? (q.vb ? pB : NULL) : (q.vc ? pC : NULL);
      if (!op) continue;
      op += ((bg * q.ntile + tile) * N) * L;
      for (int64_t e = tid; e < N * W; e += kST) op[(e / W) * L + len + e % W] = zero;
    }
  }
  if (live) {
    const int64_t od = (b * D + d) * N;
#pragma unroll
    for (int k = 0; k < NS; k++) {
      const int64_t n = (int64_t)j * NS + k;
      if (n >= N) continue;
      ((T *)gr.dh0)[od + n] = E[k];
      ((T *)gr.dA_p)[od + n] = dlam[k];
      if (!q.vb) ((T *)gr.dB)[od + n] = dBf[k];
      if (!q.vc) ((T *)gr.dC)[od + n] = dCf[k];
    }
    if (j == 0) {
      if (gr.dD_p) ((R *)gr.dD_p)[b * D + d] = dDacc;
      if (gr.dbias_p) ((R *)gr.dbias_p)[b * D + d] = dbacc;
    }
  }
}

template <typename T, int DK, int VAR = -1> lr_status fwd_t(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  typedef typename Tr<T>::R R;
  const SGeom q = sgeom<T>(a, false);
  auto k = seq_fwd_k<T, DK, VAR>;
  LR_CUDA_TRY("lr_kcuda_scan_fwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)q.smem));
  k<<<(unsigned)(a->Bn * q.Gt * q.ntile), kST, q.smem, s>>>(*a, q, (R *)y, (T *)hL, (T *)ckpt);
  return lr_cuda_check_launch("lr_kcuda_scan_fwd");
}

template <typename T, int DK>
lr_status bwd_t(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s) {
  typedef typename Tr<T>::R R;
  const SGeom q = sgeom<T>(a, true);
  const size_t part = q.ntile > 1 ? (size_t)(a->Bn * q.Gt * q.ntile * a->N * a->L) : 0;
  T *pB = NULL, *pC = NULL;
  char *p = (char *)ws;
  if (a->varB) {
    pB = part ? (T *)p : (T *)g->dB;
    p += part * sizeof(T);
  }
  if (a->varC) pC = part ? (T *)p : (T *)g->dC;
  auto k = seq_bwd_k<T, DK>;
  LR_CUDA_TRY("lr_kcuda_scan_bwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)q.smem));
  k<<<(unsigned)(a->Bn * q.Gt * q.ntile), kST, q.smem, s>>>(*a, *g, q, (const T *)ckpt, pB, pC);
  LR_TRY(lr_cuda_check_launch("lr_kcuda_scan_bwd"));
  if (part) {
    const int64_t M = a->N * a->L * (Tr<T>::C ? 2 : 1);
    if (a->varB) LR_TRY(launch_sum_mid<R>(pB, g->dB, a->Bn * q.Gt, q.ntile, M, s));
    if (a->varC) LR_TRY(launch_sum_mid<R>(pC, g->dC, a->Bn * q.Gt, q.ntile, M, s));
  }
  return LR_OK;
}

bool f32_mamba(const lr_scan_in *a) { return a->rdt == LR_DTYPE_F32 && !a->cplx && a->disc == LR_DISC_MAMBA && !a->deltaA; }

} // namespace

bool seq_fwd_ok(const lr_scan_in *a) {
  if (a->rdt == LR_DTYPE_F32) return a->cplx ? sok<lr_c64>(a, false) : sok<float>(a, false);
  return a->cplx ? sok<lr_c128>(a, false) : sok<double>(a, false);
}

bool seq_bwd_ok(const lr_scan_in *a) {
  if (a->rdt == LR_DTYPE_F32) return a->cplx ? sok<lr_c64>(a, true) : sok<float>(a, true);
  return a->cplx ? sok<lr_c128>(a, true) : sok<double>(a, true);
}

int seq_chunk() { return kTS; }

size_t seq_ws_elems(const lr_scan_in *a) {
  SGeom q;
  if (a->rdt == LR_DTYPE_F32) q = a->cplx ? sgeom<lr_c64>(a, true) : sgeom<float>(a, true);
  else q = a->cplx ? sgeom<lr_c128>(a, true) : sgeom<double>(a, true);
  return (q.tpc && q.ntile > 1) ? (size_t)(a->Bn * q.Gt * q.ntile * a->N * a->L) : 0;
}

lr_status seq_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  if (f32_mamba(a)) {
    const SGeom q = sgeom<float>(a, false);
    if (a->N == (int64_t)q.tpc * SCfg<float>::NS && a->varB == a->varC)
      return a->varB ? fwd_t<float, LR_DISC_MAMBA, 1>(a, y, hL, ckpt, s) : fwd_t<float, LR_DISC_MAMBA, 0>(a, y, hL, ckpt, s);
    return fwd_t<float, LR_DISC_MAMBA>(a, y, hL, ckpt, s);
  }
  if (a->rdt == LR_DTYPE_F32 && a->cplx && !a->deltaA) { /* C64: the kind at compile time (fewer registers) */
    switch (a->disc) {
    case LR_DISC_ZOH: return fwd_t<lr_c64, LR_DISC_ZOH>(a, y, hL, ckpt, s);
    case LR_DISC_BILINEAR: return fwd_t<lr_c64, LR_DISC_BILINEAR>(a, y, hL, ckpt, s);
    case LR_DISC_DIRAC: return fwd_t<lr_c64, LR_DISC_DIRAC>(a, y, hL, ckpt, s);
    case LR_DISC_MAMBA: return fwd_t<lr_c64, LR_DISC_MAMBA>(a, y, hL, ckpt, s);
    default: break;
    }
  }
  if (a->rdt == LR_DTYPE_F32) return a->cplx ? fwd_t<lr_c64, -1>(a, y, hL, ckpt, s) : fwd_t<float, -1>(a, y, hL, ckpt, s);
  return a->cplx ? fwd_t<lr_c128, -1>(a, y, hL, ckpt, s) : fwd_t<double, -1>(a, y, hL, ckpt, s);
}

lr_status seq_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s) {
  if (f32_mamba(a)) return bwd_t<float, LR_DISC_MAMBA>(a, ckpt, g, ws, s);
  if (a->rdt == LR_DTYPE_F32) return a->cplx ? bwd_t<lr_c64, -1>(a, ckpt, g, ws, s) : bwd_t<float, -1>(a, ckpt, g, ws, s);
  return a->cplx ? bwd_t<lr_c128, -1>(a, ckpt, g, ws, s) : bwd_t<double, -1>(a, ckpt, g, ws, s);
}

} // namespace lr_scank
