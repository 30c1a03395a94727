#!/usr/bin/env bash
# Receive-path benchmark: resub beside hiredis (and redis-cli) in the same run, using the peers in
# ../shared/bench (blaster = fake server that isolates the subscriber's own cost; e2e = a real
# redis-server fed by redis-benchmark). Prints one line per peer and the resub/hiredis ratios.
#
# usage: Benchmarks/receive.sh [RUNS]        (default 5; needs libhiredis-dev, redis-server, redis-tools)
#        BASE_BIN=/path/to/older/resub Benchmarks/receive.sh [RUNS]
#            also measures an older build in the same run (before/after), alternating with this one,
#            each beside its own hiredis run; the ratios are printed for both.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$ROOT/../shared/bench}
RUNS=${1:-5}
export BENCH_OUT=${BENCH_OUT:-/tmp/resub-bench}
if ! dpkg -s libhiredis-dev >/dev/null 2>&1; then apt-get install -y -qq libhiredis-dev >/dev/null; fi
BIN=$("$ROOT/scripts/build-release.sh" 2>/dev/null)   # the statically linked artefact
sub_cmd() { echo "$1 --url redis://{host}:{port} --channel {channel} --count {n}"; }
OUT=$(mktemp)
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
# Tags each peer line with the build it measured ("after" = this tree, "before" = BASE_BIN).
measure() { # label bin peers args...
  local label=$1 bin=$2 peers=$3; shift 3
  SUB_CMD=$(sub_cmd "$bin") PEERS="$peers" "$BENCH/run-peers.sh" "$@" 2>/dev/null | sed "s/^/$label /" | tee -a "$OUT"
}
for args in "blaster 1000000 64" "blaster 200000 1024"; do
  if [ -z "${BASE_BIN:-}" ]; then
    measure after "$BIN" "hiredis sub" $args "$RUNS"
  else
    # This machine's speed drifts by 2x within a minute: the two builds alternate, one run each per round
    # (each run after a warm-up run), hiredis beside each, and the medians are compared.
    for _ in $(seq "$RUNS"); do
      measure after "$BIN" "hiredis sub" $args 1
      measure before "$BASE_BIN" "hiredis sub" $args 1
    done
  fi
done
measure after "$BIN" "hiredis rediscli sub" e2e 200000 1024 3
echo "--- medians over the runs: resub msg/s, hiredis msg/s of the same runs, ratio, peak RSS (max)"
python3 - "$OUT" <<'PY'
import re, statistics, sys
rates, peaks = {}, {}
for line in open(sys.argv[1]):
    f = line.split()
    if len(f) < 5 or f[1] != "blaster":
        continue
    key = (f[0], f[4])  # build, S=...
    rate = float(re.search(r"(\d+) msg/s", line).group(1))
    rates.setdefault(key, {}).setdefault(f[2], []).append(rate)
    if f[2] == "sub":
        peaks[key] = max(peaks.get(key, 0.0), float(re.search(r"peak ([\d.]+) MiB", line).group(1)))
for (build, size), peers in sorted(rates.items()):
    sub, hir = statistics.median(peers["sub"]), statistics.median(peers["hiredis"])
    print(f"{build:6} {size:7} resub {sub:9.0f} msg/s  hiredis {hir:9.0f} msg/s  {sub / hir:.2f}x  peak {peaks[(build, size)]} MiB  ({len(peers['sub'])} runs)")
PY
rm -f "$OUT"
