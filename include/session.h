/*
 * session: the I/O loops that run the pure state machines over a real
 * socket and real files.  session_send() drives a sender (poll(): it keeps
 * reading RESULTs while it writes, so pipelining cannot deadlock);
 * session_serve() drives a receiver on one accepted connection, writing
 * through the store.  Both report to ui and nothing else prints.
 */
#ifndef TCPX_SESSION_H
#define TCPX_SESSION_H

#include <stdint.h>
#include "store.h"

/* tcpput exit statuses (man/tcpput.1); when several apply, the largest. */
enum send_status {
	SEND_OK = 0,
	SEND_REFUSED = 1,      /* the receiver refused or failed a file */
	SEND_USAGE = 2,
	SEND_UNREADABLE = 3,   /* a local file could not be read */
	SEND_VERIFY = 4,       /* digests differed */
	SEND_CONNECTION = 5,   /* resolve, connect, timeout, connection lost */
	SEND_PROTOCOL = 6,     /* the receiver broke the protocol or sent ERROR */
};

struct send_options {
	int level;            /* zlib level, 0 = no compression */
	int timeout_ms;       /* idle timeout */
};

/* Sends paths[0..n) over the connected fd; returns an enum send_status. */
int session_send(int fd, const char *peer, const struct send_options *opt,
		 char *const *paths, int n);

struct serve_options {
	uint64_t max_size;    /* 0 = no limit */
	uint32_t max_files;   /* 0 = no limit */
	int timeout_ms;       /* idle timeout */
	int stop_fd;          /* readable when the server is stopping */
};

/* Serves one connection until BYE, error, timeout or stop; closes fd. */
void session_serve(int fd, const char *peer, struct store *st,
		   const struct serve_options *opt);

#endif
