/* test_report.c - tools/cli_report.c: the escaping that keeps captured
 * prompts from ending the page's data element or becoming markup. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "cli_report.h"

static char *escaped(int (*fn)(const char *, size_t, struct tt_buf *), const char *in,
                     size_t len)
{
    struct tt_buf b;

    tt_buf_init(&b, 1 << 20);
    cr_assert_eq(fn(in, len, &b), TT_OK);
    char *s = tt_buf_steal(&b);
    return s ? s : strdup("");
}

Test(report, json_escape_table)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "\"</script>\"", "\"\\u003c/script\\u003e\"" },
        { "\"a<b&c>d\"", "\"a\\u003cb\\u0026c\\u003ed\"" },
        { "\"<!--\"", "\"\\u003c!--\"" },
        { "\"\xe2\x80\xa8|\xe2\x80\xa9\"", "\"\\u2028|\\u2029\"" },
        { "\"\xe2\x80\xa7\"", "\"\xe2\x80\xa7\"" },          /* U+2027 stays */
        { "{\"k\":[1,2.5,null]}", "{\"k\":[1,2.5,null]}" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = escaped(tt_report_json_escape, cases[i].in, strlen(cases[i].in));
        cr_assert_str_eq(s, cases[i].want, "case %zu", i);
        free(s);
    }
}

Test(report, json_escape_keeps_the_value)
{
    const char *text = "{\"input\":\"</script><script>alert(1)</script> & \xe2\x80\xa8\"}";
    char *s = escaped(tt_report_json_escape, text, strlen(text));
    json_t *a = json_loads(text, 0, NULL), *b = json_loads(s, 0, NULL);

    cr_assert_null(strchr(s, '<'));
    cr_assert_null(strchr(s, '>'));
    cr_assert_null(strchr(s, '&'));
    cr_assert_not_null(b);
    cr_assert(json_equal(a, b), "the escapes decode to the same value");
    json_decref(a);
    json_decref(b);
    free(s);
}

Test(report, json_escape_a_cut_sequence_is_copied)
{
    /* E2 80 at the very end: not a whole U+2028, copied as is, no read
     * past len. */
    const char in[] = "x\xe2\x80";
    char *s = escaped(tt_report_json_escape, in, 3);
    cr_assert_eq(memcmp(s, in, 3), 0);
    free(s);
}

Test(report, html_escape_table)
{
    static const struct {
        const char *in, *want;
    } cases[] = {
        { "</script>", "&lt;/script&gt;" },
        { "a & b", "a &amp; b" },
        { "&amp;", "&amp;amp;" },
        { "\"q\" 'a'", "&quot;q&quot; &#39;a&#39;" },
        { "plain", "plain" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *s = escaped(tt_report_html_escape, cases[i].in, strlen(cases[i].in));
        cr_assert_str_eq(s, cases[i].want, "case %zu", i);
        free(s);
    }
}

/* The whole page: the data element holds the document, whatever strings it
 * carries; the title is escaped in <title> and <h1>. */
Test(report, render_embeds_the_document_once)
{
    json_t *doc = json_pack("{s:s, s:I, s:[{s:s, s:n, s:{}, s:[{s:s, s:s}]}]}",
                            "generator", "tokentap test", "generated_at", (json_int_t)1,
                            "traces", "trace_id", "0123", "run", "totals",
                            "spans", "kind", "llm",
                            "input", "</script><script>alert(1)</script>&");
    struct tt_buf b;

    cr_assert_not_null(doc);
    tt_buf_init(&b, 1 << 22);
    cr_assert_eq(tt_report_render(doc, "a <b> & c", &b), TT_OK);
    cr_assert_not_null(strstr(b.data, "<title>a &lt;b&gt; &amp; c</title>"));
    cr_assert_not_null(strstr(b.data, "<h1>a &lt;b&gt; &amp; c</h1>"));
    cr_assert_null(strstr(b.data, "@TITLE@"));

    const char *open = "<script type=\"application/json\" id=\"tt-data\">\n";
    char *start = strstr(b.data, open);
    cr_assert_not_null(start);
    start += strlen(open);
    char *end = strstr(start, "</script>");
    cr_assert_not_null(end);
    json_t *back = json_loadb(start, (size_t)(end - start), 0, NULL);
    cr_assert_not_null(back, "the element ends right after the JSON");
    cr_assert(json_equal(back, doc));
    json_decref(back);
    /* no stray markup from the data anywhere in the page */
    cr_assert_null(strstr(b.data, "alert(1)</script>"));
    cr_assert_null(strstr(b.data, "<script>alert"));
    tt_buf_free(&b);
    json_decref(doc);
}
