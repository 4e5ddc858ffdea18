"""A private ClickHouse server for the tests: Debian's clickhouse-server
(18.16) on free loopback ports, in a fresh temp dir, removed on stop().

Start it once per test module: it answers 0.1-0.3 s after the exec here,
and stop() takes about 1 s (its shutdown):

    from chserver import ClickHouse
    CH = None
    def setUpModule():
        global CH
        CH = ClickHouse()
    def tearDownModule():
        CH.stop()

Each test module gets a server of its own (tables and rows do not leak
between modules); use a database per test class if they must not share.

When it cannot start as a user other than root (no clickhouse-server, or
the server refuses), the module is skipped (unittest.SkipTest from
setUpModule). As root - CI - or with TOKENTAP_TEST_REQUIRE_CLICKHOUSE=1 or
CI set, that is a failure instead: CI never passes by skipping."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

SERVER = os.environ.get("TOKENTAP_TEST_CLICKHOUSE_SERVER", "/usr/sbin/clickhouse-server")

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/server.err.log</errorlog><console>0</console></logger>
  <http_port>{http}</http_port><tcp_port>{tcp}</tcp_port><listen_host>127.0.0.1</listen_host>
  <path>{dir}/data/</path><tmp_path>{dir}/tmp/</tmp_path><user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <users_config>users.xml</users_config><default_profile>default</default_profile><default_database>default</default_database>
  <mark_cache_size>5368709</mark_cache_size><uncompressed_cache_size>8589934</uncompressed_cache_size><max_concurrent_queries>100</max_concurrent_queries>
</yandex>
"""

USERS = ("<yandex><profiles><default></default></profiles><users><default><password></password>"
         "<networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota>"
         "</default></users><quotas><default></default></quotas></yandex>\n")

# The span table as tokentapd creates it (tt_ch_ddl, exporter/clickhouse.c),
# for tests that write rows themselves.
DDL = """CREATE TABLE IF NOT EXISTS {db}.{table} (
  span_id String, trace_id String, parent_id String, kind String, name String,
  start_time Int64, end_time Int64, status String, error String,
  provider String, operation String, host String, method String, path String,
  http_status Int64, http_version String, request_model String, response_model String, response_id String,
  stream UInt8, ttft_ms Float64 DEFAULT -1, temperature Nullable(Float64), top_p Nullable(Float64), max_tokens Nullable(Int64),
  finish_reasons String, input_tokens Int64, output_tokens Int64, cache_read_tokens Int64, cache_write_tokens Int64, reasoning_tokens Int64,
  usage_known UInt8, cost_usd Float64, cost_known UInt8, input String, output String, tool_calls String, truncated UInt8,
  pid Int64, exe String, session_id String, tags String, conversation_id String, metadata String, capture String,
  host_name String, service_name String,
  start_date Date MATERIALIZED toDate(intDiv(start_time, 1000000000)),
  version UInt64
) ENGINE = ReplacingMergeTree(version) PARTITION BY toYYYYMM(start_date) ORDER BY span_id"""


def required():
    """Whether a server that does not start fails the tests (CI) rather
    than skipping them."""
    return (os.environ.get("TOKENTAP_TEST_REQUIRE_CLICKHOUSE") == "1"
            or bool(os.environ.get("CI")))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ClickHouseError(RuntimeError):
    """A query the server answered with an exception (its text)."""


class ClickHouse:
    """One clickhouse-server, ready when the constructor returns.

    started_in: seconds from exec to the first answered query."""

    def __init__(self, timeout=30.0, attempts=3):
        self.proc = None
        self.dir = None
        reason = None
        if not os.access(SERVER, os.X_OK):
            reason = "%s is not installed" % SERVER
        else:
            for _ in range(attempts):
                reason = self._start(timeout)
                if reason is None:
                    return
                # Another process may have taken a port between free_port()
                # and the server's bind: try other ports.
                if "Address already in use" not in reason:
                    break
        if required() or os.geteuid() == 0:
            raise RuntimeError("clickhouse-server did not start: " + reason)
        raise unittest.SkipTest("clickhouse-server did not start: " + reason)

    def _start(self, timeout):
        """Start the server; None when it answers, else why not (the server
        stopped and its dir removed)."""
        self.dir = tempfile.mkdtemp(prefix="tt-ch-")
        self.http_port, self.tcp_port = free_port(), free_port()
        while self.tcp_port == self.http_port:
            self.tcp_port = free_port()
        for sub in ("data", "tmp", "user_files", "format_schemas"):
            os.makedirs(os.path.join(self.dir, sub))
        config = os.path.join(self.dir, "config.xml")
        with open(config, "w") as fh:
            fh.write(CONFIG.format(dir=self.dir, http=self.http_port, tcp=self.tcp_port))
        with open(os.path.join(self.dir, "users.xml"), "w") as fh:
            fh.write(USERS)
        # Not under the sanitizer runtime a checked run puts in LD_PRELOAD.
        env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
        t0 = time.monotonic()
        with open(os.path.join(self.dir, "stdout"), "wb") as out:
            self.proc = subprocess.Popen([SERVER, "--config-file=" + config],
                                         cwd=self.dir, env=env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                why = "exited with status %s: %s" % (self.proc.returncode, self._log_tail())
                self.stop()
                return why
            try:
                if self._get("SELECT 1", timeout=1).strip() == "1":
                    self.started_in = time.monotonic() - t0
                    return None
            except (OSError, ClickHouseError):
                pass
            time.sleep(0.05)
        why = "no answer on port %d within %.0f s: %s" % (self.http_port, timeout,
                                                          self._log_tail())
        self.stop()
        return why

    def _log_tail(self, n=1500):
        text = ""
        for f in ("stdout", "server.err.log"):
            try:
                with open(os.path.join(self.dir, f), errors="replace") as fh:
                    text += fh.read()[-n:]
            except OSError:
                pass
        return text.strip() or "(no output)"

    def _get(self, sql, timeout):
        url = "http://127.0.0.1:%d/?query=%s" % (self.http_port, urllib.request.quote(sql))
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode()

    # --- for the tests ------------------------------------------------------
    def query(self, sql, timeout=30):
        """Run one statement (the POST body); its output as text. A server
        exception raises ClickHouseError with the server's message."""
        req = urllib.request.Request("http://127.0.0.1:%d/" % self.http_port,
                                     data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.read().decode()
        except urllib.error.HTTPError as e:
            raise ClickHouseError("%s\n-- in: %s" % (e.read().decode(errors="replace").strip(),
                                                    sql[:300])) from None

    def create_table(self, db="tokentap", table="spans"):
        """The database and the span table, as tokentapd makes them."""
        self.query("CREATE DATABASE IF NOT EXISTS %s" % db)
        self.query(DDL.format(db=db, table=table))

    def insert_rows(self, rows, db="tokentap", table="spans"):
        """INSERT dicts (column: value) with FORMAT JSONEachRow."""
        import json
        self.query("INSERT INTO %s.%s FORMAT JSONEachRow\n%s\n" % (
            db, table, "\n".join(json.dumps(r) for r in rows)))

    def url(self, db="tokentap", table=None):
        """The --store / TOKENTAP_CLICKHOUSE_URL value for db (and table)."""
        u = "clickhouse://127.0.0.1:%d/%s" % (self.http_port, db)
        return u + ("?table=" + table if table else "")

    def stop(self):
        """SIGTERM, wait, SIGKILL; remove the dir. Idempotent."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


if __name__ == "__main__":
    # python3 chserver.py: start one, print its URL and start time, stop it.
    ch = ClickHouse()
    print("%s started in %.2f s: %s" % (ch.query("SELECT version()").strip(),
                                        ch.started_in, ch.url()))
    t = time.monotonic()
    ch.stop()
    print("stopped in %.2f s" % (time.monotonic() - t))
