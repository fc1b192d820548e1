/* Selective-scan and diagonal-scan kernels on the CPU (math and layout in kernels/cpu/scan.c). */
#ifndef LR_KCPU_SCAN_H
#define LR_KCPU_SCAN_H

#include <stdbool.h>
#include <stddef.h>

#include "kernels/discretize_math.h"

/* Inputs of a selective scan. Every array is contiguous. R is rdt (F32/F64), W is R or its
 * complex type (cplx). */
typedef struct {
  lr_dtype rdt;
  bool cplx;
  int disc;                        /* lr_disc */
  int64_t Bn, D, L, N, G;          /* G: groups of the variable B/C (any value when both are fixed) */
  bool varB, varC, softplus;
  int64_t chunk;                   /* timesteps between state checkpoints (> 0) */
  const void *u, *delta;           /* (B, D, L) R */
  const void *deltaA, *z;          /* (B, D, L) R or NULL */
  const void *Dv, *dbias;          /* (D) R or NULL */
  const void *A;                   /* (D, N) W */
  const void *Bm, *Cm;             /* (D, N) W, or (B, G, N, L) W when varB / varC */
  const void *h0;                  /* (B, D, N) W or NULL (zeros) */
  const int64_t *lengths;          /* (B) in [0, L], or NULL (all L) */
  const uint8_t *reset;            /* (B, L) 0/1, or NULL */
  bool scalar;                     /* take the scalar per-element path even where the vectorised
                                      one applies (real A; tests compare the two) */
} lr_scan_in;

/* Gradients written by the backward (all contiguous, fully written; NULL where the input is
 * absent). */
typedef struct {
  const void *gy;                  /* (B, D, L) R: dL/dy */
  const void *ghL;                 /* (B, D, N) W or NULL */
  void *du, *ddelta, *ddeltaA, *dz;/* (B, D, L) R */
  void *dA_p;                      /* (B, D, N) W: per-batch partials of dA */
  void *dB, *dC;                   /* (B, D, N) W partials (fixed) or (B, G, N, L) W (variable) */
  void *dD_p, *dbias_p;            /* (B, D) R partials */
  void *dh0;                       /* (B, D, N) W */
} lr_scan_grads;

int64_t lr_kcpu_scan_nchunks(const lr_scan_in *a);
/* Workspace bytes for nthreads threads. */
size_t lr_kcpu_scan_ws_bytes(const lr_scan_in *a, int nthreads, bool backward);
/* y (B, D, L) R; hL (B, D, N) W (may alias h0: the single-step update); ckpt (B, D, n_chunks, N) W
 * or NULL (no backward). ws: lr_kcpu_scan_ws_bytes(a, nthreads, false). */
void lr_kcpu_scan_fwd(const lr_scan_in *a, void *y, void *hL, void *ckpt, void *ws, int nthreads);
/* ws: lr_kcpu_scan_ws_bytes(a, nthreads, true). */
void lr_kcpu_scan_bwd(const lr_scan_in *a, const void *ckpt, const lr_scan_grads *g, void *ws, int nthreads);

/* dst[m] = Σ_b src[b, m] in order b = 0, 1, ... (deterministic), m < M real elements of dt
 * (F32/F64; complex: pass 2M and the real dtype). */
void lr_kcpu_sum_leading(lr_dtype rdt, int64_t Bn, int64_t M, const void *src, void *dst);

/* Diagonal scan (S5 core): h[b,p,t] = Ā h[b,p,t-1] + B̄ x[b,p,t], Ā, B̄ = disc(λ_p, Δ_A, Δ). */
typedef struct {
  lr_dtype dt;                     /* W: F32/F64/C64/C128; R its real type */
  int disc;
  int64_t Bn, P, L;
  const void *x;                   /* (B, P, L) W */
  const void *lam;                 /* (P) W */
  const void *delta, *deltaA;      /* (B, P, L) R, or (P) R when *_bcast; deltaA may be NULL */
  bool delta_bcast, deltaA_bcast;
  const void *h0;                  /* (B, P) W or NULL */
  const int64_t *lengths;          /* (B) or NULL */
  const uint8_t *reset;            /* (B, L) or NULL */
} lr_dscan_in;
/* h (B, P, L) W (0 at t >= length), hL (B, P) W (may alias h0). */
void lr_kcpu_dscan_fwd(const lr_dscan_in *a, void *h, void *hL);
/* gh (B, P, L) W and ghL (B, P) W (either NULL) -> dx (B, P, L) W, dlam_p (B, P) W partials,
 * ddelta, ddeltaA (B, P, L) R (full, the op reduces broadcast ones), dh0 (B, P) W. h is the
 * forward output. */
void lr_kcpu_dscan_bwd(const lr_dscan_in *a, const void *h, const void *gh, const void *ghL, void *dx, void *dlam_p,
                       void *ddelta, void *ddeltaA, void *dh0);



/* dst[p] = Σ_b Σ_t src[b, p, t] (fixed order), real rdt. */
void lr_kcpu_sum_bl(lr_dtype rdt, int64_t Bn, int64_t P, int64_t L, const void *src, void *dst);
/* S5 readout y = f Re(yc) + D Re(u): yc, u (B, H, L) complex (cdt C64/C128), D (H) real or NULL,
 * y (B, H, L) real. */
void lr_kcpu_s5_readout(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *yc, const void *u,
                        const void *D, void *y);
/* Backward: g (B, H, L) real -> dyc = f g, du = D g (imaginary parts 0; du only when D),
 * dD_p (B, H) = Σ_t g Re(u) (only when D). */
void lr_kcpu_s5_readout_bwd(lr_dtype cdt, int64_t Bn, int64_t H, int64_t L, double f, const void *g, const void *u,
                            const void *D, void *dyc, void *du, void *dD_p);
#endif
