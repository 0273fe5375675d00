/* server: accept loop, admission, BUSY and stop (server.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "net.h"
#include "server.h"
#include "serve_loop.h"
#include "ui.h"

/* A receiver's buffers (about 650 KiB) are on the heap and a session's
 * stack needs a few KiB; the default 8 MiB per thread would make hundreds
 * of clients reserve gigabytes of address space. */
#define SESSION_STACK_SIZE (256 * 1024)
#define BUSY_MESSAGE "receiver busy: too many clients, try later"

/* --- admission ------------------------------------------------------ */

void server_admission_init(struct server_admission *a, int max_clients)
{
	/* Default attributes: glibc's init functions cannot fail. */
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->idle, NULL);
	a->active = 0;
	a->max_clients = max_clients;
}

void server_admission_destroy(struct server_admission *a)
{
	pthread_cond_destroy(&a->idle);
	pthread_mutex_destroy(&a->lock);
}

int server_admit(struct server_admission *a, const struct sockaddr *src)
{
	int rc = 0;

	(void)src;
	pthread_mutex_lock(&a->lock);
	if (a->active >= a->max_clients)
		rc = -TCPX_E_BUSY;
	else
		a->active++;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void server_release(struct server_admission *a, const struct sockaddr *src)
{
	(void)src;
	pthread_mutex_lock(&a->lock);
	if (--a->active == 0)
		pthread_cond_signal(&a->idle);
	pthread_mutex_unlock(&a->lock);
}

int server_drain(struct server_admission *a, int grace_ms)
{
	struct timespec deadline;
	int left;

	/* CLOCK_REALTIME: the clock of a default condition variable. */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += grace_ms / 1000;
	deadline.tv_nsec += (long)(grace_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->lock);
	while (a->active > 0)
		if (pthread_cond_timedwait(&a->idle, &a->lock, &deadline) != 0)
			break;
	left = a->active;
	pthread_mutex_unlock(&a->lock);
	return left;
}

/* --- the server ----------------------------------------------------- */

/*
 * Process-wide, not on server_run's stack: a session still busy when the
 * grace period ends goes on using the admission and the serve options
 * until the process exits.
 */
static struct {
	struct server_admission admission;
	struct serve_options serve;
	struct store *store;
} server;

/* Written by the signal handler, never drained: once readable it stays
 * readable, so every session polling it sees the stop. */
static int stop_pipe[2] = { -1, -1 };

/* One accepted connection, owned by its thread. */
struct client {
	int fd;
	struct sockaddr_storage src;
	char peer[NET_ADDR_MAX];
};

static void on_signal(int sig)
{
	(void)sig;
	int saved = errno;
	ssize_t w = write(stop_pipe[1], "x", 1);
	(void)w;
	errno = saved;
}

static int catch_signals(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		return -TCPX_E_SYSTEM;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (RLIMIT_FSIZE) must fail one file with EFBIG,
	 * not kill the server. */
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

static void *client_main(void *arg)
{
	struct client *c = arg;

	ui_debug("%s: connected", c->peer);
	serve_loop_run(c->fd, c->peer, server.store, &server.serve);
	server_release(&server.admission, (struct sockaddr *)&c->src);
	free(c);
	return NULL;
}

static void start_client(struct client *c)
{
	pthread_attr_t attr;
	pthread_t t;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, SESSION_STACK_SIZE);
	/* pthread_create returns its error; it does not set errno. */
	err = pthread_create(&t, &attr, client_main, c);
	if (err != 0) {
		ui_error(c->peer, "cannot start a thread: %s", strerror(err));
		close(c->fd);
		server_release(&server.admission, (struct sockaddr *)&c->src);
		free(c);
	}
	pthread_attr_destroy(&attr);
}

static void accept_one(int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_CLOEXEC);
	int one = 1;
	struct client *c;

	if (fd < 0)
		return;     /* EAGAIN, ECONNABORTED, EMFILE: try again later */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	memcpy(&c->src, &ss, sizeof(ss));
	net_format_addr((struct sockaddr *)&ss, len, c->peer);
	if (server_admit(&server.admission, (struct sockaddr *)&c->src) < 0) {
		/* Say so instead of leaving the peer to time out. */
		conn_refuse(fd, TCPX_E_BUSY, BUSY_MESSAGE);
		ui_error(c->peer, "refused: --max-clients reached");
		free(c);
		return;
	}
	start_client(c);
}

static void announce(const struct server_config *cfg, const int *lfds, int nl)
{
	for (int i = 0; i < nl; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char addr[NET_ADDR_MAX];

		getsockname(lfds[i], (struct sockaddr *)&ss, &len);
		net_format_addr((struct sockaddr *)&ss, len, addr);
		ui_listening(addr, cfg->dir, cfg->max_clients,
			     cfg->serve.timeout_ms / 1000, cfg->serve.max_size,
			     cfg->activated);
	}
}

/* Until a signal arrives (or poll fails, which nothing would cure). */
static void accept_loop(const int *lfds, int nl)
{
	struct pollfd pfd[NET_LISTEN_MAX + 1];

	for (;;) {
		for (int i = 0; i < nl; i++)
			pfd[i] = (struct pollfd){ .fd = lfds[i], .events = POLLIN };
		pfd[nl] = (struct pollfd){ .fd = stop_pipe[0], .events = POLLIN };
		if (poll(pfd, (nfds_t)nl + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ui_error(NULL, "poll: %s", strerror(errno));
			return;
		}
		if (pfd[nl].revents & POLLIN)
			return;
		for (int i = 0; i < nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_one(lfds[i]);
	}
}

int server_run(const struct server_config *cfg, const int *lfds, int nl)
{
	int left, status = GET_CANNOT_START;

	if (catch_signals() < 0) {
		ui_error(NULL, "pipe: %s", strerror(errno));
		goto out;
	}
	server.store = cfg->store;
	server.serve = cfg->serve;
	server.serve.stop_fd = stop_pipe[0];
	server_admission_init(&server.admission, cfg->max_clients);
	announce(cfg, lfds, nl);
	accept_loop(lfds, nl);

	/* Stop: no new connections; every session sees the stop pipe, sends
	 * ERROR SHUTDOWN and removes its temporary file. */
	for (int i = 0; i < nl; i++)
		close(lfds[i]);
	nl = 0;         /* closed: nothing left for the exit path */
	left = server_drain(&server.admission, SERVER_STOP_GRACE_MS);
	if (left)
		ui_error(NULL, "%d connection%s still busy at exit", left,
			 left == 1 ? "" : "s");
	ui_info("stopped");
	/* The admission is not destroyed: sessions still busy use it. */
	status = GET_OK;
out:
	for (int i = 0; i < nl; i++)
		close(lfds[i]);
	return status;
}
