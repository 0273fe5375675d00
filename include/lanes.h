/*
 * lanes: the sending role's extra connections of one session (tcpput
 * --streams, TCPX_CAP_MULTI, man/tcpxfer.5 SEVERAL CONNECTIONS).
 *
 * After the receiver's STREAMS, lanes_open() connects up to n more TCP
 * connections to the session's peer address (that of the session's
 * socket: no second name lookup), each running its HELLO, the SECURE
 * handshake with the session's keys when it has them, and JOIN
 * (sender_lane in sender.h); once JOINED, a lane takes chunks
 * (lanes_pick()).  lanes_pump() replaces conn_pump() for the session:
 * one poll() over the session's connection, every lane and the extra
 * descriptor, then the I/O each can do.  A lane refused before it joined
 * is dropped with one warning (the session goes on with the others); a
 * joined lane that fails takes data the receiver needed with it, so the
 * session ends (-TCPX_E_JOIN_LOST).
 *
 * Memory: per lane a sender_lane (its queue holds two chunk frames, about
 * 512 KiB) and a conn; sockets owned here, closed by lanes_close().
 */
#ifndef TCPX_LANES_H
#define TCPX_LANES_H

#include <stdint.h>

#include "conn.h"
#include "outq.h"

struct lanes;

/* NULL when nothing could be started (why said through ui). */
struct lanes *lanes_open(int session_fd, unsigned n, const uint8_t *token,
			 uint64_t want_caps, uint64_t session_caps,
			 const struct conn_limits *lim,
			 const struct conn_secure_config *sec,
			 const char *peer);
/* As conn_pump() for the session's connection c; lanes' events handled
 * here.  -TCPX_E_JOIN_LOST when a joined lane failed. */
int lanes_pump(struct lanes *L, struct conn *c, int extra_fd);
/* The queue the next chunk should go to: the least filled of the
 * session's (own) and the joined lanes' that has room; NULL for own. */
struct outq *lanes_pick(struct lanes *L, struct outq *own);
/* Joined lanes now. */
unsigned lanes_joined(const struct lanes *L);
/* 1 while some lane is still connecting or joining. */
int lanes_pending(const struct lanes *L);
/* The session's BYE went: BYE on every joined lane. */
void lanes_bye(struct lanes *L);
/* Waits at most ms for the lanes' last bytes and BYEs, then closes them
 * and frees L (harmless on NULL). */
void lanes_close(struct lanes *L, int ms);

#endif
