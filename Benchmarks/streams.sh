#!/usr/bin/env bash
# Stream read throughput: N entries (one 16-byte field each) in a stream on a local redis-server, read to
# /dev/null by `resub --stream s --stream-start 0 --count N` (XREAD COUNT 1000 per read, JSON lines) and by
# redis-cli reading the same entries (XREAD COUNT 1000 per call, --raw output, IDs advanced by the script,
# one redis-cli process per read, and one single `XREAD COUNT N`). usage: Benchmarks/streams.sh [N] [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200000}; RUNS=${2:-3}; PORT=${PORT:-6397}
OUT=${BENCH_OUT:-/tmp/resub-bench}; mkdir -p "$OUT/rstreams"
BIN=$("$ROOT/scripts/build-release.sh" 2>/dev/null)   # the statically linked artefact
redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir "$OUT/rstreams" --pidfile "$OUT/rstreams/pid" --logfile "$OUT/rstreams/log"
trap 'kill $(cat "$OUT/rstreams/pid") 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$PORT" del s >/dev/null
python3 - "$N" <<'PY' | redis-cli -p "$PORT" --pipe >/dev/null
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
for i in range(n):
    v = b"value-%010d" % i
    out.write(b"*5\r\n$4\r\nXADD\r\n$1\r\ns\r\n$1\r\n*\r\n$1\r\nk\r\n$%d\r\n%s\r\n" % (len(v), v))
PY
echo "stream s: $(redis-cli -p "$PORT" xlen s) entries"
ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }
for run in $(seq 1 "$RUNS"); do
  t0=$(date +%s%N); "$BIN" --url "redis://127.0.0.1:$PORT" --stream s --stream-start 0 --count "$N" >/dev/null 2>&1; a=$(ms "$t0")
  t0=$(date +%s%N); redis-cli -p "$PORT" --raw XREAD COUNT "$N" STREAMS s 0 >/dev/null; b=$(ms "$t0")
  t0=$(date +%s%N)
  id=0; got=0
  while [ "$got" -lt "$N" ]; do
    last=$(redis-cli -p "$PORT" --raw XREAD COUNT 1000 STREAMS s "$id" | awk 'NR>1 && /^[0-9]+-[0-9]+$/ {l=$0} END {print l}')
    [ -z "$last" ] && break
    id=$last; got=$((got + 1000))
  done
  c=$(ms "$t0")
  awk -v n="$N" -v a="$a" -v b="$b" -v c="$c" -v r="$run" 'BEGIN {printf "run %d: resub %.0f entries/s (%d ms) | redis-cli one XREAD COUNT %d: %.0f entries/s (%d ms) | redis-cli XREAD COUNT 1000 loop: %.0f entries/s (%d ms) | resub/redis-cli(single) %.2fx\n", r, n/a*1000, a, n, n/b*1000, b, n/c*1000, c, b/a}'
done
