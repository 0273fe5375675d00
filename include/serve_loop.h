/*
 * serve_loop: the receiving role's loop.
 *
 * A session is one accepted connection: a receiver state machine
 * (receiver.h) over a connection (conn.h), acting on its events through
 * the store (store.h): open a temporary file, write, commit or discard.
 * The state machine decides the verdict and its words
 * (receiver_file_done()); a session only moves bytes and hands every
 * outcome to ui.  Nothing here prints.
 *
 * A serve loop is one thread with one epoll instance serving many sessions
 * at once, so an idle or slow connection costs memory (about 35 KiB), not
 * a thread.  Each session runs until BYE, an error, a deadline (conn.h:
 * idle, handshake, frame, write, minimum rate) or a stop; then its
 * temporary file is discarded and its last replies get a short bounded
 * time to leave.  Disk writes happen on the loop's thread: the server runs
 * one loop per core, a bounded pool.
 *
 * Threads: serve_loop_add() and serve_loop_stop() may be called from any
 * thread; everything else of a loop runs on its own thread, and the
 * closed() callback is called there when a session ends.  Memory: a loop
 * owns its sessions and their sockets; st and opt are borrowed until
 * serve_loop_join() returns.
 */
#ifndef TCPX_SERVE_LOOP_H
#define TCPX_SERVE_LOOP_H

#include <stdint.h>
#include <sys/socket.h>

#include "conn.h"
#include "store.h"

struct serve_options {
	uint64_t max_size;    /* 0 = no limit */
	uint32_t max_files;   /* 0 = no limit */
	uint32_t max_dirs;    /* directories one connection creates; 0 = no limit */
	int timeout_ms;       /* idle, and the write deadline */
	int handshake_ms;     /* HELLO must be done by then; 0 = no limit */
	int frame_ms;         /* a frame begun must be whole; 0 = no limit */
	uint32_t min_rate;    /* bytes/s while a file is in progress; 0 = off */
	int rate_window_ms;   /* averaged over this */
	int stop_fd;          /* serve_loop_run(): readable when stopping; -1 */
	/* --key: offer SECURE with this identity and require it; judge
	 * decides on each sender's key (the authorized list). */
	const uint8_t *sk, *pk;
	conn_judge_fn judge;
	void *judge_arg;
	int allow_overwrite;  /* enum receiver_overwrite: what a sender's
				 OFFER may ask (tcpget --allow-overwrite;
				 --overwrite forces it) */
	unsigned max_streams; /* extra connections a session may join
				 (TCPX_CAP_MULTI; 0: not offered; never by
				 serve_loop_run(), which serves one) */
};

struct serve_loop;

/* How one session ended (tcpget --once exits with it, man/tcpget.1);
 * when several apply, the largest.  The numbers follow tcpput's. */
enum session_status {
	SESSION_OK = 0,           /* BYE, every file stored (or none sent) */
	SESSION_FILE_FAILED = 3,  /* a file or directory refused or failed */
	SESSION_DIGEST = 4,       /* a file's digests differed */
	SESSION_CONNECTION = 5,   /* ended without BYE: lost, timed out,
				     stopped by a signal */
	SESSION_PROTOCOL = 6,     /* ended by an ERROR, either side's */
};

/* Called on the loop's thread when the session for src has ended. */
typedef void (*serve_closed_fn)(void *arg, const struct sockaddr_storage *src);

/* Starts a loop thread; NULL on failure (errno kept). */
struct serve_loop *serve_loop_start(struct store *st,
				    const struct serve_options *opt,
				    serve_closed_fn closed, void *arg);
/* Hands an accepted, non-blocking socket over to the loop (it owns fd from
 * now on, even on failure: then the socket is refused and closed()
 * called).  peer: its address, for messages. */
void serve_loop_add(struct serve_loop *l, int fd,
		    const struct sockaddr_storage *src, const char *peer);
/* Sessions being served (a snapshot, for choosing a loop). */
unsigned serve_loop_load(const struct serve_loop *l);
/* A full server prefers connections that make progress: if this loop has
 * a session still in its handshake a second or more after it was
 * accepted, claims it (1) and the loop drops it, the oldest first, with
 * ERROR BUSY; else 0.  Each stalled session is claimed at most once. */
int serve_loop_claim_stalled(struct serve_loop *l);
/* Every session ends with ERROR SHUTDOWN, its temporary file discarded at
 * once; their replies get at most flush_ms to leave; then the thread ends.
 * Connections handed over later are refused. */
void serve_loop_stop(struct serve_loop *l, int flush_ms);
/* Waits for the thread to end and frees the loop. */
void serve_loop_join(struct serve_loop *l);

/* One connection served in the calling thread until it ends (tcpget
 * --once, and the tests), or until opt->stop_fd is readable; closes fd.
 * Returns how the session ended (enum session_status). */
int serve_loop_run(int fd, const char *peer, struct store *st,
		   const struct serve_options *opt);

#endif
