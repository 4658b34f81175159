"""The committed default bundle (engines/tiny) under ONNX Runtime: no torch needed.

Run: python -m pytest engines/tests -q
"""
import json
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
from segmodel.verify import random_prompts, run_bundle, sessions  # noqa: E402

BUNDLE = ENGINES / "tiny"


@pytest.fixture(scope="module")
def manifest():
    return tomllib.loads((BUNDLE / "bundle.toml").read_text())


@pytest.fixture(scope="module")
def sess():
    return sessions(BUNDLE)


def _image(manifest, rng):
    """A random normalised input at the bundle's own input size."""
    i = manifest["input"]
    return rng.standard_normal((1, 3, i["height"], i["width"])).astype(np.float32)


def _dims(shape, sym):
    return [sym.get(d, d) if isinstance(d, str) else d for d in shape]


def test_manifest_lists_every_onnx_tensor(manifest, sess):
    declared = {(t["file"], t["io"], t["name"]): t["shape"] for t in manifest["tensors"]}
    files = [("image_encoder", sess[0]), ("mask_decoder", sess[1])]
    if "prompt_decoder" in manifest["files"]:
        path = BUNDLE / manifest["files"]["prompt_decoder"]
        files.append(("prompt_decoder", ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])))
    for fname, s in files:
        for io, metas in (("input", s.get_inputs()), ("output", s.get_outputs())):
            for m in metas:
                shape = declared.pop((fname, io, m.name))
                assert len(shape) == len(m.shape), m.name
                for d_manifest, d_onnx in zip(shape, m.shape):
                    if isinstance(d_manifest, int):
                        assert d_manifest == d_onnx, (m.name, shape, m.shape)
                    else:
                        assert isinstance(d_onnx, str), (m.name, "should be dynamic")
    assert all(k[0] == "text_encoder" for k in declared), declared


@pytest.mark.parametrize("p,t", [(1, 1), (1, 192), (2, 7), (8, 32), (17, 100), (32, 192)])
def test_decoder_dynamic_prompts_and_empty_rows(manifest, sess, p, t):
    m = manifest["model"]
    rng = np.random.default_rng(p * 1000 + t)
    image = _image(manifest, rng)
    tokens, valid = random_prompts(rng, p, t, m["hidden_dim"], empty_rows=[p - 1])
    out = run_bundle(*sess, image, tokens, valid)
    sym = {"P": p, "T": t}
    for spec in manifest["tensors"]:
        if spec["file"] != "mask_decoder" or spec["io"] != "output":
            continue
        arr = out[spec["name"]]
        assert list(arr.shape) == _dims(spec["shape"], sym), spec["name"]
        assert np.isfinite(arr).all(), f"{spec['name']} not finite (P={p}, T={t})"
    for q in ("det_quality", "prompt_quality"):
        assert ((out[q] >= 0) & (out[q] <= 1)).all()


def test_padding_tokens_do_not_change_a_prompt(manifest, sess):
    """Padding (valid = 0) must be invisible: same prompt with extra padded tokens."""
    rng = np.random.default_rng(7)
    image = _image(manifest, rng)
    tokens = rng.standard_normal((1, 10, 64)).astype(np.float32)
    valid = np.ones((1, 10), np.float32)
    a = run_bundle(*sess, image, tokens, valid)
    pad_tok = np.concatenate([tokens, rng.standard_normal((1, 30, 64)).astype(np.float32)], 1)
    pad_val = np.concatenate([valid, np.zeros((1, 30), np.float32)], 1)
    b = run_bundle(*sess, image, pad_tok, pad_val)
    np.testing.assert_allclose(a["prompt_masks"], b["prompt_masks"], atol=1e-4)
    np.testing.assert_allclose(a["det_masks"], b["det_masks"], atol=1e-4)


def test_detection_ignores_prompts(manifest, sess):
    """Separated self-attention: learnable queries never see prompt queries."""
    rng = np.random.default_rng(8)
    image = _image(manifest, rng)
    t1, v1 = random_prompts(rng, 1, 32, 64)
    t2, v2 = random_prompts(rng, 5, 64, 64)
    a = run_bundle(*sess, image, t1, v1)
    b = run_bundle(*sess, image, t2, v2)
    np.testing.assert_allclose(a["det_masks"], b["det_masks"], atol=1e-4)
    np.testing.assert_allclose(a["det_class_emb"], b["det_class_emb"], atol=1e-4)


def test_vocabulary_matches_manifest(manifest):
    voc = json.loads((BUNDLE / "vocabulary.json").read_text())
    assert voc["names"][:3] == ["disc", "square", "triangle"] and len(voc["names"]) == 8
    emb = np.asarray(voc["embeddings"], np.float32)
    assert emb.shape == (8, manifest["model"]["class_dim"])
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-4)
