/*
 * helper_activate: plays systemd socket activation for the tests, without
 * systemd.  It creates a listening TCP socket on 127.0.0.1 with a port the
 * kernel picks, prints that port on stdout (one line, flushed), puts the
 * socket on fd 3 (SD_LISTEN_FDS_START), sets LISTEN_FDS=1 and LISTEN_PID to
 * its own pid, and execs the program in argv[1] with the remaining
 * arguments.  exec keeps the pid, so the tcpget it becomes finds a
 * LISTEN_PID equal to its own and takes the socket, as under systemd.
 *
 * usage: helper_activate [-k KIND] PROGRAM [ARGS...]
 * KIND says what fd 3 holds instead of a listening socket, for the tests
 * of what tcpget does with a bad inheritance: "stream" (a TCP socket,
 * bound but not listening), "dgram" (a UDP socket), "file" (/dev/null),
 * "closed" (nothing); the port printed is then 0.
 * Exit status 2 for usage, 1 when the socket cannot be set up or the exec
 * fails (with a message on stderr).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LISTEN_FD 3     /* SD_LISTEN_FDS_START */

static int fail(const char *what)
{
	fprintf(stderr, "helper_activate: %s: %s\n", what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				   .sin_port = 0 };
	socklen_t len = sizeof(sin);
	char pid[32];
	const char *kind = "listen";
	int fd, one = 1;

	if (argc > 2 && strcmp(argv[1], "-k") == 0) {
		kind = argv[2];
		argv += 2;
		argc -= 2;
	}
	if (argc < 2) {
		fprintf(stderr, "usage: helper_activate [-k KIND] PROGRAM "
				"[ARGS...]\n");
		return 2;
	}
	/* Not SOCK_CLOEXEC: the socket must survive the exec. */
	if (strcmp(kind, "file") == 0)
		fd = open("/dev/null", O_RDONLY);
	else if (strcmp(kind, "dgram") == 0)
		fd = socket(AF_INET, SOCK_DGRAM, 0);
	else if (strcmp(kind, "closed") == 0)
		fd = close(LISTEN_FD) < 0 && errno != EBADF ? -1 : LISTEN_FD;
	else if (strcmp(kind, "listen") == 0 || strcmp(kind, "stream") == 0)
		fd = socket(AF_INET, SOCK_STREAM, 0);
	else {
		fprintf(stderr, "helper_activate: unknown kind '%s'\n", kind);
		return 2;
	}
	if (fd < 0)
		return fail(kind);
	if (strcmp(kind, "listen") == 0 || strcmp(kind, "stream") == 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
			return fail("bind 127.0.0.1");
	}
	if (strcmp(kind, "listen") == 0) {
		if (listen(fd, 128) < 0)
			return fail("listen");
		if (getsockname(fd, (struct sockaddr *)&sin, &len) < 0)
			return fail("getsockname");
	}
	if (strcmp(kind, "closed") == 0) {
		/* nothing to move or keep open */
	} else if (fd != LISTEN_FD) {
		if (dup2(fd, LISTEN_FD) < 0)
			return fail("dup2");
		close(fd);
	}
	/* dup2 clears FD_CLOEXEC on the copy; when the socket already was fd
	 * 3, make sure nothing set it. */
	if (strcmp(kind, "closed") != 0 && fcntl(LISTEN_FD, F_SETFD, 0) < 0)
		return fail("fcntl");
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if (setenv("LISTEN_FDS", "1", 1) < 0 || setenv("LISTEN_PID", pid, 1) < 0)
		return fail("setenv");
	unsetenv("LISTEN_FDNAMES");
	printf("%u\n", (unsigned)ntohs(sin.sin_port));
	if (fflush(stdout) != 0)
		return fail("stdout");
	execv(argv[1], argv + 1);
	return fail(argv[1]);
}
