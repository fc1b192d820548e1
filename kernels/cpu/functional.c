/* CPU kernels of the functional ops; the math and the backward formulas are in functional.h.
 *
 * The bodies live in functional_impl.h, instantiated here for float and double; the exported
 * functions only dispatch on dt. Each row (a softmax row, a cross-entropy position, a norm row)
 * is independent, so rows go to OpenMP threads with no scratch memory; the parameter gradients
 * of the norms, a sum over rows, are split by column blocks instead.
 */
#include "kernels/cpu/functional.h"

#include <math.h>

#define T float
#define SFX f32
#include "kernels/cpu/functional_impl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "kernels/cpu/functional_impl.h"
#undef T
#undef SFX

#define DISPATCH(dt, CALL32, CALL64)  \
  do {                                \
    if ((dt) == LR_DTYPE_F32) CALL32; \
    else if ((dt) == LR_DTYPE_F64) CALL64; \
  } while (0)

void lr_kcpu_softmax(lr_dtype dt, bool log, const void *x, void *y, int64_t outer, int64_t D, int64_t inner) {
  DISPATCH(dt, softmax_f32(log, x, y, outer, D, inner), softmax_f64(log, x, y, outer, D, inner));
}

void lr_kcpu_softmax_bwd(lr_dtype dt, bool log, const void *y, const void *g, void *dx, int64_t outer, int64_t D,
                         int64_t inner) {
  DISPATCH(dt, softmax_bwd_f32(log, y, g, dx, outer, D, inner), softmax_bwd_f64(log, y, g, dx, outer, D, inner));
}

void lr_kcpu_cross_entropy(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S,
                           int64_t ignore, double eps, double *loss_sum, int64_t *count) {
  *loss_sum = 0;
  *count = 0;
  DISPATCH(dt, cross_entropy_f32(x, tgt, N, C, S, ignore, eps, loss_sum, count),
           cross_entropy_f64(x, tgt, N, C, S, ignore, eps, loss_sum, count));
}

void lr_kcpu_cross_entropy_bwd(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S,
                               int64_t ignore, double eps, double scale, void *dx) {
  DISPATCH(dt, cross_entropy_bwd_f32(x, tgt, N, C, S, ignore, eps, scale, dx),
           cross_entropy_bwd_f64(x, tgt, N, C, S, ignore, eps, scale, dx));
}

void lr_kcpu_layer_norm(lr_dtype dt, const void *x, const void *w, const void *b, void *y, double *mean, double *rstd,
                        int64_t rows, int64_t H, double eps) {
  DISPATCH(dt, layer_norm_f32(x, w, b, y, mean, rstd, rows, H, eps),
           layer_norm_f64(x, w, b, y, mean, rstd, rows, H, eps));
}

void lr_kcpu_rms_norm(lr_dtype dt, const void *x, const void *w, void *y, double *rstd, int64_t rows, int64_t H,
                      double eps) {
  DISPATCH(dt, rms_norm_f32(x, w, y, rstd, rows, H, eps), rms_norm_f64(x, w, y, rstd, rows, H, eps));
}

void lr_kcpu_norm_bwd(lr_dtype dt, const void *x, const void *w, const double *mean, const double *rstd, const void *g,
                      void *dx, int64_t rows, int64_t H) {
  DISPATCH(dt, norm_bwd_f32(x, w, mean, rstd, g, dx, rows, H), norm_bwd_f64(x, w, mean, rstd, g, dx, rows, H));
}

void lr_kcpu_norm_param_bwd(lr_dtype dt, const void *x, const double *mean, const double *rstd, const void *g, void *dw,
                            void *db, int64_t rows, int64_t H) {
  DISPATCH(dt, norm_param_bwd_f32(x, mean, rstd, g, dw, db, rows, H),
           norm_param_bwd_f64(x, mean, rstd, g, dw, db, rows, H));
}

double lr_kcpu_mse(lr_dtype dt, const void *x, const void *t, void *out, int64_t n) {
  double s = 0;
  DISPATCH(dt, s = mse_f32(x, t, out, n), s = mse_f64(x, t, out, n));
  return s;
}

void lr_kcpu_mse_bwd(lr_dtype dt, const void *x, const void *t, const void *g, int64_t g_step, double scale, void *dx,
                     void *dtgt, int64_t n) {
  DISPATCH(dt, mse_bwd_f32(x, t, g, g_step, scale, dx, dtgt, n), mse_bwd_f64(x, t, g, g_step, scale, dx, dtgt, n));
}

void lr_kcpu_mul_scaled(lr_dtype dt, const void *a, const void *b, double scale, void *y, int64_t n) {
  DISPATCH(dt, mul_scaled_f32(a, b, scale, y, n), mul_scaled_f64(a, b, scale, y, n));
}
