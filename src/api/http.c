/* http.c: answering a request (http.h): the body, its type, the security
 * headers every answer carries, and JSON errors. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

/* No inline script or style anywhere, no framing, nothing from elsewhere:
 * the pages are static files of this server. data: and blob: images are
 * the QR codes the enrolment page draws. */
#define API_CSP "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; " \
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

void api_security_headers(struct MHD_Response *resp)
{
	MHD_add_response_header(resp, "Content-Security-Policy", API_CSP);
	MHD_add_response_header(resp, "X-Frame-Options", "DENY");
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
	MHD_add_response_header(resp, "Cache-Control", "no-store");
}

bool api_reply(struct api_request *r, int status, const char *type, const void *body, size_t len)
{
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);

	if (!resp)
		return false;
	if (type)
		MHD_add_response_header(resp, "Content-Type", type);
	api_security_headers(resp);
	if (r->resp)
		MHD_destroy_response(r->resp);
	r->resp = resp;
	r->status = status;
	return true;
}

bool api_reply_json(struct api_request *r, int status, json_t *obj)
{
	char *text;
	bool ok;

	if (!obj)
		return api_reply_error(r, 500, "out of memory");
	text = json_dumps(obj, JSON_COMPACT);
	json_decref(obj);
	if (!text)
		return api_reply(r, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
	ok = api_reply(r, status, "application/json", text, strlen(text));
	/* may hold a private key (POST /v1/peers without a public key) */
	memset(text, 0, strlen(text));
	free(text);
	return ok;
}

bool api_reply_error(struct api_request *r, int status, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return api_reply_json(r, status, json_pack("{s:s}", "error", msg));
}

bool api_reply_empty(struct api_request *r, int status)
{
	return api_reply(r, status, NULL, "", 0);
}

const char *api_query(struct api_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *api_header(struct api_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}
