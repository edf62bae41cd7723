/* server.c: `weft api IFACE` - the HTTP server (libmicrohttpd) in front of
 * the routes and the pages, its limits against slow (slow.h) and greedy clients,
 * optional TLS reloaded on SIGHUP, --up/--down around it, and the expiry
 * sweep. One request at a time: MHD's polling thread calls in, and
 * api->lock orders requests with the sweep and the group committer
 * (group.h), which suspends changes until their group is durable. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "group.h"
#include "server.h"
#include "util/fd_io.h"

struct conn_state {
	struct api_request r;
	size_t cap;
	bool too_big;
};

double api_mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void client_of(struct MHD_Connection *conn, char out[64])
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const struct sockaddr *sa = ci ? ci->client_addr : NULL;

	strcpy(out, "?");
	if (sa)
		getnameinfo(sa, sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
			    out, 64, NULL, 0, NI_NUMERICHOST);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
				  const char *version, const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct api *api = cls;
	struct conn_state *cs = *con_cls;
	struct api_request *r;

	if (!cs) {
		cs = calloc(1, sizeof(*cs));
		if (!cs)
			return MHD_NO;
		*con_cls = cs;
		return MHD_YES;
	}
	if (*upload_data_size) {
		/* bounded: past API_BODY_MAX the rest is read and dropped */
		if (!cs->too_big && cs->r.body_len + *upload_data_size <= API_BODY_MAX) {
			if (cs->r.body_len + *upload_data_size + 1 > cs->cap) {
				char *nb = realloc(cs->r.body, API_BODY_MAX + 1);

				if (!nb)
					return MHD_NO;
				cs->r.body = nb;
				cs->cap = API_BODY_MAX + 1;
			}
			memcpy(cs->r.body + cs->r.body_len, upload_data, *upload_data_size);
			cs->r.body_len += *upload_data_size;
		} else {
			cs->too_big = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	r = &cs->r;
	api_slow_request(&api->slow, conn, true); /* headers and body are in */
	pthread_mutex_lock(&api->lock);
	if (r->wait == API_SEND)
		goto send;
	if (r->wait == API_RERUN) {
		/* put aside during a save, resumed: its turn now */
		api_group_rerun(api, r);
		goto route;
	}
	r->conn = conn;
	r->method = method;
	r->url = url;
	if (r->body)
		r->body[r->body_len] = '\0';
	client_of(conn, r->client);
	if (!api_rate_allow(&api->rate, &api->limits, r->client, api_mono_now())) {
		api->metrics.rate_limited++;
		r->route = "rate-limited";
		api_reply_error(r, 429, "too many requests from %s; try again in a second", r->client);
		goto send;
	}
	if (cs->too_big) {
		r->route = "too-big";
		api_reply_error(r, 413, "the body is larger than %d bytes", API_BODY_MAX);
		goto send;
	}
route:
	if (strncmp(url, "/v1/", 4) && strncmp(url, "/peer/", 6) && strcmp(url, "/healthz") &&
	    strcmp(url, "/metrics") && (!strcmp(method, "GET") || !strcmp(method, "HEAD"))) {
		api_static(api, r);
	} else if (!api_group_defer(api, r)) {
		api_route(api, r);
	}
	if (r->wait == API_WAIT_SAVE || r->wait == API_WAIT_RERUN) {
		/* under the lock: the committer resumes it only after this */
		MHD_suspend_connection(conn);
		pthread_mutex_unlock(&api->lock);
		return MHD_YES;
	}
send:
	if (!r->status || !r->resp)
		api_reply_error(r, 500, "internal error");
	api_metrics_count(&api->metrics, r->route, r->status);
	if (r->resp) {
		MHD_queue_response(conn, (unsigned)r->status, r->resp);
		MHD_destroy_response(r->resp);
		r->resp = NULL;
	}
	r->wait = API_RUN;
	pthread_mutex_unlock(&api->lock);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct api *api = cls;
	struct conn_state *cs = *con_cls;

	if (!cs)
		return;
	api_slow_request(&api->slow, conn, false); /* the next request's clock starts */
	if (cs->r.resp)
		MHD_destroy_response(cs->r.resp);
	if (cs->r.body) {
		memset(cs->r.body, 0, cs->cap);
		free(cs->r.body);
	}
	free(cs);
	*con_cls = NULL;
}

static int parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(s, ':');
	char *end;
	long port;
	size_t hl;

	if (!colon)
		return -EINVAL;
	hl = (size_t)(colon - s);
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 0 || port > 65535)
		return -EINVAL;
	memset(ss, 0, sizeof(*ss));
	if (host[0] == '[' && hl > 2 && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			return -EINVAL;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*v6 = true;
		return 0;
	}
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;

	if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
		return -EINVAL;
	a4->sin_family = AF_INET;
	a4->sin_port = htons((uint16_t)port);
	*v6 = false;
	return 0;
}

static int read_pem(const char *path, char **out)
{
	size_t len;
	int fd = open(path, O_RDONLY | O_CLOEXEC), ret;

	if (fd < 0)
		return -errno;
	ret = fd_read_all(fd, 1 << 20, out, &len);
	close(fd);
	return ret;
}

static struct MHD_Daemon *start(struct api *api, const struct api_serve_opts *o, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
	char *cert = NULL, *key = NULL;
	struct MHD_Daemon *d;
	bool v6 = false;
	int ret;

	if (parse_listen(o->listen, &ss, &v6) < 0) {
		snprintf(err, errlen, "--listen: `%s' is not ADDRESS:PORT (127.0.0.1:9090, [::1]:9090)", o->listen);
		return NULL;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	if (o->tls_cert) {
		if ((ret = read_pem(o->tls_cert, &cert)) < 0 || (ret = read_pem(o->tls_key, &key)) < 0) {
			snprintf(err, errlen, "%s: %s", cert ? o->tls_key : o->tls_cert, strerror(-ret));
			free(cert);
			return NULL;
		}
		flags |= MHD_USE_TLS;
	}
	d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, api,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, api,
			     MHD_OPTION_NOTIFY_CONNECTION, api_slow_notify, &api->slow,
			     MHD_OPTION_CONNECTION_LIMIT, api->limits.max_connections,
			     MHD_OPTION_PER_IP_CONNECTION_LIMIT, api->limits.per_ip_connections,
			     MHD_OPTION_CONNECTION_TIMEOUT, api->limits.timeout,
			     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)64 * 1024,
			     cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
			     MHD_OPTION_HTTPS_MEM_KEY, key,
			     MHD_OPTION_END);
	if (key) {
		memset(key, 0, strlen(key));
		free(key);
	}
	free(cert);
	if (!d)
		snprintf(err, errlen, "cannot listen on %s%s", o->listen, o->tls_cert ? " with this certificate and key" : "");
	return d;
}

int api_serve(struct api *api, const struct api_serve_opts *o)
{
	char err[256];
	struct MHD_Daemon *d;
	sigset_t set;
	int64_t last_sweep = 0;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* before MHD's thread starts, so that it inherits the mask */
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	api_slow_init(&api->slow, api->limits.timeout);
	d = start(api, o, err, sizeof(err));
	if (!d) {
		fprintf(stderr, "weft: api: %s\n", err);
		api_slow_fini(&api->slow);
		return -EADDRNOTAVAIL;
	}
	if (api_group_start(api) < 0)
		fprintf(stderr, "weft: api: no committer thread: changes are saved one at a time\n");
	fprintf(stderr, "weft: api: %s on %s://%s\n", api->iface, o->tls_cert ? "https" : "http", o->listen);
	for (;;) {
		struct timespec ts = { 1, 0 };
		int64_t now = time(NULL);
		int sig;

		if (now - last_sweep >= 10) {
			pthread_mutex_lock(&api->lock);
			/* not while a group holds the directory lock: next time */
			if (api->group.lock < 0 && !api->group.saving) {
				api_expire(api, now);
				last_sweep = now;
			}
			pthread_mutex_unlock(&api->lock);
		}
		api_slow_sweep(&api->slow, api_mono_now());
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM || sig == SIGINT)
			break;
		if (sig == SIGHUP && o->tls_cert) {
			/* a new certificate: a new daemon on the same address,
			 * with no request left suspended in the old one */
			api_group_pause(api);
			MHD_stop_daemon(d);
			d = start(api, o, err, sizeof(err));
			api_group_resume(api);
			if (!d) {
				fprintf(stderr, "weft: api: reload: %s\n", err);
				api_group_stop(api);
				api_slow_fini(&api->slow);
				return -EIO;
			}
			fprintf(stderr, "weft: api: certificate and key reloaded\n");
		}
	}
	api_group_stop(api);
	MHD_stop_daemon(d);
	api_slow_fini(&api->slow);
	return 0;
}
