"""Issue #15: `tokentap ui` serves the traces to a browser. Real traced
runs (Python clients and curl against the mock) fill a store; the server
is started as a user would, and its API is checked against what `tokentap
export` says the store holds; then Debian's chromium, driven by
puppeteer-core (tests/ui/browser.mjs), uses the page: filter, open a trace,
expand a call, a span appearing live, a hostile prompt, no token."""
import json
import os
import shutil
import stat
import subprocess
import threading
import time
import unittest

import requests

from harness import CLIENTS, PY, ROOT, SLOW, TOKENTAP, TOKENTAPD, TapTest, san_wrap

OUT_DIR = os.path.join(ROOT, "tests", "out")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NODE = shutil.which("node")
BROWSER_JS = os.path.join(ROOT, "tests", "ui", "browser.mjs")
PUPPETEER = os.path.join(ROOT, "tests", "ui", "node_modules", "puppeteer-core")
# A prompt that would run code if the page put it into markup anywhere.
EVIL = ("</script><img src=x onerror=\"window.__pwned=1\"><script>window.__pwned=2"
        "</script><b id=evil>zanzibar&amp;")
UNKNOWN_MODEL = "acme-llm-unpriced-1"


class UiTest(TapTest):

    # ---------------------------------------------------------- fixtures
    def traced(self, opts, argv, **extra):
        """`tokentap run OPTS -- ARGV`; returns the new trace's id."""
        env = self.env(**extra)
        before = {s["trace_id"] for s in self.spans(env, kinds=None)}
        p = subprocess.run([TOKENTAP, "run"] + opts + ["--"] + san_wrap(argv), env=env,
                           capture_output=True, text=True, timeout=120 * SLOW,
                           stdin=subprocess.DEVNULL)
        new = {s["trace_id"] for s in self.spans(env, kinds=None)} - before
        self.assertEqual(len(new), 1, p.stderr)
        return new.pop()

    def curl_call(self, model, prompt):
        body = os.path.join(self.home, "body-%s.json" % model)
        with open(body, "w") as fh:
            json.dump({"model": model, "messages": [{"role": "user", "content": prompt}]}, fh)
        return ["curl", "-sS", "--cacert", self.m.cert, self.m.base + "/v1/chat/completions",
                "-H", "content-type: application/json", "-H", "authorization: Bearer sk-x",
                "--data-binary", "@" + body, "-o", "/dev/null"]

    def make_store(self):
        cli = [PY, os.path.join(CLIENTS, "llm_call.py")]
        t = {}
        t["a"] = self.traced(["--session", "s1", "--tag", "team=search"],
                             cli + ["--api", "openai", "--tools", "--n", "2"])
        t["b"] = self.traced(["--tag", "team=ops"], cli + ["--api", "anthropic", "--stream"])
        t["err"] = self.traced([], cli + ["--api", "openai", "--header", "x-mock-status: 429"])
        t["evil"] = self.traced(["--tag", "team==1+2"], self.curl_call(UNKNOWN_MODEL, EVIL))
        self.ids = t
        self.every = self.spans(kinds=None)
        return t

    def start_ui(self, *extra):
        url_file = os.path.join(self.home, "ui.url")
        env = self.env()
        p = subprocess.Popen([TOKENTAP, "ui", "--port", "0", "--url-file", url_file] + list(extra),
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        self.addCleanup(self.stop_ui, p)
        deadline = time.time() + 30 * SLOW
        while time.time() < deadline and not (os.path.exists(url_file) and
                                              open(url_file).read().endswith("\n")):
            self.assertIsNone(p.poll(), p.stderr.read() if p.poll() is not None else "")
            time.sleep(0.05)
        self.url = open(url_file).read().strip()
        self.assertEqual(stat.S_IMODE(os.stat(url_file).st_mode), 0o600)
        self.base, _, tok = self.url.partition("/?token=")
        self.token = tok
        self.assertRegex(self.base, r"^http://127\.0\.0\.1:\d+$")
        self.assertRegex(self.token, r"^[0-9a-f]{32}$")
        self.proc = p
        return p

    def stop_ui(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.assertEqual(p.returncode, 0, p.stderr.read())

    def get(self, path, auth=True, **kw):
        h = kw.pop("headers", {})
        if auth:
            h["Authorization"] = "Bearer " + self.token
        t0 = time.time()
        r = requests.get(self.base + path, headers=h, timeout=30 * SLOW,
                         allow_redirects=False, **kw)
        if os.environ.get("UI_DEBUG"):
            print("%.3f %s" % (time.time() - t0, path), flush=True)
        return r

    def ok(self, path):
        r = self.get(path)
        self.assertEqual(r.status_code, 200, (path, r.text[:500]))
        self.assertTrue(r.headers["Content-Type"].startswith("application/json"))
        return r.json()

    def bad(self, path, code, words):
        r = self.get(path)
        self.assertEqual(r.status_code, code, (path, r.text[:500]))
        j = r.json()
        self.assertEqual(j["status"], code)
        self.assertIn(words, j["error"], path)
        return j

    def llm(self, trace=None):
        return [s for s in self.every if s["kind"] == "llm" and
                (trace is None or s["trace_id"] == trace)]

    # -------------------------------------------------------------- API
    def test_api(self):
        t = self.make_store()
        self.start_ui()
        idx = self.db + ".ui-index"
        self.assertEqual(stat.S_IMODE(os.stat(idx).st_mode), 0o600)

        # The list: every trace, newest first, sums as the store's.
        j = self.ok("/api/traces")
        self.assertEqual(j["store"], "sqlite")
        self.assertIsNone(j["next_cursor"])
        ids = [r["trace_id"] for r in j["traces"]]
        self.assertEqual(sorted(ids), sorted(t.values()))
        starts = [r["start_time"] for r in j["traces"]]
        self.assertEqual(starts, sorted(starts, reverse=True))
        rows = {r["trace_id"]: r for r in j["traces"]}
        for key in ("trace_id", "short_id", "start_time", "end_time", "duration_ms",
                    "command", "session_id", "calls", "input_tokens", "output_tokens",
                    "tokens", "cost_usd", "cost_unknown_calls", "errors", "spans",
                    "tool_spans", "models", "providers", "processes", "tags",
                    "exit_code", "status"):
            self.assertIn(key, rows[t["a"]])
        for tid in t.values():
            calls = self.llm(tid)
            r = rows[tid]
            self.assertEqual(r["calls"], len(calls))
            self.assertEqual(r["input_tokens"], sum(s["input_tokens"] for s in calls))
            self.assertEqual(r["output_tokens"], sum(s["output_tokens"] for s in calls))
            self.assertAlmostEqual(r["cost_usd"], sum(s["cost_usd"] for s in calls
                                                      if s["cost_known"]), places=12)
            self.assertEqual(r["spans"], len([s for s in self.every if s["trace_id"] == tid]))
        self.assertEqual(rows[t["a"]]["session_id"], "s1")
        self.assertEqual(rows[t["a"]]["tags"], ["team=search"])
        self.assertEqual(rows[t["a"]]["models"], ["gpt-4o-mini"])
        self.assertEqual(rows[t["b"]]["providers"], ["anthropic"])
        self.assertEqual(rows[t["err"]]["status"], "error")
        self.assertEqual(rows[t["evil"]]["cost_unknown_calls"], 1)
        self.assertIn("python3", rows[t["a"]]["command"])

        # Keyset paging: one at a time, every sort, both orders, visits
        # each trace once, in the order of the whole list.
        for sort in ("start", "cost", "tokens", "duration", "calls"):
            for order in ("desc", "asc"):
                full = [r["trace_id"] for r in
                        self.ok("/api/traces?sort=%s&order=%s" % (sort, order))["traces"]]
                seen, cursor = [], None
                while True:
                    q = "/api/traces?limit=1&sort=%s&order=%s" % (sort, order)
                    if cursor:
                        q += "&cursor=" + requests.utils.quote(cursor)
                    page = self.ok(q)
                    seen += [r["trace_id"] for r in page["traces"]]
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
                    self.assertEqual(page["count"], 1)
                self.assertEqual(seen, full, (sort, order))
                self.assertEqual(len(set(seen)), 4)
        costs = [r["cost_usd"] for r in self.ok("/api/traces?sort=cost")["traces"]]
        self.assertEqual(costs, sorted(costs, reverse=True))

        # Filters.
        def only(q):
            return sorted(r["trace_id"] for r in self.ok("/api/traces?" + q)["traces"])
        self.assertEqual(only("model=claude-sonnet-4-5"), [t["b"]])
        self.assertEqual(only("provider=anthropic"), [t["b"]])
        self.assertEqual(only("session=s1"), [t["a"]])
        self.assertEqual(only("tag=team%3Dsearch"), [t["a"]])
        self.assertEqual(only("tag=team"), sorted([t["a"], t["b"], t["evil"]]))
        self.assertEqual(only("status=error"), [t["err"]])
        self.assertEqual(only("status=ok"), sorted([t["a"], t["b"], t["evil"]]))
        self.assertEqual(only("process=python3"), sorted([t["a"], t["b"], t["err"]]))
        self.assertEqual(only("model=" + UNKNOWN_MODEL), [t["evil"]])
        self.assertEqual(only("model=no-such-model"), [])
        # full text: a word of the hostile prompt, and of the mock's answer
        self.assertEqual(only("q=zanzibar"), [t["evil"]])
        self.assertEqual(only("q=%22%29%28*"), [])         # FTS syntax is just text
        answered = sorted({s["trace_id"] for s in self.llm() if s["output"]})
        self.assertEqual(only("q=mock"), answered)
        first = min(s["start_time"] for s in self.every if s["trace_id"] == t["b"])
        self.assertEqual(only("from=%d" % first), sorted([t["b"], t["err"], t["evil"]]))
        self.assertEqual(only("to=%d&model=gpt-4o-mini" % first), [t["a"]])
        self.assertEqual(only("from=1h&tag=team%3Dops"), [t["b"]])

        # A trace: the spans export prints, plus the price row of each call.
        tr = self.ok("/api/traces/" + t["a"])
        mine = {s["span_id"]: s for s in self.every if s["trace_id"] == t["a"]}
        got = {s["span_id"]: s for s in tr["spans"]}
        self.assertEqual(set(got), set(mine))
        for sid, s in got.items():
            price = s.pop("price", "absent")
            self.assertEqual(s, mine[sid])
            if s["kind"] == "llm":
                self.assertEqual(price["model"], "gpt-4o-mini")
                self.assertAlmostEqual(price["input"], 0.15)
                self.assertAlmostEqual(price["output"], 0.60)
        self.assertEqual(tr["totals"]["calls"], 2)
        self.assertEqual(tr["run"]["exit_code"], 0)
        # an id prefix, a span id
        self.assertEqual(self.ok("/api/traces/" + t["a"][:10])["trace_id"], t["a"])
        call = self.llm(t["b"])[0]
        self.assertEqual(self.ok("/api/traces/" + call["span_id"])["trace_id"], t["b"])
        sp = self.ok("/api/spans/" + call["span_id"])
        self.assertEqual(sp.pop("price")["model"], "claude-sonnet-4-5")
        self.assertEqual(sp, call)
        evil = self.ok("/api/spans/" + self.llm(t["evil"])[0]["span_id"])
        self.assertIsNone(evil["price"])
        self.assertEqual(evil["input"][0]["content"], EVIL)

        # Not found, bad parameters (400 with a reason), refusals.
        self.bad("/api/traces/" + "f" * 32, 404, "no trace or span")
        self.bad("/api/spans/" + "f" * 16, 404, "no span")
        self.bad("/api/nothing", 404, "no such endpoint")
        self.bad("/nothing.js", 404, "no such page")
        self.bad("/api/traces/xyz", 400, "not a trace or span id")
        self.bad("/api/spans/123", 400, "not a span id")
        self.bad("/api/traces?limit=0", 400, "'limit'")
        self.bad("/api/traces?limit=abc", 400, "'limit'")
        self.bad("/api/traces?limit=501", 400, "'limit'")
        self.bad("/api/traces?sort=colour", 400, "'sort'")
        self.bad("/api/traces?order=up", 400, "'order'")
        self.bad("/api/traces?status=maybe", 400, "'status'")
        self.bad("/api/traces?from=yesterday", 400, "'from'")
        self.bad("/api/traces?to=soon", 400, "'to'")
        self.bad("/api/traces?cursor=abc", 400, "'cursor'")
        self.bad("/api/traces?cursor=1_zz", 400, "'cursor'")
        self.bad("/api/traces?colour=red", 400, "unknown parameter 'colour'")
        self.bad("/api/traces/" + t["a"] + "?x=1", 400, "unknown parameter 'x'")
        self.bad("/api/cost?by=colour", 400, "'by'")
        self.bad("/api/cost?bucket=week", 400, "'bucket'")
        self.bad("/api/cost?from=never", 400, "'from'")
        r = self.get("/api/traces", auth=False)
        self.assertEqual(r.status_code, 401)
        self.assertIn("token required", r.json()["error"])
        r = self.get("/api/traces", auth=False, headers={"Authorization": "Bearer " + "0" * 32})
        self.assertEqual(r.status_code, 403)
        r = self.get("/api/traces?token=" + "0" * 32, auth=False)
        self.assertEqual(r.status_code, 403)
        r = self.get("/", auth=False)
        self.assertEqual(r.status_code, 401)
        self.assertNotIn(self.token, r.text)
        r = requests.post(self.base + "/api/traces", data="x",
                          headers={"Authorization": "Bearer " + self.token})
        self.assertEqual(r.status_code, 405)
        port = self.base.rsplit(":", 1)[1]
        r = self.get("/api/traces", headers={"Host": "evil.example:" + port})
        self.assertEqual(r.status_code, 421)
        r = self.get("/api/traces", headers={"Host": "localhost:" + port})
        self.assertEqual(r.status_code, 200)

        # Headers on every answer: CSP, no CORS even when asked.
        for path in ("/", "/app.js", "/report.js", "/api/traces", "/api/nothing"):
            r = self.get(path, headers={"Origin": "http://evil.example"})
            csp = r.headers.get("Content-Security-Policy", "")
            self.assertIn("default-src 'none'", csp, path)
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertIn("frame-ancestors 'none'", csp)
            self.assertEqual(r.headers.get("X-Content-Type-Options"), "nosniff")
            self.assertFalse([h for h in r.headers if h.lower().startswith("access-control-")])
        # The page has no inline script and nothing from elsewhere.
        page = self.get("/").text
        self.assertNotRegex(page, r"<script(?![^>]*\bsrc=\"/)")
        self.assertNotRegex(page, r"""(src|href)\s*=\s*["']?(https?:)?//""")

        # The printed URL: the token moves into a cookie (HttpOnly,
        # SameSite=Strict), and the cookie alone is enough after that.
        s = requests.Session()
        r = s.get(self.url, allow_redirects=False)
        self.assertEqual(r.status_code, 303)
        self.assertEqual(r.headers["Location"], "/")
        cookie = r.headers["Set-Cookie"]
        self.assertIn("HttpOnly", cookie)
        self.assertIn("SameSite=Strict", cookie)
        self.assertEqual(s.get(self.base + "/api/status").status_code, 200)

        # Cost: by model, as the store sums it; unknown prices called out.
        c = self.ok("/api/cost?by=model")
        groups = {g["key"]: g for g in c["groups"]}
        for m in ("gpt-4o-mini", "claude-sonnet-4-5", UNKNOWN_MODEL):
            calls = [s for s in self.llm() if (s["response_model"] or s["request_model"]) == m]
            self.assertEqual(groups[m]["calls"], len(calls), m)
            self.assertAlmostEqual(groups[m]["cost_usd"],
                                   sum(s["cost_usd"] for s in calls if s["cost_known"]), places=12)
        self.assertEqual([u["model"] for u in c["unknown_cost"]],
                         sorted({(s["response_model"] or s["request_model"])
                                 for s in self.llm() if not s["cost_known"]},
                                key=lambda m: m != UNKNOWN_MODEL))
        self.assertAlmostEqual(c["total"]["cost_usd"],
                               sum(s["cost_usd"] for s in self.llm() if s["cost_known"]), places=12)
        self.assertEqual(sum(p["calls"] for p in c["series"]), len(self.llm()))
        self.assertEqual(c["top_traces"][0]["trace_id"],
                         max(rows.values(), key=lambda r: r["cost_usd"])["trace_id"])
        self.assertEqual(len(self.ok("/api/cost?by=provider&bucket=hour")["series"]) > 0, True)
        # CSV: a row per group; a tag value that looks like a formula is text.
        r = self.get("/api/cost.csv?by=tag:team")
        self.assertEqual(r.status_code, 200)
        self.assertTrue(r.headers["Content-Type"].startswith("text/csv"))
        lines = r.text.split("\r\n")
        self.assertTrue(lines[0].startswith("tag:team,calls,input_tokens"))
        keys = sorted(line.split(",")[0] for line in lines[1:] if line)
        self.assertIn("'=1+2", keys)
        self.assertIn("search", keys)

        # Every grouping as `tokentap cost` gives it: same keys in the same
        # order, same counts, the same cost (summed in another order: to
        # the 12th decimal). The page reads totals kept in the index.
        for by in ("model", "provider", "process", "session", "day", "hostname", "tag:team"):
            cli = subprocess.run([TOKENTAP, "cost", "--db", self.db, "--by", by, "--json"],
                                 env=self.env(), capture_output=True, text=True, timeout=60)
            self.assertEqual(cli.returncode, 0, cli.stderr)
            want = json.loads(cli.stdout)
            got = self.ok("/api/cost?by=" + by)
            self.assertEqual([g["key"] for g in got["groups"]],
                             [g[by] for g in want["groups"]], by)
            for g, w in zip(got["groups"], want["groups"]):
                for f in ("calls", "input_tokens", "output_tokens", "cache_read_tokens",
                          "cache_write_tokens", "reasoning_tokens", "cost_unknown_calls",
                          "errors"):
                    self.assertEqual(g[f], w[f], (by, g["key"], f))
                self.assertAlmostEqual(g["cost_usd"], w["cost_usd"], places=12)
            self.assertEqual(got["unknown_cost"], want["unknown_cost"], by)
        # A window: whole 15-minute buckets from the index's totals, the
        # partial ones at either end from the store's spans.
        starts = sorted(s["start_time"] for s in self.llm())
        q = 900 * 10**9
        for lo, hi in ((starts[0] - 3 * q - 12345, starts[-1] + 2 * q + 678),
                       (starts[1], starts[-1] - 1), (starts[0] // q * q, starts[0] // q * q + q - 1)):
            sel = [s for s in self.llm() if lo <= s["start_time"] <= hi]
            got = self.ok("/api/cost?by=model&from=%d&to=%d" % (lo, hi))
            self.assertEqual(got["total"]["calls"], len(sel), (lo, hi))
            self.assertEqual(got["total"]["input_tokens"], sum(s["input_tokens"] for s in sel))
            self.assertAlmostEqual(got["total"]["cost_usd"],
                                   sum(s["cost_usd"] for s in sel if s["cost_known"]), places=12)
            self.assertEqual(sum(p["calls"] for p in got["series"]), len(sel))

        st = self.ok("/api/status")
        self.assertEqual(st["traces"], 4)
        self.assertGreater(st["fts_documents"], 0)
        facets = self.ok("/api/facets")
        self.assertIn("claude-sonnet-4-5", facets["model"])
        self.assertIn("team=search", facets["tag"])
        self.assertIn("s1", facets["session"])

        # Live: an event names the trace of a span stored while listening.
        got = []

        def listen():
            with requests.get(self.base + "/api/events", stream=True, timeout=30 * SLOW,
                              headers={"Authorization": "Bearer " + self.token}) as ev:
                for line in ev.iter_lines(decode_unicode=True):
                    if line.startswith("data:"):
                        got.append(json.loads(line[5:]))
                        return
        th = threading.Thread(target=listen, daemon=True)
        th.start()
        time.sleep(0.5)
        new = self.traced(["--session", "live"],
                          [PY, os.path.join(CLIENTS, "llm_call.py"), "--api", "openai"])
        th.join(30 * SLOW)
        self.assertTrue(got, "no event")
        self.assertIn(new, got[0]["traces"])
        self.assertIn(new, [r["trace_id"] for r in self.ok("/api/traces?session=live")["traces"]])

    # ----------------------------------------------------------- daemon
    def test_daemon_serves_ui(self):
        """TOKENTAP_UI=ADDR:PORT: tokentapd serves the UI on its store,
        the URL with its token in <home>/ui.url (0600), not in its log."""
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        log = os.path.join(self.home, "daemon.log")
        env = self.env(TOKENTAP_UI="127.0.0.1:%d" % port)
        # the store exists before the daemon starts serving it
        first = self.traced([], [PY, os.path.join(CLIENTS, "llm_call.py"), "--api", "openai"])
        with open(log, "w") as fh:
            d = subprocess.Popen([TOKENTAPD, "--foreground", "--socket",
                                  os.path.join(self.home, "ui-test.sock")], env=env,
                                 stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            url_file = os.path.join(self.home, "ui.url")
            deadline = time.time() + 20 * SLOW
            while time.time() < deadline and not os.path.exists(url_file):
                self.assertIsNone(d.poll(), open(log).read())
                time.sleep(0.05)
            self.assertEqual(stat.S_IMODE(os.stat(url_file).st_mode), 0o600)
            url = open(url_file).read().strip()
            self.assertTrue(url.startswith("http://127.0.0.1:%d/?token=" % port), url)
            token = url.split("token=")[1]
            r = requests.get("http://127.0.0.1:%d/api/traces" % port,
                             headers={"Authorization": "Bearer " + token}, timeout=30)
            self.assertEqual(r.status_code, 200, r.text)
            self.assertEqual([t["trace_id"] for t in r.json()["traces"]], [first])
            self.assertEqual(requests.get("http://127.0.0.1:%d/api/traces" % port,
                                          timeout=30).status_code, 401)
        finally:
            d.terminate()
            d.wait(20)
        text = open(log).read()
        self.assertIn("ui on http://127.0.0.1:%d/" % port, text)
        self.assertNotIn(token, text)

    # ---------------------------------------------------------- browser
    @unittest.skipUnless(CHROMIUM and NODE and os.path.isdir(PUPPETEER),
                         "chromium, node or puppeteer-core missing (tools/install-deps.sh)")
    def test_browser(self):
        t = self.make_store()
        self.start_ui()
        os.makedirs(OUT_DIR, exist_ok=True)
        env = self.env()
        cfg = {
            "url": self.url, "base": self.base, "out": OUT_DIR, "chromium": CHROMIUM,
            "model": "claude-sonnet-4-5", "evil_trace": t["evil"],
            "live_cmd": [TOKENTAP, "run", "--session", "live", "--",
                         PY, os.path.join(CLIENTS, "llm_call.py"), "--api", "anthropic"],
            "live_env": {k: v for k, v in env.items() if k.startswith(("TOKENTAP_", "MOCK_", "SSL_", "REQUESTS_"))},
        }
        cfg_path = os.path.join(self.home, "browser.json")
        with open(cfg_path, "w") as fh:
            json.dump(cfg, fh)
        p = subprocess.run([NODE, BROWSER_JS, cfg_path], capture_output=True, text=True,
                           timeout=240 * SLOW, cwd=os.path.dirname(BROWSER_JS))
        self.assertEqual(p.returncode, 0, p.stderr[-3000:])
        o = json.loads(p.stdout.strip().splitlines()[-1])
        self.assertNotIn("failed", o, o.get("failed"))
        self.assertEqual(o["errors"], [])

        # No token: refused, page and API.
        self.assertEqual(o["no_token_status"], 401)
        self.assertIn("access token required", o["no_token_text"])
        self.assertEqual(o["no_token_api_status"], 401)
        self.assertEqual(o["bad_token_status"], 403)
        # The printed URL: the token left the address bar.
        self.assertEqual(o["url_after_open"], self.base + "/")
        self.assertNotIn("unsafe-inline", o["csp"])

        # The list: every trace, newest first.
        starts = {tid: min(s["start_time"] for s in self.every if s["trace_id"] == tid)
                  for tid in t.values()}
        self.assertEqual([r["trace"] for r in o["rows"]],
                         sorted(t.values(), key=lambda x: -starts[x]))
        row_a = [r for r in o["rows"] if r["trace"] == t["a"]][0]
        self.assertEqual(row_a["cells"][2], "s1")
        self.assertEqual(row_a["cells"][3], "team=search")
        self.assertEqual(row_a["cells"][4], "2")
        # Filtered by model.
        self.assertEqual(o["filter_hash"], "#/?model=claude-sonnet-4-5")
        self.assertEqual([r["trace"] for r in o["filtered_rows"]], [t["b"]])
        # The trace: its stat strip, tree and timeline; the call as a chat.
        self.assertEqual(o["trace_hash"], "#/trace/" + t["b"])
        stats = dict(o["stats"])
        call = self.llm(t["b"])[0]
        self.assertEqual(stats["calls"], "1")
        self.assertEqual(stats["tokens-in"], str(call["input_tokens"]))
        self.assertEqual(o["tree_nodes"], 1 + len([s for s in self.every if s["trace_id"] == t["b"]]))
        self.assertGreaterEqual(o["timeline_bars"], 1)
        self.assertEqual(o["call"]["span"], call["span_id"])
        chat = o["call"]["chat"]
        # every message of the request, in order, then the answer
        want = [(m["role"], m["content"]) for m in call["input"]]
        self.assertEqual([(m["role"], m["text"]) for m in chat[:-1]], want)
        self.assertTrue(chat[-1]["answer"])
        self.assertIn("Hello from the mock", chat[-1]["text"])
        self.assertIn("claude-sonnet-4-5", o["call"]["price"])
        self.assertGreaterEqual(o["conversation_msgs"], 2)
        # The hostile prompt: shown as text, nothing ran, nothing parsed.
        self.assertIsNone(o["evil"]["pwned"])
        self.assertEqual(o["evil"]["imgs"], 0)
        self.assertEqual(o["evil"]["scripts"], 0)
        self.assertFalse(o["evil"]["evil_el"])
        self.assertEqual(o["evil"]["title"], "tokentap")
        self.assertIn(EVIL, o["evil"]["texts"])
        # Live: the new trace appeared in the open page, without a reload.
        self.assertEqual(o["live_cmd_rc"], 0, o["live_cmd_stderr"])
        self.assertEqual(o["live"]["marker"], "kept")
        new = [s["trace_id"] for s in self.spans(env) if s["session_id"] == "live"]
        self.assertEqual(o["live"]["new_rows"], new[:1])
        print("\n  live: the new trace appeared %d ms after its command ended"
              % o["live"]["appeared_after_cmd_ms"])
        # Cost: a row per model, the chart, the unknown price, the CSV.
        keys = sorted(r[0] for r in o["cost_groups"])
        self.assertEqual(keys, sorted({s["response_model"] or s["request_model"]
                                       for s in self.spans(env)}))
        # a bar segment per priced model and day (the unpriced one costs 0)
        priced = {(s["response_model"] or s["request_model"]) for s in self.spans(env)
                  if s["cost_known"] and s["cost_usd"] > 0}
        self.assertGreaterEqual(o["cost_bars"], len(priced))
        self.assertEqual(len(priced), 2)
        self.assertIn(UNKNOWN_MODEL, o["unknown_note"])
        self.assertTrue(o["csv"].startswith("model,calls,"))
        self.assertIn(UNKNOWN_MODEL, o["csv"])
        for name in ("ui-traces.png", "ui-trace.png", "ui-cost.png"):
            self.assertGreater(os.path.getsize(os.path.join(OUT_DIR, name)), 10000, name)


if __name__ == "__main__":
    unittest.main()
