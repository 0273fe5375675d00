/* Tests for src/cli.c: ranged numbers, usage errors, the version line. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"
#include "ui.h"

static void init(void)
{
	ui_init("tool", UI_SENDER);
	cli_init("tool", 2);
}

TestSuite(cli, .init = init);

typedef unsigned long long parser(const char *s, unsigned long long lo,
				  unsigned long long hi, const char *what);

/* parse (cli_number or cli_size) in a child whose stderr we read: a
 * refusal exits, so it cannot be observed in this process. */
static int refused_by(parser *parse, const char *s, unsigned long long lo,
		      unsigned long long hi, const char *what, char *err,
		      size_t cap)
{
	int p[2], status;
	ssize_t n, got = 0;
	pid_t pid;

	cr_assert_eq(pipe(p), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(p[1], 2);
		parse(s, lo, hi, what);
		_exit(0);
	}
	close(p[1]);
	while ((n = read(p[0], err + got, cap - 1 - (size_t)got)) > 0)
		got += n;
	err[got] = '\0';
	close(p[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static int refused(const char *s, unsigned long long lo, unsigned long long hi,
		   const char *what, char *err, size_t cap)
{
	return refused_by(cli_number, s, lo, hi, what, err, cap);
}

Test(cli, numbers_in_range)
{
	cr_assert_eq(cli_number("0", 0, 65535, "port"), 0);
	cr_assert_eq(cli_number("65535", 0, 65535, "port"), 65535);
	cr_assert_eq(cli_number("1", 1, 9, "level"), 1);
	cr_assert_eq(cli_number("18446744073709551615", 0, UINT64_MAX, "size"),
		     UINT64_MAX);
}

Test(cli, refusals_say_the_range_and_exit_with_the_usage_status)
{
	static const struct {
		const char *s;
		unsigned long long lo, hi;
	} bad[] = {
		{ "10", 1, 9 }, { "0", 1, 9 }, { "", 0, 9 }, { "5x", 0, 9 },
		{ "-1", 0, UINT64_MAX }, { " -5", 0, UINT64_MAX },
		{ "18446744073709551616", 0, UINT64_MAX }, { "x", 0, 9 },
	};
	char err[512], want[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = refused(bad[i].s, bad[i].lo, bad[i].hi, "WHAT",
				 err, sizeof(err));
		cr_assert_eq(st, 2, "'%s': exit %d", bad[i].s, st);
		snprintf(want, sizeof(want),
			 "tool: WHAT must be a number from %llu to %llu\n"
			 "Try 'tool --help' for more information.\n",
			 bad[i].lo, bad[i].hi);
		/* A prefix: under ASan, LeakSanitizer may add its own
		 * line as the child exits. */
		cr_assert(strncmp(err, want, strlen(want)) == 0, "'%s': got [%s]",
			  bad[i].s, err);
	}
}

Test(cli, version_line_names_the_libraries, .init = cr_redirect_stdout)
{
	static const char head[] = "tool " TCPX_VERSION_STRING
				   " (TCPX protocol 1; libdeflate ";
	char out[256] = "";
	FILE *f;

	init();
	cli_version();
	fflush(stdout);
	f = cr_get_redirected_stdout();
	cr_assert(fgets(out, sizeof(out), f));
	cr_assert(strncmp(out, head, strlen(head)) == 0, "%s", out);
	cr_assert(strstr(out, ", zlib "), "%s", out);
	cr_assert(strstr(out, ", libsodium "), "%s", out);
	cr_assert(out[strlen(out) - 2] == ')', "%s", out);
}

Test(cli, sizes_take_iec_and_si_suffixes)
{
	static const struct {
		const char *s;
		unsigned long long v;
	} good[] = {
		{ "0", 0 }, { "1", 1 }, { "1B", 1 }, { "1K", 1024 },
		{ "1KiB", 1024 }, { "1KB", 1000 }, { "1kB", 1000 },
		{ "64M", 64ull << 20 }, { "64MiB", 64ull << 20 },
		{ "5MB", 5000000 }, { "1G", 1ull << 30 }, { "1GB", 1000000000 },
		{ "2T", 2ull << 40 }, { "3TB", 3000000000000ull },
		{ "1P", 1ull << 50 }, { "15E", 15ull << 60 },
		{ "18EB", 18000000000000000000ull },
		{ "18446744073709551615", UINT64_MAX },
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert_eq(cli_size(good[i].s, 0, UINT64_MAX, "size"),
			     good[i].v, "'%s'", good[i].s);
	cr_assert_eq(cli_size("4K", 4096, 4096, "size"), 4096);
}

Test(cli, size_refusals_name_the_suffixes)
{
	static const char *const bad[] = {
		"", "K", "1X", "1k", "1g", "1 G", "1.5G", "-1K", " -1", "1KiBB",
		"16E", "19EB", "18446744073709551616", "1K ",
	};
	char err[512];
	const char *want = "tool: WHAT must be a size from 0 to "
			   "18446744073709551615 bytes (suffixes K, M, G, T, P, "
			   "E: powers of 1024; KB, MB, GB...: powers of 1000)\n"
			   "Try 'tool --help' for more information.\n";

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = refused_by(cli_size, bad[i], 0, UINT64_MAX, "WHAT",
				    err, sizeof(err));
		cr_assert_eq(st, 2, "'%s': exit %d", bad[i], st);
		cr_assert(strncmp(err, want, strlen(want)) == 0,
			  "'%s': got [%s]", bad[i], err);
	}
	cr_assert_eq(refused_by(cli_size, "2K", 0, 1024, "WHAT", err,
				sizeof(err)), 2);
	cr_assert_eq(refused_by(cli_size, "1K", 1025, 4096, "WHAT", err,
				sizeof(err)), 2);
}

/* ---- tcpput's destination: HOST[:PORT][:DIR] (net_split_destination) ---- */

#include "error.h"
#include "net.h"

static void dest_is(const char *arg, const char *host, const char *port,
		    const char *dir)
{
	char *h, *p, *d;
	cr_assert_eq(net_split_destination(arg, &h, &p, &d), 0, "%s", arg);
	cr_assert_str_eq(h, host, "%s: host", arg);
	cr_assert_str_eq(p, port, "%s: port", arg);
	if (dir)
		cr_assert(d && !strcmp(d, dir), "%s: dir %s", arg, d ? d : "(none)");
	else
		cr_assert_null(d, "%s: dir %s", arg, d);
	free(h);
	free(p);
	free(d);
}

Test(destination, forms)
{
	dest_is("host", "host", "20180", NULL);
	dest_is("host:", "host", "20180", NULL);
	dest_is("host:20181", "host", "20181", NULL);
	dest_is("host:backup/", "host", "20180", "backup/");
	dest_is("host:20181:backup/", "host", "20181", "backup/");
	dest_is("host:20181:", "host", "20181", NULL);
	dest_is("host:2018x", "host", "20180", "2018x");
	dest_is("host:a:b", "host", "20180", "a:b");
	dest_is("10.0.0.1:20181:d", "10.0.0.1", "20181", "d");
	dest_is("[::1]", "::1", "20180", NULL);
	dest_is("[::1]:20181", "::1", "20181", NULL);
	dest_is("[::1]:20181:dir/", "::1", "20181", "dir/");
	dest_is("[::1]:dir/", "::1", "20180", "dir/");
	dest_is("::1", "::1", "20180", NULL);
	dest_is("2001:db8::7", "2001:db8::7", "20180", NULL);
}

Test(destination, bad_forms)
{
	const char *bad[] = { "", ":20180", "host:0", "host:65536:d",
			      "[::1", "[]:20180", "[::1]x" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *h = (char *)1, *p = (char *)1, *d = (char *)1;
		cr_assert_eq(net_split_destination(bad[i], &h, &p, &d),
			     -TCPX_E_ADDRESS, "%s", bad[i]);
		cr_assert_null(h);
		cr_assert_null(p);
		cr_assert_null(d);
	}
}
