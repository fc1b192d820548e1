/* Gradcheck cases for the linalg ops: to be written. */
#include "tests/cases.h"

const lr_gc_case lr_cases_linalg[] = {{NULL, NULL}};
