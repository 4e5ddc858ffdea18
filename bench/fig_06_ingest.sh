#!/usr/bin/env bash
# bench/fig_06_ingest.sh - figure 6: how fast tokentapd stores spans.
#
# build/bench/ingest times the daemon (socket -> decode/validate -> SQLite,
# acks after commit) and, as the ceiling, the same rows put straight into a
# store with the SQLite C API in one transaction. Rounds are repeated and the
# median daemon round is reported with its own ceiling: both halves of one
# round ran back to back, so their ratio is the least disturbed by whatever
# else this shared machine is doing. Two lines: spans/s against the absolute
# target, and daemon/ceiling against the relative one.
# Progress on stderr; ROW lines on stdout (bench/run.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -n "${QUICK:-}" && "${QUICK}" != 0 ]]; then
    M=50000 ROUNDS=3
else
    M=200000 ROUNDS=3
fi
BIN=build/bench/ingest
DAEMON=build/bin/tokentapd
CMD="make build/bench/ingest build/bin/tokentapd && $BIN $DAEMON $M"

[[ -x "$BIN" && -x "$DAEMON" ]] || make -s "$BIN" "$DAEMON" >&2

rounds=()
for ((r = 1; r <= ROUNDS; r++)); do
    out=$("$BIN" "$DAEMON" "$M")
    # "ROW\t<label>\t<daemon/s>\t<ceiling/s>\t<ratio>"
    line=$(grep -P '^ROW\t' <<<"$out") || { echo "fig_06: no ROW from ingest" >&2; exit 1; }
    IFS=$'\t' read -r _ _ daemon ceiling _ <<<"$line"
    echo "fig_06: round $r/$ROUNDS: daemon $daemon spans/s, ceiling $ceiling spans/s" >&2
    rounds+=("$daemon $ceiling")
done

# The median round by daemon rate.
read -r daemon ceiling < <(printf '%s\n' "${rounds[@]}" | sort -n -k1,1 | sed -n "$(((ROUNDS + 1) / 2))p")

awk -v d="$daemon" -v c="$ceiling" -v m="$M" -v cmd="$CMD" '
function commas(x,    s) {   # 104518 -> 104,518, as the targets are written
    s = sprintf("%d", x)
    while (s ~ /[0-9][0-9][0-9][0-9]/)
        sub(/[0-9][0-9][0-9]($|,)/, ",&", s)
    return s
}
BEGIN {
    ratio = d / c
    printf "ROW|ingest: spans/s stored (%d spans, frames of 100)|%s/s|%s/s|%.2f|≥ 100,000/s|%s|%s\n", m, commas(c), commas(d), ratio, (d >= 100000 ? "ok" : "MISSED"), cmd
    printf "ROW|ingest: daemon / SQLite ceiling|%s/s|%s/s|%.2f|≥ 0.5|%s|%s\n", commas(c), commas(d), ratio, (ratio >= 0.5 ? "ok" : "MISSED"), cmd
}'
