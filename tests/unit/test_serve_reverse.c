/* test_serve_reverse.c: a SOCKS5 client's connection inside `weft serve`
 * (src/serve/reverse.c), driven over a socketpair without a tunnel. The
 * RFC 1929 password never stays in the shared receive buffer: not when the
 * message is complete, not when only part of it has arrived (the part is
 * peeked, and the rest may never come), not when it is refused. */
/* serve's files are not in libweft.a: reverse.c is compiled in for its
 * static functions, the pieces it calls are linked (Makefile). */
#include "serve/reverse.c"
#include "weftd/log.c"

#include <sys/socket.h>

#include "test.h"

/* reverse.c hands finished connections to flow.c; none gets that far here. */
int flows_adopt(struct flows *fl, int stack_fd, int host_fd, int family, const uint8_t *peer,
		uint16_t peer_port, const uint8_t *self, uint16_t self_port)
{
	abort();
}

#define USER "alice"
#define PASSWORD "correct-horse-battery"

static struct reverse_settings rs;
static struct reverse r;
static int client;

/* A reverse with one SOCKS5 connection that has greeted and owes its
 * credentials; client is the other end. */
static struct rv_conn *setup(void)
{
	int sv[2];
	struct rv_conn *c = calloc(1, sizeof(*c));

	memset(&rs, 0, sizeof(rs));
	strcpy(rs.socks5_user, USER);
	strcpy(rs.socks5_password, PASSWORD);
	memset(&r, 0, sizeof(r));
	r.set = &rs;
	r.env.epfd = -1;
	r.buf = calloc(1, PKT_MAX + 1);
	if (!c || !r.buf || socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0)
		abort();
	client = sv[0];
	c->host_fd = sv[1];
	c->tun_fd = -1;
	c->socks = true;
	c->state = RV_AUTH;
	c->r = &r;
	r.conns = c;
	r.n_conns = 1;
	return c;
}

static void teardown(void)
{
	while (r.conns)
		conn_free(&r, r.conns, false);
	close(client);
	free(r.buf);
}

/* RFC 1929: version 1, ULEN, UNAME, PLEN, PASSWD; its length. */
static size_t auth_message(uint8_t *m, const char *user, const char *password)
{
	size_t ul = strlen(user), pl = strlen(password);

	m[0] = 1;
	m[1] = (uint8_t)ul;
	memcpy(m + 2, user, ul);
	m[2 + ul] = (uint8_t)pl;
	memcpy(m + 3 + ul, password, pl);
	return 3 + ul + pl;
}

static bool buf_holds(const char *secret, size_t len)
{
	return memmem(r.buf, PKT_MAX + 1, secret, len) != NULL;
}

static void partial_password_not_kept(void)
{
	struct rv_conn *c = setup();
	uint8_t m[600];
	size_t len = auth_message(m, USER, PASSWORD);

	/* all but the password's last byte: incomplete, the connection waits */
	CHECK_EQ(write(client, m, len - 1), (ssize_t)(len - 1));
	socks_readable(&r, c);
	CHECK(r.conns == c);
	CHECK_EQ(c->state, RV_AUTH);
	CHECK(!buf_holds(PASSWORD, strlen(PASSWORD) - 1));
	CHECK(!buf_holds("correct", 7));
	/* the last byte: accepted, and nothing of it left either */
	CHECK_EQ(write(client, m + len - 1, 1), 1);
	socks_readable(&r, c);
	CHECK(r.conns == c);
	CHECK_EQ(c->state, RV_REQUEST);
	CHECK(!buf_holds("correct", 7));
	uint8_t reply[2] = { 0 };
	CHECK_EQ(read(client, reply, sizeof(reply)), 2);
	CHECK_EQ(reply[1], 0);
	teardown();
}

static void wrong_password_not_kept(void)
{
	struct rv_conn *c = setup();
	uint8_t m[600];
	size_t len = auth_message(m, USER, "wrong-guess-of-mine");

	CHECK_EQ(write(client, m, len), (ssize_t)len);
	socks_readable(&r, c);
	CHECK(r.conns == NULL); /* refused and closed */
	CHECK(!buf_holds("wrong-guess", 11));
	uint8_t reply[2] = { 0 };
	CHECK_EQ(read(client, reply, sizeof(reply)), 2);
	CHECK_EQ(reply[1], 1);
	teardown();
}

/* A client that sends its password in part and then hangs up. */
static void password_then_hangup_not_kept(void)
{
	struct rv_conn *c = setup();
	uint8_t m[600];
	size_t len = auth_message(m, USER, PASSWORD);

	CHECK_EQ(write(client, m, len - 4), (ssize_t)(len - 4));
	socks_readable(&r, c);
	CHECK(r.conns == c);
	shutdown(client, SHUT_WR);
	socks_readable(&r, c);
	CHECK(!buf_holds("correct", 7));
	teardown();
}

int main(void)
{
	test_suite_name = "serve_reverse";
	log_init(LOG_SILENT, "test");
	RUN(partial_password_not_kept);
	RUN(wrong_password_not_kept);
	RUN(password_then_hangup_not_kept);
	TEST_EXIT();
}
