/* run: the sender's wiring, once options are known (run.h); the
 * receiver's is run_serve.c. */
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "names.h"
#include "net.h"
#include "run.h"
#include "source.h"
#include "ui.h"

/* --- sending ---------------------------------------------------------- */

static void tried(const char *addr, int err)
{
	if (err)
		ui_debug("connecting to %s: %s", addr, net_strerror(err));
	else
		ui_debug("connected to %s", addr);
}

int run_dest_dir(char *dir, const char **why)
{
	size_t n = dir ? strlen(dir) : 0;

	while (n > 0 && dir[n - 1] == '/')
		dir[--n] = '\0';
	if (n == 0)
		return 0;
	return name_validate((const uint8_t *)dir, n, why) < 0 ? -1 : 1;
}

/* Connects to host:port; the fd, or -1 once said why. */
static int connect_to(const struct send_run *r, char peer[NET_ADDR_MAX])
{
	const char *port = r->port ? r->port : TCPX_DEFAULT_PORT;
	const char *dest = r->dest ? r->dest : r->host;
	int fd, gai_err;

	fd = net_connect(r->host, port, r->send.timeout_ms, peer, &gai_err,
			 tried);
	if (fd == -TCPX_E_RESOLVE)
		ui_error(dest, "cannot resolve %s: %s", r->host,
			 gai_strerror(gai_err));
	else if (fd < 0 && errno == ECONNREFUSED)
		ui_error(dest, "connection refused: is tcpget running there?");
	else if (fd < 0)
		ui_error(dest, "%s", net_strerror(errno));
	return fd < 0 ? -1 : fd;
}

int run_send(const struct send_run *r)
{
	char peer[NET_ADDR_MAX];
	struct source *src;
	int fd, status;

	if (digest_global_init() < 0) {
		ui_error(NULL, "cannot initialise libsodium");
		return SEND_CONNECTION;
	}
	src = source_new(r->paths, r->npaths, r->send.recursive);
	if (!src) {
		ui_error(NULL, "out of memory");
		return SEND_CONNECTION;
	}
	source_set_follow(src, r->follow);
	source_set_name(src, r->rename);
	struct send_options opt = r->send;
	opt.stream = source_has_streams(src);
	if (r->dir && source_set_prefix(src, r->dir) < 0) {
		ui_error(r->dir, "destination directory too long");
		source_free(src);
		return SEND_USAGE;
	}
	fd = connect_to(r, peer);
	status = fd < 0 ? SEND_CONNECTION :
		 send_loop_run(fd, peer, &opt, src);
	if (fd >= 0)
		close(fd);
	source_free(src);
	return status;
}
