/*
 * Tests for the two loops (src/send_loop.c, src/serve_loop.c) as the tools
 * run them: the real sending loop over real files against the real serving
 * loop writing through the real store, over a socketpair, in one process
 * (the serving loop in a thread).  The shell suites do the same with the
 * binaries over TCP; these pin the loops' own contract: exit statuses,
 * what lands on disk, and that each outcome reaches the right file.
 */
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "send_loop.h"
#include "serve_loop.h"
#include "source.h"
#include "store.h"
#include "testutil.h"
#include "ui.h"

struct rig {
	char src[40], dst[40];
	struct store st;
	struct serve_options sopt;
	int fds[2];
	pthread_t server;
	int close_early;        /* the serving side hangs up at once */
};

static void *serve_thread(void *arg)
{
	struct rig *g = arg;
	if (g->close_early) {
		close(g->fds[1]);
		return NULL;
	}
	serve_loop_run(g->fds[1], "test-sender", &g->st, &g->sopt);
	return NULL;
}

static void rig_up(struct rig *g, int overwrite)
{
	memset(g, 0, sizeof(*g));
	ui_init("test_session", UI_SENDER);
	ui_set_quiet(1);
	strcpy(g->src, "/tmp/tcpx-session-src.XXXXXX");
	strcpy(g->dst, "/tmp/tcpx-session-dst.XXXXXX");
	cr_assert(mkdtemp(g->src) && mkdtemp(g->dst));
	cr_assert_eq(store_open(&g->st, g->dst, overwrite), 0);
	g->sopt = (struct serve_options){ .timeout_ms = 10000, .stop_fd = -1 };
}

static void rig_down(struct rig *g)
{
	char cmd[200];
	store_close(&g->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", g->src, g->dst);
	cr_assert_eq(system(cmd), 0);
}

/* Writes n bytes of seeded content to src/name; returns the path (static
 * storage per slot). */
static char *make_file(struct rig *g, int slot, const char *name, size_t n,
		       uint32_t seed)
{
	static char paths[8][128];
	uint8_t *buf = malloc(n ? n : 1);
	cr_assert(buf != NULL);
	tu_fill_random(seed, 0, buf, n);
	snprintf(paths[slot], sizeof(paths[slot]), "%s/%s", g->src, name);
	int fd = open(paths[slot], O_WRONLY | O_CREAT | O_TRUNC, 0640);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, buf, n), (ssize_t)n);
	struct timespec ts[2] = { { 1600000000, 0 }, { 1600000000 + seed, 123456789 } };
	cr_assert_eq(futimens(fd, ts), 0);
	close(fd);
	free(buf);
	return paths[slot];
}

/* A file already on the receiver's side: dst/name holding text. */
static void plant(struct rig *g, const char *name, const char *text)
{
	char path[256];
	snprintf(path, sizeof(path), "%s/%s", g->dst, name);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* 1 if dst/name holds exactly the seeded content, with mode and mtime. */
static int arrived(struct rig *g, const char *name, size_t n, uint32_t seed)
{
	char path[256];
	struct stat sb;
	snprintf(path, sizeof(path), "%s/%s", g->dst, name);
	if (stat(path, &sb) < 0 || (size_t)sb.st_size != n ||
	    (sb.st_mode & 0777) != (0640 & ~g->st.umask) ||
	    sb.st_mtim.tv_sec != 1600000000 + seed ||
	    sb.st_mtim.tv_nsec != 123456789)
		return 0;
	uint8_t *want = malloc(n ? n : 1), *got = malloc(n ? n : 1);
	cr_assert(want && got);
	tu_fill_random(seed, 0, want, n);
	int fd = open(path, O_RDONLY);
	int same = fd >= 0 && read(fd, got, n) == (ssize_t)n &&
		   memcmp(want, got, n) == 0;
	if (fd >= 0)
		close(fd);
	free(want);
	free(got);
	return same;
}

/* Runs the sending loop over paths against the serving loop; the status. */
static int transfer(struct rig *g, char **paths, int n, int level)
{
	struct send_options opt = { .level = level, .timeout_ms = 10000 };
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, g->fds), 0);
	cr_assert_eq(pthread_create(&g->server, NULL, serve_thread, g), 0);
	struct source *src = source_new(paths, n, 0);
	cr_assert(src != NULL);
	int status = send_loop_run(g->fds[0], "test-receiver", &opt, src);
	source_free(src);
	close(g->fds[0]);
	pthread_join(g->server, NULL);
	return status;
}

Test(session, files_arrive_verified_with_mode_and_mtime)
{
	struct rig g;
	rig_up(&g, 0);
	char *paths[3] = {
		make_file(&g, 0, "empty", 0, 1),
		make_file(&g, 1, "small.txt", 1000, 2),
		make_file(&g, 2, "big.bin", 3 * TCPX_CHUNK_MAX + 17, 3),
	};
	cr_assert_eq(transfer(&g, paths, 3, 0), SEND_OK);
	cr_assert(arrived(&g, "empty", 0, 1));
	cr_assert(arrived(&g, "small.txt", 1000, 2));
	cr_assert(arrived(&g, "big.bin", 3 * TCPX_CHUNK_MAX + 17, 3));
	rig_down(&g);
}

Test(session, compressed_through_the_workers)
{
	struct rig g;
	rig_up(&g, 0);
	char *paths[2] = {
		make_file(&g, 0, "a.bin", 5 * TCPX_CHUNK_MAX + 3, 4),
		make_file(&g, 1, "b.bin", 100, 5),
	};
	cr_assert_eq(transfer(&g, paths, 2, 1), SEND_OK);
	cr_assert(arrived(&g, "a.bin", 5 * TCPX_CHUNK_MAX + 3, 4));
	cr_assert(arrived(&g, "b.bin", 100, 5));
	rig_down(&g);
}

Test(session, existing_file_refused_and_kept_others_arrive)
{
	struct rig g;
	char path[256];
	rig_up(&g, 0);
	snprintf(path, sizeof(path), "%s/taken", g.dst);
	plant(&g, "taken", "mine");
	char *paths[3] = {
		make_file(&g, 0, "first", 10, 6),
		make_file(&g, 1, "taken", 2 * TCPX_CHUNK_MAX, 7),
		make_file(&g, 2, "last", 20, 8),
	};
	cr_assert_eq(transfer(&g, paths, 3, 0), SEND_REFUSED);
	cr_assert(arrived(&g, "first", 10, 6));
	cr_assert(arrived(&g, "last", 20, 8));
	char buf[8] = { 0 };
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0 && read(fd, buf, sizeof(buf)) == 4);
	close(fd);
	cr_assert_str_eq(buf, "mine");
	rig_down(&g);
}

Test(session, unreadable_source_reported_others_sent)
{
	struct rig g;
	rig_up(&g, 0);
	char missing[128];
	snprintf(missing, sizeof(missing), "%s/no-such-file", g.src);
	char *paths[3] = { make_file(&g, 0, "x", 5, 9), missing, g.src };
	cr_assert_eq(transfer(&g, paths, 3, 0), SEND_UNREADABLE);
	cr_assert(arrived(&g, "x", 5, 9));
	rig_down(&g);
}

Test(session, overwrite_replaces)
{
	struct rig g;
	rig_up(&g, 1);
	plant(&g, "f", "old");
	char *paths[1] = { make_file(&g, 0, "f", 4096, 10) };
	cr_assert_eq(transfer(&g, paths, 1, 0), SEND_OK);
	cr_assert(arrived(&g, "f", 4096, 10));
	rig_down(&g);
}

/* More files than the sender's window of unanswered files: the loop must
 * keep reading RESULTs while it writes. */
Test(session, more_files_than_the_window)
{
	struct rig g;
	rig_up(&g, 0);
	enum { N = SENDER_WINDOW + 300 };
	static char names[N][80];
	static char *paths[N];
	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "%s/f%04d", g.src, i);
		int fd = open(names[i], O_WRONLY | O_CREAT, 0640);
		cr_assert(fd >= 0);
		cr_assert_eq(write(fd, names[i], 8), 8);
		close(fd);
		paths[i] = names[i];
	}
	cr_assert_eq(transfer(&g, paths, N, 0), SEND_OK);
	for (int i = 0; i < N; i += 97) {
		char path[256];
		struct stat sb;
		snprintf(path, sizeof(path), "%s/f%04d", g.dst, i);
		cr_assert_eq(stat(path, &sb), 0, "%s missing", path);
		cr_assert_eq(sb.st_size, 8);
	}
	rig_down(&g);
}

Test(session, receiver_hangs_up_at_once)
{
	struct rig g;
	rig_up(&g, 0);
	g.close_early = 1;
	char *paths[1] = { make_file(&g, 0, "f", 10, 11) };
	cr_assert_eq(transfer(&g, paths, 1, 0), SEND_CONNECTION);
	rig_down(&g);
}

/* ---- several connections: the join registry across serve loops ---------- */

static void no_closed(void *arg, const struct sockaddr_storage *src)
{
	(void)arg;
	(void)src;
}

/* One end of a socketpair for a serve loop (non-blocking), the other
 * for the test (blocking). */
static int loop_pair(struct serve_loop *l, int *mine)
{
	int fds[2];
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
	cr_assert_eq(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	serve_loop_add(l, fds[1], &ss, "test-sender");
	*mine = fds[0];
	return fds[0];
}

static void send_all(int fd, struct tu_buf *b)
{
	cr_assert_eq(write(fd, b->p, b->len), (ssize_t)b->len);
	b->len = 0;
}

/* The next frame from fd (bounded: 5 s); its type, payload in p. */
static uint8_t read_frame(int fd, uint8_t *p, size_t cap, uint32_t *len)
{
	uint8_t h[8];
	size_t got = 0, want = 8;
	uint8_t *dst = h;
	for (int part = 0; part < 2; part++) {
		while (got < want) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			cr_assert_eq(poll(&pfd, 1, 5000), 1, "no frame in 5 s");
			ssize_t r = read(fd, dst + got, want - got);
			cr_assert(r > 0, "connection ended");
			got += (size_t)r;
		}
		if (part == 0) {
			*len = be32_load(h + 4);
			cr_assert(*len <= cap);
			dst = p;
			got = 0;
			want = *len;
		}
	}
	return h[0];
}

static void put_join(struct tu_buf *b, const uint8_t *token, uint16_t index)
{
	tu_put_hello(b, 1, 1, TCPX_CAP_MULTI);
	tu_put_header(b, TCPX_FRAME_JOIN, 0, 0, 34);
	tu_buf_put(b, token, 32);
	tu_buf_be16(b, index);
}

/* A joining connection must be refused with ERROR 20 after its HELLO. */
static void expect_join_refused(int fd)
{
	uint8_t p[2048];
	uint32_t len;
	cr_assert_eq(read_frame(fd, p, sizeof(p), &len), TCPX_FRAME_HELLO);
	cr_assert_eq(read_frame(fd, p, sizeof(p), &len), TCPX_FRAME_ERROR);
	cr_assert_eq(be16_load(p), TCPX_E_JOIN);
	close(fd);
}

/* A session on one loop; a connection joining it from another loop is
 * handed over and carries a chunk; a used index, one beyond the count and
 * a wrong token are refused; the file is whole and verified. */
Test(session, joins_across_loops_and_refusals)
{
	struct rig g;
	uint8_t p[2048], token[32], bad[32], dg[64];
	uint32_t len;
	struct tu_buf b = { 0 };
	int own, lane, other;

	rig_up(&g, 0);
	g.sopt.max_streams = 2;
	struct serve_loop *l1 = serve_loop_start(&g.st, &g.sopt, no_closed, NULL);
	struct serve_loop *l2 = serve_loop_start(&g.st, &g.sopt, no_closed, NULL);
	cr_assert(l1 && l2);
	tu_digest_of((const uint8_t *)"0123456789", 10, dg);

	loop_pair(l1, &own);
	tu_put_hello(&b, 1, 1, TCPX_CAP_MULTI);
	tu_put_file(&b, 1, 10, "m");
	tu_put_header(&b, TCPX_FRAME_PLACE, 0, 0, 12);
	tu_buf_be32(&b, 1);
	tu_buf_be64(&b, 0);
	tu_put_data_raw(&b, "01234", 5);
	send_all(own, &b);
	cr_assert_eq(read_frame(own, p, sizeof(p), &len), TCPX_FRAME_HELLO);
	cr_assert_eq(be64_load(p + 8), TCPX_CAP_MULTI);
	cr_assert_eq(read_frame(own, p, sizeof(p), &len), TCPX_FRAME_STREAMS);
	cr_assert_eq(len, 34u);
	memcpy(token, p, 32);
	cr_assert_eq(be16_load(p + 32), 2);

	loop_pair(l2, &lane);           /* the other loop: handed over */
	put_join(&b, token, 1);
	send_all(lane, &b);
	cr_assert_eq(read_frame(lane, p, sizeof(p), &len), TCPX_FRAME_HELLO);
	cr_assert_eq(read_frame(lane, p, sizeof(p), &len), TCPX_FRAME_JOINED);

	put_join(&b, token, 1);         /* index 1 again */
	send_all(loop_pair(l2, &other), &b);
	expect_join_refused(other);
	put_join(&b, token, 3);         /* beyond the count of 2 */
	send_all(loop_pair(l1, &other), &b);
	expect_join_refused(other);
	memcpy(bad, token, 32);
	bad[31] ^= 1;                   /* one bit off */
	put_join(&b, bad, 2);
	send_all(loop_pair(l1, &other), &b);
	expect_join_refused(other);

	tu_put_header(&b, TCPX_FRAME_PLACE, 0, 0, 12);
	tu_buf_be32(&b, 1);
	tu_buf_be64(&b, 5);
	tu_put_data_raw(&b, "56789", 5);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	send_all(lane, &b);
	cr_assert_eq(read_frame(lane, p, sizeof(p), &len), TCPX_FRAME_BYE);
	tu_put_end(&b, dg);
	tu_put_empty(&b, TCPX_FRAME_BYE);
	send_all(own, &b);
	cr_assert_eq(read_frame(own, p, sizeof(p), &len), TCPX_FRAME_RESULT);
	cr_assert_eq(be16_load(p + 4), 0, "RESULT code %u", be16_load(p + 4));
	cr_assert_arr_eq(p + 8, dg, 64);
	cr_assert_eq(read_frame(own, p, sizeof(p), &len), TCPX_FRAME_BYE);

	char path[256];
	snprintf(path, sizeof(path), "%s/m", g.dst);
	int fd = open(path, O_RDONLY);
	cr_assert(fd >= 0);
	cr_assert_eq(read(fd, p, sizeof(p)), 10);
	cr_assert(memcmp(p, "0123456789", 10) == 0);
	close(fd);
	close(own);
	close(lane);
	serve_loop_stop(l1, 100);
	serve_loop_stop(l2, 100);
	serve_loop_join(l1);
	serve_loop_join(l2);
	tu_buf_free(&b);
	rig_down(&g);
}
