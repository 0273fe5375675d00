/* serve_loop: the receiving role's loop (serve_loop.h). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "conn.h"
#include "digest.h"
#include "error.h"
#include "names.h"
#include "net.h"
#include "receiver.h"
#include "serve_loop.h"
#include "ui.h"

/* How often deadlines are looked at: their resolution. */
#define TICK_MS 100
/* Bytes one session may read per turn, and turns per wake-up, so one fast
 * sender cannot starve the others on its loop. */
#define IO_BUDGET (256u * 1024u)
#define TURNS_MAX 8
/* The last replies of a session that ended by itself (BYE, error). */
#define LINGER_MS 1000
/* A connection still in its handshake this long makes no progress a full
 * server should wait for: it may be dropped for a newcomer. */
#define STALLED_MS 1000
/* Resumes answered whose RESUME has not come, per session: each holds its
 * partial file open and locked (so no other connection writes it
 * meanwhile) and the digest state over its prefix.  Past this, an OFFER
 * asking to resume is answered SEND (from 0). */
#define HELD_MAX 4

/* Extra connections must join within this long of the session's
 * HELLO (man/tcpxfer.5, SEVERAL CONNECTIONS). */
#define JOIN_WINDOW_MS 10000

struct serve_loop;

struct held {
	uint32_t id;
	struct store_file f;
	struct digest dg;
};

struct session {
	struct tcpx_receiver *r;
	struct conn conn;
	struct store *st;
	const struct serve_options *opt;
	struct store_file f;
	struct store_budget budget;     /* this connection's, for the store */
	struct store_dircache dc;       /* the directories of its last name */
	char peer[NET_ADDR_MAX];
	struct sockaddr_storage src;
	struct tcpx_file_meta meta;     /* current file (name copied) */
	uint8_t *name;                  /* TCPX_NAME_MAX, at the first file */
	double t0;
	uint64_t done;
	uint64_t conn_id;               /* for ui's per-connection summary */
	int is_dir;                     /* the current item is a DIR */
	int stream;                     /* the current file's size is unknown */
	int closing;                    /* over: only the last replies leave */
	int status;                     /* enum session_status, the worst */
	int64_t close_by;
	uint32_t events;                /* epoll interest now */
	struct session *prev, *next;
	struct held *held;              /* HELD_MAX, at the first resume */
	unsigned held_head, held_count;
	/* Several connections (TCPX_CAP_MULTI). */
	struct serve_loop *loop;        /* ours; NULL under serve_loop_run() */
	int registered;                 /* our token is in the registry */
	uint8_t token[TCPX_JOIN_TOKEN_LEN];
	struct session **lanes;         /* joined: opt->max_streams slots */
	uint8_t *rbuf;                  /* TCPX_CHUNK_MAX: read-backs */
	struct session *primary;        /* a joined connection's session */
	unsigned lane_index;            /* its JOIN's index */
	uint64_t join_sid;              /* moving: the session to join */
	struct serve_loop *loop_to;     /* moving: the loop it is on */
	int moving;                     /* to be handed to another loop */
	int parked;                     /* a chunk waits for its file */
	struct receiver_event held_chunk;       /* its data in park_buf */
	uint8_t *park_buf;              /* TCPX_CHUNK_MAX, at the first */
	int kicked;                     /* run once more this turn */
	int lane_bye;                   /* joined, ended with BYE */
};

/* The file in progress ends without a verdict: its partial data stays,
 * but only as far as it is whole (chunks after a gap are cut off). */
static void keep_file(struct session *s)
{
	store_keep_prefix(&s->f, receiver_hashed(s->r));
}

/* Every held partial goes back to the disk as it is (store_keep). */
static void release_held(struct session *s)
{
	for (; s->held_count; s->held_count--) {
		store_keep(&s->held[s->held_head].f);
		s->held_head = (s->held_head + 1) % HELD_MAX;
	}
}

/* ---- one session ----------------------------------------------------- */

static void worsen(struct session *s, int status)
{
	if (status > s->status)
		s->status = status;
}

/* A file's verdict, for the session's status. */
static void file_verdict(struct session *s, int code)
{
	if (code)
		worsen(s, code == TCPX_E_DIGEST ? SESSION_DIGEST :
		       SESSION_FILE_FAILED);
}

static void log_file(struct session *s, enum ui_event_type t, int code,
		     const char *msg, const uint8_t *digest)
{
	if (t != UI_FILE_START && t != UI_FILE_PROGRESS)
		file_verdict(s, code);
	struct ui_file uf = { .peer = s->peer, .name = s->name,
			      .is_dir = s->is_dir,
			      .name_len = s->meta.name_len, .size = s->meta.size,
			      .size_unknown = s->stream,
			      .done = s->done, .digest = digest,
			      .seconds = ui_now() - s->t0, .code = code,
			      .msg = msg, .conn = s->conn_id };
	ui_event(t, &uf);
}

/* 0, or -1 when there is no memory for the name (the session ends). */
static int remember(struct session *s, const struct tcpx_file_meta *m)
{
	if (!s->name && !(s->name = malloc(TCPX_NAME_MAX)))
		return -1;
	s->meta = *m;
	memcpy(s->name, m->name, m->name_len);
	s->meta.name = s->name;
	s->t0 = ui_now();
	s->done = 0;
	s->is_dir = 0;
	s->stream = 0;
	return 0;
}

/* What the disk said about a failure (store keeps errno, or its own
 * words for a limit), where that explains it; the receiver's table words
 * the others. */
static const char *disk_detail(const struct session *s, int code)
{
	return code == TCPX_OK || code == TCPX_E_EXISTS ||
	       code == TCPX_E_DIGEST ? NULL :
	       s->f.why ? s->f.why : strerror(errno);
}

/* The disk failed the current file. */
static void disk_failed(struct session *s, int rc)
{
	const char *m = receiver_file_fail(s->r, -rc, disk_detail(s, -rc));
	store_discard(&s->f);
	log_file(s, UI_FILE_FAILED, -rc, m, NULL);
}

/* The file's data is complete: commit it if the digests matched, and
 * report the one verdict to the sender and the log. */
static void file_complete(struct session *s, const struct receiver_event *ev)
{
	int code = ev->code;
	char kept[TCPX_MSG_MAX];
	const char *detail;
	if (s->stream) {        /* a stream's size, known now */
		s->meta.size = s->done;
		s->stream = 0;
	}
	if (code == 0)
		code = -store_commit(s->st, &s->f, s->meta.mtime_sec,
				     s->meta.mtime_nsec);
	else
		store_discard(&s->f);
	detail = disk_detail(s, code);
	if (code == 0 && s->f.stored_as[0]) {
		/* keep-both: the RESULT says where it went (tcpxfer(5)) */
		const uint8_t *slash = memrchr(s->name, '/', s->meta.name_len);
		int dirlen = slash ? (int)(slash - s->name) + 1 : 0;
		snprintf(kept, sizeof(kept), "kept both: stored as %.*s%s",
			 dirlen, (const char *)s->name, s->f.stored_as);
		detail = kept;
	}
	const char *m = receiver_file_done(s->r, code, detail);
	log_file(s, code ? UI_FILE_FAILED : UI_FILE_DONE, code, m,
		 code ? NULL : ev->digest);
}

static void log_skipped(struct session *s, int disposition)
{
	struct ui_file uf = { .peer = s->peer, .name = s->name,
			      .name_len = s->meta.name_len, .size = s->meta.size,
			      .msg = disposition == TCPX_ANSWER_SAME_DIGEST ?
				     "same digest" : "same size and time",
			      .conn = s->conn_id };
	ui_event(UI_FILE_SKIPPED, &uf);
}

/* Partial data of this offer to resume from: answers RESUME (1) with the
 * prefix's digest, holding the partial locked until its RESUME or FILE;
 * 0 to answer SEND. */
static int try_resume(struct session *s, const struct tcpx_offer *o,
		      int overwrite, uint8_t prefix[DIGEST_LEN])
{
	struct store_want w = { .overwrite = overwrite,
				.keep_both = o->policy == TCPX_POLICY_KEEP_BOTH,
				.resume = 1 };
	uint8_t id[STORE_PARTIAL_ID_LEN];
	struct held *h;
	struct digest copy;

	if (!(o->flags & TCPX_OFFER_RESUME) || !s->st->keep_partial ||
	    o->meta.size <= STORE_UNNAMED_MAX || s->held_count == HELD_MAX)
		return 0;
	if (!s->held && !(s->held = calloc(HELD_MAX, sizeof(*s->held))))
		return 0;
	h = &s->held[(s->held_head + s->held_count) % HELD_MAX];
	store_partial_id(o->meta.name, o->meta.name_len, o->meta.size,
			 o->meta.mtime_sec, o->meta.mtime_nsec, id);
	w.partial_id = id;
	if (store_create_as(s->st, o->meta.name, o->meta.name_len, o->meta.mode,
			    o->meta.size, &s->budget, &w, &h->f) < 0)
		return 0;       /* FILE will meet the same failure and say it */
	if (!h->f.partial || h->f.have == 0 ||
	    store_resume(&h->f, h->f.have, &h->dg) < 0) {
		store_discard(&h->f);
		return 0;
	}
	copy = h->dg;
	digest_final(&copy, prefix);
	h->id = o->meta.id;
	s->held_count++;
	return 1;
}

/* An OFFER: what its final name holds decides (receiver_decide()), and
 * partial data may turn a SEND into a RESUME. */
static void offer_arrived(struct session *s, const struct receiver_event *ev)
{
	const struct tcpx_offer *o = &ev->offer;
	struct receiver_found found = { 0 };
	struct store_found sf;
	uint8_t existing[DIGEST_LEN], prefix[DIGEST_LEN];
	const char *msg = NULL;
	int code = 0, overwrite = 0, disp;

	int rc = store_lookup_in(s->st, &s->dc, o->meta.name, o->meta.name_len,
				 &sf);
	if (rc < 0) {
		code = -rc;
		disp = TCPX_ANSWER_REFUSED;
		msg = rc == -TCPX_E_DENIED ? NULL :
		      sf.why ? sf.why : strerror(errno);
	} else {
		found.kind = sf.kind;
		found.size = sf.size;
		found.mtime_sec = sf.mtime_sec;
		found.mtime_nsec = sf.mtime_nsec;
		if ((o->flags & TCPX_OFFER_CHECKSUM) && sf.kind == 1 &&
		    sf.size == o->meta.size &&
		    store_digest_of(s->st, o->meta.name, o->meta.name_len,
				    existing) == 0)
			found.digest = existing;
		/* A store that replaces files (tcpget --overwrite) does so
		 * whatever the sender asks, as before offers. */
		disp = receiver_decide(o, &found, s->st->overwrite ?
				       RECV_FORCE_OVERWRITE :
				       (enum receiver_overwrite)
				       s->opt->allow_overwrite, &overwrite,
				       &code, &msg);
	}
	uint64_t offset = 0;
	/* A stream is never resumed (its size is unknown): sent whole. */
	if (disp == TCPX_ANSWER_SEND && !ev->stream &&
	    try_resume(s, o, overwrite, prefix)) {
		disp = TCPX_ANSWER_RESUME;
		offset = s->held[(s->held_head + s->held_count - 1) %
				 HELD_MAX].f.have;
	}
	msg = receiver_answer(s->r, disp, code, overwrite, offset, prefix, msg);
	if (disp == TCPX_ANSWER_SAME_TIME || disp == TCPX_ANSWER_SAME_DIGEST)
		log_skipped(s, disp);
	else if (disp == TCPX_ANSWER_REFUSED)
		log_file(s, UI_FILE_FAILED, code, msg, NULL);
}

/* A file begins: a new temporary file, or, after an OFFER, its partial
 * (the one held for a RESUME, or a fresh one of its identity). */
static int file_begins(struct session *s, const struct receiver_event *ev)
{
	uint8_t id[STORE_PARTIAL_ID_LEN];
	struct store_want w = { .overwrite = ev->overwrite,
				.keep_both = ev->keep_both,
				.stream = ev->stream };
	struct held *h = s->held_count ? &s->held[s->held_head] : NULL;

	if (h && h->id == ev->meta.id) {
		/* The answer was RESUME: from its offset, or from 0 when the
		 * sender's prefix differed (FILE). */
		s->f = h->f;
		s->held_head = (s->held_head + 1) % HELD_MAX;
		s->held_count--;
		if (ev->offset) {
			receiver_set_prefix(s->r, &h->dg);
			s->done = ev->offset;
			return 0;
		}
		return store_restart(&s->f);
	}
	if (ev->offset) {       /* cannot be: RESUME only after our RESUME */
		errno = EINVAL;
		return -TCPX_E_IO;
	}
	/* After an OFFER its lookup decided already: no second look. */
	w.looked_up = ev->offered;
	w.cache = &s->dc;
	/* A stream is never resumed: no partial data of it is kept. */
	if (ev->offered && !ev->stream) {
		store_partial_id(ev->meta.name, ev->meta.name_len, ev->meta.size,
				 ev->meta.mtime_sec, ev->meta.mtime_nsec, id);
		w.partial_id = id;
	}
	return store_create_as(s->st, ev->meta.name, ev->meta.name_len,
			       ev->meta.mode, ev->meta.size, &s->budget, &w,
			       &s->f);
}

/* A directory of a tree (TCPX_CAP_TREE): made or updated through the
 * store at once, and its verdict sent in turn. */
static int dir_arrived(struct session *s, const struct receiver_event *ev)
{
	const char *why, *detail = NULL, *m;
	int code;

	if (remember(s, &ev->meta) < 0)
		return -1;
	s->is_dir = 1;
	code = -store_dir(s->st, ev->meta.name, ev->meta.name_len,
			  ev->meta.mode, ev->meta.mtime_sec, ev->meta.mtime_nsec,
			  &s->budget, &why);
	if (code == TCPX_E_EXISTS)
		detail = "exists and is not a directory";
	else if (code)
		detail = why ? why : strerror(errno);
	m = receiver_file_done(s->r, code, detail);
	log_file(s, code ? UI_FILE_FAILED : UI_FILE_DONE, code, m, NULL);
	return 0;
}

static void session_ended(struct session *s, const struct receiver_event *ev)
{
	char m[4 * TCPX_MSG_MAX + 4];
	/* Data that broke the protocol is not kept for a resume. */
	if (ev->type == REV_FATAL)
		store_discard(&s->f);
	else
		keep_file(s);
	release_held(s);
	if (ev->type == REV_BYE) {
		ui_debug("%s: session closed", s->peer);
		return;
	}
	worsen(s, SESSION_PROTOCOL);
	if (ev->type == REV_FATAL) {
		if (strcmp(ev->msg, tcpx_strerror(ev->code)) == 0)
			ui_error(s->peer, "%s", ev->msg);
		else
			ui_error(s->peer, "%s: %s", tcpx_strerror(ev->code), ev->msg);
	} else {
		name_escape(ev->peer_msg, ev->peer_msg_len, m, sizeof(m));
		ui_error(s->peer, "sender ended the session: %s%s%s",
			 tcpx_strerror(ev->code), ev->peer_msg_len ? ": " : "", m);
	}
}

/* ---- several connections per session ----------------------------------- */

/* The sessions that granted MULTI, by join token: a joining connection
 * may arrive on any loop.  Process-wide, under one lock; small (one entry
 * per session that may still be joined). */
struct join_entry {
	uint8_t token[TCPX_JOIN_TOKEN_LEN];
	struct serve_loop *loop;
	uint64_t sid;
	unsigned max;
	uint64_t used;          /* bit i-1: index i has joined */
	int64_t until;          /* joins after this are refused */
	struct join_entry *next;
};
static pthread_mutex_t join_lock = PTHREAD_MUTEX_INITIALIZER;
static struct join_entry *joins;

static void join_register(struct session *s)
{
	struct join_entry *e = calloc(1, sizeof(*e));
	if (!e)
		return;         /* nobody can join: the session goes on alone */
	memcpy(e->token, s->token, sizeof(e->token));
	e->loop = s->loop;
	e->sid = s->conn_id;
	e->max = s->opt->max_streams;
	e->until = conn_now() + JOIN_WINDOW_MS;
	pthread_mutex_lock(&join_lock);
	e->next = joins;
	joins = e;
	pthread_mutex_unlock(&join_lock);
	s->registered = 1;
}

static void join_unregister(struct session *s)
{
	if (!s->registered)
		return;
	pthread_mutex_lock(&join_lock);
	for (struct join_entry **p = &joins; *p; p = &(*p)->next)
		if ((*p)->sid == s->conn_id) {
			struct join_entry *e = *p;
			*p = e->next;
			free(e);
			break;
		}
	pthread_mutex_unlock(&join_lock);
	s->registered = 0;
}

/* A JOIN: the session it names, if it may join (index unused, in time,
 * within the count): 0 with *loop and *sid, else why not. */
static const char *join_find(const uint8_t *token, unsigned index,
			     struct serve_loop **loop, uint64_t *sid)
{
	const char *why = "unknown join token";
	struct join_entry *found = NULL;
	pthread_mutex_lock(&join_lock);
	/* Every entry compared in constant time: the time taken says
	 * nothing about how much of a token was right. */
	for (struct join_entry *e = joins; e; e = e->next)
		if (sodium_memcmp(e->token, token, TCPX_JOIN_TOKEN_LEN) == 0)
			found = e;
	if (found) {
		if (index > found->max)
			why = "join index beyond the connections granted";
		else if (found->used & (UINT64_C(1) << (index - 1)))
			why = "join index already used";
		else if (conn_now() > found->until)
			why = "too late to join the session";
		else {
			found->used |= UINT64_C(1) << (index - 1);
			*loop = found->loop;
			*sid = found->sid;
			why = NULL;
		}
	}
	pthread_mutex_unlock(&join_lock);
	return why;
}

/* The session's receiver failed on a joined connection's data (or lost
 * one): it ends, its partial data kept as far as it is whole (or
 * dropped, for data that broke the protocol). */
static void primary_fails(struct session *p, int code, const char *msg,
			  int discard)
{
	if (p->closing)
		return;
	worsen(p, code == TCPX_E_JOIN_LOST ? SESSION_CONNECTION :
	       SESSION_PROTOCOL);
	receiver_fail(p->r, code, msg);
	ui_error(p->peer, "%s", msg);
	if (discard)
		store_discard(&p->f);
	p->kicked = 1;
}

/* A joined connection's chunk for its session: 0 when handled (written,
 * dropped), 1 when it must wait for its file to begin. */
static int lane_chunk(struct session *l, const struct receiver_event *ev)
{
	struct session *p = l->primary;
	int rc;
	if (!p || p->closing)
		return 0;
	rc = receiver_place(p->r, ev->id, ev->offset, ev->data, ev->len);
	if (rc == 1)
		return 1;
	if (rc < 0) {
		primary_fails(p, TCPX_E_PLACE, "joined connection: data placed "
			      "outside the file, twice, or with too many gaps", 1);
		return 0;
	}
	if (rc == 0 && store_file_active(&p->f)) {
		int w = store_write_at(&p->f, ev->data, ev->len, ev->offset);
		if (w < 0)
			disk_failed(p, w);
		p->done = receiver_arrived(p->r);
	}
	p->kicked = 1;  /* read-backs, or the END it waited for */
	return 0;
}

/* A REV_READBACK: the bytes after a gap that just filled, from the
 * temporary file, into the digest. */
static int read_back(struct session *s, const struct receiver_event *ev)
{
	if (!store_file_active(&s->f)) {
		/* failed and discarded meanwhile: its RESULT is out */
		receiver_file_fail(s->r, TCPX_E_IO, "temporary file lost");
		return 0;
	}
	if (!s->rbuf && !(s->rbuf = malloc(TCPX_CHUNK_MAX)))
		return -1;
	ssize_t got = store_read_at(&s->f, s->rbuf, ev->len, ev->offset);
	if (got <= 0) {
		disk_failed(s, -TCPX_E_IO);
		return 0;
	}
	receiver_readback(s->r, s->rbuf, (size_t)got);
	return 0;
}

static void kick_lanes(struct session *s)
{
	for (unsigned i = 0; s->lanes && i < s->opt->max_streams; i++)
		if (s->lanes[i] && s->lanes[i]->parked)
			s->lanes[i]->kicked = 1;
}

/* The session ends for want of memory: 1, for on_event(). */
static int out_of_memory(struct session *s)
{
	receiver_fail(s->r, TCPX_E_BUSY, "receiver out of memory");
	ui_error(s->peer, "out of memory");
	return 1;
}

/* Acts on one receiver event; 1 when the session is over. */
static int on_event(struct session *s, const struct receiver_event *ev)
{
	int rc;
	switch (ev->type) {
	case REV_NONE:
	case REV_SKIPPED:
		return 0;
	case REV_HELLO:
		conn_handshake_done(&s->conn);
		ui_debug("%s: session open", s->peer);
		if (ev->caps & TCPX_CAP_MULTI)
			join_register(s);
		if ((ev->caps & TCPX_CAP_SECURE) &&
		    (rc = conn_secure_start(&s->conn)) < 0) {
			receiver_fail(s->r, -rc, conn_secure_why(&s->conn));
			ui_error(s->peer, "%s", conn_secure_why(&s->conn));
			return 1;
		}
		return 0;
	case REV_DIR:
		if (dir_arrived(s, ev) == 0)
			return 0;
		return out_of_memory(s);
	case REV_FILE:
	case REV_REFUSED:
		if (remember(s, &ev->meta) < 0) {
			return out_of_memory(s);
		}
		s->stream = ev->stream;
		if (ev->type == REV_REFUSED) {
			s->is_dir = ev->is_dir;
			log_file(s, UI_FILE_FAILED, ev->code, ev->msg, NULL);
			return 0;
		}
		log_file(s, UI_FILE_START, 0, NULL, NULL);
		rc = file_begins(s, ev);
		if (rc < 0)
			disk_failed(s, rc);
		kick_lanes(s);  /* chunks of it may wait there */
		return 0;
	case REV_OFFER:
		if (remember(s, &ev->meta) < 0) {
			return out_of_memory(s);
		}
		s->stream = ev->stream;
		offer_arrived(s, ev);
		return 0;
	case REV_DATA:
		if (!store_file_active(&s->f))
			return 0;
		rc = ev->placed ? store_write_at(&s->f, ev->data, ev->len,
						 ev->offset) :
		     store_write(&s->f, ev->data, ev->len);
		if (rc < 0)
			disk_failed(s, rc);
		s->done = ev->placed ? receiver_arrived(s->r) : s->done + ev->len;
		return 0;
	case REV_READBACK:
		if (read_back(s, ev) == 0)
			return 0;
		return out_of_memory(s);
	case REV_JOIN: {
		const char *why;
		join_unregister(s);     /* a joined connection has no token */
		if (!s->loop)
			why = "this receiver serves one connection (--once)";
		else
			why = join_find(ev->token, ev->index, &s->loop_to,
					&s->join_sid);
		if (why) {
			receiver_fail(s->r, TCPX_E_JOIN, why);
			ui_error(s->peer, "JOIN refused: %s", why);
			worsen(s, SESSION_PROTOCOL);
			return 1;
		}
		s->lane_index = ev->index;
		s->moving = 1;
		return 0;
	}
	case REV_CHUNK:
		if (lane_chunk(s, ev) == 1) {
			/* Copied: the reader's buffer moves under the
			 * pointer (conn_events() makes room in it). */
			if (!s->park_buf && !(s->park_buf = malloc(TCPX_CHUNK_MAX)))
				return out_of_memory(s);
			memcpy(s->park_buf, ev->data, ev->len);
			s->held_chunk = *ev;
			s->held_chunk.data = s->park_buf;
			s->parked = 1;
		}
		return 0;
	case REV_END:
		file_complete(s, ev);
		return 0;
	case REV_ABORTED:
		store_discard(&s->f);
		log_file(s, UI_FILE_FAILED, TCPX_E_ABORTED, NULL, NULL);
		return 0;
	case REV_FAILED:        /* a stream past --max-size */
		store_discard(&s->f);
		log_file(s, UI_FILE_FAILED, ev->code, ev->msg, NULL);
		return 0;
	case REV_BYE:
		if (s->primary)
			s->lane_bye = 1;
		session_ended(s, ev);
		return 1;
	case REV_FATAL:
	case REV_PEER_ERROR:
		session_ended(s, ev);
		return 1;
	}
	return 1;
}

/* Handles every event the buffered bytes hold; 1 when the session ended. */
static int drain(struct session *s)
{
	struct receiver_event ev;
	if (s->parked) {        /* a joined connection's chunk waits */
		if (lane_chunk(s, &s->held_chunk) == 1)
			return 0;
		s->parked = 0;
	}
	for (;;) {
		receiver_next(s->r, &ev);
		if (ev.type == REV_NONE)
			return 0;
		if (on_event(s, &ev))
			return 1;
		if (s->moving || s->parked)
			return 0;
	}
}

/* A file cut off by the end of the session keeps its partial data. */
static void begin_close(struct session *s, int64_t now, int ms)
{
	if (s->closing)
		return;
	keep_file(s);
	release_held(s);
	s->closing = 1;
	s->close_by = now + ms;
	join_unregister(s);
	/* A joined connection lost before its BYE takes data the session
	 * needed with it: the session ends too.  A session that ends takes
	 * its joined connections along. */
	if (s->primary && !s->lane_bye)
		primary_fails(s->primary, TCPX_E_JOIN_LOST,
			      "a joined connection was lost mid-session", 0);
	for (unsigned i = 0; s->lanes && i < s->opt->max_streams; i++)
		if (s->lanes[i] && !s->lanes[i]->closing) {
			begin_close(s->lanes[i], now, ms);
			s->lanes[i]->kicked = 1;
		}
}

/* The connection failed under the session, or a deadline passed. */
static void cut_short(struct session *s, int rc, int64_t now)
{
	struct frame_reader *rd = receiver_reader(s->r);
	int which = conn_timed_out(&s->conn);

	worsen(s, SESSION_CONNECTION);
	conn_secure_abort(&s->conn);

	if (rc == -TCPX_E_TIMEOUT && which == CONN_IDLE) {
		receiver_fail(s->r, TCPX_E_TIMEOUT, "idle timeout");
		ui_error(s->peer, "idle for %d s: connection closed",
			 s->opt->timeout_ms / 1000);
	} else if (rc == -TCPX_E_TIMEOUT) {
		receiver_fail(s->r, TCPX_E_TIMEOUT, conn_deadline_name(which));
		ui_error(s->peer, "%s: connection closed",
			 conn_deadline_name(which));
	} else if (rc == -TCPX_E_CLOSED) {
		if (receiver_in_file(s->r) || frame_reader_buffered(rd))
			ui_error(s->peer, "connection closed by the sender "
				 "mid-transfer");
	} else if (rc == -TCPX_E_SYSTEM) {
		ui_error(s->peer, "%s", net_strerror(errno));
	} else if (s->conn.sec && *conn_secure_why(&s->conn)) {
		/* SECURE failed: the sender hears why (sealed if it expects
		 * records, else in the clear), nothing of a file is kept. */
		receiver_fail(s->r, -rc, "");  /* the code says it all */
		ui_error(s->peer, "%s", conn_secure_why(&s->conn));
	} else {
		ui_error(s->peer, "%s", tcpx_strerror(rc));
	}
	begin_close(s, now, LINGER_MS);
}

/* Which deadlines apply now that everything decodable was decoded. */
static void watch(struct session *s)
{
	struct tcpx_receiver *r = s->r;
	conn_frame_pending(&s->conn, !receiver_finished(r) && !s->parked &&
			   (frame_reader_buffered(receiver_reader(r)) > 0 ||
			    conn_input_buffered(&s->conn) > 0) &&
			   outq_has_room(receiver_output(r)));
	conn_watch_rate(&s->conn, receiver_in_data(r));
}

/*
 * Moves what the socket allows and acts on it, ending with everything
 * decodable decoded (so no frame waits in the buffer for an event that
 * will not come).  1 while the session goes on, 0 when it is to be closed.
 */
static int session_step(struct session *s, int64_t now)
{
	int rc;
	if (!s->closing) {
		for (int turn = 0; ; turn++) {
			if (drain(s) || receiver_finished(s->r)) {
				begin_close(s, now, LINGER_MS);
				break;
			}
			/* A chunk waiting points into the reader: no more is
			 * read into it until the chunk is placed. */
			if (s->moving || s->parked)
				break;
			/* Records already read are handled before waiting:
			 * epoll would not say they are there. */
			/* A joined connection takes one turn per wake-up: the
			 * session's connections then come in turns, about in
			 * the order the sender dealt the chunks, so fewer
			 * arrive after a gap (receiver.c keeps 8 in memory). */
			if (turn >= (s->primary || s->lanes ? 1 : TURNS_MAX) &&
			    !conn_input_pending(&s->conn))
				break;
			rc = conn_io(&s->conn, IO_BUDGET);
			if (rc < 0) {
				cut_short(s, rc, now);
				break;
			}
			if (rc == 0)
				break;
		}
		if (!s->closing)
			watch(s);
	}
	if (s->closing) {
		if (conn_out_pending(&s->conn) && now < s->close_by &&
		    conn_io(&s->conn, 1) >= 0 &&
		    conn_out_pending(&s->conn))
			return 1;
		return 0;
	}
	return 1;
}

/* Deadlines only; 1 while the session goes on. */
static int session_tick(struct session *s, int64_t now)
{
	if (s->closing)
		return now < s->close_by;
	if (conn_check(&s->conn, now) < 0) {
		cut_short(s, -TCPX_E_TIMEOUT, now);
		return session_step(s, now);
	}
	return 1;
}

/* The server is stopping: the file in progress goes at once. */
static void session_stop(struct session *s, int64_t now, int flush_ms)
{
	if (s->closing)
		return;
	worsen(s, SESSION_CONNECTION);
	conn_secure_abort(&s->conn);
	receiver_fail(s->r, TCPX_E_SHUTDOWN, "receiver shutting down");
	begin_close(s, now, flush_ms);
}

static void session_free(struct session *s)
{
	ui_conn_end(s->conn_id, s->peer);
	keep_file(s);
	release_held(s);
	join_unregister(s);
	store_dircache_drop(&s->dc);    /* after every file that used it */
	free(s->held);
	free(s->lanes);
	free(s->rbuf);
	free(s->park_buf);
	conn_free(&s->conn);
	receiver_free(s->r);
	close(s->conn.fd);
	free(s->name);
	free(s);
}

static struct session *session_new(int fd, const char *peer,
				   struct store *st,
				   const struct serve_options *opt,
				   struct serve_loop *loop)
{
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1,
				       .max_size = opt->max_size,
				       .max_files = opt->max_files,
				       .require_secure = opt->sk != NULL };
	struct conn_secure_config sec = {
		.role = TCPX_ROLE_RECEIVER, .sk = opt->sk, .pk = opt->pk,
		.judge = opt->judge, .judge_arg = opt->judge_arg,
	};
	struct conn_limits lim = {
		.idle_ms = opt->timeout_ms, .write_ms = opt->timeout_ms,
		.handshake_ms = opt->handshake_ms, .frame_ms = opt->frame_ms,
		.min_rate = opt->min_rate, .rate_window_ms = opt->rate_window_ms,
	};
	/* ui summarises a connection's refusals: one id per connection */
	static atomic_uint_fast64_t last_conn_id;
	struct session *s = calloc(1, sizeof(*s));

	if (opt->sk)
		cfg.caps |= TCPX_CAP_SECURE | (crypto_aead_aes256gcm_is_available() ?
					       TCPX_CAP_AES256GCM : 0);
	randombytes_buf(cfg.name_key, sizeof(cfg.name_key));
	/* Joined connections need a loop to find their session on, and a
	 * directory to write at offsets in (not --stdout's sink). */
	if (loop && opt->max_streams && st->sink_fd < 0) {
		cfg.caps |= TCPX_CAP_MULTI;
		cfg.max_streams = opt->max_streams;
		randombytes_buf(cfg.join_token, sizeof(cfg.join_token));
	}
	if (!s || !(s->r = receiver_new(&cfg))) {
		free(s);
		return NULL;
	}
	s->conn_id = atomic_fetch_add(&last_conn_id, 1) + 1;
	s->loop = loop;
	memcpy(s->token, cfg.join_token, sizeof(s->token));
	sodium_memzero(cfg.join_token, sizeof(cfg.join_token));
	s->st = st;
	s->opt = opt;
	s->budget.max_dirs = opt->max_dirs;
	store_dircache_init(&s->dc);
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	store_file_init(&s->f);
	conn_init(&s->conn, fd, receiver_reader(s->r), receiver_output(s->r),
		  &lim, opt->stop_fd);
	if (opt->sk && conn_secure_enable(&s->conn, &sec) < 0) {
		receiver_free(s->r);
		free(s);
		return NULL;
	}
	return s;
}

/* ---- one connection in the calling thread ------------------------------ */

int serve_loop_run(int fd, const char *peer, struct store *st,
		   const struct serve_options *opt)
{
	struct session *s = session_new(fd, peer, st, opt, NULL);
	int64_t now = conn_now();
	int status;

	if (!s) {
		ui_error(peer, "out of memory");
		close(fd);
		return SESSION_CONNECTION;
	}
	while (session_step(s, now) && session_tick(s, now = conn_now())) {
		short ev = conn_events(&s->conn);
		struct pollfd pfd[2] = {
			{ .fd = fd, .events = s->closing ? (short)(ev & POLLOUT) : ev },
			{ .fd = s->closing ? -1 : opt->stop_fd, .events = POLLIN },
		};
		if (poll(pfd, 2, TICK_MS) < 0 && errno != EINTR)
			break;
		now = conn_now();
		if (pfd[1].revents & POLLIN)
			session_stop(s, now, LINGER_MS);
	}
	status = s->status;
	session_free(s);
	return status;
}

/* ---- the event loop ----------------------------------------------------- */

struct handover {
	int fd;
	struct sockaddr_storage src;
	char peer[NET_ADDR_MAX];
};

struct serve_loop {
	pthread_t thread;
	int epfd, wakefd;
	struct store *st;
	struct serve_options opt;
	serve_closed_fn closed;
	void *arg;
	struct session *sessions;       /* loop thread only */
	_Atomic unsigned load;
	_Atomic int stalled;            /* unclaimed stalled handshakes */
	pthread_mutex_t lock;           /* guards what follows */
	struct handover *queue;
	size_t queued, cap;
	struct session **moved;         /* joined connections from other loops */
	size_t nmoved, moved_cap;
	int stop, flush_ms;
	int evictions;                  /* claimed, to be dropped */
};

static void wake(struct serve_loop *l)
{
	uint64_t one = 1;
	ssize_t w = write(l->wakefd, &one, sizeof(one));
	(void)w;
}

/* Takes s out of the loop's list and epoll set (not freed). */
static void unlink_session(struct serve_loop *l, struct session *s)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, s->conn.fd, NULL);
	if (s->prev)
		s->prev->next = s->next;
	else
		l->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->prev = s->next = NULL;
}

static void forget(struct serve_loop *l, struct session *s)
{
	if (s->primary && s->primary->lanes)
		s->primary->lanes[s->lane_index - 1] = NULL;
	for (unsigned i = 0; s->lanes && i < s->opt->max_streams; i++)
		if (s->lanes[i])
			s->lanes[i]->primary = NULL;
	unlink_session(l, s);
	struct sockaddr_storage src = s->src;
	session_free(s);
	atomic_fetch_sub(&l->load, 1);
	l->closed(l->arg, &src);
}

/* Keeps epoll asking for what the session can use now. */
static void interest(struct serve_loop *l, struct session *s)
{
	short ev = conn_events(&s->conn);
	uint32_t want = (!s->closing && !s->parked && (ev & POLLIN) ?
			 EPOLLIN : 0) |
			(ev & POLLOUT ? EPOLLOUT : 0);
	if (want == s->events)
		return;
	struct epoll_event e = { .events = want, .data.ptr = s };
	epoll_ctl(l->epfd, EPOLL_CTL_MOD, s->conn.fd, &e);
	s->events = want;
}

static void run_session(struct serve_loop *l, struct session *s, int64_t now,
			int tick);

static void add_session(struct serve_loop *l, struct session *s)
{
	s->next = l->sessions;
	if (s->next)
		s->next->prev = s;
	l->sessions = s;
}

/* A JOIN that join_find() admitted, on the loop of its session: it
 * becomes one of that session's connections (JOINED), or is refused if
 * the session ended meanwhile. */
static void attach(struct serve_loop *l, struct session *s, int64_t now)
{
	struct session *p = l->sessions;
	for (; p; p = p->next)
		if (p->conn_id == s->join_sid && p != s)
			break;
	if (p && !p->closing && !receiver_finished(p->r) && !p->lanes)
		p->lanes = calloc(p->opt->max_streams, sizeof(*p->lanes));
	if (!p || p->closing || receiver_finished(p->r) || !p->lanes) {
		receiver_fail(s->r, TCPX_E_JOIN, "the session has ended");
		ui_error(s->peer, "JOIN refused: the session has ended");
		begin_close(s, now, LINGER_MS);
		return;
	}
	p->lanes[s->lane_index - 1] = s;
	s->primary = p;
	/* A joined connection may rightly carry nothing for a while (a
	 * stream goes on the session's own, or the others take the chunks):
	 * the session's connection keeps the idle deadline for all. */
	s->conn.lim.idle_ms = 0;
	snprintf(s->peer, sizeof(s->peer), "%s", p->peer);
	receiver_join_accept(s->r);
	ui_debug("%s: connection %u joined the session", p->peer,
		 s->lane_index);
}

/* Hands a joining connection to the loop of its session. */
static void move_session(struct serve_loop *l, struct session *s, int64_t now)
{
	struct serve_loop *to = s->loop_to;
	s->moving = 0;
	if (to == l) {
		attach(l, s, now);
		run_session(l, s, now, 0);
		return;
	}
	unlink_session(l, s);
	s->events = 0;
	atomic_fetch_sub(&l->load, 1);
	atomic_fetch_add(&to->load, 1);
	pthread_mutex_lock(&to->lock);
	if (to->nmoved == to->moved_cap) {
		size_t cap = to->moved_cap ? 2 * to->moved_cap : 8;
		struct session **q = realloc(to->moved, cap * sizeof(*q));
		if (q) {
			to->moved = q;
			to->moved_cap = cap;
		}
	}
	int queued = to->nmoved < to->moved_cap;
	if (queued)
		to->moved[to->nmoved++] = s;
	pthread_mutex_unlock(&to->lock);
	if (queued) {
		wake(to);
		return;
	}
	atomic_fetch_sub(&to->load, 1);
	struct sockaddr_storage src = s->src;
	session_free(s);
	l->closed(l->arg, &src);
}

static void run_session(struct serve_loop *l, struct session *s, int64_t now,
			int tick)
{
	int keep = tick ? session_tick(s, now) : session_step(s, now);
	s->kicked = 0;
	if (keep && s->moving)
		move_session(l, s, now);
	else if (keep)
		interest(l, s);
	else
		forget(l, s);
}

/* Sessions another session's progress concerns (a chunk placed, a file
 * begun for a waiting chunk): a turn each, until none is left. */
static void run_kicked(struct serve_loop *l, int64_t now)
{
	for (int round = 0, any = 1; any && round < 64; round++) {
		any = 0;
		for (struct session *s = l->sessions, *next; s; s = next) {
			next = s->next;
			if (s->kicked) {
				any = 1;
				run_session(l, s, now, 0);
			}
		}
	}
}

/* Still in its handshake long after it was accepted. */
static int is_stalled(const struct session *s, int64_t now)
{
	return !s->closing && s->conn.handshaking &&
	       now - s->conn.started >= STALLED_MS;
}

/* Drops n stalled sessions, the oldest first, each with ERROR BUSY: the
 * server is full and a newcomer took the place. */
static void evict(struct serve_loop *l, int n, int64_t now)
{
	while (n-- > 0) {
		struct session *oldest = NULL;
		for (struct session *s = l->sessions; s; s = s->next)
			if (is_stalled(s, now) &&
			    (!oldest || s->conn.started < oldest->conn.started))
				oldest = s;
		if (!oldest)
			return;
		conn_secure_abort(&oldest->conn);
		receiver_fail(oldest->r, TCPX_E_BUSY, "receiver busy: dropped "
			      "for a sender that makes progress");
		ui_error(oldest->peer, "dropped at --max-clients: no HELLO after "
			 "%lld ms", (long long)(now - oldest->conn.started));
		begin_close(oldest, now, LINGER_MS);
		run_session(l, oldest, now, 0);
	}
}

/* Sessions for the sockets the server handed over. */
static void take_handovers(struct serve_loop *l, int64_t now)
{
	struct handover *q;
	size_t n;
	int stopping, flush_ms;

	pthread_mutex_lock(&l->lock);
	q = l->queue;
	n = l->queued;
	l->queue = NULL;
	l->queued = l->cap = 0;
	stopping = l->stop;
	flush_ms = l->flush_ms;
	int evictions = l->evictions;
	l->evictions = 0;
	struct session **moved = l->moved;
	size_t nmoved = l->nmoved;
	l->moved = NULL;
	l->nmoved = l->moved_cap = 0;
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < nmoved; i++) {
		struct session *s = moved[i];
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };
		s->loop = l;
		if (stopping || epoll_ctl(l->epfd, EPOLL_CTL_ADD, s->conn.fd, &e) < 0) {
			struct sockaddr_storage src = s->src;
			session_free(s);
			atomic_fetch_sub(&l->load, 1);
			l->closed(l->arg, &src);
			continue;
		}
		s->events = EPOLLIN;
		add_session(l, s);
		attach(l, s, now);
		run_session(l, s, now, 0);
	}
	free(moved);
	evict(l, evictions, now);
	for (size_t i = 0; i < n; i++) {
		struct session *s = stopping ? NULL :
			session_new(q[i].fd, q[i].peer, l->st, &l->opt, l);
		struct epoll_event e = { .events = EPOLLIN, .data.ptr = s };
		if (!s || epoll_ctl(l->epfd, EPOLL_CTL_ADD, q[i].fd, &e) < 0) {
			if (s)
				session_free(s);
			else
				conn_refuse(q[i].fd, stopping ? TCPX_E_SHUTDOWN :
					    TCPX_E_BUSY, stopping ?
					    "receiver shutting down" :
					    "receiver out of memory");
			atomic_fetch_sub(&l->load, 1);
			l->closed(l->arg, &q[i].src);
			continue;
		}
		s->events = EPOLLIN;
		s->src = q[i].src;
		add_session(l, s);
		ui_debug("%s: connected", s->peer);
		run_session(l, s, now, 0);
	}
	free(q);
	if (stopping)
		for (struct session *s = l->sessions, *next; s; s = next) {
			next = s->next;
			session_stop(s, now, flush_ms);
			run_session(l, s, now, 0);
		}
}

static void *loop_main(void *arg)
{
	struct serve_loop *l = arg;
	struct epoll_event evs[64];
	int64_t next_tick = 0;

	for (;;) {
		int n = epoll_wait(l->epfd, evs, 64, TICK_MS);
		int64_t now = conn_now();
		for (int i = 0; i < n; i++) {
			if (evs[i].data.ptr == NULL) {
				uint64_t v;
				ssize_t r = read(l->wakefd, &v, sizeof(v));
				(void)r;
				take_handovers(l, now);
			} else {
				run_session(l, evs[i].data.ptr, now, 0);
			}
		}
		run_kicked(l, now);
		if (now >= next_tick) {
			int stalled = 0;
			for (struct session *s = l->sessions, *next; s; s = next) {
				next = s->next;
				run_session(l, s, now, 1);
			}
			for (struct session *s = l->sessions; s; s = s->next)
				stalled += is_stalled(s, now);
			pthread_mutex_lock(&l->lock);
			atomic_store(&l->stalled, stalled > l->evictions ?
				     stalled - l->evictions : 0);
			pthread_mutex_unlock(&l->lock);
			next_tick = now + TICK_MS;
		}
		pthread_mutex_lock(&l->lock);
		int done = l->stop && !l->sessions && !l->queued && !l->nmoved;
		pthread_mutex_unlock(&l->lock);
		if (done)
			return NULL;
	}
}

struct serve_loop *serve_loop_start(struct store *st,
				    const struct serve_options *opt,
				    serve_closed_fn closed, void *arg)
{
	struct serve_loop *l = calloc(1, sizeof(*l));
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
	int err;

	if (!l)
		return NULL;
	l->st = st;
	l->opt = *opt;
	l->opt.stop_fd = -1;
	l->closed = closed;
	l->arg = arg;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	l->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->epfd < 0 || l->wakefd < 0 ||
	    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &e) < 0)
		goto fail;
	pthread_mutex_init(&l->lock, NULL);
	err = pthread_create(&l->thread, NULL, loop_main, l);
	if (err == 0)
		return l;
	pthread_mutex_destroy(&l->lock);
	errno = err;
fail:
	err = errno;
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->wakefd >= 0)
		close(l->wakefd);
	free(l);
	errno = err;
	return NULL;
}

void serve_loop_add(struct serve_loop *l, int fd,
		    const struct sockaddr_storage *src, const char *peer)
{
	struct handover *h = NULL;

	atomic_fetch_add(&l->load, 1);
	pthread_mutex_lock(&l->lock);
	if (l->queued == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct handover *q = realloc(l->queue, cap * sizeof(*q));
		if (q) {
			l->queue = q;
			l->cap = cap;
		}
	}
	if (l->queued < l->cap) {
		h = &l->queue[l->queued++];
		h->fd = fd;
		h->src = *src;
		snprintf(h->peer, sizeof(h->peer), "%s", peer);
	}
	pthread_mutex_unlock(&l->lock);
	if (!h) {
		conn_refuse(fd, TCPX_E_BUSY, "receiver out of memory");
		atomic_fetch_sub(&l->load, 1);
		l->closed(l->arg, src);
		return;
	}
	wake(l);
}

unsigned serve_loop_load(const struct serve_loop *l)
{
	return atomic_load(&l->load);
}

int serve_loop_claim_stalled(struct serve_loop *l)
{
	int n = atomic_load(&l->stalled);
	while (n > 0 && !atomic_compare_exchange_weak(&l->stalled, &n, n - 1))
		;
	if (n <= 0)
		return 0;
	pthread_mutex_lock(&l->lock);
	l->evictions++;
	pthread_mutex_unlock(&l->lock);
	wake(l);
	return 1;
}

void serve_loop_stop(struct serve_loop *l, int flush_ms)
{
	pthread_mutex_lock(&l->lock);
	l->stop = 1;
	l->flush_ms = flush_ms;
	pthread_mutex_unlock(&l->lock);
	wake(l);
}

void serve_loop_join(struct serve_loop *l)
{
	pthread_join(l->thread, NULL);
	pthread_mutex_destroy(&l->lock);
	close(l->epfd);
	close(l->wakefd);
	free(l->queue);
	free(l->moved);
	free(l);
}
