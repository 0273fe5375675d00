/*
 * server: tcpget's accept loop.  It admits each accepted connection (at
 * most --max-clients at once, at most --max-per-source from one IPv4
 * address or one IPv6 /64), hands it to one of a few serve loops (one per
 * core: serve_loop.h, where an idle connection costs no thread), refuses
 * the others at once with ERROR BUSY, and on SIGINT or SIGTERM stops: no
 * new connections, every session ends with ERROR SHUTDOWN and loses its
 * temporary file at once, their last replies get SERVER_STOP_FLUSH_MS, and
 * server_run returns.
 *
 * It never spins: when descriptors run out (EMFILE), a spare one is given
 * up to accept and refuse the waiting connection with BUSY, and accepting
 * pauses briefly if even that fails.  At start it raises the soft
 * descriptor limit to the hard one and checks that --max-clients fits.
 *
 * At --max-clients, progress is preferred: a connection still in its
 * handshake a second after it was accepted gives its place to the
 * newcomer (serve_loop_claim_stalled()); only when none does is the
 * newcomer refused.
 *
 * Admission is a part of its own (struct server_admission): every limit on
 * who is served is a change to server_admit() alone.
 *
 * One server per process: SIGINT and SIGTERM are caught process-wide.
 * Memory: server_run takes the listening fds and closes them; it borrows
 * cfg and cfg->store for the call.
 */
#ifndef TCPX_SERVER_H
#define TCPX_SERVER_H

#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "serve_loop.h"
#include "store.h"

/* tcpget exit statuses (man/tcpget.1). */
enum get_status {
	GET_OK = 0,            /* stopped by SIGINT or SIGTERM */
	GET_CANNOT_START = 1,  /* directory, libsodium, listening socket, limits */
	GET_USAGE = 2,
	/* tcpget --once: its session's enum session_status, 0 or 3..6 */
};

/* After a stop, how long the last replies (ERROR SHUTDOWN) may take to
 * leave: a peer that reads nothing cannot hold the stop longer. */
#define SERVER_STOP_FLUSH_MS 2000
/* Descriptors one connection may hold: its socket, a temporary file and
 * the directory that holds it, and the directory above that, kept open
 * between files (struct store_dircache, two levels). */
#define SERVER_FDS_PER_CLIENT 4

/* IPv4 address, or IPv6 /64 (an IPv4-mapped IPv6 address is IPv4). */
#define SERVER_SOURCE_KEY_LEN 9
struct server_source {
	uint8_t key[SERVER_SOURCE_KEY_LEN];
	int n;
};

/* Who is being served.  Thread-safe: the accept loop admits, serve loops
 * release. */
struct server_admission {
	pthread_mutex_t lock;
	int active;
	int max_clients;
	int max_per_source;
	struct server_source *sources;   /* owned; 2 * max_clients entries */
	int nsources;
	const char *refused_by;          /* after -TCPX_E_BUSY: which limit */
};

/* 0, or -TCPX_E_NOMEM. */
int server_admission_init(struct server_admission *a, int max_clients,
			  int max_per_source);
void server_admission_destroy(struct server_admission *a);
/* 0: serve the connection from src (counted until server_release), or
 * -TCPX_E_BUSY: refuse it (a->refused_by names the option). */
int server_admit(struct server_admission *a, const struct sockaddr *src);
/* The same without the total limit (the per-source one still holds): for
 * a newcomer that displaces a connection making no progress. */
int server_admit_displacing(struct server_admission *a,
			    const struct sockaddr *src);
/* The session admitted for src has ended. */
void server_release(struct server_admission *a, const struct sockaddr *src);
/* Connections from src's source now. */
int server_from_source(struct server_admission *a, const struct sockaddr *src);

struct server_config {
	const char *dir;            /* the store's directory, for the log */
	int max_clients;            /* at least 1 */
	int max_clients_given;      /* set on the command line (else fitted) */
	int max_per_source;         /* at least 1 */
	int activated;              /* the fds came from systemd, for the log */
	int once;                   /* --once: serve one connection, return
				       its enum session_status */
	struct store *store;        /* open; shared by every session */
	struct serve_options serve; /* per session */
	const char *notice;         /* said once after the listening lines */
	/* Called on the accepting thread after each SIGHUP (NULL: SIGHUP
	 * keeps its default action). */
	void (*on_hup)(void *arg);
	void *hup_arg;
};

/* Logs one "listening" line per fd, serves until SIGINT or SIGTERM, then
 * stops; returns GET_OK, or GET_CANNOT_START when it could not begin.
 * With cfg->once: serves the first connection alone, in this thread,
 * and returns how its session ended (enum session_status).
 * lfds: nl (1..NET_LISTEN_MAX) non-blocking listening sockets. */
int server_run(struct server_config *cfg, const int *lfds, int nl);
/* Makes server_run() stop as SIGTERM would; async-signal-safe, from any
 * thread.  A stop made before server_run() began does not count. */
void server_stop(void);

#endif
