/* descriptor: an index over a serialized google.protobuf.FileDescriptorSet (the one protoc
 * embeds at build time), for server reflection. Maps file names, fully-qualified symbols and
 * extensions to the file that defines them and keeps each file's serialized
 * FileDescriptorProto (json_name included) to send verbatim. I/O-free; reads the wire format
 * directly, so it needs no generated descriptor.proto code. */
#ifndef GRPC_DESCRIPTOR_H
#define GRPC_DESCRIPTOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct grpc_descriptor_file {
    char *name;     /* "google/protobuf/timestamp.proto"; owned */
    struct iov raw; /* serialized FileDescriptorProto; points into the set's bytes */
    size_t *deps;   /* indexes of the files it imports; owned */
    size_t ndeps;
};

struct grpc_descriptor_pool {
    struct grpc_descriptor_file *files; /* owned */
    size_t nfiles;
    struct grpc_descriptor_symbol *symbols; /* sorted by name; owned */
    size_t nsymbols;
    struct grpc_descriptor_ext *exts; /* owned */
    size_t nexts;
};

/* Indexes the FileDescriptorSet in |data|, which must outlive the pool (it is not copied).
 * Returns 0, or -EPROTO with |err| set when the bytes are not a valid set or an import is
 * missing from it. On error the pool is empty and needs no deinit. */
int grpc_descriptor_pool_init(struct grpc_descriptor_pool *pool, const uint8_t *data, size_t len,
                              const char **err);
void grpc_descriptor_pool_deinit(struct grpc_descriptor_pool *pool);

/* Each returns the index of the defining file, or -ENOENT. */
int grpc_descriptor_pool_find_file(const struct grpc_descriptor_pool *pool, const char *name);
/* |symbol| is fully qualified without a leading dot: "jobscheduler.JobScheduler",
 * "jobscheduler.Job", "jobscheduler.JobScheduler.ScheduleJob", "jobscheduler.Job.job_id". */
int grpc_descriptor_pool_find_symbol(const struct grpc_descriptor_pool *pool, const char *symbol);
int grpc_descriptor_pool_find_extension(const struct grpc_descriptor_pool *pool,
                                        const char *extendee, int32_t number);
/* Writes up to |cap| extension numbers of message |type| into |out| and their total count
 * into *n. Returns 0, or -ENOENT when |type| names no message. */
int grpc_descriptor_pool_extension_numbers(const struct grpc_descriptor_pool *pool,
                                           const char *type, int32_t *out, size_t cap, size_t *n);

#endif
