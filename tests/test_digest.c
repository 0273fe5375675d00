/* Tests for src/digest.c: BLAKE2b-512 as b2sum(1) prints it. */
#include "testutil.h"

static void init(void)
{
	cr_assert_eq(digest_global_init(), 0);
}

TestSuite(digest, .init = init);

static void hex_of(const uint8_t *p, size_t n, char hex[DIGEST_HEX_LEN + 1])
{
	struct digest d;
	uint8_t out[DIGEST_LEN];
	digest_init(&d);
	digest_update(&d, p, n);
	digest_final(&d, out);
	digest_hex(out, hex);
}

Test(digest, sizes)
{
	cr_assert_eq(DIGEST_LEN, 64u);
	cr_assert_eq(DIGEST_HEX_LEN, 128u);
	/* END carries exactly one digest: the wire and the hash agree. */
	cr_assert_eq(proto_max_payload(TCPX_FRAME_END), (int64_t)DIGEST_LEN);
}

Test(digest, empty_input)
{
	char hex[DIGEST_HEX_LEN + 1];
	hex_of((const uint8_t *)"", 0, hex);
	cr_assert_str_eq(hex, B2_EMPTY);
	/* no update at all is the same */
	struct digest d;
	uint8_t out[64];
	digest_init(&d);
	digest_final(&d, out);
	digest_hex(out, hex);
	cr_assert_str_eq(hex, B2_EMPTY);
}

Test(digest, abc)
{
	char hex[DIGEST_HEX_LEN + 1];
	hex_of((const uint8_t *)"abc", 3, hex);
	cr_assert_str_eq(hex, B2_ABC);
}

Test(digest, hi_newline_from_the_spec)
{
	char hex[DIGEST_HEX_LEN + 1];
	hex_of((const uint8_t *)"hi\n", 3, hex);
	cr_assert_str_eq(hex, B2_HI);
}

Test(digest, one_mib_pattern)
{
	size_t n = 1u << 20;
	uint8_t *p = malloc(n);
	char hex[DIGEST_HEX_LEN + 1];
	cr_assert(p != NULL);
	for (size_t i = 0; i < n; i++)
		p[i] = tu_mib_pattern(i);
	hex_of(p, n, hex);
	cr_assert_str_eq(hex, B2_MIB_PATTERN);
	free(p);
}

Test(digest, million_zeros)
{
	uint8_t *p = calloc(1000000, 1);
	char hex[DIGEST_HEX_LEN + 1];
	cr_assert(p != NULL);
	hex_of(p, 1000000, hex);
	cr_assert_str_eq(hex, B2_MILLION_ZEROS);
	free(p);
}

/* Streaming in odd pieces (and zero-length updates) equals one shot. */
Test(digest, streaming_equals_one_shot)
{
	size_t n = 1u << 20;
	uint8_t *p = malloc(n);
	cr_assert(p != NULL);
	for (size_t i = 0; i < n; i++)
		p[i] = tu_mib_pattern(i);
	static const size_t pieces[] = { 1, 2, 3, 5, 7, 127, 128, 129, 4093, 65537 };
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct digest d;
		uint8_t out[64];
		char hex[DIGEST_HEX_LEN + 1];
		digest_init(&d);
		size_t off = 0, step = pieces[k];
		while (off < n) {
			size_t m = n - off < step ? n - off : step;
			digest_update(&d, p + off, m);
			digest_update(&d, p + off, 0);
			off += m;
			step = step * 3 % 70001 + 1;   /* vary the piece size */
		}
		digest_final(&d, out);
		digest_hex(out, hex);
		cr_assert_str_eq(hex, B2_MIB_PATTERN, "pieces from %zu", pieces[k]);
	}
	free(p);
}

Test(digest, byte_at_a_time)
{
	struct digest d;
	uint8_t out[64];
	char hex[DIGEST_HEX_LEN + 1];
	digest_init(&d);
	for (const char *s = "hi\n"; *s; s++)
		digest_update(&d, (const uint8_t *)s, 1);
	digest_final(&d, out);
	digest_hex(out, hex);
	cr_assert_str_eq(hex, B2_HI);
}

Test(digest, raw_bytes_match_hex)
{
	struct digest d;
	uint8_t out[64], want[64];
	digest_init(&d);
	digest_update(&d, (const uint8_t *)"abc", 3);
	digest_final(&d, out);
	tu_hex_decode(B2_ABC, want, 64);
	cr_assert_arr_eq(out, want, 64);
}

Test(digest, hex_is_lower_case_and_terminated)
{
	uint8_t dg[64];
	char buf[DIGEST_HEX_LEN + 8];
	for (int i = 0; i < 64; i++)
		dg[i] = (uint8_t)(i * 4 + 0xA0 * (i & 1));
	memset(buf, 'Z', sizeof(buf));
	digest_hex(dg, buf);
	cr_assert_eq(buf[DIGEST_HEX_LEN], '\0');
	cr_assert_eq(buf[DIGEST_HEX_LEN + 1], 'Z', "wrote past the NUL");
	char want[DIGEST_HEX_LEN + 1];
	tu_hex_encode(dg, 64, want);
	cr_assert_str_eq(buf, want);
	for (int i = 0; i < (int)DIGEST_HEX_LEN; i++)
		cr_assert((buf[i] >= '0' && buf[i] <= '9') || (buf[i] >= 'a' && buf[i] <= 'f'));
	memset(dg, 0xFF, 64);
	digest_hex(dg, buf);
	cr_assert_eq(strspn(buf, "f"), (size_t)DIGEST_HEX_LEN);
}

Test(digest, equal)
{
	uint8_t a[64], b[64];
	tu_hex_decode(B2_ABC, a, 64);
	memcpy(b, a, 64);
	cr_assert_eq(digest_equal(a, b), 1);
	for (int i = 0; i < 64; i += 21) {
		b[i] ^= 0x80;
		cr_assert_eq(digest_equal(a, b), 0, "byte %d differs", i);
		b[i] ^= 0x80;
	}
	b[63] ^= 1;
	cr_assert_eq(digest_equal(a, b), 0);
}

/* A state can be reused after init: nothing from the last file leaks in. */
Test(digest, reinit_starts_over)
{
	struct digest d;
	uint8_t out[64];
	char hex[DIGEST_HEX_LEN + 1];
	digest_init(&d);
	digest_update(&d, (const uint8_t *)"garbage", 7);
	digest_init(&d);
	digest_update(&d, (const uint8_t *)"abc", 3);
	digest_final(&d, out);
	digest_hex(out, hex);
	cr_assert_str_eq(hex, B2_ABC);
}
