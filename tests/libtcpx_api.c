/* libtcpx_api: libtcpx's public API (tcpx/tcpx.h) in one process, built by
 * tests/examples.sh against the installed library through pkg-config
 * alone: a server on a thread (port 0, learnt from its LISTENING event),
 * senders against it, the events both see, bad options, a stop and a
 * second server.  One "ok NAME" or "FAIL NAME" line per check on stdout;
 * the library itself must print nothing (the suite checks stderr is empty
 * and every stdout line is ours).
 * usage: libtcpx_api DIR FILE  (DIR: the receiving directory, new) */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tcpx/tcpx.h>

static int failures;

static void check(const char *name, int cond)
{
	printf("%s %s\n", cond ? "ok  " : "FAIL", name);
	if (!cond)
		failures++;
}

/* What one side saw. */
struct seen {
	pthread_mutex_t lock;
	int start, progress, done, failed, listening, errors;
	int last_code, dir_done, skipped;
	uint64_t last_size, last_done;
	char port[16];
	char name[256];
	char error[512];
	uint8_t digest[64];
};

static void on_event(const struct tcpx_event *ev, void *arg)
{
	struct seen *s = arg;
	const char *colon;

	pthread_mutex_lock(&s->lock);
	switch (ev->type) {
	case TCPX_EVENT_FILE_START: s->start++; break;
	case TCPX_EVENT_FILE_PROGRESS:
		s->progress++;
		s->last_done = ev->done;
		break;
	case TCPX_EVENT_FILE_DONE:
		if (ev->is_dir) {
			s->dir_done++;
			break;
		}
		s->done++;
		s->last_size = ev->size;
		memcpy(s->digest, ev->digest, 64);
		snprintf(s->name, sizeof(s->name), "%.*s", (int)ev->name_len,
			 (const char *)ev->name);
		break;
	case TCPX_EVENT_FILE_FAILED:
		s->failed++;
		s->last_code = ev->code;
		break;
	case TCPX_EVENT_FILE_SKIPPED:   /* already there, identical */
		s->skipped++;
		break;
	case TCPX_EVENT_MESSAGE:
		if (ev->level == TCPX_LEVEL_ERROR) {
			s->errors++;
			snprintf(s->error, sizeof(s->error), "%s: %s",
				 ev->object ? ev->object : "-", ev->msg);
		}
		break;
	case TCPX_EVENT_LISTENING:
		s->listening++;
		colon = strrchr(ev->peer, ':');
		if (colon)
			snprintf(s->port, sizeof(s->port), "%s", colon + 1);
		break;
	}
	pthread_mutex_unlock(&s->lock);
}

static struct seen server_seen = { .lock = PTHREAD_MUTEX_INITIALIZER };
static const char *serve_dir;
static int serve_status = -1;

static void *serve(void *arg)
{
	struct tcpx_serve_options o;

	(void)arg;
	tcpx_serve_options_init(&o);
	o.bind_addr = "127.0.0.1";
	o.port = "0";
	o.on_event = on_event;
	o.arg = &server_seen;
	serve_status = tcpx_serve(serve_dir, &o);
	return NULL;
}

/* Waits (at most 5 s) until *counter reaches n. */
static int wait_for(int *counter, int n)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	for (int i = 0; i < 500; i++) {
		pthread_mutex_lock(&server_seen.lock);
		int v = *counter;
		pthread_mutex_unlock(&server_seen.lock);
		if (v >= n)
			return 1;
		nanosleep(&ts, NULL);
	}
	return 0;
}

/* A sender of its own, on a thread of its own: its events must be its
 * own (the library's sink is per thread for a send). */
struct sender_job {
	pthread_t t;
	const char *port, *file;
	char dir[32];
	int status;
	struct seen seen;
};

static void *send_job(void *arg)
{
	struct sender_job *j = arg;
	struct tcpx_send_options o;
	const char *files[] = { j->file };

	tcpx_send_options_init(&o);
	o.dest_dir = j->dir;
	o.on_event = on_event;
	o.arg = &j->seen;
	j->status = tcpx_send("127.0.0.1", j->port, files, 1, &o);
	return NULL;
}

static pthread_t start_server(int listening_before)
{
	pthread_t t;

	if (pthread_create(&t, NULL, serve, NULL) != 0) {
		check("server thread starts", 0);
		exit(1);
	}
	check("server: a LISTENING event with the port chosen",
	      wait_for(&server_seen.listening, listening_before + 1) &&
	      server_seen.port[0]);
	return t;
}

static void stop_server(pthread_t t)
{
	tcpx_serve_stop();
	pthread_join(t, NULL);
	check("server: tcpx_serve_stop() makes tcpx_serve() return 0",
	      serve_status == TCPX_SERVE_OK);
}

int main(int argc, char **argv)
{
	struct tcpx_send_options o;
	struct seen s = { .lock = PTHREAD_MUTEX_INITIALIZER };
	char path[4096];
	struct stat sb;
	int rc;

	if (argc != 3) {
		fprintf(stderr, "usage: libtcpx_api DIR FILE\n");
		return 2;
	}
	serve_dir = argv[1];
	const char *file = argv[2];
	const char *files[] = { file };
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;

	check("tcpx_version() is the package's", !strcmp(tcpx_version(), "0.1.0"));
	check("tcpx_strerror(34) names a digest mismatch",
	      !strcmp(tcpx_strerror(34), "digest mismatch"));
	check("tcpx_strerror() of an unknown code", !strcmp(tcpx_strerror(999),
							   "unknown error"));
	pthread_t t = start_server(0);
	const char *port = server_seen.port;

	tcpx_send_options_init(&o);
	check("send options default: no compression, 60 s",
	      o.level == 0 && o.timeout_ms == 60000 && !o.dest_dir);
	o.on_event = on_event;
	o.arg = &s;
	rc = tcpx_send("127.0.0.1", port, files, 1, &o);
	check("send: returns TCPX_SEND_OK", rc == TCPX_SEND_OK);
	check("send: FILE_START, FILE_PROGRESS to the end, FILE_DONE",
	      s.start == 1 && s.progress >= 1 && s.done == 1 &&
	      s.last_done == s.last_size && s.failed == 0);
	check("send: FILE_DONE names the base name", !strcmp(s.name, base));
	snprintf(path, sizeof(path), "%s/%s", serve_dir, base);
	check("send: the file is stored under its name",
	      stat(path, &sb) == 0 && (uint64_t)sb.st_size == s.last_size);
	check("server: FILE_DONE with the same digest",
	      wait_for(&server_seen.done, 1) &&
	      !memcmp(server_seen.digest, s.digest, 64) &&
	      !strcmp(server_seen.name, base));

	/* again: already there and identical, so skipped (OFFER) */
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	rc = tcpx_send("127.0.0.1", port, files, 1, &o);
	check("again, unchanged: TCPX_SEND_OK, one FILE_SKIPPED, nothing sent",
	      rc == TCPX_SEND_OK && s.skipped == 1 && s.done == 0 &&
	      s.failed == 0 && s.start == 0);

	/* changed (its time): the receiver refuses an existing file (33) */
	const struct timespec old[2] = { { 1500000000, 7 }, { 1500000000, 7 } };
	check("the source's mtime changed", utimensat(AT_FDCWD, file, old, 0) == 0);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	rc = tcpx_send("127.0.0.1", port, files, 1, &o);
	check("again, changed: TCPX_SEND_REFUSED, FILE_FAILED with code 33 (exists)",
	      rc == TCPX_SEND_REFUSED && s.failed == 1 && s.last_code == 33);
	check("server: FILE_FAILED too", wait_for(&server_seen.failed, 1) &&
	      server_seen.last_code == 33);

	/* a destination directory, and compression */
	o.dest_dir = "sub/dir/";
	o.level = 6;
	rc = tcpx_send("127.0.0.1", port, files, 1, &o);
	snprintf(path, sizeof(path), "%s/sub/dir/%s", serve_dir, base);
	check("dest_dir and level 6: stored beneath, TCPX_SEND_OK",
	      rc == TCPX_SEND_OK && stat(path, &sb) == 0);

	/* bad options: refused before anything is sent, with a MESSAGE */
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	o.dest_dir = "../escape";
	rc = tcpx_send("127.0.0.1", port, files, 1, &o);
	check("dest_dir '../escape': TCPX_SEND_USAGE and an error MESSAGE",
	      rc == TCPX_SEND_USAGE && s.errors == 1 && s.start == 0 &&
	      strstr(s.error, "../escape"));
	o.dest_dir = NULL;
	o.level = 10;
	check("level 10: TCPX_SEND_USAGE",
	      tcpx_send("127.0.0.1", port, files, 1, &o) == TCPX_SEND_USAGE);
	o.level = 0;
	check("no paths: TCPX_SEND_USAGE",
	      tcpx_send("127.0.0.1", port, files, 0, &o) == TCPX_SEND_USAGE);
	check("no host: TCPX_SEND_USAGE",
	      tcpx_send(NULL, port, files, 1, &o) == TCPX_SEND_USAGE);

	/* an unreadable file among others: the others still go */
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	const char *two[] = { "/nonexistent/tcpx-missing", file };
	o.dest_dir = "two";
	rc = tcpx_send("127.0.0.1", port, two, 2, &o);
	check("a missing file: TCPX_SEND_UNREADABLE, the other one stored",
	      rc == TCPX_SEND_UNREADABLE && s.failed == 1 && s.done == 1);
	o.dest_dir = NULL;

	/* senders in four threads at once */
	enum { JOBS = 4 };
	struct sender_job jobs[JOBS];
	int all_ok = 1, started = 0;
	for (int i = 0; i < JOBS; i++) {
		jobs[i] = (struct sender_job){ .port = port, .file = file,
					       .status = -1 };
		pthread_mutex_init(&jobs[i].seen.lock, NULL);
		snprintf(jobs[i].dir, sizeof(jobs[i].dir), "thread%d", i);
		if (pthread_create(&jobs[i].t, NULL, send_job, &jobs[i]) == 0)
			started++;
		else
			jobs[i].status = -2;
	}
	for (int i = 0; i < JOBS; i++) {
		if (jobs[i].status != -2)
			pthread_join(jobs[i].t, NULL);
		snprintf(path, sizeof(path), "%s/thread%d/%s", serve_dir, i, base);
		if (jobs[i].status != TCPX_SEND_OK || jobs[i].seen.start != 1 ||
		    jobs[i].seen.done != 1 || stat(path, &sb) != 0)
			all_ok = 0;
	}
	check("4 threads sending at once: each OK, each saw its own one file",
	      started == JOBS && all_ok);

	/* defaults (NULL options) work too */
	check("tcpx_send(..., NULL options) to an existing name: refused",
	      tcpx_send("127.0.0.1", port, files, 1, NULL) == TCPX_SEND_REFUSED);

	struct tcpx_serve_options so;
	tcpx_serve_options_init(&so);
	check("serve options default: tcpget's",
	      so.max_clients == 4096 && so.max_per_source == 64 &&
	      so.timeout_ms == 60000 && so.min_free == TCPX_FREE_AUTO &&
	      !so.port && !so.overwrite);
	so.max_clients = 0;
	check("max_clients 0: TCPX_SERVE_USAGE",
	      tcpx_serve(serve_dir, &so) == TCPX_SERVE_USAGE);
	stop_server(t);

	/* the server can be started again in the same process */
	int listened = server_seen.listening;
	t = start_server(listened);
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	o.dest_dir = "again";
	rc = tcpx_send("127.0.0.1", server_seen.port, files, 1, &o);
	check("a second tcpx_serve() in the process serves", rc == TCPX_SEND_OK);
	stop_server(t);

	/* nothing listens there now */
	memset(&s, 0, sizeof(s));
	pthread_mutex_init(&s.lock, NULL);
	o.timeout_ms = 2000;
	rc = tcpx_send("127.0.0.1", server_seen.port, files, 1, &o);
	check("nothing listening: TCPX_SEND_CONNECTION and an error MESSAGE",
	      rc == TCPX_SEND_CONNECTION && s.errors >= 1 &&
	      strstr(s.error, "connection refused"));
	return failures ? 1 : 0;
}
