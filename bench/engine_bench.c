/* engine_bench.c: how much spreading a batch's ChaCha20-Poly1305 over
 * threads (env.parallel, weftd's workers) speeds up the engine itself, with
 * no sockets, TUN or peer process in the way. Two engines in one process
 * hold a session; each round, one seals a batch of full-size packets and the
 * other opens them, once on the calling thread alone and once per number of
 * helper threads up to one per other CPU. On a machine whose cores are free
 * this is the gain a daemon gets; docs/performance.md compares it with the
 * tunnel benchmark, where both ends and iperf3 share the same CPUs.
 *   make && build/bench/engine_bench [seconds per case, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tests/unit/engine_harness.h"
#include "../src/weftd/workers.c"

#define PACKET_LEN 1420 /* wg-quick's default MTU */
#define BATCH SLOTS     /* the harness's out holds this many */

static struct workers pool;

static void pool_parallel(void *ctx, void (*job)(void *arg, size_t i), void *arg, size_t n)
{
	(void)ctx;
	workers_run(&pool, job, arg, n);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* One round: a seals BATCH packets in one batch, b opens them in one.
 * Returns the packets b delivered. */
static size_t round_trip(struct world *w)
{
	static uint8_t pkt[PACKET_LEN];
	size_t delivered;

	make_ipv4(pkt, w->a.tunnel_ip, w->b.tunnel_ip, PACKET_LEN);
	weft_batch_begin(w->a.dev, &w->a.out);
	for (int i = 0; i < BATCH; i++)
		weft_send(w->a.dev, pkt, PACKET_LEN, &w->a.out);
	weft_batch_end(w->a.dev);
	weft_batch_begin(w->b.dev, &w->b.out);
	for (size_t i = 0; i < w->a.out.send_count; i++)
		weft_receive(w->b.dev, w->a.send[i].data, w->a.send[i].len, &w->a.addr, &w->b.out);
	weft_batch_end(w->b.dev);
	delivered = w->b.out.deliver_count;
	node_reset_out(&w->a);
	node_reset_out(&w->b);
	return delivered;
}

int main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 1.0, base = 0;
	int most = workers_wanted();
	struct world w;

	if (seconds <= 0) {
		fprintf(stderr, "usage: %s [seconds per case]\n", argv[0]);
		return 2;
	}
	world_init(&w, 1);
	node_send_ip(&w.a, 100); /* the handshake, then one packet each way */
	world_flush(&w);
	node_send_ip(&w.b, 100);
	world_flush(&w);
	if (!w.a.peer->keypairs.current || w.b.delivered != 1) {
		fprintf(stderr, "engine_bench: no session between the two engines\n");
		return 1;
	}
	w.a.dev->env.parallel.run = w.b.dev->env.parallel.run = pool_parallel;

	printf("Engine, one batch of %d x %d-byte packets sealed, then opened, per round\n\n", BATCH,
	       PACKET_LEN);
	printf("| threads | rounds/s | Gbit/s of packets | speed-up |\n|---:|---:|---:|---:|\n");
	for (int helpers = 0; helpers <= (most > 0 ? most : 1); helpers++) {
		size_t rounds = 0, lost = 0;
		double t0, t;

		if (workers_start(&pool, helpers) < 0) {
			fprintf(stderr, "engine_bench: cannot start %d helper threads\n", helpers);
			return 1;
		}
		round_trip(&w); /* warm up: contexts, pages */
		t0 = now_s();
		do {
			lost += BATCH - round_trip(&w);
			rounds++;
		} while ((t = now_s() - t0) < seconds);
		workers_stop(&pool);
		double gbits = rounds * BATCH * PACKET_LEN * 8.0 / t / 1e9;
		if (!helpers)
			base = gbits;
		printf("| %d | %.0f | %.2f | %.2fx |\n", helpers + 1, rounds / t, gbits, gbits / base);
		if (lost) {
			fprintf(stderr, "engine_bench: %zu packets were not delivered\n", lost);
			return 1;
		}
	}
	world_free(&w);
	return 0;
}
