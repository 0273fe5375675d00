/*
 * source: the sender's inputs.  A source file is opened once, checked to be
 * a regular file, and read once from start to end; its size, mode and mtime
 * come from fstat() on the open descriptor, so what is described is what is
 * read.  Errors: -TCPX_E_* with errno kept.
 */
#ifndef TCPX_SOURCE_H
#define TCPX_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct source_file {
	int fd;
	const char *path;       /* as given on the command line */
	const char *name;       /* base name sent to the receiver (in path) */
	uint64_t size;
	uint32_t mode;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

int source_open(const char *path, struct source_file *f);
/* Reads up to cap bytes (fewer only at end of file); the count, or
 * -TCPX_E_SYSTEM. */
ssize_t source_read(struct source_file *f, uint8_t *buf, size_t cap);
void source_close(struct source_file *f);

#endif
