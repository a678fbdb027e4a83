#!/usr/bin/env bash
# Example modules: every committed examples/X.wasm must compute the value its
# source's header promises ("Expected: execute(A, B) = V"), and so must the
# same C file built natively and, when clang and wasm-ld are here, a fresh
# wasm build of it. Runs each with `swarm run X.wasm --range A..B`.
#
# usage: test_examples.sh [PATH/TO/swarm]       (default: build/swarm)
#   SWARM_TEST_ENGINE=wabt runs the modules with wabt's spectest-interp
#   instead of swarm (a cross-check of the examples themselves).
#   CC picks the native compiler (default: cc, else gcc).
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
engine=${SWARM_TEST_ENGINE:-swarm}
limit=${SWARM_TEST_TIMEOUT:-120} # seconds per run: a hang is a failure, not a stuck test
passed=0
failed=0
skipped=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

pass() {
    passed=$((passed + 1))
}
fail() {
    failed=$((failed + 1))
    echo "FAIL: $*"
}
skip() {
    skipped=$((skipped + 1))
    echo "skip: $*"
}

# The last integer on the last line of a program's output: accepts "123",
# "i64:123" and "execute(i32:1, i32:2) => i32:123" alike.
last_int() {
    tail -n 1 | grep -oE -- '-?[0-9]+' | tail -n 1
}

# Runs module $1 over [$2, $3) with ABI $4 (i32/i64) on the chosen engine.
# Prints the result; returns the engine's exit code.
run_wasm() {
    local wasm=$1 lo=$2 hi=$3 abi=$4 out=$tmp/run.out rc
    if [ "$engine" = wabt ]; then
        # spectest-interp takes a wast2json script: a module and one invoke.
        # Arguments are written as unsigned bit patterns, as wast2json does.
        local ulo uhi
        if [ "$abi" = i32 ]; then
            ulo=$((lo & 0xffffffff)) uhi=$((hi & 0xffffffff))
        else
            ulo=$(printf '%u' "$lo") uhi=$(printf '%u' "$hi")
        fi
        cp "$wasm" "$tmp/wabt.wasm"
        printf '{"source_filename":"x.wast","commands":[{"type":"module","line":1,"filename":"wabt.wasm"},{"type":"action","line":2,"action":{"type":"invoke","field":"execute","args":[{"type":"%s","value":"%s"},{"type":"%s","value":"%s"}]},"expected":[{"type":"%s"}]}]}\n' \
            "$abi" "$ulo" "$abi" "$uhi" "$abi" >"$tmp/wabt.json"
        timeout "$limit" spectest-interp "$tmp/wabt.json" >"$out" 2>&1
        rc=$?
        # The first line is the call and its result, printed unsigned.
        local v
        v=$(head -n 1 "$out" | last_int)
        if [ -n "$v" ]; then
            v=$((v)) # bash wraps a u64 to its signed value
            [ "$abi" = i32 ] && [ "$v" -gt 2147483647 ] && v=$((v - 4294967296))
        fi
        echo "$v"
    else
        timeout "$limit" "$swarm" run "$wasm" --range "$lo..$hi" >"$out" 2>"$tmp/run.err"
        rc=$?
        last_int <"$out"
    fi
    return $rc
}

if [ "$engine" = wabt ]; then
    command -v spectest-interp >/dev/null || {
        echo "test_examples.sh: spectest-interp not found (apt-get install wabt)" >&2
        exit 1
    }
elif [ ! -x "$swarm" ]; then
    echo "test_examples.sh: no swarm binary at $swarm (build first, or pass its path)" >&2
    exit 1
fi

cc=${CC:-}
if [ -z "$cc" ]; then
    cc=$(command -v cc || command -v gcc || true)
fi

# A fresh wasm build of every example, when the toolchain is here.
fresh=
if bash "$root/examples/build.sh" -o "$tmp/fresh" >"$tmp/build.log" 2>&1; then
    fresh=$tmp/fresh
elif grep -q 'not found' "$tmp/build.log"; then
    skip "fresh wasm build: $(head -n 1 "$tmp/build.log")"
else
    fail "examples/build.sh failed:"
    sed 's/^/    /' "$tmp/build.log"
fi

shopt -s nullglob
sources=("$root"/examples/*.c)
[ ${#sources[@]} -ge 7 ] || fail "expected at least 7 examples, found ${#sources[@]}"

for src in "${sources[@]}"; do
    name=$(basename "$src" .c)
    wasm=$root/examples/$name.wasm
    line=$(grep -m 1 -E 'Expected: execute\(-?[0-9]+, -?[0-9]+\) = -?[0-9]+' "$src")
    if [ -z "$line" ]; then
        fail "$name: no 'Expected: execute(A, B) = V' line in its header"
        continue
    fi
    read -r lo hi want < <(sed -E 's/.*execute\((-?[0-9]+), (-?[0-9]+)\) = (-?[0-9]+).*/\1 \2 \3/' <<<"$line")
    if grep -qE 'int64_t execute\(int64_t' "$src"; then
        abi=i64 def=-DEXAMPLE_I64
    else
        abi=i32 def=
    fi

    # The C source itself, natively: the header's value is right.
    if [ -n "$cc" ]; then
        # -ffp-contract=off: no fused multiply-add on targets that have it, as in wasm.
        if "$cc" -std=gnu11 -O2 -ffp-contract=off $def -o "$tmp/$name" \
            "$root/bench/native_main.c" "$src" -lm 2>"$tmp/cc.log"; then
            got=$("$tmp/$name" "$lo..$hi")
            if [ "$got" = "$want" ]; then
                pass
            else
                fail "$name: native execute($lo, $hi) = $got, header says $want"
            fi
        else
            fail "$name: native build failed"
            sed 's/^/    /' "$tmp/cc.log"
        fi
    else
        skip "$name: no C compiler for the native check"
    fi

    # The committed module.
    if [ ! -f "$wasm" ]; then
        fail "$name: examples/$name.wasm is not there (run examples/build.sh)"
    else
        got=$(run_wasm "$wasm" "$lo" "$hi" "$abi")
        rc=$?
        if [ $rc -ne 0 ]; then
            fail "$name: $engine run of examples/$name.wasm --range $lo..$hi exited $rc"
            sed 's/^/    /' "$tmp/run.out" "$tmp/run.err" 2>/dev/null | head -n 5
        elif [ "$got" != "$want" ]; then
            fail "$name: examples/$name.wasm gives $got over $lo..$hi, header says $want"
        else
            pass
        fi
    fi

    # A fresh build of the same source behaves the same (its bytes may differ
    # with another clang version, which is fine).
    if [ -n "$fresh" ] && [ -f "$fresh/$name.wasm" ]; then
        got=$(run_wasm "$fresh/$name.wasm" "$lo" "$hi" "$abi")
        rc=$?
        if [ $rc -ne 0 ] || [ "$got" != "$want" ]; then
            fail "$name: fresh build gives '$got' (exit $rc) over $lo..$hi, header says $want"
        else
            pass
        fi
        if [ -f "$wasm" ] && ! cmp -s "$wasm" "$fresh/$name.wasm"; then
            echo "note: $name: fresh build differs from the committed bytes (other clang?)"
        fi
    fi
done

# Every committed module has its source.
for wasm in "$root"/examples/*.wasm; do
    [ -f "${wasm%.wasm}.c" ] || fail "$(basename "$wasm") has no source beside it"
done

# The sandbox holds: a tiny fuel budget stops a long run with a trap (exit 4).
if [ "$engine" = swarm ]; then
    timeout "$limit" "$swarm" run "$root/examples/collatz.wasm" --range 1..100000000 \
        --fuel 100000 >"$tmp/run.out" 2>&1
    rc=$?
    if [ $rc -eq 4 ]; then
        pass
    else
        fail "collatz with --fuel 100000 exited $rc, expected 4 (trap: out of fuel)"
        sed 's/^/    /' "$tmp/run.out" | head -n 5
    fi
fi

echo "examples: $passed passed, $failed failed, $skipped skipped (engine: $engine)"
[ "$failed" -eq 0 ]
