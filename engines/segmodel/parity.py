"""ONNX Runtime vs PyTorch on random inputs: the export-parity check (max abs <= 1e-4)."""
from pathlib import Path

import numpy as np
import torch

from .export import DEC_OUT, enc_out
from .verify import random_prompts, run_bundle, sessions

CASES = [(1, 1, ()), (1, 192, (0,)), (3, 40, (1,)), (8, 96, ()), (32, 192, (5, 31))]


def torch_outputs(model, image, tokens, valid):
    with torch.no_grad():
        feats = model.encoder(torch.from_numpy(image))
        outs = model.decoder(feats, torch.from_numpy(tokens)[None], torch.from_numpy(valid)[None])
    n = model.cfg.num_queries
    res = dict(zip(enc_out(model.cfg), (f.numpy() for f in feats)))
    final = [t[0].numpy() for t in outs[-1]]
    res.update(zip(DEC_OUT, [t[:n] for t in final] + [t[n:] for t in final]))
    return res


def max_abs_diff(model, bundle: Path, seed: int = 0) -> float:
    """Largest |ORT - torch| over every output of both graphs and all CASES."""
    model = model.eval()
    enc, dec = sessions(bundle)
    rng = np.random.default_rng(seed)
    worst = 0.0
    for p, t, empty in CASES:
        image = rng.standard_normal((1, 3, model.cfg.height, model.cfg.width)).astype(np.float32)
        tokens, valid = random_prompts(rng, p, t, model.cfg.hidden_dim, empty)
        a = run_bundle(enc, dec, image, tokens, valid)
        b = torch_outputs(model, image, tokens, valid)
        for k in b:
            assert a[k].shape == b[k].shape, (k, a[k].shape, b[k].shape)
            assert np.isfinite(a[k]).all(), k
            worst = max(worst, float(np.abs(a[k] - b[k]).max()))
    return worst
