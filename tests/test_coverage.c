/* Every registered op must appear on the tape of a passing gradcheck case. */
#include <criterion/criterion.h>
#include <stdio.h>

#include "tests/cases.h"

Test(coverage, every_op_has_a_gradcheck) {
  const lr_gc_case *tables[] = {lr_cases_elementwise, lr_cases_complex, lr_cases_linalg, lr_cases_reduce,
                                lr_cases_shape,       lr_cases_view,    lr_cases_functional, lr_cases_discretize,
                                lr_cases_scan,        lr_cases_fft,     lr_cases_conv,       lr_cases_s4};
  const char *names[] = {"elementwise", "complex", "linalg", "reduce", "shape", "view",
                         "functional",  "discretize", "scan", "fft", "conv", "s4"};
  int failed = 0;
  for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) failed += gc_run_table(tables[i], names[i]);
  cr_expect_eq(failed, 0, "%d gradcheck cases failed", failed);
  int n, missing = 0;
  const lr_op_def *const *ops = lr_op_registry(&n);
  cr_assert_gt(n, 0);
  for (int i = 0; i < n; i++) {
    if (!ops[i]->backward) continue; /* non-differentiable ops (indices, comparisons) */
    if (!lr_gradcheck_covered(ops[i])) {
      fprintf(stderr, "op '%s' has no passing gradcheck case\n", ops[i]->name);
      missing++;
    }
  }
  cr_assert_eq(missing, 0, "%d registered ops have no passing gradcheck case", missing);
}
