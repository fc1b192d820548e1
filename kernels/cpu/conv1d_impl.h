/* Bodies of the conv1d kernels for one real type T (SFX); included by conv1d.c. */
#define FCAT_(a, b) a##_##b
#define FCAT(a, b) FCAT_(a, b)
#define FN(name) FCAT(name, SFX)

/* xp[p] of line (b, d) */
static inline double FN(xp)(const T *x, const T *s0, int64_t L, int64_t K, int64_t line, int64_t p) {
  if (p >= K - 1) return (double)x[line * L + p - (K - 1)];
  return s0 ? (double)s0[line * (K - 1) + p] : 0.0;
}

static void FN(fwd)(int64_t B, int64_t D, int64_t L, int64_t K, const T *x, const T *w, const T *bias, const T *s0,
                    bool silu, T *y, T *state) {
#pragma omp parallel for if (B * D * L * K > LR_CONV_PAR_MIN) schedule(static)
  for (int64_t line = 0; line < B * D; line++) {
    int64_t d = line % D;
    const T *wd = w + d * K;
    double b0 = bias ? (double)bias[d] : 0.0;
    for (int64_t t = 0; t < L; t++) {
      double s = b0;
      if (t >= K - 1) { /* no state in the window: a plain dot product the compiler vectorises */
        const T *xt = x + line * L + t - (K - 1);
        for (int64_t j = 0; j < K; j++) s += (double)wd[j] * (double)xt[j];
      } else {
        for (int64_t j = 0; j < K; j++) s += (double)wd[j] * FN(xp)(x, s0, L, K, line, t + j);
      }
      y[line * L + t] = (T)(silu ? s / (1.0 + exp(-s)) : s);
    }
    if (state)
      for (int64_t i = 0; i < K - 1; i++) state[line * (K - 1) + i] = (T)FN(xp)(x, s0, L, K, line, L + i);
  }
}

static void FN(bwd)(int64_t B, int64_t D, int64_t L, int64_t K, const T *x, const T *w, const T *bias, const T *s0,
                    bool silu, const T *g, const T *gs, T *dx, T *dw, T *dbias, T *ds0, double *work) {
#pragma omp parallel for if (B * D * L * K > LR_CONV_PAR_MIN) schedule(static)
  for (int64_t d = 0; d < D; d++) {
    double *gp = work + (size_t)omp_get_thread_num() * (size_t)(L + K);
    double *dwacc = gp + L; /* K */
    const T *wd = w + d * K;
    double b0 = bias ? (double)bias[d] : 0.0, db = 0;
    for (int64_t j = 0; j < K; j++) dwacc[j] = 0;
    for (int64_t b = 0; b < B; b++) {
      int64_t line = b * D + d;
      for (int64_t t = 0; t < L; t++) { /* gpre = g * silu'(pre) */
        double v = g ? (double)g[line * L + t] : 0.0;
        if (silu && g) {
          double s = b0;
          for (int64_t j = 0; j < K; j++) s += (double)wd[j] * FN(xp)(x, s0, L, K, line, t + j);
          double sg = 1.0 / (1.0 + exp(-s));
          v *= sg * (1.0 + s * (1.0 - sg));
        }
        gp[t] = v;
        db += v;
      }
      if (dx || ds0)
        for (int64_t p = 0; p < L + K - 1; p++) { /* dxp[p] = sum_j w[j] gpre[p - j] + gs[p - L] */
          int64_t jlo = p - (L - 1) > 0 ? p - (L - 1) : 0, jhi = p < K - 1 ? p : K - 1;
          double acc = 0;
          for (int64_t j = jlo; j <= jhi; j++) acc += (double)wd[j] * gp[p - j];
          if (gs && p >= L) acc += (double)gs[line * (K - 1) + p - L];
          if (p < K - 1) {
            if (ds0) ds0[line * (K - 1) + p] = (T)acc;
          } else if (dx) {
            dx[line * L + p - (K - 1)] = (T)acc;
          }
        }
      if (dw && g)
        for (int64_t j = 0; j < K; j++) {
          double acc = 0;
          for (int64_t t = 0; t < L; t++) acc += gp[t] * FN(xp)(x, s0, L, K, line, t + j);
          dwacc[j] += acc;
        }
    }
    if (dw)
      for (int64_t j = 0; j < K; j++) dw[d * K + j] = (T)dwacc[j];
    if (dbias) dbias[d] = (T)db;
  }
}

static void FN(step)(int64_t B, int64_t D, int64_t K, const T *x, T *state, const T *w, const T *bias, bool silu,
                     T *y) {
#pragma omp parallel for if (B * D * K > LR_CONV_PAR_MIN) schedule(static)
  for (int64_t line = 0; line < B * D; line++) {
    int64_t d = line % D;
    T *st = K > 1 ? state + line * (K - 1) : NULL;
    double s = bias ? (double)bias[d] : 0.0;
    for (int64_t j = 0; j < K - 1; j++) s += (double)w[d * K + j] * (double)st[j];
    s += (double)w[d * K + K - 1] * (double)x[line];
    for (int64_t j = 0; j + 1 < K - 1; j++) st[j] = st[j + 1];
    if (K > 1) st[K - 2] = x[line];
    y[line] = (T)(silu ? s / (1.0 + exp(-s)) : s);
  }
}

#undef FCAT_
#undef FCAT
#undef FN
