/* Gradcheck cases for lr_discretize: every kind × real/complex × output Ā or B̄ × with/without
 * Δ_A, with broadcasting (lambda (3, 2), delta (3, 1) or strided (3, 2), delta_A (2,)), plus the
 * small-Δλ series branches. Tolerances: F64/C128 central differences with eps 1e-6 are accurate
 * to ~1e-9 on these smooth functions; the default atol 1e-6 / rtol 1e-5 has a wide margin. */
#include <stdio.h>

#include "tests/cases.h"

typedef struct {
  lr_disc kind;
  int which; /* 0: Ā, 1: B̄ */
} disc_ctx;

static lr_status f_disc(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  disc_ctx *c = ctx;
  lr_tensor *a, *b;
  LR_TRY(lr_discretize(in[0], in[1], in[2], c->kind, &a, &b));
  *out = c->which ? b : a;
  return LR_OK;
}

/* lambda range per kind: rglru needs a in (0, 1); the rest take a stable λ (Re < 0). */
static void lam_range(lr_disc k, double *lo, double *hi) {
  *lo = k == LR_DISC_RGLRU ? 0.3 : -1.2;
  *hi = k == LR_DISC_RGLRU ? 0.9 : -0.2;
}

static lr_status run_all(lr_gc_result *r, double scale) {
  uint64_t seed = 100;
  for (int k = 0; k < LR_DISC_COUNT; k++)
    for (int cx = 0; cx < 2; cx++) {
      if (cx && (k == LR_DISC_S7 || k == LR_DISC_RGLRU)) continue;
      lr_dtype dt = cx ? LR_DTYPE_C128 : LR_DTYPE_F64;
      for (int which = 0; which < 2; which++)
        for (int event = 0; event < 2; event++) {
          if (event && (k == LR_DISC_S7 || k == LR_DISC_RGLRU || k == LR_DISC_NONE)) continue;
          lr_arena *ar = lr_arena_current();
          lr_arena_mark m = lr_arena_get_mark(ar);
          double lo, hi;
          lam_range((lr_disc)k, &lo, &hi);
          if (k != LR_DISC_RGLRU) lo *= scale, hi *= scale;
          lr_tensor *in[3];
          in[0] = gc_leaf(dt, LR_SHAPE(3, 2), lo, hi, seed++);
          in[1] = (which ? gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(3, 2), 0.2, 1.5, seed++)
                         : gc_leaf(LR_DTYPE_F64, LR_SHAPE(3, 1), 0.2, 1.5, seed++));
          in[2] = event ? gc_leaf(LR_DTYPE_F64, LR_SHAPE(2), 0.2, 1.5, seed++) : NULL;
          disc_ctx c = {(lr_disc)k, which};
          char name[96];
          snprintf(name, sizeof name, "discretize[%s,%s,%s%s,scale %g]", lr_disc_name((lr_disc)k), lr_dtype_name(dt),
                   which ? "Bbar" : "Abar", event ? ",delta_A" : "", scale);
          lr_status s = lr_gradcheck(name, f_disc, &c, event ? 3 : 2, in, NULL, r);
          lr_arena_rewind(ar, m);
          if (s != LR_OK || !r->passed) return s;
        }
    }
  return LR_OK;
}

static lr_status disc_all(lr_gc_result *r) { return run_all(r, 1.0); }
/* |Δλ| < 1e-3 and < 0.5: the φ1 and ψ series branches. */
static lr_status disc_small(lr_gc_result *r) { return run_all(r, 1e-4); }
static lr_status disc_mid(lr_gc_result *r) { return run_all(r, 0.3); }

const lr_gc_case lr_cases_discretize[] = {
    {"discretize_all", disc_all},
    {"discretize_mid", disc_mid},
    {"discretize_small", disc_small},
    {NULL, NULL},
};
