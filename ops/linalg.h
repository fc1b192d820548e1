/* Matrix products through OpenBLAS (sgemm, dgemm, cgemm, zgemm). */
#ifndef LR_OPS_LINALG_H
#define LR_OPS_LINALG_H

#include "autograd/autograd.h"

/* NumPy matmul: (..., M, K) @ (..., K, N) -> (..., M, N) with broadcast batch dims; a 1-D operand
 * is promoted (and the added dim removed) as in NumPy. Any float dtype. */
lr_status lr_matmul(lr_tensor *a, lr_tensor *b, lr_tensor **out);
/* y = x W^T + b: x (..., in), W (out, in), b (out) or NULL. */
lr_status lr_linear(lr_tensor *x, lr_tensor *w, lr_tensor *b, lr_tensor **out);

#endif
