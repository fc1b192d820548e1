/* S4D (lrnnx.models.lti.S4D with S4DKernel and FFTConvS4); see s4d.h for the parameters and the
 * math.
 *
 * Init, in lrnnx's order of draws:
 *   inv_dt ~ U[log dt_min, log dt_max) ((H, 1) or (H, N')); for dt_transform != exp it is
 *     inv_transform(exp(inv_dt)); dt_fast stores asinh of that.
 *   A, B from combination(init) (no draws): S4D-LegS ("legs") takes the NPLR diagonalisation of
 *     HiPPO-LegS: AP = A + P P^T (P_n = sqrt(n + 1/2)) is -1/2 I + S with S skew-symmetric; the
 *     eigenpairs of -i AP (LAPACK zheevd in double, as torch.linalg.eigh; the diagonal's imaginary
 *     part is ignored as eigh reads one triangle) are sorted by eigenvalue and the lower half kept:
 *     W = -1/2 + i w, B = V^H b (b_n = sqrt(2n + 1)) with Im B clipped to [-2, 2]. An eigenvector's
 *     sign is LAPACK's choice; it flips B_n, which the random C absorbs in distribution.
 *     "diag-*": Re = -1/2 and Im from lin (π n), inv (N/π (N/(1 + 2n) - 1)), inv2, quad, real
 *     (Im 0, Re = -(1 + n)), legs (the NPLR W); B = 1 (B_init "constant"; legs: the NPLR B).
 *     A_real = inv_T_re(max(-Re A, 1e-4)), A_imag = inv_T_im(max(-Im A, 1e-4)) (lrnnx clamps).
 *   C ~ complex normal (each part N(0, 1/2)) (C, H, N'); D ~ N(0, 1) (C, H); output_linear as
 *     PyTorch's Linear (nn/linear.c).
 * Backward: composed of differentiable ops (transforms, complex arithmetic, log_vandermonde,
 * fft_conv, gelu, linear), so every parameter and x get their gradients from the tape.
 */
#include "nn/s4d.h"

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
#include "ops/view.h"
#include "tensor/arena.h"

lr_s4d_config lr_s4d_config_default(int64_t d_model) {
  lr_s4d_config c;
  memset(&c, 0, sizeof c);
  c.d_model = d_model;
  c.d_state = 64;
  c.channels = 1;
  c.dt_min = 0.001;
  c.dt_max = 0.1;
  c.dt_tie = true;
  c.dt_transform = "exp";
  c.real_transform = "exp";
  c.imag_transform = "none";
  c.init = "legs";
  c.disc = "zoh";
  c.final_act = true;
  c.transposed = true;
  c.lr = -1;
  c.dtype = LR_DTYPE_F32;
  return c;
}

/* ---- initialisation of A and B ---- */

extern void zheevd_(const char *jobz, const char *uplo, const int *n, double complex *a, const int *lda, double *w,
                    double complex *work, const int *lwork, double *rwork, const int *lrwork, int *iwork,
                    const int *liwork, int *info, size_t, size_t);

/* NPLR of HiPPO-LegS: W (N/2) and B (N/2), see the file comment. */
static lr_status nplr_legs(int N, double complex *W, double complex *Bout) {
  const char *fn = "lr_s4d_new";
  double complex *a = calloc((size_t)N * N, sizeof *a);
  double *w = malloc((size_t)N * sizeof *w);
  if (!a || !w) {
    free(a);
    free(w);
    return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  }
  /* AP[i][j] = -sqrt((2i+1)(2j+1))/2 (i > j), +.../2 (i < j), -1/2 (i = j); M = -i AP, column-major */
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      double ap = i == j ? -0.5 : (i > j ? -0.5 : 0.5) * sqrt((2.0 * i + 1) * (2.0 * j + 1));
      a[i + (size_t)j * N] = -I * ap;
    }
  int lwork = -1, lrwork = -1, liwork = -1, info = 0, iw;
  double complex wq;
  double rq;
  zheevd_("V", "L", &N, a, &N, w, &wq, &lwork, &rq, &lrwork, &iw, &liwork, &info, 1, 1);
  lwork = (int)creal(wq);
  lrwork = (int)rq;
  liwork = iw;
  double complex *work = malloc((size_t)lwork * sizeof *work);
  double *rwork = malloc((size_t)lrwork * sizeof *rwork);
  int *iwork = malloc((size_t)liwork * sizeof *iwork);
  if (work && rwork && iwork && info == 0)
    zheevd_("V", "L", &N, a, &N, w, work, &lwork, rwork, &lrwork, iwork, &liwork, &info, 1, 1);
  free(work);
  free(rwork);
  free(iwork);
  lr_status s = LR_OK;
  if (info != 0) s = lr_fail(LR_ERR_INTERNAL, "%s: zheevd failed (info %d) for the LegS init, N %d", fn, info, N);
  for (int k = 0; s == LR_OK && k < N / 2; k++) { /* eigenvalues ascending: the lower half */
    W[k] = -0.5 + I * w[k];
    double complex b = 0;
    for (int j = 0; j < N; j++) b += conj(a[j + (size_t)k * N]) * sqrt(2.0 * j + 1);
    Bout[k] = creal(b) + I * fmin(fmax(cimag(b), -2.0), 2.0);
  }
  free(a);
  free(w);
  return s;
}

/* One init name for rows of A, B (N2 entries each). */
static lr_status ssm_init(const char *init, int64_t Nfull, double complex *A, double complex *B) {
  int64_t N2 = Nfull / 2;
  double N = (double)Nfull;
  bool diag = !strncmp(init, "diag-", 5);
  const char *kind = diag ? init + 5 : init;
  if (!strcmp(kind, "legs") || !strcmp(kind, "hippo")) {
    LR_TRY(nplr_legs((int)Nfull, A, B));
    return LR_OK;
  }
  if (!diag) return lr_fail(LR_ERR_UNSUPPORTED, "lr_s4d_new: init \"%s\" is not supported", init);
  for (int64_t n = 0; n < N2; n++) {
    double re = 0.5, im = (double)n;
    if (!strcmp(kind, "lin") || !strcmp(kind, "linear")) im = M_PI * n;
    else if (!strcmp(kind, "inv") || !strcmp(kind, "inverse")) im = N / M_PI * (N / (1 + 2.0 * n) - 1);
    else if (!strcmp(kind, "inv2") || !strcmp(kind, "inverse2")) im = N / M_PI * (N / (1 + (double)n) - 1);
    else if (!strcmp(kind, "quad") || !strcmp(kind, "quadratic")) im = (1 + 2.0 * n) * (1 + 2.0 * n) / M_PI;
    else if (!strcmp(kind, "real")) {
      im = 0;
      re = 1 + (double)n;
    } else
      return lr_fail(LR_ERR_UNSUPPORTED, "lr_s4d_new: init \"%s\" is not supported", init);
    A[n] = -re - I * im;
    B[n] = 1.0;
  }
  return LR_OK;
}

static lr_status init_AB(const lr_s4d_config *c, lr_s4d *m) {
  const char *list[2] = {c->init, NULL};
  int n_inits = 1;
  if (!strcmp(c->init, "diag")) {
    list[0] = "diag-inv";
    list[1] = "diag-lin";
    n_inits = 2;
  }
  int64_t n_ssm = m->A_real->shape[0], N2 = m->N2;
  if (n_ssm % n_inits)
    return lr_fail(LR_ERR_ARG, "lr_s4d_new: n_ssm %lld must be a multiple of %d inits", (long long)n_ssm, n_inits);
  double complex *A = malloc(sizeof *A * (size_t)N2), *B = malloc(sizeof *B * (size_t)N2);
  if (!A || !B) {
    free(A);
    free(B);
    return lr_fail(LR_ERR_MEMORY, "lr_s4d_new: out of memory");
  }
  lr_status s = LR_OK;
  int64_t per = n_ssm / n_inits;
  for (int k = 0; k < n_inits && s == LR_OK; k++) {
    if ((s = ssm_init(list[k], c->d_state, A, B)) != LR_OK) break;
    for (int64_t r = k * per; r < (k + 1) * per; r++)
      for (int64_t n = 0; n < N2; n++) {
        int64_t i = r * N2 + n;
        lr_tensor_set(m->A_real, i, lr_lti_inv_transform(m->tr_re, -creal(A[n])), 0);
        lr_tensor_set(m->A_imag, i, lr_lti_inv_transform(m->tr_im, -cimag(A[n])), 0);
        lr_tensor_set(m->B, 2 * i, creal(B[n]), 0);
        lr_tensor_set(m->B, 2 * i + 1, cimag(B[n]), 0);
      }
  }
  free(A);
  free(B);
  return s;
}

static lr_status s4d_init(lr_s4d *m, lr_rng *rng) {
  const lr_s4d_config *c = &m->cfg;
  LR_TRY(lr_rand_uniform_(m->inv_dt, log(c->dt_min), log(c->dt_max), rng));
  for (int64_t i = 0; i < lr_numel(m->inv_dt); i++) {
    double v = lr_tensor_get(m->inv_dt, i);
    if (m->tr_dt != 1) v = lr_lti_inv_transform(m->tr_dt, exp(v));
    if (c->dt_fast) v = asinh(v);
    lr_tensor_set(m->inv_dt, i, v, 0);
  }
  LR_TRY(init_AB(c, m));
  LR_TRY(lr_rand_normal_(m->C, 0.0, sqrt(0.5), rng));
  return lr_rand_normal_(m->D, 0.0, 1.0, rng);
}

static lr_status check_config(const lr_s4d_config *c, int *disc, int *tdt, int *tre, int *tim) {
  const char *fn = "lr_s4d_new";
  if (c->d_model < 1) return lr_fail(LR_ERR_ARG, "%s: d_model %lld, expected >= 1", fn, (long long)c->d_model);
  if (c->d_state < 2 || c->d_state % 2)
    return lr_fail(LR_ERR_ARG, "%s: d_state %lld, expected an even number >= 2", fn, (long long)c->d_state);
  if (c->channels < 1) return lr_fail(LR_ERR_ARG, "%s: channels %lld, expected >= 1", fn, (long long)c->channels);
  if (c->l_max < 0) return lr_fail(LR_ERR_ARG, "%s: l_max %lld, expected >= 0 (0: None)", fn, (long long)c->l_max);
  int64_t n_ssm = c->n_ssm ? c->n_ssm : c->d_model;
  if (n_ssm < 1 || c->d_model % n_ssm)
    return lr_fail(LR_ERR_ARG, "%s: n_ssm %lld must divide d_model %lld", fn, (long long)n_ssm, (long long)c->d_model);
  if (!(c->dt_min > 0 && c->dt_min <= c->dt_max))
    return lr_fail(LR_ERR_ARG, "%s: dt_min %g, dt_max %g: expected 0 < dt_min <= dt_max", fn, c->dt_min, c->dt_max);
  if (!c->disc || (strcmp(c->disc, "zoh") && strcmp(c->disc, "bilinear")))
    return lr_fail(LR_ERR_ARG, "%s: disc \"%s\", expected zoh or bilinear", fn, c->disc ? c->disc : "(null)");
  *disc = strcmp(c->disc, "zoh") ? 1 : 0;
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

lr_status lr_s4d_new(lr_module *parent, const char *name, const lr_s4d_config *cfg, lr_rng *rng, lr_s4d **out) {
  const char *fn = "lr_s4d_new";
  if (!cfg || !rng || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", fn, !cfg ? "cfg" : !rng ? "rng" : "out");
  int disc = 0, tdt = 0, tre = 0, tim = 0;
  LR_TRY(check_config(cfg, &disc, &tdt, &tre, &tim));
  lr_module *mod;
  LR_TRY(lr_module_new(sizeof(lr_s4d), "S4D", &mod));
  lr_s4d *m = (lr_s4d *)mod;
  m->cfg = *cfg;
  m->N2 = cfg->d_state / 2;
  m->disc = disc;
  m->tr_dt = tdt;
  m->tr_re = tre;
  m->tr_im = tim;
  int64_t H = cfg->d_model, N2 = m->N2, ch = cfg->channels, n_ssm = cfg->n_ssm ? cfg->n_ssm : H;
  lr_dtype dt = cfg->dtype;
  lr_status s = lr_module_add_param(mod, "inv_dt", dt, LR_SHAPE(H, cfg->dt_tie ? 1 : N2), &m->inv_dt);
  if (s == LR_OK) s = lr_module_add_param(mod, "C", dt, LR_SHAPE(ch, H, N2, 2), &m->C);
  if (s == LR_OK) s = lr_module_add_param(mod, "B", dt, LR_SHAPE(1, n_ssm, N2, 2), &m->B);
  if (s == LR_OK) s = lr_module_add_param(mod, "A_real", dt, LR_SHAPE(n_ssm, N2), &m->A_real);
  if (s == LR_OK) s = lr_module_add_param(mod, "A_imag", dt, LR_SHAPE(n_ssm, N2), &m->A_imag);
  /* lrnnx's register(name, t): _optim = {"weight_decay": 0.0} (its lr argument is never passed) */
  const char *ssm_names[] = {"inv_dt", "C", "B", "A_real", "A_imag"};
  for (int i = 0; i < 5 && s == LR_OK; i++) s = lr_module_set_optim(mod, ssm_names[i], -1.0, 0.0);
  if (s == LR_OK) s = lr_module_add_param(mod, "D", dt, LR_SHAPE(ch, H), &m->D);
  if (s == LR_OK) s = s4d_init(m, rng);
  /* lrnnx's S4D also holds the SSM parameters in self.layer (FFTConvS4) -> kernel (S4DKernel),
   * which assigns them in the order A_real, A_imag, B, C, inv_dt: its state_dict() lists them a
   * second time as layer.kernel.*, before output_linear. Aliases, so they are trained once. */
  if (s == LR_OK) {
    lr_module *layer = NULL, *kernel = NULL;
    s = lr_module_new(sizeof(lr_module), "FFTConvS4", &layer);
    if (s == LR_OK) s = lr_module_attach(mod, "layer", layer);
    if (s == LR_OK) s = lr_module_new(sizeof(lr_module), "S4DKernel", &kernel);
    if (s == LR_OK) s = lr_module_attach(layer, "kernel", kernel);
    const char *tie_names[] = {"A_real", "A_imag", "B", "C", "inv_dt"};
    lr_tensor *tie_ts[] = {m->A_real, m->A_imag, m->B, m->C, m->inv_dt};
    for (int i = 0; i < 5 && s == LR_OK; i++) s = lr_module_tie(kernel, tie_names[i], tie_ts[i]);
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

/* ---- kernel ---- */

/* dt (H, 1|N') real, A (H, N') complex, B (H, N') complex, C (ch, H, N') complex. */
static lr_status process_params(lr_s4d *m, lr_tensor **dt, lr_tensor **A, lr_tensor **B, lr_tensor **C) {
  int64_t H = m->cfg.d_model;
  lr_tensor *idt = m->inv_dt, *d, *re, *im, *nre, *nim, *a, *b, *b2;
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
  LR_TRY(lr_reshape(b, LR_SHAPE(b->shape[1], m->N2), &b2));
  LR_TRY(lr_lti_tile_rows(b2, 0, H, B));
  LR_TRY(lr_view_as_complex(m->C, C));
  *dt = d;
  return LR_OK;
}

/* The discrete dA (H, N'), dB (H, N') and the Vandermonde input x = log dA (zoh: dtA). */
static lr_status discrete(lr_s4d *m, lr_tensor *dt, lr_tensor *A, lr_tensor *B, lr_tensor **dA, lr_tensor **dB,
                          lr_tensor **logdA) {
  lr_tensor *dtc, *dtA;
  LR_TRY(lr_lti_to_complex(dt, &dtc));
  LR_TRY(lr_mul(dtc, A, &dtA));
  if (m->disc == 0) { /* zoh: dA = e^{dtA}, dB = B (e^{dtA} - 1)/A */
    lr_tensor *e, *em1, *q;
    LR_TRY(lr_exp(dtA, &e));
    LR_TRY(lr_affine(e, 1.0, -1.0, &em1));
    LR_TRY(lr_div(em1, A, &q));
    LR_TRY(lr_mul(B, q, dB));
    *dA = e;
    *logdA = dtA;
  } else { /* bilinear: dA = (1 + dtA/2)/(1 - dtA/2), dB = B Δ/(1 - dtA/2) */
    lr_tensor *num, *den, *q, *bd;
    LR_TRY(lr_affine(dtA, 0.5, 1.0, &num));
    LR_TRY(lr_affine(dtA, -0.5, 1.0, &den));
    LR_TRY(lr_div(num, den, dA));
    LR_TRY(lr_div(dtc, den, &q));
    LR_TRY(lr_mul(B, q, &bd));
    *dB = bd;
    LR_TRY(lr_log(*dA, logdA));
  }
  return LR_OK;
}

lr_status lr_s4d_compute_kernel(lr_s4d *m, int64_t L, lr_tensor **K) {
  const char *fn = "lr_s4d_compute_kernel";
  if (!m || !K) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (L < 1) return lr_fail(LR_ERR_ARG, "%s: L %lld, expected >= 1", fn, (long long)L);
  int64_t Lk = m->cfg.l_max ? (L < m->cfg.l_max ? L : m->cfg.l_max) : L;
  lr_tensor *dt, *A, *B, *C, *dA, *dB, *x, *v;
  LR_TRY(process_params(m, &dt, &A, &B, &C));
  LR_TRY(discrete(m, dt, A, B, &dA, &dB, &x));
  LR_TRY(lr_mul(C, dB, &v)); /* (ch, H, N') */
  return lr_log_vandermonde(v, x, Lk, K);
}

static lr_status kernel_of(void *m, int64_t L, lr_tensor **K) { return lr_s4d_compute_kernel((lr_s4d *)m, L, K); }

lr_status lr_s4d_forward(lr_s4d *m, lr_tensor *x, lr_tensor *lengths, lr_tensor **y) {
  const char *fn = "lr_s4d_forward";
  if (!m || !y || !x) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  return lr_lti_s4_forward(fn, m, kernel_of, m->cfg.d_model, m->cfg.channels, m->cfg.transposed, m->cfg.dtype, m->D,
                           m->output_linear, x, lengths, y);
}

/* ---- step ---- */

void lr_s4d_cache_free(lr_s4d_cache *c) {
  if (!c) return;
  lr_tensor_free(c->state);
  lr_tensor_free(c->dA);
  lr_tensor_free(c->dB);
  lr_tensor_free(c->dC);
  free(c);
}

lr_status lr_s4d_cache_reset(lr_s4d_cache *c) {
  if (!c) return lr_fail(LR_ERR_ARG, "lr_s4d_cache_reset: cache is NULL");
  return lr_tensor_fill_(c->state, 0.0);
}

static lr_status persist(lr_tensor *x, lr_tensor **out) {
  LR_TRY(lr_tensor_new(x->dtype, x->device, x->ndim, x->shape, out));
  return lr_tensor_copy_(*out, x);
}

static lr_status build_cache(lr_s4d *m, int64_t batch, lr_s4d_cache *c) {
  lr_tensor *dt, *A, *B, *C, *dA, *dB, *x;
  LR_TRY(process_params(m, &dt, &A, &B, &C));
  LR_TRY(discrete(m, dt, A, B, &dA, &dB, &x));
  LR_TRY(persist(dA, &c->dA));
  LR_TRY(persist(dB, &c->dB));
  LR_TRY(persist(C, &c->dC));
  LR_TRY(lr_tensor_new(dA->dtype, dA->device, LR_SHAPE(batch, m->cfg.d_model, m->N2), &c->state));
  return lr_tensor_fill_(c->state, 0.0);
}

lr_status lr_s4d_allocate_cache(lr_s4d *m, int64_t batch, lr_s4d_cache **out) {
  const char *fn = "lr_s4d_allocate_cache";
  if (!m || !out) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (batch < 1) return lr_fail(LR_ERR_ARG, "%s: batch is %lld, expected >= 1", fn, (long long)batch);
  lr_s4d_cache *c = calloc(1, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  c->batch = batch;
  lr_arena *a = lr_arena_current();
  lr_arena_mark mk = lr_arena_get_mark(a);
  bool prev = lr_set_grad_enabled(false);
  lr_status s = build_cache(m, batch, c);
  lr_set_grad_enabled(prev);
  lr_arena_rewind(a, mk);
  if (s != LR_OK) {
    lr_s4d_cache_free(c);
    return s;
  }
  *out = c;
  return LR_OK;
}

static lr_status step(lr_s4d *m, lr_s4d_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  int64_t Bn = c->batch, H = m->cfg.d_model, ch = m->cfg.channels;
  lr_tensor *xc, *u, *bu, *as, *s, *s4, *p, *sm, *re, *y2, *x3, *xd, *yd, *yf;
  LR_TRY(lr_lti_to_complex(x_t, &xc));
  LR_TRY(lr_unsqueeze(xc, 2, &u));      /* (B, H, 1) */
  LR_TRY(lr_mul(c->dB, u, &bu));        /* (B, H, N') */
  LR_TRY(lr_mul(c->dA, c->state, &as));
  LR_TRY(lr_add(as, bu, &s));
  LR_TRY(lr_tensor_copy_(c->state, s));
  LR_TRY(lr_unsqueeze(s, 1, &s4));      /* (B, 1, H, N') */
  LR_TRY(lr_mul(s4, c->dC, &p));        /* (B, ch, H, N') */
  LR_TRY(lr_sum(p, 1, (const int[]){3}, false, &sm));
  LR_TRY(lr_real(sm, &re));
  LR_TRY(lr_affine(re, 2.0, 0.0, &y2)); /* (B, ch, H) */
  LR_TRY(lr_unsqueeze(x_t, 1, &x3));
  LR_TRY(lr_mul(x3, m->D, &xd));
  LR_TRY(lr_add(y2, xd, &yd));
  LR_TRY(lr_reshape(yd, LR_SHAPE(Bn, ch * H), &yf));
  return lr_lti_s4_head(m->output_linear, yf, y_t);
}

lr_status lr_s4d_step(lr_s4d *m, lr_s4d_cache *c, lr_tensor *x_t, lr_tensor **y_t) {
  const char *fn = "lr_s4d_step";
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

/* ---- the registry entry "S4D" (nn/registry.h) ----
 * lrnnx's keyword arguments with its defaults: d_model (required), bottleneck=None, gate=None,
 * final_act="glu", postact=None, dropout=0, tie_dropout=false, transposed=true, l_max=None,
 * channels=1, d_state=64, dt_min=0.001, dt_max=0.1, dt_tie=true, dt_transform="exp",
 * dt_fast=false, rank=1, n_ssm=None, init="legs", deterministic=false, real_transform="exp",
 * imag_transform="none", is_real=false, lr=None, wd=0, verbose=true, disc="zoh", and the FFTConvS4
 * keys swap_channels=false, drop_kernel=0; plus this port's dtype="float32" ("float64"), seed=0.
 * final_act: JSON null is lrnnx's None (no output_linear), any string the Linear + GELU head
 * (lrnnx's LinearActivation ignores the name); postact is the deprecated spelling and, as in
 * lrnnx, needs final_act null. rank, verbose and tie_dropout change nothing for S4D (no P, no
 * printing, no dropout) and are accepted for compatibility. Strings are mapped onto static copies:
 * the module keeps its config after the JSON is gone. integration_timesteps is ignored, as in lrnnx
 * (S4D.forward absorbs extra keywords). */
/* A nullable integer argument: JSON null or absent -> 0 (None). */
static lr_status s4d_opt_int(const cJSON *args, const char *key, int64_t *out) {
  return lr_args_int(args, "S4D", key, 0, out);
}

static lr_status s4d_create(const cJSON *args, lr_module **out) {
  static const char *const known[] = {
      "d_model", "bottleneck", "gate", "final_act", "postact", "dropout", "tie_dropout", "transposed", "l_max",
      "channels", "d_state", "dt_min", "dt_max", "dt_tie", "dt_transform", "dt_fast", "rank", "n_ssm", "init",
      "deterministic", "real_transform", "imag_transform", "is_real", "lr", "wd", "verbose", "disc",
      "swap_channels", "drop_kernel", "dtype", "seed", NULL};
  static const char *const inits[] = {"legs", "hippo", "diag", "diag-legs", "diag-hippo", "diag-lin", "diag-linear",
                                      "diag-inv", "diag-inverse", "diag-inv2", "diag-inverse2", "diag-quad",
                                      "diag-quadratic", "diag-real", NULL};
  static const char *const discs[] = {"zoh", "bilinear", NULL};
  const char *M = "S4D";
  LR_TRY(lr_args_check(args, M, known));
  LR_TRY(lr_args_require(args, M, "d_model"));
  int64_t H, seed, rank;
  LR_TRY(lr_args_int(args, M, "d_model", 0, &H));
  lr_s4d_config c = lr_s4d_config_default(H);
  LR_TRY(s4d_opt_int(args, "bottleneck", &c.bottleneck));
  LR_TRY(s4d_opt_int(args, "gate", &c.gate));
  LR_TRY(s4d_opt_int(args, "l_max", &c.l_max));
  LR_TRY(s4d_opt_int(args, "n_ssm", &c.n_ssm));
  LR_TRY(lr_args_int(args, M, "channels", c.channels, &c.channels));
  LR_TRY(lr_args_int(args, M, "d_state", c.d_state, &c.d_state));
  LR_TRY(lr_args_int(args, M, "rank", 1, &rank));
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
  int k;
  LR_TRY(lr_args_choice(args, M, "dt_transform", lr_lti_transforms, 1, &k));
  c.dt_transform = lr_lti_transforms[k];
  LR_TRY(lr_args_choice(args, M, "real_transform", lr_lti_transforms, 1, &k));
  c.real_transform = lr_lti_transforms[k];
  LR_TRY(lr_args_choice(args, M, "imag_transform", lr_lti_transforms, 0, &k));
  c.imag_transform = lr_lti_transforms[k];
  LR_TRY(lr_args_choice(args, M, "disc", discs, 0, &k));
  c.disc = discs[k];
  const char *init;
  LR_TRY(lr_args_string(args, M, "init", "legs", &init));
  c.init = lr_lti_static_name(init, inits);
  if (!c.init) return lr_fail(LR_ERR_UNSUPPORTED, "S4D: argument 'init' is \"%.80s\", which this port does not implement", init);
  /* final_act: absent -> "glu" (head); JSON null -> None (no head); postact only with final_act null */
  const cJSON *fa = cJSON_IsObject(args) ? cJSON_GetObjectItemCaseSensitive(args, "final_act") : NULL;
  const char *s;
  LR_TRY(lr_args_string(args, M, "final_act", NULL, &s));
  c.final_act = !fa || s;
  LR_TRY(lr_args_string(args, M, "postact", NULL, &s));
  if (s) {
    if (c.final_act) return lr_fail(LR_ERR_ARG, "S4D: argument 'postact' needs final_act null (lrnnx asserts it)");
    c.final_act = true;
  }
  if (rank < 1) return lr_fail(LR_ERR_ARG, "S4D: argument 'rank' is %lld, expected >= 1", (long long)rank);
  if (drop_kernel != 0.0)
    return lr_fail(LR_ERR_UNSUPPORTED, "S4D: argument 'drop_kernel' is %g: kernel dropout is not supported", drop_kernel);
  LR_TRY(lr_args_dtype(args, M, "dtype", LR_DTYPE_F32, &c.dtype));
  LR_TRY(lr_args_int(args, M, "seed", 0, &seed));
  lr_rng rng;
  lr_rng_init(&rng, (uint64_t)seed);
  lr_s4d *m;
  LR_TRY(lr_s4d_new(NULL, NULL, &c, &rng, &m));
  *out = &m->base;
  return LR_OK;
}

static lr_status s4d_model_forward(lr_module *m, lr_tensor *x, lr_tensor *dt, lr_tensor *lengths, lr_tensor **y) {
  (void)dt;
  return lr_s4d_forward((lr_s4d *)m, x, lengths, y);
}

static lr_status s4d_model_step(lr_module *m, void *cache, lr_tensor *x_t, lr_tensor *dt_t, lr_tensor **y_t) {
  (void)dt_t;
  return lr_s4d_step((lr_s4d *)m, (lr_s4d_cache *)cache, x_t, y_t);
}

static lr_status s4d_model_alloc(lr_module *m, int64_t batch, int64_t max_len, void **cache) {
  (void)max_len;
  lr_s4d_cache *c;
  LR_TRY(lr_s4d_allocate_cache((lr_s4d *)m, batch, &c));
  *cache = c;
  return LR_OK;
}

static void s4d_model_free(lr_module *m, void *cache) {
  (void)m;
  lr_s4d_cache_free((lr_s4d_cache *)cache);
}

const lr_model_def lr_model_s4d = {
    "S4D",
    "d_model, d_state=64, channels=1, l_max=null, n_ssm=null, dt_min=0.001, dt_max=0.1, dt_tie=true, "
    "dt_transform=\"exp\", dt_fast=false, init=\"legs\", real_transform=\"exp\", imag_transform=\"none\", "
    "disc=\"zoh\", final_act=\"glu\" (null: no output_linear), transposed=true, lr=null, wd=0, dtype=\"float32\", "
    "seed=0 (bottleneck, gate, dropout, is_real, deterministic, swap_channels, drop_kernel: defaults only)",
    s4d_create, s4d_model_forward, s4d_model_step, s4d_model_alloc, s4d_model_free};
