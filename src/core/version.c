/* version: build identity (git, date, compiler) and the library versions built against. */
#include "core/version.h"

#include <jansson.h>
#include <llhttp.h>
#include <mbedtls/version.h>
#include <nghttp2/nghttp2ver.h>
#include <protobuf-c/protobuf-c.h>
#include <uv.h>

#include <string.h>

#include "core/buf.h"
#include "core/log.h"
#include "version_info.h"

#define STR2(x) #x
#define STR(x)  STR2(x)

#if defined(__clang__)
#define COMPILER "clang " __clang_version__
#else
#define COMPILER "gcc " __VERSION__
#endif

struct fact {
    const char *key;
    const char *value;
};

static const struct fact facts[] = {
    {"version", JS_VERSION},
    {"git_commit", JS_GIT_COMMIT},
    {"build_date", JS_BUILD_DATE},
    {"compiler", COMPILER},
    {"libuv", STR(UV_VERSION_MAJOR) "." STR(UV_VERSION_MINOR) "." STR(UV_VERSION_PATCH)},
    {"nghttp2", NGHTTP2_VERSION},
    {"mbedtls", MBEDTLS_VERSION_STRING},
    {"jansson", JANSSON_VERSION},
    {"protobuf_c", PROTOBUF_C_VERSION},
    {"llhttp",
     STR(LLHTTP_VERSION_MAJOR) "." STR(LLHTTP_VERSION_MINOR) "." STR(LLHTTP_VERSION_PATCH)},
};

#define NFACTS (sizeof(facts) / sizeof(facts[0]))

const char *version_string(void)
{
    return JS_VERSION;
}

void version_print_full(FILE *out)
{
    for (size_t i = 0; i < NFACTS; i++)
        fprintf(out, "%-11s %s\n", facts[i].key, facts[i].value);
}

int version_to_json(struct buf *out)
{
    int rc = buf_append(out, "{", 1);
    for (size_t i = 0; i < NFACTS && rc == 0; i++) {
        rc = buf_appendf(out, "%s\"%s\":\"", i ? "," : "", facts[i].key);
        rc = rc ? rc : log_json_escape(out, facts[i].value, strlen(facts[i].value));
        rc = rc ? rc : buf_append(out, "\"", 1);
    }
    return rc ? rc : buf_append(out, "}", 1);
}
