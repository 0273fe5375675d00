/*
 * relay: a small loopback TCP relay for the benchmark.
 *
 * Listens on 127.0.0.1:LPORT and forwards each accepted connection to
 * 127.0.0.1:DPORT, optionally delaying every byte by a fixed one-way delay
 * and/or limiting each direction to a rate (token bucket), and counts the
 * bytes it forwards each way.  That count is the payload on the wire (TCP
 * and IP headers excluded), per connection, which /proc/net/dev cannot give.
 *
 * Delay model: data read at time t is written on at t + delay.  Each
 * direction keeps a byte ring plus a ring of (release time, end offset)
 * marks, one mark per read; ppoll() sleeps until the next mark is due
 * (nanosecond timeouts; the kernel's timer slack, 50 us by default, and
 * scheduling add to it), so the delay actually applied is never less than
 * the delay and rarely more than a fraction of a millisecond above it.
 *
 * Rate model: a token bucket per direction, refilled continuously at the
 * rate, holding at most 2 ms worth of tokens (16 KiB at least), so bursts
 * cannot exceed the link much.  The relay never reads more than its ring
 * holds: back-pressure reaches the sender through TCP.
 *
 * Path model (-R, -W, -L: a long fat network, which loopback is not):
 * -R RTT_MS gives every connection a round-trip time, half of it as the
 * one-way delay in each direction (as -D does).  -W BYTES caps what one
 * direction of one connection has in flight: a byte counts from the moment
 * the relay reads it from the sender until the moment its acknowledgement
 * would be back, which is half an RTT after the relay wrote it to the
 * receiver (so at least one RTT after the read, more when the receiver is
 * slow to take it).  The relay reads only while fewer than W bytes are in
 * flight, so each connection moves at most W per RTT, the ceiling a TCP
 * window of W sets on a real path.  -L MBYTES_PER_S is a link shared by all
 * connections: one token bucket per direction (5 ms of tokens at most, and
 * reads wait for 64 KiB of them), spent when the relay reads, so the bytes
 * of all connections together enter the delay at most at the link's rate.
 * Connections take turns at the shared bucket (the one served first changes
 * every round).  -B KIB sets SO_RCVBUF and SO_SNDBUF of the relay's own
 * sockets, which bounds how much the kernel buffers before and after the
 * emulated path (what the sender has written but the relay not yet read).
 * Limits: no loss, no slow start, no congestion control: the window is
 * always the full W, and the link is shared by whoever reads first.
 *
 * Bounded: at most -n connections are accepted in all (and at most
 * RELAY_ACTIVE_MAX at once); it exits when all of them are done, after -i
 * seconds without any traffic, after -t seconds in all, or on SIGTERM /
 * SIGINT.  Totals go to stderr (unless -q) and to the -o file, which is
 * rewritten (atomically, through a rename) each time a connection ends and
 * at exit, so a reader never sees a half-written file.
 *
 * Only 127.0.0.1 is ever bound or connected to.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE             /* ppoll */
#endif

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define RELAY_ACTIVE_MAX 64          /* connections open at once */
#define RELAY_MARKS 16384u           /* pending reads per direction */
#define RELAY_MIN_WRITE 8192u        /* rate-limited writes at least this (or all that is left) */
#define RELAY_MIN_READ 4096u         /* window-limited reads wait for this much room */
#define RELAY_LINK_MIN 65536.0       /* link-limited reads wait for this many tokens */
#define RELAY_ACK_MERGE_NS 100000    /* writes closer than this share one acknowledgement mark */

static const char usage_text[] =
	"usage: relay -l LPORT -d DPORT [-D MS] [-r MBIT] [-n CONNS] [-i IDLE_S]\n"
	"             [-t TOTAL_S] [-b RING_KIB] [-o FILE] [-q]\n"
	"             [-R RTT_MS -W WINDOW_BYTES] [-L LINK_MBYTES_PER_S] [-B SOCKBUF_KIB]\n"
	"  -l LPORT    listen on 127.0.0.1:LPORT\n"
	"  -d DPORT    forward to 127.0.0.1:DPORT\n"
	"  -D MS       one-way delay applied in each direction (default 0)\n"
	"  -r MBIT     rate limit per direction in Mbit/s (default 0: none)\n"
	"  -n CONNS    connections to serve before exiting (default 1)\n"
	"  -i IDLE_S   exit after this many seconds without traffic (default 30)\n"
	"  -t TOTAL_S  exit after this many seconds in all (default 900)\n"
	"  -b KIB      buffer per direction and connection (default 8192)\n"
	"  -o FILE     write byte counts here (up_bytes, down_bytes, connections)\n"
	"  -q          no summary on stderr\n"
	"  -R RTT_MS   round-trip time of each connection: -D RTT_MS/2 (the later wins)\n"
	"  -W BYTES    at most this many bytes in flight per direction and connection,\n"
	"              from the relay's read until the acknowledgement would be back\n"
	"  -L MBYTES   a link of this many MiB/s per direction, shared by all connections\n"
	"  -B KIB      SO_RCVBUF and SO_SNDBUF of the relay's sockets (default: the kernel's)\n";

struct config {
	int listen_port;
	int dest_port;
	int64_t delay_ns;
	double rate_bytes_per_ns;    /* 0: unlimited */
	long max_connections;
	int64_t idle_ns;
	int64_t total_ns;
	size_t ring_size;
	const char *out_path;
	bool quiet;
	uint64_t window;             /* 0: no window */
	double link_bytes_per_ns;    /* 0: no shared link */
	int sockbuf;                 /* 0: the kernel's */
};

struct mark {
	int64_t release_ns;
	uint64_t end;                /* ring offset (in total bytes) after this read */
};

/* One direction of one connection: bytes read from `from`, written to `to`. */
struct direction {
	int from, to;
	uint8_t *buf;
	size_t cap;
	uint64_t in;                 /* bytes read so far */
	uint64_t out;                /* bytes written so far */
	uint64_t released;           /* bytes whose delay has passed */
	struct mark *marks;
	size_t mark_head, mark_count;
	double tokens;
	int64_t refill_ns;
	int link;                    /* which shared link bucket: 0 up, 1 down */
	uint64_t acked;              /* bytes whose acknowledgement is back (-W) */
	struct mark *acks;           /* (ack time, out offset) per write, with -W */
	size_t ack_head, ack_count;
	bool eof;                    /* source said EOF */
	bool shut;                   /* EOF passed on (shutdown SHUT_WR) */
};

struct connection {
	bool used;
	bool failed;
	long id;
	int64_t start_ns;
	int client, server;
	struct direction dir[2];     /* 0: client -> server (up), 1: server -> client (down) */
};

/* The shared link (-L), one bucket per direction. */
static struct {
	double tokens;
	int64_t refill_ns;
} link_bucket[2];

static volatile sig_atomic_t stop_signal;
static uint64_t total_up, total_down;
static long connections_done;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo) || !(v <= hi))
		return -1;
	*out = v;
	return 0;
}

/* Rewrites the totals file through a temporary name and a rename. */
static void write_totals(const struct config *cfg)
{
	if (!cfg->out_path)
		return;
	char tmp[PATH_MAX];
	int n = snprintf(tmp, sizeof tmp, "%s.tmp", cfg->out_path);
	if (n < 0 || (size_t)n >= sizeof tmp)
		return;
	FILE *f = fopen(tmp, "w");
	if (!f) {
		fprintf(stderr, "relay: %s: %s\n", tmp, strerror(errno));
		return;
	}
	fprintf(f, "up_bytes %llu\ndown_bytes %llu\nconnections %ld\n",
		(unsigned long long)total_up, (unsigned long long)total_down,
		connections_done);
	if (fclose(f) != 0 || rename(tmp, cfg->out_path) != 0)
		fprintf(stderr, "relay: %s: %s\n", cfg->out_path, strerror(errno));
}

static int set_nonblocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	int one = 1;
	/* The relay decides when bytes leave; Nagle must not add its own wait. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	return 0;
}

static void loopback_addr(struct sockaddr_in *sa, int port)
{
	memset(sa, 0, sizeof *sa);
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* -B: before listen() or connect(), so the window scale fits the buffer.
 * Accepted sockets inherit the listener's. */
static void set_sockbuf(int fd, int bytes)
{
	if (bytes <= 0)
		return;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof bytes);
}

static int listen_loopback(int port, int sockbuf)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	set_sockbuf(fd, sockbuf);
	loopback_addr(&sa, port);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(fd, 64) < 0 || set_nonblocking(fd) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int connect_loopback(int port, int sockbuf)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	set_sockbuf(fd, sockbuf);
	loopback_addr(&sa, port);
	/* A loopback connect completes or fails at once; blocking is fine. */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static int direction_init(struct direction *d, const struct config *cfg,
			  int from, int to, int link, int64_t now)
{
	memset(d, 0, sizeof *d);
	d->from = from;
	d->to = to;
	d->link = link;
	d->cap = cfg->ring_size;
	d->buf = malloc(d->cap);
	if (!d->buf)
		return -1;
	if (cfg->delay_ns > 0) {
		d->marks = calloc(RELAY_MARKS, sizeof *d->marks);
		if (!d->marks)
			return -1;
	}
	if (cfg->window > 0) {
		d->acks = calloc(RELAY_MARKS, sizeof *d->acks);
		if (!d->acks)
			return -1;
	}
	d->refill_ns = now;
	return 0;
}

static void direction_free(struct direction *d)
{
	free(d->buf);
	free(d->marks);
	free(d->acks);
	d->buf = NULL;
	d->marks = NULL;
	d->acks = NULL;
}

static double bucket_size(const struct config *cfg)
{
	double b = cfg->rate_bytes_per_ns * 2e6;     /* 2 ms of traffic */
	return b < 16384.0 ? 16384.0 : b;
}

static void refill(struct direction *d, const struct config *cfg, int64_t now)
{
	if (cfg->rate_bytes_per_ns <= 0)
		return;
	d->tokens += (double)(now - d->refill_ns) * cfg->rate_bytes_per_ns;
	double max = bucket_size(cfg);
	if (d->tokens > max)
		d->tokens = max;
	d->refill_ns = now;
}

static double link_bucket_size(const struct config *cfg)
{
	double b = cfg->link_bytes_per_ns * 5e6;     /* 5 ms of traffic */
	return b < RELAY_LINK_MIN ? RELAY_LINK_MIN : b;
}

static void link_refill(const struct config *cfg, int64_t now)
{
	if (cfg->link_bytes_per_ns <= 0)
		return;
	double max = link_bucket_size(cfg);
	for (int k = 0; k < 2; k++) {
		link_bucket[k].tokens += (double)(now - link_bucket[k].refill_ns) *
					 cfg->link_bytes_per_ns;
		if (link_bucket[k].tokens > max)
			link_bucket[k].tokens = max;
		link_bucket[k].refill_ns = now;
	}
}

/* Moves `released` forward over every mark that is due, and `acked` over
 * every acknowledgement that is back. */
static void release_due(struct direction *d, int64_t now)
{
	if (!d->marks) {
		d->released = d->in;
	} else {
		while (d->mark_count > 0 && d->marks[d->mark_head].release_ns <= now) {
			d->released = d->marks[d->mark_head].end;
			d->mark_head = (d->mark_head + 1) % RELAY_MARKS;
			d->mark_count--;
		}
	}
	while (d->ack_count > 0 && d->acks[d->ack_head].release_ns <= now) {
		d->acked = d->acks[d->ack_head].end;
		d->ack_head = (d->ack_head + 1) % RELAY_MARKS;
		d->ack_count--;
	}
}

/* Bytes the window lets this direction read now: UINT64_MAX without -W, 0
 * while fewer than RELAY_MIN_READ would fit next to what is in flight. */
static uint64_t window_room(const struct direction *d, const struct config *cfg)
{
	if (cfg->window == 0)
		return UINT64_MAX;
	uint64_t flight = d->in - d->acked;
	uint64_t room = flight >= cfg->window ? 0 : cfg->window - flight;
	return room < RELAY_MIN_READ && flight > 0 ? 0 : room;
}

static bool link_ready(const struct direction *d, const struct config *cfg)
{
	return cfg->link_bytes_per_ns <= 0 ||
	       link_bucket[d->link].tokens >= RELAY_LINK_MIN;
}

/* Would read if the path (window, link) allowed it. */
static bool wants_read_ring(const struct direction *d)
{
	if (d->eof)
		return false;
	if (d->in - d->out >= d->cap)
		return false;
	return !d->marks || d->mark_count < RELAY_MARKS;
}

static bool wants_read(const struct direction *d, const struct config *cfg)
{
	return wants_read_ring(d) && window_room(d, cfg) > 0 && link_ready(d, cfg);
}

/* Bytes that may be written now, ignoring the socket's readiness. */
static size_t writable_now(const struct direction *d, const struct config *cfg)
{
	uint64_t avail = d->released - d->out;
	if (avail == 0)
		return 0;
	if (d->acks && d->ack_count == RELAY_MARKS)
		return 0;
	if (cfg->rate_bytes_per_ns > 0) {
		uint64_t want = avail < RELAY_MIN_WRITE ? avail : RELAY_MIN_WRITE;
		if (d->tokens < (double)want)
			return 0;
		if ((double)avail > d->tokens)
			avail = (uint64_t)d->tokens;
	}
	size_t contiguous = d->cap - (size_t)(d->out % d->cap);
	return avail < contiguous ? (size_t)avail : contiguous;
}

/* Earliest time this direction needs attention without any socket event. */
static int64_t next_timer(const struct direction *d, const struct config *cfg)
{
	int64_t t = INT64_MAX;
	if (d->marks && d->mark_count > 0)
		t = d->marks[d->mark_head].release_ns;
	uint64_t avail = d->released - d->out;
	if (avail > 0 && cfg->rate_bytes_per_ns > 0) {
		uint64_t want = avail < RELAY_MIN_WRITE ? avail : RELAY_MIN_WRITE;
		if (d->tokens < (double)want) {
			double wait = ((double)want - d->tokens) / cfg->rate_bytes_per_ns;
			int64_t tt = d->refill_ns + (int64_t)wait + 1;
			if (tt < t)
				t = tt;
		}
	}
	if (wants_read_ring(d)) {
		/* Blocked by the path: wake when an acknowledgement is back or
		 * the link has tokens again. */
		if (window_room(d, cfg) == 0 && d->ack_count > 0 &&
		    d->acks[d->ack_head].release_ns < t)
			t = d->acks[d->ack_head].release_ns;
		if (!link_ready(d, cfg)) {
			double wait = (RELAY_LINK_MIN - link_bucket[d->link].tokens) /
				      cfg->link_bytes_per_ns;
			int64_t tt = link_bucket[d->link].refill_ns + (int64_t)wait + 1;
			if (tt < t)
				t = tt;
		}
	}
	return t;
}

/* Reads once into the ring.  -1 on a hard error of the connection. */
static int direction_read(struct direction *d, const struct config *cfg,
			  int64_t now, int64_t *activity)
{
	if (!wants_read(d, cfg))
		return 0;
	size_t used = (size_t)(d->in - d->out);
	size_t pos = (size_t)(d->in % d->cap);
	size_t room = d->cap - used;
	size_t contiguous = d->cap - pos;
	size_t n = room < contiguous ? room : contiguous;
	uint64_t path = window_room(d, cfg);
	if (cfg->link_bytes_per_ns > 0 && (double)path > link_bucket[d->link].tokens)
		path = (uint64_t)link_bucket[d->link].tokens;
	if (path < n)
		n = (size_t)path;
	ssize_t r = read(d->from, d->buf + pos, n);
	if (r < 0)
		return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? 0 : -1;
	*activity = now;
	if (r == 0) {
		d->eof = true;
		return 0;
	}
	d->in += (uint64_t)r;
	if (cfg->link_bytes_per_ns > 0)
		link_bucket[d->link].tokens -= (double)r;
	if (d->marks) {
		size_t slot = (d->mark_head + d->mark_count) % RELAY_MARKS;
		d->marks[slot].release_ns = now + cfg->delay_ns;
		d->marks[slot].end = d->in;
		d->mark_count++;
	} else {
		d->released = d->in;
	}
	return 0;
}

/* The bytes written so far are acknowledged at `when`.  A write close after
 * the previous one extends that one's mark (acknowledged at most
 * RELAY_ACK_MERGE_NS early), so the marks cannot run out in a busy loop. */
static void note_ack(struct direction *d, int64_t when)
{
	if (d->ack_count > 0) {
		struct mark *last = &d->acks[(d->ack_head + d->ack_count - 1) % RELAY_MARKS];
		if (when - last->release_ns < RELAY_ACK_MERGE_NS) {
			last->end = d->out;
			return;
		}
	}
	size_t slot = (d->ack_head + d->ack_count) % RELAY_MARKS;
	d->acks[slot].release_ns = when;
	d->acks[slot].end = d->out;
	d->ack_count++;
}

/* Writes what is due.  -1 on a hard error of the connection. */
static int direction_write(struct direction *d, const struct config *cfg,
			   int64_t now, int64_t *activity, uint64_t *total)
{
	for (;;) {
		refill(d, cfg, now);
		size_t n = writable_now(d, cfg);
		if (n == 0)
			break;
		ssize_t w = write(d->to, d->buf + d->out % d->cap, n);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			return -1;
		}
		*activity = now;
		d->out += (uint64_t)w;
		*total += (uint64_t)w;
		if (cfg->rate_bytes_per_ns > 0)
			d->tokens -= (double)w;
		if (d->acks)
			note_ack(d, now + cfg->delay_ns);
		if ((size_t)w < n)
			break;
	}
	if (d->eof && d->out == d->in && !d->shut) {
		/* Pass the half-close on so `nc -N`-style senders work. */
		(void)shutdown(d->to, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

static void connection_close(struct connection *c, const struct config *cfg)
{
	uint64_t up = c->dir[0].out, down = c->dir[1].out;
	double secs = (double)(now_ns() - c->start_ns) / 1e9;
	close(c->client);
	close(c->server);
	direction_free(&c->dir[0]);
	direction_free(&c->dir[1]);
	c->used = false;
	connections_done++;
	if (!cfg->quiet)
		fprintf(stderr, "relay: connection %ld %s: up %llu bytes, down %llu bytes, "
			"%.3f s (up %.1f MiB/s)\n",
			c->id, c->failed ? "reset" : "closed",
			(unsigned long long)up, (unsigned long long)down, secs,
			secs > 0 ? (double)up / 1048576 / secs : 0.0);
	write_totals(cfg);
}

static void accept_one(int lfd, struct connection *conns, const struct config *cfg,
		       long *accepted, int *active, int64_t now)
{
	int client = accept(lfd, NULL, NULL);
	if (client < 0)
		return;
	(*accepted)++;
	int server = connect_loopback(cfg->dest_port, cfg->sockbuf);
	if (server < 0) {
		fprintf(stderr, "relay: connect 127.0.0.1:%d: %s\n", cfg->dest_port,
			strerror(errno));
		close(client);
		connections_done++;
		write_totals(cfg);
		return;
	}
	struct connection *c = NULL;
	for (int i = 0; i < RELAY_ACTIVE_MAX; i++)
		if (!conns[i].used) {
			c = &conns[i];
			break;
		}
	/* The caller only polls the listener while a slot is free. */
	if (!c || set_nonblocking(client) < 0 || set_nonblocking(server) < 0)
		goto fail;
	memset(c, 0, sizeof *c);
	c->client = client;
	c->server = server;
	c->id = *accepted;
	c->start_ns = now;
	if (direction_init(&c->dir[0], cfg, client, server, 0, now) < 0 ||
	    direction_init(&c->dir[1], cfg, server, client, 1, now) < 0) {
		direction_free(&c->dir[0]);
		direction_free(&c->dir[1]);
		goto fail;
	}
	c->used = true;
	(*active)++;
	return;
fail:
	fprintf(stderr, "relay: cannot set up connection: %s\n", strerror(errno));
	close(client);
	close(server);
	connections_done++;
	write_totals(cfg);
}

static int run(const struct config *cfg)
{
	static struct connection conns[RELAY_ACTIVE_MAX];
	struct pollfd pfd[1 + 2 * RELAY_ACTIVE_MAX];
	int slot_of[1 + 2 * RELAY_ACTIVE_MAX];
	long accepted = 0;
	int active = 0;
	int lfd = listen_loopback(cfg->listen_port, cfg->sockbuf);
	if (lfd < 0) {
		fprintf(stderr, "relay: listen 127.0.0.1:%d: %s\n", cfg->listen_port,
			strerror(errno));
		return 1;
	}
	const int64_t start = now_ns();
	int64_t activity = start;
	const char *why = "done";
	int first = 0;               /* the connection served first this round */
	for (int k = 0; k < 2; k++) {
		link_bucket[k].refill_ns = start;
		link_bucket[k].tokens = link_bucket_size(cfg);
	}

	while (!stop_signal) {
		int64_t now = now_ns();
		if (accepted >= cfg->max_connections && active == 0)
			break;
		if (now - start >= cfg->total_ns) {
			why = "overall time limit";
			break;
		}
		if (now - activity >= cfg->idle_ns) {
			why = "idle time limit";
			break;
		}

		int64_t wake = start + cfg->total_ns;
		if (activity + cfg->idle_ns < wake)
			wake = activity + cfg->idle_ns;
		nfds_t n = 0;
		if (accepted < cfg->max_connections && active < RELAY_ACTIVE_MAX) {
			pfd[n].fd = lfd;
			pfd[n].events = POLLIN;
			slot_of[n++] = -1;
		}
		link_refill(cfg, now);
		for (int i = 0; i < RELAY_ACTIVE_MAX; i++) {
			struct connection *c = &conns[i];
			if (!c->used)
				continue;
			short ev_client = 0, ev_server = 0;
			for (int k = 0; k < 2; k++) {
				struct direction *d = &c->dir[k];
				release_due(d, now);
				refill(d, cfg, now);
				if (wants_read(d, cfg))
					*(k == 0 ? &ev_client : &ev_server) |= POLLIN;
				if (writable_now(d, cfg) > 0)
					*(k == 0 ? &ev_server : &ev_client) |= POLLOUT;
				int64_t t = next_timer(d, cfg);
				if (t < wake)
					wake = t;
			}
			/* An fd with nothing wanted is left out: a closed peer would
			 * otherwise wake poll with POLLHUP over and over while the
			 * relay waits for a delay or for tokens. */
			pfd[n].fd = ev_client ? c->client : -1;
			pfd[n].events = ev_client;
			slot_of[n++] = i;
			pfd[n].fd = ev_server ? c->server : -1;
			pfd[n].events = ev_server;
			slot_of[n++] = i;
		}
		int64_t wait_ns = wake - now;
		if (wait_ns < 0)
			wait_ns = 0;
		struct timespec timeout = {
			.tv_sec = (time_t)(wait_ns / 1000000000),
			.tv_nsec = (long)(wait_ns % 1000000000),
		};
		int r = ppoll(pfd, n, &timeout, NULL);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "relay: poll: %s\n", strerror(errno));
			why = "poll error";
			break;
		}
		now = now_ns();
		for (nfds_t j = 0; j < n; j++)
			if (slot_of[j] == -1 && (pfd[j].revents & POLLIN))
				accept_one(lfd, conns, cfg, &accepted, &active, now);

		/* Every connection gets a turn: due timers need no socket event,
		 * and a read or write that is not ready just says EAGAIN.  The
		 * turns start one used slot further each round, so no connection
		 * is always first at the shared link's tokens. */
		link_refill(cfg, now);
		for (int j = 1; j <= RELAY_ACTIVE_MAX; j++)
			if (conns[(first + j) % RELAY_ACTIVE_MAX].used) {
				first = (first + j) % RELAY_ACTIVE_MAX;
				break;
			}
		for (int j = 0; j < RELAY_ACTIVE_MAX; j++) {
			int i = (first + j) % RELAY_ACTIVE_MAX;
			struct connection *c = &conns[i];
			if (!c->used)
				continue;
			int err = 0;
			for (int k = 0; k < 2 && !err; k++) {
				struct direction *d = &c->dir[k];
				uint64_t *total = k == 0 ? &total_up : &total_down;
				err = direction_read(d, cfg, now, &activity);
				if (!err) {
					release_due(d, now);
					err = direction_write(d, cfg, now, &activity, total);
				}
			}
			if (err)
				c->failed = true;
			if (err || (c->dir[0].shut && c->dir[1].shut)) {
				connection_close(c, cfg);
				active--;
			}
		}
	}
	if (stop_signal)
		why = "signal";
	for (int i = 0; i < RELAY_ACTIVE_MAX; i++)
		if (conns[i].used)
			connection_close(&conns[i], cfg);
	close(lfd);
	write_totals(cfg);
	if (!cfg->quiet)
		fprintf(stderr, "relay: exit (%s): %ld connection(s), up %llu bytes, down %llu bytes\n",
			why, connections_done, (unsigned long long)total_up,
			(unsigned long long)total_down);
	return strcmp(why, "done") == 0 || strcmp(why, "signal") == 0 ? 0 : 2;
}

int main(int argc, char **argv)
{
	struct config cfg = {
		.max_connections = 1,
		.idle_ns = INT64_C(30) * 1000000000,
		.total_ns = INT64_C(900) * 1000000000,
		.ring_size = (size_t)8192 * 1024,
	};
	long v;
	double dv;
	int opt;
	while ((opt = getopt(argc, argv, "l:d:D:r:n:i:t:b:o:qR:W:L:B:h")) != -1) {
		switch (opt) {
		case 'l':
			if (parse_long(optarg, 1, 65535, &v) < 0)
				goto bad;
			cfg.listen_port = (int)v;
			break;
		case 'd':
			if (parse_long(optarg, 1, 65535, &v) < 0)
				goto bad;
			cfg.dest_port = (int)v;
			break;
		case 'D':
			if (parse_long(optarg, 0, 60000, &v) < 0)
				goto bad;
			cfg.delay_ns = (int64_t)v * 1000000;
			break;
		case 'R':
			if (parse_double(optarg, 0, 120000, &dv) < 0)
				goto bad;
			cfg.delay_ns = (int64_t)(dv * 1e6 / 2);
			break;
		case 'W':
			if (parse_long(optarg, 0, 1L << 30, &v) < 0)
				goto bad;
			cfg.window = (uint64_t)v;
			break;
		case 'L':
			if (parse_double(optarg, 0, 1e6, &dv) < 0)
				goto bad;
			cfg.link_bytes_per_ns = dv * 1048576.0 / 1e9;
			break;
		case 'B':
			if (parse_long(optarg, 0, 1024 * 1024, &v) < 0)
				goto bad;
			cfg.sockbuf = (int)v * 1024;
			break;
		case 'r':
			if (parse_double(optarg, 0, 1e6, &dv) < 0)
				goto bad;
			cfg.rate_bytes_per_ns = dv * 1e6 / 8.0 / 1e9;
			break;
		case 'n':
			if (parse_long(optarg, 1, 1000000, &v) < 0)
				goto bad;
			cfg.max_connections = v;
			break;
		case 'i':
			if (parse_long(optarg, 1, 86400, &v) < 0)
				goto bad;
			cfg.idle_ns = (int64_t)v * 1000000000;
			break;
		case 't':
			if (parse_long(optarg, 1, 86400, &v) < 0)
				goto bad;
			cfg.total_ns = (int64_t)v * 1000000000;
			break;
		case 'b':
			if (parse_long(optarg, 64, 1024 * 1024, &v) < 0)
				goto bad;
			cfg.ring_size = (size_t)v * 1024;
			break;
		case 'o':
			cfg.out_path = optarg;
			break;
		case 'q':
			cfg.quiet = true;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || cfg.listen_port == 0 || cfg.dest_port == 0)
		goto bad;
	/* The window, not the ring, must be what limits a connection. */
	if (cfg.window > cfg.ring_size)
		cfg.ring_size = (size_t)cfg.window;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	return run(&cfg);
bad:
	fputs(usage_text, stderr);
	return 64;
}
