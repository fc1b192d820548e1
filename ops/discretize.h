/* Discretization of a diagonal state matrix: lr_discretize (zoh, bilinear, dirac, mamba, async,
 * no_discretization, s7, rglru); the math is kernels/discretize_math.h. */
#ifndef LR_OPS_DISCRETIZE_H
#define LR_OPS_DISCRETIZE_H

#include "autograd/autograd.h"
#include "kernels/discretize_math.h"

/* The discretization called name ("zoh", "bilinear", "dirac", "mamba", "async",
 * "no_discretization" (or "none"), "s7", "rglru"); LR_ERR_ARG naming the string otherwise. */
lr_status lr_disc_from_name(const char *name, lr_disc *out);
/* The canonical name of kind ("?" when out of range). */
const char *lr_disc_name(lr_disc kind);

/* Ā and B̄ of a diagonal A, elementwise with broadcasting:
 *   lambda: λ, real (f32/f64) or complex (c64/c128), any shape ((N), (D, N) ...); for rglru the
 *           base a in (0, 1);
 *   delta:  Δ, the real dtype of lambda, broadcastable (for s7: a_t; for rglru: the exponent g);
 *   delta_A: NULL, or Δ_A for A (event mode), broadcastable; async uses it for both Ā and B̄.
 * abar, bbar: lambda's dtype, the broadcast shape of the three. s7 and rglru take real lambda.
 * Differentiable in lambda, delta and delta_A. */
lr_status lr_discretize(lr_tensor *lambda, lr_tensor *delta, lr_tensor *delta_A, lr_disc kind, lr_tensor **abar,
                        lr_tensor **bbar);

#endif
