#!/usr/bin/env bash
# Audit log benchmarks recorded in BENCHMARKS.md ("Audit log (issue 5)"), on the SQLite default:
#   1. durable appends with hash chaining: AuditLog::record from 64/256/1024 concurrent tasks and
#      append_audit in batches of 1 to 8192, each against plain inserts of the same rows without
#      chaining (insert_audit_rows_unchained, same batch sizes, synchronous = FULL), from an empty
#      database, then from a copy of a 1,000,000-event log, then a what-if without the search
#      indexes and the same runs with the search indexes of before migration 0006 (0003's);
#   1c. search latency over 1,000,000 events, with 0006's indexes and 0003's;
#   2. verification of 10,000,000 events sealed every 100,000: check::verify_store, the store's read
#      paths alone, a bare rusqlite scan, the pure Verifier in memory; reference: sha256sum (and
#      openssl) over the events' canonical bytes and the database;
#   3. shipping lag at 2,000 events/s for 150 s, shipper every 10 s, 200 clients, to a local folder
#      and to s3s-fs on loopback (skipped when s3s-fs is not installed).
# Usage: scripts/bench-audit.sh [EVENTS]   (default 10,000,000 for the verification; about 19
# minutes, 12 when the filled database is reused: it is kept under the work folder (~13 GB with the
# canonical bytes) and reused by the next run unless FRESH=1)
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-10000000}
work=${PALISADE_BENCH_DIR:-target/bench-audit}
bin=target/release/examples/audit_bench

cargo build --release -q -p palisade-auditlog --example audit_bench
mkdir -p "$work"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(lscpu | sed -n 's/^Model name: *//p'); $(date -u +%FT%TZ); commit $(git rev-parse --short HEAD)"
echo "== load at the start: $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. durable appends (SQLite, synchronous = FULL)"
"$bin" append "$work/append" --secs 6 --what-if 'client_bucket,actor_bucket,object_bucket,at:8192' \
  --before-tasks 1024 --before-batches 8192
echo "== 1b. the same from a log of 1,000,000 events"
"$bin" append "$work/append" --secs 6 --base 1000000 --tasks 1024 --batches 8192

echo "== 1c. search on a log of 1,000,000 events, with the indexes of 0006 and, before, 0003"
"$bin" search "$work" --events 1000000

echo "== 2. verification of $events events"
verify="$work/verify"
if [ "${FRESH:-0}" = 1 ] || [ "$(cat "$verify/filled" 2>/dev/null)" != "$events" ]; then
  rm -rf "$verify"
  "$bin" fill "$verify" --events "$events" --seal-every 100000
  echo "$events" > "$verify/filled"
else
  echo "reusing the database filled by an earlier run: $verify ($events events)"
fi
"$bin" verify "$verify" --memory 1000000
# Reference: sha256sum over the same bytes, from the page cache (read once first), twice over the
# canonical bytes and once over the database file;
# also openssl, whose SHA-256 uses the CPU's SHA extensions as the sha2 crate does.
for f in canonical.bin palisade.db; do
  size=$(stat -c %s "$verify/$f")
  cat "$verify/$f" > /dev/null
  runs=2; [ "$f" = palisade.db ] && runs=1
  for tool in "sha256sum" "openssl dgst -sha256"; do
    for i in $(seq "$runs"); do
      s=$( { /usr/bin/time -f "%e %U" $tool "$verify/$f" > /dev/null; } 2>&1 )
      awk -v t="$tool" -v f="$f" -v s="$s" -v n="$events" -v b="$size" -v i="$i" \
        'BEGIN { split(s, a, " "); printf "%s %s (%d MB), run %d: %.2f s (%.2f s user) = %.0f events/s, %.0f MB/s\n", t, f, b/1e6, i, a[1], a[2], n/a[1], b/1e6/a[1] }'
    done
  done
done

echo "== 3. shipping lag, 2,000 events/s for 150 s, shipper every 10 s"
"$bin" ship "$work" --rate 2000 --secs 150 --interval 10
if "$bin" ship "$work" --rate 2000 --secs 150 --interval 10 --s3; then
  echo "single requests to s3s-fs on loopback, 40 KB objects:"
  "$bin" probe "$work/probe" --s3 --n 200 --size 40000
else
  echo "(S3 run skipped or failed: is s3s-fs installed? cargo install s3s-fs --version 0.14.1 --features binary)"
fi
echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
