/* FFT kernels on the CPU (FFTW): a strided complex DFT and the real causal FFT convolution.
 *
 * Plans are cached per (size, dtype, kind) in a process-wide table guarded by a mutex, because
 * FFTW's planner is not thread safe; plans are executed with the new-array functions
 * (fftw_execute_dft, _dft_r2c, _dft_c2r), which are, on per-thread buffers. All buffers handed
 * to FFTW are 64-byte aligned (arena workspace, slots rounded to 64 bytes), the same alignment
 * class as the fftw_malloc arrays the plans were made on. Plans use FFTW_ESTIMATE (no timing
 * runs, deterministic). Kernels never allocate: the caller passes `work` of the size the
 * *_work_bytes function returns (for the thread count the kernel will use).
 */
#ifndef LR_KCPU_FFT_H
#define LR_KCPU_FFT_H

#include "tensor/dtype.h"
#include "tensor/status.h"

/* The smallest n >= m whose only prime factors are 2, 3, 5 and 7 (sizes FFTW handles fast). */
int64_t lr_kcpu_fft_good_size(int64_t m);

/* Threads the FFT kernels will use (OpenMP's max). */
int lr_kcpu_fft_threads(void);

/* ---- complex DFT along the middle dim of (outer, m, inner) ---- */
size_t lr_kcpu_fft_c_work_bytes(lr_dtype dt, int64_t n, int threads);
/* y[o, j, i] = scale * sum_{t < m_in} x[o, t, i] * exp(sign * 2 pi i j t / n), j < m_out, with
 * sign = -1 (forward) or +1 (inverse). x (outer, m_in, inner), y (outer, m_out, inner), both
 * contiguous c64/c128; m_in, m_out <= n (x zero-padded to n, the result truncated to m_out).
 * LR_ERR_INTERNAL if a plan cannot be made. */
lr_status lr_kcpu_fft_c(lr_dtype dt, bool inverse, int64_t n, int64_t outer, int64_t m_in, int64_t m_out,
                        int64_t inner, const void *x, void *y, double scale, void *work);

/* ---- real causal convolution along L of (B, L, H) with a per-channel kernel (H, Lk) ---- */
/* n: the FFT size, at least L + Lk - 1 (so circular wrap-around never reaches the kept part). */
size_t lr_kcpu_fft_conv_work_bytes(lr_dtype dt, int64_t n, int64_t H, int threads);
/* y[b, t, h] = sum_{s <= t, s < Lk} k[h, s] x[b, t - s, h].
 * x (B, L, H), k (H, Lk), y (B, L, H): contiguous f32/f64. */
lr_status lr_kcpu_fft_conv_fwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const void *x,
                               const void *k, void *y, void *work);
/* Correlations: dx[b, s, h] = sum_{t >= s} g[b, t, h] k[h, t - s];
 *               dk[h, s]    = sum_b sum_{t >= s} g[b, t, h] x[b, t - s, h].
 * dx (B, L, H) or NULL, dk (H, Lk) or NULL: contiguous, overwritten. */
lr_status lr_kcpu_fft_conv_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const void *x,
                               const void *k, const void *g, void *dx, void *dk, void *work);

/* Destroys every cached plan (call only when no FFT is running; for leak checkers and tools). */
void lr_kcpu_fft_clear_cache(void);

#endif
