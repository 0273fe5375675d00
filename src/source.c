/* source: the sender's input files (source.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "source.h"

#define READAHEAD_HINT_MIN (1u << 20)

int source_open(const char *path, struct source_file *f)
{
	struct stat sb;
	const char *slash;

	memset(f, 0, sizeof(*f));
	f->path = path;
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0)
		return -TCPX_E_SYSTEM;
	if (fstat(f->fd, &sb) < 0)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		errno = S_ISDIR(sb.st_mode) ? EISDIR : ENODEV;
		goto fail;
	}
	slash = strrchr(path, '/');
	f->name = slash ? slash + 1 : path;
	f->size = (uint64_t)sb.st_size;
	f->mode = (uint32_t)sb.st_mode & 07777;
	f->mtime_sec = sb.st_mtim.tv_sec;
	f->mtime_nsec = (uint32_t)sb.st_mtim.tv_nsec;
	/* Read-ahead hint: worth a system call only for large files. */
	if (f->size >= READAHEAD_HINT_MIN)
		posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
fail:;
	int saved = errno;
	close(f->fd);
	f->fd = -1;
	errno = saved;
	return -TCPX_E_SYSTEM;
}

ssize_t source_read(struct source_file *f, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		ssize_t n = read(f->fd, buf + got, cap - got);
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

void source_close(struct source_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}
