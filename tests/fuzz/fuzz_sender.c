/*
 * fuzz_sender: the sender state machine fed an arbitrary receiver stream.
 *
 * The header plans a batch of files (sizes, chunking, contents, names,
 * aborts, zlib level) and whether the harness plays a valid receiver HELLO
 * first, so the fuzzed bytes start right after the handshake.  The harness
 * drives the sender as send_loop.c does: begin files while it may, commit
 * chunks (read into sender_chunk_buffer(), or compressed outside and handed
 * to sender_commit_prepared() as the compression workers do), end (or
 * abort, also when the receiver refused the file early),
 * BYE when done, reading the receiver's bytes in reads of varying sizes in
 * between.  Invariants:
 *
 *   - events: HELLO once, with no capability we did not ask for; RESULTs
 *     for ids 1, 2, 3... in order, each for a file begun, with the cookie
 *     given at sender_begin_file(), code 0 only for a file we ended and
 *     then with our own digest; BYE only after our BYE and every RESULT;
 *     nothing but SEV_NONE after BYE or an error, even with more input;
 *   - the outstanding count is files begun minus RESULTs seen;
 *   - API misuse is refused without output (END before all data, a chunk
 *     past the declared size, a prepared chunk that is not smaller or is
 *     zlib without ZLIB negotiated);
 *   - the sender's own stream decodes: HELLO first, no FILE before the
 *     receiver's HELLO, FILE ids 1, 2, 3... matching the plan, DATA that
 *     (raw or inflated with plain zlib) is exactly the planned content,
 *     zlib only when negotiated, END with the BLAKE2b-512 of the content,
 *     ERROR (with the event's code) after a protocol error, none after a
 *     peer's ERROR, nothing after an ERROR;
 *   - with OFFER asked (header byte 1, bit 5) and granted: every file is
 *     offered first (ids 1, 2, 3... in plan order), ANSWERs settle files or
 *     let them begin in offer order (a RESUME answer is taken, as if our
 *     prefix matched, half the time: RESUME from its offset, the digest
 *     over the whole file); FILE and RESUME repeat the offer's id, and
 *     RESULTs come for the files begun, in begin order;
 *   - ASan/UBSan: no byte outside any buffer, no undefined behaviour.
 *
 * Input layout: fuzz_common.h (FZ_TX_HDR).
 */
#include <libdeflate.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "chunk.h"
#include "digest.h"
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "proto.h"
#include "sender.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* fuzz_alloc.c: the library's allocator in the fuzz build. */
void *tcpx_fuzz_malloc(size_t n);
void tcpx_fuzz_free(void *p);

/* For chunks compressed outside the sender (sender_commit_prepared). */
static struct chunk_compressor *compressor[10];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FZ_CHECK(digest_global_init() == 0);
	fz_tables_init();
	/* The compressor is a big allocation too: recycle it likewise. */
	libdeflate_set_memory_allocator(tcpx_fuzz_malloc, tcpx_fuzz_free);
	for (int level = 1; level <= 9; level++) {
		compressor[level] = chunk_compressor_new(level);
		FZ_CHECK(compressor[level] != NULL);
	}
	return 0;
}

struct file_state {
	int ended, aborted;
	uint8_t digest[DIGEST_LEN];
	uint32_t id;                    /* FILE's, or the OFFER's */
	int offered, begun, settled;    /* settled: a final ANSWER */
	uint64_t from;                  /* begun with RESUME from here */
};

struct tx {
	struct tcpx_sender *s;
	struct fz_plan plan;
	struct fz_rng rng;
	uint64_t want, caps;            /* asked for; granted */
	struct fz_buf out;              /* everything the sender sent */
	size_t hello_at;                /* out offset when SEV_HELLO came */

	int hello, over, bye_sent, proto_code, peer_error;
	unsigned begun, results;
	unsigned offered, answered;     /* with OFFER */
	int ask_offer, ask_resume;
	unsigned cur;                   /* plan index of the current file */
	unsigned order[FZ_TX_MAX_FILES];        /* plan index, by begin */
	uint64_t sent;                  /* of the current file */
	crypto_generichash_state hash;
	struct file_state st[FZ_TX_MAX_FILES];
};

static FZ_NOCOV void drain(struct tx *x, int all)
{
	const uint8_t *p;
	size_t len;

	sender_pending(x->s, &p, &len);
	if (!len)
		return;
	size_t n = len;
	if (!all && fz_one_in(&x->rng, 4))
		n = 1 + (size_t)fz_below(&x->rng, len);
	fz_buf_add(&x->out, p, n);
	sender_sent(x->s, n);
	if (n < len && all)
		drain(x, 1);
}

static FZ_NOCOV size_t pending_len(const struct tx *x)
{
	const uint8_t *p;
	size_t len;
	sender_pending(x->s, &p, &len);
	return len;
}

/* One step of what send_loop.c's produce() does; 0 if nothing to do. */
static int act_once(struct tx *x)
{
	if (!sender_has_room(x->s))
		drain(x, 1);
	FZ_CHECK(sender_has_room(x->s));

	int offers = sender_has_offer(x->s);
	enum sender_action act = sender_next_action(x->s, offers ?
		x->offered < x->plan.nfiles : x->begun < x->plan.nfiles);
	if (act == SA_WAIT || act == SA_DONE)
		return 0;
	if (act == SA_OFFER) {
		unsigned i = x->offered;
		const struct fz_file *f = &x->plan.f[i];
		struct tcpx_offer o = { .meta = {
			.size = f->size, .mode = 0644,
			.mtime_sec = 1700000000 + (int64_t)i,
			.mtime_nsec = i * 1000u,
			.name = (const uint8_t *)f->name,
			.name_len = f->name_len },
			.flags = x->ask_resume ? TCPX_OFFER_RESUME : 0 };
		FZ_CHECK(offers && x->offered < x->plan.nfiles);
		FZ_CHECK(sender_offer(x->s, &o, &x->st[i]) == 0);
		FZ_CHECK(o.meta.id == i + 1);
		x->st[i].id = o.meta.id;
		x->st[i].offered = 1;
		x->offered++;
		return 1;
	}
	if (act == SA_BEGIN) {
		unsigned i = x->begun;
		uint64_t from = 0;
		struct digest prefix;
		if (offers) {
			void *cookie;
			int is_dir, disp;
			uint64_t off;
			const uint8_t *pd;
			FZ_CHECK(sender_offer_head(x->s, &cookie, &is_dir, &disp,
						   &off, &pd));
			FZ_CHECK(!is_dir);
			i = (unsigned)((struct file_state *)cookie - x->st);
			FZ_CHECK(i < x->offered && !x->st[i].begun &&
				 !x->st[i].settled);
			if (disp == TCPX_ANSWER_RESUME && fz_one_in(&x->rng, 2))
				from = off;
		}
		const struct fz_file *f = &x->plan.f[i];
		struct tcpx_file_meta m = {
			.size = f->size, .mode = 0644,
			.mtime_sec = 1700000000 + (int64_t)i,
			.mtime_nsec = i * 1000u,
			.name = (const uint8_t *)f->name,
			.name_len = f->name_len,
		};
		FZ_CHECK(sender_state(x->s) == SS_READY && sender_can_begin(x->s));
		crypto_generichash_init(&x->hash, NULL, 0, DIGEST_LEN);
		if (from) {
			/* our first bytes: what the receiver said it holds */
			FZ_CHECK(from <= f->size);
			digest_init(&prefix);
			digest_update(&prefix, fz_content(f, 0), (size_t)from);
			crypto_generichash_update(&x->hash, fz_content(f, 0),
						  (size_t)from);
			FZ_CHECK(sender_begin_resumed(x->s, &m, &x->st[i], from,
						      &prefix) == 0);
		} else {
			FZ_CHECK(sender_begin_file(x->s, &m, &x->st[i]) == 0);
		}
		if (offers)
			FZ_CHECK(m.id == x->st[i].id);
		else
			FZ_CHECK(m.id == i + 1);
		x->st[i].id = m.id;
		x->st[i].begun = 1;
		x->st[i].from = from;
		x->order[x->begun++] = i;
		x->cur = i;
		x->sent = from;
		FZ_CHECK(sender_state(x->s) == SS_IN_FILE);
		return 1;
	}
	if (act == SA_BYE) {
		FZ_CHECK(!x->bye_sent);
		FZ_CHECK(sender_bye(x->s) == 0);
		x->bye_sent = 1;
		FZ_CHECK(sender_state(x->s) == SS_BYE_SENT);
		return 1;
	}
	{
		const struct fz_file *f = &x->plan.f[x->cur];
		struct file_state *fs = &x->st[x->cur];
		size_t before = pending_len(x);

		FZ_CHECK(sender_state(x->s) == SS_IN_FILE);
		FZ_CHECK((act == SA_ABORT) == sender_current_refused(x->s));
		if (act == SA_ABORT ||
		    (f->abort_at >= 0 && x->sent >= (uint64_t)f->abort_at)) {
			FZ_CHECK(sender_abort_file(x->s) == 0);
			fs->aborted = 1;
			return 1;
		}
		FZ_CHECK((act == SA_END) == (x->sent == f->size));
		FZ_CHECK(sender_file_left(x->s) == f->size - x->sent);
		if (act == SA_END) {
			FZ_CHECK(sender_end_file(x->s) == 0);
			crypto_generichash_final(&x->hash, fs->digest,
						 DIGEST_LEN);
			fs->ended = 1;
			return 1;
		}
		uint64_t left = f->size - x->sent;
		if (fz_one_in(&x->rng, 16)) {
			/* Misuse: END before all data, a chunk too long. */
			FZ_CHECK(sender_end_file(x->s) == -TCPX_E_SIZE);
			FZ_CHECK(pending_len(x) == before);
			if (left < TCPX_CHUNK_MAX) {
				size_t cap;
				FZ_CHECK(sender_chunk_buffer(x->s, &cap) != NULL);
				FZ_CHECK(sender_commit_chunk(x->s, (size_t)left + 1) ==
					 -TCPX_E_SIZE);
				FZ_CHECK(pending_len(x) == before);
			}
		}
		size_t n = f->chunk;
		if (n > left)
			n = (size_t)left;
		if (fz_one_in(&x->rng, 2)) {
			/* As tcpput's compression workers do: the chunk is
			 * compressed outside and handed in prepared. */
			static uint8_t comp[TCPX_CHUNK_MAX];
			const uint8_t *raw = fz_content(f, x->sent);
			size_t clen = 0;
			if (sender_compressing(x->s)) {
				FZ_CHECK(x->plan.level >= 1 && x->plan.level <= 9);
				clen = chunk_compress(compressor[x->plan.level], raw,
						      n, comp, TCPX_CHUNK_MAX);
			}
			if (fz_one_in(&x->rng, 16)) {
				/* Misuse: "compressed" data no smaller than
				 * the chunk, or zlib not negotiated. */
				FZ_CHECK(sender_commit_prepared(x->s, raw, n, raw, n) ==
					 -TCPX_E_INTERNAL);
				if (!(x->caps & TCPX_CAP_ZLIB) && n > 1)
					FZ_CHECK(sender_commit_prepared(x->s, raw, n,
									raw, 1) ==
						 -TCPX_E_INTERNAL);
				FZ_CHECK(pending_len(x) == before);
			}
			crypto_generichash_update(&x->hash, raw, n);
			FZ_CHECK(sender_commit_prepared(x->s, raw, n,
							clen ? comp : NULL, clen) == 0);
		} else {
			size_t cap;
			uint8_t *buf = sender_chunk_buffer(x->s, &cap);
			FZ_CHECK(buf != NULL && cap == TCPX_CHUNK_MAX);
			fz_fill(f, x->sent, buf, n);
			crypto_generichash_update(&x->hash, buf, n);
			FZ_CHECK(sender_commit_chunk(x->s, n) == 0);
		}
		x->sent += n;
		return 1;
	}
}

static void on_event(struct tx *x, const struct sender_event *ev)
{
	FZ_CHECK(!x->over);
	switch (ev->type) {
	case SEV_HELLO:
		FZ_CHECK(!x->hello);
		FZ_CHECK((ev->caps & ~x->want) == 0);
		FZ_CHECK(sender_state(x->s) == SS_READY);
		x->hello = 1;
		x->caps = ev->caps;
		x->hello_at = x->out.len + pending_len(x);
		break;
	case SEV_ANSWER: {
		struct file_state *fs = ev->cookie;
		FZ_CHECK(x->hello && (x->caps & TCPX_CAP_OFFER));
		FZ_CHECK(fs >= x->st && fs < x->st + x->offered);
		FZ_CHECK(ev->id == ++x->answered && ev->id == fs->id);
		FZ_CHECK(fs->offered && !fs->begun && !fs->settled);
		FZ_CHECK(ev->disposition >= 0 &&
			 ev->disposition <= (int)TCPX_ANSWER_MAX_DISPOSITION);
		if (ev->disposition == TCPX_ANSWER_RESUME)
			FZ_CHECK(x->ask_resume && ev->offset >= 1 &&
				 ev->offset <= x->plan.f[fs - x->st].size);
		FZ_CHECK(ev->disposition != TCPX_ANSWER_SAME_DIGEST);
		FZ_CHECK((ev->disposition == TCPX_ANSWER_REFUSED) ==
			 (ev->code != 0));
		if (ev->disposition != TCPX_ANSWER_SEND &&
		    ev->disposition != TCPX_ANSWER_RESUME)
			fs->settled = 1;
		break;
	}
	case SEV_RESULT: {
		FZ_CHECK(x->hello);
		FZ_CHECK(x->results < x->begun);
		struct file_state *fs = &x->st[x->order[x->results]];
		FZ_CHECK(ev->id == fs->id);
		FZ_CHECK(ev->cookie == fs);
		if (ev->code == 0) {
			FZ_CHECK(fs->ended);
			FZ_CHECK(ev->digest != NULL);
			FZ_CHECK(memcmp(ev->digest, fs->digest, DIGEST_LEN) == 0);
		} else {
			FZ_CHECK(ev->digest == NULL);
		}
		FZ_CHECK(ev->msg_len <= TCPX_MSG_MAX);
		x->results++;
		FZ_CHECK(sender_outstanding(x->s) == x->begun - x->results);
		break;
	}
	case SEV_BYE:
		FZ_CHECK(x->bye_sent && x->results == x->begun);
		FZ_CHECK(sender_outstanding(x->s) == 0);
		FZ_CHECK(sender_state(x->s) == SS_DONE);
		x->over = 1;
		break;
	case SEV_PEER_ERROR:
		FZ_CHECK(sender_state(x->s) == SS_FAILED);
		FZ_CHECK(ev->msg_len <= TCPX_MSG_MAX);
		x->over = x->peer_error = 1;
		break;
	case SEV_PROTO_ERROR:
		FZ_CHECK(sender_state(x->s) == SS_FAILED);
		FZ_CHECK(ev->code >= TCPX_E_MALFORMED &&
			 ev->code <= TCPX_E_TOO_MANY_FILES);
		FZ_CHECK(ev->msg != NULL &&
			 ev->msg_len == strlen((const char *)ev->msg));
		x->over = 1;
		x->proto_code = ev->code;
		break;
	default:
		FZ_CHECK(0);
	}
}

/* Parses everything the sender sent and holds it to the plan. */
static FZ_NOCOV void check_output(const struct tx *x)
{
	size_t pos = 0;
	unsigned fid = 0, oid = 0, k = 0;       /* k: plan index of the file */
	int in_file = 0, bye = 0, error = 0, error_code = -1, zlib = 0;
	uint64_t off = 0;
	crypto_generichash_state h;
	static uint8_t chunk[TCPX_CHUNK_MAX];

	while (pos < x->out.len) {
		struct tcpx_frame f;
		size_t consumed;
		int rc = frame_decode(x->out.p + pos, x->out.len - pos,
				      &proto_frame_limits, &f, &consumed, NULL);
		FZ_CHECK(rc == 1);
		FZ_CHECK(!error);               /* nothing after an ERROR */
		if (pos == 0)
			FZ_CHECK(f.type == TCPX_FRAME_HELLO);
		if (bye)                        /* after BYE: only ERROR */
			FZ_CHECK(f.type == TCPX_FRAME_ERROR);
		switch (f.type) {
		case TCPX_FRAME_HELLO: {
			struct tcpx_hello hello;
			FZ_CHECK(pos == 0);
			FZ_CHECK(proto_decode_hello(&f, &hello) == 0);
			FZ_CHECK(hello.version_min == TCPX_VERSION &&
				 hello.version_max == TCPX_VERSION);
			FZ_CHECK(hello.caps == x->want);
			break;
		}
		case TCPX_FRAME_OFFER: {
			struct tcpx_offer o;
			FZ_CHECK(x->hello && pos >= x->hello_at);
			FZ_CHECK(x->caps & TCPX_CAP_OFFER);
			FZ_CHECK(!in_file);
			FZ_CHECK(proto_decode_offer(&f, &o) == 0);
			FZ_CHECK(o.meta.id == ++oid && oid <= x->offered);
			const struct fz_file *pf = &x->plan.f[oid - 1];
			FZ_CHECK(o.meta.size == pf->size &&
				 o.meta.name_len == pf->name_len &&
				 memcmp(o.meta.name, pf->name, o.meta.name_len) == 0);
			break;
		}
		case TCPX_FRAME_FILE:
		case TCPX_FRAME_RESUME: {
			struct tcpx_file_meta m;
			uint64_t from = 0;
			FZ_CHECK(x->hello && pos >= x->hello_at);
			FZ_CHECK(!in_file);
			if (f.type == TCPX_FRAME_FILE) {
				FZ_CHECK(proto_decode_file(&f, &m) == 0);
			} else {
				FZ_CHECK(x->caps & TCPX_CAP_OFFER);
				FZ_CHECK(proto_decode_resume(&f, &m, &from) == 0);
			}
			FZ_CHECK(fid < x->begun);
			k = x->order[fid++];
			FZ_CHECK(m.id == x->st[k].id && from == x->st[k].from);
			const struct fz_file *pf = &x->plan.f[k];
			FZ_CHECK(m.size == pf->size && m.mode == 0644);
			FZ_CHECK(m.name_len == pf->name_len &&
				 memcmp(m.name, pf->name, m.name_len) == 0);
			in_file = 1;
			off = from;
			crypto_generichash_init(&h, NULL, 0, DIGEST_LEN);
			if (from)
				crypto_generichash_update(&h, fz_content(pf, 0),
							  (size_t)from);
			break;
		}
		case TCPX_FRAME_DATA: {
			struct tcpx_data d;
			FZ_CHECK(in_file);
			FZ_CHECK(proto_decode_data(&f, &d) == 0);
			const struct fz_file *pf = &x->plan.f[k];
			FZ_CHECK(d.raw_len <= pf->chunk);
			FZ_CHECK(d.raw_len <= pf->size - off);
			const uint8_t *raw = d.data;
			if (d.encoding == TCPX_ENCODING_ZLIB) {
				/* Only once negotiated; plain zlib (not
				 * chunk_inflate) must read it back. */
				FZ_CHECK(x->hello && x->caps & TCPX_CAP_ZLIB);
				zlib = 1;
				FZ_CHECK(d.data_len < d.raw_len);
				uLongf dlen = d.raw_len;
				FZ_CHECK(uncompress(chunk, &dlen, d.data,
						    d.data_len) == Z_OK);
				FZ_CHECK(dlen == d.raw_len);
				raw = chunk;
			}
			FZ_CHECK(memcmp(raw, fz_content(pf, off), d.raw_len) == 0);
			crypto_generichash_update(&h, raw, d.raw_len);
			off += d.raw_len;
			break;
		}
		case TCPX_FRAME_END: {
			const uint8_t *dg;
			uint8_t ours[DIGEST_LEN];
			FZ_CHECK(in_file);
			FZ_CHECK(proto_decode_end(&f, &dg) == 0);
			FZ_CHECK(off == x->plan.f[k].size);
			crypto_generichash_final(&h, ours, sizeof(ours));
			FZ_CHECK(memcmp(dg, ours, sizeof(ours)) == 0);
			FZ_CHECK(x->st[k].ended);
			FZ_CHECK(memcmp(dg, x->st[k].digest, sizeof(ours)) == 0);
			in_file = 0;
			break;
		}
		case TCPX_FRAME_ABORT:
			FZ_CHECK(in_file && f.length == 0);
			FZ_CHECK(x->st[k].aborted);
			in_file = 0;
			break;
		case TCPX_FRAME_BYE:
			FZ_CHECK(!in_file && f.length == 0);
			FZ_CHECK(x->bye_sent && fid == x->begun);
			FZ_CHECK((x->caps & TCPX_CAP_OFFER) ?
				 oid == x->plan.nfiles : fid == x->plan.nfiles);
			bye = 1;
			break;
		case TCPX_FRAME_ERROR: {
			struct tcpx_error e;
			FZ_CHECK(proto_decode_error(&f, &e) == 0);
			error = 1;
			error_code = e.code;
			break;
		}
		default:
			FZ_CHECK(0);    /* RESULT never goes the wrong way */
		}
		pos += consumed;
	}
	FZ_CHECK(fid == x->begun);
	FZ_CHECK(bye == x->bye_sent);
	if (x->proto_code)
		FZ_CHECK(error && error_code == x->proto_code);
	else
		FZ_CHECK(!error);
	(void)zlib;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tx *x;
	struct sender_event ev;

	if (size < FZ_TX_HDR)
		return 0;
	x = calloc(1, sizeof(*x));
	FZ_CHECK(x != NULL);
	fz_plan_make(data, &x->plan);
	x->rng.s = x->plan.sched_seed;
	x->ask_offer = (data[1] >> 5) & 1;
	x->ask_resume = (data[1] >> 6) & 1;
	x->want = (x->plan.level > 0 ? TCPX_CAP_ZLIB : 0) |
		  (x->ask_offer ? TCPX_CAP_OFFER : 0);
	x->s = sender_new(x->ask_offer ? TCPX_CAP_OFFER : 0, x->plan.level);
	FZ_CHECK(x->s != NULL);
	FZ_CHECK(sender_state(x->s) == SS_HANDSHAKE);
	FZ_CHECK(!sender_can_begin(x->s));
	struct frame_reader *rd = sender_reader(x->s);

	if (x->plan.inject_hello) {
		struct tcpx_hello h = { TCPX_VERSION, TCPX_VERSION,
					(x->plan.grant_zlib ? x->want & TCPX_CAP_ZLIB : 0) |
					(x->want & TCPX_CAP_OFFER) };
		size_t cap;
		uint8_t *space = frame_reader_space(rd, &cap);
		FZ_CHECK(cap >= TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN);
		frame_reader_commit(rd, proto_encode_hello(space, &h));
	}

	const uint8_t *in = data + FZ_TX_HDR;
	size_t left = size - FZ_TX_HDR;

	for (;;) {
		/* Send: everything (eager) or a few steps, as the socket
		 * allows; then handle what the receiver said. */
		unsigned budget = x->plan.eager || !left ? ~0u
			: (unsigned)fz_below(&x->rng, 4);
		for (unsigned i = 0; i < budget && act_once(x); i++)
			drain(x, 0);
		drain(x, 0);
		sender_next(x->s, &ev);
		if (ev.type != SEV_NONE) {
			on_event(x, &ev);
			continue;
		}
		if (x->over)
			break;
		if (!left) {
			drain(x, 1);
			if (act_once(x))
				continue;
			break;
		}
		size_t cap;
		uint8_t *space = frame_reader_space(rd, &cap);
		FZ_CHECK(space != NULL && cap > 0);
		size_t n = fz_split(&x->rng, x->plan.split_mode, left);
		if (n > cap)
			n = cap;
		memcpy(space, in, n);
		frame_reader_commit(rd, n);
		in += n;
		left -= n;
	}

	if (x->over) {
		/* Session over: more input and more asking change nothing. */
		for (int i = 0; i < 3; i++) {
			size_t cap;
			uint8_t *space = frame_reader_space(rd, &cap);
			size_t n = left < cap ? left : cap;
			if (n) {
				memcpy(space, in, n);
				frame_reader_commit(rd, n);
				in += n;
				left -= n;
			}
			sender_next(x->s, &ev);
			FZ_CHECK(ev.type == SEV_NONE);
		}
		FZ_CHECK(!sender_can_begin(x->s));
		FZ_CHECK(act_once(x) == 0);
	}
	drain(x, 1);
	check_output(x);

	sender_free(x->s);
	fz_buf_free(&x->out);
	free(x);
	return 0;
}
