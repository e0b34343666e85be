#!/usr/bin/env bash
# Fleet benchmarks recorded in BENCHMARKS.md ("Fleet (issue 4)"), on the SQLite default:
#   1. setup: a fleet of ENVS environments (default 20,000; ~300 packages each, drawn from the real
#      lockfiles under ../shared/data/lockfiles) stored through the Store, and an advisory store of
#      the real RustSec, FriendsOfPHP and KEV data topped up with synthetic OSV records to 200,000;
#   2. a full re-match of the fleet: first run (which creates the findings) and steady state
#      (nothing changed), wall time and peak memory under /usr/bin/time -v, then the phases of a
#      re-match timed one by one;
#   3. one new advisory to the list of affected environments (upsert + Matcher::affected, before
#      anything is written) and to the findings of every affected environment (upsert + catch_up),
#      p50/p95 per class of package (rare, medium, popular);
#   4. inventory intake through the HTTP API: re-uploads with three packages moved, first uploads;
#   5. the findings table filled to 5,000,000 rows, then the first page of open findings by priority
#      (store and HTTP API), p50/p95, and the dashboard's counts.
# Usage: scripts/bench-fleet.sh [ENVS]   (needs ../shared/data; about 75 minutes at 20,000, most of it
# storing the fleet (~13 min) and the 5,000,000 findings (~30 min))
set -euo pipefail
cd "$(dirname "$0")/.."
envs=${1:-20000}
work=${PALISADE_BENCH_DIR:-target/bench-fleet}
bin=target/release/examples/fleet_bench
timev() { /usr/bin/time -v "$@" 2> >(grep -E "Elapsed|Maximum resident" >&2); }

cargo build --release -q -p palisade-matcher --examples
rm -rf "$work" && mkdir -p "$work"
echo "== machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; load $(cut -d' ' -f1-3 /proc/loadavg)"

echo "== 1. setup: $envs environments"
"$bin" setup "$work/fleet" --envs "$envs"
# The kernel would otherwise still be writing the new file back during the first measurements
# (intake measured 502-614/s that way against 714-716/s after a sync; BENCHMARKS.md, fleet).
sync

echo "== 2. full re-match, first run (creates the findings)"
timev "$bin" full-match "$work/fleet"
echo "== 2b. full re-match, steady state (nothing changed)"
timev "$bin" full-match "$work/fleet"
echo "== 2c. the phases of a re-match, timed one by one (nothing written)"
timev "$bin" profile "$work/fleet"

echo "== 3. one new advisory → who is affected, and the findings of the affected environments"
"$bin" new-advisory "$work/fleet" --runs 300

echo "== 4. inventory intake through the API"
"$bin" intake "$work/fleet" --uploads 1000 --first 300 --conns 8

echo "== 5. findings page with 5,000,000 findings"
"$bin" fill-findings "$work/fleet" --total 5000000
sync
"$bin" page "$work/fleet" --calls 200

echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
