/* test_sse.c - SSE framing: every case is fed whole, at every split point
 * into two feeds, byte by byte, and in 3-byte pieces; the events and the
 * finish result must not depend on how the bytes were cut. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "sse.h"

#define MAX_EV 8

struct ev {
    const char *event;
    const char *data;
};

struct sse_case {
    const char *name;
    const char *in;
    size_t max_event;       /* 0: 1 MiB */
    size_t nev;
    struct ev ev[MAX_EV];
    int finish;             /* tt_sse_finish result */
};

static const struct sse_case cases[] = {
    { "simple", "data: hello\n\n", 0, 1, { { "", "hello" } }, 0 },
    { "no space after colon", "data:hello\n\n", 0, 1, { { "", "hello" } }, 0 },
    { "only one space stripped", "data:  two\n\n", 0, 1, { { "", " two" } }, 0 },
    { "multi-line data joined with LF", "data: a\ndata: b\n\n", 0, 1,
      { { "", "a\nb" } }, 0 },
    { "CRLF and event name", "event: ping\r\ndata: {}\r\n\r\n", 0, 1,
      { { "ping", "{}" } }, 0 },
    { "CRLF inside an event is one line end",
      "data: a\r\ndata: b\r\n\r\n", 0, 1, { { "", "a\nb" } }, 0 },
    { "CR only", "data: x\r\rdata: y\r\r", 0, 2, { { "", "x" }, { "", "y" } },
      0 },
    { "mixed line ends", "data: a\r\ndata: b\rdata: c\n\n", 0, 1,
      { { "", "a\nb\nc" } }, 0 },
    { "comment lines ignored",
      ": OPENROUTER PROCESSING\n\ndata: z\n: mid-event comment\n\n", 0, 1,
      { { "", "z" } }, 0 },
    { "event without data is not dispatched and is forgotten",
      "event: foo\n\ndata: q\n\n", 0, 1, { { "", "q" } }, 0 },
    { "bare data field is an empty event", "data\n\n", 0, 1, { { "", "" } },
      0 },
    { "empty data value", "data:\n\n", 0, 1, { { "", "" } }, 0 },
    { "empty data lines keep their LF", "data:\ndata:\n\n", 0, 1,
      { { "", "\n" } }, 0 },
    { "id, retry and unknown fields ignored",
      "id: 1\nretry: 10\nfoo\nbar: baz\ndata: x\n\n", 0, 1, { { "", "x" } },
      0 },
    { "event name without space", "event:ping\ndata:1\n\n", 0, 1,
      { { "ping", "1" } }, 0 },
    { "last event field wins", "event: a\nevent: b\ndata: 1\n\n", 0, 1,
      { { "b", "1" } }, 0 },
    { "leading blank lines", "\n\n\r\ndata: x\n\n", 0, 1, { { "", "x" } }, 0 },
    { "colon in value kept", "data: {\"a\":\"b: c\"}\n\n", 0, 1,
      { { "", "{\"a\":\"b: c\"}" } }, 0 },
    { "event name resets between events",
      "event: one\ndata: 1\n\ndata: 2\n\n", 0, 2,
      { { "one", "1" }, { "", "2" } }, 0 },
    { "anthropic events",
      "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
      0, 3,
      { { "message_start", "{\"type\":\"message_start\"}" },
        { "ping", "{\"type\": \"ping\"}" },
        { "message_stop", "{\"type\":\"message_stop\"}" } },
      0 },
    { "openai done", "data: {\"a\":1}\n\ndata: [DONE]\n\n", 0, 2,
      { { "", "{\"a\":1}" }, { "", "[DONE]" } }, 0 },
    { "trailing CR at end of stream", "data: x\r\n\r", 0, 1, { { "", "x" } },
      0 },
    { "truncated after a data line", "data: partial\n", 0, 0, { { 0 } },
      TT_ERR_INCOMPLETE },
    { "truncated inside a line", "data: {\"a\":1}\n\ndata: x", 0, 1,
      { { "", "{\"a\":1}" } }, TT_ERR_INCOMPLETE },
    { "truncated after an event field", "event: message_stop\n", 0, 0,
      { { 0 } }, TT_ERR_INCOMPLETE },
    { "empty stream", "", 0, 0, { { 0 } }, 0 },
    { "oversized data line dropped, next event kept",
      "data: aaaaaaaaaaaaaaaaaaaaaaaaa\n\ndata: ok\n\n", 16, 1,
      { { "", "ok" } }, TT_ERR_CAP },
    { "oversized joined data dropped",
      "data: aaaaaaaa\ndata: bbbbbbbb\ndata: c\n\ndata: ok\n\n", 16, 1,
      { { "", "ok" } }, TT_ERR_CAP },
    { "line exactly at the cap kept", "data: 0123456789\n\n", 16, 1,
      { { "", "0123456789" } }, 0 },
    { "oversized comment ignored",
      ": padding padding padding padding\ndata: ok\n\n", 16, 1,
      { { "", "ok" } }, 0 },
};

struct got {
    size_t n;
    char event[MAX_EV + 1][64];
    char data[MAX_EV + 1][256];
    size_t data_len[MAX_EV + 1];
    int fail_at;            /* return an error on this event (1-based) */
};

static int collect(void *ud, const char *event, size_t event_len,
                   const char *data, size_t data_len)
{
    struct got *g = ud;

    cr_assert_lt(g->n, MAX_EV + 1, "too many events");
    cr_assert_lt(event_len, sizeof(g->event[0]));
    cr_assert_lt(data_len, sizeof(g->data[0]));
    memcpy(g->event[g->n], event, event_len);
    g->event[g->n][event_len] = '\0';
    memcpy(g->data[g->n], data, data_len);
    g->data[g->n][data_len] = '\0';
    g->data_len[g->n] = data_len;
    g->n++;
    if (g->fail_at && (int)g->n == g->fail_at)
        return TT_ERR_PARSE;
    return 0;
}

static void check(const struct sse_case *c, const struct got *g, int fin,
                  const char *how)
{
    cr_assert_eq(g->n, c->nev, "%s (%s): %zu events, want %zu", c->name, how,
                 g->n, c->nev);
    for (size_t i = 0; i < c->nev; i++) {
        cr_assert_str_eq(g->event[i], c->ev[i].event, "%s (%s) event %zu",
                         c->name, how, i);
        cr_assert_eq(g->data_len[i], strlen(c->ev[i].data), "%s (%s) len %zu",
                     c->name, how, i);
        cr_assert_str_eq(g->data[i], c->ev[i].data, "%s (%s) data %zu",
                         c->name, how, i);
    }
    cr_assert_eq(fin, c->finish, "%s (%s): finish %d want %d", c->name, how,
                 fin, c->finish);
}

/* Feed c->in cut at the given points (sorted, within the input). */
static void run_cuts(const struct sse_case *c, const size_t *cuts,
                     size_t ncuts, const char *how)
{
    struct tt_sse s;
    struct got g;
    size_t len = strlen(c->in), prev = 0;

    memset(&g, 0, sizeof(g));
    tt_sse_init(&s, c->max_event ? c->max_event : 1 << 20);
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        cr_assert_eq(tt_sse_feed(&s, c->in + prev, end - prev, collect, &g), 0);
        prev = end;
    }
    check(c, &g, tt_sse_finish(&s), how);
    tt_sse_free(&s);
}

Test(sse, whole_input)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        run_cuts(&cases[i], NULL, 0, "whole");
}

Test(sse, every_split_point)
{
    char how[32];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in);
        for (size_t k = 0; k <= len; k++) {
            snprintf(how, sizeof(how), "split at %zu", k);
            run_cuts(&cases[i], &k, 1, how);
        }
    }
}

Test(sse, byte_by_byte_and_threes)
{
    static size_t cuts[1024];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t len = strlen(cases[i].in), n = 0;
        cr_assert_lt(len, 1024);
        for (size_t k = 1; k < len; k++)
            cuts[n++] = k;
        run_cuts(&cases[i], cuts, n, "bytes");
        n = 0;
        for (size_t k = 3; k < len; k += 3)
            cuts[n++] = k;
        run_cuts(&cases[i], cuts, n, "threes");
    }
}

Test(sse, empty_feeds_change_nothing)
{
    const struct sse_case *c = &cases[5];   /* CRLF inside an event */
    struct tt_sse s;
    struct got g;

    memset(&g, 0, sizeof(g));
    tt_sse_init(&s, 1 << 20);
    /* Cut between CR and LF with an empty feed in between. */
    cr_assert_eq(tt_sse_feed(&s, c->in, 8, collect, &g), 0);
    cr_assert_eq(tt_sse_feed(&s, "", 0, collect, &g), 0);
    cr_assert_eq(tt_sse_feed(&s, c->in + 8, strlen(c->in) - 8, collect, &g), 0);
    check(c, &g, tt_sse_finish(&s), "empty feed");
    tt_sse_free(&s);
}

Test(sse, callback_error_stops_feed)
{
    struct tt_sse s;
    struct got g;
    const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

    memset(&g, 0, sizeof(g));
    g.fail_at = 2;
    tt_sse_init(&s, 1 << 20);
    cr_assert_eq(tt_sse_feed(&s, in, strlen(in), collect, &g), TT_ERR_PARSE);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.data[1], "2");
    tt_sse_free(&s);
}

Test(sse, binary_data_and_reuse_after_finish)
{
    struct tt_sse s;
    struct got g;
    const char in[] = "data: a\0b\n\n";

    memset(&g, 0, sizeof(g));
    tt_sse_init(&s, 1 << 20);
    cr_assert_eq(tt_sse_feed(&s, in, sizeof(in) - 1, collect, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.data_len[0], 3);
    cr_assert_eq(memcmp(g.data[0], "a\0b", 3), 0);
    /* A truncated stream, then the parser is reused for the next one. */
    cr_assert_eq(tt_sse_feed(&s, "data: cut", 9, collect, &g), 0);
    cr_assert_eq(tt_sse_finish(&s), TT_ERR_INCOMPLETE);
    cr_assert_eq(tt_sse_feed(&s, "data: next\n\n", 12, collect, &g), 0);
    cr_assert_eq(g.n, 2);
    cr_assert_str_eq(g.data[1], "next");
    cr_assert_eq(tt_sse_finish(&s), 0);
    tt_sse_free(&s);
    tt_sse_free(NULL);
}

Test(sse, long_event_spanning_many_feeds)
{
    struct tt_sse s;
    struct got g;
    char line[200];

    memset(&g, 0, sizeof(g));
    memset(line, 'x', sizeof(line));
    tt_sse_init(&s, 1 << 20);
    cr_assert_eq(tt_sse_feed(&s, "data: ", 6, collect, &g), 0);
    cr_assert_eq(tt_sse_feed(&s, line, 100, collect, &g), 0);
    cr_assert_eq(tt_sse_feed(&s, line, 100, collect, &g), 0);
    cr_assert_eq(tt_sse_feed(&s, "\r", 1, collect, &g), 0);
    cr_assert_eq(g.n, 0);
    cr_assert_eq(tt_sse_feed(&s, "\n\r\n", 3, collect, &g), 0);
    cr_assert_eq(g.n, 1);
    cr_assert_eq(g.data_len[0], 200);
    cr_assert_eq(tt_sse_finish(&s), 0);
    tt_sse_free(&s);
}
