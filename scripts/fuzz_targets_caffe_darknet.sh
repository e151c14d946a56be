#!/usr/bin/env bash
# Runs one Caffe / Darknet fuzz target under AddressSanitizer + UndefinedBehaviorSanitizer for SECONDS:
#   scripts/fuzz_targets_caffe_darknet.sh TARGET [SECONDS] [extra libFuzzer args...]
# TARGET: caffe_prototxt | caffemodel | darknet_cfg | darknet_weights (tests/fuzz/fuzz_TARGET.cpp). Seeds: the
# files of tests/fuzz_corpus/caffe (*.prototxt / *.caffemodel) or tests/fuzz_corpus/darknet (*.cfg / *.weights).
# With clang and libFuzzer (Debian: clang-14 libclang-rt-14-dev) the target is a coverage-guided libFuzzer
# binary; without them the C++ compiler builds it with the plain random-mutation driver of
# tests/fuzz/caffe_darknet_fuzz.h (less thorough; the sanitizers still apply). The library is built once into
# build/fuzz/<mode>. New inputs go to build/fuzz/corpus-TARGET; a crash leaves build/fuzz/crash-* and exits
# non-zero. (The same layout as scripts/fuzz.sh of the ONNX target, so that the two can merge.)
set -euo pipefail
target=${1:?usage: scripts/fuzz_targets_caffe_darknet.sh TARGET [SECONDS]}
secs=${2:-600}
shift; shift || true
case "$target" in
  caffe_prototxt) seeds=caffe; ext=prototxt ;;
  caffemodel) seeds=caffe; ext=caffemodel ;;
  darknet_cfg) seeds=darknet; ext=cfg ;;
  darknet_weights) seeds=darknet; ext=weights ;;
  *) echo "unknown target '$target' (caffe_prototxt, caffemodel, darknet_cfg, darknet_weights)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
src="$root/tests/fuzz/fuzz_$target.cpp"
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
  echo "fuzz: clang with libFuzzer not found; building the plain mutation driver" >&2
fi
lib="$bdir/$mode"
if [ ! -f "$lib/build.ninja" ]; then
  CXX=$cxx CXXFLAGS="$lib_flags" cmake -S "$root" -B "$lib" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DGIE_CUDA=OFF \
    -DGIE_PYTHON=OFF -DGIE_BUILD_TESTS=ON >/dev/null
fi
nice -n 5 ninja -C "$lib" gie_internal >/dev/null
omp=""
grep -q "OpenMP_CXX_FLAGS:STRING=-fopenmp" "$lib/CMakeCache.txt" 2>/dev/null && omp="-fopenmp"
"$cxx" -std=c++17 $link_flags $omp -I"$root/cpp/include" -I"$root/cpp/src" "$src" \
  -Wl,--whole-archive "$lib/libgie_internal.a" -Wl,--no-whole-archive -ldl -lpthread -o "$bdir/fuzz_$target"
seeddir="$bdir/seeds-$target"
rm -rf "$seeddir" && mkdir -p "$seeddir"
cp "$root/tests/fuzz_corpus/$seeds/"*."$ext" "$seeddir/"
corpus="$bdir/corpus-$target"
mkdir -p "$corpus"
cd "$bdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ "$mode" = libfuzzer ]; then
  exec "./fuzz_$target" -max_total_time="$secs" -rss_limit_mb=4096 -timeout=20 -artifact_prefix="$bdir/crash-$target-" "$@" \
    "$corpus" "$seeddir"
else
  exec "./fuzz_$target" -max_total_time="$secs" "$@" "$seeddir"
fi
