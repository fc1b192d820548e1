/* Elementwise ops: gradchecks (cases_elementwise.c) and error paths. */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/cases.h"

Test(elementwise, gradcheck) { cr_assert_eq(gc_run_table(lr_cases_elementwise, "elementwise"), 0); }

Test(elementwise, add_values) {
  lr_tensor *a, *b, *y;
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2, 2), (float[]){1, 2, 3, 4}, &a), LR_OK);
  cr_assert_eq(lr_from_host(LR_DTYPE_F32, LR_SHAPE(2), (float[]){10, 20}, &b), LR_OK);
  cr_assert_eq(lr_add(a, b, &y), LR_OK);
  float want[4] = {11, 22, 13, 24}, got[4];
  cr_assert_eq(lr_tensor_copy_to_host(y, got, sizeof got), LR_OK);
  cr_assert_arr_eq(got, want, sizeof want);
}

Test(elementwise, add_errors) {
  lr_tensor *a, *b, *c, *y = NULL;
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(2, 3), &a);
  lr_zeros(LR_DTYPE_F32, LR_SHAPE(4), &b);
  lr_zeros(LR_DTYPE_F64, LR_SHAPE(3), &c);
  cr_assert_eq(lr_add(a, b, &y), LR_ERR_SHAPE);
  cr_assert_str_eq(lr_last_error(), "lr_add: shapes (2, 3) and (4,) do not broadcast");
  cr_assert_null(y);
  cr_assert_eq(lr_add(a, c, &y), LR_ERR_DTYPE);
  cr_assert(strstr(lr_last_error(), "f32") && strstr(lr_last_error(), "f64"), "%s", lr_last_error());
  cr_assert_eq(lr_add(NULL, c, &y), LR_ERR_ARG);
}
