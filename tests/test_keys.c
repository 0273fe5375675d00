/* Tests for src/keys.c: the text forms of keys (man/tcpxfer.5 SECURE,
 * "Keys and their text forms"). */
#include <sodium.h>

#include "keys.h"
#include "testutil.h"

static void init(void)
{
	cr_assert_eq(digest_global_init(), 0);
}

TestSuite(keys, .init = init);

static void counting(uint8_t k[32], uint8_t start)
{
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)(start + i);
}

/* base64 of 00 01 ... 1f, as base64(1) prints it. */
#define B64_COUNT "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

Test(keys, public_line_round_trip)
{
	uint8_t pk[32], back[32];
	char line[KEYS_LINE_MAX];
	const char *comment;

	counting(pk, 0);
	size_t n = keys_format_public(line, pk, "alice@host tcpput");
	cr_assert_str_eq(line, "tcpx-ed25519 " B64_COUNT " alice@host tcpput\n");
	cr_assert_eq(n, strlen(line));
	cr_assert_eq(keys_parse_public(line, n, 0, back, &comment), 0);
	cr_assert_eq(memcmp(pk, back, 32), 0);
	cr_assert_eq(strncmp(comment, "alice@host tcpput", 17), 0);
	n = keys_format_public(line, pk, NULL);
	cr_assert_str_eq(line, "tcpx-ed25519 " B64_COUNT "\n");
	cr_assert_eq(keys_parse_public(line, n, 0, back, &comment), 0);
	cr_assert(*comment == '\n', "the comment is empty: it ends where the line does");
}

Test(keys, comment_stops_at_control_characters)
{
	uint8_t pk[32] = { 0 };
	char line[KEYS_LINE_MAX];
	keys_format_public(line, pk, "ok\nrm -rf");
	cr_assert(strstr(line, " ok\n") != NULL);
	cr_assert_null(strstr(line, "rm"));
}

Test(keys, malformed_public_keys)
{
	uint8_t pk[32];
	static const char *bad[] = {
		"ssh-ed25519 " B64_COUNT,
		"tcpx-ed25519",
		"tcpx-ed25519 ",
		"tcpx-ed25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
		"tcpx-ed25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",
		"tcpx-ed25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh!=",
		"tcpx-ed25519 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
		"tcpx-ed25519" B64_COUNT,
		"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(keys_parse_public(bad[i], strlen(bad[i]), 0, pk, NULL),
			     -TCPX_E_MALFORMED, "%s", bad[i]);
	/* A bare key only where asked for (--peer-key). */
	cr_assert_eq(keys_parse_public(B64_COUNT, 44, 0, pk, NULL), -TCPX_E_MALFORMED);
	cr_assert_eq(keys_parse_public(B64_COUNT "\n", 45, 1, pk, NULL), 0);
	cr_assert_eq(pk[31], 0x1f);
	cr_assert_eq(keys_parse_public("tcpx-ed25519\t" B64_COUNT "\r\n", 59, 0,
				       pk, NULL), 0);
}

Test(keys, secret_round_trip_and_malformed)
{
	uint8_t seed[32], back[32];
	char text[128];
	counting(seed, 0);
	size_t n = keys_format_secret(text, sizeof(text), seed);
	cr_assert_str_eq(text, "tcpx-ed25519-secret " B64_COUNT "\n");
	cr_assert_eq(keys_parse_secret(text, n, back), 0);
	cr_assert_eq(memcmp(seed, back, 32), 0);
	cr_assert_eq(keys_format_secret(text, 40, seed), 0u);
	const char *pub = "tcpx-ed25519 " B64_COUNT "\n";
	cr_assert_eq(keys_parse_secret(pub, strlen(pub), back), -TCPX_E_MALFORMED);
	const char *extra = "tcpx-ed25519-secret " B64_COUNT " x\n";
	cr_assert_eq(keys_parse_secret(extra, strlen(extra), back), -TCPX_E_MALFORMED);
	cr_assert_eq(keys_parse_secret("", 0, back), -TCPX_E_MALFORMED);
}

/* B2: and the unpadded base64 of the 16-byte BLAKE2b of the key. */
Test(keys, fingerprint)
{
	uint8_t pk[32], h[16];
	char fp[KEYS_FINGERPRINT_LEN], want[KEYS_FINGERPRINT_LEN];
	counting(pk, 0);
	keys_fingerprint(pk, fp);
	crypto_generichash(h, 16, pk, 32, NULL, 0);
	memcpy(want, "B2:", 3);
	sodium_bin2base64(want + 3, sizeof(want) - 3, h, 16,
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	cr_assert_str_eq(fp, want);
	cr_assert_eq(strlen(fp), 25u);
	pk[0] ^= 1;
	keys_fingerprint(pk, want);
	cr_assert_str_neq(fp, want);
}

Test(keys, known_receivers_lines)
{
	uint8_t pk[32];
	const char *name;
	size_t nlen;
	const char *line = "127.0.0.1:20180 tcpx-ed25519 " B64_COUNT " office\n";
	cr_assert_eq(keys_parse_known(line, strlen(line), &name, &nlen, pk), 0);
	cr_assert_eq(nlen, 15u);
	cr_assert_eq(strncmp(name, "127.0.0.1:20180", nlen), 0);
	cr_assert_eq(pk[1], 1);
	cr_assert_eq(keys_parse_known("  # note\n", 9, &name, &nlen, pk), 1);
	cr_assert_eq(keys_parse_known("\n", 1, &name, &nlen, pk), 1);
	cr_assert_eq(keys_parse_known("host:1 junk\n", 12, &name, &nlen, pk),
		     -TCPX_E_MALFORMED);
	cr_assert_eq(keys_parse_known("host:1\n", 7, &name, &nlen, pk),
		     -TCPX_E_MALFORMED);
}
