"""gie sample: YOLOv2 from a Darknet cfg, with the Region plugin (this folder) decoding boxes and running NMS
inside the engine.

    python samples/yolov2/yolov2.py [--cfg yolov2-voc.cfg] [--weights yolov2-voc.weights] [--image photo.png]
                                    [--size 416] [--device cpu|gpu|auto] [--output detections.png]

Steps: build the Region plugin library with CMake against the installed gie (find_package(gie)) and load it
(gie.load_library) -> import the cfg with gie's Darknet importer, which maps [region] to the plugin (outputs
region<i>_boxes / _scores / _classes / _count) -> set the detection thresholds on that layer -> build an
engine -> run one image -> print the detections and write a PNG with the boxes drawn.

Without --cfg the sample writes YOLOv2-VOC's cfg itself (yolov2_voc_cfg below: the layers of darknet's
yolov2-voc.cfg); without --weights every layer gets seeded random weights (--seed), so the boxes are arbitrary
(but computed exactly as with trained weights); without --image it draws a test image. Images:
PNG (8-bit, non-interlaced), binary PPM, .npy (H, W, 3 uint8), or anything Pillow reads when it is installed.
Needs cmake and a C++ compiler (plus nvcc for the plugin's CUDA kernel, used with --device gpu).
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

import gie
from gie.parsers.darknet_parser import DarknetParser

HERE = os.path.dirname(os.path.abspath(__file__))
VOC_NAMES = ["aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
             "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor"]
VOC_ANCHORS = "1.3221, 1.73145, 3.19275, 4.00944, 5.05587, 8.09892, 9.47112, 4.84053, 11.2364, 10.0071"


def yolov2_voc_cfg(size=416):
    """The text of darknet's yolov2-voc.cfg (inference keys only) for a size x size input (a multiple of 32)."""
    if size % 32 or size < 32:
        raise SystemExit(f"--size must be a positive multiple of 32, got {size}")
    out = [f"[net]\nbatch=1\nwidth={size}\nheight={size}\nchannels=3\n"]

    def conv(filters, size_, bn=True, activation="leaky"):
        out.append(f"[convolutional]\n{'batch_normalize=1' + chr(10) if bn else ''}filters={filters}\nsize={size_}\n"
                   f"stride=1\npad=1\nactivation={activation}\n")

    plan = [32, "M", 64, "M", 128, (64, 1), 128, "M", 256, (128, 1), 256, "M", 512, (256, 1), 512, (256, 1), 512, "M",
            1024, (512, 1), 1024, (512, 1), 1024, 1024, 1024]
    for item in plan:
        if item == "M":
            out.append("[maxpool]\nsize=2\nstride=2\n")
        else:
            filters, k = item if isinstance(item, tuple) else (item, 3)
            conv(filters, k)
    out.append("[route]\nlayers=-9\n")          # the 26x26 features (layer 16) ...
    conv(64, 1)
    out.append("[reorg]\nstride=2\n")           # ... folded to 13x13 (passthrough)
    out.append("[route]\nlayers=-1,-4\n")
    conv(1024, 3)
    conv(125, 1, bn=False, activation="linear")
    out.append(f"[region]\nanchors={VOC_ANCHORS}\nbias_match=1\nclasses=20\ncoords=4\nnum=5\nsoftmax=1\n")
    return "\n".join(out)


# ---- the plugin library ----------------------------------------------------------------------------------

def build_plugin(build_dir, cuda="AUTO"):
    """Configures and builds this folder's CMake project in build_dir; returns the plugin library's path."""
    cmake = shutil.which("cmake")
    if cmake is None:
        sys.exit("cmake not found: install it (pip install cmake) to build the Region plugin")
    # The same as: cmake -S samples/yolov2 -B build_dir -Dgie_DIR=$(python -m gie --cmake-dir)
    subprocess.run([cmake, "-S", HERE, "-B", build_dir, f"-Dgie_DIR={gie.cmake_dir()}", "-DCMAKE_BUILD_TYPE=Release",
                    f"-DREGION_CUDA={cuda}"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run([cmake, "--build", build_dir], check=True, stdout=subprocess.DEVNULL)
    lib = os.path.join(build_dir, "libregion_plugin.so")
    if not os.path.isfile(lib):
        sys.exit(f"the build did not produce {lib}")
    return lib


# ---- images: read, generate, resize, draw, write PNG -------------------------------------------------------

def read_png(data):
    """8-bit grey / RGB / RGBA (+ grey-alpha), non-interlaced PNG -> (H, W, 3) uint8; None for other PNGs."""
    pos, chunks = 8, {}
    idat = b""
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IDAT":
            idat += body
        else:
            chunks.setdefault(kind, body)
    w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(color)
    if depth != 8 or channels is None or interlace:
        return None
    raw = zlib.decompress(idat)
    stride = w * channels
    img = np.zeros((h, stride), np.uint8)
    prev = np.zeros(stride, np.int32)
    for y in range(h):  # undo the per-row filters (PNG spec, section 9)
        f, line = raw[y * (stride + 1)], np.frombuffer(raw, np.uint8, stride, y * (stride + 1) + 1).astype(np.int32)
        if f in (0, 1, 2):  # None, Sub, Up: vectorised
            if f == 1:
                line = np.cumsum(line.reshape(w, channels), axis=0).reshape(stride)
            cur = (line + (prev if f == 2 else 0)) & 0xFF
            img[y] = cur
            prev = cur
            continue
        cur = np.zeros(stride, np.int32)
        for x in range(stride):  # Average, Paeth: each byte depends on the one before
            a = cur[x - channels] if x >= channels else 0
            b, c = prev[x], prev[x - channels] if x >= channels else 0
            if f == 0:
                pred = 0
            elif f == 1:
                pred = a
            elif f == 2:
                pred = b
            elif f == 3:
                pred = (a + b) // 2
            else:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            cur[x] = (line[x] + pred) & 0xFF
        img[y] = cur
        prev = cur
    img = img.reshape(h, w, channels)
    if channels in (1, 2):
        return np.repeat(img[:, :, :1], 3, axis=2)
    return img[:, :, :3].copy()


def read_image(path):
    """An image file -> (H, W, 3) uint8 RGB."""
    if path.endswith(".npy"):
        img = np.load(path)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            sys.exit(f"{path}: expected an (H, W, 3) uint8 array, got {img.shape} {img.dtype}")
        return img
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"P6":  # binary PPM: "P6 width height maxval" then RGB bytes
        fields, pos = [], 2
        while len(fields) < 3:
            while data[pos:pos + 1].isspace():
                pos += 1
            if data[pos:pos + 1] == b"#":
                pos = data.index(b"\n", pos)
                continue
            end = pos
            while not data[end:end + 1].isspace():
                end += 1
            fields.append(int(data[pos:end]))
            pos = end
        w, h, maxval = fields
        if maxval != 255:
            sys.exit(f"{path}: only 8-bit PPM files are read")
        return np.frombuffer(data, np.uint8, w * h * 3, pos + 1).reshape(h, w, 3).copy()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        img = read_png(data)
        if img is not None:
            return img
    try:
        from PIL import Image
    except ImportError:
        sys.exit(f"{path}: not a PNG this sample reads (8-bit, non-interlaced), a PPM or a .npy file; "
                 "install Pillow for other formats")
    return np.asarray(Image.open(path).convert("RGB"))


def generated_image(width=640, height=480):
    """A deterministic picture: a gradient with a few coloured rectangles and discs."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, 96)], axis=2).astype(np.uint8)
    for (x0, y0, x1, y1), colour in [((60, 80, 260, 300), (220, 40, 40)), ((330, 200, 600, 420), (30, 160, 60)),
                                     ((420, 40, 560, 150), (240, 220, 30))]:
        img[y0:y1, x0:x1] = colour
    for (cx, cy, r), colour in [((180, 380, 70), (40, 60, 230)), ((500, 300, 50), (250, 250, 250))]:
        img[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = colour
    return img


def resize_bilinear(img, width, height):
    """darknet's resize_image (bilinear, corners aligned) on (H, W, C) float32; the same array if no change."""
    h, w = img.shape[:2]
    if (w, h) == (width, height):
        return img
    sx = (w - 1) / (width - 1) if width > 1 else 0.0
    sy = (h - 1) / (height - 1) if height > 1 else 0.0
    xs, ys = np.arange(width) * sx, np.arange(height) * sy
    x0, y0 = np.floor(xs).astype(int), np.floor(ys).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    dx, dy = (xs - x0)[None, :, None], (ys - y0)[:, None, None]
    top = img[y0][:, x0] * (1 - dx) + img[y0][:, x1] * dx
    bottom = img[y1][:, x0] * (1 - dx) + img[y1][:, x1] * dx
    return (top * (1 - dy) + bottom * dy).astype(np.float32)


def preprocess(img, width, height):
    """(H, W, 3) uint8 RGB -> (1, 3, height, width) float32 in [0, 1], as darknet feeds its networks."""
    x = resize_bilinear(img.astype(np.float32) / 255.0, width, height)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None])


def colour(k):
    return tuple(int(v) for v in (np.array([97, 193, 53]) * (k + 1) % 206 + 50))


def draw_boxes(img, detections):
    """Draws each detection's box (3 px, its class's colour) on a copy of img."""
    out = img.copy()
    h, w = img.shape[:2]
    for d in detections:
        left, top, right, bottom = d["pixels"]
        for t in range(3):
            l, r = max(left + t, 0), min(right - t, w - 1)
            tp, b = max(top + t, 0), min(bottom - t, h - 1)
            if l > r or tp > b:
                continue
            out[tp, l:r + 1] = out[b, l:r + 1] = colour(d["class"])
            out[tp:b + 1, l] = out[tp:b + 1, r] = colour(d["class"])
    return out


def write_png(path, img):
    """(H, W, 3) uint8 -> an RGB PNG file (zlib and struct only)."""
    h, w = img.shape[:2]
    rows = b"".join(b"\x00" + img[y].tobytes() for y in range(h))  # filter type 0 on every row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))


# ---- the network -----------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cfg", help="a Darknet cfg with a [region] head (default: YOLOv2-VOC, written by the sample)")
    parser.add_argument("--weights", help="its .weights file (default: seeded random weights)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--size", type=int, help="input width and height (a multiple of 32) for the generated cfg, "
                                                 "default 416")
    parser.add_argument("--image", help="image file (default: a generated test image)")
    parser.add_argument("--device", default="auto", choices=["cpu", "gpu", "auto"])
    parser.add_argument("--threshold", type=float, default=0.24, help="score threshold (default 0.24, darknet's)")
    parser.add_argument("--nms", type=float, default=0.45, help="NMS IoU threshold (default 0.45)")
    parser.add_argument("--max-detections", type=int, default=100)
    parser.add_argument("--output", default="yolov2_detections.png", help="PNG with the boxes drawn")
    parser.add_argument("--json", help="also write the detections to this JSON file")
    parser.add_argument("--save-cfg", help="write the cfg used to this file")
    parser.add_argument("--plugin-lib", help="a Region plugin library already built (default: build it)")
    parser.add_argument("--build-dir", help="where to build the plugin (default: a temporary folder)")
    parser.add_argument("--plugin-cuda", default="AUTO", choices=["AUTO", "ON", "OFF"],
                        help="build the plugin's CUDA kernel (default AUTO: when nvcc is found)")
    args = parser.parse_args()

    if args.cfg and args.size:
        sys.exit("--size applies to the generated cfg; edit width/height in your --cfg instead")
    if args.cfg:
        with open(args.cfg) as f:
            cfg = f.read()
    else:
        cfg = yolov2_voc_cfg(args.size or 416)
    if args.save_cfg:
        with open(args.save_cfg, "w") as f:
            f.write(cfg)
    threshold = args.threshold

    with tempfile.TemporaryDirectory(prefix="gie-yolov2-") as tmp:
        # 1. The plugin: loading the library registers "Region" (CPU, and GPU when built with CUDA).
        lib = args.plugin_lib or build_plugin(args.build_dir or os.path.join(tmp, "build"), args.plugin_cuda)
        gie.load_library(lib)
        print(f"loaded {lib}: {[p for p in gie.registered_plugins() if p[0] == 'Region']}")

        # 2. The network: the importer maps [region] to the plugin because it is registered now.
        weights = None
        if args.weights:
            with open(args.weights, "rb") as f:
                weights = f.read()
        darknet = DarknetParser(seed=args.seed)
        net = darknet.parse_text(cfg, weights)
        region = [h for h in darknet.heads if h[1] == "Region"]
        if not region:
            sys.exit("the cfg has no [region] section for the Region plugin")
        prefix, _, options, net_w, net_h = region[0]
        classes = int(options.get("classes", 20))
        names = VOC_NAMES if classes == 20 else [f"class {k}" for k in range(classes)]
        for i in range(net.num_layers):
            layer = net.get_layer(i)
            if layer.type == "Region":  # the thresholds are the layer's fields
                layer.threshold = threshold
                layer.nms_threshold = args.nms
                layer.max_detections = args.max_detections

        device = args.device
        if device == "auto":
            device = "gpu" if gie.build_info()["gpu_available"] else "cpu"
        if ("Region", "1", device) not in gie.registered_plugins():
            sys.exit(f"{lib} has no {device.upper()} kernel for Region (built without CUDA?): rebuild it with nvcc "
                     "installed (--plugin-cuda ON), or use --device cpu")
        builder = gie.Builder()
        config = builder.create_config()
        config.device = device
        t0 = time.perf_counter()
        engine = builder.build(net, config)
        print(f"built a {engine.device} engine in {time.perf_counter() - t0:.1f} s "
              f"({'weights ' + args.weights if args.weights else f'random weights, seed {args.seed}'})")

        # 3. One image.
        img = read_image(args.image) if args.image else generated_image()
        x = preprocess(img, net_w, net_h)
        ctx = engine.create_execution_context()
        out = ctx.execute({"data": x})
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            ctx.execute({"data": x})
            times.append(time.perf_counter() - t0)
        count = int(out[f"{prefix}_count"][0])
        boxes, scores = out[f"{prefix}_boxes"][0], out[f"{prefix}_scores"][0]
        classes_out = out[f"{prefix}_classes"][0]
        h, w = img.shape[:2]
        detections = []
        for r in range(count):
            bx, by, bw, bh = (float(v) for v in boxes[r])
            left, right = int((bx - bw / 2) * w), int((bx + bw / 2) * w)
            top, bottom = int((by - bh / 2) * h), int((by + bh / 2) * h)
            detections.append({"class": int(classes_out[r]), "name": names[int(classes_out[r])],
                               "score": float(scores[r]), "box": [bx, by, bw, bh],
                               "pixels": [max(left, 0), max(top, 0), min(right, w - 1), min(bottom, h - 1)]})
        print(f"{count} detection(s) (score > {threshold:g}, NMS {args.nms:g}) on a {w}x{h} image, "
              f"{1000 * min(times):.1f} ms per run:")
        for d in detections:
            print(f"  {d['name']:<12} {d['score']:.3f}  box (left, top, right, bottom) = {tuple(d['pixels'])}")
        write_png(args.output, draw_boxes(img, detections))
        print(f"wrote {args.output}")
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"detections": detections, "net_size": [net_w, net_h], "prefix": prefix}, f)


if __name__ == "__main__":
    main()
