"""gie Python sample: a custom layer from a plugin library, built with CMake, loaded and used by name.

    python samples/python/custom_plugin.py [--build-dir DIR] [--batch 4]

Steps: build samples/plugin (the "LeakyClip" plugin, C++ against gie's public headers) with CMake and
find_package(gie) -> gie.load_library(the .so) -> define x -> FullyConnected -> LeakyClip -> Softmax,
using the plugin by its type name -> build an engine -> save it, load it with a Runtime -> run a batch
-> compare with numpy. Exits 1 if anything differs. Needs cmake and a C++ compiler.

A process that loads the engine file later must call gie.load_library(...) first, exactly like this one.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

import gie

HERE = os.path.dirname(os.path.abspath(__file__))
PLUGIN_SOURCE_DIR = os.path.join(os.path.dirname(HERE), "plugin")


def build_plugin(build_dir):
    """Configures and builds samples/plugin in build_dir; returns the path of the plugin library."""
    cmake = shutil.which("cmake")
    if cmake is None:
        sys.exit("cmake not found: install it (pip install cmake) to build the plugin")
    # The same as: cmake -S samples/plugin -B build_dir -Dgie_DIR=$(python -m gie --cmake-dir)
    subprocess.run([cmake, "-S", PLUGIN_SOURCE_DIR, "-B", build_dir, f"-Dgie_DIR={gie.cmake_dir()}",
                    "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", build_dir], check=True, stdout=subprocess.DEVNULL)
    lib = os.path.join(build_dir, "libleaky_clip_plugin.so")
    if not os.path.isfile(lib):
        sys.exit(f"the build did not produce {lib}")
    return lib


def leaky_clip(x, lo, hi, slope):
    """numpy reference of the plugin."""
    return np.where(x < lo, lo + slope * (x - lo), np.where(x > hi, hi + slope * (x - hi), x))


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build-dir", help="where to build the plugin (default: a temporary folder)")
    parser.add_argument("--batch", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="gie-plugin-") as tmp:
        build_dir = args.build_dir or os.path.join(tmp, "build")

        # 1. Build the plugin library and load it: its creator registers "LeakyClip".
        lib = build_plugin(build_dir)
        gie.load_library(lib)
        print(f"loaded {lib}")
        print("registered plugins (not built in):",
              [p for p in gie.registered_plugins() if p[0] == "LeakyClip"])

        # 2. A network that uses it by type name, like any built-in layer.
        rng = np.random.default_rng(0)
        w = (rng.standard_normal((10, 16)) * 0.5).astype(np.float32)
        b = (rng.standard_normal(10) * 0.1).astype(np.float32)
        lo, hi, slope = -1.0, 1.0, 0.05

        builder = gie.Builder()
        net = builder.create_network()
        x = net.add_input("x", gie.float32, (1, 16))
        fc = net.add_fully_connected(x, 10, w, b)
        clip = net.add_plugin("LeakyClip", [fc.output(0)], {"lo": lo, "hi": hi, "slope": slope})
        clip.name = "leaky_clip"
        print(f"plugin layer '{clip.name}': type {clip.type}, lo={clip.lo} hi={clip.hi} slope={clip.slope}")
        prob = net.add_softmax(clip.output(0), axis=1)
        net.mark_output(prob.output(0), "prob")

        config = builder.create_config()
        config.device = "cpu"
        config.max_batch = args.batch
        engine = builder.build(net, config)

        # 3. Engine file round trip: the plugin's fields are serialized into it.
        path = os.path.join(tmp, "custom_plugin.gie")
        engine.save(path)
        engine = gie.Runtime().load(path)
        for k in engine.layer_info()["kernels"]:
            print(f"  kernel {k['name']:<16} {k['type']:<16} tactic {k['tactic']}")

        # 4. Run and compare with numpy.
        data = (rng.standard_normal((args.batch, 16)) * 2).astype(np.float32)
        out = engine.create_execution_context().execute({"x": data})["prob"]
        ref = softmax(leaky_clip(data.astype(np.float64) @ w.T + b, lo, hi, slope))
        diff = float(np.abs(out - ref).max())
        ok = out.shape == ref.shape and diff < 1e-5
        print(f"max abs difference vs numpy: {diff:.3g}")
        print("PASSED" if ok else "FAILED")
        return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
