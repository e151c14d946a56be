#!/usr/bin/env bash
# Developer build without pip: configures, builds and installs into build/<name>/pkg in the same layout
# as the wheel (gie/_C*.so, gie/libgie.so, gie/include, gie/cmake), with the Python sources symlinked
# from python/gie so that edits to .py files need no rebuild:
#   scripts/dev_build.sh mine && PYTHONPATH=build/mine/pkg python3 -m pytest tests
# Several developers can use separate names side by side.
set -euo pipefail
name=${1:-dev}
root=$(cd "$(dirname "$0")/.." && pwd)
bdir="$root/build/$name"
if [ ! -f "$bdir/build.ninja" ]; then
  pyb=$(python3 -c "import pybind11; print(pybind11.get_cmake_dir())")
  cmake -S "$root" -B "$bdir" -G Ninja -DGIE_PYTHON=ON -DGIE_PACKAGE_LAYOUT=ON -Dpybind11_DIR="$pyb" \
        -DCMAKE_BUILD_TYPE=Release -DGIE_CUDA="${GIE_CUDA:-OFF}" -DGIE_BUILD_TESTS=ON >/dev/null
fi
ninja -C "$bdir" >/dev/null
rm -rf "$bdir/pkg"
cmake --install "$bdir" --prefix "$bdir/pkg" >/dev/null
for f in "$root"/python/gie/*; do ln -sfn "$f" "$bdir/pkg/gie/$(basename "$f")"; done
echo "built: PYTHONPATH=$bdir/pkg"
