/* fuzz_socks5.c: libFuzzer target for what `weft serve` reads from SOCKS5
 * clients (src/serve/socks5.c) and the Expose/SOCKS5 settings
 * (src/serve/reverse_settings.c). Each parser sees the input at every
 * length it is offered in a real read loop; none may read past what it was
 * given, claim more than it had, or crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* serve's files are not in libweft.a: compile them in */
#include "serve/reverse_settings.c"
#include "serve/socks5.c"

static void check_used(int used, size_t len)
{
	if (used > (int)len || used < -1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* copies of exactly the given length, so ASan sees any read past it */
	uint8_t *buf = malloc(size ? size : 1);
	struct socks5_request req;
	enum socks5_reply why;
	uint8_t method;
	bool ok;

	if (!buf)
		return 0;
	memcpy(buf, data, size);
	for (size_t n = 0; n <= size; n++) {
		uint8_t *tail = buf + size - n; /* the last n bytes: ends where the buffer ends */
		check_used(socks5_greeting(tail, n, n & 1, &method), n);
		check_used(socks5_auth(tail, n, "alice", "s3cret", &ok), n);
		int used = socks5_request(tail, n, &req, &why);
		check_used(used, n);
		if (used > 0 && why == SOCKS5_OK && req.atyp == 3 && strlen(req.name) >= sizeof(req.name))
			abort();
	}
	free(buf);

	/* the settings: key and value split at the first NUL */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	const char *value = memchr(text, '\0', size) ? text + strlen(text) + 1 : "";
	if (value > text + size)
		value = "";
	struct reverse_settings rs;
	bool known;
	memset(&rs, 0, sizeof(rs));
	for (int i = 0; i < 2; i++) {
		reverse_setting(&rs, i ? "SOCKS5" : "Expose", text, &known);
		reverse_setting(&rs, text, value, &known);
	}
	if (rs.n_expose > REVERSE_MAX_EXPOSE)
		abort();
	char line[256];
	for (unsigned i = 0; i < rs.n_expose; i++)
		expose_rule_text(&rs.expose[i], line, sizeof(line));
	free(text);
	return 0;
}
