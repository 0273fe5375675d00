/*
 * fuzz_receiver: the receiver state machine fed an arbitrary sender stream.
 *
 * The stream arrives in reads of varying sizes, straight into
 * frame_reader_space() as serve_loop.c does; events are acted on as the real
 * session does (REV_END -> receiver_file_done() with the verdict), and the
 * "disk" fails files at REV_FILE, at REV_DATA or at commit when the input's
 * header says so.  The receiver's replies are drained (sometimes in
 * partial writes) and collected.  Invariants:
 *
 *   - events follow the session grammar: HELLO first, FILE ids 1, 2, 3...,
 *     DATA only inside an accepted and not failed file, at most the
 *     declared size in total and exactly that at END, the digest at END is
 *     the BLAKE2b-512 of the DATA handed out, and nothing but REV_NONE after
 *     REV_BYE, REV_FATAL or REV_PEER_ERROR, even with more input;
 *   - files the receiver hands out passed the names gate and its limits;
 *   - the replies decode as frames: HELLO (version 1, capabilities within
 *     the configuration) first, then exactly one RESULT per resolved file
 *     with ids 1, 2, 3... (strictly increasing by one, each once), each
 *     with the code the caller or the receiver decided and the digest
 *     where the verdict came after END (zeros before), then BYE after REV_BYE or ERROR (with
 *     the event's code) after REV_FATAL, and nothing after either;
 *   - with OFFER granted: one ANSWER per OFFER in order, with the
 *     disposition and code decided (here at random, or by the receiver for
 *     its own refusals); a FILE or RESUME is handed out only for the oldest
 *     offer answered SEND or RESUME, with its id and, for RESUME, its
 *     offset; RESULTs then carry those ids, still in increasing order;
 *   - ASan/UBSan: no byte outside any buffer, no undefined behaviour.
 *
 * Input layout: fuzz_common.h (FZ_RX_HDR).
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "names.h"
#include "proto.h"
#include "receiver.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A message longer than TCPX_MSG_MAX: the encoders must cut it. */
static char long_msg[TCPX_MSG_MAX + 300];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FZ_CHECK(digest_global_init() == 0);
	memset(long_msg, 'm', sizeof(long_msg) - 1);
	return 0;
}

struct expected {
	uint32_t id;
	uint16_t code;
	int has_digest;
	uint8_t digest[DIGEST_LEN];
	int answer;                  /* an ANSWER, with this disposition */
	uint8_t disposition;
	uint64_t offset;
};

/* Offers answered SEND or RESUME whose file has not begun. */
struct grant { uint32_t id; uint64_t offset; };

struct rx {
	struct tcpx_receiver *r;
	struct receiver_config cfg;
	struct fz_rng rng;
	uint8_t b1;
	int partial_drain;
	struct fz_buf out;           /* everything the receiver sent */

	int hello, over, fatal_code, bye, peer_error;
	uint32_t files;              /* FILE ids handed out (REV_FILE/REFUSED) */
	int in_file;                 /* accepted file open, RESULT not yet due */
	int failed;                  /* ...and the disk failed it: skipping */
	int skipping;                /* refused file: its frames are skipped */
	int stream;                  /* the open file's size is unknown */
	uint64_t size, got;
	crypto_generichash_state hash;

	struct expected *exp;        /* RESULTs and ANSWERs owed, in order */
	size_t nexp, capexp;
	uint32_t cur_id;             /* the id the next RESULT carries */
	struct grant grants[TCPX_OFFER_WINDOW];
	size_t grant_head, grant_count;
};

static const char *pick_msg(struct rx *x)
{
	switch (fz_below(&x->rng, 4)) {
	case 0: return NULL;
	case 1: return "";
	case 2: return long_msg;
	default: return "disk trouble";
	}
}

static uint16_t pick_disk_code(struct rx *x)
{
	static const uint16_t codes[] = { TCPX_E_EXISTS, TCPX_E_NO_SPACE,
					  TCPX_E_IO, TCPX_E_DENIED };
	return codes[fz_below(&x->rng, 4)];
}

static void expect(struct rx *x, uint16_t code, const uint8_t *digest)
{
	if (x->nexp == x->capexp) {
		x->capexp = x->capexp ? 2 * x->capexp : 16;
		x->exp = realloc(x->exp, x->capexp * sizeof(*x->exp));
		FZ_CHECK(x->exp != NULL);
	}
	struct expected *e = &x->exp[x->nexp++];
	memset(e, 0, sizeof(*e));
	e->id = x->cur_id;
	e->code = code;
	e->has_digest = digest != NULL;
	if (digest)
		memcpy(e->digest, digest, DIGEST_LEN);
}

static void expect_answer(struct rx *x, uint8_t disposition, uint16_t code,
			  uint64_t offset)
{
	expect(x, code, NULL);
	x->exp[x->nexp - 1].answer = 1;
	x->exp[x->nexp - 1].disposition = disposition;
	x->exp[x->nexp - 1].offset = offset;
}

static FZ_NOCOV void drain(struct rx *x, int all)
{
	const uint8_t *p;
	size_t len;

	receiver_pending(x->r, &p, &len);
	while (len) {
		size_t n = len;
		if (!all && x->partial_drain)
			n = 1 + (size_t)fz_below(&x->rng, len);
		fz_buf_add(&x->out, p, n);
		receiver_sent(x->r, n);
		if (!all)
			break;
		receiver_pending(x->r, &p, &len);
	}
}

/* The disk fails the current file: its RESULT is owed now. */
static void disk_fails(struct rx *x)
{
	uint16_t code = pick_disk_code(x);
	receiver_file_fail(x->r, code, pick_msg(x));
	expect(x, code, NULL);
	x->failed = 1;
}

/* FILE, DIR and refused items share one id sequence and the limit on
 * files per connection, as the receiver's take_id() has it. */
static void take_item(struct rx *x, const struct receiver_event *ev)
{
	FZ_CHECK(ev->meta.id == x->files + 1);
	x->files++;
	x->cur_id = ev->meta.id;
	FZ_CHECK(!x->cfg.max_files || x->files <= x->cfg.max_files);
}

/* An OFFER: answered at random among what the rules allow. */
static void on_offer(struct rx *x, const struct receiver_event *ev)
{
	const char *why = NULL;
	uint8_t prefix[DIGEST_LEN] = { 0 };
	uint64_t offset = 0;
	int disp;

	FZ_CHECK(x->hello && !x->in_file && !x->skipping);
	FZ_CHECK(x->cfg.caps & TCPX_CAP_OFFER);
	take_item(x, ev);
	FZ_CHECK(name_validate(ev->meta.name, ev->meta.name_len, &why) == 0);
	/* a stream's size is judged as its data arrives */
	FZ_CHECK(!ev->stream || ((x->cfg.caps & TCPX_CAP_STREAM) &&
				 ev->meta.size == TCPX_SIZE_UNKNOWN));
	FZ_CHECK(ev->stream || !x->cfg.max_size ||
		 ev->meta.size <= x->cfg.max_size);
	FZ_CHECK(x->grant_count < TCPX_OFFER_WINDOW);
	switch (fz_below(&x->rng, 4)) {
	case 0: disp = TCPX_ANSWER_SAME_TIME; break;
	case 1: disp = TCPX_ANSWER_REFUSED; break;
	case 2:
		disp = (ev->offer.flags & TCPX_OFFER_RESUME) && ev->meta.size ?
		       TCPX_ANSWER_RESUME : TCPX_ANSWER_SEND;
		break;
	default: disp = TCPX_ANSWER_SEND; break;
	}
	if (disp == TCPX_ANSWER_RESUME)
		offset = 1 + fz_below(&x->rng, ev->meta.size < 1000 ?
					       ev->meta.size : 1000);
	receiver_answer(x->r, disp, disp == TCPX_ANSWER_REFUSED ?
			TCPX_E_EXISTS : 0, 0, offset, prefix, pick_msg(x));
	if (ev->stream && disp == TCPX_ANSWER_RESUME) {
		disp = TCPX_ANSWER_SEND;        /* a stream is sent whole */
		offset = 0;
	}
	expect_answer(x, (uint8_t)disp, disp == TCPX_ANSWER_REFUSED ?
		      TCPX_E_EXISTS : 0, offset);
	if (disp == TCPX_ANSWER_SEND || disp == TCPX_ANSWER_RESUME) {
		struct grant *g = &x->grants[(x->grant_head + x->grant_count++) %
					     TCPX_OFFER_WINDOW];
		g->id = ev->meta.id;
		g->offset = offset;
	}
}

static void on_event(struct rx *x, const struct receiver_event *ev)
{
	static const uint64_t file_rate[4] = { 0, 8, 2, 1 };
	static const uint64_t data_rate[4] = { 0, 16, 4, 1 };
	static const uint64_t commit_rate[4] = { 0, 8, 2, 1 };
	const char *why = NULL;

	FZ_CHECK(!x->over);
	switch (ev->type) {
	case REV_HELLO:
		FZ_CHECK(!x->hello && x->files == 0);
		x->hello = 1;
		break;
	case REV_OFFER:
		on_offer(x, ev);
		break;
	case REV_FILE:
		FZ_CHECK(x->hello && !x->in_file && !x->skipping);
		if (ev->offered) {
			/* the oldest grant, from its offset */
			struct grant *g = &x->grants[x->grant_head];
			FZ_CHECK(x->cfg.caps & TCPX_CAP_OFFER);
			FZ_CHECK(x->grant_count > 0 && g->id == ev->meta.id);
			FZ_CHECK(ev->offset == 0 || ev->offset == g->offset);
			x->grant_head = (x->grant_head + 1) % TCPX_OFFER_WINDOW;
			x->grant_count--;
			x->cur_id = ev->meta.id;
		} else {
			take_item(x, ev);
		}
		FZ_CHECK(name_validate(ev->meta.name, ev->meta.name_len, &why) == 0);
		FZ_CHECK((ev->meta.mode & ~TCPX_MODE_MASK) == 0);
		FZ_CHECK(ev->meta.mtime_nsec < 1000000000u);
		/* a stream only with STREAM, and its size is checked later */
		FZ_CHECK(!ev->stream || ((x->cfg.caps & TCPX_CAP_STREAM) &&
					 ev->meta.size == TCPX_SIZE_UNKNOWN));
		FZ_CHECK(ev->stream || !x->cfg.max_size ||
			 ev->meta.size <= x->cfg.max_size);
		FZ_CHECK(receiver_in_file(x->r));
		x->in_file = 1;
		x->stream = ev->stream;
		x->failed = 0;
		x->size = ev->meta.size;
		x->got = ev->offset;
		crypto_generichash_init(&x->hash, NULL, 0, DIGEST_LEN);
		if (ev->offset) {
			/* the prefix's digest state: here that of nothing,
			 * which the model's hash starts from too */
			struct digest empty;
			digest_init(&empty);
			receiver_set_prefix(x->r, &empty);
		}
		if (fz_one_in(&x->rng, fz_rate(x->b1, file_rate)))
			disk_fails(x);
		break;
	case REV_REFUSED:
		FZ_CHECK(x->hello && !x->in_file && !x->skipping);
		take_item(x, ev);
		FZ_CHECK(ev->msg != NULL);
		if (ev->code == TCPX_E_BAD_NAME)
			FZ_CHECK(name_validate(ev->meta.name, ev->meta.name_len,
					       &why) < 0);
		else if (ev->code == TCPX_E_DUPLICATE)
			FZ_CHECK(ev->offered);
		else
			FZ_CHECK(ev->code == TCPX_E_TOO_BIG && x->cfg.max_size &&
				 !ev->stream && ev->meta.size > x->cfg.max_size);
		if (ev->offered) {      /* refused in its ANSWER: no data */
			expect_answer(x, TCPX_ANSWER_REFUSED, (uint16_t)ev->code, 0);
			break;
		}
		expect(x, (uint16_t)ev->code, NULL);
		x->skipping = !ev->is_dir;      /* a DIR has no data to skip */
		break;
	case REV_DIR:
		FZ_CHECK(x->hello && !x->in_file && !x->skipping && ev->is_dir);
		FZ_CHECK(x->cfg.caps & TCPX_CAP_TREE);
		take_item(x, ev);
		FZ_CHECK(name_validate(ev->meta.name, ev->meta.name_len, &why) == 0);
		FZ_CHECK((ev->meta.mode & ~TCPX_MODE_MASK) == 0);
		FZ_CHECK(ev->meta.mtime_nsec < 1000000000u);
		FZ_CHECK(!receiver_in_file(x->r));
		if (x->b1 & 0x40) {
			struct receiver_event again;
			receiver_next(x->r, &again);
			FZ_CHECK(again.type == REV_NONE);
		}
		{
			/* store_dir() fails now and then, like a commit */
			int code = fz_one_in(&x->rng, fz_rate(x->b1 >> 4, commit_rate)) ?
				   pick_disk_code(x) : 0;
			receiver_file_done(x->r, code, code ? pick_msg(x) : NULL);
			expect(x, (uint16_t)code, NULL);  /* a DIR's digest: zeros */
		}
		break;
	case REV_DATA:
		FZ_CHECK(x->in_file && !x->failed);
		FZ_CHECK(ev->len >= 1 && ev->len <= TCPX_CHUNK_MAX);
		FZ_CHECK(ev->len <= x->size - x->got);
		x->got += ev->len;
		/* a stream is never handed out past --max-size */
		FZ_CHECK(!x->stream || !x->cfg.max_size || x->got <= x->cfg.max_size);
		crypto_generichash_update(&x->hash, ev->data, ev->len);
		if (fz_one_in(&x->rng, fz_rate(x->b1 >> 2, data_rate)))
			disk_fails(x);
		break;
	case REV_END: {
		uint8_t ours[DIGEST_LEN], theirs[DIGEST_LEN];
		struct receiver_event again;

		FZ_CHECK(x->in_file && !x->failed);
		FZ_CHECK(x->stream || x->got == x->size);
		FZ_CHECK(ev->code == 0 || ev->code == TCPX_E_DIGEST);
		FZ_CHECK(ev->digest != NULL);
		crypto_generichash_final(&x->hash, ours, sizeof(ours));
		FZ_CHECK(memcmp(ev->digest, ours, sizeof(ours)) == 0);
		memcpy(theirs, ev->digest, sizeof(theirs));
		int code = ev->code;
		if (x->b1 & 0x40) {
			/* The verdict is pending: nothing else may happen. */
			receiver_next(x->r, &again);
			FZ_CHECK(again.type == REV_NONE);
		}
		if (code == 0 && fz_one_in(&x->rng, fz_rate(x->b1 >> 4, commit_rate)))
			code = pick_disk_code(x);
		receiver_file_done(x->r, code, code ? pick_msg(x) : NULL);
		/* After END the digest goes back whatever the verdict. */
		expect(x, (uint16_t)code, ours);
		x->in_file = 0;
		FZ_CHECK(!receiver_in_file(x->r));
		break;
	}
	case REV_ABORTED:
		FZ_CHECK(x->in_file && !x->failed);
		expect(x, TCPX_E_ABORTED, NULL);
		x->in_file = 0;
		break;
	case REV_FAILED:        /* a stream past --max-size: refused part way */
		FZ_CHECK(x->in_file && !x->failed && x->stream);
		FZ_CHECK(ev->code == TCPX_E_TOO_BIG && x->cfg.max_size);
		FZ_CHECK(ev->msg != NULL);
		FZ_CHECK(!receiver_in_file(x->r));
		expect(x, TCPX_E_TOO_BIG, NULL);
		x->failed = 1;
		break;
	case REV_SKIPPED:
		FZ_CHECK(x->skipping || (x->in_file && x->failed));
		FZ_CHECK(!(x->skipping && x->in_file));
		x->skipping = x->in_file = 0;
		break;
	case REV_BYE:
		FZ_CHECK(x->hello && !x->in_file && !x->skipping);
		x->over = x->bye = 1;
		break;
	case REV_FATAL:
		FZ_CHECK((ev->code >= TCPX_E_MALFORMED &&
			  ev->code <= TCPX_E_TOO_MANY_FILES) ||
			 ev->code == TCPX_E_OFFERS ||
			 ev->code == TCPX_E_NOT_OFFERED);
		FZ_CHECK(ev->code != TCPX_E_TIMEOUT && ev->code != TCPX_E_BUSY &&
			 ev->code != TCPX_E_SHUTDOWN);
		FZ_CHECK(ev->msg != NULL);
		x->over = 1;
		x->fatal_code = ev->code;
		break;
	case REV_PEER_ERROR:
		FZ_CHECK(ev->peer_msg_len <= TCPX_MSG_MAX);
		x->over = x->peer_error = 1;
		break;
	default:
		FZ_CHECK(0);
	}
	if (x->over)
		FZ_CHECK(receiver_finished(x->r));
	else
		FZ_CHECK(!receiver_finished(x->r));
}

/* Parses everything the receiver sent and holds it to the session. */
static FZ_NOCOV void check_output(const struct rx *x)
{
	size_t pos = 0, results = 0;
	uint32_t last_result = 0;
	int hello = 0, ended = 0, bye = 0, error = 0, error_code = -1;

	while (pos < x->out.len) {
		struct tcpx_frame f;
		size_t consumed;
		int rc = frame_decode(x->out.p + pos, x->out.len - pos,
				      &proto_frame_limits, &f, &consumed, NULL);
		FZ_CHECK(rc == 1);              /* whole, valid frames only */
		FZ_CHECK(!ended);               /* nothing after BYE/ERROR */
		switch (f.type) {
		case TCPX_FRAME_HELLO: {
			struct tcpx_hello h;
			FZ_CHECK(pos == 0);
			FZ_CHECK(proto_decode_hello(&f, &h) == 0);
			FZ_CHECK(f.length == TCPX_HELLO_LEN);
			FZ_CHECK(h.version_min == TCPX_VERSION &&
				 h.version_max == TCPX_VERSION);
			FZ_CHECK((h.caps & ~x->cfg.caps) == 0);
			hello = 1;
			break;
		}
		case TCPX_FRAME_RESULT: {
			struct tcpx_result r;
			static const uint8_t zero[DIGEST_LEN];
			FZ_CHECK(hello);
			FZ_CHECK(proto_decode_result(&f, &r) == 0);
			FZ_CHECK(results < x->nexp);
			const struct expected *e = &x->exp[results];
			FZ_CHECK(!e->answer);
			FZ_CHECK(r.id > last_result);   /* increasing, each once */
			last_result = r.id;
			if (!(x->cfg.caps & TCPX_CAP_OFFER))
				FZ_CHECK(r.id == results + 1);  /* 1, 2, 3... */
			FZ_CHECK(r.id == e->id);
			FZ_CHECK(r.code == e->code);
			FZ_CHECK(memcmp(r.digest, e->has_digest ? e->digest : zero,
					DIGEST_LEN) == 0);
			results++;
			break;
		}
		case TCPX_FRAME_ANSWER: {
			struct tcpx_answer a;
			FZ_CHECK(hello && (x->cfg.caps & TCPX_CAP_OFFER));
			FZ_CHECK(proto_decode_answer(&f, &a) == 0);
			FZ_CHECK(results < x->nexp);
			const struct expected *e = &x->exp[results];
			FZ_CHECK(e->answer);
			FZ_CHECK(a.id == e->id && a.disposition == e->disposition &&
				 a.code == e->code && a.offset == e->offset);
			results++;
			break;
		}
		case TCPX_FRAME_BYE:
			FZ_CHECK(hello && f.length == 0);
			ended = bye = 1;
			break;
		case TCPX_FRAME_ERROR: {
			struct tcpx_error e;
			FZ_CHECK(proto_decode_error(&f, &e) == 0);
			ended = error = 1;
			error_code = e.code;
			break;
		}
		default:
			FZ_CHECK(0);    /* FILE, DATA, END, ABORT never go back */
		}
		pos += consumed;
	}
	FZ_CHECK(hello == x->hello);
	FZ_CHECK(results == x->nexp);
	FZ_CHECK(bye == x->bye);
	if (x->fatal_code) {
		FZ_CHECK(error && error_code == x->fatal_code);
	} else {
		FZ_CHECK(!error);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rx x;
	struct receiver_event ev;

	if (size < FZ_RX_HDR)
		return 0;
	memset(&x, 0, sizeof(x));
	x.cfg.max_size = fz_rx_max_size(data[0]);
	x.cfg.max_files = fz_rx_max_files(data[0]);
	x.cfg.caps = (data[0] & 0x10) ? 0 : TCPX_CAPS_V1;
	unsigned split = (data[0] >> 5) & 3u;
	x.partial_drain = data[0] >> 7;
	x.b1 = data[1];
	x.rng.s = fz_load_seed(data + 2, 6);
	x.r = receiver_new(&x.cfg);
	FZ_CHECK(x.r != NULL);
	struct frame_reader *rd = receiver_reader(x.r);

	const uint8_t *in = data + FZ_RX_HDR;
	size_t left = size - FZ_RX_HDR;

	for (;;) {
		receiver_next(x.r, &ev);
		if (ev.type != REV_NONE) {
			on_event(&x, &ev);
			continue;
		}
		/* Nothing decodable: send what we owe, then read. */
		drain(&x, 0);
		if (x.over)
			break;
		if (!left) {
			drain(&x, 1);
			receiver_next(x.r, &ev);
			if (ev.type == REV_NONE)
				break;
			on_event(&x, &ev);
			continue;
		}
		size_t cap;
		uint8_t *space = frame_reader_space(rd, &cap);
		if (cap == 0) {
			/* Full of frames it cannot answer yet: only output we
			 * have not drained can excuse that (serve_loop.c always
			 * drains all, so it never sees this). */
			const uint8_t *p;
			size_t plen;
			receiver_pending(x.r, &p, &plen);
			FZ_CHECK(plen > 0);
			drain(&x, 1);
			continue;
		}
		FZ_CHECK(space != NULL);
		size_t n = fz_split(&x.rng, split, left);
		if (n > cap)
			n = cap;
		memcpy(space, in, n);
		frame_reader_commit(rd, n);
		in += n;
		left -= n;
	}

	if (x.over) {
		/* Session over: more input changes nothing. */
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
			receiver_next(x.r, &ev);
			FZ_CHECK(ev.type == REV_NONE);
			FZ_CHECK(receiver_finished(x.r));
		}
	}
	drain(&x, 1);
	check_output(&x);

	receiver_free(x.r);
	fz_buf_free(&x.out);
	free(x.exp);
	return 0;
}
