/* Tests for src/conn.c: the refusal of a connection that is not served. */
#include <errno.h>
#include <fcntl.h>
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
Test(conn, write_deadline_restarts_when_the_queue_empties)
{
	struct frame_reader in;
	struct outq out;
	struct conn c;
	struct conn_limits lim = { .write_ms = 1000 };
	uint8_t junk[64];
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
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
		cr_assert_gt(read(sv[1], junk, sizeof(junk)), 0);
		memset(outq_tail(&out), 'y', 10);
		outq_append(&out, 10);  /* queued again before the next check */
		cr_assert_geq(conn_io(&c, 0), 0);
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
