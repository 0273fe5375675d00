/*
 * fuzz_alloc: the fuzz build's malloc for the library, recycling big blocks.
 *
 * Why: receiver_new() and sender_new() allocate 0.8 and 1.6 MiB, mostly in
 * blocks above the 128 KiB that ASan's size-class allocator serves, so
 * every one of them is an mmap() and munmap() with fresh shadow memory and
 * page faults: over half the time of a run, for no extra checking.  The
 * fuzz build compiles the library sources with -Dmalloc=tcpx_fuzz_malloc
 * (and calloc, realloc, free); these keep big blocks on a shelf for the
 * next run instead of handing them back.
 *
 * What ASan still sees: each block is a real ASan heap block with its
 * redzones, so overflows are reported as before; a block on the shelf is
 * poisoned, so touching it after free() is a use-after-poison report; a
 * double free aborts here.  Each big block handed out reads as zeros, as
 * fresh mmap() memory does, so a run never sees an earlier run's bytes and a
 * crash reproduces in a fresh process.  Zeroing is by madvise(MADV_DONTNEED)
 * on the whole pages (the kernel hands back zero pages only where the next
 * run touches them) and memset() on the partial pages at the edges:
 * filling a 1.6 MiB sender with memset() every run cost a quarter of the
 * run time.  Small blocks go straight to ASan.  Not thread-safe: libFuzzer
 * runs one input at a time per process.
 */
#include <sanitizer/allocator_interface.h>
#include <sanitizer/asan_interface.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void *tcpx_fuzz_malloc(size_t n);
void *tcpx_fuzz_calloc(size_t count, size_t size);
void *tcpx_fuzz_realloc(void *p, size_t n);
void tcpx_fuzz_free(void *p);

#define BIG (128u * 1024u)
#define SLOTS 48

static struct slot {
	void *p;
	size_t n;
	int in_use;
} shelf[SLOTS];

/* Makes p[0..n) read as zeros, touching as little memory as possible. */
static void zero(void *p, size_t n)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, end = a + n;
	uintptr_t lo = (a + page - 1) & ~(page - 1), hi = end & ~(page - 1);

	if (lo >= hi || madvise((void *)lo, hi - lo, MADV_DONTNEED) != 0) {
		memset(p, 0, n);
		return;
	}
	memset(p, 0, lo - a);
	memset((void *)hi, 0, end - hi);
}

static struct slot *find(const void *p)
{
	for (int i = 0; i < SLOTS; i++)
		if (shelf[i].p == p)
			return &shelf[i];
	return NULL;
}

void *tcpx_fuzz_malloc(size_t n)
{
	struct slot *free_slot = NULL;

	if (n < BIG)
		return malloc(n);
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &shelf[i];
		if (s->p && !s->in_use && s->n == n) {
			s->in_use = 1;
			ASAN_UNPOISON_MEMORY_REGION(s->p, n);
			zero(s->p, n);
			return s->p;
		}
		if (!s->p && !free_slot)
			free_slot = s;
	}
	void *p = malloc(n);
	if (p) {
		memset(p, 0, n);
		if (free_slot) {
			free_slot->p = p;
			free_slot->n = n;
			free_slot->in_use = 1;
		}
	}
	return p;
}

void *tcpx_fuzz_calloc(size_t count, size_t size)
{
	if (size && count > SIZE_MAX / size)
		return NULL;
	if (count * size < BIG)
		return calloc(count, size);
	return tcpx_fuzz_malloc(count * size);     /* reads as zeros */
}

void tcpx_fuzz_free(void *p)
{
	struct slot *s;

	if (!p)
		return;
	s = find(p);
	if (!s) {
		free(p);
		return;
	}
	if (!s->in_use) {
		fprintf(stderr, "fuzz_alloc: double free of %p\n", p);
		abort();
	}
	s->in_use = 0;
	ASAN_POISON_MEMORY_REGION(p, s->n);
}

void *tcpx_fuzz_realloc(void *p, size_t n)
{
	struct slot *s = p ? find(p) : NULL;

	if (!s && n < BIG)
		return realloc(p, n);
	void *q = tcpx_fuzz_malloc(n);
	if (q && p) {
		size_t old = s ? s->n : __sanitizer_get_allocated_size(p);
		memcpy(q, p, old < n ? old : n);
		tcpx_fuzz_free(p);
	}
	return q;
}
