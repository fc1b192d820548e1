/* safetensors read and write; the format and the checks are described in safetensors.h.
 *
 * Reading: open reads the 8-byte length and the JSON header only, parses it with cJSON (the
 * parsed tree stays alive with the file: names, dtype strings and metadata point into it), and
 * validates every entry and the layout of the data section before anything is returned. Tensor
 * bytes are read on demand with pread(2) from the still-open descriptor, straight into the
 * destination when it is a contiguous CPU tensor. Every offset is checked against the file size
 * at open, and a file that shrinks afterwards shows up as a short read (LR_ERR_IO), so no read
 * goes out of bounds.
 *
 * Numbers: cJSON keeps numbers as doubles, so shape entries and offsets are accepted only when
 * they are non-negative integers below 2^53 (exact in a double); sizes are multiplied with
 * overflow checks. Writing formats numbers ourselves ("%" PRIu64), never in exponent form, since
 * the reference parser (serde_json into u64) rejects "1e+15".
 *
 * Writing follows the reference implementation: "__metadata__" first, then the tensors sorted
 * by name (byte-wise), their data in that order, header padded with spaces so that its length
 * is a multiple of 8.
 */
#include "tensor/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

/* The reference implementation refuses headers above 100 MB; so do we. */
#define ST_MAX_HEADER 100000000ull
/* Largest integer a double holds exactly. */
#define ST_MAX_INT 9007199254740992.0

/* ---- dtypes ---- */
typedef struct {
  const char *name;
  size_t size;
  lr_dtype dt; /* LR_DTYPE_COUNT: valid in the spec, no lrnnx dtype */
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, LR_DTYPE_F32},      {"F64", 8, LR_DTYPE_F64},      {"C64", 8, LR_DTYPE_C64},
    {"C128", 16, LR_DTYPE_C128},   {"I32", 4, LR_DTYPE_I32},      {"I64", 8, LR_DTYPE_I64},
    {"BOOL", 1, LR_DTYPE_BOOL},    {"F16", 2, LR_DTYPE_COUNT},    {"BF16", 2, LR_DTYPE_COUNT},
    {"U8", 1, LR_DTYPE_COUNT},     {"I8", 1, LR_DTYPE_COUNT},     {"I16", 2, LR_DTYPE_COUNT},
    {"U16", 2, LR_DTYPE_COUNT},    {"U32", 4, LR_DTYPE_COUNT},    {"U64", 8, LR_DTYPE_COUNT},
    {"F8_E4M3", 1, LR_DTYPE_COUNT}, {"F8_E5M2", 1, LR_DTYPE_COUNT},
};
#define ST_NDTYPES (sizeof st_dtypes / sizeof st_dtypes[0])

static const st_dtype *st_dtype_find(const char *s) {
  for (size_t i = 0; i < ST_NDTYPES; i++)
    if (strcmp(st_dtypes[i].name, s) == 0) return &st_dtypes[i];
  return NULL;
}

const char *lr_safetensors_dtype_name(lr_dtype d) {
  for (size_t i = 0; i < ST_NDTYPES; i++)
    if (st_dtypes[i].dt == d && d != LR_DTYPE_COUNT) return st_dtypes[i].name;
  return "?";
}

/* ---- the open file ---- */
typedef struct {
  const char *key, *value;
} st_kv;
static int cmp_kv(const void *a, const void *b) { return strcmp(((const st_kv *)a)->key, ((const st_kv *)b)->key); }

struct lr_safetensors_file {
  char *path;
  int fd;
  uint64_t data_start; /* 8 + header length */
  uint64_t data_len;
  cJSON *root;
  int n;
  lr_safetensors_info *e; /* sorted by name */
  int n_meta;
  st_kv *meta; /* sorted by key */
};

void lr_safetensors_close(lr_safetensors_file *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  cJSON_Delete(f->root);
  free(f->e);
  free(f->meta);
  free(f->path);
  free(f);
}

static int cmp_info_name(const void *a, const void *b) {
  return strcmp(((const lr_safetensors_info *)a)->name, ((const lr_safetensors_info *)b)->name);
}
static int cmp_info_ptr_offset(const void *a, const void *b) {
  const lr_safetensors_info *x = *(const lr_safetensors_info *const *)a, *y = *(const lr_safetensors_info *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  if (x->end != y->end) return x->end < y->end ? -1 : 1;
  return 0;
}

/* A non-negative integer below 2^53 from a cJSON number. */
static bool json_uint(const cJSON *j, uint64_t *v) {
  if (!cJSON_IsNumber(j)) return false;
  double d = j->valuedouble;
  if (!(d >= 0 && d < ST_MAX_INT) || d != (double)(uint64_t)d) return false;
  *v = (uint64_t)d;
  return true;
}

#define BAD(...) lr_fail(LR_ERR_IO, "lr_safetensors_open: " __VA_ARGS__)

/* Validates one tensor entry into *e. */
static lr_status parse_entry(const char *path, const cJSON *j, uint64_t data_len, lr_safetensors_info *e) {
  const char *name = j->string;
  if (!cJSON_IsObject(j)) return BAD("%s: entry \"%s\" is not an object", path, name);
  const cJSON *jd = cJSON_GetObjectItemCaseSensitive(j, "dtype");
  const cJSON *js = cJSON_GetObjectItemCaseSensitive(j, "shape");
  const cJSON *jo = cJSON_GetObjectItemCaseSensitive(j, "data_offsets");
  if (!jd) return BAD("%s: entry \"%s\" has no \"dtype\"", path, name);
  if (!js) return BAD("%s: entry \"%s\" has no \"shape\"", path, name);
  if (!jo) return BAD("%s: entry \"%s\" has no \"data_offsets\"", path, name);
  if (!cJSON_IsString(jd)) return BAD("%s: entry \"%s\": \"dtype\" is not a string", path, name);
  const st_dtype *dt = st_dtype_find(jd->valuestring);
  if (!dt) return BAD("%s: entry \"%s\": unknown dtype \"%.32s\"", path, name, jd->valuestring);
  if (!cJSON_IsArray(js)) return BAD("%s: entry \"%s\": \"shape\" is not an array", path, name);
  int ndim = cJSON_GetArraySize(js);
  if (ndim > LR_MAX_DIMS) return BAD("%s: entry \"%s\" has %d dims, lrnnx supports at most %d", path, name, ndim, LR_MAX_DIMS);
  memset(e, 0, sizeof *e);
  e->name = name;
  e->format = dt->name;
  e->dtype = dt->dt;
  e->ndim = ndim;
  uint64_t numel = 1;
  int i = 0;
  for (const cJSON *d = js->child; d; d = d->next, i++) {
    uint64_t v;
    if (!json_uint(d, &v)) {
      if (cJSON_IsNumber(d)) return BAD("%s: entry \"%s\": dim %d is %g, expected a non-negative integer", path, name, i, d->valuedouble);
      return BAD("%s: entry \"%s\": dim %d is not a number", path, name, i);
    }
    e->shape[i] = (int64_t)v;
    if (__builtin_mul_overflow(numel, v, &numel)) return BAD("%s: entry \"%s\": shape size overflows", path, name);
  }
  if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2)
    return BAD("%s: entry \"%s\": \"data_offsets\" is not an array of 2 numbers", path, name);
  if (!json_uint(jo->child, &e->begin) || !json_uint(jo->child->next, &e->end))
    return BAD("%s: entry \"%s\": \"data_offsets\" are not non-negative integers", path, name);
  if (e->end < e->begin)
    return BAD("%s: entry \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] end before they begin", path, name, e->begin, e->end);
  if (e->end > data_len)
    return BAD("%s: entry \"%s\": data_offsets [%" PRIu64 ", %" PRIu64 "] lie beyond the data section of %" PRIu64 " bytes",
               path, name, e->begin, e->end, data_len);
  uint64_t bytes;
  if (__builtin_mul_overflow(numel, (uint64_t)dt->size, &bytes) || bytes != e->end - e->begin) {
    char sb[128];
    return BAD("%s: entry \"%s\": shape %s of %s needs %" PRIu64 " bytes, data_offsets give %" PRIu64, path, name,
               lr_shape_str(e->ndim, e->shape, sb, sizeof sb), dt->name, numel * (uint64_t)dt->size, e->end - e->begin);
  }
  return LR_OK;
}

static lr_status parse_metadata(const char *path, const cJSON *j, lr_safetensors_file *f) {
  if (!cJSON_IsObject(j)) return BAD("%s: \"__metadata__\" is not an object", path);
  int n = cJSON_GetArraySize(j);
  f->meta = malloc(sizeof *f->meta * (size_t)(n ? n : 1));
  if (!f->meta) return lr_fail(LR_ERR_MEMORY, "lr_safetensors_open: %s: out of memory", path);
  for (const cJSON *c = j->child; c; c = c->next) {
    if (!cJSON_IsString(c)) return BAD("%s: metadata \"%s\" is not a string", path, c->string);
    f->meta[f->n_meta++] = (st_kv){c->string, c->valuestring};
  }
  qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, cmp_kv);
  for (int i = 1; i < f->n_meta; i++)
    if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0) return BAD("%s: metadata key \"%s\" appears twice", path, f->meta[i].key);
  return LR_OK;
}

/* Reads exactly n bytes at off; false on a short read or an error. */
static bool read_at(int fd, void *dst, uint64_t n, uint64_t off) {
  unsigned char *p = dst;
  while (n > 0) {
    size_t chunk = n > (1u << 30) ? (1u << 30) : (size_t)n;
    ssize_t r = pread(fd, p, chunk, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r;
    off += (uint64_t)r;
    n -= (uint64_t)r;
  }
  return true;
}

static lr_status open_impl(const char *path, lr_safetensors_file *f) {
  f->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (f->fd < 0) return BAD("cannot open %s: %s", path, strerror(errno));
  struct stat st;
  if (fstat(f->fd, &st) != 0) return BAD("cannot stat %s: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return BAD("%s is not a regular file", path);
  uint64_t size = (uint64_t)st.st_size;
  if (size < 8) return BAD("%s: file has %" PRIu64 " bytes, too short for the 8-byte header length", path, size);
  unsigned char lenb[8];
  if (!read_at(f->fd, lenb, 8, 0)) return BAD("%s: cannot read the header length", path);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | lenb[i];
  if (hlen > ST_MAX_HEADER)
    return BAD("%s: header length %" PRIu64 " is above the limit of %llu bytes", path, hlen, (unsigned long long)ST_MAX_HEADER);
  if (hlen > size - 8)
    return BAD("%s: header length %" PRIu64 " is larger than the %" PRIu64 " bytes that follow it (truncated file?)", path, hlen,
               size - 8);
  if (hlen < 2) return BAD("%s: header length %" PRIu64 " is too short for a JSON object", path, hlen);
  f->data_start = 8 + hlen;
  f->data_len = size - f->data_start;

  char *hdr = malloc((size_t)hlen + 1);
  if (!hdr) return lr_fail(LR_ERR_MEMORY, "lr_safetensors_open: %s: cannot allocate %" PRIu64 " bytes for the header", path, hlen);
  if (!read_at(f->fd, hdr, hlen, 8)) {
    free(hdr);
    return BAD("%s: cannot read the %" PRIu64 "-byte header", path, hlen);
  }
  hdr[hlen] = 0;
  const char *end = NULL;
  f->root = cJSON_ParseWithLengthOpts(hdr, (size_t)hlen, &end, 0);
  if (!f->root) {
    size_t at = end && end >= hdr ? (size_t)(end - hdr) : 0;
    free(hdr);
    return BAD("%s: header is not valid JSON (error near byte %zu of %" PRIu64 ")", path, at, hlen);
  }
  size_t used = (size_t)(end - hdr);
  for (size_t i = used; i < hlen; i++)
    if (hdr[i] != ' ' && hdr[i] != '\t' && hdr[i] != '\n' && hdr[i] != '\r') {
      free(hdr);
      return BAD("%s: header has bytes after its JSON value (at byte %zu)", path, i);
    }
  free(hdr);
  if (!cJSON_IsObject(f->root)) return BAD("%s: header is not a JSON object", path);

  int total = cJSON_GetArraySize(f->root), n_meta_entries = 0;
  f->e = malloc(sizeof *f->e * (size_t)(total ? total : 1));
  if (!f->e) return lr_fail(LR_ERR_MEMORY, "lr_safetensors_open: %s: out of memory", path);
  for (const cJSON *c = f->root->child; c; c = c->next) {
    if (strcmp(c->string, "__metadata__") == 0) {
      if (n_meta_entries++) return BAD("%s: \"__metadata__\" appears twice", path);
      LR_TRY(parse_metadata(path, c, f));
      continue;
    }
    LR_TRY(parse_entry(path, c, f->data_len, &f->e[f->n]));
    f->n++;
  }
  qsort(f->e, (size_t)f->n, sizeof *f->e, cmp_info_name);
  for (int i = 1; i < f->n; i++)
    if (strcmp(f->e[i - 1].name, f->e[i].name) == 0) return BAD("%s: tensor \"%s\" appears twice", path, f->e[i].name);

  /* The data section must be covered exactly: sort by offset and walk. */
  const lr_safetensors_info **by_off = malloc(sizeof *by_off * (size_t)(f->n ? f->n : 1));
  if (!by_off) return lr_fail(LR_ERR_MEMORY, "lr_safetensors_open: %s: out of memory", path);
  for (int i = 0; i < f->n; i++) by_off[i] = &f->e[i];
  qsort(by_off, (size_t)f->n, sizeof *by_off, cmp_info_ptr_offset);
  uint64_t at = 0;
  const lr_safetensors_info *prev = NULL;
  lr_status s = LR_OK;
  for (int i = 0; i < f->n && s == LR_OK; i++) {
    const lr_safetensors_info *e = by_off[i];
    if (e->begin < at)
      s = BAD("%s: tensors \"%s\" [%" PRIu64 ", %" PRIu64 ") and \"%s\" [%" PRIu64 ", %" PRIu64 ") overlap", path, prev->name,
              prev->begin, prev->end, e->name, e->begin, e->end);
    else if (e->begin > at)
      s = BAD("%s: bytes [%" PRIu64 ", %" PRIu64 ") of the data section belong to no tensor (gap before \"%s\")", path, at,
              e->begin, e->name);
    if (e->end > at) { /* the entry reaching furthest so far is the one a later overlap hits */
      at = e->end;
      prev = e;
    }
  }
  free(by_off);
  if (s != LR_OK) return s;
  if (at != f->data_len)
    return BAD("%s: the data section has %" PRIu64 " bytes but the tensors cover %" PRIu64, path, f->data_len, at);
  return LR_OK;
}

lr_status lr_safetensors_open(const char *path, lr_safetensors_file **out) {
  if (!path) return lr_fail(LR_ERR_ARG, "lr_safetensors_open: path is NULL");
  if (!out) return lr_fail(LR_ERR_ARG, "lr_safetensors_open: out is NULL");
  lr_safetensors_file *f = calloc(1, sizeof *f);
  if (!f) return lr_fail(LR_ERR_MEMORY, "lr_safetensors_open: out of memory");
  f->fd = -1;
  f->path = strdup(path);
  lr_status s = f->path ? open_impl(path, f) : lr_fail(LR_ERR_MEMORY, "lr_safetensors_open: out of memory");
  if (s != LR_OK) {
    lr_safetensors_close(f);
    return s;
  }
  *out = f;
  return LR_OK;
}
#undef BAD

/* ---- queries ---- */
const char *lr_safetensors_path(const lr_safetensors_file *f) { return f ? f->path : NULL; }
int lr_safetensors_count(const lr_safetensors_file *f) { return f ? f->n : 0; }
const char *lr_safetensors_name(const lr_safetensors_file *f, int i) {
  return f && i >= 0 && i < f->n ? f->e[i].name : NULL;
}
const lr_safetensors_info *lr_safetensors_entry(const lr_safetensors_file *f, int i) {
  return f && i >= 0 && i < f->n ? &f->e[i] : NULL;
}

static const lr_safetensors_info *find(const lr_safetensors_file *f, const char *name) {
  lr_safetensors_info key;
  key.name = name;
  return f->n ? bsearch(&key, f->e, (size_t)f->n, sizeof *f->e, cmp_info_name) : NULL;
}

/* The entry called name, or an LR_ERR_ARG naming fn. */
static lr_status lookup(const char *fn, const lr_safetensors_file *f, const char *name, const lr_safetensors_info **e) {
  if (!f) return lr_fail(LR_ERR_ARG, "%s: file is NULL", fn);
  if (!name) return lr_fail(LR_ERR_ARG, "%s: name is NULL", fn);
  *e = find(f, name);
  if (!*e) return lr_fail(LR_ERR_ARG, "%s: %s has no tensor \"%s\"", fn, f->path, name);
  return LR_OK;
}

lr_status lr_safetensors_info_of(const lr_safetensors_file *f, const char *name, lr_safetensors_info *out) {
  const lr_safetensors_info *e;
  LR_TRY(lookup("lr_safetensors_info_of", f, name, &e));
  if (!out) return lr_fail(LR_ERR_ARG, "lr_safetensors_info_of: out is NULL");
  *out = *e;
  return LR_OK;
}

int lr_safetensors_metadata_count(const lr_safetensors_file *f) { return f ? f->n_meta : 0; }
lr_status lr_safetensors_metadata_at(const lr_safetensors_file *f, int i, const char **key, const char **value) {
  if (!f || !key || !value) return lr_fail(LR_ERR_ARG, "lr_safetensors_metadata_at: NULL argument");
  if (i < 0 || i >= f->n_meta)
    return lr_fail(LR_ERR_ARG, "lr_safetensors_metadata_at: index %d out of range [0, %d)", i, f->n_meta);
  *key = f->meta[i].key;
  *value = f->meta[i].value;
  return LR_OK;
}
const char *lr_safetensors_metadata(const lr_safetensors_file *f, const char *key) {
  if (!f || !key) return NULL;
  st_kv k = {key, NULL};
  const st_kv *hit = f->n_meta ? bsearch(&k, f->meta, (size_t)f->n_meta, sizeof *f->meta, cmp_kv) : NULL;
  return hit ? hit->value : NULL;
}

/* ---- reading tensors ---- */
static lr_status read_entry(const char *fn, const lr_safetensors_file *f, const lr_safetensors_info *e, void *dst) {
  uint64_t n = e->end - e->begin;
  if (!read_at(f->fd, dst, n, f->data_start + e->begin))
    return lr_fail(LR_ERR_IO, "%s: %s: cannot read the %" PRIu64 " bytes of \"%s\" (file changed or truncated since open?)", fn,
                   f->path, n, e->name);
  if (e->dtype == LR_DTYPE_BOOL) { /* any non-zero byte is true; keep bools 0 or 1 */
    unsigned char *p = dst;
    for (uint64_t i = 0; i < n; i++) p[i] = p[i] != 0;
  }
  return LR_OK;
}

static lr_status check_supported(const char *fn, const lr_safetensors_file *f, const lr_safetensors_info *e) {
  if (e->dtype == LR_DTYPE_COUNT)
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: %s: tensor \"%s\" has dtype %s, which lrnnx does not support", fn, f->path, e->name,
                   e->format);
  return LR_OK;
}

lr_status lr_safetensors_get(const lr_safetensors_file *f, const char *name, lr_tensor **out) {
  static const char fn[] = "lr_safetensors_get";
  const lr_safetensors_info *e;
  LR_TRY(lookup(fn, f, name, &e));
  if (!out) return lr_fail(LR_ERR_ARG, "%s: out is NULL", fn);
  LR_TRY(check_supported(fn, f, e));
  lr_tensor *t;
  LR_TRY(lr_tensor_new(e->dtype, LR_DEVICE_CPU, e->ndim, e->shape, &t));
  lr_status s = read_entry(fn, f, e, t->data);
  if (s != LR_OK) {
    lr_tensor_free(t);
    return s;
  }
  *out = t;
  return LR_OK;
}

lr_status lr_safetensors_read_into(const lr_safetensors_file *f, const char *name, lr_tensor *dst) {
  static const char fn[] = "lr_safetensors_read_into";
  const lr_safetensors_info *e;
  LR_TRY(lookup(fn, f, name, &e));
  if (!dst) return lr_fail(LR_ERR_ARG, "%s: dst is NULL", fn);
  LR_TRY(check_supported(fn, f, e));
  char sf[128], sd[128];
  lr_shape_str(e->ndim, e->shape, sf, sizeof sf);
  lr_shape_str(dst->ndim, dst->shape, sd, sizeof sd);
  /* A complex dst may take a real entry with a trailing 2 (how lrnnx stores complex params). */
  bool as_pairs = lr_dtype_is_complex(dst->dtype) && e->dtype == lr_dtype_real(dst->dtype);
  if (e->dtype != dst->dtype && !as_pairs)
    return lr_fail(LR_ERR_DTYPE, "%s: %s: tensor \"%s\" is %s, dst is %s", fn, f->path, name, lr_dtype_name(e->dtype),
                   lr_dtype_name(dst->dtype));
  bool shape_ok = e->ndim == dst->ndim + (as_pairs ? 1 : 0) && (!as_pairs || e->shape[e->ndim - 1] == 2);
  for (int i = 0; shape_ok && i < dst->ndim; i++) shape_ok = e->shape[i] == dst->shape[i];
  if (!shape_ok)
    return lr_fail(LR_ERR_SHAPE, "%s: %s: tensor \"%s\" has shape %s, dst has %s%s", fn, f->path, name, sf, sd,
                   as_pairs ? " (a complex dst needs the real entry's shape to be dst's plus a trailing 2)" : "");
  uint64_t n = e->end - e->begin;
  if (n == 0) return LR_OK;
  if (dst->device == LR_DEVICE_CPU && lr_is_contiguous(dst)) return read_entry(fn, f, e, dst->data);
  void *buf = malloc(n ? (size_t)n : 1);
  if (!buf) return lr_fail(LR_ERR_MEMORY, "%s: cannot allocate %" PRIu64 " bytes", fn, n);
  lr_status s = read_entry(fn, f, e, buf);
  if (s == LR_OK) s = lr_tensor_copy_from_host(dst, buf, (size_t)n);
  free(buf);
  return s;
}

/* ---- writing ---- */
typedef struct {
  char *p;
  size_t n, cap;
  bool oom;
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t n) {
  if (b->oom) return;
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) {
      b->oom = true;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
}
static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }
static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  char tmp[64];
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (k > 0) sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}
/* A JSON string literal; bytes >= 0x80 pass through (names are expected to be UTF-8). */
static void sb_json_str(sbuf *b, const char *s) {
  sb_put(b, "\"", 1);
  for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
    if (*c == '"') sb_put(b, "\\\"", 2);
    else if (*c == '\\') sb_put(b, "\\\\", 2);
    else if (*c < 0x20) sb_printf(b, "\\u%04x", *c);
    else sb_put(b, (const char *)c, 1);
  }
  sb_put(b, "\"", 1);
}

static bool write_all(FILE *fp, const void *p, size_t n) { return n == 0 || fwrite(p, 1, n, fp) == n; }

typedef struct {
  const char *name;
  const lr_tensor *t;
} named;
static int cmp_named(const void *a, const void *b) { return strcmp(((const named *)a)->name, ((const named *)b)->name); }

static lr_status write_file(const char *path, const char *tmp, int n, const named *v, const sbuf *hdr) {
  static const char fn[] = "lr_safetensors_save";
  FILE *fp = fopen(tmp, "wb");
  if (!fp) return lr_fail(LR_ERR_IO, "%s: cannot create %s: %s", fn, tmp, strerror(errno));
  unsigned char lenb[8];
  uint64_t hlen = hdr->n;
  for (int i = 0; i < 8; i++) lenb[i] = (unsigned char)(hlen >> (8 * i));
  bool ok = write_all(fp, lenb, 8) && write_all(fp, hdr->p, hdr->n);
  void *buf = NULL;
  size_t buf_cap = 0;
  lr_status s = LR_OK;
  for (int i = 0; ok && s == LR_OK && i < n; i++) {
    const lr_tensor *t = v[i].t;
    size_t bytes = lr_nbytes(t);
    if (bytes == 0) continue;
    if (t->device == LR_DEVICE_CPU && lr_is_contiguous(t)) {
      ok = write_all(fp, t->data, bytes);
      continue;
    }
    if (bytes > buf_cap) {
      void *p = realloc(buf, bytes);
      if (!p) {
        s = lr_fail(LR_ERR_MEMORY, "%s: cannot allocate %zu bytes for \"%s\"", fn, bytes, v[i].name);
        break;
      }
      buf = p;
      buf_cap = bytes;
    }
    s = lr_tensor_copy_to_host(t, buf, bytes);
    if (s == LR_OK) ok = write_all(fp, buf, bytes);
  }
  free(buf);
  int err = ok ? 0 : errno;
  if (fclose(fp) != 0 && ok) {
    ok = false;
    err = errno;
  }
  if (s == LR_OK && !ok) s = lr_fail(LR_ERR_IO, "%s: cannot write %s: %s", fn, tmp, strerror(err));
  if (s == LR_OK && rename(tmp, path) != 0) s = lr_fail(LR_ERR_IO, "%s: cannot rename %s to %s: %s", fn, tmp, path, strerror(errno));
  if (s != LR_OK) unlink(tmp);
  return s;
}

lr_status lr_safetensors_save(const char *path, int n, const char *const *names, const lr_tensor *const *tensors,
                              const char *const *metadata) {
  static const char fn[] = "lr_safetensors_save";
  if (!path) return lr_fail(LR_ERR_ARG, "%s: path is NULL", fn);
  if (n < 0) return lr_fail(LR_ERR_ARG, "%s: %s: n is %d", fn, path, n);
  if (n > 0 && (!names || !tensors)) return lr_fail(LR_ERR_ARG, "%s: %s: names or tensors is NULL", fn, path);
  int n_meta = 0;
  if (metadata) {
    while (metadata[2 * n_meta]) {
      if (!metadata[2 * n_meta + 1])
        return lr_fail(LR_ERR_ARG, "%s: %s: metadata key \"%s\" has no value", fn, path, metadata[2 * n_meta]);
      n_meta++;
    }
  }
  for (int i = 0; i < n; i++) {
    if (!names[i]) return lr_fail(LR_ERR_ARG, "%s: %s: names[%d] is NULL", fn, path, i);
    if (!tensors[i]) return lr_fail(LR_ERR_ARG, "%s: %s: tensors[%d] (\"%s\") is NULL", fn, path, i, names[i]);
    if (strcmp(names[i], "__metadata__") == 0)
      return lr_fail(LR_ERR_ARG, "%s: %s: \"__metadata__\" is reserved, not a tensor name", fn, path);
    if ((unsigned)tensors[i]->dtype >= LR_DTYPE_COUNT)
      return lr_fail(LR_ERR_ARG, "%s: %s: tensor \"%s\" has unknown dtype %d", fn, path, names[i], (int)tensors[i]->dtype);
  }

  named *v = malloc(sizeof *v * (size_t)(n ? n : 1));
  st_kv *m = malloc(sizeof *m * (size_t)(n_meta ? n_meta : 1));
  char *tmp = malloc(strlen(path) + 5);
  sbuf hdr = {0};
  lr_status s = LR_OK;
  if (!v || !m || !tmp) {
    s = lr_fail(LR_ERR_MEMORY, "%s: out of memory", fn);
    goto done;
  }
  for (int i = 0; i < n; i++) v[i] = (named){names[i], tensors[i]};
  qsort(v, (size_t)n, sizeof *v, cmp_named);
  for (int i = 1; i < n; i++)
    if (strcmp(v[i - 1].name, v[i].name) == 0) {
      s = lr_fail(LR_ERR_ARG, "%s: %s: tensor name \"%s\" appears twice", fn, path, v[i].name);
      goto done;
    }
  for (int i = 0; i < n_meta; i++) m[i] = (st_kv){metadata[2 * i], metadata[2 * i + 1]};
  qsort(m, (size_t)n_meta, sizeof *m, cmp_kv);
  for (int i = 1; i < n_meta; i++)
    if (strcmp(m[i - 1].key, m[i].key) == 0) {
      s = lr_fail(LR_ERR_ARG, "%s: %s: metadata key \"%s\" appears twice", fn, path, m[i].key);
      goto done;
    }

  sb_str(&hdr, "{");
  if (n_meta) {
    sb_str(&hdr, "\"__metadata__\":{");
    for (int i = 0; i < n_meta; i++) {
      if (i) sb_str(&hdr, ",");
      sb_json_str(&hdr, m[i].key);
      sb_str(&hdr, ":");
      sb_json_str(&hdr, m[i].value);
    }
    sb_str(&hdr, "}");
  }
  uint64_t off = 0;
  for (int i = 0; i < n; i++) {
    const lr_tensor *t = v[i].t;
    if (i || n_meta) sb_str(&hdr, ",");
    sb_json_str(&hdr, v[i].name);
    sb_printf(&hdr, ":{\"dtype\":\"%s\",\"shape\":[", lr_safetensors_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++) sb_printf(&hdr, "%s%" PRId64, d ? "," : "", t->shape[d]);
    uint64_t bytes = lr_nbytes(t);
    sb_printf(&hdr, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", off, off + bytes);
    off += bytes;
  }
  sb_str(&hdr, "}");
  while (hdr.n % 8) sb_str(&hdr, " ");
  if (hdr.oom) {
    s = lr_fail(LR_ERR_MEMORY, "%s: out of memory building the header", fn);
    goto done;
  }
  strcpy(tmp, path);
  strcat(tmp, ".tmp");
  s = write_file(path, tmp, n, v, &hdr);
done:
  free(hdr.p);
  free(tmp);
  free(m);
  free(v);
  return s;
}
