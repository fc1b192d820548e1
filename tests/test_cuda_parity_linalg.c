/* lr_matmul and lr_linear on CUDA against the CPU, forward and backward, on a GPU.
 *
 * Each case makes the same random operands on both devices (optionally as transposed views, so
 * the GPU reads them through cuBLAS's transpose flags, or packs them for the complex backward),
 * runs the op, then lr_backward with the same random output gradient W (the gradient of
 * sum(Re(conj(W) y))), and compares outputs and input gradients. Shapes: one element, odd sizes,
 * 1-D operands, broadcast batch dims on either side (the gradient sums over them: folded into
 * one GEMM, or products in scratch summed in a fixed order), K = 0, and 1024^3 / 2048-row linear.
 *
 * Tolerance, with the reason. Each element of a product is a sum of K terms; any summation order
 * in IEEE arithmetic is off by at most about K eps sum_k |a_ik| |b_kj|, and in practice (random
 * signs, blocked sums, FMAs) by a few eps of it. The bound B = |A| |B| (and its backward, the same
 * GEMMs on the absolute values) is computed on the CPU in f64 by running the identical op on |A|,
 * |B|, |W|; every element must satisfy |gpu - cpu| <= 32 eps B (eps of the dtype; 64 eps for
 * complex, whose products round twice). An indexing or transpose error is off by O(B), and TF32
 * (10-bit mantissa inputs) by about 2^-11 B, so both fail while FP32 rounding passes.
 * Determinism: the same product twice gives the same bits. TF32: lr_cuda_set_tf32(true) changes
 * the F32 result of a 1024^3 product (tensor cores ran) but stays within 2^-8 B of the CPU
 * (inputs rounded to 11 significant bits: each product off by at most about 2^-10 of |a||b|).
 *
 * Tagged "manual" and "cuda": build here, run on the GPU machine (see test_cuda_parity.c).
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

static const lr_dtype k_dtypes[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};

static double eps_of(lr_dtype dt) { return pt_single(dt) ? 0x1.0p-24 : 0x1.0p-53; }

/* |gpu - cpu| <= tol * bound elementwise (both components for complex). */
static void check_close(const char *what, const lr_tensor *gpu, const lr_tensor *cpu, const lr_tensor *bound,
                        double tol) {
  if (!gpu && !cpu) return; /* no gradient reached either (an input with 0 features) */
  cr_assert_not_null(gpu, "%s: no GPU result", what);
  cr_assert_not_null(cpu, "%s: no CPU result", what);
  cr_assert_eq(gpu->device, LR_DEVICE_CUDA, "%s", what);
  cr_assert(lr_same_shape(gpu, cpu), "%s: shapes differ", what);
  double *g = pt_to_host(gpu), *c = pt_to_host(cpu), *b = pt_to_host(bound);
  int nc = pt_ncomp(gpu->dtype);
  int64_t n = lr_numel(gpu);
  for (int64_t i = 0; i < n; i++)
    for (int k = 0; k < nc; k++) {
      double d = fabs(g[i * nc + k] - c[i * nc + k]), lim = tol * b[i];
      if (!(d <= lim))
        cr_assert_fail("%s %s: element %lld comp %d: gpu %.17g, cpu %.17g, |diff| %.3g > %.3g (bound %.3g)", what,
                       lr_dtype_name(gpu->dtype), (long long)i, k, g[i * nc + k], c[i * nc + k], d, lim, b[i]);
    }
  free(g);
  free(c);
  free(b);
}

static double tol_of(lr_dtype dt) { return (lr_dtype_is_complex(dt) ? 64 : 32) * eps_of(dt); }

/* The operands of one case on the three "devices": CPU, GPU, and |.| in f64 on the CPU. */
typedef struct {
  lr_tensor *c, *g, *a;
} trio;

static trio make_trio(lr_dtype dt, int nd, const int64_t *sh, uint64_t seed, bool transposed) {
  double *comp = pt_rand_comp(dt, pt_numel(nd, sh), seed, false);
  trio t = {pt_leaf(LR_DEVICE_CPU, dt, nd, sh, comp, transposed, false),
            pt_leaf(LR_DEVICE_CUDA, dt, nd, sh, comp, transposed, false),
            pt_leaf(LR_DEVICE_CPU, dt, nd, sh, comp, false, true)};
  free(comp);
  return t;
}

/* Backward from y with the output gradient w on each device. */
static void backward3(lr_tensor *yc, lr_tensor *yg, lr_tensor *ya, lr_dtype dt, uint64_t seed) {
  trio w = make_trio(dt, yc->ndim, yc->shape, seed, false);
  cr_assert_eq(lr_backward(yc, w.c), LR_OK, "cpu backward: %s", lr_last_error());
  cr_assert_eq(lr_backward(yg, w.g), LR_OK, "gpu backward: %s", lr_last_error());
  cr_assert_eq(lr_backward(ya, w.a), LR_OK, "bound backward: %s", lr_last_error());
  cr_assert_eq(lr_cuda_synchronize(), LR_OK, "%s", lr_last_error());
}

typedef struct {
  int nd;
  int64_t s[LR_MAX_DIMS];
} shp;
#define S(...) ((shp){(int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), {__VA_ARGS__}})

static void check_matmul(lr_dtype dt, shp sa, bool ta, shp sb, bool tb, uint64_t seed) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  char what[256], s1[96], s2[96];
  snprintf(what, sizeof what, "matmul %s%s @ %s%s", lr_shape_str(sa.nd, sa.s, s1, 96), ta ? "^T-view" : "",
           lr_shape_str(sb.nd, sb.s, s2, 96), tb ? "^T-view" : "");
  trio a = make_trio(dt, sa.nd, sa.s, seed, ta), b = make_trio(dt, sb.nd, sb.s, seed + 1, tb);
  lr_tensor *yc, *yg, *ya;
  cr_assert_eq(lr_matmul(a.c, b.c, &yc), LR_OK, "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(lr_matmul(a.g, b.g, &yg), LR_OK, "%s gpu: %s", what, lr_last_error());
  cr_assert_eq(lr_matmul(a.a, b.a, &ya), LR_OK, "%s bound: %s", what, lr_last_error());
  double tol = tol_of(dt);
  check_close(what, yg, yc, ya, tol);
  backward3(yc, yg, ya, dt, seed + 2);
  char w2[300];
  snprintf(w2, sizeof w2, "%s: grad a", what);
  check_close(w2, a.g->grad, a.c->grad, a.a->grad, tol);
  snprintf(w2, sizeof w2, "%s: grad b", what);
  check_close(w2, b.g->grad, b.c->grad, b.a->grad, tol);
  lr_arena_rewind(ar, m);
}

static void check_linear(lr_dtype dt, shp sx, bool tx, int64_t O, bool tw, bool bias, uint64_t seed) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  char what[256], s1[96];
  int64_t I = sx.s[sx.nd - 1];
  snprintf(what, sizeof what, "linear x %s%s, W (%lld, %lld)%s%s", lr_shape_str(sx.nd, sx.s, s1, 96),
           tx ? "^T-view" : "", (long long)O, (long long)I, tw ? "^T-view" : "", bias ? " + b" : "");
  trio x = make_trio(dt, sx.nd, sx.s, seed, tx), w = make_trio(dt, 2, (int64_t[]){O, I}, seed + 1, tw);
  trio b = {NULL, NULL, NULL};
  if (bias) b = make_trio(dt, 1, (int64_t[]){O}, seed + 2, false);
  lr_tensor *yc, *yg, *ya;
  cr_assert_eq(lr_linear(x.c, w.c, b.c, &yc), LR_OK, "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(lr_linear(x.g, w.g, b.g, &yg), LR_OK, "%s gpu: %s", what, lr_last_error());
  cr_assert_eq(lr_linear(x.a, w.a, b.a, &ya), LR_OK, "%s bound: %s", what, lr_last_error());
  double tol = tol_of(dt);
  check_close(what, yg, yc, ya, tol);
  backward3(yc, yg, ya, dt, seed + 3);
  char w2[300];
  snprintf(w2, sizeof w2, "%s: grad x", what);
  check_close(w2, x.g->grad, x.c->grad, x.a->grad, tol);
  snprintf(w2, sizeof w2, "%s: grad W", what);
  check_close(w2, w.g->grad, w.c->grad, w.a->grad, tol);
  if (bias) {
    snprintf(w2, sizeof w2, "%s: grad b", what);
    check_close(w2, b.g->grad, b.c->grad, b.a->grad, tol);
  }
  lr_arena_rewind(ar, m);
}

Test(cuda_parity_linalg, matmul_small_odd, .init = pt_on_gpu) {
  for (int d = 0; d < 4; d++) {
    lr_dtype dt = k_dtypes[d];
    uint64_t s = 100 * (uint64_t)d;
    check_matmul(dt, S(1, 1), false, S(1, 1), false, s + 1);            /* one element */
    check_matmul(dt, S(37, 53), false, S(53, 29), false, s + 2);        /* odd */
    check_matmul(dt, S(37, 53), true, S(53, 29), true, s + 3);          /* transposed views */
    check_matmul(dt, S(37, 53), false, S(53, 29), true, s + 4);
    check_matmul(dt, S(1000), false, S(1000), false, s + 5);            /* 1-D @ 1-D */
    check_matmul(dt, S(33), false, S(4, 33, 7), true, s + 6);           /* 1-D @ batch */
    check_matmul(dt, S(4, 7, 33), true, S(33), false, s + 7);           /* batch @ 1-D */
    check_matmul(dt, S(1, 65), false, S(65, 1), false, s + 8);          /* M = N = 1 */
    check_matmul(dt, S(3, 0), false, S(0, 4), false, s + 9);            /* K = 0: zeros */
  }
}

Test(cuda_parity_linalg, matmul_batch_broadcast, .init = pt_on_gpu) {
  for (int d = 0; d < 4; d++) {
    lr_dtype dt = k_dtypes[d];
    uint64_t s = 1000 + 100 * (uint64_t)d;
    check_matmul(dt, S(3, 1, 17, 33), false, S(4, 33, 9), false, s + 1);   /* both broadcast, sums in scratch */
    check_matmul(dt, S(3, 1, 17, 33), true, S(4, 33, 9), true, s + 2);     /* the same on transposed views */
    check_matmul(dt, S(5, 31, 64), false, S(64, 48), false, s + 3);        /* fold into M; dB folds into K */
    check_matmul(dt, S(31, 64), false, S(5, 64, 48), false, s + 4);        /* dA sums over B's batch */
    check_matmul(dt, S(2, 3, 1, 9, 20), false, S(1, 3, 4, 20, 11), true, s + 5); /* 3 batch dims */
    check_matmul(dt, S(6, 1, 40), false, S(1, 40, 1), false, s + 6);       /* size-1 M and N */
  }
}

Test(cuda_parity_linalg, matmul_large, .init = pt_on_gpu) {
  check_matmul(LR_DTYPE_F32, S(1024, 1024), false, S(1024, 1024), false, 2001); /* 1M elements each */
  check_matmul(LR_DTYPE_F32, S(1023, 1025), true, S(1025, 1021), false, 2002);
  check_matmul(LR_DTYPE_F64, S(8, 257, 129), false, S(129, 255), false, 2003);
  check_matmul(LR_DTYPE_C64, S(4, 300, 200), true, S(4, 200, 100), false, 2004);
  check_matmul(LR_DTYPE_C128, S(300, 200), false, S(3, 200, 100), true, 2005);
}

Test(cuda_parity_linalg, linear, .init = pt_on_gpu) {
  for (int d = 0; d < 4; d++) {
    lr_dtype dt = k_dtypes[d];
    uint64_t s = 3000 + 100 * (uint64_t)d;
    check_linear(dt, S(1), false, 1, false, true, s + 1);         /* one element */
    check_linear(dt, S(4, 7, 33), false, 19, false, true, s + 2); /* batch, bias */
    check_linear(dt, S(45, 33), true, 19, true, false, s + 3);    /* transposed views, no bias */
    check_linear(dt, S(33), false, 5, false, true, s + 4);        /* 1-D x */
    check_linear(dt, S(3, 0), false, 5, false, true, s + 5);      /* in = 0: y = b */
  }
  check_linear(LR_DTYPE_F32, S(4, 512, 1024), false, 768, false, true, 3901); /* 2M-element x */
  check_linear(LR_DTYPE_C64, S(2048, 256), false, 384, false, true, 3902);
}

/* Output and gradients of a broadcast batched product twice: the same bits. */
Test(cuda_parity_linalg, deterministic, .init = pt_on_gpu) {
  for (int d = 0; d < 4; d++) {
    lr_dtype dt = k_dtypes[d];
    double *res[2][3];
    for (int rep = 0; rep < 2; rep++) {
      lr_arena *ar = lr_arena_current();
      lr_arena_mark m = lr_arena_get_mark(ar);
      trio a = make_trio(dt, 4, (int64_t[]){6, 1, 65, 130}, 77, true), b = make_trio(dt, 3, (int64_t[]){5, 130, 67}, 78, false);
      lr_tensor *y;
      cr_assert_eq(lr_matmul(a.g, b.g, &y), LR_OK, "%s", lr_last_error());
      trio w = make_trio(dt, y->ndim, y->shape, 79, false);
      cr_assert_eq(lr_backward(y, w.g), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_matmul(a.g, b.g, &y), LR_OK, "%s", lr_last_error());
      res[rep][0] = pt_to_host(y);
      res[rep][1] = pt_to_host(a.g->grad);
      res[rep][2] = pt_to_host(b.g->grad);
      int64_t n[3] = {lr_numel(y) * pt_ncomp(dt), lr_numel(a.g) * pt_ncomp(dt), lr_numel(b.g) * pt_ncomp(dt)};
      if (rep == 1)
        for (int k = 0; k < 3; k++)
          cr_assert_eq(memcmp(res[0][k], res[1][k], sizeof(double) * (size_t)n[k]), 0, "%s: result %d differs run to run",
                       lr_dtype_name(dt), k);
      lr_arena_rewind(ar, m);
    }
    for (int rep = 0; rep < 2; rep++)
      for (int k = 0; k < 3; k++) free(res[rep][k]);
  }
}

/* TF32 is off by default (the 1024^3 case above passes FP32 tolerances); switched on, the F32
 * product changes (tensor cores) but stays within TF32's precision, 2^-8 of the bound. */
Test(cuda_parity_linalg, tf32_switch, .init = pt_on_gpu) {
  cr_assert(!lr_cuda_tf32(), "TF32 must be off by default");
  trio a = make_trio(LR_DTYPE_F32, 2, (int64_t[]){1024, 1024}, 91, false);
  trio b = make_trio(LR_DTYPE_F32, 2, (int64_t[]){1024, 1024}, 92, false);
  lr_tensor *yc, *y32, *ytf, *ya;
  cr_assert_eq(lr_matmul(a.c, b.c, &yc), LR_OK);
  cr_assert_eq(lr_matmul(a.a, b.a, &ya), LR_OK);
  cr_assert_eq(lr_matmul(a.g, b.g, &y32), LR_OK, "%s", lr_last_error());
  lr_cuda_set_tf32(true);
  lr_status st = lr_matmul(a.g, b.g, &ytf);
  lr_cuda_set_tf32(false);
  cr_assert_eq(st, LR_OK, "%s", lr_last_error());
  check_close("matmul f32 1024^3 TF32 off", y32, yc, ya, tol_of(LR_DTYPE_F32));
  check_close("matmul f32 1024^3 TF32 on", ytf, yc, ya, 0x1.0p-8);
  double *p = pt_to_host(y32), *q = pt_to_host(ytf);
  int64_t ndiff = 0;
  for (int64_t i = 0; i < 1024 * 1024; i++) ndiff += p[i] != q[i];
  free(p);
  free(q);
  cr_assert_gt(ndiff, 0, "TF32 on gave the FP32 result bit for bit: the switch had no effect");
}

/* Wrong devices are refused with a message naming both. */
Test(cuda_parity_linalg, mixed_devices, .init = pt_on_gpu) {
  trio a = make_trio(LR_DTYPE_F32, 2, (int64_t[]){2, 3}, 1, false), b = make_trio(LR_DTYPE_F32, 2, (int64_t[]){3, 4}, 2, false);
  lr_tensor *y;
  cr_assert_eq(lr_matmul(a.g, b.c, &y), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_matmul") && strstr(lr_last_error(), "cuda") && strstr(lr_last_error(), "cpu"),
            "%s", lr_last_error());
  cr_assert_eq(lr_linear(a.c, b.g, NULL, &y), LR_ERR_DEVICE);
  cr_assert(strstr(lr_last_error(), "lr_linear"), "%s", lr_last_error());
}

#else
Test(cuda_parity_linalg, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
