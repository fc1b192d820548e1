/* S4 (lrnnx.models.lti.S4 with S4Kernel and FFTConvS4); see s4.h for the parameters and the math.
 *
 * Init, in lrnnx's order of draws (ops/s4_utils.py):
 *   inv_dt ~ U[log dt_min, log dt_max) ((H, 1) or (H, N')); for dt_transform != exp it is
 *     inv_transform(exp(inv_dt)); dt_fast stores asinh of that.
 *   A, P, B from combination(init): an NPLR init ("legs", "legt", "fourier") takes the HiPPO
 *     transition (A, b) and its rank correction P (legs: P_n = sqrt(n + 1/2)); AP = A + Σ_r P_r P_r^T
 *     is W_re I + S with S skew-symmetric, W_re = mean(diag AP); the eigenpairs of -i AP (LAPACK
 *     zheevd in double, as torch.linalg.eigh, which reads the lower triangle and the real part of
 *     the diagonal) sorted ascending, the lower half kept: W = W_re + i w, B = V^H b with Im B
 *     clipped to [-2, 2], P = V^H P (a zero last eigenvalue gets lrnnx's fixed eigenvector).
 *     "diag-X" / "dplr-X": Re = -1/2, Im from X (lin π n, inv N/π (N/(1 + 2n) - 1), inv2, quad,
 *     real: Im 0 and Re -(1 + n), legs/hippo: the NPLR W), B = 1 (legs/hippo: the NPLR B);
 *     P = randn complex · P_scale, P_scale 0 for diag-*, 1 for dplr-*.
 *     A_real = inv_T_re(max(-Re A, 1e-4)), A_imag = inv_T_im(max(-Im A, 1e-4)) (lrnnx clamps).
 *   C ~ complex normal (each part N(0, 1/2)) (C, H, N'), stored conjugated as lrnnx (the same
 *     distribution); D ~ N(0, 1) (C, H); output_linear as PyTorch's Linear (nn/linear.c).
 * Host-side (no tape, double precision, like lrnnx's @torch.no_grad helpers): C̃ (_setup_C), the
 * dense dA, dB (stepping the O(N) bilinear map on the unit vectors, _setup_state), A^L by repeated
 * squaring (power), the solves of _setup_step and the eigendecomposition of the diagonal mode
 * (LAPACK zgesv, zgeev).
 * Backward: the kernel and the forward are composed of differentiable ops (transforms, complex
 * arithmetic, cauchy, fft, fft_conv, gelu, linear), so every parameter and x get their gradients
 * from the tape. C̃ is the trained C, as in lrnnx.
 */
#include "nn/s4.h"

#include <cblas.h>
#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nn/lti_util.h"
#include "nn/registry.h"
#include "ops/complex.h"
#include "ops/elementwise.h"
#include "ops/fft_conv.h"
#include "ops/linalg.h"
#include "ops/reduce.h"
#include "ops/s4_kernels.h"
#include "ops/shape.h"
#include "ops/view.h"
#include "tensor/arena.h"

typedef double complex cplx;

lr_s4_config lr_s4_config_default(int64_t d_model) {
  lr_s4_config c;
  memset(&c, 0, sizeof c);
  c.d_model = d_model;
  c.d_state = 64;
  c.channels = 1;
  c.rank = 1;
  c.dt_min = 0.001;
  c.dt_max = 0.1;
  c.dt_tie = true;
  c.dt_transform = "exp";
  c.real_transform = "exp";
  c.imag_transform = "none";
  c.init = "legs";
  c.final_act = true;
  c.transposed = true;
  c.lr = -1;
  c.dtype = LR_DTYPE_F32;
  return c;
}

/* param_transform on a host value. */
static double host_tr(int t, double x) {
  switch (t) {
    case 1: return exp(x);
    case 2: return fmax(x, 0.0) + 1e-4;
    case 3: return 1.0 / (1.0 + exp(-x));
    case 4: return x > 20.0 ? x : log1p(exp(x));
    default: return x;
  }
}

/* ---- LAPACK (OpenBLAS) ---- */

extern void zheevd_(const char *jobz, const char *uplo, const int *n, cplx *a, const int *lda, double *w, cplx *work,
                    const int *lwork, double *rwork, const int *lrwork, int *iwork, const int *liwork, int *info, size_t,
                    size_t);
extern void zgesv_(const int *n, const int *nrhs, cplx *a, const int *lda, int *ipiv, cplx *b, const int *ldb,
                   int *info);
extern void zgeev_(const char *jobvl, const char *jobvr, const int *n, cplx *a, const int *lda, cplx *w, cplx *vl,
                   const int *ldvl, cplx *vr, const int *ldvr, cplx *work, const int *lwork, double *rwork, int *info,
                   size_t, size_t);

/* ---- initialisation of A, P, B ---- */

/* HiPPO transition (A (N, N) row-major, b (N)) and rank correction P (rank, N) (zero rows past the
 * measure's own rank). LR_ERR_ARG when the rank is below the measure's (legt needs 2). */
static lr_status transition(const char *measure, int N, int rank, double *A, double *b, double *P) {
  memset(A, 0, sizeof *A * (size_t)N * N);
  memset(P, 0, sizeof *P * (size_t)rank * N);
  if (!strcmp(measure, "legs")) {
    for (int i = 0; i < N; i++) {
      for (int j = 0; j < N; j++)
        A[i * N + j] = i > j ? -sqrt((2.0 * i + 1) * (2.0 * j + 1)) : i == j ? -(i + 1.0) : 0.0;
      b[i] = sqrt(2.0 * i + 1);
      P[i] = sqrt(i + 0.5);
    }
  } else if (!strcmp(measure, "legt")) {
    if (rank < 2) return lr_fail(LR_ERR_ARG, "lr_s4_new: init legt needs rank >= 2, got %d", rank);
    for (int i = 0; i < N; i++) {
      double ri = sqrt(2.0 * i + 1);
      for (int j = 0; j < N; j++) {
        double s = i < j ? (((j - i) % 2) ? -1.0 : 1.0) : 1.0;
        A[i * N + j] = -0.5 * ri * s * sqrt(2.0 * j + 1);
      }
      b[i] = 0.5 * ri;
    }
    /* lrnnx: P_n = sqrt(1 + 2n)/sqrt(2); P0 = P with the even entries zeroed, P1 with the odd ones */
    for (int i = 0; i < N; i++) {
      double ri = sqrt(2.0 * i + 1) * sqrt(0.5);
      P[i] = i % 2 ? ri : 0.0;
      P[N + i] = i % 2 ? 0.0 : ri;
    }
  } else if (!strcmp(measure, "fourier") || !strcmp(measure, "fout")) {
    /* d = [0, 0, 1, 0, 2, ...] (length N - 1); A = π(-diag(d, 1) + diag(d, -1)) - b b^T */
    for (int k = 0; k + 1 < N; k++) {
      int idx = k + 1; /* position in stack([0, f], -1).reshape(-1) */
      double d = idx % 2 ? (double)(idx / 2) : 0.0;
      A[k * N + k + 1] = -M_PI * d;
      A[(k + 1) * N + k] = M_PI * d;
    }
    for (int i = 0; i < N; i++) b[i] = i == 0 ? 1.0 : (i % 2 ? 0.0 : sqrt(2.0));
    for (int i = 0; i < N; i++)
      for (int j = 0; j < N; j++) A[i * N + j] -= b[i] * b[j];
    for (int i = 0; i < N; i++) P[i] = b[i];
  } else {
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_s4_new: init measure \"%s\" is not supported", measure);
  }
  return LR_OK;
}

/* lrnnx's nplr(measure, N, rank): W (N/2), P (rank, N/2), B (N/2). */
static lr_status nplr(const char *measure, int N, int rank, cplx *W, cplx *Pout, cplx *Bout) {
  const char *fn = "lr_s4_new";
  double *A = malloc(sizeof *A * (size_t)N * N), *b = malloc(sizeof *b * (size_t)N);
  double *P = malloc(sizeof *P * (size_t)rank * N), *w = malloc(sizeof *w * (size_t)N);
  cplx *a = malloc(sizeof *a * (size_t)N * N);
  cplx *work = NULL;
  double *rwork = NULL;
  int *iwork = NULL;
  lr_status s = LR_OK;
  if (!A || !b || !P || !w || !a) {
    s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    goto done;
  }
  if ((s = transition(measure, N, rank, A, b, P)) != LR_OK) goto done;
  double wre = 0;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double ap = A[i * N + j];
      for (int r = 0; r < rank; r++) ap += P[r * N + i] * P[r * N + j];
      if (i == j) wre += ap / N;
      a[i + (size_t)j * N] = -I * ap; /* column-major; zheevd reads the lower triangle, Re of the diagonal */
    }
  int lwork = -1, lrwork = -1, liwork = -1, info = 0, iw;
  cplx wq;
  double rq;
  zheevd_("V", "L", &N, a, &N, w, &wq, &lwork, &rq, &lrwork, &iw, &liwork, &info, 1, 1);
  lwork = (int)creal(wq);
  lrwork = (int)rq;
  liwork = iw;
  work = malloc((size_t)lwork * sizeof *work);
  rwork = malloc((size_t)lrwork * sizeof *rwork);
  iwork = malloc((size_t)liwork * sizeof *iwork);
  if (!work || !rwork || !iwork) {
    s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    goto done;
  }
  zheevd_("V", "L", &N, a, &N, w, work, &lwork, rwork, &lrwork, iwork, &liwork, &info, 1, 1);
  if (info != 0) {
    s = lr_fail(LR_ERR_INTERNAL, "%s: zheevd failed (info %d) for the %s init, N %d", fn, info, measure, N);
    goto done;
  }
  int N2 = N / 2;
  for (int k = 0; k < N2; k++) W[k] = wre + I * w[k]; /* ascending: the lower half */
  if (N2 >= 2 && cabs(W[N2 - 2]) <= 1e-4) {
    s = lr_fail(LR_ERR_ARG, "%s: init %s, N %d: more than one zero eigenvalue", fn, measure, N);
    goto done;
  }
  if (cabs(W[N2 - 1]) < 1e-4) { /* lrnnx's fixed eigenvector for a zero eigenvalue */
    for (int j = 0; j < N; j++) a[j + (size_t)(N2 - 1) * N] = 0;
    a[0 + (size_t)(N2 - 1) * N] = sqrt(0.5);
    if (N > 1) a[1 + (size_t)(N2 - 1) * N] = sqrt(0.5) * I;
  }
  for (int k = 0; k < N2; k++) {
    cplx bb = 0;
    for (int j = 0; j < N; j++) bb += conj(a[j + (size_t)k * N]) * b[j];
    Bout[k] = creal(bb) + I * fmin(fmax(cimag(bb), -2.0), 2.0);
    for (int r = 0; r < rank; r++) {
      cplx pp = 0;
      for (int j = 0; j < N; j++) pp += conj(a[j + (size_t)k * N]) * P[r * N + j];
      Pout[(size_t)r * N2 + k] = pp;
    }
  }
done:
  free(A);
  free(b);
  free(P);
  free(w);
  free(a);
  free(work);
  free(rwork);
  free(iwork);
  return s;
}

/* One init name (ssm()): rows A (N2), B (N2) and P (rank, N2) shared by its block of n_ssm rows
 * (random P is drawn per row by the caller: *random_P gets the P scale, 0 for none). */
static lr_status ssm_init(const char *init, int Nfull, int rank, cplx *A, cplx *B, cplx *P, double *p_scale) {
  int N2 = Nfull / 2;
  double N = (double)Nfull;
  *p_scale = 0;
  bool diag = !strncmp(init, "diag", 4), dplr = !strncmp(init, "dplr", 4);
  if (!diag && !dplr) return nplr(init, Nfull, rank, A, P, B);
  const char *kind = init + 4;
  if (*kind == '-') kind++;
  else if (*kind) return lr_fail(LR_ERR_UNSUPPORTED, "lr_s4_new: init \"%s\" is not supported", init);
  if (!*kind) kind = "hippo"; /* dplr()'s default */
  *p_scale = diag ? 0.0 : 1.0;
  memset(P, 0, sizeof *P * (size_t)rank * N2);
  if (!strcmp(kind, "legs") || !strcmp(kind, "hippo")) {
    LR_TRY(nplr("legs", Nfull, 1, A, P, B)); /* P is replaced by the random one */
    for (int n = 0; n < N2; n++) A[n] = -0.5 + I * cimag(A[n]);
    memset(P, 0, sizeof *P * (size_t)rank * N2);
    return LR_OK;
  }
  for (int n = 0; n < N2; n++) {
    double re = 0.5, im = (double)n;
    if (!strcmp(kind, "lin") || !strcmp(kind, "linear")) im = M_PI * n;
    else if (!strcmp(kind, "inv") || !strcmp(kind, "inverse")) im = N / M_PI * (N / (1 + 2.0 * n) - 1);
    else if (!strcmp(kind, "inv2") || !strcmp(kind, "inverse2")) im = N / M_PI * (N / (1 + (double)n) - 1);
    else if (!strcmp(kind, "quad") || !strcmp(kind, "quadratic")) im = (1 + 2.0 * n) * (1 + 2.0 * n) / M_PI;
    else if (!strcmp(kind, "real")) {
      im = 0;
      re = 1 + (double)n;
    } else
      return lr_fail(LR_ERR_UNSUPPORTED, "lr_s4_new: init \"%s\" is not supported", init);
    A[n] = -re - I * im;
    B[n] = 1.0;
  }
  return LR_OK;
}

static lr_status init_APB(lr_s4 *m, lr_rng *rng) {
  const lr_s4_config *c = &m->cfg;
  const char *list[4] = {c->init, NULL, NULL, NULL};
  int n_inits = 1;
  if (!strcmp(c->init, "hippo")) {
    list[0] = "legs", list[1] = "fourier";
    n_inits = 2;
  } else if (!strcmp(c->init, "diag")) {
    list[0] = "diag-inv", list[1] = "diag-lin";
    n_inits = 2;
  } else if (!strcmp(c->init, "all")) {
    list[0] = "legs", list[1] = "fourier", list[2] = "diag-inv", list[3] = "diag-lin";
    n_inits = 4;
  }
  int64_t n_ssm = m->n_ssm, N2 = m->N2;
  int rank = (int)c->rank;
  if (n_ssm % n_inits)
    return lr_fail(LR_ERR_ARG, "lr_s4_new: n_ssm %lld must be a multiple of %d inits (init %s)", (long long)n_ssm,
                   n_inits, c->init);
  cplx *A = malloc(sizeof *A * (size_t)N2), *B = malloc(sizeof *B * (size_t)N2);
  cplx *P = malloc(sizeof *P * (size_t)N2 * rank);
  if (!A || !B || !P) {
    free(A), free(B), free(P);
    return lr_fail(LR_ERR_MEMORY, "lr_s4_new: out of memory");
  }
  lr_status s = LR_OK;
  int64_t per = n_ssm / n_inits;
  for (int k = 0; k < n_inits && s == LR_OK; k++) {
    double p_scale;
    if ((s = ssm_init(list[k], (int)c->d_state, rank, A, B, P, &p_scale)) != LR_OK) break;
    for (int64_t t = k * per; t < (k + 1) * per; t++) {
      for (int64_t n = 0; n < N2; n++) {
        int64_t i = t * N2 + n;
        lr_tensor_set(m->A_real, i, lr_lti_inv_transform(m->tr_re, -creal(A[n])), 0);
        lr_tensor_set(m->A_imag, i, lr_lti_inv_transform(m->tr_im, -cimag(A[n])), 0);
        lr_tensor_set(m->B, 2 * i, creal(B[n]), 0);
        lr_tensor_set(m->B, 2 * i + 1, cimag(B[n]), 0);
      }
      for (int r = 0; r < rank; r++)
        for (int64_t n = 0; n < N2; n++) {
          int64_t i = (r * n_ssm + t) * N2 + n;
          lr_tensor_set(m->P, 2 * i, creal(P[(size_t)r * N2 + n]), 0);
          lr_tensor_set(m->P, 2 * i + 1, cimag(P[(size_t)r * N2 + n]), 0);
        }
    }
    if (p_scale != 0) { /* dplr(): P = randn(rank, H, N') complex * P_scale, over this block */
      lr_tensor *rp;
      if ((s = lr_tensor_new(LR_DTYPE_C128, LR_DEVICE_CPU, LR_SHAPE(rank, per, N2), &rp)) != LR_OK) break;
      s = lr_rand_normal_(rp, 0.0, p_scale, rng);
      for (int r = 0; s == LR_OK && r < rank; r++)
        for (int64_t t = 0; t < per; t++)
          for (int64_t n = 0; n < N2; n++) {
            int64_t i = (r * n_ssm + k * per + t) * N2 + n;
            double re, im;
            lr_tensor_get_c(rp, (r * per + t) * N2 + n, &re, &im);
            lr_tensor_set(m->P, 2 * i, re, 0);
            lr_tensor_set(m->P, 2 * i + 1, im, 0);
          }
      lr_tensor_free(rp);
    }
  }
  free(A), free(B), free(P);
  return s;
}

static lr_status s4_init(lr_s4 *m, lr_rng *rng) {
  const lr_s4_config *c = &m->cfg;
  LR_TRY(lr_rand_uniform_(m->inv_dt, log(c->dt_min), log(c->dt_max), rng));
  for (int64_t i = 0; i < lr_numel(m->inv_dt); i++) {
    double v = lr_tensor_get(m->inv_dt, i);
    if (m->tr_dt != 1) v = lr_lti_inv_transform(m->tr_dt, exp(v));
    if (c->dt_fast) v = asinh(v);
    lr_tensor_set(m->inv_dt, i, v, 0);
  }
  LR_TRY(init_APB(m, rng));
  LR_TRY(lr_rand_normal_(m->C, 0.0, sqrt(0.5), rng));
  return lr_rand_normal_(m->D, 0.0, 1.0, rng);
}

static lr_status check_config(const lr_s4_config *c, int *tdt, int *tre, int *tim) {
  const char *fn = "lr_s4_new";
  if (c->d_model < 1) return lr_fail(LR_ERR_ARG, "%s: d_model %lld, expected >= 1", fn, (long long)c->d_model);
  if (c->d_state < 2 || c->d_state % 2)
    return lr_fail(LR_ERR_ARG, "%s: d_state %lld, expected an even number >= 2", fn, (long long)c->d_state);
  if (c->channels < 1) return lr_fail(LR_ERR_ARG, "%s: channels %lld, expected >= 1", fn, (long long)c->channels);
  if (c->rank < 1 || c->rank > 16) return lr_fail(LR_ERR_ARG, "%s: rank %lld, expected 1..16", fn, (long long)c->rank);
  if (c->l_max < 0) return lr_fail(LR_ERR_ARG, "%s: l_max %lld, expected >= 0 (0: None)", fn, (long long)c->l_max);
  int64_t n_ssm = c->n_ssm ? c->n_ssm : c->d_model;
  if (n_ssm < 1 || c->d_model % n_ssm)
    return lr_fail(LR_ERR_ARG, "%s: n_ssm %lld must divide d_model %lld", fn, (long long)n_ssm, (long long)c->d_model);
  if (!(c->dt_min > 0 && c->dt_min <= c->dt_max))
    return lr_fail(LR_ERR_ARG, "%s: dt_min %g, dt_max %g: expected 0 < dt_min <= dt_max", fn, c->dt_min, c->dt_max);
  *tdt = lr_lti_transform_find(c->dt_transform);
  *tre = lr_lti_transform_find(c->real_transform);
  *tim = lr_lti_transform_find(c->imag_transform);
  if (*tdt < 0 || *tre < 0 || *tim < 0)
    return lr_fail(LR_ERR_ARG, "%s: transform \"%s\", expected none, exp, relu, sigmoid or softplus", fn,
                   *tdt < 0 ? (c->dt_transform ? c->dt_transform : "(null)")
                   : *tre < 0 ? (c->real_transform ? c->real_transform : "(null)")
                              : (c->imag_transform ? c->imag_transform : "(null)"));
  if (!c->init) return lr_fail(LR_ERR_ARG, "%s: init is NULL", fn);
  if (c->bottleneck || c->gate || c->dropout != 0 || c->is_real || c->deterministic || c->swap_channels)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: %s is not supported", fn,
                   c->bottleneck ? "bottleneck" : c->gate ? "gate" : c->dropout != 0 ? "dropout" : c->is_real ? "is_real"
                   : c->deterministic ? "deterministic" : "swap_channels");
  if (c->dtype != LR_DTYPE_F32 && c->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: dtype %s, expected f32 or f64", fn, lr_dtype_name(c->dtype));
  return LR_OK;
}

lr_status lr_s4_new(lr_module *parent, const char *name, const lr_s4_config *cfg, lr_rng *rng, lr_s4 **out) {
  const char *fn = "lr_s4_new";
  if (!cfg || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !cfg ? "cfg" : !rng ? "rng" : "out");
  int tdt = 0, tre = 0, tim = 0;
  LR_TRY(check_config(cfg, &tdt, &tre, &tim));
  lr_module *mod;
  LR_TRY(lr_module_new(sizeof(lr_s4), "S4", &mod));
  lr_s4 *m = (lr_s4 *)mod;
  m->cfg = *cfg;
  m->N2 = cfg->d_state / 2;
  m->tr_dt = tdt;
  m->tr_re = tre;
  m->tr_im = tim;
  int64_t H = cfg->d_model, N2 = m->N2, ch = cfg->channels, n_ssm = cfg->n_ssm ? cfg->n_ssm : H, r = cfg->rank;
  m->n_ssm = n_ssm;
  lr_dtype dt = cfg->dtype;
  /* lrnnx's register() order: inv_dt, C, B, A_real, A_imag, P; then D */
  lr_status s = lr_module_add_param(mod, "inv_dt", dt, LR_SHAPE(H, cfg->dt_tie ? 1 : N2), &m->inv_dt);
  if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(ch, H, N2, 2), &m->C);
  if (s == LR_OK) s = lr_module_add_param(mod, "B", dt, LR_SHAPE(1, n_ssm, N2, 2), &m->B);
  if (s == LR_OK) s = lr_module_add_param(mod, "A_real", dt, LR_SHAPE(n_ssm, N2), &m->A_real);
  if (s == LR_OK) s = lr_module_add_param(mod, "A_imag", dt, LR_SHAPE(n_ssm, N2), &m->A_imag);
  if (s == LR_OK) s = lr_module_add_param(mod, "P", dt, LR_SHAPE(r, n_ssm, N2, 2), &m->P);
  const char *ssm_names[] = {"inv_dt", "C", "B", "A_real", "A_imag", "P"};
  for (int i = 0; i < 6 && s == LR_OK; i++) s = lr_module_set_optim(mod, ssm_names[i], -1.0, 0.0);
  if (s == LR_OK) s = lr_module_add_param(mod, "D", dt, LR_SHAPE(ch, H), &m->D);
  if (s == LR_OK) s = s4_init(m, rng);
  /* layer (FFTConvS4) -> kernel (S4Kernel): the parameter references in S4KernelBase's order
   * A_real, A_imag, B, C, P, inv_dt, then S4Kernel's buffer l_kernel */
  if (s == LR_OK) {
    lr_module *layer = NULL, *kernel = NULL;
    s = lr_module_new(sizeof(lr_module), "FFTConvS4", &layer);
    if (s == LR_OK) s = lr_module_attach(mod, "layer", layer);
    if (s == LR_OK) s = lr_module_new(sizeof(lr_module), "S4Kernel", &kernel);
    if (s == LR_OK) s = lr_module_attach(layer, "kernel", kernel);
    const char *tie_names[] = {"A_real", "A_imag", "B", "C", "P", "inv_dt"};
    lr_tensor *tie_ts[] = {m->A_real, m->A_imag, m->B, m->C, m->P, m->inv_dt};
    for (int i = 0; i < 6 && s == LR_OK; i++) s = lr_module_tie(kernel, tie_names[i], tie_ts[i]);
    if (s == LR_OK) s = lr_module_add_buffer(kernel, "l_kernel", LR_DTYPE_I64, 0, NULL, &m->l_kernel);
  }
  if (s == LR_OK && cfg->final_act) {
    lr_module *seq;
    s = lr_module_new(sizeof(lr_module), "Sequential", &seq);
    if (s == LR_OK) s = lr_module_attach(mod, "output_linear", seq);
    if (s == LR_OK) s = lr_linear_new(seq, "0", ch * H, H, true, dt, rng, &m->output_linear);
  }
  if (s != LR_OK) {
    lr_module_free(mod);
    return s;
  }
  LR_TRY(lr_module_attach(parent, name, mod));
  *out = m;
  return LR_OK;
}

/* ---- host-side DPLR algebra (no tape) ---- */

int64_t lr_s4_l_kernel(const lr_s4 *m) {
  int64_t v = 0;
  if (m && m->l_kernel) lr_tensor_copy_to_host(m->l_kernel, &v, sizeof v);
  return v;
}

static lr_status set_l_kernel(lr_s4 *m, int64_t v) { return lr_tensor_copy_from_host(m->l_kernel, &v, sizeof v); }

/* A real tensor's values as doubles (n = numel). */
static lr_status read_real(const lr_tensor *t, double **out) {
  int64_t n = lr_numel(t);
  double *d = malloc(sizeof *d * (size_t)(n ? n : 1));
  if (!d) return lr_fail(LR_ERR_MEMORY, "lr_s4: out of memory");
  lr_status s;
  if (t->dtype == LR_DTYPE_F64) {
    s = lr_tensor_copy_to_host(t, d, sizeof *d * (size_t)n);
  } else {
    float *f = malloc(sizeof *f * (size_t)(n ? n : 1));
    s = f ? lr_tensor_copy_to_host(t, f, sizeof *f * (size_t)n) : lr_fail(LR_ERR_MEMORY, "lr_s4: out of memory");
    for (int64_t i = 0; f && s == LR_OK && i < n; i++) d[i] = f[i];
    free(f);
  }
  if (s != LR_OK) {
    free(d);
    return s;
  }
  *out = d;
  return LR_OK;
}

/* The processed parameters (process_dplr_params at rate 1), tiled to H rows, and the O(N) step
 * parameters of _setup_linear, all (H, N') or (r, H, N'). */
typedef struct {
  int64_t H, N2, r, ch;
  cplx *dt, *A, *B, *P, *C; /* C: the stored C (C̃ after setup), (ch, H, N') */
  cplx *D, *E, *R;          /* D = 1/(2/Δ - A), E = 2/Δ + A, R = (I + 2 Re(Q D P^T))^{-1} Q D */
} dplr;

static void dplr_free(dplr *p) {
  free(p->dt), free(p->A), free(p->B), free(p->P), free(p->C), free(p->D), free(p->E), free(p->R);
}

/* Solves the small real-valued system M X = Y (M (r, r) complex, Y (r, k)) in place by Gaussian
 * elimination with partial pivoting. */
static void small_solve(int r, cplx *M, cplx *Y, int64_t k) {
  for (int c = 0; c < r; c++) {
    int p = c;
    for (int i = c + 1; i < r; i++)
      if (cabs(M[i * r + c]) > cabs(M[p * r + c])) p = i;
    if (p != c) {
      for (int j = 0; j < r; j++) {
        cplx t = M[c * r + j];
        M[c * r + j] = M[p * r + j], M[p * r + j] = t;
      }
      for (int64_t j = 0; j < k; j++) {
        cplx t = Y[c * k + j];
        Y[c * k + j] = Y[p * k + j], Y[p * k + j] = t;
      }
    }
    for (int i = c + 1; i < r; i++) {
      cplx f = M[i * r + c] / M[c * r + c];
      for (int j = c; j < r; j++) M[i * r + j] -= f * M[c * r + j];
      for (int64_t j = 0; j < k; j++) Y[i * k + j] -= f * Y[c * k + j];
    }
  }
  for (int c = r - 1; c >= 0; c--)
    for (int64_t j = 0; j < k; j++) {
      cplx v = Y[c * k + j];
      for (int i = c + 1; i < r; i++) v -= M[c * r + i] * Y[i * k + j];
      Y[c * k + j] = v / M[c * r + c];
    }
}

static lr_status dplr_read(lr_s4 *m, dplr *p) {
  const char *fn = "lr_s4";
  memset(p, 0, sizeof *p);
  int64_t H = m->cfg.d_model, N2 = m->N2, r = m->cfg.rank, ch = m->cfg.channels, ns = m->n_ssm;
  p->H = H, p->N2 = N2, p->r = r, p->ch = ch;
  size_t hn = (size_t)(H * N2);
  p->dt = malloc(sizeof(cplx) * hn), p->A = malloc(sizeof(cplx) * hn), p->B = malloc(sizeof(cplx) * hn);
  p->P = malloc(sizeof(cplx) * hn * r), p->C = malloc(sizeof(cplx) * hn * ch);
  p->D = malloc(sizeof(cplx) * hn), p->E = malloc(sizeof(cplx) * hn), p->R = malloc(sizeof(cplx) * hn * r);
  double *idt = NULL, *are = NULL, *aim = NULL, *b = NULL, *pp = NULL, *c = NULL;
  lr_status s = LR_OK;
  if (!p->dt || !p->A || !p->B || !p->P || !p->C || !p->D || !p->E || !p->R) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  if (s == LR_OK) s = read_real(m->inv_dt, &idt);
  if (s == LR_OK) s = read_real(m->A_real, &are);
  if (s == LR_OK) s = read_real(m->A_imag, &aim);
  if (s == LR_OK) s = read_real(m->B, &b);
  if (s == LR_OK) s = read_real(m->P, &pp);
  if (s == LR_OK) s = read_real(m->C, &c);
  if (s == LR_OK) {
    bool tie = m->inv_dt->shape[1] == 1;
    for (int64_t h = 0; h < H; h++)
      for (int64_t n = 0; n < N2; n++) {
        int64_t t = h % ns, i = h * N2 + n, it = t * N2 + n;
        double v = idt[tie ? h : i];
        if (m->cfg.dt_fast) v = sinh(v);
        p->dt[i] = host_tr(m->tr_dt, v);
        p->A[i] = -host_tr(m->tr_re, are[it]) - I * host_tr(m->tr_im, aim[it]);
        p->B[i] = b[2 * it] + I * b[2 * it + 1];
        for (int64_t k = 0; k < r; k++) {
          int64_t j = (k * ns + t) * N2 + n;
          p->P[k * (int64_t)hn + i] = pp[2 * j] + I * pp[2 * j + 1];
        }
      }
    for (size_t i = 0; i < hn * ch; i++) p->C[i] = c[2 * i] + I * c[2 * i + 1];
    /* _setup_linear */
    cplx M[16 * 16];
    cplx *Y = malloc(sizeof *Y * (size_t)(r * N2));
    if (!Y) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    for (int64_t h = 0; s == LR_OK && h < H; h++) {
      for (int64_t n = 0; n < N2; n++) {
        int64_t i = h * N2 + n;
        p->D[i] = 1.0 / (2.0 / p->dt[i] - p->A[i]);
        p->E[i] = 2.0 / p->dt[i] + p->A[i];
      }
      for (int64_t a = 0; a < r; a++)
        for (int64_t bb = 0; bb < r; bb++) {
          cplx acc = 0;
          for (int64_t n = 0; n < N2; n++) {
            int64_t i = h * N2 + n;
            acc += conj(p->P[a * (int64_t)hn + i]) * p->D[i] * p->P[bb * (int64_t)hn + i];
          }
          M[a * r + bb] = (a == bb ? 1.0 : 0.0) + 2.0 * creal(acc);
        }
      for (int64_t a = 0; a < r; a++)
        for (int64_t n = 0; n < N2; n++) Y[a * N2 + n] = conj(p->P[a * (int64_t)hn + h * N2 + n]) * p->D[h * N2 + n];
      small_solve((int)r, M, Y, N2);
      for (int64_t a = 0; a < r; a++)
        for (int64_t n = 0; n < N2; n++) p->R[a * (int64_t)hn + h * N2 + n] = Y[a * N2 + n];
    }
    free(Y);
  }
  free(idt), free(are), free(aim), free(b), free(pp), free(c);
  if (s != LR_OK) dplr_free(p);
  return s;
}

/* X over the full state: index j < N' is X[j], j >= N' is conj(X[j - N']). */
static inline cplx full(const cplx *x, int64_t N2, int64_t j) { return j < N2 ? x[j] : conj(x[j - N2]); }

/* _step_state_linear on the full state of row h: out = D (t - P R^T t), t = E s - P Q^T s + 2 B u. */
static void linear_step_full(const dplr *p, int64_t h, const cplx *s, cplx u, cplx *out, cplx *tmp) {
  int64_t N2 = p->N2, n = 2 * N2, hn = p->H * N2;
  const cplx *D = p->D + h * N2, *E = p->E + h * N2, *B = p->B + h * N2;
  for (int64_t j = 0; j < n; j++) tmp[j] = full(E, N2, j) * s[j] + 2.0 * full(B, N2, j) * u;
  for (int64_t k = 0; k < p->r; k++) {
    const cplx *P = p->P + k * hn + h * N2;
    cplx q = 0;
    for (int64_t j = 0; j < n; j++) q += conj(full(P, N2, j)) * s[j]; /* Q = conj(P) */
    for (int64_t j = 0; j < n; j++) tmp[j] -= full(P, N2, j) * q;
  }
  for (int64_t j = 0; j < n; j++) out[j] = tmp[j];
  for (int64_t k = 0; k < p->r; k++) {
    const cplx *P = p->P + k * hn + h * N2, *R = p->R + k * hn + h * N2;
    cplx q = 0;
    for (int64_t j = 0; j < n; j++) q += full(R, N2, j) * tmp[j];
    for (int64_t j = 0; j < n; j++) out[j] -= full(P, N2, j) * q;
  }
  for (int64_t j = 0; j < n; j++) out[j] *= full(D, N2, j);
}

/* _setup_state: dA (H, n, n) row-major (column j = the step of e_j) and dB (H, n), n = 2N'. */
static lr_status setup_state(const dplr *p, cplx **dA_out, cplx **dB_out) {
  int64_t n = 2 * p->N2, H = p->H;
  cplx *dA = malloc(sizeof *dA * (size_t)(H * n * n)), *dB = malloc(sizeof *dB * (size_t)(H * n));
  cplx *e = calloc((size_t)n, sizeof *e), *o = malloc(sizeof *o * (size_t)n), *t = malloc(sizeof *t * (size_t)n);
  if (!dA || !dB || !e || !o || !t) {
    free(dA), free(dB), free(e), free(o), free(t);
    return lr_fail(LR_ERR_MEMORY, "lr_s4: out of memory");
  }
  for (int64_t h = 0; h < H; h++) {
    for (int64_t j = 0; j < n; j++) {
      e[j] = 1;
      linear_step_full(p, h, e, 0, o, t);
      e[j] = 0;
      for (int64_t i = 0; i < n; i++) dA[(h * n + i) * n + j] = o[i];
    }
    linear_step_full(p, h, e, 1, dB + h * n, t);
  }
  free(e), free(o), free(t);
  *dA_out = dA;
  *dB_out = dB;
  return LR_OK;
}

/* AL[h] = dA[h]^L (row-major n x n) by repeated squaring (s4_utils.power). */
static lr_status mat_power(const cplx *dA, int64_t H, int64_t n, int64_t L, cplx **out) {
  size_t nn = (size_t)(n * n);
  cplx *AL = malloc(sizeof *AL * nn * (size_t)H), *base = malloc(sizeof *base * nn), *tmp = malloc(sizeof *tmp * nn);
  if (!AL || !base || !tmp) {
    free(AL), free(base), free(tmp);
    return lr_fail(LR_ERR_MEMORY, "lr_s4: out of memory");
  }
  const cplx one = 1, zero = 0;
  for (int64_t h = 0; h < H; h++) {
    cplx *r = AL + h * nn;
    memset(r, 0, sizeof *r * nn);
    for (int64_t i = 0; i < n; i++) r[i * n + i] = 1;
    memcpy(base, dA + h * nn, sizeof *base * nn);
    for (int64_t l = L; l > 0; l >>= 1) {
      if (l & 1) {
        cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, &one, base, (int)n, r, (int)n,
                    &zero, tmp, (int)n);
        memcpy(r, tmp, sizeof *r * nn);
      }
      if (l > 1) {
        cblas_zgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, (int)n, (int)n, &one, base, (int)n, base, (int)n,
                    &zero, tmp, (int)n);
        memcpy(base, tmp, sizeof *base * nn);
      }
    }
  }
  free(base), free(tmp);
  *out = AL;
  return LR_OK;
}

/* Writes the (ch, H, N') complex values into the real (..., 2) parameter C. */
static lr_status write_C(lr_s4 *m, const cplx *C) {
  int64_t n = lr_numel(m->C) / 2;
  lr_status s;
  if (m->C->dtype == LR_DTYPE_F64) {
    s = lr_tensor_copy_from_host(m->C, C, sizeof *C * (size_t)n);
  } else {
    float *f = malloc(sizeof *f * (size_t)(2 * n));
    if (!f) return lr_fail(LR_ERR_MEMORY, "lr_s4: out of memory");
    for (int64_t i = 0; i < n; i++) f[2 * i] = (float)creal(C[i]), f[2 * i + 1] = (float)cimag(C[i]);
    s = lr_tensor_copy_from_host(m->C, f, sizeof *f * (size_t)(2 * n));
    free(f);
  }
  return s;
}

lr_status lr_s4_setup_C(lr_s4 *m, int64_t L) {
  const char *fn = "lr_s4_setup_C";
  if (!m) return lr_fail(LR_ERR_ARG, "%s: model is NULL", fn);
  if (L < 1) return lr_fail(LR_ERR_ARG, "%s: L %lld, expected >= 1", fn, (long long)L);
  int64_t lk = lr_s4_l_kernel(m);
  bool dbl;
  if (lk == 0) dbl = false;
  else if (L > lk) dbl = true, L = lk;
  else return LR_OK;
  dplr p;
  LR_TRY(dplr_read(m, &p));
  cplx *dA = NULL, *dB = NULL, *AL = NULL;
  lr_status s = setup_state(&p, &dA, &dB);
  int64_t n = 2 * p.N2, N2 = p.N2;
  if (s == LR_OK) s = mat_power(dA, p.H, n, L, &AL);
  cplx *Cf = malloc(sizeof *Cf * (size_t)n);
  if (s == LR_OK && !Cf) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  for (int64_t c = 0; s == LR_OK && c < p.ch; c++)
    for (int64_t h = 0; h < p.H; h++) {
      cplx *C = p.C + (c * p.H + h) * N2;
      const cplx *a = AL + h * n * n;
      for (int64_t j = 0; j < n; j++) Cf[j] = full(C, N2, j);
      for (int64_t mm = 0; mm < N2; mm++) { /* (dA^L)^T C_, first half only */
        cplx prod = 0;
        for (int64_t j = 0; j < n; j++) prod += a[j * n + mm] * Cf[j];
        C[mm] = dbl ? Cf[mm] + prod : Cf[mm] - prod;
      }
    }
  if (s == LR_OK) s = write_C(m, p.C);
  if (s == LR_OK) s = set_l_kernel(m, dbl ? 2 * lk : lk + L);
  free(Cf), free(dA), free(dB), free(AL);
  dplr_free(&p);
  return s;
}

/* ---- kernel ---- */

/* dt (H, 1|N') real, A (H, N'), B (1, H, N'), C (ch, H, N'), P (r, H, N') complex. */
static lr_status process_params(lr_s4 *m, lr_tensor **dt, lr_tensor **A, lr_tensor **B, lr_tensor **C,
                                lr_tensor **P) {
  int64_t H = m->cfg.d_model;
  lr_tensor *idt = m->inv_dt, *d, *re, *im, *nre, *nim, *a, *b, *p;
  if (m->cfg.dt_fast) { /* sinh(x) = (e^x - e^-x)/2 */
    lr_tensor *e1, *nx, *e2, *df;
    LR_TRY(lr_exp(idt, &e1));
    LR_TRY(lr_neg(idt, &nx));
    LR_TRY(lr_exp(nx, &e2));
    LR_TRY(lr_sub(e1, e2, &df));
    LR_TRY(lr_affine(df, 0.5, 0.0, &idt));
  }
  LR_TRY(lr_lti_transform(m->tr_dt, idt, &d));
  LR_TRY(lr_lti_transform(m->tr_re, m->A_real, &re));
  LR_TRY(lr_lti_transform(m->tr_im, m->A_imag, &im));
  LR_TRY(lr_neg(re, &nre));
  LR_TRY(lr_neg(im, &nim));
  LR_TRY(lr_complex(nre, nim, &a));
  LR_TRY(lr_lti_tile_rows(a, 0, H, A));
  LR_TRY(lr_view_as_complex(m->B, &b)); /* (1, n_ssm, N') */
  LR_TRY(lr_lti_tile_rows(b, 1, H, B));
  LR_TRY(lr_view_as_complex(m->P, &p)); /* (r, n_ssm, N') */
  LR_TRY(lr_lti_tile_rows(p, 1, H, P));
  LR_TRY(lr_view_as_complex(m->C, C));
  *dt = d;
  return LR_OK;
}

/* A complex constant (arena, model device) from host values. */
static lr_status const_c(lr_dtype cdt, lr_device dev, int ndim, const int64_t *shape, const cplx *v, lr_tensor **out) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  lr_tensor *t;
  LR_TRY(lr_empty(cdt, ndim, shape, &t));
  for (int64_t i = 0; i < n; i++) lr_tensor_set(t, i, creal(v[i]), cimag(v[i]));
  if (dev != LR_DEVICE_CPU) return lr_to(t, dev, out);
  *out = t;
  return LR_OK;
}

/* Ensures C̃ for length L as S4Kernel.forward does; *Ld gets l_kernel. */
static lr_status ensure_C(lr_s4 *m, int64_t L, int64_t *Ld) {
  bool prev = lr_set_grad_enabled(false);
  lr_status s = LR_OK;
  if (lr_s4_l_kernel(m) == 0 && m->cfg.l_max > 0) s = lr_s4_setup_C(m, m->cfg.l_max);
  while (s == LR_OK && L > lr_s4_l_kernel(m)) s = lr_s4_setup_C(m, L);
  lr_set_grad_enabled(prev);
  *Ld = lr_s4_l_kernel(m);
  return s;
}

lr_status lr_s4_compute_kernel(lr_s4 *m, int64_t L, lr_tensor **K) {
  const char *fn = "lr_s4_compute_kernel";
  if (!m || !K) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (L < 1) return lr_fail(LR_ERR_ARG, "%s: L %lld, expected >= 1", fn, (long long)L);
  int64_t Lk = m->cfg.l_max ? (L < m->cfg.l_max ? L : m->cfg.l_max) : L, Ld;
  LR_TRY(ensure_C(m, Lk, &Ld));
  int64_t H = m->cfg.d_model, ch = m->cfg.channels, r = m->cfg.rank, Lf = Ld / 2 + 1;
  lr_dtype cdt = lr_dtype_complex(m->cfg.dtype);
  lr_device dev = m->C->device;
  /* ω_k = e^{-2πik/Ld}; z = 2(1 - ω)/(1 + ω); the bilinear factor 2/(1 + ω), in double */
  cplx *zv = malloc(sizeof *zv * (size_t)Lf), *fv = malloc(sizeof *fv * (size_t)Lf);
  cplx *iv = calloc((size_t)((1 + r) * (ch + r)), sizeof *iv);
  if (!zv || !fv || !iv) {
    free(zv), free(fv), free(iv);
    return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  }
  for (int64_t k = 0; k < Lf; k++) {
    cplx w = cexp(-2.0 * M_PI * I * (double)k / (double)Ld), den = 1.0 + w;
    if (den == 0) den = 1e-300; /* cexp never gives exactly -1; keep the limit finite anyway */
    zv[k] = 2.0 * (1.0 - w) / den;
    fv[k] = 2.0 / den;
  }
  for (int64_t j = 0; j < r; j++) iv[(1 + j) * (ch + r) + ch + j] = 1; /* I of (I + R11) */
  lr_tensor *z, *fac, *Ione;
  lr_status s = const_c(cdt, dev, LR_SHAPE(Lf), zv, &z);
  if (s == LR_OK) s = const_c(cdt, dev, LR_SHAPE(Lf), fv, &fac);
  if (s == LR_OK) s = const_c(cdt, dev, LR_SHAPE(1 + r, ch + r, 1, 1), iv, &Ione);
  free(zv), free(fv), free(iv);
  LR_TRY(s);
  lr_tensor *dt, *A, *B, *C, *P, *Q, *dtc, *dtA, *Bc, *Cc, *Bu, *Cu, *v, *vd, *R, *M;
  LR_TRY(process_params(m, &dt, &A, &B, &C, &P));
  LR_TRY(lr_conj(P, &Q));
  LR_TRY(lr_lti_to_complex(dt, &dtc));
  LR_TRY(lr_mul(dtc, A, &dtA)); /* (H, N') */
  LR_TRY(lr_cat(2, (lr_tensor *[]){B, P}, 0, &Bc)); /* (1 + r, H, N') */
  LR_TRY(lr_cat(2, (lr_tensor *[]){C, Q}, 0, &Cc)); /* (ch + r, H, N') */
  LR_TRY(lr_unsqueeze(Bc, 1, &Bu));
  LR_TRY(lr_unsqueeze(Cc, 0, &Cu));
  LR_TRY(lr_mul(Bu, Cu, &v));
  LR_TRY(lr_mul(v, dtc, &vd));  /* (1 + r, ch + r, H, N') */
  LR_TRY(lr_cauchy(vd, z, dtA, &R)); /* (1 + r, ch + r, H, Lf) */
  LR_TRY(lr_add(R, Ione, &M));
  /* Woodbury: the Schur complement of I + R11, one pivot at a time (rank 1: lrnnx's formula) */
  for (int64_t j = r - 1; j >= 0; j--) {
    lr_tensor *a, *a0, *colj, *rowj, *piv, *t1, *t2, *t3;
    LR_TRY(lr_narrow(M, 0, 0, 1 + j, &a));
    LR_TRY(lr_narrow(a, 1, 0, ch + j, &a0));
    LR_TRY(lr_narrow(a, 1, ch + j, 1, &colj));
    LR_TRY(lr_narrow(M, 0, 1 + j, 1, &t1));
    LR_TRY(lr_narrow(t1, 1, 0, ch + j, &rowj));
    LR_TRY(lr_narrow(t1, 1, ch + j, 1, &piv));
    LR_TRY(lr_mul(colj, rowj, &t2));
    LR_TRY(lr_div(t2, piv, &t3));
    LR_TRY(lr_sub(a0, t3, &M));
  }
  lr_tensor *kf, *kf2, *X, *Xt, *k, *kr;
  LR_TRY(lr_reshape(M, LR_SHAPE(ch, H, Lf), &kf));
  LR_TRY(lr_mul(kf, fac, &kf2));
  /* irfft(kf2, Ld) = Re(ifft([kf2, conj(flip(kf2[1 : Ld - Lf + 1]))])) */
  if (Ld - Lf > 0) {
    lr_tensor *mid, *fl, *cj;
    LR_TRY(lr_narrow(kf2, 2, 1, Ld - Lf, &mid));
    LR_TRY(lr_flip(mid, 1, (const int[]){2}, &fl));
    LR_TRY(lr_conj(fl, &cj));
    LR_TRY(lr_cat(2, (lr_tensor *[]){kf2, cj}, 2, &X));
  } else {
    X = kf2;
  }
  LR_TRY(lr_fft(X, 2, Ld, true, &Xt));
  LR_TRY(lr_real(Xt, &k));
  if (Lk < Ld) {
    LR_TRY(lr_narrow(k, 2, 0, Lk, &kr));
    *K = kr;
  } else {
    *K = k;
  }
  return LR_OK;
}

static lr_status kernel_of(void *m, int64_t L, lr_tensor **K) { return lr_s4_compute_kernel((lr_s4 *)m, L, K); }

lr_status lr_s4_forward(lr_s4 *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y) {
  const char *fn = "lr_s4_forward";
  if (!m || !y || !x) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  return lr_lti_s4_forward(fn, m, kernel_of, m->cfg.d_model, m->cfg.channels, m->cfg.transposed, m->cfg.dtype, m->D,
                           m->output_linear, x, lengths, y);
}

/* ---- step ---- */

void lr_s4_cache_free(lr_s4_cache *c) {
  if (!c) return;
  lr_tensor *ts[] = {c->state, c->dA, c->dB, c->dC, c->lD, c->lE, c->lB, c->lP, c->lQ, c->lR};
  for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) lr_tensor_free(ts[i]);
  free(c);
}

lr_status lr_s4_cache_reset(lr_s4_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_s4_cache_reset: cache is NULL");
  return lr_tensor_fill_(c->state, 0.0);
}

/* A persistent complex tensor on dev from host values. */
static lr_status persist_c(lr_dtype cdt, lr_device dev, int ndim, const int64_t *shape, const cplx *v, lr_tensor **out) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  lr_tensor *t;
  LR_TRY(lr_tensor_new(cdt, dev, ndim, shape, &t));
  lr_status s;
  if (cdt == LR_DTYPE_C128) {
    s = lr_tensor_copy_from_host(t, v, sizeof *v * (size_t)n);
  } else {
    float *f = malloc(sizeof *f * (size_t)(2 * n + 2));
    if (!f) s = lr_fail(LR_ERR_MEMORY, "lr_s4: out of memory");
    else {
      for (int64_t i = 0; i < n; i++) f[2 * i] = (float)creal(v[i]), f[2 * i + 1] = (float)cimag(v[i]);
      s = lr_tensor_copy_from_host(t, f, sizeof *f * (size_t)(2 * n));
      free(f);
    }
  }
  if (s != LR_OK) {
    lr_tensor_free(t);
    return s;
  }
  *out = t;
  return LR_OK;
}

/* _setup_step(mode) + default_state into c (c->mode set). */
static lr_status build_cache(lr_s4 *m, int64_t batch, lr_s4_cache *c) {
  const char *fn = "lr_s4_allocate_cache";
  /* _setup_step: C̃ for l_max first, as lrnnx */
  if (lr_s4_l_kernel(m) == 0 && m->cfg.l_max > 0) LR_TRY(lr_s4_setup_C(m, m->cfg.l_max));
  dplr p;
  LR_TRY(dplr_read(m, &p));
  int64_t H = p.H, N2 = p.N2, n = 2 * N2, ch = p.ch, r = p.r, lk = lr_s4_l_kernel(m);
  size_t nn = (size_t)(n * n);
  lr_dtype cdt = lr_dtype_complex(m->cfg.dtype);
  lr_device dev = m->C->device;
  cplx *dA = NULL, *dB = NULL, *AL = NULL, *dC = malloc(sizeof *dC * (size_t)(ch * H * n));
  cplx *a = malloc(sizeof *a * nn), *bb = malloc(sizeof *bb * (size_t)(n * ch)), *V = malloc(sizeof *V * nn);
  cplx *w = malloc(sizeof *w * (size_t)n);
  int *ipiv = malloc(sizeof *ipiv * (size_t)n);
  lr_status s = (dC && a && bb && V && w && ipiv) ? LR_OK : lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  if (s == LR_OK) s = setup_state(&p, &dA, &dB);
  /* dC = C (l_kernel 0) or (I - dA^Lk^T)^{-1} C̃ */
  for (int64_t cc = 0; s == LR_OK && cc < ch; cc++)
    for (int64_t h = 0; h < H; h++)
      for (int64_t j = 0; j < n; j++) dC[(cc * H + h) * n + j] = full(p.C + (cc * H + h) * N2, N2, j);
  if (s == LR_OK && lk > 0) {
    s = mat_power(dA, H, n, lk, &AL);
    int in = (int)n, nrhs = (int)ch, info = 0;
    for (int64_t h = 0; s == LR_OK && h < H; h++) {
      /* column-major I - AL^T: element (i, j) = δ - AL[j][i] = δ - AL_rowmajor[j n + i] */
      for (size_t k = 0; k < nn; k++) a[k] = -AL[h * nn + k];
      for (int64_t i = 0; i < n; i++) a[i * n + i] += 1;
      for (int64_t cc = 0; cc < ch; cc++)
        for (int64_t j = 0; j < n; j++) bb[cc * n + j] = dC[(cc * H + h) * n + j];
      zgesv_(&in, &nrhs, a, &in, ipiv, bb, &in, &info);
      if (info != 0) s = lr_fail(LR_ERR_INTERNAL, "%s: I - dA^%lld is singular (zgesv info %d) in row %lld", fn,
                                 (long long)lk, info, (long long)h);
      for (int64_t cc = 0; cc < ch; cc++)
        for (int64_t j = 0; j < n; j++) dC[(cc * H + h) * n + j] = bb[cc * n + j];
    }
  }
  if (s == LR_OK && c->mode == LR_S4_STEP_DIAGONAL) {
    /* dA = V diag(λ) V^{-1}: dA <- λ, dB <- V^{-1} dB, dC <- V^T dC */
    int in = (int)n, one = 1, info = 0, lwork = -1;
    cplx wq, *work = NULL;
    double *rwork = malloc(sizeof *rwork * (size_t)(2 * n));
    cplx *lam = malloc(sizeof *lam * (size_t)(H * n));
    if (!rwork || !lam) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    if (s == LR_OK) {
      zgeev_("N", "V", &in, a, &in, w, NULL, &one, V, &in, &wq, &lwork, rwork, &info, 1, 1);
      lwork = (int)creal(wq);
      work = malloc(sizeof *work * (size_t)(lwork > 1 ? lwork : 1));
      if (!work) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    }
    for (int64_t h = 0; s == LR_OK && h < H; h++) {
      const cplx *A = dA + h * nn;
      for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < n; j++) a[i + j * n] = A[i * n + j];
      zgeev_("N", "V", &in, a, &in, w, NULL, &one, V, &in, work, &lwork, rwork, &info, 1, 1);
      if (info != 0) {
        s = lr_fail(LR_ERR_INTERNAL, "%s: zgeev failed (info %d) in row %lld", fn, info, (long long)h);
        break;
      }
      for (int64_t i = 0; i < n; i++) lam[h * n + i] = w[i];
      /* dC'[c, m] = Σ_j V[j][m] dC[c, j] (V column-major: V[j + m n]) */
      for (int64_t cc = 0; cc < ch; cc++) {
        cplx *d = dC + (cc * H + h) * n;
        for (int64_t mm = 0; mm < n; mm++) {
          cplx acc = 0;
          for (int64_t j = 0; j < n; j++) acc += V[j + mm * n] * d[j];
          bb[mm] = acc;
        }
        memcpy(d, bb, sizeof *d * (size_t)n);
      }
      /* dB' = V^{-1} dB */
      memcpy(a, V, sizeof *a * nn);
      memcpy(bb, dB + h * n, sizeof *bb * (size_t)n);
      zgesv_(&in, &one, a, &in, ipiv, bb, &in, &info);
      if (info != 0) {
        s = lr_fail(LR_ERR_INTERNAL, "%s: the eigenvectors of dA are singular (zgesv info %d) in row %lld", fn, info,
                    (long long)h);
        break;
      }
      memcpy(dB + h * n, bb, sizeof *bb * (size_t)n);
    }
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(H, n), lam, &c->dA);
    free(work), free(rwork), free(lam);
  }
  if (s == LR_OK && c->mode == LR_S4_STEP_DENSE) s = persist_c(cdt, dev, LR_SHAPE(H, n, n), dA, &c->dA);
  if (s == LR_OK && c->mode != LR_S4_STEP_LINEAR) {
    s = persist_c(cdt, dev, LR_SHAPE(H, n), dB, &c->dB);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(ch, H, n), dC, &c->dC);
    if (s == LR_OK) s = lr_tensor_new(cdt, dev, LR_SHAPE(batch, H, n), &c->state);
  }
  if (s == LR_OK && c->mode == LR_S4_STEP_LINEAR) {
    /* dC = 2 dC[..., :N'], and the step parameters D, E, B, P, Q = conj(P), R */
    for (int64_t i = 0; i < ch * H; i++)
      for (int64_t j = 0; j < N2; j++) dC[i * N2 + j] = 2.0 * dC[i * n + j];
    cplx *Q = malloc(sizeof *Q * (size_t)(r * H * N2));
    if (!Q) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    for (int64_t i = 0; s == LR_OK && i < r * H * N2; i++) Q[i] = conj(p.P[i]);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(ch, H, N2), dC, &c->dC);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(H, N2), p.D, &c->lD);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(H, N2), p.E, &c->lE);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(H, N2), p.B, &c->lB);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(r, H, N2), p.P, &c->lP);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(r, H, N2), Q, &c->lQ);
    if (s == LR_OK) s = persist_c(cdt, dev, LR_SHAPE(r, H, N2), p.R, &c->lR);
    if (s == LR_OK) s = lr_tensor_new(cdt, dev, LR_SHAPE(batch, H, N2), &c->state);
    free(Q);
  }
  if (s == LR_OK) s = lr_tensor_fill_(c->state, 0.0);
  free(dA), free(dB), free(AL), free(dC), free(a), free(bb), free(V), free(w), free(ipiv);
  dplr_free(&p);
  return s;
}

lr_status lr_s4_allocate_cache(lr_s4 *m, int64_t batch, lr_s4_step_mode mode, lr_s4_cache **out) {
  const char *fn = "lr_s4_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (batch < 1) return lr_fail(LR_ERR_ARG, "%s: batch is %lld, expected >= 1", fn, (long long)batch);
  if (mode != LR_S4_STEP_DENSE && mode != LR_S4_STEP_LINEAR && mode != LR_S4_STEP_DIAGONAL)
    return lr_fail(LR_ERR_ARG, "%s: step mode %d, expected dense (0), linear (1) or diagonal (2)", fn, (int)mode);
  lr_s4_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  c->mode = mode;
  bool prev = lr_set_grad_enabled(false);
  lr_status s = build_cache(m, batch, c);
  lr_set_grad_enabled(prev);
  if (s != LR_OK) {
    lr_s4_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

/* Σ_r p[r, h, n] 2 Re(Σ_m x[r, h, m] y[b, h, m]): lrnnx's contract_fn on the half state. */
static lr_status contract_half(lr_tensor *p, lr_tensor *x, lr_tensor *y, lr_tensor **out) {
  lr_tensor *yu, *xy, *sm, *re, *re2, *c, *cu, *pc;
  LR_TRY(lr_unsqueeze(y, 1, &yu));               /* (B, 1, H, N') */
  LR_TRY(lr_mul(yu, x, &xy));                    /* (B, r, H, N') */
  LR_TRY(lr_sum(xy, 1, (const int[]){3}, false, &sm));
  LR_TRY(lr_real(sm, &re));
  LR_TRY(lr_affine(re, 2.0, 0.0, &re2));
  LR_TRY(lr_lti_to_complex(re2, &c));
  LR_TRY(lr_unsqueeze(c, 3, &cu));               /* (B, r, H, 1) */
  LR_TRY(lr_mul(cu, p, &pc));                    /* (B, r, H, N') */
  return lr_sum(pc, 1, (const int[]){1}, false, out);
}

static lr_status step(lr_s4 *m, lr_s4_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  int64_t Bn = c->batch, H = m->cfg.d_model, ch = m->cfg.channels;
  lr_tensor *xc, *u, *s;
  LR_TRY(lr_lti_to_complex(x_t, &xc));
  LR_TRY(lr_unsqueeze(xc, 2, &u)); /* (B, H, 1) */
  if (c->mode == LR_S4_STEP_DENSE) {
    lr_tensor *su, *as, *as2, *bu;
    LR_TRY(lr_unsqueeze(c->state, 3, &su));              /* (B, H, n, 1) */
    LR_TRY(lr_matmul(c->dA, su, &as));                   /* (B, H, n, 1) */
    LR_TRY(lr_reshape(as, LR_SHAPE(Bn, H, c->state->shape[2]), &as2));
    LR_TRY(lr_mul(c->dB, u, &bu));
    LR_TRY(lr_add(as2, bu, &s));
  } else if (c->mode == LR_S4_STEP_DIAGONAL) {
    lr_tensor *as, *bu;
    LR_TRY(lr_mul(c->dA, c->state, &as));
    LR_TRY(lr_mul(c->dB, u, &bu));
    LR_TRY(lr_add(as, bu, &s));
  } else { /* linear: s' = D (t - P R^* t), t = E s - P Q^* s + 2 B u */
    lr_tensor *es, *pq, *t1, *bu, *bu2, *t, *pr, *t2;
    LR_TRY(lr_mul(c->lE, c->state, &es));
    LR_TRY(contract_half(c->lP, c->lQ, c->state, &pq));
    LR_TRY(lr_sub(es, pq, &t1));
    LR_TRY(lr_mul(c->lB, u, &bu));
    LR_TRY(lr_affine(bu, 2.0, 0.0, &bu2));
    LR_TRY(lr_add(t1, bu2, &t));
    LR_TRY(contract_half(c->lP, c->lR, t, &pr));
    LR_TRY(lr_sub(t, pr, &t2));
    LR_TRY(lr_mul(c->lD, t2, &s));
  }
  LR_TRY(lr_tensor_copy_(c->state, s));
  lr_tensor *s4, *p, *sm, *re, *x3, *xd, *yd, *yf;
  LR_TRY(lr_unsqueeze(s, 1, &s4)); /* (B, 1, H, n) */
  LR_TRY(lr_mul(s4, c->dC, &p));   /* (B, ch, H, n) */
  LR_TRY(lr_sum(p, 1, (const int[]){3}, false, &sm));
  LR_TRY(lr_real(sm, &re));        /* (B, ch, H) */
  LR_TRY(lr_unsqueeze(x_t, 1, &x3));
  LR_TRY(lr_mul(x3, m->D, &xd));
  LR_TRY(lr_add(re, xd, &yd));
  LR_TRY(lr_reshape(yd, LR_SHAPE(Bn, ch * H), &yf));
  return lr_lti_s4_head(m->output_linear, yf, y_t);
}

lr_status lr_s4_step(lr_s4 *m, lr_s4_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  const char *fn = "lr_s4_step";
  if (!m || !c || !x_t || !y_t) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  char b[64];
  if (x_t->ndim != 2 || x_t->shape[0] != c->batch || x_t->shape[1] != m->cfg.d_model)
    return lr_fail(LR_ERR_SHAPE, "%s: x_t is %s, expected (%lld, %lld)", fn,
                   lr_shape_str(x_t->ndim, x_t->shape, b, sizeof b), (long long)c->batch, (long long)m->cfg.d_model);
  if (x_t->dtype != m->cfg.dtype)
    return lr_fail(LR_ERR_DTYPE, "%s: x_t is %s, the model is %s", fn, lr_dtype_name(x_t->dtype),
                   lr_dtype_name(m->cfg.dtype));
  bool prev = lr_set_grad_enabled(false);
  lr_status s = step(m, c, x_t, y_t);
  lr_set_grad_enabled(prev);
  return s;
}

/* ---- the registry entry "S4" (nn/registry.h) ----
 * lrnnx's keyword arguments with its defaults: d_model (required), bottleneck=None, gate=None,
 * final_act="glu", postact=None, dropout=0, tie_dropout=false, transposed=true, l_max=None,
 * channels=1, d_state=64, dt_min=0.001, dt_max=0.1, dt_tie=true, dt_transform="exp",
 * dt_fast=false, rank=1, n_ssm=None, init="legs", deterministic=false, real_transform="exp",
 * imag_transform="none", is_real=false, lr=None, wd=0, verbose=true, and the FFTConvS4 keys
 * kernel, swap_channels=false, drop_kernel=0, disc (S4DKernel's, ignored by S4); plus this port's
 * dtype="float32" ("float64"), seed=0. final_act null is lrnnx's None (no output_linear); postact
 * is the deprecated spelling and needs final_act null. The step mode of `lrnnx layer --mode step`
 * is lrnnx's allocate_inference_cache's: dense. */
static lr_status s4_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {
      "d_model", "bottleneck", "gate", "final_act", "postact", "dropout", "tie_dropout", "transposed", "l_max",
      "channels", "d_state", "dt_min", "dt_max", "dt_tie", "dt_transform", "dt_fast", "rank", "n_ssm", "init",
      "deterministic", "real_transform", "imag_transform", "is_real", "lr", "wd", "verbose", "disc", "kernel",
      "swap_channels", "drop_kernel", "dtype", "seed", NULL};
  static const char *const inits[] = {
      "legs", "legt", "fourier", "fout", "hippo", "all", "diag", "dplr", "diag-legs", "diag-hippo", "diag-lin",
      "diag-linear", "diag-inv", "diag-inverse", "diag-inv2", "diag-inverse2", "diag-quad", "diag-quadratic",
      "diag-real", "dplr-legs", "dplr-hippo", "dplr-lin", "dplr-linear", "dplr-inv", "dplr-inverse", "dplr-inv2",
      "dplr-inverse2", "dplr-quad", "dplr-quadratic", "dplr-real", NULL};
  const char *M = "S4";
  LR_TRY(lr_args_check(args, M, known));
  LR_TRY(lr_args_require(args, M, "d_model"));
  int64_t H, seed;
  LR_TRY(lr_args_int(args, M, "d_model", 0, &H));
  lr_s4_config c = lr_s4_config_default(H);
  LR_TRY(lr_args_int(args, M, "bottleneck", 0, &c.bottleneck));
  LR_TRY(lr_args_int(args, M, "gate", 0, &c.gate));
  LR_TRY(lr_args_int(args, M, "l_max", 0, &c.l_max));
  LR_TRY(lr_args_int(args, M, "n_ssm", 0, &c.n_ssm));
  LR_TRY(lr_args_int(args, M, "channels", c.channels, &c.channels));
  LR_TRY(lr_args_int(args, M, "d_state", c.d_state, &c.d_state));
  LR_TRY(lr_args_int(args, M, "rank", 1, &c.rank));
  LR_TRY(lr_args_double(args, M, "dropout", 0.0, &c.dropout));
  LR_TRY(lr_args_double(args, M, "dt_min", c.dt_min, &c.dt_min));
  LR_TRY(lr_args_double(args, M, "dt_max", c.dt_max, &c.dt_max));
  LR_TRY(lr_args_double(args, M, "lr", -1.0, &c.lr));
  LR_TRY(lr_args_double(args, M, "wd", 0.0, &c.wd));
  double drop_kernel;
  LR_TRY(lr_args_double(args, M, "drop_kernel", 0.0, &drop_kernel));
  bool ignored;
  LR_TRY(lr_args_bool(args, M, "tie_dropout", false, &ignored));
  LR_TRY(lr_args_bool(args, M, "verbose", true, &ignored));
  LR_TRY(lr_args_bool(args, M, "transposed", c.transposed, &c.transposed));
  LR_TRY(lr_args_bool(args, M, "dt_tie", c.dt_tie, &c.dt_tie));
  LR_TRY(lr_args_bool(args, M, "dt_fast", c.dt_fast, &c.dt_fast));
  LR_TRY(lr_args_bool(args, M, "deterministic", false, &c.deterministic));
  LR_TRY(lr_args_bool(args, M, "is_real", false, &c.is_real));
  LR_TRY(lr_args_bool(args, M, "swap_channels", false, &c.swap_channels));
  const char *s;
  LR_TRY(lr_args_string(args, M, "disc", NULL, &s)); /* S4DKernel's; S4 ignores it */
  LR_TRY(lr_args_string(args, M, "kernel", NULL, &s));
  if (s) return lr_fail(LR_ERR_UNSUPPORTED, "S4: argument 'kernel' is \"%.80s\": S4 builds its own kernel", s);
  int k;
  LR_TRY(lr_args_choice(args, M, "dt_transform", lr_lti_transforms, 1, &k));
  c.dt_transform = lr_lti_transforms[k];
  LR_TRY(lr_args_choice(args, M, "real_transform", lr_lti_transforms, 1, &k));
  c.real_transform = lr_lti_transforms[k];
  LR_TRY(lr_args_choice(args, M, "imag_transform", lr_lti_transforms, 0, &k));
  c.imag_transform = lr_lti_transforms[k];
  const char *init;
  LR_TRY(lr_args_string(args, M, "init", "legs", &init));
  c.init = lr_lti_static_name(init, inits);
  if (!c.init) return lr_fail(LR_ERR_UNSUPPORTED, "S4: argument 'init' is \"%.80s\", which this port does not implement", init);
  const cJSON *fa = cJSON_IsObject(args) ? cJSON_GetObjectItemCaseSensitive(args, "final_act") : NULL;
  LR_TRY(lr_args_string(args, M, "final_act", NULL, &s));
  c.final_act = !fa || s;
  LR_TRY(lr_args_string(args, M, "postact", NULL, &s));
  if (s) {
    if (c.final_act) return lr_fail(LR_ERR_ARG, "S4: argument 'postact' needs final_act null (lrnnx asserts it)");
    c.final_act = true;
  }
  if (drop_kernel != 0.0)
    return lr_fail(LR_ERR_UNSUPPORTED, "S4: argument 'drop_kernel' is %g: kernel dropout is not supported", drop_kernel);
  LR_TRY(lr_args_dtype(args, M, "dtype", LR_DTYPE_F32, &c.dtype));
  LR_TRY(lr_args_int(args, M, "seed", 0, &seed));
  lr_rng rng;
  lr_rng_init(&rng, (uint64_t)seed);
  lr_s4 *m;
  LR_TRY(lr_s4_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status s4_model_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)dt;
  return lr_s4_forward((lr_s4 *)m, x, lengths, y);
}

static lr_status s4_model_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  return lr_s4_step((lr_s4 *)m, (lr_s4_cache *)cache, x_t, y_t);
}

static lr_status s4_model_alloc(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  (void)max_len;
  lr_s4_cache *c;
  LR_TRY(lr_s4_allocate_cache((lr_s4 *)m, batch, LR_S4_STEP_DENSE, &c));
  *cache = c;
  return LR_OK;
}

static void s4_model_free(lr_module *m, void *cache) {
  (void)m;
  lr_s4_cache_free((lr_s4_cache *)cache);
}

const lr_model_def lr_model_s4 = {
    "S4",
    "d_model, d_state=64, channels=1, l_max=null, n_ssm=null, rank=1, dt_min=0.001, dt_max=0.1, dt_tie=true, "
    "dt_transform=\"exp\", dt_fast=false, init=\"legs\", real_transform=\"exp\", imag_transform=\"none\", "
    "final_act=\"glu\" (null: no output_linear), transposed=true, lr=null, wd=0, dtype=\"float32\", seed=0 "
    "(bottleneck, gate, dropout, is_real, deterministic, swap_channels, drop_kernel: defaults only)",
    s4_create, s4_model_forward, s4_model_step, s4_model_alloc, s4_model_free};
