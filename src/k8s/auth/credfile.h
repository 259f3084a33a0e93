/* credfile: reading the small files credentials live in (tokens, certificates, keys) on the
 * loop, through libuv's file system requests, so a slow disk never stalls the loop. */
#ifndef K8S_AUTH_CREDFILE_H
#define K8S_AUTH_CREDFILE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Credential files are small; anything larger is refused. */
#define CREDFILE_MAX (1024 * 1024)

/* |status| is 0 with the contents (NUL-terminated, |len| excludes the NUL; the callee takes
 * ownership and frees |data|), or a negative errno (-EFBIG when over |max|) and NULL. */
typedef void (*credfile_read_cb)(int status, uint8_t *data, size_t len, void *arg);

/* Reads |path| whole, asynchronously. Returns 0 (|cb| runs later, exactly once) or a
 * negative errno (|cb| never runs). */
int credfile_read(uv_loop_t *loop, const char *path, size_t max, credfile_read_cb cb, void *arg);
/* Reads |path| whole now; for start-up, before the loop runs. Returns 0 with a new
 * NUL-terminated buffer in |*data|, or a negative errno. */
int credfile_read_sync(const char *path, size_t max, uint8_t **data, size_t *len);

#endif
