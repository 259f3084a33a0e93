/* tls: TLS 1.2+ over memory with mbedtls. A config holds what every connection of one kind
 * shares (certificates, keys, CA, ALPN, a random generator); a session is one connection's
 * TLS state. No I/O: the caller feeds ciphertext it read from the socket, sends what
 * tls_session_pending_output() returns, and reads and writes plaintext. mbedtls stays inside
 * this module; its errors come out as negative errno values plus one line of text. */
#ifndef TLS_TLS_H
#define TLS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

struct tls_config;
struct tls_session;

/* Bytes of ciphertext a session buffers from tls_session_feed before the caller must read. */
#define TLS_INBOX_MAX (1024 * 1024)
/* Plaintext a session queues (during the handshake, or while its output is not drained). */
#define TLS_PLAINTEXT_MAX (8 * 1024 * 1024)
/* A session stops encrypting queued plaintext while this much ciphertext awaits sending. */
#define TLS_OUTPUT_HIGH_WATER (256 * 1024)

struct tls_server_opts {
    const char *cert_file;      /* PEM chain, leaf first */
    const char *key_file;       /* PEM private key matching the leaf */
    const char *client_ca_file; /* NULL: no client certificates; set: mutual TLS, a client
                                 * without a certificate signed by this CA fails the handshake */
    const char *const *alpn;    /* NULL-terminated, e.g. {"h2", NULL}; NULL: no ALPN */
};

struct tls_client_opts {
    const uint8_t *ca_pem; /* PEM bundle (several certificates allowed); NULL: no CA, which
                            * is only valid with insecure_skip_verify */
    size_t ca_pem_len;
    const uint8_t *cert_pem; /* optional client certificate chain (with key_pem) */
    size_t cert_pem_len;
    const uint8_t *key_pem;
    size_t key_pem_len;
    bool insecure_skip_verify; /* no verification of the server's certificate at all */
    const char *const *alpn;   /* NULL-terminated; NULL: no ALPN */
};

/* Builds a server config from files. Returns 0 and a config with one reference in |*out|, or
 * -ENOENT / -EINVAL with one line in |err| naming the file and what is wrong. The options
 * are copied; nothing in |opts| needs to outlive the call. */
int tls_config_new_server(const struct tls_server_opts *opts, struct tls_config **out, char *err,
                          size_t errlen);
/* Builds a client config from PEM bytes (copied). Returns 0 or -EINVAL with |err| set. */
int tls_config_new_client(const struct tls_client_opts *opts, struct tls_config **out, char *err,
                          size_t errlen);
void tls_config_ref(struct tls_config *cfg);
/* Drops one reference; the config is freed with the last one. Sessions hold a reference,
 * so a reloaded config can replace the old one for new connections while old ones finish. */
void tls_config_unref(struct tls_config *cfg);

/* Starts a session; it takes its own reference on |cfg|. |server_name| (clients only; NULL
 * for servers) is sent as SNI and is the DNS name or IP address (v4 or v6, without
 * brackets) the server certificate must carry in its subject alternative names (DNS names
 * also match the CN). For a client, the ClientHello is ready in tls_session_pending_output()
 * when this returns. Never returns NULL (allocation failure aborts). */
struct tls_session *tls_session_new(struct tls_config *cfg, const char *server_name);
void tls_session_free(struct tls_session *s);

/* Appends ciphertext read from the peer. Returns 0, or -EMSGSIZE when more than
 * TLS_INBOX_MAX bytes would be buffered (call tls_session_read until it returns 0 first). */
int tls_session_feed(struct tls_session *s, const uint8_t *data, size_t len);
/* Advances the handshake and decrypts buffered input. Returns the number of plaintext bytes
 * written to |out| (> 0), 0 when more input is needed (or the handshake is in progress),
 * -EPIPE once the peer sent close_notify, or -EPROTO on any failure (then
 * tls_session_error() says why, e.g. "certificate verify failed: ..."). Call it until it
 * returns <= 0 after each feed; it may also produce output (handshake messages). */
ssize_t tls_session_read(struct tls_session *s, uint8_t *out, size_t cap);
/* Queues plaintext for sending; it is encrypted once the handshake is done and while less
 * than TLS_OUTPUT_HIGH_WATER bytes of ciphertext are pending. Returns 0, -EMSGSIZE when
 * more than TLS_PLAINTEXT_MAX bytes would be queued, or -EPROTO after a failure. */
int tls_session_write(struct tls_session *s, const uint8_t *data, size_t len);
/* Ciphertext waiting to be sent. The view stays valid until the next call on |s|. */
struct iov tls_session_pending_output(const struct tls_session *s);
/* Marks |n| bytes of pending output as sent; encrypts more queued plaintext if any. */
void tls_session_consume_output(struct tls_session *s, size_t n);
/* Bytes accepted by tls_session_write and not yet sent (plaintext queued plus ciphertext
 * pending), for callers that apply backpressure. */
size_t tls_session_buffered(const struct tls_session *s);
bool tls_session_handshake_done(const struct tls_session *s);
/* The ALPN protocol agreed in the handshake, or NULL. Borrowed from the session's config. */
const char *tls_session_alpn(const struct tls_session *s);
/* The reason of the last failure, or NULL. Owned by the session. */
const char *tls_session_error(const struct tls_session *s);
/* Queues a close_notify alert; it follows all plaintext queued before it (so it may wait
 * for the handshake or for output to drain). Later writes fail. Returns 0 or -EPROTO. */
int tls_session_close_notify(struct tls_session *s);

#endif
