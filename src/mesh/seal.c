/* seal.c: records sealed for the coord with a key derived from the network
 * secret. The network id is the associated data, so a blob of one network
 * never opens as another's even under a reused secret. */
#include "mesh/seal.h"

#include <errno.h>
#include <string.h>

#include "crypto/crypto.h"

static const char blob_label[] = "weft mesh v1 coord blob";

static void blob_key(uint8_t key[32], const uint8_t secret[MESH_SECRET_LEN])
{
	b2s(key, 32, (const uint8_t *)blob_label, strlen(blob_label), secret, MESH_SECRET_LEN);
}

static size_t sealed_len(const struct mesh_record *r)
{
	uint8_t buf[MESH_RECORD_MAX];
	int n = mesh_record_encode(r, buf, sizeof(buf));

	return n < 0 ? SIZE_MAX : (size_t)n + MESH_BLOB_OVERHEAD;
}

static bool private_candidate(const struct mesh_candidate *c)
{
	const uint8_t *a = c->addr;

	if (c->family == 4)
		return a[0] == 10 || a[0] == 127 || (a[0] == 172 && (a[1] & 0xf0) == 16) ||
		       (a[0] == 192 && a[1] == 168) || (a[0] == 169 && a[1] == 254) ||
		       (a[0] == 100 && (a[1] & 0xc0) == 64); /* CGNAT: private to the carrier */
	return (a[0] & 0xfe) == 0xfc || (a[0] == 0xfe && (a[1] & 0xc0) == 0x80) ||
	       (!memcmp(a, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 15) && a[15] == 1);
}

unsigned mesh_record_fit_blob(struct mesh_record *r)
{
	unsigned dropped = 0;

	while (r->n_candidates && sealed_len(r) > MESH_BLOB_MAX) {
		/* the last private candidate, else the last one */
		int drop = r->n_candidates - 1;
		for (int i = r->n_candidates - 1; i >= 0; i--)
			if (private_candidate(&r->candidates[i])) {
				drop = i;
				break;
			}
		memmove(&r->candidates[drop], &r->candidates[drop + 1],
			(size_t)(r->n_candidates - 1 - drop) * sizeof(r->candidates[0]));
		r->n_candidates--;
		memset(&r->candidates[r->n_candidates], 0, sizeof(r->candidates[0]));
		dropped++;
	}
	return dropped;
}

int mesh_seal_record(uint8_t *out, size_t out_len, const struct mesh_record *r,
		     const uint8_t secret[MESH_SECRET_LEN], const uint8_t nonce[24])
{
	uint8_t plain[MESH_RECORD_MAX], key[32];
	int n = mesh_record_encode(r, plain, sizeof(plain));

	if (n < 0)
		return n;
	if ((size_t)n + MESH_BLOB_OVERHEAD > MESH_BLOB_MAX || out_len < (size_t)n + MESH_BLOB_OVERHEAD)
		return -ENOSPC;
	blob_key(key, secret);
	out[0] = 1;
	memcpy(out + 1, nonce, 24);
	xaead_seal(out + 25, plain, (size_t)n, r->network_id, MESH_ID_LEN, nonce, key);
	memzero(key, sizeof(key));
	return n + MESH_BLOB_OVERHEAD;
}

int mesh_open_blob(struct mesh_record *r, const uint8_t *blob, size_t len,
		   const uint8_t secret[MESH_SECRET_LEN], const uint8_t network_id[MESH_ID_LEN])
{
	uint8_t plain[MESH_BLOB_MAX], key[32];
	size_t n;
	bool ok;

	memset(r, 0, sizeof(*r));
	if (len <= MESH_BLOB_OVERHEAD || len > MESH_BLOB_MAX || blob[0] != 1)
		return -EINVAL;
	n = len - MESH_BLOB_OVERHEAD;
	blob_key(key, secret);
	ok = xaead_open(plain, blob + 25, n + 16, network_id, MESH_ID_LEN, blob + 1, key);
	memzero(key, sizeof(key));
	if (!ok)
		return -EBADMSG;
	if (mesh_record_decode(r, plain, n) || memcmp(r->network_id, network_id, MESH_ID_LEN)) {
		memset(r, 0, sizeof(*r));
		return -EINVAL;
	}
	return 0;
}
