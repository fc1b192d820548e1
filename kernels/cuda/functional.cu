/* CUDA kernels of the functional ops (ops/functional.c): softmax, log_softmax, cross entropy,
 * mse, layer norm, RMS norm, dropout, forward and fused backward, F32 and F64. They mirror
 * kernels/cpu/functional_impl.h expression by expression: every value is computed in double
 * (T is only loaded and stored), with the same operations in the same order, and this file is
 * compiled with -fmad=false (kernels/BUILD) so that nvcc does not fuse a*b+c where the CPU
 * rounds twice. What can still differ from the CPU: exp/log (CUDA's libdevice vs glibc, both
 * within an ulp or two in double) and the order of row sums when a row is split over threads.
 *
 * Shapes (all contiguous, rows independent):
 *   softmax      x, y, g, dx (outer, D, inner): row (o, k) is D elements at stride inner.
 *   cross entropy x, dx (N, C, S), tgt (N, S) i64: row (n, s) is C logits at stride S.
 *   norms        x, y, g, dx (rows, H); w, b (H); mean, rstd (rows) double.
 *   mse, dropout flat (n).
 *
 * Launch layout of a row kernel: blocks of 256 threads; a GROUP of G threads takes one row
 * (grid-stride over rows); G = 1 when rows are strided (inner > 1: neighbouring threads read
 * neighbouring addresses) or short (D <= 32), G = 32 (a warp) for rows up to 1024, G = 256 (the
 * block) beyond. Lane l of a group sums elements l, l + G, l + 2G, ... in order; the G partials
 * are combined by a fixed butterfly (__shfl_xor) within warps and, for G = 256, the 8 warp sums
 * added in warp order. With G = 1 the sum is the CPU's sequential sum, bit for bit.
 *
 * Deterministic, no atomics: every sum's order depends only on the shapes. The scalar results
 * (cross entropy's mean over rows, mse's sum) use two passes: pass 1 has ceil(n / chunk) <= 1024
 * blocks, block b summing its chunk of consecutive items (thread t: items t, t + 256, ...,
 * then a fixed shared-memory tree); pass 2 is one block that adds the partials the same way and
 * writes the result on the device (no host synchronisation). The norms' parameter gradients (sums
 * over rows per column) also use two passes: pass 1 sums fixed chunks of rows per (chunk,
 * column), in row order, pass 2 adds the chunks in order; with one chunk (rows <= 64) that is the
 * CPU's order exactly.
 *
 * Dropout draws its mask on the GPU with tensor/philox.h, the very code lr_rand_bernoulli_ runs
 * on the CPU: keep_i = draw(seed, offset + i) * 2^-32 < 1 - p (an exact product by a power of
 * two and an exact comparison), so the mask equals the CPU's bit for bit for the same lr_rng
 * state. One thread per Philox block (4 draws).
 */
#include <climits>

#include "kernels/cuda/common.cuh"

extern "C" {
#include "tensor/philox.h"
}

namespace {

const int kThreads = 256;
const int kWarps = kThreads / 32;

/* ---- group reductions (G threads per row) ---- */

template <int G> __device__ __forceinline__ double grp_sum(double v, double *sh) {
  if constexpr (G == 1) {
    (void)sh;
    return v;
  } else {
    /* butterfly: every lane ends with the same bits (IEEE addition is commutative) */
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if constexpr (G == 32) {
      (void)sh;
      return v;
    } else {
      const int w = threadIdx.x / 32;
      if ((threadIdx.x & 31) == 0) sh[w] = v;
      __syncthreads();
      double s = sh[0];
      for (int i = 1; i < kWarps; i++) s += sh[i];
      __syncthreads(); /* sh is reused by the next reduction */
      return s;
    }
  }
}

template <int G> __device__ __forceinline__ double grp_max(double v, double *sh) {
  if constexpr (G == 1) {
    (void)sh;
    return v;
  } else {
    for (int o = 16; o > 0; o >>= 1) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
    if constexpr (G == 32) {
      (void)sh;
      return v;
    } else {
      const int w = threadIdx.x / 32;
      if ((threadIdx.x & 31) == 0) sh[w] = v;
      __syncthreads();
      double s = sh[0];
      for (int i = 1; i < kWarps; i++) s = fmax(s, sh[i]);
      __syncthreads();
      return s;
    }
  }
}

/* Threads per row for rows of D elements at stride inner. */
int pick_group(int64_t D, int64_t inner) {
  if (inner != 1 || D <= 32) return 1;
  if (D <= 1024) return 32;
  return kThreads;
}

unsigned row_blocks(int64_t rows, int G) { return lr_cuda_blocks(rows, kThreads / G); }

/* The loop over a block's rows: r is this group's row, lane its lane. Rows are uniform across a
 * group, so the shuffles and barriers in the body see whole groups. */
#define ROW_LOOP(G, rows)                                                                         \
  const int lane = (G) == 1 ? 0 : (int)(threadIdx.x % (G));                                       \
  const int64_t per_block_ = kThreads / (G);                                                      \
  for (int64_t r0_ = (int64_t)blockIdx.x * per_block_; r0_ < (rows); r0_ += (int64_t)gridDim.x * per_block_) \
    if (int64_t r = r0_ + threadIdx.x / (G); r < (rows))

/* ---- softmax / log_softmax ---- */

template <typename T, int G>
__global__ void __launch_bounds__(kThreads)
    softmax_k(bool lg, const T *__restrict__ x, T *__restrict__ y, int64_t rows, int64_t D, int64_t inner) {
  __shared__ double sh[kWarps];
  ROW_LOOP(G, rows) {
    const int64_t base = (r / inner) * D * inner + r % inner;
    const T *xr = x + base;
    T *yr = y + base;
    double m = -INFINITY;
    for (int64_t d = lane; d < D; d += G) m = fmax(m, (double)xr[d * inner]);
    m = grp_max<G>(m, sh);
    if (m == -INFINITY) m = 0; /* all -inf: 0/0 = NaN as the CPU */
    double s = 0;
    if (lg) {
      for (int64_t d = lane; d < D; d += G) s += exp((double)xr[d * inner] - m);
      s = grp_sum<G>(s, sh);
      double lse = m + log(s);
      for (int64_t d = lane; d < D; d += G) yr[d * inner] = (T)((double)xr[d * inner] - lse);
    } else {
      for (int64_t d = lane; d < D; d += G) {
        double e = exp((double)xr[d * inner] - m);
        yr[d * inner] = (T)e; /* rounded to T and read back, as the CPU */
        s += e;
      }
      s = grp_sum<G>(s, sh);
      double inv = 1.0 / s;
      for (int64_t d = lane; d < D; d += G) yr[d * inner] = (T)((double)yr[d * inner] * inv);
    }
  }
}

template <typename T, int G>
__global__ void __launch_bounds__(kThreads) softmax_bwd_k(bool lg, const T *__restrict__ y, const T *__restrict__ g,
                                                          T *__restrict__ dx, int64_t rows, int64_t D, int64_t inner) {
  __shared__ double sh[kWarps];
  ROW_LOOP(G, rows) {
    const int64_t base = (r / inner) * D * inner + r % inner;
    const T *yr = y + base, *gr = g + base;
    T *dr = dx + base;
    double s = 0;
    if (lg) {
      for (int64_t d = lane; d < D; d += G) s += (double)gr[d * inner];
      s = grp_sum<G>(s, sh);
      for (int64_t d = lane; d < D; d += G) dr[d * inner] = (T)((double)gr[d * inner] - exp((double)yr[d * inner]) * s);
    } else {
      for (int64_t d = lane; d < D; d += G) s += (double)gr[d * inner] * (double)yr[d * inner];
      s = grp_sum<G>(s, sh);
      for (int64_t d = lane; d < D; d += G) dr[d * inner] = (T)((double)yr[d * inner] * ((double)gr[d * inner] - s));
    }
  }
}

/* ---- two-pass scalar reductions ---- */

/* A partial: a sum, a count and the smallest "bad" index (LLONG_MAX: none). */
struct Acc {
  double s;
  long long c;
  long long bad;
};

__device__ __forceinline__ Acc acc_zero() { return Acc{0.0, 0, LLONG_MAX}; }
__device__ __forceinline__ Acc acc_add(Acc a, Acc b) { return Acc{a.s + b.s, a.c + b.c, a.bad < b.bad ? a.bad : b.bad}; }

/* Fixed halving tree over the block's 256 values; the result is in thread 0. */
__device__ Acc block_reduce(Acc v, Acc *sh) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int h = kThreads / 2; h > 0; h >>= 1) {
    if ((int)threadIdx.x < h) sh[threadIdx.x] = acc_add(sh[threadIdx.x], sh[threadIdx.x + h]);
    __syncthreads();
  }
  return sh[0];
}

const int64_t kMaxParts = 1024;

/* Items per pass-1 block for n items: at least 2048, at most kMaxParts blocks. */
int64_t reduce_chunk(int64_t n) {
  int64_t c = (n + kMaxParts - 1) / kMaxParts;
  c = (c + kThreads - 1) / kThreads * kThreads;
  return c < 2048 ? 2048 : c;
}

template <class L> __global__ void __launch_bounds__(kThreads) reduce_pass1(L ld, int64_t n, int64_t chunk, Acc *part) {
  __shared__ Acc sh[kThreads];
  const int64_t b0 = (int64_t)blockIdx.x * chunk, b1 = b0 + chunk < n ? b0 + chunk : n;
  Acc a = acc_zero();
  for (int64_t i = b0 + threadIdx.x; i < b1; i += kThreads) a = acc_add(a, ld(i));
  a = block_reduce(a, sh);
  if (threadIdx.x == 0) part[blockIdx.x] = a;
}

template <class F> __global__ void __launch_bounds__(kThreads) reduce_pass2(const Acc *part, int64_t k, F fin) {
  __shared__ Acc sh[kThreads];
  Acc a = acc_zero();
  for (int64_t i = threadIdx.x; i < k; i += kThreads) a = acc_add(a, part[i]);
  a = block_reduce(a, sh);
  if (threadIdx.x == 0) fin(a);
}

template <class L, class F> void reduce2(L ld, int64_t n, Acc *part, F fin, cudaStream_t s) {
  int64_t chunk = reduce_chunk(n), k = (n + chunk - 1) / chunk;
  if (k > 0) reduce_pass1<L><<<(unsigned)k, kThreads, 0, s>>>(ld, n, chunk, part);
  reduce_pass2<F><<<1, kThreads, 0, s>>>(part, k, fin);
}

/* ---- cross entropy ---- */

/* Per row: loss (double) and a flag (0 ignored, 1 kept, 2 target out of range). */
template <typename T, int G>
__global__ void __launch_bounds__(kThreads)
    ce_rows_k(const T *__restrict__ x, const int64_t *__restrict__ tgt, int64_t rows, int64_t C, int64_t S,
              int64_t ignore, double eps, double *__restrict__ loss, signed char *__restrict__ flag) {
  __shared__ double sh[kWarps];
  ROW_LOOP(G, rows) {
    const int64_t t = tgt[r];
    if (t == ignore || t < 0 || t >= C) { /* uniform across the group: one row */
      if (lane == 0) {
        loss[r] = 0.0;
        flag[r] = t == ignore ? 0 : 2;
      }
      continue;
    }
    const T *xr = x + (r / S) * C * S + r % S;
    double m = -INFINITY, sum_x = 0;
    for (int64_t c = lane; c < C; c += G) {
      m = fmax(m, (double)xr[c * S]);
      sum_x += (double)xr[c * S];
    }
    m = grp_max<G>(m, sh);
    sum_x = grp_sum<G>(sum_x, sh);
    if (m == -INFINITY) m = 0;
    double s = 0;
    for (int64_t c = lane; c < C; c += G) s += exp((double)xr[c * S] - m);
    s = grp_sum<G>(s, sh);
    double mean_x = sum_x / (double)C, lse = m + log(s);
    if (lane == 0) {
      loss[r] = lse - (1.0 - eps) * (double)xr[t * S] - eps * mean_x;
      flag[r] = 1;
    }
  }
}

struct CeLoad {
  const double *loss;
  const signed char *flag;
  __device__ Acc operator()(int64_t i) const {
    signed char f = flag[i];
    if (f == 1) return Acc{loss[i], 1, LLONG_MAX};
    return Acc{0.0, 0, f == 2 ? (long long)i : LLONG_MAX};
  }
};

template <typename T> struct CeFin {
  T *out;
  int64_t *info;
  __device__ void operator()(Acc a) const {
    *out = (T)(a.s / (double)a.c); /* count 0: 0/0 = NaN, as PyTorch */
    info[0] = a.c;
    info[1] = a.bad == LLONG_MAX ? -1 : a.bad;
  }
};

template <typename T, int G>
__global__ void __launch_bounds__(kThreads)
    ce_bwd_k(const T *__restrict__ x, const int64_t *__restrict__ tgt, int64_t rows, int64_t C, int64_t S, int64_t ignore,
             double eps, const T *__restrict__ gout, int64_t count, T *__restrict__ dx) {
  __shared__ double sh[kWarps];
  const double scale = count ? (double)gout[0] / (double)count : 0.0;
  ROW_LOOP(G, rows) {
    const int64_t t = tgt[r], base = (r / S) * C * S + r % S;
    const T *xr = x + base;
    T *dr = dx + base;
    if (t == ignore) {
      for (int64_t c = lane; c < C; c += G) dr[c * S] = 0;
      continue;
    }
    double m = -INFINITY;
    for (int64_t c = lane; c < C; c += G) m = fmax(m, (double)xr[c * S]);
    m = grp_max<G>(m, sh);
    if (m == -INFINITY) m = 0;
    double s = 0;
    for (int64_t c = lane; c < C; c += G) s += exp((double)xr[c * S] - m);
    s = grp_sum<G>(s, sh);
    double lse = m + log(s), u = eps / (double)C;
    for (int64_t c = lane; c < C; c += G) {
      double p = exp((double)xr[c * S] - lse) - u - (c == t ? 1.0 - eps : 0.0);
      dr[c * S] = (T)(scale * p);
    }
  }
}

/* ---- layer norm / RMS norm ---- */

template <typename T, int G>
__global__ void __launch_bounds__(kThreads)
    layer_norm_k(const T *__restrict__ x, const T *__restrict__ w, const T *__restrict__ b, T *__restrict__ y,
                 double *__restrict__ mean, double *__restrict__ rstd, int64_t rows, int64_t H, double eps) {
  __shared__ double sh[kWarps];
  ROW_LOOP(G, rows) {
    const T *xr = x + r * H;
    T *yr = y + r * H;
    double mu = 0, var = 0;
    for (int64_t h = lane; h < H; h += G) mu += (double)xr[h];
    mu = grp_sum<G>(mu, sh) / (double)H;
    for (int64_t h = lane; h < H; h += G) {
      double d = (double)xr[h] - mu;
      var += d * d;
    }
    var = grp_sum<G>(var, sh);
    double rs = 1.0 / sqrt(var / (double)H + eps);
    for (int64_t h = lane; h < H; h += G) {
      double v = ((double)xr[h] - mu) * rs;
      if (w) v *= (double)w[h];
      if (b) v += (double)b[h];
      yr[h] = (T)v;
    }
    if (lane == 0) {
      mean[r] = mu;
      rstd[r] = rs;
    }
  }
}

template <typename T, int G>
__global__ void __launch_bounds__(kThreads) rms_norm_k(const T *__restrict__ x, const T *__restrict__ w,
                                                       T *__restrict__ y, double *__restrict__ rstd, int64_t rows,
                                                       int64_t H, double eps) {
  __shared__ double sh[kWarps];
  ROW_LOOP(G, rows) {
    const T *xr = x + r * H;
    T *yr = y + r * H;
    double ms = 0;
    for (int64_t h = lane; h < H; h += G) ms += (double)xr[h] * (double)xr[h];
    ms = grp_sum<G>(ms, sh);
    double rs = 1.0 / sqrt(ms / (double)H + eps);
    for (int64_t h = lane; h < H; h += G) yr[h] = (T)((double)xr[h] * rs * (w ? (double)w[h] : 1.0));
    if (lane == 0) rstd[r] = rs;
  }
}

template <typename T, int G>
__global__ void __launch_bounds__(kThreads)
    norm_bwd_k(const T *__restrict__ x, const T *__restrict__ w, const double *__restrict__ mean,
               const double *__restrict__ rstd, const T *__restrict__ g, T *__restrict__ dx, int64_t rows, int64_t H) {
  __shared__ double sh[kWarps];
  ROW_LOOP(G, rows) {
    const T *xr = x + r * H, *gr = g + r * H;
    T *dr = dx + r * H;
    double mu = mean ? mean[r] : 0.0, rs = rstd[r], s1 = 0, s2 = 0;
    for (int64_t h = lane; h < H; h += G) {
      double dxh = (double)gr[h] * (w ? (double)w[h] : 1.0), xh = ((double)xr[h] - mu) * rs;
      s1 += dxh;
      s2 += dxh * xh;
    }
    s1 = grp_sum<G>(s1, sh);
    s2 = grp_sum<G>(s2, sh);
    s1 = mean ? s1 / (double)H : 0.0;
    s2 /= (double)H;
    for (int64_t h = lane; h < H; h += G) {
      double dxh = (double)gr[h] * (w ? (double)w[h] : 1.0), xh = ((double)xr[h] - mu) * rs;
      dr[h] = (T)(rs * (dxh - s1 - xh * s2));
    }
  }
}

/* Rows per chunk of the parameter-gradient sums: at least 64, at most 4096 chunks, and about
 * 128K (chunk, column) threads when the shape allows. */
int64_t param_chunk(int64_t rows, int64_t H) {
  int64_t target = 131072 / (H > 0 ? H : 1);
  if (target < 1) target = 1;
  if (target > 4096) target = 4096;
  int64_t c = (rows + target - 1) / target;
  return c < 64 ? 64 : c;
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    norm_param_pass1(const T *__restrict__ x, const double *__restrict__ mean, const double *__restrict__ rstd,
                     const T *__restrict__ g, int64_t rows, int64_t H, int64_t chunk, int64_t nchunk,
                     double *__restrict__ pw, double *__restrict__ pb) {
  const int64_t n = nchunk * H;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    const int64_t c = i / H, h = i % H, r0 = c * chunk, r1 = r0 + chunk < rows ? r0 + chunk : rows;
    double aw = 0, ab = 0;
    for (int64_t r = r0; r < r1; r++) {
      double gv = (double)g[r * H + h], mu = mean ? mean[r] : 0.0, rs = rstd[r];
      aw += gv * ((double)x[r * H + h] - mu) * rs;
      ab += gv;
    }
    pw[i] = aw;
    pb[i] = ab;
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) norm_param_pass2(const double *__restrict__ pw, const double *__restrict__ pb,
                                                             int64_t H, int64_t nchunk, T *dw, T *db) {
  for (int64_t h = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; h < H; h += (int64_t)blockDim.x * gridDim.x) {
    double aw = 0, ab = 0;
    for (int64_t c = 0; c < nchunk; c++) {
      aw += pw[c * H + h];
      ab += pb[c * H + h];
    }
    if (dw) dw[h] = (T)aw;
    if (db) db[h] = (T)ab;
  }
}

/* ---- mse ---- */

template <typename T> __global__ void mse_none_k(const T *__restrict__ x, const T *__restrict__ t, T *__restrict__ out, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    double d = (double)x[i] - (double)t[i];
    out[i] = (T)(d * d);
  }
}

template <typename T> struct MseLoad {
  const T *x, *t;
  __device__ Acc operator()(int64_t i) const {
    double d = (double)x[i] - (double)t[i];
    return Acc{d * d, 0, LLONG_MAX};
  }
};

template <typename T> struct MseFin {
  T *out;
  bool mean;
  int64_t n;
  __device__ void operator()(Acc a) const { *out = (T)(mean ? a.s / (double)n : a.s); }
};

template <typename T>
__global__ void mse_bwd_k(const T *__restrict__ x, const T *__restrict__ t, const T *__restrict__ g, int64_t g_step,
                          double scale, T *__restrict__ dx, T *__restrict__ dtg, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x) {
    double v = 2.0 * scale * ((double)x[i] - (double)t[i]) * (double)g[i * g_step];
    if (dx) dx[i] = (T)v;
    if (dtg) dtg[i] = (T)-v;
  }
}

/* ---- dropout ---- */

template <typename T>
__global__ void mul_scaled_k(const T *__restrict__ a, const T *__restrict__ b, T s, T *__restrict__ y, int64_t n) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
    y[i] = a[i] * b[i] * s;
}

/* Philox blocks blk0 .. blk0 + nblk - 1 cover draws offset .. offset + n - 1; thread j computes
 * block blk0 + j and the (up to 4) elements whose draws it holds. */
template <typename T>
__global__ void dropout_k(const T *__restrict__ x, T *__restrict__ mask, T *__restrict__ y, int64_t n, double keep, T s,
                          uint64_t seed, uint64_t offset, uint64_t blk0, uint64_t nblk) {
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  for (uint64_t j = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; j < nblk; j += (uint64_t)blockDim.x * gridDim.x) {
    const uint64_t b = blk0 + j;
    const uint32_t ctr[4] = {(uint32_t)b, (uint32_t)(b >> 32), 0u, 0u};
    uint32_t w[4];
    lr_philox4x32_10(ctr, key, w);
    for (int k = 0; k < 4; k++) {
      const uint64_t d = 4 * b + (uint64_t)k;
      if (d < offset || d - offset >= (uint64_t)n) continue;
      const int64_t i = (int64_t)(d - offset);
      const T m = (double)w[k] * 0x1p-32 < keep ? (T)1 : (T)0; /* as lr_rand_bernoulli_ */
      mask[i] = m;
      y[i] = x[i] * m * s;
    }
  }
}

/* ---- launch helpers ---- */

bool real_dtype(lr_dtype dt) { return dt == LR_DTYPE_F32 || dt == LR_DTYPE_F64; }

lr_status bad_dtype(const char *fn, lr_dtype dt) {
  return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel, expected f32 or f64", fn, lr_dtype_name(dt));
}

/* Calls K<T, G>::run(args...) for the group size picked for (D, inner). */
#define ROW_DISPATCH(G, KCALL) \
  do {                         \
    if ((G) == 1) KCALL(1);    \
    else if ((G) == 32) KCALL(32); \
    else KCALL(kThreads);      \
  } while (0)

template <typename T> void softmax_t(bool lg, const void *x, void *y, int64_t rows, int64_t D, int64_t inner, cudaStream_t s) {
  int G = pick_group(D, inner);
#define K_(GG) softmax_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>(lg, (const T *)x, (T *)y, rows, D, inner)
  ROW_DISPATCH(G, K_);
#undef K_
}

template <typename T>
void softmax_bwd_t(bool lg, const void *y, const void *g, void *dx, int64_t rows, int64_t D, int64_t inner, cudaStream_t s) {
  int G = pick_group(D, inner);
#define K_(GG) \
  softmax_bwd_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>(lg, (const T *)y, (const T *)g, (T *)dx, rows, D, inner)
  ROW_DISPATCH(G, K_);
#undef K_
}

/* Byte layout of the cross-entropy workspace: kMaxParts Acc, then rows doubles, then rows flags. */
size_t ce_parts_bytes() { return (size_t)kMaxParts * sizeof(Acc); }

template <typename T>
void ce_t(const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S, int64_t ignore, double eps, void *loss,
          int64_t *info, void *work, cudaStream_t s) {
  int64_t rows = N * S;
  Acc *parts = (Acc *)work;
  double *rl = (double *)((char *)work + ce_parts_bytes());
  signed char *fl = (signed char *)(rl + rows);
  if (rows > 0) {
    int G = pick_group(C, S);
#define K_(GG) \
  ce_rows_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>((const T *)x, tgt, rows, C, S, ignore, eps, rl, fl)
    ROW_DISPATCH(G, K_);
#undef K_
  }
  reduce2(CeLoad{rl, fl}, rows, parts, CeFin<T>{(T *)loss, info}, s);
}

template <typename T>
void ce_bwd_t(const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S, int64_t ignore, double eps,
              const void *g, int64_t count, void *dx, cudaStream_t s) {
  int64_t rows = N * S;
  int G = pick_group(C, S);
#define K_(GG)                                                                                                \
  ce_bwd_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>((const T *)x, tgt, rows, C, S, ignore, eps, (const T *)g, \
                                                            count, (T *)dx)
  ROW_DISPATCH(G, K_);
#undef K_
}

template <typename T>
void layer_norm_t(const void *x, const void *w, const void *b, void *y, double *mean, double *rstd, int64_t rows,
                  int64_t H, double eps, cudaStream_t s) {
  int G = pick_group(H, 1);
#define K_(GG)                                                                                                   \
  layer_norm_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>((const T *)x, (const T *)w, (const T *)b, (T *)y, mean, \
                                                                rstd, rows, H, eps)
  ROW_DISPATCH(G, K_);
#undef K_
}

template <typename T>
void rms_norm_t(const void *x, const void *w, void *y, double *rstd, int64_t rows, int64_t H, double eps, cudaStream_t s) {
  int G = pick_group(H, 1);
#define K_(GG) \
  rms_norm_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>((const T *)x, (const T *)w, (T *)y, rstd, rows, H, eps)
  ROW_DISPATCH(G, K_);
#undef K_
}

template <typename T>
void norm_bwd_t(const void *x, const void *w, const double *mean, const double *rstd, const void *g, void *dx,
                int64_t rows, int64_t H, cudaStream_t s) {
  int G = pick_group(H, 1);
#define K_(GG)                                                                                                     \
  norm_bwd_k<T, GG><<<row_blocks(rows, GG), kThreads, 0, s>>>((const T *)x, (const T *)w, mean, rstd, (const T *)g, \
                                                              (T *)dx, rows, H)
  ROW_DISPATCH(G, K_);
#undef K_
}

template <typename T>
void norm_param_t(const void *x, const double *mean, const double *rstd, const void *g, void *dw, void *db, int64_t rows,
                  int64_t H, double *work, cudaStream_t s) {
  int64_t chunk = param_chunk(rows, H), nchunk = (rows + chunk - 1) / chunk;
  double *pw = work, *pb = work + nchunk * H;
  if (nchunk > 0)
    norm_param_pass1<T><<<lr_cuda_blocks(nchunk * H, kThreads), kThreads, 0, s>>>(
        (const T *)x, mean, rstd, (const T *)g, rows, H, chunk, nchunk, pw, pb);
  norm_param_pass2<T><<<lr_cuda_blocks(H, kThreads), kThreads, 0, s>>>(pw, pb, H, nchunk, (T *)dw, (T *)db);
}

template <typename T>
void mse_t(const void *x, const void *t, void *out, void *loss, bool mean, int64_t n, void *work, cudaStream_t s) {
  if (out) {
    if (n > 0) mse_none_k<T><<<lr_cuda_blocks(n, kThreads), kThreads, 0, s>>>((const T *)x, (const T *)t, (T *)out, n);
  }
  if (loss) reduce2(MseLoad<T>{(const T *)x, (const T *)t}, n, (Acc *)work, MseFin<T>{(T *)loss, mean, n}, s);
}

template <typename T>
void dropout_t(const void *x, void *mask, void *y, int64_t n, double keep, double scale, uint64_t seed, uint64_t offset,
               cudaStream_t s) {
  uint64_t blk0 = offset >> 2, blk1 = (offset + (uint64_t)n - 1) >> 2, nblk = blk1 - blk0 + 1;
  dropout_k<T><<<lr_cuda_blocks((int64_t)nblk, kThreads), kThreads, 0, s>>>((const T *)x, (T *)mask, (T *)y, n, keep,
                                                                            (T)scale, seed, offset, blk0, nblk);
}

} // namespace

/* ---- the C interface (kernels/cuda/cuda.h) ---- */

extern "C" lr_status lr_kcuda_softmax(lr_dtype dt, bool log, const void *x, void *y, int64_t outer, int64_t D,
                                      int64_t inner, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_softmax";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  int64_t rows = outer * inner;
  if (rows == 0 || D == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) softmax_t<float>(log, x, y, rows, D, inner, s);
  else softmax_t<double>(log, x, y, rows, D, inner, s);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_softmax_bwd(lr_dtype dt, bool log, const void *y, const void *g, void *dx, int64_t outer,
                                          int64_t D, int64_t inner, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_softmax_bwd";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  int64_t rows = outer * inner;
  if (rows == 0 || D == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) softmax_bwd_t<float>(log, y, g, dx, rows, D, inner, s);
  else softmax_bwd_t<double>(log, y, g, dx, rows, D, inner, s);
  return lr_cuda_check_launch(fn);
}

extern "C" size_t lr_kcuda_cross_entropy_work(int64_t rows) {
  return ce_parts_bytes() + (size_t)rows * (sizeof(double) + 1);
}

extern "C" lr_status lr_kcuda_cross_entropy(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C,
                                            int64_t S, int64_t ignore, double eps, void *loss, int64_t *info,
                                            void *work, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_cross_entropy";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) ce_t<float>(x, tgt, N, C, S, ignore, eps, loss, info, work, s);
  else ce_t<double>(x, tgt, N, C, S, ignore, eps, loss, info, work, s);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_cross_entropy_bwd(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C,
                                                int64_t S, int64_t ignore, double eps, const void *g, int64_t count,
                                                void *dx, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_cross_entropy_bwd";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (N * S == 0 || C == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) ce_bwd_t<float>(x, tgt, N, C, S, ignore, eps, g, count, dx, s);
  else ce_bwd_t<double>(x, tgt, N, C, S, ignore, eps, g, count, dx, s);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_layer_norm(lr_dtype dt, const void *x, const void *w, const void *b, void *y,
                                         double *mean, double *rstd, int64_t rows, int64_t H, double eps,
                                         lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_layer_norm";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (rows == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) layer_norm_t<float>(x, w, b, y, mean, rstd, rows, H, eps, s);
  else layer_norm_t<double>(x, w, b, y, mean, rstd, rows, H, eps, s);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_rms_norm(lr_dtype dt, const void *x, const void *w, void *y, double *rstd, int64_t rows,
                                       int64_t H, double eps, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_rms_norm";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (rows == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) rms_norm_t<float>(x, w, y, rstd, rows, H, eps, s);
  else rms_norm_t<double>(x, w, y, rstd, rows, H, eps, s);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_norm_bwd(lr_dtype dt, const void *x, const void *w, const double *mean,
                                       const double *rstd, const void *g, void *dx, int64_t rows, int64_t H,
                                       lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_norm_bwd";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (rows == 0 || H == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) norm_bwd_t<float>(x, w, mean, rstd, g, dx, rows, H, s);
  else norm_bwd_t<double>(x, w, mean, rstd, g, dx, rows, H, s);
  return lr_cuda_check_launch(fn);
}

extern "C" int64_t lr_kcuda_norm_param_work(int64_t rows, int64_t H) {
  int64_t chunk = param_chunk(rows, H), nchunk = (rows + chunk - 1) / chunk;
  return 2 * nchunk * H;
}

extern "C" lr_status lr_kcuda_norm_param_bwd(lr_dtype dt, const void *x, const double *mean, const double *rstd,
                                             const void *g, void *dw, void *db, int64_t rows, int64_t H, double *work,
                                             lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_norm_param_bwd";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (H == 0 || (!dw && !db)) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) norm_param_t<float>(x, mean, rstd, g, dw, db, rows, H, work, s);
  else norm_param_t<double>(x, mean, rstd, g, dw, db, rows, H, work, s);
  return lr_cuda_check_launch(fn);
}

extern "C" size_t lr_kcuda_mse_work(void) { return ce_parts_bytes(); }

extern "C" lr_status lr_kcuda_mse(lr_dtype dt, const void *x, const void *t, void *out, void *loss, bool mean,
                                  int64_t n, void *work, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_mse";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) mse_t<float>(x, t, out, loss, mean, n, work, s);
  else mse_t<double>(x, t, out, loss, mean, n, work, s);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_mse_bwd(lr_dtype dt, const void *x, const void *t, const void *g, int64_t g_step,
                                      double scale, void *dx, void *dtgt, int64_t n, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_mse_bwd";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (n == 0 || (!dx && !dtgt)) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned bl = lr_cuda_blocks(n, kThreads);
  if (dt == LR_DTYPE_F32)
    mse_bwd_k<float><<<bl, kThreads, 0, s>>>((const float *)x, (const float *)t, (const float *)g, g_step, scale,
                                             (float *)dx, (float *)dtgt, n);
  else
    mse_bwd_k<double><<<bl, kThreads, 0, s>>>((const double *)x, (const double *)t, (const double *)g, g_step, scale,
                                              (double *)dx, (double *)dtgt, n);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_mul_scaled(lr_dtype dt, const void *a, const void *b, double scale, void *y, int64_t n,
                                         lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_mul_scaled";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (n == 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  unsigned bl = lr_cuda_blocks(n, kThreads);
  if (dt == LR_DTYPE_F32)
    mul_scaled_k<float><<<bl, kThreads, 0, s>>>((const float *)a, (const float *)b, (float)scale, (float *)y, n);
  else
    mul_scaled_k<double><<<bl, kThreads, 0, s>>>((const double *)a, (const double *)b, scale, (double *)y, n);
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_dropout(lr_dtype dt, const void *x, void *mask, void *y, int64_t n, double keep,
                                      double scale, uint64_t seed, uint64_t offset, lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_dropout";
  if (!real_dtype(dt)) return bad_dtype(fn, dt);
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (dt == LR_DTYPE_F32) dropout_t<float>(x, mask, y, n, keep, scale, seed, offset, s);
  else dropout_t<double>(x, mask, y, n, keep, scale, seed, offset, s);
  return lr_cuda_check_launch(fn);
}
