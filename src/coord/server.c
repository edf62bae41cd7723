/* server.c: the core of `weft coord` (see server.h). State:
 *   clients  by tag (a keyed BLAKE2s of the public key: the same name the
 *            store uses), each with its session keys (current and next),
 *            its latest authenticated address and whether that address is
 *            verified (see docs/coord-protocol.md), and its records;
 *   sessions by receiver index, pointing at the client;
 *   tokens   by token, each with at most two holders (records).
 * A client loaded from the store (after a restart, or written by another
 * replica) has no public key and no session: a "ghost" that can be matched
 * but not pushed to. Replies to an unverified address never exceed the
 * request's size; pushes wait until the address is verified. */
#include "coord/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "coord/noise.h"
#include "coord/stun.h"
#include "crypto/crypto.h"
#include "util/random.h"
#include "wg/hashtable.h"

#define NS 1000000000ULL
#define RL_SLOTS (1u << 16)
#define CLIENT_TAG_LABEL "weft coord client tag v1"
/* an unconfirmed handshake's keys are dropped after this */
#define NEXT_MAX_AGE_NS (3ULL * COORD_REKEY_TIMEOUT * NS)
/* a client's initiations are consumed at most this often (WireGuard's 50/s) */
#define INIT_MIN_INTERVAL_NS (NS / 50)
#define SWEEP_INTERVAL_NS NS

struct rec;

struct client {
	uint8_t tag[COORD_CLIENT_TAG_LEN];
	uint8_t pub[32];
	bool has_pub;                /* false: a ghost from the store */
	uint8_t last_ts[COORD_TIMESTAMP_LEN];
	bool has_ts;
	uint64_t last_init_ns;
	struct coord_keys cur, next;
	bool has_cur, has_next;
	struct coord_addr hs_addr;   /* where the last response went */
	struct coord_addr addr;      /* latest authenticated source */
	bool verified;
	struct rec *recs;
	uint32_t nrecs;
};

struct tok {
	uint8_t token[COORD_TOKEN_LEN];
	uint64_t hash;
	struct rec *holder[COORD_TOKEN_HOLDERS];
};

struct rec {
	struct tok *tok;
	struct client *client;
	struct rec *next_of_client;
	uint64_t expires_ns;
	uint64_t expires_unix, stored_expires_unix;
	size_t dirty_slot;           /* index in dirty[] + 1; 0 = clean */
	uint16_t blob_len;
	uint8_t *blob;
};

struct rl_slot {
	uint64_t hash;
	uint64_t last_ns;
	uint64_t tokens; /* thousandths of a datagram */
};

struct del_item {
	uint8_t token[COORD_TOKEN_LEN];
	uint8_t tag[COORD_CLIENT_TAG_LEN];
};

struct coord_server {
	struct coord_server_config cfg;
	coord_send_fn send;
	void *send_ctx;
	uint8_t priv[32], pub[32];
	uint8_t mac1_key[32], cookie_key[32], tag_key[32];
	uint8_t cookie_secret[32], challenge_secret[32];
	uint64_t secrets_born_ns;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];

	struct hashtable clients, sessions, tokens;
	uint64_t total_records;
	uint64_t hs_window_ns, hs_in_window;
	uint64_t last_sweep_ns;
	uint64_t scan_since, last_scan_ns;
	struct relay_server *relay;

	struct rec **dirty;
	size_t ndirty, dirty_cap;
	struct del_item *dels;
	size_t ndels, dels_cap;

	struct rl_slot *rl;
	struct coord_stats st;
	uint64_t now_ns, unix_s;
};

void coord_server_config_defaults(struct coord_server_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_clients = 100000;
	cfg->max_records = 256;
	cfg->record_ttl = 120;
	cfg->rate = 20;
	cfg->burst = 40;
	cfg->handshake_rate = 1000;
}

static uint64_t hash_bytes(const struct coord_server *s, const uint8_t *p, size_t n)
{
	uint64_t h;

	crypto_shorthash((unsigned char *)&h, p, n, s->hash_key);
	return h;
}

/* ---- sending ---- */

static void tx(struct coord_server *s, const struct coord_addr *to, const uint8_t *pkt, size_t len)
{
	s->st.tx_packets++;
	s->st.tx_bytes += len;
	s->send(s->send_ctx, to, pkt, len);
}

static bool session_usable(const struct coord_server *s, const struct client *c)
{
	return c->has_cur && s->now_ns - c->cur.birth_ns < COORD_REJECT_AFTER_TIME * NS;
}

/* Seals m for c and sends it to c's address. budget: for a reply, the
 * bytes the request allows while the address is unverified (decremented);
 * NULL for a push, which needs a verified address. */
static bool send_msg(struct coord_server *s, struct client *c, const struct coord_msg *m,
		     size_t *budget)
{
	uint8_t pt[COORD_INNER_MAX], pkt[COORD_TRANSPORT_MAX];

	if (!session_usable(s, c))
		return false;
	int n = coord_msg_encode(pt, sizeof(pt), m);
	if (n < 0)
		return false;
	size_t wire = COORD_TRANSPORT_OVERHEAD + ((size_t)n + COORD_PADDING - 1) / COORD_PADDING * COORD_PADDING;
	if (!c->verified) {
		if (!budget || wire > *budget) {
			s->st.replies_suppressed++;
			return false;
		}
		*budget -= wire;
	}
	n = coord_transport_seal(&c->cur, pt, (size_t)n, pkt, sizeof(pkt));
	if (n < 0)
		return false;
	tx(s, &c->addr, pkt, (size_t)n);
	return true;
}

static void send_error(struct coord_server *s, struct client *c, uint8_t code,
		       const uint8_t *token, size_t *budget)
{
	struct coord_msg m = { .type = COORD_ERROR, .status = code };

	if (token)
		memcpy(m.token, token, COORD_TOKEN_LEN);
	if (send_msg(s, c, &m, budget))
		s->st.errors_sent++;
}

/* Tells `to` about the other holder of rec's token (or that it left). */
static void send_peer(struct coord_server *s, struct client *to, const struct rec *about,
		      const uint8_t token[COORD_TOKEN_LEN], bool gone, size_t *budget)
{
	struct coord_msg m = { .type = COORD_PEER };

	memcpy(m.token, token, COORD_TOKEN_LEN);
	if (gone || !about) {
		m.status = COORD_PEER_GONE;
	} else {
		m.addr = about->client->addr;
		m.blob_len = about->blob_len;
		m.blob = about->blob;
	}
	if (send_msg(s, to, &m, budget))
		s->st.peers_sent++;
}

static struct rec *other_holder(const struct rec *r)
{
	for (int i = 0; i < COORD_TOKEN_HOLDERS; i++)
		if (r->tok->holder[i] && r->tok->holder[i] != r)
			return r->tok->holder[i];
	return NULL;
}

/* ---- store write-behind ---- */

static void mark_dirty(struct coord_server *s, struct rec *r)
{
	if (!s->cfg.store || r->dirty_slot)
		return;
	if (s->ndirty == s->dirty_cap) {
		size_t cap = s->dirty_cap ? s->dirty_cap * 2 : 1024;
		struct rec **d = realloc(s->dirty, cap * sizeof(*d));
		if (!d) {
			s->st.store_errors++;
			return;
		}
		s->dirty = d;
		s->dirty_cap = cap;
	}
	s->dirty[s->ndirty++] = r;
	r->dirty_slot = s->ndirty;
}

static void queue_delete(struct coord_server *s, const struct rec *r)
{
	if (!s->cfg.store)
		return;
	if (s->ndels == s->dels_cap) {
		size_t cap = s->dels_cap ? s->dels_cap * 2 : 256;
		struct del_item *d = realloc(s->dels, cap * sizeof(*d));
		if (!d) {
			s->st.store_errors++;
			return;
		}
		s->dels = d;
		s->dels_cap = cap;
	}
	memcpy(s->dels[s->ndels].token, r->tok->token, COORD_TOKEN_LEN);
	memcpy(s->dels[s->ndels].tag, r->client->tag, COORD_CLIENT_TAG_LEN);
	s->ndels++;
}

static void flush_store(struct coord_server *s, bool expire)
{
	struct coord_store *st = s->cfg.store;
	struct coord_record r;

	if (!st)
		return;
	for (size_t i = 0; i < s->ndels; i++)
		if (st->ops->del(st, s->dels[i].token, s->dels[i].tag) < 0)
			s->st.store_errors++;
	s->ndels = 0;
	for (size_t i = 0; i < s->ndirty; i++) {
		struct rec *x = s->dirty[i];
		if (!x)
			continue;
		x->dirty_slot = 0;
		memset(&r, 0, sizeof(r));
		memcpy(r.token, x->tok->token, COORD_TOKEN_LEN);
		memcpy(r.client_tag, x->client->tag, COORD_CLIENT_TAG_LEN);
		r.addr = x->client->addr;
		r.blob_len = x->blob_len;
		if (x->blob_len)
			memcpy(r.blob, x->blob, x->blob_len);
		r.expires = x->expires_unix;
		r.updated = s->unix_s;
		if (st->ops->put(st, &r) < 0)
			s->st.store_errors++;
		else
			x->stored_expires_unix = x->expires_unix;
	}
	s->ndirty = 0;
	if (expire && st->ops->expire(st, s->unix_s) < 0)
		s->st.store_errors++;
	if (st->ops->flush(st) < 0)
		s->st.store_errors++;
}

/* ---- tables ---- */

static struct client *find_client(struct coord_server *s, const uint8_t tag[COORD_CLIENT_TAG_LEN])
{
	uint64_t h = hash_bytes(s, tag, COORD_CLIENT_TAG_LEN);
	size_t cur = 0;
	struct client *c;

	while ((c = hashtable_next(&s->clients, h, &cur)))
		if (!memcmp(c->tag, tag, COORD_CLIENT_TAG_LEN))
			return c;
	return NULL;
}

static struct client *new_client(struct coord_server *s, const uint8_t tag[COORD_CLIENT_TAG_LEN])
{
	if (s->clients.count >= s->cfg.max_clients) {
		s->st.server_full++;
		return NULL;
	}
	struct client *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	memcpy(c->tag, tag, COORD_CLIENT_TAG_LEN);
	if (hashtable_add(&s->clients, hash_bytes(s, tag, COORD_CLIENT_TAG_LEN), c) < 0) {
		free(c);
		return NULL;
	}
	return c;
}

static struct tok *find_tok(struct coord_server *s, const uint8_t token[COORD_TOKEN_LEN], uint64_t h)
{
	size_t cur = 0;
	struct tok *t;

	while ((t = hashtable_next(&s->tokens, h, &cur)))
		if (!memcmp(t->token, token, COORD_TOKEN_LEN))
			return t;
	return NULL;
}

static void drop_keys(struct coord_server *s, struct client *c, bool next)
{
	struct coord_keys *k = next ? &c->next : &c->cur;
	bool *has = next ? &c->has_next : &c->has_cur;

	if (!*has)
		return;
	hashtable_remove(&s->sessions, k->local_index, c);
	coord_keys_clear(k);
	*has = false;
}

static void free_client(struct coord_server *s, struct client *c)
{
	/* the relay names clients by their address in memory: it forgets
	 * this one before the address can name another */
	if (s->relay)
		relay_server_client_gone(s->relay, (uintptr_t)c, s->now_ns);
	drop_keys(s, c, false);
	drop_keys(s, c, true);
	hashtable_remove(&s->clients, hash_bytes(s, c->tag, COORD_CLIENT_TAG_LEN), c);
	memzero(c, sizeof(*c));
	free(c);
}

/* Removes a record; tells the other holder (if asked) and the store. */
static void free_rec(struct coord_server *s, struct rec *r, bool notify, bool store)
{
	struct tok *t = r->tok;
	struct client *c = r->client;
	struct rec *o = other_holder(r);

	if (notify && o)
		send_peer(s, o->client, NULL, t->token, true, NULL);
	if (store)
		queue_delete(s, r);
	if (r->dirty_slot)
		s->dirty[r->dirty_slot - 1] = NULL;
	for (struct rec **p = &c->recs; *p; p = &(*p)->next_of_client)
		if (*p == r) {
			*p = r->next_of_client;
			break;
		}
	c->nrecs--;
	for (int i = 0; i < COORD_TOKEN_HOLDERS; i++)
		if (t->holder[i] == r)
			t->holder[i] = NULL;
	if (!t->holder[0] && !t->holder[1]) {
		hashtable_remove(&s->tokens, t->hash, t);
		free(t);
	}
	free(r->blob);
	free(r);
	s->total_records--;
}

/* A new record of c for token (hash h); NULL with *err set. */
static struct rec *new_rec(struct coord_server *s, struct client *c, const uint8_t token[COORD_TOKEN_LEN],
			   uint64_t h, struct tok *t, uint8_t *err)
{
	if (c->nrecs >= s->cfg.max_records) {
		*err = COORD_ERR_TOO_MANY_RECORDS;
		return NULL;
	}
	if (s->total_records >= (uint64_t)s->cfg.max_clients * 4) {
		*err = COORD_ERR_SERVER_FULL;
		return NULL;
	}
	int slot = -1;
	if (t) {
		for (int i = 0; i < COORD_TOKEN_HOLDERS && slot < 0; i++)
			if (!t->holder[i])
				slot = i;
		if (slot < 0) {
			*err = COORD_ERR_TOKEN_FULL;
			return NULL;
		}
	}
	struct rec *r = calloc(1, sizeof(*r));
	if (!r) {
		*err = COORD_ERR_SERVER_FULL;
		return NULL;
	}
	if (!t) {
		t = calloc(1, sizeof(*t));
		if (!t || hashtable_add(&s->tokens, h, t) < 0) {
			free(t);
			free(r);
			*err = COORD_ERR_SERVER_FULL;
			return NULL;
		}
		memcpy(t->token, token, COORD_TOKEN_LEN);
		t->hash = h;
		slot = 0;
	}
	t->holder[slot] = r;
	r->tok = t;
	r->client = c;
	r->next_of_client = c->recs;
	c->recs = r;
	c->nrecs++;
	s->total_records++;
	return r;
}

static bool set_blob(struct rec *r, const uint8_t *blob, uint16_t len)
{
	if (r->blob_len == len && (!len || !memcmp(r->blob, blob, len)))
		return false;
	uint8_t *b = NULL;
	if (len) {
		b = malloc(len);
		if (!b)
			return false;
		memcpy(b, blob, len);
	}
	free(r->blob);
	r->blob = b;
	r->blob_len = len;
	return true;
}

/* ---- the rate limiter: a token bucket per source (IPv6 per /64) ---- */

static bool rate_allow(struct coord_server *s, const struct coord_addr *from)
{
	if (!s->cfg.rate)
		return true;
	uint8_t key[9] = { from->family };
	memcpy(key + 1, from->ip, from->family == 4 ? 4 : 8);
	uint64_t h = hash_bytes(s, key, sizeof(key));
	struct rl_slot *e = &s->rl[h & (RL_SLOTS - 1)];
	uint64_t cap = (uint64_t)s->cfg.burst * 1000;

	if (e->hash != h || !e->last_ns) {
		/* a slot idle long enough to be full again is taken over;
		 * otherwise two sources share a bucket (stricter, never looser) */
		uint64_t idle = s->now_ns - e->last_ns;
		if (!e->last_ns || idle >= (uint64_t)s->cfg.burst * NS / s->cfg.rate) {
			e->hash = h;
			e->tokens = cap;
			e->last_ns = s->now_ns;
		}
	}
	uint64_t add = (s->now_ns - e->last_ns) * s->cfg.rate / 1000000; /* thousandths */
	e->tokens = e->tokens + add > cap ? cap : e->tokens + add;
	e->last_ns = s->now_ns;
	if (e->tokens < 1000)
		return false;
	e->tokens -= 1000;
	return true;
}

/* ---- STUN ---- */

static void on_stun(struct coord_server *s, const uint8_t *pkt, size_t len, const struct coord_addr *from)
{
	struct stun_msg m;
	uint8_t out[64];

	if (stun_parse(&m, pkt, len) < 0 || m.type != STUN_BINDING_REQUEST) {
		s->st.stun_bad++;
		return;
	}
	s->st.stun_requests++;
	struct stun_response_opts o = { .fingerprint = m.has_fingerprint };
	int n = stun_binding_response(out, sizeof(out), m.txid, from, &o);
	if (n < 0)
		return;
	if (s->cfg.stun_strict && (size_t)n > len) {
		s->st.stun_suppressed++;
		return;
	}
	tx(s, from, out, (size_t)n);
	s->st.stun_replies++;
}

/* ---- handshake ---- */

static void client_tag(const struct coord_server *s, uint8_t tag[COORD_CLIENT_TAG_LEN], const uint8_t pub[32])
{
	b2s(tag, COORD_CLIENT_TAG_LEN, pub, 32, s->tag_key, 32);
}

static uint32_t new_index(struct coord_server *s)
{
	for (int tries = 0; tries < 8; tries++) {
		uint32_t i;
		size_t cur = 0;
		if (!random_fill((uint8_t *)&i, sizeof(i)))
			return 0;
		if (i && !hashtable_next(&s->sessions, i, &cur))
			return i;
	}
	return 0;
}

static void on_initiation(struct coord_server *s, const uint8_t *pkt, size_t len,
			  const struct coord_addr *from)
{
	uint8_t out[COORD_RESPONSE_LEN], pub[32], ts[COORD_TIMESTAMP_LEN], tag[32], rnd[32];
	struct coord_hs hs;
	struct coord_keys keys;

	if (!coord_check_mac1(pkt, len, s->mac1_key)) {
		s->st.handshake_bad_mac++;
		return;
	}
	if (s->now_ns - s->hs_window_ns >= NS) {
		s->hs_window_ns = s->now_ns;
		s->hs_in_window = 0;
	}
	bool under_load = s->cfg.cookie_always || s->hs_in_window >= s->cfg.handshake_rate;
	s->hs_in_window++;
	if (under_load) {
		uint8_t cookie[COORD_COOKIE_LEN];
		coord_make_cookie(cookie, s->cookie_secret, from);
		if (!coord_check_mac2(pkt, len, cookie)) {
			uint8_t reply[COORD_COOKIE_REPLY_LEN], nonce[24];
			if (!random_fill(nonce, sizeof(nonce)))
				return;
			coord_cookie_reply_create(reply, pkt, cookie, s->cookie_key, nonce);
			tx(s, from, reply, sizeof(reply));
			s->st.cookies_sent++;
			return;
		}
	}
	if (!coord_hs_consume_initiation(&hs, pkt, s->priv, s->pub, pub, ts)) {
		s->st.handshake_bad++;
		return;
	}
	client_tag(s, tag, pub);
	struct client *c = find_client(s, tag);
	if (c && c->has_ts && memcmp(ts, c->last_ts, sizeof(ts)) <= 0) {
		s->st.handshake_replayed++;
		goto out;
	}
	if (c && c->last_init_ns && s->now_ns - c->last_init_ns < INIT_MIN_INTERVAL_NS) {
		s->st.handshake_flood++;
		goto out;
	}
	if (!c && !(c = new_client(s, tag)))
		goto out;
	uint32_t idx = new_index(s);
	if (!idx || !random_fill(rnd, sizeof(rnd)))
		goto out;
	if (!coord_hs_create_response(&hs, out, pub, idx, rnd, &keys)) {
		s->st.handshake_bad++;
		goto out;
	}
	uint8_t mac1[32];
	coord_mac1_key(mac1, pub);
	coord_add_macs(out, sizeof(out), mac1, NULL);
	drop_keys(s, c, true);
	if (hashtable_add(&s->sessions, idx, c) < 0) {
		coord_keys_clear(&keys);
		goto out;
	}
	keys.birth_ns = s->now_ns;
	c->next = keys;
	c->has_next = true;
	coord_keys_clear(&keys);
	memcpy(c->pub, pub, 32);
	c->has_pub = true;
	memcpy(c->last_ts, ts, sizeof(ts));
	c->has_ts = true;
	c->last_init_ns = s->now_ns;
	c->hs_addr = *from;
	tx(s, from, out, sizeof(out));
	s->st.handshakes++;
out:
	coord_hs_clear(&hs);
	memzero(rnd, sizeof(rnd));
}

/* ---- transport ---- */

static void challenge_for(const struct coord_server *s, const struct client *c,
			  const struct coord_addr *a, uint8_t out[COORD_CHALLENGE_LEN])
{
	uint8_t in[4 + COORD_ADDR_LEN];

	coord_put_le32(in, c->cur.local_index);
	coord_addr_encode(in + 4, a);
	b2s(out, COORD_CHALLENGE_LEN, in, sizeof(in), s->challenge_secret, 32);
}

/* c's address just became verified (or changed while verified): both sides
 * of each of its matches learn the current addresses. */
static void refresh_matches(struct coord_server *s, struct client *c)
{
	for (struct rec *r = c->recs; r; r = r->next_of_client) {
		struct rec *o = other_holder(r);
		if (!o)
			continue;
		send_peer(s, c, o, r->tok->token, false, NULL);
		send_peer(s, o->client, r, r->tok->token, false, NULL);
	}
}

static void on_announce(struct coord_server *s, struct client *c, const struct coord_msg *m, size_t *budget)
{
	uint64_t h = hash_bytes(s, m->token, COORD_TOKEN_LEN);
	struct tok *t = find_tok(s, m->token, h);
	struct rec *r = NULL;
	bool fresh = false;

	s->st.announces++;
	if (t)
		for (int i = 0; i < COORD_TOKEN_HOLDERS; i++)
			if (t->holder[i] && t->holder[i]->client == c)
				r = t->holder[i];
	if (!r) {
		uint8_t err = 0;
		if (!(r = new_rec(s, c, m->token, h, t, &err))) {
			send_error(s, c, err, m->token, budget);
			return;
		}
		fresh = true;
	}
	bool changed = set_blob(r, m->blob, m->blob_len) || fresh;
	r->expires_ns = s->now_ns + (uint64_t)s->cfg.record_ttl * NS;
	r->expires_unix = s->unix_s + s->cfg.record_ttl;
	if (changed || r->expires_unix - r->stored_expires_unix >= s->cfg.record_ttl / 4)
		mark_dirty(s, r);

	struct rec *o = other_holder(r);
	struct coord_msg a = { .type = COORD_ANNOUNCED, .status = o ? COORD_MATCHED : COORD_WAITING,
			       .ttl = (uint16_t)s->cfg.record_ttl };
	memcpy(a.token, m->token, COORD_TOKEN_LEN);
	send_msg(s, c, &a, budget);
	if (!o)
		return;
	if (fresh)
		s->st.matches++;
	send_peer(s, c, o, m->token, false, budget);
	if (changed && c->verified)
		send_peer(s, o->client, r, m->token, false, NULL);
}

static void on_withdraw(struct coord_server *s, struct client *c, const struct coord_msg *m)
{
	struct tok *t = find_tok(s, m->token, hash_bytes(s, m->token, COORD_TOKEN_LEN));

	s->st.withdraws++;
	if (!t)
		return;
	for (int i = 0; i < COORD_TOKEN_HOLDERS; i++)
		if (t->holder[i] && t->holder[i]->client == c) {
			free_rec(s, t->holder[i], true, true);
			return;
		}
}

static void on_transport(struct coord_server *s, const uint8_t *pkt, size_t len,
			 const struct coord_addr *from)
{
	uint8_t pt[COORD_INNER_MAX];
	uint32_t idx = coord_transport_receiver(pkt);
	size_t cur = 0;
	struct client *c = hashtable_next(&s->sessions, idx, &cur);

	if (!c) {
		s->st.transport_no_session++;
		return;
	}
	bool is_next = c->has_next && c->next.local_index == idx;
	struct coord_keys *k = is_next ? &c->next : &c->cur;
	if (!is_next && (!c->has_cur || c->cur.local_index != idx ||
			 s->now_ns - c->cur.birth_ns >= COORD_REJECT_AFTER_TIME * NS)) {
		s->st.transport_no_session++;
		return;
	}
	int n = coord_transport_open(k, pkt, len, pt, sizeof(pt));
	if (n < 0) {
		if (n == -EALREADY)
			s->st.transport_replayed++;
		else
			s->st.transport_bad++;
		return;
	}
	s->st.transport_ok++;

	bool was_verified = c->verified;
	bool moved = !coord_addr_equal(from, &c->addr);
	bool proven = false;
	if (is_next) {
		/* the client confirms the new keys: they become current */
		drop_keys(s, c, false);
		c->cur = c->next;
		c->has_cur = true;
		memset(&c->next, 0, sizeof(c->next));
		c->has_next = false;
		/* only the receiver of our response could have made this */
		proven = coord_addr_equal(from, &c->hs_addr);
	}
	if (moved) {
		c->addr = *from;
		c->verified = proven;
	} else if (proven) {
		c->verified = true;
	}

	struct coord_msg m;
	size_t budget = len;
	if (s->relay && pt[0] >= 0x40 && pt[0] <= 0x7f) {
		/* the relay's control messages (relay_proto.h) */
		relay_server_on_ctl(s->relay, (uintptr_t)c, pt, (size_t)n, s->now_ns);
	} else if (coord_msg_decode(&m, pt, (size_t)n) < 0) {
		s->st.msg_bad++;
		send_error(s, c, COORD_ERR_BAD_MESSAGE, NULL, &budget);
		return;
	} else switch (m.type) {
	case COORD_PING: {
		s->st.pings++;
		uint8_t want[COORD_CHALLENGE_LEN];
		challenge_for(s, c, from, want);
		if (!c->verified && memeq_ct(want, m.challenge, COORD_CHALLENGE_LEN))
			c->verified = true;
		struct coord_msg p = { .type = COORD_PONG, .echo = m.echo, .addr = *from };
		if (!c->verified)
			memcpy(p.challenge, want, COORD_CHALLENGE_LEN);
		send_msg(s, c, &p, &budget);
		break;
	}
	case COORD_ANNOUNCE:
		on_announce(s, c, &m, &budget);
		break;
	case COORD_WITHDRAW:
		on_withdraw(s, c, &m);
		break;
	default:
		s->st.msg_bad++;
		send_error(s, c, COORD_ERR_BAD_MESSAGE, NULL, &budget);
		return;
	}
	if (c->verified && (!was_verified || moved))
		refresh_matches(s, c);
	/* the stored address follows the client */
	if (c->verified && (!was_verified || moved))
		for (struct rec *r = c->recs; r; r = r->next_of_client)
			mark_dirty(s, r);
}

void coord_server_input(struct coord_server *s, const uint8_t *pkt, size_t len,
			const struct coord_addr *from, uint64_t now_ns, uint64_t unix_s)
{
	s->now_ns = now_ns;
	s->unix_s = unix_s;
	s->st.rx_packets++;
	s->st.rx_bytes += len;
	/* relayed datagrams are held to their pair's bandwidth limit, not to
	 * the per-source message rate; each is authenticated by its session
	 * before anything else is done with it */
	if (s->relay && len && pkt[0] == COORD_MSG_RELAY && coord_classify(pkt, len) == COORD_KIND_RELAY) {
		uint8_t buf[RELAY_MSG_MAX];

		if (len > sizeof(buf)) {
			s->st.unknown++;
			return;
		}
		memcpy(buf, pkt, len); /* opened and re-sealed in place */
		relay_server_on_message(s->relay, buf, len, now_ns);
		return;
	}
	if (!rate_allow(s, from)) {
		s->st.rate_limited++;
		return;
	}
	switch (coord_classify(pkt, len)) {
	case COORD_KIND_STUN:
		on_stun(s, pkt, len, from);
		break;
	case COORD_KIND_INITIATION:
		on_initiation(s, pkt, len, from);
		break;
	case COORD_KIND_TRANSPORT:
		on_transport(s, pkt, len, from);
		break;
	case COORD_KIND_RELAY:
		if (s->cfg.relay_input)
			s->cfg.relay_input(s->cfg.relay_ctx, pkt, len, from, now_ns);
		else
			s->st.relay_dropped++;
		break;
	case COORD_KIND_RESPONSE:
	case COORD_KIND_COOKIE:
		s->st.unexpected++;
		break;
	default:
		s->st.unknown++;
		break;
	}
}

/* ---- housekeeping ---- */

static void rotate_secrets(struct coord_server *s)
{
	random_fill(s->cookie_secret, sizeof(s->cookie_secret));
	random_fill(s->challenge_secret, sizeof(s->challenge_secret));
	s->secrets_born_ns = s->now_ns;
}

static void sweep(struct coord_server *s)
{
	/* collect first: removing from a table while walking it moves items */
	struct client **doomed = NULL;
	size_t ndoomed = 0, cap = 0;

	for (size_t i = 0; i < s->clients.cap; i++) {
		struct client *c = s->clients.items[i];
		if (!c)
			continue;
		if (c->has_cur && s->now_ns - c->cur.birth_ns >= COORD_REJECT_AFTER_TIME * NS)
			drop_keys(s, c, false);
		if (c->has_next && s->now_ns - c->next.birth_ns >= NEXT_MAX_AGE_NS)
			drop_keys(s, c, true);
		bool expired_rec = false;
		for (struct rec *r = c->recs; r && !expired_rec; r = r->next_of_client)
			expired_rec = r->expires_ns <= s->now_ns;
		if (expired_rec || (!c->has_cur && !c->has_next)) {
			if (ndoomed == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct client **d = realloc(doomed, ncap * sizeof(*d));
				if (!d)
					break;
				doomed = d;
				cap = ncap;
			}
			doomed[ndoomed++] = c;
		}
	}
	for (size_t i = 0; i < ndoomed; i++) {
		struct client *c = doomed[i];
		struct rec *r = c->recs;
		while (r) {
			struct rec *next = r->next_of_client;
			if (r->expires_ns <= s->now_ns)
				free_rec(s, r, true, true);
			r = next;
		}
		if (!c->recs && !c->has_cur && !c->has_next)
			free_client(s, c);
	}
	free(doomed);
}

/* Records that other replicas wrote (or that a previous run left): they
 * become ghost holders that announcements here can match. */
static int merge_record(const struct coord_record *r, void *arg)
{
	struct coord_server *s = arg;
	struct client *c = find_client(s, r->client_tag);

	if (r->expires <= s->unix_s)
		return 0;
	if (c && c->has_pub)
		return 0; /* ours: memory is authoritative */
	if (!c && !(c = new_client(s, r->client_tag)))
		return 0;
	uint64_t h = hash_bytes(s, r->token, COORD_TOKEN_LEN);
	struct tok *t = find_tok(s, r->token, h);
	struct rec *x = NULL;
	if (t)
		for (int i = 0; i < COORD_TOKEN_HOLDERS; i++)
			if (t->holder[i] && t->holder[i]->client == c)
				x = t->holder[i];
	bool fresh = !x;
	if (!x) {
		uint8_t err;
		if (!(x = new_rec(s, c, r->token, h, t, &err))) {
			if (!c->recs && !c->has_cur && !c->has_next)
				free_client(s, c);
			return 0;
		}
	}
	bool moved = !coord_addr_equal(&c->addr, &r->addr);
	c->addr = r->addr;
	c->verified = true;
	bool changed = set_blob(x, r->blob, r->blob_len) || fresh || moved;
	x->expires_unix = x->stored_expires_unix = r->expires;
	x->expires_ns = s->now_ns + (r->expires - s->unix_s) * NS;
	struct rec *o = other_holder(x);
	if (changed && o && o->client->has_pub)
		send_peer(s, o->client, x, r->token, false, NULL);
	return 0;
}

int coord_server_load(struct coord_server *s, uint64_t now_ns, uint64_t unix_s)
{
	uint64_t before = s->total_records;

	s->now_ns = now_ns;
	s->unix_s = unix_s;
	if (!s->cfg.store || !s->cfg.store->ops->scan)
		return 0;
	s->scan_since = 0;
	int r = s->cfg.store->ops->scan(s->cfg.store, unix_s, &s->scan_since, merge_record, s);
	if (r < 0)
		return r;
	return (int)(s->total_records - before);
}

void coord_server_tick(struct coord_server *s, uint64_t now_ns, uint64_t unix_s)
{
	s->now_ns = now_ns;
	s->unix_s = unix_s;
	if (now_ns - s->secrets_born_ns >= COORD_COOKIE_SECRET_MAX_AGE * NS)
		rotate_secrets(s);
	/* once a second: expiry, then one store transaction with everything
	 * that changed (a record announced again and again is written once;
	 * fewer, larger commits rewrite fewer pages) */
	if (now_ns - s->last_sweep_ns >= SWEEP_INTERVAL_NS) {
		s->last_sweep_ns = now_ns;
		sweep(s);
		flush_store(s, true);
	}
	if (s->relay)
		relay_server_tick(s->relay, now_ns);
	/* other replicas' announcements: a match made of records at two
	 * replicas reaches both clients within a scan interval (after the
	 * other replica's next flush, each second) */
	if (s->cfg.scan_interval_ns && s->cfg.store && s->cfg.store->ops->scan &&
	    now_ns - s->last_scan_ns >= s->cfg.scan_interval_ns) {
		s->last_scan_ns = now_ns;
		if (s->cfg.store->ops->scan(s->cfg.store, unix_s, &s->scan_since, merge_record, s) < 0)
			s->st.store_errors++;
	}
	s->st.clients = s->clients.count;
	s->st.sessions = s->sessions.count;
	s->st.tokens = s->tokens.count;
	s->st.records = s->total_records;
}

/* ---- the relay's view of sessions (relay.h): a client is named by its
 * address in memory, forgotten by the relay in free_client ---- */

static struct coord_keys *relay_keys_by_index(void *ctx, uint32_t idx, uint64_t *client)
{
	struct coord_server *s = ctx;
	size_t cur = 0;
	struct client *c = hashtable_next(&s->sessions, idx, &cur);

	if (!c || !session_usable(s, c) || c->cur.local_index != idx)
		return NULL;
	*client = (uintptr_t)c;
	return &c->cur;
}

static struct coord_keys *relay_keys_of(void *ctx, uint64_t client)
{
	struct coord_server *s = ctx;
	struct client *c = (struct client *)(uintptr_t)client;

	return session_usable(s, c) ? &c->cur : NULL;
}

static int relay_send(void *ctx, uint64_t client, const uint8_t *msg, size_t len)
{
	struct coord_server *s = ctx;
	struct client *c = (struct client *)(uintptr_t)client;

	/* only to an address that proved it receives there: the relay is
	 * no way to aim traffic at someone else */
	if (!c->verified)
		return -EHOSTUNREACH;
	tx(s, &c->addr, msg, len);
	return 0;
}

static bool relay_announced(void *ctx, uint64_t client, const uint8_t token[COORD_TOKEN_LEN])
{
	struct coord_server *s = ctx;
	struct tok *t = find_tok(s, token, hash_bytes(s, token, COORD_TOKEN_LEN));

	for (int i = 0; t && i < COORD_TOKEN_HOLDERS; i++)
		if (t->holder[i] && (uintptr_t)t->holder[i]->client == client &&
		    t->holder[i]->expires_ns > s->now_ns)
			return true;
	return false;
}

static uint64_t relay_other_holder(void *ctx, uint64_t client, const uint8_t token[COORD_TOKEN_LEN])
{
	struct coord_server *s = ctx;
	struct tok *t = find_tok(s, token, hash_bytes(s, token, COORD_TOKEN_LEN));

	for (int i = 0; t && i < COORD_TOKEN_HOLDERS; i++) {
		struct client *o = t->holder[i] ? t->holder[i]->client : NULL;

		if (o && (uintptr_t)o != client && o->has_pub && session_usable(s, o))
			return (uintptr_t)o;
	}
	return 0;
}

static const struct relay_server_ops RELAY_OPS = {
	relay_keys_by_index, relay_keys_of, relay_send, relay_announced, relay_other_holder,
};

const struct relay_server *coord_server_relay(const struct coord_server *s)
{
	return s->relay;
}

int coord_server_new(const struct coord_server_config *cfg, coord_send_fn send, void *send_ctx,
		     struct coord_server **out)
{
	static const char label[] = CLIENT_TAG_LABEL;
	struct coord_server *s;

	*out = NULL;
	if (!cfg->max_clients || !cfg->max_records || !cfg->record_ttl || cfg->record_ttl > 65535 ||
	    (cfg->rate && !cfg->burst) || !send)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->send = send;
	s->send_ctx = send_ctx;
	memcpy(s->priv, cfg->private_key, 32);
	memzero(s->cfg.private_key, 32);
	if (!x25519_public(s->pub, s->priv)) {
		coord_server_free(s);
		return -EINVAL;
	}
	coord_mac1_key(s->mac1_key, s->pub);
	coord_cookie_key(s->cookie_key, s->pub);
	/* the client tag key: stable across restarts, secret to this server */
	b2s(s->tag_key, 32, (const uint8_t *)label, sizeof(label) - 1, s->priv, 32);
	if (!random_fill(s->hash_key, sizeof(s->hash_key)) ||
	    !random_fill(s->cookie_secret, 32) || !random_fill(s->challenge_secret, 32)) {
		int e = -errno;
		coord_server_free(s);
		return e;
	}
	s->rl = calloc(RL_SLOTS, sizeof(*s->rl));
	if (!s->rl) {
		coord_server_free(s);
		return -ENOMEM;
	}
	if (cfg->relay && !(s->relay = relay_server_new(cfg->relay, &RELAY_OPS, s))) {
		int e = errno ? -errno : -ENOMEM;
		coord_server_free(s);
		return e;
	}
	s->cfg.relay = NULL; /* the caller's limits are not kept */
	*out = s;
	return 0;
}

void coord_server_free(struct coord_server *s)
{
	if (!s)
		return;
	if (s->rl)
		flush_store(s, false);
	/* records first (they point at clients), then clients */
	for (size_t i = 0; i < s->clients.cap; i++) {
		struct client *c = s->clients.items ? s->clients.items[i] : NULL;
		if (!c)
			continue;
		for (struct rec *r = c->recs, *n; r; r = n) {
			n = r->next_of_client;
			for (int k = 0; k < COORD_TOKEN_HOLDERS; k++)
				if (r->tok->holder[k] == r)
					r->tok->holder[k] = NULL;
			if (!r->tok->holder[0] && !r->tok->holder[1])
				free(r->tok);
			free(r->blob);
			free(r);
		}
		memzero(c, sizeof(*c));
		free(c);
	}
	relay_server_free(s->relay);
	hashtable_free(&s->clients);
	hashtable_free(&s->sessions);
	hashtable_free(&s->tokens);
	free(s->dirty);
	free(s->dels);
	free(s->rl);
	memzero(s, sizeof(*s));
	free(s);
}

void coord_server_public_key(const struct coord_server *s, uint8_t pub[32])
{
	memcpy(pub, s->pub, 32);
}

const struct coord_stats *coord_server_stats(const struct coord_server *s)
{
	return &s->st;
}

int coord_stats_format(const struct coord_stats *st, char *out, size_t cap)
{
#define F(x) #x, st->x
	int n = snprintf(out, cap,
		"%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n"
		"%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n"
		"%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n"
		"%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n%s %llu\n"
		"%s %llu\n%s %llu\n%s %llu\n%s %llu\n",
#define U(x) #x, (unsigned long long)st->x
		U(rx_packets), U(rx_bytes), U(tx_packets), U(tx_bytes), U(rate_limited), U(unknown),
		U(stun_requests), U(stun_replies), U(stun_bad), U(stun_suppressed),
		U(handshakes), U(handshake_bad_mac), U(handshake_bad), U(handshake_replayed),
		U(handshake_flood), U(cookies_sent), U(server_full),
		U(transport_ok), U(transport_bad), U(transport_replayed), U(transport_no_session),
		U(msg_bad), U(announces), U(withdraws), U(pings), U(matches), U(peers_sent),
		U(errors_sent), U(replies_suppressed), U(unexpected), U(relay_dropped), U(store_errors),
		U(clients), U(sessions), U(tokens), U(records));
#undef U
#undef F
	return n < 0 || (size_t)n >= cap ? -ENOSPC : n;
}
