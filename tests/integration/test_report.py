"""Issue #7: `tokentap report` writes one self-contained HTML page that a
real browser renders offline: the page is opened in headless Chromium and
the DOM it built is checked against the store."""
import html
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import PY, ROOT, SLOW, TapTest

OUT_DIR = os.path.join(ROOT, "tests", "out")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# A prompt that would end the data <script> element if the page embedded
# the spans unescaped, and run code if the JS used innerHTML.
EVIL = "</script><script>document.title='pwned'</script><b id=evil>&amp;"


def chromium(args, timeout=90):
    """Run headless Chromium with its own throwaway profile; (stdout, stderr)."""
    prof = tempfile.mkdtemp(prefix="tt-chromium-")
    try:
        p = subprocess.run(
            [CHROMIUM, "--headless=new", "--disable-gpu", "--no-sandbox",
             "--no-first-run", "--disable-extensions", "--disable-dev-shm-usage",
             "--user-data-dir=" + prof, "--enable-logging=stderr", "--v=0"]
            + list(args),
            capture_output=True, text=True, timeout=timeout * SLOW,
            stdin=subprocess.DEVNULL)
        return p.stdout, p.stderr
    finally:
        shutil.rmtree(prof, ignore_errors=True)


def console_errors(log):
    """Console messages at error level and uncaught exceptions in Chromium's
    stderr log ("CONSOLE(line)" lines; level 2 or "ERROR" is an error)."""
    bad = []
    for line in log.splitlines():
        if "Uncaught" in line:
            bad.append(line)
        elif "CONSOLE" in line and (":ERROR:" in line or "console.error" in line
                                    or re.search(r"CONSOLE\(\d+\)\].*level=?2", line)):
            bad.append(line)
    return bad


def stat_value(dom, name):
    """(data-value, displayed text) of the stat strip's item `name`."""
    m = re.search(r'<div class="stat[^"]*" data-stat="%s" data-value="([^"]*)">'
                  r'<div class="v">([^<]*)</div>' % re.escape(name), dom)
    if not m:
        raise AssertionError("stat %s not in the rendered page" % name)
    return m.group(1), html.unescape(m.group(2))


class ReportTest(TapTest):

    def make_trace(self):
        """One `tokentap run` of a shell running three client processes:
        3 OpenAI calls with tools, 3 streamed Anthropic calls with tools, one
        call rate-limited by the mock (429), and a curl call whose prompt is
        HTML."""
        cli = " ".join(self.client("llm_call.py"))
        body = json.dumps({"model": "gpt-4o-mini", "messages": [
            {"role": "user", "content": EVIL}]})
        body_file = os.path.join(self.home, "evil.json")
        with open(body_file, "w") as fh:
            fh.write(body)
        script = (
            "set -e\n"
            "%(cli)s --api openai --tools --n 3\n"
            "%(cli)s --api anthropic --stream --tools --n 3\n"
            "%(cli)s --api openai --header 'x-mock-status: 429'\n"
            "curl -sS --cacert \"$MOCK_CA\" \"$MOCK_BASE/v1/chat/completions\" "
            "-H 'content-type: application/json' -H 'authorization: Bearer sk-x' "
            "--data-binary @%(body)s >/dev/null\n"
        ) % {"cli": cli, "body": body_file}
        r = self.run_traced(["bash", "-c", script])
        self.assertEqual(r.rc, 0, r.stderr)
        return r

    @unittest.skipUnless(CHROMIUM, "chromium not installed (apt-get install chromium "
                         "chromium-driver; tools/install-deps.sh installs it)")
    def test_report_renders_in_chromium(self):
        r = self.make_trace()
        # every kind the store holds (process and tool spans where the
        # preload records them), as `export` prints them
        every = [json.loads(line) for line in
                 self.tokentap("export", env=r.env).stdout.splitlines()]
        llm = [s for s in every if s["kind"] == "llm"]
        self.assertEqual(len(llm), 8, [s.get("name") for s in every])
        trace = llm[0]["trace_id"]
        errors = [s for s in every if s["status"] == "error"]
        self.assertEqual(len(errors), 1)
        self.assertEqual(errors[0]["http_status"], 429)

        os.makedirs(OUT_DIR, exist_ok=True)
        out = os.path.join(OUT_DIR, "report.html")
        if os.path.exists(out):
            os.unlink(out)
        # default: the last run, which is this one
        p = self.tokentap("report", "-o", out)
        self.assertIn("wrote " + out, p.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        page = open(out, encoding="utf-8").read()

        # Self-contained: nothing fetched from anywhere.
        self.assertNotRegex(page, r"""(src|href)\s*=\s*["']?(https?:)?//""")
        self.assertNotIn("@import", page)
        # The data element holds the export contract's objects, and the
        # HTML prompt cannot end it early.
        m = re.search(r'<script type="application/json" id="tt-data">\n(.*?)</script>',
                      page, re.S)
        self.assertIsNotNone(m)
        self.assertNotIn("<", m.group(1))
        doc = json.loads(m.group(1))
        self.assertEqual([t["trace_id"] for t in doc["traces"]], [trace])
        embedded = {s["span_id"]: s for s in doc["traces"][0]["spans"]}
        self.assertEqual(len(embedded), len(every))
        for s in every:
            self.assertEqual(embedded[s["span_id"]], s)

        dom, log = chromium(["--dump-dom", "file://" + out])
        self.assertTrue('data-rendered="1"' in dom, log[-3000:])
        # window.onerror / console: nothing went wrong while rendering.
        m = re.search(r'<div id="js-errors"[^>]*>(.*?)</div>', dom, re.S)
        self.assertIsNotNone(m)
        self.assertEqual(m.group(1).strip(), "")
        self.assertEqual(console_errors(log), [])
        # The HTML prompt stayed text: shown escaped, never run or parsed.
        self.assertFalse('id="evil"' in dom)
        self.assertEqual(re.search(r"<title>([^<]*)</title>", dom).group(1),
                         "tokentap report - trace %s" % trace[:12])
        self.assertTrue(html.escape(EVIL, quote=False) in dom)

        # The stat strip: exact sums of what the store holds.
        cost = sum(s["cost_usd"] for s in llm if s["cost_known"])
        tin = sum(s["input_tokens"] for s in llm)
        tout = sum(s["output_tokens"] for s in llm)
        self.assertGreater(cost, 0)
        self.assertEqual(stat_value(dom, "calls"), ("8", "8"))
        self.assertEqual(stat_value(dom, "tokens-in"), (str(tin), format(tin, ",")))
        self.assertEqual(stat_value(dom, "tokens-out"), (str(tout), format(tout, ",")))
        v, text = stat_value(dom, "cost")
        self.assertAlmostEqual(float(v), cost, places=12)
        # the 429 call has no usage: its cost is unknown, marked "+?"
        self.assertEqual(text, "$%.6f+?" % cost)
        self.assertEqual(stat_value(dom, "errors"), ("1", "1"))

        # One card per call, the failed one marked, tool calls highlighted.
        cards = re.findall(r'<article class="card (llm|tool)( error)?" id="card-([0-9a-f]{16})"', dom)
        self.assertEqual(sorted(c[2] for c in cards if c[0] == "llm"),
                         sorted(s["span_id"] for s in llm))
        self.assertEqual([c[2] for c in cards if c[1]], [errors[0]["span_id"]])
        with_tools = [s for s in llm if s["tool_calls"]]
        self.assertEqual(len(with_tools), 6)
        self.assertEqual(dom.count('<div class="toolcalls">'), len(with_tools))
        self.assertIn("get_weather", dom)
        for s in llm:
            if s["finish_reasons"]:
                self.assertIn(", ".join(s["finish_reasons"]), dom)
        self.assertIn("<details", dom)
        self.assertIn('class="io-input"', dom)

        # The tree: a node per span, under its parent span when the trace
        # has it (process spans, where the preload records them), else
        # under the trace root.
        nodes = re.findall(r'<li class="tree-node kind-(\w+)"'
                           r'(?: data-span="([0-9a-f]+)" data-parent="([0-9a-f]*)")?', dom)
        self.assertEqual(nodes[0], ("trace", "", ""))
        nodes = [n for n in nodes if n[0] != "conversation"]
        ids = {s["span_id"] for s in every}
        self.assertEqual(sorted((n[1], n[0], n[2]) for n in nodes[1:]),
                         sorted((s["span_id"], s["kind"],
                                 s["parent_id"] if s["parent_id"] in ids else "")
                                for s in every))
        # The timeline: a bar per LLM call, in a row per process.
        bars = re.findall(r'class="bar (llm|tool|other)( error)?"[^>]*data-span="([0-9a-f]+)"', dom)
        self.assertEqual(sorted(b[2] for b in bars if b[0] == "llm"),
                         sorted(s["span_id"] for s in llm))
        procs = {(s["exe"], s["pid"]) for s in every}
        self.assertEqual(dom.count('<div class="tl-group"'), len(procs))
        self.assertGreaterEqual(len(procs), 4)
        # Cost by model: one SVG row per model.
        models = {s["response_model"] or s["request_model"] for s in llm}
        rows = re.findall(r'<g class="cost-row" data-model="([^"]+)"', dom)
        self.assertEqual(sorted(rows), sorted(models))

        shot = os.path.join(OUT_DIR, "report.png")
        if os.path.exists(shot):
            os.unlink(shot)
        chromium(["--screenshot=" + shot, "--window-size=1400,2000",
                  "--hide-scrollbars", "file://" + out])
        self.assertTrue(os.path.getsize(shot) > 10000, shot)

    def test_report_ids_and_errors(self):
        r = self.run_traced(self.client("llm_call.py") + ["--api", "openai", "--n", "2"])
        self.assertEqual(r.rc, 0, r.stderr)
        trace = r.spans[0]["trace_id"]
        out = os.path.join(self.home, "r.html")
        # a unique prefix selects the trace; the file is replaced, and 0600
        with open(out, "w") as fh:
            fh.write("old")
        os.chmod(out, 0o644)
        self.tokentap("report", trace[:8], "--output", out)
        self.assertEqual(stat.S_IMODE(os.stat(out).st_mode), 0o600)
        self.assertIn(trace, open(out).read())
        p = self.tokentap("report", "-o", "-", trace)
        self.assertTrue(p.stdout.startswith("<!DOCTYPE html>"))
        p = self.tokentap("report", "ffffffffffff", "-o", out, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no trace or span matches", p.stderr)
        p = self.tokentap("report", "xyz", check=False)
        self.assertEqual(p.returncode, 2)
        p = self.tokentap("report", "--db", os.path.join(self.home, "none.db"),
                          check=False)
        self.assertEqual(p.returncode, 1)
        p = self.tokentap("report", "--help")
        self.assertIn("Usage: tokentap report", p.stdout)


if __name__ == "__main__":
    unittest.main()
