/* workers.h: the threads that help the loop's thread with a batch's
 * ChaCha20-Poly1305 (the engine's env.parallel). A batch is handed over once,
 * not per packet: the loop's thread publishes it, wakes the sleeping workers
 * and claims jobs itself like any of them, so a worker that wakes late finds
 * the work done and costs the batch nothing. Only the jobs a worker has
 * already claimed are waited for. */
#ifndef WEFTD_WORKERS_H
#define WEFTD_WORKERS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WORKERS_MAX 7
/* Below this many CPUs there are no helpers. With two, the loop's thread,
 * the kernel's share of the tunnel (TUN and UDP copies, softirq) and the
 * application already keep both busy at full speed: docs/performance.md
 * measured a helper there at 5 % less throughput, 17 % more CPU per GB and
 * twice the ping under load, against 1.35 x for the engine alone on a free
 * core (build/bench/engine_bench). */
#define WORKERS_MIN_CPUS 4

struct workers {
	int count;
	pthread_t threads[WORKERS_MAX];
	/* The batch: claims are taken from `ticket`, which holds the batch's
	 * generation, its job count and the next job, so a worker can only
	 * claim a job of the batch whose fn and arg it will then read. */
	_Atomic uint64_t ticket;
	void (*fn)(void *arg, size_t i);
	void *arg;
	atomic_uint done;       /* jobs finished in this batch */
	atomic_uint wake;       /* futex word: bumped when a batch is published */
	atomic_uint sleepers;   /* workers waiting on it */
	atomic_uint loop_waiting; /* the loop's thread waits on `done` */
	atomic_bool stop;
};

/* How many helpers suit this machine: one fewer than the CPUs this process
 * may run on, from WORKERS_MIN_CPUS on (at most WORKERS_MAX); 0 when
 * WEFT_DISABLE_CRYPTO_WORKERS=1; WEFT_CRYPTO_WORKERS=N sets N (0 to
 * WORKERS_MAX), to measure or to override the guess. */
int workers_wanted(void);
/* Starts n helper threads (n may be 0); 0 or -errno. */
int workers_start(struct workers *w, int n);
void workers_stop(struct workers *w);
/* env.parallel: fn(arg, i) for i in [0, n), returns when all are done. */
void workers_run(void *workers, void (*fn)(void *arg, size_t i), void *arg, size_t n);

#endif
