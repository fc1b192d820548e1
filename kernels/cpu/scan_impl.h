/* One flavour of the CPU scan kernels; included by kernels/cpu/scan.c with S (suffix of the
 * discretize_math flavour), T (state/weight type), R (real type), CPLX. No include guard. */
#define SC2(a, b) a##_##b
#define SC(a, b) SC2(a, b)
#define SF(name) SC(name, S)
#define X(op) SC(dm_##op, S)

/* Δ after bias and softplus (lrnnx: log1p(exp(x)) for x <= 20, else x). */
static inline R SF(delta_of)(R x, bool softplus) {
  if (!softplus || x > (R)20) return x;
  return (R)log1p(exp((double)x));
}

/* One timestep of one channel, shared by the scan, its backward recomputation and the single
 * step, so all three produce bitwise the same states: h_n <- Ā_n (reset ? 0 : h_n) + B̄_n (B_n u);
 * returns Σ_n C_n h_n (complex: 2 Re Σ_n C_n h_n). */
static inline __attribute__((always_inline)) R SF(sel_step)(int disc, int64_t N, T *h, const T *A, const T *Bp,
                                                             int64_t bst, const T *Cp, int64_t cst, R u, R dl, R dlA,
                                                             bool reset) {
  R acc = 0;
  const T zero = X(r)((R)0);
  for (int64_t n = 0; n < N; n++) {
    T ab, bb;
    SF(lr_disc_eval)(disc, A[n], dlA, dl, &ab, &bb);
    T hp = reset ? zero : h[n];
    T hn = X(add)(X(mul)(ab, hp), X(mul)(bb, X(scale)(Bp[n * bst], u)));
    h[n] = hn;
    acc += X(redot)(Cp[n * cst], X(conj)(hn));
  }
  return CPLX ? (R)2 * acc : acc;
}

/* out = acc + D u, then out · silu(z). */
static inline R SF(sel_out)(R acc, const R *Dv, int64_t d, R u, const R *z) {
  R out = Dv ? acc + Dv[d] * u : acc;
  if (z) out = out * (*z / ((R)1 + (R)exp(-(double)*z)));
  return out;
}

#if FAST
/* ---- fast path: real A, every discretization (see the file comment) ----
 * A block is W consecutive channels d0 .. d0 + nl - 1 of one batch row b (and of one group when
 * B or C is variable); lane l is channel d0 + l, lanes >= nl are padding (all inputs 0: their
 * states, B and C partials stay 0 and finite; a per-lane sum of theirs may hold inf / NaN (rglru:
 * λ = 0), but nothing of a padding lane is written out or mixed into another lane). Per-timestep
 * inputs are transposed into lane vectors one chunk at a time; the state is h[n] (N lane
 * vectors). */
#define FCH 64 /* forward chunk (timesteps transposed at a time) */

static inline bool SF(fast_ok)(const lr_scan_in *a) { return a->disc >= 0 && a->disc < LR_DISC_COUNT; }

/* mamba and dirac: Ā = exp(Δ_A λ) is the only per-(t, n) coefficient (B̄ = Δ or 1 is per (t)). */
static inline bool SF(fast_simple)(const lr_scan_in *a) {
  return a->disc == LR_DISC_MAMBA || a->disc == LR_DISC_DIRAC;
}

/* Channels of a group (the lanes of a block never straddle two groups). */
static inline int64_t SF(fast_per)(const lr_scan_in *a) { return (a->varB || a->varC) ? a->D / a->G : a->D; }

static inline __attribute__((always_inline)) void SF(fast_lanes)(VR *r, const R *v, int64_t d0, int nl) {
  *r = (VR){};
  if (v)
    for (int l = 0; l < nl; l++) (*r)[l] = v[d0 + l];
}

/* dst[k][l] = src[l L + k] for k < K, lanes l < nl (0 beyond); full f32 blocks go 8 timesteps
 * at a time through an 8x8 register transpose. */
static inline __attribute__((always_inline)) void SF(fast_gather)(VR *dst, const R *src, int64_t L, int nl,
                                                                   int64_t K) {
  int64_t k = 0;
#if VTR_OK
  if (nl == W)
    for (; k + W <= K; k += W) {
      VR v[W];
      for (int l = 0; l < W; l++) memcpy(&v[l], src + l * L + k, sizeof(VR));
      VTR(dst + k, v);
    }
#endif
  for (; k < K; k++) {
    dst[k] = (VR){};
    for (int l = 0; l < nl; l++) dst[k][l] = src[l * L + k];
  }
}

/* dst[l L + k] = src[k][l] for k < K, l < nl (the inverse of fast_gather). */
static inline __attribute__((always_inline)) void SF(fast_scatter)(R *dst, const VR *src, int64_t L, int nl,
                                                                    int64_t K) {
  int64_t k = 0;
#if VTR_OK
  if (nl == W)
    for (; k + W <= K; k += W) {
      VR v[W];
      VTR(v, src + k);
      for (int l = 0; l < W; l++) memcpy(dst + l * L + k, &v[l], sizeof(VR));
    }
#endif
  for (; k < K; k++)
    for (int l = 0; l < nl; l++) dst[l * L + k] = src[k][l];
}

/* Lane vectors of the per-timestep inputs of timesteps [t0, t0 + K) of the block: x = delta +
 * bias (before softplus), Δ, Δ_A, u, B̄u and z. */
static inline __attribute__((always_inline)) void SF(fast_load)(const lr_scan_in *a, int64_t b, int64_t d0, int nl,
                                                                 int64_t t0, int64_t K, VR *xs, VR *dl, VR *dla,
                                                                 VR *us, VR *bu, VR *zs) {
  const int64_t D = a->D, L = a->L, row = (b * D + d0) * L + t0;
  SF(fast_gather)(xs, (const R *)a->delta + row, L, nl, K);
  SF(fast_gather)(us, (const R *)a->u + row, L, nl, K);
  if (a->deltaA) SF(fast_gather)(dla, (const R *)a->deltaA + row, L, nl, K);
  if (a->z) SF(fast_gather)(zs, (const R *)a->z + row, L, nl, K);
  else
    for (int64_t k = 0; k < K; k++) zs[k] = (VR){};
  if (a->dbias) {
    VR bias;
    SF(fast_lanes)(&bias, (const R *)a->dbias, d0, nl);
    for (int64_t k = 0; k < K; k++) xs[k] += bias;
  }
  const bool mamba = a->disc == LR_DISC_MAMBA;
  for (int64_t k = 0; k < K; k++) {
    if (a->softplus) VSOFTPLUS(&dl[k], &xs[k]);
    else dl[k] = xs[k];
    if (!a->deltaA) dla[k] = dl[k];
    bu[k] = mamba ? dl[k] * us[k] : us[k];
  }
}

/* A (and the fixed B, C) of the block as lane vectors. */
static inline void SF(fast_weights)(const lr_scan_in *a, int64_t d0, int nl, VR *At, VR *Bt, VR *Ct) {
  const int64_t N = a->N;
  for (int64_t n = 0; n < N; n++) At[n] = Bt[n] = Ct[n] = (VR){};
  for (int l = 0; l < nl; l++)
    for (int64_t n = 0; n < N; n++) {
      At[n][l] = ((const R *)a->A)[(d0 + l) * N + n];
      if (!a->varB) Bt[n][l] = ((const R *)a->Bm)[(d0 + l) * N + n];
      if (!a->varC) Ct[n][l] = ((const R *)a->Cm)[(d0 + l) * N + n];
    }
}

/* The variable B and C transposed once per call to (B, G, L, N) in the shared workspace, so that a
 * timestep's N values are contiguous (N rows L apart would share a handful of L1 sets) and every
 * block of the group reads them from there. Tiles of 64 timesteps, parallel over (b, g, tile). */
static void SF(fast_transpose_bc)(const lr_scan_in *a, R *BT, R *CT, int nt) {
  const int64_t N = a->N, L = a->L, nbg = a->Bn * a->G, tiles = (L + 63) / 64;
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && nbg * tiles > 1 && nbg * L * N > 32768)
  for (int64_t i = 0; i < nbg * tiles; i++) {
    const int64_t bg = i / tiles, t0 = (i % tiles) * 64, K = L - t0 < 64 ? L - t0 : 64;
    for (int m = 0; m < 2; m++) {
      const R *src = m ? (a->varC ? (const R *)a->Cm : NULL) : (a->varB ? (const R *)a->Bm : NULL);
      R *dst = m ? CT : BT;
      if (!src) continue;
      for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) dst[(bg * L + t0 + k) * N + n] = src[(bg * N + n) * L + t0 + k];
    }
  }
}

/* Ā = exp(Δ_A A[n]) of timesteps [0, K) of a chunk into ab (K, N): independent exps, computed
 * ahead of the recurrence so that their latency overlaps. */
static inline __attribute__((always_inline)) void SF(fast_abar)(int64_t N, int64_t K, const VR *At, const VR *dla,
                                                                 VR *ab) {
  /* |Δ_A A_n| <= EXPN_MAX for the whole chunk (max_k |Δ_A| · max_n |A_n|; NaN and inf fail the
   * test): the clamp-free exp, bitwise equal to VEXP there, so the choice never shows in results. */
  VR am = (VR){};
  for (int64_t n = 0; n < N; n++) {
    VR v = VSEL(At[n] < (R)0, -At[n], At[n]);
    v = VSEL(v <= (R)1e30, v, (VR){} + (R)INFINITY);
    am = VSEL(v > am, v, am);
  }
  __typeof__(am < am) okm = am == am;
  for (int64_t k = 0; k < K; k++) {
    const VR d = VSEL(dla[k] < (R)0, -dla[k], dla[k]);
    okm &= d * am <= EXPN_MAX;
  }
  bool ok = true;
  for (int l = 0; l < W; l++) ok = ok && okm[l];
  if (ok) {
    for (int64_t k = 0; k < K; k++) {
      const VR dk = dla[k];
      for (int64_t n = 0; n < N; n++) {
        VR x = dk * At[n];
        VEXPN(&ab[k * N + n], &x);
      }
    }
    return;
  }
  for (int64_t k = 0; k < K; k++) {
    const VR dk = dla[k];
    for (int64_t n = 0; n < N; n++) {
      VR x = dk * At[n];
      VEXP(&ab[k * N + n], &x);
    }
  }
}

/* ψ(v) = (v e^v - expm1(v))/v² (discretize_math_impl.h), from e = e^v and m = expm1(v): the
 * series Σ_k v^k (k+1)/(k+2)! on |v| < 0.5 (PSI_DEG terms: truncation < 1e-9 (f32), 1e-20 (f64)
 * relative), the direct form elsewhere. */
static const double SF(psi_c)[16] = {1.0 / 2,          1.0 / 3,           1.0 / 8,           1.0 / 30,
                                     1.0 / 144,        1.0 / 840,         1.0 / 5760,        1.0 / 45360,
                                     1.0 / 403200,     1.0 / 3991680,     1.0 / 43545600,    1.0 / 518918400,
                                     1.0 / 6706022400, 1.0 / 93405312000, 1.0 / 1394852659200,
                                     1.0 / 22230464256000};
static inline __attribute__((always_inline)) void SF(fast_psi)(VR *o, const VR *pv, const VR *pe, const VR *pm) {
  const VR v = *pv;
  VR s = (VR){} + (R)SF(psi_c)[PSI_DEG - 1];
  for (int i = PSI_DEG - 2; i >= 0; i--) s = s * v + (R)SF(psi_c)[i];
  const VR dr = (v * *pe - *pm) / (v * v);
  *o = VSEL(v * v < (R)0.25, s, dr);
}

/* φ1(v) = expm1(v)/v (1 at v = 0) from m = expm1(v). */
static inline __attribute__((always_inline)) void SF(fast_phi1)(VR *o, const VR *pv, const VR *pm) {
  *o = VSEL(*pv == (R)0, (VR){} + (R)1, *pm / *pv);
}

/* The kinds other than mamba / dirac: Ā and B̄ of timesteps [0, K) of a chunk into ab, bb (K, N),
 * the math of discretize_math_impl.h lane by lane (within a few ulp of it, not bitwise). With der
 * (backward) also the partials, four (K, N) arrays ds apart: ∂Ā/∂λ, ∂B̄/∂λ, then ∂Ā/∂τ_A (τ_A:
 * the step Ā depends on: Δ_A, or Δ for s7 / rglru, which take no Δ_A) and ∂B̄/∂τ_B (Δ; Δ_A for
 * async). lnA: ln λ per state (rglru). */
static inline __attribute__((always_inline)) void SF(fast_coef)(int disc, bool event, int64_t N, int64_t K,
                                                                 const VR *At, const VR *lnA, const VR *dl,
                                                                 const VR *dla, VR *ab, VR *bb, VR *der,
                                                                 int64_t ds) {
  const VR one = (VR){} + (R)1;
  switch (disc) {
    case LR_DISC_ZOH: /* Ā = e^{Δ_A λ}, B̄ = Δ φ1(Δλ) */
      for (int64_t k = 0; k < K; k++) {
        const VR d = dl[k], da = dla[k];
        for (int64_t n = 0; n < N; n++) {
          const int64_t i = k * N + n;
          VR v = At[n] * d, e, m, phi;
          VEXPX(&e, &m, &v);
          if (event) {
            VR va = At[n] * da, ma;
            VEXPX(&ab[i], &ma, &va);
          } else ab[i] = e;
          SF(fast_phi1)(&phi, &v, &m);
          bb[i] = phi * d;
          if (der) {
            VR ps;
            SF(fast_psi)(&ps, &v, &e, &m);
            der[i] = ab[i] * da;
            der[ds + i] = ps * (d * d);
            der[2 * ds + i] = At[n] * ab[i];
            der[3 * ds + i] = e;
          }
        }
      }
      break;
    case LR_DISC_ASYNC: /* Ā = e^{Δ_A λ}, B̄ = Δ_A φ1(Δ_A λ) */
      for (int64_t k = 0; k < K; k++) {
        const VR da = dla[k];
        for (int64_t n = 0; n < N; n++) {
          const int64_t i = k * N + n;
          VR v = At[n] * da, e, m, phi;
          VEXPX(&e, &m, &v);
          ab[i] = e;
          SF(fast_phi1)(&phi, &v, &m);
          bb[i] = phi * da;
          if (der) {
            VR ps;
            SF(fast_psi)(&ps, &v, &e, &m);
            der[i] = e * da;
            der[ds + i] = ps * (da * da);
            der[2 * ds + i] = At[n] * e;
            der[3 * ds + i] = e;
          }
        }
      }
      break;
    case LR_DISC_BILINEAR: /* Ā = (1 + Δ_A λ/2)/(1 - Δ_A λ/2), B̄ = Δ/(1 - Δλ/2) */
      for (int64_t k = 0; k < K; k++) {
        const VR d = dl[k], da = dla[k], hd = d * (R)0.5, hda = da * (R)0.5;
        for (int64_t n = 0; n < N; n++) {
          const int64_t i = k * N + n;
          const VR hv = At[n] * hda, qa = one - hv, qb = one - At[n] * hd;
          ab[i] = (one + hv) / qa;
          bb[i] = d / qb;
          if (der) {
            const VR ia2 = one / (qa * qa), ib2 = one / (qb * qb);
            der[i] = ia2 * da;
            der[ds + i] = ib2 * (d * hd);
            der[2 * ds + i] = At[n] * ia2;
            der[3 * ds + i] = ib2;
          }
        }
      }
      break;
    case LR_DISC_NONE: /* Ā = λ, B̄ = 1 */
      for (int64_t k = 0; k < K; k++)
        for (int64_t n = 0; n < N; n++) {
          const int64_t i = k * N + n;
          ab[i] = At[n];
          bb[i] = one;
          if (der) {
            der[i] = one;
            der[ds + i] = der[2 * ds + i] = der[3 * ds + i] = (VR){};
          }
        }
      break;
    case LR_DISC_S7: /* Ā = 1 - 1/(Δ² + 1/2), B̄ = 1 */
      for (int64_t k = 0; k < K; k++) {
        const VR d = dl[k], q = d * d + (R)0.5, a7 = one - one / q, p2 = (R)2 * d / (q * q);
        for (int64_t n = 0; n < N; n++) {
          const int64_t i = k * N + n;
          ab[i] = a7;
          bb[i] = one;
          if (der) {
            der[i] = der[ds + i] = der[3 * ds + i] = (VR){};
            der[2 * ds + i] = p2;
          }
        }
      }
      break;
    case LR_DISC_RGLRU: /* Ā = a^g = e^{g ln a}, B̄ = sqrt(-expm1(2 g ln a)); g in the Δ slot */
      for (int64_t k = 0; k < K; k++) {
        const VR d = dl[k];
        for (int64_t n = 0; n < N; n++) {
          const int64_t i = k * N + n;
          VR lg = d * lnA[n], lg2 = (R)2 * lg, e, m, e2, m2;
          VEXPX(&e, &m, &lg);
          VEXPX(&e2, &m2, &lg2);
          VR q = -m2, bv;
          q = VSEL(q > (R)0, q, (VR){});
          for (int l = 0; l < W; l++) bv[l] = RSQRT(q[l]);
          ab[i] = e;
          bb[i] = bv;
          if (der) {
            const VR f = -e / bv, p0 = d * e / At[n], p2 = e * lnA[n];
            der[i] = p0;
            der[ds + i] = f * p0;
            der[2 * ds + i] = p2;
            der[3 * ds + i] = f * p2;
          }
        }
      }
      break;
    default: break;
  }
}

/* ln λ per state for rglru (libm, as the scalar path; 0 in padding lanes). */
static inline void SF(fast_lna)(const lr_scan_in *a, int64_t d0, int nl, VR *lnA) {
  const int64_t N = a->N;
  for (int64_t n = 0; n < N; n++) {
    lnA[n] = (VR){};
    if (a->disc == LR_DISC_RGLRU)
      for (int l = 0; l < nl; l++) lnA[n][l] = RLOG(((const R *)a->A)[(d0 + l) * N + n]);
  }
}

/* One timestep of the block: h[n] <- Ā[n] h[n] (0 across a reset) + B̄u · B[n]; *pacc = Σ_n
 * C[n] h[n] in order n = 0, 1, ... B̄u is *pbu (mamba / dirac: per timestep) or bb[n] · *pbu
 * (the other kinds; *pbu = u). Shared by the forward and the backward's recomputation (bitwise
 * equal states); callers pass bb as NULL or not at separate call sites, so that it folds. */
static inline __attribute__((always_inline)) void SF(fast_step)(int64_t N, VR *h, const VR *hprev, const VR *ab,
                                                                 const VR *bb, const VR *Bt, const VR *Ct,
                                                                 const R *Bv, const R *Cv, const VR *pbu, bool rst,
                                                                 VR *pacc) {
  const VR buk = *pbu;
  VR acc = (VR){};
#define BUN (bb ? bb[n] * buk : buk)
  if (rst) {
    for (int64_t n = 0; n < N; n++) {
      VR hv = Bv ? BUN * Bv[n] : BUN * Bt[n];
      h[n] = hv;
      acc += Cv ? Cv[n] * hv : Ct[n] * hv;
    }
  } else if (Bv && Cv) {
    for (int64_t n = 0; n < N; n++) {
      VR hv = ab[n] * hprev[n] + BUN * Bv[n];
      h[n] = hv;
      acc += Cv[n] * hv;
    }
  } else {
    for (int64_t n = 0; n < N; n++) {
      VR hv = ab[n] * hprev[n] + (Bv ? BUN * Bv[n] : BUN * Bt[n]);
      h[n] = hv;
      acc += Cv ? Cv[n] * hv : Ct[n] * hv;
    }
  }
#undef BUN
  *pacc = acc;
}

/* out = acc + D u, then · silu(z) (z / (1 + e^-z)). Vectors travel by pointer (-Wpsabi). */
static inline __attribute__((always_inline)) void SF(fast_out)(const lr_scan_in *a, VR *out, const VR *Dl,
                                                                const VR *uk, const VR *zk) {
  VR o = a->Dv ? *out + *Dl * *uk : *out;
  if (a->z) {
    VR s;
    VSIGMOID(&s, zk);
    o = o * (*zk * s);
  }
  *out = o;
}


LR_CLONES static void SF(fast_fwd_block)(const lr_scan_in *a, const R *BT, const R *CT, int64_t b, int64_t d0,
                                          int nl, VR *w, R *y, T *hL, T *ckpt) {
  const int64_t D = a->D, L = a->L, N = a->N, Tc = a->chunk, nch = lr_kcpu_scan_nchunks(a);
  const int64_t g = d0 / (a->D / a->G);
  VR *h = w, *At = h + N, *Bt = At + N, *Ct = Bt + N, *xs = Ct + N, *dl = xs + FCH, *dla = dl + FCH, *us = dla + FCH,
     *bu = us + FCH, *zs = bu + FCH, *ys = zs + FCH, *ab = ys + FCH, *bb = ab + FCH * N, *lnA = bb + FCH * N;
  const bool simple = SF(fast_simple)(a);
  SF(fast_weights)(a, d0, nl, At, Bt, Ct);
  SF(fast_lna)(a, d0, nl, lnA);
  VR Dl;
  SF(fast_lanes)(&Dl, (const R *)a->Dv, d0, nl);
  const R *Bg = BT ? BT + (b * a->G + g) * L * N : NULL; /* (L, N) */
  const R *Cg = CT ? CT + (b * a->G + g) * L * N : NULL;
  const uint8_t *rs = a->reset ? a->reset + b * L : NULL;
  const int64_t len = a->lengths ? a->lengths[b] : L;
  for (int64_t n = 0; n < N; n++) h[n] = (VR){};
  if (a->h0)
    for (int l = 0; l < nl; l++)
      for (int64_t n = 0; n < N; n++) h[n][l] = ((const R *)a->h0)[(b * D + d0 + l) * N + n];
  for (int64_t t0 = 0; t0 < len; t0 += FCH) {
    const int64_t K = len - t0 < FCH ? len - t0 : FCH;
    SF(fast_load)(a, b, d0, nl, t0, K, xs, dl, dla, us, bu, zs);
    if (simple) SF(fast_abar)(N, K, At, dla, ab);
    else SF(fast_coef)(a->disc, a->deltaA != NULL, N, K, At, lnA, dl, dla, ab, bb, NULL, 0);
#define FWD_STEPS(BB)                                                                                             \
  for (int64_t k = 0; k < K; k++) {                                                                               \
    const int64_t t = t0 + k;                                                                                     \
    if (ckpt && t % Tc == 0)                                                                                      \
      for (int l = 0; l < nl; l++)                                                                                \
        for (int64_t n = 0; n < N; n++) ckpt[((b * D + d0 + l) * nch + t / Tc) * N + n] = h[n][l];               \
    SF(fast_step)(N, h, h, ab + k * N, BB, Bt, Ct, Bg ? Bg + t * N : NULL, Cg ? Cg + t * N : NULL, &bu[k],       \
                  rs && rs[t], &ys[k]);                                                                           \
    SF(fast_out)(a, &ys[k], &Dl, &us[k], &zs[k]);                                                                 \
  }
    if (simple) FWD_STEPS(NULL)
    else FWD_STEPS(bb + k * N)
#undef FWD_STEPS
    SF(fast_scatter)(y + (b * D + d0) * L + t0, ys, L, nl, K);
  }
  for (int l = 0; l < nl; l++) {
    R *yr = y + (b * D + d0 + l) * L;
    for (int64_t t = len; t < L; t++) yr[t] = 0;
    for (int64_t n = 0; n < N; n++) hL[(b * D + d0 + l) * N + n] = h[n][l];
  }
}

#define BST(N) (8 * (N) + 3) /* lane vectors of a block's backward state */
/* Blocks of a backward unit: a group's with a variable B or C, else 1. */
static size_t SF(fast_per_blocks)(const lr_scan_in *a) {
  return (a->varB || a->varC) ? (size_t)((SF(fast_per)(a) + W - 1) / W) : 1;
}

/* Lane vectors per thread in the forward / backward. */
static size_t SF(fast_ws)(const lr_scan_in *a, bool backward) {
  const size_t N = (size_t)a->N, Tc = (size_t)a->chunk;
  const size_t coef = SF(fast_simple)(a) ? 0 : 5; /* B̄ and the four partials, (Tc, N) each */
  return backward ? (Tc + 1) * N + (3 + coef) * Tc * N + 12 * Tc + SF(fast_per_blocks)(a) * BST(N)
                  : 5 * N + 7 * FCH + 2 * FCH * N;
}

/* Lane vectors shared by the threads: the transposed variable B and C. */
static size_t SF(fast_shared)(const lr_scan_in *a) {
  const size_t one = (size_t)(a->Bn * a->G * a->L * a->N) * sizeof(R);
  return ((a->varB ? one : 0) + (a->varC ? one : 0) + 2 * sizeof(VR)) / sizeof(VR);
}

/* Backward. A unit (see fast_bwd) walks the chunks in reverse and, per chunk, its blocks in
 * order. Per block, the chunk's states (and Ā) are recomputed from the checkpoints into hs
 * ((Tc + 1) N) and ab (Tc N), then the adjoint runs backwards; the block's running adjoint and
 * sums live in its state st (fast_bst lane vectors). With a variable B (C) the contributions to
 * dB (dC) of all the unit's blocks are added lane-wise into EB (EC) in block order and summed
 * over the lanes (vhsum's fixed tree) into the group's row once per chunk. */
static inline void SF(fast_bwd_init)(const lr_scan_in *a, const lr_scan_grads *gr, int64_t b, int64_t d0, int nl,
                                     VR *st) {
  const int64_t D = a->D, L = a->L, N = a->N;
  VR *dh = st, *dA = dh + N, *dBl = dA + N, *dCl = dBl + N, *At = dCl + N, *Bt = At + N, *Ct = Bt + N, *sc = Ct + N;
  SF(fast_weights)(a, d0, nl, At, Bt, Ct);
  SF(fast_lna)(a, d0, nl, sc + 3);
  SF(fast_lanes)(&sc[0], (const R *)a->Dv, d0, nl);
  sc[1] = sc[2] = (VR){}; /* Σ dD, Σ dbias */
  const int64_t len = a->lengths ? a->lengths[b] : L;
  for (int64_t n = 0; n < N; n++) dh[n] = dA[n] = dBl[n] = dCl[n] = (VR){};
  if (gr->ghL)
    for (int l = 0; l < nl; l++)
      for (int64_t n = 0; n < N; n++) dh[n][l] = ((const R *)gr->ghL)[(b * D + d0 + l) * N + n];
  for (int l = 0; l < nl; l++) {
    const int64_t row = (b * D + d0 + l) * L;
    for (int64_t t = len; t < L; t++) {
      ((R *)gr->du)[row + t] = ((R *)gr->ddelta)[row + t] = 0;
      if (a->deltaA) ((R *)gr->ddeltaA)[row + t] = 0;
      if (a->z) ((R *)gr->dz)[row + t] = 0;
    }
  }
}

static inline void SF(fast_bwd_fini)(const lr_scan_in *a, const lr_scan_grads *gr, int64_t b, int64_t d0, int nl,
                                     const VR *st) {
  const int64_t D = a->D, N = a->N;
  const VR *dh = st, *dA = dh + N, *dBl = dA + N, *dCl = dBl + N, *sc = dCl + 4 * N;
  for (int l = 0; l < nl; l++) {
    const int64_t o = (b * D + d0 + l) * N;
    for (int64_t n = 0; n < N; n++) {
      ((R *)gr->dh0)[o + n] = dh[n][l];
      ((R *)gr->dA_p)[o + n] = dA[n][l];
      if (!a->varB) ((R *)gr->dB)[o + n] = dBl[n][l];
      if (!a->varC) ((R *)gr->dC)[o + n] = dCl[n][l];
    }
    if (gr->dD_p) ((R *)gr->dD_p)[b * D + d0 + l] = sc[1][l];
    if (gr->dbias_p) ((R *)gr->dbias_p)[b * D + d0 + l] = sc[2][l];
  }
}

/* Chunk c of one block; w: the thread's scratch. */
static inline __attribute__((always_inline)) void SF(fast_bwd_chunk)(const lr_scan_in *a, const lr_scan_grads *gr,
                                                                      const R *Bg, const R *Cg, int64_t b, int64_t d0,
                                                                      int nl, int64_t c, const T *ckpt, VR *st,
                                                                      VR *w) {
  const int64_t D = a->D, L = a->L, N = a->N, Tc = a->chunk, nch = lr_kcpu_scan_nchunks(a);
  VR *dh = st, *dA = dh + N, *dBl = dA + N, *dCl = dBl + N, *At = dCl + N, *Bt = At + N, *Ct = Bt + N, *sc = Ct + N;
  VR *hs = w, *ab = hs + (Tc + 1) * N, *EB = ab + Tc * N, *EC = EB + Tc * N, *xs = EC + Tc * N, *dl = xs + Tc,
     *dla = dl + Tc, *us = dla + Tc, *bu = us + Tc, *zs = bu + Tc, *gy = zs + Tc, *accs = gy + Tc, *go = accs + Tc,
     *du = go + Tc, *dd = du + Tc, *dz = dd + Tc, *bbs = dz + Tc, *der = bbs + Tc * N, *lnA = sc + 3;
  const VR Dl = sc[0];
  const bool simple = SF(fast_simple)(a), async = a->disc == LR_DISC_ASYNC;
  VR dDacc = sc[1], dbacc = sc[2];
  const uint8_t *rs = a->reset ? a->reset + b * L : NULL;
  const int64_t len = a->lengths ? a->lengths[b] : L;
  const bool mamba = a->disc == LR_DISC_MAMBA;
  {
    const int64_t t0 = c * Tc, K = (t0 + Tc < len ? t0 + Tc : len) - t0;
    SF(fast_load)(a, b, d0, nl, t0, K, xs, dl, dla, us, bu, zs);
    SF(fast_gather)(gy, (const R *)gr->gy + (b * D + d0) * L + t0, L, nl, K);
    for (int64_t n = 0; n < N; n++) hs[n] = (VR){};
    for (int l = 0; l < nl; l++)
      for (int64_t n = 0; n < N; n++) hs[n][l] = ckpt[((b * D + d0 + l) * nch + c) * N + n];
    if (simple) {
      SF(fast_abar)(N, K, At, dla, ab);
      for (int64_t k = 0; k < K; k++) {
        const int64_t t = t0 + k;
        SF(fast_step)(N, hs + (k + 1) * N, hs + k * N, ab + k * N, NULL, Bt, Ct, Bg ? Bg + t * N : NULL,
                      Cg ? Cg + t * N : NULL, &bu[k], rs && rs[t], &accs[k]);
      }
    } else {
      SF(fast_coef)(a->disc, a->deltaA != NULL, N, K, At, lnA, dl, dla, ab, bbs, der, Tc * N);
      for (int64_t k = 0; k < K; k++) {
        const int64_t t = t0 + k;
        SF(fast_step)(N, hs + (k + 1) * N, hs + k * N, ab + k * N, bbs + k * N, Bt, Ct, Bg ? Bg + t * N : NULL,
                      Cg ? Cg + t * N : NULL, &bu[k], rs && rs[t], &accs[k]);
      }
    }
    /* the output's chain: gradient into the scan (go), dz, the D terms (t descending as before) */
    for (int64_t k = K - 1; k >= 0; k--) {
      VR gk = gy[k], uk = us[k];
      if (a->z) {
        VR out = a->Dv ? accs[k] + Dl * uk : accs[k], zk = zs[k], s;
        VSIGMOID(&s, &zk);
        dz[k] = gk * out * s * ((R)1 + zk * ((R)1 - s));
        gk = gk * (zk * s);
      }
      du[k] = (VR){};
      if (a->Dv) {
        dDacc += gk * uk;
        du[k] = gk * Dl;
      }
      go[k] = gk;
    }
    for (int64_t k = K - 1; k >= 0; k--) {
      const int64_t t = t0 + k;
      const bool rst = rs && rs[t];
      const VR cf = go[k], dlk = dl[k], dlak = dla[k], uk = us[k];
      const VR *hcur = hs + (k + 1) * N, *hprev = hs + k * N, *abk = ab + k * N;
      const R *Bv = Bg ? Bg + t * N : NULL, *Cv = Cg ? Cg + t * N : NULL;
      VR duacc = du[k], gd = (VR){}, gda = (VR){};
      if (!simple) {
        const VR *bbk = bbs + k * N, *pAl = der + k * N, *pBl = pAl + Tc * N, *pAt = pBl + Tc * N,
                 *pBt = pAt + Tc * N;
        VR gdb = (VR){};
        for (int64_t n = 0; n < N; n++) {
          const VR Cn = Cv ? (VR){} + Cv[n] : Ct[n], Bn = Bv ? (VR){} + Bv[n] : Bt[n];
          const VR G = dh[n] + cf * Cn, dCc = cf * hcur[n];
          if (Cv) EC[k * N + n] += dCc;
          else dCl[n] += dCc;
          const VR hp = rst ? (VR){} : hprev[n], bv = bbk[n], gA = G * hp, gB = G * (Bn * uk);
          dA[n] += gA * pAl[n] + gB * pBl[n];
          gda += gA * pAt[n];
          gdb += gB * pBt[n];
          const VR dBc = (G * bv) * uk;
          if (Bv) EB[k * N + n] += dBc;
          else dBl[n] += dBc;
          duacc += G * (bv * Bn);
          dh[n] = rst ? (VR){} : G * abk[n];
        }
        if (async) gda += gdb;
        else gd += gdb;
      } else /* mamba / dirac */
        for (int64_t n = 0; n < N; n++) {
          const VR Cn = Cv ? (VR){} + Cv[n] : Ct[n], Bn = Bv ? (VR){} + Bv[n] : Bt[n];
          const VR G = dh[n] + cf * Cn, dCc = cf * hcur[n];
          if (Cv) EC[k * N + n] += dCc;
          else dCl[n] += dCc;
          const VR hp = rst ? (VR){} : hprev[n], av = abk[n], gA = G * hp;
          dA[n] += gA * (av * dlak);
          gda += gA * (At[n] * av);
          VR dBc;
          if (mamba) {
            gd += G * (Bn * uk);
            dBc = (G * dlk) * uk;
            duacc += G * (dlk * Bn);
          } else {
            dBc = G * uk;
            duacc += G * Bn;
          }
          if (Bv) EB[k * N + n] += dBc;
          else dBl[n] += dBc;
          dh[n] = rst ? (VR){} : G * av;
        }
      du[k] = duacc;
      if (a->deltaA) dla[k] = gda; /* dla is free now: ddeltaA */
      else gd += gda;
      if (a->softplus) {
        VR s, x = xs[k];
        VSIGMOID(&s, &x);
        gd = VSEL(x > (R)20, gd, gd * s);
      }
      dd[k] = gd;
      dbacc += gd;
    }
    const int64_t row = (b * D + d0) * L + t0;
    SF(fast_scatter)((R *)gr->du + row, du, L, nl, K);
    SF(fast_scatter)((R *)gr->ddelta + row, dd, L, nl, K);
    if (a->deltaA) SF(fast_scatter)((R *)gr->ddeltaA + row, dla, L, nl, K);
    if (a->z) SF(fast_scatter)((R *)gr->dz + row, dz, L, nl, K);
  }
  sc[1] = dDacc;
  sc[2] = dbacc;
}

/* Units own their outputs as in scan_bwd: (b, g) with a variable B or C (its blocks in order),
 * (b, block) otherwise. ws: the shared transposed B, C, then per thread the scratch and the
 * states of the unit's blocks. */
LR_CLONES static void SF(fast_bwd_unit)(const lr_scan_in *a, const lr_scan_grads *gr, const R *BT, const R *CT,
                                         int64_t b, int64_t g, int64_t j0, int64_t j1, const T *ckpt, VR *w) {
  const int64_t L = a->L, N = a->N, Tc = a->chunk, per = SF(fast_per)(a);
  const int64_t len = a->lengths ? a->lengths[b] : L;
  VR *st = w + SF(fast_ws)(a, true) - (size_t)(SF(fast_per_blocks)(a)) * BST(N), *EB = w + (Tc + 1) * N + Tc * N,
     *EC = EB + Tc * N;
  const R *Bg = BT ? BT + (b * a->G + g) * L * N : NULL; /* (L, N) */
  const R *Cg = CT ? CT + (b * a->G + g) * L * N : NULL;
  R *dBg = a->varB ? (R *)gr->dB + (b * a->G + g) * N * L : NULL;
  R *dCg = a->varC ? (R *)gr->dC + (b * a->G + g) * N * L : NULL;
  if (dBg) memset(dBg, 0, sizeof(R) * (size_t)(N * L));
  if (dCg) memset(dCg, 0, sizeof(R) * (size_t)(N * L));
  for (int64_t j = j0; j < j1; j++) {
    const int nl = (int)(per - j * W < W ? per - j * W : W);
    SF(fast_bwd_init)(a, gr, b, g * per + j * W, nl, st + (j - j0) * BST(N));
  }
  for (int64_t c = (len + Tc - 1) / Tc - 1; c >= 0; c--) {
    const int64_t t0 = c * Tc, K = (t0 + Tc < len ? t0 + Tc : len) - t0;
    if (Bg || Cg)
      for (int64_t i = 0; i < K * N; i++) EB[i] = EC[i] = (VR){};
    for (int64_t j = j0; j < j1; j++) {
      const int nl = (int)(per - j * W < W ? per - j * W : W);
      SF(fast_bwd_chunk)(a, gr, Bg, Cg, b, g * per + j * W, nl, c, ckpt, st + (j - j0) * BST(N), w);
    }
    if (dBg)
      for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) dBg[n * L + t0 + k] = VHSUM(&EB[k * N + n]);
    if (dCg)
      for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++) dCg[n * L + t0 + k] = VHSUM(&EC[k * N + n]);
  }
  for (int64_t j = j0; j < j1; j++) {
    const int nl = (int)(per - j * W < W ? per - j * W : W);
    SF(fast_bwd_fini)(a, gr, b, g * per + j * W, nl, st + (j - j0) * BST(N));
  }
}

static void SF(fast_fwd)(const lr_scan_in *a, void *y, void *hL, void *ckpt, void *ws, int nt) {
  const int64_t per = SF(fast_per)(a), nb = (per + W - 1) / W, units = a->Bn * (a->D / per) * nb;
  const size_t pt = SF(fast_ws)(a, false), sh = SF(fast_shared)(a);
  const size_t one = (size_t)(a->Bn * a->G * a->L * a->N);
  R *BT = a->varB ? (R *)ws : NULL, *CT = a->varC ? (R *)ws + (a->varB ? one : 0) : NULL;
  if (BT || CT) SF(fast_transpose_bc)(a, BT, CT, nt);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && units > 1)
  for (int64_t i = 0; i < units; i++) {
    const int64_t b = i / (units / a->Bn), r = i % (units / a->Bn), d0 = (r / nb) * per + (r % nb) * W;
    const int nl = (int)(per - (r % nb) * W < W ? per - (r % nb) * W : W);
    SF(fast_fwd_block)(a, BT, CT, b, d0, nl, (VR *)ws + sh + (size_t)omp_get_thread_num() * pt, (R *)y, (T *)hL,
                       (T *)ckpt);
  }
}

/* Units own their outputs as in scan_bwd: (b, g) with a variable B or C (its blocks in order),
 * (b, block) otherwise. */
static void SF(fast_bwd)(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *gr, void *ws, int nt) {
  const bool var = a->varB || a->varC;
  const int64_t per = SF(fast_per)(a), nb = (per + W - 1) / W, ng = a->D / per;
  const int64_t units = var ? a->Bn * ng : a->Bn * ng * nb;
  const size_t pt = SF(fast_ws)(a, true), sh = SF(fast_shared)(a);
  const size_t one = (size_t)(a->Bn * a->G * a->L * a->N);
  R *BT = a->varB ? (R *)ws : NULL, *CT = a->varC ? (R *)ws + (a->varB ? one : 0) : NULL;
  if (BT || CT) SF(fast_transpose_bc)(a, BT, CT, nt);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && units > 1)
  for (int64_t i = 0; i < units; i++) {
    VR *w = (VR *)ws + sh + (size_t)omp_get_thread_num() * pt;
    const int64_t b = var ? i / ng : i / (ng * nb), r = var ? i % ng : i % (ng * nb);
    const int64_t g = var ? r : r / nb, j0 = var ? 0 : r % nb, j1 = var ? nb : j0 + 1;
    SF(fast_bwd_unit)(a, gr, BT, CT, b, g, j0, j1, (const T *)ckpt, w);
  }
}
#endif

static void SF(fwd_chan)(const lr_scan_in *a, int64_t b, int64_t d, T *h, R *y, T *hL, T *ckpt) {
  const int64_t D = a->D, L = a->L, N = a->N, Tc = a->chunk, nch = lr_kcpu_scan_nchunks(a);
  const int64_t row = (b * D + d) * L, g = d / (D / a->G);
  const R *u = (const R *)a->u + row, *dlt = (const R *)a->delta + row;
  const R *dA = a->deltaA ? (const R *)a->deltaA + row : NULL, *z = a->z ? (const R *)a->z + row : NULL;
  const R *Dv = a->Dv, *bias = a->dbias;
  const T *A = (const T *)a->A + d * N;
  const T *Bb = a->varB ? (const T *)a->Bm + (b * a->G + g) * N * L : (const T *)a->Bm + d * N;
  const T *Cb = a->varC ? (const T *)a->Cm + (b * a->G + g) * N * L : (const T *)a->Cm + d * N;
  const int64_t bst = a->varB ? L : 1, cst = a->varC ? L : 1, btt = a->varB ? 1 : 0, ctt = a->varC ? 1 : 0;
  const uint8_t *rs = a->reset ? a->reset + b * L : NULL;
  int64_t len = a->lengths ? a->lengths[b] : L;
  if (a->h0) memcpy(h, (const T *)a->h0 + (b * D + d) * N, sizeof(T) * (size_t)N);
  else for (int64_t n = 0; n < N; n++) h[n] = X(r)((R)0);
  R *yr = y + row;
  for (int64_t t = 0; t < len; t++) {
    if (ckpt && t % Tc == 0) memcpy(ckpt + ((b * D + d) * nch + t / Tc) * N, h, sizeof(T) * (size_t)N);
    R dl = SF(delta_of)(dlt[t] + (bias ? bias[d] : (R)0), a->softplus);
    R dla = dA ? dA[t] : dl;
    R acc = SF(sel_step)(a->disc, N, h, A, Bb + t * btt, bst, Cb + t * ctt, cst, u[t], dl, dla, rs && rs[t]);
    yr[t] = SF(sel_out)(acc, Dv, d, u[t], z ? z + t : NULL);
  }
  for (int64_t t = len; t < L; t++) yr[t] = 0;
  memcpy(hL + (b * D + d) * N, h, sizeof(T) * (size_t)N);
}

static void SF(scan_fwd)(const lr_scan_in *a, void *y, void *hL, void *ckpt, void *ws, int nt) {
#if FAST
  if (SF(fast_ok)(a) && !a->scalar) {
    SF(fast_fwd)(a, y, hL, ckpt, ws, nt);
    return;
  }
#endif
  const int64_t BD = a->Bn * a->D;
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && BD > 1)
  for (int64_t i = 0; i < BD; i++) {
    T *h = (T *)ws + (int64_t)omp_get_thread_num() * a->N;
    SF(fwd_chan)(a, i / a->D, i % a->D, h, (R *)y, (T *)hL, (T *)ckpt);
  }
}

/* Backward of one channel: reverse over chunks; each chunk's states are recomputed from its
 * checkpoint into hs ((chunk + 1) N), then walked backwards with the adjoint dh. */
static void SF(bwd_chan)(const lr_scan_in *a, const lr_scan_grads *gr, int64_t b, int64_t d, const T *ckpt, T *hs,
                         R *dls, R *dlas, R *accs, T *dh, T *dAl, T *dBl, T *dCl) {
  const int64_t D = a->D, L = a->L, N = a->N, Tc = a->chunk, nch = lr_kcpu_scan_nchunks(a);
  const int64_t row = (b * D + d) * L, g = d / (D / a->G);
  const R *u = (const R *)a->u + row, *dlt = (const R *)a->delta + row;
  const R *dA = a->deltaA ? (const R *)a->deltaA + row : NULL, *z = a->z ? (const R *)a->z + row : NULL;
  const R *Dv = a->Dv, *bias = a->dbias, *gy = (const R *)gr->gy + row;
  const T *A = (const T *)a->A + d * N;
  const T *Bb = a->varB ? (const T *)a->Bm + (b * a->G + g) * N * L : (const T *)a->Bm + d * N;
  const T *Cb = a->varC ? (const T *)a->Cm + (b * a->G + g) * N * L : (const T *)a->Cm + d * N;
  T *dBv = a->varB ? (T *)gr->dB + (b * a->G + g) * N * L : NULL;
  T *dCv = a->varC ? (T *)gr->dC + (b * a->G + g) * N * L : NULL;
  const int64_t bst = a->varB ? L : 1, cst = a->varC ? L : 1, btt = a->varB ? 1 : 0, ctt = a->varC ? 1 : 0;
  const uint8_t *rs = a->reset ? a->reset + b * L : NULL;
  R *du = (R *)gr->du + row, *ddl = (R *)gr->ddelta + row;
  R *ddA = a->deltaA ? (R *)gr->ddeltaA + row : NULL, *dz = a->z ? (R *)gr->dz + row : NULL;
  const T zero = X(r)((R)0);
  int64_t len = a->lengths ? a->lengths[b] : L;
  for (int64_t n = 0; n < N; n++) {
    dh[n] = gr->ghL ? ((const T *)gr->ghL)[(b * D + d) * N + n] : zero;
    dAl[n] = dBl[n] = dCl[n] = zero;
  }
  R dDacc = 0, dbacc = 0;
  for (int64_t t = len; t < L; t++) {
    du[t] = ddl[t] = 0;
    if (ddA) ddA[t] = 0;
    if (dz) dz[t] = 0;
  }
  for (int64_t c = (len + Tc - 1) / Tc - 1; c >= 0; c--) {
    const int64_t t0 = c * Tc, t1 = t0 + Tc < len ? t0 + Tc : len;
    memcpy(hs, ckpt + ((b * D + d) * nch + c) * N, sizeof(T) * (size_t)N);
    for (int64_t t = t0; t < t1; t++) {
      const int64_t k = t - t0;
      R dl = SF(delta_of)(dlt[t] + (bias ? bias[d] : (R)0), a->softplus);
      R dla = dA ? dA[t] : dl;
      dls[k] = dl;
      dlas[k] = dla;
      memcpy(hs + (k + 1) * N, hs + k * N, sizeof(T) * (size_t)N);
      accs[k] = SF(sel_step)(a->disc, N, hs + (k + 1) * N, A, Bb + t * btt, bst, Cb + t * ctt, cst, u[t], dl, dla,
                             rs && rs[t]);
    }
    for (int64_t t = t1 - 1; t >= t0; t--) {
      const int64_t k = t - t0;
      const R uu = u[t], dl = dls[k], dla = dlas[k];
      R gout = gy[t];
      if (z) {
        R out = Dv ? accs[k] + Dv[d] * uu : accs[k];
        R zz = z[t], s = (R)1 / ((R)1 + (R)exp(-(double)zz));
        dz[t] = gout * out * s * ((R)1 + zz * ((R)1 - s));
        gout = gout * (zz * s);
      }
      R duacc = 0;
      if (Dv) {
        dDacc += gout * uu;
        duacc = gout * Dv[d];
      }
      const bool rst = rs && rs[t];
      const T *hcur = hs + (k + 1) * N, *hprev = hs + k * N;
      const T *Bp = Bb + t * btt, *Cp = Cb + t * ctt;
      const R cf = CPLX ? (R)2 * gout : gout;
      R gd = 0, gda = 0;
      for (int64_t n = 0; n < N; n++) {
        T Cn = Cp[n * cst], Bn = Bp[n * bst];
        dh[n] = X(add)(dh[n], X(scale)(X(conj)(Cn), cf));
        T dCc = X(scale)(X(conj)(hcur[n]), cf);
        if (dCv) dCv[n * L + t] = X(add)(dCv[n * L + t], dCc);
        else dCl[n] = X(add)(dCl[n], dCc);
        T G = dh[n], ab, bb, p[6];
        SF(lr_disc_deriv)(a->disc, A[n], dla, dl, &ab, &bb, p);
        T hp = rst ? zero : hprev[n];
        T gA = X(mul)(G, X(conj)(hp));
        T gB = X(mul)(G, X(conj)(X(scale)(Bn, uu)));
        T dBc = X(scale)(X(mul)(G, X(conj)(bb)), uu);
        if (dBv) dBv[n * L + t] = X(add)(dBv[n * L + t], dBc);
        else dBl[n] = X(add)(dBl[n], dBc);
        duacc += X(redot)(G, X(mul)(bb, Bn));
        dAl[n] = X(add)(dAl[n], X(add)(X(mul)(gA, X(conj)(p[0])), X(mul)(gB, X(conj)(p[3]))));
        gda += X(redot)(gA, p[1]) + X(redot)(gB, p[4]);
        gd += X(redot)(gA, p[2]) + X(redot)(gB, p[5]);
        dh[n] = rst ? zero : X(mul)(G, X(conj)(ab));
      }
      du[t] = duacc;
      if (ddA) ddA[t] = gda;
      else gd += gda;
      if (a->softplus) {
        R x = dlt[t] + (bias ? bias[d] : (R)0);
        if (x <= (R)20) gd = gd / ((R)1 + (R)exp(-(double)x));
      }
      ddl[t] = gd;
      dbacc += gd;
    }
  }
  const int64_t o = (b * D + d) * N;
  memcpy((T *)gr->dh0 + o, dh, sizeof(T) * (size_t)N);
  memcpy((T *)gr->dA_p + o, dAl, sizeof(T) * (size_t)N);
  if (!a->varB) memcpy((T *)gr->dB + o, dBl, sizeof(T) * (size_t)N);
  if (!a->varC) memcpy((T *)gr->dC + o, dCl, sizeof(T) * (size_t)N);
  if (gr->dD_p) ((R *)gr->dD_p)[b * D + d] = dDacc;
  if (gr->dbias_p) ((R *)gr->dbias_p)[b * D + d] = dbacc;
}

/* Work units own their outputs: with a variable B or C a unit is (b, g) and runs the group's
 * channels in order (it alone writes dB[b, g], dC[b, g]); otherwise a unit is (b, d). The
 * per-(b, d) partials are summed over b by the op in a fixed order, so the result is bitwise
 * reproducible for any thread count. */
static void SF(scan_bwd)(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *gr, void *ws, int nt) {
#if FAST
  if (SF(fast_ok)(a) && !a->scalar) {
    SF(fast_bwd)(a, ckpt, gr, ws, nt);
    return;
  }
#endif
  const bool var = a->varB || a->varC;
  const int64_t Gu = var ? a->G : a->D, per = a->D / Gu, units = a->Bn * Gu, N = a->N, Tc = a->chunk, L = a->L;
  const size_t tw = (size_t)((Tc + 1) * N + 4 * N), rw = (size_t)(3 * Tc);
  const size_t per_thread = tw * sizeof(T) + rw * sizeof(R);
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (nt > 1 && units > 1)
  for (int64_t i = 0; i < units; i++) {
    char *base = (char *)ws + (size_t)omp_get_thread_num() * per_thread;
    T *hs = (T *)base, *dh = hs + (Tc + 1) * N, *dAl = dh + N, *dBl = dAl + N, *dCl = dBl + N;
    R *dls = (R *)(base + tw * sizeof(T)), *dlas = dls + Tc, *accs = dlas + Tc;
    const int64_t b = i / Gu, gu = i % Gu;
    if (var) {
      if (a->varB) memset((T *)gr->dB + (b * a->G + gu) * N * L, 0, sizeof(T) * (size_t)(N * L));
      if (a->varC) memset((T *)gr->dC + (b * a->G + gu) * N * L, 0, sizeof(T) * (size_t)(N * L));
    }
    for (int64_t j = 0; j < per; j++)
      SF(bwd_chan)(a, gr, b, gu * per + j, (const T *)ckpt, hs, dls, dlas, accs, dh, dAl, dBl, dCl);
  }
}

/* ---- diagonal scan (S5) ---- */
static void SF(dscan_fwd)(const lr_dscan_in *a, T *h, T *hL) {
  const int64_t P = a->P, L = a->L, BP = a->Bn * P;
#pragma omp parallel for schedule(static) if (BP > 1 && BP * L > 4096)
  for (int64_t i = 0; i < BP; i++) {
    const int64_t b = i / P, p = i % P;
    const T *x = (const T *)a->x + i * L;
    const R *dl = (const R *)a->delta + (a->delta_bcast ? p : i * L);
    const R *dla = a->deltaA ? (const R *)a->deltaA + (a->deltaA_bcast ? p : i * L) : NULL;
    const int64_t ds = a->delta_bcast ? 0 : 1, das = a->deltaA_bcast ? 0 : 1;
    const uint8_t *rs = a->reset ? a->reset + b * L : NULL;
    const T lam = ((const T *)a->lam)[p];
    int64_t len = a->lengths ? a->lengths[b] : L;
    T s = a->h0 ? ((const T *)a->h0)[i] : X(r)((R)0);
    T *hr = h + i * L;
    /* Δ (and Δ_A) broadcast over time: Ā, B̄ are the same at every t, evaluated once (the same
     * call with the same arguments as per step, so the same bits). */
    const bool hoist = ds == 0 && (!dla || das == 0);
    /* Δ per state, Δ_A per step (Event-SSM) and B̄ of Δ alone: B̄ once, Ā per step (same bits) */
    const bool split = ds == 0 && dla && das == 1 && lr_disc_split(a->disc);
    T ab, bb, pa[2];
    if (hoist || split) SF(lr_disc_eval)(a->disc, lam, (dla && !split) ? dla[0] : dl[0], dl[0], &ab, &bb);
    for (int64_t t = 0; t < len; t++) {
      R d = dl[t * ds];
      if (split) SF(lr_disc_deriv_a)(a->disc, lam, dla[t], &ab, pa);
      else if (!hoist) SF(lr_disc_eval)(a->disc, lam, dla ? dla[t * das] : d, d, &ab, &bb);
      s = X(add)(X(mul)(ab, (rs && rs[t]) ? X(r)((R)0) : s), X(mul)(bb, x[t]));
      hr[t] = s;
    }
    for (int64_t t = len; t < L; t++) hr[t] = X(r)((R)0);
    hL[i] = s;
  }
}

static void SF(dscan_bwd)(const lr_dscan_in *a, const T *h, const T *gh, const T *ghL, T *dx, T *dlam_p, R *ddl,
                          R *ddla, T *dh0) {
  const int64_t P = a->P, L = a->L, BP = a->Bn * P;
  const T zero = X(r)((R)0);
#pragma omp parallel for schedule(static) if (BP > 1 && BP * L > 4096)
  for (int64_t i = 0; i < BP; i++) {
    const int64_t b = i / P, p = i % P;
    const T *x = (const T *)a->x + i * L, *hr = h + i * L;
    const R *dl = (const R *)a->delta + (a->delta_bcast ? p : i * L);
    const R *dla = a->deltaA ? (const R *)a->deltaA + (a->deltaA_bcast ? p : i * L) : NULL;
    const int64_t ds = a->delta_bcast ? 0 : 1, das = a->deltaA_bcast ? 0 : 1;
    const uint8_t *rs = a->reset ? a->reset + b * L : NULL;
    const T lam = ((const T *)a->lam)[p];
    const T h0 = a->h0 ? ((const T *)a->h0)[i] : zero;
    int64_t len = a->lengths ? a->lengths[b] : L;
    T G = ghL ? ghL[i] : zero, dl_acc = zero;
    for (int64_t t = L - 1; t >= len; t--) {
      dx[i * L + t] = zero;
      ddl[i * L + t] = 0;
      if (ddla) ddla[i * L + t] = 0;
    }
    const bool hoist = ds == 0 && (!dla || das == 0); /* as in dscan_fwd */
    const bool split = ds == 0 && dla && das == 1 && lr_disc_split(a->disc);
    T ab, bb, pp[6];
    if (hoist || split) SF(lr_disc_deriv)(a->disc, lam, (dla && !split) ? dla[0] : dl[0], dl[0], &ab, &bb, pp);
    for (int64_t t = len - 1; t >= 0; t--) {
      if (gh) G = X(add)(G, gh[i * L + t]);
      R d = dl[t * ds], da = dla ? dla[t * das] : d;
      if (split) SF(lr_disc_deriv_a)(a->disc, lam, da, &ab, pp); /* pp[0], pp[1]; B̄'s stay */
      else if (!hoist) SF(lr_disc_deriv)(a->disc, lam, da, d, &ab, &bb, pp);
      const bool rst = rs && rs[t];
      T hp = rst ? zero : (t ? hr[t - 1] : h0);
      T gA = X(mul)(G, X(conj)(hp)), gB = X(mul)(G, X(conj)(x[t]));
      dx[i * L + t] = X(mul)(G, X(conj)(bb));
      dl_acc = X(add)(dl_acc, X(add)(X(mul)(gA, X(conj)(pp[0])), X(mul)(gB, X(conj)(pp[3]))));
      R gda = X(redot)(gA, pp[1]) + X(redot)(gB, pp[4]);
      R gd = X(redot)(gA, pp[2]) + X(redot)(gB, pp[5]);
      if (ddla) ddla[i * L + t] = gda;
      else gd += gda;
      ddl[i * L + t] = gd;
      G = rst ? zero : X(mul)(G, X(conj)(ab));
    }
    dlam_p[i] = dl_acc;
    dh0[i] = G;
  }
}

#undef SC2
#undef SC
#undef SF
#undef X
#undef S
#undef T
#undef R
#undef CPLX
#undef FAST
#undef VR
#undef W
#undef VEXP
#undef VEXPN
#undef EXPN_MAX
#undef VEXPX
#undef RLOG
#undef RSQRT
#undef PSI_DEG
#undef VSOFTPLUS
#undef VSIGMOID
#undef VHSUM
#undef VSEL
#undef FCH
#undef VTR
#undef VTR_OK
#undef BST
