/* member.c: membership records, their merge rule and a node's view
 * (docs/weft-mesh.md). The merge keeps, per subject, the maximum of a total
 * order (remove beats all; then version; then the lower encoding), so it is
 * commutative, associative and idempotent: the view is a function of the
 * set of records received, never of their order or repetition. Admission
 * is then computed from that set alone. */
#include "mesh/member.h"
#include "mesh/le.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"

static const char admit_context[] = "weft mesh admit v1";
static const char record_context[] = "weft mesh record v1";

enum { FIXED_LEN = 1 + MESH_ID_LEN + MESH_PUB_LEN + 8 + 8 + 8 + MESH_TOKEN_ID_LEN + MESH_PUB_LEN +
	MESH_SIG_LEN + 4 + 16, CANDIDATE_LEN = 19 };

/* One subject of the view: a member key (class 0) or a token id (class 1). */
struct mesh_entry {
	bool used;
	uint8_t cls;
	uint8_t subject[MESH_PUB_LEN];
	bool has_rec, has_remove;
	struct mesh_record rec;    /* MEMBER or LEAVE, or REVOKE for class 1 */
	struct mesh_record remove; /* REMOVE */
};

bool mesh_name_ok(const char *name)
{
	size_t len = strnlen(name, MESH_NAME_MAX + 1);

	if (!len || len > MESH_NAME_MAX || name[0] == '-' || name[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') || name[i] == '-'))
			return false;
	return true;
}

/* The name may be empty in tombstones only. */
static bool fields_ok(const struct mesh_record *r)
{
	if (r->kind < MESH_MEMBER || r->kind > MESH_REVOKE || r->n_candidates > MESH_MAX_CANDIDATES)
		return false;
	if (r->kind == MESH_MEMBER ? !mesh_name_ok(r->name) : (r->name[0] && !mesh_name_ok(r->name)))
		return false;
	for (unsigned i = 0; i < r->n_candidates; i++)
		if (r->candidates[i].family != 4 && r->candidates[i].family != 6)
			return false;
	return true;
}

/* Encodes everything but the final signature; returns the length. */
static int encode_body(const struct mesh_record *r, uint8_t *p, size_t len)
{
	size_t n = 0, name_len = strnlen(r->name, sizeof(r->name));

	if (!fields_ok(r))
		return -EINVAL;
	if (len < FIXED_LEN + 2 + name_len + CANDIDATE_LEN * r->n_candidates)
		return -ENOSPC;
	p[n++] = r->kind;
	memcpy(p + n, r->network_id, MESH_ID_LEN), n += MESH_ID_LEN;
	memcpy(p + n, r->subject, MESH_PUB_LEN), n += MESH_PUB_LEN;
	put_le(p + n, r->version, 8), n += 8;
	put_le(p + n, r->expires, 8), n += 8;
	put_le(p + n, r->joined, 8), n += 8;
	memcpy(p + n, r->token_id, MESH_TOKEN_ID_LEN), n += MESH_TOKEN_ID_LEN;
	memcpy(p + n, r->sponsor, MESH_PUB_LEN), n += MESH_PUB_LEN;
	memcpy(p + n, r->sponsor_sig, MESH_SIG_LEN), n += MESH_SIG_LEN;
	memcpy(p + n, r->v4, 4), n += 4;
	memcpy(p + n, r->v6, 16), n += 16;
	p[n++] = (uint8_t)name_len;
	memcpy(p + n, r->name, name_len), n += name_len;
	p[n++] = r->n_candidates;
	for (unsigned i = 0; i < r->n_candidates; i++) {
		p[n++] = r->candidates[i].family;
		memcpy(p + n, r->candidates[i].addr, 16), n += 16;
		p[n++] = (uint8_t)(r->candidates[i].port >> 8);
		p[n++] = (uint8_t)r->candidates[i].port;
	}
	return (int)n;
}

int mesh_record_encode(const struct mesh_record *r, uint8_t *out, size_t len)
{
	int n = encode_body(r, out, len);

	if (n < 0)
		return n;
	if (len - (size_t)n < MESH_SIG_LEN)
		return -ENOSPC;
	memcpy(out + n, r->sig, MESH_SIG_LEN);
	return n + MESH_SIG_LEN;
}

int mesh_record_decode(struct mesh_record *r, const uint8_t *p, size_t len)
{
	size_t n = 0, name_len;

	memset(r, 0, sizeof(*r));
	if (len < FIXED_LEN + 2 + MESH_SIG_LEN || len > MESH_RECORD_MAX)
		goto bad;
	r->kind = p[n++];
	memcpy(r->network_id, p + n, MESH_ID_LEN), n += MESH_ID_LEN;
	memcpy(r->subject, p + n, MESH_PUB_LEN), n += MESH_PUB_LEN;
	r->version = get_le(p + n, 8), n += 8;
	r->expires = get_le(p + n, 8), n += 8;
	r->joined = get_le(p + n, 8), n += 8;
	memcpy(r->token_id, p + n, MESH_TOKEN_ID_LEN), n += MESH_TOKEN_ID_LEN;
	memcpy(r->sponsor, p + n, MESH_PUB_LEN), n += MESH_PUB_LEN;
	memcpy(r->sponsor_sig, p + n, MESH_SIG_LEN), n += MESH_SIG_LEN;
	memcpy(r->v4, p + n, 4), n += 4;
	memcpy(r->v6, p + n, 16), n += 16;
	name_len = p[n++];
	if (name_len > MESH_NAME_MAX || len - n < name_len + 1 + MESH_SIG_LEN)
		goto bad;
	memcpy(r->name, p + n, name_len), n += name_len;
	if (strnlen(r->name, sizeof(r->name)) != name_len)
		goto bad; /* a NUL inside the name: it would not encode back the same */
	r->n_candidates = p[n++];
	if (r->n_candidates > MESH_MAX_CANDIDATES || len - n != (size_t)CANDIDATE_LEN * r->n_candidates + MESH_SIG_LEN)
		goto bad;
	for (unsigned i = 0; i < r->n_candidates; i++) {
		r->candidates[i].family = p[n++];
		memcpy(r->candidates[i].addr, p + n, 16), n += 16;
		r->candidates[i].port = (uint16_t)(p[n] << 8 | p[n + 1]), n += 2;
	}
	memcpy(r->sig, p + n, MESH_SIG_LEN);
	if (!fields_ok(r))
		goto bad;
	return 0;
bad:
	memset(r, 0, sizeof(*r));
	return -EINVAL;
}

static size_t admission_msg(uint8_t *m, const struct mesh_record *r)
{
	size_t n = sizeof(admit_context) - 1;

	memcpy(m, admit_context, n);
	memcpy(m + n, r->network_id, MESH_ID_LEN), n += MESH_ID_LEN;
	memcpy(m + n, r->subject, MESH_PUB_LEN), n += MESH_PUB_LEN;
	put_le(m + n, r->joined, 8), n += 8;
	memcpy(m + n, r->token_id, MESH_TOKEN_ID_LEN), n += MESH_TOKEN_ID_LEN;
	return n;
}

void mesh_record_admit(struct mesh_record *r, const uint8_t sponsor_sec[MESH_SEC_LEN])
{
	uint8_t m[64 + MESH_ID_LEN + MESH_PUB_LEN + 8 + MESH_TOKEN_ID_LEN];
	size_t n = admission_msg(m, r);

	crypto_sign_ed25519_sk_to_pk(r->sponsor, sponsor_sec);
	crypto_sign_detached(r->sponsor_sig, NULL, m, n, sponsor_sec);
}

static int signed_msg(uint8_t *m, size_t len, const struct mesh_record *r)
{
	size_t c = sizeof(record_context) - 1;
	int n;

	memcpy(m, record_context, c);
	n = encode_body(r, m + c, len - c);
	return n < 0 ? n : (int)c + n;
}

int mesh_record_sign(struct mesh_record *r, const uint8_t sec[MESH_SEC_LEN])
{
	uint8_t m[64 + MESH_RECORD_MAX];
	int n = signed_msg(m, sizeof(m), r);

	if (n < 0)
		return n;
	crypto_sign_detached(r->sig, NULL, m, (size_t)n, sec);
	return 0;
}

bool mesh_record_verify(const struct mesh_record *r, const uint8_t admin_pub[MESH_PUB_LEN])
{
	uint8_t m[64 + MESH_RECORD_MAX];
	const uint8_t *signer = r->kind == MESH_REMOVE || r->kind == MESH_REVOKE ? admin_pub : r->subject;
	int n = signed_msg(m, sizeof(m), r);

	if (n < 0 || crypto_sign_verify_detached(r->sig, m, (size_t)n, signer))
		return false;
	if (r->kind == MESH_MEMBER || r->kind == MESH_LEAVE) {
		size_t a = admission_msg(m, r);
		if (crypto_sign_verify_detached(r->sponsor_sig, m, a, r->sponsor))
			return false;
	}
	return true;
}

/* The total order of the merge for two records of one subject and slot:
 * > 0 when a wins. */
static int newer(const struct mesh_record *a, const struct mesh_record *b)
{
	uint8_t ea[MESH_RECORD_MAX], eb[MESH_RECORD_MAX];
	int la, lb, c;

	if (a->version != b->version)
		return a->version > b->version ? 1 : -1;
	la = mesh_record_encode(a, ea, sizeof(ea));
	lb = mesh_record_encode(b, eb, sizeof(eb));
	if (la < 0 || lb < 0) /* never for records a view took: they encoded to be verified */
		return la < 0 ? -1 : 1;
	c = memcmp(ea, eb, (size_t)(la < lb ? la : lb));
	if (!c)
		c = la - lb;
	return -c; /* the lower encoding wins */
}

void mesh_view_init(struct mesh_view *v, const uint8_t admin_pub[MESH_PUB_LEN])
{
	memset(v, 0, sizeof(*v));
	memcpy(v->admin_pub, admin_pub, MESH_PUB_LEN);
	mesh_network_id(v->network_id, admin_pub);
}

void mesh_view_free(struct mesh_view *v)
{
	free(v->e);
	v->e = NULL;
	v->cap = v->count = 0;
}

static size_t hash_of(uint8_t cls, const uint8_t s[MESH_PUB_LEN])
{
	uint64_t h = get_le(s, 8) ^ ((uint64_t)cls * 0x9e3779b97f4a7c15ULL);

	/* keys are random already; the token ids (class 1) too */
	h ^= h >> 33, h *= 0xff51afd7ed558ccdULL, h ^= h >> 33;
	return (size_t)h;
}

static struct mesh_entry *find(const struct mesh_view *v, uint8_t cls, const uint8_t s[MESH_PUB_LEN])
{
	if (!v->cap)
		return NULL;
	for (size_t i = hash_of(cls, s) & (v->cap - 1);; i = (i + 1) & (v->cap - 1)) {
		struct mesh_entry *e = &v->e[i];
		if (!e->used)
			return NULL;
		if (e->cls == cls && !memcmp(e->subject, s, MESH_PUB_LEN))
			return e;
	}
}

static struct mesh_entry *slot_for(struct mesh_entry *tab, size_t cap, uint8_t cls, const uint8_t s[MESH_PUB_LEN])
{
	for (size_t i = hash_of(cls, s) & (cap - 1);; i = (i + 1) & (cap - 1))
		if (!tab[i].used || (tab[i].cls == cls && !memcmp(tab[i].subject, s, MESH_PUB_LEN)))
			return &tab[i];
}

static int rehash(struct mesh_view *v, size_t cap)
{
	struct mesh_entry *tab = calloc(cap, sizeof(*tab));

	if (!tab)
		return -ENOMEM;
	for (size_t i = 0; i < v->cap; i++)
		if (v->e[i].used)
			*slot_for(tab, cap, v->e[i].cls, v->e[i].subject) = v->e[i];
	free(v->e);
	v->e = tab;
	v->cap = cap;
	return 0;
}

int mesh_view_add(struct mesh_view *v, const struct mesh_record *r, uint64_t now)
{
	uint8_t cls = r->kind == MESH_REVOKE;
	struct mesh_entry *e;

	if (memcmp(r->network_id, v->network_id, MESH_ID_LEN) || !fields_ok(r))
		return -EINVAL;
	if (r->expires <= now)
		return -ESTALE;
	e = find(v, cls, r->subject);
	/* A record the view would not keep is not worth a signature check. */
	if (e) {
		const struct mesh_record *cur = r->kind == MESH_REMOVE ? (e->has_remove ? &e->remove : NULL) :
						(e->has_rec ? &e->rec : NULL);
		if (cur && newer(r, cur) <= 0)
			return 0;
	}
	if (!mesh_record_verify(r, v->admin_pub))
		return -EBADMSG;
	if (!e) {
		if (v->count >= MESH_VIEW_MAX)
			return -ENOSPC;
		if ((v->count + 1) * 4 > v->cap * 3) {
			int err = rehash(v, v->cap ? v->cap * 2 : 64);
			if (err)
				return err;
		}
		e = slot_for(v->e, v->cap, cls, r->subject);
		memset(e, 0, sizeof(*e));
		e->used = true;
		e->cls = cls;
		memcpy(e->subject, r->subject, MESH_PUB_LEN);
		v->count++;
	}
	if (r->kind == MESH_REMOVE)
		e->remove = *r, e->has_remove = true;
	else
		e->rec = *r, e->has_rec = true;
	return 1;
}

const struct mesh_record *mesh_view_find(const struct mesh_view *v, enum mesh_kind kind,
					 const uint8_t subject[MESH_PUB_LEN])
{
	const struct mesh_entry *e = find(v, kind == MESH_REVOKE, subject);

	if (!e)
		return NULL;
	if (kind == MESH_REMOVE)
		return e->has_remove ? &e->remove : NULL;
	return e->has_rec ? &e->rec : NULL;
}

size_t mesh_view_expire(struct mesh_view *v, uint64_t now)
{
	size_t dropped = 0;
	struct mesh_entry *old = v->e;
	size_t cap = v->cap;

	for (size_t i = 0; i < cap; i++) {
		struct mesh_entry *e = &old[i];
		if (!e->used)
			continue;
		if (e->has_rec && e->rec.expires <= now)
			e->has_rec = false, dropped++;
		if (e->has_remove && e->remove.expires <= now)
			e->has_remove = false, dropped++;
	}
	if (!dropped)
		return 0;
	/* Rebuild without the empty entries (deleting in place would break
	 * the probe chains). */
	struct mesh_entry *tab = calloc(cap, sizeof(*tab));
	if (!tab)
		return dropped; /* the emptied entries stay, harmless */
	v->count = 0;
	for (size_t i = 0; i < cap; i++)
		if (old[i].used && (old[i].has_rec || old[i].has_remove)) {
			*slot_for(tab, cap, old[i].cls, old[i].subject) = old[i];
			v->count++;
		}
	free(old);
	v->e = tab;
	return dropped;
}

void mesh_view_each(const struct mesh_view *v, void (*fn)(const struct mesh_record *, void *), void *arg)
{
	for (size_t i = 0; i < v->cap; i++) {
		if (v->e[i].used && v->e[i].has_rec)
			fn(&v->e[i].rec, arg);
		if (v->e[i].used && v->e[i].has_remove)
			fn(&v->e[i].remove, arg);
	}
}

static bool revoked(const struct mesh_view *v, const struct mesh_record *r, uint64_t now)
{
	uint8_t s[MESH_PUB_LEN] = { 0 };
	const struct mesh_entry *t;

	memcpy(s, r->token_id, MESH_TOKEN_ID_LEN);
	t = find(v, 1, s);
	return t && t->has_rec && t->rec.expires > now && t->rec.joined <= r->joined;
}

static int by_subject(const void *a, const void *b)
{
	return memcmp((*(const struct mesh_record *const *)a)->subject,
		      (*(const struct mesh_record *const *)b)->subject, MESH_PUB_LEN);
}

long mesh_view_members(const struct mesh_view *v, uint64_t now, const struct mesh_record ***out)
{
	/* Candidates: live MEMBER and LEAVE records, not removed, their token
	 * not revoked at their join. Admitted: reachable from the admin key
	 * through sponsors (a member that left still vouches for those it
	 * admitted while its tombstone lives; one that was removed does not).
	 * Only admitted MEMBER records are returned. Each candidate's sponsor chain is walked once
	 * (results are remembered), so a chain as long as the mesh still
	 * costs O(n log n). */
	enum { UNKNOWN, VISITING, ADMITTED, REFUSED };
	size_t n = 0, cap = v->count ? v->count : 1;
	const struct mesh_record **c = calloc(cap, sizeof(*c));
	uint8_t *state = calloc(cap, 1);
	size_t *sponsor = calloc(cap, sizeof(*sponsor)), *stack = calloc(cap, sizeof(*stack));

	if (!c || !state || !sponsor || !stack)
		goto nomem;
	for (size_t i = 0; i < v->cap; i++) {
		const struct mesh_entry *e = &v->e[i];
		if (e->used && !e->cls && e->has_rec && !e->has_remove && e->rec.expires > now && !revoked(v, &e->rec, now))
			c[n++] = &e->rec;
	}
	qsort(c, n, sizeof(*c), by_subject);
	for (size_t i = 0; i < n; i++) {
		sponsor[i] = SIZE_MAX;
		if (!memcmp(c[i]->sponsor, v->admin_pub, MESH_PUB_LEN)) {
			state[i] = ADMITTED;
			continue;
		}
		size_t lo = 0, hi = n;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			int d = memcmp(c[mid]->subject, c[i]->sponsor, MESH_PUB_LEN);
			if (!d) {
				sponsor[i] = mid;
				break;
			}
			if (d < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	for (size_t i = 0; i < n; i++) {
		size_t depth = 0, j = i;
		uint8_t result;
		while (state[j] == UNKNOWN) {
			state[j] = VISITING;
			stack[depth++] = j;
			if (sponsor[j] == SIZE_MAX)
				break;
			j = sponsor[j];
		}
		/* ended on a decided member, on a missing sponsor (REFUSED) or on
		 * a member of this walk (a cycle that never reaches the admin) */
		result = state[j] == ADMITTED ? ADMITTED : REFUSED;
		while (depth)
			state[stack[--depth]] = result;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (state[i] == ADMITTED && c[i]->kind == MESH_MEMBER)
			c[k++] = c[i];
	free(state);
	free(sponsor);
	free(stack);
	*out = c;
	return (long)k;
nomem:
	free(c);
	free(state);
	free(sponsor);
	free(stack);
	*out = NULL;
	return -ENOMEM;
}

static int by_entry(const void *a, const void *b)
{
	const struct mesh_entry *x = *(const struct mesh_entry *const *)a, *y = *(const struct mesh_entry *const *)b;

	if (x->cls != y->cls)
		return x->cls - y->cls;
	return memcmp(x->subject, y->subject, MESH_PUB_LEN);
}

int mesh_view_digest(const struct mesh_view *v, uint8_t out[32])
{
	const struct mesh_entry **s = calloc(v->count ? v->count : 1, sizeof(*s));
	struct b2s_ctx h;
	uint8_t buf[MESH_RECORD_MAX];
	size_t n = 0;

	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < v->cap; i++)
		if (v->e[i].used)
			s[n++] = &v->e[i];
	qsort(s, n, sizeof(*s), by_entry);
	b2s_init(&h, 32);
	for (size_t i = 0; i < n; i++) {
		const struct mesh_record *rs[2] = { s[i]->has_rec ? &s[i]->rec : NULL,
						    s[i]->has_remove ? &s[i]->remove : NULL };
		for (int j = 0; j < 2; j++) {
			uint8_t len[2] = { 0, 0 };
			int l = rs[j] ? mesh_record_encode(rs[j], buf, sizeof(buf)) : 0;
			if (l < 0)
				l = 0;
			len[0] = (uint8_t)l, len[1] = (uint8_t)(l >> 8);
			b2s_update(&h, len, 2);
			b2s_update(&h, buf, (size_t)l);
		}
	}
	b2s_final(&h, out);
	free(s);
	return 0;
}

static uint64_t record_hash(const struct mesh_record *r)
{
	static const char key[] = "weft mesh v1 bucket";
	uint8_t buf[MESH_RECORD_MAX], h[8];
	int n = mesh_record_encode(r, buf, sizeof(buf));

	b2s(h, sizeof(h), buf, n > 0 ? (size_t)n : 0, (const uint8_t *)key, strlen(key));
	return get_le(h, 8);
}

void mesh_view_buckets(const struct mesh_view *v, uint64_t out[MESH_BUCKETS])
{
	memset(out, 0, MESH_BUCKETS * sizeof(*out));
	for (size_t i = 0; i < v->cap; i++) {
		const struct mesh_entry *e = &v->e[i];
		if (!e->used)
			continue;
		if (e->has_rec)
			out[e->subject[0]] ^= record_hash(&e->rec);
		if (e->has_remove)
			out[e->subject[0]] ^= record_hash(&e->remove);
	}
}

void mesh_view_each_in_bucket(const struct mesh_view *v, unsigned b,
			      void (*fn)(const struct mesh_record *, void *), void *arg)
{
	for (size_t i = 0; i < v->cap; i++) {
		const struct mesh_entry *e = &v->e[i];
		if (!e->used || e->subject[0] != b)
			continue;
		if (e->has_rec)
			fn(&e->rec, arg);
		if (e->has_remove)
			fn(&e->remove, arg);
	}
}
