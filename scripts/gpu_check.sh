#!/usr/bin/env bash
# On a GPU machine: build gie with CUDA kernels (into build/gpu, package layout in build/gpu/pkg), then run
# what is asked. Used by the developers on the lent GPU; logs go to $OUT (or build/gpu/logs).
#   scripts/gpu_check.sh build            build only
#   scripts/gpu_check.sh tests [ARGS]     + pytest -m gpu (ARGS passed to pytest)
#   scripts/gpu_check.sh sanitize [ARGS]  + compute-sanitizer memcheck (and racecheck) over the GPU tests
#   scripts/gpu_check.sh bench [ARGS]     + bench/gpu_vs_torch.py ARGS
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/build/gpu/logs}
mkdir -p "$out"
archs=${GIE_CUDA_ARCHS:-90a}  # 90a: with the wgmma/TMA tactics (90 builds without them)
cmv=$(cmake --version | head -1 | grep -oE '[0-9]+\.[0-9]+' | head -1)
if [ -z "${GIE_CUDA_ARCHS:-}" ] && ! printf '3.25\n%s\n' "$cmv" | sort -V -C; then
  archs=90; echo "cmake $cmv: building for sm_90 (no sm_90a: no Hopper tactics)"  # as CMakeLists.txt's default
fi
what=${1:-tests}; shift || true
t0=$(date +%s)
pyb=$(python3 -c "import pybind11; print(pybind11.get_cmake_dir())")
# The GPU image's default compiler (/opt/gcc) links libstdc++ statically into each shared object; two copies
# (libgie.so and _C*.so) crash in locale code. The system compiler links it dynamically.
if [ -x /usr/bin/g++ ]; then export CXX=/usr/bin/g++ CC=/usr/bin/gcc CUDAHOSTCXX=/usr/bin/g++; fi
if [ ! -f build/gpu/build.ninja ]; then
  cmake -S . -B build/gpu -G Ninja -DGIE_PYTHON=ON -DGIE_PACKAGE_LAYOUT=ON -Dpybind11_DIR="$pyb" \
    -DCMAKE_BUILD_TYPE=Release -DGIE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$archs" > "$out/cmake.log" 2>&1 || { tail -30 "$out/cmake.log"; exit 1; }
fi
if ! ninja -C build/gpu -j "$(nproc)" > "$out/build.log" 2>&1; then
  grep -E "error|FAILED" -A3 "$out/build.log" | head -80
  exit 1
fi
rm -rf build/gpu/pkg
cmake --install build/gpu --prefix build/gpu/pkg > /dev/null
for f in python/gie/*; do ln -sfn "$root/$f" "build/gpu/pkg/gie/$(basename "$f")"; done
export PYTHONPATH=$root/build/gpu/pkg
echo "build: $(( $(date +%s) - t0 ))s"
python3 -c "import gie, json; print(json.dumps(gie.build_info()))"
case $what in
  build) ;;
  tests)  # tactic timing takes one sample unless GIE_TIMING_SAMPLES says otherwise: the tests force tactics
    export GIE_TIMING_SAMPLES=${GIE_TIMING_SAMPLES:-1}
    PYTHONUNBUFFERED=1 python3 -m pytest tests -m gpu -q -p no:cacheprovider -rf --tb=short "$@" 2>&1 | tee "$out/pytest_gpu.log" | tail -${GIE_TAIL:-150} ;;
  sanitize)  # compute-sanitizer memcheck over the GPU tests (default: all), then racecheck over the tests of the
             # shared-memory kernels (convolution, GEMM, pooling, softmax, reduce, the
             # shuffle transpose). pytest-xdist does not run
             # under the sanitizer, so GIE_SANITIZE_SHARDS (default 8) sanitizer processes each run one shard
             # (GIE_TEST_SHARD, tests/conftest.py); logs: $out/memcheck.log, $out/racecheck.log (the shards
             # one after the other, each after a "##### shard i/n" line).
             # Tactic timing takes one sample (GIE_TIMING_SAMPLES=1): every tactic still runs, once. torch is
             # hidden (GIE_TEST_HIDE_TORCH=1 unless set to 0): with 8 processes starting torch under the sanitizer
             # the whole suite does not fit a 10-minute run, so the buffers come from cupy; the torch interop
             # tests then run with GIE_TEST_HIDE_TORCH=0 ... sanitize tests/test_gpu_interop.py -m gpu (~15 s).
             # GIE_MEMCHECK_S / GIE_RACECHECK_S: time limits in seconds (0 skips that tool). ARGS, where given,
             # select the tests for both tools (a file of test ids: @FILE). GIE_UNDER_SANITIZER=1 tells the tests
             # (one Python object-lifetime test skips under the sanitizer).
    export GIE_TIMING_SAMPLES=${GIE_TIMING_SAMPLES:-1} GIE_TEST_HIDE_TORCH=${GIE_TEST_HIDE_TORCH:-1} GIE_UNDER_SANITIZER=1
    shards=${GIE_SANITIZE_SHARDS:-8}
    sanitize_shards() {  # tool, time limit, pytest arguments...
      local tool=$1 limit=$2 i rc
      shift 2
      rm -f "$out/$tool".*.log
      local pids=() rcs=()
      for ((i = 0; i < shards; i++)); do
        GIE_TEST_SHARD=$i/$shards PYTHONUNBUFFERED=1 timeout "$limit" compute-sanitizer --tool "$tool" \
          --error-exitcode 99 --print-limit 20 python3 -m pytest "$@" -v -p no:cacheprovider -p no:xdist \
          > "$out/$tool.$i.log" 2>&1 &
        pids+=($!)
      done
      for i in "${pids[@]}"; do wait "$i"; rc=$?; rcs+=("$rc"); done
      echo "$tool exit per shard: ${rcs[*]} (0: clean; 99: errors found; 124: time limit)"
      cat "$out/$tool".*.log | grep -E "Invalid|Race reported|Program hit|(ERROR|RACECHECK) SUMMARY: [1-9]" | head -30
      echo "$tool: $(cat "$out/$tool".*.log | grep -c " PASSED") passed, $(cat "$out/$tool".*.log | grep -c " FAILED") failed" \
           "(tests that finished under the sanitizer)"
      # one file per tool (the device tool brings back at most 8 files): each shard's log after a header line
      for ((i = 0; i < shards; i++)); do echo "##### shard $i/$shards"; cat "$out/$tool.$i.log"; done > "$out/$tool.log"
      rm -f "$out/$tool".*.log
    }
    sel=("$@"); [ ${#sel[@]} -eq 0 ] && sel=(tests -m gpu)
    [ "${GIE_MEMCHECK_S:-540}" != 0 ] && sanitize_shards memcheck "${GIE_MEMCHECK_S:-540}" "${sel[@]}"
    rsel=("$@"); [ ${#rsel[@]} -eq 0 ] && rsel=(tests/test_gpu_conv.py tests/test_gpu_gemm.py tests/test_gpu_simple.py \
      tests/test_gpu_data.py -m gpu -k "conv or gemm or fully_connected or matrix or pooling or softmax or reduce or shuffle")
    [ "${GIE_RACECHECK_S:-300}" != 0 ] && sanitize_shards racecheck "${GIE_RACECHECK_S:-300}" "${rsel[@]}"
    true ;;
  bench)
    PYTHONUNBUFFERED=1 python3 bench/gpu_vs_torch.py "$@" 2>&1 | tee "$out/bench.log" | tail -60 ;;
  *) python3 "$@" ;;
esac
