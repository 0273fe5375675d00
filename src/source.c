/* source: the sender's inputs, as an iterator (source.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "source.h"

#define READAHEAD_HINT_MIN (1u << 20)

struct source {
	char *const *paths;
	int n, next;
};

struct source *source_new(char *const *paths, int n)
{
	struct source *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->paths = paths;
	s->n = n;
	return s;
}

void source_free(struct source *s)
{
	free(s);
}

int source_more(const struct source *s)
{
	return s->next < s->n;
}

void source_totals(const struct source *s, unsigned *items, uint64_t *bytes)
{
	struct stat sb;
	*items = (unsigned)s->n;
	if (!bytes)
		return;
	*bytes = 0;
	for (int i = 0; i < s->n; i++)
		if (stat(s->paths[i], &sb) == 0 && S_ISREG(sb.st_mode))
			*bytes += (uint64_t)sb.st_size;
}

static int fail(struct source_item *it, const char *why)
{
	int saved = errno;
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
	it->why = why;
	errno = saved;
	return -TCPX_E_SYSTEM;
}

static int open_file(const char *path, struct source_item *it)
{
	struct stat sb;
	const char *slash = strrchr(path, '/');

	memset(it, 0, sizeof(*it));
	it->path = it->name = path;
	it->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (it->fd < 0 || fstat(it->fd, &sb) < 0)
		return fail(it, strerror(errno));
	if (S_ISDIR(sb.st_mode))
		return fail(it, "is a directory (send the files in it)");
	if (!S_ISREG(sb.st_mode))
		return fail(it, "not a regular file");
	it->name = slash ? slash + 1 : path;
	it->size = (uint64_t)sb.st_size;
	it->mode = (uint32_t)sb.st_mode & 07777;
	it->mtime_sec = sb.st_mtim.tv_sec;
	it->mtime_nsec = (uint32_t)sb.st_mtim.tv_nsec;
	/* Read-ahead hint: worth a system call only for large files. */
	if (it->size >= READAHEAD_HINT_MIN)
		posix_fadvise(it->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 1;
}

int source_next(struct source *s, struct source_item *it)
{
	if (s->next >= s->n) {
		memset(it, 0, sizeof(*it));
		it->fd = -1;
		return 0;
	}
	return open_file(s->paths[s->next++], it);
}

int source_changed(const struct source_item *it)
{
	struct stat sb;

	if (it->fd < 0 || it->size == SOURCE_SIZE_UNKNOWN || fstat(it->fd, &sb) < 0)
		return 0;
	return (uint64_t)sb.st_size != it->size ||
	       sb.st_mtim.tv_sec != it->mtime_sec ||
	       (uint32_t)sb.st_mtim.tv_nsec != it->mtime_nsec;
}

ssize_t source_read(struct source_item *it, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(it->fd, buf + got, cap - got);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -TCPX_E_SYSTEM;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

void source_close(struct source_item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
}
