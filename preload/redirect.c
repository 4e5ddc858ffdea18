/* redirect.c - which connections go to tokentap's local server (redirect.h). */
#include "redirect.h"
#include "settings.h"
#include "provider.h"
#include "tt.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

/* Default ports of local model servers (conn.c's loopback rule). */
static const int local_ports[] = { 11434, 8000, 8080, 1234, 4000 };

static int parse_port(const char *p, size_t n)
{
    int v = 0;

    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v > 0 && v < 65536 ? v : -1;
}

/* "host", "host:port", "[v6]:port", "v6" (more than one ':', no port). */
static int parse_entry(struct tt_rd_host *h, const char *p, size_t n)
{
    const char *hs = p;
    size_t hn = n;

    h->port = 0;
    if (n && p[0] == '[') {
        const char *rb = memchr(p, ']', n);
        if (!rb)
            return TT_ERR_PARSE;
        hs = p + 1;
        hn = (size_t)(rb - hs);
        if ((size_t)(rb - p) + 1 < n) {
            if (rb[1] != ':' ||
                (h->port = parse_port(rb + 2, n - (size_t)(rb - p) - 2)) < 0)
                return TT_ERR_PARSE;
        }
    } else {
        const char *colon = memchr(p, ':', n);
        if (colon && !memchr(colon + 1, ':', n - (size_t)(colon - p) - 1)) {
            hn = (size_t)(colon - p);
            if ((h->port = parse_port(colon + 1, n - hn - 1)) < 0)
                return TT_ERR_PARSE;
        }
    }
    if (hn == 0 || hn >= sizeof(h->host))
        return TT_ERR_PARSE;
    for (size_t i = 0; i < hn; i++)
        h->host[i] = (char)tolower((unsigned char)hs[i]);
    h->host[hn] = '\0';
    return TT_OK;
}

int tt_rd_parse(struct tt_rd_config *c, const char *target, const char *hosts,
                const char *ca)
{
    struct tt_rd_host t;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&c->target;

    memset(c, 0, sizeof(*c));
    if (!target || !*target)
        return TT_OK;
    /* The server listens on IPv4 loopback (tools/mock.c). */
    if (parse_entry(&t, target, strlen(target)) != TT_OK || !t.port ||
        inet_pton(AF_INET, t.host, &a4->sin_addr) != 1)
        return TT_ERR_PARSE;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)t.port);
    c->target_len = sizeof(*a4);
    for (const char *p = hosts ? hosts : ""; *p;) {
        size_t n = strcspn(p, ",");
        while (n && *p == ' ') {
            p++;
            n--;
        }
        size_t k = n;
        while (k && p[k - 1] == ' ')
            k--;
        if (k == 10 && !strncmp(p, "*providers", 10)) {
            c->providers = true;
        } else if (k == 6 && !strncmp(p, "*local", 6)) {
            c->local = true;
        } else if (k) {
            if (c->n == TT_RD_MAX_HOSTS ||
                parse_entry(&c->hosts[c->n], p, k) != TT_OK)
                return TT_ERR_PARSE;
            c->n++;
        }
        p += n;
        if (*p == ',')
            p++;
    }
    if (ca && *ca) {
        if (strlen(ca) >= sizeof(c->ca_path))
            return TT_ERR_PARSE;
        strcpy(c->ca_path, ca);
    }
    c->on = true;
    return TT_OK;
}

static struct tt_rd_config cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;
static int cfg_state;           /* 0 unread, 1 off, 2 on (atomic) */

static void cfg_load(void)
{
    const struct tt_settings *st = tt_settings();

    if (tt_rd_parse(&cfg, st->redirect, st->redirect_hosts, st->redirect_ca) != TT_OK)
        memset(&cfg, 0, sizeof(cfg));
    __atomic_store_n(&cfg_state, cfg.on ? 2 : 1, __ATOMIC_RELEASE);
}

bool tt_rd_on(void)
{
    int s = __atomic_load_n(&cfg_state, __ATOMIC_ACQUIRE);

    if (__builtin_expect(s == 0, 0)) {
        pthread_once(&cfg_once, cfg_load);
        s = __atomic_load_n(&cfg_state, __ATOMIC_ACQUIRE);
    }
    return s == 2;
}

static int service_port(const char *service)
{
    if (!service)
        return 0;
    if (!strcasecmp(service, "https"))
        return 443;
    if (!strcasecmp(service, "http"))
        return 80;
    return parse_port(service, strlen(service));
}

static bool is_local_port(int port)
{
    for (size_t i = 0; i < sizeof(local_ports) / sizeof(local_ports[0]); i++)
        if (local_ports[i] == port)
            return true;
    return false;
}

int tt_rd_name_match(const struct tt_rd_config *c, const char *node,
                     const char *service)
{
    unsigned char probe[16];
    int port = service_port(service);

    if (!c->on || !node || !*node)
        return 0;
    /* Numeric addresses are judged at connect(). */
    if (inet_pton(AF_INET, node, probe) == 1 || inet_pton(AF_INET6, node, probe) == 1)
        return 0;
    for (size_t i = 0; i < c->n; i++)
        if (!strcasecmp(c->hosts[i].host, node) &&
            (!c->hosts[i].port || c->hosts[i].port == port))
            return (int)i + 1;
    if (c->local && !strcasecmp(node, "localhost") && is_local_port(port))
        return TT_RD_MAX_HOSTS + 1;
    if (c->providers && tt_provider_for_host(node, strlen(node)))
        return TT_RD_MAX_HOSTS + 2;
    return 0;
}

int tt_rd_name(const char *node, const char *service)
{
    return tt_rd_on() ? tt_rd_name_match(&cfg, node, service) : 0;
}

/* The IPv4 address inside sa (plain or v4-mapped), host order; false for
 * other IPv6 addresses. */
static bool addr_v4(const struct sockaddr *sa, uint32_t *ip, int *port)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        *ip = ntohl(a->sin_addr.s_addr);
        *port = ntohs(a->sin_port);
        return true;
    }
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)sa;
    *port = ntohs(a6->sin6_port);
    if (IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr)) {
        uint32_t v;
        memcpy(&v, &a6->sin6_addr.s6_addr[12], 4);
        *ip = ntohl(v);
        return true;
    }
    return false;
}

bool tt_rd_addr_match(const struct tt_rd_config *c, const struct sockaddr *sa,
                      socklen_t len)
{
    char text[INET6_ADDRSTRLEN];
    uint32_t ip = 0;
    int port = 0;
    bool v4;

    if (!c->on || !sa ||
        (sa->sa_family == AF_INET && len < sizeof(struct sockaddr_in)) ||
        (sa->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)) ||
        (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
        return false;
    v4 = addr_v4(sa, &ip, &port);
    if (v4 && (ip & 0xffffff00u) == TT_RD_MAGIC_NET)
        return true;
    if (v4) {
        uint32_t n = htonl(ip);
        inet_ntop(AF_INET, &n, text, sizeof(text));
    } else {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, text,
                  sizeof(text));
    }
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->hosts[i].host, text) &&
            (!c->hosts[i].port || c->hosts[i].port == port))
            return true;
    bool loop = v4 ? (ip >> 24) == 127
                   : IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
    return c->local && loop && is_local_port(port);
}

bool tt_rd_connect(const struct sockaddr *sa, socklen_t len,
                   struct sockaddr_storage *out, socklen_t *out_len)
{
    if (!tt_rd_on() || !tt_rd_addr_match(&cfg, sa, len))
        return false;
    const struct sockaddr_in *t = (const struct sockaddr_in *)&cfg.target;
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        memcpy(out, t, sizeof(*t));
        *out_len = sizeof(*t);
    } else {
        /* An IPv6 socket reaches the IPv4 server by its v4-mapped address
         * (refused only on an IPV6_V6ONLY socket, which then fails as it
         * would have without a server). */
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = t->sin_port;
        a6->sin6_addr.s6_addr[10] = 0xff;
        a6->sin6_addr.s6_addr[11] = 0xff;
        memcpy(&a6->sin6_addr.s6_addr[12], &t->sin_addr, 4);
        *out_len = sizeof(*a6);
    }
    return true;
}

static unsigned char *ca_der;
static size_t ca_len;
static pthread_once_t ca_once = PTHREAD_ONCE_INIT;

static void ca_load(void)
{
    struct stat st;
    int fd = open(cfg.ca_path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size < 65536) {
        unsigned char *b = malloc((size_t)st.st_size);
        size_t got = 0;
        while (b && got < (size_t)st.st_size) {
            ssize_t r = read(fd, b + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (b && got == (size_t)st.st_size) {
            ca_der = b;
            ca_len = got;
        } else {
            free(b);
        }
    }
    close(fd);
}

const unsigned char *tt_rd_ca_der(size_t *len)
{
    if (!tt_rd_on() || !cfg.ca_path[0])
        return NULL;
    pthread_once(&ca_once, ca_load);
    *len = ca_len;
    return ca_der;
}
