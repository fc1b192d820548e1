/* Philox RNG: to be written. */
#include "tensor/rng.h"
