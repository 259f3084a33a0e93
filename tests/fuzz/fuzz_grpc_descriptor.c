/* Fuzzes the FileDescriptorSet index used by reflection with arbitrary bytes, then looks up a
 * few names in whatever it accepted. */
#include <stddef.h>
#include <stdint.h>

#include "grpc/descriptor.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct grpc_descriptor_pool pool;
    const char *err;
    if (grpc_descriptor_pool_init(&pool, data, size, &err) < 0)
        return 0;
    int32_t nums[8];
    size_t n;
    grpc_descriptor_pool_find_symbol(&pool, "a.B");
    grpc_descriptor_pool_find_file(&pool, "a.proto");
    grpc_descriptor_pool_find_extension(&pool, "a.B", 1);
    grpc_descriptor_pool_extension_numbers(&pool, "a.B", nums, 8, &n);
    grpc_descriptor_pool_deinit(&pool);
    return 0;
}
