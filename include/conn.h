/*
 * conn: the connection layer, the only code that moves bytes on a TCPX
 * socket.
 *
 * A conn joins a connected, non-blocking socket to the two buffers of a
 * state machine: bytes read go straight into its frame_reader (no copy),
 * bytes written come from the head of its outq.  conn_pump() waits, with
 * poll(), for whatever can happen next (the socket readable or writable, a
 * stop descriptor, one extra descriptor such as the compression workers')
 * and does that I/O, both directions at once, so neither side can deadlock
 * a pipelined peer.  Time is bounded by absolute deadlines, never by a
 * fresh timeout per wait: the idle deadline moves only when a byte moves
 * (either way, counting bytes the peer's TCP acknowledges), and the handshake deadline is fixed from conn_init() until
 * conn_handshake_done().  This is where frames will be sealed and opened
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
	int idle_ms;          /* no byte moved either way this long: timeout */
	int handshake_ms;     /* 0: only the idle deadline applies */
};

struct conn {
	int fd;
	struct frame_reader *in;
	struct outq *out;
	int stop_fd;          /* readable when the process is stopping; -1 */
	struct conn_limits lim;
	int64_t idle_deadline, handshake_deadline;   /* ms, CLOCK_MONOTONIC */
	int timed_out;        /* CONN_IDLE or CONN_HANDSHAKE after a timeout */
	int unacked;          /* written, not yet acknowledged, when last seen */
	uint64_t bytes_in, bytes_out;
};

/* conn_pump()'s result bits. */
enum {
	CONN_READ = 1,        /* bytes arrived in the frame reader */
	CONN_WROTE = 2,       /* bytes left the output queue */
	CONN_EXTRA = 4,       /* the extra descriptor is readable */
	CONN_STOP = 8,        /* the stop descriptor is readable */
};
enum { CONN_IDLE = 1, CONN_HANDSHAKE = 2 };

void conn_init(struct conn *c, int fd, struct frame_reader *in,
	       struct outq *out, const struct conn_limits *lim, int stop_fd);
/* The handshake is over: only the idle deadline applies from now on. */
void conn_handshake_done(struct conn *c);
/*
 * Waits until the socket can move bytes (reading only while the reader has
 * room; writing while the queue holds bytes), the stop or the extra
 * descriptor (-1: none) is readable, or a deadline passes, and moves what
 * it can.  A mask of CONN_* bits (> 0), or a negative error.  EOF is
 * reported only once nothing more can be read.
 */
int conn_pump(struct conn *c, int extra_fd);
/* Best effort on the way out: writes what the queue holds, waiting at most
 * ms in all.  0 when everything went, else a negative error. */
int conn_flush(struct conn *c, int ms);
/* CONN_IDLE or CONN_HANDSHAKE after -TCPX_E_TIMEOUT, else 0. */
int conn_timed_out(const struct conn *c);

/* Refuses a connection that will not be served: one ERROR frame, sent
 * without waiting (best effort), then close(fd). */
void conn_refuse(int fd, uint16_t code, const char *msg);

#endif
