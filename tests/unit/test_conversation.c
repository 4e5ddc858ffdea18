/* test_conversation.c - preload/conversation.c (conversation matcher,
 * tool spans) and preload/proctree.c (process span ids). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "conversation.h"
#include "proctree.h"
#include "span.h"
#include "tt.h"

/* Table rows name only the fields they need. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define TRACE "0af7651916cd43dd8448eb211c80319c"
#define PROC "b7ad6b7169203331"

struct call {
    const char *input, *output, *tool_calls;
    int64_t start, end;
    char conv;                    /* same letter = same conversation_id */
    size_t tools;                 /* tool spans this call completes */
    const char *tool_name;        /* span name of the first one */
    const char *tool_input;       /* JSON, NULL: absent */
    const char *tool_output;
    int64_t tool_start, tool_end;
    bool error;                   /* the call failed (HTTP 500) */
};

struct scenario {
    const char *what;
    bool capture;
    struct call calls[6];
};

#define SYS "{\"role\":\"system\",\"content\":\"You are terse.\"}"
#define U1 "{\"role\":\"user\",\"content\":\"Weather in Paris?\"}"
#define A1 "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_1\"," \
    "\"type\":\"function\",\"function\":{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]}"
#define T1 "{\"role\":\"tool\",\"tool_call_id\":\"call_1\",\"content\":\"sunny, 21C\"}"
#define A2 "{\"role\":\"assistant\",\"content\":\"It is sunny.\"}"
#define U2 "{\"role\":\"user\",\"content\":\"And tomorrow?\"}"
#define TC1 "[{\"id\":\"call_1\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}]"

/* Anthropic: the parser puts the system prompt first as a message. */
#define AU1 "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Weather in Rome?\"}]}"
#define AA1 "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"Checking.\"}," \
    "{\"type\":\"tool_use\",\"id\":\"toolu_1\",\"name\":\"get_weather\",\"input\":{\"city\":\"Rome\"}}]}"
#define AT1 "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\",\"tool_use_id\":\"toolu_1\"," \
    "\"content\":[{\"type\":\"text\",\"text\":\"rain\"}]}]}"
#define AOUT1 "[{\"type\":\"text\",\"text\":\"Checking.\"},{\"type\":\"tool_use\",\"id\":\"toolu_1\"," \
    "\"name\":\"get_weather\",\"input\":{\"city\":\"Rome\"}}]"
#define ATC1 "[{\"id\":\"toolu_1\",\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}]"

/* Responses API items. */
#define RF1 "{\"type\":\"function_call\",\"call_id\":\"fc_1\",\"name\":\"lookup\",\"arguments\":\"{}\"}"
#define RO1 "{\"type\":\"function_call_output\",\"call_id\":\"fc_1\",\"output\":\"42\"}"
#define RTC1 "[{\"id\":\"fc_1\",\"name\":\"lookup\",\"arguments\":\"{}\"}]"

static const struct scenario scenarios[] = {
    { "openai chat agent: tool round trip, then a follow-up", true, {
        { "[" SYS "," U1 "]", NULL, TC1, 100, 200, 'A', 0 },
        { "[" SYS "," U1 "," A1 "," T1 "]", "\"It is sunny.\"", NULL, 300, 400, 'A', 1,
          "tool get_weather",
          "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}",
          "\"sunny, 21C\"", 200, 300 },
        { "[" SYS "," U1 "," A1 "," T1 "," A2 "," U2 "]", "\"Rain.\"", NULL, 500, 600, 'A', 0 },
        { "[{\"role\":\"user\",\"content\":\"unrelated\"}]", "\"ok\"", NULL, 700, 800, 'B', 0 },
    } },
    { "anthropic agent: tool_use / tool_result blocks", true, {
        { "[" SYS "," AU1 "]", AOUT1, ATC1, 100, 200, 'A', 0 },
        { "[" SYS "," AU1 "," AA1 "," AT1 "]", "[{\"type\":\"text\",\"text\":\"Rain.\"}]", NULL,
          250, 300, 'A', 1, "tool get_weather",
          "{\"name\":\"get_weather\",\"arguments\":\"{\\\"city\\\":\\\"Rome\\\"}\"}",
          "[{\"type\":\"text\",\"text\":\"rain\"}]", 200, 250 },
    } },
    { "responses api: function_call / function_call_output items", true, {
        { "\"What is the answer?\"", NULL, RTC1, 10, 20, 'A', 0 },
        { "[{\"role\":\"user\",\"content\":\"What is the answer?\"}," RF1 "," RO1 "]", "\"42.\"", NULL,
          30, 40, 'A', 1, "tool lookup", "{\"name\":\"lookup\",\"arguments\":\"{}\"}", "\"42\"", 20, 30 },
    } },
    { "a history whose assistant turn is not the answer given: new conversation", true, {
        { "[" SYS "," U1 "]", "\"Paris is sunny.\"", NULL, 100, 200, 'A', 0 },
        { "[" SYS "," U1 ",{\"role\":\"assistant\",\"content\":\"edited\"}," U2 "]", "\"x\"", NULL,
          300, 400, 'B', 0 },
        { "[" SYS "," U1 "]", "\"again\"", NULL, 500, 600, 'C', 0 },
    } },
    { "a tool call never answered makes no span; a failed call is skipped by its retry", true, {
        { "[" SYS "," U1 "]", NULL, TC1, 100, 200, 'A', 0 },
        { "[" SYS "," U1 "," A1 ",{\"role\":\"user\",\"content\":\"never mind\"}]", NULL, NULL,
          300, 400, 'A', 0, .error = true },
        { "[" SYS "," U1 "," A1 ",{\"role\":\"user\",\"content\":\"never mind\"}]", "\"ok\"", NULL,
          500, 600, 'A', 0 },
    } },
    { "the answer as sent raw, in the history escaped and in pieces: same conversation", true, {
        { "[{\"role\":\"user\",\"content\":\"Caf\\u00e9 or th\\u00e9?\"}]",
          "\"Th\xc3\xa9, long enough to span several eight-byte words.\"", NULL,
          100, 200, 'A', 0 },
        { "[{\"role\":\"user\",\"content\":\"Caf\xc3\xa9 or th\xc3\xa9?\"},"
          "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
          "\"Th\\u00e9, long enough to span several eight-byte\"},"
          "{\"type\":\"text\",\"text\":\" words.\"}]},"
          "{\"role\":\"user\",\"content\":\"Why?\"}]", "\"ok\"", NULL, 300, 400, 'A', 0 },
        { "[{\"role\":\"user\",\"content\":\"Caf\xc3\xa9 or th\xc3\xa9?\"},"
          "{\"role\":\"assistant\",\"content\":\"Th\xc3\xa9, long enough to span several "
          "eight-byte words!\"},{\"role\":\"user\",\"content\":\"Why?\"}]", "\"ok\"", NULL,
          500, 600, 'B', 0 },
    } },
    { "capture off: the tool span carries no content", false, {
        { "[" SYS "," U1 "]", NULL, TC1, 100, 200, 'A', 0 },
        { "[" SYS "," U1 "," A1 "," T1 "]", "\"It is sunny.\"", NULL, 300, 400, 'A', 1,
          "tool get_weather", NULL, NULL, 200, 300 },
    } },
};

static void json_eq(const char *got, const char *want, const char *what)
{
    if (!want) {
        cr_expect_null(got, "%s: %s", what, got);
        return;
    }
    cr_assert_not_null(got, "%s", what);
    json_t *g = json_loads(got, JSON_DECODE_ANY, NULL), *w = json_loads(want, JSON_DECODE_ANY, NULL);
    cr_assert_not_null(w, "bad fixture %s", want);
    cr_expect(g && json_equal(g, w), "%s: got %s, want %s", what, got, want);
    json_decref(g);
    json_decref(w);
}

Test(conversation, scenarios)
{
    for (size_t si = 0; si < sizeof(scenarios) / sizeof(scenarios[0]); si++) {
        const struct scenario *sc = &scenarios[si];
        struct tt_conv c;
        char ids[26][17];

        memset(ids, 0, sizeof(ids));
        tt_conv_init(&c);
        for (size_t i = 0; i < 6 && sc->calls[i].input; i++) {
            const struct call *k = &sc->calls[i];
            struct tt_span s, tools[TT_CONV_MAX_TOOLS];
            size_t n = 99;

            tt_span_init(&s);
            memcpy(s.trace_id, TRACE, 33);
            memcpy(s.parent_id, PROC, 17);
            s.start_time = k->start;
            s.end_time = k->end;
            cr_assert_eq(tt_span_set(&s.input, k->input), TT_OK);
            cr_assert_eq(tt_span_set(&s.output, k->output), TT_OK);
            cr_assert_eq(tt_span_set(&s.tool_calls, k->tool_calls), TT_OK);
            if (k->error)
                tt_span_fail(&s, "HTTP 500", false);
            cr_assert_eq(tt_conv_observe(&c, &s, sc->capture, tools, TT_CONV_MAX_TOOLS, &n), TT_OK);
            cr_assert_eq(strlen(s.conversation_id), 16, "%s #%zu", sc->what, i);
            char *slot = ids[k->conv - 'A'];
            if (slot[0])
                cr_expect_str_eq(s.conversation_id, slot, "%s #%zu: same conversation", sc->what, i);
            else {
                for (int o = 0; o < 26; o++)
                    cr_expect_str_neq(s.conversation_id, ids[o], "%s #%zu: new conversation",
                                      sc->what, i);
                memcpy(slot, s.conversation_id, 17);
            }
            cr_expect_eq(n, k->tools, "%s #%zu: %zu tool spans", sc->what, i, n);
            if (n && k->tools) {
                struct tt_span *t = &tools[0];
                cr_expect_str_eq(t->kind, "tool");
                cr_expect_str_eq(t->name, k->tool_name, "%s", sc->what);
                cr_expect_str_eq(t->operation, "execute_tool");
                cr_expect_str_eq(t->trace_id, TRACE);
                cr_expect_str_eq(t->parent_id, PROC);
                cr_expect_str_eq(t->conversation_id, s.conversation_id);
                cr_expect_eq(strlen(t->span_id), 16);
                cr_expect_eq(t->start_time, k->tool_start, "%s", sc->what);
                cr_expect_eq(t->end_time, k->tool_end, "%s", sc->what);
                json_eq(t->input, k->tool_input, sc->what);
                json_eq(t->output, k->tool_output, sc->what);
            }
            for (size_t t = 0; t < n; t++)
                tt_span_clear(&tools[t]);
            tt_span_clear(&s);
        }
        tt_conv_free(&c);
    }
}

/* Embeddings and calls without captured input take no conversation. */
Test(conversation, no_messages_no_conversation)
{
    struct tt_conv c;
    struct tt_span s, tools[1];
    size_t n;

    tt_conv_init(&c);
    tt_span_init(&s);
    cr_assert_eq(tt_conv_observe(&c, &s, true, tools, 1, &n), TT_OK);
    cr_expect_eq(s.conversation_id[0], '\0');
    cr_assert_eq(tt_span_set(&s.operation, "embeddings"), TT_OK);
    cr_assert_eq(tt_span_set(&s.input, "[\"a\"]"), TT_OK);
    cr_assert_eq(tt_conv_observe(&c, &s, true, tools, 1, &n), TT_OK);
    cr_expect_eq(s.conversation_id[0], '\0');
    tt_span_clear(&s);
    tt_conv_free(&c);
}

/* More conversations than slots: the oldest is forgotten, state stays
 * bounded, the newest still continue. */
Test(conversation, bounded_lru)
{
    struct tt_conv c;
    char first[TT_CONV_SLOTS + 2][17];

    tt_conv_init(&c);
    for (int i = 0; i < TT_CONV_SLOTS + 2; i++) {
        struct tt_span s, tools[1];
        size_t n;
        char in[128];
        tt_span_init(&s);
        snprintf(in, sizeof(in), "[{\"role\":\"user\",\"content\":\"q%d\"}]", i);
        cr_assert_eq(tt_span_set(&s.input, in), TT_OK);
        cr_assert_eq(tt_span_set(&s.output, "\"a\""), TT_OK);
        cr_assert_eq(tt_conv_observe(&c, &s, true, tools, 1, &n), TT_OK);
        memcpy(first[i], s.conversation_id, 17);
        tt_span_clear(&s);
    }
    /* Newest first: a forgotten one makes a new entry, evicting again. */
    for (int i = TT_CONV_SLOTS + 1; i >= 0; i--) {
        struct tt_span s, tools[1];
        size_t n;
        char in[256];
        tt_span_init(&s);
        snprintf(in, sizeof(in), "[{\"role\":\"user\",\"content\":\"q%d\"},"
                 "{\"role\":\"assistant\",\"content\":\"a\"},{\"role\":\"user\",\"content\":\"more\"}]", i);
        cr_assert_eq(tt_span_set(&s.input, in), TT_OK);
        cr_assert_eq(tt_conv_observe(&c, &s, true, tools, 1, &n), TT_OK);
        if (i >= 2)
            cr_expect_str_eq(s.conversation_id, first[i], "conversation %d", i);
        else
            cr_expect_str_neq(s.conversation_id, first[i], "conversation %d was evicted", i);
        tt_span_clear(&s);
    }
    tt_conv_free(&c);
}

Test(proctree, span_ids_are_deterministic)
{
    static const struct {
        const char *trace;
        int64_t pid;
        uint64_t ticks;
    } rows[] = {
        { TRACE, 1234, 987654 },
        { TRACE, 1235, 987654 },      /* another pid */
        { TRACE, 1234, 987655 },      /* pid reused later */
        { "1af7651916cd43dd8448eb211c80319c", 1234, 987654 },  /* another run */
    };
    char ids[4][17], again[17];

    for (size_t i = 0; i < 4; i++) {
        tt_proc_span_id(rows[i].trace, rows[i].pid, rows[i].ticks, ids[i]);
        tt_proc_span_id(rows[i].trace, rows[i].pid, rows[i].ticks, again);
        cr_expect_str_eq(ids[i], again, "same process, same id");
        cr_expect_eq(strspn(ids[i], "0123456789abcdef"), 16, "%s", ids[i]);
        cr_expect_eq(strlen(ids[i]), 16);
        for (size_t k = 0; k < i; k++)
            cr_expect_str_neq(ids[i], ids[k], "rows %zu and %zu", i, k);
    }
    /* A known value: descendants built from other binaries must agree. */
    const char *parts[4] = { TRACE, "process", "1234", "987654" };
    tt_span_hash_id(again, parts, 4);
    cr_expect_str_eq(ids[0], again);
}
