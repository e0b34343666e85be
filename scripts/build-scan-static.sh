#!/usr/bin/env bash
# Builds `palisade-scan`, the scan-only executable meant for CI images, as one static executable:
# glibc is linked in (static-pie, so address-space randomisation is kept), so it runs on any
# x86_64 Linux image, distroless or Alpine included, without matching the build machine's
# libraries, and it skips the dynamic loader's work at every start (0.3–0.6 ms of a 1.5–3 ms scan;
# BENCHMARKS.md). It never resolves host names or loads extensions, the two things a static glibc
# cannot do well.
#
# `--target` is what keeps the flag off build scripts and proc-macros, which must stay dynamic.
# Prints the path of the executable.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
  cargo build --release -q --target "$host" -p palisade-scan-cli --bin palisade-scan
echo "target/$host/release/palisade-scan"
