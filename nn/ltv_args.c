/* Constructor-argument helpers of the LTV models' registry entries; see ltv_args.h. */
#include "nn/ltv_args.h"

#include <string.h>

static bool listed(const char *const *known, const char *key) {
  for (int i = 0; known[i]; i++)
    if (!strcmp(known[i], key)) return true;
  return false;
}

lr_status lr_ltv_args_common(const cJSON *args, const char *model, const char *const *known, lr_dtype *dtype,
                             lr_rng *rng) {
  bool b;
  int64_t i, seed = 0;
  const char *s;
  LR_TRY(lr_args_check(args, model, known));
  if (listed(known, "use_fast_path")) LR_TRY(lr_args_bool(args, model, "use_fast_path", true, &b));
  if (listed(known, "layer_idx")) LR_TRY(lr_args_int(args, model, "layer_idx", 0, &i));
  if (listed(known, "device")) LR_TRY(lr_args_string(args, model, "device", NULL, &s));
  LR_TRY(lr_args_dtype(args, model, "dtype", LR_DTYPE_F32, dtype));
  if (*dtype != LR_DTYPE_F32 && *dtype != LR_DTYPE_F64)
    return lr_fail(LR_ERR_ARG, "%s: argument 'dtype' is %s, expected float32 or float64", model,
                   lr_dtype_name(*dtype));
  if (listed(known, "seed")) LR_TRY(lr_args_int(args, model, "seed", 0, &seed));
  lr_rng_init(rng, (uint64_t)seed);
  return LR_OK;
}

lr_status lr_ltv_args_size(const cJSON *args, const char *model, const char *key, bool required, int64_t def,
                           int64_t *out) {
  if (required) LR_TRY(lr_args_require(args, model, key));
  LR_TRY(lr_args_int(args, model, key, def, out));
  if (*out < 1) return lr_fail(LR_ERR_ARG, "%s: argument '%s' is %lld, must be >= 1", model, key, (long long)*out);
  return LR_OK;
}
