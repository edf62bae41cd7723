/* cmd_ping.c: `weft ping`, round trips to a `weft serve` server's API
 * (GET /v1/ping) through the tunnel, printed the way ping(8) prints them:
 * a line per reply, then the loss and min/avg/max. A server is named by
 * its name in the client's .chain file or by its API address. Exit status
 * 0 when at least one reply came, 1 otherwise (as ping). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chain_api.h"
#include "chain_cli.h"
#include "commands.h"
#include "options.h"
#include "usage.h"

#define PING_MAX_COUNT 100000

static volatile sig_atomic_t stop;

static void on_int(int sig)
{
	(void)sig;
	stop = 1;
}

static bool parse_ms(const char *s, double max_s, int *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0) || v > max_s)
		return false;
	*ms = (int)(v * 1000 + 0.5);
	return *ms > 0;
}

int cmd_ping(int argc, char *argv[])
{
	const char *target = NULL, *iface = NULL, *v = NULL;
	uint32_t count = 3;
	int interval_ms = 1000, timeout_ms = 2000, idx = -1;
	struct conf_addr api;
	char shown[CONF_ADDR_STRLEN];
	const char *label;
	struct chain_state *st = NULL;
	double min = 0, max = 0, sum = 0;
	uint32_t sent = 0, got = 0;
	struct timespec t0, t1;

	for (int i = 1; i < argc; i++) {
		if (take_option(argc, argv, &i, "-c", &v) || take_option(argc, argv, &i, "--count", &v)) {
			if (!v || !conf_parse_uint(v, PING_MAX_COUNT, &count) || !count) {
				fprintf(stderr, "%s ping: -c: expected 1-%d requests\n", prog_name, PING_MAX_COUNT);
				return 1;
			}
		} else if (take_option(argc, argv, &i, "-i", &v) || take_option(argc, argv, &i, "--interval", &v)) {
			if (!v || !parse_ms(v, 3600, &interval_ms)) {
				fprintf(stderr, "%s ping: -i: expected seconds between requests (0.01-3600)\n", prog_name);
				return 1;
			}
		} else if (take_option(argc, argv, &i, "-W", &v) || take_option(argc, argv, &i, "--timeout", &v)) {
			if (!v || !parse_ms(v, 600, &timeout_ms)) {
				fprintf(stderr, "%s ping: -W: expected seconds to wait for a reply (up to 600)\n", prog_name);
				return 1;
			}
		} else if (take_option(argc, argv, &i, "--interface", &v)) {
			if (!v)
				return 1;
			iface = v;
		} else if (argv[i][0] != '-' && !target) {
			target = argv[i];
		} else {
			command_usage(stderr, "ping");
			return 1;
		}
	}
	if (!target) {
		command_usage(stderr, "ping");
		return 1;
	}

	/* an API address needs no state; a name is looked up in it */
	if (conf_addr_parse(&api, target)) {
		label = target;
	} else {
		struct chain_files files;
		st = malloc(sizeof(*st));
		if (!st || !chain_files_find(&files, iface, "ping") || !chain_files_load(&files, st, "ping")) {
			free(st);
			return 1;
		}
		idx = chain_state_find(st, target);
		if (idx >= 0 && st->nodes[idx].kind == CHAIN_SERVER && !st->nodes[idx].has_api) {
			fprintf(stderr, "%s ping: server %s has no API address (its config has no [Serve] API)\n",
				prog_name, st->nodes[idx].name);
			free(st);
			return 1;
		}
		if (idx < 0 || st->nodes[idx].kind != CHAIN_SERVER) {
			fprintf(stderr, "%s ping: `%s' is neither an API address nor a server of %s (see `%s status')\n",
				prog_name, target, files.state, prog_name);
			free(st);
			return 1;
		}
		api = st->nodes[idx].api;
		label = st->nodes[idx].name;
	}
	conf_addr_format(shown, &api);
	printf("PING %s (%s) API port %d: GET /v1/ping through the tunnel\n", label, shown, CHAIN_API_PORT);
	fflush(stdout);
	signal(SIGINT, on_int);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (uint32_t seq = 1; seq <= count && !stop; seq++) {
		struct chain_api_reply r;
		char err[256];
		int ret = chain_api_get(&api, "/v1/ping", timeout_ms, &r, err, sizeof(err));

		sent++;
		if (ret < 0) {
			printf("no reply seq=%u: %s\n", seq, err);
		} else if (r.status != 200 || !r.body || !strstr(r.body, "\"pong\"")) {
			printf("bad reply from %s: seq=%u %s\n", shown, seq, chain_api_error(&r));
		} else {
			double ms = r.rtt_us / 1000.0;
			if (!got || ms < min)
				min = ms;
			if (!got || ms > max)
				max = ms;
			sum += ms;
			got++;
			printf("reply from %s: seq=%u time=%.2f ms\n", shown, seq, ms);
		}
		chain_api_reply_free(&r);
		fflush(stdout);
		if (seq < count && !stop) {
			struct timespec d = { interval_ms / 1000, (long)(interval_ms % 1000) * 1000000L };
			nanosleep(&d, NULL);
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("\n--- %s API ping statistics ---\n%u requests, %u replies, %.0f%% loss, time %ldms\n", label, sent,
	       got, sent ? 100.0 * (sent - got) / sent : 0.0,
	       (long)((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000));
	if (got)
		printf("rtt min/avg/max = %.3f/%.3f/%.3f ms\n", min, sum / got, max);
	free(st);
	return got ? 0 : 1;
}
