"""A program that tidies its descriptors the way daemons do, between LLM
calls, and checks that its own files and connections hold only its own
bytes (issue #9). Nothing here knows about tokentap: run it with and
without tokentap and compare stdout.

  fd_hostile.py reuse --close loop|range|raw|dup2 [--fill N] --dir D
      1 call; the session closed; every descriptor from 3 to 1023 closed
      (a close loop, os.closerange = close_range(2), the raw close_range
      syscall, or dup2 of the program's own file onto every number); the
      program's own file opened (N times with --fill: numbers up to N+2);
      5 more calls on a new session; 12 bytes written to the file.
  fd_hostile.py backend --dir D
      1 call; everything closed; a log opened; a listener and a connection
      to it, 8 times (the program's own backend); 5 calls; one more
      connection accepted; "PINGi\\n" sent on each; what the backend
      received is reported.
  fd_hostile.py fork --dir D
      1 call; a child closes everything, opens two files, makes a call,
      writes to both files and leaves by _exit; the parent makes 1 more.

  fd_hostile.py random --seed S --steps N --dir D
      random closes, dup2s, close_ranges (hooked and raw) and opens
      between calls; every number the program holds is its own.log.

Each mode prints the calls that succeeded and the sha256 and size of every
file or stream the program owns; the exit status is 0 only if all of them
hold exactly what the program wrote."""
import argparse
import ctypes
import hashlib
import json
import os
import resource
import socket
import sys

import requests

BASE = os.environ["MOCK_BASE"]
CA = os.environ.get("MOCK_CA")
SYS_close_range = 436          # x86-64 and aarch64


def call(sess, i):
    r = sess.post(BASE + "/v1/chat/completions", verify=CA or True, timeout=30,
                  headers={"authorization": "Bearer sk-hostile",
                           "x-mock-usage": "in=%d,out=5" % (200 + i)},
                  data=json.dumps({"model": "gpt-4o-mini", "messages": [
                      {"role": "user", "content": "hostile call %d" % i}]}))
    return r.status_code == 200 and "usage" in r.json()


def close_all(how, own=None):
    if how == "loop":
        for fd in range(3, 1024):
            try:
                os.close(fd)
            except OSError:
                pass
    elif how == "range":
        os.closerange(3, 1024)
    elif how == "raw":
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = ctypes.c_long
        if libc.syscall(ctypes.c_long(SYS_close_range), ctypes.c_uint(3),
                        ctypes.c_uint(1023), ctypes.c_uint(0)) != 0:
            os.closerange(3, 1024)       # kernel without close_range
    elif how == "dup2":
        for fd in range(3, 1024):
            if fd != own:
                try:
                    os.dup2(own, fd)
                except OSError:
                    pass


def digest(data):
    return "%s %d" % (hashlib.sha256(data).hexdigest()[:16], len(data))


def mode_reuse(a):
    calls = 0
    s = requests.Session()
    calls += call(s, 0)
    s.close()
    path = os.path.join(a.dir, "own.log")
    own = None
    if a.close == "dup2":
        own = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    close_all(a.close, own)
    if own is None:
        own = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    # The program's own descriptors take every low number again (and, with
    # a large --fill, the high ones): whichever number tokentap held is
    # now the program's, and the program writes through every one of them.
    fds = [own]
    if a.close == "dup2":       # every number from 3 to 1023 is own.log
        fds += [fd for fd in range(3, 1024) if fd != own]
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.fill + 64
    if soft < want and (hard == resource.RLIM_INFINITY or hard >= want):
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    for _ in range(a.fill):
        fds.append(os.open(path, os.O_WRONLY | os.O_APPEND))
    s = requests.Session()
    for i in range(1, 6):
        calls += call(s, i)
    s.close()
    want = b""
    for i, fd in enumerate(fds):
        line = b"%05d\n" % i
        os.write(fd, line)
        want += line
    os.write(own, b"twelve bytes")
    want += b"twelve bytes"
    for fd in fds:
        os.close(fd)
    data = open(path, "rb").read()
    print("calls %d" % calls)
    print("own.log %s" % digest(data))
    return 0 if data == want and calls == 6 else 1


def mode_backend(a):
    calls = 0
    s = requests.Session()
    calls += call(s, 0)
    s.close()
    os.closerange(3, 1024)
    log = os.open(os.path.join(a.dir, "app.log"),
                  os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(16)
    pairs = []
    for _ in range(8):          # the program's own backend connections
        conn = socket.create_connection(lst.getsockname())
        peer, _ = lst.accept()
        pairs.append((conn, peer))
    s = requests.Session()
    for i in range(1, 6):
        calls += call(s, i)
    s.close()
    conn = socket.create_connection(lst.getsockname())  # the listener is
    peer, _ = lst.accept()                              # still the program's
    pairs.append((conn, peer))
    ok = True
    for i, (conn, peer) in enumerate(pairs):
        conn.sendall(b"PING%d\n" % i)
        conn.shutdown(socket.SHUT_WR)
        got = b""
        peer.settimeout(5)
        while True:
            b = peer.recv(65536)
            if not b:
                break
            got += b
        print("backend %d got %s" % (i, digest(got)))
        ok = ok and got == b"PING%d\n" % i
    os.write(log, b"log line\n")
    os.close(log)
    logdata = open(os.path.join(a.dir, "app.log"), "rb").read()
    print("calls %d" % calls)
    print("app.log %s" % digest(logdata))
    return 0 if ok and logdata == b"log line\n" and calls == 6 else 1


def mode_fork(a):
    calls = 0
    s = requests.Session()
    calls += call(s, 0)
    s.close()
    pid = os.fork()
    if pid == 0:
        os.closerange(3, 1024)
        f1 = os.open(os.path.join(a.dir, "child1"), os.O_WRONLY | os.O_CREAT, 0o600)
        f2 = os.open(os.path.join(a.dir, "child2"), os.O_WRONLY | os.O_CREAT, 0o600)
        ok = call(requests.Session(), 1)
        os.write(f1, b"child one\n")
        os.write(f2, b"child two\n")
        os._exit(0 if ok else 3)
    _, st = os.waitpid(pid, 0)
    child_ok = os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0
    s = requests.Session()
    calls += call(s, 2)
    s.close()
    c1 = open(os.path.join(a.dir, "child1"), "rb").read()
    c2 = open(os.path.join(a.dir, "child2"), "rb").read()
    print("calls %d child %s" % (calls, "ok" if child_ok else "failed"))
    print("child1 %s" % digest(c1))
    print("child2 %s" % digest(c2))
    return 0 if (child_ok and calls == 2 and c1 == b"child one\n" and
                 c2 == b"child two\n") else 1


def mode_random(a):
    """Random descriptor operations between calls (seeded): close, dup2 of
    the program's file onto a number, close_range (hooked and raw), opens.
    Every descriptor the program holds is own.log (O_APPEND); after each
    step it writes a line through one of them. The invariant: own.log holds
    exactly the program's lines, whatever tokentap did meanwhile."""
    import random
    rnd = random.Random(a.seed)
    path = os.path.join(a.dir, "own.log")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1200 and (hard == resource.RLIM_INFINITY or hard >= 1200):
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, hard))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    held = set()                 # numbers the program opened and holds
    want = []
    calls = made = 0
    sess = None

    def open_own():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        held.add(fd)

    open_own()
    for step in range(a.steps):
        op = rnd.choice(("call", "call", "call", "close", "dup2", "range",
                         "raw", "open", "open", "loop"))
        if op == "call":
            if sess is None:
                sess = requests.Session()
            made += 1
            calls += call(sess, step)
            continue
        # Any descriptor op may take the session's socket too: start afresh.
        if sess is not None:
            sess.close()
            sess = None
        lo = rnd.randrange(3, 1100)
        hi = min(1150, lo + rnd.choice((0, 3, 50, 1200)))
        if op == "close":
            try:
                os.close(lo)
            except OSError:
                pass
            held.discard(lo)
        elif op == "dup2" and held:
            src = rnd.choice(sorted(held))
            if src != lo:
                os.dup2(src, lo)
                held.add(lo)
        elif op == "range":
            os.closerange(lo, hi + 1)
            held.difference_update(range(lo, hi + 1))
        elif op == "raw":
            libc.syscall(ctypes.c_long(SYS_close_range), ctypes.c_uint(lo),
                         ctypes.c_uint(hi), ctypes.c_uint(0))
            held.difference_update(range(lo, hi + 1))
        elif op == "loop":
            for fd in range(3, 1100):
                try:
                    os.close(fd)
                except OSError:
                    pass
            held.clear()
        elif op == "open":
            for _ in range(rnd.choice((1, 5, 40))):
                open_own()
        if not held:
            open_own()
        fd = rnd.choice(sorted(held))
        line = b"%d %s %d\n" % (step, op.encode(), fd)
        os.write(fd, line)
        want.append(line)
    if sess is not None:
        sess.close()
    for fd in sorted(held):
        line = b"end %d\n" % fd
        os.write(fd, line)
        want.append(line)
        os.close(fd)
    data = open(path, "rb").read()
    print("calls %d of %d" % (calls, made))
    print("own.log %s" % digest(data))
    return 0 if data == b"".join(want) and calls == made else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=("reuse", "backend", "fork", "random"))
    p.add_argument("--close", default="loop",
                   choices=("loop", "range", "raw", "dup2"))
    p.add_argument("--fill", type=int, default=16)
    p.add_argument("--dir", required=True)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--steps", type=int, default=60)
    a = p.parse_args()
    sys.stdout.flush()
    return {"reuse": mode_reuse, "backend": mode_backend,
            "fork": mode_fork, "random": mode_random}[a.mode](a)


if __name__ == "__main__":
    sys.exit(main())
