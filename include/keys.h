/*
 * keys: the text forms of TCPX keys, sans I/O (man/tcpxfer.5 KEYS).
 *
 * A party's identity is an Ed25519 key pair (libsodium crypto_sign).  Its
 * secret key file holds one line, "tcpx-ed25519-secret BASE64" (the
 * 32-byte seed, standard base64 with padding); its public key is one
 * line, "tcpx-ed25519 BASE64 [COMMENT]", as OpenSSH and WireGuard write
 * them.  The same public key line is what an authorized-senders list
 * holds, and a known-receivers line is "HOST:PORT " followed by it.  A
 * fingerprint is "B2:" and the base64 (no padding) of the 16-byte
 * BLAKE2b of the public key: short enough to read out, long enough that
 * nobody makes a second key with the same one.
 *
 * Everything here is pure: text in, bytes out and back.  A seed is
 * written into the caller's buffer, which should be guarded memory
 * (keyfile.h does that); nothing here keeps a copy.
 */
#ifndef TCPX_KEYS_H
#define TCPX_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_PUBLIC_LEN 32u
#define KEYS_SEED_LEN 32u
#define KEYS_SECRET_LEN 64u          /* crypto_sign_SECRETKEYBYTES */
#define KEYS_PUBLIC_TAG "tcpx-ed25519"
#define KEYS_SECRET_TAG "tcpx-ed25519-secret"
#define KEYS_B64_LEN 44u             /* base64 of 32 bytes, padded */
#define KEYS_FINGERPRINT_LEN 26u     /* "B2:" + 22 characters + NUL */
#define KEYS_COMMENT_MAX 256u
/* A public key line: tag, space, base64, space, comment, newline, NUL. */
#define KEYS_LINE_MAX (sizeof(KEYS_PUBLIC_TAG) + KEYS_B64_LEN + 1 + \
		       KEYS_COMMENT_MAX + 2)

/* "tcpx-ed25519 BASE64 COMMENT\n" (no comment: no trailing space) into out
 * (KEYS_LINE_MAX bytes); a comment is cut at KEYS_COMMENT_MAX bytes and
 * at its first control character.  Returns the length. */
size_t keys_format_public(char out[KEYS_LINE_MAX],
			  const uint8_t pk[KEYS_PUBLIC_LEN], const char *comment);
/*
 * Parses one public key: "tcpx-ed25519 BASE64", then optionally blanks
 * and a comment, in line[0..len) (a trailing newline is allowed).  With
 * bare != 0, a lone BASE64 without the tag is taken too (what a user
 * pastes after --peer-key).  0 and the key, or -TCPX_E_MALFORMED.
 * *comment, if not NULL, points at the comment in line (or at its end).
 */
int keys_parse_public(const char *line, size_t len, int bare,
		      uint8_t pk[KEYS_PUBLIC_LEN], const char **comment);
/* "tcpx-ed25519-secret BASE64\n" into out (at least 80 bytes; it holds a
 * secret: wipe it after use).  Returns the length. */
size_t keys_format_secret(char *out, size_t cap,
			  const uint8_t seed[KEYS_SEED_LEN]);
/* The seed of a secret key file's text: 0, or -TCPX_E_MALFORMED. */
int keys_parse_secret(const char *text, size_t len,
		      uint8_t seed[KEYS_SEED_LEN]);
/* "B2:" and 22 base64 characters, NUL-terminated. */
void keys_fingerprint(const uint8_t pk[KEYS_PUBLIC_LEN],
		      char out[KEYS_FINGERPRINT_LEN]);
/*
 * A known-receivers line "HOST:PORT tcpx-ed25519 BASE64 [COMMENT]": its
 * first word in *name / *name_len (pointing into line) and the key.
 * 0, 1 for a blank or comment ('#') line, or -TCPX_E_MALFORMED.
 */
int keys_parse_known(const char *line, size_t len, const char **name,
		     size_t *name_len, uint8_t pk[KEYS_PUBLIC_LEN]);

#endif
