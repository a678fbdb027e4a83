#!/usr/bin/env bash
# gossipsub interop with js-libp2p 3.x and @libp2p/gossipsub 17 (tests/interop/package.json):
#   (a) js listens, swarm dials; (b) swarm listens, js dials: both subscribe, each side sees the
#       other's subscription and gets each of the other's three messages exactly once, with the
#       right author, topic and text;
#   (c) a mixed line of six, c1 - j1 - c2 - j2 - c3 - j3 (each dials the one before it; most
#       pairs are not connected): every node publishes three messages and gets all 15 of the
#       others' exactly once, through up to five hops of both implementations.
# js runs with our message ids (--msg-id from-seqno), so IHAVE/IWANT/IDONTWANT match.
# Every peer ends by its --exit-after and must exit 0.
#
# usage: test_gossip.sh PATH/TO/swarm       (CTest: interop.test_gossip)
#        test_gossip.sh --js-js             every swarm role played by js: checks the harness
# Environment: INTEROP_DEBUG=1, INTEROP_KEEP=1 (see lib.sh).
# Exit: 0 passed, 1 failed, 77 skipped (no node, or node_modules not installed).
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "${1:-}" = --js-js ]; then
    C=js
    interop_init ""
else
    C=c
    interop_init "${1:?usage: test_gossip.sh PATH/TO/swarm | --js-js}"
fi

TOPIC=swarm/test/gossip

# start_node KIND DIR/ROLE ARGS...: runs a peer subscribed to TOPIC and waits for its
# 127.0.0.1 listening address; sets NODE_PID, NODE_ADDR and NODE_ID (empty on failure).
start_node() {
    local kind=$1 base=$2
    shift 2
    NODE_ADDR= NODE_ID=
    run_peer "$kind" "$base" --listen /ip4/127.0.0.1/tcp/0 --subscribe "$TOPIC" --msg-id from-seqno \
        "$@" || return 1
    NODE_PID=$PEER_PID
    wait_event 30 "$NODE_PID" "$base.log" listening 'addr^=/ip4/127.0.0.1/tcp/' || return 1
    NODE_ADDR=$(ev_get "$base.log" listening addr 'addr^=/ip4/127.0.0.1/tcp/')
    NODE_ID=${NODE_ADDR##*/p2p/}
}

# expect_once SCENARIO LOG FROM TEXT: LOG has exactly one message event from FROM with TEXT.
expect_once() {
    local n
    n=$(ev_count "$2" message "from=$3" "data=$4" "topic=$TOPIC" encoding=utf-8)
    [ "$n" -eq 1 ] || fail "$1" "$(basename "$2"): $n messages '$4' from $3, expected exactly 1"
}

# pair NAME LISTENER_KIND DIALER_KIND
pair() {
    local sc=$1 lk=$2 dk=$3 d=$INTEROP_TMP/$1 lid did lpid dpid addr
    mkdir -p "$d"
    local L=$d/listener D=$d/dialer
    start_node "$lk" "$L" --publish "$TOPIC=$lk listener says {n}" --publish-every 400 \
        --publish-count 3 --settle 2500 --exit-after 14 ||
        { fail "$sc" "listener did not start"; dump_peer listener "$L"; return 1; }
    lpid=$NODE_PID addr=$NODE_ADDR lid=$NODE_ID
    start_node "$dk" "$D" --connect "$addr" --publish "$TOPIC=$dk dialer says {n}" \
        --publish-every 400 --publish-count 3 --settle 2500 --exit-after 10 ||
        { fail "$sc" "dialer did not start"; dump_peer dialer "$D"; return 1; }
    dpid=$NODE_PID did=$NODE_ID
    wait_event 20 "$lpid" "$L.log" subscribed "peer=$did" "topic=$TOPIC" ||
        fail "$sc" "listener: no 'subscribed' event for the dialer"
    wait_event 20 "$dpid" "$D.log" subscribed "peer=$lid" "topic=$TOPIC" ||
        fail "$sc" "dialer: no 'subscribed' event for the listener"
    wait_event 20 "$lpid" "$L.log" message "data=$dk dialer says 3" || true
    wait_event 20 "$dpid" "$D.log" message "data=$lk listener says 3" || true
    for k in 1 2 3; do
        expect_once "$sc" "$L.log" "$did" "$dk dialer says $k"
        expect_once "$sc" "$D.log" "$lid" "$lk listener says $k"
    done
    expect_events "$sc" "the dialer's messages came straight from it" 3 "$L.log" message \
        "received_from=$did"
    expect_events "$sc" "the dialer published to one peer" 3 "$D.log" published peers=1
    wait_exit 20 "$dpid" || fail "$sc" "dialer exited $EXIT_CODE, expected 0"
    wait_exit 20 "$lpid" || fail "$sc" "listener exited $EXIT_CODE, expected 0"
    if [ "$INTEROP_FAILS" -gt 0 ]; then
        dump_peer "listener ($(kind_name "$lk"))" "$L"
        dump_peer "dialer ($(kind_name "$dk"))" "$D"
        return 1
    fi
    echo "ok: [$sc] $(kind_name "$dk") dials $(kind_name "$lk"): 3 + 3 messages, each once"
}

# The mixed line: c1 - j1 - c2 - j2 - c3 - j3.
line() {
    local sc=line d=$INTEROP_TMP/line prev= i name kind
    local names=(c1 j1 c2 j2 c3 j3) ids=() pids=()
    mkdir -p "$d"
    for i in 0 1 2 3 4 5; do
        name=${names[$i]}
        kind=js
        [ "${name:0:1}" = c ] && kind=$C
        # every node publishes 3 messages from 7 s after its first connection: by then the
        # whole line is up (js starts in about a second) and the meshes have formed
        if ! start_node "$kind" "$d/$name" ${prev:+--connect "$prev"} \
            --publish "$TOPIC=$name message {n}" --publish-every 700 --publish-count 3 \
            --settle 7000 --exit-after 30; then
            fail "$sc" "$name did not start"
            dump_peer "$name" "$d/$name"
            return 1
        fi
        prev=$NODE_ADDR
        ids[$i]=$NODE_ID
        pids[$i]=$NODE_PID
    done
    local j k n
    for i in 0 1 2 3 4 5; do
        for j in 0 1 2 3 4 5; do
            [ "$i" -eq "$j" ] && continue
            wait_event 30 "${pids[$i]}" "$d/${names[$i]}.log" message \
                "data=${names[$j]} message 3" || true
        done
    done
    for i in 0 1 2 3 4 5; do
        n=$(ev_count "$d/${names[$i]}.log" message "topic=$TOPIC")
        [ "$n" -eq 15 ] || fail "$sc" "${names[$i]} got $n messages, expected 15"
        for j in 0 1 2 3 4 5; do
            [ "$i" -eq "$j" ] && continue
            for k in 1 2 3; do
                expect_once "$sc" "$d/${names[$i]}.log" "${ids[$j]}" "${names[$j]} message $k"
            done
        done
    done
    for i in 0 1 2 3 4 5; do
        wait_exit 40 "${pids[$i]}" || fail "$sc" "${names[$i]} exited $EXIT_CODE, expected 0"
    done
    if [ "$INTEROP_FAILS" -gt 0 ]; then
        for i in 0 1 2 3 4 5; do dump_peer "${names[$i]}" "$d/${names[$i]}"; done
        return 1
    fi
    echo "ok: [$sc] c1 - j1 - c2 - j2 - c3 - j3: every node got the 15 messages of the others, each once"
}

# The pairs run side by side, then the line.
pair a js "$C" >"$INTEROP_TMP/a.out" 2>&1 &
pa=$!
echo "$pa" >>"$INTEROP_PIDS"
pair b "$C" js >"$INTEROP_TMP/b.out" 2>&1 &
pb=$!
echo "$pb" >>"$INTEROP_PIDS"
wait "$pa"
ra=$?
wait "$pb"
rb=$?
cat "$INTEROP_TMP/a.out" "$INTEROP_TMP/b.out"
line
rl=$?
if [ "$ra" -eq 0 ] && [ "$rb" -eq 0 ] && [ "$rl" -eq 0 ]; then
    echo "passed"
    exit 0
fi
echo "failed"
exit 1
