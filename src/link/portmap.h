/* portmap.h: asks the local gateway to forward the WireGuard listen port
 * (UDP) to this machine, by PCP (RFC 6887, portmap_pcp.c), else NAT-PMP
 * (RFC 6886, libnatpmp), else UPnP IGD (libminiupnpc), and keeps the mapping alive: renewed at half its
 * lease, retried with backoff when the gateway says no or is not there,
 * removed on portmap_stop(). The mapped external address:port is one more
 * candidate `weft link` announces.
 *
 * Both libraries block (UPnP discovery waits for SSDP answers, its SOAP
 * calls are HTTP round trips), so the mapping lives in a helper thread; the
 * caller's event loop only polls portmap_fd() and reads the current lease.
 * The decision of when to do what (portmap_next) is a pure function with
 * its own unit test. */
#ifndef WEFT_LINK_PORTMAP_H
#define WEFT_LINK_PORTMAP_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

enum portmap_proto { PORTMAP_NONE = 0, PORTMAP_NATPMP, PORTMAP_UPNP, PORTMAP_PCP };

/* Lease asked for (seconds): two hours (RFC 6886 section 3.3 recommends
 * 7200 s). */
#define PORTMAP_LIFETIME_DEFAULT 7200
/* First retry after a failure, then doubled up to the cap. */
#define PORTMAP_RETRY_MIN_MS (30 * 1000)
#define PORTMAP_RETRY_MAX_MS (30 * 60 * 1000)
/* A permanent UPnP mapping (lease 0) is checked this often. */
#define PORTMAP_PERMANENT_CHECK_MS (60 * 60 * 1000)
/* How long one attempt of one protocol may take, and removal on exit. */
#define PORTMAP_ATTEMPT_MS 3000
#define PORTMAP_REMOVE_MS 2000

/* Text sizes of what UPnP needs to renew and remove a mapping later
 * without discovering the gateway again. */
#define PORTMAP_URL_MAX 256
#define PORTMAP_SERVICE_MAX 128

struct portmap_lease {
	enum portmap_proto proto;     /* PORTMAP_NONE: no mapping */
	struct in_addr external_addr; /* as the gateway reports it */
	uint16_t external_port;
	uint16_t internal_port;
	uint32_t lifetime;            /* seconds granted; 0 = permanent (UPnP) */
	int64_t granted_ms;           /* monotonic time of the grant */
	/* UPnP only: where the mapping was made */
	char control_url[PORTMAP_URL_MAX];
	char service_type[PORTMAP_SERVICE_MAX];
	char internal_client[INET_ADDRSTRLEN];
	/* PCP only: the mapping's nonce (a renewal and the removal repeat it) */
	uint8_t pcp_nonce[12];
};

/* --- the schedule (pure) ------------------------------------------------ */

struct portmap_sched {
	bool mapped;          /* a lease is held */
	int64_t granted_ms;   /* when it was granted */
	uint32_t lifetime;    /* its lifetime, 0 = permanent */
	unsigned failures;    /* attempts failed in a row since the last success */
	int64_t failed_ms;    /* when the last one failed */
};

/* When the next attempt (a first map, a renewal, a retry) is due, in the
 * same clock as the times in s: a renewal at half the lease (RFC 6886
 * section 3.7), a retry PORTMAP_RETRY_MIN_MS after one failure doubling up
 * to PORTMAP_RETRY_MAX_MS, at once when nothing was tried yet. */
int64_t portmap_next(const struct portmap_sched *s);
/* Backoff after n failures in a row (n >= 1). */
int64_t portmap_retry_delay(unsigned failures);
void portmap_sched_success(struct portmap_sched *s, int64_t now_ms, uint32_t lifetime);
void portmap_sched_failure(struct portmap_sched *s, int64_t now_ms);

/* --- the backends (blocking, bounded by timeout_ms) ---------------------- */

/* gateway: NAT-PMP server address (NULL: the default route's gateway).
 * Fills out on success; negative errno: -EOPNOTSUPP no such service,
 * -EPERM the gateway refused, -ETIMEDOUT no answer, -ENOSPC out of
 * resources, -ENETUNREACH no gateway. */
int portmap_natpmp_map(const char *gateway, uint16_t internal_port, uint32_t lifetime,
		       int timeout_ms, struct portmap_lease *out);
int portmap_natpmp_unmap(const char *gateway, const struct portmap_lease *lease, int timeout_ms);

/* PCP (RFC 6887) MAP of a UDP port, with the same conventions as NAT-PMP
 * above; a gateway that speaks only NAT-PMP is -EOPNOTSUPP. The codecs are
 * exposed for the unit test. */
#define PCP_VERSION 2
#define PCP_PORT 5351
#define PCP_OP_MAP 1
#define PCP_NONCE_LEN 12
#define PCP_MAP_LEN 60 /* common header 24 + MAP 36 */
size_t pcp_map_request(uint8_t out[PCP_MAP_LEN], const uint8_t nonce[PCP_NONCE_LEN], struct in_addr client,
		       uint16_t internal_port, uint16_t external_port, uint32_t lifetime);
/* 0 and out's external address, port and lifetime; -EPROTO: not an answer
 * to this request (ignore it); other negative errno: the gateway's no. */
int pcp_map_response(const uint8_t *pkt, size_t len, const uint8_t nonce[PCP_NONCE_LEN], uint16_t internal_port,
		     struct portmap_lease *out);
int portmap_pcp_map(const char *gateway, uint16_t internal_port, uint32_t lifetime, int timeout_ms,
		    struct portmap_lease *out);
int portmap_pcp_unmap(const char *gateway, const struct portmap_lease *lease, int timeout_ms);

/* Discovers an IGD by SSDP (at most timeout_ms) unless lease->control_url
 * names one already (a renewal), then maps the port. */
int portmap_upnp_map(uint16_t internal_port, uint32_t lifetime, int timeout_ms,
		     const char *description, struct portmap_lease *inout);
int portmap_upnp_unmap(const struct portmap_lease *lease);

/* --- the helper thread ---------------------------------------------------- */

struct portmap_config {
	uint16_t internal_port;   /* the WireGuard listen port */
	uint32_t lifetime;        /* 0: PORTMAP_LIFETIME_DEFAULT */
	bool no_pcp, no_natpmp, no_upnp; /* skip a protocol */
	const char *gateway;      /* NAT-PMP server; NULL: default gateway (copied) */
	const char *description;  /* shown in the gateway's list (copied) */
};

struct portmap;

/* Starts the helper thread; NULL with errno set on failure. */
struct portmap *portmap_start(const struct portmap_config *cfg);
/* Readable (eventfd) when the lease changed; portmap_get() drains it. */
int portmap_fd(const struct portmap *pm);
/* The current lease (proto PORTMAP_NONE when there is none); true if it
 * changed since the last call. */
bool portmap_get(struct portmap *pm, struct portmap_lease *out);
/* Attempts so far and failures among them, for `weft link status`. */
void portmap_counters(struct portmap *pm, uint64_t *attempts, uint64_t *failures);
/* Removes the mapping (bounded by PORTMAP_REMOVE_MS), ends the thread and
 * frees pm. NULL is fine. */
void portmap_stop(struct portmap *pm);

const char *portmap_proto_name(enum portmap_proto proto);

/* Which protocols to try, as `weft link --portmap` takes them: a comma
 * list of pcp, nat-pmp and upnp, or none. */
enum { PORTMAP_USE_PCP = 1u << 0, PORTMAP_USE_NATPMP = 1u << 1, PORTMAP_USE_UPNP = 1u << 2 };
#define PORTMAP_USE_ALL (PORTMAP_USE_PCP | PORTMAP_USE_NATPMP | PORTMAP_USE_UPNP)
/* 0 and *use, or -EINVAL naming nothing known. */
int portmap_parse_use(const char *list, unsigned *use);

#endif
