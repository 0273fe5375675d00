/*
 * helper_hostile: a scriptable, deliberately misbehaving TCPX sender for
 * tests/hostile.sh, tests/faults.sh and tests/load.sh.
 *
 * It speaks to a real tcpget over loopback and reports, one line each, every
 * frame the receiver sends back, decoded:
 *
 *     HELLO <vmin> <vmax> <caps>
 *     RESULT <id> <code> "<msg>"
 *     ERROR <code> ms=<since our last byte> "<msg>"
 *     ANSWER <id> <disposition> <code> <offset>
 *     BYE
 *     EOF ms=<...> | RESET ms=<...> | NOEOF ms=<...>  (how the connection ended)
 *     SIG <summary>   e.g. "SIG H R1=32 B END": the line the tests compare
 *
 * In SIG, H is HELLO, Rn=c a RESULT for file n with code c, Ec an ERROR with
 * code c, An=d an ANSWER for offer n with disposition d (An=4/c: refused
 * with code c), B a BYE, END the connection closed by the receiver (EOF or reset:
 * which one is a matter of timing), NOEOF that it stayed open past the wait.
 *
 * Usage:
 *   helper_hostile [-H HOST] -p PORT [-w WAIT_MS] [-r RCVBUF] [-N] STEP...
 *                                                            one scripted connection
 *     -r sets SO_RCVBUF before connecting; -N never reads until the script
 *     is over (a sender that ignores its RESULTs)
 *   helper_hostile [-H HOST] -p PORT hold N SECONDS [silent] N idle connections
 *   helper_hostile [-H HOST] -p PORT garbage N SEED          N junk connections
 *   helper_hostile swap DIR/sub TARGET SECONDS MAXITER       symlink race loop
 *
 * Steps (numbers in C syntax: 12, 0x1f, 0644; ID may be "+" for "the next"):
 *   hello                       HELLO versions 1..1, capabilities ZLIB
 *   hello:VMIN:VMAX:CAPS        HELLO with these fields
 *   raw:HEX                     these bytes, as they are
 *   hdr:TYPE:FLAGS:RES:LEN      a frame header only
 *   file:ID:SIZE:NAME           FILE, mode 0644 (NAME is the rest of the step)
 *   filex:ID:SIZE:HEXNAME       FILE with a name given in hex
 *   filet:ID:SIZE:MTIME_SEC:NAME  FILE with this modification time (s64)
 *   mtime:SEC                   the next FILE's mtime_sec (s64, e.g. -1;
 *                               with filef, whose NSEC then counts forward)
 *   filef:ID:SIZE:MODE:NSEC:NAMELEN:NAME
 *                               FILE with explicit fields; NAMELEN "-" means
 *                               the real length (the frame length is always
 *                               30 + the real length)
 *   offer:ID:SIZE:POLICY:FLAGS:NAME
 *                               OFFER, mode 0644, mtime as for FILE (FLAGS
 *                               with CHECKSUM: a digest of zeros follows)
 *   resume:ID:SIZE:OFFSET:NAME  RESUME, the same fields; the digest of END
 *                               covers only what follows (so end:bad, or a
 *                               right END only where the receiver holds
 *                               nothing that matters)
 *   data:TEXT / datax:HEX       one raw DATA chunk (counted in the digest)
 *   fill:N[:BYTE]               N raw bytes of BYTE in chunks of 256 KiB
 *   datah:ENC:RAWLEN:HEX        a DATA frame with explicit fields (not hashed)
 *   zfill:RAWLEN:N[:BYTE]       one zlib DATA frame declaring RAWLEN whose
 *                               stream inflates to N bytes (N > RAWLEN: bomb)
 *   zraw:RAWLEN:HEX             a zlib DATA frame carrying these bytes
 *   ztrail:TEXT                 a valid zlib chunk of TEXT plus one extra byte
 *   zsfill:RAWLEN:N[:LIE]       one zstd DATA frame declaring RAWLEN whose
 *                               frame (window 256 KiB) decodes to N zero
 *                               bytes; its header says N, or RAWLEN with
 *                               LIE 1 (a bomb that passes the header check);
 *                               hashed when honest and N is RAWLEN
 *   zsraw:RAWLEN:HEX            a zstd DATA frame carrying these bytes
 *   end | end:bad | end:HEX     END with the right digest, a wrong one, or this
 *   send:SIZE[:bad|:HEX]        STREAM_END with SIZE and a digest as for end
 *                               (a stream: file:ID:0xffffffffffffffff:NAME
 *                               after hello:1:1:8)
 *   abort | bye                 ABORT, BYE
 *   files:N:PREFIX:SIZE         N whole files PREFIX1..PREFIXN (next ids),
 *                               SIZE bytes each, right digests
 *   sleep:MS                    send what is queued, then wait MS (reading)
 *   waitfile:PATH               send what is queued, then wait (<= 20 s) until
 *                               PATH exists
 *   waitframes:N                send, then wait until N frames came back
 *   waittemp:DIR                send, then wait (<= -w) until a temporary
 *                               file .tcpx-*.part exists in DIR; prints
 *                               TEMPSEEN or NOTEMP
 *   shut                        shutdown(SHUT_WR)
 *   close                       close now (no waiting for the receiver)
 *   rst                         close with SO_LINGER 0 (a reset)
 *
 * Writes that fail because the receiver already closed are reported on a
 * SENDFAIL line and the rest of the script is dropped; reading goes on, so
 * an ERROR the receiver sent is still seen.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "bytes.h"
#include "digest.h"
#include "frame.h"
#include "handshake.h"
#include "proto.h"

#define HELPER_NAME "helper_hostile"
#include "helper_common.h"

static const char *host = "127.0.0.1";
static const char *port;
static int wait_ms = 5000;
static int rcvbuf;          /* -r: SO_RCVBUF, 0 = default */
static int no_read;         /* -N: read nothing until the script is over */



static uint64_t num(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end)
		die("not a number: '%s'", s);
	return v;
}

/* ---- a growable output queue -------------------------------------- */

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void buf_reserve(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 65536;
	while (cap < b->len + more)
		cap *= 2;
	b->p = realloc(b->p, cap);
	if (!b->p)
		die("out of memory");
	b->cap = cap;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
	buf_reserve(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static size_t hex_decode(const char *s, struct buf *out)
{
	size_t n = strlen(s), start = out->len;
	if (n % 2)
		die("odd hex string '%s'", s);
	for (size_t i = 0; i < n; i += 2) {
		char two[3] = { s[i], s[i + 1], 0 };
		char *end;
		uint8_t v = (uint8_t)strtoul(two, &end, 16);
		if (*end)
			die("bad hex '%s'", s);
		buf_put(out, &v, 1);
	}
	return out->len - start;
}

/* ---- the connection and what comes back ---------------------------- */

static int fd = -1;
static int64_t t_last_send;             /* when our last byte left */
static uint8_t inbuf[2 * (TCPX_FRAME_HEADER_LEN + TCPX_MAX_PAYLOAD)];
static size_t inlen;
static int frames_in, ended, send_failed;


static int connect_to(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res, *ai;
	int s = -1, rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		die("%s: %s", host, gai_strerror(rc));
	for (ai = res; ai; ai = ai->ai_next) {
		s = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (s < 0)
			continue;
		if (rcvbuf)
			setsockopt(s, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (connect(s, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		close(s);
		s = -1;
	}
	freeaddrinfo(res);
	return s;
}

/* The largest payload a receiver may send of a type: proto's table, and
 * the SECURE frames (handshake.h), reported as F<type>. */
static int64_t max_from_receiver(uint8_t type)
{
	if (type == TCPX_FRAME_KX_REPLY || type == TCPX_FRAME_SEALED)
		return handshake_record_limits.max_payload(TCPX_FRAME_SEALED);
	return proto_max_payload(type);
}

/* Decodes what arrived; returns -1 once the receiver sent garbage. */
static int parse_input(void)
{
	size_t off = 0;
	while (inlen - off >= TCPX_FRAME_HEADER_LEN) {
		const uint8_t *h = inbuf + off;
		uint8_t type = h[0];
		uint32_t len = be32_load(h + 4);
		if (max_from_receiver(type) < 0 ||
		    h[1] || be16_load(h + 2) || len > max_from_receiver(type)) {
			printf("BADFRAME type=%u len=%u\n", type, len);
			sig_add("BADFRAME");
			return -1;
		}
		if (inlen - off < TCPX_FRAME_HEADER_LEN + (size_t)len)
			break;
		const uint8_t *p = h + TCPX_FRAME_HEADER_LEN;
		frames_in++;
		switch (type) {
		case TCPX_FRAME_HELLO:
			if (len >= 16) {
				printf("HELLO %u %u %llu\n", be16_load(p + 4),
				       be16_load(p + 6),
				       (unsigned long long)be64_load(p + 8));
			} else {
				printf("HELLO short\n");
			}
			sig_add("H");
			break;
		case TCPX_FRAME_RESULT:
			if (len >= 72) {
				uint16_t ml = be16_load(p + 6);
				if (72u + ml != len)
					ml = 0;
				printf("RESULT %u %u ", be32_load(p),
				       be16_load(p + 4));
				print_text(p + 72, ml);
				putchar('\n');
				sig_add("R%u=%u", be32_load(p), be16_load(p + 4));
			} else {
				printf("RESULT short\n");
				sig_add("Rshort");
			}
			break;
		case TCPX_FRAME_ERROR:
			if (len >= 4) {
				uint16_t ml = be16_load(p + 2);
				if (4u + ml != len)
					ml = 0;
				printf("ERROR %u ms=%lld ", be16_load(p),
				       (long long)(now_ms() - t_last_send));
				print_text(p + 4, ml);
				putchar('\n');
				sig_add("E%u", be16_load(p));
			} else {
				printf("ERROR short\n");
				sig_add("Eshort");
			}
			break;
		case TCPX_FRAME_ANSWER:
			if (len >= TCPX_ANSWER_FIXED_LEN) {
				printf("ANSWER %u %u %u %llu\n", be32_load(p), p[4],
				       be16_load(p + 6),
				       (unsigned long long)be64_load(p + 8));
				if (p[4] == TCPX_ANSWER_REFUSED)
					sig_add("A%u=4/%u", be32_load(p),
						be16_load(p + 6));
				else
					sig_add("A%u=%u", be32_load(p), p[4]);
			} else {
				printf("ANSWER short\n");
				sig_add("Ashort");
			}
			break;
		case TCPX_FRAME_BYE:
			printf("BYE\n");
			sig_add("B");
			break;
		default:
			printf("FRAME %u %u\n", type, len);
			sig_add("F%u", type);
		}
		off += TCPX_FRAME_HEADER_LEN + len;
	}
	memmove(inbuf, inbuf + off, inlen - off);
	inlen -= off;
	fflush(stdout);
	return 0;
}

/* Reads what is there; notes the end of the connection. */
static void read_some(void)
{
	while (!ended) {
		if (inlen == sizeof(inbuf)) {
			printf("BADFRAME overflow\n");
			ended = 1;
			return;
		}
		ssize_t n = recv(fd, inbuf + inlen, sizeof(inbuf) - inlen,
				 MSG_DONTWAIT);
		if (n > 0) {
			inlen += (size_t)n;
			if (parse_input() < 0) {
				ended = 1;
				return;
			}
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		printf("%s ms=%lld\n", n == 0 ? "EOF" : "RESET",
		       (long long)(now_ms() - t_last_send));
		if (inlen)
			printf("TRUNCATED %zu\n", inlen);
		sig_add("END");
		ended = 1;
	}
}

/* Sends out[] while reading, so replies never fill the pipe; the whole
 * thing is bounded by wait_ms without progress. */
static void flush_out(struct buf *out)
{
	size_t done = 0;
	int64_t last_progress = now_ms();

	if (send_failed) {
		out->len = 0;
		return;
	}
	while (done < out->len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN | POLLOUT };
		if (ended || no_read)
			pfd.events = POLLOUT;
		int pr = poll(&pfd, 1, 100);
		if (pr < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (!no_read && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			read_some();
		if (pfd.revents & (POLLOUT | POLLERR | POLLHUP)) {
			ssize_t w = send(fd, out->p + done, out->len - done,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0) {
				done += (size_t)w;
				t_last_send = last_progress = now_ms();
				continue;
			}
			if (w < 0 && errno != EAGAIN && errno != EINTR) {
				printf("SENDFAIL after %zu of %zu bytes: %s\n",
				       done, out->len, strerror(errno));
				send_failed = 1;
				break;
			}
		}
		if (now_ms() - last_progress > wait_ms) {
			printf("SENDSTUCK after %zu of %zu bytes\n", done, out->len);
			send_failed = 1;
			break;
		}
	}
	out->len = 0;
	fflush(stdout);
}

/* Waits (reading) until cond() holds, the connection ends, or ms pass. */
static void wait_until(int (*cond)(const void *), const void *arg, int ms)
{
	int64_t deadline = now_ms() + ms;
	while (!ended && !(cond && cond(arg)) && now_ms() < deadline) {
		struct pollfd pfd = { .fd = fd, .events = no_read ? 0 : POLLIN };
		int left = (int)(deadline - now_ms());
		if (left < 0)
			left = 0;
		poll(&pfd, 1, left > 50 ? 50 : left);
		if (pfd.revents && !no_read)
			read_some();
	}
}

static int path_exists(const void *path)
{
	struct stat sb;
	return lstat(path, &sb) == 0;
}

static int temp_in_dir(const void *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int found = 0;
	if (!d)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		found = strncmp(e->d_name, ".tcpx-", 6) == 0 && l > 11 &&
			strcmp(e->d_name + l - 5, ".part") == 0;
	}
	closedir(d);
	return found;
}

static int frames_reached(const void *n)
{
	return frames_in >= *(const int *)n;
}

/* ---- frame builders ------------------------------------------------ */

static struct digest dg;
static uint32_t last_id;

static uint32_t parse_id(const char *s)
{
	return strcmp(s, "+") == 0 ? last_id + 1 : (uint32_t)num(s);
}

static int64_t next_mtime = INT64_C(1700000000);

static void put_file(struct buf *out, uint32_t id, uint64_t size,
		     uint32_t mode, uint32_t nsec, long name_len_field,
		     const uint8_t *name, size_t name_len)
{
	uint8_t h[TCPX_FRAME_HEADER_LEN + TCPX_FILE_FIXED_LEN];
	uint8_t *p = h + TCPX_FRAME_HEADER_LEN;
	frame_header_encode(h, TCPX_FRAME_FILE,
			    (uint32_t)(TCPX_FILE_FIXED_LEN + name_len));
	be32_store(p, id);
	be64_store(p + 4, size);
	be32_store(p + 12, mode);
	be64_store(p + 16, (uint64_t)next_mtime);
	next_mtime = INT64_C(1700000000);
	be32_store(p + 24, nsec);
	be16_store(p + 28, (uint16_t)(name_len_field < 0 ? (long)name_len
							 : name_len_field));
	buf_put(out, h, sizeof(h));
	buf_put(out, name, name_len);
	last_id = id;
	digest_init(&dg);
}

static void put_raw_chunk(struct buf *out, const uint8_t *p, size_t n)
{
	uint8_t h[16];
	proto_encode_data_header(h, TCPX_ENCODING_RAW, (uint32_t)n, (uint32_t)n);
	buf_put(out, h, sizeof(h));
	buf_put(out, p, n);
	digest_update(&dg, p, n);
}

/* The digest END or STREAM_END carries: the data's, a wrong one ("bad")
 * or the one in hex. */
static void end_digest(const char *how, uint8_t d[DIGEST_LEN])
{
	struct digest copy = dg;
	digest_final(&copy, d);
	if (how && strcmp(how, "bad") == 0) {
		d[0] ^= 0x55;
	} else if (how) {
		struct buf b = { 0 };
		if (hex_decode(how, &b) != DIGEST_LEN)
			die("end:HEX needs 64 bytes");
		memcpy(d, b.p, DIGEST_LEN);
		free(b.p);
	}
}

static void put_end(struct buf *out, const char *how)
{
	uint8_t d[DIGEST_LEN], h[TCPX_FRAME_HEADER_LEN + DIGEST_LEN];
	end_digest(how, d);
	proto_encode_end(h, d);
	buf_put(out, h, sizeof(h));
}

/* STREAM_END: SIZE, then the digest as for END. */
static void put_stream_end(struct buf *out, uint64_t size, const char *how)
{
	uint8_t d[DIGEST_LEN], h[TCPX_FRAME_HEADER_LEN + TCPX_STREAM_END_LEN];
	end_digest(how, d);
	proto_encode_stream_end(h, size, d);
	buf_put(out, h, sizeof(h));
}

/* One zstd frame of n zero bytes, window 2^18, streamed in pieces (a
 * 64 MiB bomb needs no 64 MiB here); with lie, its 4-byte
 * Frame_Content_Size then says raw_len instead of n. */
static void put_zstd_fill(struct buf *out, uint32_t raw_len, uint64_t n, int lie)
{
	static uint8_t in[1 << 20];
	uint8_t hdr[16];
	struct buf z = { 0 };
	ZSTD_CCtx *c = ZSTD_createCCtx();
	if (!c || ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 19)) ||
	    ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_windowLog, 18)) ||
	    ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(c, n)))
		die("zstd context");
	memset(in, 0, sizeof(in));
	uint64_t left = n;
	size_t rc;
	do {
		size_t take = left > sizeof(in) ? sizeof(in) : (size_t)left;
		left -= take;
		ZSTD_inBuffer ib = { in, take, 0 };
		do {
			buf_reserve(&z, 65536);
			ZSTD_outBuffer ob = { z.p + z.len, z.cap - z.len, 0 };
			rc = ZSTD_compressStream2(c, &ob, &ib, left ? ZSTD_e_continue : ZSTD_e_end);
			if (ZSTD_isError(rc))
				die("zstd: %s", ZSTD_getErrorName(rc));
			z.len += ob.pos;
		} while (ib.pos < ib.size || (!left && rc));
	} while (left);
	ZSTD_freeCCtx(c);
	if (z.len > TCPX_CHUNK_MAX)
		die("zstd frame of %zu bytes does not fit one DATA frame", z.len);
	if (lie) {
		/* magic, FHD (FCS 4 bytes, not single segment), window byte */
		if (z.len < 10 || (z.p[4] & 0xe0) != 0x80)
			die("zstd frame header 0x%02x: not the expected layout", z.p[4]);
		for (int i = 0; i < 4; i++)
			z.p[6 + i] = (uint8_t)(raw_len >> (8 * i));
	}
	proto_encode_data_header(hdr, TCPX_ENCODING_ZSTD, raw_len, (uint32_t)z.len);
	buf_put(out, hdr, sizeof(hdr));
	buf_put(out, z.p, z.len);
	free(z.p);
	/* An honest chunk counts in the digest, as its content. */
	for (uint64_t i = 0; !lie && n == raw_len && i < n; i += sizeof(in))
		digest_update(&dg, in, (size_t)(n - i < sizeof(in) ? n - i : sizeof(in)));
}

/* One zlib stream of n bytes of `byte`, deflated in pieces so that a
 * 64 MiB bomb never needs 64 MiB of memory here either. */
static void put_zlib_fill(struct buf *out, uint32_t raw_len, uint64_t n,
			  uint8_t byte)
{
	static uint8_t in[1 << 20];
	uint8_t hdr[16];
	struct buf z = { 0 };
	z_stream zs = { 0 };
	memset(in, byte, sizeof(in));
	if (deflateInit(&zs, 9) != Z_OK)
		die("deflateInit");
	uint64_t left = n;
	int flush;
	do {
		size_t take = left > sizeof(in) ? sizeof(in) : (size_t)left;
		left -= take;
		flush = left ? Z_NO_FLUSH : Z_FINISH;
		zs.next_in = in;
		zs.avail_in = (uInt)take;
		do {
			buf_reserve(&z, 65536);
			zs.next_out = z.p + z.len;
			zs.avail_out = (uInt)(z.cap - z.len);
			deflate(&zs, flush);
			z.len = z.cap - zs.avail_out;
		} while (zs.avail_out == 0 || (flush == Z_FINISH && zs.avail_in));
	} while (left);
	deflateEnd(&zs);
	if (z.len > TCPX_CHUNK_MAX)
		die("zlib stream of %zu bytes does not fit one DATA frame", z.len);
	proto_encode_data_header(hdr, TCPX_ENCODING_ZLIB, raw_len, (uint32_t)z.len);
	buf_put(out, hdr, sizeof(hdr));
	buf_put(out, z.p, z.len);
	for (uint64_t i = 0; i < n && i < raw_len; i += sizeof(in))
		digest_update(&dg, in, (size_t)(n - i < sizeof(in) ? n - i : sizeof(in)));
	free(z.p);
	printf("ZLIB %llu bytes -> %zu bytes, declared raw_len %u\n",
	       (unsigned long long)n, z.len, raw_len);
}

static char *field(char **rest)
{
	char *s = *rest, *c;
	if (!s)
		die("missing field");
	c = strchr(s, ':');
	if (c) {
		*c = '\0';
		*rest = c + 1;
	} else {
		*rest = NULL;
	}
	return s;
}

static void run_step(struct buf *out, char *step)
{
	char *rest = strchr(step, ':');
	if (rest)
		*rest++ = '\0';

	if (!strcmp(step, "hello")) {
		struct tcpx_hello h = { 1, 1, TCPX_CAP_ZLIB };
		uint8_t b[TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN];
		if (rest) {
			h.version_min = (uint16_t)num(field(&rest));
			h.version_max = (uint16_t)num(field(&rest));
			h.caps = num(field(&rest));
		}
		proto_encode_hello(b, &h);
		buf_put(out, b, sizeof(b));
	} else if (!strcmp(step, "raw")) {
		hex_decode(rest ? rest : "", out);
	} else if (!strcmp(step, "hdr")) {
		uint8_t h[8];
		h[0] = (uint8_t)num(field(&rest));
		h[1] = (uint8_t)num(field(&rest));
		be16_store(h + 2, (uint16_t)num(field(&rest)));
		be32_store(h + 4, (uint32_t)num(field(&rest)));
		buf_put(out, h, 8);
	} else if (!strcmp(step, "file") || !strcmp(step, "filex")) {
		uint32_t id = parse_id(field(&rest));
		uint64_t size = num(field(&rest));
		if (!rest)
			rest = "";
		if (step[4] == 'x') {
			struct buf nm = { 0 };
			hex_decode(rest, &nm);
			put_file(out, id, size, 0644, 0, -1, nm.p ? nm.p : (const uint8_t *)"", nm.len);
			free(nm.p);
		} else {
			put_file(out, id, size, 0644, 0, -1, (const uint8_t *)rest,
				 strlen(rest));
		}
	} else if (!strcmp(step, "offer") || !strcmp(step, "resume")) {
		static const uint8_t zeros[DIGEST_LEN];
		uint8_t h[TCPX_FRAME_HEADER_LEN + TCPX_OFFER_FIXED_LEN + DIGEST_LEN +
			  TCPX_NAME_MAX];
		struct tcpx_offer o = { .meta = { .mode = 0644 } };
		uint64_t offset = 0;
		o.meta.id = parse_id(field(&rest));
		o.meta.size = num(field(&rest));
		if (step[0] == 'o') {
			o.policy = (uint8_t)num(field(&rest));
			o.flags = (uint8_t)num(field(&rest));
			o.digest = zeros;
		} else {
			offset = num(field(&rest));
		}
		if (!rest)
			rest = "";
		o.meta.mtime_sec = next_mtime;
		next_mtime = INT64_C(1700000000);
		o.meta.name = (const uint8_t *)rest;
		o.meta.name_len = (uint16_t)strnlen(rest, TCPX_NAME_MAX);
		buf_put(out, h, step[0] == 'o' ? proto_encode_offer(h, &o) :
			proto_encode_resume(h, &o.meta, offset));
		last_id = o.meta.id;
		digest_init(&dg);
	} else if (!strcmp(step, "filet")) {
		uint32_t id = parse_id(field(&rest));
		uint64_t size = num(field(&rest));
		char *t = field(&rest);
		next_mtime = t[0] == '-' ? -(int64_t)num(t + 1) : (int64_t)num(t);
		if (!rest)
			rest = "";
		put_file(out, id, size, 0644, 0, -1, (const uint8_t *)rest,
			 strlen(rest));
	} else if (!strcmp(step, "mtime")) {
		const char *t = rest ? rest : "";
		next_mtime = t[0] == '-' ? -(int64_t)num(t + 1) : (int64_t)num(t);
	} else if (!strcmp(step, "filef")) {
		uint32_t id = parse_id(field(&rest));
		uint64_t size = num(field(&rest));
		uint32_t mode = (uint32_t)num(field(&rest));
		uint32_t nsec = (uint32_t)num(field(&rest));
		char *nl = field(&rest);
		if (!rest)
			rest = "";
		put_file(out, id, size, mode, nsec,
			 strcmp(nl, "-") ? (long)num(nl) : -1,
			 (const uint8_t *)rest, strlen(rest));
	} else if (!strcmp(step, "data")) {
		put_raw_chunk(out, (const uint8_t *)(rest ? rest : ""),
			      rest ? strlen(rest) : 0);
	} else if (!strcmp(step, "datax")) {
		struct buf b = { 0 };
		hex_decode(rest ? rest : "", &b);
		put_raw_chunk(out, b.p, b.len);
		free(b.p);
	} else if (!strcmp(step, "fill")) {
		static uint8_t chunk[TCPX_CHUNK_MAX];
		uint64_t n = num(field(&rest));
		memset(chunk, rest ? (int)num(rest) : 'x', sizeof(chunk));
		while (n) {
			size_t take = n > sizeof(chunk) ? sizeof(chunk) : (size_t)n;
			put_raw_chunk(out, chunk, take);
			n -= take;
		}
	} else if (!strcmp(step, "datah")) {
		uint8_t enc = (uint8_t)num(field(&rest));
		uint32_t raw_len = (uint32_t)num(field(&rest));
		struct buf b = { 0 };
		hex_decode(rest ? rest : "", &b);
		uint8_t h[16];
		proto_encode_data_header(h, enc, raw_len, (uint32_t)b.len);
		buf_put(out, h, sizeof(h));
		if (b.len)
			buf_put(out, b.p, b.len);
		free(b.p);
	} else if (!strcmp(step, "zfill")) {
		uint32_t raw_len = (uint32_t)num(field(&rest));
		uint64_t n = num(field(&rest));
		put_zlib_fill(out, raw_len, n, rest ? (uint8_t)num(rest) : 0);
	} else if (!strcmp(step, "zsfill")) {
		uint32_t raw_len = (uint32_t)num(field(&rest));
		uint64_t n = num(field(&rest));
		put_zstd_fill(out, raw_len, n, rest ? (int)num(rest) : 0);
	} else if (!strcmp(step, "zsraw") || !strcmp(step, "zraw")) {
		int zs = step[1] == 's';
		uint32_t raw_len = (uint32_t)num(field(&rest));
		struct buf b = { 0 };
		hex_decode(rest ? rest : "", &b);
		uint8_t h[16];
		proto_encode_data_header(h, zs ? TCPX_ENCODING_ZSTD : TCPX_ENCODING_ZLIB,
					 raw_len, (uint32_t)b.len);
		buf_put(out, h, sizeof(h));
		buf_put(out, b.p, b.len);
		/* A valid stream or frame counts in the digest, as its content. */
		uint8_t *raw = malloc(raw_len ? raw_len : 1);
		uLongf rl = raw_len;
		size_t sl = 0;
		if (raw && (zs ? (sl = ZSTD_decompress(raw, raw_len, b.p, b.len),
				  !ZSTD_isError(sl) && sl == raw_len) :
			    uncompress(raw, &rl, b.p, (uLong)b.len) == Z_OK &&
			    rl == raw_len))
			digest_update(&dg, raw, raw_len);
		free(raw);
		free(b.p);
	} else if (!strcmp(step, "ztrail")) {
		const char *text = rest ? rest : "";
		uLong n = (uLong)strlen(text);
		uLongf zl = compressBound(n) + 1;
		uint8_t *z = malloc(zl), h[16];
		if (!z || compress2(z, &zl, (const Bytef *)text, n, 6) != Z_OK)
			die("compress2");
		z[zl++] = 0;    /* one trailing byte after the stream */
		proto_encode_data_header(h, TCPX_ENCODING_ZLIB, (uint32_t)n, (uint32_t)zl);
		buf_put(out, h, sizeof(h));
		buf_put(out, z, zl);
		digest_update(&dg, (const uint8_t *)text, n);
		free(z);
	} else if (!strcmp(step, "end")) {
		put_end(out, rest);
	} else if (!strcmp(step, "send")) {
		uint64_t size = num(field(&rest));
		put_stream_end(out, size, rest);
	} else if (!strcmp(step, "abort") || !strcmp(step, "bye")) {
		uint8_t h[8];
		proto_encode_empty(h, step[0] == 'a' ? TCPX_FRAME_ABORT : TCPX_FRAME_BYE);
		buf_put(out, h, 8);
	} else if (!strcmp(step, "files")) {
		uint32_t n = (uint32_t)num(field(&rest));
		char *prefix = field(&rest);
		uint64_t size = num(field(&rest));
		uint8_t *content = malloc(size ? size : 1);
		if (!content)
			die("out of memory");
		for (uint32_t i = 1; i <= n; i++) {
			char name[TCPX_NAME_MAX + 1];
			int nl = snprintf(name, sizeof(name), "%s%u", prefix, i);
			for (uint64_t k = 0; k < size; k++)
				content[k] = (uint8_t)(i * 31 + k);
			put_file(out, last_id + 1, size, 0644, 0, -1,
				 (const uint8_t *)name, (size_t)nl);
			for (uint64_t k = 0; k < size; k += TCPX_CHUNK_MAX)
				put_raw_chunk(out, content + k, size - k > TCPX_CHUNK_MAX
					      ? TCPX_CHUNK_MAX : (size_t)(size - k));
			put_end(out, NULL);
			/* Keep the queue small; replies are read meanwhile. */
			if (out->len > (1u << 20))
				flush_out(out);
		}
		free(content);
	} else if (!strcmp(step, "sleep")) {
		flush_out(out);
		wait_until(NULL, NULL, (int)num(rest ? rest : "0"));
	} else if (!strcmp(step, "waitfile")) {
		flush_out(out);
		wait_until(path_exists, rest ? rest : "", 20000);
		if (!path_exists(rest ? rest : ""))
			printf("WAITFILE timed out: %s\n", rest ? rest : "");
		/* keep waiting for the path even if the receiver closed */
		for (int i = 0; i < 400 && !path_exists(rest ? rest : ""); i++)
			usleep(50000);
	} else if (!strcmp(step, "waittemp")) {
		const char *dir = rest ? rest : ".";
		flush_out(out);
		wait_until(temp_in_dir, dir, wait_ms);
		printf("%s\n", temp_in_dir(dir) ? "TEMPSEEN" : "NOTEMP");
	} else if (!strcmp(step, "waitframes")) {
		int n = (int)num(rest ? rest : "1");
		flush_out(out);
		wait_until(frames_reached, &n, wait_ms);
	} else if (!strcmp(step, "shut")) {
		flush_out(out);
		shutdown(fd, SHUT_WR);
	} else if (!strcmp(step, "close") || !strcmp(step, "rst")) {
		flush_out(out);
		if (step[0] == 'r') {
			struct linger lg = { 1, 0 };
			setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		}
		read_some();
		close(fd);
		fd = -1;
		printf("CLOSED\n");
		sig_add("CLOSED");
	} else {
		die("unknown step '%s'", step);
	}
}

static int script(int argc, char **argv)
{
	struct buf out = { 0 };
	digest_init(&dg);
	fd = connect_to();
	if (fd < 0) {
		printf("CONNECTFAIL %s\nSIG CONNECTFAIL\n", strerror(errno));
		return 1;
	}
	t_last_send = now_ms();
	for (int i = 0; i < argc && fd >= 0; i++)
		run_step(&out, argv[i]);
	if (fd >= 0) {
		flush_out(&out);
		no_read = 0;
		wait_until(NULL, NULL, wait_ms);
		if (!ended) {
			printf("NOEOF ms=%lld\n", (long long)(now_ms() - t_last_send));
			sig_add("NOEOF");
		}
		close(fd);
	}
	printf("SIG %s\n", sig);
	free(out.p);
	return 0;
}

/* ---- hold: many idle connections ----------------------------------- */

static volatile sig_atomic_t stop_flag;

static void on_term(int s)
{
	(void)s;
	stop_flag = 1;
}

static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int hold(int n, int seconds, int silent)
{
	struct pollfd *pfd = calloc((size_t)n, sizeof(*pfd));
	int *state = calloc((size_t)n, sizeof(int)); /* 0 waiting, 1 hello, 2 other, 3 closed */
	int hellos = 0, others = 0, failed = 0, dropped = 0;
	uint8_t hb[TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN], rb[4096];
	struct tcpx_hello h = { 1, 1, TCPX_CAP_ZLIB };

	if (!pfd || !state)
		die("out of memory");
	raise_nofile();
	signal(SIGTERM, on_term);
	signal(SIGINT, on_term);
	proto_encode_hello(hb, &h);
	for (int i = 0; i < n; i++) {
		pfd[i].fd = connect_to();
		pfd[i].events = POLLIN;
		if (pfd[i].fd < 0) {
			failed++;
			state[i] = 3;
			continue;
		}
		if (!silent && send(pfd[i].fd, hb, sizeof(hb), MSG_NOSIGNAL) != (ssize_t)sizeof(hb))
			failed++;
	}
	/* Each connection's first answer: HELLO (accepted) or ERROR. */
	int64_t deadline = now_ms() + 20000;
	while (!silent && hellos + others + failed < n && now_ms() < deadline &&
	       !stop_flag) {
		poll(pfd, (nfds_t)n, 100);
		for (int i = 0; i < n; i++) {
			if (state[i] || !(pfd[i].revents))
				continue;
			ssize_t r = recv(pfd[i].fd, rb, sizeof(rb), MSG_DONTWAIT);
			if (r >= TCPX_FRAME_HEADER_LEN && rb[0] == TCPX_FRAME_HELLO) {
				state[i] = 1;
				hellos++;
			} else if (r != -1 || errno != EAGAIN) {
				state[i] = 2;
				others++;
			}
		}
	}
	printf("HELD %d hello=%d other=%d failed=%d\n", n - failed, hellos,
	       others, failed);
	fflush(stdout);
	deadline = now_ms() + (int64_t)seconds * 1000;
	while (!stop_flag && now_ms() < deadline) {
		poll(pfd, (nfds_t)n, 100);
		for (int i = 0; i < n; i++) {
			if (state[i] == 3 || !(pfd[i].revents))
				continue;
			ssize_t r = recv(pfd[i].fd, rb, sizeof(rb), MSG_DONTWAIT);
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				state[i] = 3;
				dropped++;
				close(pfd[i].fd);
				pfd[i].fd = -1;         /* poll ignores it */
			}
		}
	}
	for (int i = 0; i < n; i++)
		if (pfd[i].fd >= 0)
			close(pfd[i].fd);
	printf("RELEASED dropped=%d\n", dropped);
	free(pfd);
	free(state);
	return 0;
}

/* ---- garbage: junk connections one after another ------------------- */

static uint64_t rng_state;

static uint32_t rnd(void)
{
	/* xorshift64*: deterministic per seed */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * UINT64_C(2685821657736338717)) >> 32);
}

static int garbage(int n, uint64_t seed)
{
	int connfail = 0, eofs = 0, slow = 0, errors = 0, quick = 0;
	int codes[16] = { 0 };
	uint8_t blob[512], rb[4096];
	struct tcpx_hello h = { 1, 1, TCPX_CAP_ZLIB };
	int64_t t_end = now_ms() + 120000;

	rng_state = seed ? seed : 1;
	for (int i = 0; i < n && now_ms() < t_end; i++) {
		int s = connect_to();
		if (s < 0) {
			connfail++;
			continue;
		}
		size_t len = 1 + rnd() % 200, off = 0;
		uint32_t kind = rnd() % 4;
		if (kind == 0) {        /* a valid HELLO, then junk */
			proto_encode_hello(blob, &h);
			off = TCPX_FRAME_HEADER_LEN + TCPX_HELLO_LEN;
		} else if (kind == 1) { /* a plausible header, then junk */
			blob[0] = (uint8_t)(1 + rnd() % 8);
			blob[1] = blob[2] = blob[3] = 0;
			be32_store(blob + 4, rnd() % 64);
			off = 8;
		}
		for (size_t k = off; k < off + len; k++)
			blob[k] = (uint8_t)rnd();
		len += off;
		ssize_t w = send(s, blob, len, MSG_NOSIGNAL);
		(void)w;
		if (i % 2) {            /* hang up at once */
			quick++;
			close(s);
			continue;
		}
		/* Half close and read the verdict: the receiver must end the
		 * connection promptly (we sent EOF), whatever it thought. */
		shutdown(s, SHUT_WR);
		int64_t dl = now_ms() + 3000;
		size_t got = 0;
		for (;;) {
			struct pollfd pfd = { .fd = s, .events = POLLIN };
			int left = (int)(dl - now_ms());
			if (left <= 0) {
				slow++;
				break;
			}
			poll(&pfd, 1, left);
			ssize_t r = recv(s, rb + got, sizeof(rb) - got, MSG_DONTWAIT);
			if (r > 0) {
				got += (size_t)r;
				if (got == sizeof(rb))
					got = 0;
				continue;
			}
			if (r < 0 && errno == EAGAIN)
				continue;
			eofs++;
			break;
		}
		/* The last frame, if an ERROR, tells the code. */
		for (size_t k = 0; k + 12 <= got;) {
			uint32_t fl = be32_load(rb + k + 4);
			if (rb[k] == TCPX_FRAME_ERROR && k + 12 <= got) {
				errors++;
				codes[be16_load(rb + k + 8) & 15]++;
			}
			if (fl > sizeof(rb))
				break;
			k += 8 + fl;
		}
		close(s);
	}
	printf("GARBAGE n=%d connfail=%d quick=%d eof=%d slow=%d errors=%d codes:",
	       n, connfail, quick, eofs, slow, errors);
	for (int c = 0; c < 16; c++)
		if (codes[c])
			printf(" %d=%d", c, codes[c]);
	printf("\n");
	return connfail || slow;
}

/* ---- swap: a directory and a symlink trading places ---------------- */

static int swap_loop(const char *path, const char *target, int seconds,
		     long maxiter)
{
	char lnk[4096], real[4096];
	long i = 0, exchanges = 0, fallbacks = 0;
	snprintf(lnk, sizeof(lnk), "%s.lnk", path);
	snprintf(real, sizeof(real), "%s.real", path);
	unlink(lnk);
	if (symlink(target, lnk) < 0)
		die("symlink %s: %s", lnk, strerror(errno));
	int64_t deadline = now_ms() + (int64_t)seconds * 1000;
	for (; i < maxiter && now_ms() < deadline; i++) {
		/* Atomic: at every instant path is either the real directory
		 * or a symlink pointing outside. */
		if (renameat2(AT_FDCWD, path, AT_FDCWD, lnk, RENAME_EXCHANGE) == 0) {
			exchanges++;
			continue;
		}
		/* Without RENAME_EXCHANGE: the mv / ln -s dance. */
		fallbacks++;
		if (rename(path, real) == 0) {
			if (symlink(target, path) == 0)
				unlink(path);
			rename(real, path);
		}
	}
	/* Leave the real directory in place and the link beside it gone. */
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
		renameat2(AT_FDCWD, path, AT_FDCWD, lnk, RENAME_EXCHANGE);
	if (lstat(lnk, &sb) == 0 && S_ISLNK(sb.st_mode))
		unlink(lnk);
	printf("SWAPS iterations=%ld exchanges=%ld fallbacks=%ld\n", i,
	       exchanges, fallbacks);
	return 0;
}

int main(int argc, char **argv)
{
	int c;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((c = getopt(argc, argv, "+H:p:w:r:N")) != -1) {
		switch (c) {
		case 'r': rcvbuf = (int)num(optarg); break;
		case 'N': no_read = 1; break;
		case 'H': host = optarg; break;
		case 'p': port = optarg; break;
		case 'w': wait_ms = (int)num(optarg); break;
		default: die("usage: see the comment at the top of helper_hostile.c");
		}
	}
	argc -= optind;
	argv += optind;
	if (digest_global_init() < 0)
		die("libsodium");
	if (argc >= 1 && !strcmp(argv[0], "swap")) {
		if (argc != 5)
			die("swap DIR/sub TARGET SECONDS MAXITER");
		return swap_loop(argv[1], argv[2], (int)num(argv[3]), (long)num(argv[4]));
	}
	if (!port)
		die("-p PORT is required");
	if (argc >= 1 && !strcmp(argv[0], "hold")) {
		if (argc < 3)
			die("hold N SECONDS [silent]");
		return hold((int)num(argv[1]), (int)num(argv[2]),
			    argc > 3 && !strcmp(argv[3], "silent"));
	}
	if (argc >= 1 && !strcmp(argv[0], "garbage")) {
		if (argc != 3)
			die("garbage N SEED");
		return garbage((int)num(argv[1]), num(argv[2]));
	}
	return script(argc, argv);
}
