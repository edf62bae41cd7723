/* cmd_show.c: `show [IFACE|all|interfaces] [FIELD]`, byte for byte what
 * wg(8) prints for the same device (colours only on a terminal, or as
 * WG_COLOR_MODE=always|never says; keys masked unless WG_HIDE_KEYS=never),
 * and `--json`, a stable shape for scripts that never carries a private or
 * preshared key:
 *
 *   {"interfaces": [{"name": "wg0", "public_key": "base64" | null,
 *     "listen_port": 51820, "fwmark": 0,
 *     "peers": [{"public_key": "base64", "preshared_key": true,
 *                "endpoint": "192.0.2.1:51820" | null,
 *                "allowed_ips": ["10.0.0.2/32"], "latest_handshake": 0,
 *                "transfer_rx": 0, "transfer_tx": 0,
 *                "persistent_keepalive": 0}]}]}
 *
 * latest_handshake is Unix time in seconds (0 = never); fwmark and
 * persistent_keepalive are 0 when off; preshared_key says whether one is
 * set. `show interfaces --json` gives {"interfaces": [{"name": ...}]}. */
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "commands.h"
#include "device.h"
#include "json_out.h"
#include "options.h"
#include "usage.h"
#include "util/encoding.h"

/* The escape sequences wg uses, in the places it uses them, so that coloured
 * output is identical too. */
#define ESC_RESET "\x1b[0m"
#define ESC_BOLD "\x1b[1m"
#define ESC_RED "\x1b[31m"
#define ESC_GREEN "\x1b[32m"
#define ESC_YELLOW "\x1b[33m"
#define ESC_CYAN "\x1b[36m"

#define SECONDS_PER_YEAR (365ULL * 24 * 60 * 60)
#define SECONDS_PER_DAY (24ULL * 60 * 60)

static bool colour;
/* The last key printed; `private-key`, `dump` and WG_HIDE_KEYS=never print
 * secrets, so this and stdout's buffer are wiped before returning. */
static char key_buf[WEFT_KEY_B64_LEN + 1];
static char out_buf[BUFSIZ];

static const char *esc(const char *seq)
{
	return colour ? seq : "";
}

static bool colour_mode(void)
{
	const char *mode = getenv("WG_COLOR_MODE");

	if (mode && !strcmp(mode, "always"))
		return true;
	if (mode && !strcmp(mode, "never"))
		return false;
	return isatty(STDOUT_FILENO);
}

/* One static buffer per kind, like wg: each result is printed before the
 * next call. */
static const char *key_b64(const uint8_t key[WG_KEY_LEN])
{
	key_to_base64(key_buf, key);
	return key_buf;
}

static const char *maybe_key(const uint8_t key[WG_KEY_LEN], bool have)
{
	return have ? key_b64(key) : "(none)";
}

static const char *masked_key(const uint8_t key[WG_KEY_LEN])
{
	const char *hide = getenv("WG_HIDE_KEYS");

	return hide && !strcmp(hide, "never") ? key_b64(key) : "(hidden)";
}

static const char *endpoint_str(const struct dev_peer *peer)
{
	static char buf[DEV_ENDPOINT_STRLEN];

	dev_endpoint_format(buf, sizeof(buf), &peer->endpoint);
	return buf;
}

static const char *allowedip_addr(const struct dev_allowedip *ip)
{
	static char buf[INET6_ADDRSTRLEN];

	if (!dev_allowedip_addr(buf, ip))
		buf[0] = '\0';
	return buf;
}

/* "1 day, 2 hours, 3 seconds", units coloured. */
static size_t pretty_time(char *buf, size_t size, unsigned long long left)
{
	static const struct { const char *unit; unsigned long long seconds; } units[] = {
		{ "year", SECONDS_PER_YEAR }, { "day", SECONDS_PER_DAY },
		{ "hour", 60 * 60 }, { "minute", 60 }, { "second", 1 },
	};
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		unsigned long long n = left / units[i].seconds;
		int w;

		left %= units[i].seconds;
		if (!n)
			continue;
		w = snprintf(buf + off, size - off, "%s%llu %s%s%s%s", off ? ", " : "", n,
			     esc(ESC_CYAN), units[i].unit, n == 1 ? "" : "s", esc(ESC_RESET));
		if (w < 0 || (size_t)w >= size - off)
			break;
		off += (size_t)w;
	}
	return off;
}

static const char *ago(int64_t then)
{
	static char buf[1024];
	time_t now = time(NULL);

	if (now == then)
		snprintf(buf, sizeof(buf), "Now");
	else if (now < then)
		snprintf(buf, sizeof(buf), "(%sSystem clock wound backward; connection problems may ensue.%s)",
			 esc(ESC_RED), esc(ESC_RESET));
	else {
		size_t off = pretty_time(buf, sizeof(buf), (unsigned long long)(now - then));
		snprintf(buf + off, sizeof(buf) - off, " ago");
	}
	return buf;
}

static const char *every(uint16_t seconds)
{
	static char buf[1024];
	size_t off = (size_t)snprintf(buf, sizeof(buf), "every ");

	pretty_time(buf + off, sizeof(buf) - off, seconds);
	return buf;
}

static const char *bytes(uint64_t b)
{
	static const char *const units[] = { "KiB", "MiB", "GiB", "TiB" };
	static char buf[64];
	double v = (double)b / 1024;
	size_t u = 0;

	if (b < 1024) {
		snprintf(buf, sizeof(buf), "%u %sB%s", (unsigned)b, esc(ESC_CYAN), esc(ESC_RESET));
		return buf;
	}
	/* KiB below 1 MiB, MiB below 1 GiB, GiB below 1 TiB, TiB beyond. */
	for (uint64_t limit = 1024ULL * 1024; u < 3 && b >= limit; limit *= 1024, u++)
		v /= 1024;
	snprintf(buf, sizeof(buf), "%.2f %s%s%s", v, esc(ESC_CYAN), units[u], esc(ESC_RESET));
	return buf;
}

/* ---- peer order: most recent handshake first, never-handshaken last,
 * otherwise as the backend listed them (wg's qsort is glibc's merge sort,
 * which keeps that order) ---- */

static const struct dev_peer *sort_base;

static int by_handshake(const void *x, const void *y)
{
	const struct dev_peer *a = &sort_base[*(const size_t *)x], *b = &sort_base[*(const size_t *)y];
	bool a_never = !a->last_handshake_sec && !a->last_handshake_nsec;
	bool b_never = !b->last_handshake_sec && !b->last_handshake_nsec;

	if (a_never != b_never)
		return a_never ? 1 : -1;
	if (a->last_handshake_sec != b->last_handshake_sec)
		return a->last_handshake_sec < b->last_handshake_sec ? 1 : -1;
	if (a->last_handshake_nsec != b->last_handshake_nsec)
		return a->last_handshake_nsec < b->last_handshake_nsec ? 1 : -1;
	return *(const size_t *)x < *(const size_t *)y ? -1 : 1;
}

/* Indices of dev's peers in display order (NULL and n_peers == 0 alike). */
static size_t *peer_order(const struct device *dev)
{
	size_t *order;

	if (!dev->n_peers || !(order = calloc(dev->n_peers, sizeof(*order))))
		return NULL;
	for (size_t i = 0; i < dev->n_peers; i++)
		order[i] = i;
	sort_base = dev->peers;
	qsort(order, dev->n_peers, sizeof(*order), by_handshake);
	return order;
}

static void pretty_print(const struct device *dev)
{
	const char *R = esc(ESC_RESET), *B = esc(ESC_BOLD);
	size_t *order = peer_order(dev);

	printf("%s", R);
	printf("%s%sinterface%s: %s%s%s\n", esc(ESC_GREEN), B, R, esc(ESC_GREEN), dev->name, R);
	if (dev->flags & DEV_HAS_PUBLIC_KEY)
		printf("  %spublic key%s: %s\n", B, R, key_b64(dev->public_key));
	if (dev->flags & DEV_HAS_PRIVATE_KEY)
		printf("  %sprivate key%s: %s\n", B, R, masked_key(dev->private_key));
	if (dev->listen_port)
		printf("  %slistening port%s: %u\n", B, R, dev->listen_port);
	if (dev->fwmark)
		printf("  %sfwmark%s: 0x%x\n", B, R, dev->fwmark);
	if (dev->n_peers)
		printf("\n");
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[order ? order[i] : i];

		printf("%s%speer%s: %s%s%s\n", esc(ESC_YELLOW), B, R, esc(ESC_YELLOW), key_b64(p->public_key), R);
		if (p->flags & PEER_HAS_PRESHARED_KEY)
			printf("  %spreshared key%s: %s\n", B, R, masked_key(p->preshared_key));
		if (device_has_endpoint(p))
			printf("  %sendpoint%s: %s\n", B, R, endpoint_str(p));
		printf("  %sallowed ips%s: ", B, R);
		for (size_t j = 0; j < p->n_allowedips; j++)
			printf("%s%s/%s%u%s", allowedip_addr(&p->allowedips[j]), esc(ESC_CYAN), R,
			       p->allowedips[j].cidr, j + 1 < p->n_allowedips ? ", " : "\n");
		if (!p->n_allowedips)
			printf("(none)\n");
		if (p->last_handshake_sec)
			printf("  %slatest handshake%s: %s\n", B, R, ago(p->last_handshake_sec));
		if (p->rx_bytes || p->tx_bytes) {
			printf("  %stransfer%s: ", B, R);
			printf("%s received, ", bytes(p->rx_bytes));
			printf("%s sent\n", bytes(p->tx_bytes));
		}
		if (p->persistent_keepalive)
			printf("  %spersistent keepalive%s: %s\n", B, R, every(p->persistent_keepalive));
		if (i + 1 < dev->n_peers)
			printf("\n");
	}
	free(order);
}

/* ---- FIELD output: tab-separated, for scripts ---- */

static const char *const fields[] = {
	"public-key", "private-key", "listen-port", "fwmark", "peers", "preshared-keys",
	"endpoints", "allowed-ips", "latest-handshakes", "transfer", "persistent-keepalive", "dump",
};

static bool valid_field(const char *f)
{
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (!strcmp(fields[i], f))
			return true;
	return false;
}

static const char *fwmark_str(uint32_t fwmark)
{
	static char buf[16];

	if (!fwmark)
		return "off";
	snprintf(buf, sizeof(buf), "0x%x", fwmark);
	return buf;
}

static void prefix(const struct device *dev, bool with_iface)
{
	if (with_iface)
		printf("%s\t", dev->name);
}

static void print_allowedips(const struct dev_peer *p, char sep, char end)
{
	for (size_t j = 0; j < p->n_allowedips; j++)
		printf("%s/%u%c", allowedip_addr(&p->allowedips[j]), p->allowedips[j].cidr,
		       j + 1 < p->n_allowedips ? sep : end);
	if (!p->n_allowedips)
		printf("(none)%c", end);
}

static void dump_print(const struct device *dev, bool with_iface)
{
	prefix(dev, with_iface);
	printf("%s\t", maybe_key(dev->private_key, dev->flags & DEV_HAS_PRIVATE_KEY));
	printf("%s\t", maybe_key(dev->public_key, dev->flags & DEV_HAS_PUBLIC_KEY));
	printf("%u\t%s\n", dev->listen_port, fwmark_str(dev->fwmark));
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];

		prefix(dev, with_iface);
		printf("%s\t", key_b64(p->public_key));
		printf("%s\t", maybe_key(p->preshared_key, p->flags & PEER_HAS_PRESHARED_KEY));
		printf("%s\t", device_has_endpoint(p) ? endpoint_str(p) : "(none)");
		print_allowedips(p, ',', '\t');
		printf("%" PRId64 "\t%" PRIu64 "\t%" PRIu64 "\t", p->last_handshake_sec, p->rx_bytes, p->tx_bytes);
		if (p->persistent_keepalive)
			printf("%u\n", p->persistent_keepalive);
		else
			printf("off\n");
	}
}

static void field_print(const struct device *dev, const char *field, bool with_iface)
{
	if (!strcmp(field, "dump")) {
		dump_print(dev, with_iface);
		return;
	}
	if (!strcmp(field, "public-key") || !strcmp(field, "private-key") ||
	    !strcmp(field, "listen-port") || !strcmp(field, "fwmark")) {
		prefix(dev, with_iface);
		if (!strcmp(field, "public-key"))
			printf("%s\n", maybe_key(dev->public_key, dev->flags & DEV_HAS_PUBLIC_KEY));
		else if (!strcmp(field, "private-key"))
			printf("%s\n", maybe_key(dev->private_key, dev->flags & DEV_HAS_PRIVATE_KEY));
		else if (!strcmp(field, "listen-port"))
			printf("%u\n", dev->listen_port);
		else
			printf("%s\n", fwmark_str(dev->fwmark));
		return;
	}
	/* Per-peer fields: one line a peer, in the backend's order. (wg
	 * 1.0.20210914 printed the interface name only once for `all
	 * endpoints`; this is the corrected form current wg prints.) */
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];

		prefix(dev, with_iface);
		if (!strcmp(field, "peers")) {
			printf("%s\n", key_b64(p->public_key));
			continue;
		}
		printf("%s\t", key_b64(p->public_key));
		if (!strcmp(field, "preshared-keys"))
			printf("%s\n", maybe_key(p->preshared_key, p->flags & PEER_HAS_PRESHARED_KEY));
		else if (!strcmp(field, "endpoints"))
			printf("%s\n", device_has_endpoint(p) ? endpoint_str(p) : "(none)");
		else if (!strcmp(field, "allowed-ips"))
			print_allowedips(p, ' ', '\n');
		else if (!strcmp(field, "latest-handshakes"))
			printf("%" PRId64 "\n", p->last_handshake_sec);
		else if (!strcmp(field, "transfer"))
			printf("%" PRIu64 "\t%" PRIu64 "\n", p->rx_bytes, p->tx_bytes);
		else if (p->persistent_keepalive) /* persistent-keepalive */
			printf("%u\n", p->persistent_keepalive);
		else
			printf("off\n");
	}
}

/* ---- JSON ---- */

static json_t *json_u64(uint64_t v)
{
	/* json_int_t is long long; counters past 2^63 would need 290 years at
	 * a terabit, so clamping is only a formality. */
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

static json_t *peer_json(const struct dev_peer *p)
{
	json_t *ips = json_array();
	char ip[INET6_ADDRSTRLEN + 8];

	for (size_t j = 0; j < p->n_allowedips; j++) {
		snprintf(ip, sizeof(ip), "%s/%u", allowedip_addr(&p->allowedips[j]), p->allowedips[j].cidr);
		json_array_append_new(ips, json_string(ip));
	}
	return json_pack("{s:s, s:b, s:o, s:o, s:I, s:o, s:o, s:i}",
			 "public_key", key_b64(p->public_key),
			 "preshared_key", (p->flags & PEER_HAS_PRESHARED_KEY) != 0,
			 "endpoint", device_has_endpoint(p) ? json_string(endpoint_str(p)) : json_null(),
			 "allowed_ips", ips,
			 "latest_handshake", (json_int_t)p->last_handshake_sec,
			 "transfer_rx", json_u64(p->rx_bytes),
			 "transfer_tx", json_u64(p->tx_bytes),
			 "persistent_keepalive", (int)p->persistent_keepalive);
}

static json_t *device_json(const struct device *dev)
{
	json_t *peers = json_array();

	for (size_t i = 0; i < dev->n_peers; i++)
		json_array_append_new(peers, peer_json(&dev->peers[i]));
	return json_pack("{s:s, s:o, s:i, s:I, s:o}",
			 "name", dev->name,
			 "public_key", dev->flags & DEV_HAS_PUBLIC_KEY ? json_string(key_b64(dev->public_key)) : json_null(),
			 "listen_port", (int)dev->listen_port,
			 "fwmark", (json_int_t)dev->fwmark,
			 "peers", peers);
}

/* {"interfaces": [...]}, taking interfaces. */
static int print_interfaces_json(json_t *interfaces)
{
	return print_json(json_pack("{s:o}", "interfaces", interfaces));
}

/* ---- the command ---- */

static void show_usage(const char *why)
{
	if (why)
		fprintf(stderr, "%s\n", why);
	command_usage(stderr, "show");
}

static void access_error(const char *iface, int err)
{
	fprintf(stderr, "Unable to access interface %s: %s\n", iface, strerror(-err));
}

static int show_interfaces(bool json)
{
	int err;
	char **names = device_list(&err);

	if (!names) {
		fprintf(stderr, "Unable to list interfaces: %s\n", strerror(-err));
		return 1;
	}
	if (json) {
		json_t *arr = json_array();
		for (char **n = names; *n; n++)
			json_array_append_new(arr, json_pack("{s:s}", "name", *n));
		device_list_free(names);
		return print_interfaces_json(arr);
	}
	for (char **n = names; *n; n++)
		printf("%s%c", *n, n[1] ? ' ' : '\n');
	device_list_free(names);
	return 0;
}

static int show_all(const char *field, bool json)
{
	int err, ret;
	char **names = device_list(&err);
	json_t *arr = json ? json_array() : NULL;

	if (!names) {
		fprintf(stderr, "Unable to list interfaces: %s\n", strerror(-err));
		json_decref(arr);
		return 1;
	}
	/* As wg: failure only if there were interfaces and none could be read. */
	ret = names[0] != NULL;
	for (char **n = names; *n; n++) {
		struct device *dev;

		err = device_get(&dev, *n);
		if (err < 0) {
			access_error(*n, err);
			continue;
		}
		if (json)
			json_array_append_new(arr, device_json(dev));
		else if (field)
			field_print(dev, field, true);
		else {
			pretty_print(dev);
			if (n[1])
				printf("\n");
		}
		device_free(dev);
		ret = 0;
	}
	device_list_free(names);
	if (json) {
		int jret = print_interfaces_json(arr);
		return ret ? ret : jret;
	}
	return ret;
}

static int show_one(const char *iface, const char *field, bool json)
{
	struct device *dev;
	int err = device_get(&dev, iface);

	if (err < 0) {
		access_error(iface, err);
		return 1;
	}
	if (json) {
		json_t *arr = json_array();
		json_array_append_new(arr, device_json(dev));
		device_free(dev);
		return print_interfaces_json(arr);
	}
	if (field)
		field_print(dev, field, false);
	else
		pretty_print(dev);
	device_free(dev);
	return 0;
}

int cmd_show(int argc, char *argv[])
{
	bool json = take_flag(&argc, argv, "--json");
	const char *field = argc == 3 ? argv[2] : NULL;
	int ret;

	colour = !json && colour_mode();
	/* the buffering stdio would pick, in a buffer we can wipe */
	setvbuf(stdout, out_buf, isatty(STDOUT_FILENO) ? _IOLBF : _IOFBF, sizeof(out_buf));
	if (argc > 3) {
		show_usage(NULL);
		return 1;
	}
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help"))) {
		command_usage(stdout, "show");
		return 0;
	}
	if (field && !valid_field(field)) {
		fprintf(stderr, "Invalid parameter: `%s'\n", field);
		show_usage(NULL);
		return 1;
	}
	if (field && json) {
		show_usage("--json prints whole interfaces; it does not combine with a FIELD");
		return 1;
	}

	if (argc == 1 || !strcmp(argv[1], "all"))
		ret = show_all(field, json);
	else if (!strcmp(argv[1], "interfaces")) {
		if (field) {
			show_usage(NULL);
			return 1;
		}
		ret = show_interfaces(json);
	} else
		ret = show_one(argv[1], field, json);
	if (fflush(stdout)) {
		perror("write");
		ret = 1;
	}
	memzero(key_buf, sizeof(key_buf));
	memzero(out_buf, sizeof(out_buf));
	return ret;
}
