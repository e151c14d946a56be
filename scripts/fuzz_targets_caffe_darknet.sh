#!/usr/bin/env bash
# Runs one Caffe / Darknet fuzz target under AddressSanitizer + UndefinedBehaviorSanitizer for SECONDS:
#   scripts/fuzz_targets_caffe_darknet.sh TARGET [SECONDS] [extra libFuzzer args...]
# TARGET: caffe_prototxt | caffemodel | darknet_cfg | darknet_weights (tests/fuzz/fuzz_TARGET.cpp). Seeds: the
# files of tests/fuzz_corpus/caffe (*.prototxt / *.caffemodel) or tests/fuzz_corpus/darknet (*.cfg / *.weights).
# With clang and libFuzzer (Debian: clang-14 libclang-rt-14-dev) the target is a coverage-guided libFuzzer
# binary; without them the C++ compiler builds it with the plain random-mutation driver of
# tests/fuzz/caffe_darknet_fuzz.h (less thorough; the sanitizers still apply). The library's objects are built
# once into build/fuzz/<mode>-lib (rebuilt when a source is newer). New inputs go to build/fuzz/corpus-TARGET; a crash leaves build/fuzz/crash-* and exits
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
# The library: every source compiled with the sanitizers (and libFuzzer coverage) by $cxx; a source that
# compiler cannot build (GCC-only vector builtins in some CPU kernels) is compiled without instrumentation by
# g++, which links fine with the instrumented rest. No OpenMP: one thread is enough to import models.
lib="$bdir/$mode-lib"
mkdir -p "$lib"
export cxx lib_flags root lib
compile() {
  src=$1
  obj="$lib/$(echo "${src#$root/}" | tr '/' '_').o"
  if [ "$obj" -nt "$src" ]; then   # up to date unless a header it includes (listed in its .d file) is newer
    stale=0
    if [ -f "$obj.d" ]; then
      for dep in $(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d"); do [ "$dep" -nt "$obj" ] && stale=1 && break; done
    fi
    [ $stale = 0 ] && return 0
  fi
  if ! $cxx -std=c++17 $lib_flags -Wno-unknown-pragmas -I"$root/cpp/include" -I"$root/cpp/src" -MMD -MF "$obj.d" -c "$src" -o "$obj" 2>/dev/null; then
    g++ -std=c++17 -O1 -g -Wno-unknown-pragmas -I"$root/cpp/include" -I"$root/cpp/src" -MMD -MF "$obj.d" -c "$src" -o "$obj"
  fi
}
export -f compile
find "$root/cpp/src" -name '*.cpp' | sort | nice -n 5 xargs -P 2 -I{} bash -c 'compile {}'
objs=$(find "$lib" -name '*.o' | sort)
"$cxx" -std=c++17 $link_flags -I"$root/cpp/include" -I"$root/cpp/src" "$src" \
  -Wl,--whole-archive $objs -Wl,--no-whole-archive -ldl -lpthread -o "$bdir/fuzz_$target"
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
