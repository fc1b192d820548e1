/* Recorded device work (see graph.h): the device's graph hooks, or fn itself on the CPU. */
#include "tensor/graph.h"

#include <stdlib.h>

struct lr_graph {
  lr_device dev;
  lr_graph_fn fn; /* CPU: called by each replay */
  void *arg;
  void *impl; /* device: the backend's recording */
};

lr_status lr_graph_capture(lr_device dev, lr_graph_fn fn, void *arg, lr_graph **out) {
  const char *f = "lr_graph_capture";
  if (!fn || !out) return lr_fail(LR_ERR_ARG, "%s: %s is NULL", f, !fn ? "fn" : "out");
  if ((unsigned)dev >= LR_DEVICE_COUNT) return lr_fail(LR_ERR_ARG, "%s: device %d is not a device", f, (int)dev);
  const lr_device_hooks *h = dev == LR_DEVICE_CPU ? NULL : lr_get_device_hooks(dev);
  if (dev != LR_DEVICE_CPU && !h)
    return lr_fail(LR_ERR_DEVICE, "%s: no %s backend in this build", f, lr_device_name(dev));
  if (dev != LR_DEVICE_CPU && !(h->graph_capture && h->graph_launch && h->graph_free))
    return lr_fail(LR_ERR_UNSUPPORTED, "%s: the %s backend records no graphs", f, lr_device_name(dev));
  lr_graph *g = calloc(1, sizeof *g);
  if (!g) return lr_fail(LR_ERR_MEMORY, "%s: out of host memory", f);
  g->dev = dev;
  g->fn = fn;
  g->arg = arg;
  if (h) {
    lr_status s = h->graph_capture(fn, arg, &g->impl);
    if (s != LR_OK) {
      free(g);
      return s;
    }
  }
  *out = g;
  return LR_OK;
}

lr_status lr_graph_replay(lr_graph *g) {
  if (!g) return lr_fail(LR_ERR_ARG, "lr_graph_replay: g is NULL");
  if (g->dev == LR_DEVICE_CPU) return g->fn(g->arg);
  return lr_get_device_hooks(g->dev)->graph_launch(g->impl);
}

lr_device lr_graph_device(const lr_graph *g) { return g ? g->dev : LR_DEVICE_CPU; }

void lr_graph_free(lr_graph *g) {
  if (!g) return;
  if (g->impl) lr_get_device_hooks(g->dev)->graph_free(g->impl);
  free(g);
}
