#!/usr/bin/env bash
# `swarm run`: results, argument parsing, limits, and the exit code of every failure
# (0 ok, 1 runtime failure, 2 usage, 3 invalid module, 4 trap). Modules are built from
# text with wabt's wat2wasm into a temporary folder.
#
# usage: test_run.sh [PATH/TO/swarm]       (default: build/swarm)
# Exits 77 (CTest's "skipped") when wat2wasm is not installed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
limit=${SWARM_TEST_TIMEOUT:-60} # seconds per run: a hang is a failure, not a stuck test
passed=0
failed=0

if ! command -v wat2wasm >/dev/null 2>&1; then
    echo "SKIP: wat2wasm (wabt) is not installed"
    exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
err=$tmp/err

# wat NAME [wat2wasm flags]: builds $tmp/NAME.wasm from the text on stdin.
wat() {
    local name=$1
    shift
    cat >"$tmp/$name.wat"
    if ! wat2wasm "$@" "$tmp/$name.wat" -o "$tmp/$name.wasm" 2>"$err"; then
        echo "FAIL: wat2wasm $name"
        sed 's/^/    /' "$err"
        failed=$((failed + 1))
    fi
}

# expect CODE DESCRIPTION -- ARGS...: runs swarm ARGS, checks the exit code.
expect() {
    local want=$1 what=$2
    shift 3
    timeout "$limit" "$swarm" "$@" >"$out" 2>"$err"
    local got=$?
    if [ "$got" -eq "$want" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what: 'swarm $*' exited $got, expected $want"
        sed 's/^/    stdout: /' "$out"
        sed 's/^/    stderr: /' "$err"
    fi
}

# stdout_is TEXT DESCRIPTION: the last command printed exactly TEXT.
stdout_is() {
    local got
    got=$(cat "$out")
    if [ "$got" = "$1" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $2: stdout is '$got', expected '$1'"
    fi
}

# stderr_has PATTERN DESCRIPTION: the last command's stderr contains PATTERN (grep -E).
stderr_has() {
    if grep -qE -- "$1" "$err"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $2: stderr lacks '$1'"
        sed 's/^/    stderr: /' "$err"
    fi
}

# --- modules -----------------------------------------------------------------------------

wat sum32 <<'EOF'
(module
  (func (export "execute") (param $a i32) (param $b i32) (result i32)
    (local $s i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_s (local.get $a) (local.get $b)))
        (local.set $s (i32.add (local.get $s) (local.get $a)))
        (local.set $a (i32.add (local.get $a) (i32.const 1)))
        (br $next)))
    (local.get $s)))
EOF

wat sum64 <<'EOF'
(module
  (func $sum (export "sum") (param $a i64) (param $b i64) (result i64)
    (local $s i64)
    (block $done
      (loop $next
        (br_if $done (i64.ge_s (local.get $a) (local.get $b)))
        (local.set $s (i64.add (local.get $s) (local.get $a)))
        (local.set $a (i64.add (local.get $a) (i64.const 1)))
        (br $next)))
    (local.get $s)))
EOF

wat args <<'EOF'
(module
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "add64") (param i64 i64) (result i64) (i64.add (local.get 0) (local.get 1)))
  (func (export "fadd") (param f64 f64) (result f64) (f64.add (local.get 0) (local.get 1)))
  (func (export "half") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 0.5)))
  (func (export "pair") (param i32) (result i32 i64)
    (local.get 0) (i64.extend_i32_s (local.get 0)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "nothing")))
EOF

# NaN results: the canonical NaN (0x7ff8000000000000, 0x7fc00000) on every CPU; x86-64 makes
# 0xfff8... for 0/0 and keeps an input NaN's sign and payload
wat nan <<'EOF'
(module
  (func (export "zerodiv") (result i64)
    (i64.reinterpret_f64 (f64.div (f64.const 0) (f64.const 0))))
  (func (export "add") (param f64 f64) (result i64)
    (i64.reinterpret_f64 (f64.add (local.get 0) (local.get 1))))
  (func (export "sqrt32") (param f32) (result i32) (i32.reinterpret_f32 (f32.sqrt (local.get 0))))
  (func (export "nan") (result f64) (f64.div (f64.const 0) (f64.const 0))))
EOF

wat spin <<'EOF'
(module (func (export "execute") (loop (br 0))))
EOF

wat recurse <<'EOF'
(module (func $f (export "execute") (param i32) (result i32)
  (i32.add (call $f (i32.add (local.get 0) (i32.const 1))) (i32.const 1))))
EOF

wat grow <<'EOF'
(module
  (memory 1)
  (func (export "execute") (param i32) (result i32) (memory.grow (local.get 0))))
EOF

wat imports <<'EOF'
(module
  (import "env" "foo" (func (param i32)))
  (func (export "execute") (call 0 (i32.const 1))))
EOF

wat badtype --no-check <<'EOF'
(module (func (export "execute") (result i32) (i64.const 1)))
EOF

wat starttrap <<'EOF'
(module (func $s unreachable) (start $s) (func (export "execute")))
EOF

wat bigmem <<'EOF'
(module (memory 10) (func (export "execute")))
EOF

# A write read back only through local.tee's stack entry, then overwritten: the compiler's
# dead-write elimination once dropped the first write (returned 15 instead of 16).
wat teeread <<'EOF'
(module
  (func (export "execute") (param $a i32) (param $b i32) (result i32)
    (local.tee $a (i32.add (local.get $a) (i32.const 1)))
    (local.set $a (i32.const 5))
    (i32.add (local.get $a))))
EOF

wat nofunc <<'EOF'
(module (memory 1))
EOF

# --- results and ranges ------------------------------------------------------------------

expect 0 "i32 sum over a range" -- run "$tmp/sum32.wasm" --range 0..101
stdout_is 5050 "i32 sum"
expect 0 "empty range" -- run "$tmp/sum32.wasm" --range 7..7
stdout_is 0 "empty range"
expect 0 "negative range" -- run "$tmp/sum32.wasm" --range -10..0
stdout_is -55 "negative range"
expect 0 "i64 sum over a range (the only export, not named execute)" -- \
    run "$tmp/sum64.wasm" --range 0..100000
stdout_is 4999950000 "i64 sum"
expect 0 "i64 range past 32 bits" -- run "$tmp/sum64.wasm" --range 4294967296..4294967298
stdout_is 8589934593 "i64 range past 32 bits"
expect 0 "a tee'd value outlives the next write to its local" -- run "$tmp/teeread.wasm" --range 10..11
stdout_is 16 "tee'd value, then overwrite"
expect 2 "i32 range that does not fit" -- run "$tmp/sum32.wasm" --range 0..4294967296
stderr_has "does not fit" "i32 range that does not fit"
expect 2 "reversed range" -- run "$tmp/sum32.wasm" --range 5..1
expect 2 "range on a non-range function" -- run "$tmp/args.wasm" --func fadd --range 0..10
stderr_has "\(i32, i32\) or \(i64, i64\)" "range on a non-range function"
expect 2 "range and args together" -- run "$tmp/sum32.wasm" --range 0..10 1 2

# --- argument parsing --------------------------------------------------------------------

expect 0 "i32 args, negative" -- run "$tmp/args.wasm" --func add 2 -3
stdout_is -1 "i32 args"
expect 0 "hex args" -- run "$tmp/args.wasm" --func add 0x10 0X20
stdout_is 48 "hex args"
expect 0 "i32 wraps as unsigned input" -- run "$tmp/args.wasm" --func add 4294967295 0
stdout_is -1 "unsigned i32 input"
expect 0 "i64 args" -- run "$tmp/args.wasm" --func add64 -9223372036854775808 -1
stdout_is 9223372036854775807 "i64 wraps"
expect 0 "f64 args" -- run "$tmp/args.wasm" --func fadd 1.5 2.25
stdout_is 3.75 "f64 args"
expect 0 "f32 arg" -- run "$tmp/args.wasm" --func=half 3
stdout_is 1.5 "f32 arg"
expect 0 "0.0/0.0" -- run "$tmp/nan.wasm" --func zerodiv
stdout_is 9221120237041090560 "0.0/0.0 is the canonical NaN (0x7ff8000000000000)"
expect 0 "a negative NaN argument" -- run "$tmp/nan.wasm" --func add -- -nan 1
stdout_is 9221120237041090560 "-nan + 1 is the canonical NaN"
expect 0 "f32 sqrt(-1)" -- run "$tmp/nan.wasm" --func sqrt32 -- -1
stdout_is 2143289344 "sqrt(-1) is the canonical f32 NaN (0x7fc00000)"
expect 0 "an f64 NaN result" -- run "$tmp/nan.wasm" --func nan
stdout_is nan "a NaN result prints as positive nan"
expect 0 "multi-value results, one per line" -- run "$tmp/args.wasm" --func pair -- -7
stdout_is "$(printf -- '-7\n-7')" "multi-value"
expect 0 "no results" -- run "$tmp/args.wasm" --func nothing
stdout_is "" "no results"
expect 2 "too few args" -- run "$tmp/args.wasm" --func add 1
stderr_has "\(i32, i32\) -> \(i32\)" "too few args shows the signature"
expect 2 "too many args" -- run "$tmp/args.wasm" --func add 1 2 3
expect 2 "not a number" -- run "$tmp/args.wasm" --func add 1 two
stderr_has "'two'" "not a number"
expect 2 "i32 out of range" -- run "$tmp/args.wasm" --func add 4294967296 0
expect 2 "unknown function" -- run "$tmp/args.wasm" --func nope
stderr_has "nope" "unknown function"
expect 2 "ambiguous function" -- run "$tmp/args.wasm" 1 2
stderr_has "--func" "ambiguous function suggests --func"
expect 2 "no exported function" -- run "$tmp/nofunc.wasm"

# --- usage -------------------------------------------------------------------------------

expect 0 "help" -- run --help
expect 2 "unknown flag" -- run "$tmp/sum32.wasm" --frob
expect 2 "no module" -- run
expect 2 "bad fuel" -- run "$tmp/spin.wasm" --fuel lots
expect 2 "bad max-pages" -- run "$tmp/grow.wasm" --max-pages 0 1

# --- invalid modules ---------------------------------------------------------------------

expect 3 "type mismatch" -- run "$tmp/badtype.wasm"
stderr_has "invalid module at offset 0x[0-9a-f]+: .*type mismatch" "type mismatch message"
head -c 20 "$tmp/sum32.wasm" >"$tmp/truncated.wasm"
expect 3 "truncated module" -- run "$tmp/truncated.wasm" --range 0..1
stderr_has "invalid module at offset 0x[0-9a-f]+" "truncated module message"
printf 'this is not wasm at all' >"$tmp/garbage.wasm"
expect 3 "garbage file" -- run "$tmp/garbage.wasm"
stderr_has "invalid module at offset 0x[0-9a-f]+" "garbage file message"
: >"$tmp/empty.wasm"
expect 3 "empty file" -- run "$tmp/empty.wasm"

# --- runtime failures --------------------------------------------------------------------

expect 1 "missing file" -- run "$tmp/does-not-exist.wasm"
stderr_has "does-not-exist.wasm" "missing file is named"
expect 1 "module with imports" -- run "$tmp/imports.wasm"
stderr_has "\"env\".*\"foo\"" "the import is named"
expect 1 "memory above --max-pages" -- run "$tmp/bigmem.wasm" --max-pages 4
stderr_has "limit" "memory above --max-pages"

# --- traps -------------------------------------------------------------------------------

expect 4 "divide by zero" -- run "$tmp/args.wasm" --func div 1 0
stderr_has "^swarm run: trap: integer divide by zero$" "divide by zero message"
expect 4 "integer overflow" -- run "$tmp/args.wasm" --func div -2147483648 -1
stderr_has "integer overflow" "integer overflow message"
expect 4 "out of fuel" -- run "$tmp/spin.wasm" --fuel 100000
stderr_has "trap: out of fuel \(fuel used: [0-9]+\)" "out of fuel message"
expect 4 "unbounded recursion" -- run "$tmp/recurse.wasm" 0
stderr_has "trap: call stack exhausted" "unbounded recursion message"
expect 4 "start function traps" -- run "$tmp/starttrap.wasm"
stderr_has "trap: unreachable" "start function trap message"

# --- limits ------------------------------------------------------------------------------

expect 0 "memory.grow within --max-pages" -- run "$tmp/grow.wasm" --max-pages 4 3
stdout_is 1 "memory.grow within the limit"
expect 0 "memory.grow past --max-pages" -- run "$tmp/grow.wasm" --max-pages 4 4
stdout_is -1 "memory.grow past the limit"
expect 0 "memory.grow past 65536 pages" -- run "$tmp/grow.wasm" 65536
stdout_is -1 "memory.grow past 4 GiB"
expect 0 "enough fuel" -- run "$tmp/sum32.wasm" --range 0..1000 --fuel 1000000 --stats
stdout_is 499500 "enough fuel"
stderr_has "fuel used: [1-9][0-9]*" "--stats reports fuel used"
stderr_has "run: [0-9.]+ ms" "--stats reports run time"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
