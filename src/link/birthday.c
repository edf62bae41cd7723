/* birthday.c: the birthday probe's state machine (see birthday.h): the
 * paced sprays and guesses, the authenticated probe and ack datagrams,
 * and the hit. */
#include <string.h>

#include "crypto/crypto.h"
#include "link/birthday.h"

/* A first byte WireGuard never uses (its messages start 1..4, 0, 0, 0). */
static const uint8_t magic[4] = { 0xf7, 'w', 'b', 'p' };
enum { PKT_PROBE = 1, PKT_ACK = 2 };

void bday_key(uint8_t key[32], const uint8_t token[32])
{
	static const char label[] = "weft link birthday probe v1";

	b2s(key, 32, (const uint8_t *)label, sizeof(label) - 1, token, 32);
}

/* splitmix64: spread, not secrecy */
static uint64_t rnd(struct bday *b)
{
	uint64_t z = (b->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void bday_init(struct bday *b, enum bday_role role, const uint8_t key[32],
	       const uint8_t session[BDAY_SESSION_LEN], const struct sockaddr_in *target,
	       uint16_t n_sockets, uint64_t seed, int64_t now)
{
	memset(b, 0, sizeof(*b));
	b->role = (uint8_t)role;
	b->state = BDAY_RUNNING;
	if (role == BDAY_GUESS || !n_sockets)
		n_sockets = 1;
	b->n_sockets = n_sockets > BDAY_SOCKETS ? BDAY_SOCKETS : n_sockets;
	memcpy(b->key, key, 32);
	memcpy(b->session, session, BDAY_SESSION_LEN);
	b->target = *target;
	b->started = now;
	b->deadline = now + BDAY_DURATION_MS;
	b->next_at = role == BDAY_GUESS ? now + BDAY_GUESS_DELAY_MS : now;
	b->rng = seed;
}

void bday_wipe(struct bday *b)
{
	memzero(b->key, sizeof(b->key));
}

bool bday_is_probe(const uint8_t *pkt, size_t len)
{
	return len == BDAY_PKT_LEN && !memcmp(pkt, magic, sizeof(magic));
}

static void seal(const struct bday *b, uint8_t pkt[BDAY_PKT_LEN], uint8_t type, uint16_t index)
{
	memcpy(pkt, magic, 4);
	pkt[4] = type;
	pkt[5] = b->role;
	pkt[6] = (uint8_t)(index >> 8);
	pkt[7] = (uint8_t)index;
	memcpy(pkt + 8, b->session, BDAY_SESSION_LEN);
	b2s(pkt + 16, BDAY_MAC_LEN, pkt, 16, b->key, 32);
}

static void tx(struct bday *b, struct bday_tx *t, uint16_t sock, const struct sockaddr_in *to, uint8_t type,
	       uint16_t index)
{
	t->sock = sock;
	t->to = *to;
	seal(b, t->pkt, type, index);
}

/* A port of the target not guessed yet; 0 once the range is used up. */
static uint16_t fresh_port(struct bday *b)
{
	const unsigned span = 65536 - BDAY_PORT_MIN;

	for (int tries = 0; tries < 64; tries++) {
		uint16_t p = (uint16_t)(BDAY_PORT_MIN + rnd(b) % span);

		if (!(b->tried[p / 8] & (1u << (p % 8)))) {
			b->tried[p / 8] |= (uint8_t)(1u << (p % 8));
			return p;
		}
	}
	return 0; /* far more guesses than BDAY_MAX_PROBES would be needed */
}

size_t bday_poll(struct bday *b, int64_t now, struct bday_tx *out, size_t max, int64_t *next)
{
	size_t n = 0;

	*next = INT64_MAX;
	if (b->state == BDAY_HIT && b->role == BDAY_SPRAY && b->confirms < BDAY_CONFIRMS && max) {
		/* the ack that made the guess side's hit may be lost: repeat it */
		if (now < b->hit_at + (int64_t)(b->confirms + 1) * BDAY_CONFIRM_MS) {
			*next = b->hit_at + (int64_t)(b->confirms + 1) * BDAY_CONFIRM_MS;
			return 0;
		}
		tx(b, &out[0], b->hit_sock, &b->hit_addr, PKT_ACK, 0);
		b->counters.acks_sent++;
		if (++b->confirms < BDAY_CONFIRMS)
			*next = b->hit_at + (int64_t)(b->confirms + 1) * BDAY_CONFIRM_MS;
		return 1;
	}
	if (b->state != BDAY_RUNNING)
		return 0;
	if (now >= b->deadline) {
		b->state = BDAY_MISSED;
		return 0;
	}
	if (now < b->next_at) {
		*next = b->next_at;
		return 0;
	}
	if (b->role == BDAY_SPRAY) {
		if (b->spray_next == 0 && b->round >= BDAY_SPRAY_ROUNDS) {
			*next = b->deadline; /* all sent: wait for a guess to land */
			return 0;
		}
		while (n < max && n < BDAY_SPRAY_BATCH && b->spray_next < b->n_sockets) {
			tx(b, &out[n++], (uint16_t)b->spray_next, &b->target, PKT_PROBE,
			   (uint16_t)b->spray_next);
			b->spray_next++;
		}
		b->counters.probes_sent += n;
		if (b->spray_next == b->n_sockets) {
			/* round done: the next one when the mappings need a refresh */
			b->round++;
			b->spray_next = 0;
			b->next_at = b->started + (int64_t)b->round * BDAY_SPRAY_ROUND_MS;
		} else {
			b->next_at = now + BDAY_SPRAY_TICK_MS;
		}
	} else {
		while (n < max && n < BDAY_GUESS_BATCH && b->guesses < BDAY_MAX_PROBES) {
			struct sockaddr_in to = b->target;
			uint16_t port = fresh_port(b);

			if (!port)
				break;
			to.sin_port = htons(port);
			tx(b, &out[n++], 0, &to, PKT_PROBE, (uint16_t)b->guesses);
			b->guesses++;
		}
		b->counters.probes_sent += n;
		b->next_at = b->guesses < BDAY_MAX_PROBES ? now + BDAY_GUESS_TICK_MS : b->deadline;
	}
	*next = b->next_at < b->deadline ? b->next_at : b->deadline;
	return n;
}

static void hit(struct bday *b, uint16_t sock, const struct sockaddr_in *from, int64_t now)
{
	if (b->state == BDAY_HIT)
		return; /* the first pair found stays the pair */
	b->state = BDAY_HIT;
	b->hit_sock = sock;
	b->hit_addr = *from;
	b->hit_at = now;
}

bool bday_input(struct bday *b, uint16_t sock, const struct sockaddr_in *from, const uint8_t *pkt,
		size_t len, int64_t now, struct bday_tx *reply)
{
	uint8_t mac[BDAY_MAC_LEN];

	if (!bday_is_probe(pkt, len) || sock >= b->n_sockets || b->state == BDAY_MISSED) {
		b->counters.rejected++;
		return false;
	}
	b2s(mac, sizeof(mac), pkt, 16, b->key, 32);
	/* from the other side of this very attempt, or nothing */
	if (!memeq_ct(mac, pkt + 16, BDAY_MAC_LEN) || pkt[5] == b->role || pkt[5] > BDAY_GUESS ||
	    memcmp(pkt + 8, b->session, BDAY_SESSION_LEN) || (pkt[4] != PKT_PROBE && pkt[4] != PKT_ACK)) {
		b->counters.rejected++;
		return false;
	}
	b->counters.valid_received++;
	if (b->role == BDAY_GUESS) {
		/* The spray side picks the pair: its ack comes from the socket it
		 * keeps. A spray that got through is only answered, so that the
		 * spray side can pick that socket. */
		if (pkt[4] == PKT_ACK) {
			hit(b, sock, from, now);
			return false;
		}
		if (b->state == BDAY_HIT)
			return false;
	} else {
		/* the first socket that heard the guess side is the one; acks
		 * come from it alone, so the guess side cannot pick another */
		if (b->state == BDAY_HIT && sock != b->hit_sock)
			return false;
		bool first = b->state != BDAY_HIT;

		hit(b, sock, from, now);
		if (pkt[4] == PKT_ACK && !first)
			return false;
	}
	tx(b, reply, sock, from, PKT_ACK, (uint16_t)(pkt[6] << 8 | pkt[7]));
	b->counters.acks_sent++;
	return true;
}

int64_t bday_mark(int64_t wall_ms)
{
	int64_t t = wall_ms + BDAY_MARK_LEAD_MS;

	return (t / BDAY_MARK_MS + 1) * BDAY_MARK_MS;
}

void bday_session(uint8_t session[BDAY_SESSION_LEN], const uint8_t key[32], int64_t mark)
{
	uint8_t m[8];

	for (int i = 0; i < 8; i++)
		m[i] = (uint8_t)((uint64_t)mark >> (56 - 8 * i));
	b2s(session, BDAY_SESSION_LEN, m, sizeof(m), key, 32);
}

enum bday_role bday_pick_role(bool we_hard, bool peer_hard, const uint8_t our_key[32],
			      const uint8_t peer_key[32])
{
	if (we_hard != peer_hard)
		return we_hard ? BDAY_SPRAY : BDAY_GUESS;
	return memcmp(our_key, peer_key, 32) < 0 ? BDAY_SPRAY : BDAY_GUESS;
}
