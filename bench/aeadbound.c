/*
 * aeadbound: what sealing alone costs, for the SECURE figures of the
 * benchmark.  Seals N MiB (default 1024) in 262160-byte records (one
 * maximal TCPX frame each, as conn seals them) with libsodium's
 * AES-256-GCM and XChaCha20-Poly1305, out of place as conn does, on one
 * core, and prints the CPU seconds per GiB of each:
 *   aes-256-gcm 0.31 s/GiB
 *   xchacha20-poly1305 0.62 s/GiB
 * usage: aeadbound [MIB]
 */
#define _POSIX_C_SOURCE 200809L

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REC 262160u

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static uint8_t pt[REC], ct[REC + 16];
	uint8_t key[32], nonce[24] = { 0 }, ad[8] = { 19 };
	unsigned long long mib = argc > 1 ? strtoull(argv[1], NULL, 10) : 1024;
	unsigned long long total = mib << 20, n;

	if (sodium_init() < 0)
		return 1;
	randombytes_buf(key, sizeof(key));
	randombytes_buf(pt, sizeof(pt));
	for (int aes = 1; aes >= 0; aes--) {
		if (aes && !crypto_aead_aes256gcm_is_available()) {
			printf("aes-256-gcm unavailable\n");
			continue;
		}
		double t0 = cpu_now();
		for (n = 0; n < total; n += REC) {
			nonce[23] = (uint8_t)n;
			if (aes)
				crypto_aead_aes256gcm_encrypt_detached(ct, ct + REC,
					NULL, pt, REC, ad, 8, NULL, nonce, key);
			else
				crypto_aead_xchacha20poly1305_ietf_encrypt_detached(ct,
					ct + REC, NULL, pt, REC, ad, 8, NULL, nonce, key);
		}
		double s = (cpu_now() - t0) * (double)(1ull << 30) / (double)n;
		printf("%s %.3f s/GiB\n", aes ? "aes-256-gcm" : "xchacha20-poly1305", s);
	}
	return 0;
}
