/* kubeconfig: parses a kubectl configuration with libyaml's document API and resolves the
 * current context. Only the fields client-go reads for a connection are looked at; unknown
 * fields are ignored as client-go does, unsupported ones are errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <yaml.h>

#include "core/xalloc.h"
#include "k8s/auth/kubeconfig.h"

#define EXEC_V1      "client.authentication.k8s.io/v1"
#define EXEC_V1BETA1 "client.authentication.k8s.io/v1beta1"
/* Bounds on lists we copy, far above any real kubeconfig. */
#define EXEC_LIST_MAX 256

struct parse {
    yaml_document_t doc;
    const char *path;
    char *dir; /* the kubeconfig's directory, for relative paths */
    char *err;
    size_t errlen;
};

static int fail(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct parse *p, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(p->err, p->errlen, "kubeconfig %s: ", p->path);

    if (n >= 0 && (size_t)n < p->errlen) {
        va_start(ap, fmt);
        vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static yaml_node_t *node(struct parse *p, int index)
{
    return yaml_document_get_node(&p->doc, index);
}

/* YAML's null spellings, as a plain (unquoted) scalar, read as an absent value. */
static bool is_null(const yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;

    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return v[0] == '\0' || strcmp(v, "~") == 0 || strcmp(v, "null") == 0 ||
           strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0;
}

/* Returns the value under |key| in mapping |map|, or NULL when absent or null. */
static yaml_node_t *map_get(struct parse *p, yaml_node_t *map, const char *key)
{
    if (map == NULL || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top;
         pair++) {
        yaml_node_t *k = node(p, pair->key);
        if (k != NULL && k->type == YAML_SCALAR_NODE &&
            strcmp((const char *)k->data.scalar.value, key) == 0) {
            yaml_node_t *v = node(p, pair->value);
            return v == NULL || is_null(v) ? NULL : v;
        }
    }
    return NULL;
}

/* Reads a string field: 0 with |*out| set (borrowed) or NULL when absent, or an error
 * naming |where| and |key| when the value is not a string. */
static int get_str(struct parse *p, yaml_node_t *map, const char *key, const char *where,
                   const char **out)
{
    yaml_node_t *v = map_get(p, map, key);

    *out = NULL;
    if (v == NULL)
        return 0;
    if (v->type != YAML_SCALAR_NODE ||
        strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
        return fail(p, "%s%s is not a string", where, key);
    *out = (const char *)v->data.scalar.value;
    return 0;
}

static int get_bool(struct parse *p, yaml_node_t *map, const char *key, const char *where,
                    bool *out)
{
    static const char *const yes[] = {"true", "yes", "on"};
    static const char *const no[] = {"false", "no", "off"};
    const char *v;
    int rc = get_str(p, map, key, where, &v);

    *out = false;
    if (rc != 0 || v == NULL)
        return rc;
    for (size_t i = 0; i < 3; i++) {
        if (strcasecmp(v, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(v, no[i]) == 0)
            return 0;
    }
    return fail(p, "%s%s must be true or false, not \"%s\"", where, key, v);
}

static char *dup_or_null(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

static char *resolve(struct parse *p, const char *file)
{
    if (file == NULL)
        return NULL;
    if (file[0] == '/')
        return xstrdup(file);
    return xasprintf("%s/%s", p->dir, file);
}

/* Every node must have at most one parent and the root none; otherwise anchors and aliases
 * are in use, and a walk could repeat work or loop on a cycle. */
static int check_tree(struct parse *p)
{
    size_t n = (size_t)(p->doc.nodes.top - p->doc.nodes.start);
    unsigned char *refs = xcalloc(n + 1, 1);
    int rc = 0;

    refs[1] = 1; /* the root */
    for (size_t i = 1; i <= n && rc == 0; i++) {
        yaml_node_t *x = node(p, (int)i);
        if (x->type == YAML_SEQUENCE_NODE) {
            for (yaml_node_item_t *it = x->data.sequence.items.start;
                 it < x->data.sequence.items.top && rc == 0; it++)
                rc = refs[*it]++ ? -1 : 0;
        } else if (x->type == YAML_MAPPING_NODE) {
            for (yaml_node_pair_t *pr = x->data.mapping.pairs.start;
                 pr < x->data.mapping.pairs.top && rc == 0; pr++)
                rc = (refs[pr->key]++ || refs[pr->value]++) ? -1 : 0;
        }
    }
    free(refs);
    return rc == 0 ? 0 : fail(p, "YAML anchors and aliases are not supported");
}

/* Finds the entry named |name| in the list |list| (contexts, clusters, users) and returns its
 * |inner| mapping (context, cluster, user) in |*out|, or NULL when no entry has the name. */
static int find_named(struct parse *p, const char *list, const char *inner, const char *name,
                      yaml_node_t **out)
{
    yaml_node_t *seq = map_get(p, node(p, 1), list);

    *out = NULL;
    if (seq == NULL)
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(p, "%s is not a list", list);
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *entry = node(p, *it);
        const char *n;
        if (entry->type != YAML_MAPPING_NODE)
            return fail(p, "%s[%d] is not a mapping", list,
                        (int)(it - seq->data.sequence.items.start));
        if (get_str(p, entry, "name", "", &n) != 0)
            return -EINVAL;
        if (n == NULL || strcmp(n, name) != 0)
            continue;
        *out = map_get(p, entry, inner);
        if (*out == NULL || (*out)->type != YAML_MAPPING_NODE)
            return fail(p, "%s entry \"%s\" has no %s mapping", list, name, inner);
        return 0;
    }
    return 0;
}

int kubeconfig_base64_decode(const char *in, size_t len, uint8_t **out, size_t *outlen)
{
    uint8_t *buf = xmalloc(len / 4 * 3 + 4);
    uint32_t acc = 0;
    size_t n = 0, bits = 0, pad = 0;

    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        int v;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (c == '=') {
            pad++;
            continue;
        }
        if (pad > 0)
            goto out_invalid; /* data after padding */
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            v = c - '0' + 52;
        else if (c == '+')
            v = 62;
        else if (c == '/')
            v = 63;
        else
            goto out_invalid;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[n++] = (uint8_t)(acc >> bits);
        }
    }
    /* A lone trailing sextet (bits == 6) cannot encode a byte; padding beyond what the last
     * group needs is malformed. */
    if (bits == 6 || pad > 2 || (pad > 0 && pad != (bits == 4 ? 2u : bits == 2 ? 1u : 99u)))
        goto out_invalid;
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
out_invalid:
    free(buf);
    return -EINVAL;
}

/* Reads |file_key| (a path) and |data_key| (base64) of |map| into |blob|. */
static int get_blob(struct parse *p, yaml_node_t *map, const char *file_key, const char *data_key,
                    const char *where, struct kubeconfig_blob *blob)
{
    const char *file, *data;

    if (get_str(p, map, file_key, where, &file) != 0 ||
        get_str(p, map, data_key, where, &data) != 0)
        return -EINVAL;
    blob->file = resolve(p, file);
    if (data != NULL && kubeconfig_base64_decode(data, strlen(data), &blob->data, &blob->len) != 0)
        return fail(p, "%s%s is not valid base64", where, data_key);
    return 0;
}

static int parse_cluster(struct parse *p, yaml_node_t *c, const char *where, struct kubeconfig *kc)
{
    const char *server, *sni, *proxy;

    if (get_str(p, c, "server", where, &server) != 0 ||
        get_str(p, c, "tls-server-name", where, &sni) != 0 ||
        get_str(p, c, "proxy-url", where, &proxy) != 0)
        return -EINVAL;
    if (server == NULL || server[0] == '\0')
        return fail(p, "%sserver is not set", where);
    if (proxy != NULL)
        return fail(p, "%sproxy-url is not supported", where);
    kc->server = xstrdup(server);
    kc->tls_server_name = dup_or_null(sni);
    if (get_bool(p, c, "insecure-skip-tls-verify", where, &kc->insecure_skip_tls_verify) != 0)
        return -EINVAL;
    return get_blob(p, c, "certificate-authority", "certificate-authority-data", where, &kc->ca);
}

/* Copies a list of strings; |what| names it in errors. */
static int get_str_list(struct parse *p, yaml_node_t *seq, const char *what, char ***out)
{
    size_t n = 0;

    *out = xcalloc(EXEC_LIST_MAX + 1, sizeof(char *));
    if (seq == NULL)
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(p, "%s is not a list", what);
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *v = node(p, *it);
        if (n == EXEC_LIST_MAX)
            return fail(p, "%s has more than %d entries", what, EXEC_LIST_MAX);
        if (v->type != YAML_SCALAR_NODE ||
            strlen((const char *)v->data.scalar.value) != v->data.scalar.length)
            return fail(p, "%s[%zu] is not a string", what, n);
        (*out)[n++] = xstrdup((const char *)v->data.scalar.value);
    }
    return 0;
}

static int get_env(struct parse *p, yaml_node_t *seq, const char *where, char ***out)
{
    size_t n = 0;

    *out = xcalloc(EXEC_LIST_MAX + 1, sizeof(char *));
    if (seq == NULL)
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE)
        return fail(p, "%sexec.env is not a list", where);
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++) {
        yaml_node_t *e = node(p, *it);
        const char *name, *value;
        if (n == EXEC_LIST_MAX)
            return fail(p, "%sexec.env has more than %d entries", where, EXEC_LIST_MAX);
        if (e->type != YAML_MAPPING_NODE)
            return fail(p, "%sexec.env[%zu] is not a mapping", where, n);
        if (get_str(p, e, "name", where, &name) != 0 || get_str(p, e, "value", where, &value) != 0)
            return -EINVAL;
        if (name == NULL || name[0] == '\0' || strchr(name, '=') != NULL)
            return fail(p, "%sexec.env[%zu].name must be a variable name", where, n);
        (*out)[n++] = xasprintf("%s=%s", name, value != NULL ? value : "");
    }
    return 0;
}

static int get_interactive(struct parse *p, yaml_node_t *e, const char *where,
                           struct kubeconfig_exec *x)
{
    const char *mode;

    if (get_str(p, e, "interactiveMode", where, &mode) != 0)
        return -EINVAL;
    if (mode == NULL) {
        /* client-go requires it in v1 and defaults it to IfAvailable in v1beta1. */
        if (strcmp(x->api_version, EXEC_V1) == 0)
            return fail(p, "%sexec.interactiveMode must be set for %s", where, EXEC_V1);
        x->interactive_mode = KUBECONFIG_INTERACTIVE_IF_AVAILABLE;
    } else if (strcmp(mode, "Never") == 0) {
        x->interactive_mode = KUBECONFIG_INTERACTIVE_NEVER;
    } else if (strcmp(mode, "IfAvailable") == 0) {
        x->interactive_mode = KUBECONFIG_INTERACTIVE_IF_AVAILABLE;
    } else if (strcmp(mode, "Always") == 0) {
        return fail(p,
                    "%sexec.interactiveMode Always needs a terminal, which a service does "
                    "not have",
                    where);
    } else {
        return fail(p, "%sexec.interactiveMode \"%s\" is not Never, IfAvailable or Always", where,
                    mode);
    }
    return 0;
}

static int parse_exec(struct parse *p, yaml_node_t *e, const char *where, struct kubeconfig_exec *x)
{
    const char *api, *cmd, *hint;
    char what[360];

    if (e->type != YAML_MAPPING_NODE)
        return fail(p, "%sexec is not a mapping", where);
    if (get_str(p, e, "apiVersion", where, &api) != 0 ||
        get_str(p, e, "command", where, &cmd) != 0 ||
        get_str(p, e, "installHint", where, &hint) != 0)
        return -EINVAL;
    if (api == NULL || (strcmp(api, EXEC_V1) != 0 && strcmp(api, EXEC_V1BETA1) != 0))
        return fail(p, "%sexec.apiVersion \"%s\" is not supported (use %s or %s)", where,
                    api != NULL ? api : "", EXEC_V1, EXEC_V1BETA1);
    if (cmd == NULL || cmd[0] == '\0')
        return fail(p, "%sexec.command is not set", where);
    x->api_version = xstrdup(api);
    /* As client-go: only a command with a path separator is relative to the file. */
    x->command = strchr(cmd, '/') != NULL ? resolve(p, cmd) : xstrdup(cmd);
    x->install_hint = dup_or_null(hint);
    snprintf(what, sizeof(what), "%sexec.args", where);
    if (get_str_list(p, map_get(p, e, "args"), what, &x->args) != 0 ||
        get_env(p, map_get(p, e, "env"), where, &x->env) != 0 ||
        get_interactive(p, e, where, x) != 0)
        return -EINVAL;
    return get_bool(p, e, "provideClusterInfo", where, &x->provide_cluster_info);
}

static int reject_unsupported(struct parse *p, yaml_node_t *u, const char *where)
{
    static const char *const impersonation[] = {"as", "as-uid", "as-groups", "as-user-extra"};

    if (map_get(p, u, "auth-provider") != NULL)
        return fail(p, "%sauth-provider is not supported (use an exec credential plugin)", where);
    if (map_get(p, u, "username") != NULL || map_get(p, u, "password") != NULL)
        return fail(p, "%susername/password (basic) authentication is not supported", where);
    for (size_t i = 0; i < sizeof(impersonation) / sizeof(impersonation[0]); i++)
        if (map_get(p, u, impersonation[i]) != NULL)
            return fail(p, "%s%s (impersonation) is not supported", where, impersonation[i]);
    return 0;
}

static int parse_user(struct parse *p, yaml_node_t *u, const char *where, struct kubeconfig *kc)
{
    const char *token, *token_file;
    yaml_node_t *exec;

    if (reject_unsupported(p, u, where) != 0 || get_str(p, u, "token", where, &token) != 0 ||
        get_str(p, u, "tokenFile", where, &token_file) != 0)
        return -EINVAL;
    kc->token = dup_or_null(token);
    kc->token_file = resolve(p, token_file);
    if (get_blob(p, u, "client-certificate", "client-certificate-data", where, &kc->client_cert) !=
            0 ||
        get_blob(p, u, "client-key", "client-key-data", where, &kc->client_key) != 0)
        return -EINVAL;
    if ((kc->client_cert.file || kc->client_cert.data) !=
        (kc->client_key.file || kc->client_key.data))
        return fail(
            p, "%s%s is set without %s", where,
            kc->client_key.file || kc->client_key.data ? "client-key" : "client-certificate",
            kc->client_key.file || kc->client_key.data ? "client-certificate" : "client-key");
    exec = map_get(p, u, "exec");
    if (exec == NULL)
        return 0;
    if (kc->token != NULL || kc->token_file != NULL)
        return fail(p, "%sexec and token/tokenFile are mutually exclusive", where);
    kc->exec = xcalloc(1, sizeof(*kc->exec));
    return parse_exec(p, exec, where, kc->exec);
}

static int parse_context(struct parse *p, struct kubeconfig *kc)
{
    yaml_node_t *ctx, *cluster, *user;
    const char *name, *cluster_name, *user_name, *ns;
    char where[320];

    if (get_str(p, node(p, 1), "current-context", "", &name) != 0)
        return -EINVAL;
    if (name == NULL || name[0] == '\0')
        return fail(p, "current-context is not set");
    kc->context = xstrdup(name);
    if (find_named(p, "contexts", "context", name, &ctx) != 0)
        return -EINVAL;
    if (ctx == NULL)
        return fail(p, "current-context \"%s\" is not defined in contexts", name);
    snprintf(where, sizeof(where), "context \"%s\": ", name);
    if (get_str(p, ctx, "cluster", where, &cluster_name) != 0 ||
        get_str(p, ctx, "user", where, &user_name) != 0 ||
        get_str(p, ctx, "namespace", where, &ns) != 0)
        return -EINVAL;
    if (cluster_name == NULL || cluster_name[0] == '\0')
        return fail(p, "context \"%s\" names no cluster", name);
    kc->cluster_name = xstrdup(cluster_name);
    kc->namespace = ns != NULL && ns[0] != '\0' ? xstrdup(ns) : NULL;
    if (find_named(p, "clusters", "cluster", cluster_name, &cluster) != 0)
        return -EINVAL;
    if (cluster == NULL)
        return fail(p, "context \"%s\" names cluster \"%s\" which is not defined in clusters", name,
                    cluster_name);
    snprintf(where, sizeof(where), "cluster \"%s\": ", cluster_name);
    if (parse_cluster(p, cluster, where, kc) != 0)
        return -EINVAL;
    if (user_name == NULL || user_name[0] == '\0')
        return 0; /* anonymous, as kubectl allows */
    kc->user_name = xstrdup(user_name);
    if (find_named(p, "users", "user", user_name, &user) != 0)
        return -EINVAL;
    if (user == NULL)
        return fail(p, "context \"%s\" names user \"%s\" which is not defined in users", name,
                    user_name);
    snprintf(where, sizeof(where), "user \"%s\": ", user_name);
    return parse_user(p, user, where, kc);
}

static int load_document(struct parse *p, const char *yaml, size_t len)
{
    yaml_parser_t parser;
    int rc = 0;

    yaml_parser_initialize(&parser);
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
    if (!yaml_parser_load(&parser, &p->doc)) {
        rc = fail(p, "invalid YAML: %s at line %zu column %zu",
                  parser.problem ? parser.problem : "parse error", parser.problem_mark.line + 1,
                  parser.problem_mark.column + 1);
        memset(&p->doc, 0, sizeof(p->doc));
    }
    yaml_parser_delete(&parser);
    return rc;
}

static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return xstrdup(".");
    if (slash == path)
        return xstrdup("/");
    return xstrndup(path, (size_t)(slash - path));
}

int kubeconfig_parse(const char *yaml, size_t len, const char *path, struct kubeconfig **out,
                     char *err, size_t errlen)
{
    struct parse p = {.path = path, .err = err, .errlen = errlen};
    struct kubeconfig *kc = xcalloc(1, sizeof(*kc));
    yaml_node_t *root;
    int rc;

    kc->path = xstrdup(path);
    p.dir = dir_of(path);
    rc = load_document(&p, yaml, len);
    if (rc != 0)
        goto out;
    root = yaml_document_get_root_node(&p.doc);
    if (root == NULL)
        rc = fail(&p, "the file is empty");
    else if (root->type != YAML_MAPPING_NODE)
        rc = fail(&p, "the top level is not a mapping");
    else
        rc = check_tree(&p);
    if (rc == 0)
        rc = parse_context(&p, kc);
    yaml_document_delete(&p.doc);
out:
    free(p.dir);
    if (rc != 0) {
        kubeconfig_free(kc);
        return rc;
    }
    *out = kc;
    return 0;
}

static void free_list(char **list)
{
    if (list == NULL)
        return;
    for (char **s = list; *s != NULL; s++)
        free(*s);
    free(list);
}

static void blob_free(struct kubeconfig_blob *b)
{
    free(b->file);
    if (b->data != NULL)
        memset(b->data, 0, b->len); /* key material */
    free(b->data);
}

void kubeconfig_free(struct kubeconfig *kc)
{
    if (kc == NULL)
        return;
    if (kc->exec != NULL) {
        free(kc->exec->api_version);
        free(kc->exec->command);
        free_list(kc->exec->args);
        free_list(kc->exec->env);
        free(kc->exec->install_hint);
        free(kc->exec);
    }
    free(kc->path);
    free(kc->context);
    free(kc->cluster_name);
    free(kc->user_name);
    free(kc->namespace);
    free(kc->server);
    blob_free(&kc->ca);
    free(kc->tls_server_name);
    free(kc->token);
    free(kc->token_file);
    blob_free(&kc->client_cert);
    blob_free(&kc->client_key);
    free(kc);
}
