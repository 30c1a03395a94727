#!/bin/sh
# Automatic split figures. Balance: the pure rule (resub-split-bench). Takeover after SIGTERM and SIGKILL,
# messages duplicated per handoff and lost in the TTL window: the integration test against a real
# 3-master + 3-replica cluster with three resub executables (--member-ttl 2), run RUNS times.
# usage: Benchmarks/split.sh [RUNS]
set -eu
cd "$(dirname "$0")/.."
runs=${1:-3}
swift build -c release --product resub-split-bench >/dev/null
.build/release/resub-split-bench
swift build --build-tests >/dev/null
i=0
while [ "$i" -lt "$runs" ]; do
    swift test --skip-build --filter 'SplitIntegrationTests/shareLeaveDieJoin' 2>&1 | grep -a 'split figures' || true
    i=$((i + 1))
done
