#!/usr/bin/env bash
# The engine-file mutation fuzzer (tests/test_engine_fuzz.py) under AddressSanitizer + UndefinedBehaviorSanitizer:
# builds build/asan (scripts/dev_build.sh with sanitizer flags; the first build takes a few minutes) and runs
# the fuzzer for SECONDS (default 600) with random seeds; figures (mutants, refused, ran, findings) are printed
# and written to build/asan/fuzz_report.json. Any sanitizer report aborts the worker and is a finding.
#   scripts/asan_fuzz.sh [SECONDS] [pytest args...]
set -euo pipefail
secs=${1:-600}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
# CMake takes these at the first configure of build/asan.
CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" "$root/scripts/dev_build.sh" asan
# Python itself is not instrumented: the ASan runtime must be loaded first, and libstdc++ with it (else ASan
# cannot find the real __cxa_throw and aborts on the first C++ exception). Leaks are not what this looks for;
# an allocation too large for the machine must fail as it does without ASan (gie.OutOfMemoryError).
libasan=$(${CXX:-c++} -print-file-name=libasan.so)
libstdcxx=$(${CXX:-c++} -print-file-name=libstdc++.so)
cd "$root"
LD_PRELOAD="$libasan $libstdcxx" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  GIE_FUZZ_SECONDS="$secs" GIE_FUZZ_REPORT="$root/build/asan/fuzz_report.json" PYTHONPATH="$root/build/asan/pkg" \
  python3 -m pytest tests/test_engine_fuzz.py -p no:randomly -p no:xdist -q -s "$@"
