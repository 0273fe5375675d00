/* tcpget: receive files over TCPX into one directory.  Options and wiring
 * only: the store opens the directory, net listens (or takes systemd's
 * sockets), the server accepts and serves. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "digest.h"
#include "error.h"
#include "net.h"
#include "server.h"
#include "store.h"
#include "ui.h"

/* Defaults that let a real sender on a slow link through (64 kbit/s moves
 * 8 KB/s: a HELLO in milliseconds, a full 256 KiB chunk in 33 s, eight
 * times the minimum rate) while a slow peer is dropped within a minute;
 * see tcpget(1) SECURITY. */
#define DEFAULT_MAX_CLIENTS 4096
#define DEFAULT_MAX_PER_SOURCE 64
#define DEFAULT_TIMEOUT 60
#define DEFAULT_HANDSHAKE_TIMEOUT 10
#define DEFAULT_FRAME_TIMEOUT 60
#define DEFAULT_MIN_RATE 1024
#define DEFAULT_RATE_WINDOW 20

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
"      --overwrite         replace existing files (atomically)\n"
"      --max-size=BYTES    refuse files larger than this (default: no limit)\n"
"      --max-clients=N     serve at most N connections at once (default 4096,\n"
"                          fewer if the descriptor limit is lower)\n"
"      --max-per-source=N  at most N of them from one IPv4 address or IPv6\n"
"                          /64 (default 64)\n"
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
"Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start, 2 usage.\n";

enum { OPT_OVERWRITE = 256, OPT_MAX_SIZE, OPT_MAX_CLIENTS, OPT_JSON,
       OPT_PER_SOURCE, OPT_HANDSHAKE, OPT_FRAME, OPT_MIN_RATE,
       OPT_RATE_WINDOW };

static const struct option longopts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "overwrite", no_argument, NULL, OPT_OVERWRITE },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
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

/* What the options ask for. */
struct get_config {
	const char *port, *bind_addr;
	int overwrite;
	struct server_config server;
};

/* Opens the receiving directory and removes what an interrupted run left;
 * GET_OK or GET_CANNOT_START. */
static int open_store(struct store *st, const char *dir, int overwrite)
{
	int stale;

	if (store_open(st, dir, overwrite) < 0) {
		ui_error(dir, "cannot use as the receiving directory: %s",
			 strerror(errno));
		return GET_CANNOT_START;
	}
	stale = store_clean_stale(st);
	if (stale > 0)
		ui_info("removed %d temporary file%s left by an interrupted run",
			stale, stale == 1 ? "" : "s");
	return GET_OK;
}

/* The sockets systemd passed, else our own; how many, or -1 once said why. */
static int start_listening(const struct get_config *cfg,
			   int lfds[NET_LISTEN_MAX], int *activated)
{
	int nl, gai_err = 0;

	nl = *activated = net_activated(lfds);
	if (!*activated)
		nl = net_listen(cfg->bind_addr, cfg->port, lfds, &gai_err);
	if (nl == -TCPX_E_RESOLVE) {
		ui_error(cfg->bind_addr, "cannot resolve: %s",
			 gai_strerror(gai_err));
		return -1;
	}
	if (nl < 0) {
		ui_error(NULL, "cannot listen on %s port %s: %s",
			 cfg->bind_addr ? cfg->bind_addr : "all addresses",
			 cfg->port, strerror(errno));
		return -1;
	}
	return nl;
}

static int seconds(const char *arg, const char *what)
{
	return (int)cli_number(arg, 1, 86400, what) * 1000;
}

/* Fills cfg from the command line; returns only if tcpget is to run. */
static void parse_options(int argc, char **argv, struct get_config *cfg)
{
	struct serve_options *serve = &cfg->server.serve;
	int c;

	while ((c = getopt_long(argc, argv, "d:p:b:t:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': cfg->server.dir = optarg; break;
		case 'p':
			cli_number(optarg, 0, 65535, "port");
			cfg->port = optarg;
			break;
		case 'b': cfg->bind_addr = optarg; break;
		case OPT_OVERWRITE: cfg->overwrite = 1; break;
		case OPT_MAX_SIZE:
			serve->max_size = cli_number(optarg, 0, UINT64_MAX,
						     "--max-size");
			break;
		case OPT_MAX_CLIENTS:
			cfg->server.max_clients = (int)cli_number(optarg, 1, 1000000,
								  "--max-clients");
			cfg->server.max_clients_given = 1;
			break;
		case OPT_PER_SOURCE:
			cfg->server.max_per_source = (int)cli_number(optarg, 1,
				1000000, "--max-per-source");
			break;
		case 't': serve->timeout_ms = seconds(optarg, "timeout"); break;
		case OPT_HANDSHAKE:
			serve->handshake_ms = seconds(optarg, "--handshake-timeout");
			break;
		case OPT_FRAME:
			serve->frame_ms = seconds(optarg, "--frame-timeout");
			break;
		case OPT_MIN_RATE:
			serve->min_rate = (uint32_t)cli_number(optarg, 0, UINT32_MAX,
							       "--min-rate");
			break;
		case OPT_RATE_WINDOW:
			serve->rate_window_ms = seconds(optarg, "--rate-window");
			break;
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
}

int main(int argc, char **argv)
{
	struct get_config cfg = {
		.port = TCPX_DEFAULT_PORT,
		.server = { .dir = ".", .max_clients = DEFAULT_MAX_CLIENTS,
			    .max_per_source = DEFAULT_MAX_PER_SOURCE,
			    .serve = { .timeout_ms = DEFAULT_TIMEOUT * 1000,
				       .handshake_ms = DEFAULT_HANDSHAKE_TIMEOUT * 1000,
				       .frame_ms = DEFAULT_FRAME_TIMEOUT * 1000,
				       .min_rate = DEFAULT_MIN_RATE,
				       .rate_window_ms = DEFAULT_RATE_WINDOW * 1000 } },
	};
	struct store store;
	int nl, status, lfds[NET_LISTEN_MAX];

	ui_init("tcpget", UI_RECEIVER);
	cli_init("tcpget", GET_USAGE);
	parse_options(argc, argv, &cfg);
	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return GET_CANNOT_START;
	}
	if (open_store(&store, cfg.server.dir, cfg.overwrite) != GET_OK)
		return GET_CANNOT_START;
	nl = start_listening(&cfg, lfds, &cfg.server.activated);
	if (nl < 0)
		return GET_CANNOT_START;
	cfg.server.store = &store;
	status = server_run(&cfg.server, lfds, nl);
	store_close(&store);
	return status;
}
