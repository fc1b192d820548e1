/* Matrix products on the CPU through OpenBLAS (row-major cblas_?gemm). */
#ifndef LR_KCPU_LINALG_H
#define LR_KCPU_LINALG_H

#include <stdbool.h>

#include "tensor/dtype.h"

/* How an operand enters the product. LR_GEMM_CONJ (conjugate, no transpose) is OpenBLAS's
 * CblasConjNoTrans extension; the others are standard CBLAS. Real dtypes ignore conjugation. */
typedef enum { LR_GEMM_N = 0, LR_GEMM_T, LR_GEMM_C, LR_GEMM_CONJ } lr_gemm_op;

/* Largest M, N, K or leading dimension OpenBLAS takes (its blasint is a 32-bit int here). */
#define LR_GEMM_MAX_DIM 2147483647LL

/* C = alpha * op(A) @ op(B) + beta * C, row-major.
 * op(A): (M, K), A stored (M, K) with row stride lda for N/CONJ, (K, M) for T/C;
 * op(B): (K, N), likewise with ldb; C: (M, N) with row stride ldc. dt: F32, F64, C64, C128
 * (alpha and beta are real). beta = 0 never reads C (it may hold garbage or NaN).
 * M, N, K, lda, ldb, ldc <= LR_GEMM_MAX_DIM; lda >= max(1, stored cols), and so on (BLAS rules). */
void lr_kcpu_gemm(lr_dtype dt, lr_gemm_op ta, lr_gemm_op tb, int64_t M, int64_t N, int64_t K, double alpha,
                  const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc);

/* Whether a strided (rows, cols) matrix X[i, j] = p[i * rs + j * cs] can be handed to BLAS
 * without a copy: unit column stride (op N) or unit row stride (op T, a transposed contiguous
 * layout). Strides of size-1 dims do not matter. On success *op (N/T, or CONJ/C when conj) and
 * *ld are set. */
bool lr_kcpu_gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool conj, lr_gemm_op *op, int64_t *ld);

/* y[r, j] = b[j * bs] for r < R, j < O (y contiguous (R, O)); b NULL: zeros. The bias of linear. */
void lr_kcpu_fill_rows(lr_dtype dt, void *y, int64_t R, int64_t O, const void *b, int64_t bs);

#define LR_KCPU_GEMM_MAX_BATCH 8

/* One operand of a batched product: element [b..., i, j] is data[sum_d b_d * bs[d] + i*rs + j*cs],
 * optionally conjugated. bs[d] = 0 broadcasts the operand over batch dim d. */
typedef struct {
  const void *data;
  int64_t rs, cs;
  int64_t bs[LR_KCPU_GEMM_MAX_BATCH];
  bool conj;
} lr_kcpu_mat;

/* C[b] = X[b] @ Y[b] (+ beta C[b]) over a batch of shape bshape[nb]: X (M, K), Y (K, N) per batch;
 * C (M, N) per batch with row stride crs, unit column stride and batch strides cbs. A C batch
 * stride of 0 sums the products over that dim into one matrix (beta applies to the first). Both
 * X and Y must satisfy lr_kcpu_gemm_layout. Batch dims that are contiguous with a matrix dim are
 * folded into M (Y broadcast) or K (C summed), so a (B, L, H) @ (H, E) product, or the weight
 * gradient of one, is a single GEMM. Batches run in order on the calling thread (OpenBLAS
 * threads each GEMM), so results do not depend on the thread count. */
void lr_kcpu_gemm_batched(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                          const lr_kcpu_mat *X, const lr_kcpu_mat *Y, void *C, int64_t crs, const int64_t *cbs,
                          double beta);

#endif
