/* qr.h: a peer's config as a QR code (libqrencode), the way the WireGuard
 * phone apps import one: in the terminal with UTF-8 half blocks, two
 * modules a character cell, black on white whatever the terminal's colours
 * (like `qrencode -t ansiutf8`), or as a PNG picture (libpng). The text is
 * encoded exactly, byte for byte, so a scanner gives back the config. */
#ifndef WEFT_CLI_QR_H
#define WEFT_CLI_QR_H

#include <stdio.h>

/* Quiet zone around the code, in modules: ISO/IEC 18004 asks for 4; a
 * terminal gets 2, as qrencode gives it, which phones read fine. */
#define QR_MARGIN_PNG 4
#define QR_MARGIN_TERMINAL 2
#define QR_PNG_SCALE 8 /* pixels per module */

/* Writes text as a QR code to f. 0, -EFBIG (too long for a QR code),
 * -ENOMEM or -EIO. */
int qr_write_terminal(FILE *f, const char *text);

/* Writes text as a QR code into a PNG file at path, atomically and with
 * mode 0600 (a config can hold a private key). 0 or -errno as above. */
int qr_write_png(const char *path, const char *text);

#endif
