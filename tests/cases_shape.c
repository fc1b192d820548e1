/* Gradcheck cases for the shape ops: to be written. */
#include "tests/cases.h"

const lr_gc_case lr_cases_shape[] = {{NULL, NULL}};
