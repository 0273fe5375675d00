/* run_serve: the receiver's wiring, once options are known (run.h); apart
 * from run.c's sending half so that tcpput, linked against libtcpx.a,
 * carries no server. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "net.h"
#include "run.h"
#include "store.h"
#include "ui.h"

/* Defaults that let a real sender on a slow link through (64 kbit/s moves
 * 8 KB/s: a HELLO in milliseconds, a full 256 KiB chunk in 33 s, eight
 * times the minimum rate) while a slow peer is dropped within a minute;
 * see tcpget(1) SECURITY. */
#define DEFAULT_MAX_CLIENTS 4096
#define DEFAULT_MAX_PER_SOURCE 64
#define DEFAULT_MAX_STREAMS 8
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

void run_serve_defaults(struct get_config *cfg)
{
	*cfg = (struct get_config){
		.port = TCPX_DEFAULT_PORT, .activation = 1,
		.keep_partial = STORE_KEEP_PARTIAL_DEFAULT,
		.min_free = STORE_FREE_AUTO,
		.min_free_inodes = STORE_FREE_AUTO,
		.server = { .dir = ".", .max_clients = DEFAULT_MAX_CLIENTS,
			    .max_per_source = DEFAULT_MAX_PER_SOURCE,
			    .serve = { .timeout_ms = DEFAULT_TIMEOUT * 1000,
				       .handshake_ms = DEFAULT_HANDSHAKE_TIMEOUT * 1000,
				       .frame_ms = DEFAULT_FRAME_TIMEOUT * 1000,
				       .min_rate = DEFAULT_MIN_RATE,
				       .rate_window_ms = DEFAULT_RATE_WINDOW * 1000,
				       .max_dirs = DEFAULT_MAX_DIRS,
				       .max_streams = DEFAULT_MAX_STREAMS } },
	};
}


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
 * on a receiver that runs for weeks; store_stop_cleaning() ends it. */
#define CLEAN_INTERVAL 3600

static int clean_once(struct store *st)
{
	int stale = store_clean_stale(st);
	if (stale > 0)
		ui_info("removed %d temporary file%s left by an interrupted "
			"run or past --keep-partial", stale,
			stale == 1 ? "" : "s");
	return stale;
}

static void *clean_stale(void *arg)
{
	struct store *st = arg;
	uint64_t every = st->keep_partial && st->keep_partial < CLEAN_INTERVAL ?
			 st->keep_partial : CLEAN_INTERVAL;

	for (;;) {
		clean_once(st);
		for (uint64_t t = 0; t < every * 10; t++) {
			if (atomic_load(&st->stop_cleaning))
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
	const char *port = cfg->port ? cfg->port : TCPX_DEFAULT_PORT;
	int nl, gai_err = 0;

	nl = net_listen(cfg->bind_addr, port, lfds, &gai_err);
	if (nl == -TCPX_E_RESOLVE) {
		ui_error(cfg->bind_addr, "cannot resolve: %s",
			 gai_strerror(gai_err));
		return -1;
	}
	if (nl < 0) {
		ui_error(NULL, "cannot listen on %s port %s: %s",
			 cfg->bind_addr ? cfg->bind_addr : "all addresses",
			 port, strerror(errno));
		return -1;
	}
	return nl;
}

int run_serve(struct get_config *cfg)
{
	struct store store;
	pthread_t cleaner;
	int nl = 0, status, cleaning, lfds[NET_LISTEN_MAX];

	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return GET_CANNOT_START;
	}
	/* The lock before listening or cleaning: a second tcpget stops
	 * there, with the clearest message, touching nothing. */
	if (cfg->activation)
		nl = activated_sockets(lfds);
	if (nl < 0)
		return GET_CANNOT_START;
	if (cfg->to_stdout && isatty(1)) {
		/* as gzip -c: file data is not for a terminal */
		ui_error(NULL, "--stdout: standard output is a terminal (pipe "
			 "it: tcpget --stdout | tar x, or redirect it)");
		return GET_CANNOT_START;
	}
	if (cfg->to_stdout) {
		/* stdout is the file's: every line goes to stderr */
		ui_set_stdout_taken();
		store_open_sink(&store, 1);
		cfg->server.dir = "standard output";
	} else if (open_store(&store, cfg) != GET_OK) {
		return GET_CANNOT_START;
	}
	cfg->server.activated = nl > 0;
	if (nl == 0)
		nl = start_listening(cfg, lfds);
	if (nl < 0) {
		store_close(&store);
		return GET_CANNOT_START;
	}
	cleaning = !cfg->to_stdout &&
		   pthread_create(&cleaner, NULL, clean_stale, &store) == 0;
	if (!cleaning && !cfg->to_stdout)
		clean_once(&store);
	cfg->server.store = &store;
	status = server_run(&cfg->server, lfds, nl);
	store_stop_cleaning(&store);
	if (cleaning)
		pthread_join(cleaner, NULL);
	store_close(&store);
	return status;
}
