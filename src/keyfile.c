/* keyfile: key files on disk (keyfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "keyfile.h"

/* Any key file is small; a larger one is not ours. */
#define KEYFILE_MAX 4096

static int fail(char why[KEYFILE_WHY_MAX], const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int fail(char why[KEYFILE_WHY_MAX], const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, KEYFILE_WHY_MAX, fmt, ap);
	va_end(ap);
	return -1;
}

/* Writes all of buf; 0 or -1 (errno). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

/* A new file with this text, never over an existing one. */
static int create_file(const char *path, mode_t mode, const char *text,
		       size_t len, char why[KEYFILE_WHY_MAX])
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      mode);
	if (fd < 0 && errno == EEXIST)
		return fail(why, "%s: exists (a key file is never overwritten)",
			    path);
	if (fd < 0)
		return fail(why, "%s: %s", path, strerror(errno));
	/* The umask may have taken bits away; 0600 must be exactly that. */
	if (fchmod(fd, mode) < 0 || write_all(fd, text, len) < 0 ||
	    fsync(fd) < 0) {
		fail(why, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

int keyfile_generate(const char *path, const char *comment,
		     uint8_t pk[KEYS_PUBLIC_LEN], char why[KEYFILE_WHY_MAX])
{
	size_t plen = strlen(path);
	char *pub = malloc(plen + 5), line[KEYS_LINE_MAX];
	uint8_t *mem = sodium_malloc(KEYS_SEED_LEN + KEYS_SECRET_LEN + 128);
	int rc = -1;

	if (!pub || !mem) {
		fail(why, "out of memory");
		goto out;
	}
	uint8_t *seed = mem, *sk = mem + KEYS_SEED_LEN;
	char *text = (char *)(sk + KEYS_SECRET_LEN);
	memcpy(pub, path, plen);
	memcpy(pub + plen, ".pub", 5);
	if (access(pub, F_OK) == 0) {
		fail(why, "%s: exists (a key file is never overwritten)", pub);
		goto out;
	}
	randombytes_buf(seed, KEYS_SEED_LEN);
	crypto_sign_seed_keypair(pk, sk, seed);
	size_t n = keys_format_secret(text, 128, seed);
	if (create_file(path, 0600, text, n, why) < 0)
		goto out;
	n = keys_format_public(line, pk, comment);
	if (create_file(pub, 0644, line, n, why) < 0) {
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	sodium_free(mem);       /* wipes the seed and its text */
	free(pub);
	return rc;
}

/* Reads a small file into buf (cap bytes, NUL added); its length or -1. */
static ssize_t read_small(int fd, char *buf, size_t cap)
{
	size_t n = 0;
	for (;;) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap - 1) {
			errno = EFBIG;
			return -1;
		}
	}
	buf[n] = '\0';
	return (ssize_t)n;
}

struct tcpx_identity *keyfile_load(const char *path, char why[KEYFILE_WHY_MAX])
{
	struct tcpx_identity *id = calloc(1, sizeof(*id));
	char *text = sodium_malloc(KEYFILE_MAX);
	uint8_t *seed = sodium_malloc(KEYS_SEED_LEN);
	struct stat sb;
	int fd = -1, ok = 0;

	if (!id || !text || !seed || !(id->sk = sodium_malloc(KEYS_SECRET_LEN))) {
		fail(why, "out of memory");
		goto out;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) < 0) {
		fail(why, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		fail(why, "%s: not a regular file", path);
		goto out;
	}
	if (sb.st_mode & 077) {
		fail(why, "%s: permissions %04o are too open: a secret key must "
		     "be readable by its owner only (chmod 600 %s)", path,
		     (unsigned)(sb.st_mode & 07777), path);
		goto out;
	}
	ssize_t n = read_small(fd, text, KEYFILE_MAX);
	if (n < 0) {
		fail(why, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (keys_parse_secret(text, (size_t)n, seed) < 0) {
		fail(why, "%s: not a tcpxfer secret key (%s BASE64; made by "
		     "--genkey)", path, KEYS_SECRET_TAG);
		goto out;
	}
	crypto_sign_seed_keypair(id->pk, id->sk, seed);
	sodium_mprotect_readonly(id->sk);
	ok = 1;
out:
	if (fd >= 0)
		close(fd);
	sodium_free(text);
	sodium_free(seed);
	if (!ok) {
		keyfile_identity_free(id);
		return NULL;
	}
	return id;
}

void keyfile_identity_free(struct tcpx_identity *id)
{
	if (!id)
		return;
	sodium_free(id->sk);
	free(id);
}

/* Calls fn on each line of a file (at most KEYFILE_MAX * 64 bytes);
 * stops at fn's first non-zero return and gives it back.  -1 with why
 * when the file cannot be read (ENOENT kept in errno). */
typedef int (*line_fn)(void *arg, const char *line, size_t len, unsigned no);
static int each_line(const char *path, line_fn fn, void *arg,
		     char why[KEYFILE_WHY_MAX])
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	unsigned no = 0;
	int rc = 0;

	if (!f)
		return fail(why, "%s: %s", path, strerror(errno));
	while (rc == 0 && (n = getline(&line, &cap, f)) >= 0)
		rc = fn(arg, line, (size_t)n, ++no);
	if (rc == 0 && ferror(f))
		rc = fail(why, "%s: %s", path, strerror(errno));
	free(line);
	fclose(f);
	return rc;
}

static int skip_line(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i == len || line[i] == '\n' || line[i] == '\r' || line[i] == '#';
}

struct first_key { uint8_t *pk; int found; };

static int take_first(void *arg, const char *line, size_t len, unsigned no)
{
	struct first_key *fk = arg;
	(void)no;
	if (skip_line(line, len))
		return 0;
	fk->found = keys_parse_public(line, len, 1, fk->pk, NULL) == 0 ? 1 : -1;
	return 1;
}

int keyfile_peer_key(const char *arg, uint8_t pk[KEYS_PUBLIC_LEN],
		     char why[KEYFILE_WHY_MAX])
{
	struct first_key fk = { pk, 0 };

	if (keys_parse_public(arg, strlen(arg), 1, pk, NULL) == 0)
		return 0;
	if (each_line(arg, take_first, &fk, why) < 0)
		return fail(why, "%s: neither a public key (%s BASE64) nor a "
			    "readable file: %s", arg, KEYS_PUBLIC_TAG,
			    strerror(errno));
	if (fk.found != 1)
		return fail(why, "%s: no public key (%s BASE64) in it", arg,
			    KEYS_PUBLIC_TAG);
	return 0;
}

/* ---- lists of keys ---------------------------------------------------- */

struct keyring {
	pthread_mutex_t mu;
	char *path;
	uint8_t (*keys)[KEYS_PUBLIC_LEN];
	size_t n;
};

struct ring_load {
	uint8_t (*keys)[KEYS_PUBLIC_LEN];
	size_t n, cap;
	const char *path;
	char *why;
};

static int add_key(void *arg, const char *line, size_t len, unsigned no)
{
	struct ring_load *rl = arg;
	if (skip_line(line, len))
		return 0;
	if (rl->n == rl->cap) {
		size_t cap = rl->cap ? 2 * rl->cap : 16;
		void *p = realloc(rl->keys, cap * KEYS_PUBLIC_LEN);
		if (!p)
			return fail(rl->why, "out of memory");
		rl->keys = p;
		rl->cap = cap;
	}
	if (keys_parse_public(line, len, 0, rl->keys[rl->n], NULL) < 0)
		return fail(rl->why, "%s: line %u: not a public key (%s BASE64 "
			    "[COMMENT])", rl->path, no, KEYS_PUBLIC_TAG);
	rl->n++;
	return 0;
}

int keyring_reload(struct keyring *kr, char why[KEYFILE_WHY_MAX])
{
	struct ring_load rl = { .path = kr->path, .why = why };
	if (each_line(kr->path, add_key, &rl, why) < 0) {
		free(rl.keys);
		return -1;
	}
	pthread_mutex_lock(&kr->mu);
	free(kr->keys);
	kr->keys = rl.keys;
	kr->n = rl.n;
	pthread_mutex_unlock(&kr->mu);
	return 0;
}

struct keyring *keyring_load(const char *path, char why[KEYFILE_WHY_MAX])
{
	struct keyring *kr = calloc(1, sizeof(*kr));
	if (!kr || !(kr->path = strdup(path))) {
		free(kr);
		fail(why, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&kr->mu, NULL);
	if (keyring_reload(kr, why) < 0) {
		keyring_free(kr);
		return NULL;
	}
	return kr;
}

int keyring_has(struct keyring *kr, const uint8_t pk[KEYS_PUBLIC_LEN])
{
	int found = 0;
	pthread_mutex_lock(&kr->mu);
	for (size_t i = 0; i < kr->n && !found; i++)
		found = sodium_memcmp(kr->keys[i], pk, KEYS_PUBLIC_LEN) == 0;
	pthread_mutex_unlock(&kr->mu);
	return found;
}

size_t keyring_count(struct keyring *kr)
{
	pthread_mutex_lock(&kr->mu);
	size_t n = kr->n;
	pthread_mutex_unlock(&kr->mu);
	return n;
}

void keyring_free(struct keyring *kr)
{
	if (!kr)
		return;
	pthread_mutex_destroy(&kr->mu);
	free(kr->keys);
	free(kr->path);
	free(kr);
}

/* ---- known receivers ---------------------------------------------------- */

char *keyfile_known_path(void)
{
	const char *base = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	const char *tail = "/tcpxfer/known_receivers";
	char *p;

	if (base && *base == '/') {
		if (asprintf(&p, "%s%s", base, tail) < 0)
			return NULL;
	} else if (home && *home) {
		if (asprintf(&p, "%s/.config%s", home, tail) < 0)
			return NULL;
	} else {
		return NULL;
	}
	return p;
}

struct known_look {
	const char *name, *path;
	const uint8_t *pk;
	uint8_t *old;
	int result;
	char *why;
};

static int look_known(void *arg, const char *line, size_t len, unsigned no)
{
	struct known_look *kl = arg;
	const char *name;
	size_t nlen;
	uint8_t pk[KEYS_PUBLIC_LEN];
	int rc = keys_parse_known(line, len, &name, &nlen, pk);

	if (rc == 1)
		return 0;
	if (rc < 0)
		return fail(kl->why, "%s: line %u: not HOST:PORT %s BASE64",
			    kl->path, no, KEYS_PUBLIC_TAG);
	if (nlen != strlen(kl->name) || memcmp(name, kl->name, nlen) != 0)
		return 0;
	if (sodium_memcmp(pk, kl->pk, KEYS_PUBLIC_LEN) == 0) {
		kl->result = KNOWN_MATCH;
		return 1;
	}
	/* A host may have several lines (a key added later): any match
	 * wins; a mismatch only counts if none matches. */
	kl->result = KNOWN_CHANGED;
	memcpy(kl->old, pk, KEYS_PUBLIC_LEN);
	return 0;
}

int keyfile_known_check(const char *path, const char *name,
			const uint8_t pk[KEYS_PUBLIC_LEN],
			uint8_t old[KEYS_PUBLIC_LEN], char why[KEYFILE_WHY_MAX])
{
	struct known_look kl = { name, path, pk, old, KNOWN_UNKNOWN, why };
	int rc = each_line(path, look_known, &kl, why);

	if (rc < 0 && errno == ENOENT && access(path, F_OK) < 0)
		return KNOWN_UNKNOWN;
	if (rc < 0)
		return -1;
	return kl.result;
}

/* mkdir -p of path's directories, 0700 (as OpenSSH makes ~/.ssh). */
static int make_parents(char *path)
{
	for (char *p = strchr(path + 1, '/'); p; p = strchr(p + 1, '/')) {
		*p = '\0';
		int rc = mkdir(path, 0700);
		*p = '/';
		if (rc < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

int keyfile_known_add(const char *path, const char *name,
		      const uint8_t pk[KEYS_PUBLIC_LEN], char why[KEYFILE_WHY_MAX])
{
	char line[KEYS_LINE_MAX], *dir = strdup(path);
	int fd;

	if (!dir)
		return fail(why, "out of memory");
	if (make_parents(dir) < 0) {
		fail(why, "%s: %s", path, strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return fail(why, "%s: %s", path, strerror(errno));
	size_t n = keys_format_public(line, pk, NULL);
	int rc = write_all(fd, name, strlen(name)) < 0 ||
		 write_all(fd, " ", 1) < 0 || write_all(fd, line, n) < 0 ?
		 fail(why, "%s: %s", path, strerror(errno)) : 0;
	if (close(fd) < 0 && rc == 0)
		rc = fail(why, "%s: %s", path, strerror(errno));
	return rc;
}
