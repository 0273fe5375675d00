/* names: the gate for remote names, and escaping of remote text (names.h). */
#include <stdio.h>
#include <string.h>

#include "error.h"
#include "names.h"

/* Length of the well-formed UTF-8 sequence at p (1..4), or 0 if invalid;
 * *cp gets the code point. */
static size_t utf8_decode(const uint8_t *p, size_t len, uint32_t *cp)
{
	uint8_t b = p[0];
	size_t n;
	uint32_t c, min;

	if (b < 0x80) {
		*cp = b;
		return 1;
	} else if ((b & 0xE0) == 0xC0) {
		n = 2; c = b & 0x1F; min = 0x80;
	} else if ((b & 0xF0) == 0xE0) {
		n = 3; c = b & 0x0F; min = 0x800;
	} else if ((b & 0xF8) == 0xF0) {
		n = 4; c = b & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	if (len < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		c = c << 6 | (p[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return 0;
	*cp = c;
	return n;
}

int utf8_valid(const uint8_t *p, size_t len)
{
	uint32_t cp;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_decode(p + i, len - i, &cp);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

static int is_control(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

static int refuse(const char **why, const char *reason)
{
	if (why)
		*why = reason;
	return -TCPX_E_BAD_NAME;
}

int name_validate(const uint8_t *name, size_t len, const char **why)
{
	size_t comp_start = 0, depth = 0;
	uint32_t cp;

	if (len == 0)
		return refuse(why, "empty name");
	if (len > NAME_LEN_MAX)
		return refuse(why, "name too long");
	if (name[0] == '/')
		return refuse(why, "absolute name");
	for (size_t i = 0; i < len;) {
		size_t n = utf8_decode(name + i, len - i, &cp);
		if (!n)
			return refuse(why, "name is not valid UTF-8");
		if (is_control(cp))
			return refuse(why, "control character in name");
		i += n;
	}
	/* Components: split on '/', judged one by one. */
	for (size_t i = 0; i <= len; i++) {
		if (i < len && name[i] != '/')
			continue;
		const uint8_t *c = name + comp_start;
		size_t clen = i - comp_start;
		if (clen == 0)
			return refuse(why, "empty component in name");
		if ((clen == 1 && c[0] == '.') ||
		    (clen == 2 && c[0] == '.' && c[1] == '.'))
			return refuse(why, "'.' or '..' in name");
		if (clen > NAME_COMPONENT_MAX)
			return refuse(why, "name component too long");
		if (clen >= sizeof(NAME_TEMP_PREFIX) - 1 &&
		    memcmp(c, NAME_TEMP_PREFIX, sizeof(NAME_TEMP_PREFIX) - 1) == 0)
			return refuse(why, "name in the reserved .tcpx- namespace");
		if (++depth > NAME_DEPTH_MAX)
			return refuse(why, "name too deep");
		comp_start = i + 1;
	}
	return 0;
}

/*
 * Characters that are invisible, or that move or split the text around
 * them, though they are not controls: the line and paragraph separators
 * (a consumer that splits on Unicode line boundaries would start a forged
 * line there), and every format character (Unicode general category Cf,
 * as of Unicode 15): bidirectional embeddings, overrides, isolates and
 * marks, which reorder what follows ("gnp.<U+202E>exe" looks like
 * "gnp.exe" reversed); zero-width spaces and joiners, the soft hyphen,
 * the byte order mark, invisible operators and tags, which hide
 * characters or make two different names look alike.  Sorted ranges.
 */
static const struct { uint32_t lo, hi; } invisible[] = {
	{ 0x00AD, 0x00AD },     /* soft hyphen */
	{ 0x0600, 0x0605 },     /* Arabic number signs */
	{ 0x061C, 0x061C },     /* Arabic letter mark */
	{ 0x06DD, 0x06DD },
	{ 0x070F, 0x070F },
	{ 0x0890, 0x0891 },
	{ 0x08E2, 0x08E2 },
	{ 0x180E, 0x180E },     /* Mongolian vowel separator */
	{ 0x200B, 0x200F },     /* zero-width space, (non-)joiner, LRM, RLM */
	{ 0x2028, 0x202E },     /* line, paragraph separator; LRE..RLO */
	{ 0x2060, 0x2064 },     /* word joiner, invisible operators */
	{ 0x2066, 0x206F },     /* isolates LRI..PDI, deprecated formats */
	{ 0xFEFF, 0xFEFF },     /* zero-width no-break space, BOM */
	{ 0xFFF9, 0xFFFB },     /* interlinear annotation */
	{ 0x110BD, 0x110BD },
	{ 0x110CD, 0x110CD },
	{ 0x13430, 0x1343F },
	{ 0x1BCA0, 0x1BCA3 },
	{ 0x1D173, 0x1D17A },
	{ 0xE0001, 0xE0001 },   /* language tag */
	{ 0xE0020, 0xE007F },   /* tag characters */
};

int name_char_invisible(uint32_t cp)
{
	size_t lo = 0, hi = sizeof(invisible) / sizeof(invisible[0]);

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cp < invisible[mid].lo)
			hi = mid;
		else if (cp > invisible[mid].hi)
			lo = mid + 1;
		else
			return 1;
	}
	return 0;
}

/* Shared walk of both escapers: put() appends one piece (a character or
 * an escape sequence) whole or not at all.  When a piece does not fit,
 * the output ends in "...", backing up over the last pieces (never into
 * the middle of one) to make room for it.  An exact fit is not cut.
 * With no_dots, a piece that does not fit just ends the output (the
 * caller marks the cut its own way). */
#define ESC_MARKS 4

struct escbuf {
	char *out;
	size_t cap, len;
	int full, no_dots;
	size_t marks[ESC_MARKS];   /* offsets where the last pieces began */
	int nmarks;
};

static void put(struct escbuf *b, const char *s, size_t n)
{
	if (b->full)
		return;
	if (b->len + n + 1 <= b->cap) {
		if (b->nmarks == ESC_MARKS) {
			memmove(b->marks, b->marks + 1, sizeof(b->marks[0]) *
				(ESC_MARKS - 1));
			b->nmarks--;
		}
		b->marks[b->nmarks++] = b->len;
		memcpy(b->out + b->len, s, n);
		b->len += n;
		return;
	}
	b->full = 1;
	if (b->no_dots)
		return;
	while (b->len + 4 > b->cap && b->nmarks > 0)
		b->len = b->marks[--b->nmarks];
	if (b->len + 4 <= b->cap) {
		memcpy(b->out + b->len, "...", 3);
		b->len += 3;
	}
}

/* The escape of one well-formed character that may not be shown as it is,
 * into tmp; its length, or 0 when it is shown as it is. */
static size_t escape_char(const uint8_t *p, uint32_t cp, int json,
			  char tmp[16])
{
	if (json && (cp == '"' || cp == '\\')) {
		tmp[0] = '\\';
		tmp[1] = (char)cp;
		return 2;
	}
	if (!json && cp == '\\')
		return (size_t)snprintf(tmp, 16, "\\\\");
	if (!is_control(cp) && !name_char_invisible(cp))
		return 0;
	if (json && cp >= 0x10000)      /* RFC 8259: a surrogate pair */
		return (size_t)snprintf(tmp, 16, "\\u%04x\\u%04x",
			(unsigned)(0xD800 + ((cp - 0x10000) >> 10)),
			(unsigned)(0xDC00 + ((cp - 0x10000) & 0x3FF)));
	if (json)
		return (size_t)snprintf(tmp, 16, "\\u%04x", (unsigned)cp);
	if (cp < 0x80)
		return (size_t)snprintf(tmp, 16, "\\x%02x", (unsigned)cp);
	if (cp <= 0x9F)         /* C1 control: show its two UTF-8 bytes */
		return (size_t)snprintf(tmp, 16, "\\x%02x\\x%02x", p[0], p[1]);
	return (size_t)snprintf(tmp, 16, "\\u{%04x}", (unsigned)cp);
}

static void escape_into(struct escbuf *b, const uint8_t *name, size_t len,
			int json)
{
	char tmp[16];
	uint32_t cp;

	for (size_t i = 0; i < len && !b->full;) {
		size_t n = utf8_decode(name + i, len - i, &cp), e;
		if (n == 0) {
			if (json)
				put(b, "\\ufffd", 6);
			else {
				snprintf(tmp, sizeof(tmp), "\\x%02x", name[i]);
				put(b, tmp, 4);
			}
			i++;
			continue;
		}
		e = escape_char(name + i, cp, json, tmp);
		if (e)
			put(b, tmp, e);
		else
			put(b, (const char *)name + i, n);
		i += n;
	}
}

static char *escape(const uint8_t *name, size_t len, char *out,
		    size_t out_cap, int json)
{
	struct escbuf b = { .out = out, .cap = out_cap };

	if (out_cap == 0)
		return out;
	escape_into(&b, name, len, json);
	out[b.len < out_cap ? b.len : out_cap - 1] = '\0';
	return out;
}

char *name_escape(const uint8_t *name, size_t len, char *out, size_t out_cap)
{
	return escape(name, len, out, out_cap, 0);
}

char *name_escape_json(const uint8_t *name, size_t len, char *out,
		       size_t out_cap)
{
	return escape(name, len, out, out_cap, 1);
}

int name_escape_log(const uint8_t *name, size_t len, int json,
		    char out[NAME_LOG_BUF])
{
	struct escbuf b = { .out = out, .cap = NAME_LOG_MAX + 1, .no_dots = 1 };

	escape_into(&b, name, len, json);
	out[b.len] = '\0';
	if (!b.full)
		return 0;
	snprintf(out + b.len, NAME_LOG_BUF - b.len, NAME_LOG_CUT_FORMAT, len);
	return 1;
}
