/*
 * run: what tcpput and tcpget do once their options are parsed, and what
 * libtcpx's tcpx_send() and tcpx_serve() (tcpx.h) do with theirs: one
 * piece of wiring for both, so the library is the tools.
 *
 * A send run connects to host:port, sends every path (a source over the
 * send loop) and closes.  A serve run opens and locks the directory,
 * listens (or takes systemd's sockets), removes what a killed run left
 * (beside the server, on a thread), and serves until SIGINT, SIGTERM or
 * server_stop().  Every message and event goes through ui: printed by
 * the tools, handed to the library's caller through a sink (ui.h).
 *
 * run_send() lives in run.c, run_serve() in run_serve.c, so that tcpput
 * (linked against libtcpx.a) carries no server.
 *
 * Memory: everything is borrowed for the call.
 */
#ifndef TCPX_RUN_H
#define TCPX_RUN_H

#include <stdint.h>

#include "send_loop.h"
#include "server.h"

struct send_run {
	const char *host, *port;     /* port NULL: TCPX_DEFAULT_PORT */
	const char *dir;             /* HOST:DIR/: a name that passed
				      * name_validate(), or NULL */
	char *const *paths;          /* what to send */
	int npaths;
	int follow;                  /* -L */
	const char *rename;          /* --name: the one input's name, or NULL */
	const char *dest;            /* the destination as written, the
				      * object of connection messages */
	struct send_options send;
};

/* A destination directory (HOST:DIR/) as the receiver will check every
 * name under it: trailing slashes dropped (in place), then 0 if nothing
 * is left (no directory), 1 if it is a valid relative name, -1 if not
 * (*why says why). */
int run_dest_dir(char *dir, const char **why);

/* An enum send_status. */
int run_send(const struct send_run *r);

/* What tcpget's options ask for. */
struct get_config {
	const char *port, *bind_addr;
	int overwrite;
	int to_stdout;               /* --stdout: a sink, no directory */
	int activation;              /* take sockets systemd passed, if any */
	uint64_t keep_partial;       /* --keep-partial, seconds (0: none) */
	uint64_t min_free, min_free_inodes;     /* STORE_FREE_AUTO: default */
	const char *key, *authorized, *genkey;  /* tcpget's --key etc. */
	int any_sender;
	struct server_config server;
};

/* tcpget's defaults (tcpget(1)): port 20180, every address, systemd's
 * sockets if passed, the current directory, and the limits. */
void run_serve_defaults(struct get_config *cfg);
/* GET_OK once stopped, or GET_CANNOT_START (said why). */
int run_serve(struct get_config *cfg);

#endif
