/* safetensors read and write: to be written. */
#ifndef LR_SAFETENSORS_H
#define LR_SAFETENSORS_H
#include "tensor/tensor.h"
#endif
