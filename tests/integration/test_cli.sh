#!/usr/bin/env bash
# CLI smoke test: help, version, and usage errors of every subcommand.
# usage: test_cli.sh PATH/TO/swarm
set -u
swarm=${1:?usage: test_cli.sh PATH/TO/swarm}
if [ ! -x "$swarm" ]; then
    echo "FAIL: $swarm is missing or not executable (did the build fail?)"
    echo "0 passed, 1 failed"
    exit 1
fi
passed=0
failed=0
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# expect CODE DESCRIPTION -- COMMAND...: runs COMMAND, checks its exit code.
expect() {
    local want=$1 what=$2
    shift 3
    "$@" >"$out" 2>&1
    local got=$?
    if [ "$got" -eq "$want" ]; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $what: '$*' exited $got, expected $want"
        sed 's/^/    /' "$out"
    fi
}

# expect_out PATTERN DESCRIPTION: the last command's output contains PATTERN.
expect_out() {
    if grep -q -- "$1" "$out"; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $2: output lacks '$1'"
        sed 's/^/    /' "$out"
    fi
}

expect 0 "overall help" -- "$swarm" --help
expect_out "usage" "overall help"
expect_out "spectest" "overall help lists commands"
expect 0 "no arguments prints usage" -- "$swarm"
expect_out "usage" "no arguments"
expect 0 "-h" -- "$swarm" -h
expect 0 "version" -- "$swarm" --version
expect_out "swarm 0.1.0" "version"

expect 2 "unknown subcommand" -- "$swarm" frobnicate
expect_out "unknown command 'frobnicate'" "unknown subcommand"
expect_out "usage" "unknown subcommand shows usage"
expect 2 "unknown top-level option" -- "$swarm" --frob

for cmd in gateway start worker submit run node spectest id demo; do
    expect 0 "$cmd --help" -- "$swarm" "$cmd" --help
    expect_out "usage" "$cmd --help"
    # help goes to stdout, not stderr
    if "$swarm" "$cmd" --help 2>/dev/null | grep -q usage; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
        echo "FAIL: $cmd --help does not print usage on stdout"
    fi
    expect 0 "$cmd -h" -- "$swarm" "$cmd" -h
    expect 2 "$cmd unknown flag" -- "$swarm" "$cmd" --no-such-flag
    expect_out "swarm $cmd: unknown option '--no-such-flag'" "$cmd unknown flag message"
    expect_out "usage" "$cmd unknown flag shows usage"
    expect 0 "help $cmd" -- "$swarm" help "$cmd"
done

# missing values and bad values are usage errors
expect 2 "missing value" -- "$swarm" gateway --http
expect_out "needs a value" "missing value"
expect 2 "bad number" -- "$swarm" start --threads many
expect 2 "bad range" -- "$swarm" submit m.wasm --range 5
expect 2 "reversed range" -- "$swarm" submit m.wasm --range 9..1
expect 2 "submit without module" -- "$swarm" submit --range 0..10
expect 2 "bad reduce" -- "$swarm" submit m.wasm --range 0..10 --reduce avg
expect 2 "stray argument" -- "$swarm" gateway extra

# `id` prints a peer id and exits 0. Its data dir is a scratch folder, so a real key never lands
# in the user's home.
home=$(mktemp -d)
trap 'rm -f "$out"; rm -rf "$home"' EXIT
expect 0 "id" -- env SWARM_HOME="$home" "$swarm" id --data-dir "$home"
expect_out "^12D3KooW" "id prints a peer id"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
