/* Matrix products on the GPU through cuBLAS: the batched driver behind lr_matmul and lr_linear on
 * CUDA tensors (the twin of kernels/cpu/linalg.c), the strided pack they need, the bias fill, and
 * a cudaEvent timer for benchmarks.
 *
 *   C[b] = X[b] @ Y[b] + beta C[b],  X (M, K), Y (K, N), C (M, N) row-major with strides.
 *
 * cuBLAS is column-major: a row-major (M, N) matrix with row stride ld is, read column-major, its
 * transpose with leading dimension ld. So the row-major product C = X Y is issued as the
 * column-major product C^T = Y^T X^T: m = N, n = M, A = Y, B = X. An operand with unit column
 * stride (row-major rows) goes in as op N with ld = its row stride; one with unit row stride (a
 * transposed view such as x.T) as op T with ld = its column stride, or op C when it is conjugated
 * (the backward's B^H, A^H). cuBLAS has no "conjugate, no transpose" (CUBLAS_OP_CONJG is a
 * placeholder), so a conjugated operand with unit column stride, like any operand that is unit
 * stride in neither dim, is first packed (conjugated) into scratch by a strided-copy kernel (by
 * tiles through shared memory when the pack transposes: tile.cuh).
 *
 * Batch dims: as on the CPU, a dim along which Y is broadcast and X, C continue their rows is
 * folded into M ((B, L, H) @ (H, E) is one GEMM); a dim along which C is summed (stride 0: the
 * gradient of an operand broadcast over the batch) and X's columns / Y's rows continue is folded
 * into K, which sums the batch inside one GEMM. The remaining batch dims are merged where all three
 * operands allow; the innermost becomes cublasGemmStridedBatchedEx's batch (stride 0 for a
 * broadcast operand is legal there), the outer ones a loop in order. A summed dim that cannot be
 * folded is not given to cuBLAS with a zero C stride (its batches would race): the products go to
 * a contiguous scratch buffer and lr_kcuda_acc_broadcast adds them into C in a fixed order.
 *
 * Precision: F32 and C64 use CUBLAS_COMPUTE_32F (IEEE fp32 FMAs, results close to OpenBLAS's)
 * unless lr_cuda_set_tf32(true) asks for CUBLAS_COMPUTE_32F_FAST_TF32 (tensor cores, 10-bit
 * mantissa inputs); F64 and C128 use CUBLAS_COMPUTE_64F.
 * Determinism: the handle has its own fixed workspace and atomics disallowed (runtime.cu), and the
 * driver issues the same calls in the same order for the same shapes, so results repeat bitwise.
 */
#include <cublas_v2.h>
#include <cuComplex.h>

#include <new>

#include "kernels/cuda/common.cuh"
#include "kernels/cuda/tile.cuh"

namespace {

const int64_t kIntMax = 2147483647LL;
const size_t kAlign = 256;
const int kMaxB = LR_KCUDA_GEMM_MAX_BATCH;
const int kPackDims = 2 * LR_MAX_DIMS;

lr_status blas_fail(cublasStatus_t e, const char *fn, const char *what) {
  lr_status code = e == CUBLAS_STATUS_ALLOC_FAILED     ? LR_ERR_MEMORY
                   : e == CUBLAS_STATUS_NOT_SUPPORTED ? LR_ERR_UNSUPPORTED
                   : e == CUBLAS_STATUS_INVALID_VALUE ? LR_ERR_INTERNAL
                                                      : LR_ERR_DEVICE;
  return lr_fail(code, "%s: cuBLAS error %s in %s", fn, cublasGetStatusString(e), what);
}

#define BLAS_TRY(fn, expr)                                                     \
  do {                                                                         \
    cublasStatus_t bs_ = (expr);                                               \
    if (bs_ != CUBLAS_STATUS_SUCCESS) return blas_fail(bs_, fn, #expr);        \
  } while (0)

int64_t max1(int64_t v) { return v > 1 ? v : 1; }
size_t align_up(size_t b) { return (b + kAlign - 1) / kAlign * kAlign; }

/* ---- strided pack: dst contiguous = (conj) src through strides ---- */

struct PackGeom {
  int nd;
  int64_t shape[kPackDims], st[kPackDims];
};

template <typename T> __device__ __forceinline__ T conj_(T v) { return v; }
template <> __device__ __forceinline__ lr_c64 conj_(lr_c64 v) { return lr_c64_make(v.re, -v.im); }
template <> __device__ __forceinline__ lr_c128 conj_(lr_c128 v) { return lr_c128_make(v.re, -v.im); }

template <typename T, typename I, bool CONJ>
__global__ void pack_kernel(T *__restrict__ dst, const T *__restrict__ src, I n, PackGeom g) {
  for (I i = (I)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (I)blockDim.x * gridDim.x) {
    I rem = i, so = 0;
    for (int k = g.nd - 1; k >= 0; k--) {
      I sz = (I)g.shape[k];
      so += (rem % sz) * (I)g.st[k];
      rem /= sz;
    }
    T v = src[so];
    dst[i] = CONJ ? conj_(v) : v;
  }
}

/* Drops size-1 dims and merges dim k into the previous one when src is contiguous across them
 * (dst always is). Leaves at least one dim. */
void pack_collapse(int ndim, const int64_t *shape, const int64_t *st, PackGeom *g) {
  int m = 0;
  for (int k = 0; k < ndim; k++) {
    if (shape[k] == 1) continue;
    if (m > 0 && g->st[m - 1] == st[k] * shape[k]) {
      g->shape[m - 1] *= shape[k];
      g->st[m - 1] = st[k];
      continue;
    }
    g->shape[m] = shape[k];
    g->st[m] = st[k];
    m++;
  }
  if (m == 0) {
    g->shape[0] = 1;
    g->st[0] = 0;
    m = 1;
  }
  g->nd = m;
}

struct Conj {
  template <typename T> __device__ T operator()(T v) const { return conj_(v); }
};

template <typename T>
lr_status launch_pack(void *dst, const void *src, int64_t n, const PackGeom &g, bool conj, cudaStream_t s) {
  int64_t ds[kPackDims], acc = 1; /* dst is contiguous */
  for (int k = g.nd - 1; k >= 0; k--) ds[k] = acc, acc *= g.shape[k];
  lr_tile::Geom tg; /* a transposing pack: by tiles (tile.cuh) */
  if (lr_tile::plan(g.nd, g.shape, ds, g.st, &tg)) {
    if (conj) lr_tile::launch((T *)dst, (const T *)src, tg, s, Conj());
    else lr_tile::launch((T *)dst, (const T *)src, tg, s);
    return lr_cuda_check_launch("lr_kcuda_pack");
  }
  bool neg = false;
  for (int k = 0; k < g.nd; k++) neg = neg || g.st[k] < 0;
  unsigned blocks = lr_cuda_blocks(n, 256);
  bool small = !neg && n < INT32_MAX && lr_cuda_reach(g.nd, g.shape, g.st) < INT32_MAX;
  if (small) {
    if (conj) pack_kernel<T, uint32_t, true><<<blocks, 256, 0, s>>>((T *)dst, (const T *)src, (uint32_t)n, g);
    else pack_kernel<T, uint32_t, false><<<blocks, 256, 0, s>>>((T *)dst, (const T *)src, (uint32_t)n, g);
  } else {
    if (conj) pack_kernel<T, int64_t, true><<<blocks, 256, 0, s>>>((T *)dst, (const T *)src, n, g);
    else pack_kernel<T, int64_t, false><<<blocks, 256, 0, s>>>((T *)dst, (const T *)src, n, g);
  }
  return lr_cuda_check_launch("lr_kcuda_pack");
}

lr_status pack_any(lr_dtype dt, void *dst, const void *src, int ndim, const int64_t *shape, const int64_t *sstr,
                   bool conj, cudaStream_t s) {
  const char *fn = "lr_kcuda_pack";
  if (ndim < 0 || ndim > kPackDims) return lr_fail(LR_ERR_ARG, "%s: ndim is %d, expected 0..%d", fn, ndim, kPackDims);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (n == 0) return LR_OK;
  PackGeom g;
  pack_collapse(ndim, shape, sstr, &g);
  switch (dt) {
    case LR_DTYPE_F32: return launch_pack<float>(dst, src, n, g, false, s);
    case LR_DTYPE_F64: return launch_pack<double>(dst, src, n, g, false, s);
    case LR_DTYPE_C64: return launch_pack<lr_c64>(dst, src, n, g, conj, s);
    case LR_DTYPE_C128: return launch_pack<lr_c128>(dst, src, n, g, conj, s);
    case LR_DTYPE_I32: return launch_pack<int32_t>(dst, src, n, g, false, s);
    case LR_DTYPE_I64: return launch_pack<int64_t>(dst, src, n, g, false, s);
    case LR_DTYPE_BOOL: return launch_pack<uint8_t>(dst, src, n, g, false, s);
    default: return lr_fail(LR_ERR_DTYPE, "%s: unknown dtype %d", fn, (int)dt);
  }
}

/* ---- the batched GEMM plan ---- */

enum Lay { LAY_NONE = 0, LAY_N, LAY_T };

/* How cuBLAS reads a (rows, cols) operand X[i, j] = p[i * rs + j * cs] (conjugated when conj):
 * LAY_N: unit column stride, ld = rs (op N; impossible with conj); LAY_T: unit row stride,
 * ld = cs (op T, or C with conj). The stride of a size-1 dim is never used: pick one that works. */
Lay layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool conj, int64_t *ld) {
  if (!conj) {
    int64_t r = rs, c = cs;
    if (cols <= 1) c = 1;
    if (rows <= 1) r = max1(cols);
    if (c == 1 && r >= max1(cols) && r <= kIntMax) {
      *ld = r;
      return LAY_N;
    }
  }
  int64_t r = rs, c = cs;
  if (rows <= 1) r = 1;
  if (cols <= 1) c = max1(rows);
  if (r == 1 && c >= max1(rows) && c <= kIntMax) {
    *ld = c;
    return LAY_T;
  }
  return LAY_NONE;
}

struct Mat {
  const char *p;
  int64_t rs, cs, bs[kMaxB];
  bool conj;
};

struct Plan {
  bool empty;                 /* nothing to compute (an empty dim) */
  int nb;                     /* batch dims left after folding and merging */
  int64_t bshape[kMaxB];
  int64_t M, N, K;
  Mat X, Y;
  int64_t crs, cbs[kMaxB];
  /* packs: operand copied (conjugated) into scratch at off, over shape pshape (batch..., rows, cols) */
  bool packX, packY;
  int pnb;
  int64_t pxshape[kMaxB + 2], pyshape[kMaxB + 2];
  int64_t pxstr[kMaxB + 2], pystr[kMaxB + 2]; /* source strides of the pack */
  size_t offX, offY;
  /* summed batch dims that did not fold: products into scratch at offT, contiguous (bshape..., M, N) */
  bool temp;
  size_t offT, bytes;
  int64_t tcount; /* elements of the temp */
};

/* Operand o, (rows, cols) per batch; when cuBLAS cannot read it, plan a contiguous conjugated-as-
 * needed copy over its own batch extent (1 along dims it broadcasts over). */
void plan_pack(Mat *o, int64_t rows, int64_t cols, int nb, const int64_t *bshape, bool *pack, int64_t *pshape,
               int64_t *pstr, int64_t *elems) {
  int64_t ld;
  *pack = false;
  *elems = 0;
  if (layout(rows, cols, o->rs, o->cs, o->conj, &ld) != LAY_NONE) return;
  *pack = true;
  for (int d = 0; d < nb; d++) {
    pshape[d] = (o->bs[d] != 0 && bshape[d] != 1) ? bshape[d] : 1;
    pstr[d] = o->bs[d];
  }
  pshape[nb] = rows;
  pshape[nb + 1] = cols;
  pstr[nb] = o->rs;
  pstr[nb + 1] = o->cs;
  int64_t st = 1;
  for (int d = nb + 1; d >= 0; d--) {
    int64_t s = st;
    st *= pshape[d];
    if (d == nb + 1) o->cs = s;
    else if (d == nb) o->rs = s;
    else o->bs[d] = pshape[d] == 1 ? 0 : s;
  }
  o->conj = false;
  *elems = st;
}

void make_plan(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K, const lr_kcuda_mat *X,
               const lr_kcuda_mat *Y, int64_t crs, const int64_t *cbs, Plan *p) {
  size_t es = lr_dtype_size(dt);
  bool cx = lr_dtype_is_complex(dt);
  p->empty = M <= 0 || N <= 0;
  p->packX = p->packY = p->temp = false;
  p->bytes = p->offX = p->offY = p->offT = 0;
  p->tcount = 0;
  p->X.p = (const char *)X->data;
  p->X.rs = X->rs;
  p->X.cs = X->cs;
  p->X.conj = cx && X->conj;
  p->Y.p = (const char *)Y->data;
  p->Y.rs = Y->rs;
  p->Y.cs = Y->cs;
  p->Y.conj = cx && Y->conj;
  for (int d = 0; d < nb; d++) {
    p->bshape[d] = bshape[d];
    p->X.bs[d] = X->bs[d];
    p->Y.bs[d] = Y->bs[d];
    p->cbs[d] = cbs[d];
    if (bshape[d] == 0) p->empty = true;
  }
  p->nb = nb;
  p->M = M;
  p->N = N;
  p->K = K;
  p->crs = crs;
  if (p->empty || K == 0) return; /* K == 0: the driver zeroes C (beta 0) or leaves it */

  /* packs first: they change the strides that folding looks at */
  int64_t ex = 0, ey = 0;
  p->pnb = nb;
  plan_pack(&p->X, M, K, nb, bshape, &p->packX, p->pxshape, p->pxstr, &ex);
  plan_pack(&p->Y, K, N, nb, bshape, &p->packY, p->pyshape, p->pystr, &ey);
  size_t off = 0;
  if (p->packX) {
    p->offX = off;
    off += align_up((size_t)ex * es);
  }
  if (p->packY) {
    p->offY = off;
    off += align_up((size_t)ey * es);
  }

  /* fold batch dims into M or K, innermost first (kernels/cpu/linalg.c's rules) */
  int64_t ld;
  Mat &x = p->X, &y = p->Y;
  while (nb > 0) {
    int d = nb - 1;
    int64_t s = p->bshape[d], xb = x.bs[d], yb = y.bs[d], cb = p->cbs[d];
    if (s == 1) {
      nb--;
      continue;
    }
    if (yb == 0 && cb != 0 && M * s <= kIntMax) { /* into M */
      int64_t nxrs = M == 1 ? xb : x.rs, ncrs = M == 1 ? cb : p->crs;
      if (xb == M * nxrs && cb == M * ncrs && ncrs >= N && ncrs <= kIntMax &&
          layout(M * s, K, nxrs, x.cs, x.conj, &ld) != LAY_NONE) {
        x.rs = nxrs;
        p->crs = ncrs;
        M *= s;
        nb--;
        continue;
      }
    }
    if (cb == 0 && K * s <= kIntMax) { /* into K */
      int64_t nxcs = K == 1 ? xb : x.cs, nyrs = K == 1 ? yb : y.rs;
      if (xb == K * nxcs && yb == K * nyrs && layout(M, K * s, x.rs, nxcs, x.conj, &ld) != LAY_NONE &&
          layout(K * s, N, nyrs, y.cs, y.conj, &ld) != LAY_NONE) {
        x.cs = nxcs;
        y.rs = nyrs;
        K *= s;
        nb--;
        continue;
      }
    }
    break;
  }
  p->M = M;
  p->K = K;

  /* drop size-1 dims, merge neighbours that all three operands step through uniformly */
  int m = 0;
  for (int d = 0; d < nb; d++) {
    if (p->bshape[d] == 1) continue;
    if (m > 0 && x.bs[m - 1] == x.bs[d] * p->bshape[d] && y.bs[m - 1] == y.bs[d] * p->bshape[d] &&
        p->cbs[m - 1] == p->cbs[d] * p->bshape[d]) {
      p->bshape[m - 1] *= p->bshape[d];
      x.bs[m - 1] = x.bs[d];
      y.bs[m - 1] = y.bs[d];
      p->cbs[m - 1] = p->cbs[d];
      continue;
    }
    p->bshape[m] = p->bshape[d];
    x.bs[m] = x.bs[d];
    y.bs[m] = y.bs[d];
    p->cbs[m] = p->cbs[d];
    m++;
  }
  p->nb = m;
  for (int d = 0; d < m; d++)
    if (p->cbs[d] == 0) p->temp = true;
  if (p->temp) {
    int64_t t = p->M * p->N;
    for (int d = 0; d < m; d++) t *= p->bshape[d];
    p->tcount = t;
    p->offT = off;
    off += align_up((size_t)t * es);
  }
  p->bytes = off;
}

cudaDataType cuda_type(lr_dtype dt) {
  switch (dt) {
    case LR_DTYPE_F32: return CUDA_R_32F;
    case LR_DTYPE_F64: return CUDA_R_64F;
    case LR_DTYPE_C64: return CUDA_C_32F;
    default: return CUDA_C_64F;
  }
}

cublasComputeType_t compute_type(lr_dtype dt) {
  if (dt == LR_DTYPE_F64 || dt == LR_DTYPE_C128) return CUBLAS_COMPUTE_64F;
  return lr_cuda_tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
}

/* alpha / beta in the compute type's scalar type (host pointer mode) */
union Scalar {
  float f;
  double d;
  cuComplex c;
  cuDoubleComplex z;
};

Scalar scalar(lr_dtype dt, double v) {
  Scalar s;
  switch (dt) {
    case LR_DTYPE_F32: s.f = (float)v; break;
    case LR_DTYPE_F64: s.d = v; break;
    case LR_DTYPE_C64: s.c = make_cuComplex((float)v, 0.f); break;
    default: s.z = make_cuDoubleComplex(v, 0.0); break;
  }
  return s;
}

cublasOperation_t blas_op(Lay l, bool conj) {
  return l == LAY_N ? CUBLAS_OP_N : conj ? CUBLAS_OP_C : CUBLAS_OP_T;
}

/* count products C_i = X_i Y_i (+ beta C_i), operand i at base + i * stride (elements). */
lr_status gemm_calls(cublasHandle_t h, lr_dtype dt, const Plan &p, const char *xp, int64_t xs, const char *yp,
                     int64_t ys, char *cp, int64_t ldc, int64_t cs, int64_t count, double beta) {
  const char *fn = "lr_kcuda_gemm_batched";
  int64_t ldx, ldy;
  Lay lx = layout(p.M, p.K, p.X.rs, p.X.cs, p.X.conj, &ldx);
  Lay ly = layout(p.K, p.N, p.Y.rs, p.Y.cs, p.Y.conj, &ldy);
  if (lx == LAY_NONE || ly == LAY_NONE)
    return lr_fail(LR_ERR_INTERNAL, "%s: an operand reached cuBLAS in a layout it cannot read", fn);
  cudaDataType ty = cuda_type(dt);
  cublasComputeType_t ct = compute_type(dt);
  Scalar al = scalar(dt, 1.0), be = scalar(dt, beta);
  size_t es = lr_dtype_size(dt);
  cublasOperation_t oa = blas_op(ly, p.Y.conj), ob = blas_op(lx, p.X.conj);
  int m = (int)p.N, n = (int)p.M, k = (int)p.K;
  if (ldc < max1(p.N)) ldc = max1(p.N); /* only when M == 1, where ldc is never stepped */
  while (count > 0) {
    int64_t c = count < kIntMax ? count : kIntMax;
    if (c == 1) {
      BLAS_TRY(fn, cublasGemmEx(h, oa, ob, m, n, k, &al, yp, ty, (int)ldy, xp, ty, (int)ldx, &be, cp, ty, (int)ldc, ct,
                                CUBLAS_GEMM_DEFAULT));
    } else {
      BLAS_TRY(fn, cublasGemmStridedBatchedEx(h, oa, ob, m, n, k, &al, yp, ty, (int)ldy, ys, xp, ty, (int)ldx, xs, &be,
                                              cp, ty, (int)ldc, cs, (int)c, ct, CUBLAS_GEMM_DEFAULT));
    }
    count -= c;
    xp += c * xs * (int64_t)es;
    yp += c * ys * (int64_t)es;
    cp += c * cs * (int64_t)es;
  }
  return LR_OK;
}

/* All products of the plan into target (C, or the temp) with batch strides tbs and row stride trs. */
lr_status run_products(cublasHandle_t h, lr_dtype dt, const Plan &p, char *target, int64_t trs, const int64_t *tbs,
                       double beta) {
  size_t es = lr_dtype_size(dt);
  if (p.nb == 0) return gemm_calls(h, dt, p, p.X.p, 0, p.Y.p, 0, target, trs, 0, 1, beta);
  int inner = p.nb - 1;
  int64_t outer = 1;
  for (int d = 0; d < inner; d++) outer *= p.bshape[d];
  int64_t idx[kMaxB] = {0};
  int64_t xo = 0, yo = 0, to = 0;
  for (int64_t b = 0; b < outer; b++) {
    LR_TRY(gemm_calls(h, dt, p, p.X.p + xo * (int64_t)es, p.X.bs[inner], p.Y.p + yo * (int64_t)es, p.Y.bs[inner],
                      target + to * (int64_t)es, trs, tbs[inner], p.bshape[inner], beta));
    for (int d = inner - 1; d >= 0; d--) {
      idx[d]++;
      xo += p.X.bs[d];
      yo += p.Y.bs[d];
      to += tbs[d];
      if (idx[d] < p.bshape[d]) break;
      xo -= p.X.bs[d] * p.bshape[d];
      yo -= p.Y.bs[d] * p.bshape[d];
      to -= tbs[d] * p.bshape[d];
      idx[d] = 0;
    }
  }
  return LR_OK;
}

/* K == 0 with beta 0: every C matrix becomes zeros. */
lr_status zero_c(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, char *C, int64_t crs,
                 const int64_t *cbs, cudaStream_t s) {
  size_t es = lr_dtype_size(dt);
  int64_t total = 1;
  for (int d = 0; d < nb; d++) total *= bshape[d];
  int64_t idx[kMaxB] = {0}, off = 0;
  for (int64_t b = 0; b < total; b++) {
    int64_t pitch = M > 1 ? crs : N; /* a single row's stride is never used; cudaMemset2D wants pitch >= width */
    LR_CUDA_TRY("lr_kcuda_gemm_batched",
                cudaMemset2DAsync(C + off * (int64_t)es, (size_t)pitch * es, 0, (size_t)N * es, (size_t)M, s));
    for (int d = nb - 1; d >= 0; d--) {
      idx[d]++;
      off += cbs[d];
      if (idx[d] < bshape[d]) break;
      off -= cbs[d] * bshape[d];
      idx[d] = 0;
    }
  }
  return LR_OK;
}

template <typename T>
__global__ void fill_rows_kernel(T *__restrict__ y, int64_t R, int64_t O, const T *__restrict__ b, int64_t bs) {
  int64_t n = R * O;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
    y[i] = b[(i % O) * bs];
}

} // namespace

extern "C" size_t lr_kcuda_gemm_scratch(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                                        const lr_kcuda_mat *X, const lr_kcuda_mat *Y, int64_t crs, const int64_t *cbs) {
  if (nb < 0 || nb > kMaxB) return 0;
  Plan p;
  make_plan(dt, nb, bshape, M, N, K, X, Y, crs, cbs, &p);
  return p.bytes;
}

extern "C" lr_status lr_kcuda_gemm_batched(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                                           const lr_kcuda_mat *X, const lr_kcuda_mat *Y, void *C, int64_t crs,
                                           const int64_t *cbs, double beta, void *scratch, size_t scratch_bytes,
                                           lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_gemm_batched";
  if (nb < 0 || nb > kMaxB) return lr_fail(LR_ERR_ARG, "%s: %d batch dims, expected 0..%d", fn, nb, kMaxB);
  if (!(LR_DT_FLOAT & LR_DT(dt))) return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA GEMM", fn, lr_dtype_name(dt));
  if (M > kIntMax || N > kIntMax || K > kIntMax)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: M, N, K = %lld, %lld, %lld exceed cuBLAS's 32-bit limit", fn, (long long)M,
                   (long long)N, (long long)K);
  Plan p;
  make_plan(dt, nb, bshape, M, N, K, X, Y, crs, cbs, &p);
  if (p.empty) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (K == 0) return beta == 0.0 ? zero_c(dt, nb, bshape, M, N, (char *)C, crs, cbs, s) : LR_OK;
  if (p.bytes > scratch_bytes || (p.bytes && !scratch))
    return lr_fail(LR_ERR_INTERNAL, "%s: needs %zu bytes of scratch, got %zu", fn, p.bytes, scratch ? scratch_bytes : 0);
  if (p.temp && beta != 1.0)
    return lr_fail(LR_ERR_INTERNAL, "%s: a summed batch dim needs beta 1, got %g", fn, beta);
  char *sc = (char *)scratch;
  if (p.packX) {
    LR_TRY(pack_any(dt, sc + p.offX, X->data, p.pnb + 2, p.pxshape, p.pxstr, lr_dtype_is_complex(dt) && X->conj, s));
    p.X.p = sc + p.offX;
  }
  if (p.packY) {
    LR_TRY(pack_any(dt, sc + p.offY, Y->data, p.pnb + 2, p.pyshape, p.pystr, lr_dtype_is_complex(dt) && Y->conj, s));
    p.Y.p = sc + p.offY;
  }
  lr_cublas_t hb;
  LR_TRY(lr_cuda_blas(&hb));
  cublasHandle_t h = (cublasHandle_t)hb;
  if (s != lr_cuda_stream()) BLAS_TRY(fn, cublasSetStream(h, s));
  lr_status st;
  if (!p.temp) {
    st = run_products(h, dt, p, (char *)C, p.crs, p.cbs, beta);
  } else {
    /* products into the contiguous temp (bshape..., M, N), then C += their sum, in fixed order */
    int64_t tbs[kMaxB], shape[kMaxB + 2], dstr[kMaxB + 2];
    int64_t acc = p.M * p.N;
    for (int d = p.nb - 1; d >= 0; d--) {
      tbs[d] = acc;
      acc *= p.bshape[d];
    }
    char *tp = sc + p.offT;
    st = run_products(h, dt, p, tp, p.N, tbs, 0.0);
    for (int d = 0; d < p.nb; d++) {
      shape[d] = p.bshape[d];
      dstr[d] = p.cbs[d];
    }
    shape[p.nb] = p.M;
    shape[p.nb + 1] = p.N;
    dstr[p.nb] = p.crs;
    dstr[p.nb + 1] = 1;
    if (st == LR_OK) st = lr_kcuda_acc_broadcast(dt, C, dstr, tp, p.nb + 2, shape, s);
  }
  if (s != lr_cuda_stream()) cublasSetStream(h, lr_cuda_stream());
  return st;
}

extern "C" lr_status lr_kcuda_pack(lr_dtype dt, void *dst, const void *src, int ndim, const int64_t *shape,
                                   const int64_t *sstr, bool conj, lr_cuda_stream_t stream) {
  return pack_any(dt, dst, src, ndim, shape, sstr, conj && lr_dtype_is_complex(dt), lr_cuda_pick_stream(stream));
}

extern "C" lr_status lr_kcuda_fill_rows(lr_dtype dt, void *y, int64_t R, int64_t O, const void *b, int64_t bs,
                                        lr_cuda_stream_t stream) {
  const char *fn = "lr_kcuda_fill_rows";
  int64_t n = R * O;
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  if (!b) LR_CUDA_TRY(fn, cudaMemsetAsync(y, 0, (size_t)n * lr_dtype_size(dt), s));
  else {
    unsigned blocks = lr_cuda_blocks(n, 256);
    switch (dt) {
      case LR_DTYPE_F32: fill_rows_kernel<float><<<blocks, 256, 0, s>>>((float *)y, R, O, (const float *)b, bs); break;
      case LR_DTYPE_F64: fill_rows_kernel<double><<<blocks, 256, 0, s>>>((double *)y, R, O, (const double *)b, bs); break;
      case LR_DTYPE_C64: fill_rows_kernel<lr_c64><<<blocks, 256, 0, s>>>((lr_c64 *)y, R, O, (const lr_c64 *)b, bs); break;
      case LR_DTYPE_C128:
        fill_rows_kernel<lr_c128><<<blocks, 256, 0, s>>>((lr_c128 *)y, R, O, (const lr_c128 *)b, bs);
        break;
      default: return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
    }
  }
  return lr_cuda_check_launch(fn);
}

extern "C" lr_status lr_kcuda_sgemm_ref(int64_t M, int64_t N, int64_t K, const float *A, const float *B, float *C) {
  const char *fn = "lr_kcuda_sgemm_ref";
  if (M > kIntMax || N > kIntMax || K > kIntMax || M <= 0 || N <= 0 || K <= 0)
    return lr_fail(LR_ERR_ARG, "%s: M, N, K = %lld, %lld, %lld, expected 1..2^31-1", fn, (long long)M, (long long)N,
                   (long long)K);
  lr_cublas_t hb;
  LR_TRY(lr_cuda_blas(&hb));
  const float one = 1.f, zero = 0.f;
  /* row-major C = A B is column-major C^T = B^T A^T */
  BLAS_TRY(fn, cublasSgemm((cublasHandle_t)hb, CUBLAS_OP_N, CUBLAS_OP_N, (int)N, (int)M, (int)K, &one, B, (int)N, A,
                           (int)K, &zero, C, (int)N));
  return LR_OK;
}

/* ---- timer ---- */
struct lr_cuda_timer {
  cudaEvent_t a, b;
};

extern "C" lr_status lr_cuda_timer_new(lr_cuda_timer **out) {
  const char *fn = "lr_cuda_timer_new";
  if (!out) return lr_fail(LR_ERR_ARG, "%s: out is NULL", fn);
  LR_TRY(lr_cuda_init());
  lr_cuda_timer *t = new (std::nothrow) lr_cuda_timer;
  if (!t) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  cudaError_t e = cudaEventCreate(&t->a);
  if (e == cudaSuccess) {
    e = cudaEventCreate(&t->b);
    if (e != cudaSuccess) cudaEventDestroy(t->a);
  }
  if (e != cudaSuccess) {
    delete t;
    return lr_cuda_fail(e, fn, "cudaEventCreate");
  }
  *out = t;
  return LR_OK;
}

extern "C" void lr_cuda_timer_free(lr_cuda_timer *t) {
  if (!t) return;
  cudaEventDestroy(t->a);
  cudaEventDestroy(t->b);
  delete t;
}

extern "C" lr_status lr_cuda_timer_start(lr_cuda_timer *t) {
  if (!t) return lr_fail(LR_ERR_ARG, "lr_cuda_timer_start: timer is NULL");
  LR_CUDA_TRY("lr_cuda_timer_start", cudaEventRecord(t->a, lr_cuda_stream()));
  return LR_OK;
}

extern "C" lr_status lr_cuda_timer_stop(lr_cuda_timer *t, double *ms) {
  const char *fn = "lr_cuda_timer_stop";
  if (!t || !ms) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  LR_CUDA_TRY(fn, cudaEventRecord(t->b, lr_cuda_stream()));
  LR_CUDA_TRY(fn, cudaEventSynchronize(t->b));
  float v = 0.f;
  LR_CUDA_TRY(fn, cudaEventElapsedTime(&v, t->a, t->b));
  *ms = v;
  return LR_OK;
}
