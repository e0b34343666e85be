#!/usr/bin/env bash
# Vulnerability engine benchmarks recorded in BENCHMARKS.md:
#   1. palisade-scan (the scan-only executable) and palisade scan vs cargo-audit, per Cargo.lock,
#      same lockfiles and RustSec database, medians of 100 runs;
#   2. the advisory store import of 500,000 synthetic OSV records (time, peak memory, size on disk);
#   3. palisade scan of one 2,000-package lockfile against that store, warm;
#   4. peak memory of palisade scan on a 10 MB CycloneDX SBOM.
# Usage: scripts/bench-scan.sh [RECORDS]   (needs hyperfine, cargo-audit and ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-500000}
data=${PALISADE_SHARED_DATA:-../shared/data}
work=target/bench-scan
bin=target/release/palisade
audit=$(command -v cargo-audit)

cargo build --release -q -p palisade -p palisade-vulndb --example synth
# palisade-scan as it is meant to be shipped for CI images: static (scripts/build-scan-static.sh).
scan=$(scripts/build-scan-static.sh)
rm -rf "$work" && mkdir -p "$work"

# Medians of 100 runs: a scan takes about a millisecond, and the means of 20 runs moved by ±3 %
# from one run of this script to the next (BENCHMARKS.md, scan).
echo "== 1. palisade-scan and palisade scan vs cargo-audit, per Cargo.lock (hyperfine, 5 warm-ups, 100 runs each, medians)"
"$bin" advisories import --db "$work/rustsec-db" "$data/advisories/rustsec" >/dev/null
printf '%-32s %9s %12s %14s %8s %14s %8s %16s\n' lockfile packages cargo-audit palisade-scan ratio "palisade scan" ratio "findings a/p"
for f in "$data"/lockfiles/cargo/*.Cargo.lock; do
  name=$(basename "$f")
  hyperfine -N -i --warmup 5 --runs 100 --export-json "$work/h.json" \
    "$audit audit --json --no-fetch --no-yanked --stale --db $data/advisories/rustsec --file $f" \
    "$scan --db $work/rustsec-db --format json $f" \
    "$bin scan --db $work/rustsec-db --format json $f" >/dev/null 2>&1
  a_find=$( ("$audit" audit --json --no-fetch --no-yanked --stale --db "$data/advisories/rustsec" --file "$f" 2>/dev/null || true) \
    | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["vulnerabilities"]["count"] + sum(1 for l in d["warnings"].values() for w in l if w.get("advisory")))')
  p_out=$("$scan" --db "$work/rustsec-db" --format json "$f" || true)
  p_find=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(len(d["findings"]) + len(d["notices"]))' "$p_out")
  pkgs=$(python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d["packages"])' "$p_out")
  python3 - "$work/h.json" "$name" "$pkgs" "$a_find" "$p_find" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, s, p = (x["median"] * 1000 for x in r)
print(f"{sys.argv[2]:<32} {sys.argv[3]:>9} {a:>9.1f} ms {s:>11.2f} ms {a/s:>7.1f}x {p:>11.2f} ms {a/p:>7.1f}x {sys.argv[4]:>7}/{sys.argv[5]:<7}")
PY
done

echo "== 1b. all Cargo.lock files in one palisade run (per lockfile), vs cargo-audit's mean above"
n=$(ls "$data"/lockfiles/cargo/*.Cargo.lock | wc -l)
hyperfine -N -i --warmup 3 --runs 20 --export-json "$work/batch.json" \
  "$scan --db $work/rustsec-db --format json $data/lockfiles/cargo" >/dev/null 2>&1
python3 - "$work/batch.json" "$n" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))["results"][0]["mean"] * 1000
print(f"one run over {sys.argv[2]} lockfiles: {m:.1f} ms, {m/int(sys.argv[2]):.2f} ms per lockfile")
PY

echo "== 2. import of $records synthetic OSV records"
target/release/examples/synth "$work/synth" "$records"
/usr/bin/time -f "import: %e s wall, %M KiB peak RSS" \
  "$bin" advisories import --db "$work/synth-db" "$work/synth/osv-synthetic.zip" "$data/advisories/rustsec" "$data/advisories/friendsofphp" "$data/advisories/cisa-kev"
du -b "$work/synth-db"/advisories.db* "$work/synth-db"/scan.idx | awk '{s+=$1} END {printf "store on disk, scan index included: %.1f MB\n", s/1e6}'
du -b "$work/synth-db"/scan.idx | awk '{printf "of which the scan index: %.1f MB\n", $1/1e6}'

echo "== 3. scan of a 2,000-package lockfile, warm store"
hyperfine -N -i --warmup 3 --runs 30 "$scan --db $work/synth-db --format json $work/synth/package-lock.json" \
  "$bin scan --db $work/synth-db --format json $work/synth/package-lock.json" | grep -E "Benchmark|Time|Range"
"$bin" scan --db "$work/synth-db" "$work/synth/package-lock.json" | tail -n 1

echo "== 4. peak memory on a 10 MB CycloneDX SBOM"
ls -l "$work/synth/bom.cdx.json" | awk '{printf "SBOM size: %.1f MB\n", $5/1e6}'
/usr/bin/time -f "sbom scan (palisade-scan): %e s wall, %M KiB peak RSS" "$scan" --db "$work/synth-db" --format json "$work/synth/bom.cdx.json" >/dev/null
/usr/bin/time -f "sbom scan (palisade scan): %e s wall, %M KiB peak RSS" "$bin" scan --db "$work/synth-db" --format json "$work/synth/bom.cdx.json" >/dev/null
