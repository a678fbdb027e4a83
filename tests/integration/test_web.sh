#!/usr/bin/env bash
# The dashboard's files from a real gateway: GET / and the assets with their content types,
# gzip when asked (the same bytes after gunzip as without), 304 for the ETag (on a kept-alive
# connection), Cache-Control, 404 for an unknown asset, and the page needs no other host.
#
# usage: test_web.sh [PATH/TO/swarm]      Exits 77 (skipped) without curl or gzip.
set -u

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
swarm=${1:-$root/build/swarm}
# shellcheck source=lib.sh
. "$root/tests/integration/lib.sh"

for tool in curl gzip; do
    if ! command -v $tool >/dev/null 2>&1; then
        echo "SKIP: $tool is not installed"
        exit 77
    fi
done
tmp=$(mktemp -d)
gw_pid=""
cleanup() {
    [ -n "$gw_pid" ] && kill -9 "$gw_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT

"$swarm" gateway --http 127.0.0.1:0 --listen /ip4/127.0.0.1/tcp/0 --data-dir "$tmp/gw" \
    >"$tmp/out" 2>"$tmp/err" &
gw_pid=$!
port=""
for _ in $(seq 100); do
    port=$(sed -n 's#^dashboard: http://127.0.0.1:\([0-9]*\)/$#\1#p' "$tmp/out")
    [ -n "$port" ] && break
    sleep 0.05
done
[ -n "$port" ] || { fail "gateway did not start: $(cat "$tmp/err")"; exit 1; }
url=http://127.0.0.1:$port

total=0
for asset in /:text/html /app.css:text/css /app.js:text/javascript; do
    path=${asset%%:*} want=${asset#*:}
    name=$(tr -c 'a-z\n' _ <<<"$path")
    curl -s -D "$tmp/$name.h" -o "$tmp/$name.raw" "$url$path"
    ctype=$(sed -n 's/^content-type: \([^;\r]*\).*/\1/Ip' "$tmp/$name.h")
    check "$path: 200" grep -q "^HTTP/1.1 200" "$tmp/$name.h"
    check "$path: content type $ctype" [ "$ctype" = "$want" ]
    check "$path: Cache-Control" grep -qi "^cache-control: no-cache" "$tmp/$name.h"
    check "$path: no Content-Encoding unasked" [ -z "$(grep -i '^content-encoding' "$tmp/$name.h")" ]
    etag=$(sed -n 's/^etag: \(.*\)\r$/\1/Ip' "$tmp/$name.h")
    check "$path: an ETag ($etag)" grep -q '^"[0-9a-f]\{20\}"$' <<<"$etag"
    curl -s -H 'Accept-Encoding: gzip' -D "$tmp/$name.gh" -o "$tmp/$name.gz" "$url$path"
    check "$path: gzip when asked" grep -qi "^content-encoding: gzip" "$tmp/$name.gh"
    check "$path: gunzip gives the same bytes" cmp -s <(gzip -dc "$tmp/$name.gz") "$tmp/$name.raw"
    curl -s -H 'Accept-Encoding: gzip;q=0, br' -D "$tmp/$name.nh" -o /dev/null "$url$path"
    check "$path: no gzip for gzip;q=0" [ -z "$(grep -i '^content-encoding' "$tmp/$name.nh")" ]
    # two conditional requests on one connection: both 304, no body, the connection kept
    curl -sv -H "If-None-Match: $etag" "$url$path" "$url$path" >"$tmp/$name.304" 2>&1
    check "$path: 304 for its ETag, twice on one connection" \
        [ "$(grep -c '^< HTTP/1.1 304' "$tmp/$name.304")" = 2 ]
    check "$path: the connection was reused" grep -q "Re-using existing connection" "$tmp/$name.304"
    check "$path: 200 for another ETag" [ "$(curl -s -o /dev/null -w '%{http_code}' \
        -H 'If-None-Match: "0000"' "$url$path")" = 200 ]
    total=$((total + $(stat -c %s "$tmp/$name.gz")))
done
echo "the page's transfer, gzipped: $total bytes"
check "the page is under 100 KiB" [ "$total" -lt 102400 ]
check "index.html loads app.js and app.css" grep -q 'src="/app.js"' "$tmp/_.raw"
check "nothing from another host" [ -z "$(grep -Eo '(src|href)="(https?:)?//[^"]*"' "$tmp"/*.raw)" ]
check "404 for an unknown asset" [ "$(curl -s -o /dev/null -w '%{http_code}' "$url/nope.js")" = 404 ]
check "POST / is not served" [ "$(curl -s -o /dev/null -w '%{http_code}' -d x "$url/")" != 200 ]

kill -INT "$gw_pid"
if wait "$gw_pid"; then pass "gateway exits cleanly"; else fail "gateway exit status $?"; fi
gw_pid=""
summary
