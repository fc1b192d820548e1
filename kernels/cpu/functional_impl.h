/* The bodies of the functional kernels, written once for an element type T: kernels/cpu/
 * functional.c includes this file twice, with T = float / SFX = f32 and T = double / SFX = f64.
 * Not a public header. All arithmetic on values is in double; T is only loaded and stored. */
#ifndef T
#error "define T and SFX before including functional_impl.h"
#endif

#define FCAT_(a, b) a##_##b
#define FCAT(a, b) FCAT_(a, b)
#define FN(name) FCAT(name, SFX)

#define LR_PAR_MIN 32768 /* below this many elements a kernel runs on one thread */

static void FN(softmax)(bool lg, const T *x, T *y, int64_t outer, int64_t D, int64_t inner) {
  int64_t rows = outer * inner;
#pragma omp parallel for if (rows * D > LR_PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o = r / inner, k = r % inner;
    const T *xr = x + o * D * inner + k;
    T *yr = y + o * D * inner + k;
    double m = -INFINITY;
    for (int64_t d = 0; d < D; d++) m = fmax(m, (double)xr[d * inner]);
    if (m == -INFINITY) m = 0; /* all -inf: exp gives 0/0 = NaN as PyTorch; keep m finite */
    double s = 0;
    if (lg) {
      for (int64_t d = 0; d < D; d++) s += exp((double)xr[d * inner] - m);
      double lse = m + log(s);
      for (int64_t d = 0; d < D; d++) yr[d * inner] = (T)((double)xr[d * inner] - lse);
    } else {
      for (int64_t d = 0; d < D; d++) {
        double e = exp((double)xr[d * inner] - m);
        yr[d * inner] = (T)e;
        s += e;
      }
      double inv = 1.0 / s;
      for (int64_t d = 0; d < D; d++) yr[d * inner] = (T)((double)yr[d * inner] * inv);
    }
  }
}

static void FN(softmax_bwd)(bool lg, const T *y, const T *g, T *dx, int64_t outer, int64_t D, int64_t inner) {
  int64_t rows = outer * inner;
#pragma omp parallel for if (rows * D > LR_PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t base = (r / inner) * D * inner + r % inner;
    const T *yr = y + base, *gr = g + base;
    T *dr = dx + base;
    double s = 0;
    if (lg) {
      for (int64_t d = 0; d < D; d++) s += (double)gr[d * inner];
      for (int64_t d = 0; d < D; d++)
        dr[d * inner] = (T)((double)gr[d * inner] - exp((double)yr[d * inner]) * s);
    } else {
      for (int64_t d = 0; d < D; d++) s += (double)gr[d * inner] * (double)yr[d * inner];
      for (int64_t d = 0; d < D; d++) dr[d * inner] = (T)((double)yr[d * inner] * ((double)gr[d * inner] - s));
    }
  }
}

/* Max and log-sum-exp of the C logits of row (n, s), stride S. */
static double FN(row_lse)(const T *xr, int64_t C, int64_t S, double *mean_x) {
  double m = -INFINITY, sum_x = 0;
  for (int64_t c = 0; c < C; c++) {
    m = fmax(m, (double)xr[c * S]);
    sum_x += (double)xr[c * S];
  }
  if (m == -INFINITY) m = 0;
  double s = 0;
  for (int64_t c = 0; c < C; c++) s += exp((double)xr[c * S] - m);
  *mean_x = sum_x / (double)C;
  return m + log(s);
}

static void FN(cross_entropy)(const T *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S, int64_t ignore,
                              double eps, double *loss_sum, int64_t *count) {
  int64_t rows = N * S, cnt = 0;
  double sum = 0;
#pragma omp parallel for if (rows * C > LR_PAR_MIN) reduction(+ : sum, cnt) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t t = tgt[r];
    if (t == ignore) continue;
    const T *xr = x + (r / S) * C * S + r % S;
    double mean_x, lse = FN(row_lse)(xr, C, S, &mean_x);
    sum += lse - (1.0 - eps) * (double)xr[t * S] - eps * mean_x;
    cnt++;
  }
  *loss_sum = sum;
  *count = cnt;
}

static void FN(cross_entropy_bwd)(const T *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S, int64_t ignore,
                                  double eps, double scale, T *dx) {
  int64_t rows = N * S;
#pragma omp parallel for if (rows * C > LR_PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int64_t t = tgt[r], base = (r / S) * C * S + r % S;
    const T *xr = x + base;
    T *dr = dx + base;
    if (t == ignore) {
      for (int64_t c = 0; c < C; c++) dr[c * S] = 0;
      continue;
    }
    double mean_x, lse = FN(row_lse)(xr, C, S, &mean_x), u = eps / (double)C;
    for (int64_t c = 0; c < C; c++) {
      double p = exp((double)xr[c * S] - lse) - u - (c == t ? 1.0 - eps : 0.0);
      dr[c * S] = (T)(scale * p);
    }
  }
}

static void FN(layer_norm)(const T *x, const T *w, const T *b, T *y, double *mean, double *rstd, int64_t rows,
                           int64_t H, double eps) {
#pragma omp parallel for if (rows * H > LR_PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * H;
    T *yr = y + r * H;
    double mu = 0, var = 0;
    for (int64_t h = 0; h < H; h++) mu += (double)xr[h];
    mu /= (double)H;
    for (int64_t h = 0; h < H; h++) {
      double d = (double)xr[h] - mu;
      var += d * d;
    }
    double rs = 1.0 / sqrt(var / (double)H + eps);
    for (int64_t h = 0; h < H; h++) {
      double v = ((double)xr[h] - mu) * rs;
      if (w) v *= (double)w[h];
      if (b) v += (double)b[h];
      yr[h] = (T)v;
    }
    mean[r] = mu;
    rstd[r] = rs;
  }
}

static void FN(rms_norm)(const T *x, const T *w, T *y, double *rstd, int64_t rows, int64_t H, double eps) {
#pragma omp parallel for if (rows * H > LR_PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * H;
    T *yr = y + r * H;
    double ms = 0;
    for (int64_t h = 0; h < H; h++) ms += (double)xr[h] * (double)xr[h];
    double rs = 1.0 / sqrt(ms / (double)H + eps);
    for (int64_t h = 0; h < H; h++) yr[h] = (T)((double)xr[h] * rs * (w ? (double)w[h] : 1.0));
    rstd[r] = rs;
  }
}

static void FN(norm_bwd)(const T *x, const T *w, const double *mean, const double *rstd, const T *g, T *dx,
                         int64_t rows, int64_t H) {
#pragma omp parallel for if (rows * H > LR_PAR_MIN) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    const T *xr = x + r * H, *gr = g + r * H;
    T *dr = dx + r * H;
    double mu = mean ? mean[r] : 0.0, rs = rstd[r], s1 = 0, s2 = 0;
    for (int64_t h = 0; h < H; h++) {
      double dxh = (double)gr[h] * (w ? (double)w[h] : 1.0), xh = ((double)xr[h] - mu) * rs;
      s1 += dxh;
      s2 += dxh * xh;
    }
    s1 = mean ? s1 / (double)H : 0.0; /* RMS norm has no mean term */
    s2 /= (double)H;
    for (int64_t h = 0; h < H; h++) {
      double dxh = (double)gr[h] * (w ? (double)w[h] : 1.0), xh = ((double)xr[h] - mu) * rs;
      dr[h] = (T)(rs * (dxh - s1 - xh * s2));
    }
  }
}

/* Column blocks of 64 keep each thread's inner loop contiguous and need no scratch buffer. */
static void FN(norm_param_bwd)(const T *x, const double *mean, const double *rstd, const T *g, T *dw, T *db,
                               int64_t rows, int64_t H) {
  int64_t nblk = (H + 63) / 64;
#pragma omp parallel for if (rows * H > LR_PAR_MIN) schedule(static)
  for (int64_t blk = 0; blk < nblk; blk++) {
    int64_t h0 = blk * 64, h1 = h0 + 64 < H ? h0 + 64 : H;
    double aw[64] = {0}, ab[64] = {0};
    for (int64_t r = 0; r < rows; r++) {
      const T *xr = x + r * H, *gr = g + r * H;
      double mu = mean ? mean[r] : 0.0, rs = rstd[r];
      for (int64_t h = h0; h < h1; h++) {
        aw[h - h0] += (double)gr[h] * ((double)xr[h] - mu) * rs;
        ab[h - h0] += (double)gr[h];
      }
    }
    for (int64_t h = h0; h < h1; h++) {
      if (dw) dw[h] = (T)aw[h - h0];
      if (db) db[h] = (T)ab[h - h0];
    }
  }
}

static double FN(mse)(const T *x, const T *t, T *out, int64_t n) {
  double sum = 0;
#pragma omp parallel for if (n > LR_PAR_MIN) reduction(+ : sum) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double d = (double)x[i] - (double)t[i];
    if (out) out[i] = (T)(d * d);
    sum += d * d;
  }
  return sum;
}

static void FN(mse_bwd)(const T *x, const T *t, const T *g, int64_t g_step, double scale, T *dx, T *dtg, int64_t n) {
#pragma omp parallel for if (n > LR_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double v = 2.0 * scale * ((double)x[i] - (double)t[i]) * (double)g[i * g_step];
    if (dx) dx[i] = (T)v;
    if (dtg) dtg[i] = (T)-v;
  }
}

static void FN(mul_scaled)(const T *a, const T *b, double scale, T *y, int64_t n) {
  T s = (T)scale;
#pragma omp parallel for if (n > LR_PAR_MIN) schedule(static)
  for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i] * s;
}

#undef FN
#undef FCAT
#undef FCAT_
#undef LR_PAR_MIN
