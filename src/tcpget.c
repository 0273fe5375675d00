/* tcpget: receive files over TCPX into one directory.  Options only:
 * run_serve() (run.h) opens and locks the directory, listens (or takes
 * systemd's sockets), removes what a killed run left and serves. */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "digest.h"
#include "error.h"
#include "keyfile.h"
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
"                          keep the data of a file (above 1 MiB) cut off part\n"
"                          way this long for tcpput --resume (default 86400;\n"
"                          0: none)\n"
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
"      --max-streams=N     extra connections one session may join to carry\n"
"                          its data (tcpput --streams; default 8, at most\n"
"                          64; 0: none; each counts against the limits above)\n"
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
"      --key=FILE          our secret key (made by --genkey; default:\n"
"                          $TCPX_KEY): encrypt, authenticate both sides,\n"
"                          and refuse senders without a key\n"
"      --authorized=FILE   with --key: the senders' public keys accepted,\n"
"                          one per line (re-read on SIGHUP)\n"
"      --allow-any-sender  with --key and no --authorized: take any sender\n"
"                          key (encryption without sender authentication)\n"
"      --genkey=FILE       write a new key pair to FILE and FILE.pub, print\n"
"                          the public key and its fingerprint, exit\n"
"  -q, --quiet             print errors only (not each refused file)\n"
"  -v, --verbose           also log connections and sessions\n"
"      --json              one JSON object per line per event on stdout\n"
"  -h, --help              show this help\n"
"  -V, --version           show version and library versions\n"
"\n"
"A listening socket passed by systemd (LISTEN_FDS) is used instead of -p/-b.\n"
"Without --key, anyone who can reach the port may send files, unencrypted.\n"
"Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start, 2 usage.\n"
"With --once: 0 every file stored, 3 a file refused or failed, 4 digest\n"
"mismatch, 5 connection lost or timed out, or stopped, 6 protocol error\n"
"(the largest applies).\n";

enum { OPT_OVERWRITE = 256, OPT_MAX_SIZE, OPT_MAX_CLIENTS, OPT_MAX_DIRS,
       OPT_MIN_FREE, OPT_MIN_FREE_INODES, OPT_JSON, OPT_PER_SOURCE,
       OPT_HANDSHAKE, OPT_FRAME, OPT_MIN_RATE, OPT_RATE_WINDOW,
       OPT_KEY, OPT_AUTHORIZED, OPT_ANY_SENDER, OPT_GENKEY,
       OPT_ALLOW_OVERWRITE, OPT_KEEP_PARTIAL, OPT_MAX_STREAMS };
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
	{ "max-streams", required_argument, NULL, OPT_MAX_STREAMS },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE },
	{ "frame-timeout", required_argument, NULL, OPT_FRAME },
	{ "min-rate", required_argument, NULL, OPT_MIN_RATE },
	{ "rate-window", required_argument, NULL, OPT_RATE_WINDOW },
	{ "key", required_argument, NULL, OPT_KEY },
	{ "authorized", required_argument, NULL, OPT_AUTHORIZED },
	{ "allow-any-sender", no_argument, NULL, OPT_ANY_SENDER },
	{ "genkey", required_argument, NULL, OPT_GENKEY },
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
		case OPT_MAX_STREAMS:
			serve->max_streams = (unsigned)cli_number(optarg, 0,
						TCPX_STREAMS_MAX, "--max-streams");
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
		case OPT_KEY: cfg->key = optarg; break;
		case OPT_AUTHORIZED: cfg->authorized = optarg; break;
		case OPT_ANY_SENDER: cfg->any_sender = 1; break;
		case OPT_GENKEY: cfg->genkey = optarg; break;
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

/* The senders' keys: --authorized, re-read on SIGHUP. */
static struct keyring *authorized;
static const char *authorized_path;

/* conn_judge_fn of every session: a sender key not listed is refused
 * before any file data is read (ERROR 14). */
static int judge_sender(void *arg, const uint8_t *pk, char *why, size_t len)
{
	char fp[KEYS_FINGERPRINT_LEN];
	(void)arg;
	keys_fingerprint(pk, fp);
	if (!authorized) {
		ui_debug("sender key %s (any sender key allowed)", fp);
		return 0;
	}
	if (keyring_has(authorized, pk)) {
		ui_debug("sender key %s authorized", fp);
		return 0;
	}
	snprintf(why, len, "sender key %s is not in %s: refused before any "
		 "file (add its .pub line there, then kill -HUP tcpget)", fp,
		 authorized_path);
	return TCPX_E_UNAUTHORIZED;
}

static void reload_authorized(void *arg)
{
	char why[KEYFILE_WHY_MAX];
	(void)arg;
	if (keyring_reload(authorized, why) < 0)
		ui_error(NULL, "SIGHUP: %s; the previous list stays", why);
	else
		ui_info("SIGHUP: %s re-read: %zu sender key%s", authorized_path,
			keyring_count(authorized),
			keyring_count(authorized) == 1 ? "" : "s");
}

/* --key, --authorized, --allow-any-sender: the identity and the judge of
 * each session, and what is said once on start-up. */
static void setup_keys(struct get_config *cfg, struct tcpx_identity **id,
		       char *notice, size_t len)
{
	struct serve_options *serve = &cfg->server.serve;
	char why[KEYFILE_WHY_MAX], fp[KEYS_FINGERPRINT_LEN];

	if (!cfg->key && (cfg->authorized || cfg->any_sender) &&
	    !(getenv(KEYFILE_ENV) && *getenv(KEYFILE_ENV)))
		cli_usage_error("--authorized and --allow-any-sender need --key");
	*id = cli_identity(cfg->key, GET_CANNOT_START);
	if (!*id) {
		cfg->server.notice = "warning: no --key: anyone who can reach "
			"the port may send files, and nothing is encrypted";
		return;
	}
	if (!cfg->authorized && !cfg->any_sender) {
		ui_error(NULL, "--key without --authorized: name the senders' "
			 "keys, or give --allow-any-sender to accept any sender "
			 "(encryption without sender authentication)");
		exit(GET_CANNOT_START);
	}
	if (cfg->authorized && cfg->any_sender)
		cli_usage_error("--authorized and --allow-any-sender exclude "
				"each other");
	if (cfg->authorized) {
		authorized_path = cfg->authorized;
		if (!(authorized = keyring_load(cfg->authorized, why))) {
			ui_error(NULL, "%s", why);
			exit(GET_CANNOT_START);
		}
		cfg->server.on_hup = reload_authorized;
	}
	keys_fingerprint((*id)->pk, fp);
	if (authorized)
		snprintf(notice, len, "receiver key %s; encrypted; senders: the "
			 "%zu key%s in %s", fp, keyring_count(authorized),
			 keyring_count(authorized) == 1 ? "" : "s",
			 cfg->authorized);
	else
		snprintf(notice, len, "receiver key %s; encrypted; warning: "
			 "--allow-any-sender: any sender with a key may send files",
			 fp);
	cfg->server.notice = notice;
	serve->sk = (*id)->sk;
	serve->pk = (*id)->pk;
	serve->judge = judge_sender;
}

int main(int argc, char **argv)
{
	struct get_config cfg;
	struct tcpx_identity *id = NULL;
	char notice[512];
	int status;

	run_serve_defaults(&cfg);
	ui_init("tcpget", UI_RECEIVER);
	cli_init("tcpget", GET_USAGE);
	parse_options(argc, argv, &cfg);
	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return GET_CANNOT_START;
	}
	if (cfg.genkey)
		return cli_genkey(cfg.genkey) ? GET_CANNOT_START : GET_OK;
	setup_keys(&cfg, &id, notice, sizeof(notice));
	status = run_serve(&cfg);
	keyring_free(authorized);
	keyfile_identity_free(id);
	return status;
}
