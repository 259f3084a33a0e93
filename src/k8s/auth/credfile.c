/* credfile: open, read in chunks and close as a chain of uv_fs requests. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/xalloc.h"
#include "k8s/auth/credfile.h"

#define CHUNK 16384

struct credfile_req {
    uv_fs_t fs;
    uv_loop_t *loop;
    uv_file fd;
    int status;
    struct buf data;
    credfile_read_cb cb;
    void *arg;
};

static void on_closed(uv_fs_t *fs)
{
    struct credfile_req *r = fs->data;
    size_t len = 0;
    uint8_t *data = NULL;

    uv_fs_req_cleanup(fs);
    /* The buffer holds one byte over the limit, so a full one means the file is larger. */
    if (r->status == 0 && r->data.len >= r->data.max)
        r->status = -EFBIG;
    if (r->status == 0) {
        buf_cstr(&r->data);
        data = buf_steal(&r->data, &len);
        if (data == NULL)
            data = (uint8_t *)xstrdup("");
    }
    r->cb(r->status, data, len, r->arg);
    buf_deinit(&r->data);
    free(r);
}

static void finish(struct credfile_req *r, int status)
{
    if (r->status == 0)
        r->status = status;
    uv_fs_close(r->loop, &r->fs, r->fd, on_closed);
}

static void on_read(uv_fs_t *fs);

static void read_more(struct credfile_req *r)
{
    uint8_t *p = buf_reserve(&r->data, CHUNK);
    uv_buf_t b;

    if (p == NULL) {
        /* Room for less than a chunk is left: read what fits, plus one byte to see whether
         * the file is larger. */
        size_t left = r->data.max - r->data.len;
        if (left == 0 || (p = buf_reserve(&r->data, left)) == NULL) {
            finish(r, -EFBIG);
            return;
        }
        b = uv_buf_init((char *)p, (unsigned)left);
    } else {
        b = uv_buf_init((char *)p, CHUNK);
    }
    uv_fs_read(r->loop, &r->fs, r->fd, &b, 1, -1, on_read);
}

static void on_read(uv_fs_t *fs)
{
    struct credfile_req *r = fs->data;
    ssize_t n = fs->result;

    uv_fs_req_cleanup(fs);
    if (n < 0) {
        finish(r, (int)n);
        return;
    }
    if (n == 0) {
        finish(r, 0);
        return;
    }
    buf_commit(&r->data, (size_t)n);
    read_more(r);
}

static void on_open(uv_fs_t *fs)
{
    struct credfile_req *r = fs->data;
    ssize_t fd = fs->result;

    uv_fs_req_cleanup(fs);
    if (fd < 0) {
        r->cb((int)fd, NULL, 0, r->arg);
        buf_deinit(&r->data);
        free(r);
        return;
    }
    r->fd = (uv_file)fd;
    read_more(r);
}

int credfile_read(uv_loop_t *loop, const char *path, size_t max, credfile_read_cb cb, void *arg)
{
    struct credfile_req *r = xcalloc(1, sizeof(*r));
    int rc;

    r->loop = loop;
    r->cb = cb;
    r->arg = arg;
    r->fs.data = r;
    /* One byte over |max| tells a file of exactly |max| bytes from a larger one. */
    buf_init(&r->data, max + 1);
    rc = uv_fs_open(loop, &r->fs, path, O_RDONLY | O_CLOEXEC, 0, on_open);
    if (rc != 0) {
        buf_deinit(&r->data);
        free(r);
    }
    return rc;
}

int credfile_read_sync(const char *path, size_t max, uint8_t **data, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct buf b;
    int rc = 0;

    if (fd < 0)
        return -errno;
    buf_init(&b, max + 1);
    for (;;) {
        size_t want = b.max - b.len < CHUNK ? b.max - b.len : CHUNK;
        uint8_t *p = want > 0 ? buf_reserve(&b, want) : NULL;
        ssize_t n;
        if (p == NULL) {
            rc = -EFBIG;
            break;
        }
        n = read(fd, p, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : 0;
            break;
        }
        buf_commit(&b, (size_t)n);
    }
    close(fd);
    if (rc == 0 && b.len > max)
        rc = -EFBIG;
    if (rc == 0) {
        buf_cstr(&b);
        *data = buf_steal(&b, len);
        if (*data == NULL)
            *data = (uint8_t *)xstrdup("");
    }
    buf_deinit(&b);
    return rc;
}
