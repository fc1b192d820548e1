/* Arena: bump allocation for activations, saved tensors and tape nodes of one step.
 *
 * A training step allocates everything it makes (op outputs, views, gradients of non-leaf
 * tensors, tape nodes) from the current arena, then rewinds it: no per-tensor frees, no leaks,
 * and after the first step no malloc either (blocks are kept for reuse). Memory that is not the
 * arena's own (device buffers) is registered with lr_arena_on_rewind and released on rewind.
 *
 *   lr_arena_mark m = lr_arena_get_mark(lr_arena_current());
 *   ... forward, backward, optimizer step ...
 *   lr_arena_rewind(lr_arena_current(), m);
 */
#ifndef LR_ARENA_H
#define LR_ARENA_H

#include <stdbool.h>
#include <stddef.h>

#include "tensor/status.h"

typedef struct lr_arena lr_arena;

typedef struct {
  void *block;   /* the block in use at the mark */
  size_t used;   /* bytes used in that block */
  void *cleanups;/* head of the cleanup list */
  void *tape;    /* head of the tape (autograd's slot) */
} lr_arena_mark;

/* A new arena whose blocks hold block_bytes (0: 16 MiB). */
lr_status lr_arena_new(size_t block_bytes, lr_arena **out);
/* Runs pending cleanups and frees every block. NULL is ignored. If a is this thread's current
 * arena, the thread goes back to its default arena. */
void lr_arena_free(lr_arena *a);

/* 64-byte aligned memory, valid until the arena is rewound past it. NULL if out of memory. */
void *lr_arena_alloc(lr_arena *a, size_t bytes);
/* Like lr_arena_alloc, zero-filled. */
void *lr_arena_calloc(lr_arena *a, size_t bytes);
/* fn(ptr) runs when the arena is rewound past this point (or freed). */
lr_status lr_arena_on_rewind(lr_arena *a, void (*fn)(void *), void *ptr);

lr_arena_mark lr_arena_get_mark(lr_arena *a);
void lr_arena_rewind(lr_arena *a, lr_arena_mark m);
/* Rewind to empty. */
void lr_arena_reset(lr_arena *a);
/* Bytes handed out now, and the most ever. */
size_t lr_arena_used(const lr_arena *a);
size_t lr_arena_peak(const lr_arena *a);

/* Whether p lies in memory a has handed out and not taken back (for autograd's bookkeeping). */
bool lr_arena_contains(const lr_arena *a, const void *p);

/* The arena this thread's ops allocate from. A default one is made on first use. */
lr_arena *lr_arena_current(void);
/* Makes a current for this thread (NULL: the default); returns the previous one. */
lr_arena *lr_arena_use(lr_arena *a);

/* The tape's slot in the arena, so that rewinding the arena rewinds the tape (autograd only). */
void **lr_arena_tape_slot(lr_arena *a);

#endif
