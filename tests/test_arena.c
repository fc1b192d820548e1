/* tensor/arena: alignment, growth, large requests, mark/rewind reuse, cleanups, the current
 * arena of a thread and its default arena. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tensor/tensor.h"

#define OK(expr) cr_assert_eq((expr), LR_OK, "%s: %s", #expr, lr_last_error())

static lr_arena *new_arena(size_t block) {
  lr_arena *a = NULL;
  cr_assert_eq(lr_arena_new(block, &a), LR_OK);
  cr_assert_not_null(a);
  return a;
}

Test(arena, new_args) {
  cr_assert_eq(lr_arena_new(0, NULL), LR_ERR_ARG);
  cr_assert_str_eq(lr_last_error(), "lr_arena_new: out is NULL");
  lr_arena *a = new_arena(0); /* 16 MiB blocks */
  void *p = lr_arena_alloc(a, (size_t)15 << 20);
  void *q = lr_arena_alloc(a, 64);
  cr_assert(p && q);
  cr_assert_eq((char *)q - (char *)p, (ptrdiff_t)15 << 20, "both fit in the first 16 MiB block");
  lr_arena_free(a);
  lr_arena_free(NULL);
}

Test(arena, alignment) {
  lr_arena *a = new_arena(4096);
  const size_t sizes[] = {1, 3, 63, 64, 65, 100, 0, 129, 7};
  void *prev = NULL;
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    void *p = lr_arena_alloc(a, sizes[i]);
    cr_assert_not_null(p);
    cr_assert_eq((uintptr_t)p % 64, 0, "request %zu: %p", sizes[i], p);
    cr_assert_neq(p, prev, "even a 0-byte request gets its own address");
    if (sizes[i]) memset(p, 0xAB, sizes[i]);
    prev = p;
  }
  /* 9 requests, each rounded up to 64-byte multiples: 64*6 + 128*2 + 192 (129) */
  cr_assert_eq(lr_arena_used(a), 64 * 6 + 128 * 2 + 192);
  cr_assert_eq(lr_arena_peak(a), lr_arena_used(a));
  lr_arena_free(a);
}

Test(arena, growth_across_blocks) {
  lr_arena *a = new_arena(1024);
  enum { N = 40 };
  unsigned char *p[N];
  for (int i = 0; i < N; i++) {
    p[i] = lr_arena_alloc(a, 100); /* 128 bytes each: 8 per block */
    cr_assert_not_null(p[i]);
    cr_assert_eq((uintptr_t)p[i] % 64, 0);
    memset(p[i], i, 100);
  }
  for (int i = 0; i < N; i++) {
    for (int k = 0; k < 100; k++) cr_assert_eq(p[i][k], (unsigned char)i, "allocation %d overwritten", i);
    for (int j = 0; j < i; j++)
      cr_assert(p[i] + 100 <= p[j] || p[j] + 100 <= p[i], "allocations %d and %d overlap", i, j);
  }
  cr_assert_eq(lr_arena_used(a), N * 128);
  lr_arena_free(a);
}

Test(arena, larger_than_a_block) {
  lr_arena *a = new_arena(1024);
  unsigned char *s1 = lr_arena_alloc(a, 100);
  unsigned char *big = lr_arena_alloc(a, 10000);
  unsigned char *s2 = lr_arena_alloc(a, 100);
  unsigned char *big2 = lr_arena_alloc(a, 5000);
  cr_assert(s1 && big && s2 && big2);
  cr_assert_eq((uintptr_t)big % 64, 0);
  memset(big, 1, 10000);
  memset(big2, 2, 5000);
  memset(s1, 3, 100);
  memset(s2, 4, 100);
  for (int i = 0; i < 10000; i++) cr_assert_eq(big[i], 1);
  for (int i = 0; i < 5000; i++) cr_assert_eq(big2[i], 2);
  cr_assert_eq(s1[99], 3);
  cr_assert_eq(s2[0], 4);
  cr_assert_eq(lr_arena_used(a), 128 + 10048 + 128 + 5056);
  lr_arena_free(a);
}

Test(arena, huge_requests_fail_cleanly) {
  lr_arena *a = new_arena(1024);
  /* rounding these up would wrap around to a tiny size */
  cr_assert_null(lr_arena_alloc(a, SIZE_MAX));
  cr_assert_null(lr_arena_alloc(a, SIZE_MAX - 10));
  cr_assert_null(lr_arena_alloc(NULL, 8));
  cr_assert_eq(lr_arena_used(a), 0);
  cr_assert_not_null(lr_arena_alloc(a, 8), "still usable");
  lr_arena_free(a);
}

/* One "training step": a fixed sequence of requests, some larger than a block. */
static void step(lr_arena *a, void **out) {
  const size_t sizes[] = {100, 3000, 500, 500, 700, 10000, 64, 900, 900, 900, 20000, 1};
  for (int i = 0; i < 12; i++) {
    out[i] = lr_arena_alloc(a, sizes[i]);
    memset(out[i], i, sizes[i]);
  }
}

Test(arena, rewind_reuses_blocks) {
  lr_arena *a = new_arena(2048);
  void *warm = lr_arena_alloc(a, 200); /* something before the mark survives */
  memset(warm, 0x5A, 200);
  size_t used0 = lr_arena_used(a);
  lr_arena_mark m = lr_arena_get_mark(a);
  void *first[12], *again[12];
  step(a, first);
  size_t used1 = lr_arena_used(a), peak1 = lr_arena_peak(a);
  cr_assert_gt(used1, used0);
  for (int k = 0; k < 5; k++) {
    lr_arena_rewind(a, m);
    cr_assert_eq(lr_arena_used(a), used0, "rewind restores the usage");
    step(a, again);
    for (int i = 0; i < 12; i++)
      cr_assert_eq(again[i], first[i], "step %d request %d: a new address means a new block was malloc'ed", k, i);
    cr_assert_eq(lr_arena_used(a), used1);
    cr_assert_eq(lr_arena_peak(a), peak1, "steady state needs no more memory");
  }
  for (int i = 0; i < 200; i++) cr_assert_eq(((unsigned char *)warm)[i], 0x5A, "memory before the mark is untouched");
  lr_arena_free(a);
}

Test(arena, nested_marks_and_reset) {
  lr_arena *a = new_arena(1024);
  lr_arena_alloc(a, 100);
  lr_arena_mark m1 = lr_arena_get_mark(a);
  size_t u1 = lr_arena_used(a);
  void *x = lr_arena_alloc(a, 2000);
  lr_arena_mark m2 = lr_arena_get_mark(a);
  size_t u2 = lr_arena_used(a);
  void *y = lr_arena_alloc(a, 900);
  lr_arena_alloc(a, 900);
  lr_arena_rewind(a, m2);
  cr_assert_eq(lr_arena_used(a), u2);
  cr_assert_eq(lr_arena_alloc(a, 900), y, "the space after m2 is handed out again");
  lr_arena_rewind(a, m1);
  cr_assert_eq(lr_arena_used(a), u1);
  cr_assert_eq(lr_arena_alloc(a, 2000), x);
  size_t peak = lr_arena_peak(a);
  lr_arena_reset(a);
  cr_assert_eq(lr_arena_used(a), 0);
  cr_assert_eq(lr_arena_peak(a), peak, "the peak is a high-water mark");
  /* a zeroed mark is the empty arena */
  lr_arena_alloc(a, 10);
  lr_arena_mark zero = {0};
  lr_arena_rewind(a, zero);
  cr_assert_eq(lr_arena_used(a), 0);
  lr_arena_free(a);
}

Test(arena, calloc_zeroes_reused_memory) {
  lr_arena *a = new_arena(1024);
  lr_arena_mark m = lr_arena_get_mark(a);
  unsigned char *p = lr_arena_alloc(a, 300);
  memset(p, 0xFF, 300);
  lr_arena_rewind(a, m);
  unsigned char *q = lr_arena_calloc(a, 300);
  cr_assert_eq(q, p);
  for (int i = 0; i < 300; i++) cr_assert_eq(q[i], 0);
  lr_arena_free(a);
}

static int order[16], n_order;
static void record(void *p) { order[n_order++] = (int)(intptr_t)p; }

Test(arena, cleanups_newest_first_after_mark) {
  lr_arena *a = new_arena(1024);
  OK(lr_arena_on_rewind(a, record, (void *)1));
  lr_arena_mark m = lr_arena_get_mark(a);
  OK(lr_arena_on_rewind(a, record, (void *)2));
  lr_arena_alloc(a, 5000); /* cleanups on both sides of a block change */
  OK(lr_arena_on_rewind(a, record, (void *)3));
  OK(lr_arena_on_rewind(a, record, (void *)4));
  lr_arena_rewind(a, m);
  cr_assert_eq(n_order, 3, "only the cleanups after the mark run");
  cr_assert(order[0] == 4 && order[1] == 3 && order[2] == 2, "newest first: %d %d %d", order[0], order[1], order[2]);
  lr_arena_rewind(a, m);
  cr_assert_eq(n_order, 3, "a cleanup runs once");
  OK(lr_arena_on_rewind(a, record, (void *)5));
  lr_arena_free(a); /* runs the rest */
  cr_assert_eq(n_order, 5);
  cr_assert(order[3] == 5 && order[4] == 1);
  cr_assert_eq(lr_arena_on_rewind(NULL, record, NULL), LR_ERR_ARG);
}

Test(arena, tape_slot_follows_marks) {
  lr_arena *a = new_arena(1024);
  void **slot = lr_arena_tape_slot(a);
  cr_assert_null(*slot);
  lr_arena_mark m = lr_arena_get_mark(a);
  *slot = (void *)0x1234;
  lr_arena_mark m2 = lr_arena_get_mark(a);
  *slot = (void *)0x5678;
  lr_arena_rewind(a, m2);
  cr_assert_eq(*slot, (void *)0x1234);
  lr_arena_rewind(a, m);
  cr_assert_null(*slot);
  lr_arena_free(a);
}

Test(arena, contains) {
  lr_arena *a = new_arena(1024);
  lr_arena_mark m = lr_arena_get_mark(a);
  char *p = lr_arena_alloc(a, 100);
  char *big = lr_arena_alloc(a, 4000);
  cr_assert(lr_arena_contains(a, p) && lr_arena_contains(a, p + 99) && lr_arena_contains(a, big + 3999));
  int local;
  cr_assert(!lr_arena_contains(a, &local));
  cr_assert(!lr_arena_contains(a, NULL) && !lr_arena_contains(NULL, p));
  lr_arena_rewind(a, m);
  cr_assert(!lr_arena_contains(a, p) && !lr_arena_contains(a, big), "memory taken back is not contained");
  lr_arena_free(a);
}

Test(arena, use_switches_current) {
  lr_arena *def = lr_arena_current();
  cr_assert_not_null(def);
  cr_assert_eq(lr_arena_current(), def, "the default arena is made once");
  lr_arena *a = new_arena(1 << 16);
  lr_arena *prev = lr_arena_use(a);
  cr_assert_null(prev, "no arena was set: the default was in use");
  cr_assert_eq(lr_arena_current(), a);
  size_t used_def = lr_arena_used(def);
  lr_tensor *t;
  OK(lr_zeros(LR_DTYPE_F32, LR_SHAPE(100), &t));
  cr_assert(lr_arena_contains(a, t) && lr_arena_contains(a, t->data), "tensors come from the current arena");
  cr_assert(!lr_arena_contains(def, t));
  cr_assert_eq(lr_arena_used(def), used_def);
  lr_arena *b = new_arena(1 << 16);
  cr_assert_eq(lr_arena_use(b), a);
  cr_assert_eq(lr_arena_use(a), b);
  lr_arena_free(b);
  cr_assert_eq(lr_arena_use(NULL), a);
  cr_assert_eq(lr_arena_current(), def, "NULL goes back to the default");
  /* freeing the current arena puts the thread back on its default arena */
  lr_arena_use(a);
  lr_arena_free(a);
  cr_assert_eq(lr_arena_current(), def);
}

Test(arena, default_arena_is_used_and_rewinds) {
  lr_arena *d = lr_arena_current();
  lr_arena_mark m = lr_arena_get_mark(d);
  size_t u = lr_arena_used(d);
  lr_tensor *t;
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(1000), &t));
  cr_assert(lr_arena_contains(d, t->data));
  cr_assert_geq(lr_arena_used(d), u + 8000);
  lr_arena_rewind(d, m);
  cr_assert_eq(lr_arena_used(d), u);
  lr_tensor *t2;
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(1000), &t2));
  cr_assert_eq(t2, t, "same addresses after the rewind");
  cr_assert_eq(t2->data, t->data);
  /* freeing the default arena explicitly is allowed: a new one is made on next use */
  lr_arena_free(d);
  lr_arena *d2 = lr_arena_current();
  cr_assert_not_null(d2);
  OK(lr_empty(LR_DTYPE_F64, LR_SHAPE(10), &t2));
  cr_assert(lr_arena_contains(d2, t2));
}

/* A thread that uses its default arena and ends: the arena must be released with the thread
 * (LeakSanitizer under --config=asan reports it otherwise). */
static void *thread_body(void *arg) {
  lr_tensor *t;
  lr_status s = lr_zeros(LR_DTYPE_F32, LR_SHAPE(1000), &t);
  *(lr_arena **)arg = lr_arena_current();
  return (void *)(intptr_t)s;
}

Test(arena, thread_default_arenas) {
  lr_arena *main_arena = lr_arena_current();
  for (int k = 0; k < 4; k++) {
    pthread_t th;
    lr_arena *theirs = NULL;
    cr_assert_eq(pthread_create(&th, NULL, thread_body, &theirs), 0);
    void *ret;
    pthread_join(th, &ret);
    cr_assert_eq((intptr_t)ret, LR_OK);
    cr_assert_not_null(theirs);
    cr_assert_neq(theirs, main_arena, "each thread has its own default arena");
  }
  cr_assert_eq(lr_arena_current(), main_arena);
}
