/* replay.c: the sliding window of received counters (RFC 6479).
 *
 * The bitmap is a ring of REPLAY_WORDS words. Internally a counter c is held
 * as n = c + 1, so that greatest = 0 can mean "nothing yet"; n's bit is bit
 * (n % 64) of word (n / 64) % REPLAY_WORDS. When greatest moves forward only
 * the words it moves into are cleared, one word at a time, never bit by bit:
 * that is RFC 6479's point, and why one word of the ring is not usable window
 * (the word greatest is in is only partly filled).
 *
 * Acceptance rule (what the unit test's naive reference implements):
 *   a counter is accepted iff counter < limit, it was not accepted before,
 *   and counter + REPLAY_WINDOW >= the greatest counter accepted so far.
 * So the greatest counter and the REPLAY_WINDOW counters below it are
 * tracked. Why the ring covers them: with G = greatest (internal, +1) and
 * n >= G - REPLAY_WINDOW, n / 64 >= G / 64 - (REPLAY_WORDS - 1), so every
 * such n lands in one of the REPLAY_WORDS words from G / 64 down, each a
 * different slot of the ring, and those words were cleared when G entered
 * them. */
#include "wg/replay.h"

#include <string.h>

_Static_assert((REPLAY_WORDS & (REPLAY_WORDS - 1)) == 0, "the ring index is a mask");

enum { WORD_SHIFT = 6 }; /* log2(REPLAY_BITS_PER_WORD) */
_Static_assert(1 << WORD_SHIFT == REPLAY_BITS_PER_WORD, "word shift matches word size");

void replay_init(struct replay_window *w)
{
	memset(w, 0, sizeof(*w));
}

/* The ring slot of word number `word` (counter n is in word n / 64). */
static inline size_t ring(uint64_t word)
{
	return (size_t)(word & (REPLAY_WORDS - 1));
}

static inline uint64_t bit(uint64_t n)
{
	return UINT64_C(1) << (n & (REPLAY_BITS_PER_WORD - 1));
}

bool replay_check(const struct replay_window *w, uint64_t counter, uint64_t limit)
{
	if (counter >= limit)
		return false;
	uint64_t n = counter + 1; /* no overflow: counter < limit <= UINT64_MAX */
	if (n > w->greatest)
		return true;
	if (w->greatest - n > REPLAY_WINDOW)
		return false;
	return !(w->bitmap[ring(n >> WORD_SHIFT)] & bit(n));
}

bool replay_update(struct replay_window *w, uint64_t counter, uint64_t limit)
{
	if (counter >= limit)
		return false;
	uint64_t n = counter + 1;
	if (n > w->greatest) {
		/* Clear the words n moves into; after a jump of a whole ring or
		 * more, that is every word. */
		uint64_t from = w->greatest >> WORD_SHIFT, to = n >> WORD_SHIFT;
		uint64_t words = to - from < REPLAY_WORDS ? to - from : REPLAY_WORDS;
		for (uint64_t i = 1; i <= words; i++)
			w->bitmap[ring(from + i)] = 0;
		w->greatest = n;
	} else if (w->greatest - n > REPLAY_WINDOW) {
		return false;
	}
	uint64_t *word = &w->bitmap[ring(n >> WORD_SHIFT)];
	if (*word & bit(n))
		return false;
	*word |= bit(n);
	return true;
}
