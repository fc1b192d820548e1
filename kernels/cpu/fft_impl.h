/* The bodies of the FFT kernels, written once for a real type R with FFTW prefix FW (fftw_ or
 * fftwf_): kernels/cpu/fft.c includes this file twice. Not a public header. */
#ifndef R
#error "define R, SFX, FW, FWC and KIND_BASE before including fft_impl.h"
#endif

#define FCAT_(a, b) a##_##b
#define FCAT(a, b) FCAT_(a, b)
#define FN(name) FCAT(name, SFX)
#define FWCAT_(a, b) a##b
#define FWCAT(a, b) FWCAT_(a, b)
#define FWF(name) FWCAT(FW, name)

/* Per-thread slot of the complex DFT: two complex buffers of n. */
static size_t FN(c_slot)(int64_t n) { return align64((size_t)n * 2 * sizeof(R)) * 2; }

static lr_status FN(fft_c)(bool inverse, int64_t n, int64_t outer, int64_t m_in, int64_t m_out, int64_t inner,
                           const R *x, R *y, double scale, void *work) {
  void *plan = plan_get(n, KIND_BASE + (inverse ? KIND_C2C_BWD : KIND_C2C_FWD));
  if (!plan) return lr_fail(LR_ERR_INTERNAL, "lr_kcpu_fft_c: FFTW could not plan a DFT of size %lld", (long long)n);
  size_t slot = FN(c_slot)(n);
  int64_t lines = outer * inner;
#pragma omp parallel for if (lines * n > LR_FFT_PAR_MIN) schedule(static)
  for (int64_t ln = 0; ln < lines; ln++) {
    int tid = omp_get_thread_num();
    R *in = (R *)((char *)work + slot * (size_t)tid);
    R *out = (R *)((char *)in + slot / 2);
    int64_t o = ln / inner, i = ln % inner;
    const R *xl = x + 2 * (o * m_in * inner + i);
    R *yl = y + 2 * (o * m_out * inner + i);
    for (int64_t t = 0; t < m_in; t++) {
      in[2 * t] = xl[2 * t * inner];
      in[2 * t + 1] = xl[2 * t * inner + 1];
    }
    for (int64_t t = m_in; t < n; t++) in[2 * t] = in[2 * t + 1] = 0;
    FWF(execute_dft)((FWF(plan))plan, (FWC *)in, (FWC *)out);
    for (int64_t j = 0; j < m_out; j++) {
      yl[2 * j * inner] = (R)(out[2 * j] * scale);
      yl[2 * j * inner + 1] = (R)(out[2 * j + 1] * scale);
    }
  }
  return LR_OK;
}

/* Per-thread slot of the convolution: a real buffer of n and three complex of n/2 + 1. */
static size_t FN(conv_slot)(int64_t n) {
  return align64((size_t)n * sizeof(R)) + 3 * align64((size_t)(n / 2 + 1) * 2 * sizeof(R));
}
static size_t FN(khat_bytes)(int64_t n, int64_t H) { return align64((size_t)H * (size_t)(n / 2 + 1) * 2 * sizeof(R)); }

/* khat[h] = rfft_n(k[h, :Lk]) into work, using the thread slots that follow it. */
static void FN(kernel_hat)(int64_t H, int64_t Lk, int64_t n, const R *k, R *khat, char *slots, size_t slot,
                           void *r2c) {
  int64_t F = n / 2 + 1;
#pragma omp parallel for if (H * n > LR_FFT_PAR_MIN) schedule(static)
  for (int64_t h = 0; h < H; h++) {
    R *buf = (R *)(slots + slot * (size_t)omp_get_thread_num());
    for (int64_t s = 0; s < Lk; s++) buf[s] = k[h * Lk + s];
    for (int64_t s = Lk; s < n; s++) buf[s] = 0;
    FWF(execute_dft_r2c)((FWF(plan))r2c, buf, (FWC *)(khat + 2 * h * F));
  }
}

static lr_status FN(conv_plans)(const char *fn, int64_t n, void **r2c, void **c2r) {
  *r2c = plan_get(n, KIND_BASE + KIND_R2C);
  *c2r = plan_get(n, KIND_BASE + KIND_C2R);
  if (!*r2c || !*c2r) return lr_fail(LR_ERR_INTERNAL, "%s: FFTW could not plan a real DFT of size %lld", fn, (long long)n);
  return LR_OK;
}

static lr_status FN(conv_fwd)(int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const R *x, const R *k, R *y,
                              void *work) {
  void *r2c, *c2r;
  LR_TRY(FN(conv_plans)("lr_kcpu_fft_conv_fwd", n, &r2c, &c2r));
  int64_t F = n / 2 + 1;
  R *khat = (R *)work;
  char *slots = (char *)work + FN(khat_bytes)(n, H);
  size_t slot = FN(conv_slot)(n), rb = align64((size_t)n * sizeof(R));
  FN(kernel_hat)(H, Lk, n, k, khat, slots, slot, r2c);
  R inv_n = (R)(1.0 / (double)n);
#pragma omp parallel for if (B * H * n > LR_FFT_PAR_MIN) schedule(static)
  for (int64_t bh = 0; bh < B * H; bh++) {
    int64_t b = bh / H, h = bh % H;
    char *sl = slots + slot * (size_t)omp_get_thread_num();
    R *buf = (R *)sl, *X = (R *)(sl + rb);
    const R *xl = x + b * L * H + h;
    for (int64_t t = 0; t < L; t++) buf[t] = xl[t * H];
    for (int64_t t = L; t < n; t++) buf[t] = 0;
    FWF(execute_dft_r2c)((FWF(plan))r2c, buf, (FWC *)X);
    const R *kh = khat + 2 * h * F;
    for (int64_t f = 0; f < F; f++) {
      R ar = X[2 * f], ai = X[2 * f + 1], br = kh[2 * f], bi = kh[2 * f + 1];
      X[2 * f] = ar * br - ai * bi;
      X[2 * f + 1] = ar * bi + ai * br;
    }
    FWF(execute_dft_c2r)((FWF(plan))c2r, (FWC *)X, buf); /* c2r destroys X: it is scratch */
    R *yl = y + b * L * H + h;
    for (int64_t t = 0; t < L; t++) yl[t * H] = buf[t] * inv_n;
  }
  return LR_OK;
}

static lr_status FN(conv_bwd)(int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const R *x, const R *k,
                              const R *g, R *dx, R *dk, void *work) {
  void *r2c, *c2r;
  LR_TRY(FN(conv_plans)("lr_kcpu_fft_conv_bwd", n, &r2c, &c2r));
  int64_t F = n / 2 + 1;
  R *khat = (R *)work;
  char *slots = (char *)work + FN(khat_bytes)(n, H);
  size_t slot = FN(conv_slot)(n), rb = align64((size_t)n * sizeof(R)), cb = align64((size_t)F * 2 * sizeof(R));
  if (dx) FN(kernel_hat)(H, Lk, n, k, khat, slots, slot, r2c);
  R inv_n = (R)(1.0 / (double)n);
  /* parallel over channels; each thread sums its channel's dk over the batch in the frequency
   * domain (deterministic: a fixed order, no atomics) and transforms back once */
#pragma omp parallel for if (B * H * n > LR_FFT_PAR_MIN) schedule(static)
  for (int64_t h = 0; h < H; h++) {
    char *sl = slots + slot * (size_t)omp_get_thread_num();
    R *buf = (R *)sl, *G = (R *)(sl + rb), *T = (R *)(sl + rb + cb), *acc = (R *)(sl + rb + 2 * cb);
    const R *kh = khat + 2 * h * F;
    if (dk)
      for (int64_t f = 0; f < 2 * F; f++) acc[f] = 0;
    for (int64_t b = 0; b < B; b++) {
      const R *gl = g + b * L * H + h;
      for (int64_t t = 0; t < L; t++) buf[t] = gl[t * H];
      for (int64_t t = L; t < n; t++) buf[t] = 0;
      FWF(execute_dft_r2c)((FWF(plan))r2c, buf, (FWC *)G);
      if (dx) { /* T = conj(khat) * G */
        for (int64_t f = 0; f < F; f++) {
          R ar = kh[2 * f], ai = -kh[2 * f + 1], br = G[2 * f], bi = G[2 * f + 1];
          T[2 * f] = ar * br - ai * bi;
          T[2 * f + 1] = ar * bi + ai * br;
        }
        FWF(execute_dft_c2r)((FWF(plan))c2r, (FWC *)T, buf);
        R *dl = dx + b * L * H + h;
        for (int64_t t = 0; t < L; t++) dl[t * H] = buf[t] * inv_n;
      }
      if (dk) { /* acc += conj(X) * G */
        const R *xl = x + b * L * H + h;
        for (int64_t t = 0; t < L; t++) buf[t] = xl[t * H];
        for (int64_t t = L; t < n; t++) buf[t] = 0;
        FWF(execute_dft_r2c)((FWF(plan))r2c, buf, (FWC *)T);
        for (int64_t f = 0; f < F; f++) {
          R ar = T[2 * f], ai = -T[2 * f + 1], br = G[2 * f], bi = G[2 * f + 1];
          acc[2 * f] += ar * br - ai * bi;
          acc[2 * f + 1] += ar * bi + ai * br;
        }
      }
    }
    if (dk) {
      FWF(execute_dft_c2r)((FWF(plan))c2r, (FWC *)acc, buf);
      for (int64_t s = 0; s < Lk; s++) dk[h * Lk + s] = buf[s] * inv_n;
    }
  }
  return LR_OK;
}

#undef FCAT_
#undef FCAT
#undef FN
#undef FWCAT_
#undef FWCAT
#undef FWF
