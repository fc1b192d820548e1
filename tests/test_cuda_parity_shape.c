/* CUDA against CPU for the shape and view families and the strided copies and fills under them:
 *  - strided copies (lr_tensor_copy_, lr_tensor_contiguous_raw) of every dtype: transposed,
 *    windowed, reversed (negative strides) and broadcast (zero strides) views, device to device
 *    and across the bus in both directions; fills of contiguous and strided device tensors;
 *  - forward and backward of cat, stack, split/chunk, index_select, gather, embedding, pad, flip,
 *    roll, cumsum and the views (narrow, slice, expand, permute, reshape, squeeze, unsqueeze,
 *    contiguous), F32, F64, C64, C128 (forward also I32, I64, BOOL for the copies), at 1 element,
 *    odd sizes (37 x 53: not multiples of any block size) and about 4M elements (1024 x 4099);
 *    gradients are those of sum(w * y) for a random w (lr_backward with grad_root = w);
 *  - determinism: index backward with heavy duplicates, gather backward and chunked cumsum, run
 *    twice, same bits; error paths of the device checks.
 * GPU machine only (tags manual, cuda); every test skips in .init when no device is usable.
 *
 * Tolerances:
 *  - copies, index_select, gather, embedding and their backwards, pad, flip, roll, views: bitwise
 *    equal. Elements are moved as raw words, and every gradient element is summed by one thread
 *    in the CPU's order (index_add through host-built segments in index order, scatter_add walking
 *    the index dim in order, window adds one term per element);
 *  - cumsum with many columns (>= 8192) or short ones (< 128): bitwise (one thread per column,
 *    the CPU's recurrence);
 *  - cumsum with few long columns (chunked scan) and expand's backward (a reduction of r terms on
 *    the GPU's split paths): on integer-valued data bitwise (every partial sum is an exact integer
 *    below 2^24, so order cannot matter: this catches indexing errors); on real data
 *    |gpu - cpu| <= eps * (2 r + |cpu|) with r the number of terms summed (the column length for
 *    cumsum), eps the dtype's epsilon: a serial sum of r terms in [-1, 1) is off by about
 *    eps * r / 5, the chunked one by less, so this leaves a 10x margin.
 */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"

#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#include "tests/parity.h"

#define CU LR_DEVICE_CUDA
#define OK(expr) cr_assert_eq((expr), LR_OK, "%s: %s", #expr, lr_last_error())

static const lr_dtype k_float[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128};
static const lr_dtype k_all[] = {LR_DTYPE_F32, LR_DTYPE_F64, LR_DTYPE_C64, LR_DTYPE_C128,
                                 LR_DTYPE_I32, LR_DTYPE_I64, LR_DTYPE_BOOL};
static const int64_t k_sizes[][2] = {{1, 1}, {37, 53}, {1024, 4099}};
#define NSIZES 3

/* Random contents for a contiguous CPU tensor: floats in [-1, 1) (integer mode: {-1, 0, 1}),
 * I32 in [-1000, 1000), I64 spanning more than 32 bits, BOOL 0/1. */
static void fill_rand(lr_tensor *t, uint64_t seed, bool integer) {
  int64_t n = lr_numel(t);
  uint64_t s = seed * 7919 + 1;
  switch (t->dtype) {
    case LR_DTYPE_F32:
    case LR_DTYPE_C64: {
      int64_t m = n * (t->dtype == LR_DTYPE_C64 ? 2 : 1);
      for (int64_t i = 0; i < m; i++)
        ((float *)t->data)[i] = integer ? (float)((int)(pt_splitmix(&s) % 3) - 1) : (float)(2 * pt_unif(&s) - 1);
      break;
    }
    case LR_DTYPE_F64:
    case LR_DTYPE_C128: {
      int64_t m = n * (t->dtype == LR_DTYPE_C128 ? 2 : 1);
      for (int64_t i = 0; i < m; i++)
        ((double *)t->data)[i] = integer ? (double)((int)(pt_splitmix(&s) % 3) - 1) : 2 * pt_unif(&s) - 1;
      break;
    }
    case LR_DTYPE_I32:
      for (int64_t i = 0; i < n; i++) ((int32_t *)t->data)[i] = (int32_t)(pt_splitmix(&s) % 2000) - 1000;
      break;
    case LR_DTYPE_I64:
      for (int64_t i = 0; i < n; i++) ((int64_t *)t->data)[i] = (int64_t)(pt_splitmix(&s) >> 20) - (1ll << 43);
      break;
    default:
      for (int64_t i = 0; i < n; i++) ((uint8_t *)t->data)[i] = (uint8_t)(pt_splitmix(&s) & 1);
      break;
  }
}

/* The same leaf on the CPU and the GPU. strided: stored with the last two dims swapped and viewed
 * back (a transposed view, strides (.., 1, rows)). */
typedef struct {
  lr_tensor *c, *g;
} pair;

static pair make_pair(lr_dtype dt, int ndim, const int64_t *shape, bool strided, uint64_t seed, bool integer) {
  int64_t st[LR_MAX_DIMS];
  memcpy(st, shape, sizeof(int64_t) * (size_t)ndim);
  strided = strided && ndim >= 2;
  if (strided) {
    st[ndim - 1] = shape[ndim - 2];
    st[ndim - 2] = shape[ndim - 1];
  }
  pair p;
  OK(lr_empty(dt, ndim, st, &p.c));
  fill_rand(p.c, seed, integer);
  OK(lr_empty_on(dt, CU, ndim, st, &p.g));
  OK(lr_tensor_copy_(p.g, p.c));
  if (strided) {
    OK(lr_tensor_transpose(p.c, -1, -2, &p.c));
    OK(lr_tensor_transpose(p.g, -1, -2, &p.g));
    p.c->base = p.g->base = NULL; /* leaves of their own */
  }
  p.c->requires_grad = p.g->requires_grad = lr_dtype_is_float(dt);
  return p;
}

/* An index tensor (I64 or I32) with values v on both devices. */
static pair index_pair(lr_dtype dt, int ndim, const int64_t *shape, const int64_t *v) {
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  pair p;
  OK(lr_empty(dt, ndim, shape, &p.c));
  for (int64_t i = 0; i < n; i++) {
    if (dt == LR_DTYPE_I64) ((int64_t *)p.c->data)[i] = v[i];
    else ((int32_t *)p.c->data)[i] = (int32_t)v[i];
  }
  OK(lr_empty_on(dt, CU, ndim, shape, &p.g));
  OK(lr_tensor_copy_(p.g, p.c));
  return p;
}

static int64_t *rand_index(int64_t n, int64_t bound, uint64_t seed) {
  int64_t *v = malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
  uint64_t s = seed;
  for (int64_t i = 0; i < n; i++) v[i] = (int64_t)(pt_splitmix(&s) % (uint64_t)bound);
  return v;
}

/* A contiguous host copy of any tensor (malloc'ed). */
static void *host_copy(const lr_tensor *t) {
  size_t b = lr_nbytes(t);
  void *h = malloc(b ? b : 1);
  cr_assert_not_null(h);
  OK(lr_tensor_copy_to_host(t, h, b));
  return h;
}

static double comp(lr_dtype dt, const void *p, int64_t i) {
  return pt_single(dt) ? (double)((const float *)p)[i] : ((const double *)p)[i];
}

/* gpu == cpu bitwise (scale < 0), or per component |g - c| <= eps * (scale + |c|). */
static void expect_match(const lr_tensor *g, const lr_tensor *c, double scale, const char *what, lr_dtype dt,
                         const int64_t *sz) {
  cr_assert(lr_same_shape(g, c), "%s: shapes differ", what);
  cr_assert_eq(g->device, CU, "%s: the GPU result is on %s", what, lr_device_name(g->device));
  size_t b = lr_nbytes(c);
  void *hg = host_copy(g), *hc = host_copy(c);
  if (scale < 0) {
    if (memcmp(hg, hc, b) != 0) {
      size_t i = 0;
      while (((unsigned char *)hg)[i] == ((unsigned char *)hc)[i]) i++;
      size_t es = lr_dtype_size(c->dtype);
      cr_assert_fail("%s %s (%lld, %lld): element %zu differs (byte %zu); gpu %.17g, cpu %.17g", what,
                     lr_dtype_name(dt), (long long)sz[0], (long long)sz[1], i / es, i,
                     lr_dtype_is_float(c->dtype) ? comp(c->dtype, hg, (int64_t)(i / es * (lr_dtype_is_complex(c->dtype) ? 2 : 1))) : 0.0,
                     lr_dtype_is_float(c->dtype) ? comp(c->dtype, hc, (int64_t)(i / es * (lr_dtype_is_complex(c->dtype) ? 2 : 1))) : 0.0);
    }
  } else {
    double eps = pt_single(c->dtype) ? FLT_EPSILON : DBL_EPSILON;
    int64_t m = lr_numel(c) * (lr_dtype_is_complex(c->dtype) ? 2 : 1);
    for (int64_t i = 0; i < m; i++) {
      double a = comp(c->dtype, hg, i), e = comp(c->dtype, hc, i);
      if (!(fabs(a - e) <= eps * (scale + fabs(e))))
        cr_assert_fail("%s %s (%lld, %lld): component %lld: gpu %.17g, cpu %.17g, tolerance %.3g", what,
                       lr_dtype_name(dt), (long long)sz[0], (long long)sz[1], (long long)i, a, e,
                       eps * (scale + fabs(e)));
    }
  }
  free(hg);
  free(hc);
}

/* ---- strided copies and fills ---- */

/* Copies the view made by `view` of a random (R, C) tensor: CPU strided copy vs the same view on
 * the GPU copied device->device (contiguous_raw), device->host and host->device into a strided
 * destination. */
typedef lr_status (*view_fn)(lr_tensor *x, lr_tensor **v);
static lr_status v_transpose(lr_tensor *x, lr_tensor **v) { return lr_tensor_transpose(x, 0, 1, v); }
static lr_status v_window(lr_tensor *x, lr_tensor **v) { /* rows 1.., columns 2.. (or all when too small) */
  lr_tensor *a;
  LR_TRY(lr_tensor_narrow(x, 0, x->shape[0] > 1 ? 1 : 0, x->shape[0] > 1 ? x->shape[0] - 1 : 1, &a));
  return lr_tensor_narrow(a, 1, x->shape[1] > 2 ? 2 : 0, x->shape[1] > 2 ? x->shape[1] - 2 : x->shape[1], v);
}
static lr_status v_reversed(lr_tensor *x, lr_tensor **v) { /* columns backwards, rows stepped by 2 */
  LR_TRY(lr_tensor_view(x, x->ndim, x->shape, v));
  lr_tensor *t = *v;
  size_t es = lr_dtype_size(x->dtype);
  t->data = (unsigned char *)x->data + (x->shape[1] - 1) * x->strides[1] * (int64_t)es;
  t->strides[1] = -x->strides[1];
  t->shape[0] = (x->shape[0] + 1) / 2;
  t->strides[0] = 2 * x->strides[0];
  return LR_OK;
}
static lr_status v_broadcast(lr_tensor *x, lr_tensor **v) { /* row 0 repeated */
  lr_tensor *a;
  LR_TRY(lr_tensor_narrow(x, 0, 0, 1, &a));
  return lr_tensor_expand(a, LR_SHAPE(x->shape[0], x->shape[1]), v);
}
static lr_status v_perm3(lr_tensor *x, lr_tensor **v) { /* (R, Ce) as (R, Ce/2, 2) permuted to (2, R, Ce/2) */
  int64_t C = x->shape[1], Ce = C >= 2 ? C - C % 2 : C, k = Ce % 2 == 0 ? 2 : 1;
  lr_tensor *a, *b;
  LR_TRY(lr_tensor_narrow(x, 1, 0, Ce, &a));
  LR_TRY(lr_tensor_view(a, LR_SHAPE(x->shape[0], Ce / k, k), &b));
  return lr_tensor_permute(b, (const int[]){2, 0, 1}, v);
}

static const view_fn k_views[] = {v_transpose, v_window, v_reversed, v_broadcast, v_perm3};
static const char *k_view_names[] = {"transpose", "window", "reversed", "broadcast", "perm3"};

Test(cuda_shape, strided_copies_every_dtype, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < sizeof k_all / sizeof *k_all; di++) {
    for (int si = 0; si < NSIZES; si++) {
      const int64_t *sz = k_sizes[si];
      lr_dtype dt = k_all[di];
      for (size_t vi = 0; vi < sizeof k_views / sizeof *k_views; vi++) {
        lr_arena_mark m = lr_arena_get_mark(ar);
        pair x = make_pair(dt, 2, sz, false, 100 + si, false);
        lr_tensor *vc, *vg, *cc, *cg;
        OK(k_views[vi](x.c, &vc));
        OK(k_views[vi](x.g, &vg));
        if (si > 0) cr_assert(!lr_is_contiguous(vg), "the %s view is strided", k_view_names[vi]);
        OK(lr_tensor_contiguous_raw(vc, &cc));
        OK(lr_tensor_contiguous_raw(vg, &cg)); /* device -> device */
        expect_match(cg, cc, -1, k_view_names[vi], dt, sz);
        /* device strided -> host contiguous */
        void *hv = host_copy(vg);
        cr_assert_eq(memcmp(hv, cc->data, lr_nbytes(cc)), 0, "d2h %s %s", k_view_names[vi], lr_dtype_name(dt));
        free(hv);
        if (vc->ndim == 2) {
          /* device strided -> host strided: into a transposed host buffer */
          lr_tensor *hb, *ht, *htc;
          OK(lr_zeros(dt, LR_SHAPE(vc->shape[1], vc->shape[0]), &hb));
          OK(lr_tensor_transpose(hb, 0, 1, &ht));
          OK(lr_tensor_copy_(ht, vg));
          OK(lr_tensor_contiguous_raw(ht, &htc));
          cr_assert_eq(memcmp(htc->data, cc->data, lr_nbytes(cc)), 0, "d2h strided %s %s", k_view_names[vi],
                       lr_dtype_name(dt));
          /* host strided -> device strided: the view written into a transposed device tensor */
          lr_tensor *db, *dv;
          OK(lr_zeros_on(dt, CU, LR_SHAPE(vc->shape[1], vc->shape[0]), &db));
          OK(lr_tensor_transpose(db, 0, 1, &dv));
          OK(lr_tensor_copy_(dv, vc));
          expect_match(dv, cc, -1, "h2d strided", dt, sz);
        }
        lr_arena_rewind(ar, m);
      }
    }
  }
}

Test(cuda_shape, fills_every_dtype, .init = pt_on_gpu) {
  static const double vals[] = {2.5, -3.0, 0.0, 1e10};
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < sizeof k_all / sizeof *k_all; di++) {
    for (int si = 0; si < NSIZES; si++) {
      const int64_t *sz = k_sizes[si];
      lr_dtype dt = k_all[di];
      lr_arena_mark m = lr_arena_get_mark(ar);
      double v = vals[(di + (size_t)si) % 4];
      pair x = make_pair(dt, 2, sz, false, 7, false);
      /* contiguous */
      OK(lr_tensor_fill_(x.c, v));
      OK(lr_tensor_fill_(x.g, v));
      expect_match(x.g, x.c, -1, "fill", dt, sz);
      /* a strided window (every other column from 1): the rest must stay untouched */
      pair y = make_pair(dt, 2, sz, false, 8, false);
      lr_tensor *wc, *wg;
      int64_t C = sz[1];
      OK(lr_tensor_narrow(y.c, 1, C > 1 ? 1 : 0, C > 1 ? C - 1 : 1, &wc));
      OK(lr_tensor_narrow(y.g, 1, C > 1 ? 1 : 0, C > 1 ? C - 1 : 1, &wg));
      wc->shape[1] = wg->shape[1] = (wc->shape[1] + 1) / 2;
      wc->strides[1] = wg->strides[1] = 2;
      OK(lr_tensor_fill_(wc, -v));
      OK(lr_tensor_fill_(wg, -v));
      expect_match(y.g, y.c, -1, "strided fill", dt, sz);
      lr_arena_rewind(ar, m);
    }
  }
}

/* ---- op parity ---- */

typedef struct {
  bool gpu;
  pair idx[2];
  int64_t a, b;
  int dim;
} opctx;
typedef lr_status (*op_fn)(opctx *c, lr_tensor *const *in, lr_tensor **out);

static lr_tensor *pick(const pair *p, bool gpu) { return gpu ? p->g : p->c; }

/* Runs f on the CPU leaves and their GPU twins; checks the output, then the gradients of
 * sum(w * y). fwd_scale / bwd_scale: < 0 bitwise, else the tolerance scale of expect_match. */
static void check_op(const char *name, op_fn f, opctx *ctx, int nin, pair *xs, lr_dtype dt, const int64_t *sz,
                     double fwd_scale, double bwd_scale, bool integer) {
  lr_tensor *inc[8], *ing[8], *yc, *yg;
  for (int i = 0; i < nin; i++) {
    inc[i] = xs[i].c;
    ing[i] = xs[i].g;
  }
  ctx->gpu = false;
  OK(f(ctx, inc, &yc));
  ctx->gpu = true;
  OK(f(ctx, ing, &yg));
  char what[96];
  snprintf(what, sizeof what, "%s forward", name);
  expect_match(yg, yc, fwd_scale, what, dt, sz);
  if (!lr_dtype_is_float(dt) || lr_numel(yc) == 0) return;
  pair w = make_pair(dt, yc->ndim, yc->shape, false, 99, integer);
  w.c->requires_grad = w.g->requires_grad = false;
  OK(lr_backward(yc, w.c));
  OK(lr_backward(yg, w.g));
  for (int i = 0; i < nin; i++) {
    if (!xs[i].c->requires_grad) continue;
    snprintf(what, sizeof what, "%s backward, input %d", name, i);
    cr_assert_not_null(xs[i].c->grad, "%s: no CPU gradient", what);
    cr_assert_not_null(xs[i].g->grad, "%s: no GPU gradient", what);
    expect_match(xs[i].g->grad, xs[i].c->grad, bwd_scale, what, dt, sz);
  }
}

/* cat of (R, C), strided (R, C + 1), (R, 1) along -1; and of two along 0 */
static lr_status f_cat(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  lr_tensor *y;
  LR_TRY(lr_cat(3, in, -1, &y));
  lr_tensor *two[2] = {y, y};
  (void)c;
  return lr_cat(2, two, 0, out);
}
static lr_status f_stack(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  (void)c;
  return lr_stack(2, in, 1, out);
}
/* chunk rows into 3, cat pieces 2 and 0; split columns, keep the last */
static lr_status f_split(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  (void)c;
  lr_tensor *p[3], *q[2], *y;
  int n;
  LR_TRY(lr_chunk(in[0], 3, 0, p, &n));
  lr_tensor *two[2] = {p[n - 1], p[0]};
  LR_TRY(lr_cat(2, two, 0, &y));
  int64_t C = y->shape[1];
  LR_TRY(lr_split(y, 2, (const int64_t[]){C / 2, C - C / 2}, 1, q));
  *out = q[1];
  return LR_OK;
}
static lr_status f_index_select(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  lr_tensor *y;
  LR_TRY(lr_index_select(in[0], 0, pick(&c->idx[0], c->gpu), &y));
  return lr_index_select(y, -1, pick(&c->idx[1], c->gpu), out);
}
static lr_status f_gather(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  return lr_gather(in[0], c->dim, pick(&c->idx[0], c->gpu), out);
}
static lr_status f_embedding(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  return lr_embedding(in[0], pick(&c->idx[0], c->gpu), c->a, out);
}
static lr_status f_pad(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  bool crop = in[0]->shape[0] > 1 && in[0]->shape[1] > 1;
  (void)c;
  return lr_pad(in[0], 2, crop ? (const int64_t[]){1, 2, -1, 1} : (const int64_t[]){1, 2, 0, 1}, 0.5, out);
}
static lr_status f_flip(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  (void)c;
  return lr_flip(in[0], 2, (const int[]){0, -1}, out);
}
static lr_status f_roll(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  (void)c;
  lr_tensor *a;
  LR_TRY(lr_roll(in[0], -7, 1, &a));
  return lr_roll(a, 2, 0, out);
}
static lr_status f_cumsum(opctx *c, lr_tensor *const *in, lr_tensor **out) { return lr_cumsum(in[0], c->dim, out); }
/* narrow, slice with a step, permute, reshape (a copy), unsqueeze/squeeze, contiguous, and an
 * overlapping second use of the input (fan-out into one gradient) */
static lr_status f_views(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  (void)c;
  lr_tensor *x = in[0], *a, *b, *t, *r, *u, *s, *n2, *k, *y;
  int64_t R = x->shape[0], C = x->shape[1];
  LR_TRY(lr_slice(x, 1, R > 1 ? 1 : 0, INT64_MAX, 2, &a));
  LR_TRY(lr_narrow(a, 0, 0, R > 1 ? R - 1 : 1, &b));
  LR_TRY(lr_transpose(b, 0, 1, &t));
  LR_TRY(lr_reshape(t, LR_SHAPE(-1), &r)); /* transposed: a copy */
  LR_TRY(lr_unsqueeze(r, 0, &u));
  LR_TRY(lr_squeeze(u, 0, &s));
  LR_TRY(lr_narrow(x, 1, 0, C > 1 ? C - 1 : 1, &n2));
  LR_TRY(lr_contiguous(n2, &k));
  LR_TRY(lr_reshape(k, LR_SHAPE(-1), &y));
  lr_tensor *two[2] = {s, y};
  return lr_cat(2, two, 0, out);
}
static lr_status f_expand(opctx *c, lr_tensor *const *in, lr_tensor **out) {
  (void)c;
  lr_tensor *a, *e;
  LR_TRY(lr_narrow(in[0], 0, 0, 1, &a)); /* row 0 broadcast over R rows and a new leading dim */
  LR_TRY(lr_expand(a, LR_SHAPE(2, in[0]->shape[0], -1), &e));
  return lr_contiguous(e, out);
}

/* Runs one op over dtypes and sizes. nin inputs: input 0 is (R, C) strided when strided0, the
 * others as set up by the op's own block below. */
typedef enum { OP_CAT, OP_STACK, OP_SPLIT, OP_PAD, OP_FLIP, OP_ROLL, OP_VIEWS } simple_op;

static void run_simple(simple_op which, bool all_dtypes) {
  static const op_fn fns[] = {f_cat, f_stack, f_split, f_pad, f_flip, f_roll, f_views};
  static const char *names[] = {"cat", "stack", "split/chunk", "pad", "flip", "roll", "views"};
  const lr_dtype *dts = all_dtypes ? k_all : k_float;
  size_t ndt = all_dtypes ? sizeof k_all / sizeof *k_all : 4;
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < ndt; di++) {
    for (int si = 0; si < NSIZES; si++) {
      lr_arena_mark m = lr_arena_get_mark(ar);
      const int64_t *sz = k_sizes[si];
      lr_dtype dt = dts[di];
      opctx ctx = {0};
      pair xs[3];
      int nin = 1;
      xs[0] = make_pair(dt, 2, sz, true, 1 + si, false);
      if (which == OP_CAT) {
        xs[1] = make_pair(dt, 2, (const int64_t[]){sz[0], sz[1] + 1}, true, 2, false);
        xs[2] = make_pair(dt, 2, (const int64_t[]){sz[0], 1}, false, 3, false);
        nin = 3;
      } else if (which == OP_STACK) {
        xs[1] = make_pair(dt, 2, sz, false, 4, false);
        nin = 2;
      }
      check_op(names[which], fns[which], &ctx, nin, xs, dt, sz, -1, -1, false);
      lr_arena_rewind(ar, m);
    }
  }
}

Test(cuda_shape, cat, .init = pt_on_gpu) { run_simple(OP_CAT, true); }
Test(cuda_shape, stack, .init = pt_on_gpu) { run_simple(OP_STACK, true); }
Test(cuda_shape, split_chunk, .init = pt_on_gpu) { run_simple(OP_SPLIT, true); }
Test(cuda_shape, pad, .init = pt_on_gpu) { run_simple(OP_PAD, true); }
Test(cuda_shape, flip, .init = pt_on_gpu) { run_simple(OP_FLIP, true); }
Test(cuda_shape, roll, .init = pt_on_gpu) { run_simple(OP_ROLL, true); }
Test(cuda_shape, views, .init = pt_on_gpu) { run_simple(OP_VIEWS, true); }

/* expand's backward sums R * 2 terms per element: tolerance on real data, bitwise on integers */
Test(cuda_shape, expand, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (int integer = 0; integer < 2; integer++)
    for (size_t di = 0; di < 4; di++)
      for (int si = 0; si < NSIZES; si++) {
        lr_arena_mark m = lr_arena_get_mark(ar);
        const int64_t *sz = k_sizes[si];
        opctx ctx = {0};
        pair x = make_pair(k_float[di], 2, sz, true, 5, integer);
        check_op("expand", f_expand, &ctx, 1, &x, k_float[di], sz, -1, integer ? -1 : 2.0 * 2 * (double)sz[0],
                 integer);
        lr_arena_rewind(ar, m);
      }
}

Test(cuda_shape, index_select, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < sizeof k_all / sizeof *k_all; di++)
    for (int si = 0; si < NSIZES; si++) {
      lr_arena_mark m = lr_arena_get_mark(ar);
      const int64_t *sz = k_sizes[si];
      lr_dtype dt = k_all[di];
      opctx ctx = {0};
      /* rows: more picks than rows (repeats); columns: an I32 index */
      int64_t n0 = sz[0] + 5, n1 = sz[1] / 2 + 1;
      int64_t *v0 = rand_index(n0, sz[0], 11 + si), *v1 = rand_index(n1, sz[1], 12 + si);
      ctx.idx[0] = index_pair(LR_DTYPE_I64, LR_SHAPE(n0), v0);
      ctx.idx[1] = index_pair(LR_DTYPE_I32, LR_SHAPE(n1), v1);
      pair x = make_pair(dt, 2, sz, true, 13, false);
      check_op("index_select", f_index_select, &ctx, 1, &x, dt, sz, -1, -1, false);
      free(v0);
      free(v1);
      lr_arena_rewind(ar, m);
    }
}

Test(cuda_shape, gather, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < sizeof k_all / sizeof *k_all; di++)
    for (int si = 0; si < NSIZES; si++)
      for (int dim = 0; dim < 2; dim++) {
        lr_arena_mark m = lr_arena_get_mark(ar);
        const int64_t *sz = k_sizes[si];
        lr_dtype dt = k_all[di];
        opctx ctx = {.dim = dim};
        /* index (R', C') with C' = C + 3 along dim 1 (R' = R + 3 along dim 0), the other dim shorter */
        int64_t is[2] = {dim == 0 ? sz[0] + 3 : (sz[0] + 1) / 2, dim == 1 ? sz[1] + 3 : (sz[1] + 1) / 2};
        int64_t *v = rand_index(is[0] * is[1], sz[dim], 21 + si);
        ctx.idx[0] = index_pair(LR_DTYPE_I64, 2, is, v);
        pair x = make_pair(dt, 2, sz, true, 23, false);
        check_op("gather", f_gather, &ctx, 1, &x, dt, sz, -1, -1, false);
        free(v);
        lr_arena_rewind(ar, m);
      }
}

Test(cuda_shape, embedding, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < 4; di++)
    for (int si = 0; si < NSIZES; si++)
      for (int padded = 0; padded < 2; padded++) {
        lr_arena_mark m = lr_arena_get_mark(ar);
        const int64_t *sz = k_sizes[si]; /* weight (V, H) = (R, C) */
        lr_dtype dt = k_float[di];
        opctx ctx = {.a = padded && sz[0] > 1 ? 1 : -1};
        int64_t B = si == 2 ? 64 : 7, L = si == 2 ? 97 : 13;
        int64_t *v = rand_index(B * L, sz[0], 31 + si);
        ctx.idx[0] = index_pair(padded ? LR_DTYPE_I32 : LR_DTYPE_I64, LR_SHAPE(B, L), v);
        pair w = make_pair(dt, 2, sz, padded, 33, false);
        check_op("embedding", f_embedding, &ctx, 1, &w, dt, sz, -1, -1, false);
        if (ctx.a == 1) { /* the padding row got nothing */
          double re = 1, im = 1;
          lr_tensor_get_c(w.g->grad, sz[1], &re, &im);
          cr_assert(re == 0 && im == 0, "padding row gradient %g%+gi", re, im);
        }
        free(v);
        lr_arena_rewind(ar, m);
      }
}

/* cumsum along both dims of (R, C): one thread per column (bitwise) where the kernel takes that
 * path (lr_kcuda_cumsum_work_bytes is 0), else the chunked scan (1024 x 4099 has fewer than 8192
 * columns along either dim): tolerance on real data, bitwise on integer data. */
Test(cuda_shape, cumsum_columns, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (int integer = 0; integer < 2; integer++)
    for (size_t di = 0; di < 4; di++)
      for (int si = 0; si < NSIZES; si++)
        for (int dim = 0; dim < 2; dim++) {
          lr_arena_mark m = lr_arena_get_mark(ar);
          const int64_t *sz = k_sizes[si];
          lr_dtype dt = k_float[di];
          opctx ctx = {.dim = dim};
          int64_t n = sz[dim], cols = sz[1 - dim];
          bool chunked = lr_kcuda_cumsum_work_bytes(dt, dim == 0 ? 1 : cols, n, dim == 0 ? cols : 1) > 0;
          double scale = chunked && !integer ? 2.0 * (double)n : -1;
          pair x = make_pair(dt, 2, sz, true, 41, integer);
          check_op("cumsum", f_cumsum, &ctx, 1, &x, dt, sz, scale, scale, integer);
          lr_arena_rewind(ar, m);
        }
}

/* Few long columns: the chunked scan. Shapes (1, n), (3, n) along -1, (n, 3) along 0, the
 * shortest column that is chunked (129 = 2 chunks of 65 and 64); and 9001 columns of 200, just
 * over the one-thread-per-column threshold (bitwise). */
Test(cuda_shape, cumsum_chunked, .init = pt_on_gpu) {
  static const int64_t shapes[][3] = {{1, 4194301, -1}, {3, 100003, -1}, {5001, 3, 0}, {1, 129, -1}, {200, 9001, 0}};
  lr_arena *ar = lr_arena_current();
  for (int integer = 0; integer < 2; integer++)
    for (size_t di = 0; di < 4; di++)
      for (int k = 0; k < 5; k++) {
        lr_arena_mark m = lr_arena_get_mark(ar);
        lr_dtype dt = k_float[di];
        const int64_t *sh = shapes[k];
        opctx ctx = {.dim = (int)sh[2]};
        int64_t n = sh[2] == 0 ? sh[0] : sh[1], cols = sh[2] == 0 ? sh[1] : sh[0];
        bool chunked = lr_kcuda_cumsum_work_bytes(dt, sh[2] == 0 ? 1 : cols, n, sh[2] == 0 ? cols : 1) > 0;
        cr_assert_eq(chunked, k < 4, "shape %d takes the %s path", k, chunked ? "chunked" : "column");
        pair x = make_pair(dt, 2, sh, false, 43 + k, integer);
        double scale = integer || !chunked ? -1 : 2.0 * (double)n;
        check_op("cumsum chunked", f_cumsum, &ctx, 1, &x, dt, sh, scale, scale, integer);
        lr_arena_rewind(ar, m);
      }
}

/* ---- determinism ---- */

/* Bits of the gradient of sum(w * f(x)) on the GPU. */
static void *gpu_grad_bits(op_fn f, opctx *ctx, lr_dtype dt, const int64_t *sz, bool strided, size_t *bytes) {
  pair x = make_pair(dt, 2, sz, strided, 51, false);
  lr_tensor *y;
  ctx->gpu = true;
  OK(f(ctx, &x.g, &y));
  pair w = make_pair(dt, y->ndim, y->shape, false, 52, false);
  OK(lr_backward(y, w.g));
  *bytes = lr_nbytes(x.g->grad);
  return host_copy(x.g->grad);
}

static void expect_deterministic(const char *name, op_fn f, opctx *ctx, lr_dtype dt, const int64_t *sz) {
  lr_arena *ar = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(ar);
  size_t b1, b2;
  void *g1 = gpu_grad_bits(f, ctx, dt, sz, true, &b1);
  lr_arena_rewind(ar, m);
  void *g2 = gpu_grad_bits(f, ctx, dt, sz, true, &b2);
  cr_assert_eq(b1, b2);
  cr_assert_eq(memcmp(g1, g2, b1), 0, "%s %s: two runs differ", name, lr_dtype_name(dt));
  free(g1);
  free(g2);
}

Test(cuda_shape, deterministic_index_backward, .init = pt_on_gpu) {
  lr_arena *ar = lr_arena_current();
  for (size_t di = 0; di < 4; di++) {
    lr_dtype dt = k_float[di];
    lr_arena_mark m = lr_arena_get_mark(ar);
    /* embedding: 20000 ids over 7 rows of width 4099 (segments of ~3000 terms) */
    int64_t n = 20000, sz[2] = {7, 4099};
    int64_t *v = rand_index(n, 7, 61);
    opctx ctx = {.a = -1};
    ctx.idx[0] = index_pair(LR_DTYPE_I64, LR_SHAPE(n), v);
    expect_deterministic("embedding", f_embedding, &ctx, dt, sz);
    /* index_select along both dims with repeats */
    int64_t sz2[2] = {1024, 4099};
    int64_t *v0 = rand_index(3000, 1024, 62), *v1 = rand_index(5000, 4099, 63);
    ctx.idx[0] = index_pair(LR_DTYPE_I64, LR_SHAPE(3000), v0);
    ctx.idx[1] = index_pair(LR_DTYPE_I64, LR_SHAPE(5000), v1);
    expect_deterministic("index_select", f_index_select, &ctx, dt, sz2);
    /* gather along dim 0 with heavy repeats */
    int64_t *v2 = rand_index(4096 * 4099, 3, 64);
    ctx.idx[0] = index_pair(LR_DTYPE_I64, LR_SHAPE(4096, 4099), v2);
    ctx.dim = 0;
    int64_t sz3[2] = {3, 4099};
    expect_deterministic("gather", f_gather, &ctx, dt, sz3);
    /* chunked cumsum */
    ctx.dim = -1;
    int64_t sz4[2] = {2, 3000001};
    expect_deterministic("cumsum", f_cumsum, &ctx, dt, sz4);
    free(v);
    free(v0);
    free(v1);
    free(v2);
    lr_arena_rewind(ar, m);
  }
}

/* ---- device checks ---- */

Test(cuda_shape, index_on_another_device, .init = pt_on_gpu) {
  pair x = make_pair(LR_DTYPE_F32, LR_SHAPE(4, 3), false, 71, false);
  pair i = index_pair(LR_DTYPE_I64, LR_SHAPE(2), (const int64_t[]){0, 3});
  lr_tensor *y = NULL;
  cr_assert_eq(lr_index_select(x.g, 0, i.c, &y), LR_ERR_DEVICE);
  cr_assert_str_eq(lr_last_error(), "lr_index_select: index is on cpu, x is on cuda");
  cr_assert_eq(lr_index_select(x.c, 0, i.g, &y), LR_ERR_DEVICE);
  cr_assert_str_eq(lr_last_error(), "lr_index_select: index is on cuda, x is on cpu");
  pair ids = index_pair(LR_DTYPE_I64, LR_SHAPE(1, 2), (const int64_t[]){0, 3});
  cr_assert_eq(lr_gather(x.g, 0, ids.c, &y), LR_ERR_DEVICE);
  cr_assert_str_eq(lr_last_error(), "lr_gather: index is on cpu, x is on cuda");
  cr_assert_eq(lr_embedding(x.g, i.c, -1, &y), LR_ERR_DEVICE);
  cr_assert_str_eq(lr_last_error(), "lr_embedding: ids is on cpu, weight is on cuda");
  /* a device index is range-checked like a host one */
  pair bad = index_pair(LR_DTYPE_I32, LR_SHAPE(3), (const int64_t[]){0, 4, 1});
  cr_assert_eq(lr_index_select(x.g, 0, bad.g, &y), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_index_select: index 4 at position 1 is out of range for dim 0 of size 4");
  cr_assert_null(y);
}

#else
Test(cuda_shape, needs_cuda_build) {
  cr_assert_fail("built without the CUDA backend: build with ./bazelw (nvcc present) or --config=cuda");
}
#endif
