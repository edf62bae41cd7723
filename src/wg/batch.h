/* batch.h: the ChaCha20-Poly1305 of data packets as jobs, so that a batch of
 * them can run at once, spread over threads by env.parallel. Everything else
 * stays in order on the caller's thread: a send takes its counter and its
 * slot when it is queued; a receive is committed (replay window, roaming,
 * timers, delivery) after its decryption, in the order the datagrams came.
 * Outside weft_batch_begin/weft_batch_end each engine call runs its own jobs
 * before it returns. Internal to the engine. */
#ifndef WEFT_BATCH_H
#define WEFT_BATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/crypto.h"
#include "weft/engine.h"

struct weft_device;
struct noise_keypair;

/* Jobs held at once; a fuller batch runs what it has and goes on. */
#define BATCH_MAX_JOBS 256
/* Below this many bytes of crypto a batch runs on the caller's thread:
 * handing it to other threads would cost more than it saves. */
#define BATCH_PARALLEL_MIN_BYTES (16 * 1024)

enum crypto_op { CRYPTO_SEAL, CRYPTO_OPEN };

struct crypto_job {
	enum crypto_op op;
	bool ok;                 /* open: the tag verified */
	const uint8_t *key;      /* the keypair's; it outlives the job (batch_run before any free) */
	const uint8_t *src;      /* open: the datagram's encrypted data */
	uint8_t *dst;            /* seal: in place; open: the deliver slot or .keepalive */
	size_t len;              /* seal: plaintext; open: ciphertext with its tag */
	uint64_t counter;
	/* open only, for the commit */
	struct noise_keypair *keypair;
	uint32_t local_index;
	size_t datagram_len;
	size_t slot;             /* index in out->deliver; SIZE_MAX for a keepalive */
	struct weft_endpoint from;
	uint8_t keepalive[AEAD_TAG_LEN];
	uint8_t src_head[AEAD_TAG_LEN]; /* open: the datagram's first bytes, to assert they stay */
};

struct crypto_batch {
	bool open;               /* between weft_batch_begin and weft_batch_end */
	struct weft_out *out;    /* the output queued work writes to; NULL when none */
	struct crypto_job *jobs; /* BATCH_MAX_JOBS */
	size_t count, bytes;
	size_t sends, delivers;  /* slots of out taken by queued work, not yet counted in it */
	bool committing;
	size_t send_count_seen, deliver_count_seen; /* out's as the engine left them, for the assertions */
};

int batch_init(struct crypto_batch *b);
void batch_free(struct crypto_batch *b);

/* The next free slot of out, after those queued work has taken. */
size_t batch_next_send(const struct weft_device *dev, const struct weft_out *out);
size_t batch_next_deliver(const struct weft_device *dev, const struct weft_out *out);
/* Takes the next send slot; out counts it when the queued work has run. */
void batch_take_send(struct weft_device *dev, struct weft_out *out);

/* A free job for output to out, running the queued ones first if none is
 * left or they write to another output. */
struct crypto_job *batch_job(struct weft_device *dev, struct weft_out *out);
/* Queues the job batch_job() returned; an open job with a slot takes it. */
void batch_queue(struct weft_device *dev, struct crypto_job *job);

/* Runs the queued jobs and commits them; a no-op while committing. Called
 * before anything that can free a keypair a job points to. */
void batch_run(struct weft_device *dev);
/* batch_run, unless a batch is open. */
void batch_run_unless_open(struct weft_device *dev);

/* Runs and commits one job that joins no batch (a keepalive received
 * without an output), as batch_run would. */
void batch_run_alone(struct weft_device *dev, struct crypto_job *job);

/* receive.c: the in-order half of receiving a data packet. */
void receive_data_commit(struct weft_device *dev, struct weft_out *out, const struct crypto_job *job);

#endif
