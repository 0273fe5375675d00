/*
 * names: what a remote file name may be, and how any remote text is shown.
 *
 * name_validate() is the single gate every received name passes before the
 * store sees it: relative, '/'-separated UTF-8, no empty, '.' or '..'
 * component, no control characters (C0, DEL, C1: this blocks terminal escape
 * sequences), no component in the receiver's reserved temporary namespace,
 * bounded lengths.  The escapers render untrusted bytes harmless for a
 * terminal, a log line or a JSON string.  Pure; no allocation.
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
 * Escapes for a terminal or log: printable ASCII and valid UTF-8 (except
 * C1 controls) as is, '\\' as "\\\\", everything else as "\\xNN".  Always
 * NUL-terminates (out_cap >= 1); cuts with "..." when out is too small.
 * Returns out.  4 * len + 4 bytes are always enough.
 */
char *name_escape(const uint8_t *name, size_t len, char *out, size_t out_cap);

/* Same contract for the inside of a JSON string (RFC 8259): '"', '\\' and
 * controls escaped, invalid UTF-8 as U+FFFD. 6 * len + 4 always enough. */
char *name_escape_json(const uint8_t *name, size_t len, char *out,
		       size_t out_cap);

/* 1 if p[0..len) is well-formed UTF-8 (no overlongs, surrogates, > U+10FFFF). */
int utf8_valid(const uint8_t *p, size_t len);

#endif
