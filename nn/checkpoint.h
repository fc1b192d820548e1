/* Module checkpoints: every parameter and buffer of a module tree, by full dotted name, in a
 * safetensors file (tensor/safetensors.h), the way PyTorch's state_dict() names them, so that an
 * lrnnx `state_dict()` saved with safetensors.torch.save_file loads directly and back.
 *
 * Names and storage:
 *   - every tensor under its full dotted name ("layers.0.mixer.A_log"), buffers included;
 *   - a tied tensor (lr_module_tie) under each of its names, as state_dict() does;
 *   - a complex tensor marked LR_PARAM_REAL_VIEW as F32/F64 with a trailing 2 (lrnnx's
 *     torch.view_as_real storage); other complex tensors as C64/C128 (lrnnx-in-C only);
 *   - tensors on a device go through host copies.
 *
 * Loading is strict by default: the file must hold exactly the module's names, each with the
 * module's shape and dtype (a complex tensor also takes a real entry of its shape plus a trailing
 * 2, whatever its flag). Everything is checked, and every entry is read into host staging memory,
 * before the first tensor of the module is written: a failed load leaves the module unchanged.
 * The failure lists every problem in ONE message, each list sorted by name:
 *   "lr_module_load(x.safetensors): missing: a.b, c; unexpected: d;
 *    shape mismatch: e (file (3, 4), model (4, 3)); dtype mismatch: f (file F64, model f32)"
 * and the status is, by the first kind present: LR_ERR_ARG for missing or unexpected names,
 * LR_ERR_SHAPE for a shape mismatch, LR_ERR_DTYPE for a dtype mismatch (no conversion is done).
 * Files that cannot be opened or are malformed give lr_safetensors_open's LR_ERR_IO.
 *
 * LR_LOAD_PARTIAL loads every tensor that matches and returns LR_OK; what did not load is in the
 * report (PyTorch's strict=False with its missing_keys / unexpected_keys, plus the mismatches,
 * which PyTorch would raise on).
 */
#ifndef LR_NN_CHECKPOINT_H
#define LR_NN_CHECKPOINT_H

#include "nn/module.h"
#include "tensor/safetensors.h"

/* lr_module_load flags */
#define LR_LOAD_STRICT 0u
#define LR_LOAD_PARTIAL 1u /* load what matches; report the rest instead of failing */

typedef struct {
  int n_loaded;        /* tensors written into the module (a tied tensor counts per name) */
  int n_missing;       /* module names the file lacks */
  char **missing;
  int n_unexpected;    /* file names the module lacks */
  char **unexpected;
  int n_mismatched;    /* names present in both whose shape or dtype differ, with the details: */
  char **mismatched;   /* "e (file (3, 4), model (4, 3))", "f (file F64, model f32)" */
} lr_load_report;

/* Frees the report's lists (not the struct) and zeroes it. NULL is ignored. */
void lr_load_report_free(lr_load_report *r);

/* Writes every tensor of m (parameters, buffers, tied aliases) to path. metadata is NULL or a
 * NULL-terminated key, value list as for lr_safetensors_save. */
lr_status lr_module_save(lr_module *m, const char *path, const char *const *metadata);

/* Loads path into m (see above). report (optional) is filled in both modes, also on a strict
 * failure; release it with lr_load_report_free. */
lr_status lr_module_load(lr_module *m, const char *path, unsigned flags, lr_load_report *report);
/* The same from an open file (the name in messages is lr_safetensors_path(f)). */
lr_status lr_module_load_file(lr_module *m, const lr_safetensors_file *f, unsigned flags, lr_load_report *report);

#endif
