/* batch.c: queued ChaCha20-Poly1305 jobs and their in-order commit (see
 * batch.h). Slots of weft_out are taken in order as work is queued, but the
 * counts the caller reads move only when the work has run: a caller can
 * never send a slot that has not been sealed yet. */
#include <errno.h>
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
	if (b->count > 1 && b->bytes >= BATCH_PARALLEL_MIN_BYTES && dev->env.parallel)
		dev->env.parallel(dev->env.ctx, job_run, b->jobs, b->count);
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
	if (!b->open)
		b->out = NULL;
}

void batch_run_unless_open(struct weft_device *dev)
{
	if (!dev->batch.open)
		batch_run(dev);
}

void weft_batch_begin(struct weft_device *dev, struct weft_out *out)
{
	if (!dev || !out)
		return;
	batch_use(dev, out);
	dev->batch.open = true;
}

void weft_batch_end(struct weft_device *dev)
{
	struct weft_out *out;

	if (!dev || !dev->batch.open)
		return;
	out = dev->batch.out;
	batch_run(dev);
	/* What the commits asked for (a confirmed session sends what was
	 * staged), then its jobs. */
	device_drain(dev, out);
	dev->batch.open = false;
	batch_run(dev);
}
