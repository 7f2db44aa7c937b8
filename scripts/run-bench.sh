#!/usr/bin/env bash
# Runs every benchmark binary in the build dir and prints its figures. Benchmarks measure; they
# never fail a build on a number (machines here are noisy: compare ratios within one run).
set -uo pipefail
build=${1:-build}
status=0
for b in "$build"/bench_*; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" 2> >(grep -v ' info ' >&2) || { echo "   ($(basename "$b") exited with $?)"; status=1; }
  echo
done
exit $status
