/* batch.c: queued ChaCha20-Poly1305 jobs and their in-order commit (see
 * batch.h). Slots of weft_out are taken in order as work is queued, but the
 * counts the caller reads move only when the work has run: a caller can
 * never send a slot that has not been sealed yet. */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <stdlib.h>

#include "wg/batch.h"
#include "wg/device.h"

int batch_init(struct crypto_batch *b)
{
	b->jobs = calloc(BATCH_MAX_JOBS, sizeof(*b->jobs));
	return b->jobs ? 0 : -ENOMEM;
}

void batch_free(struct crypto_batch *b)
{
	if (b->jobs)
		memzero(b->jobs, BATCH_MAX_JOBS * sizeof(*b->jobs));
	free(b->jobs);
	b->jobs = NULL;
}

static size_t queued(const struct crypto_batch *b, const struct weft_out *out, size_t n)
{
	return b->out == out ? n : 0;
}

size_t batch_next_send(const struct weft_device *dev, const struct weft_out *out)
{
	return out->send_count + queued(&dev->batch, out, dev->batch.sends);
}

size_t batch_next_deliver(const struct weft_device *dev, const struct weft_out *out)
{
	return out->deliver_count + queued(&dev->batch, out, dev->batch.delivers);
}

/* Queued work writes to one output at a time. */
static void batch_use(struct weft_device *dev, struct weft_out *out)
{
	struct crypto_batch *b = &dev->batch;

	if (b->out != out) {
		batch_run(dev);
		b->out = out;
	}
}

void batch_take_send(struct weft_device *dev, struct weft_out *out)
{
	batch_use(dev, out);
	dev->batch.sends++;
}

struct crypto_job *batch_job(struct weft_device *dev, struct weft_out *out)
{
	struct crypto_batch *b = &dev->batch;

	WEFT_ASSERT(!b->open || b->out == out, "weft_send or weft_receive in a batch with another out");
	batch_use(dev, out);
	if (b->count == BATCH_MAX_JOBS)
		batch_run(dev);
	b->out = out; /* batch_run lets go of it outside a batch */
	return &b->jobs[b->count];
}

void batch_queue(struct weft_device *dev, struct crypto_job *job)
{
	struct crypto_batch *b = &dev->batch;


	b->count++;
	b->bytes += job->len;
	if (job->op == CRYPTO_OPEN && job->slot != SIZE_MAX)
		b->delivers++;
}

/* One job; env.parallel may call it on any thread. */
static void job_run(void *arg, size_t i)
{
	struct crypto_job *job = (struct crypto_job *)arg + i;

	WEFT_ASSERT(job->op != CRYPTO_OPEN || !memcmp(job->src_head, job->src, sizeof(job->src_head)),
		    "a datagram changed before weft_batch_end");
	if (job->op == CRYPTO_SEAL)
		aead_seal(job->dst, job->dst, job->len, NULL, 0, job->counter, job->key);
	else
		job->ok = aead_open(job->dst, job->src, job->len, NULL, 0, job->counter, job->key);
}

void batch_run_alone(struct weft_device *dev, struct crypto_job *job)
{
	job_run(job, 0);
	aead_forget();
	if (job->op == CRYPTO_OPEN)
		receive_data_commit(dev, NULL, job);
}

void batch_run(struct weft_device *dev)
{
	struct crypto_batch *b = &dev->batch;
	struct weft_out *out = b->out;

	if (b->committing || !out)
		return;
	if (b->count > 1 && b->bytes >= BATCH_PARALLEL_MIN_BYTES && dev->env.parallel.run)
		dev->env.parallel.run(dev->env.parallel.ctx, job_run, b->jobs, b->count);
	else
		for (size_t i = 0; i < b->count; i++)
			job_run(b->jobs, i);
	aead_forget(); /* this thread's copy of the last key (helpers wipe theirs when idle) */
	/* Sealed: the caller may send them now. */
	out->send_count += b->sends;
	b->sends = 0;
	/* A commit may rotate keypairs (a confirmed next one becomes current);
	 * should that ever free one, it must not run the batch again from
	 * there, and later commits look their keypair up again. */
	b->committing = true;
	for (size_t i = 0; i < b->count; i++)
		if (b->jobs[i].op == CRYPTO_OPEN)
			receive_data_commit(dev, out, &b->jobs[i]);
	b->committing = false;
	b->count = 0;
	b->bytes = 0;
	b->delivers = 0;
	b->send_count_seen = out->send_count;
	b->deliver_count_seen = out->deliver_count;
	if (!b->open)
		b->out = NULL;
}

void batch_run_unless_open(struct weft_device *dev)
{
	if (!dev->batch.open)
		batch_run(dev);
}

void weft_assert_failed(const char *what, const char *file, int line)
{
	fprintf(stderr, "weft engine: %s (%s:%d): the caller broke a rule of weft/engine.h\n", what, file,
		line);
	abort();
}

void weft_out_room(const struct weft_device *dev, const struct weft_out *out,
		   size_t *free_sends, size_t *free_delivers)
{
	size_t s = batch_next_send(dev, out), d = batch_next_deliver(dev, out);

	if (free_sends)
		*free_sends = s < out->send_max ? out->send_max - s : 0;
	if (free_delivers)
		*free_delivers = d < out->deliver_max ? out->deliver_max - d : 0;
}

int weft_batch_begin(struct weft_device *dev, struct weft_out *out)
{
	if (!dev || !out)
		return -EINVAL;
	WEFT_ASSERT(!dev->batch.open, "weft_batch_begin inside a batch");
	if (dev->batch.open)
		return -EBUSY;
	batch_use(dev, out);
	dev->batch.open = true;
	dev->batch.send_count_seen = out->send_count;
	dev->batch.deliver_count_seen = out->deliver_count;
	dev->handshakes_done = 0;
	return 0;
}

void weft_batch_end(struct weft_device *dev)
{
	struct weft_out *out;

	WEFT_ASSERT(dev && dev->batch.open, "weft_batch_end outside a batch");
	if (!dev || !dev->batch.open)
		return;
	out = dev->batch.out;
	WEFT_ASSERT(out->send_count == dev->batch.send_count_seen &&
			    out->deliver_count == dev->batch.deliver_count_seen,
		    "out's counts changed inside a batch");
	batch_run(dev);
	/* What the commits asked for (a confirmed session sends what was
	 * staged), then its jobs. */
	device_drain(dev, out);
	dev->batch.open = false;
	batch_run(dev);
}
