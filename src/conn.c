/* conn: the only code that moves bytes on a TCPX socket (conn.h). */
#include <errno.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "handshake.h"
#include "proto.h"

/* ---- SECURE: the state conn keeps (conn.h, handshake.h) ---------------- */

/* A HELLO frame at most: what is kept of each direction before the
 * handshake starts (more is a violation). */
#define HELLO_KEEP (TCPX_FRAME_HEADER_LEN + TCPX_HELLO_MAX)
/* Records and handshake frames read: the reader grows with what arrives
 * up to one maximal record and 64 KiB more. */
#define SEC_IN_MIN (16u * 1024u)
#define SEC_IN_MAX (HS_RECORD_WIRE_MAX + 64u * 1024u)

/* What leaves the queue: nothing yet (TX_HOLD: the sender until the
 * receiver's key confirmation), records, or (after a failure before
 * sealing) the clear. */
enum { TX_HOLD, TX_SEALED, TX_PLAIN };

/* The record keys, in guarded memory of their own: a connection that
 * never gets past its HELLO costs no more than a small calloc. */
struct sec_keys {
	struct hs_record seal, open;
};
enum { RX_HANDSHAKE, RX_SEALED, RX_DEAD };  /* what is read */

struct conn_secure {
	struct conn_secure_config cfg;
	int started, tx, rx, done;
	int peer_expects_records;        /* sender: KX_AUTH is queued */
	uint8_t hello_out[HELLO_KEEP], hello_in[HELLO_KEEP];
	size_t hello_out_len, hello_in_len;
	int hello_over;                  /* more than one HELLO went by */
	struct handshake *hs;
	struct sec_keys *keys;           /* guarded, from conn_secure_start() */
	struct frame_reader in;          /* handshake frames, then records */
	struct outq out;                 /* handshake frames, records */
	const uint8_t *pt;               /* opened, not yet in c->in */
	size_t pt_len;
	char why[256];
};

static void keep(uint8_t *buf, size_t *len, int *over, const uint8_t *p,
		 size_t n)
{
	if (*len + n > HELLO_KEEP) {
		*over = 1;
		return;
	}
	memcpy(buf + *len, p, n);
	*len += n;
}

static int sec_fail(struct conn *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The handshake or a record failed: nothing more is read, and nothing
 * the state machine had queued leaves unsealed. */
static int sec_fail(struct conn *c, int code, const char *fmt, ...)
{
	struct conn_secure *sec = c->sec;
	va_list ap;
	if (sec->rx == RX_DEAD)
		return -code;
	va_start(ap, fmt);
	vsnprintf(sec->why, sizeof(sec->why), fmt, ap);
	va_end(ap);
	sec->rx = RX_DEAD;
	sec->pt_len = 0;
	if (sec->tx == TX_HOLD) {
		outq_consume(c->out, outq_len(c->out));
		sec->tx = sec->peer_expects_records ? TX_SEALED : TX_PLAIN;
	}
	return -code;
}

void conn_secure_abort(struct conn *c)
{
	if (c->sec && c->sec->started && !c->sec->done)
		sec_fail(c, TCPX_E_TIMEOUT, "the session ended in the handshake");
}

int conn_secure_enable(struct conn *c, const struct conn_secure_config *cfg)
{
	struct conn_secure *sec = calloc(1, sizeof(*sec));
	if (!sec)
		return -TCPX_E_NOMEM;
	sec->cfg = *cfg;
	c->sec = sec;
	return 0;
}

void conn_free(struct conn *c)
{
	struct conn_secure *sec = c->sec;
	if (!sec)
		return;
	handshake_free(sec->hs);
	if (sec->started) {
		frame_reader_free(&sec->in);
		outq_free(&sec->out);
	}
	sodium_free(sec->keys);         /* wipes the record keys */
	free(sec);
	c->sec = NULL;
}

int conn_secured(const struct conn *c)
{
	return c->sec && c->sec->done;
}

int conn_secure_aes(const struct conn *c)
{
	return c->sec && c->sec->keys && c->sec->keys->seal.aes;
}

const char *conn_secure_why(const struct conn *c)
{
	return c->sec ? c->sec->why : "";
}

int conn_secure_start(struct conn *c)
{
	struct conn_secure *sec = c->sec;
	const uint8_t *p;
	size_t n;
	int sender;

	if (!sec || sec->started)
		return -TCPX_E_INTERNAL;
	sender = sec->cfg.role == TCPX_ROLE_SENDER;
	sec->keys = sodium_malloc(sizeof(*sec->keys));
	if (sec->keys)
		memset(sec->keys, 0, sizeof(*sec->keys));
	if (!sec->keys ||
	    frame_reader_init_growing(&sec->in, SEC_IN_MIN, SEC_IN_MAX, sender ?
			&handshake_limits_sender : &handshake_limits_receiver) < 0 ||
	    outq_init(&sec->out, 2 * HS_RECORD_WIRE_MAX, HS_RECORD_WIRE_MAX) < 0) {
		sodium_free(sec->keys);
		sec->keys = NULL;
		frame_reader_free(&sec->in);
		outq_free(&sec->out);
		return -TCPX_E_NOMEM;
	}
	sec->started = 1;
	/* Our HELLO may still be (partly) in the queue: it leaves as it is,
	 * ahead of the handshake, and belongs to the transcript. */
	outq_pending(c->out, &p, &n);
	keep(sec->hello_out, &sec->hello_out_len, &sec->hello_over, p, n);
	memcpy(outq_tail(&sec->out), p, n);
	outq_append(&sec->out, n);
	outq_consume(c->out, n);
	if (sec->hello_over || frame_reader_buffered(c->in))
		return sec_fail(c, TCPX_E_UNEXPECTED,
				"bytes beyond the HELLO before the handshake");
	sec->hs = handshake_new(sec->cfg.role, sec->cfg.sk, sec->cfg.pk,
				sec->cfg.seed,
				sender ? sec->hello_out : sec->hello_in,
				sender ? sec->hello_out_len : sec->hello_in_len,
				sender ? sec->hello_in : sec->hello_out,
				sender ? sec->hello_in_len : sec->hello_out_len);
	if (!sec->hs)
		return sec_fail(c, TCPX_E_INTERNAL, "cannot start the handshake");
	if (sender) {
		n = handshake_init_msg(sec->hs, outq_tail(&sec->out));
		outq_append(&sec->out, n);
	}
	return 0;
}

/* The handshake is over both ways: its deadline no longer applies. */
static void sec_done(struct conn *c)
{
	/* An authenticated peer's records: the buffers (ours and the state
	 * machine's, which records are opened into) stop shrinking back
	 * between them (growing them again for every 256 KiB record costs
	 * more than the sealing). */
	c->sec->in.min_cap = c->sec->in.max_cap;
	c->in->min_cap = c->in->max_cap;
	c->sec->done = 1;
	c->handshaking = 0;
	handshake_free(c->sec->hs);
	c->sec->hs = NULL;
}

/* The peer's key is judged by our owner (authorized list, pinned key). */
static int judge(struct conn *c)
{
	struct conn_secure *sec = c->sec;
	char why[sizeof(sec->why)] = "";
	int code;
	if (!sec->cfg.judge)
		return 0;
	code = sec->cfg.judge(sec->cfg.judge_arg, handshake_peer_key(sec->hs),
			      why, sizeof(why));
	return code ? sec_fail(c, code, "%s", why) : 0;
}

/* One handshake frame from the peer. */
static int on_handshake_frame(struct conn *c, const struct tcpx_frame *f)
{
	struct conn_secure *sec = c->sec;
	int rc;

	if (f->type == TCPX_FRAME_ERROR) {
		/* The peer gives up: its ERROR goes to the state machine,
		 * which says why, as it would without SECURE. */
		size_t cap, n = TCPX_FRAME_HEADER_LEN + f->length;
		uint8_t *dst = frame_reader_space(c->in, &cap);
		if (cap < n)
			return sec_fail(c, TCPX_E_INTERNAL, "no room for an ERROR");
		memcpy(dst, f->payload - TCPX_FRAME_HEADER_LEN, n);
		frame_reader_commit(c->in, n);
		sec_fail(c, TCPX_E_AUTH, "the peer ended the handshake");
		return CONN_READ;
	}
	if (f->type == TCPX_FRAME_KX_INIT) {
		rc = handshake_on_init(sec->hs, f->payload, f->length,
				       outq_tail(&sec->out));
		if (rc < 0)
			return sec_fail(c, -rc, "bad KX_INIT: %s", tcpx_strerror(rc));
		outq_append(&sec->out, (size_t)rc);
		handshake_records(sec->hs, &sec->keys->seal, &sec->keys->open);
		sec->tx = TX_SEALED;
		return 0;
	}
	if (f->type == TCPX_FRAME_KX_REPLY) {
		rc = handshake_on_reply(sec->hs, f->payload, f->length);
		if (rc == -TCPX_E_AUTH)
			return sec_fail(c, TCPX_E_AUTH, "the receiver's KX_REPLY "
					"failed authentication (tampered, or "
					"not the key it shows)");
		if (rc < 0)
			return sec_fail(c, -rc, "bad KX_REPLY: %s", tcpx_strerror(rc));
		if ((rc = judge(c)) < 0)
			return rc;
		outq_append(&sec->out, handshake_auth_msg(sec->hs,
							  outq_tail(&sec->out)));
		handshake_records(sec->hs, &sec->keys->seal, &sec->keys->open);
		sec->peer_expects_records = 1;
		/* Records from now on, ours held until the receiver's
		 * confirmation (its first record, empty) arrives. */
		sec->rx = RX_SEALED;
		sec->in.lim = &handshake_record_limits;
		return 0;
	}
	/* KX_AUTH: the limits let nothing else through. */
	rc = handshake_on_auth(sec->hs, f->payload, f->length);
	if (rc == -TCPX_E_AUTH)
		return sec_fail(c, TCPX_E_AUTH, "the sender's KX_AUTH failed "
				"authentication (tampered, or not the key it shows)");
	if (rc < 0)
		return sec_fail(c, -rc, "bad KX_AUTH: %s", tcpx_strerror(rc));
	if ((rc = judge(c)) < 0)
		return rc;
	/* The key confirmation: the sender sends no file frame before this
	 * empty record says it was accepted. */
	rc = handshake_seal(&sec->keys->seal, NULL, 0, outq_tail(&sec->out));
	if (rc < 0)
		return sec_fail(c, TCPX_E_INTERNAL, "cannot seal");
	outq_append(&sec->out, (size_t)rc);
	sec->rx = RX_SEALED;
	sec->in.lim = &handshake_record_limits;
	sec_done(c);
	return 0;
}

/* Moves opened plaintext into the state machine's reader while it has
 * room; 1 if any moved. */
static int deliver(struct conn *c)
{
	struct conn_secure *sec = c->sec;
	int moved = 0;
	while (sec->pt_len) {
		size_t cap;
		uint8_t *dst = frame_reader_space(c->in, &cap);
		if (!cap)
			break;
		if (cap > sec->pt_len)
			cap = sec->pt_len;
		memcpy(dst, sec->pt, cap);
		frame_reader_commit(c->in, cap);
		sec->pt += cap;
		sec->pt_len -= cap;
		moved = 1;
	}
	return moved;
}

/* Handles what the SECURE reader holds: handshake frames, or records
 * opened and delivered while the state machine's reader takes them.
 * CONN_READ if something reached the state machine, 0, or an error. */
static int sec_process(struct conn *c)
{
	struct conn_secure *sec = c->sec;
	struct tcpx_frame f;
	int done = 0, rc;

	for (;;) {
		if (sec->rx == RX_DEAD)
			return done;
		if (sec->pt_len) {
			if (deliver(c))
				done = CONN_READ;
			if (sec->pt_len)
				return done;
		}
		rc = frame_reader_next(&sec->in, &f);
		if (rc < 0 && sec->rx == RX_HANDSHAKE)
			return sec_fail(c, -rc, "%s during the handshake",
					tcpx_strerror(rc));
		if (rc < 0)
			return sec_fail(c, TCPX_E_AUTH, "not a SEALED record "
					"(%s): tampered with", tcpx_strerror(rc));
		if (rc == 0)
			return done;
		if (sec->rx == RX_HANDSHAKE) {
			rc = on_handshake_frame(c, &f);
			if (rc < 0)
				return rc;
			done |= rc;
			continue;
		}
		/* Straight into the state machine's reader when the whole
		 * plaintext fits there (no copy); else in place, in our
		 * reader's buffer (the payload is ours), and copied on. */
		uint8_t *p = (uint8_t *)(uintptr_t)f.payload, *dst;
		size_t room = 0;
		dst = f.length > HS_TAG_LEN ? frame_reader_space(c->in, &room) : NULL;
		if (dst && room < f.length - HS_TAG_LEN)
			dst = frame_reader_reserve(c->in, f.length - HS_TAG_LEN, &room);
		if (dst) {
			rc = handshake_open_to(&sec->keys->open,
					       p - TCPX_FRAME_HEADER_LEN, p,
					       f.length, dst);
			if (rc > 0) {
				frame_reader_commit(c->in, (size_t)rc);
				done = CONN_READ;
				continue;
			}
		} else {
			rc = handshake_open(&sec->keys->open,
					    p - TCPX_FRAME_HEADER_LEN, p, f.length);
		}
		if (rc < 0)
			return sec_fail(c, TCPX_E_AUTH, "record %llu failed "
					"authentication (altered, replayed, "
					"reordered or dropped): connection ended",
					(unsigned long long)sec->keys->open.counter - 1);
		if (sec->tx == TX_HOLD && sec->keys->open.counter == 1) {
			/* The sender's first record from the receiver: an
			 * empty one confirms, anything else (its ERROR) goes
			 * to the state machine and nothing of ours leaves. */
			if (rc == 0) {
				sec->tx = TX_SEALED;
				sec_done(c);
				continue;
			}
		}
		sec->pt = p;
		sec->pt_len = (size_t)rc;
	}
}

/* Seals what the state machine queued, as far as the record queue has
 * room: one record per HS_RECORD_MAX bytes at most. */
static int sec_fill(struct conn *c)
{
	struct conn_secure *sec = c->sec;
	const uint8_t *p;
	size_t n;
	while (sec->tx == TX_SEALED && outq_len(c->out) &&
	       outq_has_room(&sec->out)) {
		outq_pending(c->out, &p, &n);
		if (n > HS_RECORD_MAX)
			n = HS_RECORD_MAX;
		int w = handshake_seal(&sec->keys->seal, p, n, outq_tail(&sec->out));
		if (w < 0)
			return sec_fail(c, TCPX_E_AUTH, "record counter spent");
		outq_append(&sec->out, (size_t)w);
		outq_consume(c->out, n);
	}
	return 0;
}

/* The queue bytes go out from: the record queue once SECURE started
 * (then, after a failure before sealing, the state machine's in the
 * clear), else the state machine's. */
static struct outq *wire_queue(const struct conn *c)
{
	struct conn_secure *sec = c->sec;
	if (!sec || !sec->started)
		return c->out;
	if (outq_len(&sec->out) || sec->tx != TX_PLAIN)
		return &sec->out;
	return c->out;
}

size_t conn_out_pending(const struct conn *c)
{
	struct conn_secure *sec = c->sec;
	if (!sec || !sec->started)
		return outq_len(c->out);
	return outq_len(&sec->out) +
	       (sec->tx != TX_HOLD ? outq_len(c->out) : 0);
}

size_t conn_input_buffered(const struct conn *c)
{
	const struct conn_secure *sec = c->sec;
	return sec && sec->started && sec->rx != RX_DEAD ?
	       frame_reader_buffered(&sec->in) : 0;
}

int conn_input_pending(const struct conn *c)
{
	struct conn_secure *sec = c->sec;
	const struct frame_reader *in;
	struct tcpx_frame f;
	size_t used;

	if (!sec || !sec->started || sec->rx == RX_DEAD)
		return 0;
	if (sec->pt_len)
		return 1;
	/* A whole record waits; a part of one waits for the socket. */
	in = &sec->in;
	return frame_decode(in->buf + in->start, in->end - in->start, in->lim,
			    &f, &used, NULL) != 0;
}

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
	/* With SECURE, the HELLOs are only its beginning. */
	if (!c->sec)
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

/*
 * The write deadline: every reply must be acknowledged by the peer's TCP
 * within write_ms of being queued (twice that at most, by the marks'
 * granularity).  A mark records how many bytes had been produced (sent
 * or queued) when it was set; once the peer has acknowledged that many
 * (SIOCOUTQ), the mark moves on to what is produced by then.  A peer that
 * reads everything keeps moving it, however busy the loop is and however
 * the writes fall between the checks; one that reads nothing, or a byte
 * now and then, does not: the deadline stays absolute for it.  (A queue
 * that was merely non-empty at every check once ended long transfers of
 * many small files that were read promptly.)
 */
static void note_queue(struct conn *c, int64_t now)
{
	uint64_t produced = c->bytes_out + conn_out_pending(c);
	uint64_t unacked = c->unacked > 0 ? (uint64_t)c->unacked : 0;
	uint64_t acked = c->bytes_out > unacked ? c->bytes_out - unacked : 0;

	if (acked >= produced) {
		c->write_since = 0;             /* nothing unacknowledged */
	} else if (!c->write_since || acked >= c->write_mark) {
		/* the last mark was reached (or none was set): what is
		 * produced now is the next one to reach */
		c->write_since = now;
		c->write_mark = produced;
	}
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
	if (conn_out_pending(c) || c->write_since)
		check_acked(c, now);
	note_queue(c, now);
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
	if (conn_out_pending(c) && d > now + ACK_CHECK_MS)
		d = now + ACK_CHECK_MS;
	return d;
}

short conn_events(const struct conn *c)
{
	struct conn_secure *sec = c->sec;
	size_t room = 0;
	if (!sec || !sec->started)
		frame_reader_space(c->in, &room);
	else if (sec->rx != RX_DEAD && !sec->pt_len)
		frame_reader_space(&sec->in, &room);
	return (short)((room ? POLLIN : 0) | (conn_out_pending(c) ? POLLOUT : 0));
}

static int write_some(struct conn *c)
{
	const uint8_t *p;
	size_t len;
	struct outq *q;
	if (c->sec && c->sec->started && sec_fill(c) < 0)
		return -TCPX_E_AUTH;
	q = wire_queue(c);
	outq_pending(q, &p, &len);
	if (!len)
		return 0;
	/* Both runs of a wrapped queue in one call (outq.h). */
	struct iovec iov[2] = { { .iov_base = (void *)(uintptr_t)p,
				  .iov_len = len } };
	outq_pending_next(q, &p, &iov[1].iov_len);
	iov[1].iov_base = (void *)(uintptr_t)p;
	struct msghdr mh = { .msg_iov = iov,
			     .msg_iovlen = iov[1].iov_len ? 2 : 1 };
	ssize_t w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w > 0) {
		if (c->sec && !c->sec->started)  /* a HELLO: never wrapped */
			keep(c->sec->hello_out, &c->sec->hello_out_len,
			     &c->sec->hello_over, iov[0].iov_base, (size_t)w);
		outq_consume(q, (size_t)w);
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
	int sealed = c->sec && c->sec->started;
	struct frame_reader *in = sealed ? &c->sec->in : c->in;
	uint8_t *p = frame_reader_space(in, &cap);
	if (max && cap > max)
		cap = max;
	ssize_t r = recv(c->fd, p, cap, MSG_DONTWAIT);
	if (r > 0) {
		if (c->sec && !sealed)
			keep(c->sec->hello_in, &c->sec->hello_in_len,
			     &c->sec->hello_over, p, (size_t)r);
		frame_reader_commit(in, (size_t)r);
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

/* conn_io() once SECURE started: what was read and not yet handled
 * first (without reading more: a turn stays bounded), else reads and
 * handles what came. */
static int sec_io(struct conn *c, size_t budget, int done)
{
	struct conn_secure *sec = c->sec;
	size_t total = 0, room, got;
	int rc;

	if (conn_input_pending(c)) {
		rc = sec_process(c);
		if (rc < 0)
			return rc;
		if (rc || sec->pt_len)
			return done | rc;
	}
	while (sec->rx != RX_DEAD && (!budget || total < budget)) {
		frame_reader_space(&sec->in, &room);
		if (!room)
			break;
		got = 0;
		rc = read_some(c, budget ? budget - total : 0, &got);
		if (rc < 0)
			return done ? done : rc;
		if (rc == 0)
			break;
		total += got;
		rc = sec_process(c);
		if (rc < 0)
			return rc;
		done |= rc;
		if (sec->pt_len)
			break;      /* the state machine's reader is full */
	}
	/* A handshake step may have queued our answer. */
	if (conn_out_pending(c)) {
		rc = write_some(c);
		if (rc < 0)
			return rc;
		done |= rc;
	}
	return done;
}

int conn_io(struct conn *c, size_t budget)
{
	int done = 0, rc;
	size_t total = 0, room, got;

	if (conn_out_pending(c)) {
		rc = write_some(c);
		if (rc < 0)
			return rc;
		done |= rc;
	}
	if (c->sec && c->sec->started)
		return sec_io(c, budget, done);
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
	/* Opened plaintext waiting for room the owner just made. */
	if (c->sec && c->sec->pt_len && c->sec->rx != RX_DEAD) {
		int rc = conn_io(c, 0);
		if (rc)
			return rc;
	}
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
	while (conn_out_pending(c) > 0) {
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
