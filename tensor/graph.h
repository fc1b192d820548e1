/* Recorded device work, replayed with one launch (CUDA graphs): for generation loops and other
 * short steps that the host would otherwise spend launching.
 *
 *   static lr_status one_step(void *p) {          // y = step(x); x <- y, on fixed buffers
 *     gen *g = p;
 *     lr_arena_mark mk = lr_arena_get_mark(lr_arena_current());
 *     lr_tensor *y;
 *     lr_status s = g->def->step(g->m, g->cache, g->x, NULL, &y);
 *     if (s == LR_OK) s = lr_tensor_copy_(g->x, y);
 *     lr_arena_rewind(lr_arena_current(), mk);
 *     return s;
 *   }
 *   lr_graph *gr;
 *   LR_TRY(lr_graph_capture(LR_DEVICE_CUDA, one_step, &g, &gr));   // records; runs nothing
 *   for (int t = 0; t < T; t++) LR_TRY(lr_graph_replay(gr));        // one launch per step
 *   lr_graph_free(gr);
 *
 * Capture calls fn(arg) once: its host code runs, its device work (kernels, device copies and
 * fills, cuBLAS and cuFFT calls) is recorded on the backend's stream instead of run. Each replay
 * runs that work again on the same addresses, in order with all other device work. So fn must:
 *   - leave every tensor it reads or writes across steps at a fixed address (model caches are
 *     updated in place; copy results into buffers made before the capture);
 *   - not wait on the device: no copy to the host, no lr_cuda_synchronize, no upload from host
 *     memory (capture then fails with LR_ERR_DEVICE and fn's own message);
 *   - not depend on host state that a replay would have to change: a replay runs no host code
 *     (a model cache's step counter, for one, stays where the capture left it).
 * Device memory that fn allocates belongs to the graph until lr_graph_free: what fn frees during
 * the capture (its temporaries) is kept for the replays and handed to nobody else, and a block
 * allocated during the capture and freed later returns to the graph too. Run fn once before the
 * capture when it has lazy set-up (the first cuBLAS call, cuFFT plans): set-up that synchronises
 * breaks a capture. One capture at a time per process; other threads must not use the device
 * meanwhile (their work would be recorded too).
 *
 * On the CPU there is nothing to record: capture keeps fn and arg, and each replay calls fn(arg).
 * With an fn that follows the rules above, replays give the same results on either device.
 */
#ifndef LR_TENSOR_GRAPH_H
#define LR_TENSOR_GRAPH_H

#include "tensor/tensor.h"

typedef struct lr_graph lr_graph;
typedef lr_status (*lr_graph_fn)(void *arg);

/* Records fn(arg)'s device work on dev. Errors: NULL fn or out (LR_ERR_ARG); a device with no
 * backend (LR_ERR_DEVICE) or no graphs (LR_ERR_UNSUPPORTED); fn failing (its status, its message
 * after "lr_graph_capture: "); the recording refused by the device (LR_ERR_DEVICE). On failure
 * nothing is kept. */
lr_status lr_graph_capture(lr_device dev, lr_graph_fn fn, void *arg, lr_graph **out);
/* Runs the recorded work once (asynchronously on a device). */
lr_status lr_graph_replay(lr_graph *g);
/* The device a graph runs on. */
lr_device lr_graph_device(const lr_graph *g);
/* Releases the recording and hands its memory back to the allocator (after replays already
 * queued). NULL: nothing. */
void lr_graph_free(lr_graph *g);

#endif
