/*
 * serve_loop: the receiving role's one loop, for one accepted connection.
 * It runs a receiver state machine (receiver.h) over a connection
 * (conn.h) and acts on its events through the store (store.h): open a
 * temporary file, write, commit or discard.  The state machine decides the
 * verdict and its words (receiver_file_done()); this loop only moves bytes
 * and hands every outcome to ui.  Nothing here prints.
 */
#ifndef TCPX_SERVE_LOOP_H
#define TCPX_SERVE_LOOP_H

#include <stdint.h>

#include "store.h"

struct serve_options {
	uint64_t max_size;    /* 0 = no limit */
	uint32_t max_files;   /* 0 = no limit */
	uint32_t max_dirs;    /* directories one connection creates; 0 = no limit */
	int timeout_ms;       /* nothing moved either way this long: close */
	int stop_fd;          /* readable when the server is stopping; -1 */
};

/* Serves one connection until BYE, error, timeout or stop; closes fd. */
void serve_loop_run(int fd, const char *peer, struct store *st,
		    const struct serve_options *opt);

#endif
