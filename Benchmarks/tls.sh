#!/usr/bin/env bash
# TLS receive throughput as a ratio of plain TCP: one redis-server with a plain port and a TLS port (test
# certificates made here with openssl), redis-benchmark publishing N × S-byte messages on the plain port,
# resub subscribed over TLS (rediss://) or plain TCP with --count N; time from publishing start to resub's
# exit. usage: Benchmarks/tls.sh [N] [S] [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-200000}; S=${2:-64}; RUNS=${3:-3}
OUT=${BENCH_OUT:-/tmp/resub-bench}/tls; mkdir -p "$OUT"; cd "$OUT"
if [ ! -f server.crt ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj "/CN=resub-bench-ca" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
  printf "subjectAltName=DNS:localhost,IP:127.0.0.1\n" > ext.cnf
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile ext.cnf 2>/dev/null
fi
BIN=$("$ROOT/scripts/build-release.sh" 2>/dev/null)   # the statically linked artefact
PLAIN=${PLAIN_PORT:-6470}; TLS=${TLS_PORT:-6471}
redis-server --port "$PLAIN" --tls-port "$TLS" --tls-cert-file server.crt --tls-key-file server.key --tls-ca-cert-file ca.crt \
  --tls-auth-clients no --bind 127.0.0.1 --save '' --appendonly no --daemonize yes --dir "$OUT" --pidfile "$OUT/pid" --logfile "$OUT/log" \
  --client-output-buffer-limit "pubsub 0 0 0"
trap 'kill $(cat "$OUT/pid") 2>/dev/null || true' EXIT
for _ in $(seq 100); do redis-cli -p "$PLAIN" ping >/dev/null 2>&1 && break; sleep 0.05; done
PAY=$(head -c "$S" /dev/zero | tr '\0' 'x')
run() { # url extra-args -> milliseconds
  "$BIN" --url "$1" ${2:-} --channel ch --count "$N" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 200); do [ "$(redis-cli -p "$PLAIN" pubsub numsub ch | tail -1)" = 1 ] && break; sleep 0.01; done
  local t0=$(date +%s%N)
  redis-benchmark -p "$PLAIN" -n "$N" -P 64 -c 4 -q PUBLISH ch "$PAY" >/dev/null 2>&1
  wait "$pid"
  echo $(( ($(date +%s%N) - t0) / 1000000 ))
}
for r in $(seq 1 "$RUNS"); do
  p=$(run "redis://127.0.0.1:$PLAIN")
  t=$(run "rediss://localhost:$TLS" "--tls-ca $OUT/ca.crt")
  awk -v n="$N" -v s="$S" -v p="$p" -v t="$t" -v r="$r" 'BEGIN {printf "run %d: %d x %d B through redis-server: plain %.0f msg/s (%d ms), TLS %.0f msg/s (%d ms): TLS/plain %.2f\n", r, n, s, n/p*1000, p, n/t*1000, t, p/t}'
done
