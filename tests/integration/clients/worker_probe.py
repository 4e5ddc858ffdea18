"""An ordinary LLM client that looks at its own process around a call
(its threads, their blocked signals) and leaves in odd ways. Nothing here
knows about tokentap, beyond reading /proc/self. Usage:
  worker_probe.py threads     call; print thread names; sleep 2.6 s; print again
  worker_probe.py sigblk      call; print every thread's name and SigBlk mask
  worker_probe.py exec        call, then exec /bin/true at once
  worker_probe.py _exit       call, then os._exit(0) at once
  worker_probe.py none        no call: print thread names
  worker_probe.py quiet FILE  call, then no output at all until FILE exists
                              (at most 20 s), then exit 0 (3 if it never did)
  worker_probe.py sched       call; print the scheduling policy of every
                              tokentapd whose command line names $TOKENTAP_DB
  worker_probe.py wake KIND   call (http.client: the connection and its TLS
                              handshake first, then the request), write 8
                              bytes to a new eventfd or pipe (KIND), then
                              SIGKILL itself at once; for an eventfd, exit 4
                              instead when request, answer and write took
                              over 8 ms (the call's span is due 10 ms after
                              the answer, and may then have left by itself;
                              a pipe write sends it, slow or not)"""
import json
import os
import signal
import sys
import time

import requests

BASE = os.environ.get("MOCK_BASE", "")
CA = os.environ.get("MOCK_CA")


def call():
    r = requests.post(BASE + "/v1/chat/completions", verify=CA or True, timeout=30,
                      headers={"authorization": "Bearer sk-probe",
                               "x-mock-usage": "in=123,out=7"},
                      data=json.dumps({"model": "gpt-4o-mini", "messages": [
                          {"role": "user", "content": "probe"}]}))
    return r.status_code


def wake(kind):
    """The wake probe's call: timed from the request, so a loaded machine
    that delays the answer's end or the return from the read (seen in a
    clean-clone CI run) counts as too slow, not as a span sent early."""
    import http.client
    import ssl
    import urllib.parse
    u = urllib.parse.urlsplit(BASE)
    ctx = ssl.create_default_context(cafile=CA) if CA else ssl.create_default_context()
    conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=30)
    conn.connect()
    t0 = time.monotonic()
    conn.request("POST", u.path.rstrip("/") + "/v1/chat/completions",
                 body=json.dumps({"model": "gpt-4o-mini", "messages": [
                     {"role": "user", "content": "probe"}]}),
                 headers={"authorization": "Bearer sk-probe", "x-mock-usage": "in=123,out=7",
                          "content-type": "application/json"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        os._exit(1)
    fd = os.eventfd(0) if kind == "eventfd" else os.pipe()[1]
    os.write(fd, (1).to_bytes(8, "little"))
    if kind == "eventfd" and time.monotonic() - t0 > 0.008:
        os._exit(4)
    os.kill(os.getpid(), signal.SIGKILL)


def threads():
    out = []
    for tid in sorted(os.listdir("/proc/self/task")):
        try:
            name = open("/proc/self/task/%s/comm" % tid).read().strip()
            blk = [l.split()[1] for l in open("/proc/self/task/%s/status" % tid)
                   if l.startswith("SigBlk:")][0]
        except OSError:
            continue
        out.append((name, blk))
    return out


def main():
    mode = sys.argv[1]
    if mode == "none":
        print(json.dumps({"threads": threads()}))
        return
    if mode == "wake":
        wake(sys.argv[2])
    before = threads()
    status = call()
    if mode == "exec":
        sys.stdout.flush()
        os.execv("/bin/true", ["true"])
    if mode == "sched":
        db = os.environ.get("TOKENTAP_DB", "")
        found = {}
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmd = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
                if any(b"tokentapd" in c for c in cmd[:1]) and db and \
                        any(db.encode() in c for c in cmd):
                    found[pid] = os.sched_getscheduler(int(pid))
            except OSError:
                continue
        print(json.dumps({"status": status, "daemons": found, "idle": os.SCHED_IDLE}))
        return
    if mode == "quiet":
        for _ in range(2000):
            if os.path.exists(sys.argv[2]):
                os._exit(0 if status == 200 else 1)
            time.sleep(0.01)
        os._exit(3)
    if mode == "_exit":
        os._exit(0 if status == 200 else 1)
    # A thread the call started may not have been scheduled yet (and so
    # not named itself): give it up to 2 s.
    after = threads()
    for _ in range(200):
        if mode not in ("sigblk", "threads") or len(after) == len(before) or \
                any(n == "tokentap" for n, _ in after):
            break
        time.sleep(0.01)
        after = threads()
    res = {"status": status, "before": before, "after": after}
    if mode == "threads":
        time.sleep(2.6)
        res["later"] = threads()
    print(json.dumps(res))


main()
