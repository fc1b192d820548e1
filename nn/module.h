/* lr_module: the base every layer and model embeds. It owns named persistent tensors and child
 * modules, which gives every tensor a full dotted name ("layers.0.mixer.A_log"), as in PyTorch's
 * state_dict, for checkpoints (tensor/safetensors.h) and for optimizer grouping (optim/).
 *
 * A concrete module is a heap struct whose FIRST member is an lr_module:
 *
 *   typedef struct { lr_module base; int64_t in, out; lr_tensor *weight, *bias; } lr_linear_module;
 *
 * made with lr_module_new(sizeof(lr_linear_module), "Linear", ...), so that (lr_module *) and the
 * concrete pointer are the same address. lr_module_free releases the children, the tensors, the
 * names, calls the optional destroy hook for whatever else the concrete type owns, then frees the
 * struct. Concrete modules may keep direct pointers to their registered tensors (l->weight): the
 * module owns them, the pointers stay valid until lr_module_free.
 *
 * Two kinds of tensor: parameters (float, requires_grad, seen by optimizers and
 * lr_module_num_params) and buffers (persistent state that is saved and loaded but not trained,
 * PyTorch's register_buffer). Each parameter may carry optimizer hints, lrnnx's `_optim`
 * attribute (state-spaces' register(name, t, lr) sets {"weight_decay": 0.0, "lr": lr}) and Mamba's
 * `_no_weight_decay`: an own weight decay and/or an own learning rate (see optim/optim.h).
 *
 * Tied weights (lrnnx's LM: `lm_head.weight = backbone.embedding.weight`): lr_module_tie registers
 * a second name for a tensor that another module of the same tree owns. The alias entry
 * (LR_PARAM_TIED) does not own its tensor; iteration skips aliases unless LR_VISIT_TIED is asked
 * for, so optimizers and counts see the tensor once (PyTorch's parameters()), while checkpoints
 * (nn/checkpoint.h) write and expect it under both names (PyTorch's state_dict()).
 *
 * Complex parameters that lrnnx stores as a real view with a trailing 2 (S5's A, B, C) are marked
 * LR_PARAM_REAL_VIEW (lr_module_store_as_real): checkpoints write them as F32/F64 (..., 2).
 *
 * lr_module_to moves every owned tensor (and its grad) to a device in place: the lr_tensor structs
 * stay where they are, so the direct pointers concrete modules keep (l->weight) remain valid.
 */
#ifndef LR_NN_MODULE_H
#define LR_NN_MODULE_H

#include "autograd/autograd.h"

/* Longest full dotted name, including the terminating NUL. */
#define LR_NAME_MAX 256

/* lr_param.flags */
#define LR_PARAM_BUFFER 1u /* a buffer: not trained, not counted as a parameter */
#define LR_PARAM_WD 2u     /* the optimizer uses .weight_decay for it instead of its group's */
#define LR_PARAM_LR 4u     /* the optimizer uses .lr for it instead of its group's */
#define LR_PARAM_REAL_VIEW 8u /* complex, saved as a real (..., 2) view, as lrnnx stores it */
#define LR_PARAM_TIED 16u     /* an alias (lr_module_tie): the tensor is owned by another entry */

typedef struct {
  char *name;          /* local name within its module ("weight"), owned */
  lr_tensor *t;        /* persistent (lr_tensor_new), owned unless LR_PARAM_TIED */
  uint32_t flags;      /* LR_PARAM_* */
  double weight_decay; /* hint, valid with LR_PARAM_WD */
  double lr;           /* hint, valid with LR_PARAM_LR */
} lr_param;

typedef struct lr_module lr_module;
struct lr_module {
  char *name;           /* local name under the parent ("mixer", "0"); "" for a root; owned */
  const char *type;     /* "Linear", "Mamba": a static string */
  lr_module *parent;    /* NULL for a root */
  lr_param *params;     /* n_params entries, in registration order */
  int n_params, cap_params;
  lr_module **children; /* n_children entries, owned */
  int n_children, cap_children;
  bool training;        /* true after lr_module_new; lr_module_train switches the whole tree */
  /* Optional: releases what the concrete type owns beyond tensors and children (caches, plans).
   * Called by lr_module_free after the children and tensors are gone, before the struct is freed. */
  void (*destroy)(lr_module *m);
};

/* A zeroed heap struct of `size` bytes (>= sizeof(lr_module)) whose head is an initialised
 * lr_module of the given type, a root named "". */
lr_status lr_module_new(size_t size, const char *type, lr_module **out);
/* Frees the module, its children, its tensors and their grads. NULL is ignored. A module that
 * has a parent is freed with the parent, not on its own. */
void lr_module_free(lr_module *m);

/* ---- registration (local names: non-empty, no '.', unique among m's tensors and children) ---- */
/* A new zero-filled parameter (float dtype, requires_grad) owned by m. *out (optional) gets it. */
lr_status lr_module_add_param(lr_module *m, const char *name, lr_dtype dt, int ndim, const int64_t *shape,
                              lr_tensor **out);
/* A new zero-filled buffer owned by m. */
lr_status lr_module_add_buffer(lr_module *m, const char *name, lr_dtype dt, int ndim, const int64_t *shape,
                               lr_tensor **out);
/* Hands an existing persistent tensor (lr_tensor_new) to m as a parameter (requires_grad is set)
 * or a buffer. On success m owns t; on failure the caller still does. */
lr_status lr_module_register(lr_module *m, const char *name, lr_tensor *t, bool buffer);
/* Makes child (a root) a child of m named `name`. On success m owns it; on failure the caller
 * still does. */
lr_status lr_module_add_child(lr_module *m, const char *name, lr_module *child);
/* The same, named by its index ("0", "1", ...), for lists such as "layers.0". */
lr_status lr_module_add_child_at(lr_module *m, int index, lr_module *child);
/* Attaches a freshly made module to parent under name when parent is non-NULL; on failure the
 * child is freed. For constructors: lr_linear_new(parent, "in_proj", ...). */
lr_status lr_module_attach(lr_module *parent, const char *name, lr_module *child);

/* Registers `name` in m as a second name of t, a tensor owned by another module of the same tree
 * (it must outlive m: tie within one root). The alias is a parameter if t requires grad, else a
 * buffer. If m already owns a tensor called `name` of t's dtype and shape, that tensor is freed and
 * the entry becomes the alias (PyTorch's `head.weight = emb.weight`); the caller then updates its
 * direct pointer (head->weight = t). LR_ERR_SHAPE / LR_ERR_DTYPE if the replaced one differs. */
lr_status lr_module_tie(lr_module *m, const char *name, lr_tensor *t);
/* Marks the complex parameter or buffer at dotted `name` as stored as a real (..., 2) view
 * (LR_PARAM_REAL_VIEW). LR_ERR_DTYPE if it is not complex. */
lr_status lr_module_store_as_real(lr_module *m, const char *name);
/* Moves every tensor m's tree owns, and their grads, to dev (contiguous), in place. All new buffers
 * are allocated and filled before any old one is released: on failure m is unchanged. */
lr_status lr_module_to(lr_module *m, lr_device dev);

/* ---- optimizer hints (lrnnx's `_optim`), on a parameter found by dotted name ---- */
/* Mamba's `_no_weight_decay = True`: weight decay 0 for this parameter. */
lr_status lr_module_no_weight_decay(lr_module *m, const char *name);
/* state-spaces' register(name, t, lr, wd): own lr (lr >= 0) and/or own weight decay (wd >= 0);
 * a negative value leaves that hint unset. */
lr_status lr_module_set_optim(lr_module *m, const char *name, double lr, double weight_decay);

/* ---- lookup and iteration ---- */
/* The tensor at a full dotted name below m ("layers.0.mixer.A_log"), parameter or buffer.
 * LR_ERR_ARG naming the path if there is none. p (optional) gets the lr_param entry, which
 * stays valid until something is registered on its module. */
lr_status lr_module_find(lr_module *m, const char *name, lr_tensor **t, lr_param **p);
/* The child module at a dotted path ("layers.0.mixer"). */
lr_status lr_module_find_child(lr_module *m, const char *path, lr_module **out);

/* Called with the full dotted name (relative to the module iterated) of each tensor; a status
 * other than LR_OK stops the walk and is returned. Order: m's own tensors in registration order,
 * then each child in registration order (depth first), as PyTorch's named_parameters. */
typedef lr_status (*lr_param_visit_fn)(const char *name, lr_param *p, lr_module *owner, void *ctx);
#define LR_VISIT_PARAMS 1u
#define LR_VISIT_BUFFERS 2u
#define LR_VISIT_ALL (LR_VISIT_PARAMS | LR_VISIT_BUFFERS)
#define LR_VISIT_TIED 4u /* also the aliases of lr_module_tie (of the kinds asked for) */
lr_status lr_module_visit(lr_module *m, unsigned what, lr_param_visit_fn fn, void *ctx);

/* A flat list of tensors with full names, for optimizers and checkpoints. */
typedef struct {
  char *name;      /* full dotted name, owned by the list */
  lr_param *param; /* points into the owning module: valid while no tensor is registered there */
} lr_named_param;
typedef struct {
  int n;
  lr_named_param *items;
} lr_param_list;
lr_status lr_module_list(lr_module *m, unsigned what, lr_param_list *out);
void lr_param_list_free(lr_param_list *l);

/* Total elements of all parameters (buffers excluded; a complex element counts once). */
int64_t lr_module_num_params(lr_module *m);
/* Number of parameter tensors. */
int lr_module_num_param_tensors(lr_module *m);
/* Zeroes every parameter's grad (those that have one). */
lr_status lr_module_zero_grad(lr_module *m);
/* Sets training mode on m and every descendant (train: true, eval: false). */
void lr_module_train(lr_module *m, bool on);
/* The full dotted name of m below the root ("layers.0.mixer"; "" for the root) into buf. */
lr_status lr_module_path(const lr_module *m, char *buf, size_t n);

#endif
