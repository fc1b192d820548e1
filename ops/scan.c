/* Scan ops: lr_selective_scan (+ step), lr_diag_scan, lr_s5_readout, lr_s5_scan (+ step).
 *
 * selective scan: validates, makes inputs contiguous, runs kernels/cpu/scan.c (math, memory and
 * backward formulas documented there), records one node with outputs (y, hL). Its backward
 * gets per-batch partials of the reductions (dA, fixed dB/dC, dD, ddelta_bias) and sums them over
 * the batch in a fixed order, so gradients are bitwise reproducible.
 * diag scan: the S5 core (inventory §4.3, simplified_scan's kernel) with every state written
 * out; S5 = lr_matmul(B, u) -> lr_diag_scan -> lr_matmul(C, h) -> lr_s5_readout.
 * s5_readout: y = f Re(yc) + D Re(u); dyc += f g, du += D g (real), dD += Σ_{b,t} g Re(u).
 */
#include "ops/scan.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/scan.h"
#include "ops/discretize.h"
#include "ops/linalg.h"
#include "ops/op_util.h"
#include "ops/registry.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status sscan_backward(lr_node *n);
static lr_status dscan_backward(lr_node *n);
static lr_status readout_backward(lr_node *n);
static const lr_op_def op_sscan = {"selective_scan", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, sscan_backward};
static const lr_op_def op_dscan = {"diag_scan", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, dscan_backward};
static const lr_op_def op_readout = {"s5_readout", LR_DT_COMPLEX, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, readout_backward};

#ifdef LR_CUDA
#define ON_GPU(t) ((t)->device == LR_DEVICE_CUDA)
#else
#define ON_GPU(t) false
#endif

/* t has ndim dims equal to want (-1: any): "op: name is (2, 3), expected (2, *, 5) (B, D, L)". */
static lr_status check_shape(const char *op, const lr_tensor *t, const char *name, int ndim, const int64_t *want,
                             const char *what) {
  bool ok = t->ndim == ndim;
  for (int i = 0; ok && i < ndim; i++) ok = want[i] < 0 || t->shape[i] == want[i];
  if (ok) return LR_OK;
  char a[128], b[128] = "(";
  size_t k = 1;
  for (int i = 0; i < ndim && k < sizeof b; i++) {
    if (want[i] < 0) k += (size_t)snprintf(b + k, sizeof b - k, "*");
    else k += (size_t)snprintf(b + k, sizeof b - k, "%lld", (long long)want[i]);
    if (k < sizeof b) k += (size_t)snprintf(b + k, sizeof b - k, "%s", i + 1 < ndim ? ", " : (ndim == 1 ? ",)" : ")"));
  }
  return lr_fail(LR_ERR_SHAPE, "%s: %s is %s, expected %s %s", op, name, lr_shape_str(t->ndim, t->shape, a, sizeof a), b,
                 what);
}

static lr_status check_dt(const char *op, const lr_tensor *t, const char *name, lr_dtype want) {
  if (t->dtype == want) return LR_OK;
  return lr_fail(LR_ERR_DTYPE, "%s: %s is %s, expected %s", op, name, lr_dtype_name(t->dtype), lr_dtype_name(want));
}

/* A contiguous copy of t (t itself when it is); device tensors are packed by lr_kcuda_pack. */
static lr_status contig(lr_tensor *t, lr_tensor **c) {
  if (!t) {
    *c = NULL;
    return LR_OK;
  }
#ifdef LR_CUDA
  if (ON_GPU(t) && !lr_is_contiguous(t)) {
    lr_tensor *o;
    LR_TRY(lr_empty_on(t->dtype, t->device, t->ndim, t->shape, &o));
    LR_TRY(lr_kcuda_pack(t->dtype, o->data, t->data, t->ndim, t->shape, t->strides, false, lr_cuda_stream()));
    *c = o;
    return LR_OK;
  }
#endif
  return lr_tensor_contiguous_raw(t, c);
}

static lr_status check_lengths(const char *op, lr_tensor *lengths, lr_tensor *reset, int64_t Bn, int64_t L,
                               lr_tensor **lc, lr_tensor **rc) {
  *lc = *rc = NULL;
  if (lengths) {
    LR_TRY(check_dt(op, lengths, "lengths", LR_DTYPE_I64));
    LR_TRY(check_shape(op, lengths, "lengths", 1, (int64_t[]){Bn}, "(B)"));
    LR_TRY(contig(lengths, lc));
    const int64_t *lv = (*lc)->data;
    int64_t *host = NULL;
    if (ON_GPU(*lc)) { /* validated on the host: B values, one copy */
      host = malloc(sizeof(int64_t) * (size_t)(Bn ? Bn : 1));
      if (!host) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", op);
      lr_status s = lr_tensor_copy_to_host(*lc, host, sizeof(int64_t) * (size_t)Bn);
      if (s != LR_OK) {
        free(host);
        return s;
      }
      lv = host;
    }
    for (int64_t b = 0; b < Bn; b++) {
      int64_t v = lv[b];
      if (v < 0 || v > L) {
        free(host);
        return lr_fail(LR_ERR_ARG, "%s: lengths[%lld] is %lld, outside [0, %lld]", op, (long long)b, (long long)v,
                       (long long)L);
      }
    }
    free(host);
  }
  if (reset) {
    LR_TRY(check_dt(op, reset, "reset", LR_DTYPE_BOOL));
    LR_TRY(check_shape(op, reset, "reset", 2, (int64_t[]){Bn, L}, "(B, L)"));
    LR_TRY(contig(reset, rc));
  }
  return LR_OK;
}

/* ---------------- selective scan ---------------- */

typedef struct {
  lr_scan_in a;
  lr_tensor *ckpt;
} sscan_ctx;

/* Validates and fills a (pointers to contiguous copies). */
static lr_status sscan_prep(const char *op, lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C,
                            const lr_scan_opts *o, lr_scan_in *a) {
  LR_TRY(lr_check_ptr(op, u, "u"));
  LR_TRY(lr_check_ptr(op, delta, "delta"));
  LR_TRY(lr_check_ptr(op, A, "A"));
  LR_TRY(lr_check_ptr(op, B, "B"));
  LR_TRY(lr_check_ptr(op, C, "C"));
  LR_TRY(lr_check_dtype(op, u, "u", LR_DT_REAL));
  LR_TRY(lr_check_device(op, &op_sscan, u));
  lr_tensor *opt_t[7] = {o->D, o->z, o->delta_bias, o->deltaA, o->h0, o->lengths, o->reset};
  lr_tensor *main_t[4] = {delta, A, B, C};
  for (int i = 0; i < 11; i++) {
    lr_tensor *t = i < 4 ? main_t[i] : opt_t[i - 4];
    if (t && t->device != u->device)
      return lr_fail(LR_ERR_DEVICE, "%s: all tensors must be on %s, one is on %s", op, lr_device_name(u->device),
                     lr_device_name(t->device));
  }
  if ((unsigned)o->disc >= LR_DISC_COUNT) return lr_fail(LR_ERR_ARG, "%s: disc %d is not a discretization", op, (int)o->disc);
  if (o->chunk < 0) return lr_fail(LR_ERR_ARG, "%s: chunk is %lld, expected >= 0", op, (long long)o->chunk);
  lr_dtype rdt = u->dtype;
  if (u->ndim != 3) return check_shape(op, u, "u", 3, (int64_t[]){-1, -1, -1}, "(B, D, L)");
  const int64_t Bn = u->shape[0], D = u->shape[1], L = u->shape[2];
  LR_TRY(check_dt(op, delta, "delta", rdt));
  LR_TRY(check_shape(op, delta, "delta", 3, u->shape, "(B, D, L) like u"));
  if (A->dtype != rdt && A->dtype != lr_dtype_complex(rdt))
    return lr_fail(LR_ERR_DTYPE, "%s: A is %s, expected %s or %s (u is %s)", op, lr_dtype_name(A->dtype),
                   lr_dtype_name(rdt), lr_dtype_name(lr_dtype_complex(rdt)), lr_dtype_name(rdt));
  if (A->ndim != 2 || A->shape[0] != D) return check_shape(op, A, "A", 2, (int64_t[]){D, -1}, "(D, N)");
  const int64_t N = A->shape[1];
  bool cplx = lr_dtype_is_complex(A->dtype);
  if (cplx && (o->disc == LR_DISC_S7 || o->disc == LR_DISC_RGLRU))
    return lr_fail(LR_ERR_DTYPE, "%s: %s takes a real A, got %s", op, lr_disc_name(o->disc), lr_dtype_name(A->dtype));
  if (o->deltaA && (o->disc == LR_DISC_S7 || o->disc == LR_DISC_RGLRU || o->disc == LR_DISC_NONE))
    return lr_fail(LR_ERR_ARG, "%s: deltaA (event mode) does not apply to %s", op, lr_disc_name(o->disc));
  int64_t G = 1;
  lr_tensor *BC[2] = {B, C};
  const char *bcn[2] = {"B", "C"};
  bool var[2];
  for (int i = 0; i < 2; i++) {
    LR_TRY(check_dt(op, BC[i], bcn[i], A->dtype));
    var[i] = BC[i]->ndim == 4;
    if (!var[i]) {
      LR_TRY(check_shape(op, BC[i], bcn[i], 2, (int64_t[]){D, N}, "(D, N) or (B, G, N, L)"));
      continue;
    }
    LR_TRY(check_shape(op, BC[i], bcn[i], 4, (int64_t[]){Bn, -1, N, L}, "(B, G, N, L)"));
    int64_t g = BC[i]->shape[1];
    if (g < 1 || D % g)
      return lr_fail(LR_ERR_SHAPE, "%s: %s has %lld groups, which do not divide D = %lld", op, bcn[i], (long long)g,
                     (long long)D);
    if (var[0] && i == 1 && g != G)
      return lr_fail(LR_ERR_SHAPE, "%s: B has %lld groups and C %lld; variable B and C must share G", op, (long long)G,
                     (long long)g);
    G = g;
  }
  if (o->D) {
    LR_TRY(check_dt(op, o->D, "D", rdt));
    LR_TRY(check_shape(op, o->D, "D", 1, (int64_t[]){D}, "(D)"));
  }
  if (o->delta_bias) {
    LR_TRY(check_dt(op, o->delta_bias, "delta_bias", rdt));
    LR_TRY(check_shape(op, o->delta_bias, "delta_bias", 1, (int64_t[]){D}, "(D)"));
  }
  if (o->z) {
    LR_TRY(check_dt(op, o->z, "z", rdt));
    LR_TRY(check_shape(op, o->z, "z", 3, u->shape, "(B, D, L) like u"));
  }
  if (o->deltaA) {
    LR_TRY(check_dt(op, o->deltaA, "deltaA", rdt));
    LR_TRY(check_shape(op, o->deltaA, "deltaA", 3, u->shape, "(B, D, L) like u"));
  }
  if (o->h0) {
    LR_TRY(check_dt(op, o->h0, "h0", A->dtype));
    LR_TRY(check_shape(op, o->h0, "h0", 3, (int64_t[]){Bn, D, N}, "(B, D, N)"));
  }
  lr_tensor *lc, *rc;
  LR_TRY(check_lengths(op, o->lengths, o->reset, Bn, L, &lc, &rc));
  lr_tensor *c[10];
  lr_tensor *src[10] = {u, delta, A, B, C, o->D, o->z, o->delta_bias, o->deltaA, o->h0};
  for (int i = 0; i < 10; i++) LR_TRY(contig(src[i], &c[i]));
  memset(a, 0, sizeof *a);
  a->rdt = rdt;
  a->cplx = cplx;
  a->disc = o->disc;
  a->Bn = Bn, a->D = D, a->L = L, a->N = N, a->G = G;
  a->varB = var[0], a->varC = var[1], a->softplus = o->delta_softplus;
  a->chunk = o->chunk ? o->chunk : 64;
  a->u = c[0]->data, a->delta = c[1]->data, a->A = c[2]->data, a->Bm = c[3]->data, a->Cm = c[4]->data;
  a->Dv = c[5] ? c[5]->data : NULL, a->z = c[6] ? c[6]->data : NULL, a->dbias = c[7] ? c[7]->data : NULL;
  a->deltaA = c[8] ? c[8]->data : NULL, a->h0 = c[9] ? c[9]->data : NULL;
  a->lengths = lc ? lc->data : NULL;
  a->reset = rc ? rc->data : NULL;
#ifdef LR_CUDA
  /* The CUDA backward's tiles start at checkpoints: at most this far apart, and by default what
   * the kernel picks (32 for the sequential backward, the tile length otherwise). */
  if (ON_GPU(u) && !o->chunk) a->chunk = lr_kcuda_scan_chunk(a);
  if (ON_GPU(u) && a->chunk > LR_KCUDA_SCAN_MAX_CHUNK) a->chunk = LR_KCUDA_SCAN_MAX_CHUNK;
#endif
  return LR_OK;
}

static void *ws_alloc(size_t bytes) { return lr_arena_alloc(lr_arena_current(), bytes); }

lr_status lr_selective_scan(lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C,
                            const lr_scan_opts *opts, lr_tensor **y, lr_tensor **hL) {
  const char *op = "lr_selective_scan";
  lr_scan_opts o0 = {0};
  const lr_scan_opts *o = opts ? opts : &o0;
  LR_TRY(lr_check_ptr(op, y, "y"));
  lr_scan_in a;
  LR_TRY(sscan_prep(op, u, delta, A, B, C, o, &a));
  lr_tensor *yt, *ht, *ck = NULL;
  const lr_device dev = u->device;
  LR_TRY(lr_empty_on(a.rdt, dev, LR_SHAPE(a.Bn, a.D, a.L), &yt));
  LR_TRY(lr_empty_on(A->dtype, dev, LR_SHAPE(a.Bn, a.D, a.N), &ht));
  lr_tensor *ins[10] = {u, delta, A, B, C, o->D, o->z, o->delta_bias, o->deltaA, o->h0};
  bool grad = lr_needs_grad(10, ins);
  if (grad)
    LR_TRY(lr_empty_on(A->dtype, dev, LR_SHAPE(a.Bn, a.D, lr_kcpu_scan_nchunks(&a) ? lr_kcpu_scan_nchunks(&a) : 1, a.N),
                       &ck));
#ifdef LR_CUDA
  if (ON_GPU(u)) {
    LR_TRY(lr_kcuda_scan_fwd(&a, yt->data, ht->data, ck ? ck->data : NULL, lr_cuda_stream()));
  } else
#endif
  {
    int nt = omp_get_max_threads();
    void *ws = ws_alloc(lr_kcpu_scan_ws_bytes(&a, nt, false));
    if (!ws) return lr_fail(LR_ERR_MEMORY, "%s: out of memory for the workspace", op);
    lr_kcpu_scan_fwd(&a, yt->data, ht->data, ck ? ck->data : NULL, ws, nt);
  }
  lr_node *n;
  lr_tensor *outs[2] = {yt, ht};
  LR_TRY(lr_record(&op_sscan, 10, ins, 2, outs, &n));
  if (n) {
    sscan_ctx *cx = lr_arena_alloc(lr_arena_current(), sizeof *cx);
    if (!cx) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", op);
    cx->a = a;
    cx->ckpt = ck;
    n->ctx = cx;
  }
  *y = yt;
  if (hL) *hL = ht;
  return LR_OK;
}

/* dst (M reals of rdt; complex: 2M) = Σ_b src[b] in order b = 0, 1, ..., on src's device. */
static lr_status sum_leading(lr_device dev, lr_dtype rdt, int64_t Bn, int64_t M, const void *src, void *dst) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_sum_leading(rdt, Bn, M, src, dst, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_sum_leading(rdt, Bn, M, src, dst);
  return LR_OK;
}

static lr_status sscan_backward(lr_node *n) {
  sscan_ctx *cx = n->ctx;
  const lr_scan_in *a = &cx->a;
  lr_tensor *const *in = n->in;
  lr_tensor *gy = n->out[0]->grad, *ghL = n->out[1]->grad;
  lr_dtype wdt = in[2]->dtype, rdt = a->rdt;
  const lr_device dev = in[0]->device;
  const int64_t Bn = a->Bn, D = a->D, L = a->L, N = a->N, G = a->G;
  lr_tensor *gyc, *ghc = NULL;
  if (gy) LR_TRY(contig(gy, &gyc));
  else LR_TRY(lr_zeros_on(rdt, dev, LR_SHAPE(Bn, D, L), &gyc));
  if (ghL) LR_TRY(contig(ghL, &ghc));
  lr_tensor *du, *ddl, *ddA = NULL, *dz = NULL, *dAp, *dB, *dC, *dDp = NULL, *dbp = NULL, *dh0;
  LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, D, L), &du));
  LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, D, L), &ddl));
  if (a->deltaA) LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, D, L), &ddA));
  if (a->z) LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, D, L), &dz));
  LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(Bn, D, N), &dAp));
  if (a->varB) LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(Bn, G, N, L), &dB));
  else LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(Bn, D, N), &dB));
  if (a->varC) LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(Bn, G, N, L), &dC));
  else LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(Bn, D, N), &dC));
  if (a->Dv) LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, D), &dDp));
  if (a->dbias) LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, D), &dbp));
  LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(Bn, D, N), &dh0));
  lr_scan_grads g = {gyc->data, ghc ? ghc->data : NULL, du->data, ddl->data, ddA ? ddA->data : NULL,
                     dz ? dz->data : NULL, dAp->data, dB->data, dC->data, dDp ? dDp->data : NULL,
                     dbp ? dbp->data : NULL, dh0->data};
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) {
    lr_tensor *ws;
    int64_t words = (int64_t)((lr_kcuda_scan_ws_bytes(a) + 7) / 8);
    LR_TRY(lr_empty_on(LR_DTYPE_F64, dev, LR_SHAPE(words), &ws));
    LR_TRY(lr_kcuda_scan_bwd(a, cx->ckpt->data, &g, ws->data, lr_cuda_stream()));
  } else
#endif
  {
    int nt = omp_get_max_threads();
    void *ws = ws_alloc(lr_kcpu_scan_ws_bytes(a, nt, true));
    if (!ws) return lr_fail(LR_ERR_MEMORY, "lr_selective_scan backward: out of memory for the workspace");
    lr_kcpu_scan_bwd(a, cx->ckpt->data, &g, ws, nt);
  }
  const int64_t wm = a->cplx ? 2 : 1;
  lr_tensor *dA, *dBs = dB, *dCs = dC, *dD = NULL, *db = NULL;
  LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(D, N), &dA));
  LR_TRY(sum_leading(dev, rdt, Bn, D * N * wm, dAp->data, dA->data));
  if (!a->varB) {
    LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(D, N), &dBs));
    LR_TRY(sum_leading(dev, rdt, Bn, D * N * wm, dB->data, dBs->data));
  }
  if (!a->varC) {
    LR_TRY(lr_empty_on(wdt, dev, LR_SHAPE(D, N), &dCs));
    LR_TRY(sum_leading(dev, rdt, Bn, D * N * wm, dC->data, dCs->data));
  }
  if (dDp) {
    LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(D), &dD));
    LR_TRY(sum_leading(dev, rdt, Bn, D, dDp->data, dD->data));
  }
  if (dbp) {
    LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(D), &db));
    LR_TRY(sum_leading(dev, rdt, Bn, D, dbp->data, db->data));
  }
  LR_TRY(lr_grad_acc(in[0], du));
  LR_TRY(lr_grad_acc(in[1], ddl));
  LR_TRY(lr_grad_acc(in[2], dA));
  LR_TRY(lr_grad_acc(in[3], dBs));
  LR_TRY(lr_grad_acc(in[4], dCs));
  LR_TRY(lr_grad_acc(in[5], dD));
  LR_TRY(lr_grad_acc(in[6], dz));
  LR_TRY(lr_grad_acc(in[7], db));
  LR_TRY(lr_grad_acc(in[8], ddA));
  LR_TRY(lr_grad_acc(in[9], dh0));
  return LR_OK;
}

lr_status lr_selective_scan_step(lr_tensor *state, lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B,
                                 lr_tensor *C, const lr_scan_opts *opts, lr_tensor **y) {
  const char *op = "lr_selective_scan_step";
  lr_scan_opts o = {0};
  if (opts) o = *opts;
  LR_TRY(lr_check_ptr(op, state, "state"));
  LR_TRY(lr_check_ptr(op, u, "u"));
  LR_TRY(lr_check_ptr(op, delta, "delta"));
  LR_TRY(lr_check_ptr(op, B, "B"));
  LR_TRY(lr_check_ptr(op, C, "C"));
  LR_TRY(lr_check_ptr(op, y, "y"));
  if (o.h0 || o.lengths || o.reset)
    return lr_fail(LR_ERR_ARG, "%s: h0, lengths and reset do not apply to a step (the state is the h0)", op);
  if (u->ndim != 2) return check_shape(op, u, "u", 2, (int64_t[]){-1, -1}, "(B, D)");
  /* Views with L = 1, so the step runs the scan kernel itself. */
  lr_tensor *u3, *d3, *B4 = B, *C4 = C, *z3 = NULL, *dA3 = NULL;
  LR_TRY(lr_tensor_unsqueeze(u, 2, &u3));
  if (delta->ndim != 2) return check_shape(op, delta, "delta", 2, u->shape, "(B, D) like u");
  LR_TRY(lr_tensor_unsqueeze(delta, 2, &d3));
  if (B->ndim == 3) LR_TRY(lr_tensor_unsqueeze(B, 3, &B4));
  if (C->ndim == 3) LR_TRY(lr_tensor_unsqueeze(C, 3, &C4));
  if (o.z) {
    if (o.z->ndim != 2) return check_shape(op, o.z, "z", 2, u->shape, "(B, D) like u");
    LR_TRY(lr_tensor_unsqueeze(o.z, 2, &z3));
  }
  if (o.deltaA) {
    if (o.deltaA->ndim != 2) return check_shape(op, o.deltaA, "deltaA", 2, u->shape, "(B, D) like u");
    LR_TRY(lr_tensor_unsqueeze(o.deltaA, 2, &dA3));
  }
  o.z = z3;
  o.deltaA = dA3;
  o.h0 = state;
  lr_scan_in a;
  LR_TRY(sscan_prep(op, u3, d3, A, B4, C4, &o, &a));
  if (!lr_is_contiguous(state)) return lr_fail(LR_ERR_ARG, "%s: state must be contiguous (it is updated in place)", op);
  lr_tensor *yt;
  LR_TRY(lr_empty_on(a.rdt, u->device, LR_SHAPE(a.Bn, a.D), &yt));
  a.h0 = state->data;
#ifdef LR_CUDA
  if (ON_GPU(u)) {
    LR_TRY(lr_kcuda_scan_fwd(&a, yt->data, state->data, NULL, lr_cuda_stream()));
  } else
#endif
  {
    int nt = omp_get_max_threads();
    void *ws = ws_alloc(lr_kcpu_scan_ws_bytes(&a, nt, false));
    if (!ws) return lr_fail(LR_ERR_MEMORY, "%s: out of memory for the workspace", op);
    lr_kcpu_scan_fwd(&a, yt->data, state->data, NULL, ws, nt);
  }
  *y = yt;
  return LR_OK;
}

/* ---------------- diagonal scan ---------------- */

typedef struct {
  lr_dscan_in a;
} dscan_ctx;

/* delta-like: (B, P, L) or (P), real rdt; *bcast set for (P). */
static lr_status check_delta(const char *op, lr_tensor *t, const char *name, lr_dtype rdt, int64_t Bn, int64_t P,
                             int64_t L, bool *bcast) {
  LR_TRY(check_dt(op, t, name, rdt));
  *bcast = t->ndim == 1;
  if (*bcast) return check_shape(op, t, name, 1, (int64_t[]){P}, "(P) or (B, P, L)");
  return check_shape(op, t, name, 3, (int64_t[]){Bn, P, L}, "(B, P, L) or (P)");
}

static lr_status dscan_fwd(lr_device dev, const lr_dscan_in *a, void *h, void *hL) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) return lr_kcuda_dscan_fwd(a, h, hL, lr_cuda_stream());
#endif
  (void)dev;
  lr_kcpu_dscan_fwd(a, h, hL);
  return LR_OK;
}

static lr_status dscan_prep(const char *op, lr_tensor *x, lr_tensor *lam, lr_tensor *delta, const lr_s5_opts *o,
                            lr_dscan_in *a) {
  LR_TRY(lr_check_ptr(op, x, "x"));
  LR_TRY(lr_check_ptr(op, lam, "lambda"));
  LR_TRY(lr_check_ptr(op, delta, "delta"));
  LR_TRY(lr_check_dtype(op, x, "x", LR_DT_FLOAT));
  LR_TRY(lr_check_device(op, &op_dscan, x));
  LR_TRY(check_dt(op, lam, "lambda", x->dtype));
  if ((unsigned)o->disc >= LR_DISC_COUNT) return lr_fail(LR_ERR_ARG, "%s: disc %d is not a discretization", op, (int)o->disc);
  if (lr_dtype_is_complex(x->dtype) && (o->disc == LR_DISC_S7 || o->disc == LR_DISC_RGLRU))
    return lr_fail(LR_ERR_DTYPE, "%s: %s takes a real lambda, got %s", op, lr_disc_name(o->disc), lr_dtype_name(x->dtype));
  if (x->ndim != 3) return check_shape(op, x, "x", 3, (int64_t[]){-1, -1, -1}, "(B, P, L)");
  const int64_t Bn = x->shape[0], P = x->shape[1], L = x->shape[2];
  LR_TRY(check_shape(op, lam, "lambda", 1, (int64_t[]){P}, "(P)"));
  lr_tensor *dv[6] = {lam, delta, o->deltaA, o->h0, o->lengths, o->reset};
  for (int i = 0; i < 6; i++)
    if (dv[i] && dv[i]->device != x->device)
      return lr_fail(LR_ERR_DEVICE, "%s: all tensors must be on %s, one is on %s", op, lr_device_name(x->device),
                     lr_device_name(dv[i]->device));
  lr_dtype rdt = lr_dtype_real(x->dtype);
  memset(a, 0, sizeof *a);
  LR_TRY(check_delta(op, delta, "delta", rdt, Bn, P, L, &a->delta_bcast));
  if (o->deltaA) LR_TRY(check_delta(op, o->deltaA, "deltaA", rdt, Bn, P, L, &a->deltaA_bcast));
  if (o->h0) {
    LR_TRY(check_dt(op, o->h0, "h0", x->dtype));
    LR_TRY(check_shape(op, o->h0, "h0", 2, (int64_t[]){Bn, P}, "(B, P)"));
  }
  lr_tensor *lc, *rc, *c[5];
  LR_TRY(check_lengths(op, o->lengths, o->reset, Bn, L, &lc, &rc));
  lr_tensor *src[5] = {x, lam, delta, o->deltaA, o->h0};
  for (int i = 0; i < 5; i++) LR_TRY(contig(src[i], &c[i]));
  a->dt = x->dtype;
  a->disc = o->disc;
  a->Bn = Bn, a->P = P, a->L = L;
  a->x = c[0]->data, a->lam = c[1]->data, a->delta = c[2]->data;
  a->deltaA = c[3] ? c[3]->data : NULL, a->h0 = c[4] ? c[4]->data : NULL;
  a->lengths = lc ? lc->data : NULL;
  a->reset = rc ? rc->data : NULL;
  return LR_OK;
}

lr_status lr_diag_scan(lr_tensor *x, lr_tensor *lambda, lr_tensor *delta, const lr_s5_opts *opts, lr_tensor **h,
                       lr_tensor **hL) {
  const char *op = "lr_diag_scan";
  lr_s5_opts o0 = {0};
  const lr_s5_opts *o = opts ? opts : &o0;
  LR_TRY(lr_check_ptr(op, h, "h"));
  lr_dscan_in a;
  LR_TRY(dscan_prep(op, x, lambda, delta, o, &a));
  lr_tensor *ht, *hl;
  LR_TRY(lr_empty_on(x->dtype, x->device, LR_SHAPE(a.Bn, a.P, a.L), &ht));
  LR_TRY(lr_empty_on(x->dtype, x->device, LR_SHAPE(a.Bn, a.P), &hl));
  LR_TRY(dscan_fwd(x->device, &a, ht->data, hl->data));
  lr_node *n;
  lr_tensor *outs[2] = {ht, hl};
  LR_TRY(lr_record(&op_dscan, 5, (lr_tensor *[]){x, lambda, delta, o->deltaA, o->h0}, 2, outs, &n));
  if (n) {
    dscan_ctx *cx = lr_arena_alloc(lr_arena_current(), sizeof *cx);
    if (!cx) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", op);
    cx->a = a;
    n->ctx = cx;
  }
  *h = ht;
  if (hL) *hL = hl;
  return LR_OK;
}

static lr_status dscan_backward(lr_node *n) {
  const lr_dscan_in *a = &((dscan_ctx *)n->ctx)->a;
  const lr_device dev = n->in[0]->device;
  lr_tensor *gh = n->out[0]->grad, *ghL = n->out[1]->grad, *ghc = NULL, *ghLc = NULL;
  if (gh) LR_TRY(contig(gh, &ghc));
  if (ghL) LR_TRY(contig(ghL, &ghLc));
  lr_dtype dt = a->dt, rdt = lr_dtype_real(dt);
  const int64_t Bn = a->Bn, P = a->P, L = a->L;
  lr_tensor *dx, *dlp, *dl, *ddl, *ddA = NULL, *dh0;
  LR_TRY(lr_empty_on(dt, dev, LR_SHAPE(Bn, P, L), &dx));
  LR_TRY(lr_empty_on(dt, dev, LR_SHAPE(Bn, P), &dlp));
  LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, P, L), &ddl));
  if (a->deltaA) LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, P, L), &ddA));
  LR_TRY(lr_empty_on(dt, dev, LR_SHAPE(Bn, P), &dh0));
  const void *hp = n->out[0]->data, *ghp = ghc ? ghc->data : NULL, *ghLp = ghLc ? ghLc->data : NULL;
  LR_TRY(lr_empty_on(dt, dev, LR_SHAPE(P), &dl));
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) {
    LR_TRY(lr_kcuda_dscan_bwd(a, hp, ghp, ghLp, dx->data, dlp->data, ddl->data, ddA ? ddA->data : NULL, dh0->data,
                              lr_cuda_stream()));
  } else
#endif
    lr_kcpu_dscan_bwd(a, hp, ghp, ghLp, dx->data, dlp->data, ddl->data, ddA ? ddA->data : NULL, dh0->data);
  LR_TRY(sum_leading(dev, rdt, Bn, P * (lr_dtype_is_complex(dt) ? 2 : 1), dlp->data, dl->data));
  lr_tensor **red[2] = {&ddl, &ddA};
  const bool bc[2] = {a->delta_bcast, a->deltaA_bcast};
  for (int i = 0; i < 2; i++) {
    if (!*red[i] || !bc[i]) continue;
    lr_tensor *r;
    LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(P), &r));
#ifdef LR_CUDA
    if (dev == LR_DEVICE_CUDA) LR_TRY(lr_kcuda_sum_bl(rdt, Bn, P, L, (*red[i])->data, r->data, lr_cuda_stream()));
    else
#endif
      lr_kcpu_sum_bl(rdt, Bn, P, L, (*red[i])->data, r->data);
    *red[i] = r;
  }
  LR_TRY(lr_grad_acc(n->in[0], dx));
  LR_TRY(lr_grad_acc(n->in[1], dl));
  LR_TRY(lr_grad_acc(n->in[2], ddl));
  LR_TRY(lr_grad_acc(n->in[3], ddA));
  LR_TRY(lr_grad_acc(n->in[4], dh0));
  return LR_OK;
}

/* ---------------- S5 ---------------- */

lr_status lr_s5_readout(lr_tensor *yc, lr_tensor *u, lr_tensor *D, bool conj_sym, lr_tensor **y) {
  const char *op = "lr_s5_readout";
  LR_TRY(lr_check_ptr(op, yc, "yc"));
  LR_TRY(lr_check_ptr(op, u, "u"));
  LR_TRY(lr_check_ptr(op, y, "y"));
  LR_TRY(lr_check_dtype(op, yc, "yc", LR_DT_COMPLEX));
  LR_TRY(lr_check_device(op, &op_readout, yc));
  LR_TRY(lr_check_same(op, yc, "yc", u, "u"));
  if (yc->ndim != 3) return check_shape(op, yc, "yc", 3, (int64_t[]){-1, -1, -1}, "(B, H, L)");
  LR_TRY(check_shape(op, u, "u", 3, yc->shape, "(B, H, L) like yc"));
  lr_dtype rdt = lr_dtype_real(yc->dtype);
  if (D) {
    LR_TRY(check_dt(op, D, "D", rdt));
    LR_TRY(check_shape(op, D, "D", 1, (int64_t[]){yc->shape[1]}, "(H)"));
  }
  lr_tensor *ycc, *uc, *Dc = NULL, *yt;
  LR_TRY(contig(yc, &ycc));
  LR_TRY(contig(u, &uc));
  LR_TRY(contig(D, &Dc));
  LR_TRY(lr_empty_on(rdt, yc->device, 3, yc->shape, &yt));
  if (D && D->device != yc->device)
    return lr_fail(LR_ERR_DEVICE, "%s: D is on %s, yc on %s", op, lr_device_name(D->device), lr_device_name(yc->device));
#ifdef LR_CUDA
  if (ON_GPU(yc))
    LR_TRY(lr_kcuda_s5_readout(yc->dtype, yc->shape[0], yc->shape[1], yc->shape[2], conj_sym ? 2.0 : 1.0, ycc->data,
                               uc->data, Dc ? Dc->data : NULL, yt->data, lr_cuda_stream()));
  else
#endif
    lr_kcpu_s5_readout(yc->dtype, yc->shape[0], yc->shape[1], yc->shape[2], conj_sym ? 2.0 : 1.0, ycc->data, uc->data,
                       Dc ? Dc->data : NULL, yt->data);
  lr_node *n;
  LR_TRY(lr_record(&op_readout, 3, (lr_tensor *[]){yc, u, D}, 1, &yt, &n));
  if (n) {
    n->iarg[0] = conj_sym;
    n->saved[0] = uc;
    n->saved[1] = Dc;
  }
  *y = yt;
  return LR_OK;
}

static lr_status readout_backward(lr_node *n) {
  lr_tensor *g = n->out[0]->grad, *gc, *yc = n->in[0], *u = n->saved[0], *D = n->saved[1];
  if (!g) return LR_OK;
  const lr_device dev = yc->device;
  LR_TRY(contig(g, &gc));
  const int64_t Bn = yc->shape[0], H = yc->shape[1], L = yc->shape[2];
  const double f = n->iarg[0] ? 2.0 : 1.0;
  lr_dtype rdt = lr_dtype_real(yc->dtype);
  lr_tensor *dyc, *du = NULL, *dDp = NULL, *dD = NULL;
  LR_TRY(lr_empty_on(yc->dtype, dev, 3, yc->shape, &dyc));
  if (D) {
    LR_TRY(lr_empty_on(yc->dtype, dev, 3, yc->shape, &du));
    LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(Bn, H), &dDp));
    LR_TRY(lr_empty_on(rdt, dev, LR_SHAPE(H), &dD));
  }
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_s5_readout_bwd(yc->dtype, Bn, H, L, f, gc->data, u->data, D ? D->data : NULL, dyc->data,
                                   du ? du->data : NULL, dDp ? dDp->data : NULL, lr_cuda_stream()));
  else
#endif
    lr_kcpu_s5_readout_bwd(yc->dtype, Bn, H, L, f, gc->data, u->data, D ? D->data : NULL, dyc->data,
                           du ? du->data : NULL, dDp ? dDp->data : NULL);
  if (D) LR_TRY(sum_leading(dev, rdt, Bn, H, dDp->data, dD->data));
  LR_TRY(lr_grad_acc(n->in[0], dyc));
  LR_TRY(lr_grad_acc(n->in[1], du));
  LR_TRY(lr_grad_acc(n->in[2], dD));
  return LR_OK;
}

static lr_status s5_check(const char *op, lr_tensor *u, lr_tensor *A, lr_tensor *B, lr_tensor *C, int64_t *P) {
  LR_TRY(lr_check_ptr(op, u, "u"));
  LR_TRY(lr_check_ptr(op, A, "A"));
  LR_TRY(lr_check_ptr(op, B, "B"));
  LR_TRY(lr_check_ptr(op, C, "C"));
  LR_TRY(lr_check_dtype(op, u, "u", LR_DT_COMPLEX));
  LR_TRY(check_dt(op, A, "A", u->dtype));
  LR_TRY(check_dt(op, B, "B", u->dtype));
  LR_TRY(check_dt(op, C, "C", u->dtype));
  if (A->ndim != 1) return check_shape(op, A, "A", 1, (int64_t[]){-1}, "(P)");
  *P = A->shape[0];
  const int64_t H = u->shape[1];
  LR_TRY(check_shape(op, B, "B", 2, (int64_t[]){*P, H}, "(P, H)"));
  LR_TRY(check_shape(op, C, "C", 2, (int64_t[]){H, *P}, "(H, P)"));
  return LR_OK;
}

lr_status lr_s5_scan(lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C, lr_tensor *D,
                     const lr_s5_opts *opts, lr_tensor **y, lr_tensor **hL) {
  const char *op = "lr_s5_scan";
  lr_s5_opts o0 = {0};
  const lr_s5_opts *o = opts ? opts : &o0;
  LR_TRY(lr_check_ptr(op, y, "y"));
  LR_TRY(lr_check_ptr(op, u, "u"));
  if (u->ndim != 3) return check_shape(op, u, "u", 3, (int64_t[]){-1, -1, -1}, "(B, H, L)");
  int64_t P;
  LR_TRY(s5_check(op, u, A, B, C, &P));
  lr_tensor *Bu, *h, *hl, *yc;
  LR_TRY(lr_matmul(B, u, &Bu));
  LR_TRY(lr_diag_scan(Bu, A, delta, o, &h, &hl));
  LR_TRY(lr_matmul(C, h, &yc));
  LR_TRY(lr_s5_readout(yc, u, D, o->conj_sym, y));
  if (hL) *hL = hl;
  return LR_OK;
}

lr_status lr_s5_step(lr_tensor *state, lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C,
                     lr_tensor *D, const lr_s5_opts *opts, lr_tensor **y) {
  const char *op = "lr_s5_step";
  lr_s5_opts o = {0};
  if (opts) o = *opts;
  LR_TRY(lr_check_ptr(op, state, "state"));
  LR_TRY(lr_check_ptr(op, u, "u"));
  LR_TRY(lr_check_ptr(op, delta, "delta"));
  LR_TRY(lr_check_ptr(op, y, "y"));
  if (o.h0 || o.lengths || o.reset)
    return lr_fail(LR_ERR_ARG, "%s: h0, lengths and reset do not apply to a step (the state is the h0)", op);
  if (u->ndim != 2) return check_shape(op, u, "u", 2, (int64_t[]){-1, -1}, "(B, H)");
  int64_t P;
  LR_TRY(s5_check(op, u, A, B, C, &P));
  LR_TRY(check_dt(op, state, "state", u->dtype));
  LR_TRY(check_shape(op, state, "state", 2, (int64_t[]){u->shape[0], P}, "(B, P)"));
  if (!lr_is_contiguous(state)) return lr_fail(LR_ERR_ARG, "%s: state must be contiguous (it is updated in place)", op);
  bool prev = lr_set_grad_enabled(false);
  lr_status s = LR_OK;
  lr_tensor *u3, *d3 = delta, *dA3 = o.deltaA, *Bu, *h, *yc, *y3;
  s = lr_tensor_unsqueeze(u, 2, &u3);
  if (s == LR_OK && delta->ndim == 2) s = lr_tensor_unsqueeze(delta, 2, &d3);
  if (s == LR_OK && o.deltaA && o.deltaA->ndim == 2) s = lr_tensor_unsqueeze(o.deltaA, 2, &dA3);
  o.deltaA = dA3;
  if (s == LR_OK) s = lr_matmul(B, u3, &Bu);
  lr_dscan_in a;
  if (s == LR_OK) {
    o.h0 = state;
    s = dscan_prep(op, Bu, A, d3, &o, &a);
  }
  if (s == LR_OK) s = lr_empty_on(u->dtype, u->device, LR_SHAPE(u->shape[0], P, 1), &h);
  if (s == LR_OK) {
    a.h0 = state->data;
    s = dscan_fwd(u->device, &a, h->data, state->data);
  }
  if (s == LR_OK) s = lr_matmul(C, h, &yc);
  if (s == LR_OK) s = lr_s5_readout(yc, u3, D, o.conj_sym, &y3);
  if (s == LR_OK) s = lr_tensor_squeeze(y3, 2, y);
  lr_set_grad_enabled(prev);
  return s;
}

const lr_op_def *const lr_ops_scan[] = {&op_sscan, &op_dscan, &op_readout, NULL};
