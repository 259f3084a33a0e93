/* Fuzz target for the kubeconfig codec: any bytes must parse or fail with a message, never
 * crash, leak or take more than linear work. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "k8s/auth/kubeconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kubeconfig *kc = NULL;
    char err[512];

    if (kubeconfig_parse((const char *)data, size, "/fuzz/config", &kc, err, sizeof(err)) == 0)
        kubeconfig_free(kc);
    else if (memchr(err, '\0', sizeof(err)) == NULL || strncmp(err, "kubeconfig ", 11) != 0)
        __builtin_trap(); /* every error is one NUL-terminated line naming the file */
    return 0;
}
