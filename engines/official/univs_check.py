"""ONNX Runtime against the official PyTorch forward (export check and parity helpers).

Mask2Former's masked cross-attention thresholds mask logits at 0 (sigmoid < 0.5) in every
layer: a logit within rounding distance of 0 can flip an attention bit, and with random
weights one flip can move a learnable query's outputs by 1e-4..1e-1. On such an input the
official float32 forward is itself that far from the exact result, so a float32 runtime
cannot be held to it. The reference is therefore the official decoder evaluated in
float64 (`Float64Decoder`, on the same float32 features): a runtime passes when it is
within the tolerance of the official float32 forward, or no further from the float64
result than float32 evaluations of the official forward are (the official float32
forward, and the same under three 1e-6 relative perturbations of its input features:
`spread`, `decoder_gate`). Every input is compared; none is skipped. The count of
attention bits that differ between float32 and float64 is reported: float32 rounding
flips bits deep in the decoder that a 1e-6 perturbation probe alone can miss.
"""
import copy
import types

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


def perturbed(official, dec, feats, tokens, valid, repeats=3, seed=0):
    """The decoder under `repeats` 1e-6 relative perturbations of the features (about the
    size of the float32 differences between two runtimes' encoders): (attention bits that
    change, the perturbed outputs)."""
    g = torch.Generator().manual_seed(seed)
    _, base = attention_bits(official, dec, feats, tokens, valid)
    total, outs = 0, []
    for _ in range(repeats):
        moved = [t * (1 + 1e-6 * torch.randn(t.shape, generator=g)) for t in feats]
        out, bits = attention_bits(official, dec, moved, tokens, valid)
        total += sum(int((a != b).sum()) for a, b in zip(base, bits))
        outs.append(out)
    return total, outs


def flips(official, dec, feats, tokens, valid, repeats=3, seed=0):
    """Attention bits that change when the features move by 1e-6 (relative)."""
    return perturbed(official, dec, feats, tokens, valid, repeats, seed)[0]


def spread(evaluations, exact):
    """How far float32 evaluations of one output fall from its float64 value (max abs)."""
    x = exact.double()
    return max((float((e.double() - x).abs().max()) if e.numel() else 0.0) for e in evaluations)


class Float64Decoder:
    """The official decoder (a `univs_export.Decoder`) copied to float64. Only the decoder:
    the official pixel decoder casts its inputs to float32 inside `forward_features`."""

    def __init__(self, dec):
        self.dec = copy.deepcopy(dec).double()

    def __call__(self, feats, tokens, valid):
        """(outputs, attention bits) for float32 inputs, evaluated in float64."""
        official = types.SimpleNamespace(predictor=self.dec.predictor)
        with torch.no_grad():
            return attention_bits(official, self.dec, [f.double() for f in feats], tokens.double(), valid.double())


def decoder_gate(runtime, official32, official64, own, tol=1e-3):
    """(passed, |runtime - official32|, |runtime - official64|), max abs over one output.
    Passes within `tol` of the official float32 forward, or when no further from the
    float64 result than float32 evaluations of the official forward are (`own`, from
    `spread`; or `tol`): float32 rounding of the official code itself is not held against
    the runtime."""
    r, o32, o64 = (np.asarray(x, dtype=np.float64) for x in (runtime, official32, official64))
    if r.size == 0:
        return True, 0.0, 0.0
    d32, d64 = (float(np.abs(a - b).max()) for a, b in ((r, o32), (r, o64)))
    return d32 <= tol or d64 <= max(own, tol), d32, d64


def smooth_image(h, w, g):
    """A low-frequency random picture (natural images are smooth; white noise is not)."""
    coarse = torch.randn(1, 3, h // 32, w // 32, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def ort_vs_torch(official, enc, dec, bundle, size, images=4, seed=0, verbose=True, tol=1e-3):
    """ONNX Runtime against the official forward on `images` smooth random pictures: the
    encoder outputs against the float32 forward (no thresholds there), every decoder
    output through `decoder_gate`. Returns (failures, worst |ORT - float32|, inputs where
    the official float32 forward flips attention bits relative to float64)."""
    import onnxruntime as ort

    h, w = size
    g = torch.Generator().manual_seed(seed)
    e = ort.InferenceSession(str(bundle / "image_encoder.onnx"), providers=["CPUExecutionProvider"])
    d = ort.InferenceSession(str(bundle / "mask_decoder.onnx"), providers=["CPUExecutionProvider"])
    names = [o.name for o in d.get_outputs()]
    dec64 = Float64Decoder(dec)
    failures, worst, rounding = [], 0.0, 0
    with torch.no_grad():
        for k, (p, t) in enumerate(((1, 1), (3, 40), (2, 128), (8, 16))[:images]):
            image = smooth_image(h, w, g)
            feats = enc(image)
            for name, a, b in zip(FEATS, e.run(None, {"image": image.numpy()}), feats):
                diff = float(np.abs(a - b.numpy()).max())
                worst = max(worst, diff)
                if diff > tol:
                    failures.append(f"input {k} encoder {name}: {diff:.2e}")
            s8 = feats[1][0]
            cells = torch.randint(0, s8.shape[1] * s8.shape[2], (p, t), generator=g)
            tokens = s8.flatten(1).t()[cells]
            valid = (torch.rand(p, t, generator=g) > 0.2).float()
            out, bits = attention_bits(official, dec, feats, tokens, valid)
            out64, bits64 = dec64(feats, tokens, valid)
            _, moved = perturbed(official, dec, feats, tokens, valid)
            flipped = sum(int((a != b).sum()) for a, b in zip(bits, bits64))
            rounding += flipped > 0
            if verbose:
                print(f"input {k} P={p} T={t}: official float32 vs float64 attention bits differing: {flipped}")
            feed = {k2: v.numpy() for k2, v in zip(FEATS, feats)}
            feed.update(prompt_tokens=tokens.numpy(), prompt_valid=valid.numpy())
            for i, (name, a, b, c) in enumerate(zip(names, d.run(None, feed), out, out64)):
                own = spread([b] + [m[i] for m in moved], c)
                ok, d32, d64 = decoder_gate(a, b.numpy(), c.numpy(), own, tol)
                worst = max(worst, d32)
                if verbose:
                    print(f"  {name}: |ORT-pt32| {d32:.2e}  |ORT-pt64| {d64:.2e}  float32 spread {own:.2e}" + ("" if ok else "  FAIL"))
                if not ok:
                    failures.append(f"input {k} {name}: |ORT-pt32| {d32:.2e}, |ORT-pt64| {d64:.2e}, float32 spread {own:.2e}")
    return failures, worst, rounding
