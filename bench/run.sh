#!/usr/bin/env bash
# Swarm's WebAssembly engine against native code, workload by workload.
#
#   bench/run.sh [--runs N] [--quick] [--swarm PATH] [--engine swarm|wabt]
#                [--only NAME,NAME...] [--cc CC] [--before PATH]
#
# For each examples/X.c: builds it natively (CC -O2, default gcc) with
# bench/native_main.c, then times, as whole processes run the way a user runs
# them, `X-native A..B` and `swarm run examples/X.wasm --range A..B`,
# alternating the two, N times each (default 5), and takes the medians. Both
# must print the same result; a difference is an error in the table and makes
# the script exit 1. Prints the machine and a markdown table on stdout
# (progress goes to stderr), so `bench/run.sh > out.md` keeps just the report.
#
#   --quick         ranges about 10x smaller (seconds instead of minutes)
#   --engine wabt   time wabt's interpreter (spectest-interp) instead of swarm
#   --only LIST     only these workloads, e.g. --only fib,sieve
#   --before PATH   also time another swarm binary (an older build) in the same
#                   runs, alternating, and add its column and swarm/before
#
# Never part of `make test`: timings on a shared machine are not pass/fail.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# name  kind  full-range  quick-range. Full ranges take roughly 0.3-1 s
# natively on a 2020s x86-64 core; quick ones about a tenth of that.
workloads=(
    "collatz    int-loop 1..3000000   1..300000"
    "primes     int-loop 0..3000000   0..600000"
    "mandelbrot float    0..1024      480..512"
    "nbody      float    0..10000     0..1000"
    "sieve      memory   0..300000000 0..30000000"
    "matmul     memory   0..1280      0..128"
    "sort       memory   0..100       0..10"
    "fib        calls    0..39        0..34"
    "calls      calls    0..1000000   0..100000"
    "hash64     i64      0..60000000  0..6000000"
)

command_line="bench/run.sh${*:+ $*}"
runs=5
quick=0
swarm=$root/build/swarm
engine=swarm
only=
cc=${CC:-gcc}
before=

usage() {
    sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"
}

while [ $# -gt 0 ]; do
    case $1 in
    --runs)
        runs=${2:?--runs needs a number}
        shift 2
        ;;
    --runs=*)
        runs=${1#*=}
        shift
        ;;
    --quick)
        quick=1
        shift
        ;;
    --swarm)
        swarm=${2:?--swarm needs a path}
        shift 2
        ;;
    --swarm=*)
        swarm=${1#*=}
        shift
        ;;
    --engine)
        engine=${2:?--engine needs swarm or wabt}
        shift 2
        ;;
    --engine=*)
        engine=${1#*=}
        shift
        ;;
    --only)
        only=${2:?--only needs a list}
        shift 2
        ;;
    --only=*)
        only=${1#*=}
        shift
        ;;
    --before)
        before=${2:?--before needs a path}
        shift 2
        ;;
    --before=*)
        before=${1#*=}
        shift
        ;;
    --cc)
        cc=${2:?--cc needs a compiler}
        shift 2
        ;;
    --cc=*)
        cc=${1#*=}
        shift
        ;;
    -h | --help)
        usage
        exit 0
        ;;
    *)
        echo "bench/run.sh: unknown argument '$1'" >&2
        usage >&2
        exit 2
        ;;
    esac
done

case $runs in
'' | *[!0-9]* | 0)
    echo "bench/run.sh: --runs wants a positive number" >&2
    exit 2
    ;;
esac
case $engine in
swarm)
    engine_label=swarm
    if [ ! -x "$swarm" ]; then
        echo "bench/run.sh: no swarm binary at $swarm (run make first, or pass --swarm)" >&2
        exit 1
    fi
    ;;
wabt)
    engine_label="wabt"
    command -v spectest-interp >/dev/null || {
        echo "bench/run.sh: spectest-interp not found (apt-get install wabt)" >&2
        exit 1
    }
    ;;
*)
    echo "bench/run.sh: --engine is swarm or wabt" >&2
    exit 2
    ;;
esac
if [ -n "$before" ]; then
    [ "$engine" = swarm ] || {
        echo "bench/run.sh: --before compares two swarm binaries; it needs --engine swarm" >&2
        exit 2
    }
    [ -x "$before" ] || {
        echo "bench/run.sh: no swarm binary at $before (--before)" >&2
        exit 1
    }
fi
command -v "$cc" >/dev/null || {
    echo "bench/run.sh: C compiler '$cc' not found" >&2
    exit 1
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Microseconds since the epoch; bash 5 has it without a fork.
now_us() {
    if [ -n "${EPOCHREALTIME:-}" ]; then
        local t=${EPOCHREALTIME/[.,]/}
        echo "$t"
    else
        echo $(($(date +%s%N) / 1000))
    fi
}

# Runs a command once with its output in $tmp/out; prints the wall time in us.
# Returns the command's exit code.
time_once() {
    local t0 t1 rc=0
    t0=$(now_us)
    "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    t1=$(now_us)
    echo $((t1 - t0))
    return $rc
}

# Median of the numbers on stdin, in ms with one decimal.
median_ms() {
    sort -n | awk '{ v[NR] = $1 } END {
        m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.1f", m / 1000 }'
}

# The last integer in a program's output (see tests/integration/test_examples.sh).
# wabt prints results unsigned: turn them signed as swarm and native print them.
result_of() {
    local v
    if [ "$engine" = wabt ] && [ "$1" = engine ]; then
        v=$(head -n 1 "$tmp/out" | grep -oE -- '-?[0-9]+' | tail -n 1)
        if [ -n "$v" ]; then
            v=$((v)) # bash wraps a u64 to its signed value
            [ "$abi" = i32 ] && [ "$v" -gt 2147483647 ] && v=$((v - 4294967296))
        fi
        echo "$v"
    else
        tail -n 1 "$tmp/out" | grep -oE -- '-?[0-9]+' | tail -n 1
    fi
}

cpu=$(grep -m 1 -E '^(model name|Hardware|Processor)' /proc/cpuinfo 2>/dev/null | cut -d: -f2- |
    sed 's/^ *//' || true)
[ -n "$cpu" ] || cpu=$(uname -m)
cores=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo "?")
first_line() {
    "$@" 2>/dev/null | head -n 1 || true
}
clang_bin=$(command -v clang || command -v clang-14 || true)

echo "## Machine"
echo
echo "- CPU: $cpu, $cores cores ($(uname -srm))"
echo "- native: $(first_line "$cc" --version), \`$cc -O2\`"
[ -n "$clang_bin" ] && echo "- wasm built by: $(first_line "$clang_bin" --version)"
if [ "$engine" = swarm ]; then
    echo "- engine: $(first_line "$swarm" --version) (\`swarm run\`)"
    [ -n "$before" ] && echo "- before: \`$before\` ($(first_line "$before" --version)), timed in the same runs"
else
    echo "- engine: wabt $(first_line spectest-interp --version) interpreter (spectest-interp: the engine of wasm-interp, which cannot pass arguments)"
fi
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), load average $(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')"
echo "- command: \`$command_line\`: the median of $runs runs each, whole-process wall time"
echo
if [ -n "$before" ]; then
    echo "| workload | kind | range | native ms | before ms | $engine_label ms | before ratio | ratio | $engine_label / before |"
    echo "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"
else
    echo "| workload | kind | range | native ms | $engine_label ms | ratio |"
    echo "| --- | --- | --- | ---: | ---: | ---: |"
fi

errors=0
ratios=()
before_ratios=()
changes=()
for w in "${workloads[@]}"; do
    read -r name kind full small <<<"$w"
    if [ -n "$only" ] && [[ ",$only," != *",$name,"* ]]; then
        continue
    fi
    range=$full
    [ $quick = 1 ] && range=$small
    lo=${range%..*}
    hi=${range#*..}
    src=$root/examples/$name.c
    wasm=$root/examples/$name.wasm
    echo "bench: $name $range" >&2

    def=
    abi=i32
    if grep -qE 'int64_t execute\(int64_t' "$src"; then
        def=-DEXAMPLE_I64 abi=i64
    fi
    # -ffp-contract=off changes nothing on x86-64 -O2; elsewhere it keeps FMA
    # out of the native build, as wasm has none, so float results agree.
    if ! "$cc" -std=gnu11 -O2 -ffp-contract=off $def -o "$tmp/$name-native" \
        "$root/bench/native_main.c" "$src" -lm 2>"$tmp/err"; then
        echo "| $name | $kind | $range | error: native build failed | | |"
        errors=$((errors + 1))
        continue
    fi
    native_cmd=("$tmp/$name-native" "$range")
    if [ "$engine" = wabt ]; then
        # Module and one invoke, as wast2json writes them (unsigned bit patterns).
        if [ $abi = i32 ]; then
            ulo=$((lo & 0xffffffff)) uhi=$((hi & 0xffffffff))
        else
            ulo=$(printf '%u' "$lo") uhi=$(printf '%u' "$hi")
        fi
        cp "$wasm" "$tmp/$name.wasm"
        printf '{"source_filename":"x.wast","commands":[{"type":"module","line":1,"filename":"%s.wasm"},{"type":"action","line":2,"action":{"type":"invoke","field":"execute","args":[{"type":"%s","value":"%s"},{"type":"%s","value":"%s"}]},"expected":[{"type":"%s"}]}]}\n' \
            "$name" "$abi" "$ulo" "$abi" "$uhi" "$abi" >"$tmp/$name.json"
        engine_cmd=(spectest-interp "$tmp/$name.json")
    else
        engine_cmd=("$swarm" run "$wasm" --range "$range")
    fi

    : >"$tmp/native.times"
    : >"$tmp/engine.times"
    : >"$tmp/before.times"
    native_result=
    engine_result=
    problem=
    for ((r = 1; r <= runs; r++)); do
        if ! t=$(time_once "${native_cmd[@]}"); then
            problem="native exited non-zero"
            break
        fi
        echo "$t" >>"$tmp/native.times"
        got=$(result_of native)
        if [ -z "$native_result" ]; then
            native_result=$got
        elif [ "$got" != "$native_result" ]; then
            problem="native results differ between runs"
            break
        fi

        rc=0
        t=$(time_once "${engine_cmd[@]}") || rc=$?
        if [ $rc -ne 0 ]; then
            problem="$engine_label exit $rc: $(head -c 120 "$tmp/err" | tr '\n|' '  ')"
            break
        fi
        echo "$t" >>"$tmp/engine.times"
        got=$(result_of engine)
        if [ -z "$engine_result" ]; then
            engine_result=$got
        elif [ "$got" != "$engine_result" ]; then
            problem="$engine_label results differ between runs"
            break
        fi
        if [ "$engine_result" != "$native_result" ]; then
            problem="result mismatch: native $native_result, $engine_label $engine_result"
            break
        fi
        if [ -n "$before" ]; then
            rc=0
            tb=$(time_once "$before" run "$wasm" --range "$range") || rc=$?
            if [ $rc -ne 0 ]; then
                problem="before exit $rc: $(head -c 120 "$tmp/err" | tr '\n|' '  ')"
                break
            fi
            echo "$tb" >>"$tmp/before.times"
            got=$(result_of before)
            if [ "$got" != "$native_result" ]; then
                problem="result mismatch: native $native_result, before $got"
                break
            fi
        fi
        echo "bench:   run $r: native $(($(tail -n 1 "$tmp/native.times") / 1000)) ms, $engine_label $((t / 1000)) ms" >&2
    done

    if [ -n "$problem" ]; then
        errors=$((errors + 1))
        native_ms=$(median_ms <"$tmp/native.times")
        echo "| $name | $kind | $range | $native_ms | **error**: $problem | — |"
        continue
    fi
    native_ms=$(median_ms <"$tmp/native.times")
    engine_ms=$(median_ms <"$tmp/engine.times")
    ratio=$(awk -v a="$engine_ms" -v b="$native_ms" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    ratios+=("$ratio")
    if [ -n "$before" ]; then
        before_ms=$(median_ms <"$tmp/before.times")
        bratio=$(awk -v a="$before_ms" -v b="$native_ms" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        change=$(awk -v a="$engine_ms" -v b="$before_ms" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')
        before_ratios+=("$bratio")
        changes+=("$change")
        echo "| $name | $kind | $range | $native_ms | $before_ms | $engine_ms | ${bratio}x | ${ratio}x | $change |"
    else
        echo "| $name | $kind | $range | $native_ms | $engine_ms | ${ratio}x |"
    fi
done

# Geometric mean of the numbers in the arguments.
geomean() {
    printf '%s\n' "$@" | awk '$1 > 0 { s += log($1); n++ } END { if (n) printf "%.3f", exp(s / n) }'
}
if [ ${#ratios[@]} -gt 0 ]; then
    geo=$(geomean "${ratios[@]}")
    geo=$(printf '%.2f' "$geo")
    if [ -n "$before" ]; then
        bgeo=$(printf '%.2f' "$(geomean "${before_ratios[@]}")")
        echo "| **geometric mean** | | | | | | **${bgeo}x** | **${geo}x** | **$(geomean "${changes[@]}")** |"
    else
        echo "| **geometric mean** | | | | | **${geo}x** |"
    fi
fi
echo
if [ $errors -gt 0 ]; then
    echo "$errors workload(s) failed; see the table." >&2
    exit 1
fi
