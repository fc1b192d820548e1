/* One flavour of the discretization math; included by kernels/discretize_math.h with DM_S (the
 * suffix), DM_T (value type), DM_R (its real type) and DM_COMPLEX defined. No include guard. */
#define DM_CAT2(a, b) a##_##b
#define DM_CAT(a, b) DM_CAT2(a, b)
#define DMF(name) DM_CAT(name, DM_S)

/* φ1(v) = expm1(v)/v (1 at v = 0). expm1 is accurate to full relative precision, so the division
 * is only replaced by its series very near 0 (error v⁴/120 < 1e-14 for |v| < 1e-3). */
LR_HD DM_T DMF(lr_dm_phi1)(DM_T v) {
  if (DMF(dm_abs2)(v) < (DM_R)1e-6) {
    DM_T s = DMF(dm_add)(DMF(dm_scale)(v, (DM_R)(1.0 / 24)), DMF(dm_r)((DM_R)(1.0 / 6)));
    s = DMF(dm_add)(DMF(dm_mul)(s, v), DMF(dm_r)((DM_R)0.5));
    return DMF(dm_add)(DMF(dm_mul)(s, v), DMF(dm_r)((DM_R)1));
  }
  return DMF(dm_div)(DMF(dm_expm1)(v), v);
}

/* ψ(v) = (v e^v - expm1(v))/v² = Σ_k v^k (k+1)/(k+2)!, the λ-derivative factor of zoh's B̄. The
 * direct form cancels for small v (relative error ~eps/|v|²), so |v| < 0.5 uses 12 terms of
 * the series (truncation < 4e-14 relative). */
LR_HD DM_T DMF(lr_dm_psi)(DM_T v) {
  if (DMF(dm_abs2)(v) < (DM_R)0.25) {
    const double c[12] = {1.0 / 2,       1.0 / 3,        1.0 / 8,         1.0 / 30,
                          1.0 / 144,     1.0 / 840,      1.0 / 5760,      1.0 / 45360,
                          1.0 / 403200,  1.0 / 3991680,  1.0 / 43545600,  1.0 / 518918400};
    DM_T acc = DMF(dm_r)((DM_R)c[11]);
    for (int k = 10; k >= 0; k--) acc = DMF(dm_add)(DMF(dm_mul)(acc, v), DMF(dm_r)((DM_R)c[k]));
    return acc;
  }
  DM_T em1 = DMF(dm_expm1)(v);
  DM_T num = DMF(dm_sub)(DMF(dm_mul)(v, DMF(dm_add)(em1, DMF(dm_r)((DM_R)1))), em1);
  return DMF(dm_div)(num, DMF(dm_mul)(v, v));
}

/* Ā and B̄ of one element: lam = λ (rglru: a), dA = Δ_A, d = Δ (s7: a_t, rglru: g). */
LR_HD void DMF(lr_disc_eval)(int kind, DM_T lam, DM_R dA, DM_R d, DM_T *abar, DM_T *bbar) {
  const DM_T one = DMF(dm_r)((DM_R)1);
  switch (kind) {
    case LR_DISC_ZOH:
      *abar = DMF(dm_exp)(DMF(dm_scale)(lam, dA));
      *bbar = DMF(dm_scale)(DMF(lr_dm_phi1)(DMF(dm_scale)(lam, d)), d);
      break;
    case LR_DISC_BILINEAR: {
      DM_T hv = DMF(dm_scale)(lam, dA * (DM_R)0.5);
      *abar = DMF(dm_div)(DMF(dm_add)(one, hv), DMF(dm_sub)(one, hv));
      *bbar = DMF(dm_div)(DMF(dm_r)(d), DMF(dm_sub)(one, DMF(dm_scale)(lam, d * (DM_R)0.5)));
      break;
    }
    case LR_DISC_DIRAC:
      *abar = DMF(dm_exp)(DMF(dm_scale)(lam, dA));
      *bbar = one;
      break;
    case LR_DISC_ASYNC:
      *abar = DMF(dm_exp)(DMF(dm_scale)(lam, dA));
      *bbar = DMF(dm_scale)(DMF(lr_dm_phi1)(DMF(dm_scale)(lam, dA)), dA);
      break;
    case LR_DISC_NONE:
      *abar = lam;
      *bbar = one;
      break;
#if !DM_COMPLEX
    case LR_DISC_S7:
      *abar = (DM_R)1 - (DM_R)1 / (d * d + (DM_R)0.5);
      *bbar = one;
      break;
    case LR_DISC_RGLRU: {
      DM_R lg = d * DMF(dm_log)(lam);
      *abar = DMF(dm_exp)(lg);
      DM_R q = -DMF(dm_expm1)((DM_R)2 * lg);
      *bbar = DMF(dm_sqrt)(q > 0 ? q : (DM_R)0);
      break;
    }
#endif
    default: /* mamba (and, for complex flavours, the real-only kinds the ops reject) */
      *abar = DMF(dm_exp)(DMF(dm_scale)(lam, dA));
      *bbar = DMF(dm_r)(d);
      break;
  }
}

/* Ā, B̄ (bitwise equal to lr_disc_eval's) and their partials p[6] = ∂Ā/∂λ, ∂Ā/∂Δ_A, ∂Ā/∂Δ,
 * ∂B̄/∂λ, ∂B̄/∂Δ_A, ∂B̄/∂Δ. */
LR_HD void DMF(lr_disc_deriv)(int kind, DM_T lam, DM_R dA, DM_R d, DM_T *abar, DM_T *bbar, DM_T *p) {
  const DM_T zero = DMF(dm_r)((DM_R)0), one = DMF(dm_r)((DM_R)1);
  DMF(lr_disc_eval)(kind, lam, dA, d, abar, bbar);
  for (int i = 0; i < 6; i++) p[i] = zero;
  DM_T a = *abar;
  switch (kind) {
    case LR_DISC_ZOH: {
      DM_T v = DMF(dm_scale)(lam, d);
      p[0] = DMF(dm_scale)(a, dA);
      p[1] = DMF(dm_mul)(lam, a);
      p[3] = DMF(dm_scale)(DMF(lr_dm_psi)(v), d * d);
      p[5] = DMF(dm_exp)(v);
      break;
    }
    case LR_DISC_BILINEAR: {
      DM_T qa = DMF(dm_sub)(one, DMF(dm_scale)(lam, dA * (DM_R)0.5));
      DM_T qb = DMF(dm_sub)(one, DMF(dm_scale)(lam, d * (DM_R)0.5));
      DM_T ia2 = DMF(dm_div)(one, DMF(dm_mul)(qa, qa)), ib2 = DMF(dm_div)(one, DMF(dm_mul)(qb, qb));
      p[0] = DMF(dm_scale)(ia2, dA);
      p[1] = DMF(dm_mul)(lam, ia2);
      p[3] = DMF(dm_scale)(ib2, d * d * (DM_R)0.5);
      p[5] = ib2;
      break;
    }
    case LR_DISC_ASYNC: {
      DM_T v = DMF(dm_scale)(lam, dA);
      p[0] = DMF(dm_scale)(a, dA);
      p[1] = DMF(dm_mul)(lam, a);
      p[3] = DMF(dm_scale)(DMF(lr_dm_psi)(v), dA * dA);
      p[4] = a;
      break;
    }
    case LR_DISC_NONE:
      p[0] = one;
      break;
#if !DM_COMPLEX
    case LR_DISC_S7: {
      DM_R q = d * d + (DM_R)0.5;
      p[2] = (DM_R)2 * d / (q * q);
      break;
    }
    case LR_DISC_RGLRU: {
      DM_R b = *bbar;
      p[0] = d * a / lam;
      p[2] = a * DMF(dm_log)(lam);
      p[3] = -a / b * p[0];
      p[5] = -a / b * p[2];
      break;
    }
#endif
    case LR_DISC_DIRAC:
      p[0] = DMF(dm_scale)(a, dA);
      p[1] = DMF(dm_mul)(lam, a);
      break;
    default: /* mamba */
      p[0] = DMF(dm_scale)(a, dA);
      p[1] = DMF(dm_mul)(lam, a);
      p[5] = one;
      break;
  }
}

/* Ā alone and its partials pa[2] = ∂Ā/∂λ, ∂Ā/∂Δ_A (bitwise lr_disc_deriv's) for the kinds whose Ā
 * depends on λ and Δ_A only and B̄ on λ and Δ only (lr_disc_split: zoh, bilinear, dirac, mamba):
 * with Δ fixed and Δ_A per step (Event-SSM), B̄ and its partials are worked out once per state and
 * only Ā per step. */
LR_HD void DMF(lr_disc_deriv_a)(int kind, DM_T lam, DM_R dA, DM_T *abar, DM_T *pa) {
  if (kind == LR_DISC_BILINEAR) {
    const DM_T one = DMF(dm_r)((DM_R)1), hv = DMF(dm_scale)(lam, dA * (DM_R)0.5);
    *abar = DMF(dm_div)(DMF(dm_add)(one, hv), DMF(dm_sub)(one, hv));
    DM_T qa = DMF(dm_sub)(one, DMF(dm_scale)(lam, dA * (DM_R)0.5));
    DM_T ia2 = DMF(dm_div)(one, DMF(dm_mul)(qa, qa));
    pa[0] = DMF(dm_scale)(ia2, dA);
    pa[1] = DMF(dm_mul)(lam, ia2);
    return;
  }
  *abar = DMF(dm_exp)(DMF(dm_scale)(lam, dA));
  pa[0] = DMF(dm_scale)(*abar, dA);
  pa[1] = DMF(dm_mul)(lam, *abar);
}

#undef DMF
#undef DM_CAT
#undef DM_CAT2
#undef DM_S
#undef DM_T
#undef DM_R
#undef DM_COMPLEX
