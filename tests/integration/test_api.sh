#!/usr/bin/env bash
# The gateway's HTTP API with a real `swarm gateway` on free ports and a real SQLite file:
# every bad input gets its status and message (400 invalid wasm / wrong signature / malformed
# JSON / bad ranges, 413, 401, 404, 405), a waited job, 202 then GET, DELETE, the job list's
# pages, /metrics in the Prometheus format, /deploy/shard, exact 64-bit integers, `swarm
# submit`'s exit codes, and a gateway killed with SIGKILL and restarted: finished jobs read
# back as they were, a running one resumed, one whose deadline passed ended with what was
# stored. With working `swarm start` workers, jobs also compute values equal to `swarm run`.
#
# usage: test_api.sh [PATH/TO/swarm]       (default: build/swarm)
# Exits 77 (skipped) without curl.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
passed=0
failed=0

if ! command -v curl >/dev/null 2>&1; then
    echo "SKIP: curl is not installed"
    exit 77
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT

ok() {
    passed=$((passed + 1))
}
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

# start_gateway DIR [ARGS...]: starts a gateway on free ports; sets gw_pid and url.
start_gateway() {
    local dir=$1
    shift
    mkdir -p "$dir"
    # emptied here, not by the child's redirection: the loop below must not read the address
    # a previous gateway wrote before the new one has truncated the file
    : >"$dir/out"
    "$swarm" gateway --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$dir" "$@" \
        >"$dir/out" 2>"$dir/err" &
    gw_pid=$!
    pids+=("$gw_pid")
    local port=""
    for _ in $(seq 100); do
        port=$(sed -n 's#^dashboard: http://127.0.0.1:\([0-9]*\)/$#\1#p' "$dir/out" 2>/dev/null)
        [ -n "$port" ] && break
        sleep 0.05
    done
    if [ -z "$port" ]; then
        fail "gateway did not start"
        cat "$dir/err"
        exit 1
    fi
    url=http://127.0.0.1:$port
    peer_addr=$(sed -n 's#^  \(/ip4/.*/p2p/.*\)$#\1#p' "$dir/out" | head -1)
}

# req METHOD PATH [curl args...]: sets code and body.
req() {
    local method=$1 path=$2
    shift 2
    body=$(curl -s -m 30 -o /dev/stdout -w '\n%{http_code}' -X "$method" "$@" "$url$path")
    code=${body##*$'\n'}
    body=${body%$'\n'*}
}

# expect WHAT CODE SUBSTRING: checks the last answer.
expect() {
    local what=$1 want=$2 text=$3
    if [ "$code" != "$want" ]; then
        fail "$what: status $code, expected $want; body: ${body:0:300}"
    elif [[ "$body" != *"$text"* ]]; then
        fail "$what: body lacks '$text': ${body:0:300}"
    else
        ok
    fi
}

json_field() { # json_field NAME: the string value of "NAME" in $body
    sed -n "s/.*\"$1\": \"\([^\"]*\)\".*/\1/p" <<<"$body" | head -1
}

# --- refusing to start ----------------------------------------------------------------------
if "$swarm" gateway --http 0.0.0.0:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$tmp/open" \
    >/dev/null 2>"$tmp/open.err"; then
    fail "a gateway on 0.0.0.0 without a token started"
elif ! grep -q "without a token" "$tmp/open.err"; then
    fail "no reason given for refusing 0.0.0.0: $(cat "$tmp/open.err")"
else
    ok
fi
mkdir -p "$tmp/corrupt"
head -c 8192 /dev/urandom >"$tmp/corrupt/gateway.db"
if "$swarm" gateway --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$tmp/corrupt" \
    >/dev/null 2>"$tmp/corrupt.err"; then
    fail "a gateway started on a corrupt store"
elif ! grep -q "gateway.db" "$tmp/corrupt.err"; then
    fail "the corrupt store's error does not name it: $(cat "$tmp/corrupt.err")"
else
    ok
fi

start_gateway "$tmp/gw"

# --- modules ---------------------------------------------------------------------------------
req POST /api/v1/modules --data-binary @"$root/examples/primes.wasm"
expect "upload a module" 200 '"exports": [{"name": "execute", "abi": "i32"}]'
hash=$(json_field hash)
[ ${#hash} -eq 64 ] && ok || fail "module hash '$hash'"
req POST /api/v1/modules --data-binary @"$root/examples/primes.c"
expect "invalid wasm" 400 "magic header"
# (i32) -> i32 exported as execute: a valid module with the wrong signature for a job
printf '\x00asm\x01\x00\x00\x00\x01\x06\x01\x60\x01\x7f\x01\x7f\x03\x02\x01\x00\x07\x0b\x01\x07execute\x00\x00\x0a\x06\x01\x04\x00\x20\x00\x0b' >"$tmp/onearg.wasm"
req POST /api/v1/modules --data-binary @"$tmp/onearg.wasm"
expect "a module with another signature uploads" 200 '"abi": null'
onearg=$(json_field hash)
req POST /api/v1/jobs -d "{\"module\": \"$onearg\", \"range\": [0, 10]}"
expect "wrong signature" 400 "execute"

# --- bad job specs -----------------------------------------------------------------------------
req POST /api/v1/jobs -d '{"module": '
expect "malformed JSON" 400 "malformed JSON"
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [10, 5]}"
expect "end before start" 400 "end 5 is before start 10"
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 10], \"shards\": 0}"
expect "zero shards" 400 "at least 1"
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 10], \"shards\": 11}"
expect "more shards than values" 400 "holds only 10 values"
req POST /api/v1/jobs -d "{\"module\": \"$(printf '%064d' 0)\", \"range\": [0, 10]}"
expect "unknown module" 400 "unknown module"
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 10], \"colour\": 1}"
expect "unknown field" 400 "unknown field"
head -c 25165825 /dev/zero >"$tmp/big"
req POST /api/v1/modules --data-binary @"$tmp/big"
expect "body over the limit" 413 "over the limit"

req POST /api/v1/modules -H "Transfer-Encoding: chunked" --data-binary @"$root/examples/primes.wasm"
expect "a chunked body" 411 "Content-Length"

# --- routes --------------------------------------------------------------------------------
req GET /api/v1/jobs/0123456789abcdef
expect "unknown job" 404 "unknown job"
req GET /api/v1/jobs/xyz
expect "bad job id" 404 "unknown job"
req GET /nope
expect "unknown route" 404 "no such route"
req PUT /api/v1/jobs -d '{}'
expect "wrong method" 405 "method not allowed"
allow=$(curl -s -i -X PUT -d '{}' "$url/api/v1/jobs" | tr -d '\r' | sed -n 's/^allow: //Ip')
[ "$allow" = "GET, POST" ] && ok || fail "Allow header '$allow'"
req GET /api/v1/nodes
expect "nodes" 200 '"nodes": ['

# --- jobs without workers: waited, 202, delete, exact integers -----------------------------------
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 1000], \"shards\": 4, \"deadline_ms\": 300, \"wait\": true}"
expect "waited job without workers" 504 '"status": "timeout"'
[[ "$body" == *'"missing": [[0, 1000]]'* && "$body" == *'"value": null'* ]] && ok ||
    fail "504 document: $body"
timeout_id=$(json_field id)

req POST /api/v1/modules --data-binary @"$root/examples/hash64.wasm"
expect "upload an i64 module" 200 '"abi": "i64"'
hash64=$(json_field hash)
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 4294967296]}"
expect "a range beyond i32 for an i32 entry" 400 "does not fit"
req POST /api/v1/jobs -d "{\"module\": \"$hash64\", \"range\": [-9223372036854775808, 9223372036854775807], \"shards\": 3, \"deadline_ms\": 60000}"
expect "job acknowledged" 202 '"status": "running"'
long_id=$(json_field id)
req GET "/api/v1/jobs/$long_id"
expect "running job" 202 '"range": [-9223372036854775808, 9223372036854775807]'

req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 100], \"deadline_ms\": 60000}"
expect "job to cancel" 202 '"id"'
cancel_id=$(json_field id)
req DELETE "/api/v1/jobs/$cancel_id"
expect "cancel" 409 '"status": "cancelled"'
req DELETE "/api/v1/jobs/$cancel_id"
expect "cancel twice" 409 "already ended"
req GET "/api/v1/jobs/$cancel_id"
expect "cancelled job reads back" 409 '"status": "cancelled"'

req POST /deploy/shard -d "{\"wasm_base64\": \"$(base64 -w0 "$root/examples/primes.wasm")\", \"range_size\": 100, \"deadline_ms\": 200}"
expect "deploy/shard without workers" 504 '"total_sum": null'
[[ "$body" == *'"missing_shards": [0'* ]] && ok || fail "deploy/shard document: $body"

# clients that go away while they wait: the job ends later without them
for _ in 1 2 3; do
    curl -s -m 0.2 -d "{\"module\": \"$hash\", \"range\": [0, 10], \"deadline_ms\": 400, \"wait\": true}" \
        "$url/api/v1/jobs" >/dev/null 2>&1
done
sleep 0.5
req GET /api/v1/nodes
expect "the gateway after waiting clients went away" 200 '"nodes"'

# --- the job list ----------------------------------------------------------------------------
req GET "/api/v1/jobs?limit=2"
expect "first page" 200 '"next": "/api/v1/jobs?limit=2&before='
next=$(sed -n 's/.*"next": "\([^"]*\)".*/\1/p' <<<"$body")
first_page=$(grep -o '"id": "[0-9a-f]*"' <<<"$body" | wc -l)
req GET "$next"
expect "second page" 200 '"jobs": [{'
second_page=$(grep -o '"id": "[0-9a-f]*"' <<<"$body" | wc -l)
[ "$first_page" = 2 ] && [ "$second_page" -ge 2 ] && ok ||
    fail "pages of $first_page and $second_page jobs"
req GET "/api/v1/jobs?limit=0"
expect "bad limit" 400 "limit"

# --- metrics -----------------------------------------------------------------------------------
req GET /metrics
expect "metrics" 200 'swarm_jobs_total{outcome="timeout"}'
bad=$(grep -v '^#' <<<"$body" | grep -Ev '^[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+$' || true)
[ -z "$bad" ] && ok || fail "metrics lines not in the Prometheus format: $bad"
grep -q '^swarm_store_commit_seconds_count [1-9]' <<<"$body" && ok || fail "no store latency"

# --- swarm submit -----------------------------------------------------------------------------
"$swarm" submit "$root/examples/primes.wasm" --range 0..100 --deadline 200 --gateway "$url" \
    >"$tmp/submit.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "timeout (504)" "$tmp/submit.out" && ok ||
    fail "submit without workers: exit $rc: $(cat "$tmp/submit.out")"
"$swarm" submit "$root/examples/primes.c" --range 0..100 --gateway "$url" >"$tmp/submit.out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "magic header" "$tmp/submit.out" && ok ||
    fail "submit of an invalid module: exit $rc: $(cat "$tmp/submit.out")"
"$swarm" submit "$root/examples/primes.wasm" --range 0..100 --gateway "http://127.0.0.1:1" \
    >"$tmp/submit.out" 2>&1
rc=$?
[ $rc = 1 ] && grep -q "cannot connect" "$tmp/submit.out" && ok ||
    fail "submit to no gateway: exit $rc: $(cat "$tmp/submit.out")"

# --- a job that will have passed its deadline when the gateway comes back ----------------------
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 100], \"shards\": 2, \"deadline_ms\": 1000}"
expect "short job" 202 '"id"'
short_id=$(json_field id)

# --- SIGKILL and restart -------------------------------------------------------------------------
kill -9 "$gw_pid"
wait "$gw_pid" 2>/dev/null
sleep 1.2
start_gateway "$tmp/gw"
req GET "/api/v1/jobs/$timeout_id"
expect "finished job after a restart" 504 '"missing": [[0, 1000]]'
req GET "/api/v1/jobs/$cancel_id"
expect "cancelled job after a restart" 409 '"status": "cancelled"'
req GET "/api/v1/jobs/$long_id"
expect "running job resumed" 202 '"status": "running"'
grep -q "job $long_id resumed" "$tmp/gw/err" && ok || fail "no resume line: $(cat "$tmp/gw/err")"
req GET "/api/v1/jobs/$short_id"
expect "job past its deadline ended" 504 '"status": "timeout"'
req POST /api/v1/jobs -d "{\"module\": \"$hash\", \"range\": [0, 10], \"deadline_ms\": 100, \"wait\": true}"
expect "a module uploaded before the restart" 504 '"status": "timeout"'
req DELETE "/api/v1/jobs/$long_id"
expect "cancel the resumed job" 409 '"status": "cancelled"'

# --- tokens --------------------------------------------------------------------------------------
kill -TERM "$gw_pid"
if wait "$gw_pid"; then ok; else fail "gateway exit status $? after SIGTERM"; fi
start_gateway "$tmp/gw" --token s3cret
req GET /api/v1/nodes
expect "no token" 401 "bearer token"
req GET /api/v1/nodes -H "Authorization: Bearer wrong"
expect "wrong token" 401 "bearer token"
req GET /api/v1/nodes -H "Authorization: Bearer s3cret"
expect "right token" 200 '"nodes"'
req POST /api/v1/modules -H "Authorization: Bearer s3cret" --data-binary @"$tmp/big"
expect "body over the limit with a token" 413 "over the limit"
req GET "/api/v1/jobs/$timeout_id" -H "Authorization: Bearer s3cret"
expect "jobs survive a clean restart" 504 '"status": "timeout"'

# --- with workers --------------------------------------------------------------------------------
workers=()
for i in 1 2; do
    "$swarm" start --data-dir "$tmp/w$i" --threads 2 --bootstrap "$peer_addr" \
        >"$tmp/w$i.out" 2>&1 &
    pids+=($!)
    workers+=($!)
done
sleep 1
want=$("$swarm" run "$root/examples/primes.wasm" --range 0..20000)
req POST /api/v1/jobs -H "Authorization: Bearer s3cret" \
    -d "{\"module\": \"$hash\", \"range\": [0, 20000], \"shards\": 16, \"deadline_ms\": 20000, \"wait\": true}"
expect "a job with workers" 200 "\"value\": $want,"
"$swarm" submit "$root/examples/primes.wasm" --range 0..20000 --gateway "$url" \
    --token s3cret >"$tmp/submit.out" 2>&1
rc=$?
[ $rc = 0 ] && grep -q "value: $want" "$tmp/submit.out" && ok ||
    fail "submit with workers: exit $rc: $(cat "$tmp/submit.out")"
grep -q "^  12D3KooW.* shards" "$tmp/submit.out" && ok || fail "no per-worker breakdown"
req POST /api/v1/jobs -H "Authorization: Bearer s3cret" \
    -d "{\"module\": \"$hash\", \"range\": [0, 40], \"shards\": 4, \"reduce\": \"collect\", \"wait\": true}"
expect "collect with workers" 200 '"values": [4, 4, 2, 2]'
# hash64 at the top of the i64 range: the exact sum of four shards
want=$("$swarm" run "$root/examples/hash64.wasm" --range 9223372036854770000..9223372036854775807)
req POST /api/v1/jobs -H "Authorization: Bearer s3cret" \
    -d "{\"module\": \"$hash64\", \"range\": [9223372036854770000, 9223372036854775807], \"shards\": 4, \"wait\": true}"
expect "i64 job at the top of the range" 200 "\"value\": $want,"
kill -TERM "${workers[@]}"
wait "${workers[@]}" 2>/dev/null

# a request still waiting when the gateway stops is answered 503
curl -s -m 20 -o "$tmp/waiting.out" -w '%{http_code}' -H "Authorization: Bearer s3cret" \
    -d "{\"module\": \"$hash\", \"range\": [0, 10], \"deadline_ms\": 60000, \"wait\": true}" \
    "$url/api/v1/jobs" >"$tmp/waiting.code" &
curl_pid=$!
sleep 0.5
kill -INT "$gw_pid"
if wait "$gw_pid"; then ok; else fail "gateway exit status $? after SIGINT"; fi
wait "$curl_pid"
[ "$(cat "$tmp/waiting.code")" = 503 ] && grep -q "shutting down" "$tmp/waiting.out" && ok ||
    fail "a waiting request at shutdown: $(cat "$tmp/waiting.code") $(cat "$tmp/waiting.out")"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
