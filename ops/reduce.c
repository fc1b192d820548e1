/* Reductions: sum, mean, var over a set of dims; max, min over one dim.
 *
 * sum:  y = sum_R x                    dx += g broadcast over R
 * mean: y = (1/n) sum_R x              dx += g / n
 * var:  y = sum_R (x - mean)^2 / (n - correction)    (two passes: mean, then squared deviations)
 *       dx += g * 2 (x - mean) / (n - correction)    (the mean's own term sums to zero)
 * max/min over dim d: values and I64 indices of the first extreme; dx[first extreme] += g.
 * R is a set of dims (NULL / 0 dims: all), negative dims count from the end, a dim named twice
 * is an error; keepdim leaves size-1 dims in place of R, as in torch.sum(x, dims, keepdim).
 * Complex sums follow PyTorch (holomorphic, derivative 1): dx += g.
 *
 * The plan lists x's dims as kept (output order) and reduced (sorted by stride, so the innermost
 * loop has the smallest stride), drops size-1 dims and merges dims that are contiguous with each
 * other, so any strided input reduces without a copy; kernels/cpu/reduce.c does the loops, and
 * kernels/cuda/reduce.cu on CUDA tensors (deterministic: chunk partials combined in a fixed order,
 * F32 accumulated in double as on the CPU; its scratch for the partials comes from the arena).
 */
#include "ops/reduce.h"

#include <stdlib.h>

#include "kernels/cpu/reduce.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status sum_backward(lr_node *n);
static lr_status var_backward(lr_node *n);
static lr_status ext_backward(lr_node *n);
static const lr_op_def op_sum = {"sum", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, sum_backward};
static const lr_op_def op_mean = {"mean", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, sum_backward};
static const lr_op_def op_var = {"var", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, var_backward};
static const lr_op_def op_max = {"max", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, ext_backward};
static const lr_op_def op_min = {"min", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, ext_backward};

typedef struct {
  unsigned mask; /* bit i: dim i of x is reduced */
  int ny;
  int64_t yshape[LR_MAX_DIMS];
  int nk, nr;
  int64_t kshape[LR_MAX_DIMS], kstr[LR_MAX_DIMS], rshape[LR_MAX_DIMS], rstr[LR_MAX_DIMS];
  int64_t nred; /* elements per output */
} red_plan;

static const char *dims_str(int ndims, const int *dims, char *buf, size_t n) {
  size_t k = (size_t)snprintf(buf, n, "(");
  for (int i = 0; i < ndims && k < n; i++) k += (size_t)snprintf(buf + k, n - k, i ? ", %d" : "%d", dims[i]);
  if (k < n) snprintf(buf + k, n - k, ")");
  return buf;
}

/* Appends (size, stride) to a dim list, merging it into the previous dim when contiguous with it. */
static void push_dim(int *n, int64_t *shape, int64_t *str, int64_t size, int64_t stride) {
  if (*n > 0 && str[*n - 1] == size * stride) {
    shape[*n - 1] *= size;
    str[*n - 1] = stride;
    return;
  }
  shape[*n] = size;
  str[*n] = stride;
  (*n)++;
}

static lr_status make_plan(const char *fn, const lr_op_def *def, const lr_tensor *x, int ndims, const int *dims,
                           bool keepdim, lr_tensor **out, red_plan *p) {
  LR_TRY(lr_check_ptr(fn, x, "x"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_dtype(fn, x, "x", def->dtypes));
  LR_TRY(lr_check_device(fn, def, x));
  if (ndims < 0 || ndims > LR_MAX_DIMS) return lr_fail(LR_ERR_ARG, "%s: ndims is %d, expected 0..%d", fn, ndims, LR_MAX_DIMS);
  if (ndims > 0 && !dims) return lr_fail(LR_ERR_ARG, "%s: argument 'dims' is NULL but ndims is %d", fn, ndims);
  char b[128];
  p->mask = 0;
  for (int i = 0; i < ndims; i++) {
    int d;
    LR_TRY(lr_norm_dim(fn, dims[i], x->ndim, &d));
    if (p->mask & (1u << d))
      return lr_fail(LR_ERR_ARG, "%s: dims %s name dim %d more than once", fn, dims_str(ndims, dims, b, sizeof b), d);
    p->mask |= 1u << d;
  }
  if (ndims == 0) p->mask = x->ndim ? (1u << x->ndim) - 1 : 1u;
  p->ny = p->nk = p->nr = 0;
  p->nred = 1;
  int order[LR_MAX_DIMS], no = 0;
  bool empty_red = false;
  for (int i = 0; i < x->ndim; i++) {
    bool red = p->mask & (1u << i);
    if (!red) p->yshape[p->ny++] = x->shape[i];
    else if (keepdim) p->yshape[p->ny++] = 1;
    if (red) {
      p->nred *= x->shape[i];
      if (x->shape[i] == 0) empty_red = true;
      if (x->shape[i] > 1) order[no++] = i;
    } else if (x->shape[i] != 1) {
      push_dim(&p->nk, p->kshape, p->kstr, x->shape[i], x->strides[i]);
    }
  }
  /* reduced dims by decreasing stride, so the inner loop walks the smallest one */
  for (int i = 1; i < no; i++)
    for (int j = i; j > 0 && llabs(x->strides[order[j]]) > llabs(x->strides[order[j - 1]]); j--) {
      int t = order[j];
      order[j] = order[j - 1];
      order[j - 1] = t;
    }
  if (empty_red) {
    p->nr = 1;
    p->rshape[0] = 0;
    p->rstr[0] = 1;
  } else {
    for (int i = 0; i < no; i++) push_dim(&p->nr, p->rshape, p->rstr, x->shape[order[i]], x->strides[order[i]]);
  }
  return LR_OK;
}

#ifdef LR_CUDA
/* Device scratch of `bytes` from the arena (NULL when 0). */
static lr_status cuda_scratch(size_t bytes, void **out) {
  *out = NULL;
  if (!bytes) return LR_OK;
  lr_tensor *t;
  LR_TRY(lr_empty_on(LR_DTYPE_F64, LR_DEVICE_CUDA, 1, (int64_t[]){(int64_t)((bytes + 7) / 8)}, &t));
  *out = t->data;
  return LR_OK;
}
#endif

/* out = scale * sum over the plan's reduced dims of x (center NULL) or of (x - center)^2. */
static lr_status reduce_into(const lr_tensor *x, const red_plan *p, lr_tensor *out, const lr_tensor *center,
                             double scale) {
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA) {
    size_t bytes = lr_kcuda_reduce_scratch(x->dtype, p->nk, p->kshape, p->kstr, p->nr, p->rshape, p->rstr);
    void *scratch;
    LR_TRY(cuda_scratch(bytes, &scratch));
    return lr_kcuda_reduce_sum(x->dtype, out->data, x->data, center ? center->data : NULL, p->nk, p->kshape, p->kstr,
                               p->nr, p->rshape, p->rstr, scale, scratch, bytes, lr_cuda_stream());
  }
#endif
  if (center)
    lr_kcpu_reduce_sqdev(x->dtype, out->data, x->data, center->data, p->nk, p->kshape, p->kstr, p->nr, p->rshape,
                         p->rstr, scale);
  else
    lr_kcpu_reduce_sum(x->dtype, out->data, false, x->data, p->nk, p->kshape, p->kstr, p->nr, p->rshape, p->rstr,
                       scale);
  return LR_OK;
}

/* dx += scale * g broadcast over the reduced dims (times (x - center) when x is given). */
static lr_status expand_into(lr_tensor *buf, const lr_tensor *x, const lr_tensor *g, const int64_t *gs, double scale,
                             const lr_tensor *center) {
#ifdef LR_CUDA
  if (buf->device == LR_DEVICE_CUDA)
    return lr_kcuda_expand_acc(buf->dtype, buf->data, buf->ndim, buf->shape, g->data, gs, scale,
                               center ? x->data : NULL, center ? x->strides : NULL, center ? center->data : NULL,
                               lr_cuda_stream());
#endif
  lr_kcpu_expand_acc(buf->dtype, buf->data, buf->ndim, buf->shape, g->data, gs, scale, center ? x->data : NULL,
                     center ? x->strides : NULL, center ? center->data : NULL);
  return LR_OK;
}

/* Strides of the output gradient g (contiguous, the op's output shape) aligned to x's dims. */
static void grad_strides(const lr_tensor *x, const lr_tensor *g, unsigned mask, bool keepdim, int64_t *gs) {
  int j = 0;
  for (int i = 0; i < x->ndim; i++) {
    bool red = mask & (1u << i);
    if (keepdim) {
      gs[i] = red ? 0 : g->strides[i];
    } else {
      gs[i] = red ? 0 : g->strides[j];
      if (!red) j++;
    }
  }
}

static lr_status sum_like(const char *fn, const lr_op_def *def, lr_tensor *x, int ndims, const int *dims, bool keepdim,
                          bool mean, lr_tensor **out) {
  red_plan p;
  LR_TRY(make_plan(fn, def, x, ndims, dims, keepdim, out, &p));
  double scale = mean ? 1.0 / (double)p.nred : 1.0;
  lr_tensor *y;
  LR_TRY(lr_empty_on(x->dtype, x->device, p.ny, p.yshape, &y));
  LR_TRY(reduce_into(x, &p, y, NULL, scale));
  lr_node *nd;
  LR_TRY(lr_record(def, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->iarg[0] = p.mask;
    nd->iarg[1] = keepdim;
    nd->farg[0] = scale;
  }
  *out = y;
  return LR_OK;
}

lr_status lr_sum(lr_tensor *x, int ndims, const int *dims, bool keepdim, lr_tensor **out) {
  return sum_like("lr_sum", &op_sum, x, ndims, dims, keepdim, false, out);
}

lr_status lr_mean(lr_tensor *x, int ndims, const int *dims, bool keepdim, lr_tensor **out) {
  return sum_like("lr_mean", &op_mean, x, ndims, dims, keepdim, true, out);
}

static lr_status sum_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g, *buf;
  if (!x->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(n->out[0]->grad, &g));
  LR_TRY(lr_grad_buffer(x, &buf));
  int64_t gs[LR_MAX_DIMS];
  grad_strides(x, g, (unsigned)n->iarg[0], n->iarg[1], gs);
  LR_TRY(expand_into(buf, x, g, gs, n->farg[0], NULL));
  return LR_OK;
}

lr_status lr_var(lr_tensor *x, int ndims, const int *dims, int correction, bool keepdim, lr_tensor **out) {
  const char *fn = "lr_var";
  red_plan p;
  LR_TRY(make_plan(fn, &op_var, x, ndims, dims, keepdim, out, &p));
  if (correction < 0) return lr_fail(LR_ERR_ARG, "lr_var: correction is %d, expected >= 0", correction);
  lr_tensor *mean, *y;
  LR_TRY(lr_empty_on(x->dtype, x->device, p.ny, p.yshape, &mean));
  LR_TRY(lr_empty_on(x->dtype, x->device, p.ny, p.yshape, &y));
  double denom = (double)p.nred - correction;
  if (denom < 0) denom = 0; /* as PyTorch: inf or nan, not a negative variance */
  LR_TRY(reduce_into(x, &p, mean, NULL, 1.0 / (double)p.nred));
  LR_TRY(reduce_into(x, &p, y, mean, 1.0 / denom));
  lr_node *nd;
  LR_TRY(lr_record(&op_var, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = mean;
    nd->iarg[0] = p.mask;
    nd->iarg[1] = keepdim;
    nd->farg[0] = 2.0 / denom;
  }
  *out = y;
  return LR_OK;
}

static lr_status var_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *mean = n->saved[0], *g, *buf;
  if (!x->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(n->out[0]->grad, &g));
  LR_TRY(lr_grad_buffer(x, &buf));
  int64_t gs[LR_MAX_DIMS];
  grad_strides(x, g, (unsigned)n->iarg[0], n->iarg[1], gs);
  LR_TRY(expand_into(buf, x, g, gs, n->farg[0], mean));
  return LR_OK;
}

static lr_status extreme(const char *fn, const lr_op_def *def, bool is_max, lr_tensor *x, int dim, bool keepdim,
                         lr_tensor **values, lr_tensor **indices) {
  LR_TRY(lr_check_ptr(fn, x, "x"));
  if (!values && !indices) return lr_fail(LR_ERR_ARG, "%s: values and indices are both NULL", fn);
  LR_TRY(lr_check_dtype(fn, x, "x", def->dtypes));
  LR_TRY(lr_check_device(fn, def, x));
  int d;
  LR_TRY(lr_norm_dim(fn, dim, x->ndim, &d));
  int64_t L = x->ndim ? x->shape[d] : 1, no = 1, ni = 1;
  char b[160];
  if (L == 0)
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s: cannot reduce dim %d of size 0", fn, lr_shape_str(x->ndim, x->shape, b, 160),
                   dim);
  int ny = 0;
  int64_t ysh[LR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) {
    if (i < d) no *= x->shape[i];
    if (i > d) ni *= x->shape[i];
    if (i != d) ysh[ny++] = x->shape[i];
    else if (keepdim) ysh[ny++] = 1;
  }
  lr_tensor *v = NULL, *ix;
  if (values) LR_TRY(lr_empty_on(x->dtype, x->device, ny, ysh, &v));
  LR_TRY(lr_empty_on(LR_DTYPE_I64, x->device, ny, ysh, &ix));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA) {
    /* x read through its strides: the other dims, merged where contiguous, in output order */
    int nk = 0;
    int64_t ksh[LR_MAX_DIMS], kst[LR_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
      if (i != d && x->shape[i] != 1) push_dim(&nk, ksh, kst, x->shape[i], x->strides[i]);
    int64_t ls = x->ndim ? x->strides[d] : 0;
    size_t bytes = lr_kcuda_argext_scratch(nk, ksh, kst, L, ls);
    void *scratch;
    LR_TRY(cuda_scratch(bytes, &scratch));
    LR_TRY(lr_kcuda_argext(x->dtype, is_max, v ? v->data : NULL, ix->data, x->data, nk, ksh, kst, L, ls, scratch, bytes,
                           lr_cuda_stream()));
  } else
#endif
  {
    lr_tensor *xc;
    LR_TRY(lr_tensor_contiguous_raw(x, &xc));
    lr_kcpu_argext(x->dtype, is_max, v ? v->data : NULL, ix->data, xc->data, no, L * ni, L, ni, ni, 1);
  }
  if (v) {
    lr_node *nd;
    LR_TRY(lr_record(def, 1, &x, 1, &v, &nd));
    if (nd) {
      nd->saved[0] = ix;
      nd->iarg[0] = no;
      nd->iarg[1] = L;
      nd->iarg[2] = ni;
    }
    *values = v;
  }
  if (indices) *indices = ix;
  return LR_OK;
}

lr_status lr_max(lr_tensor *x, int dim, bool keepdim, lr_tensor **values, lr_tensor **indices) {
  return extreme("lr_max", &op_max, true, x, dim, keepdim, values, indices);
}

lr_status lr_min(lr_tensor *x, int dim, bool keepdim, lr_tensor **values, lr_tensor **indices) {
  return extreme("lr_min", &op_min, false, x, dim, keepdim, values, indices);
}

static lr_status ext_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g, *buf;
  if (!x->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(n->out[0]->grad, &g));
  LR_TRY(lr_grad_buffer(x, &buf));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA)
    return lr_kcuda_scatter_acc(x->dtype, buf->data, g->data, n->saved[0]->data, n->iarg[0], n->iarg[1], n->iarg[2],
                                lr_cuda_stream());
#endif
  lr_kcpu_scatter_acc(x->dtype, buf->data, g->data, n->saved[0]->data, n->iarg[0], n->iarg[1], n->iarg[2]);
  return LR_OK;
}

const lr_op_def *const lr_ops_reduce[] = {&op_sum, &op_mean, &op_var, &op_max, &op_min, NULL};
