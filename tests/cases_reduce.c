/* Gradcheck cases for the reduce ops: to be written. */
#include "tests/cases.h"

const lr_gc_case lr_cases_reduce[] = {{NULL, NULL}};
