/*
 * geninput: the benchmark's input data, generated once per run of run.sh.
 *
 *   geninput random FILE BYTES SEED        incompressible bytes (xoshiro256**)
 *   geninput text FILE BYTES SEED          log-like text lines (compressible)
 *   geninput tree DIR COUNT SIZE SEED      COUNT files of SIZE random bytes in
 *                                          one flat directory, unique names
 *   geninput nested DIR COUNT SIZE SEED    the same spread over subdirectories
 *                                          of 1000 files each (DIR/d0000/...)
 *   geninput mixed DIR BYTES SEED          a tree of about BYTES in all: 35% log
 *                                          text (DIR/logs, 8 files), 25% JSON
 *                                          records (DIR/json, 400 files), 40%
 *                                          incompressible bytes standing for
 *                                          already-compressed media (DIR/media,
 *                                          200 .jpg and 4 .mp4)
 *
 * A generator in C rather than head -c /dev/urandom and a shell loop: it
 * writes a GiB in about a second and 10,000 files without 10,000 forks, so
 * the benchmark spends its time budget on the transfers.  The data are a
 * function of the seed, so runs are comparable.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GEN_BUF (1u << 20)

static uint64_t state[4];

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t next(void)
{
	uint64_t *s = state;
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

static void seed(uint64_t x)
{
	for (int i = 0; i < 4; i++) {   /* splitmix64 */
		uint64_t z = (x += UINT64_C(0x9e3779b97f4a7c15));
		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		state[i] = z ^ (z >> 31);
	}
}

static uint32_t below(uint32_t n)
{
	return (uint32_t)((next() >> 32) % n);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void fill_random(uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v = next();
		memcpy(p, &v, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t v = next();
		memcpy(p, &v, n);
	}
}

static int open_out(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		fprintf(stderr, "geninput: %s: %s\n", path, strerror(errno));
	return fd;
}

static int gen_random(const char *path, unsigned long long bytes)
{
	static uint8_t buf[GEN_BUF];
	int fd = open_out(path);
	if (fd < 0)
		return 1;
	while (bytes > 0) {
		size_t n = bytes < sizeof buf ? (size_t)bytes : sizeof buf;
		fill_random(buf, n);
		if (write_all(fd, buf, n) < 0)
			goto fail;
		bytes -= n;
	}
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "geninput: %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 1;
}

static const char *hosts[] = { "web-01", "web-02", "web-03", "web-07", "api-11",
			       "api-12", "db-primary", "cache-3" };
static const char *procs[] = { "nginx", "app", "sshd", "cron", "kernel", "postgres" };
static const char *levels[] = { "INFO", "INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR" };
static const char *methods[] = { "GET", "GET", "GET", "POST", "PUT", "DELETE" };
static const char *paths[] = { "/api/v2/items", "/api/v2/users", "/static/app.js",
			       "/login", "/api/v2/orders", "/healthz", "/metrics",
			       "/api/v2/search" };
static const char *agents[] = { "Mozilla/5.0 (X11; Linux x86_64) Firefox/132.0",
				"curl/8.5.0", "Go-http-client/1.1",
				"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) Safari/605.1.15",
				"python-requests/2.31.0" };
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Writes records made by RECORD (at most 1023 bytes each) into PATH.  With
 * CLOSE NULL: exactly BYTES, the last record cut.  Otherwise whole records
 * while more than 300 bytes are left, then CLOSE (EMPTY when there was no
 * record): about BYTES, and valid as a whole (a JSON array). */
static int gen_records(const char *path, unsigned long long bytes,
		       int (*record)(char *out, void *st, int first), void *st,
		       const char *close_text, const char *empty)
{
	static char buf[GEN_BUF + 1024];
	int fd = open_out(path);
	if (fd < 0)
		return 1;
	size_t used = 0;
	int first = 1;
	unsigned long long keep = close_text ? 300 : 0;
	while (bytes > keep) {
		int n = record(buf + used, st, first);
		if (n < 0)
			goto fail;
		first = 0;
		size_t len = (size_t)n;
		if (len > bytes)
			len = (size_t)bytes;
		used += len;
		bytes -= len;
		if (used >= GEN_BUF) {
			if (write_all(fd, (uint8_t *)buf, used) < 0)
				goto fail;
			used = 0;
		}
	}
	if (close_text) {
		const char *c = first ? empty : close_text;
		memcpy(buf + used, c, strlen(c));
		used += strlen(c);
	}
	if (write_all(fd, (uint8_t *)buf, used) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "geninput: %s: %s\n", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 1;
}

struct text_state {
	uint64_t t_us;
	uint32_t request;
	uint32_t clients[256];
};

static int text_record(char *out, void *st, int first)
{
	struct text_state *s = st;
	(void)first;
	s->t_us += below(5000);
	uint64_t sec = s->t_us / 1000000;
	unsigned hh = (unsigned)(sec / 3600 % 24), mm = (unsigned)(sec / 60 % 60),
		 ss = (unsigned)(sec % 60);
	unsigned day = 25 + (unsigned)(sec / 86400 % 5);
	uint32_t client = s->clients[below(N(s->clients))];
	return snprintf(out, 1024,
		"2024-11-%02uT%02u:%02u:%02u.%06uZ %s %s[%u]: %s %u.%u.%u.%u \"%s %s/%u?page=%u HTTP/1.1\" %u %u \"%s\" rt=%u.%03u req=%08x\n",
		day, hh, mm, ss, (unsigned)(s->t_us % 1000000),
		hosts[below(N(hosts))], procs[below(N(procs))], 1000 + below(200),
		levels[below(N(levels))], 10, client >> 16 & 3, client >> 8 & 255, client & 255,
		methods[below(N(methods))], paths[below(N(paths))], below(100000),
		below(20), below(8) ? 200 : 404, below(60000),
		agents[below(N(agents))], below(2), below(1000), s->request++);
}

static int gen_text(const char *path, unsigned long long bytes)
{
	struct text_state s = { .t_us = UINT64_C(1732500000) * 1000000 };
	s.request = (uint32_t)next();
	/* A few hundred clients that come back, as in a real access log. */
	for (size_t i = 0; i < N(s.clients); i++)
		s.clients[i] = (uint32_t)next();
	return gen_records(path, bytes, text_record, &s, NULL, NULL);
}

static const char *first_names[] = { "ada", "grace", "linus", "ken", "barbara", "dennis",
				     "margaret", "edsger", "frances", "niklaus" };
static const char *tags[] = { "\"alpha\"", "\"beta\"", "\"prod\"", "\"staging\"", "\"eu-west\"",
			      "\"us-east\"", "\"batch\"", "\"interactive\"" };

/* One JSON record of an array, as an API dump or a document store export
 * would have them: repeated keys, varied values. */
static int json_record(char *out, void *st, int first)
{
	uint32_t *id = st;
	return snprintf(out, 1024,
		"%s{\"id\":%u,\"user\":\"%s.%u@example.org\",\"created\":\"2024-%02u-%02uT%02u:%02u:%02uZ\","
		"\"score\":%u.%02u,\"active\":%s,\"tags\":[%s,%s],\"orders\":%u,"
		"\"address\":{\"city\":\"city-%u\",\"zip\":\"%05u\"}}",
		first ? "[\n" : ",\n", (*id)++, first_names[below(N(first_names))], below(10000),
		1 + below(12), 1 + below(28), below(24), below(60), below(60),
		below(100), below(100), below(4) ? "true" : "false",
		tags[below(N(tags))], tags[below(N(tags))], below(500),
		below(300), below(100000));
}

static int gen_json(const char *path, unsigned long long bytes)
{
	uint32_t id = below(1000000);
	return gen_records(path, bytes, json_record, &id, "\n]\n", "[]\n");
}

static int make_dir(const char *dir)
{
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "geninput: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* per_dir 0: one flat directory; else per_dir files per subdirectory. */
static int gen_tree(const char *dir, unsigned long count, unsigned long size,
		    unsigned long per_dir)
{
	uint8_t *buf = malloc(size ? size : 1);
	char path[4096];
	if (!buf)
		return 1;
	if (make_dir(dir) < 0) {
		free(buf);
		return 1;
	}
	for (unsigned long i = 0; i < count; i++) {
		if (per_dir == 0) {
			snprintf(path, sizeof path, "%s/f%06lu", dir, i);
		} else {
			snprintf(path, sizeof path, "%s/d%04lu", dir, i / per_dir);
			if (i % per_dir == 0 && make_dir(path) < 0) {
				free(buf);
				return 1;
			}
			snprintf(path, sizeof path, "%s/d%04lu/f%06lu", dir, i / per_dir, i);
		}
		fill_random(buf, size);
		int fd = open_out(path);
		if (fd < 0 || write_all(fd, buf, size) < 0 || close(fd) < 0) {
			fprintf(stderr, "geninput: %s: %s\n", path, strerror(errno));
			free(buf);
			return 1;
		}
	}
	free(buf);
	return 0;
}

/* COUNT files of about BYTES together, named PREFIX%04lu.EXT in DIR, made
 * by GEN; the last takes what the division leaves. */
static int gen_files(const char *dir, const char *prefix, const char *ext,
		     unsigned long count, unsigned long long bytes,
		     int (*gen)(const char *, unsigned long long))
{
	char path[4096];
	if (make_dir(dir) < 0)
		return 1;
	for (unsigned long i = 0; i < count; i++) {
		unsigned long long each = bytes / count;
		if (i == count - 1)
			each = bytes - each * (count - 1);
		snprintf(path, sizeof path, "%s/%s%04lu.%s", dir, prefix, i, ext);
		if (gen(path, each) != 0)
			return 1;
	}
	return 0;
}

static int gen_mixed(const char *dir, unsigned long long bytes)
{
	char sub[4096];
	unsigned long long logs = bytes * 35 / 100, json = bytes * 25 / 100;
	unsigned long long media = bytes - logs - json;
	if (make_dir(dir) < 0)
		return 1;
	snprintf(sub, sizeof sub, "%s/logs", dir);
	if (gen_files(sub, "app-", "log", 8, logs, gen_text) != 0)
		return 1;
	snprintf(sub, sizeof sub, "%s/json", dir);
	if (gen_files(sub, "records-", "json", 400, json, gen_json) != 0)
		return 1;
	snprintf(sub, sizeof sub, "%s/media", dir);
	if (gen_files(sub, "img-", "jpg", 200, media / 2, gen_random) != 0)
		return 1;
	return gen_files(sub, "clip-", "mp4", 4, media - media / 2, gen_random);
}

static unsigned long long num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "geninput: bad number: %s\n", s);
		exit(64);
	}
	return v;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "random") == 0) {
		seed(num(argv[4]));
		return gen_random(argv[2], num(argv[3]));
	}
	if (argc == 5 && strcmp(argv[1], "text") == 0) {
		seed(num(argv[4]));
		return gen_text(argv[2], num(argv[3]));
	}
	if (argc == 5 && strcmp(argv[1], "mixed") == 0) {
		seed(num(argv[4]));
		return gen_mixed(argv[2], num(argv[3]));
	}
	if (argc == 6 && (strcmp(argv[1], "tree") == 0 || strcmp(argv[1], "nested") == 0)) {
		seed(num(argv[5]));
		return gen_tree(argv[2], (unsigned long)num(argv[3]),
				(unsigned long)num(argv[4]),
				strcmp(argv[1], "nested") == 0 ? 1000 : 0);
	}
	fputs("usage: geninput random FILE BYTES SEED\n"
	      "       geninput text FILE BYTES SEED\n"
	      "       geninput tree DIR COUNT SIZE SEED\n"
	      "       geninput nested DIR COUNT SIZE SEED\n"
	      "       geninput mixed DIR BYTES SEED\n", stderr);
	return 64;
}
