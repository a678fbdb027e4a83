#!/usr/bin/env bash
# `swarm start` (alias `swarm worker`) as a real process, against `swarm node` standing in for
# a peer that is not a gateway: usage errors exit 2; a bootstrap peer named only by address is
# refused as untrusted; a trusted one that does not serve /swarm/task is an error the worker
# survives (it redials); heartbeats reach the swarm/<mesh>/nodes topic; the data dir gets its
# key and a 0700 module cache; SIGTERM and SIGINT end the worker with exit 0.
#
# usage: test_worker.sh [PATH/TO/swarm]       (default: build/swarm)
# Exits 77 (CTest's "skipped") when jq is not installed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
limit=${SWARM_TEST_TIMEOUT:-20}
ok=0
bad=0
command -v jq >/dev/null 2>&1 || {
    echo "SKIP: jq is not installed"
    exit 77
}
tmp=$(mktemp -d)
procs=()
trap 'for p in "${procs[@]}"; do kill -KILL "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT

check() { # check DESCRIPTION COMMAND...: counts COMMAND's success
    local what=$1
    shift
    if "$@"; then
        ok=$((ok + 1))
    else
        bad=$((bad + 1))
        echo "FAIL: $what"
        for f in "$tmp"/*.out "$tmp"/*.err; do
            [ -s "$f" ] && sed "s|^|    $(basename "$f"): |" "$f" | tail -n 8
        done
    fi
}

# spawn NAME ARGS...: swarm ARGS in the background, output in $tmp/NAME.{out,err}
spawn() {
    local name=$1
    shift
    "$swarm" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    procs+=($!)
    echo $! >"$tmp/$name.pid"
}

# within SECONDS COMMAND...: polls COMMAND until it succeeds or the time is up
within() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}

has_line() { grep -q -- "$2" "$tmp/$1" 2>/dev/null; }
json_event() { jq -e -R "fromjson? | select($2)" "$tmp/$1.out" >/dev/null 2>&1; }

# ends NAME SIGNAL: the process exits 0 within 5 s of SIGNAL
ends() {
    local pid
    pid=$(cat "$tmp/$1.pid")
    kill -"$2" "$pid" 2>/dev/null
    within 5 bash -c "! kill -0 $pid 2>/dev/null" || return 1
    wait "$pid"
}

exits() { # exits CODE ARGS...: swarm ARGS exits CODE
    local want=$1
    shift
    timeout "$limit" "$swarm" "$@" >"$tmp/cmd.o" 2>"$tmp/cmd.e"
    [ $? -eq "$want" ]
}

# ---- usage ------------------------------------------------------------------------------------
check "no --bootstrap is a usage error" exits 2 start
check "--help exits 0" exits 0 worker --help
check "--threads 0 is a usage error" exits 2 start --bootstrap /ip4/127.0.0.1/tcp/1 --threads 0
check "a bad --trust id is a usage error" exits 2 start --bootstrap /ip4/127.0.0.1/tcp/1 --trust nope
check "a bad --bootstrap is a usage error" exits 2 start --bootstrap /udp/1
check "an unknown option is a usage error" exits 2 start --bootstrap /ip4/127.0.0.1/tcp/1 --frob

# ---- a peer that is not a gateway ------------------------------------------------------------
spawn n node --subscribe swarm/default/nodes --exit-after "$limit"
within "$limit" json_event n '.event == "listening"'
addr=$(jq -r -R 'fromjson? | select(.event == "listening") | .addr' "$tmp/n.out" | head -n 1)
bare=${addr%/p2p/*}
check "the node listens" test -n "$addr"

# named only by its address: refused, no task stream
spawn u start --bootstrap "$bare" --json --data-dir "$tmp/u" --threads 1
check "an untrusted bootstrap peer is refused" \
    within "$limit" json_event u '.event == "refused" and (.message | test("not a trusted"))'
check "SIGINT ends the worker with 0" ends u INT

# trusted by /p2p/ID: the task stream fails (not a gateway), the worker lives on and beats
spawn w start --bootstrap "$addr" --json --data-dir "$tmp/w" --threads 1 --shard 3
check "a peer without /swarm/task is an error on stderr" \
    within "$limit" has_line w.err "task stream"
check "heartbeats reach swarm/default/nodes" \
    within "$limit" json_event n '.event == "message" and .topic == "swarm/default/nodes"'
check "the key is in the data dir" test -s "$tmp/w/identity.key"
check "the module cache is 0700" test "$(stat -c %a "$tmp/w/modules")" = 700
check "SIGTERM ends the worker with 0" ends w TERM
kill -TERM "$(cat "$tmp/n.pid")" 2>/dev/null

echo "$ok passed, $bad failed"
[ "$bad" -eq 0 ]
