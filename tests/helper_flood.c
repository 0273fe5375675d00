/*
 * helper_flood: many slow or idle TCPX connections at once, for the attack
 * tests (tests/attack.sh).  Only loopback: every connection is bound to a
 * source address 127.0.0.2 and up (spread over -a addresses, in turn), so
 * per-source limits are exercised fairly.  Bounded in time (-d) and in
 * connections made (-n times -r), it stops by itself.
 *
 * Usage: helper_flood -p PORT -m MODE -n N -a ADDRS -d SECONDS
 *                     [-i INTERVAL_MS] [-r RECONNECTS]
 * Modes:
 *   slowloris  the HELLO one byte every INTERVAL (default 5000 ms)
 *   idle       a whole HELLO, then nothing
 *   slowdata   HELLO, FILE of 64 KiB, then its one DATA frame one byte
 *              every INTERVAL (default 50000 ms)
 * A connection tcpget ends is made again (at most RECONNECTS times N in
 * all, default 20), so the pressure lasts the whole run.  Prints, at the
 * end, one line:
 *   FLOOD mode=M n=N connects=C ended=E busy=B open=O peak_open=P
 * (ended: connections tcpget closed; busy: those that got ERROR BUSY).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "proto.h"

enum mode { SLOWLORIS, IDLE, SLOWDATA };

#define SLOW_FILE_SIZE (64u * 1024u)

struct flow {
	int fd;
	int connected;
	uint8_t script[128];
	size_t len, sent;       /* the script and how much of it went */
	int64_t next_byte;      /* when the next trickled byte is due */
	int saw_busy;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* What the connection sends: all of it at once up to `burst`, the rest
 * one byte per interval. */
static size_t make_script(enum mode m, uint8_t *p, unsigned n, size_t *burst)
{
	struct tcpx_hello h = { TCPX_VERSION, TCPX_VERSION, 0 };
	size_t len = proto_encode_hello(p, &h);
	if (m == SLOWLORIS) {
		*burst = 0;
		return len;
	}
	if (m == SLOWDATA) {
		char name[32];
		/* Small enough that the receiver's free-space floor accepts
		 * thousands of them: each holds a file in progress. */
		struct tcpx_file_meta f = { .id = 1, .size = SLOW_FILE_SIZE,
					    .mode = 0644, .mtime_sec = 1700000000 };
		snprintf(name, sizeof(name), "slow-%u", n);
		f.name = (const uint8_t *)name;
		f.name_len = (uint16_t)strlen(name);
		len += proto_encode_file(p + len, &f);
		/* It returns the whole frame's length; only the headers are
		 * written, the data is what trickles. */
		proto_encode_data_header(p + len, TCPX_ENCODING_RAW,
					 SLOW_FILE_SIZE, SLOW_FILE_SIZE);
		len += TCPX_FRAME_HEADER_LEN + TCPX_DATA_HEADER_LEN;
		*burst = len;
		memset(p + len, 'x', 16);
		return len + 16;        /* 16 trickled bytes: enough for a run */
	}
	*burst = len;
	return len;
}

static int open_flow(struct flow *f, int port, unsigned index, unsigned addrs)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int one = 1;

	src.sin_addr.s_addr = htonl(0x7f000002u + index % addrs);
	dst.sin_addr.s_addr = htonl(0x7f000001u);
	f->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		return -1;
	setsockopt(f->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(f->fd, (struct sockaddr *)&src, sizeof(src)) < 0 ||
	    (connect(f->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
	     errno != EINPROGRESS)) {
		close(f->fd);
		f->fd = -1;
		return -1;
	}
	f->connected = 0;
	f->sent = 0;
	f->next_byte = 0;
	f->saw_busy = 0;
	return 0;
}

/* Sends what is due; -1 when the connection is over. */
static int push(struct flow *f, size_t burst, int interval, int64_t t)
{
	while (f->sent < f->len) {
		size_t n = f->sent < burst ? burst - f->sent : 1;
		if (f->sent >= burst && t < f->next_byte)
			return 0;
		ssize_t w = send(f->fd, f->script + f->sent, n, MSG_NOSIGNAL);
		if (w < 0)
			return errno == EAGAIN ? 0 : -1;
		f->sent += (size_t)w;
		if (f->sent > burst)
			f->next_byte = t + interval;
	}
	return 0;
}

/* Reads what tcpget says (and notes a BUSY); -1 when it closed. */
static int pull(struct flow *f)
{
	uint8_t buf[4096];
	ssize_t r = recv(f->fd, buf, sizeof(buf), 0);
	if (r == 0 || (r < 0 && errno != EAGAIN))
		return -1;
	/* An ERROR frame (type 8, its code at offset 8) with BUSY. */
	for (ssize_t i = 0; i + 10 <= r; i++)
		if (buf[i] == TCPX_FRAME_ERROR && be16_load(buf + i + 8) == 9 &&
		    buf[i + 1] == 0)
			f->saw_busy = 1;
	return 0;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	int port = 0, opt, interval = -1, seconds = 10, reconnects = 20;
	unsigned n = 1, addrs = 1;
	enum mode m = IDLE;
	const char *mode = "idle";

	while ((opt = getopt(argc, argv, "p:m:n:a:d:i:r:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'm': mode = optarg; break;
		case 'n': n = (unsigned)atoi(optarg); break;
		case 'a': addrs = (unsigned)atoi(optarg); break;
		case 'd': seconds = atoi(optarg); break;
		case 'i': interval = atoi(optarg); break;
		case 'r': reconnects = atoi(optarg); break;
		default: return 2;
		}
	}
	if (!strcmp(mode, "slowloris"))
		m = SLOWLORIS;
	else if (!strcmp(mode, "slowdata"))
		m = SLOWDATA;
	else if (strcmp(mode, "idle"))
		return 2;
	if (interval < 0)
		interval = m == SLOWDATA ? 50000 : 5000;
	if (!port || !n || !addrs || addrs > 60000 || n > 60000)
		return 2;
	raise_fd_limit();

	struct flow *fl = calloc(n, sizeof(*fl));
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	size_t burst = 0;
	unsigned long connects = 0, ended = 0, busy = 0, peak = 0;
	unsigned long budget = (unsigned long)n * (unsigned long)reconnects;
	int64_t end = now_ms() + (int64_t)seconds * 1000;

	if (!fl || !pfd)
		return 1;
	for (unsigned i = 0; i < n; i++) {
		fl[i].fd = -1;
		fl[i].len = make_script(m, fl[i].script, i, &burst);
	}
	for (int64_t t = now_ms(); t < end; t = now_ms()) {
		unsigned long open_now = 0;
		for (unsigned i = 0; i < n; i++) {
			if (fl[i].fd < 0 && connects < budget &&
			    open_flow(&fl[i], port, i, addrs) == 0)
				connects++;
			open_now += fl[i].fd >= 0;
			pfd[i].fd = fl[i].fd;
			pfd[i].events = POLLIN | (fl[i].connected ? 0 : POLLOUT);
		}
		if (open_now > peak)
			peak = open_now;
		if (poll(pfd, n, 100) < 0 && errno != EINTR)
			break;
		t = now_ms();
		for (unsigned i = 0; i < n; i++) {
			struct flow *f = &fl[i];
			int over = 0;
			if (f->fd < 0)
				continue;
			if (!f->connected && (pfd[i].revents & POLLOUT))
				f->connected = 1;
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				over = pull(f) < 0;
			if (!over && f->connected)
				over = push(f, burst, interval, t) < 0;
			if (over) {
				ended++;
				busy += f->saw_busy;
				close(f->fd);
				f->fd = -1;
			}
		}
	}
	unsigned long still = 0;
	for (unsigned i = 0; i < n; i++)
		if (fl[i].fd >= 0) {
			still++;
			close(fl[i].fd);
		}
	printf("FLOOD mode=%s n=%u connects=%lu ended=%lu busy=%lu open=%lu "
	       "peak_open=%lu\n", mode, n, connects, ended, busy, still, peak);
	free(fl);
	free(pfd);
	return 0;
}
