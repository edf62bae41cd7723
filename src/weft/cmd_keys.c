/* cmd_keys.c: `genkey`, `genpsk` and `pubkey`, exactly as wg(8) has them:
 * keys travel on stdin and stdout in base64, never on the command line, and
 * writing a fresh key into a file others can read earns wg's warning. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "crypto/crypto.h"
#include "keygen.h"
#include "util/random.h"
#include "usage.h"
#include "util/encoding.h"
#include "util/fd_io.h"

/* Writes key in base64 and a newline straight to fd 1, so that no stdio
 * buffer is left holding it. false (reported) on failure. */
static bool put_key(const uint8_t key[X25519_KEY_LEN])
{
	char line[WEFT_KEY_B64_LEN + 1];
	bool ok;

	key_to_base64(line, key);
	line[WEFT_KEY_B64_LEN] = '\n';
	ok = fd_write_all(STDOUT_FILENO, line, sizeof(line)) == 0;
	if (!ok)
		perror("write");
	memzero(line, sizeof(line));
	return ok;
}

/* genkey: a clamped X25519 private key; genpsk: 32 random bytes. */
int cmd_genkey(int argc, char *argv[])
{
	bool genkey = !strcmp(argv[0], "genkey");
	uint8_t key[X25519_KEY_LEN];
	struct stat st;
	int ret = 1;

	if (argc != 1) {
		command_usage(stderr, argv[0]);
		return 1;
	}
	/* The file already exists (the shell made it with the umask): warn
	 * when the world may read it, as wg does, but still write the key. */
	if (!fstat(STDOUT_FILENO, &st) && S_ISREG(st.st_mode) && (st.st_mode & S_IRWXO))
		fputs("Warning: writing to world accessible file.\n"
		      "Consider setting the umask to 077 and trying again.\n", stderr);

	if (!(genkey ? generate_private_key(key) : random_fill(key, sizeof(key)))) {
		perror("getrandom");
		goto out;
	}
	if (put_key(key))
		ret = 0;
out:
	memzero(key, sizeof(key));
	return ret;
}

int cmd_pubkey(int argc, char *argv[])
{
	/* stdin's buffer will hold the private key: make it one we can wipe. */
	static char inbuf[BUFSIZ];
	uint8_t key[X25519_KEY_LEN];
	char b64[WEFT_KEY_B64_LEN + 1];
	int c, ret = 1;

	if (argc != 1) {
		command_usage(stderr, argv[0]);
		return 1;
	}
	setvbuf(stdin, inbuf, _IOFBF, sizeof(inbuf));
	if (fread(b64, 1, WEFT_KEY_B64_LEN, stdin) != WEFT_KEY_B64_LEN) {
		fprintf(stderr, "%s: Key is not the correct length or format\n", prog_name);
		goto out;
	}
	b64[WEFT_KEY_B64_LEN] = '\0';
	/* Only whitespace (and NULs, as wg allows) may follow the key. */
	while ((c = getc(stdin)) != EOF) {
		if (c && !strchr(" \t\n\r\v\f", c)) {
			fprintf(stderr, "%s: Trailing characters found after key\n", prog_name);
			goto out;
		}
	}
	if (!key_from_base64(key, b64)) {
		fprintf(stderr, "%s: Key is not the correct length or format\n", prog_name);
		goto out;
	}
	x25519_public(key, key);
	if (put_key(key))
		ret = 0;
out:
	memzero(key, sizeof(key));
	memzero(b64, sizeof(b64));
	memzero(inbuf, sizeof(inbuf));
	return ret;
}
