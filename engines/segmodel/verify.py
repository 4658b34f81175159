"""Checks of an exported bundle with ONNX Runtime (no torch needed) and against PyTorch."""
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .names import DEC_OUT


def sessions(bundle: Path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    mk = lambda f: ort.InferenceSession(str(bundle / f), opts, providers=["CPUExecutionProvider"])
    return mk("image_encoder.onnx"), mk("mask_decoder.onnx")


def run_bundle(enc, dec, image, tokens, valid):
    """image [1,3,H,W], tokens [P,T,C], valid [P,T] -> dict of all encoder+decoder outputs."""
    names = output_names(enc)
    feats = enc.run(names, {"image": image.astype(np.float32)})
    feeds = dict(zip(names, feats))
    feeds.update(prompt_tokens=tokens.astype(np.float32), prompt_valid=valid.astype(np.float32))
    outs = dec.run(DEC_OUT, feeds)
    res = dict(zip(names, feats))
    res.update(zip(DEC_OUT, outs))
    return res


def output_names(session):
    """Encoder output names in graph order (the four of contract v1 [+ class_feat])."""
    return [o.name for o in session.get_outputs()]


def random_prompts(rng, p, t, c, empty_rows=()):
    tokens = rng.standard_normal((p, t, c)).astype(np.float32)
    valid = (rng.random((p, t)) < 0.7).astype(np.float32)
    valid[:, 0] = 1.0
    for r in empty_rows:
        valid[r] = 0.0
    return tokens, valid
