/* Index copies, index-add backward and prefix sums on the CPU; see shape.h.
 *
 * index_select / embedding move whole rows of `inner` elements with memcpy. Their backward adds
 * rows of g into rows of gx; a thread owns an (outer, row-range, column-chunk) block of gx and
 * walks the whole index serially, so duplicates in the index are summed in index order,
 * deterministically.
 * gather / scatter_add work per element: a thread owns one (outer, inner) position, i.e. all the
 * gx elements that differ only along dim, and walks j serially.
 * Complex dtypes are handled as pairs of reals: every kernel here is real-linear.
 */
#include "kernels/cpu/shape.h"

#include <string.h>

#define LR_PAR_MIN 32768 /* elements below which threads cost more than they save */
#define LR_COL_CHUNK 1024

void lr_kcpu_index_select(size_t es, void *out, const void *x, int64_t outer, int64_t nsrc, int64_t inner,
                          const int64_t *idx, int64_t nidx) {
  unsigned char *o8 = out;
  const unsigned char *x8 = x;
  size_t row = (size_t)inner * es;
  int64_t rows = outer * nidx;
#pragma omp parallel for if (rows * inner > LR_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o = r / nidx, j = r % nidx;
    memcpy(o8 + (size_t)r * row, x8 + (size_t)(o * nsrc + idx[j]) * row, row);
  }
}

/* A thread owns the block (o, rows [r0, r1), columns [c0, c0 + len)) of gx and walks the whole
 * index, adding the rows that land in its block: every gx element has one owner and receives its
 * terms in index order. Row blocks give parallelism when outer is 1 (embedding). */
#define LR_ROW_BLOCKS 16
#define LR_INDEX_ADD(T, P)                                                                       \
  do {                                                                                           \
    T *d = gx;                                                                                   \
    const T *s = g;                                                                              \
    int64_t w = inner * (P), nch = (w + LR_COL_CHUNK - 1) / LR_COL_CHUNK;                        \
    int64_t nrb = nsrc < LR_ROW_BLOCKS ? nsrc : LR_ROW_BLOCKS;                                   \
    _Pragma("omp parallel for if (outer * nidx * w > LR_PAR_MIN)")                               \
    for (int64_t p = 0; p < outer * nch * nrb; p++) {                                            \
      int64_t rb = p % nrb, o = p / nrb / nch, c0 = (p / nrb % nch) * LR_COL_CHUNK;              \
      int64_t r0 = rb * nsrc / nrb, r1 = (rb + 1) * nsrc / nrb;                                  \
      int64_t len = w - c0 < LR_COL_CHUNK ? w - c0 : LR_COL_CHUNK;                               \
      for (int64_t j = 0; j < nidx; j++) {                                                       \
        int64_t r = idx[j];                                                                      \
        if (r < r0 || r >= r1 || r == skip) continue;                                            \
        T *dp = d + (o * nsrc + r) * w + c0;                                                     \
        const T *sp = s + (o * nidx + j) * w + c0;                                               \
        for (int64_t q = 0; q < len; q++) dp[q] += sp[q];                                        \
      }                                                                                          \
    }                                                                                            \
  } while (0)

void lr_kcpu_index_add(lr_dtype dt, void *gx, const void *g, int64_t outer, int64_t nsrc, int64_t inner,
                       const int64_t *idx, int64_t nidx, int64_t skip) {
  if (outer * inner * nidx == 0) return;
  if (skip < 0) skip = -1; /* indices are >= 0, so -1 never matches */
  switch (dt) {
    case LR_DTYPE_F32: LR_INDEX_ADD(float, 1); break;
    case LR_DTYPE_F64: LR_INDEX_ADD(double, 1); break;
    case LR_DTYPE_C64: LR_INDEX_ADD(float, 2); break;
    case LR_DTYPE_C128: LR_INDEX_ADD(double, 2); break;
    default: break;
  }
}

/* Offset in x of position (o, ., q) of ishape split at dim: o runs over dims [0, dim), q over
 * dims (dim, ndim), both row-major. */
static int64_t split_offset(const int64_t *str, int ndim, const int64_t *ishape, int dim, int64_t o, int64_t q) {
  int64_t off = 0;
  for (int k = ndim - 1; k > dim; k--) {
    off += (q % ishape[k]) * str[k];
    q /= ishape[k];
  }
  for (int k = dim - 1; k >= 0; k--) {
    off += (o % ishape[k]) * str[k];
    o /= ishape[k];
  }
  return off;
}

static void split_sizes(int ndim, const int64_t *ishape, int dim, int64_t *outer, int64_t *inner) {
  *outer = 1;
  *inner = 1;
  for (int k = 0; k < dim; k++) *outer *= ishape[k];
  for (int k = dim + 1; k < ndim; k++) *inner *= ishape[k];
}

void lr_kcpu_gather(size_t es, void *out, const void *x, const int64_t *xstr, const int64_t *idx, int ndim,
                    const int64_t *ishape, int dim) {
  int64_t outer, inner, D = ishape[dim];
  split_sizes(ndim, ishape, dim, &outer, &inner);
  unsigned char *o8 = out;
  const unsigned char *x8 = x;
  int64_t sd = xstr[dim];
#pragma omp parallel for if (outer * inner * D > LR_PAR_MIN)
  for (int64_t p = 0; p < outer * inner; p++) {
    int64_t o = p / inner, q = p % inner;
    int64_t base = split_offset(xstr, ndim, ishape, dim, o, q);
    for (int64_t j = 0; j < D; j++) {
      int64_t lin = (o * D + j) * inner + q;
      memcpy(o8 + (size_t)lin * es, x8 + (base + idx[lin] * sd) * (int64_t)es, es);
    }
  }
}

#define LR_SCATTER_ADD(T, P)                                                                     \
  do {                                                                                           \
    T *d = gx;                                                                                   \
    const T *s = g;                                                                              \
    _Pragma("omp parallel for if (outer * inner * D > LR_PAR_MIN)")                              \
    for (int64_t p = 0; p < outer * inner; p++) {                                                \
      int64_t o = p / inner, q = p % inner;                                                      \
      int64_t base = split_offset(gxstr, ndim, ishape, dim, o, q);                               \
      for (int64_t j = 0; j < D; j++) {                                                          \
        int64_t lin = (o * D + j) * inner + q;                                                   \
        T *dp = d + (base + idx[lin] * sd) * (P);                                                \
        for (int c = 0; c < (P); c++) dp[c] += s[lin * (P) + c];                                 \
      }                                                                                          \
    }                                                                                            \
  } while (0)

void lr_kcpu_scatter_add(lr_dtype dt, void *gx, const int64_t *gxstr, const void *g, const int64_t *idx, int ndim,
                         const int64_t *ishape, int dim) {
  int64_t outer, inner, D = ishape[dim];
  split_sizes(ndim, ishape, dim, &outer, &inner);
  int64_t sd = gxstr[dim];
  switch (dt) {
    case LR_DTYPE_F32: LR_SCATTER_ADD(float, 1); break;
    case LR_DTYPE_F64: LR_SCATTER_ADD(double, 1); break;
    case LR_DTYPE_C64: LR_SCATTER_ADD(float, 2); break;
    case LR_DTYPE_C128: LR_SCATTER_ADD(double, 2); break;
    default: break;
  }
}

/* A thread owns an (outer, column-chunk) block and runs the recurrence down its columns. */
#define LR_CUMSUM(T, P)                                                                          \
  do {                                                                                           \
    T *d = out;                                                                                  \
    const T *s = x;                                                                              \
    int64_t w = inner * (P), nch = (w + LR_COL_CHUNK - 1) / LR_COL_CHUNK;                        \
    _Pragma("omp parallel for if (outer * n * w > LR_PAR_MIN)")                                  \
    for (int64_t p = 0; p < outer * nch; p++) {                                                  \
      int64_t o = p / nch, c0 = (p % nch) * LR_COL_CHUNK;                                        \
      int64_t len = w - c0 < LR_COL_CHUNK ? w - c0 : LR_COL_CHUNK;                               \
      for (int64_t t = 0; t < n; t++) {                                                          \
        int64_t k = reverse ? n - 1 - t : t, kp = reverse ? k + 1 : k - 1;                       \
        T *dk = d + (o * n + k) * w + c0;                                                        \
        const T *sk = s + (o * n + k) * w + c0;                                                  \
        if (t == 0) {                                                                            \
          for (int64_t q = 0; q < len; q++) dk[q] = sk[q];                                       \
        } else {                                                                                 \
          const T *dp = d + (o * n + kp) * w + c0;                                               \
          for (int64_t q = 0; q < len; q++) dk[q] = dp[q] + sk[q];                               \
        }                                                                                        \
      }                                                                                          \
    }                                                                                            \
  } while (0)

void lr_kcpu_cumsum(lr_dtype dt, void *out, const void *x, int64_t outer, int64_t n, int64_t inner, int reverse) {
  switch (dt) {
    case LR_DTYPE_F32: LR_CUMSUM(float, 1); break;
    case LR_DTYPE_F64: LR_CUMSUM(double, 1); break;
    case LR_DTYPE_C64: LR_CUMSUM(float, 2); break;
    case LR_DTYPE_C128: LR_CUMSUM(double, 2); break;
    default: break;
  }
}
