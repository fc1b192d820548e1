/* Gradcheck cases for the view ops (F64, C128 for permute and slice). Inputs include size-1 dims
 * (leading, since gc_leaf_strided is contiguous when a size-1 dim is among its last two) and
 * non-contiguous leaves; reshape is checked on both of its paths (view and
 * copy). Views are linear, so the default tolerances (atol 1e-6, rtol 1e-5) hold with room.
 * Every input is a gc_leaf, so the table runs unchanged on the GPU (gc_device = CUDA): there the
 * copies are strided device copies and the window adds of narrow/slice run on the device. */
#include "tests/cases.h"

#define F64 LR_DTYPE_F64
#define C128 LR_DTYPE_C128

static lr_status f_reshape_6x4(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_reshape(in[0], LR_SHAPE(6, -1), out);
}
static lr_status reshape_view(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(F64, LR_SHAPE(2, 1, 3, 4), -1, 1, 1)};
  return lr_gradcheck("reshape_view", f_reshape_6x4, NULL, 1, in, NULL, r);
}

static lr_status f_reshape_flat(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_reshape(in[0], LR_SHAPE(-1), out);
}
static lr_status reshape_copy(lr_gc_result *r) { /* transposed storage: reshape must copy */
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 2)};
  return lr_gradcheck("reshape_copy", f_reshape_flat, NULL, 1, in, NULL, r);
}

static lr_status f_squeeze(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_squeeze(in[0], 0, out);
}
static lr_status squeeze(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(1, 3, 4), -1, 1, 3)};
  return lr_gradcheck("squeeze", f_squeeze, NULL, 1, in, NULL, r);
}

static lr_status f_unsqueeze(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_unsqueeze(in[0], -1, out);
}
static lr_status unsqueeze(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(3, 4), -1, 1, 4)};
  return lr_gradcheck("unsqueeze", f_unsqueeze, NULL, 1, in, NULL, r);
}

static lr_status f_permute(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_permute(in[0], (const int[]){2, 0, 1}, out);
}
static lr_status permute(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(2, 3, 4), -1, 1, 5)};
  return lr_gradcheck("permute", f_permute, NULL, 1, in, NULL, r);
}
static lr_status permute_c128(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(C128, LR_SHAPE(1, 3, 2), -1, 1, 6)};
  return lr_gradcheck("permute_c128", f_permute, NULL, 1, in, NULL, r);
}

static lr_status f_transpose(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_transpose(in[0], 0, -1, out);
}
static lr_status transpose(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(1, 3, 2), -1, 1, 7)};
  return lr_gradcheck("transpose", f_transpose, NULL, 1, in, NULL, r);
}

static lr_status f_narrow(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_narrow(in[0], -1, 1, 3, out);
}
static lr_status narrow(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(1, 4, 5), -1, 1, 8)};
  return lr_gradcheck("narrow", f_narrow, NULL, 1, in, NULL, r);
}

static lr_status f_slice(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_slice(in[0], 1, -6, 7, 2, out); /* columns 1, 3, 5 */
}
static lr_status slice(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(5, 7), -1, 1, 9)};
  return lr_gradcheck("slice", f_slice, NULL, 1, in, NULL, r);
}
static lr_status slice_c128(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(1, 7), -1, 1, 10)};
  return lr_gradcheck("slice_c128", f_slice, NULL, 1, in, NULL, r);
}

/* A slice of a slice, then a reshape that must copy, with fan-out: gradients add up in the window. */
static lr_status f_slice_chain(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *a, *b, *c, *d, *e;
  LR_TRY(lr_slice(in[0], 0, 1, INT64_MAX, 2, &a)); /* rows 1, 3 */
  LR_TRY(lr_slice(a, 1, 0, -1, 3, &b));            /* cols 0, 3 */
  LR_TRY(lr_reshape(b, LR_SHAPE(4), &c));
  LR_TRY(lr_narrow(in[0], 0, 1, 2, &d)); /* rows 1, 2: overlaps a */
  LR_TRY(lr_reshape(d, LR_SHAPE(-1), &e));
  lr_tensor *f;
  LR_TRY(lr_narrow(e, 0, 0, 4, &f));
  return lr_add(c, f, out);
}
static lr_status slice_chain(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(4, 5), -1, 1, 11)};
  return lr_gradcheck("slice_chain", f_slice_chain, NULL, 1, in, NULL, r);
}

static lr_status f_expand(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_expand(in[0], LR_SHAPE(2, 4, -1), out);
}
static lr_status expand(lr_gc_result *r) { /* (1, 3) -> (2, 4, 3): a new dim and a size-1 dim */
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(1, 3), -1, 1, 12)};
  return lr_gradcheck("expand", f_expand, NULL, 1, in, NULL, r);
}
static lr_status expand_c128(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(4, 1), -1, 1, 13)};
  return lr_gradcheck("expand_c128", f_expand, NULL, 1, in, NULL, r);
}

static lr_status f_contiguous(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_contiguous(in[0], out);
}
static lr_status contiguous(lr_gc_result *r) {
  lr_tensor *in[1] = {gc_leaf_strided(F64, LR_SHAPE(1, 3, 4), -1, 1, 14)};
  return lr_gradcheck("contiguous", f_contiguous, NULL, 1, in, NULL, r);
}

const lr_gc_case lr_cases_view[] = {
    {"reshape_view", reshape_view},
    {"reshape_copy", reshape_copy},
    {"squeeze", squeeze},
    {"unsqueeze", unsqueeze},
    {"permute", permute},
    {"permute_c128", permute_c128},
    {"transpose", transpose},
    {"narrow", narrow},
    {"slice", slice},
    {"slice_c128", slice_c128},
    {"slice_chain", slice_chain},
    {"expand", expand},
    {"expand_c128", expand_c128},
    {"contiguous", contiguous},
    {NULL, NULL},
};
