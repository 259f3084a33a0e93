/* k8s_auth: loads the cluster's address and credentials, and keeps them fresh on the loop.
 * Token requests queue as waiters; a cached credential is handed out from a zero-delay
 * timer so callbacks never run inside k8s_auth_get_token, and a refresh (file read or exec
 * plugin run) serves every waiter that arrived while it ran. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "k8s/auth/auth.h"
#include "k8s/auth/credfile.h"
#include "k8s/auth/exec_credential.h"
#include "k8s/auth/kubeconfig.h"

#define DEFAULT_TOKEN_REREAD_MS 60000
#define DEFAULT_FILE_POLL_MS    10000
#define DEFAULT_EXEC_TIMEOUT_MS 60000
/* An exec credential is refreshed a tenth of its lifetime early, at most this much. */
#define EXEC_REFRESH_MARGIN_MAX_MS 60000

enum cred_source {
    CRED_NONE,   /* anonymous or certificate-only */
    CRED_STATIC, /* kubeconfig token */
    CRED_FILE,   /* in-cluster token or kubeconfig tokenFile, re-read */
    CRED_EXEC,   /* exec plugin */
};

enum { FILE_CA, FILE_CERT, FILE_KEY, FILE_COUNT };

/* A TLS input: inline bytes, or a file that is polled for changes. */
struct tls_input {
    struct k8s_auth *a;
    char *path; /* NULL: inline or absent */
    uint8_t *data;
    size_t len;
    uv_fs_t req;
    uv_stat_t seen;   /* the stat of the contents in |data| */
    uv_stat_t polled; /* the stat of this poll round */
    bool poll_ok;
    uint8_t *new_data; /* read in this round */
    size_t new_len;
};

struct waiter {
    k8s_auth_token_cb cb;
    void *data;
    struct waiter *next;
};

struct k8s_auth {
    uv_loop_t *loop;
    bool closing;
    char *host;
    int port;
    bool use_tls;
    bool insecure;
    char *server; /* the URL, for exec cluster info */
    char *server_name;
    char *namespace;
    char *describe;
    struct kubeconfig *kc; /* NULL in-cluster */
    struct k8s_auth_tuning tuning;

    enum cred_source source;
    char *token_file;
    char *authorization; /* "Bearer x" or NULL */
    bool cred_valid;
    int64_t cred_refresh_ms; /* exec: re-run after this wall-clock time; 0: never */
    bool token_reading;
    struct exec_credential_run *run;
    char *exec_cert;
    char *exec_key;
    int pending_status; /* a refresh failure waiting for the deliver timer */
    char pending_err[320];

    struct tls_input files[FILE_COUNT];
    struct tls_config *tls;
    int polls_pending;
    int reads_pending;
    bool poll_changed;
    int fs_ops; /* file requests in flight: the auth lives until they finish */

    struct waiter *waiters;
    uv_timer_t deliver_timer;
    uv_timer_t token_timer;
    uv_timer_t poll_timer;
    int open_handles;
    void (*done)(void *data);
    void *done_data;
};

static const char *const alpn_http1[] = {"http/1.1", NULL};

/* ---- start-up: where the server is ---- */

/* Splits "https://host:port" (brackets around IPv6). Only an empty or "/" path is
 * accepted: a path prefix would have to go in front of every request. */
static int parse_server(struct k8s_auth *a, const char *url, const char *where, char *err,
                        size_t errlen)
{
    const char *p = url, *host_end, *rest;
    char *end;
    long port;

    a->use_tls = true;
    if (strncmp(p, "https://", 8) == 0) {
        p += 8;
    } else if (strncmp(p, "http://", 7) == 0) {
        p += 7;
        a->use_tls = false;
    } else if (strstr(p, "://") != NULL) {
        goto out_invalid;
    }
    if (p[0] == '[') {
        host_end = strchr(p, ']');
        if (host_end == NULL || host_end == p + 1)
            goto out_invalid;
        a->host = xstrndup(p + 1, (size_t)(host_end - p - 1));
        rest = host_end + 1;
    } else {
        host_end = p + strcspn(p, ":/?#@");
        if (host_end == p || *host_end == '@')
            goto out_invalid;
        a->host = xstrndup(p, (size_t)(host_end - p));
        rest = host_end;
    }
    a->port = a->use_tls ? 443 : 80;
    if (*rest == ':') {
        port = strtol(rest + 1, &end, 10);
        if (end == rest + 1 || port < 1 || port > 65535)
            goto out_invalid;
        a->port = (int)port;
        rest = end;
    }
    if (rest[0] == '\0' || strcmp(rest, "/") == 0)
        return 0;
    snprintf(err, errlen, "%sserver \"%s\": a path after the host is not supported", where, url);
    return -EINVAL;
out_invalid:
    snprintf(err, errlen, "%sserver \"%s\" is not an http(s)://host[:port] URL", where, url);
    return -EINVAL;
}

static char *trim(uint8_t *data, size_t len)
{
    char *s = (char *)data;

    while (len > 0 &&
           (s[len - 1] == '\n' || s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
        s[--len] = '\0';
    return s;
}

/* Reads a credential file at start-up; |what| prefixes the error. */
static int read_now(const char *path, const char *what, uint8_t **data, size_t *len, char *err,
                    size_t errlen)
{
    int rc = credfile_read_sync(path, CREDFILE_MAX, data, len);

    if (rc != 0)
        snprintf(err, errlen, "%s: cannot read %s: %s", what, path, strerror(-rc));
    return rc;
}

static int set_token_from(struct k8s_auth *a, uint8_t *data, size_t len)
{
    const char *token = trim(data, len);
    char *authorization;

    if (token[0] == '\0' || strpbrk(token, "\r\n") != NULL) {
        free(data);
        return -EINVAL;
    }
    authorization = xasprintf("Bearer %s", token);
    if (a->authorization != NULL && strcmp(a->authorization, authorization) != 0)
        log_info("k8s_auth", "token file changed", LOG_STR("file", a->token_file));
    free(a->authorization);
    a->authorization = authorization;
    a->cred_valid = true;
    memset(data, 0, len);
    free(data);
    return 0;
}

static int load_token_file(struct k8s_auth *a, const char *what, char *err, size_t errlen)
{
    uint8_t *data;
    size_t len;
    int rc = read_now(a->token_file, what, &data, &len, err, errlen);

    if (rc != 0)
        return rc;
    if (set_token_from(a, data, len) != 0) {
        snprintf(err, errlen, "%s: token file %s is empty or not one line", what, a->token_file);
        return -EINVAL;
    }
    return 0;
}

/* Fills a TLS input from a file (watched) or inline data. */
static int load_input(struct k8s_auth *a, int which, const char *path, const uint8_t *data,
                      size_t len, const char *what, char *err, size_t errlen)
{
    struct tls_input *in = &a->files[which];

    if (data != NULL) {
        in->data = (uint8_t *)xmemdup0(data, len);
        in->len = len;
        return 0;
    }
    if (path == NULL)
        return 0;
    in->path = xstrdup(path);
    if (uv_fs_stat(a->loop, &in->req, path, NULL) == 0)
        in->seen = in->req.statbuf;
    uv_fs_req_cleanup(&in->req);
    return read_now(path, what, &in->data, &in->len, err, errlen);
}

static int build_tls(struct k8s_auth *a, const struct tls_input *in, struct tls_config **out,
                     char *err, size_t errlen)
{
    struct tls_client_opts o = {.insecure_skip_verify = a->insecure, .alpn = alpn_http1};

    *out = NULL;
    if (!a->use_tls)
        return 0;
    if (!a->insecure) {
        o.ca_pem = in[FILE_CA].data;
        o.ca_pem_len = in[FILE_CA].len;
    }
    if (a->exec_cert != NULL) {
        o.cert_pem = (const uint8_t *)a->exec_cert;
        o.cert_pem_len = strlen(a->exec_cert);
        o.key_pem = (const uint8_t *)a->exec_key;
        o.key_pem_len = strlen(a->exec_key);
    } else if (in[FILE_CERT].data != NULL) {
        o.cert_pem = in[FILE_CERT].data;
        o.cert_pem_len = in[FILE_CERT].len;
        o.key_pem = in[FILE_KEY].data;
        o.key_pem_len = in[FILE_KEY].len;
    }
    return tls_config_new_client(&o, out, err, errlen);
}

static int load_in_cluster(struct k8s_auth *a, const struct config *cfg, char *err, size_t errlen)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = cfg->serviceaccount_dir;
    char *path, *end;
    uint8_t *ns;
    size_t len;
    long p;
    int rc;

    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
        snprintf(err, errlen,
                 "in-cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                 "must be set (or set IN_CLUSTER=false to use a kubeconfig)");
        return -EINVAL;
    }
    p = strtol(port, &end, 10);
    if (*end != '\0' || p < 1 || p > 65535) {
        snprintf(err, errlen, "in-cluster: KUBERNETES_SERVICE_PORT \"%s\" is not a port", port);
        return -EINVAL;
    }
    a->host = xstrdup(host);
    a->port = (int)p;
    a->use_tls = true;
    a->server = strchr(host, ':') != NULL ? xasprintf("https://[%s]:%ld", host, p)
                                          : xasprintf("https://%s:%ld", host, p);
    a->server_name = xstrdup(host);
    a->describe = xasprintf("in-cluster service account %s", dir);
    a->source = CRED_FILE;
    a->token_file = xasprintf("%s/token", dir);
    rc = load_token_file(a, "in-cluster", err, errlen);
    if (rc != 0)
        return rc;
    path = xasprintf("%s/ca.crt", dir);
    rc = load_input(a, FILE_CA, path, NULL, 0, "in-cluster", err, errlen);
    free(path);
    if (rc != 0)
        return rc;
    path = xasprintf("%s/namespace", dir);
    if (credfile_read_sync(path, 4096, &ns, &len) == 0) {
        const char *s = trim(ns, len);
        a->namespace = s[0] != '\0' ? xstrdup(s) : NULL;
        free(ns);
    }
    free(path);
    return 0;
}

static int load_kubeconfig_user(struct k8s_auth *a, char *err, size_t errlen)
{
    struct kubeconfig *kc = a->kc;
    char what[512];
    int rc;

    snprintf(what, sizeof(what), "kubeconfig %s: user \"%s\"", kc->path,
             kc->user_name ? kc->user_name : "");
    if (kc->exec != NULL) {
        a->source = CRED_EXEC;
    } else if (kc->token_file != NULL) {
        a->source = CRED_FILE;
        a->token_file = xstrdup(kc->token_file);
        rc = load_token_file(a, what, err, errlen);
        if (rc != 0)
            return rc;
    } else if (kc->token != NULL) {
        a->source = CRED_STATIC;
        a->authorization = xasprintf("Bearer %s", kc->token);
        a->cred_valid = true;
    }
    rc = load_input(a, FILE_CERT, kc->client_cert.file, kc->client_cert.data, kc->client_cert.len,
                    what, err, errlen);
    if (rc == 0)
        rc = load_input(a, FILE_KEY, kc->client_key.file, kc->client_key.data, kc->client_key.len,
                        what, err, errlen);
    return rc;
}

static int load_kubeconfig(struct k8s_auth *a, const struct config *cfg, char *err, size_t errlen)
{
    uint8_t *yaml;
    size_t len;
    char what[512];
    int rc;

    snprintf(what, sizeof(what), "kubeconfig");
    rc = read_now(cfg->kubeconfig, what, &yaml, &len, err, errlen);
    if (rc != 0)
        return rc;
    rc = kubeconfig_parse((const char *)yaml, len, cfg->kubeconfig, &a->kc, err, errlen);
    free(yaml);
    if (rc != 0)
        return rc;
    snprintf(what, sizeof(what), "kubeconfig %s: cluster \"%s\": ", a->kc->path,
             a->kc->cluster_name);
    rc = parse_server(a, a->kc->server, what, err, errlen);
    if (rc != 0)
        return rc;
    a->server = xstrdup(a->kc->server);
    a->insecure = a->kc->insecure_skip_tls_verify;
    if (a->insecure && (a->kc->ca.file != NULL || a->kc->ca.data != NULL)) {
        snprintf(err, errlen,
                 "%scertificate-authority cannot be combined with "
                 "insecure-skip-tls-verify",
                 what);
        return -EINVAL;
    }
    a->server_name = xstrdup(a->kc->tls_server_name ? a->kc->tls_server_name : a->host);
    a->namespace = a->kc->namespace ? xstrdup(a->kc->namespace) : NULL;
    a->describe = xasprintf("kubeconfig %s context %s", a->kc->path, a->kc->context);
    what[strlen(what) - 2] = '\0'; /* drop the ": " for load_input's prefix */
    rc = load_input(a, FILE_CA, a->kc->ca.file, a->kc->ca.data, a->kc->ca.len, what, err, errlen);
    if (rc == 0)
        rc = load_kubeconfig_user(a, err, errlen);
    return rc;
}

/* ---- waiters ---- */

static void deliver(struct k8s_auth *a, int status, const char *authorization, const char *err)
{
    struct waiter *w = a->waiters;

    /* Detached first: a callback may ask for a token again or close the auth. */
    a->waiters = NULL;
    while (w != NULL) {
        struct waiter *next = w->next;
        w->cb(status, status == 0 ? authorization : NULL, status == 0 ? NULL : err, w->data);
        free(w);
        w = next;
    }
}

static bool cred_ready(struct k8s_auth *a)
{
    switch (a->source) {
    case CRED_NONE:
    case CRED_STATIC:
        return true;
    case CRED_FILE:
        return a->cred_valid;
    case CRED_EXEC:
        return a->cred_valid &&
               (a->cred_refresh_ms == 0 || clock_realtime_ms() < a->cred_refresh_ms);
    }
    return false;
}

static void on_deliver(uv_timer_t *t);

/* Reports a refresh that failed to start from the loop, never inside the caller. */
static void fail_later(struct k8s_auth *a, int status, const char *err)
{
    a->pending_status = status;
    snprintf(a->pending_err, sizeof(a->pending_err), "%s", err);
    uv_timer_start(&a->deliver_timer, on_deliver, 0, 0);
}

static void start_refresh(struct k8s_auth *a);

static void on_deliver(uv_timer_t *t)
{
    struct k8s_auth *a = t->data;
    int status = a->pending_status;

    a->pending_status = 0;
    if (a->waiters == NULL)
        return;
    if (status != 0)
        deliver(a, status, NULL, a->pending_err);
    else if (cred_ready(a))
        deliver(a, 0, a->authorization, NULL);
    else
        start_refresh(a); /* invalidated since the timer was armed */
}

/* ---- token file ---- */

static void maybe_free(struct k8s_auth *a);

static void on_token_read(int status, uint8_t *data, size_t len, void *arg)
{
    struct k8s_auth *a = arg;

    a->fs_ops--;
    a->token_reading = false;
    if (a->closing) {
        free(data);
        maybe_free(a);
        return;
    }
    if (status == 0)
        status = set_token_from(a, data, len);
    if (status != 0) {
        log_warn("k8s_auth", "cannot re-read the token file; keeping the previous token",
                 LOG_STR("file", a->token_file), LOG_STR("error", strerror(-status)));
        a->cred_valid = a->authorization != NULL;
    }
    if (a->cred_valid)
        deliver(a, 0, a->authorization, NULL);
    else
        deliver(a, status, NULL, "the token file cannot be read");
}

static void start_token_read(struct k8s_auth *a)
{
    int rc;

    if (a->token_reading)
        return;
    rc = credfile_read(a->loop, a->token_file, CREDFILE_MAX, on_token_read, a);
    if (rc != 0) {
        fail_later(a, rc, "the token file cannot be read");
        return;
    }
    a->token_reading = true;
    a->fs_ops++;
}

static void on_token_timer(uv_timer_t *t)
{
    start_token_read(t->data);
}

/* ---- exec plugin ---- */

static void set_exec_cert(struct k8s_auth *a, const struct exec_credential *cred)
{
    struct tls_config *tls;
    char err[256];
    char *old_cert = a->exec_cert, *old_key = a->exec_key;

    if (cred->client_cert_pem == NULL ||
        (old_cert != NULL && strcmp(old_cert, cred->client_cert_pem) == 0 &&
         strcmp(old_key, cred->client_key_pem) == 0))
        return;
    a->exec_cert = xstrdup(cred->client_cert_pem);
    a->exec_key = xstrdup(cred->client_key_pem);
    if (build_tls(a, a->files, &tls, err, sizeof(err)) != 0) {
        log_warn("k8s_auth", "exec plugin returned an unusable client certificate",
                 LOG_STR("error", err));
        free(a->exec_cert);
        free(a->exec_key);
        a->exec_cert = old_cert;
        a->exec_key = old_key;
        return;
    }
    free(old_cert);
    free(old_key);
    tls_config_unref(a->tls);
    a->tls = tls;
}

static void on_exec_done(int status, const struct exec_credential *cred, const char *err,
                         void *data)
{
    struct k8s_auth *a = data;
    int64_t now = clock_realtime_ms(), margin;

    a->run = NULL;
    if (a->closing) {
        maybe_free(a);
        return;
    }
    if (status != 0) {
        log_warn("k8s_auth", "exec credential plugin failed", LOG_STR("error", err));
        deliver(a, status, NULL, err);
        return;
    }
    free(a->authorization);
    a->authorization = cred->token ? xasprintf("Bearer %s", cred->token) : NULL;
    set_exec_cert(a, cred);
    a->cred_valid = true;
    a->cred_refresh_ms = 0;
    if (cred->expiry_ms != 0) {
        margin = cred->expiry_ms > now ? (cred->expiry_ms - now) / 10 : 0;
        a->cred_refresh_ms =
            cred->expiry_ms -
            (margin < EXEC_REFRESH_MARGIN_MAX_MS ? margin : EXEC_REFRESH_MARGIN_MAX_MS);
    }
    log_info("k8s_auth", "exec credential obtained", LOG_STR("command", a->kc->exec->command),
             LOG_INT("expires_in_s", cred->expiry_ms ? (cred->expiry_ms - now) / 1000 : -1));
    deliver(a, 0, a->authorization, NULL);
}

static char *exec_info(struct k8s_auth *a)
{
    struct exec_credential_cluster c = {
        .server = a->server,
        .tls_server_name = a->kc->tls_server_name,
        .insecure_skip_tls_verify = a->insecure,
        .ca_pem = a->files[FILE_CA].data,
        .ca_pem_len = a->files[FILE_CA].len,
    };

    return exec_credential_info(a->kc->exec->api_version,
                                a->kc->exec->provide_cluster_info ? &c : NULL);
}

static void start_exec(struct k8s_auth *a)
{
    char err[320];
    char *info;
    int rc;

    if (a->run != NULL)
        return;
    info = exec_info(a);
    rc = exec_credential_run_start(a->loop, a->kc->exec, info, a->tuning.exec_timeout_ms,
                                   on_exec_done, a, &a->run, err, sizeof(err));
    free(info);
    if (rc != 0) {
        log_warn("k8s_auth", "exec credential plugin failed", LOG_STR("error", err));
        fail_later(a, rc, err);
    }
}

static void start_refresh(struct k8s_auth *a)
{
    if (a->source == CRED_FILE)
        start_token_read(a);
    else if (a->source == CRED_EXEC)
        start_exec(a);
    else
        uv_timer_start(&a->deliver_timer, on_deliver, 0, 0);
}

/* ---- CA / certificate / key file polling ---- */

static bool stat_changed(const uv_stat_t *x, const uv_stat_t *y)
{
    return x->st_ino != y->st_ino || x->st_dev != y->st_dev || x->st_size != y->st_size ||
           x->st_mtim.tv_sec != y->st_mtim.tv_sec || x->st_mtim.tv_nsec != y->st_mtim.tv_nsec;
}

static void apply_reload(struct k8s_auth *a)
{
    struct tls_input next[FILE_COUNT];
    struct tls_config *tls;
    char err[256];

    memcpy(next, a->files, sizeof(next));
    for (int i = 0; i < FILE_COUNT; i++) {
        if (a->files[i].path != NULL) {
            next[i].data = a->files[i].new_data;
            next[i].len = a->files[i].new_len;
        }
    }
    if (build_tls(a, next, &tls, err, sizeof(err)) != 0) {
        /* Mid-rotation (a new certificate next to the old key) or broken: keep the old
         * config; the stats stay unrecorded so the next poll tries again. */
        log_warn("k8s_auth", "cannot use the changed TLS files yet", LOG_STR("error", err));
        for (int i = 0; i < FILE_COUNT; i++) {
            free(a->files[i].new_data);
            a->files[i].new_data = NULL;
        }
        return;
    }
    for (int i = 0; i < FILE_COUNT; i++) {
        struct tls_input *in = &a->files[i];
        if (in->path == NULL)
            continue;
        free(in->data);
        in->data = in->new_data;
        in->len = in->new_len;
        in->new_data = NULL;
        in->seen = in->polled;
    }
    tls_config_unref(a->tls);
    a->tls = tls;
    log_info("k8s_auth", "TLS files changed; new connections use them",
             LOG_STR("source", a->describe));
}

static void on_input_read(int status, uint8_t *data, size_t len, void *arg)
{
    struct tls_input *in = arg;
    struct k8s_auth *a = in->a;

    a->fs_ops--;
    a->reads_pending--;
    if (status != 0 || a->closing)
        a->poll_changed = false; /* abandon this round */
    if (status != 0 && !a->closing)
        log_warn("k8s_auth", "cannot read a changed TLS file", LOG_STR("file", in->path),
                 LOG_STR("error", strerror(-status)));
    in->new_data = data;
    in->new_len = len;
    if (a->reads_pending > 0)
        return;
    if (a->poll_changed)
        apply_reload(a);
    for (int i = 0; i < FILE_COUNT; i++) {
        free(a->files[i].new_data);
        a->files[i].new_data = NULL;
    }
    if (a->closing)
        maybe_free(a);
}

static void read_inputs(struct k8s_auth *a)
{
    for (int i = 0; i < FILE_COUNT; i++) {
        struct tls_input *in = &a->files[i];
        if (in->path == NULL)
            continue;
        if (credfile_read(a->loop, in->path, CREDFILE_MAX, on_input_read, in) == 0) {
            a->fs_ops++;
            a->reads_pending++;
        } else {
            a->poll_changed = false;
        }
    }
    if (a->reads_pending == 0)
        a->poll_changed = false; /* nothing could be read: try again next poll */
}

static void on_input_stat(uv_fs_t *req)
{
    struct tls_input *in = req->data;
    struct k8s_auth *a = in->a;

    a->fs_ops--;
    a->polls_pending--;
    in->poll_ok = req->result == 0;
    if (in->poll_ok) {
        in->polled = req->statbuf;
        if (stat_changed(&in->polled, &in->seen))
            a->poll_changed = true;
    }
    uv_fs_req_cleanup(req);
    if (a->polls_pending > 0)
        return;
    if (a->closing) {
        maybe_free(a);
        return;
    }
    /* A missing file (mid-swap, or deleted) is not a change to act on. */
    for (int i = 0; i < FILE_COUNT; i++)
        if (a->files[i].path != NULL && !a->files[i].poll_ok)
            a->poll_changed = false;
    if (a->poll_changed)
        read_inputs(a);
}

static void on_poll_timer(uv_timer_t *t)
{
    struct k8s_auth *a = t->data;

    if (a->polls_pending > 0 || a->reads_pending > 0)
        return;
    a->poll_changed = false;
    for (int i = 0; i < FILE_COUNT; i++) {
        struct tls_input *in = &a->files[i];
        if (in->path == NULL)
            continue;
        in->req.data = in;
        if (uv_fs_stat(a->loop, &in->req, in->path, on_input_stat) == 0) {
            a->fs_ops++;
            a->polls_pending++;
        }
    }
}

/* ---- lifecycle ---- */

static void free_auth(struct k8s_auth *a)
{
    for (int i = 0; i < FILE_COUNT; i++) {
        free(a->files[i].path);
        if (a->files[i].data != NULL)
            memset(a->files[i].data, 0, a->files[i].len);
        free(a->files[i].data);
        free(a->files[i].new_data);
    }
    tls_config_unref(a->tls);
    kubeconfig_free(a->kc);
    free(a->host);
    free(a->server);
    free(a->server_name);
    free(a->namespace);
    free(a->describe);
    free(a->token_file);
    free(a->authorization);
    free(a->exec_cert);
    free(a->exec_key);
    free(a);
}

static void maybe_free(struct k8s_auth *a)
{
    void (*done)(void *) = a->done;
    void *data = a->done_data;

    if (!a->closing || a->open_handles > 0 || a->fs_ops > 0 || a->run != NULL)
        return;
    free_auth(a);
    if (done != NULL)
        done(data);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct k8s_auth *a = h->data;

    a->open_handles--;
    maybe_free(a);
}

static void init_timer(struct k8s_auth *a, uv_timer_t *t)
{
    uv_timer_init(a->loop, t);
    t->data = a;
    a->open_handles++;
}

static void start_timers(struct k8s_auth *a)
{
    bool watched = false;

    for (int i = 0; i < FILE_COUNT; i++)
        watched = watched || a->files[i].path != NULL;
    uv_timer_stop(&a->token_timer);
    uv_timer_stop(&a->poll_timer);
    if (a->source == CRED_FILE)
        uv_timer_start(&a->token_timer, on_token_timer, a->tuning.token_reread_ms,
                       a->tuning.token_reread_ms);
    if (watched && a->use_tls)
        uv_timer_start(&a->poll_timer, on_poll_timer, a->tuning.file_poll_ms,
                       a->tuning.file_poll_ms);
}

int k8s_auth_new(uv_loop_t *loop, const struct config *cfg, struct k8s_auth **out, char *err,
                 size_t errlen)
{
    struct k8s_auth *a = xcalloc(1, sizeof(*a));
    int rc;

    a->loop = loop;
    a->tuning = (struct k8s_auth_tuning){DEFAULT_TOKEN_REREAD_MS, DEFAULT_FILE_POLL_MS,
                                         DEFAULT_EXEC_TIMEOUT_MS};
    for (int i = 0; i < FILE_COUNT; i++)
        a->files[i].a = a;
    rc = cfg->in_cluster ? load_in_cluster(a, cfg, err, errlen)
                         : load_kubeconfig(a, cfg, err, errlen);
    if (rc == 0) {
        char tls_err[256];
        rc = build_tls(a, a->files, &a->tls, tls_err, sizeof(tls_err));
        if (rc != 0)
            snprintf(err, errlen, "%s: %s", a->describe, tls_err);
    }
    if (rc != 0) {
        free_auth(a);
        return rc;
    }
    init_timer(a, &a->deliver_timer);
    init_timer(a, &a->token_timer);
    init_timer(a, &a->poll_timer);
    start_timers(a);
    log_info("k8s_auth", "Kubernetes credentials loaded", LOG_STR("source", a->describe),
             LOG_STR("host", a->host), LOG_INT("port", a->port), LOG_BOOL("tls", a->use_tls));
    *out = a;
    return 0;
}

void k8s_auth_set_tuning(struct k8s_auth *a, const struct k8s_auth_tuning *t)
{
    a->tuning = *t;
    if (!a->closing)
        start_timers(a);
}

void k8s_auth_close(struct k8s_auth *a, void (*done)(void *data), void *data)
{
    if (a->closing)
        return;
    a->closing = true;
    a->done = done;
    a->done_data = data;
    deliver(a, -ECANCELED, NULL, "Kubernetes credentials are shutting down");
    if (a->run != NULL)
        exec_credential_run_cancel(a->run);
    uv_close((uv_handle_t *)&a->deliver_timer, on_handle_closed);
    uv_close((uv_handle_t *)&a->token_timer, on_handle_closed);
    uv_close((uv_handle_t *)&a->poll_timer, on_handle_closed);
}

const char *k8s_auth_host(const struct k8s_auth *a)
{
    return a->host;
}

int k8s_auth_port(const struct k8s_auth *a)
{
    return a->port;
}

bool k8s_auth_use_tls(const struct k8s_auth *a)
{
    return a->use_tls;
}

const char *k8s_auth_server_name(const struct k8s_auth *a)
{
    return a->server_name;
}

const char *k8s_auth_namespace(const struct k8s_auth *a)
{
    return a->namespace;
}

const char *k8s_auth_describe(const struct k8s_auth *a)
{
    return a->describe;
}

struct tls_config *k8s_auth_tls_config(struct k8s_auth *a)
{
    if (a->tls != NULL)
        tls_config_ref(a->tls);
    return a->tls;
}

int k8s_auth_get_token(struct k8s_auth *a, k8s_auth_token_cb cb, void *data)
{
    struct waiter *w, **tail;

    if (a->closing)
        return -ECANCELED;
    w = xcalloc(1, sizeof(*w));
    w->cb = cb;
    w->data = data;
    for (tail = &a->waiters; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = w;
    if (cred_ready(a))
        uv_timer_start(&a->deliver_timer, on_deliver, 0, 0);
    else
        start_refresh(a);
    return 0;
}

void k8s_auth_cancel_token(struct k8s_auth *a, k8s_auth_token_cb cb, void *data)
{
    struct waiter **p = &a->waiters;

    while (*p != NULL) {
        struct waiter *w = *p;
        if (w->cb == cb && w->data == data) {
            *p = w->next;
            free(w);
        } else {
            p = &w->next;
        }
    }
}

void k8s_auth_invalidate(struct k8s_auth *a)
{
    if (a->source == CRED_FILE || a->source == CRED_EXEC) {
        log_info("k8s_auth", "credential rejected; refreshing it", LOG_STR("source", a->describe));
        a->cred_valid = false;
    }
}
