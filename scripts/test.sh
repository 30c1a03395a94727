#!/usr/bin/env bash
# The test command: installs what is missing, builds (a warning in our own code fails the run), and runs
# every test suite: unit, loop, service and integration tests against real redis-server processes that
# the tests start and stop themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
log=$(mktemp)
swift build --build-tests 2>&1 | tee "$log" | grep -E "error|warning|Compiling|Build" | grep -v "^\[" || true
if grep -E "^$PWD/(Sources|Tests)/.*warning:" "$log"; then
  echo "warnings in resub's own code (above): fix them" >&2
  exit 1
fi
grep -q "Build complete" "$log" || { tail -50 "$log"; exit 1; }
# Suites run one after another: several integration tests measure timing (dead-link detection, shutdown
# latency, failover) and would measure the other suites' load if run side by side on 2 cores.
swift test --skip-build --no-parallel
