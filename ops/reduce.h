/* Reductions over a set of dims (dims NULL / ndims 0: all dims), keepdim as in PyTorch. */
#ifndef LR_OPS_REDUCE_H
#define LR_OPS_REDUCE_H

#include "autograd/autograd.h"

lr_status lr_sum(lr_tensor *x, int ndims, const int *dims, bool keepdim, lr_tensor **out);
lr_status lr_mean(lr_tensor *x, int ndims, const int *dims, bool keepdim, lr_tensor **out);
/* correction: 1 unbiased (PyTorch default), 0 population. Real dtypes. */
lr_status lr_var(lr_tensor *x, int ndims, const int *dims, int correction, bool keepdim, lr_tensor **out);
/* Over one dim: values and I64 indices (either out may be NULL). Real dtypes; the gradient goes to
 * the first maximal element. */
lr_status lr_max(lr_tensor *x, int dim, bool keepdim, lr_tensor **values, lr_tensor **indices);
lr_status lr_min(lr_tensor *x, int dim, bool keepdim, lr_tensor **values, lr_tensor **indices);

#endif
