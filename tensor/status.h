/* Status codes and the thread-local last-error message.
 *
 * Every public function returns lr_status and writes results through out-parameters. On failure
 * the out-parameter is untouched and lr_last_error() names the function and the values:
 *   "lr_add: shapes (2, 3) and (4,) do not broadcast"
 * lr_fail() sets the message and returns the code, so a check is one line:
 *   if (a->ndim != 2) return lr_fail(LR_ERR_SHAPE, "lr_scan: A has %d dims, expected 2", a->ndim);
 */
#ifndef LR_STATUS_H
#define LR_STATUS_H

typedef enum {
  LR_OK = 0,
  LR_ERR_ARG,         /* a bad argument: NULL, an out-of-range option or index */
  LR_ERR_SHAPE,       /* shapes that do not fit together */
  LR_ERR_DTYPE,       /* a dtype the op does not take, or dtypes that differ */
  LR_ERR_DEVICE,      /* tensors on different devices, or a device that is not available */
  LR_ERR_MEMORY,      /* an allocation failed */
  LR_ERR_IO,          /* a file could not be read or written, or is malformed */
  LR_ERR_STATE,       /* a call out of order: backward twice through a freed graph, ... */
  LR_ERR_UNSUPPORTED, /* valid, but not implemented for this dtype/device combination */
  LR_ERR_INTERNAL     /* a broken invariant: a bug in lrnnx */
} lr_status;

/* The message of the last failure on this thread ("" if none). */
const char *lr_last_error(void);
/* Sets the last-error message (printf format) and returns code. */
lr_status lr_fail(lr_status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lr_clear_error(void);
/* "LR_ERR_SHAPE", ... */
const char *lr_status_name(lr_status s);

/* Propagate a failure: LR_TRY(lr_add(a, b, &c)); */
#define LR_TRY(expr)                 \
  do {                               \
    lr_status lr_try_s_ = (expr);    \
    if (lr_try_s_ != LR_OK) return lr_try_s_; \
  } while (0)

#endif
