/* tls_config: what every TLS connection of one side shares — certificates, key, CA chain,
 * ALPN list and a seeded random generator — reference-counted so a reload can replace it
 * while existing sessions keep the old one. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "tls/tls_int.h"

/* Certificate and key files are small; anything larger is not one. */
#define TLS_FILE_MAX (1024 * 1024)

static const char drbg_personalization[] = "jobscheduler-tls";

void tls_strerror(int ret, char *out, size_t outlen)
{
    mbedtls_strerror(ret, out, outlen);
    if (out[0] == '\0')
        snprintf(out, outlen, "mbedtls error -0x%04x", (unsigned)-ret);
}

static struct tls_config *config_alloc(bool is_server)
{
    struct tls_config *cfg = xcalloc(1, sizeof(*cfg));
    int ret;

    cfg->refs = 1;
    cfg->is_server = is_server;
    mbedtls_ssl_config_init(&cfg->ssl);
    mbedtls_entropy_init(&cfg->entropy);
    mbedtls_ctr_drbg_init(&cfg->drbg);
    mbedtls_x509_crt_init(&cfg->ca);
    mbedtls_x509_crt_init(&cfg->own_cert);
    mbedtls_pk_init(&cfg->own_key);
    /* Seeding fails only when the kernel's entropy source does, and defaults only on
     * allocation failure: neither leaves a usable process, as with xmalloc. */
    ret = mbedtls_ctr_drbg_seed(&cfg->drbg, mbedtls_entropy_func, &cfg->entropy,
                                (const unsigned char *)drbg_personalization,
                                sizeof(drbg_personalization) - 1);
    if (ret == 0)
        ret = mbedtls_ssl_config_defaults(&cfg->ssl,
                                          is_server ? MBEDTLS_SSL_IS_SERVER : MBEDTLS_SSL_IS_CLIENT,
                                          MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
    if (ret != 0) {
        char msg[128];
        tls_strerror(ret, msg, sizeof(msg));
        log_error("tls", "cannot initialise mbedtls", LOG_STR("error", msg));
        abort();
    }
    mbedtls_ssl_conf_rng(&cfg->ssl, mbedtls_ctr_drbg_random, &cfg->drbg);
    mbedtls_ssl_conf_min_version(&cfg->ssl, MBEDTLS_SSL_MAJOR_VERSION_3,
                                 MBEDTLS_SSL_MINOR_VERSION_3);
    /* Renegotiation is a DoS and confusion vector with nothing to gain for us. */
    mbedtls_ssl_conf_renegotiation(&cfg->ssl, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
    return cfg;
}

static void config_free(struct tls_config *cfg)
{
    mbedtls_ssl_config_free(&cfg->ssl);
    mbedtls_pk_free(&cfg->own_key);
    mbedtls_x509_crt_free(&cfg->own_cert);
    mbedtls_x509_crt_free(&cfg->ca);
    mbedtls_ctr_drbg_free(&cfg->drbg);
    mbedtls_entropy_free(&cfg->entropy);
    if (cfg->alpn != NULL) {
        for (char **p = cfg->alpn; *p != NULL; p++)
            free(*p);
        free(cfg->alpn);
    }
    free(cfg);
}

void tls_config_ref(struct tls_config *cfg)
{
    cfg->refs++;
}

void tls_config_unref(struct tls_config *cfg)
{
    if (cfg == NULL)
        return;
    if (--cfg->refs == 0)
        config_free(cfg);
}

/* Reads a whole small file into a NUL-terminated buffer the caller frees. */
static int read_file(const char *path, uint8_t **data, size_t *len, char *err, size_t errlen)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = 0;

    if (fd < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
        return rc;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > TLS_FILE_MAX) {
        snprintf(err, errlen, "%s is not a regular file of at most %d bytes", path, TLS_FILE_MAX);
        rc = -EINVAL;
        goto out_close;
    }
    *data = xmalloc((size_t)st.st_size + 1);
    ssize_t n = read(fd, *data, (size_t)st.st_size);
    if (n != st.st_size) {
        rc = n < 0 ? -errno : -EIO;
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
        free(*data);
        goto out_close;
    }
    (*data)[n] = '\0';
    *len = (size_t)n;
out_close:
    close(fd);
    return rc;
}

/* mbedtls parses PEM only from a NUL-terminated buffer whose length counts the NUL, and DER
 * only from a buffer of the exact length; this picks the right form for either input. */
static uint8_t *pem_or_der(const uint8_t *data, size_t len, size_t *outlen)
{
    uint8_t *copy = (uint8_t *)xmemdup0(data, len);

    *outlen = memmem(data, len, "-----BEGIN", 10) != NULL ? len + 1 : len;
    return copy;
}

static int parse_certs(mbedtls_x509_crt *chain, const uint8_t *data, size_t len, const char *what,
                       char *err, size_t errlen)
{
    size_t n;
    uint8_t *copy = pem_or_der(data, len, &n);
    int ret = mbedtls_x509_crt_parse(chain, copy, n);
    char msg[128];

    free(copy);
    if (ret == 0)
        return 0;
    if (ret > 0 && chain->version != 0) {
        /* A CA bundle may carry certificates mbedtls cannot parse (unusual algorithms);
         * the others still work, as with OpenSSL-based clients. */
        log_warn("tls", "skipped unparsable certificates", LOG_STR("source", what),
                 LOG_INT("skipped", ret));
        return 0;
    }
    if (ret > 0)
        snprintf(err, errlen, "%s: no valid certificate", what);
    else {
        tls_strerror(ret, msg, sizeof(msg));
        snprintf(err, errlen, "%s: no valid certificate (%s)", what, msg);
    }
    return -EINVAL;
}

static int parse_key(mbedtls_pk_context *pk, const uint8_t *data, size_t len, const char *what,
                     char *err, size_t errlen)
{
    size_t n;
    uint8_t *copy = pem_or_der(data, len, &n);
    int ret = mbedtls_pk_parse_key(pk, copy, n, NULL, 0);
    char msg[128];

    mbedtls_platform_zeroize(copy, len);
    free(copy);
    if (ret == 0)
        return 0;
    tls_strerror(ret, msg, sizeof(msg));
    snprintf(err, errlen, "%s: not a valid private key (%s)", what, msg);
    return -EINVAL;
}

static int set_own_cert(struct tls_config *cfg, const char *cert_what, const char *key_what,
                        char *err, size_t errlen)
{
    int ret = mbedtls_pk_check_pair(&cfg->own_cert.pk, &cfg->own_key);

    if (ret != 0) {
        snprintf(err, errlen, "%s: private key does not match the certificate in %s", key_what,
                 cert_what);
        return -EINVAL;
    }
    if (mbedtls_ssl_conf_own_cert(&cfg->ssl, &cfg->own_cert, &cfg->own_key) != 0) {
        snprintf(err, errlen, "%s: cannot use the certificate", cert_what);
        return -EINVAL;
    }
    return 0;
}

static int set_alpn(struct tls_config *cfg, const char *const *alpn, char *err, size_t errlen)
{
    size_t n = 0;

    if (alpn == NULL || alpn[0] == NULL)
        return 0;
    while (alpn[n] != NULL)
        n++;
    cfg->alpn = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        cfg->alpn[i] = xstrdup(alpn[i]);
    if (mbedtls_ssl_conf_alpn_protocols(&cfg->ssl, (const char **)cfg->alpn) != 0) {
        snprintf(err, errlen, "invalid ALPN protocol list");
        return -EINVAL;
    }
    return 0;
}

static int load_file_certs(mbedtls_x509_crt *chain, const char *path, char *err, size_t errlen)
{
    uint8_t *data;
    size_t len;
    int rc = read_file(path, &data, &len, err, errlen);

    if (rc != 0)
        return rc;
    rc = parse_certs(chain, data, len, path, err, errlen);
    free(data);
    return rc;
}

static int load_file_key(mbedtls_pk_context *pk, const char *path, char *err, size_t errlen)
{
    uint8_t *data;
    size_t len;
    int rc = read_file(path, &data, &len, err, errlen);

    if (rc != 0)
        return rc;
    rc = parse_key(pk, data, len, path, err, errlen);
    mbedtls_platform_zeroize(data, len);
    free(data);
    return rc;
}

int tls_config_new_server(const struct tls_server_opts *opts, struct tls_config **out, char *err,
                          size_t errlen)
{
    struct tls_config *cfg = config_alloc(true);
    int rc;

    if (opts->cert_file == NULL || opts->key_file == NULL) {
        snprintf(err, errlen, "a TLS server needs both a certificate and a key file");
        rc = -EINVAL;
        goto out_free;
    }
    rc = load_file_certs(&cfg->own_cert, opts->cert_file, err, errlen);
    if (rc == 0)
        rc = load_file_key(&cfg->own_key, opts->key_file, err, errlen);
    if (rc == 0)
        rc = set_own_cert(cfg, opts->cert_file, opts->key_file, err, errlen);
    if (rc == 0 && opts->client_ca_file != NULL) {
        rc = load_file_certs(&cfg->ca, opts->client_ca_file, err, errlen);
        cfg->verify_peer = true;
    }
    if (rc == 0)
        rc = set_alpn(cfg, opts->alpn, err, errlen);
    if (rc != 0)
        goto out_free;
    if (cfg->verify_peer) {
        mbedtls_ssl_conf_ca_chain(&cfg->ssl, &cfg->ca, NULL);
        mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_REQUIRED);
    } else {
        mbedtls_ssl_conf_authmode(&cfg->ssl, MBEDTLS_SSL_VERIFY_NONE);
    }
    *out = cfg;
    return 0;
out_free:
    config_free(cfg);
    return rc;
}

int tls_config_new_client(const struct tls_client_opts *opts, struct tls_config **out, char *err,
                          size_t errlen)
{
    struct tls_config *cfg = config_alloc(false);
    int rc = 0;

    cfg->verify_peer = !opts->insecure_skip_verify;
    if (cfg->verify_peer && (opts->ca_pem == NULL || opts->ca_pem_len == 0)) {
        snprintf(err, errlen, "no CA certificates to verify the server with");
        rc = -EINVAL;
        goto out_free;
    }
    if (opts->ca_pem != NULL && opts->ca_pem_len > 0)
        rc = parse_certs(&cfg->ca, opts->ca_pem, opts->ca_pem_len, "CA bundle", err, errlen);
    if (rc == 0 && (opts->cert_pem != NULL) != (opts->key_pem != NULL)) {
        snprintf(err, errlen, "a client certificate needs both a certificate and a key");
        rc = -EINVAL;
    }
    if (rc == 0 && opts->cert_pem != NULL) {
        rc = parse_certs(&cfg->own_cert, opts->cert_pem, opts->cert_pem_len, "client certificate",
                         err, errlen);
        if (rc == 0)
            rc = parse_key(&cfg->own_key, opts->key_pem, opts->key_pem_len, "client key", err,
                           errlen);
        if (rc == 0)
            rc = set_own_cert(cfg, "client certificate", "client key", err, errlen);
    }
    if (rc == 0)
        rc = set_alpn(cfg, opts->alpn, err, errlen);
    if (rc != 0)
        goto out_free;
    if (cfg->ca.version != 0)
        mbedtls_ssl_conf_ca_chain(&cfg->ssl, &cfg->ca, NULL);
    mbedtls_ssl_conf_authmode(&cfg->ssl, cfg->verify_peer ? MBEDTLS_SSL_VERIFY_REQUIRED
                                                          : MBEDTLS_SSL_VERIFY_NONE);
    *out = cfg;
    return 0;
out_free:
    config_free(cfg);
    return rc;
}
