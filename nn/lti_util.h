/* Helpers shared by the diagonal LTI models (nn/lru.c, nn/s5_lti.c, nn/s4d.c): the length mask,
 * a real tensor lifted to complex, and the recurrent cache of a diagonal system
 *   h_t = Abar ⊙ h_{t-1} + Bbar x_t,   y_t = Re(C h_t)
 * with Abar (N), Bbar (N, H), C (Hout, N) complex, as lrnnx's LRU and S5-LTI caches hold them
 * ({"lrnn_state", "Lambda"/"A_bar", "B_norm"/"B_bar", "C_complex"}). */
#ifndef LR_NN_LTI_UTIL_H
#define LR_NN_LTI_UTIL_H

#include "autograd/autograd.h"
#include "nn/linear.h"

/* mask (B, L, 1) of dtype dt on device dev: 1 where t < lengths[b], else 0. lengths (B,) I64 or
 * I32 with 0 <= lengths[b] <= L; fn names the caller in messages. lengths may live on any device
 * (read with one copy); the mask is built on the host and copied to dev. */
lr_status lr_lti_length_mask(const char *fn, lr_tensor *lengths, int64_t B, int64_t L, lr_dtype dt, lr_device dev,
                             lr_tensor **mask);
/* An arena tensor of dtype dt on dev with every element = value (a fill kernel on the GPU, no copy),
 * for the constants the models feed their ops (ones, zeros). */
lr_status lr_lti_full_on(lr_dtype dt, lr_device dev, int ndim, const int64_t *shape, double value, lr_tensor **out);
/* Checks x (B, L, H) of dtype dt; fn names the caller. */
lr_status lr_lti_check_x(const char *fn, const lr_tensor *x, int64_t H, lr_dtype dt);
/* x real -> x + 0i, differentiable in x. */
lr_status lr_lti_to_complex(lr_tensor *x, lr_tensor **out);

/* The recurrent state and the discrete matrices, all persistent (heap) tensors on the model's
 * device; reset zeroes the state. */
typedef struct {
  int64_t batch;
  lr_tensor *state; /* (batch, N) complex */
  lr_tensor *Abar;  /* (N) */
  lr_tensor *Bbar;  /* (N, H) */
  lr_tensor *C;     /* (Hout, N) */
} lr_lti_cache;

/* A cache holding persistent copies of Abar, Bbar, C and a zero state of (batch, N). */
lr_status lr_lti_cache_new(const char *fn, int64_t batch, lr_tensor *Abar, lr_tensor *Bbar, lr_tensor *C,
                           lr_lti_cache **out);
lr_status lr_lti_cache_reset(lr_lti_cache *c);
void lr_lti_cache_free(lr_lti_cache *c);
/* One step: state <- Abar ⊙ state + x_t Bbar^T; *y = Re(state C^T) (batch, Hout) in the arena.
 * x_t (batch, H) real of Bbar's real dtype. Runs with grad mode off (inference). */
lr_status lr_lti_cache_step(const char *fn, lr_lti_cache *c, lr_tensor *x_t, lr_tensor **y);

/* lrnnx's FFTConvS4 block, shared by S4 and S4D. The head: GELU(GELU(y)) (conv_activation,
 * mult_activation), then output_linear (Linear + GELU) when ol is not NULL. */
lr_status lr_lti_s4_head(lr_linear_module *ol, lr_tensor *y, lr_tensor **out);
/* The kernel of length L of an S4-family model: K (ch, H, Lk). */
typedef lr_status (*lr_lti_kernel_fn)(void *model, int64_t L, lr_tensor **K);
/* The block's forward: x (B, L, H) of dtype dt ((B, H, L) when transposed), masked by lengths
 * (B,) or NULL; y = head(fft_conv(x repeated ch times, K) + D x) on (B, L, ch H), D (ch, H),
 * masked again, in x's layout. fn names the caller in messages. */
lr_status lr_lti_s4_forward(const char *fn, void *model, lr_lti_kernel_fn kernel, int64_t H, int64_t ch,
                            bool transposed, lr_dtype dt, lr_tensor *D, lr_linear_module *ol, lr_tensor *x,
                            lr_tensor *lengths, lr_tensor **y);

/* state-spaces' parameter transforms (S4, S4D): "none", "exp", "relu", "sigmoid", "softplus" ->
 * 0..4, -1 for any other name; the stored value of a positive p (inv_transform); the transform as
 * ops (param_transform). */
extern const char *const lr_lti_transforms[]; /* the names, NULL-terminated */
int lr_lti_transform_find(const char *name);
double lr_lti_inv_transform(int t, double p);
lr_status lr_lti_transform(int t, lr_tensor *x, lr_tensor **out);
/* Rows of t (n_ssm, ...) tiled to H rows along dim ("t n -> (v t) n"); t itself when n == H. */
lr_status lr_lti_tile_rows(lr_tensor *t, int dim, int64_t H, lr_tensor **out);
/* The entry of names (NULL-terminated) equal to s, or NULL: a static copy of a JSON string. */
const char *lr_lti_static_name(const char *s, const char *const *names);

#endif
