/* cli: usage errors, numbers, sizes and the version line shared by both
 * tools (cli.h). */
#include <errno.h>
#include <libdeflate.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "cli.h"
#include "digest.h"
#include "keyfile.h"
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

/* One suffix and its multiplier; the table is the documentation's. */
static const struct {
	const char *suffix;
	unsigned long long mult;
} size_suffixes[] = {
	{ "", 1 }, { "B", 1 },
	{ "K", 1ull << 10 }, { "KiB", 1ull << 10 }, { "KB", 1000ull },
	{ "kB", 1000ull },
	{ "M", 1ull << 20 }, { "MiB", 1ull << 20 }, { "MB", 1000000ull },
	{ "G", 1ull << 30 }, { "GiB", 1ull << 30 }, { "GB", 1000000000ull },
	{ "T", 1ull << 40 }, { "TiB", 1ull << 40 }, { "TB", 1000000000000ull },
	{ "P", 1ull << 50 }, { "PiB", 1ull << 50 },
	{ "PB", 1000000000000000ull },
	{ "E", 1ull << 60 }, { "EiB", 1ull << 60 },
	{ "EB", 1000000000000000000ull },
};
#define SUFFIXES (sizeof(size_suffixes) / sizeof(size_suffixes[0]))

unsigned long long cli_size(const char *s, unsigned long long lo,
			    unsigned long long hi, const char *what)
{
	char *end;
	unsigned long long v, mult = 0;

	errno = 0;
	v = strtoull(s, &end, 10);
	for (size_t i = 0; i < SUFFIXES; i++)
		if (strcmp(end, size_suffixes[i].suffix) == 0)
			mult = size_suffixes[i].mult;
	/* As in cli_number: strtoull accepts "-1" and leading blanks. */
	if (errno || end == s || !mult || s[strspn(s, " \t\n\v\f\r")] == '-' ||
	    v > ULLONG_MAX / mult || v * mult < lo || v * mult > hi)
		cli_usage_error("%s must be a size from %llu to %llu bytes "
				"(suffixes K, M, G, T, P, E: powers of 1024; "
				"KB, MB, GB...: powers of 1000)", what, lo, hi);
	return v * mult;
}

void cli_version(void)
{
	/* libdeflate compresses and inflates every zlib chunk, libzstd
	 * every zstd one; zlib is named because it is still linked,
	 * libsodium computes the digests. */
	printf("%s %s (TCPX protocol %u; libdeflate %s, zlib %s, libzstd %s, "
	       "libsodium %s)\n",
	       cli_prog, TCPX_VERSION_STRING, TCPX_VERSION,
	       LIBDEFLATE_VERSION_STRING, zlibVersion(), ZSTD_versionString(),
	       sodium_version_string());
}

int cli_genkey(const char *path)
{
	char why[KEYFILE_WHY_MAX], comment[KEYS_COMMENT_MAX], host[128] = "";
	char line[KEYS_LINE_MAX], fp[KEYS_FINGERPRINT_LEN];
	const char *user = getenv("USER");
	uint8_t pk[KEYS_PUBLIC_LEN];

	if (gethostname(host, sizeof(host) - 1) < 0)
		host[0] = '\0';
	snprintf(comment, sizeof(comment), "%s@%s %s", user ? user : "",
		 host, cli_prog);
	if (keyfile_generate(path, comment, pk, why) < 0) {
		ui_error(NULL, "%s", why);
		return 1;
	}
	keys_format_public(line, pk, comment);
	keys_fingerprint(pk, fp);
	printf("%s", line);
	printf("fingerprint %s\n", fp);
	fflush(stdout);
	ui_info("secret key in %s (mode 0600), public key in %s.pub", path, path);
	fflush(stdout);
	return 0;
}

struct tcpx_identity *cli_identity(const char *path, int fail_status)
{
	char why[KEYFILE_WHY_MAX];
	struct tcpx_identity *id;

	if (!path && (path = getenv(KEYFILE_ENV)) && !*path)
		path = NULL;
	if (!path)
		return NULL;
	if (!(id = keyfile_load(path, why))) {
		ui_error(NULL, "%s", why);
		exit(fail_status);
	}
	return id;
}
