/* reverse.h: `weft serve`'s reverse direction, from the server's host into
 * the tunnel:
 *   Expose  a port on the server (loopback unless a bind address is given)
 *           forwarded to an address and port in the tunnel, TCP or UDP;
 *   SOCKS5  a SOCKS5 server (RFC 1928 CONNECT; RFC 1929 username/password
 *           when SOCKS5User/SOCKS5Password are set) on the server, loopback
 *           unless told otherwise, whose connections go into the tunnel.
 * TCP goes through the stack's connect() from the server's own tunnel
 * address ([Interface] Address) and, once established, is relayed by the
 * flows (flows_adopt) like any other connection. UDP is built into IP/UDP
 * packets here, and the answers find their way back by the source port.
 *
 * Settings, in the [Serve] section (or WEFT_EXPOSE, WEFT_SOCKS5,
 * WEFT_SOCKS5_USER, WEFT_SOCKS5_PASSWORD):
 *   Expose = [tcp/|udp/][BIND:]PORT:ADDRESS:PORT, ...   (IPv6 in brackets)
 *   SOCKS5 = [BIND:]PORT
 *   SOCKS5User = NAME, SOCKS5Password = PASSWORD   (1 to 255 bytes each) */
#ifndef WEFT_SERVE_REVERSE_H
#define WEFT_SERVE_REVERSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "conf/conf.h"

#define REVERSE_MAX_EXPOSE 64
#define SOCKS5_FIELD_MAX 255 /* RFC 1929: ULEN and PLEN are one byte */

struct expose_rule {
	int proto;                     /* IPPROTO_TCP or IPPROTO_UDP */
	struct sockaddr_storage bind;  /* on the server's host */
	struct sockaddr_storage to;    /* in the tunnel */
	bool closed;                   /* taken back at run time (reverse_expose_remove) */
};

struct reverse_settings {
	struct expose_rule expose[REVERSE_MAX_EXPOSE];
	unsigned n_expose;
	bool socks5;
	struct sockaddr_storage socks5_bind;
	char socks5_user[SOCKS5_FIELD_MAX + 1];     /* "": no authentication */
	char socks5_password[SOCKS5_FIELD_MAX + 1];
};

/* One [Serve] key. *known is false for a key that is not ours; otherwise
 * NULL when the value was fine, or what was expected. */
const char *reverse_setting(struct reverse_settings *rs, const char *key, const char *value, bool *known);
/* "tcp 127.0.0.1:8080 -> 10.99.0.2:80" */
void expose_rule_text(const struct expose_rule *e, char *out, size_t len);
/* "10.99.0.2:80", "[fd99::2]:80" */
void reverse_addr_text(const struct sockaddr_storage *ss, char *out, size_t len);

struct stack;
struct flows;
struct watch;

struct reverse_env {
	void *ctx;
	int epfd;                      /* where the fds go (data.ptr: a struct watch, WATCH_REVERSE) */
	struct stack *stack;
	struct flows *flows;
	const struct conf *conf;       /* the server's addresses and the peers' AllowedIPs */
	uint32_t udp_idle_s;
	/* An IP packet for the tunnel (valid during the call only). */
	void (*to_tunnel)(void *ctx, const uint8_t *pkt, size_t len);
	bool always;                   /* made even with nothing to do (rules come at run time) */
	/* Does a peer's AllowedIPs hold addr? NULL: conf's peers decide. */
	bool (*routable)(void *ctx, int family, const uint8_t *addr);
};

struct reverse;

/* Binds every Expose port and the SOCKS5 port. 0 (*out is NULL when there
 * is nothing to do), or -errno after a log line naming the setting. */
int reverse_open(struct reverse **out, const struct reverse_settings *rs, const struct reverse_env *env);
/* One more Expose rule, opened at once; e lives as long as r. 0, or
 * -errno after a log line (-EDESTADDRREQ: no tunnel address of its
 * family; -ENOSPC: REVERSE_MAX_EXPOSE reached). */
int reverse_expose_add(struct reverse *r, const struct expose_rule *e);
/* Closes the port of a rule given to reverse_open or reverse_expose_add
 * (connections already made go on); 0 or -ENOENT. */
int reverse_expose_remove(struct reverse *r, const struct expose_rule *e);
/* A packet from the tunnel addressed to one of the server's own tunnel
 * addresses: the answers to what the reverse direction sent. true when it
 * was taken (r may be NULL: nothing is taken). */
bool reverse_from_tunnel(struct reverse *r, const uint8_t *pkt, size_t len);
void reverse_event(struct reverse *r, struct watch *w, uint32_t events);
/* Timeouts; when it wants to run again (monotonic ms, UINT64_MAX: never). */
uint64_t reverse_tick(struct reverse *r, uint64_t now_ms);
void reverse_free(struct reverse *r);

/* ---- SOCKS5 messages (socks5.c) ---- */

/* RFC 1928 section 6 replies */
enum socks5_reply {
	SOCKS5_OK = 0, SOCKS5_FAILURE = 1, SOCKS5_NOT_ALLOWED = 2, SOCKS5_NET_UNREACH = 3,
	SOCKS5_HOST_UNREACH = 4, SOCKS5_REFUSED = 5, SOCKS5_TTL_EXPIRED = 6,
	SOCKS5_BAD_COMMAND = 7, SOCKS5_BAD_ADDRESS = 8,
};
#define SOCKS5_AUTH_NONE 0x00
#define SOCKS5_AUTH_PASSWORD 0x02
#define SOCKS5_AUTH_UNACCEPTABLE 0xff

struct socks5_request {
	uint8_t cmd;                   /* 1 CONNECT, 2 BIND, 3 UDP ASSOCIATE */
	uint8_t atyp;                  /* 1 IPv4, 3 domain name, 4 IPv6 */
	struct sockaddr_storage addr;  /* atyp 1 and 4 */
	char name[256];                /* atyp 3 */
	uint16_t port;
};

/* Each parser looks at what has arrived (buf, len) and returns the length
 * of a complete message, 0 when more is needed, or -1 when it is invalid. */
/* Greeting: the method chosen (SOCKS5_AUTH_*) in *method. */
int socks5_greeting(const uint8_t *buf, size_t len, bool want_password, uint8_t *method);
/* RFC 1929 request: *ok when user and password match (constant time). */
int socks5_auth(const uint8_t *buf, size_t len, const char *user, const char *password, bool *ok);
/* Request: *reply is SOCKS5_OK, or the reply for a valid message that
 * cannot be served (command or address type not supported). */
int socks5_request(const uint8_t *buf, size_t len, struct socks5_request *req, enum socks5_reply *reply);
/* The reply to a request with the bound address (NULL: 0.0.0.0:0); its
 * length. out has room for 22 bytes. */
size_t socks5_reply(uint8_t *out, enum socks5_reply code, const struct sockaddr_storage *bound);
/* How a failed connect into the tunnel (errno) is reported. */
enum socks5_reply socks5_reply_for(int err);

#endif
