/* ui: messages, per-file lines, progress and JSON records (ui.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "names.h"
#include "ui.h"

#define PROGRESS_INTERVAL 0.1   /* seconds between redraws: 10 Hz */
/* One record (a line, or a JSON object and its newline).  The longest
 * regular one is a JSON file_done with a whole 4 KiB name, under 25 KiB;
 * anything longer is cut, a JSON string inside the record with "...", so
 * a record is always whole and valid. */
#define RECORD_MAX (32 * 1024)
/* Room kept after a JSON string for the members that follow it. */
#define JSON_TAIL_ROOM 512

static const char *prog = "tcpxfer";
static enum ui_role role;
static int quiet, verbose, json, progress = -1;
/* Where stdout's records go: 2 once the data has stdout (tcpget --stdout). */
static int out_fd = 1;
/* Sender: files skipped as already there (UI_FILE_SKIPPED), for the
 * summary. */
static unsigned skipped_files;
/* Guards everything below, and the output itself where it is written
 * synchronously (the sender).  Never held across a write that may wait
 * in the receiver: there the writer thread writes, unlocked. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* progress state (sender only) */
static struct {
	unsigned files, index;
	uint64_t total, finished;       /* bytes of all files, of finished ones */
	uint64_t cur_size, cur_done;
	int unknown;                    /* a stream: no total, no percentage */
	char cur_name[256];
	double start, last_draw;
	int drawn;                      /* a progress line is on screen */
} pg;

/* --- records ---------------------------------------------------------- */

struct record_buf {
	int fd;                         /* 1 stdout, 2 stderr */
	size_t len;
	char text[RECORD_MAX];
};

/* The record being formatted: one, under the lock (formatting is quick;
 * only writing may wait, and that is the writer's). */
static struct record_buf rec;

/* Lock held.  Starts a record for fd; returns it. */
static struct record_buf *rec_start(int fd)
{
	rec.fd = fd == 1 ? out_fd : fd;
	rec.len = 0;
	return &rec;
}

/* Appends, cutting what does not fit (one byte stays for the newline). */
static void rec_vadd(struct record_buf *r, const char *fmt, va_list ap)
{
	size_t room = sizeof(r->text) - 1 - r->len;
	int n;

	if (room <= 1)
		return;
	n = vsnprintf(r->text + r->len, room, fmt, ap);
	if (n > 0)
		r->len += (size_t)n < room - 1 ? (size_t)n : room - 1;
}

static void rec_add(struct record_buf *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void rec_add(struct record_buf *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rec_vadd(r, fmt, ap);
	va_end(ap);
}

/* ,"key":"escaped value" (cut with "..." if the record is nearly full) */
static void rec_json(struct record_buf *r, const char *key, const void *p,
		     size_t len)
{
	size_t room;

	rec_add(r, ",\"%s\":\"", key);
	room = sizeof(r->text) - r->len;
	if (room > JSON_TAIL_ROOM) {
		name_escape_json(p, len, r->text + r->len, room - JSON_TAIL_ROOM);
		r->len += strlen(r->text + r->len);
	}
	rec_add(r, "\"");
}

/* ,"name":"..." and, when the name was cut for the log, its length */
static void rec_json_name(struct record_buf *r, const uint8_t *name,
			  size_t len)
{
	char esc[NAME_LOG_BUF];

	if (name_escape_log(name, len, 1, esc))
		rec_add(r, ",\"name\":\"%s\",\"name_bytes\":%zu", esc, len);
	else
		rec_add(r, ",\"name\":\"%s\"", esc);
}

/* --- output: a bounded queue and one writer (the receiver) ------------ */

/* What may wait for a slow consumer: enough for bursts (a thousand files
 * finishing at once), little memory (512 KiB of text at most). */
#define QUEUE_RECORDS 1024
#define QUEUE_BYTES (512 * 1024)
#define FLUSH_WAIT_MS 2000

struct record {
	struct record *next;
	uint64_t dropped;               /* records dropped just before this */
	int fd;
	size_t len;
	char text[];
};

static struct {
	struct record *head, *tail;
	unsigned records;
	size_t bytes;
	uint64_t dropped;               /* since the last record queued */
	int started, failed;            /* the writer thread; could not start */
	int writing;                    /* it holds a record it took */
	pthread_cond_t more, drained;
} q = { .more = PTHREAD_COND_INITIALIZER, .drained = PTHREAD_COND_INITIALIZER };

/* Writes all of p, waiting as long as it takes: only the writer thread
 * and the sender's own thread ever wait here.  Gives up on an error (a
 * closed pipe, a full disk): there is nobody to tell. */
static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
		} else if (w < 0 && errno == EAGAIN) {
			/* an inherited non-blocking descriptor */
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			poll(&pfd, 1, -1);
		} else if (w == 0 || errno != EINTR) {
			return;
		}
	}
}

static void write_dropped(uint64_t n, int as_json)
{
	char line[128];
	int len = snprintf(line, sizeof(line), "%s: %llu log record%s dropped "
			   "(output too slow)\n", prog, (unsigned long long)n,
			   n == 1 ? "" : "s");
	write_all(2, line, (size_t)len);
	if (!as_json)
		return;
	len = snprintf(line, sizeof(line), "{\"event\":\"dropped\",\"records\":"
		       "%llu}\n", (unsigned long long)n);
	write_all(out_fd, line, (size_t)len);
}

static void *writer_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		while (!q.head)
			pthread_cond_wait(&q.more, &lock);
		struct record *r = q.head;
		int as_json = json;
		q.head = r->next;
		if (!q.head)
			q.tail = NULL;
		q.records--;
		q.bytes -= r->len;
		q.writing = 1;
		pthread_mutex_unlock(&lock);
		if (r->dropped)
			write_dropped(r->dropped, as_json);
		write_all(r->fd, r->text, r->len);
		free(r);
		pthread_mutex_lock(&lock);
		q.writing = 0;
		if (!q.head)
			pthread_cond_broadcast(&q.drained);
	}
	return NULL;
}

/* Lock held.  1 if records go through the queue: the receiver's, once
 * its writer runs (started on the first record, after the options). */
static int queued(void)
{
	pthread_t t;
	pthread_attr_t attr;

	if (role != UI_RECEIVER || q.failed)
		return 0;
	if (q.started)
		return 1;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, writer_main, NULL) == 0)
		q.started = 1;
	else
		q.failed = 1;   /* write synchronously rather than not at all */
	pthread_attr_destroy(&attr);
	return q.started;
}

/* Lock held.  Queues len bytes (len 0: only the count of drops), or
 * drops them and counts when the queue is full; bypass: at exit, the
 * last count of drops must go whatever the bounds. */
static void queue_push(int fd, const char *text, size_t len, int bypass)
{
	struct record *r = NULL;

	if (bypass || (q.records < QUEUE_RECORDS && q.bytes + len <= QUEUE_BYTES))
		r = malloc(sizeof(*r) + len);
	if (!r) {
		q.dropped++;
		return;
	}
	r->next = NULL;
	r->dropped = q.dropped;
	q.dropped = 0;
	r->fd = fd;
	r->len = len;
	memcpy(r->text, text, len);
	if (q.tail)
		q.tail->next = r;
	else
		q.head = r;
	q.tail = r;
	q.records++;
	q.bytes += len;
	pthread_cond_signal(&q.more);
}

/* At exit: what is queued goes out, waiting at most FLUSH_WAIT_MS for a
 * consumer that does not read (then it is lost, and exit goes on). */
static void flush_at_exit(void)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += FLUSH_WAIT_MS / 1000;
	deadline.tv_nsec += (long)(FLUSH_WAIT_MS % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&lock);
	if (q.started) {
		if (q.dropped)
			queue_push(2, "", 0, 1);
		while (q.head || q.writing)
			if (pthread_cond_timedwait(&q.drained, &lock, &deadline))
				break;
	}
	pthread_mutex_unlock(&lock);
}

/* Erases the progress line so the next text starts on a clean line. */
static void clear_progress(void)
{
	if (pg.drawn) {
		write_all(2, "\r\033[K", 4);
		pg.drawn = 0;
	}
}

/* Lock held.  Ends the record with its newline and sends it on. */
static void emit(struct record_buf *r)
{
	r->text[r->len++] = '\n';
	if (queued()) {
		queue_push(r->fd, r->text, r->len, 0);
		return;
	}
	clear_progress();
	write_all(r->fd, r->text, r->len);
}

/* --- a library's sink (ui_set_sink) ------------------------------------ */

static _Thread_local const struct ui_sink *thread_sink;
static const struct ui_sink *_Atomic process_sink;
/* The process's sink is called one call at a time. */
static pthread_mutex_t sink_lock = PTHREAD_MUTEX_INITIALIZER;

void ui_set_sink(const struct ui_sink *sink, int this_thread)
{
	if (this_thread)
		thread_sink = sink;
	else
		atomic_store(&process_sink, sink);
}

static const struct ui_sink *sink_now(void)
{
	return thread_sink ? thread_sink : atomic_load(&process_sink);
}

/* 1 if a sink took the event (then nothing is shown). */
static int sink_event(enum ui_event_type type, const struct ui_file *f)
{
	const struct ui_sink *s = sink_now();
	int shared = s && s != thread_sink;

	if (!s)
		return 0;
	if (shared)
		pthread_mutex_lock(&sink_lock);
	s->event(s->arg, type, f);
	if (shared)
		pthread_mutex_unlock(&sink_lock);
	return 1;
}

/* 1 if a sink took the message. */
static int sink_vmessage(enum ui_msg_level level, const char *obj,
			 const char *fmt, va_list ap)
{
	const struct ui_sink *s = sink_now();
	int shared = s && s != thread_sink;
	char text[2048];

	if (!s)
		return 0;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (shared)
		pthread_mutex_lock(&sink_lock);
	s->message(s->arg, level, obj, text);
	if (shared)
		pthread_mutex_unlock(&sink_lock);
	return 1;
}

static int sink_message(enum ui_msg_level level, const char *obj,
			const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sink_message(enum ui_msg_level level, const char *obj,
			const char *fmt, ...)
{
	va_list ap;
	int taken;

	va_start(ap, fmt);
	taken = sink_vmessage(level, obj, fmt, ap);
	va_end(ap);
	return taken;
}

/* --- set-up ----------------------------------------------------------- */

void ui_init(const char *p, enum ui_role r)
{
	prog = p;
	role = r;
	/* stdio is only used by --help and -V (ui writes with write(2)), and
	 * they must reach a pipe before exit. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (r == UI_RECEIVER)
		atexit(flush_at_exit);
}

void ui_set_quiet(int q_) { quiet = q_; }
void ui_set_verbose(int v) { verbose = v; }
void ui_set_json(int j) { json = j; }
void ui_set_progress(int on) { progress = on; }
void ui_set_stdout_taken(void) { out_fd = 2; }

int ui_progress_enabled(void)
{
	if (sink_now())
		return 0;
	if (progress < 0)
		progress = !quiet && !json && role == UI_SENDER && isatty(2);
	return progress && role == UI_SENDER;
}

double ui_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *ui_human_size(uint64_t n, char buf[16])
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 16, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, 16, "%.1f %s", v, unit[u]);
	return buf;
}

/* --- messages --------------------------------------------------------- */

/* Lock held. */
static void vline(int fd, const char *obj, const char *fmt, va_list ap)
{
	struct record_buf *r = rec_start(fd);

	rec_add(r, "%s: ", prog);
	if (obj)
		rec_add(r, "%s: ", obj);
	rec_vadd(r, fmt, ap);
	emit(r);
}

void ui_error(const char *obj, const char *fmt, ...)
{
	struct record_buf *r;
	va_list ap;
	char msg[2048];

	va_start(ap, fmt);
	if (sink_vmessage(UI_MSG_ERROR, obj, fmt, ap)) {
		va_end(ap);
		return;
	}
	va_end(ap);
	pthread_mutex_lock(&lock);
	va_start(ap, fmt);
	vline(2, obj, fmt, ap);
	va_end(ap);
	if (json) {
		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		r = rec_start(1);
		rec_add(r, "{\"event\":\"error\"");
		if (obj)
			rec_json(r, "object", obj, strlen(obj));
		rec_json(r, "message", msg, strlen(msg));
		rec_add(r, "}");
		emit(r);
	}
	pthread_mutex_unlock(&lock);
}

void ui_hint(const char *fmt, ...)
{
	struct record_buf *r;
	va_list ap;

	pthread_mutex_lock(&lock);
	r = rec_start(2);
	va_start(ap, fmt);
	rec_vadd(r, fmt, ap);
	va_end(ap);
	emit(r);
	pthread_mutex_unlock(&lock);
}

void ui_info(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (sink_vmessage(UI_MSG_INFO, NULL, fmt, ap)) {
		va_end(ap);
		return;
	}
	va_end(ap);
	if (quiet || json)
		return;
	pthread_mutex_lock(&lock);
	va_start(ap, fmt);
	vline(1, NULL, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&lock);
}

void ui_debug(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (sink_vmessage(UI_MSG_DEBUG, NULL, fmt, ap)) {
		va_end(ap);
		return;
	}
	va_end(ap);
	if (!verbose)
		return;
	pthread_mutex_lock(&lock);
	va_start(ap, fmt);
	vline(2, NULL, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&lock);
}

static const char *rate(uint64_t bytes, double seconds, char buf[32])
{
	char sz[16];
	if (seconds <= 0)
		return strcpy(buf, "-");
	snprintf(buf, 32, "%s/s",
		 ui_human_size((uint64_t)((double)bytes / seconds), sz));
	return buf;
}

/* --- progress (the sender's, written synchronously) ------------------- */

static int term_width(void)
{
	struct winsize ws;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	return c && atoi(c) >= 20 ? atoi(c) : 80;
}

static void draw_progress(double now)
{
	char line[512], out[sizeof(line) + 8], a[16], b[16], r[32], eta[32] = "";
	uint64_t done = pg.finished + pg.cur_done;
	double secs = now - pg.start;
	int pct = pg.total ? (int)(100.0 * (double)done / (double)pg.total) : 100;
	int width = term_width() - 1;

	if (pg.unknown) {       /* a stream: what moved, never a percentage */
		int len = snprintf(line, sizeof(line), "%.200s %s so far %s [%u/%u]",
				   pg.cur_name, ui_human_size(done, a),
				   rate(done, secs, r), pg.index, pg.files);
		if (len > width && width > 0)
			line[width] = '\0';
		len = snprintf(out, sizeof(out), "\r%s\033[K", line);
		write_all(2, out, (size_t)len);
		pg.drawn = 1;
		pg.last_draw = now;
		return;
	}

	if (secs > 0.5 && done > 0 && done < pg.total) {
		double left = (double)(pg.total - done) * secs / (double)done;
		snprintf(eta, sizeof(eta), " ETA %d:%02d", (int)left / 60,
			 (int)left % 60);
	}
	int n = snprintf(line, sizeof(line), "%s %3d%% %s/%s %s%s [%u/%u]",
			 pg.cur_name, pct, ui_human_size(done, a),
			 ui_human_size(pg.total, b), rate(done, secs, r), eta,
			 pg.index, pg.files);
	if (n > width && width > 0) {
		/* Cut the name, keep the numbers: they are what one watches. */
		int over = n - width, nl = (int)strlen(pg.cur_name);
		int keep = nl - over - 3;
		if (keep < 1)
			keep = 1;
		snprintf(line, sizeof(line), "%.*s... %3d%% %s/%s %s%s [%u/%u]",
			 keep, pg.cur_name, pct, a, b, r, eta, pg.index, pg.files);
		line[width] = '\0';
	}
	n = snprintf(out, sizeof(out), "\r%s\033[K", line);
	write_all(2, out, (size_t)n);
	pg.drawn = 1;
	pg.last_draw = now;
}

void ui_batch_begin(unsigned files, uint64_t bytes)
{
	pthread_mutex_lock(&lock);
	memset(&pg, 0, sizeof(pg));
	pg.files = files;
	pg.total = bytes;
	pg.start = ui_now();
	pthread_mutex_unlock(&lock);
}

void ui_batch_end(unsigned ok, unsigned failed, uint64_t bytes,
		  uint64_t wire, double seconds, int status)
{
	struct record_buf *rb;
	char a[16], r[32];

	if (sink_now())
		return;
	pthread_mutex_lock(&lock);
	if (json) {
		rb = rec_start(1);
		rec_add(rb, "{\"event\":\"summary\",\"files_ok\":%u,"
			"\"files_failed\":%u,\"files_skipped\":%u,\"bytes\":%llu,"
			"\"wire_bytes\":%llu,\"seconds\":%.6f,\"exit\":%d}", ok,
			failed, skipped_files, (unsigned long long)bytes,
			(unsigned long long)wire, seconds, status);
		emit(rb);
	} else if (!quiet && ok + failed + skipped_files > 1) {
		rb = rec_start(2);
		if (ok + failed)
			rec_add(rb, "%s: %u of %u files verified, ", prog, ok,
				ok + failed);
		else
			rec_add(rb, "%s: ", prog);
		if (skipped_files)
			rec_add(rb, "%u already there (identical), ",
				skipped_files);
		rec_add(rb, "%s in %.2f s (%s)", ui_human_size(bytes, a),
			seconds, rate(bytes, seconds, r));
		emit(rb);
	} else {
		clear_progress();
	}
	pthread_mutex_unlock(&lock);
}

void ui_listening(const char *addr, const char *dir, int max_clients,
		  int timeout_s, uint64_t max_size, int activated)
{
	struct record_buf *r;
	char sz[16];

	if (sink_message(UI_MSG_LISTENING, addr, "listening on %s, storing "
			 "in %s", addr, dir))
		return;
	if (!json) {
		ui_info("listening on %s%s, storing in %s (max %d clients, "
			"timeout %d s, max size %s)", addr,
			activated ? " (socket activation)" : "", dir, max_clients,
			timeout_s, max_size ? ui_human_size(max_size, sz) : "unlimited");
		return;
	}
	pthread_mutex_lock(&lock);
	r = rec_start(1);
	rec_add(r, "{\"event\":\"listening\"");
	rec_json(r, "address", addr, strlen(addr));
	rec_json(r, "dir", dir, strlen(dir));
	rec_add(r, ",\"max_clients\":%d,\"timeout\":%d,\"max_size\":%llu,"
		"\"socket_activated\":%s}", max_clients, timeout_s,
		(unsigned long long)max_size, activated ? "true" : "false");
	emit(r);
	pthread_mutex_unlock(&lock);
}

/* --- per-connection counts of failed files (the receiver) ------------- */

/* A connection that has had a failed file: after REFUSALS_SHOWN of them
 * its further failures are counted, not shown one by one, so a peer that
 * sends thousands of refused names costs the log a few lines. */
#define REFUSALS_SHOWN 10
#define TALLY_BUCKETS 64

struct tally {
	struct tally *next;
	uint64_t conn;
	uint64_t failed, hidden;
};

static struct tally *tallies[TALLY_BUCKETS];

/* Lock held.  conn's tally; created if create (NULL if out of memory). */
static struct tally *tally_find(uint64_t conn, int create)
{
	struct tally **b = &tallies[conn % TALLY_BUCKETS], *t;

	for (t = *b; t; t = t->next)
		if (t->conn == conn)
			return t;
	if (!create || !(t = calloc(1, sizeof(*t))))
		return NULL;
	t->conn = conn;
	t->next = *b;
	*b = t;
	return t;
}

/* Lock held.  1 if this event of a connection is not to be shown: a
 * failure beyond REFUSALS_SHOWN (counted), or a file_start once the
 * connection is past them. */
static int tally_hides(enum ui_event_type type, const struct ui_file *f)
{
	struct tally *t;

	if (role != UI_RECEIVER || !f->conn)
		return 0;
	if (type == UI_FILE_START) {
		t = tally_find(f->conn, 0);
		return t && t->failed >= REFUSALS_SHOWN;
	}
	if (type != UI_FILE_FAILED || !(t = tally_find(f->conn, 1)))
		return 0;
	if (++t->failed <= REFUSALS_SHOWN)
		return 0;
	t->hidden++;
	return 1;
}

void ui_conn_end(uint64_t conn, const char *peer)
{
	struct tally **p, *t = NULL;
	struct record_buf *r;

	pthread_mutex_lock(&lock);
	for (p = &tallies[conn % TALLY_BUCKETS]; *p; p = &(*p)->next) {
		if ((*p)->conn == conn) {
			t = *p;
			*p = t->next;
			break;
		}
	}
	if (t && t->hidden && json) {
		r = rec_start(1);
		rec_add(r, "{\"event\":\"files_not_shown\"");
		rec_json(r, "peer", peer, strlen(peer));
		rec_add(r, ",\"files\":%llu}", (unsigned long long)t->hidden);
		emit(r);
	}
	if (t && t->hidden && !quiet) {
		r = rec_start(2);
		rec_add(r, "%s: %s: %llu more refused files not shown (more "
			"than %d on one connection)", prog, peer,
			(unsigned long long)t->hidden, REFUSALS_SHOWN);
		emit(r);
	}
	pthread_mutex_unlock(&lock);
	free(t);
}

/* --- file events ------------------------------------------------------ */

/* The warning for a file that changed while it was read (ui.h's
 * changed): what the receiver holds, exactly, for a script to check. */
#define CHANGED_FMT "file changed while being sent; the copy has the " \
		    "first %llu bytes it had"

/* Lock held.  A stored file's name is shown whole: scripts act on it (the
 * file is there under that name), and each such line cost the sender a
 * stored file.  The receiver's other events show it capped
 * (name_escape_log()): a peer's flood of refused names must not flood
 * the log.  The sender's names are its own, and a script joins its
 * file_start, file_done and file_failed records on them, so they are
 * whole in all three; "path" says which local file it was. */
static void json_file(const char *event, const struct ui_file *f)
{
	struct record_buf *r = rec_start(1);
	char hex[DIGEST_HEX_LEN + 1];
	int done = !strcmp(event, "file_done");
	int dir_done = !strcmp(event, "dir_done");

	rec_add(r, "{\"event\":\"%s\"", event);
	if (f->peer)
		rec_json(r, "peer", f->peer, strlen(f->peer));
	if (f->path)
		rec_json(r, "path", f->path, strlen(f->path));
	if (!f->name)
		rec_add(r, ",\"name\":null");
	else if (done || dir_done || role == UI_SENDER)
		rec_json(r, "name", f->name, f->name_len);
	else
		rec_json_name(r, f->name, f->name_len);
	if (f->is_dir)
		rec_add(r, ",\"directory\":true");
	else if (f->size_unknown)    /* a stream, not ended */
		rec_add(r, ",\"size\":null,\"bytes_so_far\":%llu",
			(unsigned long long)f->done);
	else
		rec_add(r, ",\"size\":%llu", (unsigned long long)f->size);
	if (f->digest) {
		digest_hex(f->digest, hex);
		rec_add(r, ",\"digest\":\"%s\"", hex);
	}
	if (done)
		rec_add(r, ",\"seconds\":%.6f", f->seconds);
	if (done && role == UI_SENDER)
		rec_add(r, ",\"wire_bytes\":%llu", (unsigned long long)f->wire);
	if (done && f->changed)
		rec_add(r, ",\"warning\":\"" CHANGED_FMT "\"",
			(unsigned long long)f->size);
	if (done && f->resumed_from)
		rec_add(r, ",\"resumed_from\":%llu",
			(unsigned long long)f->resumed_from);
	if (done && f->stored_as)
		rec_json(r, "stored_as", f->stored_as, strlen(f->stored_as));
	if (!strcmp(event, "file_skipped"))
		rec_json(r, "reason", f->msg, strlen(f->msg));
	if (!strcmp(event, "file_failed")) {
		const char *m = f->msg ? f->msg : tcpx_strerror(f->code);
		const char *e = tcpx_strerror(f->code);
		rec_add(r, ",\"code\":%d", f->code);
		rec_json(r, "error", e, strlen(e));
		if (f->peer_msg_len)
			rec_json(r, "message", f->peer_msg, f->peer_msg_len);
		else
			rec_json(r, "message", m, strlen(m));
	}
	rec_add(r, "}");
	emit(r);
}

/* The OBJECT of a text line about a file, escaped and capped: the
 * sender's lines name the FILE as the user gave it, the receiver's the
 * name it got. */
static void line_object(const struct ui_file *f, char out[NAME_LOG_BUF])
{
	if (f->path)
		name_escape_log((const uint8_t *)f->path, strlen(f->path), 0, out);
	else
		name_escape_log(f->name, f->name_len, 0, out);
}

/* Lock held. */
static void text_failed(const struct ui_file *f)
{
	static char peer_msg[4 * 1024 + 4], both[4 * 1024 + 64];
	const char *what = tcpx_strerror(f->code), *detail = f->msg;
	struct record_buf *r;
	char name[NAME_LOG_BUF], size[16];

	if (f->peer_msg_len) {
		name_escape(f->peer_msg, f->peer_msg_len, peer_msg, sizeof(peer_msg));
		detail = peer_msg;
	}
	/* "file exists (hint)" rather than "file exists: file exists" */
	if (!detail || !*detail)
		detail = what;
	else if (strncmp(detail, what, strlen(what)) != 0 &&
		 f->code != TCPX_E_SYSTEM) {
		snprintf(both, sizeof(both), "%s: %s", what, detail);
		detail = both;
	}
	line_object(f, name);
	r = rec_start(2);
	if (role == UI_SENDER)
		rec_add(r, "%s: %s: %s", prog, name, detail);
	else if (f->is_dir)
		rec_add(r, "%s: %s: refused directory %s/: %s", prog, f->peer,
			name, detail);
	else if (f->size_unknown)
		rec_add(r, "%s: %s: refused %s (stream, %s so far): %s", prog,
			f->peer, name, ui_human_size(f->done, size), detail);
	else
		rec_add(r, "%s: %s: refused %s (%s): %s", prog, f->peer, name,
			ui_human_size(f->size, size), detail);
	emit(r);
}

/* Lock held. */
static void text_done(const struct ui_file *f)
{
	static char name[4 * NAME_LEN_MAX + 4];
	struct record_buf *r = rec_start(1);
	char size[16], hex[DIGEST_HEX_LEN + 1], rt[32];

	name_escape(f->name, f->name_len, name, sizeof(name));
	if (f->is_dir) {
		/* The sender's stdout keeps one line per file (scripts read
		 * name, size, digest); its directories are -v business. */
		if (role == UI_SENDER && !verbose)
			return;
		r = rec_start(role == UI_RECEIVER ? 1 : 2);
		if (role == UI_RECEIVER)
			rec_add(r, "%s: %s: directory %s/", prog, f->peer, name);
		else
			rec_add(r, "%s: %s/: directory, mode and mtime set", prog, name);
		emit(r);
		return;
	}
	ui_human_size(f->size, size);
	digest_hex(f->digest, hex);
	if (role == UI_RECEIVER) {
		rec_add(r, "%s: %s: received %s (%s, %s) blake2b-512:%s", prog,
			f->peer, name, size, rate(f->size, f->seconds, rt), hex);
		emit(r);
		return;
	}
	rec_add(r, "%s  %s  blake2b-512:%s", name, size, hex);
	if (f->stored_as) {
		char as[NAME_LOG_BUF];
		name_escape_log((const uint8_t *)f->stored_as,
				strlen(f->stored_as), 0, as);
		rec_add(r, "  (kept both: stored as %s)", as);
	}
	if (f->resumed_from)
		rec_add(r, "  (resumed at %llu)",
			(unsigned long long)f->resumed_from);
	emit(r);
	if (!verbose)
		return;
	r = rec_start(2);
	rec_add(r, "%s: %s: %.3f s, %s, %llu bytes on the wire", prog, name,
		f->seconds, rate(f->size, f->seconds, rt),
		(unsigned long long)f->wire);
	emit(r);
}

/* Lock held.  Never quieted: the copy is verified, but no longer what
 * the file holds, which whoever ran tcpput must learn even with -q. */
static void text_changed(const struct ui_file *f)
{
	struct record_buf *r = rec_start(2);
	char name[NAME_LOG_BUF];

	line_object(f, name);
	rec_add(r, "%s: %s: " CHANGED_FMT, prog, name,
		(unsigned long long)f->size);
	emit(r);
}

/* Lock held.  The sender's stdout line of a file that is already there
 * (one per file, as for one sent); the receiver's log line. */
static void text_skipped(const struct ui_file *f)
{
	struct record_buf *r = rec_start(1);
	char name[NAME_LOG_BUF];

	if (role == UI_SENDER) {
		name_escape_log(f->name, f->name_len, 0, name);
		rec_add(r, "%s  skipped (identical: %s)", name, f->msg);
	} else if (verbose) {   /* a re-run of a tree: one line per file */
		line_object(f, name);
		rec_add(r, "%s: %s: skipped %s (identical: %s)", prog, f->peer,
			name, f->msg);
	} else {
		return;
	}
	emit(r);
}

/* Lock held. */
static void file_progress(const struct ui_file *f)
{
	double now;

	pg.cur_done = f->done;
	if (f->done >= f->size) {
		pg.finished += f->size;
		pg.cur_done = 0;
	}
	now = ui_now();
	if (ui_progress_enabled() && now - pg.last_draw >= PROGRESS_INTERVAL)
		draw_progress(now);
}

void ui_event(enum ui_event_type type, const struct ui_file *f)
{
	if (sink_event(type, f))
		return;
	pthread_mutex_lock(&lock);
	if (tally_hides(type, f))
		goto out;
	switch (type) {
	case UI_FILE_START:
		if (json)
			json_file("file_start", f);
		if (role == UI_SENDER) {
			pg.index++;
			pg.cur_size = f->size;
			pg.unknown = f->size_unknown;
			pg.cur_done = 0;
			name_escape(f->name, f->name_len, pg.cur_name,
				    sizeof(pg.cur_name));
			if (ui_progress_enabled() && pg.files &&
			    pg.index <= pg.files)
				draw_progress(ui_now());
		}
		break;
	case UI_FILE_PROGRESS:
		file_progress(f);
		break;
	case UI_FILE_DONE:
		clear_progress();
		if (json)
			json_file(f->is_dir ? "dir_done" : "file_done", f);
		else if (!quiet)
			text_done(f);
		if (f->changed)
			text_changed(f);
		break;
	case UI_FILE_FAILED:
		clear_progress();
		if (json)
			json_file("file_failed", f);
		/* -q: the sender's failures are its errors; the receiver's
		 * are its peers' business */
		if (role == UI_SENDER || !quiet)
			text_failed(f);
		break;
	case UI_FILE_SKIPPED:
		clear_progress();
		if (json)
			json_file("file_skipped", f);
		else if (!quiet)
			text_skipped(f);
		if (role == UI_SENDER) {
			pg.index++;
			pg.finished += f->size;
			skipped_files++;
		}
		break;
	}
out:
	pthread_mutex_unlock(&lock);
}
