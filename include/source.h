/*
 * source: the sender's inputs, as an iterator.
 *
 * source_next() yields, for each item to send, its local path (for
 * messages), the relative name the receiver will see, its size (or
 * SOURCE_SIZE_UNKNOWN, for inputs whose length is known only at their end),
 * mode, mtime and an open descriptor.  What is described is what is read:
 * size, mode and mtime come from fstat() on the open descriptor.  An item
 * is a regular file named on the command line, sent under its base name,
 * or, with recursive on, a file or directory of a tree named there: the
 * tree is walked as it is sent (one opendir per directory, at most
 * NAME_DEPTH_MAX open at once, never a list of names), each entry sent as
 * the tree's base name plus its path inside the tree, and each directory
 * yielded after everything in it (post-order), so the receiver can set
 * its mtime last.  Inside a tree symbolic links are not followed and
 * FIFOs, devices and sockets are not opened: both are skipped
 * (SOURCE_SKIPPED); hard links are separate files.  A path named on the
 * command line is opened as given (a symlink there is followed); there a
 * pipe, FIFO, character device or socket (/dev/stdin, <(...)) is a
 * stream: read to its end, size SOURCE_SIZE_UNKNOWN, mode 0666 less the
 * umask, mtime the time it was opened.  "-" is standard input (a regular
 * file there is sent as one), and needs a name (source_set_name()).
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
	int is_dir;             /* a directory of a tree: fd -1, size 0 */
	const char *why;        /* after a failed source_next(): the reason */
};

/* source_next(): an entry of a tree that is not sent (it->path, it->why). */
#define SOURCE_SKIPPED 2

struct source;

/* An iterator over paths[0..n) (not copied: they must outlive it); with
 * recursive, a directory among them is sent as a tree, else it fails
 * with a reason that names -r.  NULL when out of memory. */
struct source *source_new(char *const *paths, int n, int recursive);
void source_free(struct source *s);
/* Every name sent begins with dir/ (tcpput HOST:DIR/): dir is a relative
 * name that passed name_validate(), without a trailing slash; copied.
 * -TCPX_E_BAD_NAME if it leaves no room for names. */
int source_set_prefix(struct source *s, const char *dir);
/* -L: inside trees, follow symbolic links (to files and directories) as
 * if they were what they point to; a link that leads back to a directory
 * being walked fails that entry (a loop), a dangling one fails too. */
void source_set_follow(struct source *s, int follow);
/* --name: the single argument (a file, "-", or with -r a tree's top) is
 * sent as name (after the prefix) instead of its base name.  Borrowed;
 * the caller checked it with name_validate() and that only one argument
 * is given. */
void source_set_name(struct source *s, const char *name);
/* 1 if an argument is a stream (or "-" is one), so the session asks for
 * TCPX_CAP_STREAM: one stat() per argument. */
int source_has_streams(const struct source *s);
/*
 * 1: *it is the next item, open.  0: nothing is left.  -TCPX_E_SYSTEM:
 * the next item could not be opened (it->path and it->why say which and
 * why); the iteration goes on with the one after at the next call.
 * SOURCE_SKIPPED: an entry of a tree left out on purpose (a symlink, a
 * special file), it->path and it->why say which and why.  it->name and
 * it->path need not point into one another.
 */
int source_next(struct source *s, struct source_item *it);
/* 1 if another item may follow (source_next() will not return 0 yet). */
int source_more(const struct source *s);
/* How many items the run names, and, if bytes is not NULL, what they hold
 * in all, for overall progress and ETA (one stat() per named path, and a
 * counting walk of each tree, files only, so only worth it when a
 * progress line is drawn; what cannot be stat()ed counts 0; without bytes
 * a tree counts 1). */
void source_totals(const struct source *s, unsigned *items, uint64_t *bytes);
/* After the declared size was read: 1 if the file changed meanwhile (its
 * size or mtime, by fstat() on the same descriptor, differ from those
 * the item declared), else 0 (also when that cannot be told: an item of
 * unknown size, or fstat() failing).  What was sent is still what was
 * read; this only says that the file no longer is that. */
int source_changed(const struct source_item *it);
/* Reads up to cap bytes (fewer only at the end, or, from a stream, when
 * its producer pauses: what it gave so far goes at once); the count, 0 at
 * the end, or -TCPX_E_SYSTEM with errno kept. */
ssize_t source_read(struct source_item *it, uint8_t *buf, size_t cap);
/* 1 if source_read() would not wait now (bytes, or the end, are there):
 * for a stream, whose producer may pause. */
int source_readable(const struct source_item *it);
/* Reads from offset on next (a file read ahead for --checksum, or sent
 * from a resume offset); 0, or -TCPX_E_SYSTEM with errno kept. */
int source_seek(struct source_item *it, uint64_t offset);
void source_close(struct source_item *it);

#endif
