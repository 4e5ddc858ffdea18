#!/usr/bin/env python3
"""gen_catalogue_cases.py - writes tests/unit/catalogue_cases.h, the id table
of test_price_catalogue.c, from data/catalogue.tsv.

The ids are the ones real programs send: every catalogue row of the
providers tokentap detects, as its own id (it must resolve to itself), plus
hand-written variants (vendor prefixes, Bedrock/Vertex ids, inference
profiles, undated/dated forms) each with the catalogue row it must resolve
to, and adversarial ids that must stay unknown. The expected row's prices
are read from the TSV here, so the C test checks that the lookup lands on
exactly that catalogue entry. Rerun after refreshing the catalogue and
review the diff."""
import sys

TSV = sys.argv[1] if len(sys.argv) > 1 else "data/catalogue.tsv"
rows = {}
cols = None
for line in open(TSV, encoding="utf-8"):
    if line.startswith("#"):
        continue
    f = line.rstrip("\n").split("\t")
    if cols is None:
        cols = f
        continue
    r = dict(zip(cols, f))
    rows[(r["provider"], r["model"].lower())] = r

DETECTED = ["openai", "anthropic", "gcp.gemini", "gcp.vertex_ai", "aws.bedrock",
            "mistral_ai", "x_ai", "deepseek", "groq", "perplexity", "cohere"]

# (provider sent with the span, id, expected provider, expected model)
VARIANTS = [
    ("openai", "openai/gpt-4o", "openai", "gpt-4o"),
    ("openai", "openai/gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini-2024-07-18"),
    ("openai", "models/gpt-4.1", "openai", "gpt-4.1"),
    ("openai", "OpenAI/GPT-4o", "openai", "gpt-4o"),
    (None, "gpt-4o-mini", "openai", "gpt-4o-mini"),
    (None, "claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet-20241022"),
    (None, "o1-mini", "openai", "o1-mini"),
    ("local", "gpt-4o", "openai", "gpt-4o"),
    ("ollama", "anthropic/claude-haiku-4-5", "anthropic", "claude-haiku-4-5"),
    ("azure.ai.openai", "gpt-4o-2024-11-20", "azure.ai.openai", "gpt-4o-2024-11-20"),
    ("azure.ai.openai", "gpt-4o-search-preview", "openai", "gpt-4o-search-preview"),
    ("azure.ai.openai", "chatgpt-4o-latest", "openai", "chatgpt-4o-latest"),
    ("anthropic", "anthropic/claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929"),
    ("gcp.gemini", "models/gemini-2.5-flash", "gcp.gemini", "gemini-2.5-flash"),
    ("gcp.gemini", "google/gemini-2.5-pro", "gcp.gemini", "gemini-2.5-pro"),
    ("gcp.gemini", "models/gemini-1.5-pro-002", "gcp.gemini", "gemini-1.5-pro-002"),
    ("gcp.vertex_ai", "claude-3-5-haiku-20241022", "anthropic", "claude-3-5-haiku-20241022"),
    ("gcp.vertex_ai", "claude-opus-4-7@20260416", "anthropic", "claude-opus-4-7-20260416"),
    ("gcp.vertex_ai", "claude-opus-4-6@20260205", "anthropic", "claude-opus-4-6-20260205"),
    ("gcp.vertex_ai", "google/gemini-2.5-pro", "gcp.vertex_ai", "gemini-2.5-pro"),
    # Bedrock: dated ids, anthropic. -> anthropic rows, profiles
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022", "anthropic", "claude-3-5-sonnet-20241022"),
    ("aws.bedrock", "anthropic.claude-sonnet-4-5-20250929", "anthropic", "claude-sonnet-4-5-20250929"),
    ("aws.bedrock", "anthropic.claude-opus-4-7-v1:0", "aws.bedrock", "anthropic.claude-opus-4-7"),
    ("aws.bedrock", "apac.anthropic.claude-3-7-sonnet-20250219-v1:0", "aws.bedrock", "anthropic.claude-3-7-sonnet-20250219-v1:0"),
    ("aws.bedrock", "apac.anthropic.claude-opus-4-1-20250805-v1:0", "aws.bedrock", "anthropic.claude-opus-4-1-20250805-v1:0"),
    ("aws.bedrock", "global.anthropic.claude-opus-4-1-20250805-v1:0", "aws.bedrock", "anthropic.claude-opus-4-1-20250805-v1:0"),
    ("aws.bedrock", "eu.meta.llama3-3-70b-instruct-v1:0", "aws.bedrock", "meta.llama3-3-70b-instruct-v1:0"),
    ("aws.bedrock", "apac.anthropic.claude-3-opus-20240229-v1:0", "aws.bedrock", "anthropic.claude-3-opus-20240229-v1:0"),
    ("aws.bedrock", "global.anthropic.claude-3-haiku-20240307-v1:0", "aws.bedrock", "anthropic.claude-3-haiku-20240307-v1:0"),
]

# Must be unknown (provider, id).
ADVERSARIAL = [
    ("openai", "o1-mini-foo"), (None, "o1-mini-foo"),
    ("openai", "gpt-4o-realtime-preview-2099-01-01"),
    ("anthropic", "claude-sonnet-4-5-extra"), (None, "claude-sonnet-4-5-extra"),
    ("openai", "gpt-4o-mini-xyz"), ("openai", "gpt-4-64k"), ("openai", "gpt-4o-ultra"),
    ("openai", "gpt-4.1-nano-ft"), ("openai", "o3-mini-high"), ("openai", "gpt-5.7"),
    ("openai", "gpt-4o-2024-02-30"), ("openai", "gpt-4o-audio"), ("openai", "gpt-4-vision"),
    ("openai", "gpt-4o-search-preview-foo"), ("openai", "text-embedding-3-medium"),
    ("openai", "gpt-4o1"), ("openai", "gpt-4x"), ("openai", "gpt-4o-"), ("openai", "openai/"),
    ("openai", "o4-mini-deep-research-pro"), ("openai", "gpt-5-codex-max-ultra"),
    ("openai", "gpt-3.5-turbo-instruct-foo"), ("openai", "gpt-4-32k-instruct"),
    ("anthropic", "claude-opus-4-9"), ("anthropic", "claude-3-5-sonnet-20991231"),
    ("anthropic", "claude-haiku-4-5-fast"), ("anthropic", "claude-sonnet-4-5-1m"),
    ("anthropic", "anthropic.claude-sonnet-4-5"),
    ("gcp.gemini", "gemini-2.5-flash-extra"), ("gcp.gemini", "gemini-2.5-pro-lite"),
    ("gcp.gemini", "gemini-2.5-flash-image-ultra"), ("gcp.gemini", "gemini-9-pro"),
    ("gcp.vertex_ai", "publishers/x/gemini-2.5-pro"),
    ("aws.bedrock", "apac.anthropic.claude-sonnet-4-5-20250929-v1:0"),
    ("aws.bedrock", "anthropic.claude-sonnet-4-5-extra-v1:0"),
    ("x_ai", "grok-4-2-fast"), ("x_ai", "grok-4.20-0309-non-reasoning"),
    ("deepseek", "deepseek-v3.1"), ("deepseek", "deepseek-chat-v9"), (None, "deepseek-chat-v9"),
    ("mistral_ai", "mistral-large-9999"),
    ("cohere", "command-r7b-ultra"), ("openai", "gpt-4o-mini-tts-pro"),
    ("openai", "gpt-4o-realtime-preview-mini"), ("openai", "gpt-image-1.5-pro"),
]


def lookup(prov, model):
    r = rows.get((prov, model.lower()))
    if r is None:
        sys.exit("no catalogue row %s/%s" % (prov, model))
    return r


def c(s):
    return "NULL" if s is None else '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def num(v):
    return "-1" if v == "-" else v


cases = []
for (prov, model), r in sorted(rows.items()):
    if prov not in DETECTED:
        continue
    m = r["model"]
    # ids a program sends: no route or region paths ("us-east-1/...",
    # "fast/...", "ft:" fine-tune templates), nothing blank.
    if "/" in m and prov not in ("groq", "perplexity"):
        continue
    if m.startswith("ft:"):
        continue
    cases.append((prov, m, prov, m, r))
for prov, sent, wp, wm in VARIANTS:
    cases.append((prov, sent, wp, wm, lookup(wp, wm)))

out = sys.stdout
out.write("/* Generated by tests/unit/gen_catalogue_cases.py from %s. */\n" % TSV)
out.write("static const struct cat_case cat_cases[] = {\n")
for prov, sent, wp, wm, r in cases:
    out.write("    { %s, %s, %s, %s, %s, %s, %s },\n" % (
        c(prov), c(sent), c(wp), c(r["model"]), num(r["input"]), num(r["output"]),
        num(r["cache_read"])))
out.write("};\n\nstatic const struct cat_miss cat_misses[] = {\n")
for prov, sent in ADVERSARIAL:
    if rows.get((prov, sent.lower())):
        sys.exit("adversarial id %s/%s has a row" % (prov, sent))
    out.write("    { %s, %s },\n" % (c(prov), c(sent)))
out.write("};\n")
sys.stderr.write("%d ids, %d adversarial\n" % (len(cases), len(ADVERSARIAL)))
