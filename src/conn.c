/* conn: the only code that moves bytes on a TCPX socket (conn.h). */
#include <errno.h>
#include <poll.h>
#include <linux/sockios.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "proto.h"

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conn_init(struct conn *c, int fd, struct frame_reader *in,
	       struct outq *out, const struct conn_limits *lim, int stop_fd)
{
	int64_t t = now_ms();
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->in = in;
	c->out = out;
	c->stop_fd = stop_fd;
	c->lim = *lim;
	c->idle_deadline = t + lim->idle_ms;
	c->handshake_deadline = lim->handshake_ms > 0 ? t + lim->handshake_ms : 0;
}

void conn_handshake_done(struct conn *c)
{
	c->handshake_deadline = 0;
}

int conn_timed_out(const struct conn *c)
{
	return c->timed_out;
}

static void moved(struct conn *c)
{
	c->idle_deadline = now_ms() + c->lim.idle_ms;
}

/* A full send buffer gives no POLLOUT until about half of it drained
 * (megabytes on loopback), so a peer reading slowly would look idle for
 * seconds; the bytes its TCP acknowledges show it is not.  SIOCOUTQ is
 * what we wrote and the peer has not yet acknowledged. */
#define ACK_CHECK_MS 100

static void check_acked(struct conn *c)
{
	int n;
	if (ioctl(c->fd, SIOCOUTQ, &n) < 0)
		return;
	if (n < c->unacked)
		moved(c);
	c->unacked = n;
}

/* The nearest deadline as a poll() timeout; 0 once one has passed. */
static int wait_ms(struct conn *c)
{
	int64_t t = now_ms(), d = c->idle_deadline;
	int which = CONN_IDLE;
	if (c->handshake_deadline && c->handshake_deadline < d) {
		d = c->handshake_deadline;
		which = CONN_HANDSHAKE;
	}
	if (d <= t) {
		c->timed_out = which;
		return 0;
	}
	return d - t > 86400000 ? 86400000 : (int)(d - t);
}

static int write_some(struct conn *c)
{
	const uint8_t *p;
	size_t len;
	outq_pending(c->out, &p, &len);
	ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0) {
		outq_consume(c->out, (size_t)w);
		c->bytes_out += (uint64_t)w;
		moved(c);
		check_acked(c);         /* the new baseline */
		return CONN_WROTE;
	}
	if (w < 0 && errno != EAGAIN && errno != EINTR)
		return -TCPX_E_SYSTEM;
	return 0;
}

static int read_some(struct conn *c)
{
	size_t cap;
	uint8_t *p = frame_reader_space(c->in, &cap);
	ssize_t r = recv(c->fd, p, cap, MSG_DONTWAIT);
	if (r > 0) {
		frame_reader_commit(c->in, (size_t)r);
		c->bytes_in += (uint64_t)r;
		moved(c);
		return CONN_READ;
	}
	if (r == 0)
		return -TCPX_E_CLOSED;
	if (errno != EAGAIN && errno != EINTR)
		return -TCPX_E_SYSTEM;
	return 0;
}

int conn_pump(struct conn *c, int extra_fd)
{
	for (;;) {
		size_t room;
		frame_reader_space(c->in, &room);
		int want_out = outq_len(c->out) > 0;
		if (!room && !want_out)
			return -TCPX_E_INTERNAL;   /* a full reader holds a frame */
		struct pollfd pfd[3] = {
			{ .fd = c->fd, .events = (short)((room ? POLLIN : 0) |
							 (want_out ? POLLOUT : 0)) },
			{ .fd = c->stop_fd, .events = POLLIN },
			{ .fd = extra_fd, .events = POLLIN },
		};
		int timeout = wait_ms(c);
		if (c->timed_out)
			return -TCPX_E_TIMEOUT;
		if (want_out && timeout > ACK_CHECK_MS)
			timeout = ACK_CHECK_MS;
		int pr = poll(pfd, 3, timeout);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -TCPX_E_SYSTEM;
		if (pr == 0 && want_out)
			check_acked(c);
		if (pr == 0)
			continue;       /* wait_ms() now sees the deadline */
		int done = 0, rc;
		if (pfd[1].revents & POLLIN)
			done |= CONN_STOP;
		if (pfd[2].revents & POLLIN)
			done |= CONN_EXTRA;
		if (want_out && (pfd[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			rc = write_some(c);
			if (rc < 0)
				return rc;
			done |= rc;
		}
		if (room && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			rc = read_some(c);
			/* What arrived before the EOF or reset is handled first;
			 * the next call reports the end. */
			if (rc < 0 && !done)
				return rc;
			if (rc > 0)
				done |= rc;
		}
		if (done)
			return done;
	}
}

int conn_flush(struct conn *c, int ms)
{
	int64_t deadline = now_ms() + ms;
	while (outq_len(c->out) > 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -TCPX_E_TIMEOUT;
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR)
			return -TCPX_E_SYSTEM;
		if (pr > 0 && write_some(c) < 0)
			return -TCPX_E_SYSTEM;
	}
	return 0;
}

void conn_refuse(int fd, uint16_t code, const char *msg)
{
	/* proto_encode_error cuts the message at TCPX_MSG_MAX. */
	uint8_t buf[TCPX_FRAME_HEADER_LEN + TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX];
	size_t n = proto_encode_error(buf, code, msg);

	/* One try, never a wait: the peer gets a reason instead of a
	 * timeout when its socket has room (a fresh one always has), and a
	 * peer that reads nothing cannot hold the accept loop.  MSG_NOSIGNAL:
	 * a peer already gone must not kill the server with SIGPIPE. */
	ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	close(fd);
}
