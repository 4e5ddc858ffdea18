#!/usr/bin/env bash
# make demo: an unmodified agent script traced against the local mock
# provider (no network needed), then what it spent.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=build/bin
work=$(mktemp -d /tmp/tokentap-demo.XXXXXX)
trap 'kill "$mock_pid" 2>/dev/null || true; rm -rf "$work"' EXIT
"$BIN/tokentap" mock --port 0 --port-file "$work/port" --cert-out "$work/ca.pem" \
    --usage in=1850,out=240,cached=1024 --quiet &
mock_pid=$!
for _ in $(seq 100); do [ -s "$work/port" ] && break; sleep 0.05; done
port=$(cat "$work/port")
export TOKENTAP_HOME="$work/home" TOKENTAP_DB="$work/home/traces.db"
export TOKENTAP_HOSTS="127.0.0.1:$port=auto"
export LLM_BASE_URL="https://127.0.0.1:$port" LLM_CA_FILE="$work/ca.pem"
echo "\$ tokentap run -- python3 examples/agent.py"
"$BIN/tokentap" run -- python3 examples/agent.py
echo
echo "\$ tokentap cost --by model"
"$BIN/tokentap" cost --by model
echo
trace=$("$BIN/tokentap" ls --json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["trace_id"])')
echo "\$ tokentap show $trace   # process -> conversation -> calls and tools"
"$BIN/tokentap" show "$trace"
echo
echo "\$ tokentap export --format jsonl   # the first LLM span, cut at 600 bytes"
"$BIN/tokentap" export --format jsonl > "$work/spans.jsonl"
grep -m1 '"kind":"llm"' "$work/spans.jsonl" | cut -c1-600
