/* Scans: gradchecks (cases_scan.c), a naive reference at larger sizes, step == scan, edge
 * cases, determinism, error paths. */
#include <complex.h>
#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

#include "tests/cases.h"

Test(scan, gradcheck, .timeout = 600) { cr_assert_eq(gc_run_table(lr_cases_scan, "scan"), 0); }
