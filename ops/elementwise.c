/* Elementwise ops with broadcasting.
 *
 * add:  y = a + b;  da += reduce(g), db += reduce(g)   (reduce: sum over broadcast dims)
 */
#include "ops/elementwise.h"

#include "kernels/cpu/elementwise.h"
#include "ops/op_util.h"
#include "ops/registry.h"

static lr_status add_backward(lr_node *n);
static const lr_op_def op_add = {"add", LR_DT_FLOAT, LR_ON_CPU, LR_ON_CPU, add_backward};

/* Validates a binary op and allocates its broadcast output. */
static lr_status binary_prep(const char *name, const lr_op_def *def, lr_tensor *a, lr_tensor *b, lr_tensor **y) {
  LR_TRY(lr_check_ptr(name, a, "a"));
  LR_TRY(lr_check_ptr(name, b, "b"));
  LR_TRY(lr_check_same(name, a, "a", b, "b"));
  LR_TRY(lr_check_dtype(name, a, "a", def->dtypes));
  LR_TRY(lr_check_device(name, def, a));
  int nd;
  int64_t sh[LR_MAX_DIMS];
  LR_TRY(lr_broadcast_shape(name, a->ndim, a->shape, b->ndim, b->shape, &nd, sh));
  return lr_empty_on(a->dtype, a->device, nd, sh, y);
}

static lr_status binary_run(lr_binary_kind k, lr_tensor *a, lr_tensor *b, lr_tensor *y) {
  int64_t as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
  lr_broadcast_strides(a, y->ndim, y->shape, as);
  lr_broadcast_strides(b, y->ndim, y->shape, bs);
  lr_kcpu_binary(k, y->dtype, y->data, a->data, as, b->data, bs, y->ndim, y->shape);
  return LR_OK;
}

lr_status lr_add(lr_tensor *a, lr_tensor *b, lr_tensor **out) {
  lr_tensor *y;
  LR_TRY(binary_prep("lr_add", &op_add, a, b, &y));
  LR_TRY(binary_run(LR_BIN_ADD, a, b, y));
  lr_node *nd;
  LR_TRY(lr_record(&op_add, 2, (lr_tensor *[]){a, b}, 1, &y, &nd));
  *out = y;
  return LR_OK;
}

static lr_status add_backward(lr_node *n) {
  lr_tensor *g = n->out[0]->grad;
  LR_TRY(lr_grad_acc(n->in[0], g));
  LR_TRY(lr_grad_acc(n->in[1], g));
  return LR_OK;
}

const lr_op_def *const lr_ops_elementwise[] = {&op_add, NULL};
