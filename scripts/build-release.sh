#!/usr/bin/env bash
# Builds the artefact: resub in release mode with the Swift runtime linked statically (--static-swift-stdlib;
# no ICU, about 5 MiB less resident memory than the shared build). scripts/run-local.sh, deploy/Containerfile
# and every benchmark use this build. Prints the binary's path on stdout; build output goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
# --no-export-dynamic: the static Swift runtime's link arguments export every Swift symbol of the program
# (-export-dynamic) for dlopen'ed plug-ins resub does not have; the dynamic loader then walks those tables at
# start-up, pages that stay resident.
# lld with -z pack-relative-relocs (DT_RELR, glibc >= 2.36): gold wrote 46,000 relative relocations as 1.1 MB of
# .rela.dyn that the loader reads at every start (1.1 MiB resident); RELR packs them into 9 KB.
swift build -c release --static-swift-stdlib --product resub --scratch-path .build-static \
  -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs -Xlinker --no-export-dynamic >&2
echo "$PWD/.build-static/release/resub"
