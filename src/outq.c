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
	q->cap = q->start = q->end = 0;
}

int outq_has_room(const struct outq *q)
{
	return q->cap - q->end >= q->reserve;
}

uint8_t *outq_tail(struct outq *q)
{
	return q->buf + q->end;
}

size_t outq_tail_room(const struct outq *q)
{
	return q->cap - q->end;
}

void outq_append(struct outq *q, size_t n)
{
	q->end += n;
}

void outq_pending(const struct outq *q, const uint8_t **p, size_t *len)
{
	*p = q->buf + q->start;
	*len = q->end - q->start;
}

size_t outq_len(const struct outq *q)
{
	return q->end - q->start;
}

void outq_consume(struct outq *q, size_t n)
{
	q->start += n;
	if (q->start == q->end) {
		q->start = q->end = 0;
	} else if (q->cap - q->end < q->reserve) {
		memmove(q->buf, q->buf + q->start, q->end - q->start);
		q->end -= q->start;
		q->start = 0;
	}
}
