/* Gradcheck cases for the elementwise ops (F64 and C128; broadcasting, size-1 dims, strided). */
#include "tests/cases.h"

static lr_status f_add(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_add(in[0], in[1], out);
}

static lr_status add_broadcast(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(3, 1, 4), -1, 1, 1), gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 1), -1, 1, 2)};
  return lr_gradcheck("add", f_add, NULL, 2, in, NULL, r);
}

static lr_status add_strided_c128(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(3, 5), -1, 1, 3), gc_leaf(LR_DTYPE_C128, LR_SHAPE(5), -1, 1, 4)};
  return lr_gradcheck("add", f_add, NULL, 2, in, NULL, r);
}

const lr_gc_case lr_cases_elementwise[] = {
    {"add_broadcast", add_broadcast},
    {"add_strided_c128", add_strided_c128},
    {NULL, NULL},
};
