/* Optimizer update kernels on the CPU: plain loops over n reals (a complex tensor is passed as
 * 2n reals, as PyTorch's Adam does with view_as_real). Pointers are contiguous, same length,
 * f32 or f64 (dt); they never alias except where stated. No allocation. */
#ifndef LR_KCPU_OPTIM_H
#define LR_KCPU_OPTIM_H

#include "tensor/dtype.h"

/* Adam / AdamW hyperparameters for one step of one tensor (scalars precomputed by the caller). */
typedef struct {
  double lr;
  double beta1, beta2, eps;
  double weight_decay;
  int decoupled;        /* 1: AdamW (p *= 1 - lr*wd), 0: Adam (g += wd*p) */
  double bias_correction1;      /* 1 - beta1^t */
  double bias_correction2_sqrt; /* sqrt(1 - beta2^t) */
} lr_adam_args;

/* One Adam(W) step, in place on p, m, v:
 *   AdamW: p *= 1 - lr*wd;  Adam: g' = g + wd*p
 *   m = beta1 m + (1-beta1) g';  v = beta2 v + (1-beta2) g'^2
 *   p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps)
 * p, m, v (n) read-write; g (n) read. */
void lr_kcpu_adam(lr_dtype dt, int64_t n, void *p, const void *g, void *m, void *v, const lr_adam_args *a);

typedef struct {
  double lr;
  double momentum, dampening, weight_decay;
  int nesterov;
  int first; /* 1 on the tensor's first step: buf = d (no dampening), as PyTorch */
} lr_sgd_args;

/* One SGD step, in place:
 *   d = g + wd*p;  buf = first ? d : momentum*buf + (1-dampening)*d  (only if momentum != 0)
 *   d = nesterov ? d + momentum*buf : buf;  p -= lr*d
 * p (n) read-write; g (n) read; buf (n) read-write, NULL when momentum == 0. */
void lr_kcpu_sgd(lr_dtype dt, int64_t n, void *p, const void *g, void *buf, const lr_sgd_args *a);

/* sum x[i]^2 over n reals, accumulated in double. */
double lr_kcpu_sumsq(lr_dtype dt, int64_t n, const void *x);
/* x[i] *= s over n reals. */
void lr_kcpu_scale(lr_dtype dt, int64_t n, void *x, double s);

#endif
