/* init.c: crypto_init, the one-time set-up of the crypto backends. Safe to
 * call more than once and from several threads; the first call does the work. */
#include <errno.h>
#include <pthread.h>
#include <sodium.h>

#include "crypto/aead_backend.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_result;

static void init_once(void)
{
	uint8_t probe[BLAKE2S_HASH_LEN];
	struct b2s_ctx ctx;

	/* sodium_init picks libsodium's fastest code for this CPU and seeds
	 * its RNG; without it libsodium runs its portable reference code. */
	if (sodium_init() < 0) {
		init_result = -EIO;
		return;
	}
	/* libb2 chooses its SIMD code on the first call of each entry point by
	 * writing a function pointer; make those calls here, before data-plane
	 * threads race to. */
	b2s(probe, sizeof(probe), NULL, 0, NULL, 0);
	b2s_init(&ctx, sizeof(probe));
	b2s_update(&ctx, probe, sizeof(probe));
	b2s_final(&ctx, probe);
	init_result = 0;
}

int crypto_init(void)
{
	pthread_once(&once, init_once);
	return init_result;
}
