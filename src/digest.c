/* digest: streaming BLAKE2b-512 through libsodium (digest.h). */
#include "digest.h"
#include "error.h"

int digest_global_init(void)
{
	return sodium_init() < 0 ? -TCPX_E_INTERNAL : 0;
}

void digest_init(struct digest *d)
{
	crypto_generichash_init(&d->st, NULL, 0, DIGEST_LEN);
}

void digest_update(struct digest *d, const uint8_t *p, size_t len)
{
	crypto_generichash_update(&d->st, p, len);
}

void digest_final(struct digest *d, uint8_t out[DIGEST_LEN])
{
	crypto_generichash_final(&d->st, out, DIGEST_LEN);
}

void digest_hex(const uint8_t digest[DIGEST_LEN], char hex[DIGEST_HEX_LEN + 1])
{
	sodium_bin2hex(hex, DIGEST_HEX_LEN + 1, digest, DIGEST_LEN);
}

int digest_equal(const uint8_t a[DIGEST_LEN], const uint8_t b[DIGEST_LEN])
{
	return sodium_memcmp(a, b, DIGEST_LEN) == 0;
}
