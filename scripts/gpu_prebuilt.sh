#!/usr/bin/env bash
# Saves the lent GPU machine's build time (~160 s of every call) by carrying a libgie.so built here with CUDA:
#   here:   scripts/gpu_prebuilt.sh pack [BUILD]   # BUILD: a CUDA build folder (default build/gpu1, GIE_CUDA=ON,
#                                                   # CMAKE_CUDA_ARCHITECTURES=90a); writes build/pre.tar.xz (~40 MB)
#   device: scripts/gpu_prebuilt.sh env            # (run with carry=["build/pre.tar.xz"]) unpacks into /tmp/pre,
#                                                   # compiles only the Python module for that machine's Python
#                                                   # (~25 s), links python/gie, prints the PYTHONPATH to export
# e.g. the device command: eval "$(scripts/gpu_prebuilt.sh env)" && python3 -m pytest tests -m gpu -n 16
# The library must be built from the same working tree that is sent (the module's bindings are compiled from it).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
case ${1:-} in
  pack)
    b=${2:-build/gpu1}
    ninja -C "$b" >/dev/null
    rm -rf build/pre && cmake --install "$b" --prefix build/pre/pkg >/dev/null && rm -f build/pre/pkg/gie/_C*.so
    tar cf - -C build/pre pkg | xz -T0 -6 > build/pre.tar.xz
    ls -la build/pre.tar.xz >&2 ;;
  env)
    p=${PREDIR:-/tmp/pre}
    rm -rf "$p" && mkdir -p "$p" && tar xJf build/pre.tar.xz -C "$p"
    cxx=/usr/bin/g++; [ -x "$cxx" ] || cxx=g++  # the system compiler: shared libstdc++ (see gpu_check.sh)
    suffix=$(python3 -c "import sysconfig; print(sysconfig.get_config_var('EXT_SUFFIX'))")
    # shellcheck disable=SC2046
    "$cxx" -O1 -shared -fPIC -std=c++17 -fvisibility=hidden $(python3 -m pybind11 --includes) -Icpp/include -Icpp/src \
      -DGIE_HAVE_CUDA_BUILD=1 python/src/bindings.cpp -o "$p/pkg/gie/_C$suffix" -L"$p/pkg/gie" -lgie -Wl,-rpath,'$ORIGIN' \
      -Wl,--push-state,-Bdynamic,-lstdc++,--pop-state >&2
    for f in python/gie/*; do ln -sfn "$root/$f" "$p/pkg/gie/$(basename "$f")"; done
    echo "export PYTHONPATH=$p/pkg" ;;
  *) sed -n '2,10p' "$0"; exit 2 ;;
esac
