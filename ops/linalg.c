/* Matrix products: matmul (NumPy semantics) and linear.
 *
 * matmul: Y = A @ B with A (..., M, K), B (..., K, N) -> Y (..., M, N); batch dims broadcast.
 *   A 1-D A (K,) is treated as (1, K) and B (K,) as (K, 1); the added dim is dropped from Y.
 *   backward (PyTorch's convention for complex): dA += G @ B^H, dB += A^H @ G, each summed over
 *   the batch dims along which its operand was broadcast.
 * linear: y = x W^T + b with x (..., in), W (out, in), b (out,) or NULL.
 *   backward: dx += G @ conj(W), dW += G^T @ conj(x) (= (x^H G)^T), db += sum over rows of G.
 *
 * Operands reach BLAS without copies when their last two dims are contiguous or a transposed
 * contiguous layout (trans flags); other layouts are copied once. The forward writes the GEMM
 * straight into the fresh output (beta = 0); the backward accumulates straight into the grad
 * buffers (beta = 1), letting a zero batch stride in the buffer sum over broadcast batch dims.
 * On CUDA tensors the same products go to cuBLAS (kernels/cuda/linalg.cu), which packs what it
 * cannot read (cuBLAS has no conjugate-without-transpose) into an arena scratch buffer and sums
 * over broadcast batch dims in a fixed order; the bias of linear and its gradient use CUDA fills
 * and lr_kcuda_acc_broadcast.
 * Reference: torch.matmul / torch.nn.functional.linear.
 */
#include "ops/linalg.h"

#include "kernels/cpu/linalg.h"
#include "kernels/cpu/reduce.h" /* db */
#include "ops/op_util.h"
#include "ops/registry.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif

static lr_status matmul_backward(lr_node *n);
static lr_status linear_backward(lr_node *n);
static const lr_op_def op_matmul = {"matmul", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, matmul_backward};
static const lr_op_def op_linear = {"linear", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, linear_backward};

/* t itself when contiguous, else a contiguous copy (on CUDA through the GEMM driver's strided pack,
 * which needs nothing from the tensor layer's device copies). */
static lr_status contiguous(lr_tensor *t, lr_tensor **out) {
#ifdef LR_CUDA
  if (t->device == LR_DEVICE_CUDA && !lr_is_contiguous(t)) {
    lr_tensor *c;
    LR_TRY(lr_empty_on(t->dtype, t->device, t->ndim, t->shape, &c));
    LR_TRY(lr_kcuda_pack(t->dtype, c->data, t->data, t->ndim, t->shape, t->strides, false, lr_cuda_stream()));
    *out = c;
    return LR_OK;
  }
#endif
  return lr_tensor_contiguous_raw(t, out);
}

/* C[b] = X[b] @ Y[b] (+ beta C[b]) on dev: lr_kcpu_gemm_batched, or its CUDA twin with an arena
 * scratch buffer when the driver asks for one. */
static lr_status gemm(lr_device dev, lr_dtype dt, int nb, const int64_t *bshape, int64_t M, int64_t N, int64_t K,
                      const lr_kcpu_mat *X, const lr_kcpu_mat *Y, void *C, int64_t crs, const int64_t *cbs,
                      double beta) {
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) {
    lr_kcuda_mat x = {X->data, X->rs, X->cs, {0}, X->conj}, y = {Y->data, Y->rs, Y->cs, {0}, Y->conj};
    for (int d = 0; d < nb; d++) {
      x.bs[d] = X->bs[d];
      y.bs[d] = Y->bs[d];
    }
    size_t bytes = lr_kcuda_gemm_scratch(dt, nb, bshape, M, N, K, &x, &y, crs, cbs);
    void *scratch = NULL;
    if (bytes) {
      lr_tensor *t;
      LR_TRY(lr_empty_on(LR_DTYPE_F64, LR_DEVICE_CUDA, 1, (int64_t[]){(int64_t)((bytes + 7) / 8)}, &t));
      scratch = t->data;
    }
    return lr_kcuda_gemm_batched(dt, nb, bshape, M, N, K, &x, &y, C, crs, cbs, beta, scratch, bytes, lr_cuda_stream());
  }
#endif
  (void)dev;
  lr_kcpu_gemm_batched(dt, nb, bshape, M, N, K, X, Y, C, crs, cbs, beta);
  return LR_OK;
}

/* A tensor's last two dims as a BLAS-ready matrix, else a contiguous copy of it. */
static lr_status blas_ready(lr_tensor *t, lr_tensor **out) {
  lr_gemm_op op;
  int64_t ld, rows = 1, cols = 1, rs = 1, cs = 1;
  if (t->ndim >= 1) { cols = t->shape[t->ndim - 1]; cs = t->strides[t->ndim - 1]; }
  if (t->ndim >= 2) { rows = t->shape[t->ndim - 2]; rs = t->strides[t->ndim - 2]; }
  else rs = cols * cs;
  if (lr_kcpu_gemm_layout(rows, cols, rs, cs, false, &op, &ld)) {
    *out = t;
    return LR_OK;
  }
  return contiguous(t, out);
}

/* The promoted (batch..., R, C) form of a matmul operand: a 1-D a becomes (1, K), a 1-D b (K, 1). */
typedef struct {
  int nb;
  int64_t bshape[LR_MAX_DIMS], bstr[LR_MAX_DIMS];
  int64_t rows, cols, rs, cs;
} mm_operand;

static void promote(const lr_tensor *t, bool is_b, mm_operand *o) {
  o->nb = t->ndim >= 2 ? t->ndim - 2 : 0;
  for (int i = 0; i < o->nb; i++) {
    o->bshape[i] = t->shape[i];
    o->bstr[i] = t->strides[i];
  }
  if (t->ndim >= 2) {
    o->rows = t->shape[t->ndim - 2];
    o->cols = t->shape[t->ndim - 1];
    o->rs = t->strides[t->ndim - 2];
    o->cs = t->strides[t->ndim - 1];
  } else if (!is_b) {
    o->rows = 1;
    o->cols = t->shape[0];
    o->cs = t->strides[0];
    o->rs = o->cols * o->cs;
  } else {
    o->rows = t->shape[0];
    o->cols = 1;
    o->rs = t->strides[0];
    o->cs = 1;
  }
}

/* Batch strides of an operand aligned to the broadcast batch shape (0 along broadcast dims). */
static void align_batch(const mm_operand *o, int nb, const int64_t *bshape, int64_t *bs) {
  int off = nb - o->nb;
  for (int i = 0; i < nb; i++) {
    int j = i - off;
    bs[i] = (j < 0 || (o->bshape[j] == 1 && bshape[i] != 1)) ? 0 : o->bstr[j];
  }
}

static lr_kcpu_mat make_mat(const void *data, const mm_operand *o, int nb, const int64_t *bshape, bool transpose,
                            bool conj) {
  lr_kcpu_mat m;
  m.data = data;
  m.rs = transpose ? o->cs : o->rs;
  m.cs = transpose ? o->rs : o->cs;
  m.conj = conj;
  align_batch(o, nb, bshape, m.bs);
  return m;
}

/* Shapes of a matmul: broadcast batch, and the output shape with 1-D operands' dims dropped. */
static lr_status mm_shapes(const lr_tensor *a, const lr_tensor *b, mm_operand *pa, mm_operand *pb, int *nb,
                           int64_t *bshape, int *ny, int64_t *yshape) {
  char sa[160], sb[160];
  promote(a, false, pa);
  promote(b, true, pb);
  if (pa->cols != pb->rows)
    return lr_fail(LR_ERR_SHAPE, "lr_matmul: a is %s, b is %s: inner dims %lld and %lld differ",
                   lr_shape_str(a->ndim, a->shape, sa, 160), lr_shape_str(b->ndim, b->shape, sb, 160),
                   (long long)pa->cols, (long long)pb->rows);
  if (lr_broadcast_shape("lr_matmul", pa->nb, pa->bshape, pb->nb, pb->bshape, nb, bshape) != LR_OK)
    return lr_fail(LR_ERR_SHAPE, "lr_matmul: a is %s, b is %s: batch dims do not broadcast",
                   lr_shape_str(a->ndim, a->shape, sa, 160), lr_shape_str(b->ndim, b->shape, sb, 160));
  int k = 0;
  for (int i = 0; i < *nb; i++) yshape[k++] = bshape[i];
  if (a->ndim >= 2) yshape[k++] = pa->rows;
  if (b->ndim >= 2) yshape[k++] = pb->cols;
  *ny = k;
  if (pa->rows > LR_GEMM_MAX_DIM || pb->cols > LR_GEMM_MAX_DIM || pa->cols > LR_GEMM_MAX_DIM)
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_matmul: a is %s, b is %s: a matrix dim exceeds BLAS's 32-bit limit",
                   lr_shape_str(a->ndim, a->shape, sa, 160), lr_shape_str(b->ndim, b->shape, sb, 160));
  return LR_OK;
}

lr_status lr_matmul(lr_tensor *a, lr_tensor *b, lr_tensor **out) {
  const char *fn = "lr_matmul";
  LR_TRY(lr_check_ptr(fn, a, "a"));
  LR_TRY(lr_check_ptr(fn, b, "b"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_same(fn, a, "a", b, "b"));
  LR_TRY(lr_check_dtype(fn, a, "a", op_matmul.dtypes));
  LR_TRY(lr_check_device(fn, &op_matmul, a));
  if (a->ndim == 0 || b->ndim == 0)
    return lr_fail(LR_ERR_SHAPE, "lr_matmul: %s is a 0-dim tensor, expected at least 1 dim", a->ndim == 0 ? "a" : "b");
  mm_operand pa, pb;
  int nb, ny;
  int64_t bshape[LR_MAX_DIMS], yshape[LR_MAX_DIMS];
  LR_TRY(mm_shapes(a, b, &pa, &pb, &nb, bshape, &ny, yshape));
  lr_tensor *ea, *eb, *y;
  LR_TRY(blas_ready(a, &ea));
  LR_TRY(blas_ready(b, &eb));
  promote(ea, false, &pa);
  promote(eb, true, &pb);
  LR_TRY(lr_empty_on(a->dtype, a->device, ny, yshape, &y));
  int64_t M = pa.rows, K = pa.cols, N = pb.cols;
  int64_t ybs[LR_MAX_DIMS];
  for (int i = nb - 1; i >= 0; i--) ybs[i] = i == nb - 1 ? M * N : ybs[i + 1] * bshape[i + 1];
  lr_kcpu_mat X = make_mat(ea->data, &pa, nb, bshape, false, false);
  lr_kcpu_mat Y = make_mat(eb->data, &pb, nb, bshape, false, false);
  LR_TRY(gemm(a->device, a->dtype, nb, bshape, M, N, K, &X, &Y, y->data, N, ybs, 0.0));
  lr_node *nd;
  LR_TRY(lr_record(&op_matmul, 2, (lr_tensor *[]){a, b}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = ea; /* the BLAS-ready operands, so the backward does not copy again */
    nd->saved[1] = eb;
  }
  *out = y;
  return LR_OK;
}

/* Batch strides of a contiguous tensor of t's promoted shape (its grad buffer), aligned to bshape. */
static void grad_batch_strides(const lr_tensor *gbuf, bool is_b, int nb, const int64_t *bshape, mm_operand *o,
                               int64_t *bs) {
  promote(gbuf, is_b, o);
  align_batch(o, nb, bshape, bs);
}

static lr_status matmul_backward(lr_node *n) {
  lr_tensor *a = n->in[0], *b = n->in[1], *ea = n->saved[0], *eb = n->saved[1];
  lr_tensor *g;
  LR_TRY(contiguous(n->out[0]->grad, &g));
  mm_operand pa, pb;
  int nb, ny;
  int64_t bshape[LR_MAX_DIMS], yshape[LR_MAX_DIMS];
  LR_TRY(mm_shapes(ea, eb, &pa, &pb, &nb, bshape, &ny, yshape));
  int64_t M = pa.rows, K = pa.cols, N = pb.cols;
  bool cx = lr_dtype_is_complex(g->dtype);
  /* G as a promoted (batch..., M, N) operand: contiguous */
  mm_operand pg;
  pg.nb = nb;
  pg.rows = M;
  pg.cols = N;
  pg.rs = N;
  pg.cs = 1;
  for (int i = nb - 1; i >= 0; i--) {
    pg.bshape[i] = bshape[i];
    pg.bstr[i] = i == nb - 1 ? M * N : pg.bstr[i + 1] * bshape[i + 1];
  }
  lr_kcpu_mat G = make_mat(g->data, &pg, nb, bshape, false, false);
  if (a->requires_grad) { /* dA (M, K) += G (M, N) @ B^H (N, K) */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(a, &buf));
    mm_operand po;
    int64_t cbs[LR_MAX_DIMS];
    grad_batch_strides(buf, false, nb, bshape, &po, cbs);
    lr_kcpu_mat BH = make_mat(eb->data, &pb, nb, bshape, true, cx);
    LR_TRY(gemm(g->device, g->dtype, nb, bshape, M, K, N, &G, &BH, buf->data, po.rs, cbs, 1.0));
  }
  if (b->requires_grad) { /* dB (K, N) += A^H (K, M) @ G (M, N) */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(b, &buf));
    mm_operand po;
    int64_t cbs[LR_MAX_DIMS];
    grad_batch_strides(buf, true, nb, bshape, &po, cbs);
    lr_kcpu_mat AH = make_mat(ea->data, &pa, nb, bshape, true, cx);
    LR_TRY(gemm(g->device, g->dtype, nb, bshape, K, N, M, &AH, &G, buf->data, po.rs, cbs, 1.0));
  }
  return LR_OK;
}

/* ---- linear ---- */

static void linear_cpu(const lr_tensor *xc, const lr_tensor *wc, const lr_tensor *b, lr_tensor *y, int64_t R, int64_t O,
                       int64_t I);
#ifdef LR_CUDA
static lr_status linear_cuda(const lr_tensor *xc, const lr_tensor *wc, const lr_tensor *b, lr_tensor *y, int64_t R,
                             int64_t O, int64_t I);
#endif

lr_status lr_linear(lr_tensor *x, lr_tensor *w, lr_tensor *b, lr_tensor **out) {
  const char *fn = "lr_linear";
  char sx[160], sw[160], sb[160];
  LR_TRY(lr_check_ptr(fn, x, "x"));
  LR_TRY(lr_check_ptr(fn, w, "W"));
  LR_TRY(lr_check_ptr(fn, out, "out"));
  LR_TRY(lr_check_same(fn, x, "x", w, "W"));
  if (b) LR_TRY(lr_check_same(fn, x, "x", b, "b"));
  LR_TRY(lr_check_dtype(fn, x, "x", op_linear.dtypes));
  LR_TRY(lr_check_device(fn, &op_linear, x));
  if (w->ndim != 2)
    return lr_fail(LR_ERR_SHAPE, "lr_linear: W is %s, expected 2 dims (out, in)", lr_shape_str(w->ndim, w->shape, sw, 160));
  if (x->ndim < 1) return lr_fail(LR_ERR_SHAPE, "lr_linear: x is a 0-dim tensor, expected (..., in)");
  int64_t O = w->shape[0], I = w->shape[1];
  if (x->shape[x->ndim - 1] != I)
    return lr_fail(LR_ERR_SHAPE, "lr_linear: x is %s, W is %s: in features %lld and %lld differ",
                   lr_shape_str(x->ndim, x->shape, sx, 160), lr_shape_str(2, w->shape, sw, 160),
                   (long long)x->shape[x->ndim - 1], (long long)I);
  if (b && (b->ndim != 1 || b->shape[0] != O))
    return lr_fail(LR_ERR_SHAPE, "lr_linear: b is %s, W is %s: expected b of shape (%lld,)",
                   lr_shape_str(b->ndim, b->shape, sb, 160), lr_shape_str(2, w->shape, sw, 160), (long long)O);
  int64_t R = lr_numel(x) / (I ? I : 1);
  if (I == 0) {
    R = 1;
    for (int i = 0; i < x->ndim - 1; i++) R *= x->shape[i];
  }
  if (R > LR_GEMM_MAX_DIM || O > LR_GEMM_MAX_DIM || I > LR_GEMM_MAX_DIM)
    return lr_fail(LR_ERR_UNSUPPORTED, "lr_linear: x is %s, W is %s: a dim exceeds BLAS's 32-bit limit",
                   lr_shape_str(x->ndim, x->shape, sx, 160), lr_shape_str(2, w->shape, sw, 160));
  lr_tensor *xc, *wc, *y;
  LR_TRY(contiguous(x, &xc));
  LR_TRY(blas_ready(w, &wc));
  int64_t ysh[LR_MAX_DIMS];
  for (int i = 0; i < x->ndim - 1; i++) ysh[i] = x->shape[i];
  ysh[x->ndim - 1] = O;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, ysh, &y));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA) LR_TRY(linear_cuda(xc, wc, b, y, R, O, I));
  else
#endif
    linear_cpu(xc, wc, b, y, R, O, I);
  lr_node *nd;
  LR_TRY(lr_record(&op_linear, b ? 3 : 2, (lr_tensor *[]){x, w, b}, 1, &y, &nd));
  if (nd) {
    nd->saved[0] = xc;
    nd->saved[1] = wc;
    nd->iarg[0] = R;
  }
  *out = y;
  return LR_OK;
}

/* y (R, O) = xc (R, I) @ W^T (+ b) on the CPU */
static void linear_cpu(const lr_tensor *xc, const lr_tensor *wc, const lr_tensor *b, lr_tensor *y, int64_t R, int64_t O,
                       int64_t I) {
  /* W^T (in, out): W's strides swapped */
  lr_gemm_op wop;
  int64_t ldw;
  lr_kcpu_gemm_layout(I, O, wc->strides[1], wc->strides[0], false, &wop, &ldw);
  double beta = 0.0;
  if (b) {
    lr_kcpu_fill_rows(y->dtype, y->data, R, O, b->data, b->strides[0]);
    beta = 1.0;
  }
  if (I == 0) {
    if (!b) lr_kcpu_fill_rows(y->dtype, y->data, R, O, NULL, 0);
  } else {
    lr_kcpu_gemm(y->dtype, LR_GEMM_N, wop, R, O, I, 1.0, xc->data, I, wc->data, ldw, beta, y->data, O);
  }
}

#ifdef LR_CUDA
/* The same on the GPU: the bias rows, then one cuBLAS product with beta 1 (or zeros when I = 0). */
static lr_status linear_cuda(const lr_tensor *xc, const lr_tensor *wc, const lr_tensor *b, lr_tensor *y, int64_t R,
                             int64_t O, int64_t I) {
  lr_dtype dt = y->dtype;
  if (b || I == 0) /* bias rows, or zeros when there is nothing to multiply */
    LR_TRY(lr_kcuda_fill_rows(dt, y->data, R, O, b ? b->data : NULL, b ? b->strides[0] : 0, lr_cuda_stream()));
  if (I == 0) return LR_OK;
  lr_kcpu_mat X = {.data = xc->data, .rs = I, .cs = 1};
  lr_kcpu_mat WT = {.data = wc->data, .rs = wc->strides[1], .cs = wc->strides[0]}; /* W^T (I, O) */
  return gemm(LR_DEVICE_CUDA, dt, 0, NULL, R, O, I, &X, &WT, y->data, O, NULL, b ? 1.0 : 0.0);
}

/* linear's backward on the GPU (the formulas are linear_backward's) */
static lr_status linear_backward_cuda(lr_node *n, lr_tensor *g) {
  lr_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
  lr_tensor *xc = n->saved[0], *wc = n->saved[1];
  int64_t R = n->iarg[0], O = w->shape[0], I = w->shape[1];
  lr_dtype dt = g->dtype;
  bool cx = lr_dtype_is_complex(dt);
  if (x->requires_grad && I > 0) { /* dx (R, I) += G (R, O) @ conj(W) (O, I) */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(x, &buf));
    lr_kcpu_mat G = {.data = g->data, .rs = O, .cs = 1};
    lr_kcpu_mat W = {.data = wc->data, .rs = wc->strides[0], .cs = wc->strides[1], .conj = cx};
    LR_TRY(gemm(LR_DEVICE_CUDA, dt, 0, NULL, R, I, O, &G, &W, buf->data, I, NULL, 1.0));
  }
  if (w->requires_grad && I > 0) { /* dW (O, I) += G^T (O, R) @ conj(x) (R, I) */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(w, &buf));
    lr_kcpu_mat GT = {.data = g->data, .rs = 1, .cs = O};
    lr_kcpu_mat X = {.data = xc->data, .rs = I, .cs = 1, .conj = cx};
    LR_TRY(gemm(LR_DEVICE_CUDA, dt, 0, NULL, O, I, R, &GT, &X, buf->data, I, NULL, 1.0));
  }
  if (b && b->requires_grad) { /* db (O,) += sum over rows of G, in a fixed order */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(b, &buf));
    LR_TRY(lr_kcuda_acc_broadcast(dt, buf->data, (int64_t[]){0, 1}, g->data, 2, (int64_t[]){R, O}, lr_cuda_stream()));
  }
  return LR_OK;
}
#endif

static lr_status linear_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *w = n->in[1], *b = n->n_in > 2 ? n->in[2] : NULL;
  lr_tensor *xc = n->saved[0], *wc = n->saved[1], *g;
  LR_TRY(contiguous(n->out[0]->grad, &g));
#ifdef LR_CUDA
  if (g->device == LR_DEVICE_CUDA) return linear_backward_cuda(n, g);
#endif
  int64_t R = n->iarg[0], O = w->shape[0], I = w->shape[1];
  lr_dtype dt = g->dtype;
  bool cx = lr_dtype_is_complex(dt);
  if (x->requires_grad && I > 0) { /* dx (R, I) += G (R, O) @ conj(W) (O, I) */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(x, &buf));
    lr_gemm_op op;
    int64_t ld;
    lr_kcpu_gemm_layout(O, I, wc->strides[0], wc->strides[1], cx, &op, &ld);
    lr_kcpu_gemm(dt, LR_GEMM_N, op, R, I, O, 1.0, g->data, O, wc->data, ld, 1.0, buf->data, I);
  }
  if (w->requires_grad && I > 0) { /* dW (O, I) += G^T (O, R) @ conj(x) (R, I) */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(w, &buf));
    lr_kcpu_gemm(dt, LR_GEMM_T, cx ? LR_GEMM_CONJ : LR_GEMM_N, O, I, R, 1.0, g->data, O, xc->data, I, 1.0, buf->data,
                 I);
  }
  if (b && b->requires_grad) { /* db (O,) += sum over rows of G */
    lr_tensor *buf;
    LR_TRY(lr_grad_buffer(b, &buf));
    lr_kcpu_reduce_sum(dt, buf->data, true, g->data, 1, (int64_t[]){O}, (int64_t[]){1}, 1, (int64_t[]){R},
                       (int64_t[]){O}, 1.0);
  }
  return LR_OK;
}

const lr_op_def *const lr_ops_linalg[] = {&op_matmul, &op_linear, NULL};
