/* Arena allocator; see arena.h.
 *
 * Blocks form a singly linked list. Allocation bumps a pointer in the current block; when it
 * does not fit, the next spare block is used if it is big enough, otherwise a new block of
 * max(block_bytes, request) is linked in after the current one. Rewinding only moves the
 * (block, used) pair back, so blocks are reused by the next step. Cleanup records live in the
 * arena itself and run newest first.
 */
#include "tensor/arena.h"

#include <pthread.h>
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
  size_t used_total; /* bytes handed out in blocks up to and including cur */
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
    size_t a_block_bytes = a->block_bytes;
    free(a);
    return lr_fail(LR_ERR_MEMORY, "lr_arena_new: cannot allocate a block of %zu bytes", a_block_bytes);
  }
  *out = a;
  return LR_OK;
}

static size_t used_upto(const lr_arena *a) {
  size_t n = 0;
  for (const lr_block *b = a->head; b; b = b->next) {
    n += b->used;
    if (b == a->cur) break;
  }
  return n;
}

void *lr_arena_alloc(lr_arena *a, size_t bytes) {
  /* Rounding up a size near SIZE_MAX would wrap to a tiny block. */
  if (!a || bytes > SIZE_MAX - 2 * LR_ARENA_ALIGN) return NULL;
  size_t n = (bytes + LR_ARENA_ALIGN - 1) / LR_ARENA_ALIGN * LR_ARENA_ALIGN;
  if (n == 0) n = LR_ARENA_ALIGN;
  lr_block *b = a->cur;
  if (b->size - b->used < n) {
    /* Blocks after cur are spares (rewound or never used): take the next one if it is big
     * enough, else link a new one in front of it, so the same sequence of requests after a
     * rewind finds the same blocks and mallocs nothing. */
    lr_block *nx = b->next;
    if (nx && nx->size >= n) {
      nx->used = 0;
      b = nx;
    } else {
      lr_block *nb = block_new(n > a->block_bytes ? n : a->block_bytes);
      if (!nb) return NULL;
      nb->next = b->next;
      b->next = nb;
      b = nb;
    }
  }
  a->cur = b;
  void *p = b->mem + b->used;
  b->used += n;
  a->used_total += n; /* blocks before cur keep their used; a spare block starts at 0 */
  if (a->used_total > a->peak) a->peak = a->used_total;
  return p;
}

void *lr_arena_calloc(lr_arena *a, size_t bytes) {
  void *p = lr_arena_alloc(a, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

lr_status lr_arena_on_rewind(lr_arena *a, void (*fn)(void *), void *ptr) {
  if (!a || !fn) return lr_fail(LR_ERR_ARG, "lr_arena_on_rewind: NULL argument");
  lr_cleanup *c = lr_arena_alloc(a, sizeof *c);
  if (!c) return lr_fail(LR_ERR_MEMORY, "lr_arena_on_rewind: out of memory");
  c->fn = fn;
  c->ptr = ptr;
  c->next = a->cleanups;
  a->cleanups = c;
  return LR_OK;
}

lr_arena_mark lr_arena_get_mark(lr_arena *a) {
  lr_arena_mark m = {NULL, 0, NULL, NULL};
  if (a) {
    m.block = a->cur;
    m.used = a->cur->used;
    m.cleanups = a->cleanups;
    m.tape = a->tape;
  }
  return m;
}

/* A mark must come from this arena and must not have been rewound past already. A zeroed mark
 * (block NULL) means the empty arena. */
void lr_arena_rewind(lr_arena *a, lr_arena_mark m) {
  if (!a) return;
  if (!m.block) {
    m.block = a->head;
    m.used = 0;
    m.cleanups = NULL;
    m.tape = NULL;
  }
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
  lr_arena_mark m = {NULL, 0, NULL, NULL};
  lr_arena_rewind(a, m);
}

size_t lr_arena_used(const lr_arena *a) { return a ? a->used_total : 0; }
size_t lr_arena_peak(const lr_arena *a) { return a ? a->peak : 0; }

bool lr_arena_contains(const lr_arena *a, const void *p) {
  if (!a || !p) return false;
  uintptr_t q = (uintptr_t)p;
  for (const lr_block *b = a->head; b; b = b->next) {
    if (q >= (uintptr_t)b->mem && q < (uintptr_t)b->mem + b->used) return true;
    if (b == a->cur) break;
  }
  return false;
}

static _Thread_local lr_arena *lr_cur_arena;
static _Thread_local lr_arena *lr_default_arena;
static pthread_key_t lr_default_key; /* set once a default arena exists */

void lr_arena_free(lr_arena *a) {
  if (!a) return;
  /* Never leave this thread pointing at freed memory, nor its exit destructor. */
  if (lr_cur_arena == a) lr_cur_arena = NULL;
  if (lr_default_arena == a) {
    lr_default_arena = NULL;
    pthread_setspecific(lr_default_key, NULL);
  }
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
/* Default arenas are released when their thread ends: other threads through a pthread key
 * destructor, the thread that calls exit() (which runs no key destructors) through atexit. */
static pthread_once_t lr_default_once = PTHREAD_ONCE_INIT;

static void free_thread_arena(void *a) {
  /* Runs on the ending thread, so its thread-locals are still this thread's. */
  lr_arena_free(a);
}

static void free_default_arena_atexit(void) { lr_arena_free(lr_default_arena); }

static void default_init(void) {
  pthread_key_create(&lr_default_key, free_thread_arena);
  atexit(free_default_arena_atexit);
}

lr_arena *lr_arena_current(void) {
  if (lr_cur_arena) return lr_cur_arena;
  if (!lr_default_arena) {
    pthread_once(&lr_default_once, default_init);
    if (lr_arena_new(0, &lr_default_arena) != LR_OK) return NULL;
    pthread_setspecific(lr_default_key, lr_default_arena);
  }
  return lr_default_arena;
}

lr_arena *lr_arena_use(lr_arena *a) {
  lr_arena *prev = lr_cur_arena;
  lr_cur_arena = a;
  return prev;
}
