/*
 * cli: what tcpput and tcpget share on the command line: the usage error
 * ("PROG: message", then a pointer to --help, then the tool's usage exit
 * status), decimal numbers and sizes (with suffixes) checked against a
 * range, and the version line.
 *
 * Promises: a bad option never returns to the caller; it exits with the
 * usage status given to cli_init(), so main() needs no error path for it.
 * Messages go through ui, so --json and --quiet apply to them as to the
 * rest.  Call from main() before any thread starts (no locking).
 * Memory: prog is borrowed for the life of the process (a string
 * literal); nothing is allocated.
 */
#ifndef TCPX_CLI_H
#define TCPX_CLI_H

/* Remembers the tool's name and its usage exit status (2 for both tools). */
void cli_init(const char *prog, int usage_status);

/* "PROG: message" on stderr (ui_error), then "Try 'PROG --help' for more
 * information." and exit with the usage status. */
_Noreturn void cli_usage_error(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

/* The second half alone, for getopt's complaints, which it printed itself. */
_Noreturn void cli_try_help(void);

/* The decimal number in s if it lies in lo..hi; otherwise a usage error
 * "WHAT must be a number from LO to HI". */
unsigned long long cli_number(const char *s, unsigned long long lo,
			      unsigned long long hi, const char *what);

/* A size: decimal digits and an optional suffix, case as written: K, M, G,
 * T, P, E (or KiB, MiB...) multiply by powers of 1024, as ls, df and du
 * mean them; KB (or kB), MB, GB, TB, PB, EB by powers of 1000, as disk
 * makers do; B or nothing means bytes.  The result must lie in lo..hi and
 * not overflow; otherwise a usage error that names the suffixes. */
unsigned long long cli_size(const char *s, unsigned long long lo,
			    unsigned long long hi, const char *what);

/* "PROG 0.1.0 (TCPX protocol 1; libdeflate 1.14, zlib 1.2.13, libsodium
 * 1.0.18)" on stdout: the libraries linked in, so a bug report names
 * them.  libdeflate's is the version built against (it has no run-time
 * query); zlib's and libsodium's are those loaded. */
void cli_version(void);

struct tcpx_identity;
/* --genkey FILE: writes FILE and FILE.pub (keyfile_generate()) and
 * prints the public key line and its fingerprint on stdout; the exit
 * status (0, or 1 once said why). */
int cli_genkey(const char *path);
/* The identity of --key FILE, or of the file $TCPX_KEY names when path is
 * NULL: NULL if neither is given; exits with status fail_status once said
 * why when the file cannot be used. */
struct tcpx_identity *cli_identity(const char *path, int fail_status);

#endif
