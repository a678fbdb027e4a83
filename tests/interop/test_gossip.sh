#!/usr/bin/env bash
# gossipsub interop with js-libp2p 3.x and @libp2p/gossipsub 17 (tests/interop/package.json),
# StrictSign, js's default mesh parameters (D 6, D_lo 4, D_hi 12, heartbeat 1 s):
#   (a) js listens, swarm dials       (b) swarm listens, js dials
#       Both subscribe; each sees the other's subscription and a GRAFT, publishes two texts
#       (--publish-every/--publish-count) and gets each of the other's exactly once: the right
#       from, seqno (the one the publisher reported), topic, text, utf-8, received_from; a
#       swarm peer also publishes bytes that are not UTF-8, which js must print as base64.
#       Message ids: from-seqno in (a), key-seqno (js's default) in (b).
#   (line) c1 - j1 - c2 - j2 - c3 - j3, each dialing the one before it (no other links):
#       every node publishes three 600-byte messages (IDONTWANT is sent from 512 bytes) and
#       gets all 15 of the others' exactly once, over up to five hops through both
#       implementations, each from one of its neighbours. Message ids: content (SHA-256).
#   (star) IHAVE/IWANT: a js hub, 14 swarm leaves that dial it and subscribe, then 2 more that
#       also publish 3 messages each. js takes GRAFTs only while its mesh is below D_hi (12),
#       so the last 4 leaves are PRUNEd (and stay out for the 60 s back-off). js forwards only
#       to its mesh, so those leaves get the messages only by gossip: the hub's IHAVE, their
#       IWANT, its answer. Every node must get every message exactly once. Message ids:
#       from-seqno (they must match for IWANT to name what IHAVE offered).
# Every peer ends on SIGTERM and must exit 0; no peer may report an error.
#
# usage: test_gossip.sh PATH/TO/swarm       (CTest: interop.test_gossip; ~60 s)
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
SAFETY=120 # --exit-after of every peer: they never outlive the test
# The non-UTF-8 data a swarm peer publishes in (a) and (b), and how js must print it.
BIN=$(printf 'bin\377\376')
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }

# start_node KIND DIR/ROLE MSG_ID ARGS...: runs a peer subscribed to TOPIC, listening on
# 127.0.0.1, and waits for its address; sets NODE_PID, NODE_ADDR and NODE_ID (or returns 1).
start_node() {
    local kind=$1 base=$2 msgid=$3
    shift 3
    NODE_ADDR='' NODE_ID=''
    run_peer "$kind" "$base" --listen /ip4/127.0.0.1/tcp/0 --subscribe "$TOPIC" \
        --msg-id "$msgid" --exit-after "$SAFETY" "$@" || return 1
    NODE_PID=$PEER_PID
    wait_event 30 "$NODE_PID" "$base.log" listening 'addr^=/ip4/127.0.0.1/tcp/' || return 1
    NODE_ADDR=$(ev_get "$base.log" listening addr 'addr^=/ip4/127.0.0.1/tcp/')
    NODE_ID=${NODE_ADDR##*/p2p/}
}

# expect_clean SCENARIO LOG: no message delivered twice (same from and seqno), no error.
expect_clean() {
    local n
    n=$(ev_dups "$2" message from,seqno)
    [ "$n" -eq 0 ] || fail "$1" "$(basename "$2"): $n messages delivered more than once"
    expect_no_events "$1" "$(basename "$2")" "$2" error
}

# dump_all TITLE DIR/ROLE...: on failure, the peers' output.
dump_all() {
    [ "$INTEROP_FAILS" -eq 0 ] && return 0
    local b
    for b in "$@"; do dump_peer "$(basename "$b")" "$b"; done
    [ "${INTEROP_DEBUG:-0}" = 1 ] ||
        echo "    (INTEROP_DEBUG=1 adds js-libp2p's own logs; DEBUG='libp2p:gossipsub*' narrows them)"
    return 1
}

# pair NAME LISTENER_KIND DIALER_KIND MSG_ID
pair() {
    local sc lk=$2 dk=$3 msgid=$4
    sc="$1: $(kind_name "$3") dials $(kind_name "$2"), --msg-id $4"
    local d=$INTEROP_TMP/$1 lid did lpid dpid t0=$SECONDS
    mkdir -p "$d"
    local L=$d/listener D=$d/dialer
    local lpub=(--publish "$TOPIC=$lk listener says {n}") dpub=(--publish "$TOPIC=$dk dialer says {n}")
    [ "$lk" = c ] && lpub+=(--publish "$TOPIC=$BIN{n}")
    [ "$dk" = c ] && dpub+=(--publish "$TOPIC=$BIN{n}")
    if ! start_node "$lk" "$L" "$msgid" "${lpub[@]}" --publish-every 500 --publish-count 2 \
        --settle 2000; then
        fail "$sc" "listener did not start"
        dump_all "$L"
        return 1
    fi
    lpid=$NODE_PID lid=$NODE_ID
    if ! start_node "$dk" "$D" "$msgid" --connect "$NODE_ADDR" "${dpub[@]}" \
        --publish-every 500 --publish-count 2 --settle 2000; then
        fail "$sc" "dialer did not start"
        dump_all "$L" "$D"
        return 1
    fi
    dpid=$NODE_PID did=$NODE_ID

    wait_event 20 "$lpid" "$L.log" subscribed "peer=$did" "topic=$TOPIC" ||
        fail "$sc" "listener: no 'subscribed' event for the dialer"
    wait_event 20 "$dpid" "$D.log" subscribed "peer=$lid" "topic=$TOPIC" ||
        fail "$sc" "dialer: no 'subscribed' event for the listener"
    wait_event 20 "$lpid" "$L.log" message "data=$dk dialer says 2" || true
    wait_event 20 "$dpid" "$D.log" message "data=$lk listener says 2" || true
    [ "$dk" = c ] && { wait_event 10 "$lpid" "$L.log" message "data=$(b64 "${BIN}2")" || true; }
    [ "$lk" = c ] && { wait_event 10 "$dpid" "$D.log" message "data=$(b64 "${BIN}2")" || true; }
    sleep 0.5 # a duplicate would come now
    expect_delivered "$sc" "$L.log" "$D.log" -- "received_from=$did"
    expect_delivered "$sc" "$D.log" "$L.log" -- "received_from=$lid"
    # a swarm publisher's non-UTF-8 data, which js must print in base64 as swarm does
    local k
    for k in 1 2; do
        [ "$dk" = c ] && expect_events "$sc" "listener got the dialer's binary data" 1 "$L.log" \
            message "from=$did" encoding=base64 "data=$(b64 "$BIN$k")"
        [ "$lk" = c ] && expect_events "$sc" "dialer got the listener's binary data" 1 "$D.log" \
            message "from=$lid" encoding=base64 "data=$(b64 "$BIN$k")"
    done
    local side log other n want
    for side in listener dialer; do
        if [ $side = listener ]; then log=$L.log other=$did n=${#lpub[@]}; else log=$D.log other=$lid n=${#dpub[@]}; fi
        want=$((n / 2 * 2)) # each --publish twice
        [ "$(ev_count "$log" published peers=1)" -eq "$want" ] ||
            fail "$sc" "$side: $(ev_count "$log" published peers=1) 'published' events with peers=1, expected $want"
        expect_events "$sc" "$side: the other joined its mesh" 1 "$log" graft "peer=$other" "topic=$TOPIC"
        expect_clean "$sc" "$log"
    done

    stop_peer 15 "$dpid" || fail "$sc" "dialer ($(kind_name "$dk")) exit status $EXIT_CODE, expected 0"
    stop_peer 15 "$lpid" || fail "$sc" "listener ($(kind_name "$lk")) exit status $EXIT_CODE, expected 0"
    dump_all "$L" "$D" || return 1
    echo "ok: [$sc] subscriptions and GRAFTs both ways; each got the other's" \
        "$(ev_count "$L.log" message) / $(ev_count "$D.log" message) messages once," \
        "with from, seqno, data; $((SECONDS - t0))s"
}

# The mixed line: c1 - j1 - c2 - j2 - c3 - j3, every node dialing the one before it.
line() {
    local sc="line: c1 - j1 - c2 - j2 - c3 - j3, --msg-id content" d=$INTEROP_TMP/line prev=
    local names=(c1 j1 c2 j2 c3 j3) ids=() pids=() i kind name t0=$SECONDS
    local pad
    pad=$(printf '%0600d' 0 | tr 0 .)
    mkdir -p "$d"
    for i in 0 1 2 3 4 5; do
        name=${names[$i]}
        kind=js
        [ "${name:0:1}" = c ] && kind=$C
        # Every node publishes from 7 s after its first connection: by then the whole line is
        # up (a js node starts in about a second) and the meshes have formed.
        if ! start_node "$kind" "$d/$name" content ${prev:+--connect "$prev"} \
            --publish "$TOPIC=$name message {n} $pad" --publish-every 700 --publish-count 3 \
            --settle 7000; then
            fail "$sc" "$name did not start"
            dump_all "$d/$name"
            return 1
        fi
        prev=$NODE_ADDR
        ids[i]=$NODE_ID
        pids[i]=$NODE_PID
    done
    for i in 0 1 2 3 4 5; do
        wait_events 30 "${pids[$i]}" "$d/${names[$i]}.log" 15 message "topic=$TOPIC" || true
    done
    sleep 1 # a late duplicate would come now
    local n near log logs=()
    for i in 0 1 2 3 4 5; do logs+=("$d/${names[$i]}"); done
    for i in 0 1 2 3 4 5; do
        log=$d/${names[$i]}.log
        n=$(ev_count "$log" message "topic=$TOPIC")
        [ "$n" -eq 15 ] || fail "$sc" "${names[$i]} got $n messages, expected 15"
        expect_delivered "$sc" "$log" "${logs[@]/%/.log}" -- encoding=utf-8
        [ "$DELIVERED" -eq 15 ] || fail "$sc" "the others published $DELIVERED messages, expected 15"
        near=0
        [ "$i" -gt 0 ] && near=$((near + $(ev_count "$log" message "received_from=${ids[$((i - 1))]}")))
        [ "$i" -lt 5 ] && near=$((near + $(ev_count "$log" message "received_from=${ids[$((i + 1))]}")))
        [ "$near" -eq "$n" ] ||
            fail "$sc" "${names[$i]}: only $near of its $n messages name a neighbour as received_from"
        expect_clean "$sc" "$log"
    done
    for i in 0 1 2 3 4 5; do kill -TERM "${pids[$i]}" 2>/dev/null; done
    for i in 0 1 2 3 4 5; do
        wait_exit 15 "${pids[$i]}" || fail "$sc" "${names[$i]} exit status $EXIT_CODE, expected 0"
    done
    dump_all "${logs[@]}" || return 1
    echo "ok: [$sc] every node got the 15 messages of the others once, from a neighbour;" \
        "$((SECONDS - t0))s"
}

# The star: a js hub, LEAVES subscribers and then 2 publishers of kind C dialing it; see the
# header.
LEAVES=14
star() {
    local sc
    sc="star: js hub, $LEAVES + 2 $(kind_name "$C") leaves, --msg-id from-seqno"
    local d=$INTEROP_TMP/star i hid hpid hub t0=$SECONDS
    local names=() ids=() pids=() logs=() pubs=()
    mkdir -p "$d"
    if ! start_node js "$d/hub" from-seqno; then
        fail "$sc" "the hub did not start"
        dump_all "$d/hub"
        return 1
    fi
    hpid=$NODE_PID hid=$NODE_ID hub=$NODE_ADDR
    # leaf LEAF ARGS...: starts a leaf and waits for its connection to the hub. They start one
    # by one (js takes 5 new inbound connections a second from one address).
    leaf() {
        local name=$1
        shift
        if ! start_node "$C" "$d/$name" from-seqno --connect "$hub" "$@"; then
            fail "$sc" "$name did not start"
            return 1
        fi
        names+=("$name")
        logs+=("$d/$name")
        ids+=("$NODE_ID")
        pids+=("$NODE_PID")
        wait_event 15 "$NODE_PID" "$d/$name.log" connected "peer=$hid" ||
            fail "$sc" "$name did not connect to the hub"
        sleep 0.2
    }
    # The subscribers, until the hub has had a GRAFT from each: the first 12 fill its mesh, the
    # others are PRUNEd at once.
    for ((i = 1; i <= LEAVES; i++)); do
        leaf "leaf$i" || break
    done
    wait_events 10 "$hpid" "$d/hub.log" "$LEAVES" graft "topic=$TOPIC" ||
        fail "$sc" "the hub did not get a GRAFT from each of the $LEAVES leaves"
    # Then the publishers: they find the mesh full too.
    leaf pub1 --publish "$TOPIC=pub1 says {n}" --publish-every 300 --publish-count 3 --settle 2000
    leaf pub2 --publish "$TOPIC=pub2 says {n}" --publish-every 300 --publish-count 3 --settle 2000
    pubs=("$d/pub1.log" "$d/pub2.log")
    if [ "$INTEROP_FAILS" -gt 0 ]; then
        dump_all "$d/hub" "${logs[@]}"
        return 1
    fi
    local n=${#names[@]} want
    for ((i = 0; i < n; i++)); do
        want=6
        [ "${names[$i]:0:3}" = pub ] && want=3
        wait_events 20 "${pids[$i]}" "${logs[$i]}.log" "$want" message "topic=$TOPIC" || true
    done
    wait_events 5 "$hpid" "$d/hub.log" 6 message "topic=$TOPIC" || true
    sleep 1.5 # a duplicate (a second IWANT answered) would come now
    local outside=()
    for ((i = 0; i < n; i++)); do
        expect_delivered "$sc" "${logs[$i]}.log" "${pubs[@]}" -- "received_from=$hid"
        want=6
        [ "${names[$i]:0:3}" = pub ] && want=3
        [ "$DELIVERED" -eq "$want" ] ||
            fail "$sc" "${names[$i]}: the publishers published $DELIVERED messages, expected $want"
        expect_clean "$sc" "${logs[$i]}.log"
        [ "$(ev_count "$d/hub.log" prune "peer=${ids[$i]}")" -gt 0 ] && outside+=("${names[$i]}")
    done
    expect_delivered "$sc" "$d/hub.log" "${pubs[@]}"
    expect_clean "$sc" "$d/hub.log"
    # Gossip must have carried messages: leaves the hub PRUNEd (js takes a GRAFT past D_hi,
    # then PRUNEs at once).
    [ "${#outside[@]}" -gt 0 ] ||
        fail "$sc" "the hub PRUNEd no leaf (no prune event): nothing needed gossip"
    for ((i = 0; i < n; i++)); do kill -TERM "${pids[$i]}" 2>/dev/null; done
    for ((i = 0; i < n; i++)); do
        wait_exit 15 "${pids[$i]}" || fail "$sc" "${names[$i]} exit status $EXIT_CODE, expected 0"
    done
    stop_peer 15 "$hpid" || fail "$sc" "hub exit status $EXIT_CODE, expected 0"
    # swarm leaves count (pubsub_stats, printed as they end) their IWANTs, and the duplicates
    # they received: with one peer, a leaf only gets a message twice when it asks twice, e.g.
    # because the ids in the hub's IHAVEs are not the ids it files the messages under.
    local iwants=- k dups=0
    if [ "$C" = c ]; then
        iwants=0
        for ((i = 0; i < n; i++)); do
            k=$(ev_get "${logs[$i]}.log" pubsub_stats iwant_sent) || k=0
            iwants=$((iwants + k))
            k=$(ev_get "${logs[$i]}.log" pubsub_stats duplicates) || k=0
            dups=$((dups + k))
        done
        [ "$iwants" -gt 0 ] || fail "$sc" "no leaf sent an IWANT (pubsub_stats iwant_sent)"
        [ "$dups" -eq 0 ] ||
            fail "$sc" "the leaves received $dups duplicates (pubsub_stats duplicates), expected none"
    fi
    dump_all "$d/hub" "${logs[@]}" || return 1
    echo "ok: [$sc] every node got the publishers' messages once; outside the hub's mesh:" \
        "${outside[*]}; IWANTs sent by leaves: $iwants; $((SECONDS - t0))s"
}

# The pairs side by side, then the line, then the star.
pair a js "$C" from-seqno >"$INTEROP_TMP/a.out" 2>&1 &
pa=$!
echo "$pa" >>"$INTEROP_PIDS"
pair b "$C" js key-seqno >"$INTEROP_TMP/b.out" 2>&1 &
pb=$!
echo "$pb" >>"$INTEROP_PIDS"
wait "$pa"
ra=$?
wait "$pb"
rb=$?
cat "$INTEROP_TMP/a.out" "$INTEROP_TMP/b.out"
line
rl=$?
star
rs=$?
failed=0
for r in "$ra" "$rb" "$rl" "$rs"; do [ "$r" -eq 0 ] || failed=$((failed + 1)); done
jsver=$(node -p "require('$INTEROP_DIR/node_modules/@libp2p/gossipsub/package.json').version" 2>/dev/null)
echo "gossip interop ($(kind_name $C) <-> @libp2p/gossipsub ${jsver:-?}): $((4 - failed)) passed," \
    "$failed failed"
[ "$failed" -eq 0 ]
