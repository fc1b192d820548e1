/* Tensor creation, queries, strided copies and raw views; see tensor.h.
 *
 * CPU data is 64-byte aligned. Device tensors get their memory from the hooks the CUDA backend
 * installs (lr_set_device_hooks); without them, asking for a device tensor is LR_ERR_DEVICE.
 */
#include "tensor/tensor.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* ---- dtype tables ---- */
size_t lr_dtype_size(lr_dtype d) {
  static const size_t sz[LR_DTYPE_COUNT] = {4, 8, 8, 16, 4, 8, 1};
  return (unsigned)d < LR_DTYPE_COUNT ? sz[d] : 0;
}
const char *lr_dtype_name(lr_dtype d) {
  static const char *nm[LR_DTYPE_COUNT] = {"f32", "f64", "c64", "c128", "i32", "i64", "bool"};
  return (unsigned)d < LR_DTYPE_COUNT ? nm[d] : "?";
}
const char *lr_device_name(lr_device d) { return d == LR_DEVICE_CPU ? "cpu" : d == LR_DEVICE_CUDA ? "cuda" : "?"; }
bool lr_dtype_is_complex(lr_dtype d) { return d == LR_DTYPE_C64 || d == LR_DTYPE_C128; }
bool lr_dtype_is_float(lr_dtype d) { return (unsigned)d <= LR_DTYPE_C128; }
lr_dtype lr_dtype_real(lr_dtype d) {
  return d == LR_DTYPE_C64 ? LR_DTYPE_F32 : d == LR_DTYPE_C128 ? LR_DTYPE_F64 : d;
}
lr_dtype lr_dtype_complex(lr_dtype d) {
  return d == LR_DTYPE_F32 ? LR_DTYPE_C64 : d == LR_DTYPE_F64 ? LR_DTYPE_C128 : d;
}

/* ---- device hooks ---- */
static const lr_device_hooks *lr_hooks[LR_DEVICE_COUNT];
void lr_set_device_hooks(lr_device dev, const lr_device_hooks *h) {
  if ((unsigned)dev < LR_DEVICE_COUNT) lr_hooks[dev] = h;
}
const lr_device_hooks *lr_get_device_hooks(lr_device dev) {
  return (unsigned)dev < LR_DEVICE_COUNT ? lr_hooks[dev] : NULL;
}

/* ---- shapes ---- */
int64_t lr_numel(const lr_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++) n *= t->shape[i];
  return n;
}
size_t lr_nbytes(const lr_tensor *t) { return (size_t)lr_numel(t) * lr_dtype_size(t->dtype); }

void lr_contiguous_strides(int ndim, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int i = ndim - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i] > 0 ? shape[i] : 1;
  }
}

bool lr_is_contiguous(const lr_tensor *t) {
  /* An empty tensor is contiguous whatever its strides (PyTorch's rule); without this, the
   * strides lr_contiguous_strides gives a shape with a 0 dim would not count as contiguous. */
  if (lr_numel(t) == 0) return true;
  int64_t s = 1;
  for (int i = t->ndim - 1; i >= 0; i--) {
    if (t->shape[i] != 1 && t->strides[i] != s) return false;
    s *= t->shape[i];
  }
  return true;
}

bool lr_same_shape(const lr_tensor *a, const lr_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

const char *lr_shape_str(int ndim, const int64_t *shape, char *buf, size_t n) {
  size_t k = 0;
  k += (size_t)snprintf(buf + k, n - k, "(");
  for (int i = 0; i < ndim && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (k < n) k += (size_t)snprintf(buf + k, n - k, ndim == 1 ? ",)" : ")");
  return buf;
}

int64_t lr_offset(const lr_tensor *t, const int64_t *idx) {
  int64_t o = 0;
  for (int i = 0; i < t->ndim; i++) o += idx[i] * t->strides[i];
  return o;
}

lr_status lr_norm_dim(const char *op, int dim, int ndim, int *out) {
  /* A 0-dim tensor takes dim 0 and -1, as in PyTorch. */
  int n = ndim > 0 ? ndim : 1;
  int d = dim < 0 ? dim + n : dim;
  if (d < 0 || d >= n)
    return lr_fail(LR_ERR_ARG, "%s: dim %d out of range for a tensor with %d dims", op, dim, ndim);
  *out = d;
  return LR_OK;
}

/* ndim in 0..LR_MAX_DIMS, sizes >= 0, and numel * es bytes representable (a product that
 * overflowed would allocate a small buffer for a huge tensor). */
static lr_status check_shape(const char *fn, int ndim, const int64_t *shape, size_t es) {
  if (ndim < 0 || ndim > LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "%s: %d dims, expected 0..%d", fn, ndim, LR_MAX_DIMS);
  if (ndim > 0 && !shape) return lr_fail(LR_ERR_ARG, "%s: shape is NULL", fn);
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 0) return lr_fail(LR_ERR_SHAPE, "%s: dim %d has size %lld", fn, i, (long long)shape[i]);
  int64_t limit = (int64_t)((size_t)INT64_MAX < SIZE_MAX ? (size_t)INT64_MAX : SIZE_MAX) / (int64_t)(es ? es : 1);
  int64_t n = 1;
  bool overflow = false;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] == 0) return LR_OK;
    if (n > limit / shape[i]) overflow = true;
    else n *= shape[i];
  }
  if (overflow) {
    char b[160];
    return lr_fail(LR_ERR_SHAPE, "%s: shape %s has too many elements", fn, lr_shape_str(ndim, shape, b, sizeof b));
  }
  return LR_OK;
}

/* ---- allocation ---- */
lr_tensor *lr_tensor_struct_alloc(void) {
  lr_arena *a = lr_arena_current();
  if (!a) return NULL;
  lr_tensor *t = lr_arena_calloc(a, sizeof *t);
  if (t) t->flags = LR_TF_ARENA;
  return t;
}

static void device_free_cb(void *p) {
  const lr_device_hooks *h = lr_get_device_hooks(LR_DEVICE_CUDA);
  if (h) h->free(p);
}

static lr_status device_check(const char *fn, lr_device dev) {
  if ((unsigned)dev >= LR_DEVICE_COUNT) return lr_fail(LR_ERR_DEVICE, "%s: unknown device %d", fn, (int)dev);
  if (dev != LR_DEVICE_CPU && !lr_get_device_hooks(dev))
    return lr_fail(LR_ERR_DEVICE, "%s: device %s is not available (lrnnx built without it, or not initialised)", fn,
                   lr_device_name(dev));
  return LR_OK;
}

static void init_meta(lr_tensor *t, lr_dtype dt, lr_device dev, int ndim, const int64_t *shape) {
  t->dtype = dt;
  t->device = dev;
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
  lr_contiguous_strides(ndim, shape, t->strides);
}

lr_status lr_empty_on(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, lr_tensor **out) {
  if (!out) return lr_fail(LR_ERR_ARG, "lr_empty: out is NULL");
  if ((unsigned)dt >= LR_DTYPE_COUNT) return lr_fail(LR_ERR_DTYPE, "lr_empty: unknown dtype %d", (int)dt);
  LR_TRY(check_shape("lr_empty", ndim, shape, lr_dtype_size(dt)));
  LR_TRY(device_check("lr_empty", dev));
  lr_arena *a = lr_arena_current();
  if (!a) return lr_fail(LR_ERR_MEMORY, "lr_empty: no arena (out of memory)");
  lr_tensor *t = lr_tensor_struct_alloc();
  if (!t) return lr_fail(LR_ERR_MEMORY, "lr_empty: out of memory");
  init_meta(t, dt, dev, ndim, shape);
  size_t bytes = lr_nbytes(t);
  if (dev == LR_DEVICE_CPU) {
    t->data = lr_arena_alloc(a, bytes);
    if (!t->data) return lr_fail(LR_ERR_MEMORY, "lr_empty: cannot allocate %zu bytes", bytes);
  } else {
    const lr_device_hooks *h = lr_get_device_hooks(dev);
    LR_TRY(h->alloc(bytes ? bytes : 1, &t->data));
    lr_status s = lr_arena_on_rewind(a, device_free_cb, t->data);
    if (s != LR_OK) { h->free(t->data); return s; }
  }
  *out = t;
  return LR_OK;
}

lr_status lr_zeros_on(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_empty_on(dt, dev, ndim, shape, &t));
  if (dev == LR_DEVICE_CPU) memset(t->data, 0, lr_nbytes(t));
  else LR_TRY(lr_get_device_hooks(dev)->memset0(t->data, lr_nbytes(t)));
  *out = t;
  return LR_OK;
}

lr_status lr_empty(lr_dtype dt, int ndim, const int64_t *shape, lr_tensor **out) {
  return lr_empty_on(dt, LR_DEVICE_CPU, ndim, shape, out);
}
lr_status lr_zeros(lr_dtype dt, int ndim, const int64_t *shape, lr_tensor **out) {
  return lr_zeros_on(dt, LR_DEVICE_CPU, ndim, shape, out);
}
lr_status lr_full(lr_dtype dt, int ndim, const int64_t *shape, double value, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_empty(dt, ndim, shape, &t));
  LR_TRY(lr_tensor_fill_(t, value));
  *out = t;
  return LR_OK;
}
lr_status lr_ones(lr_dtype dt, int ndim, const int64_t *shape, lr_tensor **out) {
  return lr_full(dt, ndim, shape, 1.0, out);
}
lr_status lr_empty_like(const lr_tensor *like, lr_tensor **out) {
  if (!like) return lr_fail(LR_ERR_ARG, "lr_empty_like: like is NULL");
  return lr_empty_on(like->dtype, like->device, like->ndim, like->shape, out);
}
lr_status lr_zeros_like(const lr_tensor *like, lr_tensor **out) {
  if (!like) return lr_fail(LR_ERR_ARG, "lr_zeros_like: like is NULL");
  return lr_zeros_on(like->dtype, like->device, like->ndim, like->shape, out);
}
lr_status lr_from_host(lr_dtype dt, int ndim, const int64_t *shape, const void *src, lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_empty(dt, ndim, shape, &t));
  size_t bytes = lr_nbytes(t);
  if (!src && bytes) return lr_fail(LR_ERR_ARG, "lr_from_host: src is NULL");
  if (bytes) memcpy(t->data, src, bytes);
  *out = t;
  return LR_OK;
}
lr_status lr_scalar(lr_dtype dt, double value, lr_tensor **out) { return lr_full(dt, 0, NULL, value, out); }

lr_status lr_tensor_new(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, lr_tensor **out) {
  if (!out) return lr_fail(LR_ERR_ARG, "lr_tensor_new: out is NULL");
  if ((unsigned)dt >= LR_DTYPE_COUNT) return lr_fail(LR_ERR_DTYPE, "lr_tensor_new: unknown dtype %d", (int)dt);
  LR_TRY(check_shape("lr_tensor_new", ndim, shape, lr_dtype_size(dt)));
  LR_TRY(device_check("lr_tensor_new", dev));
  lr_tensor *t = calloc(1, sizeof *t);
  if (!t) return lr_fail(LR_ERR_MEMORY, "lr_tensor_new: out of memory");
  init_meta(t, dt, dev, ndim, shape);
  t->flags = LR_TF_HEAP | LR_TF_OWNS_DATA;
  size_t bytes = lr_nbytes(t);
  if (dev == LR_DEVICE_CPU) {
    t->data = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64); /* never 0 bytes */
    if (!t->data) {
      free(t);
      return lr_fail(LR_ERR_MEMORY, "lr_tensor_new: cannot allocate %zu bytes", bytes);
    }
    memset(t->data, 0, bytes);
  } else {
    const lr_device_hooks *h = lr_get_device_hooks(dev);
    lr_status s = h->alloc(bytes ? bytes : 1, &t->data);
    if (s == LR_OK) s = h->memset0(t->data, bytes);
    if (s != LR_OK) {
      if (t->data) h->free(t->data);
      free(t);
      return s;
    }
  }
  *out = t;
  return LR_OK;
}

void lr_tensor_free(lr_tensor *t) {
  if (!t || !(t->flags & LR_TF_HEAP)) return;
  lr_tensor_free(t->grad);
  if (t->flags & LR_TF_OWNS_DATA) {
    if (t->device == LR_DEVICE_CPU) free(t->data);
    else device_free_cb(t->data);
  }
  free(t);
}

lr_status lr_tensor_clone_persistent(const lr_tensor *x, lr_tensor **out) {
  if (!x || !out) return lr_fail(LR_ERR_ARG, "lr_tensor_clone_persistent: NULL argument");
  lr_tensor *t;
  LR_TRY(lr_tensor_new(x->dtype, x->device, x->ndim, x->shape, &t));
  lr_status s = lr_tensor_copy_(t, x);
  if (s != LR_OK) { lr_tensor_free(t); return s; }
  *out = t;
  return LR_OK;
}

/* ---- strided copies on the CPU ---- */
/* dst = src element by element over an nd shape with arbitrary strides (in elements); the
 * innermost dim is copied as one memcpy when both sides are unit-stride. */
static void strided_copy(unsigned char *dst, const int64_t *dstr, const unsigned char *src, const int64_t *sstr,
                         int ndim, const int64_t *shape, size_t es) {
  if (ndim == 0) { memcpy(dst, src, es); return; }
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (n == 0) return;
  int64_t idx[LR_MAX_DIMS] = {0};
  int last = ndim - 1;
  int64_t L = shape[last];
  int64_t od = 0, os = 0;
  for (int64_t done = 0; done < n; done += L) {
    if (dstr[last] == 1 && sstr[last] == 1) {
      memmove(dst + od * (int64_t)es, src + os * (int64_t)es, (size_t)L * es); /* dst may alias src */
    } else {
      for (int64_t j = 0; j < L; j++)
        memcpy(dst + (od + j * dstr[last]) * (int64_t)es, src + (os + j * sstr[last]) * (int64_t)es, es);
    }
    for (int d = last - 1; d >= 0; d--) {
      idx[d]++;
      od += dstr[d];
      os += sstr[d];
      if (idx[d] < shape[d]) break;
      od -= dstr[d] * shape[d];
      os -= sstr[d] * shape[d];
      idx[d] = 0;
    }
  }
}

/* Copies that involve a device. Both sides contiguous: one memcpy through the hooks. Otherwise
 * device to device is the backend's strided_copy, and a copy across the bus stages each strided
 * side through a contiguous buffer on its own side: a strided device tensor is gathered into (or
 * scattered from) a contiguous device buffer with strided_copy, a strided host tensor through a
 * contiguous host buffer with strided_copy above. Staging buffers are released at once: device
 * work is ordered on the backend's stream, so a buffer freed after queuing a kernel that reads it
 * is not overwritten before that kernel ran. */
static lr_status device_copy(lr_tensor *dst, const lr_tensor *src, size_t es) {
  const char *fn = "lr_tensor_copy_";
  bool to_dev = dst->device != LR_DEVICE_CPU, from_dev = src->device != LR_DEVICE_CPU;
  if (to_dev && from_dev && dst->device != src->device)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: copies from %s to %s are not supported", fn, lr_device_name(src->device),
                   lr_device_name(dst->device));
  lr_device dev = to_dev ? dst->device : src->device;
  const lr_device_hooks *h = lr_get_device_hooks(dev);
  if (!h) return lr_fail(LR_ERR_DEVICE, "%s: no %s backend", fn, lr_device_name(dev));
  int64_t n = lr_numel(src);
  if (n == 0) return LR_OK;
  size_t bytes = (size_t)n * es;
  bool dc = lr_is_contiguous(dst), sc = lr_is_contiguous(src);
  if (dc && sc) {
    if (!to_dev) return h->memcpy_d2h(dst->data, src->data, bytes);
    if (!from_dev) return h->memcpy_h2d(dst->data, src->data, bytes);
    return h->memcpy_d2d(dst->data, src->data, bytes);
  }
  if (!h->strided_copy)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: strided copies on %s are not supported by its backend", fn,
                   lr_device_name(dev));
  int ndim = src->ndim;
  if (to_dev && from_dev)
    return h->strided_copy(dst->data, dst->strides, src->data, src->strides, ndim, src->shape, es);
  int64_t cst[LR_MAX_DIMS];
  lr_contiguous_strides(ndim, src->shape, cst);
  unsigned char *hb = NULL; /* contiguous host staging */
  void *db = NULL;          /* contiguous device staging */
  lr_status s = LR_OK;
  if (to_dev) { /* host -> device */
    const void *hsrc = src->data;
    if (!sc) {
      if (!(hb = malloc(bytes))) return lr_fail(LR_ERR_MEMORY, "%s: cannot allocate %zu bytes of staging", fn, bytes);
      strided_copy(hb, cst, src->data, src->strides, ndim, src->shape, es);
      hsrc = hb;
    }
    if (dc) {
      s = h->memcpy_h2d(dst->data, hsrc, bytes);
    } else {
      s = h->alloc(bytes, &db);
      if (s == LR_OK) s = h->memcpy_h2d(db, hsrc, bytes);
      if (s == LR_OK) s = h->strided_copy(dst->data, dst->strides, db, cst, ndim, src->shape, es);
    }
  } else { /* device -> host */
    const void *dsrc = src->data;
    if (!sc) {
      s = h->alloc(bytes, &db);
      if (s == LR_OK) s = h->strided_copy(db, cst, src->data, src->strides, ndim, src->shape, es);
      dsrc = db;
    }
    if (s == LR_OK && dc) {
      s = h->memcpy_d2h(dst->data, dsrc, bytes);
    } else if (s == LR_OK) {
      if (!(hb = malloc(bytes))) s = lr_fail(LR_ERR_MEMORY, "%s: cannot allocate %zu bytes of staging", fn, bytes);
      if (s == LR_OK) s = h->memcpy_d2h(hb, dsrc, bytes);
      if (s == LR_OK) strided_copy(dst->data, dst->strides, hb, cst, ndim, src->shape, es);
    }
  }
  if (db) h->free(db);
  free(hb);
  return s;
}

lr_status lr_tensor_copy_(lr_tensor *dst, const lr_tensor *src) {
  if (!dst || !src) return lr_fail(LR_ERR_ARG, "lr_tensor_copy_: NULL tensor");
  if (dst->dtype != src->dtype)
    return lr_fail(LR_ERR_DTYPE, "lr_tensor_copy_: dtypes %s and %s differ", lr_dtype_name(dst->dtype),
                   lr_dtype_name(src->dtype));
  if (!lr_same_shape(dst, src)) {
    char a[128], b[128];
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_copy_: shapes %s and %s differ", lr_shape_str(dst->ndim, dst->shape, a, 128),
                   lr_shape_str(src->ndim, src->shape, b, 128));
  }
  size_t es = lr_dtype_size(src->dtype);
  if (dst->device == LR_DEVICE_CPU && src->device == LR_DEVICE_CPU) {
    strided_copy(dst->data, dst->strides, src->data, src->strides, src->ndim, src->shape, es);
    return LR_OK;
  }
  return device_copy(dst, src, es);
}

static lr_tensor host_desc(const lr_tensor *t, void *ptr) {
  lr_tensor h = *t;
  h.device = LR_DEVICE_CPU;
  h.data = ptr;
  lr_contiguous_strides(t->ndim, t->shape, h.strides);
  h.flags = 0;
  return h;
}

lr_status lr_tensor_copy_from_host(lr_tensor *t, const void *src, size_t bytes) {
  if (!t || (!src && bytes)) return lr_fail(LR_ERR_ARG, "lr_tensor_copy_from_host: NULL argument");
  if (bytes != lr_nbytes(t))
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_copy_from_host: %zu bytes given, tensor holds %zu", bytes, lr_nbytes(t));
  lr_tensor h = host_desc(t, (void *)src);
  return lr_tensor_copy_(t, &h);
}

lr_status lr_tensor_copy_to_host(const lr_tensor *t, void *dst, size_t bytes) {
  if (!t || (!dst && bytes)) return lr_fail(LR_ERR_ARG, "lr_tensor_copy_to_host: NULL argument");
  if (bytes != lr_nbytes(t))
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_copy_to_host: %zu bytes given, tensor holds %zu", bytes, lr_nbytes(t));
  lr_tensor h = host_desc(t, dst);
  return lr_tensor_copy_(&h, t);
}

lr_status lr_tensor_contiguous_raw(const lr_tensor *x, lr_tensor **out) {
  if (!x || !out) return lr_fail(LR_ERR_ARG, "lr_tensor_contiguous_raw: NULL argument");
  if (lr_is_contiguous(x)) { *out = (lr_tensor *)x; return LR_OK; }
  lr_tensor *t;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &t));
  LR_TRY(lr_tensor_copy_(t, x));
  *out = t;
  return LR_OK;
}

/* Offset of row-major logical index i. */
static int64_t logical_offset(const lr_tensor *t, int64_t i) {
  int64_t o = 0;
  for (int d = t->ndim - 1; d >= 0; d--) {
    o += (i % t->shape[d]) * t->strides[d];
    i /= t->shape[d];
  }
  return o;
}

void lr_tensor_get_c(const lr_tensor *t, int64_t i, double *re, double *im) {
  if (re) *re = NAN;
  if (im) *im = NAN;
  if (i < 0 || i >= lr_numel(t)) return; /* an element that does not exist */
  size_t es = lr_dtype_size(t->dtype);
  const unsigned char *p = (const unsigned char *)t->data + logical_offset(t, i) * (int64_t)es;
  unsigned char host[16];
  if (t->device != LR_DEVICE_CPU) {
    /* One element through the device hooks: slow, for tests and tools only. */
    const lr_device_hooks *h = lr_get_device_hooks(t->device);
    if (!h || h->memcpy_d2h(host, p, es) != LR_OK) return;
    p = host;
  }
  double r = 0, m = 0;
  switch (t->dtype) {
    case LR_DTYPE_F32: r = *(const float *)p; break;
    case LR_DTYPE_F64: r = *(const double *)p; break;
    case LR_DTYPE_C64: r = ((const float *)p)[0]; m = ((const float *)p)[1]; break;
    case LR_DTYPE_C128: r = ((const double *)p)[0]; m = ((const double *)p)[1]; break;
    case LR_DTYPE_I32: r = *(const int32_t *)p; break;
    case LR_DTYPE_I64: r = (double)*(const int64_t *)p; break;
    case LR_DTYPE_BOOL: r = *(const uint8_t *)p; break;
    default: break;
  }
  if (re) *re = r;
  if (im) *im = m;
}

double lr_tensor_get(const lr_tensor *t, int64_t i) {
  double r;
  lr_tensor_get_c(t, i, &r, NULL);
  return r;
}

/* double -> integer, truncating toward zero and saturating: converting an out-of-range value or
 * NaN with a plain cast is undefined behaviour. NaN becomes 0. */
static int64_t to_int(double v, int64_t lo, int64_t hi) {
  if (!(v == v)) return 0;
  if (v <= (double)lo) return lo;
  if (v >= (double)hi) return hi; /* (double)INT64_MAX rounds up to 2^63: still saturates */
  return (int64_t)v;
}

static void set_at(lr_dtype dt, unsigned char *p, double re, double im) {
  switch (dt) {
    case LR_DTYPE_F32: *(float *)p = (float)re; break;
    case LR_DTYPE_F64: *(double *)p = re; break;
    case LR_DTYPE_C64: ((float *)p)[0] = (float)re; ((float *)p)[1] = (float)im; break;
    case LR_DTYPE_C128: ((double *)p)[0] = re; ((double *)p)[1] = im; break;
    case LR_DTYPE_I32: *(int32_t *)p = (int32_t)to_int(re, INT32_MIN, INT32_MAX); break;
    case LR_DTYPE_I64: *(int64_t *)p = to_int(re, INT64_MIN, INT64_MAX); break;
    case LR_DTYPE_BOOL: *(uint8_t *)p = re != 0; break;
    default: break;
  }
}

void lr_tensor_set(lr_tensor *t, int64_t i, double re, double im) {
  if (i < 0 || i >= lr_numel(t)) return;
  size_t es = lr_dtype_size(t->dtype);
  unsigned char *p = (unsigned char *)t->data + logical_offset(t, i) * (int64_t)es;
  if (t->device == LR_DEVICE_CPU) {
    set_at(t->dtype, p, re, im);
    return;
  }
  /* One element through the device hooks: slow, for tests and tools only. */
  const lr_device_hooks *h = lr_get_device_hooks(t->device);
  unsigned char host[16];
  set_at(t->dtype, host, re, im);
  if (h) (void)h->memcpy_h2d(p, host, es);
}

lr_status lr_tensor_fill_(lr_tensor *t, double value) {
  if (!t) return lr_fail(LR_ERR_ARG, "lr_tensor_fill_: NULL tensor");
  if (t->device != LR_DEVICE_CPU) {
    const lr_device_hooks *h = lr_get_device_hooks(t->device);
    if (!h) return lr_fail(LR_ERR_DEVICE, "lr_tensor_fill_: no %s backend", lr_device_name(t->device));
    size_t es = lr_dtype_size(t->dtype);
    int64_t n = lr_numel(t);
    if (n == 0) return LR_OK;
    unsigned char e[16];
    set_at(t->dtype, e, value, 0);
    if (h->fill && lr_is_contiguous(t)) return h->fill(t->data, n, e, es);
    if (h->strided_copy) {
      /* A strided tensor: one element on the device, copied everywhere through zero strides. */
      void *one;
      int64_t zero[LR_MAX_DIMS] = {0};
      LR_TRY(h->alloc(es, &one));
      lr_status s = h->memcpy_h2d(one, e, es);
      if (s == LR_OK) s = h->strided_copy(t->data, t->strides, one, zero, t->ndim, t->shape, es);
      h->free(one);
      return s;
    }
    /* A backend without either hook: fill a host copy and upload. */
    unsigned char *hb = malloc((size_t)n * es);
    if (!hb) return lr_fail(LR_ERR_MEMORY, "lr_tensor_fill_: out of memory");
    for (int64_t i = 0; i < n; i++) memcpy(hb + i * (int64_t)es, e, es);
    lr_status s = lr_tensor_copy_from_host(t, hb, (size_t)n * es);
    free(hb);
    return s;
  }
  int64_t n = lr_numel(t);
  if (lr_is_contiguous(t)) {
    size_t es = lr_dtype_size(t->dtype);
    unsigned char *p = t->data;
    for (int64_t i = 0; i < n; i++) set_at(t->dtype, p + i * (int64_t)es, value, 0);
  } else {
    for (int64_t i = 0; i < n; i++) lr_tensor_set(t, i, value, 0);
  }
  return LR_OK;
}

void lr_tensor_print(const lr_tensor *t, const char *name, FILE *f, int max_elems) {
  if (!f) return;
  if (!t) { fprintf(f, "%s: NULL\n", name ? name : "tensor"); return; }
  char sb[160];
  fprintf(f, "%s: %s %s %s%s\n", name ? name : "tensor", lr_dtype_name(t->dtype), lr_device_name(t->device),
          lr_shape_str(t->ndim, t->shape, sb, sizeof sb), lr_is_contiguous(t) ? "" : " (strided)");
  if (t->device != LR_DEVICE_CPU) return;
  int64_t n = lr_numel(t);
  int64_t m = n < max_elems ? n : max_elems;
  fprintf(f, "  [");
  for (int64_t i = 0; i < m; i++) {
    double re, im;
    lr_tensor_get_c(t, i, &re, &im);
    if (lr_dtype_is_complex(t->dtype)) fprintf(f, "%s%.6g%+.6gi", i ? ", " : "", re, im);
    else fprintf(f, "%s%.6g", i ? ", " : "", re);
  }
  fprintf(f, "%s]\n", m < n ? ", ..." : "");
}

/* ---- raw views ---- */
static lr_status view_args(const char *fn, const lr_tensor *x, lr_tensor **out) {
  if (!x) return lr_fail(LR_ERR_ARG, "%s: x is NULL", fn);
  if (!out) return lr_fail(LR_ERR_ARG, "%s: out is NULL", fn);
  return LR_OK;
}

static lr_status new_view(const char *fn, const lr_tensor *x, lr_tensor **out) {
  lr_tensor *t = lr_tensor_struct_alloc();
  if (!t) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  *t = *x;
  t->flags = LR_TF_ARENA;
  t->base = x->base ? x->base : (lr_tensor *)x;
  t->requires_grad = false;
  t->grad = NULL;
  t->node = NULL;
  t->out_index = 0;
  *out = t;
  return LR_OK;
}

lr_status lr_tensor_view(const lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_view", x, out));
  if (ndim < 0 || ndim > LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: %d dims, expected 0..%d", ndim, LR_MAX_DIMS);
  if (ndim > 0 && !shape) return lr_fail(LR_ERR_ARG, "lr_tensor_view: shape is NULL");
  char a[160], b[160];
  int64_t n = 1;
  int infer = -1;
  int64_t sh[LR_MAX_DIMS];
  for (int i = 0; i < ndim; i++) {
    sh[i] = shape[i];
    if (shape[i] == -1) {
      if (infer >= 0) return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: more than one -1 in the shape");
      infer = i;
    } else if (shape[i] < 0) {
      return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: dim %d has size %lld", i, (long long)shape[i]);
    } else {
      n *= shape[i];
    }
  }
  int64_t numel = lr_numel(x);
  if (infer >= 0) {
    if (n == 0)
      return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: cannot infer the -1 in %s for %s: it could be any size",
                     lr_shape_str(ndim, shape, b, 160), lr_shape_str(x->ndim, x->shape, a, 160));
    if (numel % n)
      return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: cannot view %s as %s", lr_shape_str(x->ndim, x->shape, a, 160),
                     lr_shape_str(ndim, shape, b, 160));
    sh[infer] = numel / n;
  }
  int64_t total = 1;
  for (int i = 0; i < ndim; i++) total *= sh[i];
  if (total != numel)
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: cannot view %s as %s", lr_shape_str(x->ndim, x->shape, a, 160),
                   lr_shape_str(ndim, sh, b, 160));
  /* Strides without a copy (PyTorch's computeStride): walk the old dims from the innermost, split
   * them into chunks that are contiguous within themselves, and let each chunk carry a run of new
   * dims with the same element count. */
  int64_t st[LR_MAX_DIMS];
  if (numel == 0 || x->ndim == 0) {
    lr_contiguous_strides(ndim, sh, st);
  } else {
    int vd = ndim - 1;
    int64_t chunk_base = x->strides[x->ndim - 1], tn = 1, vn = 1;
    for (int td = x->ndim - 1; td >= 0; td--) {
      tn *= x->shape[td];
      if (td == 0 || (x->shape[td - 1] != 1 && x->strides[td - 1] != tn * chunk_base)) {
        while (vd >= 0 && (vn < tn || sh[vd] == 1)) {
          st[vd] = vn * chunk_base;
          vn *= sh[vd];
          vd--;
        }
        if (vn != tn) goto copy_needed;
        if (td > 0) {
          chunk_base = x->strides[td - 1];
          tn = 1;
          vn = 1;
        }
      }
    }
    if (vd != -1) goto copy_needed;
  }
  {
    lr_tensor *t;
    LR_TRY(new_view("lr_tensor_view", x, &t));
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) { t->shape[i] = sh[i]; t->strides[i] = st[i]; }
    *out = t;
    return LR_OK;
  }
copy_needed: {
  char c[160];
  return lr_fail(LR_ERR_SHAPE, "lr_tensor_view: %s with strides %s cannot be viewed as %s without a copy",
                 lr_shape_str(x->ndim, x->shape, a, 160), lr_shape_str(x->ndim, x->strides, c, 160),
                 lr_shape_str(ndim, sh, b, 160));
}
}

lr_status lr_tensor_permute(const lr_tensor *x, const int *perm, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_permute", x, out));
  if (x->ndim > 0 && !perm) return lr_fail(LR_ERR_ARG, "lr_tensor_permute: perm is NULL");
  int seen[LR_MAX_DIMS] = {0};
  for (int i = 0; i < x->ndim; i++) {
    if (perm[i] < 0 || perm[i] >= x->ndim || seen[perm[i]])
      return lr_fail(LR_ERR_ARG, "lr_tensor_permute: perm is not a permutation of %d dims", x->ndim);
    seen[perm[i]] = 1;
  }
  lr_tensor *t;
  LR_TRY(new_view("lr_tensor_permute", x, &t));
  for (int i = 0; i < x->ndim; i++) { t->shape[i] = x->shape[perm[i]]; t->strides[i] = x->strides[perm[i]]; }
  *out = t;
  return LR_OK;
}

lr_status lr_tensor_transpose(const lr_tensor *x, int d0, int d1, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_transpose", x, out));
  int a, b;
  LR_TRY(lr_norm_dim("lr_tensor_transpose", d0, x->ndim, &a));
  LR_TRY(lr_norm_dim("lr_tensor_transpose", d1, x->ndim, &b));
  if (x->ndim == 0) return new_view("lr_tensor_transpose", x, out); /* (0, 0) of a scalar */
  int perm[LR_MAX_DIMS];
  for (int i = 0; i < x->ndim; i++) perm[i] = i;
  perm[a] = b;
  perm[b] = a;
  return lr_tensor_permute(x, perm, out);
}

lr_status lr_tensor_narrow(const lr_tensor *x, int dim, int64_t start, int64_t length, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_narrow", x, out));
  if (x->ndim == 0) return lr_fail(LR_ERR_ARG, "lr_tensor_narrow: cannot narrow a 0-dim tensor");
  int d;
  LR_TRY(lr_norm_dim("lr_tensor_narrow", dim, x->ndim, &d));
  if (start < 0 || length < 0 || start > x->shape[d] || length > x->shape[d] - start) {
    long long end;
    if (__builtin_add_overflow((long long)start, (long long)length, &end)) end = length < 0 ? LLONG_MIN : LLONG_MAX;
    return lr_fail(LR_ERR_ARG, "lr_tensor_narrow: [%lld, %lld) out of range for dim %d of size %lld", (long long)start,
                   end, d, (long long)x->shape[d]);
  }
  lr_tensor *t;
  LR_TRY(new_view("lr_tensor_narrow", x, &t));
  t->shape[d] = length;
  t->data = (unsigned char *)x->data + start * x->strides[d] * (int64_t)lr_dtype_size(x->dtype);
  *out = t;
  return LR_OK;
}

lr_status lr_tensor_expand(const lr_tensor *x, int ndim, const int64_t *shape, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_expand", x, out));
  if (ndim > 0 && !shape) return lr_fail(LR_ERR_ARG, "lr_tensor_expand: shape is NULL");
  char a[160], b[160];
  if (ndim < x->ndim || ndim > LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_expand: cannot expand %s to %s", lr_shape_str(x->ndim, x->shape, a, 160),
                   lr_shape_str(ndim < 0 ? 0 : ndim > LR_MAX_DIMS ? LR_MAX_DIMS : ndim, shape, b, 160));
  int64_t sh[LR_MAX_DIMS], st[LR_MAX_DIMS];
  int off = ndim - x->ndim;
  for (int i = ndim - 1; i >= 0; i--) {
    int j = i - off;
    int64_t xs = j >= 0 ? x->shape[j] : 1;
    /* -1 keeps an existing size; a new leading dim has none to keep (PyTorch rejects it too). */
    bool ok = shape[i] >= 0 || (shape[i] == -1 && j >= 0);
    int64_t want = shape[i] == -1 ? xs : shape[i];
    if (ok && j >= 0 && xs == want) {
      sh[i] = xs;
      st[i] = x->strides[j];
    } else if (ok && xs == 1) {
      sh[i] = want;
      st[i] = 0;
    } else {
      return lr_fail(LR_ERR_SHAPE, "lr_tensor_expand: cannot expand %s to %s", lr_shape_str(x->ndim, x->shape, a, 160),
                     lr_shape_str(ndim, shape, b, 160));
    }
  }
  lr_tensor *t;
  LR_TRY(new_view("lr_tensor_expand", x, &t));
  t->ndim = ndim;
  for (int i = 0; i < ndim; i++) { t->shape[i] = sh[i]; t->strides[i] = st[i]; }
  *out = t;
  return LR_OK;
}

lr_status lr_tensor_unsqueeze(const lr_tensor *x, int dim, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_unsqueeze", x, out));
  if (x->ndim >= LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_unsqueeze: the tensor already has %d dims, the most there can be", x->ndim);
  int d = dim < 0 ? dim + x->ndim + 1 : dim;
  if (d < 0 || d > x->ndim)
    return lr_fail(LR_ERR_ARG, "lr_tensor_unsqueeze: dim %d out of range for a tensor with %d dims", dim, x->ndim);
  lr_tensor *t;
  LR_TRY(new_view("lr_tensor_unsqueeze", x, &t));
  for (int i = x->ndim; i > d; i--) { t->shape[i] = x->shape[i - 1]; t->strides[i] = x->strides[i - 1]; }
  t->shape[d] = 1;
  t->strides[d] = d < x->ndim ? x->strides[d] * x->shape[d] : 1;
  t->ndim = x->ndim + 1;
  *out = t;
  return LR_OK;
}

lr_status lr_tensor_squeeze(const lr_tensor *x, int dim, lr_tensor **out) {
  LR_TRY(view_args("lr_tensor_squeeze", x, out));
  int d;
  LR_TRY(lr_norm_dim("lr_tensor_squeeze", dim, x->ndim, &d));
  if (x->ndim == 0) return new_view("lr_tensor_squeeze", x, out); /* a scalar stays a scalar */
  if (x->shape[d] != 1)
    return lr_fail(LR_ERR_SHAPE, "lr_tensor_squeeze: dim %d has size %lld, expected 1", d, (long long)x->shape[d]);
  lr_tensor *t;
  LR_TRY(new_view("lr_tensor_squeeze", x, &t));
  for (int i = d; i < x->ndim - 1; i++) { t->shape[i] = x->shape[i + 1]; t->strides[i] = x->strides[i + 1]; }
  t->ndim = x->ndim - 1;
  t->shape[t->ndim] = 0; /* keep the unused tail zero, like a fresh tensor */
  t->strides[t->ndim] = 0;
  *out = t;
  return LR_OK;
}

lr_status lr_broadcast_shape(const char *op, int na, const int64_t *sa, int nb, const int64_t *sb, int *nout,
                             int64_t *sout) {
  if (!op) op = "lr_broadcast_shape";
  if (!nout || !sout || (na > 0 && !sa) || (nb > 0 && !sb)) return lr_fail(LR_ERR_ARG, "%s: NULL shape argument", op);
  if (na < 0 || nb < 0 || na > LR_MAX_DIMS || nb > LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "%s: %d and %d dims, expected 0..%d", op, na, nb, LR_MAX_DIMS);
  int n = na > nb ? na : nb;
  int64_t r[LR_MAX_DIMS];
  for (int i = 0; i < n; i++) {
    int ia = na - n + i, ib = nb - n + i;
    int64_t a = ia >= 0 ? sa[ia] : 1, b = ib >= 0 ? sb[ib] : 1;
    if (a != b && a != 1 && b != 1) {
      char x[160], y[160];
      return lr_fail(LR_ERR_SHAPE, "%s: shapes %s and %s do not broadcast", op, lr_shape_str(na, sa, x, 160),
                     lr_shape_str(nb, sb, y, 160));
    }
    r[i] = a == 1 ? b : a;
  }
  *nout = n;
  for (int i = 0; i < n; i++) sout[i] = r[i]; /* sout may alias sa or sb */
  return LR_OK;
}
