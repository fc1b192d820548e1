/* safetensors: round trips for every dtype (0-dim and empty included), header layout, lookup by
 * name, read_into (complex from real pairs), one test per malformed-file case, save errors, and
 * the lrnnx reference fixtures when /work/shared/fixtures/lrnnx exists.
 *
 * Malformed files are written byte by byte under /tmp (Bazel gives each test its own /tmp; the
 * pid in the name keeps Criterion's parallel processes apart). Each must fail with LR_ERR_IO, a
 * message naming lr_safetensors_open, the file and the problem, and leave the out-parameter alone.
 */
#include <criterion/criterion.h>
#include <glob.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tensor/safetensors.h"

static const char *tmp_path(const char *tag) {
  static char buf[256];
  snprintf(buf, sizeof buf, "/tmp/lr_st_%s_%d.safetensors", tag, (int)getpid());
  return buf;
}

static void write_bytes(const char *path, const void *p, size_t n) {
  FILE *fp = fopen(path, "wb");
  cr_assert_not_null(fp, "cannot create %s", path);
  cr_assert_eq(fwrite(p, 1, n, fp), n);
  fclose(fp);
}

/* A file with header json (its length as given, no padding) followed by data_len data bytes. */
static void write_st(const char *path, const char *json, size_t data_len) {
  size_t h = strlen(json);
  unsigned char *b = calloc(1, 8 + h + data_len + 1);
  for (int i = 0; i < 8; i++) b[i] = (unsigned char)((uint64_t)h >> (8 * i));
  memcpy(b + 8, json, h);
  for (size_t i = 0; i < data_len; i++) b[8 + h + i] = (unsigned char)i;
  write_bytes(path, b, 8 + h + data_len);
  free(b);
}

/* open must fail with LR_ERR_IO naming the function, the file and `problem`. */
static void expect_bad_file(const char *path, const char *problem) {
  lr_safetensors_file *f = (lr_safetensors_file *)(uintptr_t)0x1;
  lr_status s = lr_safetensors_open(path, &f);
  const char *m = lr_last_error();
  cr_assert_eq(s, LR_ERR_IO, "status %s for %s: %s", lr_status_name(s), path, m);
  cr_assert_eq(f, (lr_safetensors_file *)(uintptr_t)0x1, "out-parameter was written");
  cr_assert(strstr(m, "lr_safetensors_open") != NULL, "%s", m);
  cr_assert(strstr(m, path) != NULL, "message does not name the file: %s", m);
  cr_assert(strstr(m, problem) != NULL, "message lacks \"%s\": %s", problem, m);
}

static void expect_bad(const char *tag, const char *json, size_t data_len, const char *problem) {
  const char *p = tmp_path(tag);
  write_st(p, json, data_len);
  expect_bad_file(p, problem);
  unlink(p);
}

/* ---- round trips ---- */

/* A persistent tensor of dtype dt with distinct values in every element. */
static lr_tensor *make(lr_dtype dt, int ndim, const int64_t *shape) {
  lr_tensor *t;
  cr_assert_eq(lr_tensor_new(dt, LR_DEVICE_CPU, ndim, shape, &t), LR_OK);
  int64_t n = lr_numel(t);
  for (int64_t i = 0; i < n; i++) {
    double v = dt == LR_DTYPE_BOOL ? (double)(i % 3 == 0) : (double)i * 1.25 - 3.0;
    if (dt == LR_DTYPE_I32 || dt == LR_DTYPE_I64) v = (double)(i * 7 - 11);
    lr_tensor_set(t, i, v, lr_dtype_is_complex(dt) ? -0.5 * (double)i : 0.0);
  }
  return t;
}

static void assert_same(const lr_tensor *a, const lr_tensor *b, const char *name) {
  cr_assert_eq(a->dtype, b->dtype, "%s: dtype", name);
  cr_assert_eq(a->ndim, b->ndim, "%s: ndim", name);
  for (int i = 0; i < a->ndim; i++) cr_assert_eq(a->shape[i], b->shape[i], "%s: dim %d", name, i);
  size_t n = lr_nbytes(a);
  void *x = malloc(n + 1), *y = malloc(n + 1);
  cr_assert_eq(lr_tensor_copy_to_host(a, x, n), LR_OK);
  cr_assert_eq(lr_tensor_copy_to_host(b, y, n), LR_OK);
  cr_assert_eq(memcmp(x, y, n), 0, "%s: bytes differ", name);
  free(x);
  free(y);
}

Test(safetensors, round_trip_every_dtype) {
  enum { NT = LR_DTYPE_COUNT * 3 };
  lr_tensor *t[NT];
  char names[NT][32];
  const char *np[NT];
  int k = 0;
  for (int d = 0; d < LR_DTYPE_COUNT; d++) {
    lr_dtype dt = (lr_dtype)d;
    snprintf(names[k], 32, "%s.matrix", lr_dtype_name(dt));
    t[k++] = make(dt, LR_SHAPE(3, 5));
    snprintf(names[k], 32, "%s.scalar", lr_dtype_name(dt));
    t[k++] = make(dt, 0, NULL);
    snprintf(names[k], 32, "%s.empty", lr_dtype_name(dt));
    t[k++] = make(dt, LR_SHAPE(2, 0, 3));
  }
  for (int i = 0; i < NT; i++) np[i] = names[i];
  const char *path = tmp_path("rt");
  cr_assert_eq(lr_safetensors_save(path, NT, np, (const lr_tensor *const *)t, (const char *[]){"format", "lrnnx", NULL}),
               LR_OK, "%s", lr_last_error());

  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_count(f), NT);
  cr_assert_str_eq(lr_safetensors_metadata(f, "format"), "lrnnx");
  cr_assert_eq(lr_safetensors_metadata_count(f), 1);
  for (int i = 0; i < NT; i++) {
    lr_safetensors_info info;
    cr_assert_eq(lr_safetensors_info_of(f, names[i], &info), LR_OK);
    cr_assert_eq(info.dtype, t[i]->dtype);
    cr_assert_str_eq(info.format, lr_safetensors_dtype_name(t[i]->dtype));
    lr_tensor *back = NULL;
    cr_assert_eq(lr_safetensors_get(f, names[i], &back), LR_OK, "%s", lr_last_error());
    cr_assert(back->flags & LR_TF_HEAP, "get returns a persistent tensor");
    assert_same(t[i], back, names[i]);
    lr_tensor_free(back);
    lr_tensor_free(t[i]);
  }
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, round_trip_strided_source) {
  /* A transposed view is written in logical row-major order. */
  lr_tensor *a, *at;
  cr_assert_eq(lr_from_host(LR_DTYPE_F64, LR_SHAPE(2, 3), (double[]){1, 2, 3, 4, 5, 6}, &a), LR_OK);
  cr_assert_eq(lr_tensor_transpose(a, 0, 1, &at), LR_OK);
  const char *path = tmp_path("strided");
  cr_assert_eq(lr_safetensors_save(path, 1, (const char *[]){"w"}, (const lr_tensor *[]){at}, NULL), LR_OK);
  lr_safetensors_file *f;
  lr_tensor *w;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_metadata_count(f), 0);
  cr_assert_eq(lr_safetensors_get(f, "w", &w), LR_OK);
  double want[6] = {1, 4, 2, 5, 3, 6};
  cr_assert_eq(w->ndim, 2);
  cr_assert_eq(w->shape[0], 3);
  cr_assert_arr_eq(w->data, want, sizeof want);
  lr_tensor_free(w);
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, empty_file_round_trip) {
  const char *path = tmp_path("none");
  cr_assert_eq(lr_safetensors_save(path, 0, NULL, NULL, NULL), LR_OK);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_count(f), 0);
  cr_assert_null(lr_safetensors_name(f, 0));
  lr_safetensors_close(f);
  unlink(path);
}

static char *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  cr_assert_not_null(fp);
  fseek(fp, 0, SEEK_END);
  *n = (size_t)ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *b = malloc(*n + 1);
  cr_assert_eq(fread(b, 1, *n, fp), *n);
  b[*n] = 0;
  fclose(fp);
  return b;
}

Test(safetensors, header_sorted_and_padded) {
  lr_tensor *a, *b, *c;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2), &a), LR_OK);
  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(1, 3), &b), LR_OK);
  cr_assert_eq(lr_zeros(LR_DTYPE_I32, LR_SHAPE(5), &c), LR_OK);
  const char *path = tmp_path("sorted");
  cr_assert_eq(lr_safetensors_save(path, 3, (const char *[]){"zeta", "alpha", "Mid\"q"}, (const lr_tensor *[]){a, b, c},
                                   (const char *[]){"z", "1", "a", "2", NULL}),
               LR_OK, "%s", lr_last_error());
  size_t n;
  char *raw = slurp(path, &n);
  uint64_t h = 0;
  for (int i = 7; i >= 0; i--) h = h << 8 | (unsigned char)raw[i];
  cr_assert_eq(h % 8, 0, "header length %llu is not a multiple of 8", (unsigned long long)h);
  cr_assert_eq(n, 8 + h + 8 + 24 + 20);
  char *hdr = raw + 8;
  hdr[h] = 0;
  size_t json_len = strlen(hdr);
  while (json_len > 0 && hdr[json_len - 1] == ' ') json_len--;
  cr_assert(json_len + 8 > h, "padding longer than 7 bytes");
  cr_assert_eq(hdr[json_len - 1], '}');
  /* Exact header: metadata first (keys sorted), tensors sorted byte-wise ("M" < "a" < "z"),
   * offsets in that order, name escaped. */
  const char *want =
      "{\"__metadata__\":{\"a\":\"2\",\"z\":\"1\"},"
      "\"Mid\\\"q\":{\"dtype\":\"I32\",\"shape\":[5],\"data_offsets\":[0,20]},"
      "\"alpha\":{\"dtype\":\"F64\",\"shape\":[1,3],\"data_offsets\":[20,44]},"
      "\"zeta\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[44,52]}}";
  cr_assert_eq(json_len, strlen(want));
  cr_assert_eq(strncmp(hdr, want, json_len), 0, "header is\n%s", hdr);
  free(raw);

  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  cr_assert_str_eq(lr_safetensors_name(f, 0), "Mid\"q");
  cr_assert_str_eq(lr_safetensors_name(f, 1), "alpha");
  cr_assert_str_eq(lr_safetensors_name(f, 2), "zeta");
  const char *k, *v;
  cr_assert_eq(lr_safetensors_metadata_at(f, 1, &k, &v), LR_OK);
  cr_assert_str_eq(k, "z");
  cr_assert_str_eq(v, "1");
  cr_assert_null(lr_safetensors_metadata(f, "nope"));
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, load_by_name_and_missing_name) {
  lr_tensor *a, *b;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(3), (float[]){1, 2, 3}, &a), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_I64, LR_SHAPE(2), (int64_t[]){-7, 9}, &b), LR_OK);
  const char *path = tmp_path("byname");
  cr_assert_eq(lr_safetensors_save(path, 2, (const char *[]){"layer.w", "ids"}, (const lr_tensor *[]){a, b}, NULL), LR_OK);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK);
  lr_tensor *w, *ids, *none = NULL;
  cr_assert_eq(lr_safetensors_get(f, "layer.w", &w), LR_OK);
  cr_assert_arr_eq(w->data, ((float[]){1, 2, 3}), 3 * sizeof(float));
  cr_assert_eq(lr_safetensors_get(f, "ids", &ids), LR_OK);
  cr_assert_arr_eq(ids->data, ((int64_t[]){-7, 9}), 2 * sizeof(int64_t));

  cr_assert_eq(lr_safetensors_get(f, "layer.b", &none), LR_ERR_ARG);
  cr_assert_null(none);
  cr_assert(strstr(lr_last_error(), "lr_safetensors_get") && strstr(lr_last_error(), "\"layer.b\"") &&
                strstr(lr_last_error(), path),
            "%s", lr_last_error());
  lr_safetensors_info info;
  cr_assert_eq(lr_safetensors_info_of(f, "layer", &info), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_get(f, NULL, &none), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_get(NULL, "ids", &none), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_get(f, "ids", NULL), LR_ERR_ARG);
  lr_tensor_free(w);
  lr_tensor_free(ids);
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, read_into) {
  /* lrnnx stores a complex (2,) parameter as F32 (2, 2): re, im pairs. */
  lr_tensor *pairs;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 2), (float[]){1, -1, 2, 0.5f}, &pairs), LR_OK);
  const char *path = tmp_path("into");
  cr_assert_eq(lr_safetensors_save(path, 1, (const char *[]){"lam"}, (const lr_tensor *[]){pairs}, NULL), LR_OK);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK);

  lr_tensor *z, *r, *r_t, *bad;
  cr_assert_eq(lr_zeros(LR_DTYPE_C64, LR_SHAPE(2), &z), LR_OK);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", z), LR_OK, "%s", lr_last_error());
  double re, im;
  lr_tensor_get_c(z, 1, &re, &im);
  cr_assert(re == 2.0 && im == 0.5, "z[1] = %g%+gi", re, im);

  /* A strided destination: the transposed view of a (2, 2) buffer. */
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 2), &r), LR_OK);
  cr_assert_eq(lr_tensor_transpose(r, 0, 1, &r_t), LR_OK);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", r_t), LR_OK, "%s", lr_last_error());
  cr_assert_arr_eq(r->data, ((float[]){1, 2, -1, 0.5f}), 4 * sizeof(float));

  cr_assert_eq(lr_zeros(LR_DTYPE_F64, LR_SHAPE(2, 2), &bad), LR_OK);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", bad), LR_ERR_DTYPE);
  cr_assert(strstr(lr_last_error(), "f32") && strstr(lr_last_error(), "f64"), "%s", lr_last_error());
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(4), &bad), LR_OK);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", bad), LR_ERR_SHAPE);
  cr_assert(strstr(lr_last_error(), "(2, 2)") && strstr(lr_last_error(), "(4,)"), "%s", lr_last_error());
  cr_assert_eq(lr_zeros(LR_DTYPE_C64, LR_SHAPE(4), &bad), LR_OK);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", bad), LR_ERR_SHAPE);
  cr_assert_eq(lr_zeros(LR_DTYPE_C128, LR_SHAPE(2), &bad), LR_OK);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", bad), LR_ERR_DTYPE);
  cr_assert_eq(lr_safetensors_read_into(f, "nope", z), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_read_into(f, "lam", NULL), LR_ERR_ARG);
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, unsupported_spec_dtype) {
  /* F16 is a valid safetensors dtype that lrnnx has no tensor type for: listed, not loadable. */
  const char *path = tmp_path("f16");
  write_st(path, "{\"h\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,6]}}", 6);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  const lr_safetensors_info *e = lr_safetensors_entry(f, 0);
  cr_assert_str_eq(e->format, "F16");
  cr_assert_eq(e->dtype, LR_DTYPE_COUNT);
  lr_tensor *t = NULL;
  cr_assert_eq(lr_safetensors_get(f, "h", &t), LR_ERR_UNSUPPORTED);
  cr_assert(strstr(lr_last_error(), "F16"), "%s", lr_last_error());
  cr_assert_null(t);
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, bool_bytes_normalised) {
  const char *path = tmp_path("bool");
  write_st(path, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]}}", 3); /* bytes 0, 1, 2 */
  lr_safetensors_file *f;
  lr_tensor *m;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_get(f, "m", &m), LR_OK);
  cr_assert_arr_eq(m->data, ((unsigned char[]){0, 1, 1}), 3);
  lr_tensor_free(m);
  lr_safetensors_close(f);
  unlink(path);
}

Test(safetensors, padded_header_with_spaces_accepted) {
  const char *path = tmp_path("pad");
  write_st(path, "{\"x\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[0,4]}}     ", 4);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(path, &f), LR_OK, "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_entry(f, 0)->ndim, 0);
  lr_safetensors_close(f);
  unlink(path);
}

/* ---- malformed files: one test per case ---- */
#define ENTRY(dt, shape, b, e) "{\"dtype\":\"" dt "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

Test(safetensors_bad, missing_file) { expect_bad_file("/tmp/lr_st_does_not_exist.safetensors", "cannot open"); }

Test(safetensors_bad, not_a_regular_file) { expect_bad_file("/tmp", "not a regular file"); }

Test(safetensors_bad, shorter_than_length_field) {
  const char *p = tmp_path("short");
  write_bytes(p, "\x10\x00\x00", 3);
  expect_bad_file(p, "too short for the 8-byte header length");
  unlink(p);
}

Test(safetensors_bad, header_length_beyond_file) {
  const char *p = tmp_path("hlen");
  unsigned char b[8 + 4] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' '};
  write_bytes(p, b, sizeof b);
  expect_bad_file(p, "header length 100 is larger than the 4 bytes");
  unlink(p);
}

Test(safetensors_bad, header_length_absurd) {
  const char *p = tmp_path("absurd");
  unsigned char b[8 + 2] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, '{', '}'};
  write_bytes(p, b, sizeof b);
  expect_bad_file(p, "above the limit");
  unlink(p);
}

Test(safetensors_bad, header_length_zero) {
  const char *p = tmp_path("zero");
  unsigned char b[8] = {0};
  write_bytes(p, b, sizeof b);
  expect_bad_file(p, "too short for a JSON object");
  unlink(p);
}

Test(safetensors_bad, truncated_data) {
  expect_bad("trunc", "{\"x\":" ENTRY("F32", "[4]", 0, 16) "}", 10, "beyond the data section of 10 bytes");
}

Test(safetensors_bad, bad_json) {
  expect_bad("json", "{\"x\":{\"dtype\":\"F32\",", 0, "not valid JSON");
}

Test(safetensors_bad, bytes_after_json) {
  expect_bad("after", "{}  xx", 0, "bytes after its JSON value");
}

Test(safetensors_bad, header_not_an_object) { expect_bad("arr", "[1, 2]", 0, "not a JSON object"); }

Test(safetensors_bad, entry_not_an_object) { expect_bad("entry", "{\"x\": [0, 4]}", 4, "entry \"x\" is not an object"); }

Test(safetensors_bad, missing_dtype) {
  expect_bad("nodt", "{\"x\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "has no \"dtype\"");
}

Test(safetensors_bad, missing_shape) {
  expect_bad("noshape", "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "has no \"shape\"");
}

Test(safetensors_bad, missing_offsets) {
  expect_bad("nooff", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "has no \"data_offsets\"");
}

Test(safetensors_bad, mistyped_fields) {
  expect_bad("dtnum", "{\"x\":{\"dtype\":3,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is not a string");
  expect_bad("shstr", "{\"x\":{\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}", 4, "\"shape\" is not an array");
  expect_bad("dimstr", "{\"x\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "dim 0 is not a number");
  expect_bad("off3", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "not an array of 2 numbers");
  expect_bad("offneg", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[-4,0]}}", 4, "not non-negative integers");
}

Test(safetensors_bad, offsets_out_of_range) {
  expect_bad("range", "{\"x\":" ENTRY("F32", "[2]", 8, 16) "}", 12, "[8, 16] lie beyond the data section of 12 bytes");
}

Test(safetensors_bad, offsets_reversed) {
  expect_bad("rev", "{\"x\":" ENTRY("F32", "[0]", 8, 4) "}", 8, "end before they begin");
}

Test(safetensors_bad, offsets_overlap) {
  expect_bad("overlap", "{\"a\":" ENTRY("F32", "[2]", 0, 8) ",\"b\":" ENTRY("F32", "[2]", 4, 12) "}", 12,
             "tensors \"a\" [0, 8) and \"b\" [4, 12) overlap");
}

Test(safetensors_bad, offsets_same_range) {
  expect_bad("same", "{\"a\":" ENTRY("F32", "[2]", 0, 8) ",\"b\":" ENTRY("I32", "[2]", 0, 8) "}", 8, "overlap");
}

Test(safetensors_bad, offsets_gap) {
  expect_bad("gap", "{\"a\":" ENTRY("F32", "[1]", 0, 4) ",\"b\":" ENTRY("F32", "[1]", 8, 12) "}", 12,
             "bytes [4, 8) of the data section belong to no tensor");
}

Test(safetensors_bad, data_not_fully_covered) {
  expect_bad("tail", "{\"a\":" ENTRY("F32", "[1]", 0, 4) "}", 9, "the data section has 9 bytes but the tensors cover 4");
}

Test(safetensors_bad, unknown_dtype) {
  expect_bad("dtype", "{\"a\":" ENTRY("Q7", "[1]", 0, 4) "}", 4, "unknown dtype \"Q7\"");
}

Test(safetensors_bad, size_mismatch) {
  expect_bad("size", "{\"a\":" ENTRY("F64", "[2,3]", 0, 24) "}", 24, "shape (2, 3) of F64 needs 48 bytes, data_offsets give 24");
}

Test(safetensors_bad, negative_dim) {
  expect_bad("neg", "{\"a\":" ENTRY("F32", "[-1,4]", 0, 16) "}", 16, "dim 0 is -1, expected a non-negative integer");
}

Test(safetensors_bad, fractional_dim) {
  expect_bad("frac", "{\"a\":" ENTRY("F32", "[1.5]", 0, 4) "}", 4, "dim 0 is 1.5");
}

Test(safetensors_bad, shape_overflow) {
  expect_bad("ovf", "{\"a\":" ENTRY("F32", "[4503599627370496,4503599627370496]", 0, 0) "}", 0, "shape size overflows");
}

Test(safetensors_bad, too_many_dims) {
  expect_bad("dims", "{\"a\":" ENTRY("F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", 4, "has 9 dims");
}

Test(safetensors_bad, duplicate_names) {
  expect_bad("dup", "{\"a\":" ENTRY("F32", "[1]", 0, 4) ",\"a\":" ENTRY("F32", "[1]", 4, 8) "}", 8,
             "tensor \"a\" appears twice");
}

Test(safetensors_bad, metadata_not_strings) {
  expect_bad("meta", "{\"__metadata__\":{\"epoch\":3}}", 0, "metadata \"epoch\" is not a string");
  expect_bad("meta2", "{\"__metadata__\":[]}", 0, "\"__metadata__\" is not an object");
  expect_bad("meta3", "{\"__metadata__\":{},\"__metadata__\":{}}", 0, "\"__metadata__\" appears twice");
}

Test(safetensors_bad, file_changed_after_open) {
  /* Offsets are checked at open; a file cut short afterwards gives a short read, not a crash. */
  const char *p = tmp_path("changed");
  write_st(p, "{\"a\":" ENTRY("F32", "[4]", 0, 16) "}", 16);
  lr_safetensors_file *f;
  cr_assert_eq(lr_safetensors_open(p, &f), LR_OK, "%s", lr_last_error());
  cr_assert_eq(truncate(p, 20), 0);
  lr_tensor *t = NULL;
  cr_assert_eq(lr_safetensors_get(f, "a", &t), LR_ERR_IO);
  cr_assert(strstr(lr_last_error(), "lr_safetensors_get") && strstr(lr_last_error(), p), "%s", lr_last_error());
  cr_assert_null(t);
  lr_safetensors_close(f);
  unlink(p);
}

/* ---- save errors ---- */
Test(safetensors, save_errors) {
  lr_tensor *a;
  cr_assert_eq(lr_zeros(LR_DTYPE_F32, LR_SHAPE(2), &a), LR_OK);
  const char *p = tmp_path("saveerr");
  cr_assert_eq(lr_safetensors_save(p, 2, (const char *[]){"a", "a"}, (const lr_tensor *[]){a, a}, NULL), LR_ERR_ARG);
  cr_assert(strstr(lr_last_error(), "\"a\" appears twice"), "%s", lr_last_error());
  cr_assert_eq(lr_safetensors_save(p, 1, (const char *[]){"__metadata__"}, (const lr_tensor *[]){a}, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_save(p, 1, (const char *[]){NULL}, (const lr_tensor *[]){a}, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_save(p, 1, (const char *[]){"a"}, (const lr_tensor *[]){NULL}, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_save(p, 1, (const char *[]){"a"}, (const lr_tensor *[]){a}, (const char *[]){"k", NULL}),
               LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_save(p, 1, (const char *[]){"a"}, (const lr_tensor *[]){a},
                                   (const char *[]){"k", "1", "k", "2", NULL}),
               LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_save(NULL, 0, NULL, NULL, NULL), LR_ERR_ARG);
  cr_assert_eq(lr_safetensors_save(p, -1, NULL, NULL, NULL), LR_ERR_ARG);
  struct stat st;
  cr_assert_neq(stat(p, &st), 0, "a failed save left a file");

  const char *q = "/tmp/lr_st_no_such_dir/x.safetensors";
  cr_assert_eq(lr_safetensors_save(q, 1, (const char *[]){"a"}, (const lr_tensor *[]){a}, NULL), LR_ERR_IO);
  cr_assert(strstr(lr_last_error(), "lr_safetensors_save") && strstr(lr_last_error(), "lr_st_no_such_dir"), "%s",
            lr_last_error());
}

/* ---- the lrnnx reference fixtures ---- */
#define FIXTURES "/work/shared/fixtures/lrnnx"

Test(safetensors, lrnnx_fixtures_open) {
  struct stat st;
  if (stat(FIXTURES, &st) != 0) cr_skip_test("%s not present", FIXTURES);
  glob_t g;
  cr_assert_eq(glob(FIXTURES "/*.safetensors", 0, NULL, &g), 0, "no fixtures in %s", FIXTURES);
  int weights_seen = 0;
  for (size_t i = 0; i < g.gl_pathc; i++) {
    lr_safetensors_file *f;
    cr_assert_eq(lr_safetensors_open(g.gl_pathv[i], &f), LR_OK, "%s", lr_last_error());
    int n = lr_safetensors_count(f);
    cr_assert_gt(n, 0, "%s lists no tensors", g.gl_pathv[i]);
    for (int k = 0; k < n; k++) {
      const lr_safetensors_info *e = lr_safetensors_entry(f, k);
      cr_assert(e->dtype == LR_DTYPE_F32 || e->dtype == LR_DTYPE_I64, "%s: %s is %s", g.gl_pathv[i], e->name, e->format);
      lr_tensor *t;
      cr_assert_eq(lr_safetensors_get(f, e->name, &t), LR_OK, "%s", lr_last_error());
      lr_tensor_free(t);
    }
    if (strstr(g.gl_pathv[i], "lru_B2_L64_H16_N8.weights")) {
      lr_safetensors_info b;
      cr_assert_eq(lr_safetensors_info_of(f, "B_re", &b), LR_OK, "%s", lr_last_error());
      cr_assert(b.ndim == 2 && b.shape[0] == 8 && b.shape[1] == 16);
      weights_seen++;
    }
    lr_safetensors_close(f);
  }
  globfree(&g);
  cr_assert_eq(weights_seen, 1);
}
