/*
 * sidebound: the least each side of a transfer of one file costs, over a
 * real loopback TCP connection, for comparing tcpput and tcpget with.
 *
 * b2bound measures reading a file and hashing it (one copy, one BLAKE2b
 * pass).  A side of a transfer cannot do only that: the sender reads,
 * hashes and sends (a second copy, into the socket, and the TCP stack),
 * the receiver receives, hashes and writes (a copy out of the socket and
 * one into the page cache, with its allocation).  This program does each
 * side's work and nothing else, with the chunk size tcpxfer uses, each
 * side pinned to a core of its own (-c), and prints the CPU seconds
 * (user+sys, getrusage) of the side measured:
 *
 *   sidebound send FILE [CPU_SEND CPU_SINK]
 *       read + BLAKE2b-512 + send(); the peer only reads and discards.
 *   sidebound recv FILE OUTFILE [CPU_RECV CPU_SOURCE]
 *       recv() + BLAKE2b-512 + write() to OUTFILE (created, truncated);
 *       the peer sends FILE with sendfile() and hashes nothing.
 *
 * Output: "send CPU_S USER_S SYS_S WALL_S" (or "recv ...") on stdout.
 * The digest is computed and thrown away, as the protocol's is checked.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (256u * 1024u)            /* tcpxfer's chunk */

static uint8_t buf[CHUNK];

static void die(const char *what)
{
	fprintf(stderr, "sidebound: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int cpu)
{
	cpu_set_t s;
	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	if (sched_setaffinity(0, sizeof(s), &s) < 0)
		die("sched_setaffinity");
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void report(const char *side, double t0)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	double u = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
	double s = (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
	printf("%s %.3f %.3f %.3f %.3f\n", side, u + s, u, s, now() - t0);
	fflush(stdout);
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write");
		p += w;
		n -= (size_t)w;
	}
}

/* The measured side: read from `from` (the file, or the socket), hash,
 * write to `to` (the socket, or the file).  read() and write() on a
 * socket are recv() and send() without flags. */
static void hash_through(const char *side, int from, int to, int sock)
{
	crypto_generichash_state st;
	uint8_t digest[64];
	double t0 = now();
	ssize_t n;

	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	while ((n = read(from, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("read");
		crypto_generichash_update(&st, buf, (unsigned long long)n);
		write_all(to, buf, (size_t)n);
	}
	crypto_generichash_final(&st, digest, sizeof(digest));
	if (to != sock && close(to) < 0)
		die("close");
	if (to == sock) {
		shutdown(sock, SHUT_WR);
		while (recv(sock, buf, sizeof(buf), 0) > 0)
			;       /* the sink's end: everything was taken */
	}
	report(side, t0);
}

static void sink(int sock)
{
	while (recv(sock, buf, sizeof(buf), 0) > 0)
		;
}

static void source(int sock, int fd)
{
	struct stat sb;
	off_t off = 0;
	if (fstat(fd, &sb) < 0)
		die("fstat");
	while (off < sb.st_size) {
		ssize_t w = sendfile(sock, fd, &off, (size_t)(sb.st_size - off));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("sendfile");
	}
	shutdown(sock, SHUT_WR);
}

static int usage(void)
{
	fputs("usage: sidebound send FILE [CPU_SEND CPU_SINK]\n"
	      "       sidebound recv FILE OUTFILE [CPU_RECV CPU_SOURCE]\n", stderr);
	return 64;
}

int main(int argc, char **argv)
{
	int is_send = argc >= 3 && strcmp(argv[1], "send") == 0;
	int is_recv = argc >= 4 && strcmp(argv[1], "recv") == 0;
	int cpus = is_send ? 3 : 4;
	if (!is_send && !is_recv)
		return usage();
	if (argc != cpus && argc != cpus + 2)
		return usage();
	int cpu_me = argc > cpus ? atoi(argv[cpus]) : 1;
	int cpu_peer = argc > cpus ? atoi(argv[cpus + 1]) : 0;
	if (sodium_init() < 0) {
		fputs("sidebound: sodium_init failed\n", stderr);
		return 1;
	}
	int fd = open(argv[2], O_RDONLY);
	if (fd < 0)
		die(argv[2]);
	int out = -1;
	if (is_recv && (out = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		die(argv[3]);

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(ls, 1) < 0 || getsockname(ls, (struct sockaddr *)&a, &alen) < 0)
		die("listen");
	pid_t peer = fork();
	if (peer < 0)
		die("fork");
	if (peer == 0) {                /* the peer, not measured */
		pin(cpu_peer);
		int c = accept(ls, NULL, NULL);
		if (c < 0)
			die("accept");
		if (is_send)
			sink(c);
		else
			source(c, fd);
		close(c);
		_exit(0);
	}
	close(ls);
	pin(cpu_me);
	int c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || connect(c, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	if (is_send)
		hash_through("send", fd, c, c);
	else
		hash_through("recv", c, out, c);
	close(c);
	int status;
	if (waitpid(peer, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0)
		return 1;
	return 0;
}
