/* replay.h: the sliding window of received counters (RFC 6479 style) that
 * rejects replayed and too-old data packets. The window is checked before
 * and updated only after the AEAD tag has been verified, so a forged packet
 * can never move it. */
#ifndef WEFT_REPLAY_H
#define WEFT_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

enum {
	REPLAY_BITS_PER_WORD = 64,
	REPLAY_WORDS = 128, /* 8192 bits; the usable window is 8192 - 64 = 8128 */
	REPLAY_WINDOW = (REPLAY_WORDS - 1) * REPLAY_BITS_PER_WORD,
};

struct replay_window {
	uint64_t greatest;             /* highest counter accepted + 1; 0 = none yet */
	uint64_t bitmap[REPLAY_WORDS];
};

void replay_init(struct replay_window *w);
/* Would this counter be accepted? (No state change.) Counters at or above
 * limit (REJECT_AFTER_MESSAGES) are refused. */
bool replay_check(const struct replay_window *w, uint64_t counter, uint64_t limit);
/* Marks counter as seen; returns false if it was already seen or too old. */
bool replay_update(struct replay_window *w, uint64_t counter, uint64_t limit);

#endif
