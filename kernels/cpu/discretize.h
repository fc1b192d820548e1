/* Elementwise discretization kernels (kernels/discretize_math.h) over a broadcast shape. */
#ifndef LR_KCPU_DISCRETIZE_H
#define LR_KCPU_DISCRETIZE_H

#include "kernels/discretize_math.h"

/* abar, bbar: contiguous, shape[ndim], dtype dt (F32/F64/C64/C128). lam (dt), d and dA (the real
 * dtype of dt; dA may be NULL: Δ_A = Δ): strides in elements in the output's dim space
 * (0 = broadcast). */
void lr_kcpu_discretize(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam, const int64_t *ls,
                        const void *d, const int64_t *ds, const void *dA, const int64_t *dAs, void *abar, void *bbar);

/* Backward: gA, gB contiguous gradients of Ā and B̄ (either may be NULL). Writes, contiguous in the
 * output shape: dlam (dt), dd (real) and, when dA is given, ddA (real); dlam, dd, ddA may be NULL
 * when not wanted. Without dA, the Δ_A partials go into dd. */
void lr_kcpu_discretize_bwd(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam,
                            const int64_t *ls, const void *d, const int64_t *ds, const void *dA, const int64_t *dAs,
                            const void *gA, const void *gB, void *dlam, void *dd, void *ddA);

#endif
