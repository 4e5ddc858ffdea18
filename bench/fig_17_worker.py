"""Figure 17 of `make bench` (issue #14): where the per-call time goes.

The same libcurl client as fig 2 (bench/bench_curl_calls.c, HTTP/2,
keep-alive, ~10 KB request / ~5 KB answer against `tokentap mock`), traced
four ways against two private tokentapd (`--foreground`, one store each):
the daemon with its default policy or with TOKENTAP_DAEMON_SCHED=idle,
and the capture worker on (default) or TOKENTAP_WORKER=off (everything on
the program's thread). Untraced runs interleave with them; ROUNDS rounds,
the order flipped every round, medians of the per-call time. Each traced
row says what tokentap adds per call with that combination; the default
(normal daemon, worker on) is what fig 2 measures through `tokentap run`.

Row 17b: tokentapd's CPU time (user + system, from /proc) per span over
all the traced runs, per daemon.

Prints ROW lines (info: the budget is fig 2's). Env: N (default 1000,
QUICK: 300), ROUNDS (7, QUICK: 3)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import QUICK, ROOT, Bench, build_curl_client, die, log, median, row  # noqa: E402
from fig_02_llm_calls import BODY, CHUNKS, parse  # noqa: E402

N = int(os.environ.get("N") or (300 if QUICK else 1000))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 7))
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
        argv = [curl, b.mock.base + "/v1/chat/completions", body, b.mock.cert, str(N),
                "x-mock-chunks: " + CHUNKS]
        daemons = []
        variants = {"untraced": dict(b.env)}
        try:
            for sched in ("idle", "normal"):
                home = os.path.join(b.tmp, "d-" + sched)
                os.makedirs(home)
                denv = dict(b.env, TOKENTAP_HOME=home, TOKENTAP_DB=home + "/traces.db",
                            TOKENTAP_SOCKET=home + "/d.sock",
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
            res = {k: [] for k in variants}
            # tokentapd's CPU (user + system, /proc) over each traced run,
            # summed per daemon: its cost per span, whatever its policy.
            dpid = {"idle": daemons[0].pid, "normal": daemons[1].pid}
            dcpu = {"idle": [0.0, 0], "normal": [0.0, 0]}
            for r in range(ROUNDS):
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
                    res[k].append(x["seconds"] * 1e6 / x["calls"])
                    if sched:
                        # Its spans are acked before the client exits (or
                        # spooled): let the daemon finish what it has.
                        time.sleep(0.3)
                        dcpu[sched][0] += cpu_seconds(dpid[sched]) - c0
                        dcpu[sched][1] += x["calls"]
                log("fig17 round %d/%d: %s" % (r + 1, ROUNDS, ", ".join(
                    "%s %.0f" % (k if isinstance(k, str) else "/".join(k), v[-1])
                    for k, v in res.items())))
        finally:
            for d in daemons:
                d.send_signal(signal.SIGTERM)
                d.wait(30)
    base = median(res["untraced"])
    cmd = "N=%d ROUNDS=%d python3 bench/fig_17_worker.py" % (N, ROUNDS)
    names = {("idle", "on"): "TOKENTAP_DAEMON_SCHED=idle, worker on",
             ("idle", "off"): "TOKENTAP_DAEMON_SCHED=idle, TOKENTAP_WORKER=off",
             ("normal", "on"): "daemon normal, worker on (the default)",
             ("normal", "off"): "daemon normal, TOKENTAP_WORKER=off"}
    for k, name in names.items():
        m = median(res[k])
        row("17. LLM calls, libcurl easy (h2), 10 KB req / 5 KB resp, %s (µs/call)" % name,
            "%.0f" % base, "%.0f (%+.0f)" % (m, m - base), "%.2f" % (m / base),
            "info", "info", cmd)
    for sched in ("normal", "idle"):
        sec, calls = dcpu[sched]
        row("17b. tokentapd CPU per span (user + system, /proc), the same calls, daemon %s (µs)"
            % sched, "-", "%.0f" % (sec * 1e6 / max(calls, 1)), "-", "info", "info", cmd)


if __name__ == "__main__":
    main()
