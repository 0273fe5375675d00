/*
 * fuzz_multi: the receiver of a session with several connections (MULTI,
 * man/tcpxfer.5 SEVERAL CONNECTIONS): its own connection's bytes, a
 * joined connection's bytes (HELLO, JOIN, PLACE and DATA pairs) and the
 * chunks that joined connection hands over (receiver_place()), in an
 * order the input picks, over a disk kept in memory.
 *
 * Input: records [op u8][len u16 big-endian][len bytes]; op % 3 is
 *   0  bytes for the session's own connection,
 *   1  bytes for a joined connection (its chunks go to receiver_place()),
 *   2  a chunk straight to receiver_place(): id u32, offset u64, data.
 * Invariants beyond "no crash, no leak, no UB":
 *   - the digest the receiver computed at REV_END is the BLAKE2b-512 of
 *     what it had written, at the offsets it gave, whatever the order the
 *     chunks came in (read-backs served from the same disk);
 *   - every write and read-back lies inside the current file's size;
 *   - nothing but REV_NONE once the session is over.
 * Seeds (tests/fuzz/corpus/multi, written by hand in that record layout):
 * a file whose third chunk comes on a joined connection before the
 * second, END before its last chunk, a chunk of a file not begun yet
 * (offers), and an overlap.
 */
#include <sodium.h>

#include "digest.h"
#include "error.h"
#include "fuzz_common.h"
#include "receiver.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Files larger than this are written nowhere; their digest is not
 * compared (the ranges are still checked). */
#define DISK_MAX (1u << 20)

struct mx {
	struct tcpx_receiver *r, *lane;
	uint8_t *disk;
	uint64_t size, seq;      /* current file: size, next unplaced offset */
	int in_file, over, lane_over;
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FZ_CHECK(digest_global_init() == 0);
	return 0;
}

static FZ_NOCOV void discard_output(struct tcpx_receiver *r)
{
	const uint8_t *p;
	size_t n;
	receiver_pending(r, &p, &n);
	receiver_sent(r, n);
}

static void put(struct mx *x, uint64_t off, const uint8_t *p, size_t n)
{
	FZ_CHECK(x->in_file);
	FZ_CHECK(off <= x->size && n <= x->size - off);
	if (x->size <= DISK_MAX)
		memcpy(x->disk + off, p, n);
}

static void drain(struct mx *x)
{
	struct receiver_event ev;
	uint8_t dg[DIGEST_LEN];
	for (int i = 0; i < 100000; i++) {
		receiver_next(x->r, &ev);
		if (x->over) {
			FZ_CHECK(ev.type == REV_NONE);
			return;
		}
		switch (ev.type) {
		case REV_NONE:
			discard_output(x->r);
			return;
		case REV_HELLO:
		case REV_SKIPPED:
		case REV_REFUSED:
		case REV_CHUNK:         /* the own connection never joins */
			break;
		case REV_JOIN:
			receiver_fail(x->r, TCPX_E_JOIN, "no");
			break;
		case REV_OFFER:
			receiver_answer(x->r, TCPX_ANSWER_SEND, 0, 0, 0, NULL, NULL);
			break;
		case REV_DIR:
			receiver_file_done(x->r, 0, NULL);
			break;
		case REV_FILE:
			x->in_file = 1;
			x->size = ev.stream ? DISK_MAX + 1 : ev.meta.size;
			x->seq = 0;
			if (x->size <= DISK_MAX)
				memset(x->disk, 0, (size_t)x->size);
			break;
		case REV_DATA:
			if (ev.placed) {
				put(x, ev.offset, ev.data, ev.len);
			} else if (x->size <= DISK_MAX) {
				put(x, x->seq, ev.data, ev.len);
				x->seq += ev.len;
			}
			break;
		case REV_READBACK:
			FZ_CHECK(x->in_file);
			FZ_CHECK(ev.len > 0 && ev.len <= TCPX_CHUNK_MAX);
			FZ_CHECK(ev.offset <= x->size && ev.len <= x->size - ev.offset);
			if (x->size <= DISK_MAX) {
				receiver_readback(x->r, x->disk + ev.offset, ev.len);
			} else {
				static uint8_t zeros[TCPX_CHUNK_MAX];
				receiver_readback(x->r, zeros, ev.len);
			}
			break;
		case REV_END:
			FZ_CHECK(x->in_file);
			if (x->size <= DISK_MAX) {
				crypto_generichash(dg, DIGEST_LEN, x->disk,
						   (size_t)x->size, NULL, 0);
				FZ_CHECK(sodium_memcmp(dg, ev.digest, DIGEST_LEN) == 0);
			}
			receiver_file_done(x->r, ev.code, NULL);
			x->in_file = 0;
			break;
		case REV_ABORTED:
		case REV_FAILED:
			x->in_file = 0;
			break;
		case REV_BYE:
		case REV_FATAL:
		case REV_PEER_ERROR:
			x->over = 1;
			x->in_file = 0;
			break;
		}
	}
}

/* A chunk for the session's receiver, as serve_loop's lane_chunk(). */
static void place(struct mx *x, uint32_t id, uint64_t off,
		  const uint8_t *p, size_t n)
{
	if (x->over || n == 0 || n > TCPX_CHUNK_MAX)
		return;
	int rc = receiver_place(x->r, id, off, p, n);
	FZ_CHECK(rc >= -1 && rc <= 2);
	if (rc == 0)
		put(x, off, p, n);
	if (rc < 0) {
		FZ_CHECK(receiver_finished(x->r));
		x->over = 1;    /* ERROR queued; no event follows */
	}
	drain(x);
}

static void drain_lane(struct mx *x)
{
	struct receiver_event ev;
	for (int i = 0; i < 100000 && !x->lane_over; i++) {
		receiver_next(x->lane, &ev);
		switch (ev.type) {
		case REV_NONE:
			discard_output(x->lane);
			return;
		case REV_JOIN:
			receiver_join_accept(x->lane);
			break;
		case REV_CHUNK:
			FZ_CHECK(receiver_joined(x->lane));
			place(x, ev.id, ev.offset, ev.data, ev.len);
			break;
		case REV_BYE:
		case REV_FATAL:
		case REV_PEER_ERROR:
			x->lane_over = 1;
			break;
		default:
			/* a connection that did not JOIN is a session of its
			 * own: its files are not ours to follow here */
			if (!receiver_joined(x->lane))
				x->lane_over = 1;
			break;
		}
	}
}

/* One read: what the reader has no room for is lost, as a peer that
 * overran a full buffer would see its bytes wait (the fuzzer need not
 * model the wait). */
static FZ_NOCOV void feed(struct tcpx_receiver *r, const uint8_t *p, size_t n)
{
	struct frame_reader *rd = receiver_reader(r);
	size_t cap;
	uint8_t *dst = frame_reader_space(rd, &cap);
	size_t k = n < cap ? n : cap;
	memcpy(dst, p, k);
	frame_reader_commit(rd, k);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mx x;
	struct receiver_config cfg = { .caps = TCPX_CAPS_V1 | TCPX_CAP_MULTI,
				       .max_streams = 3 };
	memset(&x, 0, sizeof(x));
	memset(cfg.join_token, 0x5a, sizeof(cfg.join_token));
	x.disk = malloc(DISK_MAX);
	x.r = receiver_new(&cfg);
	x.lane = receiver_new(&cfg);
	FZ_CHECK(x.disk && x.r && x.lane);
	while (size >= 3) {
		uint8_t op = data[0] % 3;
		size_t len = (size_t)data[1] << 8 | data[2];
		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		if (op == 0 && !x.over) {
			feed(x.r, data, len);
			drain(&x);
		} else if (op == 1 && !x.lane_over) {
			feed(x.lane, data, len);
			drain_lane(&x);
		} else if (op == 2 && len >= 12) {
			uint32_t id = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
				      (uint32_t)data[2] << 8 | data[3];
			uint64_t off = 0;
			for (int i = 4; i < 12; i++)
				off = off << 8 | data[i];
			place(&x, id, off, data + 12, len - 12);
		}
		data += len;
		size -= len;
	}
	receiver_free(x.r);
	receiver_free(x.lane);
	free(x.disk);
	return 0;
}
