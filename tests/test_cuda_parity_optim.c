/* The optimizers on CUDA parameters against the CPU (optim/, kernels/cuda/optim.cu): Adam (L2
 * weight decay), AdamW (decoupled), SGD (momentum with dampening and weight decay, Nesterov,
 * plain), several steps with fresh gradients, on F32, F64 and C64 parameters of 1, 777 and
 * 4M + 1 elements in one group; gradient-norm clipping (clipping and not, CUDA-only and mixed
 * CPU + CUDA parameter lists) and its determinism.
 *
 * GPU machine only (tags manual, cuda); skipped without a usable device.
 *
 * Tolerances:
 *  - updates (parameters and the m, v / momentum state): bitwise equal. optim.cu evaluates the
 *    CPU's per-element expressions with the same scalars rounded to T, compiled with -fmad=false,
 *    and CUDA's sqrt and division are correctly rounded, as SSE's on the CPU.
 *  - clip_grad_norm's total: |gpu - cpu| <= 1e-12 total. Both sum squares in double, in different
 *    orders (OpenMP on the CPU, two fixed passes on the GPU); for n <= 4.2M non-negative terms the
 *    relative rounding error of either is below about n * 2^-53 < 5e-10 in the worst case and near
 *    sqrt(n) * 2^-53 ~ 2e-13 in practice; the total is the square root (halves it). 1e-12 is the
 *    practical bound with a margin of 5.
 *  - clipped grads: they are grad * coef with coef = max_norm / (total + 1e-6) from the two
 *    totals above, so they differ by the relative difference of the totals (< 1e-12) before
 *    rounding: bitwise or one ulp apart; the check allows 2 ulps relative (F32 2.4e-7, F64 4.5e-16)
 *    plus the totals' difference.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "optim/optim.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

/* A persistent parameter on dev with values uniform in [-1, 1) from seed (same on both devices). */
static lr_tensor *param(lr_dtype dt, lr_device dev, int64_t n, uint64_t seed) {
  lr_tensor *c, *p;
  cr_assert_eq(lr_tensor_new(dt, LR_DEVICE_CPU, 1, &n, &c), LR_OK);
  lr_rng r;
  lr_rng_init(&r, seed);
  cr_assert_eq(lr_rand_uniform_(c, -1, 1, &r), LR_OK);
  if (dev == LR_DEVICE_CPU) {
    p = c;
  } else {
    cr_assert_eq(lr_tensor_new(dt, dev, 1, &n, &p), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_tensor_copy_(p, c), LR_OK, "%s", lr_last_error());
    lr_tensor_free(c);
  }
  cr_assert_eq(lr_requires_grad_(p, true), LR_OK);
  return p;
}

/* p's grad = uniform [lo, hi) values from seed (the same on both devices). */
static void set_grad(lr_tensor *p, double lo, double hi, uint64_t seed) {
  lr_tensor *g, *c;
  cr_assert_eq(lr_grad_buffer(p, &g), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_empty_on(p->dtype, LR_DEVICE_CPU, p->ndim, p->shape, &c), LR_OK);
  lr_rng r;
  lr_rng_init(&r, seed);
  cr_assert_eq(lr_rand_uniform_(c, lo, hi, &r), LR_OK);
  cr_assert_eq(lr_tensor_copy_(g, c), LR_OK, "%s", lr_last_error());
}

static void *host_of(const lr_tensor *t) {
  size_t b = lr_nbytes(t);
  void *h = malloc(b ? b : 1);
  cr_assert_eq(lr_tensor_copy_to_host(t, h, b), LR_OK, "%s", lr_last_error());
  return h;
}

static void bitwise(const char *what, const lr_tensor *c, const lr_tensor *g) {
  cr_assert_not_null(c, "%s: cpu tensor missing", what);
  cr_assert_not_null(g, "%s: gpu tensor missing", what);
  cr_assert_eq(g->device, LR_DEVICE_CUDA, "%s: not on the GPU", what);
  void *hc = host_of(c), *hg = host_of(g);
  size_t b = lr_nbytes(c), es = lr_dtype_size(lr_dtype_real(c->dtype));
  if (memcmp(hc, hg, b) != 0) {
    size_t i = 0;
    while (memcmp((char *)hc + i * es, (char *)hg + i * es, es) == 0) i++;
    double vc = es == 4 ? ((float *)hc)[i] : ((double *)hc)[i], vg = es == 4 ? ((float *)hg)[i] : ((double *)hg)[i];
    cr_assert_fail("%s (%s): real %zu: gpu %.17g, cpu %.17g (must be bitwise equal)", what, lr_dtype_name(c->dtype), i,
                   vg, vc);
  }
  free(hc);
  free(hg);
}

#define NP 7
static const lr_dtype k_pdt[NP] = {LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F32, LR_DTYPE_F64,
                                   LR_DTYPE_F64, LR_DTYPE_F64, LR_DTYPE_C64};
static const int64_t k_pn[NP] = {1, 777, (1 << 22) + 1, 1, 777, (1 << 22) + 1, 301};

/* The same optimizer on CPU and CUDA copies of the parameters, `steps` steps with fresh grads
 * (large enough to make weight decay and momentum matter), comparing everything after each. */
static void run_optim(const char *name, lr_optim_config cfg, double wd, int steps) {
  lr_tensor *pc[NP], *pg[NP];
  for (int i = 0; i < NP; i++) {
    pc[i] = param(k_pdt[i], LR_DEVICE_CPU, k_pn[i], 10 + i);
    pg[i] = param(k_pdt[i], LR_DEVICE_CUDA, k_pn[i], 10 + i);
  }
  lr_optim *oc, *og;
  cr_assert_eq(lr_optim_new(&cfg, &oc), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_optim_new(&cfg, &og), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_optim_add_group(oc, NP, pc, cfg.lr, wd), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_optim_add_group(og, NP, pg, cfg.lr, wd), LR_OK, "%s", lr_last_error());
  for (int s = 0; s < steps; s++) {
    lr_arena_mark m = lr_arena_get_mark(lr_arena_current());
    for (int i = 0; i < NP; i++) {
      set_grad(pc[i], -2, 2, 100 * s + i);
      set_grad(pg[i], -2, 2, 100 * s + i);
    }
    if (s == 1) { /* a schedule changes the lr */
      lr_optim_set_lr_factor(oc, 0.5);
      lr_optim_set_lr_factor(og, 0.5);
    }
    cr_assert_eq(lr_optim_step(oc), LR_OK, "%s cpu: %s", name, lr_last_error());
    cr_assert_eq(lr_optim_step(og), LR_OK, "%s gpu: %s", name, lr_last_error());
    for (int i = 0; i < NP; i++) {
      char w[160];
      snprintf(w, sizeof w, "%s step %d param %d (%lld)", name, s, i, (long long)k_pn[i]);
      bitwise(w, pc[i], pg[i]);
      lr_optim_state *sc = &oc->st[i], *sg = &og->st[i];
      cr_assert_eq(sc->step, sg->step);
      if (sc->m) {
        cr_assert_eq(sg->m->device, LR_DEVICE_CUDA, "%s: state not on the GPU", w);
        bitwise(w, sc->m, sg->m);
      }
      if (sc->v) bitwise(w, sc->v, sg->v);
      cr_assert_eq(!sc->m, !sg->m);
      cr_assert_eq(!sc->v, !sg->v);
    }
    lr_arena_rewind(lr_arena_current(), m);
  }
  lr_optim_free(oc);
  lr_optim_free(og);
  for (int i = 0; i < NP; i++) {
    lr_tensor_free(pc[i]);
    lr_tensor_free(pg[i]);
  }
}

Test(cuda_optim, adam, .init = pt_on_gpu) { run_optim("adam", lr_adam_config(1e-2), 0.01, 3); }
Test(cuda_optim, adam_no_decay, .init = pt_on_gpu) { run_optim("adam wd 0", lr_adam_config(3e-3), 0.0, 3); }
Test(cuda_optim, adamw, .init = pt_on_gpu) { run_optim("adamw", lr_adamw_config(1e-2, 0.1), 0.1, 3); }

Test(cuda_optim, sgd, .init = pt_on_gpu) {
  lr_optim_config c = lr_sgd_config(0.1, 0.9);
  c.dampening = 0.1;
  run_optim("sgd momentum dampening", c, 0.01, 3);
  lr_optim_config n = lr_sgd_config(0.05, 0.8);
  n.nesterov = true;
  run_optim("sgd nesterov", n, 0.001, 3);
  run_optim("sgd plain", lr_sgd_config(0.1, 0.0), 0.0, 2);
}

/* ---- clipping ---- */

static void grads_close(const char *what, const lr_tensor *c, const lr_tensor *g, double rel_total) {
  lr_dtype rt = lr_dtype_real(c->dtype);
  void *hc = host_of(c), *hg = host_of(g);
  int64_t n = lr_numel(c) * (lr_dtype_is_complex(c->dtype) ? 2 : 1);
  double ulp = rt == LR_DTYPE_F32 ? 0x1p-23 : 0x1p-52;
  for (int64_t i = 0; i < n; i++) {
    double a = rt == LR_DTYPE_F32 ? ((float *)hc)[i] : ((double *)hc)[i];
    double b = rt == LR_DTYPE_F32 ? ((float *)hg)[i] : ((double *)hg)[i];
    double tol = fabs(a) * (2 * ulp + rel_total);
    if (!(fabs(a - b) <= tol))
      cr_assert_fail("%s: real %lld: gpu %.17g, cpu %.17g, tol %.3g", what, (long long)i, b, a, tol);
  }
  free(hc);
  free(hg);
}

/* gpu_mask bit i: parameter i lives on the GPU in the second list (the first is all CPU). */
static void clip_case(double max_norm, unsigned gpu_mask) {
  lr_tensor *pc[NP], *pm[NP];
  for (int i = 0; i < NP; i++) {
    pc[i] = param(k_pdt[i], LR_DEVICE_CPU, k_pn[i], 50 + i);
    pm[i] = param(k_pdt[i], (gpu_mask >> i) & 1 ? LR_DEVICE_CUDA : LR_DEVICE_CPU, k_pn[i], 50 + i);
    if (i == 3) continue; /* one parameter without a grad: skipped */
    set_grad(pc[i], -1, 1, 60 + i);
    set_grad(pm[i], -1, 1, 60 + i);
  }
  double tc, tm;
  cr_assert_eq(lr_clip_grad_norm(NP, pc, max_norm, &tc), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_clip_grad_norm(NP, pm, max_norm, &tm), LR_OK, "%s", lr_last_error());
  double rel = fabs(tm - tc) / tc;
  cr_assert(rel <= 1e-12, "max_norm %g mask %x: total gpu %.17g, cpu %.17g", max_norm, gpu_mask, tm, tc);
  for (int i = 0; i < NP; i++) {
    if (i == 3) {
      cr_assert_null(pm[i]->grad);
      continue;
    }
    char w[120];
    snprintf(w, sizeof w, "clip %g mask %x param %d", max_norm, gpu_mask, i);
    grads_close(w, pc[i]->grad, pm[i]->grad, rel);
    lr_tensor_free(pc[i]);
    lr_tensor_free(pm[i]);
  }
  lr_tensor_free(pc[3]);
  lr_tensor_free(pm[3]);
}

Test(cuda_optim, clip_grad_norm, .init = pt_on_gpu) {
  clip_case(1.0, 0x7f);   /* every param on the GPU, clipped (the total is about 1700) */
  clip_case(1e6, 0x7f);   /* not clipped: grads unchanged */
  clip_case(5.0, 0x55);   /* mixed CPU and GPU parameters in one call */
}

Test(cuda_optim, clip_deterministic, .init = pt_on_gpu) {
  lr_tensor *p = param(LR_DTYPE_F32, LR_DEVICE_CUDA, (1 << 22) + 1, 1);
  double t[2];
  for (int rep = 0; rep < 2; rep++) {
    set_grad(p, -1, 1, 2);
    cr_assert_eq(lr_clip_grad_norm(1, &p, 1e9, &t[rep]), LR_OK, "%s", lr_last_error());
  }
  cr_assert(memcmp(&t[0], &t[1], sizeof(double)) == 0, "two totals differ: %.17g, %.17g", t[0], t[1]);
  lr_tensor_free(p);
}

#else
Test(cuda_optim, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
