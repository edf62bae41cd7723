/* test_workers.c: weftd's crypto helper pool (src/weftd/workers.c), the
 * engine's env.parallel. Every index of a batch runs exactly once, for
 * every small batch size and 1-3 helpers, and at the largest size a ticket
 * can count; tens of thousands of back-to-back batches of uneven jobs, each
 * checked for exactly-once and for no job running (or reading the wrong
 * function or argument) once workers_run has returned; jobs really spread
 * over threads; no helpers (or no pool at all) means the caller's thread;
 * workers_wanted follows the affinity mask and the off switch; stop joins
 * its threads; helpers never take a signal. */
/* The daemon's files are not in libweft.a: compile it in. */
#include "weftd/workers.c"

#include <dirent.h>
#include <time.h>

#include "test.h"

#define NS_PER_SEC 1000000000ull
#define SMALL_MAX 300 /* batch sizes tried one by one: 0..SMALL_MAX */
#define LONG_JOB_NS 20000 /* "a long job": long enough for a helper to wake */
#define THREAD_HUNT_NS (5 * NS_PER_SEC) /* how long to wait for a second thread */

static pthread_t main_thread;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_SEC + (uint64_t)ts.tv_nsec;
}

static void spin_ns(uint64_t ns)
{
	if (!ns)
		return;
	uint64_t end = mono_ns() + ns;

	while (mono_ns() < end)
		;
}

/* ---- exactly once, by counting ------------------------------------------ */

struct counting {
	size_t n;
	atomic_uint counts[SMALL_MAX + 1];
	atomic_uint out_of_range;
};

static void count_job(void *arg, size_t i)
{
	struct counting *c = arg;

	if (i >= c->n)
		atomic_fetch_add(&c->out_of_range, 1);
	else
		atomic_fetch_add(&c->counts[i], 1);
}

/* Runs a batch of n and says how many indices did not run exactly once. */
static unsigned run_and_count(struct workers *w, struct counting *c, size_t n)
{
	unsigned wrong = 0;

	c->n = n;
	for (size_t i = 0; i <= SMALL_MAX; i++)
		atomic_store(&c->counts[i], 0);
	atomic_store(&c->out_of_range, 0);
	workers_run(w, count_job, c, n);
	for (size_t i = 0; i <= SMALL_MAX; i++)
		wrong += atomic_load(&c->counts[i]) != (i < n ? 1u : 0u);
	return wrong + atomic_load(&c->out_of_range);
}

static void exactly_once_every_size(void)
{
	static struct counting c;

	for (int helpers = 1; helpers <= 3; helpers++) {
		struct workers w;

		CHECK_EQ(workers_start(&w, helpers), 0);
		CHECK_EQ(w.count, helpers);
		for (size_t n = 0; n <= SMALL_MAX; n++) {
			unsigned wrong = run_and_count(&w, &c, n);
			if (wrong) {
				fprintf(stderr, "  %d helper(s), n = %zu: %u index(es) not run exactly once\n",
					helpers, n, wrong);
				CHECK_EQ(wrong, 0);
			}
		}
		workers_stop(&w);
		CHECK_EQ(w.count, 0);
	}
}

/* The largest batch a ticket counts goes through the pool (the claim
 * counter reaches its field's top); one more runs inline. Both exactly once. */
struct big_counting {
	size_t n;
	atomic_uchar *counts;
	atomic_uint out_of_range;
};

static void big_job(void *arg, size_t i)
{
	struct big_counting *c = arg;

	if (i >= c->n)
		atomic_fetch_add(&c->out_of_range, 1);
	else
		atomic_fetch_add(&c->counts[i], 1);
}

static void exactly_once_largest_batches(void)
{
	const size_t sizes[] = { BATCH_MAX, BATCH_MAX + 1 };
	struct big_counting c = { .counts = calloc(BATCH_MAX + 2, sizeof(atomic_uchar)) };
	struct workers w;

	CHECK(c.counts != NULL);
	if (!c.counts)
		return;
	CHECK_EQ(workers_start(&w, 2), 0);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k], wrong = 0;

		c.n = n;
		memset(c.counts, 0, BATCH_MAX + 2);
		atomic_store(&c.out_of_range, 0);
		workers_run(&w, big_job, &c, n);
		for (size_t i = 0; i < BATCH_MAX + 2; i++)
			wrong += atomic_load(&c.counts[i]) != (i < n ? 1u : 0u);
		if (wrong)
			fprintf(stderr, "  n = %zu: %zu index(es) not run exactly once\n", n, wrong);
		CHECK_EQ(wrong, 0);
		CHECK_EQ(atomic_load(&c.out_of_range), 0);
	}
	/* and the pool still works after them */
	static struct counting small;
	CHECK_EQ(run_and_count(&w, &small, 100), 0);
	workers_stop(&w);
	free(c.counts);
}

/* ---- back-to-back batches ------------------------------------------------ */

/* Shared by every batch. `current` is the batch workers_run is running, 0
 * between calls: a job that finds another id there ran early or late. */
struct b2b {
	atomic_uint current;
	atomic_uint slot[SMALL_MAX];    /* the batch that last ran index i */
	atomic_uint counts[SMALL_MAX];  /* runs of index i in this batch */
	atomic_uint late, wrong_fn, out_of_range;
};

/* How long the jobs of a batch take: mostly tiny (the race window is
 * widest), some batches uneven by a microsecond or so, now and then one
 * with a few jobs long enough to outlast a wake-up, so that the caller ends
 * up waiting on a helper still inside a job. */
enum job_shape { JOBS_TINY, JOBS_UNEVEN, JOBS_FEW_LONG };

static uint64_t job_length(enum job_shape shape, unsigned id, size_t i)
{
	uint32_t h = (uint32_t)((i + 1) * 2654435761u) ^ (id * 40503u);

	switch (shape) {
	case JOBS_UNEVEN:
		return h % 1000;
	case JOBS_FEW_LONG:
		return h % 32 == 0 ? LONG_JOB_NS : 0;
	default:
		return 0;
	}
}

/* One batch's argument; two of them alternate, and the one not in use is
 * poisoned, so that a job reading the previous batch's arg shows. */
struct b2b_arg {
	struct b2b *s;
	atomic_uint id;
	size_t n;
	enum job_shape shape;
};

#define POISON 0xdeadu

static void b2b_body(struct b2b_arg *a, size_t i, unsigned parity)
{
	struct b2b *s = a->s;
	unsigned id = atomic_load(&a->id);

	if (id == POISON || (id & 1) != parity)
		atomic_fetch_add(&s->wrong_fn, 1);
	if (atomic_load(&s->current) != id)
		atomic_fetch_add(&s->late, 1);
	if (i >= a->n) {
		atomic_fetch_add(&s->out_of_range, 1);
		return;
	}
	spin_ns(job_length(a->shape, id, i));
	atomic_store(&s->slot[i], id);
	atomic_fetch_add(&s->counts[i], 1);
	if (atomic_load(&s->current) != id) /* still inside workers_run? */
		atomic_fetch_add(&s->late, 1);
}

static void b2b_even(void *arg, size_t i) { b2b_body(arg, i, 0); }
static void b2b_odd(void *arg, size_t i) { b2b_body(arg, i, 1); }

static void back_to_back(int helpers, unsigned batches)
{
	static struct b2b s;
	static struct b2b_arg args[2];
	struct workers w;
	unsigned bad_count = 0, bad_slot = 0;

	memset(&s, 0, sizeof(s));
	CHECK_EQ(workers_start(&w, helpers), 0);
	for (unsigned id = 1; id <= batches; id++) {
		struct b2b_arg *a = &args[id & 1];
		size_t n = (size_t)test_below(SMALL_MAX + 1);
		unsigned shape = (unsigned)test_below(8);

		a->s = &s;
		a->n = n;
		a->shape = shape == 0 ? JOBS_FEW_LONG : shape < 3 ? JOBS_UNEVEN : JOBS_TINY;
		atomic_store(&a->id, id);
		atomic_store(&s.current, id);
		workers_run(&w, (id & 1) ? b2b_odd : b2b_even, a, n);
		atomic_store(&s.current, 0);
		atomic_store(&a->id, POISON);
		for (size_t i = 0; i < SMALL_MAX; i++) {
			unsigned want = i < n;
			unsigned got = atomic_exchange(&s.counts[i], 0);
			if (got != want && bad_count++ < 5)
				fprintf(stderr, "  batch %u (n = %zu): index %zu ran %u times\n", id, n, i, got);
			if (i < n && atomic_load(&s.slot[i]) != id && bad_slot++ < 5)
				fprintf(stderr, "  batch %u: index %zu holds batch %u\n", id, i,
					atomic_load(&s.slot[i]));
		}
	}
	workers_stop(&w);
	/* a straggler would have written by now: the threads are joined */
	for (size_t i = 0; i < SMALL_MAX; i++)
		bad_count += atomic_load(&s.counts[i]) != 0;
	CHECK_EQ(bad_count, 0);
	CHECK_EQ(bad_slot, 0);
	CHECK_EQ(atomic_load(&s.late), 0);
	CHECK_EQ(atomic_load(&s.wrong_fn), 0);
	CHECK_EQ(atomic_load(&s.out_of_range), 0);
}

static void back_to_back_three_helpers(void) { back_to_back(3, 20000 / test_scale()); }
static void back_to_back_one_helper(void) { back_to_back(1, 10000 / test_scale()); }

/* ---- which threads run the jobs ------------------------------------------ */

#define THREAD_JOBS 2000

struct who {
	pthread_t ran_on[THREAD_JOBS];
	uint64_t spin;
	/* signals: checked from jobs off the caller's thread */
	atomic_uint off_caller, sigterm_blocked;
};

static void who_job(void *arg, size_t i)
{
	struct who *who = arg;

	who->ran_on[i] = pthread_self();
	if (!pthread_equal(who->ran_on[i], main_thread)) {
		sigset_t mask;

		atomic_fetch_add(&who->off_caller, 1);
		if (pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 && sigismember(&mask, SIGTERM) == 1)
			atomic_fetch_add(&who->sigterm_blocked, 1);
	}
	if (who->spin)
		spin_ns(who->spin);
}

static bool is_pool_thread(const struct workers *w, pthread_t t)
{
	for (int i = 0; i < w->count; i++)
		if (pthread_equal(w->threads[i], t))
			return true;
	return false;
}

/* Runs batches of long jobs until one ran on a thread besides the caller's,
 * or THREAD_HUNT_NS passed (a loaded machine may not schedule a helper in
 * one batch). Returns the most distinct threads one batch used; every job
 * must have run on the caller's thread or one of the pool's. */
static int hunt_threads(struct workers *w, struct who *who, int *batches)
{
	uint64_t deadline = mono_ns() + THREAD_HUNT_NS;
	int best = 0;

	*batches = 0;
	do {
		pthread_t seen[WORKERS_MAX + 1];
		int distinct = 0;

		who->spin = LONG_JOB_NS;
		workers_run(w, who_job, who, THREAD_JOBS);
		++*batches;
		for (size_t i = 0; i < THREAD_JOBS; i++) {
			pthread_t t = who->ran_on[i];
			bool known = false;

			if (!pthread_equal(t, main_thread) && !is_pool_thread(w, t)) {
				fprintf(stderr, "  job %zu ran on a thread outside the pool\n", i);
				CHECK(false);
				return best;
			}
			for (int k = 0; k < distinct; k++)
				known |= pthread_equal(seen[k], t);
			if (!known && distinct < WORKERS_MAX + 1)
				seen[distinct++] = t;
		}
		if (distinct > best)
			best = distinct;
	} while (best < 2 && mono_ns() < deadline);
	return best;
}

static void jobs_spread_over_threads(void)
{
	static struct who who;

	for (int helpers = 1; helpers <= 2; helpers++) {
		struct workers w;
		int batches;

		CHECK_EQ(workers_start(&w, helpers), 0);
		int threads = hunt_threads(&w, &who, &batches);
		if (threads < 2)
			fprintf(stderr, "  %d helper(s): every job ran on one thread in %d batches\n", helpers,
				batches);
		CHECK(threads >= 2);
		workers_stop(&w);
	}
}

static void inline_without_helpers(void)
{
	static struct who who;
	static struct counting c;
	struct workers w;

	CHECK_EQ(workers_start(&w, 0), 0);
	CHECK_EQ(w.count, 0);
	who.spin = 0;
	workers_run(&w, who_job, &who, 64);
	for (size_t i = 0; i < 64; i++)
		CHECK(pthread_equal(who.ran_on[i], main_thread));
	CHECK_EQ(run_and_count(&w, &c, 77), 0);
	workers_stop(&w);

	/* no pool at all, as before loop_init starts one */
	memset(who.ran_on, 0, sizeof(who.ran_on));
	workers_run(NULL, who_job, &who, 64);
	for (size_t i = 0; i < 64; i++)
		CHECK(pthread_equal(who.ran_on[i], main_thread));
	CHECK_EQ(run_and_count(NULL, &c, 300), 0);
	CHECK_EQ(atomic_load(&who.off_caller), 0);
}

/* ---- how many helpers ---------------------------------------------------- */

/* The CPUs this process may run on, counted from the kernel's own text,
 * "Cpus_allowed_list: 0-3,6" in /proc/self/status, not from the
 * sched_getaffinity call workers_wanted makes; -1 if it cannot be read. */
static int cpus_allowed(void)
{
	char line[4096];
	int n = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && n < 0 && fgets(line, sizeof(line), f)) {
		char *p = line + strlen("Cpus_allowed_list:");

		if (strncmp(line, "Cpus_allowed_list:", strlen("Cpus_allowed_list:")))
			continue;
		n = 0;
		for (;;) {
			char *end;
			long lo = strtol(p, &end, 10), hi = lo;

			if (end == p)
				break;
			if (*end == '-')
				hi = strtol(end + 1, &end, 10);
			n += (int)(hi - lo + 1);
			if (*end != ',')
				break;
			p = end + 1;
		}
	}
	if (f)
		fclose(f);
	return n > 0 ? n : -1;
}

/* What workers_wanted should say for the CPUs the kernel lists. */
static int expected_helpers(void)
{
	int cpus = cpus_allowed();

	if (cpus < WORKERS_MIN_CPUS)
		return 0;
	return cpus - 1 < WORKERS_MAX ? cpus - 1 : WORKERS_MAX;
}

static void wanted_follows_cpus_and_switch(void)
{
	const char *name = "WEFT_DISABLE_CRYPTO_WORKERS";
	char *saved = getenv(name) ? strdup(getenv(name)) : NULL;
	cpu_set_t all, one, two;
	int first = -1, second = -1;

	if (cpus_allowed() < 0) {
		free(saved);
		SKIP("/proc/self/status has no Cpus_allowed_list to count CPUs from");
	}
	unsetenv(name);
	CHECK_EQ(workers_wanted(), expected_helpers());
	setenv(name, "1", 1);
	CHECK_EQ(workers_wanted(), 0);
	setenv(name, "0", 1); /* "0" means no */
	CHECK_EQ(workers_wanted(), expected_helpers());
	setenv(name, "", 1);
	CHECK_EQ(workers_wanted(), expected_helpers());
	unsetenv(name);

	/* WEFT_CRYPTO_WORKERS sets the count, clamped; the switch-off wins */
	setenv("WEFT_CRYPTO_WORKERS", "2", 1);
	CHECK_EQ(workers_wanted(), 2);
	setenv("WEFT_CRYPTO_WORKERS", "99", 1);
	CHECK_EQ(workers_wanted(), WORKERS_MAX);
	setenv("WEFT_CRYPTO_WORKERS", "-3", 1);
	CHECK_EQ(workers_wanted(), 0);
	setenv("WEFT_CRYPTO_WORKERS", "1", 1);
	setenv(name, "1", 1);
	CHECK_EQ(workers_wanted(), 0);
	unsetenv(name);
	unsetenv("WEFT_CRYPTO_WORKERS");

	/* fewer CPUs allowed, fewer helpers: below WORKERS_MIN_CPUS none */
	CHECK_EQ(sched_getaffinity(0, sizeof(all), &all), 0);
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &all))
			continue;
		if (first < 0)
			first = cpu;
		else if (second < 0)
			second = cpu;
	}
	CPU_ZERO(&one);
	CPU_SET(first, &one);
	if (sched_setaffinity(0, sizeof(one), &one) == 0) {
		CHECK_EQ(workers_wanted(), 0);
		if (second >= 0) {
			two = one;
			CPU_SET(second, &two);
			CHECK_EQ(sched_setaffinity(0, sizeof(two), &two), 0);
			CHECK_EQ(workers_wanted(), WORKERS_MIN_CPUS <= 2 ? 1 : 0);
		}
		CHECK_EQ(sched_setaffinity(0, sizeof(all), &all), 0);
	} else {
		fprintf(stderr, "  # sched_setaffinity refused: one-CPU case not tried\n");
	}
	CHECK_EQ(workers_wanted(), expected_helpers());
	if (saved)
		setenv(name, saved, 1);
	free(saved);
}

/* ---- stop joins ---------------------------------------------------------- */

static int thread_count(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* A joined thread can linger in /proc for a moment after pthread_join. */
static int thread_count_settled(int want)
{
	int n = thread_count();

	for (int tries = 0; n != want && tries < 1000; tries++) {
		struct timespec ms = { 0, 1000000 };
		nanosleep(&ms, NULL);
		n = thread_count();
	}
	return n;
}

static void stop_joins(void)
{
	static struct counting c;
	int base = thread_count();
	unsigned bad_runs = 0, bad_threads = 0;

	CHECK(base >= 1);
	for (int round = 0; round < 50; round++) {
		/* On the heap and freed at once: a helper still running after
		 * workers_stop would read freed memory, which ASan reports. */
		struct workers *w = malloc(sizeof(*w));
		int helpers = 1 + round % 3;

		CHECK(w != NULL);
		if (!w)
			return;
		CHECK_EQ(workers_start(w, helpers), 0);
		CHECK_EQ(w->count, helpers);
		if (thread_count() != base + helpers)
			bad_threads++;
		/* some rounds stop at once, before a helper went to sleep */
		if (round % 2)
			bad_runs += run_and_count(w, &c, 10 + (size_t)round) != 0;
		workers_stop(w);
		CHECK_EQ(w->count, 0);
		memset(w, 0xa5, sizeof(*w));
		free(w);
		if (thread_count_settled(base) != base)
			bad_threads++;
	}
	CHECK_EQ(bad_runs, 0);
	CHECK_EQ(bad_threads, 0);

	/* asking for more than WORKERS_MAX gets WORKERS_MAX */
	struct workers w;
	CHECK_EQ(workers_start(&w, WORKERS_MAX + 5), 0);
	CHECK_EQ(w.count, WORKERS_MAX);
	CHECK_EQ(thread_count(), base + WORKERS_MAX);
	CHECK_EQ(run_and_count(&w, &c, SMALL_MAX), 0);
	workers_stop(&w);
	CHECK_EQ(thread_count_settled(base), base);
}

/* ---- signals ------------------------------------------------------------- */

static void helpers_block_signals(void)
{
	static struct who who;
	sigset_t term, mask;
	struct workers w;
	int batches;

	/* The caller takes SIGTERM, so a helper that blocks it did so itself
	 * (threads inherit their creator's mask). */
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	CHECK_EQ(pthread_sigmask(SIG_UNBLOCK, &term, NULL), 0);
	CHECK_EQ(workers_start(&w, 2), 0);
	atomic_store(&who.off_caller, 0);
	atomic_store(&who.sigterm_blocked, 0);
	hunt_threads(&w, &who, &batches);
	workers_stop(&w);
	CHECK(atomic_load(&who.off_caller) > 0);
	CHECK_EQ(atomic_load(&who.sigterm_blocked), atomic_load(&who.off_caller));
	/* and the caller's own mask is untouched */
	CHECK_EQ(pthread_sigmask(SIG_BLOCK, NULL, &mask), 0);
	CHECK_EQ(sigismember(&mask, SIGTERM), 0);
}

int main(void)
{
	test_suite_name = "workers";
	test_seed(0x776f726b657273ull);
	main_thread = pthread_self();
	RUN(exactly_once_every_size);
	RUN(exactly_once_largest_batches);
	RUN(back_to_back_three_helpers);
	RUN(back_to_back_one_helper);
	RUN(jobs_spread_over_threads);
	RUN(inline_without_helpers);
	RUN(wanted_follows_cpus_and_switch);
	RUN(stop_joins);
	RUN(helpers_block_signals);
	TEST_EXIT();
}
