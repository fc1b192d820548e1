/* cuBLAS, loaded on first use.
 *
 * Linking libcublas (-lcublas) makes every process that links lrnnx load libcublas and
 * libcublasLt (600 MB) at start-up, whose constructors register thousands of kernels: 0.4 s of
 * CPU per process, paid by every Criterion test (each runs in its own process) and every tool
 * invocation, GPU or not. So the backend defines the cuBLAS functions it calls itself, as stubs
 * that dlopen libcublas.so.<major> (the version the headers are from) on the first call and
 * forward to it. Code calls cuBLAS as usual (cublas_v2.h); the library is still a shared library
 * found through the loader's path (LD_LIBRARY_PATH, ld.so.cache), just loaded later.
 *
 * Using a cuBLAS function that has no stub fails at link time with "undefined reference to
 * cublasXxx": add one LR_CUBLAS_STUB line below (its parameter list copied from cublas_api.h; the
 * compiler checks it against the header's declaration). If the library cannot be loaded, every
 * stub returns CUBLAS_STATUS_NOT_INITIALIZED and lr_cublas_load_error() says why.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

#include <cublas_v2.h>

#include "kernels/cuda/common.cuh"

namespace {

void *lib;
char load_err[256];
pthread_once_t once = PTHREAD_ONCE_INIT;

/* The loader's search path first (LD_LIBRARY_PATH, ld.so.cache), then the toolkit's default home,
 * which -lcublas would not have searched at run time either but costs nothing to try. */
void load() {
  char name[64], path[128];
  snprintf(name, sizeof name, "libcublas.so.%d", CUBLAS_VER_MAJOR);
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

extern "C" const char *lr_cublas_load_error(void) {
  pthread_once(&once, load);
  return lib ? nullptr : load_err;
}

#define LR_CUBLAS_STUB(name, params, args)                               \
  extern "C" cublasStatus_t CUBLASWINAPI name params {                   \
    typedef cublasStatus_t (*fn_t) params;                               \
    static fn_t fn = (fn_t)sym(#name);                                   \
    return fn ? fn args : CUBLAS_STATUS_NOT_INITIALIZED;                 \
  }

extern "C" const char *CUBLASWINAPI cublasGetStatusString(cublasStatus_t status) {
  typedef const char *(*fn_t)(cublasStatus_t);
  static fn_t fn = (fn_t)sym("cublasGetStatusString");
  return fn ? fn(status) : "cuBLAS could not be loaded";
}

/* handle set-up (runtime.cu) */
LR_CUBLAS_STUB(cublasCreate_v2, (cublasHandle_t * handle), (handle))
LR_CUBLAS_STUB(cublasDestroy_v2, (cublasHandle_t handle), (handle))
LR_CUBLAS_STUB(cublasSetStream_v2, (cublasHandle_t handle, cudaStream_t streamId), (handle, streamId))
LR_CUBLAS_STUB(cublasSetWorkspace_v2, (cublasHandle_t handle, void *workspace, size_t workspaceSizeInBytes),
               (handle, workspace, workspaceSizeInBytes))
LR_CUBLAS_STUB(cublasSetMathMode, (cublasHandle_t handle, cublasMath_t mode), (handle, mode))
LR_CUBLAS_STUB(cublasSetAtomicsMode, (cublasHandle_t handle, cublasAtomicsMode_t mode), (handle, mode))
LR_CUBLAS_STUB(cublasSetPointerMode_v2, (cublasHandle_t handle, cublasPointerMode_t mode), (handle, mode))

/* matmul and linear (linalg.cu: lr_kcuda_gemm_batched uses GemmEx for one product, the strided
 * batched form for a batch) */
LR_CUBLAS_STUB(cublasGemmEx,
               (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                const void *alpha, const void *A, cudaDataType Atype, int lda, const void *B, cudaDataType Btype,
                int ldb, const void *beta, void *C, cudaDataType Ctype, int ldc, cublasComputeType_t computeType,
                cublasGemmAlgo_t algo),
               (handle, transa, transb, m, n, k, alpha, A, Atype, lda, B, Btype, ldb, beta, C, Ctype, ldc,
                computeType, algo))
LR_CUBLAS_STUB(cublasGemmStridedBatchedEx,
               (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                const void *alpha, const void *A, cudaDataType Atype, int lda, long long int strideA, const void *B,
                cudaDataType Btype, int ldb, long long int strideB, const void *beta, void *C, cudaDataType Ctype,
                int ldc, long long int strideC, int batchCount, cublasComputeType_t computeType,
                cublasGemmAlgo_t algo),
               (handle, transa, transb, m, n, k, alpha, A, Atype, lda, strideA, B, Btype, ldb, strideB, beta, C,
                Ctype, ldc, strideC, batchCount, computeType, algo))

/* the benchmark's reference (linalg.cu: lr_kcuda_sgemm_ref, for `lrnnx bench ops`) */
LR_CUBLAS_STUB(cublasSgemm_v2,
               (cublasHandle_t handle, cublasOperation_t transa, cublasOperation_t transb, int m, int n, int k,
                const float *alpha, const float *A, int lda, const float *B, int ldb, const float *beta, float *C,
                int ldc),
               (handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc))
