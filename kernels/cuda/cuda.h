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
#include "kernels/cpu/scan.h"
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
/* Device 0's special-function (exp2, sin, cos, rcp) results per second at its top clock: SMs × 16
 * per clock (every architecture since sm_50) × clock; 0 when there is no device. */
double lr_cuda_sfu_peak(void);
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
  uint64_t n_sync;        /* host waits on the stream: lr_cuda_memcpy_d2h (every device-to-host read, e.g.
                             lr_tensor_get), lr_cuda_synchronize, lr_cuda_empty_cache */
  uint64_t n_h2d;         /* lr_cuda_memcpy_h2d calls (host data uploaded) */
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
 * dt: F32, F64, C64, C128 (POW, MAX, MIN: F32, F64). Bitwise equal to the CPU's except POW
 * (CUDA's pow, within a few ulp). */
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


/* ==== functional ops (kernels/cuda/functional.cu; h-cfunc) ====
 * Mirrors kernels/cpu/functional.h: contiguous pointers, dt F32 or F64 (else LR_ERR_DTYPE), the
 * same math in double with the same operations; backward kernels OVERWRITE their outputs.
 * Asynchronous on the stream; nothing here synchronises. Scratch memory ("work") is the caller's
 * (device memory of the stated size). Deterministic: fixed reduction orders (see the .cu file). */
lr_status lr_kcuda_softmax(lr_dtype dt, bool log, const void *x, void *y, int64_t outer, int64_t D, int64_t inner,
                           lr_cuda_stream_t s);
lr_status lr_kcuda_softmax_bwd(lr_dtype dt, bool log, const void *y, const void *g, void *dx, int64_t outer, int64_t D,
                               int64_t inner, lr_cuda_stream_t s);
/* Bytes of device scratch lr_kcuda_cross_entropy needs for N * S rows. */
size_t lr_kcuda_cross_entropy_work(int64_t rows);
/* x (N, C, S), tgt (N, S) i64 on the device. loss: a device scalar of dt, = sum over kept rows of
 * [lse - (1 - eps) x_t - eps mean_c x_c] / count (count 0: NaN); info (2) device i64: info[0] =
 * count of kept rows, info[1] = the first row whose target is neither ignore nor in [0, C), or -1
 * (such rows are skipped, the op reports the error). */
lr_status lr_kcuda_cross_entropy(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S,
                                 int64_t ignore, double eps, void *loss, int64_t *info, void *work, lr_cuda_stream_t s);
/* dx (N, C, S) = g[0] / count * (softmax(x) - (1 - eps) onehot(t) - eps / C) on kept rows, 0 on
 * ignored ones; g: the device scalar (dt) of the loss's gradient; count 0 gives 0. */
lr_status lr_kcuda_cross_entropy_bwd(lr_dtype dt, const void *x, const int64_t *tgt, int64_t N, int64_t C, int64_t S,
                                     int64_t ignore, double eps, const void *g, int64_t count, void *dx,
                                     lr_cuda_stream_t s);
lr_status lr_kcuda_layer_norm(lr_dtype dt, const void *x, const void *w, const void *b, void *y, double *mean,
                              double *rstd, int64_t rows, int64_t H, double eps, lr_cuda_stream_t s);
lr_status lr_kcuda_rms_norm(lr_dtype dt, const void *x, const void *w, void *y, double *rstd, int64_t rows, int64_t H,
                            double eps, lr_cuda_stream_t s);
lr_status lr_kcuda_norm_bwd(lr_dtype dt, const void *x, const void *w, const double *mean, const double *rstd,
                            const void *g, void *dx, int64_t rows, int64_t H, lr_cuda_stream_t s);
/* Doubles of device scratch lr_kcuda_norm_param_bwd needs. */
int64_t lr_kcuda_norm_param_work(int64_t rows, int64_t H);
lr_status lr_kcuda_norm_param_bwd(lr_dtype dt, const void *x, const double *mean, const double *rstd, const void *g,
                                  void *dw, void *db, int64_t rows, int64_t H, double *work, lr_cuda_stream_t s);
/* Bytes of device scratch lr_kcuda_mse needs (any n). */
size_t lr_kcuda_mse_work(void);
/* out (n), if not NULL, gets (x - t)^2; loss, if not NULL, a device scalar of dt, gets the sum,
 * divided by n when mean (n = 0: NaN). */
lr_status lr_kcuda_mse(lr_dtype dt, const void *x, const void *t, void *out, void *loss, bool mean, int64_t n,
                       void *work, lr_cuda_stream_t s);
lr_status lr_kcuda_mse_bwd(lr_dtype dt, const void *x, const void *t, const void *g, int64_t g_step, double scale,
                           void *dx, void *dtgt, int64_t n, lr_cuda_stream_t s);
lr_status lr_kcuda_mul_scaled(lr_dtype dt, const void *a, const void *b, double scale, void *y, int64_t n,
                              lr_cuda_stream_t s);
/* Dropout with the mask drawn on the GPU exactly as lr_rand_bernoulli_(mask, keep, rng) draws it
 * for rng = (seed, offset): mask[i] = draw(seed, offset + i) * 2^-32 < keep ? 1 : 0, then
 * y = x * mask * (T)scale. The caller advances the rng's offset by n. */
lr_status lr_kcuda_dropout(lr_dtype dt, const void *x, void *mask, void *y, int64_t n, double keep, double scale,
                           uint64_t seed, uint64_t offset, lr_cuda_stream_t s);

/* ==== optimizers (kernels/cuda/optim.cu; h-cfunc) ====
 * Mirror kernels/cpu/optim.h on n contiguous reals (complex: 2n), F32 or F64, in place, with the
 * same per-element operations (each rounded: optim.cu is compiled with -fmad=false), so updates
 * are bitwise equal to the CPU's. Scalars as in lr_adam_args / lr_sgd_args. */
lr_status lr_kcuda_adam(lr_dtype dt, int64_t n, void *p, const void *g, void *m, void *v, double lr, double beta1,
                        double beta2, double eps, double weight_decay, int decoupled, double bias_correction1,
                        double bias_correction2_sqrt, lr_cuda_stream_t s);
lr_status lr_kcuda_sgd(lr_dtype dt, int64_t n, void *p, const void *g, void *buf, double lr, double momentum,
                       double dampening, double weight_decay, int nesterov, int first, lr_cuda_stream_t s);
/* Doubles of device scratch lr_kcuda_sumsq needs (any n). */
int64_t lr_kcuda_sumsq_work(void);
/* *out (a device double) = sum x[i]^2 in double over n reals: deterministic two-pass sum. */
lr_status lr_kcuda_sumsq(lr_dtype dt, int64_t n, const void *x, double *out, double *work, lr_cuda_stream_t s);
/* x[i] *= s over n reals (f32: multiplied by (float)s, as the CPU). */
lr_status lr_kcuda_scale(lr_dtype dt, int64_t n, void *x, double scale, lr_cuda_stream_t s);

/* ==== linear algebra, reductions, timing (kernels/cuda/linalg.cu, kernels/cuda/reduce.cu) ==== */

/* ---- matrix products (linalg.cu) ---- */
#define LR_KCUDA_GEMM_MAX_BATCH 8

/* One operand of a batched product, as lr_kcpu_mat: element [b..., i, j] is
 * data[sum_d b_d * bs[d] + i * rs + j * cs], conjugated when conj. bs[d] = 0 broadcasts it. */
typedef struct {
  const void *data;
  int64_t rs, cs;
  int64_t bs[LR_KCUDA_GEMM_MAX_BATCH];
  bool conj;
} lr_kcuda_mat;

/* C[b] = X[b] @ Y[b] (+ beta C[b]) over a batch of shape bshape[nb] (nb <= LR_KCUDA_GEMM_MAX_BATCH),
 * the CUDA twin of lr_kcpu_gemm_batched: X (M, K), Y (K, N) per batch; C (M, N) with row stride
 * crs, unit column stride and batch strides cbs. A C batch stride of 0 sums the products over that
 * dim (deterministically: folded into K where memory allows, else per-batch products into scratch
 * and a fixed-order sum; beta must then be 1). Any operand layout is taken: one cuBLAS cannot read
 * (not unit-stride in either matrix dim, or conjugated without a transpose, which cuBLAS lacks) is
 * first packed into scratch. dt: F32, F64, C64, C128; F32 and C64 use TF32 tensor cores only when
 * lr_cuda_set_tf32(true). scratch: lr_kcuda_gemm_scratch(...) bytes of device memory (NULL if 0). */
size_t lr_kcuda_gemm_scratch(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                             const lr_kcuda_mat *X, const lr_kcuda_mat *Y, int64_t crs, const int64_t *cbs);
lr_status lr_kcuda_gemm_batched(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                                const lr_kcuda_mat *X, const lr_kcuda_mat *Y, void *C, int64_t crs, const int64_t *cbs,
                                double beta, void *scratch, size_t scratch_bytes, lr_cuda_stream_t s);

/* dst (contiguous over shape[ndim], ndim <= 2 * LR_MAX_DIMS) = src read through strides sstr,
 * conjugated when conj (complex only). Any dtype (conj only for C64 / C128). */
lr_status lr_kcuda_pack(lr_dtype dt, void *dst, const void *src, int ndim, const int64_t *shape, const int64_t *sstr,
                        bool conj, lr_cuda_stream_t s);

/* y[r, j] = b[j * bs] for r < R, j < O (y contiguous (R, O)): the bias of linear. F32..C128. */
lr_status lr_kcuda_fill_rows(lr_dtype dt, void *y, int64_t R, int64_t O, const void *b, int64_t bs,
                             lr_cuda_stream_t s);

/* The benchmark's reference: C = A @ B, row-major contiguous f32 (M, K) @ (K, N), through
 * cublasSgemm on the context's handle and stream (same math mode as lr_matmul). */
lr_status lr_kcuda_sgemm_ref(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C);

/* ---- reductions (reduce.cu) ----
 * A reduction's view of x as for lr_kcpu_reduce_sum: kept dims (nk, kshape, kstr) in output order,
 * reduced dims (nr, rshape, rstr) sorted by decreasing stride; out contiguous over kshape.
 *   out[o] = scale * sum_r x[o, r]                        (center NULL; F32, F64, C64, C128)
 *   out[o] = scale * sum_r (x[o, r] - center[o])^2        (center contiguous over kshape; F32, F64)
 * F32 and C64 accumulate in double (as the CPU does), so F32 results match the CPU's to within one
 * rounding of the float result. Deterministic: the terms of each output are split into a number
 * of chunks that depends on the shapes only, each chunk summed by a fixed set of threads in a
 * fixed order and a fixed tree, the chunk partials (in scratch) added by a fixed tree. No atomics.
 * scratch: lr_kcuda_reduce_scratch(...) bytes (0: none needed, pass NULL). */
size_t lr_kcuda_reduce_scratch(lr_dtype dt, int nk, const int64_t *kshape, const int64_t *kstr, int nr,
                               const int64_t *rshape, const int64_t *rstr);
lr_status lr_kcuda_reduce_sum(lr_dtype dt, void *out, const void *x, const void *center, int nk, const int64_t *kshape,
                              const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr, double scale,
                              void *scratch, size_t scratch_bytes, lr_cuda_stream_t s);

/* values[o] / idx[o]: the first max (is_max) or min of x along one dim of size L >= 1 and stride ls;
 * o runs over the other dims (nk, kshape, kstr), row-major, values and idx contiguous. A NaN is the
 * extreme (the first NaN wins), as on the CPU; results are bitwise the CPU's. values may be NULL.
 * F32, F64. scratch: lr_kcuda_argext_scratch(...) bytes. */
size_t lr_kcuda_argext_scratch(int nk, const int64_t *kshape, const int64_t *kstr, int64_t L, int64_t ls);
lr_status lr_kcuda_argext(lr_dtype dt, bool is_max, void *values, int64_t *idx, const void *x, int nk,
                          const int64_t *kshape, const int64_t *kstr, int64_t L, int64_t ls, void *scratch,
                          size_t scratch_bytes, lr_cuda_stream_t s);

/* Backwards, mirroring kernels/cpu/reduce.h (bitwise equal to the CPU: one rounding per step, no
 * fused multiply-adds):
 * dx += scale * g[bcast] (center NULL), or dx += scale * g[bcast] * (x - center[bcast]) (real);
 * dx contiguous (ndim, shape), g and center through strides gs (0 along reduced dims), x through xs. */
lr_status lr_kcuda_expand_acc(lr_dtype dt, void *dx, int ndim, const int64_t *shape, const void *g, const int64_t *gs,
                              double scale, const void *x, const int64_t *xs, const void *center, lr_cuda_stream_t s);
/* dx[o, idx[o, i], i] += g[o, i]: dx contiguous (no, L, ni), g and idx contiguous (no, ni). F32, F64. */
lr_status lr_kcuda_scatter_acc(lr_dtype dt, void *dx, const void *g, const int64_t *idx, int64_t no, int64_t L,
                               int64_t ni, lr_cuda_stream_t s);

/* ---- timing (linalg.cu; for benchmarks) ----
 * An event pair on the context's stream: lr_cuda_timer_start records the first, lr_cuda_timer_stop
 * records the second, waits for it and returns the milliseconds between them. */
typedef struct lr_cuda_timer lr_cuda_timer;
lr_status lr_cuda_timer_new(lr_cuda_timer **out);
void lr_cuda_timer_free(lr_cuda_timer *t);
lr_status lr_cuda_timer_start(lr_cuda_timer *t);
lr_status lr_cuda_timer_stop(lr_cuda_timer *t, double *ms);

/* ==== elementwise and complex families (kernels/cuda/elementwise.cu, complex.cu) ====
 * GPU twins of kernels/cpu/elementwise.h and kernels/cpu/complex.h, same arguments plus a stream
 * (NULL: the context's). Outputs contiguous; inputs strided in the output's dims (0 along
 * broadcast dims). Formulas are the CPU's with products and sums rounded one at a time, so results
 * are bitwise equal to the CPU's wherever no library function (exp, log, tanh, erf, pow, atan2,
 * hypot ...) is involved, and within a few ulp of it otherwise. */

/* Gradients of MUL, DIV, POW, MAX, MIN in the broadcast shape; mirrors lr_kcpu_binary_bwd.
 * ga, gb: contiguous (either may be NULL); g, y: contiguous upstream gradient and forward output. */
lr_status lr_kcuda_binary_bwd(lr_binary_kind k, lr_dtype dt, void *ga, void *gb, const void *g, const void *a,
                              const int64_t *as, const void *b, const int64_t *bs, const void *y, int ndim,
                              const int64_t *shape, lr_cuda_stream_t s);
/* y = f(x); mirrors lr_kcpu_unary. y: contiguous (real for ABS of complex); x: strides xs. */
lr_status lr_kcuda_unary(lr_unary_kind k, lr_dtype dt, void *y, const void *x, const int64_t *xs, int ndim,
                         const int64_t *shape, double p0, double p1, lr_cuda_stream_t s);
/* gx = g f'(x) (complex: g conj(f'(x))); mirrors lr_kcpu_unary_bwd. gx, g, y: contiguous. */
lr_status lr_kcuda_unary_bwd(lr_unary_kind k, lr_dtype dt, void *gx, const void *g, const void *x, const int64_t *xs,
                             const void *y, int ndim, const int64_t *shape, double p0, double p1,
                             lr_cuda_stream_t s);
/* out = cond ? a : b, elements of esize bytes (1, 2, 4, 8, 16); mirrors lr_kcpu_where. */
lr_status lr_kcuda_where(size_t esize, void *out, const uint8_t *cond, const int64_t *cs, const void *a,
                         const int64_t *as, const void *b, const int64_t *bs, int ndim, const int64_t *shape,
                         lr_cuda_stream_t s);
/* ga = cond ? g : 0, gb = cond ? 0 : g (either may be NULL); dt: F32, F64, C64, C128. */
lr_status lr_kcuda_where_bwd(lr_dtype dt, void *ga, void *gb, const void *g, const uint8_t *cond, const int64_t *cs,
                             int ndim, const int64_t *shape, lr_cuda_stream_t s);
/* out (BOOL) = a (cmp) b; dt: F32, F64, I32, I64. */
lr_status lr_kcuda_compare(lr_compare_kind k, lr_dtype dt, uint8_t *out, const void *a, const int64_t *as,
                           const void *b, const int64_t *bs, int ndim, const int64_t *shape, lr_cuda_stream_t s);
/* out = re + i im; dt is the parts' dtype (F32 -> C64 out, F64 -> C128); re or im may be NULL. */
lr_status lr_kcuda_complex_make(lr_dtype dt, void *out, const void *re, const int64_t *rs, const void *im,
                                const int64_t *is, int ndim, const int64_t *shape, lr_cuda_stream_t s);
/* out = part(z), k an lr_cpart_kind (kernels/cpu/complex.h); dt: C64, C128. */
lr_status lr_kcuda_complex_part(int k, lr_dtype dt, void *out, const void *z, const int64_t *zs, int ndim,
                                const int64_t *shape, lr_cuda_stream_t s);
/* gz = g i z / |z|^2 (0 at z = 0); gz contiguous complex, g contiguous real; dt: C64, C128. */
lr_status lr_kcuda_angle_bwd(lr_dtype dt, void *gz, const void *g, const void *z, const int64_t *zs, int ndim,
                             const int64_t *shape, lr_cuda_stream_t s);
/* ==== end elementwise and complex families ==== */
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

/* ==== FFT, LTI, causal conv1d, S4 kernels (kernels/cuda/fft.cu, cufft_lazy.cu, lti.cu, conv1d.cu,
 * s4.cu; h-clti) ====
 * Twins of kernels/cpu/{fft,lti,conv1d,s4}.h: contiguous arrays, the same shapes and math; every
 * sum over batch or time is done by one thread or one block in a fixed order (no atomics), so
 * results are bitwise reproducible run to run. "work" is device scratch of the size the matching
 * *_work function gives (the ops take it from the arena). Asynchronous on the stream. */
/* cuFFT is loaded with dlopen on first use (cufft_lazy.cu): NULL once loaded, else why not. */
const char *lr_cufft_load_error(void);
/* Bytes of work for lr_kcuda_fft_c over `lines` = outer * inner lines of size n (c64 / c128);
 * makes (and caches) the cuFFT plan, hence a status. */
lr_status lr_kcuda_fft_c_work(lr_dtype dt, int64_t n, int64_t lines, size_t *bytes);
/* y[o, j, i] = scale * sum_{t < m_in} x[o, t, i] exp(sign 2 pi i j t / n), j < m_out; as lr_kcpu_fft_c. */
lr_status lr_kcuda_fft_c(lr_dtype dt, bool inverse, int64_t n, int64_t outer, int64_t m_in, int64_t m_out,
                         int64_t inner, const void *x, void *y, double scale, void *work, size_t work_bytes,
                         lr_cuda_stream_t s);
/* Bytes of work for the real FFT convolution of B x H lines at FFT size n (bwd: the backward). */
lr_status lr_kcuda_fft_conv_work(lr_dtype dt, int64_t B, int64_t H, int64_t n, bool bwd, size_t *bytes);
/* As lr_kcpu_fft_conv_fwd / _bwd (f32 / f64): x, y, g, dx (B, L, H), k, dk (H, Lk). */
lr_status lr_kcuda_fft_conv_fwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const void *x,
                                const void *k, void *y, void *work, size_t work_bytes, lr_cuda_stream_t s);
lr_status lr_kcuda_fft_conv_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t H, int64_t Lk, int64_t n, const void *x,
                                const void *k, const void *g, void *dx, void *dk, void *work, size_t work_bytes,
                                lr_cuda_stream_t s);
/* Destroys the cached cuFFT plans (after synchronising the stream). */
void lr_kcuda_fft_clear_cache(void);

/* LTI (lti.cu), F32 / F64 / C64 / C128, arithmetic in double: as lr_kcpu_lti_*.
 * K[n, l] = A[n]^l; dA[n] = sum_l l g[n, l] conj(K[n, l-1]). */
lr_status lr_kcuda_lti_kernel(lr_dtype dt, int64_t N, int64_t L, const void *A, void *K, lr_cuda_stream_t s);
lr_status lr_kcuda_lti_kernel_bwd(lr_dtype dt, int64_t N, int64_t L, const void *K, const void *g, void *dA,
                                  lr_cuda_stream_t s);
lr_status lr_kcuda_lti_scan(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *u, const void *A, void *h,
                            lr_cuda_stream_t s);
/* Bytes of work for lr_kcuda_lti_scan_bwd. */
size_t lr_kcuda_lti_scan_bwd_work(int64_t B, int64_t N);
lr_status lr_kcuda_lti_scan_bwd(lr_dtype dt, int64_t B, int64_t L, int64_t N, const void *A, const void *h,
                                const void *g, void *du, void *dA, void *work, lr_cuda_stream_t s);

/* Causal depthwise conv1d (conv1d.cu), F32 / F64, arithmetic in double: as lr_kcpu_causal_conv1d_*. */
lr_status lr_kcuda_causal_conv1d_fwd(lr_dtype dt, int64_t B, int64_t D, int64_t L, int64_t K, const void *x,
                                     const void *w, const void *bias, const void *s0, bool silu, void *y, void *state,
                                     lr_cuda_stream_t s);
/* Bytes of work for lr_kcuda_causal_conv1d_bwd. */
size_t lr_kcuda_causal_conv1d_bwd_work(int64_t B, int64_t D, int64_t L, int64_t K);
lr_status lr_kcuda_causal_conv1d_bwd(lr_dtype dt, int64_t B, int64_t D, int64_t L, int64_t K, const void *x,
                                     const void *w, const void *bias, const void *s0, bool silu, const void *g,
                                     const void *gs, void *dx, void *dw, void *dbias, void *ds0, void *work,
                                     lr_cuda_stream_t s);
lr_status lr_kcuda_causal_conv1d_step(lr_dtype dt, int64_t B, int64_t D, int64_t K, const void *x, void *state,
                                      const void *w, const void *bias, bool silu, void *y, lr_cuda_stream_t s);

/* S4 kernels (s4.cu), C64 / C128, arithmetic in double: as lr_kcpu_cauchy / log_vandermonde*. */
lr_status lr_kcuda_cauchy(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z, const void *w,
                          void *out, lr_cuda_stream_t s);
lr_status lr_kcuda_cauchy_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *z,
                              const void *w, const void *g, void *dv, void *dw, void *dz, lr_cuda_stream_t s);
lr_status lr_kcuda_log_vandermonde(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *x,
                                   void *out, lr_cuda_stream_t s);
lr_status lr_kcuda_log_vandermonde_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *v, const void *x,
                                       const void *g, void *dv, void *dx, lr_cuda_stream_t s);
lr_status lr_kcuda_log_vandermonde_t(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u, const void *v,
                                     const void *x, void *out, lr_cuda_stream_t s);
lr_status lr_kcuda_log_vandermonde_t_bwd(lr_dtype dt, int64_t Bt, int64_t N, int64_t L, const void *u, const void *v,
                                         const void *x, const void *g, void *du, void *dv, void *dx,
                                         lr_cuda_stream_t s);
/* ==== end h-clti ==== */

/* ==== scans and discretization (kernels/cuda/scan.cu; h-cscan) ====
 * CUDA twins of kernels/cpu/scan.h and kernels/cpu/discretize.h: same argument structs, device
 * pointers, asynchronous on the stream, no allocation (the backward's scratch is the caller's).
 * Deterministic (no atomics); launch layout and math at the top of scan.cu. */
/* The largest checkpoint chunk the CUDA backward takes (ops clamp lr_scan_opts.chunk to it, and
 * use it as the default on the GPU): a backward tile (32 lanes x 4 steps in F64/C128, x 8 in
 * F32/C64) must start at a checkpoint. */
#define LR_KCUDA_SCAN_MAX_CHUNK 128
/* Selective scan: any N whose forward carries fit in shared memory (N <= ~12000 F32, ~3000
 * C128; LR_ERR_UNSUPPORTED beyond), 1 <= chunk <= LR_KCUDA_SCAN_MAX_CHUNK.
 * y, hL (may alias h0), ckpt (may be NULL) as lr_kcpu_scan_fwd. */
lr_status lr_kcuda_scan_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, lr_cuda_stream_t s);
/* Channels per warp of the forward with variable B and C (1 or 4; others ignored); returns the
 * previous setting. The default comes from the environment variable LRNNX_SCAN_CPW (1 or 4), read
 * once, else 4. Results are bitwise the same for both (top of scan.cu); for tests and benches. */
int lr_kcuda_scan_set_cpw(int cpw);
/* Which selective-scan kernels run: 0 auto (scan_mamba.cu's kernels for F32 Mamba problems: the
 * forward always, the backward with channels enough (48 or 96 threads an SM) or a short sequence; the
 * channel-sequential forward of scan_seq.cu for complex scans with channels enough or a short
 * sequence; the time-parallel tile kernels of scan.cu otherwise), 1 the
 * sequential ones of scan_seq.cu wherever they can, 2 always the tile kernels, 3 the Mamba kernels
 * wherever they can (whatever the size; auto otherwise). The default comes from LRNNX_SCAN_PATH
 * (auto, seq, tile, mamba), read once. Returns the previous setting; for tests and benches (results
 * agree to rounding, each is deterministic). */
int lr_kcuda_scan_set_path(int path);
/* The checkpoint spacing the GPU backward wants for this problem (16 where the Mamba backward runs,
 * 32 where the sequential one does, LR_KCUDA_SCAN_MAX_CHUNK otherwise); reads shapes and flags only. */
int64_t lr_kcuda_scan_chunk(const lr_scan_in *a);
/* Device scratch bytes lr_kcuda_scan_bwd needs. */
size_t lr_kcuda_scan_ws_bytes(const lr_scan_in *a);
/* As lr_kcpu_scan_bwd: every gradient in g fully written (dB/dC per-batch partials when fixed). */
lr_status lr_kcuda_scan_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws,
                            lr_cuda_stream_t s);
/* dst[m] = Σ_b src[b, m] in order b = 0, 1, ... (bitwise the CPU's lr_kcpu_sum_leading). */
lr_status lr_kcuda_sum_leading(lr_dtype rdt, int64_t Bn, int64_t M, const void *src, void *dst, lr_cuda_stream_t s);
/* Diagonal scan, as lr_kcpu_dscan_fwd / lr_kcpu_dscan_bwd. */
lr_status lr_kcuda_dscan_fwd(const lr_dscan_in *a, void *h, void *hL, lr_cuda_stream_t s);
lr_status lr_kcuda_dscan_bwd(const lr_dscan_in *a, const void *h, const void *gh, const void *ghL, void *dx,
                             void *dlam_p, void *ddelta, void *ddeltaA, void *dh0, lr_cuda_stream_t s);
/* dst[p] = Σ_b Σ_t src[b, p, t] (in double, the CPU's order). */
lr_status lr_kcuda_sum_bl(lr_dtype rdt, int64_t Bn, int64_t P, int64_t L, const void *src, void *dst,
                          lr_cuda_stream_t s);
/* S5 readout and its backward, as lr_kcpu_s5_readout(_bwd). */
lr_status lr_kcuda_s5_readout(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *yc, const void *u,
                              const void *D, void *y, lr_cuda_stream_t s);
lr_status lr_kcuda_s5_readout_bwd(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *g,
                                  const void *u, const void *D, void *dyc, void *du, void *dD_p, lr_cuda_stream_t s);
/* Elementwise discretization, as lr_kcpu_discretize(_bwd) (ndim <= LR_MAX_DIMS). */
lr_status lr_kcuda_discretize(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam,
                              const int64_t *ls, const void *d, const int64_t *ds, const void *dA, const int64_t *dAs,
                              void *abar, void *bbar, lr_cuda_stream_t s);
lr_status lr_kcuda_discretize_bwd(lr_dtype dt, int kind, int ndim, const int64_t *shape, const void *lam,
                                  const int64_t *ls, const void *d, const int64_t *ds, const void *dA,
                                  const int64_t *dAs, const void *gA, const void *gB, void *dlam, void *dd, void *ddA,
                                  lr_cuda_stream_t s);

#ifdef __cplusplus
}
#endif

#endif
