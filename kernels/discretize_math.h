/* Per-element discretization math of a diagonal SSM, shared by the CPU kernels and (later) the
 * CUDA kernels: every function is LR_HD (static inline, __host__ __device__ under nvcc).
 *
 * Notation (lrnnx-inventory §2): λ a diagonal entry of A (real or complex), Δ the step used for
 * B, Δ_A the step used for A (event mode; Δ_A = Δ otherwise). The state update is
 * h_t = Ā_t h_{t-1} + B̄_t (B_t u_t). With v = Δλ, v_A = Δ_A λ:
 *
 *   kind       Ā                     B̄                    notes
 *   zoh        exp(v_A)              Δ φ1(v) = expm1(v)/λ  φ1(v) = expm1(v)/v, stable at v -> 0
 *   bilinear   (1+v_A/2)/(1-v_A/2)   Δ/(1-v/2)             the correct form (lrnnx's python one is inverted)
 *   dirac      exp(v_A)              1
 *   mamba      exp(v_A)              Δ                     Euler on B (Mamba / S6)
 *   async      exp(v_A)              Δ_A φ1(v_A)           lrnnx's legacy form: B̄ uses the τ-scaled step
 *   none       λ                     1                     no_discretization
 *   s7         1 - 1/(Δ² + 0.5)      1                     real only; a_t comes in the Δ slot, λ unused
 *   rglru      a^g = exp(g ln a)     sqrt(1 - Ā²)          real only; a = λ in (0,1), g in the Δ slot;
 *                                                          1 - Ā² is computed as -expm1(2 g ln a)
 *
 * Derivatives (holomorphic in λ; Δ, Δ_A real):
 *   zoh      ∂Ā/∂λ = Δ_A Ā, ∂Ā/∂Δ_A = λ Ā, ∂B̄/∂λ = Δ² ψ(v), ∂B̄/∂Δ = exp(v),
 *            ψ(v) = (v e^v - expm1(v))/v² (a series for |v| < 0.5)
 *   bilinear ∂Ā/∂λ = Δ_A/(1-v_A/2)², ∂Ā/∂Δ_A = λ/(1-v_A/2)², ∂B̄/∂λ = Δ²/2/(1-v/2)², ∂B̄/∂Δ = 1/(1-v/2)²
 *   dirac / mamba: the exp terms of zoh; mamba ∂B̄/∂Δ = 1
 *   s7       ∂Ā/∂Δ = 2Δ/(Δ²+0.5)²
 *   rglru    ∂Ā/∂a = g Ā/a, ∂Ā/∂g = Ā ln a, ∂B̄/∂x = -Ā/B̄ ∂Ā/∂x
 * A caller applying the chain rule with PyTorch's convention (grad = dL/dRe + i dL/dIm) does
 *   dλ += gĀ conj(∂Ā/∂λ) + gB̄ conj(∂B̄/∂λ),  dΔ += Re(gĀ conj(∂Ā/∂Δ) + gB̄ conj(∂B̄/∂Δ)).
 *
 * The complex expm1 uses the half-angle form: expm1(x+iy) = expm1(x) cos y - 2 sin²(y/2)
 * + i e^x sin y, which keeps full relative accuracy near 0 (lrnnx's common.h::cexpm1f, unused there).
 *
 * Four flavours share one body (discretize_math_impl.h): suffix _f (float), _d (double),
 * _cf (lr_c64), _cd (lr_c128). Basic arithmetic for each flavour is defined below as dm_*_SFX.
 */
#ifndef LR_DISCRETIZE_MATH_H
#define LR_DISCRETIZE_MATH_H

#include "tensor/dtype.h"

/* The discretizations. Zero is mamba, lrnnx's selective_scan_fn default. */
typedef enum {
  LR_DISC_MAMBA = 0,
  LR_DISC_ZOH,
  LR_DISC_BILINEAR,
  LR_DISC_DIRAC,
  LR_DISC_ASYNC,
  LR_DISC_NONE, /* "no_discretization" */
  LR_DISC_S7,
  LR_DISC_RGLRU,
  LR_DISC_COUNT
} lr_disc;

/* the kinds whose Ā depends on λ and Δ_A only and B̄ on λ and Δ only (lr_disc_deriv_a) */
LR_HD int lr_disc_split(int kind) {
  return kind == LR_DISC_ZOH || kind == LR_DISC_BILINEAR || kind == LR_DISC_DIRAC || kind == LR_DISC_MAMBA;
}

/* ---- basic arithmetic per flavour ---- */
#define LR_DM_REAL_OPS(S, T)                                                 \
  LR_HD T dm_mul_##S(T a, T b) { return a * b; }                             \
  LR_HD T dm_add_##S(T a, T b) { return a + b; }                             \
  LR_HD T dm_sub_##S(T a, T b) { return a - b; }                             \
  LR_HD T dm_div_##S(T a, T b) { return a / b; }                             \
  LR_HD T dm_scale_##S(T a, T s) { return a * s; }                           \
  LR_HD T dm_r_##S(T x) { return x; }                                        \
  LR_HD T dm_re_##S(T a) { return a; }                                       \
  LR_HD T dm_conj_##S(T a) { return a; }                                     \
  LR_HD T dm_abs2_##S(T a) { return a * a; }                                 \
  /* Re(a conj(b)) */                                                        \
  LR_HD T dm_redot_##S(T a, T b) { return a * b; }
LR_DM_REAL_OPS(f, float)
LR_DM_REAL_OPS(d, double)
LR_HD float dm_exp_f(float a) { return expf(a); }
LR_HD double dm_exp_d(double a) { return exp(a); }
LR_HD float dm_expm1_f(float a) { return expm1f(a); }
LR_HD double dm_expm1_d(double a) { return expm1(a); }
LR_HD float dm_log_f(float a) { return logf(a); }
LR_HD double dm_log_d(double a) { return log(a); }
LR_HD float dm_sqrt_f(float a) { return sqrtf(a); }
LR_HD double dm_sqrt_d(double a) { return sqrt(a); }

#define LR_DM_CPLX_OPS(S, T, R, C, SIN, COS, EXP, EXPM1)                                          \
  LR_HD T dm_mul_##S(T a, T b) { return C##_mul(a, b); }                                          \
  LR_HD T dm_add_##S(T a, T b) { return C##_add(a, b); }                                          \
  LR_HD T dm_sub_##S(T a, T b) { return C##_sub(a, b); }                                          \
  LR_HD T dm_div_##S(T a, T b) { return C##_div(a, b); }                                          \
  LR_HD T dm_scale_##S(T a, R s) { return C##_scale(a, s); }                                      \
  LR_HD T dm_r_##S(R x) { return C##_make(x, (R)0); }                                             \
  LR_HD R dm_re_##S(T a) { return a.re; }                                                         \
  LR_HD T dm_conj_##S(T a) { return C##_conj(a); }                                                \
  LR_HD R dm_abs2_##S(T a) { return a.re * a.re + a.im * a.im; }                                  \
  LR_HD R dm_redot_##S(T a, T b) { return a.re * b.re + a.im * b.im; }                            \
  LR_HD T dm_exp_##S(T a) { return C##_exp(a); }                                                  \
  LR_HD T dm_expm1_##S(T a) {                                                                     \
    R s = SIN(a.im * (R)0.5);                                                                     \
    return C##_make(EXPM1(a.re) * COS(a.im) - (R)2 * s * s, EXP(a.re) * SIN(a.im));               \
  }
LR_DM_CPLX_OPS(cf, lr_c64, float, lr_c64, sinf, cosf, expf, expm1f)
LR_DM_CPLX_OPS(cd, lr_c128, double, lr_c128, sin, cos, exp, expm1)

/* ---- the discretizations, one body per flavour ---- */
#define DM_S f
#define DM_T float
#define DM_R float
#define DM_COMPLEX 0
#include "kernels/discretize_math_impl.h"
#define DM_S d
#define DM_T double
#define DM_R double
#define DM_COMPLEX 0
#include "kernels/discretize_math_impl.h"
#define DM_S cf
#define DM_T lr_c64
#define DM_R float
#define DM_COMPLEX 1
#include "kernels/discretize_math_impl.h"
#define DM_S cd
#define DM_T lr_c128
#define DM_R double
#define DM_COMPLEX 1
#include "kernels/discretize_math_impl.h"

#endif
