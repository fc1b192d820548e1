/* `lrnnx info`: the version, whether the CUDA backend was compiled in, the devices found, and
 * every registered op (ops/registry.h) with its dtypes and the devices that have a forward and a
 * backward. */
#include <omp.h>
#include <string.h>

#include "ops/registry.h"
#include "tensor/version.h"
#include "tools/tools.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static void dtype_list(uint32_t mask, char *buf, size_t n) {
  buf[0] = 0;
  for (int d = 0; d < LR_DTYPE_COUNT; d++)
    if (mask & LR_DT(d)) {
      size_t k = strlen(buf);
      snprintf(buf + k, n - k, "%s%s", k ? " " : "", lr_dtype_name((lr_dtype)d));
    }
  if (!buf[0]) snprintf(buf, n, "-");
}

static void device_list(uint32_t mask, char *buf, size_t n) {
  buf[0] = 0;
  for (int d = 0; d < LR_DEVICE_COUNT; d++)
    if (mask & (1u << d)) {
      size_t k = strlen(buf);
      snprintf(buf + k, n - k, "%s%s", k ? " " : "", lr_device_name((lr_device)d));
    }
  if (!buf[0]) snprintf(buf, n, "-");
}

int lr_tool_info(int argc, char **argv, FILE *out, FILE *err) {
  if (argc > 1) {
    fprintf(err, "lrnnx info: unexpected argument \"%s\"\nusage: lrnnx info\n", argv[1]);
    return 2;
  }
  fprintf(out, "lrnnx %s\n", LR_VERSION);
#ifdef LR_CUDA
  fprintf(out, "CUDA: yes (compiled in)\n");
#else
  fprintf(out, "CUDA: no (built without LR_CUDA)\n");
#endif
  fprintf(out, "devices:\n  cpu   %d OpenMP threads\n", omp_get_max_threads());
#ifdef LR_CUDA
  if (lr_cuda_available()) {
    fprintf(out, "  cuda  %d device(s): %s\n", lr_cuda_device_count(), lr_cuda_device_name());
  } else {
    lr_status s = lr_cuda_init();
    fprintf(out, "  cuda  not usable: %s\n", s == LR_OK ? "unknown reason" : lr_last_error());
  }
#endif

  int n;
  const lr_op_def *const *ops = lr_op_registry(&n);
  int w = 4;
  for (int i = 0; i < n; i++)
    if ((int)strlen(ops[i]->name) > w) w = (int)strlen(ops[i]->name);
  fprintf(out, "ops (%d):\n  %-*s  %-26s  %-10s  %s\n", n, w, "name", "dtypes", "forward", "backward");
  for (int i = 0; i < n; i++) {
    char dt[96], fwd[32], bwd[32];
    dtype_list(ops[i]->dtypes, dt, sizeof dt);
    device_list(ops[i]->fwd_devices, fwd, sizeof fwd);
    if (ops[i]->backward) device_list(ops[i]->bwd_devices, bwd, sizeof bwd);
    else snprintf(bwd, sizeof bwd, "none (not differentiable)");
    fprintf(out, "  %-*s  %-26s  %-10s  %s\n", w, ops[i]->name, dt, fwd, bwd);
  }
  return 0;
}
