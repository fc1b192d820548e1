/* Helpers for the gradcheck case tables; see cases.h. */
#include <stdio.h>

#include "tests/cases.h"

lr_device gc_device = LR_DEVICE_CPU;

lr_tensor *gc_input(lr_tensor *t) {
  if (!t || t->device == gc_device) return t;
  lr_tensor *d;
  if (lr_empty_on(t->dtype, gc_device, t->ndim, t->shape, &d) != LR_OK) return NULL;
  lr_tensor *c;
  if (lr_tensor_contiguous_raw(t, &c) != LR_OK || lr_tensor_copy_(d, c) != LR_OK) return NULL;
  return d;
}

lr_tensor *gc_leaf(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
  lr_tensor *t;
  if (lr_empty_on(dt, gc_device, ndim, shape, &t) != LR_OK) return NULL;
  lr_gc_fill_uniform(t, lo, hi, seed);
  t->requires_grad = lr_dtype_is_float(dt);
  return t;
}

lr_tensor *gc_leaf_strided(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
  if (ndim < 2) return gc_leaf(dt, ndim, shape, lo, hi, seed);
  int64_t st[LR_MAX_DIMS];
  for (int i = 0; i < ndim; i++) st[i] = shape[i];
  st[ndim - 1] = shape[ndim - 2];
  st[ndim - 2] = shape[ndim - 1];
  lr_tensor *base, *v;
  if (lr_empty_on(dt, gc_device, ndim, st, &base) != LR_OK) return NULL;
  if (lr_tensor_transpose(base, -1, -2, &v) != LR_OK) return NULL;
  lr_gc_fill_uniform(v, lo, hi, seed);
  v->base = NULL; /* a leaf of its own for the gradcheck */
  v->requires_grad = lr_dtype_is_float(dt);
  return v;
}

int gc_run_table(const lr_gc_case *table, const char *family) {
  int failed = 0;
  for (const lr_gc_case *c = table; c->name; c++) {
    lr_arena *a = lr_arena_current();
    lr_arena_mark m = lr_arena_get_mark(a);
    lr_gc_result r;
    lr_status s = c->run(&r);
    if (s != LR_OK) {
      fprintf(stderr, "[%s] %s: error %s: %s\n", family, c->name, lr_status_name(s), lr_last_error());
      failed++;
    } else if (!r.passed) {
      fprintf(stderr, "[%s] %s: FAILED: %s\n", family, c->name, r.msg);
      failed++;
    }
    lr_arena_rewind(a, m);
  }
  return failed;
}
