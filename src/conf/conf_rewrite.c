/* conf_rewrite.c: rewriting a user's wg-quick file with the smallest change.
 * A file weft changes stays the user's: comments, blank lines, key order and
 * spelling survive, and only what differs between the struct the file was
 * read as and the struct wanted is touched:
 *   - a key whose canonical text changed has its line edited in place (the
 *     key as spelled, the spacing and a trailing comment are kept); extra
 *     lines of a list key go; a key that appears is added after the last key
 *     of its section; one that disappears loses its lines;
 *   - a peer that goes loses its section and the comment block directly
 *     above it; a new peer is appended at the end in canonical form;
 *   - a [Weft] section (weft's settings, which now live beside the file)
 *     loses its header and key lines.
 * Fields are compared by their canonical text (conf_put_field), so a value
 * that reads the same is never rewritten, whatever its spelling. Runs in
 * O(size of the file); peers are matched through a hash set. */
#include "conf/conf_internal.h"

#include "crypto/crypto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum line_kind { L_BLANK, L_COMMENT, L_HEADER, L_KEY };
/* Peers append_only() takes at once (each is checked against the others). */
#define APPEND_ONLY_MAX 64u
enum sec_kind { S_NONE, S_INTERFACE, S_PEER, S_WEFT };

struct line {
	size_t start, len, end;  /* text[start, start+len) without the line ending; end after it */
	size_t val_start, val_end;
	int field;               /* conf_field of a key line, -1 otherwise */
	uint8_t kind;
	bool drop;
	size_t repl_off, repl_len; /* replacement of the line's text, in repl */
	bool has_repl;
	size_t ins_off, ins_len;   /* lines to insert after this one, in ins */
};

struct section {
	uint8_t kind;
	uint32_t header, end;    /* header line; next section's header (or n) */
	uint32_t last_key;       /* last key line, or the header */
};

struct rw {
	const char *text;
	struct line *lines;
	uint32_t n;
	struct section *secs;
	uint32_t n_secs;
	struct conf_out repl, ins, a, b;
};

/* Classifies one line. The text already parsed, so this can be lenient. */
static void scan_line(struct rw *r, struct line *l, uint8_t *sec)
{
	const char *s = r->text + l->start;
	size_t n = l->len, i = 0, hash;

	l->field = -1;
	for (hash = 0; hash < n && s[hash] != '#'; hash++)
		;
	while (i < hash && conf_blank(s[i]))
		i++;
	if (i == hash) {
		l->kind = hash < n ? L_COMMENT : L_BLANK;
		return;
	}
	size_t e = hash;
	while (e > i && conf_blank(s[e - 1]))
		e--;
	if (s[i] == '[') {
		l->kind = L_HEADER;
		if (e - i >= 2 && s[e - 1] == ']') {
			const char *w = s + i + 1;
			size_t wn = e - i - 2;

			*sec = conf_word_eq_n(w, wn, "Interface") ? S_INTERFACE : conf_word_eq_n(w, wn, "Peer") ? S_PEER :
			       conf_word_eq_n(w, wn, "Weft") ? S_WEFT : S_NONE;
		}
		return;
	}
	l->kind = L_KEY;
	const char *eq = memchr(s + i, '=', e - i);
	if (!eq)
		return;
	size_t k = (size_t)(eq - s), ke = k;
	while (ke > i && conf_blank(s[ke - 1]))
		ke--;
	char name[32];
	if (ke - i < sizeof(name)) {
		memcpy(name, s + i, ke - i);
		name[ke - i] = '\0';
		l->field = conf_field_lookup(name);
		/* an [Interface] key in [Weft] or the like cannot happen in a
		 * file that parsed; [Weft] keys are not fields at all */
	}
	l->val_start = k + 1;
	while (l->val_start < e && conf_blank(s[l->val_start]))
		l->val_start++;
	l->val_end = e;
}

static int scan(struct rw *r, size_t len)
{
	uint32_t cap_l = 0, cap_s = 0;
	size_t pos = 0;
	uint8_t sec = S_NONE;
	int ret;

	while (pos < len) {
		const char *nl = memchr(r->text + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - r->text) + 1 : len;

		ret = conf_grow((void **)&r->lines, &cap_l, r->n + 1, sizeof(*r->lines), UINT32_MAX);
		if (ret)
			return ret;
		struct line *l = &r->lines[r->n];
		memset(l, 0, sizeof(*l));
		l->start = pos;
		l->end = end;
		l->len = end - pos - (nl ? 1 : 0);
		if (l->len && r->text[pos + l->len - 1] == '\r')
			l->len--;
		scan_line(r, l, &sec);
		if (l->kind == L_HEADER) {
			ret = conf_grow((void **)&r->secs, &cap_s, r->n_secs + 1, sizeof(*r->secs), UINT32_MAX);
			if (ret)
				return ret;
			if (r->n_secs)
				r->secs[r->n_secs - 1].end = r->n;
			r->secs[r->n_secs++] = (struct section){ .kind = sec, .header = r->n, .last_key = r->n };
		} else if (l->kind == L_KEY && r->n_secs) {
			r->secs[r->n_secs - 1].last_key = r->n;
		}
		r->n++;
		pos = end;
	}
	if (r->n_secs)
		r->secs[r->n_secs - 1].end = r->n;
	return 0;
}

/* ---- edits ---- */

/* The first line of o's text (without "\n"), and whether it has more. */
static size_t first_line(const struct conf_out *o, bool *more)
{
	const char *nl = memchr(o->buf, '\n', o->len);
	size_t n = nl ? (size_t)(nl - o->buf) : o->len;

	*more = nl && (size_t)(nl - o->buf) + 1 < o->len;
	return n;
}

/* Makes field f of section sec read as r->a (its new canonical lines). */
static void edit_field(struct rw *r, const struct section *sec, int f)
{
	struct line *first = NULL;

	for (uint32_t i = sec->header + 1; i < sec->end; i++) {
		struct line *l = &r->lines[i];

		if (l->kind != L_KEY || l->field != f)
			continue;
		if (first || !r->a.len) {
			l->drop = true;
			continue;
		}
		first = l;
	}
	if (!r->a.len)
		return;
	if (!first) {
		struct line *at = &r->lines[sec->last_key];

		if (!at->ins_len)
			at->ins_off = r->ins.len;
		conf_out_putn(&r->ins, r->a.buf, r->a.len);
		at->ins_len += r->a.len;
		return;
	}
	bool more;
	size_t n = first_line(&r->a, &more);
	const char *eq = memchr(r->a.buf, '=', n);

	first->has_repl = true;
	first->repl_off = r->repl.len;
	if (!more && eq) {
		/* the user's "key =" and trailing comment around the new value */
		const char *old = r->text + first->start, *v = eq + 1;

		while (conf_blank(*v))
			v++;
		conf_out_putn(&r->repl, old, first->val_start);
		conf_out_putn(&r->repl, v, n - (size_t)(v - r->a.buf));
		conf_out_putn(&r->repl, old + first->val_end, first->len - first->val_end);
	} else {
		conf_out_putn(&r->repl, r->a.buf, r->a.len - 1);
	}
	first->repl_len = r->repl.len - first->repl_off;
}

static bool same_text(const struct conf_out *a, const struct conf_out *b)
{
	return a->len == b->len && (!a->len || memeq_ct(a->buf, b->buf, a->len));
}

static void edit_fields(struct rw *r, const struct section *sec, const struct conf *before,
			const struct conf_peer *bp, const struct conf *after, const struct conf_peer *ap,
			int from, int to)
{
	for (int f = from; f < to; f++) {
		r->a.len = r->b.len = 0;
		conf_put_field(&r->b, before, bp, (enum conf_field)f);
		conf_put_field(&r->a, after, ap, (enum conf_field)f);
		if (!same_text(&r->a, &r->b))
			edit_field(r, sec, f);
	}
}

/* Drops lines [s, e) and one blank line that would be left doubled. */
static void drop_range(struct rw *r, uint32_t s, uint32_t e)
{
	for (uint32_t i = s; i < e; i++)
		r->lines[i].drop = true;
	bool blank_before = !s || r->lines[s - 1].kind == L_BLANK;
	if (blank_before && e < r->n && r->lines[e].kind == L_BLANK)
		r->lines[e].drop = true;
	else if (s && e == r->n && r->lines[s - 1].kind == L_BLANK)
		r->lines[s - 1].drop = true;
}

/* A peer section goes, with the comment block directly above it; the
 * comment block directly above the next section stays with that one. */
static void drop_peer(struct rw *r, const struct section *sec)
{
	uint32_t s = sec->header, e = sec->end;

	while (s && r->lines[s - 1].kind == L_COMMENT)
		s--;
	if (e < r->n)
		while (e > sec->header + 1 && r->lines[e - 1].kind == L_COMMENT)
			e--;
	while (e > sec->header + 1 && r->lines[e - 1].kind == L_BLANK)
		e--;
	drop_range(r, s, e);
}

/* [Weft] loses its header and keys; comments in it stay. */
static void drop_weft(struct rw *r, const struct section *sec)
{
	bool only_keys = true;

	for (uint32_t i = sec->header + 1; i <= sec->last_key; i++)
		only_keys &= r->lines[i].kind == L_KEY;
	if (only_keys) {
		drop_range(r, sec->header, sec->last_key + 1);
		return;
	}
	r->lines[sec->header].drop = true;
	for (uint32_t i = sec->header + 1; i <= sec->last_key; i++)
		if (r->lines[i].kind == L_KEY)
			r->lines[i].drop = true;
}

/* ---- output ---- */

/* New lines of weft's, ending as the file's first line does ("\r\n" in a
 * file written on Windows). */
static void put_new(struct conf_out *o, const char *text, size_t len, bool crlf)
{
	while (len) {
		const char *nl = crlf ? memchr(text, '\n', len) : NULL;
		size_t n = nl ? (size_t)(nl - text) : len;

		conf_out_putn(o, text, n);
		if (nl) {
			conf_out_putn(o, "\r\n", 2);
			n++;
		}
		text += n;
		len -= n;
	}
}

/* The peers of after from index from on that are not matched (matched
 * NULL: all of them), in canonical form after text that ends as the three
 * flags say. */
static void append_peers(struct conf_out *o, const struct conf *after, const bool *matched, uint32_t from,
			 bool at_line_start, bool last_blank, bool ends_in_cr, bool crlf)
{
	const char *eol = crlf ? "\r\n" : "\n";

	for (uint32_t k = from; k < after->n_peers; k++) {
		if (matched && matched[k])
			continue;
		if (!at_line_start) /* a lone '\r' at the end only lacks its '\n' */
			conf_out_put(o, ends_in_cr ? "\n" : eol);
		if (!last_blank)
			conf_out_put(o, eol);
		/* into an empty buffer, conf_put_peer starts with the header */
		struct conf_out tmp = { 0 };
		conf_put_peer(&tmp, &after->peers[k]);
		put_new(o, tmp.buf, tmp.len, crlf);
		o->oom |= tmp.oom;
		conf_out_free(&tmp);
		at_line_start = true;
		last_blank = false;
	}
}

static void emit(struct rw *r, struct conf_out *o, const struct conf *after, const bool *matched)
{
	bool at_line_start = true, last_blank = true, ends_in_cr = false;
	bool crlf = r->n && r->lines[0].end - r->lines[0].start - r->lines[0].len == 2;
	const char *eol = crlf ? "\r\n" : "\n";

	for (uint32_t i = 0; i < r->n; i++) {
		const struct line *l = &r->lines[i];

		if (!l->drop) {
			if (l->has_repl)
				conf_out_putn(o, r->repl.buf + l->repl_off, l->repl_len);
			else
				conf_out_putn(o, r->text + l->start, l->len);
			/* the line's own ending ("\r\n" stays), or none at the end */
			conf_out_putn(o, r->text + l->start + l->len, l->end - l->start - l->len);
			/* a last line without '\n' (perhaps with a lone '\r') needs
			 * one before anything follows it */
			at_line_start = l->end > l->start && r->text[l->end - 1] == '\n';
			ends_in_cr = !at_line_start && l->end > l->start && r->text[l->end - 1] == '\r';
			last_blank = l->kind == L_BLANK;
		}
		if (l->ins_len) {
			if (!at_line_start)
				conf_out_put(o, ends_in_cr ? "\n" : eol);
			put_new(o, r->ins.buf + l->ins_off, l->ins_len, crlf);
			at_line_start = true;
			last_blank = false;
		}
	}
	append_peers(o, after, matched, 0, at_line_start, last_blank, ends_in_cr, crlf);
}

/* ---- peers added at the end, nothing else changed ---- */

/* The line of text that starts at start, as scan() makes it. */
static void line_at(struct rw *r, size_t len, size_t start, struct line *l, uint8_t *sec)
{
	const char *nl = memchr(r->text + start, '\n', len - start);

	memset(l, 0, sizeof(*l));
	l->start = start;
	l->end = nl ? (size_t)(nl - r->text) + 1 : len;
	l->len = l->end - start - (nl ? 1 : 0);
	if (l->len && r->text[start + l->len - 1] == '\r')
		l->len--;
	scan_line(r, l, sec);
}

/* Whether the file's section headers are what the general rewrite needs
 * to leave every line as it is: an [Interface], no [Weft], and one [Peer]
 * for each peer of before. Only lines that start with '[' (after blanks)
 * are looked at; each is classified as scan() classifies it. */
static bool headers_kept(struct rw *r, size_t len, const struct conf *before)
{
	uint32_t peers = 0, ifaces = 0;

	for (const char *b = memchr(r->text, '[', len); b; b = memchr(b + 1, '[', len - (size_t)(b + 1 - r->text))) {
		size_t at = (size_t)(b - r->text), start = at;
		uint8_t sec = S_NONE;
		struct line l;

		while (start && conf_blank(r->text[start - 1]))
			start--;
		if (start && r->text[start - 1] != '\n')
			continue; /* inside a line: a value or a comment */
		line_at(r, len, start, &l, &sec);
		if (l.kind != L_HEADER)
			continue;
		if (sec == S_PEER)
			peers++;
		else if (sec == S_INTERFACE)
			ifaces++;
		else
			return false; /* [Weft] goes; anything else: the general way */
	}
	return ifaces && peers == before->n_peers;
}

/* after is before with peers appended and nothing else changed: the text
 * is kept whole and the new peers follow, which is what the general
 * rewrite writes in that case, without classifying 60,000 lines (`peer
 * add` at 10,000 peers). 1 done, 0 not that case (nothing written),
 * -ENOMEM. */
static int append_only(const char *old, size_t old_len, const struct conf *before, const struct conf *after,
		       struct conf_out *o)
{
	struct rw r = { .text = old };
	uint32_t n = before->n_peers;
	bool crlf, at_line_start, ends_in_cr;
	uint8_t sec = S_NONE;
	struct line last;
	size_t start;
	int ret = 1;

	if (!old_len || after->n_peers < n || after->n_peers - n > APPEND_ONLY_MAX)
		return 0;
	for (uint32_t k = 0; k < n; k++)
		if (!conf_peer_same(&before->peers[k], &after->peers[k]))
			return 0;
	/* a key given twice fails the general rewrite: leave it to that */
	for (uint32_t k = n; k < after->n_peers; k++)
		for (uint32_t j = 0; j < k; j++)
			if (!memcmp(after->peers[j].public_key, after->peers[k].public_key, CONF_KEY_LEN))
				return 0;
	for (int f = 0; f < CONF_F_PEER_FIRST && ret == 1; f++) {
		r.a.len = r.b.len = 0;
		conf_put_field(&r.b, before, NULL, (enum conf_field)f);
		conf_put_field(&r.a, after, NULL, (enum conf_field)f);
		if (r.a.oom || r.b.oom)
			ret = -ENOMEM;
		else if (!same_text(&r.a, &r.b))
			ret = 0;
	}
	conf_out_free(&r.a);
	conf_out_free(&r.b);
	if (ret != 1)
		return ret;
	if (!headers_kept(&r, old_len, before))
		return 0;

	/* how the text ends and how its first line ends, as emit() sees it */
	const char *nl = memchr(old, '\n', old_len);
	crlf = nl && nl > old && nl[-1] == '\r';
	start = old[old_len - 1] == '\n' ? old_len - 1 : old_len;
	while (start && old[start - 1] != '\n')
		start--;
	line_at(&r, old_len, start, &last, &sec);
	at_line_start = last.end > last.start && old[last.end - 1] == '\n';
	ends_in_cr = !at_line_start && last.end > last.start && old[last.end - 1] == '\r';

	conf_out_reserve(o, old_len + 4096);
	conf_out_putn(o, old, old_len);
	append_peers(o, after, NULL, n, at_line_start, last.kind == L_BLANK, ends_in_cr, crlf);
	return o->oom ? -ENOMEM : 1;
}

int conf_rewrite(const char *old, size_t old_len, const struct conf *before, const struct conf *after,
		 char **text, size_t *len)
{
	struct conf_out o = { 0 };
	int ret;

	*text = NULL;
	*len = 0;
	if (!conf_check(after))
		return -EINVAL;
	ret = append_only(old, old_len, before, after, &o);
	if (ret == 1) {
		*text = o.buf;
		*len = o.len;
		return 0;
	}
	conf_out_free(&o);
	return ret < 0 ? ret : conf_rewrite_general(old, old_len, before, after, text, len);
}

int conf_rewrite_general(const char *old, size_t old_len, const struct conf *before, const struct conf *after,
			 char **text, size_t *len)
{
	struct rw r = { .text = old };
	struct conf_keyset set;
	struct conf_out o = { 0 };
	bool *matched = NULL, have_iface = false;
	uint32_t peer_no = 0;
	int ret;

	*text = NULL;
	*len = 0;
	if (!conf_check(after))
		return -EINVAL;
	ret = conf_keyset_init(&set);
	if (ret)
		return ret;
	matched = calloc(after->n_peers + 1, sizeof(*matched));
	if (!matched) {
		ret = -ENOMEM;
		goto out;
	}
	for (uint32_t k = 0; !ret && k < after->n_peers; k++) {
		uint32_t dup;
		ret = conf_keyset_insert(&set, after->peers, k, &dup);
	}
	if (!ret)
		ret = scan(&r, old_len);
	if (ret)
		goto out;
	for (uint32_t s = 0; s < r.n_secs; s++) {
		const struct section *sec = &r.secs[s];
		uint32_t idx;

		switch (sec->kind) {
		case S_INTERFACE:
			have_iface = true;
			edit_fields(&r, sec, before, NULL, after, NULL, 0, CONF_F_PEER_FIRST);
			break;
		case S_WEFT:
			drop_weft(&r, sec);
			break;
		case S_PEER: {
			const struct conf_peer *bp = peer_no < before->n_peers ? &before->peers[peer_no] : NULL;

			peer_no++;
			if (!bp || !conf_keyset_find(&set, after->peers, bp->public_key, &idx)) {
				drop_peer(&r, sec);
				break;
			}
			matched[idx] = true;
			/* most peers are unchanged: equal structs write the same
			 * text, so their fields need not be formatted and compared */
			if (conf_peer_same(bp, &after->peers[idx]))
				break;
			edit_fields(&r, sec, before, bp, after, &after->peers[idx], CONF_F_PEER_FIRST + 1,
				    CONF_FIELDS);
			break;
		}
		default:
			break;
		}
	}
	if (!have_iface || peer_no != before->n_peers) {
		/* not the text before was read from: nothing to keep */
		ret = conf_write(after, 0, text, len);
		goto out;
	}
	/* about the old size: the text is copied once, not at each doubling */
	conf_out_reserve(&o, old_len + old_len / 8 + 4096);
	conf_out_put(&o, ""); /* an empty result is still a string */
	emit(&r, &o, after, matched);
	if (r.repl.oom || r.ins.oom || r.a.oom || r.b.oom || o.oom) {
		ret = -ENOMEM;
		conf_out_free(&o);
		goto out;
	}
	*text = o.buf;
	*len = o.len;
out:
	conf_out_free(&r.repl);
	conf_out_free(&r.ins);
	conf_out_free(&r.a);
	conf_out_free(&r.b);
	free(r.lines);
	free(r.secs);
	free(matched);
	conf_keyset_free(&set);
	return ret;
}
