/* Helpers of the diagonal LTI models; see lti_util.h.
 *
 * The step is lrnnx's LRU/S5 step: s' = Abar ⊙ s + einsum("nh,bh->bn", Bbar, x), y = Re(C s'),
 * here as s' = s ⊙ Abar + x_c Bbar^T and y = Re(s' C^T) with x_c = x + 0i.
 */
#include "nn/lti_util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/complex.h"
#include "ops/elementwise.h"
#include "ops/fft_conv.h"
#include "ops/linalg.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "tensor/arena.h"

lr_status lr_lti_check_x(const char *fn, const lr_tensor *x, int64_t H, lr_dtype dt) {
  if (!x) return lr_fail(LR_ERR_ARG, "%s: x is NULL", fn);
  char b[64];
  if (x->ndim != 3 || x->shape[2] != H)
    return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected (B, L, %lld)", fn, lr_shape_str(x->ndim, x->shape, b, sizeof b),
                   (long long)H);
  if (x->dtype != dt)
    return lr_fail(LR_ERR_DTYPE, "%s: x is %s, the model is %s", fn, lr_dtype_name(x->dtype), lr_dtype_name(dt));
  return LR_OK;
}

lr_status lr_lti_length_mask(const char *fn, lr_tensor *lengths, int64_t B, int64_t L, lr_dtype dt, lr_device dev,
                             lr_tensor **mask) {
  char b[64];
  if (!lengths) return lr_fail(LR_ERR_ARG, "%s: lengths is NULL", fn);
  if (lengths->dtype != LR_DTYPE_I64 && lengths->dtype != LR_DTYPE_I32)
    return lr_fail(LR_ERR_DTYPE, "%s: lengths is %s, expected i64 or i32", fn, lr_dtype_name(lengths->dtype));
  if (lengths->ndim != 1 || lengths->shape[0] != B)
    return lr_fail(LR_ERR_SHAPE, "%s: lengths is %s, expected (%lld)", fn,
                   lr_shape_str(lengths->ndim, lengths->shape, b, sizeof b), (long long)B);
  lr_tensor *lh = lengths, *m;
  if (lengths->device != LR_DEVICE_CPU) { /* one copy of the B values, not one per element */
    LR_TRY(lr_empty_on(lengths->dtype, LR_DEVICE_CPU, 1, lengths->shape, &lh));
    LR_TRY(lr_tensor_copy_(lh, lengths));
  }
  LR_TRY(lr_empty(dt, LR_SHAPE(B, L, 1), &m));
  for (int64_t i = 0; i < B; i++) {
    double len = lr_tensor_get(lh, i);
    if (len < 0 || len > (double)L)
      return lr_fail(LR_ERR_ARG, "%s: lengths[%lld] is %lld, expected 0..%lld", fn, (long long)i, (long long)len,
                     (long long)L);
    for (int64_t t = 0; t < L; t++) lr_tensor_set(m, i * L + t, (double)t < len ? 1.0 : 0.0, 0.0);
  }
  if (dev != LR_DEVICE_CPU) return lr_to(m, dev, mask);
  *mask = m;
  return LR_OK;
}

lr_status lr_lti_full_on(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, double value, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_empty_on(dt, dev, ndim, shape, &t));
  LR_TRY(lr_tensor_fill_(t, value));
  *out = t;
  return LR_OK;
}

lr_status lr_lti_to_complex(lr_tensor *x, lr_tensor **out) {
  lr_tensor *z; /* made on x's device: no host-to-device copy */
  LR_TRY(lr_zeros_on(x->dtype, x->device, 0, NULL, &z));
  return lr_complex(x, z, out);
}

void lr_lti_cache_free(lr_lti_cache *c) {
  if (!c) return;
  lr_tensor_free(c->state);
  lr_tensor_free(c->Abar);
  lr_tensor_free(c->Bbar);
  lr_tensor_free(c->C);
  free(c);
}

static lr_status persist(lr_tensor *x, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_tensor_new(x->dtype, x->device, x->ndim, x->shape, &t));
  lr_status s = lr_tensor_copy_(t, x);
  if (s != LR_OK) {
    lr_tensor_free(t);
    return s;
  }
  *out = t;
  return LR_OK;
}

lr_status lr_lti_cache_new(const char *fn, int64_t batch, lr_tensor *Abar, lr_tensor *Bbar, lr_tensor *C,
                           lr_lti_cache **out) {
  if (batch < 1) return lr_fail(LR_ERR_ARG, "%s: batch is %lld, expected >= 1", fn, (long long)batch);
  lr_lti_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  lr_status s = persist(Abar, &c->Abar);
  if (s == LR_OK) s = persist(Bbar, &c->Bbar);
  if (s == LR_OK) s = persist(C, &c->C);
  if (s == LR_OK) s = lr_tensor_new(Abar->dtype, Abar->device, LR_SHAPE(batch, Abar->shape[0]), &c->state);
  if (s == LR_OK) s = lr_tensor_fill_(c->state, 0.0);
  if (s != LR_OK) {
    lr_lti_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

lr_status lr_lti_cache_reset(lr_lti_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_lti_cache_reset: cache is NULL");
  return lr_tensor_fill_(c->state, 0.0);
}

static lr_status step(lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y) {
  lr_tensor *xc, *Bt, *u, *as, *s, *Ct, *w;
  LR_TRY(lr_lti_to_complex(x_t, &xc));
  LR_TRY(lr_transpose(c->Bbar, 0, 1, &Bt));
  LR_TRY(lr_matmul(xc, Bt, &u));        /* (batch, N) */
  LR_TRY(lr_mul(c->state, c->Abar, &as));
  LR_TRY(lr_add(as, u, &s));
  LR_TRY(lr_tensor_copy_(c->state, s));
  LR_TRY(lr_transpose(c->C, 0, 1, &Ct));
  LR_TRY(lr_matmul(s, Ct, &w));         /* (batch, Hout) */
  return lr_real(w, y);
}

lr_status lr_lti_cache_step(const char *fn, lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y) {
  if (!c || !x_t || !y) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  char b[64];
  int64_t H = c->Bbar->shape[1];
  if (x_t->ndim != 2 || x_t->shape[0] != c->batch || x_t->shape[1] != H)
    return lr_fail(LR_ERR_SHAPE, "%s: x_t is %s, expected (%lld, %lld)", fn,
                   lr_shape_str(x_t->ndim, x_t->shape, b, sizeof b), (long long)c->batch, (long long)H);
  if (lr_dtype_complex(x_t->dtype) != c->Bbar->dtype || lr_dtype_is_complex(x_t->dtype))
    return lr_fail(LR_ERR_DTYPE, "%s: x_t is %s, expected %s", fn, lr_dtype_name(x_t->dtype),
                   lr_dtype_name(lr_dtype_real(c->Bbar->dtype)));
  bool prev = lr_set_grad_enabled(false);
  lr_status s = step(c, x_t, y);
  lr_set_grad_enabled(prev);
  return s;
}

lr_status lr_lti_s4_head(lr_linear_module *ol, lr_tensor *y, lr_tensor **out) {
  lr_tensor *g1, *g2, *l;
  LR_TRY(lr_gelu(y, LR_GELU_ERF, &g1));
  LR_TRY(lr_gelu(g1, LR_GELU_ERF, &g2));
  if (!ol) {
    *out = g2;
    return LR_OK;
  }
  LR_TRY(lr_linear_forward(ol, g2, &l));
  return lr_gelu(l, LR_GELU_ERF, out);
}

lr_status lr_lti_s4_forward(const char *fn, void *model, lr_lti_kernel_fn kernel, int64_t H, int64_t ch,
                            bool transposed, lr_dtype dt, lr_tensor *D, lr_linear_module *ol, lr_tensor *x,
                            lr_tensor *lengths, lr_tensor **y) {
  if (transposed) {
    char b[64];
    if (x->ndim != 3 || x->shape[1] != H)
      return lr_fail(LR_ERR_SHAPE, "%s: x is %s, expected (B, %lld, L) (transposed)", fn,
                     lr_shape_str(x->ndim, x->shape, b, sizeof b), (long long)H);
    LR_TRY(lr_transpose(x, 1, 2, &x));
  }
  LR_TRY(lr_lti_check_x(fn, x, H, dt));
  int64_t Bn = x->shape[0], L = x->shape[1];
  if (L < 1) return lr_fail(LR_ERR_SHAPE, "%s: x has length 0", fn);
  lr_tensor *mask = NULL, *K, *K2, *xr, *yc, *Df, *xd, *ys, *out;
  if (lengths) {
    LR_TRY(lr_lti_length_mask(fn, lengths, Bn, L, x->dtype, x->device, &mask));
    LR_TRY(lr_mul(x, mask, &x));
  }
  LR_TRY(kernel(model, L, &K));
  LR_TRY(lr_reshape(K, LR_SHAPE(ch * H, K->shape[2]), &K2));
  if (ch == 1) {
    LR_TRY(lr_contiguous(x, &xr));
  } else {
    lr_tensor *x4, *xe;
    LR_TRY(lr_unsqueeze(x, 2, &x4));
    LR_TRY(lr_expand(x4, LR_SHAPE(Bn, L, ch, H), &xe));
    LR_TRY(lr_reshape(xe, LR_SHAPE(Bn, L, ch * H), &xr));
  }
  LR_TRY(lr_fft_conv(xr, K2, &yc));       /* (B, L, ch H), (c h) order */
  LR_TRY(lr_reshape(D, LR_SHAPE(ch * H), &Df));
  LR_TRY(lr_mul(xr, Df, &xd));
  LR_TRY(lr_add(yc, xd, &ys));
  LR_TRY(lr_lti_s4_head(ol, ys, &out));
  if (mask) LR_TRY(lr_mul(out, mask, &out));
  if (transposed) LR_TRY(lr_transpose(out, 1, 2, &out));
  *y = out;
  return LR_OK;
}

/* ---- shared by S4 and S4D (state-spaces conventions) ---- */

const char *const lr_lti_transforms[] = {"none", "exp", "relu", "sigmoid", "softplus", NULL};

int lr_lti_transform_find(const char *s) {
  for (int i = 0; s && lr_lti_transforms[i]; i++)
    if (!strcmp(s, lr_lti_transforms[i])) return i;
  return -1;
}

/* inv_transform (state-spaces): the stored value of a positive quantity p. */
double lr_lti_inv_transform(int t, double p) {
  p = fmax(p, 1e-4);
  switch (t) {
    case 1: return log(p);
    case 3: return log(p / (1 - p));
    case 4: return log(expm1(p));
    default: return p; /* none, relu */
  }
}

/* param_transform as ops. */
lr_status lr_lti_transform(int t, lr_tensor *x, lr_tensor **out) {
  lr_tensor *r;
  switch (t) {
    case 1: return lr_exp(x, out);
    case 2: LR_TRY(lr_relu(x, &r)); return lr_affine(r, 1.0, 1e-4, out);
    case 3: return lr_sigmoid(x, out);
    case 4: return lr_softplus(x, 1.0, 20.0, out);
    default: *out = x; return LR_OK;
  }
}

/* rows of t (n_ssm, ...) tiled to H rows along dim `dim` ("t n -> (v t) n") */
lr_status lr_lti_tile_rows(lr_tensor *t, int dim, int64_t H, lr_tensor **out) {
  int64_t n = t->shape[dim];
  if (n == H) {
    *out = t;
    return LR_OK;
  }
  lr_tensor *u, *e;
  int64_t sh[LR_MAX_DIMS];
  LR_TRY(lr_unsqueeze(t, dim, &u));
  memcpy(sh, u->shape, sizeof(int64_t) * (size_t)u->ndim);
  sh[dim] = H / n;
  LR_TRY(lr_expand(u, u->ndim, sh, &e));
  int64_t rs[LR_MAX_DIMS];
  int nd = 0;
  for (int i = 0; i < t->ndim; i++) rs[nd++] = i == dim ? H : t->shape[i];
  return lr_reshape(e, nd, rs, out);
}

/* The entry of names equal to s (a static string to keep), or NULL. */
const char *lr_lti_static_name(const char *s, const char *const *names) {
  for (int i = 0; names[i]; i++)
    if (!strcmp(s, names[i])) return names[i];
  return NULL;
}

