/* The scan family on CUDA against the CPU: lr_selective_scan, lr_diag_scan, lr_s5_scan,
 * lr_discretize, forward and every gradient, plus bitwise determinism of the GPU backward and
 * step == scan on the GPU.
 *
 * Each case makes the same random inputs on both devices, runs the op, then lr_backward of
 * loss = Σ w·y + Σ Re(v·hL) (w, v random, the same on both devices), and compares y, hL and the
 * gradient of every input. Covering set (not the full cross product): every discretization ×
 * real/complex with fixed B/C and all options at L = 64; variable B/C (G = 1 and 3, more than one
 * channel tile per group) at L ∈ {1, 7, 1000, 2049} and N ∈ {1, 16, 64, 300}; a long F32 Mamba
 * case at L = 5000; lengths of 0, L and in between; resets; h0 with hL.
 *
 * Tolerance, with the reason: each compared tensor must satisfy max |gpu - cpu| <= tol·max|cpu|
 * (+ a tiny absolute floor for all-zero tensors). tol = 2e-3 in F32/C64 (about 1.6e4 ulps): the
 * GPU sums y over N in a different order (a lane butterfly), runs CUDA's expf/expm1f/sinf (up to
 * 2 ulp from glibc) and fuses multiply-adds; the sums over time and batch (dA, dB, dC, dD) add up
 * to B·L = 10^4 such terms, and the scans' condition |h| / |terms| reaches ~10 for Ā near 1.
 * tol = 1e-9 in F64/C128 for the same reasons at eps 1.1e-16. An indexing, chunk-boundary or
 * state-carry error is O(1) relative, far above both.
 *
 * Tagged "manual" and "cuda": build here, run on the GPU machine.
 */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/discretize.h"
#include "ops/scan.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"

static void on_gpu(void) {
  if (!lr_cuda_available()) cr_skip_test("no usable CUDA device");
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double unif(uint64_t *s, double lo, double hi) {
  return lo + (hi - lo) * (double)(splitmix(s) >> 11) * 0x1.0p-53;
}

static int64_t numel(int nd, const int64_t *sh) {
  int64_t n = 1;
  for (int i = 0; i < nd; i++) n *= sh[i];
  return n;
}

/* A pair of equal tensors, one per device. */
typedef struct {
  lr_tensor *c, *g;
} pair;

/* Random values in [lo, hi) (both components for complex) on both devices; grad: leaves that
 * require grad. */
static pair mk(lr_dtype dt, int nd, const int64_t *sh, double lo, double hi, uint64_t *seed, bool grad) {
  int64_t n = numel(nd, sh), nc = n * (lr_dtype_is_complex(dt) ? 2 : 1);
  size_t es = lr_dtype_size(dt);
  unsigned char *host = malloc((size_t)(n ? n : 1) * es);
  cr_assert_not_null(host);
  for (int64_t i = 0; i < nc; i++) {
    double v = unif(seed, lo, hi);
    if (dt == LR_DTYPE_F32 || dt == LR_DTYPE_C64) ((float *)host)[i] = (float)v;
    else ((double *)host)[i] = v;
  }
  pair p;
  cr_assert_eq(lr_from_host(dt, nd, sh, host, &p.c), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_empty_on(dt, LR_DEVICE_CUDA, nd, sh, &p.g), LR_OK, "%s", lr_last_error());
  if (n) cr_assert_eq(lr_tensor_copy_(p.g, p.c), LR_OK, "%s", lr_last_error());
  free(host);
  if (grad) {
    cr_assert_eq(lr_requires_grad_(p.c, true), LR_OK);
    cr_assert_eq(lr_requires_grad_(p.g, true), LR_OK);
  }
  return p;
}

/* Non-differentiable integer / bool inputs from host values. */
static pair mk_raw(lr_dtype dt, int nd, const int64_t *sh, const void *host) {
  pair p;
  cr_assert_eq(lr_from_host(dt, nd, sh, host, &p.c), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_empty_on(dt, LR_DEVICE_CUDA, nd, sh, &p.g), LR_OK, "%s", lr_last_error());
  if (numel(nd, sh)) cr_assert_eq(lr_tensor_copy_(p.g, p.c), LR_OK, "%s", lr_last_error());
  return p;
}

/* t (any device) as doubles on the host (complex: 2 per element). */
static double *host_d(const lr_tensor *t, int64_t *nc) {
  lr_tensor *c = (lr_tensor *)t;
  if (!lr_is_contiguous(t)) cr_assert_eq(lr_tensor_contiguous_raw(t, &c), LR_OK, "%s", lr_last_error());
  int64_t n = lr_numel(c), k = n * (lr_dtype_is_complex(c->dtype) ? 2 : 1);
  size_t es = lr_dtype_size(c->dtype);
  unsigned char *raw = malloc((size_t)(n ? n : 1) * es);
  cr_assert_not_null(raw);
  if (n) cr_assert_eq(lr_tensor_copy_to_host(c, raw, (size_t)n * es), LR_OK, "%s", lr_last_error());
  double *d = malloc(sizeof(double) * (size_t)(k ? k : 1));
  cr_assert_not_null(d);
  bool f = c->dtype == LR_DTYPE_F32 || c->dtype == LR_DTYPE_C64;
  for (int64_t i = 0; i < k; i++) d[i] = f ? ((float *)raw)[i] : ((double *)raw)[i];
  free(raw);
  *nc = k;
  return d;
}

static double tol_of(lr_dtype dt) { return (dt == LR_DTYPE_F32 || dt == LR_DTYPE_C64) ? 2e-3 : 1e-9; }

static void check_close(const char *what, const char *name, const lr_tensor *gpu, const lr_tensor *cpu) {
  cr_assert((gpu == NULL) == (cpu == NULL), "%s %s: gradient present on one device only", what, name);
  if (!gpu) return;
  cr_assert_eq(gpu->device, LR_DEVICE_CUDA, "%s %s: not on the GPU", what, name);
  int64_t n1, n2;
  double *g = host_d(gpu, &n1), *c = host_d(cpu, &n2);
  cr_assert_eq(n1, n2, "%s %s: sizes differ", what, name);
  double mx = 0, err = 0;
  int64_t at = 0;
  for (int64_t i = 0; i < n1; i++) {
    if (fabs(c[i]) > mx) mx = fabs(c[i]);
    double e = fabs(g[i] - c[i]);
    if (!(e <= err)) err = e, at = i;
  }
  double tol = tol_of(cpu->dtype) * mx + 1e-30;
  cr_assert(err <= tol, "%s %s: max |gpu - cpu| = %g at component %lld (gpu %g, cpu %g), tolerance %g (max|cpu| %g)",
            what, name, err, (long long)at, g[at], c[at], tol, mx);
  free(g);
  free(c);
}

/* Bitwise equality of two device tensors. */
static void check_bits(const char *what, const lr_tensor *a, const lr_tensor *b) {
  if (!a && !b) return;
  cr_assert(a && b, "%s: one missing", what);
  size_t nb = lr_nbytes(a);
  unsigned char *x = malloc(nb ? nb : 1), *y = malloc(nb ? nb : 1);
  if (nb) {
    cr_assert_eq(lr_tensor_copy_to_host(a, x, nb), LR_OK);
    cr_assert_eq(lr_tensor_copy_to_host(b, y, nb), LR_OK);
  }
  cr_assert(memcmp(x, y, nb) == 0, "%s: not bitwise equal", what);
  free(x);
  free(y);
}

/* x[..., t, ...] along dim: a raw view. */
static lr_status select_t(lr_tensor *x, int dim, int64_t t, lr_tensor **out) {
  lr_tensor *n;
  LR_TRY(lr_tensor_narrow(x, dim, t, 1, &n));
  return lr_tensor_squeeze(n, dim, out);
}

/* loss = Re Σ w·y + Re Σ v·hL (a real scalar) on one device. */
static lr_tensor *loss_of(lr_tensor *y, lr_tensor *w, lr_tensor *hL, lr_tensor *v) {
  lr_tensor *wy, *s1, *total;
  cr_assert_eq(lr_mul(w, y, &wy), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_sum(wy, 0, NULL, false, &s1), LR_OK, "%s", lr_last_error());
  if (lr_dtype_is_complex(s1->dtype)) cr_assert_eq(lr_real(s1, &s1), LR_OK, "%s", lr_last_error());
  total = s1;
  if (hL && v) {
    lr_tensor *vh, *s2, *r;
    cr_assert_eq(lr_mul(v, hL, &vh), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_sum(vh, 0, NULL, false, &s2), LR_OK, "%s", lr_last_error());
    if (lr_dtype_is_complex(s2->dtype)) {
      cr_assert_eq(lr_real(s2, &r), LR_OK, "%s", lr_last_error());
      s2 = r;
    }
    cr_assert_eq(lr_add(s1, s2, &total), LR_OK, "%s", lr_last_error());
  }
  return total;
}

/* ================= selective scan ================= */
enum { O_D = 1, O_Z = 2, O_BIAS = 4, O_SP = 8, O_DA = 16, O_H0 = 32, O_LEN = 64, O_RST = 128, O_ALL = 255 };

typedef struct {
  lr_dtype rdt;
  bool cx;
  int disc;
  int64_t Bn, D, L, N, G;
  bool varB, varC;
  unsigned opts;
  int64_t chunk;
} scfg;

#define NIN 10
typedef struct {
  pair in[NIN]; /* u, delta, A, B, C, D, z, bias, deltaA, h0 */
  pair len, rst;
  lr_scan_opts oc, og;
} sinputs;

static void make_inputs(const scfg *c, sinputs *s, uint64_t seed) {
  memset(s, 0, sizeof *s);
  lr_dtype wdt = c->cx ? lr_dtype_complex(c->rdt) : c->rdt;
  const int64_t Bn = c->Bn, D = c->D, L = c->L, N = c->N, G = c->G;
  bool s7 = c->disc == LR_DISC_S7, rg = c->disc == LR_DISC_RGLRU;
  s->in[0] = mk(c->rdt, LR_SHAPE(Bn, D, L), -1, 1, &seed, true);
  /* with softplus, delta is the pre-activation */
  double dlo = s7 ? 0.3 : rg ? 0.5 : (c->opts & O_SP) ? -1.5 : 0.05, dhi = s7 ? 1.2 : rg ? 2.0 : (c->opts & O_SP) ? 0.5 : 0.6;
  s->in[1] = mk(c->rdt, LR_SHAPE(Bn, D, L), dlo, dhi, &seed, true);
  if (rg) s->in[2] = mk(c->rdt, LR_SHAPE(D, N), 0.5, 0.99, &seed, true);
  else s->in[2] = mk(wdt, LR_SHAPE(D, N), c->disc == LR_DISC_NONE ? -0.7 : -2.0, c->disc == LR_DISC_NONE ? 0.7 : -0.05, &seed, true);
  s->in[3] = c->varB ? mk(wdt, LR_SHAPE(Bn, G, N, L), -1, 1, &seed, true) : mk(wdt, LR_SHAPE(D, N), -1, 1, &seed, true);
  s->in[4] = c->varC ? mk(wdt, LR_SHAPE(Bn, G, N, L), -1, 1, &seed, true) : mk(wdt, LR_SHAPE(D, N), -1, 1, &seed, true);
  lr_scan_opts o = {0};
  o.disc = (lr_disc)c->disc;
  o.chunk = c->chunk;
  o.delta_softplus = c->opts & O_SP;
  s->oc = s->og = o;
  if (c->opts & O_D) s->in[5] = mk(c->rdt, LR_SHAPE(D), -1, 1, &seed, true);
  if (c->opts & O_Z) s->in[6] = mk(c->rdt, LR_SHAPE(Bn, D, L), -2, 2, &seed, true);
  if (c->opts & O_BIAS) s->in[7] = mk(c->rdt, LR_SHAPE(D), -0.3, 0.3, &seed, true);
  if ((c->opts & O_DA) && !s7 && !rg && c->disc != LR_DISC_NONE) s->in[8] = mk(c->rdt, LR_SHAPE(Bn, D, L), 0.05, 0.6, &seed, true);
  if (c->opts & O_H0) s->in[9] = mk(wdt, LR_SHAPE(Bn, D, N), -1, 1, &seed, true);
  lr_tensor **oc[5] = {&s->oc.D, &s->oc.z, &s->oc.delta_bias, &s->oc.deltaA, &s->oc.h0};
  lr_tensor **og[5] = {&s->og.D, &s->og.z, &s->og.delta_bias, &s->og.deltaA, &s->og.h0};
  for (int i = 0; i < 5; i++) {
    *oc[i] = s->in[5 + i].c;
    *og[i] = s->in[5 + i].g;
  }
  if (c->opts & O_LEN) {
    int64_t *lv = malloc(sizeof(int64_t) * (size_t)Bn);
    for (int64_t b = 0; b < Bn; b++) lv[b] = b == 0 ? L : b == 1 ? 0 : (L * 2 + 1) / 3 - (b % 2);
    if (Bn == 1) lv[0] = L > 1 ? L - 1 : L;
    for (int64_t b = 0; b < Bn; b++) lv[b] = lv[b] < 0 ? 0 : lv[b] > L ? L : lv[b];
    s->len = mk_raw(LR_DTYPE_I64, LR_SHAPE(Bn), lv);
    free(lv);
    s->oc.lengths = s->len.c;
    s->og.lengths = s->len.g;
  }
  if (c->opts & O_RST) {
    uint8_t *rv = malloc((size_t)(Bn * L));
    for (int64_t i = 0; i < Bn * L; i++) rv[i] = (splitmix(&seed) % 11) == 0;
    s->rst = mk_raw(LR_DTYPE_BOOL, LR_SHAPE(Bn, L), rv);
    free(rv);
    s->oc.reset = s->rst.c;
    s->og.reset = s->rst.g;
  }
}

static void sel_case(const scfg *c, uint64_t seed) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  sinputs s;
  make_inputs(c, &s, seed);
  char what[200];
  snprintf(what, sizeof what, "selective_scan[%s%s,%s,B%lld D%lld L%lld N%lld G%lld,%s%s,opts %#x]",
           lr_dtype_name(c->rdt), c->cx ? "/complex" : "", lr_disc_name((lr_disc)c->disc), (long long)c->Bn,
           (long long)c->D, (long long)c->L, (long long)c->N, (long long)c->G, c->varB ? "varB" : "fixB",
           c->varC ? ",varC" : ",fixC", c->opts);
  lr_tensor *yc, *hc, *yg, *hg;
  cr_assert_eq(lr_selective_scan(s.in[0].c, s.in[1].c, s.in[2].c, s.in[3].c, s.in[4].c, &s.oc, &yc, &hc), LR_OK,
               "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(lr_selective_scan(s.in[0].g, s.in[1].g, s.in[2].g, s.in[3].g, s.in[4].g, &s.og, &yg, &hg), LR_OK,
               "%s gpu: %s", what, lr_last_error());
  check_close(what, "y", yg, yc);
  check_close(what, "hL", hg, hc);
  uint64_t ws = seed ^ 0xABCDEF;
  pair w = mk(c->rdt, LR_SHAPE(c->Bn, c->D, c->L), -1, 1, &ws, false);
  pair v = mk(hc->dtype, LR_SHAPE(c->Bn, c->D, c->N), -1, 1, &ws, false);
  cr_assert_eq(lr_backward(loss_of(yc, w.c, hc, v.c), NULL), LR_OK, "%s cpu backward: %s", what, lr_last_error());
  cr_assert_eq(lr_backward(loss_of(yg, w.g, hg, v.g), NULL), LR_OK, "%s gpu backward: %s", what, lr_last_error());
  static const char *names[NIN] = {"du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "ddeltaA", "dh0"};
  for (int i = 0; i < NIN; i++)
    if (s.in[i].c) check_close(what, names[i], s.in[i].g->grad, s.in[i].c->grad);
  lr_arena_rewind(ar, m);
}

/* Runs a case table with the GPU's selective-scan kernels forced: 0 auto, 1 the channel-sequential
 * kernels (scan_seq.cu) wherever they can run, 2 the time-parallel tile kernels (scan.cu), 3 the
 * Mamba kernels (scan_mamba.cu) wherever they can run. Under 1
 * the tables' long sequences with few channels, the chunks above 32 (the tile backward after the
 * sequential forward) and N > 128 (tile fallback) mix the two. */
static void on_path(int path, void (*cases)(void)) {
  const int prev = lr_kcuda_scan_set_path(path);
  cases();
  lr_kcuda_scan_set_path(prev);
}

static const int k_discs[] = {LR_DISC_MAMBA, LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC,
                              LR_DISC_ASYNC, LR_DISC_NONE, LR_DISC_S7,       LR_DISC_RGLRU};

/* Every discretization × real/complex, fixed B/C, N = 16, L = 64 (one chunk), with the option
 * sets alternating; F32/C64 and F64/C128. */
static void every_disc(lr_dtype rdt) {
  uint64_t seed = 1;
  for (int k = 0; k < 8; k++)
    for (int cx = 0; cx < 2; cx++) {
      int disc = k_discs[k];
      if (cx && (disc == LR_DISC_S7 || disc == LR_DISC_RGLRU)) continue;
      for (int os = 0; os < 3; os++) {
        unsigned opts = os == 0 ? 0 : os == 1 ? (O_D | O_Z | O_BIAS | O_SP | O_DA | O_H0) : (O_H0 | O_LEN | O_RST | O_D);
        scfg c = {rdt, cx, disc, 3, 5, 64, 16, 1, false, false, opts, 0};
        sel_case(&c, seed++);
      }
    }
}

static void every_disc_f32(void) { every_disc(LR_DTYPE_F32); }
static void every_disc_f64(void) { every_disc(LR_DTYPE_F64); }
Test(cuda_parity_scan, selective_every_disc_f32, .init = on_gpu) { on_path(0, every_disc_f32); }
Test(cuda_parity_scan, selective_every_disc_f64, .init = on_gpu) { on_path(0, every_disc_f64); }
Test(cuda_parity_scan, selective_every_disc_f32_seq, .init = on_gpu) { on_path(1, every_disc_f32); }
Test(cuda_parity_scan, selective_every_disc_f64_seq, .init = on_gpu) { on_path(1, every_disc_f64); }
Test(cuda_parity_scan, selective_every_disc_f32_tile, .init = on_gpu) { on_path(2, every_disc_f32); }
Test(cuda_parity_scan, selective_every_disc_f64_tile, .init = on_gpu) { on_path(2, every_disc_f64); }

/* Variable B/C (both, B only, C only), groups, tiles, the N and L grid. */
static void selective_variable_grid_cases(void) {
  static const struct {
    int64_t L, N, G, D;
    bool varB, varC;
    int disc;
    bool cx;
    unsigned opts;
  } t[] = {
      {1, 16, 1, 48, true, true, LR_DISC_MAMBA, false, O_ALL},
      {7, 1, 1, 64, true, true, LR_DISC_MAMBA, false, O_D | O_Z | O_H0},
      {7, 16, 3, 48, true, false, LR_DISC_ZOH, true, O_H0 | O_RST},
      {64, 64, 1, 40, false, true, LR_DISC_ZOH, false, O_D | O_LEN},
      {1000, 16, 2, 64, true, true, LR_DISC_MAMBA, false, O_ALL},
      {1000, 300, 1, 3, true, true, LR_DISC_ZOH, true, O_H0 | O_LEN},
      {2049, 1, 1, 70, false, false, LR_DISC_ZOH, false, O_D | O_RST},
      {2049, 16, 1, 33, true, true, LR_DISC_BILINEAR, true, O_SP | O_BIAS | O_H0},
      {2049, 64, 1, 8, true, true, LR_DISC_DIRAC, true, O_DA | O_LEN},
      {1000, 300, 1, 2, false, false, LR_DISC_ASYNC, false, O_DA | O_H0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    scfg c = {LR_DTYPE_F32, t[i].cx, t[i].disc, 2, t[i].D, t[i].L, t[i].N, t[i].G, t[i].varB, t[i].varC, t[i].opts, 0};
    sel_case(&c, 100 + i);
  }
}
Test(cuda_parity_scan, selective_variable_grid, .init = on_gpu) { on_path(0, selective_variable_grid_cases); }
Test(cuda_parity_scan, selective_variable_grid_seq, .init = on_gpu) { on_path(1, selective_variable_grid_cases); }
Test(cuda_parity_scan, selective_variable_grid_tile, .init = on_gpu) { on_path(2, selective_variable_grid_cases); }

static void selective_variable_f64_cases(void) {
  scfg a = {LR_DTYPE_F64, false, LR_DISC_MAMBA, 2, 48, 200, 16, 3, true, true, O_ALL, 0};
  sel_case(&a, 7);
  scfg b = {LR_DTYPE_F64, true, LR_DISC_ZOH, 2, 20, 150, 64, 1, true, true, O_H0 | O_RST | O_D, 16};
  sel_case(&b, 8);
}
Test(cuda_parity_scan, selective_variable_f64, .init = on_gpu) { on_path(0, selective_variable_f64_cases); }
Test(cuda_parity_scan, selective_variable_f64_seq, .init = on_gpu) { on_path(1, selective_variable_f64_cases); }
Test(cuda_parity_scan, selective_variable_f64_tile, .init = on_gpu) { on_path(2, selective_variable_f64_cases); }

static void selective_long_mamba_cases(void) {
  scfg c = {LR_DTYPE_F32, false, LR_DISC_MAMBA, 2, 64, 5000, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0};
  sel_case(&c, 11);
}
Test(cuda_parity_scan, selective_long_mamba, .init = on_gpu) { on_path(0, selective_long_mamba_cases); }
Test(cuda_parity_scan, selective_long_mamba_seq, .init = on_gpu) { on_path(1, selective_long_mamba_cases); }
Test(cuda_parity_scan, selective_long_mamba_tile, .init = on_gpu) { on_path(2, selective_long_mamba_cases); }

/* A user chunk above the CUDA limit (clamped) and a small one (many checkpoints). */
static void selective_chunks_cases(void) {
  scfg a = {LR_DTYPE_F32, false, LR_DISC_ZOH, 2, 16, 300, 16, 1, false, false, O_H0, 256};
  sel_case(&a, 21);
  scfg b = {LR_DTYPE_F32, true, LR_DISC_ZOH, 2, 16, 77, 4, 1, true, true, O_H0 | O_LEN, 3};
  sel_case(&b, 22);
}
Test(cuda_parity_scan, selective_chunks, .init = on_gpu) { on_path(0, selective_chunks_cases); }
Test(cuda_parity_scan, selective_chunks_seq, .init = on_gpu) { on_path(1, selective_chunks_cases); }
Test(cuda_parity_scan, selective_chunks_tile, .init = on_gpu) { on_path(2, selective_chunks_cases); }

/* The time-parallel kernels' edges: a lane holds IT consecutive steps, a warp a tile of 32·IT
 * (forward: 512 steps in F32/C64, 256 in F64, 128 in C128; backward: 256 in F32/C64, 128 in
 * F64/C128), blocks hold 4 channels. Lengths L, 0, (2L+1)/3 and one less (B = 4) put a sequence
 * end exactly on and next to tile boundaries (L = 768: 512 and 511); D not a multiple of 4; every
 * specialised instantiation (F32/C64 mamba and zoh, B/C both fixed or both variable) and the
 * generic one (other discretizations, deltaA, mixed fixed/variable B and C, F64, C128); N = 1, 300
 * and 2048 (large carries in shared memory); checkpoints every step (chunk 1) and at an odd
 * spacing (chunk 37). */
static void selective_fast_tiles_cases(void) {
  static const struct {
    lr_dtype rdt;
    bool cx;
    int disc;
    int64_t Bn, D, L, N, G;
    bool varB, varC;
    unsigned opts;
    int64_t chunk;
  } t[] = {
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 4, 9, 768, 16, 3, true, true, O_ALL & ~O_DA, 0},
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 4, 5, 513, 16, 1, false, false, O_D | O_Z | O_H0 | O_LEN | O_RST, 0},
      {LR_DTYPE_F32, false, LR_DISC_ZOH, 4, 7, 1025, 8, 1, false, false, O_D | O_H0 | O_LEN, 0},
      {LR_DTYPE_F32, false, LR_DISC_ZOH, 2, 6, 511, 4, 2, true, true, O_H0 | O_RST | O_Z, 0},
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 2, 4, 600, 16, 1, true, false, O_ALL, 0},
      {LR_DTYPE_F32, false, LR_DISC_BILINEAR, 4, 3, 257, 3, 1, false, true, O_ALL, 37},
      {LR_DTYPE_F32, false, LR_DISC_ZOH, 4, 5, 768, 16, 1, true, true, O_ALL & ~O_DA, 0},
      {LR_DTYPE_F32, true, LR_DISC_ZOH, 4, 5, 768, 16, 1, false, false, O_ALL & ~O_DA, 0},
      {LR_DTYPE_F32, true, LR_DISC_MAMBA, 4, 6, 513, 8, 2, true, true, O_ALL & ~O_DA, 0},
      {LR_DTYPE_F32, true, LR_DISC_DIRAC, 2, 4, 300, 4, 1, true, true, O_ALL, 1},
      {LR_DTYPE_F64, false, LR_DISC_BILINEAR, 4, 5, 257, 8, 1, true, true, O_ALL, 0},
      {LR_DTYPE_F64, false, LR_DISC_MAMBA, 4, 3, 384, 16, 3, true, true, O_ALL & ~O_DA, 0},
      {LR_DTYPE_F64, true, LR_DISC_ZOH, 4, 5, 129, 5, 1, true, true, O_ALL, 0},
      {LR_DTYPE_F64, true, LR_DISC_ASYNC, 4, 2, 384, 3, 1, false, false, O_ALL, 37},
      {LR_DTYPE_F32, true, LR_DISC_ZOH, 2, 2, 300, 300, 1, false, false, O_H0 | O_LEN | O_D, 0},
      {LR_DTYPE_F64, true, LR_DISC_ZOH, 2, 2, 100, 300, 1, true, true, O_H0 | O_RST, 0},
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 2, 2, 40, 2048, 1, true, true, O_H0 | O_D, 0},
      {LR_DTYPE_F32, false, LR_DISC_S7, 4, 5, 520, 1, 1, false, false, O_ALL, 0},
      {LR_DTYPE_F32, false, LR_DISC_RGLRU, 4, 5, 520, 4, 1, true, true, O_ALL, 0},
      {LR_DTYPE_F32, false, LR_DISC_NONE, 4, 5, 200, 4, 1, false, false, O_ALL, 0},
      /* variable B/C with B·G = 16 on a 132-SM GPU: backward blocks of 2 rounds x 4 channels, 19
       * slices per group, the last round with 3 channels */
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 8, 302, 300, 4, 2, true, true, O_ALL & ~O_DA, 0},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    scfg c = {t[i].rdt, t[i].cx, t[i].disc, t[i].Bn, t[i].D, t[i].L, t[i].N, t[i].G, t[i].varB, t[i].varC,
              t[i].opts, t[i].chunk};
    sel_case(&c, 700 + i);
  }
}
Test(cuda_parity_scan, selective_fast_tiles, .init = on_gpu) { on_path(0, selective_fast_tiles_cases); }
Test(cuda_parity_scan, selective_fast_tiles_seq, .init = on_gpu) { on_path(1, selective_fast_tiles_cases); }
Test(cuda_parity_scan, selective_fast_tiles_tile, .init = on_gpu) { on_path(2, selective_fast_tiles_cases); }

/* The kernels for Mamba's F32 case (scan_mamba.cu: N = 8, 16, 32, 64, mamba, dirac, zoh or
 * bilinear, mamba with Δ_A, lengths, resets with mamba and dirac), forced (path 3; auto takes them only with many channels or L
 * <= 64): every N; B/C both variable, both fixed and mixed; groups; D not a multiple of a block's
 * channels (32 or 64 per block: idle lanes) and several blocks per group (the dB/dC partials); L of
 * 1, 3, 33, 100 (not a multiple of 4: word copies and a padded last group) and 1000, 2049; each
 * option on and off; checkpoint spacings 8, 16, 24 and 32 (its backward) and 4, 12, 64 (its forward
 * before the tile backward). */
static void selective_mamba_fast_cases(void) {
  static const struct {
    int64_t Bn, D, L, N, G;
    bool varB, varC;
    unsigned opts;
    int64_t chunk;
  } t[] = {
      {2, 70, 1000, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0},
      {2, 40, 1000, 16, 2, true, true, O_Z | O_SP, 0},
      {3, 9, 33, 16, 3, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0},
      {2, 130, 100, 8, 1, true, true, O_D | O_SP | O_H0, 0},
      {2, 33, 2049, 32, 1, true, true, O_Z | O_BIAS | O_SP, 0},
      {2, 20, 300, 64, 2, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0},
      {2, 37, 300, 16, 1, false, false, O_D | O_BIAS | O_SP | O_H0, 0},
      {2, 37, 300, 16, 1, true, false, O_D | O_Z | O_SP, 0},
      {2, 37, 300, 16, 1, false, true, O_Z | O_H0, 0},
      {1, 12, 1, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0},
      {2, 12, 3, 32, 1, true, true, O_D | O_Z | O_H0, 0},
      {2, 50, 257, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 8},
      {2, 50, 257, 16, 1, true, true, O_D | O_Z | O_SP, 16},
      {2, 50, 260, 8, 1, false, false, O_D | O_Z | O_H0, 24},
      {2, 50, 257, 16, 1, true, true, O_D | O_Z | O_SP | O_H0, 4},
      {2, 50, 260, 16, 1, true, true, O_D | O_Z | O_SP | O_H0, 12},
      {2, 50, 300, 64, 1, true, true, O_D | O_Z | O_SP | O_H0, 64},
  };
  for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
    scfg c = {LR_DTYPE_F32, false, LR_DISC_MAMBA, t[i].Bn, t[i].D, t[i].L, t[i].N, t[i].G, t[i].varB, t[i].varC,
              t[i].opts, t[i].chunk};
    sel_case(&c, 900 + i);
  }
  /* dirac, zoh and bilinear on the same kernels, both directions: every N, B/C both variable or
   * both fixed, L = 1, checkpoint spacing 16; mixed B/C (case 7) is left to the other kernels */
  static const int other[] = {0, 3, 4, 5, 6, 7, 9, 12};
  static const int odisc[] = {LR_DISC_DIRAC, LR_DISC_ZOH, LR_DISC_BILINEAR};
  for (int z = 0; z < 3; z++)
    for (size_t i = 0; i < sizeof other / sizeof other[0]; i++) {
      const int k = other[i];
      scfg c = {LR_DTYPE_F32, false, odisc[z], t[k].Bn, t[k].D, t[k].L, t[k].N, t[k].G,
                t[k].varB, t[k].varC, t[k].opts, t[k].chunk};
      sel_case(&c, 950 + 20 * z + i);
    }
  /* STREAM's Δ_A (mamba, B/C both variable or both fixed) and lengths (L, 0, (2L + 1)/3 and one
   * less: odd ends inside a 16-byte chunk) with every kind of B/C, every N, several blocks per group
   * (the dB/dC partials past a length), L = 1 and 33, checkpoint spacing 16; Δ_A with mixed B/C
   * and with zoh is left to the other kernels */
  static const struct {
    int disc;
    int64_t Bn, D, L, N, G;
    bool varB, varC;
    unsigned opts;
    int64_t chunk;
  } e[] = {
      {LR_DISC_MAMBA, 2, 70, 1000, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0 | O_DA, 0},
      {LR_DISC_MAMBA, 2, 37, 257, 8, 1, false, false, O_D | O_SP | O_DA, 0},
      {LR_DISC_MAMBA, 4, 20, 300, 32, 1, true, true, O_Z | O_DA | O_LEN | O_H0, 0},
      {LR_DISC_MAMBA, 4, 70, 1000, 16, 1, true, true, O_ALL & ~(O_RST | O_DA), 0},
      {LR_DISC_MAMBA, 4, 50, 260, 64, 1, false, false, O_D | O_Z | O_LEN, 0},
      {LR_DISC_MAMBA, 3, 12, 33, 16, 1, true, true, O_D | O_Z | O_SP | O_LEN | O_DA, 16},
      {LR_DISC_MAMBA, 4, 130, 301, 16, 2, true, true, O_D | O_Z | O_SP | O_LEN | O_DA | O_H0, 0},
      {LR_DISC_MAMBA, 4, 37, 300, 16, 1, true, false, O_D | O_Z | O_LEN, 0},
      {LR_DISC_MAMBA, 2, 37, 300, 16, 1, false, true, O_D | O_DA, 0},
      {LR_DISC_MAMBA, 1, 12, 1, 16, 1, true, true, O_ALL & ~O_RST, 0},
      {LR_DISC_DIRAC, 4, 40, 200, 16, 1, true, true, O_D | O_Z | O_SP | O_LEN, 0},
      {LR_DISC_ZOH, 4, 40, 199, 8, 1, false, false, O_D | O_H0 | O_LEN, 0},
      {LR_DISC_BILINEAR, 4, 40, 203, 16, 1, true, true, O_Z | O_SP | O_LEN, 0},
      {LR_DISC_ZOH, 2, 40, 100, 16, 1, true, true, O_D | O_DA, 0},
      /* resets (mamba, dirac, Δ_A): every N and kind of B/C, with lengths, h0, Δ_A, several blocks
       * per group, L = 1 and 33, checkpoint spacing 16; zoh and bilinear with resets are left to the
       * other kernels */
      {LR_DISC_MAMBA, 2, 70, 1000, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0 | O_RST, 0},
      {LR_DISC_MAMBA, 4, 70, 1000, 16, 1, true, true, O_ALL & ~O_DA, 0},
      {LR_DISC_MAMBA, 2, 37, 257, 8, 1, false, false, O_D | O_SP | O_RST, 0},
      {LR_DISC_MAMBA, 3, 20, 300, 32, 1, true, false, O_Z | O_RST | O_H0, 0},
      {LR_DISC_MAMBA, 3, 20, 300, 8, 1, false, true, O_D | O_RST | O_LEN, 0},
      {LR_DISC_MAMBA, 2, 20, 300, 64, 2, true, true, O_ALL, 0},
      {LR_DISC_MAMBA, 3, 12, 33, 16, 1, true, true, O_D | O_Z | O_SP | O_RST | O_DA, 16},
      {LR_DISC_MAMBA, 4, 130, 301, 16, 2, true, true, O_D | O_Z | O_SP | O_RST | O_LEN | O_H0, 0},
      {LR_DISC_MAMBA, 1, 12, 1, 16, 1, true, true, O_ALL, 0},
      {LR_DISC_DIRAC, 4, 40, 200, 16, 1, true, true, O_D | O_Z | O_SP | O_RST, 0},
      {LR_DISC_DIRAC, 2, 40, 203, 8, 1, false, false, O_D | O_RST | O_H0, 0},
      {LR_DISC_ZOH, 2, 40, 100, 16, 1, true, true, O_D | O_RST, 0},
      {LR_DISC_BILINEAR, 2, 40, 100, 16, 1, false, false, O_D | O_RST, 0},
  };
  for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
    scfg c = {LR_DTYPE_F32, false, e[i].disc, e[i].Bn, e[i].D, e[i].L, e[i].N, e[i].G,
              e[i].varB, e[i].varC, e[i].opts, e[i].chunk};
    sel_case(&c, 1020 + i);
  }
}
Test(cuda_parity_scan, selective_mamba_fast, .init = on_gpu) { on_path(3, selective_mamba_fast_cases); }
Test(cuda_parity_scan, selective_mamba_fast_auto, .init = on_gpu) { on_path(0, selective_mamba_fast_cases); }

/* The GPU scan against steps at a length spanning several lanes and tiles: the scan composes the
 * maps of earlier lanes in a tree, the step walks time, so they agree to rounding (tol_of), not
 * bitwise as they do within one lane's IT steps (step_equals_scan, L = 9). */
Test(cuda_parity_scan, step_vs_long_scan, .init = on_gpu) {
  const int64_t Bn = 2, D = 3, L = 600, N = 16;
  scfg c = {LR_DTYPE_F32, false, LR_DISC_MAMBA, Bn, D, L, N, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0};
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  sinputs s;
  make_inputs(&c, &s, 4711);
  lr_set_grad_enabled(false);
  lr_tensor *y, *hL, *state, *ys;
  cr_assert_eq(lr_selective_scan(s.in[0].g, s.in[1].g, s.in[2].g, s.in[3].g, s.in[4].g, &s.og, &y, &hL), LR_OK, "%s",
               lr_last_error());
  cr_assert_eq(lr_empty_on(hL->dtype, LR_DEVICE_CUDA, LR_SHAPE(Bn, D, N), &state), LR_OK);
  cr_assert_eq(lr_tensor_copy_(state, s.in[9].g), LR_OK);
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(Bn, D, L), &ys), LR_OK);
  lr_scan_opts so = s.og;
  so.h0 = NULL;
  for (int64_t t = 0; t < L; t++) {
    lr_tensor *ut, *dt, *zt, *Bt, *Ct, *yt, *ytc, *ysl;
    cr_assert_eq(select_t(s.in[0].g, 2, t, &ut), LR_OK);
    cr_assert_eq(select_t(s.in[1].g, 2, t, &dt), LR_OK);
    cr_assert_eq(select_t(s.in[6].g, 2, t, &zt), LR_OK);
    cr_assert_eq(select_t(s.in[3].g, 3, t, &Bt), LR_OK);
    cr_assert_eq(select_t(s.in[4].g, 3, t, &Ct), LR_OK);
    so.z = zt;
    cr_assert_eq(lr_selective_scan_step(state, ut, dt, s.in[2].g, Bt, Ct, &so, &yt), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_to(yt, LR_DEVICE_CPU, &ytc), LR_OK);
    cr_assert_eq(select_t(ys, 2, t, &ysl), LR_OK);
    cr_assert_eq(lr_tensor_copy_(ysl, ytc), LR_OK);
  }
  check_close("steps vs gpu scan", "y", y, ys);
  lr_tensor *hLc;
  cr_assert_eq(lr_to(hL, LR_DEVICE_CPU, &hLc), LR_OK);
  check_close("steps vs gpu scan", "hL", state, hLc);
  lr_set_grad_enabled(true);
  lr_arena_rewind(ar, m);
}

/* The GPU backward twice on the same inputs: the same bits for every gradient. */
static void backward_deterministic_cases(void) {
  static const scfg cs[] = {
      {LR_DTYPE_F32, true, LR_DISC_ZOH, 3, 96, 500, 16, 2, true, true, O_ALL & ~O_DA, 0},
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 3, 200, 300, 16, 1, true, true, O_ALL & ~O_DA, 0},
      /* scan_mamba.cu's kernels (path 3): 7 blocks per group, the dB/dC partials; with resets */
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 3, 200, 300, 16, 1, true, true, O_D | O_Z | O_BIAS | O_SP | O_H0, 0},
      {LR_DTYPE_F32, false, LR_DISC_MAMBA, 3, 200, 300, 16, 1, true, true, O_D | O_Z | O_SP | O_H0 | O_RST, 0},
  };
  for (size_t ci = 0; ci < sizeof cs / sizeof cs[0]; ci++) {
  const scfg c = cs[ci];
  lr_tensor *g1[NIN] = {0};
  for (int rep = 0; rep < 2; rep++) {
    sinputs s;
    make_inputs(&c, &s, 5);
    lr_tensor *y, *h;
    cr_assert_eq(lr_selective_scan(s.in[0].g, s.in[1].g, s.in[2].g, s.in[3].g, s.in[4].g, &s.og, &y, &h), LR_OK, "%s",
                 lr_last_error());
    uint64_t ws = 77;
    pair w = mk(c.rdt, LR_SHAPE(c.Bn, c.D, c.L), -1, 1, &ws, false);
    pair v = mk(h->dtype, LR_SHAPE(c.Bn, c.D, c.N), -1, 1, &ws, false);
    cr_assert_eq(lr_backward(loss_of(y, w.g, h, v.g), NULL), LR_OK, "%s", lr_last_error());
    for (int i = 0; i < NIN; i++) {
      if (!s.in[i].g) continue;
      if (rep == 0) g1[i] = s.in[i].g->grad;
      else check_bits("selective scan gradient", g1[i], s.in[i].g->grad);
    }
  }
  }
}
Test(cuda_parity_scan, selective_backward_deterministic, .init = on_gpu) { on_path(0, backward_deterministic_cases); }
Test(cuda_parity_scan, selective_backward_deterministic_seq, .init = on_gpu) { on_path(1, backward_deterministic_cases); }
Test(cuda_parity_scan, selective_backward_deterministic_tile, .init = on_gpu) { on_path(2, backward_deterministic_cases); }
Test(cuda_parity_scan, selective_backward_deterministic_mamba, .init = on_gpu) { on_path(3, backward_deterministic_cases); }

/* lr_selective_scan_step on the GPU, L times, equals the GPU scan bitwise (the step runs the scan
 * kernel with L = 1), for every discretization, real and complex, fixed and variable B/C. */
Test(cuda_parity_scan, step_equals_scan, .init = on_gpu) {
  uint64_t seed = 300;
  for (int k = 0; k < 8; k++)
    for (int cx = 0; cx < 2; cx++)
      for (int var = 0; var < 2; var++) {
        int disc = k_discs[k];
        if (cx && (disc == LR_DISC_S7 || disc == LR_DISC_RGLRU)) continue;
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        const int64_t Bn = 2, D = 6, L = 9, N = 16;
        scfg c = {LR_DTYPE_F32, cx, disc, Bn, D, L, N, 2, var, var, O_D | O_Z | O_BIAS | O_SP | O_H0 | O_DA, 0};
        sinputs s;
        make_inputs(&c, &s, seed++);
        lr_set_grad_enabled(false);
        lr_tensor *y, *hL;
        cr_assert_eq(lr_selective_scan(s.in[0].g, s.in[1].g, s.in[2].g, s.in[3].g, s.in[4].g, &s.og, &y, &hL), LR_OK,
                     "%s", lr_last_error());
        lr_tensor *state;
        cr_assert_eq(lr_empty_on(hL->dtype, LR_DEVICE_CUDA, LR_SHAPE(Bn, D, N), &state), LR_OK);
        cr_assert_eq(lr_tensor_copy_(state, s.in[9].g), LR_OK);
        lr_scan_opts so = s.og;
        so.h0 = NULL;
        for (int64_t t = 0; t < L; t++) {
          lr_tensor *ut, *dt, *zt = NULL, *dat = NULL, *Bt = s.in[3].g, *Ct = s.in[4].g, *yt;
          cr_assert_eq(select_t(s.in[0].g, 2, t, &ut), LR_OK);
          cr_assert_eq(select_t(s.in[1].g, 2, t, &dt), LR_OK);
          if (s.in[6].g) cr_assert_eq(select_t(s.in[6].g, 2, t, &zt), LR_OK);
          if (s.in[8].g) cr_assert_eq(select_t(s.in[8].g, 2, t, &dat), LR_OK);
          if (var) {
            cr_assert_eq(select_t(s.in[3].g, 3, t, &Bt), LR_OK);
            cr_assert_eq(select_t(s.in[4].g, 3, t, &Ct), LR_OK);
          }
          so.z = zt;
          so.deltaA = dat;
          cr_assert_eq(lr_selective_scan_step(state, ut, dt, s.in[2].g, Bt, Ct, &so, &yt), LR_OK, "%s", lr_last_error());
          int64_t nc;
          double *hv = host_d(yt, &nc);
          for (int64_t i = 0; i < nc; i++) {
            double r, im;
            lr_tensor_get_c(y, (i / D) * D * L + (i % D) * L + t, &r, &im);
            cr_assert(r == hv[i], "%s %s step %lld: y[%lld] step %.9g scan %.9g", lr_disc_name((lr_disc)disc),
                      cx ? "complex" : "real", (long long)t, (long long)i, hv[i], r);
          }
          free(hv);
        }
        check_bits("step state vs scan hL", state, hL);
        lr_set_grad_enabled(true);
        lr_arena_rewind(ar, m);
      }
}

/* The forward with 4 channels per warp (variable B/C, F32/C64 mamba and zoh without deltaA) against
 * the one-channel forward: y, hL and every gradient (the backward starts from the forward's
 * checkpoints) bitwise equal. Groups whose channel count is not a multiple of 4 (a warp with 1-3
 * channels), several blocks per group, lengths, resets, h0, every option, tile edges (L = 513,
 * 768), checkpoints every step and at 37, N = 1, 300, 2048 (carries in shared memory) and 12000 (too
 * large for 4 channels' carries: falls back to one channel). Prints the first differing component. */
static void cpw_bits(const char *what, const char *name, const lr_tensor *a, const lr_tensor *b) {
  cr_assert((a == NULL) == (b == NULL), "%s %s: present in one run only", what, name);
  if (!a) return;
  int64_t n1, n2;
  double *x = host_d(a, &n1), *y = host_d(b, &n2);
  cr_assert_eq(n1, n2, "%s %s: sizes differ", what, name);
  for (int64_t i = 0; i < n1; i++)
    cr_assert(x[i] == y[i] || (x[i] != x[i] && y[i] != y[i]),
              "%s %s: CPW 1 and 4 differ at component %lld of %lld: %.9g vs %.9g", what, name, (long long)i,
              (long long)n1, x[i], y[i]);
  free(x);
  free(y);
}

Test(cuda_parity_scan, selective_cpw_bitwise, .init = on_gpu) {
  static const struct {
    bool cx;
    int disc;
    int64_t Bn, D, L, N, G;
    unsigned opts;
    int64_t chunk;
  } t[] = {
      {false, LR_DISC_MAMBA, 3, 39, 768, 16, 3, O_ALL & ~O_DA, 0},
      {false, LR_DISC_MAMBA, 2, 70, 1100, 16, 1, O_D | O_Z | O_BIAS | O_SP | O_H0, 0},
      {false, LR_DISC_ZOH, 4, 18, 513, 8, 2, O_H0 | O_LEN | O_RST | O_D, 37},
      {true, LR_DISC_ZOH, 4, 21, 768, 16, 3, O_ALL & ~O_DA, 0},
      {true, LR_DISC_MAMBA, 2, 9, 300, 5, 1, O_ALL & ~O_DA, 1},
      {false, LR_DISC_MAMBA, 2, 6, 200, 1, 2, O_H0 | O_Z, 0},
      {true, LR_DISC_ZOH, 2, 5, 100, 300, 1, O_H0 | O_RST, 0},
      {false, LR_DISC_MAMBA, 1, 7, 40, 2048, 1, O_H0 | O_D, 0},
      {true, LR_DISC_MAMBA, 1, 3, 20, 2048, 1, O_H0 | O_LEN, 0},
      {false, LR_DISC_ZOH, 1, 2, 9, 12000, 1, O_H0, 0},
  };
  static const char *names[NIN] = {"du", "ddelta", "dA", "dB", "dC", "dD", "dz", "ddelta_bias", "ddeltaA", "dh0"};
  const int prev = lr_kcuda_scan_set_cpw(1);
  for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
    scfg c = {LR_DTYPE_F32, t[k].cx, t[k].disc, t[k].Bn, t[k].D, t[k].L, t[k].N, t[k].G, true, true, t[k].opts,
              t[k].chunk};
    char what[160];
    snprintf(what, sizeof what, "cpw case %zu (%s%s, B%lld D%lld L%lld N%lld G%lld, opts %#x, chunk %lld)", k,
             c.cx ? "C64 " : "F32 ", lr_disc_name((lr_disc)c.disc), (long long)c.Bn, (long long)c.D, (long long)c.L,
             (long long)c.N, (long long)c.G, c.opts, (long long)c.chunk);
    lr_arena *ar = lr_arena_current();
    lr_arena_mark m = lr_arena_get_mark(ar);
    lr_tensor *y1 = NULL, *h1 = NULL, *g1[NIN] = {0};
    for (int rep = 0; rep < 2; rep++) {
      lr_kcuda_scan_set_cpw(rep == 0 ? 1 : 4);
      sinputs s;
      make_inputs(&c, &s, 900 + k);
      lr_tensor *y, *h;
      cr_assert_eq(lr_selective_scan(s.in[0].g, s.in[1].g, s.in[2].g, s.in[3].g, s.in[4].g, &s.og, &y, &h), LR_OK,
                   "%s: %s", what, lr_last_error());
      uint64_t ws = 31 + k;
      pair w = mk(c.rdt, LR_SHAPE(c.Bn, c.D, c.L), -1, 1, &ws, false);
      pair v = mk(h->dtype, LR_SHAPE(c.Bn, c.D, c.N), -1, 1, &ws, false);
      cr_assert_eq(lr_backward(loss_of(y, w.g, h, v.g), NULL), LR_OK, "%s: %s", what, lr_last_error());
      if (rep == 0) {
        y1 = y, h1 = h;
        for (int i = 0; i < NIN; i++) g1[i] = s.in[i].g ? s.in[i].g->grad : NULL;
      } else {
        cpw_bits(what, "y", y1, y);
        cpw_bits(what, "hL", h1, h);
        for (int i = 0; i < NIN; i++) cpw_bits(what, names[i], g1[i], s.in[i].g ? s.in[i].g->grad : NULL);
      }
    }
    lr_arena_rewind(ar, m);
  }
  lr_kcuda_scan_set_cpw(prev);
}

/* ================= diagonal scan, S5 ================= */
static void diag_case(lr_dtype dt, int disc, int64_t Bn, int64_t P, int64_t L, int v, uint64_t seed) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  lr_dtype rdt = lr_dtype_real(dt);
  bool dbc = v & 1, ev = v & 2, h0 = v & 4, len = v & 8, rst = v & 16, abc = v & 32; /* abc: Δ_A (P) with Δ (P) */
  pair x = mk(dt, LR_SHAPE(Bn, P, L), -1, 1, &seed, true);
  pair lam = mk(dt, LR_SHAPE(P), -1.2, -0.05, &seed, true);
  pair dl = dbc ? mk(rdt, LR_SHAPE(P), 0.05, 1, &seed, true) : mk(rdt, LR_SHAPE(Bn, P, L), 0.05, 1, &seed, true);
  pair da = {0}, hp = {0}, lp = {0}, rp = {0};
  lr_s5_opts oc = {0}, og = {0};
  oc.disc = og.disc = (lr_disc)disc;
  if (ev) {
    da = (dbc && !abc) ? mk(rdt, LR_SHAPE(Bn, P, L), 0.05, 1, &seed, true) : mk(rdt, LR_SHAPE(P), 0.05, 1, &seed, true);
    oc.deltaA = da.c, og.deltaA = da.g;
  }
  if (h0) {
    hp = mk(dt, LR_SHAPE(Bn, P), -1, 1, &seed, true);
    oc.h0 = hp.c, og.h0 = hp.g;
  }
  if (len) {
    int64_t *lv = malloc(sizeof(int64_t) * (size_t)Bn);
    for (int64_t b = 0; b < Bn; b++) lv[b] = b == 0 ? 0 : b == 1 ? L : L / 2;
    lp = mk_raw(LR_DTYPE_I64, LR_SHAPE(Bn), lv);
    free(lv);
    oc.lengths = lp.c, og.lengths = lp.g;
  }
  if (rst) {
    uint8_t *rv = malloc((size_t)(Bn * L));
    for (int64_t i = 0; i < Bn * L; i++) rv[i] = splitmix(&seed) % 7 == 0;
    rp = mk_raw(LR_DTYPE_BOOL, LR_SHAPE(Bn, L), rv);
    free(rv);
    oc.reset = rp.c, og.reset = rp.g;
  }
  char what[128];
  snprintf(what, sizeof what, "diag_scan[%s,%s,B%lld P%lld L%lld,v%d]", lr_dtype_name(dt), lr_disc_name((lr_disc)disc),
           (long long)Bn, (long long)P, (long long)L, v);
  lr_tensor *hc, *hLc, *hg, *hLg;
  cr_assert_eq(lr_diag_scan(x.c, lam.c, dl.c, &oc, &hc, &hLc), LR_OK, "%s cpu: %s", what, lr_last_error());
  cr_assert_eq(lr_diag_scan(x.g, lam.g, dl.g, &og, &hg, &hLg), LR_OK, "%s gpu: %s", what, lr_last_error());
  check_close(what, "h", hg, hc);
  check_close(what, "hL", hLg, hLc);
  uint64_t ws = seed + 99;
  pair w = mk(dt, LR_SHAPE(Bn, P, L), -1, 1, &ws, false), vv = mk(dt, LR_SHAPE(Bn, P), -1, 1, &ws, false);
  lr_tensor *rc = loss_of(hc, w.c, hLc, vv.c), *rg = loss_of(hg, w.g, hLg, vv.g);
  cr_assert_eq(lr_backward(rc, NULL), LR_OK, "%s cpu backward: %s", what, lr_last_error());
  cr_assert_eq(lr_backward(rg, NULL), LR_OK, "%s gpu backward: %s", what, lr_last_error());
  check_close(what, "dx", x.g->grad, x.c->grad);
  check_close(what, "dlambda", lam.g->grad, lam.c->grad);
  check_close(what, "ddelta", dl.g->grad, dl.c->grad);
  if (ev) check_close(what, "ddeltaA", da.g->grad, da.c->grad);
  if (h0) check_close(what, "dh0", hp.g->grad, hp.c->grad);
  lr_arena_rewind(ar, m);
}

Test(cuda_parity_scan, diag_scan, .init = on_gpu) {
  static const int kinds[4] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC, LR_DISC_MAMBA};
  static const lr_dtype dts[4] = {LR_DTYPE_F32, LR_DTYPE_C64, LR_DTYPE_F64, LR_DTYPE_C128};
  uint64_t seed = 500;
  for (int d = 0; d < 4; d++)
    for (int k = 0; k < 4; k++)
      for (int v = 0; v < 32; v += 3) diag_case(dts[d], kinds[k], 3, 7, (v & 4) ? 1 : 65, v, seed++);
  diag_case(LR_DTYPE_C64, LR_DISC_ZOH, 2, 300, 2049, 31, seed++);
  diag_case(LR_DTYPE_C64, LR_DISC_ZOH, 2, 300, 2049, 9, seed++); /* Δ per state: Ā, B̄ worked out once */
  diag_case(LR_DTYPE_F32, LR_DISC_ZOH, 4, 64, 5000, 4, seed++);
  /* Δ or Δ_A per step, resets (the kernels' per-step maps, VAR): several tiles in F64 and C128 with
   * every option; Event-SSM's case (Δ per state, Δ_A per step) with lengths, and with resets too */
  diag_case(LR_DTYPE_C128, LR_DISC_ZOH, 3, 7, 300, 31, seed++);
  diag_case(LR_DTYPE_F64, LR_DISC_BILINEAR, 3, 7, 300, 26, seed++);
  diag_case(LR_DTYPE_C64, LR_DISC_ZOH, 3, 40, 1000, 11, seed++);
  diag_case(LR_DTYPE_C64, LR_DISC_ZOH, 3, 40, 1000, 27, seed++);
  /* S5's case (Δ, Δ_A per state, no resets): Ā's powers, partial and whole tiles */
  diag_case(LR_DTYPE_C128, LR_DISC_ZOH, 3, 7, 100, 47, seed++);
  diag_case(LR_DTYPE_F32, LR_DISC_BILINEAR, 3, 7, 100, 13, seed++);
  diag_case(LR_DTYPE_C64, LR_DISC_DIRAC, 3, 5, 1, 45, seed++);
  diag_case(LR_DTYPE_F64, LR_DISC_MAMBA, 2, 40, 64, 5, seed++);
}

Test(cuda_parity_scan, s5_scan_and_step, .init = on_gpu) {
  const int64_t Bn = 2, H = 5, P = 8, L = 33;
  uint64_t seed = 900;
  for (int k = 0; k < 3; k++) {
    lr_arena *ar = lr_arena_current();
    lr_arena_mark m = lr_arena_get_mark(ar);
    int disc = k == 0 ? LR_DISC_ZOH : k == 1 ? LR_DISC_BILINEAR : LR_DISC_DIRAC;
    pair u = mk(LR_DTYPE_C64, LR_SHAPE(Bn, H, L), -1, 1, &seed, true);
    pair dl = mk(LR_DTYPE_F32, LR_SHAPE(P), 0.05, 1, &seed, true);
    pair A = mk(LR_DTYPE_C64, LR_SHAPE(P), -1, -0.05, &seed, true);
    pair Bm = mk(LR_DTYPE_C64, LR_SHAPE(P, H), -1, 1, &seed, true);
    pair Cm = mk(LR_DTYPE_C64, LR_SHAPE(H, P), -1, 1, &seed, true);
    pair Dm = mk(LR_DTYPE_F32, LR_SHAPE(H), -1, 1, &seed, true);
    lr_s5_opts o = {0};
    o.disc = (lr_disc)disc;
    o.conj_sym = k != 1;
    lr_tensor *yc, *hc, *yg, *hg;
    cr_assert_eq(lr_s5_scan(u.c, dl.c, A.c, Bm.c, Cm.c, Dm.c, &o, &yc, &hc), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_s5_scan(u.g, dl.g, A.g, Bm.g, Cm.g, Dm.g, &o, &yg, &hg), LR_OK, "%s", lr_last_error());
    check_close("s5_scan", "y", yg, yc);
    check_close("s5_scan", "hL", hg, hc);
    uint64_t ws = 4242;
    pair w = mk(LR_DTYPE_F32, LR_SHAPE(Bn, H, L), -1, 1, &ws, false), v = mk(LR_DTYPE_C64, LR_SHAPE(Bn, P), -1, 1, &ws, false);
    cr_assert_eq(lr_backward(loss_of(yc, w.c, hc, v.c), NULL), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_backward(loss_of(yg, w.g, hg, v.g), NULL), LR_OK, "%s", lr_last_error());
    pair *ins[6] = {&u, &dl, &A, &Bm, &Cm, &Dm};
    static const char *nm[6] = {"du", "ddelta", "dA", "dB", "dC", "dD"};
    for (int i = 0; i < 6; i++) check_close("s5_scan", nm[i], ins[i]->g->grad, ins[i]->c->grad);
    /* steps on the GPU against the GPU scan: the recurrence is the scan's, the projections are
     * cuBLAS products with L = 1 instead of L = 33 (rounding only): tolerance tol_of(F32). */
    lr_set_grad_enabled(false);
    lr_tensor *state;
    cr_assert_eq(lr_zeros_on(LR_DTYPE_C64, LR_DEVICE_CUDA, LR_SHAPE(Bn, P), &state), LR_OK);
    lr_tensor *ys;
    cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(Bn, H, L), &ys), LR_OK);
    for (int64_t t = 0; t < L; t++) {
      lr_tensor *ut, *yt, *ytc, *ysl;
      cr_assert_eq(select_t(u.g, 2, t, &ut), LR_OK);
      cr_assert_eq(lr_s5_step(state, ut, dl.g, A.g, Bm.g, Cm.g, Dm.g, &o, &yt), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_to(yt, LR_DEVICE_CPU, &ytc), LR_OK);
      cr_assert_eq(select_t(ys, 2, t, &ysl), LR_OK);
      cr_assert_eq(lr_tensor_copy_(ysl, ytc), LR_OK);
    }
    check_close("s5 steps vs gpu scan", "y", yg, ys);
    lr_set_grad_enabled(true);
    lr_arena_rewind(ar, m);
  }
}

/* ================= discretize ================= */
Test(cuda_parity_scan, discretize, .init = on_gpu) {
  static const lr_dtype dts[4] = {LR_DTYPE_F32, LR_DTYPE_C64, LR_DTYPE_F64, LR_DTYPE_C128};
  uint64_t seed = 1234;
  for (int d = 0; d < 4; d++)
    for (int k = 0; k < LR_DISC_COUNT; k++)
      for (int ev = 0; ev < 2; ev++) {
        lr_dtype dt = dts[d], rdt = lr_dtype_real(dt);
        bool cx = lr_dtype_is_complex(dt);
        if (cx && (k == LR_DISC_S7 || k == LR_DISC_RGLRU)) continue;
        if (ev && (k == LR_DISC_S7 || k == LR_DISC_RGLRU || k == LR_DISC_NONE)) continue;
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        /* λ (37, 16), Δ (37, 1) broadcast, Δ_A (16): includes tiny Δλ for the series branches */
        pair lam = k == LR_DISC_RGLRU ? mk(dt, LR_SHAPE(37, 16), 0.3, 0.95, &seed, true)
                                      : mk(dt, LR_SHAPE(37, 16), -2, -1e-4, &seed, true);
        pair dl = mk(rdt, LR_SHAPE(37, 1), k == LR_DISC_S7 ? 0.3 : 1e-4, 1.5, &seed, true);
        pair da = ev ? mk(rdt, LR_SHAPE(16), 1e-4, 1.5, &seed, true) : (pair){0};
        lr_tensor *ac, *bc, *ag, *bg;
        cr_assert_eq(lr_discretize(lam.c, dl.c, da.c, (lr_disc)k, &ac, &bc), LR_OK, "%s", lr_last_error());
        cr_assert_eq(lr_discretize(lam.g, dl.g, da.g, (lr_disc)k, &ag, &bg), LR_OK, "%s", lr_last_error());
        char what[96];
        snprintf(what, sizeof what, "discretize[%s,%s%s]", lr_dtype_name(dt), lr_disc_name((lr_disc)k), ev ? ",dA" : "");
        check_close(what, "abar", ag, ac);
        check_close(what, "bbar", bg, bc);
        uint64_t ws = seed;
        pair w1 = mk(dt, LR_SHAPE(37, 16), -1, 1, &ws, false), w2 = mk(dt, LR_SHAPE(37, 16), -1, 1, &ws, false);
        lr_tensor *lc = loss_of(ac, w1.c, bc, w2.c), *lg = loss_of(ag, w1.g, bg, w2.g);
        cr_assert_eq(lr_backward(lc, NULL), LR_OK, "%s", lr_last_error());
        cr_assert_eq(lr_backward(lg, NULL), LR_OK, "%s", lr_last_error());
        check_close(what, "dlambda", lam.g->grad, lam.c->grad);
        check_close(what, "ddelta", dl.g->grad, dl.c->grad);
        if (ev) check_close(what, "ddelta_A", da.g->grad, da.c->grad);
        lr_arena_rewind(ar, m);
      }
}

/* The C64 discretization on the GPU (hardware exp2, sin and cos after reducing the angle to
 * [-π, π], reciprocals; kernels/cuda/scan_k.cuh) against the CPU's full-precision one, with angles
 * Δ Im λ up to ±90 rad (many turns of the reduction) and Δλ from 1e-4 (the series) up: Ā element by
 * element within 4e-6 of |Ā| (sin.approx and cos.approx are good to ~7e-7 absolute; the CPU's
 * cexpf to an ulp or two), B̄ and the gradients within the parity tolerance. */
Test(cuda_parity_scan, discretize_c64_angles, .init = on_gpu) {
  static const int kinds[] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC, LR_DISC_MAMBA, LR_DISC_ASYNC, LR_DISC_NONE};
  uint64_t seed = 4321;
  for (int ki = 0; ki < 6; ki++)
    for (int ev = 0; ev < 2; ev++) {
      const int k = kinds[ki];
      if (ev && k == LR_DISC_NONE) continue;
      lr_arena *ar = lr_arena_current();
      lr_arena_mark m = lr_arena_get_mark(ar);
      float hl[37 * 16 * 2];
      for (int i = 0; i < 37 * 16; i++) {
        hl[2 * i] = (float)unif(&seed, -3, -1e-4);
        hl[2 * i + 1] = (float)unif(&seed, -60, 60);
      }
      pair lam = mk_raw(LR_DTYPE_C64, LR_SHAPE(37, 16), hl);
      cr_assert_eq(lr_requires_grad_(lam.c, true), LR_OK);
      cr_assert_eq(lr_requires_grad_(lam.g, true), LR_OK);
      pair dl = mk(LR_DTYPE_F32, LR_SHAPE(37, 1), 1e-4, 1.5, &seed, true);
      pair da = ev ? mk(LR_DTYPE_F32, LR_SHAPE(16), 1e-4, 1.5, &seed, true) : (pair){0};
      lr_tensor *ac, *bc, *ag, *bg;
      cr_assert_eq(lr_discretize(lam.c, dl.c, da.c, (lr_disc)k, &ac, &bc), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_discretize(lam.g, dl.g, da.g, (lr_disc)k, &ag, &bg), LR_OK, "%s", lr_last_error());
      char what[96];
      snprintf(what, sizeof what, "discretize_c64_angles[%s%s]", lr_disc_name((lr_disc)k), ev ? ",dA" : "");
      int64_t n1, n2;
      double *g = host_d(ag, &n1), *c = host_d(ac, &n2);
      for (int64_t i = 0; i < n1; i += 2) {
        const double e = hypot(g[i] - c[i], g[i + 1] - c[i + 1]), r = hypot(c[i], c[i + 1]);
        cr_assert(e <= 4e-6 * r + 1e-30, "%s: |Ā gpu - cpu| = %g at %lld, |Ā| %g (gpu %g%+gi, cpu %g%+gi)", what, e,
                  (long long)(i / 2), r, g[i], g[i + 1], c[i], c[i + 1]);
      }
      free(g);
      free(c);
      check_close(what, "abar", ag, ac);
      check_close(what, "bbar", bg, bc);
      uint64_t ws = seed;
      pair w1 = mk(LR_DTYPE_C64, LR_SHAPE(37, 16), -1, 1, &ws, false), w2 = mk(LR_DTYPE_C64, LR_SHAPE(37, 16), -1, 1, &ws, false);
      cr_assert_eq(lr_backward(loss_of(ac, w1.c, bc, w2.c), NULL), LR_OK, "%s", lr_last_error());
      cr_assert_eq(lr_backward(loss_of(ag, w1.g, bg, w2.g), NULL), LR_OK, "%s", lr_last_error());
      check_close(what, "dlambda", lam.g->grad, lam.c->grad);
      check_close(what, "ddelta", dl.g->grad, dl.c->grad);
      if (ev) check_close(what, "ddelta_A", da.g->grad, da.c->grad);
      lr_arena_rewind(ar, m);
    }
}

#else
Test(cuda_parity_scan, no_cuda) { cr_skip_test("built without CUDA"); }
#endif
