/* CUDA scan kernels: the selective scan (forward, backward), the diagonal scan (S5's core), the
 * S5 readout, elementwise discretization, and the fixed-order sums the ops use to combine per-batch
 * partials. The math is the CPU's (kernels/cpu/scan.c, kernels/discretize_math.h: the same LR_HD
 * per-element discretization functions run here), so results agree with the CPU to rounding
 * (different summation order over N, CUDA's libm ulps, fused multiply-adds).
 *
 * ---- selective scan ----
 *   h_t[n] = Ā(λ_dn, Δ_A,t) (reset ? 0 : h_{t-1}[n]) + B̄(λ_dn, Δ_t) B_n(t) u_t,
 *   y_t = Σ_n C_n(t) h_t[n] (complex: 2 Re) + D u_t, · silu(z_t); lengths freeze the state.
 * Shapes as lr_scan_in (kernels/cpu/scan.h): u, delta, deltaA, z, y (B, D, L); A (D, N); fixed
 * B/C (D, N); variable B/C (B, G, N, L).
 *
 * Time-parallel: every step of the recurrence is an affine map h -> a_t h + b_t (a_t = Ā, 0 on a
 * reset step; b_t = B̄ B_n(t) u_t; the identity past the length, which freezes the state), and a
 * composition of maps is again one. One warp per (b, channel), blocks of 4 warps on consecutive
 * channels of one (b, group) (the warps read the same variable B/C rows: L1 hits). Time goes in
 * tiles of 32·IT steps, lane l holding the IT consecutive steps t0 + l·IT + i (IT = 16 in
 * F32/C64, 8 in F64, 4 in C128 forward; 8 / 4 backward). u, Δ (bias, softplus applied once per
 * step), Δ_A, z, dy come in coalesced through per-warp shared-memory staging arrays (lane-major,
 * padded against bank conflicts) and y, du, dΔ, dΔ_A, dz go out the same way; variable B/C rows
 * are read per lane with 16-byte vector loads when aligned.
 * Forward, per tile and state n (the n loop innermost, so nothing of size N lives in registers):
 * the lane evaluates its IT maps on chip (Tr<T>::eval, the CPU's discretization (C64's with the
 * hardware's special functions: scan_k.cuh), every kind,
 * event Δ_A), composes them in order, a warp inclusive scan of the composed maps (5 shuffle
 * rounds, lane order) gives the map of all earlier lanes, applied to the carry (the state entering
 * the tile, one per n in shared memory) it gives the state entering the lane's first step; the lane
 * then walks its steps sequentially (h = a h + b, the recurrence itself) accumulating
 * y_i += Re(C h) over n in registers, and lane 31's last state is the next tile's carry. h0 is the
 * first carry, hL the last. The state entering every step t with t % chunk == 0 goes to the
 * checkpoints ckpt (B, D, ceil(L/chunk), N), the CPU's layout. Within one lane's IT steps the
 * states are exactly the sequential recurrence's (a sequence of L <= IT steps: bitwise the single
 * step update); across lanes they are composed in a tree, equal to rounding.
 * Backward: tiles of TLb = the largest multiple of chunk <= 32·IT in reverse time, so a tile starts
 * at a checkpoint (hence chunk <= LR_KCUDA_SCAN_MAX_CHUNK); per tile, channel and n the forward
 * maps and states are rebuilt (same scan, from the checkpoint), then the adjoint runs as a reverse
 * warp scan of the maps E -> conj(a_t) (g_t + E), g_t = conj(C_t) dy'_t (E the adjoint passed
 * from step t to t-1; carried across tiles in dh0, which ends as dL/dh0); G_t = g_t + E_{t+1}
 * gives every gradient by the formulas at the top of kernels/cpu/scan.c. Mamba's Ā derivatives
 * come from Ā itself; other kinds call Tr<T>::deriv.
 * Sums, all in a fixed order (no atomics, the backward is bitwise reproducible): over n per step
 * in registers (du, dΔ, dΔ_A); over a lane's steps then a xor butterfly for dA, fixed dB/dC, dD,
 * dΔbias of (b, d), added by lane 0 to the per-batch partial outputs in tile order; the op sums
 * the batch partials in order b = 0, 1, ... (lr_kcuda_sum_leading). Variable dB/dC (B, G, N, L)
 * sum over the channels of a group: a backward block owns a slice of 4·R channels (R rounds of 4
 * warps, R chosen for about 4 blocks per SM), per (round, n) the warps put their per-step values
 * in shared memory and the block adds them in warp order, round after round, into a per-slice
 * partial (B, G, nslice, N, L) (straight into dB/dC when a group is one slice), which a second
 * kernel sums in slice order.
 * Channels per warp (CPW): with B and C both variable (F32/C64 mamba or zoh, no deltaA: the
 * specialised instantiations) the forward can run fast_fwd_m, a warp per 4 consecutive
 * channels of one (b, group): per tile and n it loads the lane's B_n, C_n items once (registers;
 * shared memory in C64) and runs the 4 channels on them in turn, so the B/C rows are read
 * B·D·N·L / 4 times instead of B·D·N·L. Per channel every operation and its order are fast_fwd's:
 * y, hL and the checkpoints are bitwise the same with either. The environment variable
 * LRNNX_SCAN_CPW = 1 or 4, read once at the first forward, selects fast_fwd (1, the default:
 * on an H200 fast_fwd_m's 8 warps per SM lose more than the saved B/C reads gain, 7.2 against
 * 4.9 ms at B8 D2048 L4096 N16) or fast_fwd_m (4); lr_kcuda_scan_set_cpw overrides it (tests, benches).
 * When 4 channels' carries do not fit in shared memory fast_fwd runs (same results).
 * Specialisations: F32/C64 mamba and zoh without deltaA with B and C both fixed or both variable
 * have their own instantiations (fewer live registers, the discretization folded); everything
 * else runs one generic instantiation per dtype. Limits: the forward's carries (N per warp) must
 * fit in shared memory; chunk <= LR_KCUDA_SCAN_MAX_CHUNK. The Mamba kernels of scan_mamba.cu (tried
 * first) and the channel-sequential kernels of scan_seq.cu share the checkpoint layout and take
 * over where they are faster (see there).
 *
 * ---- diagonal scan ---- h[b,p,t] = Ā h[b,p,t-1] + B̄ x[b,p,t], every state written out; its
 * backward reads h_{t-1} from that output. A warp per (b, p), 32 steps at a time by a warp scan
 * (dscan_fwd_w, dscan_bwd_w; S5's case, Δ and Δ_A per state without resets, by the powers of its
 * fixed Ā). dλ partials (B, P), summed over b by the op.
 * ---- readout ---- y = f Re(yc) + D Re(u), elementwise; its backward's dD partial (B, H) is one
 * thread per (b, h) summing over t in order.
 * ---- discretize ---- one thread per output element, strides in elements (broadcast = 0).
 */
#include "kernels/cuda/scan_k.cuh"

using namespace lr_scank;

namespace {


/* ================= time-parallel selective scan (the fast path) =================
 * One warp per (b, channel); a block is `nw` warps on consecutive channels of one (b, group), so
 * the warps of a block read the same variable B/C rows (L1 hits). A tile of TL = 32·IT timesteps:
 * lane l holds the IT consecutive steps t0 + l·IT + i. Per state n the lane forms the affine maps
 * h -> a_i h + b_i (a_i = Ā with 0 on a reset step, b_i = B̄ B_n u; identity past the length),
 * composes its IT maps in order, a warp inclusive scan of the composed maps (shuffles, lane
 * order) gives each lane the map of all earlier lanes, applied to the carry (the state entering
 * the tile, in shared memory) it gives the state entering the lane's first step; the lane then
 * runs its steps sequentially (h = a_i h + b_i, exactly the recurrence) and accumulates
 * y_i += Re(C h) over n in order in registers. The carry moves to the next tile. */
template <typename T> struct FCfg;
/* F: steps per lane in the forward, B in the backward; MB, MBB, MBC: minimum resident blocks of 128
 * threads of the forward / backward / 4-channel forward (fast_fwd_m: 255 registers, 16-40 bytes
 * of spills; its shared memory allows 2 blocks per SM anyway), i.e. a register cap of 65536 / (MB · 128) per thread (chosen
 * with -Xptxas -v: no or small spills at 12-16 warps per SM in F32; F64 and C128 take 255). The
 * forward keeps F = 16 in F32 and C64 so that a sequence of up to 16 steps stays in one lane
 * (walked sequentially: bitwise the single-step update). */
template <> struct FCfg<float> { static constexpr int F = 16, B = 8, MB = 4, MBB = 3, MBC = 2; };
template <> struct FCfg<lr_c64> { static constexpr int F = 16, B = 8, MB = 3, MBB = 2, MBC = 2; };
template <> struct FCfg<double> { static constexpr int F = 8, B = 4, MB = 2, MBB = 2; };
template <> struct FCfg<lr_c128> { static constexpr int F = 4, B = 4, MB = 2, MBB = 2; };

const int kFW = 4; /* warps (channels) per block, forward */


/* 16 bytes from a 16-byte aligned p into o[0 .. 16/sizeof(T)). */
__device__ __forceinline__ void ld16(const float *p, float *o) {
  float4 v = __ldg((const float4 *)p);
  o[0] = v.x, o[1] = v.y, o[2] = v.z, o[3] = v.w;
}
__device__ __forceinline__ void ld16(const double *p, double *o) {
  double2 v = __ldg((const double2 *)p);
  o[0] = v.x, o[1] = v.y;
}
__device__ __forceinline__ void ld16(const lr_c64 *p, lr_c64 *o) {
  float4 v = __ldg((const float4 *)p);
  o[0] = lr_c64_make(v.x, v.y), o[1] = lr_c64_make(v.z, v.w);
}
__device__ __forceinline__ void ld16(const lr_c128 *p, lr_c128 *o) {
  double2 v = __ldg((const double2 *)p);
  o[0] = lr_c128_make(v.x, v.y);
}

/* A lane's IT consecutive elements p[0 .. cnt) (zero beyond): vector loads when the lane has all
 * IT and p is 16-byte aligned. */
template <typename T, int IT> __device__ __forceinline__ void load_items(const T *p, int cnt, T *o) {
  static_assert((IT * sizeof(T)) % 16 == 0, "IT items must fill 16-byte vectors");
  constexpr int V = 16 / sizeof(T);
  if (cnt == IT && ((uintptr_t)p & 15) == 0) {
#pragma unroll
    for (int i = 0; i < IT; i += V) ld16(p + i, o + i);
  } else {
    const T zero = Tr<T>::r(0);
#pragma unroll
    for (int i = 0; i < IT; i++) o[i] = i < cnt ? p[i] : zero;
  }
}

/* Coalesced copy of src[0 .. nv) into the warp's staging array st (32·(IT+1) reals, lane-major and
 * padded: step l·IT + i at slot l·(IT+1) + i, so neither side has bank conflicts). The caller
 * brackets it with __syncwarp. */
template <typename R, int IT>
__device__ __forceinline__ void stage_fill(R *st, const R *__restrict__ src, int nv, int lane) {
  for (int k = lane; k < nv; k += 32) st[k + k / IT] = src[k];
}

/* Inclusive warp scan of affine maps in lane order: (A, B) becomes the composition of the maps of
 * lanes 0..lane (h -> A h + B, the later map applied last). */
template <typename T> __device__ __forceinline__ void warp_scan_fwd(T &A, T &B, int lane) {
  typedef Tr<T> O;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    T pA = shup(A, off), pB = shup(B, off);
    if (lane >= off) {
      B = O::add(O::mul(A, pB), B);
      A = O::mul(A, pA);
    }
  }
}

/* The same in reverse lane order (lanes lane..31, lane 31's map applied first). */
template <typename T> __device__ __forceinline__ void warp_scan_rev(T &A, T &B, int lane) {
  typedef Tr<T> O;
#pragma unroll
  for (int off = 1; off < 32; off <<= 1) {
    T pA = shdn(A, off), pB = shdn(B, off);
    if (lane + off < 32) {
      B = O::add(O::mul(A, pB), B);
      A = O::mul(A, pA);
    }
  }
}

/* Σ over the warp's lanes, a xor butterfly: a fixed order, every lane gets the same bits. */
template <typename T> __device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int m = 16; m >= 1; m >>= 1) v = Tr<T>::add(v, shxor(v, m));
  return v;
}

template <typename T, int IT, int DK, int VAR>
__global__ void __launch_bounds__(kFW * 32, FCfg<T>::MB) fast_fwd(lr_scan_in a, int64_t Gt, int64_t Dg, int64_t ntile,
                                                                 typename Tr<T>::R *__restrict__ y, T *hL,
                                                                 T *__restrict__ ckpt) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  constexpr int TL = 32 * IT, SW = 32 * (IT + 1);
  extern __shared__ __align__(16) unsigned char smem[];
  const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t N = a.N, L = a.L, D = a.D, G = a.G;
  /* per warp: the carry (N states), then u, Δ, Δ_A of the tile (lane-major, padded) */
  T *carry = (T *)smem + (size_t)w * N;
  R *su = (R *)(smem + (size_t)nw * N * sizeof(T)) + w * 3 * SW, *sd = su + SW, *sda = sd + SW;
  const int64_t tile = blockIdx.x % ntile, bg = blockIdx.x / ntile, g = bg % Gt, b = bg / Gt;
  const int64_t dloc = tile * nw + w;
  if (dloc >= Dg) return; /* no block-wide barriers below: a warp without a channel leaves */
  const int64_t d = g * Dg + dloc, gg = d / (D / G), row = (b * D + d) * L;
  /* compile-time facts of the specialised instantiations (DK >= 0: no deltaA; VAR 0 / 1: B and C
   * both fixed / both variable) */
  const int kind = DK >= 0 ? DK : a.disc;
  const bool vb = VAR == 2 ? a.varB : VAR == 1, vc = VAR == 2 ? a.varC : VAR == 1;
  const R *u = (const R *)a.u + row, *dlt = (const R *)a.delta + row;
  const R *dAp = (DK < 0 && a.deltaA) ? (const R *)a.deltaA + row : NULL, *zp = a.z ? (const R *)a.z + row : NULL;
  const T *Ad = (const T *)a.A + d * N;
  const T *Bfix = vb ? NULL : (const T *)a.Bm + d * N, *Cfix = vc ? NULL : (const T *)a.Cm + d * N;
  const T *Bvar = vb ? (const T *)a.Bm + (b * G + gg) * N * L : NULL;
  const T *Cvar = vc ? (const T *)a.Cm + (b * G + gg) * N * L : NULL;
  const uint8_t *rs = a.reset ? a.reset + b * L : NULL;
  const int64_t len = a.lengths ? a.lengths[b] : L;
  const int64_t chunk = a.chunk, nch = L ? (L + chunk - 1) / chunk : 0;
  T *ck = ckpt ? ckpt + (b * D + d) * nch * N : NULL;
  const T zero = O::r((R)0), one = O::r((R)1);
  for (int64_t n = lane; n < N; n += 32) carry[n] = a.h0 ? ((const T *)a.h0)[(b * D + d) * N + n] : zero;
  const R bias = a.dbias ? ((const R *)a.dbias)[d] : (R)0;
  const R Dd = a.Dv ? ((const R *)a.Dv)[d] : (R)0;
  const int me = lane * (IT + 1); /* the lane's first slot in a staging array */
  R *yr = y + row;
  for (int64_t t0 = 0; t0 < len; t0 += TL) {
    const int nv = (int)(len - t0 < TL ? len - t0 : TL);
    const int cnt = nv - lane * IT < 0 ? 0 : nv - lane * IT < IT ? nv - lane * IT : IT;
    const int64_t tl = t0 + lane * IT; /* the lane's first step */
    __syncwarp(); /* the previous tile's readers of the staging arrays (and of the carry) are done */
    stage_fill<R, IT>(su, u + t0, nv, lane);
    stage_fill<R, IT>(sd, dlt + t0, nv, lane);
    if (dAp) stage_fill<R, IT>(sda, dAp + t0, nv, lane);
    __syncwarp();
#pragma unroll
    for (int i = 0; i < IT; i++)
      if (i < cnt) sd[me + i] = delta_of(sd[me + i] + bias, a.softplus); /* the lane's own slots */
    const R *sdA = dAp ? sda : sd;
    unsigned rmask = 0, cmask = 0;
#pragma unroll
    for (int i = 0; i < IT; i++)
      if (i < cnt) {
        if (rs && rs[tl + i]) rmask |= 1u << i;
        if (ck && (tl + i) % chunk == 0) cmask |= 1u << i;
      }
    R yacc[IT];
#pragma unroll
    for (int i = 0; i < IT; i++) yacc[i] = (R)0;
#pragma unroll 1
    for (int64_t n = 0; n < N; n++) {
      const T lam = Ad[n];
      T Bi[IT], av[IT], bv[IT];
      if (vb) load_items<T, IT>(Bvar + n * L + tl, cnt, Bi);
      else {
        const T bf = Bfix[n];
#pragma unroll
        for (int i = 0; i < IT; i++) Bi[i] = bf;
      }
#pragma unroll
      for (int i = 0; i < IT; i++) {
        if (i < cnt) {
          T ab, bb;
          O::eval(kind, lam, sdA[me + i], sd[me + i], &ab, &bb);
          av[i] = (rmask >> i & 1u) ? zero : ab;
          bv[i] = O::mul(bb, O::scale(Bi[i], su[me + i]));
        } else {
          av[i] = one;
          bv[i] = zero;
        }
      }
      T cA = av[0], cB = bv[0];
#pragma unroll
      for (int i = 1; i < IT; i++) {
        cB = O::add(O::mul(av[i], cB), bv[i]);
        cA = O::mul(av[i], cA);
      }
      warp_scan_fwd(cA, cB, lane);
      const T eA = shup(cA, 1), eB = shup(cB, 1);
      T Ci[IT];
      if (vc) load_items<T, IT>(Cvar + n * L + tl, cnt, Ci);
      else {
        const T cf = Cfix[n];
#pragma unroll
        for (int i = 0; i < IT; i++) Ci[i] = cf;
      }
      const T c = carry[n];
      T h = lane == 0 ? c : O::add(O::mul(eA, c), eB);
#pragma unroll
      for (int i = 0; i < IT; i++) {
        if (cmask >> i & 1u) ck[((tl + i) / chunk) * N + n] = h;
        h = O::add(O::mul(av[i], h), bv[i]);
        yacc[i] += O::redot(Ci[i], O::conj(h));
      }
      /* the carry is the walked state of the lane that holds the tile's last step (lanes past it
       * only hold the composed prefix, equal up to rounding): a sequence within one lane's IT
       * steps then ends in the bits the single-step update gives */
      const T nc = shix(h, (nv - 1) / IT);
      __syncwarp();
      if (lane == 0) carry[n] = nc;
    }
    /* y = (2 Re) Σ_n C h + D u, · silu(z): z comes in through Δ's slots, y goes out through them */
    __syncwarp();
    if (zp) stage_fill<R, IT>(sd, zp + t0, nv, lane);
    __syncwarp();
#pragma unroll
    for (int i = 0; i < IT; i++) {
      R o = O::C ? (R)2 * yacc[i] : yacc[i];
      if (a.Dv) o = o + Dd * su[me + i];
      if (zp) {
        const R zz = sd[me + i];
        o = o * (zz / sig_den(zz)); /* silu(z), the old kernel's expression */
      }
      sd[me + i] = o;
    }
    __syncwarp();
    for (int k = lane; k < nv; k += 32) yr[t0 + k] = sd[k + k / IT];
  }
  for (int64_t t = len + lane; t < L; t += 32) yr[t] = (R)0;
  __syncwarp();
  for (int64_t n = lane; n < N; n += 32) hL[(b * D + d) * N + n] = carry[n];
}

/* Warps per block and dynamic shared memory of the fast forward; nw = 0 when N does not fit. */
template <typename T> void ffwd_geom(const lr_scan_in *a, int *nw, size_t *sm) {
  typedef typename Tr<T>::R R;
  const size_t per = (size_t)a->N * sizeof(T) + 3 * 32 * (FCfg<T>::F + 1) * sizeof(R);
  int w = kFW;
  while (w > 1 && (size_t)w * per > smem_max()) w >>= 1;
  *nw = (size_t)w * per > smem_max() ? 0 : w;
  *sm = (size_t)w * per;
}

template <typename T, int DK, int VAR> lr_status ffwd_t(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  typedef typename Tr<T>::R R;
  int nw;
  size_t sm;
  ffwd_geom<T>(a, &nw, &sm);
  if (!nw)
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_kcuda_scan_fwd: N = %lld states do not fit in shared memory",
                   (long long)a->N);
  const int64_t Gt = (a->varB || a->varC) ? a->G : 1, Dg = a->D / Gt, ntile = (Dg + nw - 1) / nw;
  const int64_t grid = a->Bn * Gt * ntile;
  auto k = fast_fwd<T, FCfg<T>::F, DK, VAR>;
  LR_CUDA_TRY("lr_kcuda_scan_fwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
  k<<<(unsigned)grid, nw * 32, sm, s>>>(*a, Gt, Dg, ntile, (R *)y, (T *)hL, (T *)ckpt);
  return lr_cuda_check_launch("lr_kcuda_scan_fwd");
}

/* ---- the forward with CPW channels per warp (variable B/C) ----
 * The same computation as fast_fwd, for the specialised instantiations with B and C both variable
 * (F32/C64, mamba or zoh, no deltaA): a warp owns CPW consecutive channels of one (b, group) and,
 * per tile and state n, loads the lane's IT items of B_n and C_n once into registers and runs its
 * channels one after the other on them (each with its own staging of u and Δ, A row, carry and y
 * accumulators yacc[c][·] in registers). Per channel every operation, and its order, is fast_fwd's
 * (the same IT, tile, eval, composition, warp scan, walk, carry, sum over n in order), so y, hL
 * and the checkpoints are bitwise those of fast_fwd: CPW only divides the B/C reads by CPW. A
 * block is nw warps = nw·CPW consecutive channels; warp ws's channels are ws·CPW + c, c < CPW
 * (the last warp of a group may hold fewer: a warp-uniform guard). */
template <typename T, int IT, int DK, int CPW>
__global__ void __launch_bounds__(kFW * 32, FCfg<T>::MBC) fast_fwd_m(lr_scan_in a, int64_t Dg, int64_t ntile,
                                                                    typename Tr<T>::R *__restrict__ y, T *hL,
                                                                    T *__restrict__ ckpt) {
  static_assert(DK >= 0, "the multi-channel forward is for the specialised instantiations (no deltaA)");
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  constexpr int TL = 32 * IT, SW = 32 * (IT + 1);
  extern __shared__ __align__(16) unsigned char smem[];
  const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t N = a.N, L = a.L, D = a.D, G = a.G;
  /* per warp: the carries (CPW x N states), then per channel u and Δ of the tile (lane-major,
   * padded) */
  T *carry0 = (T *)smem + (size_t)w * CPW * N;
  R *st = (R *)(smem + (size_t)nw * CPW * N * sizeof(T)) + (size_t)w * 2 * CPW * SW;
  /* complex: the lane's B_n, C_n items wait in shared memory (the lane's own slots, padded like
   * the staging arrays), not in registers (64 of them, spilled otherwise) */
  constexpr bool BCS = Tr<T>::C;
  T *sB = (T *)(smem + (size_t)nw * CPW * N * sizeof(T) + (size_t)nw * 2 * CPW * SW * sizeof(R)) + (size_t)w * 2 * SW;
  T *sC = sB + SW;
  const int64_t tile = blockIdx.x % ntile, bg = blockIdx.x / ntile, g = bg % G, b = bg / G;
  const int64_t dloc0 = (tile * nw + w) * CPW;
  if (dloc0 >= Dg) return; /* no block-wide barriers below: a warp without a channel leaves */
  const int ncw = Dg - dloc0 < CPW ? (int)(Dg - dloc0) : CPW; /* the warp's channels (uniform) */
  const int64_t d0 = g * Dg + dloc0;                             /* first channel; all in group g */
  const T *Bvar = (const T *)a.Bm + (b * G + g) * N * L, *Cvar = (const T *)a.Cm + (b * G + g) * N * L;
  const uint8_t *rs = a.reset ? a.reset + b * L : NULL;
  const int64_t len = a.lengths ? a.lengths[b] : L;
  const int64_t chunk = a.chunk, nch = L ? (L + chunk - 1) / chunk : 0;
  const T zero = O::r((R)0), one = O::r((R)1);
  for (int c = 0; c < ncw; c++)
    for (int64_t n = lane; n < N; n += 32)
      carry0[c * N + n] = a.h0 ? ((const T *)a.h0)[(b * D + d0 + c) * N + n] : zero;
  const int me = lane * (IT + 1);
  for (int64_t t0 = 0; t0 < len; t0 += TL) {
    const int nv = (int)(len - t0 < TL ? len - t0 : TL);
    const int cnt = nv - lane * IT < 0 ? 0 : nv - lane * IT < IT ? nv - lane * IT : IT;
    const int64_t tl = t0 + lane * IT;
    __syncwarp();
    for (int c = 0; c < ncw; c++) {
      const int64_t row = (b * D + d0 + c) * L;
      stage_fill<R, IT>(st + 2 * c * SW, (const R *)a.u + row + t0, nv, lane);
      stage_fill<R, IT>(st + (2 * c + 1) * SW, (const R *)a.delta + row + t0, nv, lane);
    }
    __syncwarp();
    for (int c = 0; c < ncw; c++) {
      R *sd = st + (2 * c + 1) * SW;
      const R bias = a.dbias ? ((const R *)a.dbias)[d0 + c] : (R)0;
#pragma unroll
      for (int i = 0; i < IT; i++)
        if (i < cnt) sd[me + i] = delta_of(sd[me + i] + bias, a.softplus);
    }
    unsigned rmask = 0, cmask = 0;
#pragma unroll
    for (int i = 0; i < IT; i++)
      if (i < cnt) {
        if (rs && rs[tl + i]) rmask |= 1u << i;
        if (ckpt && (tl + i) % chunk == 0) cmask |= 1u << i;
      }
    R yacc[CPW][IT];
#pragma unroll
    for (int c = 0; c < CPW; c++)
#pragma unroll
      for (int i = 0; i < IT; i++) yacc[c][i] = (R)0;
#pragma unroll 1
    for (int64_t n = 0; n < N; n++) {
      T Bi[IT], Ci[IT];
      load_items<T, IT>(Bvar + n * L + tl, cnt, Bi);
      load_items<T, IT>(Cvar + n * L + tl, cnt, Ci);
      if (BCS) {
#pragma unroll
        for (int i = 0; i < IT; i++) sB[me + i] = Bi[i], sC[me + i] = Ci[i];
      }
#pragma unroll
      for (int c = 0; c < CPW; c++) {
        if (c >= ncw) break; /* warp-uniform */
        const R *su = st + 2 * c * SW, *sd = su + SW;
        T *carry = carry0 + c * N;
        const T lam = ((const T *)a.A)[(d0 + c) * N + n];
        T av[IT], bv[IT];
#pragma unroll
        for (int i = 0; i < IT; i++) {
          if (i < cnt) {
            T ab, bb;
            O::eval(DK, lam, sd[me + i], sd[me + i], &ab, &bb);
            av[i] = (rmask >> i & 1u) ? zero : ab;
            bv[i] = O::mul(bb, O::scale(BCS ? sB[me + i] : Bi[i], su[me + i]));
          } else {
            av[i] = one;
            bv[i] = zero;
          }
        }
        T cA = av[0], cB = bv[0];
#pragma unroll
        for (int i = 1; i < IT; i++) {
          cB = O::add(O::mul(av[i], cB), bv[i]);
          cA = O::mul(av[i], cA);
        }
        warp_scan_fwd(cA, cB, lane);
        const T eA = shup(cA, 1), eB = shup(cB, 1);
        const T cy = carry[n];
        T h = lane == 0 ? cy : O::add(O::mul(eA, cy), eB);
        T *ck = ckpt ? ckpt + (b * D + d0 + c) * nch * N : NULL;
#pragma unroll
        for (int i = 0; i < IT; i++) {
          if (cmask >> i & 1u) ck[((tl + i) / chunk) * N + n] = h;
          h = O::add(O::mul(av[i], h), bv[i]);
          yacc[c][i] += O::redot(BCS ? sC[me + i] : Ci[i], O::conj(h));
        }
        const T nc = shix(h, (nv - 1) / IT);
        __syncwarp();
        if (lane == 0) carry[n] = nc;
      }
    }
    /* y per channel, as fast_fwd: z in through Δ's slots, y out through them */
#pragma unroll
    for (int c = 0; c < CPW; c++) {
      if (c >= ncw) break;
      const int64_t row = (b * D + d0 + c) * L;
      const R *su = st + 2 * c * SW;
      R *sd = st + (2 * c + 1) * SW;
      const R *zp = a.z ? (const R *)a.z + row : NULL;
      const R Dd = a.Dv ? ((const R *)a.Dv)[d0 + c] : (R)0;
      __syncwarp();
      if (zp) stage_fill<R, IT>(sd, zp + t0, nv, lane);
      __syncwarp();
#pragma unroll
      for (int i = 0; i < IT; i++) {
        R o = O::C ? (R)2 * yacc[c][i] : yacc[c][i];
        if (a.Dv) o = o + Dd * su[me + i];
        if (zp) {
          const R zz = sd[me + i];
          o = o * (zz / sig_den(zz));
        }
        sd[me + i] = o;
      }
      __syncwarp();
      R *yr = y + row;
      for (int k = lane; k < nv; k += 32) yr[t0 + k] = sd[k + k / IT];
    }
  }
  for (int c = 0; c < ncw; c++) {
    R *yr = y + (b * D + d0 + c) * L;
    for (int64_t t = len + lane; t < L; t += 32) yr[t] = (R)0;
  }
  __syncwarp();
  for (int c = 0; c < ncw; c++)
    for (int64_t n = lane; n < N; n += 32) hL[(b * D + d0 + c) * N + n] = carry0[c * N + n];
}

/* Warps per block and dynamic shared memory of fast_fwd_m; nw = 0 when it does not fit. */
template <typename T, int CPW> void ffwd_m_geom(const lr_scan_in *a, int *nw, size_t *sm) {
  typedef typename Tr<T>::R R;
  const size_t per = (size_t)CPW * ((size_t)a->N * sizeof(T) + 2 * 32 * (FCfg<T>::F + 1) * sizeof(R)) +
                     (Tr<T>::C ? 2 * 32 * (FCfg<T>::F + 1) * sizeof(T) : 0);
  int w = kFW;
  while (w > 1 && (size_t)w * per > smem_max()) w >>= 1;
  *nw = (size_t)w * per > smem_max() ? 0 : w;
  *sm = (size_t)w * per;
}

/* CPW-channel forward (variable B and C, DK >= 0); falls back to fast_fwd when the carries do not
 * fit. */
template <typename T, int DK, int CPW>
lr_status ffwd_m_t(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  typedef typename Tr<T>::R R;
  int nw;
  size_t sm;
  ffwd_m_geom<T, CPW>(a, &nw, &sm);
  if (!nw) return ffwd_t<T, DK, 1>(a, y, hL, ckpt, s);
  const int64_t Dg = a->D / a->G, per = (int64_t)nw * CPW, ntile = (Dg + per - 1) / per;
  const int64_t grid = a->Bn * a->G * ntile;
  auto k = fast_fwd_m<T, FCfg<T>::F, DK, CPW>;
  LR_CUDA_TRY("lr_kcuda_scan_fwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
  k<<<(unsigned)grid, nw * 32, sm, s>>>(*a, Dg, ntile, (R *)y, (T *)hL, (T *)ckpt);
  return lr_cuda_check_launch("lr_kcuda_scan_fwd");
}

/* Channels per warp of the variable-B/C forward: LRNNX_SCAN_CPW (1 or 4) read once, else
 * kCpwDefault; lr_kcuda_scan_set_cpw overrides it (tests). */
const int kCpwDefault = 1; /* H200, B8 D2048 L4096 N16: CPW 1 forward 4.9 ms, CPW 4 7.2 ms */
int g_cpw = 0;
int scan_cpw() {
  if (!g_cpw) {
    const char *e = getenv("LRNNX_SCAN_CPW");
    g_cpw = e && atoi(e) == 1 ? 1 : e && atoi(e) == 4 ? 4 : kCpwDefault;
  }
  return g_cpw;
}

/* F32 / C64 mamba and zoh without deltaA, with B and C both fixed or both variable, get their own
 * instantiations (the discretization folds at compile time, fewer live registers); everything
 * else (F64, C128, the other discretizations, event mode, mixed B/C) shares one generic
 * instantiation per dtype that switches on a.disc per element (a uniform branch). */
template <typename T> lr_status ffwd_d(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s) {
  if constexpr (sizeof(typename Tr<T>::R) == 4) {
    const bool spec = !a->deltaA && a->varB == a->varC && (a->disc == LR_DISC_MAMBA || a->disc == LR_DISC_ZOH);
    if (spec && a->disc == LR_DISC_MAMBA)
      return !a->varB           ? ffwd_t<T, LR_DISC_MAMBA, 0>(a, y, hL, ckpt, s)
             : scan_cpw() == 4 ? ffwd_m_t<T, LR_DISC_MAMBA, 4>(a, y, hL, ckpt, s)
                               : ffwd_t<T, LR_DISC_MAMBA, 1>(a, y, hL, ckpt, s);
    if (spec)
      return !a->varB           ? ffwd_t<T, LR_DISC_ZOH, 0>(a, y, hL, ckpt, s)
             : scan_cpw() == 4 ? ffwd_m_t<T, LR_DISC_ZOH, 4>(a, y, hL, ckpt, s)
                               : ffwd_t<T, LR_DISC_ZOH, 1>(a, y, hL, ckpt, s);
  }
  return ffwd_t<T, -1, 2>(a, y, hL, ckpt, s);
}

/* ---- fast backward ----
 * Blocks of kBW warps; a block owns a slice of S = kBW·R consecutive channels of one (b, group)
 * and walks it in R rounds (warp w takes channel slice + r·kBW + w), tile by tile in reverse time.
 * Tiles are TLb = a multiple of the checkpoint spacing, <= 32·IT, so each tile starts from a
 * checkpoint. Per tile, channel and state n: the forward maps are rebuilt and scanned as in the
 * forward (states h_t in registers), then the adjoint runs as a reverse scan of the maps
 * E -> conj(a_t) (g_t + E) (g_t = conj(C_t)·dy'_t, E the adjoint leaving step t towards t-1, reset
 * steps and steps past the length as in the forward), carried across tiles in dh0 (which ends as
 * dL/dh0). Per step the gradients of the CPU kernel's formulas follow from G_t = g_t + E_{t+1},
 * h_t and h_{t-1}. Sums: over n per step in registers (du, dΔ, dΔ_A), over a lane's steps then a
 * xor butterfly for dA, fixed dB/dC, dD, dΔbias (added to the (b, d) outputs in tile order by lane
 * 0); variable dB/dC: the block's warps put their per-step values in shared memory and the block
 * sums them in warp order, round after round, into a per-slice partial (B, G, nslice, N, L) that
 * sum_mid adds up in slice order (straight into dB/dC with one slice). All fixed orders. */
const int kBW = 4; /* warps per block, backward */

template <typename T, int IT, int DK, int VAR>
__global__ void __launch_bounds__(kBW * 32, FCfg<T>::MBB) fast_bwd(lr_scan_in a, lr_scan_grads gr, int64_t Gt, int64_t Dg,
                                                       int64_t ntile, int rounds, int TLb, const T *__restrict__ ckpt,
                                                       T *pB, T *pC) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  constexpr int SW = 32 * (IT + 1);
  extern __shared__ __align__(16) unsigned char smem[];
  const int nw = blockDim.x >> 5, w = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int64_t N = a.N, L = a.L, D = a.D, G = a.G;
  const bool vb = VAR == 2 ? a.varB : VAR == 1, vc = VAR == 2 ? a.varC : VAR == 1, red = vb || vc;
  /* per block: variable dB, dC per warp and step (red only); per warp: 7 staging arrays */
  T *rB = (T *)smem, *rC = rB + (red ? (size_t)nw * SW : 0);
  R *st = (R *)(rC + (red ? (size_t)nw * SW : 0)) + (size_t)w * 7 * SW;
  R *su = st, *sd = su + SW, *sda = sd + SW, *sgy = sda + SW, *scf = sgy + SW, *sz = scf + SW, *sx = sz + SW;
  const int64_t tile = blockIdx.x % ntile, bg = blockIdx.x / ntile, g = bg % Gt, b = bg / Gt;
  const int64_t S = (int64_t)nw * rounds, slice0 = tile * S;
  const int kind = DK >= 0 ? DK : a.disc;
  const int64_t len = a.lengths ? a.lengths[b] : L;
  const int64_t chunk = a.chunk, nch = L ? (L + chunk - 1) / chunk : 0;
  const uint8_t *rs = a.reset ? a.reset + b * L : NULL;
  const T zero = O::r((R)0), one = O::r((R)1);
  const int me = lane * (IT + 1);
  const bool ev = DK < 0 && a.deltaA != NULL;
  T *dh0 = (T *)gr.dh0, *dAp = (T *)gr.dA_p;
  /* initialise the per-(b, d) outputs the tiles accumulate into */
  for (int r = 0; r < rounds; r++) {
    const int64_t dloc = slice0 + (int64_t)r * nw + w;
    if (dloc >= Dg) break;
    const int64_t o = (b * D + g * Dg + dloc) * N;
    for (int64_t n = lane; n < N; n += 32) {
      dh0[o + n] = gr.ghL ? ((const T *)gr.ghL)[o + n] : zero;
      dAp[o + n] = zero;
      if (!vb) ((T *)gr.dB)[o + n] = zero;
      if (!vc) ((T *)gr.dC)[o + n] = zero;
    }
    if (lane == 0) {
      if (gr.dD_p) ((R *)gr.dD_p)[b * D + g * Dg + dloc] = (R)0;
      if (gr.dbias_p) ((R *)gr.dbias_p)[b * D + g * Dg + dloc] = (R)0;
    }
  }
  __syncwarp();
  const int64_t ntl = (len + TLb - 1) / TLb;
  for (int64_t k = ntl - 1; k >= 0; k--) {
    const int64_t t0 = k * TLb;
    const int nv = (int)(len - t0 < TLb ? len - t0 : TLb);
    const int cnt = nv - lane * IT < 0 ? 0 : nv - lane * IT < IT ? nv - lane * IT : IT;
    const int64_t tl = t0 + lane * IT;
    unsigned rmask = 0;
#pragma unroll
    for (int i = 0; i < IT; i++)
      if (i < cnt && rs && rs[tl + i]) rmask |= 1u << i;
    for (int r = 0; r < rounds; r++) {
      const int64_t rbase = slice0 + (int64_t)r * nw;
      if (rbase >= Dg) break; /* uniform over the block */
      const int nvw = Dg - rbase < nw ? (int)(Dg - rbase) : nw; /* warps with a channel this round */
      const bool valid = w < nvw;
      const int64_t d = g * Dg + rbase + (valid ? w : 0), gg = d / (D / G), row = (b * D + d) * L, od = (b * D + d) * N;
      const T *Ad = (const T *)a.A + d * N;
      const T *Bfix = vb ? NULL : (const T *)a.Bm + d * N, *Cfix = vc ? NULL : (const T *)a.Cm + d * N;
      const T *Bvar = vb ? (const T *)a.Bm + (b * G + gg) * N * L : NULL;
      const T *Cvar = vc ? (const T *)a.Cm + (b * G + gg) * N * L : NULL;
      const R Dd = a.Dv ? ((const R *)a.Dv)[d] : (R)0;
      R du[IT], gd[IT], gda[IT], yacc[IT];
#pragma unroll
      for (int i = 0; i < IT; i++) du[i] = gd[i] = gda[i] = yacc[i] = (R)0;
      if (valid) {
        const R bias = a.dbias ? ((const R *)a.dbias)[d] : (R)0;
        __syncwarp();
        stage_fill<R, IT>(su, (const R *)a.u + row + t0, nv, lane);
        stage_fill<R, IT>(sd, (const R *)a.delta + row + t0, nv, lane);
        if (ev) stage_fill<R, IT>(sda, (const R *)a.deltaA + row + t0, nv, lane);
        stage_fill<R, IT>(sgy, (const R *)gr.gy + row + t0, nv, lane);
        if (a.z) stage_fill<R, IT>(sz, (const R *)a.z + row + t0, nv, lane);
        __syncwarp();
#pragma unroll
        for (int i = 0; i < IT; i++)
          if (i < cnt) {
            const R x = sd[me + i] + bias;
            sd[me + i] = delta_of(x, a.softplus);
            sx[me + i] = (a.softplus && x <= (R)20) ? sig_den(x) : (R)1; /* dΔ/dx = 1 / this */
            R gout = sgy[me + i];
            if (a.z) {
              const R zz = sz[me + i];
              gout = gout * (zz / sig_den(zz)); /* dy · silu(z) */
            }
            scf[me + i] = O::C ? (R)2 * gout : gout;
          }
      }
      const R *sdA = ev ? sda : sd;
#pragma unroll 1
      for (int64_t n = 0; n < N; n++) {
        if (valid) {
          const T lam = Ad[n];
          T Bi[IT], av[IT], bv[IT], hs[IT];
          if (vb) load_items<T, IT>(Bvar + n * L + tl, cnt, Bi);
          else {
            const T bf = Bfix[n];
#pragma unroll
            for (int i = 0; i < IT; i++) Bi[i] = bf;
          }
#pragma unroll
          for (int i = 0; i < IT; i++) {
            if (i < cnt) {
              T ab, bb;
              O::eval(kind, lam, sdA[me + i], sd[me + i], &ab, &bb);
              av[i] = (rmask >> i & 1u) ? zero : ab;
              bv[i] = O::mul(bb, O::scale(Bi[i], su[me + i]));
            } else {
              av[i] = one;
              bv[i] = zero;
            }
          }
          /* states: the forward's scan from the tile's checkpoint */
          T cA = av[0], cB = bv[0];
#pragma unroll
          for (int i = 1; i < IT; i++) {
            cB = O::add(O::mul(av[i], cB), bv[i]);
            cA = O::mul(av[i], cA);
          }
          warp_scan_fwd(cA, cB, lane);
          T eA = shup(cA, 1), eB = shup(cB, 1);
          const T c = ckpt[((b * D + d) * nch + t0 / chunk) * N + n];
          const T hin = lane == 0 ? c : O::add(O::mul(eA, c), eB);
          T h = hin;
#pragma unroll
          for (int i = 0; i < IT; i++) {
            h = O::add(O::mul(av[i], h), bv[i]);
            hs[i] = h;
          }
          T Ci[IT];
          if (vc) load_items<T, IT>(Cvar + n * L + tl, cnt, Ci);
          else {
            const T cf = Cfix[n];
#pragma unroll
            for (int i = 0; i < IT; i++) Ci[i] = cf;
          }
          /* adjoint: E -> conj(a) (g + E) per step, composed right to left */
          T gv[IT];
#pragma unroll
          for (int i = 0; i < IT; i++) {
            gv[i] = i < cnt ? O::scale(O::conj(Ci[i]), scf[me + i]) : zero;
            if (a.z) yacc[i] += O::redot(Ci[i], O::conj(hs[i]));
          }
          T P = O::conj(av[IT - 1]), Q = O::mul(P, gv[IT - 1]);
#pragma unroll
          for (int i = IT - 2; i >= 0; i--) {
            const T al = O::conj(av[i]);
            Q = O::mul(al, O::add(Q, gv[i]));
            P = O::mul(al, P);
          }
          warp_scan_rev(P, Q, lane);
          eA = shdn(P, 1), eB = shdn(Q, 1);
          const T ec = dh0[od + n];
          T E = lane == 31 ? ec : O::add(O::mul(eA, ec), eB);
          T dlam = zero, dBl = zero, dCl = zero;
#pragma unroll
          for (int i = IT - 1; i >= 0; i--) {
            const T Gt_ = O::add(gv[i], E);
            E = O::mul(O::conj(av[i]), Gt_);
            T dBc = zero, dCc = zero;
            if (i < cnt) {
              const R uu = su[me + i], dl = sd[me + i], dla = sdA[me + i], cf = scf[me + i];
              const T hp = (rmask >> i & 1u) ? zero : (i ? hs[i - 1] : hin);
              T bb, p[6];
              if (DK == LR_DISC_MAMBA) {
                bb = O::r(dl);
                p[0] = O::scale(av[i], dla); /* (a reset step's a is 0 here, but its gA is 0 too) */
                p[1] = O::mul(lam, av[i]);
              } else {
                T ab;
                O::deriv(kind, lam, dla, dl, &ab, &bb, p);
              }
              const T gA = O::mul(Gt_, O::conj(hp));
              const T gB = O::mul(Gt_, O::conj(O::scale(Bi[i], uu)));
              dBc = O::scale(O::mul(Gt_, O::conj(bb)), uu);
              dCc = O::scale(O::conj(hs[i]), cf);
              du[i] += O::redot(Gt_, O::mul(bb, Bi[i]));
              if (DK == LR_DISC_MAMBA) {
                dlam = O::add(dlam, O::mul(gA, O::conj(p[0])));
                gda[i] += O::redot(gA, p[1]);
                gd[i] += O::redot(gB, one);
              } else {
                dlam = O::add(dlam, O::add(O::mul(gA, O::conj(p[0])), O::mul(gB, O::conj(p[3]))));
                gda[i] += O::redot(gA, p[1]) + O::redot(gB, p[4]);
                gd[i] += O::redot(gA, p[2]) + O::redot(gB, p[5]);
              }
            }
            if (!vb) dBl = O::add(dBl, dBc);
            if (!vc) dCl = O::add(dCl, dCc);
            if (vb) rB[(size_t)w * SW + me + i] = dBc;
            if (vc) rC[(size_t)w * SW + me + i] = dCc;
          }
          const T enew = shix(E, 0);
          dlam = warp_sum(dlam);
          if (!vb) dBl = warp_sum(dBl);
          if (!vc) dCl = warp_sum(dCl);
          __syncwarp();
          if (lane == 0) {
            dh0[od + n] = enew;
            dAp[od + n] = O::add(dAp[od + n], dlam);
            if (!vb) ((T *)gr.dB)[od + n] = O::add(((T *)gr.dB)[od + n], dBl);
            if (!vc) ((T *)gr.dC)[od + n] = O::add(((T *)gr.dC)[od + n], dCl);
          }
        }
        if (red) {
          /* variable dB / dC: Σ over this round's warps in warp order, then over rounds */
          __syncthreads();
          T *outs[2] = {vb ? pB : NULL, vc ? pC : NULL};
          const T *rr[2] = {rB, rC};
          for (int q = 0; q < 2; q++) {
            if (!outs[q]) continue;
            T *o = outs[q] + ((bg * ntile + tile) * N + n) * L + t0;
            for (int kk = threadIdx.x; kk < nv; kk += blockDim.x) {
              const int slot = kk + kk / IT;
              T s = rr[q][slot];
              for (int ww = 1; ww < nvw; ww++) s = O::add(s, rr[q][(size_t)ww * SW + slot]);
              o[kk] = r == 0 ? s : O::add(o[kk], s);
            }
          }
          __syncthreads();
        }
      }
      if (valid) {
        /* per step: the D skip, silu gate, softplus; out through the staging arrays */
        R dDl = 0, dbl = 0;
#pragma unroll
        for (int i = 0; i < IT; i++)
          if (i < cnt) {
            const R uu = su[me + i], cf = scf[me + i];
            const R gout = O::C ? cf * (R)0.5 : cf;
            R dui = du[i], g1 = gd[i];
            if (a.Dv) {
              dDl += gout * uu;
              dui = gout * Dd + dui;
            }
            if (!ev) g1 += gda[i];
            if (a.softplus) g1 = g1 / sx[me + i];
            dbl += g1;
            if (a.z) {
              R o = O::C ? (R)2 * yacc[i] : yacc[i];
              if (a.Dv) o = o + Dd * uu;
              const R zz = sz[me + i], sg = (R)1 / sig_den(zz);
              sz[me + i] = sgy[me + i] * o * (sg * ((R)1 + zz * ((R)1 - sg))); /* dy · out · silu'(z) */
            }
            su[me + i] = dui;
            sd[me + i] = g1;
            if (ev) sda[me + i] = gda[i];
          }
        dDl = warp_sum(dDl);
        dbl = warp_sum(dbl);
        __syncwarp();
        if (lane == 0) {
          if (gr.dD_p) ((R *)gr.dD_p)[b * D + d] += dDl;
          if (gr.dbias_p) ((R *)gr.dbias_p)[b * D + d] += dbl;
        }
        for (int kk = lane; kk < nv; kk += 32) {
          const int slot = kk + kk / IT;
          ((R *)gr.du)[row + t0 + kk] = su[slot];
          ((R *)gr.ddelta)[row + t0 + kk] = sd[slot];
          if (ev) ((R *)gr.ddeltaA)[row + t0 + kk] = sda[slot];
          if (a.z) ((R *)gr.dz)[row + t0 + kk] = sz[slot];
        }
      }
    }
  }
  /* past the length: zeros */
  for (int r = 0; r < rounds; r++) {
    const int64_t dloc = slice0 + (int64_t)r * nw + w;
    if (dloc >= Dg) break;
    const int64_t row = (b * D + g * Dg + dloc) * L;
    for (int64_t t = len + lane; t < L; t += 32) {
      ((R *)gr.du)[row + t] = (R)0;
      ((R *)gr.ddelta)[row + t] = (R)0;
      if (ev) ((R *)gr.ddeltaA)[row + t] = (R)0;
      if (a.z) ((R *)gr.dz)[row + t] = (R)0;
    }
  }
  if (red && L > len) {
    for (int q = 0; q < 2; q++) {
      T *o = q == 0 ? (vb ? pB : NULL) : (vc ? pC : NULL);
      if (!o) continue;
      o += (bg * ntile + tile) * N * L;
      for (int64_t i = threadIdx.x; i < N * (L - len); i += blockDim.x) o[(i / (L - len)) * L + len + i % (L - len)] = zero;
    }
  }
}

/* Geometry of the fast backward (the workspace size depends on it). */
struct BGeom {
  int nw, rounds, TLb;
  int64_t Gt, Dg, ntile;
  size_t smem, part; /* part: elements of one partial buffer (0: none, written in place) */
};


template <typename T> BGeom fbwd_geom(const lr_scan_in *a) {
  typedef typename Tr<T>::R R;
  constexpr int IT = FCfg<T>::B, SW = 32 * (IT + 1);
  BGeom q;
  const bool red = a->varB || a->varC;
  q.nw = kBW;
  q.TLb = a->chunk <= 32 * IT ? (int)((32 * IT / a->chunk) * a->chunk) : 0;
  q.Gt = red ? a->G : 1;
  q.Dg = a->D / q.Gt;
  q.rounds = 1;
  if (red) {
    /* about 4 blocks per SM in all; more rounds per block = fewer partial slices to add up */
    const int64_t per = (4 * (int64_t)sm_count() + a->Bn * q.Gt - 1) / (a->Bn * q.Gt);
    int64_t S = (q.Dg + per - 1) / per;
    S = (S + q.nw - 1) / q.nw * q.nw;
    q.rounds = (int)(S / q.nw);
    if (q.rounds < 1) q.rounds = 1;
  }
  const int64_t S = (int64_t)q.nw * q.rounds;
  q.ntile = (q.Dg + S - 1) / S;
  q.smem = (size_t)q.nw * 7 * SW * sizeof(R) + (red ? 2 * (size_t)q.nw * SW * sizeof(T) : 0);
  q.part = (red && q.ntile > 1) ? (size_t)(a->Bn * q.Gt * q.ntile * a->N * a->L) : 0;
  return q;
}

template <typename T, int DK, int VAR>
lr_status fbwd_t(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s) {
  typedef typename Tr<T>::R R;
  BGeom q = fbwd_geom<T>(a);
  if (!q.TLb)
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_kcuda_scan_bwd: checkpoint spacing %lld > %d", (long long)a->chunk,
                   32 * FCfg<T>::B);
  if (q.smem > smem_max())
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_kcuda_scan_bwd: %zu bytes of shared memory", q.smem);
  T *pB = NULL, *pC = NULL;
  char *p = (char *)ws;
  if (a->varB) {
    pB = q.part ? (T *)p : (T *)g->dB;
    p += q.part * sizeof(T);
  }
  if (a->varC) pC = q.part ? (T *)p : (T *)g->dC;
  const int64_t grid = a->Bn * q.Gt * q.ntile;
  auto k = fast_bwd<T, FCfg<T>::B, DK, VAR>;
  LR_CUDA_TRY("lr_kcuda_scan_bwd", cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)q.smem));
  k<<<(unsigned)grid, q.nw * 32, q.smem, s>>>(*a, *g, q.Gt, q.Dg, q.ntile, q.rounds, q.TLb, (const T *)ckpt, pB, pC);
  LR_TRY(lr_cuda_check_launch("lr_kcuda_scan_bwd"));
  if (q.part) {
    const int64_t wm = Tr<T>::C ? 2 : 1, M = a->N * a->L * wm;
    if (a->varB) LR_TRY(launch_sum_mid<R>(pB, g->dB, a->Bn * q.Gt, q.ntile, M, s));
    if (a->varC) LR_TRY(launch_sum_mid<R>(pC, g->dC, a->Bn * q.Gt, q.ntile, M, s));
  }
  return LR_OK;
}

template <typename T> lr_status fbwd_d(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s) {
  if constexpr (sizeof(typename Tr<T>::R) == 4) {
    const bool spec = !a->deltaA && a->varB == a->varC && (a->disc == LR_DISC_MAMBA || a->disc == LR_DISC_ZOH);
    if (spec && a->disc == LR_DISC_MAMBA)
      return a->varB ? fbwd_t<T, LR_DISC_MAMBA, 1>(a, ckpt, g, ws, s) : fbwd_t<T, LR_DISC_MAMBA, 0>(a, ckpt, g, ws, s);
    if (spec) return a->varB ? fbwd_t<T, LR_DISC_ZOH, 1>(a, ckpt, g, ws, s) : fbwd_t<T, LR_DISC_ZOH, 0>(a, ckpt, g, ws, s);
  }
  return fbwd_t<T, -1, 2>(a, ckpt, g, ws, s);
}

/* ================= diagonal scan =================
 * A warp per (b, p) row, lane l taking step t0 + l of each 32-step tile, so that every load and
 * store is 32 consecutive elements; the tile's recurrence runs as a warp scan and its last state
 * carries into the next tile. Two forms (dscan_fwd_w, dscan_bwd_w):
 * - S5's case (Δ and Δ_A per state, no resets; VAR false): Ā, B̄ and their partials are fixed per
 *   row, so the scan uses the powers Ā^d (d = 1, 2, 4, 8, 16) and the state entering a tile comes in
 *   with Ā^(l+1) (backward: the adjoint G_t = g_t + conj(Ā) G_{t+1} by the reverse scan, carried in
 *   from the tile after with conj(Ā)^(top-t)).
 * - Otherwise (Δ or Δ_A per step, resets; VAR true): each lane discretizes its own step and the
 *   scan composes the affine step maps h -> A h + B̄ x (A = Ā, 0 at a reset); the backward composes
 *   the adjoint's maps E -> c E + c g from the top (E_t = dL/dh_{t-1}, c = conj(Ā_t), 0 at a reset).
 *   With Δ per state and Δ_A per step (Event-SSM; dsplit) B̄ and its partials are worked out once
 *   per row and only Ā per step (lr_disc_deriv_a).
 * Sums in another order than the CPU's sequential loop: they agree to rounding. dλ's lane partials
 * add up by a fixed butterfly, so the backward is deterministic. H200, B 8, P 2048, L 4096, c64
 * (lrnnx bench scan): S5's case forward 1.38 (a thread per row before) -> 0.397 ms, backward 3.20 ->
 * 0.879 ms, 67% and 68% of a copy's bandwidth for the bytes they must move; Event-SSM's (Δ_A per
 * step) 2.34 -> 0.83 ms and 14.2 -> 1.68 ms (40% and 43%; 1.12 and 1.78 before B̄ went per row); at
 * B 2, P 256, L 1024 0.146 -> 0.032 and 3.44 -> 0.041 ms.
 */
/* Ā^e for 0 <= e < 32 from pw[k] = Ā^(2^k) */
template <typename T> __device__ __forceinline__ T dpow(const T (&pw)[5], int e) {
  typedef typename Tr<T>::R R;
  T r = Tr<T>::r((R)1);
#pragma unroll
  for (int k = 0; k < 5; k++)
    if ((e >> k) & 1) r = Tr<T>::mul(r, pw[k]);
  return r;
}

/* A row's Ā and B̄ (and partials pp): C64 by the shared full-precision math, not the device's
 * hardware functions (once per row they gain nothing, and inlined they cost the S5 kernels registers:
 * 0.393 -> 0.43 and 0.87 -> 1.0 ms on an H200) */
template <typename T>
__device__ __forceinline__ void drow_disc(int k, T lam, typename Tr<T>::R a0, typename Tr<T>::R d0, T *ab, T *bb, T *pp) {
  if (pp) Tr<T>::deriv(k, lam, a0, d0, ab, bb, pp);
  else Tr<T>::eval(k, lam, a0, d0, ab, bb);
}
template <>
__device__ __forceinline__ void drow_disc<lr_c64>(int k, lr_c64 lam, float a0, float d0, lr_c64 *ab, lr_c64 *bb,
                                                  lr_c64 *pp) {
  if (pp) lr_disc_deriv_cf(k, lam, a0, d0, ab, bb, pp);
  else lr_disc_eval_cf(k, lam, a0, d0, ab, bb);
}

/* the row's Ā (or conj Ā) and its powers; d0 / a0: Δ and Δ_A of state p */
template <typename T>
__device__ __forceinline__ void drow(const lr_dscan_in &a, int64_t p, T *ab, T *bb, T *pp, T (&pw)[5], bool conj) {
  typedef typename Tr<T>::R R;
  const T lam = ((const T *)a.lam)[p];
  const R d0 = ((const R *)a.delta)[p], a0 = a.deltaA ? ((const R *)a.deltaA)[p] : d0;
  drow_disc<T>(a.disc, lam, a0, d0, ab, bb, pp);
  pw[0] = conj ? Tr<T>::conj(*ab) : *ab;
#pragma unroll
  for (int k = 1; k < 5; k++) pw[k] = Tr<T>::mul(pw[k - 1], pw[k - 1]);
}

/* Δ per state, Δ_A per step and a kind whose B̄ depends on Δ only (lr_disc_split) */
__host__ __device__ __forceinline__ bool dsplit(const lr_dscan_in &a) {
  return a.delta_bcast && a.deltaA && !a.deltaA_bcast && lr_disc_split(a.disc);
}

/* Ā and B̄ of step t of row i (VAR: Δ or Δ_A per step) */
template <typename T>
__device__ __forceinline__ void dstep(const lr_dscan_in &a, int64_t i, int64_t t, T lam, T *ab, T *bb, T *pp) {
  typedef typename Tr<T>::R R;
  const int64_t p = i % a.P;
  const R d = a.delta_bcast ? ((const R *)a.delta)[p] : ((const R *)a.delta)[i * a.L + t];
  const R da = !a.deltaA ? d : a.deltaA_bcast ? ((const R *)a.deltaA)[p] : ((const R *)a.deltaA)[i * a.L + t];
  if (pp) Tr<T>::deriv(a.disc, lam, da, d, ab, bb, pp);
  else Tr<T>::eval(a.disc, lam, da, d, ab, bb);
}

template <typename T, bool VAR> __global__ void dscan_fwd_w(lr_dscan_in a, T *__restrict__ h, T *__restrict__ hL) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  const int lane = threadIdx.x & 31;
  const int64_t P = a.P, L = a.L, BP = a.Bn * P, nw = (int64_t)gridDim.x * (blockDim.x / 32);
  const T zero = O::r((R)0), one = O::r((R)1);
  for (int64_t i = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; i < BP; i += nw) {
    const int64_t b = i / P, p = i % P, len = a.lengths ? a.lengths[b] : L;
    const T *__restrict__ x = (const T *)a.x + i * L;
    const uint8_t *__restrict__ rs = a.reset ? a.reset + b * L : NULL;
    T *__restrict__ hr = h + i * L;
    T ab, bb, pw[5];
    const T lam = ((const T *)a.lam)[p];
    if (!VAR) drow(a, p, &ab, &bb, (T *)NULL, pw, false);
    const T pl = VAR ? zero : O::mul(pw[0], dpow(pw, lane)); /* Ā^(l+1): the carried-in state's weight */
    /* Event-SSM's case (Δ per state, Δ_A per step, a kind with B̄ of Δ only): B̄ once, Ā per step */
    const bool split = VAR && dsplit(a);
    T bbr = zero;
    if (split) {
      T abr;
      O::eval(a.disc, lam, ((const R *)a.delta)[p], ((const R *)a.delta)[p], &abr, &bbr);
    }
    T s = a.h0 ? ((const T *)a.h0)[i] : zero; /* the state entering the tile */
    for (int64_t t0 = 0; t0 < L; t0 += 32) {
      const int64_t t = t0 + lane;
      const bool v = t < len;
      T H, A; /* VAR: lane l's map h -> A h + H, composed with the earlier lanes' */
      if (VAR) {
        if (v && split) {
          T pa[2];
          O::deriv_a(a.disc, lam, ((const R *)a.deltaA)[i * L + t], &ab, pa);
          bb = bbr;
        } else if (v) {
          dstep(a, i, t, lam, &ab, &bb, (T *)NULL);
        }
        A = !v ? one : (rs && rs[t]) ? zero : ab;
        H = v ? O::mul(bb, x[t]) : zero;
#pragma unroll
        for (int k = 0; k < 5; k++) {
          const T oA = shup(A, 1 << k), oH = shup(H, 1 << k);
          if (lane >= (1 << k)) H = O::add(H, O::mul(A, oH)), A = O::mul(A, oA);
        }
      } else {
        H = v ? O::mul(bb, x[t]) : zero;
#pragma unroll
        for (int k = 0; k < 5; k++) { /* H_l = Σ_{s <= l} Ā^(l-s) B̄ x_s */
          const T o = shup(H, 1 << k);
          if (lane >= (1 << k)) H = O::add(H, O::mul(pw[k], o));
        }
      }
      if (t0 < len) {
        H = O::add(H, O::mul(VAR ? A : pl, s));
        const int64_t last = (len - t0 < 32 ? len - t0 : 32) - 1;
        s = shix(H, (int)last);
      }
      if (t < L) hr[t] = v ? H : zero;
    }
    if (lane == 0) hL[i] = s;
  }
}

template <typename T, bool VAR>
__global__ void dscan_bwd_w(lr_dscan_in a, const T *__restrict__ h, const T *__restrict__ gh, const T *__restrict__ ghL,
                            T *__restrict__ dx, T *__restrict__ dlam_p, typename Tr<T>::R *__restrict__ ddl,
                            typename Tr<T>::R *__restrict__ ddla, T *__restrict__ dh0) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  const int lane = threadIdx.x & 31;
  const int64_t P = a.P, L = a.L, BP = a.Bn * P, nw = (int64_t)gridDim.x * (blockDim.x / 32);
  const T zero = O::r((R)0), one = O::r((R)1);
  for (int64_t i = (int64_t)blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32; i < BP; i += nw) {
    const int64_t b = i / P, p = i % P, len = a.lengths ? a.lengths[b] : L;
    const T *__restrict__ x = (const T *)a.x + i * L, *__restrict__ hr = h + i * L;
    const T *__restrict__ ghr = gh ? gh + i * L : NULL;
    const uint8_t *__restrict__ rs = a.reset ? a.reset + b * L : NULL;
    const T h0 = a.h0 ? ((const T *)a.h0)[i] : zero, lam = ((const T *)a.lam)[p];
    T ab, bb, pp[6], pw[5]; /* pw: powers of conj Ā */
    if (!VAR) drow(a, p, &ab, &bb, pp, pw, true);
    const T pl31 = VAR ? zero : dpow(pw, 31 - lane);
    const bool split = VAR && dsplit(a); /* as the forward: B̄ and its partials once */
    T bbr = zero, ppr[6];
    if (split) {
      T abr;
      O::deriv(a.disc, lam, ((const R *)a.delta)[p], ((const R *)a.delta)[p], &abr, &bbr, ppr);
    }
    for (int64_t t = len + lane; t < L; t += 32) { /* past the length: nothing flows */
      dx[i * L + t] = zero;
      ddl[i * L + t] = 0;
      if (ddla) ddla[i * L + t] = 0;
    }
    T K = ghL ? ghL[i] : zero, dl_acc = zero; /* K: dL/dh flowing into the tile's top step */
    for (int64_t t0 = len > 0 ? (len - 1) / 32 * 32 : -32; t0 >= 0; t0 -= 32) {
      const int64_t t = t0 + lane, top = len - 1 - t0 < 31 ? len - 1 - t0 : 31;
      const bool v = lane <= top;
      T G = (v && ghr) ? ghr[t] : zero;
      const bool rst = v && rs && rs[t];
      if (VAR) {
        /* E_t = dL/dh_{t-1} = c_t (g_t + E_{t+1}), c_t = conj(Ā_t) (0 at a reset): lane l's map
         * in -> c in + c g, composed with the later lanes' (identity past the top), applied to K */
        if (v && split) {
          O::deriv_a(a.disc, lam, ((const R *)a.deltaA)[i * L + t], &ab, pp); /* pp[0], pp[1] */
          bb = bbr, pp[2] = zero, pp[3] = ppr[3], pp[4] = ppr[4], pp[5] = ppr[5];
        } else if (v) {
          dstep(a, i, t, lam, &ab, &bb, pp);
        }
        T c = !v ? one : rst ? zero : O::conj(ab), e = O::mul(c, G);
#pragma unroll
        for (int k = 0; k < 5; k++) {
          const T oc = shdn(c, 1 << k), oe = shdn(e, 1 << k);
          if (lane + (1 << k) < 32) e = O::add(e, O::mul(c, oe)), c = O::mul(c, oc);
        }
        const T E = O::add(O::mul(c, K), e), En = shdn(E, 1); /* E_t, E_{t+1} */
        G = O::add(G, lane == 31 ? K : En);
        K = shix(E, 0);
      } else {
#pragma unroll
        for (int k = 0; k < 5; k++) { /* G_l = Σ_{s >= l} conj(Ā)^(s-l) g_s */
          const T o = shdn(G, 1 << k);
          if (lane + (1 << k) < 32) G = O::add(G, O::mul(pw[k], o));
        }
        G = O::add(G, O::mul(top == 31 ? pl31 : dpow(pw, v ? (int)top - lane : 0), K));
        K = O::mul(pw[0], shix(G, 0));
      }
      if (v) {
        const T hp = rst ? zero : t ? hr[t - 1] : h0;
        const T gA = O::mul(G, O::conj(hp)), gB = O::mul(G, O::conj(x[t]));
        dx[i * L + t] = O::mul(G, O::conj(bb));
        dl_acc = O::add(dl_acc, O::add(O::mul(gA, O::conj(pp[0])), O::mul(gB, O::conj(pp[3]))));
        const R gda = O::redot(gA, pp[1]) + O::redot(gB, pp[4]);
        R gd = O::redot(gA, pp[2]) + O::redot(gB, pp[5]);
        if (ddla) ddla[i * L + t] = gda;
        else gd += gda;
        ddl[i * L + t] = gd;
      }
    }
#pragma unroll
    for (int m = 16; m > 0; m >>= 1) dl_acc = O::add(dl_acc, shxor(dl_acc, m));
    if (lane == 0) {
      dlam_p[i] = dl_acc;
      dh0[i] = K;
    }
  }
}

/* dst[p] = Σ_b Σ_t src[b, p, t] in double, in the CPU's order. */
template <typename R> __global__ void sum_bl_k(const R *__restrict__ src, R *__restrict__ dst, int64_t Bn, int64_t P, int64_t L) {
  for (int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; p < P; p += (int64_t)blockDim.x * gridDim.x) {
    double acc = 0;
    for (int64_t b = 0; b < Bn; b++)
      for (int64_t t = 0; t < L; t++) acc += (double)src[(b * P + p) * L + t];
    dst[p] = (R)acc;
  }
}

/* ================= S5 readout ================= */
template <typename R>
__global__ void readout_k(int64_t n, int64_t H, int64_t L, R f, const R *__restrict__ yc, const R *__restrict__ u,
                          const R *__restrict__ D, R *__restrict__ y) {
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (int64_t)blockDim.x * gridDim.x)
    y[k] = D ? f * yc[2 * k] + D[(k / L) % H] * u[2 * k] : f * yc[2 * k];
}

template <typename R>
__global__ void readout_bwd_k(int64_t n, int64_t H, int64_t L, R f, const R *__restrict__ g, const R *__restrict__ D,
                              R *__restrict__ dyc, R *__restrict__ du) {
  for (int64_t k = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; k < n; k += (int64_t)blockDim.x * gridDim.x) {
    dyc[2 * k] = f * g[k];
    dyc[2 * k + 1] = 0;
    if (D) {
      du[2 * k] = D[(k / L) % H] * g[k];
      du[2 * k + 1] = 0;
    }
  }
}

template <typename R>
__global__ void readout_dD_k(int64_t BH, int64_t L, const R *__restrict__ g, const R *__restrict__ u, R *__restrict__ dDp) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < BH; i += (int64_t)blockDim.x * gridDim.x) {
    R acc = 0;
    for (int64_t t = 0; t < L; t++) acc += g[i * L + t] * u[2 * (i * L + t)];
    dDp[i] = acc;
  }
}

/* ================= discretize ================= */
struct DGeom {
  int ndim;
  int64_t shape[LR_MAX_DIMS], ls[LR_MAX_DIMS], ds[LR_MAX_DIMS], as[LR_MAX_DIMS];
};

__device__ __forceinline__ void offs(int64_t i, const DGeom &g, int64_t *lo, int64_t *dof, int64_t *ao) {
  int64_t l = 0, d = 0, a = 0;
  for (int k = g.ndim - 1; k >= 0; k--) {
    int64_t q = i % g.shape[k];
    i /= g.shape[k];
    l += q * g.ls[k];
    d += q * g.ds[k];
    a += q * g.as[k];
  }
  *lo = l, *dof = d, *ao = a;
}

template <typename T>
__global__ void disc_fwd_k(int kind, int64_t n, DGeom g, const T *__restrict__ lam, const typename Tr<T>::R *__restrict__ d,
                           const typename Tr<T>::R *__restrict__ dA, T *__restrict__ abar, T *__restrict__ bbar) {
  typedef typename Tr<T>::R R;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    int64_t lo, dof, ao;
    offs(i, g, &lo, &dof, &ao);
    R dv = d[dof], dav = dA ? dA[ao] : dv;
    T a, b;
    Tr<T>::eval(kind, lam[lo], dav, dv, &a, &b);
    abar[i] = a;
    bbar[i] = b;
  }
}

template <typename T>
__global__ void disc_bwd_k(int kind, int64_t n, DGeom g, const T *__restrict__ lam, const typename Tr<T>::R *__restrict__ d,
                           const typename Tr<T>::R *__restrict__ dA, const T *__restrict__ gA, const T *__restrict__ gB,
                           T *__restrict__ dlam, typename Tr<T>::R *__restrict__ dd, typename Tr<T>::R *__restrict__ ddA) {
  typedef typename Tr<T>::R R;
  typedef Tr<T> O;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    int64_t lo, dof, ao;
    offs(i, g, &lo, &dof, &ao);
    R dv = d[dof], dav = dA ? dA[ao] : dv;
    T a, b, p[6];
    O::deriv(kind, lam[lo], dav, dv, &a, &b, p);
    T ga = gA ? gA[i] : O::r((R)0), gb = gB ? gB[i] : O::r((R)0);
    if (dlam) dlam[i] = O::add(O::mul(ga, O::conj(p[0])), O::mul(gb, O::conj(p[3])));
    R gda = O::redot(ga, p[1]) + O::redot(gb, p[4]);
    R gd = O::redot(ga, p[2]) + O::redot(gb, p[5]);
    if (ddA) {
      ddA[i] = gda;
      if (dd) dd[i] = gd;
    } else if (dd) {
      dd[i] = gd + gda;
    }
  }
}

lr_status check_supported(const lr_scan_in *a, const char *fn) {
  if (a->chunk < 1 || a->chunk > LR_KCUDA_SCAN_MAX_CHUNK)
    return lr_fail(LR_ERR_INTERNAL, "%s: chunk %lld outside [1, %d]", fn, (long long)a->chunk, LR_KCUDA_SCAN_MAX_CHUNK);
  return LR_OK;
}

} // namespace

extern "C" size_t lr_kcuda_scan_ws_bytes(const lr_scan_in *a) {
  size_t part, w;
  size_t sq = seq_ws_elems(a);
  if (mamba_ws_elems(a) > sq) sq = mamba_ws_elems(a);
  if (a->rdt == LR_DTYPE_F32) {
    part = a->cplx ? fbwd_geom<lr_c64>(a).part : fbwd_geom<float>(a).part;
    w = a->cplx ? 8 : 4;
  } else {
    part = a->cplx ? fbwd_geom<lr_c128>(a).part : fbwd_geom<double>(a).part;
    w = a->cplx ? 16 : 8;
  }
  if (sq > part) part = sq;
  return part * w * ((a->varB ? 1 : 0) + (a->varC ? 1 : 0)) + 256;
}

extern "C" int lr_kcuda_scan_set_cpw(int cpw) {
  const int prev = scan_cpw();
  if (cpw == 1 || cpw == 4) g_cpw = cpw;
  return prev;
}

extern "C" int lr_kcuda_scan_set_path(int path) {
  const int prev = scan_path(); /* reads LRNNX_SCAN_PATH once */
  if (path >= 0 && path <= 3) g_scan_path = path;
  return prev;
}

extern "C" int64_t lr_kcuda_scan_chunk(const lr_scan_in *a) {
  lr_scan_in b = *a;
  b.chunk = mamba_chunk();
  if (mamba_bwd_ok(&b)) return mamba_chunk();
  b.chunk = seq_chunk();
  return seq_bwd_ok(&b) ? seq_chunk() : LR_KCUDA_SCAN_MAX_CHUNK;
}

extern "C" lr_status lr_kcuda_scan_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, lr_cuda_stream_t stream) {
  LR_TRY(check_supported(a, "lr_kcuda_scan_fwd"));
  if (a->Bn * a->D == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (mamba_fwd_ok(a)) return mamba_fwd(a, y, hL, ckpt, s);
  if (seq_fwd_ok(a)) return seq_fwd(a, y, hL, ckpt, s);
  if (a->rdt == LR_DTYPE_F32) return a->cplx ? ffwd_d<lr_c64>(a, y, hL, ckpt, s) : ffwd_d<float>(a, y, hL, ckpt, s);
  return a->cplx ? ffwd_d<lr_c128>(a, y, hL, ckpt, s) : ffwd_d<double>(a, y, hL, ckpt, s);
}

extern "C" lr_status lr_kcuda_scan_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws,
                                       lr_cuda_stream_t stream) {
  LR_TRY(check_supported(a, "lr_kcuda_scan_bwd"));
  if (a->Bn * a->D == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (mamba_bwd_ok(a)) return mamba_bwd(a, ckpt, g, ws, s);
  if (seq_bwd_ok(a)) return seq_bwd(a, ckpt, g, ws, s);
  if (a->rdt == LR_DTYPE_F32) return a->cplx ? fbwd_d<lr_c64>(a, ckpt, g, ws, s) : fbwd_d<float>(a, ckpt, g, ws, s);
  return a->cplx ? fbwd_d<lr_c128>(a, ckpt, g, ws, s) : fbwd_d<double>(a, ckpt, g, ws, s);
}

extern "C" lr_status lr_kcuda_sum_leading(lr_dtype rdt, int64_t Bn, int64_t M, const void *src, void *dst,
                                          lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (rdt == LR_DTYPE_F32) return launch_sum_mid<float>(src, dst, 1, Bn, M, s);
  return launch_sum_mid<double>(src, dst, 1, Bn, M, s);
}

/* S5's case: Ā and B̄ fixed per row, no resets (the kernels' VAR false) */
bool dscan_cst(const lr_dscan_in *a) { return a->delta_bcast && (!a->deltaA || a->deltaA_bcast) && !a->reset; }

template <typename T> lr_status dscan_fwd_t(const lr_dscan_in *a, void *h, void *hL, cudaStream_t s) {
  (dscan_cst(a) ? dscan_fwd_w<T, false> : dscan_fwd_w<T, true>)<<<lr_cuda_blocks(a->Bn * a->P, 4), 128, 0, s>>>(
      *a, (T *)h, (T *)hL);
  return lr_cuda_check_launch("lr_kcuda_dscan_fwd");
}

extern "C" lr_status lr_kcuda_dscan_fwd(const lr_dscan_in *a, void *h, void *hL, lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (a->Bn * a->P == 0) return LR_OK;
  switch (a->dt) {
    case LR_DTYPE_F32: return dscan_fwd_t<float>(a, h, hL, s);
    case LR_DTYPE_F64: return dscan_fwd_t<double>(a, h, hL, s);
    case LR_DTYPE_C64: return dscan_fwd_t<lr_c64>(a, h, hL, s);
    case LR_DTYPE_C128: return dscan_fwd_t<lr_c128>(a, h, hL, s);
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_dscan_fwd: dtype %s", lr_dtype_name(a->dt));
  }
}

extern "C" lr_status lr_kcuda_dscan_bwd(const lr_dscan_in *a, const void *h, const void *gh, const void *ghL, void *dx,
                                        void *dlam_p, void *ddelta, void *ddeltaA, void *dh0, lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  int64_t BP = a->Bn * a->P;
  if (BP == 0) return LR_OK;
  const bool cst = dscan_cst(a);
  const unsigned blocks = lr_cuda_blocks(BP, 4);
#define DSB(T, R)                                                                                                  \
  (cst ? dscan_bwd_w<T, false> : dscan_bwd_w<T, true>)<<<blocks, 128, 0, s>>>(                                      \
      *a, (const T *)h, (const T *)gh, (const T *)ghL, (T *)dx, (T *)dlam_p, (R *)ddelta, (R *)ddeltaA, (T *)dh0)
  switch (a->dt) {
    case LR_DTYPE_F32: DSB(float, float); break;
    case LR_DTYPE_F64: DSB(double, double); break;
    case LR_DTYPE_C64: DSB(lr_c64, float); break;
    case LR_DTYPE_C128: DSB(lr_c128, double); break;
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_dscan_bwd: dtype %s", lr_dtype_name(a->dt));
  }
#undef DSB
  return lr_cuda_check_launch("lr_kcuda_dscan_bwd");
}

extern "C" lr_status lr_kcuda_sum_bl(lr_dtype rdt, int64_t Bn, int64_t P, int64_t L, const void *src, void *dst,
                                     lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (P == 0) return LR_OK;
  if (rdt == LR_DTYPE_F32) sum_bl_k<float><<<lr_cuda_blocks(P, 128), 128, 0, s>>>((const float *)src, (float *)dst, Bn, P, L);
  else sum_bl_k<double><<<lr_cuda_blocks(P, 128), 128, 0, s>>>((const double *)src, (double *)dst, Bn, P, L);
  return lr_cuda_check_launch("lr_kcuda_sum_bl");
}

extern "C" lr_status lr_kcuda_s5_readout(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *yc,
                                         const void *u, const void *D, void *y, lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  int64_t n = Bn * H * L;
  if (n == 0) return LR_OK;
  if (cdt == LR_DTYPE_C64)
    readout_k<float><<<lr_cuda_blocks(n, 256), 256, 0, s>>>(n, H, L, (float)f, (const float *)yc, (const float *)u,
                                                           (const float *)D, (float *)y);
  else
    readout_k<double><<<lr_cuda_blocks(n, 256), 256, 0, s>>>(n, H, L, f, (const double *)yc, (const double *)u,
                                                            (const double *)D, (double *)y);
  return lr_cuda_check_launch("lr_kcuda_s5_readout");
}

extern "C" lr_status lr_kcuda_s5_readout_bwd(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *g,
                                             const void *u, const void *D, void *dyc, void *du, void *dD_p,
                                             lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  int64_t n = Bn * H * L;
  if (n == 0) {
    if (D && Bn * H > 0) LR_CUDA_TRY("lr_kcuda_s5_readout_bwd", cudaMemsetAsync(dD_p, 0, (size_t)(Bn * H) * lr_dtype_size(lr_dtype_real(cdt)), s));
    return LR_OK;
  }
  if (cdt == LR_DTYPE_C64) {
    readout_bwd_k<float><<<lr_cuda_blocks(n, 256), 256, 0, s>>>(n, H, L, (float)f, (const float *)g, (const float *)D,
                                                               (float *)dyc, (float *)du);
    if (D) readout_dD_k<float><<<lr_cuda_blocks(Bn * H, 128), 128, 0, s>>>(Bn * H, L, (const float *)g, (const float *)u, (float *)dD_p);
  } else {
    readout_bwd_k<double><<<lr_cuda_blocks(n, 256), 256, 0, s>>>(n, H, L, f, (const double *)g, (const double *)D,
                                                                (double *)dyc, (double *)du);
    if (D) readout_dD_k<double><<<lr_cuda_blocks(Bn * H, 128), 128, 0, s>>>(Bn * H, L, (const double *)g, (const double *)u, (double *)dD_p);
  }
  return lr_cuda_check_launch("lr_kcuda_s5_readout_bwd");
}

static DGeom dgeom(int ndim, const int64_t *shape, const int64_t *ls, const int64_t *ds, const int64_t *as, int64_t *n) {
  DGeom g;
  g.ndim = ndim;
  *n = 1;
  for (int k = 0; k < ndim; k++) {
    g.shape[k] = shape[k];
    g.ls[k] = ls[k];
    g.ds[k] = ds[k];
    g.as[k] = as ? as[k] : 0;
    *n *= shape[k];
  }
  return g;
}

extern "C" lr_status lr_kcuda_discretize(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam,
                                         const int64_t *ls, const void *d, const int64_t *ds, const void *dA,
                                         const int64_t *dAs, void *abar, void *bbar, lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  int64_t n;
  DGeom g = dgeom(ndim, shape, ls, ds, dA ? dAs : NULL, &n);
  if (n == 0) return LR_OK;
  unsigned blocks = lr_cuda_blocks(n, 256);
#define DF(T, R) disc_fwd_k<T><<<blocks, 256, 0, s>>>(kind, n, g, (const T *)lam, (const R *)d, (const R *)dA, (T *)abar, (T *)bbar)
  switch (dt) {
    case LR_DTYPE_F32: DF(float, float); break;
    case LR_DTYPE_F64: DF(double, double); break;
    case LR_DTYPE_C64: DF(lr_c64, float); break;
    case LR_DTYPE_C128: DF(lr_c128, double); break;
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_discretize: dtype %s", lr_dtype_name(dt));
  }
#undef DF
  return lr_cuda_check_launch("lr_kcuda_discretize");
}

extern "C" lr_status lr_kcuda_discretize_bwd(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam,
                                             const int64_t *ls, const void *d, const int64_t *ds, const void *dA,
                                             const int64_t *dAs, const void *gA, const void *gB, void *dlam, void *dd,
                                             void *ddA, lr_cuda_stream_t stream) {
  cudaStream_t s = lr_cuda_pick_stream(stream);
  int64_t n;
  DGeom g = dgeom(ndim, shape, ls, ds, dA ? dAs : NULL, &n);
  if (n == 0) return LR_OK;
  unsigned blocks = lr_cuda_blocks(n, 256);
#define DB(T, R)                                                                                                    \
  disc_bwd_k<T><<<blocks, 256, 0, s>>>(kind, n, g, (const T *)lam, (const R *)d, (const R *)dA, (const T *)gA,      \
                                       (const T *)gB, (T *)dlam, (R *)dd, (R *)ddA)
  switch (dt) {
    case LR_DTYPE_F32: DB(float, float); break;
    case LR_DTYPE_F64: DB(double, double); break;
    case LR_DTYPE_C64: DB(lr_c64, float); break;
    case LR_DTYPE_C128: DB(lr_c128, double); break;
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_discretize_bwd: dtype %s", lr_dtype_name(dt));
  }
#undef DB
  return lr_cuda_check_launch("lr_kcuda_discretize_bwd");
}
