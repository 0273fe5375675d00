/*
 * helper_lanecut: a loopback relay for several connections at once, one
 * of which it cuts, for tests/multi.sh (a joined connection lost
 * mid-transfer).
 *
 *   helper_lanecut DPORT K CUT_BYTES
 *
 * Listens on 127.0.0.1 (an ephemeral port, printed on stdout as
 * "port N") and forwards every connection it accepts (at most 16) to
 * 127.0.0.1:DPORT both ways, blocking writes (loopback).  The K-th
 * connection accepted (1: the first) is closed both ways once CUT_BYTES
 * have gone from its client to the server; the others go on until
 * either side closes.  tcpput --streams connects its extra connections
 * to the address of its first, so they all pass here.
 * Bounded: it exits after 30 s in all, or 10 s without any connection.
 */
#define HELPER_NAME "helper_lanecut"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper_common.h"

#define LIFETIME_MS 30000
#define ACCEPT_MS 10000
#define PAIRS 16

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int64_t start = now_ms(), last = now_ms();
	long long cut, sent = 0;
	int lfd, k, n = 0, open_pairs = 0;
	int cfd[PAIRS], sfd[PAIRS];
	static char buf[65536];

	if (argc != 4) {
		fprintf(stderr, "usage: helper_lanecut DPORT K CUT_BYTES\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	k = atoi(argv[2]);
	cut = atoll(argv[3]);
	lfd = loopback(0, &sa);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, PAIRS) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl) < 0) {
		perror("helper_lanecut: listen");
		return 1;
	}
	printf("port %d\n", ntohs(sa.sin_port));
	fflush(stdout);
	while (now_ms() - start < LIFETIME_MS &&
	       (open_pairs > 0 || now_ms() - last < ACCEPT_MS)) {
		struct pollfd p[1 + 2 * PAIRS];
		p[0] = (struct pollfd){ .fd = n < PAIRS ? lfd : -1, .events = POLLIN };
		for (int i = 0; i < n; i++) {
			p[1 + 2 * i] = (struct pollfd){ .fd = cfd[i], .events = POLLIN };
			p[2 + 2 * i] = (struct pollfd){ .fd = sfd[i], .events = POLLIN };
		}
		if (poll(p, (nfds_t)(1 + 2 * n), 100) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			int c = accept(lfd, NULL, NULL);
			int s = loopback(atoi(argv[1]), &sa);
			if (c < 0 || s < 0 ||
			    connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
				perror("helper_lanecut: connect");
				return 1;
			}
			cfd[n] = c;
			sfd[n] = s;
			n++;
			open_pairs++;
			last = now_ms();
		}
		for (int i = 0; i < n; i++) {
			int drop = 0;
			if (cfd[i] < 0)
				continue;
			if (p[1 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR)) {
				size_t want = sizeof(buf);
				if (i + 1 == k && (long long)want > cut - sent)
					want = (size_t)(cut - sent);
				ssize_t r = read(cfd[i], buf, want);
				if (r <= 0 || write_all(sfd[i], buf, (size_t)r) < 0)
					drop = 1;
				else if (i + 1 == k && (sent += r) >= cut)
					drop = 1;
			}
			if (!drop && (p[2 + 2 * i].revents & (POLLIN | POLLHUP | POLLERR))) {
				ssize_t r = read(sfd[i], buf, sizeof(buf));
				if (r <= 0 || write_all(cfd[i], buf, (size_t)r) < 0)
					drop = 1;
			}
			if (drop) {
				close(cfd[i]);
				close(sfd[i]);
				cfd[i] = sfd[i] = -1;
				open_pairs--;
			}
		}
	}
	close(lfd);
	return 0;
}
