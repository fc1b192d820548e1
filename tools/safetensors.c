/* `lrnnx safetensors FILE...`: lists each file's tensors (name, dtype, shape, bytes) and its
 * __metadata__, after the full validation of lr_safetensors_open. */
#include <inttypes.h>
#include <string.h>

#include "tensor/safetensors.h"
#include "tools/tools.h"

static int list_one(const char *path, FILE *out, FILE *err) {
  lr_safetensors_file *f;
  if (lr_safetensors_open(path, &f) != LR_OK) {
    fprintf(err, "lrnnx safetensors: %s\n", lr_last_error());
    return 1;
  }
  int n = lr_safetensors_count(f), w = 4;
  uint64_t total = 0;
  for (int i = 0; i < n; i++) {
    const lr_safetensors_info *e = lr_safetensors_entry(f, i);
    if ((int)strlen(e->name) > w) w = (int)strlen(e->name);
    total += e->end - e->begin;
  }
  fprintf(out, "%s: %d tensor%s, %" PRIu64 " data bytes\n", path, n, n == 1 ? "" : "s", total);
  for (int i = 0; i < lr_safetensors_metadata_count(f); i++) {
    const char *k, *v;
    lr_safetensors_metadata_at(f, i, &k, &v);
    fprintf(out, "  metadata %s = %s\n", k, v);
  }
  if (n) fprintf(out, "  %-*s  %-7s  %-20s  %s\n", w, "name", "dtype", "shape", "bytes");
  for (int i = 0; i < n; i++) {
    const lr_safetensors_info *e = lr_safetensors_entry(f, i);
    char shape[160];
    lr_shape_str(e->ndim, e->shape, shape, sizeof shape);
    fprintf(out, "  %-*s  %-7s  %-20s  %" PRIu64 "\n", w, e->name, e->format, shape, e->end - e->begin);
  }
  lr_safetensors_close(f);
  return 0;
}

int lr_tool_safetensors(int argc, char **argv, FILE *out, FILE *err) {
  if (argc < 2) {
    fprintf(err, "usage: lrnnx safetensors FILE...\n");
    return 2;
  }
  int rc = 0;
  for (int i = 1; i < argc; i++)
    if (list_one(argv[i], out, err)) rc = 1;
  return rc;
}
