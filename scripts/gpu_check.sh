#!/usr/bin/env bash
# On a GPU machine: build gie with CUDA kernels (into build/gpu, package layout in build/gpu/pkg), then run
# what is asked. Used by the developers on the lent GPU; logs go to $OUT (or build/gpu/logs).
#   scripts/gpu_check.sh build            build only
#   scripts/gpu_check.sh tests [ARGS]     + pytest -m gpu (ARGS passed to pytest)
#   scripts/gpu_check.sh sanitize [ARGS]  + compute-sanitizer memcheck over the GPU tests
#   scripts/gpu_check.sh bench [ARGS]     + bench/gpu_vs_torch.py ARGS
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=${OUT:-$root/build/gpu/logs}
mkdir -p "$out"
archs=${GIE_CUDA_ARCHS:-90}
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
  sanitize)  # compute-sanitizer memcheck over the GPU tests (default: all, 16 workers), then racecheck over the
             # tests of the shared-memory kernels (convolution, GEMM, pooling, softmax, reduce). Tactic timing
             # takes one sample (GIE_TIMING_SAMPLES=1): every tactic still runs, once.
    export GIE_TIMING_SAMPLES=${GIE_TIMING_SAMPLES:-1}
    sel=("$@"); [ ${#sel[@]} -eq 0 ] && sel=(tests -m gpu -n 16)
    # torch is hidden (GIE_TEST_HIDE_TORCH): under the sanitizer its CUDA start-up takes minutes per process. The
    # buffers come from cupy; the torch interop tests run in the plain GPU suite.
    export GIE_TEST_HIDE_TORCH=1
    # GIE_MEMCHECK_S / GIE_RACECHECK_S: time limits in seconds (0 skips that tool).
    if [ "${GIE_MEMCHECK_S:-360}" != 0 ]; then
      PYTHONUNBUFFERED=1 timeout ${GIE_MEMCHECK_S:-360} compute-sanitizer --tool memcheck --target-processes all \
        --error-exitcode 99 --print-limit 20 python3 -m pytest "${sel[@]}" -v -p no:cacheprovider > "$out/memcheck.log" 2>&1
      echo "memcheck exit: $? (0: no errors; 99: errors found; 124: time limit)"
      grep -E "^=+ .*(passed|failed)|ERROR SUMMARY|Invalid|FAILED" "$out/memcheck.log" | head -30
      echo "tests passed under memcheck: $(grep -c PASSED "$out/memcheck.log")"
    fi
    if [ "${GIE_RACECHECK_S:-200}" != 0 ]; then
      PYTHONUNBUFFERED=1 timeout ${GIE_RACECHECK_S:-200} compute-sanitizer --tool racecheck --target-processes all \
        --error-exitcode 99 --print-limit 20 python3 -m pytest tests/test_gpu_conv.py tests/test_gpu_gemm.py \
        tests/test_gpu_simple.py tests/test_gpu_data.py -m gpu -n 16 -v -p no:cacheprovider \
        -k "conv or gemm or fully_connected or matrix or pooling or softmax or reduce" > "$out/racecheck.log" 2>&1
      echo "racecheck exit: $? (0: no hazards; 99: hazards found; 124: time limit)"
      grep -E "^=+ .*(passed|failed)|RACECHECK SUMMARY|hazard|FAILED" "$out/racecheck.log" | head -30
      echo "tests passed under racecheck: $(grep -c PASSED "$out/racecheck.log")"
    fi ;;
  bench)
    PYTHONUNBUFFERED=1 python3 bench/gpu_vs_torch.py "$@" 2>&1 | tee "$out/bench.log" | tail -60 ;;
  *) python3 "$@" ;;
esac
