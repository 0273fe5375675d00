/* place: the bytes of one file that arrived (place.h). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "place.h"

void place_init(struct place *p, uint64_t start, uint64_t size)
{
	p->start = p->hashed = start;
	p->size = size;
	p->arrived = 0;
	p->n = 0;
}

void place_free(struct place *p)
{
	free(p->r);
	p->r = NULL;
	p->n = 0;
}

int place_add(struct place *p, uint64_t off, uint64_t len)
{
	size_t i;

	if (len == 0 || off < p->hashed || off > p->size ||
	    len > p->size - off)
		return -TCPX_E_PLACE;
	if (off == p->hashed) {
		if (p->n && off + len > p->r[0].lo)
			return -TCPX_E_PLACE;
		p->arrived += len;
		return 0;
	}
	/* The first range that ends at or after off. */
	for (i = 0; i < p->n && p->r[i].hi < off; i++)
		;
	if (i < p->n && p->r[i].lo < off + len && off < p->r[i].hi)
		return -TCPX_E_PLACE;
	if (i < p->n && p->r[i].hi == off) {
		/* Extends range i, perhaps up to the next one. */
		if (i + 1 < p->n && off + len > p->r[i + 1].lo)
			return -TCPX_E_PLACE;
		p->r[i].hi = off + len;
		if (i + 1 < p->n && p->r[i + 1].lo == p->r[i].hi) {
			p->r[i].hi = p->r[i + 1].hi;
			memmove(&p->r[i + 1], &p->r[i + 2],
				(p->n - i - 2) * sizeof(p->r[0]));
			p->n--;
		}
	} else if (i < p->n && p->r[i].lo == off + len) {
		p->r[i].lo = off;
	} else {
		if (p->n == PLACE_RANGES_MAX)
			return -TCPX_E_PLACE;
		if (!p->r && !(p->r = malloc(PLACE_RANGES_MAX * sizeof(p->r[0]))))
			return -TCPX_E_NOMEM;
		memmove(&p->r[i + 1], &p->r[i], (p->n - i) * sizeof(p->r[0]));
		p->r[i] = (struct place_range){ off, off + len };
		p->n++;
	}
	p->arrived += len;
	return 1;
}

void place_hashed(struct place *p, uint64_t n)
{
	p->hashed += n;
	if (p->n && p->r[0].lo < p->hashed) {
		if (p->hashed >= p->r[0].hi) {
			memmove(&p->r[0], &p->r[1], (p->n - 1) * sizeof(p->r[0]));
			p->n--;
		} else {
			p->r[0].lo = p->hashed;
		}
	}
}

int place_readback(const struct place *p, uint64_t max, uint64_t *off,
		   uint64_t *len)
{
	if (p->n == 0 || p->r[0].lo != p->hashed)
		return 0;
	*off = p->hashed;
	*len = p->r[0].hi - p->r[0].lo < max ? p->r[0].hi - p->r[0].lo : max;
	return 1;
}

int place_complete(const struct place *p)
{
	return p->hashed == p->size;
}
