/* The LTI models S4 (DPLR, nn/s4.c) and Centaurus (nn/centaurus.c): names, shapes and inits as
 * lrnnx's; lrnnx's C -> C̃ transform (first forward, l_max, doubling) and the l_kernel buffer;
 * step == forward for every S4 step mode (dense, linear, diagonal) and every Centaurus mode;
 * lengths; model-level f64 gradchecks at tiny sizes; error paths; the registry entries and
 * checkpoint round trips, with strict loads failing on a missing or an extra tensor. */
#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "autograd/gradcheck.h"
#include "nn/centaurus.h"
#include "nn/checkpoint.h"
#include "nn/registry.h"
#include "nn/s4.h"
#include "ops/elementwise.h"
#include "ops/view.h"
#include "tensor/arena.h"
#include "tensor/safetensors.h"

/* ---- helpers (as tests/test_models_lti.c) ---- */

static double max_abs(const lr_tensor *t) {
  double m = 0;
  for (int64_t i = 0; i < lr_numel(t); i++) m = fmax(m, fabs(lr_tensor_get(t, i)));
  return m;
}

/* max |a - b| over every element, both parts of complex ones */
static double max_diff(const lr_tensor *a, const lr_tensor *b) {
  cr_assert_eq(lr_numel(a), lr_numel(b));
  double m = 0;
  for (int64_t i = 0; i < lr_numel(a); i++) {
    double ar, ai, br, bi;
    lr_tensor_get_c(a, i, &ar, &ai);
    lr_tensor_get_c(b, i, &br, &bi);
    m = fmax(m, fmax(fabs(ar - br), fabs(ai - bi)));
  }
  return m;
}

static lr_tensor *rand_x(lr_dtype dt, int64_t B, int64_t L, int64_t H, uint64_t seed) {
  lr_tensor *x;
  cr_assert_eq(lr_empty(dt, LR_SHAPE(B, L, H), &x), LR_OK);
  lr_gc_fill_uniform(x, -1, 1, seed);
  return x;
}

typedef struct {
  lr_module *m;
  lr_status (*forward)(lr_module *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y);
  lr_status (*alloc)(lr_module *m, int64_t batch, int mode, void **cache);
  lr_status (*step)(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor **y_t);
  lr_status (*reset)(void *cache);
  void (*free_cache)(void *cache);
  int64_t H;
  int mode; /* S4's step mode */
} model_ops;

static lr_tensor *step_input(lr_tensor *x, int64_t t) {
  int64_t B = x->shape[0], H = x->shape[2];
  lr_tensor *xt, *xtc;
  cr_assert_eq(lr_tensor_narrow(x, 1, t, 1, &xt), LR_OK);
  cr_assert_eq(lr_tensor_contiguous_raw(xt, &xtc), LR_OK);
  cr_assert_eq(lr_tensor_view(xtc, LR_SHAPE(B, H), &xtc), LR_OK);
  return xtc;
}

/* y of the step mode (B, L, H) through one cache. */
static lr_tensor *run_steps_with(const model_ops *o, void *cache, lr_tensor *x) {
  int64_t B = x->shape[0], L = x->shape[1], H = o->H;
  lr_tensor *y;
  cr_assert_eq(lr_empty(x->dtype, LR_SHAPE(B, L, H), &y), LR_OK);
  for (int64_t t = 0; t < L; t++) {
    lr_tensor *yt;
    cr_assert_eq(o->step(o->m, cache, step_input(x, t), &yt), LR_OK, "%s", lr_last_error());
    cr_assert(yt->ndim == 2 && yt->shape[0] == B && yt->shape[1] == H);
    for (int64_t b = 0; b < B; b++)
      for (int64_t h = 0; h < H; h++) lr_tensor_set(y, (b * L + t) * H + h, lr_tensor_get(yt, b * H + h), 0);
  }
  return y;
}

static lr_tensor *run_steps(const model_ops *o, lr_tensor *x) {
  void *cache;
  cr_assert_eq(o->alloc(o->m, x->shape[0], o->mode, &cache), LR_OK, "%s", lr_last_error());
  lr_tensor *y = run_steps_with(o, cache, x);
  o->free_cache(cache);
  return y;
}

/* step == forward relative to max|y|; then a reset cache repeats its first outputs. */
static void check_step_equals_forward(const model_ops *o, lr_tensor *x, double rtol, const char *what) {
  lr_tensor *y;
  cr_assert_eq(o->forward(o->m, x, NULL, &y), LR_OK, "%s", lr_last_error());
  lr_tensor *ys = run_steps(o, x);
  double d = max_diff(y, ys), r = max_abs(y);
  cr_expect(d <= rtol * r, "%s: step vs forward: max diff %g, max|y| %g, rtol %g", what, d, r, rtol);
  cr_expect_gt(r, 0.0, "%s: y is all zero", what);
  void *cache;
  cr_assert_eq(o->alloc(o->m, x->shape[0], o->mode, &cache), LR_OK);
  lr_tensor *x0 = step_input(x, 0), *ya, *yb, *yc;
  cr_assert_eq(o->step(o->m, cache, x0, &ya), LR_OK);
  cr_assert_eq(o->step(o->m, cache, x0, &yb), LR_OK);
  cr_assert_eq(o->reset(cache), LR_OK);
  cr_assert_eq(o->step(o->m, cache, x0, &yc), LR_OK);
  cr_expect_eq(max_diff(ya, yc), 0.0, "%s: after reset the first step repeats", what);
  cr_expect_gt(max_diff(ya, yb), 0.0, "%s: the state carries over between steps", what);
  o->free_cache(cache);
}

/* lengths: y = 0 past each length, equal to the full forward before it; no gradient past it. */
static void check_lengths(const model_ops *o, lr_dtype dt, int64_t L, double rtol) {
  int64_t B = 3, H = o->H;
  lr_tensor *x = rand_x(dt, B, L, H, 77);
  cr_assert_eq(lr_requires_grad_(x, true), LR_OK);
  const int64_t lens[3] = {L, 0, L / 2 + 1};
  lr_tensor *len, *y, *yfull;
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(B), lens, &len), LR_OK);
  cr_assert_eq(o->forward(o->m, x, len, &y), LR_OK, "%s", lr_last_error());
  cr_assert_eq(o->forward(o->m, x, NULL, &yfull), LR_OK);
  double r = max_abs(yfull);
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = 0; t < L; t++)
      for (int64_t h = 0; h < H; h++) {
        int64_t i = (b * L + t) * H + h;
        if (t >= lens[b]) cr_assert_eq(lr_tensor_get(y, i), 0.0, "y[%lld, %lld] past length", (long long)b, (long long)t);
        else
          cr_assert(fabs(lr_tensor_get(y, i) - lr_tensor_get(yfull, i)) <= rtol * r, "y[%lld, %lld] inside length",
                    (long long)b, (long long)t);
      }
  lr_tensor *g;
  cr_assert_eq(lr_ones(dt, 3, y->shape, &g), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK, "%s", lr_last_error());
  for (int64_t b = 0; b < B; b++)
    for (int64_t t = lens[b]; t < L; t++)
      for (int64_t h = 0; h < H; h++) cr_assert_eq(lr_tensor_get(x->grad, (b * L + t) * H + h), 0.0, "grad x past length");
  lr_tensor *bad;
  const int64_t too_long[3] = {L + 1, 0, 0};
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(B), too_long, &bad), LR_OK);
  cr_expect_eq(o->forward(o->m, x, bad, &y), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "lengths[0]"), "%s", lr_last_error());
}

typedef struct {
  const model_ops *o;
} gc_ctx;

static lr_status gc_forward(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const model_ops *o = ((gc_ctx *)ctx)->o;
  return o->forward(o->m, in[0], NULL, out);
}

/* gradcheck of sum(w * forward(x)) w.r.t. x and every parameter (each must get a gradient). */
static void check_gradcheck(const char *name, const model_ops *o, lr_tensor *x, double atol, double rtol) {
  lr_param_list l;
  cr_assert_eq(lr_module_list(o->m, LR_VISIT_PARAMS, &l), LR_OK);
  cr_assert_lt(l.n, 16);
  lr_tensor *in[16];
  in[0] = x;
  cr_assert_eq(lr_requires_grad_(x, true), LR_OK);
  for (int i = 0; i < l.n; i++) in[i + 1] = l.items[i].param->t;
  gc_ctx c = {o};
  lr_gc_opts opts = {.eps = 1e-6, .atol = atol, .rtol = rtol, .seed = 5};
  lr_gc_result res;
  cr_assert_eq(lr_gradcheck(name, gc_forward, &c, l.n + 1, in, &opts, &res), LR_OK, "%s", lr_last_error());
  cr_expect(res.passed, "%s: %s", name, res.msg);
  cr_expect_gt(res.n_checked, 0);
  /* every parameter takes part: a backward pass gives each a nonzero gradient */
  lr_tensor *y, *g;
  cr_assert_eq(lr_module_zero_grad(o->m), LR_OK);
  cr_assert_eq(o->forward(o->m, x, NULL, &y), LR_OK);
  cr_assert_eq(lr_ones(y->dtype, y->ndim, y->shape, &g), LR_OK);
  cr_assert_eq(lr_backward(y, g), LR_OK);
  for (int i = 0; i < l.n; i++)
    cr_expect(l.items[i].param->t->grad && max_abs(l.items[i].param->t->grad) > 0, "%s: %s has no gradient", name,
              l.items[i].name);
  lr_param_list_free(&l);
}

/* ---- S4 ---- */

static lr_status s4_fwd(lr_module *m, lr_tensor *x, lr_tensor *len, lr_tensor **y) {
  return lr_s4_forward((lr_s4 *)m, x, len, y);
}
static lr_status s4_alloc(lr_module *m, int64_t b, int mode, void **c) {
  return lr_s4_allocate_cache((lr_s4 *)m, b, (lr_s4_step_mode)mode, (lr_s4_cache **)c);
}
static lr_status s4_stp(lr_module *m, void *c, lr_tensor *x, lr_tensor **y) {
  return lr_s4_step((lr_s4 *)m, (lr_s4_cache *)c, x, y);
}
static lr_status s4_reset(void *c) { return lr_s4_cache_reset((lr_s4_cache *)c); }
static void s4_free(void *c) { lr_s4_cache_free((lr_s4_cache *)c); }

static lr_s4_config s4_cfg(int64_t H, int64_t N, int64_t ch, lr_dtype dt) {
  lr_s4_config c = lr_s4_config_default(H);
  c.d_state = N;
  c.channels = ch;
  c.transposed = false;
  c.dtype = dt;
  return c;
}

static lr_s4 *make_s4(lr_s4_config c, uint64_t seed, model_ops *o) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_s4 *m;
  cr_assert_eq(lr_s4_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  *o = (model_ops){&m->base, s4_fwd, s4_alloc, s4_stp, s4_reset, s4_free, c.d_model, LR_S4_STEP_DENSE};
  return m;
}

Test(models_s4, s4_names_shapes_hints) {
  model_ops o;
  lr_s4 *m = make_s4(s4_cfg(6, 8, 2, LR_DTYPE_F32), 1, &o);
  const char *names[] = {"inv_dt", "C", "B", "A_real", "A_imag", "P", "D", "layer.kernel.A_real", "layer.kernel.A_imag",
                         "layer.kernel.B", "layer.kernel.C", "layer.kernel.P", "layer.kernel.inv_dt",
                         "layer.kernel.l_kernel", "output_linear.0.weight", "output_linear.0.bias"};
  lr_tensor *same[] = {m->A_real, m->A_imag, m->B, m->C, m->P, m->inv_dt};
  lr_param_list l;
  cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL | LR_VISIT_TIED, &l), LR_OK);
  cr_assert_eq(l.n, 16);
  for (int i = 0; i < 16; i++) cr_expect_str_eq(l.items[i].name, names[i]);
  for (int i = 0; i < 6; i++) {
    cr_expect_eq(l.items[7 + i].param->t, same[i], "%s is an alias", names[7 + i]);
    cr_expect(l.items[i].param->flags & LR_PARAM_WD && l.items[i].param->weight_decay == 0.0, "%s: wd 0 hint", names[i]);
  }
  cr_expect(!(l.items[6].param->flags & LR_PARAM_WD), "D has no hint");
  lr_tensor *lk = l.items[13].param->t;
  cr_expect(lk->dtype == LR_DTYPE_I64 && lk->ndim == 0 && (l.items[13].param->flags & LR_PARAM_BUFFER));
  lr_param_list_free(&l);
  cr_expect_eq(lr_module_num_param_tensors(&m->base), 9, "aliases and the buffer are not parameters");
  cr_expect(m->inv_dt->shape[0] == 6 && m->inv_dt->shape[1] == 1);
  cr_expect(m->C->ndim == 4 && m->C->shape[0] == 2 && m->C->shape[1] == 6 && m->C->shape[2] == 4 && m->C->shape[3] == 2);
  cr_expect(m->B->ndim == 4 && m->B->shape[0] == 1 && m->B->shape[1] == 6 && m->B->shape[2] == 4);
  cr_expect(m->P->ndim == 4 && m->P->shape[0] == 1 && m->P->shape[1] == 6 && m->P->shape[2] == 4);
  cr_expect(m->D->shape[0] == 2 && m->D->shape[1] == 6);
  cr_expect(m->output_linear->weight->shape[0] == 6 && m->output_linear->weight->shape[1] == 12);
  cr_expect_eq(lr_s4_l_kernel(m), 0);
  cr_expect_str_eq(m->base.type, "S4");
  lr_module_free(&m->base);
  /* rank 2, n_ssm 3, dt_tie false, final_act None */
  lr_s4_config c = s4_cfg(6, 8, 1, LR_DTYPE_F32);
  c.rank = 2;
  c.n_ssm = 3;
  c.dt_tie = false;
  c.final_act = false;
  m = make_s4(c, 2, &o);
  cr_expect(m->P->shape[0] == 2 && m->P->shape[1] == 3 && m->A_real->shape[0] == 3 && m->inv_dt->shape[1] == 4);
  cr_expect_null(m->output_linear);
  lr_module_free(&m->base);
}

Test(models_s4, s4_legs_init) {
  /* HiPPO-LegS NPLR: Re A = -1/2 (A_real = log 1/2), Im A > 0 ascending per row and equal across
   * rows; P = B/√2 wherever Im B was not clipped (P_n = b_n/√2 before V^H); rank 2 pads P with 0;
   * inv_dt within [log dt_min, log dt_max]. */
  model_ops o;
  lr_s4_config c = s4_cfg(3, 16, 1, LR_DTYPE_F64);
  c.rank = 2;
  lr_s4 *m = make_s4(c, 3, &o);
  int64_t N2 = 8;
  for (int64_t h = 0; h < 3; h++)
    for (int64_t n = 0; n < N2; n++) {
      cr_expect(fabs(lr_tensor_get(m->A_real, h * N2 + n) - log(0.5)) < 1e-12);
      double im = lr_tensor_get(m->A_imag, h * N2 + n);
      cr_expect(im > 0 && fabs(im - lr_tensor_get(m->A_imag, n)) < 1e-12);
      if (n) cr_expect(im < lr_tensor_get(m->A_imag, h * N2 + n - 1), "-Im A ascending: Im A descending");
      double br = lr_tensor_get(m->B, 2 * (h * N2 + n)), bi = lr_tensor_get(m->B, 2 * (h * N2 + n) + 1);
      double pr = lr_tensor_get(m->P, 2 * (h * N2 + n)), pi = lr_tensor_get(m->P, 2 * (h * N2 + n) + 1);
      if (fabs(bi) < 2 - 1e-9) cr_expect(fabs(pr - br / sqrt(2)) < 1e-9 && fabs(pi - bi / sqrt(2)) < 1e-9, "P = B/√2");
      cr_expect_eq(lr_tensor_get(m->P, 2 * ((3 + h) * N2 + n)), 0.0, "P's second rank row is 0");
      cr_expect(fabs(bi) <= 2 + 1e-12, "Im B clipped");
    }
  for (int64_t h = 0; h < 3; h++) {
    double v = lr_tensor_get(m->inv_dt, h);
    cr_expect(v >= log(0.001) && v <= log(0.1));
  }
  lr_module_free(&m->base);
  /* diag-lin: Im A = π n, B = 1, P = 0 */
  c = s4_cfg(2, 8, 1, LR_DTYPE_F64);
  c.init = "diag-lin";
  m = make_s4(c, 4, &o);
  for (int64_t n = 0; n < 4; n++) {
    cr_expect(fabs(lr_tensor_get(m->A_imag, n) - fmax(M_PI * n, 1e-4)) < 1e-12);
    cr_expect_eq(lr_tensor_get(m->B, 2 * n), 1.0);
    cr_expect_eq(lr_tensor_get(m->P, 2 * n), 0.0);
  }
  lr_module_free(&m->base);
}

Test(models_s4, s4_step_equals_forward_all_modes) {
  /* f64: the Cauchy/Woodbury kernel at the roots of unity and the bilinear recurrence agree to
   * ~1e-12 relative (the dense dC solve and the eigenbasis add conditioning); 1e-8 leaves room.
   * f32: 2e-3 (dC = (I - dA^L)^{-T} C̃ amplifies single-precision rounding by ~1/(1 - |λ^L|)). */
  const lr_s4_step_mode modes[] = {LR_S4_STEP_DENSE, LR_S4_STEP_LINEAR, LR_S4_STEP_DIAGONAL};
  const char *mname[] = {"dense", "linear", "diagonal"};
  for (int k = 0; k < 3; k++) {
    model_ops o;
    lr_s4 *m = make_s4(s4_cfg(3, 8, 1, LR_DTYPE_F64), 10 + k, &o);
    o.mode = modes[k];
    check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 2, 37, 3, 9), 1e-8, mname[k]);
    cr_expect_eq(lr_s4_l_kernel(m), 37);
    lr_module_free(&m->base);
    /* channels 2, rank 2, n_ssm 1, untied dt, dplr init with a random P, transposed input */
    lr_s4_config c = s4_cfg(4, 6, 2, LR_DTYPE_F64);
    c.rank = 2;
    c.n_ssm = 1;
    c.dt_tie = false;
    c.init = "dplr-lin";
    m = make_s4(c, 20 + k, &o);
    o.mode = modes[k];
    check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 2, 16, 4, 10), 1e-8, mname[k]);
    lr_module_free(&m->base);
    /* f32 */
    m = make_s4(s4_cfg(4, 8, 1, LR_DTYPE_F32), 30 + k, &o);
    o.mode = modes[k];
    check_step_equals_forward(&o, rand_x(LR_DTYPE_F32, 2, 24, 4, 11), 2e-3, mname[k]);
    lr_module_free(&m->base);
  }
}

Test(models_s4, s4_other_inits_step_equals_forward) {
  const char *inits[] = {"legt", "fourier", "hippo", "diag", "all", "diag-inv", "dplr", "diag-real"};
  for (int i = 0; i < 8; i++) {
    model_ops o;
    lr_s4_config c = s4_cfg(4, 8, 1, LR_DTYPE_F64);
    c.init = inits[i];
    c.rank = 2;
    lr_s4 *m = make_s4(c, 40 + i, &o);
    check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 1, 20, 4, 12), 1e-7, inits[i]);
    lr_module_free(&m->base);
  }
}

Test(models_s4, s4_C_tilde_and_l_kernel) {
  model_ops o;
  lr_s4 *m = make_s4(s4_cfg(2, 4, 1, LR_DTYPE_F64), 5, &o);
  lr_tensor *C0;
  cr_assert_eq(lr_tensor_clone_persistent(m->C, &C0), LR_OK);
  /* a cache allocated before any kernel (l_max None) uses C itself */
  void *cache;
  cr_assert_eq(o.alloc(o.m, 1, LR_S4_STEP_DENSE, &cache), LR_OK);
  cr_expect_eq(lr_s4_l_kernel(m), 0);
  lr_tensor *x = rand_x(LR_DTYPE_F64, 1, 8, 2, 3), *y8, *y20;
  lr_tensor *ys = run_steps_with(&o, cache, x);
  o.free_cache(cache);
  cr_assert_eq(lr_s4_forward(m, x, NULL, &y8), LR_OK, "%s", lr_last_error());
  cr_expect_eq(lr_s4_l_kernel(m), 8, "the first forward sets l_kernel to L");
  cr_expect_gt(max_diff(m->C, C0), 1e-6, "C was replaced by C̃");
  cr_expect_lt(max_diff(y8, ys), 1e-9 * max_abs(y8), "a cache from the plain C steps like the C̃ forward");
  lr_tensor *C1;
  cr_assert_eq(lr_tensor_clone_persistent(m->C, &C1), LR_OK);
  cr_assert_eq(lr_s4_forward(m, x, NULL, &y8), LR_OK);
  cr_expect_eq(max_diff(m->C, C1), 0.0, "the same length changes nothing");
  /* a longer input doubles l_kernel (8 -> 16 -> 32) and the first 8 outputs are unchanged */
  lr_tensor *x20 = rand_x(LR_DTYPE_F64, 1, 20, 2, 3);
  cr_assert_eq(lr_s4_forward(m, x20, NULL, &y20), LR_OK);
  cr_expect_eq(lr_s4_l_kernel(m), 32);
  for (int64_t i = 0; i < 16; i++) cr_expect(fabs(lr_tensor_get(y20, i) - lr_tensor_get(y8, i)) < 1e-9);
  /* the doubled C̃ still describes the same system: step == forward */
  o.mode = LR_S4_STEP_DENSE;
  check_step_equals_forward(&o, x20, 1e-8, "after doubling");
  lr_tensor_free(C0);
  lr_tensor_free(C1);
  lr_module_free(&m->base);
  /* l_max: the first kernel is built for l_max (also by the step setup), shorter inputs use it */
  lr_s4_config c = s4_cfg(2, 4, 1, LR_DTYPE_F64);
  c.l_max = 50;
  m = make_s4(c, 6, &o);
  cr_assert_eq(o.alloc(o.m, 1, LR_S4_STEP_LINEAR, &cache), LR_OK);
  cr_expect_eq(lr_s4_l_kernel(m), 50, "_setup_step transforms C for l_max");
  o.free_cache(cache);
  check_step_equals_forward(&o, rand_x(LR_DTYPE_F64, 2, 13, 2, 4), 1e-8, "l_max 50, L 13");
  cr_expect_eq(lr_s4_l_kernel(m), 50);
  lr_tensor *K;
  cr_assert_eq(lr_s4_compute_kernel(m, 80, &K), LR_OK);
  cr_expect(K->ndim == 3 && K->shape[0] == 1 && K->shape[1] == 2 && K->shape[2] == 50, "the kernel stops at l_max");
  lr_module_free(&m->base);
}

Test(models_s4, s4_transposed) {
  model_ops o;
  lr_s4_config c = s4_cfg(3, 4, 1, LR_DTYPE_F64);
  c.transposed = true;
  lr_s4 *m = make_s4(c, 7, &o);
  lr_tensor *x = rand_x(LR_DTYPE_F64, 2, 9, 3, 5), *xt, *y, *yt, *ytt;
  cr_assert_eq(lr_transpose(x, 1, 2, &xt), LR_OK); /* (B, H, L) */
  cr_assert_eq(lr_s4_forward(m, xt, NULL, &yt), LR_OK, "%s", lr_last_error());
  cr_expect(yt->shape[1] == 3 && yt->shape[2] == 9);
  m->cfg.transposed = false;
  cr_assert_eq(lr_s4_forward(m, x, NULL, &y), LR_OK);
  cr_assert_eq(lr_transpose(yt, 1, 2, &ytt), LR_OK);
  cr_expect_lt(max_diff(y, ytt), 1e-14);
  lr_module_free(&m->base);
}

Test(models_s4, s4_lengths) {
  model_ops o;
  lr_s4 *m = make_s4(s4_cfg(3, 4, 1, LR_DTYPE_F64), 8, &o);
  check_lengths(&o, LR_DTYPE_F64, 11, 1e-12);
  lr_module_free(&m->base);
}

Test(models_s4, s4_gradcheck) {
  /* f64 at B 2, L 5, H 2, N 4 (rank 1 and rank 2 with 2 channels); the first forward runs before
   * the check so that C is already C̃ (lrnnx's in-place transform is not differentiable). */
  for (int k = 0; k < 2; k++) {
    model_ops o;
    lr_s4_config c = s4_cfg(2, 4, k ? 2 : 1, LR_DTYPE_F64);
    c.rank = k ? 2 : 1;
    c.dt_tie = k == 0;
    if (k) c.init = "dplr-legs";
    lr_s4 *m = make_s4(c, 9 + k, &o);
    lr_tensor *x = rand_x(LR_DTYPE_F64, 2, 5, 2, 11), *y;
    cr_assert_eq(lr_s4_forward(m, x, NULL, &y), LR_OK);
    check_gradcheck(k ? "S4 rank 2" : "S4", &o, x, 1e-6, 1e-5);
    lr_module_free(&m->base);
  }
}

Test(models_s4, s4_errors) {
  lr_rng rng;
  lr_rng_init(&rng, 1);
  lr_s4 *m = NULL;
  struct {
    int64_t H, N, rank, n_ssm;
    const char *init;
    lr_dtype dt;
    lr_status want;
    const char *msg;
  } bad[] = {
      {0, 4, 1, 0, "legs", LR_DTYPE_F32, LR_ERR_ARG, "d_model 0"},
      {2, 5, 1, 0, "legs", LR_DTYPE_F32, LR_ERR_ARG, "d_state 5"},
      {2, 4, 0, 0, "legs", LR_DTYPE_F32, LR_ERR_ARG, "rank 0"},
      {4, 4, 1, 3, "legs", LR_DTYPE_F32, LR_ERR_ARG, "n_ssm 3 must divide d_model 4"},
      {2, 4, 1, 0, "legt", LR_DTYPE_F32, LR_ERR_ARG, "legt needs rank >= 2"},
      {2, 4, 1, 0, "diag-foo", LR_DTYPE_F32, LR_ERR_UNSUPPORTED, "diag-foo"},
      {3, 4, 1, 0, "hippo", LR_DTYPE_F32, LR_ERR_ARG, "multiple of 2 inits"},
      {2, 4, 1, 0, "legs", LR_DTYPE_C64, LR_ERR_DTYPE, "dtype c64"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lr_s4_config c = s4_cfg(bad[i].H, bad[i].N, 1, bad[i].dt);
    c.rank = bad[i].rank;
    c.n_ssm = bad[i].n_ssm;
    c.init = bad[i].init;
    cr_expect_eq(lr_s4_new(NULL, NULL, &c, &rng, &m), bad[i].want, "case %zu: %s", i, lr_last_error());
    cr_expect(strstr(lr_last_error(), "lr_s4_new") && strstr(lr_last_error(), bad[i].msg), "case %zu: %s", i,
              lr_last_error());
  }
  cr_expect_null(m);
  lr_s4_config c = s4_cfg(2, 4, 1, LR_DTYPE_F32);
  c.gate = 2;
  cr_expect_eq(lr_s4_new(NULL, NULL, &c, &rng, &m), LR_ERR_UNSUPPORTED);
  cr_expect(strstr(lr_last_error(), "gate"), "%s", lr_last_error());
  model_ops o;
  m = make_s4(s4_cfg(4, 4, 1, LR_DTYPE_F32), 1, &o);
  lr_tensor *y, *x = rand_x(LR_DTYPE_F32, 2, 3, 5, 1);
  cr_expect_eq(lr_s4_forward(m, x, NULL, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_s4_forward") && strstr(lr_last_error(), "(2, 3, 5)"), "%s", lr_last_error());
  x = rand_x(LR_DTYPE_F64, 2, 3, 4, 1);
  cr_expect_eq(lr_s4_forward(m, x, NULL, &y), LR_ERR_DTYPE);
  cr_expect_eq(lr_s4_forward(m, NULL, NULL, &y), LR_ERR_ARG);
  cr_expect_eq(lr_s4_compute_kernel(m, 0, &y), LR_ERR_ARG);
  cr_expect_eq(lr_s4_setup_C(m, 0), LR_ERR_ARG);
  lr_s4_cache *cache;
  cr_expect_eq(lr_s4_allocate_cache(m, 0, LR_S4_STEP_DENSE, &cache), LR_ERR_ARG);
  cr_expect_eq(lr_s4_allocate_cache(m, 1, (lr_s4_step_mode)7, &cache), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "step mode 7"), "%s", lr_last_error());
  cr_assert_eq(lr_s4_allocate_cache(m, 2, LR_S4_STEP_DENSE, &cache), LR_OK);
  lr_tensor *xt;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(3, 4), &xt), LR_OK);
  cr_expect_eq(lr_s4_step(m, cache, xt, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_s4_step") && strstr(lr_last_error(), "expected (2, 4)"), "%s", lr_last_error());
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 4), &xt), LR_OK);
  cr_expect_eq(lr_s4_step(m, cache, xt, &y), LR_ERR_DTYPE);
  lr_s4_cache_free(cache);
  cr_expect_eq(lr_s4_cache_reset(NULL), LR_ERR_ARG);
  lr_module_free(&m->base);
}

/* ---- Centaurus ---- */

static lr_status ct_fwd(lr_module *m, lr_tensor *x, lr_tensor *len, lr_tensor **y) {
  return lr_centaurus_forward((lr_centaurus *)m, x, len, y);
}
static lr_status ct_alloc(lr_module *m, int64_t b, int mode, void **c) {
  (void)mode;
  return lr_centaurus_allocate_cache((lr_centaurus *)m, b, (lr_centaurus_cache **)c);
}
static lr_status ct_stp(lr_module *m, void *c, lr_tensor *x, lr_tensor **y) {
  return lr_centaurus_step((lr_centaurus *)m, (lr_centaurus_cache *)c, x, y);
}
static lr_status ct_reset(void *c) { return lr_centaurus_cache_reset((lr_centaurus_cache *)c); }
static void ct_free(void *c) { lr_centaurus_cache_free((lr_centaurus_cache *)c); }

static lr_centaurus *make_ct(int64_t H, int64_t N, int64_t M, lr_centaurus_mode mode, lr_dtype dt, uint64_t seed,
                             model_ops *o) {
  lr_rng rng;
  lr_rng_init(&rng, seed);
  lr_centaurus_config c = lr_centaurus_config_default(H, N, M);
  c.mode = mode;
  c.dtype = dt;
  lr_centaurus *m;
  cr_assert_eq(lr_centaurus_new(NULL, NULL, &c, &rng, &m), LR_OK, "%s", lr_last_error());
  *o = (model_ops){&m->base, ct_fwd, ct_alloc, ct_stp, ct_reset, ct_free, H, 0};
  return m;
}

static const lr_centaurus_mode ct_modes[] = {LR_CENTAURUS_NECK, LR_CENTAURUS_POINTWISE, LR_CENTAURUS_DWS,
                                             LR_CENTAURUS_FULL};
static const char *ct_mode_names[] = {"neck", "pointwise", "dws", "full"};
/* sizes per mode: dws needs N == H, full N == H^2 */
static const int64_t ct_sizes[4][3] = {{3, 5, 2}, {3, 4, 3}, {3, 3, 2}, {2, 4, 3}};

Test(models_s4, centaurus_names_shapes_init) {
  const char *types[] = {"CentaurusNeck", "CentaurusPWNeck", "CentaurusDWS", "CentaurusFull"};
  for (int k = 0; k < 4; k++) {
    int64_t H = ct_sizes[k][0], N = ct_sizes[k][1], M = ct_sizes[k][2];
    model_ops o;
    lr_centaurus *m = make_ct(H, N, M, ct_modes[k], LR_DTYPE_F32, 1, &o);
    cr_expect_str_eq(m->base.type, types[k]);
    lr_param_list l;
    cr_assert_eq(lr_module_list(&m->base, LR_VISIT_ALL, &l), LR_OK);
    bool pw = ct_modes[k] == LR_CENTAURUS_POINTWISE;
    const char *names4[] = {"A", "log_delta", "B", "C"}, *names5[] = {"A", "E", "log_delta", "B", "C"};
    cr_assert_eq(l.n, pw ? 4 : 5, "%s", ct_mode_names[k]);
    for (int i = 0; i < l.n; i++) cr_expect_str_eq(l.items[i].name, pw ? names4[i] : names5[i]);
    cr_expect(l.items[0].param->flags & LR_PARAM_REAL_VIEW, "A is saved as a real (N, M, 2) view");
    lr_param_list_free(&l);
    cr_expect(m->A->dtype == LR_DTYPE_C64 && m->A->shape[0] == N && m->A->shape[1] == M);
    for (int64_t n = 0; n < N; n++) {
      double e10 = N > 1 ? -3.0 + 2.0 * n / (N - 1.0) : -3.0;
      cr_expect(fabs(lr_tensor_get(m->log_delta, n) - e10 * log(10.0)) < 1e-5, "log_delta = log(logspace(-3, -1))");
      for (int64_t j = 0; j < M; j++) {
        double re, im;
        lr_tensor_get_c(m->A, n * M + j, &re, &im);
        cr_expect(re == -0.5 && fabs(im - M_PI * j / M) < 1e-6, "A = -1/2 + iπm/M");
      }
    }
    const int64_t bshape[4][2] = {{N, H}, {N * M, H}, {H, 0}, {N, 0}}, cshape[4][2] = {{H, N}, {H, N * M}, {H, 0}, {N, 0}};
    cr_expect(m->B->shape[0] == bshape[k][0] && (m->B->ndim == 1 || m->B->shape[1] == bshape[k][1]));
    cr_expect(m->C->shape[0] == cshape[k][0] && (m->C->ndim == 1 || m->C->shape[1] == cshape[k][1]));
    cr_expect_eq(m->B->ndim, bshape[k][1] ? 2 : 1);
    if (ct_modes[k] == LR_CENTAURUS_DWS)
      for (int64_t h = 0; h < H; h++) cr_expect(lr_tensor_get(m->B, h) == 1.0 && lr_tensor_get(m->C, h) == 1.0);
    if (pw) cr_expect(fabs(lr_tensor_get(m->B, 0) - 1 / sqrt((double)H)) < 1e-7);
    if (ct_modes[k] == LR_CENTAURUS_NECK)
      for (int64_t i = 0; i < N * H; i++) cr_expect(fabs(lr_tensor_get(m->B, i)) <= 1 / sqrt((double)H));
    lr_module_free(&m->base);
  }
}

Test(models_s4, centaurus_kernel_and_effective_matrices) {
  /* K[n, l] = Σ_m E Re(exp(Δ_n A l)) against a direct evaluation; full mode's B̄, C_eff scatter. */
  model_ops o;
  lr_centaurus *m = make_ct(2, 4, 3, LR_CENTAURUS_FULL, LR_DTYPE_F64, 2, &o);
  lr_tensor *K, *Bb, *Ce;
  cr_assert_eq(lr_centaurus_compute_kernel(m, 7, &K), LR_OK, "%s", lr_last_error());
  cr_assert(K->ndim == 2 && K->shape[0] == 4 && K->shape[1] == 7);
  for (int64_t n = 0; n < 4; n++) {
    double d = exp(lr_tensor_get(m->log_delta, n));
    for (int64_t l = 0; l < 7; l++) {
      double k = 0;
      for (int64_t j = 0; j < 3; j++) {
        double re, im;
        lr_tensor_get_c(m->A, n * 3 + j, &re, &im);
        k += lr_tensor_get(m->E, n * 3 + j) * creal(cexp(d * (re + I * im) * (double)l));
      }
      cr_expect(fabs(lr_tensor_get(K, n * 7 + l) - k) < 1e-12, "K[%lld, %lld]", (long long)n, (long long)l);
    }
  }
  cr_assert_eq(lr_centaurus_effective_B(m, &Bb), LR_OK);
  cr_assert_eq(lr_centaurus_effective_C(m, &Ce), LR_OK);
  for (int64_t n = 0; n < 4; n++)
    for (int64_t h = 0; h < 2; h++) {
      double want = h == n % 2 ? exp(lr_tensor_get(m->log_delta, n)) * lr_tensor_get(m->B, n) : 0.0;
      cr_expect_eq(lr_tensor_get(Bb, n * 2 + h), want, "B̄[%lld, %lld]", (long long)n, (long long)h);
      double wc = h == n / 2 ? lr_tensor_get(m->C, n) : 0.0;
      cr_expect_eq(lr_tensor_get(Ce, h * 4 + n), wc, "C_eff[%lld, %lld]", (long long)h, (long long)n);
    }
  cr_expect_eq(lr_centaurus_discretize(m), LR_ERR_UNSUPPORTED);
  cr_expect(strstr(lr_last_error(), "lr_centaurus_discretize"), "%s", lr_last_error());
  lr_module_free(&m->base);
  /* pointwise: K[s, l] = Re exp(Δ_{s/M} A_s l) */
  m = make_ct(2, 3, 2, LR_CENTAURUS_POINTWISE, LR_DTYPE_F64, 3, &o);
  cr_assert_eq(lr_centaurus_compute_kernel(m, 5, &K), LR_OK);
  cr_assert(K->shape[0] == 6 && K->shape[1] == 5);
  for (int64_t s = 0; s < 6; s++)
    for (int64_t l = 0; l < 5; l++) {
      double re, im, d = exp(lr_tensor_get(m->log_delta, s / 2));
      lr_tensor_get_c(m->A, s, &re, &im);
      cr_expect(fabs(lr_tensor_get(K, s * 5 + l) - creal(cexp(d * (re + I * im) * (double)l))) < 1e-12);
    }
  lr_module_free(&m->base);
}

Test(models_s4, centaurus_step_equals_forward_all_modes) {
  /* f64: FFT convolution vs recurrence to rounding (1e-10 relative); f32 1e-4. Two batch sizes
   * so that lrnnx's contraction-order rule picks different paths. */
  for (int k = 0; k < 4; k++)
    for (int f = 0; f < 2; f++) {
      lr_dtype dt = f ? LR_DTYPE_F32 : LR_DTYPE_F64;
      model_ops o;
      lr_centaurus *m = make_ct(ct_sizes[k][0], ct_sizes[k][1], ct_sizes[k][2], ct_modes[k], dt, 5 + k, &o);
      /* Δ up to 0.1 and |Re A| 1/2: make the state decay visible within L by a larger Δ */
      for (int64_t n = 0; n < ct_sizes[k][1]; n++) lr_tensor_set(m->log_delta, n, log(0.3 + 0.2 * n), 0);
      check_step_equals_forward(&o, rand_x(dt, 2, 33, ct_sizes[k][0], 9), f ? 1e-4 : 1e-10, ct_mode_names[k]);
      check_step_equals_forward(&o, rand_x(dt, 7, 12, ct_sizes[k][0], 10), f ? 1e-4 : 1e-10, ct_mode_names[k]);
      lr_module_free(&m->base);
    }
}

Test(models_s4, centaurus_lengths) {
  for (int k = 0; k < 4; k++) {
    model_ops o;
    lr_centaurus *m = make_ct(ct_sizes[k][0], ct_sizes[k][1], ct_sizes[k][2], ct_modes[k], LR_DTYPE_F64, 6, &o);
    check_lengths(&o, LR_DTYPE_F64, 9, 1e-12);
    lr_module_free(&m->base);
  }
}

Test(models_s4, centaurus_gradcheck_all_modes) {
  /* f64 at B 2, L 5; A is complex (both parts perturbed). */
  for (int k = 0; k < 4; k++) {
    model_ops o;
    lr_centaurus *m = make_ct(ct_sizes[k][0], ct_sizes[k][1], ct_sizes[k][2], ct_modes[k], LR_DTYPE_F64, 7, &o);
    for (int64_t n = 0; n < ct_sizes[k][1]; n++) lr_tensor_set(m->log_delta, n, log(0.3 + 0.2 * n), 0);
    check_gradcheck(ct_mode_names[k], &o, rand_x(LR_DTYPE_F64, 2, 5, ct_sizes[k][0], 12), 1e-6, 1e-5);
    lr_module_free(&m->base);
  }
}

Test(models_s4, centaurus_errors) {
  lr_rng rng;
  lr_rng_init(&rng, 1);
  lr_centaurus *m = NULL;
  struct {
    lr_centaurus_config c;
    lr_status want;
    const char *msg;
  } bad[] = {
      {{0, 4, 2, "zoh", LR_CENTAURUS_NECK, LR_DTYPE_F32}, LR_ERR_ARG, "d_model 0"},
      {{4, 4, 0, "zoh", LR_CENTAURUS_NECK, LR_DTYPE_F32}, LR_ERR_ARG, "sub_state_dim 0"},
      {{4, 4, 2, "foh", LR_CENTAURUS_NECK, LR_DTYPE_F32}, LR_ERR_ARG, "discretization \"foh\""},
      {{4, 5, 2, "zoh", LR_CENTAURUS_DWS, LR_DTYPE_F32}, LR_ERR_ARG, "dws needs d_state == d_model, got d_state 5"},
      {{3, 8, 2, "zoh", LR_CENTAURUS_FULL, LR_DTYPE_F32}, LR_ERR_ARG, "full needs d_state == d_model^2 = 9, got d_state 8"},
      {{4, 4, 2, "zoh", LR_CENTAURUS_NECK, LR_DTYPE_C64}, LR_ERR_DTYPE, "dtype c64"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cr_expect_eq(lr_centaurus_new(NULL, NULL, &bad[i].c, &rng, &m), bad[i].want, "case %zu", i);
    cr_expect(strstr(lr_last_error(), "lr_centaurus_new") && strstr(lr_last_error(), bad[i].msg), "case %zu: %s", i,
              lr_last_error());
  }
  cr_expect_null(m);
  lr_centaurus_mode md;
  cr_expect_eq(lr_centaurus_mode_from_name("s5", &md), LR_OK);
  cr_expect_eq(md, LR_CENTAURUS_POINTWISE);
  cr_expect_eq(lr_centaurus_mode_from_name("wide", &md), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "\"wide\""), "%s", lr_last_error());
  model_ops o;
  m = make_ct(4, 3, 2, LR_CENTAURUS_NECK, LR_DTYPE_F32, 1, &o);
  lr_tensor *y, *x = rand_x(LR_DTYPE_F32, 2, 3, 5, 1);
  cr_expect_eq(lr_centaurus_forward(m, x, NULL, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_centaurus_forward") && strstr(lr_last_error(), "(2, 3, 5)"), "%s",
            lr_last_error());
  x = rand_x(LR_DTYPE_F64, 2, 3, 4, 1);
  cr_expect_eq(lr_centaurus_forward(m, x, NULL, &y), LR_ERR_DTYPE);
  cr_expect_eq(lr_centaurus_compute_kernel(m, 0, &y), LR_ERR_ARG);
  lr_centaurus_cache *c;
  cr_expect_eq(lr_centaurus_allocate_cache(m, 0, &c), LR_ERR_ARG);
  cr_assert_eq(lr_centaurus_allocate_cache(m, 2, &c), LR_OK);
  lr_tensor *xt;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 5), &xt), LR_OK);
  cr_expect_eq(lr_centaurus_step(m, c, xt, &y), LR_ERR_SHAPE);
  cr_expect(strstr(lr_last_error(), "lr_centaurus_step") && strstr(lr_last_error(), "expected (2, 4)"), "%s",
            lr_last_error());
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 4), &xt), LR_OK);
  cr_expect_eq(lr_centaurus_step(m, c, xt, &y), LR_ERR_DTYPE);
  lr_centaurus_cache_free(c);
  cr_expect_eq(lr_centaurus_cache_reset(NULL), LR_ERR_ARG);
  lr_module_free(&m->base);
}

/* ---- registry and checkpoints ---- */

typedef struct {
  const char *model, *args;
  int n_tensors;       /* state_dict entries, aliases and buffers included */
  const char *dropped; /* the entry left out of the "missing" file */
  int64_t H;
} reg_case;

static const reg_case reg_cases[] = {
    /* 7 own + 6 layer.kernel.* aliases + l_kernel + output_linear.0.{weight,bias} */
    {"S4", "{\"d_model\": 4, \"d_state\": 4, \"channels\": 2, \"transposed\": false, \"dtype\": \"float64\"}", 16,
     "layer.kernel.l_kernel", 4},
    {"S4", "{\"d_model\": 3, \"d_state\": 6, \"rank\": 2, \"init\": \"dplr-inv\", \"transposed\": false, \"final_act\": null}",
     14, "P", 3},
    {"Centaurus", "{\"d_model\": 3, \"d_state\": 4, \"sub_state_dim\": 2, \"dtype\": \"float64\"}", 5, "E", 3},
    {"Centaurus", "{\"d_model\": 3, \"d_state\": 4, \"sub_state_dim\": 2, \"mode\": \"pw\"}", 4, "log_delta", 3},
    {"Centaurus", "{\"d_model\": 3, \"d_state\": 3, \"sub_state_dim\": 2, \"mode\": \"dws\"}", 5, "A", 3},
    {"Centaurus", "{\"d_model\": 2, \"d_state\": 4, \"sub_state_dim\": 3, \"mode\": \"full\", \"discretization\": \"bilinear\"}",
     5, "C", 2},
};
#define N_REG (sizeof reg_cases / sizeof reg_cases[0])

static lr_module *reg_make(const reg_case *c, int seed) {
  const lr_model_def *def = lr_model_find(c->model);
  cr_assert_not_null(def, "%s is not registered", c->model);
  cJSON *args = cJSON_Parse(c->args);
  cr_assert_not_null(args);
  cJSON_AddNumberToObject(args, "seed", seed);
  lr_module *m;
  cr_assert_eq(def->create(args, &m), LR_OK, "%s %s: %s", c->model, c->args, lr_last_error());
  cJSON_Delete(args);
  return m;
}

static double module_diff(lr_module *a, lr_module *b) {
  lr_param_list la, lb;
  cr_assert_eq(lr_module_list(a, LR_VISIT_ALL | LR_VISIT_TIED, &la), LR_OK);
  cr_assert_eq(lr_module_list(b, LR_VISIT_ALL | LR_VISIT_TIED, &lb), LR_OK);
  cr_assert_eq(la.n, lb.n);
  double d = 0;
  for (int i = 0; i < la.n; i++) {
    cr_assert_str_eq(la.items[i].name, lb.items[i].name);
    d = fmax(d, max_diff(la.items[i].param->t, lb.items[i].param->t));
  }
  lr_param_list_free(&la);
  lr_param_list_free(&lb);
  return d;
}

static lr_dtype reg_dtype(const lr_module *m) {
  lr_param_list l;
  cr_assert_eq(lr_module_list((lr_module *)m, LR_VISIT_PARAMS, &l), LR_OK);
  lr_dtype dt = lr_dtype_real(l.items[l.n - 1].param->t->dtype);
  lr_param_list_free(&l);
  return dt;
}

Test(models_s4, registry_checkpoint_round_trip) {
  for (size_t k = 0; k < N_REG; k++) {
    const reg_case *c = &reg_cases[k];
    const lr_model_def *def = lr_model_find(c->model);
    char path[256];
    snprintf(path, sizeof path, "/tmp/lr_s4_ckpt_%zu_%d.safetensors", k, (int)getpid());
    lr_module *a = reg_make(c, 1), *b = reg_make(c, 2);
    lr_dtype dt = reg_dtype(a);
    /* a has run a forward: for S4 its C is C̃ and l_kernel is 6; the round trip keeps both */
    lr_tensor *x = rand_x(dt, 2, 6, c->H, 3), *ya, *yb, *ya2;
    cr_assert_eq(def->forward(a, x, NULL, NULL, &ya), LR_OK, "%s", lr_last_error());
    cr_assert(module_diff(a, b) > 0, "%s: two seeds gave the same weights", c->model);
    cr_assert_eq(lr_module_save(a, path, NULL), LR_OK, "%s", lr_last_error());
    lr_safetensors_file *f;
    cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
    cr_expect_eq(lr_safetensors_count(f), c->n_tensors, "%s: %d entries", c->args, lr_safetensors_count(f));
    if (!strcmp(c->model, "Centaurus")) { /* A as lrnnx's real view (N, M, 2) */
      lr_tensor *A;
      cr_assert_eq(lr_safetensors_get(f, "A", &A), LR_OK);
      cr_expect(A->ndim == 3 && A->shape[2] == 2 && !lr_dtype_is_complex(A->dtype));
      lr_tensor_free(A);
    }
    lr_safetensors_close(f);
    lr_load_report r;
    cr_assert_eq(lr_module_load(b, path, LR_LOAD_STRICT, &r), LR_OK, "%s: %s", c->args, lr_last_error());
    cr_expect_eq(r.n_loaded, c->n_tensors);
    lr_load_report_free(&r);
    cr_expect_eq(module_diff(a, b), 0.0, "%s: loaded weights differ from the saved ones", c->args);
    cr_assert_eq(def->forward(a, x, NULL, NULL, &ya2), LR_OK);
    cr_assert_eq(def->forward(b, x, NULL, NULL, &yb), LR_OK, "%s", lr_last_error());
    cr_expect_eq(max_diff(ya, yb), 0.0, "%s", c->args);
    cr_expect_eq(max_diff(ya, ya2), 0.0, "%s: a second forward is the same", c->args);
    cr_expect_eq(module_diff(a, b), 0.0, "%s: no second C transform after loading", c->args);
    /* step mode through the registry == forward */
    void *cache;
    cr_assert_eq(def->allocate_cache(b, 2, 6, &cache), LR_OK, "%s", lr_last_error());
    double md = 0;
    for (int64_t t = 0; t < 6; t++) {
      lr_tensor *yt;
      cr_assert_eq(def->step(b, cache, step_input(x, t), NULL, &yt), LR_OK, "%s", lr_last_error());
      for (int64_t bb = 0; bb < 2; bb++)
        for (int64_t h = 0; h < c->H; h++)
          md = fmax(md, fabs(lr_tensor_get(yt, bb * c->H + h) - lr_tensor_get(ya, (bb * 6 + t) * c->H + h)));
    }
    def->free_cache(b, cache);
    cr_expect(md <= (dt == LR_DTYPE_F64 ? 1e-9 : 2e-3) * max_abs(ya), "%s: step vs forward %g", c->args, md);
    lr_module_free(a);
    lr_module_free(b);
    unlink(path);
  }
}

Test(models_s4, s4_fresh_checkpoint_transforms_on_load) {
  /* a checkpoint written before the first forward (l_kernel 0, plain C) loads and gives the same
   * outputs as the model it came from, after both transform C at their first forward */
  const reg_case *c = &reg_cases[0];
  char path[256];
  snprintf(path, sizeof path, "/tmp/lr_s4_fresh_%d.safetensors", (int)getpid());
  lr_module *a = reg_make(c, 1), *b = reg_make(c, 2);
  cr_assert_eq(lr_module_save(a, path, NULL), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_module_load(b, path, LR_LOAD_STRICT, NULL), LR_OK, "%s", lr_last_error());
  cr_expect_eq(lr_s4_l_kernel((lr_s4 *)b), 0);
  lr_tensor *x = rand_x(LR_DTYPE_F64, 2, 9, 4, 3), *ya, *yb;
  cr_assert_eq(lr_model_s4.forward(a, x, NULL, NULL, &ya), LR_OK);
  cr_assert_eq(lr_model_s4.forward(b, x, NULL, NULL, &yb), LR_OK);
  cr_expect_eq(max_diff(ya, yb), 0.0);
  cr_expect_eq(lr_s4_l_kernel((lr_s4 *)b), 9);
  lr_module_free(a);
  lr_module_free(b);
  unlink(path);
}

Test(models_s4, registry_strict_load_missing_and_extra) {
  for (size_t k = 0; k < N_REG; k++) {
    const reg_case *c = &reg_cases[k];
    char path[256];
    lr_module *a = reg_make(c, 1), *b = reg_make(c, 2), *b0 = reg_make(c, 2);
    lr_param_list l;
    cr_assert_eq(lr_module_list(a, LR_VISIT_ALL | LR_VISIT_TIED, &l), LR_OK);
    const char *names[24];
    const lr_tensor *ts[24];
    int n = 0;
    for (int i = 0; i < l.n; i++)
      if (strcmp(l.items[i].name, c->dropped)) {
        names[n] = l.items[i].name;
        ts[n++] = l.items[i].param->t;
      }
    cr_assert_eq(n, l.n - 1, "%s has no %s", c->model, c->dropped);
    /* missing */
    snprintf(path, sizeof path, "/tmp/lr_s4_missing_%zu_%d.safetensors", k, (int)getpid());
    cr_assert_eq(lr_safetensors_save(path, n, names, ts, NULL), LR_OK, "%s", lr_last_error());
    cr_expect_eq(lr_module_load(b, path, LR_LOAD_STRICT, NULL), LR_ERR_ARG, "%s", c->args);
    char want[512];
    snprintf(want, sizeof want, "lr_module_load(%s): missing: %s", path, c->dropped);
    cr_expect_str_eq(lr_last_error(), want);
    cr_expect_eq(module_diff(b, b0), 0.0, "%s: a failed strict load changed the module", c->args);
    unlink(path);
    /* extra: everything plus "layer.kernel.omega" */
    names[n] = c->dropped;
    for (int i = 0; i < l.n; i++)
      if (!strcmp(l.items[i].name, c->dropped)) ts[n] = l.items[i].param->t;
    names[n + 1] = "layer.kernel.omega";
    ts[n + 1] = ts[0];
    snprintf(path, sizeof path, "/tmp/lr_s4_extra_%zu_%d.safetensors", k, (int)getpid());
    cr_assert_eq(lr_safetensors_save(path, n + 2, names, ts, NULL), LR_OK, "%s", lr_last_error());
    cr_expect_eq(lr_module_load(b, path, LR_LOAD_STRICT, NULL), LR_ERR_ARG, "%s", c->args);
    snprintf(want, sizeof want, "lr_module_load(%s): unexpected: layer.kernel.omega", path);
    cr_expect_str_eq(lr_last_error(), want);
    cr_expect_eq(module_diff(b, b0), 0.0, "%s: a failed strict load changed the module", c->args);
    lr_load_report r;
    cr_expect_eq(lr_module_load(b, path, LR_LOAD_PARTIAL, &r), LR_OK);
    cr_expect_eq(r.n_unexpected, 1);
    lr_load_report_free(&r);
    cr_expect_eq(module_diff(a, b), 0.0, "%s: a partial load takes every matching tensor", c->args);
    unlink(path);
    lr_param_list_free(&l);
    lr_module_free(a);
    lr_module_free(b);
    lr_module_free(b0);
  }
}

Test(models_s4, registry_arguments) {
  struct {
    const char *model, *args;
    lr_status want;
    const char *msg;
  } bad[] = {
      {"S4", "{\"d_model\": 4, \"wat\": 1}", LR_ERR_ARG, "S4: unknown argument 'wat'"},
      {"S4", "{}", LR_ERR_ARG, "S4: argument 'd_model' is required"},
      {"S4", "{\"d_model\": 4, \"init\": \"legendre\"}", LR_ERR_UNSUPPORTED, "S4: argument 'init' is \"legendre\""},
      {"S4", "{\"d_model\": 4, \"postact\": \"glu\"}", LR_ERR_ARG, "S4: argument 'postact' needs final_act null"},
      {"S4", "{\"d_model\": 4, \"rank\": \"1\"}", LR_ERR_ARG, "S4: argument 'rank' must be an integer"},
      {"S4", "{\"d_model\": 4, \"drop_kernel\": 0.1}", LR_ERR_UNSUPPORTED, "drop_kernel"},
      {"S4", "{\"d_model\": 4, \"bottleneck\": 2}", LR_ERR_UNSUPPORTED, "bottleneck"},
      {"Centaurus", "{\"d_model\": 4, \"d_state\": 4}", LR_ERR_ARG, "Centaurus: argument 'sub_state_dim' is required"},
      {"Centaurus", "{\"d_model\": 4, \"d_state\": 4, \"sub_state_dim\": 2, \"mode\": \"wide\"}", LR_ERR_ARG,
       "Centaurus: argument 'mode' is \"wide\", expected one of neck, pointwise, pw, s5, dws, full"},
      {"Centaurus", "{\"d_model\": 4, \"d_state\": 4, \"sub_state_dim\": 2, \"discretization\": \"mamba\"}", LR_ERR_ARG,
       "Centaurus: argument 'discretization' is \"mamba\""},
      {"Centaurus", "{\"d_model\": 4, \"d_state\": 5, \"sub_state_dim\": 2, \"mode\": \"dws\"}", LR_ERR_ARG,
       "dws needs d_state == d_model"},
      {"Centaurus", "{\"d_model\": 4, \"d_state\": 4, \"sub_state_dim\": 2, \"E\": 1}", LR_ERR_ARG,
       "Centaurus: unknown argument 'E'"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    cJSON *args = cJSON_Parse(bad[i].args);
    cr_assert_not_null(args);
    lr_module *m = NULL;
    cr_expect_eq(lr_model_find(bad[i].model)->create(args, &m), bad[i].want, "%s %s", bad[i].model, bad[i].args);
    cr_expect(strstr(lr_last_error(), bad[i].msg), "%s %s: \"%s\"", bad[i].model, bad[i].args, lr_last_error());
    cr_expect_null(m);
    cJSON_Delete(args);
  }
  /* defaults: S4 d_state 64, rank 1, transposed, legs; Centaurus neck, zoh; aliases of pointwise */
  cJSON *args = cJSON_Parse("{\"d_model\": 4, \"lr\": null, \"n_ssm\": null, \"verbose\": false, \"disc\": \"zoh\"}");
  lr_module *m;
  cr_assert_eq(lr_model_s4.create(args, &m), LR_OK, "%s", lr_last_error());
  cJSON_Delete(args);
  lr_s4 *s = (lr_s4 *)m;
  cr_expect(s->cfg.d_state == 64 && s->cfg.rank == 1 && s->cfg.transposed && s->output_linear);
  cr_expect_str_eq(s->cfg.init, "legs", "the config outlives the JSON");
  lr_module_free(m);
  const char *pw[] = {"pointwise", "pw", "s5"};
  for (int i = 0; i < 3; i++) {
    char j[128];
    snprintf(j, sizeof j, "{\"d_model\": 2, \"d_state\": 2, \"sub_state_dim\": 2, \"mode\": \"%s\"}", pw[i]);
    args = cJSON_Parse(j);
    cr_assert_eq(lr_model_centaurus.create(args, &m), LR_OK, "%s", lr_last_error());
    cJSON_Delete(args);
    cr_expect_str_eq(m->type, "CentaurusPWNeck");
    cr_expect_null(((lr_centaurus *)m)->E);
    lr_module_free(m);
  }
}
