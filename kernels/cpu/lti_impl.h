/* Bodies of the LTI kernels for one element type (T, CPLX, SFX); included by lti.c. */
#include "kernels/cpu/cplx_impl.h"

#define FCAT_(a, b) a##_##b
#define FCAT(a, b) FCAT_(a, b)
#define FN(name) FCAT(name, SFX)

static void FN(kernel)(int64_t N, int64_t L, const T *A, T *K) {
#pragma omp parallel for if (N * L > LR_LTI_PAR_MIN) schedule(static)
  for (int64_t n = 0; n < N; n++) {
    double complex a = LD(A, n), p = 1;
    for (int64_t l = 0; l < L; l++) {
      ST(K, n * L + l, p);
      p *= a;
    }
  }
}

static void FN(kernel_bwd)(int64_t N, int64_t L, const T *K, const T *g, T *dA) {
#pragma omp parallel for if (N * L > LR_LTI_PAR_MIN) schedule(static)
  for (int64_t n = 0; n < N; n++) {
    double complex s = 0;
    for (int64_t l = 1; l < L; l++) s += (double)l * LD(g, n * L + l) * CJ(LD(K, n * L + l - 1));
    ST(dA, n, s);
  }
}

/* one (b, n) line per iteration: the recurrence is sequential in t only */
static void FN(scan)(int64_t B, int64_t L, int64_t N, const T *u, const T *A, T *h) {
#pragma omp parallel for if (B * L * N > LR_LTI_PAR_MIN) schedule(static)
  for (int64_t bn = 0; bn < B * N; bn++) {
    int64_t b = bn / N, n = bn % N;
    double complex a = LD(A, n), s = 0;
    for (int64_t t = 0; t < L; t++) {
      int64_t i = (b * L + t) * N + n;
      s = a * s + LD(u, i);
      ST(h, i, s);
    }
  }
}

/* parallel over n, batch in a fixed order inside: dA needs no atomics and is deterministic */
static void FN(scan_bwd)(int64_t B, int64_t L, int64_t N, const T *A, const T *h, const T *g, T *du, T *dA) {
#pragma omp parallel for if (B * L * N > LR_LTI_PAR_MIN) schedule(static)
  for (int64_t n = 0; n < N; n++) {
    double complex ac = CJ(LD(A, n)), da = 0;
    for (int64_t b = 0; b < B; b++) {
      double complex d = 0;
      for (int64_t t = L - 1; t >= 0; t--) {
        int64_t i = (b * L + t) * N + n;
        d = LD(g, i) + ac * d;
        if (du) ST(du, i, d);
        if (t > 0) da += d * CJ(LD(h, i - N));
      }
    }
    if (dA) ST(dA, n, da);
  }
}

#undef FCAT_
#undef FCAT
#undef FN
