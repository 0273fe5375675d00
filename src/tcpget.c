/* tcpget: receive files over TCPX into one directory.  Options and wiring:
 * a thread per connection, at most --max-clients at once. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"
#include "digest.h"
#include "error.h"
#include "net.h"
#include "proto.h"
#include "session.h"
#include "store.h"
#include "ui.h"

#define DEFAULT_MAX_CLIENTS 64
#define DEFAULT_TIMEOUT 60
#define STOP_GRACE_MS 5000

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
"      --max-clients=N     serve at most N connections at once (default 64)\n"
"  -t, --timeout=SECONDS   close connections idle this long (default 60)\n"
"  -q, --quiet             print errors only\n"
"  -v, --verbose           also log connections and sessions\n"
"      --json              one JSON object per line per event on stdout\n"
"  -h, --help              show this help\n"
"  -V, --version           show version and library versions\n"
"\n"
"A listening socket passed by systemd (LISTEN_FDS) is used instead of -p/-b.\n"
"Exit status: 0 stopped by SIGINT or SIGTERM, 1 could not start, 2 usage.\n";

enum { OPT_OVERWRITE = 256, OPT_MAX_SIZE, OPT_MAX_CLIENTS, OPT_JSON };

static const struct option longopts[] = {
	{ "dir", required_argument, NULL, 'd' },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "overwrite", no_argument, NULL, OPT_OVERWRITE },
	{ "max-size", required_argument, NULL, OPT_MAX_SIZE },
	{ "max-clients", required_argument, NULL, OPT_MAX_CLIENTS },
	{ "timeout", required_argument, NULL, 't' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

struct server {
	struct store store;
	struct serve_options serve;
	int max_clients;
	int active;
	pthread_mutex_t lock;
	pthread_cond_t idle;
};

struct conn {
	struct server *srv;
	int fd;
	char peer[NET_ADDR_MAX];
};

static int stop_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	ssize_t w = write(stop_pipe[1], "x", 1);
	(void)w;
	errno = saved;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;

	ui_debug("%s: connected", c->peer);
	session_serve(c->fd, c->peer, &srv->store, &srv->serve);
	free(c);
	pthread_mutex_lock(&srv->lock);
	if (--srv->active == 0)
		pthread_cond_signal(&srv->idle);
	pthread_mutex_unlock(&srv->lock);
	return NULL;
}

/* Over the limit: say so in an ERROR frame instead of leaving the peer to
 * time out, then close. */
static void refuse_busy(int fd, const char *peer)
{
	uint8_t buf[TCPX_FRAME_HEADER_LEN + TCPX_ERROR_FIXED_LEN + 64];
	size_t n = proto_encode_error(buf, TCPX_E_BUSY,
				      "receiver busy: too many clients, try later");
	ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	ui_error(peer, "refused: --max-clients reached");
	close(fd);
}

static void accept_one(struct server *srv, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	struct conn *c;
	pthread_t t;
	pthread_attr_t attr;

	if (fd < 0)
		return;     /* EAGAIN, ECONNABORTED, EMFILE: try again later */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	net_format_addr((struct sockaddr *)&ss, len, c->peer);
	pthread_mutex_lock(&srv->lock);
	if (srv->active >= srv->max_clients) {
		pthread_mutex_unlock(&srv->lock);
		refuse_busy(fd, c->peer);
		free(c);
		return;
	}
	srv->active++;
	pthread_mutex_unlock(&srv->lock);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	if (pthread_create(&t, &attr, conn_main, c) != 0) {
		ui_error(c->peer, "cannot start a thread: %s", strerror(errno));
		close(fd);
		free(c);
		pthread_mutex_lock(&srv->lock);
		srv->active--;
		pthread_mutex_unlock(&srv->lock);
	}
	pthread_attr_destroy(&attr);
}

int main(int argc, char **argv)
{
	struct server srv = { .max_clients = DEFAULT_MAX_CLIENTS };
	const char *dir = ".", *port = TCPX_DEFAULT_PORT, *bind_addr = NULL;
	int overwrite = 0, c, nl, gai_err, lfds[NET_LISTEN_MAX];

	srv.serve.timeout_ms = DEFAULT_TIMEOUT * 1000;
	ui_init("tcpget", UI_RECEIVER);
	cli_init("tcpget", 2);
	while ((c = getopt_long(argc, argv, "d:p:b:t:qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': dir = optarg; break;
		case 'p':
			cli_number(optarg, 0, 65535, "port");
			port = optarg;
			break;
		case 'b': bind_addr = optarg; break;
		case OPT_OVERWRITE: overwrite = 1; break;
		case OPT_MAX_SIZE:
			srv.serve.max_size = cli_number(optarg, 0, UINT64_MAX, "--max-size");
			break;
		case OPT_MAX_CLIENTS:
			srv.max_clients = (int)cli_number(optarg, 0, 4096, "--max-clients");
			if (srv.max_clients < 1)
				cli_usage_error("--max-clients must be at least 1");
			break;
		case 't':
			srv.serve.timeout_ms = (int)cli_number(optarg, 0, 86400, "timeout") * 1000;
			if (srv.serve.timeout_ms == 0)
				cli_usage_error("timeout must be at least 1 second");
			break;
		case 'q': ui_set_quiet(1); break;
		case 'v': ui_set_verbose(1); break;
		case OPT_JSON: ui_set_json(1); break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V': cli_version(); return 0;
		default: cli_try_help();
		}
	}
	if (optind < argc)
		cli_usage_error("unexpected argument (files arrive over the network)");
	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return 1;
	}
	if (store_open(&srv.store, dir, overwrite) < 0) {
		ui_error(dir, "cannot use as the receiving directory: %s",
			 strerror(errno));
		return 1;
	}
	int stale = store_clean_stale(&srv.store);
	if (stale > 0)
		ui_info("removed %d temporary file%s left by an interrupted run",
			stale, stale == 1 ? "" : "s");
	int activated = nl = net_activated(lfds);
	if (!activated)
		nl = net_listen(bind_addr, port, lfds, &gai_err);
	if (nl < 0) {
		if (nl == -TCPX_E_RESOLVE)
			ui_error(bind_addr, "cannot resolve: %s", gai_strerror(gai_err));
		else
			ui_error(NULL, "cannot listen on %s port %s: %s",
				 bind_addr ? bind_addr : "all addresses", port,
				 strerror(errno));
		return 1;
	}
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		ui_error(NULL, "pipe: %s", strerror(errno));
		return 1;
	}
	srv.serve.stop_fd = stop_pipe[0];
	pthread_mutex_init(&srv.lock, NULL);
	pthread_cond_init(&srv.idle, NULL);
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (RLIMIT_FSIZE) must fail one file with EFBIG,
	 * not kill the server. */
	signal(SIGXFSZ, SIG_IGN);

	for (int i = 0; i < nl; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[NET_ADDR_MAX];
		getsockname(lfds[i], (struct sockaddr *)&ss, &len);
		net_format_addr((struct sockaddr *)&ss, len, addr);
		ui_listening(addr, dir, srv.max_clients,
			     srv.serve.timeout_ms / 1000, srv.serve.max_size,
			     activated);
	}

	for (;;) {
		struct pollfd pfd[NET_LISTEN_MAX + 1];
		for (int i = 0; i < nl; i++)
			pfd[i] = (struct pollfd){ .fd = lfds[i], .events = POLLIN };
		pfd[nl] = (struct pollfd){ .fd = stop_pipe[0], .events = POLLIN };
		if (poll(pfd, (nfds_t)nl + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ui_error(NULL, "poll: %s", strerror(errno));
			break;
		}
		if (pfd[nl].revents & POLLIN)
			break;
		for (int i = 0; i < nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(&srv, lfds[i]);
	}

	/* Stop: no new connections; every session sees the stop pipe, sends
	 * ERROR SHUTDOWN and removes its temporary file. */
	for (int i = 0; i < nl; i++)
		close(lfds[i]);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += STOP_GRACE_MS / 1000;
	pthread_mutex_lock(&srv.lock);
	while (srv.active > 0) {
		if (pthread_cond_timedwait(&srv.idle, &srv.lock, &deadline) != 0)
			break;
	}
	int left = srv.active;
	pthread_mutex_unlock(&srv.lock);
	if (left)
		ui_error(NULL, "%d connection%s still busy at exit", left,
			 left == 1 ? "" : "s");
	ui_info("stopped");
	store_close(&srv.store);
	return 0;
}
