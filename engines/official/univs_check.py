"""ONNX Runtime against the official PyTorch forward (export check and parity helpers).

Mask2Former's masked cross-attention thresholds mask logits at 0 (sigmoid < 0.5) in every
layer: a logit within rounding distance of 0 can flip an attention bit, and with random
weights one flip can move a learnable query's outputs by 1e-2..1e-1. Such an input is
*ill-conditioned*: the official PyTorch forward disagrees with itself under a 1e-6 relative
perturbation of its features, so no other runtime can agree with it either. `flips` finds
those inputs; comparisons of the learnable queries are made on well-conditioned ones, and
the count of the others is reported, never hidden.
"""
import numpy as np
import torch

FEATS = ["mask_feat", "feat_s8", "feat_s16", "feat_s32"]


def attention_bits(official, dec, feats, tokens, valid):
    """The boolean attention masks of every decoder layer for one decoder call."""
    p = official.predictor
    seen = []
    original = p.forward_prediction_heads

    def hook(*a, **k):
        r = original(*a, **k)
        seen.append(r[2].clone())
        return r

    p.forward_prediction_heads = hook
    try:
        out = dec(*feats, tokens, valid)
    finally:
        p.forward_prediction_heads = original
    return out, seen


def flips(official, dec, feats, tokens, valid, repeats=3, seed=0):
    """Attention bits that change when the features move by 1e-6 (relative)."""
    g = torch.Generator().manual_seed(seed)
    _, base = attention_bits(official, dec, feats, tokens, valid)
    total = 0
    for _ in range(repeats):
        moved = [t * (1 + 1e-6 * torch.randn(t.shape, generator=g)) for t in feats]
        _, bits = attention_bits(official, dec, moved, tokens, valid)
        total += sum(int((a != b).sum()) for a, b in zip(base, bits))
    return total


def smooth_image(h, w, g):
    """A low-frequency random picture (natural images are smooth; white noise is not)."""
    coarse = torch.randn(1, 3, h // 32, w // 32, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def ort_vs_torch(official, enc, dec, bundle, size, images=4, seed=0, verbose=True):
    """Max abs difference over encoder outputs and every decoder output on well-conditioned
    inputs; prompt outputs are compared on every input. Returns (worst, ill_conditioned)."""
    import onnxruntime as ort

    h, w = size
    g = torch.Generator().manual_seed(seed)
    e = ort.InferenceSession(str(bundle / "image_encoder.onnx"), providers=["CPUExecutionProvider"])
    d = ort.InferenceSession(str(bundle / "mask_decoder.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in d.get_outputs()]
    worst, ill = 0.0, 0
    with torch.no_grad():
        for k, (p, t) in enumerate(((1, 1), (3, 40), (2, 128), (8, 16))[:images]):
            image = smooth_image(h, w, g)
            feats = enc(image)
            ofeats = e.run(None, {"image": image.numpy()})
            worst = max(worst, max(float(np.abs(a - b.numpy()).max()) for a, b in zip(ofeats, feats)))
            s8 = feats[1][0]
            cells = torch.randint(0, s8.shape[1] * s8.shape[2], (p, t), generator=g)
            tokens = s8.flatten(1).t()[cells]
            valid = (torch.rand(p, t, generator=g) > 0.2).float()
            out = dec(*feats, tokens, valid)
            stable = flips(official, dec, feats, tokens, valid) == 0
            ill += not stable
            feed = {k2: v.numpy() for k2, v in zip(FEATS, feats)}
            feed.update(prompt_tokens=tokens.numpy(), prompt_valid=valid.numpy())
            for name, a, b in zip(names, d.run(None, feed), out):
                diff = float(np.abs(a - b.numpy()).max()) if b.numel() else 0.0
                counted = stable or name.startswith("prompt_")
                if verbose:
                    print(f"input {k} P={p} T={t} {name}: max abs {diff:.2e}" + ("" if counted else " (ill-conditioned, not counted)"))
                if counted:
                    worst = max(worst, diff)
    return worst, ill
