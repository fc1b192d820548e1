/* Constructor-argument helpers shared by the registry entries (nn/registry.h) of the LTV models
 * (nn/mamba.c, nn/s5.c, nn/rglru.c, nn/s7.c), on top of the lr_args_* helpers.
 *
 * lrnnx's constructors take keyword arguments that only steer PyTorch (use_fast_path, layer_idx,
 * device): they are accepted with their types checked (true/false, integer, string) and ignored:
 * every path here computes the same function. "dtype" is float32 (lrnnx's None) or float64;
 * "seed" (ours, default 0) seeds the initialisation.
 */
#ifndef LR_NN_LTV_ARGS_H
#define LR_NN_LTV_ARGS_H

#include "nn/registry.h"
#include "tensor/rng.h"

/* lr_args_check against known, then the ignored keys (those of them listed in known), "dtype"
 * (real only: LR_ERR_ARG naming the key for a complex one) and "seed" into rng. */
lr_status lr_ltv_args_common(const cJSON *args, const char *model, const char *const *known, lr_dtype *dtype,
                             lr_rng *rng);
/* An integer >= 1; LR_ERR_ARG naming the key when required and absent or when < 1. */
lr_status lr_ltv_args_size(const cJSON *args, const char *model, const char *key, bool required, int64_t def,
                           int64_t *out);

#endif
