/* Complex construction and parts. Gradients follow PyTorch (grad = dL/dRe + i dL/dIm).
 * Complex arithmetic (add, sub, mul, div, exp, log, abs) is in elementwise.h. */
#ifndef LR_OPS_COMPLEX_H
#define LR_OPS_COMPLEX_H

#include "autograd/autograd.h"

lr_status lr_complex(lr_tensor *re, lr_tensor *im, lr_tensor **out); /* F32->C64, F64->C128, broadcasting */
lr_status lr_real(lr_tensor *z, lr_tensor **out);
lr_status lr_imag(lr_tensor *z, lr_tensor **out);
lr_status lr_conj(lr_tensor *z, lr_tensor **out);
lr_status lr_angle(lr_tensor *z, lr_tensor **out);
/* A real tensor (..., 2) viewed as complex (...) and back, as torch.view_as_complex/real. */
lr_status lr_view_as_complex(lr_tensor *x, lr_tensor **out);
lr_status lr_view_as_real(lr_tensor *z, lr_tensor **out);

#endif
