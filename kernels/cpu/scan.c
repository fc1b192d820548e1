/* CPU scan kernels.
 *
 * Selective scan (lrnnx selective_scan_fn, inventory §4.1), per batch b and channel d:
 *   Δ_t = softplus?(delta[b,d,t] + delta_bias[d]),  Δ_A,t = deltaA[b,d,t] or Δ_t
 *   h_t[n] = Ā(λ_dn, Δ_A,t) · (reset[b,t] ? 0 : h_{t-1}[n]) + B̄(λ_dn, Δ_t) · B_n(t) · u_t,  h_{-1} = h0
 *   y_t = Σ_n C_n(t) h_t[n]  (complex: 2 Re Σ_n)  + D_d u_t,   then · silu(z_t) if z is given
 *   for t >= lengths[b]: y_t = 0 and the state is frozen; hL = h_{len-1} (h0 when len = 0).
 * Layout: u, delta, deltaA, z, y (B, D, L); A (D, N); fixed B/C (D, N); variable B/C (B, G, N, L)
 * with channel d in group d / (D/G). Parallel over (b, d) (fast path: over blocks of channels)
 * with OpenMP, sequential over L; states and scratch live in the caller's workspace (64-byte
 * aligned here; no allocation inside the loops).
 *
 * Memory: the forward stores the state entering every chunk of `chunk` timesteps (ckpt,
 * (B, D, ceil(L/chunk), N)), i.e. O(B·D·N·L/chunk). The backward walks chunks in reverse,
 * recomputes a chunk's states from its checkpoint with the same per-timestep function as the
 * forward (bitwise equal states), then runs the adjoint recurrence backwards:
 *   dh_t += dy_t · conj(C_t) (· 2 for complex),  dC_t += dy_t · conj(h_t) (· 2)
 *   dĀ = dh_t conj(h_{t-1}),  dB̄ = dh_t conj(B_t u_t),  dB_t += dh_t conj(B̄) u_t,
 *   du_t += Re(dh_t conj(B̄ B_t)),  dλ += dĀ conj(∂Ā/∂λ) + dB̄ conj(∂B̄/∂λ),
 *   dΔ_t += Re(dĀ conj(∂Ā/∂Δ) + dB̄ conj(∂B̄/∂Δ)) (Δ_A partials to ddeltaA in event mode),
 *   dh_{t-1} = dh_t conj(Ā) (0 across a reset), then the softplus factor σ(x) for x <= 20.
 * h_{t-1} always comes from the recomputed scan, never from a division by Ā (inventory §13.20).
 * Reductions over batch and time are deterministic (see scan_bwd in scan_impl.h).
 *
 * Fast path (real A, every discretization, f32 and f64; every option: h0, lengths, resets,
 * deltaA, z, D, delta_bias, softplus, fixed or variable B/C; lr_scan_in.scalar turns it off for
 * tests). A block is W
 * consecutive channels of one (b, group) (W = 8 f32 / 4 f64, GCC vector extensions of 32 bytes),
 * one channel per SIMD lane; lanes past the group's end are padding (zero inputs, never written).
 * Per chunk of timesteps the per-(d, t) inputs are transposed into lane vectors, Δ = softplus(x)
 * is evaluated on whole vectors, then all Ā = exp(Δ_A A_n) of the chunk (when every |Δ_A A_n| of
 * the chunk is <= 86.5 (f64: 700), by a clamp-free exp with a one-multiplication 2^k, bitwise
 * equal to the full one there; mamba / dirac: the only
 * per-(d, t, n) special function, B̄ = Δ or 1 is per (d, t)), then the recurrence h_n = Ā h_n +
 * (B̄u) B_n with y = Σ_n C_n h_n accumulated lane-wise in n order. The other kinds evaluate Ā_n
 * and B̄_n per (t, n) by discretize_math's formulas on lane vectors (fast_coef: zoh and async take
 * e^v and expm1(v) from one range reduction, B̄ = Δ expm1(v)/v, 1 at v = 0; bilinear two
 * divisions; rglru ln λ once per block) and step h_n = Ā_n h_n + (B̄_n u) B_n; their backward
 * keeps B̄ and the four partials ∂Ā/∂λ, ∂B̄/∂λ, ∂Ā/∂Δ_A, ∂B̄/∂Δ of the chunk (ψ(v) by its series
 * on |v| < 0.5 as in discretize_math). A variable B/C is transposed once per call to
 * (B, G, L, N) in the shared workspace (a timestep's N values contiguous for every block). The
 * backward: units own their outputs as in the scalar path; a unit walks the chunks in reverse
 * and, per chunk, its blocks in order (each block's adjoint and sums in its own state); the
 * recomputation uses the forward's exact functions (same bits) and keeps Ā for the reverse
 * pass; the lanes' dB/dC contributions are added lane-wise over the unit's blocks and reduced
 * over the lanes by a fixed tree once per chunk. Every sum has a fixed order: results are
 * bitwise reproducible run to run and for any thread count, and equal between the AVX2 clone
 * and the x86-64 baseline clone (same IEEE operations; C11 mode, so no FMA contraction).
 * Accuracy (f32): exp within 0.98 ulp on [-87.3, 88.7] (subnormal results kept, 0 below -104,
 * +inf above 88.72); expm1 within 1.6 ulp; softplus within 2.0 ulp on [-30, 20]; σ(z) = 1/(1 +
 * exp(-z)). f64: exp within 0.96 ulp (degree-13 polynomial), expm1 within 1.9 ulp, softplus by
 * libm. y of the f32 path matches a double reference to ~1e-7 of max |y| at L = 151, and every
 * output of both precisions the scalar path's (f64: 6e-15, f32: 4e-7 of max |.|;
 * tests/test_scan.c). The complex scans and the diagonal scan use the scalar per-element path
 * below.
 *
 * Diagonal scan (the S5 core, lrnnx simplified_scan's kernel): the same recurrence with N = 1 per
 * (b, p), a complex (or real) input x instead of B·u, every state written out; its backward
 * reads h_{t-1} from that output. With Δ (and Δ_A) broadcast over time, Ā, B̄ and their partials
 * are evaluated once per (b, p).
 */
#include "kernels/cpu/scan.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* ---- lane vectors and their math (the fast path of the real scan; see the file comment) ----
 * GCC vector extensions, 32 bytes: 8 floats or 4 doubles, one lane per channel. The same source
 * compiles to AVX2 in the "avx2" clone and to pairs of SSE2 registers in the default one; both
 * execute the same IEEE operations in the same order (C11 mode: no contraction into FMA), so the
 * results are bitwise equal on every x86-64. */
typedef float vf8 __attribute__((vector_size(32)));
typedef int32_t vi8 __attribute__((vector_size(32)));
typedef double vd4 __attribute__((vector_size(32)));
typedef int64_t vl4 __attribute__((vector_size(32)));
typedef float vf4 __attribute__((vector_size(16)));
typedef double vd2 __attribute__((vector_size(16)));
#define LR_VI static inline __attribute__((always_inline))

/* m ? a : b lane by lane (m from a comparison: all ones or zero). Vector arguments travel by
 * pointer: by value they would change the ABI between the clones (GCC's -Wpsabi). */
#define vsel_f(m, a, b) ((vf8)(((m) & (vi8)(a)) | (~(m) & (vi8)(b))))
#define vsel_d(m, a, b) ((vd4)(((m) & (vl4)(a)) | (~(m) & (vl4)(b))))

/* exp, f32: Cody-Waite reduction x = k ln2 + r (|r| <= ln2/2; ln2 split so k·ln2_hi is exact),
 * Cephes' degree-7 polynomial for e^r, and 2^k applied as 2^k1 · 2^k2 (k1 = k >> 1) so that
 * results down to the subnormals and up to FLT_MAX need no special case. Max error 0.98 ulp over
 * [-87.3, 88.7] (measured against exp in double); below -104 it returns 0, above 88.72 +inf; NaN
 * propagates (the clamps compare false). k = round(x log2e) by the 1.5·2^23 shifter (pure float
 * adds, no float-to-int conversion): the shifted value's bits are 0x4B400000 + k. */
LR_VI void vexp_f(vf8 *o, const vf8 *px) {
  const float sh = 0x1.8p23f;
  const vf8 x = *px;
  vf8 xc = vsel_f(x > 88.8f, (vf8){} + 88.8f, x);
  xc = vsel_f(xc < -104.0f, (vf8){} - 104.0f, xc);
  const vf8 kb = xc * 1.44269504088896341f + sh; /* bits: 0x4B400000 + k */
  const vf8 kf = kb - sh;
  vf8 r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  vf8 p = (vf8){} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  vf8 e = (p * (r * r) + r) + 1.0f;
  const vi8 k = (vi8)kb - 0x4B400000, k1 = k >> 1, k2 = k - k1;
  *o = (e * (vf8)((k1 + 127) << 23)) * (vf8)((k2 + 127) << 23);
}

/* exp, f64: the same scheme with a degree-13 Taylor polynomial on |r| <= ln2/2 (truncation
 * 4e-18 relative); max error 0.96 ulp over [-708, 709] against a long double exp. Below -746: 0,
 * above 709.78: +inf. */
LR_VI void vexp_d(vd4 *o, const vd4 *px) {
  const vd4 x = *px;
  const double sh = 0x1.8p52;
  vd4 xc = vsel_d(x > 710.0, (vd4){} + 710.0, x);
  xc = vsel_d(xc < -746.0, (vd4){} - 746.0, xc);
  vd4 kf = (xc * 1.4426950408889634074 + sh) - sh;
  vd4 r = xc - kf * 6.93147180369123816490e-01;
  r = r - kf * 1.90821492927058770002e-10;
  vd4 p = (vd4){} + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  vd4 e = (p * (r * r) + r) + 1.0;
  vd4 k1 = (kf * 0.5 + sh) - sh, k2 = kf - k1;
  const int64_t sb = 0x4338000000000000LL - 1023;
  vl4 i1 = ((vl4)(k1 + sh) - sb) << 52, i2 = ((vl4)(k2 + sh) - sb) << 52;
  *o = (e * (vd4)i1) * (vd4)i2;
}

/* exp for |x| <= 86.5 only (the caller checks): vexp_f without the clamps, 2^k applied in one
 * multiplication (k in [-125, 125]: e 2^k is normal, so the product is exact either way and the
 * result is bitwise vexp_f's); (kb's bits + 127) << 23 is (k + 127) << 23, the shifter's bits
 * shifting out. */
LR_VI void vexpn_f(vf8 *o, const vf8 *px) {
  const float sh = 0x1.8p23f;
  const vf8 x = *px;
  const vf8 kb = x * 1.44269504088896341f + sh;
  const vf8 kf = kb - sh;
  vf8 r = x - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  vf8 p = (vf8){} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  vf8 e = (p * (r * r) + r) + 1.0f;
  *o = e * (vf8)(((vi8)kb + 127) << 23);
}
/* f64, |x| <= 700 (the same argument; bitwise vexp_d's there). */
LR_VI void vexpn_d(vd4 *o, const vd4 *px) {
  const vd4 x = *px;
  const double sh = 0x1.8p52;
  const vd4 kb = x * 1.4426950408889634074 + sh, kf = kb - sh;
  vd4 r = x - kf * 6.93147180369123816490e-01;
  r = r - kf * 1.90821492927058770002e-10;
  vd4 p = (vd4){} + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  vd4 e = (p * (r * r) + r) + 1.0;
  *o = e * (vd4)(((vl4)kb + 1023) << 52);
}

/* exp and expm1 of the same x from one range reduction (zoh, async, rglru), f32: with e^r - 1 =
 * m (the polynomial before its + 1, so *e is bitwise vexp_f's), expm1(x) = 2^k m + (2^k - 1):
 * 2^k m is exact (a power-of-two scaling), 2^k - 1 is exact for the k that matter, so one rounding
 * is added to m's (|x| < ln2/2: k = 0 and the result is m itself, full relative accuracy near 0;
 * k > 24: e - 1). Max error of expm1 1.6 ulp over [-30, 88.7] (measured against expm1 in double;
 * -1 below -17.4 as expm1f, +inf above 88.72). */
LR_VI void vexpx_f(vf8 *oe, vf8 *om, const vf8 *px) {
  const float sh = 0x1.8p23f;
  const vf8 x = *px;
  vf8 xc = vsel_f(x > 88.8f, (vf8){} + 88.8f, x);
  xc = vsel_f(xc < -104.0f, (vf8){} - 104.0f, xc);
  const vf8 kb = xc * 1.44269504088896341f + sh;
  const vf8 kf = kb - sh;
  vf8 r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  vf8 p = (vf8){} + 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const vf8 m = p * (r * r) + r, e = m + 1.0f;
  const vi8 k = (vi8)kb - 0x4B400000, k1 = k >> 1, k2 = k - k1;
  const vf8 s1 = (vf8)((k1 + 127) << 23), s2 = (vf8)((k2 + 127) << 23);
  *oe = (e * s1) * s2;
  const vf8 em = (m * s1) * s2 + ((s1 * s2) - 1.0f);
  *om = vsel_f(k == 0, m, vsel_f(k > 24, *oe - 1.0f, em)); /* 2^128 - 1 would overflow */
}
/* f64: the same on vexp_d's reduction (k > 53: e - 1); max error of expm1 1.9 ulp over [-40, 709]
 * against expm1l. */
LR_VI void vexpx_d(vd4 *oe, vd4 *om, const vd4 *px) {
  const vd4 x = *px;
  const double sh = 0x1.8p52;
  vd4 xc = vsel_d(x > 710.0, (vd4){} + 710.0, x);
  xc = vsel_d(xc < -746.0, (vd4){} - 746.0, xc);
  vd4 kf = (xc * 1.4426950408889634074 + sh) - sh;
  vd4 r = xc - kf * 6.93147180369123816490e-01;
  r = r - kf * 1.90821492927058770002e-10;
  vd4 p = (vd4){} + 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  const vd4 m = p * (r * r) + r, e = m + 1.0;
  vd4 k1 = (kf * 0.5 + sh) - sh, k2 = kf - k1;
  const int64_t sb = 0x4338000000000000LL - 1023;
  vl4 i1 = ((vl4)(k1 + sh) - sb) << 52, i2 = ((vl4)(k2 + sh) - sb) << 52;
  const vd4 s1 = (vd4)i1, s2 = (vd4)i2;
  *oe = (e * s1) * s2;
  const vd4 em = (m * s1) * s2 + ((s1 * s2) - 1.0);
  *om = vsel_d(kf == 0.0, m, vsel_d(kf > 53.0, *oe - 1.0, em)); /* 2^1024 - 1 would overflow */
}

/* softplus(x) = log1p(exp(x)) for x <= 20, else x (lrnnx's threshold), f32: log1p(y) =
 * log(u) + (y - (u - 1))/u with u = 1 + y (the correction restores the bits lost in 1 + y), log
 * by exponent/mantissa split (m in [√½, √2)) and Cephes' logf polynomial. Max error 2.0 ulp over
 * [-30, 20] against log1p(exp(x)) in double. */
LR_VI void vsoftplus_f(vf8 *o, const vf8 *px) {
  const vf8 x = *px;
  vf8 y;
  vexp_f(&y, &x);
  vf8 u = 1.0f + y;
  vi8 ib = (vi8)u;
  vi8 ex = ((ib >> 23) & 0xff) - 126;
  vf8 m = (vf8)((ib & 0x007fffff) | 0x3f000000); /* [0.5, 1) */
  vi8 lo = m < 0.707106781186547524f;
  vf8 ef = __builtin_convertvector(ex + lo, vf8); /* lo is -1 where m < √½ */
  vf8 f = vsel_f(lo, (m + m) - 1.0f, m - 1.0f);
  vf8 z = f * f;
  vf8 q = (vf8){} + 7.0376836292e-2f;
  q = q * f - 1.1514610310e-1f;
  q = q * f + 1.1676998740e-1f;
  q = q * f - 1.2420140846e-1f;
  q = q * f + 1.4249322787e-1f;
  q = q * f - 1.6668057665e-1f;
  q = q * f + 2.0000714765e-1f;
  q = q * f - 2.4999993993e-1f;
  q = q * f + 3.3333331174e-1f;
  vf8 w = q * f * z;
  w = w + -2.12194440e-4f * ef;
  w = w + -0.5f * z;
  vf8 lg = (f + w) + 0.693359375f * ef;
  vf8 sp = lg + (y - (u - 1.0f)) / u;
  *o = vsel_f(x > 20.0f, x, sp);
}
/* f64: libm's log1p(exp(x)) lane by lane (as the scalar path; f64 speed is not the target). */
LR_VI void vsoftplus_d(vd4 *o, const vd4 *px) {
  const vd4 x = *px;
  vd4 r;
  for (int l = 0; l < 4; l++) r[l] = x[l] > 20.0 ? x[l] : log1p(exp(x[l]));
  *o = r;
}
/* σ(x) = 1 / (1 + e^-x). */
LR_VI void vsigmoid_f(vf8 *o, const vf8 *px) {
  vf8 nx = -*px, e;
  vexp_f(&e, &nx);
  *o = 1.0f / (1.0f + e);
}
LR_VI void vsigmoid_d(vd4 *o, const vd4 *px) {
  vd4 nx = -*px, e;
  vexp_d(&e, &nx);
  *o = 1.0 / (1.0 + e);
}
/* Σ of the lanes in a fixed tree ((0+4)+(2+6)) + ((1+5)+(3+7)): deterministic. */
LR_VI float vhsum_f(const vf8 *pv) {
  const vf8 v = *pv;
  vf4 a = __builtin_shufflevector(v, v, 0, 1, 2, 3) + __builtin_shufflevector(v, v, 4, 5, 6, 7);
  a = a + __builtin_shufflevector(a, a, 2, 3, 0, 1);
  return a[0] + a[1];
}
LR_VI double vhsum_d(const vd4 *pv) {
  const vd4 v = *pv;
  vd2 a = __builtin_shufflevector(v, v, 0, 1) + __builtin_shufflevector(v, v, 2, 3);
  return a[0] + a[1];
}

/* o[j][i] = v[i][j] for an 8x8 block of floats (unpack / shuffle network; pointers, not values:
 * -Wpsabi). */
LR_VI void tr8_f(vf8 *o, const vf8 *v) {
  vf8 t0 = __builtin_shufflevector(v[0], v[1], 0, 8, 1, 9, 4, 12, 5, 13), t1 = __builtin_shufflevector(v[0], v[1], 2, 10, 3, 11, 6, 14, 7, 15);
  vf8 t2 = __builtin_shufflevector(v[2], v[3], 0, 8, 1, 9, 4, 12, 5, 13), t3 = __builtin_shufflevector(v[2], v[3], 2, 10, 3, 11, 6, 14, 7, 15);
  vf8 t4 = __builtin_shufflevector(v[4], v[5], 0, 8, 1, 9, 4, 12, 5, 13), t5 = __builtin_shufflevector(v[4], v[5], 2, 10, 3, 11, 6, 14, 7, 15);
  vf8 t6 = __builtin_shufflevector(v[6], v[7], 0, 8, 1, 9, 4, 12, 5, 13), t7 = __builtin_shufflevector(v[6], v[7], 2, 10, 3, 11, 6, 14, 7, 15);
  vf8 s0 = __builtin_shufflevector(t0, t2, 0, 1, 8, 9, 4, 5, 12, 13), s1 = __builtin_shufflevector(t0, t2, 2, 3, 10, 11, 6, 7, 14, 15);
  vf8 s2 = __builtin_shufflevector(t1, t3, 0, 1, 8, 9, 4, 5, 12, 13), s3 = __builtin_shufflevector(t1, t3, 2, 3, 10, 11, 6, 7, 14, 15);
  vf8 s4 = __builtin_shufflevector(t4, t6, 0, 1, 8, 9, 4, 5, 12, 13), s5 = __builtin_shufflevector(t4, t6, 2, 3, 10, 11, 6, 7, 14, 15);
  vf8 s6 = __builtin_shufflevector(t5, t7, 0, 1, 8, 9, 4, 5, 12, 13), s7 = __builtin_shufflevector(t5, t7, 2, 3, 10, 11, 6, 7, 14, 15);
  o[0] = __builtin_shufflevector(s0, s4, 0, 1, 2, 3, 8, 9, 10, 11); o[4] = __builtin_shufflevector(s0, s4, 4, 5, 6, 7, 12, 13, 14, 15);
  o[1] = __builtin_shufflevector(s1, s5, 0, 1, 2, 3, 8, 9, 10, 11); o[5] = __builtin_shufflevector(s1, s5, 4, 5, 6, 7, 12, 13, 14, 15);
  o[2] = __builtin_shufflevector(s2, s6, 0, 1, 2, 3, 8, 9, 10, 11); o[6] = __builtin_shufflevector(s2, s6, 4, 5, 6, 7, 12, 13, 14, 15);
  o[3] = __builtin_shufflevector(s3, s7, 0, 1, 2, 3, 8, 9, 10, 11); o[7] = __builtin_shufflevector(s3, s7, 4, 5, 6, 7, 12, 13, 14, 15);
}

/* The fast path's block functions are compiled twice, for AVX2 and for the x86-64 baseline, and
 * the loader picks one (GCC function multiversioning). */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define LR_CLONES
#endif

int64_t lr_kcpu_scan_nchunks(const lr_scan_in *a) { return a->L ? (a->L + a->chunk - 1) / a->chunk : 0; }

#define S f
#define FAST 1
#define VR vf8
#define W 8
#define VEXP vexp_f
#define VEXPN vexpn_f
#define EXPN_MAX 86.5f
#define VEXPX vexpx_f
#define RLOG logf
#define RSQRT sqrtf
#define PSI_DEG 9
#define VSOFTPLUS vsoftplus_f
#define VSIGMOID vsigmoid_f
#define VHSUM vhsum_f
#define VSEL vsel_f
#define VTR_OK 1
#define VTR tr8_f
#define T float
#define R float
#define CPLX 0
#include "kernels/cpu/scan_impl.h"
#define S d
#define FAST 1
#define VR vd4
#define W 4
#define VEXP vexp_d
#define VEXPN vexpn_d
#define EXPN_MAX 700.0
#define VEXPX vexpx_d
#define RLOG log
#define RSQRT sqrt
#define PSI_DEG 16
#define VSOFTPLUS vsoftplus_d
#define VSIGMOID vsigmoid_d
#define VHSUM vhsum_d
#define VSEL vsel_d
#define VTR_OK 0
#define T double
#define R double
#define CPLX 0
#include "kernels/cpu/scan_impl.h"
#define S cf
#define FAST 0
#define T lr_c64
#define R float
#define CPLX 1
#include "kernels/cpu/scan_impl.h"
#define S cd
#define FAST 0
#define T lr_c128
#define R double
#define CPLX 1
#include "kernels/cpu/scan_impl.h"

static size_t wsize(const lr_scan_in *a) {
  size_t r = lr_dtype_size(a->rdt);
  return a->cplx ? 2 * r : r;
}

size_t lr_kcpu_scan_ws_bytes(const lr_scan_in *a, int nthreads, bool backward) {
  size_t w = wsize(a), r = lr_dtype_size(a->rdt);
  size_t per = backward ? (size_t)((a->chunk + 1) * a->N + 4 * a->N) * w + (size_t)(3 * a->chunk) * r
                        : (size_t)a->N * w;
  if (!a->cplx && !a->scalar && fast_ok_f(a)) { /* the fast path's lane vectors (32 bytes each) */
    const bool f32 = a->rdt == LR_DTYPE_F32;
    size_t f = 32 * (f32 ? fast_ws_f(a, backward) : fast_ws_d(a, backward));
    size_t sh = 32 * (f32 ? fast_shared_f(a) : fast_shared_d(a));
    return (f > per ? f : per) * (size_t)(nthreads > 0 ? nthreads : 1) + sh + 64;
  }
  return per * (size_t)(nthreads > 0 ? nthreads : 1) + 64;
}

/* The workspace from 64-byte alignment on (lr_kcpu_scan_ws_bytes reserves the slack). */
static void *ws_align(void *ws) { return (void *)(((uintptr_t)ws + 63) & ~(uintptr_t)63); }

void lr_kcpu_scan_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, void *ws, int nt) {
  ws = ws_align(ws);
  if (a->rdt == LR_DTYPE_F32) {
    if (a->cplx) scan_fwd_cf(a, y, hL, ckpt, ws, nt);
    else scan_fwd_f(a, y, hL, ckpt, ws, nt);
  } else {
    if (a->cplx) scan_fwd_cd(a, y, hL, ckpt, ws, nt);
    else scan_fwd_d(a, y, hL, ckpt, ws, nt);
  }
}

void lr_kcpu_scan_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, int nt) {
  ws = ws_align(ws);
  if (a->rdt == LR_DTYPE_F32) {
    if (a->cplx) scan_bwd_cf(a, ckpt, g, ws, nt);
    else scan_bwd_f(a, ckpt, g, ws, nt);
  } else {
    if (a->cplx) scan_bwd_cd(a, ckpt, g, ws, nt);
    else scan_bwd_d(a, ckpt, g, ws, nt);
  }
}

void lr_kcpu_sum_leading(lr_dtype rdt, int64_t Bn, int64_t M, const void *src, void *dst) {
  if (rdt == LR_DTYPE_F32) {
    const float *s = src;
    float *o = dst;
    for (int64_t m = 0; m < M; m++) {
      float acc = 0;
      for (int64_t b = 0; b < Bn; b++) acc += s[b * M + m];
      o[m] = acc;
    }
  } else {
    const double *s = src;
    double *o = dst;
    for (int64_t m = 0; m < M; m++) {
      double acc = 0;
      for (int64_t b = 0; b < Bn; b++) acc += s[b * M + m];
      o[m] = acc;
    }
  }
}

void lr_kcpu_dscan_fwd(const lr_dscan_in *a, void *h, void *hL) {
  switch (a->dt) {
    case LR_DTYPE_F32: dscan_fwd_f(a, h, hL); break;
    case LR_DTYPE_F64: dscan_fwd_d(a, h, hL); break;
    case LR_DTYPE_C64: dscan_fwd_cf(a, h, hL); break;
    case LR_DTYPE_C128: dscan_fwd_cd(a, h, hL); break;
    default: break;
  }
}

void lr_kcpu_dscan_bwd(const lr_dscan_in *a, const void *h, const void *gh, const void *ghL, void *dx, void *dlam_p,
                       void *ddelta, void *ddeltaA, void *dh0) {
  switch (a->dt) {
    case LR_DTYPE_F32: dscan_bwd_f(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    case LR_DTYPE_F64: dscan_bwd_d(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    case LR_DTYPE_C64: dscan_bwd_cf(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    case LR_DTYPE_C128: dscan_bwd_cd(a, h, gh, ghL, dx, dlam_p, ddelta, ddeltaA, dh0); break;
    default: break;
  }
}

void lr_kcpu_sum_bl(lr_dtype rdt, int64_t Bn, int64_t P, int64_t L, const void *src, void *dst) {
  for (int64_t p = 0; p < P; p++) {
    double acc = 0; /* summed in double for both precisions, in a fixed order */
    for (int64_t b = 0; b < Bn; b++)
      for (int64_t t = 0; t < L; t++)
        acc += rdt == LR_DTYPE_F32 ? (double)((const float *)src)[(b * P + p) * L + t]
                                   : ((const double *)src)[(b * P + p) * L + t];
    if (rdt == LR_DTYPE_F32) ((float *)dst)[p] = (float)acc;
    else ((double *)dst)[p] = acc;
  }
}

#define READOUT(R)                                                                                            \
  static void readout_##R(int64_t Bn, int64_t H, int64_t L, R f, const R *yc, const R *u, const R *D, R *y) { \
    for (int64_t i = 0; i < Bn * H; i++) {                                                                    \
      R dv = D ? D[i % H] : (R)0;                                                                             \
      for (int64_t t = 0; t < L; t++) {                                                                       \
        int64_t k = i * L + t;                                                                                \
        y[k] = D ? f * yc[2 * k] + dv * u[2 * k] : f * yc[2 * k];                                             \
      }                                                                                                       \
    }                                                                                                         \
  }                                                                                                           \
  static void readout_bwd_##R(int64_t Bn, int64_t H, int64_t L, R f, const R *g, const R *u, const R *D,      \
                              R *dyc, R *du, R *dDp) {                                                        \
    for (int64_t i = 0; i < Bn * H; i++) {                                                                    \
      R dv = D ? D[i % H] : (R)0, acc = 0;                                                                    \
      for (int64_t t = 0; t < L; t++) {                                                                       \
        int64_t k = i * L + t;                                                                                \
        dyc[2 * k] = f * g[k];                                                                                \
        dyc[2 * k + 1] = 0;                                                                                   \
        if (D) {                                                                                              \
          du[2 * k] = dv * g[k];                                                                              \
          du[2 * k + 1] = 0;                                                                                  \
          acc += g[k] * u[2 * k];                                                                             \
        }                                                                                                     \
      }                                                                                                       \
      if (D) dDp[i] = acc;                                                                                    \
    }                                                                                                         \
  }
READOUT(float)
READOUT(double)

void lr_kcpu_s5_readout(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *yc, const void *u,
                        const void *D, void *y) {
  if (cdt == LR_DTYPE_C64) readout_float(Bn, H, L, (float)f, yc, u, D, y);
  else readout_double(Bn, H, L, f, yc, u, D, y);
}

void lr_kcpu_s5_readout_bwd(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *g, const void *u,
                            const void *D, void *dyc, void *du, void *dD_p) {
  if (cdt == LR_DTYPE_C64) readout_bwd_float(Bn, H, L, (float)f, g, u, D, dyc, du, dD_p);
  else readout_bwd_double(Bn, H, L, f, g, u, D, dyc, du, dD_p);
}
