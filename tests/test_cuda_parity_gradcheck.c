/* The gradcheck case tables of every op family, run on the GPU: gc_device = CUDA puts every leaf
 * and input on the device, so forward and backward run there in F64 / C128 and are checked
 * against central differences (the same tolerances as on the CPU). GPU machine only. */
#include <criterion/criterion.h>

#include "kernels/cuda/cuda.h"
#include "tests/cases.h"

static void on_gpu(void) {
  if (!lr_cuda_available()) cr_skip_test("no usable CUDA device");
  gc_device = LR_DEVICE_CUDA;
}

#define FAMILY(name)                                                                \
  Test(gpu_gradcheck, name, .init = on_gpu) {                                       \
    cr_assert_eq(gc_run_table(lr_cases_##name, #name " (cuda)"), 0, "see stderr");  \
  }

FAMILY(elementwise)
FAMILY(complex)
FAMILY(linalg)
FAMILY(reduce)
FAMILY(shape)
FAMILY(view)
FAMILY(functional)
FAMILY(fft)
FAMILY(conv)
FAMILY(s4)
FAMILY(discretize)
FAMILY(scan)
