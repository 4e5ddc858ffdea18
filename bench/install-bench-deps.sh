#!/usr/bin/env bash
# bench/install-bench-deps.sh - what some `make bench` figures need beyond
# tools/install-deps.sh (which stays lean for CI): mitmproxy (mitmdump) for
# fig_08, the proxy alternative; valgrind for fig_14 (instructions counted)
# and strace for fig_18 (system calls counted). Debian bookworm's packages.
# Run as root (or with sudo). Idempotent.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
pkgs=()
command -v mitmdump >/dev/null 2>&1 || pkgs+=(mitmproxy)
command -v valgrind >/dev/null 2>&1 || pkgs+=(valgrind)
command -v strace >/dev/null 2>&1 || pkgs+=(strace)
if [ ${#pkgs[@]} -eq 0 ]; then
    echo "tokentap bench: mitmdump, valgrind and strace already installed"
    exit 0
fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
for t in mitmdump valgrind strace; do
    command -v $t >/dev/null 2>&1 || { echo "tokentap bench: $t not on PATH after installing ${pkgs[*]}" >&2; exit 1; }
done
echo "tokentap bench: installed ${pkgs[*]}"
