"""Figure 9 of `make bench` (issue #15): `tokentap ui` on a big store.

A store of TRACES traces / ~10 spans each (100,000 / 1,000,000 by default:
per trace a run span and 9 LLM calls with short prompts and answers, six
models, tags, sessions, some errors) plus one trace of 1,000 spans is
synthesized with Python's sqlite3 in the store's own schema (exporter/
store.h). Then `tokentap ui` is started on it (its first index build is
timed), and measured, as medians of ROUNDS requests over HTTP:
  - the traces page (first 50, newest first): target <= 200 ms
  - filtered queries (a common model, a rare model, a tag, errors, a word
    of the prompts via FTS5, a page deep in keyset paging): <= 200 ms
  - the 1,000-span trace rendered in headless chromium (puppeteer-core,
    tests/ui/node_modules): from navigation to the page's "rendered" mark,
    API fetch included: <= 1 s
  - the cost page's API (by model, day buckets; totals kept in the index):
    <= 200 ms
Env: TRACES (100000; QUICK: 10000), ROUNDS (7; QUICK: 3), KEEP=1 keeps the
store in /tmp."""
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import QUICK, ROOT, die, log, median, row  # noqa: E402

import requests  # noqa: E402

TRACES = int(os.environ.get("TRACES") or (10000 if QUICK else 100000))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 7))
TOKENTAP = os.path.join(ROOT, "build", "bin", "tokentap")
RENDER_JS = os.path.join(ROOT, "bench", "ui_render.mjs")
MODELS = [("openai", "gpt-4o-mini", 0.5), ("openai", "gpt-4o", 0.2),
          ("anthropic", "claude-sonnet-4-5", 0.2), ("anthropic", "claude-haiku-4-5", 0.08),
          ("gcp.gemini", "gemini-2.5-flash", 0.019), ("openai", "rare-model-x", 0.001)]
WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
         "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
         "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"]


def schema():
    src = open(os.path.join(ROOT, "exporter", "store.h")).read()
    body = src[src.index("#define TT_STORE_SCHEMA"):src.index("struct tt_store;")]
    return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', body)).replace("\\n", "\n")


def synthesize(path):
    rnd = random.Random(15)
    db = sqlite3.connect(path)
    db.executescript("PRAGMA journal_mode=WAL; PRAGMA synchronous=OFF;" + schema())
    t0 = 1_700_000_000_000_000_000
    cum, acc = [], 0.0
    for p, m, w in MODELS:
        acc += w
        cum.append((acc, p, m))

    def spans():
        for i in range(TRACES + 1):
            big = i == TRACES
            n = 1000 if big else 9
            tid = "%032x" % (0x5eed << 96 | i)
            start = t0 + i * 6_000_000_000
            sess = "sess-%d" % (i % 500)
            tags = json.dumps({"team": ["alpha", "beta", "gamma"][i % 3]})
            yield ("%016x" % (i << 12), tid, None, "process", "run agent.py --job %d" % i, start,
                   start + (n + 1) * 200_000_000, "ok", None, None, None, None, None, 0, 0, 0,
                   0.0, 0, None, None, 4000 + i % 30000, "/usr/bin/python3", sess, tags)
            for k in range(n):
                x = rnd.random()
                prov, model = next((p, m) for c, p, m in cum if x <= c or c == cum[-1][0])
                err = rnd.random() < 0.01
                s = start + (k + 1) * 200_000_000
                w1, w2 = rnd.choice(WORDS), rnd.choice(WORDS)
                inp = json.dumps([{"role": "system", "content": "You are terse."},
                                  {"role": "user", "content": "Tell me about %s and %s (job %d)" % (w1, w2, i)}])
                out = None if err else "%s is a word; so is %s." % (w1.title(), w2)
                it, ot = 200 + k * 50, 0 if err else 40 + k
                yield ("%016x" % (i << 12 | (k + 1)), tid, "%016x" % (i << 12), "llm",
                       "chat " + model, s, s + 150_000_000, "error" if err else "ok",
                       "HTTP 429" if err else None, prov, model, model, 429 if err else 200,
                       it, ot, 0 if err else 1, (it * 0.15 + ot * 0.6) / 1e6, 0 if err else 1,
                       inp, out, 4000 + i % 30000, "/usr/bin/python3", sess, tags)

    db.execute("BEGIN")
    db.executemany(
        "INSERT INTO spans(span_id, trace_id, parent_id, kind, name, start_time, end_time,"
        " status, error, provider, request_model, response_model, http_status, input_tokens,"
        " output_tokens, usage_known, cost_usd, cost_known, input, output, pid, exe,"
        " session_id, tags) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", spans())
    db.executemany("INSERT INTO runs(trace_id, command, start_time, end_time, exit_code, pid)"
                   " VALUES(?,?,?,?,0,?)",
                   (("%032x" % (0x5eed << 96 | i), "python3 agent.py --job %d" % i,
                     t0 + i * 6_000_000_000, t0 + i * 6_000_000_000 + 2_000_000_000, 4000)
                    for i in range(TRACES + 1)))
    db.commit()
    n = db.execute("SELECT COUNT(*) FROM spans").fetchone()[0]
    db.close()
    os.chmod(path, 0o600)
    return n, "%032x" % (0x5eed << 96 | TRACES)


def timed(sess, url, rounds):
    ts = []
    for _ in range(rounds):
        t = time.perf_counter()
        r = sess.get(url, timeout=120)
        ts.append((time.perf_counter() - t) * 1000)
        if r.status_code != 200:
            die("%s: HTTP %d %s" % (url, r.status_code, r.text[:300]))
    return median(ts), r.json()


def main():
    work = tempfile.mkdtemp(prefix="tt-bench-ui-")
    store = os.path.join(work, "traces.db")
    t = time.perf_counter()
    nspans, big = synthesize(store)
    log("ui: synthesized %d traces, %d spans in %.1f s (%s MB)" % (
        TRACES + 1, nspans, time.perf_counter() - t, os.path.getsize(store) // 1_000_000))
    url_file = os.path.join(work, "url")
    env = dict(os.environ, TOKENTAP_HOME=work, TOKENTAP_CONFIG=os.devnull)
    t = time.perf_counter()
    p = subprocess.Popen([TOKENTAP, "ui", "--db", store, "--port", "0", "--url-file", url_file],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        while not (os.path.exists(url_file) and open(url_file).read().endswith("\n")):
            if p.poll() is not None:
                die("tokentap ui exited: " + p.stderr.read())
            time.sleep(0.05)
        build_s = time.perf_counter() - t
        log("ui: index built in %.1f s (%d MB)" % (build_s, os.path.getsize(store + ".ui-index") // 1_000_000))
        url = open(url_file).read().strip()
        base, _, token = url.partition("/?token=")
        sess = requests.Session()
        sess.headers["Authorization"] = "Bearer " + token
        cmd = "make bench (bench/fig_13_ui.py, TRACES=%d)" % TRACES
        queries = [
            ("13. ui traces page (first 50)", "/api/traces"),
            ("13. ui filter model (common)", "/api/traces?model=gpt-4o-mini"),
            ("13. ui filter model (rare)", "/api/traces?model=rare-model-x"),
            ("13. ui filter tag + errors", "/api/traces?tag=team%3Dbeta&status=error"),
            ("13. ui filter text (FTS5)", "/api/traces?q=whiskey+tango"),
            ("13. ui sort by cost", "/api/traces?sort=cost"),
        ]
        for name, q in queries:
            ms, j = timed(sess, base + q, ROUNDS)
            if not j["traces"]:
                die("%s: no traces" % q)
            row(name, "-", "%.1f ms" % ms, "-", "<= 200 ms", "ok" if ms <= 200 else "MISSED", cmd)
        # deep keyset paging: page 200 of 50, the last request timed
        cursor, pages = None, 200 if not QUICK else 20
        for _ in range(pages):
            r = sess.get(base + "/api/traces" + ("?cursor=" + cursor if cursor else "")).json()
            cursor = r["next_cursor"]
        ms, _ = timed(sess, base + "/api/traces?cursor=" + cursor, ROUNDS)
        row("13. ui page %d (keyset)" % (pages + 1), "-", "%.1f ms" % ms, "-", "<= 200 ms",
            "ok" if ms <= 200 else "MISSED", cmd)
        ms, j = timed(sess, base + "/api/traces/" + big, ROUNDS)
        if len(j["spans"]) != 1001:
            die("big trace: %d spans" % len(j["spans"]))
        row("13. ui 1,000-span trace API", "-", "%.1f ms" % ms, "-", "info", "info", cmd)
        ms, _ = timed(sess, base + "/api/cost?by=model", max(ROUNDS // 2, 1))
        row("13. ui cost page API (1M spans)", "-", "%.0f ms" % ms, "-", "<= 200 ms",
            "ok" if ms <= 200 else "MISSED", cmd)
        row("13. ui index build (first start)", "-", "%.1f s" % build_s, "-", "info", "info", cmd)
        node, chromium = shutil.which("node"), shutil.which("chromium")
        if node and chromium and os.path.isdir(os.path.join(ROOT, "tests", "ui", "node_modules")):
            r = subprocess.run([node, RENDER_JS, url, big, str(ROUNDS)], capture_output=True,
                               text=True, timeout=600, cwd=os.path.join(ROOT, "tests", "ui"))
            if r.returncode != 0:
                die("render: " + r.stderr[-2000:])
            res = json.loads(r.stdout.strip().splitlines()[-1])
            ms = median(res["ms"])
            row("13. ui 1,000-span trace rendered (chromium)", "-", "%.0f ms" % ms, "-", "<= 1 s",
                "ok" if ms <= 1000 else "MISSED", cmd)
        else:
            log("ui: chromium/node/puppeteer-core missing, render not measured")
    finally:
        p.terminate()
        p.wait(30)
        if os.environ.get("KEEP"):
            log("ui: kept " + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


main()
