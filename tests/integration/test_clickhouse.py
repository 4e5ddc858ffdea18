"""Issue #8: a fleet into ClickHouse. Two simulated hosts (two tokentapd's
with their own stores and host names) trace real programs and forward to
one Debian clickhouse-server on loopback; every span lands once (also when
an insert's answer is lost and the batch is sent again), and `tokentap cost
--store clickhouse://...` totals match the hosts' local stores."""
import json
import os
import socket
import threading
import time

from chserver import ClickHouse
from harness import SLOW, TapTest
from test_otlp import Daemon

CH = None


def setUpModule():
    global CH
    CH = ClickHouse()


def tearDownModule():
    if CH:
        CH.stop()


class LoseFirstAnswer:
    """A TCP relay to ClickHouse that forwards the first INSERT whole but
    cuts the connection before its answer reaches the client: the insert
    happened, the sender does not know it, and sends the batch again."""

    def __init__(self, port):
        self.up = port
        self.inserts_cut = 0
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(16)
        self.port = self.srv.getsockname()[1]
        threading.Thread(target=self.loop, daemon=True).start()

    def loop(self):
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.relay, args=(c,), daemon=True).start()

    def relay(self, c):
        u = socket.create_connection(("127.0.0.1", self.up))
        head = b""
        while b"\r\n\r\n" not in head:
            b = c.recv(65536)
            if not b:
                break
            head += b
        hdr, _, body = head.partition(b"\r\n\r\n")
        n = 0
        lines = []
        for line in hdr.split(b"\r\n"):
            low = line.lower()
            if low.startswith(b"content-length:"):
                n = int(line.split(b":")[1])
            if low.startswith(b"expect:"):
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                continue
            if low.startswith(b"connection:"):
                continue
            lines.append(line)
        # one request per connection: the answer ends with the connection
        hdr = b"\r\n".join(lines + [b"Connection: close"])
        while len(body) < n:
            b = c.recv(65536)
            if not b:
                break
            body += b
        u.sendall(hdr + b"\r\n\r\n" + body)
        cut = b"INSERT" in hdr and self.inserts_cut == 0
        if cut:
            self.inserts_cut += 1
        answer = b""
        u.settimeout(10)
        while True:
            try:
                b = u.recv(65536)
            except OSError:
                break
            if not b:
                break
            answer += b
            if cut and b"\r\n\r\n" in answer:
                break
        u.close()
        if not cut:
            c.sendall(answer)
        c.close()


class ClickHouseFleet(TapTest):
    def setUp(self):
        super().setUp()
        self.daemons = []

    def tearDown(self):
        for d in self.daemons:
            if d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait()
        super().tearDown()

    def host_env(self, name, url):
        home = os.path.join(self.home, name)
        os.makedirs(home, mode=0o700)
        return self.env(TOKENTAP_HOME=home, TOKENTAP_DB=os.path.join(home, "traces.db"),
                        TOKENTAP_CLICKHOUSE_URL=url,
                        OTEL_RESOURCE_ATTRIBUTES="host.name=" + name,
                        TOKENTAP_FORWARD_BACKOFF_MS="100",
                        TOKENTAP_FORWARD_BACKOFF_MAX_MS="500",
                        TOKENTAP_CONFIG=os.devnull)

    def start(self, env):
        class T:
            pass
        t = T()
        t.home = env["TOKENTAP_HOME"]
        d = Daemon(t, env)
        self.daemons.append(d)
        return d

    def work(self, env, n):
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "requests", "--api", "openai", "--n", str(n),
            "--header", "x-mock-usage: in=1000,out=200,cached=400"], env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        r = self.run_traced(self.client("llm_call.py") + [
            "--lib", "httpx", "--api", "anthropic", "--stream", "--n", str(n),
            "--header", "x-mock-usage: in=2000,out=100,cached=500,cache_write=300"],
            env=env)
        self.assertEqual(r.rc, 0, r.stderr)

    def wait_rows(self, table, want, timeout=30):
        deadline = time.time() + timeout * SLOW
        n = -1
        while time.time() < deadline:
            try:
                n = int(CH.query("SELECT count() FROM %s FINAL" % table).strip())
            except Exception:
                n = -1
            if n >= want:
                return n
            time.sleep(0.2)
        return n

    def test_two_hosts_land_once_each_and_cost_matches(self):
        db = "fleet_%d" % os.getpid()
        url = CH.url(db)
        relay = LoseFirstAnswer(CH.http_port)
        env_a = self.host_env("host-a", "clickhouse://127.0.0.1:%d/%s" % (relay.port, db))
        env_b = self.host_env("host-b", url)
        da, db_ = self.start(env_a), self.start(env_b)
        self.work(env_a, 5)
        self.work(env_b, 3)
        local_a = self.spans(env_a, kinds=None)
        local_b = self.spans(env_b, kinds=None)
        ids_a = {s["span_id"] for s in local_a}
        ids_b = {s["span_id"] for s in local_b}
        self.assertFalse(ids_a & ids_b)
        total = len(ids_a) + len(ids_b)
        got = self.wait_rows(db + ".spans", total)
        self.assertEqual(da.stop(), 0)
        self.assertEqual(db_.stop(), 0)
        self.assertEqual(got, total, da.logtext() + db_.logtext())
        # the relay cut one answer: that batch was inserted twice, yet FINAL
        # (ReplacingMergeTree by span_id) shows each span once
        self.assertEqual(relay.inserts_cut, 1)
        raw = int(CH.query("SELECT count() FROM %s.spans" % db).strip())
        rows = CH.query("SELECT span_id, host_name, count() FROM %s.spans FINAL "
                        "GROUP BY span_id, host_name FORMAT TSV" % db)
        seen = {}
        for line in rows.splitlines():
            sid, host, n = line.split("\t")
            self.assertEqual(n, "1", line)
            seen[sid] = host
        self.assertEqual({k for k, v in seen.items() if v == "host-a"}, ids_a)
        self.assertEqual({k for k, v in seen.items() if v == "host-b"}, ids_b)
        self.assertGreater(raw, 0)
        ca = json.loads(self.tokentap("stats", "--json", env=env_a).stdout)["counters"]
        self.assertGreaterEqual(ca["clickhouse_retries"], 1)
        self.assertEqual(ca["clickhouse_dropped"] + ca["clickhouse_queue_dropped"], 0)
        # the fleet's cost = the sum of the two hosts' own stores
        fleet = json.loads(self.tokentap("cost", "--store", url, "--json", env=env_b).stdout)
        la = json.loads(self.tokentap("cost", "--json", env=env_a).stdout)["total"]
        lb = json.loads(self.tokentap("cost", "--json", env=env_b).stdout)["total"]
        ft = fleet["total"]
        self.assertEqual(ft["calls"], la["calls"] + lb["calls"])
        self.assertEqual(ft["calls"], 16)
        for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                  "cache_write_tokens", "reasoning_tokens"):
            self.assertEqual(ft[k], la[k] + lb[k], k)
        self.assertAlmostEqual(ft["cost_usd"], la["cost_usd"] + lb["cost_usd"], places=9)
        by_host = json.loads(self.tokentap("cost", "--store", url, "--by", "hostname",
                                           "--json", env=env_b).stdout)
        calls = {g["hostname"]: g["calls"] for g in by_host["groups"]}
        self.assertEqual(calls, {"host-a": 10, "host-b": 6})
        ls = json.loads(self.tokentap("ls", "--store", url, "--json", env=env_b).stdout)
        self.assertEqual(sum(t["calls"] for t in ls), 16)
        self.assertEqual(len(ls), 4)        # two runs per host

    def test_clickhouse_down_then_up(self):
        db = "late_%d" % os.getpid()
        relay_port = CH.http_port
        # an address where nothing listens yet: the queue holds the spans
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
        s.close()
        env = self.host_env("host-c", "clickhouse://127.0.0.1:%d/%s" % (dead, db))
        d = self.start(env)
        self.work(env, 2)
        ids = {s["span_id"] for s in self.spans(env, kinds=None)}
        time.sleep(1 * SLOW)
        self.assertIn("retrying", d.logtext())
        self.assertEqual(d.stop(), 0)        # queue kept on disk
        qdir = os.path.join(env["TOKENTAP_HOME"], "forward", "clickhouse")
        self.assertTrue([f for f in os.listdir(qdir) if f.endswith(".q")])
        env["TOKENTAP_CLICKHOUSE_URL"] = CH.url(db)   # the server "comes up"
        self.assertEqual(relay_port, CH.http_port)
        d = self.start(env)
        got = self.wait_rows(db + ".spans", len(ids))
        self.assertEqual(d.stop(), 0)
        self.assertEqual(got, len(ids), d.logtext())
        have = set(CH.query("SELECT span_id FROM %s.spans FINAL FORMAT TSV" % db).split())
        self.assertEqual(have, ids)
