/* S4 kernels on the CPU; see s4.h. Direct O(Bt N L) sums, parallel over the output index so no
 * two threads write the same element and sums over the batch run in a fixed order.
 * Reference: lrnnx csrc/s4 (cauchy_mult, log_vandermonde) and ops/s4_utils.py
 * (cauchy_naive, log_vandermonde_naive, log_vandermonde_transpose_naive). */
#include "kernels/cpu/s4.h"

#define LR_S4_PAR_MIN 8192

#define T float
#define SFX c64
#include "kernels/cpu/s4_impl.h"
#undef T
#undef SFX
#define T double
#define SFX c128
#include "kernels/cpu/s4_impl.h"
#undef T
#undef SFX

#define DISPATCH(dt, name, ...)                       \
  do {                                                \
    if ((dt) == LR_DTYPE_C64) name##_c64(__VA_ARGS__); \
    else name##_c128(__VA_ARGS__);                    \
  } while (0)

void lr_kcpu_cauchy(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z, const void *w,
                    void *out) {
  DISPATCH(dt, cauchy, Bt, N, L, v, z, w, out);
}
void lr_kcpu_cauchy_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z, const void *w,
                        const void *g, void *dv, void *dw, void *dz) {
  DISPATCH(dt, cauchy_bwd, Bt, N, L, v, z, w, g, dv, dw, dz);
}
void lr_kcpu_log_vandermonde(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *x, void *out) {
  DISPATCH(dt, vand, Bt, N, L, v, x, out);
}
void lr_kcpu_log_vandermonde_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *x,
                                 const void *g, void *dv, void *dx) {
  DISPATCH(dt, vand_bwd, Bt, N, L, v, x, g, dv, dx);
}
void lr_kcpu_log_vandermonde_t(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u, const void *v,
                               const void *x, void *out) {
  DISPATCH(dt, vand_t, Bt, N, L, u, v, x, out);
}
void lr_kcpu_log_vandermonde_t_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u, const void *v,
                                   const void *x, const void *g, void *du, void *dv, void *dx) {
  DISPATCH(dt, vand_t_bwd, Bt, N, L, u, v, x, g, du, dv, dx);
}
