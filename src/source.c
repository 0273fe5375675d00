/* source: the sender's inputs, as an iterator (source.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "names.h"
#include "source.h"

#define READAHEAD_HINT_MIN (1u << 20)
/* A local path: the argument and the path inside its tree. */
#define SOURCE_PATH_MAX (PATH_MAX + NAME_LEN_MAX + 2)

/* One open directory of the walk: where its path and name end. */
struct walk_dir {
	DIR *d;
	size_t path_len, name_len;
	struct stat sb;
};

struct source {
	char *const *paths;
	int n, next;
	int recursive;
	int depth;                      /* open directories in stack */
	struct walk_dir stack[NAME_DEPTH_MAX];
	char path[SOURCE_PATH_MAX + 1];
	char name[NAME_LEN_MAX + 1];
	size_t prefix_len;              /* name[0..prefix_len): "DIR/" */
	int follow;                     /* -L */
	const char *rename;             /* --name: the one argument's name */
};

struct source *source_new(char *const *paths, int n, int recursive)
{
	struct source *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->paths = paths;
	s->n = n;
	s->recursive = recursive;
	return s;
}

void source_free(struct source *s)
{
	if (!s)
		return;
	while (s->depth > 0)
		closedir(s->stack[--s->depth].d);
	free(s);
}

int source_set_prefix(struct source *s, const char *dir)
{
	size_t n = strlen(dir);
	if (n + 2 > NAME_LEN_MAX)
		return -TCPX_E_BAD_NAME;
	memcpy(s->name, dir, n);
	s->name[n] = '/';
	s->name[n + 1] = '\0';
	s->prefix_len = n + 1;
	return 0;
}

void source_set_follow(struct source *s, int follow)
{
	s->follow = follow;
}

void source_set_name(struct source *s, const char *name)
{
	s->rename = name;
}

/* An input read until its end, whose size nobody knows before: a pipe,
 * a FIFO, a terminal or other character device, a socket. */
static int is_stream(const struct stat *sb)
{
	return S_ISFIFO(sb->st_mode) || S_ISCHR(sb->st_mode) ||
	       S_ISSOCK(sb->st_mode);
}

static int stat_arg(const char *path, struct stat *sb)
{
	return strcmp(path, "-") == 0 ? fstat(0, sb) : stat(path, sb);
}

int source_has_streams(const struct source *s)
{
	struct stat sb;
	for (int i = 0; i < s->n; i++)
		if (stat_arg(s->paths[i], &sb) == 0 && is_stream(&sb))
			return 1;
	return 0;
}

int source_more(const struct source *s)
{
	return s->depth > 0 || s->next < s->n;
}

/* Files below dfd (closed here) and their bytes, for the progress line. */
static void count_tree(int dfd, int depth, unsigned *items, uint64_t *bytes)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	struct stat sb;

	if (!d) {
		close(dfd);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (S_ISREG(sb.st_mode)) {
			++*items;
			*bytes += (uint64_t)sb.st_size;
		} else if (S_ISDIR(sb.st_mode) && depth + 1 < (int)NAME_DEPTH_MAX) {
			int fd = openat(dirfd(d), e->d_name, O_RDONLY |
					O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				count_tree(fd, depth + 1, items, bytes);
		}
	}
	closedir(d);
}

void source_totals(const struct source *s, unsigned *items, uint64_t *bytes)
{
	struct stat sb;
	*items = (unsigned)s->n;
	if (!bytes)
		return;
	*bytes = 0;
	*items = 0;
	for (int i = 0; i < s->n; i++) {
		if (stat_arg(s->paths[i], &sb) < 0)
			continue;
		if (S_ISREG(sb.st_mode)) {
			++*items;
			*bytes += (uint64_t)sb.st_size;
		} else if (S_ISDIR(sb.st_mode) && s->recursive) {
			int fd = open(s->paths[i], O_RDONLY | O_DIRECTORY |
				      O_CLOEXEC);
			if (fd >= 0)
				count_tree(fd, 0, items, bytes);
		} else {
			++*items;
		}
	}
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

static void describe(struct source_item *it, const struct stat *sb)
{
	it->size = S_ISREG(sb->st_mode) ? (uint64_t)sb->st_size : 0;
	it->mode = (uint32_t)sb->st_mode & 07777;
	it->mtime_sec = sb->st_mtim.tv_sec;
	it->mtime_nsec = (uint32_t)sb->st_mtim.tv_nsec;
	/* Read-ahead hint: worth a system call only for large files. */
	if (it->fd >= 0 && it->size >= READAHEAD_HINT_MIN)
		posix_fadvise(it->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
}

/* The name a tree is sent under: the base name of its path, as cp -r and
 * scp -r do ("photos/" and "a/photos" both give "photos"); "." and ".."
 * give the name of the directory they are. */
static int tree_base(const char *path, char *out, size_t cap)
{
	char *real = NULL;
	const char *base, *end;
	size_t len = strlen(path);

	while (len > 1 && path[len - 1] == '/')
		len--;
	end = path + len;
	base = memrchr(path, '/', len);
	base = base ? base + 1 : path;
	if ((end - base == 1 && base[0] == '.') ||
	    (end - base == 2 && base[0] == '.' && base[1] == '.')) {
		if (!(real = realpath(path, NULL)))
			return -1;
		base = strrchr(real, '/') + 1;
		end = base + strlen(base);
	}
	len = (size_t)(end - base);
	if (len == 0 || len >= cap) {
		free(real);
		errno = EINVAL;
		return -1;
	}
	memcpy(out, base, len);
	out[len] = '\0';
	free(real);
	return 0;
}

/* Opens a tree's top directory (fd, already open) as the first level of
 * the walk. */
static int start_tree(struct source *s, const char *path, struct source_item *it,
		      const struct stat *sb)
{
	size_t plen = strlen(path);

	if (plen > SOURCE_PATH_MAX - NAME_LEN_MAX - 1)
		return fail(it, "path too long");
	if (s->rename && strlen(s->rename) < sizeof(s->name) - s->prefix_len)
		strcpy(s->name + s->prefix_len, s->rename);
	else if (s->rename)
		return fail(it, "name too long to send (more than 4096 bytes)");
	else if (tree_base(path, s->name + s->prefix_len,
			   sizeof(s->name) - s->prefix_len) < 0)
		return fail(it, "has no name to send the tree under");
	while (plen > 1 && path[plen - 1] == '/')
		plen--;
	memcpy(s->path, path, plen);
	s->path[plen] = '\0';
	struct walk_dir *w = &s->stack[0];
	w->d = fdopendir(it->fd);
	if (!w->d)
		return fail(it, strerror(errno));
	it->fd = -1;
	w->path_len = plen;
	w->name_len = strlen(s->name);
	w->sb = *sb;
	s->depth = 1;
	return 0;
}

static int open_arg(struct source *s, const char *path, struct source_item *it)
{
	struct stat sb;
	const char *slash = strrchr(path, '/');

	it->path = it->name = path;
	if (strcmp(path, "-") == 0) {   /* standard input, a copy to close */
		it->fd = fcntl(0, F_DUPFD_CLOEXEC, 0);
		if (!s->rename) {
			errno = EINVAL;
			return fail(it, "standard input has no name: give it one "
				    "with --name NAME");
		}
	} else {
		it->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	}
	if (it->fd < 0 || fstat(it->fd, &sb) < 0)
		return fail(it, strerror(errno));
	if (S_ISDIR(sb.st_mode) && !s->recursive)
		return fail(it, "is a directory (use -r to send it with its contents)");
	if (S_ISDIR(sb.st_mode))
		return start_tree(s, path, it, &sb);
	if (!S_ISREG(sb.st_mode) && !is_stream(&sb))
		return fail(it, "not a regular file, a pipe or a device");
	it->name = s->rename ? s->rename : slash ? slash + 1 : path;
	if (s->prefix_len) {    /* "DIR/" + the base name */
		size_t n = strlen(it->name);
		if (s->prefix_len + n > NAME_LEN_MAX)
			return fail(it, "name too long to send (more than 4096 bytes)");
		memmove(s->name + s->prefix_len, it->name, n + 1);
		it->name = s->name;
	}
	describe(it, &sb);
	if (is_stream(&sb)) {
		/* Read to its end, sent as of unknown size; it gets what a
		 * new file gets: 0666 less the umask, and the time now. */
		struct timespec now;
		mode_t um = umask(0);
		umask(um);
		clock_gettime(CLOCK_REALTIME, &now);
		it->size = SOURCE_SIZE_UNKNOWN;
		it->mode = 0666 & ~(uint32_t)um;
		it->mtime_sec = now.tv_sec;
		it->mtime_nsec = (uint32_t)now.tv_nsec;
	}
	return 1;
}

/* Appends "/" + comp to the path and name of the walk's deepest level. */
static int enter(struct source *s, const struct walk_dir *w, const char *comp,
		 struct source_item *it)
{
	size_t clen = strlen(comp);

	s->path[w->path_len] = '\0';
	s->name[w->name_len] = '\0';
	it->path = s->path;
	it->name = s->name;
	if (w->path_len + 1 + clen > SOURCE_PATH_MAX ||
	    w->name_len + 1 + clen > NAME_LEN_MAX)
		return -1;
	s->path[w->path_len] = '/';
	memcpy(s->path + w->path_len + 1, comp, clen + 1);
	s->name[w->name_len] = '/';
	memcpy(s->name + w->name_len + 1, comp, clen + 1);
	return 0;
}

static int skipped(struct source_item *it, const char *why)
{
	it->why = why;
	return SOURCE_SKIPPED;
}

/* A directory inside the tree: one level deeper, or a failure. */
static int descend(struct source *s, int at, const char *comp,
		   struct source_item *it)
{
	struct walk_dir *w = &s->stack[s->depth];
	int fd;

	if (s->depth >= (int)NAME_DEPTH_MAX)
		return fail(it, "too deep (more than 64 levels of directories)");
	fd = openat(at, comp, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
		    (s->follow ? 0 : O_NOFOLLOW));
	if (fd < 0 || fstat(fd, &w->sb) < 0) {
		if (fd >= 0)
			close(fd);
		return fail(it, strerror(errno));
	}
	/* Only -L can lead back up; one directory walked twice would be
	 * walked for ever. */
	for (int i = 0; i < s->depth; i++)
		if (s->stack[i].sb.st_dev == w->sb.st_dev &&
		    s->stack[i].sb.st_ino == w->sb.st_ino) {
			close(fd);
			errno = ELOOP;
			return fail(it, "symbolic link loop (-L): a directory "
				    "that contains it");
		}
	if (!(w->d = fdopendir(fd))) {
		close(fd);
		return fail(it, strerror(errno));
	}
	w->path_len = strlen(s->path);
	w->name_len = strlen(s->name);
	s->depth++;
	return 0;
}

/* The next entry of the tree being walked: files as they are met,
 * directories once their contents are done. */
static int walk_next(struct source *s, struct source_item *it)
{
	struct stat sb;
	struct dirent *e;

	for (;;) {
		struct walk_dir *w = &s->stack[s->depth - 1];
		errno = 0;
		if (!(e = readdir(w->d))) {
			int err = errno;
			s->path[w->path_len] = '\0';
			s->name[w->name_len] = '\0';
			it->path = s->path;
			it->name = s->name;
			it->is_dir = 1;
			describe(it, &w->sb);
			closedir(w->d);
			s->depth--;
			errno = err;
			return err ? fail(it, strerror(err)) : 1;
		}
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (enter(s, w, e->d_name, it) < 0)
			return fail(it, "name too long to send (more than 4096 bytes)");
		if (fstatat(dirfd(w->d), e->d_name, &sb,
			    s->follow ? 0 : AT_SYMLINK_NOFOLLOW) < 0)
			return fail(it, strerror(errno));
		if (S_ISLNK(sb.st_mode))
			return skipped(it, "symbolic link not followed: skipped");
		if (S_ISDIR(sb.st_mode)) {
			int rc = descend(s, dirfd(w->d), e->d_name, it);
			if (rc < 0)
				return rc;
			continue;
		}
		if (!S_ISREG(sb.st_mode))
			return skipped(it, "not a regular file (FIFO, device or socket): skipped");
		it->fd = openat(dirfd(w->d), e->d_name, O_RDONLY | O_NONBLOCK |
				O_CLOEXEC | O_NOCTTY | (s->follow ? 0 : O_NOFOLLOW));
		if (it->fd < 0 || fstat(it->fd, &sb) < 0)
			return fail(it, strerror(errno));
		if (!S_ISREG(sb.st_mode))     /* swapped since fstatat() */
			return skipped(it, "not a regular file: skipped");
		describe(it, &sb);
		return 1;
	}
}

int source_next(struct source *s, struct source_item *it)
{
	memset(it, 0, sizeof(*it));
	it->fd = -1;
	if (s->depth > 0)
		return walk_next(s, it);
	if (s->next >= s->n)
		return 0;
	int rc = open_arg(s, s->paths[s->next++], it);
	if (rc == 0)            /* a tree begins */
		return walk_next(s, it);
	return rc;
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

int source_readable(const struct source_item *it)
{
	struct pollfd pfd = { .fd = it->fd, .events = POLLIN };
	return poll(&pfd, 1, 0) > 0;
}

ssize_t source_read(struct source_item *it, uint8_t *buf, size_t cap)
{
	size_t got = 0;
	while (got < cap) {
		/* A stream's chunk goes as soon as its producer pauses: a
		 * slow pipe must not hold bytes back until 256 KiB came (the
		 * receiver would see nothing move, and time out). */
		if (got > 0 && it->size == SOURCE_SIZE_UNKNOWN &&
		    !source_readable(it))
			break;
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

int source_seek(struct source_item *it, uint64_t offset)
{
	return lseek(it->fd, (off_t)offset, SEEK_SET) < 0 ? -TCPX_E_SYSTEM : 0;
}

void source_close(struct source_item *it)
{
	if (it->fd >= 0)
		close(it->fd);
	it->fd = -1;
}
