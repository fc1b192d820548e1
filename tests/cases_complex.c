/* Gradcheck cases for the complex ops: to be written. */
#include "tests/cases.h"

const lr_gc_case lr_cases_complex[] = {{NULL, NULL}};
