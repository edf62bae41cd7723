/* timerheap.h: a binary min-heap of deadlines, one node per peer, so that
 * weft_tick finds the due peers in O(log n) among a million. */
#ifndef WEFT_TIMERHEAP_H
#define WEFT_TIMERHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct heap_node {
	uint64_t deadline; /* monotonic ns; UINT64_MAX while not in the heap */
	size_t pos;
};

struct timerheap {
	struct heap_node **nodes;
	size_t count, cap;
};

void timerheap_free(struct timerheap *h);
/* Inserts, moves or (deadline UINT64_MAX) removes node. 0 or -ENOMEM. */
int timerheap_set(struct timerheap *h, struct heap_node *node, uint64_t deadline);
/* The earliest node, or NULL. */
static inline struct heap_node *timerheap_min(const struct timerheap *h)
{
	return h->count ? h->nodes[0] : NULL;
}

#endif
