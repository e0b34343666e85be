#!/usr/bin/env bash
# Benchmark: GET /api/v1/sites?limit=50 as an authenticated API client, on the SQLite default with
# 10,000 sites, against a bare axum handler serving the same JSON from memory, in one run.
# Load generator: wrk on loopback (Debian package `wrk`). Prints both results and the ratio.
#
# Usage: scripts/bench-api.sh [DURATION_SECONDS] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-20}
conns=${2:-32}
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }

cargo build --release -q -p palisade -p palisade-web --example bare_sites --bin palisade
bin=target/release
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

"$bin/palisade" demo --seed-only --extra-sites 10000 --data-dir "$work/data" > "$work/seed.txt" 2>/dev/null
token=$(sed -n 's/.*(shown once): //p' "$work/seed.txt")

PALISADE_LOG=warn "$bin/palisade" serve --data-dir "$work/data" --listen 127.0.0.1:18181 > "$work/serve.txt" 2>/dev/null &
until grep -q "listening on" "$work/serve.txt" 2>/dev/null; do sleep 0.1; done
url="http://127.0.0.1:18181/api/v1/sites?limit=50"
curl -sf -H "Authorization: Bearer $token" "$url" > "$work/sites.json"
"$bin/examples/bare_sites" 127.0.0.1:18182 "$work/sites.json" > "$work/bare.txt" &
until grep -q "listening on" "$work/bare.txt" 2>/dev/null; do sleep 0.1; done

run() { # name url [header]
  local out
  if [ -n "${3:-}" ]; then out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency -H "$3" "$2"); else out=$(wrk -t2 -c"$conns" -d"${duration}s" --latency "$2"); fi
  local rps p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  echo "$1 $rps $p99 ${non2xx:-0}"
}

echo "sites in the database: $(grep -o 'Seeded.*' "$work/seed.txt")"
echo "response size: $(wc -c < "$work/sites.json") bytes, 50 sites"
p=$(run palisade "$url" "Authorization: Bearer $token")
b=$(run bare "http://127.0.0.1:18182/api/v1/sites")
printf '%-10s %12s %10s %8s\n' target req/s p99 non-2xx
printf '%-10s %12s %10s %8s\n' $p
printf '%-10s %12s %10s %8s\n' $b
awk -v p="$(echo $p | cut -d' ' -f2)" -v b="$(echo $b | cut -d' ' -f2)" 'BEGIN { printf "throughput ratio palisade/bare: %.3f\n", p/b }'
