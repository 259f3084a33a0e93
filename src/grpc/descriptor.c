/* descriptor: FileDescriptorSet index for reflection. */
#include "grpc/descriptor.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

enum symbol_kind { SYM_MESSAGE, SYM_OTHER };

struct grpc_descriptor_symbol {
    char *name;
    size_t file;
    enum symbol_kind kind;
};

struct grpc_descriptor_ext {
    char *extendee; /* without the leading dot */
    int32_t number;
    size_t file;
};

/* A cursor over protobuf wire format. */
struct wire {
    const uint8_t *p;
    const uint8_t *end;
};

struct wire_field {
    uint32_t num;
    uint64_t varint;  /* wire type 0 */
    struct iov bytes; /* wire type 2 */
    int type;
};

static int read_varint(struct wire *w, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (w->p >= w->end)
            return -EPROTO;
        uint8_t b = *w->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return 0;
    }
    return -EPROTO;
}

/* Returns 1 with |f| filled, 0 at the end, or -EPROTO. */
static int next_field(struct wire *w, struct wire_field *f)
{
    uint64_t key, n;
    if (w->p == w->end)
        return 0;
    if (read_varint(w, &key) < 0 || (key >> 3) == 0 || (key >> 3) > UINT32_MAX)
        return -EPROTO;
    f->num = (uint32_t)(key >> 3);
    f->type = (int)(key & 7);
    switch (f->type) {
    case 0:
        return read_varint(w, &f->varint) < 0 ? -EPROTO : 1;
    case 1:
    case 5:
        n = f->type == 1 ? 8 : 4;
        break;
    case 2:
        if (read_varint(w, &n) < 0)
            return -EPROTO;
        break;
    default:
        return -EPROTO;
    }
    if (n > (uint64_t)(w->end - w->p))
        return -EPROTO;
    f->bytes = iov_make(w->p, (size_t)n);
    w->p += n;
    return 1;
}

static struct wire wire_of(struct iov v)
{
    struct wire w = {v.base, v.base + v.len};
    return w;
}

/* Finds the first length-delimited field |num| of a message; an empty view if absent. */
static int find_bytes(struct iov msg, uint32_t num, struct iov *out)
{
    struct wire w = wire_of(msg);
    struct wire_field f;
    int rc;
    *out = iov_make("", 0);
    while ((rc = next_field(&w, &f)) > 0)
        if (f.num == num && f.type == 2)
            *out = f.bytes;
    return rc;
}

struct builder {
    struct grpc_descriptor_pool *pool;
    size_t syms_cap;
    size_t exts_cap;
    size_t file;
};

static char *join(const char *scope, struct iov name)
{
    if (!*scope)
        return xmemdup0(name.base, name.len);
    return xasprintf("%s.%.*s", scope, (int)name.len, (const char *)name.base);
}

static void add_symbol(struct builder *b, char *name, enum symbol_kind kind)
{
    struct grpc_descriptor_pool *p = b->pool;
    if (p->nsymbols == b->syms_cap) {
        b->syms_cap = b->syms_cap ? b->syms_cap * 2 : 64;
        p->symbols = xrealloc(p->symbols, b->syms_cap * sizeof(*p->symbols));
    }
    p->symbols[p->nsymbols++] = (struct grpc_descriptor_symbol){name, b->file, kind};
}

/* A FieldDescriptorProto in an `extension` list: index it by extendee and number. */
static int add_extension(struct builder *b, struct iov field, const char *scope)
{
    struct wire w = wire_of(field);
    struct wire_field f;
    struct iov name = {0}, extendee = {0};
    int64_t number = 0;
    int rc;
    while ((rc = next_field(&w, &f)) > 0) {
        if (f.num == 1 && f.type == 2)
            name = f.bytes;
        else if (f.num == 2 && f.type == 2)
            extendee = f.bytes;
        else if (f.num == 3 && f.type == 0)
            number = (int64_t)f.varint;
    }
    if (rc < 0)
        return rc;
    if (extendee.len && extendee.base[0] == '.')
        extendee = iov_make(extendee.base + 1, extendee.len - 1);
    struct grpc_descriptor_pool *p = b->pool;
    if (p->nexts == b->exts_cap) {
        b->exts_cap = b->exts_cap ? b->exts_cap * 2 : 8;
        p->exts = xrealloc(p->exts, b->exts_cap * sizeof(*p->exts));
    }
    p->exts[p->nexts++] = (struct grpc_descriptor_ext){xmemdup0(extendee.base, extendee.len),
                                                       (int32_t)number, b->file};
    add_symbol(b, join(scope, name), SYM_OTHER);
    return 0;
}

/* Adds the names of the children (field 1 of each |child_num| submessage) under |scope|. */
static int add_children(struct builder *b, struct iov msg, uint32_t child_num, const char *scope)
{
    struct wire w = wire_of(msg);
    struct wire_field f;
    int rc;
    while ((rc = next_field(&w, &f)) > 0) {
        if (f.num != child_num || f.type != 2)
            continue;
        struct iov name;
        if (find_bytes(f.bytes, 1, &name) < 0)
            return -EPROTO;
        add_symbol(b, join(scope, name), SYM_OTHER);
    }
    return rc;
}

/* An EnumDescriptorProto: its values live in the enum's enclosing scope, as in C++. */
static int add_enum(struct builder *b, struct iov msg, const char *scope)
{
    struct iov name;
    if (find_bytes(msg, 1, &name) < 0)
        return -EPROTO;
    add_symbol(b, join(scope, name), SYM_OTHER);
    return add_children(b, msg, 2, scope);
}

static int add_message(struct builder *b, struct iov msg, const char *scope);

static int add_message_member(struct builder *b, struct wire_field *f, const char *full)
{
    if (f->type != 2)
        return 0;
    switch (f->num) {
    case 3:
        return add_message(b, f->bytes, full);
    case 4:
        return add_enum(b, f->bytes, full);
    case 6:
        return add_extension(b, f->bytes, full);
    default:
        return 0;
    }
}

/* A DescriptorProto: the message, its fields and oneofs, nested messages, enums and
 * extensions. */
static int add_message(struct builder *b, struct iov msg, const char *scope)
{
    struct iov name;
    if (find_bytes(msg, 1, &name) < 0)
        return -EPROTO;
    char *full = join(scope, name);
    add_symbol(b, full, SYM_MESSAGE);
    if (add_children(b, msg, 2, full) < 0 || add_children(b, msg, 8, full) < 0)
        return -EPROTO;
    struct wire w = wire_of(msg);
    struct wire_field f;
    int rc;
    while ((rc = next_field(&w, &f)) > 0)
        if (add_message_member(b, &f, full) < 0)
            return -EPROTO;
    return rc;
}

/* A ServiceDescriptorProto: the service and its methods. */
static int add_service(struct builder *b, struct iov msg, const char *scope)
{
    struct iov name;
    if (find_bytes(msg, 1, &name) < 0)
        return -EPROTO;
    char *full = join(scope, name);
    add_symbol(b, full, SYM_OTHER);
    return add_children(b, msg, 2, full);
}

static int add_file_member(struct builder *b, struct wire_field *f, const char *pkg)
{
    if (f->type != 2)
        return 0;
    switch (f->num) {
    case 4:
        return add_message(b, f->bytes, pkg);
    case 5:
        return add_enum(b, f->bytes, pkg);
    case 6:
        return add_service(b, f->bytes, pkg);
    case 7:
        return add_extension(b, f->bytes, pkg);
    default:
        return 0;
    }
}

static int add_file(struct builder *b, struct iov raw)
{
    struct grpc_descriptor_file *file = &b->pool->files[b->file];
    struct iov name, pkg;
    if (find_bytes(raw, 1, &name) < 0 || find_bytes(raw, 2, &pkg) < 0 || name.len == 0)
        return -EPROTO;
    file->name = xmemdup0(name.base, name.len);
    file->raw = raw;
    char *package = xmemdup0(pkg.base, pkg.len);
    struct wire w = wire_of(raw);
    struct wire_field f;
    int rc;
    while ((rc = next_field(&w, &f)) > 0)
        if (add_file_member(b, &f, package) < 0) {
            rc = -EPROTO;
            break;
        }
    free(package);
    return rc;
}

static int compare_symbols(const void *a, const void *b)
{
    return strcmp(((const struct grpc_descriptor_symbol *)a)->name,
                  ((const struct grpc_descriptor_symbol *)b)->name);
}

/* Resolves each file's imports (field 3) to file indexes. */
static int link_deps(struct grpc_descriptor_pool *pool)
{
    for (size_t i = 0; i < pool->nfiles; i++) {
        struct grpc_descriptor_file *file = &pool->files[i];
        struct wire w = wire_of(file->raw);
        struct wire_field f;
        int rc;
        while ((rc = next_field(&w, &f)) > 0) {
            if (f.num != 3 || f.type != 2)
                continue;
            char *dep = xmemdup0(f.bytes.base, f.bytes.len);
            int idx = grpc_descriptor_pool_find_file(pool, dep);
            free(dep);
            if (idx < 0)
                return -EPROTO;
            file->deps = xrealloc(file->deps, (file->ndeps + 1) * sizeof(size_t));
            file->deps[file->ndeps++] = (size_t)idx;
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

static int count_files(struct iov set, size_t *n)
{
    struct wire w = wire_of(set);
    struct wire_field f;
    int rc;
    *n = 0;
    while ((rc = next_field(&w, &f)) > 0)
        if (f.num == 1 && f.type == 2)
            (*n)++;
    return rc;
}

int grpc_descriptor_pool_init(struct grpc_descriptor_pool *pool, const uint8_t *data, size_t len,
                              const char **err)
{
    struct builder b = {pool, 0, 0, 0};
    struct iov set = iov_make(data, len);
    size_t n;
    memset(pool, 0, sizeof(*pool));
    *err = "invalid FileDescriptorSet";
    if (count_files(set, &n) < 0)
        return -EPROTO;
    pool->files = xcalloc(n ? n : 1, sizeof(*pool->files));
    struct wire w = wire_of(set);
    struct wire_field f;
    int rc;
    while ((rc = next_field(&w, &f)) > 0) {
        if (f.num != 1 || f.type != 2)
            continue;
        pool->nfiles = b.file + 1;
        if (add_file(&b, f.bytes) < 0)
            goto fail;
        b.file++;
    }
    if (pool->nsymbols)
        qsort(pool->symbols, pool->nsymbols, sizeof(*pool->symbols), compare_symbols);
    if (link_deps(pool) < 0) {
        *err = "FileDescriptorSet lacks an imported file";
        goto fail;
    }
    *err = NULL;
    return 0;
fail:
    grpc_descriptor_pool_deinit(pool);
    return -EPROTO;
}

void grpc_descriptor_pool_deinit(struct grpc_descriptor_pool *pool)
{
    for (size_t i = 0; i < pool->nfiles; i++) {
        free(pool->files[i].name);
        free(pool->files[i].deps);
    }
    /* Symbol names are owned once each; a message's name doubles as the scope of its
     * children but is stored only as its own symbol. */
    for (size_t i = 0; i < pool->nsymbols; i++)
        free(pool->symbols[i].name);
    for (size_t i = 0; i < pool->nexts; i++)
        free(pool->exts[i].extendee);
    free(pool->files);
    free(pool->symbols);
    free(pool->exts);
    memset(pool, 0, sizeof(*pool));
}

int grpc_descriptor_pool_find_file(const struct grpc_descriptor_pool *pool, const char *name)
{
    for (size_t i = 0; i < pool->nfiles; i++)
        if (pool->files[i].name && strcmp(pool->files[i].name, name) == 0)
            return (int)i;
    return -ENOENT;
}

static const struct grpc_descriptor_symbol *lookup(const struct grpc_descriptor_pool *pool,
                                                   const char *symbol)
{
    struct grpc_descriptor_symbol key = {(char *)symbol, 0, SYM_OTHER};
    if (!pool->nsymbols)
        return NULL;
    return bsearch(&key, pool->symbols, pool->nsymbols, sizeof(key), compare_symbols);
}

int grpc_descriptor_pool_find_symbol(const struct grpc_descriptor_pool *pool, const char *symbol)
{
    const struct grpc_descriptor_symbol *s = lookup(pool, symbol);
    return s ? (int)s->file : -ENOENT;
}

int grpc_descriptor_pool_find_extension(const struct grpc_descriptor_pool *pool,
                                        const char *extendee, int32_t number)
{
    for (size_t i = 0; i < pool->nexts; i++)
        if (pool->exts[i].number == number && strcmp(pool->exts[i].extendee, extendee) == 0)
            return (int)pool->exts[i].file;
    return -ENOENT;
}

int grpc_descriptor_pool_extension_numbers(const struct grpc_descriptor_pool *pool,
                                           const char *type, int32_t *out, size_t cap, size_t *n)
{
    const struct grpc_descriptor_symbol *s = lookup(pool, type);
    *n = 0;
    if (!s || s->kind != SYM_MESSAGE)
        return -ENOENT;
    for (size_t i = 0; i < pool->nexts; i++) {
        if (strcmp(pool->exts[i].extendee, type) != 0)
            continue;
        if (*n < cap)
            out[*n] = pool->exts[i].number;
        (*n)++;
    }
    return 0;
}
