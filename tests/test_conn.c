/* Tests for src/conn.c: the refusal of a connection that is not served. */
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "proto.h"
#include "testutil.h"

Test(conn, refuse_sends_one_error_frame_then_closes)
{
	static const char msg[] = "receiver busy: too many clients, try later";
	struct tu_buf want = { 0 };
	uint8_t got[256];
	ssize_t n;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	conn_refuse(sv[0], TCPX_E_BUSY, msg);
	tu_put_error(&want, 9, msg);    /* man/tcpxfer.5: ERROR, code 9 */
	n = read(sv[1], got, sizeof(got));
	cr_assert_eq(n, (ssize_t)want.len);
	cr_assert(memcmp(got, want.p, want.len) == 0);
	cr_assert_eq(read(sv[1], got, sizeof(got)), 0, "then end of stream");
	cr_assert_eq(fcntl(sv[0], F_GETFD), -1, "the fd is closed");
	cr_assert_eq(errno, EBADF);
	close(sv[1]);
	tu_buf_free(&want);
}

/* The fd stays blocking, as accept4 returns it: only the send flags keep
 * conn_refuse from waiting. */
Test(conn, refuse_never_waits_for_a_full_socket, .timeout = 10)
{
	uint8_t junk[4096] = { 0 };
	int sv[2], sndbuf = 4096;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	while (send(sv[0], junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	/* A peer that reads nothing: conn_refuse must return, not block. */
	conn_refuse(sv[0], TCPX_E_BUSY, "busy");
	cr_assert_eq(fcntl(sv[0], F_GETFD), -1);
	close(sv[1]);
}

/* The write deadline is about replies the peer leaves unread: a queue that
 * is refilled after every write, but always written out in full, is never
 * "unread", even when every check happens to see it non-empty (as in
 * serve_loop, which queues RESULTs between its writes).  A bug once ended
 * long transfers of many small files after --timeout. */
/* A connected TCP pair on 127.0.0.1: SIOCOUTQ counts exact bytes there
 * (on AF_UNIX it counts buffer memory). */
static void tcp_pair(int sv[2])
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(l, 1), 0);
	cr_assert_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	sv[1] = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_eq(connect(sv[1], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[0] = accept(l, NULL, NULL);
	cr_assert_geq(sv[0], 0);
	close(l);
}

/* Until the kernel says the peer acknowledged everything (loopback: at
 * once, but asynchronously), bounded. */
static void until_acked(int fd)
{
	int n = 1;
	for (int i = 0; i < 1000 && n > 0; i++) {
		cr_assert_eq(ioctl(fd, SIOCOUTQ, &n), 0);
		if (n > 0)
			usleep(1000);
	}
	cr_assert_eq(n, 0);
}

Test(conn, write_deadline_restarts_when_the_queue_empties)
{
	struct frame_reader in;
	struct outq out;
	struct conn c;
	struct conn_limits lim = { .write_ms = 1000 };
	uint8_t junk[64];
	int sv[2];

	tcp_pair(sv);
	cr_assert_eq(frame_reader_init(&in, 4096, &proto_frame_limits), 0);
	cr_assert_eq(outq_init(&out, 4096, 0), 0);
	conn_init(&c, sv[0], &in, &out, &lim, -1);
	int64_t t = conn_now();
	for (int i = 0; i < 10; i++, t += 600) {
		memset(outq_tail(&out), 'x', 10);
		outq_append(&out, 10);
		cr_assert_eq(conn_check(&c, t), 0, "check %d: the peer reads everything", i);
		cr_assert_geq(conn_io(&c, 0), 0);
		cr_assert_eq(outq_len(&out), 0);
		until_acked(sv[0]);
		cr_assert_gt(read(sv[1], junk, sizeof(junk)), 0);
		memset(outq_tail(&out), 'y', 10);
		outq_append(&out, 10);  /* queued again before the next check */
		cr_assert_geq(conn_io(&c, 0), 0);
		until_acked(sv[0]);
	}
	/* Nothing written any more (the queue stays put): the deadline holds. */
	memset(outq_tail(&out), 'z', 10);
	outq_append(&out, 10);
	cr_assert_eq(conn_check(&c, t), 0);
	cr_assert_eq(conn_check(&c, t + 1001), -TCPX_E_TIMEOUT);
	cr_assert_eq(conn_timed_out(&c), CONN_WRITE);
	outq_free(&out);
	frame_reader_free(&in);
	close(sv[0]);
	close(sv[1]);
}

Test(conn, refuse_survives_a_peer_that_is_gone)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	/* No SIGPIPE: Criterion would report the test as crashed. */
	conn_refuse(sv[0], TCPX_E_BUSY, "busy");
	cr_assert_eq(fcntl(sv[0], F_GETFD), -1);
}

/* ---- SECURE in the connection layer (man/tcpxfer.5 SECURE) -------------- */

#include <sodium.h>

struct end {
	struct conn c;
	struct frame_reader in;
	struct outq out;
	uint8_t sk[64], pk[32];
	unsigned byes;           /* BYE frames taken out of the reader */
};

static void end_init(struct end *e, int fd, int role, size_t reader_cap,
		     uint8_t seed_byte)
{
	static const struct conn_limits lim = { 0 };
	uint8_t seed[32];
	memset(seed, seed_byte, 32);
	crypto_sign_seed_keypair(e->pk, e->sk, seed);
	cr_assert_eq(frame_reader_init(&e->in, reader_cap, &proto_frame_limits), 0);
	cr_assert_eq(outq_init(&e->out, 2 * TCPX_FRAME_BUF_MAX, TCPX_FRAME_BUF_MAX), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	conn_init(&e->c, fd, &e->in, &e->out, &lim, -1);
	struct conn_secure_config cfg = { .role = role, .sk = e->sk, .pk = e->pk };
	cr_assert_eq(conn_secure_enable(&e->c, &cfg), 0);
	e->byes = 0;
}

static void end_free(struct end *e)
{
	conn_free(&e->c);
	frame_reader_free(&e->in);
	outq_free(&e->out);
	close(e->c.fd);
}

static void queue_hello(struct end *e)
{
	struct tcpx_hello h = { 1, 1, TCPX_CAP_SECURE };
	outq_append(&e->out, proto_encode_hello(outq_tail(&e->out), &h));
}

/* Takes every whole frame out of the reader: HELLOs are dropped, BYEs
 * counted; 1 if a HELLO was among them. */
static int take(struct end *e)
{
	struct tcpx_frame f;
	int hello = 0;
	while (frame_reader_next(&e->in, &f) == 1) {
		if (f.type == TCPX_FRAME_HELLO)
			hello = 1;
		else if (f.type == TCPX_FRAME_BYE)
			e->byes++;
	}
	return hello;
}

/* Moves bytes both ways until done() or a bounded number of turns. */
static int pump(struct end *a, struct end *b, int (*done)(struct end *, struct end *))
{
	for (int i = 0; i < 100000 && !done(a, b); i++) {
		int ra = conn_io(&a->c, 0), rb = conn_io(&b->c, 0);
		if (ra < 0 || rb < 0)
			return ra < 0 ? ra : rb;
		take(a);
		take(b);
	}
	return done(a, b) ? 0 : -TCPX_E_TIMEOUT;
}

static int both_secured(struct end *a, struct end *b)
{
	return conn_secured(&a->c) && conn_secured(&b->c);
}

/* Two ends over a socketpair, through the HELLOs and the handshake. */
static void secure_pair(struct end *s, struct end *r, size_t s_reader)
{
	int sv[2];
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	end_init(s, sv[0], TCPX_ROLE_SENDER, s_reader, 1);
	end_init(r, sv[1], TCPX_ROLE_RECEIVER, PROTO_READER_CAP, 2);
	queue_hello(s);
	for (int i = 0; i < 1000 && !take(r); i++) {
		cr_assert_geq(conn_io(&s->c, 0), 0);
		cr_assert_geq(conn_io(&r->c, 0), 0);
	}
	queue_hello(r);
	cr_assert_eq(conn_secure_start(&r->c), 0);
	for (int i = 0; i < 1000 && !take(s); i++) {
		cr_assert_geq(conn_io(&r->c, 0), 0);
		cr_assert_geq(conn_io(&s->c, 0), 0);
	}
	cr_assert_eq(conn_secure_start(&s->c), 0);
	cr_assert_eq(pump(s, r, both_secured), 0);
}

static unsigned want_byes;
static int all_byes_in(struct end *a, struct end *b)
{
	return a->byes == want_byes && b->byes == want_byes &&
	       !conn_out_pending(&a->c) && !conn_out_pending(&b->c) &&
	       !conn_input_pending(&a->c) && !conn_input_pending(&b->c);
}

/* Queues n BYE frames (8 bytes each) as the queue takes them, pumping. */
static void stream_byes(struct end *from, struct end *a, struct end *b, unsigned n)
{
	for (unsigned i = 0; i < n; ) {
		while (i < n && outq_tail_room(&from->out) >= 8) {
			outq_append(&from->out, proto_encode_empty(outq_tail(&from->out),
								   TCPX_FRAME_BYE));
			i++;
		}
		cr_assert_geq(conn_io(&a->c, 0), 0);
		cr_assert_geq(conn_io(&b->c, 0), 0);
		take(a);
		take(b);
	}
}

Test(conn_secure, handshake_then_records_both_ways, .timeout = 20)
{
	struct end s, r;
	cr_assert_eq(sodium_init() >= 0, 1);
	/* The sender's reader is small (as its real one: 64 KiB): records
	 * from the receiver larger than it are delivered piece by piece. */
	secure_pair(&s, &r, 64 * 1024);
	cr_assert_eq(conn_secure_aes(&s.c), 0, "HELLOs without AES256GCM");
	want_byes = 100000;     /* 800 KB each way, records of up to 256 KiB */
	stream_byes(&r, &s, &r, want_byes);
	stream_byes(&s, &s, &r, want_byes);
	cr_assert_eq(pump(&s, &r, all_byes_in), 0);
	cr_assert_eq(s.byes, want_byes);
	cr_assert_eq(r.byes, want_byes);
	cr_assert_str_eq(conn_secure_why(&s.c), "");
	end_free(&s);
	end_free(&r);
}

static int failed_or_never(struct end *a, struct end *b)
{
	(void)a; (void)b;
	return 0;
}

/* A byte altered on the wire after the handshake ends the connection
 * with AUTH, and nothing of the record reaches the reader. */
Test(conn_secure, an_altered_record_ends_the_connection, .timeout = 20)
{
	struct end s, r;
	uint8_t rec[64];
	cr_assert_eq(sodium_init() >= 0, 1);
	secure_pair(&s, &r, 64 * 1024);
	/* A record of our own making, in the sender's place: its counter is
	 * right but the key is not, as for any forgery or alteration. */
	memset(rec, 0, sizeof(rec));
	frame_header_encode(rec, TCPX_FRAME_SEALED, 24);
	cr_assert_eq(write(s.c.fd, rec, 32), 32);
	size_t before = frame_reader_buffered(&r.in);
	int rc = pump(&s, &r, failed_or_never);
	cr_assert_eq(rc, -TCPX_E_AUTH);
	cr_assert_eq(frame_reader_buffered(&r.in), before);
	cr_assert(strstr(conn_secure_why(&r.c), "failed authentication") != NULL);
	/* What is queued now (the ERROR) leaves sealed: the sender opens it. */
	outq_append(&r.out, proto_encode_error(outq_tail(&r.out), TCPX_E_AUTH, ""));
	for (int i = 0; i < 100 && frame_reader_buffered(&s.in) == 0; i++) {
		conn_io(&r.c, 0);
		conn_io(&s.c, 0);
	}
	struct tcpx_frame f;
	cr_assert_eq(frame_reader_next(&s.in, &f), 1);
	cr_assert_eq(f.type, TCPX_FRAME_ERROR);
	end_free(&s);
	end_free(&r);
}
