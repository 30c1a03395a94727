#!/usr/bin/env bash
# Regenerates the shell completion scripts shipped in deploy/completions from the built resub (ArgumentParser's
# --generate-completion-script), so they always match the options. ExecutableTests fails when they are stale.
# Usage: scripts/generate-completions.sh [path/to/resub]   (default: the debug build, built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-}
if [ -z "$bin" ]; then
  swift build --product resub >&2
  bin="$(swift build --show-bin-path)/resub"
fi
for shell in bash zsh fish; do
  "$bin" --generate-completion-script "$shell" > "deploy/completions/resub.$shell"
done
echo "wrote deploy/completions/resub.{bash,zsh,fish}" >&2
