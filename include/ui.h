/*
 * ui: everything a person or a script sees.  The I/O loops never print:
 * they hand transfer events to ui_event(), and this module decides what to
 * show (per-file lines, log lines, the progress line, JSON records).
 * Errors follow one format, "PROG: OBJECT: what went wrong", one line each, on stderr.
 * Remote text is escaped (names.h) before it is shown, and a name is shown
 * capped (name_escape_log(): 256 bytes of its escaped form, then
 * "...[N bytes]"; in JSON also "name_bytes": N).  Thread-safe: lines from
 * concurrent connections never interleave.
 *
 * Output never blocks a receiver's session.  In the UI_RECEIVER role every
 * line and record goes into a bounded queue in memory (1024 records,
 * 512 KiB) that one writer thread, started with the first record, writes
 * to stdout and stderr in order; a session only formats and queues.  When
 * the queue is full the record is dropped and counted, and the writer
 * prints "PROG: N log records dropped (output too slow)" on stderr (with
 * --json also {"event":"dropped","records":N} on stdout) where the gap is.
 * At exit (ui_init registers it with atexit) the queue is written out,
 * waiting at most 2 s for a consumer that does not read.
 *
 * The UI_SENDER role writes synchronously, from the caller's thread: its
 * stdout carries the per-file result lines a script reads, which must
 * never be dropped, and one run has one session, whose own output may
 * rightly hold it up (as for any command whose output is not read); the
 * progress line is drawn and erased in the same stream of writes.
 *
 * Refusals are summarised per connection (receiver): after 10 failed files
 * on one connection (struct ui_file's conn), its further file_failed lines
 * and records, and its file_start records, are not shown; ui_conn_end()
 * then says how many were left out.  -q (ui_set_quiet) leaves out the
 * receiver's per-file refusals altogether; errors are always shown.
 *
 * Memory: ui copies what it keeps; every pointer passed in is borrowed for
 * the call.  Records in the queue are owned by the queue.
 */
#ifndef TCPX_UI_H
#define TCPX_UI_H

#include <stdint.h>

enum ui_event_type {
	UI_FILE_START,      /* a file begins (sender: sent FILE; receiver: got it) */
	UI_FILE_PROGRESS,   /* bytes moved */
	UI_FILE_DONE,       /* verified and stored */
	UI_FILE_FAILED,     /* refused, failed, aborted */
	UI_FILE_SKIPPED,    /* already there, identical (OFFER): msg says why
			     ("same size and time", "same digest") */
};

struct ui_file {
	const char *peer;          /* "1.2.3.4:20180" */
	const uint8_t *name;       /* raw bytes, escaped by ui; sender: the
				    * name sent, NULL for a file that failed
				    * before it had one (unreadable) */
	size_t name_len;
	const char *path;          /* sender: the local path (FILE as given),
				    * the object of its text lines and JSON
				    * "path"; NULL on the receiver */
	uint64_t size, done;       /* declared size, bytes moved so far */
	int size_unknown;          /* a stream not ended yet: size means
				    * nothing; JSON "size":null with
				    * "bytes_so_far", progress without a
				    * percentage */
	const uint8_t *digest;     /* UI_FILE_DONE: 64 bytes */
	double seconds;
	uint64_t wire;             /* bytes on the wire for this file */
	int changed;               /* sender, UI_FILE_DONE: the file changed
				    * while it was read; the copy is its
				    * first size bytes (a warning) */
	int is_dir;                /* a directory of a tree: no size, no
				    * digest; JSON "dir_done", text lines
				    * name it "directory" */
	int code;                  /* UI_FILE_FAILED: TCPX_E_* */
	const char *msg;           /* UI_FILE_FAILED: detail (local text) */
	const uint8_t *peer_msg;   /* UI_FILE_FAILED: the peer's text */
	size_t peer_msg_len;
	uint64_t conn;             /* receiver: the connection's id, for its
				    * summary of refusals; 0 = none */
	uint64_t resumed_from;     /* UI_FILE_DONE: data sent from this
				    * offset (resume); 0 = all of it */
	const char *stored_as;     /* UI_FILE_DONE: the receiver kept it
				    * under another name (keep-both) */
};

enum ui_role { UI_SENDER, UI_RECEIVER };

void ui_init(const char *prog, enum ui_role role);
void ui_set_quiet(int quiet);
void ui_set_verbose(int verbose);
/* One JSON object per line on stdout per event, instead of text lines. */
void ui_set_json(int json);
/* Live progress on stderr: 1 forced on, 0 off; default on when stderr is
 * a terminal and neither quiet nor JSON. */
void ui_set_progress(int on);
/* Standard output carries data (tcpget --stdout): every line and record
 * meant for it goes to stderr instead. */
void ui_set_stdout_taken(void);
void ui_event(enum ui_event_type type, const struct ui_file *f);
/* Receiver: the connection conn (struct ui_file's conn) from peer has
 * ended.  Prints how many of its failed files were not shown, if any
 * (text: "PROG: PEER: N more refused files not shown (more than 10 on one
 * connection)", unless quiet; JSON: {"event":"files_not_shown","peer":
 * PEER,"files":N}), and forgets the connection. */
void ui_conn_end(uint64_t conn, const char *peer);

/* 1 if a progress line will be drawn (so overall totals are worth
 * gathering). */
int ui_progress_enabled(void);
/* Sender: what the whole run will move, for overall progress and ETA. */
void ui_batch_begin(unsigned files, uint64_t bytes);
/* Sender: the closing summary line (text) or record (JSON). */
void ui_batch_end(unsigned ok, unsigned failed, uint64_t bytes,
		  uint64_t wire, double seconds, int status);
/* Receiver start-up: one line per listening address. */
void ui_listening(const char *addr, const char *dir, int max_clients,
		  int timeout_s, uint64_t max_size, int activated);

/* "PROG: OBJECT: message" on stderr (with --json also an error record on
 * stdout); obj may be NULL.  Never quieted. */
void ui_error(const char *obj, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* A line on stderr as it is, no prefix: the hint after a usage error
 * (through ui, so that it comes after the error it follows). */
void ui_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* An informational line on stdout unless quiet or JSON. */
void ui_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line on stderr with -v. */
void ui_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* "1.5 MiB"; buf of 16 bytes. */
const char *ui_human_size(uint64_t n, char buf[16]);
/* Monotonic seconds. */
double ui_now(void);

/* A program that embeds libtcpx (tcpx.h) gets what the tools would print
 * as calls instead: with a sink set, ui_event(), ui_error(), ui_info(),
 * ui_debug() (whatever -v) and ui_listening() go to it, nothing is
 * printed, no progress is drawn and no summary written.  The sink is for
 * the calling thread (this_thread: a sender's run is one thread) or for
 * the whole process (a server's sessions run on its loop threads; the
 * calls are then made one at a time, under a lock of the sink's own).
 * A thread's sink comes before the process's.  NULL removes it.  sink is
 * borrowed until it is removed. */
enum ui_msg_level {
	UI_MSG_ERROR,       /* errors and warnings: ui_error() */
	UI_MSG_INFO,        /* ui_info() */
	UI_MSG_DEBUG,       /* ui_debug() */
	UI_MSG_LISTENING,   /* ui_listening(): obj is the address */
};
struct ui_sink {
	void (*event)(void *arg, enum ui_event_type type, const struct ui_file *f);
	/* obj: what the message is about, or NULL; text: the message,
	 * without "PROG: OBJECT: " */
	void (*message)(void *arg, enum ui_msg_level level, const char *obj,
			const char *text);
	void *arg;
};
void ui_set_sink(const struct ui_sink *sink, int this_thread);

#endif
