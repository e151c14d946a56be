#!/usr/bin/env bash
# Runs one fuzz target under AddressSanitizer + UndefinedBehaviorSanitizer for SECONDS (default 600):
#   scripts/fuzz.sh TARGET [SECONDS] [extra libFuzzer args...]
# TARGET is tests/fuzz/fuzz_TARGET.cpp (onnx, caffe_prototxt, caffemodel, darknet_cfg, darknet_weights, ...); seeds
# come from tests/fuzz_corpus/TARGET (tests/fuzz_corpus/caffe and .../darknet for the Caffe and Darknet targets). The library is built
# once into build/fuzz (a few minutes). With clang and libFuzzer (Debian: apt-get install clang-14
# libclang-rt-14-dev) the target is a coverage-guided libFuzzer binary; without them it is built with the C++
# compiler and tests/fuzz/fuzz_driver.h, a plain random-mutation driver (less thorough; the sanitizers still
# apply). New interesting inputs go to build/fuzz/corpus-TARGET (not the seed folder); a crash leaves its input
# in build/fuzz/crash-* and exits non-zero. The last lines printed say how many inputs ran.
set -euo pipefail
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS]}
secs=${2:-600}
shift; shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tests/fuzz/fuzz_$target.cpp"
[ -f "$src" ] || { echo "no fuzz target $src" >&2; exit 2; }
bdir="$root/build/fuzz"
mkdir -p "$bdir"
clangxx=""
for c in clang++ clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
  if command -v "$c" >/dev/null && echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long){return 0;}' |
      "$c" -x c++ -fsanitize=fuzzer - -o "$bdir/.probe" 2>/dev/null; then clangxx=$c; break; fi
done
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1"
if [ -n "$clangxx" ]; then
  mode=libfuzzer; cxx=$clangxx; lib_flags="$san -fsanitize=fuzzer-no-link"; link_flags="$san -fsanitize=fuzzer -DGIE_LIBFUZZER"
else
  mode=driver; cxx=${CXX:-c++}; lib_flags="$san"; link_flags="$san"
  echo "fuzz.sh: clang with libFuzzer not found; building the plain mutation driver (tests/fuzz/fuzz_driver.h)" >&2
fi
# The library's sources are compiled here (not through CMake) so that a file the fuzzing compiler cannot build
# (GCC-only vector code in some CPU kernels, which the importers never run) can fall back to the C++ compiler,
# uninstrumented; ccache (when present) makes the rebuild after an edit cheap.
objdir="$bdir/$mode-obj"
mkdir -p "$objdir"
launcher=$(command -v ccache || true)
export root objdir launcher cxx lib_flags
compile_one() {
  src=$1
  rel=${src#"$root"/}
  obj="$objdir/${rel//\//_}.o"
  if ! $launcher "$cxx" -std=c++17 $lib_flags -Wno-unknown-pragmas -I"$root/cpp/include" -I"$root/cpp/src" -c "$src" -o "$obj" 2>/dev/null; then
    echo "fuzz.sh: $rel does not build with $cxx; compiled with ${CXX:-c++}, without sanitizers" >&2
    $launcher "${CXX:-c++}" -std=c++17 -O2 -fPIC -I"$root/cpp/include" -I"$root/cpp/src" -c "$src" -o "$obj"
  fi
}
export -f compile_one
find "$root/cpp/src" -name '*.cpp' | sort | nice -n 5 xargs -P "$(nproc)" -I{} bash -c 'compile_one "$1"' _ {}
"$cxx" -std=c++17 $link_flags -I"$root/cpp/include" -I"$root/cpp/src" "$src" "$objdir"/*.o -ldl -lpthread \
  -o "$bdir/fuzz_$target"
corpus="$bdir/corpus-$target"
mkdir -p "$corpus"
seeds="$root/tests/fuzz_corpus/$target"
case "$target" in   # (Caffe / Darknet targets: one seed folder for both readers of each format)
  caffe_prototxt|caffemodel) seeds="$root/tests/fuzz_corpus/caffe" ;;
  darknet_cfg|darknet_weights) seeds="$root/tests/fuzz_corpus/darknet" ;;
esac
cd "$bdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "$mode" = libfuzzer ]; then
  exec "./fuzz_$target" -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 -artifact_prefix="$bdir/" "$@" \
    "$corpus" "$seeds"
else
  exec "./fuzz_$target" -max_total_time="$secs" "$@" "$seeds"
fi
