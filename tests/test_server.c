/* Tests for src/server.c: admission, the counts behind --max-clients and
 * --max-per-source (the accept loop itself runs in the shell suites). */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "server.h"

static struct sockaddr_in src = { .sin_family = AF_INET };
#define SRC ((struct sockaddr *)&src)

Test(server, admits_up_to_the_maximum_then_busy)
{
	struct server_admission a;

	cr_assert_eq(server_admission_init(&a, 3, 3), 0);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(server_admit(&a, SRC), 0, "connection %d", i);
	cr_assert_eq(server_admit(&a, SRC), -TCPX_E_BUSY);
	cr_assert_eq(server_admit(&a, SRC), -TCPX_E_BUSY);
	cr_assert_eq(a.active, 3, "a refusal is not counted");
	server_release(&a, SRC);
	cr_assert_eq(server_admit(&a, SRC), 0, "a release frees one place");
	cr_assert_eq(server_admit(&a, SRC), -TCPX_E_BUSY);
	server_admission_destroy(&a);
}

static struct sockaddr_in v4(const char *dotted)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	cr_assert_eq(inet_pton(AF_INET, dotted, &a.sin_addr), 1);
	return a;
}

static struct sockaddr_in6 v6(const char *text)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6 };
	cr_assert_eq(inet_pton(AF_INET6, text, &a.sin6_addr), 1);
	return a;
}

#define SA(x) ((struct sockaddr *)&(x))

Test(server, per_source_limit_leaves_room_for_others)
{
	struct server_admission a;
	struct sockaddr_in one = v4("127.0.0.2"), two = v4("127.0.0.3");
	cr_assert_eq(server_admission_init(&a, 10, 2), 0);
	cr_assert_eq(server_admit(&a, SA(one)), 0);
	cr_assert_eq(server_admit(&a, SA(one)), 0);
	cr_assert_eq(server_admit(&a, SA(one)), -TCPX_E_BUSY);
	cr_assert_str_eq(a.refused_by, "--max-per-source");
	cr_assert_eq(server_admit(&a, SA(two)), 0, "another source still gets in");
	cr_assert_eq(server_from_source(&a, SA(one)), 2);
	cr_assert_eq(server_from_source(&a, SA(two)), 1);
	server_release(&a, SA(one));
	cr_assert_eq(server_admit(&a, SA(one)), 0, "a release frees its source's place");
	cr_assert_eq(a.active, 3);
	server_admission_destroy(&a);
}

Test(server, total_limit_names_itself)
{
	struct server_admission a;
	struct sockaddr_in one = v4("10.0.0.1"), two = v4("10.0.0.2");
	cr_assert_eq(server_admission_init(&a, 1, 5), 0);
	cr_assert_eq(server_admit(&a, SA(one)), 0);
	cr_assert_eq(server_admit(&a, SA(two)), -TCPX_E_BUSY);
	cr_assert_str_eq(a.refused_by, "--max-clients");
	server_admission_destroy(&a);
}

Test(server, ipv6_sources_are_slash_64s_and_mapped_v4_is_v4)
{
	struct server_admission a;
	struct sockaddr_in6 x1 = v6("2001:db8:1:2::1"), x2 = v6("2001:db8:1:2:ffff::9"),
			    y = v6("2001:db8:1:3::1"), m = v6("::ffff:192.0.2.7");
	struct sockaddr_in p = v4("192.0.2.7");
	cr_assert_eq(server_admission_init(&a, 10, 1), 0);
	cr_assert_eq(server_admit(&a, SA(x1)), 0);
	cr_assert_eq(server_admit(&a, SA(x2)), -TCPX_E_BUSY, "same /64");
	cr_assert_eq(server_admit(&a, SA(y)), 0, "another /64");
	cr_assert_eq(server_admit(&a, SA(p)), 0);
	cr_assert_eq(server_admit(&a, SA(m)), -TCPX_E_BUSY,
		     "an IPv4-mapped address is the same IPv4 source");
	server_admission_destroy(&a);
}

Test(server, many_sources_come_and_go)
{
	struct server_admission a;
	struct sockaddr_in s[64];
	char text[32];
	cr_assert_eq(server_admission_init(&a, 64, 1), 0);
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 64; i++) {
			snprintf(text, sizeof(text), "127.0.%d.%d", round, i + 2);
			s[i] = v4(text);
			cr_assert_eq(server_admit(&a, SA(s[i])), 0, "%s", text);
		}
		cr_assert_eq(server_admit(&a, SA(s[0])), -TCPX_E_BUSY);
		for (int i = 63; i >= 0; i -= 2)
			server_release(&a, SA(s[i]));
		for (int i = 62; i >= 0; i -= 2)
			server_release(&a, SA(s[i]));
		cr_assert_eq(a.active, 0);
		cr_assert_eq(a.nsources, 0);
	}
	server_admission_destroy(&a);
}

Test(server, displacing_passes_the_total_but_not_the_source_limit)
{
	struct server_admission a;
	struct sockaddr_in one = v4("10.1.0.1"), two = v4("10.1.0.2");
	cr_assert_eq(server_admission_init(&a, 1, 1), 0);
	cr_assert_eq(server_admit(&a, SA(one)), 0);
	cr_assert_eq(server_admit(&a, SA(two)), -TCPX_E_BUSY);
	cr_assert_eq(server_admit_displacing(&a, SA(two)), 0);
	cr_assert_eq(a.active, 2, "over the total while the displaced one closes");
	cr_assert_eq(server_admit_displacing(&a, SA(two)), -TCPX_E_BUSY,
		     "the per-source limit still holds");
	server_release(&a, SA(one));
	server_release(&a, SA(two));
	cr_assert_eq(a.active, 0);
	server_admission_destroy(&a);
}
