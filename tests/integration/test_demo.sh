#!/usr/bin/env bash
# `swarm demo` with real processes: the demo spawns a gateway and workers (this binary) on
# loopback and runs the built-in collatz job across them.
#   - --once: exit 0, outcome 200, the value equal to `swarm run` over the same range, three
#     workers in the breakdown, the in-process check agreeing, the dashboard URL printed, no
#     child left behind and the temporary folder removed;
#   - a demo that keeps running serves its dashboard until SIGINT, then exits 0 with its
#     children gone and its folder removed;
#   - a gateway that cannot start (its HTTP port is taken): exit 1 with the gateway's reason,
#     no child left, a --data-dir kept;
#   - SIGKILL of the demo itself: its children still go (Linux: they ask for SIGTERM when it
#     dies);
#   - --help, usage errors (2), a --module that is not wasm (3, the validator's message).
#
# usage: test_demo.sh [PATH/TO/swarm]
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
. "$root/tests/integration/lib.sh"
RANGE=1..200001 # a small job: the sanitizer build runs this test too

tmp=$(mktemp -d)
bg=() # demos started in the background
cleanup() {
    local p
    for p in "${bg[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
export TMPDIR=$tmp # the demos' temporary folders go here


# alive PID: the process exists and is not a zombie
alive() {
    if [ -r "/proc/$1/stat" ]; then
        ! grep -q '^[0-9]* (.*) Z' "/proc/$1/stat" 2>/dev/null && [ -e "/proc/$1" ]
    else
        kill -0 "$1" 2>/dev/null
    fi
}
# child_pids FILE: the pids the demo printed for its children
child_pids() { grep -o '(pid [0-9]*)' "$1" | grep -o '[0-9]*'; }
# none_alive FILE [SECONDS]: every child the demo printed is gone (waiting up to SECONDS)
none_alive() {
    local p i left
    for i in $(seq $((${2:-0} * 10 + 1))); do
        left=
        for p in $(child_pids "$1"); do
            alive "$p" && left="$left $p"
        done
        [ -z "$left" ] && return 0
        sleep 0.1
    done
    echo "  still running:$left"
    return 1
}
# wait_for FILE PATTERN SECONDS: until the file holds a line matching PATTERN
wait_for() {
    local i
    for i in $(seq $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "  no '$2' in $1 after $3 s:"
    sed 's/^/  | /' "$1"
    return 1
}
folder() { sed -n 's/^swarm demo: .* folder \(.*\)$/\1/p' "$1" | head -n 1; }

# ---- 1. --once: the outcome, the value, the workers, the check, and nothing left behind ----
out=$tmp/once.out
timeout 300 "$swarm" demo --once --http 127.0.0.1:0 --range "$RANGE" --check-ms 600000 >"$out" 2>"$tmp/once.err"
code=$?
check "swarm demo --once exits 0" test "$code" = 0 || cat "$out" "$tmp/once.err"
check "the outcome is 200 (done)" grep -q '^job [0-9a-f]\{16\}: done (200) in [0-9]* ms$' "$out"
want=$("$swarm" run "$root/examples/collatz.wasm" --range "$RANGE")
got=$(sed -n 's/^value: //p' "$out")
check "the value ($got) equals swarm run over the same range ($want)" \
    test -n "$want" -a "$got" = "$want"
check "the shards line says every shard is done" \
    grep -q '^shards: \([0-9]*\)/\1 done, 0 failed, 0 missing' "$out"
nworkers=$(grep -o '^  worker-[0-9]* ' "$out" | sort -u | wc -l)
check "three workers in the per-worker breakdown ($nworkers)" test "$nworkers" = 3
check "each worker joined with its label and a short peer id" \
    test "$(grep -c '^worker-[123] joined: 12D3KooW\.\.[A-Za-z0-9]\{8\}, [0-9]* slots$' "$out")" = 3
check "the in-process check agrees" grep -q "^check: .* sum to $want: equal to the mesh's value$" "$out"
check "the dashboard URL is printed" grep -q '^dashboard: http://127\.0\.0\.1:[0-9]*/ ' "$out"
check "four children were started (a gateway, three workers)" \
    test "$(child_pids "$out" | wc -l)" = 4
check "no child is left after --once" none_alive "$out"
dir=$(folder "$out")
check "the temporary folder ($dir) is removed" test -n "$dir" -a ! -e "$dir"
check "DEMO_ONCE=1 means --once" bash -c \
    "DEMO_ONCE=1 timeout 300 '$swarm' demo --http 127.0.0.1:0 --workers 1 --range 1..2001 >'$tmp/env.out' 2>&1"
check "  ... and the demo said it stops" grep -q -- '--once: stopping now' "$tmp/env.out"

# ---- 1b. a check too dear for the whole range checks the first shard's range --------------
out=$tmp/part.out
timeout 300 "$swarm" demo --once --http 127.0.0.1:0 --workers 2 --range "$RANGE" --check-ms 0 \
    >"$out" 2>&1
code=$?
check "--check-ms 0: exit 0" test "$code" = 0 || cat "$out"
part=$(sed -n 's/^check: .* checking \[\([0-9]*\), \([0-9]*\)) instead.*/\1..\2/p' "$out")
want=$("$swarm" run "$root/examples/collatz.wasm" --range "${part:-0..0}")
check "  ... checks a part ($part) with a second job, equal to swarm run over it ($want)" \
    grep -q "^check: the same [0-9]* calls over that range, .* sum to $want: equal" "$out"

# ---- 2. a demo that keeps running: dashboard up until SIGINT --------------------------------
out=$tmp/run.out
"$swarm" demo --http 127.0.0.1:0 --range 1..20001 >"$out" 2>&1 &
demo=$!
bg+=("$demo")
if check "a demo without --once says how to stop it" wait_for "$out" 'Ctrl-C to stop$' 120; then
    url=$(sed -n 's/^open \(http:[^ ]*\) to watch.*/\1/p' "$out")
    check "its children keep running" bash -c "$(declare -f alive child_pids); \
        for p in \$(child_pids '$out'); do alive \$p || exit 1; done"
    if command -v curl >/dev/null; then
        check "the dashboard answers at $url" test "$(curl -s -o /dev/null -w '%{http_code}' \
            --max-time 10 "$url")" = 200
    fi

    # ---- 3. a gateway that cannot start: its port is the running demo's ---------------------
    port=${url##*:}
    port=${port%/}
    "$swarm" demo --once --http "127.0.0.1:$port" --data-dir "$tmp/kept" >"$tmp/busy.out" \
        2>"$tmp/busy.err"
    code=$?
    check "a demo whose gateway cannot start exits 1" test "$code" = 1
    check "  ... saying why (the gateway's own words)" \
        grep -q 'the gateway (pid [0-9]*) exited with status 1' "$tmp/busy.err"
    check "  ... and the gateway's reason" grep -q 'cannot listen for HTTP' "$tmp/busy.err"
    check "  ... with no child left" none_alive "$tmp/busy.out"
    check "  ... and --data-dir kept, with the gateway's log" test -s "$tmp/kept/gateway.log"
    check "  ... and no worker started" test "$(child_pids "$tmp/busy.out" | wc -l)" = 1

    kill -INT "$demo"
    code=
    for i in $(seq 300); do
        alive "$demo" || break
        sleep 0.1
    done
    wait "$demo"
    code=$?
    check "SIGINT ends the demo with exit 0" test "$code" = 0
    check "  ... after stopping its children" none_alive "$out"
    dir=$(folder "$out")
    check "  ... and removing its folder" test -n "$dir" -a ! -e "$dir"
    check "  ... saying so" grep -q '^stopped; removed ' "$out"
fi

# ---- 4. SIGKILL of the demo: its children go too --------------------------------------------
if [ "$(uname -s)" = Linux ]; then
    out=$tmp/kill.out
    "$swarm" demo --http 127.0.0.1:0 --workers 2 --range 1..2001 >"$out" 2>&1 &
    demo=$!
    bg+=("$demo")
    if check "a second demo is up" wait_for "$out" 'Ctrl-C to stop$' 120; then
        kill -KILL "$demo"
        wait "$demo" 2>/dev/null
        check "SIGKILL of the demo: its three children exit on their own" none_alive "$out" 30
    fi
fi

# ---- 5. usage ----------------------------------------------------------------------------------
"$swarm" demo --help >"$tmp/help" 2>&1
code=$?
check "swarm demo --help exits 0 with the usage" test "$code" = 0
check "  ... which names every option" bash -c "for o in --workers --module --range --shards \
    --http --data-dir --once; do grep -q -- \"\$o\" '$tmp/help' || exit 1; done"
for bad in "--workers 0" "--workers 65" "--bogus" "--range 5..1" "--range 3..3" \
    "--module $root/examples/collatz.wasm" "--range 1..10 --shards 11" "--http nowhere"; do
    # shellcheck disable=SC2086 # the options are words
    "$swarm" demo $bad >"$tmp/usage.out" 2>"$tmp/usage.err"
    code=$?
    check "swarm demo $bad is a usage error (exit 2, usage on stderr)" \
        test "$code" = 2 -a ! -s "$tmp/usage.out"
done
check "a usage error names the problem" grep -q 'swarm demo: --workers must be 1..64' \
    <(timeout 10 "$swarm" demo --workers 0 2>&1)
"$swarm" demo --module "$root/examples/collatz.c" --range 1..10 >"$tmp/bad.out" 2>"$tmp/bad.err"
code=$?
check "a --module that is not wasm: exit 3" test "$code" = 3
check "  ... with the validator's message" \
    grep -q 'collatz.c: malformed module at byte 0: magic header not detected' "$tmp/bad.err"
check "  ... and nothing started" test ! -s "$tmp/bad.out"
# the SIGKILLed demo could not remove its folder; every other one did
check "no temporary folder is left by the demos that exited" \
    bash -c "[ \$(ls -d '$tmp'/swarm-demo-* 2>/dev/null | wc -l) -le 1 ]"

summary
