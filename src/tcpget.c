/* tcpget: receive files over TCPX into one directory.  Options and wiring
 * only: the store opens and locks the directory, net listens (or takes
 * systemd's sockets), a thread removes what a killed run left, the server
 * accepts and serves. */
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "digest.h"
#include "error.h"
#include "net.h"
#include "receiver.h"
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
/* Directories one connection may create: a tree of a few thousand
 * directories per run passes; a peer with deep names gains at most this
 * many inodes (and 16 MiB of directory blocks on ext4) per connection.
 * man/tcpget.1 gives the figures. */
#define DEFAULT_MAX_DIRS 4096

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
"Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start, 2 usage.\n";

enum { OPT_OVERWRITE = 256, OPT_MAX_SIZE, OPT_MAX_CLIENTS, OPT_MAX_DIRS,
       OPT_MIN_FREE, OPT_MIN_FREE_INODES, OPT_JSON, OPT_PER_SOURCE,
       OPT_HANDSHAKE, OPT_FRAME, OPT_MIN_RATE, OPT_RATE_WINDOW,
       OPT_ALLOW_OVERWRITE, OPT_KEEP_PARTIAL };

static const struct option longopts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "overwrite", no_argument, NULL, OPT_OVERWRITE },
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

/* What the options ask for. */
struct get_config {
	const char *port, *bind_addr;
	int overwrite;
	uint64_t keep_partial;
	uint64_t min_free, min_free_inodes;     /* STORE_FREE_AUTO: default */
	struct server_config server;
};

/* Opens and locks the receiving directory; GET_OK or GET_CANNOT_START. */
static int open_store(struct store *st, const struct get_config *cfg)
{
	const char *dir = cfg->server.dir;
	int rc = store_open(st, dir, cfg->overwrite);

	if (rc == -TCPX_E_LOCKED && st->locked_by > 0) {
		ui_error(dir, "already served by another tcpget (pid %ld holds "
			 "its lock)", (long)st->locked_by);
		return GET_CANNOT_START;
	}
	if (rc == -TCPX_E_LOCKED) {
		ui_error(dir, "already served by another tcpget (another "
			 "process holds its lock)");
		return GET_CANNOT_START;
	}
	if (rc < 0) {
		ui_error(dir, "cannot use as the receiving directory: %s",
			 strerror(errno));
		return GET_CANNOT_START;
	}
	st->min_free = cfg->min_free;
	st->min_free_inodes = cfg->min_free_inodes;
	st->keep_partial = cfg->keep_partial;
	return GET_OK;
}

/* Removes what an interrupted run left, beside the server: over a large
 * tree the walk would otherwise delay listening, and it leaves files in
 * progress alone (store.h).  Then again every CLEAN_INTERVAL seconds (or
 * --keep-partial, if shorter), so partial data does not outlive its time
 * on a receiver that runs for weeks. */
#define CLEAN_INTERVAL 3600
static atomic_int stop_cleaner;

static void *clean_stale(void *arg)
{
	struct store *st = arg;
	uint64_t every = st->keep_partial && st->keep_partial < CLEAN_INTERVAL ?
			 st->keep_partial : CLEAN_INTERVAL;

	for (;;) {
		int stale = store_clean_stale(st);
		if (stale > 0)
			ui_info("removed %d temporary file%s left by an "
				"interrupted run or past --keep-partial", stale,
				stale == 1 ? "" : "s");
		for (uint64_t t = 0; t < every * 10; t++) {
			if (atomic_load(&stop_cleaner))
				return NULL;
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
}

/* The sockets systemd passed: how many (0: none), or -1 once said why.
 * Checked before anything else is opened, so that a closed descriptor 3
 * is seen as such and not taken by the directory. */
static int activated_sockets(int lfds[NET_LISTEN_MAX])
{
	int bad_fd = -1, nl;
	const char *why = NULL;

	nl = net_activated(lfds, &bad_fd, &why);
	if (nl < 0)
		ui_error("LISTEN_FDS", "descriptor %d is not a listening "
			 "socket: %s", bad_fd, why);
	return nl < 0 ? -1 : nl;
}

/* Our own listening sockets: how many, or -1 once said why. */
static int start_listening(const struct get_config *cfg,
			   int lfds[NET_LISTEN_MAX])
{
	int nl, gai_err = 0;

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
}

int main(int argc, char **argv)
{
	struct get_config cfg = {
		.port = TCPX_DEFAULT_PORT,
		.min_free = STORE_FREE_AUTO,
		.min_free_inodes = STORE_FREE_AUTO,
		.keep_partial = STORE_KEEP_PARTIAL_DEFAULT,
		.server = { .dir = ".", .max_clients = DEFAULT_MAX_CLIENTS,
			    .max_per_source = DEFAULT_MAX_PER_SOURCE,
			    .serve = { .timeout_ms = DEFAULT_TIMEOUT * 1000,
				       .handshake_ms = DEFAULT_HANDSHAKE_TIMEOUT * 1000,
				       .frame_ms = DEFAULT_FRAME_TIMEOUT * 1000,
				       .min_rate = DEFAULT_MIN_RATE,
				       .rate_window_ms = DEFAULT_RATE_WINDOW * 1000,
				       .max_dirs = DEFAULT_MAX_DIRS } },
	};
	struct store store;
	pthread_t cleaner;
	int nl, status, cleaning, lfds[NET_LISTEN_MAX];

	ui_init("tcpget", UI_RECEIVER);
	cli_init("tcpget", GET_USAGE);
	parse_options(argc, argv, &cfg);
	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return GET_CANNOT_START;
	}
	/* The lock before listening or cleaning: a second tcpget stops
	 * there, with the clearest message, touching nothing. */
	nl = activated_sockets(lfds);
	if (nl < 0 || open_store(&store, &cfg) != GET_OK)
		return GET_CANNOT_START;
	cfg.server.activated = nl > 0;
	if (nl == 0)
		nl = start_listening(&cfg, lfds);
	if (nl < 0)
		return GET_CANNOT_START;
	cleaning = pthread_create(&cleaner, NULL, clean_stale, &store) == 0;
	if (!cleaning)
		store_clean_stale(&store);
	cfg.server.store = &store;
	status = server_run(&cfg.server, lfds, nl);
	store_stop_cleaning(&store);
	atomic_store(&stop_cleaner, 1);
	if (cleaning)
		pthread_join(cleaner, NULL);
	store_close(&store);
	return status;
}
