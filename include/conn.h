/*
 * conn: the connection layer, the only module that puts bytes on a TCPX
 * socket (architecture.md): everything else hands it frames.  For now it
 * holds one function, the refusal of a connection the server will not
 * serve; the session's own reads and writes move here later.
 *
 * Memory: msg is borrowed for the call; conn_refuse takes the fd and
 * always closes it.
 */
#ifndef TCPX_CONN_H
#define TCPX_CONN_H

#include <stdint.h>

/* Refuses a connection that will not be served: one ERROR frame, sent without waiting (best effort), then close(fd). */
void conn_refuse(int fd, uint16_t code, const char *msg);

#endif
