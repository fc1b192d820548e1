/* Gradcheck cases for the complex ops, in C128 (F64 for the real inputs of complex() and
 * view_as_complex): broadcasting, size-1 dims and strided inputs. angle is checked on values in
 * [-1, 1] + i[-1, 1], away from z = 0 and (for this seed) from the branch cut on the negative
 * real axis. Default tolerances: all smooth there. Every input is made on gc_device, so the table
 * also runs on the GPU. */
#include "tests/cases.h"

typedef lr_status (*un_fn)(lr_tensor *, lr_tensor **);

static lr_status f_un(void *ctx, lr_tensor *const *in, lr_tensor **out) { return (*(un_fn *)ctx)(in[0], out); }

static lr_status f_complex(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_complex(in[0], in[1], out);
}

static lr_status un_case(lr_gc_result *r, const char *name, un_fn f, lr_tensor *x) {
  return lr_gradcheck(name, f_un, &f, 1, &x, NULL, r);
}

static lr_status complex_broadcast(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 3, 1), -1, 1, 1),
                      gc_leaf_strided(LR_DTYPE_F64, LR_SHAPE(3, 4), -1, 1, 2)};
  return lr_gradcheck("complex", f_complex, NULL, 2, in, NULL, r);
}
static lr_status real_strided(lr_gc_result *r) {
  return un_case(r, "real", lr_real, gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(1, 3, 4), -1, 1, 3));
}
static lr_status imag_strided(lr_gc_result *r) {
  return un_case(r, "imag", lr_imag, gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(1, 3, 4), -1, 1, 4));
}
static lr_status conj_strided(lr_gc_result *r) {
  return un_case(r, "conj", lr_conj, gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(1, 3, 4), -1, 1, 5));
}
static lr_status angle_strided(lr_gc_result *r) {
  return un_case(r, "angle", lr_angle, gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(1, 3, 4), -1, 1, 6));
}
static lr_status view_as_real_strided(lr_gc_result *r) {
  return un_case(r, "view_as_real", lr_view_as_real, gc_leaf_strided(LR_DTYPE_C128, LR_SHAPE(2, 3, 4), -1, 1, 7));
}
static lr_status view_as_complex_contiguous(lr_gc_result *r) {
  return un_case(r, "view_as_complex", lr_view_as_complex, gc_leaf(LR_DTYPE_F64, LR_SHAPE(3, 1, 2), -1, 1, 8));
}
/* A leaf stored as (3, 4, 2) and viewed as (4, 3, 2): strides (2, 8, 1), even and non-contiguous. */
static lr_status view_as_complex_permuted(lr_gc_result *r) {
  lr_tensor *base, *x;
  LR_TRY(lr_empty_on(LR_DTYPE_F64, gc_device, LR_SHAPE(3, 4, 2), &base));
  LR_TRY(lr_tensor_transpose(base, 0, 1, &x));
  lr_gc_fill_uniform(x, -1, 1, 9);
  x->base = NULL; /* a leaf of its own for the gradcheck */
  x->requires_grad = true;
  return un_case(r, "view_as_complex", lr_view_as_complex, x);
}

/* The views composed with arithmetic: |view_as_complex(x)|^2 via mul and conj, then real. */
static lr_status f_chain(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  lr_tensor *z, *zc, *p;
  LR_TRY(lr_view_as_complex(in[0], &z));
  LR_TRY(lr_conj(z, &zc));
  LR_TRY(lr_mul(z, zc, &p));
  return lr_real(p, out);
}
static lr_status view_chain(lr_gc_result *r) {
  lr_tensor *x = gc_leaf(LR_DTYPE_F64, LR_SHAPE(2, 3, 2), -1, 1, 10);
  return lr_gradcheck("view_chain", f_chain, NULL, 1, &x, NULL, r);
}

const lr_gc_case lr_cases_complex[] = {
    {"complex_broadcast", complex_broadcast},
    {"real_strided", real_strided},
    {"imag_strided", imag_strided},
    {"conj_strided", conj_strided},
    {"angle_strided", angle_strided},
    {"view_as_real_strided", view_as_real_strided},
    {"view_as_complex_contiguous", view_as_complex_contiguous},
    {"view_as_complex_permuted", view_as_complex_permuted},
    {"view_chain", view_chain},
    {NULL, NULL},
};
