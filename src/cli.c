/* cli: usage errors, numbers and the version line shared by both tools
 * (cli.h). */
#include <errno.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "cli.h"
#include "digest.h"
#include "proto.h"
#include "ui.h"

static const char *cli_prog = "tcpx";
static int cli_usage_status = 2;

void cli_init(const char *prog, int usage_status)
{
	cli_prog = prog;
	cli_usage_status = usage_status;
}

_Noreturn void cli_try_help(void)
{
	ui_hint("Try '%s --help' for more information.", cli_prog);
	exit(cli_usage_status);
}

_Noreturn void cli_usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ui_error(NULL, "%s", msg);
	cli_try_help();
}

unsigned long long cli_number(const char *s, unsigned long long lo,
			      unsigned long long hi, const char *what)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	/* strtoull negates "-1" into a huge number instead of failing, and
	 * skips leading blanks first, so " -5" must be caught too. */
	if (errno || end == s || *end || s[strspn(s, " \t\n\v\f\r")] == '-' ||
	    v < lo || v > hi)
		cli_usage_error("%s must be a number from %llu to %llu",
				what, lo, hi);
	return v;
}

void cli_version(void)
{
	/* libdeflate compresses and inflates every chunk; zlib is named
	 * because it is still linked, libsodium computes the digests. */
	printf("%s %s (TCPX protocol %u; libdeflate %s, zlib %s, libsodium %s)\n",
	       cli_prog, TCPX_VERSION_STRING, TCPX_VERSION,
	       LIBDEFLATE_VERSION_STRING, zlibVersion(),
	       sodium_version_string());
}
