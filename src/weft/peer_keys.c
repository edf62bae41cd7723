/* peer_keys.c: the private keys weft generates for peers, kept so that
 * `peer config` can print a peer's config again: one 0600 file per peer,
 * named after its public key (base64url, as file names cannot hold '/'),
 * in a 0700 directory beside the interface's config: IFACE.peers/KEY.key.
 * Files are written atomically and wiped from memory once written or read. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "device.h"
#include "peer_keys.h"
#include "usage.h"
#include "util/atomic_file.h"
#include "util/encoding.h"

#define KEY_DIR_SUFFIX ".peers"
#define KEY_FILE_SUFFIX ".key"
#define KEY_DIR_MODE 0700
#define KEY_FILE_MODE 0600

static bool key_dir_path(char *out, size_t size, const char *conf_path)
{
	size_t len = strlen(conf_path);
	const char *ext = ".conf";

	if (len > strlen(ext) && !strcmp(conf_path + len - strlen(ext), ext))
		len -= strlen(ext);
	return (size_t)snprintf(out, size, "%.*s%s", (int)len, conf_path, KEY_DIR_SUFFIX) < size;
}

static bool key_file_path(char *out, size_t size, const char *conf_path, const uint8_t pub[WG_KEY_LEN])
{
	char dir[PATH_MAX], b64[WEFT_KEY_B64_LEN + 1];

	if (!key_dir_path(dir, sizeof(dir), conf_path))
		return false;
	key_to_base64(b64, pub);
	for (char *p = b64; *p; p++) /* base64url: '/' cannot be in a name */
		*p = *p == '/' ? '_' : *p == '+' ? '-' : *p;
	return (size_t)snprintf(out, size, "%s/%s%s", dir, b64, KEY_FILE_SUFFIX) < size;
}

int peer_key_write(const char *conf_path, const uint8_t pub[WG_KEY_LEN], const uint8_t priv[WG_KEY_LEN])
{
	char dir[PATH_MAX], path[PATH_MAX], line[WEFT_KEY_B64_LEN + 2];
	struct stat st;
	int ret;

	if (!key_dir_path(dir, sizeof(dir), conf_path) || !key_file_path(path, sizeof(path), conf_path, pub))
		return -ENAMETOOLONG;
	if (mkdir(dir, KEY_DIR_MODE) < 0 && errno != EEXIST)
		return -errno;
	if (lstat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_mode & 077) && chmod(dir, KEY_DIR_MODE) < 0)
		return -errno;
	key_to_base64(line, priv);
	line[WEFT_KEY_B64_LEN] = '\n';
	line[WEFT_KEY_B64_LEN + 1] = '\0';
	ret = atomic_file_write(path, line, WEFT_KEY_B64_LEN + 1, KEY_FILE_MODE);
	memzero(line, sizeof(line));
	return ret;
}

/* The stored private key of pub: true when there is one and it matches. */
bool peer_key_read(const char *conf_path, const uint8_t pub[WG_KEY_LEN], uint8_t priv[WG_KEY_LEN])
{
	char path[PATH_MAX], buf[WEFT_KEY_B64_LEN + 8];
	uint8_t check[WG_KEY_LEN];
	bool ok = false;
	ssize_t n;
	int fd;

	if (!key_file_path(path, sizeof(path), conf_path, pub))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n >= WEFT_KEY_B64_LEN) {
		buf[WEFT_KEY_B64_LEN] = '\0';
		ok = key_from_base64(priv, buf) && x25519_public(check, priv) &&
		     memeq_ct(check, pub, WG_KEY_LEN);
		if (!ok)
			fprintf(stderr, "%s: warning: %s does not hold this peer's private key; ignoring it\n",
				prog_name, path);
	}
	memzero(buf, sizeof(buf));
	if (!ok)
		memzero(priv, WG_KEY_LEN);
	return ok;
}

bool peer_key_exists(const char *conf_path, const uint8_t pub[WG_KEY_LEN])
{
	char path[PATH_MAX];

	return key_file_path(path, sizeof(path), conf_path, pub) && !access(path, F_OK);
}

void peer_key_remove(const char *conf_path, const uint8_t pub[WG_KEY_LEN])
{
	char path[PATH_MAX];

	if (key_file_path(path, sizeof(path), conf_path, pub) && unlink(path) < 0 && errno != ENOENT)
		fprintf(stderr, "%s: warning: cannot remove %s: %s\n", prog_name, path, strerror(errno));
}
