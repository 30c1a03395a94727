#!/usr/bin/env bash
# Memory benchmark (issue 14): resub's resident memory (VmRSS, from outside) in five cases, in one run, with the
# statically linked release build (scripts/build-release.sh, the artefact deploy/ ships):
#   1. at rest with one channel;
#   2. 100,000 channels (mem.channel.N) + 1,000 patterns from a --config YAML file;
#   3. 100,000 short names (br.N) + 1,000 patterns added through POST /subscriptions (admin API);
#   4. the receive benchmark's peak RSS (blaster, 1M x 64 B and 200k x 1 KiB, via ../shared/bench/run-peers.sh);
#   5. 1,000,000 channels (m1.channel.N) from YAML: resident and peak, time from start to every subscription
#      confirmed by the server, and time to replay after a restart of redis-server (default backoff).
# It starts its own redis-server on a free loopback port and stops it (and every resub) by pid.
#
# usage: Benchmarks/memory.sh            (needs redis-server, redis-tools, curl, python3; 4 needs libhiredis-dev)
#        SKIP_RECEIVE=1 Benchmarks/memory.sh   to leave out case 4
#        BIN=/path/to/resub Benchmarks/memory.sh   to measure another build (e.g. an older one, for before/after)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
BIN=${BIN:-$("$ROOT/scripts/build-release.sh" 2>/dev/null)}   # BIN=/path/to/older/resub measures another build
WORK=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
URL=redis://127.0.0.1:$PORT
REDIS_PID=""
RESUB_PID=""

launch_redis() {
  redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" --logfile "$WORK/redis.log" &
  REDIS_PID=$!
}
start_redis() {
  launch_redis
  for _ in $(seq 500); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && return; sleep 0.01; done
  echo "redis-server did not start" >&2; exit 1
}
stop_resub() { if [ -n "$RESUB_PID" ]; then kill "$RESUB_PID" 2>/dev/null || true; wait "$RESUB_PID" 2>/dev/null || true; RESUB_PID=""; fi; }
cleanup() {
  stop_resub
  if [ -n "$REDIS_PID" ]; then kill "$REDIS_PID" 2>/dev/null || true; wait "$REDIS_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# Waits (at most $3 s) until the server holds $1 channels and $2 patterns. One Python process polls INFO every
# 10 ms over one connection (reconnecting while the server restarts): spawning redis-cli 100 times a second
# would take a good part of a core from resub and the server on this 2-core machine.
await_counts() {
  python3 - "$PORT" "$1" "$2" "${3:-120}" <<'PY'
import socket, sys, time
port, channels, patterns, limit = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4])
deadline = time.time() + limit
conn, have = None, {}
while time.time() < deadline:
    try:
        if conn is None:
            conn = socket.create_connection(("127.0.0.1", port), timeout=5)
        conn.sendall(b"INFO stats\r\n")
        data = b""
        while b"\r\n" not in data:
            data += conn.recv(65536)
        header, _, body = data.partition(b"\r\n")
        while len(body) < int(header[1:]) + 2:
            body += conn.recv(65536)
        have = dict(line.split(":", 1) for line in body.decode().splitlines() if ":" in line)
        if have.get("pubsub_channels") == channels and have.get("pubsub_patterns") == patterns:
            sys.exit(0)
    except OSError:
        conn = None
    time.sleep(0.01)
print(f"timed out waiting for {channels} channels and {patterns} patterns (have {have.get('pubsub_channels')}, {have.get('pubsub_patterns')})", file=sys.stderr)
sys.exit(1)
PY
}
rss() { awk -v k="$2:" '$1 == k {printf "%.1f MiB", $2 / 1024}' "/proc/$1/status"; }
start_resub() {
  "$BIN" --url "$URL" --log-format json "$@" >/dev/null 2>>"$WORK/resub.log" &
  RESUB_PID=$!
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
settle() { sleep 1; }
# Starts resub on YAML file $2 (a label $1) and prints its memory once the server holds $3 channels and $4 patterns.
from_yaml() {
  local t0; t0=$(date +%s%N)
  start_resub --config "$2"
  await_counts "$3" "$4" 300
  local took; took=$(ms_since "$t0")
  settle
  printf '%-50s VmRSS %s  (peak %s), all confirmed %s ms after start\n' "$1:" "$(rss "$RESUB_PID" VmRSS)" "$(rss "$RESUB_PID" VmHWM)" "$took"
}

# YAML file with $2 channels named $1.N and $3 patterns.
write_yaml() {
  python3 - "$@" <<'PY'
import sys
path, prefix, channels, patterns = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
with open(path, "w") as f:
    f.write("channels:\n")
    f.writelines(f"  - {prefix}.{i}\n" for i in range(channels))
    f.write("patterns:\n")
    f.writelines(f"  - '{prefix}.pattern.{i}.*'\n" for i in range(patterns))
PY
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r); redis $(redis-server --version | awk '{print $3}')"
echo "binary: $BIN ($(du -h "$BIN" | cut -f1), statically linked Swift runtime)"
start_redis

# 1. At rest with one channel: start-up settled (resub gives the start-up code's pages back a second after it),
# one message delivered, then more than one idle PING period (5 s): what a quiet sidecar keeps resident.
start_resub --channel mem.rest
await_counts 1 0 30
sleep 2
redis-cli -p "$PORT" publish mem.rest at-rest >/dev/null
sleep 6
echo "at rest, one channel (a message and a PING later):  VmRSS $(rss "$RESUB_PID" VmRSS)  (peak $(rss "$RESUB_PID" VmHWM))"
stop_resub; await_counts 0 0 30

# 2. 100,000 channels + 1,000 patterns from YAML.
write_yaml "$WORK/100k.yaml" mem.channel 100000 1000
from_yaml "100,000 channels + 1,000 patterns (YAML)" "$WORK/100k.yaml" 100000 1000
stop_resub; await_counts 0 0 60

# 3. 100,000 short names + 1,000 patterns through POST /subscriptions.
ADMIN_PORT=$(free_port)
start_resub --channel br.seed --admin "127.0.0.1:$ADMIN_PORT"
await_counts 1 0 30
python3 - "$ADMIN_PORT" <<'PY'
import json, sys, urllib.request
port = int(sys.argv[1])
def post(body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/subscriptions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
for start in range(0, 100_000, 10_000):
    post({"channels": [f"br.{i}" for i in range(start, start + 10_000)]})
post({"patterns": [f"br.p{i}.*" for i in range(1000)]})
PY
await_counts 100001 1000 120
settle
echo "100,000 short names + 1,000 patterns (admin API):  VmRSS $(rss "$RESUB_PID" VmRSS)  (peak $(rss "$RESUB_PID" VmHWM))"
stop_resub; await_counts 0 0 60

# 4. The receive benchmark's peak RSS (whole process, max over runs).
if [ -z "${SKIP_RECEIVE:-}" ] && [ -x "$BENCH/run-peers.sh" ] && dpkg -s libhiredis-dev >/dev/null 2>&1; then
  export SUB_CMD="$BIN --url redis://{host}:{port} --channel {channel} --count {n}"
  for args in "1000000 64" "200000 1024"; do
    line=$(PEERS="sub" BENCH_OUT="$WORK/bench" "$BENCH/run-peers.sh" blaster $args 3 2>/dev/null | grep '^blaster')
    echo "receive benchmark, blaster $(echo "$args" | awk '{printf "%d x %d B", $1, $2}'):   $(echo "$line" | grep -o '[0-9]* msg/s'), peak $(echo "$line" | grep -o 'peak [0-9.]* MiB' | cut -d' ' -f2-)"
  done
else
  echo "receive benchmark: skipped (SKIP_RECEIVE, or no $BENCH/run-peers.sh or libhiredis-dev)"
fi

# 5. 1,000,000 channels from YAML: resident and peak, time to confirmed, replay after a redis restart.
write_yaml "$WORK/1m.yaml" m1.channel 1000000 0
from_yaml "1,000,000 channels (YAML)" "$WORK/1m.yaml" 1000000 0
kill -9 "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
t0=$(date +%s%N)
launch_redis   # the poller below connects as soon as the server accepts
await_counts 1000000 0 300
echo "1,000,000 channels, replay after a redis restart:  $(ms_since "$t0") ms from the restart to all confirmed; VmRSS $(rss "$RESUB_PID" VmRSS)  (peak $(rss "$RESUB_PID" VmHWM))"

# The server's own share, for scale: a bare client (Python, one socket, every SUBSCRIBE pipelined by a writer
# thread while the main thread reads) asking redis-server for the same 1,000,000 channels: first on a freshly
# started server (what the replay above meets: the server's first million subscriptions fault in its memory),
# then again on the same, now warm, server.
stop_resub
kill "$REDIS_PID"; wait "$REDIS_PID" 2>/dev/null || true
start_redis
for server in "a freshly started server" "the same server, warm"; do
python3 - "$PORT" "$server" <<'PY'
import socket, sys, threading, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
batches = []
for b in range(1000):
    names = [f"m1.channel.{i}".encode() for i in range(b * 1000, (b + 1) * 1000)]
    batches.append(b"*1001\r\n$9\r\nSUBSCRIBE\r\n" + b"".join(b"$%d\r\n%s\r\n" % (len(n), n) for n in names))
data = b"".join(batches)
t0 = time.time()
threading.Thread(target=s.sendall, args=(data,), daemon=True).start()
tail = b""
while True:
    chunk = s.recv(1 << 20)
    if not chunk:
        break
    tail = (tail + chunk)[-32:]
    if b":1000000\r\n" in tail:
        break
print(f"1,000,000 channels, a bare pipelined client:       {int((time.time() - t0) * 1000)} ms from the first SUBSCRIBE to the last confirmation, on {sys.argv[2]} (the server's share)")
PY
await_counts 0 0 120
done
