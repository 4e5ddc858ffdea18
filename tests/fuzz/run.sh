#!/usr/bin/env bash
# run.sh - run libFuzzer targets from a copy of their seed corpora.
#   bash tests/fuzz/run.sh BUILD_DIR SECONDS JOBS TARGET...
# (make fuzz / make fuzz-smoke call it; targets are built in
# BUILD_DIR/fuzz/fuzz_<target>). JOBS targets run at a time. Each one runs
# for SECONDS from BUILD_DIR/fuzz-work/<target>/corpus, a fresh copy of
# tests/fuzz/corpus/<target>/ (new inputs never touch the repository),
# with tests/fuzz/<target>.dict when there is one. Crash, leak, sanitizer,
# timeout and OOM inputs land in BUILD_DIR/fuzz-work/<target>/artifacts/,
# the log in BUILD_DIR/fuzz-work/<target>/log. Prints one line per target
# and exits 1 if any target failed.
set -u
if [ $# -lt 4 ]; then
    echo "usage: $0 BUILD_DIR SECONDS JOBS TARGET..." >&2
    exit 2
fi
build=$1 secs=$2 jobs=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
work=$build/fuzz-work

# Longest input per target: a request/response pair or a frame is bigger
# than a JSON object or an encoded body needs to be to find bugs.
max_len() {
    case $1 in
        http1|http2|exchange|frame) echo 65536 ;;
        provider) echo 32768 ;;
        *) echo 16384 ;;
    esac
}

run_one() {
    local t=$1 bin=$build/fuzz/fuzz_$1 dir=$work/$1
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    if [ -d "$here/corpus/$t" ]; then
        cp "$here/corpus/$t/"* "$dir/corpus/" 2>/dev/null
    fi
    local dict=()
    [ -f "$here/$t.dict" ] && dict=("-dict=$here/$t.dict")
    local start end rc
    start=$(date +%s)
    ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:handle_abort=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
        -max_len="$(max_len "$t")" -timeout=20 -print_final_stats=1 \
        -artifact_prefix="$dir/artifacts/" "${dict[@]}" "$dir/corpus" \
        >"$dir/log" 2>&1
    rc=$?
    end=$(date +%s)
    local execs crashes
    execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$dir/log" | tail -n 1)
    crashes=$(find "$dir/artifacts" -type f | wc -l)
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes=1       # died without an artifact (startup failure, ...)
    fi
    if [ "$crashes" -eq 0 ]; then
        echo "fuzz $t: ${execs:-0} execs in $((end - start)) s, 0 crashes" >"$dir/summary"
    else
        echo "fuzz $t: ${execs:-0} execs in $((end - start)) s, $crashes crashes (exit $rc; see $dir/log, $dir/artifacts/)" >"$dir/summary"
    fi
}

mkdir -p "$work"
running=0
for t in "$@"; do
    if [ ! -x "$build/fuzz/fuzz_$t" ]; then
        echo "fuzz $t: no such target ($build/fuzz/fuzz_$t)" >&2
        exit 2
    fi
    rm -f "$work/$t/summary"
    run_one "$t" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

fail=0
for t in "$@"; do
    if [ -f "$work/$t/summary" ]; then
        cat "$work/$t/summary"
        grep -q ', 0 crashes$' "$work/$t/summary" || fail=1
    else
        echo "fuzz $t: no result"
        fail=1
    fi
done
exit $fail
