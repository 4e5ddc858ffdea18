/* ws_client.c - a small WebSocket client in C on OpenSSL (or a plain
 * socket), for the WebSocket tests (tests/integration/test_websocket.py).
 * Its own frame code, independent of the capture's (preload/ws.c).
 *
 * usage: ws_client responses|realtime [--deflate] [--split N] [--frag N]
 *   OPENAI_BASE_URL  http(s)://127.0.0.1:PORT[/prefix] (the gateway's under
 *                `tokentap run --gateway on`), else MOCK_BASE/v1 (wss / ws)
 *   SSL_CERT_FILE  the CA (OpenSSL's default verify paths read it)
 *   --deflate    offer permessage-deflate; compress what it sends (context
 *                kept across messages) and inflate what it gets
 *   --split N    write everything (handshake included) in N-byte writes
 *   --frag N     send messages in frames of N payload bytes, a ping
 *                between fragments
 *   --header H   one more request header ("x-mock-ws-tiny: 1")
 *   --turns N    Responses: N chained calls after the warm-up (bench figure
 *                16); prints "turns N seconds S" for them
 * Prints the text of each response and its usage (compared with an
 * untraced run). Exit 0 when both flows completed. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static int fd = -1;
static SSL *ssl;
static long split_n, frag_n, turns = 1;
static int deflate_on;
static z_stream zc, zd;             /* compressor (ours), inflater (server's) */

static unsigned char in[1 << 20];
static size_t in_len;

static void die(const char *m)
{
    fprintf(stderr, "ws_client: %s\n", m);
    exit(1);
}

static void out_raw(const void *p, size_t n)
{
    const char *c = p;

    while (n) {
        size_t k = split_n > 0 && (size_t)split_n < n ? (size_t)split_n : n;
        if (ssl) {
            if (SSL_write(ssl, c, (int)k) != (int)k)
                die("SSL_write");
        } else if (send(fd, c, k, MSG_NOSIGNAL) != (ssize_t)k) {
            die("send");
        }
        c += k;
        n -= k;
    }
}

static int in_more(void)
{
    int n;

    if (in_len == sizeof in)
        die("input buffer full");
    if (ssl)
        n = SSL_read(ssl, in + in_len, (int)(sizeof in - in_len));
    else
        n = (int)recv(fd, in + in_len, sizeof in - in_len, 0);
    if (n <= 0)
        return -1;
    in_len += (size_t)n;
    return 0;
}

static void in_drop(size_t n)
{
    memmove(in, in + n, in_len - n);
    in_len -= n;
}

/* One masked frame. */
static void frame(int fin, int rsv1, int op, const unsigned char *p, size_t n)
{
    unsigned char h[14], mask[4], *buf;
    size_t hl = 2;

    if (RAND_bytes(mask, 4) != 1)
        die("RAND_bytes");
    h[0] = (unsigned char)((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | op);
    if (n < 126) {
        h[1] = (unsigned char)(0x80 | n);
    } else if (n < 65536) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    memcpy(h + hl, mask, 4);
    hl += 4;
    buf = malloc(hl + n);
    memcpy(buf, h, hl);
    for (size_t i = 0; i < n; i++)
        buf[hl + i] = p[i] ^ mask[i & 3];
    out_raw(buf, hl + n);
    free(buf);
}

static void send_text(const char *text)
{
    unsigned char *p = (unsigned char *)text, *z = NULL;
    size_t n = strlen(text);

    if (deflate_on) {
        size_t cap = n + 256;
        z = malloc(cap);
        zc.next_in = (Bytef *)text;
        zc.avail_in = (uInt)n;
        zc.next_out = z;
        zc.avail_out = (uInt)cap;
        if (deflate(&zc, Z_SYNC_FLUSH) != Z_OK || zc.avail_in)
            die("deflate");
        n = cap - zc.avail_out - 4;      /* without 00 00 ff ff */
        p = z;
    }
    if (frag_n <= 0 || (size_t)frag_n >= n) {
        frame(1, deflate_on, 1, p, n);
    } else {
        for (size_t off = 0; off < n;) {
            size_t k = n - off < (size_t)frag_n ? n - off : (size_t)frag_n;
            frame(off + k == n, off == 0 && deflate_on, off == 0 ? 1 : 0, p + off, k);
            off += k;
            if (off < n)
                frame(1, 0, 9, (const unsigned char *)"c", 1);   /* ping */
        }
    }
    free(z);
}

/* The next text message (answering pings); NULL when the socket ended. */
static char *recv_text(void)
{
    static unsigned char *msg;
    static size_t msg_len, msg_cap;
    int compressed = 0;

    msg_len = 0;
    for (;;) {
        while (in_len < 2)
            if (in_more() < 0)
                return NULL;
        size_t hl = 2;
        uint64_t n = in[1] & 0x7f;
        if (n == 126)
            hl = 4;
        else if (n == 127)
            hl = 10;
        while (in_len < hl)
            if (in_more() < 0)
                return NULL;
        if (n == 126)
            n = (uint64_t)in[2] << 8 | in[3];
        else if (n == 127) {
            n = 0;
            for (int i = 0; i < 8; i++)
                n = n << 8 | in[2 + i];
        }
        if (in[1] & 0x80)
            die("masked server frame");
        while (in_len < hl + n)
            if (in_more() < 0)
                return NULL;
        int fin = in[0] & 0x80, op = in[0] & 0x0f;
        if (op == 9) {                       /* ping: pong */
            frame(1, 0, 10, in + hl, (size_t)n);
        } else if (op == 8) {
            return NULL;
        } else if (op == 1 || op == 0) {
            if (op == 1)
                compressed = in[0] & 0x40;
            if (msg_len + n + 4 > msg_cap) {
                msg_cap = (msg_len + n + 4) * 2;
                msg = realloc(msg, msg_cap);
            }
            memcpy(msg + msg_len, in + hl, (size_t)n);
            msg_len += n;
            if (fin) {
                in_drop(hl + (size_t)n);
                break;
            }
        }
        in_drop(hl + (size_t)n);
    }
    if (!compressed) {
        char *s = malloc(msg_len + 1);
        memcpy(s, msg, msg_len);
        s[msg_len] = 0;
        return s;
    }
    memcpy(msg + msg_len, "\x00\x00\xff\xff", 4);
    size_t cap = msg_len * 8 + 1024, got;
    char *s = malloc(cap);
    zd.next_in = msg;
    zd.avail_in = (uInt)(msg_len + 4);
    zd.next_out = (Bytef *)s;
    zd.avail_out = (uInt)(cap - 1);
    int rc = inflate(&zd, Z_SYNC_FLUSH);
    if ((rc != Z_OK && rc != Z_BUF_ERROR) || zd.avail_in)
        die("inflate");
    got = cap - 1 - zd.avail_out;
    s[got] = 0;
    return s;
}

/* Events until one of type `a` or `b`; returns it (caller decrefs) and
 * appends the text deltas to text. */
static json_t *until(const char *a, const char *b, char *text, size_t cap)
{
    for (;;) {
        char *s = recv_text();
        if (!s)
            die("socket ended");
        json_t *ev = json_loads(s, 0, NULL);
        free(s);
        const char *t = json_string_value(json_object_get(ev, "type"));
        if (!t)
            die("event without type");
        if (text && (strstr(t, "transcript.delta") || strstr(t, "output_text.delta")))
            strncat(text, json_string_value(json_object_get(ev, "delta")),
                    cap - strlen(text) - 1);
        if (!strcmp(t, a) || (b && !strcmp(t, b)))
            return ev;
        json_decref(ev);
    }
}

static void print_usage(const char *what, const char *text, json_t *ev)
{
    char *u = json_dumps(json_object_get(json_object_get(ev, "response"), "usage"),
                         JSON_COMPACT | JSON_SORT_KEYS);
    printf("%s %s %s\n", what, text, u ? u : "null");
    free(u);
}

int main(int argc, char **argv)
{
    const char *base = getenv("OPENAI_BASE_URL");
    char mbase[512], prefix[512] = "";
    int tls, realtime;
    char host[256], req[4096], text[4096], extra[1024] = "";
    unsigned char key[16];
    char key64[32];
    int port;

    if (!base || !*base) {
        snprintf(mbase, sizeof mbase, "%s/v1", getenv("MOCK_BASE") ? getenv("MOCK_BASE") : "");
        base = mbase;
    }
    if (argc < 2)
        die("usage: ws_client responses|realtime [--deflate] [--split N] [--frag N]");
    realtime = !strcmp(argv[1], "realtime");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--deflate"))
            deflate_on = 1;
        else if (!strcmp(argv[i], "--split") && i + 1 < argc)
            split_n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--frag") && i + 1 < argc)
            frag_n = atol(argv[++i]);
        else if (!strcmp(argv[i], "--turns") && i + 1 < argc)
            turns = atol(argv[++i]);
        else if (!strcmp(argv[i], "--header") && i + 1 < argc &&
                 strlen(extra) + strlen(argv[i + 1]) + 3 < sizeof extra) {
            strcat(extra, argv[++i]);
            strcat(extra, "\r\n");
        }
    }
    tls = !strncmp(base, "https://", 8);
    if (sscanf(base + (tls ? 8 : 7), "%255[^:]:%d%511s", host, &port, prefix) < 2)
        die("base URL");
    size_t pl = strlen(prefix);
    while (pl && prefix[pl - 1] == '/')
        prefix[--pl] = 0;

    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        die("host must be numeric");
    fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    if (tls) {
        SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_default_verify_paths(ctx);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        ssl = SSL_new(ctx);
        SSL_set_fd(ssl, fd);
        SSL_set1_host(ssl, host);
        if (SSL_connect(ssl) != 1) {
            ERR_print_errors_fp(stderr);
            die("TLS handshake");
        }
    }
    if (RAND_bytes(key, sizeof key) != 1)
        die("RAND_bytes");
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
    snprintf(req, sizeof req,
             "GET %s%s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s"
             "Authorization: Bearer sk-test-not-a-key\r\n%s\r\n",
             prefix, realtime ? "/realtime?model=gpt-realtime" : "/responses", host, port, key64,
             deflate_on ? "Sec-WebSocket-Extensions: permessage-deflate\r\n" : "", extra);
    out_raw(req, strlen(req));
    /* The 101 head; what follows it stays in `in`. */
    char *end;
    while (!(end = memmem(in, in_len, "\r\n\r\n", 4)))
        if (in_more() < 0)
            die("no handshake answer");
    if (strncmp((char *)in, "HTTP/1.1 101", 12))
        die("upgrade refused");
    int got_deflate = memmem(in, (size_t)(end - (char *)in), "permessage-deflate", 18) != NULL;
    if (deflate_on && !got_deflate)
        die("permessage-deflate not accepted");
    in_drop((size_t)(end - (char *)in) + 4);
    if (deflate_on) {
        if (deflateInit2(&zc, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
            inflateInit2(&zd, -15) != Z_OK)
            die("zlib");
    }

    json_t *ev;
    if (!realtime) {
        send_text("{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"generate\":false,"
                  "\"input\":[],\"instructions\":\"You are terse.\"}");
        ev = until("response.completed", "error", NULL, 0);
        const char *id = json_string_value(json_object_get(json_object_get(ev, "response"), "id"));
        if (!id)
            die("warm-up failed");
        print_usage("warmup", id, ev);
        char msg[512], prev[128];
        struct timespec t0, t1;
        snprintf(prev, sizeof prev, "%s", id);
        json_decref(ev);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (long t = 0; t < turns; t++) {
            snprintf(msg, sizeof msg,
                     "{\"type\":\"response.create\",\"model\":\"gpt-5-mini\",\"previous_response_id\":"
                     "\"%s\",\"input\":[{\"role\":\"user\",\"content\":\"Say hello\"}]}", prev);
            send_text(msg);
            text[0] = 0;
            ev = until("response.completed", "error", text, sizeof text);
            id = json_string_value(json_object_get(json_object_get(ev, "response"), "id"));
            if (!id)
                die("call failed");
            snprintf(prev, sizeof prev, "%s", id);
            if (t == 0)
                print_usage("text", text, ev);
            json_decref(ev);
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (turns > 1)
            printf("turns %ld seconds %.6f\n", turns,
                   (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    } else {
        ev = until("session.created", NULL, NULL, 0);
        printf("session %s\n", json_string_value(json_object_get(json_object_get(ev, "session"),
                                                                  "model")));
        json_decref(ev);
        send_text("{\"type\":\"session.update\",\"session\":{\"type\":\"realtime\","
                  "\"instructions\":\"Be brief.\"}}");
        json_decref(until("session.updated", NULL, NULL, 0));
        send_text("{\"type\":\"conversation.item.create\",\"item\":{\"type\":\"message\","
                  "\"role\":\"user\",\"content\":[{\"type\":\"input_text\",\"text\":"
                  "\"Say hello\"}]}}");
        json_decref(until("conversation.item.added", NULL, NULL, 0));
        send_text("{\"type\":\"response.create\",\"response\":{}}");
        text[0] = 0;
        ev = until("response.done", NULL, text, sizeof text);
        print_usage("audio", text, ev);
        json_decref(ev);
        send_text("{\"type\":\"response.create\",\"response\":{\"output_modalities\":[\"text\"],"
                  "\"tools\":[{\"type\":\"function\",\"name\":\"get_weather\",\"parameters\":"
                  "{\"type\":\"object\"}}]}}");
        text[0] = 0;
        ev = until("response.done", NULL, text, sizeof text);
        print_usage("text", text, ev);
        json_decref(ev);
    }
    frame(1, 0, 8, (const unsigned char *)"\x03\xe8", 2);
    while (recv_text())
        ;
    if (ssl) {
        SSL_shutdown(ssl);
        SSL_free(ssl);
    }
    close(fd);
    return 0;
}
