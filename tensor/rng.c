/* lrnnx's RNG: Philox 4x32-10 streams that a CUDA kernel reproduces bit for bit.
 *
 * THE STREAM. A generator is (seed, offset). Draw number d (a 64-bit index, counted from 0) is
 * the 32-bit word
 *     draw(seed, d) = philox4x32_10(ctr = (lo32(d/4), hi32(d/4), 0, 0),
 *                                   key = (lo32(seed), hi32(seed)))[d % 4]
 * (tensor/philox.h; checked against Random123's known-answer vectors in tests/test_rng.c).
 * A call that starts at offset o and uses D draws reads draws o .. o+D-1 and leaves the
 * generator at offset o + D, so two calls continue one stream exactly: uniform(5) then
 * uniform(7) equals uniform(12).
 *
 * ELEMENT ORDER. Elements are numbered by their logical row-major index i (0 .. numel-1),
 * whatever the strides. A complex tensor is n = 2 numel scalars: scalar s = 2i is the real part
 * of element i, s = 2i+1 its imaginary part. A real tensor has scalars s = i. All offsets below
 * are relative to the call's start o; every value depends only on (seed, o, s).
 *
 * uniform_(lo, hi), draws = k n, k = 1 for f32/c64, 2 for f64/c128:
 *   f32: w = draw(o + s); u = (float)(w >> 8) * 2^-24              (exact, [0, 1))
 *        v = L + S * u in float arithmetic (each op rounded, no FMA), L = (float)lo,
 *        S = (float)(hi - lo) (difference in double, then rounded), and if v >= (float)hi
 *        then v = L (rounding can reach hi; PyTorch's CUDA kernel does the same).
 *   f64: a = draw(o + 2s), b = draw(o + 2s + 1); u = ((b << 32 | a) >> 11) * 2^-53;
 *        v = lo + (hi - lo) * u in double; if v >= hi then v = lo.
 * normal_(mean, std), Box-Muller on pairs of scalars, draws = 2k ceil(n/2):
 *   pair p = s / 2 (integer division) takes two uniforms
 *     f32: u1 = ((draw(o + 2p) >> 8) + 1) * 2^-24 in (0, 1],  u2 = (draw(o + 2p + 1) >> 8) * 2^-24
 *     f64: u1 = (((d1 << 32 | d0) >> 11) + 1) * 2^-53,  u2 = ((d3 << 32 | d2) >> 11) * 2^-53
 *          with dj = draw(o + 4p + j)
 *   z = sqrt(-2 log u1) * (s even ? cos(2 pi u2) : sin(2 pi u2)), with log and sin/cos computed
 *   by lr_philox_log / lr_philox_sincos2pi (tensor/philox.h: plain double arithmetic, no libm),
 *   all in double; v = mean + sd * z in double (sd = std for real, std / sqrt(2) for complex),
 *   rounded once to the tensor's precision. An odd n leaves the last sine unused.
 * bernoulli_(p), draws = numel (one per element, any dtype):
 *   v = (draw(o + i) * 2^-32 < p) ? 1 : 0, compared in double (exact). p = 1 gives all ones.
 * rand_int_(lo, hi), R = hi - lo as uint64:
 *   R <= 2^32: draws = numel, v = lo + ((uint64)draw(o + i) * R >> 32)   (multiply-shift)
 *   R >  2^32: draws = 2 numel, x = draw(o + 2i + 1) << 32 | draw(o + 2i), v = lo + x mod R
 *   (bias below R / 2^32 resp. R / 2^64; no rejection, so an element is a pure function of i).
 * randperm(n), draws = max(n - 1, 0): Fisher-Yates from the top; step t = 0 .. n-2 works on
 *   position i = n-1-t: j = (uint64)draw(o + t) * (i + 1) >> 32, swap a[i] and a[j].
 *   It is sequential; a GPU runs it in one thread or copies the CPU result.
 *
 * Device tensors are filled on the host and copied: the stream does not depend on where it is
 * computed. Large fills run row-parallel with OpenMP; each row recomputes the blocks it needs.
 */
#include "tensor/rng.h"

#include <stdlib.h>

void lr_rng_init(lr_rng *r, uint64_t seed) {
  if (!r) return;
  r->seed = seed;
  r->offset = 0;
}

void lr_philox4x32(uint64_t seed, uint64_t ctr, uint32_t out[4]) {
  const uint32_t c[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), 0, 0};
  const uint32_t k[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  lr_philox4x32_10(c, k, out);
}

typedef enum { G_UNIF32, G_UNIF64, G_NORM32, G_NORM64, G_BERN, G_INT_NARROW, G_INT_WIDE } gen_kind;

typedef struct {
  gen_kind kind;
  uint64_t seed, off;
  double a, b, hi;   /* uniform: lo, hi - lo, hi; normal: mean, sd; bernoulli: p */
  float af, sf, hf;  /* f32 uniform: L, S, (float)hi */
  int64_t lo;        /* rand_int */
  uint64_t range;
} gen;

/* The last Philox block computed by this thread. */
typedef struct {
  uint64_t blk;
  uint32_t w[4];
} pcache;

static inline uint32_t draw(const gen *g, pcache *c, uint64_t d) {
  d += g->off;
  uint64_t b = d >> 2;
  if (b != c->blk) {
    lr_philox4x32(g->seed, b, c->w);
    c->blk = b;
  }
  return c->w[d & 3];
}

/* Scalar s of a float fill. */
static double gen_real(const gen *g, pcache *c, uint64_t s) {
  switch (g->kind) {
    case G_UNIF32: {
      float u = lr_philox_u01_f32(draw(g, c, s));
      float p = g->sf * u;
      float v = g->af + p;
      return v >= g->hf ? g->af : v;
    }
    case G_UNIF64: {
      double u = lr_philox_u01_f64(draw(g, c, 2 * s), draw(g, c, 2 * s + 1));
      double v = g->a + g->b * u;
      return v >= g->hi ? g->a : v;
    }
    case G_NORM32: {
      uint64_t p = s >> 1;
      double u1 = lr_philox_u01c_f32(draw(g, c, 2 * p)), u2 = lr_philox_u01_f32(draw(g, c, 2 * p + 1));
      return g->a + g->b * lr_philox_box_muller(u1, u2, (int)(s & 1));
    }
    case G_NORM64: {
      uint64_t p = s >> 1;
      double u1 = lr_philox_u01c_f64(draw(g, c, 4 * p), draw(g, c, 4 * p + 1));
      double u2 = lr_philox_u01_f64(draw(g, c, 4 * p + 2), draw(g, c, 4 * p + 3));
      return g->a + g->b * lr_philox_box_muller(u1, u2, (int)(s & 1));
    }
    case G_BERN: return (double)draw(g, c, s) * 0x1p-32 < g->a ? 1.0 : 0.0;
    default: return 0.0;
  }
}

static int64_t gen_int(const gen *g, pcache *c, uint64_t i) {
  uint64_t v;
  if (g->kind == G_INT_NARROW) {
    v = ((uint64_t)draw(g, c, i) * g->range) >> 32;
  } else {
    uint64_t x = ((uint64_t)draw(g, c, 2 * i + 1) << 32) | draw(g, c, 2 * i);
    v = x % g->range;
  }
  return (int64_t)((uint64_t)g->lo + v);
}

/* Fills a CPU tensor (any strides) element by element in logical order. */
static void fill_cpu(lr_tensor *t, const gen *g) {
  int64_t n = lr_numel(t);
  if (n == 0) return;
  int nd = t->ndim;
  int64_t inner = nd ? t->shape[nd - 1] : 1, istr = nd ? t->strides[nd - 1] : 1, rows = n / inner;
  lr_dtype dt = t->dtype;
  size_t es = lr_dtype_size(dt);
  unsigned char *base = t->data;
#pragma omp parallel for if (n > 16384) schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    pcache c = {UINT64_MAX, {0, 0, 0, 0}};
    int64_t off = 0, rem = r;
    for (int k = nd - 2; k >= 0; k--) {
      off += (rem % t->shape[k]) * t->strides[k];
      rem /= t->shape[k];
    }
    for (int64_t j = 0; j < inner; j++) {
      uint64_t i = (uint64_t)(r * inner + j);
      unsigned char *p = base + (off + j * istr) * (int64_t)es;
      switch (dt) {
        case LR_DTYPE_F32: *(float *)p = (float)gen_real(g, &c, i); break;
        case LR_DTYPE_F64: *(double *)p = gen_real(g, &c, i); break;
        case LR_DTYPE_C64:
          ((float *)p)[0] = (float)gen_real(g, &c, 2 * i);
          ((float *)p)[1] = (float)gen_real(g, &c, 2 * i + 1);
          break;
        case LR_DTYPE_C128:
          ((double *)p)[0] = gen_real(g, &c, 2 * i);
          ((double *)p)[1] = gen_real(g, &c, 2 * i + 1);
          break;
        case LR_DTYPE_BOOL: *(uint8_t *)p = gen_real(g, &c, i) != 0.0; break;
        case LR_DTYPE_I32: *(int32_t *)p = (int32_t)gen_int(g, &c, i); break;
        case LR_DTYPE_I64: *(int64_t *)p = gen_int(g, &c, i); break;
        default: break;
      }
    }
  }
}

/* Fills t wherever it lives: CPU directly, a device through a contiguous host buffer. */
static lr_status fill(const char *fn, lr_tensor *t, const gen *g) {
  if (t->device == LR_DEVICE_CPU) {
    fill_cpu(t, g);
    return LR_OK;
  }
  size_t bytes = lr_nbytes(t);
  void *h = malloc(bytes ? bytes : 1);
  if (!h) return lr_fail(LR_ERR_MEMORY, "%s: cannot allocate %zu bytes of host staging", fn, bytes);
  lr_tensor ht = *t;
  ht.device = LR_DEVICE_CPU;
  ht.data = h;
  lr_contiguous_strides(t->ndim, t->shape, ht.strides);
  fill_cpu(&ht, g);
  lr_status s = lr_tensor_copy_from_host(t, h, bytes);
  free(h);
  return s;
}

static lr_status check_common(const char *fn, const lr_tensor *t, const lr_rng *r) {
  if (!t) return lr_fail(LR_ERR_ARG, "%s: argument 't' is NULL", fn);
  if (!r) return lr_fail(LR_ERR_ARG, "%s: argument 'r' is NULL", fn);
  return LR_OK;
}

static lr_status check_float(const char *fn, const lr_tensor *t) {
  if (!lr_dtype_is_float(t->dtype))
    return lr_fail(LR_ERR_DTYPE, "%s: t is %s, expected f32, f64, c64 or c128", fn, lr_dtype_name(t->dtype));
  return LR_OK;
}

/* Draws per scalar of a uniform: 1 for single precision, 2 for double. */
static uint64_t draws_per_scalar(lr_dtype dt) { return (dt == LR_DTYPE_F64 || dt == LR_DTYPE_C128) ? 2 : 1; }
static uint64_t n_scalars(const lr_tensor *t) {
  return (uint64_t)lr_numel(t) * (lr_dtype_is_complex(t->dtype) ? 2u : 1u);
}

lr_status lr_rand_uniform_(lr_tensor *t, double lo, double hi, lr_rng *r) {
  const char *fn = "lr_rand_uniform_";
  LR_TRY(check_common(fn, t, r));
  LR_TRY(check_float(fn, t));
  if (!isfinite(lo) || !isfinite(hi) || !(lo <= hi) || !isfinite(hi - lo))
    return lr_fail(LR_ERR_ARG, "%s: bounds [%g, %g) are not finite with lo <= hi", fn, lo, hi);
  uint64_t k = draws_per_scalar(t->dtype);
  gen g = {.kind = k == 1 ? G_UNIF32 : G_UNIF64, .seed = r->seed, .off = r->offset, .a = lo, .b = hi - lo,
           .hi = hi, .af = (float)lo, .sf = (float)(hi - lo), .hf = (float)hi};
  LR_TRY(fill(fn, t, &g));
  r->offset += k * n_scalars(t);
  return LR_OK;
}

lr_status lr_rand_normal_(lr_tensor *t, double mean, double std, lr_rng *r) {
  const char *fn = "lr_rand_normal_";
  LR_TRY(check_common(fn, t, r));
  LR_TRY(check_float(fn, t));
  if (!isfinite(mean) || !isfinite(std) || std < 0)
    return lr_fail(LR_ERR_ARG, "%s: mean %g and std %g must be finite with std >= 0", fn, mean, std);
  uint64_t k = draws_per_scalar(t->dtype);
  double sd = lr_dtype_is_complex(t->dtype) ? std / sqrt(2.0) : std;
  gen g = {.kind = k == 1 ? G_NORM32 : G_NORM64, .seed = r->seed, .off = r->offset, .a = mean, .b = sd};
  LR_TRY(fill(fn, t, &g));
  r->offset += 2 * k * ((n_scalars(t) + 1) / 2);
  return LR_OK;
}

lr_status lr_rand_bernoulli_(lr_tensor *t, double p, lr_rng *r) {
  const char *fn = "lr_rand_bernoulli_";
  LR_TRY(check_common(fn, t, r));
  if (t->dtype != LR_DTYPE_BOOL && t->dtype != LR_DTYPE_F32 && t->dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_DTYPE, "%s: t is %s, expected bool, f32 or f64", fn, lr_dtype_name(t->dtype));
  if (!(p >= 0.0 && p <= 1.0)) return lr_fail(LR_ERR_ARG, "%s: p = %g is not in [0, 1]", fn, p);
  gen g = {.kind = G_BERN, .seed = r->seed, .off = r->offset, .a = p};
  LR_TRY(fill(fn, t, &g));
  r->offset += (uint64_t)lr_numel(t);
  return LR_OK;
}

lr_status lr_rand_int_(lr_tensor *t, int64_t lo, int64_t hi, lr_rng *r) {
  const char *fn = "lr_rand_int_";
  LR_TRY(check_common(fn, t, r));
  if (t->dtype != LR_DTYPE_I32 && t->dtype != LR_DTYPE_I64)
    return lr_fail(LR_ERR_DTYPE, "%s: t is %s, expected i32 or i64", fn, lr_dtype_name(t->dtype));
  if (lo >= hi) return lr_fail(LR_ERR_ARG, "%s: empty range [%lld, %lld)", fn, (long long)lo, (long long)hi);
  if (t->dtype == LR_DTYPE_I32 && (lo < INT32_MIN || hi - 1 > INT32_MAX))
    return lr_fail(LR_ERR_ARG, "%s: range [%lld, %lld) does not fit an i32 tensor", fn, (long long)lo,
                   (long long)hi);
  uint64_t range = (uint64_t)hi - (uint64_t)lo;
  bool narrow = range <= (1ull << 32);
  gen g = {.kind = narrow ? G_INT_NARROW : G_INT_WIDE, .seed = r->seed, .off = r->offset, .lo = lo, .range = range};
  LR_TRY(fill(fn, t, &g));
  r->offset += (narrow ? 1u : 2u) * (uint64_t)lr_numel(t);
  return LR_OK;
}

lr_status lr_randperm(int64_t n, lr_rng *r, lr_tensor **out) {
  const char *fn = "lr_randperm";
  if (!r) return lr_fail(LR_ERR_ARG, "%s: argument 'r' is NULL", fn);
  if (!out) return lr_fail(LR_ERR_ARG, "%s: argument 'out' is NULL", fn);
  if (n < 0 || n > (1ll << 32)) return lr_fail(LR_ERR_ARG, "%s: n = %lld is not in [0, 2^32]", fn, (long long)n);
  lr_tensor *t;
  LR_TRY(lr_empty(LR_DTYPE_I64, 1, &n, &t));
  int64_t *a = t->data;
  for (int64_t i = 0; i < n; i++) a[i] = i;
  gen g = {.seed = r->seed, .off = r->offset};
  pcache c = {UINT64_MAX, {0, 0, 0, 0}};
  for (int64_t i = n - 1, step = 0; i >= 1; i--, step++) {
    int64_t j = (int64_t)(((uint64_t)draw(&g, &c, (uint64_t)step) * (uint64_t)(i + 1)) >> 32);
    int64_t tmp = a[i];
    a[i] = a[j];
    a[j] = tmp;
  }
  r->offset += n > 0 ? (uint64_t)(n - 1) : 0;
  *out = t;
  return LR_OK;
}
