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
# Agreement with Math-Verify's test suite: needs a checkout in MATH_VERIFY_DIR (prints a note otherwise).
echo "== math_verify_agreement"
TFGRPO_BIN="$build/tfgrpo" BENCH_MATH_VERIFY="$build/bench_math_verify" \
  python3 "$(dirname "$0")/math_verify_agreement.py" || { echo "   (math_verify_agreement exited with $?)"; status=1; }
exit $status
