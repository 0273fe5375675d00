/* store: the receiver's disk, relative to one directory fd (store.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "digest.h"
#include "error.h"
#include "names.h"
#include "proto.h"
#include "store.h"

#define DIR_MODE 0777           /* less the umask, as mkdir(1) does */
#define STALE_DEPTH_MAX 64
#define TEMP_RETRIES 16         /* fresh names after a taken one */
#define COMMIT_TRIES 3          /* walks when a directory vanished (ENOENT) */
#define KEEP_BOTH_MAX 1000      /* NAME.1.EXT .. NAME.1000.EXT */
#define PARTIAL_HEX (2 * STORE_PARTIAL_ID_LEN)

int store_test_named;

_Static_assert(STORE_NAME_MAX >= TCPX_NAME_MAX, "store_file.below too small");
_Static_assert(STORE_COMPONENT_MAX == NAME_COMPONENT_MAX,
	       "store_dircache.comp too small");

/* openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it
 * (Linux >= 5.6); otherwise openat with O_NOFOLLOW, which, applied to one
 * component at a time from a descriptor we hold, gives the same guarantee. */
static int open_beneath(int dirfd, const char *comp, int flags, mode_t mode)
{
	static int have_openat2 = 1;
	if (have_openat2) {
		struct open_how how = {
			.flags = (uint64_t)(flags | O_NOFOLLOW | O_CLOEXEC),
			.mode = (flags & O_CREAT) || (flags & O_TMPFILE) ==
				O_TMPFILE ? mode : 0,
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

/* Who holds the flock on fd, from /proc/locks (Linux): lines such as
 * "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF", the device in hex and
 * the inode in decimal.  0 when nothing says. */
static pid_t lock_holder(int fd)
{
	struct stat sb;
	char line[256], kind[16];
	unsigned maj, min;
	unsigned long long ino;
	long pid, found = 0;
	FILE *fp;

	if (fstat(fd, &sb) < 0)
		return 0;
	fp = fopen("/proc/locks", "re");
	if (!fp)
		return 0;
	while (!found && fgets(line, sizeof(line), fp))
		if (sscanf(line, "%*d: %15s %*s %*s %ld %x:%x:%llu", kind,
			   &pid, &maj, &min, &ino) == 5 &&
		    strcmp(kind, "FLOCK") == 0 &&
		    maj == major(sb.st_dev) && min == minor(sb.st_dev) &&
		    ino == (unsigned long long)sb.st_ino)
			found = pid;
	fclose(fp);
	return (pid_t)found;
}

/* Another tcpget on the same directory would take our files in progress
 * for a killed run's and remove them; the lock keeps it from starting.
 * flock, not a lock file: it needs no write access, leaves nothing behind,
 * and dies with the process however it ends. */
static int lock_dir(struct store *st)
{
	if (flock(st->dirfd, LOCK_EX | LOCK_NB) == 0)
		return 0;
	if (errno != EWOULDBLOCK)
		return 0;       /* a file system without locks: used unlocked */
	st->locked_by = lock_holder(st->dirfd);
	close(st->dirfd);
	st->dirfd = -1;
	errno = EWOULDBLOCK;
	return -TCPX_E_LOCKED;
}

int store_open(struct store *st, const char *dir, int overwrite)
{
	st->overwrite = overwrite;
	st->umask = umask(0);
	umask(st->umask);
	st->min_free = st->min_free_inodes = STORE_FREE_AUTO;
	st->keep_partial = STORE_KEEP_PARTIAL_DEFAULT;
	atomic_init(&st->pending_bytes, 0);
	atomic_init(&st->pending_dirs, 0);
	atomic_init(&st->stop_cleaning, 0);
	atomic_init(&st->counted_blocks, 0);
	atomic_init(&st->counted_inodes, 0);
	st->locked_by = 0;
	st->dirfd = -1;
	st->sink_fd = -1;
	st->sink_used = 0;
	if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST)
		return -TCPX_E_SYSTEM;
	st->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (st->dirfd < 0)
		return -TCPX_E_SYSTEM;
	struct stat sb;
	st->dev = fstat(st->dirfd, &sb) == 0 ? sb.st_dev : 0;
	return lock_dir(st);
}

void store_open_sink(struct store *st, int fd)
{
	memset(st, 0, sizeof(*st));
	st->dirfd = -1;
	st->sink_fd = fd;
	st->min_free = st->min_free_inodes = STORE_FREE_AUTO;
	atomic_init(&st->pending_bytes, 0);
	atomic_init(&st->pending_dirs, 0);
	atomic_init(&st->stop_cleaning, 0);
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

/* ".tcpx-<32 hex>.part": partial data, kept for resume. */
static int is_partial_name(const char *n)
{
	return is_temp_name(n) &&
	       strlen(n) == strlen(NAME_TEMP_PREFIX) + PARTIAL_HEX + 5;
}

static int before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec ||
	       (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* A temporary file is stale when nobody holds its lock (a file in
 * progress is locked from its creation on, by us or by another receiver)
 * and it has not changed since the walk began (which covers the moment
 * between a file's creation and its lock).  The probe is a shared lock,
 * which conflicts with the writer's exclusive one and, unlike an exclusive
 * one, works on a read-only descriptor where flock is emulated (NFS). */
static int is_stale(int dirfd, const char *name, const struct timespec *t0,
		    uint64_t keep_partial)
{
	struct stat sb;
	int stale, fd = open_beneath(dirfd, name, O_RDONLY | O_NONBLOCK, 0);
	/* Partial data waits keep_partial seconds after its last write for
	 * the sender to come back (man/tcpget.1). */
	struct timespec until = *t0;

	if (fd < 0)
		return 0;
	if (is_partial_name(name))
		until.tv_sec -= keep_partial > (uint64_t)t0->tv_sec ?
				t0->tv_sec : (time_t)keep_partial;
	stale = fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) &&
		before(&sb.st_ctim, t0) &&
		(!is_partial_name(name) || !before(&until, &sb.st_mtim)) &&
		(flock(fd, LOCK_SH | LOCK_NB) == 0 || errno != EWOULDBLOCK);
	close(fd);      /* releases the lock we may have taken */
	return stale;
}

struct clean_walk {
	struct store *st;
	struct timespec t0;     /* when the walk began */
	int count;
};

static void clean_dir(struct clean_walk *w, int fd, int depth)
{
	int dfd = dup(fd);
	DIR *d;
	struct dirent *e;

	if (dfd < 0)
		return;
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	/* The dup shares its offset with fd: a walk before this one (tcpget
	 * walks again every hour) left it at the end. */
	rewinddir(d);
	while ((e = readdir(d)) != NULL &&
	       !atomic_load(&w->st->stop_cleaning)) {
		struct stat sb;
		unsigned char type = e->d_type;
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		/* d_type spares a stat per entry on a large tree */
		if (type == DT_UNKNOWN) {
			if (fstatat(fd, e->d_name, &sb,
				    AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			type = S_ISREG(sb.st_mode) ? DT_REG :
			       S_ISDIR(sb.st_mode) ? DT_DIR : DT_UNKNOWN;
		}
		if (type == DT_REG && is_temp_name(e->d_name)) {
			if (is_stale(fd, e->d_name, &w->t0,
				     w->st->keep_partial) &&
			    unlinkat(fd, e->d_name, 0) == 0)
				w->count++;
		} else if (type == DT_DIR && depth < STALE_DEPTH_MAX) {
			int sub = open_beneath(fd, e->d_name,
					       O_RDONLY | O_DIRECTORY, 0);
			if (sub >= 0) {
				clean_dir(w, sub, depth + 1);
				close(sub);
			}
		}
	}
	closedir(d);
}

int store_clean_stale(struct store *st)
{
	struct clean_walk w = { .st = st };

	clock_gettime(CLOCK_REALTIME, &w.t0);   /* the clock of st_ctim */
	clean_dir(&w, st->dirfd, 0);
	return w.count;
}

void store_stop_cleaning(struct store *st)
{
	atomic_store(&st->stop_cleaning, 1);
}

/* Temporary names ".tcpx-<16 hex>.part".  The first try for a file is
 * <random 8 hex><counter 8 hex>: unpredictable across runs, unique within
 * one, one getrandom() per process rather than one per file.  Someone who
 * reads one name from the directory can predict the next ones and plant
 * them, so every retry after EEXIST draws all 64 bits afresh. */
void (*store_test_random)(void *buf, size_t n);

static uint32_t temp_prefix;
static _Atomic uint32_t temp_counter;
static pthread_once_t temp_once = PTHREAD_ONCE_INIT;

static void draw(void *buf, size_t n)
{
	if (store_test_random)
		store_test_random(buf, n);
	else
		randombytes_buf(buf, n);
}

static void temp_prefix_init(void)
{
	draw(&temp_prefix, sizeof(temp_prefix));
}

static void temp_name(char *out, size_t cap, int retry)
{
	uint32_t hi, lo;
	if (retry) {
		uint32_t r[2];
		draw(r, sizeof(r));
		hi = r[0];
		lo = r[1];
	} else {
		pthread_once(&temp_once, temp_prefix_init);
		hi = temp_prefix;
		lo = ++temp_counter;
	}
	snprintf(out, cap, NAME_TEMP_PREFIX "%08x%08x.part", (unsigned)hi,
		 (unsigned)lo);
}

void store_file_init(struct store_file *f)
{
	f->fd = f->parentfd = -1;
	f->own_parent = 0;
	f->cache = NULL;
	f->missing = 0;
	f->tmpname[0] = '\0';
	f->below[0] = '\0';
	f->mode = 0;
	f->written = 0;
	f->stream = 0;
	f->sink = 0;
	f->unnamed = 0;
	f->st = NULL;
	f->budget = NULL;
	f->pending = 0;
	f->why = NULL;
	f->partial = f->overwrite = f->keep_both = 0;
	f->have = 0;
	f->stored_as[0] = '\0';
}

int store_file_active(const struct store_file *f)
{
	return f->fd >= 0;
}

/* The last component in f->below. */
static const char *final_name(const struct store_file *f)
{
	const char *c = f->below;
	for (unsigned i = 0; i < f->missing; i++)
		c += strlen(c) + 1;
	return c;
}

/* Gives back the room f was promised (store.h: room left for others). */
static void release(struct store_file *f)
{
	if (f->st && f->pending)
		atomic_fetch_sub(&f->st->pending_bytes, f->pending);
	if (f->st && f->missing)
		atomic_fetch_sub(&f->st->pending_dirs, f->missing);
	f->st = NULL;
	f->pending = 0;
}

/* Closes what f holds, keeping errno. */
static void close_file(struct store_file *f)
{
	int err = errno;
	release(f);
	if (f->fd >= 0 && !f->sink)
		close(f->fd);
	f->sink = 0;
	if (f->parentfd >= 0 && f->own_parent)
		close(f->parentfd);
	if (f->cache)
		f->cache->lent--;
	f->cache = NULL;
	f->fd = f->parentfd = -1;
	f->own_parent = 0;
	f->tmpname[0] = '\0';
	errno = err;
}

/* ---- the directory cache (store.h: struct store_dircache) -------------
 *
 * Why a cached descriptor is exactly as safe as opening the directory
 * again.  A fresh walk opens each component from the descriptor of the one
 * before, without following symlinks, so what it gets is the directory
 * each component names at that moment, starting from st->dirfd.  The cache
 * holds, per level, the descriptor such a walk once got and that
 * directory's device and inode.  Before a level is used, fstatat(parent,
 * component, AT_SYMLINK_NOFOLLOW) on the level above (itself just checked
 * the same way, down from st->dirfd) must show a directory with that device
 * and inode: then the component names, now, the very directory the
 * descriptor holds, which is what the fresh walk would open.  The inode
 * number cannot have passed to another directory meanwhile: the held
 * descriptor keeps the old inode alive, so its number stays taken.  So a
 * directory renamed away (inside or outside the tree), replaced by another
 * directory, a file or a symlink, removed, or covered by a mount is seen
 * at the next use: that level and those below are dropped and opened
 * afresh, with every refusal a fresh walk gives.  After the check, a
 * cached descriptor is exactly what the walk's would be, for as long:
 * both are held from store_create() to store_commit(), and a local user
 * who moves the directory away during that window moves the file in
 * progress with it, as before.  A component is compared as the bytes
 * it is (names are validated: no "." or ".."); another spelling is a miss,
 * never a hit. */

void store_dircache_init(struct store_dircache *c)
{
	c->depth = c->lent = 0;
	c->hits = 0;
	c->look.valid = 0;
}

/* Drops levels from `from` down (never while a file borrows one). */
static void cache_cut(struct store_dircache *c, unsigned from)
{
	while (c->depth > from)
		close(c->fd[--c->depth]);
}

void store_dircache_drop(struct store_dircache *c)
{
	/* A descriptor still lent stays open (a leak the tests see), rather
	 * than leave a file in progress a number the next open may reuse. */
	if (!c->lent)
		cache_cut(c, 0);
}

/* Level `level` of c still is component comp under the level above
 * (st->dirfd for the first)?  Only a level above that was just checked may
 * serve as `above` (the walk checks them in order). */
static int cache_holds(const struct store *st, const struct store_dircache *c,
		       unsigned level, const char *comp, size_t clen)
{
	struct stat sb;
	int above = level ? c->fd[level - 1] : st->dirfd;
	return level < c->depth && c->len[level] == clen &&
	       memcmp(c->comp[level], comp, clen) == 0 &&
	       fstatat(above, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	       S_ISDIR(sb.st_mode) && sb.st_dev == c->dev[level] &&
	       sb.st_ino == c->ino[level];
}

/* Keeps fd, just opened for comp, as the next level: 0, or -1 (c full,
 * or fstat failed) and fd stays the caller's. */
static int cache_add(struct store_dircache *c, int fd, const char *comp,
		     size_t clen)
{
	struct stat sb;
	if (c->depth == STORE_DIRCACHE_DEPTH || fstat(fd, &sb) < 0)
		return -1;
	c->fd[c->depth] = fd;
	c->dev[c->depth] = sb.st_dev;
	c->ino[c->depth] = sb.st_ino;
	c->len[c->depth] = clen;
	memcpy(c->comp[c->depth], comp, clen + 1);
	c->depth++;
	return 0;
}

/* Opens the deepest existing directory of name as f->parentfd and copies
 * the rest of the name, NUL-separated, to f->below, with f->missing the
 * number of directories in it.  Creates nothing.  Through cache (may be
 * NULL): levels it holds and that still check out are used, not opened;
 * those that do not are dropped, and what is opened instead is kept, while
 * no file borrows from it (then it is only read).  f->parentfd from the
 * cache is lent (f->cache), not f's to close. */
static int open_parent_in(struct store *st, struct store_dircache *cache,
			  const uint8_t *name, size_t len,
			  struct store_file *f)
{
	int cur = st->dirfd, next, own = 0;
	unsigned level = 0;
	size_t start = 0;
	char comp[NAME_COMPONENT_MAX + 1];
	/* c: the cache while the walk can still use or extend it */
	struct store_dircache *c = cache;

	if (len == 0 || len > STORE_NAME_MAX)
		goto bad;
	/* Every component checked before any is opened. */
	for (size_t i = 0, n = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		if (i - start == 0 || i - start > NAME_COMPONENT_MAX ||
		    memchr(name + start, '\0', i - start) ||
		    ++n > NAME_DEPTH_MAX)
			goto bad;
		start = i + 1;
	}
	start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		size_t clen = i - start;
		if (i == len)
			break;          /* the last component */
		memcpy(comp, name + start, clen);
		comp[clen] = '\0';
		if (c && cache_holds(st, c, level, comp, clen)) {
			cur = c->fd[level++];   /* own is 0: all above cached */
			c->hits++;
			start = i + 1;
			continue;
		}
		if (c && c->lent)
			c = NULL;       /* read only while a file borrows */
		else if (c)
			cache_cut(c, level);
		next = open_beneath(cur, comp, O_RDONLY | O_DIRECTORY, 0);
		if (next < 0 && errno == ENOENT)
			break;          /* this one and all below are missing */
		if (next < 0)
			goto fail;
		if (own)
			close(cur);
		cur = next;
		own = !(c && cache_add(c, next, comp, clen) == 0);
		if (own)
			c = NULL;       /* the cached levels stay contiguous */
		level++;
		start = i + 1;
	}
	/* name[start..len) is what commit creates (and then renames to) */
	memcpy(f->below, name + start, len - start);
	f->below[len - start] = '\0';
	f->missing = 0;
	for (size_t i = 0; i < len - start; i++)
		if (f->below[i] == '/') {
			f->below[i] = '\0';
			f->missing++;
		}
	f->parentfd = cur;
	f->own_parent = own;
	if (!own && cur != st->dirfd) {
		f->cache = cache;
		cache->lent++;
	}
	return 0;
bad:
	errno = EINVAL;
fail:;
	int err = errno, rc = errno_code(err);
	if (own)
		close(cur);
	errno = err;
	return rc;
}

static int open_parent(struct store *st, const uint8_t *name, size_t len,
		       struct store_file *f)
{
	return open_parent_in(st, NULL, name, len, f);
}

int (*store_test_statvfs)(int fd, struct statvfs *vfs);

static uint64_t div_up(uint64_t n, uint64_t d)
{
	return n / d + (n % d != 0);
}

/* The reserve in the file system's units: the caller's, or 1% of the
 * total at most cap. */
static uint64_t reserve(uint64_t want, uint64_t total, uint64_t cap,
			uint64_t unit)
{
	if (want == STORE_FREE_AUTO)
		return total / 100 < cap / unit ? total / 100 : cap / unit;
	return div_up(want, unit);
}

/* Promises f's room: what it declared and the directories it will make
 * count as used until it is written or ends (release()). */
static void promise(struct store *st, struct store_file *f, uint64_t size)
{
	f->st = st;
	f->pending = size;
	atomic_fetch_add(&st->pending_bytes, size);
	atomic_fetch_add(&st->pending_dirs, f->missing);
}

int64_t (*store_test_clock_ms)(void);

static int64_t look_now_ms(void)
{
	struct timespec ts;
	if (store_test_clock_ms)
		return store_test_clock_ms();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Blocks and inodes a file of size bytes with f->missing new directories
 * is counted for (struct store: counted_blocks, counted_inodes). */
static void count_file(struct store *st, const struct store_file *f,
		       uint64_t size, uint64_t unit)
{
	atomic_fetch_add(&st->counted_blocks, div_up(size, unit) + f->missing);
	atomic_fetch_add(&st->counted_inodes, 1 + (uint64_t)f->missing);
}

/* The file system as v shows it now, with what is promised now (f's too)
 * as used: the look the next files of the connection reuse. */
static void look_take(struct store *st, struct store_look *k,
		      const struct statvfs *v, dev_t dev)
{
	k->valid = 1;
	k->dev = dev;
	k->files = 0;
	k->at_ms = look_now_ms();
	k->frsize = v->f_frsize;
	k->blocks = v->f_blocks;
	k->bavail = v->f_bavail;
	k->files_total = v->f_files;
	k->favail = v->f_favail;
	k->used_blocks = div_up(atomic_load(&st->pending_bytes), v->f_frsize) +
			 atomic_load(&st->pending_dirs);
	k->used_inodes = 1 + atomic_load(&st->pending_dirs);
	k->counted_blocks = atomic_load(&st->counted_blocks);
	k->counted_inodes = atomic_load(&st->counted_inodes);
}

/* The file system of f's directory, when known without a system call
 * (the store's own, or a cached level's); 0 when not. */
static dev_t parent_dev(const struct store *st, const struct store_file *f)
{
	if (f->parentfd == st->dirfd)
		return st->dev;
	for (unsigned i = 0; f->cache && i < f->cache->depth; i++)
		if (f->cache->fd[i] == f->parentfd)
			return f->cache->dev[i];
	return 0;
}

/* Accepts f on the connection's last look (1, its room promised), or 0:
 * no look to reuse, or it cannot tell that f fits; then room_left()
 * looks afresh.  Why it never accepts what a fresh look would refuse
 * (other programs aside): at the look, the room promised (pending) was
 * taken as used; every byte written since, by any file, was either
 * promised then or belongs to a file counted since (counted_*), and so is
 * every directory and inode made since; taking all of that as used
 * counts, at worst, a file both ways (its promise and its count), never
 * one way too few.  Counted first and checked after, as room_left()
 * promises first: two connections racing for the last room on stale
 * looks both go to a fresh one, they are never both let in; what a
 * failed try counted stays counted (only ever too much). */
static int room_by_look(struct store *st, struct store_file *f, uint64_t size,
			struct store_look *k)
{
	uint64_t unit = k->frsize, need, used, keep, cb, ci;

	/* a look is good for its own file system only (a mount below DIR
	 * has room of its own) */
	if (!k->valid || k->files >= STORE_LOOK_FILES || !k->dev ||
	    parent_dev(st, f) != k->dev ||
	    look_now_ms() - k->at_ms >= STORE_LOOK_MS)
		return 0;
	need = div_up(size, unit) + f->missing;
	if (need > k->bavail)
		goto fresh;
	cb = atomic_fetch_add(&st->counted_blocks, need) + need;
	ci = atomic_fetch_add(&st->counted_inodes, 1 + (uint64_t)f->missing) +
	     1 + f->missing;
	used = k->used_blocks + (cb - k->counted_blocks);
	keep = reserve(st->min_free, k->blocks, STORE_MIN_FREE_DEFAULT, unit);
	if (used > k->bavail || keep > k->bavail - used)
		goto fresh;
	if (k->files_total) {
		used = k->used_inodes + (ci - k->counted_inodes);
		keep = reserve(st->min_free_inodes, k->files_total,
			       STORE_MIN_FREE_INODES_DEFAULT, 1);
		if (used > k->favail || keep > k->favail - used)
			goto fresh;
	}
	promise(st, f, size);
	k->files++;
	return 1;
fresh:
	k->valid = 0;
	return 0;
}

/* Does a file of size bytes with f->missing new directories fit, leaving
 * the reserves?  Counted in blocks (a directory taken as one) and inodes.
 * f alone must fit before its room is promised (which also keeps the sum
 * of promises below the file system's size, never near overflow); then
 * everything promised, ours included, must leave the reserve: promising
 * first and checking after means two files racing for the last room may
 * both be refused, never both accepted.  Differences, not sums, are
 * compared, so no sum overflows.  With look (the connection's), a file
 * that fits on it needs no fstatvfs(); one accepted here leaves a fresh
 * look. */
static int room_left(struct store *st, struct store_file *f, uint64_t size,
		     struct store_look *look)
{
	struct statvfs v;
	uint64_t unit, avail, promised, keep;
	int rc;

	if (look && room_by_look(st, f, size, look))
		return 0;
	rc = store_test_statvfs ? store_test_statvfs(f->parentfd, &v) :
	     fstatvfs(f->parentfd, &v);
	if (rc < 0 || v.f_frsize == 0)
		return 0;       /* cannot tell: a write will say ENOSPC */
	unit = v.f_frsize;
	avail = v.f_bavail;
	if (div_up(size, unit) + f->missing > avail ||
	    (v.f_files && 1 + (uint64_t)f->missing > v.f_favail))
		goto none;
	promise(st, f, size);
	promised = div_up(atomic_load(&st->pending_bytes), unit) +
		   atomic_load(&st->pending_dirs);
	keep = reserve(st->min_free, v.f_blocks, STORE_MIN_FREE_DEFAULT, unit);
	if (promised > avail)
		goto none;
	if (keep > avail - promised) {
		f->why = "it would leave less free space than tcpget keeps "
			 "for others (--min-free)";
		goto none;
	}
	/* No inode count (btrfs): blocks decide.  The temporary files in
	 * progress have their inodes already. */
	promised = 1 + atomic_load(&st->pending_dirs);
	keep = reserve(st->min_free_inodes, v.f_files,
		       STORE_MIN_FREE_INODES_DEFAULT, 1);
	if (v.f_files && promised > v.f_favail)
		goto none;
	if (v.f_files && keep > v.f_favail - promised) {
		f->why = "it would leave fewer free inodes than tcpget keeps "
			 "for others (--min-free-inodes)";
		goto none;
	}
	count_file(st, f, size, unit);
	if (look)
		look_take(st, look, &v, parent_dev(st, f));
	return 0;
none:
	errno = ENOSPC;
	return -TCPX_E_NO_SPACE;
}

/* The budget cannot pay for the directories missing now (store_commit
 * counts what it really creates). */
static int over_budget(const struct store_budget *b, uint64_t more)
{
	uint64_t left = b && b->dirs < b->max_dirs ? b->max_dirs - b->dirs : 0;
	return b && b->max_dirs && more > left;
}

static const char budget_why[] = "too many new directories for one "
				 "connection (tcpget --max-dirs)";
static const char one_file_why[] = "tcpget --stdout takes one file, "
				   "and no directory";

/* The sink's one file: the descriptor is the store's, lent to f. */
static int sink_create(struct store *st, struct store_file *f)
{
	if (st->sink_used) {
		f->why = one_file_why;
		errno = EEXIST;
		return -TCPX_E_ONE_FILE;
	}
	st->sink_used = 1;
	f->fd = st->sink_fd;
	f->sink = 1;
	return 0;
}

/* A stream's next n bytes, with no promise of its own: they and every
 * promise of the files in progress must leave the reserve, counted as
 * room_left() counts. */
static int room_to_grow(struct store_file *f, size_t n)
{
	struct statvfs v;
	uint64_t unit, promised, keep;
	int rc = store_test_statvfs ? store_test_statvfs(f->parentfd, &v) :
		 fstatvfs(f->parentfd, &v);

	if (rc < 0 || v.f_frsize == 0)
		return 0;       /* cannot tell: the write will say ENOSPC */
	unit = v.f_frsize;
	promised = div_up(atomic_load(&f->st->pending_bytes), unit) +
		   atomic_load(&f->st->pending_dirs) + div_up(n, unit);
	keep = reserve(f->st->min_free, v.f_blocks, STORE_MIN_FREE_DEFAULT, unit);
	if (promised > v.f_bavail) {
		errno = ENOSPC;
		return -TCPX_E_NO_SPACE;
	}
	if (keep > v.f_bavail - promised) {
		f->why = "it would leave less free space than tcpget keeps "
			 "for others (--min-free)";
		errno = ENOSPC;
		return -TCPX_E_NO_SPACE;
	}
	/* promised nowhere: counted, for the connections' looks */
	atomic_fetch_add(&f->st->counted_blocks, div_up(n, unit));
	return 0;
}

void store_partial_id(const uint8_t *name, size_t len, uint64_t size,
		      int64_t mtime_sec, uint32_t mtime_nsec,
		      uint8_t id[STORE_PARTIAL_ID_LEN])
{
	static const char domain[] = "tcpxfer partial data v1";
	crypto_generichash_state h;
	uint8_t fixed[20];

	be64_store(fixed, size);
	be64_store(fixed + 8, (uint64_t)mtime_sec);
	be32_store(fixed + 16, mtime_nsec);
	crypto_generichash_init(&h, NULL, 0, STORE_PARTIAL_ID_LEN);
	crypto_generichash_update(&h, (const uint8_t *)domain, sizeof(domain));
	crypto_generichash_update(&h, fixed, sizeof(fixed));
	crypto_generichash_update(&h, name, len);
	crypto_generichash_final(&h, id, STORE_PARTIAL_ID_LEN);
}

/* Opens (or creates) the partial file of id in f->parentfd, locked: 1,
 * or 0 when it cannot be ours (locked by another connection, not a plain
 * file of ours, replaced meanwhile): then a random name is used. */
static int open_partial(struct store_file *f, const uint8_t *id,
			uint64_t size, int resume)
{
	struct stat sb, now;
	char hex[PARTIAL_HEX + 1];

	/* (sodium_bin2hex: sixteen snprintf() per file were 1.5% of tcpget's
	 * time on 10,000 small files) */
	sodium_bin2hex(hex, sizeof(hex), id, STORE_PARTIAL_ID_LEN);
	snprintf(f->tmpname, sizeof(f->tmpname), NAME_TEMP_PREFIX "%s.part", hex);
	/* Usually there is none yet: made here with O_EXCL, it is certainly a
	 * plain file of ours with one link, empty, and only the lock is left
	 * to take (three system calls fewer than checking one found). */
	f->fd = open_beneath(f->parentfd, f->tmpname, O_RDWR | O_CREAT | O_EXCL,
			     0600);
	if (f->fd >= 0) {
		if (flock(f->fd, LOCK_EX | LOCK_NB) < 0)
			goto other;     /* another connection opened it first */
		f->have = 0;
		f->partial = 1;
		return 1;
	}
	if (errno != EEXIST)
		goto other;
	f->fd = open_beneath(f->parentfd, f->tmpname, O_RDWR | O_CREAT, 0600);
	if (f->fd < 0)
		goto other;
	/* Ours only if nobody else writes it, it is a plain file of ours
	 * with one link (never a planted hard link to something else), and
	 * the name still leads to it once locked. */
	if (flock(f->fd, LOCK_EX | LOCK_NB) < 0 || fstat(f->fd, &sb) < 0 ||
	    !S_ISREG(sb.st_mode) || sb.st_nlink != 1 || sb.st_uid != geteuid() ||
	    fstatat(f->parentfd, f->tmpname, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != sb.st_ino || now.st_dev != sb.st_dev)
		goto other;
	f->have = resume && (uint64_t)sb.st_size <= size ? (uint64_t)sb.st_size : 0;
	if (f->have == 0 && sb.st_size != 0 && ftruncate(f->fd, 0) < 0)
		goto other;
	f->partial = 1;
	return 1;
other:
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	f->tmpname[0] = '\0';
	return 0;
}

/* How an unnamed file gets its name: linkat(fd, "", AT_EMPTY_PATH), which
 * kernels since 6.10 allow to the process that opened the file (older
 * ones only with CAP_DAC_READ_SEARCH, else ENOENT), or through its
 * /proc/self/fd link (AT_SYMLINK_FOLLOW), which any process may use.
 * Learned at the first commit, for the process. */
enum { LINK_EMPTY_PATH, LINK_PROC, LINK_NONE };
static _Atomic int link_how = LINK_EMPTY_PATH;

/* An unnamed file (O_TMPFILE) in f->parentfd: 0, or -1 when the file
 * system (or the kernel) has none, or no way is left to name it: then
 * the caller makes a named temporary file, which also reports any error
 * that is not about O_TMPFILE.  Nobody else can see it, so no lock: a
 * connection that ends without a verdict closes it and nothing is left. */
static int open_unnamed(struct store_file *f)
{
	if (store_test_named == 1 || atomic_load(&link_how) == LINK_NONE)
		return -1;
	f->fd = open_beneath(f->parentfd, ".", O_TMPFILE | O_RDWR, 0600);
	if (f->fd < 0)
		return -1;
	f->unnamed = 1;
	return 0;
}

/* Gives the unnamed file f the name final in to, never replacing
 * (EEXIST, like RENAME_NOREPLACE). */
static int link_unnamed(struct store_file *f, int to, const char *final)
{
	char proc[32];
	int how = store_test_named == 2 ? LINK_PROC : atomic_load(&link_how);
	int err;

	if (how == LINK_EMPTY_PATH) {
		if (linkat(f->fd, "", to, final, AT_EMPTY_PATH) == 0)
			return 0;
		if (errno != ENOENT && errno != EPERM)
			return -1;
	}
	err = errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", f->fd);
	int rc = linkat(AT_FDCWD, proc, to, final, AT_SYMLINK_FOLLOW);
	if (rc == 0 || errno != ENOENT) {
		/* it resolved: this kernel takes /proc, not AT_EMPTY_PATH */
		if (how == LINK_EMPTY_PATH)
			atomic_store(&link_how, LINK_PROC);
		return rc;
	}
	/* Neither way, and no /proc: later files take a named temporary
	 * file (this one fails with the first error). */
	if (errno == ENOENT && how == LINK_EMPTY_PATH &&
	    access("/proc/self/fd", X_OK) < 0) {
		atomic_store(&link_how, LINK_NONE);
		errno = err;
	}
	return -1;
}

int store_create(struct store *st, const uint8_t *name, size_t len,
		 uint32_t mode, uint64_t size, struct store_budget *budget,
		 struct store_file *f)
{
	return store_create_as(st, name, len, mode, size, budget, NULL, f);
}

int store_create_as(struct store *st, const uint8_t *name, size_t len,
		    uint32_t mode, uint64_t size, struct store_budget *budget,
		    const struct store_want *w, struct store_file *f)
{
	static const struct store_want defaults;
	struct stat sb;
	int rc;

	if (!w)
		w = &defaults;
	store_file_init(f);
	f->mode = mode;
	if (st->sink_fd >= 0)
		return sink_create(st, f);
	f->stream = w->stream;
	if (w->stream)
		size = 0;       /* nothing promised ahead */
	f->overwrite = st->overwrite || w->overwrite;
	f->keep_both = w->keep_both;
	rc = open_parent_in(st, w->cache, name, len, f);
	if (rc < 0)
		return rc;
	if (over_budget(budget, f->missing)) {
		f->why = budget_why;
		errno = EDQUOT;
		rc = -TCPX_E_NO_SPACE;
		goto fail;
	}
	/* Early refusal saves the sender a useless upload; commit checks
	 * again atomically (RENAME_NOREPLACE).  With a parent missing, the
	 * final name cannot exist yet.  After an offer the caller looked
	 * already (store_lookup()) and decided (w->looked_up). */
	if (f->missing == 0 && !f->keep_both && !w->looked_up &&
	    fstatat(f->parentfd, f->below, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
	    (!f->overwrite || S_ISDIR(sb.st_mode))) {
		errno = EEXIST;
		rc = -TCPX_E_EXISTS;
		goto fail;
	}
	rc = room_left(st, f, size, w->cache ? &w->cache->look : NULL);
	if (rc < 0)
		goto fail;
	/* A small file is written unnamed and named once, at commit: one
	 * directory search and insertion instead of three and two.  Not
	 * for overwrite (which needs a rename) nor a stream (size unknown). */
	if (!w->stream && !f->overwrite && size <= STORE_UNNAMED_MAX &&
	    open_unnamed(f) == 0) {
		f->budget = budget;
		return 0;
	}
	/* No partial data of a small file: a resumed one is sent again. */
	if (w->partial_id && st->keep_partial && !w->stream &&
	    size > STORE_UNNAMED_MAX &&
	    open_partial(f, w->partial_id, size, w->resume)) {
		f->budget = budget;
		return 0;
	}
	for (int try = 0;; try++) {
		temp_name(f->tmpname, sizeof(f->tmpname), try > 0);
		f->fd = open_beneath(f->parentfd, f->tmpname,
				     O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (f->fd >= 0) {
			/* In progress: store_clean_stale() leaves it alone. */
			flock(f->fd, LOCK_EX | LOCK_NB);
			f->budget = budget;
			return 0;
		}
		if (errno != EEXIST) {
			rc = errno_code(errno);
			goto fail;
		}
		if (try == TEMP_RETRIES) {
			/* a planted name, not the final one: no EXISTS */
			rc = -TCPX_E_IO;
			goto fail;
		}
	}
fail:
	close_file(f);
	return rc;
}

int store_create_stream(struct store *st, const uint8_t *name, size_t len,
			uint32_t mode, struct store_budget *budget,
			struct store_file *f)
{
	static const struct store_want stream = { .stream = 1 };
	return store_create_as(st, name, len, mode, 0, budget, &stream, f);
}

/* w bytes written: the file system counts them now, not the promise.
 * (The receiver never lets a file pass its declared size.) */
static void count_written(struct store_file *f, uint64_t w)
{
	f->written += w;
	uint64_t done = w < f->pending ? w : f->pending;
	if (done && f->st)
		atomic_fetch_sub(&f->st->pending_bytes, done);
	f->pending -= done;
}

/* Writes all of p[0..n) at offset (write() at the file's position when
 * offset is -1), counting what was written. */
static int write_all(struct store_file *f, const uint8_t *p, size_t n,
		     int64_t offset)
{
	while (n > 0) {
		ssize_t w = offset < 0 ? write(f->fd, p, n) :
			    pwrite(f->fd, p, n, (off_t)offset);
		if (w < 0 && errno == EAGAIN && f->sink) {
			/* an inherited non-blocking stdout: its reader's pace */
			struct pollfd pfd = { .fd = f->fd, .events = POLLOUT };
			poll(&pfd, 1, -1);
			continue;
		}
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno_code(errno);
		}
		p += w;
		n -= (size_t)w;
		if (offset >= 0)
			offset += w;
		count_written(f, (uint64_t)w);
	}
	return 0;
}

int store_write(struct store_file *f, const uint8_t *p, size_t n)
{
	if (f->stream && f->st) {
		int rc = room_to_grow(f, n);
		if (rc < 0)
			return rc;
	}
	return write_all(f, p, n, -1);
}

int store_write_at(struct store_file *f, const uint8_t *p, size_t n,
		   uint64_t offset)
{
	if (f->sink || f->stream) {
		errno = ESPIPE;
		return -TCPX_E_IO;
	}
	return write_all(f, p, n, (int64_t)offset);
}

ssize_t store_read_at(struct store_file *f, uint8_t *p, size_t n,
		      uint64_t offset)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = pread(f->fd, p + got, n - got, (off_t)(offset + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -TCPX_E_IO;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

void store_keep_prefix(struct store_file *f, uint64_t len)
{
	if (f->partial && f->fd >= 0 && ftruncate(f->fd, (off_t)len) < 0) {
		store_discard(f);
		return;
	}
	store_keep(f);
}

/* Creates (or opens, if someone else just did) f's missing directories;
 * fds[i] gets directory i, created[i] is set for those made here and
 * *made counts them: only a directory this call really made costs budget,
 * and one the budget cannot pay for is removed at once. */
static int make_dirs(struct store_file *f, int *fds, unsigned char *created,
		     unsigned *made)
{
	int cur = f->parentfd;
	const char *c = f->below;
	for (unsigned i = 0; i < f->missing; i++, c += strlen(c) + 1) {
		if (mkdirat(cur, c, DIR_MODE) == 0) {
			if (!created[i] && over_budget(f->budget, *made + 1)) {
				unlinkat(cur, c, AT_REMOVEDIR);
				f->why = budget_why;
				errno = EDQUOT;
				return -1;
			}
			if (!created[i])
				++*made;
			created[i] = 1;
		} else if (errno != EEXIST) {
			return -1;
		}
		fds[i] = open_beneath(cur, c, O_RDONLY | O_DIRECTORY, 0);
		if (fds[i] < 0)
			return -1;
		cur = fds[i];
	}
	return 0;
}

static void close_dirs(int *fds, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (fds[i] >= 0)
			close(fds[i]);
		fds[i] = -1;
	}
}

static int rename_noreplace(struct store_file *f, int to, const char *final)
{
	if (f->unnamed)
		return link_unnamed(f, to, final);
	int rc = renameat2(f->parentfd, f->tmpname, to, final, RENAME_NOREPLACE);
	if (rc < 0 && errno == EINVAL) {
		/* File systems without RENAME_NOREPLACE: link() fails on an
		 * existing name just as atomically. */
		rc = linkat(f->parentfd, f->tmpname, to, final, 0);
		if (rc == 0)
			unlinkat(f->parentfd, f->tmpname, 0);
	}
	return rc;
}

/* NAME.N.EXT for keep-both: N before the last extension ("a.tar.gz" gives
 * "a.tar.1.gz", as most tools that keep both do; a leading dot is no
 * extension). 0, or -1 if it would be too long for a component. */
static int keep_both_name(const char *final, unsigned n, char *out, size_t cap)
{
	const char *dot = strrchr(final, '.');
	int w;
	if (!dot || dot == final)
		w = snprintf(out, cap, "%s.%u", final, n);
	else
		w = snprintf(out, cap, "%.*s.%u%s", (int)(dot - final), final,
			     n, dot);
	return w < 0 || (size_t)w >= cap || (size_t)w > NAME_COMPONENT_MAX ?
	       -1 : 0;
}

/* The final rename: f->overwrite (the store's or the file's) replaces,
 * f->keep_both takes the first free NAME.N.EXT, else never replace. */
static int rename_final(struct store_file *f, int to, const char *final)
{
	char alt[NAME_COMPONENT_MAX + 1];
	if (f->keep_both) {
		/* The first free one, atomically: nothing is ever replaced. */
		if (rename_noreplace(f, to, final) == 0)
			return 0;
		if (errno != EEXIST)
			return -1;
		for (unsigned n = 1; n <= KEEP_BOTH_MAX; n++) {
			if (keep_both_name(final, n, alt, sizeof(alt)) < 0)
				break;
			if (rename_noreplace(f, to, alt) == 0) {
				snprintf(f->stored_as, sizeof(f->stored_as),
					 "%s", alt);
				return 0;
			}
			if (errno != EEXIST)
				return -1;
		}
		errno = EEXIST;
		return -1;
	}
	if (f->overwrite)
		return renameat(f->parentfd, f->tmpname, to, final);
	return rename_noreplace(f, to, final);
}

/* Removes what a failed commit made: the temporary file, then the
 * directories it created, deepest first.  One that is not empty any more
 * (another connection put something in it) stays. */
static void undo(struct store_file *f, const int *fds,
		 const unsigned char *created)
{
	const char *comp[NAME_DEPTH_MAX];
	const char *c = f->below;

	if (f->tmpname[0])
		unlinkat(f->parentfd, f->tmpname, 0);
	for (unsigned i = 0; i < f->missing; i++, c += strlen(c) + 1)
		comp[i] = c;
	for (unsigned i = f->missing; i-- > 0;) {
		int in = i == 0 ? f->parentfd : fds[i - 1];
		if (created[i] && in >= 0)
			unlinkat(in, comp[i], AT_REMOVEDIR);
	}
}

int store_commit(struct store *st, struct store_file *f, int64_t mtime_sec,
		 uint32_t mtime_nsec)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)mtime_sec, .tv_nsec = mtime_nsec },
	};
	int fds[NAME_DEPTH_MAX];
	unsigned char created[NAME_DEPTH_MAX] = { 0 };
	unsigned made = 0;
	int rc = 0, fd = f->fd, err;

	if (fd < 0) {
		errno = EBADF;
		return -TCPX_E_IO;
	}
	if (f->sink) {          /* written as it came: nothing to name */
		close_file(f);
		return 0;
	}
	for (unsigned i = 0; i < NAME_DEPTH_MAX; i++)
		fds[i] = -1;
	/* No setuid, setgid or sticky bit from a remote peer, ever. */
	if (fchmod(fd, (mode_t)(f->mode & 0777 & ~st->umask)) < 0 ||
	    futimens(fd, ts) < 0) {
		rc = errno_code(errno);
		goto fail;
	}
	/* An unnamed file is closed once it has its name (it has none to
	 * be found by before); a named one first. */
	if (!f->unnamed) {
		f->fd = -1;
		if (close(fd) < 0) {     /* deferred write errors surface here */
			rc = errno_code(errno);
			goto fail;
		}
	}
	for (int try = 1;; try++) {
		if (make_dirs(f, fds, created, &made) == 0 &&
		    rename_final(f, f->missing ? fds[f->missing - 1] :
				 f->parentfd, final_name(f)) == 0)
			break;
		/* ENOENT: a directory that was there a moment ago is gone
		 * (another connection's failed commit removed the one it had
		 * made); walk again.  What we created ourselves stays marked. */
		if (errno != ENOENT || try == COMMIT_TRIES) {
			rc = errno_code(errno);
			goto fail;
		}
		close_dirs(fds, f->missing);
	}
	if (f->unnamed) {
		f->fd = -1;
		if (close(fd) < 0) {
			/* a deferred write error: the name is taken back */
			rc = errno_code(errno);
			unlinkat(f->missing ? fds[f->missing - 1] : f->parentfd,
				 f->stored_as[0] ? f->stored_as : final_name(f), 0);
			goto fail;
		}
	}
	close_dirs(fds, f->missing);
	if (f->budget)      /* saturates: only with no limit can it get there */
		f->budget->dirs = made > UINT32_MAX - f->budget->dirs ?
				  UINT32_MAX : f->budget->dirs + made;
	f->tmpname[0] = '\0';   /* it has its final name now */
	close_file(f);
	return 0;
fail:
	err = errno;
	undo(f, fds, created);
	close_dirs(fds, f->missing);
	close_file(f);
	errno = err;
	return rc;
}

int store_resume(struct store_file *f, uint64_t offset, struct digest *dg)
{
	uint8_t buf[64 * 1024];
	uint64_t at = 0;

	digest_init(dg);
	if (f->fd < 0 || offset > f->have) {
		errno = EINVAL;
		return -TCPX_E_IO;
	}
	while (at < offset) {
		size_t want = offset - at < sizeof(buf) ? (size_t)(offset - at) :
			      sizeof(buf);
		ssize_t got = pread(f->fd, buf, want, (off_t)at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got == 0)
				errno = EIO;
			return -TCPX_E_IO;
		}
		digest_update(dg, buf, (size_t)got);
		at += (uint64_t)got;
	}
	if (ftruncate(f->fd, (off_t)offset) < 0 ||
	    lseek(f->fd, (off_t)offset, SEEK_SET) < 0)
		return errno_code(errno);
	f->written = offset;
	uint64_t done = offset < f->pending ? offset : f->pending;
	if (done && f->st)
		atomic_fetch_sub(&f->st->pending_bytes, done);
	f->pending -= done;
	return 0;
}

int store_restart(struct store_file *f)
{
	if (f->fd < 0 || ftruncate(f->fd, 0) < 0 || lseek(f->fd, 0, SEEK_SET) < 0)
		return errno_code(f->fd < 0 ? EBADF : errno);
	f->have = f->written = 0;
	return 0;
}

void store_keep(struct store_file *f)
{
	if (!f->partial || f->fd < 0) {
		store_discard(f);
		return;
	}
	close_file(f);      /* the data stays, unlocked, for a later run */
}

int store_lookup(struct store *st, const uint8_t *name, size_t len,
		 struct store_found *out)
{
	return store_lookup_in(st, NULL, name, len, out);
}

int store_lookup_in(struct store *st, struct store_dircache *cache,
		    const uint8_t *name, size_t len, struct store_found *out)
{
	struct store_file f;
	struct stat sb;
	int rc;

	memset(out, 0, sizeof(*out));
	if (st->sink_fd >= 0) {
		/* A sink holds no names; the offer it answers first takes
		 * its one file, the others are refused now. */
		if (st->sink_used || st->sink_offered) {
			out->why = one_file_why;
			errno = EEXIST;
			return -TCPX_E_ONE_FILE;
		}
		st->sink_offered = 1;
		return 0;
	}
	store_file_init(&f);
	rc = open_parent_in(st, cache, name, len, &f);
	if (rc < 0)
		return rc;
	if (f.missing == 0) {
		if (fstatat(f.parentfd, f.below, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			out->kind = S_ISREG(sb.st_mode) ? 1 : 2;
			out->size = (uint64_t)sb.st_size;
			out->mtime_sec = sb.st_mtim.tv_sec;
			out->mtime_nsec = (uint32_t)sb.st_mtim.tv_nsec;
		} else if (errno != ENOENT) {
			rc = errno_code(errno);
		}
	}
	close_file(&f);
	return rc;
}

int store_digest_of(struct store *st, const uint8_t *name, size_t len,
		    uint8_t digest[64])
{
	struct store_file f;
	struct digest dg;
	struct stat sb;
	uint8_t buf[64 * 1024];
	int rc, fd = -1;
	ssize_t got;

	store_file_init(&f);
	rc = open_parent(st, name, len, &f);
	if (rc < 0)
		return rc;
	if (f.missing) {
		errno = ENOENT;
		rc = -TCPX_E_IO;
		goto out;
	}
	fd = open_beneath(f.parentfd, f.below, O_RDONLY | O_NONBLOCK, 0);
	if (fd < 0 || fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			errno = EINVAL;
		rc = errno_code(errno);
		goto out;
	}
	digest_init(&dg);
	while ((got = read(fd, buf, sizeof(buf))) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			rc = -TCPX_E_IO;
			goto out;
		}
		digest_update(&dg, buf, (size_t)got);
	}
	digest_final(&dg, digest);
out:
	if (fd >= 0)
		close(fd);
	close_file(&f);
	return rc;
}

void store_discard(struct store_file *f)
{
	int err = errno;
	if (f->parentfd >= 0 && f->tmpname[0])
		unlinkat(f->parentfd, f->tmpname, 0);
	close_file(f);
	errno = err;
}

/* The last component of a DIR: made here (or found), then given its mode
 * and mtime through a descriptor that is certainly that directory. */
static int set_dir(struct store *st, struct store_file *f, int in,
		   const char *last, uint32_t mode, const struct timespec *ts,
		   unsigned *made, int *made_last)
{
	int fd, rc = 0;

	if (mkdirat(in, last, DIR_MODE) == 0) {
		*made_last = 1;
		if (over_budget(f->budget, *made + 1)) {
			f->why = budget_why;
			errno = EDQUOT;
			return -TCPX_E_NO_SPACE;
		}
		++*made;
	} else if (errno != EEXIST) {
		return errno_code(errno);
	}
	fd = open_beneath(in, last, O_RDONLY | O_DIRECTORY, 0);
	if (fd < 0) {
		/* a file or a symlink under that name: it stays as it is */
		if (errno == ENOTDIR || errno == ELOOP || errno == EXDEV) {
			errno = EEXIST;
			return -TCPX_E_EXISTS;
		}
		return errno_code(errno);
	}
	if (fchmod(fd, (mode_t)(mode & 0777 & ~st->umask)) < 0 ||
	    futimens(fd, ts) < 0)
		rc = errno_code(errno);
	close(fd);
	return rc;
}

int store_dir(struct store *st, const uint8_t *name, size_t len,
	      uint32_t mode, int64_t mtime_sec, uint32_t mtime_nsec,
	      struct store_budget *budget, const char **why)
{
	struct timespec ts[2] = {
		{ .tv_nsec = UTIME_OMIT },
		{ .tv_sec = (time_t)mtime_sec, .tv_nsec = mtime_nsec },
	};
	struct store_file f;
	int fds[NAME_DEPTH_MAX];
	unsigned char created[NAME_DEPTH_MAX] = { 0 };
	unsigned made = 0;
	int rc, made_last = 0, err;

	*why = NULL;
	if (st->sink_fd >= 0) {
		*why = one_file_why;
		errno = EEXIST;
		return -TCPX_E_ONE_FILE;
	}
	store_file_init(&f);
	for (unsigned i = 0; i < NAME_DEPTH_MAX; i++)
		fds[i] = -1;
	rc = open_parent(st, name, len, &f);
	if (rc < 0)
		return rc;
	f.budget = budget;
	if (over_budget(budget, f.missing)) {
		f.why = budget_why;
		errno = EDQUOT;
		rc = -TCPX_E_NO_SPACE;
		goto out;
	}
	if (make_dirs(&f, fds, created, &made) < 0) {
		rc = f.why ? -TCPX_E_NO_SPACE : errno_code(errno);
		goto out;
	}
	int in = f.missing ? fds[f.missing - 1] : f.parentfd;
	rc = set_dir(st, &f, in, final_name(&f), mode, ts, &made, &made_last);
	if (rc < 0 && made_last)
		unlinkat(in, final_name(&f), AT_REMOVEDIR);
out:
	err = errno;
	if (rc < 0)
		undo(&f, fds, created);
	else if (budget)
		budget->dirs = made > UINT32_MAX - budget->dirs ?
			       UINT32_MAX : budget->dirs + made;
	if (rc == 0) {          /* for the connections' looks */
		atomic_fetch_add(&st->counted_blocks, made);
		atomic_fetch_add(&st->counted_inodes, made);
	}
	close_dirs(fds, f.missing);
	*why = f.why;
	f.tmpname[0] = '\0';
	close_file(&f);
	errno = err;
	return rc;
}
