/* node_key.c: a mesh node's own key file (node_key.h). */
#include "mesh/node_key.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/random.h"

/* The key and its line end (CRLF at most); anything longer is not a key
 * file. The buffer holds one byte more, to see that a file is longer. */
enum { KEY_FILE_MAX = WEFT_KEY_B64_LEN + 2 };

static int read_seed(int fd, uint8_t seed[32])
{
	char text[KEY_FILE_MAX + 2];
	size_t len = 0;
	int r = -EINVAL;

	for (;;) {
		ssize_t n = read(fd, text + len, sizeof(text) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEY_FILE_MAX)
			goto out; /* longer than a key and its line end */
	}
	text[len] = 0;
	if (len && text[len - 1] == '\n')
		text[--len] = 0;
	if (len && text[len - 1] == '\r')
		text[--len] = 0;
	if (len == WEFT_KEY_B64_LEN && key_from_base64(seed, text))
		r = 0;
out:
	memzero(text, sizeof(text));
	return r;
}

static int make_seed(const char *path, uint8_t seed[32])
{
	char text[WEFT_KEY_B64_LEN + 2];
	int r;

	if (!random_fill(seed, 32))
		return errno ? -errno : -EIO;
	key_to_base64(text, seed);
	text[WEFT_KEY_B64_LEN] = '\n';
	text[WEFT_KEY_B64_LEN + 1] = 0;
	r = atomic_file_write(path, text, WEFT_KEY_B64_LEN + 1, 0600);
	memzero(text, sizeof(text));
	return r;
}

/* The Ed25519 pair from the seed and the X25519 pair converted from it;
 * the X25519 public key is checked against the one its private key gives,
 * so the WireGuard key others configure is the one this node answers to. */
static int derive(struct mesh_node_key *k, const uint8_t seed[32])
{
	uint8_t check[32];

	if (crypto_sign_seed_keypair(k->pub, k->sec, seed) ||
	    crypto_sign_ed25519_sk_to_curve25519(k->wg_priv, k->sec) ||
	    crypto_sign_ed25519_pk_to_curve25519(k->wg_pub, k->pub) ||
	    !x25519_public(check, k->wg_priv) || !memeq_ct(check, k->wg_pub, 32))
		return -EINVAL;
	return 0;
}

int mesh_node_key_load(const char *path, struct mesh_node_key *k, bool *created)
{
	uint8_t seed[32];
	struct stat st;
	int fd, r;

	memset(k, 0, sizeof(*k));
	*created = false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		r = make_seed(path, seed);
		if (r)
			goto out;
		*created = true;
	} else if (fd < 0) {
		return errno == ELOOP ? -EPERM : -errno;
	} else {
		if (fstat(fd, &st) < 0)
			r = -errno;
		else if (!S_ISREG(st.st_mode) || (st.st_mode & 077) || st.st_uid != geteuid())
			r = -EPERM;
		else
			r = read_seed(fd, seed);
		close(fd);
		if (r)
			goto out;
	}
	r = derive(k, seed);
out:
	memzero(seed, sizeof(seed));
	if (r) {
		mesh_node_key_clear(k);
		*created = false;
	}
	return r;
}

void mesh_node_key_clear(struct mesh_node_key *k)
{
	memzero(k, sizeof(*k));
}
