/* Gradcheck cases, one table per op family (cases_<family>.c), NULL-terminated.
 *
 * A case builds small random F64 / C128 inputs, calls lr_gradcheck and returns its status; the
 * verdict and message are in *res. test_<family>.c runs its family's table, test_coverage.c runs
 * every table and checks that each registered op appeared in a passing case. */
#ifndef LR_TEST_CASES_H
#define LR_TEST_CASES_H

#include "autograd/gradcheck.h"
#include "ops/ops.h"

typedef struct {
  const char *name;
  lr_status (*run)(lr_gc_result *res);
} lr_gc_case;

extern const lr_gc_case lr_cases_elementwise[];
extern const lr_gc_case lr_cases_complex[];
extern const lr_gc_case lr_cases_linalg[];
extern const lr_gc_case lr_cases_reduce[];
extern const lr_gc_case lr_cases_shape[];
extern const lr_gc_case lr_cases_view[];
extern const lr_gc_case lr_cases_functional[];
extern const lr_gc_case lr_cases_discretize[];
extern const lr_gc_case lr_cases_scan[];
extern const lr_gc_case lr_cases_fft[];
extern const lr_gc_case lr_cases_conv[];
extern const lr_gc_case lr_cases_s4[];

/* The device the cases run on: gc_leaf and gc_input put their tensors there. LR_DEVICE_CPU by
 * default; the GPU parity suite sets LR_DEVICE_CUDA and runs the same tables on the GPU. */
extern lr_device gc_device;
/* t copied to gc_device (t itself when it is already there); for non-leaf inputs such as indices
 * and targets made with lr_from_host. */
lr_tensor *gc_input(lr_tensor *t);

/* A random leaf in the current arena that requires grad, values uniform in [lo, hi). */
lr_tensor *gc_leaf(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed);
/* The same, but a non-contiguous view: the leaf is stored transposed in its last two dims
 * (ndim >= 2) and the view swaps them back, so kernels see strides (1, rows). Note that a size-1
 * dim among the last two makes the view contiguous again. */
lr_tensor *gc_leaf_strided(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed);

/* Runs every case of a NULL-terminated table; prints failures; returns the number that failed. */
int gc_run_table(const lr_gc_case *table, const char *family);

#endif
