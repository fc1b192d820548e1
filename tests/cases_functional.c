/* Gradcheck cases for the functional ops: to be written. */
#include "tests/cases.h"

const lr_gc_case lr_cases_functional[] = {{NULL, NULL}};
