/*
 * net: sockets.  Resolving and connecting (every address of a name, in
 * order, each with a timeout) and listening (IPv6 and IPv4 unless
 * narrowed, or the sockets systemd passed).  It never moves a byte of
 * TCPX: that is conn.h's alone.  Errors: -TCPX_E_* with errno kept;
 * human-readable text through net_strerror().
 */
#ifndef TCPX_NET_H
#define TCPX_NET_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define TCPX_DEFAULT_PORT "20180"
#define NET_ADDR_MAX 96         /* "[v6 address%scope]:65535" */
#define NET_LISTEN_MAX 4

/* Splits "host", "host:port", "[v6]" or "[v6]:port" into malloc'ed strings
 * the caller frees.  0, -TCPX_E_ADDRESS for a bad form (or a port outside
 * 1..65535), or -TCPX_E_NOMEM. */
int net_split_hostport(const char *arg, char **host, char **port);
/* tcpput's destination: HOST[:PORT][:DIR] and [v6][:PORT][:DIR], where
 * what follows the host is a port when all digits, else a directory
 * ("host:backup/", "host:20180:backup/", "[::1]:20180:dir/", and "host:"
 * for none).  *dir is NULL without one (or for an empty one), else a
 * malloc'ed copy; errors as net_split_hostport(). */
int net_split_destination(const char *arg, char **host, char **port,
			  char **dir);

/*
 * Connects to the first address of host:port that answers within
 * timeout_ms; on success returns a NON-blocking fd (O_NONBLOCK, as the
 * connect timeout left it; callers poll) with TCP_NODELAY, and writes the
 * peer's address to peer.  On failure returns -TCPX_E_SYSTEM with errno
 * from the last attempt, or -TCPX_E_RESOLVE with getaddrinfo's code in
 * *gai_err (0 otherwise).  tried(), if not NULL, is told about each attempt.
 */
int net_connect(const char *host, const char *port, int timeout_ms,
		char peer[NET_ADDR_MAX], int *gai_err,
		void (*tried)(const char *addr, int err));

/* Listens on bind_addr (NULL: all addresses, IPv6 and IPv4) and port;
 * returns how many non-blocking fds were put in fds (>0), -TCPX_E_SYSTEM
 * with errno, or -TCPX_E_RESOLVE with getaddrinfo's code in *gai_err (0
 * otherwise). */
int net_listen(const char *bind_addr, const char *port, int fds[NET_LISTEN_MAX],
	       int *gai_err);

/* Listening sockets passed by systemd socket activation (LISTEN_PID is
 * ours, LISTEN_FDS >= 1: fds 3, 4, ...); the variables are then unset so
 * children do not inherit them.  Returns how many (0: not activated), or
 * -TCPX_E_SYSTEM (errno ENOTSOCK) if one of them is not a listening
 * stream socket, with *bad_fd that descriptor and *why what it is instead
 * (a static string: "not open", "not a socket", ...). */
int net_activated(int fds[NET_LISTEN_MAX], int *bad_fd, const char **why);

/* "1.2.3.4:20180" or "[::1]:20180". */
void net_format_addr(const struct sockaddr *sa, socklen_t len,
		     char out[NET_ADDR_MAX]);

/* A phrase for a connection failure's errno, e.g. "connection refused". */
const char *net_strerror(int err);

#endif
