/* handshake_rate.h: the handshake rate weftd gives the engine
 * (weft_device_set_handshake_rate): WEFT_HANDSHAKE_RATE when it is set,
 * else what a share of a core affords at the measured cost of X25519. */
#ifndef WEFTD_HANDSHAKE_RATE_H
#define WEFTD_HANDSHAKE_RATE_H

#define HANDSHAKE_RATE_SHARE 10    /* 1/10 of a core for handshakes before cookies */
#define HANDSHAKE_RATE_MIN 500     /* handshakes a second, whatever the measurement */
#define HANDSHAKE_RATE_PROBES 16   /* X25519s timed per round to find their cost */
#define HANDSHAKE_RATE_ENV "WEFT_HANDSHAKE_RATE"

/* The rate for this process: HANDSHAKE_RATE_ENV if it holds a whole number
 * from 0 to UINT_MAX (0: the rate rule is off); otherwise (unset, or not
 * such a number, which is logged as an error) the measured one, from
 * HANDSHAKE_RATE_MIN to WEFT_HANDSHAKE_RATE. */
unsigned handshake_rate(void);

#endif
