/* Complex construction and parts on the GPU; mirrors kernels/cpu/complex.c.
 *   make   out = re + i im with broadcasting (re or im NULL: read as 0). out C64 / C128 from
 *          F32 / F64 parts.
 *   part   Re z, Im z, conj z, angle z = atan2(Im z, Re z) (kind: an lr_cpart_kind).
 *   angle backward: for z = x + iy, dθ/dx = -y/|z|^2, dθ/dy = x/|z|^2, so in PyTorch's convention
 *          (grad = dL/dx + i dL/dy) gz = g (-y + i x) / |z|^2 = g i z / |z|^2, 0 at z = 0.
 * Shapes: outputs contiguous; inputs strided in the output's dims (0 along broadcast dims).
 *
 * Launch layout: elementwise.cuh's iterator (one thread per output element, grid-stride loop).
 * Deterministic: no reductions, no atomics. make, Re, Im and conj move bits and give the CPU's
 * result exactly; angle calls CUDA's atan2 (within 3 ulp in float, 2 in double, of the true
 * value); the angle backward rounds each product like the CPU (no fused multiply-add) and so
 * matches it bitwise.
 */
#include "kernels/cuda/elementwise.cuh"

using namespace lr_ew;

namespace {

/* Must match lr_cpart_kind in kernels/cpu/complex.h (not visible to nvcc's sandbox). */
enum { PART_RE, PART_IM, PART_CONJ, PART_ANGLE };

template <typename C> struct MakeOp {
  typedef typename cplx<C>::R R;
  C *out;
  const R *re, *im;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    out[i] = cmake<C>(re ? re[off[0]] : R(0), im ? im[off[1]] : R(0));
  }
};

template <int K, typename C> struct PartOp {
  typedef typename cplx<C>::R R;
  void *out; /* C for CONJ, else R */
  const C *z;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    C v = z[off[0]];
    if constexpr (K == PART_RE) ((R *)out)[i] = v.re;
    else if constexpr (K == PART_IM) ((R *)out)[i] = v.im;
    else if constexpr (K == PART_CONJ) ((C *)out)[i] = cconj(v);
    else ((R *)out)[i] = atan2_(v.im, v.re);
  }
};

template <typename C> struct AngleBwd {
  typedef typename cplx<C>::R R;
  C *gz;
  const R *g;
  const C *z;
  template <typename I> __device__ void operator()(I i, const I *off) const {
    C v = z[off[0]];
    R m = add_rn(mul_rn(v.re, v.re), mul_rn(v.im, v.im)), s = m == 0 ? R(0) : g[i] / m;
    gz[i] = cmake<C>(-v.im * s, v.re * s);
  }
};

template <typename C>
lr_status make_t(void *out, const void *re, const int64_t *rs, const void *im, const int64_t *is, int ndim,
                 const int64_t *shape, lr_cuda_stream_t s) {
  typedef typename cplx<C>::R R;
  const int64_t *st[2] = {re ? rs : NULL, im ? is : NULL};
  return run<2>("lr_kcuda_complex_make", MakeOp<C>{(C *)out, (const R *)re, (const R *)im}, ndim, shape, st, s);
}

template <typename C>
lr_status part_t(int k, void *out, const void *z, const int64_t *zs, int ndim, const int64_t *shape,
                 lr_cuda_stream_t s) {
  const char *fn = "lr_kcuda_complex_part";
  const int64_t *st[1] = {zs};
  const C *pz = (const C *)z;
  switch (k) {
    case PART_RE: return run<1>(fn, PartOp<PART_RE, C>{out, pz}, ndim, shape, st, s);
    case PART_IM: return run<1>(fn, PartOp<PART_IM, C>{out, pz}, ndim, shape, st, s);
    case PART_CONJ: return run<1>(fn, PartOp<PART_CONJ, C>{out, pz}, ndim, shape, st, s);
    case PART_ANGLE: return run<1>(fn, PartOp<PART_ANGLE, C>{out, pz}, ndim, shape, st, s);
    default: return lr_fail(LR_ERR_ARG, "%s: unknown part kind %d", fn, k);
  }
}

template <typename C>
lr_status angle_bwd_t(void *gz, const void *g, const void *z, const int64_t *zs, int ndim, const int64_t *shape,
                      lr_cuda_stream_t s) {
  typedef typename cplx<C>::R R;
  const int64_t *st[1] = {zs};
  return run<1>("lr_kcuda_angle_bwd", AngleBwd<C>{(C *)gz, (const R *)g, (const C *)z}, ndim, shape, st, s);
}

} // namespace

extern "C" lr_status lr_kcuda_complex_make(lr_dtype dt, void *out, const void *re, const int64_t *rs, const void *im,
                                           const int64_t *is, int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  switch (dt) {
    case LR_DTYPE_F32: return make_t<lr_c64>(out, re, rs, im, is, ndim, shape, s);
    case LR_DTYPE_F64: return make_t<lr_c128>(out, re, rs, im, is, ndim, shape, s);
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_complex_make: parts are %s, expected f32 or f64", lr_dtype_name(dt));
  }
}

extern "C" lr_status lr_kcuda_complex_part(int k, lr_dtype dt, void *out, const void *z, const int64_t *zs, int ndim,
                                           const int64_t *shape, lr_cuda_stream_t s) {
  switch (dt) {
    case LR_DTYPE_C64: return part_t<lr_c64>(k, out, z, zs, ndim, shape, s);
    case LR_DTYPE_C128: return part_t<lr_c128>(k, out, z, zs, ndim, shape, s);
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_complex_part: z is %s, expected c64 or c128", lr_dtype_name(dt));
  }
}

extern "C" lr_status lr_kcuda_angle_bwd(lr_dtype dt, void *gz, const void *g, const void *z, const int64_t *zs,
                                        int ndim, const int64_t *shape, lr_cuda_stream_t s) {
  switch (dt) {
    case LR_DTYPE_C64: return angle_bwd_t<lr_c64>(gz, g, z, zs, ndim, shape, s);
    case LR_DTYPE_C128: return angle_bwd_t<lr_c128>(gz, g, z, zs, ndim, shape, s);
    default: return lr_fail(LR_ERR_DTYPE, "lr_kcuda_angle_bwd: z is %s, expected c64 or c128", lr_dtype_name(dt));
  }
}
