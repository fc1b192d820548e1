#include "ops/registry.h"
const lr_op_def *const lr_ops_s4[] = {NULL};
