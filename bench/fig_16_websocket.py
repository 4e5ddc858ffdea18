"""Figure 16 of `make bench` (issue #11): LLM calls over a WebSocket.

One WebSocket to `tokentap mock` over TLS (its /v1/responses route), the
Responses-over-WebSocket flow of tests/integration/clients/ws_client.c: a
generate:false warm-up, then N calls each chained to the previous one by
previous_response_id, permessage-deflate on (every message of both
directions compressed with context takeover, which tokentap inflates to
read it). Each answer is 10 messages (response.created, the output item
and part events, 5 text deltas, the done events, response.completed).
ROUNDS rounds, alternately plain and under `tokentap run` (the order flips
every round), medians of the time per call measured by the client around
its N calls. Every traced run's store must then hold exactly N spans (the
warm-up is not a call), all ok.

Then, when valgrind is installed, the same client under callgrind (spans to
a private tokentapd, itself not under callgrind; one file per thread, as
fig 14): instructions per call, the difference between a run of 250 and of
50 calls divided by 200, without and with the preload, for all threads and
for the program's own thread (the rest is the capture worker's):
deterministic, unlike the wall clock.

Prints ROW lines: µs per call and instructions per call without and with
tokentap (info: no target was set for this figure). Env: N (default 2000,
QUICK: 300), ROUNDS (5, QUICK: 3). Wall-clock numbers on a shared machine
are noisy."""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import QUICK, Bench, PrivateDaemon, die, log, median, row  # noqa: E402
from fig_14_instructions import TUNABLES, total_ir, valgrind_cmd  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
N = int(os.environ.get("N") or (300 if QUICK else 2000))
ROUNDS = int(os.environ.get("ROUNDS") or (3 if QUICK else 5))


def main():
    client = os.path.join(ROOT, "build", "clients", "ws_client")
    p = subprocess.run(["make", "-s", "-C", ROOT, "build/clients/ws_client"],
                       capture_output=True, text=True)
    if p.returncode != 0:
        die("fig16: cannot build ws_client:\n" + p.stderr)
    res = {False: [], True: []}
    with Bench("fig16") as b:
        env = dict(b.env, SSL_CERT_FILE=b.mock.cert)
        argv = [client, "responses", "--deflate", "--turns", str(N)]
        for r in range(ROUNDS):
            for traced in ((False, True) if r % 2 == 0 else (True, False)):
                out, tenv = b.run(argv, traced, env=env)
                secs = None
                for line in out.splitlines():
                    w = line.split()
                    if len(w) == 4 and w[0] == "turns" and w[2] == "seconds":
                        secs = float(w[3])
                if secs is None:
                    die("fig16: the client printed no timing:\n" + out)
                res[traced].append(secs / N * 1e6)
                if traced:
                    b.spans(tenv, N, "round %d" % (r + 1))
            log("fig16 round %d/%d: without %.1f µs/call, with %.1f µs/call (%d spans stored)"
                % (r + 1, ROUNDS, res[False][-1], res[True][-1], N))
        instr = callgrind(b, client, env) if shutil.which("valgrind") else None
    a, w = median(res[False]), median(res[True])
    log("fig16: without %s; with %s (µs/call)"
        % (" ".join("%.0f" % x for x in res[False]), " ".join("%.0f" % x for x in res[True])))
    row("16. LLM calls over one WebSocket (Responses, permessage-deflate, C client; µs/call)",
        "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "-", "info",
        "N=%d ROUNDS=%d python3 bench/fig_16_websocket.py" % (N, ROUNDS))
    if instr:
        (a, a_prog), (w, w_prog) = instr
        row("16b. the same, instructions per call (callgrind, all threads)",
            "%.0f" % a, "%.0f (%+.0f)" % (w, w - a), "%.2f" % (w / a), "-", "info",
            "python3 bench/fig_16_websocket.py")
        row("16c. of which on the program's own thread (the rest runs on the capture "
            "worker, preload/defer.c)",
            "%.0f" % a_prog, "%.0f (%+.0f)" % (w_prog, w_prog - a_prog), "%.2f" % (w_prog / a_prog),
            "-", "info", "python3 bench/fig_16_websocket.py")


def callgrind(b, client, env):
    """Instructions per call without and with the preload, all threads and
    the program's thread alone (one callgrind file per thread, as fig 14:
    the capture worker's is the one running worker_main). The spans go to
    a private tokentapd (not under callgrind), so the count is the
    capture's, not a spool's."""
    lib = os.path.join(ROOT, "build", "lib", "libtokentap.so")
    per = {}
    with PrivateDaemon(b, "cghome") as d:
        for traced in (False, True):
            ir = {}
            for turns in (50, 250):
                out = os.path.join(b.tmp, "cg.%d.%d" % (traced, turns))
                e = dict(d.env, SSL_CERT_FILE=env["SSL_CERT_FILE"], GLIBC_TUNABLES=TUNABLES,
                         TOKENTAP_HOSTS=b.hosts)
                if traced:
                    e["LD_PRELOAD"] = lib
                p = subprocess.run(valgrind_cmd(out) + [client, "responses", "--deflate",
                                                        "--turns", str(turns)],
                                   env=e, capture_output=True, text=True, timeout=900)
                if p.returncode != 0:
                    die("fig16: callgrind run failed:\n" + p.stderr[-2000:])
                every = total_ir(out)
                ir[turns] = (every, every - total_ir(out, worker_only=True))
            per[traced] = tuple((ir[250][i] - ir[50][i]) / 200 for i in (0, 1))
            log("fig16 callgrind %s: %.0f instructions/call, %.0f on the program's thread"
                % (("traced" if traced else "plain",) + per[traced]))
    return per[False], per[True]


if __name__ == "__main__":
    main()
