/* The tape: reverse-mode autograd over eagerly executed ops.
 *
 * An op that runs while grad mode is on and has an input that requires grad records a node on
 * the tape of the current arena: its op definition, its inputs, its outputs and whatever it saves
 * (tensors, integer and float attributes, a context block). Nodes are created in execution order,
 * which is a topological order, so lr_backward walks them newest first and calls each op's
 * backward, which ACCUMULATES (+=) into its inputs' gradients. Rewinding the arena drops the
 * nodes with the activations.
 *
 * Gradients: a leaf's grad persists (heap for heap tensors) and accumulates across backward calls
 * until lr_zero_grad; non-leaf grads live in the arena and are dropped after backward. The grad
 * of an arena leaf lives in the current arena; rewinding that arena past it sets t->grad to NULL
 * again (when t lives in the same arena), so it never dangles. A graph must be recorded on one
 * arena's tape (do not switch arenas between the ops of one graph).
 * Complex tensors follow PyTorch: grad = dL/dRe + i dL/dIm.
 */
#ifndef LR_AUTOGRAD_H
#define LR_AUTOGRAD_H

#include "tensor/tensor.h"

typedef struct lr_node lr_node;
typedef lr_status (*lr_backward_fn)(lr_node *n);

/* One op, described once. */
typedef struct lr_op_def {
  const char *name;        /* "add", "matmul", ... */
  uint32_t dtypes;         /* LR_DT(...) mask of the dtypes it takes */
  uint32_t fwd_devices;    /* (1u << LR_DEVICE_CPU) | ...: devices with a forward */
  uint32_t bwd_devices;    /* devices with a backward */
  lr_backward_fn backward; /* NULL only for non-differentiable ops (argmax, comparisons) */
} lr_op_def;

#define LR_ON_CPU (1u << LR_DEVICE_CPU)
#define LR_ON_CUDA (1u << LR_DEVICE_CUDA)

#define LR_NODE_MAX_SAVED 6

struct lr_node {
  const lr_op_def *op;
  lr_node *prev;                       /* the node recorded before this one */
  int n_in, n_out;
  lr_tensor **in;                      /* inputs (as given to the op) */
  lr_tensor **out;                     /* outputs */
  lr_tensor *saved[LR_NODE_MAX_SAVED]; /* extra tensors the backward needs */
  int64_t iarg[8];                     /* integer attributes: dims, flags, ... */
  double farg[4];                      /* float attributes: eps, scale, ... */
  void *ctx;                           /* op-specific block in the arena */
  bool freed;                          /* backward has run and released the saved state */
};

/* Grad mode (per thread, on by default). lr_set_grad_enabled returns the previous mode. */
bool lr_grad_enabled(void);
bool lr_set_grad_enabled(bool on);

/* true when grad mode is on and some input requires grad. */
bool lr_needs_grad(int n, lr_tensor *const *in);

/* Records a node when lr_needs_grad(n_in, in) and op->backward is set: float outputs get
 * requires_grad and their node. *node is NULL when nothing was recorded, so an op writes:
 *   lr_node *nd; LR_TRY(lr_record(&op_add, 2, (lr_tensor *[]){a, b}, 1, &y, &nd));
 *   if (nd) { nd->iarg[0] = dim; }
 * Outputs must be fresh arena tensors: one that already has a node or requires grad (an input
 * passed through as output) is LR_ERR_INTERNAL. */
lr_status lr_record(const lr_op_def *op, int n_in, lr_tensor *const *in, int n_out, lr_tensor **out, lr_node **node);

/* Backward from root. grad_root NULL: root must have one element and gets gradient 1 (for a
 * complex root that is the gradient of Re(root)); otherwise grad_root has root's shape and dtype.
 * Without retain_graph semantics: afterwards the nodes it reached are freed, and a second backward
 * whose gradient reaches one of them is LR_ERR_STATE. */
lr_status lr_backward(lr_tensor *root, const lr_tensor *grad_root);

/* t's gradient buffer, allocated as zeros on first use (heap for heap leaves, else arena).
 * Backward functions accumulate into it. */
lr_status lr_grad_buffer(lr_tensor *t, lr_tensor **g);
/* Zeroes t->grad if present. */
lr_status lr_zero_grad(lr_tensor *t);
/* Sets requires_grad on a leaf. Fails on a non-leaf or a non-float tensor. */
lr_status lr_requires_grad_(lr_tensor *t, bool on);
/* A view of x's data that is cut from the tape (requires_grad false). */
lr_status lr_detach(const lr_tensor *x, lr_tensor **out);

/* Nodes on the current arena's tape (for tests and tools). */
int lr_tape_size(void);

#endif
