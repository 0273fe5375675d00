/* ui: messages, per-file lines, progress and JSON records (ui.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "digest.h"
#include "error.h"
#include "names.h"
#include "ui.h"

#define NAME_SHOWN_MAX (6 * 4096 + 4)
#define PROGRESS_INTERVAL 0.1   /* seconds between redraws: 10 Hz */

static const char *prog = "tcpxfer";
static enum ui_role role;
static int quiet, verbose, json, progress = -1;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* progress state (sender only) */
static struct {
	unsigned files, index;
	uint64_t total, finished;       /* bytes of all files, of finished ones */
	uint64_t cur_size, cur_done;
	char cur_name[256];
	double start, last_draw;
	int drawn;                      /* a progress line is on screen */
} pg;

void ui_init(const char *p, enum ui_role r)
{
	prog = p;
	role = r;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void ui_set_quiet(int q) { quiet = q; }
void ui_set_verbose(int v) { verbose = v; }
void ui_set_json(int j) { json = j; }
void ui_set_progress(int on) { progress = on; }

int ui_progress_enabled(void)
{
	if (progress < 0)
		progress = !quiet && !json && role == UI_SENDER && isatty(2);
	return progress;
}

double ui_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *ui_human_size(uint64_t n, char buf[16])
{
	static const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, 16, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, 16, "%.1f %s", v, unit[u]);
	return buf;
}

/* Erases the progress line so the next text starts on a clean line. */
static void clear_progress(void)
{
	if (pg.drawn) {
		fputs("\r\033[K", stderr);
		pg.drawn = 0;
	}
}

static void json_string(FILE *out, const char *key, const void *p, size_t len)
{
	static char buf[NAME_SHOWN_MAX];
	name_escape_json(p, len, buf, sizeof(buf));
	fprintf(out, ",\"%s\":\"%s\"", key, buf);
}

static void vline(FILE *out, const char *obj, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&lock);
	clear_progress();
	fprintf(out, "%s: ", prog);
	if (obj)
		fprintf(out, "%s: ", obj);
	vfprintf(out, fmt, ap);
	fputc('\n', out);
	fflush(out);
	pthread_mutex_unlock(&lock);
}

void ui_error(const char *obj, const char *fmt, ...)
{
	va_list ap;
	char msg[2048];

	va_start(ap, fmt);
	vline(stderr, obj, fmt, ap);
	va_end(ap);
	if (!json)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&lock);
	fputs("{\"event\":\"error\"", stdout);
	if (obj)
		json_string(stdout, "object", obj, strlen(obj));
	json_string(stdout, "message", msg, strlen(msg));
	fputs("}\n", stdout);
	fflush(stdout);
	pthread_mutex_unlock(&lock);
}

void ui_info(const char *fmt, ...)
{
	va_list ap;
	if (quiet || json)
		return;
	va_start(ap, fmt);
	vline(stdout, NULL, fmt, ap);
	va_end(ap);
}

void ui_debug(const char *fmt, ...)
{
	va_list ap;
	if (!verbose)
		return;
	va_start(ap, fmt);
	vline(stderr, NULL, fmt, ap);
	va_end(ap);
}

static const char *rate(uint64_t bytes, double seconds, char buf[32])
{
	char sz[16];
	if (seconds <= 0)
		return strcpy(buf, "-");
	snprintf(buf, 32, "%s/s",
		 ui_human_size((uint64_t)((double)bytes / seconds), sz));
	return buf;
}

static int term_width(void)
{
	struct winsize ws;
	if (ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	const char *c = getenv("COLUMNS");
	return c && atoi(c) >= 20 ? atoi(c) : 80;
}

static void draw_progress(double now)
{
	char line[512], a[16], b[16], r[32], eta[32] = "";
	uint64_t done = pg.finished + pg.cur_done;
	double secs = now - pg.start;
	int pct = pg.total ? (int)(100.0 * (double)done / (double)pg.total) : 100;
	int width = term_width() - 1;

	if (secs > 0.5 && done > 0 && done < pg.total) {
		double left = (double)(pg.total - done) * secs / (double)done;
		snprintf(eta, sizeof(eta), " ETA %d:%02d", (int)left / 60,
			 (int)left % 60);
	}
	int n = snprintf(line, sizeof(line), "%s %3d%% %s/%s %s%s [%u/%u]",
			 pg.cur_name, pct, ui_human_size(done, a),
			 ui_human_size(pg.total, b), rate(done, secs, r), eta,
			 pg.index, pg.files);
	if (n > width && width > 0) {
		/* Cut the name, keep the numbers: they are what one watches. */
		int over = n - width, nl = (int)strlen(pg.cur_name);
		int keep = nl - over - 3;
		if (keep < 1)
			keep = 1;
		snprintf(line, sizeof(line), "%.*s... %3d%% %s/%s %s%s [%u/%u]",
			 keep, pg.cur_name, pct, a, b, r, eta, pg.index, pg.files);
		line[width] = '\0';
	}
	fprintf(stderr, "\r%s\033[K", line);
	fflush(stderr);
	pg.drawn = 1;
	pg.last_draw = now;
}

void ui_batch_begin(unsigned files, uint64_t bytes)
{
	memset(&pg, 0, sizeof(pg));
	pg.files = files;
	pg.total = bytes;
	pg.start = ui_now();
}

void ui_batch_end(unsigned ok, unsigned failed, uint64_t bytes,
		  uint64_t wire, double seconds, int status)
{
	char a[16], r[32];
	pthread_mutex_lock(&lock);
	clear_progress();
	if (json) {
		printf("{\"event\":\"summary\",\"files_ok\":%u,\"files_failed\":%u,"
		       "\"bytes\":%llu,\"wire_bytes\":%llu,\"seconds\":%.6f,"
		       "\"exit\":%d}\n", ok, failed, (unsigned long long)bytes,
		       (unsigned long long)wire, seconds, status);
	} else if (!quiet && ok + failed > 1) {
		fprintf(stderr, "%s: %u of %u files verified, %s in %.2f s (%s)\n",
			prog, ok, ok + failed, ui_human_size(bytes, a), seconds,
			rate(bytes, seconds, r));
	}
	fflush(stdout);
	fflush(stderr);
	pthread_mutex_unlock(&lock);
}

void ui_listening(const char *addr, const char *dir, int max_clients,
		  int timeout_s, uint64_t max_size, int activated)
{
	char sz[16];
	if (json) {
		pthread_mutex_lock(&lock);
		fputs("{\"event\":\"listening\"", stdout);
		json_string(stdout, "address", addr, strlen(addr));
		json_string(stdout, "dir", dir, strlen(dir));
		printf(",\"max_clients\":%d,\"timeout\":%d,\"max_size\":%llu,"
		       "\"socket_activated\":%s}\n", max_clients, timeout_s,
		       (unsigned long long)max_size, activated ? "true" : "false");
		fflush(stdout);
		pthread_mutex_unlock(&lock);
		return;
	}
	ui_info("listening on %s%s, storing in %s (max %d clients, timeout %d s, "
		"max size %s)", addr, activated ? " (socket activation)" : "",
		dir, max_clients, timeout_s,
		max_size ? ui_human_size(max_size, sz) : "unlimited");
}

static void json_file(const char *event, const struct ui_file *f)
{
	char hex[DIGEST_HEX_LEN + 1];
	fprintf(stdout, "{\"event\":\"%s\"", event);
	if (f->peer)
		json_string(stdout, "peer", f->peer, strlen(f->peer));
	json_string(stdout, "name", f->name, f->name_len);
	fprintf(stdout, ",\"size\":%llu", (unsigned long long)f->size);
	if (f->digest) {
		digest_hex(f->digest, hex);
		fprintf(stdout, ",\"digest\":\"%s\"", hex);
	}
	if (!strcmp(event, "file_done"))
		fprintf(stdout, ",\"seconds\":%.6f", f->seconds);
	if (!strcmp(event, "file_done") && role == UI_SENDER)
		fprintf(stdout, ",\"wire_bytes\":%llu", (unsigned long long)f->wire);
	if (!strcmp(event, "file_failed")) {
		const char *m = f->msg ? f->msg : tcpx_strerror(f->code);
		fprintf(stdout, ",\"code\":%d", f->code);
		json_string(stdout, "error", tcpx_strerror(f->code),
			    strlen(tcpx_strerror(f->code)));
		if (f->peer_msg_len)
			json_string(stdout, "message", f->peer_msg, f->peer_msg_len);
		else
			json_string(stdout, "message", m, strlen(m));
	}
	fputs("}\n", stdout);
	fflush(stdout);
}

static void text_failed(const struct ui_file *f, const char *name,
			const char *size)
{
	static char peer_msg[4 * 1024 + 4], both[4 * 1024 + 64];
	const char *what = tcpx_strerror(f->code), *detail = f->msg;

	if (f->peer_msg_len) {
		name_escape(f->peer_msg, f->peer_msg_len, peer_msg, sizeof(peer_msg));
		detail = peer_msg;
	}
	/* "file exists (hint)" rather than "file exists: file exists" */
	if (!detail || !*detail)
		detail = what;
	else if (strncmp(detail, what, strlen(what)) != 0 &&
		 f->code != TCPX_E_SYSTEM) {
		snprintf(both, sizeof(both), "%s: %s", what, detail);
		detail = both;
	}
	if (role == UI_SENDER)
		fprintf(stderr, "%s: %s: %s\n", prog, name, detail);
	else
		fprintf(stderr, "%s: %s: refused %s (%s): %s\n", prog, f->peer,
			name, size, detail);
	fflush(stderr);
}

void ui_event(enum ui_event_type type, const struct ui_file *f)
{
	static char name[NAME_SHOWN_MAX];
	char size[16], hex[DIGEST_HEX_LEN + 1], r[32];
	double now;

	pthread_mutex_lock(&lock);
	switch (type) {
	case UI_FILE_START:
		if (json)
			json_file("file_start", f);
		if (role == UI_SENDER) {
			pg.index++;
			pg.cur_size = f->size;
			pg.cur_done = 0;
			name_escape(f->name, f->name_len, pg.cur_name,
				    sizeof(pg.cur_name));
		}
		break;
	case UI_FILE_PROGRESS:
		pg.cur_done = f->done;
		if (f->done >= f->size) {
			pg.finished += f->size;
			pg.cur_done = 0;
		}
		now = ui_now();
		if (ui_progress_enabled() && now - pg.last_draw >= PROGRESS_INTERVAL)
			draw_progress(now);
		break;
	case UI_FILE_DONE:
		clear_progress();
		if (json) {
			json_file("file_done", f);
			break;
		}
		if (quiet)
			break;
		name_escape(f->name, f->name_len, name, sizeof(name));
		ui_human_size(f->size, size);
		digest_hex(f->digest, hex);
		if (role == UI_SENDER) {
			printf("%s  %s  blake2b-512:%s\n", name, size, hex);
			if (verbose)
				fprintf(stderr, "%s: %s: %.3f s, %s, %llu bytes on "
					"the wire\n", prog, name, f->seconds,
					rate(f->size, f->seconds, r),
					(unsigned long long)f->wire);
		} else {
			printf("%s: %s: received %s (%s, %s) blake2b-512:%s\n",
			       prog, f->peer, name, size,
			       rate(f->size, f->seconds, r), hex);
		}
		fflush(stdout);
		break;
	case UI_FILE_FAILED:
		clear_progress();
		if (json)
			json_file("file_failed", f);
		name_escape(f->name, f->name_len, name, sizeof(name));
		ui_human_size(f->size, size);
		text_failed(f, name, size);
		break;
	}
	if (ui_progress_enabled() && type != UI_FILE_PROGRESS && pg.files &&
	    pg.index <= pg.files && role == UI_SENDER && type != UI_FILE_FAILED &&
	    type != UI_FILE_DONE)
		draw_progress(ui_now());
	pthread_mutex_unlock(&lock);
}
