/* All differentiable ops, one header per family. */
#ifndef LR_OPS_H
#define LR_OPS_H

#include "ops/complex.h"
#include "ops/discretize.h"
#include "ops/conv1d.h"
#include "ops/elementwise.h"
#include "ops/fft_conv.h"
#include "ops/functional.h"
#include "ops/linalg.h"
#include "ops/lti.h"
#include "ops/reduce.h"
#include "ops/s4_kernels.h"
#include "ops/registry.h"
#include "ops/scan.h"
#include "ops/shape.h"
#include "ops/view.h"

#endif
