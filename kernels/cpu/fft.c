/* FFT kernels on the CPU with FFTW (float: fftwf_, double: fftw_); see fft.h.
 *
 * Causal convolution by FFT: with n >= L + Lk - 1, the circular convolution of x and k, both
 * zero-padded to n, equals the linear one on [0, L), so y = irfft(rfft(x) * rfft(k))[:L] / n.
 * The backward is two correlations, also by FFT: dx = irfft(conj(rfft(k)) * rfft(g))[:L] / n and
 * dk = irfft(sum_b conj(rfft(x_b)) * rfft(g_b))[:Lk] / n; the same n keeps the negative lags
 * (which wrap to n - L + 1 ... n - 1) clear of the kept range [0, max(L, Lk)).
 * Any n works (FFTW handles every size); lr_kcpu_fft_good_size picks a 7-smooth one.
 */
#include "kernels/cpu/fft.h"

#include <fftw3.h>
#include <omp.h>
#include <pthread.h>
#include <string.h>

#define LR_FFT_PAR_MIN 32768 /* below this much work a kernel runs on one thread */

enum { KIND_C2C_FWD, KIND_C2C_BWD, KIND_R2C, KIND_C2R, KIND_COUNT };

static size_t align64(size_t b) { return (b + 63) & ~(size_t)63; }

/* ---- the plan cache ---- */
typedef struct {
  int64_t n;
  int kind; /* KIND_* for double, KIND_COUNT + KIND_* for float */
  void *plan;
} plan_entry;

#define LR_FFT_MAX_PLANS 256
static plan_entry plans[LR_FFT_MAX_PLANS];
static int n_plans;
static pthread_mutex_t plan_mu = PTHREAD_MUTEX_INITIALIZER;

static void *plan_make(int64_t n, int kind) {
  int k = kind % KIND_COUNT;
  bool f32 = kind >= KIND_COUNT;
  size_t es = f32 ? sizeof(float) : sizeof(double);
  void *a = f32 ? fftwf_malloc(2 * (size_t)n * es) : fftw_malloc(2 * (size_t)n * es);
  void *b = f32 ? fftwf_malloc(2 * (size_t)n * es) : fftw_malloc(2 * (size_t)n * es);
  void *p = NULL;
  if (a && b) {
    /* FFTW_UNALIGNED: the executes run on per-row slices (khat + 2 h F) that are only 8-byte
     * aligned for f32 when F = n/2 + 1 is odd; a SIMD plan made on aligned arrays faults there. */
    unsigned fl = FFTW_ESTIMATE | FFTW_UNALIGNED;
    int ni = (int)n;
    if (f32) {
      if (k == KIND_C2C_FWD) p = fftwf_plan_dft_1d(ni, a, b, FFTW_FORWARD, fl);
      else if (k == KIND_C2C_BWD) p = fftwf_plan_dft_1d(ni, a, b, FFTW_BACKWARD, fl);
      else if (k == KIND_R2C) p = fftwf_plan_dft_r2c_1d(ni, a, b, fl);
      else p = fftwf_plan_dft_c2r_1d(ni, a, b, fl);
    } else {
      if (k == KIND_C2C_FWD) p = fftw_plan_dft_1d(ni, a, b, FFTW_FORWARD, fl);
      else if (k == KIND_C2C_BWD) p = fftw_plan_dft_1d(ni, a, b, FFTW_BACKWARD, fl);
      else if (k == KIND_R2C) p = fftw_plan_dft_r2c_1d(ni, a, b, fl);
      else p = fftw_plan_dft_c2r_1d(ni, a, b, fl);
    }
  }
  if (f32) {
    fftwf_free(a);
    fftwf_free(b);
  } else {
    fftw_free(a);
    fftw_free(b);
  }
  return p;
}

/* The cached plan for (n, kind), made on first use; NULL if FFTW fails or the cache is full
 * (LR_FFT_MAX_PLANS distinct sizes and kinds: far more than a model uses). */
static void *plan_get(int64_t n, int kind) {
  if (n < 1 || n > (int64_t)0x7fffffff) return NULL;
  void *p = NULL;
  pthread_mutex_lock(&plan_mu);
  for (int i = 0; i < n_plans; i++)
    if (plans[i].n == n && plans[i].kind == kind) {
      p = plans[i].plan;
      break;
    }
  if (!p && n_plans < LR_FFT_MAX_PLANS) {
    p = plan_make(n, kind);
    if (p) plans[n_plans++] = (plan_entry){n, kind, p};
  }
  pthread_mutex_unlock(&plan_mu);
  return p;
}

void lr_kcpu_fft_clear_cache(void) {
  pthread_mutex_lock(&plan_mu);
  for (int i = 0; i < n_plans; i++) {
    if (plans[i].kind >= KIND_COUNT) fftwf_destroy_plan(plans[i].plan);
    else fftw_destroy_plan(plans[i].plan);
  }
  n_plans = 0;
  pthread_mutex_unlock(&plan_mu);
}

int64_t lr_kcpu_fft_good_size(int64_t m) {
  if (m < 1) return 1;
  for (int64_t n = m;; n++) {
    int64_t r = n;
    for (int p = 2; p <= 7; p++)
      while (r % p == 0) r /= p;
    if (r == 1) return n;
  }
}

int lr_kcpu_fft_threads(void) { return omp_get_max_threads(); }

#define R double
#define SFX f64
#define FW fftw_
#define FWC fftw_complex
#define KIND_BASE 0
#include "kernels/cpu/fft_impl.h"
#undef R
#undef SFX
#undef FW
#undef FWC
#undef KIND_BASE

#define R float
#define SFX f32
#define FW fftwf_
#define FWC fftwf_complex
#define KIND_BASE KIND_COUNT
#include "kernels/cpu/fft_impl.h"
#undef R
#undef SFX
#undef FW
#undef FWC
#undef KIND_BASE

size_t lr_kcpu_fft_c_work_bytes(lr_dtype dt, int64_t n, int threads) {
  return (dt == LR_DTYPE_C64 ? c_slot_f32(n) : c_slot_f64(n)) * (size_t)threads;
}

lr_status lr_kcpu_fft_c(lr_dtype dt, bool inverse, int64_t n, int64_t outer, int64_t m_in, int64_t m_out,
                        int64_t inner, const void *x, void *y, double scale, void *work) {
  if (dt == LR_DTYPE_C64) return fft_c_f32(inverse, n, outer, m_in, m_out, inner, x, y, scale, work);
  return fft_c_f64(inverse, n, outer, m_in, m_out, inner, x, y, scale, work);
}

size_t lr_kcpu_fft_conv_work_bytes(lr_dtype dt, int64_t n, int64_t H, int threads) {
  if (dt == LR_DTYPE_F32) return khat_bytes_f32(n, H) + conv_slot_f32(n) * (size_t)threads;
  return khat_bytes_f64(n, H) + conv_slot_f64(n) * (size_t)threads;
}

lr_status lr_kcpu_fft_conv_fwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const void *x,
                               const void *k, void *y, void *work) {
  if (dt == LR_DTYPE_F32) return conv_fwd_f32(B, L, H, Lk, n, x, k, y, work);
  return conv_fwd_f64(B, L, H, Lk, n, x, k, y, work);
}

lr_status lr_kcpu_fft_conv_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const void *x,
                               const void *k, const void *g, void *dx, void *dk, void *work) {
  if (dt == LR_DTYPE_F32) return conv_bwd_f32(B, L, H, Lk, n, x, k, g, dx, dk, work);
  return conv_bwd_f64(B, L, H, Lk, n, x, k, g, dx, dk, work);
}
