/* timerheap.c: see timerheap.h. */
#include <errno.h>
#include <stdlib.h>

#include "wg/timerheap.h"

void timerheap_free(struct timerheap *h)
{
	for (size_t i = 0; i < h->count; i++)
		h->nodes[i]->deadline = UINT64_MAX;
	free(h->nodes);
	*h = (struct timerheap){ 0 };
}

static void put(struct timerheap *h, size_t pos, struct heap_node *n)
{
	h->nodes[pos] = n;
	n->pos = pos;
}

static void sift_up(struct timerheap *h, size_t pos)
{
	struct heap_node *n = h->nodes[pos];
	while (pos > 0) {
		size_t parent = (pos - 1) / 2;
		if (h->nodes[parent]->deadline <= n->deadline)
			break;
		put(h, pos, h->nodes[parent]);
		pos = parent;
	}
	put(h, pos, n);
}

static void sift_down(struct timerheap *h, size_t pos)
{
	struct heap_node *n = h->nodes[pos];
	for (;;) {
		size_t child = pos * 2 + 1;
		if (child >= h->count)
			break;
		if (child + 1 < h->count && h->nodes[child + 1]->deadline < h->nodes[child]->deadline)
			child++;
		if (n->deadline <= h->nodes[child]->deadline)
			break;
		put(h, pos, h->nodes[child]);
		pos = child;
	}
	put(h, pos, n);
}

int timerheap_set(struct timerheap *h, struct heap_node *node, uint64_t deadline)
{
	bool in_heap = node->deadline != UINT64_MAX;
	if (deadline == UINT64_MAX) {
		if (!in_heap)
			return 0;
		size_t pos = node->pos;
		struct heap_node *last = h->nodes[--h->count];
		node->deadline = UINT64_MAX;
		if (last != node) {
			put(h, pos, last);
			sift_up(h, pos);
			sift_down(h, last->pos);
		}
		return 0;
	}
	if (!in_heap) {
		if (h->count == h->cap) {
			size_t cap = h->cap ? h->cap * 2 : 16;
			struct heap_node **nodes = realloc(h->nodes, cap * sizeof(*nodes));
			if (!nodes)
				return -ENOMEM;
			h->nodes = nodes;
			h->cap = cap;
		}
		node->deadline = deadline;
		put(h, h->count++, node);
		sift_up(h, node->pos);
		return 0;
	}
	uint64_t old = node->deadline;
	node->deadline = deadline;
	if (deadline < old)
		sift_up(h, node->pos);
	else
		sift_down(h, node->pos);
	return 0;
}
