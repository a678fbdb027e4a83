#!/usr/bin/env bash
# gossipsub through `swarm node` processes on 127.0.0.1: two nodes exchange messages both ways
# (text, binary as base64, {n} numbering), a line of three nodes relays through the middle one,
# a message over --max-message-size is refused on publish with a clear error, and every node
# ends with a pubsub_stats event. Events are read with jq.
#
# usage: test_pubsub.sh [PATH/TO/swarm]       (default: build/swarm)
# Exits 77 (CTest's "skipped") when jq is not installed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
limit=20
passed=0
failed=0
command -v jq >/dev/null 2>&1 || {
    echo "SKIP: jq is not installed"
    exit 77
}
tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() { passed=$((passed + 1)); }
bad() {
    failed=$((failed + 1))
    echo "FAIL: $1"
    shift
    local n
    for n in "$@"; do
        sed "s/^/    $n: /" "$tmp/$n.out" "$tmp/$n.err" 2>/dev/null
    done
}
node() {
    local name=$1
    shift
    "$swarm" node "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    echo $! >"$tmp/$name.pid"
}
events() { jq -c -R "fromjson? | select($2)" "$tmp/$1.out" 2>/dev/null; }
count() { events "$1" "$2" | wc -l; }
wait_for() {
    local deadline=$((SECONDS + ${3:-$limit}))
    while [ "$(count "$1" "$2")" -lt "${4:-1}" ]; do
        [ "$SECONDS" -ge "$deadline" ] && return 1
        sleep 0.05
    done
}
expect_n() { # NAME FILTER N DESCRIPTION: exactly N matching events (waits for them)
    wait_for "$1" "$2" "$limit" "$3"
    local got
    got=$(count "$1" "$2")
    if [ "$got" -eq "$3" ]; then ok; else bad "$4: $got events matching '$2', expected $3" "$1"; fi
}
addr() {
    wait_for "$1" '.event == "listening"' && events "$1" '.event == "listening"' | head -n 1 |
        jq -r .addr
}
id_of() { addr "$1" | sed 's|.*/p2p/||'; }
finish() { # NAME: waits for its exit (it has --exit-after); expects 0 and a pubsub_stats event
    local pid
    pid=$(cat "$tmp/$1.pid")
    wait "$pid"
    local code=$?
    if [ "$code" -eq 0 ]; then ok; else bad "$1 exited $code" "$1"; fi
    expect_n "$1" '.event == "pubsub_stats"' 1 "$1 reports its counters at the end"
}

# --- two nodes, both ways ------------------------------------------------------------------

node a --subscribe chat --publish 'chat=hello from a' --publish "chat=$(printf 'bin\xff\xfe')" \
    --settle 1500 --exit-after 5
A=$(addr a)
node b --connect "$A" --subscribe chat --publish 'chat=b says {n}' --publish-every 300 \
    --publish-count 3 --settle 1500 --exit-after 5
B_ID=$(id_of b)
A_ID=${A##*/p2p/}
expect_n a ".event == \"subscribed\" and .peer == \"$B_ID\" and .topic == \"chat\"" 1 \
    "a sees b's subscription"
expect_n b ".event == \"subscribed\" and .peer == \"$A_ID\"" 1 "b sees a's subscription"
for k in 1 2 3; do
    expect_n a ".event == \"message\" and .from == \"$B_ID\" and .data == \"b says $k\" and
        .encoding == \"utf-8\" and .topic == \"chat\" and .received_from == \"$B_ID\"" 1 \
        "a gets b's message $k once"
done
expect_n b ".event == \"message\" and .from == \"$A_ID\" and .data == \"hello from a\"" 1 \
    "b gets a's text message"
expect_n b ".event == \"message\" and .encoding == \"base64\" and
    (.data | @base64d | explode) == [98,105,110,65533,65533]" 1 \
    "b gets a's binary message as base64"
expect_n b '.event == "published" and .peers == 1' 3 "b published three times to one peer"
finish a
finish b
expect_n b '.event == "pubsub_stats" and .published == 3 and .delivered == 2 and .rejected == 0' \
    1 "b's counters"

# --- a line of three: the middle node relays ------------------------------------------------

node m --subscribe line --exit-after 6
M=$(addr m)
node x --connect "$M" --subscribe line --publish 'line=from x' --settle 2500 --exit-after 5
node y --connect "$M" --subscribe line --publish 'line=from y' --settle 2500 --exit-after 5
X_ID=$(id_of x)
Y_ID=$(id_of y)
M_ID=${M##*/p2p/}
expect_n y ".event == \"message\" and .from == \"$X_ID\" and .received_from == \"$M_ID\"" 1 \
    "y gets x's message through m"
expect_n x ".event == \"message\" and .from == \"$Y_ID\" and .received_from == \"$M_ID\"" 1 \
    "x gets y's message through m"
expect_n m '.event == "message"' 2 "m delivers both to itself"
finish x
finish y
finish m

# --- too large to publish ------------------------------------------------------------------

node s --subscribe big --exit-after 4
S=$(addr s)
node t --connect "$S" --max-message-size 10 --publish 'big=this is more than ten bytes' \
    --publish 'big=short' --settle 500 --exit-after 3
expect_n t '.event == "error" and (.message | test("publish big: .*over the maximum of 10"))' 1 \
    "an oversized publish is an error event that says why"
expect_n s '.event == "message" and .data == "short"' 1 "the next publish still goes out"
finish t
finish s

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
