/* tcpput: send files to a tcpget receiver.  Options and wiring only. */
#include <getopt.h>
#include <netdb.h>
#include <sodium.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "digest.h"
#include "error.h"
#include "keyfile.h"
#include "names.h"
#include "net.h"
#include "proto.h"
#include "run.h"
#include "ui.h"

#define DEFAULT_LEVEL 1
/* Level 1, not zstd's usual 3: on 256 KiB chunks compressed apart, 1 came
 * out both faster and smaller (256 MiB of log text: 1.92 s and 54.0 MB
 * against 2.25 s and 55.8 MB, median of 3, on the 2-core AMD EPYC VM). */
#define DEFAULT_ZSTD_LEVEL 1
#define DEFAULT_TIMEOUT 60

static const char usage_text[] =
"usage: tcpput [OPTIONS] FILE... HOST[:PORT][:DIR/]\n"
"       tcpput -r [OPTIONS] DIR|FILE... HOST[:PORT][:DIR/]\n"
"       tcpput [OPTIONS] --name NAME - HOST[:PORT][:DIR/]\n"
"       tcpput --genkey FILE\n"
"Send files to a tcpget receiver over TCP; each is verified by BLAKE2b-512\n"
"on both sides. HOST is a name, an IPv4 address or [IPv6]; PORT defaults\n"
"to 20180; DIR/, a directory beneath the receiver's, is prefixed to every\n"
"name sent (host:backup/, host:20180:backup/). FILE - is standard input;\n"
"it, pipes, FIFOs and devices (<(...), /dev/stdin) are streamed to their end,\n"
"of a size unknown until then, without a temporary file on either side.\n"
"\n"
"  -r, --recursive         send directories with everything in them, as\n"
"                          DIR/... (symlinks, unless -L, and special files\n"
"                          inside are skipped with a warning)\n"
"  -L, --dereference       with -r, follow symbolic links inside trees\n"
"      --name=NAME         send the one FILE (or -, or -r DIR) as NAME;\n"
"                          needed for -\n"
"  -c, --checksum          a file already there is identical only if its\n"
"                          BLAKE2b-512 is (default: same size and mtime)\n"
"      --overwrite         replace a different file already there (if the\n"
"                          receiver allows it: tcpget --allow-overwrite)\n"
"      --keep-both         keep a different file already there and store\n"
"                          this one as NAME.1.EXT (NAME.2.EXT...)\n"
"      --resume            send only what the receiver's partial data of an\n"
"                          interrupted run lacks (its prefix is checked)\n"
"  -z, --compress[=LEVEL]  compress chunks with zlib (level 1-9, default 1,\n"
"                          attached: -z6 or --compress=6); chunks that do\n"
"                          not shrink are sent raw\n"
"      --zstd[=LEVEL]      compress chunks with zstd (level 1-19, default 1,\n"
"                          attached: --zstd=9); zlib (or raw) with a\n"
"                          warning if the receiver has no zstd\n"
"      --streams=N         spread the data over N TCP connections (1-65,\n"
"                          default 1) for long fat paths; one connection,\n"
"                          with a warning, if the receiver takes no more\n"
"  -t, --timeout=SECONDS   give up when the receiver has neither accepted\n"
"                          nor sent a byte this long (connecting included;\n"
"                          default 60)\n"
"      --key=FILE          our secret key (made by --genkey; default:\n"
"                          $TCPX_KEY): encrypt and authenticate both sides;\n"
"                          refuse a receiver that does not\n"
"      --peer-key=KEY|FILE the receiver's public key (else the one recorded\n"
"                          for HOST:PORT in $XDG_CONFIG_HOME/tcpxfer/\n"
"                          known_receivers)\n"
"      --trust-new         record an unknown receiver's key there on first\n"
"                          contact (a changed key is still refused)\n"
"      --cipher=NAME       aes-256-gcm (when both have it; the default) or\n"
"                          xchacha20-poly1305\n"
"      --genkey=FILE       write a new key pair to FILE and FILE.pub, print\n"
"                          the public key and its fingerprint, exit\n"
"  -q, --quiet             print errors and warnings only\n"
"  -v, --verbose           also print addresses tried, the negotiated\n"
"                          session and per-file timings\n"
"      --progress          show progress even when stderr is not a terminal\n"
"      --no-progress       never show progress\n"
"      --json              one JSON object per line per event on stdout\n"
"  -h, --help              show this help\n"
"  -V, --version           show version and library versions\n"
"\n"
"Files already there and identical are skipped (not sent, exit status 0).\n"
"Exit status: 0 all files verified, 1 a file was refused by the receiver,\n"
"2 usage, 3 a file could not be read, 4 digest mismatch, 5 connection\n"
"failure, 6 protocol error, 7 keys: no encryption offered, receiver key\n"
"unknown or changed, our key refused, authentication failed (the largest\n"
"applies).\n";

enum { OPT_KEY = 256, OPT_PEER_KEY, OPT_TRUST_NEW, OPT_CIPHER, OPT_GENKEY };
enum { OPT_ZSTD = 310, OPT_STREAMS };

enum { OPT_NAME = 300 };

static const struct option longopts[] = {
	{ "key", required_argument, NULL, OPT_KEY },
	{ "peer-key", required_argument, NULL, OPT_PEER_KEY },
	{ "trust-new", no_argument, NULL, OPT_TRUST_NEW },
	{ "cipher", required_argument, NULL, OPT_CIPHER },
	{ "genkey", required_argument, NULL, OPT_GENKEY },
	{ "recursive", no_argument, NULL, 'r' },
	{ "dereference", no_argument, NULL, 'L' },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "compress", optional_argument, NULL, 'z' },
	{ "zstd", optional_argument, NULL, OPT_ZSTD },
	{ "streams", required_argument, NULL, OPT_STREAMS },
	{ "checksum", no_argument, NULL, 'c' },
	{ "overwrite", no_argument, NULL, 'O' },
	{ "keep-both", no_argument, NULL, 'K' },
	{ "resume", no_argument, NULL, 'R' },
	{ "timeout", required_argument, NULL, 't' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "progress", no_argument, NULL, 'P' },
	{ "no-progress", no_argument, NULL, 'N' },
	{ "json", no_argument, NULL, 'J' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* The DIR of HOST[:PORT]:DIR, checked as the receiver will check every
 * name under it (none, or only slashes: NULL). */
static char *destination_dir(char *dir, const char *dest)
{
	const char *why = NULL;
	int rc = run_dest_dir(dir, &why);

	if (rc < 0)
		cli_usage_error("%.200s: %.200s is not a directory beneath the "
				"receiver's: %s", dest, dir, why);
	if (rc == 0) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* Splits DEST (HOST[:PORT][:DIR]) into r; a DEST that is no address at
 * all is a usage error. */
static void split_destination(const char *dest, struct send_run *r,
			      char **host, char **port, char **dir)
{
	if (net_split_destination(dest, host, port, dir) < 0)
		cli_usage_error("%.200s: not HOST[:PORT][:DIR] or [IPv6][:PORT][:DIR]",
				dest);
	*dir = destination_dir(*dir, dest);
	r->host = *host;
	r->port = *port;
	r->dir = *dir;
	r->dest = dest;
}

/* --name NAME: one input, renamed; a name the receiver will take. */
static void check_rename(const char *name, int inputs)
{
	const char *why = NULL;

	if (inputs != 1)
		cli_usage_error("--name names one FILE (or -), not %d", inputs);
	if (name_validate((const uint8_t *)name, strlen(name), &why) < 0)
		cli_usage_error("--name %.200s: not a name the receiver takes: %s",
				name, why);
}

/* - is standard input: once, and with --name (a stream has no name of
 * its own, and a default would make two runs collide unseen). */
static void check_stdin(char **inputs, int n, const char *rename)
{
	for (int i = 0; i < n; i++)
		if (strcmp(inputs[i], "-") == 0 && !rename)
			cli_usage_error("-: standard input has no name: give it "
					"one with --name NAME");
}

/* The level of -z / --compress (zstd 0) or --zstd (zstd 1), whose
 * argument is optional and so must be attached (-z6, --compress=6).
 * gzip and zstd users write the level apart too: a single digit 1-9 right after a bare -z is taken for that
 * mistake and refused with the right spelling, unless a file of that
 * name exists, which is then an operand like any other. */
static int compress_level(const char *arg, char **argv, int argc, int zstd)
{
	const char *next = optind < argc ? argv[optind] : NULL;
	struct stat sb;

	if (arg)
		return (int)cli_number(arg, 1, zstd ? 19 : 9, "compression level");
	if (next && next[0] >= '1' && next[0] <= '9' && !next[1] &&
	    lstat(next, &sb) < 0) {
		if (zstd)
			cli_usage_error("--zstd %s: write the level attached: "
					"--zstd=%s", next, next);
		cli_usage_error("%s %s: write the level attached: -z%s or --compress=%s",
				strncmp(argv[optind - 1], "--", 2) ? "-z" :
				"--compress", next, next, next);
	}
	return zstd ? DEFAULT_ZSTD_LEVEL : DEFAULT_LEVEL;
}

/* How the receiver's key is judged: pinned by --peer-key, else by the
 * known-receivers file under the name HOST:PORT. */
struct pin {
	char name[300];
	int given;
	uint8_t pk[KEYS_PUBLIC_LEN];
	char *known;
	int trust_new;
};

static int judge_receiver(void *arg, const uint8_t *pk, char *why, size_t len)
{
	struct pin *p = arg;
	char fp[KEYS_FINGERPRINT_LEN], old_fp[KEYS_FINGERPRINT_LEN];
	char kwhy[KEYFILE_WHY_MAX];
	uint8_t old[KEYS_PUBLIC_LEN];
	int rc;

	keys_fingerprint(pk, fp);
	ui_debug("%s: receiver key %s", p->name, fp);
	if (p->given) {
		if (sodium_memcmp(pk, p->pk, KEYS_PUBLIC_LEN) == 0)
			return 0;
		keys_fingerprint(p->pk, old_fp);
		snprintf(why, len, "%s: the receiver's key %s is not the one "
			 "given with --peer-key (%s): refused", p->name, fp,
			 old_fp);
		return TCPX_E_PEER_KEY;
	}
	if (!p->known) {
		snprintf(why, len, "%s: no --peer-key and no known-receivers "
			 "file ($HOME unset): receiver key %s not trusted",
			 p->name, fp);
		return TCPX_E_PEER_KEY;
	}
	rc = keyfile_known_check(p->known, p->name, pk, old, kwhy);
	if (rc == KNOWN_MATCH)
		return 0;
	if (rc < 0) {
		snprintf(why, len, "%s", kwhy);
		return TCPX_E_PEER_KEY;
	}
	if (rc == KNOWN_CHANGED) {
		keys_fingerprint(old, old_fp);
		snprintf(why, len, "%s: THE RECEIVER'S KEY CHANGED: it shows %s, "
			 "%s records %s; someone may be in the middle. If the "
			 "change is expected, delete the line for %s there and "
			 "run again with --trust-new, or give --peer-key",
			 p->name, fp, p->known, old_fp, p->name);
		return TCPX_E_PEER_KEY;
	}
	if (!p->trust_new) {
		snprintf(why, len, "%s: unknown receiver key %s: to trust it, "
			 "check the fingerprint with the receiver (tcpget prints "
			 "it on start-up) and run again with --trust-new (it is "
			 "recorded in %s), or give --peer-key", p->name, fp,
			 p->known);
		return TCPX_E_PEER_KEY;
	}
	if (keyfile_known_add(p->known, p->name, pk, kwhy) < 0) {
		snprintf(why, len, "%s", kwhy);
		return TCPX_E_PEER_KEY;
	}
	ui_info("%s: receiver key %s recorded in %s", p->name, fp, p->known);
	return 0;
}

/* --cipher NAME: 1 to leave AES-256-GCM out. */
static int cipher_no_aes(const char *name)
{
	if (strcmp(name, "xchacha20-poly1305") == 0)
		return 1;
	if (strcmp(name, "aes-256-gcm") == 0)
		return 0;
	cli_usage_error("--cipher: aes-256-gcm or xchacha20-poly1305, not %.100s",
			name);
}

/* --key (or $TCPX_KEY), --peer-key, --trust-new: our identity and the
 * judge of the receiver's key; NULL without a key (no encryption). */
static struct tcpx_identity *wire_keys(struct send_options *opt, struct pin *pin,
				       const char *key, const char *peer_key)
{
	char why[KEYFILE_WHY_MAX];
	struct tcpx_identity *id = cli_identity(key, SEND_UNREADABLE);

	if (!id && (peer_key || pin->trust_new))
		cli_usage_error("--peer-key and --trust-new need --key (or $%s)",
				KEYFILE_ENV);
	if (peer_key && keyfile_peer_key(peer_key, pin->pk, why) < 0)
		cli_usage_error("--peer-key: %s", why);
	pin->given = peer_key != NULL;
	if (id) {
		pin->known = keyfile_known_path();
		opt->sk = id->sk;
		opt->pk = id->pk;
		opt->judge = judge_receiver;
		opt->judge_arg = pin;
	}
	return id;
}

int main(int argc, char **argv)
{
	struct send_options opt = { .level = 0, .timeout_ms = DEFAULT_TIMEOUT * 1000 };
	char *host = NULL, *port = NULL, *dir = NULL;
	const char *rename = NULL;
	const char *key = NULL, *peer_key = NULL, *genkey = NULL;
	struct pin pin = { .given = 0 };
	struct tcpx_identity *id;
	int c, status, follow = 0;

	ui_init("tcpput", UI_SENDER);
	cli_init("tcpput", SEND_USAGE);
	while ((c = getopt_long(argc, argv, "rLcz::t:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': opt.checksum = 1; break;
		case 'O':
		case 'K':
			if (opt.policy && opt.policy != (c == 'O' ?
			    TCPX_POLICY_OVERWRITE : TCPX_POLICY_KEEP_BOTH))
				cli_usage_error("--overwrite and --keep-both "
						"exclude each other");
			opt.policy = c == 'O' ? TCPX_POLICY_OVERWRITE :
				     TCPX_POLICY_KEEP_BOTH;
			break;
		case 'R': opt.resume = 1; break;
		case 'r': opt.recursive = 1; break;
		case 'L': follow = 1; break;
		case OPT_NAME: rename = optarg; break;
		case 'z':
		case OPT_ZSTD:
			opt.zstd = c == OPT_ZSTD;   /* the last one given */
			opt.level = compress_level(optarg, argv, argc, opt.zstd);
			break;
		case OPT_STREAMS:
			opt.streams = (unsigned)cli_number(optarg, 1,
					TCPX_STREAMS_MAX + 1, "--streams");
			break;
		case 't':
			opt.timeout_ms = (int)cli_number(optarg, 1, 86400,
				"timeout") * 1000;
			break;
		case OPT_KEY: key = optarg; break;
		case OPT_PEER_KEY: peer_key = optarg; break;
		case OPT_TRUST_NEW: pin.trust_new = 1; break;
		case OPT_CIPHER: opt.no_aes = cipher_no_aes(optarg); break;
		case OPT_GENKEY: genkey = optarg; break;
		case 'q': ui_set_quiet(1); break;
		case 'v': ui_set_verbose(1); break;
		case 'P': ui_set_progress(1); break;
		case 'N': ui_set_progress(0); break;
		case 'J': ui_set_json(1); break;
		case 'h': fputs(usage_text, stdout); return SEND_OK;
		case 'V': cli_version(); return SEND_OK;
		default: cli_try_help();
		}
	}
	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return SEND_CONNECTION;
	}
	if (genkey)
		return cli_genkey(genkey) ? SEND_UNREADABLE : SEND_OK;
	if (argc - optind < 2)
		cli_usage_error("need at least one FILE and a HOST[:PORT]");
	if (rename)
		check_rename(rename, argc - optind - 1);
	check_stdin(argv + optind, argc - optind - 1, rename);
	id = wire_keys(&opt, &pin, key, peer_key);
	struct send_run run = { .paths = argv + optind,
				.npaths = argc - optind - 1, .follow = follow,
				.rename = rename, .send = opt };
	split_destination(argv[argc - 1], &run, &host, &port, &dir);
	/* the receiver's name in known_receivers: HOST:PORT as dialled */
	snprintf(pin.name, sizeof(pin.name), strchr(host, ':') ? "[%s]:%s" : "%s:%s",
		 host, port ? port : TCPX_DEFAULT_PORT);
	signal(SIGPIPE, SIG_IGN);
	status = run_send(&run);
	free(host);
	free(port);
	free(dir);
	free(pin.known);
	keyfile_identity_free(id);
	return status;
}
