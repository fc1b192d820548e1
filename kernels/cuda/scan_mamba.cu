/* The selective scan for Mamba's case, F32: real A, Ā and B̄ by the discretizations mamba
 * (Ā = exp(Δ A), B̄ = Δ), dirac (B̄ = 1), zoh (B̄ = (Ā - 1) / A), bilinear and mamba with a
 * separate Δ_A (STREAM: Ā = exp(Δ_A A)) (see kMam .. kMamA; all but mamba with B and C both
 * variable or both fixed), N = 8, 16, 32 or 64 states, B and C fixed (D, N) or variable
 * (B, G, N, L), optional D, z, delta_bias, softplus, h0, per-sequence lengths, the final state and
 * checkpoints, and resets (B, L) with mamba, dirac and Δ_A (zoh and bilinear with resets: scan_seq.cu
 * and scan.cu). The math is that of kernels/cpu/scan.c:
 *   h_t[n] = Ā_t[n] k_t h_{t-1}[n] + B̄_t B_t[n] u_t,  y_t = (Σ_n C_t[n] h_t[n] + D u_t) · silu(z_t),
 * k_t = 1 - reset[b, t] (1 without resets).
 *
 * Layout: a thread owns NS = 4 consecutive states of one channel, TPC = N / 4 lanes of a warp share
 * a channel (consecutive lanes, or in the forward with variable B/C lanes 32 / TPC apart: MLanes),
 * a block of 128 threads holds CB = 128 / TPC consecutive channels of one (b, group). Every thread
 * walks time in order with its states in registers. The inner loops have no per-state branches and
 * load by 16 bytes; 4 states per thread (not 8) gives the H200 twice the warps, which it needs to
 * hide the exp2 and shared-memory latencies.
 *
 * Forward. Time goes in stages of T = 32 steps. One stage ahead, cp.async copies the block's rows
 * of u, Δ, z ([channel][step], row stride T + 4 floats) and the stage's variable B/C rows ([n][step],
 * shifted per lane pair: bco) into shared memory (two buffers). When a stage arrives, Δ's bias and
 * softplus are applied once per element (msoftplus: no branches, hardware exp2 and a polynomial). A
 * thread then reads 4 steps of u, Δ, B and C per 16-byte load (Δ and u a group ahead, so that the
 * exps wait on no load), runs them, and writes its partial y to its own row; after the stage each
 * thread takes fixed 4-step chunks of the block's channels, sums the channel's TPC partials in lane
 * order and writes (y + D u) · silu(z) out by 16 bytes.
 * Ā = 2^(Δ · A log2 e) by the hardware exp2 (ex2.approx, about 2 ulp), as scan_seq.cu's F32
 * mamba; bilinear's r by the hardware reciprocal (rcp.approx, about 1 ulp).
 * The state entering every step t ≡ 0 (mod chunk) goes to ckpt (B, D, nch, N), the layout of the
 * other kernels, so that any backward can follow this forward; the chunk must be a multiple of 4
 * (16, the Mamba backward's, has its own loop without per-step tests). Offsets within a block's
 * rows are 32-bit (L <= 2^24). The per-stage work (copies, softplus, the flush) was 40% of the
 * instructions on an H200; its offsets are worked out once per thread, and a full stage (every
 * channel of the block live, 32 steps, 16-byte rows) runs it without bounds tests (MFull; 3-4% of
 * the forward's time at B 8, D 2048, L 4096, N 16).
 * Past L inside the last stage the staged Δ and u are 0, so Ā = 1 and the step adds nothing. With
 * lengths a block runs its sequence's Le = lengths[b] steps, then writes y = 0 past Le and the final
 * state into the checkpoints of the chunks that start there; the backward runs Le steps too, and
 * mtail_k zeroes its gradients past Le.
 * Resets (template flag RS): a block stages its sequence's row k_t = 1 - reset[b, t] with each stage
 * and multiplies Ā by it, in both directions. In the backward that is all: with Ā k in place of Ā,
 * E = Ā k G, and every term that carries Ā (E h λ, E h Δ) vanishes at a reset, as it must; B̄ does
 * not depend on Ā for mamba, dirac and Δ_A, which is why zoh and bilinear (B̄'s derivatives read Ā)
 * are left to the other kernels. The checkpoints hold h_{t-1} before k_t, as the other kernels' do.
 *
 * Backward: see the comment above mamba_bwd_k. Both directions are deterministic (no atomics).
 */
#include <cuda_pipeline.h>

#include "kernels/cuda/scan_k.cuh"

namespace lr_scank {

namespace {

const int kMT = 128;    /* threads per block */
const int kMS = 32;     /* steps per stage */
const int kRS = kMS + 4; /* row stride of a staged row, floats (16-byte rows, banks spread) */
const int kNS = 4;      /* states per thread (8 halves the warps: slower on an H200) */
const int kBS = 16;     /* backward: steps per segment (the forward's checkpoint interval) */
const int kBRS = kBS + 4; /* backward: row stride of a staged row, floats */
const int kSS = 4;      /* backward: steps per recomputed sub-segment */
/* backward: floats of padding after each step's row of the per-step sums (part): the epilogue's
 * 16-byte loads of 4 steps x 2 channels per 8 lanes then hit 8 different bank quads (unpadded, the
 * 4 steps of a channel shared one: 16 wavefronts a load instead of 4, 8% of the backward's
 * shared-memory wavefronts on an H200) */
const int kPP = 8;

/* Offset of staged B/C row n of array r (arrays of N rows): every 8 rows (the rows of lanes j and
 * j + 1) start 16 bytes further on, so that the lanes' 16-byte loads of one step hit different
 * banks (the row stride alone puts lanes j and j + 2 on the same ones). */
__host__ __device__ __forceinline__ int bcn(int N, int rs = kRS) { return N * rs + 4 * (N >> 3); }
__host__ __device__ __forceinline__ int bco(int N, int r, int n, int rs = kRS) {
  return r * bcn(N, rs) + n * rs + 4 * (n >> 3);
}

/* Δ after the bias and softplus, without branches: log(1 + e^x) = max(x, 0) + log1p(t), t = e^-|x|
 * in (0, 1], log1p(t) = t P(t) with P the degree-9 Chebyshev interpolant of log1p(t) / t on [0, 1]
 * (worst relative error 1.4e-7 in F32 arithmetic, against 2.4e-7 for the atanh series this replaced;
 * the reciprocal that series needed was a special-function operation per element), e^-|x| in
 * hardware: a few ulp (the CPU's log1pf(expf(x)) is within one). x > 20: x, as lrnnx. */
__device__ __forceinline__ float msoftplus(float x) {
  const float t = ex2(-fabsf(x) * 1.4426950408889634f);
  float p = -3.176057013e-03f;
  p = fmaf(p, t, 1.954252645e-02f);
  p = fmaf(p, t, -5.637361109e-02f);
  p = fmaf(p, t, 1.054362357e-01f);
  p = fmaf(p, t, -1.526966691e-01f);
  p = fmaf(p, t, 1.966327429e-01f);
  p = fmaf(p, t, -2.495161593e-01f);
  p = fmaf(p, t, 3.332971036e-01f);
  p = fmaf(p, t, -4.999989271e-01f);
  p = fmaf(p, t, 1.f);
  const float r = fmaf(t, p, fmaxf(x, 0.f));
  return x > 20.f ? x : r;
}

/* silu(z) = z / (1 + e^-z) in hardware (z -> -inf: -0) */
__device__ __forceinline__ float msilu(float z) { return z * rcpa(1.f + ex2(z * -1.4426950408889634f)); }

/* 1 - e^-x for x >= 0 (the softplus derivative from its output): its series below 1/2, where the
 * difference would cancel, 1 - 2^(-x log2 e) above; no branches, a few ulp */
__device__ __forceinline__ float m1mexp(float x) {
  const float e = 1.f - ex2(x * -1.4426950408889634f);
  const float s = x * fmaf(x, fmaf(x, fmaf(x, fmaf(x, fmaf(x, fmaf(x, fmaf(x, -1.f / 40320, 1.f / 5040), -1.f / 720),
                                                            1.f / 120), -1.f / 24), 1.f / 6), -0.5f), 1.f);
  return x < 0.5f ? s : e;
}

/* The discretizations these kernels take (template argument DK), with Δ_A = Δ and v = Δλ:
 *   kMam  mamba     Ā = e^v, B̄ = Δ
 *   kDir  dirac     Ā = e^v, B̄ = 1
 *   kZoh  zoh       Ā = e^v, B̄ = (e^v - 1) / λ (mzoh; its λ-derivative: mzohd)
 *   kBil  bilinear  Ā = (1 + v/2) r, B̄ = Δ r, r = 1 / (1 - v/2): Ā = 2r - 1 by the hardware
 *                   reciprocal (mbil), and in the backward r = (1 + Ā) / 2, so that
 *                   ∂Ā/∂Δ = λ r², ∂Ā/∂λ = Δ r², ∂B̄/∂Δ = r², ∂B̄/∂λ = Δ² r² / 2.
 *   kMamA mamba with a separate Δ_A (STREAM's event mode): Ā = e^{Δ_A λ}, B̄ = Δ; Δ_A is an input
 *                   row of its own (no bias or softplus), staged with u and Δ; ∂Ā/∂Δ_A = λ Ā,
 *                   ∂Ā/∂λ = Δ_A Ā.
 * Per state the constant ac is λ log2 e (the exp2 kinds) or -λ/2 (bilinear). */
enum { kMam = 0, kDir = 1, kZoh = 2, kBil = 3, kMamA = 4 };
__host__ __device__ constexpr bool mexp(int DK) { return DK != kBil; }

/* A compile-time flag passed to the per-stage lambdas of both directions (their `auto` parameter):
 * a full stage or segment (every channel of the block live, all kMS / kBS steps, 16-byte rows)
 * drops the per-chunk bounds tests, the tail handling and the element-by-element paths. */
template <bool V> struct MFull { static constexpr bool value = V; };

/* Δ u of 4 steps (mamba, zoh's series and bilinear scale it further) or u (dirac) */
template <int DK> __device__ __forceinline__ void mbu4(const float4 d4, const float4 u4, float (&o)[4]) {
  constexpr bool U = DK == kDir;
  o[0] = U ? u4.x : d4.x * u4.x, o[1] = U ? u4.y : d4.y * u4.y;
  o[2] = U ? u4.z : d4.z * u4.z, o[3] = U ? u4.w : d4.w * u4.w;
}

/* zoh's B̄ = (e^{Δλ} - 1) / λ from Ā = e: (e - 1) / λ for |Δλ| >= 1/2, where the difference keeps
 * its precision (a few ulp with the hardware exp2); below, Δ φ1(Δλ) with φ1(v) = (e^v - 1) / v by
 * its series to v^7 (truncation < 1.1e-8). λ = 0 takes the series (its 1 / λ is never used). */
__device__ __forceinline__ float mzoh(float dl, float lam, float rlam, float e) {
  const float v = dl * lam;
  float p = 1.f / 40320;
  p = fmaf(p, v, 1.f / 5040);
  p = fmaf(p, v, 1.f / 720);
  p = fmaf(p, v, 1.f / 120);
  p = fmaf(p, v, 1.f / 24);
  p = fmaf(p, v, 1.f / 6);
  p = fmaf(p, v, 0.5f);
  p = fmaf(p, v, 1.f);
  return fabsf(v) < 0.5f ? dl * p : (e - 1.f) * rlam;
}

/* zoh's B̄ and ∂B̄/∂λ = ((v - 1) e + 1) / λ² from Ā = e: the closed forms for |v| >= 1/2 (the
 * fma keeps (v - 1) e + 1 to a few ulp of e: relative error ~1e-6 at |v| = 1/2), below Δ φ1(v) and
 * Δ² ψ(v), ψ(v) = Σ_k (k + 1) v^k / (k + 2)! to v^7 (truncation < 2e-9 relative): the series of
 * kernels/discretize_math_impl.h (B̄ by mzoh). */
__device__ __forceinline__ void mzohd(float dl, float lam, float rlam, float e, float &bb, float &db) {
  const float v = dl * lam;
  float q = 1.f / 45360;
  q = fmaf(q, v, 1.f / 5760);
  q = fmaf(q, v, 1.f / 840);
  q = fmaf(q, v, 1.f / 144);
  q = fmaf(q, v, 1.f / 30);
  q = fmaf(q, v, 0.125f);
  q = fmaf(q, v, 1.f / 3);
  q = fmaf(q, v, 0.5f);
  bb = mzoh(dl, lam, rlam, e);
  db = fabsf(v) < 0.5f ? dl * dl * q : fmaf(v - 1.f, e, 1.f) * rlam * rlam;
}

/* Ā and B̄ u of one step of one state: dl = Δ, dlu = Δ u (u for dirac), ac the state's constant */
template <int DK>
__device__ __forceinline__ void mstep(float dl, float u, float dlu, float ac, float lam, float rlam, float &e, float &bu) {
  if (DK == kBil) {
    const float r = rcpa(fmaf(dl, ac, 1.f));
    e = fmaf(2.f, r, -1.f);
    bu = dlu * r;
  } else {
    e = ex2(dl * ac);
    bu = DK == kZoh ? mzoh(dl, lam, rlam, e) * u : dlu;
  }
}

struct MGeom {
  int tpc, cb;          /* lanes per channel, channels per block */
  int64_t Gt, Dg, ntile; /* channel groups, channels per group, blocks per (b, group) */
  bool vec;             /* 16-byte copies (L % 4 == 0 and 16-byte aligned rows) */
  bool cvec;            /* 16-byte checkpoint stores (forward) and loads (backward): ckpt 16-byte aligned */
  int nr;               /* staged real rows per channel */
  size_t rbuf, bbuf, smem; /* bytes: real rows of one buffer, B/C rows of one buffer, all */
  size_t sub, red, ck;  /* backward: sub-segment states, per-warp dB/dC sums, staged checkpoints */
  size_t keep;          /* with resets: the stage's row of 1 - reset[b, t] (the last bytes) */
};

bool al16p(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* bwd: the backward's geometry (g: its output pointers, checked for 16-byte alignment) */
MGeom mgeom(const lr_scan_in *a, const lr_scan_grads *g = NULL) {
  MGeom q = {};
  q.tpc = (int)(a->N / kNS);
  q.cb = kMT / (q.tpc ? q.tpc : 1);
  q.Gt = (a->varB || a->varC) ? a->G : 1;
  q.Dg = a->D / q.Gt;
  q.ntile = q.cb ? (q.Dg + q.cb - 1) / q.cb : 0; /* cb = 0 (N > 512): not taken */
  q.vec = a->L % 4 == 0 && al16p(a->u) && al16p(a->delta) && (!a->z || al16p(a->z)) &&
          (!a->deltaA || al16p(a->deltaA)) && (!a->varB || al16p(a->Bm)) && (!a->varC || al16p(a->Cm));
  const int nbc = (a->varB ? 1 : 0) + (a->varC ? 1 : 0);
  q.nr = (a->z ? 3 : 2) + (g ? 1 : 0) + (a->deltaA ? 1 : 0); /* u, Δ, [dy (backward)], [z], [Δ_A] */
  const int rs = g ? kBRS : kRS;
  q.rbuf = (size_t)q.nr * q.cb * rs * sizeof(float);
  q.bbuf = (size_t)nbc * bcn((int)a->N, rs) * sizeof(float);
  if (!g) {
    q.smem = 2 * (q.rbuf + q.bbuf) + (size_t)kMT * kRS * sizeof(float); /* + every lane's partial y */
    q.keep = a->reset ? (size_t)kRS * sizeof(float) : 0;
    q.smem += q.keep;
  } else {
    q.vec = q.vec && al16p(g->gy) && al16p(g->du) && al16p(g->ddelta) && (!a->z || al16p(g->dz)) &&
            (!a->deltaA || al16p(g->ddeltaA)) && (!a->varB || al16p(g->dB)) && (!a->varC || al16p(g->dC));
    q.sub = (size_t)(kBS / kSS) * kNS * kMT * sizeof(float);
    /* + part; two of each, by piece parity */
    q.red = 2 * ((size_t)nbc * (kMT / 32) * kSS * a->N + (size_t)kSS * (q.cb * 4 + kPP)) * sizeof(float);
    q.ck = 2 * (size_t)kMT * kNS * sizeof(float); /* the segment's checkpoint, a stage ahead */
    q.keep = a->reset ? (size_t)kBRS * sizeof(float) : 0;
    q.smem = 2 * (q.rbuf + q.bbuf) + q.sub + q.red + q.ck + q.keep;
  }
  return q;
}

/* Where a block stands: (b, group, tile of CB channels), its first channel d0, its live channel
 * count ncb, the row (b, d0) of the (B, D, L) arrays; a thread's channel c (clamped to d0 when
 * idle: c >= ncb) is d. */
struct MPos {
  int64_t b, g, bg, tile, d0, d, row0;
  int ncb;
  bool live;
};
template <int TPC> __device__ __forceinline__ MPos mpos(const lr_scan_in &a, const MGeom &q, int c) {
  constexpr int CB = kMT / TPC;
  MPos p;
  p.tile = blockIdx.x % q.ntile, p.bg = blockIdx.x / q.ntile, p.g = p.bg % q.Gt, p.b = p.bg / q.Gt;
  p.d0 = p.g * q.Dg + p.tile * CB;
  p.ncb = (int)(q.Dg - p.tile * CB < CB ? q.Dg - p.tile * CB : CB);
  p.live = c < p.ncb;
  p.d = p.d0 + (p.live ? c : 0);
  p.row0 = (p.b * a.D + p.d0) * a.L;
  return p;
}

/* sequence b's length, lengths[b] clamped to [0, L] (L without lengths) */
__device__ __forceinline__ int64_t mlen(const lr_scan_in &a, int64_t b) {
  return a.lengths ? (a.lengths[b] < 0 ? 0 : a.lengths[b] > a.L ? a.L : a.lengths[b]) : a.L;
}

/* Which lanes hold a channel. An H200 serves a warp's 16-byte shared-memory load in 2 wavefronts
 * when each quad of lanes (4i .. 4i + 3) reads one address, in 4 otherwise (measured). The staged
 * B/C rows are read per state group j, the u and Δ rows per channel. With variable B or C (RM) a
 * channel's lanes are j·CPW + cw (the state group in the high lane bits): the B/C loads come
 * quad-uniform, the u and Δ loads do not, and the forward's shared-memory wavefronts fall by a
 * quarter (81% -> 64% of peak at B 8, D 2048, L 4096, N 16 on an H200; the time there moved within
 * its noise, 0.544-0.550 -> 0.539-0.548 ms, and at N 32 0.973 -> 0.913 ms). Not at N 8 (no gain
 * measured), nor with fixed B and C (no B/C loads): there a channel keeps TPC consecutive lanes. */
template <int TPC, bool RM> struct MLanes {
  static constexpr int CPW = 32 / TPC; /* channels per warp */
  __device__ static int chan(int tid) { return RM ? (tid >> 5) * CPW + (tid & 31) % CPW : tid / TPC; }
  __device__ static int grp(int tid) { return RM ? (tid & 31) / CPW : tid % TPC; }
  __device__ static int thread(int c, int j) { return RM ? (c / CPW) * 32 + j * CPW + c % CPW : c * TPC + j; }
};

/* ================= forward ================= */
template <int NS, int TPC, bool VB, bool VC, int DK, bool RS>
__global__ void __launch_bounds__(kMT, TPC == 2 ? 3 : 4) mamba_fwd_k(lr_scan_in a, MGeom q, float *__restrict__ y, float *hL,
                                                  float *__restrict__ ckpt) {
  constexpr int CB = kMT / TPC, N = TPC * NS;
  extern __shared__ __align__(16) unsigned char smem[];
  typedef MLanes<TPC, (VB || VC) && TPC >= 4> LN;
  const int tid = threadIdx.x, c = LN::chan(tid), j = LN::grp(tid);
  const int64_t L = a.L, D = a.D, G = a.G;
  const MPos P = mpos<TPC>(a, q, c);
  const int64_t b = P.b, g = P.g, d0 = P.d0, d = P.d, row0 = P.row0;
  const int ncb = P.ncb;
  const bool live = P.live;
  const int64_t C = a.chunk, nch = (L + C - 1) / C;
  /* C dividing the stage is a power of two: its checkpoints by mask and shift */
  const int cmask = (int)C - 1, cshift = __ffs((int)C) - 1, cps = kMS % C == 0 ? kMS / (int)C : 0;
  constexpr bool DA = DK == kMamA;
  const int nr = (a.z ? 3 : 2) + (DA ? 1 : 0), ra = a.z ? 3 : 2; /* rows u, Δ, [z], [Δ_A] (row ra) */
  const int64_t Le = mlen(a, b); /* from Le on the state stays and y is 0 */
  const float *bsrc = VB ? (const float *)a.Bm + (b * G + g) * N * L : NULL;
  const float *csrc = VC ? (const float *)a.Cm + (b * G + g) * N * L : NULL;
  float *sy = (float *)(smem + 2 * (q.rbuf + q.bbuf));
  float *skeep = (float *)(smem + q.smem - q.keep); /* RS: 1 - reset[b, t0 + i] */
  const uint8_t *rsb = RS ? a.reset + b * L : NULL;

  float h[NS], a2[NS], Bf[NS], Cf[NS], lam[NS], rlam[NS]; /* zoh: λ and 1 / λ */
#pragma unroll
  for (int k = 0; k < NS; k++) {
    const int64_t n = (int64_t)j * NS + k;
    lam[k] = ((const float *)a.A)[d * N + n];
    rlam[k] = 1.f / lam[k];
    a2[k] = mexp(DK) ? lam[k] * 1.4426950408889634f : -0.5f * lam[k];
    h[k] = a.h0 ? ((const float *)a.h0)[(b * D + d) * N + n] : 0.f;
    Bf[k] = VB ? 0.f : ((const float *)a.Bm)[d * N + n];
    Cf[k] = VC ? 0.f : ((const float *)a.Cm)[d * N + n];
  }

  auto rows = [&](int buf) { return (float *)(smem + buf * (q.rbuf + q.bbuf)); };
  auto bcrows = [&](int buf) { return (float *)(smem + buf * (q.rbuf + q.bbuf) + q.rbuf); };
  /* The block's rows in chunks of 4 steps: thread tid owns chunks tid + 128 m (m < EPT) of every
   * row, channel cc = chunk / 8, steps 4 (chunk % 8) + [0, 4). */
  constexpr int EPT = CB * (kMS / 4) / kMT > 0 ? CB * (kMS / 4) / kMT : 1;
  int ecc[EPT], eq[EPT];
  int ego[EPT]; /* the chunk's offset from the block's first row, less t0 (CB L < 2^31: takes) */
  float ebias[EPT], eD[EPT];
#pragma unroll
  for (int m = 0; m < EPT; m++) {
    const int e = tid + m * kMT;
    ecc[m] = e < CB * (kMS / 4) ? e / (kMS / 4) : CB;
    eq[m] = (e % (kMS / 4)) * 4;
    ego[m] = ecc[m] * (int)L + eq[m];
    const bool ok = ecc[m] < ncb;
    ebias[m] = (ok && a.dbias) ? ((const float *)a.dbias)[d0 + ecc[m]] : 0.f;
    eD[m] = (ok && a.Dv) ? ((const float *)a.Dv)[d0 + ecc[m]] : 0.f;
  }
  const float *src[4] = {(const float *)a.u, (const float *)a.delta, (const float *)(a.z ? a.z : a.deltaA),
                         (const float *)a.deltaA};
  /* the B/C rows' 16-byte chunks: thread tid takes chunks tid + 128 m (state fbn, steps fbq + [0, 4)) */
  constexpr int NBC = (VB ? 1 : 0) + (VC ? 1 : 0), BCF = (N * (kMS / 4) + kMT - 1) / kMT;
  int fbn[BCF], fbq[BCF];
#pragma unroll
  for (int m = 0; m < BCF; m++) {
    const int e = tid + m * kMT;
    fbn[m] = e < N * (kMS / 4) ? e / (kMS / 4) : N;
    fbq[m] = (e % (kMS / 4)) * 4;
  }
  /* every chunk of the rows (EXR) and of the B/C rows (EXB) belongs to some thread's m < EPT, BCF */
  constexpr bool EXR = CB * (kMS / 4) % kMT == 0, EXB = N * (kMS / 4) % kMT == 0;
  auto issue = [&](auto full, int buf, int64_t t0, int nv) {
    constexpr bool FU = decltype(full)::value;
    float *sr = rows(buf), *sb = bcrows(buf);
    if (FU || q.vec) {
#pragma unroll
      for (int m = 0; m < EPT; m++) {
        if (!(FU && EXR) && (ecc[m] >= ncb || eq[m] >= nv)) continue;
        const int so = ecc[m] * kRS + eq[m];
#pragma unroll
        for (int r = 0; r < 4; r++)
          if (r < nr) __pipeline_memcpy_async(sr + r * CB * kRS + so, src[r] + (row0 + t0) + ego[m], 16);
      }
#pragma unroll
      for (int r = 0; r < NBC; r++) {
        const float *s = (VB && r == 0) ? bsrc : csrc;
#pragma unroll
        for (int m = 0; m < BCF; m++)
          if ((FU && EXB) || (fbn[m] < N && fbq[m] < nv))
            __pipeline_memcpy_async(sb + bco(N, r, fbn[m]) + fbq[m], s + (int64_t)fbn[m] * L + fbq[m] + t0, 16);
      }
    } else {
      for (int r = 0; r < nr; r++)
        for (int e = tid; e < CB * kMS; e += kMT) {
          const int cc = e / kMS, tt = e % kMS;
          if (cc < ncb && tt < nv)
            __pipeline_memcpy_async(sr + (r * CB + cc) * kRS + tt, src[r] + row0 + cc * L + t0 + tt, 4);
        }
      for (int r = 0; r < NBC; r++) {
        const float *s = (VB && r == 0) ? bsrc : csrc;
        for (int e = tid; e < N * kMS; e += kMT) {
          const int n = e / kMS, tt = e % kMS;
          if (tt < nv) __pipeline_memcpy_async(sb + bco(N, r, n) + tt, s + n * L + t0 + tt, 4);
        }
      }
    }
    __pipeline_commit();
  };
  /* Δ's bias and softplus once per element; past the stage's end Δ = u = 0 (and Δ_A: Ā = 1, nothing
   * added); with resets the stage's keep row (one buffer: the barrier after the last stage's steps
   * orders it) */
  auto prepare = [&](auto full, int buf, int64_t t0, int nv) {
    constexpr bool FU = decltype(full)::value;
    float *su = rows(buf), *sd = su + CB * kRS, *sa = su + ra * CB * kRS;
    if (RS && tid < kMS) skeep[tid] = (tid < nv && rsb[t0 + tid]) ? 0.f : 1.f;
#pragma unroll
    for (int m = 0; m < EPT; m++) {
      if (!(FU && EXR) && ecc[m] >= ncb) continue;
      const int so = ecc[m] * kRS + eq[m];
      float4 d4 = *(float4 *)(sd + so);
      float dv[4] = {d4.x, d4.y, d4.z, d4.w};
      if (a.softplus) {
#pragma unroll
        for (int p = 0; p < 4; p++) dv[p] = msoftplus(dv[p] + ebias[m]);
      } else {
#pragma unroll
        for (int p = 0; p < 4; p++) dv[p] += ebias[m];
      }
      if (!FU && nv < kMS) /* the last stage */
#pragma unroll
        for (int p = 0; p < 4; p++)
          if (eq[m] + p >= nv) {
            dv[p] = su[so + p] = 0.f;
            if (DA) sa[so + p] = 0.f;
          }
      *(float4 *)(sd + so) = make_float4(dv[0], dv[1], dv[2], dv[3]);
    }
    if (!FU && nv < kMS) {
      float *sb = bcrows(buf);
      for (int e = tid; e < NBC * N * kMS; e += kMT)
        if (e % kMS >= nv) sb[bco(N, e / kMS / N, e / kMS % N) + e % kMS] = 0.f;
    }
  };
  /* out = (y + D u) · silu(z) of a finished stage (silu by the hardware exp2 and reciprocal) */
  auto flush = [&](auto full, int buf, int64_t t0, int nv) {
    constexpr bool FU = decltype(full)::value;
    const float *su = rows(buf), *sz = a.z ? su + 2 * CB * kRS : NULL;
#pragma unroll
    for (int m = 0; m < EPT; m++) {
      if (!(FU && EXR) && (ecc[m] >= ncb || eq[m] >= nv)) continue;
      const int so = ecc[m] * kRS + eq[m];
      const float4 u4 = *(const float4 *)(su + so);
      float4 y4 = *(const float4 *)(sy + LN::thread(ecc[m], 0) * kRS + eq[m]);
#pragma unroll
      for (int jj = 1; jj < TPC; jj++) { /* the channel's lanes in order */
        const float4 v = *(const float4 *)(sy + LN::thread(ecc[m], jj) * kRS + eq[m]);
        y4.x += v.x, y4.y += v.y, y4.z += v.z, y4.w += v.w;
      }
      float o[4] = {y4.x + eD[m] * u4.x, y4.y + eD[m] * u4.y, y4.z + eD[m] * u4.z, y4.w + eD[m] * u4.w};
      if (sz) {
        const float4 z4 = *(const float4 *)(sz + so);
        const float zv[4] = {z4.x, z4.y, z4.z, z4.w};
#pragma unroll
        for (int p = 0; p < 4; p++) o[p] *= msilu(zv[p]);
      }
      if (!FU && eq[m] + 4 > nv) /* a length not a multiple of 4: past it y is 0 */
#pragma unroll
        for (int p = 0; p < 4; p++)
          if (eq[m] + p >= nv) o[p] = 0.f;
      float *yo = y + (row0 + t0) + ego[m];
      if (FU || q.vec) {
        *(float4 *)yo = make_float4(o[0], o[1], o[2], o[3]);
      } else {
        for (int p = 0; p < 4; p++)
          if (eq[m] + p < nv) yo[p] = o[p];
      }
    }
  };

  /* the thread's checkpoints (none when idle) */
  float *const ck0 = (ckpt && live) ? ckpt + (b * D + d) * nch * N + j * NS : NULL;
  const int64_t nst = (Le + kMS - 1) / kMS;
  /* the per-stage work of a full stage without its bounds tests, of any other with them */
  const bool fblk = ncb == CB && q.vec;
  auto stage = [&](auto fn, int buf, int64_t t0, int nv) {
    if (fblk && nv == kMS) fn(MFull<true>(), buf, t0, nv);
    else fn(MFull<false>(), buf, t0, nv);
  };
  if (nst > 0) stage(issue, 0, 0, (int)(Le < kMS ? Le : kMS));
  for (int64_t s = 0; s < nst; s++) {
    const int buf = (int)(s & 1);
    const int64_t t0 = s * kMS;
    const int nv = (int)(Le - t0 < kMS ? Le - t0 : kMS);
    __pipeline_wait_prior(0);
    __syncthreads();
    if (s > 0) stage(flush, buf ^ 1, t0 - kMS, kMS);
    stage(prepare, buf, t0, nv);
    __syncthreads();
    if (s + 1 < nst) stage(issue, buf ^ 1, t0 + kMS, (int)(Le - t0 - kMS < kMS ? Le - t0 - kMS : kMS));
    const float *su = rows(buf) + c * kRS, *sd = rows(buf) + (CB + c) * kRS, *sa = rows(buf) + (ra * CB + c) * kRS;
    const float *sB = bcrows(buf) + bco(N, 0, j * NS), *sC = bcrows(buf) + bco(N, VB ? 1 : 0, j * NS);
    /* 4 steps of the thread's states; the lane's partial y goes to its own row of sy */
    /* Δ and u of the next 4 steps, loaded a group ahead: the group's exps wait on nothing (the last group
     * reads the row's padding) */
    float4 dnx = *(const float4 *)sd, unx = *(const float4 *)su, anx = DA ? *(const float4 *)sa : float4();
    auto group = [&](int i) {
      const float4 d4 = dnx, u4 = unx, a4 = anx;
      dnx = *(const float4 *)(sd + i + 4);
      unx = *(const float4 *)(su + i + 4);
      if (DA) anx = *(const float4 *)(sa + i + 4);
      /* dl: the Δ of Ā (Δ_A with kMamA), u and Δ u (dlu) give B̄ u */
      const float dl[4] = {DA ? a4.x : d4.x, DA ? a4.y : d4.y, DA ? a4.z : d4.z, DA ? a4.w : d4.w},
                  u[4] = {u4.x, u4.y, u4.z, u4.w};
      float dlu[4];
      mbu4<DK>(d4, u4, dlu);
      float yp[4] = {0.f, 0.f, 0.f, 0.f};
      const float4 kp4 = RS ? *(const float4 *)(skeep + i) : float4(); /* a reset: Ā h_{t-1} -> 0 */
      const float kp[4] = {kp4.x, kp4.y, kp4.z, kp4.w};
#pragma unroll
      for (int k = 0; k < NS; k++) {
        float bk[4], ck[4];
        if (VB) {
          const float4 v = *(const float4 *)(sB + k * kRS + i);
          bk[0] = v.x, bk[1] = v.y, bk[2] = v.z, bk[3] = v.w;
        } else {
          bk[0] = bk[1] = bk[2] = bk[3] = Bf[k];
        }
        if (VC) {
          const float4 v = *(const float4 *)(sC + k * kRS + i);
          ck[0] = v.x, ck[1] = v.y, ck[2] = v.z, ck[3] = v.w;
        } else {
          ck[0] = ck[1] = ck[2] = ck[3] = Cf[k];
        }
#pragma unroll
        for (int p = 0; p < 4; p++) {
          float e, bu;
          mstep<DK>(dl[p], u[p], dlu[p], a2[k], lam[k], rlam[k], e, bu);
          if (RS) e *= kp[p];
          h[k] = e * h[k] + bu * bk[p];
          yp[p] += ck[p] * h[k];
        }
      }
      *(float4 *)(sy + tid * kRS + i) = make_float4(yp[0], yp[1], yp[2], yp[3]);
    };
    auto save = [&](int64_t ci) { /* the state entering chunk ci */
      if (ck0) {
        float *o = ck0 + ci * N;
        if ((NS & 3) == 0 && q.cvec) {
#pragma unroll
          for (int k = 0; k < NS; k += 4) *(float4 *)(o + k) = make_float4(h[k], h[k + 1], h[k + 2], h[k + 3]);
        } else {
#pragma unroll
          for (int k = 0; k < NS; k++) o[k] = h[k];
        }
      }
    };
    if (C % kMS == 0) { /* at most one checkpoint per stage, at its start */
      if (t0 % C == 0) save(t0 / C);
#pragma unroll 2
      for (int i = 0; i < nv; i += 4) group(i);
    } else if (C == 16 && nv == kMS) { /* the Mamba backward's spacing: a checkpoint per 16 steps */
#pragma unroll 1
      for (int i0 = 0; i0 < kMS; i0 += 16) {
        save(s * (kMS / 16) + i0 / 16);
#pragma unroll 2
        for (int i = i0; i < i0 + 16; i += 4) group(i);
      }
    } else if (kMS % C == 0 && nv == kMS) { /* C = 4, 8 (a multiple of 4 dividing the stage): at i ≡ 0 mod C */
#pragma unroll 2
      for (int i = 0; i < kMS; i += 4) {
        if ((i & cmask) == 0) save(s * cps + (i >> cshift));
        group(i);
      }
    } else if (kMS % C == 0) { /* the last stage, part full */
      for (int i = 0; i < nv; i += 4) {
        if ((i & cmask) == 0) save(s * cps + (i >> cshift));
        group(i);
      }
    } else {
      for (int i = 0; i < nv; i += 4) {
        if ((t0 + i) % C == 0) save((t0 + i) / C);
        group(i);
      }
    }
  }
  if (nst > 0) {
    __syncthreads();
    stage(flush, (int)((nst - 1) & 1), (nst - 1) * kMS, (int)(Le - (nst - 1) * kMS));
  }
  if (Le < L) { /* past the length: y = 0, the checkpoints hold the final state */
    const int nt = (int)(L - Le); /* 32-bit: a 64-bit division is a call */
    for (int e = tid; e < ncb * nt; e += kMT) y[row0 + (int64_t)(e / nt) * L + Le + e % nt] = 0.f;
    if (ck0)
      for (int64_t ci = (Le + C - 1) / C; ci < nch; ci++)
#pragma unroll
        for (int k = 0; k < NS; k++) ck0[ci * N + k] = h[k];
  }
  if (live && hL) {
#pragma unroll
    for (int k = 0; k < NS; k++) hL[(b * D + d) * N + j * NS + k] = h[k];
  }
}

/* ================= backward =================
 * Segments of `chunk` (<= 16, a multiple of 4) steps, from the last: one stage of u, Δ, dy, z, the
 * B/C rows and the segment's checkpoint per segment, prefetched (cp.async) while the one after it
 * runs (the checkpoint's own global load at the segment's start was 9% of the stall samples). When
 * it arrives:
 * Δ -> Δ' = softplus(Δ + bias), dy -> c = dy·silu(z) (the gradient of y before the gate),
 * z -> dy·silu'(z). Pass A walks the segment from its checkpoint and keeps the state entering every
 * 4th step in shared memory; pass B takes the 4-step sub-segments in reverse, recomputes their
 * states and Ā in registers and runs the adjoint
 *   G_t = C_t c_t + E_{t+1},  E_t = Ā_t G_t   (E is dL/dh_{t-1}; E starts at dhL, ends as dh0)
 * with, per state, s1 += G B, s2 += E h_{t-1} λ, dλ += E h_{t-1} Δ, dB_t = G Δ u, dC_t = c h_t.
 * The channel's lanes sum (s1, s2, C h) per step, by a reduce-scatter that leaves them with its
 * lanes 0, 1 and 2, which keep them in shared memory (a xor butterfly and a 16-byte store from the
 * first lane took 3.4% longer at B 8, D 2048, L 4096, N 16 on an H200; a row per lane measured
 * slower still: the larger buffer costs a block per SM); after each sub-segment (one barrier; its
 * per-step sums alternate between two buffers by piece parity, so the next piece needs no second
 * barrier) every thread takes fixed (channel, step) elements and writes
 *   du = Δ Σs1 + D c,  dΔ = (u Σs1 + Σs2) σ(Δ + bias),  dz = (Σ C h + D u) dy silu'(z)
 * (dirac, B̄ = 1: du = Σs1 + D c, dΔ = Σs2 σ, dB_t = G u; zoh and bilinear, whose B̄ depends on
 * the state, put B̄'s terms into the per-state sums: zoh s1 += G B B̄, s2 += E (λ h_{t-1} + B u),
 * dλ += E h_{t-1} Δ + G B u ∂B̄/∂λ, du = Σs1 + D c; bilinear s1 += G r B, s2 += G r² (λ h_{t-1} + B u),
 * dλ += G r² Δ (h_{t-1} + B u Δ/2), du = Δ Σs1 + D c; both dΔ = Σs2 σ, dB_t = G B̄ u. Zoh's two
 * series spill 12-224 bytes; built for 3 blocks an SM instead (168 registers, no spills) it was
 * slower on an H200: B 8, D 2048, L 4096, N 16 variable B/C 4.16 against 4.05 ms, fixed 3.05 / 2.88)
 * in place of u, Δ' and z (σ = 1 - e^-Δ' by m1mexp, the softplus derivative from Δ' itself); dD
 * and dΔbias add up per element thread and over its 4 lanes in order at the end. Pass B loads u, Δ',
 * c and the B/C rows by 16-byte loads. Variable dB/dC: summed over the
 * warp's channels by select-free halving exchanges (ChRed), then over the block's 4 warps in order
 * into the consumed B/C slots, and out as a per-block partial (B, G, nblocks, N, L) that sum_mid
 * adds up in block order (straight into dB/dC when one block covers a group). du, dΔ, dz and the
 * partials go out by 16 bytes after the segment. Each thread's 16-byte chunks of the staged rows
 * keep their place from stage to stage, so their offsets are worked out once (per-stage address
 * arithmetic with a runtime divisor was a quarter of the instructions). 16-step segments and
 * 4-step pieces keep a block within 128 registers and 46 KB of shared memory, so that 4 blocks fit
 * an SM (3 with 32-step segments: B 8, D 2048 then took 1.3 waves; 2.77 -> 2.29 ms on an H200); the
 * forward keeps a checkpoint every 16 steps for it. No atomics: bitwise reproducible. */

/* The backward's staged rows in the order 0, 4, 1, 5, 2, 6, 3, 7 within each 8 (CB and N are
 * multiples of 8): see its chunk offsets */
__device__ __forceinline__ int mrow(int x) { return (x & ~7) | ((x >> 1) & 3) | ((x & 1) << 2); }

/* Sums over the warp's channels (the lane bits TPC..16) of a value per state, without selects: a
 * lane keeps its states in the order k ^ X (X from its high lane bits, below), so every halving
 * exchange keeps registers [0, n) and sends [n, 2n) on all lanes. At the end register v < V holds
 * the sum for state X + v (X's bits are all >= V); lanes differing only in `dup` hold copies. */
template <int NS, int TPC> struct ChRed {
  static constexpr int nbits = TPC == 1 ? 5 : TPC == 2 ? 4 : TPC == 4 ? 3 : TPC == 8 ? 2 : 1;
  static constexpr int halv = nbits < (NS == 8 ? 3 : 2) ? nbits : (NS == 8 ? 3 : 2); /* halving rounds */
  static constexpr int V = NS >> halv;
  static constexpr int dup = ((32 >> halv) - 1) & ~(TPC - 1);
  __device__ static int perm(int lane) {
    int X = 0;
#pragma unroll
    for (int r = 0; r < halv; r++)
      if (lane & (16 >> r)) X += NS >> (r + 1);
    return X;
  }
  __device__ static void run(float (&v)[NS]) {
    int m = 16, n = NS;
#pragma unroll
    for (int r = 0; r < nbits; r++, m >>= 1) {
      if (r < halv) {
        n >>= 1;
#pragma unroll
        for (int k = 0; k < NS / 2; k++)
          if (k < n) v[k] += shxor(v[k + n], m);
      } else {
#pragma unroll
        for (int k = 0; k < NS; k++)
          if (k < n) v[k] += shxor(v[k], m);
      }
    }
  }
};

template <int NS, int TPC, bool VB, bool VC, int DK, bool RS>
__global__ void __launch_bounds__(kMT, 4) mamba_bwd_k(lr_scan_in a, lr_scan_grads gr, MGeom q,
                                                  const float *__restrict__ ckpt, float *pB, float *pC) {
  constexpr int CB = kMT / TPC, N = TPC * NS, NBC = (VB ? 1 : 0) + (VC ? 1 : 0);
  typedef ChRed<NS, TPC> RD;
  extern __shared__ __align__(16) unsigned char smem[];
  const int tid = threadIdx.x, c = tid / TPC, j = tid % TPC, lane = tid & 31, warp = tid >> 5;
  const int64_t L = a.L, D = a.D, G = a.G;
  const MPos P = mpos<TPC>(a, q, c);
  const int64_t b = P.b, g = P.g, bg = P.bg, tile = P.tile, d0 = P.d0, d = P.d, row0 = P.row0;
  const int ncb = P.ncb;
  const bool live = P.live;
  const int64_t S = a.chunk, nch = (L + S - 1) / S;
  const bool hz = a.z != NULL;
  constexpr bool DA = DK == kMamA;
  const int ra = hz ? 4 : 3; /* Δ_A's row (-> dΔ_A) */
  const int Le = (int)mlen(a, b); /* L <= 2^24: takes */
  float *sub = (float *)(smem + 2 * (q.rbuf + q.bbuf));
  float *red = (float *)(smem + 2 * (q.rbuf + q.bbuf) + q.sub);
  float *cks = (float *)(smem + 2 * (q.rbuf + q.bbuf) + q.sub + q.red); /* [buf][thread][NS] */
  float *skeep = (float *)(smem + q.smem - q.keep); /* RS: 1 - reset[b, t0 + i] */
  const uint8_t *rsb = RS ? a.reset + b * L : NULL;
  /* the thread's checkpoints: the block's base and a 32-bit offset (L <= 2^24: takes) */
  const int ckoff = (live ? c : 0) * (int)nch * N + j * NS;
  const float *const ckb = ckpt + (b * D + d0) * nch * N + ckoff;
  /* staged rows: 0 u (-> du), 1 Δ (-> Δ' -> dΔ), 2 dy (-> c), 3 z (-> dy silu'(z) -> dz), ra Δ_A
   * (-> dΔ_A) */
  auto rows = [&](int buf) { return (float *)(smem + buf * (q.rbuf + q.bbuf)); };
  auto bcrows = [&](int buf) { return (float *)(smem + buf * (q.rbuf + q.bbuf) + q.rbuf); };

  /* register k holds state j·NS + (k ^ X) (ChRed) */
  const int X = RD::perm(lane);
  float lam[NS], a2[NS], Bf[NS], Cf[NS], E[NS], dlam[NS], dBf[NS], dCf[NS];
  int ks[NS]; /* the state of register k within the thread's NS */
#pragma unroll
  for (int k = 0; k < NS; k++) {
    ks[k] = k ^ X;
    const int64_t n = (int64_t)j * NS + ks[k];
    lam[k] = ((const float *)a.A)[d * N + n];
    a2[k] = mexp(DK) ? lam[k] * 1.4426950408889634f : -0.5f * lam[k];
    Bf[k] = VB ? 0.f : ((const float *)a.Bm)[d * N + n];
    Cf[k] = VC ? 0.f : ((const float *)a.Cm)[d * N + n];
    E[k] = (live && gr.ghL) ? ((const float *)gr.ghL)[(b * D + d) * N + n] : 0.f;
    dlam[k] = dBf[k] = dCf[k] = 0.f;
  }
  /* the epilogue's elements: thread tid takes (channel, step) = ((tid + 128 m) / 8, (tid + 128 m) % 8)
   * of each sub-segment */
  constexpr int EPB = CB * kSS / kMT > 0 ? CB * kSS / kMT : 1;
  float dDacc[EPB], dbacc[EPB], eDd[EPB];
  int ecc[EPB];
#pragma unroll
  for (int m = 0; m < EPB; m++) {
    const int e = tid + m * kMT;
    ecc[m] = e < CB * kSS ? e / kSS : CB;
    dDacc[m] = dbacc[m] = 0.f;
    eDd[m] = (ecc[m] < ncb && a.Dv) ? ((const float *)a.Dv)[d0 + ecc[m]] : 0.f;
  }
  /* per piece, by its parity (so that one barrier a piece keeps them apart): the warps' dB/dC sums
   * red, then part: (step, channel) -> (Σ s1, Σ s2, Σ C h) */
  constexpr int PS = CB * 4 + kPP; /* part's step stride */
  /* the lane's role in the reduce-scatter of the channel's sums (TPC >= 4), by j mod 4: 0 or 1 (jlo),
   * 1 (jq1), 0 (jq0) */
  const bool jlo = (j & 2) == 0, jq1 = (j & 3) == 1, jq0 = (j & 3) == 0;
  const size_t rbsz = (size_t)NBC * (kMT / 32) * kSS * N + (size_t)kSS * PS;
  /* the sub-segment's dB/dC sums this thread adds up over the warps: elements e = tid + 128 m of
   * (r, ii, n), r < NBC, ii < kSS, n < N; their offsets in red and in the B/C rows (less the
   * sub-segment's first step), packed 16 + 16 bits, worked out once (per piece they were the
   * division-heavy tenth of its instructions); -1 past the end */
  constexpr int RB = (NBC * kSS * N + kMT - 1) / kMT;
  int rbo[RB > 0 ? RB : 1];
#pragma unroll
  for (int m = 0; m < RB; m++) {
    const int e = tid + m * kMT, r = e / (kSS * N), ii = (e / N) % kSS, n = e % N;
    rbo[m] = e < NBC * kSS * N ? (r * (kMT / 32) * kSS * N + ii * N + n) | ((bco(N, r, n, kBRS) + ii) << 16) : -1;
  }
  float *const red0 = red;

  /* The stage's rows in 16-byte chunks: thread tid takes chunks tid + 128 m of the block's rows
   * (channel rcc, steps rq + [0, 4)) and of the B/C rows (state bn); their offsets in the (B, D, L)
   * and (B, G, N, L) arrays are fixed, so they are worked out once. A row is 4 chunks; each 8 lanes
   * take rows x and x + 4 of an 8-row group (mrow), whose chunks lie on 8 different bank quads at
   * the 20-float row stride (rows x and x + 1 shared one: twice the shared-memory wavefronts in the
   * copies, the prepare and the flush). */
  constexpr int RC = (CB * (kBS / 4) + kMT - 1) / kMT, BC = (N * (kBS / 4) + kMT - 1) / kMT;
  int rcc[RC], rq[RC], bn[BC], bq[BC];
  int rgo[RC], bgo[BC]; /* 32-bit offsets within the block's rows (CB L, N L <= 2^30) */
  float rbias[RC];
#pragma unroll
  for (int m = 0; m < RC; m++) {
    const int e = tid + m * kMT;
    rcc[m] = e < CB * (kBS / 4) ? mrow(e / (kBS / 4)) : CB;
    rq[m] = (e % (kBS / 4)) * 4;
    rgo[m] = rcc[m] * (int)L + rq[m];
    rbias[m] = (rcc[m] < ncb && a.dbias) ? ((const float *)a.dbias)[d0 + rcc[m]] : 0.f;
  }
#pragma unroll
  for (int m = 0; m < BC; m++) {
    const int e = tid + m * kMT;
    bn[m] = e < N * (kBS / 4) ? mrow(e / (kBS / 4)) : N;
    bq[m] = (e % (kBS / 4)) * 4;
    bgo[m] = bn[m] * (int)L + bq[m];
  }
  /* the block's rows (B, D, L), B/C rows and dB/dC partial rows: their bases, fixed per block, so
   * that per segment only 32-bit offsets move (64-bit address arithmetic was a third of the
   * segment's per-thread overhead) */
  auto at = [](const void *p, int64_t o) { return p ? (float *)p + o : (float *)NULL; };
  const float *const src[5] = {at(a.u, row0), at(a.delta, row0), at(gr.gy, row0), at(hz ? a.z : a.deltaA, row0),
                               at(a.deltaA, row0)};
  float *const outs[4] = {at(gr.du, row0), at(gr.ddelta, row0), at(hz ? gr.dz : NULL, row0), at(gr.ddeltaA, row0)};
  const float *const bcsrc[2] = {at(VB ? a.Bm : a.Cm, (b * G + g) * N * L), at(a.Cm, (b * G + g) * N * L)};
  float *const pout[2] = {at(VB ? pB : pC, (bg * q.ntile + tile) * N * L), at(pC, (bg * q.ntile + tile) * N * L)};
  /* every chunk of the rows (BXR) and of the B/C rows (BXB) belongs to some thread's m < RC, BC */
  constexpr bool BXR = CB * (kBS / 4) % kMT == 0, BXB = N * (kBS / 4) % kMT == 0;
  auto issue = [&](auto full, int buf, int seg, int nv) {
    constexpr bool FU = decltype(full)::value;
    const int t0 = seg * (int)S;
    float *sr = rows(buf), *sb = bcrows(buf);
    /* the checkpoint entering the segment: its global load was a long wait at the segment's start */
    float *ckd = cks + (buf * kMT + tid) * NS;
    const float *ckg = ckb + seg * N;
    if (q.cvec && (NS & 3) == 0) {
#pragma unroll
      for (int k = 0; k < NS; k += 4) __pipeline_memcpy_async(ckd + k, ckg + k, 16);
    } else {
#pragma unroll
      for (int k = 0; k < NS; k++) __pipeline_memcpy_async(ckd + k, ckg + k, 4);
    }
    if (FU || q.vec) {
#pragma unroll
      for (int m = 0; m < RC; m++) {
        if (!(FU && BXR) && (rcc[m] >= ncb || rq[m] >= nv)) continue;
#pragma unroll
        for (int r = 0; r < 5; r++)
          if (r < q.nr) __pipeline_memcpy_async(sr + (r * CB + rcc[m]) * kBRS + rq[m], src[r] + (rgo[m] + t0), 16);
      }
#pragma unroll
      for (int r = 0; r < NBC; r++)
#pragma unroll
        for (int m = 0; m < BC; m++)
          if ((FU && BXB) || (bn[m] < N && bq[m] < nv))
            __pipeline_memcpy_async(sb + bco(N, r, bn[m], kBRS) + bq[m], bcsrc[r] + (bgo[m] + t0), 16);
    } else { /* element by element (L % 4 != 0 or rows not 16-byte aligned) */
#pragma unroll
      for (int r = 0; r < 5; r++)
        for (int e = tid; e < CB * kBS && r < q.nr; e += kMT) {
          const int cc = e / kBS, tt = e % kBS;
          if (cc < ncb && tt < nv)
            __pipeline_memcpy_async(sr + (r * CB + cc) * kBRS + tt, src[r] + (cc * (int)L + t0 + tt), 4);
        }
#pragma unroll
      for (int r = 0; r < NBC; r++)
        for (int e = tid; e < N * kBS; e += kMT) {
          const int n = e / kBS, tt = e % kBS;
          if (tt < nv) __pipeline_memcpy_async(sb + bco(N, r, n, kBRS) + tt, bcsrc[r] + (n * (int)L + t0 + tt), 4);
        }
    }
    __pipeline_commit();
  };
  /* Δ -> Δ' = softplus(Δ + bias), dy -> c = dy silu(z), z -> dy silu'(z), by 16-byte chunks; past
   * the end and in missing channels every row is 0: a step that changes nothing */
  auto prepare = [&](auto full, int buf, int t0, int nv) {
    constexpr bool FU = decltype(full)::value;
    float *su = rows(buf), *sd = su + CB * kBRS, *sg = sd + CB * kBRS, *sz = hz ? sg + CB * kBRS : NULL;
    if (RS && tid < kBS) skeep[tid] = (tid < nv && rsb[t0 + tid]) ? 0.f : 1.f; /* one buffer, as the forward's */
    float *sa = su + ra * CB * kBRS;
#pragma unroll
    for (int m = 0; m < RC; m++) {
      if (!(FU && BXR) && rcc[m] >= CB) continue;
      const int sl = rcc[m] * kBRS + rq[m];
      float4 d4 = *(float4 *)(sd + sl), g4 = *(float4 *)(sg + sl), z4 = sz ? *(float4 *)(sz + sl) : float4();
      float dv[4] = {d4.x, d4.y, d4.z, d4.w}, gv[4] = {g4.x, g4.y, g4.z, g4.w}, zv[4] = {z4.x, z4.y, z4.z, z4.w};
      const bool live4 = FU || rcc[m] < ncb;
      bool ok[4];
#pragma unroll
      for (int p = 0; p < 4; p++) {
        ok[p] = FU || (live4 && rq[m] + p < nv);
        dv[p] += rbias[m];
      }
      /* the tests of softplus and z outside the loops over the 4 elements, so that their chains
       * interleave (tested per element, each element's softplus and silu ran as a branch of its
       * own, one chain at a time: 12.6% of the backward's stall samples, 10% of them issuing) */
      if (a.softplus)
#pragma unroll
        for (int p = 0; p < 4; p++) dv[p] = msoftplus(dv[p]);
      if (sz) {
#pragma unroll
        for (int p = 0; p < 4; p++) {
          const float zz = ok[p] ? zv[p] : 0.f, sgm = rcpa(1.f + ex2(zz * -1.4426950408889634f)), gy = ok[p] ? gv[p] : 0.f;
          gv[p] = gy * (zz * sgm);
          zv[p] = gy * (sgm * (1.f + zz * (1.f - sgm)));
        }
      }
#pragma unroll
      for (int p = 0; p < 4; p++) {
        dv[p] = ok[p] ? dv[p] : 0.f;
        if (!sz) gv[p] = ok[p] ? gv[p] : 0.f;
      }
      *(float4 *)(sd + sl) = make_float4(dv[0], dv[1], dv[2], dv[3]);
      *(float4 *)(sg + sl) = make_float4(gv[0], gv[1], gv[2], gv[3]);
      if (sz) *(float4 *)(sz + sl) = make_float4(zv[0], zv[1], zv[2], zv[3]);
      if (!FU && (!live4 || rq[m] + 4 > nv)) {
#pragma unroll
        for (int p = 0; p < 4; p++)
          if (!live4 || rq[m] + p >= nv) {
            su[sl + p] = 0.f;
            if (DA) sa[sl + p] = 0.f;
          }
      }
    }
    if (!FU && nv < kBS) {
      float *sb = bcrows(buf);
      for (int e = tid; e < NBC * N * kBS; e += kMT)
        if (e % kBS >= nv) sb[bco(N, e / kBS / N, e / kBS % N, kBRS) + e % kBS] = 0.f;
    }
  };
  /* du, dΔ, dz and the variable dB/dC partial of a finished segment */
  auto flush = [&](auto full, int buf, int t0, int nv) {
    constexpr bool FU = decltype(full)::value;
    const float *su = rows(buf), *sd = su + CB * kBRS, *sz = hz ? su + 3 * CB * kBRS : NULL;
    const float *ins[4] = {su, sd, sz, su + ra * CB * kBRS};
    const bool wr[4] = {true, true, hz, DA && gr.ddeltaA};
    const float *sb = bcrows(buf);
    if (FU || q.vec) {
#pragma unroll
      for (int m = 0; m < RC; m++) {
        if (!(FU && BXR) && (rcc[m] >= ncb || rq[m] >= nv)) continue;
#pragma unroll
        for (int r = 0; r < 4; r++)
          if (wr[r]) *(float4 *)(outs[r] + (rgo[m] + t0)) = *(const float4 *)(ins[r] + rcc[m] * kBRS + rq[m]);
      }
#pragma unroll
      for (int r = 0; r < NBC; r++)
#pragma unroll
        for (int m = 0; m < BC; m++)
          if ((FU && BXB) || (bn[m] < N && bq[m] < nv))
            *(float4 *)(pout[r] + (bgo[m] + t0)) = *(const float4 *)(sb + bco(N, r, bn[m], kBRS) + bq[m]);
    } else {
#pragma unroll
      for (int r = 0; r < 4; r++)
        for (int e = tid; e < CB * kBS && wr[r]; e += kMT) {
          const int cc = e / kBS, tt = e % kBS;
          if (cc < ncb && tt < nv) outs[r][cc * (int)L + t0 + tt] = ins[r][cc * kBRS + tt];
        }
#pragma unroll
      for (int r = 0; r < NBC; r++)
        for (int e = tid; e < N * kBS; e += kMT) {
          const int n = e / kBS, tt = e % kBS;
          if (tt < nv) pout[r][n * (int)L + t0 + tt] = sb[bco(N, r, n, kBRS) + tt];
        }
    }
  };

  const int Si = (int)S, nseg = (Le + Si - 1) / Si; /* 32-bit: L <= 2^24 */
  /* the per-segment work of a full segment without its bounds tests, of any other with them */
  const bool fblk = ncb == CB && q.vec;
  auto stage = [&](auto fn, int buf, int sg, int nv) {
    if (fblk && nv == kBS) fn(MFull<true>(), buf, sg, nv);
    else fn(MFull<false>(), buf, sg, nv);
  };
  if (nseg > 0) stage(issue, 0, nseg - 1, Le - (nseg - 1) * Si);
  for (int s = nseg - 1; s >= 0; s--) {
    const int buf = (nseg - 1 - s) & 1;
    const int t0 = s * Si;
    const int nv = Le - t0 < Si ? Le - t0 : Si;
    __pipeline_wait_prior(0);
    __syncthreads();
    if (s + 1 < nseg) stage(flush, buf ^ 1, t0 + Si, Le - t0 - Si < Si ? Le - t0 - Si : Si);
    stage(prepare, buf, t0, nv);
    __syncthreads();
    if (s > 0) stage(issue, buf ^ 1, s - 1, Si);
    float *su = rows(buf) + c * kBRS, *sd = rows(buf) + (CB + c) * kBRS, *sg = rows(buf) + (2 * CB + c) * kBRS;
    float *sz = hz ? rows(buf) + (3 * CB + c) * kBRS : NULL, *sa = DA ? rows(buf) + (ra * CB + c) * kBRS : NULL;
    float *sB = bcrows(buf) + bco(N, 0, j * NS, kBRS), *sC = bcrows(buf) + bco(N, VB ? 1 : 0, j * NS, kBRS);
    const int nsub = (nv + kSS - 1) / kSS;
    /* pass A: the states entering each sub-segment */
    {
      float hh[NS];
#pragma unroll
      for (int k = 0; k < NS; k++) hh[k] = cks[(buf * kMT + tid) * NS + ks[k]];
      for (int qs = 0; qs < nsub; qs++) {
#pragma unroll
        for (int k = 0; k < NS; k++) sub[(qs * NS + k) * kMT + tid] = hh[k];
        if (qs + 1 == nsub) break;
#pragma unroll
        for (int i4 = 0; i4 < kSS; i4 += 4) {
          const int i = qs * kSS + i4;
          const float4 d4 = *(const float4 *)(sd + i), u4 = *(const float4 *)(su + i);
          const float4 a4 = DA ? *(const float4 *)(sa + i) : d4; /* the Δ of Ā */
          const float dl[4] = {a4.x, a4.y, a4.z, a4.w}, u[4] = {u4.x, u4.y, u4.z, u4.w};
          float dlu[4];
          mbu4<DK>(d4, u4, dlu);
#pragma unroll
          for (int k = 0; k < NS; k++) {
            float bk[4];
            if (VB) {
              const float4 v = *(const float4 *)(sB + ks[k] * kBRS + i);
              bk[0] = v.x, bk[1] = v.y, bk[2] = v.z, bk[3] = v.w;
            } else {
              bk[0] = bk[1] = bk[2] = bk[3] = Bf[k];
            }
#pragma unroll
            for (int p = 0; p < 4; p++) {
              float e, bu;
              mstep<DK>(dl[p], u[p], dlu[p], a2[k], lam[k], rcpa(lam[k]), e, bu);
              if (RS) e *= skeep[i + p];
              hh[k] = e * hh[k] + bu * bk[p];
            }
          }
        }
      }
    }
    /* pass B: sub-segments in reverse */
    for (int qs = nsub - 1; qs >= 0; qs--) {
      const int i0 = qs * kSS;
      red = red0 + (qs & 1) * rbsz;
      float *const part = red + (size_t)NBC * (kMT / 32) * kSS * N;
      float hin[NS], hs[kSS][NS], av[kSS][NS];
      /* the sub-segment's 4 steps of u, Δ', c and the B/C rows of the thread's states by 16-byte loads */
      float uv[4], dv[4], dav[4], cv[4], Bv[4][NS], Cv[4][NS]; /* dav: the Δ of Ā (Δ_A with kMamA) */
      auto load4 = [&](int i, bool wc) {
        const float4 u4 = *(const float4 *)(su + i), d4 = *(const float4 *)(sd + i);
        const float4 a4 = DA ? *(const float4 *)(sa + i) : d4;
        uv[0] = u4.x, uv[1] = u4.y, uv[2] = u4.z, uv[3] = u4.w;
        dv[0] = d4.x, dv[1] = d4.y, dv[2] = d4.z, dv[3] = d4.w;
        dav[0] = a4.x, dav[1] = a4.y, dav[2] = a4.z, dav[3] = a4.w;
        if (wc) {
          const float4 c4 = *(const float4 *)(sg + i);
          cv[0] = c4.x, cv[1] = c4.y, cv[2] = c4.z, cv[3] = c4.w;
        }
#pragma unroll
        for (int k = 0; k < NS; k++) {
          if (VB) {
            const float4 v = *(const float4 *)(sB + ks[k] * kBRS + i);
            Bv[0][k] = v.x, Bv[1][k] = v.y, Bv[2][k] = v.z, Bv[3][k] = v.w;
          } else {
            Bv[0][k] = Bv[1][k] = Bv[2][k] = Bv[3][k] = Bf[k];
          }
          if (wc && VC) {
            const float4 v = *(const float4 *)(sC + ks[k] * kBRS + i);
            Cv[0][k] = v.x, Cv[1][k] = v.y, Cv[2][k] = v.z, Cv[3][k] = v.w;
          } else if (wc) {
            Cv[0][k] = Cv[1][k] = Cv[2][k] = Cv[3][k] = Cf[k];
          }
        }
      };
#pragma unroll
      for (int k = 0; k < NS; k++) hin[k] = sub[(qs * NS + k) * kMT + tid];
#pragma unroll
      for (int h4 = 0; h4 < kSS; h4 += 4) {
        load4(i0 + h4, false);
#pragma unroll
        for (int p = 0; p < 4; p++) {
          const int ii = h4 + p;
          const float dlu = DK == kDir ? uv[p] : dv[p] * uv[p];
          const float kp = RS ? skeep[i0 + ii] : 1.f; /* one at a time: 4 at once spilled */
#pragma unroll
          for (int k = 0; k < NS; k++) {
            float bu;
            mstep<DK>(dav[p], uv[p], dlu, a2[k], lam[k], rcpa(lam[k]), av[ii][k], bu);
            if (RS) av[ii][k] *= kp; /* a reset: Ā -> 0, so E and every Ā term vanish there */
            hs[ii][k] = av[ii][k] * (ii ? hs[ii - 1][k] : hin[k]) + bu * Bv[p][k];
          }
        }
      }
#pragma unroll
      for (int ii = kSS - 1; ii >= 0; ii--) {
        const int p = ii & 3;
        if (p == 3) load4(i0 + ii - 3, true);
        const float uu = uv[p], dl = dv[p], cf = cv[p], dlu = DK == kDir ? uu : dl * uu, hdl = 0.5f * dl, dla = dav[p];
        float s1 = 0.f, s2 = 0.f, yp = 0.f, vB[NS], vC[NS];
#pragma unroll
        for (int k = 0; k < NS; k++) {
          const float bk = Bv[p][k], ck = Cv[p][k], hp = ii ? hs[ii - 1][k] : hin[k];
          const float Gt = ck * cf + E[k];
          float gB; /* G B̄ u: dB_t, or its sum over time */
          if (DK == kZoh) { /* s1 = Σ G B B̄, s2 = Σ G (λ e h + e B u), dλ += G (Δ e h + B u ∂B̄/∂λ) */
            float bb, db;
            mzohd(dl, lam[k], rcpa(lam[k]), av[ii][k], bb, db);
            const float gb = Gt * bk;
            s1 += gb * bb;
            E[k] = av[ii][k] * Gt;
            const float eh = E[k] * hp;
            s2 = fmaf(E[k] * bk, uu, fmaf(eh, lam[k], s2));
            dlam[k] = fmaf(gb * uu, db, fmaf(eh, dl, dlam[k]));
            gB = Gt * bb * uu;
          } else if (DK == kBil) { /* s1 = Σ G r B (du = Δ Σs1), s2 = Σ G r² (λ h + B u),
                                    * dλ += G r² Δ (h + B u Δ/2) */
            const float r = fmaf(0.5f, av[ii][k], 0.5f), gr = Gt * r, w = gr * r, bu = bk * uu;
            s1 += gr * bk;
            E[k] = av[ii][k] * Gt;
            s2 = fmaf(w, fmaf(lam[k], hp, bu), s2);
            dlam[k] = fmaf(w * dl, fmaf(bu, hdl, hp), dlam[k]);
            gB = gr * dlu;
          } else { /* mamba and dirac: s1 = Σ G B, s2 = Σ E h λ, dλ += E h Δ (Δ_A with kMamA) */
            s1 += Gt * bk;
            E[k] = av[ii][k] * Gt;
            const float eh = E[k] * hp;
            s2 += eh * lam[k];
            dlam[k] += eh * dla;
            gB = Gt * dlu;
          }
          yp += ck * hs[ii][k];
          if (VB) vB[k] = gB;
          else dBf[k] += gB;
          if (VC) vC[k] = hs[ii][k] * cf;
          else dCf[k] += hs[ii][k] * cf;
        }
        if constexpr (TPC >= 4) {
          /* the channel's lane sums: whole rounds over lane bits 2.., then a reduce-scatter over
           * bits 0 and 1 that leaves s1, s2 and C h with lanes j = 0, 1, 2, which write them (3
           * shuffles and adds and 3 selects a step against 6 and 6, and one conflict-free store
           * instead of a 16-byte one from every fourth lane: 4 wavefronts) */
#pragma unroll
          for (int m = 4; m < TPC; m <<= 1) {
            s1 += shxor(s1, m);
            s2 += shxor(s2, m);
            yp += shxor(yp, m);
          }
          const float r1 = shxor(jlo ? yp : s1, 2), r2 = shxor(s2, 2); /* lanes 0, 1: s1 and s2; 2, 3: C h */
          const float va = (jlo ? s1 : yp) + r1, vb = s2 + r2;
          const float v = (jq1 ? vb : va) + shxor(jq0 ? vb : va, 1);
          if (j < 3) part[ii * PS + c * 4 + j] = v;
        } else {
#pragma unroll
          for (int m = 1; m < TPC; m <<= 1) {
            s1 += shxor(s1, m);
            s2 += shxor(s2, m);
            yp += shxor(yp, m);
          }
          if (j == 0) *(float4 *)(part + ii * PS + c * 4) = make_float4(s1, s2, yp, 0.f);
        }
        if (VB || VC) {
          float *rw = red + (size_t)(warp * kSS + ii) * N + j * NS + X;
          if (VB) {
            RD::run(vB);
            if ((lane & RD::dup) == 0)
#pragma unroll
              for (int v = 0; v < RD::V; v++) rw[v] = vB[v];
          }
          if (VC) {
            RD::run(vC);
            if ((lane & RD::dup) == 0)
#pragma unroll
              for (int v = 0; v < RD::V; v++) rw[(VB ? (kMT / 32) * kSS * N : 0) + v] = vC[v];
          }
        }
      }
      __syncthreads();
      if (VB || VC) {
        /* the sub-segment's dB/dC: the 4 warps in order, into the consumed B/C slots */
        float *sbc = bcrows(buf) + i0;
#pragma unroll
        for (int m = 0; m < RB; m++) {
          if (rbo[m] < 0) continue;
          const float *rr = red + (rbo[m] & 0xffff);
          float acc = rr[0];
#pragma unroll
          for (int w = 1; w < kMT / 32; w++) acc += rr[w * kSS * N];
          sbc[rbo[m] >> 16] = acc;
        }
      }
      /* the sub-segment's per-element gradients, in place of u, Δ' and z's slots:
       * du = Δ Σs1 + D c, dΔ = (u Σs1 + Σs2) σ, dz = (Σ C h + D u) dy silu'(z) */
#pragma unroll
      for (int m = 0; m < EPB; m++) {
        const int cc = ecc[m], ii = (tid + m * kMT) % kSS, i = i0 + ii;
        if (cc >= ncb || i >= nv) continue;
        const float4 pt = *(const float4 *)(part + ii * PS + cc * 4);
        float *ru = rows(buf) + cc * kBRS + i, *rd = ru + CB * kBRS, *rg = ru + 2 * CB * kBRS;
        const float uu = *ru, dl = *rd, cf = *rg;
        float du = (DK == kMam || DK == kBil || DA) ? dl * pt.x : pt.x;
        if (a.Dv) {
          dDacc[m] += cf * uu;
          du = cf * eDd[m] + du;
        }
        float g1 = DK == kMam ? uu * pt.x + pt.y : DA ? uu * pt.x : pt.y;
        if (a.softplus) g1 = g1 * m1mexp(dl); /* σ(Δ + bias) = 1 - e^-Δ' */
        dbacc[m] += g1;
        if (hz) ru[3 * CB * kBRS] = ru[3 * CB * kBRS] * (pt.z + eDd[m] * uu);
        if (DA) ru[ra * CB * kBRS] = pt.y; /* dΔ_A = Σ E h λ */
        *ru = du;
        *rd = g1;
      }
      /* no barrier: the next piece writes the other red and part and reads other steps' rows */
    }
  }
  if (nseg > 0) {
    __syncthreads();
    stage(flush, (nseg - 1) & 1, 0, Le < Si ? Le : Si);
  }
  if (live) {
    const int64_t od = (b * D + d) * N + j * NS;
#pragma unroll
    for (int k = 0; k < NS; k++) {
      ((float *)gr.dh0)[od + ks[k]] = E[k];
      ((float *)gr.dA_p)[od + ks[k]] = dlam[k];
      if (!VB) ((float *)gr.dB)[od + ks[k]] = dBf[k];
      if (!VC) ((float *)gr.dC)[od + ks[k]] = dCf[k];
    }
  }
  /* dD, dΔbias: the sums over time of each channel's kSS epilogue lanes, in lane order */
#pragma unroll
  for (int m = 0; m < EPB; m++) {
#pragma unroll
    for (int o = 1; o < kSS; o <<= 1) {
      dDacc[m] += shxor(dDacc[m], o);
      dbacc[m] += shxor(dbacc[m], o);
    }
    if (ecc[m] < ncb && (tid % kSS) == 0) {
      if (gr.dD_p) ((float *)gr.dD_p)[b * D + d0 + ecc[m]] = dDacc[m];
      if (gr.dbias_p) ((float *)gr.dbias_p)[b * D + d0 + ecc[m]] = dbacc[m];
    }
  }
}

template <int NS, int TPC, bool VB, bool VC, int DK, bool RS>
lr_status fwd_m(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  MGeom q = mgeom(a);
  q.vec = q.vec && al16p(y); /* the flush writes y by 16 bytes too */
  q.cvec = al16p(ckpt);
  auto k = mamba_fwd_k<NS, TPC, VB, VC, DK, RS>;
  LR_CUDA_TRY("lr_kcuda_scan_fwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)q.smem));
  k<<<(unsigned)(a->Bn * q.Gt * q.ntile), kMT, q.smem, s>>>(*a, q, (float *)y, (float *)hL, (float *)ckpt);
  return lr_cuda_check_launch("lr_kcuda_scan_fwd");
}

/* With lengths: x[r, t] = 0 for t >= lengths[r / rpb] of rows r < rows of length L (the backward's
 * gradients past a sequence's end, which its kernel leaves alone; there they spilled registers). */
__global__ void mtail_k(float *x, int64_t rows, int64_t rpb, int64_t L, const int64_t *len) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t lb = len[r / rpb] < 0 ? 0 : len[r / rpb];
    for (int64_t t = lb + threadIdx.x; t < L; t += blockDim.x) x[r * L + t] = 0.f;
  }
}

lr_status mtail(float *x, int64_t rows, int64_t rpb, const lr_scan_in *a, cudaStream_t s) {
  if (!x || rows == 0) return LR_OK;
  mtail_k<<<(unsigned)(rows < 65535 ? rows : 65535), 256, 0, s>>>(x, rows, rpb, a->L, a->lengths);
  return lr_cuda_check_launch("lr_kcuda_scan_bwd");
}

template <int NS, int TPC, bool VB, bool VC, int DK, bool RS>
lr_status bwd_m(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s) {
  MGeom q = mgeom(a, g);
  q.vec = q.vec && al16p(ws);
  q.cvec = al16p(ckpt);
  const size_t part = q.ntile > 1 ? (size_t)(a->Bn * q.Gt * q.ntile * a->N * a->L) : 0;
  float *pB = NULL, *pC = NULL, *p = (float *)ws;
  if (VB) pB = part ? p : (float *)g->dB, p += part;
  if (VC) pC = part ? p : (float *)g->dC;
  auto k = mamba_bwd_k<NS, TPC, VB, VC, DK, RS>;
  LR_CUDA_TRY("lr_kcuda_scan_bwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)q.smem));
  k<<<(unsigned)(a->Bn * q.Gt * q.ntile), kMT, q.smem, s>>>(*a, *g, q, (const float *)ckpt, pB, pC);
  LR_TRY(lr_cuda_check_launch("lr_kcuda_scan_bwd"));
  if (a->lengths) {
    float *rows[4] = {(float *)g->du, (float *)g->ddelta, a->z ? (float *)g->dz : NULL,
                      a->deltaA ? (float *)g->ddeltaA : NULL};
    for (int r = 0; r < 4; r++) LR_TRY(mtail(rows[r], a->Bn * a->D, a->D, a, s));
    const int64_t pr = q.Gt * q.ntile * a->N; /* rows of the dB/dC partials per sequence */
    if (VB) LR_TRY(mtail(pB, a->Bn * pr, pr, a, s));
    if (VC) LR_TRY(mtail(pC, a->Bn * pr, pr, a, s));
  }
  if (part) {
    if (VB) LR_TRY(launch_sum_mid<float>(pB, g->dB, a->Bn * q.Gt, q.ntile, a->N * a->L, s));
    if (VC) LR_TRY(launch_sum_mid<float>(pC, g->dC, a->Bn * q.Gt, q.ntile, a->N * a->L, s));
  }
  return LR_OK;
}

template <bool BWD, int NS, int TPC, bool VB, bool VC, int DK, bool RS>
lr_status run_m(const lr_scan_in *a, void *y, void *hL, const void *ckpt, const lr_scan_grads *g, void *ws,
                cudaStream_t s) {
  if constexpr (BWD) return bwd_m<NS, TPC, VB, VC, DK, RS>(a, ckpt, g, ws, s);
  else return fwd_m<NS, TPC, VB, VC, DK, RS>(a, y, hL, (void *)ckpt, s);
}

/* the instantiation for N, the kinds of B and C, the discretization (mamba: every kind of B and
 * C; mamba with Δ_A, dirac, zoh and bilinear: B and C both variable or both fixed, see takes) and
 * resets (mamba, dirac and Δ_A, whose Ā appears only in the recurrence) */
template <bool BWD, int NS, int TPC>
lr_status pick_bc(const lr_scan_in *a, void *y, void *hL, const void *ckpt, const lr_scan_grads *g, void *ws,
                  cudaStream_t s) {
  const bool rs = a->reset != NULL;
#define LR_M(VB, VC, DK)                                                                                  \
  (rs ? run_m<BWD, NS, TPC, VB, VC, DK, true>(a, y, hL, ckpt, g, ws, s)                                  \
      : run_m<BWD, NS, TPC, VB, VC, DK, false>(a, y, hL, ckpt, g, ws, s))
#define LR_M0(VB, VC, DK) run_m<BWD, NS, TPC, VB, VC, DK, false>(a, y, hL, ckpt, g, ws, s)
  if (a->deltaA) return a->varB ? LR_M(true, true, kMamA) : LR_M(false, false, kMamA);
  switch (a->disc) {
  case LR_DISC_DIRAC: return a->varB ? LR_M(true, true, kDir) : LR_M(false, false, kDir);
  case LR_DISC_ZOH: return a->varB ? LR_M0(true, true, kZoh) : LR_M0(false, false, kZoh);
  case LR_DISC_BILINEAR: return a->varB ? LR_M0(true, true, kBil) : LR_M0(false, false, kBil);
  default: break;
  }
  if (a->varB) return a->varC ? LR_M(true, true, kMam) : LR_M(true, false, kMam);
  return a->varC ? LR_M(false, true, kMam) : LR_M(false, false, kMam);
#undef LR_M
#undef LR_M0
}

template <bool BWD>
lr_status pick(const lr_scan_in *a, void *y, void *hL, const void *ckpt, const lr_scan_grads *g, void *ws,
               cudaStream_t s) {
  switch (a->N) {
  case 8: return pick_bc<BWD, kNS, 2>(a, y, hL, ckpt, g, ws, s);
  case 16: return pick_bc<BWD, kNS, 4>(a, y, hL, ckpt, g, ws, s);
  case 32: return pick_bc<BWD, kNS, 8>(a, y, hL, ckpt, g, ws, s);
  default: return pick_bc<BWD, kNS, 16>(a, y, hL, ckpt, g, ws, s);
  }
}

/* Mamba's case on the auto and mamba paths (Δ_A with mamba's discretization and B, C both variable or
 * both fixed; resets with mamba and dirac). The auto path takes the
 * backward only with threads enough (Bn D N / 4 of them) or a short sequence: with fewer, the tile
 * backward, which parallelises time, is faster. Measured on an H200 at L 4096, N 16 (this one, tile):
 * variable B/C, B 2 D 1024 1.19, 1.90 ms and B 1 D 1024 1.19, 0.97; fixed B/C, B 4 D 1024 0.84,
 * 1.20 and B 2 D 1024 0.83, 0.61. Hence 48 threads per SM with variable B/C, 96 with fixed. This
 * forward was faster at every size measured. */
bool takes(const lr_scan_in *a, bool bwd) {
  const int path = scan_path();
  if (path != 0 && path != 3) return false; /* forced seq or tile */
  if (bwd && path == 0 && a->L > 64 &&
      a->Bn * a->D * (a->N / kNS) < (int64_t)sm_count() * ((a->varB || a->varC) ? 48 : 96))
    return false;
  if (a->rdt != LR_DTYPE_F32 || a->cplx) return false;
  if (a->reset && !(a->disc == LR_DISC_MAMBA || a->disc == LR_DISC_DIRAC)) return false;
  if (a->deltaA && !(a->disc == LR_DISC_MAMBA && a->varB == a->varC)) return false;
  if (a->disc != LR_DISC_MAMBA &&
      !((a->disc == LR_DISC_DIRAC || a->disc == LR_DISC_ZOH || a->disc == LR_DISC_BILINEAR) && a->varB == a->varC))
    return false;
  if (!(a->N == 8 || a->N == 16 || a->N == 32 || a->N == 64)) return false;
  if (a->L > (1 << 24)) return false; /* the forward's 32-bit offsets within a block's rows */
  return !(a->varB || a->varC) || (a->G > 0 && a->D % a->G == 0);
}

} // namespace

bool mamba_fwd_ok(const lr_scan_in *a) { return takes(a, false) && a->chunk % 4 == 0 && mgeom(a).smem <= smem_max(); }

bool mamba_bwd_ok(const lr_scan_in *a) {
  if (!takes(a, true) || a->chunk % kSS != 0 || a->chunk > kBS) return false;
  lr_scan_grads g = {};
  return mgeom(a, &g).smem <= smem_max();
}

int mamba_chunk() { return kBS; }

size_t mamba_ws_elems(const lr_scan_in *a) {
  if (!takes(a, true)) return 0; /* before mgeom: N > 512 has no geometry */
  lr_scan_grads g = {};
  const MGeom q = mgeom(a, &g);
  return q.ntile > 1 ? (size_t)(a->Bn * q.Gt * q.ntile * a->N * a->L) : 0;
}

lr_status mamba_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  return pick<false>(a, y, hL, ckpt, NULL, NULL, s);
}

lr_status mamba_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s) {
  return pick<true>(a, NULL, NULL, ckpt, g, ws, s);
}

} // namespace lr_scank
