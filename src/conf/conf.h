/* conf.h: weft's configuration files, in the wg-quick format (a superset of
 * the wg(8) setconf format), read with one optional [Weft] section as older
 * weft versions wrote it (weft's settings now live beside the file, in
 * IFACE.weft: see store.h, which is how weft changes a user's file).
 *
 * Reading: conf_load() / conf_parse() fill a struct conf, or fail with
 * -EINVAL and one line "FILE:LINE: what was expected" in the caller's buffer,
 * leaving *out untouched. Writing: conf_write() produces canonical text,
 * conf_save() puts it in a file atomically with mode 0600, and
 * conf_rewrite() changes an existing file's text as little as possible.
 * Parse -> write -> parse gives an equal struct (conf_equal), and
 * write(parse(write(x))) == write(x) byte for byte.
 *
 * Accepted syntax (like wg-quick):
 *   - "[Interface]", "[Peer]", "[Weft]" section headers (case-insensitive);
 *     "Key = Value" lines, keys case-insensitive, whitespace around '='
 *     ignored; '#' starts a comment anywhere on a line (as in wg-quick, so no
 *     value can contain '#'); blank lines; "\r\n" line endings.
 *   - Keyword values (off, auto, true, false) are case-insensitive; the
 *     writer emits them in lower case.
 *   - Every key must be inside a section; exactly one [Interface] (unless
 *     CONF_PARSE_SETCONF); at most one [Weft]; sections in any order.
 *   - Single-valued keys may appear once per section. List keys (Address,
 *     DNS, AllowedIPs, PeerDNS, PeerName, the four hooks) may repeat; values
 *     accumulate in order. No value may be empty.
 *
 * [Interface]
 *   PrivateKey  = base64 key (44 chars)
 *   ListenPort  = 0..65535
 *   FwMark      = 0..4294967295, decimal or 0x-hex, or "off" (= 0)
 *   Address     = ADDRESS[/CIDR], ... (IPv4 or IPv6; CIDR defaults to 32/128)
 *   DNS         = entries, comma-separated: an IP is a server, anything else
 *                 a search domain (as wg-quick decides)
 *   MTU         = 68..65535
 *   Table       = auto | off | 1..4294967295 | NAME (letter first, then
 *                 letters, digits, '_', '-', '.'; up to 63 chars; resolved
 *                 through rt_tables by the caller)
 *   PreUp, PostUp, PreDown, PostDown = shell command, the raw rest of the
 *                 line (trimmed; '%i' left unexpanded)
 *   SaveConfig  = true | false
 * [Peer]
 *   PublicKey   = base64 key (required, unique in the file)
 *   PresharedKey= base64 key
 *   AllowedIPs  = ADDRESS[/CIDR], ...
 *   Endpoint    = HOST:PORT | [IPV6]:PORT   (HOST: IPv4 literal or host
 *                 name; IPv6 may carry a %scope; PORT 1..65535, numeric)
 *   PersistentKeepalive = 0..65535 | off (= 0)
 * [Weft]  (weft's own settings, in files of older weft versions; never
 *          written into configs for others)
 *   PublicIPv4  = IPv4 address peers should use as Endpoint
 *   PublicIPv6  = IPv6 address peers should use as Endpoint
 *   Hostname    = DNS name peers should use as Endpoint
 *   PublicPort  = 1..65535, port for peers' Endpoint when it differs from
 *                 ListenPort (port forwarding, NAT)
 *   PeerDNS     = DNS for generated peer configs, same syntax as DNS
 *   PeerName    = <base64 public key> <name>
 *                 One line per named peer; the key must be a [Peer] in the
 *                 same file. The name is the rest of the line, trimmed:
 *                 1..CONF_NAME_MAX printable ASCII characters (spaces inside
 *                 allowed, no '#'). The writer emits PeerName lines in peer
 *                 order.
 *
 * Canonical output (conf_write):
 *   [Interface] PrivateKey, ListenPort, FwMark, Address, DNS, MTU, Table,
 *               PreUp*, PostUp*, PreDown*, PostDown*, SaveConfig
 *   [Weft]      PublicIPv4, PublicIPv6, Hostname, PublicPort, PeerDNS,
 *               PeerName*   (only with CONF_WRITE_WEFT and when non-empty)
 *   [Peer]...   PublicKey, PresharedKey, AllowedIPs, Endpoint,
 *               PersistentKeepalive   (the order of `wg showconf`)
 *   Sections separated by one blank line. Lists are comma-joined and split
 *   over several lines of the same key when long; DNS/PeerDNS list servers
 *   first, then search domains. FwMark is written in hex,
 *   FwMark 0 and PersistentKeepalive 0 that were set are written as "off".
 *
 * Limits: CONF_MAX_FILE_SIZE, CONF_MAX_LINE, CONF_MAX_PEERS, CONF_MAX_LIST.
 * Parsing is O(size of file); duplicate peers are found with a hash set.
 *
 * Memory: all pointers in a struct conf are owned by it (malloc); change
 * lists and strings only through the helpers below, and release everything
 * with conf_free(), which zeroes every key. Pointers to peers are invalidated
 * by conf_peer_add() and conf_peer_remove(). Not thread-safe per struct.
 */
#ifndef WEFT_CONF_H
#define WEFT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONF_KEY_LEN 32
#define CONF_MAX_FILE_SIZE (256u << 20) /* 1M minimal peers take ~100 MiB */
#define CONF_MAX_LINE 8192              /* bytes in one line, without '\n' */
#define CONF_MAX_PEERS (1u << 20)       /* the Linux module's MAX_PEERS_PER_DEVICE */
#define CONF_MAX_LIST 65536             /* entries in one list (e.g. a peer's AllowedIPs) */
#define CONF_NAME_MAX 64                /* PeerName names, bytes */
#define CONF_HOOK_MAX (CONF_MAX_LINE - 32) /* a hook command, so "PostDown = " fits the line */
#define CONF_HOSTNAME_MAX 253           /* RFC 1035 */
#define CONF_TABLE_NAME_MAX 63
#define CONF_ADDR_STRLEN 46             /* INET6_ADDRSTRLEN */
#define CONF_PREFIX_STRLEN (CONF_ADDR_STRLEN + 4) /* "addr/128" + NUL */
#define CONF_ENDPOINT_STRLEN (CONF_HOSTNAME_MAX + 9) /* "[host]:65535" + NUL */
#define CONF_ERR_LEN 512                /* a comfortable size for error buffers */

/* An IPv4 or IPv6 address. family is AF_INET or AF_INET6; IPv4 uses
 * bytes[0..3], the rest are zero. */
struct conf_addr {
	uint8_t family;
	uint8_t bytes[16];
};

/* ADDRESS/CIDR. Host bits are kept as written (an interface Address needs
 * them; for AllowedIPs the kernel masks them). */
struct conf_prefix {
	struct conf_addr addr;
	uint8_t cidr; /* 0..32 or 0..128 */
};

struct conf_prefix_list { struct conf_prefix *v; uint32_t n, cap; };
struct conf_addr_list   { struct conf_addr *v;   uint32_t n, cap; };
struct conf_str_list    { char **v;              uint32_t n, cap; };

/* DNS = ... : servers and search domains, each in the order written. */
struct conf_dns {
	struct conf_addr_list servers;
	struct conf_str_list search;
};

enum conf_table_kind {
	CONF_TABLE_UNSET = 0, /* no Table line: wg-quick's default, same as auto
			       * except that it is not written back */
	CONF_TABLE_AUTO,
	CONF_TABLE_OFF,
	CONF_TABLE_NUMBER,    /* table.number */
	CONF_TABLE_NAME,      /* table.name */
};

struct conf_table {
	enum conf_table_kind kind;
	uint32_t number;
	char name[CONF_TABLE_NAME_MAX + 1];
};

enum conf_hook { CONF_PRE_UP, CONF_POST_UP, CONF_PRE_DOWN, CONF_POST_DOWN, CONF_HOOKS };

struct conf_interface {
	bool has_private_key;
	uint8_t private_key[CONF_KEY_LEN];
	bool has_listen_port;
	uint16_t listen_port;
	bool has_fwmark;
	uint32_t fwmark;      /* 0 = off */
	struct conf_prefix_list addresses;
	struct conf_dns dns;
	bool has_mtu;
	uint16_t mtu;
	struct conf_table table;
	struct conf_str_list hooks[CONF_HOOKS];
	bool has_save_config;
	bool save_config;
};

struct conf_endpoint {
	char *host;           /* NULL = no endpoint; IPv6 without brackets */
	uint16_t port;
};

struct conf_peer {
	uint8_t public_key[CONF_KEY_LEN];
	uint8_t preshared_key[CONF_KEY_LEN];
	struct conf_prefix_list allowed_ips;
	struct conf_endpoint endpoint;
	char *name;           /* from [Weft] PeerName; NULL = unnamed */
	uint32_t line;        /* line of its [Peer] header; 0 if added in code */
	uint16_t persistent_keepalive; /* 0 = off */
	bool has_preshared_key;
	bool has_persistent_keepalive;
};

struct conf_weft {
	bool has_public_ipv4;
	struct conf_addr public_ipv4;
	bool has_public_ipv6;
	struct conf_addr public_ipv6;
	char *hostname;       /* NULL = unset */
	bool has_public_port;
	uint16_t public_port;
	struct conf_dns peer_dns;
};

struct conf {
	/* An [Interface] header was read. Only the strip writer looks at it (to
	 * keep a header-less setconf file header-less); the wg-quick writer
	 * always writes [Interface], and conf_equal ignores it. */
	bool has_interface;
	struct conf_interface iface;
	struct conf_weft weft;
	struct conf_peer *peers;
	uint32_t n_peers, cap_peers;
};

/* ---- reading ---- */

enum conf_parse_flags {
	/* wg(8) setconf form: only PrivateKey, ListenPort, FwMark and [Peer]
	 * keys; wg-quick keys and [Weft] are errors; [Interface] optional. */
	CONF_PARSE_SETCONF = 1u << 0,
	/* A link file (weft link upgrade): a [Peer] may lack PublicKey, which
	 * is then negotiated; its public_key stays all zero. */
	CONF_PARSE_PEER_KEY_OPTIONAL = 1u << 1,
};

/* Parses len bytes of text (need not be NUL-terminated). name is the file
 * name used in messages. Returns 0 and fills *out (which the caller later
 * conf_free()s), or a negative errno and a message in err (errlen bytes,
 * CONF_ERR_LEN is plenty): -EINVAL for bad input, -ENOMEM. On error *out
 * is not touched. Messages never contain private or preshared keys. */
int conf_parse(struct conf *out, const char *text, size_t len, const char *name,
	       unsigned flags, char *err, size_t errlen);

/* Reads and parses a file (a regular file of at most CONF_MAX_FILE_SIZE,
 * else -EINVAL), naming it path in messages ("/etc/weft/wg0.conf:7: ...").
 * -errno on I/O errors (e.g. -ENOENT), with a message. */
int conf_load(struct conf *out, const char *path, unsigned flags, char *err, size_t errlen);

/* ---- writing ---- */

enum conf_write_flags {
	CONF_WRITE_WEFT = 1u << 0,  /* include [Weft] (weft's own files only) */
	CONF_WRITE_STRIP = 1u << 1, /* wg(8) setconf form, like `wg-quick strip`:
				     * PrivateKey, ListenPort, FwMark + peers;
				     * overrides CONF_WRITE_WEFT */
};

/* Canonical text into a fresh buffer *text (NUL-terminated, *len bytes
 * without the NUL). It holds keys: release it with conf_text_free().
 * Returns 0 or -ENOMEM (or -EINVAL if the struct breaks its invariants,
 * e.g. a cidr out of range). flags: 0 gives a config for others. */
int conf_write(const struct conf *conf, unsigned flags, char **text, size_t *len);
void conf_text_free(char *text, size_t len);

/* conf_write + atomic_file_write(path, mode 0600). A symlink at path is
 * followed (the target is replaced, as wg-quick save does). Returns 0 or
 * -errno with a message in err. On failure the old file is unchanged. */
int conf_save(const struct conf *conf, const char *path, unsigned flags,
	      char *err, size_t errlen);

/* The text a file should get so that it reads as *after, made from its
 * current text old (old_len bytes, which conf_parse read as *before) with
 * the smallest change: comments, blank lines, key order and spelling stay;
 * changed keys are edited in their line, a removed peer goes with the
 * comment block directly above it, a new one is appended; a [Weft]
 * section is dropped (those settings live in IFACE.weft, see store.h).
 * after's [Weft] and peer names are not written. *text as conf_write's
 * (free with conf_text_free). 0, -EINVAL (after breaks the invariants),
 * -ENOMEM. */
int conf_rewrite(const char *old, size_t old_len, const struct conf *before, const struct conf *after,
		 char **text, size_t *len);

/* ---- the struct ---- */

void conf_init(struct conf *conf);    /* all empty: no interface, no peers */
void conf_free(struct conf *conf);    /* zeroes keys, frees, re-inits */
/* A deep copy of src into *dst (initialised by it). 0, -ENOMEM, -EINVAL. */
int conf_copy(struct conf *dst, const struct conf *src);
/* Deep comparison of everything conf_write can express (not peer.line,
 * not has_interface). Private and preshared keys compared in constant time. */
bool conf_equal(const struct conf *a, const struct conf *b);

/* Peers, by public key (linear search; n is small for interactive use). */
struct conf_peer *conf_peer_find(const struct conf *conf, const uint8_t public_key[CONF_KEY_LEN]);
/* Appends an empty peer with this key. *peer (if non-NULL) points at it.
 * -EEXIST if the key is already there, -E2BIG past CONF_MAX_PEERS, -ENOMEM. */
int conf_peer_add(struct conf *conf, const uint8_t public_key[CONF_KEY_LEN],
		  struct conf_peer **peer);
/* Removes (zeroing its keys), keeping the order of the others. -ENOENT. */
int conf_peer_remove(struct conf *conf, const uint8_t public_key[CONF_KEY_LEN]);
/* Makes conf's peers those of n public keys, found at keys, keys + stride,
 * ... (a field of an array of structs): peers with another key are removed
 * (zeroing their keys), the others keep their order and settings, and keys
 * not there yet are appended as empty peers. idx[j] gets the index of key
 * j's peer. O(peers + n) with a hash set (`weft save` with 10,000 peers).
 * 0, -ENOMEM, -E2BIG (then peers may have been removed already). */
int conf_peers_sync(struct conf *conf, const uint8_t *keys, size_t n, size_t stride, uint32_t *idx);

/* List and string helpers: 0, -EINVAL (invalid value, see the syntax above),
 * -E2BIG (past CONF_MAX_LIST) or -ENOMEM. Values are copied. */
int conf_prefix_list_add(struct conf_prefix_list *list, const struct conf_prefix *p);
int conf_addr_list_add(struct conf_addr_list *list, const struct conf_addr *a);
/* For hooks: 1..CONF_HOOK_MAX bytes, no '#', newline or control character,
 * no leading or trailing blank (the parser would trim it). */
int conf_hook_add(struct conf_interface *iface, enum conf_hook hook, const char *command);
/* "1.1.1.1" adds a server, "example.com" a search domain. */
int conf_dns_add(struct conf_dns *dns, const char *entry);
void conf_dns_clear(struct conf_dns *dns);
/* host NULL clears. host as conf_endpoint_parse() accepts (no brackets). */
int conf_peer_set_endpoint(struct conf_peer *peer, const char *host, uint16_t port);
int conf_peer_set_name(struct conf_peer *peer, const char *name);   /* NULL clears */
int conf_weft_set_hostname(struct conf_weft *weft, const char *hostname); /* NULL clears */

/* ---- value syntax, shared with the CLI ---- */

/* Decimal without sign or spaces, at most max: true and *out filled. */
bool conf_parse_uint(const char *s, uint32_t max, uint32_t *out);
/* "10.0.0.1" or "fd00::1": true and *a filled. */
bool conf_addr_parse(struct conf_addr *a, const char *s);
/* "10.0.0.0/24", "fd00::/64", or an address alone (full-length prefix). */
bool conf_prefix_parse(struct conf_prefix *p, const char *s);
void conf_addr_format(char out[CONF_ADDR_STRLEN], const struct conf_addr *a);
void conf_prefix_format(char out[CONF_PREFIX_STRLEN], const struct conf_prefix *p);
/* "host:port", "1.2.3.4:port", "[v6]:port" or "[v6%scope]:port". e->host
 * gets a malloc'd copy without brackets (the old one is not freed); false on
 * bad syntax or no memory, leaving *e unchanged. */
bool conf_endpoint_parse(struct conf_endpoint *e, const char *s);
/* Writes "host:port", bracketing IPv6 (CONF_ENDPOINT_STRLEN bytes hold any
 * endpoint conf_peer_set_endpoint accepts). Returns the length, as snprintf. */
int conf_endpoint_format(char *out, size_t size, const struct conf_endpoint *e);
bool conf_hostname_valid(const char *s);  /* letters, digits, '-', '_', '.'; <= 253 */
bool conf_name_valid(const char *s);      /* a PeerName name, see above */

#endif
