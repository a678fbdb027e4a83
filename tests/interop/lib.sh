# shellcheck shell=bash
# lib.sh - shared by the interop test scripts (tests/interop/test_*.sh): start js-libp2p and
# swarm peers, wait for their JSON-lines events, check them, clean up. Source it, then call
# interop_init "$@" first.
#
# A peer is a KIND, "c" (swarm node) or "js" (peer.mjs), started with the same arguments either
# way; its events go to DIR/ROLE.log and its stderr to DIR/ROLE.err. Checks print
# "FAIL: [scenario] what" and count failures in INTEROP_FAILS; a scenario script ends with
# scenario_end, which dumps the logs when something failed.
#
# Environment:
#   INTEROP_DEBUG=1   js peers log with DEBUG='libp2p:*' (in ROLE.err; dumped on failure)
#   INTEROP_KEEP=1    keep the temporary directory (its path is printed)

# interop_init SWARM_BINARY_OR_EMPTY: sets INTEROP_DIR (this folder), INTEROP_TMP, SWARM (absolute
# path of the binary, when given), checks node and node_modules (exit 77 when missing) and
# installs the cleanup trap.
interop_init() {
    INTEROP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    SWARM=
    if [ -n "${1:-}" ]; then
        if [ ! -x "$1" ]; then
            echo "FAIL: $1 is missing or not executable (did the build fail?)"
            exit 1
        fi
        SWARM=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    fi
    if ! command -v node >/dev/null 2>&1; then
        echo "skipped: node is not installed (js-libp2p interop needs Node.js >= 20 and npm)"
        exit 77
    fi
    if ! node -e 'process.exit(+process.versions.node.split(".")[0] >= 20 ? 0 : 1)'; then
        echo "skipped: node $(node --version) is too old (js-libp2p 3.x needs Node.js >= 20)"
        exit 77
    fi
    if [ ! -f "$INTEROP_DIR/node_modules/libp2p/package.json" ]; then
        echo "skipped: $INTEROP_DIR/node_modules missing (run scripts/deps.sh, or npm ci there)"
        exit 77
    fi
    INTEROP_TMP=$(mktemp -d "${TMPDIR:-/tmp}/swarm-interop.XXXXXX")
    INTEROP_PIDS=$INTEROP_TMP/pids
    : >"$INTEROP_PIDS"
    INTEROP_FAILS=0
    trap interop_cleanup EXIT
    trap 'exit 130' INT TERM
}

# Kills every process started through run_peer or run_bg (by pid, nothing else), then removes
# the temporary directory.
interop_cleanup() {
    local p
    while read -r p; do
        kill "$p" 2>/dev/null
    done <"$INTEROP_PIDS"
    sleep 0.2
    while read -r p; do
        kill -9 "$p" 2>/dev/null
    done <"$INTEROP_PIDS"
    if [ "${INTEROP_KEEP:-0}" = 1 ]; then
        echo "kept $INTEROP_TMP"
    else
        rm -rf "$INTEROP_TMP"
    fi
}

# harness ARGS...: runs harness.mjs (event queries, key generation).
harness() { node "$INTEROP_DIR/harness.mjs" "$@"; }

# run_peer KIND DIR/ROLE ARGS...: starts a peer in the background; sets PEER_PID. Call it
# directly (not in $(...)) so the peer is this shell's child and wait_exit can reap it.
run_peer() {
    local kind=$1 base=$2
    shift 2
    case $kind in
    c)
        [ -n "$SWARM" ] || {
            echo "run_peer: no swarm binary" >&2
            return 1
        }
        "$SWARM" node "$@" >"$base.log" 2>"$base.err" &
        ;;
    js)
        (
            cd "$INTEROP_DIR" || exit 1
            if [ "${INTEROP_DEBUG:-0}" = 1 ]; then export DEBUG='libp2p:*'; fi
            exec node --import ./polyfill.mjs peer.mjs "$@"
        ) >"$base.log" 2>"$base.err" &
        ;;
    *)
        echo "run_peer: unknown kind $kind" >&2
        return 1
        ;;
    esac
    PEER_PID=$!
    echo "$PEER_PID" >>"$INTEROP_PIDS"
}

# kind_name KIND: how failure messages name a kind of peer.
kind_name() { [ "$1" = c ] && echo swarm || echo js-libp2p; }

# kind_agent KIND: the identify condition the agent version of such a peer satisfies.
kind_agent() { [ "$1" = c ] && echo 'agent^=swarm/' || echo 'agent~=js-libp2p'; }

# ev_count LOG EVENT [COND]... / ev_get LOG EVENT FIELD [COND]...: see harness.mjs.
ev_count() { harness count "$@"; }
ev_get() { harness get "$@"; }

# ev_dups LOG EVENT KEY[,KEY]... [COND]...: how many matching events repeat the KEY fields of an
# earlier one (e.g. ev_dups LOG message from,seqno: messages delivered more than once).
ev_dups() { harness dups "$@"; }

# now_ms: milliseconds since the epoch.
now_ms() { date +%s%3N; }

# fail SCENARIO MESSAGE: records a failure.
fail() {
    echo "FAIL: [$1] $2"
    INTEROP_FAILS=$((INTEROP_FAILS + 1))
}

# wait_event SECONDS PID LOG EVENT [COND]...: waits until LOG has a matching event. Returns 1
# at the deadline or as soon as PID has exited without one.
wait_event() { harness wait "$@"; }

# wait_events SECONDS PID LOG N EVENT [COND]...: wait_event for at least N matching events.
wait_events() { harness waitn "$@"; }

# expect_delivered SCENARIO RECV_LOG PUB_LOG... [-- COND...]: every message the PUB_LOG peers
# report as "published" reached RECV_LOG exactly once, as a "message" event with the same
# topic, seqno, data and encoding, from the publisher's id, and matching the CONDs
# (gossipsub; see harness.mjs delivered). Sets DELIVERED to the number published.
expect_delivered() {
    local sc=$1 recv=$2 out total ok
    shift 2
    out=$(harness delivered "$recv" "$@") || {
        fail "$sc" "harness.mjs delivered failed"
        return
    }
    read -r total ok <<<"${out%%$'\n'*}"
    # shellcheck disable=SC2034 # for the caller
    DELIVERED=$total
    if [ "$ok" != "$total" ]; then
        fail "$sc" "$(basename "$recv"): $((total - ok)) of $total published messages not delivered exactly once:"
        tail -n +2 <<<"$out" | head -n 8 | sed 's/^/      /'
    fi
}

# expect_events SCENARIO WHAT MIN LOG EVENT [COND]...: LOG has at least MIN matching events.
expect_events() {
    local sc=$1 what=$2 min=$3 log=$4
    shift 4
    local n
    n=$(ev_count "$log" "$@")
    if [ "$n" -lt "$min" ]; then
        fail "$sc" "$what: $n '$*' events in $(basename "$log"), expected at least $min"
    fi
}

# expect_no_events SCENARIO WHAT LOG EVENT [COND]...: LOG has no matching event.
expect_no_events() {
    local sc=$1 what=$2 log=$3
    shift 3
    local n
    n=$(ev_count "$log" "$@")
    if [ "$n" -ne 0 ]; then
        fail "$sc" "$what: $n '$*' events in $(basename "$log"), expected none"
        grep -F "\"event\":\"$1\"" "$log" | head -n 5 | sed 's/^/      /'
    fi
}

# wait_exit SECONDS PID: waits for PID to exit; sets EXIT_CODE (124 if it is still running at
# the deadline; it is left to the cleanup trap then).
wait_exit() {
    local secs=$1 pid=$2
    local deadline=$((SECONDS + secs))
    while kill -0 "$pid" 2>/dev/null; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            EXIT_CODE=124
            return 1
        fi
        sleep 0.2
    done
    wait "$pid"
    EXIT_CODE=$?
    [ "$EXIT_CODE" -eq 0 ]
}

# stop_peer SECONDS PID: SIGTERM, then wait_exit SECONDS PID (both kinds exit 0 on SIGTERM).
stop_peer() {
    kill -TERM "$2" 2>/dev/null
    wait_exit "$1" "$2"
}

# sleep_until SECONDS_VALUE: sleeps until $SECONDS reaches it (in short steps, so a kill of
# this shell does not leave a long sleep behind).
sleep_until() {
    while [ "$SECONDS" -lt "$1" ]; do sleep 0.5; done
}

# dump_peer TITLE DIR/ROLE: prints a peer's events and the end of its stderr, indented.
dump_peer() {
    echo "    ---- $1: events ($2.log)"
    sed 's/^/    | /' "$2.log" 2>/dev/null | tail -n 60
    if [ -s "$2.err" ]; then
        echo "    ---- $1: stderr, last 40 lines ($2.err)"
        tail -n 40 "$2.err" | sed 's/^/    | /'
    fi
}
