/* handshake_rate.c: the handshake rate weftd gives the engine (see
 * handshake_rate.h). A value the user gave is taken only if it is all a
 * number that fits: "abc", "10k" or 2^32 must not turn the defence off (0)
 * or shrink it without a word. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "crypto/crypto.h"
#include "weft/engine.h"
#include "weftd/handshake_rate.h"
#include "weftd/log.h"

#define NSEC_PER_SEC UINT64_C(1000000000)

static uint64_t monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

/* 0 and *rate, or -EINVAL: digits only (no sign, no suffix), at most UINT_MAX. */
static int parse_rate(const char *s, unsigned *rate)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > UINT_MAX)
		return -EINVAL;
	*rate = (unsigned)v;
	return 0;
}

/* What HANDSHAKE_RATE_SHARE of a core buys, counting one X25519 per
 * message (what a flood's initiation costs before its static key fails to
 * open; an honest one costs four). A flood faster than that meets cookies
 * after at most that many X25519s a second, however fast it is; a machine
 * that cannot keep up builds a backlog and meets the engine's other rule. */
static unsigned measured_rate(void)
{
	uint8_t priv[32] = { 1 }, pub[32] = { 9 }, shared[32];
	uint64_t best = UINT64_MAX;

	/* the fastest of a few rounds: other work on the machine only slows some */
	for (int round = 0; round < 4; round++) {
		uint64_t t0 = monotonic_ns();
		for (int i = 0; i < HANDSHAKE_RATE_PROBES; i++) {
			x25519(shared, priv, pub);
			pub[0] ^= shared[0] | 1; /* a new point each time */
		}
		uint64_t t = (monotonic_ns() - t0) / HANDSHAKE_RATE_PROBES;
		best = t && t < best ? t : best;
	}
	memzero(shared, sizeof(shared));
	uint64_t rate = NSEC_PER_SEC / HANDSHAKE_RATE_SHARE / (best ? best : 1);
	if (rate < HANDSHAKE_RATE_MIN)
		rate = HANDSHAKE_RATE_MIN;
	if (rate > WEFT_HANDSHAKE_RATE)
		rate = WEFT_HANDSHAKE_RATE;
	log_verbose("X25519 takes %" PRIu64 " ns here: under load above %" PRIu64 " handshakes a second",
		    best, rate);
	return (unsigned)rate;
}

unsigned handshake_rate(void)
{
	const char *forced = getenv(HANDSHAKE_RATE_ENV);
	unsigned rate;

	if (!forced || !*forced)
		return measured_rate();
	if (parse_rate(forced, &rate) == 0)
		return rate;
	log_error("%s=%s is not a whole number from 0 to %u; using the measured rate",
		  HANDSHAKE_RATE_ENV, forced, UINT_MAX);
	return measured_rate();
}
