/* Gradcheck cases for the FFT and LTI families: fft (forward and inverse, odd and
 * non-power-of-two sizes, a strided input), fft_conv (kernel shorter than L, L = 1, odd L, a
 * transposed x), fft_conv_c, lti_kernel and lti_scan (real and complex), and opt_ssm_forward
 * in each of its three contraction orders plus the recurrent path. */
#include "tests/cases.h"

#define F64 LR_DTYPE_F64
#define C128 LR_DTYPE_C128

typedef struct {
  int dim;
  int64_t n;
  bool inverse;
} fft_args;

static lr_status f_fft(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  fft_args *a = ctx;
  return lr_fft(in[0], a->dim, a->n, a->inverse, out);
}

static lr_status fft_fwd(lr_gc_result *r) {
  fft_args a = {1, 8, false};
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(2, 5, 3), -1, 1, 1)};
  return lr_gradcheck("fft", f_fft, &a, 1, in, NULL, r);
}

static lr_status fft_inv_odd(lr_gc_result *r) {
  fft_args a = {0, 7, true};
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(5, 2), -1, 1, 2)};
  return lr_gradcheck("fft", f_fft, &a, 1, in, NULL, r);
}

static lr_status fft_strided(lr_gc_result *r) {
  fft_args a = {-1, 12, false};
  lr_tensor *in[1] = {gc_leaf_strided(C128, LR_SHAPE(3, 5), -1, 1, 3)};
  return lr_gradcheck("fft", f_fft, &a, 1, in, NULL, r);
}

static lr_status f_conv(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_fft_conv(in[0], in[1], out);
}

static lr_status f_conv_c(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_fft_conv_c(in[0], in[1], out);
}

static lr_status run_conv(lr_gc_fn f, lr_tensor *x, lr_tensor *k, lr_gc_result *r) {
  lr_tensor *in[2] = {x, k};
  return lr_gradcheck("fft_conv", f, NULL, 2, in, NULL, r);
}

/* L = 7, Lk = 7: FFT size 14 (not a power of two) */
static lr_status conv_odd(lr_gc_result *r) {
  return run_conv(f_conv, gc_leaf(F64, LR_SHAPE(2, 7, 3), -1, 1, 4), gc_leaf(F64, LR_SHAPE(3, 7), -1, 1, 5), r);
}

/* a kernel shorter than L, and a transposed x (strides (.., 1, L)) */
static lr_status conv_short_k_strided(lr_gc_result *r) {
  return run_conv(f_conv, gc_leaf_strided(F64, LR_SHAPE(2, 9, 2), -1, 1, 6), gc_leaf(F64, LR_SHAPE(2, 4), -1, 1, 7), r);
}

/* L = 1, one channel, a kernel longer than L (only k[0] matters) */
static lr_status conv_size1(lr_gc_result *r) {
  return run_conv(f_conv, gc_leaf(F64, LR_SHAPE(1, 1, 1), -1, 1, 8), gc_leaf(F64, LR_SHAPE(1, 3), -1, 1, 9), r);
}

static lr_status conv_c(lr_gc_result *r) {
  return run_conv(f_conv_c, gc_leaf(C128, LR_SHAPE(2, 5, 3), -1, 1, 10), gc_leaf_strided(C128, LR_SHAPE(3, 5), -1, 1, 11),
                  r);
}

typedef struct {
  int64_t L;
} lti_args;

static lr_status f_lti_kernel(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_lti_kernel(in[0], ((lti_args *)ctx)->L, out);
}

static lr_status lti_kernel_c128(lr_gc_result *r) {
  lti_args a = {9};
  lr_tensor *in[1] = {gc_leaf(C128, LR_SHAPE(4), -0.6, 0.6, 12)};
  return lr_gradcheck("lti_kernel", f_lti_kernel, &a, 1, in, NULL, r);
}

static lr_status lti_kernel_f64(lr_gc_result *r) {
  lti_args a = {6};
  lr_tensor *in[1] = {gc_leaf(F64, LR_SHAPE(5), -0.95, 0.95, 13)};
  return lr_gradcheck("lti_kernel", f_lti_kernel, &a, 1, in, NULL, r);
}

static lr_status f_lti_scan(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_lti_scan(in[0], in[1], out);
}

static lr_status lti_scan_c128(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf(C128, LR_SHAPE(2, 6, 3), -1, 1, 14), gc_leaf(C128, LR_SHAPE(3), -0.6, 0.6, 15)};
  return lr_gradcheck("lti_scan", f_lti_scan, NULL, 2, in, NULL, r);
}

static lr_status lti_scan_f64_strided(lr_gc_result *r) {
  lr_tensor *in[2] = {gc_leaf_strided(F64, LR_SHAPE(1, 5, 4), -1, 1, 16), gc_leaf(F64, LR_SHAPE(4), -0.9, 0.9, 17)};
  return lr_gradcheck("lti_scan", f_lti_scan, NULL, 2, in, NULL, r);
}

static lr_status f_ssm(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  return lr_opt_ssm_forward(in[0], in[1], in[2], in[3], *(lr_ssm_path *)ctx, out);
}

static lr_status run_ssm(lr_ssm_path p, int64_t B, int64_t L, int64_t Hin, int64_t N, int64_t Hout, uint64_t s,
                         lr_gc_result *r) {
  lr_tensor *in[4] = {gc_leaf(F64, LR_SHAPE(B, L, Hin), -1, 1, s), gc_leaf(C128, LR_SHAPE(N, L), -1, 1, s + 1),
                      gc_leaf(C128, LR_SHAPE(N, Hin), -1, 1, s + 2), gc_leaf_strided(C128, LR_SHAPE(Hout, N), -1, 1, s + 3)};
  return lr_gradcheck("opt_ssm_forward", f_ssm, &p, 4, in, NULL, r);
}

static lr_status ssm_full(lr_gc_result *r) { return run_ssm(LR_SSM_FULL_KERNEL, 2, 5, 2, 4, 2, 20, r); }
static lr_status ssm_state(lr_gc_result *r) { return run_ssm(LR_SSM_STATE_CONV, 2, 7, 3, 2, 2, 30, r); }
static lr_status ssm_freq(lr_gc_result *r) { return run_ssm(LR_SSM_FREQ, 1, 6, 2, 3, 1, 40, r); }

static lr_status f_rec(void *ctx, lr_tensor *const *in, lr_tensor **out) {
  (void)ctx;
  return lr_lti_recurrent(in[0], in[1], in[2], in[3], out);
}

static lr_status lti_recurrent(lr_gc_result *r) {
  lr_tensor *in[4] = {gc_leaf(F64, LR_SHAPE(2, 6, 3), -1, 1, 50), gc_leaf(C128, LR_SHAPE(4), -0.6, 0.6, 51),
                      gc_leaf(C128, LR_SHAPE(4, 3), -1, 1, 52), gc_leaf(C128, LR_SHAPE(2, 4), -1, 1, 53)};
  return lr_gradcheck("lti_recurrent", f_rec, NULL, 4, in, NULL, r);
}

const lr_gc_case lr_cases_fft[] = {
    {"fft_fwd", fft_fwd},
    {"fft_inv_odd", fft_inv_odd},
    {"fft_strided", fft_strided},
    {"fft_conv_odd", conv_odd},
    {"fft_conv_short_k_strided", conv_short_k_strided},
    {"fft_conv_size1", conv_size1},
    {"fft_conv_c", conv_c},
    {"lti_kernel_c128", lti_kernel_c128},
    {"lti_kernel_f64", lti_kernel_f64},
    {"lti_scan_c128", lti_scan_c128},
    {"lti_scan_f64_strided", lti_scan_f64_strided},
    {"opt_ssm_full_kernel", ssm_full},
    {"opt_ssm_state_conv", ssm_state},
    {"opt_ssm_freq", ssm_freq},
    {"lti_recurrent", lti_recurrent},
    {NULL, NULL},
};
