/*
 * store: every write the receiver makes, relative to one directory fd.
 *
 * What it promises:
 *
 *  - Nothing outside the directory.  The directory given with -d is opened
 *    once; after that every operation is an *at() call relative to that
 *    descriptor or to a descriptor of one of its subdirectories, each opened
 *    one component at a time with O_NOFOLLOW | O_DIRECTORY (through openat2
 *    with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS where the kernel has it).
 *    No path string built from remote input reaches a path-based system
 *    call, and a symlink swapped in by a local user at any moment cannot
 *    redirect a create, mkdir, rename, chmod or utime outside the directory.
 *    A symlink or a non-directory where a directory should be is refused
 *    (-TCPX_E_DENIED), never followed.  Names must have passed
 *    name_validate() first.
 *
 *  - Nothing under a final name before store_commit().  store_create()
 *    writes to a temporary file ".tcpx-<16 hex>.part" (created 0600,
 *    O_EXCL) in the deepest directory of the name that already exists, and
 *    only store_commit() gives it its final name: renameat2(RENAME_NOREPLACE)
 *    by default, so an existing file is never replaced (link() where the file
 *    system lacks the flag), or an atomic renameat() with overwrite on.  A
 *    directory is never replaced.
 *
 *  - No directory left by a refused, aborted or failed file.  store_create()
 *    creates no directory; store_commit() creates the missing ones just
 *    before the rename and, if anything fails, removes the temporary file
 *    and every directory it created (deepest first).  A directory that
 *    appears meanwhile (another connection's commit) is used, not removed.
 *
 *  - Descriptors: struct store owns dirfd from store_open() to
 *    store_close().  A struct store_file that store_file_active() reports
 *    owns its temporary file's descriptor and, unless it is st->dirfd, its
 *    directory's; store_commit() and store_discard() close both, and every
 *    failed call returns with f inactive and nothing open.  Any number of
 *    files may be in progress at once (one per connection thread).  With a
 *    struct store_dircache (one per connection) the directory's descriptor
 *    is the cache's, lent to f (f->cache) until f is inactive again; the
 *    cache keeps at most STORE_DIRCACHE_DEPTH directories open between
 *    files, the deepest being the one a file in progress there uses.
 *
 *  - A small file is not named until its commit.  A file of known size at
 *    most STORE_UNNAMED_MAX that replaces nothing (no overwrite, not a
 *    stream) is written to an unnamed file (O_TMPFILE) in the same parent
 *    directory descriptor, and store_commit() names it once with
 *    linkat(), which, like RENAME_NOREPLACE, never replaces a name
 *    (EEXIST; keep-both tries NAME.N.EXT the same way): one directory
 *    search and insertion per file instead of three and two.  No other
 *    process can see it, so it needs no lock, and a file that ends
 *    without a verdict leaves nothing.  A file system without O_TMPFILE
 *    (or a kernel that can name such a file neither with AT_EMPTY_PATH
 *    nor through /proc/self/fd) gets a named temporary file instead.
 *
 * Larger files have a real temporary name, not O_TMPFILE, on purpose: the
 * partial data of a file must survive a receiver crash so a later run can
 * resume it, which an unnamed inode cannot (and a small file is simply sent
 * again); and the test suites watch for them.  The
 * temporary namespace is reserved (names.h refuses it), so a received name
 * never collides with one; a name planted there by a local user only makes
 * store_create() draw a fresh random name (up to 16 times).
 * store_clean_stale() removes what a killed receiver left.
 *
 *  - Partial data for resume.  A file created with a partial identity
 *    (store_want.partial_id: BLAKE2b-128 of its name, size and mtime,
 *    store_partial_id()) writes to ".tcpx-<32 hex>.part" instead, opened
 *    without O_EXCL so a later connection finds it, and used only when it
 *    is a regular file of ours with one link that no other connection has
 *    locked (else a random name, as above); only for a file above
 *    STORE_UNNAMED_MAX (a smaller one is unnamed, or with overwrite on has
 *    a random name, and is sent whole again).  store_keep() leaves it in
 *    place, unlocked, when a connection ends without a verdict;
 *    store_discard() removes it like any temporary file;
 *    store_clean_stale() removes it st->keep_partial seconds after its
 *    last write.  A stream (store_want.stream) never has partial data.
 *    With keep_both, store_commit() renames to the first free NAME.N.EXT
 *    (RENAME_NOREPLACE each), never replacing anything.
 *
 *  - One receiver per directory.  store_open() takes flock(LOCK_EX) on the
 *    directory's descriptor, held until the process exits, so a second
 *    tcpget on the same directory fails to start (-TCPX_E_LOCKED) instead
 *    of removing the first one's files in progress as stale.
 *
 *  - Room left for others.  store_create() refuses a file (-TCPX_E_NO_SPACE)
 *    whose declared size, plus a block and an inode for each directory it
 *    will need, plus what the files already in progress declared and have
 *    not written yet, would leave less than min_free bytes or
 *    min_free_inodes inodes free on its file system.  That check suffices:
 *    a file never grows past its declared size (the receiver ends the
 *    session first, TCPX_E_SIZE), and anything else that fills the disk
 *    meanwhile makes a write fail with ENOSPC, which fails that file alone.
 *    Through a connection's cache the free space is looked at once per
 *    STORE_LOOK_FILES files or STORE_LOOK_MS (struct store_look),
 *    accepting no file a fresh look would refuse (other programs aside)
 *    and refusing only on a fresh look.
 *
 *  - A budget per connection.  store_commit() counts the directories it
 *    actually creates (not those that already existed or that another
 *    connection made meanwhile, nor those a failed commit removed again)
 *    against the connection's struct store_budget, and refuses the file
 *    (-TCPX_E_NO_SPACE, as a disk quota would) rather than go past it;
 *    store_create() refuses early when the directories missing already
 *    exceed what is left.
 *
 *  - Streams of unknown size (store_create_stream()) promise nothing ahead:
 *    each store_write() of one checks, before it writes, that its bytes
 *    plus every promise leave the reserves (min_free), so the limits hold
 *    while the size is still unknown.
 *
 *  - A sink instead of a directory (tcpget --stdout): store_open_sink()
 *    makes a store that writes the one file it takes to a descriptor as it
 *    arrives.  No temporary file, nothing to rename: store_commit() only
 *    ends it, store_discard() cannot take back what was written.  A second
 *    store_create(), and any store_dir(), is -TCPX_E_ONE_FILE (f->why,
 *    *why).  store_lookup() of a sink finds nothing the first time and
 *    promises the file to that offer; later lookups are -TCPX_E_ONE_FILE.
 *
 * Errors: -TCPX_E_* with errno kept (the caller prints strerror(errno)),
 * also across the clean-up done on the way out; for a refusal of the
 * store's own (a limit above), f->why says it in words instead.
 */
#ifndef TCPX_STORE_H
#define TCPX_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#define STORE_NAME_MAX 4096u    /* bytes of a name (TCPX_NAME_MAX) */

/* min_free and min_free_inodes: the default, computed per file system as
 * 1% of its size (inodes), at most STORE_MIN_FREE_DEFAULT bytes
 * (STORE_MIN_FREE_INODES_DEFAULT inodes); man/tcpget.1 says why. */
#define STORE_FREE_AUTO UINT64_MAX
#define STORE_MIN_FREE_DEFAULT (64ull << 20)
#define STORE_MIN_FREE_INODES_DEFAULT 1000ull

struct store {
	int dirfd;
	int overwrite;
	mode_t umask;
	/* Set by store_open() to STORE_FREE_AUTO; the caller may change them
	 * before the first store_create().  0 keeps nothing in reserve. */
	uint64_t min_free;              /* bytes */
	uint64_t min_free_inodes;
	/* What the files in progress declared and have not written yet, and
	 * the directories they will create: room already promised. */
	_Atomic uint64_t pending_bytes;
	_Atomic uint64_t pending_dirs;
	_Atomic int stop_cleaning;      /* store_stop_cleaning() was called */
	pid_t locked_by;                /* after -TCPX_E_LOCKED: the holder, 0
					   if unknown */
	int sink_fd;                    /* store_open_sink(): where the file
					   goes; -1 for a directory's store */
	int sink_used;                  /* the sink took its one file */
	int sink_offered;               /* store_lookup() promised it to an
					   offer (tcpget --stdout, OFFER) */
	/* Partial data (resume): kept this many seconds after its last
	 * write, then store_clean_stale() removes it; 0 keeps none (every
	 * file gets a random temporary name).  store_open() sets
	 * STORE_KEEP_PARTIAL_DEFAULT. */
	uint64_t keep_partial;
	/* Blocks and inodes every file accepted so far was counted for (its
	 * declared size, its directories, its inode), what streams wrote and
	 * the directories store_dir() made: they only grow.  A connection's
	 * last look at the free space (struct store_look) takes what they
	 * gained since as used. */
	_Atomic uint64_t counted_blocks;
	_Atomic uint64_t counted_inodes;
	dev_t dev;                      /* of dirfd (its file system) */
};

#define STORE_KEEP_PARTIAL_DEFAULT 86400u

/* Files of at most this many bytes are written unnamed (O_TMPFILE) and
 * keep no partial data (above). */
#define STORE_UNNAMED_MAX (1ull << 20)

/* A connection's last look at its file system's free space (fstatvfs),
 * reused by store_create() for at most STORE_LOOK_FILES files and
 * STORE_LOOK_MS milliseconds: everything counted meanwhile (struct store:
 * counted_blocks, counted_inodes) is taken as used, so the look accepts
 * no file that a fresh one would refuse, except for what other programs
 * (or the file system's own metadata) took meanwhile; a file it cannot
 * accept gets a fresh look, and only a fresh look refuses. */
#define STORE_LOOK_FILES 64u
#define STORE_LOOK_MS 100
struct store_look {
	int valid;
	dev_t dev;                      /* the file system it looked at */
	unsigned files;                 /* accepted on it */
	int64_t at_ms;                  /* when (CLOCK_MONOTONIC) */
	uint64_t frsize, blocks, bavail, files_total, favail;
	uint64_t used_blocks, used_inodes;      /* promised when taken */
	uint64_t counted_blocks, counted_inodes;        /* st's, then */
};
/* Bytes of a partial identity (store_partial_id()). */
#define STORE_PARTIAL_ID_LEN 16u

/* What a file of the store asks beyond store_create()'s defaults. */
struct store_want {
	int overwrite;          /* replace an existing file (as st->overwrite) */
	int keep_both;          /* the name exists: commit as NAME.N.EXT, the
				   first N from 1 that is free (never replacing) */
	/* Non-NULL: the data goes to the partial file of this identity
	 * (".tcpx-<32 hex>.part" beside the temporary files), kept by
	 * store_keep() and found again by a later store_create() of the
	 * same identity, which then reports its length in f->have; NULL:
	 * a random temporary name. */
	const uint8_t *partial_id;
	int resume;             /* keep the partial's data (f->have bytes):
				   the caller then calls store_resume() or
				   store_restart(); 0 truncates it */
	int stream;             /* size unknown (store_create_stream()): no
				   promise ahead, no partial data */
	struct store_dircache *cache;   /* the connection's, or NULL */
	int looked_up;          /* the caller just looked the name up
				   (store_lookup()) and decided to write it:
				   no early EXISTS check (commit still never
				   replaces unless asked) */
};

/* What a final name holds now (store_lookup()). */
struct store_found {
	int kind;               /* 0 nothing (or a parent missing), 1 a regular
				   file, 2 anything else */
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const char *why;        /* after -TCPX_E_ONE_FILE: the reason (static) */
};

/* One connection's memory of the directories its last name went through
 * (store_want.cache, store_lookup_in()), so consecutive files of one
 * directory do not open it again each: the caller owns it (one per
 * connection, never shared between threads), store_dircache_init() when
 * the connection starts, store_dircache_drop() when it ends, after its
 * files.  A cached descriptor is used only after one fstatat() per level,
 * from the store's own descriptor down, shows that each component still
 * names the very directory held (same device and inode, a directory, not
 * a symlink): what a fresh walk would open at that moment (store.c says
 * why that is exactly as strong).  It holds at most STORE_DIRCACHE_DEPTH
 * directory descriptors; the deepest doubles as the descriptor of the
 * directory of a file in progress there (lent: f->cache). */
#define STORE_DIRCACHE_DEPTH 2
#define STORE_COMPONENT_MAX 255u        /* NAME_COMPONENT_MAX */
struct store_dircache {
	unsigned depth;         /* levels held */
	unsigned lent;          /* active store_files using one of fd[] */
	int fd[STORE_DIRCACHE_DEPTH];
	dev_t dev[STORE_DIRCACHE_DEPTH];
	ino_t ino[STORE_DIRCACHE_DEPTH];
	size_t len[STORE_DIRCACHE_DEPTH];
	char comp[STORE_DIRCACHE_DEPTH][STORE_COMPONENT_MAX + 1];
	uint64_t hits;          /* levels reused, not opened (for tests) */
	struct store_look look; /* the connection's look at the free space */
};
void store_dircache_init(struct store_dircache *c);
/* Closes what c holds; nothing may be lent (every file of it ended). */
void store_dircache_drop(struct store_dircache *c);

/* One connection's limits on what it may create; the caller owns it,
 * zeroes it when the connection starts and hands it to every
 * store_create() of that connection. */
struct store_budget {
	uint32_t max_dirs;      /* 0 = no limit */
	uint32_t dirs;          /* directories its commits created so far */
};

struct store_file {
	int fd;                 /* the temporary file, -1 when none */
	int parentfd;           /* its directory: the deepest existing one */
	int own_parent;         /* parentfd is ours to close (not st->dirfd
				   nor a cached one) */
	struct store_dircache *cache;   /* parentfd is lent by it */
	unsigned missing;       /* directories commit creates below parentfd */
	char tmpname[48];
	int partial;            /* tmpname is a partial file's (resumable) */
	int unnamed;            /* fd is an O_TMPFILE file (no tmpname) */
	int overwrite, keep_both;       /* from struct store_want */
	uint64_t have;          /* store_want.resume: the partial's length */
	/* After a keep-both commit under another name: its last component
	 * (else empty). */
	char stored_as[256];
	/* The rest of the name below parentfd, NUL-separated components: the
	 * missing directories, then the last component. */
	char below[STORE_NAME_MAX + 1];
	uint32_t mode;
	uint64_t written;
	int stream;             /* size unknown: room checked at each write */
	int sink;               /* fd is st->sink_fd: borrowed, not ours */
	/* Borrowed from store_create() until f is inactive again. */
	struct store *st;
	struct store_budget *budget;    /* NULL: no limit */
	uint64_t pending;       /* our share of st->pending_bytes */
	/* Why the last call failed when the store refused on a limit of its
	 * own (a static string for the sender and the log), else NULL and
	 * errno says it.  Kept after the call returns. */
	const char *why;
};

/* Creates dir if missing (mode 0777 less umask), opens it and locks it
 * (flock LOCK_EX, released when the process exits).  -TCPX_E_SYSTEM with
 * errno, or -TCPX_E_LOCKED (errno EWOULDBLOCK) when another process holds
 * the lock, with st->locked_by its pid if /proc/locks tells.  A file
 * system that cannot lock (ENOLCK, EOPNOTSUPP) is used unlocked. */
int store_open(struct store *st, const char *dir, int overwrite);
void store_close(struct store *st);
/* A store without a directory whose one file goes to fd (borrowed, left
 * open) as it arrives: tcpget --stdout.  Never fails. */
void store_open_sink(struct store *st, int fd);
/* Removes temporary files left by a killed receiver (in every
 * subdirectory, never through a symlink); returns how many.  Safe while
 * this process serves files: a temporary file in progress is locked
 * (flock) from its creation until its end, and one that is locked, or
 * that changed after the walk began, is left alone; so it can run on a
 * thread of its own beside the server.  It returns early once
 * store_stop_cleaning() was called. */
int store_clean_stale(struct store *st);
void store_stop_cleaning(struct store *st);

/* Marks f as holding nothing, so store_discard(f) on it is harmless. */
void store_file_init(struct store_file *f);
/* 1 while f holds a temporary file (between a successful store_create()
 * and store_commit() or store_discard()). */
int store_file_active(const struct store_file *f);

/* Checks name's existing parent components and, when they all exist, the
 * final name, then opens a temporary file in the deepest existing one;
 * creates no directory.  -TCPX_E_EXISTS if the final name exists and
 * overwrite is off (or is a directory), -TCPX_E_DENIED for a symlink or
 * file where a directory should be, -TCPX_E_NO_SPACE if size cannot fit
 * (statvfs, errno ENOSPC), would leave less than st->min_free or
 * st->min_free_inodes (f->why says which), or needs more directories than
 * budget has left (f->why), -TCPX_E_IO with errno EEXIST if the first
 * temporary name and 16 fresh random ones were all taken.  budget may be
 * NULL (no limit); it is borrowed until f is inactive again.  f is
 * overwritten (it must not be active); on failure it is left inactive. */
int store_create(struct store *st, const uint8_t *name, size_t len,
		 uint32_t mode, uint64_t size, struct store_budget *budget,
		 struct store_file *f);
/* The same for a stream, whose size is known only at its end: it must
 * fit with no byte (the reserves kept), and store_write() checks the
 * room before each write. */
int store_create_stream(struct store *st, const uint8_t *name, size_t len,
			uint32_t mode, struct store_budget *budget,
			struct store_file *f);
/* Writes n bytes (a stream: -TCPX_E_NO_SPACE first, f->why set for the
 * reserve, when they would not leave it; nothing written then). */
int store_write(struct store_file *f, const uint8_t *p, size_t n);
/* The one call that gives a file its final name: sets mode (setuid, setgid
 * and sticky dropped, umask applied) and mtime, creates the missing
 * directories (mode 0777 less umask), counting them against f's budget,
 * renames.  On any failure everything this file created (temporary file,
 * directories) is removed and nothing is counted; -TCPX_E_NO_SPACE with
 * f->why set when the budget would be exceeded.  Closes f either way; on
 * an inactive f, -TCPX_E_IO with errno EBADF. */
int store_commit(struct store *st, struct store_file *f, int64_t mtime_sec,
		 uint32_t mtime_nsec);
/* The one call that discards a file, whatever the reason: removes its
 * temporary file and closes f; harmless on an inactive f.  Keeps errno. */
void store_discard(struct store_file *f);

/* A directory of the sender's tree (DIR), sent after its contents: creates
 * name and its missing parents (mode 0777 less umask, counted against
 * budget like a commit's), then sets name's mode (setuid, setgid and
 * sticky dropped, umask applied) and mtime.  An existing directory is
 * fine (mode and mtime set); an existing non-directory, symlink included,
 * is -TCPX_E_EXISTS; a symlink or file where a parent should be
 * -TCPX_E_DENIED; past the budget -TCPX_E_NO_SPACE with *why set (else
 * *why NULL and errno tells).  What this call created is removed again
 * when it fails. */
int store_dir(struct store *st, const uint8_t *name, size_t len,
	      uint32_t mode, int64_t mtime_sec, uint32_t mtime_nsec,
	      struct store_budget *budget, const char **why);

/* store_create() with what w asks (NULL: the defaults). */
int store_create_as(struct store *st, const uint8_t *name, size_t len,
		    uint32_t mode, uint64_t size, struct store_budget *budget,
		    const struct store_want *w, struct store_file *f);
/* A resumed partial: hashes its first offset bytes (offset <= f->have)
 * into dg (initialised here) and goes on writing after them.  -TCPX_E_IO
 * if they cannot be read. */
struct digest;
int store_resume(struct store_file *f, uint64_t offset, struct digest *dg);
/* A partial not resumed after all: its data is dropped, writing starts at
 * 0. */
int store_restart(struct store_file *f);
/* Ends f without a verdict (the connection was lost): a partial file
 * keeps its data for a later resume (unlocked, closed); anything else is
 * discarded.  Harmless on an inactive f. */
void store_keep(struct store_file *f);
/* Several connections (TCPX_CAP_MULTI): writes n bytes at offset, past
 * the end or into a gap (the receiver has checked the range: never past
 * the declared size); the file position is not moved.  Not for a sink or
 * a stream (-TCPX_E_IO, errno ESPIPE). */
int store_write_at(struct store_file *f, const uint8_t *p, size_t n,
		   uint64_t offset);
/* Reads back n bytes at offset of what was written (to hash them in
 * order): the count read (short only at the end of the data), or
 * -TCPX_E_IO. */
ssize_t store_read_at(struct store_file *f, uint8_t *p, size_t n,
		      uint64_t offset);
/* store_keep() of a partial whose data is whole only up to len (chunks
 * after a gap arrived by offset): what follows is cut off first, so a
 * later resume finds a prefix of the file, never a hole. */
void store_keep_prefix(struct store_file *f, uint64_t len);
/* The identity of a file's partial data: BLAKE2b-128 of its name, size and
 * mtime (man/tcpget.1, PARTIAL DATA). */
void store_partial_id(const uint8_t *name, size_t len, uint64_t size,
		      int64_t mtime_sec, uint32_t mtime_nsec,
		      uint8_t id[STORE_PARTIAL_ID_LEN]);
/* What name holds now; 0, or -TCPX_E_* (DENIED for a symlink or file
 * where a directory should be), errno kept.  A sink: see above. */
int store_lookup(struct store *st, const uint8_t *name, size_t len,
		 struct store_found *out);
/* The same through the connection's cache (NULL: none). */
int store_lookup_in(struct store *st, struct store_dircache *cache,
		    const uint8_t *name, size_t len, struct store_found *out);
/* The BLAKE2b-512 of the regular file name holds; 0 or -TCPX_E_*. */
int store_digest_of(struct store *st, const uint8_t *name, size_t len,
		    uint8_t digest[64]);

/* Test seams, NULL in production: when set, the random bits of temporary
 * names come from the first instead of randombytes_buf(), and what a file
 * system says about its free space from the second instead of fstatvfs(). */
extern void (*store_test_random)(void *buf, size_t n);
extern int (*store_test_statvfs)(int fd, struct statvfs *vfs);
/* And the milliseconds of struct store_look, instead of CLOCK_MONOTONIC. */
extern int64_t (*store_test_clock_ms)(void);
/* 1: no unnamed files (as on a file system without O_TMPFILE); 2: they
 * are named through /proc/self/fd (as by a kernel that refuses
 * AT_EMPTY_PATH); 0: as the system allows. */
extern int store_test_named;

#endif
