/* Ops that combine, pick or rearrange elements into a new tensor (copies), and the views that
 * split one (split, chunk). Forward and backward, with dx accumulated (+=):
 *
 *   cat(xs, dim)          y = [x0 | x1 | ...] along dim          dx_i += g[window of x_i]
 *   stack(xs, dim)        cat of unsqueeze(x_i, dim)              (recorded as unsqueeze + cat)
 *   split / chunk         narrow views, one node per piece, so pieces without a gradient cost nothing
 *   index_select(x,d,i)   y[.., j, ..] = x[.., i[j], ..]          dx[.., i[j], ..] += g[.., j, ..]
 *   gather(x, d, i)       y[c] = x[c with c_d = i[c]]             dx[c with c_d = i[c]] += g[c]
 *   embedding(W, ids)     y[n, :] = W[ids[n], :]                  dW[ids[n], :] += g[n, :], except
 *                                                                 the padding_idx row
 *   pad(x, pads, v)       constant pad (negative pads crop)       dx[window] += g[window]
 *   flip(x, dims)         y = x reversed along dims               dx += flip(g, dims)
 *   roll(x, s, d)         y[(k + s) mod n] = x[k]                 dx += roll(g, -s, d)
 *   cumsum(x, d)          y_k = sum_{t <= k} x_t                  dx_k += sum_{t >= k} g_t
 *
 * All of them are linear with real coefficients, so the complex gradient (dL/dRe + i dL/dIm) maps
 * back exactly as the real one. The copies take every dtype; cumsum and embedding take float ones.
 * Index backward is deterministic: the kernels partition by destination and walk the index serially
 * (kernels/cpu/shape.c). Indices are range-checked before any read (LR_ERR_ARG naming the value).
 *
 * CUDA: everything runs on the device too (LR_ON_CPU_CUDA). The copies (cat, stack, pad, flip,
 * roll, to) are strided device copies through lr_tensor_copy_; the window adds of the backwards
 * are lr_kcuda_acc_broadcast; index_select, gather, embedding and cumsum have kernels in
 * kernels/cuda/shape.cu. Index tensors must be on x's device; they are copied to the host once to
 * be range-checked (a synchronisation), and for index_select / embedding inverted there into
 * per-row segments so that the backward sums each destination in index order with no atomics,
 * bitwise equal to the CPU.
 * Reference: torch.cat/stack/split/chunk/index_select/gather, torch.nn.functional.embedding/pad,
 * torch.flip/roll/cumsum.
 */
#include "ops/shape.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/accumulate.h"
#include "kernels/cpu/shape.h"
#ifdef LR_CUDA
#include "kernels/cuda/cuda.h"
#endif
#include "ops/op_util.h"
#include "ops/registry.h"
#include "ops/view.h"

#define LR_DT_ANY ((1u << LR_DTYPE_COUNT) - 1u)
#define LR_DT_INDEX (LR_DT(LR_DTYPE_I32) | LR_DT(LR_DTYPE_I64))

static lr_status cat_backward(lr_node *n);
static lr_status index_select_backward(lr_node *n);
static lr_status gather_backward(lr_node *n);
static lr_status embedding_backward(lr_node *n);
static lr_status pad_backward(lr_node *n);
static lr_status flip_backward(lr_node *n);
static lr_status roll_backward(lr_node *n);
static lr_status cumsum_backward(lr_node *n);

static const lr_op_def op_cat = {"cat", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, cat_backward};
static const lr_op_def op_index_select = {"index_select", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, index_select_backward};
static const lr_op_def op_gather = {"gather", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, gather_backward};
static const lr_op_def op_embedding = {"embedding", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, embedding_backward};
static const lr_op_def op_pad = {"pad", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, pad_backward};
static const lr_op_def op_flip = {"flip", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, flip_backward};
static const lr_op_def op_roll = {"roll", LR_DT_ANY, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, roll_backward};
static const lr_op_def op_cumsum = {"cumsum", LR_DT_FLOAT, LR_ON_CPU_CUDA, LR_ON_CPU_CUDA, cumsum_backward};

/* ---- helpers ---- */

/* A descriptor (not allocated) of t[..., start : start + len, ...] along d. */
static lr_tensor window(const lr_tensor *t, int d, int64_t start, int64_t len) {
  lr_tensor w = *t;
  w.data = (unsigned char *)t->data + start * t->strides[d] * (int64_t)lr_dtype_size(t->dtype);
  w.shape[d] = len;
  return w;
}

/* dst (a window of a gradient buffer, any strides) += src (same shape, any strides). */
static lr_status acc_window(lr_tensor *dst, const lr_tensor *src) {
  lr_tensor *sc;
  LR_TRY(lr_tensor_contiguous_raw(src, &sc));
#ifdef LR_CUDA
  if (dst->device == LR_DEVICE_CUDA)
    return lr_kcuda_acc_broadcast(dst->dtype, dst->data, dst->strides, sc->data, sc->ndim, sc->shape, lr_cuda_stream());
#endif
  lr_kcpu_acc_broadcast(dst->dtype, dst->data, dst->strides, sc->data, sc->ndim, sc->shape);
  return LR_OK;
}

/* The index on the device the op runs on: "op: index is on cpu, x is on cuda". */
static lr_status check_index_device(const char *name, const lr_tensor *index, const char *iname, const lr_tensor *x,
                                    const char *xname) {
  if (index->device != x->device)
    return lr_fail(LR_ERR_DEVICE, "%s: %s is on %s, %s is on %s", name, iname, lr_device_name(index->device), xname,
                   lr_device_name(x->device));
  return LR_OK;
}

/* A contiguous int64 copy of an I32/I64 index tensor, every value checked against [0, bound).
 * what names the values in the message ("index", "id"), range describes the bound. *host gets the
 * values on the CPU (read back once from a device index); *out the same on index's device. */
static lr_status index_i64(const char *name, const char *what, const lr_tensor *index, int64_t bound,
                           const char *range, lr_tensor **host, lr_tensor **out) {
  lr_tensor *ic, *r;
  if (index->device == LR_DEVICE_CPU) {
    LR_TRY(lr_tensor_contiguous_raw(index, &ic));
  } else {
    LR_TRY(lr_empty(index->dtype, index->ndim, index->shape, &ic));
    LR_TRY(lr_tensor_copy_(ic, index));
  }
  LR_TRY(lr_empty(LR_DTYPE_I64, index->ndim, index->shape, &r));
  int64_t n = lr_numel(index), *dst = r->data;
  for (int64_t i = 0; i < n; i++) {
    int64_t v = index->dtype == LR_DTYPE_I64 ? ((const int64_t *)ic->data)[i] : ((const int32_t *)ic->data)[i];
    if (v < 0 || v >= bound)
      return lr_fail(LR_ERR_ARG, "%s: %s %lld at position %lld is out of range for %s", name, what, (long long)v,
                     (long long)i, range);
    dst[i] = v;
  }
  *host = r;
  if (index->device == LR_DEVICE_CPU) {
    *out = r;
    return LR_OK;
  }
  lr_tensor *d;
  LR_TRY(lr_empty_on(LR_DTYPE_I64, index->device, index->ndim, index->shape, &d));
  LR_TRY(lr_tensor_copy_(d, r));
  *out = d;
  return LR_OK;
}

#ifdef LR_CUDA
/* The index idx[0..n) (values in [0, nsrc)) inverted for the CUDA index-add backward: the distinct
 * values other than skip in ascending order (rows, nu of them), where each one's positions begin
 * (start, nu + 1 entries) and the positions themselves, ascending within a row (js): a counting
 * sort. One int64 tensor [rows | start | js] on dev; *nu_out gets nu. */
static lr_status index_segments(const char *name, const int64_t *idx, int64_t n, int64_t nsrc, int64_t skip,
                                lr_device dev, lr_tensor **out, int64_t *nu_out) {
  int64_t *cnt = calloc((size_t)nsrc + 1, sizeof *cnt);
  if (!cnt) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", name);
  int64_t m = 0, nu = 0;
  for (int64_t j = 0; j < n; j++)
    if (idx[j] != skip) { cnt[idx[j]]++; m++; }
  for (int64_t r = 0; r < nsrc; r++) nu += cnt[r] > 0;
  lr_tensor *h;
  lr_status st = lr_empty(LR_DTYPE_I64, LR_SHAPE(2 * nu + 1 + m), &h);
  if (st != LR_OK) { free(cnt); return st; }
  int64_t *rows = h->data, *start = rows + nu, *js = start + nu + 1;
  /* cnt[r] becomes the next free slot of row r in js */
  int64_t u = 0, off = 0;
  for (int64_t r = 0; r < nsrc; r++) {
    if (!cnt[r]) continue;
    rows[u] = r;
    start[u++] = off;
    int64_t c = cnt[r];
    cnt[r] = off;
    off += c;
  }
  start[nu] = off;
  for (int64_t j = 0; j < n; j++)
    if (idx[j] != skip) js[cnt[idx[j]]++] = j;
  free(cnt);
  lr_tensor *d;
  LR_TRY(lr_empty_on(LR_DTYPE_I64, dev, 1, h->shape, &d));
  LR_TRY(lr_tensor_copy_(d, h));
  *out = d;
  *nu_out = nu;
  return LR_OK;
}

/* gx (outer, nsrc, inner) += g (outer, nidx, inner) rows by the segments of index_segments. */
static lr_status cuda_index_add(lr_tensor *buf, const lr_tensor *gc, int64_t outer, int64_t nsrc, int64_t inner,
                                int64_t nidx, const lr_tensor *seg, int64_t nu) {
  const int64_t *rows = seg->data;
  return lr_kcuda_index_add_segments(buf->dtype, buf->data, gc->data, outer, nsrc, inner, nidx, rows, rows + nu,
                                     rows + 2 * nu + 1, nu, lr_cuda_stream());
}
#endif

static int64_t prod(const int64_t *s, int from, int to) {
  int64_t p = 1;
  for (int i = from; i < to; i++) p *= s[i];
  return p;
}

/* ---- cat, stack ---- */

/* Checks xs for cat (stack: equal shapes) and returns the normalised dim. */
static lr_status cat_check(const char *name, int n, lr_tensor *const *xs, int dim, bool stack, int *d) {
  if (n < 1) return lr_fail(LR_ERR_ARG, "%s: %d tensors, expected at least 1", name, n);
  LR_TRY(lr_check_ptr(name, xs, "xs"));
  for (int i = 0; i < n; i++)
    if (!xs[i]) return lr_fail(LR_ERR_ARG, "%s: tensor %d is NULL", name, i);
  const lr_tensor *x0 = xs[0];
  LR_TRY(lr_check_device(name, &op_cat, x0));
  char a[160], b[160];
  for (int i = 1; i < n; i++) {
    if (xs[i]->device != x0->device || xs[i]->dtype != x0->dtype)
      return lr_fail(xs[i]->device != x0->device ? LR_ERR_DEVICE : LR_ERR_DTYPE,
                     "%s: tensor %d is %s on %s, tensor 0 is %s on %s", name, i, lr_dtype_name(xs[i]->dtype),
                     lr_device_name(xs[i]->device), lr_dtype_name(x0->dtype), lr_device_name(x0->device));
  }
  if (!stack && x0->ndim == 0) return lr_fail(LR_ERR_SHAPE, "%s: tensor 0 is 0-dim; cat needs at least 1 dim", name);
  if (stack && x0->ndim >= LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "%s: tensors have %d dims, at most %d", name, x0->ndim, LR_MAX_DIMS - 1);
  LR_TRY(lr_norm_dim(name, dim, x0->ndim + (stack ? 1 : 0), d));
  for (int i = 1; i < n; i++) {
    const lr_tensor *x = xs[i];
    bool ok = x->ndim == x0->ndim;
    int bad = -1;
    for (int k = 0; ok && k < x0->ndim; k++)
      if (x->shape[k] != x0->shape[k] && (stack || k != *d)) { ok = false; bad = k; }
    if (ok) continue;
    lr_shape_str(x->ndim, x->shape, a, 160);
    lr_shape_str(x0->ndim, x0->shape, b, 160);
    if (stack)
      return lr_fail(LR_ERR_SHAPE, "%s: tensor %d has shape %s, tensor 0 has shape %s; stack needs equal shapes", name,
                     i, a, b);
    if (bad < 0)
      return lr_fail(LR_ERR_SHAPE, "%s: tensor %d has shape %s, tensor 0 has shape %s: %d and %d dims", name, i, a, b,
                     x->ndim, x0->ndim);
    return lr_fail(LR_ERR_SHAPE,
                   "%s: tensor %d has shape %s, tensor 0 has shape %s: sizes differ in dim %d (cat dim is %d)", name, i,
                   a, b, bad, *d);
  }
  return LR_OK;
}

static lr_status cat_run(int n, lr_tensor *const *xs, int d, lr_tensor **out) {
  const lr_tensor *x0 = xs[0];
  int64_t sh[LR_MAX_DIMS];
  memcpy(sh, x0->shape, sizeof sh);
  sh[d] = 0;
  for (int i = 0; i < n; i++) sh[d] += xs[i]->shape[d];
  lr_tensor *y;
  LR_TRY(lr_empty_on(x0->dtype, x0->device, x0->ndim, sh, &y));
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    lr_tensor w = window(y, d, off, xs[i]->shape[d]);
    LR_TRY(lr_tensor_copy_(&w, xs[i]));
    off += xs[i]->shape[d];
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_cat, n, xs, 1, &y, &nd));
  if (nd) nd->iarg[0] = d;
  *out = y;
  return LR_OK;
}

lr_status lr_cat(int n, lr_tensor *const *xs, int dim, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_cat", out, "out"));
  int d;
  LR_TRY(cat_check("lr_cat", n, xs, dim, false, &d));
  return cat_run(n, xs, d, out);
}

lr_status lr_stack(int n, lr_tensor *const *xs, int dim, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_stack", out, "out"));
  int d;
  LR_TRY(cat_check("lr_stack", n, xs, dim, true, &d));
  lr_tensor **us = lr_arena_alloc(lr_arena_current(), sizeof(lr_tensor *) * (size_t)n);
  if (!us) return lr_fail(LR_ERR_MEMORY, "lr_stack: out of memory");
  for (int i = 0; i < n; i++) LR_TRY(lr_unsqueeze(xs[i], d, &us[i]));
  return cat_run(n, us, d, out);
}

static lr_status cat_backward(lr_node *n) {
  lr_tensor *g = n->out[0]->grad;
  int d = (int)n->iarg[0];
  int64_t off = 0;
  for (int i = 0; i < n->n_in; i++) {
    lr_tensor *x = n->in[i];
    if (x->requires_grad) {
      lr_tensor w = window(g, d, off, x->shape[d]), *wc;
      LR_TRY(lr_tensor_contiguous_raw(&w, &wc));
      LR_TRY(lr_grad_acc(x, wc));
    }
    off += x->shape[d];
  }
  return LR_OK;
}

/* ---- split, chunk ---- */

lr_status lr_split(lr_tensor *x, int n, const int64_t *sizes, int dim, lr_tensor **outs) {
  LR_TRY(lr_check_ptr("lr_split", x, "x"));
  LR_TRY(lr_check_ptr("lr_split", sizes, "sizes"));
  LR_TRY(lr_check_ptr("lr_split", outs, "outs"));
  if (n < 1) return lr_fail(LR_ERR_ARG, "lr_split: %d pieces, expected at least 1", n);
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "lr_split: x is 0-dim");
  int d;
  LR_TRY(lr_norm_dim("lr_split", dim, x->ndim, &d));
  int64_t sum = 0;
  for (int i = 0; i < n; i++) {
    if (sizes[i] < 0) return lr_fail(LR_ERR_ARG, "lr_split: size %lld of piece %d is negative", (long long)sizes[i], i);
    sum += sizes[i];
  }
  if (sum != x->shape[d])
    return lr_fail(LR_ERR_SHAPE, "lr_split: sizes sum to %lld, dim %d has size %lld", (long long)sum, d,
                   (long long)x->shape[d]);
  lr_tensor **tmp = lr_arena_alloc(lr_arena_current(), sizeof(lr_tensor *) * (size_t)n);
  if (!tmp) return lr_fail(LR_ERR_MEMORY, "lr_split: out of memory");
  int64_t off = 0;
  for (int i = 0; i < n; i++) {
    LR_TRY(lr_narrow(x, d, off, sizes[i], &tmp[i]));
    off += sizes[i];
  }
  memcpy(outs, tmp, sizeof(lr_tensor *) * (size_t)n);
  return LR_OK;
}

lr_status lr_chunk(lr_tensor *x, int n, int dim, lr_tensor **outs, int *n_out) {
  LR_TRY(lr_check_ptr("lr_chunk", x, "x"));
  LR_TRY(lr_check_ptr("lr_chunk", outs, "outs"));
  LR_TRY(lr_check_ptr("lr_chunk", n_out, "n_out"));
  if (n < 1) return lr_fail(LR_ERR_ARG, "lr_chunk: %d chunks, expected at least 1", n);
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "lr_chunk: x is 0-dim");
  int d;
  LR_TRY(lr_norm_dim("lr_chunk", dim, x->ndim, &d));
  /* torch.chunk: pieces of ceil(size / n), the last one smaller; n empty pieces for size 0. */
  int64_t size = x->shape[d], cs = (size + n - 1) / n;
  int count = size == 0 ? n : (int)((size + cs - 1) / cs);
  int64_t *sizes = lr_arena_alloc(lr_arena_current(), sizeof(int64_t) * (size_t)count);
  if (!sizes) return lr_fail(LR_ERR_MEMORY, "lr_chunk: out of memory");
  for (int i = 0; i < count; i++) sizes[i] = size == 0 ? 0 : i < count - 1 ? cs : size - cs * (count - 1);
  LR_TRY(lr_split(x, count, sizes, d, outs));
  *n_out = count;
  return LR_OK;
}

/* ---- index_select, gather, embedding ---- */

lr_status lr_index_select(lr_tensor *x, int dim, lr_tensor *index, lr_tensor **out) {
  const char *nm = "lr_index_select";
  LR_TRY(lr_check_ptr(nm, x, "x"));
  LR_TRY(lr_check_ptr(nm, index, "index"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_device(nm, &op_index_select, x));
  LR_TRY(check_index_device(nm, index, "index", x, "x"));
  LR_TRY(lr_check_dtype(nm, index, "index", LR_DT_INDEX));
  char a[160], b[160];
  if (index->ndim > 1)
    return lr_fail(LR_ERR_SHAPE, "%s: index has shape %s, expected 1-D", nm,
                   lr_shape_str(index->ndim, index->shape, a, 160));
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "%s: x is 0-dim", nm);
  int d;
  LR_TRY(lr_norm_dim(nm, dim, x->ndim, &d));
  snprintf(b, sizeof b, "dim %d of size %lld", d, (long long)x->shape[d]);
  lr_tensor *hidx, *idx, *xc, *y;
  LR_TRY(index_i64(nm, "index", index, x->shape[d], b, &hidx, &idx));
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  int64_t sh[LR_MAX_DIMS];
  memcpy(sh, x->shape, sizeof sh);
  sh[d] = lr_numel(idx);
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, sh, &y));
  int64_t outer = prod(x->shape, 0, d), inner = prod(x->shape, d + 1, x->ndim);
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_index_select(lr_dtype_size(x->dtype), y->data, xc->data, outer, x->shape[d], inner, idx->data,
                                 sh[d], lr_cuda_stream()));
  else
#endif
    lr_kcpu_index_select(lr_dtype_size(x->dtype), y->data, xc->data, outer, x->shape[d], inner, idx->data, sh[d]);
  lr_node *nd;
  LR_TRY(lr_record(&op_index_select, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->iarg[0] = d;
    nd->saved[0] = idx;
#ifdef LR_CUDA
    if (x->device == LR_DEVICE_CUDA)
      LR_TRY(index_segments(nm, hidx->data, sh[d], x->shape[d], -1, x->device, &nd->saved[1], &nd->iarg[1]));
#endif
  }
  *out = y;
  return LR_OK;
}

static lr_status index_select_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *idx = n->saved[0], *buf, *gc;
  if (!x->requires_grad) return LR_OK;
  int d = (int)n->iarg[0];
  LR_TRY(lr_grad_buffer(x, &buf));
  LR_TRY(lr_tensor_contiguous_raw(g, &gc));
  int64_t outer = prod(x->shape, 0, d), inner = prod(x->shape, d + 1, x->ndim);
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA)
    return cuda_index_add(buf, gc, outer, x->shape[d], inner, lr_numel(idx), n->saved[1], n->iarg[1]);
#endif
  lr_kcpu_index_add(x->dtype, buf->data, gc->data, outer, x->shape[d], inner, idx->data, lr_numel(idx), -1);
  return LR_OK;
}

lr_status lr_gather(lr_tensor *x, int dim, lr_tensor *index, lr_tensor **out) {
  const char *nm = "lr_gather";
  LR_TRY(lr_check_ptr(nm, x, "x"));
  LR_TRY(lr_check_ptr(nm, index, "index"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_device(nm, &op_gather, x));
  LR_TRY(check_index_device(nm, index, "index", x, "x"));
  LR_TRY(lr_check_dtype(nm, index, "index", LR_DT_INDEX));
  char a[160], b[160];
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "%s: x is 0-dim", nm);
  if (index->ndim != x->ndim)
    return lr_fail(LR_ERR_SHAPE, "%s: index has shape %s, x has shape %s: expected the same number of dims", nm,
                   lr_shape_str(index->ndim, index->shape, a, 160), lr_shape_str(x->ndim, x->shape, b, 160));
  int d;
  LR_TRY(lr_norm_dim(nm, dim, x->ndim, &d));
  for (int k = 0; k < x->ndim; k++)
    if (k != d && index->shape[k] > x->shape[k])
      return lr_fail(LR_ERR_SHAPE, "%s: index has shape %s, x has shape %s: index dim %d has size %lld > %lld", nm,
                     lr_shape_str(index->ndim, index->shape, a, 160), lr_shape_str(x->ndim, x->shape, b, 160), k,
                     (long long)index->shape[k], (long long)x->shape[k]);
  snprintf(b, sizeof b, "dim %d of size %lld", d, (long long)x->shape[d]);
  lr_tensor *hidx, *idx, *y;
  LR_TRY(index_i64(nm, "index", index, x->shape[d], b, &hidx, &idx));
  LR_TRY(lr_empty_on(x->dtype, x->device, index->ndim, index->shape, &y));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_gather(lr_dtype_size(x->dtype), y->data, x->data, x->strides, idx->data, x->ndim, index->shape, d,
                           lr_cuda_stream()));
  else
#endif
  if (lr_numel(y) > 0)
    lr_kcpu_gather(lr_dtype_size(x->dtype), y->data, x->data, x->strides, idx->data, x->ndim, index->shape, d);
  lr_node *nd;
  LR_TRY(lr_record(&op_gather, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->iarg[0] = d;
    nd->saved[0] = idx;
  }
  *out = y;
  return LR_OK;
}

static lr_status gather_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *idx = n->saved[0], *buf, *gc;
  if (!x->requires_grad || lr_numel(g) == 0) return LR_OK;
  LR_TRY(lr_grad_buffer(x, &buf));
  LR_TRY(lr_tensor_contiguous_raw(g, &gc));
#ifdef LR_CUDA
  if (x->device == LR_DEVICE_CUDA)
    return lr_kcuda_scatter_add(x->dtype, buf->data, buf->strides, gc->data, idx->data, x->ndim, idx->shape,
                                (int)n->iarg[0], lr_cuda_stream());
#endif
  lr_kcpu_scatter_add(x->dtype, buf->data, buf->strides, gc->data, idx->data, x->ndim, idx->shape, (int)n->iarg[0]);
  return LR_OK;
}

lr_status lr_embedding(lr_tensor *weight, lr_tensor *ids, int64_t padding_idx, lr_tensor **out) {
  const char *nm = "lr_embedding";
  LR_TRY(lr_check_ptr(nm, weight, "weight"));
  LR_TRY(lr_check_ptr(nm, ids, "ids"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_dtype(nm, weight, "weight", op_embedding.dtypes));
  LR_TRY(lr_check_dtype(nm, ids, "ids", LR_DT_INDEX));
  LR_TRY(lr_check_device(nm, &op_embedding, weight));
  LR_TRY(check_index_device(nm, ids, "ids", weight, "weight"));
  char a[160];
  if (weight->ndim != 2)
    return lr_fail(LR_ERR_SHAPE, "%s: weight has shape %s, expected 2 dims (V, H)", nm,
                   lr_shape_str(weight->ndim, weight->shape, a, 160));
  if (ids->ndim >= LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "%s: ids has %d dims, at most %d", nm, ids->ndim, LR_MAX_DIMS - 1);
  int64_t V = weight->shape[0], H = weight->shape[1];
  if (padding_idx >= V)
    return lr_fail(LR_ERR_ARG, "%s: padding_idx %lld out of range for V = %lld", nm, (long long)padding_idx, (long long)V);
  snprintf(a, sizeof a, "V = %lld", (long long)V);
  lr_tensor *hidx, *idx, *wc, *y;
  LR_TRY(index_i64(nm, "id", ids, V, a, &hidx, &idx));
  LR_TRY(lr_tensor_contiguous_raw(weight, &wc));
  int64_t sh[LR_MAX_DIMS];
  memcpy(sh, ids->shape, sizeof(int64_t) * (size_t)ids->ndim);
  sh[ids->ndim] = H;
  LR_TRY(lr_empty_on(weight->dtype, weight->device, ids->ndim + 1, sh, &y));
#ifdef LR_CUDA
  if (weight->device == LR_DEVICE_CUDA)
    LR_TRY(lr_kcuda_index_select(lr_dtype_size(weight->dtype), y->data, wc->data, 1, V, H, idx->data, lr_numel(idx),
                                 lr_cuda_stream()));
  else
#endif
    lr_kcpu_index_select(lr_dtype_size(weight->dtype), y->data, wc->data, 1, V, H, idx->data, lr_numel(idx));
  lr_node *nd;
  LR_TRY(lr_record(&op_embedding, 1, &weight, 1, &y, &nd));
  if (nd) {
    nd->iarg[0] = padding_idx;
    nd->saved[0] = idx;
#ifdef LR_CUDA
    if (weight->device == LR_DEVICE_CUDA)
      LR_TRY(index_segments(nm, hidx->data, lr_numel(idx), V, padding_idx < 0 ? -1 : padding_idx, weight->device,
                            &nd->saved[1], &nd->iarg[1]));
#endif
  }
  *out = y;
  return LR_OK;
}

static lr_status embedding_backward(lr_node *n) {
  lr_tensor *w = n->in[0], *g = n->out[0]->grad, *idx = n->saved[0], *buf, *gc;
  if (!w->requires_grad) return LR_OK;
  LR_TRY(lr_grad_buffer(w, &buf));
  LR_TRY(lr_tensor_contiguous_raw(g, &gc));
#ifdef LR_CUDA
  if (w->device == LR_DEVICE_CUDA)
    return cuda_index_add(buf, gc, 1, w->shape[0], w->shape[1], lr_numel(idx), n->saved[1], n->iarg[1]);
#endif
  lr_kcpu_index_add(w->dtype, buf->data, gc->data, 1, w->shape[0], w->shape[1], idx->data, lr_numel(idx), n->iarg[0]);
  return LR_OK;
}

/* ---- pad ---- */

/* The part of x that survives padding/cropping, and where it lands in y: per dim, x[xs : xs + len]
 * goes to y[ys : ys + len]. Returns false when nothing survives. */
static bool pad_window(const lr_tensor *x, int npairs, const int64_t *pads, int64_t *xs, int64_t *ys, int64_t *len) {
  bool any = true;
  for (int k = 0; k < x->ndim; k++) {
    xs[k] = ys[k] = 0;
    len[k] = x->shape[k];
  }
  for (int i = 0; i < npairs; i++) {
    int k = x->ndim - 1 - i;
    int64_t lo = pads[2 * i], hi = pads[2 * i + 1];
    xs[k] = lo < 0 ? -lo : 0;
    ys[k] = lo > 0 ? lo : 0;
    len[k] = x->shape[k] - (lo < 0 ? -lo : 0) - (hi < 0 ? -hi : 0);
    if (len[k] <= 0) any = false;
  }
  return any;
}

static lr_tensor sub_window(const lr_tensor *t, const int64_t *start, const int64_t *len) {
  lr_tensor w = *t;
  for (int k = 0; k < t->ndim; k++) w = window(&w, k, start[k], len[k]);
  return w;
}

lr_status lr_pad(lr_tensor *x, int npairs, const int64_t *pads, double value, lr_tensor **out) {
  const char *nm = "lr_pad";
  LR_TRY(lr_check_ptr(nm, x, "x"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_device(nm, &op_pad, x));
  if (npairs < 0 || npairs > x->ndim)
    return lr_fail(LR_ERR_ARG, "%s: %d pairs of pads for a tensor with %d dims", nm, npairs, x->ndim);
  if (npairs > 0) LR_TRY(lr_check_ptr(nm, pads, "pads"));
  int64_t sh[LR_MAX_DIMS];
  memcpy(sh, x->shape, sizeof sh);
  for (int i = 0; i < npairs; i++) {
    int k = x->ndim - 1 - i;
    sh[k] = x->shape[k] + pads[2 * i] + pads[2 * i + 1];
    if (sh[k] < 0)
      return lr_fail(LR_ERR_SHAPE, "%s: pads (%lld, %lld) make dim %d of size %lld negative (%lld)", nm,
                     (long long)pads[2 * i], (long long)pads[2 * i + 1], k, (long long)x->shape[k], (long long)sh[k]);
  }
  lr_tensor *y;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, sh, &y));
  LR_TRY(lr_tensor_fill_(y, value));
  int64_t xs[LR_MAX_DIMS], ys[LR_MAX_DIMS], len[LR_MAX_DIMS];
  if (pad_window(x, npairs, pads, xs, ys, len)) {
    lr_tensor xw = sub_window(x, xs, len), yw = sub_window(y, ys, len);
    LR_TRY(lr_tensor_copy_(&yw, &xw));
  }
  lr_node *nd;
  LR_TRY(lr_record(&op_pad, 1, &x, 1, &y, &nd));
  if (nd) {
    int64_t *p = lr_arena_alloc(lr_arena_current(), sizeof(int64_t) * (size_t)(2 * npairs + 1));
    if (!p) return lr_fail(LR_ERR_MEMORY, "%s: out of memory", nm);
    memcpy(p, pads, sizeof(int64_t) * (size_t)(2 * npairs));
    nd->ctx = p;
    nd->iarg[0] = npairs;
  }
  *out = y;
  return LR_OK;
}

static lr_status pad_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *buf;
  if (!x->requires_grad) return LR_OK;
  int64_t xs[LR_MAX_DIMS], ys[LR_MAX_DIMS], len[LR_MAX_DIMS];
  if (!pad_window(x, (int)n->iarg[0], n->ctx, xs, ys, len)) return LR_OK;
  LR_TRY(lr_grad_buffer(x, &buf));
  lr_tensor bw = sub_window(buf, xs, len), gw = sub_window(g, ys, len);
  return acc_window(&bw, &gw);
}

/* ---- flip, roll ---- */

/* A descriptor of t reversed along the dims in mask: start at the last element, negate the stride. */
static lr_tensor flipped(const lr_tensor *t, uint32_t mask) {
  lr_tensor v = *t;
  for (int k = 0; k < t->ndim; k++) {
    if (!((mask >> k) & 1) || t->shape[k] == 0) continue;
    v.data = (unsigned char *)v.data + (t->shape[k] - 1) * t->strides[k] * (int64_t)lr_dtype_size(t->dtype);
    v.strides[k] = -t->strides[k];
  }
  return v;
}

lr_status lr_flip(lr_tensor *x, int ndims, const int *dims, lr_tensor **out) {
  const char *nm = "lr_flip";
  LR_TRY(lr_check_ptr(nm, x, "x"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_device(nm, &op_flip, x));
  if (ndims < 0) return lr_fail(LR_ERR_ARG, "%s: ndims %d is negative", nm, ndims);
  if (ndims > 0) LR_TRY(lr_check_ptr(nm, dims, "dims"));
  uint32_t mask = 0;
  for (int i = 0; i < ndims; i++) {
    int d;
    LR_TRY(lr_norm_dim(nm, dims[i], x->ndim, &d));
    if ((mask >> d) & 1) return lr_fail(LR_ERR_ARG, "%s: dim %d appears more than once in dims", nm, d);
    mask |= 1u << d;
  }
  lr_tensor *y;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &y));
  lr_tensor v = flipped(x, mask);
  LR_TRY(lr_tensor_copy_(y, &v));
  lr_node *nd;
  LR_TRY(lr_record(&op_flip, 1, &x, 1, &y, &nd));
  if (nd) nd->iarg[0] = mask;
  *out = y;
  return LR_OK;
}

static lr_status flip_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *gc;
  if (!x->requires_grad) return LR_OK;
  lr_tensor v = flipped(n->out[0]->grad, (uint32_t)n->iarg[0]);
  LR_TRY(lr_tensor_contiguous_raw(&v, &gc));
  return lr_grad_acc(x, gc);
}

/* dst = src rolled by s in [0, n) along d: dst[s:] = src[:n-s], dst[:s] = src[n-s:]. */
static lr_status roll_into(lr_tensor *dst, const lr_tensor *src, int d, int64_t s) {
  int64_t n = src->shape[d];
  lr_tensor a = window(dst, d, s, n - s), b = window(src, d, 0, n - s);
  LR_TRY(lr_tensor_copy_(&a, &b));
  a = window(dst, d, 0, s);
  b = window(src, d, n - s, s);
  return lr_tensor_copy_(&a, &b);
}

static int64_t wrap(int64_t shift, int64_t n) { return n ? ((shift % n) + n) % n : 0; }

lr_status lr_roll(lr_tensor *x, int64_t shift, int dim, lr_tensor **out) {
  const char *nm = "lr_roll";
  LR_TRY(lr_check_ptr(nm, x, "x"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_device(nm, &op_roll, x));
  if (x->ndim == 0) return lr_fail(LR_ERR_SHAPE, "%s: x is 0-dim", nm);
  int d;
  LR_TRY(lr_norm_dim(nm, dim, x->ndim, &d));
  lr_tensor *y;
  LR_TRY(lr_empty_on(x->dtype, x->device, x->ndim, x->shape, &y));
  int64_t s = wrap(shift, x->shape[d]);
  LR_TRY(roll_into(y, x, d, s));
  lr_node *nd;
  LR_TRY(lr_record(&op_roll, 1, &x, 1, &y, &nd));
  if (nd) {
    nd->iarg[0] = d;
    nd->iarg[1] = s;
  }
  *out = y;
  return LR_OK;
}

static lr_status roll_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *gx;
  if (!x->requires_grad) return LR_OK;
  int d = (int)n->iarg[0];
  LR_TRY(lr_empty_like(g, &gx));
  LR_TRY(roll_into(gx, g, d, wrap(-n->iarg[1], x->shape[d])));
  return lr_grad_acc(x, gx);
}

/* ---- cumsum ---- */

/* out = prefix (reverse: suffix) sums of x along d; both contiguous with shape sh, on dev. */
static lr_status cumsum_run(lr_dtype dt, lr_device dev, void *out, const void *x, int ndim, const int64_t *sh, int d,
                            int reverse) {
  int64_t outer = prod(sh, 0, d), inner = prod(sh, d + 1, ndim);
#ifdef LR_CUDA
  if (dev == LR_DEVICE_CUDA) {
    size_t wb = lr_kcuda_cumsum_work_bytes(dt, outer, sh[d], inner);
    lr_tensor *w = NULL;
    if (wb) LR_TRY(lr_empty_on(dt, dev, LR_SHAPE((int64_t)(wb / lr_dtype_size(dt))), &w));
    return lr_kcuda_cumsum(dt, out, x, outer, sh[d], inner, reverse, w ? w->data : NULL, lr_cuda_stream());
  }
#endif
  (void)dev;
  lr_kcpu_cumsum(dt, out, x, outer, sh[d], inner, reverse);
  return LR_OK;
}

lr_status lr_cumsum(lr_tensor *x, int dim, lr_tensor **out) {
  const char *nm = "lr_cumsum";
  LR_TRY(lr_check_ptr(nm, x, "x"));
  LR_TRY(lr_check_ptr(nm, out, "out"));
  LR_TRY(lr_check_dtype(nm, x, "x", op_cumsum.dtypes));
  LR_TRY(lr_check_device(nm, &op_cumsum, x));
  int d;
  LR_TRY(lr_norm_dim(nm, dim, x->ndim, &d));
  lr_tensor *xc, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_empty_like(x, &y));
  if (x->ndim == 0) LR_TRY(lr_tensor_copy_(y, x));
  else LR_TRY(cumsum_run(x->dtype, x->device, y->data, xc->data, x->ndim, x->shape, d, 0));
  lr_node *nd;
  LR_TRY(lr_record(&op_cumsum, 1, &x, 1, &y, &nd));
  if (nd) nd->iarg[0] = d;
  *out = y;
  return LR_OK;
}

static lr_status cumsum_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *gc, *gx;
  if (!x->requires_grad) return LR_OK;
  if (x->ndim == 0) return lr_grad_acc(x, g);
  int d = (int)n->iarg[0];
  LR_TRY(lr_tensor_contiguous_raw(g, &gc));
  LR_TRY(lr_empty_like(g, &gx));
  LR_TRY(cumsum_run(x->dtype, x->device, gx->data, gc->data, x->ndim, x->shape, d, 1));
  return lr_grad_acc(x, gx);
}

/* ---- to: copy between devices ----
 * y = x on another device; dx += g copied back to x's device. */
static lr_status to_backward(lr_node *n);
static const lr_op_def op_to = {"to", LR_DT_FLOAT, LR_ON_CPU | LR_ON_CUDA, LR_ON_CPU | LR_ON_CUDA, to_backward};

lr_status lr_to(lr_tensor *x, lr_device dev, lr_tensor **out) {
  LR_TRY(lr_check_ptr("lr_to", x, "x"));
  LR_TRY(lr_check_ptr("lr_to", out, "out"));
  lr_tensor *xc, *y;
  LR_TRY(lr_tensor_contiguous_raw(x, &xc));
  LR_TRY(lr_empty_on(x->dtype, dev, x->ndim, x->shape, &y));
  LR_TRY(lr_tensor_copy_(y, xc));
  if (lr_dtype_is_float(x->dtype)) {
    lr_node *nd;
    LR_TRY(lr_record(&op_to, 1, &x, 1, &y, &nd));
  }
  *out = y;
  return LR_OK;
}

static lr_status to_backward(lr_node *n) {
  lr_tensor *x = n->in[0], *g = n->out[0]->grad, *gx;
  LR_TRY(lr_empty_on(g->dtype, x->device, g->ndim, g->shape, &gx));
  LR_TRY(lr_tensor_copy_(gx, g));
  return lr_grad_acc(x, gx);
}

const lr_op_def *const lr_ops_shape[] = {&op_cat,  &op_index_select, &op_gather, &op_embedding, &op_pad,
                                         &op_flip, &op_roll,         &op_cumsum, &op_to,        NULL};
