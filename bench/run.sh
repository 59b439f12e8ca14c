#!/usr/bin/env bash
# Measures the targets of issues #13 and #21 on this machine, in one run, on loopback only, and
# writes BENCHMARKS.md: /healthcheck against bare hyper; the full password flow against the
# sandbox's own CPU time and against a Node.js port of the original app (bench/node-original/);
# its CPU per flow at a fixed rate against the floor (examples/bare_flow.rs), and the result page
# rendered alone; memory under 200 concurrent flows; start-up; the clean debug build against the
# floor crate's (bench/floor/) and the first `cargo test --no-run` after it. See docs/performance.md.
#
#   bench/run.sh           the full run: release build, clean debug builds (app, floor, app, floor,
#                          each waiting for a quiet machine), 5 alternating rounds of 10 s per case,
#                          callgrind profiles of the flow and of any missed target (~20 min + builds)
#   bench/run.sh --smoke   1 round of 1 s per case on the debug build, no clean build (the floor's
#                          manifest and lockfile checked only), no profiles, to prove the script works
#                          (CI); writes BENCHMARKS-smoke.md in Cargo's target directory, never BENCHMARKS.md
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
if [ "${1:-}" = "--smoke" ]; then mode=smoke; fi

if ! command -v wrk >/dev/null; then
  echo "installing wrk (Debian package)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

command -v node >/dev/null || { echo "bench/run.sh needs Node.js and npm (the baseline in bench/node-original)"; exit 1; }
npm ci --prefix bench/node-original --no-audit --no-fund --loglevel=error

if [ "$mode" = full ]; then
  if ! command -v valgrind >/dev/null; then
    echo "installing valgrind (Debian package), for the profiles of missed targets"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
  fi
  cargo build --release --bin bitbucket-password-grant --example bare_hyper --example bare_flow --example fixed_rate --example render_page
  profile=release
else
  cargo build --bin bitbucket-password-grant --example bare_hyper --example bare_flow --example fixed_rate --example render_page
  profile=debug
fi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# A smoke run proves the script works; it must not overwrite the real figures.
if [ "$mode" = full ]; then out=BENCHMARKS.md; else out="$target_dir/BENCHMARKS-smoke.md"; fi
exec python3 bench/bench.py --mode "$mode" --bin-dir "$target_dir/$profile" --out "$out"
