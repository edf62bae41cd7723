/* metrics_route.c: GET /metrics (admin tokens): the request counters,
 * peer counts, each peer's traffic and handshake age from the running
 * device, and each token's uses, in Prometheus text format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "peer_view.h"
#include "routes.h"
#include "util/encoding.h"
#include "weft/device.h"

/* A label value: backslash, quote and newline escaped. */
static void label(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', f);
		if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

ROUTE(route_metrics)
{
	struct peer_ctx c;
	uint32_t enabled = 0, disabled = 0;
	int64_t now = time(NULL);
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if (!t->admin)
		return api_reply_error(r, 403, "/metrics needs an admin token");
	if (!view_open(api, r, &c, 0))
		return true;
	f = open_memstream(&buf, &len);
	if (!f) {
		view_close(api, r, &c);
		return api_reply_error(r, 500, "out of memory");
	}
	api_metrics_write(&api->metrics, f);
	for (uint32_t i = 0; i < c.st.conf.n_peers; i++)
		store_record(&c.st, c.st.conf.peers[i].public_key);
	for (uint32_t i = 0; i < c.st.w.n; i++)
		c.st.w.recs[i].enabled ? enabled++ : disabled++;
	fprintf(f, "# HELP weft_peers Peers of the interface.\n# TYPE weft_peers gauge\n"
		   "weft_peers{state=\"enabled\"} %u\nweft_peers{state=\"disabled\"} %u\n", enabled, disabled);
	fprintf(f, "# HELP weft_peer_rx_bytes Bytes received from the peer.\n# TYPE weft_peer_rx_bytes counter\n"
		   "# HELP weft_peer_tx_bytes Bytes sent to the peer.\n# TYPE weft_peer_tx_bytes counter\n"
		   "# HELP weft_peer_handshake_age_seconds Seconds since the peer's last handshake.\n"
		   "# TYPE weft_peer_handshake_age_seconds gauge\n");
	for (size_t i = 0; c.dev && i < c.dev->n_peers; i++) {
		const struct dev_peer *dp = &c.dev->peers[i];
		const struct peer_record *rec = store_record(&c.st, dp->public_key);
		char b64[WEFT_KEY_B64_LEN + 1];

		key_to_base64(b64, dp->public_key);
		for (int k = 0; k < 3; k++) {
			static const char *const names[] = { "weft_peer_rx_bytes", "weft_peer_tx_bytes",
							     "weft_peer_handshake_age_seconds" };

			if (k == 2 && !dp->last_handshake_sec)
				continue;
			fprintf(f, "%s{public_key=\"%s\",name=\"", names[k], b64);
			label(f, rec ? rec->name : NULL);
			fprintf(f, "\"} %llu\n", (unsigned long long)(k == 0 ? dp->rx_bytes : k == 1 ? dp->tx_bytes :
								     (uint64_t)(now - dp->last_handshake_sec)));
		}
	}
	fprintf(f, "# HELP weft_api_token_uses_total Requests made with the token since the server started.\n"
		   "# TYPE weft_api_token_uses_total counter\n");
	for (uint32_t i = 0; i < api->tokens.n; i++)
		fprintf(f, "weft_api_token_uses_total{token=\"%s\"} %llu\n", api->tokens.v[i].id,
			(unsigned long long)api->tokens.v[i].uses);
	fprintf(f, "# HELP weft_api_token_peers Peers the token has enrolled.\n# TYPE weft_api_token_peers gauge\n");
	for (uint32_t i = 0; i < api->tokens.n; i++)
		fprintf(f, "weft_api_token_peers{token=\"%s\"} %u\n", api->tokens.v[i].id, api->tokens.v[i].used);
	fclose(f);
	view_close(api, r, &c);
	api_reply(r, 200, "text/plain; version=0.0.4; charset=utf-8", buf, len);
	free(buf);
	return true;
}
