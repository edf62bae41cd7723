/* store.c: one interface's peer store, IFACE.conf + IFACE.weft (store.h):
 * loading and reconciling the two files, the lock, peer changes that keep
 * the two in step, and durable saving in a crash-safe order. */
#include "conf/store.h"

#include "conf/conf_internal.h"
#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/encoding.h"
#include "util/fd_io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DIR_MODE 0700
#define FILE_MODE 0600

/* Hash sets over the records and over IFACE.conf's peers: the parsers'
 * own, handed over on open; each is rebuilt whenever its array loses an
 * element, and the second lazily. */
struct index {
	struct conf_keyset recs;
	struct conf_keyset peers;
	bool peers_valid;
};

static struct index *idx(struct store *s)
{
	return s->index;
}

bool store_name_valid(const char *name)
{
	size_t n = strlen(name);

	return n >= 1 && n <= CONF_NAME_MAX && strspn(name, STORE_NAME_CHARS) == n;
}

int store_lock_dir(const char *conf_path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(conf_path, '/');
	size_t len = slash ? (size_t)(slash - conf_path) : 0;
	int fd;

	if (len >= sizeof(dir))
		return -ENAMETOOLONG;
	if (slash && !len)
		len = 1; /* "/x.conf" */
	memcpy(dir, slash ? conf_path : ".", slash ? len : 1);
	dir[slash ? len : 1] = '\0';
	if (mkdir(dir, DIR_MODE) < 0 && errno != EEXIST)
		return -errno;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			int ret = -errno;
			close(fd);
			return ret;
		}
	}
	return fd;
}

/* conf_path with its ".conf" replaced by suffix. */
static bool sibling(char out[PATH_MAX], const char *conf_path, const char *suffix)
{
	size_t len = strlen(conf_path), ext = strlen(STORE_CONF_SUFFIX);

	if (len > ext && !strcmp(conf_path + len - ext, STORE_CONF_SUFFIX))
		len -= ext;
	return (size_t)snprintf(out, PATH_MAX, "%.*s%s", (int)len, conf_path, suffix) < PATH_MAX;
}

static int read_text(const char *path, char **text, size_t *len)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size > CONF_MAX_FILE_SIZE) {
		close(fd);
		return -EINVAL;
	}
	ret = fd_read_sized(fd, (size_t)st.st_size, text, len);
	close(fd);
	return ret == -E2BIG ? -EINVAL : ret;
}

/* ---- indices ---- */

static int index_records(struct store *s)
{
	struct index *ix = idx(s);
	uint32_t dup;
	int ret;

	conf_keyset_free(&ix->recs);
	ret = conf_keyset_init_stride(&ix->recs, sizeof(struct peer_record));
	for (uint32_t i = 0; !ret && i < s->w.n; i++)
		ret = conf_keyset_insert(&ix->recs, s->w.recs, i, &dup);
	return ret;
}

static int index_peers(struct store *s)
{
	struct index *ix = idx(s);
	uint32_t dup;
	int ret;

	if (ix->peers_valid)
		return 0;
	conf_keyset_free(&ix->peers);
	ret = conf_keyset_init(&ix->peers);
	for (uint32_t i = 0; !ret && i < s->conf.n_peers; i++)
		ret = conf_keyset_insert(&ix->peers, s->conf.peers, i, &dup);
	ix->peers_valid = !ret;
	return ret;
}

static struct peer_record *find_record(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	uint32_t i;

	return conf_keyset_find(&idx(s)->recs, s->w.recs, key, &i) ? &s->w.recs[i] : NULL;
}

struct conf_peer *store_conf_peer(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	uint32_t i;

	if (index_peers(s))
		return conf_peer_find(&s->conf, key); /* no memory for the index: slowly */
	return conf_keyset_find(&idx(s)->peers, s->conf.peers, key, &i) ? &s->conf.peers[i] : NULL;
}

static int add_record(struct store *s, const uint8_t key[CONF_KEY_LEN], struct peer_record **rec)
{
	uint32_t dup;
	int ret = weftfile_append(&s->w, key, rec);

	if (!ret) {
		ret = conf_keyset_insert(&idx(s)->recs, s->w.recs, s->w.n - 1, &dup);
		if (ret) {
			peer_record_free(&s->w.recs[--s->w.n]);
			if (rec)
				*rec = NULL;
		}
	}
	return ret;
}

static int drop_record(struct store *s, struct peer_record *r)
{
	uint32_t i = (uint32_t)(r - s->w.recs);

	peer_record_free(r);
	memmove(&s->w.recs[i], &s->w.recs[i + 1], (size_t)(s->w.n - i - 1) * sizeof(*r));
	s->w.n--;
	memset(&s->w.recs[s->w.n], 0, sizeof(*r));
	return index_records(s);
}

static void peer_drop(struct conf_peer *p)
{
	memzero(p->preshared_key, sizeof(p->preshared_key));
	free(p->allowed_ips.v);
	free(p->endpoint.host);
	free(p->name);
	memset(p, 0, sizeof(*p));
}

/* A record's held [Peer] emptied (back to just its key). */
static void peer_drop_held(struct peer_record *r)
{
	peer_drop(&r->held);
	memcpy(r->held.public_key, r->public_key, CONF_KEY_LEN);
}

/* ---- open ---- */

static bool legacy_weft(const struct conf *c)
{
	const struct conf_weft *w = &c->weft;

	if (w->has_public_ipv4 || w->has_public_ipv6 || w->hostname || w->has_public_port ||
	    w->peer_dns.servers.n || w->peer_dns.search.n)
		return true;
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (c->peers[i].name)
			return true;
	return false;
}

/* The files agree, whatever a crash or a hand edit left: a peer in
 * IFACE.conf is enabled (what wg-quick would bring up wins), an enabled
 * record without its peer is forgotten. Indexes the peers first. */
static int agree_files(struct store *s)
{
	int ret = index_peers(s);

	for (uint32_t i = 0; !ret && i < s->w.n;) {
		struct peer_record *r = &s->w.recs[i];
		bool in_conf = store_conf_peer(s, r->public_key) != NULL;

		if (!in_conf && r->enabled) {
			ret = drop_record(s, r);
			continue;
		}
		if (in_conf && !r->enabled) {
			peer_drop_held(r);
			r->enabled = true;
		}
		i++;
	}
	return ret;
}

/* The two files agree (see store.h); older [Weft] data moves to records. */
static int reconcile(struct store *s, bool have_weft)
{
	/* the records' parser handed its key set over, unless there was none */
	int ret = idx(s)->recs.slots ? 0 : index_records(s);

	if (ret)
		return ret;
	if (!have_weft && legacy_weft(&s->conf)) {
		s->w.settings = s->conf.weft; /* moved below */
		memset(&s->conf.weft, 0, sizeof(s->conf.weft));
		for (uint32_t i = 0; i < s->conf.n_peers; i++) {
			struct conf_peer *p = &s->conf.peers[i];
			struct peer_record *r;

			if (!p->name)
				continue;
			ret = add_record(s, p->public_key, &r);
			if (ret)
				return ret;
			r->name = p->name;
			p->name = NULL;
		}
	}
	for (uint32_t i = 0; i < s->conf.n_peers; i++) {
		free(s->conf.peers[i].name);
		s->conf.peers[i].name = NULL;
	}
	/* the settings live in conf.weft while open */
	free(s->conf.weft.hostname);
	conf_dns_clear(&s->conf.weft.peer_dns);
	s->conf.weft = s->w.settings;
	memset(&s->w.settings, 0, sizeof(s->w.settings));

	return agree_files(s);
}

/* ---- one peer, for `peer config` ---- */

#define NARROW_MAX_SPANS 8 /* sections kept: [Weft] or [Interface], and the peer's */

enum narrow_sec { N_OTHER, N_INTERFACE, N_PEER, N_WEFT };

/* One line of text at pos as the parsers see it: without its ending and
 * comment, trimmed; a header's section, or a key and its value. Returns
 * where the next line starts. */
struct narrow_line {
	const char *s, *key, *val;
	size_t n, key_n, val_n;
	int header; /* enum narrow_sec of a header line, -1 otherwise */
};

static size_t narrow_next(const char *t, size_t len, size_t pos, struct narrow_line *l)
{
	const char *s = t + pos, *nl = memchr(s, '\n', len - pos);
	size_t n = nl ? (size_t)(nl - s) : len - pos, next = pos + n + (nl ? 1 : 0);
	const char *hash = memchr(s, '#', n), *eq;

	if (hash)
		n = (size_t)(hash - s);
	while (n && (conf_blank(*s) || s[n - 1] == '\r' || conf_blank(s[n - 1]))) {
		if (conf_blank(*s)) {
			s++;
			n--;
		} else {
			n--;
		}
	}
	memset(l, 0, sizeof(*l));
	l->s = s;
	l->n = n;
	l->header = -1;
	if (n && *s == '[') {
		l->header = n >= 2 && s[n - 1] == ']' ? (conf_word_eq_n(s + 1, n - 2, "Interface") ? N_INTERFACE :
			    conf_word_eq_n(s + 1, n - 2, "Peer") ? N_PEER : conf_word_eq_n(s + 1, n - 2, "Weft") ? N_WEFT : N_OTHER) :
			    N_OTHER;
	} else if (n && (eq = memchr(s, '=', n))) {
		l->key = s;
		l->key_n = (size_t)(eq - s);
		while (l->key_n && conf_blank(s[l->key_n - 1]))
			l->key_n--;
		l->val = eq + 1;
		l->val_n = n - (size_t)(l->val - s);
		while (l->val_n && conf_blank(*l->val)) {
			l->val++;
			l->val_n--;
		}
	}
	return next;
}

struct narrow {
	size_t spans[NARROW_MAX_SPANS][2];
	unsigned n_spans;
	unsigned matches;     /* [Peer] sections that matched */
	char key[WEFT_KEY_B64_LEN + 1]; /* the peer's PublicKey as written */
	bool legacy;          /* a [Weft] in IFACE.conf */
};

/* Which sections of text to keep: everything before the first header, the
 * sections of kind keep_kind, and the [Peer]s that have PublicKey = key or
 * (name) Name = name. false when there are too many to keep. */
static bool narrow_scan(const char *t, size_t len, int keep_kind, const char *name, struct narrow *nr)
{
	size_t pos = 0, sec_start = 0, name_n = name ? strlen(name) : 0;
	int kind = N_OTHER;
	bool keep = true, key_seen = false;
	char key[WEFT_KEY_B64_LEN + 1] = "";

	for (;;) {
		struct narrow_line l;
		size_t next = pos < len ? narrow_next(t, len, pos, &l) : len;

		if (pos >= len || l.header >= 0) {
			/* the section before ends here */
			if (keep && pos > sec_start) {
				if (nr->n_spans == NARROW_MAX_SPANS)
					return false;
				nr->spans[nr->n_spans][0] = sec_start;
				nr->spans[nr->n_spans++][1] = pos;
				if (kind == N_PEER) {
					nr->matches++;
					if (key_seen)
						memcpy(nr->key, key, sizeof(key));
				}
			}
			if (pos >= len)
				return true;
			kind = l.header;
			sec_start = pos;
			/* unknown headers stay, so that the parser reports them */
			keep = kind == keep_kind || kind == N_WEFT || kind == N_OTHER;
			nr->legacy |= kind == N_WEFT && keep_kind == N_INTERFACE;
			key_seen = false;
		} else if (kind == N_PEER && l.key) {
			if (conf_word_eq_n(l.key, l.key_n, "PublicKey") && l.val_n == WEFT_KEY_B64_LEN) {
				memcpy(key, l.val, WEFT_KEY_B64_LEN);
				key[WEFT_KEY_B64_LEN] = '\0';
				key_seen = true;
				if (nr->key[0] && !memcmp(key, nr->key, WEFT_KEY_B64_LEN))
					keep = true;
			} else if (name && conf_word_eq_n(l.key, l.key_n, "Name") && l.val_n == name_n &&
				   !memcmp(l.val, name, name_n)) {
				keep = true;
			}
		}
		pos = next;
	}
}

/* text with every line outside the kept spans emptied: the parsers see
 * the same line numbers, and only the kept sections' values. */
static char *narrow_text(const char *t, size_t len, const struct narrow *nr, size_t *out_len)
{
	char *o = malloc(len + 1);
	size_t pos = 0, n = 0;

	if (!o)
		return NULL;
	for (unsigned i = 0; i <= nr->n_spans; i++) {
		size_t until = i < nr->n_spans ? nr->spans[i][0] : len;

		for (; pos < until; pos++)
			if (t[pos] == '\n')
				o[n++] = '\n';
		if (i < nr->n_spans) {
			memcpy(o + n, t + pos, nr->spans[i][1] - pos);
			n += nr->spans[i][1] - pos;
			pos = nr->spans[i][1];
		}
	}
	o[n] = '\0';
	*out_len = n;
	return o;
}

/* Narrows s->text and s->weft_text (read already) to the interface, the
 * settings and the peer which. Nothing changes when that cannot be done
 * exactly (a [Weft] in IFACE.conf, a name or key on several peers): the
 * caller then parses the files whole. */
static int narrow(struct store *s, const char *which)
{
	struct narrow w = { 0 }, c = { 0 };
	uint8_t k[CONF_KEY_LEN];
	char *nc = NULL, *nw = NULL;
	size_t nc_len = 0, nw_len = 0;

	if (key_from_base64(k, which))
		key_to_base64(w.key, k);
	if (s->weft_text && (!narrow_scan(s->weft_text, s->weft_text_len, N_WEFT, which, &w) || w.matches > 1))
		return 0;
	memcpy(c.key, w.key, sizeof(c.key));
	if (!narrow_scan(s->text, s->text_len, N_INTERFACE, NULL, &c) || c.legacy || c.matches > 1)
		return 0;
	nc = narrow_text(s->text, s->text_len, &c, &nc_len);
	nw = s->weft_text ? narrow_text(s->weft_text, s->weft_text_len, &w, &nw_len) : NULL;
	if (!nc || (s->weft_text && !nw)) {
		free(nc);
		free(nw);
		return -ENOMEM;
	}
	conf_text_free(s->text, s->text_len);
	s->text = nc;
	s->text_len = nc_len;
	if (nw) {
		conf_text_free(s->weft_text, s->weft_text_len);
		s->weft_text = nw;
		s->weft_text_len = nw_len;
	}
	return 0;
}

static int open_store(struct store *s, const char *conf_path, unsigned flags, const char *which,
		      char *err, size_t errlen);

int store_open(struct store *s, const char *conf_path, unsigned flags, char *err, size_t errlen)
{
	return open_store(s, conf_path, flags, NULL, err, errlen);
}

int store_open_peer(struct store *s, const char *conf_path, const char *which, char *err, size_t errlen)
{
	return open_store(s, conf_path, STORE_READ_ONLY, which, err, errlen);
}

static int open_store(struct store *s, const char *conf_path, unsigned flags, const char *which,
		      char *err, size_t errlen)
{
	bool have_weft = false, weft_read = false;
	int ret;

	memset(s, 0, sizeof(*s));
	s->lock = -1;
	s->read_only = flags & STORE_READ_ONLY;
	conf_init(&s->conf);
	conf_init(&s->before);
	weftfile_init(&s->w);
	if (errlen)
		err[0] = '\0';
	s->index = calloc(1, sizeof(struct index));
	if (!s->index) {
		snprintf(err, errlen, "%s: out of memory", conf_path);
		return -ENOMEM;
	}
	if ((size_t)snprintf(s->conf_path, sizeof(s->conf_path), "%s", conf_path) >= sizeof(s->conf_path) ||
	    !sibling(s->weft_path, conf_path, STORE_WEFT_SUFFIX) ||
	    !sibling(s->keys_dir, conf_path, STORE_KEYS_SUFFIX)) {
		snprintf(err, errlen, "%.200s: path too long", conf_path);
		return -ENAMETOOLONG;
	}
	if (flags & STORE_LOCK) {
		s->lock = store_lock_dir(conf_path);
		if (s->lock < 0) {
			ret = s->lock;
			snprintf(err, errlen, "%s: cannot lock its directory: %s", conf_path, strerror(-ret));
			return ret;
		}
	}
	ret = read_text(conf_path, &s->text, &s->text_len);
	if (ret == -ENOENT && (flags & STORE_CREATE)) {
		s->conf.has_interface = true;
	} else if (ret < 0) {
		if (ret == -EINVAL)
			snprintf(err, errlen, "%s: not a regular file of at most %u bytes", conf_path,
				 (unsigned)CONF_MAX_FILE_SIZE);
		else
			snprintf(err, errlen, "%s: cannot read: %s", conf_path, strerror(-ret));
		return ret;
	} else {
		s->conf_exists = true;
		if (which) {
			/* the peer's sections only: IFACE.weft is needed first,
			 * to find the key of a name */
			ret = read_text(s->weft_path, &s->weft_text, &s->weft_text_len);
			if (ret && ret != -ENOENT) {
				snprintf(err, errlen, "%s: cannot read: %s", s->weft_path, strerror(-ret));
				return ret;
			}
			weft_read = true;
			have_weft = !ret;
			if ((ret = narrow(s, which))) {
				snprintf(err, errlen, "%s: out of memory", conf_path);
				return ret;
			}
		}
		if (flags & STORE_READ_ONLY) {
			/* no rewrite will follow: neither the text nor a copy
			 * of what it said is kept */
			ret = conf_parse_keyed(&s->conf, &idx(s)->peers, s->text, s->text_len, conf_path, 0,
					       err, errlen);
			conf_text_free(s->text, s->text_len);
			s->text = NULL;
			s->text_len = 0;
		} else {
			/* the parser's key set indexes the copy too (same order) */
			ret = conf_parse_keyed(&s->before, &idx(s)->peers, s->text, s->text_len, conf_path, 0,
					       err, errlen);
			if (!ret && (ret = conf_copy(&s->conf, &s->before)))
				snprintf(err, errlen, "%s: out of memory", conf_path);
		}
		if (ret)
			return ret;
		idx(s)->peers_valid = true;
	}
	ret = weft_read ? (have_weft ? 0 : -ENOENT) : read_text(s->weft_path, &s->weft_text, &s->weft_text_len);
	if (ret == 0) {
		have_weft = true;
		ret = weftfile_parse_keyed(&s->w, &idx(s)->recs, s->weft_text, s->weft_text_len, s->weft_path,
					   err, errlen);
		if (flags & STORE_READ_ONLY) {
			conf_text_free(s->weft_text, s->weft_text_len);
			s->weft_text = NULL;
			s->weft_text_len = 0;
		}
		if (ret)
			return ret;
	} else if (ret != -ENOENT) {
		snprintf(err, errlen, "%s: cannot read: %s", s->weft_path, strerror(-ret));
		return ret;
	}
	ret = reconcile(s, have_weft);
	if (ret)
		snprintf(err, errlen, "%s: %s", conf_path, strerror(-ret));
	return ret;
}

void store_close(struct store *s)
{
	struct index *ix = s->index;

	if (!ix) {
		/* never opened (a zeroed struct's lock 0 is not ours) */
		memset(s, 0, sizeof(*s));
		s->lock = -1;
		return;
	}
	{
		conf_keyset_free(&ix->recs);
		conf_keyset_free(&ix->peers);
		free(ix);
	}
	conf_free(&s->conf);
	conf_free(&s->before);
	weftfile_free(&s->w);
	conf_text_free(s->text, s->text_len);
	conf_text_free(s->weft_text, s->weft_text_len);
	if (s->lock >= 0)
		close(s->lock);
	memset(s, 0, sizeof(*s));
	s->lock = -1;
}

int store_replace_conf(struct store *s, struct conf *c)
{
	struct conf_weft settings = s->conf.weft;

	memset(&s->conf.weft, 0, sizeof(s->conf.weft));
	conf_free(&s->conf);
	s->conf = *c;
	conf_init(c);
	free(s->conf.weft.hostname);
	conf_dns_clear(&s->conf.weft.peer_dns);
	s->conf.weft = settings;
	for (uint32_t i = 0; i < s->conf.n_peers; i++) {
		free(s->conf.peers[i].name);
		s->conf.peers[i].name = NULL;
	}
	idx(s)->peers_valid = false;
	s->conf_first = true;
	return agree_files(s); /* the same rules as for files read from disk */
}

/* ---- save ---- */

static bool same(const char *a, size_t alen, const char *b, size_t blen)
{
	return a && alen == blen && memeq_ct(a, b, alen);
}

/* One file's new text, staged (written and fsynced under a temporary
 * name) when it differs from what the file holds. */
struct staged {
	char *text;
	size_t len;
	struct atomic_file af;
	struct conf reread;       /* IFACE.conf: what the new text reads as */
	bool changed, committed;
};

/* The length of path's directory part ("" for a bare name). */
static size_t dir_len(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? (size_t)(slash - path) : 0;
}

static void staged_free(struct staged *st)
{
	atomic_file_abort(&st->af);
	conf_free(&st->reread);
	if (st->text)
		conf_text_free(st->text, st->len);
	memset(st, 0, sizeof(*st));
}

static int stage_conf(struct store *s, struct staged *st, char *err, size_t errlen)
{
	int ret;

	ret = s->conf_exists ? conf_rewrite(s->text, s->text_len, &s->before, &s->conf, &st->text, &st->len)
			     : conf_write(&s->conf, 0, &st->text, &st->len);
	if (ret) {
		snprintf(err, errlen, "%s: %s", s->conf_path,
			 ret == -ENOMEM ? "out of memory" : "the configuration holds invalid values");
		return ret;
	}
	if (s->conf_exists && same(s->text, s->text_len, st->text, st->len))
		return 0;
	/* what the file will say (the rewrite reads back as s->conf), so the
	 * next save in this process diffs against it; copied now, so that no
	 * memory is needed once the file is replaced */
	ret = conf_copy(&st->reread, &s->conf);
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", s->conf_path);
		return ret;
	}
	ret = atomic_file_stage(&st->af, s->conf_path, st->text, st->len, FILE_MODE);
	if (ret)
		snprintf(err, errlen, "%s: cannot write: %s", s->conf_path, strerror(-ret));
	st->changed = !ret;
	return ret;
}

static int stage_weft(struct store *s, struct staged *st, char *err, size_t errlen)
{
	int ret;

	s->w.settings = s->conf.weft; /* borrowed for the writer */
	ret = weftfile_write(&s->w, &st->text, &st->len);
	memset(&s->w.settings, 0, sizeof(s->w.settings));
	if (ret) {
		snprintf(err, errlen, "%s: out of memory", s->weft_path);
		return ret;
	}
	if (same(s->weft_text, s->weft_text_len, st->text, st->len))
		return 0;
	ret = atomic_file_stage(&st->af, s->weft_path, st->text, st->len, FILE_MODE);
	if (ret)
		snprintf(err, errlen, "%s: cannot write: %s", s->weft_path, strerror(-ret));
	st->changed = !ret;
	return ret;
}

static int commit(struct staged *st, const char *path, char *err, size_t errlen)
{
	int ret = st->changed ? atomic_file_commit(&st->af) : 0;

	if (ret)
		snprintf(err, errlen, "%s: cannot write: %s", path, strerror(-ret));
	st->committed = st->changed && !ret;
	return ret;
}

/* IFACE.conf as written is the base of the next rewrite in this process. */
static void conf_written(struct store *s, struct staged *st)
{
	conf_free(&s->before);
	s->before = st->reread;
	conf_init(&st->reread);
	conf_text_free(s->text, s->text_len);
	s->text = st->text;
	s->text_len = st->len;
	st->text = NULL;
	s->conf_exists = true;
}

int store_save(struct store *s, char *err, size_t errlen)
{
	struct staged c = { 0 }, w = { 0 };
	bool same_dir;
	int ret;

	if (errlen)
		err[0] = '\0';
	if (s->read_only) {
		snprintf(err, errlen, "%s: opened to read only", s->conf_path);
		return -EROFS;
	}
	/* Both files are staged (written and fsynced) before either replaces
	 * the old one, then renamed in this order. Removing or enabling a
	 * peer: IFACE.conf first (a crash between leaves an enabled record
	 * without its peer, which is forgotten, or a peer in IFACE.conf, which
	 * is enabled). Adding or disabling: IFACE.weft first (the record alone
	 * is forgotten; the peer stays enabled). */
	ret = stage_conf(s, &c, err, errlen);
	if (!ret)
		ret = stage_weft(s, &w, err, errlen);
	if (!ret && s->conf_first) {
		ret = commit(&c, s->conf_path, err, errlen);
		if (!ret)
			ret = commit(&w, s->weft_path, err, errlen);
	} else if (!ret) {
		ret = commit(&w, s->weft_path, err, errlen);
		if (!ret)
			ret = commit(&c, s->conf_path, err, errlen);
	}
	/* One directory fsync makes both renames durable (the files are
	 * beside each other unless IFACE.conf is a link elsewhere). A
	 * failing one only weakens durability across a crash. */
	same_dir = c.committed && w.committed && dir_len(c.af.target) == dir_len(w.af.target) &&
		   !memcmp(c.af.target, w.af.target, dir_len(c.af.target));
	if (c.committed)
		atomic_file_sync_dir(&c.af);
	if (w.committed && !same_dir)
		atomic_file_sync_dir(&w.af);
	/* what is on disk now is the base of the next save */
	if (c.committed)
		conf_written(s, &c);
	if (w.committed) {
		conf_text_free(s->weft_text, s->weft_text_len);
		s->weft_text = w.text;
		s->weft_text_len = w.len;
		w.text = NULL;
	}
	staged_free(&c);
	staged_free(&w);
	if (!ret)
		s->conf_first = false;
	return ret;
}

/* ---- peers ---- */

struct peer_record *store_record(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	struct peer_record *r = find_record(s, key);

	if (!r && store_conf_peer(s, key) && add_record(s, key, &r))
		return NULL;
	return r;
}

struct peer_record *store_record_by_name(struct store *s, const char *name)
{
	for (uint32_t i = 0; i < s->w.n; i++)
		if (s->w.recs[i].name && !strcmp(s->w.recs[i].name, name))
			return &s->w.recs[i];
	return NULL;
}

int store_lookup(struct store *s, const char *which, uint8_t key[CONF_KEY_LEN])
{
	struct peer_record *r = store_record_by_name(s, which);

	if (r) {
		memcpy(key, r->public_key, CONF_KEY_LEN);
		return 0;
	}
	if (key_from_base64(key, which) && (find_record(s, key) || store_conf_peer(s, key)))
		return 0;
	return -ENOENT;
}

const struct conf_peer *store_peer_settings(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	const struct conf_peer *p = store_conf_peer(s, key);
	const struct peer_record *r;

	if (p)
		return p;
	r = find_record(s, key);
	return r && !r->enabled ? &r->held : NULL;
}

/* A deep copy of a [Peer] (name left out). */
static int peer_copy(struct conf_peer *dst, const struct conf_peer *src)
{
	int ret = 0;

	memset(dst, 0, sizeof(*dst));
	memcpy(dst->public_key, src->public_key, CONF_KEY_LEN);
	if (src->has_preshared_key) {
		memcpy(dst->preshared_key, src->preshared_key, CONF_KEY_LEN);
		dst->has_preshared_key = true;
	}
	for (uint32_t i = 0; !ret && i < src->allowed_ips.n; i++)
		ret = conf_prefix_list_add(&dst->allowed_ips, &src->allowed_ips.v[i]);
	if (!ret && src->endpoint.host)
		ret = conf_peer_set_endpoint(dst, src->endpoint.host, src->endpoint.port);
	dst->has_persistent_keepalive = src->has_persistent_keepalive;
	dst->persistent_keepalive = src->persistent_keepalive;
	return ret;
}

/* Appends a copy of src to IFACE.conf's peers. */
static int conf_insert(struct store *s, const struct conf_peer *src)
{
	struct conf_peer *p;
	uint32_t dup;
	int ret = conf_peer_append(&s->conf, &p);

	if (ret)
		return ret;
	ret = peer_copy(p, src);
	if (!ret && idx(s)->peers_valid)
		ret = conf_keyset_insert(&idx(s)->peers, s->conf.peers, s->conf.n_peers - 1, &dup);
	if (ret) {
		peer_drop(p);
		s->conf.n_peers--;
		idx(s)->peers_valid = false;
	}
	return ret;
}

static void conf_take_out(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	conf_peer_remove(&s->conf, key);
	idx(s)->peers_valid = false;
}

int store_peer_add(struct store *s, const struct conf_peer *peer, struct peer_record **rec)
{
	struct peer_record *r;
	int ret;

	if (rec)
		*rec = NULL;
	if (find_record(s, peer->public_key) || store_conf_peer(s, peer->public_key))
		return -EEXIST;
	ret = add_record(s, peer->public_key, &r);
	if (ret)
		return ret;
	ret = conf_insert(s, peer);
	if (ret) {
		drop_record(s, r);
		return ret;
	}
	if (rec)
		*rec = r;
	return 0;
}

int store_peer_remove(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	struct peer_record *r = find_record(s, key);
	bool in_conf = store_conf_peer(s, key) != NULL;

	if (!r && !in_conf)
		return -ENOENT;
	if (in_conf) {
		conf_take_out(s, key);
		s->conf_first = true;
	}
	return r ? drop_record(s, r) : 0;
}

int store_peer_disable(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	struct conf_peer *p = store_conf_peer(s, key);
	struct peer_record *r;
	struct conf_peer held;
	int ret;

	if (!p)
		return find_record(s, key) ? -EALREADY : -ENOENT;
	ret = peer_copy(&held, p);
	if (ret) {
		peer_drop(&held);
		return ret;
	}
	r = store_record(s, key);
	if (!r) {
		peer_drop(&held);
		return -ENOMEM;
	}
	peer_drop(&r->held);
	r->held = held;
	r->enabled = false;
	conf_take_out(s, key);
	return 0;
}

int store_peers_disable(struct store *s, const uint8_t (*keys)[CONF_KEY_LEN], size_t n)
{
	bool *drop = NULL;
	uint32_t kept = 0;
	int ret = index_peers(s);

	if (!ret && !(drop = calloc(s->conf.n_peers + 1, sizeof(*drop))))
		ret = -ENOMEM;
	/* first every record, while IFACE.conf's peers stay where they are */
	for (size_t k = 0; !ret && k < n; k++) {
		struct peer_record *r;
		struct conf_peer held;
		uint32_t i;

		if (!conf_keyset_find(&idx(s)->peers, s->conf.peers, keys[k], &i)) {
			r = find_record(s, keys[k]);
			ret = r && !r->enabled ? 0 : -ENOENT;
			continue;
		}
		if (drop[i])
			continue;
		ret = peer_copy(&held, &s->conf.peers[i]);
		if (!ret && !(r = store_record(s, keys[k])))
			ret = -ENOMEM;
		if (ret) {
			peer_drop(&held);
			break;
		}
		peer_drop(&r->held);
		r->held = held;
		r->enabled = false;
		drop[i] = true;
	}
	if (ret) {
		/* put back what was marked: nothing changes */
		for (uint32_t i = 0; drop && i < s->conf.n_peers; i++) {
			struct peer_record *r = drop[i] ? find_record(s, s->conf.peers[i].public_key) : NULL;

			if (r) {
				peer_drop_held(r);
				r->enabled = true;
			}
		}
		free(drop);
		return ret;
	}
	/* then one pass over IFACE.conf's peers, keeping the others' order */
	for (uint32_t i = 0; i < s->conf.n_peers; i++) {
		if (drop[i])
			peer_drop(&s->conf.peers[i]);
		else if (kept++ != i)
			s->conf.peers[kept - 1] = s->conf.peers[i];
	}
	if (kept != s->conf.n_peers)
		memzero(&s->conf.peers[kept], (size_t)(s->conf.n_peers - kept) * sizeof(*s->conf.peers));
	s->conf.n_peers = kept;
	idx(s)->peers_valid = false;
	free(drop);
	return 0;
}

int store_peer_enable(struct store *s, const uint8_t key[CONF_KEY_LEN])
{
	struct peer_record *r = find_record(s, key);
	int ret;

	if (!r)
		return store_conf_peer(s, key) ? -EALREADY : -ENOENT;
	if (r->enabled)
		return -EALREADY;
	ret = conf_insert(s, &r->held);
	if (ret)
		return ret;
	peer_drop_held(r);
	r->enabled = true;
	s->conf_first = true;
	return 0;
}

int store_peer_rename(struct store *s, const uint8_t key[CONF_KEY_LEN], const char *name)
{
	struct peer_record *r, *other;
	char *copy = NULL;

	if (name && !store_name_valid(name))
		return -EINVAL;
	other = name ? store_record_by_name(s, name) : NULL;
	r = store_record(s, key);
	if (!r)
		return find_record(s, key) || store_conf_peer(s, key) ? -ENOMEM : -ENOENT;
	if (other && other != r)
		return -EEXIST;
	if (name && !(copy = strdup(name)))
		return -ENOMEM;
	free(r->name);
	r->name = copy;
	return 0;
}
