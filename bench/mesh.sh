#!/usr/bin/env bash
# The compute mesh on loopback: one `swarm gateway` and real `swarm start` workers.
#
#   bench/mesh.sh [--runs N] [--swarm PATH] [--shards N] [--latency-jobs N]
#
#   (a) throughput: trivial shards (execute = end - start) per second through one gateway with
#       4 workers (one wasm thread each), one job of --shards shards (default 100,000); the
#       rate is shards / the job's elapsed_ms, from submit to the last result reduced;
#   (b) latency of a one-shard job from HTTP submit to outcome ("wait": true, curl's
#       time_total), p50 and p99 over --latency-jobs jobs (default 300); the baseline is a
#       GET /api/v1/nodes on the same gateway, i.e. the HTTP round trip alone;
#   (c) scaling: a CPU-bound job (tests/integration/wasm/spin.wat, 40 shards of about 80 ms)
#       on 1 worker and on 2 workers, one wasm thread each; speedup = time(1) / time(2);
#   (e) the dashboard's files (GET /, /app.css, /app.js with gzip), p50 and p99, and the bytes
#       of the whole page;
#   (d) memory: VmRSS of an idle worker and an idle gateway, connected: fresh, and again after
#       the runs of (a) and (b).
# Each figure is the median of --runs runs (default 5). Prints the machine and markdown tables
# on stdout; progress on stderr. Never part of `make test`: timings are not pass/fail.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
swarm=$root/build/swarm
runs=5
shards=100000
latency_jobs=300
while [ $# -gt 0 ]; do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --swarm) swarm=$2; shift 2 ;;
    --shards) shards=$2; shift 2 ;;
    --latency-jobs) latency_jobs=$2; shift 2 ;;
    -h | --help) sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "bench/mesh.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
for t in curl jq wat2wasm; do
    command -v $t >/dev/null || { echo "bench/mesh.sh: needs $t" >&2; exit 1; }
done

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
say() { echo "mesh bench: $*" >&2; }

wat2wasm "$root/tests/integration/wasm/count.wat" -o "$tmp/count.wasm"
wat2wasm "$root/tests/integration/wasm/spin.wat" -o "$tmp/spin.wasm"

url=
addr=
gw_pid=
start_gateway() {
    "$swarm" gateway --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$tmp/gw" \
        --quiet >"$tmp/gw.log" 2>&1 &
    gw_pid=$!
    pids+=("$gw_pid")
    for _ in $(seq 100); do
        url=$(grep -o 'http://[^ ]*' "$tmp/gw.log" | head -n 1 || true)
        [ -n "$url" ] && break
        sleep 0.1
    done
    url=${url%/}
    addr=$(grep -o '/ip4/127.0.0.1/tcp/[0-9]*/p2p/[A-Za-z0-9]*' "$tmp/gw.log" | head -n 1)
}
workers=()
start_workers() { # start_workers N
    local i
    for i in $(seq "$1"); do
        "$swarm" start --bootstrap "$addr" --data-dir "$tmp/w$i" --threads 1 >/dev/null 2>&1 &
        pids+=("$!")
        workers+=("$!")
    done
    for _ in $(seq 100); do
        [ "$(curl -s "$url/api/v1/nodes" | jq '[.nodes[] | select(.state == "healthy")] | length')" = "$1" ] && return
        sleep 0.1
    done
    echo "bench/mesh.sh: workers did not join" >&2
    exit 1
}
stop_workers() {
    for p in "${workers[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    workers=()
    sleep 0.5
}
median() { sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
pct() { sort -g | awk -v p="$1" '{a[NR] = $1} END {i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print a[i]}'; }
job() { # job SPEC -> the job document on stdout
    curl -s -X POST -H 'Content-Type: application/json' --data-binary "$1" "$url/api/v1/jobs"
}

start_gateway
count=$(curl -s --data-binary @"$tmp/count.wasm" "$url/api/v1/modules" | jq -r .hash)
spin=$(curl -s --data-binary @"$tmp/spin.wasm" "$url/api/v1/modules" | jq -r .hash)

rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# (a) throughput, after (d)'s first reading: a fresh gateway and worker, connected and idle
start_workers 4
sleep 2
rss_gw0=$(rss "$gw_pid")
rss_wk0=$(rss "${workers[0]}")
: >"$tmp/rate"
for r in $(seq "$runs"); do
    doc=$(job "{\"module\":\"$count\",\"range\":[0,$shards],\"shards\":$shards,\"deadline_ms\":600000,\"wait\":true}")
    [ "$(echo "$doc" | jq -r '"\(.status) \(.value)"')" = "done $shards" ] ||
        { echo "bench/mesh.sh: throughput job failed: $(echo "$doc" | head -c 300)" >&2; exit 1; }
    ms=$(echo "$doc" | jq .elapsed_ms)
    echo "$shards $ms" | awk '{printf "%.0f\n", $1 * 1000 / ($2 > 0 ? $2 : 1)}' >>"$tmp/rate"
    say "throughput run $r: $shards shards in $ms ms"
done
rate=$(median <"$tmp/rate")

# (b) latency: one-shard jobs, and the plain HTTP round trip as the baseline
spec="{\"module\":\"$count\",\"range\":[0,1],\"shards\":1,\"wait\":true}"
: >"$tmp/lat"
: >"$tmp/base"
for _ in $(seq 20); do job "$spec" >/dev/null; done # warm-up: module cached on every worker
for _ in $(seq "$latency_jobs"); do
    curl -s -o /dev/null -w '%{time_total}\n' -X POST -H 'Content-Type: application/json' \
        --data-binary "$spec" "$url/api/v1/jobs" >>"$tmp/lat"
    curl -s -o /dev/null -w '%{time_total}\n' "$url/api/v1/nodes" >>"$tmp/base"
done
p50=$(pct 50 <"$tmp/lat" | awk '{printf "%.2f", $1 * 1000}')
p99=$(pct 99 <"$tmp/lat" | awk '{printf "%.2f", $1 * 1000}')
b50=$(pct 50 <"$tmp/base" | awk '{printf "%.2f", $1 * 1000}')
b99=$(pct 99 <"$tmp/base" | awk '{printf "%.2f", $1 * 1000}')
say "latency: p50 $p50 ms, p99 $p99 ms (HTTP alone: $b50 / $b99 ms)"

# (e) the dashboard's files: GET /, /app.css, /app.js (gzip accepted), p50 / p99, and the bytes
# a browser transfers for the page
: >"$tmp/web"
page_bytes=0
for f in / /app.css /app.js; do
    page_bytes=$((page_bytes + $(curl -s -o /dev/null -w '%{size_download}' -H 'Accept-Encoding: gzip' "$url$f")))
done
for _ in $(seq "$latency_jobs"); do
    for f in / /app.css /app.js; do
        curl -s -o /dev/null -w '%{time_total}\n' -H 'Accept-Encoding: gzip' "$url$f" >>"$tmp/web"
    done
done
w50=$(pct 50 <"$tmp/web" | awk '{printf "%.2f", $1 * 1000}')
w99=$(pct 99 <"$tmp/web" | awk '{printf "%.2f", $1 * 1000}')
say "dashboard files: p50 $w50 ms, p99 $w99 ms, $page_bytes bytes"

# (d) memory, idle again after the runs above
sleep 2
rss_gw=$(rss "$gw_pid")
rss_wk=$(rss "${workers[0]}")
stop_workers

# (c) scaling
spin_job="{\"module\":\"$spin\",\"range\":[0,4000],\"shards\":40,\"deadline_ms\":600000,\"wait\":true}"
declare -A took
for n in 1 2; do
    start_workers $n
    : >"$tmp/t$n"
    for r in $(seq "$runs"); do
        doc=$(job "$spin_job")
        [ "$(echo "$doc" | jq -r .status)" = done ] || { echo "scaling job failed" >&2; exit 1; }
        echo "$doc" | jq .elapsed_ms >>"$tmp/t$n"
        say "scaling: $n worker(s), run $r: $(echo "$doc" | jq .elapsed_ms) ms"
    done
    took[$n]=$(median <"$tmp/t$n")
    stop_workers
done
speedup=$(awk -v a="${took[1]}" -v b="${took[2]}" 'BEGIN {printf "%.2f", a / b}')

echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%d)"
echo
echo "| measure | median of $runs | target |"
echo "| --- | ---: | ---: |"
echo "| (a) trivial shards per second, 4 workers ($shards shards per job) | $rate | >= 10,000 |"
echo "| (b) one-shard job, submit to outcome, p50 / p99 ($latency_jobs jobs) | $p50 / $p99 ms | p50 <= 2 ms |"
echo "| (b) baseline: GET /api/v1/nodes, p50 / p99 | $b50 / $b99 ms | |"
echo "| (e) GET /, /app.css, /app.js (gzip), p50 / p99 over $((3 * latency_jobs)) | $w50 / $w99 ms | < 5 ms |"
echo "| (e) the page's transfer (three files, gzip) | $page_bytes bytes | < 100 KiB |"
echo "| (c) CPU-bound job (40 x ~80 ms): 1 worker / 2 workers | ${took[1]} / ${took[2]} ms = ${speedup}x | >= 1.8x |"
echo "| (d) VmRSS idle, fresh: worker / gateway | $rss_wk0 / $rss_gw0 MiB | <= 8 MiB each |"
echo "| (d) VmRSS idle after (a) and (b): worker / gateway | $rss_wk / $rss_gw MiB | |"
