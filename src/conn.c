/* conn: the only code that moves bytes on a TCPX socket (conn.h). */
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "proto.h"

int64_t conn_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void conn_init(struct conn *c, int fd, struct frame_reader *in,
	       struct outq *out, const struct conn_limits *lim, int stop_fd)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->in = in;
	c->out = out;
	c->stop_fd = stop_fd;
	c->lim = *lim;
	c->started = c->last_move = conn_now();
	c->handshaking = 1;
}

void conn_handshake_done(struct conn *c)
{
	c->handshaking = 0;
}

void conn_frame_pending(struct conn *c, int pending)
{
	if (!pending)
		c->frame_since = 0;
	else if (!c->frame_since)
		c->frame_since = conn_now();
}

void conn_watch_rate(struct conn *c, int on)
{
	if (on && !c->rate_watched) {
		c->rate_since = conn_now();
		c->rate_bytes = c->bytes_in;
	}
	c->rate_watched = on;
}

int conn_timed_out(const struct conn *c)
{
	return c->timed_out;
}

const char *conn_deadline_name(int which)
{
	switch (which) {
	case CONN_IDLE: return "idle";
	case CONN_HANDSHAKE: return "handshake not finished in time";
	case CONN_FRAME: return "frame not finished in time";
	case CONN_WRITE: return "replies not read in time";
	case CONN_SLOW: return "sending below the minimum rate";
	default: return "no deadline";
	}
}

/* A full send buffer gives no POLLOUT until about half of it drained
 * (megabytes on loopback), so a peer reading slowly would look idle for
 * seconds; the bytes its TCP acknowledges show it is not.  SIOCOUTQ is
 * what we wrote and the peer has not yet acknowledged.  Looked at every
 * ACK_CHECK_MS while output waits. */
#define ACK_CHECK_MS 100

static void check_acked(struct conn *c, int64_t now)
{
	int n;
	if (ioctl(c->fd, SIOCOUTQ, &n) < 0)
		return;
	if (n < c->unacked)
		c->last_move = now;
	c->unacked = n;
}

/* The write deadline runs from the moment the queue stops being empty. */
static void note_queue(struct conn *c, int64_t now)
{
	if (!outq_len(c->out))
		c->write_since = 0;
	else if (!c->write_since)
		c->write_since = now;
}

/* Each deadline in force, with its name; INT64_MAX when off. */
static int64_t deadline(const struct conn *c, int which)
{
	const struct conn_limits *l = &c->lim;
	switch (which) {
	case CONN_IDLE:
		return l->idle_ms ? c->last_move + l->idle_ms : INT64_MAX;
	case CONN_HANDSHAKE:
		return c->handshaking && l->handshake_ms ?
		       c->started + l->handshake_ms : INT64_MAX;
	case CONN_FRAME:
		return c->frame_since && l->frame_ms ?
		       c->frame_since + l->frame_ms : INT64_MAX;
	case CONN_WRITE:
		return c->write_since && l->write_ms ?
		       c->write_since + l->write_ms : INT64_MAX;
	case CONN_SLOW:
		return c->rate_watched && l->min_rate && l->rate_window_ms ?
		       c->rate_since + l->rate_window_ms : INT64_MAX;
	}
	return INT64_MAX;
}

/* The specific deadlines first: when the idle one passes in the same
 * tick, the reason given is the one that says more. */
static const int check_order[] = { CONN_HANDSHAKE, CONN_FRAME, CONN_WRITE,
				   CONN_SLOW, CONN_IDLE };

int conn_check(struct conn *c, int64_t now)
{
	note_queue(c, now);
	if (outq_len(c->out))
		check_acked(c, now);
	for (size_t i = 0; i < sizeof(check_order) / sizeof(check_order[0]); i++) {
		int which = check_order[i];
		if (now < deadline(c, which))
			continue;
		if (which == CONN_SLOW) {
			/* A window ended: judge its average, then start the
			 * next one. */
			uint64_t need = (uint64_t)c->lim.min_rate *
					(uint64_t)c->lim.rate_window_ms / 1000;
			if (c->bytes_in - c->rate_bytes >= need) {
				c->rate_since = now;
				c->rate_bytes = c->bytes_in;
				continue;
			}
		}
		c->timed_out = which;
		return -TCPX_E_TIMEOUT;
	}
	return 0;
}

int64_t conn_deadline(struct conn *c, int64_t now)
{
	int64_t d = INT64_MAX;
	note_queue(c, now);
	for (int which = CONN_IDLE; which <= CONN_SLOW; which++) {
		int64_t t = deadline(c, which);
		if (t < d)
			d = t;
	}
	/* While output waits, look at the peer's acknowledgements often. */
	if (outq_len(c->out) && d > now + ACK_CHECK_MS)
		d = now + ACK_CHECK_MS;
	return d;
}

short conn_events(const struct conn *c)
{
	size_t room;
	frame_reader_space(c->in, &room);
	return (short)((room ? POLLIN : 0) | (outq_len(c->out) ? POLLOUT : 0));
}

static int write_some(struct conn *c)
{
	const uint8_t *p;
	size_t len;
	outq_pending(c->out, &p, &len);
	ssize_t w = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0) {
		outq_consume(c->out, (size_t)w);
		/* Everything queued has left: the write deadline starts again
		 * with the next reply.  The loops queue replies between writes,
		 * so the queue may never be empty when a deadline is checked,
		 * yet a peer that reads everything must not time out. */
		if (!outq_len(c->out))
			c->write_since = 0;
		c->bytes_out += (uint64_t)w;
		c->last_move = conn_now();
		check_acked(c, c->last_move);   /* the new baseline */
		return CONN_WROTE;
	}
	if (w < 0 && errno != EAGAIN && errno != EINTR)
		return -TCPX_E_SYSTEM;
	return 0;
}

/* One recv() into the reader, at most max bytes (0: what fits). */
static int read_some(struct conn *c, size_t max, size_t *got)
{
	size_t cap;
	uint8_t *p = frame_reader_space(c->in, &cap);
	if (max && cap > max)
		cap = max;
	ssize_t r = recv(c->fd, p, cap, MSG_DONTWAIT);
	if (r > 0) {
		frame_reader_commit(c->in, (size_t)r);
		c->bytes_in += (uint64_t)r;
		c->last_move = conn_now();
		*got = (size_t)r;
		return CONN_READ;
	}
	if (r == 0)
		return -TCPX_E_CLOSED;
	if (errno != EAGAIN && errno != EINTR)
		return -TCPX_E_SYSTEM;
	return 0;
}

int conn_io(struct conn *c, size_t budget)
{
	int done = 0, rc;
	size_t total = 0, room, got;

	if (outq_len(c->out)) {
		rc = write_some(c);
		if (rc < 0)
			return rc;
		done |= rc;
	}
	while (!budget || total < budget) {
		frame_reader_space(c->in, &room);
		if (!room)
			break;
		got = 0;
		rc = read_some(c, budget ? budget - total : 0, &got);
		if (rc < 0)
			return done ? done : rc;  /* the end comes next call */
		if (rc == 0)
			break;
		done |= rc;
		total += got;
	}
	return done;
}

int conn_pump(struct conn *c, int extra_fd)
{
	for (;;) {
		int64_t now = conn_now();
		if (conn_check(c, now) < 0)
			return -TCPX_E_TIMEOUT;
		int64_t d = conn_deadline(c, now);
		int timeout = d == INT64_MAX ? -1 :
			      d - now > 86400000 ? 86400000 : (int)(d - now);
		struct pollfd pfd[3] = {
			{ .fd = c->fd, .events = conn_events(c) },
			{ .fd = c->stop_fd, .events = POLLIN },
			{ .fd = extra_fd, .events = POLLIN },
		};
		if (!pfd[0].events)
			return -TCPX_E_INTERNAL;   /* a full reader holds a frame */
		int pr = poll(pfd, 3, timeout);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -TCPX_E_SYSTEM;
		if (pr == 0)
			continue;       /* conn_check() now sees the deadline */
		int done = 0;
		if (pfd[1].revents & POLLIN)
			done |= CONN_STOP;
		/* a pipe whose writer left says POLLHUP alone: readable too
		 * (its end), or poll() would return at once for ever */
		if (pfd[2].revents & (POLLIN | POLLHUP | POLLERR))
			done |= CONN_EXTRA;
		if (pfd[0].revents) {
			int rc = conn_io(c, 0);
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
	int64_t end = conn_now() + ms;
	while (outq_len(c->out) > 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
		int64_t left = end - conn_now();
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
