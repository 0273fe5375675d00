/*
 * fuzz_handshake: the SECURE handshake and sealed records (handshake.c)
 * on arbitrary bytes.
 *
 * The first input byte picks the role; the rest is what the peer sends.
 *   0  receiver: the rest is split (at a length byte) into a KX_INIT and
 *      a KX_AUTH payload; on_init must answer or fail cleanly, on_auth
 *      must never accept (no input can carry the sender's signature).
 *   1  sender: the rest is a KX_REPLY payload; on_reply must never accept.
 *   2  records: the rest is a stream of frames judged by
 *      handshake_record_limits and opened with a session's keys (a fixed
 *      handshake with seeded keys); no record may open, every one must
 *      fail with AUTH or MALFORMED; then each chunk of the input, sealed
 *      and opened, must come back byte for byte.
 *   3  the rest is two HELLO frames (split at a length byte) for
 *      handshake_new(): NULL or a handshake, never a crash.
 * The second byte is that length byte (where it applies).  The seeds in
 * tests/fuzz/corpus/handshake are written by hand, one per mode: zeros
 * after the two bytes, a SEALED header, two SECURE HELLOs.
 */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "frame.h"
#include "fuzz_common.h"
#include "handshake.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t s_sk[64], s_pk[32], r_sk[64], r_pk[32];
static uint8_t hello[24];
static int ready;

static void setup(void)
{
	uint8_t seed[32];
	if (ready)
		return;
	FZ_CHECK(sodium_init() >= 0);
	memset(seed, 1, 32);
	crypto_sign_seed_keypair(s_pk, s_sk, seed);
	memset(seed, 2, 32);
	crypto_sign_seed_keypair(r_pk, r_sk, seed);
	memcpy(hello, "\x01\x00\x00\x00\x00\x00\x00\x10" "TCPX" "\x00\x01\x00\x01", 16);
	be64_store(hello + 16, TCPX_CAP_SECURE);
	ready = 1;
}

static struct handshake *party(enum tcpx_role role, uint8_t seed_byte)
{
	uint8_t seed[32];
	memset(seed, seed_byte, 32);
	struct handshake *hs = role == TCPX_ROLE_SENDER ?
		handshake_new(role, s_sk, s_pk, seed, hello, 24, hello, 24) :
		handshake_new(role, r_sk, r_pk, seed, hello, 24, hello, 24);
	FZ_CHECK(hs != NULL);
	return hs;
}

/* The two directions of one session between the fixed parties. */
static void session(struct hs_record *s_tx, struct hs_record *r_rx)
{
	struct handshake *s = party(TCPX_ROLE_SENDER, 3);
	struct handshake *r = party(TCPX_ROLE_RECEIVER, 4);
	uint8_t init[64], reply[256], auth[256];
	struct hs_record x;
	handshake_init_msg(s, init);
	FZ_CHECK(handshake_on_init(r, init + 8, 32, reply) == 8 + 144);
	FZ_CHECK(handshake_on_reply(s, reply + 8, 144) == 0);
	handshake_auth_msg(s, auth);
	FZ_CHECK(handshake_on_auth(r, auth + 8, 112) == 0);
	handshake_records(s, s_tx, &x);
	handshake_records(r, &x, r_rx);
	handshake_free(s);
	handshake_free(r);
}

static void records(const uint8_t *p, size_t n)
{
	static uint8_t buf[HS_RECORD_WIRE_MAX], out[HS_RECORD_WIRE_MAX];
	struct hs_record tx, rx;
	struct tcpx_frame f;
	size_t used, off = 0;

	session(&tx, &rx);
	while (off < n) {
		int rc = frame_decode(p + off, n - off, &handshake_record_limits,
				      &f, &used, NULL);
		if (rc <= 0)
			break;
		memcpy(buf, f.payload, f.length);
		struct hs_record r = rx;
		rc = handshake_open(&r, p + off, buf, f.length);
		FZ_CHECK(rc == -TCPX_E_AUTH || rc == -TCPX_E_MALFORMED);
		off += used;
	}
	/* Round trips, chunk by chunk. */
	for (off = 0; off < n; off += 4096) {
		size_t len = n - off < 4096 ? n - off : 4096;
		int w = handshake_seal(&tx, p + off, len, out);
		FZ_CHECK(w == (int)(len + 24));
		FZ_CHECK(frame_decode(out, (size_t)w, &handshake_record_limits, &f,
				      &used, NULL) == 1);
		memcpy(buf, f.payload, f.length);
		FZ_CHECK(handshake_open(&rx, out, buf, f.length) == (int)len);
		FZ_CHECK(memcmp(buf, p + off, len) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t out[256];
	if (size < 2)
		return 0;
	setup();
	const uint8_t *p = data + 2;
	size_t n = size - 2, cut = data[1] < n ? data[1] : n;
	switch (data[0] & 3) {
	case 0: {
		struct handshake *r = party(TCPX_ROLE_RECEIVER, 5);
		int rc = handshake_on_init(r, p, cut, out);
		FZ_CHECK(rc == 8 + 144 || rc == -TCPX_E_MALFORMED || rc == -TCPX_E_AUTH);
		if (rc > 0)
			FZ_CHECK(handshake_on_auth(r, p + cut, n - cut) < 0);
		handshake_free(r);
		break;
	}
	case 1: {
		struct handshake *s = party(TCPX_ROLE_SENDER, 6);
		handshake_init_msg(s, out);
		FZ_CHECK(handshake_on_reply(s, p, n) < 0);
		handshake_free(s);
		break;
	}
	case 2:
		records(p, n);
		break;
	case 3:
		handshake_free(handshake_new(TCPX_ROLE_SENDER, s_sk, s_pk, NULL,
					     p, cut, p + cut, n - cut));
		break;
	}
	return 0;
}
