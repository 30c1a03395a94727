#!/usr/bin/env bash
# Installs what resub needs to build, run and test on Debian (run as root): libevent (with its OpenSSL
# bufferevents), libssl, libyaml (the --config reader), redis-server and redis-tools; for the tests, promtool (Debian's prometheus package, which
# lints /metrics) and the standardwebhooks Python package (which verifies webhook signatures). Does nothing when
# they are already there.
set -euo pipefail
need=()
dpkg -s libevent-dev >/dev/null 2>&1 || need+=(libevent-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
dpkg -s libyaml-dev >/dev/null 2>&1 || need+=(libyaml-dev)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v python3 >/dev/null 2>&1 || need+=(python3 python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's redis-server package starts a system service on install; the tests start their own servers.
if ! python3 -c 'import standardwebhooks' >/dev/null 2>&1; then
  echo "installing: standardwebhooks (PyPI)" >&2
  python3 -m pip install -q standardwebhooks 2>/dev/null || python3 -m pip install -q --break-system-packages standardwebhooks
fi
