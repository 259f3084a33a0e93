/* tls_session: one connection's TLS state over memory queues. mbedtls reads ciphertext from
 * the inbox and writes it to the outbox through the BIO callbacks below; the owner moves
 * bytes between those queues and its socket. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/asn1.h>
#include <mbedtls/platform_util.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "tls/tls_int.h"

/* Room above the high-water mark: one full record plus handshake flights (certificate
 * chains) and alerts always fit, so the send callback never has to refuse bytes. */
#define OUTBOX_MAX (TLS_OUTPUT_HIGH_WATER + 256 * 1024)
/* The largest plaintext fragment mbedtls puts in one record. */
#define RECORD_MAX 16384

#define SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_IP  (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

enum tls_session_state {
    TLS_SESSION_HANDSHAKING,
    TLS_SESSION_OPEN,
    TLS_SESSION_CLOSED, /* the peer sent close_notify */
    TLS_SESSION_FAILED,
};

/* A byte queue: a bounded buf read from an offset, so draining it costs no memmove. */
struct queue {
    struct buf b;
    size_t off;
};

struct tls_session {
    struct tls_config *cfg; /* one reference */
    mbedtls_ssl_context ssl;
    enum tls_session_state state;
    struct queue in;    /* ciphertext from the peer */
    struct queue out;   /* ciphertext for the peer */
    struct queue plain; /* plaintext waiting for the handshake or for output to drain */
    bool close_queued;
    bool close_sent;
    char *server_name;    /* NULL for servers */
    uint8_t ip[16];       /* server_name as an address when it is one */
    size_t ip_len;        /* 4, 16, or 0 for a DNS name */
    char peer_names[160]; /* the leaf's SANs, captured while verifying, for messages */
    char err[320];
};

static const char *state_names[] = {"handshaking", "open", "closed", "failed"};

static void set_state(struct tls_session *s, enum tls_session_state state)
{
    log_debug("tls", "session state", LOG_STR("from", state_names[s->state]),
              LOG_STR("to", state_names[state]), LOG_STR("server_name", s->server_name));
    s->state = state;
}

static size_t queue_len(const struct queue *q)
{
    return q->b.len - q->off;
}

static const uint8_t *queue_data(const struct queue *q)
{
    return q->b.data != NULL ? q->b.data + q->off : (const uint8_t *)"";
}

static void queue_consume(struct queue *q, size_t n)
{
    q->off += n < queue_len(q) ? n : queue_len(q);
    if (q->off == q->b.len) {
        buf_reset(&q->b);
        q->off = 0;
    }
}

/* Moves unread bytes to the front once they are at most half the buffer, so the memmove
 * is paid at most once per buffer's worth of data. */
static int queue_append(struct queue *q, const uint8_t *p, size_t n)
{
    if (q->off > 0 && (q->off >= queue_len(q) || q->b.len + n > q->b.max)) {
        buf_consume(&q->b, q->off);
        q->off = 0;
    }
    return buf_append(&q->b, p, n);
}

static int bio_send(void *ctx, const unsigned char *p, size_t n)
{
    struct tls_session *s = ctx;

    if (queue_append(&s->out, p, n) != 0)
        return MBEDTLS_ERR_SSL_WANT_WRITE;
    return (int)n;
}

static int bio_recv(void *ctx, unsigned char *p, size_t n)
{
    struct tls_session *s = ctx;
    size_t avail = queue_len(&s->in);

    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > avail)
        n = avail;
    memcpy(p, queue_data(&s->in), n);
    queue_consume(&s->in, n);
    return (int)n;
}

static const char *alert_name(int desc)
{
    switch (desc) {
    case 10:
        return "unexpected_message";
    case 20:
        return "bad_record_mac";
    case 40:
        return "handshake_failure";
    case 42:
        return "bad_certificate";
    case 43:
        return "unsupported_certificate";
    case 44:
        return "certificate_revoked";
    case 45:
        return "certificate_expired";
    case 46:
        return "certificate_unknown";
    case 47:
        return "illegal_parameter";
    case 48:
        return "unknown_ca";
    case 49:
        return "access_denied";
    case 50:
        return "decode_error";
    case 51:
        return "decrypt_error";
    case 70:
        return "protocol_version";
    case 71:
        return "insufficient_security";
    case 80:
        return "internal_error";
    case 112:
        return "unrecognized_name";
    case 116:
        return "certificate_required";
    case 120:
        return "no_application_protocol";
    default:
        return "unknown alert";
    }
}

/* Writes "DNS:a, IP:1.2.3.4" for a certificate's names into |out|, for mismatch messages. */
static void append_cert_names(const mbedtls_x509_crt *crt, char *out, size_t outlen)
{
    size_t used = 0;
    int shown = 0;

    out[0] = '\0';
    for (const mbedtls_x509_sequence *san = &crt->subject_alt_names; san != NULL && shown < 6;
         san = san->next) {
        char ip[INET6_ADDRSTRLEN] = "";
        const mbedtls_x509_buf *v = &san->buf;
        const char *sep = shown > 0 ? ", " : "";
        if (v->p == NULL || used + 1 >= outlen)
            break;
        if (v->tag == SAN_DNS)
            snprintf(out + used, outlen - used, "%sDNS:%.*s", sep, (int)v->len, (const char *)v->p);
        else if (v->tag == SAN_IP && (v->len == 4 || v->len == 16))
            snprintf(out + used, outlen - used, "%sIP:%s", sep,
                     inet_ntop(v->len == 4 ? AF_INET : AF_INET6, v->p, ip, sizeof(ip)));
        else
            continue;
        shown++;
        used = strlen(out);
    }
    if (shown == 0)
        snprintf(out, outlen, "none");
}

static void describe_verify_flags(struct tls_session *s, uint32_t flags)
{
    char *e = s->err;
    size_t len = sizeof(s->err);
    size_t used;

    used = (size_t)snprintf(e, len, "certificate verify failed:");
    if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED)
        used +=
            (size_t)snprintf(e + used, len - used, " not signed by a trusted CA (unknown issuer);");
    if ((flags & MBEDTLS_X509_BADCERT_EXPIRED) && used < len)
        used += (size_t)snprintf(e + used, len - used, " certificate has expired;");
    if ((flags & MBEDTLS_X509_BADCERT_FUTURE) && used < len)
        used += (size_t)snprintf(e + used, len - used, " certificate is not valid yet;");
    if ((flags & MBEDTLS_X509_BADCERT_MISSING) && used < len)
        used += (size_t)snprintf(e + used, len - used, " peer did not return a certificate;");
    if ((flags & (MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE)) &&
        used < len)
        used += (size_t)snprintf(e + used, len - used, " key usage does not allow TLS;");
    if ((flags & (MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
                  MBEDTLS_X509_BADCERT_BAD_KEY)) &&
        used < len)
        used += (size_t)snprintf(e + used, len - used, " unacceptable algorithm or key size;");
    if ((flags & MBEDTLS_X509_BADCERT_CN_MISMATCH) && used < len) {
        used += (size_t)snprintf(e + used, len - used,
                                 " server name \"%s\" not in the certificate (CN mismatch; "
                                 "certificate names: %s);",
                                 s->server_name ? s->server_name : "", s->peer_names);
    }
    if (used == strlen("certificate verify failed:"))
        mbedtls_x509_crt_verify_info(e + used, len - used, " ", flags);
    used = strlen(e);
    while (used > 0 && (e[used - 1] == ';' || e[used - 1] == '\n'))
        e[--used] = '\0';
}

static int fail(struct tls_session *s, int ret)
{
    char msg[160];

    if (s->state == TLS_SESSION_FAILED)
        return -EPROTO;
    if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
        describe_verify_flags(s, mbedtls_ssl_get_verify_result(&s->ssl));
    } else if (ret == MBEDTLS_ERR_SSL_NO_CLIENT_CERTIFICATE) {
        /* mbedtls 2.28 fails here silently; tell the client, as OpenSSL does, so it sees
         * an error instead of waiting for the connection to close. */
        mbedtls_ssl_send_alert_message(&s->ssl, MBEDTLS_SSL_ALERT_LEVEL_FATAL,
                                       MBEDTLS_SSL_ALERT_MSG_HANDSHAKE_FAILURE);
        snprintf(s->err, sizeof(s->err), "peer did not return a certificate");
    } else if (ret == MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE) {
        /* mbedtls reports the alert only as a code; its description is the second byte of
         * the alert record it just read. */
        int desc = s->ssl.in_msg != NULL ? s->ssl.in_msg[1] : -1;
        snprintf(s->err, sizeof(s->err), "peer sent fatal alert %d (%s)", desc, alert_name(desc));
    } else if (ret == MBEDTLS_ERR_SSL_BAD_HS_PROTOCOL_VERSION) {
        snprintf(s->err, sizeof(s->err), "peer does not support TLS 1.2 or later");
    } else {
        tls_strerror(ret, msg, sizeof(msg));
        snprintf(s->err, sizeof(s->err), "%s: %s",
                 s->state == TLS_SESSION_HANDSHAKING ? "TLS handshake failed" : "TLS error", msg);
    }
    set_state(s, TLS_SESSION_FAILED);
    return -EPROTO;
}

/* Encrypts queued plaintext while the outbox is below its high-water mark, then the
 * close_notify when everything before it went out. */
static int encrypt_pending(struct tls_session *s)
{
    while (s->state == TLS_SESSION_OPEN && queue_len(&s->plain) > 0 &&
           queue_len(&s->out) < TLS_OUTPUT_HIGH_WATER) {
        size_t n = queue_len(&s->plain);
        int ret =
            mbedtls_ssl_write(&s->ssl, queue_data(&s->plain), n < RECORD_MAX ? n : RECORD_MAX);
        if (ret < 0)
            return fail(s, ret);
        queue_consume(&s->plain, (size_t)ret);
    }
    if (s->close_queued && !s->close_sent && queue_len(&s->plain) == 0 &&
        s->state == TLS_SESSION_OPEN) {
        int ret = mbedtls_ssl_close_notify(&s->ssl);
        if (ret != 0)
            return fail(s, ret);
        s->close_sent = true;
    }
    return 0;
}

static int handshake_step(struct tls_session *s)
{
    int ret = mbedtls_ssl_handshake(&s->ssl);

    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    if (ret != 0)
        return fail(s, ret);
    set_state(s, TLS_SESSION_OPEN);
    return encrypt_pending(s);
}

static bool matches_ip_san(const struct tls_session *s, const mbedtls_x509_crt *crt)
{
    for (const mbedtls_x509_sequence *san = &crt->subject_alt_names; san != NULL; san = san->next) {
        if (san->buf.p != NULL && san->buf.tag == SAN_IP && san->buf.len == s->ip_len &&
            memcmp(san->buf.p, s->ip, s->ip_len) == 0)
            return true;
    }
    return false;
}

/* Runs for each certificate of the server's chain. It records the leaf's names for error
 * messages, and checks an IP server name against the leaf's iPAddress SANs because mbedtls
 * 2.28 matches only DNS names and the CN (RFC 6125: an IP never matches a CN). */
static int verify_leaf(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
    struct tls_session *s = ctx;

    if (depth != 0)
        return 0;
    append_cert_names(crt, s->peer_names, sizeof(s->peer_names));
    if (s->ip_len != 0 && !matches_ip_san(s, crt))
        *flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
    return 0;
}

/* Accepts "10.0.0.1", "::1" and "[::1]". */
static size_t parse_ip(const char *name, uint8_t ip[16])
{
    char tmp[INET6_ADDRSTRLEN + 2];
    size_t n = strlen(name);

    if (inet_pton(AF_INET, name, ip) == 1)
        return 4;
    if (n >= 2 && n < sizeof(tmp) && name[0] == '[' && name[n - 1] == ']') {
        memcpy(tmp, name + 1, n - 2);
        tmp[n - 2] = '\0';
        name = tmp;
    }
    return inet_pton(AF_INET6, name, ip) == 1 ? 16 : 0;
}

static void set_server_name(struct tls_session *s, const char *server_name)
{
    s->server_name = xstrdup(server_name);
    s->ip_len = parse_ip(server_name, s->ip);
    if (s->cfg->verify_peer)
        mbedtls_ssl_set_verify(&s->ssl, verify_leaf, s);
    if (s->ip_len == 0) {
        /* SNI plus mbedtls's own DNS SAN / CN check. */
        if (mbedtls_ssl_set_hostname(&s->ssl, server_name) != 0)
            snprintf(s->err, sizeof(s->err), "invalid server name \"%s\"", server_name);
        return;
    }
    /* RFC 6066 forbids IP addresses in SNI, so none is sent and verify_leaf checks the
     * name. */
}

struct tls_session *tls_session_new(struct tls_config *cfg, const char *server_name)
{
    struct tls_session *s = xcalloc(1, sizeof(*s));

    tls_config_ref(cfg);
    s->cfg = cfg;
    buf_init(&s->in.b, TLS_INBOX_MAX);
    buf_init(&s->out.b, OUTBOX_MAX);
    buf_init(&s->plain.b, TLS_PLAINTEXT_MAX);
    mbedtls_ssl_init(&s->ssl);
    /* mbedtls_ssl_setup fails only when it cannot allocate its record buffers; out of
     * memory aborts, as xmalloc does. */
    int ret = mbedtls_ssl_setup(&s->ssl, &cfg->ssl);
    if (ret != 0) {
        char msg[128];
        tls_strerror(ret, msg, sizeof(msg));
        log_error("tls", "cannot set up a TLS session", LOG_STR("error", msg));
        abort();
    }
    mbedtls_ssl_set_bio(&s->ssl, s, bio_send, bio_recv, NULL);
    if (!cfg->is_server && server_name != NULL)
        set_server_name(s, server_name);
    if (s->err[0] != '\0')
        set_state(s, TLS_SESSION_FAILED);
    else if (!cfg->is_server)
        handshake_step(s); /* the ClientHello; a failure is kept for tls_session_read */
    return s;
}

void tls_session_free(struct tls_session *s)
{
    if (s == NULL)
        return;
    mbedtls_ssl_free(&s->ssl);
    /* Plaintext may hold bearer tokens. */
    if (s->plain.b.data != NULL)
        mbedtls_platform_zeroize(s->plain.b.data, s->plain.b.cap);
    buf_deinit(&s->in.b);
    buf_deinit(&s->out.b);
    buf_deinit(&s->plain.b);
    free(s->server_name);
    tls_config_unref(s->cfg);
    free(s);
}

int tls_session_feed(struct tls_session *s, const uint8_t *data, size_t len)
{
    return queue_append(&s->in, data, len);
}

ssize_t tls_session_read(struct tls_session *s, uint8_t *out, size_t cap)
{
    int ret;

    if (s->state == TLS_SESSION_HANDSHAKING && handshake_step(s) != 0)
        return -EPROTO;
    if (s->state == TLS_SESSION_FAILED)
        return -EPROTO;
    if (s->state == TLS_SESSION_CLOSED)
        return -EPIPE;
    if (s->state == TLS_SESSION_HANDSHAKING || cap == 0)
        return 0;
    ret = mbedtls_ssl_read(&s->ssl, out, cap);
    if (ret > 0)
        return ret;
    if (ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE)
        return 0;
    /* 0 means the transport reached EOF, which our BIO never reports; treat it as a close. */
    if (ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || ret == 0) {
        set_state(s, TLS_SESSION_CLOSED);
        return -EPIPE;
    }
    return fail(s, ret);
}

int tls_session_write(struct tls_session *s, const uint8_t *data, size_t len)
{
    if (s->state == TLS_SESSION_FAILED || s->close_queued)
        return -EPROTO;
    if (queue_append(&s->plain, data, len) != 0)
        return -EMSGSIZE;
    return encrypt_pending(s);
}

struct iov tls_session_pending_output(const struct tls_session *s)
{
    return iov_make(queue_data(&s->out), queue_len(&s->out));
}

void tls_session_consume_output(struct tls_session *s, size_t n)
{
    queue_consume(&s->out, n);
    if (s->state == TLS_SESSION_OPEN)
        encrypt_pending(s);
}

size_t tls_session_buffered(const struct tls_session *s)
{
    return queue_len(&s->plain) + queue_len(&s->out);
}

bool tls_session_handshake_done(const struct tls_session *s)
{
    return s->state == TLS_SESSION_OPEN || s->state == TLS_SESSION_CLOSED;
}

const char *tls_session_alpn(const struct tls_session *s)
{
    if (!tls_session_handshake_done(s))
        return NULL;
    return mbedtls_ssl_get_alpn_protocol(&s->ssl);
}

const char *tls_session_error(const struct tls_session *s)
{
    return s->state == TLS_SESSION_FAILED ? s->err : NULL;
}

int tls_session_close_notify(struct tls_session *s)
{
    if (s->state == TLS_SESSION_FAILED)
        return -EPROTO;
    s->close_queued = true;
    return encrypt_pending(s);
}
