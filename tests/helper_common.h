/*
 * helper_common.h: what the test peers (tests/helper_*.c) share: a fatal
 * error, the monotonic clock they time with, a TCP socket and address on
 * 127.0.0.1, the "SIG ..." summary line
 * the shell suites compare, and printing untrusted text escaped, so a line
 * of theirs can never carry a raw escape sequence.  Define HELPER_NAME
 * before including it.  Test code only.
 */
#ifndef TCPX_HELPER_COMMON_H
#define TCPX_HELPER_COMMON_H

#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static char sig[1 << 20];

__attribute__((format(printf, 1, 2), noreturn))
static inline void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, HELPER_NAME ": ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	exit(2);
}

static inline int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A TCP socket, and in *sa the address 127.0.0.1:port (0: any port). */
static inline int loopback(int port, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_port = htons((unsigned short)port);
	sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return socket(AF_INET, SOCK_STREAM, 0);
}

/* Appends one word to the SIG line. */
__attribute__((format(printf, 1, 2)))
static inline void sig_add(const char *fmt, ...)
{
	size_t l = strlen(sig);
	va_list ap;
	if (l + 32 >= sizeof(sig))
		return;
	if (l)
		sig[l++] = ' ';
	va_start(ap, fmt);
	vsnprintf(sig + l, sizeof(sig) - l, fmt, ap);
	va_end(ap);
}

/* Untrusted text from the peer, every non-printable byte escaped. */
static inline void print_text(const uint8_t *p, size_t n)
{
	putchar('"');
	for (size_t i = 0; i < n; i++) {
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\')
			putchar(p[i]);
		else
			printf("\\x%02x", p[i]);
	}
	putchar('"');
}

#endif
