/* Finite-difference gradient check; see gradcheck.h. */
#include "autograd/gradcheck.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#define LR_GC_MAX_COVERED 512
static const lr_op_def *lr_covered[LR_GC_MAX_COVERED];
static int lr_n_covered;

static void mark_covered(const lr_op_def *op) {
  for (int i = 0; i < lr_n_covered; i++)
    if (lr_covered[i] == op) return;
  if (lr_n_covered < LR_GC_MAX_COVERED) lr_covered[lr_n_covered++] = op;
}

bool lr_gradcheck_covered(const lr_op_def *op) {
  for (int i = 0; i < lr_n_covered; i++)
    if (lr_covered[i] == op) return true;
  return false;
}

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

static double unif(uint64_t *s) { return (double)(splitmix(s) >> 11) * (1.0 / 9007199254740992.0); }

void lr_gc_fill_uniform(lr_tensor *t, double lo, double hi, uint64_t seed) {
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 1;
  int64_t n = lr_numel(t);
  for (int64_t i = 0; i < n; i++) {
    double re = lo + (hi - lo) * unif(&s);
    double im = lr_dtype_is_complex(t->dtype) ? lo + (hi - lo) * unif(&s) : 0.0;
    lr_tensor_set(t, i, re, im);
  }
}

/* L = sum(Re(conj(w) * y)) */
static double loss_of(const lr_tensor *y, const lr_tensor *w) {
  double L = 0;
  int64_t n = lr_numel(y);
  for (int64_t i = 0; i < n; i++) {
    double yr, yi, wr, wi;
    lr_tensor_get_c(y, i, &yr, &yi);
    lr_tensor_get_c(w, i, &wr, &wi);
    L += wr * yr + wi * yi;
  }
  return L;
}

/* "add, mul" : the distinct ops between tape_after (newest) and tape_before, oldest first. */
static void tape_ops(const lr_node *tape_after, const lr_node *tape_before, char *buf, size_t n) {
  const lr_op_def *ops[64];
  int k = 0;
  for (const lr_node *nd = tape_after; nd && nd != tape_before; nd = nd->prev) {
    bool seen = false;
    for (int i = 0; i < k; i++) seen = seen || ops[i] == nd->op;
    if (!seen && k < 64) ops[k++] = nd->op;
  }
  size_t len = 0;
  buf[0] = '\0';
  for (int i = k - 1; i >= 0 && len < n; i--)
    len += (size_t)snprintf(buf + len, n - len, "%s%s", i == k - 1 ? "" : ", ", ops[i]->name ? ops[i]->name : "?");
  if (k == 0) snprintf(buf, n, "none");
}

lr_status lr_gradcheck(const char *name, lr_gc_fn f, void *ctx, int n, lr_tensor *const *in, const lr_gc_opts *opts,
                       lr_gc_result *res) {
  if (!res) return lr_fail(LR_ERR_ARG, "lr_gradcheck: res is NULL");
  memset(res, 0, sizeof *res);
  if (!name) name = "?";
  if (!f || (n > 0 && !in) || n < 0) return lr_fail(LR_ERR_ARG, "lr_gradcheck(%s): bad arguments (f, n %d, in)", name, n);
  double eps = opts && opts->eps > 0 ? opts->eps : 1e-6;
  double atol = opts && opts->atol > 0 ? opts->atol : 1e-6;
  double rtol = opts && opts->rtol > 0 ? opts->rtol : 1e-5;
  uint64_t seed = opts ? opts->seed : 0;
  lr_arena *a = lr_arena_current();
  if (!a) return lr_fail(LR_ERR_MEMORY, "lr_gradcheck(%s): no arena", name);
  lr_arena_mark m = lr_arena_get_mark(a);
  bool prev_mode = lr_set_grad_enabled(true);
  lr_status s = LR_OK;
  lr_tensor *analytic[16] = {0};
  if (n > 16) { s = lr_fail(LR_ERR_ARG, "lr_gradcheck(%s): %d inputs, at most 16", name, n); goto done; }
  for (int i = 0; i < n; i++) {
    if (in[i] && in[i]->requires_grad && in[i]->node) {
      s = lr_fail(LR_ERR_ARG, "lr_gradcheck(%s): input %d is not a leaf", name, i);
      goto done;
    }
    if (in[i] && (in[i]->flags & LR_TF_HEAP)) lr_zero_grad(in[i]);
    else if (in[i]) in[i]->grad = NULL;
  }

  /* analytic */
  lr_tensor *y, *w;
  if ((s = f(ctx, in, &y)) != LR_OK) goto done;
  if (!lr_dtype_is_float(y->dtype) || !y->requires_grad) {
    s = lr_fail(LR_ERR_ARG, "lr_gradcheck(%s): the output is %s and %s", name, lr_dtype_name(y->dtype),
                y->requires_grad ? "requires grad" : "does not require grad");
    goto done;
  }
  void *tape_before = m.tape;
  void *tape_after = *lr_arena_tape_slot(a);
  if ((s = lr_empty(y->dtype, y->ndim, y->shape, &w)) != LR_OK) goto done;
  lr_gc_fill_uniform(w, -1.0, 1.0, seed + 17);
  if ((s = lr_backward(y, w)) != LR_OK) goto done;
  for (int i = 0; i < n; i++) {
    if (!in[i] || !in[i]->requires_grad) continue;
    if (!in[i]->grad) {
      if ((s = lr_zeros(in[i]->dtype, in[i]->ndim, in[i]->shape, &analytic[i])) != LR_OK) goto done;
    } else if ((s = lr_tensor_contiguous_raw(in[i]->grad, &analytic[i])) != LR_OK) {
      goto done;
    }
  }

  /* numeric */
  lr_set_grad_enabled(false);
  char ops[256];
  tape_ops(tape_after, tape_before, ops, sizeof ops);
  res->passed = true;
  for (int i = 0; i < n && s == LR_OK; i++) {
    if (!analytic[i]) continue;
    lr_tensor *x = in[i];
    int parts = lr_dtype_is_complex(x->dtype) ? 2 : 1;
    int64_t ne = lr_numel(x);
    for (int64_t e = 0; e < ne; e++) {
      for (int p = 0; p < parts; p++) {
        double re, im;
        lr_tensor_get_c(x, e, &re, &im);
        double Ls[2];
        for (int sgn = 0; sgn < 2; sgn++) {
          double d = sgn ? -eps : eps;
          lr_tensor_set(x, e, p ? re : re + d, p ? im + d : im);
          lr_arena_mark m2 = lr_arena_get_mark(a);
          lr_tensor *yp;
          s = f(ctx, in, &yp);
          if (s == LR_OK) Ls[sgn] = loss_of(yp, w);
          lr_arena_rewind(a, m2);
          if (s != LR_OK) break;
        }
        lr_tensor_set(x, e, re, im);
        if (s != LR_OK) goto done;
        double num = (Ls[0] - Ls[1]) / (2 * eps);
        double ar, ai;
        lr_tensor_get_c(analytic[i], e, &ar, &ai);
        double an = p ? ai : ar;
        double err = fabs(an - num);
        if (!(err <= atol + rtol * fabs(num))) {  /* also catches NaN */
          if (res->passed || err > res->max_abs_err || isnan(err))
            snprintf(res->msg, sizeof res->msg,
                     "gradcheck(%s) [ops: %s]: input %d element %lld (%s): analytic %.10g, numeric %.10g, |diff| %.3g > %.3g",
                     name, ops, i, (long long)e, p ? "imag" : "real", an, num, err, atol + rtol * fabs(num));
          res->passed = false;
        }
        if (err > res->max_abs_err || isnan(err)) res->max_abs_err = err;
        res->n_checked++;
      }
    }
  }
  if (res->passed) {
    /* Only nodes the backward reached (marked freed) had their backward checked. */
    for (lr_node *nd = tape_after; nd && nd != tape_before; nd = nd->prev)
      if (nd->freed) mark_covered(nd->op);
    snprintf(res->msg, sizeof res->msg, "gradcheck(%s): %lld derivatives, max |diff| %.3g", name,
             (long long)res->n_checked, res->max_abs_err);
  }
done:
  lr_set_grad_enabled(prev_mode);
  lr_arena_rewind(a, m);
  for (int i = 0; i < n; i++)
    if (in[i] && !(in[i]->flags & LR_TF_HEAP)) in[i]->grad = NULL;
  return s;
}
