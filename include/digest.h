/*
 * digest: streaming BLAKE2b-512 (libsodium's crypto_generichash with a
 * 64-byte output, no key): the digest `b2sum` prints.  Pure; no allocation.
 */
#ifndef TCPX_DIGEST_H
#define TCPX_DIGEST_H

#include <stddef.h>
#include <stdint.h>
#include <sodium.h>

#define DIGEST_LEN 64u
#define DIGEST_HEX_LEN (2u * DIGEST_LEN)

struct digest {
	crypto_generichash_state st;
};

/* Initialises libsodium once; 0 or -TCPX_E_INTERNAL. Call before the rest. */
int digest_global_init(void);
void digest_init(struct digest *d);
void digest_update(struct digest *d, const uint8_t *p, size_t len);
void digest_final(struct digest *d, uint8_t out[DIGEST_LEN]);
/* Writes 128 lower-case hex digits and a NUL into hex. */
void digest_hex(const uint8_t digest[DIGEST_LEN], char hex[DIGEST_HEX_LEN + 1]);
/* Constant-time comparison; 1 if equal. */
int digest_equal(const uint8_t a[DIGEST_LEN], const uint8_t b[DIGEST_LEN]);

#endif
