/* CUDA kernels against the CPU kernels, on a GPU: binary elementwise ops and gradient
 * accumulation, at 1 element, odd sizes, sizes that are not multiples of the block size, and about
 * 4M elements; plus determinism (two runs, same bits) and lr_grad_acc's dispatch on CUDA tensors.
 *
 * Tagged "manual" and "cuda": `./bazelw test //...` leaves it out. Build it here, run it there:
 *   ./bazelw build //tests:test_cuda_parity
 *   ../shared/tools/gpu-bundle bazel-bin/tests/test_cuda_parity   (then on the GPU machine)
 *   .gpu/run test_cuda_parity
 *
 * Tolerances:
 *  - real add/sub/mul/div and complex add/sub: bitwise equal (one IEEE operation per component on
 *    both sides; CUDA's float division is correctly rounded by default);
 *  - complex mul/div: |gpu - cpu| <= tol * (1 + |cpu|), tol 1e-5 (c64) / 1e-13 (c128): nvcc fuses
 *    a*b - c*d into an FMA, which changes one rounding of terms of size |a||b| <= 4 here;
 *  - accumulate on small integers: bitwise equal on every path (every partial sum is an exact
 *    integer, so the order of additions cannot matter), which catches any indexing error;
 *  - accumulate on real data (r terms uniform in [-1, 1) per dst element): bitwise on the
 *    one-thread-per-element path (the CPU's order), else |gpu - cpu| <= eps * (2 r + |cpu|). A
 *    sequential sum of r such terms has a rounding error of about eps r / 5 (random-walk partial
 *    sums of size sqrt(k / 3), each addition off by up to eps / 2 of it), the GPU's split sums
 *    less, so this leaves a 10x margin; it checks the numerics, the integer runs check indexing.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/accumulate.h"
#include "kernels/cpu/elementwise.h"
#include "ops/op_util.h"
#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

static void require_gpu(void) {
  if (!lr_cuda_available()) {
    lr_cuda_init();
    cr_assert_fail("test_cuda_parity needs a GPU: %s", lr_last_error());
  }
}

static const lr_dtype k_dtypes[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};
static const char *k_kind[] = {"add", "sub", "mul", "div"};

/* n elements of dt, components uniform in [lo, hi) (rounded to integers if integer). */
static void *rand_host(lr_dtype dt, int64_t n, uint64_t seed, double lo, double hi, bool integer) {
  int64_t nc = n * pt_ncomp(dt);
  void *p = malloc((size_t)(n ? n : 1) * lr_dtype_size(dt));
  cr_assert_not_null(p);
  for (int64_t i = 0; i < nc; i++) {
    double u = (double)(pt_splitmix(&seed) >> 11) * 0x1.0p-53;
    double v = lo + (hi - lo) * u;
    if (integer) v = floor(v);
    if (pt_single(dt)) ((float *)p)[i] = (float)v;
    else ((double *)p)[i] = v;
  }
  return p;
}

static void *to_dev(const void *h, size_t bytes) {
  void *d = NULL;
  cr_assert_eq(lr_cuda_alloc(bytes, &d), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_cuda_memcpy_h2d(d, h, bytes), LR_OK, "%s", lr_last_error());
  return d;
}

static void *from_dev(const void *d, size_t bytes) {
  void *h = malloc(bytes ? bytes : 1);
  cr_assert_eq(lr_cuda_memcpy_d2h(h, d, bytes), LR_OK, "%s", lr_last_error());
  return h;
}

/* Component i of a buffer of dt as double. */
static double comp(lr_dtype dt, const void *p, int64_t i) {
  return pt_single(dt) ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* ---- binary ops ---- */

typedef struct {
  int nd;
  int64_t shape[4];
} shp;

/* Elements a buffer needs for shape s. */
static int64_t numel_of(const shp *s) {
  int64_t n = 1;
  for (int i = 0; i < s->nd; i++) n *= s->shape[i];
  return n;
}

/* Strides of a contiguous tensor of shape s (transposed: its last two dims swapped in memory),
 * aligned to out's nd dims with 0 along broadcast dims. */
static void aligned_strides(const shp *s, bool transposed, int nd, const int64_t *out_shape, int64_t *st) {
  int64_t cs[4];
  lr_contiguous_strides(s->nd, s->shape, cs);
  if (transposed && s->nd >= 2) { /* memory holds the (.., q, p) array; the view is (.., p, q) */
    int a = s->nd - 2, b = s->nd - 1;
    cs[b] = s->shape[a];
    cs[a] = 1;
  }
  int off = nd - s->nd;
  for (int i = 0; i < nd; i++) {
    int j = i - off;
    st[i] = (j < 0 || (s->shape[j] == 1 && out_shape[i] != 1)) ? 0 : cs[j];
  }
}

static void check_binary(lr_binary_kind k, lr_dtype dt, shp sa, bool ta, shp sb, uint64_t seed) {
  int nd;
  int64_t os[LR_MAX_DIMS];
  cr_assert_eq(lr_broadcast_shape("test", sa.nd, sa.shape, sb.nd, sb.shape, &nd, os), LR_OK);
  int64_t n = 1, as[LR_MAX_DIMS], bs[LR_MAX_DIMS];
  for (int i = 0; i < nd; i++) n *= os[i];
  aligned_strides(&sa, ta, nd, os, as);
  aligned_strides(&sb, false, nd, os, bs);
  int64_t na = numel_of(&sa), nb = numel_of(&sb);
  size_t es = lr_dtype_size(dt);
  void *ha = rand_host(dt, na, seed, -1.0, 1.0, false);
  /* divisors away from 0: components in [0.5, 2) */
  void *hb = rand_host(dt, nb, seed + 1, k == LR_BIN_DIV ? 0.5 : -1.0, k == LR_BIN_DIV ? 2.0 : 1.0, false);
  void *ref = malloc((size_t)n * es);
  lr_kcpu_binary(k, dt, ref, ha, as, hb, bs, nd, os);
  void *da = to_dev(ha, (size_t)na * es), *db = to_dev(hb, (size_t)nb * es), *dout;
  cr_assert_eq(lr_cuda_alloc((size_t)n * es, &dout), LR_OK);
  cr_assert_eq(lr_kcuda_binary(k, dt, dout, da, as, db, bs, nd, os, lr_cuda_stream()), LR_OK, "%s", lr_last_error());
  void *got = from_dev(dout, (size_t)n * es);
  char sh[128];
  lr_shape_str(nd, os, sh, sizeof sh);
  if (!lr_dtype_is_complex(dt) || k == LR_BIN_ADD || k == LR_BIN_SUB) {
    if (memcmp(got, ref, (size_t)n * es) != 0) {
      int64_t i = 0;
      while (comp(dt, got, i) == comp(dt, ref, i)) i++;
      cr_assert_fail("%s %s %s: component %lld: gpu %.17g, cpu %.17g", k_kind[k], lr_dtype_name(dt), sh,
                     (long long)i, comp(dt, got, i), comp(dt, ref, i));
    }
  } else {
    double tol = pt_single(dt) ? 1e-5 : 1e-13;
    for (int64_t i = 0; i < n * 2; i++) {
      double g = comp(dt, got, i), r = comp(dt, ref, i);
      if (!(fabs(g - r) <= tol * (1 + fabs(r))))
        cr_assert_fail("%s %s %s: component %lld: gpu %.17g, cpu %.17g", k_kind[k], lr_dtype_name(dt), sh,
                       (long long)i, g, r);
    }
  }
  lr_cuda_free(da);
  lr_cuda_free(db);
  lr_cuda_free(dout);
  free(ha);
  free(hb);
  free(ref);
  free(got);
}

#define S(...) ((shp){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}})

Test(cuda_parity, binary_small_and_odd) {
  require_gpu();
  for (int d = 0; d < 4; d++)
    for (int k = 0; k < 4; k++) {
      uint64_t seed = 100 * d + k;
      check_binary(k, k_dtypes[d], S(1), false, S(1), seed);                    /* one element */
      check_binary(k, k_dtypes[d], (shp){0, {0}}, false, S(3), seed);           /* scalar with a vector */
      check_binary(k, k_dtypes[d], S(777), false, S(777), seed);                /* odd */
      check_binary(k, k_dtypes[d], S(257, 3), false, S(3), seed);               /* row broadcast */
      check_binary(k, k_dtypes[d], S(257, 1), false, S(1, 259), seed);          /* outer product */
      check_binary(k, k_dtypes[d], S(5, 1, 7), false, S(1, 6, 1), seed);        /* both broadcast */
      check_binary(k, k_dtypes[d], S(2, 3, 1, 5), false, S(3, 4, 1), seed);     /* 4 dims */
      check_binary(k, k_dtypes[d], S(33, 65), true, S(33, 65), seed);           /* strided a */
      check_binary(k, k_dtypes[d], S(33, 65), true, S(65), seed);               /* strided + broadcast */
    }
}

Test(cuda_parity, binary_large) {
  require_gpu();
  for (int d = 0; d < 4; d++)
    for (int k = 0; k < 4; k++) {
      uint64_t seed = 1000 + 100 * d + k;
      check_binary(k, k_dtypes[d], S((1 << 22) + 1), false, S((1 << 22) + 1), seed); /* ~4M, flat */
      check_binary(k, k_dtypes[d], S(2049, 2047), false, S(2049, 1), seed);        /* column broadcast */
      check_binary(k, k_dtypes[d], S(1025, 2047), true, S(2047), seed);             /* strided, 2.1M */
    }
}

/* ---- accumulate ---- */

/* dst (shape dsh, broadcastable to ssh) += src (shape ssh), on both devices; integer data must
 * agree bitwise, real data within the tolerance above (bitwise when `exact`). */
static void check_acc(lr_dtype dt, shp ssh, shp dsh, bool integer, uint64_t seed) {
  int nd = ssh.nd;
  int64_t dstr[LR_MAX_DIMS];
  aligned_strides(&dsh, false, nd, ssh.shape, dstr);
  int64_t n = numel_of(&ssh), m = numel_of(&dsh), r = n / (m ? m : 1);
  size_t es = lr_dtype_size(dt);
  double lo = integer ? -8 : -1, hi = integer ? 9 : 1;
  void *hs = rand_host(dt, n, seed, lo, hi, integer), *hd = rand_host(dt, m, seed + 7, lo, hi, integer);
  void *ds = to_dev(hs, (size_t)n * es), *dd = to_dev(hd, (size_t)m * es);
  lr_kcpu_acc_broadcast(dt, hd, dstr, hs, nd, ssh.shape);
  cr_assert_eq(lr_kcuda_acc_broadcast(dt, dd, dstr, ds, nd, ssh.shape, NULL), LR_OK, "%s", lr_last_error());
  void *got = from_dev(dd, (size_t)m * es);
  char sa[128], sb[128];
  lr_shape_str(ssh.nd, ssh.shape, sa, sizeof sa);
  lr_shape_str(dsh.nd, dsh.shape, sb, sizeof sb);
  /* Which kernel ran is decided by (m, r) only: the one-thread-per-element path below these
   * thresholds matches the CPU's order (see kernels/cuda/accumulate.cu). */
  bool exact = integer || m >= 65536 || r <= 64;
  double eps = pt_single(dt) ? 0x1.0p-23 : 0x1.0p-52;
  for (int64_t i = 0; i < m * pt_ncomp(dt); i++) {
    double g = comp(dt, got, i), c = comp(dt, hd, i);
    if (exact) {
      if (g != c)
        cr_assert_fail("acc %s %s -> %s: component %lld: gpu %.17g, cpu %.17g (must be bitwise equal)",
                       lr_dtype_name(dt), sa, sb, (long long)i, g, c);
    } else {
      double tol = eps * (2.0 * (double)r + fabs(c));
      if (!(fabs(g - c) <= tol))
        cr_assert_fail("acc %s %s -> %s: component %lld: gpu %.17g, cpu %.17g, tol %.3g", lr_dtype_name(dt), sa, sb,
                       (long long)i, g, c, tol);
    }
  }
  lr_cuda_free(ds);
  lr_cuda_free(dd);
  free(hs);
  free(hd);
  free(got);
}

/* (src, dst) pairs covering the three kernels: thread (m >= 65536 or r <= 64), column (innermost
 * dim kept), row (innermost dim reduced); with one and two runs of reduced dims. */
static void acc_cases(bool integer, bool large) {
  for (int d = 0; d < 4; d++) {
    lr_dtype dt = k_dtypes[d];
    uint64_t s = 5000 + 10 * d + integer;
    if (!large) {
      check_acc(dt, S(1), S(1), integer, s);                          /* one element */
      check_acc(dt, S(777), S(777), integer, s);                      /* no reduction */
      check_acc(dt, S(5, 6, 7), S(5, 1, 7), integer, s);              /* thread, short middle */
      check_acc(dt, S(5, 6, 7), S(1, 6, 1), integer, s);              /* thread, two reduced runs */
      check_acc(dt, S(1001), S(1), integer, s);                       /* row, to a scalar-like dst */
      check_acc(dt, S(1001), (shp){0, {0}}, integer, s);              /* row, 0-dim dst */
      check_acc(dt, S(257, 3), S(3), integer, s);                     /* column, bias-like */
      check_acc(dt, S(50, 6, 70), S(1, 6, 1), integer, s);            /* row, two reduced runs */
      check_acc(dt, S(20, 6, 30, 7), S(6, 1, 7), integer, s);         /* column, two runs each */
      check_acc(dt, S(3, 129, 65), S(3, 129, 1), integer, s);         /* row, r = 65 just past thread */
    } else {
      check_acc(dt, S(2048, 2048), S(2048), integer, s);              /* column, 4M */
      check_acc(dt, S(2048, 2048), S(2048, 1), integer, s);           /* row, 4M */
      check_acc(dt, S((1 << 22) + 1), S(1), integer, s);              /* row, one block, 4M */
      check_acc(dt, S(1 << 17, 33), S(1 << 17, 1), integer, s);       /* thread, many rows */
      check_acc(dt, S(8, 1 << 17), S(1 << 17), integer, s);           /* thread, many columns */
      check_acc(dt, S((1 << 22) + 3), S((1 << 22) + 3), integer, s);  /* no reduction, 4M */
    }
  }
}

Test(cuda_parity, acc_small_integer) { require_gpu(); acc_cases(true, false); }
Test(cuda_parity, acc_small_real) { require_gpu(); acc_cases(false, false); }
Test(cuda_parity, acc_large_integer) { require_gpu(); acc_cases(true, true); }
Test(cuda_parity, acc_large_real) { require_gpu(); acc_cases(false, true); }

/* ---- determinism: the same inputs twice give the same bits ---- */

static void acc_twice(lr_dtype dt, shp ssh, shp dsh) {
  int64_t dstr[LR_MAX_DIMS];
  aligned_strides(&dsh, false, ssh.nd, ssh.shape, dstr);
  int64_t n = numel_of(&ssh), m = numel_of(&dsh);
  size_t es = lr_dtype_size(dt);
  void *hs = rand_host(dt, n, 77, -1, 1, false), *hd = rand_host(dt, m, 78, -1, 1, false);
  void *ds = to_dev(hs, (size_t)n * es), *d1 = to_dev(hd, (size_t)m * es), *d2 = to_dev(hd, (size_t)m * es);
  cr_assert_eq(lr_kcuda_acc_broadcast(dt, d1, dstr, ds, ssh.nd, ssh.shape, NULL), LR_OK);
  cr_assert_eq(lr_kcuda_acc_broadcast(dt, d2, dstr, ds, ssh.nd, ssh.shape, NULL), LR_OK);
  void *g1 = from_dev(d1, (size_t)m * es), *g2 = from_dev(d2, (size_t)m * es);
  char sa[128];
  cr_assert_eq(memcmp(g1, g2, (size_t)m * es), 0, "acc %s %s: two runs differ", lr_dtype_name(dt),
               lr_shape_str(ssh.nd, ssh.shape, sa, sizeof sa));
  lr_cuda_free(ds);
  lr_cuda_free(d1);
  lr_cuda_free(d2);
  free(hs);
  free(hd);
  free(g1);
  free(g2);
}

Test(cuda_parity, deterministic) {
  require_gpu();
  for (int d = 0; d < 4; d++) {
    acc_twice(k_dtypes[d], S(2048, 2048), S(2048));
    acc_twice(k_dtypes[d], S(2048, 2048), S(2048, 1));
    acc_twice(k_dtypes[d], S((1 << 22) + 1), S(1));
    acc_twice(k_dtypes[d], S(20, 6, 30, 7), S(6, 1, 7));
  }
  /* binary ops have no reductions; one large complex division twice */
  int64_t n = (1 << 22) + 1, st[1] = {1};
  size_t bytes = (size_t)n * sizeof(lr_c64);
  void *ha = rand_host(LR_DTYPE_C64, n, 1, -1, 1, false), *hb = rand_host(LR_DTYPE_C64, n, 2, 0.5, 2, false);
  void *da = to_dev(ha, bytes), *db = to_dev(hb, bytes), *o1, *o2;
  cr_assert_eq(lr_cuda_alloc(bytes, &o1), LR_OK);
  cr_assert_eq(lr_cuda_alloc(bytes, &o2), LR_OK);
  cr_assert_eq(lr_kcuda_binary(LR_BIN_DIV, LR_DTYPE_C64, o1, da, st, db, st, 1, &n, NULL), LR_OK);
  cr_assert_eq(lr_kcuda_binary(LR_BIN_DIV, LR_DTYPE_C64, o2, da, st, db, st, 1, &n, NULL), LR_OK);
  void *g1 = from_dev(o1, bytes), *g2 = from_dev(o2, bytes);
  cr_assert_eq(memcmp(g1, g2, bytes), 0);
  free(ha);
  free(hb);
  free(g1);
  free(g2);
}

/* ---- lr_grad_acc on CUDA tensors: the op layer's dispatch ---- */
Test(cuda_parity, grad_acc_dispatch) {
  require_gpu();
  const lr_dtype dts[] = {LR_DTYPE_F64, LR_DTYPE_C64};
  for (int d = 0; d < 2; d++) {
    lr_dtype dt = dts[d];
    size_t es = lr_dtype_size(dt);
    lr_tensor *tc, *tg, *gc, *gg;
    cr_assert_eq(lr_tensor_new(dt, LR_DEVICE_CPU, LR_SHAPE(1, 3), &tc), LR_OK);
    cr_assert_eq(lr_tensor_new(dt, LR_DEVICE_CUDA, LR_SHAPE(1, 3), &tg), LR_OK);
    cr_assert_eq(lr_requires_grad_(tc, true), LR_OK);
    cr_assert_eq(lr_requires_grad_(tg, true), LR_OK);
    void *hg = rand_host(dt, 4 * 257 * 3, 9, -8, 9, true);
    cr_assert_eq(lr_empty_on(dt, LR_DEVICE_CPU, LR_SHAPE(4, 257, 3), &gc), LR_OK);
    cr_assert_eq(lr_empty_on(dt, LR_DEVICE_CUDA, LR_SHAPE(4, 257, 3), &gg), LR_OK);
    cr_assert_eq(lr_tensor_copy_from_host(gc, hg, 4 * 257 * 3 * es), LR_OK);
    cr_assert_eq(lr_tensor_copy_from_host(gg, hg, 4 * 257 * 3 * es), LR_OK);
    for (int rep = 0; rep < 2; rep++) { /* the second call accumulates onto the first */
      cr_assert_eq(lr_grad_acc(tc, gc), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_grad_acc(tg, gg), LR_OK, "%s", lr_last_error());
    }
    cr_assert_not_null(tg->grad);
    cr_assert_eq(tg->grad->device, LR_DEVICE_CUDA);
    unsigned char want[3 * 16], got[3 * 16];
    cr_assert_eq(lr_tensor_copy_to_host(tc->grad, want, 3 * es), LR_OK);
    cr_assert_eq(lr_tensor_copy_to_host(tg->grad, got, 3 * es), LR_OK);
    cr_assert_eq(memcmp(want, got, 3 * es), 0, "%s: grad differs", lr_dtype_name(dt));
    /* mixed devices are refused */
    cr_assert_eq(lr_grad_acc(tg, gc), LR_ERR_DEVICE);
    cr_assert(strstr(lr_last_error(), "lr_grad_acc") && strstr(lr_last_error(), "cuda"), "%s", lr_last_error());
    lr_tensor_free(tc);
    lr_tensor_free(tg);
    free(hg);
  }
}

#else
Test(cuda_parity, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
