/* Collects the families' op arrays into one table, built on first use. */
#include "ops/registry.h"

#include <string.h>

#define LR_MAX_OPS 256

static const lr_op_def *const *const lr_families[] = {
    lr_ops_elementwise, lr_ops_complex, lr_ops_linalg,      lr_ops_reduce,
    lr_ops_shape,       lr_ops_view,    lr_ops_functional,
    lr_ops_discretize,  lr_ops_scan,
    lr_ops_fft,
    lr_ops_lti,
    lr_ops_conv,
    lr_ops_s4,
};

static const lr_op_def *lr_table[LR_MAX_OPS];
static int lr_table_n = -1;

static void build(void) {
  int n = 0;
  for (size_t f = 0; f < sizeof lr_families / sizeof lr_families[0]; f++)
    for (const lr_op_def *const *p = lr_families[f]; *p && n < LR_MAX_OPS; p++) lr_table[n++] = *p;
  lr_table_n = n;
}

const lr_op_def *const *lr_op_registry(int *n) {
  if (lr_table_n < 0) build();
  *n = lr_table_n;
  return lr_table;
}

const lr_op_def *lr_op_find(const char *name) {
  int n;
  const lr_op_def *const *t = lr_op_registry(&n);
  for (int i = 0; i < n; i++)
    if (strcmp(t[i]->name, name) == 0) return t[i];
  return NULL;
}
