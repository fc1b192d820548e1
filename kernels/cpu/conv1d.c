/* Causal depthwise conv1d kernels on the CPU; see conv1d.h. Direct summation (K is small, 2-4
 * in the models): O(B D L K) forward and backward, one (b, d) line or one channel per thread.
 * Reference: causal-conv1d's causal_conv1d_fn / causal_conv1d_update (Dao-AILab), which lrnnx
 * calls, and F.conv1d(x, w, padding=K-1)[..., :L]. */
#include "kernels/cpu/conv1d.h"

#include <math.h>
#include <omp.h>

#define LR_CONV_PAR_MIN 32768

#define T float
#define SFX f32
#include "kernels/cpu/conv1d_impl.h"
#undef T
#undef SFX
#define T double
#define SFX f64
#include "kernels/cpu/conv1d_impl.h"
#undef T
#undef SFX

void lr_kcpu_causal_conv1d_fwd(lr_dtype dt, int64_t B, int64_t D, int64_t L, int64_t K, const void *x, const void *w,
                               const void *bias, const void *s0, bool silu, void *y, void *state) {
  if (dt == LR_DTYPE_F32) fwd_f32(B, D, L, K, x, w, bias, s0, silu, y, state);
  else fwd_f64(B, D, L, K, x, w, bias, s0, silu, y, state);
}

size_t lr_kcpu_causal_conv1d_work_bytes(int64_t L, int64_t K) {
  return sizeof(double) * (size_t)(L + K) * (size_t)omp_get_max_threads();
}

void lr_kcpu_causal_conv1d_bwd(lr_dtype dt, int64_t B, int64_t D, int64_t L, int64_t K, const void *x, const void *w,
                               const void *bias, const void *s0, bool silu, const void *g, const void *gs, void *dx,
                               void *dw, void *dbias, void *ds0, void *work) {
  if (dt == LR_DTYPE_F32) bwd_f32(B, D, L, K, x, w, bias, s0, silu, g, gs, dx, dw, dbias, ds0, work);
  else bwd_f64(B, D, L, K, x, w, bias, s0, silu, g, gs, dx, dw, dbias, ds0, work);
}

void lr_kcpu_causal_conv1d_step(lr_dtype dt, int64_t B, int64_t D, int64_t K, const void *x, void *state,
                                const void *w, const void *bias, bool silu, void *y) {
  if (dt == LR_DTYPE_F32) step_f32(B, D, K, x, state, w, bias, silu, y);
  else step_f64(B, D, K, x, state, w, bias, silu, y);
}
