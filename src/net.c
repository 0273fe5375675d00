/* net: resolve, connect, listen, and full writes (net.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "net.h"

#define LISTEN_BACKLOG 128

int net_split_hostport(const char *arg, char **host, char **port)
{
	const char *colon, *p;
	size_t hlen;

	*host = *port = NULL;
	if (arg[0] == '[') {
		const char *close = strchr(arg, ']');
		if (!close || close == arg + 1)
			return -TCPX_E_ADDRESS;
		if (close[1] != '\0' && close[1] != ':')
			return -TCPX_E_ADDRESS;
		*host = strndup(arg + 1, (size_t)(close - arg - 1));
		p = close[1] == ':' ? close + 2 : TCPX_DEFAULT_PORT;
	} else {
		colon = strchr(arg, ':');
		if (colon && strchr(colon + 1, ':'))
			colon = NULL;   /* a bare IPv6 address, default port */
		hlen = colon ? (size_t)(colon - arg) : strlen(arg);
		if (hlen == 0)
			return -TCPX_E_ADDRESS;
		*host = strndup(arg, hlen);
		p = colon ? colon + 1 : TCPX_DEFAULT_PORT;
	}
	if (*p == '\0' || strspn(p, "0123456789") != strlen(p) ||
	    atol(p) < 1 || atol(p) > 65535 || strlen(p) > 5) {
		free(*host);
		*host = NULL;
		return -TCPX_E_ADDRESS;
	}
	*port = strdup(p);
	if (!*host || !*port) {
		free(*host);
		free(*port);
		return -TCPX_E_NOMEM;
	}
	return 0;
}

int net_split_destination(const char *arg, char **host, char **port,
			  char **dir)
{
	struct in6_addr a6;
	const char *rest, *r, *d = NULL;
	size_t digits;
	char *hp;
	int rc;

	*dir = NULL;
	if (arg[0] == '[') {
		rest = strchr(arg, ']');
		if (!rest)
			return net_split_hostport(arg, host, port);
		rest++;
	} else if (inet_pton(AF_INET6, arg, &a6) == 1) {
		return net_split_hostport(arg, host, port);   /* bare IPv6 */
	} else {
		rest = strchr(arg, ':');
		if (!rest)
			return net_split_hostport(arg, host, port);
	}
	if (*rest != ':')
		return net_split_hostport(arg, host, port);
	r = rest + 1;
	digits = strspn(r, "0123456789");
	if (digits == 0 || (r[digits] != '\0' && r[digits] != ':'))
		d = r, digits = 0;              /* HOST:DIR */
	else if (r[digits] == ':')
		d = r + digits + 1;             /* HOST:PORT:DIR */
	hp = strndup(arg, (size_t)(rest - arg) + (digits ? digits + 1 : 0));
	if (!hp)
		return -TCPX_E_NOMEM;
	rc = net_split_hostport(hp, host, port);
	free(hp);
	if (rc == 0 && d && *d && !(*dir = strdup(d))) {
		free(*host);
		free(*port);
		*host = *port = NULL;
		return -TCPX_E_NOMEM;
	}
	return rc;
}

void net_format_addr(const struct sockaddr *sa, socklen_t len,
		     char out[NET_ADDR_MAX])
{
	char host[INET6_ADDRSTRLEN + 20], serv[8];
	if (getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(out, NET_ADDR_MAX, "?");
		return;
	}
	if (sa->sa_family == AF_INET6) {
		/* IPv4 clients of a dual-stack socket: show 1.2.3.4. */
		if (strncmp(host, "::ffff:", 7) == 0 && strchr(host + 7, '.'))
			snprintf(out, NET_ADDR_MAX, "%s:%s", host + 7, serv);
		else
			snprintf(out, NET_ADDR_MAX, "[%s]:%s", host, serv);
	} else {
		snprintf(out, NET_ADDR_MAX, "%s:%s", host, serv);
	}
}


static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static int connect_one(const struct addrinfo *ai, int timeout_ms)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
			ai->ai_protocol);
	int err = 0, one = 1;
	socklen_t elen = sizeof(err);

	if (fd < 0)
		return -1;
	set_nonblock(fd, 1);
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		struct pollfd pfd = { .fd = fd, .events = POLLOUT };
		int n;
		do
			n = poll(&pfd, 1, timeout_ms);
		while (n < 0 && errno == EINTR);
		if (n == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
			goto fail;
		if (err) {
			errno = err;
			goto fail;
		}
	}
	/* Frames are batched in our own buffers; Nagle would only delay the
	 * last small frame of a batch by a round trip. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
fail:
	err = errno;
	close(fd);
	errno = err;
	return -1;
}

int net_connect(const char *host, const char *port, int timeout_ms,
		char peer[NET_ADDR_MAX], int *gai_err,
		void (*tried)(const char *addr, int err))
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int fd = -1, err = ECONNREFUSED;
	char addr[NET_ADDR_MAX];

	*gai_err = getaddrinfo(host, port, &hints, &res);
	if (*gai_err != 0)
		return -TCPX_E_RESOLVE;
	for (ai = res; ai; ai = ai->ai_next) {
		net_format_addr(ai->ai_addr, ai->ai_addrlen, addr);
		fd = connect_one(ai, timeout_ms);
		if (tried)
			tried(addr, fd < 0 ? errno : 0);
		if (fd >= 0) {
			memcpy(peer, addr, NET_ADDR_MAX);
			break;
		}
		err = errno;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		errno = err;
		return -TCPX_E_SYSTEM;
	}
	return fd;
}

static int listen_on(const struct sockaddr *sa, socklen_t len, int v6only)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, err;

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	if (bind(fd, sa, len) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	set_nonblock(fd, 1);
	return fd;
}

int net_listen(const char *bind_addr, const char *port, int fds[NET_LISTEN_MAX],
	       int *gai_err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res, *ai;
	int n = 0;

	*gai_err = 0;
	if (!bind_addr) {
		/* One dual-stack socket serves IPv6 and IPv4; a host without
		 * IPv6 gets an IPv4 one. */
		struct sockaddr_in6 s6 = { .sin6_family = AF_INET6,
					   .sin6_addr = IN6ADDR_ANY_INIT,
					   .sin6_port = htons((uint16_t)atoi(port)) };
		struct sockaddr_in s4 = { .sin_family = AF_INET,
					  .sin_addr.s_addr = htonl(INADDR_ANY),
					  .sin_port = htons((uint16_t)atoi(port)) };
		fds[0] = listen_on((struct sockaddr *)&s6, sizeof(s6), 0);
		if (fds[0] < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
			fds[0] = listen_on((struct sockaddr *)&s4, sizeof(s4), 0);
		return fds[0] < 0 ? -TCPX_E_SYSTEM : 1;
	}
	*gai_err = getaddrinfo(bind_addr, port, &hints, &res);
	if (*gai_err != 0)
		return -TCPX_E_RESOLVE;
	for (ai = res; ai && n < NET_LISTEN_MAX; ai = ai->ai_next) {
		int fd = listen_on(ai->ai_addr, ai->ai_addrlen, 1);
		if (fd < 0)
			continue;
		fds[n++] = fd;
	}
	freeaddrinfo(res);
	return n > 0 ? n : -TCPX_E_SYSTEM;
}

/* What is wrong with inherited descriptor fd as a listening socket, or
 * NULL.  Trusting it blindly made tcpget spin in accept() on a file or a
 * closed descriptor (poll reports either at once, accept fails at once). */
static const char *not_listening(int fd)
{
	int type = 0, acc = 0;
	socklen_t len = sizeof(type);

	if (fcntl(fd, F_GETFD) < 0)
		return "not open";
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return errno == ENOTSOCK ? "not a socket" : strerror(errno);
	if (type != SOCK_STREAM)
		return "not a stream (TCP) socket";
	len = sizeof(acc);
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &len) < 0)
		return strerror(errno);
	return acc ? NULL : "a socket that is not listening";
}

int net_activated(int fds[NET_LISTEN_MAX], int *bad_fd, const char **why)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	char *end;
	long n;

	if (!pid || !nfds || strtol(pid, &end, 10) != (long)getpid() || *end)
		return 0;
	n = strtol(nfds, &end, 10);
	if (*end || n < 1)
		return 0;
	if (n > NET_LISTEN_MAX)
		n = NET_LISTEN_MAX;
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	for (int i = 0; i < n; i++) {
		*why = not_listening(3 + i);    /* SD_LISTEN_FDS_START */
		if (*why) {
			*bad_fd = 3 + i;
			errno = ENOTSOCK;
			return -TCPX_E_SYSTEM;
		}
	}
	for (int i = 0; i < n; i++) {
		fds[i] = 3 + i;
		fcntl(fds[i], F_SETFD, FD_CLOEXEC);
		set_nonblock(fds[i], 1);
	}
	return (int)n;
}

const char *net_strerror(int err)
{
	switch (err) {
	case ECONNREFUSED: return "connection refused";
	case ECONNRESET: return "connection reset";
	case ETIMEDOUT: return "connection timed out";
	case EHOSTUNREACH: return "host unreachable";
	case ENETUNREACH: return "network unreachable";
	case EPIPE: return "connection closed";
	default: return strerror(err);
	}
}
