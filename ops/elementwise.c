/* Elementwise ops with NumPy broadcasting: binary arithmetic, unary maps, where, masked_fill,
 * comparisons.
 *
 * Every op validates, allocates a contiguous output of the broadcast shape, runs one CPU kernel
 * (kernels/cpu/elementwise.c, which reads strided and broadcast inputs in place) and records.
 * Backward computes each input's gradient in the output's shape and lr_grad_acc sums it over the
 * dims the input was broadcast along:
 *   add: da = g, db = g            sub: da = g, db = -g
 *   mul: da = g conj(b), db = g conj(a)
 *   div: da = g / conj(b), db = -g conj(a / b^2)
 *   pow: da = g b a^(b-1), db = g a^b log a          maximum/minimum: g to the chosen input
 *   unary y = f(x): dx = g conj(f'(x)), formulas in kernels/cpu/elementwise.c;
 *   abs of complex z: dz = g z / |z|
 *   where: da = cond ? g : 0, db = cond ? 0 : g;     masked_fill: dx = mask ? 0 : g
 * (complex gradients in PyTorch's convention, grad = dL/dRe + i dL/dIm).
 *
 * Devices: every op runs forward and backward on the CPU and on CUDA (kernels/cuda/elementwise.cu,
 * the same formulas); the k_* helpers below pick the kernel for the output's device.
 */
#include "ops/elementwise.h"

#include <math.h>

#include "kernels/cpu/elementwise.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status binary_backward(lr_node *n);
static lr_status unary_backward(lr_node *n);
static lr_status where_backward(lr_node *n);
static lr_status masked_fill_backward(lr_node *n);

#define DEF_OP(var, name, dtypes, bwd) static const lr_op_def var = {name, dtypes, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, bwd}

DEF_OP(op_add, "add", LR_DT_FLOAT, binary_backward);
DEF_OP(op_sub, "sub", LR_DT_FLOAT, binary_backward);
DEF_OP(op_mul, "mul", LR_DT_FLOAT, binary_backward);
DEF_OP(op_div, "div", LR_DT_FLOAT, binary_backward);
DEF_OP(op_pow, "pow", LR_DT_REAL, binary_backward);
DEF_OP(op_maximum, "maximum", LR_DT_REAL, binary_backward);
DEF_OP(op_minimum, "minimum", LR_DT_REAL, binary_backward);
DEF_OP(op_affine, "affine", LR_DT_FLOAT, unary_backward);
DEF_OP(op_pow_scalar, "pow_scalar", LR_DT_REAL, unary_backward);
DEF_OP(op_neg, "neg", LR_DT_FLOAT, unary_backward);
DEF_OP(op_exp, "exp", LR_DT_FLOAT, unary_backward);
DEF_OP(op_log, "log", LR_DT_FLOAT, unary_backward);
DEF_OP(op_log1p, "log1p", LR_DT_REAL, unary_backward);
DEF_OP(op_expm1, "expm1", LR_DT_REAL, unary_backward);
DEF_OP(op_sqrt, "sqrt", LR_DT_REAL, unary_backward);
DEF_OP(op_rsqrt, "rsqrt", LR_DT_REAL, unary_backward);
DEF_OP(op_abs, "abs", LR_DT_FLOAT, unary_backward);
DEF_OP(op_sin, "sin", LR_DT_REAL, unary_backward);
DEF_OP(op_cos, "cos", LR_DT_REAL, unary_backward);
DEF_OP(op_tanh, "tanh", LR_DT_REAL, unary_backward);
DEF_OP(op_sigmoid, "sigmoid", LR_DT_REAL, unary_backward);
DEF_OP(op_softplus, "softplus", LR_DT_REAL, unary_backward);
DEF_OP(op_silu, "silu", LR_DT_REAL, unary_backward);
DEF_OP(op_gelu, "gelu", LR_DT_REAL, unary_backward);
DEF_OP(op_relu, "relu", LR_DT_REAL, unary_backward);
DEF_OP(op_clamp, "clamp", LR_DT_REAL, unary_backward);
DEF_OP(op_where, "where", LR_DT_FLOAT | LR_DT_INT | LR_DT(LR_DTYPE_BOOL), where_backward);
DEF_OP(op_masked_fill, "masked_fill", LR_DT_FLOAT | LR_DT_INT, masked_fill_backward);
#define LR_DT_ORDERED (LR_DT_REAL | LR_DT_INT)
DEF_OP(op_eq, "eq", LR_DT_ORDERED, NULL);
DEF_OP(op_ne, "ne", LR_DT_ORDERED, NULL);
DEF_OP(op_lt, "lt", LR_DT_ORDERED, NULL);
DEF_OP(op_le, "le", LR_DT_ORDERED, NULL);
DEF_OP(op_gt, "gt", LR_DT_ORDERED, NULL);
DEF_OP(op_ge, "ge", LR_DT_ORDERED, NULL);

const lr_op_def *const lr_ops_elementwise[] = {
    &op_add,     &op_sub,   &op_mul,   &op_div,     &op_pow,     &op_maximum, &op_minimum,     &op_affine,
    &op_pow_scalar, &op_neg, &op_exp,  &op_log,     &op_log1p,   &op_expm1,   &op_sqrt,        &op_rsqrt,
    &op_abs,     &op_sin,   &op_cos,   &op_tanh,    &op_sigmoid, &op_softplus, &op_silu,       &op_gelu,
    &op_relu,    &op_clamp, &op_where, &op_masked_fill, &op_eq,  &op_ne,      &op_lt,          &op_le,
    &op_gt,      &op_ge,    NULL,
};

/* ---- kernels for the device the tensors live on ---- */

static lr_status k_binary(lr_device dev, lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as,
                          const void *b, const int64_t *bs, int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_binary(k, dt, out, a, as, b, bs, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_binary(k, dt, out, a, as, b, bs, nd, sh);
  return LR_OK;
}

static lr_status k_binary_bwd(lr_device dev, lr_binary_kind k, lr_dtype dt, void *ga, void *gb, const void *g,
                              const void *a, const int64_t *as, const void *b, const int64_t *bs, const void *y,
                              int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA)
    return lr_kcuda_binary_bwd(k, dt, ga, gb, g, a, as, b, bs, y, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_binary_bwd(k, dt, ga, gb, g, a, as, b, bs, y, nd, sh);
  return LR_OK;
}

static lr_status k_unary(lr_device dev, lr_unary_kind k, lr_dtype dt, void *y, const void *x, const int64_t *xs,
                         int nd, const int64_t *sh, double p0, double p1) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_unary(k, dt, y, x, xs, nd, sh, p0, p1, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_unary(k, dt, y, x, xs, nd, sh, p0, p1);
  return LR_OK;
}

static lr_status k_unary_bwd(lr_device dev, lr_unary_kind k, lr_dtype dt, void *gx, const void *g, const void *x,
                             const int64_t *xs, const void *y, int nd, const int64_t *sh, double p0, double p1) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_unary_bwd(k, dt, gx, g, x, xs, y, nd, sh, p0, p1, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_unary_bwd(k, dt, gx, g, x, xs, y, nd, sh, p0, p1);
  return LR_OK;
}

static lr_status k_where(lr_device dev, size_t es, void *out, const uint8_t *c, const int64_t *cs, const void *a,
                         const int64_t *as, const void *b, const int64_t *bs, int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_where(es, out, c, cs, a, as, b, bs, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_where(es, out, c, cs, a, as, b, bs, nd, sh);
  return LR_OK;
}

static lr_status k_where_bwd(lr_device dev, lr_dtype dt, void *ga, void *gb, const void *g, const uint8_t *c,
                             const int64_t *cs, int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_where_bwd(dt, ga, gb, g, c, cs, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_where_bwd(dt, ga, gb, g, c, cs, nd, sh);
  return LR_OK;
}

static lr_status k_compare(lr_device dev, lr_compare_kind k, lr_dtype dt, uint8_t *out, const void *a,
                           const int64_t *as, const void *b, const int64_t *bs, int nd, const int64_t *sh) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_compare(k, dt, out, a, as, b, bs, nd, sh, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_compare(k, dt, out, a, as, b, bs, nd, sh);
  return LR_OK;
}

/* ---- binary ---- */

/* Validates a binary op and returns its broadcast shape. */
static lr_status binary_check(const char *name, const lr_op_def *def, lr_tensor *a, lr_tensor *b, lr_tensor **out,
                              int *nd, int64_t *sh) {
  LR_TRY(lr_check_ptr(name, a, "a"));
  LR_TRY(lr_check_ptr(name, b, "b"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_same(name, a, "a", b, "b"));
  LR_TRY(lr_check_dtype(name, a, "a", def->dtypes));
  LR_TRY(lr_check_device(name, def, a));
  return lr_broadcast_shape(name, a->ndim, a->shape, b->ndim, b->shape, nd, sh);
}

static lr_status binary(const char *name, const lr_op_def *def, lr_binary_kind k, lr_tensor *a, lr_tensor *b,
                        lr_tensor **out) {
  int nd;
  int64_t sh[LR_MAX_DIMS], as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
  LR_TRY(binary_check(name, def, a, b, out, &nd, sh));
  lr_tensor *y;
  LR_TRY(lr_empty_on(a->dtype, a->device, nd, sh, &y));
  lr_broadcast_strides(a, nd, sh, as);
  lr_broadcast_strides(b, nd, sh, bs);
  LR_TRY(k_binary(y->device, k, y->dtype, y->data, a->data, as, b->data, bs, nd, sh));
  lr_node *node;
  LR_TRY(lr_record(def, 2, (lr_tensor *[]){a, b}, 1, &y, &node));
  if (node) node->iarg[0] = k;
  *out = y;
  return LR_OK;
}

lr_status lr_add(lr_tensor *a, lr_tensor *b, lr_tensor **out) { return binary("lr_add", &op_add, LR_BIN_ADD, a, b, out); }
lr_status lr_sub(lr_tensor *a, lr_tensor *b, lr_tensor **out) { return binary("lr_sub", &op_sub, LR_BIN_SUB, a, b, out); }
lr_status lr_mul(lr_tensor *a, lr_tensor *b, lr_tensor **out) { return binary("lr_mul", &op_mul, LR_BIN_MUL, a, b, out); }
lr_status lr_div(lr_tensor *a, lr_tensor *b, lr_tensor **out) { return binary("lr_div", &op_div, LR_BIN_DIV, a, b, out); }
lr_status lr_pow(lr_tensor *a, lr_tensor *b, lr_tensor **out) { return binary("lr_pow", &op_pow, LR_BIN_POW, a, b, out); }
lr_status lr_maximum(lr_tensor *a, lr_tensor *b, lr_tensor **out) {
  return binary("lr_maximum", &op_maximum, LR_BIN_MAX, a, b, out);
}
lr_status lr_minimum(lr_tensor *a, lr_tensor *b, lr_tensor **out) {
  return binary("lr_minimum", &op_minimum, LR_BIN_MIN, a, b, out);
}

static lr_status binary_backward(lr_node *n) {
  lr_tensor *a = n->in[0], *b = n->in[1], *y = n->out[0], *g;
  lr_binary_kind k = (lr_binary_kind)n->iarg[0];
  LR_TRY(lr_tensor_contiguous_raw(y->grad, &g));
  if (k == LR_BIN_ADD || k == LR_BIN_SUB) {
    LR_TRY(lr_grad_acc(a, g));
    if (!b->requires_grad) return LR_OK;
    if (k == LR_BIN_ADD) return lr_grad_acc(b, g);
    lr_tensor *gb;
    LR_TRY(lr_empty_like(g, &gb));
    LR_TRY(k_unary(g->device, LR_UN_NEG, g->dtype, gb->data, g->data, NULL, g->ndim, g->shape, 0, 0));
    return lr_grad_acc(b, gb);
  }
  lr_tensor *ga = NULL, *gb = NULL;
  if (a->requires_grad) LR_TRY(lr_empty_like(y, &ga));
  if (b->requires_grad) LR_TRY(lr_empty_like(y, &gb));
  int64_t as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
  lr_broadcast_strides(a, y->ndim, y->shape, as);
  lr_broadcast_strides(b, y->ndim, y->shape, bs);
  LR_TRY(k_binary_bwd(y->device, k, y->dtype, ga ? ga->data : NULL, gb ? gb->data : NULL, g->data, a->data, as,
                      b->data, bs, y->data, y->ndim, y->shape));
  if (ga) LR_TRY(lr_grad_acc(a, ga));
  if (gb) LR_TRY(lr_grad_acc(b, gb));
  return LR_OK;
}

/* ---- unary ---- */

static lr_status unary(const char *name, const lr_op_def *def, lr_unary_kind k, lr_tensor *x, double p0, double p1,
                       lr_tensor **out) {
  LR_TRY(lr_check_ptr(name, x, "x"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_dtype(name, x, "x", def->dtypes));
  LR_TRY(lr_check_device(name, def, x));
  lr_dtype ydt = k == LR_UN_ABS ? lr_dtype_real(x->dtype) : x->dtype;
  lr_tensor *y;
  LR_TRY(lr_empty_on(ydt, x->device, x->ndim, x->shape, &y));
  LR_TRY(k_unary(x->device, k, x->dtype, y->data, x->data, x->strides, x->ndim, x->shape, p0, p1));
  lr_node *node;
  LR_TRY(lr_record(def, 1, &x, 1, &y, &node));
  if (node) {
    node->iarg[0] = k;
    node->farg[0] = p0;
    node->farg[1] = p1;
  }
  *out = y;
  return LR_OK;
}

static lr_status unary_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *y = n->out[0], *g, *gx;
  if (!x->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(y->grad, &g));
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &gx));
  LR_TRY(k_unary_bwd(x->device, (lr_unary_kind)n->iarg[0], x->dtype, gx->data, g->data, x->data, x->strides, y->data,
                     x->ndim, x->shape, n->farg[0], n->farg[1]));
  return lr_grad_acc(x, gx);
}

lr_status lr_affine(lr_tensor *a, double s, double t, lr_tensor **out) {
  return unary("lr_affine", &op_affine, LR_UN_AFFINE, a, s, t, out);
}
lr_status lr_pow_scalar(lr_tensor *a, double p, lr_tensor **out) {
  return unary("lr_pow_scalar", &op_pow_scalar, LR_UN_POW_SCALAR, a, p, 0, out);
}

#define UNARY_FN(fn, op, kind) \
  lr_status lr_##fn(lr_tensor *x, lr_tensor **out) { return unary("lr_" #fn, &op, kind, x, 0, 0, out); }
UNARY_FN(neg, op_neg, LR_UN_NEG)
UNARY_FN(exp, op_exp, LR_UN_EXP)
UNARY_FN(log, op_log, LR_UN_LOG)
UNARY_FN(log1p, op_log1p, LR_UN_LOG1P)
UNARY_FN(expm1, op_expm1, LR_UN_EXPM1)
UNARY_FN(sqrt, op_sqrt, LR_UN_SQRT)
UNARY_FN(rsqrt, op_rsqrt, LR_UN_RSQRT)
UNARY_FN(abs, op_abs, LR_UN_ABS)
UNARY_FN(sin, op_sin, LR_UN_SIN)
UNARY_FN(cos, op_cos, LR_UN_COS)
UNARY_FN(tanh, op_tanh, LR_UN_TANH)
UNARY_FN(sigmoid, op_sigmoid, LR_UN_SIGMOID)
UNARY_FN(silu, op_silu, LR_UN_SILU)
UNARY_FN(relu, op_relu, LR_UN_RELU)

lr_status lr_softplus(lr_tensor *x, double beta, double threshold, lr_tensor **out) {
  if (beta == 0 || isnan(beta)) return lr_fail(LR_ERR_ARG, "lr_softplus: beta is %g, expected a nonzero number", beta);
  if (isnan(threshold)) return lr_fail(LR_ERR_ARG, "lr_softplus: threshold is nan");
  return unary("lr_softplus", &op_softplus, LR_UN_SOFTPLUS, x, beta, threshold, out);
}

lr_status lr_gelu(lr_tensor *x, lr_gelu_kind kind, lr_tensor **out) {
  if (kind != LR_GELU_ERF && kind != LR_GELU_TANH)
    return lr_fail(LR_ERR_ARG, "lr_gelu: kind is %d, expected LR_GELU_ERF (0) or LR_GELU_TANH (1)", (int)kind);
  return unary("lr_gelu", &op_gelu, kind == LR_GELU_ERF ? LR_UN_GELU_ERF : LR_UN_GELU_TANH, x, 0, 0, out);
}

lr_status lr_clamp(lr_tensor *x, double lo, double hi, lr_tensor **out) {
  if (isnan(lo) || isnan(hi) || lo > hi)
    return lr_fail(LR_ERR_ARG, "lr_clamp: lo %g and hi %g, expected lo <= hi", lo, hi);
  return unary("lr_clamp", &op_clamp, LR_UN_CLAMP, x, lo, hi, out);
}

/* ---- where, masked_fill ---- */

static lr_status check_mask(const char *name, const lr_tensor *m, const char *what, const lr_tensor *x) {
  LR_TRY(lr_check_dtype(name, m, what, LR_DT(LR_DTYPE_BOOL)));
  if (m->device != x->device)
    return lr_fail(LR_ERR_DEVICE, "%s: %s is on %s, x is on %s", name, what, lr_device_name(m->device),
                   lr_device_name(x->device));
  return LR_OK;
}

lr_status lr_where(lr_tensor *cond, lr_tensor *a, lr_tensor *b, lr_tensor **out) {
  const char *name = "lr_where";
  LR_TRY(lr_check_ptr(name, cond, "cond"));
  LR_TRY(lr_check_ptr(name, a, "a"));
  LR_TRY(lr_check_ptr(name, b, "b"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_same(name, a, "a", b, "b"));
  LR_TRY(lr_check_dtype(name, a, "a", op_where.dtypes));
  LR_TRY(check_mask(name, cond, "cond", a));
  LR_TRY(lr_check_device(name, &op_where, a));
  int n1, nd;
  int64_t s1[LR_MAX_DIMS], sh[LR_MAX_DIMS], cs[LR_MAX_DIMS], as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
  LR_TRY(lr_broadcast_shape(name, cond->ndim, cond->shape, a->ndim, a->shape, &n1, s1));
  LR_TRY(lr_broadcast_shape(name, n1, s1, b->ndim, b->shape, &nd, sh));
  lr_tensor *y;
  LR_TRY(lr_empty_on(a->dtype, a->device, nd, sh, &y));
  lr_broadcast_strides(cond, nd, sh, cs);
  lr_broadcast_strides(a, nd, sh, as);
  lr_broadcast_strides(b, nd, sh, bs);
  LR_TRY(k_where(y->device, lr_dtype_size(a->dtype), y->data, cond->data, cs, a->data, as, b->data, bs, nd, sh));
  lr_node *node;
  LR_TRY(lr_record(&op_where, 3, (lr_tensor *[]){cond, a, b}, 1, &y, &node));
  *out = y;
  return LR_OK;
}

static lr_status where_backward(lr_node *n) {
  lr_tensor *cond = n->in[0], *a = n->in[1], *b = n->in[2], *y = n->out[0], *g, *ga = NULL, *gb = NULL;
  LR_TRY(lr_tensor_contiguous_raw(y->grad, &g));
  if (a->requires_grad) LR_TRY(lr_empty_like(y, &ga));
  if (b->requires_grad) LR_TRY(lr_empty_like(y, &gb));
  int64_t cs[LR_MAX_DIMS];
  lr_broadcast_strides(cond, y->ndim, y->shape, cs);
  LR_TRY(k_where_bwd(y->device, y->dtype, ga ? ga->data : NULL, gb ? gb->data : NULL, g->data, cond->data, cs, y->ndim,
                     y->shape));
  if (ga) LR_TRY(lr_grad_acc(a, ga));
  if (gb) LR_TRY(lr_grad_acc(b, gb));
  return LR_OK;
}

/* value as a 0-dim tensor of x's dtype on x's device (converted as lr_tensor_set does). On CUDA
 * it is written by a kernel, so masked_fill never waits for the device. */
static lr_status fill_value(const lr_tensor *x, double value, lr_tensor **out) {
  lr_tensor *v;
  LR_TRY(lr_scalar(x->dtype, value, &v));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA) {
    lr_tensor *d;
    LR_TRY(lr_empty_on(x->dtype, x->device, 0, NULL, &d));
    /* the host scalar holds the converted value (integers truncated and saturated) */
    LR_TRY(lr_kcuda_fill(x->dtype, d->data, 1, lr_tensor_get(v, 0), 0, lr_cuda_stream()));
    v = d;
  }
#endif
  *out = v;
  return LR_OK;
}

lr_status lr_masked_fill(lr_tensor *x, lr_tensor *mask, double value, lr_tensor **out) {
  const char *name = "lr_masked_fill";
  LR_TRY(lr_check_ptr(name, x, "x"));
  LR_TRY(lr_check_ptr(name, mask, "mask"));
  LR_TRY(lr_check_ptr(name, out, "out"));
  LR_TRY(lr_check_dtype(name, x, "x", op_masked_fill.dtypes));
  LR_TRY(check_mask(name, mask, "mask", x));
  LR_TRY(lr_check_device(name, &op_masked_fill, x));
  int nd;
  int64_t sh[LR_MAX_DIMS], ms[LR_MAX_DIMS], zero[LR_MAX_DIMS] = {0};
  LR_TRY(lr_broadcast_shape(name, x->ndim, x->shape, mask->ndim, mask->shape, &nd, sh));
  bool fits = nd == x->ndim;
  for (int i = 0; fits && i < nd; i++) fits = sh[i] == x->shape[i];
  if (!fits) {
    char mb[160], xb[160];
    return lr_fail(LR_ERR_SHAPE, "%s: mask %s does not broadcast to x %s", name,
                   lr_shape_str(mask->ndim, mask->shape, mb, sizeof mb), lr_shape_str(x->ndim, x->shape, xb, sizeof xb));
  }
  lr_tensor *v, *y;
  LR_TRY(fill_value(x, value, &v));
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &y));
  lr_broadcast_strides(mask, nd, sh, ms);
  LR_TRY(k_where(y->device, lr_dtype_size(x->dtype), y->data, mask->data, ms, v->data, zero, x->data, x->strides, nd,
                 sh));
  lr_node *node;
  LR_TRY(lr_record(&op_masked_fill, 2, (lr_tensor *[]){x, mask}, 1, &y, &node));
  *out = y;
  return LR_OK;
}

static lr_status masked_fill_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *mask = n->in[1], *y = n->out[0], *g, *gx;
  if (!x->requires_grad) return LR_OK;
  LR_TRY(lr_tensor_contiguous_raw(y->grad, &g));
  LR_TRY(lr_empty_like(y, &gx));
  int64_t ms[LR_MAX_DIMS];
  lr_broadcast_strides(mask, y->ndim, y->shape, ms);
  LR_TRY(k_where_bwd(y->device, y->dtype, NULL, gx->data, g->data, mask->data, ms, y->ndim, y->shape));
  return lr_grad_acc(x, gx);
}

/* ---- comparisons ---- */

static lr_status compare(const char *name, const lr_op_def *def, lr_compare_kind k, lr_tensor *a, lr_tensor *b,
                         lr_tensor **out) {
  int nd;
  int64_t sh[LR_MAX_DIMS], as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
  LR_TRY(binary_check(name, def, a, b, out, &nd, sh));
  lr_tensor *y;
  LR_TRY(lr_empty_on(LR_DTYPE_BOOL, a->device, nd, sh, &y));
  lr_broadcast_strides(a, nd, sh, as);
  lr_broadcast_strides(b, nd, sh, bs);
  LR_TRY(k_compare(y->device, k, a->dtype, y->data, a->data, as, b->data, bs, nd, sh));
  *out = y;
  return LR_OK;
}

#define COMPARE_FN(fn, kind) \
  lr_status lr_##fn(lr_tensor *a, lr_tensor *b, lr_tensor **out) { return compare("lr_" #fn, &op_##fn, kind, a, b, out); }
COMPARE_FN(eq, LR_CMP_EQ)
COMPARE_FN(ne, LR_CMP_NE)
COMPARE_FN(lt, LR_CMP_LT)
COMPARE_FN(le, LR_CMP_LE)
COMPARE_FN(gt, LR_CMP_GT)
COMPARE_FN(ge, LR_CMP_GE)
