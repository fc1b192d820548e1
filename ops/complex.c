/* Complex construction, parts and real/complex views.
 *
 * Gradients follow PyTorch (grad = dL/dRe + i dL/dIm), so for an upstream gradient g:
 *   complex(re, im) = re + i im:  dre = Re g, dim = Im g (summed over broadcast dims)
 *   real(z): dz = g + 0i          imag(z): dz = i g          conj(z): dz = conj(g)
 *   angle(z) = atan2(Im z, Re z): dz = g i z / |z|^2
 *   view_as_complex(x (..., 2)): dx = view_as_real(g);   view_as_real(z): dz = view_as_complex(g)
 * The two views share memory with their input (no copy), as torch.view_as_complex/real do:
 * a complex element is two adjacent reals, so x's last dim must have stride 1 and every other
 * stride must be even (it is halved). real and conj of a real tensor return the tensor itself,
 * as in PyTorch.
 *
 * Devices: complex, real, imag, conj and angle run on the CPU and on CUDA (kernels/cuda/complex.cu,
 * same formulas); the two views move no data and their backward is a view plus lr_grad_acc, so
 * they work on any device the tensor layer has.
 */
#include "ops/complex.h"

#include "kernels/cpu/complex.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status complex_backward(lr_node *n);
static lr_status part_backward(lr_node *n);
static lr_status view_as_complex_backward(lr_node *n);
static lr_status view_as_real_backward(lr_node *n);

static const lr_op_def op_complex = {"complex", LR_DT_REAL, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, complex_backward};
static const lr_op_def op_real = {"real", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, part_backward};
static const lr_op_def op_imag = {"imag", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, part_backward};
static const lr_op_def op_conj = {"conj", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, part_backward};
static const lr_op_def op_angle = {"angle", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, part_backward};
/* Views move no data, so forward and backward (a view and lr_grad_acc) run on any device. */
static const lr_op_def op_view_as_complex = {"view_as_complex", LR_DT_REAL, LR_ON_CPU | LR_ON_CUDA,
                                             LR_ON_CPU_CUDA, view_as_complex_backward};
static const lr_op_def op_view_as_real = {"view_as_real", LR_DT_COMPLEX, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU_CUDA,
                                          view_as_real_backward};

const lr_op_def *const lr_ops_complex[] = {
    &op_complex, &op_real, &op_imag, &op_conj, &op_angle, &op_view_as_complex, &op_view_as_real, NULL,
};

/* ---- kernels for the device the tensors live on ---- */

static lr_status k_make(lr_device dev, lr_dtype dt, void *out, const void *re, const int64_t *rs, const void *im,
                        const int64_t *is, int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_complex_make(dt, out, re, rs, im, is, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_complex_make(dt, out, re, rs, im, is, nd, sh);
  return LR_OK;
}

static lr_status k_part(lr_device dev, lr_cpart_kind k, lr_dtype dt, void *out, const void *z, const int64_t *zs,
                        int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_complex_part((int)k, dt, out, z, zs, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_complex_part(k, dt, out, z, zs, nd, sh);
  return LR_OK;
}

static lr_status k_angle_bwd(lr_device dev, lr_dtype dt, void *gz, const void *g, const void *z, const int64_t *zs,
                             int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_angle_bwd(dt, gz, g, z, zs, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_angle_bwd(dt, gz, g, z, zs, nd, sh);
  return LR_OK;
}

/* ---- complex(re, im) ---- */

lr_status lr_complex(lr_tensor *re, lr_tensor *im, lr_tensor **out) {
  const char *name = "lr_complex";
  LR_TRY(lr_check_ptr(name, re, "re"));
  LR_TRY(lr_check_ptr(name, im, "im"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_same(name, re, "re", im, "im"));
  LR_TRY(lr_check_dtype(name, re, "re", op_complex.dtypes));
  LR_TRY(lr_check_device(name, &op_complex, re));
  int nd;
  int64_t sh[LR_MAX_DIMS], rs[LR_MAX_DIMS], is[LR_MAX_DIMS];
  LR_TRY(lr_broadcast_shape(name, re->ndim, re->shape, im->ndim, im->shape, &nd, sh));
  lr_tensor *y;
  LR_TRY(lr_empty_on(lr_dtype_complex(re->dtype), re->device, nd, sh, &y));
  lr_broadcast_strides(re, nd, sh, rs);
  lr_broadcast_strides(im, nd, sh, is);
  LR_TRY(k_make(y->device, re->dtype, y->data, re->data, rs, im->data, is, nd, sh));
  lr_node *node;
  LR_TRY(lr_record(&op_complex, 2, (lr_tensor *[]){re, im}, 1, &y, &node));
  *out = y;
  return LR_OK;
}

static lr_status complex_backward(lr_node *n) {
  lr_tensor *y = n->out[0], *g;
  LR_TRY(lr_tensor_contiguous_raw(y->grad, &g));
  for (int p = 0; p < 2; p++) {
    lr_tensor *x = n->in[p], *gx;
    if (!x->requires_grad) continue;
    LR_TRY(lr_empty_on(x->dtype, y->device, y->ndim, y->shape, &gx));
    LR_TRY(k_part(y->device, p ? LR_CPART_IM : LR_CPART_RE, y->dtype, gx->data, g->data, NULL, y->ndim, y->shape));
    LR_TRY(lr_grad_acc(x, gx));
  }
  return LR_OK;
}

/* ---- real, imag, conj, angle ---- */

static lr_status part(const char *name, const lr_op_def *def, lr_cpart_kind k, lr_tensor *z, lr_tensor **out) {
  LR_TRY(lr_check_ptr(name, z, "z"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_dtype(name, z, "z", def->dtypes));
  if (!lr_dtype_is_complex(z->dtype)) { /* real(x) and conj(x) of a real x are x */
    *out = z;
    return LR_OK;
  }
  LR_TRY(lr_check_device(name, def, z));
  lr_tensor *y;
  lr_dtype ydt = k == LR_CPART_CONJ ? z->dtype : lr_dtype_real(z->dtype);
  LR_TRY(lr_empty_on(ydt, z->device, z->ndim, z->shape, &y));
  LR_TRY(k_part(y->device, k, z->dtype, y->data, z->data, z->strides, z->ndim, z->shape));
  lr_node *node;
  LR_TRY(lr_record(def, 1, &z, 1, &y, &node));
  if (node) node->iarg[0] = k;
  *out = y;
  return LR_OK;
}

lr_status lr_real(lr_tensor *z, lr_tensor **out) { return part("lr_real", &op_real, LR_CPART_RE, z, out); }
lr_status lr_imag(lr_tensor *z, lr_tensor **out) { return part("lr_imag", &op_imag, LR_CPART_IM, z, out); }
lr_status lr_conj(lr_tensor *z, lr_tensor **out) { return part("lr_conj", &op_conj, LR_CPART_CONJ, z, out); }
lr_status lr_angle(lr_tensor *z, lr_tensor **out) { return part("lr_angle", &op_angle, LR_CPART_ANGLE, z, out); }

static lr_status part_backward(lr_node *n) {
  lr_tensor *z = n->in[0], *y = n->out[0], *g, *gz;
  if (!z->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(y->grad, &g));
  LR_TRY(lr_empty_on(z->dtype, z->device, z->ndim, z->shape, &gz));
  lr_dtype rdt = lr_dtype_real(z->dtype);
  lr_device dev = z->device;
  switch ((lr_cpart_kind)n->iarg[0]) {
    case LR_CPART_RE: LR_TRY(k_make(dev, rdt, gz->data, g->data, NULL, NULL, NULL, z->ndim, z->shape)); break;
    case LR_CPART_IM: LR_TRY(k_make(dev, rdt, gz->data, NULL, NULL, g->data, NULL, z->ndim, z->shape)); break;
    case LR_CPART_CONJ: LR_TRY(k_part(dev, LR_CPART_CONJ, z->dtype, gz->data, g->data, NULL, z->ndim, z->shape)); break;
    case LR_CPART_ANGLE:
      LR_TRY(k_angle_bwd(dev, z->dtype, gz->data, g->data, z->data, z->strides, z->ndim, z->shape));
      break;
  }
  return lr_grad_acc(z, gz);
}

/* ---- views ---- */

/* A view of x's memory with another dtype, shape and strides; not recorded. */
static lr_status retype_view(const char *name, lr_tensor *x, lr_dtype dt, int ndim, const int64_t *shape,
                             const int64_t *strides, lr_tensor **out) {
  lr_tensor *t = lr_tensor_struct_alloc();
  if (!t) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", name);
  t->dtype = dt;
  t->device = x->device;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) {
    t->shape[i] = shape[i];
    t->strides[i] = strides[i];
  }
  t->data = x->data;
  t->base = x->base ? x->base : x;
  *out = t;
  return LR_OK;
}

/* x (..., 2) real -> (...) complex. */
static lr_status as_complex(const char *name, lr_tensor *x, lr_tensor **out) {
  char b[160];
  int nd = x->ndim - 1;
  if (nd < 0 || x->shape[nd] != 2)
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected a last dim of size 2", name,
                   lr_shape_str(x->ndim, x->shape, b, sizeof b));
  if (x->strides[nd] != 1)
    return lr_fail(LR_ERR_SHAPE, "%s: x has strides %s, expected stride 1 in the last dim", name,
                   lr_shape_str(x->ndim, x->strides, b, sizeof b));
  int64_t st[LR_MAX_DIMS];
  for (int i = 0; i < nd; i++) {
    if (x->strides[i] % 2 != 0 && x->shape[i] != 1)
      return lr_fail(LR_ERR_SHAPE, "%s: x has strides %s, expected even strides in all but the last dim (dim %d)",
                     name, lr_shape_str(x->ndim, x->strides, b, sizeof b), i);
    st[i] = x->strides[i] / 2;
  }
  return retype_view(name, x, lr_dtype_complex(x->dtype), nd, x->shape, st, out);
}

/* z (...) complex -> (..., 2) real. */
static lr_status as_real(const char *name, lr_tensor *z, lr_tensor **out) {
  if (z->ndim + 1 > LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "%s: z has %d dims, at most %d", name, z->ndim, LR_MAX_DIMS - 1);
  int64_t sh[LR_MAX_DIMS], st[LR_MAX_DIMS];
  for (int i = 0; i < z->ndim; i++) {
    sh[i] = z->shape[i];
    st[i] = z->strides[i] * 2;
  }
  sh[z->ndim] = 2;
  st[z->ndim] = 1;
  return retype_view(name, z, lr_dtype_real(z->dtype), z->ndim + 1, sh, st, out);
}

lr_status lr_view_as_complex(lr_tensor *x, lr_tensor **out) {
  const char *name = "lr_view_as_complex";
  LR_TRY(lr_check_ptr(name, x, "x"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_dtype(name, x, "x", op_view_as_complex.dtypes));
  LR_TRY(lr_check_device(name, &op_view_as_complex, x));
  lr_tensor *y;
  LR_TRY(as_complex(name, x, &y));
  lr_node *node;
  LR_TRY(lr_record(&op_view_as_complex, 1, &x, 1, &y, &node));
  *out = y;
  return LR_OK;
}

lr_status lr_view_as_real(lr_tensor *z, lr_tensor **out) {
  const char *name = "lr_view_as_real";
  LR_TRY(lr_check_ptr(name, z, "z"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_dtype(name, z, "z", op_view_as_real.dtypes));
  LR_TRY(lr_check_device(name, &op_view_as_real, z));
  lr_tensor *y;
  LR_TRY(as_real(name, z, &y));
  lr_node *node;
  LR_TRY(lr_record(&op_view_as_real, 1, &z, 1, &y, &node));
  *out = y;
  return LR_OK;
}

static lr_status view_as_complex_backward(lr_node *n) {
  lr_tensor *g, *gx;
  LR_TRY(lr_tensor_contiguous_raw(n->out[0]->grad, &g));
  LR_TRY(as_real("view_as_complex backward", g, &gx));
  return lr_grad_acc(n->in[0], gx);
}

static lr_status view_as_real_backward(lr_node *n) {
  lr_tensor *g, *gz;
  LR_TRY(lr_tensor_contiguous_raw(n->out[0]->grad, &g));
  LR_TRY(as_complex("view_as_real backward", g, &gz));
  return lr_grad_acc(n->in[0], gz);
}
