#!/usr/bin/env python3
"""sse.py - helpers for test_events.sh, on raw sockets (no packages):

  sse.py check STREAM_FILE JOB_ID       checks a captured stream (curl -N output): hello first,
                                        a node event, the job's start, its shards events
                                        (batched, adding up to every shard done, a final one),
                                        then its end, in that order; prints what it found
  sse.py hold PORT TOKEN N SECONDS      opens N streams, prints "open N" once all answered 200,
                                        holds them SECONDS (or until stdin closes), then closes
  sse.py stall PORT TOKEN SECONDS       one stream that does not read (tiny receive buffer)
                                        until stdin closes (or SECONDS), then prints "closed" if
                                        the gateway has closed it, else "open"
"""
import json
import select
import socket
import sys


def parse(text):
    events = []
    for block in text.split("\n\n"):
        name, data = None, []
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
        if name:
            events.append((name, json.loads("\n".join(data))))
    return events


def check(path, job):
    events = parse(open(path).read())
    fails = []
    if not events or events[0][0] != "hello":
        fails.append("the first event is not hello")
    names = [n for n, _ in events]
    if "node" not in names:
        fails.append("no node event")
    started = [i for i, (n, d) in enumerate(events)
               if n == "job" and d["id"] == job and d["status"] == "running"]
    ended = [i for i, (n, d) in enumerate(events)
             if n == "job" and d["id"] == job and d["status"] != "running"]
    shards = [i for i, (n, d) in enumerate(events) if n == "shards" and d["job"] == job]
    if len(started) != 1 or len(ended) != 1:
        fails.append("job events: %d started, %d ended" % (len(started), len(ended)))
    elif not shards or not started[0] < shards[0] or not shards[-1] < ended[0]:
        fails.append("order: started %s, shards %s..%s, ended %s"
                     % (started, shards[:1], shards[-1:], ended))
    done, changes = set(), 0
    total = None
    for i in shards:
        d = events[i][1]
        total = d["total"]
        for c in d["changes"]:
            changes += 1
            if c[1] == "done":
                if c[0] in done:
                    fails.append("shard %d done twice" % c[0])
                done.add(c[0])
                if not isinstance(c[2], int) or c[2] >= len(d["workers"]):
                    fails.append("shard %d: bad worker index %r" % (c[0], c[2]))
    if total is None or done != set(range(total)):
        fails.append("done shards: %d of %s" % (len(done), total))
    if shards and not events[shards[-1]][1].get("final"):
        fails.append("the last shards event is not final")
    if shards and changes <= len(shards):
        fails.append("not batched: %d changes in %d events" % (changes, len(shards)))
    if ended and events[ended[0]][1]["shards"]["done"] != total:
        fails.append("the end event's done count is not the total")
    print("%d events; %d shards events carry %d changes; %d shards done of %s"
          % (len(events), len(shards), changes, len(done), total))
    for f in fails:
        print("FAIL: " + f)
    return 1 if fails else 0


def request(port, token, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET /api/v1/events?token=%s HTTP/1.1\r\nHost: x\r\n\r\n" % token).encode())
    return s


def status_of(s):
    head = b""
    while b"\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            return None
        head += chunk
    return int(head.split(b" ")[1])


def hold(port, token, n, seconds):
    socks = [request(port, token) for _ in range(n)]
    codes = [status_of(s) for s in socks]
    bad = [c for c in codes if c != 200]
    print("open %d" % (n - len(bad)) if not bad else "refused %r" % bad, flush=True)
    select.select([sys.stdin], [], [], seconds)
    for s in socks:
        s.close()
    return 0


def stall(port, token, seconds):
    s = request(port, token, rcvbuf=4096)
    print("stalling", flush=True)
    # read nothing while the gateway has things to say, until told (stdin closes)
    select.select([sys.stdin], [], [], seconds)
    # the gateway should have closed it: what is buffered drains, then EOF
    s.settimeout(10)
    try:
        while s.recv(65536):
            pass
        print("closed")
    except (socket.timeout, ConnectionResetError) as e:
        print("closed" if isinstance(e, ConnectionResetError) else "open")
    return 0


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "check":
        sys.exit(check(sys.argv[2], sys.argv[3]))
    if cmd == "hold":
        sys.exit(hold(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
    if cmd == "stall":
        sys.exit(stall(int(sys.argv[2]), sys.argv[3], float(sys.argv[4])))
    sys.exit(2)
