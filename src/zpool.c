/* zpool: ordered parallel chunk compression (zpool.h). */
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "chunk.h"
#include "proto.h"
#include "zpool.h"

#define ZPOOL_MAX_WORKERS 8
#define ZPOOL_MAX_SLOTS 16

enum slot_state { SLOT_FREE, SLOT_QUEUED, SLOT_BUSY, SLOT_DONE };

struct slot {
	enum slot_state state;
	uint8_t *raw, *comp;
	size_t n, clen;
};

struct zpool {
	pthread_mutex_t lock;
	pthread_cond_t work, idle;
	pthread_t threads[ZPOOL_MAX_WORKERS];
	struct chunk_compressor *comp[ZPOOL_MAX_WORKERS];
	int nthreads, nslots, stop, busy;
	struct slot slots[ZPOOL_MAX_SLOTS];
	size_t head, count;     /* ring of submitted slots, in order */
	int efd;
};

struct worker_arg {
	struct zpool *z;
	int id;
};

static void *worker(void *p)
{
	struct worker_arg *wa = p;
	struct zpool *z = wa->z;
	struct chunk_compressor *c = z->comp[wa->id];
	uint64_t one = 1;

	free(wa);
	pthread_mutex_lock(&z->lock);
	for (;;) {
		struct slot *s = NULL;
		while (!z->stop) {
			/* The oldest queued slot first: the sender waits on it. */
			for (size_t i = 0; i < z->count && !s; i++) {
				struct slot *t = &z->slots[(z->head + i) % (size_t)z->nslots];
				if (t->state == SLOT_QUEUED)
					s = t;
			}
			if (s)
				break;
			pthread_cond_wait(&z->work, &z->lock);
		}
		if (z->stop)
			break;
		s->state = SLOT_BUSY;
		z->busy++;
		pthread_mutex_unlock(&z->lock);
		size_t clen = chunk_compress(c, s->raw, s->n, s->comp, TCPX_CHUNK_MAX);
		pthread_mutex_lock(&z->lock);
		s->clen = clen;
		s->state = SLOT_DONE;
		z->busy--;
		pthread_cond_broadcast(&z->idle);
		ssize_t w = write(z->efd, &one, sizeof(one));
		(void)w;
	}
	pthread_mutex_unlock(&z->lock);
	return NULL;
}

struct zpool *zpool_new(uint8_t encoding, int level, int workers, int slots)
{
	struct zpool *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	if (workers < 1)
		workers = 1;
	if (workers > ZPOOL_MAX_WORKERS)
		workers = ZPOOL_MAX_WORKERS;
	if (slots < workers + 1)
		slots = workers + 1;
	if (slots > ZPOOL_MAX_SLOTS)
		slots = ZPOOL_MAX_SLOTS;
	z->nslots = slots;
	z->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	pthread_mutex_init(&z->lock, NULL);
	pthread_cond_init(&z->work, NULL);
	pthread_cond_init(&z->idle, NULL);
	if (z->efd < 0)
		goto fail;
	for (int i = 0; i < slots; i++) {
		z->slots[i].raw = malloc(TCPX_CHUNK_MAX);
		z->slots[i].comp = malloc(TCPX_CHUNK_MAX);
		if (!z->slots[i].raw || !z->slots[i].comp)
			goto fail;
	}
	for (int i = 0; i < workers; i++) {
		struct worker_arg *wa = malloc(sizeof(*wa));
		z->comp[i] = chunk_compressor_new_enc(encoding, level);
		if (!wa || !z->comp[i]) {
			free(wa);
			goto fail;
		}
		wa->z = z;
		wa->id = i;
		if (pthread_create(&z->threads[i], NULL, worker, wa) != 0) {
			free(wa);
			goto fail;
		}
		z->nthreads++;
	}
	return z;
fail:
	zpool_free(z);
	return NULL;
}

void zpool_free(struct zpool *z)
{
	if (!z)
		return;
	pthread_mutex_lock(&z->lock);
	z->stop = 1;
	pthread_cond_broadcast(&z->work);
	pthread_mutex_unlock(&z->lock);
	for (int i = 0; i < z->nthreads; i++)
		pthread_join(z->threads[i], NULL);
	for (int i = 0; i < ZPOOL_MAX_WORKERS; i++)
		chunk_compressor_free(z->comp[i]);
	for (int i = 0; i < ZPOOL_MAX_SLOTS; i++) {
		free(z->slots[i].raw);
		free(z->slots[i].comp);
	}
	if (z->efd >= 0)
		close(z->efd);
	pthread_mutex_destroy(&z->lock);
	pthread_cond_destroy(&z->work);
	pthread_cond_destroy(&z->idle);
	free(z);
}

int zpool_fd(const struct zpool *z)
{
	return z->efd;
}

void zpool_ack(struct zpool *z)
{
	uint64_t v;
	ssize_t r = read(z->efd, &v, sizeof(v));
	(void)r;
}

uint8_t *zpool_input(struct zpool *z)
{
	/* Only the submitting thread changes count upward, so no lock is
	 * needed to look at the tail slot, which no worker touches. */
	pthread_mutex_lock(&z->lock);
	size_t count = z->count;
	pthread_mutex_unlock(&z->lock);
	if (count >= (size_t)z->nslots)
		return NULL;
	return z->slots[(z->head + count) % (size_t)z->nslots].raw;
}

void zpool_submit(struct zpool *z, size_t n)
{
	pthread_mutex_lock(&z->lock);
	struct slot *s = &z->slots[(z->head + z->count) % (size_t)z->nslots];
	s->n = n;
	s->clen = 0;
	s->state = SLOT_QUEUED;
	z->count++;
	pthread_cond_signal(&z->work);
	pthread_mutex_unlock(&z->lock);
}

int zpool_head(struct zpool *z, const uint8_t **raw, size_t *n,
	       const uint8_t **comp, size_t *clen)
{
	int ready;
	pthread_mutex_lock(&z->lock);
	struct slot *s = &z->slots[z->head];
	ready = z->count > 0 && s->state == SLOT_DONE;
	if (ready) {
		*raw = s->raw;
		*n = s->n;
		*comp = s->comp;
		*clen = s->clen;
	}
	pthread_mutex_unlock(&z->lock);
	return ready;
}

void zpool_pop(struct zpool *z)
{
	pthread_mutex_lock(&z->lock);
	if (z->count > 0) {
		z->slots[z->head].state = SLOT_FREE;
		z->head = (z->head + 1) % (size_t)z->nslots;
		z->count--;
	}
	pthread_mutex_unlock(&z->lock);
}

size_t zpool_pending(const struct zpool *z)
{
	return z->count;
}

void zpool_reset(struct zpool *z)
{
	pthread_mutex_lock(&z->lock);
	while (z->busy > 0)
		pthread_cond_wait(&z->idle, &z->lock);
	for (int i = 0; i < z->nslots; i++)
		z->slots[i].state = SLOT_FREE;
	z->head = z->count = 0;
	pthread_mutex_unlock(&z->lock);
	zpool_ack(z);
}
