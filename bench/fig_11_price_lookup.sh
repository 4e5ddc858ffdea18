#!/usr/bin/env bash
# bench/fig_11_price_lookup.sh - issue #12: the price lookup a priced span
# runs, over the whole built-in catalogue, for hits and misses (target: the
# slowest id of each kind at most 2 µs). QUICK: 20000 lookups per id.
set -euo pipefail
cd "$(dirname "$0")/.."
N=200000
[[ -n "${QUICK:-}" && "$QUICK" != 0 ]] && N=20000
build/bench/price_lookup "$N"
