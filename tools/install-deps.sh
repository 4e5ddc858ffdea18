#!/usr/bin/env bash
# Install what tokentap needs to build and test, from Debian bookworm's
# packages. Run as root (or with sudo). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config ca-certificates gcc-multilib \
    libssl-dev libcurl4-openssl-dev libmsgpack-dev libcriterion-dev \
    libjansson-dev zlib1g-dev libbrotli-dev libzstd-dev libnghttp2-dev \
    libsqlite3-dev sqlite3 libmicrohttpd-dev \
    libzydis-dev musl-tools golang-go \
    curl procps python3 python3-requests python3-httpx python3-h2 \
    python3-websockets \
    clang llvm valgrind strace \
    chromium chromium-driver \
    clickhouse-server \
    golang-go \
    >/dev/null
# Node.js runs the OTLP test receiver (tests/otlp); keep a node already on PATH.
if ! command -v node >/dev/null 2>&1; then
    $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
if ! command -v npm >/dev/null 2>&1; then
    echo "tokentap: npm not found (node is $(command -v node)); install npm" >&2
    exit 1
fi
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
npm ci --no-audit --no-fund --loglevel=error --prefix "$REPO/tests/otlp" >/dev/null
# Official Node.js builds (18, 20, 22, 24: OpenSSL linked in), the OpenAI and
# Anthropic SDKs and Bun, for the inline-hook tests (tests/node).
npm ci --no-audit --no-fund --loglevel=error --prefix "$REPO/tests/node" >/dev/null
# The gateway tests (tests/gateway): the official OpenAI and Anthropic SDKs,
# and Bun (@oven/bun-linux-x64: one executable with its own TLS).
npm ci --no-audit --no-fund --loglevel=error --prefix "$REPO/tests/gateway" >/dev/null
npm ci --no-audit --no-fund --loglevel=error --prefix "$REPO/tests/ui" >/dev/null
# The WebSocket tests (tests/ws): Node's `ws` package.
npm ci --no-audit --no-fund --loglevel=error --prefix "$REPO/tests/ws" >/dev/null
echo "tokentap: build and test dependencies installed"
