/* tcpx: libtcpx's public API (tcpx/tcpx.h) over the tools' own wiring
 * (run.h): the options are checked and translated, and a ui sink turns
 * what the tools would print into the caller's events. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "run.h"
#include "tcpx/tcpx.h"
#include "ui.h"

/* The public values are the tools' exit statuses and ui's event types. */
_Static_assert((int)TCPX_SEND_PROTOCOL == (int)SEND_PROTOCOL &&
	       (int)TCPX_SEND_USAGE == (int)SEND_USAGE &&
	       (int)TCPX_SEND_UNREADABLE == (int)SEND_UNREADABLE &&
	       (int)TCPX_SEND_CONNECTION == (int)SEND_CONNECTION, "send statuses");
_Static_assert((int)TCPX_SERVE_CANNOT_START == (int)GET_CANNOT_START &&
	       (int)TCPX_SERVE_USAGE == (int)GET_USAGE, "serve statuses");
_Static_assert(TCPX_FREE_AUTO == STORE_FREE_AUTO, "free space default");

#define DEFAULT_SEND_TIMEOUT_MS 60000   /* tcpput's -t default */

/* The caller's callback, and what the sink hands it. */
struct observer {
	tcpx_event_fn fn;
	void *arg;
};

static void sink_event(void *arg, enum ui_event_type type,
		       const struct ui_file *f)
{
	const struct observer *o = arg;
	struct tcpx_event ev = {
		.peer = f->peer, .name = f->name, .name_len = f->name_len,
		.path = f->path, .size = f->size, .done = f->done,
		.digest = f->digest, .seconds = f->seconds, .wire = f->wire,
		.changed = f->changed, .is_dir = f->is_dir, .code = f->code,
		.msg = f->msg, .peer_msg = f->peer_msg,
		.peer_msg_len = f->peer_msg_len,
	};

	switch (type) {
	case UI_FILE_START: ev.type = TCPX_EVENT_FILE_START; break;
	case UI_FILE_PROGRESS: ev.type = TCPX_EVENT_FILE_PROGRESS; break;
	case UI_FILE_DONE: ev.type = TCPX_EVENT_FILE_DONE; break;
	case UI_FILE_FAILED: ev.type = TCPX_EVENT_FILE_FAILED; break;
	case UI_FILE_SKIPPED: ev.type = TCPX_EVENT_FILE_SKIPPED; break;
	default: return;        /* a kind this API version does not name */
	}
	if (o->fn)
		o->fn(&ev, o->arg);
}

static void sink_message(void *arg, enum ui_msg_level level, const char *obj,
			 const char *text)
{
	const struct observer *o = arg;
	struct tcpx_event ev = { .type = TCPX_EVENT_MESSAGE, .msg = text,
				 .object = obj };

	switch (level) {
	case UI_MSG_ERROR: ev.level = TCPX_LEVEL_ERROR; break;
	case UI_MSG_INFO: ev.level = TCPX_LEVEL_INFO; break;
	case UI_MSG_DEBUG: ev.level = TCPX_LEVEL_DEBUG; break;
	case UI_MSG_LISTENING:
		ev = (struct tcpx_event){ .type = TCPX_EVENT_LISTENING,
					  .peer = obj, .msg = text,
					  .level = TCPX_LEVEL_INFO };
		break;
	}
	if (o->fn)
		o->fn(&ev, o->arg);
}

/* A usage error of the caller's, as an event; returns status. */
static int refuse(const struct observer *o, int status, const char *obj,
		  const char *text)
{
	sink_message((void *)o, UI_MSG_ERROR, obj, text);
	return status;
}

/* --- sending ---------------------------------------------------------- */

void tcpx_send_options_init(struct tcpx_send_options *o)
{
	*o = (struct tcpx_send_options){ .timeout_ms = DEFAULT_SEND_TIMEOUT_MS };
}

int tcpx_send(const char *host, const char *port, const char *const *paths,
	      size_t npaths, const struct tcpx_send_options *opt)
{
	struct tcpx_send_options defaults;
	struct observer obs;
	struct ui_sink sink = { sink_event, sink_message, &obs };
	char *dir = NULL;
	const char *why = NULL;
	int status;

	if (!opt) {
		tcpx_send_options_init(&defaults);
		opt = &defaults;
	}
	obs = (struct observer){ opt->on_event, opt->arg };
	if (!host || !*host)
		return refuse(&obs, TCPX_SEND_USAGE, NULL, "no host");
	if (npaths == 0 || npaths > INT32_MAX || !paths)
		return refuse(&obs, TCPX_SEND_USAGE, NULL, "no file to send");
	for (size_t i = 0; i < npaths; i++)
		if (!paths[i])
			return refuse(&obs, TCPX_SEND_USAGE, NULL,
				      "a path is NULL");
	if (opt->level < 0 || opt->level > 9)
		return refuse(&obs, TCPX_SEND_USAGE, "level",
			      "compression level must be a number from 0 to 9");
	if (opt->timeout_ms < 1)
		return refuse(&obs, TCPX_SEND_USAGE, "timeout_ms",
			      "timeout must be at least 1 ms");
	if (opt->dest_dir && !(dir = strdup(opt->dest_dir)))
		return refuse(&obs, TCPX_SEND_CONNECTION, NULL, "out of memory");
	if (dir && run_dest_dir(dir, &why) < 0) {
		free(dir);
		return refuse(&obs, TCPX_SEND_USAGE, opt->dest_dir, why);
	}

	struct send_run r = {
		.host = host, .port = port, .dir = dir && *dir ? dir : NULL,
		/* source.h reads the paths, never writes them */
		.paths = (char *const *)paths, .npaths = (int)npaths,
		.follow = opt->follow_links,
		.send = { .level = opt->level, .timeout_ms = opt->timeout_ms,
			  .recursive = opt->recursive },
	};
	ui_set_sink(&sink, 1);
	status = run_send(&r);
	ui_set_sink(NULL, 1);
	free(dir);
	return status;
}

/* --- serving ---------------------------------------------------------- */

void tcpx_serve_options_init(struct tcpx_serve_options *o)
{
	struct get_config d;

	run_serve_defaults(&d);
	*o = (struct tcpx_serve_options){
		.max_size = d.server.serve.max_size,
		.max_clients = d.server.max_clients,
		.max_per_source = d.server.max_per_source,
		.max_dirs = d.server.serve.max_dirs,
		.min_free = d.min_free, .min_free_inodes = d.min_free_inodes,
		.timeout_ms = d.server.serve.timeout_ms,
		.handshake_ms = d.server.serve.handshake_ms,
		.frame_ms = d.server.serve.frame_ms,
		.min_rate = d.server.serve.min_rate,
		.rate_window_ms = d.server.serve.rate_window_ms,
	};
}

int tcpx_serve(const char *dir, const struct tcpx_serve_options *opt)
{
	struct tcpx_serve_options defaults;
	struct observer obs;
	struct ui_sink sink = { sink_event, sink_message, &obs };
	struct get_config cfg;
	int status;

	if (!opt) {
		tcpx_serve_options_init(&defaults);
		opt = &defaults;
	}
	obs = (struct observer){ opt->on_event, opt->arg };
	if (opt->max_clients < 1 || opt->max_per_source < 1)
		return refuse(&obs, TCPX_SERVE_USAGE, NULL,
			      "max_clients and max_per_source must be at least 1");
	if (opt->timeout_ms < 1 || opt->handshake_ms < 0 ||
	    opt->frame_ms < 0 || opt->rate_window_ms < 1)
		return refuse(&obs, TCPX_SERVE_USAGE, NULL,
			      "timeout_ms and rate_window_ms must be at least 1, "
			      "handshake_ms and frame_ms at least 0");
	run_serve_defaults(&cfg);
	if (opt->port)
		cfg.port = opt->port;
	cfg.bind_addr = opt->bind_addr;
	cfg.overwrite = opt->overwrite;
	cfg.activation = opt->socket_activation;
	cfg.min_free = opt->min_free;
	cfg.min_free_inodes = opt->min_free_inodes;
	cfg.server.dir = dir ? dir : ".";
	/* A number other than the default is the caller's to keep. */
	cfg.server.max_clients_given = opt->max_clients != cfg.server.max_clients;
	cfg.server.max_clients = opt->max_clients;
	cfg.server.max_per_source = opt->max_per_source;
	cfg.server.serve.max_size = opt->max_size;
	cfg.server.serve.max_dirs = opt->max_dirs;
	cfg.server.serve.timeout_ms = opt->timeout_ms;
	cfg.server.serve.handshake_ms = opt->handshake_ms;
	cfg.server.serve.frame_ms = opt->frame_ms;
	cfg.server.serve.min_rate = opt->min_rate;
	cfg.server.serve.rate_window_ms = opt->rate_window_ms;
	/* Sessions run on the server's threads: the sink is the process's. */
	ui_set_sink(&sink, 0);
	status = run_serve(&cfg);
	ui_set_sink(NULL, 0);
	return status;
}

void tcpx_serve_stop(void)
{
	server_stop();
}

/* --- the rest --------------------------------------------------------- */

const char *tcpx_version(void)
{
	return TCPX_VERSION_STRING;
}
