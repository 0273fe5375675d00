/*
 * helper_receiver: a scriptable fake TCPX receiver for the cases of
 * tests/hostile.sh that judge tcpput, where a real tcpget would be too well
 * behaved: one that stays silent, reads slowly, or closes without BYE.
 *
 * It listens on 127.0.0.1, prints "PORT <n>" (an ephemeral port) first,
 * accepts one connection and runs its steps, reporting every frame the
 * sender sends, one line each, decoded:
 *
 *     HELLO <vmin> <vmax> <caps>
 *     FILE <id> <size> "<name>"
 *     END <id> data=<bytes> | ABORT <id> data=<bytes>   (DATA is counted)
 *     BYE
 *     ERROR <code> ms=<since our last byte> "<msg>"
 *     FRAME <type> <length>                 (anything else)
 *     EOF ms=<since our last byte> | RESET ms=<...>      (the sender closed)
 *     SIG <summary>   e.g. "SIG H F1 E1 B ERR8 EOF": the line tests compare
 *
 * In SIG, H is HELLO, Fn FILE n, En END of file n, An ABORT of file n, B
 * BYE, ERRc ERROR with code c, EOF or RESET the sender's close, CLOSED our
 * own close, NOEOF that the sender kept the connection open past the last
 * wait.
 *
 * Usage: helper_receiver [-r RCVBUF] STEP...
 *   -r sets SO_RCVBUF on the listening socket (the connection inherits it)
 * Steps:
 *   hello                   wait for the sender's HELLO, answer HELLO 1 1
 *                           granting no capability (so DATA comes raw)
 *   silent:MS               read everything for MS ms, answer nothing
 *   slow:BYTES:EVERY:FOR    read at most BYTES every EVERY ms, for FOR ms
 *   answer                  read until the sender's BYE, answering each END
 *                           with RESULT 0 and the digest computed over its
 *                           DATA, each ABORT with RESULT 38 (files that
 *                           ended before this step are answered first)
 *   drain                   read until the sender's BYE, answering nothing
 *   bye                     send BYE
 *   hold:MS                 keep the connection open (reading) for MS ms, or
 *                           until the sender closes
 *   close                   close the connection now
 * After the last step it reads until the sender closes, at most 5 s.  Every
 * wait is bounded, so a sender that misbehaves cannot hang a test.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bytes.h"
#include "digest.h"
#include "error.h"
#include "frame.h"
#include "proto.h"

#define HELPER_NAME "helper_receiver"
#include "helper_common.h"

#define WAIT_MAX_MS 20000       /* the longest any step waits */
#define QUEUE_MAX 4096          /* files ended before "answer" */

static int fd = -1;
static int ended, got_hello, got_bye, answering;
static int64_t t_last_send;
static uint8_t inbuf[2 * (TCPX_FRAME_HEADER_LEN + TCPX_MAX_PAYLOAD)];
static size_t inlen;

/* The file in progress, and the verdicts owed. */
static struct digest dg;
static uint32_t cur_id;
static uint64_t cur_data;
static struct { uint32_t id; uint16_t code; uint8_t digest[DIGEST_LEN]; }
	owed[QUEUE_MAX];
static size_t n_owed;



static long num(const char *s)
{
	char *end;
	long v = strtol(s ? s : "", &end, 0);
	if (!s || end == s || *end)
		die("not a number: '%s'", s ? s : "");
	return v;
}


static void send_all(const uint8_t *p, size_t n)
{
	while (n > 0 && fd >= 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			printf("SENDFAIL %s\n", strerror(errno));
			return;
		}
		p += w;
		n -= (size_t)w;
		t_last_send = now_ms();
	}
}

static void send_owed(void)
{
	uint8_t b[TCPX_FRAME_HEADER_LEN + TCPX_RESULT_FIXED_LEN];
	for (size_t i = 0; i < n_owed; i++)
		send_all(b, proto_encode_result(b, owed[i].id, owed[i].code,
					       owed[i].code ? NULL : owed[i].digest,
					       NULL));
	n_owed = 0;
}

/* A file ended (code 0) or was aborted (38): its verdict is owed. */
static void owe(uint16_t code)
{
	if (n_owed == QUEUE_MAX)
		die("more than %d verdicts owed", QUEUE_MAX);
	owed[n_owed].id = cur_id;
	owed[n_owed].code = code;
	digest_final(&dg, owed[n_owed].digest);
	n_owed++;
	if (answering)
		send_owed();
}

static void on_frame(uint8_t type, const uint8_t *p, uint32_t len)
{
	if ((type == TCPX_FRAME_HELLO && len < TCPX_HELLO_LEN) ||
	    (type == TCPX_FRAME_FILE && len < TCPX_FILE_FIXED_LEN) ||
	    (type == TCPX_FRAME_DATA && len < TCPX_DATA_HEADER_LEN))
		type = 0;       /* too short to decode: reported as it is */
	switch (type) {
	case TCPX_FRAME_HELLO:
		printf("HELLO %u %u %llu\n", be16_load(p + 4), be16_load(p + 6),
		       (unsigned long long)be64_load(p + 8));
		sig_add("H");
		got_hello = 1;
		return;
	case TCPX_FRAME_FILE:
		cur_id = be32_load(p);
		cur_data = 0;
		digest_init(&dg);
		printf("FILE %u %llu ", cur_id, (unsigned long long)be64_load(p + 4));
		print_text(p + TCPX_FILE_FIXED_LEN, len - TCPX_FILE_FIXED_LEN);
		putchar('\n');
		sig_add("F%u", cur_id);
		return;
	case TCPX_FRAME_DATA:
		digest_update(&dg, p + TCPX_DATA_HEADER_LEN, len - TCPX_DATA_HEADER_LEN);
		cur_data += len - TCPX_DATA_HEADER_LEN;
		return;
	case TCPX_FRAME_END:
	case TCPX_FRAME_ABORT:
		printf("%s %u data=%llu\n", type == TCPX_FRAME_END ? "END" : "ABORT",
		       cur_id, (unsigned long long)cur_data);
		sig_add("%c%u", type == TCPX_FRAME_END ? 'E' : 'A', cur_id);
		owe(type == TCPX_FRAME_END ? 0 : TCPX_E_ABORTED);
		return;
	case TCPX_FRAME_BYE:
		printf("BYE\n");
		sig_add("B");
		got_bye = 1;
		return;
	case TCPX_FRAME_ERROR:
		printf("ERROR %u ms=%lld ", len >= 2 ? be16_load(p) : 0,
		       (long long)(now_ms() - t_last_send));
		print_text(p + 4, len >= 4 ? len - 4 : 0);
		putchar('\n');
		sig_add("ERR%u", len >= 2 ? be16_load(p) : 0);
		return;
	}
	printf("FRAME %u %u\n", type, len);
	sig_add("FRAME%u", type);
}

/* Handles the whole frames buffered; a bad header ends the connection. */
static void parse_input(void)
{
	size_t off = 0;
	while (inlen - off >= TCPX_FRAME_HEADER_LEN) {
		const uint8_t *h = inbuf + off;
		uint32_t len = be32_load(h + 4);
		int64_t max = proto_max_payload(h[0]);
		if (max < 0 || len > (uint64_t)max) {
			printf("BADFRAME type=%u len=%u\n", h[0], len);
			sig_add("BADFRAME");
			ended = 1;
			return;
		}
		if (inlen - off < TCPX_FRAME_HEADER_LEN + (size_t)len)
			break;
		on_frame(h[0], h + TCPX_FRAME_HEADER_LEN, len);
		off += TCPX_FRAME_HEADER_LEN + len;
	}
	memmove(inbuf, inbuf + off, inlen - off);
	inlen -= off;
	fflush(stdout);
}

/* Waits up to ms for bytes and reads at most max of them; notes the end.
 * The bytes read. */
static size_t read_some(size_t max, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	if (ended || fd < 0)
		return 0;
	if (poll(&pfd, 1, ms < 0 ? 0 : ms) <= 0)
		return 0;
	if (max > sizeof(inbuf) - inlen)
		max = sizeof(inbuf) - inlen;
	ssize_t n = recv(fd, inbuf + inlen, max, MSG_DONTWAIT);
	if (n > 0) {
		inlen += (size_t)n;
		parse_input();
		return (size_t)n;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	printf("%s ms=%lld\n", n == 0 ? "EOF" : "RESET",
	       (long long)(now_ms() - t_last_send));
	sig_add(n == 0 ? "EOF" : "RESET");
	ended = 1;
	return 0;
}

/* Reads, as fast as bytes come, until *flag is set, the end, or ms. */
static void read_until(const int *flag, int ms)
{
	int64_t deadline = now_ms() + ms;
	while (!ended && fd >= 0 && !(flag && *flag) && now_ms() < deadline)
		read_some(sizeof(inbuf), (int)(deadline - now_ms()));
}

static void slow(size_t bytes, int every, int for_ms)
{
	int64_t deadline = now_ms() + for_ms;
	size_t total = 0;
	while (!ended && fd >= 0 && now_ms() < deadline) {
		total += read_some(bytes, 0);
		usleep((useconds_t)every * 1000);
	}
	printf("SLOW %zu bytes read in %d ms\n", total, for_ms);
}

static void hello(void)
{
	struct tcpx_hello h = { TCPX_VERSION, TCPX_VERSION, 0 };
	uint8_t b[TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN];
	read_until(&got_hello, WAIT_MAX_MS);
	if (got_hello)
		send_all(b, proto_encode_hello(b, &h));
}

static void run_step(char *step)
{
	char *arg = strchr(step, ':');
	if (arg)
		*arg++ = '\0';
	if (!strcmp(step, "hello")) {
		hello();
	} else if (!strcmp(step, "silent") || !strcmp(step, "hold")) {
		read_until(NULL, (int)num(arg));
	} else if (!strcmp(step, "slow")) {
		char *every = arg ? strchr(arg, ':') : NULL;
		char *for_ms = every ? strchr(every + 1, ':') : NULL;
		if (!for_ms)
			die("slow:BYTES:EVERY_MS:FOR_MS");
		*every++ = '\0';
		*for_ms++ = '\0';
		slow((size_t)num(arg), (int)num(every), (int)num(for_ms));
	} else if (!strcmp(step, "answer") || !strcmp(step, "drain")) {
		answering = step[0] == 'a';
		if (answering)
			send_owed();
		read_until(&got_bye, WAIT_MAX_MS);
	} else if (!strcmp(step, "bye")) {
		uint8_t b[TCPX_FRAME_HEADER_LEN];
		send_all(b, proto_encode_empty(b, TCPX_FRAME_BYE));
	} else if (!strcmp(step, "close")) {
		close(fd);
		fd = -1;
		printf("CLOSED\n");
		sig_add("CLOSED");
	} else {
		die("unknown step '%s'", step);
	}
}

static int listen_here(int rcvbuf)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		die("socket: %s", strerror(errno));
	if (rcvbuf)
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 1) < 0 ||
	    getsockname(s, (struct sockaddr *)&a, &al) < 0)
		die("listen: %s", strerror(errno));
	printf("PORT %u\n", ntohs(a.sin_port));
	fflush(stdout);
	return s;
}

int main(int argc, char **argv)
{
	int c, rcvbuf = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "+r:")) != -1) {
		if (c != 'r')
			die("usage: see the comment at the top of helper_receiver.c");
		rcvbuf = (int)num(optarg);
	}
	if (digest_global_init() < 0)
		die("libsodium");
	int ls = listen_here(rcvbuf);
	struct pollfd pfd = { .fd = ls, .events = POLLIN };
	if (poll(&pfd, 1, WAIT_MAX_MS) <= 0)
		die("nobody connected within %d ms", WAIT_MAX_MS);
	fd = accept(ls, NULL, NULL);
	if (fd < 0)
		die("accept: %s", strerror(errno));
	close(ls);
	t_last_send = now_ms();
	for (int i = optind; i < argc; i++)
		run_step(argv[i]);
	if (fd >= 0) {
		read_until(NULL, 5000);
		if (!ended) {
			printf("NOEOF ms=%lld\n", (long long)(now_ms() - t_last_send));
			sig_add("NOEOF");
		}
		close(fd);
	}
	printf("SIG %s\n", sig);
	return 0;
}
