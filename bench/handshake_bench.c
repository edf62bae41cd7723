/* handshake_bench.c: what handshake messages cost the engine on one core,
 * with no sockets in the way (docs/performance.md, "Handshakes"):
 *   answered:  a peer's initiations, each consumed and answered with a
 *              response (the work of an honest handshake on the responder);
 *   flood:     initiations with a valid mac1 and nothing else, before the
 *              device is under load (one X25519 each, then refused);
 *   cookies:   the same flood under load, from 65,536 addresses: mac2 demanded,
 *              cookie replies paced per source (most are withheld).
 *   make && build/bench/handshake_bench [seconds per case, default 1]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../tests/unit/engine_harness.h"

#define SEC_PER_INITIATION (NSEC_PER_SEC / INITIATIONS_PER_SECOND + 1)

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct world w;

#define FLOOD_MSGS 1024
static struct message_handshake_initiation flood[FLOOD_MSGS];

static void make_flood(void)
{
	for (int i = 0; i < FLOOD_MSGS; i++) {
		h_random(&w.a, (uint8_t *)&flood[i], sizeof(flood[i]));
		flood[i].header.type = htole32(MESSAGE_HANDSHAKE_INITIATION);
		memset(flood[i].macs.mac2, 0, COOKIE_LEN);
		set_mac1(&flood[i], sizeof(flood[i]), w.b.pub);
	}
}

/* Messages per second b takes in `mode` over `secs` of wall time. */
static double run(int mode, double secs)
{
	struct message_handshake_initiation m;
	struct weft_endpoint from;
	double t0 = now_s(), t;
	unsigned long n = 0;

	weft_device_set_under_load(w.b.dev, mode == 2);
	do {
		for (int i = 0; i < 64; i++, n++) {
			endpoint4(&from, 0xc6120000 + (unsigned)(n & 0xffff), 1000);
			if (mode == 0) {
				/* a fresh initiation from a: consume, respond */
				w.now += SEC_PER_INITIATION; /* past the per-peer flood limit */
				fresh_initiation(&w.a, &m);
				weft_receive(w.b.dev, (const uint8_t *)&m, sizeof(m), &w.a.addr, &w.b.out);
			} else {
				weft_receive(w.b.dev, (const uint8_t *)&flood[n % FLOOD_MSGS], sizeof(m), &from,
					     &w.b.out);
			}
			node_reset_out(&w.b);
		}
		t = now_s() - t0;
	} while (t < secs);
	return n / t;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 1.0;

	world_init(&w, 7);
	weft_device_set_handshake_budget(w.b.dev, 0);  /* measure the work, not the queue */
	weft_device_set_handshake_rate(w.b.dev, 0);    /* and no load unless asked */
	make_flood();
	/* the initiator's own cost is measured apart and taken out below */
	struct message_handshake_initiation m;
	double t0 = now_s();
	unsigned long k = 0;
	while (now_s() - t0 < secs / 2) {
		w.now += SEC_PER_INITIATION;
		fresh_initiation(&w.a, &m);
		k++;
	}
	double make_s = (now_s() - t0) / k;
	double answered = run(0, secs);
	double answered_only = 1.0 / (1.0 / answered - make_s);
	double flood_rate = run(1, secs);
	double cookies = run(2, secs);
	printf("Handshake messages handled per second on one core (engine only)\n\n");
	printf("| message | per second | us each |\n|---|---:|---:|\n");
	printf("| initiation answered with a response | %.0f | %.1f |\n", answered_only, 1e6 / answered_only);
	printf("| flood initiation (valid mac1), not under load | %.0f | %.1f |\n", flood_rate, 1e6 / flood_rate);
	printf("| flood initiation under load (mac2 demanded, cookie replies paced per source) | %.0f | %.1f |\n", cookies, 1e6 / cookies);
	world_free(&w);
	return 0;
}
