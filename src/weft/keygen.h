/* keygen.h: fresh private keys, for genkey, `interface add` and `peer add`. */
#ifndef WEFT_CLI_KEYGEN_H
#define WEFT_CLI_KEYGEN_H

#include <stdbool.h>
#include <stdint.h>

/* A fresh clamped X25519 private key from getrandom; false with errno set. */
bool generate_private_key(uint8_t key[32]);

#endif
