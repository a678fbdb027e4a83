#!/usr/bin/env bash
# Fuel bounds all work: with `swarm run --fuel 10000000`, loops over memory.fill (1 GiB and
# 4 MiB), memory.copy (512 MiB and 4 MiB), table.fill (1M entries), memory.grow and table.grow
# (one page or element at a time) and a call into a function with 40,000 locals each trap out
# of fuel, using exactly the fuel given, within 50x the wall time of a plain counting loop on
# the same fuel (measured here, best of a few runs each, so a noisy machine slows both sides).
#
# usage: test_fuel.sh [PATH/TO/swarm]       (default: build/swarm)
# Exits 77 (CTest's "skipped") when wat2wasm is not installed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
fuel=10000000
ratio=50
runs=3
limit=${SWARM_TEST_TIMEOUT:-60} # seconds per run: the old engine took minutes
passed=0
failed=0

if ! command -v wat2wasm >/dev/null 2>&1; then
    echo "SKIP: wat2wasm (wabt) is not installed"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# wat NAME: builds $tmp/NAME.wasm from the text on stdin.
wat() {
    cat >"$tmp/$1.wat"
    if ! wat2wasm "$tmp/$1.wat" -o "$tmp/$1.wasm" 2>"$tmp/err"; then
        echo "FAIL: wat2wasm $1"
        sed 's/^/    /' "$tmp/err"
        failed=$((failed + 1))
    fi
}

# best_ms NAME: runs NAME.wasm $runs times with the fuel; prints the best wall time in ms.
# Every run must trap out of fuel (exit 4) having used all of it, else prints "fail".
best_ms() {
    local best="" i start end ms rc
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        timeout "$limit" "$swarm" run "$tmp/$1.wasm" --fuel "$fuel" >/dev/null 2>"$tmp/$1.err"
        rc=$?
        end=$(date +%s%N)
        if [ "$rc" -ne 4 ] || ! grep -q "trap: out of fuel (fuel used: $fuel)" "$tmp/$1.err"; then
            echo "FAIL: $1: exit $rc, expected 4 with all $fuel units used" >&2
            sed 's/^/    stderr: /' "$tmp/$1.err" >&2
            echo fail
            return
        fi
        ms=$(((end - start) / 1000000))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then
            best=$ms
        fi
    done
    echo "$best"
}

# --- modules -----------------------------------------------------------------------------

wat count <<'EOF'
(module (func (export "execute") (local i32)
  (loop $l (local.set 0 (i32.add (local.get 0) (i32.const 1))) (br $l))))
EOF

# 1 GiB memories (16384 pages): instantiating reserves, only writes touch
wat fill_1g <<'EOF'
(module (memory 16384 16384)
  (func (export "execute")
    (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x40000000)) (br $l))))
EOF

wat copy_512m <<'EOF'
(module (memory 16384 16384)
  (func (export "execute")
    (loop $l (memory.copy (i32.const 0) (i32.const 0x20000000) (i32.const 0x20000000))
      (br $l))))
EOF

# small enough to run many times within the fuel: the charge, not the first op, stops them
wat fill_4m <<'EOF'
(module (memory 64 64)
  (func (export "execute")
    (loop $l (memory.fill (i32.const 0) (i32.const 7) (i32.const 0x400000)) (br $l))))
EOF

wat copy_4m <<'EOF'
(module (memory 128 128)
  (func (export "execute")
    (loop $l (memory.copy (i32.const 0) (i32.const 0x400000) (i32.const 0x400000)) (br $l))))
EOF

wat table_fill_1m <<'EOF'
(module (table 1048576 funcref) (func $f) (elem declare func $f)
  (func (export "execute")
    (loop $l (table.fill 0 (i32.const 0) (ref.func $f) (i32.const 1048576)) (br $l))))
EOF

wat memory_grow <<'EOF'
(module (memory 0)
  (func (export "execute") (loop $l (drop (memory.grow (i32.const 1))) (br $l))))
EOF

# grows of one page or element at a time: the engine's reallocation must stay linear too
wat table_grow <<'EOF'
(module (table 0 funcref)
  (func (export "execute") (loop $l (drop (table.grow 0 (ref.null func) (i32.const 1))) (br $l))))
EOF

locals=$(printf ' i64%.0s' $(seq 40000))
wat locals_40k <<EOF
(module
  (func \$big (local$locals))
  (func (export "execute") (loop \$l (call \$big) (br \$l))))
EOF

# --- runs --------------------------------------------------------------------------------

base=$(best_ms count)
if [ "$base" = fail ]; then
    echo "FAIL: the counting loop does not trap out of fuel"
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
fi
[ "$base" -lt 1 ] && base=1
passed=$((passed + 1))
echo "counting loop: $base ms for $fuel units"

for name in fill_1g copy_512m fill_4m copy_4m table_fill_1m memory_grow table_grow locals_40k; do
    ms=$(best_ms "$name")
    if [ "$ms" = fail ]; then
        failed=$((failed + 1))
    elif [ "$ms" -gt $((ratio * base)) ]; then
        failed=$((failed + 1))
        echo "FAIL: $name: $ms ms, more than ${ratio}x the counting loop ($base ms)"
    else
        passed=$((passed + 1))
        echo "$name: $ms ms"
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
