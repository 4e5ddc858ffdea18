#!/usr/bin/env bash
# bench/install-bench-deps.sh - what some `make bench` figures need beyond
# tools/install-deps.sh (which stays lean for CI): mitmproxy (mitmdump) for
# fig_08, the proxy alternative. Debian bookworm's package. Run as root (or
# with sudo). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if command -v mitmdump >/dev/null 2>&1; then
    echo "tokentap bench: mitmdump already installed ($(command -v mitmdump))"
    exit 0
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends mitmproxy >/dev/null
command -v mitmdump >/dev/null 2>&1 || { echo "tokentap bench: mitmproxy installed but mitmdump not on PATH" >&2; exit 1; }
echo "tokentap bench: mitmproxy installed ($(mitmdump --version 2>/dev/null | head -1))"
