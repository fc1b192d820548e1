/* Arena allocator; see arena.h.
 *
 * Blocks form a singly linked list. Allocation bumps a pointer in the current block; when it
 * does not fit, the next spare block is used if it is big enough, otherwise a new block of
 * max(block_bytes, request) is linked in after the current one. Rewinding only moves the
 * (block, used) pair back, so blocks are reused by the next step. Cleanup records live in the
 * arena itself and run newest first.
 */
#include "tensor/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define LR_ARENA_ALIGN 64

typedef struct lr_block {
  struct lr_block *next;
  size_t size;
  size_t used;
  unsigned char *mem;
} lr_block;

typedef struct lr_cleanup {
  struct lr_cleanup *next;
  void (*fn)(void *);
  void *ptr;
} lr_cleanup;

struct lr_arena {
  size_t block_bytes;
  lr_block *head; /* first block */
  lr_block *cur;  /* block being filled */
  lr_cleanup *cleanups;
  void *tape;
  size_t used_total; /* bytes in blocks up to and including cur (approximate use) */
  size_t peak;
};

static lr_block *block_new(size_t size) {
  lr_block *b = malloc(sizeof *b);
  if (!b) return NULL;
  b->mem = aligned_alloc(LR_ARENA_ALIGN, (size + LR_ARENA_ALIGN - 1) / LR_ARENA_ALIGN * LR_ARENA_ALIGN);
  if (!b->mem) { free(b); return NULL; }
  b->next = NULL;
  b->size = size;
  b->used = 0;
  return b;
}

lr_status lr_arena_new(size_t block_bytes, lr_arena **out) {
  if (!out) return lr_fail(LR_ERR_ARG, "lr_arena_new: out is NULL");
  lr_arena *a = calloc(1, sizeof *a);
  if (!a) return lr_fail(LR_ERR_MEMORY, "lr_arena_new: out of memory");
  a->block_bytes = block_bytes ? block_bytes : (size_t)16 << 20;
  a->head = a->cur = block_new(a->block_bytes);
  if (!a->head) {
    free(a);
    return lr_fail(LR_ERR_MEMORY, "lr_arena_new: cannot allocate a block of %zu bytes", block_bytes);
  }
  *out = a;
  return LR_OK;
}

static size_t used_upto(const lr_arena *a) {
  size_t n = 0;
  for (const lr_block *b = a->head; b; b = b->next) {
    n += b == a->cur ? b->used : b->size;
    if (b == a->cur) break;
  }
  return n;
}

void *lr_arena_alloc(lr_arena *a, size_t bytes) {
  size_t n = (bytes + LR_ARENA_ALIGN - 1) / LR_ARENA_ALIGN * LR_ARENA_ALIGN;
  if (n == 0) n = LR_ARENA_ALIGN;
  lr_block *b = a->cur;
  while (b->size - b->used < n) {
    lr_block *nx = b->next;
    if (nx && nx->size >= n) {
      nx->used = 0;
      b = nx;
      break;
    }
    lr_block *nb = block_new(n > a->block_bytes ? n : a->block_bytes);
    if (!nb) return NULL;
    nb->next = b->next;
    b->next = nb;
    b = nb;
    break;
  }
  a->cur = b;
  void *p = b->mem + b->used;
  b->used += n;
  a->used_total = used_upto(a);
  if (a->used_total > a->peak) a->peak = a->used_total;
  return p;
}

void *lr_arena_calloc(lr_arena *a, size_t bytes) {
  void *p = lr_arena_alloc(a, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

lr_status lr_arena_on_rewind(lr_arena *a, void (*fn)(void *), void *ptr) {
  lr_cleanup *c = lr_arena_alloc(a, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "lr_arena_on_rewind: out of memory");
  c->fn = fn;
  c->ptr = ptr;
  c->next = a->cleanups;
  a->cleanups = c;
  return LR_OK;
}

lr_arena_mark lr_arena_get_mark(lr_arena *a) {
  lr_arena_mark m = {a->cur, a->cur->used, a->cleanups, a->tape};
  return m;
}

void lr_arena_rewind(lr_arena *a, lr_arena_mark m) {
  while (a->cleanups && a->cleanups != m.cleanups) {
    lr_cleanup *c = a->cleanups;
    a->cleanups = c->next;
    c->fn(c->ptr);
  }
  a->cur = m.block;
  a->cur->used = m.used;
  a->tape = m.tape;
  a->used_total = used_upto(a);
}

void lr_arena_reset(lr_arena *a) {
  lr_arena_mark m = {a->head, 0, NULL, NULL};
  lr_arena_rewind(a, m);
}

size_t lr_arena_used(const lr_arena *a) { return a->used_total; }
size_t lr_arena_peak(const lr_arena *a) { return a->peak; }

void lr_arena_free(lr_arena *a) {
  if (!a) return;
  lr_arena_reset(a);
  for (lr_block *b = a->head; b;) {
    lr_block *nx = b->next;
    free(b->mem);
    free(b);
    b = nx;
  }
  free(a);
}

void **lr_arena_tape_slot(lr_arena *a) { return &a->tape; }

/* ---- the thread's current arena ---- */
static _Thread_local lr_arena *lr_cur_arena;
static _Thread_local lr_arena *lr_default_arena;

/* atexit runs on the thread that exits the process: it releases that thread's default arena. */
static void free_default_arena(void) {
  lr_arena_free(lr_default_arena);
  lr_default_arena = NULL;
  lr_cur_arena = NULL;
}

lr_arena *lr_arena_current(void) {
  if (lr_cur_arena) return lr_cur_arena;
  if (!lr_default_arena) {
    static _Atomic int registered;
    if (lr_arena_new(0, &lr_default_arena) != LR_OK) return NULL;
    if (!registered++) atexit(free_default_arena);
  }
  return lr_default_arena;
}

lr_arena *lr_arena_use(lr_arena *a) {
  lr_arena *prev = lr_cur_arena;
  lr_cur_arena = a;
  return prev;
}
