#!/usr/bin/env python3
"""Write an int8 copy of a bundle: ONNX Runtime static QDQ quantization of its image encoder.

    python engines/tools/quantize_bundle.py SRC_BUNDLE OUT_BUNDLE [--calib-frames N]
        [--mode static|dynamic] [--decoder fp32|dynamic] [--link] [--segstream PATH]

Calibration frames come from the synthetic world (`segstream synth`, training seeds only:
held-out seeds 1000000.. are never seen) at 256 x 256, the size the model was trained and
is evaluated at, and go through the runtime's own preprocessing (src/kernels/preprocess.rs:
bilinear stretch with half-pixel centres to the bundle's input size, then
(pixel/255 - mean) / std from bundle.toml). Static mode quantizes every Conv of the encoder
(int8 weights per output channel, uint8 activations with MinMax ranges from those frames)
and leaves its inputs and outputs float, so OUT_BUNDLE keeps the source's manifest
(tensor list unchanged; name and description rewritten) and the runtime loads it unchanged.
Dynamic mode (weights only, activation ranges per call) is there for comparison.

The other files (mask decoder unless --decoder dynamic, vocabulary, text encoder,
tokenizer) are copied byte for byte (--link makes relative symbolic links instead). The
committed engines/tiny-int8 holds copies: git stores an identical file once, so they add
nothing to the repository; the directory works when copied alone (a link into engines/tiny
breaks in a Docker COPY or an install of one bundle); and a retrained engines/tiny cannot
pair its new decoder with an encoder quantized from the old one behind a link.
Needs onnxruntime, onnx and numpy (no torch); the `segstream` CLI renders the frames.
"""
import argparse
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
import zlib
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
CALIB_SEED = 300  # training range (0..100000): no held-out or validation world is seen
CALIB_SIZE = 256  # frame size of training and of the held-out evaluation
FRAMES_PER_VIDEO = 8


# --- frames ----------------------------------------------------------------------------------

def read_png_rgb(path: Path) -> np.ndarray:
    """8-bit RGB non-interlaced PNG -> [H, W, 3] uint8 (what `segstream synth` writes)."""
    data = path.read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path}: not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    if hdr is None:
        raise ValueError(f"{path}: no IHDR chunk")
    w, h, depth, colour, _, _, interlace = hdr
    if (depth, colour, interlace) != (8, 2, 0):
        raise ValueError(f"{path}: expected 8-bit RGB non-interlaced, got depth {depth} colour {colour}")
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + 3 * w)
    out = np.zeros((h, w, 3), np.uint8)
    prev = np.zeros((w, 3), np.int32)
    for y in range(h):
        row = _unfilter(raw[y, 0], raw[y, 1:].astype(np.int32).reshape(w, 3), prev)
        out[y] = row
        prev = row.astype(np.int32)
    return out


def _unfilter(kind: int, line: np.ndarray, prev: np.ndarray) -> np.ndarray:
    if kind == 0:
        return line & 255
    if kind == 1:  # Sub: running sum along the row, per channel
        return np.cumsum(line, axis=0) & 255
    if kind == 2:  # Up
        return (line + prev) & 255
    row = np.zeros_like(line)
    for x in range(line.shape[0]):  # Average / Paeth: sequential by definition
        a = row[x - 1] if x else np.zeros(3, np.int32)
        b, c = prev[x], (prev[x - 1] if x else np.zeros(3, np.int32))
        if kind == 3:
            p = (a + b) // 2
        elif kind == 4:
            pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
            p = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        else:
            raise ValueError(f"unknown PNG filter {kind}")
        row[x] = (line[x] + p) & 255
    return row


def _axis(src: int, dst: int):
    """The runtime's bilinear table (src/kernels/bilinear.rs): half-pixel centres, clamped."""
    s = np.clip((np.arange(dst, dtype=np.float32) + 0.5) * np.float32(src / dst) - 0.5, 0, src - 1)
    lo = np.floor(s).astype(np.int64)
    return lo, np.minimum(lo + 1, src - 1), (s - lo).astype(np.float32)


def preprocess(rgb: np.ndarray, manifest: dict) -> np.ndarray:
    """[H, W, 3] uint8 -> the encoder's [1, 3, h, w] f32 input, as the runtime makes it."""
    inp = manifest["input"]
    y0, y1, wy = _axis(rgb.shape[0], inp["height"])
    x0, x1, wx = _axis(rgb.shape[1], inp["width"])
    f = rgb.astype(np.float32)
    rows = f[y0] * (1 - wy)[:, None, None] + f[y1] * wy[:, None, None]
    px = rows[:, x0] * (1 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None]
    mean, std = np.float32(inp["mean"]), np.float32(inp["std"])
    norm = (px / 255.0 - mean) / std
    return np.ascontiguousarray(norm.transpose(2, 0, 1)[None], np.float32)


def find_segstream(explicit: str | None) -> Path:
    """--segstream, else the release CLI, else the debug one (synth is fast in debug too)."""
    if explicit:
        return Path(explicit)
    targets = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    targets.append(REPO / "target")
    for t in targets:
        for kind in ("release", "debug"):
            if (t / kind / "segstream").exists():
                return t / kind / "segstream"
    found = shutil.which("segstream")
    if found:
        return Path(found)
    sys.exit("quantize_bundle: no segstream CLI found (cargo build --release, or --segstream PATH)")


def render_frames(segstream: Path, n: int, work: Path, seed: int = CALIB_SEED) -> list[Path]:
    """n frames of ceil(n / 8) world videos (8 frames each) from `seed` on."""
    videos = max(1, -(-n // FRAMES_PER_VIDEO))
    out = work / "calib"
    cmd = [str(segstream), "synth", "--seed", str(seed), "--videos", str(videos),
           "--frames", str(FRAMES_PER_VIDEO), "--width", str(CALIB_SIZE),
           "--height", str(CALIB_SIZE), "--out", str(out)]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return sorted(out.glob("videos/*/*.png"))[:n]


# --- quantization ----------------------------------------------------------------------------

class FrameReader:
    """onnxruntime.quantization CalibrationDataReader over preprocessed frames."""

    def __init__(self, frames: list[Path], manifest: dict, input_name: str = "image"):
        self.frames, self.manifest, self.name = frames, manifest, input_name
        self.it = iter(frames)

    def get_next(self):
        path = next(self.it, None)
        return None if path is None else {self.name: preprocess(read_png_rgb(path), self.manifest)}

    def rewind(self):
        self.it = iter(self.frames)


def quantize_encoder(src: Path, dst: Path, frames: list[Path], manifest: dict, mode: str, work: Path,
                     keep_stem: bool = True):
    from onnxruntime.quantization import (CalibrationMethod, QuantFormat, QuantType,
                                          quantize_dynamic, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pre = work / "encoder_pre.onnx"
    # Shape inference only: constant folding would store the positional features (a 1.6 MB
    # [1, 64, 80, 80] tensor) in the file; ONNX Runtime folds them when it loads the model.
    quant_pre_process(str(src), str(pre), skip_optimization=True, skip_symbolic_shape=True)
    keep = stem_convs(pre) if keep_stem else []
    if mode == "dynamic":
        quantize_dynamic(str(pre), str(dst), weight_type=QuantType.QUInt8, per_channel=True,
                         op_types_to_quantize=["Conv"], nodes_to_exclude=keep)
        return
    # uint8 activations with int8 weights (U8S8): ONNX Runtime's fast path on x86-64
    # (AVX2 / AVX-512 VNNI); int8 activations measured twice as slow as fp32 here.
    quantize_static(str(pre), str(dst), FrameReader(frames, manifest),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    op_types_to_quantize=["Conv"], nodes_to_exclude=keep,
                    calibrate_method=CalibrationMethod.MinMax)


def stem_convs(path: Path) -> list[str]:
    """The Convs that read a graph input (the stem): kept float. Its 3 input channels give
    per-channel int8 weights little to average over; quantized, it cost the most mask
    agreement with fp32 of any layer and saved no measurable time."""
    import onnx
    graph = onnx.load(str(path)).graph
    inputs = {i.name for i in graph.input}
    return [n.name for n in graph.node if n.op_type == "Conv" and n.input[0] in inputs]


def quantize_decoder(src: Path, dst: Path):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"])


# --- the bundle directory --------------------------------------------------------------------

def rewrite_manifest(text: str, name: str, description: str) -> str:
    """bundle.toml with the new name and description; the tensor list stays as it is."""
    quoted = description.replace("\\", "\\\\").replace('"', '\\"')
    # Replacements as functions: re.sub would read backslashes in a text replacement.
    text = re.sub(r'(?m)^name = ".*"$', lambda _: f'name = "{name}"', text, count=1)
    text = re.sub(r'(?m)^description = ".*"$', lambda _: f'description = "{quoted}"', text, count=1)
    text = re.sub(r"(?m)^# Written by .*$", lambda _: "# Written by engines/tools/quantize_bundle.py; do not edit by hand.", text, count=1)
    return text


def describe(src_manifest: dict, args, n_frames: int) -> str:
    what = {"static": f"static QDQ int8 (per-channel int8 weights, uint8 activations, MinMax "
                      f"ranges from {n_frames} synthetic-world frames of training seeds {CALIB_SEED}..)",
            "dynamic": "dynamic int8 (per-channel uint8 weights, activation ranges per call)"}[args.mode]
    convs = "every image-encoder Conv" if args.quantize_stem else "every image-encoder Conv but the stem"
    dec = "; mask decoder MatMuls dynamic int8" if args.decoder == "dynamic" else ""
    return (f"{src_manifest['bundle']['name']} with {convs} quantized to {what}{dec}, "
            f"by engines/tools/quantize_bundle.py; see engines/README.md (int8)")


def place(src: Path, dst: Path, link: bool):
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    if link:
        dst.symlink_to(os.path.relpath(src.resolve(), dst.parent.resolve()))
    else:
        shutil.copyfile(src, dst)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path, help="source bundle directory (e.g. engines/tiny)")
    ap.add_argument("out", type=Path, help="output bundle directory (created)")
    ap.add_argument("--calib-frames", type=int, default=256, help="calibration frames (static mode)")
    ap.add_argument("--mode", choices=("static", "dynamic"), default="static")
    ap.add_argument("--decoder", choices=("fp32", "dynamic"), default="fp32")
    ap.add_argument("--quantize-stem", action="store_true", help="quantize the stem Conv too (kept float by default)")
    ap.add_argument("--name", default=None, help="bundle name (default: SRC's name + '-int8')")
    ap.add_argument("--link", action="store_true", help="link unchanged files instead of copying them")
    ap.add_argument("--segstream", default=None, help="segstream CLI for `synth` (default: target/)")
    args = ap.parse_args(argv)
    if args.calib_frames < 1:
        ap.error("--calib-frames must be >= 1")
    text = (args.src / "bundle.toml").read_text()
    manifest = tomllib.loads(text)
    files = manifest["files"]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quantize-") as tmp:
        work = Path(tmp)
        frames = []
        if args.mode == "static":
            frames = render_frames(find_segstream(args.segstream), args.calib_frames, work)
        quantize_encoder(args.src / files["image_encoder"], args.out / files["image_encoder"],
                         frames, manifest, args.mode, work, keep_stem=not args.quantize_stem)
        if args.decoder == "dynamic":
            quantize_decoder(args.src / files["mask_decoder"], args.out / files["mask_decoder"])
    for key, name in files.items():
        if key == "image_encoder" or (key == "mask_decoder" and args.decoder == "dynamic"):
            continue
        place(args.src / name, args.out / name, args.link)
    name = args.name or f"{manifest['bundle']['name']}-int8"
    (args.out / "bundle.toml").write_text(rewrite_manifest(text, name, describe(manifest, args, len(frames))))
    size = (args.out / files["image_encoder"]).stat().st_size
    print(f"quantize_bundle: {args.out} ({args.mode}, {len(frames)} calibration frames, "
          f"image encoder {size / 1e6:.2f} MB)")


if __name__ == "__main__":
    main()
