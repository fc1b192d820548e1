/* Module checkpoints over safetensors; see checkpoint.h.
 *
 * Save: the tree's tensors (aliases included) by full name; LR_PARAM_REAL_VIEW complex tensors
 * are passed as a real strided view of the same memory, shape (..., 2), strides (2s..., 1).
 * Load: one pass classifies every module name (ok / missing / shape / dtype) and every file name
 * (expected / unexpected); strict mode fails here with one message. Then every matching entry is
 * read into a host staging tensor, and only when all reads succeeded are they copied into the
 * module, so that neither a mismatch nor a read error leaves a half-loaded module.
 */
#include "nn/checkpoint.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

static void free_strs(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

void lr_load_report_free(lr_load_report *r) {
  if (!r) return;
  free_strs(r->missing, r->n_missing);
  free_strs(r->unexpected, r->n_unexpected);
  free_strs(r->mismatched, r->n_mismatched);
  memset(r, 0, sizeof *r);
}

/* The real (..., 2) view of a complex tensor: same memory, no autograd state. */
static lr_status real_view(const char *fn, const char *name, const lr_tensor *z, lr_tensor *v) {
  if (z->ndim >= LR_MAX_DIMS)
    return lr_fail(LR_ERR_SHAPE, "%s: '%s' has %d dims: its real view would exceed %d", fn, name, z->ndim, LR_MAX_DIMS);
  memset(v, 0, sizeof *v);
  v->dtype = lr_dtype_real(z->dtype);
  v->device = z->device;
  v->ndim = z->ndim + 1;
  for (int i = 0; i < z->ndim; i++) {
    v->shape[i] = z->shape[i];
    v->strides[i] = 2 * z->strides[i];
  }
  v->shape[z->ndim] = 2;
  v->strides[z->ndim] = 1;
  v->data = z->data;
  return LR_OK;
}

lr_status lr_module_save(lr_module *m, const char *path, const char *const *metadata) {
  static const char fn[] = "lr_module_save";
  if (!m || !path) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  lr_param_list l;
  LR_TRY(lr_module_list(m, LR_VISIT_ALL | LR_VISIT_TIED, &l));
  size_t n = l.n ? (size_t)l.n : 1;
  const char **names = malloc(n * sizeof *names);
  const lr_tensor **ts = malloc(n * sizeof *ts);
  lr_tensor *views = malloc(n * sizeof *views);
  lr_status s = LR_OK;
  if (!names || !ts || !views) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory (%d tensors)", fn, l.n);
  for (int i = 0; s == LR_OK && i < l.n; i++) {
    const lr_param *p = l.items[i].param;
    names[i] = l.items[i].name;
    ts[i] = p->t;
    if ((p->flags & LR_PARAM_REAL_VIEW) && lr_dtype_is_complex(p->t->dtype)) {
      s = real_view(fn, names[i], p->t, &views[i]);
      ts[i] = &views[i];
    }
  }
  if (s == LR_OK) s = lr_safetensors_save(path, l.n, names, ts, metadata);
  free(names);
  free(ts);
  free(views);
  lr_param_list_free(&l);
  return s;
}

/* ---- load ---- */
enum { ENTRY_OK, ENTRY_MISSING, ENTRY_SHAPE, ENTRY_DTYPE };

typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} strbuf;

static void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(strbuf *b, const char *fmt, ...) {
  if (b->oom) return;
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (k < 0) return;
  if (b->n + (size_t)k + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + (size_t)k + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap);
  va_end(ap);
  b->n += (size_t)k;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* One "missing: a, b" section of the message. */
static void list_section(strbuf *b, const char *title, char *const *v, int n) {
  if (!n) return;
  sb_printf(b, "%s%s: ", b->n && b->p[b->n - 1] != ' ' ? "; " : "", title);
  for (int i = 0; i < n; i++) sb_printf(b, i ? ", %s" : "%s", v[i]);
}

lr_status lr_module_load_file(lr_module *m, const lr_safetensors_file *f, unsigned flags, lr_load_report *report) {
  static const char fn[] = "lr_module_load";
  if (!m || !f) return lr_fail(LR_ERR_ARG, "%s: NULL argument", fn);
  if (flags & ~LR_LOAD_PARTIAL) return lr_fail(LR_ERR_ARG, "%s: unknown flags 0x%x", fn, flags & ~LR_LOAD_PARTIAL);
  if (report) memset(report, 0, sizeof *report);
  const char *path = lr_safetensors_path(f);
  lr_param_list l;
  LR_TRY(lr_module_list(m, LR_VISIT_ALL | LR_VISIT_TIED, &l));
  int nf = lr_safetensors_count(f);
  size_t nl = l.n ? (size_t)l.n : 1;
  int *state = calloc(nl, sizeof *state);
  const char **sorted = malloc(nl * sizeof *sorted);
  lr_tensor **stage = calloc(nl, sizeof *stage);
  lr_load_report r = {0};
  r.missing = calloc(nl, sizeof *r.missing);
  r.mismatched = calloc(nl, sizeof *r.mismatched);
  r.unexpected = calloc(nf ? (size_t)nf : 1, sizeof *r.unexpected);
  char **dtype_list = calloc(nl, sizeof *dtype_list), **shape_list = calloc(nl, sizeof *shape_list);
  int n_dtype = 0, n_shape = 0;
  lr_status s = LR_OK;
  if (!state || !sorted || !stage || !r.missing || !r.mismatched || !r.unexpected || !dtype_list || !shape_list) {
    s = lr_fail(LR_ERR_MEMORY, "%s(%s): out of memory", fn, path);
    goto done;
  }

  /* 1. Classify every module name. */
  for (int i = 0; i < l.n && s == LR_OK; i++) {
    const char *name = l.items[i].name;
    const lr_tensor *t = l.items[i].param->t;
    lr_safetensors_info e;
    if (lr_safetensors_info_of(f, name, &e) != LR_OK) {
      state[i] = ENTRY_MISSING;
      if (!(r.missing[r.n_missing++] = dup_str(name))) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
      continue;
    }
    bool pairs = lr_dtype_is_complex(t->dtype) && e.dtype == lr_dtype_real(t->dtype);
    char detail[LR_NAME_MAX + 320];
    if (e.dtype != t->dtype && !pairs) {
      state[i] = ENTRY_DTYPE;
      snprintf(detail, sizeof detail, "%s (file %s, model %s)", name, e.format, lr_dtype_name(t->dtype));
      dtype_list[n_dtype++] = r.mismatched[r.n_mismatched] = dup_str(detail);
      if (!r.mismatched[r.n_mismatched++]) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
      continue;
    }
    /* The shape the file should have: t's, plus a trailing 2 for a real view. */
    int64_t want[LR_MAX_DIMS + 1];
    int nw = t->ndim;
    for (int d = 0; d < t->ndim; d++) want[d] = t->shape[d];
    if (pairs) want[nw++] = 2;
    bool same = e.ndim == nw;
    for (int d = 0; same && d < nw; d++) same = e.shape[d] == want[d];
    if (!same) {
      char a[160], b[160];
      state[i] = ENTRY_SHAPE;
      snprintf(detail, sizeof detail, "%s (file %s, model %s)", name, lr_shape_str(e.ndim, e.shape, a, sizeof a),
               lr_shape_str(nw, want, b, sizeof b));
      shape_list[n_shape++] = r.mismatched[r.n_mismatched] = dup_str(detail);
      if (!r.mismatched[r.n_mismatched++]) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
      continue;
    }
    state[i] = ENTRY_OK;
  }
  /* 2. File names the module lacks. */
  for (int i = 0; i < l.n; i++) sorted[i] = l.items[i].name;
  qsort(sorted, (size_t)l.n, sizeof *sorted, cmp_str);
  for (int i = 0; i < nf && s == LR_OK; i++) {
    const char *name = lr_safetensors_name(f, i);
    if (l.n && bsearch(&name, sorted, (size_t)l.n, sizeof *sorted, cmp_str)) continue;
    if (!(r.unexpected[r.n_unexpected++] = dup_str(name))) s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
  }
  if (s != LR_OK) goto done;

  /* Names sorted byte-wise in every list (the file's own order), so messages are stable. */
  qsort(r.missing, (size_t)r.n_missing, sizeof *r.missing, cmp_str);
  qsort(shape_list, (size_t)n_shape, sizeof *shape_list, cmp_str);
  qsort(dtype_list, (size_t)n_dtype, sizeof *dtype_list, cmp_str);
  qsort(r.mismatched, (size_t)r.n_mismatched, sizeof *r.mismatched, cmp_str);

  /* 3. Strict: every problem in one message. */
  if (!(flags & LR_LOAD_PARTIAL) && (r.n_missing || r.n_unexpected || r.n_mismatched)) {
    strbuf b = {0};
    sb_printf(&b, "%s(%s): ", fn, path);
    list_section(&b, "missing", r.missing, r.n_missing);
    list_section(&b, "unexpected", r.unexpected, r.n_unexpected);
    list_section(&b, "shape mismatch", shape_list, n_shape);
    list_section(&b, "dtype mismatch", dtype_list, n_dtype);
    lr_status code = (r.n_missing || r.n_unexpected) ? LR_ERR_ARG : n_shape ? LR_ERR_SHAPE : LR_ERR_DTYPE;
    if (b.oom) s = lr_fail(code, "%s(%s): %d missing, %d unexpected, %d mismatched tensors", fn, path, r.n_missing,
                           r.n_unexpected, r.n_mismatched);
    else if (b.n > 1000) s = lr_fail(code, "%.960s ... (%d missing, %d unexpected, %d mismatched)", b.p, r.n_missing,
                                     r.n_unexpected, r.n_mismatched);
    else s = lr_fail(code, "%s", b.p);
    free(b.p);
    goto done;
  }

  /* 4. Stage every matching entry on the host, then 5. commit. */
  for (int i = 0; i < l.n && s == LR_OK; i++) {
    if (state[i] != ENTRY_OK) continue;
    const lr_tensor *t = l.items[i].param->t;
    s = lr_tensor_new(t->dtype, LR_DEVICE_CPU, t->ndim, t->shape, &stage[i]);
    if (s == LR_OK) s = lr_safetensors_read_into(f, l.items[i].name, stage[i]);
  }
  for (int i = 0; i < l.n && s == LR_OK; i++) {
    if (!stage[i]) continue;
    lr_tensor *t = l.items[i].param->t;
    s = lr_tensor_copy_(t, stage[i]);
    if (s != LR_OK) s = lr_fail(s, "%s(%s): copying '%s' into the module: %s", fn, path, l.items[i].name, lr_last_error());
    else r.n_loaded++;
  }

done:
  if (report) *report = r;
  else lr_load_report_free(&r);
  if (stage)
    for (int i = 0; i < l.n; i++) lr_tensor_free(stage[i]);
  free(stage);
  free(state);
  free(sorted);
  free(dtype_list);
  free(shape_list);
  lr_param_list_free(&l);
  return s;
}

lr_status lr_module_load(lr_module *m, const char *path, unsigned flags, lr_load_report *report) {
  if (!m || !path) return lr_fail(LR_ERR_ARG, "lr_module_load: NULL argument");
  lr_safetensors_file *f;
  LR_TRY(lr_safetensors_open(path, &f));
  lr_status s = lr_module_load_file(m, f, flags, report);
  lr_safetensors_close(f);
  return s;
}
