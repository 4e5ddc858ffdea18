/* libc.c - plain-HTTP interposers: connect, send, sendto, sendmsg, write,
 * writev, recv, recvfrom, recvmsg, read, readv, close, dup2, dup3,
 * close_range, closefrom.
 *
 * Local and self-hosted model servers (Ollama, vLLM, llama.cpp, LM Studio,
 * a LiteLLM proxy on http://) are reached over plain TCP, so their bytes
 * pass through these calls instead of OpenSSL. But read and write are also
 * every program's file and pipe I/O, so the filter comes first and costs
 * one byte load (fd_state[fd]) after the real call:
 *
 *   FD_NONE       not a TCP socket this process connect()ed: report nothing
 *   FD_CANDIDATE  connect()ed to an AF_INET/AF_INET6 SOCK_STREAM address,
 *                 nothing reported yet
 *   FD_TRACKED    bytes reported: conn.c has an entry keyed by the fd
 *
 * Writes on a candidate go to tt_conn_write. conn.c decides on the first
 * request head (Host header, TOKENTAP_HOSTS, known API path); as soon as
 * it says the connection is not LLM traffic (another host and path, TLS
 * records, any binary protocol), the fd drops back to FD_NONE and pays
 * nothing more. Reads are reported on tracked fds only: conn.c ignores
 * responses of connections it has not seen a request on anyway.
 *
 * As in ssl.c: the real function runs first (close excepted, see there),
 * only bytes actually transferred are reported, errno is preserved, and
 * hooks reached inside tokentap or libcurl (tt_rt_depth > 0) stand down.
 *
 * Not seen, by design or limit: accept()ed sockets (tokentap traces
 * clients); fds >= TT_FD_MAX; dup()/fcntl(F_DUPFD) copies of a candidate;
 * sendfile, splice, sendmmsg/recvmmsg, io_uring, TCP Fast Open without
 * connect(); glibc's fortified __read_chk/__recv_chk (they call the
 * syscall inside libc). A candidate closed behind our back (fclose of an
 * fdopen()ed socket, a raw syscall) leaves a stale flag: the
 * next write on the reused number reads as a new connection's first bytes
 * and is dropped when it is not an HTTP request, and a new connect() on
 * the number starts afresh. A vfork child that close()s a tracked socket
 * shares our memory and ends the parent's capture of it (glibc's
 * posix_spawn and CPython close through close_range or internal calls,
 * which we do not see). */
#undef _FORTIFY_SOURCE   /* fortified read/recv are inline wrappers we replace */

#include "conn.h"
#include "defer.h"
#include "ownfd.h"
#include "redirect.h"
#include "rt.h"
#include "sysstat.h"
#include "tt.h"

#include <dlfcn.h>
#include <errno.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#define TT_FD_MAX 65536

enum { FD_NONE = 0, FD_CANDIDATE = 1, FD_TRACKED = 2 };

/* Written at connect/close/first write, read by every hooked call. Bytes
 * in .bss: only the page of the fds actually used is ever touched. */
static unsigned char fd_state[TT_FD_MAX];

#define FD_KEY(fd) ((const void *)(intptr_t)(fd))
#define unlikely(x) __builtin_expect(!!(x), 0)

static inline unsigned fd_get(int fd)
{
    return (unsigned)fd < TT_FD_MAX
               ? __atomic_load_n(&fd_state[fd], __ATOMIC_RELAXED) : FD_NONE;
}

static inline void fd_set_state(int fd, unsigned s)
{
    __atomic_store_n(&fd_state[fd], (unsigned char)s, __ATOMIC_RELAXED);
}

/* glibc declares socket address arguments as a transparent union under
 * _GNU_SOURCE; the definitions must match the declarations. */
#ifdef __SOCKADDR_ALLTYPES
#define SA_PTR(a) ((a).__sockaddr__)
#else
#define SA_PTR(a) (a)
#endif

/* --- the real functions ------------------------------------------------ */

static ssize_t (*real_read)(int, void *, size_t);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_readv)(int, const struct iovec *, int);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static ssize_t (*real_recv)(int, void *, size_t, int);
static ssize_t (*real_send)(int, const void *, size_t, int);
static ssize_t (*real_recvfrom)(int, void *, size_t, int, __SOCKADDR_ARG,
                                socklen_t *);
static ssize_t (*real_sendto)(int, const void *, size_t, int,
                              __CONST_SOCKADDR_ARG, socklen_t);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static int (*real_connect)(int, __CONST_SOCKADDR_ARG, socklen_t);
static int (*real_close)(int);
static int (*real_dup2)(int, int);
static int (*real_dup3)(int, int, int);
static int (*real_close_range)(unsigned, unsigned, int);
static void (*real_closefrom)(int);

static __thread int resolving __attribute__((tls_model("initial-exec")));

/* dlsym may allocate, and a malloc replacement that reads a file while it
 * initialises would come straight back here before the slot is set: such
 * a nested call gets NULL and its hook goes to the kernel directly. */
static void *libc_sym(const char *name)
{
    void *f;

    if (resolving)
        return NULL;
    resolving = 1;
    f = dlsym(RTLD_NEXT, name);
    resolving = 0;
    return f;
}

/* The first call of each hook resolves its real function here, out of
 * line, so the hooks' common path stays a load, a call and a byte test. */
static __attribute__((noinline, cold)) void *real_resolve(void **slot,
                                                          const char *name)
{
    void *f = libc_sym(name);

    if (f)
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    return f;
}

#define REAL(slot, name)                                                      \
    ({                                                                        \
        __typeof__(slot) f_ = __atomic_load_n(&(slot), __ATOMIC_ACQUIRE);     \
        if (unlikely(!f_))                                                    \
            f_ = (__typeof__(slot))real_resolve((void **)&(slot), name);      \
        f_;                                                                   \
    })

/* --- slow paths: candidate and tracked fds only ------------------------ */

/* Forget fd: no more reporting, and conn.c finishes and drops whatever it
 * holds for it (an ignored connection too: its entry would otherwise stay
 * until the number is connected again). The flag goes first, so a thread
 * that reuses the number from now on is never taken for this connection.
 * Caller is inside tt_rt_enter() or passes in_rt = false (then conn.c is
 * not touched). */
static void fd_forget(int fd, bool in_rt)
{
    unsigned old = __atomic_exchange_n(&fd_state[fd], FD_NONE,
                                       __ATOMIC_RELAXED);

    if (old != FD_NONE && in_rt)
        tt_conn_close(TT_CONN_FD, FD_KEY(fd));
}

/* n bytes of iov went out on a candidate or tracked fd. */
static __attribute__((noinline)) void fd_wrote(int fd, const struct iovec *iov,
                                              size_t iovcnt, size_t n)
{
    int saved = errno;

    if (tt_rt_off) {
        fd_forget(fd, false);
    } else if (tt_rt_enter()) {
        const void *key = FD_KEY(fd);
        for (size_t i = 0; i < iovcnt && n > 0; i++) {
            size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
            if (len)
                tt_conn_write(TT_CONN_FD, key, NULL, iov[i].iov_base, len);
            n -= len;
        }
        if (tt_conn_ignored(TT_CONN_FD, key)) {
            fd_forget(fd, true);
        } else {
            /* Only a candidate is promoted: if another thread closed the
             * fd meanwhile, its FD_NONE stands. */
            unsigned char want = FD_CANDIDATE;
            __atomic_compare_exchange_n(&fd_state[fd], &want, FD_TRACKED,
                                        false, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED);
        }
        tt_rt_leave();
    }
    errno = saved;
}

static void fd_wrote1(int fd, const void *buf, size_t n)
{
    struct iovec v = { .iov_base = (void *)buf, .iov_len = n };

    fd_wrote(fd, &v, 1, n);
}

/* A read on a tracked fd returned ret; asked = bytes the caller had room
 * for (a 0-byte read returning 0 is not the peer closing). */
static __attribute__((noinline)) void fd_read_done(int fd,
                                                  const struct iovec *iov,
                                                  size_t iovcnt, ssize_t ret,
                                                  size_t asked)
{
    int saved = errno;

    if (ret < 0 || (ret == 0 && asked == 0))
        return;
    if (tt_rt_enter()) {
        const void *key = FD_KEY(fd);
        if (ret == 0) {
            tt_conn_eof(TT_CONN_FD, key);
        } else {
            size_t n = (size_t)ret;
            for (size_t i = 0; i < iovcnt && n > 0; i++) {
                size_t len = iov[i].iov_len < n ? iov[i].iov_len : n;
                if (len)
                    tt_conn_read(TT_CONN_FD, key, iov[i].iov_base, len);
                n -= len;
            }
        }
        tt_rt_leave();
    }
    errno = saved;
}

static void fd_read1(int fd, void *buf, ssize_t ret, size_t asked)
{
    struct iovec v = { .iov_base = buf, .iov_len = asked };

    fd_read_done(fd, &v, 1, ret, asked);
}

static size_t iov_total(const struct iovec *iov, size_t n)
{
    size_t t = 0;

    for (size_t i = 0; i < n; i++)
        t += iov[i].iov_len;
    return t;
}

/* MSG_PEEK leaves the bytes to be read again; MSG_TRUNC on TCP discards
 * them without filling buf; MSG_ERRQUEUE is not stream data. */
#define RECV_SKIP (MSG_PEEK | MSG_TRUNC | MSG_ERRQUEUE)

/* Is sa the run's gateway (TOKENTAP_GATEWAY) on loopback? */
static bool to_gateway(const struct sockaddr *sa, socklen_t len)
{
    unsigned port = tt_rt_gateway_port();

    if (!port)
        return false;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        return ntohs(in->sin_port) == port &&
               (ntohl(in->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *a = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
        return ntohs(in6->sin6_port) == port &&
               (IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
                (!memcmp(a, mapped, 12) && a[12] == 127));
    }
    return false;
}

/* connect() on fd returned ret. EALREADY/EISCONN/failures change nothing
 * (the same socket, or one the app will close). A success or EINPROGRESS
 * is a new connection on this fd number: whatever was recorded under it
 * belongs to an old one. (A second connect() that only completes a
 * non-blocking one also returns 0; no byte can have been transferred
 * before it, so there is nothing to lose.) */
static __attribute__((noinline)) void fd_connected(int fd,
                                                  const struct sockaddr *sa,
                                                  socklen_t len, int ret)
{
    int saved = errno;

    if (ret != 0 && saved != EINPROGRESS)
        return;
    bool inet = sa && len >= sizeof(sa_family_t) &&
                (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
    unsigned old = fd_get(fd);
    if (!inet && old == FD_NONE)
        return;                 /* AF_UNIX and friends: the common case */
    if (!tt_rt_enter()) {
        fd_forget(fd, false);
        errno = saved;
        return;
    }
    fd_forget(fd, true);
    if (inet && to_gateway(sa, len)) {
        /* tokentap gateway reports these calls itself. */
        tt_rt_leave();
        errno = saved;
        return;
    }
    if (inet) {
        int type = 0;
        socklen_t tl = sizeof(type);
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 &&
            type == SOCK_STREAM) {
            /* A close we did not see (close_range, a raw syscall) may have
             * left an entry under this number: drop it before reuse. */
            if (old == FD_NONE)
                tt_conn_close(TT_CONN_FD, FD_KEY(fd));
            fd_set_state(fd, FD_CANDIDATE);
        }
    }
    tt_rt_leave();
    errno = saved;
}

static __attribute__((noinline)) void fd_closing(int fd)
{
    int saved = errno;

    if (tt_rt_enter()) {
        fd_forget(fd, true);
        tt_rt_leave();
    } else {
        fd_forget(fd, false);
    }
    errno = saved;
}

/* --- hooks --------------------------------------------------------------- */

/* `tokentap replay` / `run --mock`: an LLM host's address becomes the
 * local server's (preload/redirect.h); the program and the capture see
 * the connection as the one it asked for. */
static __attribute__((noinline)) const struct sockaddr *
redirect_addr(const struct sockaddr *sa, socklen_t *len,
              struct sockaddr_storage *tmp)
{
    socklen_t n;

    if (!tt_rt_off && tt_rd_connect(sa, *len, tmp, &n)) {
        *len = n;
        return (const struct sockaddr *)tmp;
    }
    return sa;
}

TT_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    int (*f)(int, __CONST_SOCKADDR_ARG, socklen_t) =
        REAL(real_connect, "connect");
    struct sockaddr_storage rd;
    const struct sockaddr *sa = SA_PTR(addr);

    if (unlikely(sa && len >= sizeof(sa_family_t) &&
                 (sa->sa_family == AF_INET || sa->sa_family == AF_INET6)))
        sa = redirect_addr(sa, &len, &rd);
    int ret = f ? f(fd, sa, len)
                : (int)syscall(SYS_connect, fd, sa, len);

    if ((unsigned)fd < TT_FD_MAX)
        fd_connected(fd, sa, len, ret);
    return ret;
}

/* A finished call's span leaves before the program's next output to a
 * file, pipe or terminal (defer.h): the window is until the worker has
 * run the span's end (TT_DEFER_END_MS after it was queued), so a write in
 * it costs an fstat (none for the TLS records the real SSL_write writes:
 * tt_hk_in_tls_write). What is not output does not wait: sockets (the
 * next request, the program's own network I/O), and descriptors with no
 * file type (eventfd, timerfd and the like), which event loops write to
 * wake a thread. libuv's thread pool ends each zlib or DNS job so: Node's
 * answers waited for the previous call's span work, done on that thread
 * before the loop heard of them (bench fig 9). */
static inline bool is_output(mode_t m)
{
    return S_ISREG(m) || S_ISFIFO(m) || S_ISCHR(m) || S_ISBLK(m);
}

static __attribute__((noinline, cold)) void output_barrier_slow(int fd)
{
    struct stat st;
    int saved = errno;

    if (tt_sys_fstat(fd, &st) == 0 && is_output(st.st_mode) && tt_rt_enter()) {
        tt_defer_barrier();
        tt_rt_leave();
    }
    errno = saved;
}

__thread unsigned char tt_hk_in_tls_write __attribute__((tls_model("initial-exec")));

static inline void output_barrier(int fd)
{
    if (unlikely(__atomic_load_n(&tt_rt_spans_owed, __ATOMIC_RELAXED) > 0) &&
        fd_get(fd) == FD_NONE && tt_rt_depth == 0 && !tt_hk_in_tls_write)
        output_barrier_slow(fd);
}

TT_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    ssize_t (*f)(int, const void *, size_t) = REAL(real_write, "write");

    output_barrier(fd);
    ssize_t ret = f ? f(fd, buf, n) : syscall(SYS_write, fd, buf, n);

    if (unlikely(fd_get(fd) != FD_NONE) && ret > 0)
        fd_wrote1(fd, buf, (size_t)ret);
    return ret;
}

TT_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    ssize_t (*f)(int, const void *, size_t, int) = REAL(real_send, "send");
    ssize_t ret = f ? f(fd, buf, n, flags)
                    : syscall(SYS_sendto, fd, buf, n, flags, NULL, 0);

    if (unlikely(fd_get(fd) != FD_NONE) && ret > 0)
        fd_wrote1(fd, buf, (size_t)ret);
    return ret;
}

TT_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
                         __CONST_SOCKADDR_ARG addr, socklen_t len)
{
    ssize_t (*f)(int, const void *, size_t, int, __CONST_SOCKADDR_ARG,
                 socklen_t) = REAL(real_sendto, "sendto");
    ssize_t ret = f ? f(fd, buf, n, flags, addr, len)
                    : syscall(SYS_sendto, fd, buf, n, flags, SA_PTR(addr), len);

    if (unlikely(fd_get(fd) != FD_NONE) && ret > 0)
        fd_wrote1(fd, buf, (size_t)ret);
    return ret;
}

TT_EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t (*f)(int, const struct iovec *, int) = REAL(real_writev, "writev");

    output_barrier(fd);
    ssize_t ret = f ? f(fd, iov, iovcnt) : syscall(SYS_writev, fd, iov, iovcnt);

    if (unlikely(fd_get(fd) != FD_NONE) && ret > 0)
        fd_wrote(fd, iov, (size_t)iovcnt, (size_t)ret);
    return ret;
}

TT_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    ssize_t (*f)(int, const struct msghdr *, int) =
        REAL(real_sendmsg, "sendmsg");
    ssize_t ret = f ? f(fd, msg, flags) : syscall(SYS_sendmsg, fd, msg, flags);

    if (unlikely(fd_get(fd) != FD_NONE) && ret > 0)
        fd_wrote(fd, msg->msg_iov, msg->msg_iovlen, (size_t)ret);
    return ret;
}

TT_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    ssize_t (*f)(int, void *, size_t) = REAL(real_read, "read");
    ssize_t ret = f ? f(fd, buf, n) : syscall(SYS_read, fd, buf, n);

    if (unlikely(fd_get(fd) == FD_TRACKED))
        fd_read1(fd, buf, ret, n);
    return ret;
}

TT_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    ssize_t (*f)(int, void *, size_t, int) = REAL(real_recv, "recv");
    ssize_t ret = f ? f(fd, buf, n, flags)
                    : syscall(SYS_recvfrom, fd, buf, n, flags, NULL, NULL);

    if (unlikely(fd_get(fd) == FD_TRACKED) && !(flags & RECV_SKIP))
        fd_read1(fd, buf, ret, n);
    return ret;
}

TT_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags,
                           __SOCKADDR_ARG addr, socklen_t *len)
{
    ssize_t (*f)(int, void *, size_t, int, __SOCKADDR_ARG, socklen_t *) =
        REAL(real_recvfrom, "recvfrom");
    ssize_t ret = f ? f(fd, buf, n, flags, addr, len)
                    : syscall(SYS_recvfrom, fd, buf, n, flags, SA_PTR(addr),
                              len);

    if (unlikely(fd_get(fd) == FD_TRACKED) && !(flags & RECV_SKIP))
        fd_read1(fd, buf, ret, n);
    return ret;
}

TT_EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    ssize_t (*f)(int, const struct iovec *, int) = REAL(real_readv, "readv");
    ssize_t ret = f ? f(fd, iov, iovcnt) : syscall(SYS_readv, fd, iov, iovcnt);

    if (unlikely(fd_get(fd) == FD_TRACKED) && iovcnt > 0)
        fd_read_done(fd, iov, (size_t)iovcnt, ret,
                     iov_total(iov, (size_t)iovcnt));
    return ret;
}

TT_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    ssize_t (*f)(int, struct msghdr *, int) = REAL(real_recvmsg, "recvmsg");
    ssize_t ret = f ? f(fd, msg, flags) : syscall(SYS_recvmsg, fd, msg, flags);

    if (unlikely(fd_get(fd) == FD_TRACKED) && !(flags & RECV_SKIP) &&
        ret >= 0)
        fd_read_done(fd, msg->msg_iov, msg->msg_iovlen, ret,
                     iov_total(msg->msg_iov, msg->msg_iovlen));
    return ret;
}

/* The one hook that reports before the real call: once the number is
 * closed another thread may get it from open() or socket(), and its bytes
 * must never be taken for this connection's. A number tokentap itself
 * holds (ownfd.h) is let go first: it is the program's from now on. */
TT_EXPORT int close(int fd)
{
    int (*f)(int) = REAL(real_close, "close");

    tt_ownfd_closing((unsigned)fd, (unsigned)fd);
    if (unlikely(fd_get(fd) != FD_NONE))
        fd_closing(fd);
    return f ? f(fd) : (int)syscall(SYS_close, fd);
}

/* Every candidate or tracked fd in [lo, hi] ends (close_range, closefrom:
 * daemons and CPython's os.closerange close this way). */
static __attribute__((noinline)) void fd_closing_range(unsigned lo, unsigned hi)
{
    if (hi >= TT_FD_MAX)
        hi = TT_FD_MAX - 1;
    for (unsigned fd = lo; fd <= hi && lo < TT_FD_MAX; fd++)
        if (unlikely(fd_get((int)fd) != FD_NONE))
            fd_closing((int)fd);
}

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

TT_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
    int (*f)(unsigned, unsigned, int) = REAL(real_close_range, "close_range");

    if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last) {
        tt_ownfd_closing(first, last);
        fd_closing_range(first, last);
    }
#ifdef SYS_close_range
    return f ? f(first, last, flags)
             : (int)syscall(SYS_close_range, first, last, flags);
#else
    if (f)
        return f(first, last, flags);
    errno = ENOSYS;
    return -1;
#endif
}

TT_EXPORT void closefrom(int lowfd)
{
    void (*f)(int) = REAL(real_closefrom, "closefrom");
    unsigned lo = lowfd < 0 ? 0 : (unsigned)lowfd;

    tt_ownfd_closing(lo, ~0U);
    fd_closing_range(lo, ~0U);
    if (f) {
        f(lowfd);
        return;
    }
#ifdef SYS_close_range
    (void)syscall(SYS_close_range, lo, ~0U, 0);
#endif
}

/* dup2/dup3 close newfd implicitly when it is open: if it was a candidate,
 * its connection ends here (the copy is not a candidate: see the top). */
TT_EXPORT int dup2(int oldfd, int newfd)
{
    int (*f)(int, int) = REAL(real_dup2, "dup2");
    int ret;

    if (oldfd != newfd)
        tt_ownfd_closing((unsigned)newfd, (unsigned)newfd);
    if (f)
        ret = f(oldfd, newfd);
    else
#ifdef SYS_dup2
        ret = (int)syscall(SYS_dup2, oldfd, newfd);
#else
        ret = oldfd == newfd ? (fcntl(oldfd, F_GETFD) < 0 ? -1 : newfd)
                             : (int)syscall(SYS_dup3, oldfd, newfd, 0);
#endif
    if (unlikely(fd_get(newfd) != FD_NONE) && ret >= 0 && oldfd != newfd)
        fd_closing(newfd);
    return ret;
}

TT_EXPORT int dup3(int oldfd, int newfd, int flags)
{
    int (*f)(int, int, int) = REAL(real_dup3, "dup3");

    tt_ownfd_closing((unsigned)newfd, (unsigned)newfd);
    int ret = f ? f(oldfd, newfd, flags)
                : (int)syscall(SYS_dup3, oldfd, newfd, flags);

    if (unlikely(fd_get(newfd) != FD_NONE) && ret >= 0)
        fd_closing(newfd);
    return ret;
}
