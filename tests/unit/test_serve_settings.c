/* test_serve_settings.c: `weft serve`'s settings (src/serve/settings.c):
 * the [Serve] section beside a wg-quick file, errors naming file and line,
 * a readable key file refused, WEFT_* variables over the file. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "serve/settings.h"
#include "test.h"

#define KEY_A "YAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
#define KEY_B "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

static char dir[] = "/tmp/weft-serve-settings.XXXXXX";

static const char *write_file(const char *name, const char *text, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		fprintf(stderr, "  cannot write %s\n", path);
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
	return path;
}

static void clear_env(void)
{
	static const char *const vars[] = { "WEFT_CONFIG", "WEFT_PRIVATE_KEY", "WEFT_PRIVATE_KEY_FILE",
		"WEFT_LISTEN_PORT", "WEFT_ADDRESS", "WEFT_PEER_PUBLIC_KEY", "WEFT_PEER_ALLOWED_IPS", "WEFT_STACK",
		"WEFT_ALLOW", "WEFT_DENY", "WEFT_SERVER_LOOPBACK", "WEFT_MAX_FLOWS", "WEFT_MAX_FLOWS_PER_PEER",
		"WEFT_TCP_IDLE_TIMEOUT", "WEFT_UDP_IDLE_TIMEOUT", "WEFT_MAX_MEMORY" };
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

static struct serve_settings s;
static char err[CONF_ERR_LEN];

static void file_with_serve_section(void)
{
	const char *path = write_file("a.conf",
		"[Interface]\nPrivateKey = " KEY_A "\nListenPort = 51999\n\n"
		"[Serve]\nStack = lwip\nDeny = 10.0.0.0/8, fd00::/8 # comment\nAllow = 10.1.0.0/16\n"
		"ServerLoopback = yes\nMaxFlows = 100\nMaxFlowsPerPeer = 10\nTCPIdleTimeout = 60\n"
		"UDPIdleTimeout = 30\nMaxMemory = 8\n\n"
		"[Peer]\nPublicKey = " KEY_B "\nAllowedIPs = 10.99.0.2/32\n", 0600);
	uint8_t a[16] = { 10, 1, 2, 3 }, b[16] = { 10, 2, 0, 1 };

	clear_env();
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), 0);
	CHECK_EQ(s.conf.iface.listen_port, 51999);
	CHECK_EQ(s.conf.n_peers, 1);
	CHECK_EQ(s.stack, SERVE_STACK_LWIP);
	CHECK(s.server_loopback);
	CHECK_EQ(s.max_flows, 100);
	CHECK_EQ(s.max_flows_per_peer, 10);
	CHECK_EQ(s.tcp_idle_s, 60);
	CHECK_EQ(s.udp_idle_s, 30);
	CHECK_EQ(s.max_memory, 8u << 20);
	CHECK(guard_allows(&s.guard, AF_INET, a));
	CHECK(!guard_allows(&s.guard, AF_INET, b));
	settings_free(&s);
}

static void errors_name_file_and_line(void)
{
	const char *path = write_file("b.conf",
		"[Interface]\nPrivateKey = " KEY_A "\n[Serve]\nStack = turbo\n", 0600);

	clear_env();
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "b.conf:4: Stack: expected auto, kernel or lwip") != NULL);
	settings_free(&s);

	path = write_file("c.conf", "[Interface]\nPrivateKey = " KEY_A "\n[Serve]\nBogus = 1\n", 0600);
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "c.conf:4: Bogus") != NULL);
	settings_free(&s);

	/* the wg-quick part keeps its line numbers past a [Serve] section */
	path = write_file("d.conf", "[Serve]\nStack = auto\n\n[Interface]\nPrivateKey = nonsense\n", 0600);
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "d.conf:5") != NULL);
	settings_free(&s);

	path = write_file("e.conf", "[Interface]\nPrivateKey = " KEY_A "\n", 0600);
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no peer") != NULL);
	settings_free(&s);
}

static void readable_key_file_refused(void)
{
	const char *path = write_file("f.conf",
		"[Interface]\nPrivateKey = " KEY_A "\n[Peer]\nPublicKey = " KEY_B "\nAllowedIPs = 10.99.0.2/32\n", 0644);

	clear_env();
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), -EPERM);
	CHECK(strstr(err, "chmod 600") != NULL);
	CHECK(strstr(err, "YAnz") == NULL); /* never the key in a message */
	settings_free(&s);

	/* a file without a key may be readable */
	char conf_path[256], keypath[256];
	snprintf(conf_path, sizeof(conf_path), "%s", write_file("g.conf",
		 "[Interface]\nListenPort = 51998\n[Peer]\nPublicKey = " KEY_B "\nAllowedIPs = 10.99.0.2/32\n", 0644));
	snprintf(keypath, sizeof(keypath), "%s", write_file("key", KEY_A "\n", 0600));
	path = conf_path;
	setenv("WEFT_PRIVATE_KEY_FILE", keypath, 1);
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), 0);
	CHECK(s.conf.iface.has_private_key);
	settings_free(&s);

	chmod(keypath, 0640);
	CHECK_EQ(settings_load(&s, path, err, sizeof(err)), -EPERM);
	settings_free(&s);
	clear_env();
}

static void environment_only(void)
{
	clear_env();
	setenv("WEFT_PRIVATE_KEY", KEY_A, 1);
	setenv("WEFT_PEER_PUBLIC_KEY", KEY_B, 1);
	setenv("WEFT_PEER_ALLOWED_IPS", "10.99.0.2/32, fd99::2/128", 1);
	setenv("WEFT_LISTEN_PORT", "40000", 1);
	setenv("WEFT_STACK", "kernel", 1);
	setenv("WEFT_DENY", "192.0.2.0/24", 1);
	CHECK_EQ(settings_load(&s, NULL, err, sizeof(err)), 0);
	CHECK_EQ(s.conf.iface.listen_port, 40000);
	CHECK_EQ(s.stack, SERVE_STACK_KERNEL);
	CHECK_EQ(s.conf.n_peers, 1);
	CHECK_EQ(s.conf.n_peers ? s.conf.peers[0].allowed_ips.n : 0, 2);
	uint8_t a[16] = { 192, 0, 2, 9 };
	CHECK(!guard_allows(&s.guard, AF_INET, a));
	settings_free(&s);

	setenv("WEFT_MAX_FLOWS", "0", 1);
	CHECK_EQ(settings_load(&s, NULL, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "WEFT_MAX_FLOWS") != NULL);
	settings_free(&s);
	clear_env();
	CHECK_EQ(settings_load(&s, NULL, err, sizeof(err)), -EINVAL);
	CHECK(strstr(err, "no private key") != NULL);
	settings_free(&s);
}

int main(void)
{
	test_suite_name = "serve_settings";
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	RUN(file_with_serve_section);
	RUN(errors_name_file_and_line);
	RUN(readable_key_file_refused);
	RUN(environment_only);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	TEST_EXIT();
}
