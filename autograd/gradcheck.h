/* Finite-difference gradient check, for tests.
 *
 * For f(inputs) -> y and a random w of y's shape, the scalar L = sum(Re(conj(w) * y)) (which is
 * sum(w * y) for real y) has the analytic gradient that lr_backward(y, w) produces. Each element
 * of each input that requires grad is perturbed by +-eps (real and imaginary parts separately
 * for complex inputs) and the central difference (L(x+eps) - L(x-eps)) / 2eps is compared with
 * the analytic gradient (its real or imaginary part, PyTorch's convention):
 *   |analytic - numeric| <= atol + rtol * |numeric|.
 * Run it in F64 / C128. Inputs must be leaves in the current arena (views of leaves are fine,
 * expanded ones with stride 0 are not). Ops whose backward ran in a passing check are recorded as
 * covered (lr_gradcheck_covered), which the coverage test compares with the op registry. A failure
 * message names the check, the ops on its tape, the input, the element and both values:
 *   "gradcheck(add) [ops: add]: input 1 element 3 (real): analytic 2, numeric 1, |diff| 1 > 1.1e-05"
 */
#ifndef LR_GRADCHECK_H
#define LR_GRADCHECK_H

#include "autograd/autograd.h"

typedef lr_status (*lr_gc_fn)(void *ctx, lr_tensor *const *in, lr_tensor **out);

typedef struct {
  double eps;    /* 0: 1e-6 */
  double atol;   /* 0: 1e-6 */
  double rtol;   /* 0: 1e-5 */
  uint64_t seed; /* for w */
} lr_gc_opts;

typedef struct {
  bool passed;
  int64_t n_checked;  /* scalar derivatives compared */
  double max_abs_err; /* worst |analytic - numeric| */
  char msg[1024];     /* on failure: the check, its ops, the input, the element, both values */
} lr_gc_result;

/* Returns a status for failures of f or of the machinery; the verdict is in res->passed. */
lr_status lr_gradcheck(const char *name, lr_gc_fn f, void *ctx, int n, lr_tensor *const *in, const lr_gc_opts *opts,
                       lr_gc_result *res);

/* Whether op appeared on the tape of a passing gradcheck in this process. */
bool lr_gradcheck_covered(const lr_op_def *op);

/* Fills t (f32/f64/c64/c128, any strides) with uniform values in [lo, hi) from a simple seeded
 * generator (tests only; tensor/rng.h is the library's RNG). */
void lr_gc_fill_uniform(lr_tensor *t, double lo, double hi, uint64_t seed);

#endif
