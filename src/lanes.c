/* lanes: a session's extra connections, sending side (lanes.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "error.h"
#include "lanes.h"
#include "names.h"
#include "proto.h"
#include "sender.h"
#include "ui.h"

#define LANES_MAX TCPX_STREAMS_MAX

struct lane {
	int fd;
	int connecting;         /* connect() in progress */
	int dead;               /* closed: refused, failed or done */
	struct sender_lane sl;
	struct conn conn;
};

struct lanes {
	unsigned n;
	int bye;                /* the session's BYE went: the lanes' data is
				   all queued, and the receiver judges */
	const char *peer;
	struct conn_limits lim;
	const struct conn_secure_config *sec;
	struct lane lane[LANES_MAX];
};

static void lane_close(struct lanes *L, struct lane *l)
{
	if (l->fd < 0)
		return;
	if (!l->connecting) {
		ui_debug("%s: extra connection %u: %llu bytes sent", L->peer,
			 l->sl.index, (unsigned long long)l->conn.bytes_out);
		conn_free(&l->conn);
	}
	sender_lane_free(&l->sl);
	close(l->fd);
	l->fd = -1;
	l->dead = 1;
}

/* A lane refused or lost before it carried anything: said once each. */
static void lane_drop(struct lanes *L, struct lane *l, const char *why,
		      const uint8_t *msg, size_t len)
{
	char m[4 * TCPX_MSG_MAX + 4];
	name_escape(msg ? msg : (const uint8_t *)"", len, m, sizeof(m));
	/* Past the session's BYE a lane that came too late is no news. */
	if (L->bye)
		ui_debug("%s: extra connection %u not used: %s%s%s", L->peer,
			 l->sl.index, why, len ? ": " : "", m);
	else
		ui_error(L->peer, "warning: extra connection %u not used: "
			 "%s%s%s", l->sl.index, why, len ? ": " : "", m);
	lane_close(L, l);
}

struct lanes *lanes_open(int session_fd, unsigned n, const uint8_t *token,
			 uint64_t want_caps, uint64_t session_caps,
			 const struct conn_limits *lim,
			 const struct conn_secure_config *sec,
			 const char *peer)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct lanes *L;
	unsigned started = 0;

	if (n > LANES_MAX)
		n = LANES_MAX;
	if (getpeername(session_fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    !(L = calloc(1, sizeof(*L)))) {
		ui_error(peer, "warning: no extra connections: %s", strerror(errno));
		return NULL;
	}
	L->peer = peer;
	L->lim = *lim;
	/* A lane may rightly carry nothing for a while (a stream goes on the
	 * session's own connection): the session's deadline covers all. */
	L->lim.idle_ms = 0;
	L->sec = sec;
	for (unsigned i = 0; i < n; i++) {
		struct lane *l = &L->lane[L->n];
		int one = 1;
		l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
			       SOCK_CLOEXEC, 0);
		if (l->fd < 0)
			break;
		setsockopt(l->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (connect(l->fd, (struct sockaddr *)&ss, sl) < 0 &&
		    errno != EINPROGRESS) {
			close(l->fd);
			break;
		}
		if (sender_lane_init(&l->sl, want_caps, session_caps, token,
				     (uint16_t)(i + 1)) < 0) {
			close(l->fd);
			break;
		}
		l->connecting = 1;
		L->n++;
		started++;
	}
	if (!started) {
		ui_error(peer, "warning: no extra connections: %s", strerror(errno));
		free(L);
		return NULL;
	}
	return L;
}

/* connect() finished: the lane's conn starts (HELLO queued already). */
static int lane_connected(struct lanes *L, struct lane *l)
{
	int err = 0;
	socklen_t len = sizeof(err);
	if (getsockopt(l->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err) {
		errno = err;
		lane_drop(L, l, strerror(err), NULL, 0);
		return -1;
	}
	l->connecting = 0;
	conn_init(&l->conn, l->fd, &l->sl.rd, &l->sl.out, &L->lim, -1);
	if (L->sec && conn_secure_enable(&l->conn, L->sec) < 0) {
		lane_drop(L, l, "out of memory", NULL, 0);
		return -1;
	}
	return 0;
}

/* The lane's events; -TCPX_E_JOIN_LOST when a joined lane failed. */
static int lane_events(struct lanes *L, struct lane *l)
{
	struct lane_event ev;
	for (;;) {
		int joined = l->sl.state == LANE_READY ||
			     l->sl.state == LANE_BYE_SENT;
		sender_lane_next(&l->sl, &ev);
		switch (ev.type) {
		case LEV_NONE:
			return 0;
		case LEV_HELLO:
			conn_handshake_done(&l->conn);
			if (l->conn.sec && conn_secure_start(&l->conn) < 0) {
				lane_drop(L, l, conn_secure_why(&l->conn), NULL, 0);
				return 0;
			}
			sender_lane_join(&l->sl);
			break;
		case LEV_JOINED:
			ui_debug("%s: extra connection %u joined", L->peer,
				 l->sl.index);
			if (L->bye)
				sender_lane_bye(&l->sl);
			break;
		case LEV_BYE:
			lane_close(L, l);
			return 0;
		case LEV_ERROR:
			if (joined && !L->bye) {
				lane_close(L, l);
				return -TCPX_E_JOIN_LOST;
			}
			/* our ERROR (if any) goes first, best effort */
			if (!l->connecting)
				conn_flush(&l->conn, 100);
			lane_drop(L, l, tcpx_strerror(ev.code), ev.msg,
				  ev.msg_len);
			return 0;
		}
	}
}

/* conn_io() failed on a lane. */
static int lane_failed(struct lanes *L, struct lane *l, int rc)
{
	int joined = l->sl.state == LANE_READY || l->sl.state == LANE_BYE_SENT;
	if (joined && L->bye) {
		/* Everything it carried was queued before the session's BYE:
		 * whether it all arrived, the verdicts on the session's own
		 * connection say (the receiver ends the session if not). */
		lane_close(L, l);
		return 0;
	}
	if (joined) {
		ui_error(L->peer, "extra connection %u lost: %s", l->sl.index,
			 rc == -TCPX_E_SYSTEM ? strerror(errno) :
			 tcpx_strerror(rc));
		lane_close(L, l);
		return -TCPX_E_JOIN_LOST;
	}
	lane_drop(L, l, rc == -TCPX_E_SYSTEM ? strerror(errno) :
		  l->conn.sec && *conn_secure_why(&l->conn) ?
		  conn_secure_why(&l->conn) : tcpx_strerror(rc), NULL, 0);
	return 0;
}

int lanes_pump(struct lanes *L, struct conn *c, int extra_fd)
{
	struct pollfd pfd[2 + LANES_MAX];
	for (;;) {
		int64_t now = conn_now();
		if (conn_check(c, now) < 0)
			return -TCPX_E_TIMEOUT;
		int64_t d = conn_deadline(c, now);
		for (unsigned i = 0; i < L->n; i++) {
			struct lane *l = &L->lane[i];
			if (l->dead || l->connecting)
				continue;
			if (conn_check(&l->conn, now) < 0) {
				int rc = lane_failed(L, l, -TCPX_E_TIMEOUT);
				if (rc < 0)
					return rc;
				continue;
			}
			int64_t ld = conn_deadline(&l->conn, now);
			if (ld < d)
				d = ld;
		}
		int timeout = d == INT64_MAX ? 1000 :
			      d - now > 1000 ? 1000 : (int)(d - now);
		pfd[0] = (struct pollfd){ .fd = c->fd, .events = conn_events(c) };
		pfd[1] = (struct pollfd){ .fd = extra_fd, .events = POLLIN };
		if (!pfd[0].events)
			return -TCPX_E_INTERNAL;
		for (unsigned i = 0; i < L->n; i++) {
			struct lane *l = &L->lane[i];
			pfd[2 + i] = (struct pollfd){ .fd = l->dead ? -1 : l->fd,
				.events = l->dead ? 0 : l->connecting ? POLLOUT :
					  conn_events(&l->conn) };
		}
		int pr = poll(pfd, 2 + L->n, timeout);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0)
			return -TCPX_E_SYSTEM;
		if (pr == 0)
			continue;
		int done = 0;
		for (unsigned i = 0; i < L->n; i++) {
			struct lane *l = &L->lane[i];
			if (l->dead || !pfd[2 + i].revents)
				continue;
			if (l->connecting) {
				lane_connected(L, l);
				continue;
			}
			int rc = conn_io(&l->conn, 0);
			if (rc < 0 && (rc = lane_failed(L, l, rc)) < 0)
				return rc;
			if (rc > 0 && (rc = lane_events(L, l)) < 0)
				return rc;
			done |= CONN_WROTE;     /* room in a lane: produce */
		}
		if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR))
			done |= CONN_EXTRA;
		if (pfd[0].revents) {
			int rc = conn_io(c, 0);
			if (rc < 0)
				return rc;
			done |= rc;
		}
		if (done)
			return done;
	}
}

static int lane_ready(const struct lane *l)
{
	return !l->dead && l->sl.state == LANE_READY;
}

struct outq *lanes_pick(struct lanes *L, struct outq *own)
{
	struct outq *best = outq_has_room(own) ? own : NULL;
	size_t best_len = best ? outq_len(own) : SIZE_MAX;
	for (unsigned i = 0; i < L->n; i++) {
		struct lane *l = &L->lane[i];
		if (!lane_ready(l) || !outq_has_room(&l->sl.out))
			continue;
		size_t len = conn_out_pending(&l->conn);
		if (len < best_len) {
			best = &l->sl.out;
			best_len = len;
		}
	}
	return best == own ? NULL : best;
}

unsigned lanes_joined(const struct lanes *L)
{
	unsigned n = 0;
	for (unsigned i = 0; L && i < L->n; i++)
		n += lane_ready(&L->lane[i]);
	return n;
}

int lanes_pending(const struct lanes *L)
{
	for (unsigned i = 0; L && i < L->n; i++)
		if (!L->lane[i].dead && (L->lane[i].connecting ||
					 L->lane[i].sl.state < LANE_READY))
			return 1;
	return 0;
}

void lanes_bye(struct lanes *L)
{
	if (L)
		L->bye = 1;
	for (unsigned i = 0; L && i < L->n; i++)
		if (lane_ready(&L->lane[i]))
			sender_lane_bye(&L->lane[i].sl);
}

void lanes_close(struct lanes *L, int ms)
{
	if (!L)
		return;
	int64_t end = conn_now() + ms;
	for (unsigned i = 0; i < L->n; i++) {
		struct lane *l = &L->lane[i];
		/* Its BYE, answered: the receiver has all it sent. */
		while (!l->dead && !l->connecting &&
		       l->sl.state == LANE_BYE_SENT) {
			int64_t left = end - conn_now();
			struct pollfd p = { .fd = l->fd,
					    .events = conn_events(&l->conn) };
			if (left <= 0 || poll(&p, 1, (int)left) <= 0)
				break;
			int rc = conn_io(&l->conn, 0);
			if (rc < 0)
				break;
			if (rc > 0)
				lane_events(L, l);
		}
		lane_close(L, l);
	}
	free(L);
}
