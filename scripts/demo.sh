#!/usr/bin/env bash
# The demo behind `make demo`: builds each examples/*.c to a wasm32 module (with
# examples/build.sh when it exists, else plain clang) and runs it with
# `swarm run MODULE --range A..B`, printing the result, the expected value and the time.
# Then two libp2p nodes (`swarm node`) meet on loopback: connect, identify, ping, and talk over
# gossipsub.
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

# The network layer: two nodes on loopback over TCP + Noise + Yamux, identify and ping.
echo
echo "demo: two libp2p nodes on 127.0.0.1 (swarm node): connect, identify, ping, gossipsub"
events=$(mktemp)
trap 'rm -f "$events"' EXIT
"$SWARM" node --listen /ip4/127.0.0.1/tcp/0 --subscribe demo --exit-after 4 2>/dev/null \
    >"$events" &
listener=$!
addr=
for _ in $(seq 50); do
    addr=$(grep -m 1 -o '"addr":"[^"]*"' "$events" 2>/dev/null | cut -d'"' -f4 || true)
    [ -n "$addr" ] && break
    sleep 0.1
done
if [ -z "$addr" ]; then
    echo "demo: the listening node did not start"
    status=1
else
    echo "demo: node A listens at $addr"
    out=$("$SWARM" node --connect "$addr" --ping --subscribe demo \
        --publish 'demo=hello over gossipsub ({n})' --publish-every 300 --publish-count 2 \
        --settle 1000 --exit-after 2.5 2>&1 || true)
    echo "$out" | grep -E '"event":"(connected|identified|ping|published|error)"' |
        sed 's/^/demo: node B: /'
    if ! echo "$out" | grep -q '"event":"ping"'; then
        echo "demo: node B could not ping node A"
        status=1
    fi
fi
wait "$listener" 2>/dev/null || true
if [ -n "$addr" ]; then
    grep '"event":"message"' "$events" | sed 's/^/demo: node A: /'
    if [ "$(grep -c '"event":"message"' "$events")" -ne 2 ]; then
        echo "demo: node A did not get both gossipsub messages"
        status=1
    fi
fi
exit $status
