/* tcpget: receive files over TCPX into one directory.  Options only:
 * run_serve() (run.h) opens and locks the directory, listens (or takes
 * systemd's sockets), removes what a killed run left and serves. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "net.h"
#include "receiver.h"
#include "run.h"
#include "store.h"
#include "ui.h"

static const char usage_text[] =
"usage: tcpget [OPTIONS]\n"
"Receive files sent by tcpput and store them under one directory; a file\n"
"appears under its name only once its BLAKE2b-512 digest matched.\n"
"\n"
"  -d, --dir=DIR           store files here (default: current directory;\n"
"                          created if missing)\n"
"  -p, --port=PORT         TCP port (default 20180; 0 picks a free one)\n"
"  -b, --bind=ADDR         listen on this address only (default: all,\n"
"                          IPv6 and IPv4)\n"
"      --overwrite         replace existing files (atomically), whatever\n"
"                          the sender asks\n"
"      --allow-overwrite   replace them when the sender asks (tcpput\n"
"                          --overwrite); else such a file is refused\n"
"      --keep-partial=SECONDS\n"
"                          keep the data of a file cut off part way this\n"
"                          long for tcpput --resume (default 86400; 0: none)\n"
"      --once              serve one connection, then exit with its status\n"
"      --stdout            write the one file received to standard output as\n"
"                          it arrives (implies --once; no file is stored,\n"
"                          a second file is refused; the log goes to stderr)\n"
"      --max-size=SIZE     refuse files larger than this (default: no limit;\n"
"                          suffixes K, M, G, T: powers of 1024; KB, MB...:\n"
"                          powers of 1000)\n"
"      --max-clients=N     serve at most N connections at once (default 4096,\n"
"                          fewer if the descriptor limit is lower)\n"
"      --max-per-source=N  at most N of them from one IPv4 address or IPv6\n"
"                          /64 (default 64)\n"
"      --max-dirs=N        directories one connection may create (default\n"
"                          4096; 0: no limit)\n"
"      --min-free=SIZE     refuse files that would leave less free space\n"
"                          (default: 1% of the file system, at most 64 MiB)\n"
"      --min-free-inodes=N refuse files that would leave fewer free inodes\n"
"                          (default: 1% of them, at most 1000)\n"
"  -t, --timeout=SECONDS   close connections idle this long, or whose\n"
"                          replies stay unread this long (default 60)\n"
"      --handshake-timeout=SECONDS\n"
"                          the sender's HELLO must be in by then (default 10)\n"
"      --frame-timeout=SECONDS\n"
"                          a frame begun must be whole by then (default 60)\n"
"      --min-rate=BYTES    while a file arrives, at least this many bytes a\n"
"                          second on average (default 1024; 0: no minimum)\n"
"      --rate-window=SECONDS\n"
"                          over this many seconds (default 20)\n"
"  -q, --quiet             print errors only (not each refused file)\n"
"  -v, --verbose           also log connections and sessions\n"
"      --json              one JSON object per line per event on stdout\n"
"  -h, --help              show this help\n"
"  -V, --version           show version and library versions\n"
"\n"
"A listening socket passed by systemd (LISTEN_FDS) is used instead of -p/-b.\n"
"Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start, 2 usage.\n"
"With --once: 0 every file stored, 3 a file refused or failed, 4 digest\n"
"mismatch, 5 connection lost or timed out, or stopped, 6 protocol error\n"
"(the largest applies).\n";

enum { OPT_OVERWRITE = 256, OPT_MAX_SIZE, OPT_MAX_CLIENTS, OPT_MAX_DIRS,
       OPT_MIN_FREE, OPT_MIN_FREE_INODES, OPT_JSON, OPT_PER_SOURCE,
       OPT_HANDSHAKE, OPT_FRAME, OPT_MIN_RATE, OPT_RATE_WINDOW,
       OPT_ALLOW_OVERWRITE, OPT_KEEP_PARTIAL };
enum { OPT_ONCE = 300, OPT_STDOUT };

static const struct option longopts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "overwrite", no_argument, NULL, OPT_OVERWRITE },
	{ "once", no_argument, NULL, OPT_ONCE },
	{ "stdout", no_argument, NULL, OPT_STDOUT },
	{ "allow-overwrite", no_argument, NULL, OPT_ALLOW_OVERWRITE },
	{ "keep-partial", required_argument, NULL, OPT_KEEP_PARTIAL },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "max-dirs", required_argument, NULL, OPT_MAX_DIRS },
	{ "min-free", required_argument, NULL, OPT_MIN_FREE },
	{ "min-free-inodes", required_argument, NULL, OPT_MIN_FREE_INODES },
	{ "max-per-source", required_argument, NULL, OPT_PER_SOURCE },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
	{ "frame-timeout", required_argument, NULL, OPT_FRAME },
	{ "min-rate", required_argument, NULL, OPT_MIN_RATE },
	{ "rate-window", required_argument, NULL, OPT_RATE_WINDOW },
	{ "timeout", required_argument, NULL, 't' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int seconds(const char *arg, const char *what)
{
	return (int)cli_number(arg, 1, 86400, what) * 1000;
}

/* Fills cfg from the command line; exits on a usage error, --help or
 * --version. */
static void parse_options(int argc, char **argv, struct get_config *cfg)
{
	struct serve_options *serve = &cfg->server.serve;
	int c;

	while ((c = getopt_long(argc, argv, "d:p:b:t:qvhV", longopts,
				NULL)) != -1) {
		switch (c) {
		case 'd': cfg->server.dir = optarg; break;
		case 'p':
			cli_number(optarg, 0, 65535, "port");
			cfg->port = optarg;
			break;
		case 'b': cfg->bind_addr = optarg; break;
		case OPT_OVERWRITE:
			cfg->overwrite = 1;
			serve->allow_overwrite = RECV_FORCE_OVERWRITE;
			break;
		case OPT_ALLOW_OVERWRITE:
			if (serve->allow_overwrite < RECV_ALLOW_OVERWRITE)
				serve->allow_overwrite = RECV_ALLOW_OVERWRITE;
			break;
		case OPT_KEEP_PARTIAL:
			cfg->keep_partial = cli_number(optarg, 0, 10 * 366 * 86400ull,
						       "--keep-partial");
			break;
		case OPT_ONCE: cfg->server.once = 1; break;
		case OPT_STDOUT:
			cfg->to_stdout = cfg->server.once = 1;
			break;
		case OPT_MAX_SIZE:
			serve->max_size = cli_size(optarg, 0, UINT64_MAX,
						   "--max-size");
			break;
		case OPT_MAX_CLIENTS:
			cfg->server.max_clients = (int)cli_number(optarg, 1,
						1000000, "--max-clients");
			cfg->server.max_clients_given = 1;
			break;
		case OPT_PER_SOURCE:
			cfg->server.max_per_source = (int)cli_number(optarg, 1,
						1000000, "--max-per-source");
			break;
		case OPT_HANDSHAKE:
			serve->handshake_ms = seconds(optarg, "--handshake-timeout");
			break;
		case OPT_FRAME:
			serve->frame_ms = seconds(optarg, "--frame-timeout");
			break;
		case OPT_MIN_RATE:
			serve->min_rate = (uint32_t)cli_number(optarg, 0,
						UINT32_MAX, "--min-rate");
			break;
		case OPT_RATE_WINDOW:
			serve->rate_window_ms = seconds(optarg, "--rate-window");
			break;
		case OPT_MAX_DIRS:
			serve->max_dirs = (uint32_t)cli_number(optarg, 0,
							       UINT32_MAX,
							       "--max-dirs");
			break;
		case OPT_MIN_FREE:      /* the largest value means "default" */
			cfg->min_free = cli_size(optarg, 0, UINT64_MAX - 1,
						 "--min-free");
			break;
		case OPT_MIN_FREE_INODES:
			cfg->min_free_inodes = cli_number(optarg, 0,
							  UINT64_MAX - 1,
							  "--min-free-inodes");
			break;
		case 't': serve->timeout_ms = seconds(optarg, "timeout"); break;
		case 'q': ui_set_quiet(1); break;
		case 'v': ui_set_verbose(1); break;
		case OPT_JSON: ui_set_json(1); break;
		case 'h': fputs(usage_text, stdout); exit(GET_OK);
		case 'V': cli_version(); exit(GET_OK);
		default: cli_try_help();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument "
				"(files arrive over the network)");
	if (cfg->to_stdout && cfg->overwrite)
		cli_usage_error("--stdout stores no file: --overwrite has "
				"nothing to replace");
	if (cfg->to_stdout && serve->allow_overwrite)
		cli_usage_error("--stdout stores no file: --allow-overwrite "
				"has nothing to replace");
}

int main(int argc, char **argv)
{
	struct get_config cfg;

	run_serve_defaults(&cfg);
	ui_init("tcpget", UI_RECEIVER);
	cli_init("tcpget", GET_USAGE);
	parse_options(argc, argv, &cfg);
	return run_serve(&cfg);
}
