/* Linear: y = x W^T + b (PyTorch nn.Linear); see linear.h.
 *
 * Init: bound = 1/sqrt(in_features); W, b ~ U(-bound, bound). This is what PyTorch's
 * kaiming_uniform_(a=sqrt(5)) reduces to: gain sqrt(2/(1+a^2)) = sqrt(1/3), bound
 * gain*sqrt(3/fan_in) = 1/sqrt(fan_in). For complex dtypes both parts are drawn from it.
 * With in_features 0 nothing is drawn (PyTorch leaves such tensors empty or zero too).
 * Forward and backward are lr_linear's (ops/linalg.h): dx = g W, dW = g^T x, db = sum g.
 */
#include "nn/linear.h"

#include <math.h>

#include "ops/linalg.h"

lr_status lr_linear_reset(lr_linear_module *l, lr_rng *rng) {
  if (!l || !rng) return lr_fail(LR_ERR_ARG, "lr_linear_reset: NULL argument");
  if (l->in_features == 0) return LR_OK;
  double bound = 1.0 / sqrt((double)l->in_features);
  LR_TRY(lr_rand_uniform_(l->weight, -bound, bound, rng));
  if (l->bias) LR_TRY(lr_rand_uniform_(l->bias, -bound, bound, rng));
  return LR_OK;
}

lr_status lr_linear_new(lr_module *parent, const char *name, int64_t in_features, int64_t out_features, bool bias,
                        lr_dtype dt, lr_rng *rng, lr_linear_module **out) {
  const char *fn = "lr_linear_new";
  if (!out || !rng) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !out ? "out" : "rng");
  if (in_features < 0 || out_features < 0)
    return lr_fail(LR_ERR_ARG, "%s: in_features %lld, out_features %lld: sizes must be >= 0", fn,
                   (long long)in_features, (long long)out_features);
  if (!lr_dtype_is_float(dt))
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32, f64, c64 or c128", fn, lr_dtype_name(dt));
  lr_module *m;
  LR_TRY(lr_module_new(sizeof(lr_linear_module), "Linear", &m));
  lr_linear_module *l = (lr_linear_module *)m;
  l->in_features = in_features;
  l->out_features = out_features;
  lr_status s = lr_module_add_param(m, "weight", dt, LR_SHAPE(out_features, in_features), &l->weight);
  if (s == LR_OK && bias) s = lr_module_add_param(m, "bias", dt, LR_SHAPE(out_features), &l->bias);
  if (s == LR_OK) s = lr_linear_reset(l, rng);
  if (s != LR_OK) {
    lr_module_free(m);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, m)); /* frees m on failure */
  *out = l;
  return LR_OK;
}

lr_status lr_linear_forward(lr_linear_module *l, lr_tensor *x, lr_tensor **out) {
  const char *fn = "lr_linear_forward";
  if (!l || !x || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (x->ndim < 1 || x->shape[x->ndim - 1] != l->in_features) {
    char b[128];
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected last dim in_features = %lld", fn,
                   lr_shape_str(x->ndim, x->shape, b, sizeof b), (long long)l->in_features);
  }
  return lr_linear(x, l->weight, l->bias, out);
}
