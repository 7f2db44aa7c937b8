#!/usr/bin/env bash
# Runs every libFuzzer target built in BUILD_DIR (fuzz_<name>) for SECONDS each, starting from
# the seed corpus fuzz/corpus/<name>/ and the kept crashers fuzz/regressions/<name>/ (each of
# which is executed first, so a fixed crash that comes back fails at once). New interesting
# inputs go to BUILD_DIR/fuzz-work/<name>/, never into the repository; a crash, timeout, leak or
# out-of-memory leaves its input in BUILD_DIR/fuzz-artifacts/<name>/ and fails the run.
# Usage: scripts/run-fuzz.sh BUILD_DIR SECONDS [TARGET...]
set -uo pipefail
build_dir=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS [TARGET...]}
seconds=${2:?usage: run-fuzz.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
root="$(cd "$(dirname "$0")/.." && pwd)"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$root"/fuzz/*.cpp; do targets+=("$(basename "$src" .cpp)"); done
fi

# A malloc the allocator cannot satisfy returns NULL, as glibc's does in production, instead of
# ASan aborting: CLN asks for 10^17 bytes on some power towers (2^{2.2^{4e4 e^{100}}}), gets
# NULL, throws, and the math checker scores the answer as undecided. Real memory growth is still
# caught by -rss_limit_mb and libFuzzer's malloc limit.
export ASAN_OPTIONS="allocator_may_return_null=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
# Leaks inside third-party libraries only (documented in the file).
export LSAN_OPTIONS="suppressions=$root/scripts/lsan.supp${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
failed=()
for name in "${targets[@]}"; do
  bin="$build_dir/fuzz/fuzz_$name"
  if [ ! -x "$bin" ]; then
    echo "error: $bin is not built (make fuzz-build)" >&2
    exit 2
  fi
  work="$build_dir/fuzz-work/$name"
  artifacts="$build_dir/fuzz-artifacts/$name"
  mkdir -p "$work" "$artifacts" "$root/fuzz/corpus/$name" "$root/fuzz/regressions/$name"
  log="$build_dir/fuzz-work/$name.log"
  start=$(date +%s)
  # -timeout: one input running over 10 s is a hang; -rss_limit_mb: 2 GiB is an out-of-memory.
  limits=(-timeout=10 -rss_limit_mb=2048 -artifact_prefix="$artifacts/")
  # Kept crashers first, each whole (fuzzing below cuts inputs to -max_len).
  mapfile -t kept < <(find "$root/fuzz/regressions/$name" -type f ! -name '.*' | sort)
  rc=0
  : >"$log"
  if [ ${#kept[@]} -ne 0 ]; then
    "$bin" "${limits[@]}" "${kept[@]}" >>"$log" 2>&1 || rc=$?
  fi
  if [ $rc -eq 0 ]; then
    "$bin" "${limits[@]}" -max_total_time="$seconds" -max_len="${FUZZ_MAX_LEN:-8192}" \
      -print_final_stats=1 "$work" "$root/fuzz/corpus/$name" "$root/fuzz/regressions/$name" \
      >>"$log" 2>&1 || rc=$?
  fi
  stats=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  echo "fuzz_$name: ${#kept[@]} kept crashers, ${seconds}s fuzzing, $(( $(date +%s) - start ))s in all, ${stats:-?} runs, exit $rc"
  if [ $rc -ne 0 ]; then
    failed+=("$name")
    echo "---- fuzz_$name failed; last lines of $log:" >&2
    tail -n 40 "$log" >&2
    echo "---- reproduce: $bin $artifacts/<file>; keep the input as fuzz/regressions/$name/<cause>" >&2
  fi
done

# The closing line CI reads: targets that ran clean, targets that failed.
echo "fuzz: $(( ${#targets[@]} - ${#failed[@]} )) passed, ${#failed[@]} failed"
if [ ${#failed[@]} -ne 0 ]; then
  echo "failed fuzz targets: ${failed[*]}" >&2
  exit 1
fi
