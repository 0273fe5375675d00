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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "error.h"
#include "net.h"
#include "server.h"
#include "serve_loop.h"
#include "ui.h"

#define LOOPS_MAX 8
#define ACCEPT_BATCH 64
/* Descriptors kept for listening sockets, the loops, the log, libraries. */
#define FDS_RESERVE 64
/* Out of descriptors even after giving up the spare: accept again then. */
#define EMFILE_PAUSE_MS 100
/* Refusals are logged once, then summed up at most once a second. */
#define REFUSAL_LOG_MS 1000

/* --- admission ------------------------------------------------------ */

int server_admission_init(struct server_admission *a, int max_clients,
			  int max_per_source)
{
	memset(a, 0, sizeof(*a));
	/* Default attributes: glibc's init function cannot fail. */
	pthread_mutex_init(&a->lock, NULL);
	a->max_clients = max_clients;
	a->max_per_source = max_per_source;
	/* Displacing admissions may pass max_clients while the connections
	 * they displace are closing: room for twice as many sources. */
	a->sources = calloc(2 * (size_t)max_clients, sizeof(*a->sources));
	return a->sources ? 0 : -TCPX_E_NOMEM;
}

void server_admission_destroy(struct server_admission *a)
{
	pthread_mutex_destroy(&a->lock);
	free(a->sources);
	a->sources = NULL;
}

/* A peer's source: its IPv4 address or its IPv6 /64, so one host (or one
 * customer's IPv6 prefix) cannot take every place by itself. */
static void source_key(const struct sockaddr *sa, uint8_t key[SERVER_SOURCE_KEY_LEN])
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	memset(key, 0, SERVER_SOURCE_KEY_LEN);
	if (sa->sa_family == AF_INET) {
		key[0] = 4;
		memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const uint8_t *a6 = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		if (memcmp(a6, v4mapped, 12) == 0) {
			key[0] = 4;
			memcpy(key + 1, a6 + 12, 4);
		} else {
			key[0] = 6;
			memcpy(key + 1, a6, 8);
		}
	}
}

/* The entry for src's source, or NULL; lock held. */
static struct server_source *find_source(struct server_admission *a,
					 const struct sockaddr *src)
{
	uint8_t key[SERVER_SOURCE_KEY_LEN];
	source_key(src, key);
	for (int i = 0; i < a->nsources; i++)
		if (memcmp(a->sources[i].key, key, sizeof(key)) == 0)
			return &a->sources[i];
	return NULL;
}

static int admit_as(struct server_admission *a, const struct sockaddr *src,
		    int displacing)
{
	struct server_source *s;
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	s = find_source(a, src);
	if (a->active >= a->max_clients && !displacing) {
		a->refused_by = "--max-clients";
		rc = -TCPX_E_BUSY;
	} else if (s && s->n >= a->max_per_source) {
		a->refused_by = "--max-per-source";
		rc = -TCPX_E_BUSY;
	} else {
		if (!s) {       /* a free entry: fewer sources than clients */
			s = &a->sources[a->nsources++];
			source_key(src, s->key);
			s->n = 0;
		}
		s->n++;
		a->active++;
	}
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int server_admit(struct server_admission *a, const struct sockaddr *src)
{
	return admit_as(a, src, 0);
}

int server_admit_displacing(struct server_admission *a,
			    const struct sockaddr *src)
{
	return admit_as(a, src, 1);
}

void server_release(struct server_admission *a, const struct sockaddr *src)
{
	pthread_mutex_lock(&a->lock);
	struct server_source *s = find_source(a, src);
	if (s && --s->n == 0)
		*s = a->sources[--a->nsources];
	a->active--;
	pthread_mutex_unlock(&a->lock);
}

int server_from_source(struct server_admission *a, const struct sockaddr *src)
{
	pthread_mutex_lock(&a->lock);
	struct server_source *s = find_source(a, src);
	int n = s ? s->n : 0;
	pthread_mutex_unlock(&a->lock);
	return n;
}

/* --- the server ----------------------------------------------------- */

static struct {
	struct server_admission admission;
	struct serve_loop *loops[LOOPS_MAX];
	int nloops;
	int spare_fd;                   /* given up to refuse on EMFILE */
	int64_t paused_until;
	int64_t refusal_logged;         /* when the last refusal line went */
	unsigned refusals_unlogged;
	const char *refusal_reason;
} server = { .spare_fd = -1 };

/* Written by the signal handler, never drained; the SIGHUP one is
 * drained at each reload. */
static int stop_pipe[2] = { -1, -1 };
static int hup_pipe[2] = { -1, -1 };

static void on_signal(int sig)
{
	int saved = errno;
	ssize_t w = write(sig == SIGHUP ? hup_pipe[1] : stop_pipe[1], "x", 1);
	(void)w;
	errno = saved;
}

/* Made once per process, so that server_stop() can be called at any
 * time from any thread (or a signal handler of the caller's). */
static pthread_once_t stop_pipe_once = PTHREAD_ONCE_INIT;

static void make_stop_pipe(void)
{
	if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		stop_pipe[0] = stop_pipe[1] = -1;
	if (pipe2(hup_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		hup_pipe[0] = hup_pipe[1] = -1;
}

void server_stop(void)
{
	pthread_once(&stop_pipe_once, make_stop_pipe);
	on_signal(0);
}

static int catch_signals(const struct server_config *cfg)
{
	struct sigaction sa = { .sa_handler = on_signal };
	char drain[64];

	pthread_once(&stop_pipe_once, make_stop_pipe);
	if (stop_pipe[0] < 0 || hup_pipe[0] < 0)
		return -TCPX_E_SYSTEM;
	/* A stop that came before this run (or ended the last one) is no
	 * stop of this one: a library may serve again. */
	while (read(stop_pipe[0], drain, sizeof(drain)) > 0)
		;
	while (read(hup_pipe[0], drain, sizeof(drain)) > 0)
		;
	if (cfg->on_hup)
		sigaction(SIGHUP, &sa, NULL);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	/* A file size limit (RLIMIT_FSIZE) must fail one file with EFBIG,
	 * not kill the server. */
	signal(SIGXFSZ, SIG_IGN);
	return 0;
}

static void released(void *arg, const struct sockaddr_storage *src)
{
	(void)arg;
	server_release(&server.admission, (const struct sockaddr *)src);
}

static void flush_refusals(int64_t now)
{
	if (server.refusals_unlogged)
		ui_error(NULL, "refused %u more connection%s (%s reached)",
			 server.refusals_unlogged,
			 server.refusals_unlogged == 1 ? "" : "s",
			 server.refusal_reason);
	server.refusals_unlogged = 0;
	server.refusal_logged = now;
}

/* One line for the first refusal, then one a second at most with how many
 * followed: a flood of refused connections must not flood the log. */
static void log_refusal(const char *peer, const char *why, int64_t now)
{
	if (now - server.refusal_logged >= REFUSAL_LOG_MS) {
		flush_refusals(now);
		ui_error(peer, "refused: %s reached", why);
		return;
	}
	server.refusals_unlogged++;
	server.refusal_reason = why;
}

static struct serve_loop *least_loaded(void)
{
	struct serve_loop *best = server.loops[0];
	for (int i = 1; i < server.nloops; i++)
		if (serve_loop_load(server.loops[i]) < serve_loop_load(best))
			best = server.loops[i];
	return best;
}

/* At --max-clients, a connection still in its handshake a second after it
 * was accepted gives its place to the newcomer (serve_loop.h). */
static int displace(const struct sockaddr *src)
{
	if (strcmp(server.admission.refused_by, "--max-clients") != 0)
		return -1;
	for (int i = 0; i < server.nloops; i++)
		if (serve_loop_claim_stalled(server.loops[i]))
			return server_admit_displacing(&server.admission, src);
	return -1;
}

static void admit(int fd, const struct sockaddr_storage *ss, socklen_t len)
{
	char peer[NET_ADDR_MAX];
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	net_format_addr((const struct sockaddr *)ss, len, peer);
	if (server_admit(&server.admission, (const struct sockaddr *)ss) < 0 &&
	    displace((const struct sockaddr *)ss) < 0) {
		const char *why = server.admission.refused_by;
		/* Say so instead of leaving the peer to time out. */
		conn_refuse(fd, TCPX_E_BUSY, !strcmp(why, "--max-per-source") ?
			    "receiver busy: too many connections from your address" :
			    "receiver busy: too many clients, try later");
		log_refusal(peer, why, conn_now());
		return;
	}
	serve_loop_add(least_loaded(), fd, ss, peer);
}

/* EMFILE: give the spare descriptor up to take the waiting connection and
 * refuse it, so the peer hears BUSY and the listening socket stops being
 * readable; if even that fails, pause accepting instead of spinning. */
static void out_of_descriptors(int lfd, int64_t now)
{
	if (server.spare_fd >= 0) {
		close(server.spare_fd);
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			conn_refuse(fd, TCPX_E_BUSY,
				    "receiver busy: out of file descriptors");
		server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd >= 0) {
			log_refusal(NULL, "the descriptor limit", now);
			return;
		}
	}
	/* Not even the spare: a pause, not a spin. */
	server.paused_until = now + EMFILE_PAUSE_MS;
	log_refusal(NULL, "the descriptor limit", now);
}

static void accept_some(int lfd)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		int fd = accept4(lfd, (struct sockaddr *)&ss, &len,
				 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd >= 0) {
			admit(fd, &ss, len);
			continue;
		}
		if (errno == EMFILE || errno == ENFILE)
			out_of_descriptors(lfd, conn_now());
		return;     /* EAGAIN, ECONNABORTED...: next time */
	}
}

/* Raises the soft descriptor limit to the hard one and makes --max-clients
 * fit in it: a default is lowered (and says so), a value given on the
 * command line that cannot fit is an error.  0 or -1. */
static int fit_descriptors(struct server_config *cfg)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	long room = ((long)rl.rlim_cur - FDS_RESERVE) / SERVER_FDS_PER_CLIENT;
	if (cfg->max_clients <= room)
		return 0;
	if (cfg->max_clients_given || room < 1) {
		ui_error(NULL, "--max-clients %d needs %d file descriptors, but "
			 "the limit is %ld (raise it: ulimit -n, or LimitNOFILE= "
			 "in the unit)", cfg->max_clients,
			 cfg->max_clients * SERVER_FDS_PER_CLIENT + FDS_RESERVE,
			 (long)rl.rlim_cur);
		return -1;
	}
	ui_info("serving at most %ld clients at once (the file descriptor "
		"limit is %ld)", room, (long)rl.rlim_cur);
	cfg->max_clients = (int)room;
	return 0;
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
	if (cfg->notice)
		ui_info("%s", cfg->notice);
}

/* Until a signal arrives (or poll fails, which nothing would cure). */
static void accept_loop(const struct server_config *cfg, const int *lfds,
			int nl)
{
	struct pollfd pfd[NET_LISTEN_MAX + 2];
	char drain[64];

	for (;;) {
		int64_t now = conn_now();
		int paused = now < server.paused_until;
		for (int i = 0; i < nl; i++)
			pfd[i] = (struct pollfd){ .fd = paused ? -1 : lfds[i],
						  .events = POLLIN };
		pfd[nl] = (struct pollfd){ .fd = stop_pipe[0], .events = POLLIN };
		pfd[nl + 1] = (struct pollfd){ .fd = hup_pipe[0], .events = POLLIN };
		if (poll(pfd, (nfds_t)nl + 2, paused ? EMFILE_PAUSE_MS :
			 REFUSAL_LOG_MS) < 0) {
			if (errno == EINTR)
				continue;
			ui_error(NULL, "poll: %s", strerror(errno));
			return;
		}
		if (pfd[nl].revents & POLLIN)
			return;
		if (pfd[nl + 1].revents & POLLIN) {
			while (read(hup_pipe[0], drain, sizeof(drain)) > 0)
				;
			cfg->on_hup(cfg->hup_arg);
		}
		for (int i = 0; i < nl; i++)
			if (pfd[i].revents & POLLIN)
				accept_some(lfds[i]);
		now = conn_now();
		if (server.refusals_unlogged &&
		    now - server.refusal_logged >= REFUSAL_LOG_MS)
			flush_refusals(now);
	}
}

/* --once: the first connection, served in this thread; the listening
 * sockets close as soon as it is accepted, so a second sender is refused
 * by the kernel rather than left waiting.  A signal before it came is
 * SESSION_CONNECTION, as one during it. */
static int serve_once(struct server_config *cfg, const int *lfds, int nl)
{
	struct pollfd pfd[NET_LISTEN_MAX + 1];
	struct serve_options opt = cfg->serve;

	for (;;) {
		for (int i = 0; i < nl; i++)
			pfd[i] = (struct pollfd){ .fd = lfds[i], .events = POLLIN };
		pfd[nl] = (struct pollfd){ .fd = stop_pipe[0], .events = POLLIN };
		if (poll(pfd, (nfds_t)nl + 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			ui_error(NULL, "poll: %s", strerror(errno));
			return SESSION_CONNECTION;
		}
		if (pfd[nl].revents & POLLIN)
			return SESSION_CONNECTION;
		for (int i = 0; i < nl; i++) {
			struct sockaddr_storage ss;
			socklen_t len = sizeof(ss);
			char peer[NET_ADDR_MAX];
			int one = 1, fd;

			if (!(pfd[i].revents & POLLIN))
				continue;
			fd = accept4(lfds[i], (struct sockaddr *)&ss, &len,
				     SOCK_CLOEXEC | SOCK_NONBLOCK);
			if (fd < 0)
				continue;       /* EAGAIN, ECONNABORTED: wait on */
			for (int j = 0; j < nl; j++)
				close(lfds[j]);
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			net_format_addr((struct sockaddr *)&ss, len, peer);
			ui_debug("%s: connected", peer);
			opt.stop_fd = stop_pipe[0];
			return serve_loop_run(fd, peer, cfg->store, &opt);
		}
	}
}

static int start_loops(struct server_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	int n = cpus < 1 ? 1 : cpus > LOOPS_MAX ? LOOPS_MAX : (int)cpus;

	for (server.nloops = 0; server.nloops < n; server.nloops++) {
		server.loops[server.nloops] = serve_loop_start(cfg->store,
			&cfg->serve, released, NULL);
		if (!server.loops[server.nloops])
			break;
	}
	if (server.nloops == 0)
		ui_error(NULL, "cannot start a serving thread: %s", strerror(errno));
	return server.nloops > 0 ? 0 : -1;
}

int server_run(struct server_config *cfg, const int *lfds, int nl)
{
	int status = GET_CANNOT_START;

	if (catch_signals(cfg) < 0) {
		ui_error(NULL, "pipe: %s", strerror(errno));
		goto out;
	}
	if (cfg->once) {
		announce(cfg, lfds, nl);
		return serve_once(cfg, lfds, nl);
	}
	if (fit_descriptors(cfg) < 0)
		goto out;
	if (server_admission_init(&server.admission, cfg->max_clients,
				  cfg->max_per_source) < 0) {
		ui_error(NULL, "out of memory");
		goto out;
	}
	server.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (start_loops(cfg) < 0)
		goto out;
	announce(cfg, lfds, nl);
	accept_loop(cfg, lfds, nl);

	/* Stop: no new connections; every session sends ERROR SHUTDOWN and
	 * loses its temporary file now; the loops end once the last replies
	 * left or SERVER_STOP_FLUSH_MS passed. */
	for (int i = 0; i < nl; i++)
		close(lfds[i]);
	nl = 0;
	for (int i = 0; i < server.nloops; i++)
		serve_loop_stop(server.loops[i], SERVER_STOP_FLUSH_MS);
	for (int i = 0; i < server.nloops; i++)
		serve_loop_join(server.loops[i]);
	ui_info("stopped");
	status = GET_OK;
out:
	for (int i = 0; i < nl; i++)
		close(lfds[i]);
	/* A library may serve again in the same process. */
	if (server.spare_fd >= 0)
		close(server.spare_fd);
	server.spare_fd = -1;
	if (server.admission.sources)
		server_admission_destroy(&server.admission);
	return status;
}
