/* Shared by the optim/ sources only; not part of the API. */
#ifndef LR_OPTIM_INTERNAL_H
#define LR_OPTIM_INTERNAL_H

#include "optim/optim.h"

/* Checks every parameter that has a grad (cpu, grad matches and is contiguous) and allocates
 * its first n_bufs state tensors (m, then v) where missing, zero-filled. */
lr_status lr_optim_prepare_(lr_optim *o, const char *fn, int n_bufs);

/* Reals in a float tensor: numel, twice that for complex (updated as view_as_real). */
static inline int64_t lr_optim_nreal_(const lr_tensor *t) {
  return lr_numel(t) * (lr_dtype_is_complex(t->dtype) ? 2 : 1);
}

#endif
