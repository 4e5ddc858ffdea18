"""A client for the bad-input corpus (test_badinput.py): POSTs one or more
provider-shaped requests and writes to stdout exactly what it received, so
a run with and without tokentap can be compared byte for byte.

  bad_client.py requests URL BODY [HEADER: VALUE ...]
      Python requests; prints the status, then the raw (undecoded) body.
      An exception is printed by class name, exit 3.
  bad_client.py raw URL BODY [--bytewise] [--pipeline N] [HEADER: VALUE ...]
      A socket (TLS for https://, certificate from MOCK_CA) writing the
      request itself: --bytewise one byte per send() (so one SSL_write per
      byte), --pipeline N the request N times back to back, before reading,
      the last one with Connection: close (each copy gets its own
      x-mock-usage in=<100*(i+1)>,out=<i+1>). Reads to EOF; prints it all.
"""
import os
import socket
import ssl
import sys
import time
import urllib.parse


def headers_of(args):
    h = {"content-type": "application/json"}
    for a in args:
        k, v = a.split(":", 1)
        h[k.strip().lower()] = v.strip()
    if "anthropic-version" not in h and "/v1/messages" in sys.argv[2]:
        h["anthropic-version"] = "2023-06-01"
        h["x-api-key"] = "sk-ant-bad"
    elif "x-api-key" not in h:
        h["authorization"] = "Bearer sk-bad"
    return h


def run_requests(url, body, hdrs):
    import requests
    try:
        r = requests.post(url, data=body, headers=hdrs, stream=True,
                          verify=os.environ.get("MOCK_CA"), timeout=60)
        out = sys.stdout.buffer
        out.write(b"status %d\n" % r.status_code)
        for piece in r.raw.stream(65536, decode_content=False):
            out.write(piece)
        out.flush()
    except Exception as e:  # the class is what the app would see
        sys.stdout.flush()
        print("\nexception %s" % type(e).__name__)
        sys.exit(3)


def run_raw(url, body, hdrs, bytewise, pipeline):
    u = urllib.parse.urlsplit(url)
    path = u.path + ("?" + u.query if u.query else "")
    reqs = []
    for i in range(pipeline):
        h = dict(hdrs)
        if pipeline > 1:
            h["x-mock-usage"] = "in=%d,out=%d" % (100 * (i + 1), i + 1)
        if i == pipeline - 1:
            h["connection"] = "close"
        head = "POST %s HTTP/1.1\r\nHost: %s\r\n" % (path, u.netloc)
        head += "".join("%s: %s\r\n" % kv for kv in h.items())
        head += "content-length: %d\r\n\r\n" % len(body)
        reqs.append(head.encode() + body)
    s = socket.create_connection((u.hostname, u.port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if u.scheme == "https":
        ctx = ssl.create_default_context(cafile=os.environ["MOCK_CA"])
        s = ctx.wrap_socket(s, server_hostname=u.hostname)
    data = b"".join(reqs)
    if bytewise:
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            if i % 16 == 15:
                time.sleep(0.0005)
    else:
        s.sendall(data)
    got = []
    while True:
        try:
            b = s.recv(65536)
        except (ConnectionResetError, ssl.SSLError) as e:
            got.append(b"\nexception %s\n" % type(e).__name__.encode())
            break
        if not b:
            break
        got.append(b)
    s.close()
    sys.stdout.buffer.write(b"".join(got))


def main():
    mode, url, body = sys.argv[1], sys.argv[2], sys.argv[3].encode()
    rest = sys.argv[4:]
    bytewise = "--bytewise" in rest
    pipeline = 1
    if "--pipeline" in rest:
        pipeline = int(rest[rest.index("--pipeline") + 1])
        del rest[rest.index("--pipeline"):rest.index("--pipeline") + 2]
    rest = [a for a in rest if a != "--bytewise"]
    hdrs = headers_of(rest)
    if mode == "requests":
        run_requests(url, body, hdrs)
    else:
        run_raw(url, body, hdrs, bytewise, pipeline)


if __name__ == "__main__":
    main()
