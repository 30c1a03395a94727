#!/usr/bin/env bash
# Installs what resub needs to build, run and test on Debian (run as root): libevent (with its OpenSSL
# bufferevents), libssl, libyaml (the --config reader), redis-server and redis-tools. Does nothing when they are already there.
set -euo pipefail
need=()
dpkg -s libevent-dev >/dev/null 2>&1 || need+=(libevent-dev)
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
dpkg -s libyaml-dev >/dev/null 2>&1 || need+=(libyaml-dev)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi
# Debian's redis-server package starts a system service on install; the tests start their own servers.
