/* Gradcheck cases for the scans, generated from tables at tiny sizes (B = 2, D = 3, N = 2, L = 5,
 * chunk = 2 so the backward recomputes across 3 checkpointed chunks):
 *   selective scan: real/complex × every discretization (s7/rglru real) × B/C layout (fixed,
 *     variable G = 1, variable G = 3, variable B + fixed C) × option set (none; D, z, delta_bias,
 *     softplus, deltaA, h0; D, h0, lengths with hL as the output; resets + h0; lengths 0 and L
 *     with resets and hL);
 *   diag scan: real/complex × zoh/bilinear/dirac/mamba × delta (B,P,L) or (P) × deltaA × h0 ×
 *     lengths/resets × output h or hL;
 *   S5 scan: zoh/bilinear/dirac × conj_sym × D × output y or hL.
 * F64/C128 with eps 1e-6: the scans are smooth polynomials/exponentials of their inputs at these
 * sizes, so the default atol 1e-6 / rtol 1e-5 holds with a wide margin. */
#include <stdio.h>

#include "tests/cases.h"

enum { BB = 2, DD = 3, NN = 2, LL = 5 };

typedef struct {
  lr_scan_opts o;
  int out_hL;
} sel_ctx;

static lr_status f_sel(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  sel_ctx *c = ctx;
  lr_tensor *y, *h;
  LR_TRY(lr_selective_scan(in[0], in[1], in[2], in[3], in[4], &c->o, &y, &h));
  *out = c->out_hL ? h : y;
  return LR_OK;
}

static lr_tensor *i64s(const int64_t *v, int64_t n) {
  lr_tensor *t;
  return lr_from_host(LR_DTYPE_I64, 1, (int64_t[]){n}, v, &t) == LR_OK ? gc_input(t) : NULL;
}
static lr_tensor *resets(const uint8_t *v) {
  lr_tensor *t;
  return lr_from_host(LR_DTYPE_BOOL, LR_SHAPE(BB, LL), v, &t) == LR_OK ? gc_input(t) : NULL;
}

static const char *bc_names[4] = {"fixed", "var-G1", "var-G3", "varB-fixedC"};
static const char *opt_names[5] = {"plain", "D,z,bias,softplus,deltaA,h0", "D,h0,lengths->hL", "resets,h0",
                                   "lengths0L,resets->hL"};

static lr_status sel_one(lr_gc_result *r, int cx, int k, int bc, int opt, uint64_t *seed) {
  lr_dtype wdt = cx ? LR_DTYPE_C128 : LR_DTYPE_F64, rdt = LR_DTYPE_F64;
  bool s7 = k == LR_DISC_S7, rg = k == LR_DISC_RGLRU;
  lr_tensor *in[10] = {0};
  in[0] = bc == 1 ? gc_leaf_strided(rdt, LR_SHAPE(BB, DD, LL), -1, 1, (*seed)++) : gc_leaf(rdt, LR_SHAPE(BB, DD, LL), -1, 1, (*seed)++);
  double dlo = s7 ? 0.3 : rg ? 0.5 : 0.6, dhi = s7 ? 1.2 : rg ? 2.0 : 1.0;
  in[1] = gc_leaf(rdt, LR_SHAPE(BB, DD, LL), dlo, dhi, (*seed)++);
  in[2] = rg ? gc_leaf(rdt, LR_SHAPE(DD, NN), 0.3, 0.9, (*seed)++)
             : gc_leaf(wdt, LR_SHAPE(DD, NN), k == LR_DISC_NONE ? -0.7 : -1.5, -0.2, (*seed)++);
  int64_t G = bc == 2 ? 3 : 1;
  if (bc == 0) {
    in[3] = gc_leaf(wdt, LR_SHAPE(DD, NN), -1, 1, (*seed)++);
    in[4] = gc_leaf_strided(wdt, LR_SHAPE(DD, NN), -1, 1, (*seed)++);
  } else {
    in[3] = gc_leaf(wdt, LR_SHAPE(BB, G, NN, LL), -1, 1, (*seed)++);
    in[4] = bc == 3 ? gc_leaf(wdt, LR_SHAPE(DD, NN), -1, 1, (*seed)++) : gc_leaf(wdt, LR_SHAPE(BB, G, NN, LL), -1, 1, (*seed)++);
  }
  sel_ctx c = {{0}, 0};
  c.o.disc = (lr_disc)k;
  c.o.chunk = 2;
  static const int64_t len35[BB] = {3, 5}, len0L[BB] = {0, LL};
  static const uint8_t rs[BB * LL] = {0, 0, 1, 0, 0, 1, 0, 0, 0, 1};
  int n = 5;
  if (opt == 1) {
    in[n++] = c.o.D = gc_leaf(rdt, LR_SHAPE(DD), -1, 1, (*seed)++);
    in[n++] = c.o.z = gc_leaf(rdt, LR_SHAPE(BB, DD, LL), -2, 2, (*seed)++);
    in[n++] = c.o.delta_bias = gc_leaf(rdt, LR_SHAPE(DD), -0.3, 0.3, (*seed)++);
    c.o.delta_softplus = true;
    if (!s7 && !rg && k != LR_DISC_NONE) in[n++] = c.o.deltaA = gc_leaf(rdt, LR_SHAPE(BB, DD, LL), 0.1, 0.8, (*seed)++);
    in[n++] = c.o.h0 = gc_leaf(wdt, LR_SHAPE(BB, DD, NN), -1, 1, (*seed)++);
  } else if (opt == 2) {
    in[n++] = c.o.D = gc_leaf(rdt, LR_SHAPE(DD), -1, 1, (*seed)++);
    in[n++] = c.o.h0 = gc_leaf(wdt, LR_SHAPE(BB, DD, NN), -1, 1, (*seed)++);
    c.o.lengths = i64s(len35, BB);
    c.out_hL = 1;
  } else if (opt == 3) {
    in[n++] = c.o.h0 = gc_leaf(wdt, LR_SHAPE(BB, DD, NN), -1, 1, (*seed)++);
    c.o.reset = resets(rs);
  } else if (opt == 4) {
    in[n++] = c.o.h0 = gc_leaf(wdt, LR_SHAPE(BB, DD, NN), -1, 1, (*seed)++);
    c.o.lengths = i64s(len0L, BB);
    c.o.reset = resets(rs);
    c.out_hL = 1;
  }
  char name[160];
  snprintf(name, sizeof name, "selective_scan[%s,%s,%s,%s]", cx ? "c128" : "f64", lr_disc_name((lr_disc)k), bc_names[bc],
           opt_names[opt]);
  return lr_gradcheck(name, f_sel, &c, n, in, NULL, r);
}

static lr_status sel_range(lr_gc_result *r, int cx) {
  uint64_t seed = 1000 + (uint64_t)cx * 100000;
  for (int k = 0; k < LR_DISC_COUNT; k++) {
    if (cx && (k == LR_DISC_S7 || k == LR_DISC_RGLRU)) continue;
    for (int bc = 0; bc < 4; bc++)
      for (int opt = 0; opt < 5; opt++) {
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        lr_status s = sel_one(r, cx, k, bc, opt, &seed);
        lr_arena_rewind(ar, m);
        if (s != LR_OK || !r->passed) return s;
      }
  }
  return LR_OK;
}
static lr_status sel_real(lr_gc_result *r) { return sel_range(r, 0); }
static lr_status sel_complex(lr_gc_result *r) { return sel_range(r, 1); }

/* ---- diag scan and S5 ---- */
typedef struct {
  lr_s5_opts o;
  int out_hL, hasD;
} ds_ctx;

static lr_status f_ds(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  ds_ctx *c = ctx;
  lr_tensor *h, *hL;
  LR_TRY(lr_diag_scan(in[0], in[1], in[2], &c->o, &h, &hL));
  *out = c->out_hL ? hL : h;
  return LR_OK;
}

static lr_status diag_all(lr_gc_result *r) {
  const lr_disc kinds[4] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC, LR_DISC_MAMBA};
  static const int64_t len[BB] = {4, 0};
  static const uint8_t rs[BB * LL] = {0, 1, 0, 0, 1, 0, 0, 1, 0, 0};
  uint64_t seed = 5000;
  for (int cx = 0; cx < 2; cx++)
    for (int k = 0; k < 4; k++)
      for (int v = 0; v < 8; v++) {
        lr_arena *ar = lr_arena_current();
        lr_arena_mark m = lr_arena_get_mark(ar);
        lr_dtype dt = cx ? LR_DTYPE_C128 : LR_DTYPE_F64;
        bool dbc = v & 1, ev = v & 2, rest = v & 4;
        lr_tensor *in[5];
        int n = 3;
        in[0] = gc_leaf_strided(dt, LR_SHAPE(BB, 3, LL), -1, 1, seed++);
        in[1] = gc_leaf(dt, LR_SHAPE(3), -1.2, -0.2, seed++);
        in[2] = dbc ? gc_leaf(LR_DTYPE_F64, LR_SHAPE(3), 0.2, 1, seed++) : gc_leaf(LR_DTYPE_F64, LR_SHAPE(BB, 3, LL), 0.2, 1, seed++);
        ds_ctx c = {{0}, 0, 0};
        c.o.disc = kinds[k];
        if (ev) in[n++] = c.o.deltaA = dbc ? gc_leaf(LR_DTYPE_F64, LR_SHAPE(BB, 3, LL), 0.2, 1, seed++) : gc_leaf(LR_DTYPE_F64, LR_SHAPE(3), 0.2, 1, seed++);
        if (rest) {
          in[n++] = c.o.h0 = gc_leaf(dt, LR_SHAPE(BB, 3), -1, 1, seed++);
          if (v & 1) c.o.lengths = i64s(len, BB);
          else c.o.reset = resets(rs);
        }
        c.out_hL = (v >> 1) & 1;
        char name[128];
        snprintf(name, sizeof name, "diag_scan[%s,%s,v%d]", lr_dtype_name(dt), lr_disc_name(kinds[k]), v);
        lr_status s = lr_gradcheck(name, f_ds, &c, n, in, NULL, r);
        lr_arena_rewind(ar, m);
        if (s != LR_OK || !r->passed) return s;
      }
  return LR_OK;
}

static lr_status f_s5(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  ds_ctx *c = ctx;
  lr_tensor *y, *hL;
  LR_TRY(lr_s5_scan(in[0], in[1], in[2], in[3], in[4], c->hasD ? in[5] : NULL, &c->o, &y, &hL));
  *out = c->out_hL ? hL : y;
  return LR_OK;
}

static lr_status s5_all(lr_gc_result *r) {
  const lr_disc kinds[3] = {LR_DISC_ZOH, LR_DISC_BILINEAR, LR_DISC_DIRAC};
  enum { H = 3, P = 4 };
  uint64_t seed = 9000;
  for (int k = 0; k < 3; k++)
    for (int v = 0; v < 4; v++) {
      lr_arena *ar = lr_arena_current();
      lr_arena_mark m = lr_arena_get_mark(ar);
      lr_tensor *in[7];
      in[0] = gc_leaf(LR_DTYPE_C128, LR_SHAPE(BB, H, LL), -1, 1, seed++);
      in[1] = (v & 1) ? gc_leaf(LR_DTYPE_F64, LR_SHAPE(P), 0.2, 1, seed++) : gc_leaf(LR_DTYPE_F64, LR_SHAPE(BB, P, LL), 0.2, 1, seed++);
      in[2] = gc_leaf(LR_DTYPE_C128, LR_SHAPE(P), -1.2, -0.2, seed++);
      in[3] = gc_leaf(LR_DTYPE_C128, LR_SHAPE(P, H), -1, 1, seed++);
      in[4] = gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(H, P), -1, 1, seed++);
      ds_ctx c = {{0}, 0, 0};
      int n = 5;
      if (!(v & 2)) {
        in[n++] = gc_leaf(LR_DTYPE_F64, LR_SHAPE(H), -1, 1, seed++);
        c.hasD = 1;
      }
      c.o.disc = kinds[k];
      c.o.conj_sym = v & 1;
      if (v == 3) {
        in[n++] = c.o.h0 = gc_leaf(LR_DTYPE_C128, LR_SHAPE(BB, P), -1, 1, seed++);
        c.o.deltaA = NULL;
      }
      c.out_hL = v == 2;
      char name[96];
      snprintf(name, sizeof name, "s5_scan[%s,v%d]", lr_disc_name(kinds[k]), v);
      lr_status s = lr_gradcheck(name, f_s5, &c, n, in, NULL, r);
      lr_arena_rewind(ar, m);
      if (s != LR_OK || !r->passed) return s;
    }
  return LR_OK;
}

const lr_gc_case lr_cases_scan[] = {
    {"selective_scan_real", sel_real},
    {"selective_scan_complex", sel_complex},
    {"diag_scan_all", diag_all},
    {"s5_scan_all", s5_all},
    {NULL, NULL},
};
