/* heap.c: a heap for commands that load a whole peer store (heap.h).
 *
 * `weft peer add` at 10,000 peers touches about 20 MB: both files, the
 * device's answer, the parsed peers and records, a copy to rewrite from,
 * the new text. In 4 KiB pages that was 4,800 page faults, each a trip into
 * the kernel to zero one page: a fifth of the command's CPU time. So the
 * heap is grown once by HEAP_REGION, with malloc told to take large blocks
 * from it too (not from mmap, whose blocks go back to the kernel on free and
 * fault again when allocated anew) and to keep what is freed, and the
 * region is advised for transparent huge pages: 2 MiB a fault. Where the
 * kernel gives huge pages only on request (transparent_hugepage "madvise",
 * Debian's default) that is the difference; with "always" it already was,
 * with "never" nothing changes. Freed memory holds no secrets: everything
 * that held one is wiped before it is freed. */
#include "heap.h"

#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define HUGE_PAGE (2u << 20)
/* Room for a store of 10,000 peers and more; malloc takes blocks below its
 * largest mmap threshold (32 MiB on 64-bit) from the heap when told to. */
#define HEAP_REGION (28u << 20)
#define MMAP_THRESHOLD (32u << 20)
#define TRIM_THRESHOLD (256u << 20)

void heap_prepare(void)
{
	static int done;
	uintptr_t start, end;
	char *p;

	if (done++)
		return;
	if (!mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) || !mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
		return;
	/* one block of the whole region grows the heap by it; freed, it stays
	 * (under the trim threshold) for the command's allocations */
	p = malloc(HEAP_REGION);
	if (!p)
		return;
	start = ((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1);
	end = ((uintptr_t)p + HEAP_REGION) & ~(uintptr_t)(HUGE_PAGE - 1);
	if (end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE);
	free(p);
}
