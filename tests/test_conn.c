/* Tests for src/conn.c: the refusal of a connection that is not served. */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
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

Test(conn, refuse_survives_a_peer_that_is_gone)
{
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	close(sv[1]);
	/* No SIGPIPE: Criterion would report the test as crashed. */
	conn_refuse(sv[0], TCPX_E_BUSY, "busy");
	cr_assert_eq(fcntl(sv[0], F_GETFD), -1);
}
