/* serve_loop: the receiving role's loop, one connection (serve_loop.h). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "names.h"
#include "net.h"
#include "receiver.h"
#include "serve_loop.h"
#include "ui.h"

struct serve_ctx {
	struct tcpx_receiver *r;
	struct conn conn;
	struct store *st;
	struct store_file f;
	struct store_budget budget;     /* this connection's, for the store */
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

/* What the disk said about a failure (store keeps errno, or its own
 * words for a limit), where that explains it; the receiver's table words
 * the others. */
static const char *disk_detail(const struct serve_ctx *c, int code)
{
	return code == TCPX_OK || code == TCPX_E_EXISTS ||
	       code == TCPX_E_DIGEST ? NULL :
	       c->f.why ? c->f.why : strerror(errno);
}

/* The disk failed the current file. */
static void disk_failed(struct serve_ctx *c, int rc)
{
	const char *m = receiver_file_fail(c->r, -rc, disk_detail(c, -rc));
	store_discard(&c->f);
	log_file(c, UI_FILE_FAILED, -rc, m, NULL);
}

/* The file's data is complete: commit it if the digests matched, and
 * report the one verdict to the sender and the log. */
static void file_complete(struct serve_ctx *c, const struct receiver_event *ev)
{
	int code = ev->code;
	if (code == 0) {
		int rc = store_commit(c->st, &c->f, c->meta.mtime_sec,
				      c->meta.mtime_nsec);
		code = -rc;
	} else {
		store_discard(&c->f);
	}
	const char *m = receiver_file_done(c->r, code, disk_detail(c, code));
	log_file(c, code ? UI_FILE_FAILED : UI_FILE_DONE, code, m,
		 code ? NULL : ev->digest);
}

static void session_ended(struct serve_ctx *c, const struct receiver_event *ev)
{
	char m[4 * TCPX_MSG_MAX + 4];
	store_discard(&c->f);
	if (ev->type == REV_BYE) {
		ui_debug("%s: session closed", c->peer);
	} else if (ev->type == REV_FATAL) {
		if (strcmp(ev->msg, tcpx_strerror(ev->code)) == 0)
			ui_error(c->peer, "%s", ev->msg);
		else
			ui_error(c->peer, "%s: %s", tcpx_strerror(ev->code), ev->msg);
	} else {
		name_escape(ev->peer_msg, ev->peer_msg_len, m, sizeof(m));
		ui_error(c->peer, "sender ended the session: %s%s%s",
			 tcpx_strerror(ev->code), ev->peer_msg_len ? ": " : "", m);
	}
}

/* Acts on one receiver event; 1 when the connection is over. */
static int serve_event(struct serve_ctx *c, const struct receiver_event *ev)
{
	int rc;
	switch (ev->type) {
	case REV_NONE:
	case REV_SKIPPED:
		return 0;
	case REV_HELLO:
		conn_handshake_done(&c->conn);
		ui_debug("%s: session open", c->peer);
		return 0;
	case REV_FILE:
		remember(c, &ev->meta);
		log_file(c, UI_FILE_START, 0, NULL, NULL);
		rc = store_create(c->st, ev->meta.name, ev->meta.name_len,
				  ev->meta.mode, ev->meta.size, &c->budget,
				  &c->f);
		if (rc < 0)
			disk_failed(c, rc);
		return 0;
	case REV_REFUSED:
		remember(c, &ev->meta);
		log_file(c, UI_FILE_FAILED, ev->code, ev->msg, NULL);
		return 0;
	case REV_DATA:
		if (!store_file_active(&c->f))
			return 0;
		rc = store_write(&c->f, ev->data, ev->len);
		if (rc < 0)
			disk_failed(c, rc);
		c->done += ev->len;
		return 0;
	case REV_END:
		file_complete(c, ev);
		return 0;
	case REV_ABORTED:
		store_discard(&c->f);
		log_file(c, UI_FILE_FAILED, TCPX_E_ABORTED, NULL, NULL);
		return 0;
	case REV_BYE:
	case REV_FATAL:
	case REV_PEER_ERROR:
		session_ended(c, ev);
		return 1;
	}
	return 1;
}

/* The connection ended before the session did, or must end now. */
static void cut_short(struct serve_ctx *c, int rc, int timeout_ms)
{
	struct frame_reader *rd = receiver_reader(c->r);
	store_discard(&c->f);
	if (rc == CONN_STOP) {
		receiver_fail(c->r, TCPX_E_SHUTDOWN, "receiver shutting down");
	} else if (rc == -TCPX_E_TIMEOUT) {
		receiver_fail(c->r, TCPX_E_TIMEOUT, "idle timeout");
		ui_error(c->peer, "idle for %d s: connection closed",
			 timeout_ms / 1000);
	} else if (rc == -TCPX_E_CLOSED) {
		if (receiver_in_file(c->r) || frame_reader_buffered(rd))
			ui_error(c->peer, "connection closed by the sender "
				 "mid-transfer");
	} else if (rc == -TCPX_E_SYSTEM) {
		ui_error(c->peer, "%s", net_strerror(errno));
	} else {
		ui_error(c->peer, "%s", tcpx_strerror(rc));
	}
}

static void run(struct serve_ctx *c, int timeout_ms)
{
	struct receiver_event ev;
	for (;;) {
		receiver_next(c->r, &ev);
		if (ev.type != REV_NONE) {
			if (serve_event(c, &ev))
				return;
			continue;
		}
		/* Nothing decodable now (or no room for more replies): move
		 * bytes both ways, then decode again. */
		int rc = conn_pump(&c->conn, -1);
		if (rc < 0 || (rc & CONN_STOP)) {
			cut_short(c, rc < 0 ? rc : CONN_STOP, timeout_ms);
			return;
		}
	}
}

void serve_loop_run(int fd, const char *peer, struct store *st,
		    const struct serve_options *opt)
{
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1,
				       .max_size = opt->max_size,
				       .max_files = opt->max_files };
	struct conn_limits lim = { .idle_ms = opt->timeout_ms };
	struct serve_ctx c = { .st = st, .peer = peer,
			       .budget = { .max_dirs = opt->max_dirs } };

	store_file_init(&c.f);
	c.r = receiver_new(&cfg);
	if (!c.r) {
		ui_error(peer, "out of memory");
		close(fd);
		return;
	}
	conn_init(&c.conn, fd, receiver_reader(c.r), receiver_output(c.r), &lim,
		  opt->stop_fd);
	run(&c, opt->timeout_ms);
	store_discard(&c.f);
	conn_flush(&c.conn, 1000);   /* replies, a final ERROR or BYE: best effort */
	receiver_free(c.r);
	close(fd);
}
