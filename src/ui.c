/* ui: messages, per-file lines and log lines (ui.h). */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "digest.h"
#include "error.h"
#include "names.h"
#include "ui.h"

#define NAME_SHOWN_MAX (4 * 4096 + 4)

static const char *prog = "tcpxfer";
static enum ui_role role;
static int quiet, verbose;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

void ui_init(const char *p, enum ui_role r)
{
	prog = p;
	role = r;
	setvbuf(stdout, NULL, _IOLBF, 0);
}

void ui_set_quiet(int q) { quiet = q; }
void ui_set_verbose(int v) { verbose = v; }
int ui_verbose_level(void) { return verbose; }

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

static void vline(FILE *out, const char *obj, const char *fmt, va_list ap)
{
	pthread_mutex_lock(&lock);
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
	va_start(ap, fmt);
	vline(stderr, obj, fmt, ap);
	va_end(ap);
}

void ui_info(const char *fmt, ...)
{
	va_list ap;
	if (quiet)
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

static void rate(const struct ui_file *f, char buf[32])
{
	char sz[16];
	if (f->seconds <= 0) {
		snprintf(buf, 32, "-");
		return;
	}
	snprintf(buf, 32, "%s/s",
		 ui_human_size((uint64_t)((double)f->done / f->seconds), sz));
}

void ui_event(enum ui_event_type type, const struct ui_file *f)
{
	static char name[NAME_SHOWN_MAX];
	char size[16], hex[DIGEST_HEX_LEN + 1], r[32];
	char peer_msg[4 * 1024 + 4], both[4 * 1024 + 64];
	const char *detail;

	if (type == UI_FILE_START || type == UI_FILE_PROGRESS)
		return;   /* progress display: a later issue */
	pthread_mutex_lock(&lock);
	name_escape(f->name, f->name_len, name, sizeof(name));
	ui_human_size(f->size, size);
	rate(f, r);
	if (type == UI_FILE_DONE) {
		digest_hex(f->digest, hex);
		if (!quiet && role == UI_SENDER)
			printf("%s  %s  blake2b-512:%s\n", name, size, hex);
		else if (!quiet)
			printf("%s: %s: received %s (%s, %s) blake2b-512:%s\n",
			       prog, f->peer, name, size, r, hex);
		fflush(stdout);
	} else {
		detail = f->msg;
		if (f->peer_msg_len) {
			name_escape(f->peer_msg, f->peer_msg_len, peer_msg,
				    sizeof(peer_msg));
			detail = peer_msg;
		}
		/* "file exists (hint)" rather than "file exists: file exists" */
		const char *what = tcpx_strerror(f->code);
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
			fprintf(stderr, "%s: %s: refused %s (%s): %s\n", prog,
				f->peer, name, size, detail);
		fflush(stderr);
	}
	pthread_mutex_unlock(&lock);
}
