"""Ordinary LLM client programs for the concurrency / process / fault
scenarios (tests/faults/run.py, test_faults.py). Nothing here knows about
tokentap: every mode counts the calls that completed successfully itself
(HTTP 200 and, for a stream, its terminating event) and prints the count, so
the runner can compare "calls made" with "spans stored".

  faults_client.py threads --threads T --calls C --lib requests|httpx
                           [--shared]       one Session/Client for all threads
  faults_client.py fork --normal N --exit N --nocall N [--busy-threads N]
                        [--child-timeout S]
  faults_client.py mp --method fork|spawn|forkserver --workers W --tasks N
  faults_client.py loop --n N [--hold] [--until FILE] [--sigpipe-default]
  faults_client.py signals --calls N --children N
  faults_client.py call [--n N]     N calls on one connection (exec chains)

Output is deterministic (no pids, no timings) except where noted: "pid P"
in loop mode, so that the runner can kill the process."""
import argparse
import http.client
import json
import os
import signal
import ssl
import sys
import threading
import time

BASE = os.environ["MOCK_BASE"]
CA = os.environ.get("MOCK_CA")
HOST, PORT = BASE.split("://", 1)[1].rsplit(":", 1)
PORT = int(PORT)
TLS = BASE.startswith("https")


def body(i, stream):
    """Call i: OpenAI for even i//2, Anthropic for odd; streamed if asked."""
    if (i // 2) % 2 == 0:
        b = {"model": "gpt-4o-mini",
             "messages": [{"role": "user", "content": "call %d" % i}]}
        if stream:
            b["stream"] = True
            b["stream_options"] = {"include_usage": True}
        return "/v1/chat/completions", b, {
            "authorization": "Bearer sk-faults", "content-type": "application/json",
            "x-mock-usage": "in=%d,out=7" % (100 + i % 1000)}
    b = {"model": "claude-sonnet-4-5", "max_tokens": 32,
         "messages": [{"role": "user", "content": "call %d" % i}]}
    if stream:
        b["stream"] = True
    return "/v1/messages", b, {
        "x-api-key": "sk-ant-faults", "anthropic-version": "2023-06-01",
        "content-type": "application/json",
        "x-mock-usage": "in=%d,out=7" % (100 + i % 1000)}


def complete(status, text, stream, path):
    if status != 200:
        return False
    if not stream:
        return '"usage"' in text
    if path == "/v1/messages":
        return "message_stop" in text
    return "[DONE]" in text


# --- one call with http.client (cheap; a fresh or kept connection) ----------
_ctx = None


def ctx():
    global _ctx
    if _ctx is None and TLS:
        _ctx = ssl.create_default_context(cafile=CA)
    return _ctx


def new_conn():
    if TLS:
        return http.client.HTTPSConnection(HOST, PORT, context=ctx(), timeout=30)
    return http.client.HTTPConnection(HOST, PORT, timeout=30)


def call_hc(i, stream=False, conn=None):
    """One call; True when it completed. Reuses conn when given."""
    path, b, h = body(i, stream)
    own = conn is None
    c = conn or new_conn()
    try:
        c.request("POST", path, body=json.dumps(b), headers=h)
        r = c.getresponse()
        text = r.read().decode()
        ok = complete(r.status, text, stream, path)
        if not ok:
            print("call %d incomplete: HTTP %d, %d chars: %r" % (
                i, r.status, len(text), text[-200:]), file=sys.stderr, flush=True)
        return ok
    except (OSError, http.client.HTTPException) as e:
        # stderr is not compared between the traced and the plain run
        print("call %d failed: %r" % (i, e), file=sys.stderr, flush=True)
        if not own:
            c.close()
        return False
    finally:
        if own:
            c.close()


# --- threads ---------------------------------------------------------------
def mode_threads(a):
    done = [0] * a.threads
    failed = [0] * a.threads
    shared = None
    if a.lib == "requests":
        import requests
        import requests.adapters

        def make():
            s = requests.Session()
            ad = requests.adapters.HTTPAdapter(pool_connections=1,
                                               pool_maxsize=a.threads)
            s.mount("https://", ad)
            s.mount("http://", ad)
            return s

        def one(s, i, stream):
            path, b, h = body(i, stream)
            r = s.post(BASE + path, json=b, headers=h, verify=CA,
                       stream=stream, timeout=30)
            text = r.text if not stream else "".join(
                line.decode() + "\n" for line in r.iter_lines())
            return complete(r.status_code, text, stream, path)
    else:
        import httpx

        def make():
            return httpx.Client(verify=CA if TLS else False, timeout=30,
                                limits=httpx.Limits(max_connections=a.threads))

        def one(s, i, stream):
            path, b, h = body(i, stream)
            if stream:
                with s.stream("POST", BASE + path, json=b, headers=h) as r:
                    text = "".join(line + "\n" for line in r.iter_lines())
                    return complete(r.status_code, text, stream, path)
            r = s.post(BASE + path, json=b, headers=h)
            return complete(r.status_code, r.text, stream, path)

    if a.shared:
        shared = make()

    def worker(t):
        s = shared or make()
        for j in range(a.calls):
            try:
                ok = one(s, t * a.calls + j, j % 2 == 1)
            except Exception:
                ok = False
            if ok:
                done[t] += 1
            else:
                failed[t] += 1

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("calls", sum(done), "failed", sum(failed))


# --- fork storms -----------------------------------------------------------
def mode_fork(a):
    """The parent calls, then forks children in waves: `normal` ones call
    and leave by sys.exit (atexit handlers run), `exit` ones call and leave
    by os._exit at once, `nocall` ones just leave. --busy-threads N: parent
    threads keep calling on their own connections while the children are
    forked (fork while another thread may be inside the tracer). A child
    exits 0 when its call completed; an alarm (--child-timeout, 20 s) ends
    a child that is stuck."""
    ok = 1 if call_hc(0) else 0
    stop = threading.Event()
    busy = [0, 0]
    lock = threading.Lock()

    ready = threading.Semaphore(0)

    def busy_loop():
        # The first call (TLS handshake) before any fork: a thread inside
        # OpenSSL 3's random generator when another forks leaves its lock
        # taken in the child, whose own handshake then hangs, with or
        # without tokentap (openssl/openssl#19066; seen here untraced).
        # A kept connection needs no randomness afterwards.
        c = new_conn()
        good = call_hc(999, conn=c)
        with lock:
            busy[0 if good else 1] += 1
        ready.release()
        i = 1000
        while not stop.is_set():
            good = call_hc(i, stream=i % 2 == 1, conn=c)
            with lock:
                busy[0 if good else 1] += 1
            if not good:
                c = new_conn()
            i += 1
        c.close()

    bts = [threading.Thread(target=busy_loop) for _ in range(a.busy_threads)]
    for bt in bts:
        bt.start()
    for bt in bts:
        ready.acquire()
    kinds = ["normal"] * a.normal + ["exit"] * a.exit + ["nocall"] * a.nocall
    # interleave the kinds, so every wave has some of each
    order = []
    rest = {k: [x for x in kinds if x == k] for k in ("normal", "exit", "nocall")}
    while any(rest.values()):
        for k in ("normal", "exit", "nocall"):
            if rest[k]:
                order.append(rest[k].pop())
    res = {"normal": [0, 0, 0], "exit": [0, 0, 0], "nocall": [0, 0, 0]}
    wave = 10
    for w in range(0, len(order), wave):
        pids = {}
        for n, kind in enumerate(order[w:w + wave]):
            pid = os.fork()
            if pid == 0:
                signal.alarm(a.child_timeout)
                if kind == "nocall":
                    os._exit(0)
                good = call_hc(10 + w + n, stream=n % 2 == 1)
                if kind == "exit":
                    os._exit(0 if good else 1)
                sys.stdout.flush()
                sys.exit(0 if good else 1)
            pids[pid] = kind
        for pid, kind in pids.items():
            _, st = os.waitpid(pid, 0)
            res[kind][0 if st == 0 else 1] += 1
            if st != 0:
                print("child %d (%s) ended: %s" % (
                    pid, kind, "signal %d" % os.WTERMSIG(st) if os.WIFSIGNALED(st)
                    else "exit %d" % os.WEXITSTATUS(st)), file=sys.stderr, flush=True)
            if os.WIFSIGNALED(st) and os.WTERMSIG(st) == signal.SIGALRM:
                res[kind][2] += 1          # stuck until its alarm
    stop.set()
    for bt in bts:
        bt.join()
    ok += 1 if call_hc(1) else 0
    calls = ok + res["normal"][0] + res["exit"][0] + busy[0]
    print("children normal ok %d failed %d (hung %d)" % tuple(res["normal"]))
    print("children _exit ok %d failed %d (hung %d)" % tuple(res["exit"]))
    print("children nocall ok %d failed %d (hung %d)" % tuple(res["nocall"]))
    # the busy thread's count depends on timing: not printed, only summed
    print("calls", calls, "failed", res["normal"][1] + res["exit"][1] + busy[1],
          file=sys.stdout)


# --- multiprocessing -------------------------------------------------------
def mp_task(i):
    return call_hc(i, stream=i % 2 == 1)


def mode_mp(a):
    import multiprocessing as mp
    c = mp.get_context(a.method)
    ok = 1 if call_hc(0) else 0      # the parent calls too, before the pool
    with c.Pool(a.workers) as pool:   # __exit__ terminates the workers
        res = pool.map(mp_task, range(1, a.tasks + 1), chunksize=1)
    q = c.Queue()
    p = c.Process(target=mp_proc, args=(q, a.tasks + 1))
    p.start()
    pr = q.get(timeout=60)
    p.join()
    ok += sum(1 for r in res if r) + (1 if pr else 0)
    print("pool ok", sum(1 for r in res if r), "process ok", pr,
          "exitcode", p.exitcode)
    print("calls", ok, "failed", a.tasks + 2 - ok)


def mp_proc(q, i):
    q.put(call_hc(i))


# --- a process that keeps calling ------------------------------------------
def mode_loop(a):
    if a.sigpipe_default:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    print("pid", os.getpid(), flush=True)
    n = failed = 0
    c = new_conn()
    i = 0
    while True:
        if a.until:
            if os.path.exists(a.until):
                break
        elif i >= a.n:
            break
        if call_hc(i, stream=i % 2 == 1, conn=c):
            n += 1
        else:
            failed += 1
            c = new_conn()
        i += 1
        if a.progress and i % a.progress == 0:
            print("progress", i, flush=True)
        if a.pause:
            time.sleep(a.pause)
    print("done", n, "failed", failed, flush=True)
    if a.hold:
        time.sleep(600)


# --- signals ---------------------------------------------------------------
def mode_signals(a):
    """Own handlers, the way programs install them, while calling:
    SIGALRM every 2 ms (interrupting the calls' system calls), SIGCHLD
    counted per child, SIGPIPE back to default (death). Prints what the
    handlers saw, then writes into a closed pipe: the process must die of
    SIGPIPE, exactly as without tokentap."""
    alarms = [0]
    chld = [0]
    signal.signal(signal.SIGALRM, lambda s, f: alarms.__setitem__(0, alarms[0] + 1))
    signal.signal(signal.SIGCHLD, lambda s, f: chld.__setitem__(0, chld[0] + 1))
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
    ok = 0
    c = new_conn()
    for i in range(a.calls):
        if call_hc(i, stream=i % 2 == 1, conn=c):
            ok += 1
        else:
            c = new_conn()
    signal.setitimer(signal.ITIMER_REAL, 0, 0)
    # children one at a time: each SIGCHLD is seen before the next child
    reaped = 0
    for k in range(a.children):
        before = chld[0]
        pid = os.fork()
        if pid == 0:
            good = call_hc(100 + k)
            os._exit(0 if good else 1)
        deadline = time.time() + 30
        while chld[0] == before and time.time() < deadline:
            time.sleep(0.001)
        _, st = os.waitpid(pid, 0)
        if st == 0:
            reaped += 1
    old = signal.getsignal(signal.SIGPIPE)
    print("calls", ok + reaped, "failed", a.calls + a.children - ok - reaped)
    print("alarms seen", alarms[0] > 0, "sigchld", chld[0], "children ok", reaped)
    print("sigpipe handler default", old == signal.SIG_DFL, flush=True)
    r, w = os.pipe()
    os.close(r)
    os.write(w, b"x")                   # dies here of SIGPIPE
    print("still alive after SIGPIPE", flush=True)


# --- plain calls (exec chains) ---------------------------------------------
def mode_call(a):
    c = new_conn()
    ok = sum(1 for i in range(a.n) if call_hc(i, stream=i % 2 == 1, conn=c))
    print("python calls", ok, flush=True)
    if a.exec:
        os.execvp(a.exec[0], a.exec)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="mode", required=True)
    p = sub.add_parser("threads")
    p.add_argument("--threads", type=int, default=32)
    p.add_argument("--calls", type=int, default=50)
    p.add_argument("--lib", default="requests")
    p.add_argument("--shared", action="store_true")
    p = sub.add_parser("fork")
    p.add_argument("--normal", type=int, default=50)
    p.add_argument("--exit", type=int, default=50)
    p.add_argument("--nocall", type=int, default=10)
    p.add_argument("--busy-threads", type=int, default=0)
    p.add_argument("--child-timeout", type=int, default=20)
    p = sub.add_parser("mp")
    p.add_argument("--method", default="fork")
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--tasks", type=int, default=20)
    p = sub.add_parser("loop")
    p.add_argument("--n", type=int, default=10)
    p.add_argument("--until")
    p.add_argument("--hold", action="store_true")
    p.add_argument("--progress", type=int, default=0)
    p.add_argument("--pause", type=float, default=0)
    p.add_argument("--sigpipe-default", action="store_true")
    p = sub.add_parser("signals")
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--children", type=int, default=5)
    p = sub.add_parser("call")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("exec", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    globals()["mode_" + a.mode](a)


if __name__ == "__main__":
    main()
