/* Counter-based RNG (Philox 4x32-10): the stream is a pure function of (seed, offset), so the same
 * seed gives the same numbers on the CPU and the GPU and in any thread split. Each call consumes
 * a documented number of 32-bit draws and advances the offset by it; tensor/rng.c specifies
 * exactly which draw feeds which element and how numbers are made from bits, and
 * tensor/philox.h holds the block function and conversions shared with CUDA. */
#ifndef LR_RNG_H
#define LR_RNG_H

#include "tensor/philox.h"
#include "tensor/tensor.h"

typedef struct {
  uint64_t seed;
  uint64_t offset; /* counter of 32-bit draws already used */
} lr_rng;

void lr_rng_init(lr_rng *r, uint64_t seed);
/* In place on t (any float dtype, any strides; complex: both parts, each U[lo, hi)).
 * LR_ERR_ARG unless lo <= hi, both finite. */
lr_status lr_rand_uniform_(lr_tensor *t, double lo, double hi, lr_rng *r);
/* Real: N(mean, std^2). Complex (as PyTorch): each part N(mean, std^2 / 2), so E|z - mean|^2 =
 * std^2 for mean on both parts. LR_ERR_ARG unless std >= 0 and both finite. */
lr_status lr_rand_normal_(lr_tensor *t, double mean, double std, lr_rng *r);
/* BOOL or float tensor of 0/1 with P(1) = p. LR_ERR_ARG unless 0 <= p <= 1. */
lr_status lr_rand_bernoulli_(lr_tensor *t, double p, lr_rng *r);
/* I32/I64 uniform in [lo, hi). LR_ERR_ARG unless lo < hi (and, for I32, both in int32 range). */
lr_status lr_rand_int_(lr_tensor *t, int64_t lo, int64_t hi, lr_rng *r);
/* An I64 (n) random permutation of 0..n-1 (arena tensor); 0 <= n <= 2^32. */
lr_status lr_randperm(int64_t n, lr_rng *r, lr_tensor **out);
/* The raw Philox block: 4 x 32-bit outputs for counter ctr and key derived from seed:
 * counter words (lo32(ctr), hi32(ctr), 0, 0), key words (lo32(seed), hi32(seed)). */
void lr_philox4x32(uint64_t seed, uint64_t ctr, uint32_t out[4]);

#endif
