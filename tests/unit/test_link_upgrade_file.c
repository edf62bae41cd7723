/* test_link_upgrade_file: the reader of `weft link upgrade` peer files - a
 * minimal file, weft's [Link] section and Wirescale's [Wirescale] file read
 * unchanged, each compared with a golden dump (tests/unit/golden/link-*;
 * WEFT_GOLDEN_UPDATE=1 rewrites them); and errors that name file and line. */
#include <errno.h>

#include "link/upgrade_file.h"
#include "golden.h"
#include "test.h"


/* The [Link] settings, then the wg-quick part as conf_write gives it. */
static char *dump(const struct link_file *lf, size_t *len)
{
	char *text = NULL, *out;
	size_t tlen = 0;

	if (conf_write(&lf->conf, 0, &text, &tlen))
		return NULL;
	out = calloc(1, tlen + 512);
	if (out)
		*len = (size_t)sprintf(out, "wirescale=%d iface=%s recover=%d recreate=%d idle=%u port=%u suffix=%d iptables=%d peer_key=%d\n%s",
				       lf->wirescale, lf->iface, lf->recover_tries, lf->recreate_tries,
				       lf->idle_remove, lf->control_port, lf->suffix, lf->iptables,
				       lf->peer_has_key, text);
	conf_text_free(text, tlen);
	return out;
}

static void golden_case(const char *base)
{
	char in[256], gold[256], err[CONF_ERR_LEN] = "";
	struct link_file lf;
	size_t len, dlen = 0;
	char *text, *d;

	snprintf(in, sizeof(in), GOLDEN "%s.conf.in", base);
	snprintf(gold, sizeof(gold), "%s.dump", base);
	text = golden_read(in, &len);
	CHECK(text != NULL);
	if (!text)
		return;
	int ret = link_file_parse(&lf, text, len, in, err, sizeof(err));
	if (ret)
		fprintf(stderr, "  %s\n", err);
	CHECK_EQ(ret, 0);
	free(text);
	if (ret)
		return;
	d = dump(&lf, &dlen);
	CHECK(d != NULL);
	link_file_free(&lf);
	if (!d)
		return;
	golden_check(gold, d, dlen);
	free(d);
}

static void test_minimal(void) { golden_case("link-minimal"); }
static void test_full(void) { golden_case("link-full"); }
static void test_wirescale(void) { golden_case("link-wirescale"); }

/* Each bad file fails with -EINVAL and a message with "name:LINE:". */
static void bad(const char *text, const char *where, const char *what)
{
	char err[CONF_ERR_LEN] = "";
	struct link_file lf;
	int ret = link_file_parse(&lf, text, strlen(text), "bob.conf", err, sizeof(err));

	CHECK_EQ(ret, -EINVAL);
	CHECK(strstr(err, where) == err);
	CHECK(strstr(err, what) != NULL);
	if (ret == 0)
		link_file_free(&lf);
	else if (strstr(err, where) != err || !strstr(err, what))
		fprintf(stderr, "  got '%s', want '%s' ... '%s'\n", err, where, what);
}

static void test_errors(void)
{
	bad("[Interface]\nAddress = 10.0.0.1/32\n[Peer]\nAllowedIPs = 10.0.0.2/32\n[Link]\nRecoverTries = lots\n",
	    "bob.conf:6:", "RecoverTries");
	bad("[Interface]\nAddress = 10.0.0.1/32\n[Peer]\nAllowedIPs = 10.0.0.2/32\n[Wirescale]\nRecoverTries = 2\n",
	    "bob.conf:6:", "unknown key");
	bad("[Link]\nIdleRemove = 5x\n[Interface]\nAddress = 10.0.0.1/32\n[Peer]\nAllowedIPs = 10.0.0.2/32\n",
	    "bob.conf:2:", "IdleRemove");
	bad("[Link]\nInterface = much-too-long-name\n[Interface]\n[Peer]\nAllowedIPs = 10.0.0.2/32\n",
	    "bob.conf:2:", "interface name");
	/* the wg-quick part keeps the file's line numbers with [Link] first */
	bad("[Link]\nInterface = bob0\n\n[Interface]\nAddress = nonsense\n[Peer]\nAllowedIPs = 10.0.0.2/32\n",
	    "bob.conf:5:", "Address");
	bad("[Interface]\nAddress = 10.0.0.1/32\n[Peer]\nAllowedIPs = 10.0.0.2/32\n[Peer]\nAllowedIPs = 10.0.0.3/32\n",
	    "bob.conf:5:", "second [Peer]");
	bad("[Interface]\nAddress = 10.0.0.1/32\n", "bob.conf:", "no [Peer]");
	bad("[Link]\nInterface = a\n[Link]\n[Interface]\n[Peer]\n", "bob.conf:3:", "second [Link]");
}

int main(void)
{
	RUN(test_minimal);
	RUN(test_full);
	RUN(test_wirescale);
	RUN(test_errors);
	TEST_EXIT();
}
