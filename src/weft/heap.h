/* heap.h: the heap of a short-lived command that reads and writes whole
 * peer stores (heap.c). */
#ifndef WEFT_CLI_HEAP_H
#define WEFT_CLI_HEAP_H

/* Sets the process's heap up for one command that works on a large store:
 * one region, reused as it is freed, in transparent huge pages where the
 * kernel offers them on request. Call once, early; it changes malloc's
 * behaviour for the rest of the process, so not for long-running servers.
 * Failures are ignored: the heap then works as before. */
void heap_prepare(void);

#endif
