/* cmd_set.c: `set IFACE ...` with wg(8)'s syntax and meaning: listen-port,
 * fwmark and private-key before the first peer; then per peer remove,
 * preshared-key, endpoint, persistent-keepalive and allowed-ips (a list
 * replaces the peer's, "+ip" adds and "-ip" removes one, as in current wg).
 * Keys come from files, never from the command line. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "commands.h"
#include "device.h"
#include "endpoint.h"
#include "usage.h"
#include "util/encoding.h"

/* ---- values ---- */

static bool parse_port(uint16_t *port, const char *value)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_DGRAM,
				  .ai_protocol = IPPROTO_UDP, .ai_flags = AI_PASSIVE };
	struct addrinfo *res;
	int ret;

	if (!*value) {
		fprintf(stderr, "Unable to parse empty port\n");
		return false;
	}
	/* wg hands numbers to getaddrinfo too, which wraps 99999 to 34463;
	 * a number must be a port here. */
	if (strspn(value, "0123456789") == strlen(value)) {
		unsigned long v;

		errno = 0;
		v = strtoul(value, NULL, 10);
		if (errno || v > UINT16_MAX) {
			fprintf(stderr, "Listen port is not 0-65535: `%s'\n", value);
			return false;
		}
		*port = (uint16_t)v;
		return true;
	}
	/* Like wg, a service name ("domain") is a port too. */
	ret = getaddrinfo(NULL, value, &hints, &res);
	if (ret) {
		fprintf(stderr, "%s: `%s'\n", ret == EAI_SYSTEM ? strerror(errno) : gai_strerror(ret), value);
		return false;
	}
	if (res->ai_family == AF_INET && res->ai_addrlen == sizeof(struct sockaddr_in))
		*port = ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port);
	else if (res->ai_family == AF_INET6 && res->ai_addrlen == sizeof(struct sockaddr_in6))
		*port = ntohs(((struct sockaddr_in6 *)res->ai_addr)->sin6_port);
	else {
		freeaddrinfo(res);
		fprintf(stderr, "Neither IPv4 nor IPv6 address found: `%s'\n", value);
		return false;
	}
	freeaddrinfo(res);
	return true;
}

/* wg's grammar for fwmark and persistent-keepalive: "off" (0), or a number
 * up to max, decimal (or hex as "0x..." when hex). */
static bool parse_off_or_number(unsigned long *v, const char *value, unsigned long max, bool hex)
{
	char *end;

	if (!strcasecmp(value, "off")) {
		*v = 0;
		return true;
	}
	if (!isdigit((unsigned char)value[0]))
		return false;
	errno = 0;
	*v = strtoul(value, &end, hex && strlen(value) > 2 && value[0] == '0' && value[1] == 'x' ? 16 : 10);
	return !*end && !errno && *v <= max;
}

static bool parse_fwmark(uint32_t *fwmark, const char *value)
{
	unsigned long v;

	if (parse_off_or_number(&v, value, UINT32_MAX, true)) {
		*fwmark = (uint32_t)v;
		return true;
	}
	fprintf(stderr, "Fwmark is neither 0/off nor 0-0xffffffff: `%s'\n", value);
	return false;
}

static bool parse_keepalive(uint16_t *interval, const char *value)
{
	unsigned long v;

	if (parse_off_or_number(&v, value, UINT16_MAX, false)) {
		*interval = (uint16_t)v;
		return true;
	}
	fprintf(stderr, "Persistent keepalive interval is neither 0/off nor 1-65535: `%s'\n", value);
	return false;
}

static bool parse_key(uint8_t key[WG_KEY_LEN], const char *value)
{
	if (key_from_base64(key, value))
		return true;
	/* A public key is not a secret, so it may be echoed. */
	fprintf(stderr, "Key is not the correct length or format: `%s'\n", value);
	return false;
}

/* A key file holds one base64 key and optional whitespace. An empty file
 * (or /dev/null) means the all-zero key, which clears the key. The key is
 * never echoed. */
static bool read_keyfile(uint8_t key[WG_KEY_LEN], const char *path)
{
	char b64[WEFT_KEY_B64_LEN + 1];
	char buf[WEFT_KEY_B64_LEN + 64];
	size_t len = 0;
	bool ok = false;
	FILE *f = fopen(path, "r");

	if (!f) {
		fprintf(stderr, "Unable to open key file `%s': %s\n", path, strerror(errno));
		return false;
	}
	/* Our own buffer, so that stdio's copy of the key can be wiped. */
	setvbuf(f, buf, _IOFBF, sizeof(buf));
	len = fread(b64, 1, WEFT_KEY_B64_LEN, f);
	if (ferror(f)) {
		fprintf(stderr, "Unable to read key file `%s': %s\n", path, strerror(errno));
		goto out;
	}
	if (len == 0 && feof(f)) {
		memset(key, 0, WG_KEY_LEN);
		ok = true;
		goto out;
	}
	if (len != WEFT_KEY_B64_LEN) {
		fprintf(stderr, "Invalid length key in key file `%s'\n", path);
		goto out;
	}
	b64[WEFT_KEY_B64_LEN] = '\0';
	for (int c; (c = getc(f)) != EOF;) {
		if (!isspace(c)) {
			fprintf(stderr, "Found trailing character in key file `%s'\n", path);
			goto out;
		}
	}
	if (ferror(f)) {
		fprintf(stderr, "Unable to read key file `%s': %s\n", path, strerror(errno));
		goto out;
	}
	if (!key_from_base64(key, b64)) {
		fprintf(stderr, "Key is not the correct length or format in key file `%s'\n", path);
		goto out;
	}
	ok = true;
out:
	fclose(f);
	memzero(b64, sizeof(b64));
	memzero(buf, sizeof(buf));
	return ok;
}

/* "host:port" or "[v6]:port". */
static bool parse_endpoint(union dev_endpoint *ep, const char *value)
{
	char *copy = strdup(value), *host, *port;
	bool ok = false;

	if (!copy) {
		perror("strdup");
		return false;
	}
	if (!*value) {
		fprintf(stderr, "Unable to parse empty endpoint\n");
		goto out;
	}
	if (copy[0] == '[') {
		host = copy + 1;
		port = strchr(host, ']');
		if (!port) {
			fprintf(stderr, "Unable to find matching brace of endpoint: `%s'\n", value);
			goto out;
		}
		*port++ = '\0';
		if (*port++ != ':' || !*port) {
			fprintf(stderr, "Unable to find port of endpoint: `%s'\n", value);
			goto out;
		}
	} else {
		host = copy;
		port = strrchr(copy, ':');
		if (!port || !port[1]) {
			fprintf(stderr, "Unable to find port of endpoint: `%s'\n", value);
			goto out;
		}
		*port++ = '\0';
	}
	ok = endpoint_resolve(ep, host, port, value);
out:
	free(copy);
	return ok;
}

/* "ip[/cidr][,...]", spaces already removed; each entry may start with
 * '+' (add) or '-' (remove), which makes the list a change rather than a
 * replacement. An empty list clears the peer's allowed IPs. */
static bool parse_allowedips(struct dev_peer *peer, const char *value)
{
	char *copy = strdup(value), *rest = copy, *entry;
	bool ok = false;

	if (!copy) {
		perror("strdup");
		return false;
	}
	peer->flags |= PEER_REPLACE_ALLOWEDIPS;
	while (*value && (entry = strsep(&rest, ","))) {
		struct dev_allowedip ip = { 0 };
		const char *shown = entry;
		char *mask;

		if (*entry == '+' || *entry == '-') {
			if (*entry == '-')
				ip.flags = ALLOWEDIP_REMOVE_ME;
			peer->flags &= ~PEER_REPLACE_ALLOWEDIPS;
			shown = ++entry;
		}
		mask = strchr(entry, '/');
		if (mask)
			*mask++ = '\0';
		if (strchr(entry, ':') ? inet_pton(AF_INET6, entry, &ip.ip6) == 1 : inet_pton(AF_INET, entry, &ip.ip4) == 1)
			ip.family = strchr(entry, ':') ? AF_INET6 : AF_INET;
		else {
			fprintf(stderr, "Unable to parse IP address: `%s'\n", entry);
			goto out;
		}
		if (mask) {
			unsigned long cidr;
			char *end;

			errno = 0;
			cidr = isdigit((unsigned char)*mask) ? strtoul(mask, &end, 10) : ULONG_MAX;
			if (cidr == ULONG_MAX || *end || errno || cidr > (ip.family == AF_INET ? 32u : 128u)) {
				mask[-1] = '/';
				fprintf(stderr, "AllowedIP is not in the correct format: `%s'\n", shown);
				goto out;
			}
			ip.cidr = (uint8_t)cidr;
		} else
			ip.cidr = ip.family == AF_INET ? 32 : 128;
		if (dev_allowedip_has_host_bits(&ip))
			fprintf(stderr, "Warning: AllowedIP has nonzero host part: %s/%u\n", entry, ip.cidr);
		if (peer_add_allowedip(peer, &ip) < 0) {
			perror("allowed ips");
			goto out;
		}
	}
	ok = true;
out:
	free(copy);
	return ok;
}

static char *strip_spaces(const char *in)
{
	char *out = malloc(strlen(in) + 1), *o = out;

	if (!out)
		return NULL;
	for (; *in; in++)
		if (!isspace((unsigned char)*in))
			*o++ = *in;
	*o = '\0';
	return out;
}

/* ---- the command ---- */

/* argv: the words after the interface name. NULL on a bad word (after
 * saying why). */
static struct device *parse_args(const char *iface, int argc, char *argv[])
{
	struct device *dev = device_new(iface);
	struct dev_peer *peer = NULL;

	if (!dev) {
		perror("device");
		return NULL;
	}
	while (argc > 0) {
		const char *word = argv[0], *arg = argc >= 2 ? argv[1] : NULL;
		int used = 2;

		if (!strcmp(word, "listen-port") && arg && !peer) {
			if (!parse_port(&dev->listen_port, arg))
				goto err;
			dev->flags |= DEV_HAS_LISTEN_PORT;
		} else if (!strcmp(word, "fwmark") && arg && !peer) {
			if (!parse_fwmark(&dev->fwmark, arg))
				goto err;
			dev->flags |= DEV_HAS_FWMARK;
		} else if (!strcmp(word, "private-key") && arg && !peer) {
			if (!read_keyfile(dev->private_key, arg))
				goto err;
			dev->flags |= DEV_HAS_PRIVATE_KEY;
		} else if (!strcmp(word, "peer") && arg) {
			if (!(peer = device_add_peer(dev))) {
				perror("peer");
				goto err;
			}
			if (!parse_key(peer->public_key, arg))
				goto err;
			peer->flags |= PEER_HAS_PUBLIC_KEY;
		} else if (!strcmp(word, "remove") && peer) {
			peer->flags |= PEER_REMOVE_ME;
			used = 1;
		} else if (!strcmp(word, "endpoint") && arg && peer) {
			if (!parse_endpoint(&peer->endpoint, arg))
				goto err;
		} else if (!strcmp(word, "allowed-ips") && arg && peer) {
			char *list = strip_spaces(arg);
			bool ok = list && parse_allowedips(peer, list);

			free(list);
			if (!ok)
				goto err;
		} else if (!strcmp(word, "persistent-keepalive") && arg && peer) {
			if (!parse_keepalive(&peer->persistent_keepalive, arg))
				goto err;
			peer->flags |= PEER_HAS_PERSISTENT_KEEPALIVE;
		} else if (!strcmp(word, "preshared-key") && arg && peer) {
			if (!read_keyfile(peer->preshared_key, arg))
				goto err;
			peer->flags |= PEER_HAS_PRESHARED_KEY;
		} else {
			fprintf(stderr, "Invalid argument: %s\n", word);
			goto err;
		}
		argv += used;
		argc -= used;
	}
	return dev;
err:
	device_free(dev);
	return NULL;
}

static bool has_removal(const struct device *dev)
{
	for (size_t i = 0; i < dev->n_peers; i++)
		for (size_t j = 0; j < dev->peers[i].n_allowedips; j++)
			if (dev->peers[i].allowedips[j].flags & ALLOWEDIP_REMOVE_ME)
				return true;
	return false;
}

int cmd_set(int argc, char *argv[])
{
	struct device *dev;
	int err;

	if (argc < 3) {
		command_usage(stderr, argv[0]);
		return 1;
	}
	dev = parse_args(argv[1], argc - 2, argv + 2);
	if (!dev)
		return 1;
	err = device_set(dev);
	if (err < 0) {
		fprintf(stderr, "Unable to modify interface %s: %s\n", dev->name, strerror(-err));
		if (err == -EINVAL && has_removal(dev))
			fprintf(stderr, "(removing single allowed IPs with `-' needs a daemon or kernel module "
				"that supports it, such as wireguard-go 0.0.20250522 or later)\n");
	}
	device_free(dev);
	return err < 0;
}
