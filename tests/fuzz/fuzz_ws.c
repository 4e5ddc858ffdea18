/* fuzz_ws.c - the WebSocket codec (preload/ws.c) and the session that
 * reads LLM events from it (preload/ws_api.c).
 *
 * Input: 4 split-control bytes (fuzz_common.h), 1 flags byte, then the
 * client's frames, FZ_SEP, the server's.
 *  1. Each stream through its own tt_ws parser (a small message cap, so
 *     truncation is explored), fed in pieces: every message is read back
 *     (ASan checks data/len) and the codec's promises are checked.
 *  2. Both streams through a session (Responses or Realtime), pieces of
 *     both directions interleaved: ws -> JSON events -> exchanges ->
 *     provider parsers -> price -> span, encoded and decoded as the daemon
 *     would (fuzz_common.h's tt_deliver_span).
 * Flags: bit 0 permessage-deflate, bit 1 client_no_context_takeover,
 * bit 2 server_no_context_takeover, bit 3 Realtime (else Responses),
 * bit 4 the pieces of both directions alternate. */
#include "fuzz_common.h"

#include "ws.h"
#include "ws_api.h"

static int on_msg(void *ud, const struct tt_ws_msg *m)
{
    const struct tt_ws *w = ud;

    fz_touch(m->data, m->len);
    if (m->len > w->max_msg || m->opcode == TT_WS_CONT ||
        (m->opcode >= 0x8 && m->len > 125) ||
        (!m->truncated && m->total != m->len) || (m->truncated && m->total <= m->len))
        abort();
    return 0;
}

static void parse_alone(const uint8_t *p, size_t n, bool deflate, bool nct,
                        struct fz_split *sp)
{
    struct tt_ws w;

    tt_ws_init(&w, 512);
    tt_ws_set_deflate(&w, deflate, nct);
    while (n) {
        size_t k = fz_next(sp, n);
        uint8_t *piece = malloc(k);
        memcpy(piece, p, k);
        int rc = tt_ws_feed(&w, piece, k, on_msg, &w);
        free(piece);
        if (rc != TT_OK && (!w.failed || !w.why))
            abort();            /* an error leaves the parser failed, saying why */
        if (w.failed && rc == TT_OK)
            abort();
        p += k;
        n -= k;
    }
    tt_ws_free(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_split sp;
    const uint8_t *part[2];
    size_t len[2];

    fz_env();
    fz_split_init(&sp, &data, &size);
    uint8_t flags = size ? data[0] : 0;
    if (size) {
        data++;
        size--;
    }
    fz_parts(data, size, part, len, 2);

    struct fz_split sp1 = sp;
    parse_alone(part[0], len[0], flags & 1, flags & 2, &sp1);
    sp1 = sp;
    parse_alone(part[1], len[1], flags & 1, flags & 4, &sp1);

    static const char rt[] = "/v1/realtime?model=gpt-realtime";
    static const char rs[] = "/v1/responses";
    struct tt_wss_info in = {
        .provider = "openai", .host = "api.openai.com", .host_len = 14,
        .target = (flags & 8) ? rt : rs,
        .target_len = (flags & 8) ? sizeof(rt) - 1 : sizeof(rs) - 1,
        .tls = true,
        .ext = { .deflate = flags & 1, .client_no_context_takeover = flags & 2,
                 .server_no_context_takeover = flags & 4,
                 .server_max_window_bits = 15, .client_max_window_bits = 15 },
    };
    struct tt_wss *s = tt_wss_new(&in, tt_now_ns());
    if (!s)
        return 0;
    const uint8_t *c = part[0], *v = part[1];
    size_t nc = len[0], nv = len[1];
    bool alternate = flags & 16;
    while (nc || nv) {
        if (nc) {
            size_t k = fz_next(&sp, nc);
            uint8_t *piece = malloc(k);
            memcpy(piece, c, k);
            (void)tt_wss_feed(s, true, piece, k, tt_now_ns());
            free(piece);
            c += k;
            nc -= k;
        }
        if (nv && (alternate || !nc)) {
            size_t k = fz_next(&sp, nv);
            uint8_t *piece = malloc(k);
            memcpy(piece, v, k);
            (void)tt_wss_feed(s, false, piece, k, tt_now_ns());
            free(piece);
            v += k;
            nv -= k;
        }
    }
    tt_wss_end(s, NULL, tt_now_ns());
    return 0;
}
