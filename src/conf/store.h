/* store.h: the peer store of one interface - its wg-quick file IFACE.conf
 * (what wg-quick and `weft up` read: the interface and its enabled peers)
 * and weft's file beside it, IFACE.weft (weftfile.h: settings and one
 * record per peer, including disabled peers, which are not in IFACE.conf).
 * Used by every `weft` command that changes peers and by long-running
 * servers: it prints nothing and never exits; every function returns 0 or a
 * negative errno, with one line in err where it takes one.
 *
 * The store changes no policy: it picks no addresses and makes no keys;
 * callers bring them. Private keys weft generates for peers are not its
 * business either (they live in IFACE.peers/, see keys_dir).
 *
 * Consistency between the two files, whatever a crash leaves: a peer in
 * IFACE.conf is enabled (what wg-quick would bring up wins); a disabled
 * record is a disabled peer; an enabled record whose peer is not in
 * IFACE.conf is forgotten (the file was edited by hand, or a remove was cut
 * short). store_save writes the two files in the order that makes a crash
 * between them land on the state before or after the change.
 *
 * Migration: an IFACE.conf with a [Weft] section (weft's older format) is
 * read as before, and on the next store_save its settings and PeerName
 * lines move to IFACE.weft and IFACE.conf loses exactly those lines.
 *
 * Every rewrite of IFACE.conf keeps the user's comments, blank lines, key
 * order and spelling (conf_rewrite). Saving is durable (both temp files
 * written and fsynced, renamed in the crash order, one directory fsync:
 * atomic_file_stage) and other weft processes are kept out by a lock
 * on the config directory (STORE_LOCK), the same lock `weft` has always
 * taken there.
 *
 * A long-running server opens, changes, saves and closes the store for each
 * change, as the CLI does: the lock is held from store_open to store_close,
 * and what other processes wrote in between is read afresh.
 *
 * Cost: open and save are O(size of the files); lookups by key are O(1),
 * by name O(peers); store_open_peer parses one peer after one scan of
 * each file. Not thread-safe per struct. */
#ifndef WEFT_CONF_STORE_H
#define WEFT_CONF_STORE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "conf/weftfile.h"

#define STORE_CONF_SUFFIX ".conf"
#define STORE_WEFT_SUFFIX ".weft"
#define STORE_KEYS_SUFFIX ".peers"
#define STORE_NAME_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.@"

struct store {
	char conf_path[PATH_MAX];
	char weft_path[PATH_MAX];
	char keys_dir[PATH_MAX];  /* IFACE.peers: private keys weft generated */
	int lock;                 /* directory lock, -1 when not held */
	bool conf_exists;
	/* What IFACE.conf holds now (enabled peers), and conf.weft the
	 * interface's settings for IFACE.weft; change them freely between
	 * open and save (peers through the functions below). */
	struct conf conf;
	/* One record per peer, enabled or disabled; the index below finds
	 * them by key. Change records through the functions below; a pointer
	 * to a record dies when a record is added (store_record may add one)
	 * or removed. */
	struct weft_file w;
	/* Internal: the files as read, the base of a minimal rewrite. */
	char *text;
	size_t text_len;
	struct conf before;
	char *weft_text;
	size_t weft_text_len;
	bool conf_first;          /* the next save writes IFACE.conf first */
	bool read_only;           /* STORE_READ_ONLY: no rewrite base kept */
	void *index;
};

enum store_flags {
	STORE_LOCK = 1u << 0,     /* take the directory lock (for changes) */
	STORE_CREATE = 1u << 1,   /* no IFACE.conf yet is an empty one */
	/* for commands that only read (`peer config`, `peer list`): the files
	 * are parsed once and not kept as the base of a rewrite, and
	 * store_save fails with -EROFS */
	STORE_READ_ONLY = 1u << 2,
};

/* Opens the store of the wg-quick file conf_path (IFACE.weft and
 * IFACE.peers are beside it). -ENOENT (without STORE_CREATE) when there is
 * no IFACE.conf; -EINVAL for a bad file, naming FILE:LINE in err. */
int store_open(struct store *s, const char *conf_path, unsigned flags, char *err, size_t errlen);
/* A read-only open (STORE_READ_ONLY, no lock) that holds the interface,
 * its settings and only the peer which (a name or a base64 public key):
 * each file is scanned once and only those sections are parsed, so other
 * peers are neither read nor checked. Lookups of other peers find
 * nothing. Where that cannot be exact (an older file with [Weft] in
 * IFACE.conf, a name or key on two peers) both files are read whole.
 * Errors as store_open. */
int store_open_peer(struct store *s, const char *conf_path, const char *which, char *err, size_t errlen);
/* Writes what changed, durably, keeping the lock. */
int store_save(struct store *s, char *err, size_t errlen);
/* Frees everything (keys wiped) and drops the lock. Safe after a failed
 * store_open and on a zeroed struct. */
void store_close(struct store *s);

/* What IFACE.conf should hold from now on (`weft save` builds it from the
 * running device): *c is moved into the store (and left empty); its [Weft]
 * and peer names are ignored. Records follow the rules of store_open: a
 * peer of c is enabled, an enabled record without a peer in c goes. */
int store_replace_conf(struct store *s, struct conf *c);

/* ---- peers ---- */

/* The record of key: NULL when the peer is unknown. A peer of IFACE.conf
 * that has no record yet (added by hand) gets an empty one here, so the
 * result can be changed; -ENOMEM gives NULL too (store_record_err). */
struct peer_record *store_record(struct store *s, const uint8_t key[CONF_KEY_LEN]);
/* The record named name, or NULL. */
struct peer_record *store_record_by_name(struct store *s, const char *name);
/* NAME or base64 KEY of a known peer into key: 0, -ENOENT. */
int store_lookup(struct store *s, const char *which, uint8_t key[CONF_KEY_LEN]);
/* The peer's [Peer] in IFACE.conf (enabled), or NULL. */
struct conf_peer *store_conf_peer(struct store *s, const uint8_t key[CONF_KEY_LEN]);

/* Adds an enabled peer: a copy of peer goes into IFACE.conf, and a record
 * (enabled, everything else zero; fill it through *rec) is made.
 * -EEXIST (key known), -ENOMEM, -E2BIG. */
int store_peer_add(struct store *s, const struct conf_peer *peer, struct peer_record **rec);
/* Removes the peer and its record. -ENOENT. */
int store_peer_remove(struct store *s, const uint8_t key[CONF_KEY_LEN]);
/* Takes the peer out of IFACE.conf and keeps its [Peer] in the record, so
 * its addresses stay reserved. -ENOENT, -EALREADY (disabled already). */
int store_peer_disable(struct store *s, const uint8_t key[CONF_KEY_LEN]);
/* The same for many peers at once, in one pass over IFACE.conf's peers
 * (`peer expire`); keys of peers disabled already are skipped. -ENOENT
 * (a key unknown: nothing changed), -ENOMEM. */
int store_peers_disable(struct store *s, const uint8_t (*keys)[CONF_KEY_LEN], size_t n);
/* Puts a disabled peer back into IFACE.conf. -ENOENT, -EALREADY. */
int store_peer_enable(struct store *s, const uint8_t key[CONF_KEY_LEN]);
/* New name for the peer (NULL clears). -ENOENT, -EINVAL (not a valid
 * name), -EEXIST (another peer has it). */
int store_peer_rename(struct store *s, const uint8_t key[CONF_KEY_LEN], const char *name);
/* The [Peer] of a peer, enabled or not: its entry in IFACE.conf, or what
 * its disabled record holds. NULL when unknown. */
const struct conf_peer *store_peer_settings(struct store *s, const uint8_t key[CONF_KEY_LEN]);

/* Names of new peers: 1..CONF_NAME_MAX of letters, digits and "-_.@". */
bool store_name_valid(const char *name);

/* The lock store_open takes: an fd on conf_path's directory (created 0700
 * when missing), flock'ed; close it to unlock. -errno. */
int store_lock_dir(const char *conf_path);

#endif
