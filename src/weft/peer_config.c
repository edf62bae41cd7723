/* peer_config.c: renders the config a peer imports (see peer_config.h).
 * The text comes from conf_write on a struct conf made for the peer, so
 * it is canonical and parses back; only the private-key placeholder, a
 * comment, is added by hand. */
#include "peer_config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "crypto/crypto.h"
#include "util/encoding.h"

#define ALL_IPV4 "0.0.0.0/0"
#define ALL_IPV6 "::/0"
#define INTERFACE_HEADER "[Interface]\n"

/* The host part of the Endpoint: 0 and *host (a static or the config's
 * string), or -ENOENT with a message naming what to set. */
static int endpoint_host(const struct conf_weft *w, uint8_t type,
			 char buf[CONF_ADDR_STRLEN], const char **host, char *err, size_t errlen)
{
	bool any = type == WEFT_ENDPOINT_ANY;

	if ((type == WEFT_ENDPOINT_IPV4 || any) && w->has_public_ipv4) {
		conf_addr_format(buf, &w->public_ipv4);
		*host = buf;
		return 0;
	}
	if ((type == WEFT_ENDPOINT_IPV6 || any) && w->has_public_ipv6) {
		conf_addr_format(buf, &w->public_ipv6);
		*host = buf;
		return 0;
	}
	if ((type == WEFT_ENDPOINT_DOMAIN || any) && w->hostname) {
		*host = w->hostname;
		return 0;
	}
	snprintf(err, errlen, "no %s for the peer's Endpoint: set one with `weft interface set IFACE "
		 "--public-address %s'",
		 type == WEFT_ENDPOINT_IPV4 ? "public IPv4 address" :
		 type == WEFT_ENDPOINT_IPV6 ? "public IPv6 address" :
		 type == WEFT_ENDPOINT_DOMAIN ? "host name" : "public address",
		 type == WEFT_ENDPOINT_IPV4 ? "IPV4" : type == WEFT_ENDPOINT_IPV6 ? "IPV6" :
		 type == WEFT_ENDPOINT_DOMAIN ? "HOSTNAME" : "ADDRESS");
	return -ENOENT;
}

bool peer_config_has_host(const struct conf *server, uint8_t type)
{
	char buf[CONF_ADDR_STRLEN], err[CONF_ERR_LEN];
	const char *host;

	return endpoint_host(&server->weft, type, buf, &host, err, sizeof(err)) == 0;
}

/* A config with no Endpoint says so where the line would be, so whoever
 * imports it knows what to fill in. */
static int add_missing_endpoint(char **text, size_t *len, uint16_t port)
{
	char line[256], *out;
	size_t n;

	if (port)
		n = (size_t)snprintf(line, sizeof(line),
				     "# Endpoint = (missing: the server's public address was not known;\n"
				     "#             put ADDRESS:%u here and remove the '#')\n", port);
	else
		n = (size_t)snprintf(line, sizeof(line),
				     "# Endpoint = (missing: the server's public address and port were not known;\n"
				     "#             put ADDRESS:PORT here and remove the '#')\n");
	out = malloc(*len + n + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, *text, *len);
	memcpy(out + *len, line, n + 1);
	conf_text_free(*text, *len);
	*text = out;
	*len += n;
	return 0;
}

static int copy_dns(struct conf_dns *to, const struct conf_dns *from)
{
	int ret = 0;

	for (uint32_t i = 0; !ret && i < from->servers.n; i++)
		ret = conf_addr_list_add(&to->servers, &from->servers.v[i]);
	for (uint32_t i = 0; !ret && i < from->search.n; i++)
		ret = conf_dns_add(to, from->search.v[i]);
	return ret;
}

static int add_default_routes(struct conf_prefix_list *list)
{
	struct conf_prefix p;
	int ret;

	if (!conf_prefix_parse(&p, ALL_IPV4))
		return -EINVAL;
	ret = conf_prefix_list_add(list, &p);
	if (!ret && conf_prefix_parse(&p, ALL_IPV6))
		ret = conf_prefix_list_add(list, &p);
	return ret;
}

/* Puts the placeholder comment after "[Interface]": a file stock tools
 * still parse, telling the user which key goes there. */
static int add_placeholder(char **text, size_t *len, const uint8_t peer_public[CONF_KEY_LEN])
{
	char b64[WEFT_KEY_B64_LEN + 1], line[256], *out;
	size_t hdr = strlen(INTERFACE_HEADER), n;

	if (*len < hdr || memcmp(*text, INTERFACE_HEADER, hdr))
		return -EINVAL;
	key_to_base64(b64, peer_public);
	n = (size_t)snprintf(line, sizeof(line),
			     "# PrivateKey = (the private key of the device whose public key is %s:\n"
			     "#               weft never saw it; put it here and remove the '#')\n", b64);
	out = malloc(*len + n + 1);
	if (!out)
		return -ENOMEM;
	memcpy(out, *text, hdr);
	memcpy(out + hdr, line, n);
	memcpy(out + hdr + n, *text + hdr, *len - hdr + 1);
	conf_text_free(*text, *len);
	*text = out;
	*len += n;
	return 0;
}

int peer_config_render(const struct conf *server, const uint8_t server_public[CONF_KEY_LEN],
		       const struct conf_prefix_list *addresses, const uint8_t peer_public[CONF_KEY_LEN],
		       const uint8_t *peer_private, const struct peer_config_opts *opts,
		       char **text, size_t *len, char *err, size_t errlen)
{
	const struct conf_weft *w = &server->weft;
	char hostbuf[CONF_ADDR_STRLEN];
	const char *host = NULL;
	struct conf_peer *peer;
	struct conf pc;
	uint16_t port;
	int ret;

	*text = NULL;
	*len = 0;
	ret = endpoint_host(w, opts->endpoint_type, hostbuf, &host, err, errlen);
	if (ret == -ENOENT) {
		host = opts->fallback_host; /* NULL: no Endpoint, a comment instead */
		ret = 0;
	}
	port = w->has_public_port ? w->public_port :
	       server->iface.has_listen_port && server->iface.listen_port ? server->iface.listen_port :
	       opts->running_port;
	if (!port && host) {
		snprintf(err, errlen, "no port for the peer's Endpoint: set ListenPort in [Interface] "
			 "(or `weft interface set IFACE --public-port PORT')");
		return -EINVAL;
	}
	if (!addresses->n) {
		snprintf(err, errlen, "the peer has no tunnel address");
		return -EINVAL;
	}

	conf_init(&pc);
	pc.has_interface = true;
	if (peer_private) {
		pc.iface.has_private_key = true;
		memcpy(pc.iface.private_key, peer_private, CONF_KEY_LEN);
	}
	for (uint32_t i = 0; !ret && i < addresses->n; i++)
		ret = conf_prefix_list_add(&pc.iface.addresses, &addresses->v[i]);
	if (!ret)
		ret = copy_dns(&pc.iface.dns, opts->dns ? opts->dns : &w->peer_dns);
	if (!ret)
		ret = conf_peer_add(&pc, server_public, &peer);
	if (!ret) {
		if (opts->allowed_ips && opts->allowed_ips->n) {
			for (uint32_t i = 0; !ret && i < opts->allowed_ips->n; i++)
				ret = conf_prefix_list_add(&peer->allowed_ips, &opts->allowed_ips->v[i]);
		} else {
			ret = add_default_routes(&peer->allowed_ips);
		}
	}
	if (!ret && host)
		ret = conf_peer_set_endpoint(peer, host, port);
	if (!ret && opts->preshared_key) {
		peer->has_preshared_key = true;
		memcpy(peer->preshared_key, opts->preshared_key, CONF_KEY_LEN);
	}
	if (!ret && opts->keepalive) {
		peer->has_persistent_keepalive = true;
		peer->persistent_keepalive = opts->keepalive;
	}
	if (!ret)
		ret = conf_write(&pc, 0, text, len);
	if (!ret && !host)
		ret = add_missing_endpoint(text, len, port); /* [Peer] is the last section */
	if (!ret && !peer_private)
		ret = add_placeholder(text, len, peer_public);
	conf_free(&pc);
	if (ret < 0) {
		conf_text_free(*text, *len);
		*text = NULL;
		*len = 0;
		snprintf(err, errlen, "cannot write the peer's config: %s", strerror(-ret));
	}
	return ret;
}
