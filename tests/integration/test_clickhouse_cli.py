"""`tokentap cost` and `tokentap ls` on a ClickHouse store (--store
clickhouse://..., $TOKENTAP_STORE): hand-written spans of three traces from
two hosts, one span written twice (a retried batch, left unmerged), checked
against totals computed here, and against the same spans in a SQLite store,
whose output must be the same byte for byte (but for --by hostname, which
SQLite answers with this host's name)."""
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

from chserver import ClickHouse
from harness import PRICE, TOKENTAPD, TapTest

CH = None
TWIN_DIR = None
TWIN = None          # the SQLite store holding the same spans

NS = 10 ** 9
NOW = time.time_ns()
T1, T2, T3 = "a1" * 16, "b2" * 16, "c3" * 16


def price(model, inp, out, cr=0, cw=0):
    p = PRICE.get(model)
    if p is None:
        return 0.0
    return ((inp - cr - cw) * p["inp"] + cr * p.get("cr", p["inp"]) +
            cw * p.get("cw", p["inp"]) + out * p["out"]) / 1e6


def span(trace, sid, kind, start, host, **kw):
    s = dict(trace_id=trace, span_id=sid, kind=kind, start_time=start,
             end_time=start + NS, status="ok", host_name=host,
             service_name="tokentap", version=1)
    s.update(kw)
    return s


def llm(trace, sid, start, host, model, provider, inp, out, cr=0, cw=0, **kw):
    s = span(trace, sid, "llm", start, host, name="chat " + model, provider=provider,
             operation="chat", request_model=model, response_model=model,
             input_tokens=inp, output_tokens=out, cache_read_tokens=cr,
             cache_write_tokens=cw, usage_known=1, cost_known=1,
             cost_usd=price(model, inp, out, cr, cw))
    s.update(kw)
    return s


# T1 (host-a, 2 h ago): `tokentap run python3 agent.py --n 2`, two calls;
# T2 (host-b, 1 h ago): no run span (a process traced without `run`), one
# priced call and one failed call of an unknown model; T3 (host-a, 8 days
# ago): a run that exited 2, one call.
S1 = NOW - 2 * 3600 * NS
S2 = NOW - 3600 * NS
S3 = NOW - 8 * 86400 * NS
PY = dict(exe="/usr/bin/python3", pid=101, session_id="s-alpha", tags='{"team":"infra"}')
NODE = dict(exe="/usr/bin/node", pid=200, session_id="s-beta", tags='{"team":"web"}')
SPANS = [
    span(T1, "1000000000000001", "process", S1, "host-a", name="run python3 agent.py --n 2",
         end_time=S1 + 60 * NS, exe="/usr/local/bin/tokentap", pid=100, session_id="s-alpha"),
    span(T1, "1000000000000002", "process", S1 + NS, "host-a", name="process python3 agent.py",
         parent_id="1000000000000001", **PY),
    llm(T1, "1000000000000003", S1 + 2 * NS, "host-a", "gpt-4o-mini", "openai", 1000, 100,
        cr=200, parent_id="1000000000000002", **PY),
    llm(T1, "1000000000000004", S1 + 5 * NS, "host-a", "gpt-4o-mini", "openai", 2000, 300,
        reasoning_tokens=50, parent_id="1000000000000002", **PY),
    span(T1, "1000000000000005", "tool", S1 + 6 * NS, "host-a", name="tool search",
         parent_id="1000000000000004", **PY),
    span(T2, "2000000000000001", "process", S2, "host-b", name="process node", **NODE),
    llm(T2, "2000000000000002", S2 + NS, "host-b", "claude-sonnet-4-5", "anthropic", 500, 50,
        cw=100, parent_id="2000000000000001", **NODE),
    llm(T2, "2000000000000003", S2 + 10 * NS, "host-b", "mystery-model-9", "openai", 0, 0,
        response_model="", usage_known=0, cost_known=0, cost_usd=0.0, status="error",
        error="HTTP 500: upstream\tfailed", parent_id="2000000000000001", **NODE),
    span(T3, "3000000000000001", "process", S3, "host-a", name="run ./flaky.sh",
         status="error", error="exit status 2", exe="/usr/local/bin/tokentap", pid=300),
    llm(T3, "3000000000000002", S3 + NS, "host-a", "gpt-4o-mini", "openai", 100, 10,
        parent_id="3000000000000001", exe="/bin/sh", pid=301),
]
# The retry: the second LLM call of T1 once more, a later version.
RETRY = dict(SPANS[3], version=2)
# What `tokentap run` wrote in the SQLite store's runs table.
RUNS = [(T1, "python3 agent.py --n 2", S1, S1 + 60 * NS, 0, 100),
        (T3, "./flaky.sh", S3, S3 + NS, 2, 300)]
CALLS = [s for s in SPANS if s["kind"] == "llm"]
NOT_TWIN = ("host_name", "service_name", "version")


def make_twin(path, home):
    """A SQLite store (made by tokentapd) holding SPANS and RUNS; absent
    values NULL, as the daemon stores them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENTAP_")}
    env["TOKENTAP_HOME"] = home
    subprocess.run([TOKENTAPD, "--ingest-spool", "--db", path, "--spool",
                    os.path.join(home, "spool")], env=env, check=True, timeout=60,
                   stdin=subprocess.DEVNULL)
    db = sqlite3.connect(path)
    for s in SPANS:
        cols = [k for k, v in s.items() if k not in NOT_TWIN and v != ""]
        db.execute("INSERT INTO spans(%s) VALUES(%s)" % (",".join(cols), ",".join("?" * len(cols))),
                   [s[k] for k in cols])
    db.executemany("INSERT INTO runs(trace_id,command,start_time,end_time,exit_code,pid)"
                   " VALUES(?,?,?,?,?,?)", RUNS)
    db.commit()
    db.close()


def setUpModule():
    global CH, TWIN_DIR, TWIN
    CH = ClickHouse()
    try:
        CH.create_table()
        # The retry must stay a second row, as it is until ClickHouse merges
        # the parts (which it may never do): only FINAL hides it.
        CH.query("SYSTEM STOP MERGES tokentap.spans")
        CH.insert_rows(SPANS)
        CH.insert_rows([RETRY])
        TWIN_DIR = tempfile.mkdtemp(prefix="tt-chtwin-")
        TWIN = os.path.join(TWIN_DIR, "traces.db")
        make_twin(TWIN, TWIN_DIR)
    except BaseException:
        CH.stop()
        raise


def tearDownModule():
    if CH:
        CH.stop()
    if TWIN_DIR:
        shutil.rmtree(TWIN_DIR, ignore_errors=True)


def rounded(o):
    """o with floats rounded: SQLite and ClickHouse may sum them in another
    order."""
    if isinstance(o, float):
        return round(o, 12)
    if isinstance(o, dict):
        return {k: rounded(v) for k, v in o.items()}
    if isinstance(o, list):
        return [rounded(v) for v in o]
    return o


class ClickHouseCli(TapTest):
    def url(self):
        return CH.url()

    def ch(self, *args, **kw):
        return self.tokentap(*args, "--store", self.url(), **kw)

    def sq(self, *args, **kw):
        return self.tokentap(*args, "--db", TWIN, **kw)

    def test_retry_is_a_second_row(self):
        """The store really holds the duplicate: a reader without FINAL
        would count it."""
        self.assertEqual(int(CH.query("SELECT count() FROM tokentap.spans")), len(SPANS) + 1)
        self.assertEqual(int(CH.query("SELECT count() FROM tokentap.spans FINAL")), len(SPANS))

    def test_cost_totals(self):
        c = json.loads(self.ch("cost", "--json").stdout)
        t = c["total"]
        self.assertEqual(t["calls"], len(CALLS))             # the retry once
        self.assertEqual(t["input_tokens"], sum(s["input_tokens"] for s in CALLS))
        self.assertEqual(t["output_tokens"], sum(s["output_tokens"] for s in CALLS))
        self.assertEqual(t["cache_read_tokens"], 200)
        self.assertEqual(t["cache_write_tokens"], 100)
        self.assertEqual(t["reasoning_tokens"], 50)
        self.assertAlmostEqual(t["cost_usd"], sum(s["cost_usd"] for s in CALLS if s["cost_known"]),
                               places=12)
        self.assertEqual((t["cost_unknown_calls"], t["errors"]), (1, 1))
        g = {x["model"]: x for x in c["groups"]}
        self.assertEqual({k: v["calls"] for k, v in g.items()},
                         {"gpt-4o-mini": 3, "claude-sonnet-4-5": 1, "mystery-model-9": 1})
        self.assertAlmostEqual(g["gpt-4o-mini"]["cost_usd"],
                               price("gpt-4o-mini", 1000, 100, cr=200) +
                               price("gpt-4o-mini", 2000, 300) + price("gpt-4o-mini", 100, 10),
                               places=12)
        self.assertEqual([x["model"] for x in c["groups"]][0], "claude-sonnet-4-5")  # dearest
        self.assertEqual(c["unknown_cost"], [{"model": "mystery-model-9", "calls": 1, "no_usage": 1}])
        table = self.ch("cost").stdout
        self.assertRegex(table, r"\ntotal +5 +3600 +460 +200 +100 +50 +\$0\.\d{6}\+\?\n")
        self.assertIn("mystery-model-9", table)
        self.assertIn("1 call failed", table)

    def test_ui_on_clickhouse(self):
        """`tokentap ui --store clickhouse://`: the traces list (newest
        first, offset paging) and the cost page from ClickHouse, FINAL
        (the retry counted once); what it cannot serve says so."""
        import requests
        from harness import TOKENTAP
        url_file = os.path.join(self.home, "ui.url")
        p = subprocess.Popen([TOKENTAP, "ui", "--store", self.url(), "--url-file", url_file],
                             env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             stdin=subprocess.DEVNULL, text=True)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not os.path.exists(url_file):
                self.assertIsNone(p.poll())
                time.sleep(0.05)
            base, _, token = open(url_file).read().strip().partition("/?token=")
            h = {"Authorization": "Bearer " + token}
            get = lambda q: requests.get(base + q, headers=h, timeout=30)  # noqa: E731
            j = get("/api/traces").json()
            self.assertEqual(j["store"], "clickhouse")
            self.assertEqual([r["trace_id"] for r in j["traces"]], [T2, T1, T3])
            r1 = j["traces"][1]
            self.assertEqual((r1["command"], r1["calls"], r1["session_id"], r1["exit_code"]),
                             ("python3 agent.py --n 2", 2, "s-alpha", 0))
            seen, cursor = [], None
            while True:
                page = get("/api/traces?limit=1" + ("&cursor=" + cursor if cursor else "")).json()
                seen += [r["trace_id"] for r in page["traces"]]
                cursor = page["next_cursor"]
                if not cursor:
                    break
            self.assertEqual(seen, [T2, T1, T3])
            self.assertEqual([r["trace_id"] for r in
                              get("/api/traces?from=%d" % (S1 - NS)).json()["traces"]], [T2, T1])
            c = get("/api/cost?by=model").json()
            want = json.loads(self.ch("cost", "--json").stdout)
            self.assertEqual(rounded({g["key"]: g["cost_usd"] for g in c["groups"]}),
                             rounded({g["model"]: g["cost_usd"] for g in want["groups"]}))
            self.assertEqual(c["total"]["calls"], len(CALLS))
            self.assertEqual(c["unknown_cost"], want["unknown_cost"])
            csv = get("/api/cost.csv?by=model").text
            self.assertIn("mystery-model-9,1,", csv)
            r = get("/api/traces?model=gpt-4o-mini")
            self.assertEqual(r.status_code, 400)
            self.assertIn("not supported on a ClickHouse store", r.json()["error"])
            r = get("/api/traces/" + T1)
            self.assertEqual(r.status_code, 501)
            self.assertEqual(requests.get(base + "/api/traces", timeout=30).status_code, 401)
        finally:
            p.terminate()
            p.wait(20)

    def test_same_output_as_sqlite(self):
        """The same spans print the same, whichever store holds them."""
        for by in ("model", "provider", "process", "session", "day", "tag:team"):
            for fmt in ("table", "csv"):
                args = ("cost", "--by", by, "--format", fmt)
                self.assertEqual(self.ch(*args).stdout, self.sq(*args).stdout, args)
            args = ("cost", "--by", by, "--json")
            self.assertEqual(rounded(json.loads(self.ch(*args).stdout)),
                             rounded(json.loads(self.sq(*args).stdout)), args)
        for args in (("ls",), ("ls", "--limit", "2"), ("ls", "--since", "1d"),
                     ("cost", "--since", "1d"), ("cost", "--trace", T1[:6], "--by", "process")):
            a, b = self.ch(*args), self.sq(*args)
            self.assertEqual((a.stdout, a.stderr), (b.stdout, b.stderr), args)
        args = ("ls", "--json", "--limit", "0")
        self.assertEqual(rounded(json.loads(self.ch(*args).stdout)),
                         rounded(json.loads(self.sq(*args).stdout)))

    def test_ls(self):
        rows = json.loads(self.ch("ls", "--json").stdout)
        self.assertEqual([r["trace_id"] for r in rows], [T2, T1, T3])   # newest first
        r2, r1, r3 = rows
        self.assertEqual((r1["command"], r1["exit_code"], r1["calls"], r1["errors"],
                          r1["session_id"], r1["start_time"]),
                         ("python3 agent.py --n 2", 0, 2, 0, "s-alpha", S1))
        self.assertEqual(r1["tokens"], 1000 + 100 + 2000 + 300)
        self.assertEqual((r2["command"], r2["exit_code"], r2["calls"], r2["errors"],
                          r2["cost_unknown_calls"], r2["session_id"]),
                         ("/usr/bin/node", None, 2, 1, 1, "s-beta"))
        self.assertAlmostEqual(r2["cost_usd"], price("claude-sonnet-4-5", 500, 50, cw=100),
                               places=12)
        self.assertEqual((r3["command"], r3["exit_code"], r3["errors"], r3["session_id"]),
                         ("./flaky.sh", 2, 1, None))
        p = self.ch("ls", "--limit", "1")
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 2, p.stdout)
        self.assertTrue(lines[1].startswith(T2[:12]), p.stdout)
        self.assertIn("older traces not shown", p.stderr)
        text = self.ch("ls").stdout
        self.assertRegex(text, r"\n%s .* 2 +3000 +400 +\$0\.\d{6} +0 +0  s-alpha +python3 agent.py --n 2\n"
                         % T1[:12])

    def test_by_hostname(self):
        c = json.loads(self.ch("cost", "--by", "hostname", "--json").stdout)
        g = {x["hostname"]: x for x in c["groups"]}
        want = {}
        for s in CALLS:
            want[s["host_name"]] = want.get(s["host_name"], 0) + 1
        self.assertEqual({k: v["calls"] for k, v in g.items()}, want)
        self.assertEqual(want, {"host-a": 3, "host-b": 2})
        for h in want:
            self.assertAlmostEqual(g[h]["cost_usd"], sum(s["cost_usd"] for s in CALLS
                                                         if s["host_name"] == h and s["cost_known"]),
                                   places=12)
        self.assertIn("host-b", self.ch("cost", "--by", "hostname").stdout)
        # A SQLite store holds one host's spans: this one's.
        c = json.loads(self.sq("cost", "--by", "hostname", "--json").stdout)
        self.assertEqual([(x["hostname"], x["calls"]) for x in c["groups"]],
                         [(socket.gethostname(), len(CALLS))])

    def test_since_and_trace(self):
        c = json.loads(self.ch("cost", "--since", "1d", "--json").stdout)
        self.assertEqual(c["total"]["calls"], len(CALLS) - 1)      # not T3's
        self.assertIn("since", c)
        c = json.loads(self.ch("cost", "--since", "90m", "--json").stdout)
        self.assertEqual(c["total"]["calls"], 2)                    # T2's only
        self.assertEqual([r["trace_id"] for r in json.loads(self.ch("ls", "--json", "--since", "1d").stdout)],
                         [T2, T1])
        self.assertEqual(json.loads(self.ch("ls", "--json", "--since", "30m").stdout), [])
        self.assertIn("no traces yet", self.ch("ls", "--since", "30m").stdout)

        c = json.loads(self.ch("cost", "--trace", T1[:8], "--json").stdout)
        self.assertEqual((c["trace_id"], c["total"]["calls"]), (T1, 2))
        self.assertAlmostEqual(c["total"]["cost_usd"],
                               CALLS[0]["cost_usd"] + CALLS[1]["cost_usd"], places=12)
        # a span id (prefix) names its trace; upper case is fine
        c = json.loads(self.ch("cost", "--trace", "200000000000000", "--json").stdout)
        self.assertEqual((c["trace_id"], c["total"]["calls"]), (T2, 2))
        c = json.loads(self.ch("cost", "--trace", T3.upper(), "--json").stdout)
        self.assertEqual(c["total"]["calls"], 1)
        self.assertEqual(self.ch("cost", "--trace", T3, "--since", "1d").stdout,
                         "no LLM calls in trace %s\n" % T3)
        p = self.ch("cost", "--trace", "dddd", check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no trace or span matches 'dddd'", p.stderr)
        p = self.ch("cost", "--trace", "xyz'", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("not a trace or span id", p.stderr)

    def test_store_from_environment(self):
        env = self.env(TOKENTAP_STORE=self.url())
        self.assertEqual(self.tokentap("cost", "--by", "provider", env=env).stdout,
                         self.ch("cost", "--by", "provider").stdout)
        self.assertEqual(self.tokentap("ls", env=env).stdout, self.ch("ls").stdout)
        # --db still means the SQLite file; TOKENTAP_STORE may name one too
        self.assertEqual(self.tokentap("ls", "--db", TWIN, env=env).stdout, self.sq("ls").stdout)
        env = self.env(TOKENTAP_STORE=TWIN)
        self.assertEqual(self.tokentap("ls", env=env).stdout, self.sq("ls").stdout)
        self.assertEqual(self.tokentap("ls", "--store", TWIN).stdout, self.sq("ls").stdout)

    def test_errors(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed = s.getsockname()[1]
        for cmd in ("cost", "ls"):
            p = self.tokentap(cmd, "--store", "clickhouse://127.0.0.1:%d/tokentap" % closed,
                              check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("tokentap %s: cannot query ClickHouse at clickhouse://127.0.0.1:%d/tokentap: "
                          % (cmd, closed), p.stderr)
            self.assertEqual(p.stdout, "")
            p = self.tokentap(cmd, "--store", CH.url("nosuchdb"), check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("no tokentap table at %s: has a tokentapd with "
                          "TOKENTAP_CLICKHOUSE_URL written to it yet?" % CH.url("nosuchdb"), p.stderr)
            p = self.tokentap(cmd, "--store", CH.url(table="nosuch"), check=False)
            self.assertEqual(p.returncode, 1, p.stderr)
            self.assertIn("no tokentap table at", p.stderr)
            p = self.tokentap(cmd, "--store", "clickhouse://u:s3cret@127.0.0.1:%d/bad-db" % closed,
                              check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("bad ClickHouse URL clickhouse://u:***@127.0.0.1", p.stderr)
            self.assertNotIn("s3cret", p.stderr)
            p = self.tokentap(cmd, "--store", self.url(), "--db", TWIN, check=False)
            self.assertEqual(p.returncode, 2, p.stderr)
        p = self.tokentap("ls", "--store", "clickhouse://127.0.0.1:%d/x?tabel=y" % closed, check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
        p = self.ch("cost", "--by", "tag:x'y", check=False)
        self.assertEqual(p.returncode, 2, p.stderr)
