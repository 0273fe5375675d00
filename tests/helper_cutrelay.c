/*
 * helper_cutrelay: a one-connection loopback relay that stops at a known
 * point, for the resume suite (tests/resume.sh).
 *
 *   helper_cutrelay DPORT CUT_BYTES cut|stall
 *
 * Listens on 127.0.0.1 (an ephemeral port, printed on stdout as
 * "port N"), accepts one connection and forwards it to 127.0.0.1:DPORT
 * both ways.  Once CUT_BYTES have gone from the client to the server:
 * "cut" closes both sides at once (a connection lost mid-transfer);
 * "stall" forwards nothing more from the client (it reads and drops it,
 * so it sees the client go; the test then kills a process at a point it
 * knows) and goes on until either side closes.
 * Bounded: it exits after 30 s in all, or 10 s without an accept.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HELPER_NAME "helper_cutrelay"
#include "helper_common.h"

#define LIFETIME_MS 30000
#define ACCEPT_MS 10000

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int64_t start = now_ms(), cut, sent = 0;
	int lfd, cfd, sfd, stall;
	char buf[65536];

	if (argc != 4) {
		fprintf(stderr, "usage: helper_cutrelay DPORT CUT_BYTES cut|stall\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	cut = atoll(argv[2]);
	stall = strcmp(argv[3], "stall") == 0;
	lfd = loopback(0, &sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("helper_cutrelay: listen");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	struct pollfd lp = { .fd = lfd, .events = POLLIN };
	if (poll(&lp, 1, ACCEPT_MS) != 1 || (cfd = accept(lfd, NULL, NULL)) < 0)
		return 1;
	sfd = loopback(atoi(argv[1]), &sa);
	if (sfd < 0 || connect(sfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("helper_cutrelay: connect");
		return 1;
	}
	while (now_ms() - start < LIFETIME_MS) {
		struct pollfd p[2] = {
			{ .fd = cfd, .events = POLLIN },
			{ .fd = sfd, .events = POLLIN },
		};
		if (poll(p, 2, 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			size_t want = sizeof(buf);
			if (sent < cut && (int64_t)want > cut - sent)
				want = (size_t)(cut - sent);
			ssize_t n = read(cfd, buf, want);
			if (n <= 0)
				break;
			if (sent < cut && write(sfd, buf, (size_t)n) != n)
				break;
			if (sent < cut)
				sent += n;
			if (sent >= cut && !stall)
				break;
		}
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(sfd, buf, sizeof(buf));
			if (n <= 0 || write(cfd, buf, (size_t)n) != n)
				break;
		}
	}
	close(cfd);
	close(sfd);
	close(lfd);
	return 0;
}
