/* Scans: gradchecks (cases_scan.c), a naive reference at larger sizes, step == scan, edge
 * cases, determinism, error paths. */
#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "kernels/cpu/scan.h"
#include "tests/cases.h"

Test(scan, gradcheck, .timeout = 600) { cr_assert_eq(gc_run_table(lr_cases_scan, "scan"), 0); }

/* ---- helpers ---- */
static lr_tensor *rnd(lr_dtype dt, int ndim, const int64_t *shape, double lo, double hi, uint64_t seed) {
  lr_tensor *t;
  cr_assert_eq(lr_empty(dt, ndim, shape, &t), LR_OK);
  lr_gc_fill_uniform(t, lo, hi, seed);
  return t;
}
static double complex getcx(const lr_tensor *t, int64_t i) {
  double re, im;
  lr_tensor_get_c(t, i, &re, &im);
  return re + I * im;
}

/* Independent closed forms (no discretize_math.h). */
static void naive_disc(int k, double complex lam, double dA, double d, double complex *a, double complex *b) {
  switch (k) {
    case LR_DISC_ZOH: *a = cexp(dA * lam); *b = (cexp(d * lam) - 1) / lam; break;
    case LR_DISC_BILINEAR: *a = (1 + dA * lam / 2) / (1 - dA * lam / 2); *b = d / (1 - d * lam / 2); break;
    case LR_DISC_DIRAC: *a = cexp(dA * lam); *b = 1; break;
    case LR_DISC_S7: *a = 1 - 1 / (d * d + 0.5); *b = 1; break;
    case LR_DISC_RGLRU: *a = pow(creal(lam), d); *b = sqrt(1 - creal(*a) * creal(*a)); break;
    case LR_DISC_ASYNC: *a = cexp(dA * lam); *b = (cexp(dA * lam) - 1) / lam; break;
    case LR_DISC_NONE: *a = lam; *b = 1; break;
    default: *a = cexp(dA * lam); *b = d; break;
  }
}

typedef struct {
  lr_tensor *u, *delta, *A, *B, *C;
  lr_scan_opts o;
} sel_in;

/* Straight per-timestep formula, no chunking; y (Bn*D*L), hL (Bn*D*N) complex. */
static void naive_sel(const sel_in *s, double *y, double complex *hL) {
  const int64_t Bn = s->u->shape[0], D = s->u->shape[1], L = s->u->shape[2], N = s->A->shape[1];
  bool cx = lr_dtype_is_complex(s->A->dtype), varB = s->B->ndim == 4, varC = s->C->ndim == 4;
  int64_t G = varB ? s->B->shape[1] : varC ? s->C->shape[1] : 1;
  for (int64_t b = 0; b < Bn; b++)
    for (int64_t d = 0; d < D; d++) {
      int64_t g = d / (D / G), len = s->o.lengths ? (int64_t)lr_tensor_get(s->o.lengths, b) : L;
      double complex h[64];
      for (int64_t n = 0; n < N; n++) h[n] = s->o.h0 ? getcx(s->o.h0, (b * D + d) * N + n) : 0;
      for (int64_t t = 0; t < L; t++) {
        int64_t i = (b * D + d) * L + t;
        if (t >= len) {
          y[i] = 0;
          continue;
        }
        double x = lr_tensor_get(s->delta, i) + (s->o.delta_bias ? lr_tensor_get(s->o.delta_bias, d) : 0);
        double dl = s->o.delta_softplus && x <= 20 ? log1p(exp(x)) : x;
        double dla = s->o.deltaA ? lr_tensor_get(s->o.deltaA, i) : dl, u = lr_tensor_get(s->u, i);
        bool rst = s->o.reset && lr_tensor_get(s->o.reset, b * L + t) != 0;
        double complex acc = 0;
        for (int64_t n = 0; n < N; n++) {
          double complex a, bb, Bn_ = varB ? getcx(s->B, ((b * G + g) * N + n) * L + t) : getcx(s->B, d * N + n);
          double complex Cn = varC ? getcx(s->C, ((b * G + g) * N + n) * L + t) : getcx(s->C, d * N + n);
          naive_disc(s->o.disc, getcx(s->A, d * N + n), dla, dl, &a, &bb);
          h[n] = a * (rst ? 0 : h[n]) + bb * Bn_ * u;
          acc += Cn * h[n];
        }
        double out = cx ? 2 * creal(acc) : creal(acc);
        if (s->o.D) out += lr_tensor_get(s->o.D, d) * u;
        if (s->o.z) {
          double z = lr_tensor_get(s->o.z, i);
          out *= z / (1 + exp(-z));
        }
        y[i] = out;
      }
      for (int64_t n = 0; n < N; n++) hL[(b * D + d) * N + n] = h[n];
    }
}

static sel_in make_sel(lr_dtype rdt, bool cx, int k, int64_t Bn, int64_t D, int64_t N, int64_t L, int64_t G, uint64_t seed,
                       bool opts) {
  lr_dtype wdt = cx ? lr_dtype_complex(rdt) : rdt;
  bool s7 = k == LR_DISC_S7, rg = k == LR_DISC_RGLRU;
  sel_in s;
  memset(&s, 0, sizeof s);
  s.u = rnd(rdt, LR_SHAPE(Bn, D, L), -1, 1, seed);
  s.delta = rnd(rdt, LR_SHAPE(Bn, D, L), s7 ? 0.3 : rg ? 0.5 : 0.05, s7 ? 1.2 : rg ? 2 : 0.5, seed + 1);
  s.A = rg ? rnd(rdt, LR_SHAPE(D, N), 0.5, 0.99, seed + 2) : rnd(wdt, LR_SHAPE(D, N), -2, -0.1, seed + 2);
  s.B = G ? rnd(wdt, LR_SHAPE(Bn, G, N, L), -1, 1, seed + 3) : rnd(wdt, LR_SHAPE(D, N), -1, 1, seed + 3);
  s.C = G ? rnd(wdt, LR_SHAPE(Bn, G, N, L), -1, 1, seed + 4) : rnd(wdt, LR_SHAPE(D, N), -1, 1, seed + 4);
  s.o.disc = (lr_disc)k;
  if (opts) {
    s.o.D = rnd(rdt, LR_SHAPE(D), -1, 1, seed + 5);
    s.o.z = rnd(rdt, LR_SHAPE(Bn, D, L), -2, 2, seed + 6);
    s.o.delta_bias = rnd(rdt, LR_SHAPE(D), -0.5, 0.5, seed + 7);
    s.o.delta_softplus = !s7 && !rg;
    if (!s7 && !rg && k != LR_DISC_NONE) s.o.deltaA = rnd(rdt, LR_SHAPE(Bn, D, L), 0.05, 0.5, seed + 8);
    s.o.h0 = rnd(wdt, LR_SHAPE(Bn, D, N), -1, 1, seed + 9);
  }
  return s;
}

static const int all_real_kinds[8] = {LR_DISC_MAMBA, LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC,
                                      LR_DISC_ASYNC, LR_DISC_NONE, LR_DISC_S7,       LR_DISC_RGLRU};

static const int sel_kinds[6] = {LR_DISC_MAMBA, LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC, LR_DISC_S7, LR_DISC_RGLRU};

/* Larger sizes than the gradchecks: L = 151 (odd, three 64-step chunks), N = 5, grouped variable
 * B/C, lengths and resets. f64 against the naive formula: 1e-11 relative (151 steps of a few
 * rounded operations each). */
Test(scan, naive_reference) {
  static const int64_t len[3] = {151, 77, 0};
  uint8_t rs[3 * 151] = {0};
  rs[40] = rs[151 + 10] = rs[151 + 100] = rs[2 * 151 + 3] = 1;
  for (int cx = 0; cx < 2; cx++)
    for (int ki = 0; ki < 6; ki++)
      for (int var = 0; var < 2; var++) {
        int k = sel_kinds[ki];
        if (cx && (k == LR_DISC_S7 || k == LR_DISC_RGLRU)) continue;
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        sel_in s = make_sel(LR_DTYPE_F64, cx, k, 3, 4, 5, 151, var ? 2 : 0, 77 + (uint64_t)ki, var);
        if (var) {
          cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(3), len, &s.o.lengths), LR_OK);
          cr_assert_eq(lr_from_host(LR_DTYPE_BOOL, LR_SHAPE(3, 151), rs, &s.o.reset), LR_OK);
        }
        lr_tensor *y, *hL;
        cr_assert_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &s.o, &y, &hL), LR_OK, "%s", lr_last_error());
        static double yr[3 * 4 * 151];
        static double complex hr[3 * 4 * 5];
        naive_sel(&s, yr, hr);
        double err = 0, mx = 0;
        for (int64_t i = 0; i < 3 * 4 * 151; i++) {
          err = fmax(err, fabs(lr_tensor_get(y, i) - yr[i]));
          mx = fmax(mx, fabs(yr[i]));
        }
        for (int64_t i = 0; i < 3 * 4 * 5; i++) err = fmax(err, cabs(getcx(hL, i) - hr[i]));
        cr_expect(err <= 1e-11 * fmax(1, mx), "%s %s var %d: max err %g (max |y| %g)", cx ? "complex" : "real",
                  lr_disc_name((lr_disc)k), var, err, mx);
        lr_arena_rewind(ar, m);
      }
}

/* The CPU's vectorised real path in f32, every discretization (kernels/cpu/scan.c: 8 channels in
 * SIMD lanes, polynomial exp, expm1 and softplus within 2 ulp), D = 11 so that one block of lanes is partly
 * padding, against the naive formula in double on the same f32 inputs: 151 steps of f32 rounding,
 * so 2e-5 of max |y| (observed ~1e-6). Then its backward: chunk 7 and 64 and a second run agree
 * to the bit (exact recomputation, fixed-order sums). */
Test(scan, f32_fast_path_reference_and_determinism) {
  static const int64_t len[3] = {151, 77, 0};
  uint8_t rs[3 * 151] = {0};
  rs[40] = rs[151 + 10] = rs[151 + 100] = rs[2 * 151 + 3] = 1;
  const int *kinds = all_real_kinds;
  for (int ki = 0; ki < 8; ki++)
    for (int var = 0; var < 3; var++) {
      lr_arena *ar = lr_arena_current();
      lr_arena_mark m = lr_arena_get_mark(ar);
      lr_tensor *ref[8] = {0};
      for (int run = 0; run < 3; run++) {
        sel_in s = make_sel(LR_DTYPE_F32, false, kinds[ki], 3, 11, 5, 151, var == 2 ? 11 : var, 500 + (uint64_t)ki, true);
        if (kinds[ki] == LR_DISC_NONE) s.A = rnd(LR_DTYPE_F32, LR_SHAPE(11, 5), -0.95, 0.95, 33); /* |Ā| < 1 */
        if (var) {
          cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(3), len, &s.o.lengths), LR_OK);
          cr_assert_eq(lr_from_host(LR_DTYPE_BOOL, LR_SHAPE(3, 151), rs, &s.o.reset), LR_OK);
        }
        s.o.chunk = run == 1 ? 7 : 64;
        lr_tensor *in[8] = {s.u, s.delta, s.A, s.B, s.C, s.o.D, s.o.delta_bias, s.o.z};
        for (int i = 0; i < 8; i++) in[i]->requires_grad = true;
        lr_tensor *y, *hL, *w;
        cr_assert_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &s.o, &y, &hL), LR_OK, "%s", lr_last_error());
        if (run == 0) {
          static double yr[3 * 11 * 151];
          static double complex hr[3 * 11 * 5];
          naive_sel(&s, yr, hr);
          double err = 0, mx = 0;
          for (int64_t i = 0; i < 3 * 11 * 151; i++) {
            err = fmax(err, fabs(lr_tensor_get(y, i) - yr[i]));
            mx = fmax(mx, fabs(yr[i]));
          }
          for (int64_t i = 0; i < 3 * 11 * 5; i++) err = fmax(err, cabs(getcx(hL, i) - hr[i]));
          cr_expect(err <= 2e-5 * fmax(1, mx), "%s var %d: max err %g (max |y| %g)", lr_disc_name((lr_disc)kinds[ki]),
                    var, err, mx);
        }
        w = rnd(LR_DTYPE_F32, 3, y->shape, -1, 1, 99);
        cr_assert_eq(lr_backward(y, w), LR_OK, "%s", lr_last_error());
        for (int i = 0; i < 8; i++) {
          cr_assert_not_null(in[i]->grad);
          if (run == 0) ref[i] = in[i]->grad;
          else
            cr_expect(memcmp(ref[i]->data, in[i]->grad->data, lr_nbytes(ref[i])) == 0, "%s var %d: input %d differs (run %d)",
                      lr_disc_name((lr_disc)kinds[ki]), var, i, run);
        }
      }
      lr_arena_rewind(ar, m);
    }
}

/* ---- the vectorised real path against the scalar per-element one, at the kernel level ---- */
enum { KO_Y, KO_HL, KO_DU, KO_DDL, KO_DDA, KO_DZ, KO_DA, KO_DB, KO_DC, KO_DD, KO_DBIAS, KO_DH0, KO_N };
static const char *const ko_names[KO_N] = {"y", "hL", "du", "ddelta", "ddeltaA", "dz", "dA_p", "dB", "dC", "dD_p",
                                           "dbias_p", "dh0"};

/* Forward and backward of lr_kcpu_scan_* on s (contiguous tensors from make_sel), the scalar or the
 * vectorised path, nt threads; every output (NULL where absent) into o. gy, ghL random (seed 7). */
static void run_kernels(const sel_in *s, int64_t chunk, bool scalar, int nt, lr_tensor **o) {
  lr_scan_in a;
  memset(&a, 0, sizeof a);
  const lr_dtype rdt = s->u->dtype, wdt = s->A->dtype;
  const int64_t Bn = s->u->shape[0], D = s->u->shape[1], L = s->u->shape[2], N = s->A->shape[1];
  a.rdt = rdt, a.cplx = lr_dtype_is_complex(wdt), a.disc = s->o.disc, a.Bn = Bn, a.D = D, a.L = L, a.N = N;
  a.varB = s->B->ndim == 4, a.varC = s->C->ndim == 4;
  a.G = a.varB ? s->B->shape[1] : a.varC ? s->C->shape[1] : 1;
  a.softplus = s->o.delta_softplus, a.chunk = chunk, a.scalar = scalar;
  a.u = s->u->data, a.delta = s->delta->data, a.A = s->A->data, a.Bm = s->B->data, a.Cm = s->C->data;
  a.deltaA = s->o.deltaA ? s->o.deltaA->data : NULL, a.z = s->o.z ? s->o.z->data : NULL;
  a.Dv = s->o.D ? s->o.D->data : NULL, a.dbias = s->o.delta_bias ? s->o.delta_bias->data : NULL;
  a.h0 = s->o.h0 ? s->o.h0->data : NULL;
  a.lengths = s->o.lengths ? s->o.lengths->data : NULL, a.reset = s->o.reset ? s->o.reset->data : NULL;
  const int64_t nch = lr_kcpu_scan_nchunks(&a);
  for (int i = 0; i < KO_N; i++) o[i] = NULL;
  lr_tensor *ck, *ws, *gy = rnd(rdt, LR_SHAPE(Bn, D, L), -1, 1, 7), *ghL = rnd(wdt, LR_SHAPE(Bn, D, N), -1, 1, 8);
  cr_assert_eq(lr_empty(rdt, LR_SHAPE(Bn, D, L), &o[KO_Y]), LR_OK);
  cr_assert_eq(lr_empty(wdt, LR_SHAPE(Bn, D, N), &o[KO_HL]), LR_OK);
  cr_assert_eq(lr_empty(wdt, LR_SHAPE(Bn, D, nch ? nch : 1, N), &ck), LR_OK);
  size_t wb = lr_kcpu_scan_ws_bytes(&a, nt, true), wf = lr_kcpu_scan_ws_bytes(&a, nt, false);
  cr_assert_eq(lr_empty(LR_DTYPE_F64, LR_SHAPE((int64_t)((wb > wf ? wb : wf) + 7) / 8), &ws), LR_OK);
  lr_kcpu_scan_fwd(&a, o[KO_Y]->data, o[KO_HL]->data, ck->data, ws->data, nt);
  const int64_t bdl[3] = {Bn, D, L}, bdn[3] = {Bn, D, N}, bd[2] = {Bn, D};
  const int ko_bdl[4] = {KO_DU, KO_DDL, KO_DDA, KO_DZ};
  const bool has[4] = {true, true, a.deltaA != NULL, a.z != NULL};
  for (int i = 0; i < 4; i++)
    if (has[i]) cr_assert_eq(lr_empty(rdt, 3, bdl, &o[ko_bdl[i]]), LR_OK);
  cr_assert_eq(lr_empty(wdt, 3, bdn, &o[KO_DA]), LR_OK);
  cr_assert_eq(lr_empty(wdt, 3, bdn, &o[KO_DH0]), LR_OK);
  cr_assert_eq(a.varB ? lr_empty(wdt, 4, s->B->shape, &o[KO_DB]) : lr_empty(wdt, 3, bdn, &o[KO_DB]), LR_OK);
  cr_assert_eq(a.varC ? lr_empty(wdt, 4, s->C->shape, &o[KO_DC]) : lr_empty(wdt, 3, bdn, &o[KO_DC]), LR_OK);
  if (a.Dv) cr_assert_eq(lr_empty(rdt, 2, bd, &o[KO_DD]), LR_OK);
  if (a.dbias) cr_assert_eq(lr_empty(rdt, 2, bd, &o[KO_DBIAS]), LR_OK);
#define KD(i) (o[i] ? o[i]->data : NULL)
  lr_scan_grads g = {gy->data, ghL->data, KD(KO_DU), KD(KO_DDL), KD(KO_DDA), KD(KO_DZ), KD(KO_DA), KD(KO_DB),
                     KD(KO_DC), KD(KO_DD), KD(KO_DBIAS), KD(KO_DH0)};
#undef KD
  lr_kcpu_scan_bwd(&a, ck->data, &g, ws->data, nt);
}

/* Every real discretization with every option (h0, lengths 151/77/0, resets, deltaA where it
 * applies, z, D, delta_bias, softplus; B/C fixed, variable in one group, variable in D groups of
 * one channel), D = 11 (partial blocks of lanes), L = 151, chunk 7 and 64 (several chunks, a
 * partial one): the vectorised path against the scalar one, forward and every gradient, f64 and
 * f32; and the c64 zoh path (fixed B and C, with and without event mode, lengths and resets).
 * Tolerance, relative to max(1, the output's max |.|): f64 1e-13 (exp, expm1 and ψ within 2 ulp
 * of libm's, a few terms summed in another order; observed 6e-15), f32 and c64 5e-6 (151 steps of
 * f32 rounding on both sides; observed 3.6e-7 and 5.6e-7). Then determinism: the vectorised path
 * on 1 and 3 threads gives bitwise the outputs of 2 threads. */
Test(scan, fast_path_vs_scalar_all_kinds, .timeout = 300) {
  static const int64_t len[3] = {151, 77, 0};
  uint8_t rs[3 * 151] = {0};
  rs[40] = rs[151 + 10] = rs[151 + 100] = rs[2 * 151 + 3] = 1;
  for (int prec = 0; prec < 3; prec++) /* f64, f32, c64 (complex zoh, fixed B and C) */
    for (int ki = 0; ki < 8; ki++)
      for (int var = 0; var < 3; var++) {
        const int k = prec == 2 ? LR_DISC_ZOH : all_real_kinds[ki];
        const lr_dtype rdt = prec ? LR_DTYPE_F32 : LR_DTYPE_F64;
        if (prec == 2 && (ki > 0 || var == 2)) continue;
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        sel_in s = make_sel(rdt, prec == 2, k, 3, 11, 5, 151, prec == 2 ? 0 : var == 2 ? 11 : var, 900 + (uint64_t)ki, true);
        if (prec == 2 && var) lr_tensor_fill_(s.o.deltaA, 0.0), s.o.deltaA = NULL; /* var 1: no event mode */
        if (k == LR_DISC_NONE) s.A = rnd(rdt, LR_SHAPE(11, 5), -0.95, 0.95, 33); /* |Ā| = |λ| < 1 */
        if (var) {
          cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(3), len, &s.o.lengths), LR_OK);
          cr_assert_eq(lr_from_host(LR_DTYPE_BOOL, LR_SHAPE(3, 151), rs, &s.o.reset), LR_OK);
        }
        const int64_t chunk = var == 1 ? 7 : 64;
        lr_tensor *sc[KO_N], *fa[KO_N], *f1[KO_N];
        run_kernels(&s, chunk, true, 2, sc);
        run_kernels(&s, chunk, false, 2, fa);
        const double tol = prec ? 5e-6 : 1e-13;
        if (k != LR_DISC_NONE && k != LR_DISC_S7) /* the switch works: polynomial exp vs libm differ somewhere */
          cr_expect(memcmp(sc[KO_Y]->data, fa[KO_Y]->data, lr_nbytes(sc[KO_Y])) != 0, "%s %s var %d: the same bits",
                    lr_dtype_name(rdt), lr_disc_name((lr_disc)k), var);
        for (int i = 0; i < KO_N; i++) {
          cr_assert_eq(sc[i] == NULL, fa[i] == NULL);
          if (!sc[i]) continue;
          double err = 0, mx = 0;
          for (int64_t j = 0; j < lr_numel(sc[i]); j++) {
            double complex x = getcx(sc[i], j), y = getcx(fa[i], j);
            err = isnan(creal(x)) != isnan(creal(y)) ? INFINITY : fmax(err, cabs(x - y));
            mx = fmax(mx, cabs(x));
          }
          cr_expect(err <= tol * fmax(1, mx), "%s %s var %d: %s max err %g (max %g)", lr_dtype_name(rdt),
                    lr_disc_name((lr_disc)k), var, ko_names[i], err, mx);
        }
        for (int nt = 1; nt <= 3; nt += 2) {
          run_kernels(&s, chunk, false, nt, f1);
          for (int i = 0; i < KO_N; i++)
            if (fa[i])
              cr_expect(memcmp(fa[i]->data, f1[i]->data, lr_nbytes(fa[i])) == 0, "%s %s var %d: %s differs on %d threads",
                        lr_dtype_name(rdt), lr_disc_name((lr_disc)k), var, ko_names[i], nt);
        }
        lr_arena_rewind(ar, m);
      }
}

/* Gradients do not depend on the checkpoint spacing (the recomputation is exact) and repeat
 * bitwise: chunk 7, 64 and 1000 and a second run all agree to the bit. */
Test(scan, backward_chunk_invariant_and_deterministic) {
  for (int cx = 0; cx < 2; cx++) {
    lr_tensor *ref[8] = {0};
    for (int run = 0; run < 4; run++) {
      int64_t chunk = run == 0 ? 7 : run == 1 ? 64 : 1000;
      sel_in s = make_sel(LR_DTYPE_F32, cx, LR_DISC_ZOH, 3, 4, 6, 130, run & 1 ? 2 : 2, 5, true);
      s.o.chunk = chunk;
      lr_tensor *in[8] = {s.u, s.delta, s.A, s.B, s.C, s.o.D, s.o.delta_bias, s.o.h0};
      for (int i = 0; i < 8; i++) in[i]->requires_grad = true;
      lr_tensor *y, *hL, *w;
      cr_assert_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &s.o, &y, &hL), LR_OK, "%s", lr_last_error());
      w = rnd(LR_DTYPE_F32, 3, y->shape, -1, 1, 99);
      cr_assert_eq(lr_backward(y, w), LR_OK, "%s", lr_last_error());
      for (int i = 0; i < 8; i++) {
        cr_assert_not_null(in[i]->grad);
        if (run == 0) ref[i] = in[i]->grad;
        else cr_expect(memcmp(ref[i]->data, in[i]->grad->data, lr_nbytes(ref[i])) == 0, "input %d differs at chunk %lld", i, (long long)chunk);
      }
    }
  }
}

/* Steps reproduce the scan bitwise (y at every t and the final state), for every discretization,
 * real and complex, with variable B/C, D, z, delta_bias, softplus and deltaA. */
Test(scan, step_equals_scan) {
  const int64_t Bn = 2, D = 4, N = 3, L = 9;
  for (int cx = 0; cx < 2; cx++)
    for (int k = 0; k < LR_DISC_COUNT; k++)
      for (int var = 0; var < 2; var++) {
        if (cx && (k == LR_DISC_S7 || k == LR_DISC_RGLRU)) continue;
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        sel_in s = make_sel(LR_DTYPE_F32, cx, k, Bn, D, N, L, var ? 2 : 0, 300 + (uint64_t)k, true);
        lr_tensor *y, *hL, *state;
        cr_assert_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &s.o, &y, &hL), LR_OK, "%s", lr_last_error());
        cr_assert_eq(lr_empty(s.A->dtype, LR_SHAPE(Bn, D, N), &state), LR_OK);
        cr_assert_eq(lr_tensor_copy_(state, s.o.h0), LR_OK);
        lr_scan_opts so = s.o;
        so.h0 = NULL;
        for (int64_t t = 0; t < L; t++) {
          lr_tensor *ut, *dt, *zt, *dAt = NULL, *Bt = s.B, *Ct = s.C, *yt;
          lr_tensor_narrow(s.u, 2, t, 1, &ut), lr_tensor_squeeze(ut, 2, &ut);
          lr_tensor_narrow(s.delta, 2, t, 1, &dt), lr_tensor_squeeze(dt, 2, &dt);
          lr_tensor_narrow(s.o.z, 2, t, 1, &zt), lr_tensor_squeeze(zt, 2, &zt);
          if (s.o.deltaA) lr_tensor_narrow(s.o.deltaA, 2, t, 1, &dAt), lr_tensor_squeeze(dAt, 2, &dAt);
          if (var) {
            lr_tensor_narrow(s.B, 3, t, 1, &Bt), lr_tensor_squeeze(Bt, 3, &Bt);
            lr_tensor_narrow(s.C, 3, t, 1, &Ct), lr_tensor_squeeze(Ct, 3, &Ct);
          }
          so.z = zt;
          so.deltaA = dAt;
          cr_assert_eq(lr_selective_scan_step(state, ut, dt, s.A, Bt, Ct, &so, &yt), LR_OK, "%s", lr_last_error());
          for (int64_t i = 0; i < Bn * D; i++) {
            float a = ((float *)yt->data)[i], b = ((float *)y->data)[i * L + t];
            cr_expect(memcmp(&a, &b, sizeof a) == 0, "%s %s var %d t %lld i %lld: step %.9g scan %.9g", cx ? "c" : "r",
                      lr_disc_name((lr_disc)k), var, (long long)t, (long long)i, a, b);
          }
        }
        cr_expect(memcmp(state->data, hL->data, lr_nbytes(hL)) == 0, "%s final state differs", lr_disc_name((lr_disc)k));
        lr_arena_rewind(ar, m);
      }
}

/* The vectorised path's exp has a clamp-free variant for chunks where every |Δ_A λ| <= 86.5 (f32)
 * / 700 (f64), bitwise equal to the clamped one there. Δ_A = 60 at t = 30 (λΔ_A down to -120: Ā
 * subnormal or 0) sends the scan's first chunk of 64 steps to the clamped exp and leaves the rest
 * on the other; single steps decide one timestep at a time. Steps == scan to the bit, f32 and f64
 * (f64 with Δ_A = 400 and λ down to -2). */
Test(scan, exp_variants_agree_bitwise) {
  const int64_t Bn = 2, D = 11, N = 5, L = 70;
  for (int prec = 0; prec < 2; prec++) {
    const lr_dtype rdt = prec ? LR_DTYPE_F64 : LR_DTYPE_F32;
    lr_arena *ar = lr_arena_current();
    lr_arena_mark m = lr_arena_get_mark(ar);
    sel_in s = make_sel(rdt, false, LR_DISC_MAMBA, Bn, D, N, L, 1, 61, true);
    for (int64_t i = 0; i < Bn * D; i++) lr_tensor_set(s.o.deltaA, i * L + 30, prec ? 400.0 : 60.0, 0);
    lr_tensor *y, *hL, *state;
    cr_assert_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &s.o, &y, &hL), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_empty(rdt, LR_SHAPE(Bn, D, N), &state), LR_OK);
    cr_assert_eq(lr_tensor_copy_(state, s.o.h0), LR_OK);
    lr_scan_opts so = s.o;
    so.h0 = NULL;
    int bad = 0;
    for (int64_t t = 0; t < L; t++) {
      lr_tensor *ut, *dt, *zt, *dAt, *Bt, *Ct, *yt;
      lr_tensor_narrow(s.u, 2, t, 1, &ut), lr_tensor_squeeze(ut, 2, &ut);
      lr_tensor_narrow(s.delta, 2, t, 1, &dt), lr_tensor_squeeze(dt, 2, &dt);
      lr_tensor_narrow(s.o.z, 2, t, 1, &zt), lr_tensor_squeeze(zt, 2, &zt);
      lr_tensor_narrow(s.o.deltaA, 2, t, 1, &dAt), lr_tensor_squeeze(dAt, 2, &dAt);
      lr_tensor_narrow(s.B, 3, t, 1, &Bt), lr_tensor_squeeze(Bt, 3, &Bt);
      lr_tensor_narrow(s.C, 3, t, 1, &Ct), lr_tensor_squeeze(Ct, 3, &Ct);
      so.z = zt, so.deltaA = dAt;
      cr_assert_eq(lr_selective_scan_step(state, ut, dt, s.A, Bt, Ct, &so, &yt), LR_OK, "%s", lr_last_error());
      for (int64_t i = 0; i < Bn * D; i++) bad += lr_tensor_get(yt, i) != lr_tensor_get(y, i * L + t);
    }
    cr_expect_eq(bad, 0, "%s: %d outputs differ between steps and the scan", lr_dtype_name(rdt), bad);
    cr_expect(memcmp(state->data, hL->data, lr_nbytes(hL)) == 0, "%s: final state differs", lr_dtype_name(rdt));
    lr_arena_rewind(ar, m);
  }
}

/* S5 steps equal the S5 scan to rounding: the recurrence is the scan's own, but the projections
 * run through BLAS with L = 1 vs L > 1 (different blocking), so 1e-12 in c128. */
Test(scan, s5_step_equals_scan) {
  const int64_t Bn = 2, H = 3, P = 4, L = 7;
  const lr_disc kinds[3] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC};
  for (int k = 0; k < 3; k++) {
    lr_tensor *u = rnd(LR_DTYPE_C128, LR_SHAPE(Bn, H, L), -1, 1, 1), *dl = rnd(LR_DTYPE_F64, LR_SHAPE(Bn, P, L), 0.1, 1, 2);
    lr_tensor *dA = rnd(LR_DTYPE_F64, LR_SHAPE(Bn, P, L), 0.1, 1, 7);
    lr_tensor *A = rnd(LR_DTYPE_C128, LR_SHAPE(P), -1, -0.1, 3), *B = rnd(LR_DTYPE_C128, LR_SHAPE(P, H), -1, 1, 4);
    lr_tensor *C = rnd(LR_DTYPE_C128, LR_SHAPE(H, P), -1, 1, 5), *D = rnd(LR_DTYPE_F64, LR_SHAPE(H), -1, 1, 6);
    lr_tensor *h0 = rnd(LR_DTYPE_C128, LR_SHAPE(Bn, P), -1, 1, 8), *state, *y, *hL;
    lr_s5_opts o = {.deltaA = dA, .h0 = h0, .disc = kinds[k], .conj_sym = true};
    cr_assert_eq(lr_s5_scan(u, dl, A, B, C, D, &o, &y, &hL), LR_OK, "%s", lr_last_error());
    cr_assert_eq(lr_empty(LR_DTYPE_C128, LR_SHAPE(Bn, P), &state), LR_OK);
    lr_tensor_copy_(state, h0);
    for (int64_t t = 0; t < L; t++) {
      lr_tensor *ut, *dt, *dAt, *yt, *uc;
      lr_tensor_narrow(u, 2, t, 1, &ut), lr_tensor_squeeze(ut, 2, &ut);
      lr_tensor_contiguous_raw(ut, &uc);
      lr_tensor_narrow(dl, 2, t, 1, &dt), lr_tensor_squeeze(dt, 2, &dt);
      lr_tensor_narrow(dA, 2, t, 1, &dAt), lr_tensor_squeeze(dAt, 2, &dAt);
      lr_s5_opts so = {.deltaA = dAt, .disc = kinds[k], .conj_sym = true};
      cr_assert_eq(lr_s5_step(state, uc, dt, A, B, C, D, &so, &yt), LR_OK, "%s", lr_last_error());
      for (int64_t i = 0; i < Bn * H; i++)
        cr_expect(fabs(lr_tensor_get(yt, i) - lr_tensor_get(y, i * L + t)) < 1e-12, "t %lld i %lld", (long long)t, (long long)i);
    }
    for (int64_t i = 0; i < Bn * P; i++) cr_expect(cabs(getcx(state, i) - getcx(hL, i)) < 1e-12);
  }
}

/* Ā -> 0 (zoh, λΔ = -60), |Ā| -> 1 (Δ = 1e-9), L = 1, lengths 0 and L: values and finite
 * gradients. */
Test(scan, edge_cases) {
  for (int e = 0; e < 3; e++) {
    int64_t L = e == 2 ? 1 : 6;
    sel_in s = make_sel(LR_DTYPE_F64, e == 1, LR_DISC_ZOH, 2, 2, 2, L, 0, 40, false);
    if (e == 0) lr_tensor_fill_(s.A, -60.0), lr_tensor_fill_(s.delta, 1.0);
    if (e == 1) lr_tensor_fill_(s.delta, 1e-9);
    static const int64_t len[2] = {0, 6};
    if (e < 2) lr_from_host(LR_DTYPE_I64, LR_SHAPE(2), len, &s.o.lengths);
    s.o.h0 = rnd(s.A->dtype, LR_SHAPE(2, 2, 2), -1, 1, 3);
    lr_tensor *in[6] = {s.u, s.delta, s.A, s.B, s.C, s.o.h0};
    for (int i = 0; i < 6; i++) in[i]->requires_grad = true;
    lr_tensor *y, *hL;
    cr_assert_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &s.o, &y, &hL), LR_OK, "%s", lr_last_error());
    static double yr[2 * 2 * 6];
    static double complex hr[8];
    naive_sel(&s, yr, hr);
    for (int64_t i = 0; i < 4 * L; i++) cr_expect(fabs(lr_tensor_get(y, i) - yr[i]) < 1e-12, "e %d i %lld", e, (long long)i);
    if (e < 2) /* batch 0 has length 0: y = 0, hL = h0 */
      for (int64_t i = 0; i < 4; i++) cr_expect(cabs(getcx(hL, i) - getcx(s.o.h0, i)) == 0);
    cr_assert_eq(lr_backward(y, rnd(LR_DTYPE_F64, 3, y->shape, -1, 1, 4)), LR_OK);
    for (int i = 0; i < 6; i++)
      for (int64_t j = 0; j < lr_numel(in[i]); j++) {
        double re, im;
        lr_tensor_get_c(in[i]->grad, j, &re, &im);
        cr_expect(isfinite(re) && isfinite(im), "e %d input %d", e, i);
      }
    if (e < 2) /* nothing reaches positions of batch 0 */
      for (int64_t j = 0; j < 2 * L; j++) cr_expect_eq(lr_tensor_get(s.u->grad, j), 0.0);
  }
}

Test(scan, errors) {
  sel_in s = make_sel(LR_DTYPE_F32, false, LR_DISC_ZOH, 2, 3, 2, 5, 0, 1, false);
  lr_tensor *y = NULL, *Ac, *bad, *B3;
  lr_scan_opts o = {.disc = LR_DISC_S7};
  Ac = rnd(LR_DTYPE_C64, LR_SHAPE(3, 2), -1, 0, 1);
  lr_tensor *Bc = rnd(LR_DTYPE_C64, LR_SHAPE(3, 2), -1, 0, 1);
  cr_expect_eq(lr_selective_scan(s.u, s.delta, Ac, Bc, Bc, &o, &y, NULL), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_selective_scan: s7 takes a real A, got c64");
  bad = rnd(LR_DTYPE_F32, LR_SHAPE(2, 3, 4), 0, 1, 1);
  cr_expect_eq(lr_selective_scan(s.u, bad, s.A, s.B, s.C, NULL, &y, NULL), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_selective_scan: delta is (2, 3, 4), expected (2, 3, 5) (B, D, L) like u");
  bad = rnd(LR_DTYPE_F64, LR_SHAPE(2, 3, 5), 0, 1, 1);
  cr_expect_eq(lr_selective_scan(s.u, bad, s.A, s.B, s.C, NULL, &y, NULL), LR_ERR_DTYPE);
  cr_expect_str_eq(lr_last_error(), "lr_selective_scan: delta is f64, expected f32");
  B3 = rnd(LR_DTYPE_F32, LR_SHAPE(2, 2, 2, 5), 0, 1, 1);
  cr_expect_eq(lr_selective_scan(s.u, s.delta, s.A, B3, s.C, NULL, &y, NULL), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_selective_scan: B has 2 groups, which do not divide D = 3");
  lr_tensor *len;
  lr_from_host(LR_DTYPE_I64, LR_SHAPE(2), (int64_t[]){3, 6}, &len);
  lr_scan_opts o2 = {.lengths = len};
  cr_expect_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &o2, &y, NULL), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_selective_scan: lengths[1] is 6, outside [0, 5]");
  lr_scan_opts o3 = {.deltaA = s.delta, .disc = LR_DISC_RGLRU};
  cr_expect_eq(lr_selective_scan(s.u, s.delta, s.A, s.B, s.C, &o3, &y, NULL), LR_ERR_ARG);
  cr_expect_str_eq(lr_last_error(), "lr_selective_scan: deltaA (event mode) does not apply to rglru");
  cr_expect_eq(lr_selective_scan(NULL, s.delta, s.A, s.B, s.C, NULL, &y, NULL), LR_ERR_ARG);
  cr_expect_null(y);
  lr_tensor *st = rnd(LR_DTYPE_F32, LR_SHAPE(2, 3, 2), 0, 1, 1), *u2 = rnd(LR_DTYPE_F32, LR_SHAPE(2, 3), 0, 1, 1);
  lr_scan_opts o4 = {.h0 = st};
  cr_expect_eq(lr_selective_scan_step(st, u2, u2, s.A, s.B, s.C, &o4, &y), LR_ERR_ARG);
  cr_expect(strstr(lr_last_error(), "lr_selective_scan_step"), "%s", lr_last_error());
  /* S5 */
  lr_tensor *uc = rnd(LR_DTYPE_C64, LR_SHAPE(2, 3, 5), -1, 1, 1), *A5 = rnd(LR_DTYPE_C64, LR_SHAPE(4), -1, 0, 1);
  lr_tensor *B5 = rnd(LR_DTYPE_C64, LR_SHAPE(4, 3), -1, 1, 1), *C5 = rnd(LR_DTYPE_C64, LR_SHAPE(4, 3), -1, 1, 1);
  lr_tensor *d5 = rnd(LR_DTYPE_F32, LR_SHAPE(4), 0.1, 1, 1);
  cr_expect_eq(lr_s5_scan(uc, d5, A5, B5, C5, NULL, NULL, &y, NULL), LR_ERR_SHAPE);
  cr_expect_str_eq(lr_last_error(), "lr_s5_scan: C is (4, 3), expected (3, 4) (H, P)");
  cr_expect_eq(lr_s5_scan(s.u, d5, A5, B5, C5, NULL, NULL, &y, NULL), LR_ERR_DTYPE);
  cr_expect(strstr(lr_last_error(), "lr_s5_scan") && strstr(lr_last_error(), "f32"), "%s", lr_last_error());
}
