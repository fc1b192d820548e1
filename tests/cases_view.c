/* Gradcheck cases for the view ops: to be written. */
#include "tests/cases.h"

const lr_gc_case lr_cases_view[] = {{NULL, NULL}};
