/* FFT ops: a differentiable DFT along one dim, the real causal FFT convolution (FFTW, fused
 * forward and backward) and its complex counterpart. See ops/fft_conv.c for the math. */
#ifndef LR_OPS_FFT_CONV_H
#define LR_OPS_FFT_CONV_H

#include "autograd/autograd.h"

/* y = scale * DFT_n(x) along dim, x zero-padded from its length m <= n to n; y has n there.
 * Forward: sign -1, scale 1. inverse: sign +1, scale 1/n (torch.fft.fft / ifft with n=).
 * x: c64 / c128. */
lr_status lr_fft(lr_tensor *x, int dim, int64_t n, bool inverse, lr_tensor **out);

/* Causal depthwise convolution over time, by FFT:
 *   y[b, t, h] = sum_{s <= t, s < Lk} k[h, s] x[b, t - s, h]
 * x (B, L, H), k (H, Lk) (any Lk >= 1), y (B, L, H); f32 / f64. FFT size: the smallest 7-smooth
 * n >= L + Lk - 1. */
lr_status lr_fft_conv(lr_tensor *x, lr_tensor *k, lr_tensor **out);

/* The same for complex x (B, L, H) and k (H, Lk) (c64 / c128), composed of lr_fft and lr_mul. */
lr_status lr_fft_conv_c(lr_tensor *x, lr_tensor *k, lr_tensor **out);

#endif
