/* session: the socket and disk loops around sender and receiver (session.h). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "names.h"
#include "net.h"
#include "receiver.h"
#include "sender.h"
#include "session.h"
#include "source.h"
#include "ui.h"
#include "zpool.h"

static int worse(int a, int b)
{
	return a > b ? a : b;
}

/* ---- sender ---------------------------------------------------------- */

struct outgoing {
	const char *path;
	const char *name;
	uint64_t size;
	double t0;
	uint64_t wire;          /* bytes framed for it (start: the counter) */
	int settled;            /* RESULT seen, or failed locally */
};

struct send_ctx {
	struct tcpx_sender *s;
	const char *peer;
	struct outgoing *files;
	int n, next;
	struct source_file src;
	struct outgoing *cur;
	uint64_t cur_sent;
	struct zpool *pool;      /* compression workers, with -z */
	int cur_pooled;          /* the current file goes through the pool */
	uint64_t cur_read;       /* pooled: bytes read so far (>= cur_sent) */
	uint64_t data_bytes;     /* file bytes framed, for -v */
	unsigned ok, failed;
	int status;
};

static void file_failed(struct send_ctx *c, struct outgoing *o, int code,
			const char *msg, const uint8_t *pmsg, size_t plen)
{
	struct ui_file uf = { .peer = c->peer, .name = (const uint8_t *)o->path,
			      .name_len = strlen(o->path), .size = o->size,
			      .code = code, .msg = msg, .peer_msg = pmsg,
			      .peer_msg_len = plen };
	o->settled = 1;
	c->failed++;
	ui_event(UI_FILE_FAILED, &uf);
}

/* Opens the next readable file and starts it; unreadable ones are
 * reported and skipped.  0 when nothing is left to start. */
static int begin_next(struct send_ctx *c)
{
	while (c->next < c->n) {
		struct outgoing *o = &c->files[c->next++];
		struct tcpx_file_meta m = { 0 };
		int rc = source_open(o->path, &c->src);
		if (rc < 0) {
			const char *why = errno == ENODEV ? "not a regular file" :
				errno == EISDIR ? "is a directory (send the files in it)" :
				strerror(errno);
			file_failed(c, o, TCPX_E_SYSTEM, why, NULL, 0);
			c->status = worse(c->status, SEND_UNREADABLE);
			continue;
		}
		o->name = c->src.name;
		o->size = c->src.size;
		m.size = c->src.size;
		m.mode = c->src.mode;
		m.mtime_sec = c->src.mtime_sec;
		m.mtime_nsec = c->src.mtime_nsec;
		m.name = (const uint8_t *)c->src.name;
		m.name_len = (uint16_t)strnlen(c->src.name, TCPX_NAME_MAX + 1);
		o->wire = sender_wire_bytes(c->s);
		if (sender_begin_file(c->s, &m, o) < 0) {  /* empty or too long */
			source_close(&c->src);
			file_failed(c, o, TCPX_E_BAD_NAME, "name too long or empty",
				    NULL, 0);
			c->status = worse(c->status, SEND_UNREADABLE);
			continue;
		}
		o->t0 = ui_now();
		c->cur = o;
		c->cur_sent = 0;
		c->cur_read = 0;
		/* Workers pay off from the second chunk on. */
		c->cur_pooled = c->pool && sender_compressing(c->s) &&
				m.size > TCPX_CHUNK_MAX;
		struct ui_file uf = { .peer = c->peer, .name = m.name,
				      .name_len = m.name_len, .size = m.size };
		ui_event(UI_FILE_START, &uf);
		return 1;
	}
	return 0;
}

static void end_current(struct send_ctx *c, int abort_it, const char *why)
{
	source_close(&c->src);
	if (c->cur_pooled && zpool_pending(c->pool))
		zpool_reset(c->pool);
	c->cur_pooled = 0;
	if (abort_it) {
		sender_abort_file(c->s);
		if (why) {
			file_failed(c, c->cur, TCPX_E_SYSTEM, why, NULL, 0);
			c->status = worse(c->status, SEND_UNREADABLE);
		}
	} else {
		sender_end_file(c->s);
	}
	c->cur->wire = sender_wire_bytes(c->s) - c->cur->wire;
	c->cur = NULL;
}

static void progress(struct send_ctx *c, size_t n)
{
	c->cur_sent += n;
	c->data_bytes += n;
	struct ui_file uf = { .peer = c->peer,
		.name = (const uint8_t *)c->cur->name,
		.name_len = strlen(c->cur->name),
		.size = c->cur->size, .done = c->cur_sent };
	ui_event(UI_FILE_PROGRESS, &uf);
}

/* The current file through the compression workers: frames what they
 * finished, in order, and hands them more to read.  1 if the file ended
 * (go on with the next), 0 to wait for the socket or the workers. */
static int produce_pooled(struct send_ctx *c)
{
	const uint8_t *raw, *comp;
	size_t n, clen;
	uint8_t *buf;

	while (sender_has_room(c->s) &&
	       zpool_head(c->pool, &raw, &n, &comp, &clen)) {
		sender_commit_prepared(c->s, raw, n, comp, clen);
		zpool_pop(c->pool);
		progress(c, n);
	}
	while (c->cur_read < c->cur->size && (buf = zpool_input(c->pool))) {
		uint64_t left = c->cur->size - c->cur_read;
		ssize_t got = source_read(&c->src, buf, left < TCPX_CHUNK_MAX ?
					  (size_t)left : TCPX_CHUNK_MAX);
		if (got <= 0) {
			end_current(c, 1, got < 0 ? strerror(errno) :
				    "file shrank while being sent");
			return 1;
		}
		zpool_submit(c->pool, (size_t)got);
		c->cur_read += (uint64_t)got;
	}
	if (c->cur_sent == c->cur->size && sender_has_room(c->s)) {
		end_current(c, 0, NULL);
		return 1;
	}
	return 0;
}

/* Fills the output buffer with as much as it holds: two full chunks, or
 * the frames of as many small files as fit, so one send() carries them. */
static void produce(struct send_ctx *c)
{
	while (sender_has_room(c->s)) {
		enum sender_state st = sender_state(c->s);
		if (st == SS_IN_FILE) {
			uint64_t left = c->cur->size - c->cur_sent;
			size_t cap;
			uint8_t *buf;
			if (sender_current_refused(c->s)) {
				end_current(c, 1, NULL);
				continue;
			}
			if (c->cur_pooled) {
				if (produce_pooled(c))
					continue;
				return;
			}
			if (left == 0) {
				end_current(c, 0, NULL);
				continue;
			}
			buf = sender_chunk_buffer(c->s, &cap);
			if (cap > left)
				cap = (size_t)left;
			ssize_t got = source_read(&c->src, buf, cap);
			if (got <= 0) {
				end_current(c, 1, got < 0 ? strerror(errno) :
					    "file shrank while being sent");
				continue;
			}
			sender_commit_chunk(c->s, (size_t)got);
			progress(c, (size_t)got);
		} else if (st == SS_READY) {
			if (sender_can_begin(c->s) && begin_next(c))
				continue;
			if (c->next >= c->n)
				sender_bye(c->s);
			return;
		} else {
			return;
		}
	}
}

static void on_result(struct send_ctx *c, const struct sender_event *ev)
{
	struct outgoing *o = ev->cookie;
	if (o->settled)   /* failed locally (ABORT sent); RESULT confirms */
		return;
	if (ev->code == 0) {
		struct ui_file uf = { .peer = c->peer,
			.name = (const uint8_t *)o->name, .name_len = strlen(o->name),
			.size = o->size, .done = o->size, .digest = ev->digest,
			.seconds = ui_now() - o->t0, .wire = o->wire };
		o->settled = 1;
		c->ok++;
		ui_event(UI_FILE_DONE, &uf);
		return;
	}
	file_failed(c, o, ev->code, NULL, ev->msg, ev->msg_len);
	c->status = worse(c->status, ev->code == TCPX_E_DIGEST ? SEND_VERIFY :
			  SEND_REFUSED);
}

/* Handles every event the buffered input holds; 1 when the session ended. */
static int drain_events(struct send_ctx *c)
{
	struct sender_event ev;
	for (;;) {
		sender_next(c->s, &ev);
		switch (ev.type) {
		case SEV_NONE:
			return 0;
		case SEV_HELLO:
			ui_debug("%s: session open (TCPX 1, capabilities 0x%llx)",
				 c->peer, (unsigned long long)ev.caps);
			break;
		case SEV_RESULT:
			on_result(c, &ev);
			break;
		case SEV_BYE:
			return 1;
		case SEV_PEER_ERROR: {
			char m[4 * TCPX_MSG_MAX + 4];
			name_escape(ev.msg ? ev.msg : (const uint8_t *)"",
				    ev.msg_len, m, sizeof(m));
			ui_error(c->peer, "receiver ended the session: %s%s%s",
				 tcpx_strerror(ev.code), ev.msg_len ? ": " : "", m);
			c->status = worse(c->status, SEND_PROTOCOL);
			return 1;
		}
		case SEV_PROTO_ERROR:
			ui_error(c->peer, "protocol error from receiver: %.*s",
				 (int)ev.msg_len, (const char *)ev.msg);
			c->status = worse(c->status, SEND_PROTOCOL);
			return 1;
		}
	}
}

int session_send(int fd, const char *peer, const struct send_options *opt,
		 char *const *paths, int n)
{
	struct send_ctx c = { .peer = peer, .n = n, .status = SEND_OK };
	int ended = 0;

	c.src.fd = -1;
	c.files = calloc((size_t)(n > 0 ? n : 1), sizeof(*c.files));
	c.s = sender_new(0, opt->level);
	if (!c.files || !c.s) {
		ui_error(NULL, "out of memory");
		free(c.files);
		sender_free(c.s);
		return SEND_CONNECTION;
	}
	uint64_t total = 0;
	for (int i = 0; i < n; i++) {
		struct stat sb;
		c.files[i].path = c.files[i].name = paths[i];
		/* Overall percentage and ETA need every size before the first
		 * byte; without a progress line that is a stat() per file for
		 * nothing (source_open() fstat()s each file anyway). */
		if (ui_progress_enabled() && stat(paths[i], &sb) == 0 &&
		    S_ISREG(sb.st_mode))
			total += (uint64_t)sb.st_size;
	}
	double t0 = ui_now();
	ui_batch_begin((unsigned)n, total);
	if (opt->level > 0) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		int workers = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
		c.pool = zpool_new(opt->level, workers, 2 * workers);
	}

	while (!ended) {
		const uint8_t *out;
		size_t out_len, cap;
		produce(&c);
		sender_pending(c.s, &out, &out_len);
		struct pollfd pfds[2] = {
			{ .fd = fd, .events = POLLIN | (out_len ? POLLOUT : 0) },
			{ .fd = c.pool ? zpool_fd(c.pool) : -1, .events = POLLIN },
		};
		struct pollfd *pfd = &pfds[0];
		int pr = poll(pfds, 2, opt->timeout_ms);
		if (pfds[1].revents & POLLIN) {
			zpool_ack(c.pool);
			if (!(pfd->revents))
				continue;   /* a chunk is ready: frame it */
		}
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0) {
			if (pr == 0)
				ui_error(peer, "timed out: the receiver sent nothing "
					 "for %d s", opt->timeout_ms / 1000);
			else
				ui_error(peer, "poll: %s", strerror(errno));
			c.status = worse(c.status, SEND_CONNECTION);
			break;
		}
		if (pfd->revents & POLLOUT) {
			ssize_t w = send(fd, out, out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				sender_sent(c.s, (size_t)w);
			else if (w < 0 && errno != EAGAIN && errno != EINTR) {
				ui_error(peer, "%s", net_strerror(errno));
				c.status = worse(c.status, SEND_CONNECTION);
				break;
			}
		}
		if (pfd->revents & (POLLIN | POLLHUP | POLLERR)) {
			uint8_t *in = frame_reader_space(sender_reader(c.s), &cap);
			ssize_t r = recv(fd, in, cap, MSG_DONTWAIT);
			if (r > 0) {
				frame_reader_commit(sender_reader(c.s), (size_t)r);
				ended = drain_events(&c);
			} else if (r == 0 || (errno != EAGAIN && errno != EINTR)) {
				ui_error(peer, "%s", r == 0 ?
					 "connection closed by the receiver" :
					 net_strerror(errno));
				c.status = worse(c.status, SEND_CONNECTION);
				break;
			}
		}
	}
	/* Best effort: an ERROR frame we queued on a protocol violation. */
	if (sender_state(c.s) == SS_FAILED) {
		const uint8_t *out;
		size_t out_len;
		sender_pending(c.s, &out, &out_len);
		if (out_len)
			net_write_full(fd, out, out_len, 1000);
	}
	if (c.src.fd >= 0)
		source_close(&c.src);
	ui_debug("%s: %llu bytes on the wire for %llu bytes of file data", peer,
		 (unsigned long long)sender_wire_bytes(c.s),
		 (unsigned long long)c.data_bytes);
	for (int i = 0; i < n; i++) {
		if (!c.files[i].settled && c.next > i) {
			file_failed(&c, &c.files[i], TCPX_E_CLOSED,
				    "no verdict from the receiver", NULL, 0);
			c.status = worse(c.status, SEND_CONNECTION);
		}
	}
	ui_batch_end(c.ok, c.failed, c.data_bytes, sender_wire_bytes(c.s),
		     ui_now() - t0, c.status);
	zpool_free(c.pool);
	sender_free(c.s);
	free(c.files);
	return c.status;
}

/* ---- receiver -------------------------------------------------------- */

struct serve_ctx {
	struct tcpx_receiver *r;
	struct store *st;
	struct store_file f;
	const char *peer;
	struct tcpx_file_meta meta;     /* current file (name copied) */
	uint8_t name[TCPX_NAME_MAX];
	double t0;
	uint64_t done;
};

static void log_file(struct serve_ctx *c, enum ui_event_type t, int code,
		     const char *msg, const uint8_t *digest)
{
	struct ui_file uf = { .peer = c->peer, .name = c->name,
			      .name_len = c->meta.name_len, .size = c->meta.size,
			      .done = c->done, .digest = digest,
			      .seconds = ui_now() - c->t0, .code = code,
			      .msg = msg };
	ui_event(t, &uf);
}

static void remember(struct serve_ctx *c, const struct tcpx_file_meta *m)
{
	c->meta = *m;
	memcpy(c->name, m->name, m->name_len);
	c->meta.name = c->name;
	c->t0 = ui_now();
	c->done = 0;
}

static const char *disk_msg(int code)
{
	/* errno is intact here: store keeps it for us. */
	return code == -TCPX_E_EXISTS ? "file exists (tcpget --overwrite replaces it)"
				      : strerror(errno);
}

/* Acts on one receiver event; 1 when the connection is over. */
static int serve_event(struct serve_ctx *c, struct receiver_event *ev)
{
	int rc;
	switch (ev->type) {
	case REV_NONE:
		return 0;
	case REV_HELLO:
		ui_debug("%s: session open", c->peer);
		return 0;
	case REV_FILE:
		remember(c, &ev->meta);
		log_file(c, UI_FILE_START, 0, NULL, NULL);
		rc = store_create(c->st, ev->meta.name, ev->meta.name_len,
				  ev->meta.mode, ev->meta.size, &c->f);
		if (rc < 0) {
			const char *m = disk_msg(rc);
			receiver_file_fail(c->r, -rc, m);
			log_file(c, UI_FILE_FAILED, -rc, m, NULL);
		}
		return 0;
	case REV_REFUSED:
		remember(c, &ev->meta);
		log_file(c, UI_FILE_FAILED, ev->code, ev->msg, NULL);
		return 0;
	case REV_DATA:
		if (!store_file_active(&c->f))
			return 0;
		rc = store_write(&c->f, ev->data, ev->len);
		if (rc < 0) {
			const char *m = strerror(errno);
			store_discard(&c->f);
			receiver_file_fail(c->r, -rc, m);
			log_file(c, UI_FILE_FAILED, -rc, m, NULL);
		}
		c->done += ev->len;
		return 0;
	case REV_END:
		rc = -ev->code;
		if (rc == 0)
			rc = store_commit(c->st, &c->f, c->meta.mtime_sec,
					  c->meta.mtime_nsec);
		else
			store_discard(&c->f);
		receiver_file_done(c->r, -rc, rc == -TCPX_E_DIGEST ?
				   "digest mismatch: data discarded" :
				   rc ? disk_msg(rc) : NULL);
		if (rc == 0)
			log_file(c, UI_FILE_DONE, 0, NULL, ev->digest);
		else
			log_file(c, UI_FILE_FAILED, -rc,
				 rc == -TCPX_E_DIGEST ? "digest mismatch, data discarded"
				 : disk_msg(rc), NULL);
		return 0;
	case REV_ABORTED:
		store_discard(&c->f);
		log_file(c, UI_FILE_FAILED, TCPX_E_ABORTED, NULL, NULL);
		return 0;
	case REV_SKIPPED:
		return 0;
	case REV_BYE:
		ui_debug("%s: session closed", c->peer);
		return 1;
	case REV_FATAL:
		store_discard(&c->f);
		if (strcmp(ev->msg, tcpx_strerror(ev->code)) == 0)
			ui_error(c->peer, "%s", ev->msg);
		else
			ui_error(c->peer, "%s: %s", tcpx_strerror(ev->code), ev->msg);
		return 1;
	case REV_PEER_ERROR: {
		char m[4 * TCPX_MSG_MAX + 4];
		store_discard(&c->f);
		name_escape(ev->peer_msg, ev->peer_msg_len, m, sizeof(m));
		ui_error(c->peer, "sender ended the session: %s%s%s",
			 tcpx_strerror(ev->code), ev->peer_msg_len ? ": " : "", m);
		return 1;
	}
	}
	return 1;
}

static int flush(struct tcpx_receiver *r, int fd, int timeout_ms)
{
	const uint8_t *out;
	size_t len;
	receiver_pending(r, &out, &len);
	if (!len)
		return 0;
	int rc = net_write_full(fd, out, len, timeout_ms);
	if (rc == 0)
		receiver_sent(r, len);
	return rc;
}

void session_serve(int fd, const char *peer, struct store *st,
		   const struct serve_options *opt)
{
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1,
				       .max_size = opt->max_size,
				       .max_files = opt->max_files };
	struct serve_ctx c = { .st = st, .peer = peer };
	struct receiver_event ev;
	int over = 0;

	store_file_init(&c.f);
	c.r = receiver_new(&cfg);
	if (!c.r) {
		ui_error(peer, "out of memory");
		close(fd);
		return;
	}
	while (!over) {
		receiver_next(c.r, &ev);
		if (ev.type != REV_NONE) {
			over = serve_event(&c, &ev);
			continue;
		}
		/* Nothing decodable, or no room for more replies: send what we
		 * owe, and if that freed room, decode again before waiting:
		 * complete frames may still be buffered. */
		const uint8_t *pending;
		size_t owed;
		receiver_pending(c.r, &pending, &owed);
		if (owed) {
			if (flush(c.r, fd, opt->timeout_ms) < 0) {
				ui_error(peer, "cannot send to the sender: %s",
					 net_strerror(errno));
				break;
			}
			if (!receiver_finished(c.r))
				continue;
		}
		if (receiver_finished(c.r))
			break;
		struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
					 { .fd = opt->stop_fd, .events = POLLIN } };
		int pr = poll(pfd, opt->stop_fd >= 0 ? 2 : 1, opt->timeout_ms);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr < 0) {
			ui_error(peer, "poll: %s", strerror(errno));
			break;
		}
		if (pr == 0 || (pfd[1].revents & POLLIN)) {
			int code = pr == 0 ? TCPX_E_TIMEOUT : TCPX_E_SHUTDOWN;
			store_discard(&c.f);
			receiver_fail(c.r, code, pr == 0 ? "idle timeout" :
				      "receiver shutting down");
			if (pr == 0)
				ui_error(peer, "idle for %d s: connection closed",
					 opt->timeout_ms / 1000);
			break;
		}
		size_t cap;
		uint8_t *in = frame_reader_space(receiver_reader(c.r), &cap);
		if (cap == 0) {     /* cannot happen: a full buffer holds a frame */
			receiver_fail(c.r, TCPX_E_FRAME_TOO_LARGE, "receive buffer full");
			break;
		}
		ssize_t n = recv(fd, in, cap, MSG_DONTWAIT);
		if (n > 0) {
			frame_reader_commit(receiver_reader(c.r), (size_t)n);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			if (receiver_in_file(c.r) || store_file_active(&c.f) || n < 0 ||
			    frame_reader_buffered(receiver_reader(c.r)))
				ui_error(peer, "%s", n == 0 ?
					 "connection closed by the sender mid-transfer" :
					 net_strerror(errno));
			break;
		}
	}
	store_discard(&c.f);
	flush(c.r, fd, 1000);   /* a final ERROR/BYE, best effort */
	receiver_free(c.r);
	close(fd);
}
