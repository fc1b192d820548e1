/* lr_tensor: a small fixed-size struct describing an n-d array.
 *
 * shape and strides are in elements, outermost first (PyTorch order). data points at element
 * [0, ..., 0]. A view shares data with its base and never owns it. Lifetimes are explicit:
 *   - persistent tensors (parameters, data sets, optimizer state) come from lr_tensor_new and
 *     are released with lr_tensor_free;
 *   - everything else (lr_empty, lr_zeros, op outputs, views, non-leaf gradients) comes from the
 *     thread's current arena (tensor/arena.h) and goes away when the arena is rewound.
 * The autograd fields (requires_grad, grad, node) are maintained by autograd/ and ops/.
 */
#ifndef LR_TENSOR_H
#define LR_TENSOR_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "tensor/arena.h"
#include "tensor/dtype.h"
#include "tensor/status.h"

#define LR_MAX_DIMS 8

/* flags */
#define LR_TF_HEAP 1u      /* the struct was malloc'ed by lr_tensor_new */
#define LR_TF_OWNS_DATA 2u /* data is freed with the struct */
#define LR_TF_ARENA 4u     /* struct and data live in an arena */

struct lr_node;

typedef struct lr_tensor {
  lr_dtype dtype;
  lr_device device;
  int ndim;
  int64_t shape[LR_MAX_DIMS];
  int64_t strides[LR_MAX_DIMS]; /* in elements */
  void *data;                   /* element [0,...,0] */
  struct lr_tensor *base;       /* the tensor whose memory a view shares; NULL otherwise */
  uint32_t flags;
  bool requires_grad;
  struct lr_tensor *grad;       /* accumulated gradient, same shape, contiguous */
  struct lr_node *node;         /* the tape node that produced it; NULL for leaves */
  int out_index;                /* which output of node */
} lr_tensor;

/* Build a (ndim, shape) argument pair from a literal list: lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &t) */
#define LR_SHAPE(...) \
  (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), (const int64_t[]){__VA_ARGS__}

/* ---- persistent tensors (heap) ---- */
/* A zero-filled contiguous tensor owned by the caller; release it with lr_tensor_free. */
lr_status lr_tensor_new(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, lr_tensor **out);
/* Frees a tensor from lr_tensor_new (and its grad). Arena tensors and NULL are ignored. */
void lr_tensor_free(lr_tensor *t);
/* A persistent contiguous copy of any tensor (not differentiable). */
lr_status lr_tensor_clone_persistent(const lr_tensor *x, lr_tensor **out);

/* ---- arena tensors (current arena, CPU unless stated) ---- */
lr_status lr_empty(lr_dtype dt, int ndim, const int64_t *shape, lr_tensor **out);
lr_status lr_zeros(lr_dtype dt, int ndim, const int64_t *shape, lr_tensor **out);
lr_status lr_ones(lr_dtype dt, int ndim, const int64_t *shape, lr_tensor **out);
lr_status lr_full(lr_dtype dt, int ndim, const int64_t *shape, double value, lr_tensor **out);
lr_status lr_empty_on(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, lr_tensor **out);
lr_status lr_zeros_on(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, lr_tensor **out);
/* Same dtype, device and shape as like; contiguous. */
lr_status lr_empty_like(const lr_tensor *like, lr_tensor **out);
lr_status lr_zeros_like(const lr_tensor *like, lr_tensor **out);
/* A contiguous tensor filled from host memory holding numel elements of dt (copied). */
lr_status lr_from_host(lr_dtype dt, int ndim, const int64_t *shape, const void *src, lr_tensor **out);
/* A scalar (0-dim) tensor. */
lr_status lr_scalar(lr_dtype dt, double value, lr_tensor **out);

/* ---- queries ---- */
int64_t lr_numel(const lr_tensor *t);
size_t lr_nbytes(const lr_tensor *t); /* numel * element size */
bool lr_is_contiguous(const lr_tensor *t);
bool lr_same_shape(const lr_tensor *a, const lr_tensor *b);
/* "(2, 3, 4)" into buf (also returned). */
const char *lr_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
/* Contiguous strides for a shape. */
void lr_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides);
/* Offset in elements of multi-index idx[ndim]. */
int64_t lr_offset(const lr_tensor *t, const int64_t *idx);

/* ---- data movement (not differentiable; they never record on the tape) ---- */
/* Copies host memory (numel elements, row-major) into t, which may be strided or on a device. */
lr_status lr_tensor_copy_from_host(lr_tensor *t, const void *src, size_t bytes);
/* Copies t's elements in row-major order to host memory. */
lr_status lr_tensor_copy_to_host(const lr_tensor *t, void *dst, size_t bytes);
/* dst[...] = src[...]: same dtype and shape, any strides. */
lr_status lr_tensor_copy_(lr_tensor *dst, const lr_tensor *src);
/* Every element = value (real part for complex, imaginary 0; integers as lr_tensor_set). */
lr_status lr_tensor_fill_(lr_tensor *t, double value);
/* x itself if contiguous, else a contiguous arena copy (for kernels). */
lr_status lr_tensor_contiguous_raw(const lr_tensor *x, lr_tensor **out);
/* Element i (row-major logical index) as double (real part for complex). For tests and tools:
 * NaN for an index outside [0, numel). Device tensors are read one element per copy (slow). */
double lr_tensor_get(const lr_tensor *t, int64_t i);
/* Element i; for complex tensors both parts (im is 0 for real tensors). re or im may be NULL. */
void lr_tensor_get_c(const lr_tensor *t, int64_t i, double *re, double *im);
/* Sets element i (im ignored for real dtypes; integers truncate toward zero and saturate, NaN
 * gives 0). Ignored for an index out of range. Device tensors: one element per copy (slow). */
void lr_tensor_set(lr_tensor *t, int64_t i, double re, double im);
/* A readable dump: dtype, shape, and up to max_elems values. */
void lr_tensor_print(const lr_tensor *t, const char *name, FILE *f, int max_elems);

/* ---- raw views (no tape; ops/view.c has the differentiable ones) ----
 * A view shares x's data, has base = x's base (or x), and no autograd state. view follows
 * PyTorch: one -1 is inferred, and a shape that needs a copy (a transposed tensor flattened) is
 * LR_ERR_SHAPE. squeeze/transpose of a 0-dim tensor (dim 0 or -1) give a 0-dim view. */
lr_status lr_tensor_view(const lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out);
lr_status lr_tensor_permute(const lr_tensor *x, const int *perm, lr_tensor **out);
lr_status lr_tensor_transpose(const lr_tensor *x, int d0, int d1, lr_tensor **out);
lr_status lr_tensor_narrow(const lr_tensor *x, int dim, int64_t start, int64_t length, lr_tensor **out);
lr_status lr_tensor_expand(const lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out);
lr_status lr_tensor_unsqueeze(const lr_tensor *x, int dim, lr_tensor **out);
lr_status lr_tensor_squeeze(const lr_tensor *x, int dim, lr_tensor **out);

/* ---- broadcasting ---- */
/* NumPy broadcasting of two shapes; LR_ERR_SHAPE naming `op` and both shapes if they do not fit. */
lr_status lr_broadcast_shape(const char *op, int na, const int64_t *sa, int nb, const int64_t *sb,
                             int *nout, int64_t *sout);

/* Normalises a possibly negative dim against ndim; LR_ERR_ARG naming op if out of range. A 0-dim
 * tensor takes 0 and -1 (both give 0), as in PyTorch. */
lr_status lr_norm_dim(const char *op, int dim, int ndim, int *out);

/* Allocates a tensor struct (zeroed) in the current arena; used by ops and views. */
lr_tensor *lr_tensor_struct_alloc(void);

/* ---- device memory hooks (the CUDA backend installs them) ---- */
typedef struct {
  lr_status (*alloc)(size_t bytes, void **ptr);
  void (*free)(void *ptr);
  lr_status (*memcpy_h2d)(void *dst, const void *src, size_t bytes);
  lr_status (*memcpy_d2h)(void *dst, const void *src, size_t bytes);
  lr_status (*memcpy_d2d)(void *dst, const void *src, size_t bytes);
  lr_status (*memset0)(void *dst, size_t bytes);
  /* dst[i] = src[i] over an ndim-dim shape, both on the device; strides in elements (any sign,
   * 0 allowed in src), es bytes per element. Asynchronous like memcpy_d2d. NULL: the tensor
   * layer refuses strided device copies (LR_ERR_UNSUPPORTED). */
  lr_status (*strided_copy)(void *dst, const int64_t *dst_strides, const void *src, const int64_t *src_strides,
                            int ndim, const int64_t *shape, size_t es);
  /* dst[0..n) = the es bytes at elem (host memory); dst contiguous on the device. NULL: fills go
   * through a host buffer and a copy. */
  lr_status (*fill)(void *dst, int64_t n, const void *elem, size_t es);
  /* Graphs (tensor/graph.h): graph_capture calls fn(arg) with the device work it queues recorded
   * into *graph instead of run; graph_launch runs the recording; graph_free releases it. NULL:
   * lr_graph_capture refuses the device (LR_ERR_UNSUPPORTED). */
  lr_status (*graph_capture)(lr_status (*fn)(void *), void *arg, void **graph);
  lr_status (*graph_launch)(void *graph);
  void (*graph_free)(void *graph);
} lr_device_hooks;
void lr_set_device_hooks(lr_device dev, const lr_device_hooks *h);
const lr_device_hooks *lr_get_device_hooks(lr_device dev);

#endif
