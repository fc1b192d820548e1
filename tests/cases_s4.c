#include "tests/cases.h"
const lr_gc_case lr_cases_s4[] = {{NULL, NULL}};
