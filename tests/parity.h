/* Helpers shared by the CPU-vs-GPU parity suites (tests/test_cuda_parity*.c): random inputs made
 * identically on both devices, leaves (optionally as transposed views), and copies back to the host.
 * Only built with the CUDA backend. */
#ifndef LR_TESTS_PARITY_H
#define LR_TESTS_PARITY_H

#include <stdbool.h>
#include <stdint.h>

#include "tensor/tensor.h"

/* .init of a GPU test: skips it when no usable CUDA device is present. */
void pt_on_gpu(void);

uint64_t pt_splitmix(uint64_t *state);
/* Uniform in [0, 1) with 53 random bits. */
double pt_unif(uint64_t *state);

static inline int pt_ncomp(lr_dtype dt) { return lr_dtype_is_complex(dt) ? 2 : 1; }
static inline bool pt_single(lr_dtype dt) { return dt == LR_DTYPE_F32 || dt == LR_DTYPE_C64; }
int64_t pt_numel(int nd, const int64_t *sh);

/* n elements' components (malloc'ed doubles): uniform in [-1, 1) and exact in f32, or integers in
 * [-8, 8] when integer (sums of those are exact in any order). */
double *pt_rand_comp(lr_dtype dt, int64_t n, uint64_t seed, bool integer);

/* A leaf of logical shape sh holding comp (row-major components) on dev as dt. transposed: stored
 * with its last two dims swapped and viewed back (strides (..., 1, rows)), like gc_leaf_strided.
 * abs_f64: the leaf holds |element| in f64 instead (the operand of an error bound). Floating
 * leaves require grad. */
lr_tensor *pt_leaf(lr_device dev, lr_dtype dt, int nd, const int64_t *sh, const double *comp, bool transposed,
                   bool abs_f64);

/* All components of a contiguous tensor as malloc'ed doubles (I64 tensors: their values). */
double *pt_to_host(const lr_tensor *t);

#endif
