/* cuFFT, loaded on first use (the same scheme as cublas_lazy.cu, for the same reason: linking
 * -lcufft would make every process that links lrnnx load libcufft (~300 MB) and run its
 * constructors at start-up, GPU or not, in every Criterion test process and tool invocation).
 *
 * The backend defines the cuFFT functions it calls as stubs that dlopen libcufft.so.<major> (the
 * version of the headers) on the first call and forward to it. cufft.h comes with the toolkit's
 * own include directory, which nvcc searches by default: kernels/BUILD needs no header path.
 * A cuFFT function without a stub fails at link time ("undefined reference to cufftXxx"): add an
 * LR_CUFFT_STUB line (parameters copied from cufft.h; the compiler checks them against it).
 * If the library cannot be loaded every stub returns CUFFT_SETUP_FAILED and
 * lr_cufft_load_error() says why.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <cufft.h>

#include "kernels/cuda/common.cuh"

namespace {

void *lib;
char load_err[256];
pthread_once_t once = PTHREAD_ONCE_INIT;

void load() {
  char name[64], path[128];
  snprintf(name, sizeof name, "libcufft.so.%d", CUFFT_VER_MAJOR);
  lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (lib) return;
  const char *e = dlerror();
  snprintf(load_err, sizeof load_err, "%s", e ? e : name);
  snprintf(path, sizeof path, "/usr/local/cuda/lib64/%s", name);
  lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

void *sym(const char *name) {
  pthread_once(&once, load);
  return lib ? dlsym(lib, name) : nullptr;
}

} // namespace

extern "C" const char *lr_cufft_load_error(void) {
  pthread_once(&once, load);
  return lib ? nullptr : load_err;
}

#define LR_CUFFT_STUB(name, params, args)                     \
  extern "C" cufftResult CUFFTAPI name params {               \
    typedef cufftResult (*fn_t) params;                       \
    static fn_t fn = (fn_t)sym(#name);                        \
    return fn ? fn args : CUFFT_SETUP_FAILED;                 \
  }

/* plan set-up and teardown (fft.cu's plan cache) */
LR_CUFFT_STUB(cufftCreate, (cufftHandle * handle), (handle))
LR_CUFFT_STUB(cufftDestroy, (cufftHandle plan), (plan))
LR_CUFFT_STUB(cufftSetAutoAllocation, (cufftHandle plan, int autoAllocate), (plan, autoAllocate))
LR_CUFFT_STUB(cufftMakePlanMany,
              (cufftHandle plan, int rank, int *n, int *inembed, int istride, int idist, int *onembed, int ostride,
               int odist, cufftType type, int batch, size_t *workSize),
              (plan, rank, n, inembed, istride, idist, onembed, ostride, odist, type, batch, workSize))
LR_CUFFT_STUB(cufftSetStream, (cufftHandle plan, cudaStream_t stream), (plan, stream))
LR_CUFFT_STUB(cufftSetWorkArea, (cufftHandle plan, void *workArea), (plan, workArea))

/* execution: complex (C2C, Z2Z) and real (R2C / C2R, D2Z / Z2D) transforms */
LR_CUFFT_STUB(cufftExecC2C, (cufftHandle plan, cufftComplex *idata, cufftComplex *odata, int direction),
              (plan, idata, odata, direction))
LR_CUFFT_STUB(cufftExecZ2Z, (cufftHandle plan, cufftDoubleComplex *idata, cufftDoubleComplex *odata, int direction),
              (plan, idata, odata, direction))
LR_CUFFT_STUB(cufftExecR2C, (cufftHandle plan, cufftReal *idata, cufftComplex *odata), (plan, idata, odata))
LR_CUFFT_STUB(cufftExecD2Z, (cufftHandle plan, cufftDoubleReal *idata, cufftDoubleComplex *odata), (plan, idata, odata))
LR_CUFFT_STUB(cufftExecC2R, (cufftHandle plan, cufftComplex *idata, cufftReal *odata), (plan, idata, odata))
LR_CUFFT_STUB(cufftExecZ2D, (cufftHandle plan, cufftDoubleComplex *idata, cufftDoubleReal *odata), (plan, idata, odata))
