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
LR_SCAN_TRAITS(cf, lr_c64, float, true)
LR_SCAN_TRAITS(cd, lr_c128, double, true)

/* exp and log1p in the precision of R (the CPU evaluates these in double and rounds; in F32 the
 * GPU's float versions differ from that by an ulp or two, far cheaper than FP64 per element). */
__device__ __forceinline__ float ex_(float x) { return expf(x); }
__device__ __forceinline__ double ex_(double x) { return exp(x); }
__device__ __forceinline__ float l1p_(float x) { return log1pf(x); }
__device__ __forceinline__ double l1p_(double x) { return log1p(x); }

/* 2^x by the hardware (ex2.approx.ftz: about 2 ulp): F32 mamba's Ā = 2^(Δ A log2 e). */
__device__ __forceinline__ float ex2(float x) {
  float r;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(r) : "f"(x));
  return r;
}

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
