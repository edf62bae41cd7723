/* view_store.c: a node's view of the members on disk (view_store.h). */
#include "mesh/view_store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/atomic_file.h"

#define MAGIC "weftview1\n"
enum { MAGIC_LEN = sizeof(MAGIC) - 1 };

/* The largest file a view can make: every subject's slots full. */
static const size_t max_file = MAGIC_LEN + (size_t)MESH_VIEW_MAX * 2 * (2 + MESH_RECORD_MAX);

struct buf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static void put_record(const struct mesh_record *r, void *arg)
{
	struct buf *b = arg;
	int n;

	if (b->err)
		return;
	if (b->cap - b->len < 2 + MESH_RECORD_MAX) {
		size_t cap = b->cap * 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			b->err = -ENOMEM;
			return;
		}
		b->p = p, b->cap = cap;
	}
	n = mesh_record_encode(r, b->p + b->len + 2, MESH_RECORD_MAX);
	if (n < 0) {
		b->err = n;
		return;
	}
	b->p[b->len] = (uint8_t)n, b->p[b->len + 1] = (uint8_t)(n >> 8);
	b->len += 2 + (size_t)n;
}

int mesh_view_save(const char *path, const struct mesh_view *v)
{
	struct buf b = { .cap = 64 * 1024 };
	int r;

	b.p = malloc(b.cap);
	if (!b.p)
		return -ENOMEM;
	memcpy(b.p, MAGIC, MAGIC_LEN);
	b.len = MAGIC_LEN;
	mesh_view_each(v, put_record, &b);
	r = b.err ? b.err : atomic_file_write(path, b.p, b.len, 0600);
	free(b.p);
	return r;
}

int mesh_view_load(const char *path, struct mesh_view *v, uint64_t now, size_t *dropped)
{
	FILE *f = fopen(path, "rbe");
	uint8_t head[MAGIC_LEN], *rec;
	struct mesh_record r;
	size_t total = MAGIC_LEN;
	int err = 0;

	*dropped = 0;
	if (!f)
		return -errno;
	rec = malloc(MESH_RECORD_MAX);
	if (!rec) {
		fclose(f);
		return -ENOMEM;
	}
	if (fread(head, 1, MAGIC_LEN, f) != MAGIC_LEN || memcmp(head, MAGIC, MAGIC_LEN)) {
		err = -EINVAL;
		goto out;
	}
	for (;;) {
		uint8_t lb[2];
		size_t got = fread(lb, 1, 2, f), n;
		int a;

		if (got == 0 && feof(f))
			break;
		n = got == 2 ? (size_t)lb[0] | (size_t)lb[1] << 8 : 0;
		total += 2 + n;
		if (got != 2 || n == 0 || n > MESH_RECORD_MAX || total > max_file || fread(rec, 1, n, f) != n) {
			err = ferror(f) ? -EIO : -EINVAL;
			break;
		}
		if (mesh_record_decode(&r, rec, n)) {
			(*dropped)++;
			continue;
		}
		a = mesh_view_add(v, &r, now);
		if (a == -ENOMEM || a == -ENOSPC) {
			err = a;
			break;
		}
		if (a < 0)
			(*dropped)++;
	}
out:
	free(rec);
	fclose(f);
	return err;
}
