"""The Node OTLP/HTTP receiver of tests/otlp (the OpenTelemetry project's
own protos decode every request), started on loopback for a test."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.request

from harness import ROOT, SLOW

RECEIVER = os.path.join(ROOT, "tests", "otlp", "receiver.mjs")
MODULES = os.path.join(ROOT, "tests", "otlp", "node_modules")


def require_node():
    """Skip without node or the npm packages, unless CI must run this."""
    why = None
    if not shutil.which("node"):
        why = "node is not installed"
    elif not os.path.isdir(MODULES):
        why = "tests/otlp/node_modules missing (tools/install-deps.sh runs npm ci)"
    if why:
        if os.environ.get("CI"):
            raise RuntimeError(why)
        raise unittest.SkipTest(why)


class Receiver:
    def __init__(self, port=0):
        require_node()
        self.dir = tempfile.mkdtemp(prefix="tt-otlp-")
        pf = os.path.join(self.dir, "port")
        self.log = open(os.path.join(self.dir, "receiver.log"), "w")
        self.proc = subprocess.Popen(
            ["node", RECEIVER, "--port", str(port), "--port-file", pf],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        deadline = time.time() + 20 * SLOW
        while not (os.path.exists(pf) and open(pf).read().strip()):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("OTLP receiver did not start: %s" % self.logtext())
            time.sleep(0.05)
        self.port = int(open(pf).read().strip())
        self.base = "http://127.0.0.1:%d" % self.port

    def logtext(self):
        self.log.flush()
        return open(self.log.name).read()[-4000:]

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def spans(self):
        return self._call("GET", "/spans")

    def requests(self):
        return self._call("GET", "/requests")

    def control(self, **kw):
        return self._call("POST", "/control", kw)

    def reset(self):
        return self._call("POST", "/reset", {})

    def wait_spans(self, pred, timeout=20):
        """Poll until pred(spans) is true; return the spans."""
        deadline = time.time() + timeout * SLOW
        while True:
            s = self.spans()
            if pred(s):
                return s
            if time.time() > deadline:
                return s
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p
