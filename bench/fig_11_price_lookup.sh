#!/usr/bin/env bash
# bench/fig_11_price_lookup.sh - issue #12: the price lookup a priced span
# runs, over the whole built-in catalogue, for hits and misses (target: the
# slowest id of each kind at most 2 µs of CPU time), with the built-in table
# alone and with the whole catalogue as the price file in effect (asked
# first on every span: an auditor's imported copy). QUICK: 20000 lookups
# per id.
#
# Then the same ids under valgrind --tool=callgrind (1000 lookups each, the
# counters zeroed and dumped around each id by client requests): the
# instructions per lookup, which do not depend on the load of the machine
# (the times do). Without valgrind the instruction rows are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
N=200000
[[ -n "${QUICK:-}" && "$QUICK" != 0 ]] && N=20000
build/bench/price_lookup "$N"

command -v valgrind >/dev/null || { echo "fig 11: no valgrind, instruction counts skipped" >&2; exit 0; }
K=1000
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" build/bench/price_lookup "$K" 2>"$dir/vg.log" ||
    { cat "$dir/vg.log" >&2; exit 1; }
# Each dump names its id: "Trigger: Client Request: PROVIDER/MODEL hit|miss K";
# its "summary:" is the instructions of K lookups.
python3 - "$dir" <<'PY'
import glob, os, sys
rows = {}
for f in glob.glob(os.path.join(sys.argv[1], "cg.*.*")):
    what = summ = None
    for line in open(f):
        if line.startswith("desc: Trigger: Client Request: "):
            what = line.split(": ", 3)[-1].strip()
        elif line.startswith("summary: "):
            summ = int(line.split()[1])
    if not what or summ is None:
        continue
    name, kind, k = what.rsplit(" ", 2)
    ir = summ / int(k)
    file = name.startswith("file:")
    rows.setdefault((file, kind), []).append((ir, name[5:] if file else name))
    sys.stderr.write("price_lookup %-5s %-66s %7.0f instructions\n" % (kind, name, ir))
if len(rows) != 4:
    sys.exit("fig 11: callgrind dumps missing (%s)" % sorted(rows))
for file in (False, True):
    for kind in ("hit", "miss"):
        r = rows[(file, kind)]
        mean = sum(x for x, _ in r) / len(r)
        worst = max(r)
        print("ROW|11. price lookup%s, %s, instructions per lookup (callgrind, %d ids, mean; "
              "slowest %s %.0f)|—|%.0f|—|—|info|valgrind --tool=callgrind "
              "build/bench/price_lookup 1000"
              % (" with data/catalogue.tsv as the price file" if file else "", kind, len(r),
                 worst[1], worst[0], mean))
PY
