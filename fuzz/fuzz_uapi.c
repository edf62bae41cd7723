/* fuzz_uapi.c: libFuzzer target for weftd's UAPI core (src/weftd/uapi.c)
 * over a real engine device. The input is a byte stream from one client,
 * fed in chunks whose sizes come from the input, with the reply drained only
 * now and then. Checks, beyond "no crash, no leak":
 *   - the line buffer and the reply backlog stay bounded;
 *   - every reply is "key=value" lines ending in "errno=N" and a blank line;
 *   - get is a fixed point: a fresh device set from one get's output gives
 *     the same get output (so the parser accepts all that the formatter
 *     writes, and nothing is lost on the way). */
/* The daemon's files are not in libweft.a: compile them in. */
#include "weftd/uapi.c"
#include "weftd/log.c"

#include <assert.h>

static uint64_t f_now(void *ctx) { (void)ctx; return 1; }
static uint64_t f_wall(void *ctx) { (void)ctx; return 1; }
static void f_random(void *ctx, uint8_t *buf, size_t len)
{
	(void)ctx;
	memset(buf, 0x5a, len);
}

static const struct weft_env fuzz_env = { .clock = { .now_ns = f_now, .wall_ns = f_wall },
					  .random = { .fill = f_random } };

static struct weft_device *new_device(void)
{
	struct weft_device *dev = NULL;
	weft_device_new(&fuzz_env, &dev);
	return dev;
}

static int f_port(void *ctx, uint16_t port)
{
	if (port == 1) /* a port "in use": exercises the -EADDRINUSE path */
		return -EADDRINUSE;
	weft_device_set_listen_port(ctx, port);
	return 0;
}

static int f_mark(void *ctx, uint32_t mark)
{
	(void)ctx;
	return mark == 1 ? -EPERM : 0;
}

/* Every complete reply line is key=value or blank. */
static void check_reply(const char *out, size_t len)
{
	size_t start = 0;

	for (size_t i = 0; i < len; i++) {
		if (out[i] != '\n')
			continue;
		if (i > start)
			assert(memchr(out + start, '=', i - start));
		start = i + 1;
	}
}

static char *get_all(struct weft_device *dev, size_t *len)
{
	struct uapi_conn c;
	char *copy;

	uapi_conn_init(&c);
	assert(uapi_conn_feed(&c, dev, NULL, "get=1\n\n", 7) == 7);
	*len = uapi_conn_pending(&c);
	copy = malloc(*len + 1);
	assert(copy);
	memcpy(copy, uapi_conn_output(&c), *len);
	copy[*len] = '\0';
	uapi_conn_release(&c);
	assert(*len >= 9 && !strcmp(copy + *len - 9, "errno=0\n\n"));
	return copy;
}

static bool read_only_key(const char *line)
{
	static const char *const keys[] = {
		"last_handshake_time_sec=", "last_handshake_time_nsec=", "rx_bytes=", "tx_bytes=", "errno=",
	};
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		if (!strncmp(line, keys[i], strlen(keys[i])))
			return true;
	return false;
}

static void check_fixed_point(struct weft_device *dev)
{
	struct uapi_hooks hooks;
	struct weft_device *copy = new_device();
	struct uapi_conn c;
	size_t len, len2;
	char *first = get_all(dev, &len), *second;

	assert(copy);
	hooks = (struct uapi_hooks){ .set_listen_port = f_port, .set_fwmark = f_mark, .ctx = copy };
	uapi_conn_init(&c);
	uapi_conn_feed(&c, copy, &hooks, "set=1\n", 6);
	for (char *line = first; *line;) {
		char *nl = strchr(line, '\n');
		assert(nl);
		if (nl > line && !read_only_key(line))
			uapi_conn_feed(&c, copy, &hooks, line, (size_t)(nl - line) + 1);
		line = nl + 1;
	}
	uapi_conn_feed(&c, copy, &hooks, "\n", 1);
	assert(uapi_conn_pending(&c) == 9 && !memcmp(uapi_conn_output(&c), "errno=0\n\n", 9));
	uapi_conn_release(&c);

	second = get_all(copy, &len2);
	assert(len == len2 && !memcmp(first, second, len));
	memzero(first, len);
	memzero(second, len2);
	free(first);
	free(second);
	weft_device_free(copy);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init(LOG_SILENT, "fuzz");
	return crypto_init() < 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct weft_device *dev = new_device();
	struct uapi_hooks hooks = { .set_listen_port = f_port, .set_fwmark = f_mark, .ctx = dev };
	struct uapi_conn c;
	size_t off = 0, step = 0;

	if (!dev || size > 1 << 20)
		goto out;
	uapi_conn_init(&c);
	while (off < size) {
		/* chunk sizes 1..64 from the data itself, so splits vary */
		size_t chunk = 1 + (size_t)(data[step++ % size] & 63);
		if (chunk > size - off)
			chunk = size - off;
		size_t used = uapi_conn_feed(&c, dev, &hooks, (const char *)data + off, chunk);
		assert(used <= chunk);
		assert(c.line_len <= UAPI_LINE_MAX);
		assert(uapi_conn_pending(&c) <= 2 * UAPI_OUT_HIGH + (1 << 20));
		check_reply(uapi_conn_output(&c), uapi_conn_pending(&c));
		off += used;
		/* drain the reply on some steps only, to exercise the backlog */
		if (used < chunk || (data[off % size] & 1))
			uapi_conn_consume(&c, uapi_conn_pending(&c));
	}
	uapi_conn_release(&c);
	check_fixed_point(dev);
out:
	if (dev)
		weft_device_free(dev);
	return 0;
}
