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
 * A limit of 0 is off.  This is where frames will be sealed and opened
 * once encryption is negotiated, and where one session will own several
 * TCP connections.
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

struct conn {
	int fd;
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

/* Refuses a connection that will not be served: one ERROR frame, sent
 * without waiting (best effort), then close(fd). */
void conn_refuse(int fd, uint16_t code, const char *msg);

#endif
