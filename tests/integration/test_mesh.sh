#!/usr/bin/env bash
# The compute mesh end to end, with real processes on loopback: `swarm gateway` (HTTP API and a
# real SQLite store) and `swarm start` workers over libp2p.
#   - a job's value equals `swarm run` shard by shard, for every reduce op and both ABIs;
#   - with 4 workers every worker gets shards and no shard is computed twice;
#   - SIGKILL of one worker mid-job: 200 and the right value; of every worker: 206 with exactly
#     the missing ranges; no workers at all: 504 at the deadline;
#   - a worker that trusts another gateway runs nothing for this one;
#   - a `loop {}` module ends as 422 with per-shard "out of fuel" and the workers stay healthy;
#     five jobs submitted at once all finish with the right values;
#   - SIGKILL of the gateway mid-job, then a restart on the same data dir: the job resumes and
#     finishes, and every finished job is still readable.
# Forged, duplicate and unleased results and stalling workers are tested with programmable test
# peers in tests/unit/test_mesh_gw.c; bad HTTP input in test_api.sh.
#
# usage: test_mesh.sh [PATH/TO/swarm]     Exits 77 (skipped) without jq, curl or wat2wasm.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
. "$root/tests/integration/lib.sh"

for tool in jq curl wat2wasm; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed"
        exit 77
    fi
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    local p
    {
        for p in "${pids[@]}"; do
            kill -KILL "$p"
        done
        wait
    } 2>/dev/null # quietly: bash reports killed jobs
    rm -rf "$tmp"
}
trap cleanup EXIT


for w in "$root"/tests/integration/wasm/*.wat; do
    wat2wasm "$w" -o "$tmp/$(basename "$w" .wat).wasm" || exit 1
done
cp "$root/examples/collatz.wasm" "$root/examples/hash64.wasm" "$tmp/"

# ---- processes -------------------------------------------------------------------------------

gw_pid=
gw_addr=
url=
# start_gateway DIR: a gateway on free ports; sets gw_pid, gw_addr (for workers) and url.
start_gateway() {
    local dir=$1 log=$1.log i
    : >"$log" # emptied before the gateway starts: a restart must not read the old address
    "$swarm" gateway --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$dir" \
        >"$log" 2>&1 &
    gw_pid=$!
    pids+=("$gw_pid")
    for i in $(seq 100); do
        url=$(grep -o 'http://[^ ]*' "$log" 2>/dev/null | head -n 1)
        [ -n "$url" ] && break
        sleep 0.1
    done
    gw_addr=$(grep -o '/ip4/127.0.0.1/tcp/[0-9]*/p2p/[A-Za-z0-9]*' "$log" | head -n 1)
    url=${url%/}
    [ -n "$url" ] && [ -n "$gw_addr" ] || {
        echo "gateway did not start:"
        cat "$log"
        exit 1
    }
}

workers=()
# start_worker NAME [ARGS...]: a worker with one wasm thread, dialling the gateway.
start_worker() {
    local name=$1
    shift
    "$swarm" start --bootstrap "$gw_addr" --data-dir "$tmp/$name" --threads 1 --shard "$name" \
        "$@" >"$tmp/$name.log" 2>&1 &
    pids+=("$!")
    workers+=("$!")
}

healthy() { curl -s "$url/api/v1/nodes" | jq '[.nodes[] | select(.state == "healthy")] | length'; }

# wait_healthy N: until the gateway lists N healthy workers (10 s at most).
wait_healthy() {
    local i
    for i in $(seq 100); do
        [ "$(healthy)" = "$1" ] && return 0
        sleep 0.1
    done
    echo "  (the gateway lists $(healthy) healthy workers, wanted $1)"
    return 1
}

stop_workers() {
    local p
    for p in "${workers[@]}"; do
        { kill -KILL "$p" && wait "$p"; } 2>/dev/null # quietly: bash reports killed jobs
    done
    workers=()
}

# post_job JSON: POSTs a job spec; the answer goes to $tmp/doc, the status code to stdout.
post_job() {
    curl -s -o "$tmp/doc" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
        --data-binary "$1" "$url/api/v1/jobs"
}

upload() { curl -s --data-binary @"$1" "$url/api/v1/modules" | jq -r .hash; }

# shard_range A B N I: prints "LO HI" as mesh_shard_range splits [A, B) into N shards.
shard_range() {
    local a=$1 b=$2 n=$3 i=$4 len base extra lo hi
    len=$((b - a))
    base=$((len / n))
    extra=$((len % n))
    lo=$((a + i * base + (i < extra ? i : extra)))
    hi=$((lo + base + (i < extra ? 1 : 0)))
    echo "$lo $hi"
}

# ---- 1. values: every reduce op, both ABIs, shard by shard against swarm run ----------------
start_gateway "$tmp/gw"
start_worker w1
start_worker w2
check "two workers join the gateway" wait_healthy 2

values_match() { # values_match MODULE A B SHARDS
    local mod=$1 a=$2 b=$3 n=$4 hash i lo hi v want sum=0 min= max= xor=0 op got code
    hash=$(upload "$tmp/$mod.wasm")
    code=$(post_job "{\"module\":\"$hash\",\"range\":[$a,$b],\"shards\":$n,\"reduce\":\"collect\",\"wait\":true}")
    [ "$code" = 200 ] || {
        echo "  collect answered $code: $(head -c 300 "$tmp/doc")"
        return 1
    }
    for i in $(seq 0 $((n - 1))); do
        read -r lo hi <<<"$(shard_range "$a" "$b" "$n" "$i")"
        want=$("$swarm" run "$tmp/$mod.wasm" --range "$lo..$hi")
        v=$(jq -r ".values[$i]" "$tmp/doc")
        [ "$v" = "$want" ] || {
            echo "  $mod shard $i [$lo,$hi): got $v, swarm run says $want"
            return 1
        }
        sum=$((sum + v)) # bash wraps in 64 bits, as the mesh's sum does
        xor=$((xor ^ v))
        [ -z "$min" ] || [ "$v" -lt "$min" ] && min=$v
        [ -z "$max" ] || [ "$v" -gt "$max" ] && max=$v
    done
    for op in sum min max xor; do
        code=$(post_job "{\"module\":\"$hash\",\"range\":[$a,$b],\"shards\":$n,\"reduce\":\"$op\",\"wait\":true}")
        got=$(jq -r .value "$tmp/doc")
        want=${!op}
        [ "$code" = 200 ] && [ "$got" = "$want" ] || {
            echo "  $mod $op: answered $code with $got, expected $want"
            return 1
        }
    done
    # the examples add up over ranges: the sum is also one call over the whole range
    want=$("$swarm" run "$tmp/$mod.wasm" --range "$a..$b")
    [ "$sum" = "$want" ] || {
        echo "  $mod: the shards sum to $sum, one call over the range gives $want"
        return 1
    }
}
check "i32 ABI (collatz): collect, sum, min, max, xor equal swarm run" values_match collatz 1 30001 7
check "i64 ABI (hash64): collect, sum, min, max, xor equal swarm run" \
    values_match hash64 4294967000 4295067000 9

# ---- 2. four workers share a job, and no shard runs twice ------------------------------------
start_worker w3
start_worker w4
check "four workers join" wait_healthy 4
spin=$(upload "$tmp/spin.wasm")
# shards of about 80 ms, so that a worker descheduled for a moment on a busy machine is not yet
# a straggler (a backup copy needs 3 x the median shard time)
code=$(post_job "{\"module\":\"$spin\",\"range\":[0,4000],\"shards\":40,\"deadline_ms\":60000,\"wait\":true}")
check "a 40-shard job on 4 workers answers 200 with the value 4000" \
    test "$code:$(jq -r .value "$tmp/doc")" = "200:4000"
check "every one of the 4 workers delivered shards" \
    test "$(jq '[.workers[] | select(.shards > 0)] | length' "$tmp/doc")" = 4
check "no shard was computed twice (0 duplicates, 0 retries, 40 results)" \
    test "$(jq -c '[.shards.duplicates, .shards.retries, ([.workers[].shards] | add)]' "$tmp/doc")" = "[0,0,40]"
computed=$(cat "$tmp"/w[1-4].log | grep -c "of job $(jq -r .id "$tmp/doc")")
check "the workers' own logs show 40 shard runs in all" test "$computed" = 40

# ---- 3. faults: a loop module, concurrent jobs -----------------------------------------------
loop=$(upload "$tmp/loop.wasm")
code=$(post_job "{\"module\":\"$loop\",\"range\":[0,8],\"shards\":4,\"fuel\":2000000,\"wait\":true}")
check "a loop {} module ends as 422" test "$code" = 422
check "all 4 shards failed, and the errors cover the range with \"out of fuel\"" \
    test "$(jq -c '[.shards.failed, [.errors[] | select(.error | test("out of fuel")) | .range]]' "$tmp/doc")" = "[4,[[0,8]]]"
check "it was not retried on other workers" test "$(jq .shards.retries "$tmp/doc")" = 0
check "and the workers are still healthy" wait_healthy 4

count=$(upload "$tmp/count.wasm")
ids=()
for n in 1 2 3 4 5; do
    code=$(post_job "{\"module\":\"$count\",\"range\":[0,$((n * 1000))],\"shards\":$((n * 10))}")
    [ "$code" = 202 ] && ids+=("$(jq -r .id "$tmp/doc")")
done
check "five jobs submitted at once are accepted (202)" test "${#ids[@]}" = 5
all_right=1
for n in 1 2 3 4 5; do
    id=${ids[$((n - 1))]}
    for _ in $(seq 100); do
        code=$(curl -s -o "$tmp/doc" -w '%{http_code}' "$url/api/v1/jobs/$id")
        [ "$code" = 202 ] || break
        sleep 0.1
    done
    [ "$code:$(jq -r .value "$tmp/doc")" = "200:$((n * 1000))" ] || {
        echo "  job $n: $code $(jq -c '{status, value}' "$tmp/doc")"
        all_right=0
    }
done
check "all five finish with the right values" test $all_right = 1

# ---- 4. SIGKILL of one worker mid-job: still 200 and the right value -------------------------
code=$(post_job "{\"module\":\"$spin\",\"range\":[0,2000],\"shards\":40,\"deadline_ms\":30000}")
id=$(jq -r .id "$tmp/doc")
for _ in $(seq 100); do
    grep -q "of job $id" "$tmp/w1.log" && break
    sleep 0.05
done
{ kill -KILL "${workers[0]}" && wait "${workers[0]}"; } 2>/dev/null
for _ in $(seq 300); do
    code=$(curl -s -o "$tmp/doc" -w '%{http_code}' "$url/api/v1/jobs/$id")
    [ "$code" = 202 ] || break
    sleep 0.1
done
check "SIGKILL of one worker mid-job: 200 with the value 2000" \
    test "$code:$(jq -r .value "$tmp/doc")" = "200:2000"
check "its shards were leased again" test "$(jq .shards.retries "$tmp/doc")" -ge 1
gone=$(curl -s "$url/api/v1/nodes" | jq '[.nodes[] | select(.state == "gone")] | length')
check "the gateway lists the killed worker as gone" test "$gone" = 1

# ---- 5. SIGKILL of every worker mid-job: 206 with exactly the missing ranges ----------------
# 300 shards of 10 values (about 8 ms each, slower under ASan) and a deadline of 4 s: the
# workers are killed as soon as a few shards are in, long before the job could finish.
code=$(post_job "{\"module\":\"$spin\",\"range\":[0,3000],\"shards\":300,\"deadline_ms\":4000,\"reduce\":\"collect\"}")
id=$(jq -r .id "$tmp/doc")
for _ in $(seq 400); do
    done_now=$(curl -s "$url/api/v1/jobs/$id" | jq .shards.done)
    [ "$done_now" -ge 3 ] && break
    sleep 0.01
done
stop_workers
for _ in $(seq 100); do
    code=$(curl -s -o "$tmp/doc" -w '%{http_code}' "$url/api/v1/jobs/$id")
    [ "$code" = 202 ] || break
    sleep 0.1
done
check "SIGKILL of every worker mid-job: 206 at the deadline" test "$code" = 206
# the missing ranges must be exactly the shards without a value, adjacent ones merged
expected=$(jq -c '[.values | to_entries[] | select(.value == null) | .key]
    | map([. * 10, . * 10 + 10])
    | reduce .[] as $r ([]; if length > 0 and .[-1][1] == $r[0]
        then .[-1][1] = $r[1] else . + [$r] end)' "$tmp/doc")
check "the missing ranges are exactly the shards that did not come back ($(echo "$expected" | head -c 60)...)" \
    test "$(jq -c .missing "$tmp/doc")" = "$expected"
check "some shards arrived and some are missing" \
    test "$(jq '[.shards.done > 0, .shards.missing > 0] | all' "$tmp/doc")" = true
sum_done=$(jq '[.values[] | select(. != null)] | add' "$tmp/doc")
check "the values that arrived are the done shards' (sum $sum_done = 10 x done)" \
    test "$sum_done" = "$(($(jq .shards.done "$tmp/doc") * 10))"

# ---- 6. no workers at all: 504 at the deadline -----------------------------------------------
t0=$(date +%s%N)
code=$(post_job "{\"module\":\"$count\",\"range\":[0,100],\"deadline_ms\":1000,\"wait\":true}")
ms=$((($(date +%s%N) - t0) / 1000000))
check "no workers: 504" test "$code" = 504
check "answered at the deadline (after $ms ms, deadline 1000)" test "$ms" -ge 990 -a "$ms" -lt 5000
check "with the whole range missing" test "$(jq -c .missing "$tmp/doc")" = "[[0,100]]"

# ---- 7. a worker runs nothing for a gateway it does not trust -------------------------------
other=$("$swarm" id --data-dir "$tmp/other-gw" 2>/dev/null)
plain=${gw_addr%/p2p/*} # the address without the gateway's id, so only --trust decides
"$swarm" start --bootstrap "$plain" --trust "$other" --data-dir "$tmp/wu" --threads 1 \
    >"$tmp/wu.log" 2>&1 &
pids+=("$!")
workers+=("$!")
for _ in $(seq 100); do
    grep -q "refused" "$tmp/wu.log" && break
    sleep 0.1
done
check "the worker refuses the untrusted gateway and says so" \
    grep -q "not a trusted gateway" "$tmp/wu.log"
code=$(post_job "{\"module\":\"$count\",\"range\":[0,10],\"deadline_ms\":800,\"wait\":true}")
check "and runs nothing for it: the job times out (504)" test "$code" = 504
check "its log shows no shard" test "$(grep -c 'of job' "$tmp/wu.log")" = 0
stop_workers

# ---- 8. SIGKILL of the gateway mid-job; the restarted gateway resumes it -------------------
finished=$(curl -s "$url/api/v1/jobs?limit=1000" | jq '[.jobs[] | select(.status != "running")] | length')
start_worker w5
wait_healthy 1 >/dev/null
code=$(post_job "{\"module\":\"$spin\",\"range\":[0,1000],\"shards\":20,\"deadline_ms\":60000}")
id=$(jq -r .id "$tmp/doc")
for _ in $(seq 200); do
    [ "$(curl -s "$url/api/v1/jobs/$id" | jq .shards.done)" -ge 2 ] && break
    sleep 0.05
done
{ kill -KILL "$gw_pid" && wait "$gw_pid"; } 2>/dev/null
start_gateway "$tmp/gw"
check "the restarted gateway still lists all $finished finished jobs" \
    test "$(curl -s "$url/api/v1/jobs?limit=1000" | jq '[.jobs[] | select(.status != "running")] | length')" -ge "$finished"
stop_workers
start_worker w6
for _ in $(seq 300); do
    code=$(curl -s -o "$tmp/doc" -w '%{http_code}' "$url/api/v1/jobs/$id")
    [ "$code" = 202 ] || break
    sleep 0.1
done
check "the job killed with its gateway resumes and finishes: 200 with 1000" \
    test "$code:$(jq -r .value "$tmp/doc")" = "200:1000"
first=$(curl -s "$url/api/v1/jobs?limit=1000" | jq -r '.jobs[-1].id')
check "the first job of the run is still readable" \
    test "$(curl -s -o /dev/null -w '%{http_code}' "$url/api/v1/jobs/$first")" = 200

summary
