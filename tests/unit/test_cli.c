/* test_cli.c - the CLI's pure pieces: trace context, the child's
 * environment, paths, summaries, id resolution and grouping against a real
 * temporary store, and the daemon client against a fake daemon. */
#include <criterion/criterion.h>

#include <errno.h>
#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cli.h"
#include "daemon_client.h"
#include "spanjson.h"
#include "store.h"
#include "tt.h"
#include "wire.h"

/* --- TRACEPARENT -------------------------------------------------------- */

struct tp_case {
    const char *in;
    bool ok;
};

static const struct tp_case tp_cases[] = {
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", true },
    /* uppercase hex is invalid in W3C trace context */
    { "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false },
    { "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false },
    { "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", false },
    { "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false },
    { "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false },
    { "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false },
    { "", false },
    /* a later version may append fields after a '-' */
    { "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever", true },
    { "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x", false },
};

Test(cli_traceparent, table)
{
    for (size_t i = 0; i < sizeof(tp_cases) / sizeof(tp_cases[0]); i++) {
        char trace[33] = "", parent[17] = "";
        int rc = tt_cli_traceparent_parse(tp_cases[i].in, trace, parent);
        cr_expect_eq(rc == TT_OK, tp_cases[i].ok, "case %zu: '%s' -> %d", i,
                     tp_cases[i].in, rc);
        if (tp_cases[i].ok && rc == TT_OK) {
            cr_expect_str_eq(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
            cr_expect_str_eq(parent, "00f067aa0ba902b7");
        }
    }
}

/* --- environment -------------------------------------------------------- */

struct ldp_case {
    const char *existing;
    const char *want;
};

static const struct ldp_case ldp_cases[] = {
    { NULL, "/opt/tt/lib/libtokentap.so" },
    { "", "/opt/tt/lib/libtokentap.so" },
    { "libfoo.so", "/opt/tt/lib/libtokentap.so:libfoo.so" },
    { " /a/liba.so  /b/libb.so:/c/libc.so: ",
      "/opt/tt/lib/libtokentap.so:/a/liba.so:/b/libb.so:/c/libc.so" },
    /* ours already there (nested run): not twice */
    { "/opt/tt/lib/libtokentap.so:libfoo.so", "/opt/tt/lib/libtokentap.so:libfoo.so" },
    /* another install of the preload would trace every call twice */
    { "/usr/local/lib/libtokentap.so libfoo.so", "/opt/tt/lib/libtokentap.so:libfoo.so" },
    { "libtokentap.so", "/opt/tt/lib/libtokentap.so" },
    /* a different library whose name merely ends the same stays */
    { "/x/mylibtokentap.so", "/opt/tt/lib/libtokentap.so:/x/mylibtokentap.so" },
};

Test(cli_env, ld_preload)
{
    for (size_t i = 0; i < sizeof(ldp_cases) / sizeof(ldp_cases[0]); i++) {
        char *v = tt_cli_ld_preload("/opt/tt/lib/libtokentap.so", ldp_cases[i].existing);
        cr_assert_not_null(v);
        cr_expect_str_eq(v, ldp_cases[i].want, "case %zu", i);
        free(v);
    }
}

Test(cli_env, set_replaces_and_appends)
{
    char *base[] = { "PATH=/bin", "TRACEPARENT=old", "TRACEPARENTX=keep", NULL };
    char **e = tt_cli_env_dup(base);

    cr_assert_not_null(e);
    cr_assert_eq(tt_cli_env_set(&e, "TRACEPARENT", "new"), TT_OK);
    cr_assert_eq(tt_cli_env_set(&e, "TOKENTAP_DB", "/x/y.db"), TT_OK);
    cr_expect_str_eq(e[0], "PATH=/bin");
    cr_expect_str_eq(e[1], "TRACEPARENT=new");
    cr_expect_str_eq(e[2], "TRACEPARENTX=keep");
    cr_expect_str_eq(e[3], "TOKENTAP_DB=/x/y.db");
    cr_expect_null(e[4]);
    tt_cli_env_free(e);
}

Test(cli_env, join_argv_quotes_like_a_shell)
{
    char *argv[] = { "python3", "agent.py", "hello world", "it's", "", "--x=1", NULL };
    char *s = tt_cli_join_argv(6, argv);

    cr_assert_not_null(s);
    cr_expect_str_eq(s, "python3 agent.py 'hello world' 'it'\\''s' '' --x=1");
    free(s);
}

Test(cli_env, join_argv_redacts_secrets)
{
    static const struct { const char *prev, *arg, *want; } cases[] = {
        { "-H", "authorization: Bearer sk-proj-abcdefgh123", "authorization: [redacted]" },
        { "-H", "X-Api-Key: sk-ant-api03-xyz", "X-Api-Key: [redacted]" },
        { "-H", "content-type: application/json", "content-type: application/json" },
        { "-H", "x-amz-security-token: IQoJb3JpZ2luX2VjEJr", "x-amz-security-token: [redacted]" },
        { "-H", "X-Amz-Date: 20261121T000000Z", "X-Amz-Date: 20261121T000000Z" },
        { NULL, "https://example.org/path:with:colons", "https://example.org/path:with:colons" },
        { "--api-key", "hunter2", "[redacted]" },
        { NULL, "OPENAI_API_KEY=sk-abc", "OPENAI_API_KEY=[redacted]" },
        { NULL, "https://h/v1/x?alt=sse&key=AIzaSECRETSECRET&b=1",
          "https://h/v1/x?alt=sse&key=[redacted]&b=1" },
        { NULL, "echo sk-proj-0123456789abcdef done", "echo [redacted] done" },
        { NULL, "sk-short", "sk-short" },
        { NULL, "monkey=banana", "monkey=banana" },
        { NULL, "agent.py", "agent.py" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = tt_cli_redact_arg(cases[i].prev, cases[i].arg);
        cr_assert_not_null(got);
        cr_expect_str_eq(got, cases[i].want, "case %zu: %s", i, cases[i].arg);
        free(got);
    }
    char *argv[] = { "curl", "-H", "authorization: Bearer sk-proj-SECRET12345", "u", NULL };
    char *s = tt_cli_join_argv(4, argv);
    cr_assert_not_null(s);
    cr_expect_null(strstr(s, "SECRET"), "%s", s);
    free(s);
}

/* --- paths ---------------------------------------------------------------- */

Test(cli_paths, abs_path_without_the_file)
{
    char dir[] = "/tmp/tt-cli-XXXXXX", real[PATH_MAX], want[PATH_MAX + 16];
    char out[PATH_MAX], cwd[PATH_MAX];

    cr_assert_not_null(mkdtemp(dir));
    cr_assert_not_null(realpath(dir, real));
    cr_assert_not_null(getcwd(cwd, sizeof(cwd)));
    cr_assert_eq(chdir(dir), 0);
    snprintf(want, sizeof(want), "%s/new.db", real);
    cr_expect_eq(tt_cli_abs_path("new.db", out, sizeof(out)), TT_OK);
    cr_expect_str_eq(out, want);
    cr_expect_eq(tt_cli_abs_path("./sub/../new.db", out, sizeof(out)), TT_ERR_IO,
                 "sub does not exist");
    cr_expect_eq(tt_cli_abs_path("/no/such/dir/x.db", out, sizeof(out)), TT_ERR_IO);
    cr_expect_eq(tt_cli_abs_path("dir/", out, sizeof(out)), TT_ERR_PARSE);
    cr_expect_eq(tt_cli_abs_path("/x.db", out, sizeof(out)), TT_OK);
    cr_expect_str_eq(out, "/x.db");
    cr_assert_eq(chdir(cwd), 0);
    rmdir(dir);
}

Test(cli_paths, db_path_precedence)
{
    char out[PATH_MAX];

    setenv("TOKENTAP_DB", "/tmp/from-env.db", 1);
    cr_expect_eq(tt_cli_db_path("/tmp/from-opt.db", out, sizeof(out)), TT_OK);
    cr_expect_str_eq(out, "/tmp/from-opt.db");
    cr_expect_eq(tt_cli_db_path(NULL, out, sizeof(out)), TT_OK);
    cr_expect_str_eq(out, "/tmp/from-env.db");
    unsetenv("TOKENTAP_DB");
}

/* --- formatting ----------------------------------------------------------- */

Test(cli_fmt, cost_cell)
{
    char b[48];

    tt_cli_fmt_cost(b, sizeof(b), 0.004512, 3, 0);
    cr_expect_str_eq(b, "$0.004512");
    tt_cli_fmt_cost(b, sizeof(b), 0, 2, 2);
    cr_expect_str_eq(b, "?");
    tt_cli_fmt_cost(b, sizeof(b), 0.5, 3, 1);
    cr_expect_str_eq(b, "$0.500000+?");
    tt_cli_fmt_cost(b, sizeof(b), 0, 0, 0);
    cr_expect_str_eq(b, "$0.000000");
}

static const char trace_a[] = "4bf92f3577b34da6a3ce929d0e0e4736";

Test(cli_fmt, summary_two_models_one_unknown)
{
    struct tt_cli_group g[2] = {
        { .key = "gpt-4o-mini", .calls = 2, .input = 1200, .output = 300,
          .cache_read = 100, .cost = 0.004512, .errors = 1 },
        { .key = "claude-new-thing", .calls = 1, .input = 500, .output = 100,
          .cache_read = 400, .cost = 0, .unknown = 1 },
    };
    struct tt_buf out;

    tt_buf_init(&out, 1 << 16);
    cr_assert_eq(tt_cli_fmt_summary(g, 2, trace_a, false, &out), TT_OK);
    const char *want =
        "tokentap: 3 LLM calls, 2 models, $0.004512+?, 1 error (trace 4bf92f3577b34da6a3ce929d0e0e4736)\n"
        "  model             calls      input     output     cached         cost\n"
        "  gpt-4o-mini           2       1200        300        100    $0.004512\n"
        "  claude-new-thing      1        500        100        400            ?\n"
        "  total                 3       1700        400        500  $0.004512+?\n"
        "  ? cost unknown for 1 call (model not in the price table, or no usage reported); totals exclude it\n"
        "  1 call failed: tokentap show 4bf92f3577b34da6a3ce929d0e0e4736\n";
    cr_expect_str_eq(out.data, want);
    tt_buf_free(&out);
}

Test(cli_fmt, summary_one_model_no_total_row)
{
    struct tt_cli_group g = { .key = "gpt-4o", .calls = 1, .input = 10,
                              .output = 5, .cost = 0.000075 };
    struct tt_buf out;

    tt_buf_init(&out, 1 << 16);
    cr_assert_eq(tt_cli_fmt_summary(&g, 1, trace_a, false, &out), TT_OK);
    cr_expect(strstr(out.data, "tokentap: 1 LLM call, 1 model, $0.000075 (trace ") == out.data,
              "%s", out.data);
    cr_expect_null(strstr(out.data, "total"));
    cr_expect_null(strstr(out.data, "\033["), "no colour when not asked");
    tt_buf_free(&out);
}

Test(cli_fmt, summary_no_calls)
{
    struct tt_buf out;

    tt_buf_init(&out, 1 << 16);
    cr_assert_eq(tt_cli_fmt_summary(NULL, 0, trace_a, false, &out), TT_OK);
    cr_expect_str_eq(out.data, "tokentap: no LLM calls (trace 4bf92f3577b34da6a3ce929d0e0e4736)\n");
    tt_buf_free(&out);
}

/* --- store: resolution, grouping, rows ------------------------------------ */

static char store_dir[] = "/tmp/tt-cli-store-XXXXXX";
static char store_path[PATH_MAX];
static struct tt_store *store;

static void put(const char *trace, const char *span, const char *req_model,
                const char *resp_model, const char *provider, int64_t start,
                int64_t in, int64_t out, double cost, bool cost_known,
                bool error)
{
    struct tt_span s;

    tt_span_init(&s);
    snprintf(s.trace_id, sizeof(s.trace_id), "%s", trace);
    snprintf(s.span_id, sizeof(s.span_id), "%s", span);
    cr_assert_eq(tt_span_set(&s.request_model, req_model), TT_OK);
    cr_assert_eq(tt_span_set(&s.response_model, resp_model), TT_OK);
    cr_assert_eq(tt_span_set(&s.provider, provider), TT_OK);
    cr_assert_eq(tt_span_set(&s.exe, "/usr/bin/python3"), TT_OK);
    s.pid = 77;
    s.start_time = start;
    s.end_time = start + 1000;
    s.input_tokens = in;
    s.output_tokens = out;
    s.usage_known = true;
    s.cost_usd = cost;
    s.cost_known = cost_known;
    if (error)
        tt_span_fail(&s, "HTTP 500", true);
    cr_assert_eq(tt_store_put_span(store, &s), TT_OK);
    tt_span_clear(&s);
}

static void store_setup(void)
{
    cr_assert_not_null(mkdtemp(store_dir));
    snprintf(store_path, sizeof(store_path), "%s/t.db", store_dir);
    cr_assert_eq(tt_store_open(store_path, false, &store), TT_OK);
    cr_assert_eq(tt_store_begin(store), TT_OK);
    put("aaaa1111000000000000000000000001", "1000000000000001", "gpt-4o-mini",
        "gpt-4o-mini-2024-07-18", "openai", 100, 1000, 100, 0.25, true, false);
    put("aaaa1111000000000000000000000001", "1000000000000002", "gpt-4o-mini",
        NULL, "openai", 200, 10, 0, 0, true, true);
    put("aaaa2222000000000000000000000002", "2000000000000001", "claude-x",
        "claude-x", "anthropic", 300, 500, 50, 0, false, false);
    put("bbbb0000000000000000000000000003", "3000000000000001", "gpt-4o",
        "gpt-4o", "openai", 400, 1, 1, 1.5, true, false);
    /* a run that made no call is a trace too */
    cr_assert_eq(tt_store_put_run(store, "cccc0000000000000000000000000004",
                                  "/bin/true", 500, 600, 0, 1), TT_OK);
    cr_assert_eq(tt_store_commit(store), TT_OK);
}

static void store_teardown(void)
{
    char p[PATH_MAX + 8];

    tt_store_close(store);
    store = NULL;
    unlink(store_path);
    snprintf(p, sizeof(p), "%s-wal", store_path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", store_path);
    unlink(p);
    rmdir(store_dir);
}

TestSuite(cli_store, .init = store_setup, .fini = store_teardown);

Test(cli_store, resolve_ids)
{
    sqlite3 *db = tt_store_db(store);
    char trace[33], alt[4][33];
    size_t n;

    cr_expect_eq(tt_cli_resolve_trace(db, "aaaa2", trace, alt, 4, &n), TT_OK);
    cr_expect_str_eq(trace, "aaaa2222000000000000000000000002");
    cr_expect_eq(tt_cli_resolve_trace(db, "AAAA2", trace, alt, 4, &n), TT_OK,
                 "hex is case-insensitive for the user");
    cr_expect_eq(tt_cli_resolve_trace(db, "bbbb0000000000000000000000000003",
                                      trace, alt, 4, &n), TT_OK);
    cr_expect_eq(tt_cli_resolve_trace(db, "cccc", trace, alt, 4, &n), TT_OK,
                 "a run without spans is found");
    cr_expect_str_eq(trace, "cccc0000000000000000000000000004");

    cr_expect_eq(tt_cli_resolve_trace(db, "aaaa", trace, alt, 4, &n), TT_ERR_AGAIN);
    cr_expect_eq(n, 2);
    cr_expect_str_eq(alt[0], "aaaa1111000000000000000000000001");
    cr_expect_str_eq(alt[1], "aaaa2222000000000000000000000002");

    /* span id and span-id prefix lead to their trace */
    cr_expect_eq(tt_cli_resolve_trace(db, "2000000000000001", trace, alt, 4, &n), TT_OK);
    cr_expect_str_eq(trace, "aaaa2222000000000000000000000002");
    cr_expect_eq(tt_cli_resolve_trace(db, "10000000", trace, alt, 4, &n), TT_OK,
                 "two spans of one trace are not ambiguous");
    cr_expect_str_eq(trace, "aaaa1111000000000000000000000001");

    cr_expect_eq(tt_cli_resolve_trace(db, "dead", trace, alt, 4, &n), TT_ERR);
    cr_expect_eq(tt_cli_resolve_trace(db, "zz", trace, alt, 4, &n), TT_ERR_PARSE);
    cr_expect_eq(tt_cli_resolve_trace(db, "a%", trace, alt, 4, &n), TT_ERR_PARSE);
    cr_expect_eq(tt_cli_resolve_trace(db, "", trace, alt, 4, &n), TT_ERR_PARSE);
}

Test(cli_store, groups_by_model)
{
    struct tt_cli_group *g = NULL;
    size_t n = 0;

    cr_assert_eq(tt_cli_query_groups(tt_store_db(store), "model", NULL, 0, 0, &g, &n), TT_OK);
    cr_assert_eq(n, 4);
    /* most expensive first; response model wins over request model */
    cr_expect_str_eq(g[0].key, "gpt-4o");
    cr_expect_str_eq(g[1].key, "gpt-4o-mini-2024-07-18");
    cr_expect_float_eq(g[1].cost, 0.25, 1e-12);
    /* equal cost (0): more calls first, then by name */
    cr_expect_str_eq(g[2].key, "claude-x");
    cr_expect_eq(g[2].unknown, 1);
    cr_expect_eq(g[2].input, 500);
    /* the errored call had no response model: grouped by its request model */
    cr_expect_str_eq(g[3].key, "gpt-4o-mini");
    cr_expect_eq(g[3].errors, 1);
    cr_expect_eq(g[3].unknown, 0);
    free(g);
}

Test(cli_store, groups_by_provider_for_one_trace_and_window)
{
    struct tt_cli_group *g = NULL;
    size_t n = 0;
    sqlite3 *db = tt_store_db(store);

    cr_assert_eq(tt_cli_query_groups(db, "provider", "aaaa1111000000000000000000000001",
                                     0, 0, &g, &n), TT_OK);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(g[0].key, "openai");
    cr_expect_eq(g[0].calls, 2);
    cr_expect_eq(g[0].input, 1010);
    free(g);

    /* a joined trace: only the spans that started inside the run count */
    cr_assert_eq(tt_cli_query_groups(db, "provider", "aaaa1111000000000000000000000001",
                                     150, 250, &g, &n), TT_OK);
    cr_assert_eq(n, 1);
    cr_expect_eq(g[0].calls, 1);
    free(g);

    cr_assert_eq(tt_cli_query_groups(db, "process", NULL, 0, 0, &g, &n), TT_OK);
    cr_assert_eq(n, 1);
    cr_expect_str_eq(g[0].key, "/usr/bin/python3 (pid 77)");
    cr_expect_eq(g[0].calls, 4);
    free(g);

    cr_expect_eq(tt_cli_query_groups(db, "model; DROP TABLE spans", NULL, 0, 0, &g, &n),
                 TT_ERR_PARSE);
}

/* export: a stored span comes back as the same contract object. */
Test(cli_store, row_to_span_round_trip)
{
    struct tt_span s, back;
    sqlite3_stmt *q = NULL;

    tt_span_init(&s);
    snprintf(s.trace_id, sizeof(s.trace_id), "eeee0000000000000000000000000005");
    snprintf(s.span_id, sizeof(s.span_id), "5000000000000001");
    snprintf(s.parent_id, sizeof(s.parent_id), "5000000000000000");
    cr_assert_eq(tt_span_set(&s.name, "chat gpt-4o"), TT_OK);
    cr_assert_eq(tt_span_set(&s.request_model, "gpt-4o"), TT_OK);
    cr_assert_eq(tt_span_set(&s.finish_reasons, "[\"stop\"]"), TT_OK);
    cr_assert_eq(tt_span_set(&s.tags, "{\"team\":\"a\"}"), TT_OK);
    s.start_time = 1763750000123456789LL;
    s.end_time = s.start_time + 5;
    s.stream = true;
    s.ttft_ms = 12.5;
    s.has_temperature = true;
    s.temperature = 0.7;
    s.has_max_tokens = true;
    s.max_tokens = 256;
    s.input_tokens = 9;
    s.cache_read_tokens = 4;
    s.usage_known = true;
    s.cost_usd = 0.001;
    s.cost_known = true;
    cr_assert_eq(tt_store_begin(store), TT_OK);
    cr_assert_eq(tt_store_put_span(store, &s), TT_OK);
    cr_assert_eq(tt_store_commit(store), TT_OK);

    cr_assert_eq(sqlite3_prepare_v2(tt_store_db(store),
                                    "SELECT * FROM spans WHERE span_id = '5000000000000001'",
                                    -1, &q, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(q), SQLITE_ROW);
    cr_assert_eq(tt_store_span_from_row(q, &back), TT_OK);
    sqlite3_finalize(q);

    json_t *a = tt_span_to_json(&s), *b = tt_span_to_json(&back);
    char *as = json_dumps(a, JSON_COMPACT), *bs = json_dumps(b, JSON_COMPACT);
    cr_expect_str_eq(bs, as);
    cr_expect(json_is_null(json_object_get(b, "top_p")), "absent stays null");
    free(as);
    free(bs);
    json_decref(a);
    json_decref(b);
    tt_span_clear(&s);
    tt_span_clear(&back);
}

/* --- daemon client ------------------------------------------------------ */

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

Test(cli_daemon, decode_hello)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    struct tt_dc_reply r;

    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    pack_str(&pk, "t");
    pack_str(&pk, "hello");
    pack_str(&pk, "db");
    pack_str(&pk, "/home/u/.local/share/tokentap/traces.db");
    pack_str(&pk, "pid");
    msgpack_pack_int64(&pk, 4321);
    pack_str(&pk, "frames");          /* unknown keys are ignored */
    msgpack_pack_array(&pk, 0);
    pack_str(&pk, "version");
    pack_str(&pk, "0.1.0");
    cr_assert_eq(tt_dc_decode(sb.data, sb.size, &r), TT_OK);
    cr_expect_str_eq(r.type, "hello");
    cr_expect_str_eq(r.db, "/home/u/.local/share/tokentap/traces.db");
    cr_expect_eq(r.pid, 4321);
    cr_expect_eq(r.stored, -1);
    cr_expect_str_eq(r.version, "0.1.0");

    /* truncated input and a map without "t" are not replies */
    cr_expect_eq(tt_dc_decode(sb.data, sb.size - 3, &r), TT_ERR_PARSE);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "stored");
    msgpack_pack_int64(&pk, 3);
    cr_expect_eq(tt_dc_decode(sb.data, sb.size, &r), TT_ERR_PARSE);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 1);
    pack_str(&pk, "t");
    cr_expect_eq(tt_dc_decode(sb.data, sb.size, &r), TT_ERR_PARSE);
    msgpack_sbuffer_destroy(&sb);
}

/* A fake daemon: accepts one connection, reads one frame, answers
 * {"t":"synced","stored":7} unless told to stay silent. */
struct fake {
    int lfd;
    bool silent;
    char got_type[16];
};

static void *fake_daemon(void *arg)
{
    struct fake *f = arg;
    unsigned char buf[256];
    int c = accept(f->lfd, NULL, NULL);
    size_t got = 0;

    if (c < 0)
        return NULL;
    while (got < 4 || got < 4 + tt_wire_len(buf)) {
        ssize_t r = read(c, buf + got, sizeof(buf) - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    /* the request body is {"t":type}: fixmap(1) fixstr("t") fixstr(type) */
    if (got > 8 && buf[4] == 0x81) {
        size_t tl = buf[7] & 0x1f;
        if (tl < sizeof(f->got_type) && 8 + tl <= got) {
            memcpy(f->got_type, buf + 8, tl);
            f->got_type[tl] = '\0';
        }
    }
    if (!f->silent) {
        msgpack_sbuffer sb;
        msgpack_packer pk;
        unsigned char hdr[4];
        msgpack_sbuffer_init(&sb);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 2);
        pack_str(&pk, "t");
        pack_str(&pk, "synced");
        pack_str(&pk, "stored");
        msgpack_pack_uint64(&pk, 7);
        hdr[0] = (unsigned char)(sb.size >> 24);
        hdr[1] = (unsigned char)(sb.size >> 16);
        hdr[2] = (unsigned char)(sb.size >> 8);
        hdr[3] = (unsigned char)sb.size;
        /* two writes: the client must reassemble */
        if (write(c, hdr, 4) != 4 || write(c, sb.data, sb.size) != (ssize_t)sb.size)
            f->got_type[0] = '!';
        msgpack_sbuffer_destroy(&sb);
    } else {
        usleep(400 * 1000);
    }
    close(c);
    return NULL;
}

static void with_fake(bool silent, int timeout_ms, int *rc, struct tt_dc_reply *r,
                      struct fake *f)
{
    char dir[] = "/tmp/tt-cli-dc-XXXXXX", path[64];
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    pthread_t th;

    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/s.sock", dir);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    memset(f, 0, sizeof(*f));
    f->silent = silent;
    f->lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(f->lfd, 0);
    cr_assert_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(f->lfd, 1), 0);
    cr_assert_eq(pthread_create(&th, NULL, fake_daemon, f), 0);
    *rc = tt_dc_request(path, "sync", timeout_ms, r);
    pthread_join(th, NULL);
    close(f->lfd);
    unlink(path);
    rmdir(dir);
}

Test(cli_daemon, request_round_trip)
{
    struct tt_dc_reply r;
    struct fake f;
    int rc;

    with_fake(false, 2000, &rc, &r, &f);
    cr_expect_eq(rc, TT_OK);
    cr_expect_str_eq(f.got_type, "sync");
    cr_expect_str_eq(r.type, "synced");
    cr_expect_eq(r.stored, 7);
}

Test(cli_daemon, request_times_out)
{
    struct tt_dc_reply r;
    struct fake f;
    int rc;

    with_fake(true, 100, &rc, &r, &f);
    cr_expect_eq(rc, TT_ERR_AGAIN);
}

Test(cli_daemon, nobody_listening)
{
    struct tt_dc_reply r;

    cr_expect_eq(tt_dc_request("/tmp/tt-cli-no-such.sock", "hello", 200, &r), TT_ERR_IO);
}
