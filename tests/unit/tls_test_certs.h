/* tls_test_certs: test certificates made at test time with the openssl CLI, so no private
 * key is committed and nothing expires. Included by the TLS and auth unit tests.
 *
 * tls_test_certs_make() writes into a new temporary directory:
 *   ca.crt/ca.key          RSA test CA
 *   ca2.crt/ca2.key        an unrelated CA
 *   server.crt/.key        EC leaf from ca: DNS:localhost, DNS:kube.example, IP:127.0.0.1, IP:::1
 *   client.crt/.key        EC client leaf from ca (CN=client)
 *   client2.crt/.key       EC client leaf from ca2
 */
#ifndef TESTS_TLS_TEST_CERTS_H
#define TESTS_TLS_TEST_CERTS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char tls_test_certs_script[] =
    "set -e\n"
    "cd \"$1\"\n"
    "ca() {\n"
    "  openssl req -x509 -newkey rsa:2048 -nodes -keyout $1.key -out $1.crt -days 36500 \\\n"
    "    -subj /CN=$1 -addext basicConstraints=critical,CA:TRUE \\\n"
    "    -addext keyUsage=critical,keyCertSign,cRLSign\n"
    "}\n"
    "leaf() {\n"
    "  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $1.key \\\n"
    "    -out $1.csr -subj /CN=$3\n"
    "  printf '%s\\n' \"$4\" > $1.ext\n"
    "  openssl x509 -req -in $1.csr -CA $2.crt -CAkey $2.key -CAcreateserial -days 36500 \\\n"
    "    -out $1.crt -extfile $1.ext\n"
    "}\n"
    "ca ca\n"
    "ca ca2\n"
    "leaf server ca server "
    "'subjectAltName=DNS:localhost,DNS:kube.example,IP:127.0.0.1,IP:::1'\n"
    "leaf client ca client 'extendedKeyUsage=clientAuth'\n"
    "leaf client2 ca2 client2 'extendedKeyUsage=clientAuth'\n";

/* Returns a new temporary directory with the certificates (the caller frees the string and
 * removes the directory with tls_test_certs_remove), or NULL when openssl failed. */
static inline char *tls_test_certs_make(void)
{
    char tmpl[] = "/tmp/tls-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    char script[64], cmd[256];
    FILE *f;

    if (dir == NULL)
        return NULL;
    snprintf(script, sizeof(script), "%s/make.sh", dir);
    f = fopen(script, "w");
    if (f == NULL)
        return NULL;
    fputs(tls_test_certs_script, f);
    fclose(f);
    snprintf(cmd, sizeof(cmd), "sh %s %s >/dev/null 2>&1", script, dir);
    if (system(cmd) != 0)
        return NULL;
    return strdup(dir);
}

static inline void tls_test_certs_remove(char *dir)
{
    char cmd[256];

    if (dir == NULL)
        return;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(dir);
}

/* Reads |dir|/|name| into a new NUL-terminated buffer; |*len| excludes the NUL. */
static inline char *tls_test_certs_read(const char *dir, const char *name, size_t *len)
{
    char path[512];
    struct stat st;
    FILE *f;
    char *data;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (stat(path, &st) != 0 || (f = fopen(path, "rb")) == NULL)
        return NULL;
    data = calloc(1, (size_t)st.st_size + 1);
    *len = fread(data, 1, (size_t)st.st_size, f);
    fclose(f);
    return data;
}

#endif
