/*
 * helper_relay: a man in the middle on loopback for tests/keys.sh.  It
 * listens on 127.0.0.1 (a port the kernel picks, printed on stdout, one
 * line), takes one connection, connects to 127.0.0.1:TARGET and relays
 * both ways, frame by frame from the sender to the receiver (8-byte
 * headers, man/tcpxfer.5), doing one thing to the sender's frame number K
 * (0 is the HELLO, 1 KX_INIT, 2 KX_AUTH, 3 the first SEALED record):
 *   pass      nothing
 *   flip K    flips one bit in the middle of frame K
 *   drop K    leaves frame K out
 *   dup K     sends frame K twice (a replay)
 *   swap K    sends frame K + 1 before frame K (a reorder)
 *   cut K     sends half of frame K, then closes both ways (truncation)
 *   strip-s   clears SECURE (bit 4) in the sender's HELLO
 *   strip-r   clears SECURE in the receiver's HELLO
 * CAPTURE, if given, gets every byte the sender sent, as it came.
 * Ends when either side closes; exit status 0, 2 for usage or set-up.
 *
 * usage: helper_relay TARGET_PORT MODE [K] [CAPTURE]
 */
#define HELPER_NAME "helper_relay"
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper_common.h"

#define FRAME_MAX (8 + 262176 + 64)

static void put(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			exit(0);        /* the receiver went: the test goes on */
		p += w;
		n -= (size_t)w;
	}
}

static uint32_t frame_len(const uint8_t *p)
{
	return 8u + ((uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 |
		     (uint32_t)p[6] << 8 | p[7]);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	static uint8_t c2s[2 * FRAME_MAX], held[FRAME_MAX], s2c[65536];
	size_t have = 0, held_len = 0;
	long k = -1, frame = 0;
	int lfd, a, b, one = 1, s2c_seen = 0;
	FILE *cap = NULL;

	if (argc < 3)
		die("usage: helper_relay TARGET_PORT MODE [K] [CAPTURE]");
	const char *mode = argv[2];
	int with_k = strcmp(mode, "pass") && strncmp(mode, "strip", 5);
	if (with_k && argc < 4)
		die("%s needs K", mode);
	if (with_k)
		k = atol(argv[3]);
	const char *capture = argc > 3 + with_k ? argv[3 + with_k] : NULL;
	if (capture && !(cap = fopen(capture, "w")))
		die("%s: %s", capture, strerror(errno));
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(lfd, 1) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sin, &slen) < 0)
		die("listen: %s", strerror(errno));
	printf("%u\n", (unsigned)ntohs(sin.sin_port));
	fflush(stdout);
	a = accept(lfd, NULL, NULL);
	if (a < 0)
		die("accept: %s", strerror(errno));
	sin.sin_port = htons((uint16_t)atoi(argv[1]));
	b = socket(AF_INET, SOCK_STREAM, 0);
	if (b < 0 || connect(b, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("connect: %s", strerror(errno));
	for (;;) {
		struct pollfd p[2] = { { .fd = a, .events = POLLIN },
				       { .fd = b, .events = POLLIN } };
		if (poll(p, 2, 30000) <= 0)
			return 0;
		if (p[1].revents) {
			ssize_t r = recv(b, s2c, sizeof(s2c), 0);
			if (r <= 0)
				return 0;
			if (!strcmp(mode, "strip-r") && !s2c_seen && r >= 24)
				s2c[23] &= (uint8_t)~0x10;
			s2c_seen = 1;
			put(a, s2c, (size_t)r);
		}
		if (!p[0].revents)
			continue;
		ssize_t r = recv(a, c2s + have, sizeof(c2s) - have, 0);
		if (r <= 0)
			return 0;
		if (cap)
			fwrite(c2s + have, 1, (size_t)r, cap);
		have += (size_t)r;
		while (have >= 8 && have >= frame_len(c2s)) {
			size_t n = frame_len(c2s);
			if (frame == 0 && !strcmp(mode, "strip-s") && n >= 24)
				c2s[23] &= (uint8_t)~0x10;
			if (frame == k && !strcmp(mode, "flip"))
				c2s[n / 2 + 4] ^= 0x08;
			if (frame == k && !strcmp(mode, "cut")) {
				put(b, c2s, n / 2);
				return 0;
			}
			if (frame == k && !strcmp(mode, "swap")) {
				memcpy(held, c2s, n);
				held_len = n;
			} else if (!(frame == k && !strcmp(mode, "drop"))) {
				put(b, c2s, n);
				if (frame == k && !strcmp(mode, "dup"))
					put(b, c2s, n);
				if (held_len) {
					put(b, held, held_len);
					held_len = 0;
				}
			}
			memmove(c2s, c2s + n, have - n);
			have -= n;
			frame++;
		}
		if (have >= 8 && frame_len(c2s) > FRAME_MAX)
			die("frame of %u bytes", frame_len(c2s));
	}
}
