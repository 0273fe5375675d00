/*
 * conn: the connection layer, the only code that moves bytes on a TCPX
 * socket.
 *
 * A conn joins a connected, non-blocking socket to the two buffers of a
 * state machine: bytes read go straight into its frame_reader (no copy),
 * bytes written come from the head of its outq.  It runs two ways:
 * conn_io() moves what the socket allows right now and never waits (an
 * event loop calls it when epoll says so, with conn_events() telling what
 * to wait for); conn_pump() waits with poll() for whatever can happen next
 * (the socket, a stop descriptor, one extra descriptor such as the
 * compression workers') and then does that I/O, both directions at once,
 * so neither side can deadlock a pipelined peer.
 *
 * Time is bounded by absolute deadlines, never by a fresh timeout per
 * wait (conn_check()):
 *   idle       no byte moved either way for idle_ms (bytes the peer's
 *              TCP acknowledged count: a full send buffer says nothing
 *              until half of it drained);
 *   handshake  the handshake not over handshake_ms after conn_init();
 *   frame      a frame begun (conn_frame_pending()) not whole within
 *              frame_ms;
 *   write      queued bytes not all taken by the peer within write_ms of
 *              the queue becoming non-empty (partial progress does not
 *              restart it);
 *   slow       while watched (conn_watch_rate()), fewer than min_rate
 *              bytes per second arrived over a window of rate_window_ms.
 * A limit of 0 is off.
 *
 * SECURE (man/tcpxfer.5): this is where frames are sealed and opened,
 * and nowhere else.  conn_secure_enable() before any I/O makes conn keep
 * the two HELLO frames as they travel; conn_secure_start(), once the
 * state machine saw SECURE granted, runs the handshake (handshake.h) on
 * frames of its own, holding back whatever the state machine queues; then
 * every byte of the queue leaves in SEALED records and every record read
 * is opened into the state machine's reader, so the state machines never
 * see a difference.  A handshake or record that fails ends the
 * connection: conn_io() returns -TCPX_E_AUTH (or the code the judge of
 * the peer's key gave) and conn_secure_why() says why; whatever the state
 * machine queues next (its ERROR) is then sealed if the peer expects
 * records, else sent in the clear, never a byte it had queued before.
 * The handshake deadline runs until the SECURE handshake is over.  One
 * session will later own several TCP connections here too.
 *
 * Errors: -TCPX_E_TIMEOUT (conn_timed_out() says which deadline),
 * -TCPX_E_CLOSED (orderly EOF from the peer), -TCPX_E_SYSTEM (errno kept:
 * reset, broken pipe...).  Memory: a conn owns nothing; the socket, the
 * reader and the queue belong to the caller, who closes the socket.
 */
#ifndef TCPX_CONN_H
#define TCPX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "outq.h"

struct conn_limits {
	int idle_ms;
	int handshake_ms;
	int frame_ms;
	int write_ms;
	uint32_t min_rate;    /* bytes per second */
	int rate_window_ms;
};

struct conn_secure;

/* The peer's key, once its handshake message proved it: 0 to go on, or a
 * TCPX_E_* code (sent in the ERROR) with a message in why. */
typedef int (*conn_judge_fn)(void *arg, const uint8_t *peer_pk, char *why,
			     size_t why_len);

struct conn_secure_config {
	int role;               /* enum tcpx_role */
	const uint8_t *sk, *pk; /* our Ed25519 identity, borrowed */
	const uint8_t *seed;    /* ephemeral key seed (tests), NULL: random */
	conn_judge_fn judge;
	void *judge_arg;
};

struct conn {
	int fd;
	struct conn_secure *sec;   /* owned; NULL without SECURE */
	struct frame_reader *in;
	struct outq *out;
	int stop_fd;          /* conn_pump(): readable when stopping; -1 */
	struct conn_limits lim;
	int64_t last_move;    /* ms, CLOCK_MONOTONIC, as all times here */
	int64_t started, frame_since, write_since, rate_since;
	uint64_t rate_bytes;  /* bytes_in when the rate window began */
	int handshaking, rate_watched;
	int timed_out;        /* which deadline, after -TCPX_E_TIMEOUT */
	int unacked;          /* written, not yet acknowledged, when last seen */
	uint64_t write_mark;  /* the write deadline's mark (conn.c) */
	uint64_t bytes_in, bytes_out;
};

/* conn_io() and conn_pump() result bits. */
enum {
	CONN_READ = 1,        /* bytes arrived in the frame reader */
	CONN_WROTE = 2,       /* bytes left the output queue */
	CONN_EXTRA = 4,       /* conn_pump(): the extra descriptor is readable
				 (or hung up: a pipe's end) */
	CONN_STOP = 8,        /* conn_pump(): the stop descriptor is readable */
};
/* Which deadline passed. */
enum { CONN_IDLE = 1, CONN_HANDSHAKE, CONN_FRAME, CONN_WRITE, CONN_SLOW };

/* Monotonic milliseconds, the clock of every deadline. */
int64_t conn_now(void);
void conn_init(struct conn *c, int fd, struct frame_reader *in,
	       struct outq *out, const struct conn_limits *lim, int stop_fd);
/* The handshake is over: its deadline no longer applies. */
void conn_handshake_done(struct conn *c);
/* Whether the bytes buffered hold the start of a frame not yet whole (the
 * owner decoded all it could): starts or clears the frame deadline. */
void conn_frame_pending(struct conn *c, int pending);
/* Whether the minimum rate applies now (say, while a file is in
 * progress); turning it on starts a fresh window. */
void conn_watch_rate(struct conn *c, int on);
/*
 * Without waiting: writes what the queue holds and the socket takes, then
 * reads at most budget bytes (0: no limit) while the reader has room.  A
 * mask of CONN_READ | CONN_WROTE (0: nothing moved), or a negative error;
 * bytes that arrived before an EOF or a reset are reported first, the end
 * at the next call.
 */
int conn_io(struct conn *c, size_t budget);
/* POLLIN and/or POLLOUT: what conn_io() could do when the socket allows. */
short conn_events(const struct conn *c);
/* 0, or -TCPX_E_TIMEOUT once a deadline has passed at now (which one:
 * conn_timed_out()). */
int conn_check(struct conn *c, int64_t now);
/* The nearest deadline in force, for a wait (INT64_MAX: none). */
int64_t conn_deadline(struct conn *c, int64_t now);
/*
 * Waits until the socket can move bytes, the stop or the extra descriptor
 * (-1: none) is readable, or a deadline passes, and moves what it can.  A
 * mask of CONN_* bits (> 0), or a negative error.
 */
int conn_pump(struct conn *c, int extra_fd);
/* Best effort on the way out: writes what the queue holds, waiting at most
 * ms in all.  0 when everything went, else a negative error. */
int conn_flush(struct conn *c, int ms);
/* CONN_IDLE ... CONN_SLOW after -TCPX_E_TIMEOUT, else 0. */
int conn_timed_out(const struct conn *c);
/* A phrase for it: "idle", "handshake not finished"... */
const char *conn_deadline_name(int which);

/* Makes conn ready for SECURE (before any I/O): 0 or -TCPX_E_NOMEM.
 * The config and the keys it points to are borrowed. */
int conn_secure_enable(struct conn *c, const struct conn_secure_config *cfg);
/* The state machine's HELLO event granted SECURE: its own HELLO is the
 * only thing queued or sent, the peer's the only thing read.  Starts the
 * handshake: 0, or a negative error (conn_secure_why()). */
int conn_secure_start(struct conn *c);
/* The session ends during the handshake for a reason of the owner's (a
 * deadline, a stop): nothing more is read, and the ERROR the owner
 * queues next leaves as the peer can read it (in the clear or sealed),
 * nothing queued before it. */
void conn_secure_abort(struct conn *c);
/* 1 once records flow both ways. */
int conn_secured(const struct conn *c);
/* 1 if the records use AES-256-GCM (after conn_secure_start()). */
int conn_secure_aes(const struct conn *c);
/* Why the handshake or a record failed ("" if it did not). */
const char *conn_secure_why(const struct conn *c);
/* Bytes still to be written: the queue's, and sealed or handshake bytes
 * not yet sent. */
size_t conn_out_pending(const struct conn *c);
/* Bytes read and not yet handed to the reader (records, plaintext). */
int conn_input_pending(const struct conn *c);
/* Bytes of records (or handshake frames) read and not yet opened: after
 * everything was handled, the part of one not whole yet, which the
 * frame deadline applies to as to a frame begun. */
size_t conn_input_buffered(const struct conn *c);
/* Frees what conn owns (the SECURE state, wiped); not the socket. */
void conn_free(struct conn *c);

/* Refuses a connection that will not be served: one ERROR frame, sent
 * without waiting (best effort), then close(fd). */
void conn_refuse(int fd, uint16_t code, const char *msg);

#endif
