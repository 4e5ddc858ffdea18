"""A small OpenAI-compatible streaming server for the benchmarks that the mock
cannot serve: every event carries the CLOCK_MONOTONIC time (ns) at which it
was written, and the events keep an absolute schedule, so a client on the
same machine measures each event's delivery latency directly (no drift from
the server's sleeps); and it streams responses of any size (100 MB).

usage: sse_server.py CERT KEY PORT_FILE   (listens on 127.0.0.1, any port)
POST /v1/chat/completions, HTTP/1.1 keep-alive, chunked text/event-stream:
a role event (with "t_req": when the request's body had been read), then
x-events content deltas (default 500) of x-event-bytes bytes each (default
5), event i written at start + i * x-delay-us µs (0: back to back), then a
stop event, a usage event and [DONE]. Each data: JSON has "t": its write
time. Ends on SIGTERM."""
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time

CERT, KEY, PORT_FILE = sys.argv[1:4]
HEAD = ('{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,'
        '"model":"gpt-4o-mini","choices":[{"index":0,"delta":')


def event(delta, finish="null", extra=""):
    return ('data: %s%s,"logprobs":null,"finish_reason":%s}]%s,"t":%%d}\n\n'
            % (HEAD, delta, finish, extra))


def chunk(b):
    return b"%x\r\n%s\r\n" % (len(b), b)


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        f = s.makefile("rb")
        while True:
            line = f.readline()
            if not line:
                return
            hdrs = {}
            while True:
                h = f.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                hdrs[k.strip().lower()] = v.strip()
            f.read(int(hdrs.get("content-length", "0")))
            t_req = time.monotonic_ns()
            if not self.stream(s, hdrs, t_req):
                return

    def stream(self, s, hdrs, t_req):
        n = int(hdrs.get("x-events", "500"))
        size = int(hdrs.get("x-event-bytes", "5"))
        delay = int(hdrs.get("x-delay-us", "0")) * 1000
        mono = time.monotonic_ns
        s.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        s.sendall(chunk((event('{"role":"assistant","content":""}', extra=',"t_req":%d'
                               % t_req) % mono()).encode()))
        content = event('{"content":"%s"}' % ("x" * size))
        start = mono()
        for i in range(n):
            if delay:
                wait = start + (i + 1) * delay - mono()
                if wait > 0:
                    time.sleep(wait / 1e9)
            s.sendall(chunk((content % mono()).encode()))
        usage = ',"usage":{"prompt_tokens":12,"completion_tokens":%d,"total_tokens":%d}' % (
            n, n + 12)
        tail = (event("{}", '"stop"') % mono() + event("{}", '"stop"', usage) % mono()
                + "data: [DONE]\n\n").encode()
        s.sendall(chunk(tail) + b"0\r\n\r\n")
        return True


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def get_request(self):
        sock, addr = super().get_request()
        return CTX.wrap_socket(sock, server_side=True), addr


CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
CTX.load_cert_chain(CERT, KEY)
srv = Server(("127.0.0.1", 0), Handler)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
with open(PORT_FILE + ".tmp", "w") as fp:
    fp.write(str(srv.server_address[1]))
import os  # noqa: E402
os.rename(PORT_FILE + ".tmp", PORT_FILE)
srv.serve_forever()
