/* S4 kernels on the CPU: the Cauchy kernel over conjugate pairs and the log-Vandermonde
 * products, with their backward (c64 / c128; arithmetic in double complex). Batch dims are
 * flattened to Bt; every array is contiguous; gradients are overwritten.
 * Complex gradients follow PyTorch (grad = dL/dRe + i dL/dIm).
 */
#ifndef LR_KCPU_S4_H
#define LR_KCPU_S4_H

#include "tensor/dtype.h"

/* out[b, l] = sum_n v[b, n] / (z[l] - w[b, n]) + conj(v[b, n]) / (z[l] - conj(w[b, n])).
 * v, w (Bt, N), z (L), out (Bt, L). */
void lr_kcpu_cauchy(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z, const void *w,
                    void *out);
/* dv = sum_l g conj(1/(z-w)) + conj(g) / (z - conj w);
 * dw = conj(v) sum_l g / conj(z-w)^2 + conj(g) / (z - conj w)^2;
 * dz[l] = -sum_{b, n} g conj(v/(z-w)^2 + conj(v)/(z - conj w)^2). Each of dv, dw, dz may be NULL. */
void lr_kcpu_cauchy_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z, const void *w,
                        const void *g, void *dv, void *dw, void *dz);

/* out[b, l] = 2 Re sum_n v[b, n] exp(x[b, n] l): v, x (Bt, N) complex, out (Bt, L) real of the
 * same precision. */
void lr_kcpu_log_vandermonde(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *x, void *out);
/* dv = 2 sum_l g conj(e^{xl}); dx = 2 conj(v) sum_l g l conj(e^{xl}); g real (Bt, L). */
void lr_kcpu_log_vandermonde_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *x,
                                 const void *g, void *dv, void *dx);

/* out[b, n] = v[b, n] sum_l u[b, l] exp(x[b, n] l): u (Bt, L), v, x, out (Bt, N), all complex. */
void lr_kcpu_log_vandermonde_t(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u, const void *v,
                               const void *x, void *out);
/* dv = g conj(S), S = sum_l u e^{xl}; dx = g conj(v sum_l u l e^{xl}); du[l] = sum_n g conj(v e^{xl}). */
void lr_kcpu_log_vandermonde_t_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u, const void *v,
                                   const void *x, const void *g, void *du, void *dv, void *dx);

#endif
