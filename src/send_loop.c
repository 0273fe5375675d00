/* send_loop: the sending role's loop (send_loop.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "conn.h"
#include "digest.h"
#include "error.h"
#include "lanes.h"
#include "names.h"
#include "net.h"
#include "send_loop.h"
#include "sender.h"
#include "ui.h"
#include "zpool.h"

/* A file sent and not yet settled; the ring holds them in file order, the
 * order in which their RESULTs arrive. */
struct inflight {
	char *path;             /* owned copy, and name's after its NUL */
	const char *name;
	int is_dir;             /* a DIR of a tree */
	uint64_t size;
	double t0;
	uint64_t wire;          /* bytes framed for it (start: the counter) */
	int settled;            /* failed locally (ABORT sent): RESULT confirms */
	int popped;             /* its RESULT came while it was still sent */
	int changed;            /* the file changed while it was read */
	uint64_t resumed;       /* sent from this offset (RESUME) */
};

/* An item offered (OFFER) or a directory queued behind offers, until its
 * turn comes or its ANSWER settles it; open, with its strings. */
struct offered {
	struct inflight info;   /* path and name owned here */
	struct source_item item;        /* path and name point into info */
	int used;
};

struct send_ctx {
	struct tcpx_sender *s;
	struct conn conn;
	const char *peer;
	struct source *src;
	struct source_item item;         /* the file being read */
	struct inflight ring[SENDER_WINDOW];
	size_t head, count;
	struct inflight *cur;
	uint64_t cur_sent;
	struct zpool *pool;      /* compression workers, with -z */
	int cur_pooled;          /* the current file goes through the pool */
	uint64_t cur_read;       /* pooled: bytes read so far (>= cur_sent) */
	int cur_eof;             /* pooled stream: its input ended */
	uint64_t data_bytes;     /* file bytes framed, for -v */
	unsigned ok, failed;
	int warned_tree;
	int failing_dir;         /* report_failed() is about a directory */         /* said once that the receiver takes no DIR */
	int status;
	int ended_code;          /* the code of the ERROR we ended it with */
	const struct send_options *opt;
	struct offered offers[TCPX_OFFER_WINDOW];
	uint8_t *hashbuf;        /* TCPX_CHUNK_MAX: -c and resume prefixes */
	unsigned skipped;
	/* --streams: the extra connections, and what they start with */
	struct lanes *lanes;
	struct conn_limits lim;
	struct conn_secure_config sec;
};

_Static_assert(SOURCE_SIZE_UNKNOWN == TCPX_SIZE_UNKNOWN,
	       "a stream's size goes on the wire as the source says it");

/* How long an ERROR we send may take to leave: a peer that reads nothing
 * must not hold tcpput much past its own timeout. */
#define ERROR_FLUSH_MS 1000

static void worsen(struct send_ctx *c, int status)
{
	if (status > c->status)
		c->status = status;
}

/* name: the name sent, or NULL for a file that failed before it had one
 * (ui prints null); path: the FILE argument, for the text line. */
static void report_failed(struct send_ctx *c, const char *path,
			  const char *name, uint64_t size, int code,
			  const char *msg, const uint8_t *pmsg, size_t plen)
{
	struct ui_file uf = { .peer = c->peer, .path = path,
			      .is_dir = c->failing_dir,
			      .name = (const uint8_t *)name,
			      .name_len = name ? strlen(name) : 0, .size = size,
			      .size_unknown = size == SOURCE_SIZE_UNKNOWN,
			      .code = code, .msg = msg, .peer_msg = pmsg,
			      .peer_msg_len = plen };
	c->failed++;
	ui_event(UI_FILE_FAILED, &uf);
}

static void settle_failed(struct send_ctx *c, struct inflight *o, int code,
			  const char *msg, const uint8_t *pmsg, size_t plen)
{
	o->settled = 1;
	c->failing_dir = o->is_dir;
	report_failed(c, o->path, o->name, o->size, code, msg, pmsg, plen);
	c->failing_dir = 0;
}

/* The head's RESULT came.  A file refused while it is still being sent
 * keeps its strings until end_current() is done with it. */
static void ring_pop(struct send_ctx *c)
{
	struct inflight *o = &c->ring[c->head];
	o->popped = 1;
	if (o != c->cur) {
		free(o->path);
		o->path = NULL;
	}
	c->head = (c->head + 1) % SENDER_WINDOW;
	c->count--;
}

/* The item's strings, copied for the ring: path, then name. */
static int keep_item(struct inflight *o, const struct source_item *it,
		     uint64_t wire)
{
	size_t plen = strlen(it->path), nlen = strlen(it->name);
	*o = (struct inflight){ .path = malloc(plen + nlen + 2),
				.size = it->size, .wire = wire,
				.is_dir = it->is_dir };
	if (!o->path)
		return -TCPX_E_NOMEM;
	memcpy(o->path, it->path, plen + 1);
	memcpy(o->path + plen + 1, it->name, nlen + 1);
	o->name = o->path + plen + 1;
	return 0;
}

/* Reads the open item from where it stands through n more bytes into
 * dg; 0, or -1 if they could not all be read. */
static int hash_ahead(struct send_ctx *c, uint64_t n, struct digest *dg)
{
	if (!c->hashbuf && !(c->hashbuf = malloc(TCPX_CHUNK_MAX)))
		return -1;
	while (n > 0) {
		size_t want = n < TCPX_CHUNK_MAX ? (size_t)n : TCPX_CHUNK_MAX;
		ssize_t got = source_read(&c->item, c->hashbuf, want);
		if (got <= 0)
			return -1;
		digest_update(dg, c->hashbuf, (size_t)got);
		n -= (uint64_t)got;
	}
	return 0;
}

/* The receiver has offset bytes of the file: resume after them if its
 * digest of them is ours (1, *dg our state over them), else send it all
 * from 0 (0; the receiver drops its partial data). */
static int prefix_matches(struct send_ctx *c, uint64_t offset,
			  const uint8_t *theirs, struct digest *dg)
{
	struct digest copy;
	uint8_t ours[DIGEST_LEN];

	digest_init(dg);
	if (hash_ahead(c, offset, dg) == 0) {
		copy = *dg;
		digest_final(&copy, ours);
		if (digest_equal(ours, theirs))
			return 1;
	}
	ui_debug("%s: the receiver's partial data differs: sent from 0",
		 c->item.path);
	return source_seek(&c->item, 0) == 0 ? 0 : -1;
}

static int begin_item_at(struct send_ctx *c, uint64_t offset,
			 const uint8_t *prefix);

/* Starts the open item as the next file or directory; 0, or < 0 when the
 * sender refused it (reported; the caller goes on with the next item). */
static int begin_item(struct send_ctx *c)
{
	return begin_item_at(c, 0, NULL);
}

static int begin_item_at(struct send_ctx *c, uint64_t offset,
			 const uint8_t *prefix)
{
	struct digest dg;
	struct inflight *o = &c->ring[(c->head + c->count) % SENDER_WINDOW];
	struct source_item *it = &c->item;
	struct tcpx_file_meta m = {
		.size = it->size, .mode = it->mode, .mtime_sec = it->mtime_sec,
		.mtime_nsec = it->mtime_nsec, .name = (const uint8_t *)it->name,
		.name_len = (uint16_t)strnlen(it->name, TCPX_NAME_MAX + 1),
	};
	if (keep_item(o, it, sender_wire_bytes(c->s)) < 0)
		return -TCPX_E_NOMEM;
	int rc;
	if (offset && (rc = prefix_matches(c, offset, prefix, &dg)) < 0)
		offset = 0;     /* cannot seek back: the read fails it below */
	else if (offset && rc == 0)
		offset = 0;
	if (it->is_dir)
		rc = sender_begin_dir(c->s, &m, o);
	else if (offset)
		rc = sender_begin_resumed(c->s, &m, o, offset, &dg);
	else
		rc = sender_begin_file(c->s, &m, o);
	if (rc < 0) {
		int bad_name = rc == -TCPX_E_BAD_NAME;
		c->failing_dir = it->is_dir;
		report_failed(c, it->path, it->name, it->size,
			      bad_name ? TCPX_E_BAD_NAME : -rc, bad_name ?
			      "name too long or empty" : tcpx_strerror(rc), NULL, 0);
		c->failing_dir = 0;
		free(o->path);
		o->path = NULL;
		source_close(it);
		worsen(c, SEND_UNREADABLE);
		return rc;
	}
	c->count++;
	o->t0 = ui_now();
	if (it->is_dir)
		return 0;       /* one frame, nothing more to send for it */
	c->cur = o;
	c->cur_sent = c->cur_read = offset;
	c->cur_eof = 0;
	o->resumed = offset;
	/* Workers pay off from the second chunk on (a stream may have one). */
	c->cur_pooled = c->pool && sender_compressing(c->s) &&
			m.size > TCPX_CHUNK_MAX;
	struct ui_file uf = { .peer = c->peer, .path = o->path, .name = m.name,
			      .name_len = m.name_len, .size = m.size,
			      .size_unknown = m.size == TCPX_SIZE_UNKNOWN };
	ui_event(UI_FILE_START, &uf);
	return 0;
}

/* A directory for a receiver that did not grant TREE (an older tcpget):
 * the files of the tree still arrive in their places (it creates the
 * directories a name needs), so the tree is sent without its DIR frames,
 * and that is said once.  1 if the item is such a directory. */
static int tree_unsupported(struct send_ctx *c)
{
	if (!c->item.is_dir || sender_has_tree(c->s))
		return 0;
	if (!c->warned_tree)
		ui_error(c->peer, "warning: the receiver does not take directories "
			 "(no TREE capability): files are sent, empty directories "
			 "and the modes and mtimes of directories are not");
	c->warned_tree = 1;
	return 1;
}

/* A stream for a receiver that did not grant STREAM (an older tcpget):
 * it cannot take a file whose size is not known up front, and no
 * temporary file on this side will make one, so the item fails here.
 * 1 if the item is such a stream (reported, closed). */
static int stream_unsupported(struct send_ctx *c)
{
	if (c->item.size != SOURCE_SIZE_UNKNOWN || sender_has_stream(c->s))
		return 0;
	report_failed(c, c->item.path, c->item.name, c->item.size,
		      TCPX_E_UNEXPECTED, "the receiver does not take streams "
		      "of unknown size (no STREAM capability: an older "
		      "tcpget); send a regular file instead", NULL, 0);
	source_close(&c->item);
	worsen(c, SEND_REFUSED);
	return 1;
}

/* Opens the next readable item and starts it; unreadable ones are
 * reported and skipped.  0 when none could be started. */
static int begin_next(struct send_ctx *c)
{
	int rc;
	while ((rc = source_next(c->src, &c->item)) != 0) {
		if (rc < 0) {
			report_failed(c, c->item.path, NULL, 0, TCPX_E_SYSTEM,
				      c->item.why, NULL, 0);
			worsen(c, SEND_UNREADABLE);
			continue;
		}
		if (rc == SOURCE_SKIPPED) {
			ui_error(c->item.path, "warning: %s", c->item.why);
			continue;
		}
		if (tree_unsupported(c) || stream_unsupported(c))
			continue;
		if (begin_item(c) == 0)
			return 1;
	}
	return 0;
}

static struct offered *free_offer_slot(struct send_ctx *c)
{
	for (size_t i = 0; i < TCPX_OFFER_WINDOW; i++)
		if (!c->offers[i].used)
			return &c->offers[i];
	return NULL;
}

static void release_offered(struct offered *p)
{
	source_close(&p->item);
	free(p->info.path);
	p->info.path = NULL;
	p->used = 0;
}

/* Offers the next readable item (a directory waits in the window without
 * an OFFER); 0 when none is left. */
static int offer_next(struct send_ctx *c)
{
	int rc;
	while ((rc = source_next(c->src, &c->item)) != 0) {
		struct offered *p = free_offer_slot(c);
		struct source_item *it = &c->item;
		uint8_t whole[DIGEST_LEN];
		struct digest dg;

		if (rc < 0) {
			report_failed(c, it->path, NULL, 0, TCPX_E_SYSTEM,
				      it->why, NULL, 0);
			worsen(c, SEND_UNREADABLE);
			continue;
		}
		if (rc == SOURCE_SKIPPED) {
			ui_error(it->path, "warning: %s", it->why);
			continue;
		}
		if (tree_unsupported(c) || stream_unsupported(c))
			continue;
		if (!p || keep_item(&p->info, it, 0) < 0) {
			source_close(it);
			return -1;
		}
		/* Size unknown: never identical, never resumed (tcpxfer(5)). */
		int stream = it->size == SOURCE_SIZE_UNKNOWN;
		p->item = *it;
		p->item.path = p->info.path;
		p->item.name = p->info.name;
		it->fd = -1;    /* the slot has it now */
		struct tcpx_offer o = {
			.meta = { .size = it->size, .mode = it->mode,
				  .mtime_sec = it->mtime_sec,
				  .mtime_nsec = it->mtime_nsec,
				  .name = (const uint8_t *)p->info.name,
				  .name_len = (uint16_t)strnlen(p->info.name,
							TCPX_NAME_MAX + 1) },
			.policy = (uint8_t)c->opt->policy,
			.flags = c->opt->resume && !stream ? TCPX_OFFER_RESUME : 0,
		};
		if (it->is_dir) {
			if (sender_queue_dir(c->s, p) < 0)
				return -1;
			p->used = 1;
			return 1;
		}
		if (c->opt->checksum && !stream) {
			/* Read ahead once for the digest; read again to send.
			 * A stream is read once: its offer has no digest. */
			c->item = p->item;
			digest_init(&dg);
			rc = hash_ahead(c, it->size, &dg);
			if (rc == 0)
				rc = source_seek(&c->item, 0);
			c->item.fd = -1;
			if (rc < 0) {
				report_failed(c, p->info.path, p->info.name,
					      it->size, TCPX_E_SYSTEM,
					      errno ? strerror(errno) :
					      "file shrank while being read",
					      NULL, 0);
				worsen(c, SEND_UNREADABLE);
				release_offered(p);
				continue;
			}
			digest_final(&dg, whole);
			o.flags |= TCPX_OFFER_CHECKSUM;
			o.digest = whole;
		}
		rc = sender_offer(c->s, &o, p);
		if (rc < 0) {
			int bad_name = rc == -TCPX_E_BAD_NAME;
			report_failed(c, p->info.path, p->info.name, it->size,
				      bad_name ? TCPX_E_BAD_NAME : -rc, bad_name ?
				      "name too long or empty" : tcpx_strerror(rc),
				      NULL, 0);
			worsen(c, SEND_UNREADABLE);
			release_offered(p);
			continue;
		}
		p->used = 1;
		return 1;
	}
	return 0;
}

/* The window's head has its turn: a directory, or a file its ANSWER
 * lets go (from its resume offset if our prefix is the receiver's). */
static int begin_offered(struct send_ctx *c)
{
	void *cookie;
	int is_dir, disposition;
	uint64_t offset;
	const uint8_t *prefix;

	if (!sender_offer_head(c->s, &cookie, &is_dir, &disposition, &offset,
			       &prefix))
		return -1;
	struct offered *p = cookie;
	c->item = p->item;
	p->item.fd = -1;
	int rc = begin_item_at(c, disposition == TCPX_ANSWER_RESUME ? offset : 0,
			       prefix);
	release_offered(p);
	return rc == -TCPX_E_NOMEM ? -1 : 0;
}

/* Ends (or gives up) the current file: END, or ABORT with a local reason
 * (why) or because the receiver refused it (why NULL). */
static int end_current(struct send_ctx *c, int abort_it, const char *why)
{
	int rc;
	/* What was sent is what was read, all of it declared, so the copy is
	 * consistent; but it may no longer be the file (tar: "file changed as
	 * we read it"), which its verdict then says. */
	if (!abort_it)
		c->cur->changed = source_changed(&c->item);
	source_close(&c->item);
	if (c->cur_pooled && zpool_pending(c->pool))
		zpool_reset(c->pool);
	c->cur_pooled = 0;
	if (abort_it) {
		rc = sender_abort_file(c->s);
		if (why) {
			settle_failed(c, c->cur, TCPX_E_SYSTEM, why, NULL, 0);
			worsen(c, SEND_UNREADABLE);
		}
	} else {
		rc = sender_end_file(c->s);
	}
	c->cur->wire = sender_wire_bytes(c->s) - c->cur->wire;
	if (c->cur->popped) {
		free(c->cur->path);
		c->cur->path = NULL;
	}
	c->cur = NULL;
	return rc;
}

static void progress(struct send_ctx *c, size_t n)
{
	c->cur_sent += n;
	c->data_bytes += n;
	struct ui_file uf = { .peer = c->peer,
		.name = (const uint8_t *)c->cur->name,
		.name_len = strlen(c->cur->name),
		.size = c->cur->size, .done = c->cur_sent,
		.size_unknown = c->cur->size == SOURCE_SIZE_UNKNOWN };
	ui_event(UI_FILE_PROGRESS, &uf);
}

static const char *read_failure(ssize_t got)
{
	return got < 0 ? strerror(errno) : "file shrank while being sent";
}

/* A stream's end is its input's end: its size is known now, what was
 * framed. */
static int end_stream(struct send_ctx *c)
{
	c->cur->size = c->cur_sent;
	return end_current(c, 0, NULL);
}

/* A stream whose producer has nothing for us now: the loop waits for it
 * (run(): conn_pump()'s extra descriptor) rather than block in read()
 * while frames already made wait to be written and RESULTs to be read. */
static int stream_waits(const struct send_ctx *c)
{
	return c->cur->size == SOURCE_SIZE_UNKNOWN && !c->cur_eof &&
	       !source_readable(&c->item);
}

#define FEED_WAIT 2

/* One chunk of the current file, read straight into the sender's frame
 * (or its compression scratch).  1 if it went, 0 if the file ended,
 * FEED_WAIT for a stream with nothing to read yet. */
static int feed_chunk(struct send_ctx *c)
{
	if (stream_waits(c))
		return FEED_WAIT;
	size_t cap;
	uint64_t left = sender_file_left(c->s);
	uint8_t *buf = sender_chunk_buffer(c->s, &cap);
	if (cap > left)
		cap = (size_t)left;
	ssize_t got = source_read(&c->item, buf, cap);
	if (got == 0 && c->cur->size == SOURCE_SIZE_UNKNOWN)
		return end_stream(c) < 0 ? -1 : 0;
	if (got <= 0)
		return end_current(c, 1, read_failure(got)) < 0 ? -1 : 0;
	if (sender_commit_chunk(c->s, (size_t)got) < 0)
		return -1;
	progress(c, (size_t)got);
	return 1;
}

/* --streams: the next chunk goes to the connection with the most room;
 * 1 if one has room for it. */
static int pick_lane(struct send_ctx *c)
{
	if (c->lanes)
		sender_set_lane(c->s, lanes_pick(c->lanes, sender_output(c->s)));
	return sender_data_room(c->s);
}

/* The current file through the compression workers: frames what they
 * finished, in order, and hands them more to read.  1 if something was
 * framed or the file ended, 0 to wait for the socket or the workers. */
static int feed_pooled(struct send_ctx *c)
{
	const uint8_t *raw, *comp;
	size_t n, clen;
	uint8_t *buf;
	int framed = 0;

	while (pick_lane(c) &&
	       zpool_head(c->pool, &raw, &n, &comp, &clen)) {
		if (sender_commit_prepared(c->s, raw, n, comp, clen) < 0)
			return -1;
		zpool_pop(c->pool);
		progress(c, n);
		framed = 1;
	}
	while (c->cur_read < c->cur->size && !stream_waits(c) &&
	       (buf = zpool_input(c->pool))) {
		uint64_t left = c->cur->size - c->cur_read;
		ssize_t got = source_read(&c->item, buf, left < TCPX_CHUNK_MAX ?
					  (size_t)left : TCPX_CHUNK_MAX);
		if (got == 0 && c->cur->size == SOURCE_SIZE_UNKNOWN) {
			c->cur_eof = 1;         /* ends once the workers are done */
			break;
		}
		if (got <= 0)
			return end_current(c, 1, read_failure(got)) < 0 ? -1 : 1;
		zpool_submit(c->pool, (size_t)got);
		c->cur_read += (uint64_t)got;
	}
	if (c->cur_eof && zpool_pending(c->pool) == 0 && sender_has_room(c->s))
		return end_stream(c) < 0 ? -1 : 1;
	return framed;
}

/* Fills the output queue with what it holds: two full chunks, or the
 * frames of as many small files as fit, so one send() carries them.
 * 0, or -1 when the sender refused a call (an internal error). */
static int produce(struct send_ctx *c)
{
	for (;;) {
		int rc = 0;
		int offers = sender_has_offer(c->s);
		pick_lane(c);
		switch (sender_next_action(c->s, (!offers && c->cur != NULL) ||
					   source_more(c->src))) {
		case SA_WAIT:
		case SA_DONE:
			return 0;
		case SA_OFFER:
			rc = offer_next(c);
			if (rc == 0)
				continue;   /* nothing left to offer */
			rc = rc < 0 ? -1 : 0;
			break;
		case SA_BEGIN:
			if (offers) {
				rc = begin_offered(c);
				break;
			}
			if (!begin_next(c))
				continue;   /* nothing startable: BYE next */
			break;
		case SA_DATA:
			rc = c->cur_pooled ? feed_pooled(c) : feed_chunk(c);
			if ((rc == 0 && c->cur_pooled) || rc == FEED_WAIT)
				return 0;   /* wait for the workers or the input */
			break;
		case SA_END:
			rc = end_current(c, 0, NULL);
			break;
		case SA_ABORT:
			rc = end_current(c, 1, NULL);
			break;
		case SA_BYE:
			rc = sender_bye(c->s);
			lanes_bye(c->lanes);
			break;
		}
		if (rc < 0)
			return -1;
	}
}

/* A RESULT of code 0 with a message "kept both: stored as NAME": NAME,
 * escaped (it is the receiver's text). */
static const char *stored_as(const struct sender_event *ev, char *out,
			     size_t cap)
{
	static const char pre[] = "kept both: stored as ";
	if (ev->msg_len <= sizeof(pre) - 1 ||
	    memcmp(ev->msg, pre, sizeof(pre) - 1) != 0)
		return NULL;
	name_escape(ev->msg + sizeof(pre) - 1, ev->msg_len - (sizeof(pre) - 1),
		    out, cap);
	return out;
}

/* An ANSWER: SEND and RESUME wait for their turn; the others settle the
 * file here (skipped as identical, or refused), and its slot is free. */
static void on_answer(struct send_ctx *c, const struct sender_event *ev)
{
	struct offered *p = ev->cookie;
	struct ui_file uf = { .peer = c->peer, .path = p->info.path,
			      .name = (const uint8_t *)p->info.name,
			      .name_len = strlen(p->info.name),
			      .size = p->info.size,
			      .size_unknown = p->info.size == SOURCE_SIZE_UNKNOWN };

	switch (ev->disposition) {
	case TCPX_ANSWER_SEND:
	case TCPX_ANSWER_RESUME:
		return;
	case TCPX_ANSWER_SAME_TIME:
	case TCPX_ANSWER_SAME_DIGEST:
		uf.msg = ev->disposition == TCPX_ANSWER_SAME_DIGEST ?
			 "same digest" : "same size and time";
		c->skipped++;
		ui_event(UI_FILE_SKIPPED, &uf);
		break;
	default:
		report_failed(c, p->info.path, p->info.name, p->info.size,
			      ev->code, NULL, ev->msg, ev->msg_len);
		worsen(c, SEND_REFUSED);
		break;
	}
	release_offered(p);
}

static void on_result(struct send_ctx *c, const struct sender_event *ev)
{
	char kept[4 * NAME_COMPONENT_MAX + 4 * 64];
	struct inflight *o = ev->cookie;
	if (o->settled) {
		ring_pop(c);
		return;
	}
	if (ev->code == 0 && o->is_dir) {
		struct ui_file uf = { .peer = c->peer, .path = o->path,
			.name = (const uint8_t *)o->name, .name_len = strlen(o->name),
			.is_dir = 1, .seconds = ui_now() - o->t0 };
		ui_event(UI_FILE_DONE, &uf);
	} else if (ev->code == 0) {
		struct ui_file uf = { .peer = c->peer, .path = o->path,
			.name = (const uint8_t *)o->name, .name_len = strlen(o->name),
			.size = o->size, .done = o->size, .digest = ev->digest,
			.seconds = ui_now() - o->t0, .wire = o->wire,
			.changed = o->changed, .resumed_from = o->resumed,
			.stored_as = stored_as(ev, kept, sizeof(kept)) };
		c->ok++;
		ui_event(UI_FILE_DONE, &uf);
	} else {
		settle_failed(c, o, ev->code, NULL, ev->msg, ev->msg_len);
		worsen(c, ev->code == TCPX_E_DIGEST ? SEND_VERIFY : SEND_REFUSED);
	}
	ring_pop(c);
}

/* The codes of keys and encryption (man/tcpxfer.5 ERROR CODES, 12-15). */
static int security_code(int code)
{
	return code >= TCPX_E_INSECURE && code <= TCPX_E_PEER_KEY;
}

/* Compression workers, once the handshake has settled the encoding: zstd
 * if granted, else (--zstd) zlib with one warning, or none. */
static void start_pool(struct send_ctx *c)
{
	uint8_t enc = sender_encoding(c->s);
	if (c->opt->zstd && enc != TCPX_ENCODING_ZSTD)
		ui_error(c->peer, "warning: the receiver does not offer zstd "
			 "(an older tcpget): %s", enc == TCPX_ENCODING_ZLIB ?
			 "compressing with zlib instead" : "sending uncompressed");
	if (enc == TCPX_ENCODING_RAW || c->pool)
		return;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int workers = cpus < 1 ? 1 : cpus > 4 ? 4 : (int)cpus;
	c->pool = zpool_new(enc, enc == TCPX_ENCODING_ZLIB && c->opt->zstd ?
			    TCPX_ZLIB_FALLBACK_LEVEL : c->opt->level,
			    workers, 2 * workers);
}

/* STREAMS: the extra connections --streams asks for, as many as the
 * receiver takes. */
static void open_lanes(struct send_ctx *c, const struct sender_event *ev)
{
	unsigned want = c->opt->streams > 1 ? c->opt->streams - 1 : 0;
	unsigned n = want < ev->offset ? want : (unsigned)ev->offset;
	if (want == 0 || c->lanes)
		return;
	if (n < want)
		ui_error(c->peer, "warning: the receiver takes %u extra "
			 "connections: --streams %u sends over %u", n,
			 c->opt->streams, n + 1);
	if (n)
		/* Each asks for what the session got, so it gets the same. */
		c->lanes = lanes_open(c->conn.fd, n, ev->token, sender_caps(c->s),
				      sender_caps(c->s), &c->lim,
				      c->opt->sk ? &c->sec : NULL, c->peer);
}

/* Handles every event the buffered input holds; 1 when the session ended. */
static int drain_events(struct send_ctx *c)
{
	struct sender_event ev;
	char m[4 * TCPX_MSG_MAX + 4];
	for (;;) {
		sender_next(c->s, &ev);
		switch (ev.type) {
		case SEV_NONE:
			return 0;
		case SEV_HELLO:
			conn_handshake_done(&c->conn);
			ui_debug("%s: session open (TCPX 1, capabilities 0x%llx)",
				 c->peer, (unsigned long long)ev.caps);
			if ((ev.caps & TCPX_CAP_SECURE) &&
			    conn_secure_start(&c->conn) < 0) {
				sender_fail(c->s, TCPX_E_INTERNAL, "handshake");
				ui_error(c->peer, "%s", conn_secure_why(&c->conn));
				worsen(c, SEND_SECURITY);
				return 1;
			}
			if (ev.caps & TCPX_CAP_SECURE)
				ui_debug("%s: SECURE, records sealed with %s",
					 c->peer, ev.caps & TCPX_CAP_AES256GCM ?
					 "AES-256-GCM" : "XChaCha20-Poly1305");
			if (!(ev.caps & TCPX_CAP_OFFER) &&
			    (c->opt->policy || c->opt->checksum || c->opt->resume))
				ui_error(c->peer, "warning: the receiver takes no "
					 "offers (an older tcpget): --overwrite, "
					 "--keep-both, --checksum and --resume do "
					 "nothing; existing files are refused");
			start_pool(c);
			if (c->opt->streams > 1 && !(ev.caps & TCPX_CAP_MULTI))
				ui_error(c->peer, "warning: the receiver takes no "
					 "extra connections (an older tcpget, "
					 "--max-streams 0, or --once): --streams "
					 "%u sends over one", c->opt->streams);
			break;
		case SEV_STREAMS:
			open_lanes(c, &ev);
			break;
		case SEV_RESULT:
			on_result(c, &ev);
			break;
		case SEV_ANSWER:
			on_answer(c, &ev);
			break;
		case SEV_BYE:
			return 1;
		case SEV_PEER_ERROR:
			name_escape(ev.msg ? ev.msg : (const uint8_t *)"",
				    ev.msg_len, m, sizeof(m));
			ui_error(c->peer, "receiver ended the session: %s%s%s",
				 tcpx_strerror(ev.code), ev.msg_len ? ": " : "", m);
			worsen(c, security_code(ev.code) ? SEND_SECURITY :
			       SEND_PROTOCOL);
			return 1;
		case SEV_PROTO_ERROR:
			if (ev.code == TCPX_E_INSECURE)
				ui_error(c->peer, "%.*s", (int)ev.msg_len,
					 (const char *)ev.msg);
			else
				ui_error(c->peer, "protocol error from receiver: %.*s",
					 (int)ev.msg_len, (const char *)ev.msg);
			c->ended_code = ev.code;
			worsen(c, security_code(ev.code) ? SEND_SECURITY :
			       SEND_PROTOCOL);
			return 1;
		}
	}
}

/* Every file has its verdict (BYE queued, no RESULT outstanding): how the
 * connection ends can no longer change an outcome. */
static int all_verdicts_in(const struct send_ctx *c)
{
	return sender_state(c->s) == SS_BYE_SENT && sender_outstanding(c->s) == 0;
}

/* The connection ended before the receiver's BYE (rc from conn_pump()).
 * Giving up on a silent receiver is said on the wire too (tcpxfer(5):
 * ERROR 8, then close).  Before every verdict it is a connection failure;
 * after, only a warning. */
static void connection_ended(struct send_ctx *c, int rc, int timeout_ms)
{
	const char *why = rc == -TCPX_E_CLOSED ?
			  "the receiver closed the connection" :
			  rc == -TCPX_E_TIMEOUT ? "the receiver went silent" :
			  net_strerror(errno);
	int settled = all_verdicts_in(c);      /* before sender_fail() */
	char m[96];

	if (security_code(-rc) || (c->conn.sec && *conn_secure_why(&c->conn))) {
		/* The handshake or a record failed: the receiver hears
		 * why (sealed if it expects records), and so does the user. */
		int code = security_code(-rc) ? -rc : TCPX_E_AUTH;
		sender_fail(c->s, code, "");    /* the code says it all */
		c->ended_code = code;
		ui_error(c->peer, "%s", conn_secure_why(&c->conn));
		worsen(c, SEND_SECURITY);
		return;
	}

	if (rc == -TCPX_E_JOIN_LOST) {
		/* The receiver lacks what that connection carried. */
		sender_fail(c->s, TCPX_E_JOIN_LOST, "an extra connection was lost");
		c->ended_code = TCPX_E_JOIN_LOST;
		ui_error(c->peer, "an extra connection of the session was lost: "
			 "session ended");
		worsen(c, SEND_CONNECTION);
		return;
	}
	if (rc == -TCPX_E_TIMEOUT) {
		conn_secure_abort(&c->conn);
		snprintf(m, sizeof(m), "idle timeout: nothing moved for %d s",
			 timeout_ms / 1000);
		sender_fail(c->s, TCPX_E_TIMEOUT, m);
	}
	if (settled) {
		ui_error(c->peer, "warning: %s before its BYE; every file has its verdict",
			 why);
		return;
	}
	if (rc == -TCPX_E_TIMEOUT)
		ui_error(c->peer, "timed out: the receiver neither accepted nor sent a byte for %d s",
			 timeout_ms / 1000);
	else if (rc == -TCPX_E_CLOSED)
		ui_error(c->peer, "connection closed by the receiver");
	else
		ui_error(c->peer, "%s", why);
	worsen(c, SEND_CONNECTION);
}

/* What conn_pump() waits for besides the socket: the input of a stream
 * that has nothing to read (unless workers still compress some of it:
 * their end wakes the loop, which then looks at the input again), else
 * the workers. */
static int extra_fd(const struct send_ctx *c)
{
	if (c->cur && c->cur->size == SOURCE_SIZE_UNKNOWN && !c->cur_eof &&
	    !(c->cur_pooled && zpool_pending(c->pool)))
		return c->item.fd;
	return c->pool ? zpool_fd(c->pool) : -1;
}

/* 0 once the session is over (an event, or our own failure, said why),
 * else why the connection ended (conn_pump()'s error). */
static int run(struct send_ctx *c)
{
	for (;;) {
		if (produce(c) < 0) {
			sender_fail(c->s, TCPX_E_INTERNAL, "internal error");
			c->ended_code = TCPX_E_INTERNAL;
			ui_error(c->peer, "internal error: the sender refused a step");
			worsen(c, SEND_PROTOCOL);
			return 0;
		}
		int extra = extra_fd(c);
		int ev = c->lanes ? lanes_pump(c->lanes, &c->conn, extra) :
			 conn_pump(&c->conn, extra);
		if (ev < 0)
			return ev;
		if ((ev & CONN_EXTRA) && c->pool && extra == zpool_fd(c->pool))
			zpool_ack(c->pool);
		if ((ev & CONN_READ) && drain_events(c))
			return 0;
	}
}

/* After the session: the files that never got their verdict, and why.
 * If tcpput ended the session itself (it gave up, or the receiver broke
 * the protocol), the receiver did not "close" anything: say so. */
static void settle_rest(struct send_ctx *c, int rc)
{
	int code = TCPX_E_CLOSED;
	const char *msg = "no verdict from the receiver";

	if (rc == -TCPX_E_TIMEOUT) {
		code = TCPX_E_TIMEOUT;
		msg = "no verdict: tcpput gave up waiting for the receiver";
	} else if (c->ended_code) {
		code = c->ended_code;
		msg = "no verdict: tcpput ended the session";
	}
	if (c->cur && c->cur->popped)
		free(c->cur->path);
	c->cur = NULL;
	while (c->count) {
		struct inflight *o = &c->ring[c->head];
		if (!o->settled) {
			settle_failed(c, o, code, msg, NULL, 0);
			worsen(c, SEND_CONNECTION);
		}
		ring_pop(c);
	}
	/* Offered, never begun (the window is in item order; so is this,
	 * but for the slots skipped answers freed). */
	for (size_t i = 0; i < TCPX_OFFER_WINDOW; i++) {
		struct offered *p = &c->offers[i];
		if (!p->used)
			continue;
		c->failing_dir = p->info.is_dir;
		report_failed(c, p->info.path, p->info.name, p->info.size, code,
			      msg, NULL, 0);
		c->failing_dir = 0;
		worsen(c, SEND_CONNECTION);
		release_offered(p);
	}
}

int send_loop_run(int fd, const char *peer, const struct send_options *opt,
		  struct source *src)
{
	struct send_ctx *c = calloc(1, sizeof(*c));
	struct conn_limits lim = { .idle_ms = opt->timeout_ms };
	unsigned items;
	uint64_t total = 0;

	uint64_t want = TCPX_CAP_OFFER | (opt->recursive ? TCPX_CAP_TREE : 0) |
			(opt->stream ? TCPX_CAP_STREAM : 0) |
			(opt->zstd ? TCPX_CAP_ZSTD : 0) |
			(opt->sk ? TCPX_CAP_SECURE : 0) |
			(opt->sk && !opt->no_aes &&
			 crypto_aead_aes256gcm_is_available() ?
			 TCPX_CAP_AES256GCM : 0);
	struct conn_secure_config sec = {
		.role = TCPX_ROLE_SENDER, .sk = opt->sk, .pk = opt->pk,
		.judge = opt->judge, .judge_arg = opt->judge_arg,
	};

	if (opt->streams > 1)
		want |= TCPX_CAP_MULTI;
	if (!c || !(c->s = sender_new(want, opt->level))) {
		ui_error(NULL, "out of memory");
		free(c);
		return SEND_CONNECTION;
	}
	c->peer = peer;
	c->src = src;
	c->opt = opt;
	c->lim = lim;
	c->sec = sec;
	for (size_t i = 0; i < TCPX_OFFER_WINDOW; i++)
		c->offers[i].item.fd = -1;
	c->item.fd = -1;
	conn_init(&c->conn, fd, sender_reader(c->s), sender_output(c->s), &lim, -1);
	if (opt->sk && conn_secure_enable(&c->conn, &sec) < 0) {
		ui_error(NULL, "out of memory");
		sender_free(c->s);
		free(c);
		return SEND_CONNECTION;
	}
	source_totals(src, &items, ui_progress_enabled() ? &total : NULL);
	double t0 = ui_now();
	ui_batch_begin(items, total);
	int rc = run(c);
	if (rc < 0)
		connection_ended(c, rc, opt->timeout_ms);
	/* Best effort: the ERROR we queued (a violation, a timeout). */
	if (sender_state(c->s) == SS_FAILED)
		conn_flush(&c->conn, ERROR_FLUSH_MS);
	source_close(&c->item);
	ui_debug("%s: %llu bytes on the wire for %llu bytes of file data", peer,
		 (unsigned long long)sender_wire_bytes(c->s),
		 (unsigned long long)c->data_bytes);
	settle_rest(c, rc);
	ui_batch_end(c->ok, c->failed, c->data_bytes, sender_wire_bytes(c->s),
		     ui_now() - t0, c->status);
	lanes_close(c->lanes, ERROR_FLUSH_MS);
	int status = c->status;
	zpool_free(c->pool);
	conn_free(&c->conn);
	sender_free(c->s);
	free(c->hashbuf);
	free(c);
	return status;
}
