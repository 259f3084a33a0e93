/* tls_int: the config internals that config.c builds and session.c uses. Not for other
 * modules: they see only tls.h. */
#ifndef TLS_TLS_INT_H
#define TLS_TLS_INT_H

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "tls/tls.h"

struct tls_config {
    int refs;
    bool is_server;
    bool verify_peer; /* client: verify the server; server: require a client cert */
    mbedtls_ssl_config ssl;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg; /* one per config: sessions share it on the one loop */
    mbedtls_x509_crt ca;
    mbedtls_x509_crt own_cert;
    mbedtls_pk_context own_key;
    char **alpn; /* NULL-terminated copy; mbedtls keeps a pointer to it */
};

/* Writes a short description of mbedtls error |ret| into |out|. */
void tls_strerror(int ret, char *out, size_t outlen);

#endif
