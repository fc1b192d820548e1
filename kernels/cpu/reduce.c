/* Reduction kernels on the CPU.
 *
 * sum:   out[o] = scale * sum_r x[o, r]                       (sum, mean = sum * 1/n)
 * sqdev: out[o] = scale * sum_r (x[o, r] - center[o])^2        (var's second pass, center = mean)
 * The caller lists x's dims as kept (output order) and reduced, with adjacent dims already merged.
 * Two loop shapes:
 *   - columns: when x's unit-stride dim is kept (a sum over the batch of (B, H)), each task owns
 *     a block of up to 256 adjacent outputs and streams the reduced dims past them;
 *   - rows: otherwise each output walks its reduced elements, innermost reduced dim in the inner
 *     loop with four partial sums. Few outputs over many elements (a full sum) are split into a
 *     fixed number of chunks (nred / 8192, at most 64) whose partials are added in order.
 * Every choice depends on the shapes only, and each output's terms are added in one fixed order,
 * so results are bitwise identical for any thread count. F32 and C64 accumulate in double.
 *
 * argext: first extreme along one dim, NaN counting as the extreme (torch.max(x, dim)).
 * expand_acc / scatter_acc: the backwards, dx += g broadcast back over the reduced dims (times
 * (x - mean) for var), and dx[argmax] += g.
 */
#include "kernels/cpu/reduce.h"

#include <math.h>
#include <string.h>

#define RMAX 8
#define COL_BLOCK 256
#define CHUNK_ELEMS 8192
#define MAX_CHUNKS 64
#define PAR_WORK 32768

/* acc[0..NP) += sum over reduced elements [r0, r1) of x[base + off(r)] (or (x - c)^2). */
#define DEF_RANGE(SUF, T, NP)                                                                          \
  static void range_##SUF(const T *x, int64_t base, int nr, const int64_t *rshape, const int64_t *rstr, \
                          int64_t r0, int64_t r1, const T *center, double *acc) {                      \
    int64_t idx[RMAX], off = base, rem = r0;                                                           \
    for (int d = nr - 1; d >= 0; d--) {                                                                \
      idx[d] = rem % rshape[d];                                                                        \
      rem /= rshape[d];                                                                                \
      off += idx[d] * rstr[d];                                                                         \
    }                                                                                                  \
    int last = nr - 1;                                                                                 \
    int64_t Ln = rshape[last], ls = rstr[last], r = r0;                                                \
    double p0 = 0, p1 = 0, p2 = 0, p3 = 0, q0 = 0, q1 = 0;                                             \
    double c = center ? (double)center[0] : 0.0;                                                       \
    while (r < r1) {                                                                                   \
      int64_t len = Ln - idx[last];                                                                    \
      if (len > r1 - r) len = r1 - r;                                                                  \
      const T *p = x + off * NP;                                                                       \
      if (NP == 2) {                                                                                   \
        for (int64_t j = 0; j < len; j++) {                                                            \
          q0 += p[j * ls * NP];                                                                        \
          q1 += p[j * ls * NP + 1];                                                                    \
        }                                                                                              \
      } else if (center) {                                                                             \
        for (int64_t j = 0; j < len; j++) {                                                            \
          double v = (double)p[j * ls] - c;                                                            \
          q0 += v * v;                                                                                 \
        }                                                                                              \
      } else if (ls == 1) {                                                                            \
        int64_t j = 0;                                                                                 \
        for (; j + 4 <= len; j += 4) {                                                                 \
          p0 += p[j];                                                                                  \
          p1 += p[j + 1];                                                                              \
          p2 += p[j + 2];                                                                              \
          p3 += p[j + 3];                                                                              \
        }                                                                                              \
        for (; j < len; j++) q0 += p[j];                                                               \
      } else {                                                                                         \
        for (int64_t j = 0; j < len; j++) q0 += p[j * ls];                                             \
      }                                                                                                \
      r += len;                                                                                        \
      off += len * ls;                                                                                 \
      idx[last] += len;                                                                                \
      for (int d = last; d > 0 && idx[d] == rshape[d]; d--) {                                          \
        off -= rshape[d] * rstr[d];                                                                    \
        idx[d] = 0;                                                                                    \
        idx[d - 1]++;                                                                                  \
        off += rstr[d - 1];                                                                            \
      }                                                                                                \
    }                                                                                                  \
    acc[0] += ((p0 + p1) + (p2 + p3)) + q0;                                                            \
    if (NP == 2) acc[1] += q1;                                                                         \
  }

/* Offset in x of kept multi-index o (row-major over kshape). */
static int64_t kept_offset(int64_t o, int nk, const int64_t *kshape, const int64_t *kstr) {
  int64_t off = 0;
  for (int d = nk - 1; d >= 0; d--) {
    off += (o % kshape[d]) * kstr[d];
    o /= kshape[d];
  }
  return off;
}

#define STORE(T, NP, out, o, acc, accumulate, scale)                          \
  do {                                                                        \
    for (int p_ = 0; p_ < NP; p_++) {                                         \
      double v_ = (scale) * (acc)[p_];                                        \
      if (accumulate) (out)[(o) * NP + p_] += (T)v_;                          \
      else (out)[(o) * NP + p_] = (T)v_;                                      \
    }                                                                         \
  } while (0)

#define DEF_REDUCE(SUF, T, NP)                                                                               \
  DEF_RANGE(SUF, T, NP)                                                                                      \
  static void reduce_##SUF(T *out, bool accumulate, const T *x, const T *center, int nk, const int64_t *kshape, \
                           const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr, double scale) { \
    int64_t nout = 1, nred = 1;                                                                              \
    for (int d = 0; d < nk; d++) nout *= kshape[d];                                                          \
    for (int d = 0; d < nr; d++) nred *= rshape[d];                                                          \
    if (nout == 0) return;                                                                                   \
    int64_t work = nout * nred;                                                                              \
    bool unit_red = false;                                                                                   \
    for (int d = 0; d < nr; d++) unit_red |= rstr[d] == 1;                                                   \
    if (nk >= 1 && kstr[nk - 1] == 1 && kshape[nk - 1] >= 16 && !unit_red && nred > 0) {                     \
      /* columns */                                                                                          \
      int64_t ni = kshape[nk - 1], nblk = (ni + COL_BLOCK - 1) / COL_BLOCK, nouter = nout / ni;               \
      _Pragma("omp parallel for if (work > PAR_WORK)")                                                      \
      for (int64_t t = 0; t < nouter * nblk; t++) {                                                          \
        int64_t ko = t / nblk, j0 = (t % nblk) * COL_BLOCK, jn = ni - j0 < COL_BLOCK ? ni - j0 : COL_BLOCK;  \
        int64_t base = kept_offset(ko, nk - 1, kshape, kstr) + j0;                                           \
        const T *cen = center ? center + (ko * ni + j0) : NULL;                                              \
        double acc[COL_BLOCK * NP];                                                                          \
        memset(acc, 0, sizeof acc);                                                                          \
        int64_t idx[RMAX] = {0}, off = 0;                                                                    \
        for (int64_t r = 0; r < nred; r++) {                                                                 \
          const T *p = x + (base + off) * NP;                                                                \
          if (cen)                                                                                           \
            for (int64_t j = 0; j < jn; j++) {                                                               \
              double v = (double)p[j] - (double)cen[j];                                                      \
              acc[j] += v * v;                                                                               \
            }                                                                                                \
          else                                                                                               \
            for (int64_t j = 0; j < jn * NP; j++) acc[j] += p[j];                                            \
          for (int d = nr - 1; d >= 0; d--) {                                                                \
            idx[d]++;                                                                                        \
            off += rstr[d];                                                                                  \
            if (idx[d] < rshape[d]) break;                                                                   \
            off -= rstr[d] * rshape[d];                                                                      \
            idx[d] = 0;                                                                                      \
          }                                                                                                  \
        }                                                                                                    \
        for (int64_t j = 0; j < jn; j++) STORE(T, NP, out, ko * ni + j0 + j, acc + j * NP, accumulate, scale); \
      }                                                                                                      \
      return;                                                                                                \
    }                                                                                                        \
    if (nout < 8 && nred >= 2 * CHUNK_ELEMS) {                                                               \
      /* few outputs, many elements: fixed chunks, partials added in order */                               \
      int64_t nch = nred / CHUNK_ELEMS < MAX_CHUNKS ? nred / CHUNK_ELEMS : MAX_CHUNKS;                       \
      for (int64_t o = 0; o < nout; o++) {                                                                   \
        double part[MAX_CHUNKS][2];                                                                          \
        int64_t base = kept_offset(o, nk, kshape, kstr);                                                     \
        _Pragma("omp parallel for")                                                                          \
        for (int64_t c = 0; c < nch; c++) {                                                                  \
          part[c][0] = part[c][1] = 0;                                                                       \
          range_##SUF(x, base, nr, rshape, rstr, nred * c / nch, nred * (c + 1) / nch, center ? center + o : NULL, \
                      part[c]);                                                                              \
        }                                                                                                    \
        double acc[2] = {0, 0};                                                                              \
        for (int64_t c = 0; c < nch; c++) {                                                                  \
          acc[0] += part[c][0];                                                                              \
          acc[1] += part[c][1];                                                                              \
        }                                                                                                    \
        STORE(T, NP, out, o, acc, accumulate, scale);                                                        \
      }                                                                                                      \
      return;                                                                                                \
    }                                                                                                        \
    /* rows */                                                                                               \
    _Pragma("omp parallel for if (work > PAR_WORK)")                                                        \
    for (int64_t o = 0; o < nout; o++) {                                                                     \
      double acc[2] = {0, 0};                                                                                \
      if (nred > 0)                                                                                          \
        range_##SUF(x, kept_offset(o, nk, kshape, kstr), nr, rshape, rstr, 0, nred, center ? center + o : NULL, acc); \
      STORE(T, NP, out, o, acc, accumulate, scale);                                                          \
    }                                                                                                        \
  }

DEF_REDUCE(f32, float, 1)
DEF_REDUCE(f64, double, 1)
DEF_REDUCE(c64, float, 2)
DEF_REDUCE(c128, double, 2)

static void reduce_any(lr_dtype dt, void *out, bool accumulate, const void *x, const void *center, int nk,
                       const int64_t *kshape, const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr,
                       double scale) {
  static const int64_t one = 1, zero = 0;
  if (nr == 0) { /* nothing reduced: each output is its one element */
    nr = 1;
    rshape = &one;
    rstr = &zero;
  }
  switch (dt) {
    case LR_DTYPE_F32: reduce_f32(out, accumulate, x, center, nk, kshape, kstr, nr, rshape, rstr, scale); break;
    case LR_DTYPE_F64: reduce_f64(out, accumulate, x, center, nk, kshape, kstr, nr, rshape, rstr, scale); break;
    case LR_DTYPE_C64: reduce_c64(out, accumulate, x, NULL, nk, kshape, kstr, nr, rshape, rstr, scale); break;
    case LR_DTYPE_C128: reduce_c128(out, accumulate, x, NULL, nk, kshape, kstr, nr, rshape, rstr, scale); break;
    default: break;
  }
}

void lr_kcpu_reduce_sum(lr_dtype dt, void *out, bool accumulate, const void *x, int nk, const int64_t *kshape,
                        const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr, double scale) {
  reduce_any(dt, out, accumulate, x, NULL, nk, kshape, kstr, nr, rshape, rstr, scale);
}

void lr_kcpu_reduce_sqdev(lr_dtype dt, void *out, const void *x, const void *center, int nk, const int64_t *kshape,
                          const int64_t *kstr, int nr, const int64_t *rshape, const int64_t *rstr, double scale) {
  reduce_any(dt, out, false, x, center, nk, kshape, kstr, nr, rshape, rstr, scale);
}

/* ---- arg-extremes ---- */
#define ARGEXT(T)                                                                          \
  do {                                                                                     \
    const T *xp = x;                                                                       \
    T *vp = values;                                                                        \
    _Pragma("omp parallel for if (no * ni * L > PAR_WORK)")                                 \
    for (int64_t o = 0; o < no; o++) {                                                     \
      for (int64_t i = 0; i < ni; i++) {                                                   \
        const T *p = xp + o * ostr + i * istr;                                             \
        T best = p[0];                                                                     \
        int64_t bi = 0;                                                                    \
        for (int64_t l = 1; l < L && !isnan(best); l++) {                                  \
          T v = p[l * ls];                                                                 \
          if (isnan(v) || (is_max ? v > best : v < best)) {                                \
            best = v;                                                                      \
            bi = l;                                                                        \
          }                                                                                \
        }                                                                                  \
        if (vp) vp[o * ni + i] = best;                                                     \
        idx[o * ni + i] = bi;                                                              \
      }                                                                                    \
    }                                                                                      \
  } while (0)

void lr_kcpu_argext(lr_dtype dt, bool is_max, void *values, int64_t *idx, const void *x, int64_t no, int64_t ostr,
                    int64_t L, int64_t ls, int64_t ni, int64_t istr) {
  if (L <= 0) return;
  if (dt == LR_DTYPE_F32) ARGEXT(float);
  else if (dt == LR_DTYPE_F64) ARGEXT(double);
}

/* ---- backwards ---- */
#define EXPAND_ACC(T, NP)                                                                   \
  do {                                                                                      \
    T *d_ = dx;                                                                             \
    const T *g_ = g, *x_ = x, *c_ = center;                                                 \
    _Pragma("omp parallel for if (n > PAR_WORK)")                                           \
    for (int64_t r = 0; r < rows; r++) {                                                    \
      int64_t go = 0, xo = 0, rem = r;                                                      \
      for (int k = ndim - 2; k >= 0; k--) {                                                 \
        int64_t ik = rem % shape[k];                                                        \
        rem /= shape[k];                                                                    \
        go += ik * gs[k];                                                                   \
        if (x_) xo += ik * xs[k];                                                           \
      }                                                                                     \
      T *dp = d_ + r * inner * NP;                                                          \
      if (x_) {                                                                             \
        for (int64_t j = 0; j < inner; j++) {                                               \
          int64_t gj = go + j * gi;                                                         \
          dp[j] += (T)(scale * (double)g_[gj] * ((double)x_[xo + j * xi] - (double)c_[gj])); \
        }                                                                                   \
      } else {                                                                              \
        for (int64_t j = 0; j < inner; j++)                                                 \
          for (int p = 0; p < NP; p++) dp[j * NP + p] += (T)(scale * g_[(go + j * gi) * NP + p]); \
      }                                                                                     \
    }                                                                                       \
  } while (0)

void lr_kcpu_expand_acc(lr_dtype dt, void *dx, int ndim, const int64_t *shape, const void *g, const int64_t *gs,
                        double scale, const void *x, const int64_t *xs, const void *center) {
  static const int64_t one = 1, zero = 0;
  if (ndim == 0) {
    ndim = 1;
    shape = &one;
    gs = &zero;
    xs = &zero;
  }
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (n == 0) return;
  int64_t inner = shape[ndim - 1], rows = n / inner, gi = gs[ndim - 1], xi = x ? xs[ndim - 1] : 0;
  switch (dt) {
    case LR_DTYPE_F32: EXPAND_ACC(float, 1); break;
    case LR_DTYPE_F64: EXPAND_ACC(double, 1); break;
    case LR_DTYPE_C64: x = NULL; EXPAND_ACC(float, 2); break;
    case LR_DTYPE_C128: x = NULL; EXPAND_ACC(double, 2); break;
    default: break;
  }
}

#define SCATTER_ACC(T)                                                         \
  do {                                                                         \
    T *d_ = dx;                                                                \
    const T *g_ = g;                                                           \
    _Pragma("omp parallel for if (no * ni > PAR_WORK)")                        \
    for (int64_t o = 0; o < no; o++)                                           \
      for (int64_t i = 0; i < ni; i++)                                         \
        d_[(o * L + idx[o * ni + i]) * ni + i] += g_[o * ni + i];              \
  } while (0)

void lr_kcpu_scatter_acc(lr_dtype dt, void *dx, const void *g, const int64_t *idx, int64_t no, int64_t L, int64_t ni) {
  if (dt == LR_DTYPE_F32) SCATTER_ACC(float);
  else if (dt == LR_DTYPE_F64) SCATTER_ACC(double);
}
