/* Tests for src/store.c: the receiver's disk, against a real directory.
 *
 * Each test gets its own mkdtemp() directory under /tmp, holding the store's
 * directory d/ and a sibling outside/ that symlinks point to and that must
 * never change; the whole tree is removed afterwards (without following
 * symlinks).  "Between create and commit" is simulated by the test itself
 * doing what a local user or another connection could do at that moment. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store.h"
#include "testutil.h"

static char base[64];   /* the test's mkdtemp() directory */
static char D[96];      /* base/d: the store's directory */
static char OUT[96];    /* base/outside: must stay as the test made it */
static struct store st;

static void setup(void)
{
	umask(022);
	strcpy(base, "/tmp/tcpx-store-XXXXXX");
	cr_assert(mkdtemp(base) != NULL, "mkdtemp: %s", strerror(errno));
	snprintf(D, sizeof(D), "%s/d", base);
	snprintf(OUT, sizeof(OUT), "%s/outside", base);
	cr_assert_eq(mkdir(OUT, 0755), 0);
	cr_assert_eq(store_open(&st, D, 0), 0, "store_open: %s", strerror(errno));
}

static int rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	remove(p);
	return 0;
}

static void teardown(void)
{
	store_close(&st);
	store_test_random = NULL;
	store_test_statvfs = NULL;
	store_test_named = 0;
	if (base[0])
		nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(store, .init = setup, .fini = teardown);

/* A declared size above STORE_UNNAMED_MAX: a named temporary file, with
 * partial data when asked. */
#define BIG(n) (STORE_UNNAMED_MAX + (n))

/* ---- helpers -------------------------------------------------------- */

/* dir/rel, in one of a few rotating buffers. */
static const char *in(const char *dir, const char *rel)
{
	static char buf[8][8192];
	static int k;
	char *p = buf[k++ & 7];
	snprintf(p, sizeof(buf[0]), "%s/%s", dir, rel);
	return p;
}

static const char *P(const char *rel)
{
	return in(D, rel);
}

static int create_in(struct store_budget *b, const char *name, uint64_t size,
		     struct store_file *f)
{
	return store_create(&st, (const uint8_t *)name, strlen(name), 0644,
			    size, b, f);
}

static int create(const char *name, uint32_t mode, uint64_t size,
		  struct store_file *f)
{
	return store_create(&st, (const uint8_t *)name, strlen(name), mode, size,
			    NULL, f);
}

/* create + write + commit; the first failure's code. */
static int put(const char *name, const char *content, uint32_t mode,
	       int64_t sec, uint32_t nsec)
{
	struct store_file f;
	size_t n = strlen(content);
	int rc = create(name, mode, n, &f);
	if (rc < 0)
		return rc;
	cr_assert(store_file_active(&f));
	rc = store_write(&f, (const uint8_t *)content, n);
	if (rc < 0) {
		store_discard(&f);
		return rc;
	}
	cr_assert_eq(f.written, n);
	rc = store_commit(&st, &f, sec, nsec);
	cr_assert(!store_file_active(&f), "commit left f active");
	return rc;
}

static void put_ok(const char *name, const char *content)
{
	int rc = put(name, content, 0644, 1700000000, 0);
	cr_assert_eq(rc, 0, "put %s: %d (%s)", name, rc, strerror(errno));
}

static void write_text(const char *path, const char *s)
{
	FILE *fp = fopen(path, "w");
	cr_assert(fp != NULL, "fopen %s: %s", path, strerror(errno));
	fputs(s, fp);
	cr_assert_eq(fclose(fp), 0);
}

/* The content of a file ("<missing>" if it cannot be read). */
static const char *slurp(const char *path)
{
	static char buf[4][4096];
	static int k;
	char *b = buf[k++ & 3];
	int fd = open(path, O_RDONLY | O_NOFOLLOW);
	if (fd < 0)
		return "<missing>";
	ssize_t n = read(fd, b, sizeof(buf[0]) - 1);
	close(fd);
	b[n < 0 ? 0 : n] = '\0';
	return b;
}

static int exists(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static int is_dir(const char *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Everything below dir, relative, sorted, ' '-separated ("" when empty),
 * symlinks not followed: what tests/peer_lib.sh's listing() prints. */
static char tree_buf[65536];
static char *tree_names[4096];
static size_t tree_n, tree_skip;

static int tree_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	if (ftw->level == 0 || tree_n == 4096)
		return 0;
	tree_names[tree_n++] = strdup(p + tree_skip);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const char *tree(const char *dir)
{
	tree_n = 0;
	tree_skip = strlen(dir) + 1;
	nftw(dir, tree_one, 16, FTW_PHYS);
	qsort(tree_names, tree_n, sizeof(tree_names[0]), cmp_str);
	tree_buf[0] = '\0';
	for (size_t i = 0; i < tree_n; i++) {
		if (i)
			strcat(tree_buf, " ");
		if (strlen(tree_buf) + strlen(tree_names[i]) + 2 < sizeof(tree_buf))
			strcat(tree_buf, tree_names[i]);
		free(tree_names[i]);
	}
	return tree_buf;
}

/* Number of entries named .tcpx-* anywhere below dir (any type). */
static int temp_count;
static int temp_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	if (ftw->level > 0 && strncmp(p + ftw->base, ".tcpx-", 6) == 0)
		temp_count++;
	return 0;
}

static int temps(const char *dir)
{
	temp_count = 0;
	nftw(dir, temp_one, 16, FTW_PHYS);
	return temp_count;
}

/* The one regular .tcpx-*.part file directly in dir that is not in skip[]
 * (n of them); fails the test unless there is exactly one. */
static void temp_in(const char *dir, char out[64], char (*skip)[64], size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	cr_assert(d != NULL);
	while ((e = readdir(d)) != NULL) {
		struct stat sb;
		size_t len = strlen(e->d_name);
		int skipped = 0;
		if (strncmp(e->d_name, ".tcpx-", 6) != 0 || len < 11 ||
		    strcmp(e->d_name + len - 5, ".part") != 0)
			continue;
		for (size_t i = 0; i < n; i++)
			skipped |= strcmp(skip[i], e->d_name) == 0;
		if (skipped || fstatat(dirfd(d), e->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode))
			continue;
		cr_assert(len < 64);
		memcpy(out, e->d_name, len + 1);
		found++;
	}
	closedir(d);
	cr_assert_eq(found, 1, "%d temporary files in %s, want 1", found, dir);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	cr_assert(d != NULL);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* ---- commit: content, mode, mtime --------------------------------------- */

Test(store, commit_gives_content_mode_and_mtime)
{
	struct stat sb;
	cr_assert_eq(put("plain", "hello", 0640, 1700000000, 123456789), 0);
	cr_assert_str_eq(slurp(P("plain")), "hello");
	cr_assert_eq(lstat(P("plain"), &sb), 0);
	cr_assert(S_ISREG(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0640);
	cr_assert_eq(sb.st_mtim.tv_sec, 1700000000);
	cr_assert_eq(sb.st_mtim.tv_nsec, 123456789);

	/* setuid, setgid and sticky dropped; umask 022 applied */
	cr_assert_eq(put("all", "x", 07777, 0, 0), 0);
	cr_assert_eq(lstat(P("all"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0755, "mode %o", sb.st_mode & 07777);
	cr_assert_eq(sb.st_mtim.tv_sec, 0);
	cr_assert_eq(put("suid", "x", 04755, -86400, 0), 0);
	cr_assert_eq(lstat(P("suid"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0755);
	cr_assert_eq(sb.st_mtim.tv_sec, -86400);
	cr_assert_eq(put("sgid", "x", 02666, 0, 0), 0);
	cr_assert_eq(lstat(P("sgid"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0644);

	cr_assert_eq(put("empty", "", 0600, 5, 0), 0);
	cr_assert_eq(lstat(P("empty"), &sb), 0);
	cr_assert_eq(sb.st_size, 0);
	cr_assert_eq(temps(D), 0);
}

Test(store, umask_applies_to_files_and_directories)
{
	struct stat sb;
	store_close(&st);
	umask(027);
	cr_assert_eq(store_open(&st, D, 0), 0);
	cr_assert_eq(put("n1/n2/f", "x", 0666, 0, 0), 0);
	cr_assert_eq(lstat(P("n1/n2/f"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0640, "file mode %o", sb.st_mode & 07777);
	cr_assert_eq(lstat(P("n1"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0750, "dir mode %o", sb.st_mode & 07777);
	cr_assert_eq(lstat(P("n1/n2"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0750);
}

Test(store, written_in_pieces)
{
	struct store_file f;
	static uint8_t buf[1 << 20];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = tu_mib_pattern(i);
	cr_assert_eq(create("big", 0644, sizeof(buf), &f), 0);
	for (size_t off = 0; off < sizeof(buf); off += 65536)
		cr_assert_eq(store_write(&f, buf + off, 65536), 0);
	cr_assert_eq(store_commit(&st, &f, 1, 2), 0);
	int fd = open(P("big"), O_RDONLY);
	cr_assert(fd >= 0);
	static uint8_t back[1 << 20];
	cr_assert_eq(read(fd, back, sizeof(back)), (ssize_t)sizeof(back));
	close(fd);
	cr_assert(memcmp(buf, back, sizeof(buf)) == 0);
}

/* ---- an existing final name ------------------------------------------ */

Test(store, exists_refused_at_create)
{
	struct store_file f;
	write_text(P("keep"), "old");
	errno = 0;
	cr_assert_eq(create("keep", 0644, 3, &f), -TCPX_E_EXISTS);
	cr_assert_eq(errno, EEXIST);
	cr_assert(!store_file_active(&f));
	store_discard(&f);      /* harmless after a failed create */
	cr_assert_str_eq(slurp(P("keep")), "old");
	cr_assert_eq(temps(D), 0);

	/* a symlink or a directory counts as existing too */
	cr_assert_eq(symlink(in(OUT, "victim"), P("link")), 0);
	cr_assert_eq(create("link", 0644, 3, &f), -TCPX_E_EXISTS);
	cr_assert_eq(mkdir(P("dd"), 0755), 0);
	cr_assert_eq(create("dd", 0644, 3, &f), -TCPX_E_EXISTS);
	cr_assert_eq(mkdir(P("sub"), 0755), 0);
	write_text(P("sub/keep"), "old2");
	cr_assert_eq(create("sub/keep", 0644, 3, &f), -TCPX_E_EXISTS);
	cr_assert_str_eq(slurp(P("sub/keep")), "old2");
	cr_assert_eq(temps(D), 0);
	cr_assert_str_eq(tree(OUT), "");
}

Test(store, overwrite_replaces)
{
	struct store_file f;
	st.overwrite = 1;
	write_text(P("keep"), "old");
	cr_assert_eq(put("keep", "new", 0600, 42, 0), 0);
	cr_assert_str_eq(slurp(P("keep")), "new");
	struct stat sb;
	cr_assert_eq(lstat(P("keep"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(sb.st_mtim.tv_sec, 42);

	/* a symlink is replaced, not written through */
	write_text(in(OUT, "victim"), "victim");
	cr_assert_eq(symlink(in(OUT, "victim"), P("flink")), 0);
	cr_assert_eq(put("flink", "mine", 0644, 0, 0), 0);
	cr_assert_eq(lstat(P("flink"), &sb), 0);
	cr_assert(S_ISREG(sb.st_mode));
	cr_assert_str_eq(slurp(P("flink")), "mine");
	cr_assert_str_eq(slurp(in(OUT, "victim")), "victim");

	/* a directory never */
	cr_assert_eq(mkdir(P("dd"), 0755), 0);
	errno = 0;
	cr_assert_eq(create("dd", 0644, 3, &f), -TCPX_E_EXISTS);
	cr_assert_eq(errno, EEXIST);
	cr_assert(is_dir(P("dd")));
	cr_assert_eq(temps(D), 0);
}

/* ---- directories: only at commit ------------------------------------- */

Test(store, new_directories_appear_only_at_commit)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f;
	char t[64];
	cr_assert_eq(create("a/b/c/f", 0644, 3, &f), 0);
	cr_assert(!exists(P("a")), "a directory exists before commit");
	/* the temporary file is in the deepest existing directory */
	temp_in(D, t, NULL, 0);
	cr_assert_eq(temps(D), 1);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	cr_assert(!exists(P("a")));
	cr_assert_eq(store_commit(&st, &f, 0, 0), 0);
	cr_assert(is_dir(P("a")) && is_dir(P("a/b")) && is_dir(P("a/b/c")));
	cr_assert_str_eq(slurp(P("a/b/c/f")), "abc");
	cr_assert_str_eq(tree(D), "a a/b a/b/c a/b/c/f");

	/* partly existing: the temp goes to the deepest existing one */
	cr_assert_eq(create("a/b/x/y/g", 0644, 1, &f), 0);
	temp_in(P("a/b"), t, NULL, 0);
	cr_assert(!exists(P("a/b/x")));
	cr_assert_eq(store_write(&f, (const uint8_t *)"g", 1), 0);
	cr_assert_eq(store_commit(&st, &f, 0, 0), 0);
	cr_assert_str_eq(slurp(P("a/b/x/y/g")), "g");

	/* all existing: beside the final name */
	cr_assert_eq(create("a/b/c/h", 0644, 1, &f), 0);
	temp_in(P("a/b/c"), t, NULL, 0);
	store_discard(&f);
	cr_assert_eq(temps(D), 0);
}

Test(store, discard_leaves_no_directory_and_no_temp)
{
	struct store_file f;
	cr_assert_eq(create("a/b/c/f", 0644, 3, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	errno = 1234;
	store_discard(&f);
	cr_assert_eq(errno, 1234, "store_discard changed errno");
	cr_assert(!store_file_active(&f));
	cr_assert_str_eq(tree(D), "");
	store_discard(&f);      /* twice: harmless */

	/* a fresh f, never created */
	struct store_file g;
	memset(&g, 0x5a, sizeof(g));
	store_file_init(&g);
	cr_assert(!store_file_active(&g));
	store_discard(&g);
	errno = 0;
	cr_assert_eq(store_commit(&st, &g, 0, 0), -TCPX_E_IO);
	cr_assert_eq(errno, EBADF);
	cr_assert_str_eq(tree(D), "");
}

Test(store, deep_names)
{
	char name[64 * 2 + 1] = "";
	char want_last[64 * 2 + 1];
	for (int i = 0; i < 63; i++)
		strcat(name, "d/");
	strcat(name, "f");
	strcpy(want_last, name);
	put_ok(name, "deep");
	cr_assert_str_eq(slurp(P(want_last)), "deep");

	/* 65 components: never from name_validate(), refused anyway */
	struct store_file f;
	char longer[66 * 2 + 1] = "";
	for (int i = 0; i < 64; i++)
		strcat(longer, "e/");
	strcat(longer, "f");
	errno = 0;
	cr_assert_eq(create(longer, 0644, 1, &f), -TCPX_E_IO);
	cr_assert_eq(errno, EINVAL);
	cr_assert(!exists(P("e")));
	/* empty components, too long ones */
	cr_assert_eq(create("a//b", 0644, 1, &f), -TCPX_E_IO);
	cr_assert_eq(create("", 0644, 1, &f), -TCPX_E_IO);
	char c256[260];
	memset(c256, 'x', 256);
	c256[256] = '\0';
	cr_assert_eq(create(c256, 0644, 1, &f), -TCPX_E_IO);
	cr_assert_eq(store_create(&st, (const uint8_t *)"a\0b", 3, 0644, 1, NULL, &f),
		     -TCPX_E_IO);
	cr_assert_eq(temps(D), 0);
	cr_assert(!exists(P("a")));
}

/* ---- commit failures undo what they made ----------------------------- */

Test(store, final_name_appears_before_commit)
{
	struct store_file f;
	cr_assert_eq(create("x/y/f", 0644, 3, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	/* someone else makes the directories and the file meanwhile */
	cr_assert_eq(mkdir(P("x"), 0755), 0);
	cr_assert_eq(mkdir(P("x/y"), 0755), 0);
	write_text(P("x/y/f"), "planted");
	errno = 0;
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_EXISTS);
	cr_assert_eq(errno, EEXIST);
	cr_assert(!store_file_active(&f));
	cr_assert_str_eq(slurp(P("x/y/f")), "planted");
	/* the directories are not ours: they stay */
	cr_assert_str_eq(tree(D), "x x/y x/y/f");

	/* the same without new directories */
	cr_assert_eq(create("g", 0644, 3, &f), 0);
	write_text(P("g"), "planted");
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_EXISTS);
	cr_assert_str_eq(slurp(P("g")), "planted");
	cr_assert_eq(temps(D), 0);

	/* with overwrite, a directory that appeared is still not replaced */
	st.overwrite = 1;
	cr_assert_eq(create("h/i", 0644, 3, &f), 0);
	cr_assert_eq(mkdir(P("h"), 0755), 0);
	cr_assert_eq(mkdir(P("h/i"), 0755), 0);
	errno = 0;
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_EXISTS);
	cr_assert_eq(errno, EISDIR);
	cr_assert(is_dir(P("h/i")));
	cr_assert_eq(temps(D), 0);
}

Test(store, failed_commit_removes_the_directories_it_made)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f;
	char t[64];
	cr_assert_eq(create("a/b/c/f", 0644, 3, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	/* the temporary file vanishes: the rename, after the mkdirs, fails */
	temp_in(D, t, NULL, 0);
	cr_assert_eq(unlink(P(t)), 0);
	errno = 0;
	int rc = store_commit(&st, &f, 0, 0);
	cr_assert_eq(rc, -TCPX_E_IO, "rc %d", rc);
	cr_assert_eq(errno, ENOENT, "errno %d", errno);
	cr_assert_str_eq(tree(D), "", "left behind: %s", tree(D));

	/* the directory it found made by someone else stays, its own go */
	cr_assert_eq(create("p/q/r/f", 0644, 3, &f), 0);
	temp_in(D, t, NULL, 0);
	cr_assert_eq(unlink(P(t)), 0);
	cr_assert_eq(mkdir(P("p"), 0755), 0);
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_IO);
	cr_assert_str_eq(tree(D), "p");
}

Test(store, other_files_keep_shared_directories)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f1, f2, f3;
	cr_assert_eq(create("a/b/x", 0644, 1, &f1), 0);
	cr_assert_eq(create("a/b/y", 0644, 1, &f2), 0);
	cr_assert_eq(create("a/b/z", 0644, 1, &f3), 0);
	cr_assert_eq(temps(D), 3);
	cr_assert_eq(store_write(&f1, (const uint8_t *)"1", 1), 0);
	cr_assert_eq(store_write(&f2, (const uint8_t *)"2", 1), 0);
	cr_assert_eq(store_commit(&st, &f1, 0, 0), 0);    /* makes a, a/b */
	cr_assert_eq(store_commit(&st, &f2, 0, 0), 0);    /* finds them */
	store_discard(&f3);
	cr_assert_str_eq(tree(D), "a a/b a/b/x a/b/y");
	cr_assert_str_eq(slurp(P("a/b/y")), "2");
}

/* ---- what a local user may plant ------------------------------------- */

Test(store, symlink_as_a_directory_is_denied)
{
	struct store_file f;
	const char *names[] = { "link/x", "link/a/b", "inner/x", "dangle/x" };
	write_text(in(OUT, "victim"), "victim");
	cr_assert_eq(symlink(OUT, P("link")), 0);
	cr_assert_eq(mkdir(P("real"), 0755), 0);
	cr_assert_eq(symlink("real", P("inner")), 0);   /* inside, still refused */
	cr_assert_eq(symlink(in(OUT, "nowhere"), P("dangle")), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		errno = 0;
		int rc = create(names[i], 0644, 1, &f);
		cr_assert_eq(rc, -TCPX_E_DENIED, "%s: %d", names[i], rc);
		cr_assert(errno == ELOOP || errno == ENOTDIR || errno == EXDEV,
			  "%s: errno %d", names[i], errno);
		cr_assert(!store_file_active(&f));
	}
	cr_assert_str_eq(tree(OUT), "victim");
	cr_assert_str_eq(slurp(in(OUT, "victim")), "victim");
	cr_assert_str_eq(tree(D), "dangle inner link real");
}

Test(store, file_as_a_directory_is_denied)
{
	struct store_file f;
	write_text(P("pf"), "file");
	errno = 0;
	cr_assert_eq(create("pf/x", 0644, 1, &f), -TCPX_E_DENIED);
	cr_assert_eq(errno, ENOTDIR);
	cr_assert_eq(create("pf/a/b", 0644, 1, &f), -TCPX_E_DENIED);
	cr_assert_str_eq(tree(D), "pf");
	cr_assert_str_eq(slurp(P("pf")), "file");
}

Test(store, symlink_swapped_in_before_commit)
{
	struct store_file f;
	/* the first missing directory becomes a symlink */
	cr_assert_eq(create("a/b/f", 0644, 3, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(symlink(OUT, P("a")), 0);
	errno = 0;
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_DENIED);
	cr_assert(errno == ELOOP || errno == ENOTDIR, "errno %d", errno);
	cr_assert_str_eq(tree(OUT), "");
	cr_assert_str_eq(tree(D), "a");
	cr_assert_eq(unlink(P("a")), 0);

	/* a deeper one, below a directory commit made itself */
	cr_assert_eq(create("m/n/f", 0644, 3, &f), 0);
	cr_assert_eq(mkdir(P("m"), 0755), 0);
	cr_assert_eq(symlink(OUT, P("m/n")), 0);
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_DENIED);
	cr_assert_str_eq(tree(OUT), "");
	cr_assert_str_eq(tree(D), "m m/n");
	cr_assert_eq(temps(D), 0);

	/* a regular file */
	cr_assert_eq(create("q/f", 0644, 3, &f), 0);
	write_text(P("q"), "file");
	errno = 0;
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_DENIED);
	cr_assert_eq(errno, ENOTDIR);
	cr_assert_str_eq(slurp(P("q")), "file");
	cr_assert_eq(temps(D), 0);
}

/* The names the generator makes next if it only counted: plant them (files,
 * symlinks and directories); every next file still gets through. */
Test(store, planted_counter_names_do_not_block)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f;
	char t[64], planted[32][64];
	unsigned hi, lo;
	cr_assert_eq(create("probe", 0644, 1, &f), 0);
	temp_in(D, t, NULL, 0);
	cr_assert_eq(sscanf(t, ".tcpx-%8x%8x.part", &hi, &lo), 2, "name %s", t);
	store_discard(&f);
	write_text(in(OUT, "victim"), "victim");
	for (unsigned k = 0; k < 32; k++) {
		snprintf(planted[k], sizeof(planted[k]), ".tcpx-%08x%08x.part", hi,
			 (unsigned)(uint32_t)(lo + 1 + k));
		if (k % 3 == 0)
			write_text(P(planted[k]), "planted");
		else if (k % 3 == 1)
			cr_assert_eq(symlink(in(OUT, "victim"), P(planted[k])), 0);
		else
			cr_assert_eq(mkdir(P(planted[k]), 0755), 0);
	}
	for (int i = 0; i < 32; i++) {
		char name[16], content[32];
		snprintf(name, sizeof(name), "f%02d", i);
		snprintf(content, sizeof(content), "content %d", i);
		cr_assert_eq(put(name, content, 0644, 0, 0), 0, "%s: %s", name,
			     strerror(errno));
		cr_assert_str_eq(slurp(P(name)), content);
	}
	cr_assert_eq(temps(D), 32, "planted names removed or temps left");
	for (unsigned k = 0; k < 32; k++) {
		struct stat sb;
		cr_assert_eq(lstat(P(planted[k]), &sb), 0);
		if (k % 3 == 0)
			cr_assert_str_eq(slurp(P(planted[k])), "planted");
		else if (k % 3 == 1)
			cr_assert(S_ISLNK(sb.st_mode));
		else
			cr_assert(S_ISDIR(sb.st_mode));
	}
	cr_assert_str_eq(tree(OUT), "victim");
	cr_assert_str_eq(slurp(in(OUT, "victim")), "victim");
}

/* A hooked generator whose every output the test knows in advance. */
static uint64_t hook_calls;

static uint64_t hook_value(uint64_t call)
{
	return tu_mix(0x5eed0000u + call);
}

static void hook(void *buf, size_t n)
{
	uint64_t v = hook_value(hook_calls++);
	memset(buf, 0, n);
	memcpy(buf, &v, n < sizeof(v) ? n : sizeof(v));
}

static void hook_name(uint64_t call, char out[64])
{
	uint64_t v = hook_value(call);
	uint32_t r[2];
	memcpy(r, &v, sizeof(r));
	snprintf(out, 64, ".tcpx-%08x%08x.part", (unsigned)r[0], (unsigned)r[1]);
}

Test(store, planted_random_names_retry_then_give_up)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f;
	char t[64], planted[40][64];
	size_t np = 0;
	unsigned hi, lo;
	cr_assert_eq(create("probe", 0644, 1, &f), 0);  /* prefix drawn */
	temp_in(D, t, NULL, 0);
	cr_assert_eq(sscanf(t, ".tcpx-%8x%8x.part", &hi, &lo), 2);
	store_discard(&f);
	store_test_random = hook;
	hook_calls = 0;

	/* the counted name and the first 15 retries taken: the 16th retry */
	snprintf(planted[np++], 64, ".tcpx-%08x%08x.part", hi, lo + 1);
	for (uint64_t c = 0; c < 15; c++)
		hook_name(c, planted[np++]);
	for (size_t i = 0; i < np; i++)
		write_text(P(planted[i]), "planted");
	cr_assert_eq(create("a", 0644, 1, &f), 0, "%s", strerror(errno));
	cr_assert_eq(hook_calls, 16);
	char want[64];
	hook_name(15, want);
	temp_in(D, t, planted, np);
	cr_assert_str_eq(t, want);
	cr_assert_eq(store_write(&f, (const uint8_t *)"a", 1), 0);
	cr_assert_eq(store_commit(&st, &f, 0, 0), 0);
	cr_assert_str_eq(slurp(P("a")), "a");

	/* the counted name and all 16 retries taken: a clean failure */
	int fds = open_fds();
	snprintf(planted[np++], 64, ".tcpx-%08x%08x.part", hi, lo + 2);
	for (uint64_t c = 16; c < 32; c++)
		hook_name(c, planted[np++]);
	for (size_t i = 16; i < np; i++)
		cr_assert_eq(symlink(in(OUT, "victim"), P(planted[i])), 0);
	errno = 0;
	cr_assert_eq(create("sub/b", 0644, 1, &f), -TCPX_E_IO);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(hook_calls, 32);
	cr_assert(!store_file_active(&f));
	cr_assert_eq(open_fds(), fds, "descriptor leaked");
	cr_assert_eq(temps(D), (int)np);
	cr_assert(!exists(P("sub")) && !exists(P("b")));
	cr_assert_str_eq(tree(OUT), "");

	/* and the next file is fine again */
	put_ok("c", "c");
	cr_assert_eq(temps(D), (int)np);
	for (size_t i = 0; i < 16; i++)
		cr_assert_str_eq(slurp(P(planted[i])), "planted");
}

/* ---- space ---------------------------------------------------------- */

Test(store, no_space_for_a_file_larger_than_the_file_system)
{
	struct statvfs vfs;
	struct store_file f;
	cr_assert_eq(statvfs(D, &vfs), 0);
	uint64_t fs = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	errno = 0;
	cr_assert_eq(create("huge", 0644, fs + 1, &f), -TCPX_E_NO_SPACE);
	cr_assert_eq(errno, ENOSPC);
	cr_assert(!store_file_active(&f));
	cr_assert_eq(create("n/e/w/huge", 0644, 2 * fs, &f), -TCPX_E_NO_SPACE);
	cr_assert_eq(create("huge", 0644, UINT64_MAX, &f), -TCPX_E_NO_SPACE);
	cr_assert_str_eq(tree(D), "");
}

/* A file system as the test describes it (store_test_statvfs): 1 KiB
 * blocks, so the reserves and the promises are easy to count. */
static struct statvfs fake;
static int fake_statvfs(int fd, struct statvfs *v)
{
	(void)fd;
	*v = fake;
	return 0;
}

static void fake_fs(unsigned long blocks, unsigned long avail,
		    unsigned long files, unsigned long favail)
{
	memset(&fake, 0, sizeof(fake));
	fake.f_bsize = fake.f_frsize = 1024;
	fake.f_blocks = blocks;
	fake.f_bfree = fake.f_bavail = avail;
	fake.f_files = files;
	fake.f_ffree = fake.f_favail = favail;
	store_test_statvfs = fake_statvfs;
}

/* "d1/d2/.../dN/f" */
static const char *deep_name(unsigned n)
{
	static char buf[512];
	buf[0] = '\0';
	for (unsigned i = 1; i <= n; i++)
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf), "d%u/", i);
	strcat(buf, "f");
	return buf;
}

/* The create's verdict; a file accepted is discarded at once. */
static int try_size(const char *name, uint64_t size, const char **why)
{
	struct store_file f;
	int rc = create_in(NULL, name, size, &f);
	*why = f.why;
	cr_assert_eq(store_file_active(&f), rc == 0);
	store_discard(&f);
	return rc;
}

Test(store, min_free_default_keeps_one_percent_at_most_64_mib)
{
	const char *why;
	/* 10000 blocks: 1% is 100 blocks, under 64 MiB */
	fake_fs(10000, 5000, 0, 0);
	cr_assert_eq(st.min_free, STORE_FREE_AUTO);
	cr_assert_eq(try_size("a", 4900 * 1024, &why), 0);
	errno = 0;
	cr_assert_eq(try_size("a", 4900 * 1024 + 1, &why), -TCPX_E_NO_SPACE);
	cr_assert_eq(errno, ENOSPC);
	cr_assert(why && strstr(why, "--min-free"), "why: %s", why);
	/* what cannot fit at all is said as before: ENOSPC, no words */
	cr_assert_eq(try_size("a", 5001 * 1024, &why), -TCPX_E_NO_SPACE);
	cr_assert_null(why);
	/* a new directory costs a block too */
	cr_assert_eq(try_size("n/a", 4899 * 1024, &why), 0);
	cr_assert_eq(try_size("n/a", 4900 * 1024, &why), -TCPX_E_NO_SPACE);
	/* 1 TiB: 1% would be 10 GiB, the cap is 64 MiB (65536 blocks) */
	fake_fs(1ul << 30, 100000, 0, 0);
	cr_assert_eq(try_size("a", (100000 - 65536) * 1024, &why), 0);
	cr_assert_eq(try_size("a", (100000 - 65536) * 1024 + 1, &why),
		     -TCPX_E_NO_SPACE);
	cr_assert_str_eq(tree(D), "");
}

Test(store, min_free_given_in_bytes_and_zero_keeps_nothing)
{
	const char *why;
	fake_fs(10000, 5000, 0, 0);
	st.min_free = 1 << 20;          /* 1024 blocks */
	cr_assert_eq(try_size("a", 3976 * 1024, &why), 0);
	cr_assert_eq(try_size("a", 3976 * 1024 + 1, &why), -TCPX_E_NO_SPACE);
	cr_assert(why && strstr(why, "--min-free"));
	st.min_free = 0;
	cr_assert_eq(try_size("a", 5000 * 1024, &why), 0);
	cr_assert_eq(try_size("a", 5000 * 1024 + 1, &why), -TCPX_E_NO_SPACE);
	cr_assert_null(why);
	/* an empty file on a full file system, nothing kept: as before */
	fake_fs(10000, 0, 0, 0);
	cr_assert_eq(try_size("a", 0, &why), 0);
	st.min_free = UINT64_MAX - 1;   /* more than any disk: all refused */
	fake_fs(10000, 5000, 0, 0);
	cr_assert_eq(try_size("a", 0, &why), -TCPX_E_NO_SPACE);
}

Test(store, files_in_progress_hold_their_room_until_written_or_gone)
{
	struct store_file a, b;
	static uint8_t kib[1024];
	const char *why;
	fake_fs(10000, 5000, 0, 0);
	st.min_free = 0;
	cr_assert_eq(create_in(NULL, "a", 3000 * 1024, &a), 0);
	/* b alone would fit, not beside a's promise */
	cr_assert_eq(try_size("b", 3000 * 1024, &why), -TCPX_E_NO_SPACE);
	cr_assert_eq(try_size("b", 2000 * 1024, &why), 0);
	/* what a wrote is the file system's business now (the fake one does
	 * not count it), not a promise */
	for (int i = 0; i < 1000; i++)
		cr_assert_eq(store_write(&a, kib, sizeof(kib)), 0);
	cr_assert_eq(try_size("b", 3000 * 1024, &why), 0);
	cr_assert_eq(try_size("b", 3000 * 1024 + 1, &why), -TCPX_E_NO_SPACE);
	store_discard(&a);
	cr_assert_eq(try_size("b", 5000 * 1024, &why), 0);
	/* a commit gives the promise back too */
	cr_assert_eq(create_in(NULL, "c", 4000 * 1024, &a), 0);
	cr_assert_eq(create_in(NULL, "d", 1000 * 1024, &b), 0);
	cr_assert_eq(store_commit(&st, &b, 0, 0), 0);
	cr_assert_eq(try_size("e", 1000 * 1024, &why), 0);
	store_discard(&a);
	cr_assert_eq(atomic_load(&st.pending_bytes), 0);
	cr_assert_eq(atomic_load(&st.pending_dirs), 0);
}

Test(store, min_free_inodes_counts_the_directories_a_file_needs)
{
	struct store_file a;
	const char *why;
	/* 10000 inodes: the default keeps 100 */
	fake_fs(1000000, 500000, 10000, 150);
	cr_assert_eq(st.min_free_inodes, STORE_FREE_AUTO);
	cr_assert_eq(try_size(deep_name(49), 1, &why), 0);        /* 50 */
	cr_assert_eq(try_size(deep_name(50), 1, &why), -TCPX_E_NO_SPACE);
	cr_assert(why && strstr(why, "--min-free-inodes"), "why: %s", why);
	cr_assert_eq(try_size("flat", 1, &why), 0);
	/* directories promised to a file in progress count */
	cr_assert_eq(create_in(NULL, deep_name(40), 1, &a), 0);
	cr_assert_eq(try_size(deep_name(10), 1, &why), -TCPX_E_NO_SPACE);
	cr_assert_eq(try_size(deep_name(8), 1, &why), 0);
	store_discard(&a);
	cr_assert_eq(try_size(deep_name(49), 1, &why), 0);
	/* given, and 0 */
	st.min_free_inodes = 10;
	cr_assert_eq(try_size(deep_name(60), 1, &why), 0);
	st.min_free_inodes = 0;
	fake_fs(1000000, 500000, 10000, 1);
	cr_assert_eq(try_size("flat", 1, &why), 0);
	cr_assert_eq(try_size("n/flat", 1, &why), -TCPX_E_NO_SPACE);
	cr_assert_null(why);
	/* a file system that counts no inodes (btrfs): blocks decide */
	st.min_free_inodes = STORE_FREE_AUTO;
	fake_fs(1000000, 500000, 0, 0);
	cr_assert_eq(try_size(deep_name(60), 1, &why), 0);
	cr_assert_str_eq(tree(D), "");
}

/* ---- the directory budget of a connection ------------------------------ */

static int commit_in(struct store_budget *b, const char *name)
{
	struct store_file f;
	int rc = create_in(b, name, 0, &f);
	if (rc < 0)
		return rc;
	return store_commit(&st, &f, 0, 0);
}

Test(store, budget_counts_the_directories_commits_create)
{
	struct store_budget b = { .max_dirs = 3 }, other = { .max_dirs = 3 };
	struct store_file f1, f2, f;

	/* both fit the budget at create; only the first commit can pay */
	cr_assert_eq(create_in(&b, "a/b/f1", 0, &f1), 0);
	cr_assert_eq(create_in(&b, "c/d/f2", 0, &f2), 0);
	cr_assert_eq(b.dirs, 0);
	cr_assert_eq(store_commit(&st, &f1, 0, 0), 0);
	cr_assert_eq(b.dirs, 2);
	errno = 0;
	cr_assert_eq(store_commit(&st, &f2, 0, 0), -TCPX_E_NO_SPACE);
	cr_assert_eq(errno, EDQUOT);
	cr_assert(f2.why && strstr(f2.why, "--max-dirs"), "why: %s", f2.why);
	cr_assert_eq(b.dirs, 2);
	cr_assert(!exists(P("c")), "a refused commit left its directory");
	/* directories that exist cost nothing */
	cr_assert_eq(commit_in(&b, "a/b/g"), 0);
	cr_assert_eq(commit_in(&b, "x/f"), 0);
	cr_assert_eq(b.dirs, 3);
	/* refused at create when the missing ones cannot be paid for */
	cr_assert_eq(create_in(&b, "y/f", 0, &f), -TCPX_E_NO_SPACE);
	cr_assert(f.why && strstr(f.why, "--max-dirs"));
	cr_assert(!store_file_active(&f));
	cr_assert_eq(commit_in(&b, "top"), 0);
	/* another connection's directories are not ours */
	cr_assert_eq(commit_in(&other, "e/f/h"), 0);
	cr_assert_eq(other.dirs, 2);
	cr_assert_eq(commit_in(&b, "e/f/i"), 0);
	cr_assert_eq(b.dirs, 3);
	cr_assert_str_eq(tree(D), "a a/b a/b/f1 a/b/g e e/f e/f/h e/f/i top x x/f");
	cr_assert_eq(temps(D), 0);
}

Test(store, budget_takes_back_nothing_for_a_failed_commit)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_budget b = { .max_dirs = 2 };
	struct store_file f;
	char t[64];

	cr_assert_eq(create_in(&b, "m/n/x", 1, &f), 0);
	temp_in(D, t, NULL, 0);
	unlink(P(t));                   /* the rename will fail */
	cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_IO);
	cr_assert_eq(b.dirs, 0);
	cr_assert(!exists(P("m")));
	cr_assert_eq(commit_in(&b, "m/n/y"), 0);
	cr_assert_eq(b.dirs, 2);
}

Test(store, budget_zero_or_none_is_no_limit)
{
	struct store_budget b = { .max_dirs = 0 };
	cr_assert_eq(commit_in(&b, deep_name(63)), 0);
	cr_assert_eq(b.dirs, 63);
	cr_assert_eq(commit_in(NULL, "p/q/r/s"), 0);
}

/* ---- stale temporary files ---------------------------------------------- */

Test(store, clean_stale_removes_planted_temps_only_inside)
{
	cr_assert_eq(mkdir(P("sub"), 0755), 0);
	cr_assert_eq(mkdir(P("sub/deeper"), 0755), 0);
	write_text(P(".tcpx-0123456789abcdef.part"), "");
	write_text(P("sub/.tcpx-1111111111111111.part"), "x");
	write_text(P("sub/deeper/.tcpx-2222222222222222.part"), "x");
	write_text(P(".tcpx-not-a-temp"), "keep");      /* no .part */
	write_text(P("x.tcpx-3333333333333333.part"), "keep");
	write_text(in(OUT, ".tcpx-feedfacefeedface.part"), "keep me");
	write_text(in(OUT, "victim"), "victim");
	cr_assert_eq(symlink(OUT, P("lnk")), 0);
	cr_assert_eq(symlink(in(OUT, "victim"), P(".tcpx-aaaaaaaaaaaaaaaa.part")), 0);
	cr_assert_eq(mkdir(P(".tcpx-bbbbbbbbbbbbbbbb.part"), 0755), 0);

	cr_assert_eq(store_clean_stale(&st), 3);
	cr_assert_str_eq(tree(D), ".tcpx-aaaaaaaaaaaaaaaa.part .tcpx-bbbbbbbbbbbbbbbb.part "
			 ".tcpx-not-a-temp lnk sub sub/deeper x.tcpx-3333333333333333.part");
	cr_assert_str_eq(slurp(in(OUT, ".tcpx-feedfacefeedface.part")), "keep me");
	cr_assert_str_eq(slurp(in(OUT, "victim")), "victim");
	cr_assert_eq(store_clean_stale(&st), 0);
}

Test(store, clean_stale_removes_a_killed_receivers_temp)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f;
	cr_assert_eq(create("new/dir/f", 0644, 3, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	/* the receiver dies here: its descriptors close, the file stays */
	close(f.fd);
	if (f.own_parent)
		close(f.parentfd);
	cr_assert_eq(temps(D), 1);
	cr_assert_eq(store_clean_stale(&st), 1);
	cr_assert_str_eq(tree(D), "");
}

Test(store, clean_stale_leaves_files_in_progress_alone)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f, g;
	cr_assert_eq(create("busy", 0644, 3, &f), 0);
	cr_assert_eq(create("n/busy", 0644, 3, &g), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(store_clean_stale(&st), 0);
	cr_assert_eq(temps(D), 2);
	cr_assert_eq(store_write(&g, (const uint8_t *)"abc", 3), 0);
	cr_assert_eq(store_commit(&st, &f, 0, 0), 0);
	cr_assert_eq(store_commit(&st, &g, 0, 0), 0);
	cr_assert_str_eq(slurp(P("busy")), "abc");
	cr_assert_str_eq(slurp(P("n/busy")), "abc");
}

Test(store, clean_stale_stops_when_asked)
{
	write_text(P(".tcpx-0123456789abcdef.part"), "");
	store_stop_cleaning(&st);
	cr_assert_eq(store_clean_stale(&st), 0);
	cr_assert_eq(temps(D), 1);
}

/* ---- one receiver per directory -------------------------------------- */

Test(store, a_second_store_on_the_directory_is_refused)
{
	struct store other;
	errno = 0;
	cr_assert_eq(store_open(&other, D, 0), -TCPX_E_LOCKED);
	cr_assert_eq(errno, EWOULDBLOCK);
	cr_assert_eq(other.dirfd, -1);
	cr_assert_eq(other.locked_by, getpid(), "holder %ld", (long)other.locked_by);
	store_close(&other);            /* harmless */
	store_close(&st);
	cr_assert_eq(store_open(&other, D, 0), 0, "the lock outlived its store");
	cr_assert_eq(store_open(&st, D, 0), -TCPX_E_LOCKED);
	store_close(&other);
	cr_assert_eq(store_open(&st, D, 0), 0);
}

/* ---- descriptors ------------------------------------------------------ */

Test(store, no_descriptor_leaks_on_any_path)
{
	store_test_named = 1;    /* a temporary name to watch */
	struct store_file f;
	char t[64];
	int before = open_fds();
	write_text(P("keep"), "old");
	write_text(P("pf"), "file");
	cr_assert_eq(symlink(OUT, P("link")), 0);
	for (int round = 0; round < 3; round++) {
		put_ok(round == 0 ? "n/a/f" : round == 1 ? "n/b/f" : "n/c/f", "x");
		cr_assert_eq(create("keep", 0644, 1, &f), -TCPX_E_EXISTS);
		cr_assert_eq(create("link/x/y", 0644, 1, &f), -TCPX_E_DENIED);
		cr_assert_eq(create("pf/x", 0644, 1, &f), -TCPX_E_DENIED);
		cr_assert_eq(create("n/huge", 0644, UINT64_MAX, &f), -TCPX_E_NO_SPACE);
		cr_assert_eq(create("n/a/g", 0644, 1, &f), 0);
		store_discard(&f);
		cr_assert_eq(create("z/y/x", 0644, 1, &f), 0);
		temp_in(D, t, NULL, 0);
		unlink(P(t));
		cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_IO);
		cr_assert_eq(create("n/a/h", 0644, 1, &f), 0);
		write_text(P("n/a/h"), "planted");
		cr_assert_eq(store_commit(&st, &f, 0, 0), -TCPX_E_EXISTS);
		unlink(P("n/a/h"));
	}
	cr_assert_eq(open_fds(), before, "descriptors leaked");
	cr_assert_eq(temps(D), 0);
}

/* ---- store_dir: directories of a tree ----------------------------------- */

static int dir(const char *name, uint32_t mode, int64_t sec, uint32_t nsec,
	       struct store_budget *b, const char **why)
{
	const char *w;
	return store_dir(&st, (const uint8_t *)name, strlen(name), mode, sec,
			 nsec, b, why ? why : &w);
}

static void expect_dir(const char *rel, mode_t mode, int64_t sec, long nsec)
{
	struct stat sb;
	cr_assert_eq(lstat(P(rel), &sb), 0, "%s: %s", rel, strerror(errno));
	cr_assert(S_ISDIR(sb.st_mode), "%s is not a directory", rel);
	cr_assert_eq(sb.st_mode & 07777, mode, "%s: mode %o", rel,
		     sb.st_mode & 07777);
	cr_assert_eq(sb.st_mtim.tv_sec, sec, "%s: mtime", rel);
	cr_assert_eq(sb.st_mtim.tv_nsec, nsec, "%s: mtime ns", rel);
}

Test(store, dir_new_with_missing_parents)
{
	struct store_budget b = { .max_dirs = 0 };
	cr_assert_eq(dir("a/b/c", 0700, 981173106, 5, &b, NULL), 0);
	expect_dir("a/b/c", 0700, 981173106, 5);
	struct stat sb;
	cr_assert_eq(stat(P("a/b"), &sb), 0);
	cr_assert_eq(sb.st_mode & 0777, 0755u, "parents: 0777 less umask");
	cr_assert_eq(b.dirs, 3u, "three directories made");
	/* no setuid, setgid or sticky; the umask applies */
	cr_assert_eq(dir("s", 07777, 1, 0, &b, NULL), 0);
	expect_dir("s", 0755, 1, 0);
}

Test(store, dir_existing_gets_mode_and_mtime)
{
	struct store_budget b = { .max_dirs = 1 };
	cr_assert_eq(mkdir(P("e"), 0755), 0);
	write_text(P("e/keep"), "kept");
	cr_assert_eq(dir("e", 0750, 1234567890, 0, &b, NULL), 0);
	expect_dir("e", 0750, 1234567890, 0);
	cr_assert_str_eq(slurp(P("e/keep")), "kept");
	cr_assert_eq(b.dirs, 0u, "nothing made, nothing counted");
	/* the files of a tree, then its DIR (post-order) */
	put_ok("t/x/f", "f");
	cr_assert_eq(dir("t/x", 0700, 5, 0, &b, NULL), 0);
	cr_assert_eq(dir("t", 0711, 6, 0, &b, NULL), 0);
	expect_dir("t/x", 0700, 5, 0);
	expect_dir("t", 0711, 6, 0);
	cr_assert_str_eq(slurp(P("t/x/f")), "f");
}

Test(store, dir_over_a_file_or_symlink_is_exists)
{
	write_text(P("f"), "file");
	cr_assert_eq(symlink(OUT, P("l")), 0);
	cr_assert_eq(symlink("nowhere", P("dangle")), 0);
	errno = 0;
	cr_assert_eq(dir("f", 0700, 1, 0, NULL, NULL), -TCPX_E_EXISTS);
	cr_assert_eq(errno, EEXIST);
	cr_assert_eq(dir("l", 0700, 1, 0, NULL, NULL), -TCPX_E_EXISTS);
	cr_assert_eq(dir("dangle", 0700, 1, 0, NULL, NULL), -TCPX_E_EXISTS);
	cr_assert_str_eq(slurp(P("f")), "file");
	struct stat sb;
	cr_assert_eq(stat(OUT, &sb), 0);
	cr_assert_neq(sb.st_mode & 0777, 0700u, "the link's target untouched");
	cr_assert_str_eq(tree(D), "dangle f l");
}

Test(store, dir_through_a_symlink_or_file_is_denied)
{
	cr_assert_eq(symlink(OUT, P("link")), 0);
	write_text(P("pf"), "file");
	cr_assert_eq(dir("link/x", 0755, 1, 0, NULL, NULL), -TCPX_E_DENIED);
	cr_assert_eq(dir("link/x/y", 0755, 1, 0, NULL, NULL), -TCPX_E_DENIED);
	cr_assert_eq(dir("pf/x", 0755, 1, 0, NULL, NULL), -TCPX_E_DENIED);
	cr_assert_str_eq(tree(OUT), "");
	cr_assert_str_eq(tree(D), "link pf");
}

Test(store, dir_budget)
{
	struct store_budget b = { .max_dirs = 2 };
	const char *why = NULL;
	errno = 0;
	cr_assert_eq(dir("a/b/c", 0755, 1, 0, &b, &why), -TCPX_E_NO_SPACE);
	cr_assert_not_null(why);
	cr_assert(strstr(why, "--max-dirs") != NULL, "%s", why);
	cr_assert_eq(b.dirs, 0u);
	cr_assert_str_eq(tree(D), "", "nothing left behind");
	cr_assert_eq(dir("a/b", 0755, 1, 0, &b, &why), 0);
	cr_assert_null(why);
	cr_assert_eq(b.dirs, 2u);
	cr_assert_eq(dir("a/b", 0700, 2, 0, &b, NULL), 0, "existing: free");
	cr_assert_eq(dir("a/c", 0755, 1, 0, &b, &why), -TCPX_E_NO_SPACE);
	cr_assert_eq(access(P("a/c"), F_OK), -1, "removed again");
	cr_assert_eq(b.dirs, 2u);
}

/* ---- streams (store_create_stream) and the sink (store_open_sink) ---------- */

static uint8_t kib[1024];

Test(store, stream_promises_nothing_and_checks_the_reserve_at_each_write)
{
	struct store_file f, other;
	/* 10000 blocks of 1 KiB, 5000 free; the default reserve is 1%: 100 */
	fake_fs(10000, 5000, 0, 0);
	cr_assert_eq(store_create_stream(&st, (const uint8_t *)"s", 1, 0644,
					 NULL, &f), 0);
	cr_assert_eq(atomic_load(&st.pending_bytes), 0u, "a stream promises nothing");
	/* another file may take what the stream has not written */
	cr_assert_eq(create_in(NULL, "o", 4000 * 1024, &other), 0);
	/* 5000 - 4000 promised - 100 reserve: 900 blocks for the stream
	 * (each one written is one block fewer free, as on a disk) */
	for (int i = 0; i < 900; i++) {
		cr_assert_eq(store_write(&f, kib, sizeof(kib)), 0, "block %d", i);
		fake.f_bavail--;
	}
	errno = 0;
	cr_assert_eq(store_write(&f, kib, 1), -TCPX_E_NO_SPACE);
	cr_assert_eq(errno, ENOSPC);
	cr_assert(f.why && strstr(f.why, "--min-free"), "why: %s", f.why);
	cr_assert_eq(f.written, 900u * 1024, "nothing of the refused write");
	store_discard(&f);
	store_discard(&other);
	cr_assert_eq(atomic_load(&st.pending_bytes), 0u);
	cr_assert_str_eq(tree(D), "");
}

Test(store, stream_commits_like_a_file)
{
	struct store_file f;
	cr_assert_eq(store_create_stream(&st, (const uint8_t *)"a/s", 3, 0640,
					 NULL, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"hello", 5), 0);
	cr_assert_eq(store_commit(&st, &f, 1700000000, 0), 0);
	cr_assert_str_eq(slurp(P("a/s")), "hello");
	struct stat sb;
	cr_assert_eq(stat(P("a/s"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0640u);
	cr_assert_eq(sb.st_mtime, 1700000000);
}

Test(store, sink_takes_one_file_and_no_directory)
{
	struct store sink;
	struct store_file f, g;
	const char *why;
	int fds[2];
	char buf[64] = { 0 };

	cr_assert_eq(pipe(fds), 0);
	store_open_sink(&sink, fds[1]);
	cr_assert_eq(sink.dirfd, -1);
	cr_assert_eq(store_create(&sink, (const uint8_t *)"x", 1, 0644, 5,
				  NULL, &f), 0);
	cr_assert(store_file_active(&f));
	/* a second file while the first is in progress, and after */
	cr_assert_eq(store_create(&sink, (const uint8_t *)"y", 1, 0644, 1,
				  NULL, &g), -TCPX_E_ONE_FILE);
	cr_assert(g.why && strstr(g.why, "one file"));
	cr_assert(!store_file_active(&g));
	cr_assert_eq(store_write(&f, (const uint8_t *)"hello", 5), 0);
	cr_assert_eq(store_commit(&sink, &f, 0, 0), 0);
	cr_assert(!store_file_active(&f));
	cr_assert_eq(store_create_stream(&sink, (const uint8_t *)"z", 1, 0644,
					 NULL, &g), -TCPX_E_ONE_FILE);
	cr_assert_eq(store_dir(&sink, (const uint8_t *)"d", 1, 0755, 0, 0,
			       NULL, &why), -TCPX_E_ONE_FILE);
	cr_assert(why && strstr(why, "no directory"));
	/* the sink's descriptor is lent, never closed by the store */
	cr_assert_neq(fcntl(fds[1], F_GETFD), -1);
	close(fds[1]);
	cr_assert_eq(read(fds[0], buf, sizeof(buf)), 5);
	cr_assert_str_eq(buf, "hello");
	close(fds[0]);
	store_close(&sink);
	cr_assert_str_eq(tree(D), "", "nothing in any directory");
}

Test(store, sink_discard_keeps_the_descriptor)
{
	struct store sink;
	struct store_file f;
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	store_open_sink(&sink, fds[1]);
	cr_assert_eq(store_create_stream(&sink, (const uint8_t *)"x", 1, 0644,
					 NULL, &f), 0);
	cr_assert_eq(store_write(&f, (const uint8_t *)"ab", 2), 0);
	store_discard(&f);
	cr_assert(!store_file_active(&f));
	cr_assert_neq(fcntl(fds[1], F_GETFD), -1, "still open");
	close(fds[0]);
	close(fds[1]);
}

/* ---- offers: lookups, keep-both, partial data (resume) ----------------- */

static int create_as(const char *name, uint64_t size,
		     const struct store_want *w, struct store_file *f)
{
	return store_create_as(&st, (const uint8_t *)name, strlen(name), 0644,
			       size, NULL, w, f);
}

static void write_str(struct store_file *f, const char *s)
{
	cr_assert_eq(store_write(f, (const uint8_t *)s, strlen(s)), 0);
}

static size_t count_partials(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;
	cr_assert(d != NULL);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, ".tcpx-", 6) == 0 &&
		     strlen(e->d_name) == 6 + 32 + 5;
	closedir(d);
	return n;
}

Test(store, lookup_and_digest_of_an_existing_file)
{
	struct store_found sf;
	uint8_t dg[64], want[64];
	write_text(P("x"), "hello\n");
	cr_assert_eq(store_lookup(&st, (const uint8_t *)"x", 1, &sf), 0);
	cr_assert_eq(sf.kind, 1);
	cr_assert_eq(sf.size, 6u);
	cr_assert_eq(store_lookup(&st, (const uint8_t *)"nope/y", 6, &sf), 0);
	cr_assert_eq(sf.kind, 0);
	cr_assert_eq(mkdir(P("dir"), 0755), 0);
	cr_assert_eq(store_lookup(&st, (const uint8_t *)"dir", 3, &sf), 0);
	cr_assert_eq(sf.kind, 2);
	cr_assert_eq(store_lookup(&st, (const uint8_t *)"x/y", 3, &sf),
		     -TCPX_E_DENIED, "a file where a directory should be");
	cr_assert_eq(store_digest_of(&st, (const uint8_t *)"x", 1, dg), 0);
	tu_digest_of((const uint8_t *)"hello\n", 6, want);
	cr_assert_arr_eq(dg, want, 64);
	cr_assert(store_digest_of(&st, (const uint8_t *)"dir", 3, dg) < 0);
}

Test(store, keep_both_takes_the_first_free_name)
{
	struct store_file f;
	struct store_want w = { .keep_both = 1 };
	write_text(P("a.tar.gz"), "old\n");
	write_text(P("a.tar.1.gz"), "older\n");
	cr_assert_eq(create_as("a.tar.gz", 4, &w, &f), 0);
	write_str(&f, "new\n");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(f.stored_as, "a.tar.2.gz");
	cr_assert(!strcmp(slurp(P("a.tar.2.gz")), "new\n"));
	cr_assert(!strcmp(slurp(P("a.tar.gz")), "old\n"));
	cr_assert(!strcmp(slurp(P("a.tar.1.gz")), "older\n"));
	/* no extension, and a leading dot is none */
	write_text(P(".rc"), "x\n");
	cr_assert_eq(create_as(".rc", 2, &w, &f), 0);
	write_str(&f, "y\n");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(f.stored_as, ".rc.1");
	/* a free name: stored under it */
	cr_assert_eq(create_as("fresh", 2, &w, &f), 0);
	write_str(&f, "z\n");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(f.stored_as, "");
	cr_assert(!strcmp(slurp(P("fresh")), "z\n"));
}

Test(store, partial_data_is_kept_found_and_resumed)
{
	struct store_file f;
	struct digest dg;
	uint8_t id[STORE_PARTIAL_ID_LEN], got[64], want[64];
	store_partial_id((const uint8_t *)"p", 1, BIG(6), 1700000000, 0, id);
	struct store_want w = { .partial_id = id, .resume = 1 };

	cr_assert_eq(create_as("p", BIG(6), &w, &f), 0);
	cr_assert(f.partial);
	cr_assert_eq(f.have, 0u);
	write_str(&f, "hel");
	store_keep(&f);                 /* the connection was lost */
	cr_assert_eq(count_partials(D), 1u);
	cr_assert(!exists(P("p")));

	cr_assert_eq(create_as("p", BIG(6), &w, &f), 0);
	cr_assert_eq(f.have, 3u, "found again with its data");
	/* a second connection for the same file cannot share it */
	struct store_file g;
	cr_assert_eq(create_as("p", BIG(6), &w, &g), 0);
	cr_assert(!g.partial, "locked: a temporary file of its own");
	store_discard(&g);
	cr_assert_eq(store_resume(&f, 3, &dg), 0);
	digest_final(&dg, got);
	tu_digest_of((const uint8_t *)"hel", 3, want);
	cr_assert_arr_eq(got, want, 64);
	write_str(&f, "lo\n");
	cr_assert_eq(store_commit(&st, &f, 1700000000, 0), 0);
	cr_assert(!strcmp(slurp(P("p")), "hello\n"));
	cr_assert_eq(count_partials(D), 0u);

	/* another identity (another size) is another partial */
	uint8_t id2[STORE_PARTIAL_ID_LEN];
	store_partial_id((const uint8_t *)"p", 1, BIG(7), 1700000000, 0, id2);
	cr_assert_neq(memcmp(id, id2, sizeof(id)), 0);
}

Test(store, partial_data_restarted_or_discarded)
{
	struct store_file f;
	uint8_t id[STORE_PARTIAL_ID_LEN];
	store_partial_id((const uint8_t *)"q", 1, BIG(4), 1, 0, id);
	struct store_want w = { .partial_id = id, .resume = 1 };
	cr_assert_eq(create_as("q", BIG(4), &w, &f), 0);
	write_str(&f, "ab");
	store_keep(&f);
	cr_assert_eq(create_as("q", BIG(4), &w, &f), 0);
	cr_assert_eq(f.have, 2u);
	cr_assert_eq(store_restart(&f), 0);     /* the sender's prefix differed */
	write_str(&f, "wxyz");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert(!strcmp(slurp(P("q")), "wxyz"));
	/* verification failed: discarded, nothing kept */
	cr_assert_eq(unlink(P("q")), 0);
	cr_assert_eq(create_as("q", BIG(4), &w, &f), 0);
	write_str(&f, "ab");
	store_discard(&f);
	cr_assert_eq(count_partials(D), 0u);
	/* without resume, an existing partial's data is dropped at create */
	cr_assert_eq(create_as("q", BIG(4), &w, &f), 0);
	write_str(&f, "ab");
	store_keep(&f);
	w.resume = 0;
	cr_assert_eq(create_as("q", BIG(4), &w, &f), 0);
	cr_assert_eq(f.have, 0u);
	struct stat sb;
	cr_assert_eq(fstat(f.fd, &sb), 0);
	cr_assert_eq(sb.st_size, 0);
	store_discard(&f);
}

Test(store, partial_data_expires_after_keep_partial)
{
	struct store_file f;
	uint8_t id[STORE_PARTIAL_ID_LEN];
	char path[256];
	store_partial_id((const uint8_t *)"r", 1, BIG(4), 1, 0, id);
	struct store_want w = { .partial_id = id, .resume = 1 };
	cr_assert_eq(create_as("r", BIG(4), &w, &f), 0);
	write_str(&f, "ab");
	snprintf(path, sizeof(path), "%s/%s", D, f.tmpname);
	store_keep(&f);
	cr_assert_eq(store_clean_stale(&st), 0, "recent partial data stays");
	cr_assert_eq(count_partials(D), 1u);
	struct timespec old[2] = { { .tv_sec = time(NULL) - 2 * 86400 },
				   { .tv_sec = time(NULL) - 2 * 86400 } };
	cr_assert_eq(utimensat(AT_FDCWD, path, old, 0), 0);
	cr_assert_eq(store_clean_stale(&st), 1, "older than --keep-partial");
	cr_assert_eq(count_partials(D), 0u);
}

/* Offers to a sink (tcpget --stdout): it holds no names; the first
 * lookup finds nothing and takes the one file, later ones are refused. */
Test(store, sink_lookups_promise_its_one_file)
{
	struct store sink;
	struct store_found found;
	int fds[2];

	cr_assert_eq(pipe(fds), 0);
	store_open_sink(&sink, fds[1]);
	cr_assert_eq(store_lookup(&sink, (const uint8_t *)"x", 1, &found), 0);
	cr_assert_eq(found.kind, 0);
	cr_assert_eq(store_lookup(&sink, (const uint8_t *)"y", 1, &found),
		     -TCPX_E_ONE_FILE);
	cr_assert(found.why && strstr(found.why, "one file"));
	close(fds[0]);
	close(fds[1]);
}

/* A stream asked with a partial identity gets a random temporary name:
 * it is never resumed, so nothing of it is kept. */
Test(store, a_stream_keeps_no_partial_data)
{
	struct store_file f;
	uint8_t id[STORE_PARTIAL_ID_LEN] = { 1 };
	struct store_want w = { .partial_id = id, .stream = 1 };
	cr_assert_eq(store_create_as(&st, (const uint8_t *)"s", 1, 0644,
				     UINT64_MAX, NULL, &w, &f), 0,
		     "the unknown size promises nothing");
	cr_assert(!f.partial);
	cr_assert_eq(store_write(&f, (const uint8_t *)"ab", 2), 0);
	store_keep(&f);
	cr_assert_str_eq(tree(D), "");
}

/* Several connections (MULTI): chunks written at their offsets in any
 * order, read back for the digest, and a lost session keeps its partial
 * data only up to the first gap. */
Test(store, written_at_offsets_read_back_and_kept_to_the_gap)
{
	struct store_file f;
	uint8_t id[STORE_PARTIAL_ID_LEN], buf[8];
	store_partial_id((const uint8_t *)"m", 1, BIG(9), 1700000000, 0, id);
	struct store_want w = { .partial_id = id, .resume = 1 };

	cr_assert_eq(create_as("m", BIG(9), &w, &f), 0);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"ghi", 3, 6), 0);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"abc", 3, 0), 0);
	cr_assert_eq(store_read_at(&f, buf, 3, 6), 3);
	cr_assert(memcmp(buf, "ghi", 3) == 0);
	cr_assert_eq(store_read_at(&f, buf, 8, 6), 3, "short at the end");
	cr_assert_eq(f.written, 6u);
	store_keep_prefix(&f, 3);       /* [3, 6) never came */
	cr_assert_eq(count_partials(D), 1u);
	cr_assert_eq(create_as("m", BIG(9), &w, &f), 0);
	cr_assert_eq(f.have, 3u, "only the whole prefix is kept");
	store_discard(&f);

	cr_assert_eq(create_as("m", BIG(9), &w, &f), 0);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"def", 3, 3), 0);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"abc", 3, 0), 0);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"ghi", 3, 6), 0);
	cr_assert_eq(store_commit(&st, &f, 1700000000, 0), 0);
	cr_assert(!strcmp(slurp(P("m")), "abcdefghi"));
	cr_assert_eq(count_partials(D), 0u);
}

/* After an offer the caller looked the name up already (store_lookup) and
 * decided: store_create_as() does not look again, and commit still never
 * replaces what appeared (or was there) unless asked. */
Test(store, looked_up_skips_the_early_check_not_the_commits)
{
	struct store_file f;
	struct store_want w = { .looked_up = 1 };
	write_text(P("there"), "old");
	cr_assert_eq(create_as("there", 3, &w, &f), 0,
		     "no second look after the offer's");
	write_str(&f, "new");
	cr_assert_eq(store_commit(&st, &f, 1, 0), -TCPX_E_EXISTS);
	cr_assert_str_eq(slurp(P("there")), "old");
	cr_assert_eq(temps(D), 0);
	w.looked_up = 0;
	cr_assert_eq(create_as("there", 3, &w, &f), -TCPX_E_EXISTS);
}

/* Partial data is made with O_EXCL when its name is free; a name that is
 * taken (a planted hard link to a file of someone else's, a symlink) goes
 * through every check of one found and is never written through. */
Test(store, partial_name_taken_by_a_link_is_not_written_through)
{
	struct store_file f;
	uint8_t id[STORE_PARTIAL_ID_LEN];
	char hex[2 * STORE_PARTIAL_ID_LEN + 1], name[64];
	store_partial_id((const uint8_t *)"v", 1, BIG(3), 1, 0, id);
	for (unsigned i = 0; i < STORE_PARTIAL_ID_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	snprintf(name, sizeof(name), ".tcpx-%s.part", hex);
	struct store_want w = { .partial_id = id, .resume = 1 };

	write_text(in(OUT, "victim"), "secret");
	cr_assert_eq(link(in(OUT, "victim"), P(name)), 0);
	cr_assert_eq(create_as("v", BIG(3), &w, &f), 0);
	cr_assert(!f.partial, "a planted hard link is not our partial");
	write_str(&f, "abc");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(slurp(in(OUT, "victim")), "secret");
	cr_assert_eq(unlink(P(name)), 0);

	cr_assert_eq(symlink(in(OUT, "victim"), P(name)), 0);
	cr_assert_eq(create_as("v2", BIG(3), &w, &f), 0);
	cr_assert(!f.partial, "a planted symlink is not our partial");
	store_discard(&f);
	cr_assert_str_eq(slurp(in(OUT, "victim")), "secret");
	cr_assert_eq(unlink(P(name)), 0);

	/* free: made fresh, private, ours */
	cr_assert_eq(create_as("v3", BIG(3), &w, &f), 0);
	cr_assert(f.partial);
	struct stat sb;
	cr_assert_eq(fstat(f.fd, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	cr_assert_eq(sb.st_size, 0);
	store_discard(&f);
}

/* ---- the directory cache of a connection -------------------------------- */

static struct store_dircache dc;

/* create + write + commit through dc */
static int put_dc(const char *name, const char *content)
{
	struct store_file f;
	struct store_want w = { .cache = &dc };
	size_t n = strlen(content);
	int rc = create_as(name, n, &w, &f);
	if (rc < 0)
		return rc;
	write_str(&f, content);
	return store_commit(&st, &f, 1, 0);
}

static int lookup_dc(const char *name, struct store_found *out)
{
	return store_lookup_in(&st, &dc, (const uint8_t *)name, strlen(name),
			       out);
}

Test(store, dircache_reuses_the_directories_of_consecutive_files)
{
	struct store_found sf;
	int before = open_fds();
	store_dircache_init(&dc);
	cr_assert_eq(mkdir(P("a"), 0755), 0);
	cr_assert_eq(mkdir(P("a/b"), 0755), 0);
	cr_assert_eq(put_dc("a/b/f1", "1"), 0);
	cr_assert_eq(dc.depth, 2u);
	cr_assert_eq(dc.hits, 0u);
	cr_assert_eq(lookup_dc("a/b/f2", &sf), 0);
	cr_assert_eq(sf.kind, 0);
	cr_assert_eq(put_dc("a/b/f2", "2"), 0);
	cr_assert_eq(dc.hits, 4u, "a and a/b reused twice, not opened");
	cr_assert_eq(lookup_dc("a/b/f1", &sf), 0);
	cr_assert_eq(sf.kind, 1);
	/* another directory below a: the common level is kept */
	cr_assert_eq(mkdir(P("a/c"), 0755), 0);
	cr_assert_eq(put_dc("a/c/g", "3"), 0);
	cr_assert_eq(dc.hits, 7u);
	cr_assert_str_eq(slurp(P("a/c/g")), "3");
	cr_assert_str_eq(slurp(P("a/b/f2")), "2");
	cr_assert_eq(dc.lent, 0u);
	store_dircache_drop(&dc);
	cr_assert_eq(open_fds(), before, "descriptors leaked");
}

/* A directory replaced between two files of one connection, by a symlink
 * out of the tree (the directory itself moved out there), by another
 * directory, or by a file: the cached descriptor is not used. */
Test(store, dircache_sees_a_directory_replaced_or_moved_out)
{
	store_dircache_init(&dc);
	cr_assert_eq(mkdir(P("a"), 0755), 0);
	cr_assert_eq(put_dc("a/f1", "1"), 0);
	cr_assert_eq(dc.depth, 1u);
	/* moved out of the tree, a symlink to it left in its place */
	cr_assert_eq(rename(P("a"), in(OUT, "a")), 0);
	cr_assert_eq(symlink(in(OUT, "a"), P("a")), 0);
	cr_assert_eq(put_dc("a/f2", "2"), -TCPX_E_DENIED);
	cr_assert(!exists(in(OUT, "a/f2")), "written outside the tree");
	cr_assert_eq(temps(OUT), 0);
	cr_assert_eq(unlink(P("a")), 0);
	/* moved out, nothing in its place: created afresh inside */
	cr_assert_eq(put_dc("a/f3", "3"), 0);
	cr_assert_str_eq(slurp(P("a/f3")), "3");
	cr_assert(!exists(in(OUT, "a/f3")));
	/* replaced by another directory: the new one gets the file */
	cr_assert_eq(rename(P("a"), P("old")), 0);
	cr_assert_eq(mkdir(P("a"), 0755), 0);
	cr_assert_eq(put_dc("a/f4", "4"), 0);
	cr_assert_str_eq(slurp(P("a/f4")), "4");
	cr_assert(!exists(P("old/f4")));
	/* replaced by a file: refused */
	cr_assert_eq(rename(P("a"), P("old2")), 0);
	write_text(P("a"), "file");
	cr_assert_eq(put_dc("a/f5", "5"), -TCPX_E_DENIED);
	cr_assert_str_eq(tree(OUT), "a a/f1");
	cr_assert_eq(dc.lent, 0u);
	store_dircache_drop(&dc);
}

/* While a file in progress borrows the cached descriptor, other names
 * only read the cache: the borrowed descriptor stays the file's. */
Test(store, dircache_lent_descriptor_stays_while_the_file_is_in_progress)
{
	struct store_file f;
	struct store_found sf;
	struct store_want w = { .cache = &dc };
	int before = open_fds();
	store_dircache_init(&dc);
	cr_assert_eq(mkdir(P("a"), 0755), 0);
	cr_assert_eq(mkdir(P("b"), 0755), 0);
	cr_assert_eq(create_as("a/f", 1, &w, &f), 0);
	cr_assert_eq(dc.lent, 1u);
	int lentfd = f.parentfd;
	cr_assert_eq(lookup_dc("b/g", &sf), 0);
	cr_assert_eq(put_dc("b/g", "g"), 0);
	cr_assert_eq(dc.fd[0], lentfd, "the lent level was not replaced");
	cr_assert_eq(dc.lent, 1u);
	write_str(&f, "x");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_eq(dc.lent, 0u);
	cr_assert_str_eq(slurp(P("a/f")), "x");
	cr_assert_str_eq(slurp(P("b/g")), "g");
	/* now free to move on to b */
	cr_assert_eq(put_dc("b/h", "h"), 0);
	cr_assert_eq(dc.len[0], 1u);
	cr_assert_eq(dc.comp[0][0], 'b');
	store_dircache_drop(&dc);
	cr_assert_eq(open_fds(), before, "descriptors leaked");
}

/* ---- a connection's look at the free space (struct store_look) ---------- */

static int looks;               /* fake statvfs calls */
static int counting_statvfs(int fd, struct statvfs *v)
{
	looks++;
	return fake_statvfs(fd, v);
}

static int64_t clock_now;
static int64_t fake_clock(void)
{
	return clock_now;
}

/* create through dc, n bytes written, committed */
static int put_size(const char *name, uint64_t n, const char **why)
{
	static uint8_t buf[1024];
	struct store_file f;
	struct store_want w = { .cache = &dc };
	int rc = store_create_as(&st, (const uint8_t *)name, strlen(name), 0644,
				 n, NULL, &w, &f);
	*why = f.why;
	if (rc < 0)
		return rc;
	for (uint64_t left = n; left;) {
		size_t k = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		cr_assert_eq(store_write(&f, buf, k), 0);
		left -= k;
	}
	return store_commit(&st, &f, 1, 0);
}

static void look_setup(unsigned long blocks, unsigned long avail)
{
	fake_fs(blocks, avail, 100000, 50000);
	store_test_statvfs = counting_statvfs;
	store_test_clock_ms = fake_clock;
	looks = 0;
	clock_now = 1000;
	store_dircache_init(&dc);
}

Test(store, look_reused_for_64_files_or_100_ms)
{
	const char *why;
	char name[32];
	look_setup(1000000, 500000);
	for (int i = 0; i < 130; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		cr_assert_eq(put_size(name, 1, &why), 0);
	}
	/* a look serves its own file and 64 more */
	cr_assert_eq(looks, 2, "one look per 65 files, not %d", looks);
	clock_now += STORE_LOOK_MS;
	cr_assert_eq(put_size("late", 1, &why), 0);
	cr_assert_eq(looks, 3, "a look older than 100 ms is taken again");
	/* without a connection's cache: a look for every file, as before */
	struct store_file f;
	cr_assert_eq(create("nocache", 0644, 1, &f), 0);
	store_discard(&f);
	cr_assert_eq(looks, 4);
	store_test_clock_ms = NULL;
	store_dircache_drop(&dc);
}

/* Files written and committed since the look are used room, although the
 * look (and here the file system, which does not change) cannot show it:
 * the look stops accepting where the reserve begins, and only a fresh
 * look may refuse. */
Test(store, look_counts_what_was_accepted_since)
{
	const char *why;
	look_setup(10000, 5000);        /* 1 KiB blocks; 1% kept: 100 */
	cr_assert_eq(put_size("a", 2000 * 1024, &why), 0);
	cr_assert_eq(looks, 1);
	cr_assert_eq(put_size("b", 2000 * 1024, &why), 0);
	cr_assert_eq(looks, 1, "fits on the look");
	/* 4000 counted, 900 over the reserve left: 901 does not fit on it */
	cr_assert_eq(put_size("c", 901 * 1024, &why), 0);
	cr_assert_eq(looks, 2, "did not fit on the look: looked again");
	/* the fake file system still shows 5000 free: a fresh look accepts
	 * (it was the look's caution, not a refusal) */
	cr_assert_eq(put_size("d", 4900 * 1024, &why), 0);
	/* a refusal comes from a fresh look only */
	fake.f_bavail = 50;
	int before = looks;
	cr_assert_eq(put_size("e", 1, &why), -TCPX_E_NO_SPACE);
	cr_assert_eq(looks, before + 1);
	cr_assert(why && strstr(why, "--min-free"));
	store_test_clock_ms = NULL;
	store_dircache_drop(&dc);
}

/* Inodes and new directories are counted the same way. */
Test(store, look_counts_inodes_and_directories)
{
	const char *why;
	look_setup(1000000, 500000);
	fake.f_files = 10000;           /* 1% kept: 100 inodes */
	fake.f_favail = fake.f_ffree = 150;
	cr_assert_eq(put_size("a", 1, &why), 0);                /* 1 */
	cr_assert_eq(looks, 1);
	cr_assert_eq(put_size(deep_name(40), 1, &why), 0);      /* 41 */
	cr_assert_eq(looks, 1);
	/* 42 counted on 150 - 100 kept: 8 more fit, 9 not on the look */
	cr_assert_eq(put_size("x1/x2/x3/x4/x5/x6/x7/f", 1, &why), 0);  /* 50 */
	cr_assert_eq(looks, 1);
	cr_assert_eq(put_size("y1/f", 1, &why), 0);             /* 52 */
	cr_assert_eq(looks, 2, "looked again");
	store_test_clock_ms = NULL;
	store_dircache_drop(&dc);
}

/* ---- small files: unnamed until their commit (STORE_UNNAMED_MAX) -------- */

/* Nothing of a small file is in the directory while it is written, not
 * even a temporary name; commit names it once, with its mode and mtime. */
Test(store, small_file_is_unnamed_until_its_commit)
{
	struct store_file f;
	struct stat sb;
	cr_assert_eq(create("sub/x", 0640, 5, &f), 0);
	cr_assert(f.unnamed);
	cr_assert_str_eq(f.tmpname, "");
	cr_assert_eq(fstat(f.fd, &sb), 0);
	cr_assert_eq(sb.st_nlink, 0u, "no name at all");
	write_str(&f, "hello");
	cr_assert_str_eq(tree(D), "", "no entry in the directory before commit");
	cr_assert_eq(store_commit(&st, &f, 1700000000, 5), 0);
	cr_assert_str_eq(tree(D), "sub sub/x");
	cr_assert_str_eq(slurp(P("sub/x")), "hello");
	cr_assert_eq(stat(P("sub/x"), &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0640);
	cr_assert_eq(sb.st_nlink, 1u);
	cr_assert_eq(sb.st_mtim.tv_sec, 1700000000);
	cr_assert_eq(sb.st_mtim.tv_nsec, 5);
	/* as large as the limit: still unnamed; one byte more: named */
	cr_assert_eq(create("lim", 0644, STORE_UNNAMED_MAX, &f), 0);
	cr_assert(f.unnamed);
	store_discard(&f);
	cr_assert_eq(create("big", 0644, BIG(1), &f), 0);
	cr_assert(!f.unnamed);
	cr_assert_eq(temps(D), 1);
	store_discard(&f);
	cr_assert_str_eq(tree(D), "sub sub/x");
}

/* The name taken meanwhile: the commit is refused as a rename's would be
 * (EXISTS), what took it stays, nothing of ours is left, no directory the
 * other writer made is removed, and no descriptor leaks. */
Test(store, unnamed_name_taken_at_commit_is_refused_and_nothing_lost)
{
	struct store_file f;
	struct store_want w = { .looked_up = 1 };
	int fds = open_fds();
	cr_assert_eq(create_as("x", 4, &w, &f), 0);
	cr_assert(f.unnamed);
	write_str(&f, "ours");
	write_text(P("x"), "theirs");
	cr_assert_eq(store_commit(&st, &f, 1, 0), -TCPX_E_EXISTS);
	cr_assert_eq(errno, EEXIST);
	cr_assert_str_eq(slurp(P("x")), "theirs");
	cr_assert_str_eq(tree(D), "x");
	cr_assert_eq(create_as("n/y", 4, &w, &f), 0);
	write_str(&f, "ours");
	cr_assert_eq(mkdir(P("n"), 0755), 0);
	write_text(P("n/y"), "theirs");
	cr_assert_eq(store_commit(&st, &f, 1, 0), -TCPX_E_EXISTS);
	cr_assert_str_eq(slurp(P("n/y")), "theirs");
	cr_assert_str_eq(tree(D), "n n/y x");
	/* a directory we made for it is removed again */
	cr_assert_eq(create_as("m/z", 4, &w, &f), 0);
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_eq(create_as("m2/z", 4, &w, &f), 0);
	write_text(P("m2"), "a file where the directory goes");
	cr_assert(store_commit(&st, &f, 1, 0) < 0);
	cr_assert_str_eq(tree(D), "m m/z m2 n n/y x");
	cr_assert_eq(open_fds(), fds);
}

/* Keep-both names an unnamed file NAME.N.EXT just as it renames a named
 * one, even when the name is taken only after create. */
Test(store, unnamed_keep_both_takes_the_first_free_name)
{
	struct store_file f;
	struct store_want w = { .keep_both = 1 };
	cr_assert_eq(create_as("r.txt", 3, &w, &f), 0);
	cr_assert(f.unnamed);
	write_str(&f, "new");
	write_text(P("r.txt"), "old");
	write_text(P("r.1.txt"), "older");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(f.stored_as, "r.2.txt");
	cr_assert_str_eq(slurp(P("r.2.txt")), "new");
	cr_assert_str_eq(slurp(P("r.txt")), "old");
	cr_assert_str_eq(tree(D), "r.1.txt r.2.txt r.txt");
}

/* A small file keeps no partial data: a lost connection leaves nothing
 * (and a resumed one is sent whole); overwrite, a stream and a file
 * system without O_TMPFILE take a named temporary file. */
Test(store, small_file_keeps_no_partial_and_named_where_it_must)
{
	struct store_file f;
	uint8_t id[STORE_PARTIAL_ID_LEN];
	store_partial_id((const uint8_t *)"p", 1, 3, 1, 0, id);
	struct store_want w = { .partial_id = id, .resume = 1 };
	cr_assert_eq(create_as("p", 3, &w, &f), 0);
	cr_assert(f.unnamed && !f.partial);
	write_str(&f, "abc");
	store_keep(&f);                 /* the connection was lost */
	cr_assert_str_eq(tree(D), "", "nothing kept");
	cr_assert_eq(f.fd, -1);

	struct store_want ow = { .overwrite = 1 };
	write_text(P("o"), "old");
	cr_assert_eq(create_as("o", 3, &ow, &f), 0);
	cr_assert(!f.unnamed, "overwrite renames over the old file");
	cr_assert_eq(temps(D), 1);
	write_str(&f, "new");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(slurp(P("o")), "new");

	struct store_want sw = { .stream = 1 };
	cr_assert_eq(create_as("s", 0, &sw, &f), 0);
	cr_assert(!f.unnamed, "a stream's size is unknown");
	store_discard(&f);

	store_test_named = 1;           /* as without O_TMPFILE */
	cr_assert_eq(create("t", 0644, 3, &f), 0);
	cr_assert(!f.unnamed);
	cr_assert_eq(temps(D), 1);
	write_str(&f, "tmp");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(tree(D), "o t");
	cr_assert_str_eq(slurp(P("t")), "tmp");
}

/* Several connections write a small file at offsets too: unnamed. */
Test(store, unnamed_written_at_offsets)
{
	struct store_file f;
	uint8_t buf[4];
	cr_assert_eq(create("w", 0644, 6, &f), 0);
	cr_assert(f.unnamed);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"def", 3, 3), 0);
	cr_assert_eq(store_write_at(&f, (const uint8_t *)"abc", 3, 0), 0);
	cr_assert_eq(store_read_at(&f, buf, 3, 3), 3);
	cr_assert(memcmp(buf, "def", 3) == 0);
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(slurp(P("w")), "abcdef");
}

/* Named through /proc/self/fd (kernels before 6.10 refuse AT_EMPTY_PATH
 * to a process without CAP_DAC_READ_SEARCH): the same name, the same
 * refusal of a taken one. */
Test(store, unnamed_named_through_proc)
{
	struct store_file f;
	struct store_want w = { .looked_up = 1 };
	store_test_named = 2;
	cr_assert_eq(create("a/x", 0644, 3, &f), 0);
	cr_assert(f.unnamed);
	write_str(&f, "abc");
	cr_assert_eq(store_commit(&st, &f, 1, 0), 0);
	cr_assert_str_eq(slurp(P("a/x")), "abc");
	cr_assert_eq(create_as("a/x", 3, &w, &f), 0);
	write_str(&f, "new");
	cr_assert_eq(store_commit(&st, &f, 1, 0), -TCPX_E_EXISTS);
	cr_assert_str_eq(slurp(P("a/x")), "abc");
	cr_assert_str_eq(tree(D), "a a/x");
}
