/* Bodies of the S4 kernels for one precision T (SFX); included by s4.c. Complex arrays are
 * (re, im) pairs of T; the real output of the Vandermonde kernel is plain T. */
#define CPLX 1
#include "kernels/cpu/cplx_impl.h"

#define FCAT_(a, b) a##_##b
#define FCAT(a, b) FCAT_(a, b)
#define FN(name) FCAT(name, SFX)

static void FN(cauchy)(int64_t Bt, int64_t N, int64_t L, const T *v, const T *z, const T *w, T *out) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
  for (int64_t bl = 0; bl < Bt * L; bl++) {
    int64_t b = bl / L, l = bl % L;
    double complex zl = LD(z, l), s = 0;
    for (int64_t n = 0; n < N; n++) {
      double complex vn = LD(v, b * N + n), wn = LD(w, b * N + n);
      s += vn / (zl - wn) + conj(vn) / (zl - conj(wn));
    }
    ST(out, bl, s);
  }
}

static void FN(cauchy_bwd)(int64_t Bt, int64_t N, int64_t L, const T *v, const T *z, const T *w, const T *g, T *dv,
                           T *dw, T *dz) {
  if (dv || dw) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
    for (int64_t bn = 0; bn < Bt * N; bn++) {
      int64_t b = bn / N;
      double complex vn = LD(v, bn), wn = LD(w, bn), sv = 0, sw = 0;
      for (int64_t l = 0; l < L; l++) {
        double complex gl = LD(g, b * L + l), zl = LD(z, l);
        double complex r1 = 1.0 / (zl - wn), r2 = 1.0 / (zl - conj(wn));
        sv += gl * conj(r1) + conj(gl) * r2;
        sw += gl * conj(r1 * r1) + conj(gl) * r2 * r2;
      }
      if (dv) ST(dv, bn, sv);
      if (dw) ST(dw, bn, conj(vn) * sw);
    }
  }
  if (dz) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
    for (int64_t l = 0; l < L; l++) {
      double complex zl = LD(z, l), s = 0;
      for (int64_t b = 0; b < Bt; b++) {
        double complex gl = LD(g, b * L + l), d = 0;
        for (int64_t n = 0; n < N; n++) {
          double complex vn = LD(v, b * N + n), wn = LD(w, b * N + n);
          double complex r1 = 1.0 / (zl - wn), r2 = 1.0 / (zl - conj(wn));
          d += vn * r1 * r1 + conj(vn) * r2 * r2;
        }
        s -= gl * conj(d);
      }
      ST(dz, l, s);
    }
  }
}

/* exp(x l) directly (not a running product): each entry to full precision for any l */
static void FN(vand)(int64_t Bt, int64_t N, int64_t L, const T *v, const T *x, T *out) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
  for (int64_t bl = 0; bl < Bt * L; bl++) {
    int64_t b = bl / L, l = bl % L;
    double s = 0;
    for (int64_t n = 0; n < N; n++) s += creal(LD(v, b * N + n) * cexp(LD(x, b * N + n) * (double)l));
    out[bl] = (T)(2.0 * s);
  }
}

static void FN(vand_bwd)(int64_t Bt, int64_t N, int64_t L, const T *v, const T *x, const T *g, T *dv, T *dx) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
  for (int64_t bn = 0; bn < Bt * N; bn++) {
    int64_t b = bn / N;
    double complex xn = LD(x, bn), sv = 0, sx = 0;
    for (int64_t l = 0; l < L; l++) {
      double complex e = conj(cexp(xn * (double)l)) * (double)g[b * L + l];
      sv += e;
      sx += (double)l * e;
    }
    if (dv) ST(dv, bn, 2.0 * sv);
    if (dx) ST(dx, bn, 2.0 * conj(LD(v, bn)) * sx);
  }
}

static void FN(vand_t)(int64_t Bt, int64_t N, int64_t L, const T *u, const T *v, const T *x, T *out) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
  for (int64_t bn = 0; bn < Bt * N; bn++) {
    int64_t b = bn / N;
    double complex xn = LD(x, bn), s = 0;
    for (int64_t l = 0; l < L; l++) s += LD(u, b * L + l) * cexp(xn * (double)l);
    ST(out, bn, LD(v, bn) * s);
  }
}

static void FN(vand_t_bwd)(int64_t Bt, int64_t N, int64_t L, const T *u, const T *v, const T *x, const T *g, T *du,
                           T *dv, T *dx) {
  if (dv || dx) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
    for (int64_t bn = 0; bn < Bt * N; bn++) {
      int64_t b = bn / N;
      double complex xn = LD(x, bn), s = 0, sl = 0;
      for (int64_t l = 0; l < L; l++) {
        double complex t = LD(u, b * L + l) * cexp(xn * (double)l);
        s += t;
        sl += (double)l * t;
      }
      double complex gn = LD(g, bn);
      if (dv) ST(dv, bn, gn * conj(s));
      if (dx) ST(dx, bn, gn * conj(LD(v, bn) * sl));
    }
  }
  if (du) {
#pragma omp parallel for if (Bt * N * L > LR_S4_PAR_MIN) schedule(static)
    for (int64_t bl = 0; bl < Bt * L; bl++) {
      int64_t b = bl / L, l = bl % L;
      double complex s = 0;
      for (int64_t n = 0; n < N; n++) s += LD(g, b * N + n) * conj(LD(v, b * N + n) * cexp(LD(x, b * N + n) * (double)l));
      ST(du, bl, s);
    }
  }
}

#undef FCAT_
#undef FCAT
#undef FN
#undef CPLX
