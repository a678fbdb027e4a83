#!/usr/bin/env bash
# `swarm node` and `swarm id`: nodes connect, identify and ping each other; a dial to the wrong
# peer id fails without a connection; silent and garbage TCP clients are dropped while the node
# goes on serving; keys persist; usage errors, a busy port and signals give the right exit codes.
# Events are read with jq, which also checks that every line printed is valid JSON.
#
# Every node runs with --exit-after as a backstop, every wait has a deadline, and anything still
# running when the script ends is killed by the EXIT trap.
#
# usage: test_node.sh [PATH/TO/swarm]       (default: build/swarm)
# Exits 77 (CTest's "skipped") when jq is not installed.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
limit=${SWARM_TEST_TIMEOUT:-20} # seconds: the longest any node or wait may take
passed=0
failed=0

if ! command -v jq >/dev/null 2>&1; then
    echo "SKIP: jq is not installed"
    exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    for p in "${pids[@]}"; do
        kill -KILL "$p" 2>/dev/null
    done
    exec 3<&- 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
out=$tmp/out
err=$tmp/err

pass() {
    passed=$((passed + 1))
}

# fail MESSAGE [NODE...]: counts a failure and shows the named nodes' output.
fail() {
    failed=$((failed + 1))
    echo "FAIL: $1"
    shift
    local n
    for n in "$@"; do
        sed "s/^/    $n stdout: /" "$tmp/$n.out" 2>/dev/null
        sed "s/^/    $n stderr: /" "$tmp/$n.err" 2>/dev/null
    done
}

# node NAME ARGS...: starts `swarm node ARGS` in the background; stdout goes to $tmp/NAME.out,
# stderr to $tmp/NAME.err. Always add --exit-after: it bounds the node's life.
node() {
    local name=$1
    shift
    "$swarm" node "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    pids+=($!)
    echo $! >"$tmp/$name.pid"
}

# events NAME FILTER: NAME's events for which the jq expression FILTER is true, one per line.
# Lines are read raw and parsed one by one, so a line still being written is just skipped.
events() {
    jq -c -R "fromjson? | select($2)" "$tmp/$1.out" 2>/dev/null
}

# wait_for NAME FILTER [SECONDS]: waits until NAME printed an event matching FILTER.
wait_for() {
    local deadline=$((SECONDS + ${3:-$limit}))
    while [ -z "$(events "$1" "$2")" ]; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            return 1
        fi
        sleep 0.05
    done
}

# expect_event NAME FILTER DESCRIPTION [SECONDS]: NAME prints an event matching FILTER in time.
expect_event() {
    if wait_for "$1" "$2" "${4:-$limit}"; then
        pass
    else
        fail "$3: $1 printed no event matching '$2'" "$1"
    fi
}

# expect_none NAME FILTER DESCRIPTION: NAME has printed no event matching FILTER.
expect_none() {
    if [ -z "$(events "$1" "$2")" ]; then
        pass
    else
        fail "$3: $1 printed an event matching '$2'" "$1"
    fi
}

# addr NAME: NAME's first listening address (with /p2p/ID); waits for it. Empty on failure.
addr() {
    if wait_for "$1" '.event == "listening"'; then
        events "$1" '.event == "listening"' | head -n 1 | jq -r .addr
    fi
}

# port ADDR: the TCP port of a multiaddr.
port() {
    sed -E 's|.*/tcp/([0-9]+).*|\1|' <<<"$1"
}

# stop NAME [SIGNAL]: sends SIGNAL (default TERM) and expects exit 0 within 5 seconds.
stop() {
    local pid i
    pid=$(cat "$tmp/$1.pid")
    kill -"${2:-TERM}" "$pid" 2>/dev/null
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        fail "$1 still running 5 s after SIG${2:-TERM}" "$1"
        return
    fi
    wait "$pid"
    local code=$?
    if [ "$code" -eq 0 ]; then
        pass
    else
        fail "$1 exited $code after SIG${2:-TERM}, expected 0" "$1"
    fi
}

# expect CODE DESCRIPTION -- ARGS...: runs swarm ARGS in the foreground, checks the exit code.
expect() {
    local want=$1 what=$2
    shift 3
    timeout "$limit" "$swarm" "$@" >"$out" 2>"$err"
    local got=$?
    if [ "$got" -eq "$want" ]; then
        pass
    else
        failed=$((failed + 1))
        echo "FAIL: $what: 'swarm $*' exited $got, expected $want"
        sed 's/^/    stdout: /' "$out"
        sed 's/^/    stderr: /' "$err"
    fi
}

# has FILE PATTERN DESCRIPTION: FILE contains PATTERN (grep -E).
has() {
    if grep -qE -- "$2" "$1"; then
        pass
    else
        failed=$((failed + 1))
        echo "FAIL: $3: $(basename "$1") lacks '$2'"
        sed 's/^/    /' "$1"
    fi
}

# same A B DESCRIPTION: two strings are equal and not empty.
same() {
    if [ -n "$1" ] && [ "$1" = "$2" ]; then
        pass
    else
        failed=$((failed + 1))
        echo "FAIL: $3: '$1' vs '$2'"
    fi
}

# dropped PORT DESCRIPTION: after the caller wrote what it wanted on fd 3 (a TCP connection to
# PORT), the node closes the connection within 3 seconds (EOF or reset, not a timeout).
dropped() {
    timeout 3 cat <&3 >/dev/null 2>&1
    local code=$?
    exec 3<&-
    if [ "$code" -ne 124 ]; then
        pass
    else
        failed=$((failed + 1))
        echo "FAIL: $2: the node kept the connection open for 3 s"
    fi
}

# --- usage -------------------------------------------------------------------------------

expect 0 "node --help" -- node --help
has "$out" "^usage: swarm node" "node --help prints usage on stdout"
has "$out" "--connect" "node --help lists --connect"
expect 0 "id --help" -- id --help
has "$out" "^usage: swarm id" "id --help prints usage on stdout"
expect 2 "unknown flag" -- node --frob
has "$err" "unknown option '--frob'" "unknown flag message"
expect 2 "listen on garbage" -- node --listen not-a-multiaddr --exit-after 1
has "$err" "--listen 'not-a-multiaddr'" "listen on garbage names the address"
expect 2 "listen on udp" -- node --listen /ip4/127.0.0.1/udp/4001 --exit-after 1
expect 2 "listen on a bad ip" -- node --listen /ip4/300.1.1.1/tcp/0 --exit-after 1
expect 2 "listen on a dns name" -- node --listen /dns4/localhost/tcp/0 --exit-after 1
expect 2 "listen without a port" -- node --listen /ip4/127.0.0.1 --exit-after 1
expect 2 "connect to garbage" -- node --connect /ip4/127.0.0.1/tcp/notaport --exit-after 1
has "$err" "--connect '/ip4/127.0.0.1/tcp/notaport'" "connect to garbage names the address"
expect 2 "connect to a bad peer id" -- node --connect /ip4/127.0.0.1/tcp/1/p2p/12D3KooW0OIl \
    --exit-after 1
expect 2 "bad --exit-after" -- node --exit-after soon
expect 2 "negative --exit-after" -- node --exit-after -1
expect 2 "bad --handshake-timeout" -- node --handshake-timeout 0 --exit-after 1
expect 2 "bad --idle-timeout" -- node --idle-timeout x --exit-after 1
expect 2 "id with a stray argument" -- id extra
expect 2 "--publish without =" -- node --publish topic --exit-after 1
has "$err" "TOPIC=TEXT" "--publish without = says what it expects"
expect 2 "--publish with an empty topic" -- node --publish =text --exit-after 1
expect 2 "--publish-every without --publish" -- node --subscribe t --publish-every 100 --exit-after 1
expect 2 "--publish-every 0" -- node --publish t=x --publish-every 0 --exit-after 1
expect 2 "--publish-count 0" -- node --publish t=x --publish-count 0 --exit-after 1
expect 2 "unknown --msg-id" -- node --subscribe t --msg-id md5 --exit-after 1
has "$err" "from-seqno, key-seqno or content" "--msg-id lists the schemes"
expect 2 "--max-message-size too big" -- node --subscribe t --max-message-size 99999999 \
    --exit-after 1
long_topic=$(printf 't%.0s' $(seq 1 1100))
expect 2 "a topic over 1024 bytes" -- node --subscribe "$long_topic" --exit-after 1

# --- --exit-after, default listen address ------------------------------------------------

start=$SECONDS
expect 0 "--exit-after ends the node" -- node --exit-after 0.3
[ $((SECONDS - start)) -le 3 ] && pass || fail "--exit-after 0.3 took $((SECONDS - start)) s"
listening=$(jq -r 'select(.event == "listening") | .addr' "$out")
if [[ "$listening" =~ ^/ip4/127\.0\.0\.1/tcp/[1-9][0-9]*/p2p/12D3KooW[1-9A-HJ-NP-Za-km-z]+$ ]]; then
    pass
else
    fail "default listen address: got '$listening'"
fi
has "$err" "memory" "without --key the node says its key lives in memory only"

# --- two nodes: connect, identify, ping ---------------------------------------------------

node a --listen /ip4/127.0.0.1/tcp/0 --exit-after "$limit"
addr_a=$(addr a)
id_a=${addr_a##*/p2p/}
[ -n "$addr_a" ] && pass || fail "a did not announce a listen address" a
node b --connect "$addr_a" --ping --exit-after "$limit"
addr_b=$(addr b)
id_b=${addr_b##*/p2p/}
expect_event b ".event == \"connected\" and .peer == \"$id_a\" and .direction == \"out\" and
    (.addr | startswith(\"/ip4/127.0.0.1/tcp/$(port "$addr_a")\"))" "b connects out to a"
expect_event b ".event == \"identified\" and .peer == \"$id_a\" and (.agent | startswith(\"swarm/\"))
    and (.protocols | index(\"/ipfs/ping/1.0.0\")) and (.protocols | index(\"/ipfs/id/1.0.0\"))" \
    "b identifies a"
expect_event b ".event == \"ping\" and .peer == \"$id_a\" and (.rtt_ms | type == \"number\")
    and .rtt_ms >= 0" "b pings a"
expect_event a ".event == \"connected\" and .peer == \"$id_b\" and .direction == \"in\"" \
    "a sees b connect in"
expect_event a ".event == \"identified\" and .peer == \"$id_b\" and
    (.agent | startswith(\"swarm/\"))" "a identifies b"
expect_none a '.event == "ping"' "a pings nobody without --ping"
expect_none b '.event == "error"' "no errors on b"
expect_none a '.event == "error"' "no errors on a"
stop b
expect_event a ".event == \"disconnected\" and .peer == \"$id_b\"" "a sees b leave" 5
stop a INT

# --- both ping; a peer-chosen agent string with control bytes and invalid UTF-8 -----------

node a --listen /ip4/127.0.0.1/tcp/0 --ping --exit-after "$limit"
addr_a=$(addr a)
id_a=${addr_a##*/p2p/}
node b --connect "$addr_a" --ping --agent $'odd\xff\x01"agent\n' --exit-after "$limit"
addr_b=$(addr b)
id_b=${addr_b##*/p2p/}
expect_event a ".event == \"ping\" and .peer == \"$id_b\"" "a pings b (inbound peer)"
expect_event b ".event == \"ping\" and .peer == \"$id_a\"" "b pings a (outbound peer)"
expect_event a ".event == \"identified\" and .agent == \"odd\ufffd\u0001\\\"agent\n\"" \
    "an agent with control bytes and invalid UTF-8 arrives escaped, as valid JSON"
stop b
stop a

# --- a dial to the wrong peer id ----------------------------------------------------------

id_c=$("$swarm" id --key "$tmp/c.key" 2>"$err")
[[ "$id_c" =~ ^12D3KooW ]] && pass || fail "swarm id --key printed '$id_c'"
node a --exit-after "$limit"
addr_a=$(addr a)
node b --connect "${addr_a%/p2p/*}/p2p/$id_c" --exit-after "$limit"
expect_event b ".event == \"error\" and (.message | test(\"mismatch|expected|not the peer\"; \"i\"))
    and .addr == \"${addr_a%/p2p/*}/p2p/$id_c\"" "a dial to the wrong peer id is refused"
expect_none b '.event == "connected"' "no connection to the wrong peer"
expect_none b '.event == "identified"' "no identify with the wrong peer"

# a dial to a port nobody listens on is an error event, and the node keeps running
node d --connect /ip4/127.0.0.1/tcp/1 --exit-after "$limit"
expect_event d '.event == "error" and (.message | contains("/ip4/127.0.0.1/tcp/1"))
    and .addr == "/ip4/127.0.0.1/tcp/1"' "a refused dial is an error event"
stop d
stop b
stop a

# --- silent and garbage TCP clients are dropped; the node serves others afterwards ---------

node a --handshake-timeout 500 --exit-after "$limit"
addr_a=$(addr a)
port_a=$(port "$addr_a")

exec 3<>"/dev/tcp/127.0.0.1/$port_a"
t0=$(date +%s%N)
dropped "$port_a" "a client that sends nothing is dropped at --handshake-timeout"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 300 ] && [ "$ms" -le 2500 ] && pass ||
    fail "silent client dropped after $ms ms, expected about 500" a

exec 3<>"/dev/tcp/127.0.0.1/$port_a"
head -c 4096 /dev/urandom >&3 2>/dev/null
dropped "$port_a" "random bytes instead of multistream"

exec 3<>"/dev/tcp/127.0.0.1/$port_a"
env printf 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n' >&3 2>/dev/null
dropped "$port_a" "an HTTP request instead of multistream"

exec 3<>"/dev/tcp/127.0.0.1/$port_a"
env printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' >&3 2>/dev/null
dropped "$port_a" "a huge length prefix"

exec 3<>"/dev/tcp/127.0.0.1/$port_a"
env printf '\x13/multistream/1.0.0\n\x0e/no/such/1.0\n' >&3 2>/dev/null
dropped "$port_a" "multistream, then an unknown security protocol, then silence"

kill -0 "$(cat "$tmp/a.pid")" 2>/dev/null && pass || fail "a died from bad clients" a
node b --connect "$addr_a" --ping --exit-after "$limit"
expect_event b ".event == \"ping\" and .peer == \"${addr_a##*/p2p/}\"" \
    "a still serves a real node after bad clients"
stop b
stop a

# --- --idle-timeout closes a connection without streams -----------------------------------

node a --idle-timeout 300 --exit-after "$limit"
addr_a=$(addr a)
node b --connect "$addr_a" --exit-after "$limit"
addr_b=$(addr b)
expect_event a ".event == \"disconnected\" and .peer == \"${addr_b##*/p2p/}\"" \
    "an idle connection is closed after --idle-timeout" 10
stop b
stop a

# --- keys: --key and --data-dir persist the identity; swarm id agrees ----------------------

expect 0 "node with a new key file" -- node --key "$tmp/keys/n.key" --exit-after 0.2
has "$err" "created new key at $tmp/keys/n.key" "the new key is reported"
first=$(jq -r 'select(.event == "listening") | .addr | sub(".*/p2p/"; "")' "$out" | head -n 1)
expect 0 "node with the same key file" -- node --key "$tmp/keys/n.key" --exit-after 0.2
second=$(jq -r 'select(.event == "listening") | .addr | sub(".*/p2p/"; "")' "$out" | head -n 1)
same "$first" "$second" "the same key file gives the same peer id"
if grep -q created "$err"; then fail "an existing key was reported as created"; else pass; fi
same "$(stat -c %a "$tmp/keys/n.key")" 600 "the key file has mode 600"
same "$("$swarm" id --key "$tmp/keys/n.key")" "$first" "swarm id --key prints the node's id"

expect 0 "node with --data-dir" -- node --data-dir "$tmp/dd" --exit-after 0.2
has "$err" "created new key at $tmp/dd/identity.key" "--data-dir keeps its key in identity.key"
dd_id=$(jq -r 'select(.event == "listening") | .addr | sub(".*/p2p/"; "")' "$out" | head -n 1)
same "$("$swarm" id --data-dir "$tmp/dd")" "$dd_id" "swarm id --data-dir prints the node's id"
same "$(SWARM_HOME=$tmp/dd "$swarm" id)" "$dd_id" "swarm id uses \$SWARM_HOME"
same "$(SWARM_HOME='' HOME=$tmp/home "$swarm" id 2>"$err")" \
    "$(SWARM_HOME='' HOME=$tmp/home "$swarm" id 2>/dev/null)" "swarm id under \$HOME/.swarm"
[ -f "$tmp/home/.swarm/identity.key" ] && pass || fail "no key in \$HOME/.swarm"
has "$err" "created new key at $tmp/home/.swarm/identity.key" "swarm id reports a new key"
expect 0 "node with both --key and --data-dir uses --key" -- \
    node --key "$tmp/keys/n.key" --data-dir "$tmp/dd" --exit-after 0.2
same "$(jq -r 'select(.event == "listening") | .addr | sub(".*/p2p/"; "")' "$out" | head -n 1)" \
    "$first" "--key wins over --data-dir"

chmod 644 "$tmp/keys/n.key"
expect 1 "a key file others can read is refused" -- node --key "$tmp/keys/n.key" --exit-after 1
expect 1 "swarm id refuses it too" -- id --key "$tmp/keys/n.key"
printf 'not a key' >"$tmp/keys/bad.key"
chmod 600 "$tmp/keys/bad.key"
expect 1 "a malformed key file is refused" -- node --key "$tmp/keys/bad.key" --exit-after 1
expect 1 "swarm id refuses a malformed key" -- id --key "$tmp/keys/bad.key"

# --- a busy port; signals --------------------------------------------------------------------

node a --exit-after "$limit"
addr_a=$(addr a)
expect 1 "listen on a port in use" -- node --listen "/ip4/127.0.0.1/tcp/$(port "$addr_a")" \
    --exit-after 5
has "$err" "/ip4/127.0.0.1/tcp/$(port "$addr_a").*in use" "a busy port is reported"
start=$SECONDS
stop a TERM
[ $((SECONDS - start)) -le 2 ] && pass || fail "SIGTERM took $((SECONDS - start)) s"

# a node with a live connection also closes cleanly on a signal
node a --exit-after "$limit"
addr_a=$(addr a)
node b --connect "$addr_a" --exit-after "$limit"
expect_event b '.event == "identified"' "b identifies a before the signal"
stop a INT
expect_event b '.event == "disconnected"' "b sees a go away" 5
stop b TERM

# --- a reader that goes away ends the node at its next event (exit 1), not later -----------

(
    "$swarm" node --exit-after "$limit" 2>"$tmp/p.err" | head -n 1 >"$tmp/p.out"
    echo "${PIPESTATUS[0]}" >"$tmp/p.code"
) &
pids+=($!)
addr_p=$(addr p)
node b --connect "$addr_p" --exit-after "$limit"
for ((i = 0; i < 100; i++)); do
    [ -s "$tmp/p.code" ] && break
    sleep 0.05
done
same "$(cat "$tmp/p.code" 2>/dev/null)" 1 "a node whose stdout reader left exits 1 at its next event"
has "$tmp/p.err" "stdout" "a closed stdout is reported on stderr"
stop b

# --- every line printed was valid JSON ------------------------------------------------------

for f in "$tmp"/*.out; do
    if jq -e . "$f" >/dev/null 2>&1 || [ ! -s "$f" ]; then
        pass
    else
        fail "$(basename "$f") holds a line that is not JSON"
        sed 's/^/    /' "$f"
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
