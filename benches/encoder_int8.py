#!/usr/bin/env python3
"""Image-encoder time per call of several bundles, interleaved, under ONNX Runtime (CPU).

    python benches/encoder_int8.py engines/tiny engines/tiny-int8 [--rounds 9] [--calls 20] [--threads 1]

Each round times `--calls` calls of every bundle's encoder in turn on the same world frame
(preprocessed as the runtime does), so a load that comes and goes hits all of them alike;
prints the median and the spread of the rounds' ms per call, and each bundle's ratio to the
first. One intra-op thread by default, as `segment` and `segstream bench` use.
"""
import argparse
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engines" / "tools"))
import quantize_bundle as qb  # noqa: E402


def session(path: Path, threads: int):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("bundles", type=Path, nargs="+")
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--calls", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        png = qb.render_frames(qb.find_segstream(None), 1, Path(tmp), seed=1000000)[0]
        rgb = qb.read_png_rgb(png)
    runs = []
    for b in args.bundles:
        manifest = tomllib.loads((b / "bundle.toml").read_text())
        s = session(b / manifest["files"]["image_encoder"], args.threads)
        feed = {s.get_inputs()[0].name: qb.preprocess(rgb, manifest)}
        for _ in range(5):  # warm-up
            s.run(None, feed)
        runs.append((s, feed))
    ms = [[] for _ in runs]
    for _ in range(args.rounds):
        for i, (s, feed) in enumerate(runs):
            t = time.perf_counter()
            for _ in range(args.calls):
                s.run(None, feed)
            ms[i].append((time.perf_counter() - t) / args.calls * 1e3)
    base = np.median(ms[0])
    for b, m in zip(args.bundles, ms):
        print(f"{str(b):40s} median {np.median(m):7.2f} ms/call (rounds {min(m):.2f}-{max(m):.2f}), "
              f"x{base / np.median(m):.2f} vs {args.bundles[0]}")


if __name__ == "__main__":
    main()
