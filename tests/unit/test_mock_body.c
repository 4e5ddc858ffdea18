/*
 * test_mock_body.c - the mock's request-body parse (tools/mock.c
 * tt_mock_body_json): jansson's verdict on every body, and jansson's tree
 * with long string values cut short (and nothing else changed).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mock_int.h"

/* What the cut may do: a string value becomes a prefix of itself (whole
 * when it is short), and everything else is jansson's. */
static int same_but_cut(const json_t *a, const json_t *b)
{
	const char *key;
	json_t *v;

	if (json_typeof(a) != json_typeof(b))
		return 0;
	switch (json_typeof(a)) {
	case JSON_OBJECT:
		if (json_object_size(a) != json_object_size(b))
			return 0;
		json_object_foreach((json_t *)a, key, v)
			if (!json_object_get(b, key) || !same_but_cut(v, json_object_get(b, key)))
				return 0;
		return 1;
	case JSON_ARRAY:
		if (json_array_size(a) != json_array_size(b))
			return 0;
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!same_but_cut(json_array_get(a, i), json_array_get(b, i)))
				return 0;
		return 1;
	case JSON_STRING: {
		size_t la = json_string_length(a), lb = json_string_length(b);
		if (lb > la || memcmp(json_string_value(a), json_string_value(b), lb))
			return 0;
		/* short strings whole; a cut one keeps at least ~its first 64 chars */
		return la <= 64 ? lb == la : lb >= 64 && lb <= 260;
	}
	default:
		return json_equal((json_t *)a, (json_t *)b);
	}
}

/* A chat body whose user message is `text` (raw JSON string content),
 * padded to well over the size the cut starts at. */
static char *chat_body(const char *before, const char *tail)
{
	size_t cap = 64 * 1024;
	char *b = malloc(cap);
	int n;

	cr_assert(b);
	n = snprintf(b, cap,
		     "{\"model\":\"gpt-4o-mini\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
		     "\"messages\":[{\"role\":\"system\",\"content\":\"You are terse.\"},"
		     "{\"role\":\"user\",\"content\":\"%s",
		     before);
	for (int i = 0; i < 900; i++)
		n += snprintf(b + n, cap - (size_t)n, "lorem ipsum ");
	snprintf(b + n, cap - (size_t)n, "%s\"}],\"max_tokens\":64,\"temperature\":0.2}", tail);
	return b;
}

static void check(const char *body, size_t len, const char *what)
{
	json_t *want = json_loadb(body, len, 0, NULL), *got = tt_mock_body_json(body, len);

	cr_expect_eq(!got, !want, "%s: jansson %s it, the mock's parse %s it", what, want ? "takes" : "refuses",
		     got ? "takes" : "refuses");
	if (got && want)
		cr_expect(same_but_cut(want, got), "%s: the tree differs beyond cut strings", what);
	json_decref(want);
	json_decref(got);
}

Test(mock_body, a_large_chat_body_keeps_every_field_and_a_prefix_of_the_prompt)
{
	char *b = chat_body("", "");
	json_t *j = tt_mock_body_json(b, strlen(b));
	const char *text;

	cr_assert(strlen(b) > 10000);
	cr_assert(j);
	cr_expect_str_eq(json_string_value(json_object_get(j, "model")), "gpt-4o-mini");
	cr_expect(json_is_true(json_object_get(j, "stream")));
	cr_expect(json_is_true(json_object_get(json_object_get(j, "stream_options"), "include_usage")));
	cr_expect_eq(json_integer_value(json_object_get(j, "max_tokens")), 64);
	cr_expect_eq(json_array_size(json_object_get(j, "messages")), 2);
	text = json_string_value(json_object_get(json_array_get(json_object_get(j, "messages"), 1), "content"));
	cr_assert(text);
	cr_expect_eq(strlen(text), 256, "the prompt is cut to its first 256 bytes, got %zu", strlen(text));
	cr_expect(!strncmp(text, "lorem ipsum lorem", 17));
	json_decref(j);
	check(b, strlen(b), "chat");
	free(b);
}

/* Escapes and multi-byte characters at every offset around the cut: never
 * a broken escape, a lone surrogate or half a UTF-8 sequence. */
Test(mock_body, units_across_the_cut_stay_whole)
{
	static const char *const units[] = {
		"\\\"", "\\\\", "\\n", "\\/", "\\u00e9", "\\ud83d\\ude00", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
	};
	for (size_t u = 0; u < sizeof units / sizeof units[0]; u++) {
		for (int off = 240; off < 262; off++) {
			char before[512], what[64];
			char *b;

			memset(before, 'x', (size_t)off);
			snprintf(before + off, sizeof before - (size_t)off, "%s%s%s", units[u], units[u], units[u]);
			b = chat_body(before, "");
			snprintf(what, sizeof what, "unit %zu at %d", u, off);
			check(b, strlen(b), what);
			free(b);
		}
	}
}

/* Bodies jansson refuses are refused, also for what lies in the part of a
 * string that is cut away. */
Test(mock_body, what_jansson_refuses_stays_refused)
{
	static const struct {
		const char *tail;
		const char *what;
	} cases[] = {
		{"\\u0000", "NUL escape in the cut part"},
		{"\\x", "bad escape in the cut part"},
		{"\xff", "invalid UTF-8 in the cut part"},
		{"\xc3", "truncated UTF-8 in the cut part"},
		{"\x01", "raw control byte in the cut part"},
		{"\\ud83d", "lone high surrogate in the cut part"},
		{"\\udc00", "lone low surrogate in the cut part"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char *b = chat_body("", cases[i].tail);
		json_t *j = tt_mock_body_json(b, strlen(b));

		cr_expect_null(j, "%s: taken", cases[i].what);
		json_decref(j);
		check(b, strlen(b), cases[i].what);
		free(b);
	}
}

Test(mock_body, keys_and_small_bodies_and_broken_bodies_are_janssons)
{
	char key[400], *b = chat_body("", "");
	size_t n = strlen(b);
	json_t *j;
	char *big;

	/* a member name longer than the cut stays whole */
	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	big = malloc(n + 1024);
	cr_assert(big);
	snprintf(big, n + 1024, "{\"%s\":1,%s", key, b + 1);
	j = tt_mock_body_json(big, strlen(big));
	cr_assert(j);
	cr_expect_eq(json_integer_value(json_object_get(j, key)), 1);
	json_decref(j);
	check(big, strlen(big), "long key");

	/* truncated anywhere: refused as jansson refuses it */
	for (size_t cut = n - 1; cut > n - 60; cut--)
		check(b, cut, "truncated");
	check(b, n / 2, "half");
	/* trailing garbage, a second value */
	snprintf(big, n + 1024, "%s x", b);
	check(big, strlen(big), "garbage after");
	snprintf(big, n + 1024, "%s{}", b);
	check(big, strlen(big), "two values");
	/* a small body: jansson's tree exactly */
	j = tt_mock_body_json("{\"model\":\"m\",\"messages\":[]}", 27);
	cr_assert(j);
	cr_expect_str_eq(json_string_value(json_object_get(j, "model")), "m");
	json_decref(j);
	cr_expect_null(tt_mock_body_json(NULL, 0));
	free(big);
	free(b);
}
