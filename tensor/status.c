/* Thread-local last-error message; see status.h. */
#include "tensor/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char lr_err_msg[1024];

const char *lr_last_error(void) { return lr_err_msg; }

void lr_clear_error(void) { lr_err_msg[0] = '\0'; }

lr_status lr_fail(lr_status code, const char *fmt, ...) {
  /* Format into a scratch buffer first: a caller may pass lr_last_error() itself as an argument
   * ("%s: %s", fn, lr_last_error()), and vsnprintf into its own source is undefined. */
  char tmp[sizeof lr_err_msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  memcpy(lr_err_msg, tmp, sizeof tmp);
  return code;
}

const char *lr_status_name(lr_status s) {
  switch (s) {
    case LR_OK: return "LR_OK";
    case LR_ERR_ARG: return "LR_ERR_ARG";
    case LR_ERR_SHAPE: return "LR_ERR_SHAPE";
    case LR_ERR_DTYPE: return "LR_ERR_DTYPE";
    case LR_ERR_DEVICE: return "LR_ERR_DEVICE";
    case LR_ERR_MEMORY: return "LR_ERR_MEMORY";
    case LR_ERR_IO: return "LR_ERR_IO";
    case LR_ERR_STATE: return "LR_ERR_STATE";
    case LR_ERR_UNSUPPORTED: return "LR_ERR_UNSUPPORTED";
    case LR_ERR_INTERNAL: return "LR_ERR_INTERNAL";
  }
  return "LR_ERR_?";
}
