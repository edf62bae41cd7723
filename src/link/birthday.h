/* birthday.h: the birthday probe, sans I/O. When a peer sits behind a NAT
 * that gives every destination a new external port (address-and-port-
 * dependent mapping, "symmetric"), its public port toward us cannot be
 * learnt from STUN, and plain hole punching fails. As Tailscale measured,
 * many ports at once still find a way: one side (the spray side) opens
 * BDAY_SOCKETS sockets and sends from each to the other's public address,
 * so that its NAT holds that many mappings toward it; the other (the guess
 * side) sends to random ports of the spray side's public address, at most
 * BDAY_MAX_PROBES of them, paced. With 256 mappings among 64,512 ports,
 * 1,024 guesses hit one with a chance of about 98 %.
 *
 * A hit needs the guess side's source port to be the one the spray side
 * aimed at, so it works when the guess side's mapping does not depend on
 * the destination (its STUN port is its port toward everyone); with both
 * sides symmetric it (almost surely) finds nothing, and the relay carries
 * the traffic. Either way it is bounded: BDAY_MAX_PROBES guesses,
 * BDAY_SPRAY_ROUNDS rounds of sprays, BDAY_DURATION_MS in all.
 *
 * Every probe carries a MAC keyed from the pair's shared token, so that a
 * stranger cannot make either side believe in a path; the session value
 * ties probes to one attempt. The caller owns the sockets (index 0..n-1)
 * and the clock (monotonic ms): bday_poll says what to send, bday_input
 * takes what came in. */
#ifndef WEFT_LINK_BIRTHDAY_H
#define WEFT_LINK_BIRTHDAY_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BDAY_SOCKETS 256
#define BDAY_MAX_PROBES 1024
/* Guesses: BDAY_GUESS_BATCH every BDAY_GUESS_TICK_MS (200 a second), so
 * that 1,024 take about five seconds and no NAT sees a flood. */
#define BDAY_GUESS_BATCH 4
#define BDAY_GUESS_TICK_MS 20
/* Sprays: every socket once per round; a round keeps the mappings open
 * (conntrack forgets an unreplied UDP flow after 30 s). Sent in batches
 * too, so that 256 sockets do not go out in one burst. */
#define BDAY_SPRAY_ROUNDS 3
#define BDAY_SPRAY_ROUND_MS 4000
#define BDAY_SPRAY_BATCH 32
#define BDAY_SPRAY_TICK_MS 10
/* The whole attempt, sprays and guesses and late answers. */
#define BDAY_DURATION_MS 12000
/* Guesses start after the first spray round is out: the mappings must
 * exist before a guess can hit one. */
#define BDAY_GUESS_DELAY_MS 500
/* After a hit the spray side repeats its ack this many times, this far
 * apart, in case the one that told the guess side was lost. */
#define BDAY_CONFIRMS 3
#define BDAY_CONFIRM_MS 250
/* The ports a NAT hands out (Linux masquerade: 1024-65535). */
#define BDAY_PORT_MIN 1024

#define BDAY_PKT_LEN 32
#define BDAY_MAC_LEN 16
#define BDAY_SESSION_LEN 8

enum bday_role { BDAY_SPRAY = 0, BDAY_GUESS = 1 };
enum bday_state { BDAY_RUNNING, BDAY_HIT, BDAY_MISSED };

struct bday_tx {
	uint16_t sock;              /* which of the caller's sockets sends */
	struct sockaddr_in to;
	uint8_t pkt[BDAY_PKT_LEN];
};

struct bday_counters {
	uint64_t probes_sent;       /* guesses or sprays sent */
	uint64_t acks_sent;
	uint64_t valid_received;    /* probes and acks that passed the MAC */
	uint64_t rejected;          /* anything else that reached our sockets */
};

struct bday {
	uint8_t role;               /* enum bday_role */
	uint8_t state;              /* enum bday_state */
	uint16_t n_sockets;         /* spray: BDAY_SOCKETS (or fewer); guess: 1 */
	uint8_t key[32];
	uint8_t session[BDAY_SESSION_LEN];
	struct sockaddr_in target;  /* spray: the peer's public ip:port; guess: its ip */
	int64_t started, deadline;
	int64_t next_at;            /* next batch due */
	uint32_t round;             /* spray rounds begun */
	uint32_t spray_next;        /* next socket in this round */
	uint32_t guesses;           /* guesses sent */
	uint64_t rng;
	uint8_t tried[65536 / 8];   /* guess ports used: no port twice */
	/* the hit */
	uint16_t hit_sock;
	struct sockaddr_in hit_addr;
	int64_t hit_at;
	uint8_t confirms;           /* acks repeated after the hit */
	struct bday_counters counters;
};

/* The MAC key for a pair from its shared 32-byte token (the rendezvous
 * token both sides already hold): BLAKE2s keyed with the token over a
 * label, so that the token itself never keys anything else. */
void bday_key(uint8_t key[32], const uint8_t token[32]);
/* n_sockets: how many sockets the spray side opened (1..BDAY_SOCKETS;
 * ignored for the guess side, which has one). seed: any random value
 * (port choices need no secrecy, only spread). Secrets are copied; wipe
 * with bday_wipe. */
void bday_init(struct bday *b, enum bday_role role, const uint8_t key[32],
	       const uint8_t session[BDAY_SESSION_LEN], const struct sockaddr_in *target,
	       uint16_t n_sockets, uint64_t seed, int64_t now);
void bday_wipe(struct bday *b);
/* Up to max datagrams due at now; *next gets when to call again (INT64_MAX:
 * never: the attempt is over). */
size_t bday_poll(struct bday *b, int64_t now, struct bday_tx *out, size_t max, int64_t *next);
/* A datagram that arrived on socket sock from from. Returns true and fills
 * *reply when an answer is to be sent (an ack, from the same socket).
 * The spray side picks the pair: the first of its sockets that hears a
 * valid probe or ack from the guess side is a hit, and its acks come from
 * that socket only; the guess side's hit is the first ack it receives. */
bool bday_input(struct bday *b, uint16_t sock, const struct sockaddr_in *from, const uint8_t *pkt,
		size_t len, int64_t now, struct bday_tx *reply);
/* Whether a datagram looks like a probe at all (its magic), for a socket
 * that carries WireGuard traffic too after a hit. */
bool bday_is_probe(const uint8_t *pkt, size_t len);

/* Both sides start an attempt at the next multiple of BDAY_MARK_MS of the
 * wall clock at least BDAY_MARK_LEAD_MS ahead (so that two sides which
 * gave up on direct paths at about the same time start together without a
 * word), and derive the session value from the pair's key and that mark. */
#define BDAY_MARK_MS 15000
#define BDAY_MARK_LEAD_MS 2000
int64_t bday_mark(int64_t wall_ms);
void bday_session(uint8_t session[BDAY_SESSION_LEN], const uint8_t key[32], int64_t mark);

/* Which side sprays: the one whose NAT maps per destination (hard); when
 * both or neither are, the side with the smaller public key, so that the
 * two agree without a word. */
enum bday_role bday_pick_role(bool we_hard, bool peer_hard, const uint8_t our_key[32],
			      const uint8_t peer_key[32]);

#endif
