/* The lrnnx-in-C version, reported by `lrnnx info` and usable by callers to check compatibility. */
#ifndef LR_VERSION_H
#define LR_VERSION_H

#define LR_VERSION_MAJOR 0
#define LR_VERSION_MINOR 1
#define LR_VERSION_PATCH 0
#define LR_VERSION "0.1.0"

#endif
