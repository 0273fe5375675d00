/* keys: text forms of TCPX keys, sans I/O (keys.h). */
#include <sodium.h>
#include <string.h>

#include "error.h"
#include "keys.h"

static int blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

/* Drops a trailing "\n" or "\r\n". */
static size_t chomp(const char *s, size_t len)
{
	if (len && s[len - 1] == '\n')
		len--;
	if (len && s[len - 1] == '\r')
		len--;
	return len;
}

/* Exactly 32 bytes of standard, padded base64 in s[0..len). */
static int b64_key(const char *s, size_t len, uint8_t out[KEYS_PUBLIC_LEN])
{
	size_t got = 0;
	const char *end = NULL;

	if (len != KEYS_B64_LEN)
		return -TCPX_E_MALFORMED;
	if (sodium_base642bin(out, KEYS_PUBLIC_LEN, s, len, NULL, &got, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    got != KEYS_PUBLIC_LEN || end != s + len)
		return -TCPX_E_MALFORMED;
	return 0;
}

size_t keys_format_public(char out[KEYS_LINE_MAX],
			  const uint8_t pk[KEYS_PUBLIC_LEN], const char *comment)
{
	size_t n = sizeof(KEYS_PUBLIC_TAG) - 1;

	memcpy(out, KEYS_PUBLIC_TAG " ", n + 1);
	n++;
	sodium_bin2base64(out + n, KEYS_B64_LEN + 1, pk, KEYS_PUBLIC_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	n += KEYS_B64_LEN;
	if (comment && *comment) {
		out[n++] = ' ';
		for (size_t i = 0; comment[i] && i < KEYS_COMMENT_MAX &&
		     (unsigned char)comment[i] >= 0x20 && comment[i] != 0x7f; i++)
			out[n++] = comment[i];
	}
	out[n++] = '\n';
	out[n] = '\0';
	return n;
}

int keys_parse_public(const char *line, size_t len, int bare,
		      uint8_t pk[KEYS_PUBLIC_LEN], const char **comment)
{
	size_t tag = sizeof(KEYS_PUBLIC_TAG) - 1, i = 0, start;

	len = chomp(line, len);
	if (len > tag && memcmp(line, KEYS_PUBLIC_TAG, tag) == 0 &&
	    blank(line[tag])) {
		i = tag;
		while (i < len && blank(line[i]))
			i++;
	} else if (!bare) {
		return -TCPX_E_MALFORMED;
	}
	start = i;
	while (i < len && !blank(line[i]))
		i++;
	if (b64_key(line + start, i - start, pk) < 0)
		return -TCPX_E_MALFORMED;
	while (i < len && blank(line[i]))
		i++;
	if (comment)
		*comment = line + i;
	return 0;
}

size_t keys_format_secret(char *out, size_t cap,
			  const uint8_t seed[KEYS_SEED_LEN])
{
	size_t tag = sizeof(KEYS_SECRET_TAG) - 1;

	if (cap < tag + 1 + KEYS_B64_LEN + 2)
		return 0;
	memcpy(out, KEYS_SECRET_TAG " ", tag + 1);
	sodium_bin2base64(out + tag + 1, KEYS_B64_LEN + 1, seed, KEYS_SEED_LEN,
			  sodium_base64_VARIANT_ORIGINAL);
	out[tag + 1 + KEYS_B64_LEN] = '\n';
	out[tag + 2 + KEYS_B64_LEN] = '\0';
	return tag + 2 + KEYS_B64_LEN;
}

int keys_parse_secret(const char *text, size_t len,
		      uint8_t seed[KEYS_SEED_LEN])
{
	size_t tag = sizeof(KEYS_SECRET_TAG) - 1;

	len = chomp(text, len);
	if (len != tag + 1 + KEYS_B64_LEN ||
	    memcmp(text, KEYS_SECRET_TAG " ", tag + 1) != 0)
		return -TCPX_E_MALFORMED;
	return b64_key(text + tag + 1, KEYS_B64_LEN, seed);
}

void keys_fingerprint(const uint8_t pk[KEYS_PUBLIC_LEN],
		      char out[KEYS_FINGERPRINT_LEN])
{
	uint8_t h[16];

	crypto_generichash(h, sizeof(h), pk, KEYS_PUBLIC_LEN, NULL, 0);
	memcpy(out, "B2:", 3);
	sodium_bin2base64(out + 3, KEYS_FINGERPRINT_LEN - 3, h, sizeof(h),
			  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

int keys_parse_known(const char *line, size_t len, const char **name,
		     size_t *name_len, uint8_t pk[KEYS_PUBLIC_LEN])
{
	size_t i = 0, start;

	len = chomp(line, len);
	while (i < len && blank(line[i]))
		i++;
	if (i == len || line[i] == '#')
		return 1;
	start = i;
	while (i < len && !blank(line[i]))
		i++;
	*name = line + start;
	*name_len = i - start;
	while (i < len && blank(line[i]))
		i++;
	return keys_parse_public(line + i, len - i, 0, pk, NULL);
}
