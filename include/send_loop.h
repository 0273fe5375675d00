/*
 * send_loop: the sending role's one loop.  It runs a sender state machine
 * (sender.h) over a connection (conn.h), taking items from a source
 * (source.h) and compressing on worker threads (zpool.h) with -z.  The
 * state machine decides what happens next (sender_next_action()); this
 * loop only moves bytes between the source, the machine and the socket,
 * and hands every outcome to ui.  Nothing here prints.
 */
#ifndef TCPX_SEND_LOOP_H
#define TCPX_SEND_LOOP_H

#include "conn.h"
#include "source.h"

/* tcpput exit statuses (man/tcpput.1); when several apply, the largest. */
enum send_status {
	SEND_OK = 0,
	SEND_REFUSED = 1,      /* the receiver refused or failed a file */
	SEND_USAGE = 2,
	SEND_UNREADABLE = 3,   /* a local file could not be read */
	SEND_VERIFY = 4,       /* digests differed */
	SEND_CONNECTION = 5,   /* resolve, connect, timeout, connection lost */
	SEND_PROTOCOL = 6,     /* the receiver broke the protocol or sent ERROR */
	SEND_SECURITY = 7,     /* --key: no encryption offered, the receiver's
				  key not trusted, our key refused, or a
				  handshake or record failed authentication */
};

struct send_options {
	int level;            /* zlib level, 0 = no compression */
	int zstd;             /* --zstd: level is zstd's; ask for TCPX_CAP_ZSTD */
	int timeout_ms;       /* nothing moved either way this long: give up */
	int recursive;        /* -r: ask for TCPX_CAP_TREE (directories) */
	int stream;           /* an input of unknown size: ask for
				 TCPX_CAP_STREAM */
	/* --key: ask for SECURE with this identity (NULL: no encryption);
	 * judge decides on the receiver's key (pinning). */
	const uint8_t *sk, *pk;
	conn_judge_fn judge;
	void *judge_arg;
	int no_aes;           /* never offer AES-256-GCM (--cipher) */
	int policy;           /* enum tcpx_policy: an existing, different file */
	int checksum;         /* -c: compare digests, not size and mtime */
	int resume;           /* --resume: send only what partial data lacks */
	unsigned streams;     /* --streams: connections wanted (0, 1: one;
				 more: ask for TCPX_CAP_MULTI, lanes.h) */
};

/* Sends every item of src over the connected, non-blocking socket fd
 * (peer: its address, for messages); returns an enum send_status.  The
 * caller keeps fd and src and closes them. */
int send_loop_run(int fd, const char *peer, const struct send_options *opt,
		  struct source *src);

#endif
