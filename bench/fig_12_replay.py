"""Figure 9 of `make bench` (issue #13): record/replay against the mock.

The same ordinary clients, all under tokentap, answered either by the local
mock (`tokentap run`, "without") or from a cassette of the same calls
(`tokentap replay`, "with": the preload redirects the connection to the
replay server, which serves the recorded bytes):
  - non-streaming: bench/client_calls.py, N keep-alive calls (~10 KB
    request, ~5 KB answer); the cassette holds 4 of them, the rest reuse the
    last recording (identical requests); target: a replayed call costs at
    most what a mock call does (ratio <= 1.00);
  - time to first token: bench/client_ttft.py, S streams, median TTFT;
    target: at most 1 ms over the mock's.
ROUNDS rounds alternating the order; medians; every run's store must hold
its N+1 (S+1) spans, all ok, the replayed ones marked replay "hit".
Env: N (1000, QUICK: 200), S (200, QUICK: 50), ROUNDS (3, QUICK: 2)."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BENCH, PY, QUICK, TOKENTAP, Bench, die, log, median, row  # noqa: E402

N = int(os.environ.get("N") or (200 if QUICK else 1000))
S = int(os.environ.get("S") or (50 if QUICK else 200))
ROUNDS = int(os.environ.get("ROUNDS") or (2 if QUICK else 3))


def parse(out):
    w = out.split()
    return {w[i]: float(w[i + 1]) for i in range(0, len(w) - 1, 2)}


def tt(b, args, argv, tag):
    b.runs += 1
    home = os.path.join(b.tmp, "home%d" % b.runs)
    env = dict(b.env, TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"),
               TOKENTAP_HOSTS=b.hosts, MOCK_CHUNKS="800")
    p = subprocess.run([TOKENTAP] + args + ["--quiet", "--"] + argv, env=env,
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    if p.returncode != 0:
        die("fig09 %s: failed (%d):\n%s%s" % (tag, p.returncode, p.stdout, p.stderr))
    return p.stdout, env


def check(b, env, want, replayed, what):
    p = subprocess.run([TOKENTAP, "export", "--format", "jsonl"], env=env, capture_output=True,
                       text=True, timeout=60)
    spans = [json.loads(l) for l in p.stdout.splitlines() if l.strip()]
    spans = [s for s in spans if s["kind"] == "llm"]
    ok = [s for s in spans if s["status"] == "ok" and
          (s["replay"] == "hit") == replayed]
    if len(spans) != want or len(ok) != want:
        die("fig09 %s: %d spans, %d ok as expected, want %d" % (what, len(spans), len(ok), want))


def main():
    with Bench("fig09") as b:
        calls = [PY, os.path.join(BENCH, "client_calls.py")]
        ttft = [PY, os.path.join(BENCH, "client_ttft.py")]
        har_calls = os.path.join(b.tmp, "calls.har")
        har_ttft = os.path.join(b.tmp, "ttft.har")
        tt(b, ["record", "-o", har_calls], calls + ["3"], "record calls")
        tt(b, ["record", "-o", har_ttft], ttft + ["3"], "record streams")
        res = {k: {False: [], True: []} for k in ("calls", "ttft")}
        for r in range(ROUNDS):
            for replay in ((False, True) if r % 2 == 0 else (True, False)):
                for k, argv, n, har in (("calls", calls + [str(N)], N, har_calls),
                                        ("ttft", ttft + [str(S)], S, har_ttft)):
                    args = ["replay", har] if replay else ["run"]
                    out, env = tt(b, args, argv, k)
                    check(b, env, n + 1, replay, "%s round %d" % (k, r + 1))
                    d = parse(out)
                    res[k][replay].append(d["seconds"] / N * 1e6 if k == "calls" else d["ttft_us"])
            log("fig09 round %d/%d: call mock %.0f µs, replay %.0f µs; TTFT mock %.0f µs, "
                "replay %.0f µs" % (r + 1, ROUNDS, res["calls"][False][-1],
                                    res["calls"][True][-1], res["ttft"][False][-1],
                                    res["ttft"][True][-1]))
    a, w = median(res["calls"][False]), median(res["calls"][True])
    row("12. replayed non-streaming call vs the local mock, Python requests (µs/call)",
        "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "<= 1.00x",
        "ok" if w <= a else "MISSED", "N=%d ROUNDS=%d python3 bench/fig_12_replay.py" % (N, ROUNDS))
    a, w = median(res["ttft"][False]), median(res["ttft"][True])
    row("12. time to first token, replayed stream vs the local mock (µs)",
        "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "<= +1000 µs",
        "ok" if w - a <= 1000 else "MISSED", "S=%d ROUNDS=%d python3 bench/fig_12_replay.py" % (S, ROUNDS))


if __name__ == "__main__":
    main()
