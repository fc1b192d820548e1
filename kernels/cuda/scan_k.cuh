/* Device math shared by the scan kernels (scan.cu: the time-parallel tile kernels, the diagonal
 * scan, discretization; scan_seq.cu: the channel-sequential kernels): per-dtype arithmetic over the
 * LR_HD discretization math of kernels/discretize_math.h, Δ's softplus, SiLU's denominator, warp
 * shuffles of every dtype, the device's limits. Not installed, not for C. */
#ifndef LR_KCUDA_SCAN_K_CUH
#define LR_KCUDA_SCAN_K_CUH

#include "kernels/cuda/common.cuh"

namespace lr_scank {

/* ---- per-dtype arithmetic over the shared LR_HD discretization math ---- */
template <typename T> struct Tr;
#define LR_SCAN_TRAITS(S, TT, RR, CX)                                                                          \
  template <> struct Tr<TT> {                                                                                 \
    typedef RR R;                                                                                             \
    static constexpr bool C = CX;                                                                             \
    __device__ static TT mul(TT a, TT b) { return dm_mul_##S(a, b); }                                         \
    __device__ static TT add(TT a, TT b) { return dm_add_##S(a, b); }                                         \
    __device__ static TT scale(TT a, RR s) { return dm_scale_##S(a, s); }                                     \
    __device__ static TT conj(TT a) { return dm_conj_##S(a); }                                                \
    __device__ static TT r(RR x) { return dm_r_##S(x); }                                                      \
    __device__ static RR redot(TT a, TT b) { return dm_redot_##S(a, b); }                                     \
    __host__ __device__ static void eval(int k, TT lam, RR dA, RR d, TT *a, TT *b) {                          \
      lr_disc_eval_##S(k, lam, dA, d, a, b);                                                                  \
    }                                                                                                         \
    __host__ __device__ static void deriv(int k, TT lam, RR dA, RR d, TT *a, TT *b, TT *p) {                  \
      lr_disc_deriv_##S(k, lam, dA, d, a, b, p);                                                              \
    }                                                                                                         \
    __host__ __device__ static void deriv_a(int k, TT lam, RR dA, TT *a, TT *pa) {                            \
      lr_disc_deriv_a_##S(k, lam, dA, a, pa);                                                                 \
    }                                                                                                         \
  };
LR_SCAN_TRAITS(f, float, float, false)
LR_SCAN_TRAITS(d, double, double, false)
LR_SCAN_TRAITS(cd, lr_c128, double, true)

/* 2^x by the hardware (ex2.approx.ftz: about 2 ulp): F32 mamba's Ā = 2^(Δ A log2 e). */
__device__ __forceinline__ float ex2(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

/* 1 / x by the hardware (rcp.approx.ftz: about 1 ulp) */
__device__ __forceinline__ float rcpa(float x) {
  float r;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

/* ---- F32 complex (c64) on the device: the hardware's special functions ----
 * The shared c64 math calls expf, sinf, cosf, expm1f and divides (three sines or cosines, two
 * exponentials and a complex division per state and step for zoh); on an H200 that made the complex
 * selective scan 53x slower than the real one (bench scan, B 8, D 2048, L 4096, N 16: 27.7 / 124 ms,
 * 2.8% / 0.6% of the special-function peak; with these 5.43 / 20.0 ms, 14% / 3.9%, the forward's
 * kernel also taking the kind at compile time and 4 blocks an SM, scan_seq.cu). On the device
 * (cf_*) e^x is ex2.approx (~2 ulp), sin and cos are sin/cos.approx after a two-constant reduction
 * of the angle to [-π, π] (absolute error about 2^-20.5 there, i.e. ~1e-6 of |Ā|), 1/q is
 * conj(q) rcp.approx(|q|²) (~1 ulp), and φ1 and ψ take their series where the closed forms would
 * cancel (|v| < 1/2; to v^7: truncation < 2e-8). The formulas and the cases are lr_disc_eval /
 * lr_disc_deriv / lr_disc_deriv_a's (kernels/discretize_math_impl.h); the CPU keeps the
 * full-precision ones, and the CUDA parity tests compare the two (test_cuda_parity_scan's
 * discretize_c64_angles: Ā within 4e-6 of |Ā| at angles to ±90 rad). */
__device__ __forceinline__ lr_c64 cf_mul(lr_c64 a, lr_c64 b) {
  return lr_c64_make(fmaf(a.re, b.re, -a.im * b.im), fmaf(a.re, b.im, a.im * b.re));
}
__device__ __forceinline__ lr_c64 cf_inv(lr_c64 q) { /* 1 / q */
  const float r = rcpa(fmaf(q.re, q.re, q.im * q.im));
  return lr_c64_make(q.re * r, -q.im * r);
}
/* e^v */
__device__ __forceinline__ lr_c64 cf_exp(lr_c64 v) {
  const float k = rintf(v.im * 0.159154943091895336f); /* the angle less k·2π, in [-π, π] */
  float r = fmaf(-k, 6.28318548202514648f, v.im);
  r = fmaf(-k, -1.74845553146951718e-7f, r);
  float s, c;
  asm("sin.approx.ftz.f32 %0, %1;" : "=f"(s) : "f"(r));
  asm("cos.approx.ftz.f32 %0, %1;" : "=f"(c) : "f"(r));
  const float m = ex2(v.re * 1.44269504088896341f);
  return lr_c64_make(m * c, m * s);
}
/* Σ_k c[k] v^k, k <= 7, by Horner */
__device__ __forceinline__ lr_c64 cf_poly(lr_c64 v, const float (&c)[8]) {
  lr_c64 p = lr_c64_make(c[7], 0.f);
#pragma unroll
  for (int k = 6; k >= 0; k--) {
    p = cf_mul(p, v);
    p.re += c[k];
  }
  return p;
}
__device__ __forceinline__ bool cf_small(lr_c64 v) { return fmaf(v.re, v.re, v.im * v.im) < 0.25f; }
/* zoh's B̄ = Δ φ1(v) = (e^v - 1) / λ and ∂B̄/∂λ = Δ² ψ(v) = ((v - 1) e^v + 1) / λ², v = Δλ, from
 * e = e^v: the closed forms for |v| >= 1/2 (1 / λ is the state's constant: the compiler takes it
 * out of the time loop), the series of φ1 and ψ below (λ = 0 takes the series) */
__device__ __forceinline__ lr_c64 cf_zohb(lr_c64 lam, float d, lr_c64 e) {
  const float c[8] = {1.f, 1.f / 2, 1.f / 6, 1.f / 24, 1.f / 120, 1.f / 720, 1.f / 5040, 1.f / 40320};
  const lr_c64 v = lr_c64_scale(lam, d);
  if (cf_small(v)) return lr_c64_scale(cf_poly(v, c), d);
  return cf_mul(lr_c64_make(e.re - 1.f, e.im), cf_inv(lam));
}
__device__ __forceinline__ lr_c64 cf_zohdb(lr_c64 lam, float d, lr_c64 e) {
  const float c[8] = {1.f / 2, 1.f / 3, 1.f / 8, 1.f / 30, 1.f / 144, 1.f / 840, 1.f / 5760, 1.f / 45360};
  const lr_c64 v = lr_c64_scale(lam, d);
  if (cf_small(v)) return lr_c64_scale(cf_poly(v, c), d * d);
  lr_c64 n = cf_mul(lr_c64_make(v.re - 1.f, v.im), e);
  n.re += 1.f;
  const lr_c64 il = cf_inv(lam);
  return cf_mul(n, cf_mul(il, il));
}
/* lr_disc_eval's c64 cases */
__device__ __forceinline__ void cf_eval(int kind, lr_c64 lam, float dA, float d, lr_c64 *abar, lr_c64 *bbar) {
  switch (kind) {
  case LR_DISC_ZOH: {
    const lr_c64 e = cf_exp(lr_c64_scale(lam, d));
    *abar = dA == d ? e : cf_exp(lr_c64_scale(lam, dA));
    *bbar = cf_zohb(lam, d, e);
    break;
  }
  case LR_DISC_BILINEAR: {
    const lr_c64 hv = lr_c64_scale(lam, dA * 0.5f), hb = lr_c64_scale(lam, d * 0.5f);
    *abar = cf_mul(lr_c64_make(1.f + hv.re, hv.im), cf_inv(lr_c64_make(1.f - hv.re, -hv.im)));
    *bbar = lr_c64_scale(cf_inv(lr_c64_make(1.f - hb.re, -hb.im)), d);
    break;
  }
  case LR_DISC_ASYNC: {
    *abar = cf_exp(lr_c64_scale(lam, dA));
    *bbar = cf_zohb(lam, dA, *abar);
    break;
  }
  case LR_DISC_NONE:
    *abar = lam;
    *bbar = lr_c64_make(1.f, 0.f);
    break;
  case LR_DISC_DIRAC:
    *abar = cf_exp(lr_c64_scale(lam, dA));
    *bbar = lr_c64_make(1.f, 0.f);
    break;
  default: /* mamba */
    *abar = cf_exp(lr_c64_scale(lam, dA));
    *bbar = lr_c64_make(d, 0.f);
    break;
  }
}
/* lr_disc_deriv_a's: Ā and pa[2] = ∂Ā/∂λ, ∂Ā/∂Δ_A (cf_eval's Ā bits) */
__device__ __forceinline__ void cf_deriv_a(int kind, lr_c64 lam, float dA, lr_c64 *abar, lr_c64 *pa) {
  if (kind == LR_DISC_BILINEAR) {
    const lr_c64 hv = lr_c64_scale(lam, dA * 0.5f);
    const lr_c64 qa = cf_inv(lr_c64_make(1.f - hv.re, -hv.im)), ia2 = cf_mul(qa, qa);
    *abar = cf_mul(lr_c64_make(1.f + hv.re, hv.im), qa);
    pa[0] = lr_c64_scale(ia2, dA);
    pa[1] = cf_mul(lam, ia2);
    return;
  }
  *abar = cf_exp(lr_c64_scale(lam, dA));
  pa[0] = lr_c64_scale(*abar, dA);
  pa[1] = cf_mul(lam, *abar);
}
/* lr_disc_deriv's c64 cases: Ā, B̄ (cf_eval's bits) and p[6] = ∂Ā/∂λ, ∂Ā/∂Δ_A, ∂Ā/∂Δ, ∂B̄/∂λ,
 * ∂B̄/∂Δ_A, ∂B̄/∂Δ; Ā and its first two from cf_deriv_a (zoh's e^{Δλ} is Ā when Δ_A = Δ).
 * (Handing the tile backward's recomputed Ā in here instead of evaluating it again measured slower
 * on an H200, B 8, D 2048, L 4096, N 16: 21.2 ms against 20.1 with Ā evaluated again at reset steps,
 * 20.8 keeping the un-reset Ā per step.) */
__device__ __forceinline__ void cf_deriv(int kind, lr_c64 lam, float dA, float d, lr_c64 *abar, lr_c64 *bbar,
                                         lr_c64 *p) {
  const lr_c64 zero = lr_c64_make(0.f, 0.f), one = lr_c64_make(1.f, 0.f);
  for (int i = 0; i < 6; i++) p[i] = zero;
  if (kind == LR_DISC_NONE) {
    *abar = lam;
    *bbar = one;
    p[0] = one;
    return;
  }
  cf_deriv_a(kind, lam, dA, abar, p);
  const lr_c64 ak = *abar;
  switch (kind) {
  case LR_DISC_BILINEAR: {
    const lr_c64 hb = lr_c64_scale(lam, d * 0.5f), qb = cf_inv(lr_c64_make(1.f - hb.re, -hb.im)),
                 ib2 = cf_mul(qb, qb);
    *bbar = lr_c64_scale(qb, d);
    p[3] = lr_c64_scale(ib2, d * d * 0.5f);
    p[5] = ib2;
    break;
  }
  case LR_DISC_ZOH: {
    const lr_c64 e = dA == d ? ak : cf_exp(lr_c64_scale(lam, d));
    *bbar = cf_zohb(lam, d, e);
    p[3] = cf_zohdb(lam, d, e);
    p[5] = e;
    break;
  }
  case LR_DISC_ASYNC:
    *bbar = cf_zohb(lam, dA, ak);
    p[3] = cf_zohdb(lam, dA, ak);
    p[4] = ak;
    break;
  case LR_DISC_DIRAC:
    *bbar = one;
    break;
  default: /* mamba */
    *bbar = lr_c64_make(d, 0.f);
    p[5] = one;
    break;
  }
}

/* Tr<lr_c64>: the shared math on the host, the cf_* functions on the device */
template <> struct Tr<lr_c64> {
  typedef float R;
  static constexpr bool C = true;
  __device__ static lr_c64 mul(lr_c64 a, lr_c64 b) { return dm_mul_cf(a, b); }
  __device__ static lr_c64 add(lr_c64 a, lr_c64 b) { return dm_add_cf(a, b); }
  __device__ static lr_c64 scale(lr_c64 a, float s) { return dm_scale_cf(a, s); }
  __device__ static lr_c64 conj(lr_c64 a) { return dm_conj_cf(a); }
  __device__ static lr_c64 r(float x) { return dm_r_cf(x); }
  __device__ static float redot(lr_c64 a, lr_c64 b) { return dm_redot_cf(a, b); }
  __host__ __device__ static void eval(int k, lr_c64 lam, float dA, float d, lr_c64 *a, lr_c64 *b) {
#ifdef __CUDA_ARCH__
    cf_eval(k, lam, dA, d, a, b);
#else
    lr_disc_eval_cf(k, lam, dA, d, a, b);
#endif
  }
  __host__ __device__ static void deriv(int k, lr_c64 lam, float dA, float d, lr_c64 *a, lr_c64 *b, lr_c64 *p) {
#ifdef __CUDA_ARCH__
    cf_deriv(k, lam, dA, d, a, b, p);
#else
    lr_disc_deriv_cf(k, lam, dA, d, a, b, p);
#endif
  }
  __host__ __device__ static void deriv_a(int k, lr_c64 lam, float dA, lr_c64 *a, lr_c64 *pa) {
#ifdef __CUDA_ARCH__
    cf_deriv_a(k, lam, dA, a, pa);
#else
    lr_disc_deriv_a_cf(k, lam, dA, a, pa);
#endif
  }
};

/* exp and log1p in the precision of R (the CPU evaluates these in double and rounds; in F32 the
 * GPU's float versions differ from that by an ulp or two, far cheaper than FP64 per element). */
__device__ __forceinline__ float ex_(float x) { return expf(x); }
__device__ __forceinline__ double ex_(double x) { return exp(x); }
__device__ __forceinline__ float l1p_(float x) { return log1pf(x); }
__device__ __forceinline__ double l1p_(double x) { return log1p(x); }

/* Δ after softplus (lrnnx: log1p(exp(x)) for x <= 20). */
template <typename R> __device__ __forceinline__ R delta_of(R x, bool softplus) {
  if (!softplus || x > (R)20) return x;
  return l1p_(ex_(x));
}

/* 1 + e^-z: silu(z) = z / this, σ(z) = 1 / this. */
template <typename R> __device__ __forceinline__ R sig_den(R z) { return (R)1 + ex_(-z); }

/* Dynamic shared memory a block may use: the device's opt-in limit (227 KiB on H100/H200, 163 KiB
 * on A100), at most 200 KiB. */
inline size_t smem_max() {
  static size_t v = 0;
  if (!v) {
    int dev = 0, optin = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess || optin <= 0)
      optin = 48 * 1024;
    v = (size_t)optin < 200 * 1024 ? (size_t)optin : 200 * 1024;
  }
  return v;
}


/* Streaming multiprocessors of the current device (132 when it cannot be asked). */
inline int sm_count() {
  static int v = 0;
  if (!v) {
    int dev = 0, c = 0;
    if (cudaGetDevice(&dev) != cudaSuccess || cudaDeviceGetAttribute(&c, cudaDevAttrMultiProcessorCount, dev) != cudaSuccess || c <= 0)
      c = 132;
    v = c;
  }
  return v;
}

__device__ __forceinline__ float shup(float v, int d) { return __shfl_up_sync(0xffffffffu, v, d); }
__device__ __forceinline__ double shup(double v, int d) { return __shfl_up_sync(0xffffffffu, v, d); }
__device__ __forceinline__ lr_c64 shup(lr_c64 v, int d) { return lr_c64_make(shup(v.re, d), shup(v.im, d)); }
__device__ __forceinline__ lr_c128 shup(lr_c128 v, int d) { return lr_c128_make(shup(v.re, d), shup(v.im, d)); }
__device__ __forceinline__ float shdn(float v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ double shdn(double v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ lr_c64 shdn(lr_c64 v, int d) { return lr_c64_make(shdn(v.re, d), shdn(v.im, d)); }
__device__ __forceinline__ lr_c128 shdn(lr_c128 v, int d) { return lr_c128_make(shdn(v.re, d), shdn(v.im, d)); }
__device__ __forceinline__ float shix(float v, int l) { return __shfl_sync(0xffffffffu, v, l); }
__device__ __forceinline__ double shix(double v, int l) { return __shfl_sync(0xffffffffu, v, l); }
__device__ __forceinline__ lr_c64 shix(lr_c64 v, int l) { return lr_c64_make(shix(v.re, l), shix(v.im, l)); }
__device__ __forceinline__ lr_c128 shix(lr_c128 v, int l) { return lr_c128_make(shix(v.re, l), shix(v.im, l)); }
__device__ __forceinline__ float shxor(float v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ double shxor(double v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
__device__ __forceinline__ lr_c64 shxor(lr_c64 v, int m) { return lr_c64_make(shxor(v.re, m), shxor(v.im, m)); }
__device__ __forceinline__ lr_c128 shxor(lr_c128 v, int m) { return lr_c128_make(shxor(v.re, m), shxor(v.im, m)); }

/* dst[o, m] = Σ_k src[o, k, m] for k < K in order (reals; complex as 2 reals). */
template <typename R>
__global__ void sum_mid(const R *__restrict__ src, R *__restrict__ dst, int64_t O_, int64_t K, int64_t M) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < O_ * M; i += (int64_t)blockDim.x * gridDim.x) {
    int64_t o = i / M, m = i % M;
    R acc = 0;
    for (int64_t k = 0; k < K; k++) acc += src[(o * K + k) * M + m];
    dst[i] = acc;
  }
}

template <typename R> lr_status launch_sum_mid(const void *src, void *dst, int64_t O_, int64_t K, int64_t M, cudaStream_t s) {
  if (O_ * M == 0) return LR_OK;
  sum_mid<R><<<lr_cuda_blocks(O_ * M, 256), 256, 0, s>>>((const R *)src, (R *)dst, O_, K, M);
  return lr_cuda_check_launch("lr_kcuda_scan");
}

/* ---- the channel-sequential kernels (scan_seq.cu) ----
 * seq_fwd_ok / seq_bwd_ok: whether the sequential kernel takes this problem (its size, N, the
 * alignment; `forced` = lr_kcuda_scan_set_path's setting); seq_chunk: the checkpoint spacing its
 * backward wants; seq_ws_elems: elements of one variable-dB/dC partial buffer of its backward. */
bool seq_fwd_ok(const lr_scan_in *a);
bool seq_bwd_ok(const lr_scan_in *a);
int seq_chunk();
size_t seq_ws_elems(const lr_scan_in *a);
lr_status seq_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s);
lr_status seq_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s);
/* 0 auto, 1 always the sequential kernels where they can run, 2 never, 3 the Mamba kernels wherever
 * they can run (lr_kcuda_scan_set_path); scan_path() reads LRNNX_SCAN_PATH (auto, seq, tile, mamba)
 * into it the first time. */
extern int g_scan_path;
int scan_path();

/* ---- Mamba's F32 case (scan_mamba.cu): real A, Ā = exp(ΔA), B̄ = Δ, N = 8·2^k <= 64, no
 * lengths, resets or Δ_A. Taken first: the forward at any size, the backward (auto) with channels
 * enough (48 threads an SM with variable B/C, 96 with fixed) or a short sequence; its checkpoint
 * spacing (mamba_chunk) is 16. */
bool mamba_fwd_ok(const lr_scan_in *a);
bool mamba_bwd_ok(const lr_scan_in *a);
int mamba_chunk();
size_t mamba_ws_elems(const lr_scan_in *a);
lr_status mamba_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, cudaStream_t s);
lr_status mamba_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, cudaStream_t s);

} // namespace lr_scank

#endif
