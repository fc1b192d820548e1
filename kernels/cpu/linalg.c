/* Matrix products on the CPU: row-major cblas_?gemm, and a batched driver over strided operands.
 *
 *   C = alpha * op(A) @ op(B) + beta * C,   op in {N, T, C = conj-transpose, CONJ = conj}
 *
 * The batched driver takes operands as (pointer, row stride, column stride, batch strides).
 * A matrix with unit column stride goes to BLAS as N with ld = row stride; one with unit row
 * stride (a transposed contiguous layout, e.g. x.T) as T with ld = column stride, so views are
 * never copied here. Before looping, batch dims are folded into the GEMM where memory allows:
 *   - into M when Y is broadcast over the dim and X, C continue their rows across it
 *     ((B, L, H) @ (H, E) is one (B*L, H) @ (H, E) GEMM);
 *   - into K when C is summed over the dim (stride 0) and X's columns / Y's rows continue across
 *     it (the weight gradient sum_b X_b^H G_b is one GEMM with K = B*L).
 * Remaining batch dims are looped in order on the calling thread; OpenBLAS threads each GEMM.
 */
#include "kernels/cpu/linalg.h"

#include <cblas.h>
#include <string.h>

static enum CBLAS_TRANSPOSE cblas_op(lr_gemm_op op, bool cx) {
  switch (op) {
    case LR_GEMM_T: return CblasTrans;
    case LR_GEMM_C: return cx ? CblasConjTrans : CblasTrans;
    case LR_GEMM_CONJ: return cx ? CblasConjNoTrans : CblasNoTrans;
    default: return CblasNoTrans;
  }
}

void lr_kcpu_gemm(lr_dtype dt, lr_gemm_op ta, lr_gemm_op tb, int64_t M, int64_t N, int64_t K, double alpha,
                  const void *A, int64_t lda, const void *B, int64_t ldb, double beta, void *C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  bool cx = lr_dtype_is_complex(dt);
  enum CBLAS_TRANSPOSE oa = cblas_op(ta, cx), ob = cblas_op(tb, cx);
  int m = (int)M, n = (int)N, k = (int)K;
  /* BLAS wants ld >= 1 even when a dim is empty. */
  int la = lda > 0 ? (int)lda : 1, lb = ldb > 0 ? (int)ldb : 1, lc = (int)ldc;
  switch (dt) {
    case LR_DTYPE_F32:
      cblas_sgemm(CblasRowMajor, oa, ob, m, n, k, (float)alpha, A, la, B, lb, (float)beta, C, lc);
      break;
    case LR_DTYPE_F64: cblas_dgemm(CblasRowMajor, oa, ob, m, n, k, alpha, A, la, B, lb, beta, C, lc); break;
    case LR_DTYPE_C64: {
      lr_c64 al = lr_c64_make((float)alpha, 0), be = lr_c64_make((float)beta, 0);
      cblas_cgemm(CblasRowMajor, oa, ob, m, n, k, &al, A, la, B, lb, &be, C, lc);
      break;
    }
    case LR_DTYPE_C128: {
      lr_c128 al = lr_c128_make(alpha, 0), be = lr_c128_make(beta, 0);
      cblas_zgemm(CblasRowMajor, oa, ob, m, n, k, &al, A, la, B, lb, &be, C, lc);
      break;
    }
    default: break;
  }
}

static int64_t max1(int64_t v) { return v > 1 ? v : 1; }

bool lr_kcpu_gemm_layout(int64_t rows, int64_t cols, int64_t rs, int64_t cs, bool conj, lr_gemm_op *op, int64_t *ld) {
  /* The stride of a size-1 dim is never used: pick the one that makes a valid layout. */
  if (rows <= 1 && cols <= 1) { rs = max1(cols); cs = 1; }
  else if (rows <= 1) rs = cs == 1 ? max1(cols) : 1;
  else if (cols <= 1) cs = rs == 1 ? max1(rows) : 1;
  if (cs == 1 && rs >= max1(cols) && rs <= LR_GEMM_MAX_DIM) {
    *op = conj ? LR_GEMM_CONJ : LR_GEMM_N;
    *ld = rs;
    return true;
  }
  if (rs == 1 && cs >= max1(rows) && cs <= LR_GEMM_MAX_DIM) {
    *op = conj ? LR_GEMM_C : LR_GEMM_T;
    *ld = cs;
    return true;
  }
  return false;
}

static bool fits(int64_t v) { return v <= LR_GEMM_MAX_DIM; }

void lr_kcpu_gemm_batched(lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                          const lr_kcpu_mat *X, const lr_kcpu_mat *Y, void *C, int64_t crs, const int64_t *cbs,
                          double beta) {
  if (M <= 0 || N <= 0) return;
  int64_t xrs = X->rs, xcs = X->cs, yrs = Y->rs, ycs = Y->cs, op_ld;
  lr_gemm_op op_tmp;
  /* Fold batch dims, innermost first, while memory allows. */
  while (nb > 0) {
    int d = nb - 1;
    int64_t s = bshape[d], xb = X->bs[d], yb = Y->bs[d], cb = cbs[d];
    if (s == 1) { nb--; continue; }
    if (s == 0) return; /* an empty batch: nothing to compute */
    if (yb == 0 && cb != 0 && fits(M * s)) {
      /* into M: rows of X and C continue across the dim */
      int64_t nxrs = M == 1 ? xb : xrs, ncrs = M == 1 ? cb : crs;
      if (xb == M * nxrs && cb == M * ncrs && ncrs >= N &&
          lr_kcpu_gemm_layout(M * s, K, nxrs, xcs, false, &op_tmp, &op_ld)) {
        xrs = nxrs;
        crs = ncrs;
        M *= s;
        nb--;
        continue;
      }
    }
    if (cb == 0 && fits(K * s)) {
      /* into K: C is summed over the dim; X's columns and Y's rows continue across it */
      int64_t nxcs = K == 1 ? xb : xcs, nyrs = K == 1 ? yb : yrs;
      if (xb == K * nxcs && yb == K * nyrs && lr_kcpu_gemm_layout(M, K * s, xrs, nxcs, false, &op_tmp, &op_ld) &&
          lr_kcpu_gemm_layout(K * s, N, nyrs, ycs, false, &op_tmp, &op_ld)) {
        xcs = nxcs;
        yrs = nyrs;
        K *= s;
        nb--;
        continue;
      }
    }
    break;
  }
  lr_gemm_op xo, yo;
  int64_t ldx, ldy;
  if (!lr_kcpu_gemm_layout(M, K, xrs, xcs, X->conj, &xo, &ldx) ||
      !lr_kcpu_gemm_layout(K, N, yrs, ycs, Y->conj, &yo, &ldy))
    return; /* the caller checked the layouts: unreachable */
  size_t es = lr_dtype_size(dt);
  int64_t nbatch = 1;
  for (int d = 0; d < nb; d++) nbatch *= bshape[d];
  int64_t idx[LR_KCPU_GEMM_MAX_BATCH] = {0};
  int64_t xo_off = 0, yo_off = 0, co_off = 0;
  for (int64_t b = 0; b < nbatch; b++) {
    /* first visit of this C matrix: every summed (stride 0) batch index is 0 */
    bool first = true;
    for (int d = 0; d < nb; d++)
      if (cbs[d] == 0 && idx[d] != 0) first = false;
    double be = first ? beta : 1.0;
    const char *xp = (const char *)X->data + xo_off * (int64_t)es;
    const char *yp = (const char *)Y->data + yo_off * (int64_t)es;
    char *cp = (char *)C + co_off * (int64_t)es;
    if (K == 0) {
      if (be == 0.0)
        for (int64_t i = 0; i < M; i++) memset(cp + i * crs * (int64_t)es, 0, (size_t)N * es);
    } else {
      lr_kcpu_gemm(dt, xo, yo, M, N, K, 1.0, xp, ldx, yp, ldy, be, cp, crs);
    }
    for (int d = nb - 1; d >= 0; d--) {
      idx[d]++;
      xo_off += X->bs[d];
      yo_off += Y->bs[d];
      co_off += cbs[d];
      if (idx[d] < bshape[d]) break;
      xo_off -= X->bs[d] * bshape[d];
      yo_off -= Y->bs[d] * bshape[d];
      co_off -= cbs[d] * bshape[d];
      idx[d] = 0;
    }
  }
}

void lr_kcpu_fill_rows(lr_dtype dt, void *y, int64_t R, int64_t O, const void *b, int64_t bs) {
  size_t es = lr_dtype_size(dt);
  char *yp = y;
  if (!b) {
    memset(yp, 0, (size_t)(R * O) * es);
    return;
  }
  const char *bp = b;
  if (R == 0 || O == 0) return;
  for (int64_t j = 0; j < O; j++) memcpy(yp + j * (int64_t)es, bp + j * bs * (int64_t)es, es);
  for (int64_t r = 1; r < R; r++) memcpy(yp + r * O * (int64_t)es, yp, (size_t)O * es);
}
