/* api.c: a chained server's API connections (see api.h): reading one
 * request, answering it, closing. */
#include "serve/api.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct api_conn {
	struct watch w;            /* first: data.ptr of its epoll event */
	int fd;                    /* -1: a free slot */
	uint64_t deadline_ms;
	char *in;                  /* API_REQUEST_MAX + 1 */
	size_t in_len;
	char *out;                 /* the answer, while it is being written */
	size_t out_len, out_off;
};

struct api {
	int epfd;
	api_handler handler;
	void *ctx;
	struct api_conn conns[API_MAX_CONNS];
	uint64_t requests;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct api *api_new(int epfd, api_handler handler, void *ctx)
{
	struct api *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->epfd = epfd;
	a->handler = handler;
	a->ctx = ctx;
	for (int i = 0; i < API_MAX_CONNS; i++)
		a->conns[i].fd = -1;
	return a;
}

static void conn_close(struct api_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->in);
	free(c->out);
	c->in = c->out = NULL;
	c->in_len = c->out_len = c->out_off = 0;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	for (int i = 0; i < API_MAX_CONNS; i++)
		conn_close(&a->conns[i]);
	free(a);
}

uint64_t api_requests(const struct api *a)
{
	return a ? a->requests : 0;
}

int api_connect(struct api *a, uint16_t port)
{
	struct api_conn *c = NULL;
	struct epoll_event ev = { .events = EPOLLIN };
	int sv[2];

	if (port != API_PORT)
		return -ECONNREFUSED;
	for (int i = 0; i < API_MAX_CONNS && !c; i++)
		if (a->conns[i].fd < 0)
			c = &a->conns[i];
	if (!c)
		return -EBUSY;
	if (!(c->in = malloc(API_REQUEST_MAX + 1)))
		return -ENOMEM;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
		int err = -errno;
		free(c->in);
		c->in = NULL;
		return err;
	}
	c->w.kind = WATCH_API;
	c->fd = sv[0];
	c->deadline_ms = mono_ms() + API_TIMEOUT_MS;
	ev.data.ptr = &c->w;
	if (epoll_ctl(a->epfd, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
		int err = -errno;
		conn_close(c);
		close(sv[1]);
		return err;
	}
	return sv[1];
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 500: return "Internal Server Error";
	default: return "Unknown";
	}
}

static void answer(struct api *a, struct api_conn *c, int status, char *body, size_t body_len)
{
	char head[256];
	int n;

	if (status == 204)
		body_len = 0;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		     "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		     status, reason(status), body_len);
	c->out = malloc((size_t)n + body_len);
	if (!c->out) {
		free(body);
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	if (body_len)
		memcpy(c->out + n, body, body_len);
	free(body);
	c->out_len = (size_t)n + body_len;
	c->out_off = 0;
	a->requests++;
}

static void error_answer(struct api *a, struct api_conn *c, int status, const char *msg)
{
	char *body = NULL;
	int n = asprintf(&body, "{\"error\": \"%s\"}\n", msg);
	answer(a, c, status, n < 0 ? NULL : body, n < 0 ? 0 : (size_t)n);
}

int api_parse(char *buf, size_t len, struct api_request *req, const char **why)
{
	char *end, *h, *sp1, *sp2, *next;
	size_t head_len, body_len = 0;

	buf[len] = '\0';
	if (memchr(buf, '\0', len)) {
		*why = "a NUL byte in the request";
		return -400;
	}
	if (!(end = strstr(buf, "\r\n\r\n"))) {
		if (len >= API_REQUEST_MAX) {
			*why = "request headers too large";
			return -413;
		}
		return 0;
	}
	head_len = (size_t)(end - buf) + 4;
	/* the header lines, after the request line, for Content-Length */
	for (h = strstr(buf, "\r\n"); h && h < end; h = next) {
		h += 2;
		next = strstr(h, "\r\n");
		if (!strncasecmp(h, "Content-Length:", 15)) {
			char *e;
			unsigned long v = strtoul(h + 15, &e, 10);
			while (*e == ' ' || *e == '\t')
				e++;
			if (e == h + 15 || e != next) {
				*why = "Content-Length: expected a number";
				return -400;
			}
			if (v > API_REQUEST_MAX) {
				*why = "request body too large";
				return -413;
			}
			body_len = v;
		} else if (!strncasecmp(h, "Transfer-Encoding:", 18)) {
			*why = "chunked bodies are not taken: send Content-Length";
			return -400;
		}
	}
	if (head_len + body_len > API_REQUEST_MAX) {
		*why = "request too large";
		return -413;
	}
	if (len < head_len + body_len)
		return 0;
	/* METHOD SP PATH SP HTTP/1.x, on the first line */
	sp1 = strchr(buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp2 > strstr(buf, "\r\n") || strncmp(sp2 + 1, "HTTP/1.", 7) || sp1 == buf ||
	    sp2 == sp1 + 1) {
		*why = "expected METHOD PATH HTTP/1.1";
		return -400;
	}
	*sp1 = *sp2 = '\0';
	buf[head_len + body_len] = '\0';
	*req = (struct api_request){ .method = buf, .path = sp1 + 1, .body = buf + head_len, .body_len = body_len };
	return 1;
}

/* A whole request in c->in? Then it is answered. */
static void try_request(struct api *a, struct api_conn *c)
{
	struct api_request req;
	const char *why = NULL;
	char *body = NULL;
	size_t out_len = 0;
	int ret = api_parse(c->in, c->in_len, &req, &why), status;

	if (ret < 0) {
		error_answer(a, c, -ret, why);
		return;
	}
	if (ret == 0)
		return;
	status = a->handler(a->ctx, &req, &body, &out_len);
	answer(a, c, status, body, out_len);
}

static void conn_write(struct api *a, struct api_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
		if (n < 0) {
			if (errno == EAGAIN) {
				struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = &c->w };
				epoll_ctl(a->epfd, EPOLL_CTL_MOD, c->fd, &ev);
				return;
			}
			break;
		}
		c->out_off += (size_t)n;
	}
	/* written (or failed): the close is the end of the answer */
	conn_close(c);
}

void api_event(struct api *a, struct watch *w, uint32_t events)
{
	struct api_conn *c = (struct api_conn *)w;

	if (c->fd < 0)
		return;
	if (c->out) {
		conn_write(a, c);
		return;
	}
	for (;;) {
		ssize_t n = read(c->fd, c->in + c->in_len, API_REQUEST_MAX - c->in_len);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->in_len += (size_t)n;
		if (c->in_len >= API_REQUEST_MAX)
			break;
	}
	try_request(a, c);
	if (c->fd >= 0 && c->out)
		conn_write(a, c);
}

uint64_t api_tick(struct api *a, uint64_t now_ms)
{
	uint64_t next = UINT64_MAX;

	if (!a)
		return next;
	for (int i = 0; i < API_MAX_CONNS; i++) {
		struct api_conn *c = &a->conns[i];
		if (c->fd < 0)
			continue;
		if (now_ms >= c->deadline_ms)
			conn_close(c);
		else if (c->deadline_ms < next)
			next = c->deadline_ms;
	}
	return next;
}
