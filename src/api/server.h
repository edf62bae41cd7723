/* server.h: running a `weft api` server (server.c). */
#ifndef WEFT_API_SERVER_H
#define WEFT_API_SERVER_H

#include "api.h"

struct api_serve_opts {
	const char *listen;   /* ADDRESS:PORT */
	const char *tls_cert; /* PEM files, or NULL for plain HTTP */
	const char *tls_key;
};

/* Serves until SIGTERM or SIGINT; SIGHUP reloads the certificate and key.
 * 0, or -errno after saying why on stderr. */
int api_serve(struct api *api, const struct api_serve_opts *o);

#endif
