/* daemon_client.c - one control request to tokentapd (see daemon_client.h). */
#include "daemon_client.h"

#include <errno.h>
#include <msgpack.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Copy a msgpack string into a fixed field, truncating; non-strings leave
 * the field empty. */
static void copy_str(char *dst, size_t n, const msgpack_object *o)
{
    dst[0] = '\0';
    if (o->type != MSGPACK_OBJECT_STR || n == 0)
        return;
    size_t len = o->via.str.size < n - 1 ? o->via.str.size : n - 1;
    memcpy(dst, o->via.str.ptr, len);
    dst[len] = '\0';
}

static int64_t get_int(const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return o->via.u64 > INT64_MAX ? INT64_MAX : (int64_t)o->via.u64;
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return o->via.i64;
    return -1;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    return k->type == MSGPACK_OBJECT_STR &&
           k->via.str.size == strlen(name) &&
           memcmp(k->via.str.ptr, name, k->via.str.size) == 0;
}

int tt_dc_decode(const char *buf, size_t len, struct tt_dc_reply *out)
{
    msgpack_unpacked u;
    size_t off = 0;
    int rc = TT_ERR_PARSE;

    memset(out, 0, sizeof(*out));
    out->pid = -1;
    out->stored = -1;
    out->unstored = 0;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, buf, len, &off) != MSGPACK_UNPACK_SUCCESS)
        goto out_unpacked;
    if (u.data.type != MSGPACK_OBJECT_MAP)
        goto out_unpacked;
    for (uint32_t i = 0; i < u.data.via.map.size; i++) {
        const msgpack_object *k = &u.data.via.map.ptr[i].key;
        const msgpack_object *v = &u.data.via.map.ptr[i].val;

        if (key_is(k, "t"))
            copy_str(out->type, sizeof(out->type), v);
        else if (key_is(k, "db"))
            copy_str(out->db, sizeof(out->db), v);
        else if (key_is(k, "version"))
            copy_str(out->version, sizeof(out->version), v);
        else if (key_is(k, "error"))
            copy_str(out->error, sizeof(out->error), v);
        else if (key_is(k, "pid"))
            out->pid = get_int(v);
        else if (key_is(k, "stored"))
            out->stored = get_int(v);
        else if (key_is(k, "unstored"))
            out->unstored = get_int(v);
    }
    /* A reply without a type is not a reply of this protocol. */
    rc = out->type[0] ? TT_OK : TT_ERR_PARSE;
out_unpacked:
    msgpack_unpacked_destroy(&u);
    return rc;
}

/* Wait until fd is ready for `events` or the deadline (monotonic ms)
 * passes. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return TT_ERR_AGAIN;
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return TT_OK;
        if (r < 0 && errno != EINTR)
            return TT_ERR_IO;
    }
}

static int read_full(int fd, unsigned char *p, size_t n, int64_t deadline)
{
    size_t got = 0;

    while (got < n) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc != TT_OK)
            return rc;
        ssize_t r = recv(fd, p + got, n - got, MSG_DONTWAIT);
        if (r == 0)
            return TT_ERR_IO;   /* daemon closed without a full reply */
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return TT_ERR_IO;
        }
        got += (size_t)r;
    }
    return TT_OK;
}

static int write_full(int fd, const char *p, size_t n, int64_t deadline)
{
    size_t put = 0;

    while (put < n) {
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc != TT_OK)
            return rc;
        /* MSG_NOSIGNAL: a daemon that died must not kill the CLI. */
        ssize_t r = send(fd, p + put, n - put, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
                continue;
            return TT_ERR_IO;
        }
        put += (size_t)r;
    }
    return TT_OK;
}

int tt_dc_request(const char *sock_path, const char *type, int timeout_ms,
                  struct tt_dc_reply *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    struct tt_buf req;
    unsigned char hdr[4];
    char *body = NULL;
    int64_t deadline = mono_ms() + timeout_ms;
    int fd = -1;
    int rc;

    memset(out, 0, sizeof(*out));
    tt_buf_init(&req, 4096);
    if (strlen(sock_path) >= sizeof(sa.sun_path))
        return TT_ERR_UNSUPPORTED;
    memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return TT_ERR_IO;
    /* A unix-socket connect either succeeds at once or fails (no listener,
     * stale socket file): no need for a non-blocking connect. */
    while ((rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa))) < 0 &&
           errno == EINTR)
        ;
    if (rc < 0) {
        rc = TT_ERR_IO;
        goto out_fd;
    }
    rc = tt_wire_pack_ctl(type, &req);
    if (rc != TT_OK)
        goto out_req;
    rc = write_full(fd, req.data, req.len, deadline);
    if (rc != TT_OK)
        goto out_req;
    rc = read_full(fd, hdr, sizeof(hdr), deadline);
    if (rc != TT_OK)
        goto out_req;
    uint32_t n = tt_wire_len(hdr);
    if (n == 0 || n > TT_DC_MAX_REPLY) {
        rc = TT_ERR_PARSE;
        goto out_req;
    }
    body = malloc(n);
    if (!body) {
        rc = TT_ERR_NOMEM;
        goto out_req;
    }
    rc = read_full(fd, (unsigned char *)body, n, deadline);
    if (rc != TT_OK)
        goto out_body;
    rc = tt_dc_decode(body, n, out);
out_body:
    free(body);
out_req:
    tt_buf_free(&req);
out_fd:
    close(fd);
    return rc;
}
