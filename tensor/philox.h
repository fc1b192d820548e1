/* Philox 4x32-10 and the bits-to-number conversions of lrnnx's RNG, as inline functions that
 * compile as C11 and as CUDA C++ (LR_HD), so that the CPU (tensor/rng.c) and a CUDA kernel run
 * the very same code and produce bitwise identical streams. tensor/rng.c documents the stream
 * layout (which 32-bit draw feeds which element).
 *
 * Philox4x32-10 (Salmon, Moraes, Dror, Shaw, "Parallel random numbers: as easy as 1, 2, 3",
 * SC'11; Random123's philox4x32_R with R = 10): a 128-bit counter c[4] and a 64-bit key k[2];
 * one round is
 *   (hi0, lo0) = M0 * c0, (hi1, lo1) = M1 * c2          (32 x 32 -> 64-bit products)
 *   c = (hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0)
 * and the key is bumped by (W0, W1) between rounds (9 bumps for 10 rounds).
 *
 * Everything below uses only integer operations and IEEE-754 +, -, *, / and conversions, each
 * rounded to nearest: no libm (log, sin and cos of two libraries differ in the last bit), so the
 * results are reproducible bit for bit as long as the compiler does not fuse a*b+c into an FMA.
 * C11 (-std=c11) does not contract across or within expressions on x86-64; a CUDA translation
 * unit that includes this header must be compiled with -fmad=false.
 */
#ifndef LR_PHILOX_H
#define LR_PHILOX_H

#include "tensor/dtype.h"

#define LR_PHILOX_M0 0xD2511F53u
#define LR_PHILOX_M1 0xCD9E8D57u
#define LR_PHILOX_W0 0x9E3779B9u /* golden ratio */
#define LR_PHILOX_W1 0xBB67AE85u /* sqrt(3) - 1 */

/* The Random123 block function: out = philox4x32_10(ctr, key). */
LR_HD void lr_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    if (r > 0) {
      k0 += LR_PHILOX_W0;
      k1 += LR_PHILOX_W1;
    }
    uint64_t p0 = (uint64_t)LR_PHILOX_M0 * c0, p1 = (uint64_t)LR_PHILOX_M1 * c2;
    uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n1 = (uint32_t)p1;
    uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1, n3 = (uint32_t)p0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* [0, 1) from the top 24 bits of w: exact in float (multiples of 2^-24). */
LR_HD float lr_philox_u01_f32(uint32_t w) { return (float)(w >> 8) * 0x1p-24f; }
/* [0, 1) from the top 53 bits of (hi << 32 | lo): exact in double (multiples of 2^-53). */
LR_HD double lr_philox_u01_f64(uint32_t lo, uint32_t hi) {
  return (double)((((uint64_t)hi << 32) | lo) >> 11) * 0x1p-53;
}
/* (0, 1]: the same grids shifted by one step, so that log() never sees 0. */
LR_HD double lr_philox_u01c_f32(uint32_t w) { return (double)((w >> 8) + 1u) * 0x1p-24; }
LR_HD double lr_philox_u01c_f64(uint32_t lo, uint32_t hi) {
  return (double)(((((uint64_t)hi << 32) | lo) >> 11) + 1u) * 0x1p-53;
}

/* Natural log of x in (0, 1] (any positive normal x works), to about 2 ulp.
 * x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1), |s| < 0.1716,
 * summed to s^23 (the next term is below 1e-18 relative); log 2 split in fdlibm's hi/lo parts
 * so that e * hi is exact. The exponent is taken with integer arithmetic on the bits (x is
 * normal: x >= 2^-53 here). */
LR_HD double lr_philox_log(double x) {
  union { double d; uint64_t u; } b;
  b.d = x;
  int e = (int)((b.u >> 52) & 0x7ff) - 1022; /* x = m 2^e, m in [0.5, 1) */
  b.u = (b.u & 0x800fffffffffffffull) | 0x3fe0000000000000ull;
  double m = b.d;
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    e -= 1;
  }
  double s = (m - 1.0) / (m + 1.0), s2 = s * s;
  double t = 1.0 / 23;
  t = t * s2 + 1.0 / 21;
  t = t * s2 + 1.0 / 19;
  t = t * s2 + 1.0 / 17;
  t = t * s2 + 1.0 / 15;
  t = t * s2 + 1.0 / 13;
  t = t * s2 + 1.0 / 11;
  t = t * s2 + 1.0 / 9;
  t = t * s2 + 1.0 / 7;
  t = t * s2 + 1.0 / 5;
  t = t * s2 + 1.0 / 3;
  double lm = 2.0 * s + 2.0 * s * (s2 * t);
  const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
  return (double)e * ln2_hi + (lm + (double)e * ln2_lo);
}

/* sin and cos of x in [-pi/4, pi/4] by Taylor series in Horner form (to x^19 / x^20; the first
 * omitted term is below 1e-19). */
LR_HD void lr_philox_sincos_small(double x, double *s, double *c) {
  double x2 = x * x;
  double ps = 1.0 - x2 * (1.0 / (18.0 * 19.0));
  ps = 1.0 - x2 * (1.0 / (16.0 * 17.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (14.0 * 15.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (12.0 * 13.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (10.0 * 11.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (8.0 * 9.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (6.0 * 7.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (4.0 * 5.0)) * ps;
  ps = 1.0 - x2 * (1.0 / (2.0 * 3.0)) * ps;
  double pc = 1.0 - x2 * (1.0 / (19.0 * 20.0));
  pc = 1.0 - x2 * (1.0 / (17.0 * 18.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (15.0 * 16.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (13.0 * 14.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (11.0 * 12.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (9.0 * 10.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (7.0 * 8.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (5.0 * 6.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (3.0 * 4.0)) * pc;
  pc = 1.0 - x2 * (1.0 / (1.0 * 2.0)) * pc;
  *s = x * ps;
  *c = pc;
}

/* sin(2 pi u) and cos(2 pi u) for u in [0, 1) on the 2^-53 grid. The octant comes from u exactly
 * (4u and its fraction are exact), so the series only ever sees |x| <= pi/4. */
LR_HD void lr_philox_sincos2pi(double u, double *s, double *c) {
  double t = u * 4.0;
  int q = (int)t;       /* quadrant 0..3 */
  double f = t - q;     /* [0, 1), exact */
  const double pio2 = 1.57079632679489661923;
  double a, b; /* sin, cos of f * pi/2 */
  if (f <= 0.5) {
    lr_philox_sincos_small(f * pio2, &a, &b);
  } else {
    lr_philox_sincos_small((1.0 - f) * pio2, &b, &a); /* sin(pi/2 - y) = cos y */
  }
  switch (q & 3) {
    case 0: *s = a; *c = b; break;
    case 1: *s = b; *c = -a; break;
    case 2: *s = -a; *c = -b; break;
    default: *s = -b; *c = a; break;
  }
}

/* Box-Muller: r = sqrt(-2 log u1), u1 in (0, 1]; z0 = r cos(2 pi u2), z1 = r sin(2 pi u2).
 * which = 0 gives z0, 1 gives z1. sqrt is correctly rounded on both sides. */
LR_HD double lr_philox_box_muller(double u1, double u2, int which) {
  double r = sqrt(-2.0 * lr_philox_log(u1));
  double s, c;
  lr_philox_sincos2pi(u2, &s, &c);
  return r * (which ? s : c);
}

#endif
