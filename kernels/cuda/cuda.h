/* The CUDA backend's C interface: runtime (context, stream, cuBLAS handle, caching allocator,
 * copies) and the kernels that ops call for tensors on LR_DEVICE_CUDA.
 *
 * Everything here exists only in builds with the CUDA backend (./bazelw on a machine with nvcc,
 * or --config=cuda), where //kernels defines LR_CUDA. Ops dispatch like this:
 *
 *   #ifdef LR_CUDA
 *     if (y->device == LR_DEVICE_CUDA)
 *       return lr_kcuda_binary(k, y->dtype, y->data, a->data, as, b->data, bs, y->ndim, y->shape,
 *                              lr_cuda_stream());
 *   #endif
 *
 * The context is per process and created lazily on first use: device 0, one non-blocking stream
 * on which every kernel and copy runs (so work is ordered and a freed block can be reused by the
 * next allocation without a synchronisation), a cuBLAS handle with its own workspace. It is
 * released at exit. Linking the backend installs the tensor layer's device hooks
 * (tensor/tensor.h), so lr_empty_on(..., LR_DEVICE_CUDA, ...) just works; on a machine with no
 * driver or no device it returns LR_ERR_DEVICE saying which.
 *
 * Errors from CUDA and cuBLAS become lr_status with the library's own text:
 *   "lr_kcuda_binary: CUDA error cudaErrorInvalidValue (invalid argument) after launch"
 * out of memory is LR_ERR_MEMORY, cuBLAS's "not supported" LR_ERR_UNSUPPORTED and its "invalid
 * value" LR_ERR_INTERNAL (a bad call is lrnnx's bug), everything else LR_ERR_DEVICE.
 *
 * Kernels follow the CPU kernels' conventions (the headers in kernels/cpu): pointers, sizes and strides in
 * elements, never lr_tensor, never allocate; they are asynchronous on the given stream (NULL means
 * the context's stream) and return after checking the launch.
 */
#ifndef LR_KCUDA_H
#define LR_KCUDA_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#include "kernels/cpu/elementwise.h"
#include "tensor/dtype.h"
#include "tensor/status.h"

/* Same types as cudaStream_t and cublasHandle_t, nameable from C without CUDA's headers. */
typedef struct CUstream_st *lr_cuda_stream_t;
typedef struct cublasContext *lr_cublas_t;

/* ---- runtime ---- */
/* Number of CUDA devices (0 without a driver or device). Never fails; probes once. */
int lr_cuda_device_count(void);
/* true when a device is present and the context can be created. */
bool lr_cuda_available(void);
/* "NVIDIA H200, sm_90, 140 GiB" for device 0, or "none". */
const char *lr_cuda_device_name(void);
/* Creates the context if needed. LR_ERR_DEVICE with the reason ("no CUDA driver",
 * "no CUDA device") when CUDA cannot be used. */
lr_status lr_cuda_init(void);
/* The context's stream (NULL before lr_cuda_init succeeded). */
lr_cuda_stream_t lr_cuda_stream(void);
/* The context's cuBLAS handle, bound to the stream, created on first call. */
lr_status lr_cuda_blas(lr_cublas_t *out);
/* cuBLAS is loaded with dlopen on first use (kernels/cuda/cublas_lazy.cu says why): NULL once it
 * is loaded (loading it now if needed), else the loader's message. Needs no GPU. */
const char *lr_cublas_load_error(void);
/* TF32 tensor cores for F32 matmuls: off by default so F32 results match the CPU. */
void lr_cuda_set_tf32(bool on);
bool lr_cuda_tf32(void);
/* Waits for all work queued on the stream; reports asynchronous errors of earlier kernels. */
lr_status lr_cuda_synchronize(void);

/* ---- caching allocator ----
 * Requests are rounded to size classes: multiples of 512 B up to 1 MiB, multiples of 2 MiB up to
 * 64 MiB, then four classes per power of two (waste at most 25%). A freed block goes to its
 * class's free list and serves the next request of that class, so a training loop stops calling
 * cudaMalloc after its first step. Reuse needs no synchronisation because all work runs on the one
 * stream. When cudaMalloc fails, the cache is emptied and the call retried once.
 * LRNNX_CUDA_NO_CACHE=1 in the environment (read at context creation): exact-size allocations
 * that are cudaFree'd at once, for compute-sanitizer. */
typedef struct {
  size_t current_bytes;  /* held by live allocations (rounded sizes) */
  size_t peak_bytes;     /* maximum of current_bytes since start or lr_cuda_reset_peak */
  size_t cached_bytes;   /* held in the free lists */
  uint64_t n_alloc;      /* allocation requests */
  uint64_t n_cache_hits; /* requests served from a free list */
  uint64_t n_cuda_malloc; /* cudaMalloc calls */
  uint64_t n_cuda_free;   /* cudaFree calls */
  bool caching;          /* false under LRNNX_CUDA_NO_CACHE=1 */
} lr_cuda_memstats;
void lr_cuda_mem_stats(lr_cuda_memstats *out);
void lr_cuda_reset_peak(void);
/* Returns every cached block to the driver (after synchronising the stream). */
lr_status lr_cuda_empty_cache(void);
/* The size a request of `bytes` is rounded to (for tests and tools). */
size_t lr_cuda_size_class(size_t bytes);

/* Device memory from the cache (these are also the tensor layer's hooks). */
lr_status lr_cuda_alloc(size_t bytes, void **ptr);
void lr_cuda_free(void *ptr);
/* Copies on the stream. h2d returns once src may be reused; d2h returns once dst holds the data
 * (large copies go through a pinned staging buffer); d2d and memset0 are asynchronous. */
lr_status lr_cuda_memcpy_h2d(void *dst, const void *src, size_t bytes);
lr_status lr_cuda_memcpy_d2h(void *dst, const void *src, size_t bytes);
lr_status lr_cuda_memcpy_d2d(void *dst, const void *src, size_t bytes);
lr_status lr_cuda_memset0(void *dst, size_t bytes);

/* ---- kernels ---- */
/* out = a (k) b with broadcasting; mirrors lr_kcpu_binary.
 * out: contiguous, shape[ndim]; a, b: strides in elements in out's dim space (0 = broadcast).
 * dt: F32, F64, C64, C128. Real results are bitwise equal to the CPU's; complex mul/div may
 * differ in the last bit (the GPU fuses multiply-adds). */
lr_status lr_kcuda_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as,
                          const void *b, const int64_t *bs, int ndim, const int64_t *shape, lr_cuda_stream_t s);

/* dst[0..n) = value (re + i im for complex; integers truncate, bool is value != 0). Any dtype. */
lr_status lr_kcuda_fill(lr_dtype dt, void *dst, int64_t n, double re, double im, lr_cuda_stream_t s);

/* dst += src reduced over broadcast dims; mirrors lr_kcpu_acc_broadcast.
 * src: contiguous, shape ss[ndim]; dst: strides dstr[ndim] in elements in src's dim space (0 along
 * dims that dst broadcasts over). dt: F32, F64, C64, C128.
 * Deterministic, no atomics: each dst element is summed by one thread in src's row-major order
 * (bitwise equal to the CPU) when there are many dst elements or short reductions; otherwise by
 * one block, each thread summing a fixed strided subset and a fixed tree combining them. */
lr_status lr_kcuda_acc_broadcast(lr_dtype dt, void *dst, const int64_t *dstr, const void *src, int ndim,
                                 const int64_t *ss, lr_cuda_stream_t s);

/* ==== shape family: strided copies, fills, index and scan kernels (copy.cu, shape.cu) ====
 * Sizes are in elements; index arrays are int64 on the device, already range-checked by the op.
 * Every backward kernel is deterministic without atomics: each destination element is summed by
 * one thread in a fixed order (the CPU's order wherever that order is the CPU kernel's). */

/* The tensor layer's strided_copy hook: dst[i] = src[i] over shape[ndim]; strides in elements,
 * any sign, src may have zero strides; es in {1, 2, 4, 8, 16}. Same device, any dtype. */
lr_status lr_cuda_strided_copy(void *dst, const int64_t *dst_strides, const void *src, const int64_t *src_strides,
                               int ndim, const int64_t *shape, size_t es);
/* The fill hook: dst[0..n) = the es bytes at elem (host memory); dst contiguous. */
lr_status lr_cuda_fill(void *dst, int64_t n, const void *elem, size_t es);

/* out[o, j, q] = x[o, idx[j], q]. x: contiguous (outer, nsrc, inner), out: contiguous
 * (outer, nidx, inner), idx: (nidx) int64 on the device. Any element size es (1..16). */
lr_status lr_kcuda_index_select(size_t es, void *out, const void *x, int64_t outer, int64_t nsrc, int64_t inner,
                                const int64_t *idx, int64_t nidx, lr_cuda_stream_t s);

/* gx[o, rows[u], q] += sum over p in [start[u], start[u + 1]) of g[o, js[p], q], terms added in
 * order of p: the backward of index_select and embedding, with the index inverted on the host
 * into nu segments (one per distinct destination row; js ascending within a segment, so terms come
 * in index order as on the CPU, and the result is bitwise equal to lr_kcpu_index_add).
 * gx: contiguous (outer, nsrc, inner); g: contiguous (outer, nidx, inner); rows (nu),
 * start (nu + 1), js (start[nu]): int64 on the device. dt: F32, F64, C64, C128. */
lr_status lr_kcuda_index_add_segments(lr_dtype dt, void *gx, const void *g, int64_t outer, int64_t nsrc,
                                      int64_t inner, int64_t nidx, const int64_t *rows, const int64_t *start,
                                      const int64_t *js, int64_t nu, lr_cuda_stream_t s);

/* out[c] = x[c with c[dim] replaced by idx[c]] for every multi-index c of ishape (gather).
 * x: strides xstr[ndim]; idx (int64 on the device), out: contiguous ishape[ndim]. Any es. */
lr_status lr_kcuda_gather(size_t es, void *out, const void *x, const int64_t *xstr, const int64_t *idx, int ndim,
                          const int64_t *ishape, int dim, lr_cuda_stream_t s);

/* gx[c with c[dim] replaced by idx[c]] += g[c] (gather's backward): one thread per position off
 * dim walks the index dim in order, as the CPU does, so results are bitwise equal to
 * lr_kcpu_scatter_add. gx: strides gxstr[ndim]; idx, g: contiguous ishape[ndim].
 * dt: F32, F64, C64, C128. */
lr_status lr_kcuda_scatter_add(lr_dtype dt, void *gx, const int64_t *gxstr, const void *g, const int64_t *idx,
                               int ndim, const int64_t *ishape, int dim, lr_cuda_stream_t s);

/* Inclusive prefix sum along the middle dim (reverse: suffix sum, cumsum's backward).
 * x, out: contiguous (outer, n, inner); out may equal x. dt: F32, F64, C64, C128.
 * work: lr_kcuda_cumsum_work_bytes(...) bytes of device scratch (NULL when that is 0). With many
 * columns (outer * inner) each thread scans one column serially, bitwise equal to the CPU; with
 * few long columns the column is cut into fixed chunks (sum each chunk, scan the chunk sums,
 * rescan each chunk from its carry), deterministic but rounded differently from the CPU. */
size_t lr_kcuda_cumsum_work_bytes(lr_dtype dt, int64_t outer, int64_t n, int64_t inner);
lr_status lr_kcuda_cumsum(lr_dtype dt, void *out, const void *x, int64_t outer, int64_t n, int64_t inner,
                          int reverse, void *work, lr_cuda_stream_t s);
/* ==== end of the shape family's section ==== */

#ifdef __cplusplus
}
#endif

#endif
