/*
 * store: every write the receiver makes, relative to one directory fd.
 *
 * The directory given with -d is opened once; after that every operation is
 * an *at() call relative to that descriptor or to a descriptor of one of its
 * subdirectories, each opened with O_NOFOLLOW | O_DIRECTORY (through openat2
 * with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it).  No
 * path string built from remote input reaches a path-based system call, and
 * a symlink swapped in by a local user at any moment cannot redirect a write,
 * rename, chmod or utime outside the directory.  Names must have passed
 * name_validate() first.
 *
 * A file is written to a temporary name ".tcpx-<random>.part" in its final
 * directory (created 0600, O_EXCL), and only store_commit() gives it its
 * final name: renameat2(RENAME_NOREPLACE) by default, so an existing file
 * is never replaced, or an atomic renameat() with overwrite on.  The
 * temporary namespace is reserved (names.h refuses it), so a received name
 * can never collide with a temporary file, and store_clean_stale() removes
 * what a killed receiver left.  Errors: -TCPX_E_* with errno kept.
 */
#ifndef TCPX_STORE_H
#define TCPX_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct store {
	int dirfd;
	int overwrite;
	mode_t umask;
};

struct store_file {
	int fd;                 /* the temporary file, -1 when none */
	int parentfd;           /* its directory */
	int own_parent;         /* parentfd is ours to close (not st->dirfd) */
	char tmpname[32];
	char final[256];        /* last component of the name */
	uint32_t mode;
	uint64_t written;
};

/* Creates dir if missing (mode 0755 less umask), opens it. */
int store_open(struct store *st, const char *dir, int overwrite);
void store_close(struct store *st);
/* Removes temporary files left by a killed receiver; returns how many. */
int store_clean_stale(struct store *st);

/* Opens (creating) the parent directories of name and a temporary file
 * beside the final name.  -TCPX_E_EXISTS if the final name exists and
 * overwrite is off, -TCPX_E_NO_SPACE if size cannot fit (statvfs). */
int store_create(struct store *st, const uint8_t *name, size_t len,
		uint32_t mode, uint64_t size, struct store_file *f);
int store_write(struct store_file *f, const uint8_t *p, size_t n);
/* Sets mode (setuid/setgid/sticky dropped, umask applied) and mtime, then
 * renames the temporary file to its final name. Closes f either way. */
int store_commit(struct store *st, struct store_file *f, int64_t mtime_sec,
		 uint32_t mtime_nsec);
/* Removes the temporary file and closes f; harmless on a closed f. */
void store_discard(struct store_file *f);
void store_file_init(struct store_file *f);
int store_file_active(const struct store_file *f);

#endif
