/* Linear-RNN scans: the selective scan (Mamba/S6 and friends), the diagonal scan and the S5
 * (simplified) scan built on it, and their single-step updates. Math: kernels/cpu/scan.c and
 * kernels/discretize_math.h; reference lrnnx-inventory §4.1, §4.3. */
#ifndef LR_OPS_SCAN_H
#define LR_OPS_SCAN_H

#include "autograd/autograd.h"
#include "kernels/discretize_math.h"

/* Optional arguments of lr_selective_scan (zero-initialise; NULL opts = all defaults).
 *   D (D) real: skip, y += D u.          z (B, D, L) real: y <- y · silu(z).
 *   delta_bias (D) real: Δ = delta + bias, then softplus when delta_softplus (threshold 20).
 *   deltaA (B, D, L) real: event mode, Ā uses deltaA (not softplus'ed), B̄ uses Δ. Not for s7/rglru.
 *   h0 (B, D, N), A's dtype: the initial state (zeros when NULL).
 *   lengths (B) i64 in [0, L]: positions t >= lengths[b] give y = 0, the state is frozen there,
 *     and hL = the state at lengths[b] - 1 (h0 when 0). Not differentiable.
 *   reset (B, L) bool: where set, the state restarts from 0 before that step (packed
 *     sequences): h_t = B̄ B u_t. A reset at t = 0 discards h0. Not differentiable.
 *   disc: the discretization (0 = LR_DISC_MAMBA, lrnnx's default). s7, rglru need real A; for
 *     s7 the time-varying a_t comes in delta and A is unused; for rglru A = a in (0, 1) and
 *     delta = g = c·r.
 *   chunk: timesteps between the checkpoints the backward recomputes from (0: 64). */
typedef struct {
  lr_tensor *D, *z, *delta_bias, *deltaA, *h0, *lengths, *reset;
  bool delta_softplus;
  lr_disc disc;
  int64_t chunk;
} lr_scan_opts;

/* The selective scan (lrnnx selective_scan_fn, with h0, the final state, lengths and resets):
 *   u, delta (B, D, L) f32/f64; A (D, N) real or complex (same precision);
 *   B, C: fixed (D, N) or variable (B, G, N, L) with G dividing D (both variable: one G), A's
 *   dtype. Complex variable B/C are complex tensors, not lrnnx's re/im interleaved (B, G, N, 2L)
 *   layout. y (B, D, L) real: Σ_n C h (complex A: 2 Re Σ_n C h) + D u, · silu(z).
 *   hL (B, D, N), A's dtype: the final state; gradients flow through it. hL may be NULL.
 * Differentiable in u, delta, A, B, C, D, z, delta_bias, deltaA and h0. */
lr_status lr_selective_scan(lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C,
                            const lr_scan_opts *opts, lr_tensor **y, lr_tensor **hL);

/* One step, in place on state (B, D, N) (contiguous, A's dtype), no grad: u, delta (B, D),
 * B/C fixed (D, N) or variable (B, G, N); opts as above with z, deltaA (B, D); h0, lengths and
 * reset must be NULL. y (B, D). Steps run the scan's own per-timestep code, so a sequence of
 * steps equals lr_selective_scan bitwise, for every discretization. */
lr_status lr_selective_scan_step(lr_tensor *state, lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B,
                                 lr_tensor *C, const lr_scan_opts *opts, lr_tensor **y);

/* Optional arguments of the diagonal and S5 scans. deltaA: same layout as delta. h0 (B, P).
 * lengths, reset as lr_scan_opts. disc: zoh, bilinear or dirac for S5 (any non-s7/rglru kind is
 * accepted by lr_diag_scan; real x may also use s7/rglru). conj_sym: y = 2 Re(C h) (else Re). */
typedef struct {
  lr_tensor *deltaA, *h0, *lengths, *reset;
  lr_disc disc;
  bool conj_sym;
} lr_s5_opts;

/* Diagonal scan: h[b,p,t] = Ā (reset ? 0 : h[b,p,t-1]) + B̄ x[b,p,t] with Ā, B̄ = disc(λ_p, Δ_A, Δ).
 * x (B, P, L) f32/f64/c64/c128; lambda (P) x's dtype; delta (B, P, L) or (P) real. h (B, P, L)
 * (0 at t >= length), hL (B, P) (may be NULL). Differentiable in x, lambda, delta, deltaA, h0. */
lr_status lr_diag_scan(lr_tensor *x, lr_tensor *lambda, lr_tensor *delta, const lr_s5_opts *opts, lr_tensor **h,
                       lr_tensor **hL);

/* y = f Re(yc) + D ⊙ Re(u) with f = 2 (conj_sym) or 1: yc, u (B, H, L) complex; D (H) real or
 * NULL; y (B, H, L) real. Differentiable in yc, u and D. */
lr_status lr_s5_readout(lr_tensor *yc, lr_tensor *u, lr_tensor *D, bool conj_sym, lr_tensor **y);

/* The S5 scan (lrnnx s5_inner_fn): u (B, H, L) complex; delta (B, P, L) or (P) real; A (P)
 * complex; B (P, H), C (H, P) complex; D (H) real or NULL. Bu = B u, h = diag_scan(Bu),
 * y = f Re(C h) + D Re(u) (B, H, L) real; hL (B, P) complex (may be NULL). */
lr_status lr_s5_scan(lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C, lr_tensor *D,
                     const lr_s5_opts *opts, lr_tensor **y, lr_tensor **hL);

/* One S5 step in place on state (B, P) complex (contiguous), no grad: u (B, H); delta (B, P) or
 * (P); opts.deltaA likewise; h0, lengths and reset must be NULL. y (B, H) real. The recurrence
 * is the scan's own; the two projections go through BLAS with L = 1, so step-by-step equals
 * the scan to rounding (not bitwise). */
lr_status lr_s5_step(lr_tensor *state, lr_tensor *u, lr_tensor *delta, lr_tensor *A, lr_tensor *B, lr_tensor *C,
                     lr_tensor *D, const lr_s5_opts *opts, lr_tensor **y);

#endif
