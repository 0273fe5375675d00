/*
 * libtcpx: what tcpput and tcpget do, inside a program of your own (as
 * libcurl is to curl): send files to a tcpget receiver, and serve a
 * directory to tcpput senders, over the TCPX protocol (tcpxfer(5)).  The
 * tools are built on this library; whatever they do, it does the same
 * way: every file verified by BLAKE2b-512 on both sides, nothing under a
 * final name before its digest matched, nothing written outside the
 * receiving directory.
 *
 * API version 0: the soname is libtcpx.so.0.  Within it, functions and
 * enum values are only added, and struct tcpx_event only grows at its
 * end (it is the library's, read through a pointer); the option structs,
 * which are the caller's, keep their size (new options take the room
 * reserved for them) and are filled by their _init function first, so a
 * program built against an older 0.x keeps working.  Programmer's
 * documentation: libtcpx(3).
 *
 * Build: cc prog.c $(pkg-config --cflags --libs libtcpx)
 *
 * Errors: tcpx_send() and tcpx_serve() return what the tools' exit
 * statuses are (tcpput(1), tcpget(1)); what went wrong, and every file's
 * outcome, reach the program as events (struct tcpx_event), never as
 * output: the library prints nothing.
 *
 * Threads: tcpx_send() may run in several threads at once, each its own
 * session.  One tcpx_serve() at a time per process (it owns SIGINT and
 * SIGTERM while it runs, as tcpget does).
 */
#ifndef TCPX_TCPX_H
#define TCPX_TCPX_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TCPX_API_VERSION 0

#if defined(__GNUC__)
#define TCPX_EXPORT __attribute__((visibility("default")))
#else
#define TCPX_EXPORT
#endif

/* --- events -------------------------------------------------------- */

enum tcpx_event_type {
	TCPX_EVENT_FILE_START = 0,    /* a file (or directory) begins */
	TCPX_EVENT_FILE_PROGRESS = 1, /* bytes moved: done of size */
	TCPX_EVENT_FILE_DONE = 2,     /* verified and stored */
	TCPX_EVENT_FILE_FAILED = 3,   /* refused, failed or aborted */
	TCPX_EVENT_MESSAGE = 4,       /* an error, warning or note: text */
	TCPX_EVENT_LISTENING = 5,     /* tcpx_serve(): listening on peer */
	TCPX_EVENT_FILE_SKIPPED = 6,  /* already there and identical (not
				       * sent): msg says why */
};

enum tcpx_level {
	TCPX_LEVEL_ERROR = 0,   /* errors and warnings (what tcpput and
				 * tcpget print on stderr) */
	TCPX_LEVEL_INFO = 1,    /* notes (what they print on stdout) */
	TCPX_LEVEL_DEBUG = 2,   /* details (what they print with -v) */
};

/*
 * One event.  Every pointer is valid during the callback only (copy what
 * must live longer); a field that does not apply is 0 or NULL.  Remote
 * text (name, peer_msg) is raw bytes from the peer, not terminated and
 * not escaped: escape it before showing it on a terminal.
 */
struct tcpx_event {
	enum tcpx_event_type type;
	const char *peer;           /* the peer, "1.2.3.4:20180" or
				     * "[::1]:20180"; LISTENING: the address
				     * listened on (with the port chosen,
				     * for port "0") */
	const uint8_t *name;        /* FILE_*: the name the receiver sees;
				     * NULL on the sender for a file that
				     * failed before it had one */
	size_t name_len;
	const char *path;           /* FILE_*, sender: the local path */
	uint64_t size;              /* FILE_*: declared size */
	uint64_t done;              /* FILE_PROGRESS: bytes so far */
	const uint8_t *digest;      /* FILE_DONE of a file: its BLAKE2b-512,
				     * 64 bytes */
	double seconds;             /* FILE_DONE, FILE_FAILED: how long */
	uint64_t wire;              /* FILE_DONE, sender: bytes on the wire */
	int changed;                /* FILE_DONE, sender: the file changed
				     * while it was read (the copy is its
				     * first size bytes) */
	int is_dir;                 /* FILE_*: a directory of a tree */
	int code;                   /* FILE_FAILED: an error code of
				     * tcpxfer(5), or 100 for a local system
				     * error; tcpx_strerror() names it */
	const char *msg;            /* FILE_FAILED: detail (local text);
				     * FILE_SKIPPED: "same size and time" or
				     * "same digest";
				     * MESSAGE: the text */
	const uint8_t *peer_msg;    /* FILE_FAILED: the peer's own words */
	size_t peer_msg_len;
	enum tcpx_level level;      /* MESSAGE */
	const char *object;         /* MESSAGE: what it is about (a path, a
				     * peer, an option), or NULL */
};

/* Called for every event, on the thread that runs the session: for
 * tcpx_send() the caller's, for tcpx_serve() one of its serving threads,
 * one call at a time.  It must return soon (the session waits for it)
 * and must not call tcpx_send() or tcpx_serve().  Event types may be
 * added: ignore those you do not know. */
typedef void (*tcpx_event_fn)(const struct tcpx_event *ev, void *arg);

/* --- sending ------------------------------------------------------- */

/* tcpx_send()'s results: tcpput's exit statuses; the largest applies. */
enum tcpx_send_status {
	TCPX_SEND_OK = 0,          /* every file verified */
	TCPX_SEND_REFUSED = 1,     /* the receiver refused or failed a file */
	TCPX_SEND_USAGE = 2,       /* bad arguments or options */
	TCPX_SEND_UNREADABLE = 3,  /* a local file could not be read */
	TCPX_SEND_VERIFY = 4,      /* digests differed */
	TCPX_SEND_CONNECTION = 5,  /* resolve, connect, timeout, lost */
	TCPX_SEND_PROTOCOL = 6,    /* the receiver broke the protocol */
};

struct tcpx_send_options {
	int level;                 /* zlib level 1-9 per chunk (chunks that
				    * do not shrink go raw); 0: none
				    * (default), as tcpput -z LEVEL */
	int timeout_ms;            /* give up when the receiver neither
				    * accepted nor sent a byte this long,
				    * connecting included (default 60000) */
	int recursive;             /* send directories as trees (tcpput -r) */
	int follow_links;          /* in trees, follow symlinks (tcpput -L) */
	const char *dest_dir;      /* a directory beneath the receiver's,
				    * prefixed to every name (HOST:DIR/), or
				    * NULL (default) */
	tcpx_event_fn on_event;    /* NULL: no events */
	void *arg;                 /* passed to on_event */
	void *reserved[8];
};

/* Fills o with the defaults above.  Call it before setting any field. */
TCPX_EXPORT void tcpx_send_options_init(struct tcpx_send_options *o);

/*
 * Connects to host (a name, an IPv4 or IPv6 address, without brackets)
 * on port (NULL: "20180"), sends every one of paths[0..npaths), each
 * regular file under its base name (or, with recursive, each directory
 * as a tree, as tcpput does), waits for every file's verdict and closes.
 * Blocks until then.  o: NULL for the defaults.
 *
 * Returns an enum tcpx_send_status.  Each file's outcome is an event
 * (FILE_DONE, FILE_FAILED, or FILE_SKIPPED for one already there and
 * identical); a failed file does not stop the others.
 * TCPX_SEND_USAGE (nothing sent, a MESSAGE says why) for: host NULL,
 * npaths 0 or a path NULL, level outside 0-9, timeout_ms below 1, or a
 * dest_dir that is no relative name beneath the receiver's.
 */
TCPX_EXPORT int tcpx_send(const char *host, const char *port,
			  const char *const *paths, size_t npaths,
			  const struct tcpx_send_options *o);

/* --- serving ------------------------------------------------------- */

/* tcpx_serve()'s results: tcpget's exit statuses. */
enum tcpx_serve_status {
	TCPX_SERVE_OK = 0,            /* stopped (tcpx_serve_stop(), SIGINT,
				       * SIGTERM) */
	TCPX_SERVE_CANNOT_START = 1,  /* directory, listening socket, limits:
				       * a MESSAGE says why */
	TCPX_SERVE_USAGE = 2,         /* bad arguments or options */
};

/* Leave min_free or min_free_inodes at this for the default. */
#define TCPX_FREE_AUTO UINT64_MAX

struct tcpx_serve_options {
	const char *bind_addr;     /* NULL: every address, IPv6 and IPv4 */
	const char *port;          /* NULL: "20180"; "0": a free one (the
				    * LISTENING event says which) */
	int overwrite;             /* replace existing files, atomically */
	uint64_t max_size;         /* refuse larger files; 0: no limit */
	int max_clients;           /* connections at once (4096, fewer if
				    * the descriptor limit is lower) */
	int max_per_source;        /* from one IPv4 address or IPv6 /64 (64) */
	uint32_t max_dirs;         /* directories one connection may create
				    * (4096); 0: no limit */
	uint64_t min_free;         /* bytes to leave free (TCPX_FREE_AUTO) */
	uint64_t min_free_inodes;  /* inodes to leave free (TCPX_FREE_AUTO) */
	int timeout_ms;            /* idle connections (60000) */
	int handshake_ms;          /* HELLO in by then (10000) */
	int frame_ms;              /* a frame begun whole by then (60000) */
	uint32_t min_rate;         /* bytes/s while a file arrives (1024);
				    * 0: no minimum */
	int rate_window_ms;        /* averaged over this (20000) */
	int socket_activation;     /* use the sockets systemd passed
				    * (LISTEN_FDS) instead of bind_addr and
				    * port, if any (default 0) */
	tcpx_event_fn on_event;    /* NULL: no events */
	void *arg;                 /* passed to on_event */
	void *reserved[8];
};

/* Fills o with tcpget's defaults (tcpget(1)), as above. */
TCPX_EXPORT void tcpx_serve_options_init(struct tcpx_serve_options *o);

/*
 * Stores what senders send under dir (created if missing; NULL: the
 * current directory), as tcpget -d dir: opens and locks it (one server
 * per directory), listens, and serves every sender until
 * tcpx_serve_stop(), SIGINT or SIGTERM; then every session ends (its
 * file in progress discarded) within about 2 s, and it returns.  While
 * it runs it catches SIGINT and SIGTERM (afterwards they stay caught,
 * doing nothing but stop a later tcpx_serve()), ignores SIGPIPE and
 * SIGXFSZ, and raises the soft descriptor limit to the hard one.
 * o: NULL for the defaults.  Returns an enum tcpx_serve_status.
 */
TCPX_EXPORT int tcpx_serve(const char *dir, const struct tcpx_serve_options *o);

/* Makes a running tcpx_serve() stop and return.  Async-signal-safe, from
 * any thread.  Without effect on a tcpx_serve() that has not yet
 * delivered its LISTENING event. */
TCPX_EXPORT void tcpx_serve_stop(void);

/* --- the rest ------------------------------------------------------ */

/* The library's version, "0.1.0" (the tools' -V prints the same). */
TCPX_EXPORT const char *tcpx_version(void);

/* A short lower-case description of an event's code ("digest mismatch"),
 * never NULL; "unknown error" for a code it does not know. */
TCPX_EXPORT const char *tcpx_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif
