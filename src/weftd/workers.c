/* workers.c: see workers.h. The ticket packs generation (24 bits), job
 * count (20 bits) and next job (20 bits); a claim is a compare-and-swap on
 * it, so a worker holding a stale ticket fails its claim instead of running
 * a job of the next batch with the old batch's function. */
#include "weftd/workers.h"

#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/env.h"

#define FIELD_BITS 20
#define FIELD_MASK ((UINT64_C(1) << FIELD_BITS) - 1)
#define BATCH_MAX FIELD_MASK /* jobs per call */
#define WAIT_SPINS 2000      /* pause instructions, a few microseconds */

static uint64_t ticket_make(uint64_t gen, uint64_t n, uint64_t next)
{
	return gen << (2 * FIELD_BITS) | n << FIELD_BITS | next;
}

static uint64_t ticket_gen(uint64_t t) { return t >> (2 * FIELD_BITS); }
static uint64_t ticket_n(uint64_t t) { return (t >> FIELD_BITS) & FIELD_MASK; }
static uint64_t ticket_next(uint64_t t) { return t & FIELD_MASK; }

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#else
	atomic_signal_fence(memory_order_seq_cst);
#endif
}

static void futex_wait(atomic_uint *word, unsigned expected)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *word, int n)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

/* Claims and runs jobs of the current batch until none is left. */
static void claim_and_run(struct workers *w)
{
	uint64_t t = atomic_load_explicit(&w->ticket, memory_order_acquire);

	while (ticket_next(t) < ticket_n(t)) {
		if (!atomic_compare_exchange_weak_explicit(&w->ticket, &t, t + 1, memory_order_acq_rel,
							   memory_order_acquire))
			continue; /* t now holds the current ticket */
		/* Claimed: the batch cannot finish without this job, so fn and
		 * arg are still this batch's. */
		w->fn(w->arg, (size_t)ticket_next(t));
		if (atomic_fetch_add(&w->done, 1) + 1 == ticket_n(t) && atomic_load(&w->loop_waiting))
			futex_wake(&w->done, 1);
		t = atomic_load_explicit(&w->ticket, memory_order_acquire);
	}
}

static void *worker_main(void *p)
{
	struct workers *w = p;

	while (!atomic_load(&w->stop)) {
		unsigned seen = atomic_load(&w->wake);
		uint64_t t = atomic_load(&w->ticket);

		if (ticket_next(t) < ticket_n(t)) {
			claim_and_run(w);
			continue;
		}
		aead_forget(); /* no session key stays with an idle helper */
		atomic_fetch_add(&w->sleepers, 1);
		/* Checked again after saying so: a batch published in between
		 * either bumped `wake` (the wait returns at once) or is seen here. */
		t = atomic_load(&w->ticket);
		if (ticket_next(t) >= ticket_n(t) && !atomic_load(&w->stop))
			futex_wait(&w->wake, seen);
		atomic_fetch_sub(&w->sleepers, 1);
	}
	return NULL;
}

int workers_wanted(void)
{
	const char *forced = getenv("WEFT_CRYPTO_WORKERS");
	cpu_set_t set;
	int cpus;

	if (env_flag("WEFT_DISABLE_CRYPTO_WORKERS"))
		return 0;
	if (forced && *forced) {
		long n = strtol(forced, NULL, 10);
		return n < 0 ? 0 : n > WORKERS_MAX ? WORKERS_MAX : (int)n;
	}
	cpus = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
	if (cpus < WORKERS_MIN_CPUS)
		return 0;
	return cpus - 1 < WORKERS_MAX ? cpus - 1 : WORKERS_MAX;
}

int workers_start(struct workers *w, int n)
{
	sigset_t all, old;
	int r = 0;

	memset(w, 0, sizeof(*w));
	/* Signals are the loop's (signalfd): a helper must never take one, so
	 * it starts with all of them blocked. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < n && i < WORKERS_MAX && !r; i++) {
		r = pthread_create(&w->threads[i], NULL, worker_main, w);
		if (!r)
			w->count++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		workers_stop(w);
		return -r;
	}
	return 0;
}

void workers_stop(struct workers *w)
{
	atomic_store(&w->stop, true);
	atomic_fetch_add(&w->wake, 1);
	futex_wake(&w->wake, WORKERS_MAX);
	for (int i = 0; i < w->count; i++)
		pthread_join(w->threads[i], NULL);
	w->count = 0;
}

static void run_batch(struct workers *w, void (*fn)(void *arg, size_t i), void *arg, size_t n)
{
	uint64_t gen = ticket_gen(atomic_load(&w->ticket)) + 1;

	/* The previous batch is finished (done == n): nobody reads these. */
	w->fn = fn;
	w->arg = arg;
	atomic_store(&w->done, 0);
	atomic_store_explicit(&w->ticket, ticket_make(gen & 0xffffff, n, 0), memory_order_release);
	atomic_fetch_add(&w->wake, 1);
	if (atomic_load(&w->sleepers))
		futex_wake(&w->wake, w->count);

	claim_and_run(w);
	/* Left: jobs workers claimed and are still running, each about a
	 * microsecond; sleep only if one was preempted in the middle. */
	for (int spin = 0; spin < WAIT_SPINS && atomic_load(&w->done) != n; spin++)
		cpu_relax();
	for (unsigned d; (d = atomic_load(&w->done)) != n;) {
		atomic_store(&w->loop_waiting, 1);
		if ((d = atomic_load(&w->done)) != n)
			futex_wait(&w->done, d);
		atomic_store(&w->loop_waiting, 0);
	}
}

void workers_run(void *p, void (*fn)(void *arg, size_t i), void *arg, size_t n)
{
	struct workers *w = p;

	/* More jobs than a ticket counts never come: the engine's batches hold
	 * a few hundred. */
	if (!w || w->count == 0 || n < 2 || n > BATCH_MAX) {
		for (size_t i = 0; i < n; i++)
			fn(arg, i);
		return;
	}
	run_batch(w, fn, arg, n);
}
