#!/usr/bin/env bash
# Builds `palisade-scan`, the scan-only executable meant for CI images, as one static executable
# against musl (static-pie, so address-space randomisation is kept). It runs on any x86_64 or
# aarch64 Linux image, distroless or Alpine included, and it starts faster than a glibc build:
# glibc's start-up asks the CPU about its caches with dozens of `cpuid` instructions, and in a
# virtual machine each one traps to the hypervisor (7 µs apiece on the benchmark machine, 0.4 ms
# per process, more than a whole small scan). The musl build brings its own allocator (mimalloc)
# and, on x86_64, its own `memcpy`, `memmove` and `memcmp` (crates/palisade-scan-cli/build.rs),
# where musl's are slow. The `scan` profile adds whole-program optimisation and drops debug
# sections (Cargo.toml).
#
# `--target` also keeps the flags off build scripts and proc-macros, which stay host builds.
# Prints the path of the executable.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(uname -m)-unknown-linux-musl"
# mimalloc frees all its heaps when the process exits, which a process about to end has no use
# for; its source skips that when built with MI_SKIP_COLLECT_ON_EXIT: 1.9 % of a scan on average
# over the 14 Cargo.lock files. MI_NO_GETENV stops it reading its 30 options from the environment
# at start (each compared with every variable; 1.4-2.3 % of a scan), so MIMALLOC_* variables do not
# tune this executable. See BENCHMARKS.md, scan. TARGET_ keeps the flags off host builds.
export TARGET_CFLAGS="${TARGET_CFLAGS:-} -DMI_SKIP_COLLECT_ON_EXIT -DMI_NO_GETENV"
# The C parts (SQLite, zstd, mimalloc, c/mem.c) need a musl C compiler: Debian's `musl-tools`.
if ! command -v musl-gcc >/dev/null && ! command -v "$(uname -m)-linux-musl-gcc" >/dev/null ||
  { ! rustup target list --installed | grep -qx "$target" && ! rustup target add "$target" >&2; }; then
  # Without the musl target or compiler: glibc linked in statically (slower to start in a VM).
  host=$(rustc -vV | sed -n 's/^host: //p')
  echo "warning: no $target target or musl C compiler (apt-get install musl-tools);" \
    "building a static glibc executable instead" >&2
  RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
    cargo build --profile scan -q --target "$host" -p palisade-scan-cli --bin palisade-scan
  echo "target/$host/scan/palisade-scan"
  exit 0
fi
cargo build --profile scan -q --target "$target" -p palisade-scan-cli --bin palisade-scan
echo "target/$target/scan/palisade-scan"
