/* reflection: grpc.reflection.v1 and v1alpha ServerReflection answered from the descriptor
 * set protoc embeds at build time, so grpcurl and other reflection clients need no .proto
 * files. Each file answer carries the file and everything it imports, requested file first,
 * as grpc-go does. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"
#include "grpc/descriptor.h"
#include "grpc/internal.h"
#include "grpc/server.h"
#include "grpc/reflection/v1/reflection.pb-c.h"

extern const unsigned char proto_descriptor_set[];
extern const size_t proto_descriptor_set_len;

#define REQ(x)         GRPC__REFLECTION__V1__SERVER_REFLECTION_REQUEST__MESSAGE_REQUEST_##x
#define RESP(x)        GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__MESSAGE_RESPONSE_##x
#define MAX_EXTENSIONS 256

typedef Grpc__Reflection__V1__ServerReflectionRequest reflection_request;
typedef Grpc__Reflection__V1__ServerReflectionResponse reflection_response;

struct grpc_reflection {
    struct grpc_server *srv;
    struct grpc_descriptor_pool pool;
};

struct grpc_reflection *grpc_reflection_new(struct grpc_server *srv, const char **err)
{
    struct grpc_reflection *r = xcalloc(1, sizeof(*r));
    r->srv = srv;
    if (grpc_descriptor_pool_init(&r->pool, proto_descriptor_set, proto_descriptor_set_len, err) <
        0) {
        free(r);
        return NULL;
    }
    return r;
}

void grpc_reflection_free(struct grpc_reflection *r)
{
    if (!r)
        return;
    grpc_descriptor_pool_deinit(&r->pool);
    free(r);
}

/* Appends |file| and, depth first, everything it imports that is not in |sent|. */
static void collect(const struct grpc_descriptor_pool *pool, size_t file, bool *sent,
                    ProtobufCBinaryData *out, size_t *n)
{
    if (sent[file])
        return;
    sent[file] = true;
    out[(*n)++] =
        (ProtobufCBinaryData){pool->files[file].raw.len, (uint8_t *)pool->files[file].raw.base};
    for (size_t i = 0; i < pool->files[file].ndeps; i++)
        collect(pool, pool->files[file].deps[i], sent, out, n);
}

static void answer_file(struct grpc_reflection *r, struct grpc_call *call,
                        reflection_response *resp, size_t file)
{
    size_t nfiles = r->pool.nfiles;
    bool *sent = grpc_call_alloc(call, nfiles * sizeof(bool));
    ProtobufCBinaryData *files = grpc_call_alloc(call, nfiles * sizeof(*files));
    Grpc__Reflection__V1__FileDescriptorResponse *fd = grpc_call_alloc(call, sizeof(*fd));
    size_t n = 0;
    memset(sent, 0, nfiles * sizeof(bool));
    collect(&r->pool, file, sent, files, &n);
    grpc__reflection__v1__file_descriptor_response__init(fd);
    fd->n_file_descriptor_proto = n;
    fd->file_descriptor_proto = files;
    resp->message_response_case = RESP(FILE_DESCRIPTOR_RESPONSE);
    resp->file_descriptor_response = fd;
}

static void answer_error(struct grpc_call *call, reflection_response *resp, enum grpc_status code,
                         const char *message)
{
    Grpc__Reflection__V1__ErrorResponse *e = grpc_call_alloc(call, sizeof(*e));
    grpc__reflection__v1__error_response__init(e);
    e->error_code = code;
    e->error_message = (char *)message;
    resp->message_response_case = RESP(ERROR_RESPONSE);
    resp->error_response = e;
}

static void answer_services(struct grpc_reflection *r, struct grpc_call *call,
                            reflection_response *resp)
{
    size_t n = r->srv->nservices;
    Grpc__Reflection__V1__ListServiceResponse *list = grpc_call_alloc(call, sizeof(*list));
    Grpc__Reflection__V1__ServiceResponse **items = grpc_call_alloc(call, n * sizeof(*items));
    grpc__reflection__v1__list_service_response__init(list);
    for (size_t i = 0; i < n; i++) {
        items[i] = grpc_call_alloc(call, sizeof(**items));
        grpc__reflection__v1__service_response__init(items[i]);
        items[i]->name = r->srv->services[i];
    }
    list->n_service = n;
    list->service = items;
    resp->message_response_case = RESP(LIST_SERVICES_RESPONSE);
    resp->list_services_response = list;
}

static void answer_extension_numbers(struct grpc_reflection *r, struct grpc_call *call,
                                     reflection_response *resp, const char *type)
{
    int32_t *nums = grpc_call_alloc(call, MAX_EXTENSIONS * sizeof(int32_t));
    size_t n;
    if (grpc_descriptor_pool_extension_numbers(&r->pool, type, nums, MAX_EXTENSIONS, &n) < 0)
        return answer_error(call, resp, GRPC_STATUS_NOT_FOUND, "type not found");
    Grpc__Reflection__V1__ExtensionNumberResponse *e = grpc_call_alloc(call, sizeof(*e));
    grpc__reflection__v1__extension_number_response__init(e);
    e->base_type_name = (char *)type;
    e->n_extension_number = n < MAX_EXTENSIONS ? n : MAX_EXTENSIONS;
    e->extension_number = nums;
    resp->message_response_case = RESP(ALL_EXTENSION_NUMBERS_RESPONSE);
    resp->all_extension_numbers_response = e;
}

static void answer(struct grpc_reflection *r, struct grpc_call *call, const reflection_request *req,
                   reflection_response *resp)
{
    int file;
    switch (req->message_request_case) {
    case REQ(FILE_BY_FILENAME):
        file = grpc_descriptor_pool_find_file(&r->pool, req->file_by_filename);
        if (file < 0)
            return answer_error(call, resp, GRPC_STATUS_NOT_FOUND, "file not found");
        return answer_file(r, call, resp, (size_t)file);
    case REQ(FILE_CONTAINING_SYMBOL):
        file = grpc_descriptor_pool_find_symbol(&r->pool, req->file_containing_symbol);
        if (file < 0)
            return answer_error(call, resp, GRPC_STATUS_NOT_FOUND, "symbol not found");
        return answer_file(r, call, resp, (size_t)file);
    case REQ(FILE_CONTAINING_EXTENSION):
        file = grpc_descriptor_pool_find_extension(
            &r->pool, req->file_containing_extension->containing_type,
            req->file_containing_extension->extension_number);
        if (file < 0)
            return answer_error(call, resp, GRPC_STATUS_NOT_FOUND, "extension not found");
        return answer_file(r, call, resp, (size_t)file);
    case REQ(ALL_EXTENSION_NUMBERS_OF_TYPE):
        return answer_extension_numbers(r, call, resp, req->all_extension_numbers_of_type);
    case REQ(LIST_SERVICES):
        return answer_services(r, call, resp);
    default:
        return answer_error(call, resp, GRPC_STATUS_INVALID_ARGUMENT, "no request set");
    }
}

static void on_cancel(struct grpc_call *call, enum grpc_cancel_reason reason, void *data);

static void on_request(struct grpc_call *call, const ProtobufCMessage *msg, void *data)
{
    struct grpc_reflection *r = data;
    if (!msg) {
        grpc_call_finish(call, NULL, GRPC_STATUS_OK, NULL); /* the client half-closed */
        return;
    }
    if (grpc_call_is_cancelled(call))
        return;
    grpc_call_on_cancel(call, on_cancel, r);
    const reflection_request *req = (const void *)msg;
    reflection_response resp = GRPC__REFLECTION__V1__SERVER_REFLECTION_RESPONSE__INIT;
    resp.valid_host = req->host;
    resp.original_request = (reflection_request *)req;
    answer(r, call, req, &resp);
    int rc = grpc_call_send(call, &resp.base);
    if (rc == -ENOBUFS)
        grpc_call_finish(call, NULL, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "reflection client is not reading its answers");
}

static void on_cancel(struct grpc_call *call, enum grpc_cancel_reason reason, void *data)
{
    (void)data;
    grpc_call_finish(
        call, NULL,
        reason == GRPC_CANCEL_SHUTDOWN ? GRPC_STATUS_UNAVAILABLE : GRPC_STATUS_CANCELLED, NULL);
}

/* v1alpha's messages are v1's under another package, field for field, so one codec serves
 * both versions. */
static int register_version(struct grpc_reflection *r, struct grpc_server *srv, const char *service)
{
    const struct grpc_method m = {service,
                                  "ServerReflectionInfo",
                                  GRPC_METHOD_BIDI_STREAMING,
                                  &grpc__reflection__v1__server_reflection_request__descriptor,
                                  &grpc__reflection__v1__server_reflection_response__descriptor,
                                  on_request,
                                  r};
    return grpc_server_register(srv, &m);
}

int grpc_reflection_register(struct grpc_reflection *r, struct grpc_server *srv)
{
    int rc = register_version(r, srv, "grpc.reflection.v1.ServerReflection");
    return rc < 0 ? rc : register_version(r, srv, "grpc.reflection.v1alpha.ServerReflection");
}
