/* Unit tests for tls_config and tls_session: a client and a server session pump ciphertext
 * to each other in memory, with certificates made by openssl at test time. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "tls/tls.h"
#include "tls_test_certs.h"

static char *certs;

static const char *const alpn_h2[] = {"h2", NULL};
static const char *const alpn_h2_http[] = {"h2", "http/1.1", NULL};
static const char *const alpn_http[] = {"http/1.1", NULL};

struct pair {
    struct tls_config *server_cfg;
    struct tls_config *client_cfg;
    struct tls_session *server;
    struct tls_session *client;
    struct buf server_got; /* plaintext the server read */
    struct buf client_got;
    int server_rc; /* last non-positive read result */
    int client_rc;
};

static char *path(const char *name)
{
    static char p[2][512];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof(p[i]), "%s/%s", certs, name);
    return p[i];
}

static struct tls_config *server_config(const char *cert, const char *client_ca,
                                        const char *const *alpn)
{
    char cert_file[512], key_file[512], ca_file[512], err[256];
    struct tls_server_opts opts = {.cert_file = cert_file, .key_file = key_file, .alpn = alpn};
    struct tls_config *cfg = NULL;

    snprintf(cert_file, sizeof(cert_file), "%s/%s.crt", certs, cert);
    snprintf(key_file, sizeof(key_file), "%s/%s.key", certs, cert);
    if (client_ca != NULL) {
        snprintf(ca_file, sizeof(ca_file), "%s/%s.crt", certs, client_ca);
        opts.client_ca_file = ca_file;
    }
    err[0] = '\0';
    assert_int_equal(tls_config_new_server(&opts, &cfg, err, sizeof(err)), 0);
    assert_non_null(cfg);
    return cfg;
}

/* |ca| and |cert| name files in the cert dir without extension; NULL leaves them out. */
static struct tls_config *client_config(const char *ca, const char *cert, bool insecure,
                                        const char *const *alpn)
{
    struct tls_client_opts opts = {.insecure_skip_verify = insecure, .alpn = alpn};
    char name[64], err[256] = "";
    char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
    struct tls_config *cfg = NULL;

    if (ca != NULL) {
        snprintf(name, sizeof(name), "%s.crt", ca);
        ca_pem = tls_test_certs_read(certs, name, &opts.ca_pem_len);
        assert_non_null(ca_pem);
        opts.ca_pem = (const uint8_t *)ca_pem;
    }
    if (cert != NULL) {
        snprintf(name, sizeof(name), "%s.crt", cert);
        cert_pem = tls_test_certs_read(certs, name, &opts.cert_pem_len);
        snprintf(name, sizeof(name), "%s.key", cert);
        key_pem = tls_test_certs_read(certs, name, &opts.key_pem_len);
        assert_non_null(cert_pem);
        assert_non_null(key_pem);
        opts.cert_pem = (const uint8_t *)cert_pem;
        opts.key_pem = (const uint8_t *)key_pem;
    }
    assert_int_equal(tls_config_new_client(&opts, &cfg, err, sizeof(err)), 0);
    free(ca_pem);
    free(cert_pem);
    free(key_pem);
    return cfg;
}

static void pair_start(struct pair *p, struct tls_config *server_cfg, struct tls_config *client_cfg,
                       const char *server_name)
{
    memset(p, 0, sizeof(*p));
    p->server_cfg = server_cfg;
    p->client_cfg = client_cfg;
    p->server = tls_session_new(server_cfg, NULL);
    p->client = tls_session_new(client_cfg, server_name);
    buf_init(&p->server_got, 64 * 1024 * 1024);
    buf_init(&p->client_got, 64 * 1024 * 1024);
}

static void pair_free(struct pair *p)
{
    tls_session_free(p->server);
    tls_session_free(p->client);
    /* Sessions hold their own references, so the configs can go in either order. */
    tls_config_unref(p->server_cfg);
    tls_config_unref(p->client_cfg);
    buf_deinit(&p->server_got);
    buf_deinit(&p->client_got);
}

/* Moves every pending byte from |from| to |to| and reads |to| dry. Returns whether anything
 * moved. */
static bool transfer(struct tls_session *from, struct tls_session *to, struct buf *got, int *rc)
{
    struct iov out = tls_session_pending_output(from);
    bool moved = out.len > 0;
    uint8_t tmp[4096];
    ssize_t n;

    while (out.len > 0) {
        size_t chunk = out.len < 65536 ? out.len : 65536;
        if (*rc < 0)
            break;
        assert_int_equal(tls_session_feed(to, out.base, chunk), 0);
        tls_session_consume_output(from, chunk);
        while ((n = tls_session_read(to, tmp, sizeof(tmp))) > 0)
            assert_int_equal(buf_append(got, tmp, (size_t)n), 0);
        *rc = (int)n;
        out = tls_session_pending_output(from);
    }
    if (*rc == 0 && (n = tls_session_read(to, tmp, sizeof(tmp))) != 0) {
        if (n > 0)
            assert_int_equal(buf_append(got, tmp, (size_t)n), 0);
        *rc = n > 0 ? 0 : (int)n;
        moved = true;
    }
    return moved;
}

static void pump(struct pair *p)
{
    for (int i = 0; i < 100000; i++) {
        bool a = transfer(p->client, p->server, &p->server_got, &p->server_rc);
        bool b = transfer(p->server, p->client, &p->client_got, &p->client_rc);
        if (!a && !b)
            return;
    }
    fail_msg("pump did not settle");
}

static void test_handshake_alpn_and_data(void **state)
{
    struct pair p;
    static const char hello[] = "GET / HTTP/1.1\r\n\r\n";

    pair_start(&p, server_config("server", NULL, alpn_h2),
               client_config("ca", NULL, false, alpn_h2_http), "localhost");
    assert_false(tls_session_handshake_done(p.client));
    assert_true(tls_session_pending_output(p.client).len > 0); /* ClientHello */
    /* Written before the handshake: queued, sent after it. */
    assert_int_equal(tls_session_write(p.client, (const uint8_t *)hello, strlen(hello)), 0);
    pump(&p);
    assert_int_equal(p.client_rc, 0);
    assert_int_equal(p.server_rc, 0);
    assert_true(tls_session_handshake_done(p.client));
    assert_true(tls_session_handshake_done(p.server));
    assert_string_equal(tls_session_alpn(p.client), "h2");
    assert_string_equal(tls_session_alpn(p.server), "h2");
    assert_null(tls_session_error(p.client));
    assert_int_equal(p.server_got.len, strlen(hello));
    assert_memory_equal(p.server_got.data, hello, strlen(hello));

    assert_int_equal(tls_session_write(p.server, (const uint8_t *)"pong", 4), 0);
    pump(&p);
    assert_int_equal(p.client_got.len, 4);
    assert_memory_equal(p.client_got.data, "pong", 4);
    pair_free(&p);
}

static void test_large_transfer_and_backpressure(void **state)
{
    struct pair p;
    size_t total = 3 * 1024 * 1024 + 123;
    uint8_t *data = malloc(total);

    for (size_t i = 0; i < total; i++)
        data[i] = (uint8_t)(i * 7 + (i >> 11));
    pair_start(&p, server_config("server", NULL, NULL), client_config("ca", NULL, false, NULL),
               "kube.example");
    pump(&p);
    assert_null(tls_session_alpn(p.client));
    assert_int_equal(tls_session_write(p.server, data, total), 0);
    /* Encryption stops at the high-water mark; the rest stays queued as plaintext. */
    assert_true(tls_session_pending_output(p.server).len <= TLS_OUTPUT_HIGH_WATER + 17 * 1024);
    assert_int_equal(tls_session_buffered(p.server) >= total, true);
    pump(&p);
    assert_int_equal(tls_session_buffered(p.server), 0);
    assert_int_equal(p.client_got.len, total);
    assert_memory_equal(p.client_got.data, data, total);
    /* The plaintext queue is bounded. */
    uint8_t *big = calloc(1, TLS_PLAINTEXT_MAX + 1);
    assert_int_equal(tls_session_write(p.client, big, TLS_PLAINTEXT_MAX + 1), -EMSGSIZE);
    free(big);
    free(data);
    pair_free(&p);
}

static void test_wrong_ca(void **state)
{
    struct pair p;

    pair_start(&p, server_config("server", NULL, NULL), client_config("ca2", NULL, false, NULL),
               "localhost");
    pump(&p);
    assert_int_equal(p.client_rc, -EPROTO);
    assert_false(tls_session_handshake_done(p.client));
    assert_non_null(strstr(tls_session_error(p.client), "certificate verify failed"));
    assert_non_null(strstr(tls_session_error(p.client), "unknown issuer"));
    /* mbedtls answers a bad certificate with an alert the server reports. */
    assert_int_equal(p.server_rc, -EPROTO);
    assert_non_null(strstr(tls_session_error(p.server), "fatal alert"));
    /* A failed session stays failed. */
    assert_int_equal(tls_session_read(p.client, (uint8_t[8]){0}, 8), -EPROTO);
    assert_int_equal(tls_session_write(p.client, (const uint8_t *)"x", 1), -EPROTO);
    pair_free(&p);
}

static void test_ca_bundle_with_several_certs(void **state)
{
    struct tls_client_opts opts = {0};
    size_t l1, l2;
    char *a = tls_test_certs_read(certs, "ca2.crt", &l1);
    char *b = tls_test_certs_read(certs, "ca.crt", &l2);
    char *bundle = malloc(l1 + l2);
    struct tls_config *cfg;
    struct pair p;
    char err[256];

    memcpy(bundle, a, l1);
    memcpy(bundle + l1, b, l2);
    opts.ca_pem = (const uint8_t *)bundle;
    opts.ca_pem_len = l1 + l2;
    assert_int_equal(tls_config_new_client(&opts, &cfg, err, sizeof(err)), 0);
    pair_start(&p, server_config("server", NULL, NULL), cfg, "localhost");
    pump(&p);
    assert_true(tls_session_handshake_done(p.client));
    pair_free(&p);
    free(a);
    free(b);
    free(bundle);
}

static void expect_name_mismatch(const char *name)
{
    struct pair p;
    const char *e;

    pair_start(&p, server_config("server", NULL, NULL), client_config("ca", NULL, false, NULL),
               name);
    pump(&p);
    assert_int_equal(p.client_rc, -EPROTO);
    e = tls_session_error(p.client);
    assert_non_null(e);
    assert_non_null(strstr(e, "certificate verify failed"));
    assert_non_null(strstr(e, "CN mismatch"));
    assert_non_null(strstr(e, name));
    assert_non_null(strstr(e, "DNS:localhost, DNS:kube.example, IP:127.0.0.1, IP:::1"));
    assert_null(strstr(e, "unknown issuer"));
    pair_free(&p);
}

static void expect_name_match(const char *name)
{
    struct pair p;

    pair_start(&p, server_config("server", NULL, NULL), client_config("ca", NULL, false, NULL),
               name);
    pump(&p);
    assert_int_equal(p.client_rc, 0);
    assert_true(tls_session_handshake_done(p.client));
    pair_free(&p);
}

static void test_hostname(void **state)
{
    expect_name_match("localhost");
    expect_name_match("kube.example");
    expect_name_mismatch("other.example");
    /* An address never matches a DNS SAN or the CN. */
    expect_name_mismatch("server");
}

static void test_ip_san(void **state)
{
    expect_name_match("127.0.0.1");
    expect_name_match("::1");
    expect_name_match("[::1]");
    expect_name_mismatch("127.0.0.2");
    expect_name_mismatch("::2");
}

static void test_insecure_skip_verify(void **state)
{
    struct pair p;

    pair_start(&p, server_config("server", NULL, alpn_h2), client_config(NULL, NULL, true, alpn_h2),
               "wrong.example");
    pump(&p);
    assert_true(tls_session_handshake_done(p.client));
    assert_string_equal(tls_session_alpn(p.client), "h2");
    pair_free(&p);
    pair_start(&p, server_config("server", NULL, NULL), client_config("ca2", NULL, true, NULL),
               "10.1.1.1");
    pump(&p);
    assert_true(tls_session_handshake_done(p.client));
    pair_free(&p);
}

static void test_mtls(void **state)
{
    struct pair p;

    /* With a client certificate from the trusted CA. */
    pair_start(&p, server_config("server", "ca", alpn_h2),
               client_config("ca", "client", false, alpn_h2), "localhost");
    assert_int_equal(tls_session_write(p.server, (const uint8_t *)"hi", 2), 0);
    pump(&p);
    assert_true(tls_session_handshake_done(p.server));
    assert_int_equal(p.client_got.len, 2);
    pair_free(&p);

    /* Without one: refused at the handshake. */
    pair_start(&p, server_config("server", "ca", alpn_h2),
               client_config("ca", NULL, false, alpn_h2), "localhost");
    pump(&p);
    assert_int_equal(p.server_rc, -EPROTO);
    assert_false(tls_session_handshake_done(p.server));
    assert_string_equal(tls_session_error(p.server), "peer did not return a certificate");
    assert_int_equal(p.client_rc, -EPROTO);
    assert_string_equal(tls_session_error(p.client),
                        "peer sent fatal alert 40 (handshake_failure)");
    pair_free(&p);

    /* With one from another CA. */
    pair_start(&p, server_config("server", "ca", NULL), client_config("ca", "client2", false, NULL),
               "localhost");
    pump(&p);
    assert_int_equal(p.server_rc, -EPROTO);
    assert_non_null(strstr(tls_session_error(p.server), "certificate verify failed"));
    assert_non_null(strstr(tls_session_error(p.server), "unknown issuer"));
    pair_free(&p);
}

static void test_alpn_mismatch(void **state)
{
    struct pair p;

    pair_start(&p, server_config("server", NULL, alpn_h2),
               client_config("ca", NULL, false, alpn_http), "localhost");
    pump(&p);
    assert_int_equal(p.server_rc, -EPROTO);
    assert_int_equal(p.client_rc, -EPROTO);
    assert_non_null(strstr(tls_session_error(p.client), "no_application_protocol"));
    pair_free(&p);
}

static void test_close_notify(void **state)
{
    struct pair p;

    pair_start(&p, server_config("server", NULL, NULL), client_config("ca", NULL, false, NULL),
               "localhost");
    assert_int_equal(tls_session_write(p.client, (const uint8_t *)"bye", 3), 0);
    /* Queued behind the plaintext, which waits for the handshake. */
    assert_int_equal(tls_session_close_notify(p.client), 0);
    assert_int_equal(tls_session_write(p.client, (const uint8_t *)"x", 1), -EPROTO);
    pump(&p);
    assert_int_equal(p.server_got.len, 3);
    assert_int_equal(p.server_rc, -EPIPE);
    assert_null(tls_session_error(p.server));
    pair_free(&p);
}

static void test_inbox_bound(void **state)
{
    struct tls_config *cfg = server_config("server", NULL, NULL);
    struct tls_session *s = tls_session_new(cfg, NULL);
    uint8_t *junk = calloc(1, TLS_INBOX_MAX + 1);

    assert_int_equal(tls_session_feed(s, junk, TLS_INBOX_MAX + 1), -EMSGSIZE);
    assert_int_equal(tls_session_feed(s, junk, 100), 0);
    /* Zeros are not a TLS record. */
    assert_int_equal(tls_session_read(s, junk, 100), -EPROTO);
    assert_non_null(strstr(tls_session_error(s), "TLS handshake failed"));
    tls_session_free(s);
    tls_config_unref(cfg);
    free(junk);
}

static void test_config_errors(void **state)
{
    char cert[512], key[512], err[256];
    struct tls_server_opts sopts = {.cert_file = cert, .key_file = key};
    struct tls_client_opts copts = {0};
    struct tls_config *cfg = NULL;

    snprintf(cert, sizeof(cert), "%s", path("nope.crt"));
    snprintf(key, sizeof(key), "%s", path("server.key"));
    assert_int_equal(tls_config_new_server(&sopts, &cfg, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "nope.crt"));
    assert_null(cfg);

    snprintf(cert, sizeof(cert), "%s", path("server.key")); /* a key is not a certificate */
    assert_int_equal(tls_config_new_server(&sopts, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no valid certificate"));

    snprintf(cert, sizeof(cert), "%s", path("server.crt"));
    snprintf(key, sizeof(key), "%s", path("client.key"));
    assert_int_equal(tls_config_new_server(&sopts, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "does not match the certificate"));

    assert_int_equal(tls_config_new_client(&copts, &cfg, err, sizeof(err)), -EINVAL);
    assert_string_equal(err, "no CA certificates to verify the server with");
    copts.ca_pem =
        (const uint8_t *)"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    copts.ca_pem_len = strlen((const char *)copts.ca_pem);
    assert_int_equal(tls_config_new_client(&copts, &cfg, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "CA bundle: no valid certificate"));
    assert_null(cfg);
}

static int setup(void **state)
{
    certs = tls_test_certs_make();
    return certs == NULL ? -1 : 0;
}

static int teardown(void **state)
{
    tls_test_certs_remove(certs);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_handshake_alpn_and_data),
        cmocka_unit_test(test_large_transfer_and_backpressure),
        cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_ca_bundle_with_several_certs),
        cmocka_unit_test(test_hostname),
        cmocka_unit_test(test_ip_san),
        cmocka_unit_test(test_insecure_skip_verify),
        cmocka_unit_test(test_mtls),
        cmocka_unit_test(test_alpn_mismatch),
        cmocka_unit_test(test_close_notify),
        cmocka_unit_test(test_inbox_bound),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
