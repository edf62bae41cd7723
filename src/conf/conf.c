/* conf.c: the in-memory struct conf: creating, changing, comparing, checking
 * and freeing it. Keys are wiped wherever memory holding them is dropped,
 * including when the peer array moves to a bigger allocation. */
#include "conf/conf_internal.h"

#include "crypto/crypto.h"
#include "util/wipe_realloc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define LIST_MIN_CAP 2u
#define PEERS_MIN_CAP 8u
#define COPY_SPARE_PEERS 16u
/* "[Peer]\nPublicKey=" and a key: the least a peer or record takes */
#define MIN_PEER_SECTION (sizeof("[Peer]\nPublicKey=") - 1 + 44)

void conf_init(struct conf *conf)
{
	memset(conf, 0, sizeof(*conf));
}

int conf_grow(void **v, uint32_t *cap, uint32_t need, size_t elem, uint32_t limit)
{
	if (need <= *cap)
		return 0;
	if (need > limit)
		return -E2BIG;
	uint64_t n = *cap ? (uint64_t)*cap * 2 : LIST_MIN_CAP;
	if (n < need)
		n = need;
	if (n > limit)
		n = limit;
	void *p = realloc(*v, (size_t)n * elem);
	if (!p)
		return -ENOMEM;
	*v = p;
	*cap = (uint32_t)n;
	return 0;
}

static void str_list_free(struct conf_str_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static void dns_free(struct conf_dns *d)
{
	free(d->servers.v);
	str_list_free(&d->search);
}

void conf_dns_clear(struct conf_dns *dns)
{
	dns_free(dns);
	memset(dns, 0, sizeof(*dns));
}

static void peer_free(struct conf_peer *p)
{
	memzero(p->preshared_key, sizeof(p->preshared_key));
	free(p->allowed_ips.v);
	free(p->endpoint.host);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

void conf_free(struct conf *conf)
{
	memzero(conf->iface.private_key, sizeof(conf->iface.private_key));
	free(conf->iface.addresses.v);
	dns_free(&conf->iface.dns);
	for (int h = 0; h < CONF_HOOKS; h++)
		str_list_free(&conf->iface.hooks[h]);
	free(conf->weft.hostname);
	dns_free(&conf->weft.peer_dns);
	for (uint32_t i = 0; i < conf->n_peers; i++)
		peer_free(&conf->peers[i]);
	free(conf->peers);
	conf_init(conf);
}

/* ---- deep copy ---- */

static int dup_array(void **dst, const void *src, uint32_t n, uint32_t *cap, size_t elem)
{
	*dst = NULL;
	*cap = 0;
	if (!n)
		return 0;
	*dst = malloc((size_t)n * elem);
	if (!*dst)
		return -ENOMEM;
	memcpy(*dst, src, (size_t)n * elem);
	*cap = n;
	return 0;
}

static int dup_str(char **dst, const char *src)
{
	*dst = src ? strdup(src) : NULL;
	return src && !*dst ? -ENOMEM : 0;
}

static int dup_strs(struct conf_str_list *dst, const struct conf_str_list *src)
{
	int ret = 0;

	memset(dst, 0, sizeof(*dst));
	for (uint32_t i = 0; !ret && i < src->n; i++)
		ret = conf_str_list_add(dst, src->v[i]);
	return ret;
}

static int dup_dns(struct conf_dns *dst, const struct conf_dns *src)
{
	int ret = dup_array((void **)&dst->servers.v, src->servers.v, src->servers.n, &dst->servers.cap,
			    sizeof(*src->servers.v));

	dst->servers.n = src->servers.n;
	return ret ? ret : dup_strs(&dst->search, &src->search);
}

int conf_copy(struct conf *dst, const struct conf *src)
{
	const struct conf_interface *si = &src->iface;
	struct conf_interface *di = &dst->iface;
	int ret;

	conf_init(dst);
	dst->has_interface = src->has_interface;
	/* the scalars at once, then every pointer its own copy */
	*di = *si;
	memset(&di->addresses, 0, sizeof(di->addresses));
	memset(&di->dns, 0, sizeof(di->dns));
	memset(di->hooks, 0, sizeof(di->hooks));
	dst->weft = src->weft;
	dst->weft.hostname = NULL;
	memset(&dst->weft.peer_dns, 0, sizeof(dst->weft.peer_dns));
	ret = dup_array((void **)&di->addresses.v, si->addresses.v, si->addresses.n, &di->addresses.cap,
			sizeof(*si->addresses.v));
	di->addresses.n = si->addresses.n;
	if (!ret)
		ret = dup_dns(&di->dns, &si->dns);
	for (int h = 0; !ret && h < CONF_HOOKS; h++)
		ret = dup_strs(&di->hooks[h], &si->hooks[h]);
	if (!ret)
		ret = dup_str(&dst->weft.hostname, src->weft.hostname);
	if (!ret)
		ret = dup_dns(&dst->weft.peer_dns, &src->weft.peer_dns);
	if (!ret && src->n_peers) {
		/* room for a few more: a copy is usually made to be changed, and
		 * doubling 10,000 peers to add one copies and wipes them all */
		uint32_t cap = src->n_peers + COPY_SPARE_PEERS;

		dst->peers = calloc(cap, sizeof(*dst->peers));
		ret = dst->peers ? 0 : -ENOMEM;
		dst->cap_peers = dst->peers ? cap : 0;
	}
	for (uint32_t i = 0; !ret && i < src->n_peers; i++) {
		const struct conf_peer *sp = &src->peers[i];
		struct conf_peer *dp = &dst->peers[i];

		*dp = *sp;
		dp->endpoint.host = dp->name = NULL;
		ret = dup_array((void **)&dp->allowed_ips.v, sp->allowed_ips.v, sp->allowed_ips.n,
				&dp->allowed_ips.cap, sizeof(*sp->allowed_ips.v));
		if (!ret)
			ret = dup_str(&dp->endpoint.host, sp->endpoint.host);
		if (!ret)
			ret = dup_str(&dp->name, sp->name);
		dst->n_peers = i + 1; /* freed by conf_free from here on */
	}
	if (ret)
		conf_free(dst);
	return ret;
}

uint32_t conf_count_headers(const char *text, size_t len)
{
	uint32_t n = 0;

	for (size_t pos = 0; pos < len;) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - text) + 1 : len;

		while (pos < end && conf_blank(text[pos]))
			pos++;
		n += pos < end && text[pos] == '[';
		pos = end;
	}
	return n < len / MIN_PEER_SECTION + 1 ? n : (uint32_t)(len / MIN_PEER_SECTION + 1);
}

int conf_peers_reserve(struct conf *conf, uint32_t n)
{
	if (n > CONF_MAX_PEERS)
		n = CONF_MAX_PEERS;
	if (n <= conf->cap_peers)
		return 0;
	/* wiped as it moves: the old block holds preshared keys */
	size_t used = (size_t)conf->n_peers * sizeof(*conf->peers);
	struct conf_peer *p = wipe_realloc(conf->peers, used, used, (size_t)n * sizeof(*p));
	if (!p)
		return -ENOMEM;
	conf->peers = p;
	conf->cap_peers = n;
	return 0;
}

int conf_peer_append(struct conf *conf, struct conf_peer **peer)
{
	if (conf->n_peers >= CONF_MAX_PEERS)
		return -E2BIG;
	if (conf->n_peers == conf->cap_peers) {
		int ret = conf_peers_reserve(conf, conf->cap_peers ? conf->cap_peers * 2 : PEERS_MIN_CAP);
		if (ret)
			return ret;
	}
	struct conf_peer *p = &conf->peers[conf->n_peers++];
	memset(p, 0, sizeof(*p));
	if (peer)
		*peer = p;
	return 0;
}

struct conf_peer *conf_peer_find(const struct conf *conf, const uint8_t public_key[CONF_KEY_LEN])
{
	for (uint32_t i = 0; i < conf->n_peers; i++)
		if (!memcmp(conf->peers[i].public_key, public_key, CONF_KEY_LEN))
			return &conf->peers[i];
	return NULL;
}

int conf_peer_add(struct conf *conf, const uint8_t public_key[CONF_KEY_LEN], struct conf_peer **peer)
{
	struct conf_peer *p;
	int ret;

	if (conf_peer_find(conf, public_key))
		return -EEXIST;
	ret = conf_peer_append(conf, &p);
	if (ret)
		return ret;
	memcpy(p->public_key, public_key, CONF_KEY_LEN);
	if (peer)
		*peer = p;
	return 0;
}

int conf_peer_remove(struct conf *conf, const uint8_t public_key[CONF_KEY_LEN])
{
	struct conf_peer *p = conf_peer_find(conf, public_key);

	if (!p)
		return -ENOENT;
	size_t i = (size_t)(p - conf->peers);
	peer_free(p);
	memmove(p, p + 1, (conf->n_peers - i - 1) * sizeof(*p));
	conf->n_peers--;
	/* the last slot still holds a copy of the last peer's keys */
	memzero(&conf->peers[conf->n_peers], sizeof(*p));
	return 0;
}

int conf_peers_sync(struct conf *conf, const uint8_t *keys, size_t n, size_t stride, uint32_t *idx)
{
	struct conf_keyset set;
	bool *keep = NULL;
	uint32_t kept = 0, at, dup;
	int ret = conf_keyset_init(&set);

	if (ret)
		return ret;
	if (!(keep = calloc((size_t)conf->n_peers + 1, sizeof(*keep))))
		ret = -ENOMEM;
	for (uint32_t i = 0; !ret && i < conf->n_peers; i++) {
		ret = conf_keyset_insert(&set, conf->peers, i, &dup);
		if (ret == -EEXIST) /* a struct built with duplicates: keep the first */
			ret = 0;
	}
	for (size_t j = 0; !ret && j < n; j++)
		if (conf_keyset_find(&set, conf->peers, keys + j * stride, &at))
			keep[at] = true;
	if (ret)
		goto out;
	/* one pass: the peers not among the keys go, the others keep their order */
	for (uint32_t i = 0; i < conf->n_peers; i++) {
		if (!keep[i])
			peer_free(&conf->peers[i]);
		else if (kept++ != i)
			conf->peers[kept - 1] = conf->peers[i];
	}
	if (kept != conf->n_peers)
		memzero(&conf->peers[kept], (size_t)(conf->n_peers - kept) * sizeof(*conf->peers));
	conf->n_peers = kept;
	/* then the new keys are appended */
	conf_keyset_free(&set);
	ret = conf_keyset_init(&set);
	for (uint32_t i = 0; !ret && i < conf->n_peers; i++) {
		ret = conf_keyset_insert(&set, conf->peers, i, &dup);
		if (ret == -EEXIST)
			ret = 0;
	}
	for (size_t j = 0; !ret && j < n; j++) {
		const uint8_t *key = keys + j * stride;
		struct conf_peer *p;

		if (conf_keyset_find(&set, conf->peers, key, &at)) {
			idx[j] = at;
			continue;
		}
		ret = conf_peer_append(conf, &p);
		if (ret)
			break;
		memcpy(p->public_key, key, CONF_KEY_LEN);
		idx[j] = conf->n_peers - 1;
		ret = conf_keyset_insert(&set, conf->peers, idx[j], &dup);
	}
out:
	free(keep);
	conf_keyset_free(&set);
	return ret;
}

static bool addr_valid(const struct conf_addr *a)
{
	static const uint8_t zero[12];
	return a->family == AF_INET6 || (a->family == AF_INET && !memcmp(a->bytes + 4, zero, 12));
}

static bool prefix_valid(const struct conf_prefix *p)
{
	return addr_valid(&p->addr) && p->cidr <= (p->addr.family == AF_INET ? 32 : 128);
}

int conf_prefix_list_add(struct conf_prefix_list *list, const struct conf_prefix *p)
{
	if (!prefix_valid(p))
		return -EINVAL;
	int ret = conf_grow((void **)&list->v, &list->cap, list->n + 1, sizeof(*p), CONF_MAX_LIST);
	if (ret)
		return ret;
	list->v[list->n++] = *p;
	return 0;
}

int conf_addr_list_add(struct conf_addr_list *list, const struct conf_addr *a)
{
	if (!addr_valid(a))
		return -EINVAL;
	int ret = conf_grow((void **)&list->v, &list->cap, list->n + 1, sizeof(*a), CONF_MAX_LIST);
	if (ret)
		return ret;
	list->v[list->n++] = *a;
	return 0;
}

int conf_str_list_add(struct conf_str_list *list, const char *s)
{
	int ret = conf_grow((void **)&list->v, &list->cap, list->n + 1, sizeof(*list->v), CONF_MAX_LIST);
	if (ret)
		return ret;
	char *copy = strdup(s);
	if (!copy)
		return -ENOMEM;
	list->v[list->n++] = copy;
	return 0;
}

int conf_hook_add(struct conf_interface *iface, enum conf_hook hook, const char *command)
{
	if ((unsigned)hook >= CONF_HOOKS || !conf_hook_valid(command))
		return -EINVAL;
	return conf_str_list_add(&iface->hooks[hook], command);
}

/* wg-quick's rule: digits and dots, or anything with a colon, is a server. */
int conf_dns_add(struct conf_dns *dns, const char *entry)
{
	struct conf_addr a;
	bool ip_like = strchr(entry, ':') != NULL || !entry[strspn(entry, "0123456789.")];

	if (ip_like)
		return conf_addr_parse(&a, entry) ? conf_addr_list_add(&dns->servers, &a) : -EINVAL;
	if (!conf_hostname_valid(entry))
		return -EINVAL;
	return conf_str_list_add(&dns->search, entry);
}

static int set_string(char **field, const char *value, bool (*valid)(const char *))
{
	char *copy = NULL;

	if (value) {
		if (!valid(value))
			return -EINVAL;
		copy = strdup(value);
		if (!copy)
			return -ENOMEM;
	}
	free(*field);
	*field = copy;
	return 0;
}

int conf_peer_set_endpoint(struct conf_peer *peer, const char *host, uint16_t port)
{
	if (host && !port)
		return -EINVAL;
	int ret = set_string(&peer->endpoint.host, host, conf_endpoint_host_valid);
	if (!ret)
		peer->endpoint.port = host ? port : 0;
	return ret;
}

int conf_peer_set_name(struct conf_peer *peer, const char *name)
{
	return set_string(&peer->name, name, conf_name_valid);
}

int conf_weft_set_hostname(struct conf_weft *weft, const char *hostname)
{
	return set_string(&weft->hostname, hostname, conf_hostname_valid);
}

/* ---- comparison ---- */

static bool addr_eq(const struct conf_addr *a, const struct conf_addr *b)
{
	return a->family == b->family && !memcmp(a->bytes, b->bytes, sizeof(a->bytes));
}

static bool prefixes_eq(const struct conf_prefix_list *a, const struct conf_prefix_list *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (!addr_eq(&a->v[i].addr, &b->v[i].addr) || a->v[i].cidr != b->v[i].cidr)
			return false;
	return true;
}

static bool addrs_eq(const struct conf_addr_list *a, const struct conf_addr_list *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (!addr_eq(&a->v[i], &b->v[i]))
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool strs_eq(const struct conf_str_list *a, const struct conf_str_list *b)
{
	if (a->n != b->n)
		return false;
	for (uint32_t i = 0; i < a->n; i++)
		if (!str_eq(a->v[i], b->v[i]))
			return false;
	return true;
}

static bool dns_eq(const struct conf_dns *a, const struct conf_dns *b)
{
	return addrs_eq(&a->servers, &b->servers) && strs_eq(&a->search, &b->search);
}

static bool table_eq(const struct conf_table *a, const struct conf_table *b)
{
	if (a->kind != b->kind)
		return false;
	if (a->kind == CONF_TABLE_NUMBER)
		return a->number == b->number;
	if (a->kind == CONF_TABLE_NAME)
		return !strcmp(a->name, b->name);
	return true;
}

/* An optional value: both absent, or both present and equal. */
#define OPT_EQ(a, b, has, field) ((a)->has == (b)->has && (!(a)->has || (a)->field == (b)->field))

static bool iface_eq(const struct conf_interface *a, const struct conf_interface *b)
{
	if (a->has_private_key != b->has_private_key ||
	    (a->has_private_key && !memeq_ct(a->private_key, b->private_key, CONF_KEY_LEN)))
		return false;
	if (!OPT_EQ(a, b, has_listen_port, listen_port) || !OPT_EQ(a, b, has_fwmark, fwmark) ||
	    !OPT_EQ(a, b, has_mtu, mtu) || !OPT_EQ(a, b, has_save_config, save_config))
		return false;
	if (!prefixes_eq(&a->addresses, &b->addresses) || !dns_eq(&a->dns, &b->dns) ||
	    !table_eq(&a->table, &b->table))
		return false;
	for (int h = 0; h < CONF_HOOKS; h++)
		if (!strs_eq(&a->hooks[h], &b->hooks[h]))
			return false;
	return true;
}

static bool weft_eq(const struct conf_weft *a, const struct conf_weft *b)
{
	return a->has_public_ipv4 == b->has_public_ipv4 &&
	       (!a->has_public_ipv4 || addr_eq(&a->public_ipv4, &b->public_ipv4)) &&
	       a->has_public_ipv6 == b->has_public_ipv6 &&
	       (!a->has_public_ipv6 || addr_eq(&a->public_ipv6, &b->public_ipv6)) &&
	       str_eq(a->hostname, b->hostname) && OPT_EQ(a, b, has_public_port, public_port) &&
	       dns_eq(&a->peer_dns, &b->peer_dns);
}

bool conf_peer_same(const struct conf_peer *a, const struct conf_peer *b)
{
	return !memcmp(a->public_key, b->public_key, CONF_KEY_LEN) &&
	       a->has_preshared_key == b->has_preshared_key &&
	       (!a->has_preshared_key || memeq_ct(a->preshared_key, b->preshared_key, CONF_KEY_LEN)) &&
	       prefixes_eq(&a->allowed_ips, &b->allowed_ips) &&
	       str_eq(a->endpoint.host, b->endpoint.host) &&
	       (!a->endpoint.host || a->endpoint.port == b->endpoint.port) &&
	       OPT_EQ(a, b, has_persistent_keepalive, persistent_keepalive);
}

static bool peer_eq(const struct conf_peer *a, const struct conf_peer *b)
{
	return conf_peer_same(a, b) && str_eq(a->name, b->name);
}

bool conf_equal(const struct conf *a, const struct conf *b)
{
	if (!iface_eq(&a->iface, &b->iface) || !weft_eq(&a->weft, &b->weft) || a->n_peers != b->n_peers)
		return false;
	for (uint32_t i = 0; i < a->n_peers; i++)
		if (!peer_eq(&a->peers[i], &b->peers[i]))
			return false;
	return true;
}

/* ---- invariants the writer relies on ---- */

static bool prefixes_valid(const struct conf_prefix_list *l)
{
	for (uint32_t i = 0; i < l->n; i++)
		if (!prefix_valid(&l->v[i]))
			return false;
	return true;
}

static bool dns_valid(const struct conf_dns *d)
{
	for (uint32_t i = 0; i < d->servers.n; i++)
		if (!addr_valid(&d->servers.v[i]))
			return false;
	for (uint32_t i = 0; i < d->search.n; i++)
		if (!d->search.v[i] || !conf_hostname_valid(d->search.v[i]))
			return false;
	return true;
}

static bool table_valid(const struct conf_table *t)
{
	switch (t->kind) {
	case CONF_TABLE_UNSET:
	case CONF_TABLE_AUTO:
	case CONF_TABLE_OFF:
		return true;
	case CONF_TABLE_NUMBER:
		return t->number != 0;
	case CONF_TABLE_NAME:
		return memchr(t->name, '\0', sizeof(t->name)) && conf_table_name_valid(t->name);
	}
	return false;
}

bool conf_check(const struct conf *c)
{
	const struct conf_interface *i = &c->iface;

	if (!prefixes_valid(&i->addresses) || !dns_valid(&i->dns) || !table_valid(&i->table))
		return false;
	if (i->has_mtu && i->mtu < CONF_MTU_MIN) /* uint16_t: the maximum holds */
		return false;
	for (int h = 0; h < CONF_HOOKS; h++)
		for (uint32_t k = 0; k < i->hooks[h].n; k++)
			if (!i->hooks[h].v[k] || !conf_hook_valid(i->hooks[h].v[k]))
				return false;
	if ((c->weft.has_public_ipv4 && c->weft.public_ipv4.family != AF_INET) ||
	    (c->weft.has_public_ipv6 && c->weft.public_ipv6.family != AF_INET6) ||
	    (c->weft.has_public_ipv4 && !addr_valid(&c->weft.public_ipv4)) ||
	    (c->weft.hostname && !conf_hostname_valid(c->weft.hostname)) ||
	    (c->weft.has_public_port && !c->weft.public_port) || !dns_valid(&c->weft.peer_dns))
		return false;
	for (uint32_t k = 0; k < c->n_peers; k++) {
		const struct conf_peer *p = &c->peers[k];
		if (!prefixes_valid(&p->allowed_ips) ||
		    (p->endpoint.host && (!p->endpoint.port || !conf_endpoint_host_valid(p->endpoint.host))) ||
		    (p->name && !conf_name_valid(p->name)))
			return false;
	}
	return true;
}
