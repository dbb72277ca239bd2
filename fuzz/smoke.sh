#!/usr/bin/env bash
# Builds every cargo-fuzz target and runs each for a short time (default
# 30 s; FUZZ_SECONDS=600 for a real run), so the targets keep building and a
# shallow crash is caught. Installs what it needs: a nightly toolchain
# (cargo-fuzz's sanitizer flags need one) and cargo-fuzz. Exits non-zero on
# the first crash; the crashing input is under fuzz/artifacts/<target>/.
#
#   fuzz/smoke.sh                 # all targets, 30 s each
#   FUZZ_SECONDS=600 fuzz/smoke.sh cookie token
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${FUZZ_SECONDS:-30}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(cookie token form_token headers origin)
fi

toolchain=(+nightly)
if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "fuzz: installing a nightly toolchain"
  if ! rustup toolchain install nightly --profile minimal; then
    # Without a nightly, the stable compiler accepts -Z flags when told to.
    echo "fuzz: no nightly; using stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
    toolchain=()
  fi
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# New inputs go to a scratch corpus; the committed seeds stay as they are.
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
cargo "${toolchain[@]}" fuzz build
for t in "${targets[@]}"; do
  echo "fuzz: $t for ${secs}s"
  mkdir -p "$corpus/$t"
  cargo "${toolchain[@]}" fuzz run "$t" "$corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$secs" -print_final_stats=1
done
echo "fuzz: all targets ran ${secs}s without a crash"
