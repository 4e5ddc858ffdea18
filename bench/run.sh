#!/usr/bin/env bash
# bench/run.sh - `make bench` (QUICK=1: fewer rounds, under a minute).
#
# Every figure is a script bench/fig_NN_*.{sh,py} that measures with and
# without tokentap in one run (same client, same server, interleaved rounds,
# medians) and prints, besides progress on stderr, one line per figure:
#   ROW|figure|without|with|ratio|target|verdict|command
# (verdict: ok, MISSED, info for figures without a target, or unclear for
# a noisy figure whose interval holds its target: benchlib.verdict_at_most
# and verdict_at_least, `python3 bench/benchlib.py ratio` for the shell
# figures;
# the figure
# name must not contain "|", the command may). This script
# runs them in order, prints the table, and (full runs only) writes it with
# the machine and the date to docs/BENCHMARKS.md. A figure that fails stops
# the bench: a benchmark that silently measured nothing is worse than none.
set -euo pipefail
cd "$(dirname "$0")/.."
export QUICK="${QUICK:-}"
[[ "$QUICK" == 0 ]] && QUICK=

rows=()
for f in bench/fig_*; do
    case "$f" in
    *.sh) out=$(bash "$f") ;;
    *.py) out=$(/usr/bin/python3 "$f") ;;
    *) continue ;;
    esac
    while IFS= read -r line; do
        [[ "$line" == ROW\|* ]] && rows+=("${line#ROW|}")
    done <<<"$out"
done

table() {
    printf '| figure | without | with | ratio | target | verdict |\n'
    printf '|---|---|---|---|---|---|\n'
    for r in "${rows[@]}"; do
        IFS='|' read -r fig a b ratio target verdict cmd <<<"$r"
        printf '| %s | %s | %s | %s | %s | %s |\n' "$fig" "$a" "$b" "$ratio" "$target" "$verdict"
    done
    printf '\nCommands (each reproduces its line):\n\n'
    for r in "${rows[@]}"; do
        IFS='|' read -r fig a b ratio target verdict cmd <<<"$r"
        printf -- '- %s: `%s`\n' "$fig" "$cmd"
    done
}

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo
echo "tokentap bench${QUICK:+ (QUICK)} — $(date -u +%Y-%m-%d), $machine"
echo
table
if [[ -z "$QUICK" ]]; then
    {
        echo "# Benchmarks"
        echo
        echo "What tokentap costs the programs it traces, as ratios measured side by side"
        echo "in one run of \`make bench\` (interleaved rounds, medians). Machine: $machine."
        echo "Date: $(date -u +%Y-%m-%d). Absolute numbers are this machine's; the ratios"
        echo "are the figures. Regenerate with \`make bench\`."
        echo
        table
    } > docs/BENCHMARKS.md.tmp
    mv docs/BENCHMARKS.md.tmp docs/BENCHMARKS.md
    echo
    echo "(written to docs/BENCHMARKS.md)"
fi
