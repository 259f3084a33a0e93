/* digest: SHA-256 for content fingerprints (idempotency keys, request hashes). */
#ifndef CORE_DIGEST_H
#define CORE_DIGEST_H

#include <stddef.h>
#include <stdint.h>

/* Writes the SHA-256 of |len| bytes at |p| into |out|. */
void digest_sha256(const void *p, size_t len, uint8_t out[32]);
/* Writes the first |nchars| characters of the digest in lowercase base36-like text made of
 * [a-z0-9] (DNS-label safe) into |out| (nchars + 1 bytes, NUL-terminated; nchars <= 40). */
void digest_sha256_label(const void *p, size_t len, char *out, size_t nchars);
/* Writes the digest as 64 lowercase hex characters into |out| (65 bytes). */
void digest_sha256_hex(const void *p, size_t len, char out[65]);

#endif
