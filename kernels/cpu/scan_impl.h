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
    for (int64_t t = 0; t < len; t++) {
      T ab, bb;
      R d = dl[t * ds];
      SF(lr_disc_eval)(a->disc, lam, dla ? dla[t * das] : d, d, &ab, &bb);
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
    for (int64_t t = len - 1; t >= 0; t--) {
      if (gh) G = X(add)(G, gh[i * L + t]);
      T ab, bb, pp[6];
      R d = dl[t * ds], da = dla ? dla[t * das] : d;
      SF(lr_disc_deriv)(a->disc, lam, da, d, &ab, &bb, pp);
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
