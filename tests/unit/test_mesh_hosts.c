/* test_mesh_hosts.c: the marked block of a mesh in a hosts file, against
 * golden files in tests/unit/golden/ (mesh-hosts-*): appended to a file
 * without one (other meshes' blocks, CRLF lines and a missing final newline
 * kept), replaced in place, removed; and written atomically to a file.
 * WEFT_GOLDEN_UPDATE=1 rewrites the expected files from the code (review
 * the diff before committing). */
#include <arpa/inet.h>
#include <errno.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mesh/hosts.h"
#include "golden.h"
#include "test.h"


static struct mesh_host hosts[3];

static void make_hosts(void)
{
	memset(hosts, 0, sizeof(hosts));
	strcpy(hosts[0].name, "web-2"), hosts[0].family = AF_INET;
	inet_pton(AF_INET, "10.42.3.4", hosts[0].addr);
	strcpy(hosts[1].name, "db"), hosts[1].family = AF_INET6;
	inet_pton(AF_INET6, "fd00:42::7", hosts[1].addr);
	strcpy(hosts[2].name, "db"), hosts[2].family = AF_INET;
	inet_pton(AF_INET, "10.42.0.9", hosts[2].addr);
}

static void append_block(void)
{
	size_t in_len, len;
	char *in = golden_read(GOLDEN "mesh-hosts-in", &in_len), *out;

	CHECK(in != NULL);
	if (!in)
		return;
	make_hosts();
	CHECK_EQ(mesh_hosts_render(in, in_len, "lab", hosts, 3, &out, &len), 0);
	golden_check("mesh-hosts-appended", out, len);
	/* everything before the block is the input, byte for byte */
	CHECK(len > in_len && !memcmp(out, in, in_len));
	/* rendering again over the output changes nothing */
	char *again;
	size_t again_len;
	CHECK_EQ(mesh_hosts_render(out, len, "lab", hosts, 3, &again, &again_len), 0);
	CHECK(again_len == len && !memcmp(again, out, len));
	/* and removing the block gives the input back (but for the newline
	 * the append gave the last line) */
	char *removed;
	size_t removed_len;
	CHECK_EQ(mesh_hosts_render(out, len, "lab", NULL, 0, &removed, &removed_len), 0);
	CHECK(removed_len == in_len + 1 && !memcmp(removed, in, in_len) && removed[in_len] == '\n');
	free(in), free(out), free(again), free(removed);
}

static void replace_block(void)
{
	size_t in_len, len;
	char *in = golden_read(GOLDEN "mesh-hosts-block-in", &in_len), *out;

	CHECK(in != NULL);
	if (!in)
		return;
	make_hosts();
	CHECK_EQ(mesh_hosts_render(in, in_len, "lab", hosts, 2, &out, &len), 0);
	golden_check("mesh-hosts-replaced", out, len);
	free(out);
	CHECK_EQ(mesh_hosts_render(in, in_len, "lab", NULL, 0, &out, &len), 0);
	golden_check("mesh-hosts-removed", out, len);
	free(out);
	free(in);
}

static void refused(void)
{
	char *out;
	size_t len;
	const char *unended = "a\n# BEGIN weft mesh lab\n10.0.0.1\tx.lab\n";
	const char *twice = "# BEGIN weft mesh lab\n# END weft mesh lab\n# BEGIN weft mesh lab\n# END weft mesh lab\n";
	const char *stray_end = "# END weft mesh lab\n";

	make_hosts();
	CHECK_EQ(mesh_hosts_render(unended, strlen(unended), "lab", hosts, 1, &out, &len), -EINVAL);
	CHECK_EQ(mesh_hosts_render(twice, strlen(twice), "lab", hosts, 1, &out, &len), -EINVAL);
	CHECK_EQ(mesh_hosts_render(stray_end, strlen(stray_end), "lab", hosts, 1, &out, &len), -EINVAL);
	CHECK_EQ(mesh_hosts_render("", 0, "Bad Mesh", hosts, 1, &out, &len), -EINVAL);
	struct mesh_host bad = hosts[0];
	strcpy(bad.name, "evil\n1.2.3.4 bank");
	CHECK_EQ(mesh_hosts_render("", 0, "lab", &bad, 1, &out, &len), -EINVAL);
	CHECK(out == NULL);
	/* a block of a mesh whose name only starts the same is not ours */
	const char *labx = "# BEGIN weft mesh lab-x\n# END weft mesh lab-x\n";
	CHECK_EQ(mesh_hosts_render(labx, strlen(labx), "lab", hosts, 1, &out, &len), 0);
	CHECK(len > strlen(labx) && !memcmp(out, labx, strlen(labx)));
	free(out);
}

static void write_file(void)
{
	char dir[] = "/tmp/weft-mesh-hosts-XXXXXX", path[64];
	struct stat st;
	size_t len;
	char *text;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/hosts", dir);
	make_hosts();
	CHECK_EQ(mesh_hosts_write(path, "lab", hosts, 1), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
	text = golden_read(path, &len);
	CHECK(text && !strcmp(text, "# BEGIN weft mesh lab\n10.42.3.4\tweb-2.lab\n# END weft mesh lab\n"));
	free(text);
	CHECK(chmod(path, 0640) == 0);
	CHECK_EQ(mesh_hosts_write(path, "lab", hosts, 3), 0);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0640);
	CHECK_EQ(mesh_hosts_write(path, "lab", NULL, 0), 0);
	text = golden_read(path, &len);
	CHECK(text && len == 0);
	free(text);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	test_suite_name = "mesh_hosts";
	RUN(append_block);
	RUN(replace_block);
	RUN(refused);
	RUN(write_file);
	TEST_EXIT();
}
