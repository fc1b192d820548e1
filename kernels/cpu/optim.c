/* Optimizer update loops (CPU); see optim.h. PyTorch's single-tensor (foreach=False) formulas,
 * element by element: scalars are formed in double and the per-element arithmetic runs in the
 * tensor's precision (T), so f32 results match PyTorch's f32 updates to rounding. */
#include "kernels/cpu/optim.h"

#include <math.h>

#define OMP_MIN 32768

#define ADAM_LOOP(T, SQRT)                                                                             \
  do {                                                                                                 \
    T *P = p, *M = m, *V = v;                                                                          \
    const T *G = g;                                                                                    \
    const T b1 = (T)a->beta1, b2 = (T)a->beta2, omb1 = (T)(1.0 - a->beta1), omb2 = (T)(1.0 - a->beta2); \
    const T wd = (T)a->weight_decay, decay = (T)(1.0 - a->lr * a->weight_decay);                      \
    const T step = (T)(a->lr / a->bias_correction1), bc2s = (T)a->bias_correction2_sqrt, eps = (T)a->eps; \
    const int dec = a->decoupled, has_wd = a->weight_decay != 0.0;                                   \
    _Pragma("omp parallel for if (n > OMP_MIN)") for (int64_t i = 0; i < n; i++) {                     \
      T gi = G[i], pi = P[i];                                                                          \
      if (has_wd) {                                                                                    \
        if (dec) pi *= decay;                                                                          \
        else gi += wd * pi;                                                                            \
      }                                                                                                \
      T mi = b1 * M[i] + omb1 * gi;                                                                    \
      T vi = b2 * V[i] + omb2 * gi * gi;                                                               \
      M[i] = mi;                                                                                       \
      V[i] = vi;                                                                                       \
      P[i] = pi - step * mi / (SQRT(vi) / bc2s + eps);                                                 \
    }                                                                                                  \
  } while (0)

void lr_kcpu_adam(lr_dtype dt, int64_t n, void *p, const void *g, void *m, void *v, const lr_adam_args *a) {
  if (dt == LR_DTYPE_F32) ADAM_LOOP(float, sqrtf);
  else ADAM_LOOP(double, sqrt);
}

#define SGD_LOOP(T)                                                                                   \
  do {                                                                                                \
    T *P = p, *B = buf;                                                                               \
    const T *G = g;                                                                                   \
    const T wd = (T)a->weight_decay, mom = (T)a->momentum, omd = (T)(1.0 - a->dampening);             \
    const T lr = (T)a->lr;                                                                            \
    const int first = a->first, nest = a->nesterov;                                                  \
    _Pragma("omp parallel for if (n > OMP_MIN)") for (int64_t i = 0; i < n; i++) {                    \
      T d = G[i];                                                                                     \
      if (wd != 0) d += wd * P[i];                                                                    \
      if (B) {                                                                                        \
        T b = first ? d : mom * B[i] + omd * d;                                                       \
        B[i] = b;                                                                                     \
        d = nest ? d + mom * b : b;                                                                   \
      }                                                                                               \
      P[i] -= lr * d;                                                                                 \
    }                                                                                                 \
  } while (0)

void lr_kcpu_sgd(lr_dtype dt, int64_t n, void *p, const void *g, void *buf, const lr_sgd_args *a) {
  if (dt == LR_DTYPE_F32) SGD_LOOP(float);
  else SGD_LOOP(double);
}

double lr_kcpu_sumsq(lr_dtype dt, int64_t n, const void *x) {
  double s = 0.0;
  if (dt == LR_DTYPE_F32) {
    const float *X = x;
#pragma omp parallel for reduction(+ : s) if (n > OMP_MIN)
    for (int64_t i = 0; i < n; i++) s += (double)X[i] * X[i];
  } else {
    const double *X = x;
#pragma omp parallel for reduction(+ : s) if (n > OMP_MIN)
    for (int64_t i = 0; i < n; i++) s += X[i] * X[i];
  }
  return s;
}

void lr_kcpu_scale(lr_dtype dt, int64_t n, void *x, double s) {
  if (dt == LR_DTYPE_F32) {
    float *X = x, f = (float)s;
#pragma omp parallel for if (n > OMP_MIN)
    for (int64_t i = 0; i < n; i++) X[i] *= f;
  } else {
    double *X = x;
#pragma omp parallel for if (n > OMP_MIN)
    for (int64_t i = 0; i < n; i++) X[i] *= s;
  }
}
