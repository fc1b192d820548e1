/* Elementwise CUDA kernels: binary ops with broadcasting and their backward, unary maps and their
 * backward, where, comparisons, fill. Mirrors kernels/cpu/elementwise.c formula for formula
 * (the math, the numerically careful forms and the derivatives are listed there):
 *   binary  out = a (op) b, op in {+, -, *, /} for F32, F64, C64, C128; pow, maximum, minimum
 *           for F32, F64. Backward of mul, div, pow, maximum, minimum in the broadcast shape.
 *   unary   y = f(x) for every lr_unary_kind (neg, exp, log, affine, abs also complex), and
 *           gx = g f'(x) (complex: g conj(f'(z)); abs of complex: g z / |z|).
 *   where   out = cond ? a : b for elements of 1..16 bytes; backward ga = cond ? g : 0,
 *           gb = cond ? 0 : g.
 *   compare out (BOOL) = a (cmp) b for F32, F64, I32, I64.
 * Shapes: outputs contiguous in the broadcast shape; inputs strided in the output's dims (0
 * along broadcast dims); upstream gradients and forward outputs read by backward are contiguous.
 *
 * Launch layout: elementwise.cuh's iterator, grid-stride loops of 256-thread blocks, size-1 dims
 * dropped and contiguous dims merged on the host. Binary and real unary ops (forward and backward)
 * take the dense path when every array is contiguous and 16-byte aligned (a same-shape op on
 * fresh tensors): 32-byte chunks per thread moved as 16-byte vectors. The rest (broadcasts,
 * misaligned or strided views, complex unary, where, comparisons) run one element per thread,
 * with the multi-index split unless one dim is left.
 *
 * Deterministic: every output element is computed by one thread from its own inputs, with no
 * reductions and no atomics. Agreement with the CPU: products and sums are rounded one at a time
 * (elementwise.cuh's *_rn, no fused multiply-adds), so every formula that calls no library
 * function (arithmetic, neg, affine, abs, sqrt, rsqrt, relu, clamp, maximum, minimum, where,
 * comparisons, complex mul/div, and the backward of these) gives the CPU's bits; exp, log, tanh,
 * erf, pow ... are CUDA's, within a few ulp of glibc's (CUDA Programming Guide, "Mathematical
 * Functions": e.g. expf 2 ulp, powf 4 ulp, tanh 1 ulp in double), and so is anything computed from
 * them.
 */
#include "kernels/cuda/elementwise.cuh"

using namespace lr_ew;

namespace {

template <typename T> struct is_cplx { static const bool value = false; };
template <> struct is_cplx<lr_c64> { static const bool value = true; };
template <> struct is_cplx<lr_c128> { static const bool value = true; };

constexpr double kSqrt1_2 = 0.70710678118654752440;     /* 1 / sqrt(2) */
constexpr double kSqrt2Pi = 0.79788456080286535588;     /* sqrt(2 / pi) */
constexpr double kInvSqrt2Pi = 0.39894228040143267794;  /* 1 / sqrt(2 pi) */

/* ---- binary ---- */

template <int K, typename T> __device__ __forceinline__ T bin(T x, T y) {
  if constexpr (is_cplx<T>::value) {
    if constexpr (K == LR_BIN_ADD) return cadd(x, y);
    else if constexpr (K == LR_BIN_SUB) return csub(x, y);
    else if constexpr (K == LR_BIN_MUL) return cmul(x, y);
    else return cdiv(x, y);
  } else {
    if constexpr (K == LR_BIN_ADD) return x + y;
    else if constexpr (K == LR_BIN_SUB) return x - y;
    else if constexpr (K == LR_BIN_MUL) return x * y;
    else if constexpr (K == LR_BIN_DIV) return x / y;
    else if constexpr (K == LR_BIN_POW) return pow_(x, y);
    else if constexpr (K == LR_BIN_MAX) return (x > y || isnan(x)) ? x : y;
    else return (x < y || isnan(x)) ? x : y;
  }
}

template <int K, typename T> struct BinOp {
  T *out;
  const T *a, *b;
  static constexpr int kE = chunk<T>();
  template <typename I> __device__ void operator()(I i, const I *off) const { out[i] = bin<K>(a[off[0]], b[off[1]]); }
  template <int E> __device__ void vec(int64_t i) const {
    Pack<T, E> x = ld_v<E>(a, i), y = ld_v<E>(b, i), r;
#pragma unroll
    for (int u = 0; u < E; u++) r.v[u] = bin<K>(x.v[u], y.v[u]);
    st_v<E>(out, i, r);
  }
  bool aligned() const { return al16(out) && al16(a) && al16(b); }
};

/* The share of a maximum's (minimum's) gradient that goes to x when the other operand is y. */
template <typename T> __device__ __forceinline__ T max_share(T x, T y) { return x > y ? T(1) : x == y ? T(0.5) : T(0); }
template <typename T> __device__ __forceinline__ T min_share(T x, T y) { return x < y ? T(1) : x == y ? T(0.5) : T(0); }

/* Gradients for a element x, b element y, upstream g_, forward output r (read only by the
 * complex division's and the real division's and pow's db). */
template <int K, typename T> __device__ __forceinline__ T bin_da(T x, T y, T g_) {
  if constexpr (is_cplx<T>::value) {
    if constexpr (K == LR_BIN_MUL) return cmul(g_, cconj(y));
    else return cdiv(g_, cconj(y)); /* DIV */
  } else {
    if constexpr (K == LR_BIN_MUL) return g_ * y;
    else if constexpr (K == LR_BIN_DIV) return g_ / y;
    else if constexpr (K == LR_BIN_POW) return y == 0 ? T(0) : g_ * y * pow_(x, y - 1);
    else if constexpr (K == LR_BIN_MAX) return g_ * max_share(x, y);
    else return g_ * min_share(x, y);
  }
}
template <int K, typename T> __device__ __forceinline__ T bin_db(T x, T y, T g_, T r) {
  if constexpr (is_cplx<T>::value) {
    if constexpr (K == LR_BIN_MUL) return cmul(g_, cconj(x));
    else return cscale(cmul(g_, cconj(cdiv(r, y))), -1); /* DIV */
  } else {
    if constexpr (K == LR_BIN_MUL) return g_ * x;
    else if constexpr (K == LR_BIN_DIV) return -g_ * r / y;
    else if constexpr (K == LR_BIN_POW) return (x == 0 && y >= 0) ? T(0) : g_ * r * log_(x);
    else if constexpr (K == LR_BIN_MAX) return g_ * max_share(y, x);
    else return g_ * min_share(y, x);
  }
}
/* ga, gb (either may be NULL) from a, b (strided), g and the forward output (contiguous). */
template <int K, typename T> struct BinBwd {
  T *ga, *gb;
  const T *g, *a, *b, *out;
  static constexpr int kE = chunk<T>();
  static constexpr bool kReadsR = K == LR_BIN_DIV || K == LR_BIN_POW; /* db reads the forward output */
  template <typename I> __device__ void operator()(I i, const I *off) const {
    T x = a[off[0]], y = b[off[1]], g_ = g[i];
    if (ga) ga[i] = bin_da<K>(x, y, g_);
    if (gb) gb[i] = bin_db<K>(x, y, g_, kReadsR ? out[i] : g_);
  }
  template <int E> __device__ void vec(int64_t i) const {
    Pack<T, E> x = ld_v<E>(a, i), y = ld_v<E>(b, i), gg = ld_v<E>(g, i), r;
    if (ga) {
#pragma unroll
      for (int u = 0; u < E; u++) r.v[u] = bin_da<K>(x.v[u], y.v[u], gg.v[u]);
      st_v<E>(ga, i, r);
    }
    if (gb) {
      Pack<T, E> o = kReadsR ? ld_v<E>(out, i) : gg;
#pragma unroll
      for (int u = 0; u < E; u++) r.v[u] = bin_db<K>(x.v[u], y.v[u], gg.v[u], o.v[u]);
      st_v<E>(gb, i, r);
    }
  }
  bool aligned() const { return al16(ga) && al16(gb) && al16(g) && al16(a) && al16(b) && al16(out); }
};

template <typename T>
lr_status binary_t(const char *fn, lr_binary_kind k, void *out, const void *a, const int64_t *as, const void *b,
                   const int64_t *bs, int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  const int64_t *st[2] = {as, bs};
  T *o = (T *)out;
  const T *pa = (const T *)a, *pb = (const T *)b;
  switch (k) {
    case LR_BIN_ADD: return run<2>(fn, BinOp<LR_BIN_ADD, T>{o, pa, pb}, ndim, shape, st, s);
    case LR_BIN_SUB: return run<2>(fn, BinOp<LR_BIN_SUB, T>{o, pa, pb}, ndim, shape, st, s);
    case LR_BIN_MUL: return run<2>(fn, BinOp<LR_BIN_MUL, T>{o, pa, pb}, ndim, shape, st, s);
    case LR_BIN_DIV: return run<2>(fn, BinOp<LR_BIN_DIV, T>{o, pa, pb}, ndim, shape, st, s);
    default: break;
  }
  if constexpr (!is_cplx<T>::value) {
    switch (k) {
      case LR_BIN_POW: return run<2>(fn, BinOp<LR_BIN_POW, T>{o, pa, pb}, ndim, shape, st, s);
      case LR_BIN_MAX: return run<2>(fn, BinOp<LR_BIN_MAX, T>{o, pa, pb}, ndim, shape, st, s);
      case LR_BIN_MIN: return run<2>(fn, BinOp<LR_BIN_MIN, T>{o, pa, pb}, ndim, shape, st, s);
      default: break;
    }
  }
  return lr_fail(LR_ERR_UNSUPPORTED, "%s: binary kind %d has no CUDA kernel for this dtype", fn, (int)k);
}

template <typename T>
lr_status binary_bwd_t(const char *fn, lr_binary_kind k, void *ga, void *gb, const void *g, const void *a,
                       const int64_t *as, const void *b, const int64_t *bs, const void *y, int ndim,
                       const int64_t *shape, lr_cuda_stream_t s) {
  const int64_t *st[2] = {as, bs};
  T *pga = (T *)ga, *pgb = (T *)gb;
  const T *pg = (const T *)g, *pa = (const T *)a, *pb = (const T *)b, *py = (const T *)y;
  switch (k) {
    case LR_BIN_MUL: return run<2>(fn, BinBwd<LR_BIN_MUL, T>{pga, pgb, pg, pa, pb, py}, ndim, shape, st, s);
    case LR_BIN_DIV: return run<2>(fn, BinBwd<LR_BIN_DIV, T>{pga, pgb, pg, pa, pb, py}, ndim, shape, st, s);
    default: break;
  }
  if constexpr (!is_cplx<T>::value) {
    switch (k) {
      case LR_BIN_POW: return run<2>(fn, BinBwd<LR_BIN_POW, T>{pga, pgb, pg, pa, pb, py}, ndim, shape, st, s);
      case LR_BIN_MAX: return run<2>(fn, BinBwd<LR_BIN_MAX, T>{pga, pgb, pg, pa, pb, py}, ndim, shape, st, s);
      case LR_BIN_MIN: return run<2>(fn, BinBwd<LR_BIN_MIN, T>{pga, pgb, pg, pa, pb, py}, ndim, shape, st, s);
      default: break;
    }
  }
  return lr_fail(LR_ERR_UNSUPPORTED, "%s: binary kind %d has no CUDA backward kernel for this dtype", fn, (int)k);
}

/* ---- unary, real ---- */

/* 1 / (1 + e^-x) for x >= 0, e^x / (1 + e^x) otherwise (no overflow), written with one exp and
 * one division selected per element rather than two branches: a warp with both signs would run
 * both branches, two exps and two divisions per element. Same operations, same bits. */
template <typename T> __device__ __forceinline__ T sigmoid_(T x) {
  bool pos = x >= 0;
  T e = exp_(pos ? -x : x);
  return (pos ? T(1) : e) / (T(1) + e);
}
template <typename T> __device__ __forceinline__ T softplus_(T x, T beta, T thr) {
  T bx = mul_rn(beta, x);
  if (bx > thr) return x;
  return ((bx > 0 ? bx : T(0)) + log1p_(exp_(-fabs_(bx)))) / beta;
}
template <typename T> __device__ __forceinline__ T gelu_tanh_inner(T x) {
  return mul_rn(T(kSqrt2Pi), add_rn(x, mul_rn(mul_rn(mul_rn(T(0.044715), x), x), x)));
}
template <typename T> __device__ __forceinline__ T gelu_tanh_grad(T x) {
  T t = tanh_(gelu_tanh_inner(x));
  T p = add_rn(T(1), mul_rn(mul_rn(T(3 * 0.044715), x), x));
  T q = mul_rn(mul_rn(mul_rn(mul_rn(T(0.5), x), sub_rn(T(1), mul_rn(t, t))), T(kSqrt2Pi)), p);
  return add_rn(mul_rn(T(0.5), T(1) + t), q);
}

template <int K, typename T> __device__ __forceinline__ T un_real(T x, T q0, T q1) {
  if constexpr (K == LR_UN_NEG) return -x;
  else if constexpr (K == LR_UN_EXP) return exp_(x);
  else if constexpr (K == LR_UN_LOG) return log_(x);
  else if constexpr (K == LR_UN_AFFINE) return add_rn(mul_rn(x, q0), q1);
  else if constexpr (K == LR_UN_ABS) return fabs_(x);
  else if constexpr (K == LR_UN_LOG1P) return log1p_(x);
  else if constexpr (K == LR_UN_EXPM1) return expm1_(x);
  else if constexpr (K == LR_UN_SQRT) return sqrt_(x);
  else if constexpr (K == LR_UN_RSQRT) return T(1) / sqrt_(x);
  else if constexpr (K == LR_UN_SIN) return sin_(x);
  else if constexpr (K == LR_UN_COS) return cos_(x);
  else if constexpr (K == LR_UN_TANH) return tanh_(x);
  else if constexpr (K == LR_UN_SIGMOID) return sigmoid_(x);
  else if constexpr (K == LR_UN_SOFTPLUS) return softplus_(x, q0, q1);
  else if constexpr (K == LR_UN_SILU) return x * sigmoid_(x);
  else if constexpr (K == LR_UN_GELU_ERF) return T(0.5) * x * (T(1) + erf_(mul_rn(x, T(kSqrt1_2))));
  else if constexpr (K == LR_UN_GELU_TANH) return T(0.5) * x * (T(1) + tanh_(gelu_tanh_inner(x)));
  else if constexpr (K == LR_UN_RELU) return x > 0 ? x : T(0);
  else if constexpr (K == LR_UN_CLAMP) return x < q0 ? q0 : x > q1 ? q1 : x;
  else return pow_(x, q0); /* LR_UN_POW_SCALAR */
}

/* gx for upstream g, input x, forward output r. */
template <int K, typename T> __device__ __forceinline__ T un_real_bwd(T x, T g, T r, T q0, T q1) {
  if constexpr (K == LR_UN_NEG) return -g;
  else if constexpr (K == LR_UN_EXP) return g * r;
  else if constexpr (K == LR_UN_LOG) return g / x;
  else if constexpr (K == LR_UN_AFFINE) return g * q0;
  else if constexpr (K == LR_UN_ABS) return x > 0 ? g : x < 0 ? -g : T(0);
  else if constexpr (K == LR_UN_LOG1P) return g / (T(1) + x);
  else if constexpr (K == LR_UN_EXPM1) return g * (r + T(1));
  else if constexpr (K == LR_UN_SQRT) return g / (T(2) * r);
  else if constexpr (K == LR_UN_RSQRT) return T(-0.5) * g * r * r * r;
  else if constexpr (K == LR_UN_SIN) return g * cos_(x);
  else if constexpr (K == LR_UN_COS) return -g * sin_(x);
  else if constexpr (K == LR_UN_TANH) return g * sub_rn(T(1), mul_rn(r, r));
  else if constexpr (K == LR_UN_SIGMOID) return g * r * (T(1) - r);
  else if constexpr (K == LR_UN_SOFTPLUS) {
    T bx = mul_rn(q0, x);
    return bx > q1 ? g : g * sigmoid_(bx);
  } else if constexpr (K == LR_UN_SILU) {
    T s = sigmoid_(x);
    return g * (s * add_rn(T(1), mul_rn(x, T(1) - s)));
  } else if constexpr (K == LR_UN_GELU_ERF) {
    T cdf = mul_rn(T(0.5), T(1) + erf_(mul_rn(x, T(kSqrt1_2))));
    T pdf = mul_rn(mul_rn(x, T(kInvSqrt2Pi)), exp_(mul_rn(mul_rn(T(-0.5), x), x)));
    return g * add_rn(cdf, pdf);
  } else if constexpr (K == LR_UN_GELU_TANH) return g * gelu_tanh_grad(x);
  else if constexpr (K == LR_UN_RELU) return x > 0 ? g : T(0);
  else if constexpr (K == LR_UN_CLAMP) return (x >= q0 && x <= q1) ? g : T(0);
  else return q0 == 0 ? T(0) : g * q0 * pow_(x, q0 - 1); /* LR_UN_POW_SCALAR */
}

template <int K, typename T> struct UnOp {
  T *y;
  const T *x;
  T q0, q1;
  static constexpr int kE = chunk<T>();
  template <typename I> __device__ void operator()(I i, const I *off) const { y[i] = un_real<K>(x[off[0]], q0, q1); }
  template <int E> __device__ void vec(int64_t i) const {
    Pack<T, E> a = ld_v<E>(x, i), r;
#pragma unroll
    for (int u = 0; u < E; u++) r.v[u] = un_real<K>(a.v[u], q0, q1);
    st_v<E>(y, i, r);
  }
  bool aligned() const { return al16(y) && al16(x); }
};

/* Loads of x or y that a kind's derivative does not use are dead code and vanish. */
template <int K, typename T> struct UnBwd {
  T *gx;
  const T *g, *x, *y;
  T q0, q1;
  static constexpr int kE = chunk<T>();
  template <typename I> __device__ void operator()(I i, const I *off) const {
    gx[i] = un_real_bwd<K>(x[off[0]], g[i], y[i], q0, q1);
  }
  template <int E> __device__ void vec(int64_t i) const {
    Pack<T, E> a = ld_v<E>(x, i), gg = ld_v<E>(g, i), r = ld_v<E>(y, i), o;
#pragma unroll
    for (int u = 0; u < E; u++) o.v[u] = un_real_bwd<K>(a.v[u], gg.v[u], r.v[u], q0, q1);
    st_v<E>(gx, i, o);
  }
  bool aligned() const { return al16(gx) && al16(g) && al16(x) && al16(y); }
};

/* ---- unary, complex (R the real type) ---- */

template <int K, typename C> struct UnOpC {
  typedef typename cplx<C>::R R;
  void *y; /* C, or R for ABS */
  const C *x;
  R q0, q1;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    C z = x[off[0]];
    if constexpr (K == LR_UN_ABS) {
      ((R *)y)[i] = hypot_(z.re, z.im);
    } else {
      C v;
      if constexpr (K == LR_UN_NEG) v = cscale(z, R(-1));
      else if constexpr (K == LR_UN_EXP) {
        R m = exp_(z.re);
        v = cmake<C>(m * cos_(z.im), m * sin_(z.im));
      } else if constexpr (K == LR_UN_LOG) v = cmake<C>(log_(hypot_(z.re, z.im)), atan2_(z.im, z.re));
      else v = cmake<C>(add_rn(mul_rn(z.re, q0), q1), z.im * q0); /* AFFINE */
      ((C *)y)[i] = v;
    }
  }
};

template <int K, typename C> struct UnBwdC {
  typedef typename cplx<C>::R R;
  C *gx;
  const void *g, *y; /* C, or R for ABS */
  const C *x;
  R q0;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    if constexpr (K == LR_UN_ABS) {
      R g_ = ((const R *)g)[i], r = ((const R *)y)[i];
      gx[i] = r == 0 ? cmake<C>(0, 0) : cscale(x[off[0]], g_ / r);
    } else {
      C g_ = ((const C *)g)[i];
      if constexpr (K == LR_UN_NEG) gx[i] = cscale(g_, R(-1));
      else if constexpr (K == LR_UN_EXP) gx[i] = cmul(g_, cconj(((const C *)y)[i]));
      else if constexpr (K == LR_UN_LOG) gx[i] = cdiv(g_, cconj(x[off[0]]));
      else gx[i] = cscale(g_, q0); /* AFFINE */
    }
  }
};

#define UN_KINDS_REAL(X)                                                                                       \
  X(LR_UN_NEG) X(LR_UN_EXP) X(LR_UN_LOG) X(LR_UN_AFFINE) X(LR_UN_ABS) X(LR_UN_LOG1P) X(LR_UN_EXPM1)          \
  X(LR_UN_SQRT) X(LR_UN_RSQRT) X(LR_UN_SIN) X(LR_UN_COS) X(LR_UN_TANH) X(LR_UN_SIGMOID) X(LR_UN_SOFTPLUS) \
  X(LR_UN_SILU) X(LR_UN_GELU_ERF) X(LR_UN_GELU_TANH) X(LR_UN_RELU) X(LR_UN_CLAMP) X(LR_UN_POW_SCALAR)
#define UN_KINDS_CPLX(X) X(LR_UN_NEG) X(LR_UN_EXP) X(LR_UN_LOG) X(LR_UN_AFFINE) X(LR_UN_ABS)

template <typename T>
lr_status unary_real(const char *fn, lr_unary_kind k, void *y, const void *x, const int64_t *xs, int ndim,
                     const int64_t *shape, double p0, double p1, lr_cuda_stream_t s) {
  const int64_t *st[1] = {xs};
  T q0 = (T)p0, q1 = (T)p1;
  switch (k) {
#define X(K) \
  case K: return run<1>(fn, UnOp<K, T>{(T *)y, (const T *)x, q0, q1}, ndim, shape, st, s);
    UN_KINDS_REAL(X)
#undef X
    default: return lr_fail(LR_ERR_UNSUPPORTED, "%s: unary kind %d has no CUDA kernel", fn, (int)k);
  }
}

template <typename T>
lr_status unary_bwd_real(const char *fn, lr_unary_kind k, void *gx, const void *g, const void *x, const int64_t *xs,
                         const void *y, int ndim, const int64_t *shape, double p0, double p1, lr_cuda_stream_t s) {
  const int64_t *st[1] = {xs};
  T q0 = (T)p0, q1 = (T)p1;
  switch (k) {
#define X(K)                                                                                                   \
  case K:                                                                                                      \
    return run<1>(fn, UnBwd<K, T>{(T *)gx, (const T *)g, (const T *)x, (const T *)y, q0, q1}, ndim, shape, st, s);
    UN_KINDS_REAL(X)
#undef X
    default: return lr_fail(LR_ERR_UNSUPPORTED, "%s: unary kind %d has no CUDA backward kernel", fn, (int)k);
  }
}

template <typename C>
lr_status unary_cplx(const char *fn, lr_unary_kind k, void *y, const void *x, const int64_t *xs, int ndim,
                     const int64_t *shape, double p0, double p1, lr_cuda_stream_t s) {
  typedef typename cplx<C>::R R;
  const int64_t *st[1] = {xs};
  switch (k) {
#define X(K) \
  case K: return run<1>(fn, UnOpC<K, C>{y, (const C *)x, (R)p0, (R)p1}, ndim, shape, st, s);
    UN_KINDS_CPLX(X)
#undef X
    default:
      return lr_fail(LR_ERR_UNSUPPORTED, "%s: unary kind %d is real only", fn, (int)k);
  }
}

template <typename C>
lr_status unary_bwd_cplx(const char *fn, lr_unary_kind k, void *gx, const void *g, const void *x, const int64_t *xs,
                         const void *y, int ndim, const int64_t *shape, double p0, lr_cuda_stream_t s) {
  typedef typename cplx<C>::R R;
  const int64_t *st[1] = {xs};
  switch (k) {
#define X(K) \
  case K: return run<1>(fn, UnBwdC<K, C>{(C *)gx, g, y, (const C *)x, (R)p0}, ndim, shape, st, s);
    UN_KINDS_CPLX(X)
#undef X
    default:
      return lr_fail(LR_ERR_UNSUPPORTED, "%s: unary kind %d is real only", fn, (int)k);
  }
}

/* ---- where ---- */

struct alignas(16) U128 {
  uint64_t lo, hi;
};

template <typename E> struct WhereOp {
  E *out;
  const uint8_t *cond;
  const E *a, *b;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    out[i] = cond[off[0]] ? a[off[1]] : b[off[2]];
  }
};

template <typename T> struct WhereBwd {
  T *ga, *gb;
  const T *g;
  const uint8_t *cond;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    T g_ = g[i], z = lr_zero_<T>();
    bool c = cond[off[0]];
    if (ga) ga[i] = c ? g_ : z;
    if (gb) gb[i] = c ? z : g_;
  }
};

template <typename E>
lr_status where_t(void *out, const uint8_t *cond, const int64_t *cs, const void *a, const int64_t *as, const void *b,
                  const int64_t *bs, int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  const int64_t *st[3] = {cs, as, bs};
  return run<3>("lr_kcuda_where", WhereOp<E>{(E *)out, cond, (const E *)a, (const E *)b}, ndim, shape, st, s);
}

template <typename T>
lr_status where_bwd_t(void *ga, void *gb, const void *g, const uint8_t *cond, const int64_t *cs, int ndim,
                      const int64_t *shape, lr_cuda_stream_t s) {
  const int64_t *st[1] = {cs};
  return run<1>("lr_kcuda_where_bwd", WhereBwd<T>{(T *)ga, (T *)gb, (const T *)g, cond}, ndim, shape, st, s);
}

/* ---- comparisons ---- */

template <int K, typename T> struct CmpOp {
  uint8_t *out;
  const T *a, *b;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    T x = a[off[0]], y = b[off[1]];
    bool r;
    if constexpr (K == LR_CMP_EQ) r = x == y;
    else if constexpr (K == LR_CMP_NE) r = x != y;
    else if constexpr (K == LR_CMP_LT) r = x < y;
    else if constexpr (K == LR_CMP_LE) r = x <= y;
    else if constexpr (K == LR_CMP_GT) r = x > y;
    else r = x >= y;
    out[i] = r;
  }
};

template <typename T>
lr_status compare_t(lr_compare_kind k, uint8_t *out, const void *a, const int64_t *as, const void *b, const int64_t *bs,
                    int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_compare";
  const int64_t *st[2] = {as, bs};
  const T *pa = (const T *)a, *pb = (const T *)b;
  switch (k) {
    case LR_CMP_EQ: return run<2>(fn, CmpOp<LR_CMP_EQ, T>{out, pa, pb}, ndim, shape, st, s);
    case LR_CMP_NE: return run<2>(fn, CmpOp<LR_CMP_NE, T>{out, pa, pb}, ndim, shape, st, s);
    case LR_CMP_LT: return run<2>(fn, CmpOp<LR_CMP_LT, T>{out, pa, pb}, ndim, shape, st, s);
    case LR_CMP_LE: return run<2>(fn, CmpOp<LR_CMP_LE, T>{out, pa, pb}, ndim, shape, st, s);
    case LR_CMP_GT: return run<2>(fn, CmpOp<LR_CMP_GT, T>{out, pa, pb}, ndim, shape, st, s);
    case LR_CMP_GE: return run<2>(fn, CmpOp<LR_CMP_GE, T>{out, pa, pb}, ndim, shape, st, s);
    default: return lr_fail(LR_ERR_ARG, "%s: unknown comparison %d", fn, (int)k);
  }
}

/* ---- fill ---- */

template <typename T> __global__ void fill_kernel(T *__restrict__ dst, int64_t n, T v) {
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (int64_t)blockDim.x * gridDim.x)
    dst[i] = v;
}

template <typename T> lr_status launch_fill(void *dst, int64_t n, T v, cudaStream_t s) {
  fill_kernel<T><<<lr_cuda_blocks(n, kThreads), kThreads, 0, s>>>((T *)dst, n, v);
  return lr_cuda_check_launch("lr_kcuda_fill");
}

lr_status bad_dtype(const char *fn, lr_dtype dt) {
  return lr_fail(LR_ERR_DTYPE, "%s: dtype %s has no CUDA kernel", fn, lr_dtype_name(dt));
}

} // namespace

extern "C" lr_status lr_kcuda_binary(lr_binary_kind k, lr_dtype dt, void *out, const void *a, const int64_t *as,
                                     const void *b, const int64_t *bs, int ndim, const int64_t *shape,
                                     lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_binary";
  switch (dt) {
    case LR_DTYPE_F32: return binary_t<float>(fn, k, out, a, as, b, bs, ndim, shape, s);
    case LR_DTYPE_F64: return binary_t<double>(fn, k, out, a, as, b, bs, ndim, shape, s);
    case LR_DTYPE_C64: return binary_t<lr_c64>(fn, k, out, a, as, b, bs, ndim, shape, s);
    case LR_DTYPE_C128: return binary_t<lr_c128>(fn, k, out, a, as, b, bs, ndim, shape, s);
    default: return bad_dtype(fn, dt);
  }
}

extern "C" lr_status lr_kcuda_binary_bwd(lr_binary_kind k, lr_dtype dt, void *ga, void *gb, const void *g,
                                         const void *a, const int64_t *as, const void *b, const int64_t *bs,
                                         const void *y, int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_binary_bwd";
  if (!ga && !gb) return LR_OK;
  switch (dt) {
    case LR_DTYPE_F32: return binary_bwd_t<float>(fn, k, ga, gb, g, a, as, b, bs, y, ndim, shape, s);
    case LR_DTYPE_F64: return binary_bwd_t<double>(fn, k, ga, gb, g, a, as, b, bs, y, ndim, shape, s);
    case LR_DTYPE_C64: return binary_bwd_t<lr_c64>(fn, k, ga, gb, g, a, as, b, bs, y, ndim, shape, s);
    case LR_DTYPE_C128: return binary_bwd_t<lr_c128>(fn, k, ga, gb, g, a, as, b, bs, y, ndim, shape, s);
    default: return bad_dtype(fn, dt);
  }
}

extern "C" lr_status lr_kcuda_unary(lr_unary_kind k, lr_dtype dt, void *y, const void *x, const int64_t *xs, int ndim,
                                    const int64_t *shape, double p0, double p1, lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_unary";
  switch (dt) {
    case LR_DTYPE_F32: return unary_real<float>(fn, k, y, x, xs, ndim, shape, p0, p1, s);
    case LR_DTYPE_F64: return unary_real<double>(fn, k, y, x, xs, ndim, shape, p0, p1, s);
    case LR_DTYPE_C64: return unary_cplx<lr_c64>(fn, k, y, x, xs, ndim, shape, p0, p1, s);
    case LR_DTYPE_C128: return unary_cplx<lr_c128>(fn, k, y, x, xs, ndim, shape, p0, p1, s);
    default: return bad_dtype(fn, dt);
  }
}

extern "C" lr_status lr_kcuda_unary_bwd(lr_unary_kind k, lr_dtype dt, void *gx, const void *g, const void *x,
                                        const int64_t *xs, const void *y, int ndim, const int64_t *shape, double p0,
                                        double p1, lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_unary_bwd";
  switch (dt) {
    case LR_DTYPE_F32: return unary_bwd_real<float>(fn, k, gx, g, x, xs, y, ndim, shape, p0, p1, s);
    case LR_DTYPE_F64: return unary_bwd_real<double>(fn, k, gx, g, x, xs, y, ndim, shape, p0, p1, s);
    case LR_DTYPE_C64: return unary_bwd_cplx<lr_c64>(fn, k, gx, g, x, xs, y, ndim, shape, p0, s);
    case LR_DTYPE_C128: return unary_bwd_cplx<lr_c128>(fn, k, gx, g, x, xs, y, ndim, shape, p0, s);
    default: return bad_dtype(fn, dt);
  }
}

extern "C" lr_status lr_kcuda_where(size_t esize, void *out, const uint8_t *cond, const int64_t *cs, const void *a,
                                    const int64_t *as, const void *b, const int64_t *bs, int ndim, const int64_t *shape,
                                    lr_cuda_stream_t s) {
  switch (esize) {
    case 1: return where_t<uint8_t>(out, cond, cs, a, as, b, bs, ndim, shape, s);
    case 2: return where_t<uint16_t>(out, cond, cs, a, as, b, bs, ndim, shape, s);
    case 4: return where_t<uint32_t>(out, cond, cs, a, as, b, bs, ndim, shape, s);
    case 8: return where_t<uint64_t>(out, cond, cs, a, as, b, bs, ndim, shape, s);
    case 16: return where_t<U128>(out, cond, cs, a, as, b, bs, ndim, shape, s);
    default: return lr_fail(LR_ERR_ARG, "lr_kcuda_where: element size %zu, expected 1, 2, 4, 8 or 16", esize);
  }
}

extern "C" lr_status lr_kcuda_where_bwd(lr_dtype dt, void *ga, void *gb, const void *g, const uint8_t *cond,
                                        const int64_t *cs, int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  if (!ga && !gb) return LR_OK;
  switch (dt) {
    case LR_DTYPE_F32: return where_bwd_t<float>(ga, gb, g, cond, cs, ndim, shape, s);
    case LR_DTYPE_F64: return where_bwd_t<double>(ga, gb, g, cond, cs, ndim, shape, s);
    case LR_DTYPE_C64: return where_bwd_t<lr_c64>(ga, gb, g, cond, cs, ndim, shape, s);
    case LR_DTYPE_C128: return where_bwd_t<lr_c128>(ga, gb, g, cond, cs, ndim, shape, s);
    default: return bad_dtype("lr_kcuda_where_bwd", dt);
  }
}

extern "C" lr_status lr_kcuda_compare(lr_compare_kind k, lr_dtype dt, uint8_t *out, const void *a, const int64_t *as,
                                      const void *b, const int64_t *bs, int ndim, const int64_t *shape,
                                      lr_cuda_stream_t s) {
  switch (dt) {
    case LR_DTYPE_F32: return compare_t<float>(k, out, a, as, b, bs, ndim, shape, s);
    case LR_DTYPE_F64: return compare_t<double>(k, out, a, as, b, bs, ndim, shape, s);
    case LR_DTYPE_I32: return compare_t<int32_t>(k, out, a, as, b, bs, ndim, shape, s);
    case LR_DTYPE_I64: return compare_t<int64_t>(k, out, a, as, b, bs, ndim, shape, s);
    default: return bad_dtype("lr_kcuda_compare", dt);
  }
}

extern "C" lr_status lr_kcuda_fill(lr_dtype dt, void *dst, int64_t n, double re, double im, lr_cuda_stream_t stream) {
  if (n <= 0) return LR_OK;
  cudaStream_t s = lr_cuda_pick_stream(stream);
  switch (dt) {
    case LR_DTYPE_F32: return launch_fill<float>(dst, n, (float)re, s);
    case LR_DTYPE_F64: return launch_fill<double>(dst, n, re, s);
    case LR_DTYPE_C64: return launch_fill<lr_c64>(dst, n, lr_c64_make((float)re, (float)im), s);
    case LR_DTYPE_C128: return launch_fill<lr_c128>(dst, n, lr_c128_make(re, im), s);
    case LR_DTYPE_I32: return launch_fill<int32_t>(dst, n, (int32_t)re, s);
    case LR_DTYPE_I64: return launch_fill<int64_t>(dst, n, (int64_t)re, s);
    case LR_DTYPE_BOOL: return launch_fill<uint8_t>(dst, n, (uint8_t)(re != 0), s);
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_fill: unknown dtype %d", (int)dt);
  }
}
