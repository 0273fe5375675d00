/* store: the receiver's disk, relative to one directory fd (store.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "error.h"
#include "names.h"
#include "store.h"

#define DIR_MODE 0777           /* less the umask, as mkdir(1) does */
#define STALE_DEPTH_MAX 64

/* openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it
 * (Linux >= 5.6); otherwise openat with O_NOFOLLOW, which, applied to one
 * component at a time from a descriptor we hold, gives the same guarantee. */
static int open_beneath(int dirfd, const char *comp, int flags, mode_t mode)
{
	static int have_openat2 = 1;
	if (have_openat2) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
			.mode = (flags & O_CREAT) ? mode : 0,
			.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
				   RESOLVE_NO_MAGICLINKS,
		};
		long fd = syscall(SYS_openat2, dirfd, comp, &how, sizeof(how));
		if (fd >= 0 || errno != ENOSYS)
			return (int)fd;
		have_openat2 = 0;
	}
	return openat(dirfd, comp, flags | O_NOFOLLOW | O_CLOEXEC, mode);
}

/* Maps a failed system call to the verdict the sender will see. */
static int errno_code(int err)
{
	switch (err) {
	case ENOSPC:
	case EDQUOT:
		return -TCPX_E_NO_SPACE;
	case EFBIG:
		return -TCPX_E_TOO_BIG;
	case EACCES:
	case EPERM:
	case EROFS:
	case ELOOP:     /* a symlink where a directory should be */
	case EXDEV:     /* RESOLVE_BENEATH refused an escape */
	case ENOTDIR:   /* a file (or, with openat2, a symlink) where a
			   directory should be */
		return -TCPX_E_DENIED;
	case EEXIST:
	case EISDIR:
		return -TCPX_E_EXISTS;
	default:
		return -TCPX_E_IO;
	}
}

int store_open(struct store *st, const char *dir, int overwrite)
{
	st->overwrite = overwrite;
	st->umask = umask(0);
	umask(st->umask);
	if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST)
		return -TCPX_E_SYSTEM;
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return st->dirfd < 0 ? -TCPX_E_SYSTEM : 0;
}

void store_close(struct store *st)
{
	if (st->dirfd >= 0)
		close(st->dirfd);
	st->dirfd = -1;
}

static int is_temp_name(const char *n)
{
	size_t len = strlen(n), pl = strlen(NAME_TEMP_PREFIX);
	return len > pl + 5 && strncmp(n, NAME_TEMP_PREFIX, pl) == 0 &&
	       strcmp(n + len - 5, ".part") == 0;
}

static int clean_dir(int fd, int depth)
{
	int count = 0, dfd = dup(fd);
	DIR *d;
	struct dirent *e;

	if (dfd < 0)
		return 0;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		struct stat sb;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (fstatat(fd, e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(sb.st_mode) && is_temp_name(e->d_name)) {
			if (unlinkat(fd, e->d_name, 0) == 0)
				count++;
		} else if (S_ISDIR(sb.st_mode) && depth < STALE_DEPTH_MAX) {
			int sub = open_beneath(fd, e->d_name,
					       O_RDONLY | O_DIRECTORY, 0);
			if (sub >= 0) {
				count += clean_dir(sub, depth + 1);
				close(sub);
			}
		}
	}
	closedir(d);
	return count;
}

int store_clean_stale(struct store *st)
{
	return clean_dir(st->dirfd, 0);
}

/* ".tcpx-<random 8 hex><counter 8 hex>.part": unpredictable across runs,
 * unique within one, and O_EXCL catches anything else.  One getrandom()
 * per process rather than one per file. */
static uint32_t temp_prefix;
static _Atomic uint32_t temp_counter;
static pthread_once_t temp_once = PTHREAD_ONCE_INIT;

static void temp_prefix_init(void)
{
	randombytes_buf(&temp_prefix, sizeof(temp_prefix));
}

static void temp_name(char *out, size_t cap)
{
	pthread_once(&temp_once, temp_prefix_init);
	snprintf(out, cap, NAME_TEMP_PREFIX "%08x%08x.part", (unsigned)temp_prefix,
		 (unsigned)++temp_counter);
}

/* Opens the directory that will hold name's last component, creating the
 * missing ones; the last component goes to f->final. */
static int open_parent(struct store *st, const uint8_t *name, size_t len,
		       struct store_file *f)
{
	int cur = st->dirfd, next;
	size_t start = 0;
	char comp[NAME_COMPONENT_MAX + 1];

	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		size_t clen = i - start;
		if (clen == 0 || clen > NAME_COMPONENT_MAX)
			goto bad;
		memcpy(comp, name + start, clen);
		comp[clen] = '\0';
		start = i + 1;
		if (i == len) {
			memcpy(f->final, comp, clen + 1);
			f->parentfd = cur;
			f->own_parent = cur != st->dirfd;
			return 0;
		}
		next = open_beneath(cur, comp, O_RDONLY | O_DIRECTORY, 0);
		if (next < 0 && errno == ENOENT) {
			if (mkdirat(cur, comp, DIR_MODE) < 0 && errno != EEXIST)
				goto fail;
			next = open_beneath(cur, comp, O_RDONLY | O_DIRECTORY, 0);
		}
		if (next < 0)
			goto fail;
		if (cur != st->dirfd)
			close(cur);
		cur = next;
	}
bad:
	errno = EINVAL;
fail:;
	int rc = errno_code(errno);
	if (cur != st->dirfd)
		close(cur);
	return rc;
}

int store_create(struct store *st, const uint8_t *name, size_t len,
		uint32_t mode, uint64_t size, struct store_file *f)
{
	struct stat sb;
	struct statvfs vfs;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd = f->parentfd = -1;
	f->mode = mode;
	rc = open_parent(st, name, len, f);
	if (rc < 0)
		return rc;
	/* Early refusal saves the sender a useless upload; commit checks
	 * again atomically (RENAME_NOREPLACE). */
	if (fstatat(f->parentfd, f->final, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!st->overwrite || S_ISDIR(sb.st_mode))) {
		rc = -TCPX_E_EXISTS;
		goto fail;
	}
	if (size > 0 && fstatvfs(f->parentfd, &vfs) == 0 && vfs.f_frsize &&
	    size / vfs.f_frsize >= (uint64_t)vfs.f_bavail) {
		errno = ENOSPC;
		rc = -TCPX_E_NO_SPACE;
		goto fail;
	}
	temp_name(f->tmpname, sizeof(f->tmpname));
	f->fd = open_beneath(f->parentfd, f->tmpname,
			     O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (f->fd < 0) {
		rc = errno_code(errno);
		goto fail;
	}
	return 0;
fail:
	if (f->own_parent)
		close(f->parentfd);
	f->parentfd = -1;
	return rc;
}

int store_write(struct store_file *f, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(f->fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno_code(errno);
		}
		p += w;
		n -= (size_t)w;
		f->written += (uint64_t)w;
	}
	return 0;
}

static void close_file(struct store_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	if (f->parentfd >= 0 && f->own_parent)
		close(f->parentfd);
	f->fd = f->parentfd = -1;
	f->own_parent = 0;
}

int store_commit(struct store *st, struct store_file *f, int64_t mtime_sec,
		 uint32_t mtime_nsec)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)mtime_sec, .tv_nsec = mtime_nsec },
	};
	int rc = 0, fd = f->fd;

	/* No setuid, setgid or sticky bit from a remote peer, ever. */
	if (fchmod(fd, (mode_t)(f->mode & 0777 & ~st->umask)) < 0 ||
	    futimens(fd, ts) < 0) {
		rc = errno_code(errno);
		goto fail;
	}
	f->fd = -1;
	if (close(fd) < 0) {     /* deferred write errors surface here */
		rc = errno_code(errno);
		goto fail;
	}
	if (st->overwrite)
		rc = renameat(f->parentfd, f->tmpname, f->parentfd, f->final);
	else
		rc = renameat2(f->parentfd, f->tmpname, f->parentfd, f->final,
			       RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL && !st->overwrite) {
		/* File systems without RENAME_NOREPLACE: link() fails on an
		 * existing name just as atomically. */
		rc = linkat(f->parentfd, f->tmpname, f->parentfd, f->final, 0);
		if (rc == 0)
			unlinkat(f->parentfd, f->tmpname, 0);
	}
	if (rc < 0) {
		rc = errno_code(errno);
		goto fail;
	}
	close_file(f);
	return 0;
fail:
	store_discard(f);
	return rc;
}

void store_discard(struct store_file *f)
{
	if (f->parentfd >= 0 && f->tmpname[0])
		unlinkat(f->parentfd, f->tmpname, 0);
	f->tmpname[0] = '\0';
	close_file(f);
}

void store_file_init(struct store_file *f)
{
	memset(f, 0, sizeof(*f));
	f->fd = f->parentfd = -1;
}

int store_file_active(const struct store_file *f)
{
	return f->fd >= 0;
}
