/*
 * handshake: the SECURE handshake and sealed records of TCPX, sans I/O
 * (man/tcpxfer.5 SECURE).
 *
 * SIGMA style, from libsodium's high-level constructions only: after the
 * two HELLOs, the sender sends an ephemeral crypto_kx key (KX_INIT); the
 * receiver answers with its own and, sealed under a key derived from the
 * exchange, its Ed25519 public key and its signature of the transcript
 * (KX_REPLY); the sender checks it and answers the same way (KX_AUTH).
 * The transcript starts with both HELLO frames exactly as sent, so no
 * capability can be stripped unseen.  Every later byte travels in SEALED
 * records: AES-256-GCM or XChaCha20-Poly1305 (the HELLOs say which), one
 * key per direction, the record counter as nonce, a new key every
 * HS_REKEY_RECORDS records.  Any record that does not open ends the
 * connection: replay, reorder, drop, truncation and alteration all
 * show up that way.
 *
 * Deterministic given the ephemeral seed (handshake_new()), so the
 * worked example of the man page is a unit test.  Memory: a handshake
 * lives in guarded memory (sodium_malloc) and is wiped by
 * handshake_free(); the identity keys are borrowed.
 */
#ifndef TCPX_HANDSHAKE_H
#define TCPX_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "proto.h"

#define HS_KEY_LEN 32u
#define HS_TAG_LEN 16u
/* Largest plaintext of one record: one maximal frame. */
#define HS_RECORD_MAX TCPX_FRAME_BUF_MAX
/* A record on the wire: frame header, sealed plaintext, tag. */
#define HS_RECORD_WIRE_MAX (TCPX_FRAME_HEADER_LEN + HS_RECORD_MAX + HS_TAG_LEN)
/* A direction's key is replaced (handshake_seal/open) after this many
 * records: at most 2^16 * 256 KiB = 16 GiB under one key. */
#define HS_REKEY_RECORDS (UINT64_C(1) << 16)

/* One direction of sealed records. */
struct hs_record {
	uint8_t key[HS_KEY_LEN];
	uint64_t counter;        /* records sealed or opened so far */
	uint64_t rekey_every;    /* HS_REKEY_RECORDS (tests make it small) */
	int aes;                 /* AES-256-GCM, else XChaCha20-Poly1305 */
};

struct handshake;

/*
 * role: which side we are.  sk/pk: our Ed25519 identity (borrowed, alive
 * as long as the handshake).  seed: 32 bytes for the ephemeral key pair
 * (crypto_kx_seed_keypair; tests and the man page example), or NULL for a
 * random one.  hello_s, hello_r: the sender's and the receiver's HELLO
 * frames (header and payload) exactly as they travelled; both must ask
 * for SECURE.  NULL on bad HELLOs or no memory.
 */
struct handshake *handshake_new(enum tcpx_role role, const uint8_t *sk,
				const uint8_t *pk, const uint8_t *seed,
				const uint8_t *hello_s, size_t hello_s_len,
				const uint8_t *hello_r, size_t hello_r_len);
void handshake_free(struct handshake *hs);
/* 1 if the records use AES-256-GCM (the receiver's HELLO granted it). */
int handshake_aes(const struct handshake *hs);

/* Sender: the KX_INIT frame (TCPX_FRAME_HEADER_LEN + TCPX_KX_INIT_LEN
 * bytes); returns its length. */
size_t handshake_init_msg(struct handshake *hs, uint8_t *out);
/* Receiver: takes KX_INIT's payload, writes the KX_REPLY frame to out
 * (TCPX_FRAME_HEADER_LEN + TCPX_KX_REPLY_LEN bytes); its length, or
 * -TCPX_E_MALFORMED, -TCPX_E_AUTH (a key no exchange can use). */
int handshake_on_init(struct handshake *hs, const uint8_t *p, size_t len,
		      uint8_t *out);
/* Sender: checks KX_REPLY (0, -TCPX_E_MALFORMED, -TCPX_E_AUTH); the
 * receiver's key is then handshake_peer_key(), for the caller to judge
 * before it sends KX_AUTH. */
int handshake_on_reply(struct handshake *hs, const uint8_t *p, size_t len);
/* Sender, after on_reply: the KX_AUTH frame (TCPX_FRAME_HEADER_LEN +
 * TCPX_KX_AUTH_LEN bytes); returns its length. */
size_t handshake_auth_msg(struct handshake *hs, uint8_t *out);
/* Receiver: checks KX_AUTH (0, -TCPX_E_MALFORMED, -TCPX_E_AUTH); the
 * sender's key is then handshake_peer_key(). */
int handshake_on_auth(struct handshake *hs, const uint8_t *p, size_t len);
/* The peer's Ed25519 public key once its message checked out. */
const uint8_t *handshake_peer_key(const struct handshake *hs);
/* Both directions' record states (what we seal, what we open), ready
 * once the keys are derived (receiver: after on_init; sender: after
 * on_reply).  Copied out: the handshake can be freed afterwards. */
void handshake_records(const struct handshake *hs, struct hs_record *tx,
		       struct hs_record *rx);

/* Seals pt[0..n) (0..HS_RECORD_MAX bytes; 0 is the receiver's key
 * confirmation, its first record) as one SEALED frame at out
 * (n + TCPX_FRAME_HEADER_LEN + HS_TAG_LEN bytes); returns its length, or
 * -TCPX_E_INTERNAL when the counter is spent.  pt and out may not
 * overlap. */
int handshake_seal(struct hs_record *r, const uint8_t *pt, size_t n,
		   uint8_t *out);
/* Opens one SEALED frame whose header is hdr and payload p[0..len) (in
 * place: the plaintext is p[0..len - HS_TAG_LEN)); its length, or
 * -TCPX_E_AUTH (altered, replayed, reordered, dropped before it) or
 * -TCPX_E_MALFORMED (shorter than a tag); 0 for an empty record. */
int handshake_open(struct hs_record *r, const uint8_t *hdr, uint8_t *p,
		   size_t len);

/* The same, the plaintext written to out (out == p, or no overlap):
 * conn opens straight into the state machine's reader when it has room. */
int handshake_open_to(struct hs_record *r, const uint8_t *hdr,
		      const uint8_t *p, size_t len, uint8_t *out);

/* What conn reads during the handshake (the peer's handshake frames and
 * ERROR), and once sealed (SEALED records alone). */
extern const struct frame_limits handshake_limits_sender;   /* we send */
extern const struct frame_limits handshake_limits_receiver;
extern const struct frame_limits handshake_record_limits;

#endif
