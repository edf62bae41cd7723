/* managed.c: the peers `weft link` manages (managed.h). */
#include "link/managed.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "conf/store.h"
#include "conf/weftfile.h"
#include "crypto/crypto.h"
#include "weft/conf_path.h"
#include "weft/device.h"

static const struct peer_record *record_of(const struct weft_file *w, const uint8_t key[32])
{
	for (uint32_t i = 0; i < w->n; i++)
		if (!memcmp(w->recs[i].public_key, key, 32))
			return &w->recs[i];
	return NULL;
}

static const struct conf_peer *conf_peer_of(const struct conf *c, const uint8_t key[32])
{
	for (uint32_t i = 0; i < c->n_peers; i++)
		if (!memcmp(c->peers[i].public_key, key, 32))
			return &c->peers[i];
	return NULL;
}

int managed_load(struct managed *m, const char *iface, const struct device *dev, char *err, size_t errlen)
{
	struct conf conf;
	struct weft_file w;
	char weft_path[4096 + 8];
	bool exists = false, have_conf = false, have_weft = false;
	int ret;

	memset(m, 0, sizeof(*m));
	err[0] = '\0';
	if (!iface_conf_path(m->conf_path, sizeof(m->conf_path), iface, &exists))
		exists = false;
	if (exists) {
		ret = conf_load(&conf, m->conf_path, 0, err, errlen);
		if (ret)
			return ret;
		have_conf = true;
	}
	weftfile_init(&w);
	size_t n = strlen(m->conf_path);
	if (n > 5 && !strcmp(m->conf_path + n - 5, ".conf")) {
		snprintf(weft_path, sizeof(weft_path), "%.*s%s", (int)(n - 5), m->conf_path, STORE_WEFT_SUFFIX);
		ret = weftfile_load(&w, weft_path, err, errlen);
		if (ret && ret != -ENOENT)
			goto out;
		have_weft = !ret;
		err[0] = '\0';
	}
	m->from_files = have_conf;
	if (dev->n_peers) {
		m->v = calloc(dev->n_peers, sizeof(*m->v));
		if (!m->v) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < dev->n_peers; i++) {
		const struct dev_peer *p = &dev->peers[i];
		const struct peer_record *r = have_weft ? record_of(&w, p->public_key) : NULL;
		bool roaming = r && r->roaming, take;

		if (have_conf) {
			const struct conf_peer *cp = conf_peer_of(&conf, p->public_key);
			/* a peer added by hand, not in the file: its endpoint as now */
			take = roaming || (cp ? !cp->endpoint.host : !device_has_endpoint(p));
		} else {
			take = roaming || !device_has_endpoint(p);
		}
		if (!take)
			continue;
		memcpy(m->v[m->n].public_key, p->public_key, 32);
		m->v[m->n].roaming = roaming;
		m->n++;
	}
	if (have_weft && w.link.coord) {
		m->coord = strdup(w.link.coord);
		if (!m->coord) {
			ret = -ENOMEM;
			goto out;
		}
	}
	if (have_weft && w.link.has_coord_key) {
		memcpy(m->coord_key, w.link.coord_key, 32);
		m->has_coord_key = true;
	}
	ret = 0;
out:
	if (ret)
		managed_free(m);
	if (have_conf)
		conf_free(&conf);
	weftfile_free(&w);
	return ret;
}

void managed_free(struct managed *m)
{
	free(m->v);
	free(m->coord);
	memset(m, 0, sizeof(*m));
}
