/*
 * source: the sender's inputs, as an iterator.
 *
 * source_next() yields, for each item to send, its local path (for
 * messages), the relative name the receiver will see, its size (or
 * SOURCE_SIZE_UNKNOWN, for inputs whose length is known only at their end),
 * mode, mtime and an open descriptor.  What is described is what is read:
 * size, mode and mtime come from fstat() on the open descriptor.  Today an
 * item is a regular file named on the command line, sent under its base
 * name; trees and standard input are further kinds of item yielded here,
 * so the sending loop does not change when they arrive.
 *
 * Memory: the source owns the strings an item points to; they stay valid
 * until the next source_next() call (copy what must live longer).  The
 * item's descriptor is the caller's to close with source_close().
 */
#ifndef TCPX_SOURCE_H
#define TCPX_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SOURCE_SIZE_UNKNOWN UINT64_MAX

struct source_item {
	int fd;                 /* -1 when closed */
	const char *path;       /* local path, for messages */
	const char *name;       /* relative name sent to the receiver */
	uint64_t size;
	uint32_t mode;          /* permission bits */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *why;        /* after a failed source_next(): the reason */
};

struct source;

/* An iterator over paths[0..n) (not copied: they must outlive it); NULL
 * when out of memory. */
struct source *source_new(char *const *paths, int n);
void source_free(struct source *s);
/*
 * 1: *it is the next item, open.  0: nothing is left.  -TCPX_E_SYSTEM:
 * the next item could not be opened (it->path and it->why say which and
 * why); the iteration goes on with the one after at the next call.
 */
int source_next(struct source *s, struct source_item *it);
/* 1 if another item may follow (source_next() will not return 0 yet). */
int source_more(const struct source *s);
/* How many items the run names, and, if bytes is not NULL, what they hold
 * in all, for overall progress and ETA (one stat() per named path, so only
 * worth it when a progress line is drawn; what cannot be stat()ed counts
 * 0). */
void source_totals(const struct source *s, unsigned *items, uint64_t *bytes);
/* After the declared size was read: 1 if the file changed meanwhile (its
 * size or mtime, by fstat() on the same descriptor, differ from those
 * the item declared), else 0 (also when that cannot be told: an item of
 * unknown size, or fstat() failing).  What was sent is still what was
 * read; this only says that the file no longer is that. */
int source_changed(const struct source_item *it);
/* Reads up to cap bytes (fewer only at the end); the count, or
 * -TCPX_E_SYSTEM with errno kept. */
ssize_t source_read(struct source_item *it, uint8_t *buf, size_t cap);
void source_close(struct source_item *it);

#endif
