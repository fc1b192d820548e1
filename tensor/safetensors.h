/* safetensors: read and write the Hugging Face tensor file format.
 *
 * Layout of a file:
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a JSON object, padded with spaces to a multiple of 8 bytes:
 *               {"__metadata__": {"key": "value", ...},                  (optional, str -> str)
 *                "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...}
 *   the rest  the tensors' bytes, row-major, little-endian; offsets are relative to the end of
 *             the header, and the tensors cover the data section exactly (no overlap, no gap).
 *
 * dtypes: lrnnx reads and writes F32, F64, I32, I64, BOOL, and also "C64" / "C128" (interleaved
 * re, im), which are NOT in the safetensors spec: only lrnnx-in-C reads them. Files from the
 * Python lrnnx keep complex parameters as F32 with a trailing dim of 2 (or separate _re / _im
 * tensors); lr_safetensors_read_into accepts such an entry for a complex destination of shape
 * without the trailing 2. The spec's other dtypes (F16, BF16, U8, I8, I16, U16, U32, U64,
 * F8_E4M3, F8_E5M2) are listed and validated but have no lrnnx dtype: reading them is
 * LR_ERR_UNSUPPORTED. Any other dtype string makes the file malformed.
 *
 * lr_safetensors_open reads and validates the whole header (every check below fails with
 * LR_ERR_IO and a message naming the function, the file and the problem): header length beyond
 * the file or above 100 MB, JSON that does not parse or is not an object, entries that are not
 * objects, missing or mistyped fields, unknown dtypes, negative or non-integral dims, more than
 * LR_MAX_DIMS dims, shape size * dtype size != end - begin, offsets outside the data section,
 * overlapping tensors, gaps, bytes after the last tensor, duplicate names, non-string metadata.
 * Tensor data is not read at open: lr_safetensors_get / read_into read it from the open file,
 * so a large checkpoint is never held twice in memory. The host must be little-endian.
 *
 *   lr_safetensors_file *f;
 *   LR_TRY(lr_safetensors_open("model.safetensors", &f));
 *   lr_tensor *w;
 *   lr_status s = lr_safetensors_get(f, "layers.0.weight", &w);   // persistent, lr_tensor_free
 *   lr_safetensors_close(f);
 */
#ifndef LR_SAFETENSORS_H
#define LR_SAFETENSORS_H

#include "tensor/tensor.h"

typedef struct lr_safetensors_file lr_safetensors_file;

/* One entry of the header. */
typedef struct {
  const char *name;   /* owned by the file */
  const char *format; /* the dtype as the file spells it: "F32", "BF16", ... */
  lr_dtype dtype;     /* LR_DTYPE_COUNT when lrnnx has no such dtype (F16, BF16, U8, ...) */
  int ndim;
  int64_t shape[LR_MAX_DIMS];
  uint64_t begin, end; /* byte range in the data section */
} lr_safetensors_info;

/* Opens path and validates its header (see above); close with lr_safetensors_close. */
lr_status lr_safetensors_open(const char *path, lr_safetensors_file **out);
/* Closes the file and frees everything open allocated. NULL is ignored. */
void lr_safetensors_close(lr_safetensors_file *f);

/* The path given to open. */
const char *lr_safetensors_path(const lr_safetensors_file *f);
/* Number of tensors (the __metadata__ entry is not one). */
int lr_safetensors_count(const lr_safetensors_file *f);
/* Name of tensor i, 0 <= i < count, in byte-wise sorted order; NULL if i is out of range. */
const char *lr_safetensors_name(const lr_safetensors_file *f, int i);
/* The header entry of tensor name; LR_ERR_ARG if the file has no such tensor. */
lr_status lr_safetensors_info_of(const lr_safetensors_file *f, const char *name, lr_safetensors_info *out);
/* The header entry of tensor i (same order as lr_safetensors_name); NULL if out of range. */
const lr_safetensors_info *lr_safetensors_entry(const lr_safetensors_file *f, int i);

/* __metadata__: number of pairs, pair i (sorted by key), and the value of key (NULL if absent). */
int lr_safetensors_metadata_count(const lr_safetensors_file *f);
lr_status lr_safetensors_metadata_at(const lr_safetensors_file *f, int i, const char **key, const char **value);
const char *lr_safetensors_metadata(const lr_safetensors_file *f, const char *key);

/* Reads tensor name into a new PERSISTENT contiguous CPU tensor (lr_tensor_new; the caller
 * releases it with lr_tensor_free). LR_ERR_ARG if the file has no such tensor,
 * LR_ERR_UNSUPPORTED if its dtype has no lrnnx dtype, LR_ERR_IO if the read fails. */
lr_status lr_safetensors_get(const lr_safetensors_file *f, const char *name, lr_tensor **out);
/* Reads tensor name into dst (any strides, any device), which must have its dtype and shape,
 * or be complex (C64/C128) with the entry real (F32/F64) of dst's shape plus a trailing 2.
 * LR_ERR_DTYPE / LR_ERR_SHAPE when they do not match. */
lr_status lr_safetensors_read_into(const lr_safetensors_file *f, const char *name, lr_tensor *dst);

/* Writes n tensors (any strides, any device) to path: header keys sorted byte-wise, data in the
 * same order, header padded with spaces to a multiple of 8 as the reference implementation does.
 * metadata is NULL or a NULL-terminated list of key, value strings:
 *   (const char *[]){"format", "pt", NULL}
 * The file is written to path + ".tmp" and renamed, so a failed save leaves no partial file.
 * LR_ERR_ARG for NULL arguments, duplicate names or the name "__metadata__"; LR_ERR_IO if the
 * file cannot be written. */
lr_status lr_safetensors_save(const char *path, int n, const char *const *names, const lr_tensor *const *tensors,
                              const char *const *metadata);

/* "F32", "C64", ...: the safetensors spelling of an lrnnx dtype. */
const char *lr_safetensors_dtype_name(lr_dtype d);

#endif
