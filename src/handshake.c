/* handshake: the SECURE handshake and sealed records, sans I/O
 * (handshake.h, man/tcpxfer.5 SECURE). */
#include <sodium.h>
#include <string.h>

#include "bytes.h"
#include "error.h"
#include "handshake.h"
#include "keys.h"

#define LABEL "TCPX-SECURE-1"
#define SIG_LEN crypto_sign_BYTES                  /* 64 */
#define ID_LEN (KEYS_PUBLIC_LEN + SIG_LEN)         /* sealed identity */

enum { HS_START, HS_INIT_SENT, HS_REPLIED, HS_REPLY_OK, HS_DONE, HS_FAILED };

struct handshake {
	enum tcpx_role role;
	int state, aes;
	const uint8_t *sk, *pk;
	uint8_t e_pk[crypto_kx_PUBLICKEYBYTES], e_sk[crypto_kx_SECRETKEYBYTES];
	uint8_t init_frame[TCPX_FRAME_HEADER_LEN + TCPX_KX_INIT_LEN];
	uint8_t h1[32], h2[32];
	uint8_t hs_c2s[HS_KEY_LEN], hs_s2c[HS_KEY_LEN];
	uint8_t peer_pk[KEYS_PUBLIC_LEN];
	struct hs_record c2s, s2c;
	crypto_generichash_state hello;  /* LABEL || HELLO_S || HELLO_R */
};

static int64_t max_sender_reads(uint8_t type)
{
	return type == TCPX_FRAME_KX_REPLY ? (int64_t)TCPX_KX_REPLY_LEN :
	       type == TCPX_FRAME_ERROR ? proto_max_payload(type) : -1;
}

static int64_t max_receiver_reads(uint8_t type)
{
	return type == TCPX_FRAME_KX_INIT ? (int64_t)TCPX_KX_INIT_LEN :
	       type == TCPX_FRAME_KX_AUTH ? (int64_t)TCPX_KX_AUTH_LEN :
	       type == TCPX_FRAME_ERROR ? proto_max_payload(type) : -1;
}

static int64_t max_record(uint8_t type)
{
	return type == TCPX_FRAME_SEALED ? (int64_t)(HS_RECORD_MAX + HS_TAG_LEN) : -1;
}

const struct frame_limits handshake_limits_sender = {
	max_sender_reads, TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX };
const struct frame_limits handshake_limits_receiver = {
	max_receiver_reads, TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX };
const struct frame_limits handshake_record_limits = {
	max_record, HS_RECORD_MAX + HS_TAG_LEN };

/* The capabilities of a HELLO frame, or -1 if it is none. */
static int64_t hello_caps(const uint8_t *p, size_t len)
{
	struct tcpx_frame f;
	struct tcpx_hello h;
	size_t used;

	if (frame_decode(p, len, &proto_frame_limits, &f, &used, NULL) != 1 ||
	    used != len || f.type != TCPX_FRAME_HELLO ||
	    proto_decode_hello(&f, &h) < 0)
		return -1;
	return (int64_t)(h.caps & INT64_MAX);
}

struct handshake *handshake_new(enum tcpx_role role, const uint8_t *sk,
				const uint8_t *pk, const uint8_t *seed,
				const uint8_t *hello_s, size_t hello_s_len,
				const uint8_t *hello_r, size_t hello_r_len)
{
	int64_t cs = hello_caps(hello_s, hello_s_len);
	int64_t cr = hello_caps(hello_r, hello_r_len);
	struct handshake *hs;

	if (cs < 0 || cr < 0 || !(cs & TCPX_CAP_SECURE) ||
	    !(cr & TCPX_CAP_SECURE))
		return NULL;
	hs = sodium_malloc(sizeof(*hs));
	if (!hs)
		return NULL;
	memset(hs, 0, sizeof(*hs));
	hs->role = role;
	hs->sk = sk;
	hs->pk = pk;
	/* Granted only if asked: the receiver's HELLO decides. */
	hs->aes = (cr & TCPX_CAP_AES256GCM) && (cs & TCPX_CAP_AES256GCM);
	if (seed)
		crypto_kx_seed_keypair(hs->e_pk, hs->e_sk, seed);
	else
		crypto_kx_keypair(hs->e_pk, hs->e_sk);
	crypto_generichash_init(&hs->hello, NULL, 0, 32);
	crypto_generichash_update(&hs->hello, (const uint8_t *)LABEL,
				  strlen(LABEL));
	crypto_generichash_update(&hs->hello, hello_s, hello_s_len);
	crypto_generichash_update(&hs->hello, hello_r, hello_r_len);
	return hs;
}

void handshake_free(struct handshake *hs)
{
	sodium_free(hs);        /* wipes every key in it */
}

int handshake_aes(const struct handshake *hs)
{
	return hs->aes;
}

const uint8_t *handshake_peer_key(const struct handshake *hs)
{
	return hs->peer_pk;
}

size_t handshake_init_msg(struct handshake *hs, uint8_t *out)
{
	frame_header_encode(hs->init_frame, TCPX_FRAME_KX_INIT, TCPX_KX_INIT_LEN);
	memcpy(hs->init_frame + TCPX_FRAME_HEADER_LEN, hs->e_pk, TCPX_KX_INIT_LEN);
	memcpy(out, hs->init_frame, sizeof(hs->init_frame));
	hs->state = HS_INIT_SENT;
	return sizeof(hs->init_frame);
}

/*
 * h1 = BLAKE2b-256(LABEL || HELLO_S || HELLO_R || KX_INIT || e_R), the
 * crypto_kx keys (the sender is the client), and from them every key:
 * per direction m = BLAKE2b-256(key: the crypto_kx key, h1), then
 * crypto_kdf subkey 1 "TCPXhand" (the sealed identity) and subkey 2
 * "TCPXdata" (the records).  0 or -TCPX_E_AUTH.
 */
static int derive(struct handshake *hs, const uint8_t *e_s, const uint8_t *e_r)
{
	uint8_t rx[crypto_kx_SESSIONKEYBYTES], tx[crypto_kx_SESSIONKEYBYTES];
	uint8_t m_c2s[32], m_s2c[32], *c2s, *s2c;
	crypto_generichash_state st = hs->hello;
	int rc;

	crypto_generichash_update(&st, hs->init_frame, sizeof(hs->init_frame));
	crypto_generichash_update(&st, e_r, crypto_kx_PUBLICKEYBYTES);
	crypto_generichash_final(&st, hs->h1, sizeof(hs->h1));
	if (hs->role == TCPX_ROLE_SENDER) {
		rc = crypto_kx_client_session_keys(rx, tx, hs->e_pk, hs->e_sk, e_r);
		c2s = tx;
		s2c = rx;
	} else {
		rc = crypto_kx_server_session_keys(rx, tx, hs->e_pk, hs->e_sk, e_s);
		c2s = rx;
		s2c = tx;
	}
	if (rc != 0)
		return -TCPX_E_AUTH;
	crypto_generichash(m_c2s, 32, hs->h1, 32, c2s, 32);
	crypto_generichash(m_s2c, 32, hs->h1, 32, s2c, 32);
	crypto_kdf_derive_from_key(hs->hs_c2s, HS_KEY_LEN, 1, "TCPXhand", m_c2s);
	crypto_kdf_derive_from_key(hs->hs_s2c, HS_KEY_LEN, 1, "TCPXhand", m_s2c);
	crypto_kdf_derive_from_key(hs->c2s.key, HS_KEY_LEN, 2, "TCPXdata", m_c2s);
	crypto_kdf_derive_from_key(hs->s2c.key, HS_KEY_LEN, 2, "TCPXdata", m_s2c);
	hs->c2s.aes = hs->s2c.aes = hs->aes;
	hs->c2s.rekey_every = hs->s2c.rekey_every = HS_REKEY_RECORDS;
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(m_c2s, sizeof(m_c2s));
	sodium_memzero(m_s2c, sizeof(m_s2c));
	sodium_memzero(hs->e_sk, sizeof(hs->e_sk));   /* forward secrecy */
	return 0;
}

/* Our identity, sealed: key || signature of (LABEL " receiver"/" sender"
 * || h), under key with a zero nonce (each key seals once) and h as the
 * associated data.  Writes ID_LEN + HS_TAG_LEN bytes. */
static void seal_identity(const struct handshake *hs, const char *who,
			  const uint8_t h[32], const uint8_t *key, uint8_t *out)
{
	uint8_t msg[64], id[ID_LEN];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
	size_t n = strlen(who);

	memcpy(msg, who, n);
	memcpy(msg + n, h, 32);
	memcpy(id, hs->pk, KEYS_PUBLIC_LEN);
	crypto_sign_detached(id + KEYS_PUBLIC_LEN, NULL, msg, n + 32, hs->sk);
	crypto_aead_xchacha20poly1305_ietf_encrypt(out, NULL, id, ID_LEN, h, 32,
						   NULL, nonce, key);
}

/* The peer's sealed identity: opens it, checks the signature, keeps the
 * key.  0 or -TCPX_E_AUTH. */
static int open_identity(struct handshake *hs, const char *who,
			 const uint8_t h[32], const uint8_t *key,
			 const uint8_t *in)
{
	uint8_t msg[64], id[ID_LEN];
	uint8_t nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = { 0 };
	size_t n = strlen(who);

	if (crypto_aead_xchacha20poly1305_ietf_decrypt(id, NULL, NULL, in,
			ID_LEN + HS_TAG_LEN, h, 32, nonce, key) != 0)
		return -TCPX_E_AUTH;
	memcpy(msg, who, n);
	memcpy(msg + n, h, 32);
	if (crypto_sign_verify_detached(id + KEYS_PUBLIC_LEN, msg, n + 32, id) != 0)
		return -TCPX_E_AUTH;
	memcpy(hs->peer_pk, id, KEYS_PUBLIC_LEN);
	return 0;
}

static const char who_receiver[] = LABEL " receiver";
static const char who_sender[] = LABEL " sender";

/* h2 = BLAKE2b-256(h1 || KX_REPLY frame). */
static void hash_reply(struct handshake *hs, const uint8_t *payload)
{
	uint8_t hdr[TCPX_FRAME_HEADER_LEN];
	crypto_generichash_state st;

	frame_header_encode(hdr, TCPX_FRAME_KX_REPLY, TCPX_KX_REPLY_LEN);
	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, hs->h1, 32);
	crypto_generichash_update(&st, hdr, sizeof(hdr));
	crypto_generichash_update(&st, payload, TCPX_KX_REPLY_LEN);
	crypto_generichash_final(&st, hs->h2, 32);
}

int handshake_on_init(struct handshake *hs, const uint8_t *p, size_t len,
		      uint8_t *out)
{
	uint8_t *pl = out + TCPX_FRAME_HEADER_LEN;

	if (hs->role != TCPX_ROLE_RECEIVER || hs->state != HS_START)
		return -TCPX_E_UNEXPECTED;
	hs->state = HS_FAILED;
	if (len != TCPX_KX_INIT_LEN)
		return -TCPX_E_MALFORMED;
	frame_header_encode(hs->init_frame, TCPX_FRAME_KX_INIT, TCPX_KX_INIT_LEN);
	memcpy(hs->init_frame + TCPX_FRAME_HEADER_LEN, p, TCPX_KX_INIT_LEN);
	if (derive(hs, p, hs->e_pk) < 0)
		return -TCPX_E_AUTH;
	frame_header_encode(out, TCPX_FRAME_KX_REPLY, TCPX_KX_REPLY_LEN);
	memcpy(pl, hs->e_pk, crypto_kx_PUBLICKEYBYTES);
	seal_identity(hs, who_receiver, hs->h1, hs->hs_s2c,
		      pl + crypto_kx_PUBLICKEYBYTES);
	hash_reply(hs, pl);
	hs->state = HS_REPLIED;
	return (int)(TCPX_FRAME_HEADER_LEN + TCPX_KX_REPLY_LEN);
}

int handshake_on_reply(struct handshake *hs, const uint8_t *p, size_t len)
{
	if (hs->role != TCPX_ROLE_SENDER || hs->state != HS_INIT_SENT)
		return -TCPX_E_UNEXPECTED;
	hs->state = HS_FAILED;
	if (len != TCPX_KX_REPLY_LEN)
		return -TCPX_E_MALFORMED;
	if (derive(hs, hs->e_pk, p) < 0 ||
	    open_identity(hs, who_receiver, hs->h1, hs->hs_s2c,
			  p + crypto_kx_PUBLICKEYBYTES) < 0)
		return -TCPX_E_AUTH;
	hash_reply(hs, p);
	hs->state = HS_REPLY_OK;
	return 0;
}

size_t handshake_auth_msg(struct handshake *hs, uint8_t *out)
{
	frame_header_encode(out, TCPX_FRAME_KX_AUTH, TCPX_KX_AUTH_LEN);
	seal_identity(hs, who_sender, hs->h2, hs->hs_c2s,
		      out + TCPX_FRAME_HEADER_LEN);
	hs->state = HS_DONE;
	return TCPX_FRAME_HEADER_LEN + TCPX_KX_AUTH_LEN;
}

int handshake_on_auth(struct handshake *hs, const uint8_t *p, size_t len)
{
	if (hs->role != TCPX_ROLE_RECEIVER || hs->state != HS_REPLIED)
		return -TCPX_E_UNEXPECTED;
	hs->state = HS_FAILED;
	if (len != TCPX_KX_AUTH_LEN)
		return -TCPX_E_MALFORMED;
	if (open_identity(hs, who_sender, hs->h2, hs->hs_c2s, p) < 0)
		return -TCPX_E_AUTH;
	hs->state = HS_DONE;
	return 0;
}

void handshake_records(const struct handshake *hs, struct hs_record *tx,
		       struct hs_record *rx)
{
	*tx = hs->role == TCPX_ROLE_SENDER ? hs->c2s : hs->s2c;
	*rx = hs->role == TCPX_ROLE_SENDER ? hs->s2c : hs->c2s;
}

/* The nonce of record r->counter: the counter, big-endian, in the last 8
 * bytes; and the key ratchet: at every multiple of rekey_every the key
 * becomes crypto_kdf subkey (counter / rekey_every) "TCPXrkey" of itself,
 * so an old key cannot be recomputed from a new one. */
static void next_nonce(struct hs_record *r, uint8_t nonce[24])
{
	if (r->counter && r->rekey_every && r->counter % r->rekey_every == 0) {
		uint8_t k[HS_KEY_LEN];
		crypto_kdf_derive_from_key(k, HS_KEY_LEN,
					   r->counter / r->rekey_every,
					   "TCPXrkey", r->key);
		memcpy(r->key, k, HS_KEY_LEN);
		sodium_memzero(k, sizeof(k));
	}
	memset(nonce, 0, 24);
	be64_store(nonce + (r->aes ? 4 : 16), r->counter);
}

int handshake_seal(struct hs_record *r, const uint8_t *pt, size_t n,
		   uint8_t *out)
{
	uint8_t nonce[24], *ct = out + TCPX_FRAME_HEADER_LEN;

	if (n > HS_RECORD_MAX || r->counter == UINT64_MAX)
		return -TCPX_E_INTERNAL;
	next_nonce(r, nonce);
	frame_header_encode(out, TCPX_FRAME_SEALED, (uint32_t)(n + HS_TAG_LEN));
	if (r->aes)
		crypto_aead_aes256gcm_encrypt_detached(ct, ct + n, NULL, pt, n,
			out, TCPX_FRAME_HEADER_LEN, NULL, nonce, r->key);
	else
		crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ct, ct + n,
			NULL, pt, n, out, TCPX_FRAME_HEADER_LEN, NULL, nonce,
			r->key);
	r->counter++;
	return (int)(TCPX_FRAME_HEADER_LEN + n + HS_TAG_LEN);
}

int handshake_open(struct hs_record *r, const uint8_t *hdr, uint8_t *p,
		   size_t len)
{
	return handshake_open_to(r, hdr, p, len, p);
}

int handshake_open_to(struct hs_record *r, const uint8_t *hdr,
		      const uint8_t *p, size_t len, uint8_t *out)
{
	uint8_t nonce[24];
	size_t n;
	int rc;

	if (len < HS_TAG_LEN)
		return -TCPX_E_MALFORMED;
	if (r->counter == UINT64_MAX)
		return -TCPX_E_AUTH;
	n = len - HS_TAG_LEN;
	next_nonce(r, nonce);
	if (r->aes)
		rc = crypto_aead_aes256gcm_decrypt_detached(out, NULL, p, n,
			p + n, hdr, TCPX_FRAME_HEADER_LEN, nonce, r->key);
	else
		rc = crypto_aead_xchacha20poly1305_ietf_decrypt_detached(out, NULL,
			p, n, p + n, hdr, TCPX_FRAME_HEADER_LEN, nonce, r->key);
	r->counter++;
	return rc == 0 ? (int)n : -TCPX_E_AUTH;
}
