#!/usr/bin/env bash
# Instructions per request (callgrind), deterministic whatever the machine
# is doing: bash bench/ir.sh [MODE] [WORKLOAD] [N]
#   MODE bare|mitten, WORKLOAD plain|read|write (see src/bin/irloop.rs).
# Runs irloop with N requests and with 0, and prints (Ir(N) - Ir(0)) / N.
# Needs valgrind and a release build of bench/ (bash bench/run.sh builds it,
# or: cargo build --release --manifest-path bench/Cargo.toml --target-dir target --bins).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
MODE=${1:-mitten} WL=${2:-plain} N=${3:-20000}
BIN="$ROOT/target/release/irloop"
ir() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --callgrind-out-file="$out" "$BIN" "$MODE" "$1" "$WL" >/dev/null 2>&1
  awk '/^summary:/ { print $2 }' "$out"
  rm -f "$out"
}
a=$(ir "$N"); b=$(ir 0)
echo "$MODE $WL: $(( (a - b) / N )) instructions per request ($N requests)"
