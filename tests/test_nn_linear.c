/* nn/linear: parameter names and shapes, PyTorch's default init range, forward values, gradients
 * reaching the module's parameters, and an optimizer step on them. Needs lr_linear (ops/linalg.c)
 * and the Philox RNG (tensor/rng.c). */
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "nn/linear.h"
#include "optim/optim.h"

Test(nn_linear, names_shapes_and_init) {
  lr_module *root;
  lr_rng rng;
  lr_rng_init(&rng, 1234);
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Model", &root), LR_OK);
  lr_linear_module *a, *b;
  cr_assert_eq(lr_linear_new(root, "in_proj", 16, 8, true, LR_DTYPE_F32, &rng, &a), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_linear_new(root, "out_proj", 8, 4, false, LR_DTYPE_F64, &rng, &b), LR_OK);
  lr_param_list l;
  cr_assert_eq(lr_module_list(root, LR_VISIT_ALL, &l), LR_OK);
  cr_assert_eq(l.n, 3);
  cr_assert_str_eq(l.items[0].name, "in_proj.weight");
  cr_assert_str_eq(l.items[1].name, "in_proj.bias");
  cr_assert_str_eq(l.items[2].name, "out_proj.weight");
  lr_param_list_free(&l);
  cr_assert(a->weight->shape[0] == 8 && a->weight->shape[1] == 16 && a->bias->shape[0] == 8);
  cr_assert_null(b->bias);
  cr_assert_eq(lr_module_num_params(root), 16 * 8 + 8 + 8 * 4);
  cr_assert_str_eq(a->base.type, "Linear");

  /* U(-1/sqrt(in), 1/sqrt(in)): every value inside the bound, and the draws fill the range
   * (128 uniform draws all landing in the middle half has probability 2^-128). */
  double bound = 1.0 / sqrt(16.0), lo = 1, hi = -1;
  for (int64_t i = 0; i < 128; i++) {
    double w = lr_tensor_get(a->weight, i);
    cr_assert(fabs(w) <= bound, "weight[%lld] = %g", (long long)i, w);
    lo = fmin(lo, w);
    hi = fmax(hi, w);
  }
  cr_assert(lo < -bound / 2 && hi > bound / 2, "range [%g, %g]", lo, hi);
  for (int64_t i = 0; i < 8; i++) cr_assert(fabs(lr_tensor_get(a->bias, i)) <= bound);
  for (int64_t i = 0; i < 32; i++) cr_assert(fabs(lr_tensor_get(b->weight, i)) <= 1.0 / sqrt(8.0));

  /* The same seed gives the same weights. */
  lr_rng r2;
  lr_rng_init(&r2, 1234);
  lr_linear_module *c;
  cr_assert_eq(lr_linear_new(NULL, NULL, 16, 8, true, LR_DTYPE_F32, &r2, &c), LR_OK);
  cr_assert_eq(memcmp(c->weight->data, a->weight->data, 128 * sizeof(float)), 0);
  lr_module_free(&c->base);
  lr_module_free(root);
}

Test(nn_linear, forward_values) {
  lr_rng rng;
  lr_rng_init(&rng, 7);
  lr_linear_module *l;
  cr_assert_eq(lr_linear_new(NULL, NULL, 3, 2, true, LR_DTYPE_F64, &rng, &l), LR_OK);
  const double W[6] = {1, 2, 3, -1, 0, 1}, b[2] = {0.5, -0.5};
  for (int i = 0; i < 6; i++) lr_tensor_set(l->weight, i, W[i], 0);
  for (int i = 0; i < 2; i++) lr_tensor_set(l->bias, i, b[i], 0);
  lr_tensor *x, *y;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2, 1, 3), (double[]){1, 1, 1, 2, 0, -1}, &x), LR_OK);
  cr_assert_eq(lr_linear_forward(l, x, &y), LR_OK, "%s", lr_last_error());
  cr_assert(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 1 && y->shape[2] == 2);
  /* (1,1,1): (6.5, -0.5); (2,0,-1): (2 - 3 + 0.5, -2 - 1 - 0.5) = (-0.5, -3.5). Exact in binary. */
  const double want[4] = {6.5, -0.5, -0.5, -3.5};
  for (int i = 0; i < 4; i++) cr_assert_eq(lr_tensor_get(y, i), want[i], "y[%d] = %g", i, lr_tensor_get(y, i));

  lr_tensor *bad;
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 4), &bad), LR_OK);
  y = NULL;
  cr_assert_eq(lr_linear_forward(l, bad, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_linear_forward: x is (2, 4), expected last dim in_features = 3");
  cr_assert_null(y);
  lr_module_free(&l->base);
}

/* Gradients reach the module's persistent parameters: L = sum(y * 1), so dW[o, i] = sum_b x[b, i],
 * db[o] = batch; then one SGD step (lr 0.5) moves them by -0.5 grad. */
Test(nn_linear, backward_and_step) {
  lr_rng rng;
  lr_rng_init(&rng, 3);
  lr_linear_module *l;
  cr_assert_eq(lr_linear_new(NULL, NULL, 2, 3, true, LR_DTYPE_F64, &rng, &l), LR_OK);
  double w0[6], b0[3];
  for (int i = 0; i < 6; i++) w0[i] = lr_tensor_get(l->weight, i);
  for (int i = 0; i < 3; i++) b0[i] = lr_tensor_get(l->bias, i);
  lr_optim *o;
  lr_optim_config cfg = lr_sgd_config(0.5, 0.0);
  cr_assert_eq(lr_optim_new(&cfg, &o), LR_OK);
  cr_assert_eq(lr_optim_add_module(o, &l->base, 0), LR_OK);

  lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
  lr_tensor *x, *y, *ones;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2, 2), (double[]){1, 2, 3, -4}, &x), LR_OK);
  cr_assert_eq(lr_linear_forward(l, x, &y), LR_OK);
  cr_assert_eq(lr_ones(LR_DTYPE_F64, LR_SHAPE(2, 3), &ones), LR_OK);
  cr_assert_eq(lr_backward(y, ones), LR_OK, "%s", lr_last_error());
  const double dw[2] = {1 + 3, 2 - 4};
  for (int i = 0; i < 6; i++) cr_assert_eq(lr_tensor_get(l->weight->grad, i), dw[i % 2]);
  for (int i = 0; i < 3; i++) cr_assert_eq(lr_tensor_get(l->bias->grad, i), 2.0);
  cr_assert_eq(lr_optim_step(o), LR_OK);
  lr_arena_rewind(lr_arena_current(), mk);
  for (int i = 0; i < 6; i++) cr_assert(fabs(lr_tensor_get(l->weight, i) - (w0[i] - 0.5 * dw[i % 2])) < 1e-15);
  for (int i = 0; i < 3; i++) cr_assert(fabs(lr_tensor_get(l->bias, i) - (b0[i] - 1.0)) < 1e-15);
  lr_optim_free(o);
  lr_module_free(&l->base);
}

Test(nn_linear, errors) {
  lr_rng rng;
  lr_rng_init(&rng, 1);
  lr_linear_module *l = NULL;
  cr_assert_eq(lr_linear_new(NULL, NULL, -1, 2, true, LR_DTYPE_F32, &rng, &l), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_linear_new: in_features -1, out_features 2: sizes must be >= 0");
  cr_assert_eq(lr_linear_new(NULL, NULL, 2, 2, true, LR_DTYPE_I32, &rng, &l), LR_ERR_DTYPE);
  cr_assert_eq(lr_linear_new(NULL, NULL, 2, 2, true, LR_DTYPE_F32, NULL, &l), LR_ERR_ARG);
  cr_assert_null(l);
  /* A name clash in the parent frees the new module (ASan checks). */
  lr_module *root;
  cr_assert_eq(lr_module_new(sizeof(lr_module), "Model", &root), LR_OK);
  cr_assert_eq(lr_linear_new(root, "proj", 2, 2, true, LR_DTYPE_F32, &rng, &l), LR_OK);
  lr_linear_module *l2 = NULL;
  cr_assert_eq(lr_linear_new(root, "proj", 2, 2, true, LR_DTYPE_F32, &rng, &l2), LR_ERR_ARG);
  cr_assert_null(l2);
  lr_module_free(root);
}
