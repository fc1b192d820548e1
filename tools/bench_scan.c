/* `lrnnx bench scan [--device cpu|cuda] [--B n] [--D n] [--L n] [--N n] [--reps n] [--stat min|median]
 * [--path auto|seq|tile|mamba]`: forward and
 * backward time of the scan kernels per variant, their effective bandwidth against a copy measured
 * in the same run, and on the CPU the same kernel on one thread ("1-thr ms", "thr x" = thread
 * scaling) and a plain single-threaded loop ("plain ms", "vs plain" = kernel speed-up over it,
 * "rel diff" = max |kernel - plain| / max |plain| of y (forward) or ddelta (backward, diag: h
 * and ddelta; the CPU's diagonal backward evaluates ddelta with the plain loop's libm calls in its
 * order, so there it reads exactly 0)).
 *
 * Variants (f32; the kernels of ops/scan.c, called directly on prepared buffers so that the table
 * shows the kernels, not the op's gradient accumulation into leaves):
 *   real mamba var  real A (D, N), variable B, C (B, 1, N, L), D, z, delta_bias, softplus,
 *                   Ā = exp(ΔA), B̄ = Δ (the CPU's vectorised path); on CUDA two more lines give
 *                   the forward's special-function rate against the device's peak (sfu_row)
 *   real mamba fix  the same with fixed B, C (D, N) and no z
 *   real dirac var  real mamba var with B̄ = 1 (Event-SSM's convention; Mamba's discretization="dirac")
 *   real zoh var    real mamba var with zoh: B̄ = expm1(ΔA)/A (Mamba's discretization="zoh")
 *   real bilin var  real mamba var with bilinear: Ā = (1 + ΔA/2)/(1 - ΔA/2), B̄ = Δ/(1 - ΔA/2)
 *   real stream var real mamba var with a separate Δ_A (B, D, L) (STREAM): Ā = exp(Δ_A A), B̄ = Δ
 *   real mamba len  real mamba var with per-sequence lengths L, L - (L/2B + 1), ... (padded
 *                   batches; its reads count only the steps inside the lengths)
 *   real mamba rst  real mamba var with resets (B, L) (packed sequences: a new one every 1000
 *                   steps, at offsets that differ by row)
 *   real zoh        real A, fixed B, C (D, N), D (the CPU's vectorised path: exp and expm1 per
 *                   state and step)
 *   complex zoh     complex A, B, C (D, N) (c64), D: y = 2 Re Σ C h. Its limit is the complex
 *                   exp / expm1 rate (sincos + exp per state and step; vectorised on the CPU),
 *                   not memory; on CUDA two more lines give that rate against the device's
 *                   special-function peak (sfu_row)
 *   diag (S5)       lr_diag_scan's kernel: x (B, P = D, L) c64, λ, Δ (P), every state written out
 *   diag (event)    the same with Event-SSM's Δ_A (B, P, L) per step: Ā_t = exp(Δ_A,t λ), B̄ from Δ
 * The plain loops (below) are what a user would write: for each (b, d), t, n: discretize with
 * libm (expf, expm1f, cexpf, log1pf), h = Ā h + B̄ B u, y += C h; the backward recomputes the
 * channel's states into an (L, N) buffer and walks back. Same flags as the library, no threads.
 * Row "inf" (real mamba var only): the forward as a pass without gradients runs it, with no
 * checkpoints written (the "fwd" rows write B·D·N·L/chunk states for the backward).
 * Bytes that must move (each counted once): forward reads u, delta (z, variable B and C) and
 * writes y; backward reads u, delta (z, B, C) and dy and writes du, ddelta (dz, dB, dC). The diag
 * scan's forward reads x and writes h; its backward reads x, h, dh and writes dx, ddelta. The
 * checkpoints (B·D·N·L/chunk states) and per-batch partials are not counted.
 * GB/s = bytes / time; "% copy" compares with a device-to-device copy (cudaMemcpy) or, on the CPU,
 * an OpenMP memcpy, of one (B, D, L) f32 array, read + write, timed in the same run.
 * --path (CUDA): which selective-scan kernels run (lr_kcuda_scan_set_path): auto, the channel-
 * sequential ones (seq), the time-parallel tile ones (tile) or the Mamba ones at any size (mamba).
 * Checkpoints every
 * lr_kcuda_scan_chunk steps on the GPU (the op's default), 64 on the CPU.
 * Timing: cudaEvents on the context's stream (GPU), a monotonic clock (CPU); 1 warm-up, then the
 * median of --reps (one run for the 1-thread and plain columns); --stat min: the fastest of --reps
 * (of min(reps, 3) for those columns), the figure to quote on a machine shared with other work. Defaults: B=8 D=2048 L=4096
 * N=16 on CUDA, B=2 D=256 L=2048 N=16 on the CPU (threads: OMP_NUM_THREADS or all cores).
 */
#include <complex.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/scan.h"
#include "ops/ops.h"
#include "tools/tools.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

typedef struct {
  lr_device dev;
  int reps, nt; /* nt: CPU threads for the timed kernel */
  bool use_min;  /* --stat min: the fastest rep instead of the median */
  double *times;
#ifdef LR_CUDA
  lr_cuda_timer *tm;
#endif
} bctx;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return 1e3 * (double)ts.tv_sec + 1e-6 * (double)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

typedef lr_status (*kfn)(bctx *b, void *arg);

static lr_status timed(bctx *b, kfn fn, void *arg, double *median) {
  for (int r = -1; r < b->reps; r++) {
    double t;
#ifdef LR_CUDA
    if (b->dev == LR_DEVICE_CUDA) {
      LR_TRY(lr_cuda_timer_start(b->tm));
      lr_status s = fn(b, arg);
      lr_status s2 = lr_cuda_timer_stop(b->tm, &t);
      LR_TRY(s);
      LR_TRY(s2);
    } else
#endif
    {
      double t0 = now_ms();
      LR_TRY(fn(b, arg));
      t = now_ms() - t0;
    }
    if (r >= 0) b->times[r] = t;
  }
  qsort(b->times, (size_t)b->reps, sizeof(double), cmp_d);
  int n = b->reps;
  *median = b->use_min ? b->times[0] : n % 2 ? b->times[n / 2] : 0.5 * (b->times[n / 2 - 1] + b->times[n / 2]);
  return LR_OK;
}

/* A tensor of n values in [lo, hi) (a cheap LCG; complex: both parts) on the bench's device. */
static lr_status filled(bctx *b, lr_dtype dt, int nd, const int64_t *sh, double lo, double hi, uint64_t seed,
                        lr_tensor **out) {
  lr_tensor *t;
  LR_TRY(lr_empty_on(dt, b->dev, nd, sh, &t));
  int64_t n = lr_numel(t), nc = n * (lr_dtype_is_complex(dt) ? 2 : 1);
  float *h = malloc(sizeof(float) * (size_t)(nc ? nc : 1));
  if (!h) return lr_fail(LR_ERR_MEMORY, "lrnnx bench scan: out of host memory");
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (int64_t i = 0; i < nc; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    h[i] = (float)(lo + (hi - lo) * (double)(s >> 40) * 0x1.0p-24);
  }
  lr_status st = lr_tensor_copy_from_host(t, h, sizeof(float) * (size_t)nc);
  free(h);
  LR_TRY(st);
  *out = t;
  return LR_OK;
}

/* ---- the copy reference ---- */
typedef struct {
  lr_tensor *src, *dst;
} copy_arg;

static lr_status k_copy(bctx *b, void *p) {
  copy_arg *c = p;
  size_t n = lr_nbytes(c->src);
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) return lr_cuda_memcpy_d2d(c->dst->data, c->src->data, n);
#endif
  (void)b;
  const int64_t parts = 64;
#pragma omp parallel for
  for (int64_t i = 0; i < parts; i++) {
    size_t a = n * (size_t)i / parts, e = n * (size_t)(i + 1) / parts;
    memcpy((char *)c->dst->data + a, (const char *)c->src->data + a, e - a);
  }
  return LR_OK;
}

/* ---- the plain single-threaded loops (the speed-up reference) ----
 * What a user would write: for each (b, d), for each t, for each n, discretize with libm (expf,
 * expm1f, cexpf), update the state and accumulate y; the backward recomputes the channel's states
 * into a (L, N) buffer and walks back with the adjoint. f32 / float complex, no threads, no SIMD
 * intrinsics, compiled with the library's flags. They write the same outputs as the kernels, so
 * the table also reports how far apart the two are (max |kernel - plain| / max |plain|). */
typedef struct {
  float complex *hs; /* (L + 1) N states of one channel */
  float *acc;        /* L: Σ C h of one channel */
} plain_ws;

static float softplus_f(float x) { return x <= 20.0f ? log1pf(expf(x)) : x; }
static float sigmoid_f(float x) { return 1.0f / (1.0f + expf(-x)); }

/* Ā and B̄ of the real plain loops: mamba (Ā = exp(ΔA), B̄ = Δ), dirac (B̄ = 1), zoh
 * (B̄ = expm1(ΔA)/A) or bilinear (Ā = (1 + ΔA/2)/(1 - ΔA/2), B̄ = Δ/(1 - ΔA/2)) */
static inline void plain_disc(lr_disc k, float dl, float An, float *ab, float *bb) {
  if (k == LR_DISC_BILINEAR) {
    const float q = 1 - 0.5f * dl * An;
    *ab = (1 + 0.5f * dl * An) / q, *bb = dl / q;
    return;
  }
  *ab = expf(dl * An);
  *bb = k == LR_DISC_ZOH ? expm1f(dl * An) / An : k == LR_DISC_DIRAC ? 1.0f : dl;
}

/* Ā, B̄ and their partials ∂Ā/∂Δ, ∂Ā/∂A, ∂B̄/∂Δ, ∂B̄/∂A (plain_disc's kinds) */
static inline void plain_dpart(lr_disc k, float dl, float An, float *ab, float *bb, float *dab_dl, float *dab_dA,
                               float *dbb_dl, float *dbb_dA) {
  plain_disc(k, dl, An, ab, bb);
  *dab_dl = *ab * An, *dab_dA = *ab * dl, *dbb_dl = 1, *dbb_dA = 0;
  if (k == LR_DISC_BILINEAR) {
    const float q = 1 - 0.5f * dl * An, r2 = 1 / (q * q);
    *dab_dl = An * r2, *dab_dA = dl * r2, *dbb_dl = r2, *dbb_dA = 0.5f * dl * dl * r2;
  } else if (k == LR_DISC_ZOH) {
    *dbb_dl = *ab;
    *dbb_dA = (dl * An * *ab - expm1f(dl * An)) / (An * An);
  } else if (k == LR_DISC_DIRAC) {
    *dbb_dl = 0;
  }
}

/* Real selective scan (plain_disc), fixed or variable B and C, optional deltaA (Ā from Δ_A, B̄
 * from Δ) and lengths. */
static void plain_real_fwd(const lr_scan_in *a, float *y, plain_ws *w) {
  const int64_t D = a->D, L = a->L, N = a->N;
  const float *u = a->u, *delta = a->delta, *A = a->A, *Bm = a->Bm, *Cm = a->Cm, *Dv = a->Dv, *z = a->z,
              *bias = a->dbias, *dA = a->deltaA;
  float *h = (float *)w->hs;
  for (int64_t b = 0; b < a->Bn; b++)
    for (int64_t d = 0; d < D; d++) {
      const int64_t Lb = a->lengths ? a->lengths[b] : L;
      for (int64_t n = 0; n < N; n++) h[n] = 0;
      for (int64_t t = 0; t < L; t++) {
        const int64_t i = (b * D + d) * L + t;
        if (t >= Lb) {
          y[i] = 0;
          continue;
        }
        float dl = delta[i] + (bias ? bias[d] : 0.0f);
        if (a->softplus) dl = softplus_f(dl);
        const float dla = dA ? dA[i] : dl;
        float yt = 0;
        for (int64_t n = 0; n < N; n++) {
          const float An = A[d * N + n];
          const float Bn = a->varB ? Bm[(b * N + n) * L + t] : Bm[d * N + n];
          const float Cn = a->varC ? Cm[(b * N + n) * L + t] : Cm[d * N + n];
          float ab, bb;
          plain_disc(a->disc, dla, An, &ab, &bb);
          if (dA) {
            float ab2;
            plain_disc(a->disc, dl, An, &ab2, &bb);
          }
          if (a->reset && a->reset[b * L + t]) ab = 0; /* a new sequence */
          h[n] = ab * h[n] + bb * Bn * u[i];
          yt += Cn * h[n];
        }
        if (Dv) yt += Dv[d] * u[i];
        if (z) yt *= z[i] * sigmoid_f(z[i]);
        y[i] = yt;
      }
    }
}

static void plain_real_bwd(const lr_scan_in *a, const lr_scan_grads *g, plain_ws *w) {
  const int64_t D = a->D, L = a->L, N = a->N;
  const float *u = a->u, *delta = a->delta, *A = a->A, *Bm = a->Bm, *Cm = a->Cm, *Dv = a->Dv, *z = a->z,
              *bias = a->dbias, *gy = g->gy, *deA = a->deltaA;
  float *hs = (float *)w->hs, *acc = w->acc, *du = g->du, *ddl = g->ddelta, *dz = g->dz, *dA = g->dA_p,
        *ddA = g->ddeltaA;
  float *dB = g->dB, *dC = g->dC;
  if (a->varB) memset(dB, 0, sizeof(float) * (size_t)(a->Bn * N * L));
  if (a->varC) memset(dC, 0, sizeof(float) * (size_t)(a->Bn * N * L));
  for (int64_t b = 0; b < a->Bn; b++)
    for (int64_t d = 0; d < D; d++) {
      const int64_t o = (b * D + d) * N, Lb = a->lengths ? a->lengths[b] : L;
      for (int64_t n = 0; n < N; n++) hs[n] = 0;
      for (int64_t t = 0; t < Lb; t++) { /* recompute the states */
        const int64_t i = (b * D + d) * L + t;
        float dl = delta[i] + (bias ? bias[d] : 0.0f);
        if (a->softplus) dl = softplus_f(dl);
        const float dla = deA ? deA[i] : dl;
        float yt = 0;
        for (int64_t n = 0; n < N; n++) {
          const float An = A[d * N + n];
          const float Bn = a->varB ? Bm[(b * N + n) * L + t] : Bm[d * N + n];
          const float Cn = a->varC ? Cm[(b * N + n) * L + t] : Cm[d * N + n];
          float ab, bb;
          plain_disc(a->disc, dla, An, &ab, &bb);
          if (deA) {
            float ab2;
            plain_disc(a->disc, dl, An, &ab2, &bb);
          }
          if (a->reset && a->reset[b * L + t]) ab = 0;
          hs[(t + 1) * N + n] = ab * hs[t * N + n] + bb * Bn * u[i];
          yt += Cn * hs[(t + 1) * N + n];
        }
        acc[t] = yt;
      }
      float *dh = (float *)w->hs + (L + 1) * N, dDd = 0, dbd = 0;
      for (int64_t n = 0; n < N; n++) dh[n] = dA[o + n] = 0;
      if (!a->varB)
        for (int64_t n = 0; n < N; n++) dB[o + n] = 0;
      if (!a->varC)
        for (int64_t n = 0; n < N; n++) dC[o + n] = 0;
      for (int64_t t = L - 1; t >= 0; t--) {
        const int64_t i = (b * D + d) * L + t;
        if (t >= Lb) {
          du[i] = ddl[i] = 0;
          if (dz) dz[i] = 0;
          if (ddA) ddA[i] = 0;
          continue;
        }
        const float x = delta[i] + (bias ? bias[d] : 0.0f), dl = a->softplus ? softplus_f(x) : x;
        const float dla = deA ? deA[i] : dl;
        float gt = gy[i];
        if (z) {
          const float out = acc[t] + (Dv ? Dv[d] * u[i] : 0.0f), s = sigmoid_f(z[i]);
          dz[i] = gt * out * s * (1 + z[i] * (1 - s));
          gt *= z[i] * s;
        }
        float dut = 0, gd = 0, gdA = 0;
        if (Dv) {
          dDd += gt * u[i];
          dut = gt * Dv[d];
        }
        for (int64_t n = 0; n < N; n++) {
          const float An = A[d * N + n];
          const int64_t bi = a->varB ? (b * N + n) * L + t : o + n, ci = a->varC ? (b * N + n) * L + t : o + n;
          const float Bn = a->varB ? Bm[bi] : Bm[d * N + n], Cn = a->varC ? Cm[ci] : Cm[d * N + n];
          const float hp = hs[t * N + n];
          float ab, bb, dab_dl, dab_dA, dbb_dl, dbb_dA; /* Ā's from Δ_A (deltaA) */
          plain_dpart(a->disc, dla, An, &ab, &bb, &dab_dl, &dab_dA, &dbb_dl, &dbb_dA);
          if (deA) {
            float x1, x2, x3;
            plain_dpart(a->disc, dl, An, &x1, &bb, &x2, &x3, &dbb_dl, &dbb_dA);
          }
          if (a->reset && a->reset[b * L + t]) ab = dab_dl = dab_dA = 0;
          const float G = dh[n] + gt * Cn;
          dC[ci] += gt * hs[(t + 1) * N + n];
          dA[o + n] += G * hp * dab_dA + G * Bn * u[i] * dbb_dA;
          if (deA) {
            gdA += G * hp * dab_dl;
            gd += G * Bn * u[i] * dbb_dl;
          } else {
            gd += G * hp * dab_dl + G * Bn * u[i] * dbb_dl;
          }
          dB[bi] += G * bb * u[i];
          dut += G * bb * Bn;
          dh[n] = G * ab;
        }
        du[i] = dut;
        if (ddA) ddA[i] = gdA;
        if (a->softplus && x <= 20) gd *= sigmoid_f(x);
        ddl[i] = gd;
        dbd += gd;
      }
      for (int64_t n = 0; n < N; n++) ((float *)g->dh0)[o + n] = dh[n];
      if (g->dD_p) ((float *)g->dD_p)[b * D + d] = dDd;
      if (g->dbias_p) ((float *)g->dbias_p)[b * D + d] = dbd;
    }
}

/* Complex zoh, fixed B and C: y = 2 Re Σ C h + D u. */
static void plain_cplx_fwd(const lr_scan_in *a, float *y, plain_ws *w) {
  const int64_t D = a->D, L = a->L, N = a->N;
  const float *u = a->u, *delta = a->delta, *Dv = a->Dv;
  const float complex *A = a->A, *Bm = a->Bm, *Cm = a->Cm;
  float complex *h = w->hs;
  for (int64_t b = 0; b < a->Bn; b++)
    for (int64_t d = 0; d < D; d++) {
      for (int64_t n = 0; n < N; n++) h[n] = 0;
      for (int64_t t = 0; t < L; t++) {
        const int64_t i = (b * D + d) * L + t;
        const float dl = delta[i];
        float yt = 0;
        for (int64_t n = 0; n < N; n++) {
          const float complex An = A[d * N + n], ab = cexpf(dl * An), bb = (ab - 1.0f) / An;
          h[n] = ab * h[n] + bb * Bm[d * N + n] * u[i];
          yt += 2 * crealf(Cm[d * N + n] * h[n]);
        }
        y[i] = yt + (Dv ? Dv[d] * u[i] : 0.0f);
      }
    }
}

static void plain_cplx_bwd(const lr_scan_in *a, const lr_scan_grads *g, plain_ws *w) {
  const int64_t D = a->D, L = a->L, N = a->N;
  const float *u = a->u, *delta = a->delta, *Dv = a->Dv, *gy = g->gy;
  const float complex *A = a->A, *Bm = a->Bm, *Cm = a->Cm;
  float complex *hs = w->hs, *dh = w->hs + (L + 1) * N, *dA = g->dA_p, *dB = g->dB, *dC = g->dC;
  for (int64_t b = 0; b < a->Bn; b++)
    for (int64_t d = 0; d < D; d++) {
      const int64_t o = (b * D + d) * N;
      for (int64_t n = 0; n < N; n++) hs[n] = 0;
      for (int64_t t = 0; t < L; t++) {
        const int64_t i = (b * D + d) * L + t;
        for (int64_t n = 0; n < N; n++) {
          const float complex An = A[d * N + n], ab = cexpf(delta[i] * An), bb = (ab - 1.0f) / An;
          hs[(t + 1) * N + n] = ab * hs[t * N + n] + bb * Bm[d * N + n] * u[i];
        }
      }
      float dDd = 0;
      for (int64_t n = 0; n < N; n++) dh[n] = dA[o + n] = dB[o + n] = dC[o + n] = 0;
      for (int64_t t = L - 1; t >= 0; t--) {
        const int64_t i = (b * D + d) * L + t;
        const float dl = delta[i], gt = gy[i];
        float dut = Dv ? gt * Dv[d] : 0.0f, gd = 0;
        if (Dv) dDd += gt * u[i];
        for (int64_t n = 0; n < N; n++) {
          const float complex An = A[d * N + n], Bn = Bm[d * N + n], ab = cexpf(dl * An), bb = (ab - 1.0f) / An;
          const float complex G = dh[n] + 2 * gt * conjf(Cm[d * N + n]);
          dC[o + n] += 2 * gt * conjf(hs[(t + 1) * N + n]);
          const float complex gA = G * conjf(hs[t * N + n]), gB = G * conjf(Bn * u[i]);
          const float complex dbb_dA = (dl * An * ab - (ab - 1.0f)) / (An * An);
          dA[o + n] += gA * conjf(dl * ab) + gB * conjf(dbb_dA);
          gd += crealf(gA * conjf(An * ab)) + crealf(gB * conjf(ab));
          dB[o + n] += G * conjf(bb) * u[i];
          dut += crealf(G * conjf(bb * Bn));
          dh[n] = G * conjf(ab);
        }
        ((float *)g->du)[i] = dut;
        ((float *)g->ddelta)[i] = gd;
      }
      for (int64_t n = 0; n < N; n++) ((float complex *)g->dh0)[o + n] = dh[n];
      if (g->dD_p) ((float *)g->dD_p)[b * D + d] = dDd;
    }
}

/* Diagonal scan, zoh, Δ per state: h_t = e^{Δλ} h_{t-1} + (e^{Δλ} - 1)/λ x_t, every state out;
 * with Δ_A per step (Event-SSM) Ā_t = e^{Δ_A,t λ}. */
static void plain_diag_fwd(const lr_dscan_in *a, float complex *h, float complex *hL) {
  const float complex *x = a->x, *lam = a->lam;
  const float *dl = a->delta, *da = a->deltaA;
  for (int64_t b = 0; b < a->Bn; b++)
    for (int64_t p = 0; p < a->P; p++) {
      const int64_t r = (b * a->P + p) * a->L;
      float complex s = 0;
      for (int64_t t = 0; t < a->L; t++) {
        const float complex e = cexpf(dl[p] * lam[p]), bb = (e - 1.0f) / lam[p];
        const float complex ab = da ? cexpf(da[r + t] * lam[p]) : e;
        s = ab * s + bb * x[r + t];
        h[r + t] = s;
      }
      hL[b * a->P + p] = s;
    }
}

static void plain_diag_bwd(const lr_dscan_in *a, const float complex *h, const float complex *gh, float complex *dx,
                           float complex *dlam, float *ddl, float *ddla, float complex *dh0) {
  const float complex *x = a->x, *lam = a->lam;
  const float *dl = a->delta, *da = a->deltaA;
  for (int64_t b = 0; b < a->Bn; b++)
    for (int64_t p = 0; p < a->P; p++) {
      const int64_t r = (b * a->P + p) * a->L;
      float complex G = 0, dlp = 0;
      for (int64_t t = a->L - 1; t >= 0; t--) {
        const float complex lp = lam[p], e = cexpf(dl[p] * lp), bb = (e - 1.0f) / lp;
        const float dat = da ? da[r + t] : dl[p];
        const float complex ab = da ? cexpf(dat * lp) : e;
        G += gh[r + t];
        const float complex hp = t ? h[r + t - 1] : 0, gA = G * conjf(hp), gB = G * conjf(x[r + t]);
        dx[r + t] = G * conjf(bb);
        dlp += gA * conjf(dat * ab) + gB * conjf((dl[p] * lp * e - (e - 1.0f)) / (lp * lp));
        if (da) {
          ddla[r + t] = crealf(gA * conjf(lp * ab));
          ddl[r + t] = crealf(gB * conjf(e));
        } else {
          ddl[r + t] = crealf(gA * conjf(lp * ab)) + crealf(gB * conjf(ab));
        }
        G *= conjf(ab);
      }
      dlam[b * a->P + p] = dlp;
      dh0[b * a->P + p] = G;
    }
}

/* ---- selective scan ---- */
typedef struct {
  lr_scan_in a;
  lr_scan_grads g;
  void *y, *hL, *ckpt, *ws, *dAs;
  size_t ws_bytes;
  plain_ws pw;
} sel_arg;

static lr_status k_sel_plain_fwd(bctx *b, void *p) {
  sel_arg *s = p;
  (void)b;
  if (s->a.cplx) plain_cplx_fwd(&s->a, s->y, &s->pw);
  else plain_real_fwd(&s->a, s->y, &s->pw);
  return LR_OK;
}

/* As k_sel_bwd: the backward, then the batch sum of the dA partials. */
static lr_status k_sel_plain_bwd(bctx *b, void *p) {
  sel_arg *s = p;
  (void)b;
  if (s->a.cplx) plain_cplx_bwd(&s->a, &s->g, &s->pw);
  else plain_real_bwd(&s->a, &s->g, &s->pw);
  const int64_t M = s->a.D * s->a.N * (s->a.cplx ? 2 : 1);
  const float *src = s->g.dA_p;
  float *dst = s->dAs;
  for (int64_t m = 0; m < M; m++) {
    float acc = 0;
    for (int64_t i = 0; i < s->a.Bn; i++) acc += src[i * M + m];
    dst[m] = acc;
  }
  return LR_OK;
}

static lr_status k_sel_fwd(bctx *b, void *p) {
  sel_arg *s = p;
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) return lr_kcuda_scan_fwd(&s->a, s->y, s->hL, s->ckpt, NULL);
#endif
  lr_kcpu_scan_fwd(&s->a, s->y, s->hL, s->ckpt, s->ws, b->nt);
  return LR_OK;
}

/* The kernel plus the op's batch sum of the dA partials (the other sums are as small). */
static lr_status k_sel_bwd(bctx *b, void *p) {
  sel_arg *s = p;
  const int64_t M = s->a.D * s->a.N * (s->a.cplx ? 2 : 1);
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) {
    LR_TRY(lr_kcuda_scan_bwd(&s->a, s->ckpt, &s->g, s->ws, NULL));
    return lr_kcuda_sum_leading(s->a.rdt, s->a.Bn, M, s->g.dA_p, s->dAs, NULL);
  }
#endif
  lr_kcpu_scan_bwd(&s->a, s->ckpt, &s->g, s->ws, b->nt);
  lr_kcpu_sum_leading(s->a.rdt, s->a.Bn, M, s->g.dA_p, s->dAs);
  return LR_OK;
}

typedef enum { V_MAMBA, V_MAMBA_FIX, V_DIRAC, V_ZOHV, V_BIL, V_STREAM, V_LEN, V_RST, V_ZOH, V_CZOH, V_NSEL } sel_variant;

static lr_status sel_setup(bctx *b, sel_variant v, int64_t Bn, int64_t D, int64_t L, int64_t N, sel_arg *s,
                           double *fwd_bytes, double *bwd_bytes) {
  memset(s, 0, sizeof *s);
  lr_scan_in *a = &s->a;
  a->rdt = LR_DTYPE_F32;
  a->cplx = v == V_CZOH;
  a->disc = (v == V_MAMBA || v == V_STREAM || v == V_LEN || v == V_RST) ? LR_DISC_MAMBA
            : v == V_DIRAC                               ? LR_DISC_DIRAC
            : v == V_BIL                                 ? LR_DISC_BILINEAR
                                                         : LR_DISC_ZOH;
  a->Bn = Bn, a->D = D, a->L = L, a->N = N, a->G = 1;
  /* real mamba var's inputs */
  const bool mvar =
      v == V_MAMBA || v == V_DIRAC || v == V_ZOHV || v == V_BIL || v == V_STREAM || v == V_LEN || v == V_RST;
  a->varB = a->varC = mvar;
  a->softplus = mvar || v == V_MAMBA_FIX;
  if (v == V_MAMBA_FIX) a->disc = LR_DISC_MAMBA;
  a->chunk = 64;
  lr_dtype wdt = a->cplx ? LR_DTYPE_C64 : LR_DTYPE_F32;
  lr_tensor *t;
  LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, D, L), -1, 1, 1, &t));
  a->u = t->data;
  LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, D, L), a->softplus ? -3 : 0.001, a->softplus ? 0 : 0.1, 2, &t));
  a->delta = t->data;
  LR_TRY(filled(b, wdt, LR_SHAPE(D, N), -2, -0.1, 3, &t));
  a->A = t->data;
  if (a->varB) LR_TRY(filled(b, wdt, LR_SHAPE(Bn, 1, N, L), -1, 1, 4, &t));
  else LR_TRY(filled(b, wdt, LR_SHAPE(D, N), -1, 1, 4, &t));
  a->Bm = t->data;
  if (a->varC) LR_TRY(filled(b, wdt, LR_SHAPE(Bn, 1, N, L), -1, 1, 5, &t));
  else LR_TRY(filled(b, wdt, LR_SHAPE(D, N), -1, 1, 5, &t));
  a->Cm = t->data;
  LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(D), -1, 1, 6, &t));
  a->Dv = t->data;
  if (mvar) {
    LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, D, L), -2, 2, 7, &t));
    a->z = t->data;
  }
  if (a->softplus) {
    LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(D), -0.5, 0.5, 8, &t));
    a->dbias = t->data;
  }
  if (v == V_STREAM) { /* STREAM's Δ_A = τ softplus(bias) > 0 */
    LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, D, L), 0.01, 0.5, 10, &t));
    a->deltaA = t->data;
  }
  double live = 1; /* the fraction of steps inside the lengths */
  if (v == V_LEN) { /* L, then down by L / 2B + 1 a sequence: every length but the first odd or even */
    int64_t *lv = malloc(sizeof(int64_t) * (size_t)Bn);
    if (!lv) return lr_fail(LR_ERR_MEMORY, "lrnnx bench scan: out of host memory");
    double sum = 0;
    for (int64_t i = 0; i < Bn; i++) {
      lv[i] = L - i * (L / (2 * Bn) + 1);
      lv[i] = lv[i] < 0 ? 0 : lv[i];
      sum += (double)lv[i];
    }
    live = Bn * L > 0 ? sum / (double)(Bn * L) : 1;
    lr_status st = lr_empty_on(LR_DTYPE_I64, b->dev, LR_SHAPE(Bn), &t);
    if (st == LR_OK) st = lr_tensor_copy_from_host(t, lv, sizeof(int64_t) * (size_t)Bn);
    free(lv);
    LR_TRY(st);
    a->lengths = t->data;
  }
  if (v == V_RST) { /* packed sequences: a new one every 1000 steps, at offsets that differ by row */
    uint8_t *rv = malloc((size_t)(Bn * L));
    if (!rv) return lr_fail(LR_ERR_MEMORY, "lrnnx bench scan: out of host memory");
    for (int64_t i = 0; i < Bn; i++)
      for (int64_t j = 0; j < L; j++) rv[i * L + j] = j > 0 && (j + 97 * i) % 1000 == 0;
    lr_status st = lr_empty_on(LR_DTYPE_BOOL, b->dev, LR_SHAPE(Bn, L), &t);
    if (st == LR_OK) st = lr_tensor_copy_from_host(t, rv, (size_t)(Bn * L));
    free(rv);
    LR_TRY(st);
    a->reset = t->data;
  }
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) a->chunk = lr_kcuda_scan_chunk(a); /* the op's default on the GPU */
#endif
  const int64_t nch = (L + a->chunk - 1) / a->chunk;
  LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D, L), &t));
  s->y = t->data;
  LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, D, N), &t));
  s->hL = t->data;
  LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, D, nch, N), &t));
  s->ckpt = t->data;
  lr_scan_grads *g = &s->g;
  LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, D, L), -1, 1, 9, &t));
  g->gy = t->data;
  LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D, L), &t));
  g->du = t->data;
  LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D, L), &t));
  g->ddelta = t->data;
  if (a->z) {
    LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D, L), &t));
    g->dz = t->data;
  }
  if (a->deltaA) {
    LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D, L), &t));
    g->ddeltaA = t->data;
  }
  LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, D, N), &t));
  g->dA_p = t->data;
  LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(D, N), &t));
  s->dAs = t->data;
  if (a->varB) LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, 1, N, L), &t));
  else LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, D, N), &t));
  g->dB = t->data;
  if (a->varC) LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, 1, N, L), &t));
  else LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, D, N), &t));
  g->dC = t->data;
  LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D), &t));
  g->dD_p = t->data;
  if (a->dbias) {
    LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D), &t));
    g->dbias_p = t->data;
  }
  LR_TRY(lr_empty_on(wdt, b->dev, LR_SHAPE(Bn, D, N), &t));
  g->dh0 = t->data;
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) s->ws_bytes = lr_kcuda_scan_ws_bytes(a);
  else
#endif
    s->ws_bytes = lr_kcpu_scan_ws_bytes(a, omp_get_max_threads(), true);
  LR_TRY(lr_empty_on(LR_DTYPE_F64, b->dev, LR_SHAPE((int64_t)(s->ws_bytes + 7) / 8), &t));
  s->ws = t->data;
  if (b->dev == LR_DEVICE_CPU) { /* the plain loops' buffers: (L + 2) N states, L sums */
    LR_TRY(lr_empty(LR_DTYPE_C64, LR_SHAPE((L + 2) * N), &t));
    s->pw.hs = t->data;
    LR_TRY(lr_empty(LR_DTYPE_F32, LR_SHAPE(L), &t));
    s->pw.acc = t->data;
  }
  const double bdl = (double)(Bn * D * L) * 4, var = (double)(Bn * N * L) * (a->cplx ? 8 : 4);
  const int nbc = (a->varB ? 1 : 0) + (a->varC ? 1 : 0), nz = a->z ? 1 : 0, na = a->deltaA ? 1 : 0;
  /* reads (only the steps inside the lengths), then writes */
  *fwd_bytes = live * (bdl * (2 + nz + na) + var * nbc) + bdl;
  *bwd_bytes = live * (bdl * (3 + nz + na) + var * nbc) + bdl * (2 + nz + na) + var * nbc;
  return LR_OK;
}

/* ---- diagonal scan ---- */
typedef struct {
  lr_dscan_in a;
  void *h, *hL, *gh, *dx, *dlp, *ddl, *ddla, *dh0;
} ds_arg;

static lr_status k_ds_fwd(bctx *b, void *p) {
  ds_arg *s = p;
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA) return lr_kcuda_dscan_fwd(&s->a, s->h, s->hL, NULL);
#endif
  int prev = omp_get_max_threads();
  omp_set_num_threads(b->nt);
  lr_kcpu_dscan_fwd(&s->a, s->h, s->hL);
  omp_set_num_threads(prev);
  return LR_OK;
}

static lr_status k_ds_bwd(bctx *b, void *p) {
  ds_arg *s = p;
#ifdef LR_CUDA
  if (b->dev == LR_DEVICE_CUDA)
    return lr_kcuda_dscan_bwd(&s->a, s->h, s->gh, NULL, s->dx, s->dlp, s->ddl, s->ddla, s->dh0, NULL);
#endif
  int prev = omp_get_max_threads();
  omp_set_num_threads(b->nt);
  lr_kcpu_dscan_bwd(&s->a, s->h, s->gh, NULL, s->dx, s->dlp, s->ddl, s->ddla, s->dh0);
  omp_set_num_threads(prev);
  return LR_OK;
}

static lr_status k_ds_plain_fwd(bctx *b, void *p) {
  ds_arg *s = p;
  (void)b;
  plain_diag_fwd(&s->a, s->h, s->hL);
  return LR_OK;
}

static lr_status k_ds_plain_bwd(bctx *b, void *p) {
  ds_arg *s = p;
  (void)b;
  plain_diag_bwd(&s->a, s->h, s->gh, s->dx, s->dlp, s->ddl, s->ddla, s->dh0);
  return LR_OK;
}

/* ev: Event-SSM's case, Δ_A (B, P, L) per step */
static lr_status ds_setup(bctx *b, bool ev, int64_t Bn, int64_t P, int64_t L, ds_arg *s, double *fb, double *bb) {
  memset(s, 0, sizeof *s);
  lr_dscan_in *a = &s->a;
  a->dt = LR_DTYPE_C64;
  a->disc = LR_DISC_ZOH;
  a->Bn = Bn, a->P = P, a->L = L;
  a->delta_bcast = true;
  lr_tensor *t;
  LR_TRY(filled(b, LR_DTYPE_C64, LR_SHAPE(Bn, P, L), -1, 1, 11, &t));
  a->x = t->data;
  LR_TRY(filled(b, LR_DTYPE_C64, LR_SHAPE(P), -1, -0.01, 12, &t));
  a->lam = t->data;
  LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(P), 0.001, 0.1, 13, &t));
  a->delta = t->data;
  if (ev) {
    LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, P, L), 0.0001, 0.2, 15, &t));
    a->deltaA = t->data;
    LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, P, L), &t));
    s->ddla = t->data;
  }
  void **bufs[6] = {&s->h, &s->gh, &s->dx, &s->ddl, &s->hL, &s->dlp};
  for (int i = 0; i < 6; i++) {
    lr_dtype dt = i == 3 ? LR_DTYPE_F32 : LR_DTYPE_C64;
    if (i < 4) LR_TRY(i == 1 ? filled(b, dt, LR_SHAPE(Bn, P, L), -1, 1, 14, &t) : lr_empty_on(dt, b->dev, LR_SHAPE(Bn, P, L), &t));
    else LR_TRY(lr_empty_on(dt, b->dev, LR_SHAPE(Bn, P), &t));
    *bufs[i] = t->data;
  }
  LR_TRY(lr_empty_on(LR_DTYPE_C64, b->dev, LR_SHAPE(Bn, P), &t));
  s->dh0 = t->data;
  const double n = (double)(Bn * P * L);
  *fb = n * (16 + (ev ? 4 : 0));          /* x read, h written (c64), Δ_A read */
  *bb = n * (8 * 4 + 4 + (ev ? 8 : 0)); /* x, h, dh read, dx written (c64), ddelta (dΔ_A) written, Δ_A read */
  return LR_OK;
}

/* ---- the table ---- */
/* One timed pass on the CPU: the kernel on every thread and on one, the plain loop, and the
 * difference of a result (n floats at res) between the kernel and the plain loop. */
typedef struct {
  double ms, ms1, plain, diff;
} pass_t;

static double max_abs(const float *x, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
  return m;
}

static lr_status time_pass(bctx *b, kfn kern, kfn plain, void *arg, const float *res, int64_t n, float *save,
                           pass_t *o) {
  LR_TRY(timed(b, kern, arg, &o->ms));
  o->ms1 = o->plain = o->diff = 0;
  if (b->dev != LR_DEVICE_CPU) return LR_OK;
  int nt = b->nt, reps = b->reps;
  b->nt = 1;
  b->reps = b->use_min && reps > 1 ? (reps < 3 ? reps : 3) : 1;
  lr_status st = timed(b, kern, arg, &o->ms1);
  if (st == LR_OK) {
    memcpy(save, res, sizeof(float) * (size_t)n);
    st = timed(b, plain, arg, &o->plain);
  }
  b->nt = nt;
  b->reps = reps;
  LR_TRY(st);
  double m = max_abs(res, n), e = 0;
  for (int64_t i = 0; i < n; i++) e = fmax(e, fabs((double)save[i] - (double)res[i]));
  o->diff = m > 0 ? e / m : e;
  return LR_OK;
}

static void row(FILE *out, bctx *b, const char *name, const char *pass, const pass_t *p, double bytes,
                double copy_gbs) {
  double gbs = bytes / (p->ms * 1e6);
  fprintf(out, "%-16s %-4s %9.3f %8.2f %7.1f%%", name, pass, p->ms, gbs, 100 * gbs / copy_gbs);
  if (b->dev == LR_DEVICE_CPU)
    fprintf(out, " %9.3f %6.2fx %10.3f %8.1fx %9.1e", p->ms1, p->ms1 / p->ms, p->plain, p->plain / p->ms, p->diff);
  fputc('\n', out);
}

#ifdef LR_CUDA
/* A pass's rate of special-function evaluations (ops of them in ms) against the device's peak
 * (lr_cuda_sfu_peak: the hardware approximations' rate, which the kernels use: ex2, rcp, and sin
 * and cos after reducing the angle, kernels/cuda/scan_k.cuh). The complex scan's limit is its
 * special functions, not memory: each state update needs e^(Δ Re λ), cos and sin of Δ Im λ (three
 * evaluations; the backward recomputes them once). The real Mamba forward needs one per state
 * update (e^(Δ A)) and three per element (softplus's exp, silu's exp and reciprocal): at the peak
 * that alone takes 0.305 ms at B 8, D 2048, L 4096, N 16 on an H200, 86% of a copy's bandwidth. */
static void sfu_row(FILE *out, const char *name, const char *pass, double ops, double ms) {
  const double peak = lr_cuda_sfu_peak();
  if (peak <= 0) return;
  const double rate = ops / (ms * 1e-3);
  fprintf(out, "  %-14s %-4s %9s special functions %.1f G/s, %.1f%% of the device's %.0f G/s peak\n", name, pass, "",
          rate / 1e9, 100 * rate / peak, peak / 1e9);
}
#endif

static lr_status run(bctx *b, FILE *out, int64_t Bn, int64_t D, int64_t L, int64_t N) {
  lr_tensor *src, *dst;
  LR_TRY(filled(b, LR_DTYPE_F32, LR_SHAPE(Bn, D, L), -1, 1, 99, &src));
  LR_TRY(lr_empty_on(LR_DTYPE_F32, b->dev, LR_SHAPE(Bn, D, L), &dst));
  copy_arg ca = {src, dst};
  double cms;
  b->nt = omp_get_max_threads();
  /* The copy is the reference: its best of at least 10 runs. It runs first, while OpenBLAS's
   * threads (started with the process) still spin; single runs then read 1-5 ms for 4 MB. */
  const bool um = b->use_min;
  const int reps = b->reps;
  b->use_min = true;
  b->reps = reps < 10 ? 10 : reps;
  lr_status cst = timed(b, k_copy, &ca, &cms);
  b->use_min = um;
  b->reps = reps;
  LR_TRY(cst);
  double copy_gbs = 2.0 * (double)lr_nbytes(src) / (cms * 1e6);
  const bool cpu = b->dev == LR_DEVICE_CPU;
  fprintf(out, "scan kernels on %s: B=%lld D=%lld L=%lld N=%lld (f32 / c64), %s of %d", cpu ? "cpu" : "cuda",
          (long long)Bn, (long long)D, (long long)L, (long long)N, b->use_min ? "min" : "median", b->reps);
  if (cpu) fprintf(out, ", %d threads", b->nt);
  fprintf(out, "\ncopy: %.3f ms, %.1f GB/s (read + write of %.0f MB)\n\n", cms, copy_gbs, lr_nbytes(src) / 1e6);
  fprintf(out, "%-16s %-4s %9s %8s %8s", "variant", "pass", "ms", "GB/s", "% copy");
  if (cpu) fprintf(out, " %9s %7s %10s %9s %9s", "1-thr ms", "thr x", "plain ms", "vs plain", "rel diff");
  fputc('\n', out);
  /* the kernel's results are saved here before the plain loop overwrites them */
  float *save = cpu ? malloc(sizeof(float) * (size_t)(2 * Bn * D * L)) : NULL;
  if (cpu && !save) return lr_fail(LR_ERR_MEMORY, "lrnnx bench scan: out of host memory");
  static const char *names[V_NSEL] = {"real mamba var",  "real mamba fix",  "real dirac var", "real zoh var",
                                      "real bilin var",  "real stream var", "real mamba len", "real mamba rst",
                                      "real zoh",        "complex zoh"};
  for (int v = 0; v < V_NSEL; v++) {
    lr_arena *ar = lr_arena_current();
    lr_arena_mark m = lr_arena_get_mark(ar);
    sel_arg s;
    double fb = 0, bb = 0;
    pass_t pf, pb;
    const int64_t n = Bn * D * L;
    lr_status st = sel_setup(b, (sel_variant)v, Bn, D, L, N, &s, &fb, &bb);
    if (st == LR_OK) st = time_pass(b, k_sel_fwd, k_sel_plain_fwd, &s, s.y, n, save, &pf);
    pass_t pi = {0};
    if (st == LR_OK && v == V_MAMBA) { /* the forward of a pass without gradients: no checkpoints */
      void *ck = s.ckpt;
      s.ckpt = NULL;
      st = time_pass(b, k_sel_fwd, k_sel_plain_fwd, &s, s.y, n, save, &pi);
      s.ckpt = ck;
    }
    /* the backward needs the kernel's checkpoints: run the forward again after the plain one */
    if (st == LR_OK && cpu) st = k_sel_fwd(b, &s);
    if (st == LR_OK) st = time_pass(b, k_sel_bwd, k_sel_plain_bwd, &s, s.g.ddelta, n, save, &pb);
    lr_arena_rewind(ar, m);
    if (st != LR_OK) {
      fprintf(out, "%-16s error: %s\n", names[v], lr_last_error());
      continue;
    }
    row(out, b, names[v], "fwd", &pf, fb, copy_gbs);
    if (v == V_MAMBA) row(out, b, names[v], "inf", &pi, fb, copy_gbs);
    row(out, b, names[v], "bwd", &pb, bb, copy_gbs);
#ifdef LR_CUDA
    if (v == V_CZOH && !cpu) {
      sfu_row(out, names[v], "fwd", 3.0 * (double)n * (double)N, pf.ms);
      sfu_row(out, names[v], "bwd", 3.0 * (double)n * (double)N, pb.ms);
    }
    if (v == V_MAMBA && !cpu) {
      sfu_row(out, names[v], "fwd", (double)n * (double)(N + 3), pf.ms);
      sfu_row(out, names[v], "inf", (double)n * (double)(N + 3), pi.ms);
    }
#endif
  }
  for (int ev = 0; ev < 2; ev++) {
    const char *name = ev ? "diag (event)" : "diag (S5)";
    lr_arena *ar = lr_arena_current();
    lr_arena_mark m = lr_arena_get_mark(ar);
    ds_arg s;
    double fb = 0, bb = 0;
    pass_t pf, pb;
    const int64_t n = Bn * D * L;
    lr_status st = ds_setup(b, ev, Bn, D, L, &s, &fb, &bb);
    if (st == LR_OK) st = time_pass(b, k_ds_fwd, k_ds_plain_fwd, &s, s.h, 2 * n, save, &pf);
    if (st == LR_OK) st = time_pass(b, k_ds_bwd, k_ds_plain_bwd, &s, s.ddl, n, save, &pb);
    lr_arena_rewind(ar, m);
    if (st != LR_OK) {
      fprintf(out, "%-16s error: %s\n", name, lr_last_error());
    } else {
      row(out, b, name, "fwd", &pf, fb, copy_gbs);
      row(out, b, name, "bwd", &pb, bb, copy_gbs);
    }
  }
  free(save);
  return LR_OK;
}

int lr_tool_bench_scan(int argc, char **argv, FILE *out, FILE *err) {
  bctx b = {.dev = LR_DEVICE_CPU, .reps = 5, .nt = 1};
  long Bn = -1, D = -1, L = -1, N = 16;
  for (int i = 2; i < argc; i++) {
    const char *o = argv[i];
    if (i + 1 >= argc) {
      fprintf(err, "lrnnx bench scan: %s needs a value\n", o);
      return 2;
    }
    const char *v = argv[++i];
    char *end;
    long x = strtol(v, &end, 10);
    if (!strcmp(o, "--stat")) {
      if (!strcmp(v, "min") || !strcmp(v, "median")) b.use_min = !strcmp(v, "min");
      else {
        fprintf(err, "lrnnx bench scan: --stat is \"%s\", expected min or median\n", v);
        return 2;
      }
      continue;
    }
    if (!strcmp(o, "--path")) {
      int p = !strcmp(v, "auto") ? 0 : !strcmp(v, "seq") ? 1 : !strcmp(v, "tile") ? 2 : !strcmp(v, "mamba") ? 3 : -1;
      if (p < 0) {
        fprintf(err, "lrnnx bench scan: --path is \"%s\", expected auto, seq, tile or mamba\n", v);
        return 2;
      }
#ifdef LR_CUDA
      lr_kcuda_scan_set_path(p);
#endif
      continue;
    }
    if (!strcmp(o, "--device")) {
      if (!strcmp(v, "cpu")) b.dev = LR_DEVICE_CPU;
      else if (!strcmp(v, "cuda")) b.dev = LR_DEVICE_CUDA;
      else {
        fprintf(err, "lrnnx bench scan: --device is \"%s\", expected cpu or cuda\n", v);
        return 2;
      }
      continue;
    }
    if (*end || x <= 0 || x > (1L << 30)) {
      fprintf(err, "lrnnx bench scan: %s \"%s\" is not a positive integer\n", o, v);
      return 2;
    }
    if (!strcmp(o, "--B")) Bn = x;
    else if (!strcmp(o, "--D")) D = x;
    else if (!strcmp(o, "--L")) L = x;
    else if (!strcmp(o, "--N")) N = x;
    else if (!strcmp(o, "--reps")) b.reps = (int)x;
    else {
      fprintf(err, "lrnnx bench scan: unknown option %s\n", o);
      return 2;
    }
  }
  bool gpu = b.dev == LR_DEVICE_CUDA;
  if (Bn < 0) Bn = gpu ? 8 : 2;
  if (D < 0) D = gpu ? 2048 : 256;
  if (L < 0) L = gpu ? 4096 : 2048;
#ifndef LR_CUDA
  if (gpu) {
    fprintf(err, "lrnnx bench scan: built without CUDA\n");
    return 1;
  }
#else
  if (gpu) {
    if (lr_cuda_init() != LR_OK || lr_cuda_timer_new(&b.tm) != LR_OK) {
      fprintf(err, "lrnnx bench scan: %s\n", lr_last_error());
      return 1;
    }
  }
#endif
  b.times = malloc(sizeof(double) * (size_t)(b.reps < 10 ? 10 : b.reps)); /* the copy takes at least 10 */
  lr_status s = b.times ? run(&b, out, Bn, D, L, N) : LR_ERR_MEMORY;
  free(b.times);
#ifdef LR_CUDA
  if (b.tm) lr_cuda_timer_free(b.tm);
#endif
  if (s != LR_OK) {
    fprintf(err, "lrnnx bench scan: %s\n", lr_last_error());
    return 1;
  }
  return 0;
}
