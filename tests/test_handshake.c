/*
 * Tests for src/handshake.c: the worked example of man/tcpxfer.5 SECURE
 * byte for byte (the values are read from the man page itself, so the
 * page and the code cannot drift apart), the derivations recomputed here
 * from libsodium's primitives, tampering with every handshake byte, and
 * sealed records that are replayed, reordered, dropped, truncated or
 * altered.  TCPX_PRINT_VECTORS=1 prints the example's blocks.
 */
#include <sodium.h>

#include "handshake.h"
#include "keys.h"
#include "testutil.h"

static void init(void)
{
	cr_assert_eq(digest_global_init(), 0);
}

TestSuite(handshake, .init = init);

/* The example's inputs: every seed is 32 bytes counting up from a start. */
static void seed_from(uint8_t s[32], uint8_t start)
{
	for (int i = 0; i < 32; i++)
		s[i] = (uint8_t)(start + i);
}

struct party {
	uint8_t sk[crypto_sign_SECRETKEYBYTES], pk[crypto_sign_PUBLICKEYBYTES];
	uint8_t eseed[32];
};

struct example {
	struct party s, r;
	uint8_t hello_s[24], hello_r[24];
	uint8_t init[64], reply[256], auth[256];
	size_t init_len, reply_len, auth_len;
	struct handshake *hs_s, *hs_r;
};

/* A HELLO frame as man/tcpxfer.5 lays it out, built by hand. */
static void hello(uint8_t out[24], uint64_t caps)
{
	memcpy(out, "\x01\x00\x00\x00\x00\x00\x00\x10" "TCPX" "\x00\x01\x00\x01", 16);
	be64_store(out + 16, caps);
}

static void make_party(struct party *p, uint8_t id_start, uint8_t e_start)
{
	uint8_t seed[32];
	seed_from(seed, id_start);
	crypto_sign_seed_keypair(p->pk, p->sk, seed);
	seed_from(p->eseed, e_start);
}

/* The example up to KX_AUTH; caps: what both HELLOs carry. */
static void run_example(struct example *x, uint64_t caps)
{
	memset(x, 0, sizeof(*x));
	make_party(&x->s, 0x00, 0x40);
	make_party(&x->r, 0x20, 0x60);
	hello(x->hello_s, caps);
	hello(x->hello_r, caps);
	x->hs_s = handshake_new(TCPX_ROLE_SENDER, x->s.sk, x->s.pk, x->s.eseed,
				x->hello_s, 24, x->hello_r, 24);
	x->hs_r = handshake_new(TCPX_ROLE_RECEIVER, x->r.sk, x->r.pk, x->r.eseed,
				x->hello_s, 24, x->hello_r, 24);
	cr_assert_not_null(x->hs_s);
	cr_assert_not_null(x->hs_r);
	x->init_len = handshake_init_msg(x->hs_s, x->init);
	cr_assert_eq(x->init_len, 40u);
	int n = handshake_on_init(x->hs_r, x->init + 8, x->init_len - 8, x->reply);
	cr_assert_eq(n, 8 + 144);
	x->reply_len = (size_t)n;
	cr_assert_eq(handshake_on_reply(x->hs_s, x->reply + 8, x->reply_len - 8), 0);
	cr_assert_eq(memcmp(handshake_peer_key(x->hs_s), x->r.pk, 32), 0);
	x->auth_len = handshake_auth_msg(x->hs_s, x->auth);
	cr_assert_eq(x->auth_len, 8u + 112u);
	cr_assert_eq(handshake_on_auth(x->hs_r, x->auth + 8, x->auth_len - 8), 0);
	cr_assert_eq(memcmp(handshake_peer_key(x->hs_r), x->s.pk, 32), 0);
}

static void free_example(struct example *x)
{
	handshake_free(x->hs_s);
	handshake_free(x->hs_r);
}

/* ---- the man page's worked example -------------------------------------- */

/* The hex of the block that follows the line '.\" vector: NAME' in
 * man/tcpxfer.5, up to '.\" end' (roff request lines skipped). */
static size_t man_vector(const char *name, uint8_t *out, size_t cap)
{
	FILE *f = fopen("man/tcpxfer.5", "r");
	char line[512], want[128], hex[8192] = "";
	int in = 0;

	cr_assert_not_null(f, "man/tcpxfer.5 (run from the source tree)");
	snprintf(want, sizeof(want), ".\\\" vector: %s\n", name);
	while (fgets(line, sizeof(line), f)) {
		if (!in) {
			in = strcmp(line, want) == 0;
			continue;
		}
		if (strncmp(line, ".\\\" end", 7) == 0)
			break;
		if (line[0] == '.')
			continue;
		cr_assert(strlen(hex) + strlen(line) < sizeof(hex));
		strcat(hex, line);
	}
	fclose(f);
	cr_assert(in, "no vector %s in man/tcpxfer.5", name);
	return tu_hex_decode(hex, out, cap);
}

static void print_block(const char *name, const uint8_t *p, size_t n)
{
	if (!getenv("TCPX_PRINT_VECTORS"))
		return;
	printf(".\\\" vector: %s\n.nf\n", name);
	for (size_t i = 0; i < n; i++)
		printf("%02x%s", p[i], (i % 16 == 15 || i + 1 == n) ? "\n" : " ");
	printf(".fi\n.\\\" end\n");
}

static void check_vector(const char *name, const uint8_t *p, size_t n)
{
	uint8_t want[1024];
	print_block(name, p, n);
	if (getenv("TCPX_PRINT_VECTORS"))
		return;
	size_t wn = man_vector(name, want, sizeof(want));
	cr_assert_eq(wn, n, "%s: %zu bytes in the man page, %zu made", name, wn, n);
	cr_assert_eq(memcmp(want, p, n), 0, "%s differs from man/tcpxfer.5", name);
}

static const uint8_t bye[8] = { 7, 0, 0, 0, 0, 0, 0, 0 };

Test(handshake, worked_example_of_the_man_page)
{
	struct example x;
	struct hs_record tx, rx;
	uint8_t rec[64];

	run_example(&x, TCPX_CAP_SECURE);
	cr_assert_eq(handshake_aes(x.hs_s), 0);
	check_vector("sender public key", x.s.pk, 32);
	check_vector("receiver public key", x.r.pk, 32);
	check_vector("HELLO", x.hello_s, 24);
	check_vector("KX_INIT", x.init, x.init_len);
	check_vector("KX_REPLY", x.reply, x.reply_len);
	check_vector("KX_AUTH", x.auth, x.auth_len);
	handshake_records(x.hs_s, &tx, &rx);
	check_vector("sender to receiver key", tx.key, 32);
	check_vector("receiver to sender key", rx.key, 32);
	int n = handshake_seal(&tx, bye, sizeof(bye), rec);
	cr_assert_eq(n, 8 + 8 + 16);
	check_vector("first record", rec, (size_t)n);
	free_example(&x);
}

/* The derivations of man/tcpxfer.5, recomputed from the primitives. */
Test(handshake, keys_are_what_the_spec_derives)
{
	struct example x;
	struct hs_record tx, rx, rtx, rrx;
	uint8_t e_pk[32], e_sk[32], er_pk[32], er_sk[32], h1[32];
	uint8_t c_rx[32], c_tx[32], m[32], k[32];
	crypto_generichash_state st;

	run_example(&x, TCPX_CAP_SECURE);
	crypto_kx_seed_keypair(e_pk, e_sk, x.s.eseed);
	crypto_kx_seed_keypair(er_pk, er_sk, x.r.eseed);
	cr_assert_eq(memcmp(x.init + 8, e_pk, 32), 0);
	cr_assert_eq(memcmp(x.reply + 8, er_pk, 32), 0);
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, (const uint8_t *)"TCPX-SECURE-1", 13);
	crypto_generichash_update(&st, x.hello_s, 24);
	crypto_generichash_update(&st, x.hello_r, 24);
	crypto_generichash_update(&st, x.init, x.init_len);
	crypto_generichash_update(&st, er_pk, 32);
	crypto_generichash_final(&st, h1, 32);
	cr_assert_eq(crypto_kx_client_session_keys(c_rx, c_tx, e_pk, e_sk, er_pk), 0);
	crypto_generichash(m, 32, h1, 32, c_tx, 32);
	crypto_kdf_derive_from_key(k, 32, 2, "TCPXdata", m);
	handshake_records(x.hs_s, &tx, &rx);
	handshake_records(x.hs_r, &rtx, &rrx);
	cr_assert_eq(memcmp(tx.key, k, 32), 0, "sender to receiver key");
	cr_assert_eq(memcmp(rrx.key, k, 32), 0);
	crypto_generichash(m, 32, h1, 32, c_rx, 32);
	crypto_kdf_derive_from_key(k, 32, 2, "TCPXdata", m);
	cr_assert_eq(memcmp(rx.key, k, 32), 0, "receiver to sender key");
	cr_assert_eq(memcmp(rtx.key, k, 32), 0);
	/* The receiver's signature covers its label and h1. */
	uint8_t hs_key[32], id[96], nonce[24] = { 0 }, msg[64];
	crypto_kdf_derive_from_key(hs_key, 32, 1, "TCPXhand", m);
	cr_assert_eq(crypto_aead_xchacha20poly1305_ietf_decrypt(id, NULL, NULL,
			x.reply + 8 + 32, 112, h1, 32, nonce, hs_key), 0);
	cr_assert_eq(memcmp(id, x.r.pk, 32), 0);
	memcpy(msg, "TCPX-SECURE-1 receiver", 22);
	memcpy(msg + 22, h1, 32);
	cr_assert_eq(crypto_sign_verify_detached(id + 32, msg, 54, x.r.pk), 0);
	free_example(&x);
}

Test(handshake, hellos_must_both_ask_for_secure)
{
	struct party p;
	uint8_t a[24], b[24];
	make_party(&p, 0, 0x40);
	hello(a, TCPX_CAP_SECURE);
	hello(b, 0);
	cr_assert_null(handshake_new(TCPX_ROLE_SENDER, p.sk, p.pk, NULL, a, 24, b, 24));
	cr_assert_null(handshake_new(TCPX_ROLE_SENDER, p.sk, p.pk, NULL, b, 24, a, 24));
	cr_assert_null(handshake_new(TCPX_ROLE_SENDER, p.sk, p.pk, NULL, a, 23, a, 24));
	a[8] = 'X';     /* not the magic */
	cr_assert_null(handshake_new(TCPX_ROLE_RECEIVER, p.sk, p.pk, NULL, a, 24, b, 24));
}

/* A HELLO altered on the way (a capability stripped or added) leaves the
 * two sides with different transcripts: the sender's check fails. */
Test(handshake, hellos_seen_differently_fail)
{
	struct example x;
	run_example(&x, TCPX_CAP_SECURE);
	free_example(&x);
	uint8_t hello_r2[24];
	hello(hello_r2, TCPX_CAP_SECURE | TCPX_CAP_ZLIB);
	struct handshake *s = handshake_new(TCPX_ROLE_SENDER, x.s.sk, x.s.pk,
		x.s.eseed, x.hello_s, 24, hello_r2, 24);
	struct handshake *r = handshake_new(TCPX_ROLE_RECEIVER, x.r.sk, x.r.pk,
		x.r.eseed, x.hello_s, 24, x.hello_r, 24);
	uint8_t init[64], reply[256];
	handshake_init_msg(s, init);
	cr_assert_gt(handshake_on_init(r, init + 8, 32, reply), 0);
	cr_assert_eq(handshake_on_reply(s, reply + 8, 144), -TCPX_E_AUTH);
	handshake_free(s);
	handshake_free(r);
}

/* Every byte of KX_REPLY and of KX_AUTH, flipped, is caught. */
Test(handshake, every_handshake_byte_is_authenticated)
{
	struct example x;
	run_example(&x, TCPX_CAP_SECURE);
	for (size_t i = 8; i < x.reply_len; i++) {
		struct handshake *s = handshake_new(TCPX_ROLE_SENDER, x.s.sk,
			x.s.pk, x.s.eseed, x.hello_s, 24, x.hello_r, 24);
		uint8_t init[64], reply[256];
		handshake_init_msg(s, init);
		memcpy(reply, x.reply, x.reply_len);
		reply[i] ^= 0x01;
		cr_assert_eq(handshake_on_reply(s, reply + 8, 144), -TCPX_E_AUTH,
			     "KX_REPLY byte %zu", i);
		handshake_free(s);
	}
	for (size_t i = 8; i < x.auth_len; i++) {
		struct handshake *r = handshake_new(TCPX_ROLE_RECEIVER, x.r.sk,
			x.r.pk, x.r.eseed, x.hello_s, 24, x.hello_r, 24);
		uint8_t reply[256], auth[256];
		cr_assert_gt(handshake_on_init(r, x.init + 8, 32, reply), 0);
		memcpy(auth, x.auth, x.auth_len);
		auth[i] ^= 0x80;
		cr_assert_eq(handshake_on_auth(r, auth + 8, 112), -TCPX_E_AUTH,
			     "KX_AUTH byte %zu", i);
		handshake_free(r);
	}
	/* A KX_INIT altered makes the receiver's reply useless to the
	 * sender: the keys differ. */
	struct handshake *r = handshake_new(TCPX_ROLE_RECEIVER, x.r.sk, x.r.pk,
		x.r.eseed, x.hello_s, 24, x.hello_r, 24);
	struct handshake *s = handshake_new(TCPX_ROLE_SENDER, x.s.sk, x.s.pk,
		x.s.eseed, x.hello_s, 24, x.hello_r, 24);
	uint8_t init[64], reply[256];
	handshake_init_msg(s, init);
	init[20] ^= 0x04;
	cr_assert_gt(handshake_on_init(r, init + 8, 32, reply), 0);
	cr_assert_eq(handshake_on_reply(s, reply + 8, 144), -TCPX_E_AUTH);
	handshake_free(r);
	handshake_free(s);
	free_example(&x);
}

Test(handshake, wrong_lengths_and_order)
{
	struct example x;
	run_example(&x, TCPX_CAP_SECURE);
	struct handshake *r = handshake_new(TCPX_ROLE_RECEIVER, x.r.sk, x.r.pk,
		NULL, x.hello_s, 24, x.hello_r, 24);
	uint8_t out[256], zero[32] = { 0 };
	cr_assert_eq(handshake_on_auth(r, x.auth + 8, 112), -TCPX_E_UNEXPECTED);
	cr_assert_eq(handshake_on_init(r, x.init + 8, 31, out), -TCPX_E_MALFORMED);
	handshake_free(r);
	/* The all-zero point: no exchange can use it. */
	r = handshake_new(TCPX_ROLE_RECEIVER, x.r.sk, x.r.pk, NULL,
			  x.hello_s, 24, x.hello_r, 24);
	cr_assert_eq(handshake_on_init(r, zero, 32, out), -TCPX_E_AUTH);
	handshake_free(r);
	struct handshake *s = handshake_new(TCPX_ROLE_SENDER, x.s.sk, x.s.pk,
		NULL, x.hello_s, 24, x.hello_r, 24);
	cr_assert_eq(handshake_on_reply(s, x.reply + 8, 144), -TCPX_E_UNEXPECTED);
	handshake_init_msg(s, out);
	cr_assert_eq(handshake_on_reply(s, x.reply + 8, 143), -TCPX_E_MALFORMED);
	handshake_free(s);
	free_example(&x);
}

/* ---- records ------------------------------------------------------------- */

struct recs {
	uint8_t buf[4][64];
	int len[4];
};

static void seal_four(struct hs_record *tx, struct recs *r)
{
	for (int i = 0; i < 4; i++) {
		uint8_t pt[8] = { 7, 0, 0, 0, 0, 0, 0, (uint8_t)i };
		r->len[i] = handshake_seal(tx, pt, sizeof(pt), r->buf[i]);
		cr_assert_eq(r->len[i], 32);
	}
}

static int open_one(struct hs_record *rx, const uint8_t *rec, int len)
{
	uint8_t copy[64];
	memcpy(copy, rec, (size_t)len);
	return handshake_open(rx, copy, copy + 8, (size_t)len - 8);
}

static void records_of(uint64_t caps, struct hs_record *tx, struct hs_record *rx)
{
	struct example x;
	struct hs_record a, b;
	run_example(&x, caps);
	handshake_records(x.hs_s, tx, &a);
	handshake_records(x.hs_r, &b, rx);
	free_example(&x);
}

Test(handshake, records_open_in_order_once)
{
	struct hs_record tx, rx;
	struct recs r;
	records_of(TCPX_CAP_SECURE, &tx, &rx);
	seal_four(&tx, &r);
	for (int i = 0; i < 4; i++) {
		uint8_t copy[64];
		memcpy(copy, r.buf[i], 32);
		cr_assert_eq(handshake_open(&rx, copy, copy + 8, 24), 8);
		cr_assert_eq(copy[8 + 7], i);
		cr_assert_eq(copy[8], 7);
	}
}

Test(handshake, replay_reorder_drop_fail)
{
	struct hs_record tx, rx, rx0;
	struct recs r;
	records_of(TCPX_CAP_SECURE, &tx, &rx0);
	seal_four(&tx, &r);
	rx = rx0;       /* replay */
	cr_assert_eq(open_one(&rx, r.buf[0], 32), 8);
	cr_assert_eq(open_one(&rx, r.buf[0], 32), -TCPX_E_AUTH);
	rx = rx0;       /* reorder */
	cr_assert_eq(open_one(&rx, r.buf[1], 32), -TCPX_E_AUTH);
	rx = rx0;       /* drop */
	cr_assert_eq(open_one(&rx, r.buf[0], 32), 8);
	cr_assert_eq(open_one(&rx, r.buf[2], 32), -TCPX_E_AUTH);
}

Test(handshake, altered_or_truncated_records_fail)
{
	struct hs_record tx, rx0;
	struct recs r;
	records_of(TCPX_CAP_SECURE, &tx, &rx0);
	seal_four(&tx, &r);
	for (int i = 0; i < 32; i++) {
		struct hs_record rx = rx0;
		uint8_t copy[64];
		memcpy(copy, r.buf[0], 32);
		copy[i] ^= 0x10;
		cr_assert_eq(handshake_open(&rx, copy, copy + 8, 24), -TCPX_E_AUTH,
			     "byte %d", i);
	}
	struct hs_record rx = rx0;
	uint8_t copy[64];
	memcpy(copy, r.buf[0], 32);
	cr_assert_eq(handshake_open(&rx, copy, copy + 8, 23), -TCPX_E_AUTH);
	rx = rx0;
	cr_assert_eq(handshake_open(&rx, copy, copy + 8, 16), -TCPX_E_AUTH);
	rx = rx0;
	cr_assert_eq(handshake_open(&rx, copy, copy + 8, 15), -TCPX_E_MALFORMED);
}

Test(handshake, aes_256_gcm_when_both_hellos_have_it)
{
	struct example x;
	uint64_t caps = TCPX_CAP_SECURE | TCPX_CAP_AES256GCM;
	if (!crypto_aead_aes256gcm_is_available())
		cr_skip_test("no AES-256-GCM here");
	run_example(&x, caps);
	cr_assert_eq(handshake_aes(x.hs_s), 1);
	cr_assert_eq(handshake_aes(x.hs_r), 1);
	struct hs_record tx, rx, a, b;
	handshake_records(x.hs_s, &tx, &a);
	handshake_records(x.hs_r, &b, &rx);
	cr_assert(tx.aes && rx.aes);
	struct recs r;
	seal_four(&tx, &r);
	cr_assert_eq(open_one(&rx, r.buf[0], 32), 8);
	cr_assert_eq(open_one(&rx, r.buf[2], 32), -TCPX_E_AUTH);
	free_example(&x);
}

Test(handshake, keys_are_replaced_every_rekey_interval)
{
	struct hs_record tx, rx;
	uint8_t first[32];
	records_of(TCPX_CAP_SECURE, &tx, &rx);
	tx.rekey_every = rx.rekey_every = 2;
	memcpy(first, tx.key, 32);
	for (int i = 0; i < 7; i++) {
		uint8_t pt[3] = { 1, 2, (uint8_t)i }, rec[64];
		int n = handshake_seal(&tx, pt, 3, rec);
		cr_assert_eq(handshake_open(&rx, rec, rec + 8, (size_t)n - 8), 3);
		cr_assert_eq(rec[10], i);
	}
	cr_assert_neq(memcmp(first, tx.key, 32), 0);
	cr_assert_eq(memcmp(rx.key, tx.key, 32), 0);
	/* The ratchet is crypto_kdf subkey 1 "TCPXrkey" of the old key. */
	struct hs_record a, b;
	records_of(TCPX_CAP_SECURE, &a, &b);
	uint8_t k[32];
	crypto_kdf_derive_from_key(k, 32, 1, "TCPXrkey", first);
	a.rekey_every = 2;
	uint8_t pt[1] = { 9 }, rec[64];
	handshake_seal(&a, pt, 1, rec);
	handshake_seal(&a, pt, 1, rec);
	handshake_seal(&a, pt, 1, rec);   /* record 2: the first new key */
	cr_assert_eq(memcmp(a.key, k, 32), 0);
}

Test(handshake, record_limits)
{
	struct hs_record tx, rx;
	static uint8_t pt[HS_RECORD_MAX + 1], out[HS_RECORD_WIRE_MAX + 16];
	records_of(TCPX_CAP_SECURE, &tx, &rx);
	/* An empty record: the receiver's key confirmation. */
	int n = handshake_seal(&tx, NULL, 0, out);
	cr_assert_eq(n, 24);
	cr_assert_eq(be32_load(out + 4), 16u);
	cr_assert_eq(handshake_open(&rx, out, out + 8, 16), 0);
	cr_assert_eq(handshake_seal(&tx, pt, HS_RECORD_MAX + 1, out), -TCPX_E_INTERNAL);
	cr_assert_eq(handshake_seal(&tx, pt, HS_RECORD_MAX, out),
		     (int)HS_RECORD_WIRE_MAX);
	cr_assert_eq(handshake_record_limits.max_payload(TCPX_FRAME_SEALED),
		     (int64_t)(HS_RECORD_MAX + HS_TAG_LEN));
	cr_assert_eq(handshake_record_limits.max_payload(TCPX_FRAME_DATA), -1);
	cr_assert_eq(handshake_limits_receiver.max_payload(TCPX_FRAME_KX_INIT), 32);
	cr_assert_eq(handshake_limits_receiver.max_payload(TCPX_FRAME_FILE), -1);
	cr_assert_eq(handshake_limits_sender.max_payload(TCPX_FRAME_KX_REPLY), 144);
	cr_assert_eq(handshake_limits_sender.max_payload(TCPX_FRAME_KX_AUTH), -1);
	tx.counter = UINT64_MAX;
	cr_assert_eq(handshake_seal(&tx, pt, 1, out), -TCPX_E_INTERNAL);
}
