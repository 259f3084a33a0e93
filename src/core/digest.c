/* digest: SHA-256 through mbedtls (the one crypto library we carry). */
#include "core/digest.h"

#include <mbedtls/sha256.h>
#include <stdlib.h>

void digest_sha256(const void *p, size_t len, uint8_t out[32])
{
    if (mbedtls_sha256_ret(p, len, out, 0) != 0)
        abort(); /* cannot fail for in-memory input */
}

void digest_sha256_label(const void *p, size_t len, char *out, size_t nchars)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t d[32];
    digest_sha256(p, len, d);
    /* 36 symbols from 8 bits each: a slight bias is harmless for a fingerprint, and 40
     * characters keep well over 128 bits. */
    for (size_t i = 0; i < nchars && i < 32; i++)
        out[i] = alphabet[d[i] % 36];
    for (size_t i = 32; i < nchars; i++)
        out[i] = alphabet[(d[i - 32] >> 4) % 36];
    out[nchars] = '\0';
}

void digest_sha256_hex(const void *p, size_t len, char out[65])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t d[32];
    digest_sha256(p, len, d);
    for (size_t i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[64] = '\0';
}
