/* quickstart: the C API in one page. Fits y = sin(3x) on [-1, 1] with a two-layer MLP
 * (Linear -> tanh -> Linear), AdamW and a warmup-cosine schedule, then saves the weights as
 * safetensors. Every step allocates its activations from the thread's arena and rewinds it.
 *
 *   ./bazelw run //examples:quickstart [-- OUT.safetensors]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "nn/linear.h"
#include "ops/ops.h"
#include "optim/optim.h"
#include "tensor/safetensors.h"

/* Examples are the one place that may exit on error. */
#define CHECK(expr)                                                                   \
  do {                                                                                \
    lr_status s_ = (expr);                                                            \
    if (s_ != LR_OK) {                                                                \
      fprintf(stderr, "%s failed: %s: %s\n", #expr, lr_status_name(s_), lr_last_error()); \
      exit(1);                                                                        \
    }                                                                                 \
  } while (0)

int main(int argc, char **argv) {
  const char *out_path = argc > 1 ? argv[1] : "quickstart.safetensors";
  const int64_t n = 256, hidden = 32;
  lr_rng rng;
  lr_rng_init(&rng, 0);

  /* the model: a root module with two Linear children, "fc1" and "fc2" */
  lr_module *model;
  lr_linear_module *fc1, *fc2;
  CHECK(lr_module_new(sizeof(lr_module), "MLP", &model));
  CHECK(lr_linear_new(model, "fc1", 1, hidden, true, LR_DTYPE_F32, &rng, &fc1));
  CHECK(lr_linear_new(model, "fc2", hidden, 1, true, LR_DTYPE_F32, &rng, &fc2));

  /* the data: persistent tensors */
  lr_tensor *x, *y;
  CHECK(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(n, 1), &x));
  CHECK(lr_tensor_new(LR_DTYPE_F32, LR_DEVICE_CPU, LR_SHAPE(n, 1), &y));
  for (int64_t i = 0; i < n; i++) {
    double xi = -1.0 + 2.0 * (double)i / (double)(n - 1);
    lr_tensor_set(x, i, xi, 0);
    lr_tensor_set(y, i, sin(3 * xi), 0);
  }

  lr_optim *opt;
  lr_optim_config cfg = lr_adamw_config(1e-2, 1e-4);
  CHECK(lr_optim_new(&cfg, &opt));
  CHECK(lr_optim_add_module(opt, model, LR_GROUP_NO_DECAY_1D));
  const int steps = 2000;
  lr_schedule sched = {LR_SCHED_WARMUP_COSINE, .warmup_steps = 100, .total_steps = steps};

  lr_arena *arena = lr_arena_current();
  lr_arena_mark start = lr_arena_get_mark(arena);
  double loss_value = 0;
  for (int step = 0; step < steps; step++) {
    lr_tensor *h, *a, *pred, *loss;
    CHECK(lr_linear_forward(fc1, x, &h));
    CHECK(lr_tanh(h, &a));
    CHECK(lr_linear_forward(fc2, a, &pred));
    CHECK(lr_mse_loss(pred, y, LR_REDUCE_MEAN, &loss));
    CHECK(lr_backward(loss, NULL));
    loss_value = lr_tensor_get(loss, 0);
    lr_optim_set_lr_factor(opt, lr_schedule_factor(&sched, step));
    CHECK(lr_optim_step(opt));
    CHECK(lr_optim_zero_grad(opt));
    lr_arena_rewind(arena, start); /* activations and the tape are gone; no leak, no malloc */
    if (step % 400 == 0 || step == steps - 1) printf("step %4d  mse %.6f\n", step, loss_value);
  }
  printf("parameters: %lld, arena peak: %zu KiB\n", (long long)lr_module_num_params(model),
         lr_arena_peak(arena) / 1024);

  /* save by dotted name: fc1.weight, fc1.bias, fc2.weight, fc2.bias */
  lr_param_list list;
  CHECK(lr_module_list(model, LR_VISIT_ALL, &list));
  const char *names[8];
  const lr_tensor *tensors[8];
  for (int i = 0; i < list.n && i < 8; i++) {
    names[i] = list.items[i].name;
    tensors[i] = list.items[i].param->t;
  }
  CHECK(lr_safetensors_save(out_path, list.n, names, tensors, NULL));
  printf("saved %d tensors to %s\n", list.n, out_path);
  lr_param_list_free(&list);

  lr_optim_free(opt);
  lr_module_free(model);
  lr_tensor_free(x);
  lr_tensor_free(y);
  return loss_value < 0.01 ? 0 : 1;
}
