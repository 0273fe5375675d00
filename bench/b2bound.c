/*
 * b2bound: the benchmark's lower bound for tcpxfer.
 *
 * tcpxfer must at least read every byte once and hash it with BLAKE2b-512
 * on one core (the sender's digest; the receiver's runs on another core at
 * the same time).  This program does exactly that and nothing else: it
 * reads each file (directories are walked, in readdir order) with plain
 * read() into one buffer, feeds libsodium's crypto_generichash with a
 * 64-byte output, no key, and prints "digest  name" lines like b2sum, so
 * its output can be checked against `b2sum`.  Single-threaded on purpose.
 *
 * usage: b2bound [-q] PATH...   (-q: print only a summary line to stderr)
 */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define B2_BUF (256u * 1024u)   /* the chunk size tcpxfer reads with */
#define B2_DEPTH_MAX 64

static uint8_t buf[B2_BUF];
static unsigned long long files_done, bytes_done;
static int quiet;

static int hash_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_NOCTTY);
	if (fd < 0) {
		fprintf(stderr, "b2bound: %s: %s\n", path, strerror(errno));
		return -1;
	}
	crypto_generichash_state st;
	uint8_t digest[64];
	char hex[2 * sizeof digest + 1];
	crypto_generichash_init(&st, NULL, 0, sizeof digest);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "b2bound: %s: %s\n", path, strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		crypto_generichash_update(&st, buf, (unsigned long long)n);
		bytes_done += (unsigned long long)n;
	}
	close(fd);
	crypto_generichash_final(&st, digest, sizeof digest);
	files_done++;
	if (!quiet) {
		sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
		printf("%s  %s\n", hex, path);
	}
	return 0;
}

static int hash_path(const char *path, int depth)
{
	struct stat sb;
	if (lstat(path, &sb) < 0) {
		fprintf(stderr, "b2bound: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (S_ISREG(sb.st_mode))
		return hash_file(path);
	if (!S_ISDIR(sb.st_mode))
		return 0;               /* symlinks, devices: not data */
	if (depth >= B2_DEPTH_MAX) {
		fprintf(stderr, "b2bound: %s: too deep\n", path);
		return -1;
	}
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "b2bound: %s: %s\n", path, strerror(errno));
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	char child[PATH_MAX];
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int n = snprintf(child, sizeof child, "%s/%s", path, e->d_name);
		if (n < 0 || (size_t)n >= sizeof child) {
			fprintf(stderr, "b2bound: %s/%s: name too long\n", path, e->d_name);
			rc = -1;
			continue;
		}
		if (hash_path(child, depth + 1) < 0)
			rc = -1;
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	int opt;
	while ((opt = getopt(argc, argv, "q")) != -1) {
		if (opt == 'q') {
			quiet = 1;
		} else {
			fputs("usage: b2bound [-q] PATH...\n", stderr);
			return 64;
		}
	}
	if (optind >= argc) {
		fputs("usage: b2bound [-q] PATH...\n", stderr);
		return 64;
	}
	if (sodium_init() < 0) {
		fputs("b2bound: sodium_init failed\n", stderr);
		return 1;
	}
	int rc = 0;
	for (int i = optind; i < argc; i++)
		if (hash_path(argv[i], 0) < 0)
			rc = 1;
	if (quiet)
		fprintf(stderr, "b2bound: %llu files, %llu bytes\n", files_done, bytes_done);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}
