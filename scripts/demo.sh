#!/usr/bin/env bash
# The demo behind `make demo`: builds each examples/*.c to a wasm32 module (with
# examples/build.sh when it exists, else plain clang) and runs it with
# `swarm run MODULE --range A..B`, printing the result, the expected value and the time.
# The range and the expected value come from the example's "Expected: execute(A, B) = V"
# comment line; without one, DEMO_RANGE (default 0..1000000) is used and nothing is compared.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
SWARM="$BUILD/swarm"
OUT="$BUILD/examples"

if ! compgen -G "examples/*.c" >/dev/null; then
    echo "demo: no examples yet (examples/*.c); nothing to run."
    echo "demo: the CLI is built: try '$SWARM --help'."
    exit 0
fi
[ -x "$SWARM" ] || {
    echo "demo: $SWARM not built; run 'make build' first" >&2
    exit 1
}

mkdir -p "$OUT"
if [ -x examples/build.sh ] || [ -f examples/build.sh ]; then
    bash examples/build.sh -o "$OUT" >/dev/null
else
    for src in examples/*.c; do
        clang --target=wasm32 -O2 -nostdlib -Wl,--no-entry -Wl,--export-dynamic \
            -o "$OUT/$(basename "$src" .c).wasm" "$src"
    done
fi

# The headline job: one module over a large range, as a worker would run a big shard.
if [ -f "$OUT/sieve.wasm" ]; then
    echo "demo: counting the primes below 100,000,000 with examples/sieve.wasm"
    "$SWARM" run "$OUT/sieve.wasm" --range 0..100000000 --stats 2>&1
    echo
fi

echo "demo: every example over the range its source comment names"
status=0
for src in examples/*.c; do
    name=$(basename "$src" .c)
    line=$(grep -m 1 -o 'Expected: execute([-0-9]*, *[-0-9]*) *= *[-0-9]*' "$src" || true)
    if [ -n "$line" ]; then
        range=$(echo "$line" | sed 's/.*execute(\([-0-9]*\), *\([-0-9]*\)).*/\1..\2/')
        expected=${line##*= }
    else
        range=${DEMO_RANGE:-0..1000000}
        expected=
    fi
    start=$(date +%s%N)
    if result=$("$SWARM" run "$OUT/$name.wasm" --range "$range" 2>&1); then
        ms=$((($(date +%s%N) - start) / 1000000))
        verdict=""
        if [ -n "$expected" ]; then
            if echo "$result" | tail -n 1 | grep -qw -- "$expected"; then
                verdict="ok"
            else
                verdict="MISMATCH, expected $expected"
                status=1
            fi
        fi
        printf 'demo: %-11s range %-22s result %-16s %6d ms  %s\n' "$name" "$range" \
            "$(echo "$result" | tail -n 1)" "$ms" "$verdict"
    else
        rc=$?
        printf 'demo: %-11s range %-22s FAILED (exit %d): %s\n' "$name" "$range" "$rc" \
            "$(echo "$result" | tail -n 1)"
        status=1
    fi
done
exit $status
