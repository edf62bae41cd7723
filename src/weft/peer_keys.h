/* peer_keys.h: the private keys weft generates for peers, kept so that
 * `peer config` can print a peer's config again: one 0600 file per peer,
 * named after its public key (base64url, as file names cannot hold '/'),
 * in a 0700 directory beside the interface's config: IFACE.peers/KEY.key.
 * conf_path below is the interface's config file. */
#ifndef WEFT_CLI_PEER_KEYS_H
#define WEFT_CLI_PEER_KEYS_H

#include <stdbool.h>
#include <stdint.h>

/* Stores priv as pub's private key (atomically, 0600). 0 or -errno. */
int peer_key_write(const char *conf_path, const uint8_t pub[32], const uint8_t priv[32]);

/* The stored private key of pub: true when there is one and it matches
 * (a file that does not is reported and ignored). */
bool peer_key_read(const char *conf_path, const uint8_t pub[32], uint8_t priv[32]);

/* pub has a key file. */
bool peer_key_exists(const char *conf_path, const uint8_t pub[32]);

/* Deletes pub's key file, if any (a failure is reported as a warning). */
void peer_key_remove(const char *conf_path, const uint8_t pub[32]);

#endif
