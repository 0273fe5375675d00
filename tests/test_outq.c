/* Tests for src/outq.c: the output queue, a bipartite buffer that never
 * moves a byte (outq.h). */
#include "testutil.h"

#include "outq.h"

/* Appends n bytes of value v at the tail. */
static void put(struct outq *q, size_t n, uint8_t v)
{
	cr_assert_geq(outq_tail_room(q), n);
	memset(outq_tail(q), v, n);
	outq_append(q, n);
}

/* Takes everything pending, in order (both runs), into out; returns the
 * count, without consuming. */
static size_t take(const struct outq *q, uint8_t *out)
{
	const uint8_t *p;
	size_t n, m;
	outq_pending(q, &p, &n);
	memcpy(out, p, n);
	outq_pending_next(q, &p, &m);
	memcpy(out + n, p, m);
	return n + m;
}

Test(outq, empty_starts_at_the_front)
{
	struct outq q;
	cr_assert_eq(outq_init(&q, 100, 40), 0);
	uint8_t *front = outq_tail(&q);
	put(&q, 30, 'a');
	outq_consume(&q, 30);
	cr_assert_eq(outq_len(&q), 0u);
	cr_assert_eq(outq_tail(&q), front);
	cr_assert(outq_has_room(&q));
	outq_free(&q);
}

/* Two frames of `reserve` in a buffer of two: the third is built in the
 * first one's place as soon as it left, without moving the second. */
Test(outq, wraps_instead_of_moving)
{
	struct outq q;
	uint8_t all[200];
	const uint8_t *p, *second;
	size_t n;

	cr_assert_eq(outq_init(&q, 200, 100), 0);
	uint8_t *front = outq_tail(&q);
	put(&q, 100, 'a');
	cr_assert(outq_has_room(&q));
	put(&q, 100, 'b');
	cr_assert_not(outq_has_room(&q));
	outq_pending(&q, &p, &n);
	second = p + 100;
	outq_consume(&q, 60);            /* a partial send: still no room */
	cr_assert_not(outq_has_room(&q));
	outq_consume(&q, 40);            /* the first frame left */
	cr_assert(outq_has_room(&q));
	cr_assert_eq(outq_tail(&q), front);
	outq_pending(&q, &p, &n);
	cr_assert_eq(p, second);         /* not moved */
	cr_assert_eq(n, 100u);
	put(&q, 100, 'c');
	cr_assert_not(outq_has_room(&q));
	cr_assert_eq(outq_len(&q), 200u);
	/* Both runs, oldest first, as one writev() takes them. */
	cr_assert_eq(take(&q, all), 200u);
	for (size_t i = 0; i < 200; i++)
		cr_assert_eq(all[i], i < 100 ? 'b' : 'c');
	/* A send that takes the older run and part of the newer. */
	outq_consume(&q, 130);
	cr_assert_eq(outq_len(&q), 70u);
	outq_pending(&q, &p, &n);
	cr_assert_eq(p, front + 30);
	cr_assert_eq(n, 70u);
	outq_pending_next(&q, &p, &n);
	cr_assert_eq(n, 0u);
	cr_assert(outq_has_room(&q));    /* 100 left at the tail */
	outq_consume(&q, 70);
	cr_assert_eq(outq_len(&q), 0u);
	cr_assert_eq(outq_tail(&q), front);
	outq_free(&q);
}

/* The newer run never reaches into the older one. */
Test(outq, wrapped_tail_stops_at_the_head)
{
	struct outq q;
	cr_assert_eq(outq_init(&q, 100, 30), 0);
	put(&q, 40, 'a');
	put(&q, 40, 'b');
	cr_assert_not(outq_has_room(&q));  /* 20 left at the tail */
	outq_consume(&q, 40);              /* 40 free before the head */
	cr_assert(outq_has_room(&q));
	cr_assert_eq(outq_tail_room(&q), 40u);
	put(&q, 30, 'c');
	cr_assert_not(outq_has_room(&q));
	cr_assert_eq(outq_tail_room(&q), 10u);
	cr_assert_eq(outq_len(&q), 70u);
	outq_consume(&q, 40);              /* the older run left */
	cr_assert_eq(outq_len(&q), 30u);
	cr_assert(outq_has_room(&q));
	cr_assert_eq(outq_tail_room(&q), 70u);
	outq_free(&q);
}

/* Random appends and consumes against a model: every byte comes out
 * once, in order. */
Test(outq, keeps_order_under_random_use)
{
	struct outq q;
	uint8_t out[512];
	uint32_t x = 12345;
	uint8_t next_in = 0, next_out = 0;
	size_t queued = 0;

	cr_assert_eq(outq_init(&q, 512, 128), 0);
	for (int step = 0; step < 20000; step++) {
		x = x * 1103515245u + 12345u;
		if ((x >> 16) & 1 && outq_has_room(&q)) {
			size_t n = 1 + (x >> 20) % 128;
			uint8_t *t = outq_tail(&q);
			for (size_t i = 0; i < n; i++)
				t[i] = next_in++;
			outq_append(&q, n);
			queued += n;
		} else if (queued) {
			size_t n = take(&q, out);
			cr_assert_eq(n, queued);
			size_t k = 1 + (x >> 20) % n;
			for (size_t i = 0; i < k; i++)
				cr_assert_eq(out[i], (uint8_t)(next_out + i));
			next_out = (uint8_t)(next_out + k);
			outq_consume(&q, k);
			queued -= k;
		}
		cr_assert_eq(outq_len(&q), queued);
	}
	outq_free(&q);
}
