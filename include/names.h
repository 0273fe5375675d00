/*
 * names: what a remote file name may be, and how any remote text is shown.
 *
 * name_validate() is the single gate every received name passes before the
 * store sees it: relative, '/'-separated UTF-8, no empty, '.' or '..'
 * component, no control characters (C0, DEL, C1: this blocks terminal escape
 * sequences), no component in the receiver's reserved temporary namespace,
 * bounded lengths.  The escapers render untrusted bytes harmless for a
 * terminal, a log line or a JSON string: nothing in their output can move
 * a cursor, reorder or hide text, or start a new line.  Pure; no
 * allocation; the caller owns every buffer.
 */
#ifndef TCPX_NAMES_H
#define TCPX_NAMES_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of a whole name; proto uses it as the FILE frame's name limit. */
#define NAME_LEN_MAX 4096u
#define NAME_COMPONENT_MAX 255u
#define NAME_DEPTH_MAX 64u
/* Temporary files of the store start with this; received names may not. */
#define NAME_TEMP_PREFIX ".tcpx-"

/* 0, or -TCPX_E_BAD_NAME with *why set to a static reason. */
int name_validate(const uint8_t *name, size_t len, const char **why);

/*
 * Escapes for a terminal or log: printable ASCII and valid UTF-8 as is,
 * except: '\\' as "\\\\"; C0 controls, DEL and bytes that are not valid
 * UTF-8 as "\\xNN"; C1 controls as the "\\xNN\\xNN" of their two bytes;
 * invisible characters (name_char_invisible()) as "\\u{XXXX}", the code
 * point in at least four lower-case hex digits ("\\u{202e}",
 * "\\u{e0001}").  The output is one line for any consumer: it holds no
 * mandatory line break of Unicode (LF, VT, FF, CR, NEL, U+2028, U+2029).
 * Always NUL-terminates (out_cap >= 1); cuts with "..." when out is too
 * small.  Returns out.  4 * len + 4 bytes are always enough.
 */
char *name_escape(const uint8_t *name, size_t len, char *out, size_t out_cap);

/* Same contract for the inside of a JSON string (RFC 8259): '"', '\\',
 * controls and invisible characters as \\uXXXX (a surrogate pair above
 * U+FFFF), invalid UTF-8 as U+FFFD.  6 * len + 4 always enough. */
char *name_escape_json(const uint8_t *name, size_t len, char *out,
		       size_t out_cap);

/*
 * 1 for the characters that are shown escaped though valid: U+2028 LINE
 * SEPARATOR, U+2029 PARAGRAPH SEPARATOR and every format character
 * (Unicode general category Cf): the bidirectional controls U+202A-U+202E,
 * U+2066-U+2069, U+200E, U+200F, U+061C; the zero-width U+200B-U+200D,
 * U+2060-U+2064, U+FEFF; U+00AD, U+180E, the tags U+E0001, U+E0020-U+E007F
 * and the rest of Cf.  They reorder or hide text, or split a line for a
 * consumer that splits on Unicode line boundaries.
 */
int name_char_invisible(uint32_t cp);

/*
 * A log line shows at most NAME_LOG_MAX bytes of a name's escaped form: a
 * name is up to 4096 bytes (16 KiB escaped), and a sender that repeats
 * such names must not get many times its traffic written to the log.
 */
#define NAME_LOG_MAX 256u
#define NAME_LOG_CUT_FORMAT "...[%zu bytes]"
/* Room for the longest capped form: NAME_LOG_MAX, the marker, NUL. */
#define NAME_LOG_BUF (NAME_LOG_MAX + 40u)

/*
 * The escaped form a log line shows: name_escape() (json 0) or
 * name_escape_json() (json 1) of the whole name if that is at most
 * NAME_LOG_MAX bytes; else its first pieces (never half an escape or half
 * a character) up to NAME_LOG_MAX bytes, then "...[N bytes]", N the
 * name's length in bytes.  Returns 1 if cut, 0 if whole; out is always
 * NUL-terminated.
 */
int name_escape_log(const uint8_t *name, size_t len, int json,
		    char out[NAME_LOG_BUF]);

/* 1 if p[0..len) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int utf8_valid(const uint8_t *p, size_t len);

#endif
