/* exec_credential: runs an ExecCredential plugin (as client-go's exec authenticator does)
 * asynchronously and parses what it prints. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "k8s/auth/exec_credential.h"

/* A stderr line longer than this is logged in pieces. */
#define STDERR_LINE_MAX 1024

extern char **environ;

struct exec_credential_run {
    uv_process_t proc;
    uv_pipe_t out;
    uv_pipe_t errp;
    uv_timer_t timer;
    int open_handles;
    bool spawned;
    bool exited;
    bool silent; /* spawning failed: the caller got the error, the callback never runs */
    int64_t exit_status;
    int term_signal;
    int status; /* first failure, or 0 */
    char err[320];
    struct buf stdout_buf;
    struct buf stderr_line;
    char *command;
    char *api_version;
    uint64_t timeout_ms;
    exec_credential_run_cb cb;
    void *data;
};

void exec_credential_deinit(struct exec_credential *cred)
{
    free(cred->token);
    if (cred->client_key_pem != NULL)
        memset(cred->client_key_pem, 0, strlen(cred->client_key_pem));
    free(cred->client_key_pem);
    free(cred->client_cert_pem);
    memset(cred, 0, sizeof(*cred));
}

static int parse_status(json_t *status, struct exec_credential *cred, char *err, size_t errlen)
{
    const char *token = json_path_str(status, "token");
    const char *cert = json_path_str(status, "clientCertificateData");
    const char *key = json_path_str(status, "clientKeyData");
    const char *exp = json_path_str(status, "expirationTimestamp");
    int64_t sec;
    int32_t nsec;

    if ((cert != NULL && cert[0] != '\0') != (key != NULL && key[0] != '\0')) {
        snprintf(err, errlen,
                 "exec plugin returned only one of clientCertificateData and "
                 "clientKeyData");
        return -EINVAL;
    }
    if ((token == NULL || token[0] == '\0') && (cert == NULL || cert[0] == '\0')) {
        snprintf(err, errlen, "exec plugin returned neither a token nor a client certificate");
        return -EINVAL;
    }
    if (exp != NULL && clock_parse_rfc3339(exp, &sec, &nsec) != 0) {
        snprintf(err, errlen, "exec plugin returned an invalid expirationTimestamp \"%.64s\"", exp);
        return -EINVAL;
    }
    cred->token = token != NULL && token[0] != '\0' ? xstrdup(token) : NULL;
    cred->client_cert_pem = cert != NULL && cert[0] != '\0' ? xstrdup(cert) : NULL;
    cred->client_key_pem = cred->client_cert_pem != NULL ? xstrdup(key) : NULL;
    cred->expiry_ms = exp != NULL ? sec * 1000 + nsec / 1000000 : 0;
    if (exp != NULL && cred->expiry_ms == 0)
        cred->expiry_ms = 1; /* the epoch itself: expired, not "no expiry" */
    return 0;
}

int exec_credential_parse(const char *json, size_t len, const char *api_version,
                          struct exec_credential *cred, char *err, size_t errlen)
{
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *kind, *api;
    json_t *status;
    int rc = -EINVAL;

    memset(cred, 0, sizeof(*cred));
    if (root == NULL || !json_is_object(root)) {
        snprintf(err, errlen, "exec plugin output is not a JSON object: %s",
                 root == NULL ? jerr.text : "wrong type");
        goto out;
    }
    kind = json_path_str(root, "kind");
    api = json_path_str(root, "apiVersion");
    status = json_path_obj(root, "status");
    if (kind == NULL || strcmp(kind, "ExecCredential") != 0)
        snprintf(err, errlen, "exec plugin output has kind \"%.64s\", not ExecCredential",
                 kind != NULL ? kind : "");
    else if (api == NULL || strcmp(api, api_version) != 0)
        snprintf(err, errlen,
                 "exec plugin is configured to use API version %s, plugin returned version "
                 "\"%.64s\"",
                 api_version, api != NULL ? api : "");
    else if (status == NULL)
        snprintf(err, errlen, "exec plugin did not return a status field");
    else
        rc = parse_status(status, cred, err, errlen);
out:
    json_decref(root);
    return rc;
}

static char *base64_encode(const uint8_t *in, size_t len)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;

    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tab[(v >> 18) & 63];
        out[o++] = tab[(v >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[v & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

static json_t *cluster_json(const struct exec_credential_cluster *c)
{
    json_t *cluster = json_object();

    json_object_set_new(cluster, "server", json_string(c->server));
    if (c->tls_server_name != NULL)
        json_object_set_new(cluster, "tls-server-name", json_string(c->tls_server_name));
    if (c->insecure_skip_tls_verify)
        json_object_set_new(cluster, "insecure-skip-tls-verify", json_true());
    if (c->ca_pem != NULL) {
        char *b64 = base64_encode(c->ca_pem, c->ca_pem_len);
        json_object_set_new(cluster, "certificate-authority-data", json_string(b64));
        free(b64);
    }
    return cluster;
}

char *exec_credential_info(const char *api_version, const struct exec_credential_cluster *cluster)
{
    json_t *root = json_object();
    json_t *spec = json_object();
    char *s;

    json_object_set_new(root, "kind", json_string("ExecCredential"));
    json_object_set_new(root, "apiVersion", json_string(api_version));
    /* We are a service: no terminal, so the plugin must not prompt. */
    json_object_set_new(spec, "interactive", json_false());
    if (cluster != NULL)
        json_object_set_new(spec, "cluster", cluster_json(cluster));
    json_object_set_new(root, "spec", spec);
    s = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (s == NULL)
        abort(); /* jansson fails here only on allocation failure */
    return s;
}

static void finish(struct exec_credential_run *r)
{
    struct exec_credential cred;
    int status = r->status;

    if (status == 0 && r->term_signal != 0) {
        status = -EIO;
        snprintf(r->err, sizeof(r->err), "exec plugin %s was killed by signal %d", r->command,
                 r->term_signal);
    } else if (status == 0 && r->exit_status != 0) {
        status = -EIO;
        snprintf(r->err, sizeof(r->err), "exec plugin %s exited with status %lld", r->command,
                 (long long)r->exit_status);
    }
    memset(&cred, 0, sizeof(cred));
    if (status == 0)
        status = exec_credential_parse((const char *)r->stdout_buf.data, r->stdout_buf.len,
                                       r->api_version, &cred, r->err, sizeof(r->err));
    r->cb(status, status == 0 ? &cred : NULL, status == 0 ? NULL : r->err, r->data);
    exec_credential_deinit(&cred);
}

static void on_close(uv_handle_t *h)
{
    struct exec_credential_run *r = h->data;

    if (--r->open_handles > 0)
        return;
    if (!r->silent)
        finish(r);
    /* Tokens pass through stdout. */
    if (r->stdout_buf.data != NULL)
        memset(r->stdout_buf.data, 0, r->stdout_buf.cap);
    buf_deinit(&r->stdout_buf);
    buf_deinit(&r->stderr_line);
    free(r->command);
    free(r->api_version);
    free(r);
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, on_close);
}

/* The pipes and the timer go once the process has exited and its output ended; the process
 * handle goes in its exit callback, so the child is always reaped. */
static void maybe_close(struct exec_credential_run *r)
{
    if (r->exited && uv_is_closing((uv_handle_t *)&r->out) &&
        uv_is_closing((uv_handle_t *)&r->errp))
        close_handle((uv_handle_t *)&r->timer);
}

static void stop_run(struct exec_credential_run *r, int status)
{
    if (r->status == 0)
        r->status = status;
    if (r->spawned && !r->exited)
        uv_process_kill(&r->proc, SIGKILL);
    close_handle((uv_handle_t *)&r->out);
    close_handle((uv_handle_t *)&r->errp);
    close_handle((uv_handle_t *)&r->timer);
}

static void on_process_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
    struct exec_credential_run *r = proc->data;

    r->exited = true;
    r->exit_status = exit_status;
    r->term_signal = r->status == 0 ? term_signal : 0;
    close_handle((uv_handle_t *)proc);
    maybe_close(r);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char scratch[64 * 1024];

    /* Reads are copied out before the next one starts, so one static buffer serves all runs
     * on the one loop. */
    (void)h;
    (void)suggested;
    *b = uv_buf_init(scratch, sizeof(scratch));
}

static void on_stdout(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct exec_credential_run *r = s->data;

    if (n > 0 && buf_append(&r->stdout_buf, b->base, (size_t)n) != 0) {
        snprintf(r->err, sizeof(r->err), "exec plugin %s printed more than %d bytes", r->command,
                 EXEC_CREDENTIAL_OUTPUT_MAX);
        stop_run(r, -EMSGSIZE);
    } else if (n < 0) {
        close_handle((uv_handle_t *)s);
        maybe_close(r);
    }
}

static void flush_stderr_line(struct exec_credential_run *r)
{
    if (r->stderr_line.len == 0)
        return;
    log_warn("k8s_auth", "exec plugin stderr", LOG_STR("command", r->command),
             LOG_STR("line", buf_cstr(&r->stderr_line)));
    buf_reset(&r->stderr_line);
}

static void on_stderr(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct exec_credential_run *r = s->data;

    for (ssize_t i = 0; i < n; i++) {
        if (b->base[i] == '\n') {
            flush_stderr_line(r);
            continue;
        }
        if (r->stderr_line.len + 1 >= STDERR_LINE_MAX)
            flush_stderr_line(r);
        buf_append(&r->stderr_line, &b->base[i], 1);
    }
    if (n < 0) {
        flush_stderr_line(r);
        close_handle((uv_handle_t *)s);
        maybe_close(r);
    }
}

static void on_timeout(uv_timer_t *t)
{
    struct exec_credential_run *r = t->data;

    snprintf(r->err, sizeof(r->err), "exec plugin %s timed out after %llu ms", r->command,
             (unsigned long long)r->timeout_ms);
    log_warn("k8s_auth", "exec plugin timed out", LOG_STR("command", r->command),
             LOG_INT("timeout_ms", (long long)r->timeout_ms));
    stop_run(r, -ETIMEDOUT);
}

/* Our environment, minus the names the kubeconfig sets, plus its env and the exec info. */
static char **build_env(const struct kubeconfig_exec *x, char *info_entry)
{
    size_t n = 0, m = 0, o = 0;

    while (environ[n] != NULL)
        n++;
    while (x->env[m] != NULL)
        m++;
    char **env = xcalloc(n + m + 2, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(environ[i], '=');
        size_t name_len = eq != NULL ? (size_t)(eq - environ[i]) : strlen(environ[i]);
        bool overridden = strncmp(environ[i], "KUBERNETES_EXEC_INFO=", 21) == 0;
        for (size_t j = 0; j < m && !overridden; j++)
            overridden = strncmp(environ[i], x->env[j], name_len + 1) == 0;
        if (!overridden)
            env[o++] = environ[i];
    }
    for (size_t j = 0; j < m; j++)
        env[o++] = x->env[j];
    env[o] = info_entry;
    return env;
}

static int spawn(uv_loop_t *loop, struct exec_credential_run *r, const struct kubeconfig_exec *x,
                 const char *exec_info)
{
    uv_process_options_t opts;
    uv_stdio_container_t stdio[3];
    size_t nargs = 0;
    char *info_entry = xasprintf("KUBERNETES_EXEC_INFO=%s", exec_info);
    char **env = build_env(x, info_entry);
    int rc;

    while (x->args[nargs] != NULL)
        nargs++;
    char **argv = xcalloc(nargs + 2, sizeof(char *));
    argv[0] = x->command;
    memcpy(argv + 1, x->args, nargs * sizeof(char *));
    memset(&opts, 0, sizeof(opts));
    stdio[0].flags = UV_IGNORE;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&r->out;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&r->errp;
    opts.file = x->command;
    opts.args = argv;
    opts.env = env;
    opts.stdio = stdio;
    opts.stdio_count = 3;
    opts.exit_cb = on_process_exit;
    rc = uv_spawn(loop, &r->proc, &opts);
    free(argv);
    free(env);
    free(info_entry);
    return rc;
}

int exec_credential_run_start(uv_loop_t *loop, const struct kubeconfig_exec *x,
                              const char *exec_info, uint64_t timeout_ms, exec_credential_run_cb cb,
                              void *data, struct exec_credential_run **out, char *err,
                              size_t errlen)
{
    struct exec_credential_run *r = xcalloc(1, sizeof(*r));
    int rc;

    r->cb = cb;
    r->data = data;
    r->command = xstrdup(x->command);
    r->api_version = xstrdup(x->api_version);
    r->timeout_ms = timeout_ms;
    buf_init(&r->stdout_buf, EXEC_CREDENTIAL_OUTPUT_MAX);
    buf_init(&r->stderr_line, STDERR_LINE_MAX);
    uv_pipe_init(loop, &r->out, 0);
    uv_pipe_init(loop, &r->errp, 0);
    uv_timer_init(loop, &r->timer);
    r->out.data = r->errp.data = r->timer.data = r->proc.data = r;
    r->open_handles = 3;
    rc = spawn(loop, r, x, exec_info);
    if (rc != 0) {
        snprintf(err, errlen, "cannot run exec plugin %s: %s%s%s", x->command, uv_strerror(rc),
                 x->install_hint != NULL ? ": " : "",
                 x->install_hint != NULL ? x->install_hint : "");
        /* libuv initialised the process handle even though nothing runs: close it too. */
        r->silent = true;
        r->open_handles++;
        close_handle((uv_handle_t *)&r->proc);
        stop_run(r, rc);
        return rc;
    }
    r->spawned = true;
    r->open_handles++;
    uv_read_start((uv_stream_t *)&r->out, on_alloc, on_stdout);
    uv_read_start((uv_stream_t *)&r->errp, on_alloc, on_stderr);
    uv_timer_start(&r->timer, on_timeout, timeout_ms, 0);
    if (out != NULL)
        *out = r;
    return 0;
}

void exec_credential_run_cancel(struct exec_credential_run *r)
{
    snprintf(r->err, sizeof(r->err), "exec plugin %s was cancelled", r->command);
    stop_run(r, -ECANCELED);
}
