/* Tests for src/server.c: admission, the count behind --max-clients, BUSY
 * and the stop's grace period (the accept loop itself runs in the shell
 * suites). */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "server.h"

static struct sockaddr_in src = { .sin_family = AF_INET };
#define SRC ((struct sockaddr *)&src)

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(server, admits_up_to_the_maximum_then_busy)
{
	struct server_admission a;

	server_admission_init(&a, 3);
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

Test(server, drain_returns_at_once_when_idle)
{
	struct server_admission a;
	double t0 = now();

	server_admission_init(&a, 1);
	cr_assert_eq(server_admit(&a, SRC), 0);
	server_release(&a, SRC);
	cr_assert_eq(server_drain(&a, 5000), 0);
	cr_assert_lt(now() - t0, 1.0);
	server_admission_destroy(&a);
}

static void *release_later(void *arg)
{
	usleep(100 * 1000);
	server_release(arg, SRC);
	return NULL;
}

Test(server, drain_waits_for_the_last_release)
{
	struct server_admission a;
	pthread_t t;
	double t0 = now();

	server_admission_init(&a, 2);
	cr_assert_eq(server_admit(&a, SRC), 0);
	cr_assert_eq(pthread_create(&t, NULL, release_later, &a), 0);
	cr_assert_eq(server_drain(&a, 5000), 0);
	cr_assert_geq(now() - t0, 0.09);
	cr_assert_lt(now() - t0, 4.0, "woken by the release, not the deadline");
	pthread_join(t, NULL);
	server_admission_destroy(&a);
}

Test(server, drain_gives_up_after_the_grace_period)
{
	struct server_admission a;
	double t0 = now(), took;

	server_admission_init(&a, 4);
	cr_assert_eq(server_admit(&a, SRC), 0);
	cr_assert_eq(server_admit(&a, SRC), 0);
	cr_assert_eq(server_drain(&a, 300), 2, "both still busy");
	took = now() - t0;
	cr_assert(took >= 0.29 && took < 3.0, "waited %.3f s for 300 ms", took);
	server_admission_destroy(&a);
}
