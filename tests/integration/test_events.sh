#!/usr/bin/env bash
# The live event stream GET /api/v1/events with a real gateway and a real worker: `curl -N`
# sees hello, the worker's node event, a job's start, its batched shards events (adding up to
# every shard done, the last one final) and its end, in that order; the token rule (header,
# or ?token= on this route only); the 65th stream gets 503 and a freed slot serves again; a
# client that stops reading is dropped (/metrics counts it) while the gateway goes on
# answering and finishing jobs.
#
# usage: test_events.sh [PATH/TO/swarm]    Exits 77 (skipped) without curl or python3.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"
sse="python3 $root/tests/integration/sse.py"

for tool in curl python3; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed"
        exit 77
    fi
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

token=s3cret
mkdir -p "$tmp/gw"
"$swarm" gateway --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$tmp/gw" \
    --token "$token" >"$tmp/gw/out" 2>"$tmp/gw/err" &
gw_pid=$!
pids+=("$gw_pid")
port=""
for _ in $(seq 100); do
    port=$(sed -n 's#^dashboard: http://127.0.0.1:\([0-9]*\)/$#\1#p' "$tmp/gw/out")
    [ -n "$port" ] && break
    sleep 0.05
done
if [ -z "$port" ]; then
    fail "gateway did not start: $(cat "$tmp/gw/err")"
    exit 1
fi
url=http://127.0.0.1:$port
peer_addr=$(sed -n 's#^  \(/ip4/.*/p2p/.*\)$#\1#p' "$tmp/gw/out" | head -1)
auth=(-H "Authorization: Bearer $token")

# code ARGS...: the status of a request that may be a stream (cut after 2 s)
code() {
    curl -s -m 2 -o /dev/null -w '%{http_code}' "$@"
}

# --- the token rule ----------------------------------------------------------------------------
check "no token: 401" [ "$(code "$url/api/v1/events")" = 401 ]
check "wrong ?token=: 401" [ "$(code "$url/api/v1/events?token=nope")" = 401 ]
check "?token= on another route: 401" [ "$(code "$url/api/v1/nodes?token=$token")" = 401 ]
check "bearer header: 200" [ "$(code "${auth[@]}" "$url/api/v1/events")" = 200 ]
check "?token=: 200" [ "$(code "$url/api/v1/events?token=$token")" = 200 ]
ctype=$(curl -s -m 1 -o /dev/null -w '%{content_type}' "$url/api/v1/events?token=$token")
check "content type text/event-stream ($ctype)" [ "$ctype" = text/event-stream ]

# --- a job seen from the stream ----------------------------------------------------------------
curl -sN -m 60 "$url/api/v1/events?token=$token" >"$tmp/stream" &
curl_pid=$!
pids+=("$curl_pid")
sleep 0.3
"$swarm" start --data-dir "$tmp/w1" --threads 2 --bootstrap "$peer_addr" >"$tmp/w1.out" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
    grep -q '^event: node' "$tmp/stream" && break
    sleep 0.1
done
check "a node event when the worker joins" grep -q '^event: node' "$tmp/stream"
want=$("$swarm" run "$root/examples/collatz.wasm" --range 1..20001)
hash=$(curl -s "${auth[@]}" --data-binary @"$root/examples/collatz.wasm" "$url/api/v1/modules" |
    sed -n 's/.*"hash": "\([0-9a-f]*\)".*/\1/p')
answer=$(curl -s -m 60 "${auth[@]}" "$url/api/v1/jobs" \
    -d "{\"module\": \"$hash\", \"range\": [1, 20001], \"shards\": 2000, \"deadline_ms\": 50000, \"wait\": true}")
job=$(sed -n 's/^{"id": "\([0-9a-f]*\)".*/\1/p' <<<"$answer")
check "the job's value ($want)" grep -q "\"value\": $want," <<<"$answer"
for _ in $(seq 50); do
    grep -q "\"id\": \"$job\", \"status\": \"done\"" "$tmp/stream" && break
    sleep 0.1
done
kill "$curl_pid" 2>/dev/null
wait "$curl_pid" 2>/dev/null
if $sse check "$tmp/stream" "$job"; then pass "the stream's events"; else fail "the stream's events"; fi

# event_clients: the gauge of streams open, from /metrics
event_clients() {
    curl -s "${auth[@]}" "$url/metrics" | sed -n 's/^swarm_gateway_event_clients \([0-9]*\)$/\1/p'
}

# --- at most 64 streams ------------------------------------------------------------------------
for _ in $(seq 50); do
    [ "$(event_clients)" = 0 ] && break
    sleep 0.1
done
check "streams whose clients left are gone ($(event_clients) open)" [ "$(event_clients)" = 0 ]
mkfifo "$tmp/hold.in"
$sse hold "$port" "$token" 64 60 <"$tmp/hold.in" >"$tmp/hold.out" &
hold_pid=$!
pids+=("$hold_pid")
exec 3>"$tmp/hold.in"
for _ in $(seq 100); do
    [ -s "$tmp/hold.out" ] && break
    sleep 0.1
done
check "64 streams open ($(cat "$tmp/hold.out"))" grep -q "^open 64$" "$tmp/hold.out"
body=$(curl -s -m 2 -w ' %{http_code}' "$url/api/v1/events?token=$token" | tr -d '\n')
check "the 65th gets 503 ($body)" grep -q "too many event streams.* 503$" <<<"$body"
exec 3>&- # the holder closes its streams
wait "$hold_pid"
for _ in $(seq 50); do
    [ "$(code "$url/api/v1/events?token=$token")" = 200 ] && break
    sleep 0.1
done
check "a freed slot serves again" [ "$(code "$url/api/v1/events?token=$token")" = 200 ]

# --- a client that does not read ---------------------------------------------------------------
mkfifo "$tmp/stall.in"
$sse stall "$port" "$token" 400 <"$tmp/stall.in" >"$tmp/stall.out" &
stall_pid=$!
exec 4>"$tmp/stall.in"
pids+=("$stall_pid")
sleep 0.5
# jobs until the stalled stream has more than 1 MiB unread (past the kernel's buffers); each
# 20,000-shard job is about 0.9 MB of shards events
dropped_total() {
    curl -s "${auth[@]}" "$url/metrics" |
        sed -n 's/^swarm_gateway_event_clients_dropped_total \([0-9]*\)$/\1/p'
}
jobs_run=0 jobs_ok=0
while [ "$jobs_run" -lt 12 ] && [ "$(dropped_total)" = 0 ]; do
    c=$(curl -s -m 200 -o /dev/null -w '%{http_code}' "${auth[@]}" "$url/api/v1/jobs" \
        -d "{\"module\": \"$hash\", \"range\": [1, 20001], \"shards\": 20000, \"deadline_ms\": 180000, \"wait\": true}")
    jobs_run=$((jobs_run + 1))
    [ "$c" = 200 ] && jobs_ok=$((jobs_ok + 1))
    c=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "${auth[@]}" "$url/api/v1/nodes")
    [ "$c" = 200 ] || fail "the API while a client stalls: $c"
done
check "jobs finish while a client stalls ($jobs_ok of $jobs_run)" [ "$jobs_ok" = "$jobs_run" ]
dropped=$(dropped_total)
check "the stalled client is dropped (dropped: $dropped)" [ "${dropped:-0}" -ge 1 ]
exec 4>&-
wait "$stall_pid"
check "its connection is closed ($(cat "$tmp/stall.out"))" grep -q "^closed$" "$tmp/stall.out"

kill -INT "$gw_pid"
if wait "$gw_pid"; then pass "gateway exits cleanly"; else fail "gateway exit status $?"; fi
summary
