/* Elementwise kernels on the CPU, and the strided iterator they share with kernels/cpu/complex.c.
 *
 * Every kernel writes contiguous outputs of a (broadcast) shape and reads its inputs through
 * strides given in the output's dim space (0 along broadcast dims), so a kernel never copies a
 * strided or broadcast input first.
 */
#ifndef LR_KCPU_ELEMENTWISE_H
#define LR_KCPU_ELEMENTWISE_H

#include "tensor/dtype.h"

/* ---- the strided iterator ----
 * Operands (an output and its inputs) share one shape; operand k has strides st[k] (NULL:
 * contiguous). Size-1 dims are dropped and adjacent dims that every operand walks contiguously
 * are merged, so a contiguous op is one flat loop. The loop then runs over `rows` of `inner`
 * elements; lr_ew_row gives each operand's offset at the start of a row. */
#define LR_EW_MAX_OPS 4
#define LR_EW_MAX_DIMS 8

typedef struct {
  int nd, nops;
  int64_t n, rows, inner;
  int64_t shape[LR_EW_MAX_DIMS];
  int64_t st[LR_EW_MAX_OPS][LR_EW_MAX_DIMS];
  int64_t is[LR_EW_MAX_OPS]; /* innermost stride of each operand */
} lr_ew_iter;

static inline void lr_ew_init(lr_ew_iter *it, int ndim, const int64_t *shape, int nops, const int64_t *const *st) {
  int64_t cs[LR_EW_MAX_DIMS], acc = 1;
  for (int d = ndim - 1; d >= 0; d--) {
    cs[d] = acc;
    acc *= shape[d];
  }
  it->n = acc;
  it->nops = nops;
  it->nd = 0;
  for (int d = 0; d < ndim; d++) {
    if (shape[d] == 1) continue;
    int m = it->nd;
    bool merge = m > 0;
    for (int k = 0; k < nops && merge; k++) {
      int64_t s = st[k] ? st[k][d] : cs[d];
      merge = it->st[k][m - 1] == s * shape[d];
    }
    if (merge) {
      it->shape[m - 1] *= shape[d];
      for (int k = 0; k < nops; k++) it->st[k][m - 1] = st[k] ? st[k][d] : cs[d];
    } else {
      it->shape[m] = shape[d];
      for (int k = 0; k < nops; k++) it->st[k][m] = st[k] ? st[k][d] : cs[d];
      it->nd++;
    }
  }
  if (it->nd == 0) { /* a scalar, or all dims of size 1 */
    it->nd = 1;
    it->shape[0] = 1;
    for (int k = 0; k < nops; k++) it->st[k][0] = 0;
  }
  it->inner = it->shape[it->nd - 1];
  it->rows = it->n ? it->n / it->inner : 0;
  for (int k = 0; k < LR_EW_MAX_OPS; k++) it->is[k] = k < nops ? it->st[k][it->nd - 1] : 0;
}

static inline void lr_ew_row(const lr_ew_iter *it, int64_t r, int64_t *off) {
  for (int k = 0; k < it->nops; k++) off[k] = 0;
  for (int d = it->nd - 2; d >= 0; d--) {
    int64_t i = r % it->shape[d];
    r /= it->shape[d];
    for (int k = 0; k < it->nops; k++) off[k] += i * it->st[k][d];
  }
}

/* Runs the body (the variadic argument, so commas need no parentheses) for every element; inside
 * it, LR_EW_AT(k) is operand k's element offset. Rows are split across threads when the op is
 * large. When every operand's innermost stride is 1 (any contiguous op, after merging) the body
 * is compiled a second time with constant unit strides, so that copy vectorises. */
#define LR_EW_AT(k) (ew_off_[k] + ew_j_ * ew_is_[k])
#define LR_EW_ROWS_(...)                                                         \
  _Pragma("omp parallel for if (ew_n_ > 32768)")                                 \
  for (int64_t ew_r_ = 0; ew_r_ < ew_rows_; ew_r_++) {                           \
    int64_t ew_off_[LR_EW_MAX_OPS];                                              \
    lr_ew_row(ew_it_, ew_r_, ew_off_);                                           \
    for (int64_t ew_j_ = 0; ew_j_ < ew_inner_; ew_j_++) {                        \
      __VA_ARGS__;                                                               \
    }                                                                            \
  }
#define LR_EW_FOR(IT, ...)                                                       \
  do {                                                                           \
    const lr_ew_iter *ew_it_ = (IT);                                             \
    int64_t ew_n_ = ew_it_->n, ew_rows_ = ew_it_->rows, ew_inner_ = ew_it_->inner; \
    bool ew_unit_ = true;                                                        \
    for (int k_ = 0; k_ < ew_it_->nops; k_++) ew_unit_ = ew_unit_ && ew_it_->is[k_] == 1; \
    (void)ew_n_;                                                                 \
    if (ew_unit_) {                                                              \
      const int64_t ew_is_[LR_EW_MAX_OPS] = {1, 1, 1, 1};                        \
      LR_EW_ROWS_(__VA_ARGS__)                                                   \
    } else {                                                                     \
      int64_t ew_is_[LR_EW_MAX_OPS]; /* a local: stores through outputs cannot alias it */ \
      for (int k_ = 0; k_ < LR_EW_MAX_OPS; k_++) ew_is_[k_] = ew_it_->is[k_];   \
      LR_EW_ROWS_(__VA_ARGS__)                                                   \
    }                                                                            \
  } while (0)

/* ---- binary ops ---- */
typedef enum {
  LR_BIN_ADD,
  LR_BIN_SUB,
  LR_BIN_MUL,
  LR_BIN_DIV,
  LR_BIN_POW, /* real only from here on */
  LR_BIN_MAX,
  LR_BIN_MIN
} lr_binary_kind;

/* out = a (op) b with broadcasting.
 * out: contiguous, shape[ndim]; a, b: strides in elements in out's dim space (0 = broadcast).
 * dt: F32, F64, C64, C128 (POW, MAX, MIN: F32, F64). */
void lr_kcpu_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as, const void *b,
                    const int64_t *bs, int ndim, const int64_t *shape);

/* Gradients of MUL, DIV, POW, MAX, MIN in the broadcast shape (summing over broadcast dims is the
 * caller's job). ga, gb: contiguous outputs (either may be NULL); g: upstream gradient and
 * y: forward output, both contiguous; a, b as in lr_kcpu_binary. Complex: ga = g * conj(dy/da). */
void lr_kcpu_binary_bwd(lr_binary_kind k, lr_dtype dt, void *ga, void *gb, const void *g, const void *a,
                        const int64_t *as, const void *b, const int64_t *bs, const void *y, int ndim,
                        const int64_t *shape);

/* ---- unary ops ---- */
typedef enum {
  LR_UN_NEG,        /* real and complex */
  LR_UN_EXP,        /* real and complex */
  LR_UN_LOG,        /* real and complex */
  LR_UN_AFFINE,     /* x * p0 + p1; real and complex (p1 added to the real part) */
  LR_UN_ABS,        /* real and complex (complex -> real |z|) */
  LR_UN_LOG1P,      /* real only from here on */
  LR_UN_EXPM1,
  LR_UN_SQRT,
  LR_UN_RSQRT,
  LR_UN_SIN,
  LR_UN_COS,
  LR_UN_TANH,
  LR_UN_SIGMOID,
  LR_UN_SOFTPLUS,   /* p0 beta, p1 threshold */
  LR_UN_SILU,
  LR_UN_GELU_ERF,
  LR_UN_GELU_TANH,
  LR_UN_RELU,
  LR_UN_CLAMP,      /* p0 lo, p1 hi */
  LR_UN_POW_SCALAR  /* x^p0 */
} lr_unary_kind;

/* y = f(x). y: contiguous, shape[ndim], dtype dt (real dtype of dt for ABS of a complex x);
 * x: strides xs in elements. */
void lr_kcpu_unary(lr_unary_kind k, lr_dtype dt, void *y, const void *x, const int64_t *xs, int ndim,
                   const int64_t *shape, double p0, double p1);

/* gx = g * f'(x) (complex: g * conj(f'(x)); ABS of complex: g * x / |x|). gx: contiguous, dtype
 * dt; g, y: contiguous upstream gradient and forward output (real for ABS of complex); x: strides
 * xs. */
void lr_kcpu_unary_bwd(lr_unary_kind k, lr_dtype dt, void *gx, const void *g, const void *x, const int64_t *xs,
                       const void *y, int ndim, const int64_t *shape, double p0, double p1);

/* ---- selection ---- */
/* out = cond ? a : b. cond: BOOL (uint8); a, b: elements of esize bytes (1, 2, 4, 8 or 16);
 * all three strided in out's dim space; out contiguous. */
void lr_kcpu_where(size_t esize, void *out, const uint8_t *cond, const int64_t *cs, const void *a,
                   const int64_t *as, const void *b, const int64_t *bs, int ndim, const int64_t *shape);

/* ga = cond ? g : 0, gb = cond ? 0 : g. ga, gb (either may be NULL), g: contiguous. dt: float. */
void lr_kcpu_where_bwd(lr_dtype dt, void *ga, void *gb, const void *g, const uint8_t *cond, const int64_t *cs,
                       int ndim, const int64_t *shape);

/* ---- comparisons ---- */
typedef enum { LR_CMP_EQ, LR_CMP_NE, LR_CMP_LT, LR_CMP_LE, LR_CMP_GT, LR_CMP_GE } lr_compare_kind;

/* out (BOOL, contiguous) = a (cmp) b with broadcasting. dt: F32, F64, I32, I64. */
void lr_kcpu_compare(lr_compare_kind k, lr_dtype dt, uint8_t *out, const void *a, const int64_t *as, const void *b,
                     const int64_t *bs, int ndim, const int64_t *shape);

#endif
