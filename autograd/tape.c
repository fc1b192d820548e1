/* The tape and the backward walk; see autograd.h.
 *
 * The tape is a singly linked list of nodes (newest first) whose head lives in the current
 * arena's tape slot, so rewinding the arena rewinds the tape. lr_backward seeds the root's
 * gradient, then visits nodes newest first starting from the root's node; a node runs its
 * backward when one of its outputs has a gradient. After the walk the nodes are marked freed,
 * non-leaf gradients are dropped and saved tensors released, as PyTorch does without
 * retain_graph.
 */
#include "autograd/autograd.h"

#include <string.h>

static _Thread_local int lr_grad_off; /* 0: grad mode on */

bool lr_grad_enabled(void) { return !lr_grad_off; }

bool lr_set_grad_enabled(bool on) {
  bool prev = !lr_grad_off;
  lr_grad_off = !on;
  return prev;
}

bool lr_needs_grad(int n, lr_tensor *const *in) {
  if (lr_grad_off) return false;
  for (int i = 0; i < n; i++)
    if (in[i] && in[i]->requires_grad) return true;
  return false;
}

lr_status lr_record(const lr_op_def *op, int n_in, lr_tensor *const *in, int n_out, lr_tensor **out, lr_node **node) {
  if (!node) return lr_fail(LR_ERR_ARG, "lr_record: node is NULL");
  *node = NULL;
  if (!op || n_in < 0 || n_out < 0 || (n_in && !in) || (n_out && !out))
    return lr_fail(LR_ERR_ARG, "lr_record(%s): bad arguments (n_in %d, n_out %d)", op && op->name ? op->name : "?", n_in,
                   n_out);
  /* An op without a backward has outputs that do not require grad (PyTorch's non-differentiable
   * outputs); recording it would only give silent zero gradients. */
  if (!op->backward || !lr_needs_grad(n_in, in)) return LR_OK;
  for (int i = 0; i < n_out; i++) {
    if (out[i] && (out[i]->node || out[i]->requires_grad))
      return lr_fail(LR_ERR_INTERNAL,
                     "lr_record(%s): output %d is already part of a graph (%s); outputs must be fresh tensors",
                     op->name, i, out[i]->node ? "produced by another node" : "a leaf that requires grad");
  }
  lr_arena *a = lr_arena_current();
  lr_node *nd = a ? lr_arena_calloc(a, sizeof *nd) : NULL;
  lr_tensor **ins = a ? lr_arena_alloc(a, sizeof(lr_tensor *) * (size_t)(n_in ? n_in : 1)) : NULL;
  lr_tensor **outs = a ? lr_arena_alloc(a, sizeof(lr_tensor *) * (size_t)(n_out ? n_out : 1)) : NULL;
  if (!nd || !ins || !outs) return lr_fail(LR_ERR_MEMORY, "lr_record(%s): out of memory", op->name);
  memcpy(ins, in, sizeof(lr_tensor *) * (size_t)n_in);
  memcpy(outs, out, sizeof(lr_tensor *) * (size_t)n_out);
  nd->op = op;
  nd->n_in = n_in;
  nd->n_out = n_out;
  nd->in = ins;
  nd->out = outs;
  void **slot = lr_arena_tape_slot(a);
  nd->prev = *slot;
  *slot = nd;
  for (int i = 0; i < n_out; i++) {
    if (!out[i] || !lr_dtype_is_float(out[i]->dtype)) continue; /* indices etc. carry no gradient */
    out[i]->requires_grad = true;
    out[i]->node = nd;
    out[i]->out_index = i;
  }
  *node = nd;
  return LR_OK;
}

int lr_tape_size(void) {
  lr_arena *a = lr_arena_current();
  int n = 0;
  for (lr_node *nd = a ? *lr_arena_tape_slot(a) : NULL; nd; nd = nd->prev) n++;
  return n;
}

/* An arena gradient of an arena tensor: rewinding the arena past the gradient must not leave
 * t->grad dangling (a later backward would accumulate into reused memory). */
typedef struct {
  lr_tensor *t, *g;
} grad_owner;

static void drop_grad(void *p) {
  grad_owner *o = p;
  if (o->t->grad == o->g) o->t->grad = NULL;
}

lr_status lr_grad_buffer(lr_tensor *t, lr_tensor **g) {
  if (!t || !g) return lr_fail(LR_ERR_ARG, "lr_grad_buffer: NULL argument");
  if (!t->grad) {
    lr_tensor *z;
    if (t->flags & LR_TF_HEAP) {
      LR_TRY(lr_tensor_new(t->dtype, t->device, t->ndim, t->shape, &z));
    } else {
      LR_TRY(lr_zeros_on(t->dtype, t->device, t->ndim, t->shape, &z));
      /* Only when t lives in the same arena: t is then older than z, so when the rewind runs the
       * cleanup t's memory has not been reused yet. t elsewhere (another arena, the stack) must
       * outlive the step or drop its grad itself. */
      lr_arena *a = lr_arena_current();
      if (lr_arena_contains(a, t)) {
        grad_owner *o = lr_arena_alloc(a, sizeof *o);
        if (!o) return lr_fail(LR_ERR_MEMORY, "lr_grad_buffer: out of memory");
        o->t = t;
        o->g = z;
        LR_TRY(lr_arena_on_rewind(a, drop_grad, o));
      }
    }
    t->grad = z;
  }
  *g = t->grad;
  return LR_OK;
}

lr_status lr_zero_grad(lr_tensor *t) {
  if (!t) return lr_fail(LR_ERR_ARG, "lr_zero_grad: NULL tensor");
  if (t->grad) return lr_tensor_fill_(t->grad, 0.0);
  return LR_OK;
}

lr_status lr_requires_grad_(lr_tensor *t, bool on) {
  if (!t) return lr_fail(LR_ERR_ARG, "lr_requires_grad_: NULL tensor");
  if (t->node)
    return lr_fail(LR_ERR_STATE, "lr_requires_grad_: the tensor is the output of op '%s', not a leaf", t->node->op->name);
  if (on && !lr_dtype_is_float(t->dtype))
    return lr_fail(LR_ERR_DTYPE, "lr_requires_grad_: %s tensors cannot require grad", lr_dtype_name(t->dtype));
  t->requires_grad = on;
  return LR_OK;
}

lr_status lr_detach(const lr_tensor *x, lr_tensor **out) {
  if (!x || !out) return lr_fail(LR_ERR_ARG, "lr_detach: NULL argument");
  lr_tensor *t = lr_tensor_struct_alloc();
  if (!t) return lr_fail(LR_ERR_MEMORY, "lr_detach: out of memory");
  *t = *x;
  t->flags = LR_TF_ARENA;
  t->base = x->base ? x->base : (lr_tensor *)x;
  t->requires_grad = false;
  t->grad = NULL;
  t->node = NULL;
  *out = t;
  return LR_OK;
}

static bool has_out_grad(const lr_node *nd) {
  for (int i = 0; i < nd->n_out; i++)
    if (nd->out[i] && nd->out[i]->node == nd && nd->out[i]->grad) return true;
  return false;
}

lr_status lr_backward(lr_tensor *root, const lr_tensor *grad_root) {
  if (!root) return lr_fail(LR_ERR_ARG, "lr_backward: root is NULL");
  if (!root->requires_grad)
    return lr_fail(LR_ERR_STATE, "lr_backward: the root does not require grad (no input requires grad, or grad mode was off)");
  if (!grad_root && lr_numel(root) != 1) {
    char b[160];
    return lr_fail(LR_ERR_SHAPE, "lr_backward: root has shape %s; pass grad_root for a root that is not a scalar",
                   lr_shape_str(root->ndim, root->shape, b, 160));
  }
  if (grad_root && (!lr_same_shape(root, grad_root) || root->dtype != grad_root->dtype)) {
    char a[160], b[160];
    return lr_fail(root->dtype != grad_root->dtype ? LR_ERR_DTYPE : LR_ERR_SHAPE, "lr_backward: grad_root is %s %s, root is %s %s", lr_dtype_name(grad_root->dtype),
                   lr_shape_str(grad_root->ndim, grad_root->shape, a, 160), lr_dtype_name(root->dtype),
                   lr_shape_str(root->ndim, root->shape, b, 160));
  }
  if (root->node && root->node->freed)
    return lr_fail(LR_ERR_STATE, "lr_backward: the graph of this root was already freed by an earlier backward");

  /* Grad buffers for non-leaf tensors are arena tensors; compute without recording. */
  bool prev = lr_set_grad_enabled(false);
  lr_status s = LR_OK;
  lr_tensor *g;
  s = lr_grad_buffer(root, &g);
  if (s == LR_OK) {
    if (grad_root) {
      lr_tensor *gc; /* accumulate grad_root into g */
      s = lr_tensor_contiguous_raw(grad_root, &gc);
      if (s == LR_OK && g->device == LR_DEVICE_CPU && gc->device == LR_DEVICE_CPU) {
        int64_t n = lr_numel(g) * (lr_dtype_is_complex(g->dtype) ? 2 : 1);
        if (g->dtype == LR_DTYPE_F32 || g->dtype == LR_DTYPE_C64)
          for (int64_t i = 0; i < n; i++) ((float *)g->data)[i] += ((const float *)gc->data)[i];
        else
          for (int64_t i = 0; i < n; i++) ((double *)g->data)[i] += ((const double *)gc->data)[i];
      } else if (s == LR_OK) {
        s = lr_tensor_copy_(g, gc); /* device root: its fresh grad buffer is zero, so copy */
      }
    } else if (g->device == LR_DEVICE_CPU) {
      /* Seed 1 (for a complex root: the gradient of Re(root)); += for a leaf root's grad. */
      double re, im;
      lr_tensor_get_c(g, 0, &re, &im);
      lr_tensor_set(g, 0, re + 1.0, im);
    } else {
      s = lr_tensor_fill_(g, 1.0); /* device memory cannot be read here; a fresh buffer is 0 */
    }
  }
  for (lr_node *nd = root->node; nd && s == LR_OK; nd = nd->prev) {
    if (!has_out_grad(nd)) continue;
    if (nd->freed) {
      /* A gradient reached a node whose saved state an earlier backward released: continuing
       * would silently drop that part of the gradient. */
      s = lr_fail(LR_ERR_STATE,
                  "lr_backward: the gradient reaches op '%s', whose graph an earlier backward already freed",
                  nd->op->name);
      break;
    }
    if (!nd->op->backward) continue;
    s = nd->op->backward(nd);
    if (s != LR_OK) break;
  }
  /* Release: non-leaf grads and saved state; the memory itself goes with the arena. */
  for (lr_node *nd = root->node; nd; nd = nd->prev) {
    if (!has_out_grad(nd)) continue; /* not part of this graph, or no gradient flowed there */
    for (int i = 0; i < nd->n_out; i++)
      if (nd->out[i] && nd->out[i]->node == nd) nd->out[i]->grad = NULL;
    for (int i = 0; i < LR_NODE_MAX_SAVED; i++) nd->saved[i] = NULL;
    nd->freed = true;
  }
  lr_set_grad_enabled(prev);
  return s;
}
