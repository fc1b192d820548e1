/* Elementwise ops with NumPy broadcasting.
 * Binary ops take two tensors of the same dtype and device; F32, F64 and (where the math is
 * defined) C64, C128. Outputs are new contiguous arena tensors. Inputs may be strided views. */
#ifndef LR_OPS_ELEMENTWISE_H
#define LR_OPS_ELEMENTWISE_H

#include "autograd/autograd.h"

lr_status lr_add(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_sub(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_mul(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_div(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_pow(lr_tensor *a, lr_tensor *b, lr_tensor **out);     /* real: a^b, a > 0 where b is not integral */
lr_status lr_maximum(lr_tensor *a, lr_tensor *b, lr_tensor **out); /* real; ties send the gradient half/half */
lr_status lr_minimum(lr_tensor *a, lr_tensor *b, lr_tensor **out);
/* y = a * s + t (scalars), any float dtype (complex: t adds to the real part): covers add/mul by
 * a constant. */
lr_status lr_affine(lr_tensor *a, double s, double t, lr_tensor **out);
lr_status lr_pow_scalar(lr_tensor *a, double p, lr_tensor **out); /* real: a^p */

/* Unary maps: F32, F64; neg, exp, log and abs also take C64, C128. */
lr_status lr_neg(lr_tensor *x, lr_tensor **out);
lr_status lr_exp(lr_tensor *x, lr_tensor **out); /* also complex */
lr_status lr_log(lr_tensor *x, lr_tensor **out); /* also complex (principal branch) */
lr_status lr_abs(lr_tensor *x, lr_tensor **out); /* complex input: real |z| output, dz = g z/|z| */
lr_status lr_log1p(lr_tensor *x, lr_tensor **out);
lr_status lr_expm1(lr_tensor *x, lr_tensor **out);
lr_status lr_sqrt(lr_tensor *x, lr_tensor **out);
lr_status lr_rsqrt(lr_tensor *x, lr_tensor **out);
lr_status lr_sin(lr_tensor *x, lr_tensor **out);
lr_status lr_cos(lr_tensor *x, lr_tensor **out);
lr_status lr_tanh(lr_tensor *x, lr_tensor **out);
lr_status lr_sigmoid(lr_tensor *x, lr_tensor **out);
/* log(1 + e^(beta x)) / beta, linear (x) where beta x > threshold (PyTorch: beta 1, threshold 20);
 * beta nonzero. Below the threshold the form (max(bx, 0) + log1p(e^-|bx|)) / beta never overflows. */
lr_status lr_softplus(lr_tensor *x, double beta, double threshold, lr_tensor **out);
lr_status lr_silu(lr_tensor *x, lr_tensor **out);
typedef enum { LR_GELU_ERF = 0, LR_GELU_TANH } lr_gelu_kind;
lr_status lr_gelu(lr_tensor *x, lr_gelu_kind kind, lr_tensor **out);
lr_status lr_relu(lr_tensor *x, lr_tensor **out);
/* clamp to [lo, hi] (lo <= hi); use -INFINITY / INFINITY for one side. Gradient 1 inside and on
 * the bounds (as PyTorch), 0 outside. */
lr_status lr_clamp(lr_tensor *x, double lo, double hi, lr_tensor **out);
/* cond (BOOL) ? a : b, broadcasting all three. a and b: the same dtype (float, integer or bool). */
lr_status lr_where(lr_tensor *cond, lr_tensor *a, lr_tensor *b, lr_tensor **out);
/* x with value where mask (BOOL, broadcast to x) is true; x float or integer (value truncated),
 * complex x gets value + 0i. The output has x's shape. */
lr_status lr_masked_fill(lr_tensor *x, lr_tensor *mask, double value, lr_tensor **out);

/* Comparisons with broadcasting: a BOOL tensor, not differentiable (never recorded).
 * a and b: the same dtype, F32, F64, I32 or I64. */
lr_status lr_eq(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_ne(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_lt(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_le(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_gt(lr_tensor *a, lr_tensor *b, lr_tensor **out);
lr_status lr_ge(lr_tensor *a, lr_tensor *b, lr_tensor **out);

#endif
