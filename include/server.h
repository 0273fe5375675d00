/*
 * server: tcpget's accept loop.  It serves every accepted connection on a
 * detached thread of its own (serve_loop_run()), refuses those over
 * --max-clients with ERROR BUSY, and on SIGINT or SIGTERM stops: no new
 * connections, every session sees the stop descriptor and ends with ERROR
 * SHUTDOWN, and server_run waits up to SERVER_STOP_GRACE_MS for them.
 *
 * Admission is a part of its own (struct server_admission): a connection
 * is admitted before it is served and released when its session ends, so
 * every limit on who is served (the total today, per source later) is a
 * change to server_admit() alone.
 *
 * One server per process: SIGINT and SIGTERM are caught process-wide.
 * Memory: server_run takes the listening fds and closes them; it borrows
 * cfg for the call and cfg->store until the process exits, since sessions
 * still busy after the grace period keep using it.
 */
#ifndef TCPX_SERVER_H
#define TCPX_SERVER_H

#include <pthread.h>
#include <sys/socket.h>

#include "serve_loop.h"
#include "store.h"

/* tcpget exit statuses (man/tcpget.1). */
enum get_status {
	GET_OK = 0,            /* stopped by SIGINT or SIGTERM */
	GET_CANNOT_START = 1,  /* directory, libsodium, listening socket, pipe */
	GET_USAGE = 2,
};

/* How long a stop waits for busy sessions: enough for each to send ERROR
 * SHUTDOWN and remove its temporary file, short enough for a service
 * manager's stop timeout. */
#define SERVER_STOP_GRACE_MS 5000

/* Who is being served.  Thread-safe: the accept loop admits, session
 * threads release. */
struct server_admission {
	pthread_mutex_t lock;
	pthread_cond_t idle;    /* signalled when active drops to 0 */
	int active;
	int max_clients;
};

void server_admission_init(struct server_admission *a, int max_clients);
void server_admission_destroy(struct server_admission *a);
/* 0: serve the connection from src (counted until server_release), or
 * -TCPX_E_BUSY: refuse it.  src is unused until per-source limits. */
int server_admit(struct server_admission *a, const struct sockaddr *src);
/* The session admitted for src has ended. */
void server_release(struct server_admission *a, const struct sockaddr *src);
/* Waits up to grace_ms for every admitted session to be released; returns
 * how many are still active. */
int server_drain(struct server_admission *a, int grace_ms);

struct server_config {
	const char *dir;            /* the store's directory, for the log */
	int max_clients;            /* at least 1 */
	int activated;              /* the fds came from systemd, for the log */
	struct store *store;        /* open; shared by every session */
	struct serve_options serve; /* per session; server_run sets stop_fd */
};

/* Logs one "listening" line per fd, serves until SIGINT or SIGTERM, then
 * stops; returns GET_OK, or GET_CANNOT_START when it could not begin.
 * lfds: nl (1..NET_LISTEN_MAX) non-blocking listening sockets. */
int server_run(const struct server_config *cfg, const int *lfds, int nl);

#endif
