/* Helpers of the parity suites (tests/parity.h). */
#include "tests/parity.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

#include "kernels/cuda/cuda.h"

void pt_on_gpu(void) {
  if (!lr_cuda_available()) cr_skip_test("no usable CUDA device");
}

uint64_t pt_splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double pt_unif(uint64_t *s) { return (double)(pt_splitmix(s) >> 11) * 0x1.0p-53; }

int64_t pt_numel(int nd, const int64_t *sh) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= sh[i];
  return n;
}

double *pt_rand_comp(lr_dtype dt, int64_t n, uint64_t seed, bool integer) {
  int64_t nc = n * pt_ncomp(dt);
  double *p = malloc(sizeof(double) * (size_t)(nc ? nc : 1));
  cr_assert_not_null(p);
  for (int64_t i = 0; i < nc; i++) {
    double u = pt_unif(&seed);
    p[i] = integer ? floor(17.0 * u) - 8.0 : (float)(2.0 * u - 1.0);
  }
  return p;
}

lr_tensor *pt_leaf(lr_device dev, lr_dtype dt, int nd, const int64_t *sh, const double *comp, bool transposed,
                       bool abs_f64) {
  lr_dtype st = abs_f64 ? LR_DTYPE_F64 : dt;
  int nc = pt_ncomp(dt), sc = abs_f64 ? 1 : nc;
  int64_t n = pt_numel(nd, sh), bsh[LR_MAX_DIMS];
  for (int i = 0; i < nd; i++) bsh[i] = sh[i];
  bool tr = transposed && nd >= 2;
  if (tr) {
    bsh[nd - 1] = sh[nd - 2];
    bsh[nd - 2] = sh[nd - 1];
  }
  size_t es = lr_dtype_size(st);
  unsigned char *host = malloc((size_t)(n ? n : 1) * es);
  cr_assert_not_null(host);
  int64_t R = tr ? sh[nd - 2] : 1, C = tr ? sh[nd - 1] : 1;
  for (int64_t i = 0; i < n; i++) {
    int64_t j = i;
    if (tr) {
      int64_t mat = i / (R * C), r = (i / C) % R, c = i % C;
      j = mat * R * C + c * R + r;
    }
    double v[2] = {comp[i * nc], nc == 2 ? comp[i * nc + 1] : 0.0};
    if (abs_f64) v[0] = nc == 2 ? hypot(v[0], v[1]) : fabs(v[0]);
    for (int k = 0; k < sc; k++) {
      if (pt_single(st)) ((float *)host)[j * sc + k] = (float)v[k];
      else ((double *)host)[j * sc + k] = v[k];
    }
  }
  lr_tensor *base, *t;
  cr_assert_eq(lr_empty_on(st, dev, nd, bsh, &base), LR_OK, "%s", lr_last_error());
  if (n > 0) cr_assert_eq(lr_tensor_copy_from_host(base, host, (size_t)n * es), LR_OK, "%s", lr_last_error());
  free(host);
  if (tr) {
    cr_assert_eq(lr_tensor_transpose(base, -1, -2, &t), LR_OK);
    t->base = NULL;
  } else {
    t = base;
  }
  t->requires_grad = lr_dtype_is_float(st);
  return t;
}

double *pt_to_host(const lr_tensor *t) {
  int64_t n = lr_numel(t), nc = n * pt_ncomp(t->dtype);
  size_t bytes = lr_nbytes(t);
  void *raw = malloc(bytes ? bytes : 1);
  double *d = malloc(sizeof(double) * (size_t)(nc ? nc : 1));
  cr_assert(raw && d);
  if (bytes) cr_assert_eq(lr_tensor_copy_to_host(t, raw, bytes), LR_OK, "%s", lr_last_error());
  for (int64_t i = 0; i < nc; i++) {
    if (t->dtype == LR_DTYPE_I64) d[i] = (double)((int64_t *)raw)[i];
    else d[i] = pt_single(t->dtype) ? (double)((float *)raw)[i] : ((double *)raw)[i];
  }
  free(raw);
  return d;
}
