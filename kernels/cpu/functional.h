/* CPU kernels of the functional ops (ops/functional.c): softmax, log_softmax, cross entropy,
 * mse, layer norm, RMS norm and the dropout product, forward and fused backward.
 *
 * Every tensor argument is contiguous; dt is LR_DTYPE_F32 or LR_DTYPE_F64 and says what the
 * void pointers hold. Reductions (row sums, means, variances) accumulate in double. Rows are
 * split across OpenMP threads. Backward kernels OVERWRITE their outputs; the op accumulates
 * them into the gradients. */
#ifndef LR_KCPU_FUNCTIONAL_H
#define LR_KCPU_FUNCTIONAL_H

#include "tensor/dtype.h"

/* y = softmax(x) (or log_softmax) along the middle dim of a (outer, D, inner) block. */
void lr_kcpu_softmax(lr_dtype dt, bool log, const void *x, void *y, int64_t outer, int64_t D, int64_t inner);
/* softmax:     dx = y * (g - sum_D(g * y))
 * log_softmax: dx = g - exp(y) * sum_D(g)
 * y, g, dx: (outer, D, inner). */
void lr_kcpu_softmax_bwd(lr_dtype dt, bool log, const void *y, const void *g, void *dx, int64_t outer, int64_t D,
                         int64_t inner);

/* Cross entropy of rows (n, s): x (N, C, S) logits, tgt (N, S) i64 classes, all in [0, C) or
 * == ignore (checked by the op). Per kept row: lse - (1 - eps) x_t - eps mean_c(x_c).
 * *loss_sum: the sum over kept rows, *count: their number. */
void lr_kcpu_cross_entropy(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S,
                           int64_t ignore, double eps, double *loss_sum, int64_t *count);
/* dx (N, C, S) = scale * (softmax(x) - (1 - eps) onehot(t) - eps / C) on kept rows, 0 on ignored. */
void lr_kcpu_cross_entropy_bwd(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S,
                               int64_t ignore, double eps, double scale, void *dx);

/* Layer norm over rows of H: y = (x - mean) rstd * w + b (w, b (H) may be NULL);
 * mean, rstd (rows) double, saved for the backward. */
void lr_kcpu_layer_norm(lr_dtype dt, const void *x, const void *w, const void *b, void *y, double *mean, double *rstd,
                        int64_t rows, int64_t H, double eps);
/* RMS norm: y = x rstd * w, rstd = 1 / sqrt(mean(x^2) + eps) (rows) double. */
void lr_kcpu_rms_norm(lr_dtype dt, const void *x, const void *w, void *y, double *rstd, int64_t rows, int64_t H,
                      double eps);
/* dx of either norm (mean == NULL: RMS norm). With xh = (x - mean) rstd, dxh = g * w:
 *   layer norm: dx = rstd (dxh - mean(dxh) - xh mean(dxh xh))
 *   RMS norm:   dx = rstd (dxh - xh mean(dxh xh)) */
void lr_kcpu_norm_bwd(lr_dtype dt, const void *x, const void *w, const double *mean, const double *rstd, const void *g,
                      void *dx, int64_t rows, int64_t H);
/* dw = sum_rows g * xh, db = sum_rows g (either may be NULL); parallel over column blocks. */
void lr_kcpu_norm_param_bwd(lr_dtype dt, const void *x, const double *mean, const double *rstd, const void *g, void *dw,
                            void *db, int64_t rows, int64_t H);

/* sum((x - t)^2) over n elements; out (n), if not NULL, gets the squares. */
double lr_kcpu_mse(lr_dtype dt, const void *x, const void *t, void *out, int64_t n);
/* dx = scale * 2 (x - t) * g[i * g_step] and dt = -dx (either NULL); g_step 0: a scalar g. */
void lr_kcpu_mse_bwd(lr_dtype dt, const void *x, const void *t, const void *g, int64_t g_step, double scale, void *dx,
                     void *dtgt, int64_t n);

/* y = a * b * scale, n elements (dropout: x times its 0/1 mask times 1/(1-p), and the backward). */
void lr_kcpu_mul_scaled(lr_dtype dt, const void *a, const void *b, double scale, void *y, int64_t n);

#endif
