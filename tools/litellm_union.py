#!/usr/bin/env python3
"""litellm_union.py - the built-in price catalogue (data/catalogue.tsv) from
the history of LiteLLM's model_prices_and_context_window.json.

Run by hand when the catalogue is refreshed, never by the build (the build
must not need the network): its output, data/catalogue.tsv, is committed and
compiled by tools/gen_prices.py.

Sources: git repositories that keep verbatim, dated copies of LiteLLM's file
(RoCry/llm-api-price: one commit per upstream change since 2025-02;
Prajwalsrinvas/token-tariff). Each argument is GIT_DIR:PATH:LABEL, e.g.
  /work/.mirror/RoCry+llm-api-price/repo:model_prices_and_context_window.json:RoCry/llm-api-price
Every version of PATH in every repository is read, ordered by commit date.

The union: every entry that ever had a per-token price (mode chat,
completion, responses, embedding, and the token-priced realtime, image,
audio and moderation models) keeps its LAST known price. An entry that
is missing from the newest copy is marked deprecated with the date of the
first copy it was missing from (LiteLLM deletes retired models; a legacy
agent's bill still needs them). Each row cites the repository, commit and
date of the copy its price was read from.

Prices are written USD per 1M tokens (LiteLLM's per-token value x 1e6,
rounded to 10 significant digits to undo binary noise)."""
import json
import subprocess
import sys

# Modes priced per token that a traced call can be (the catalogue's
# per-image, per-second and per-character entries are not token prices).
MODES = {"chat", "completion", "responses", "embedding", "realtime",
         "image_generation", "audio_transcription", "audio_speech", "moderation"}
NO_OUTPUT = {"embedding", "moderation"}

# LiteLLM provider -> tokentap's OTel provider name (preload/provider.c).
# Providers tokentap does not detect keep LiteLLM's name ('-' -> '_'): a
# gateway or TOKENTAP_HOSTS may still name them.
PROVIDERS = {
    "openai": "openai",
    "text-completion-openai": "openai",
    "anthropic": "anthropic",
    "gemini": "gcp.gemini",
    "vertex_ai": "gcp.vertex_ai",
    "bedrock": "aws.bedrock",
    "bedrock_converse": "aws.bedrock",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "mistral": "mistral_ai",
    # codestral.mistral.ai (free Codestral endpoint) is not api.mistral.ai
    "codestral": "codestral",
    "text-completion-codestral": "codestral",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
    "openrouter": "openrouter",
    "together_ai": "together_ai",
    "fireworks_ai": "fireworks_ai",
    "fireworks_ai-embedding-models": "fireworks_ai",
    "perplexity": "perplexity",
    "cohere": "cohere",
    "cohere_chat": "cohere",
    "ollama": "ollama",
}

# Columns of data/catalogue.tsv after provider, model.
PRICE_COLS = [
    "input", "output", "cache_read", "cache_write", "cache_write_1h",
    "reasoning", "tier_threshold", "tier_input", "tier_output",
    "tier_cache_read", "tier_cache_write", "audio_input", "audio_output",
    "image_input", "image_output", "flex_input", "flex_output",
    "flex_cache_read", "priority_input", "priority_output",
    "priority_cache_read", "batch_input", "batch_output",
]
TAIL_COLS = ["flags", "deprecated", "litellm_key", "source", "date"]


def otel_provider(lp):
    if lp in PROVIDERS:
        return PROVIDERS[lp]
    if lp.startswith("vertex_ai"):
        return "gcp.vertex_ai"
    return lp.replace("-", "_").lower()


def model_id(key, lp):
    """The id a program sends: the LiteLLM key without its route prefix
    ("gemini/", "vertex_ai/", "mistral/", "azure/", ...)."""
    if "/" not in key:
        return key
    first, rest = key.split("/", 1)
    stems = {lp, lp.split("-")[0], lp.replace("_", "-"), lp.replace("-", "_")}
    if lp.startswith("bedrock"):
        stems.add("bedrock")
    if lp.startswith("text-completion-"):
        stems.add(lp[len("text-completion-"):])
    if lp == "amazon_nova":
        stems.add("amazon-nova")
    if first in stems:
        return rest
    return key


def per_m(v):
    if v is None or isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    if v < 0:
        return None
    return float("%.10g" % (v * 1e6))


TIERS = [("128k", 128000), ("200k", 200000), ("256k", 256000),
         ("272k", 272000), ("512k", 512000)]


def row_of(e):
    """LiteLLM entry -> our price columns (dict), or None if not priced per
    token in a mode we bill."""
    if not isinstance(e, dict) or e.get("mode") not in MODES:
        return None
    inp = per_m(e.get("input_cost_per_token"))
    if inp is None:
        return None
    out = per_m(e.get("output_cost_per_token"))
    if out is None:
        out = 0.0 if e.get("mode") in NO_OUTPUT else None
    if out is None:
        return None
    r = {c: None for c in PRICE_COLS}
    r["input"], r["output"] = inp, out
    cr = per_m(e.get("cache_read_input_token_cost"))
    if cr is None:
        cr = per_m(e.get("input_cost_per_token_cache_hit"))
    r["cache_read"] = cr
    r["cache_write"] = per_m(e.get("cache_creation_input_token_cost"))
    r["cache_write_1h"] = per_m(e.get("cache_creation_input_token_cost_above_1hr"))
    r["reasoning"] = per_m(e.get("output_cost_per_reasoning_token"))
    for suf, thr in TIERS:
        ti = per_m(e.get("input_cost_per_token_above_%s_tokens" % suf))
        to = per_m(e.get("output_cost_per_token_above_%s_tokens" % suf))
        if ti is None and to is None:
            continue
        r["tier_threshold"] = thr
        r["tier_input"], r["tier_output"] = ti, to
        r["tier_cache_read"] = per_m(e.get("cache_read_input_token_cost_above_%s_tokens" % suf))
        r["tier_cache_write"] = per_m(e.get("cache_creation_input_token_cost_above_%s_tokens" % suf))
        break
    r["audio_input"] = per_m(e.get("input_cost_per_audio_token"))
    r["audio_output"] = per_m(e.get("output_cost_per_audio_token"))
    r["image_input"] = per_m(e.get("input_cost_per_image_token"))
    r["image_output"] = per_m(e.get("output_cost_per_image_token"))
    r["flex_input"] = per_m(e.get("input_cost_per_token_flex"))
    r["flex_output"] = per_m(e.get("output_cost_per_token_flex"))
    r["flex_cache_read"] = per_m(e.get("cache_read_input_token_cost_flex"))
    r["priority_input"] = per_m(e.get("input_cost_per_token_priority"))
    r["priority_output"] = per_m(e.get("output_cost_per_token_priority"))
    r["priority_cache_read"] = per_m(e.get("cache_read_input_token_cost_priority"))
    r["batch_input"] = per_m(e.get("input_cost_per_token_batches"))
    r["batch_output"] = per_m(e.get("output_cost_per_token_batches"))
    flags = []
    if e.get("mode") != "chat":
        flags.append(e["mode"])
    if e.get("search_context_cost_per_query") or e.get("input_cost_per_request"):
        flags.append("per_request_fee")
    if e.get("input_cost_per_image") or e.get("input_cost_per_audio_per_second") \
            or e.get("input_cost_per_video_per_second") or e.get("input_cost_per_character"):
        flags.append("non_token_input")
    r["flags"] = flags
    return r


def errata(key, r):
    """Known errors of the source, corrected by removing the wrong value
    (the cost code then falls back as documented), never by inventing one.
    Returns the notes for the flags column."""
    notes = []
    # Anthropic bills a 1-hour cache write at 2x the base input price
    # (docs: prompt caching pricing). LiteLLM lists 6.00 for claude-3-haiku,
    # 3-5-haiku and 3-opus, which contradicts both that rule and their
    # 5-minute prices: left unset, as the hand table had it.
    if "claude" in key and r["cache_write_1h"] is not None and \
            abs(r["cache_write_1h"] - 2 * r["input"]) > 1e-9 * max(1.0, r["input"]):
        r["cache_write_1h"] = None
        notes.append("errata_cache_write_1h")
    return notes


def git(gitdir, *args):
    return subprocess.run(["git", "--git-dir", gitdir] + list(args), check=True,
                          capture_output=True).stdout


def versions(spec):
    gitdir, path, label = spec.split(":", 2)
    log = git(gitdir, "log", "--format=%H %cI", "--", path).decode().split("\n")
    out = []
    for line in log:
        if not line.strip():
            continue
        commit, when = line.split(" ", 1)
        out.append((when, commit, gitdir, path, label))
    return out


def main(argv):
    if len(argv) < 2:
        sys.stderr.write(__doc__)
        return 2
    allv = []
    for spec in argv[1:]:
        allv.extend(versions(spec))
    allv.sort(key=lambda v: v[0])   # ISO dates with offsets: all UTC here
    last = {}        # key -> (row, entry provider, source, date)
    present = {}     # key -> True if in the newest version read so far
    left = {}        # key -> date of the first version it was missing from
    seen_blobs = {}
    for when, commit, gitdir, path, label in allv:
        blob = git(gitdir, "rev-parse", "%s:%s" % (commit, path)).decode().strip()
        day = when[:10]
        if blob in seen_blobs:
            data = seen_blobs[blob]
        else:
            try:
                data = json.loads(git(gitdir, "cat-file", "blob", blob))
            except ValueError:
                sys.stderr.write("skip %s@%s: not JSON\n" % (label, commit[:12]))
                continue
            seen_blobs.clear()
            seen_blobs[blob] = data
        keys = set()
        for key, e in data.items():
            r = row_of(e)
            if r is None:
                continue
            keys.add(key)
            last[key] = (r, e.get("litellm_provider", ""), "%s@%s" % (label, commit), day)
            left.pop(key, None)
        for key in last:
            if key not in keys and key not in left:
                left[key] = day
    rows = {}
    for key, (r, lp, src, day) in last.items():
        prov, model = otel_provider(lp), model_id(key, lp)
        if "\t" in model or " " in model or '"' in model or "\\" in model:
            continue
        r = dict(r)
        r["flags"] = ",".join(r["flags"] + errata(key, r)) or "-"
        r["deprecated"] = left.get(key, "-")
        r["litellm_key"] = key
        r["source"], r["date"] = src, day
        k = (prov, model.lower())
        old = rows.get(k)
        # Two keys for one (provider, id): the one without a route prefix,
        # else the current over the retired one, else the first by name.
        if old is not None:
            def rank(x):
                return ("/" in x["litellm_key"], x["deprecated"] != "-", x["litellm_key"])
            if rank(old) <= rank(r):
                continue
        rows[k] = r
        r["_model"] = model
    out = sys.stdout
    out.write("# catalogue.tsv - tokentap's built-in prices, generated by tools/litellm_union.py\n"
              "# from the history of LiteLLM's model_prices_and_context_window.json. Do not edit;\n"
              "# rerun the script. Prices: USD per 1M tokens, '-' = not set. 'deprecated' is\n"
              "# the date an entry left the catalogue (its last known price is kept).\n"
              "# 'source' is REPO@COMMIT of the verbatim copy the price was read from, 'date'\n"
              "# that copy's commit date. Sources read:\n")
    for spec in argv[1:]:
        gitdir, path, label = spec.split(":", 2)
        head = git(gitdir, "log", "-1", "--format=%H %cI", "--", path).decode().strip()
        out.write("#   %s %s (newest %s)\n" % (label, path, head))
    out.write("provider\tmodel\t" + "\t".join(PRICE_COLS + TAIL_COLS) + "\n")

    def fmt(v):
        if v is None:
            return "-"
        if isinstance(v, int):
            return str(v)
        return "%.10g" % v
    for k in sorted(rows):
        r = rows[k]
        cells = [k[0], r["_model"]] + [fmt(r[c]) for c in PRICE_COLS] + \
                [r["flags"], r["deprecated"], r["litellm_key"], r["source"], r["date"]]
        out.write("\t".join(cells) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
