/* tensor/graph.h on the CPU and through a backend's graph hooks (a fake one here; the CUDA
 * recording is tested on a GPU by test_cuda_runtime.c and test_cuda_parity_models.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "tensor/graph.h"

static int calls;
static lr_status count_call(void *arg) {
  calls++;
  *(int *)arg += 3;
  return LR_OK;
}

static lr_status fails(void *arg) {
  (void)arg;
  return lr_fail(LR_ERR_SHAPE, "fails: x is (2, 3)");
}

/* On the CPU capture runs nothing; every replay calls fn(arg). */
Test(graph, cpu_replay_calls_fn) {
  calls = 0;
  int v = 1;
  lr_graph *g = NULL;
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CPU, count_call, &v, &g), LR_OK);
  cr_assert_not_null(g);
  cr_assert_eq(calls, 0);
  cr_assert_eq(lr_graph_device(g), LR_DEVICE_CPU);
  for (int i = 0; i < 4; i++) cr_assert_eq(lr_graph_replay(g), LR_OK);
  cr_assert_eq(calls, 4);
  cr_assert_eq(v, 13);
  lr_graph_free(g);
  lr_graph_free(NULL);
  /* a failing fn fails its replay, with its own status and message */
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CPU, fails, NULL, &g), LR_OK);
  cr_assert_eq(lr_graph_replay(g), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "fails: x is (2, 3)");
  lr_graph_free(g);
}

Test(graph, argument_errors) {
  lr_graph *g = (lr_graph *)&calls; /* untouched on failure */
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CPU, NULL, NULL, &g), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_graph_capture: fn is NULL");
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CPU, count_call, NULL, NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_graph_capture: out is NULL");
  cr_assert_eq(lr_graph_capture((lr_device)7, count_call, NULL, &g), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_graph_capture: device 7 is not a device");
  cr_assert_eq(g, (lr_graph *)&calls);
  cr_assert_eq(lr_graph_replay(NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_graph_replay: g is NULL");
}

/* A device without a backend, or whose backend records no graphs. */
Test(graph, device_without_graphs) {
  lr_graph *g = NULL;
  const lr_device_hooks *real = lr_get_device_hooks(LR_DEVICE_CUDA);
  lr_set_device_hooks(LR_DEVICE_CUDA, NULL);
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, count_call, NULL, &g), LR_ERR_DEVICE);
  cr_assert_str_eq(lr_last_error(), "lr_graph_capture: no cuda backend in this build");
  static const lr_device_hooks none = {0};
  lr_set_device_hooks(LR_DEVICE_CUDA, &none);
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, count_call, NULL, &g), LR_ERR_UNSUPPORTED);
  cr_assert_str_eq(lr_last_error(), "lr_graph_capture: the cuda backend records no graphs");
  cr_assert_null(g);
  lr_set_device_hooks(LR_DEVICE_CUDA, real);
}

/* The tensor layer hands capture, launch and free to the backend and keeps nothing on failure. */
static int captured, launched, freed;
static lr_status fake_capture(lr_status (*fn)(void *), void *arg, void **graph) {
  lr_status s = fn(arg); /* the host part runs once */
  if (s != LR_OK) return lr_fail(s, "lr_graph_capture: fn failed: %s", "x");
  captured++;
  *graph = &captured;
  return LR_OK;
}
static lr_status fake_launch(void *graph) {
  cr_assert_eq(graph, &captured);
  launched++;
  return LR_OK;
}
static void fake_graph_free(void *graph) {
  cr_assert_eq(graph, &captured);
  freed++;
}

Test(graph, backend_hooks) {
  static lr_device_hooks h;
  memset(&h, 0, sizeof h);
  h.graph_capture = fake_capture;
  h.graph_launch = fake_launch;
  h.graph_free = fake_graph_free;
  const lr_device_hooks *real = lr_get_device_hooks(LR_DEVICE_CUDA);
  lr_set_device_hooks(LR_DEVICE_CUDA, &h);
  calls = 0;
  int v = 0;
  lr_graph *g = NULL;
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, count_call, &v, &g), LR_OK);
  cr_assert_eq(lr_graph_device(g), LR_DEVICE_CUDA);
  cr_assert_eq(calls, 1);
  cr_assert_eq(captured, 1);
  for (int i = 0; i < 3; i++) cr_assert_eq(lr_graph_replay(g), LR_OK);
  cr_assert_eq(launched, 3);
  cr_assert_eq(calls, 1, "a replay runs no host code");
  lr_graph_free(g);
  cr_assert_eq(freed, 1);
  lr_graph *g2 = NULL;
  cr_assert_eq(lr_graph_capture(LR_DEVICE_CUDA, fails, NULL, &g2), LR_ERR_SHAPE);
  cr_assert_null(g2);
  cr_assert_eq(freed, 1);
  lr_set_device_hooks(LR_DEVICE_CUDA, real);
}
