/* conn: the connection layer (conn.h). */
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "frame.h"
#include "proto.h"

void conn_refuse(int fd, uint16_t code, const char *msg)
{
	/* proto_encode_error cuts the message at TCPX_MSG_MAX. */
	uint8_t buf[TCPX_FRAME_HEADER_LEN + TCPX_ERROR_FIXED_LEN + TCPX_MSG_MAX];
	size_t n = proto_encode_error(buf, code, msg);

	/* One try, never a wait: the peer gets a reason instead of a
	 * timeout when its socket has room (a fresh one always has), and a
	 * peer that reads nothing cannot hold the accept loop.  MSG_NOSIGNAL:
	 * a peer already gone must not kill the server with SIGPIPE. */
	ssize_t w = send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w;
	close(fd);
}
