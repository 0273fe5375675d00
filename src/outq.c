/* outq: the one output queue type (outq.h). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "outq.h"

int outq_init(struct outq *q, size_t cap, size_t reserve)
{
	memset(q, 0, sizeof(*q));
	if (reserve > cap)
		return -TCPX_E_INTERNAL;
	q->buf = malloc(cap);
	if (!q->buf)
		return -TCPX_E_NOMEM;
	q->cap = cap;
	q->reserve = reserve;
	return 0;
}

void outq_free(struct outq *q)
{
	free(q->buf);
	q->buf = NULL;
	q->cap = q->start = q->end = q->wrap = 0;
}

/* Where the tail may write up to: the head once wrapped, else the end. */
static size_t limit(const struct outq *q)
{
	return q->wrap ? q->start : q->cap;
}

int outq_has_room(const struct outq *q)
{
	return limit(q) - q->end >= q->reserve;
}

uint8_t *outq_tail(struct outq *q)
{
	return q->buf + q->end;
}

size_t outq_tail_room(const struct outq *q)
{
	return limit(q) - q->end;
}

/* The one rule (outq.h): empty starts at the front; a tail short of
 * reserve wraps to the front when that much is free before the head. */
static void settle(struct outq *q)
{
	if (q->wrap && q->start == q->wrap) {
		q->start = 0;           /* the older run left: the newer one is all */
		q->wrap = 0;
	}
	if (q->start == q->end && !q->wrap) {
		q->start = q->end = 0;
	} else if (!q->wrap && q->cap - q->end < q->reserve &&
		   q->start >= q->reserve) {
		q->wrap = q->end;
		q->end = 0;
	}
}

void outq_append(struct outq *q, size_t n)
{
	q->end += n;
	settle(q);
}

void outq_pending(const struct outq *q, const uint8_t **p, size_t *len)
{
	*p = q->buf + q->start;
	*len = (q->wrap ? q->wrap : q->end) - q->start;
}

void outq_pending_next(const struct outq *q, const uint8_t **p, size_t *len)
{
	*p = q->buf;
	*len = q->wrap ? q->end : 0;
}

size_t outq_len(const struct outq *q)
{
	return q->wrap ? q->wrap - q->start + q->end : q->end - q->start;
}

void outq_consume(struct outq *q, size_t n)
{
	if (q->wrap && n >= q->wrap - q->start) {
		n -= q->wrap - q->start;
		q->start = 0;
		q->wrap = 0;
	}
	q->start += n;
	settle(q);
}
