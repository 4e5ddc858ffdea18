"""Figure 17 of `make bench` (issue #14): where the per-call time goes.

Two of fig 2's clients, each making keep-alive calls of ~10 KB request /
~5 KB answer against `tokentap mock`: the libcurl client
(bench/bench_curl_calls.c, HTTP/2) and Python requests
(bench/client_calls.py, HTTP/1.1, a gzip answer), traced four ways
against two private tokentapd (`--foreground`, one store each): the
daemon with its default policy or with TOKENTAP_DAEMON_SCHED=idle, and
the capture worker on (default) or TOKENTAP_WORKER=off (everything on the
program's thread). Untraced runs interleave with them; ROUNDS rounds, the
order flipped every round. Each traced row says what tokentap adds per
call with that combination, paired as in fig 2 (the median of the
per-round differences, with the half-width of a bootstrap 90% interval);
the default (normal daemon, worker on) is what fig 2 measures through
`tokentap run`.

Row 17c: the daemon's policy alone (idle minus normal, worker on), paired
the same way: what SCHED_IDLE buys a client of each kind. A CPU-bound
client (Python: one core busy with the interpreter) is where it shows; a
normal tokentapd that wakes for a span takes a core the interpreter or
the server is about to need, an idle one never does (the scheduler counts
a core running only SCHED_IDLE work as free). It is opt-in for what it
costs on a saturated machine (docs/INTERNALS.md, "The capture worker").

Row 17b: tokentapd's CPU time (user + system, from /proc) per span over
all the traced runs, per daemon.

Prints ROW lines (info: the budget is fig 2's). Env: N (libcurl calls a
run, default 1000, QUICK: 300), NPY (Python calls a run, default 400,
QUICK: 150), ROUNDS (15, QUICK: 3), CLIENTS (curl,python)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BENCH, PY, QUICK, ROOT, Bench, build_curl_client, die, log,  # noqa: E402
                      median, paired, row)
from fig_02_llm_calls import BODY, CHUNKS, parse  # noqa: E402

N = int(os.environ.get("N") or (300 if QUICK else 1000))
NPY = int(os.environ.get("NPY") or (150 if QUICK else 400))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 15))
CLIENTS = (os.environ.get("CLIENTS") or "curl,python").split(",")
NAMES = {"curl": "libcurl easy (h2)", "python": "Python requests"}
PRELOAD = os.path.join(ROOT, "build", "lib", "libtokentap.so")
DAEMON = os.path.join(ROOT, "build", "bin", "tokentapd")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main():
    curl = build_curl_client()
    with Bench("fig17") as b:
        body = b.file("body.json", BODY)
        argvs = {"curl": [curl, b.mock.base + "/v1/chat/completions", body, b.mock.cert,
                          str(N), "x-mock-chunks: " + CHUNKS],
                 "python": [PY, os.path.join(BENCH, "client_calls.py"), str(NPY)]}
        for c in CLIENTS:
            if c not in argvs:
                die("fig17: unknown client %s" % c)
        daemons = []
        variants = {"untraced": dict(b.env, MOCK_CHUNKS=CHUNKS)}
        try:
            for sched in ("idle", "normal"):
                home = os.path.join(b.tmp, "d-" + sched)
                os.makedirs(home)
                denv = dict(b.env, MOCK_CHUNKS=CHUNKS, TOKENTAP_HOME=home,
                            TOKENTAP_DB=home + "/traces.db", TOKENTAP_SOCKET=home + "/d.sock",
                            TOKENTAP_SPOOL=home + "/spool", TOKENTAP_DAEMON_SCHED=sched)
                daemons.append(subprocess.Popen([DAEMON, "--foreground"], env=denv,
                                                stdin=subprocess.DEVNULL,
                                                stdout=subprocess.DEVNULL,
                                                stderr=subprocess.DEVNULL))
                deadline = time.time() + 10
                while not os.path.exists(home + "/d.sock"):
                    if time.time() > deadline:
                        die("fig17: tokentapd did not start")
                    time.sleep(0.05)
                for worker in ("on", "off"):
                    variants[(sched, worker)] = dict(denv, LD_PRELOAD=PRELOAD,
                                                     TOKENTAP_HOSTS=b.hosts,
                                                     TOKENTAP_WORKER=worker)
            res = {(c, k): [] for c in CLIENTS for k in variants}
            # tokentapd's CPU (user + system, /proc) over each traced run,
            # summed per daemon: its cost per span, whatever its policy.
            dpid = {"idle": daemons[0].pid, "normal": daemons[1].pid}
            dcpu = {"idle": [0.0, 0], "normal": [0.0, 0]}
            for r in range(ROUNDS):
                for c in CLIENTS:
                    argv = argvs[c]
                    order = list(variants.items())
                    if r % 2:
                        order.reverse()
                    for k, env in order:
                        sched = None if isinstance(k, str) else k[0]
                        c0 = cpu_seconds(dpid[sched]) if sched else 0
                        p = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                                           capture_output=True, text=True, timeout=600)
                        if p.returncode != 0:
                            die("fig17: %s failed: %s" % (" ".join(argv), p.stderr))
                        x = parse(p.stdout)
                        calls = x.get("calls") or (N if c == "curl" else NPY)
                        res[(c, k)].append(x["seconds"] * 1e6 / calls)
                        if sched:
                            # Its spans are acked before the client exits
                            # (or spooled): let the daemon finish them.
                            time.sleep(0.3)
                            dcpu[sched][0] += cpu_seconds(dpid[sched]) - c0
                            dcpu[sched][1] += calls + (1 if c == "python" else 0)
                    log("fig17 round %d/%d %s: %s" % (r + 1, ROUNDS, c, ", ".join(
                        "%s %.0f" % (k if isinstance(k, str) else "/".join(k), res[(c, k)][-1])
                        for k in variants)))
        finally:
            for d in daemons:
                d.send_signal(signal.SIGTERM)
                d.wait(30)
    cmd = "N=%d NPY=%d ROUNDS=%d CLIENTS=%s python3 bench/fig_17_worker.py" % (
        N, NPY, ROUNDS, ",".join(CLIENTS))
    names = {("idle", "on"): "TOKENTAP_DAEMON_SCHED=idle, worker on",
             ("idle", "off"): "TOKENTAP_DAEMON_SCHED=idle, TOKENTAP_WORKER=off",
             ("normal", "on"): "daemon normal, worker on (the default)",
             ("normal", "off"): "daemon normal, TOKENTAP_WORKER=off"}
    for c in CLIENTS:
        base = median(res[(c, "untraced")])
        for k, name in names.items():
            m = median(res[(c, k)])
            added, nz = paired(res[(c, "untraced")], res[(c, k)])
            row("17. LLM calls, %s, 10 KB req / 5 KB resp, %s (µs/call; added: paired, "
                "90%% interval)" % (NAMES[c], name),
                "%.0f" % base, "%.0f (%+.0f ±%.0f)" % (m, added, nz), "%.2f" % (m / base),
                "info", "info", cmd)
        d, nz = paired(res[(c, ("normal", "on"))], res[(c, ("idle", "on"))])
        row("17c. %s: TOKENTAP_DAEMON_SCHED=idle minus daemon normal, worker on "
            "(µs/call, paired, 90%% interval)" % NAMES[c],
            "-", "%+.0f ±%.0f" % (d, nz), "-", "info", "info", cmd)
    for sched in ("normal", "idle"):
        sec, calls = dcpu[sched]
        row("17b. tokentapd CPU per span (user + system, /proc), the same calls, daemon %s (µs)"
            % sched, "-", "%.0f" % (sec * 1e6 / max(calls, 1)), "-", "info", "info", cmd)


if __name__ == "__main__":
    main()
