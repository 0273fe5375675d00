/* Tests for src/names.c: the name gate and the escapers. */
#include "names.h"
#include "testutil.h"

static int check(const void *name, size_t len)
{
	const char *why = NULL;
	/* exact-size heap copy: ASan sees any read past len */
	uint8_t *p = malloc(len ? len : 1);
	cr_assert(p != NULL);
	memcpy(p, name, len);
	int rc = name_validate(p, len, &why);
	if (rc != 0)
		cr_assert(why != NULL && *why != '\0', "refusal without a reason");
	/* why may be NULL */
	cr_assert_eq(name_validate(p, len, NULL), rc);
	free(p);
	return rc;
}

#define ACCEPT(s) cr_assert_eq(check(s, sizeof(s) - 1), 0, "refused: %s", #s)
#define REFUSE(s) cr_assert_eq(check(s, sizeof(s) - 1), -TCPX_E_BAD_NAME, \
			       "accepted: %s", #s)

Test(names, valid_names)
{
	ACCEPT("a");
	ACCEPT("a.txt");
	ACCEPT("a..b");
	ACCEPT("..a");
	ACCEPT("a..");
	ACCEPT("...");
	ACCEPT(".hidden");
	ACCEPT(".a/.b/..c");
	ACCEPT("a/b/c");
	ACCEPT("dir/sub dir/file name with spaces");
	ACCEPT("~");
	ACCEPT("-rf");
	ACCEPT("back\\slash");
	ACCEPT("x.tcpx-");         /* reserved only as a prefix */
	ACCEPT(".tcpx");
	ACCEPT(".tcpxfoo");
	ACCEPT("a/.tcpx_tmp");
	ACCEPT("tcpx-file");
	ACCEPT("\xc3\xa9t\xc3\xa9.txt");                /* été.txt */
	ACCEPT("\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e/\xe3\x83\x95\xe3\x82\xa1\xe3\x82\xa4\xe3\x83\xab");
	ACCEPT("\xf0\x9f\x98\x80.png");                 /* U+1F600 */
	ACCEPT("\xc2\xa0");                             /* U+00A0, just above C1 */
	ACCEPT("\xc2\xa9");
	ACCEPT("\xef\xbf\xbf");                         /* U+FFFF */
	ACCEPT("\xf4\x8f\xbf\xbf");                     /* U+10FFFF */
	ACCEPT("\xed\x9f\xbf");                         /* U+D7FF */
	ACCEPT("\xee\x80\x80");                         /* U+E000 */
	ACCEPT("\x20");
	ACCEPT("~!@#$%^&*()_+={}[]|:;'<>,?\"`");
}

Test(names, refused_structure)
{
	cr_assert_eq(check("", 0), -TCPX_E_BAD_NAME);
	REFUSE("/");
	REFUSE("/a");
	REFUSE("/etc/passwd");
	REFUSE("a/");
	REFUSE("a/b/");
	REFUSE("a//b");
	REFUSE("//a");
	REFUSE("//");
	REFUSE(".");
	REFUSE("./a");
	REFUSE("a/.");
	REFUSE("a/./b");
	REFUSE("./");
}

Test(names, refused_dotdot_in_every_position)
{
	REFUSE("..");
	REFUSE("../a");
	REFUSE("a/..");
	REFUSE("a/../b");
	REFUSE("a/b/../../..");
	REFUSE("../../etc/passwd");
	REFUSE("a/b/c/..");
	REFUSE("../");
	REFUSE("/..");
	/* .. as component k of a 10-component name, every k */
	for (int k = 0; k < 10; k++) {
		char name[64] = "";
		for (int i = 0; i < 10; i++) {
			if (i)
				strcat(name, "/");
			strcat(name, i == k ? ".." : "d");
		}
		cr_assert_eq(check(name, strlen(name)), -TCPX_E_BAD_NAME, "%s", name);
	}
}

Test(names, refused_every_c0_control_and_del)
{
	for (unsigned c = 0; c < 0x20; c++) {
		uint8_t n[5] = { 'a', 'b', (uint8_t)c, 'c', 'd' };
		cr_assert_eq(check(n, 5), -TCPX_E_BAD_NAME, "byte 0x%02x inside", c);
		cr_assert_eq(check(n + 2, 1), -TCPX_E_BAD_NAME, "byte 0x%02x alone", c);
		cr_assert_eq(check(n, 3), -TCPX_E_BAD_NAME, "byte 0x%02x at the end", c);
	}
	REFUSE("a\x7f");
	REFUSE("\x7f");
	/* NUL in the middle of a name of explicit length */
	cr_assert_eq(check("a\0b", 3), -TCPX_E_BAD_NAME);
	cr_assert_eq(check("abc\0", 4), -TCPX_E_BAD_NAME);
	REFUSE("line\nbreak");
	REFUSE("tab\there");
	REFUSE("dir/\rcarriage");
}

Test(names, refused_c1_controls)
{
	for (unsigned cp = 0x80; cp <= 0x9F; cp++) {
		uint8_t n[4] = { 'x', 0xC2, (uint8_t)cp, 'y' };
		cr_assert_eq(check(n, 4), -TCPX_E_BAD_NAME, "U+%04X", cp);
		cr_assert_eq(check(n + 1, 2), -TCPX_E_BAD_NAME, "U+%04X alone", cp);
	}
	REFUSE("\xc2\x9b" "31m");          /* CSI */
}

Test(names, refused_escape_sequences)
{
	REFUSE("\x1b[31mred\x1b[0m");
	REFUSE("\x1b]0;title\x07");
	REFUSE("\x1b" "c");
	REFUSE("ok/\x1b[2J");
	REFUSE("\x9b");                      /* raw C1 byte: not UTF-8 either */
}

Test(names, refused_invalid_utf8)
{
	REFUSE("\xc0\xaf");                  /* overlong '/' */
	REFUSE("a\xc0\xafb");
	REFUSE("\xc1\xbf");                  /* overlong */
	REFUSE("\xe0\x80\xaf");              /* overlong, 3 bytes */
	REFUSE("\xe0\x9f\xbf");
	REFUSE("\xf0\x80\x80\xaf");          /* overlong, 4 bytes */
	REFUSE("\xf0\x8f\xbf\xbf");
	REFUSE("\xed\xa0\x80");              /* U+D800 */
	REFUSE("\xed\xbf\xbf");              /* U+DFFF */
	REFUSE("\xed\xa0\xbd\xed\xb8\x80");  /* surrogate pair, CESU-8 */
	REFUSE("\xf4\x90\x80\x80");          /* U+110000 */
	REFUSE("\xf5\x80\x80\x80");
	REFUSE("\xf7\xbf\xbf\xbf");
	REFUSE("\xf8\x88\x80\x80\x80");      /* 5-byte form */
	REFUSE("\xfc\x84\x80\x80\x80\x80");
	REFUSE("\xfe");
	REFUSE("\xff");
	REFUSE("\x80");                      /* lone continuation */
	REFUSE("a\xbf");
	REFUSE("\xc3");                      /* truncated at the end */
	REFUSE("ab\xe2\x82");
	REFUSE("\xf0\x9f\x98");
	REFUSE("\xf0\x9f\x98/x");            /* truncated in the middle */
	REFUSE("\xc3x");
	REFUSE("\xe2\x28\xa1");
}

static size_t repeat(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
	return n;
}

Test(names, component_length_limit)
{
	char buf[600];
	size_t n = repeat(buf, 'c', 255);
	cr_assert_eq(check(buf, n), 0, "255-byte component refused");
	n = repeat(buf, 'c', 256);
	cr_assert_eq(check(buf, n), -TCPX_E_BAD_NAME, "256-byte component accepted");
	/* in the middle and at the end of a path */
	strcpy(buf, "a/");
	repeat(buf + 2, 'x', 256);
	strcat(buf, "/b");
	cr_assert_eq(check(buf, strlen(buf)), -TCPX_E_BAD_NAME);
	strcpy(buf, "a/");
	repeat(buf + 2, 'x', 255);
	strcat(buf, "/b");
	cr_assert_eq(check(buf, strlen(buf)), 0);
	strcpy(buf, "a/b/");
	repeat(buf + 4, 'x', 256);
	cr_assert_eq(check(buf, strlen(buf)), -TCPX_E_BAD_NAME);
	/* the limit is in bytes, not characters: 128 two-byte é = 256 bytes */
	for (int i = 0; i < 128; i++)
		memcpy(buf + 2 * i, "\xc3\xa9", 2);
	cr_assert_eq(check(buf, 256), -TCPX_E_BAD_NAME);
	cr_assert_eq(check(buf, 254), 0);
}

static size_t path_of_depth(char *buf, int depth)
{
	size_t n = 0;
	for (int i = 0; i < depth; i++) {
		if (i)
			buf[n++] = '/';
		buf[n++] = (char)('a' + i % 26);
	}
	buf[n] = '\0';
	return n;
}

Test(names, depth_limit)
{
	char buf[512];
	size_t n = path_of_depth(buf, 64);
	cr_assert_eq(check(buf, n), 0, "depth 64 refused");
	n = path_of_depth(buf, 65);
	cr_assert_eq(check(buf, n), -TCPX_E_BAD_NAME, "depth 65 accepted");
	n = path_of_depth(buf, 200);
	cr_assert_eq(check(buf, n), -TCPX_E_BAD_NAME);
}

Test(names, total_length_limit)
{
	/* 32 components of 127 bytes and one of 128: 4096 bytes, valid */
	static char buf[4200];
	size_t n = 0;
	for (int i = 0; i < 32; i++) {
		if (i)
			buf[n++] = '/';
		size_t len = i == 31 ? 128 : 127;
		memset(buf + n, 'a' + i % 26, len);
		n += len;
	}
	cr_assert_eq(n, 4096u);
	cr_assert_eq(check(buf, n), 0, "4096-byte name refused");
	buf[n++] = 'z';
	cr_assert_eq(check(buf, n), -TCPX_E_BAD_NAME, "4097-byte name accepted");
	/* a single over-long run is refused too */
	memset(buf, 'q', 4097);
	cr_assert_eq(check(buf, 4097), -TCPX_E_BAD_NAME);
}

Test(names, reserved_temp_prefix_in_any_component)
{
	cr_assert_str_eq(NAME_TEMP_PREFIX, ".tcpx-");
	REFUSE(".tcpx-");
	REFUSE(".tcpx-1234");
	REFUSE(".tcpx-x.part");
	REFUSE("a/.tcpx-tmp");
	REFUSE("a/b/.tcpx-1/c");
	REFUSE(".tcpx-a/b");
	char buf[512];
	for (int k = 0; k < 8; k++) {
		size_t n = 0;
		for (int i = 0; i < 8; i++) {
			if (i)
				buf[n++] = '/';
			const char *c = i == k ? ".tcpx-evil" : "ok";
			memcpy(buf + n, c, strlen(c));
			n += strlen(c);
		}
		cr_assert_eq(check(buf, n), -TCPX_E_BAD_NAME, "component %d", k);
	}
}

/* ---- utf8_valid -------------------------------------------------------- */

Test(names, utf8_valid)
{
	cr_assert_eq(utf8_valid((const uint8_t *)"", 0), 1);
	cr_assert_eq(utf8_valid((const uint8_t *)"plain ascii\x01\x7f", 13), 1);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xc2\x85", 2), 1, "C1 is valid UTF-8");
	cr_assert_eq(utf8_valid((const uint8_t *)"\xf4\x8f\xbf\xbf", 4), 1);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xf4\x90\x80\x80", 4), 0);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xc0\xaf", 2), 0);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xe0\x80\xaf", 3), 0);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xed\xa0\x80", 3), 0);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xe2\x82\xac", 3), 1);
	cr_assert_eq(utf8_valid((const uint8_t *)"\xe2\x82\xac", 2), 0, "truncated");
	cr_assert_eq(utf8_valid((const uint8_t *)"\x00", 1), 1);
	/* every single byte: valid exactly when < 0x80 */
	for (unsigned b = 0; b < 256; b++) {
		uint8_t x = (uint8_t)b;
		cr_assert_eq(utf8_valid(&x, 1), b < 0x80, "byte 0x%02x", b);
	}
	/* every 2-byte lead with a continuation: valid for C2..DF */
	for (unsigned b = 0xC0; b <= 0xFF; b++) {
		uint8_t x[2] = { (uint8_t)b, 0x80 };
		cr_assert_eq(utf8_valid(x, 2), b >= 0xC2 && b <= 0xDF, "lead 0x%02x", b);
	}
}

/* ---- name_escape ------------------------------------------------------- */

static const char *esc(const void *p, size_t len)
{
	static char out[4096];
	memset(out, 'Z', sizeof(out));
	cr_assert(4 * len + 4 <= sizeof(out));
	name_escape(p, len, out, 4 * len + 4);
	return out;
}

#define ESC(s) esc(s, sizeof(s) - 1)

Test(name_escape, renders)
{
	cr_assert_str_eq(ESC("plain.txt"), "plain.txt");
	cr_assert_str_eq(ESC(""), "");
	cr_assert_str_eq(ESC("a\\b"), "a\\\\b");
	cr_assert_str_eq(ESC("\\"), "\\\\");
	cr_assert_str_eq(ESC("\x1b[31mred"), "\\x1b[31mred");
	cr_assert_str_eq(ESC("a\nb"), "a\\x0ab");
	cr_assert_str_eq(ESC("\x7f"), "\\x7f");
	cr_assert_str_eq(esc("a\0b", 3), "a\\x00b");
	cr_assert_str_eq(ESC("\xc2\x85"), "\\xc2\\x85");           /* C1 NEL */
	cr_assert_str_eq(ESC("x\xc2\x9b" "2J"), "x\\xc2\\x9b2J");   /* C1 CSI */
	cr_assert_str_eq(ESC("\xff"), "\\xff");
	cr_assert_str_eq(ESC("\xc0\xaf"), "\\xc0\\xaf");
	cr_assert_str_eq(ESC("\xed\xa0\x80"), "\\xed\\xa0\\x80");
	cr_assert_str_eq(ESC("\xe2\x82"), "\\xe2\\x82");
	cr_assert_str_eq(ESC("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");
	cr_assert_str_eq(ESC("\xf0\x9f\x98\x80"), "\xf0\x9f\x98\x80");
	cr_assert_str_eq(ESC("\xc2\xa0"), "\xc2\xa0");
	cr_assert_str_eq(ESC("\"quoted\""), "\"quoted\"");
}

/* The output is safe for a terminal: no C0, DEL or C1, valid UTF-8. */
static void assert_terminal_safe(const char *s)
{
	size_t n = strlen(s);
	cr_assert(utf8_valid((const uint8_t *)s, n), "escaped output not UTF-8: %s", s);
	for (size_t i = 0; i < n; i++) {
		uint8_t b = (uint8_t)s[i];
		cr_assert(b >= 0x20 && b != 0x7f, "raw control 0x%02x in output", b);
		if (b == 0xC2 && i + 1 < n)
			cr_assert((uint8_t)s[i + 1] >= 0xA0, "C1 control in output");
	}
}

Test(name_escape, every_byte_is_safe)
{
	uint8_t all[256];
	for (unsigned b = 0; b < 256; b++) {
		uint8_t x = (uint8_t)b;
		const char *o = esc(&x, 1);
		assert_terminal_safe(o);
		if (b >= 0x20 && b < 0x7f && b != '\\') {
			char want[2] = { (char)b, 0 };
			cr_assert_str_eq(o, want);
		} else if (b != '\\') {
			char want[8];
			snprintf(want, sizeof(want), "\\x%02x", b);
			cr_assert_str_eq(o, want, "byte 0x%02x", b);
		}
		all[b] = (uint8_t)b;
	}
	assert_terminal_safe(esc(all, 256));
	/* every C1 control encoded in UTF-8 */
	for (unsigned cp = 0x80; cp <= 0x9F; cp++) {
		uint8_t x[2] = { 0xC2, (uint8_t)cp };
		char want[16];
		snprintf(want, sizeof(want), "\\xc2\\x%02x", cp);
		cr_assert_str_eq(esc(x, 2), want);
	}
}

Test(name_escape, worst_case_fits_the_documented_bound)
{
	uint8_t ctl[300], c1[300];
	memset(ctl, 0x01, sizeof(ctl));
	for (int i = 0; i < 300; i += 2) {
		c1[i] = 0xC2;
		c1[i + 1] = 0x9B;
	}
	const char *o = esc(ctl, 300);
	cr_assert_eq(strlen(o), 1200u);
	cr_assert_null(strstr(o, "..."));
	o = esc(c1, 300);
	cr_assert_eq(strlen(o), 1200u);
	o = esc("\\\\\\\\", 4);
	cr_assert_str_eq(o, "\\\\\\\\\\\\\\\\");
}

/* ---- name_escape_json -------------------------------------------------- */

static const char *jesc(const void *p, size_t len)
{
	static char out[8192];
	cr_assert(6 * len + 4 <= sizeof(out));
	memset(out, 'Z', sizeof(out));
	name_escape_json(p, len, out, 6 * len + 4);
	return out;
}

#define JESC(s) jesc(s, sizeof(s) - 1)

/* The UTF-8 encoding of cp into out; its length. */
static size_t utf8_put(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	} else if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	} else if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

/* The four hex digits of a \\u escape. */
static unsigned hex4(const char *p)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		int d = tu_hexval((unsigned char)p[i]);
		cr_assert(d >= 0, "bad \\u escape");
		v = v << 4 | (unsigned)d;
	}
	return v;
}

/* Decodes the inside of a JSON string (RFC 8259) into UTF-8; fails the
 * test on anything a JSON parser would reject. */
static size_t json_unescape(const char *s, uint8_t *out)
{
	size_t n = 0;
	cr_assert(utf8_valid((const uint8_t *)s, strlen(s)), "JSON output not UTF-8");
	for (const char *p = s; *p; p++) {
		cr_assert((uint8_t)*p >= 0x20, "raw control 0x%02x in a JSON string",
			  (uint8_t)*p);
		cr_assert(*p != '"', "unescaped quote in a JSON string");
		if (*p != '\\') {
			out[n++] = (uint8_t)*p;
			continue;
		}
		p++;
		switch (*p) {
		case '"': out[n++] = '"'; break;
		case '\\': out[n++] = '\\'; break;
		case '/': out[n++] = '/'; break;
		case 'b': out[n++] = '\b'; break;
		case 'f': out[n++] = '\f'; break;
		case 'n': out[n++] = '\n'; break;
		case 'r': out[n++] = '\r'; break;
		case 't': out[n++] = '\t'; break;
		case 'u': {
			unsigned cp = hex4(p + 1);
			p += 4;
			if (cp >= 0xD800 && cp <= 0xDBFF && p[1] == '\\' &&
			    p[2] == 'u') {
				/* a surrogate pair: one code point above U+FFFF */
				unsigned lo = hex4(p + 3);
				cr_assert(lo >= 0xDC00 && lo <= 0xDFFF,
					  "high surrogate without a low one");
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			}
			cr_assert(cp < 0xD800 || cp > 0xDFFF, "lone surrogate escape");
			n += utf8_put(cp, out + n);
			break;
		}
		default:
			cr_assert_fail("invalid JSON escape \\%c", *p);
		}
	}
	return n;
}

Test(name_escape_json, renders)
{
	cr_assert_str_eq(JESC("plain.txt"), "plain.txt");
	cr_assert_str_eq(JESC("say \"hi\""), "say \\\"hi\\\"");
	cr_assert_str_eq(JESC("a\\b"), "a\\\\b");
	cr_assert_str_eq(JESC("\xe2\x80\xa8"), "\\u2028");
	cr_assert_str_eq(JESC("\xe2\x80\xa9"), "\\u2029");
	cr_assert_str_eq(JESC("\xc3\xa9"), "\xc3\xa9");
	cr_assert_str_eq(JESC("\xff"), "\\ufffd");
	uint8_t out[64];
	size_t n = json_unescape(JESC("\x1b[0m\n\x7f\xc2\x85"), out);
	cr_assert_eq(n, 8u);
	cr_assert(memcmp(out, "\x1b[0m\n\x7f\xc2\x85", 8) == 0);
	n = json_unescape(jesc("\0", 1), out);
	cr_assert_eq(n, 1u);
	cr_assert_eq(out[0], 0);
}

/* Every byte value, alone and in one long string, gives valid JSON string
 * content that decodes back to it (invalid UTF-8 becomes U+FFFD). */
Test(name_escape_json, every_byte_is_valid_json)
{
	uint8_t all[256], back[2048];
	for (unsigned b = 0; b < 256; b++) {
		uint8_t x = (uint8_t)b;
		size_t n = json_unescape(jesc(&x, 1), back);
		if (b < 0x80) {
			cr_assert_eq(n, 1u, "byte 0x%02x", b);
			cr_assert_eq(back[0], b);
		} else {
			cr_assert_eq(n, 3u, "byte 0x%02x", b);
			cr_assert(memcmp(back, "\xef\xbf\xbd", 3) == 0);
		}
		all[b] = (uint8_t)b;
	}
	size_t n = json_unescape(jesc(all, 256), back);
	cr_assert_eq(n, 128u + 128u * 3u);
	cr_assert(memcmp(back, all, 128) == 0);
	/* valid UTF-8 with C1 and the JSON line separators survives exactly */
	static const char mixed[] = "a\xc2\x80\xc2\x9f\xe2\x80\xa8\xf0\x9f\x98\x80\"\\/\t";
	n = json_unescape(JESC(mixed), back);
	cr_assert_eq(n, sizeof(mixed) - 1);
	cr_assert(memcmp(back, mixed, n) == 0);
}

Test(name_escape_json, worst_case_fits_the_documented_bound)
{
	uint8_t ctl[200];
	memset(ctl, 0x1F, sizeof(ctl));
	const char *o = jesc(ctl, 200);
	cr_assert_eq(strlen(o), 1200u);
	cr_assert_null(strstr(o, "..."));
	uint8_t ls[201];
	for (int i = 0; i < 201; i += 3)
		memcpy(ls + i, "\xe2\x80\xa8", 3);
	o = jesc(ls, 201);
	cr_assert_eq(strlen(o), 67u * 6u);
}

/* ---- truncation -------------------------------------------------------- */

typedef char *(*escaper)(const uint8_t *, size_t, char *, size_t);

/* For every capacity 1..40: NUL-terminated inside the capacity, nothing
 * written past it, and the output is either the whole escape or a prefix
 * of it (cut at a piece boundary) followed by as much of "..." as fits. */
static void truncation(escaper fn, const void *name, size_t len)
{
	char full[1024];
	fn(name, len, full, sizeof(full));
	size_t full_len = strlen(full);
	for (size_t cap = 1; cap <= 40; cap++) {
		char buf[64 + 32];
		memset(buf, '#', sizeof(buf));
		char *r = fn(name, len, buf, cap);
		cr_assert_eq(r, buf, "returns out");
		for (size_t i = cap; i < sizeof(buf); i++)
			cr_assert_eq(buf[i], '#', "cap %zu: byte %zu written", cap, i);
		size_t n = strnlen(buf, cap);
		cr_assert(n < cap, "cap %zu: not NUL-terminated", cap);
		if (n == full_len && memcmp(buf, full, n) == 0)
			continue;
		/* cut: ends with dots, the rest a prefix of the full output */
		size_t dots = 0;
		while (dots < n && dots < 3 && buf[n - 1 - dots] == '.')
			dots++;
		cr_assert(dots == 3 || dots == n, "cap %zu: cut without \"...\": %s", cap, buf);
		cr_assert(memcmp(buf, full, n - dots) == 0,
			  "cap %zu: %s is not a prefix of %s", cap, buf, full);
	}
}

Test(escape_truncation, small_capacities_never_overflow)
{
	truncation(name_escape, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
	truncation(name_escape, "\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9);
	truncation(name_escape, "\xc2\x85\xc2\x86\xc2\x87\xe6\x97\xa5\xe6\x9c\xac", 12);
	truncation(name_escape, "\\\\\\\\\\\\", 6);
	truncation(name_escape_json, "abcdefghijklmnopqrstuvwxyz0123456789", 36);
	truncation(name_escape_json, "\x01\x02\x03\x04\x05\x06\x07\x08\x09", 9);
	truncation(name_escape_json, "\"\"\"\"\xff\xfe\xe2\x80\xa8", 9);
	truncation(name_escape_json, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 12);
}

Test(escape_truncation, cut_output_ends_with_dots)
{
	char buf[16];
	name_escape((const uint8_t *)"abcdefghijklmnopqrstuvwxyz", 26, buf, 10);
	cr_assert_eq(strlen(buf), 9u);
	cr_assert_str_eq(buf + 6, "...");
	cr_assert(strncmp(buf, "abcdef", 6) == 0);
	name_escape_json((const uint8_t *)"abcdefghijklmnopqrstuvwxyz", 26, buf, 10);
	cr_assert_str_eq(buf + strlen(buf) - 3, "...");
	/* never a half escape or half UTF-8 sequence before the dots */
	name_escape((const uint8_t *)"\x01\x01\x01", 3, buf, 10);
	cr_assert_str_eq(buf, "\\x01...");
	name_escape((const uint8_t *)"\xe6\x97\xa5\xe6\x97\xa5\xe6\x97\xa5", 9, buf, 9);
	cr_assert(utf8_valid((const uint8_t *)buf, strlen(buf)));
	cr_assert_str_eq(buf + strlen(buf) - 3, "...");
	name_escape((const uint8_t *)"abc", 3, buf, 1);
	cr_assert_str_eq(buf, "");
}

/* "cuts with ... when out is too small" (names.h): an escape that fits
 * exactly, NUL included, is not too small and must come out whole. */
Test(escape_truncation, exact_fit_is_not_cut)
{
	char buf[16];
	memset(buf, '#', sizeof(buf));
	name_escape((const uint8_t *)"abc", 3, buf, 4);
	cr_assert_str_eq(buf, "abc", "\"abc\" in 4 bytes came out as \"%s\"", buf);
	name_escape((const uint8_t *)"hello", 5, buf, 6);
	cr_assert_str_eq(buf, "hello", "\"hello\" in 6 bytes came out as \"%s\"", buf);
	name_escape((const uint8_t *)"\x01", 1, buf, 5);
	cr_assert_str_eq(buf, "\\x01", "\"\\x01\" in 5 bytes came out as \"%s\"", buf);
	name_escape_json((const uint8_t *)"\"q\"", 3, buf, 6);
	cr_assert_str_eq(buf, "\\\"q\\\"", "JSON in 6 bytes came out as \"%s\"", buf);
}

/* ---- invisible characters: line separators, bidi, format (Cf) ---------- */

/* Every code point issue 9 lists, and more of Cf: beyond the BMP too. */
static const uint32_t invisible_listed[] = {
	0x2028, 0x2029,                                 /* line, paragraph */
	0x202A, 0x202B, 0x202C, 0x202D, 0x202E,         /* LRE RLE PDF LRO RLO */
	0x2066, 0x2067, 0x2068, 0x2069,                 /* LRI RLI FSI PDI */
	0x200E, 0x200F, 0x061C,                         /* LRM RLM ALM */
	0x200B, 0x200C, 0x200D,                         /* ZWSP ZWNJ ZWJ */
	0x2060, 0x2061, 0x2062, 0x2063, 0x2064,         /* WJ, invisible ops */
	0xFEFF, 0x00AD, 0x180E,                         /* BOM, SHY, MVS */
	0x0600, 0x06DD, 0x206A, 0x206F, 0xFFF9, 0xFFFB, /* more of Cf */
	0x110BD, 0x1D173, 0xE0001, 0xE0020, 0xE0041, 0xE007F,
};

/* Their neighbours, shown as they are (the table's edges are right). */
static const uint32_t visible_neighbours[] = {
	0x00AC, 0x00AE, 0x05FF, 0x0606, 0x061B, 0x061D, 0x180D, 0x180F,
	0x200A, 0x2010, 0x2027, 0x202F, 0x205F, 0x2065, 0x2070, 0xFEFE,
	0xFF00, 0xFFF8, 0xFFFC, 0x110BC, 0x1D172, 0x1D17B, 0xE0000, 0xE0002,
	0xE001F, 0xE0080, 0x1F600,
};

#define NELEMS(a) (sizeof(a) / sizeof((a)[0]))

Test(invisible, listed_code_points_escaped_in_text_and_json)
{
	for (size_t i = 0; i < NELEMS(invisible_listed); i++) {
		uint32_t cp = invisible_listed[i];
		uint8_t in[8] = "a", back[32];
		size_t n = 1 + utf8_put(cp, in + 1);
		char want[64];

		in[n++] = 'b';
		cr_assert(name_char_invisible(cp), "U+%04X not invisible", cp);
		snprintf(want, sizeof(want), "a\\u{%04x}b", cp);
		cr_assert_str_eq(esc(in, n), want, "U+%04X in text", cp);
		assert_terminal_safe(esc(in, n));
		if (cp < 0x10000)
			snprintf(want, sizeof(want), "a\\u%04xb", cp);
		else
			snprintf(want, sizeof(want), "a\\u%04x\\u%04xb",
				 0xD800 + ((cp - 0x10000) >> 10),
				 0xDC00 + ((cp - 0x10000) & 0x3FF));
		cr_assert_str_eq(jesc(in, n), want, "U+%04X in JSON", cp);
		/* and a JSON parser gets the character back */
		cr_assert_eq(json_unescape(jesc(in, n), back), n);
		cr_assert(memcmp(back, in, n) == 0, "U+%04X round trip", cp);
	}
}

Test(invisible, neighbours_shown_as_they_are)
{
	for (size_t i = 0; i < NELEMS(visible_neighbours); i++) {
		uint32_t cp = visible_neighbours[i];
		uint8_t in[8];
		size_t n = utf8_put(cp, in);
		char want[8] = { 0 };

		cr_assert(!name_char_invisible(cp), "U+%04X invisible", cp);
		memcpy(want, in, n);
		cr_assert_str_eq(esc(in, n), want, "U+%04X in text", cp);
		cr_assert_str_eq(jesc(in, n), want, "U+%04X in JSON", cp);
	}
}

/* A minimal decoder of valid UTF-8 (the escaped output is checked valid):
 * the code point at *p, advancing p. */
static uint32_t next_cp(const uint8_t **p)
{
	const uint8_t *s = *p;
	uint32_t cp;
	if (s[0] < 0x80) {
		*p += 1;
		return s[0];
	} else if (s[0] < 0xE0) {
		cp = (uint32_t)(s[0] & 0x1F) << 6 | (s[1] & 0x3F);
		*p += 2;
	} else if (s[0] < 0xF0) {
		cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 |
		     (s[2] & 0x3F);
		*p += 3;
	} else {
		cp = (uint32_t)(s[0] & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 |
		     (uint32_t)(s[2] & 0x3F) << 6 | (s[3] & 0x3F);
		*p += 4;
	}
	return cp;
}

/* Every code point, in both forms: an invisible one is escaped, any other
 * comes out as it went in or as an escape; nothing invisible or a line
 * break is ever left raw in the output. */
Test(invisible, every_code_point_is_safe)
{
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		uint8_t in[4];
		size_t n;
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = utf8_put(cp, in);
		const char *o = esc(in, n);
		int raw = strlen(o) == n && memcmp(o, in, n) == 0;
		cr_assert(raw != name_char_invisible(cp) || cp < 0xA0 || cp == '\\',
			  "U+%04X: shown raw %d, invisible %d", cp, raw,
			  name_char_invisible(cp));
		for (const uint8_t *p = (const uint8_t *)o; *p;) {
			uint32_t c = next_cp(&p);
			cr_assert(!name_char_invisible(c) && c != 0x85 && c >= 0x20,
				  "U+%04X: raw U+%04X in text output", cp, c);
		}
		o = jesc(in, n);
		for (const uint8_t *p = (const uint8_t *)o; *p;) {
			uint32_t c = next_cp(&p);
			cr_assert(!name_char_invisible(c) && c >= 0x20,
				  "U+%04X: raw U+%04X in JSON output", cp, c);
		}
	}
}

/* Invalid UTF-8 next to them: every bad byte alone as \x, the valid
 * character after it still recognised and escaped, and no bad byte ever
 * swallows (or is swallowed into) a separator. */
Test(invisible, invalid_utf8_around_them)
{
	cr_assert_str_eq(ESC("\xff\xe2\x80\xa8\xff"), "\\xff\\u{2028}\\xff");
	cr_assert_str_eq(ESC("\xe2\x80\xe2\x80\xae"), "\\xe2\\x80\\u{202e}");
	cr_assert_str_eq(ESC("\xe2\x80\xa8\xe2\x80"), "\\u{2028}\\xe2\\x80");
	cr_assert_str_eq(ESC("\x80\xe2\x81\xa6\xa6"), "\\x80\\u{2066}\\xa6");
	/* overlong encodings of U+2028 and U+202E are not the characters */
	cr_assert_str_eq(ESC("\xf0\x82\x80\xa8"), "\\xf0\\x82\\x80\\xa8");
	cr_assert_str_eq(ESC("\xf0\x82\x80\xae"), "\\xf0\\x82\\x80\\xae");
	/* a separator's bytes cut short, then a whole one */
	cr_assert_str_eq(ESC("\xe2\xe2\x80\xa9"), "\\xe2\\u{2029}");
	cr_assert_str_eq(ESC("\xef\xbb\xef\xbb\xbf"), "\\xef\\xbb\\u{feff}");
	cr_assert_str_eq(ESC("\xf3\xa0\x80\xf3\xa0\x80\x81"),
			 "\\xf3\\xa0\\x80\\u{e0001}");
	cr_assert_str_eq(ESC("\xc2\xad\xc2"), "\\u{00ad}\\xc2");

	cr_assert_str_eq(JESC("\xff\xe2\x80\xa8\xff"), "\\ufffd\\u2028\\ufffd");
	cr_assert_str_eq(JESC("\xe2\x80\xe2\x80\xae"), "\\ufffd\\ufffd\\u202e");
	cr_assert_str_eq(JESC("\xe2\x80\xa8\xe2\x80"), "\\u2028\\ufffd\\ufffd");
	cr_assert_str_eq(JESC("\xf0\x82\x80\xae"), "\\ufffd\\ufffd\\ufffd\\ufffd");
	cr_assert_str_eq(JESC("\xf3\xa0\x80\xf3\xa0\x80\x81"),
			 "\\ufffd\\ufffd\\ufffd\\udb40\\udc01");
	cr_assert_str_eq(JESC("\xc2\xad\xc2"), "\\u00ad\\ufffd");
}

Test(invisible, worst_case_fits_the_documented_bounds)
{
	/* U+00AD: 2 bytes escaped to 8 ("\u{00ad}"), the 4 * len bound */
	uint8_t shy[300], tag[300];
	for (int i = 0; i < 300; i += 2)
		memcpy(shy + i, "\xc2\xad", 2);
	for (int i = 0; i < 300; i += 4)
		memcpy(tag + i, "\xf3\xa0\x80\x81", 4);
	const char *o = esc(shy, 300);
	cr_assert_eq(strlen(o), 1200u);
	cr_assert_null(strstr(o, "..."));
	o = esc(tag, 300);
	cr_assert_eq(strlen(o), 75u * 9u);
	o = jesc(tag, 300);
	cr_assert_eq(strlen(o), 75u * 12u);
	o = jesc(shy, 300);
	cr_assert_eq(strlen(o), 150u * 6u);
}

/* ---- name_escape_log: the cap of a logged name ------------------------ */

Test(name_escape_log, short_names_whole)
{
	char out[NAME_LOG_BUF];
	uint8_t n256[256];

	cr_assert_eq(name_escape_log((const uint8_t *)"a\xe2\x80\xa8z", 5, 0, out), 0);
	cr_assert_str_eq(out, "a\\u{2028}z");
	cr_assert_eq(name_escape_log((const uint8_t *)"a\xe2\x80\xa8z", 5, 1, out), 0);
	cr_assert_str_eq(out, "a\\u2028z");
	cr_assert_eq(name_escape_log((const uint8_t *)"", 0, 0, out), 0);
	cr_assert_str_eq(out, "");
	/* exactly NAME_LOG_MAX bytes escaped: not cut */
	memset(n256, 'x', sizeof(n256));
	cr_assert_eq(name_escape_log(n256, 256, 0, out), 0);
	cr_assert_eq(strlen(out), 256u);
	memset(n256, 0x01, 64);         /* 64 * "\x01" = 256 bytes */
	cr_assert_eq(name_escape_log(n256, 64, 0, out), 0);
	cr_assert_eq(strlen(out), 256u);
}

Test(name_escape_log, long_names_cut_with_their_length)
{
	char out[NAME_LOG_BUF], want[NAME_LOG_BUF];
	uint8_t big[NAME_LEN_MAX];

	memset(big, 'x', sizeof(big));
	cr_assert_eq(name_escape_log(big, 257, 0, out), 1);
	memset(want, 'x', 256);
	strcpy(want + 256, "...[257 bytes]");
	cr_assert_str_eq(out, want);
	cr_assert_eq(name_escape_log(big, NAME_LEN_MAX, 1, out), 1);
	strcpy(want + 256, "...[4096 bytes]");
	cr_assert_str_eq(out, want);

	/* never half an escape: 255 bytes, then an 8-byte escape that would
	 * cross the cap */
	memcpy(big + 255, "\xe2\x80\xae", 3);
	cr_assert_eq(name_escape_log(big, 258, 0, out), 1);
	memset(want, 'x', 255);
	strcpy(want + 255, "...[258 bytes]");
	cr_assert_str_eq(out, want);
	/* nor half a character */
	memcpy(big + 255, "\xe6\x97\xa5", 3);
	cr_assert_eq(name_escape_log(big, 258, 0, out), 1);
	cr_assert_str_eq(out, want);
	cr_assert(utf8_valid((const uint8_t *)out, strlen(out)));

	/* the worst case fits the buffer: 4096 controls, 4 bytes each */
	memset(big, 0x01, sizeof(big));
	cr_assert_eq(name_escape_log(big, sizeof(big), 0, out), 1);
	cr_assert_eq(strlen(out), 256u + strlen("...[4096 bytes]"));
	cr_assert_eq(name_escape_log(big, sizeof(big), 1, out), 1);
	cr_assert_eq(strlen(out), 252u + strlen("...[4096 bytes]"));
	cr_assert(strncmp(out, "\\u0001", 6) == 0);
	/* and is still the inside of a valid JSON string */
	uint8_t back[NAME_LOG_BUF];
	cr_assert_eq(json_unescape(out, back), 42u + strlen("...[4096 bytes]"));
}
