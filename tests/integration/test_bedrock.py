"""Issue #4, AWS Bedrock runtime: real clients (curl, requests, urllib)
through the mock's /model/{id}/converse, /converse-stream, /invoke and
/invoke-with-response-stream; the binary event streams are decoded by
tokentap, not by the clients. Costs are recomputed by hand from the
data/catalogue.tsv row of us.anthropic.claude-3-5-haiku-20241022-v1:0
(aws.bedrock: input 0.80, output 4.00, cache read 0.08, cache write 1.00
USD per 1M tokens)."""
import json
import os

from harness import PY, TapTest

MODEL = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
MODEL_PATH = "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/"
PRICE = dict(inp=0.80, out=4.00, cr=0.08, cw=1.00)
# What a SigV4-signed boto3 request carries; none of it may be stored.
SIG = "f00dfeedfacecafe0123456789abcdef0123456789abcdef0123456789abcdef"
AKID = "AKIAIOSFODNN7EXAMPLE"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN"
# Read by curl from a file (-H @file), so the secrets are in no argv:
# `tokentap run` records the command line it ran.
SIGV4_HEADERS = ("authorization: AWS4-HMAC-SHA256 Credential=%s/20260101/"
                 "us-east-1/bedrock/aws4_request, SignedHeaders=host;x-amz-date, "
                 "Signature=%s\nx-amz-date: 20260101T000000Z\n"
                 "x-amz-security-token: %s\n" % (AKID, SIG, TOKEN))

CONVERSE = {
    "messages": [{"role": "user", "content": [{"text": "hi"}]}],
    "system": [{"text": "be brief"}],
    "inferenceConfig": {"maxTokens": 64, "temperature": 0.2},
}
INVOKE = {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 100,
          "messages": [{"role": "user", "content": "hi"}]}


def cost(inp, out, cr=0, cw=0):
    return ((inp - cr - cw) * PRICE["inp"] + cr * PRICE["cr"] +
            cw * PRICE["cw"] + out * PRICE["out"]) / 1e6


class Bedrock(TapTest):
    def curl(self, op, body, *extra):
        hdrs = os.path.join(self.home, "sigv4.hdr")
        with open(hdrs, "w") as f:
            f.write(SIGV4_HEADERS)
        return ["curl", "--http1.1", "-sS", "--cacert", self.m.cert,
                self.m.base + MODEL_PATH + op,
                "-H", "content-type: application/json", "-H", "@" + hdrs,
                "-d", json.dumps(body)] + list(extra)

    def py(self, code):
        return [PY, "-c", code]

    def one(self, r):
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(len(r.spans), 1, r.stderr)
        s = r.spans[0]
        self.assertContract(s)
        self.assertEqual(s["provider"], "aws.bedrock")
        self.assertEqual(s["operation"], "chat")
        self.assertEqual(s["request_model"], MODEL)
        self.assertEqual(s["name"], "chat " + MODEL)
        return s

    def assertCostHand(self, s, inp, out, cr=0, cw=0):
        self.assertTrue(s["cost_known"], s)
        self.assertAlmostEqual(s["cost_usd"], cost(inp, out, cr, cw), places=12)

    def test_curl_converse(self):
        r = self.run_traced(self.curl(
            "converse", CONVERSE,
            "-H", "x-mock-usage: in=1000,out=50,cached=200,cache_write=100"))
        s = self.one(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertFalse(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"], s["cache_write_tokens"]),
                         (1000, 50, 200, 100))
        self.assertCostHand(s, 1000, 50, cr=200, cw=100)
        self.assertEqual(s["finish_reasons"], ["end_turn"])
        self.assertEqual(s["max_tokens"], 64)
        self.assertEqual(s["input"][0], {"role": "system",
                                         "content": [{"text": "be brief"}]})
        self.assertEqual(s["output"], [{"text": "Hello from the mock provider."}])

    def test_sigv4_headers_never_stored(self):
        r = self.run_traced(self.curl("converse", CONVERSE))
        s = self.one(r)
        dumped = json.dumps(r.spans)
        raw = b""
        for f in os.listdir(self.home):
            p = os.path.join(self.home, f)
            if os.path.isfile(p) and f != "sigv4.hdr":
                raw += open(p, "rb").read()
        for secret in (SIG, AKID, TOKEN, "AWS4-HMAC-SHA256", "x-amz-date"):
            self.assertNotIn(secret, dumped)
            self.assertNotIn(secret.encode(), raw)
        self.assertEqual(s["path"], MODEL_PATH + "converse")

    def test_requests_converse_stream_tool(self):
        body = dict(CONVERSE, toolConfig={"tools": [{"toolSpec": {
            "name": "get_weather", "inputSchema": {"json": {
                "type": "object", "properties": {"city": {"type": "string"}}}}}}]})
        code = (
            "import json, os, requests\n"
            "r = requests.post(os.environ['MOCK_BASE'] + %r, data=%r,\n"
            "    headers={'content-type': 'application/json',\n"
            "             'x-mock-usage': 'in=3000,out=40,cached=2000'}, stream=True)\n"
            "assert r.headers['content-type'] == 'application/vnd.amazon.eventstream'\n"
            "n = sum(len(c) for c in r.iter_content(chunk_size=7))\n"
            "print(n)\n" % (MODEL_PATH + "converse-stream", json.dumps(body)))
        r = self.run_traced(self.py(code))
        s = self.one(r)
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_read_tokens"]), (3000, 40, 2000))
        self.assertCostHand(s, 3000, 40, cr=2000)
        self.assertEqual(s["finish_reasons"], ["tool_use"])
        self.assertEqual(len(s["tool_calls"]), 1)
        self.assertEqual(s["tool_calls"][0]["name"], "get_weather")
        self.assertEqual(json.loads(s["tool_calls"][0]["arguments"]),
                         {"city": "mock"})
        self.assertGreaterEqual(s["ttft_ms"], 0)

    def test_requests_converse_stream_exception(self):
        code = (
            "import os, requests\n"
            "r = requests.post(os.environ['MOCK_BASE'] + %r, data=%r,\n"
            "    headers={'x-mock-stream-error': '1'}, stream=True)\n"
            "for c in r.iter_content(chunk_size=None): pass\n"
            % (MODEL_PATH + "converse-stream", json.dumps(CONVERSE)))
        s = self.one(self.run_traced(self.py(code)))
        self.assertEqual(s["status"], "error")
        self.assertIn("modelStreamErrorException", s["error"])
        self.assertFalse(s["usage_known"])

    def test_urllib_invoke(self):
        code = (
            "import json, os, urllib.request\n"
            "req = urllib.request.Request(os.environ['MOCK_BASE'] + %r, data=%r.encode(),\n"
            "    headers={'content-type': 'application/json',\n"
            "             'x-mock-usage': 'in=500,out=60,cache_write=100'})\n"
            "print(json.load(urllib.request.urlopen(req))['usage'])\n"
            % (MODEL_PATH + "invoke", json.dumps(INVOKE)))
        s = self.one(self.run_traced(self.py(code)))
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertFalse(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"],
                          s["cache_write_tokens"]), (500, 60, 100))
        self.assertCostHand(s, 500, 60, cw=100)
        self.assertEqual(s["finish_reasons"], ["end_turn"])

    def test_urllib_invoke_with_response_stream(self):
        code = (
            "import os, urllib.request\n"
            "req = urllib.request.Request(os.environ['MOCK_BASE'] + %r, data=%r.encode(),\n"
            "    headers={'x-mock-usage': 'in=800,out=25'})\n"
            "print(len(urllib.request.urlopen(req).read()))\n"
            % (MODEL_PATH + "invoke-with-response-stream", json.dumps(INVOKE)))
        s = self.one(self.run_traced(self.py(code)))
        self.assertEqual(s["status"], "ok", s.get("error"))
        self.assertTrue(s["stream"])
        self.assertEqual((s["input_tokens"], s["output_tokens"]), (800, 25))
        self.assertCostHand(s, 800, 25)
        self.assertEqual(s["output"][0]["type"], "text")

    def test_curl_error_status(self):
        r = self.run_traced(self.curl("converse", CONVERSE,
                                      "-H", "x-mock-status: 429"))
        s = self.one(r)
        self.assertEqual(s["status"], "error")
        self.assertEqual(s["http_status"], 429)
        self.assertEqual(s["error"], "HTTP 429: Rate limit reached (mock).")
        self.assertFalse(s["usage_known"])
        self.assertFalse(s["cost_known"])

    def test_curl_stream_cut_short(self):
        r = self.run_traced(self.curl("converse-stream", CONVERSE,
                                      "-H", "x-mock-cut: 3", "-o", "/dev/null"))
        s = r.spans[0]
        self.assertEqual(len(r.spans), 1, r.stderr)
        self.assertEqual(s["status"], "error")
        self.assertFalse(s["usage_known"])
