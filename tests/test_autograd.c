/* autograd/: grad mode, recording, backward (accumulation, supplied gradients, errors, freed
 * graphs, fan-out, detach), leaf gradients on the heap and in the arena, the complex gradient
 * convention, lr_grad_acc, and the gradcheck itself, which must be able to FAIL: test-local ops
 * with deliberately wrong backwards are recorded with lr_record and must be caught.
 *
 * Only lr_add is used from ops/ (the other families are written in parallel); everything else is
 * a test-local op. Gradients of sums of small integers are exact, so they are compared with ==. */
#include <criterion/criterion.h>
#include <string.h>

#include "autograd/gradcheck.h"
#include "ops/elementwise.h"
#include "ops/op_util.h"
#include "ops/registry.h"

#define OK(expr) cr_assert_eq((expr), LR_OK, "%s: %s", #expr, lr_last_error())
#define ERR_IS(s) cr_assert_str_eq(lr_last_error(), (s))
#define HAS(str, sub) cr_assert(strstr((str), (sub)) != NULL, "\"%s\" lacks \"%s\"", (str), (sub))

static lr_tensor *leaf(lr_dtype dt, int ndim, const int64_t *shape, const double *vals) {
  lr_tensor *t;
  if (lr_empty(dt, ndim, shape, &t) != LR_OK) return NULL;
  for (int64_t i = 0; i < lr_numel(t); i++) lr_tensor_set(t, i, vals ? vals[i] : (double)i, 0);
  t->requires_grad = true;
  return t;
}

static lr_tensor *full(lr_dtype dt, int ndim, const int64_t *shape, double v) {
  lr_tensor *t;
  return lr_full(dt, ndim, shape, v, &t) == LR_OK ? t : NULL;
}

static void expect_grad(const lr_tensor *t, const double *want, const char *what) {
  cr_assert_not_null(t->grad, "%s has no grad", what);
  cr_assert(lr_same_shape(t->grad, t), "%s: grad shape", what);
  for (int64_t i = 0; i < lr_numel(t); i++)
    cr_assert_eq(lr_tensor_get(t->grad, i), want[i], "%s: grad[%lld] = %g, want %g", what, (long long)i,
                 lr_tensor_get(t->grad, i), want[i]);
}

/* ---- test-local ops: y = f(x) elementwise, with a chosen backward ---- */
typedef void (*elem_fn)(double xr, double xi, double *yr, double *yi);

/* y[i] = fn(x[i]); records op with x saved. */
static lr_status unary(const lr_op_def *op, elem_fn fn, lr_tensor *x, lr_tensor **out) {
  lr_tensor *y;
  LR_TRY(lr_empty(x->dtype, x->ndim, x->shape, &y));
  for (int64_t i = 0; i < lr_numel(x); i++) {
    double xr, xi, yr, yi;
    lr_tensor_get_c(x, i, &xr, &xi);
    fn(xr, xi, &yr, &yi);
    lr_tensor_set(y, i, yr, yi);
  }
  lr_node *nd;
  LR_TRY(lr_record(op, 1, &x, 1, &y, &nd));
  if (nd) nd->saved[0] = x;
  *out = y;
  return LR_OK;
}

/* dx += map(g, x) elementwise; map gets the element index too. */
typedef void (*grad_fn)(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di);
static lr_status unary_backward(lr_node *n, grad_fn fn) {
  const lr_tensor *g = n->out[0]->grad, *x = n->saved[0];
  lr_tensor *d;
  LR_TRY(lr_empty(g->dtype, g->ndim, g->shape, &d));
  for (int64_t i = 0; i < lr_numel(g); i++) {
    double gr, gi, xr, xi, dr, di;
    lr_tensor_get_c(g, i, &gr, &gi);
    lr_tensor_get_c(x, i, &xr, &xi);
    fn(i, gr, gi, xr, xi, &dr, &di);
    lr_tensor_set(d, i, dr, di);
  }
  return lr_grad_acc(n->in[0], d);
}

static void f_copy(double xr, double xi, double *yr, double *yi) { *yr = xr, *yi = xi; }
static void f_sq(double xr, double xi, double *yr, double *yi) { (void)xi, *yr = xr * xr, *yi = 0; }
static void f_mul_i(double xr, double xi, double *yr, double *yi) { *yr = -xi, *yi = xr; } /* i*z */

static void b_copy(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di) {
  (void)i, (void)xr, (void)xi, *dr = gr, *di = gi;
}
static void b_double(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di) {
  (void)i, (void)xr, (void)xi, *dr = 2 * gr, *di = 2 * gi; /* WRONG: 2g instead of g */
}
static void b_wrong_at_2(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di) {
  (void)xr, (void)xi, *dr = i == 2 ? 2 * gr : gr, *di = gi; /* WRONG at element 2 only */
}
static void b_sq(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di) {
  (void)i, (void)gi, (void)xi, *dr = 2 * xr * gr, *di = 0;
}
/* holomorphic f(z) = i z: dz += g * conj(f'(z)) = g * (-i) */
static void b_mul_i(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di) {
  (void)i, (void)xr, (void)xi, *dr = gi, *di = -gr;
}
/* WRONG convention: g * f'(z) = g * i */
static void b_mul_i_noconj(int64_t i, double gr, double gi, double xr, double xi, double *dr, double *di) {
  (void)i, (void)xr, (void)xi, *dr = -gi, *di = gr;
}

static lr_status bw_copy(lr_node *n) { return unary_backward(n, b_copy); }
static lr_status bw_double(lr_node *n) { return unary_backward(n, b_double); }
static lr_status bw_wrong_at_2(lr_node *n) { return unary_backward(n, b_wrong_at_2); }
static lr_status bw_sq(lr_node *n) { return unary_backward(n, b_sq); }
static lr_status bw_mul_i(lr_node *n) { return unary_backward(n, b_mul_i); }
static lr_status bw_mul_i_noconj(lr_node *n) { return unary_backward(n, b_mul_i_noconj); }
static lr_status bw_fails(lr_node *n) {
  (void)n;
  cr_assert_not(lr_grad_enabled(), "backward functions run with grad mode off");
  return lr_fail(LR_ERR_UNSUPPORTED, "bw_fails: on purpose");
}

static const lr_op_def op_copy = {"t_copy", LR_DT_FLOAT, LR_ON_CPU, LR_ON_CPU, bw_copy};
static const lr_op_def op_double = {"t_wrong_double", LR_DT_FLOAT, LR_ON_CPU, LR_ON_CPU, bw_double};
static const lr_op_def op_wrong_at_2 = {"t_wrong_at_2", LR_DT_FLOAT, LR_ON_CPU, LR_ON_CPU, bw_wrong_at_2};
static const lr_op_def op_sq = {"t_sq", LR_DT_REAL, LR_ON_CPU, LR_ON_CPU, bw_sq};
static const lr_op_def op_mul_i = {"t_mul_i", LR_DT_COMPLEX, LR_ON_CPU, LR_ON_CPU, bw_mul_i};
static const lr_op_def op_mul_i_noconj = {"t_mul_i_noconj", LR_DT_COMPLEX, LR_ON_CPU, LR_ON_CPU, bw_mul_i_noconj};
static const lr_op_def op_fails = {"t_fails", LR_DT_FLOAT, LR_ON_CPU, LR_ON_CPU, bw_fails};
static const lr_op_def op_nograd = {"t_nograd", LR_DT_FLOAT, LR_ON_CPU, LR_ON_CPU, NULL};

static lr_status t_copy(lr_tensor *x, lr_tensor **y) { return unary(&op_copy, f_copy, x, y); }
static lr_status t_sq(lr_tensor *x, lr_tensor **y) { return unary(&op_sq, f_sq, x, y); }

/* ---- grad mode and recording ---- */
Test(autograd, grad_mode) {
  cr_assert(lr_grad_enabled(), "on by default");
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL), *c = full(LR_DTYPE_F64, LR_SHAPE(3), 1), *y;
  int n0 = lr_tape_size();
  cr_assert(lr_set_grad_enabled(false));
  cr_assert_not(lr_grad_enabled());
  OK(lr_add(x, c, &y));
  cr_assert(!y->requires_grad && !y->node, "grad mode off: nothing recorded");
  cr_assert_eq(lr_tape_size(), n0);
  cr_assert_not(lr_needs_grad(1, &x));
  cr_assert_not(lr_set_grad_enabled(true), "returns the previous mode");
  OK(lr_add(c, c, &y));
  cr_assert(!y->requires_grad && !y->node, "no input requires grad: nothing recorded");
  cr_assert_eq(lr_tape_size(), n0);
  OK(lr_add(x, c, &y));
  cr_assert(y->requires_grad && y->node && y->node->op == lr_ops_elementwise[0]);
  cr_assert_eq(y->out_index, 0);
  cr_assert_eq(lr_tape_size(), n0 + 1);
  cr_assert(y->node->n_in == 2 && y->node->in[0] == x && y->node->in[1] == c && y->node->out[0] == y);
  cr_assert(lr_needs_grad(2, (lr_tensor *[]){c, x}));
  cr_assert_not(lr_needs_grad(2, (lr_tensor *[]){c, NULL}));
}

Test(autograd, tape_rewinds_with_arena) {
  lr_arena *a = lr_arena_current();
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(2), NULL), *y;
  int n0 = lr_tape_size();
  lr_arena_mark m = lr_arena_get_mark(a);
  OK(lr_add(x, x, &y));
  OK(lr_add(y, x, &y));
  OK(t_copy(y, &y));
  cr_assert_eq(lr_tape_size(), n0 + 3);
  lr_arena_rewind(a, m);
  cr_assert_eq(lr_tape_size(), n0);
}

Test(autograd, record_rules) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(2), NULL), *y, *idx;
  lr_node *nd = (lr_node *)0x1;
  /* an op without a backward: outputs do not require grad, nothing is recorded */
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(2), &y));
  OK(lr_record(&op_nograd, 1, &x, 1, &y, &nd));
  cr_assert_null(nd);
  cr_assert(!y->requires_grad && !y->node);
  /* integer outputs of a differentiable op carry no gradient */
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(2), &y));
  OK(lr_empty(LR_DTYPE_I64, LR_SHAPE(2), &idx));
  OK(lr_record(&op_copy, 1, &x, 2, (lr_tensor *[]){y, idx}, &nd));
  cr_assert_not_null(nd);
  cr_assert(y->requires_grad && y->node == nd && !idx->requires_grad && !idx->node);
  /* an output that already belongs to a graph is a bug in the op */
  lr_node *nd2 = (lr_node *)0x1;
  cr_assert_eq(lr_record(&op_copy, 1, &x, 1, &y, &nd2), LR_ERR_INTERNAL);
  HAS(lr_last_error(), "lr_record(t_copy): output 0 is already part of a graph");
  cr_assert_eq(lr_record(&op_copy, 1, &x, 1, &x, &nd2), LR_ERR_INTERNAL, "input passed through as output");
  cr_assert_null(nd2);
  cr_assert_eq(x->node, NULL, "the leaf stays a leaf");
  cr_assert_eq(lr_record(&op_copy, 1, &x, 1, &y, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_record(NULL, 1, &x, 1, &y, &nd2), LR_ERR_ARG);
}

/* ---- backward ---- */
Test(autograd, scalar_backward_and_fan_out) {
  lr_tensor *x = leaf(LR_DTYPE_F64, 0, NULL, (double[]){3}), *y;
  OK(lr_add(x, x, &y)); /* y = x + x: both paths accumulate into x->grad */
  OK(lr_backward(y, NULL));
  expect_grad(x, (double[]){2}, "x");
  cr_assert_null(y->grad, "non-leaf grads are dropped after backward");
  /* a leaf root: its own grad gets 1 */
  lr_tensor *s = leaf(LR_DTYPE_F32, LR_SHAPE(1, 1), (double[]){5});
  OK(lr_backward(s, NULL));
  expect_grad(s, (double[]){1}, "s");
  OK(lr_backward(s, NULL));
  expect_grad(s, (double[]){2}, "s twice");
}

Test(autograd, fan_out_deeper) {
  /* y = (x + x) + x, z = copy(y) + y: dz/dx = 2 * 3 = 6 */
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL), *a, *y, *c, *z;
  OK(lr_add(x, x, &a));
  OK(lr_add(a, x, &y));
  OK(t_copy(y, &c));
  OK(lr_add(c, y, &z));
  OK(lr_backward(z, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
  expect_grad(x, (double[]){6, 6, 6}, "x");
}

Test(autograd, supplied_gradient) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(2, 3), NULL), *b = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL), *y;
  OK(lr_add(x, b, &y)); /* b is broadcast over the rows */
  lr_tensor *w;
  OK(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}, &w));
  OK(lr_backward(y, w));
  expect_grad(x, (double[]){1, 2, 3, 4, 5, 6}, "x");
  expect_grad(b, (double[]){5, 7, 9}, "b sums over the broadcast dim");
  /* a strided grad_root is read in logical order */
  lr_tensor *x2 = leaf(LR_DTYPE_F64, LR_SHAPE(3, 2), NULL), *y2, *wt, *wb;
  OK(t_copy(x2, &y2));
  OK(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}, &wb));
  OK(lr_tensor_transpose(wb, 0, 1, &wt));
  OK(lr_backward(y2, wt));
  expect_grad(x2, (double[]){1, 4, 2, 5, 3, 6}, "x2");
}

Test(autograd, backward_errors) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL), *y;
  OK(lr_add(x, x, &y));
  cr_assert_eq(lr_backward(y, NULL), LR_ERR_SHAPE);
  ERR_IS("lr_backward: root has shape (3,); pass grad_root for a root that is not a scalar");
  cr_assert_eq(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(4), 1)), LR_ERR_SHAPE);
  ERR_IS("lr_backward: grad_root is f64 (4,), root is f64 (3,)");
  cr_assert_eq(lr_backward(y, full(LR_DTYPE_F32, LR_SHAPE(3), 1)), LR_ERR_DTYPE);
  ERR_IS("lr_backward: grad_root is f32 (3,), root is f64 (3,)");
  cr_assert_null(x->grad, "failed calls leave no gradient");
  lr_tensor *c = full(LR_DTYPE_F64, LR_SHAPE(1), 1);
  cr_assert_eq(lr_backward(c, NULL), LR_ERR_STATE);
  ERR_IS("lr_backward: the root does not require grad (no input requires grad, or grad mode was off)");
  cr_assert_eq(lr_backward(NULL, NULL), LR_ERR_ARG);
  /* the graph is still usable after the failures */
  OK(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
  expect_grad(x, (double[]){2, 2, 2}, "x");
}

Test(autograd, backward_function_failure) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(1), NULL), *y;
  OK(unary(&op_fails, f_copy, x, &y));
  cr_assert_eq(lr_backward(y, NULL), LR_ERR_UNSUPPORTED);
  ERR_IS("bw_fails: on purpose");
  cr_assert(lr_grad_enabled(), "grad mode restored after a failing backward");
}

Test(autograd, backward_twice_is_an_error) {
  lr_tensor *x = leaf(LR_DTYPE_F64, 0, NULL, (double[]){1}), *y, *z1, *z2;
  OK(lr_add(x, x, &y));
  OK(lr_backward(y, NULL));
  cr_assert(y->node->freed);
  cr_assert_eq(lr_backward(y, NULL), LR_ERR_STATE);
  ERR_IS("lr_backward: the graph of this root was already freed by an earlier backward");
  expect_grad(x, (double[]){2}, "x unchanged by the refused backward");
  /* a new root whose gradient flows into the freed part must not silently drop it */
  OK(lr_add(x, x, &y));
  OK(lr_add(y, x, &z1));
  OK(lr_add(y, x, &z2));
  OK(lr_backward(z1, NULL));
  cr_assert_eq(lr_backward(z2, NULL), LR_ERR_STATE);
  ERR_IS("lr_backward: the gradient reaches op 'add', whose graph an earlier backward already freed");
  cr_assert_null(y->grad, "no stale gradient left on the freed node's output");
}

Test(autograd, leaf_grads_accumulate_until_zero_grad) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL), *c = full(LR_DTYPE_F64, LR_SHAPE(3), 10), *y;
  lr_tensor *ones = full(LR_DTYPE_F64, LR_SHAPE(3), 1), *w;
  OK(lr_from_host(LR_DTYPE_F64, LR_SHAPE(3), (double[]){1, 2, 3}, &w));
  OK(lr_add(x, c, &y)); /* graph 1 */
  OK(lr_backward(y, ones));
  expect_grad(x, (double[]){1, 1, 1}, "after graph 1");
  lr_tensor *g1 = x->grad;
  OK(lr_add(x, x, &y)); /* graph 2 */
  OK(lr_backward(y, w));
  expect_grad(x, (double[]){3, 5, 7}, "after graph 2");
  cr_assert_eq(x->grad, g1, "the same buffer accumulates");
  cr_assert_null(c->grad, "c does not require grad");
  OK(lr_zero_grad(x));
  expect_grad(x, (double[]){0, 0, 0}, "after zero_grad");
  OK(lr_add(x, c, &y)); /* graph 3 */
  OK(lr_backward(y, w));
  expect_grad(x, (double[]){1, 2, 3}, "after graph 3");
  OK(lr_zero_grad(c)); /* no grad: nothing to do */
  cr_assert_eq(lr_zero_grad(NULL), LR_ERR_ARG);
}

Test(autograd, heap_leaf_grad_survives_rewind) {
  lr_tensor *p;
  OK(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_SHAPE(3), &p));
  OK(lr_requires_grad_(p, true));
  lr_arena *a = lr_arena_current();
  for (int step = 1; step <= 3; step++) {
    lr_arena_mark m = lr_arena_get_mark(a);
    lr_tensor *y;
    OK(lr_add(p, p, &y));
    OK(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
    cr_assert(p->grad->flags & LR_TF_HEAP, "a heap leaf gets a heap grad");
    lr_arena_rewind(a, m);
    /* overwrite the rewound memory: the heap grad must not live there */
    lr_tensor *junk;
    OK(lr_full(LR_DTYPE_F64, LR_SHAPE(64), -99, &junk));
    double want = 2.0 * step;
    expect_grad(p, (double[]){want, want, want}, "p");
    lr_arena_rewind(a, m);
  }
  lr_tensor_free(p); /* frees the grad too (LeakSanitizer) */
}

Test(autograd, arena_leaf_grad_dropped_on_rewind) {
  lr_arena *a = lr_arena_current();
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL); /* before the mark: lives on */
  for (int step = 0; step < 3; step++) {
    lr_arena_mark m = lr_arena_get_mark(a);
    lr_tensor *y;
    OK(lr_add(x, x, &y));
    OK(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
    expect_grad(x, (double[]){2, 2, 2}, "x");
    lr_arena_rewind(a, m);
    cr_assert_null(x->grad, "the grad went with the arena memory it lived in");
  }
  /* a grad allocated before the mark survives a rewind to the mark */
  lr_tensor *y;
  OK(lr_add(x, x, &y));
  OK(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
  lr_arena_mark m = lr_arena_get_mark(a);
  OK(lr_add(x, x, &y));
  OK(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
  lr_arena_rewind(a, m);
  expect_grad(x, (double[]){4, 4, 4}, "x");
}

Test(autograd, detach_cuts_the_graph) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(2), NULL), *y, *d, *z;
  OK(lr_add(x, x, &y));
  OK(lr_detach(y, &d));
  cr_assert(!d->requires_grad && !d->node && !d->grad);
  cr_assert_eq(d->data, y->data, "a view of the same data");
  cr_assert(y->requires_grad && y->node, "y itself is untouched");
  OK(lr_add(d, x, &z));
  OK(lr_backward(z, full(LR_DTYPE_F64, LR_SHAPE(2), 1)));
  expect_grad(x, (double[]){1, 1}, "x through z only");
  cr_assert_not(y->node->freed, "the graph behind the detached tensor was not walked");
  OK(lr_backward(y, full(LR_DTYPE_F64, LR_SHAPE(2), 1)));
  expect_grad(x, (double[]){3, 3}, "x");
  cr_assert_eq(lr_detach(NULL, &d), LR_ERR_ARG);
}

Test(autograd, requires_grad_rules) {
  lr_tensor *x = leaf(LR_DTYPE_F64, LR_SHAPE(2), NULL), *y, *i;
  OK(lr_add(x, x, &y));
  cr_assert_eq(lr_requires_grad_(y, true), LR_ERR_STATE);
  ERR_IS("lr_requires_grad_: the tensor is the output of op 'add', not a leaf");
  cr_assert_eq(lr_requires_grad_(y, false), LR_ERR_STATE);
  OK(lr_zeros(LR_DTYPE_I64, LR_SHAPE(2), &i));
  cr_assert_eq(lr_requires_grad_(i, true), LR_ERR_DTYPE);
  ERR_IS("lr_requires_grad_: i64 tensors cannot require grad");
  cr_assert_not(i->requires_grad);
  OK(lr_requires_grad_(i, false));
  cr_assert_eq(lr_requires_grad_(NULL, true), LR_ERR_ARG);
  lr_tensor *c;
  OK(lr_zeros(LR_DTYPE_C64, LR_SHAPE(2), &c));
  OK(lr_requires_grad_(c, true));
  cr_assert(c->requires_grad);
  OK(lr_requires_grad_(c, false));
  cr_assert_not(c->requires_grad);
}

Test(autograd, complex_convention) {
  /* y = z + z, L = Re(sum(conj(w) y)): dL/dRe z + i dL/dIm z = 2 w */
  lr_tensor *z, *y, *w;
  OK(lr_zeros(LR_DTYPE_C128, LR_SHAPE(2), &z));
  lr_tensor_set(z, 0, 0.5, -1);
  lr_tensor_set(z, 1, 2, 3);
  OK(lr_requires_grad_(z, true));
  OK(lr_add(z, z, &y));
  OK(lr_zeros(LR_DTYPE_C128, LR_SHAPE(2), &w));
  lr_tensor_set(w, 0, 1, 2);
  lr_tensor_set(w, 1, -3, 0.5);
  OK(lr_backward(y, w));
  double re, im;
  lr_tensor_get_c(z->grad, 0, &re, &im);
  cr_assert(re == 2 && im == 4, "grad[0] = %g%+gi", re, im);
  lr_tensor_get_c(z->grad, 1, &re, &im);
  cr_assert(re == -6 && im == 1, "grad[1] = %g%+gi", re, im);
  /* a complex scalar root without grad_root: the gradient of Re(root) */
  lr_tensor *s, *t;
  OK(lr_zeros(LR_DTYPE_C128, 0, NULL, &s));
  OK(lr_requires_grad_(s, true));
  OK(lr_add(s, s, &t));
  OK(lr_backward(t, NULL));
  lr_tensor_get_c(s->grad, 0, &re, &im);
  cr_assert(re == 2 && im == 0);
}

/* ---- lr_grad_acc ---- */
Test(autograd, grad_acc_broadcast) {
  lr_tensor *t = leaf(LR_DTYPE_F64, LR_SHAPE(3, 1), NULL);
  lr_tensor *g = full(LR_DTYPE_F64, LR_SHAPE(2, 3, 4), 1);
  lr_set_grad_enabled(false);
  OK(lr_grad_acc(t, g));
  expect_grad(t, (double[]){8, 8, 8}, "summed over the leading and the size-1 dim");
  OK(lr_grad_acc(t, NULL)); /* an output without gradient adds nothing */
  expect_grad(t, (double[]){8, 8, 8}, "unchanged");
  /* strided g */
  lr_tensor *u = leaf(LR_DTYPE_F64, LR_SHAPE(3), NULL), *gb, *gt;
  OK(lr_from_host(LR_DTYPE_F64, LR_SHAPE(3, 2), (double[]){1, 2, 3, 4, 5, 6}, &gb));
  OK(lr_tensor_transpose(gb, 0, 1, &gt)); /* (2, 3): rows {1,3,5}, {2,4,6} */
  OK(lr_grad_acc(u, gt));
  expect_grad(u, (double[]){3, 7, 11}, "u");
  /* complex */
  lr_tensor *c, *gc;
  OK(lr_zeros(LR_DTYPE_C64, LR_SHAPE(1), &c));
  c->requires_grad = true;
  OK(lr_zeros(LR_DTYPE_C64, LR_SHAPE(2, 1), &gc));
  lr_tensor_set(gc, 0, 1, 2);
  lr_tensor_set(gc, 1, 3, -5);
  OK(lr_grad_acc(c, gc));
  double re, im;
  lr_tensor_get_c(c->grad, 0, &re, &im);
  cr_assert(re == 4 && im == -3);
  /* no-op unless t requires grad */
  lr_tensor *n = full(LR_DTYPE_F64, LR_SHAPE(3), 0);
  OK(lr_grad_acc(n, full(LR_DTYPE_F64, LR_SHAPE(3), 1)));
  cr_assert_null(n->grad);
  /* a gradient that is not t broadcast is a bug in the backward */
  cr_assert_eq(lr_grad_acc(u, full(LR_DTYPE_F64, LR_SHAPE(2, 5), 1)), LR_ERR_INTERNAL);
  ERR_IS("lr_grad_acc: gradient of shape (2, 5) does not fit a tensor of shape (3,)");
  cr_assert_eq(lr_grad_acc(t, full(LR_DTYPE_F64, LR_SHAPE(3), 1)), LR_ERR_INTERNAL, "fewer dims than t");
  cr_assert_eq(lr_grad_acc(u, full(LR_DTYPE_F32, LR_SHAPE(3), 1)), LR_ERR_INTERNAL);
  ERR_IS("lr_grad_acc: gradient is f32, tensor is f64");
  lr_set_grad_enabled(true);
}

Test(autograd, grad_acc_parallel_sizes) {
  /* big enough for the OpenMP path: outer 300 rows, reduced over the inner dim and not */
  lr_tensor *t = leaf(LR_DTYPE_F32, LR_SHAPE(300, 1), NULL), *u = leaf(LR_DTYPE_F32, LR_SHAPE(300, 70), NULL);
  lr_tensor *g = full(LR_DTYPE_F32, LR_SHAPE(300, 70), 0.5);
  OK(lr_grad_acc(t, g));
  OK(lr_grad_acc(u, g));
  OK(lr_grad_acc(u, g));
  for (int i = 0; i < 300; i++) cr_assert_eq(lr_tensor_get(t->grad, i), 35.0);
  for (int i = 0; i < 300 * 70; i += 37) cr_assert_eq(lr_tensor_get(u->grad, i), 1.0);
  lr_tensor *v = leaf(LR_DTYPE_F64, LR_SHAPE(70), NULL);
  OK(lr_grad_acc(v, full(LR_DTYPE_F64, LR_SHAPE(300, 70), 1)));
  for (int i = 0; i < 70; i++) cr_assert_eq(lr_tensor_get(v->grad, i), 300.0);
}

/* ---- a device leaf (fake backend on host memory) ---- */
static lr_status fk_alloc(size_t n, void **p) { return (*p = malloc(n)) ? LR_OK : LR_ERR_MEMORY; }
static lr_status fk_copy(void *d, const void *s, size_t n) { if (n) memcpy(d, s, n); return LR_OK; }
static lr_status fk_zero(void *d, size_t n) { if (n) memset(d, 0, n); return LR_OK; }
static const lr_device_hooks fk = {fk_alloc, free, fk_copy, fk_copy, fk_copy, fk_zero,
                                   NULL,     NULL, NULL,    NULL,    NULL}; /* no strided_copy, fill, graphs */

Test(autograd, device_leaf_root_seed) {
  lr_set_device_hooks(LR_DEVICE_CUDA, &fk);
  lr_tensor *x;
  OK(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CUDA, 0, NULL, &x));
  OK(lr_requires_grad_(x, true));
  OK(lr_backward(x, NULL));
  cr_assert_not_null(x->grad);
  cr_assert_eq(x->grad->device, LR_DEVICE_CUDA);
  float g = 0;
  OK(lr_tensor_copy_to_host(x->grad, &g, sizeof g));
  cr_assert_eq(g, 1.0f);
  lr_tensor_free(x);
  lr_set_device_hooks(LR_DEVICE_CUDA, NULL);
}

/* ---- gradcheck ---- */
typedef struct {
  const lr_op_def *op;
  elem_fn fn;
  int which; /* the input the op is applied to (0 or 1) */
} unary_ctx;

/* y = op(in[which]) + in[other] when the other input is given, else op(in[which]) */
static lr_status gc_unary(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  const unary_ctx *c = ctx;
  lr_tensor *y, *other = in[1 - c->which];
  LR_TRY(unary(c->op, c->fn, in[c->which], &y));
  if (other) return lr_add(other, y, out);
  *out = y;
  return LR_OK;
}

static lr_status gc_add(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_add(in[0], in[1], out);
}

static lr_tensor *rand_leaf(lr_dtype dt, int ndim, const int64_t *shape, uint64_t seed) {
  lr_tensor *t;
  if (lr_empty(dt, ndim, shape, &t) != LR_OK) return NULL;
  lr_gc_fill_uniform(t, -1, 1, seed);
  t->requires_grad = true;
  return t;
}

Test(gradcheck, correct_op_passes_and_is_covered) {
  cr_assert_not(lr_gradcheck_covered(&op_sq));
  lr_tensor *in[2] = {rand_leaf(LR_DTYPE_F64, LR_SHAPE(2, 3), 1), NULL};
  unary_ctx c = {&op_sq, f_sq, 0};
  lr_gc_result r;
  size_t used = lr_arena_used(lr_arena_current());
  OK(lr_gradcheck("sq", gc_unary, &c, 2, in, NULL, &r));
  cr_assert(r.passed, "%s", r.msg);
  cr_assert_eq(r.n_checked, 6);
  cr_assert_lt(r.max_abs_err, 1e-8, "central differences of x^2 are exact up to rounding");
  HAS(r.msg, "gradcheck(sq): 6 derivatives");
  cr_assert(lr_gradcheck_covered(&op_sq), "a passing check covers the ops it reached");
  cr_assert_null(in[0]->grad, "arena inputs' grads are released");
  cr_assert_eq(lr_arena_used(lr_arena_current()), used, "everything the check made is rewound");
  cr_assert(lr_grad_enabled());
}

Test(gradcheck, strided_input_and_add) {
  const lr_op_def *add = lr_ops_elementwise[0];
  cr_assert_str_eq(add->name, "add");
  cr_assert_not(lr_gradcheck_covered(add));
  lr_tensor *base = rand_leaf(LR_DTYPE_F64, LR_SHAPE(4, 3), 2), *x;
  OK(lr_tensor_transpose(base, 0, 1, &x)); /* (3, 4) with strides (1, 3) */
  x->requires_grad = true;
  base->requires_grad = false;
  lr_tensor *in[2] = {x, rand_leaf(LR_DTYPE_F64, LR_SHAPE(3, 1), 3)};
  lr_gc_result r;
  OK(lr_gradcheck("add_strided", gc_add, NULL, 2, in, NULL, &r));
  cr_assert(r.passed, "%s", r.msg);
  cr_assert_eq(r.n_checked, 12 + 3);
  cr_assert(lr_gradcheck_covered(add));
  /* complex: real and imaginary parts are perturbed separately */
  lr_tensor *cin[2] = {rand_leaf(LR_DTYPE_C128, LR_SHAPE(2, 2), 4), rand_leaf(LR_DTYPE_C128, LR_SHAPE(2), 5)};
  OK(lr_gradcheck("add_c128", gc_add, NULL, 2, cin, NULL, &r));
  cr_assert(r.passed, "%s", r.msg);
  cr_assert_eq(r.n_checked, 2 * (4 + 2));
}

Test(gradcheck, wrong_backward_fails) {
  /* y = in[0] + op(in[1]), in[1] of one element (broadcast): the message must name the op, the
   * input and the element */
  lr_tensor *in[2] = {rand_leaf(LR_DTYPE_F64, LR_SHAPE(3), 6), rand_leaf(LR_DTYPE_F64, LR_SHAPE(1), 7)};
  unary_ctx c = {&op_double, f_copy, 1};
  lr_gc_result r;
  OK(lr_gradcheck("wrong_double", gc_unary, &c, 2, in, NULL, &r));
  cr_assert_not(r.passed, "a backward that doubles the gradient must fail: %s", r.msg);
  HAS(r.msg, "gradcheck(wrong_double) [ops: t_wrong_double, add]: input 1 element 0 (real)");
  cr_assert_gt(r.max_abs_err, 1e-3);
  cr_assert_not(lr_gradcheck_covered(&op_double), "a failing check covers nothing");
  cr_assert_not(lr_gradcheck_covered(lr_ops_elementwise[0]), "not even the correct ops in it");
}

Test(gradcheck, wrong_at_one_element) {
  lr_tensor *in[2] = {rand_leaf(LR_DTYPE_F64, LR_SHAPE(2, 3), 8), NULL};
  unary_ctx c = {&op_wrong_at_2, f_copy, 0};
  lr_gc_result r;
  OK(lr_gradcheck("wrong_at_2", gc_unary, &c, 2, in, NULL, &r));
  cr_assert_not(r.passed);
  HAS(r.msg, "gradcheck(wrong_at_2) [ops: t_wrong_at_2]: input 0 element 2 (real): analytic ");
  cr_assert_eq(r.n_checked, 6, "every element is still checked");
  /* the same op done right passes */
  unary_ctx good = {&op_copy, f_copy, 0};
  OK(lr_gradcheck("copy", gc_unary, &good, 2, in, NULL, &r));
  cr_assert(r.passed, "%s", r.msg);
}

Test(gradcheck, complex_convention_is_checked) {
  lr_tensor *in[2] = {rand_leaf(LR_DTYPE_C128, LR_SHAPE(3), 9), NULL};
  unary_ctx good = {&op_mul_i, f_mul_i, 0}, bad = {&op_mul_i_noconj, f_mul_i, 0};
  lr_gc_result r;
  OK(lr_gradcheck("mul_i", gc_unary, &good, 2, in, NULL, &r));
  cr_assert(r.passed, "g * conj(f'(z)) is PyTorch's convention: %s", r.msg);
  cr_assert_eq(r.n_checked, 6);
  OK(lr_gradcheck("mul_i_noconj", gc_unary, &bad, 2, in, NULL, &r));
  cr_assert_not(r.passed, "g * f'(z) without the conjugate must fail");
  HAS(r.msg, "t_mul_i_noconj");
}

static lr_status gc_side_branch(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *unused;
  LR_TRY(t_sq(in[0], &unused)); /* recorded, but no gradient flows through it */
  return lr_add(in[0], in[1], out);
}

Test(gradcheck, only_reached_ops_are_covered) {
  lr_tensor *in[2] = {rand_leaf(LR_DTYPE_F64, LR_SHAPE(2), 10), rand_leaf(LR_DTYPE_F64, LR_SHAPE(2), 11)};
  lr_gc_result r;
  OK(lr_gradcheck("side", gc_side_branch, NULL, 2, in, NULL, &r));
  cr_assert(r.passed, "%s", r.msg);
  cr_assert(lr_gradcheck_covered(lr_ops_elementwise[0]));
  cr_assert_not(lr_gradcheck_covered(&op_sq), "its backward never ran");
}

Test(gradcheck, heap_inputs_and_tolerances) {
  lr_tensor *p;
  OK(lr_tensor_new(LR_DTYPE_F64, LR_DEVICE_CPU, LR_SHAPE(4), &p));
  lr_gc_fill_uniform(p, 0.5, 2, 12);
  OK(lr_requires_grad_(p, true));
  lr_tensor *g;
  OK(lr_grad_buffer(p, &g));
  OK(lr_tensor_fill_(g, 100)); /* stale gradient: must not leak into the analytic one */
  lr_tensor *in[2] = {p, NULL};
  unary_ctx c = {&op_sq, f_sq, 0};
  lr_gc_result r;
  OK(lr_gradcheck("sq_heap", gc_unary, &c, 2, in, &(lr_gc_opts){.eps = 1e-5, .atol = 1e-7, .rtol = 1e-7, .seed = 3}, &r));
  cr_assert(r.passed, "%s", r.msg);
  lr_tensor_free(p);
}

static lr_status gc_const(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx, (void)in;
  return lr_zeros(LR_DTYPE_F64, LR_SHAPE(2), out);
}
static lr_status gc_error(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx, (void)in, (void)out;
  return lr_fail(LR_ERR_SHAPE, "gc_error: on purpose");
}

Test(gradcheck, errors) {
  lr_tensor *x = rand_leaf(LR_DTYPE_F64, LR_SHAPE(2), 13), *y;
  lr_gc_result r;
  OK(lr_add(x, x, &y));
  lr_tensor *in[2] = {y, NULL};
  cr_assert_eq(lr_gradcheck("nonleaf", gc_add, NULL, 1, in, NULL, &r), LR_ERR_ARG);
  ERR_IS("lr_gradcheck(nonleaf): input 0 is not a leaf");
  in[0] = x;
  cr_assert_eq(lr_gradcheck("const", gc_const, NULL, 1, in, NULL, &r), LR_ERR_ARG);
  ERR_IS("lr_gradcheck(const): the output is f64 and does not require grad");
  cr_assert_eq(lr_gradcheck("err", gc_error, NULL, 1, in, NULL, &r), LR_ERR_SHAPE);
  ERR_IS("gc_error: on purpose");
  cr_assert_not(r.passed);
  lr_tensor *many[17] = {0};
  cr_assert_eq(lr_gradcheck("many", gc_add, NULL, 17, many, NULL, &r), LR_ERR_ARG);
  ERR_IS("lr_gradcheck(many): 17 inputs, at most 16");
  cr_assert_eq(lr_gradcheck("null", gc_add, NULL, 1, in, NULL, NULL), LR_ERR_ARG);
  cr_assert(lr_grad_enabled(), "grad mode restored after every failure");
}

Test(gradcheck, fill_uniform_range_and_seed) {
  lr_tensor *a, *b;
  OK(lr_empty(LR_DTYPE_C128, LR_SHAPE(50), &a));
  OK(lr_empty(LR_DTYPE_C128, LR_SHAPE(50), &b));
  lr_gc_fill_uniform(a, -2, 3, 42);
  lr_gc_fill_uniform(b, -2, 3, 42);
  cr_assert_arr_eq(a->data, b->data, lr_nbytes(a), "same seed, same values");
  bool differ = false;
  for (int i = 0; i < 50; i++) {
    double re, im;
    lr_tensor_get_c(a, i, &re, &im);
    cr_assert(re >= -2 && re < 3 && im >= -2 && im < 3);
    differ = differ || re != im;
  }
  cr_assert(differ);
  lr_gc_fill_uniform(b, -2, 3, 43);
  cr_assert(memcmp(a->data, b->data, lr_nbytes(a)) != 0, "another seed, other values");
}
