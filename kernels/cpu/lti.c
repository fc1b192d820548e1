/* LTI kernels on the CPU; see lti.h.
 *
 * Powers: K[n, l] = A^l by a running product in double. The relative error after l products
 * is at most about l * 2^-53 (1e-12 at l = 10^4), independent of |A|, and it handles what
 * exp(l log A) does not: A = 0 (K = 1, 0, 0, ...), negative real A, and it never amplifies the
 * rounding of log A by l (exp(l (log A + e)) has relative error l * |e|, with |e| up to
 * |log A| * 2^-53, worse for |A| far from 1). f32 results are rounded once from double.
 * Backward: dK/dA = l A^{l-1} = l K[l-1], so dA = sum_l l g_l conj(K[l-1]).
 * Scan: the diagonal recurrence h_t = A h_{t-1} + u_t and its reverse (PyTorch's complex
 * convention: the reverse scan runs with conj(A)).
 */
#include "kernels/cpu/lti.h"

#define LR_LTI_PAR_MIN 16384

#define T float
#define CPLX 0
#define SFX f32
#include "kernels/cpu/lti_impl.h"
#undef T
#undef CPLX
#undef SFX
#define T double
#define CPLX 0
#define SFX f64
#include "kernels/cpu/lti_impl.h"
#undef T
#undef CPLX
#undef SFX
#define T float
#define CPLX 1
#define SFX c64
#include "kernels/cpu/lti_impl.h"
#undef T
#undef CPLX
#undef SFX
#define T double
#define CPLX 1
#define SFX c128
#include "kernels/cpu/lti_impl.h"
#undef T
#undef CPLX
#undef SFX

#define DISPATCH(dt, name, ...)                                   \
  do {                                                            \
    switch (dt) {                                                 \
      case LR_DTYPE_F32: name##_f32(__VA_ARGS__); break;          \
      case LR_DTYPE_F64: name##_f64(__VA_ARGS__); break;          \
      case LR_DTYPE_C64: name##_c64(__VA_ARGS__); break;          \
      case LR_DTYPE_C128: name##_c128(__VA_ARGS__); break;        \
      default: break;                                             \
    }                                                             \
  } while (0)

void lr_kcpu_lti_kernel(lr_dtype dt, int64_t N, int64_t L, const void *A, void *K) { DISPATCH(dt, kernel, N, L, A, K); }

void lr_kcpu_lti_kernel_bwd(lr_dtype dt, int64_t N, int64_t L, const void *K, const void *g, void *dA) {
  DISPATCH(dt, kernel_bwd, N, L, K, g, dA);
}

void lr_kcpu_lti_scan(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *u, const void *A, void *h) {
  DISPATCH(dt, scan, B, L, N, u, A, h);
}

void lr_kcpu_lti_scan_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *A, const void *h, const void *g,
                          void *du, void *dA) {
  DISPATCH(dt, scan_bwd, B, L, N, A, h, g, du, dA);
}
