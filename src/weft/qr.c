/* qr.c: QR codes for peer configs (see qr.h). libqrencode lays out the
 * modules; we only draw them. The modules of a config with a private key
 * are as secret as the key, so every buffer holding them is wiped. */
#include "qr.h"

#include <errno.h>
#include <png.h>
#include <qrencode.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "util/atomic_file.h"
#include "util/wipe_realloc.h"

/* Level L, as `qrencode` and the WireGuard docs use for configs: the
 * smallest code, and a screen shows it without damage. */
#define QR_LEVEL QR_ECLEVEL_L
#define PNG_FILE_MODE 0600

/* Light modules drawn in bright white on black, so the code reads the
 * same on dark and light terminals (scanners want dark on light). */
#define ANSI_COLOURS "\033[97;40m"
#define ANSI_RESET "\033[0m"
#define BLOCK_FULL "\u2588"  /* both halves light */
#define BLOCK_UPPER "\u2580" /* upper half light */
#define BLOCK_LOWER "\u2584" /* lower half light */
#define BLOCK_NONE " "       /* both dark */

static QRcode *encode(const char *text, int *err)
{
	QRcode *qr;

	errno = 0;
	qr = QRcode_encodeString(text, 0, QR_LEVEL, QR_MODE_8, 1);
	if (!qr)
		*err = errno == ERANGE ? -EFBIG : errno == ENOMEM ? -ENOMEM : -EINVAL;
	return qr;
}

static void qr_free(QRcode *qr)
{
	memzero(qr->data, (size_t)qr->width * (size_t)qr->width);
	QRcode_free(qr);
}

/* A module is dark; anything outside the code is the light quiet zone. */
static bool dark(const QRcode *qr, int x, int y)
{
	return x >= 0 && y >= 0 && x < qr->width && y < qr->width && (qr->data[y * qr->width + x] & 1);
}

int qr_write_terminal(FILE *f, const char *text)
{
	int err = 0, m = QR_MARGIN_TERMINAL;
	QRcode *qr = encode(text, &err);

	if (!qr)
		return err;
	/* Two rows of modules per line of text: the upper in the top half of
	 * the cell, the lower in the bottom half. */
	for (int y = -m; y < qr->width + m; y += 2) {
		fputs(ANSI_COLOURS, f);
		for (int x = -m; x < qr->width + m; x++) {
			bool top = !dark(qr, x, y), bottom = !dark(qr, x, y + 1);

			fputs(top && bottom ? BLOCK_FULL : top ? BLOCK_UPPER : bottom ? BLOCK_LOWER : BLOCK_NONE, f);
		}
		fputs(ANSI_RESET "\n", f);
	}
	qr_free(qr);
	return fflush(f) || ferror(f) ? -EIO : 0;
}

/* ---- PNG ---- */

struct membuf {
	uint8_t *data;
	size_t len, cap;
	bool oom;
};

static void membuf_wipe(struct membuf *b)
{
	if (b->data)
		memzero(b->data, b->cap);
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* libpng's write callback: grow by doubling, wiping the old copy. */
static void png_append(png_structp png, png_bytep data, size_t len)
{
	struct membuf *b = png_get_io_ptr(png);

	if (b->oom)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		uint8_t *n;

		while (cap < b->len + len)
			cap *= 2;
		n = wipe_realloc(b->data, b->cap, b->len, cap);
		if (!n) {
			b->oom = true;
			return;
		}
		b->data = n;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
}

static void png_flush_nop(png_structp png)
{
	(void)png;
}

/* Renders qr as a 1-bit greyscale PNG into b. 0, -ENOMEM or -EIO. */
static int render_png(const QRcode *qr, struct membuf *b)
{
	const int m = QR_MARGIN_PNG, scale = QR_PNG_SCALE;
	const size_t side = (size_t)(qr->width + 2 * m) * scale, row_len = (side + 7) / 8;
	png_structp png = NULL;
	png_infop info = NULL;
	uint8_t *volatile row = NULL;
	volatile int ret = -EIO;

	row = malloc(row_len);
	png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
	if (png)
		info = png_create_info_struct(png);
	if (!row || !png || !info) {
		ret = -ENOMEM;
		goto out;
	}
	if (setjmp(png_jmpbuf(png)))
		goto out; /* libpng reported an error */
	png_set_write_fn(png, b, png_append, png_flush_nop);
	png_set_IHDR(png, info, (png_uint_32)side, (png_uint_32)side, 1, PNG_COLOR_TYPE_GRAY,
		     PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
	png_write_info(png, info);
	for (int y = -m; y < qr->width + m; y++) {
		/* 1 = white: start all light, clear the dark modules' bits. */
		memset(row, 0xff, row_len);
		for (int x = -m; x < qr->width + m; x++) {
			if (!dark(qr, x, y))
				continue;
			for (size_t px = (size_t)(x + m) * scale; px < (size_t)(x + m + 1) * scale; px++)
				row[px / 8] &= (uint8_t)~(0x80u >> (px % 8));
		}
		for (int k = 0; k < scale; k++)
			png_write_row(png, row);
	}
	png_write_end(png, NULL);
	ret = b->oom ? -ENOMEM : 0;
out:
	if (png)
		png_destroy_write_struct(&png, info ? &info : NULL);
	if (row)
		memzero(row, row_len);
	free(row);
	return ret;
}

int qr_write_png(const char *path, const char *text)
{
	struct membuf b = { 0 };
	int ret = 0;
	QRcode *qr = encode(text, &ret);

	if (!qr)
		return ret;
	ret = render_png(qr, &b);
	qr_free(qr);
	if (!ret)
		ret = atomic_file_create(path, b.data, b.len, PNG_FILE_MODE); /* a path the user named: no symlink followed */
	membuf_wipe(&b);
	return ret;
}
