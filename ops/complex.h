/* Complex construction and parts. Gradients follow PyTorch (grad = dL/dRe + i dL/dIm).
 * Complex arithmetic (add, sub, mul, div, exp, log, abs) is in elementwise.h. */
#ifndef LR_OPS_COMPLEX_H
#define LR_OPS_COMPLEX_H

#include "autograd/autograd.h"

lr_status lr_complex(lr_tensor *re, lr_tensor *im, lr_tensor **out); /* F32->C64, F64->C128, broadcasting */
/* Parts as new contiguous tensors. real and conj of a real tensor return that tensor itself (as
 * PyTorch); imag and angle take complex only. */
lr_status lr_real(lr_tensor *z, lr_tensor **out);
lr_status lr_imag(lr_tensor *z, lr_tensor **out);
lr_status lr_conj(lr_tensor *z, lr_tensor **out);
lr_status lr_angle(lr_tensor *z, lr_tensor **out); /* atan2(Im z, Re z) */
/* A real tensor (..., 2) viewed as complex (...) and back, as torch.view_as_complex/real: views
 * of the same memory, no copy. view_as_complex needs stride 1 in the last dim and even strides
 * elsewhere (LR_ERR_SHAPE otherwise). */
lr_status lr_view_as_complex(lr_tensor *x, lr_tensor **out);
lr_status lr_view_as_real(lr_tensor *z, lr_tensor **out);

#endif
