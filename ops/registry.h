/* The op registry: every differentiable op of every family, for `lrnnx info` and the gradcheck
 * coverage test. A family lists its ops in a NULL-terminated array lr_ops_<family>[]. */
#ifndef LR_OPS_REGISTRY_H
#define LR_OPS_REGISTRY_H

#include "autograd/autograd.h"

/* All registered ops; *n receives the count. */
const lr_op_def *const *lr_op_registry(int *n);
/* The op called name, or NULL. */
const lr_op_def *lr_op_find(const char *name);

extern const lr_op_def *const lr_ops_elementwise[];
extern const lr_op_def *const lr_ops_complex[];
extern const lr_op_def *const lr_ops_linalg[];
extern const lr_op_def *const lr_ops_reduce[];
extern const lr_op_def *const lr_ops_shape[];
extern const lr_op_def *const lr_ops_view[];
extern const lr_op_def *const lr_ops_functional[];
extern const lr_op_def *const lr_ops_discretize[];
extern const lr_op_def *const lr_ops_scan[];
extern const lr_op_def *const lr_ops_fft[];
extern const lr_op_def *const lr_ops_lti[];
extern const lr_op_def *const lr_ops_conv[];
extern const lr_op_def *const lr_ops_s4[];

#endif
