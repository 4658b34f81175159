"""The default bundle's prompt-only decoder (engines/tools/prompt_only_decoder.py) gives the
full decoder's prompt rows: every prompt output, on the same random features and prompts,
for one prompt and for max_prompts. No torch needed.

Run: python -m pytest engines/tests/test_prompt_decoder.py -q
"""
import shutil
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES / "tools"))
import prompt_only_decoder as tool  # noqa: E402

BUNDLE = ENGINES / "tiny"
# |full - prompt-only| <= TOLERANCE * max(1, largest |value| of that output): a few f32
# rounding steps of the largest mask logit (the two graphs sum the same products in another
# order when the learnable rows are gone). Measured: 6e-7 at P = 1, 0 at P = 32.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def manifest():
    return tomllib.loads((BUNDLE / "bundle.toml").read_text())


def session(path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def decoders(manifest):
    files = manifest["files"]
    return session(BUNDLE / files["mask_decoder"]), session(BUNDLE / files["prompt_decoder"])


@pytest.mark.parametrize("p", ["one", "max"])
def test_prompt_rows_equal_the_full_decoder(manifest, decoders, p):
    m = manifest["model"]
    p = 1 if p == "one" else m["max_prompts"]
    full, part = decoders
    for seed in range(3):
        feeds = tool.feeds(full, np.random.default_rng(seed), p, m["max_prompt_tokens"], m["hidden_dim"])
        want = dict(zip([o.name for o in full.get_outputs()], full.run(None, feeds)))
        got = dict(zip([o.name for o in part.get_outputs()], part.run(None, feeds)))
        assert sorted(got) == sorted(tool.PROMPT_OUTPUTS)
        for name in tool.PROMPT_OUTPUTS:
            assert got[name].shape == want[name].shape, name
            scale = max(1.0, float(np.abs(want[name]).max()))
            np.testing.assert_allclose(got[name], want[name], rtol=0, atol=TOLERANCE * scale,
                                       err_msg=f"{name}, P = {p}, seed {seed}")


def test_prompt_decoder_is_declared_and_has_no_learnable_queries(manifest):
    declared = {(t["io"], t["name"]): t["shape"] for t in manifest["tensors"] if t["file"] == "prompt_decoder"}
    full = {(t["io"], t["name"]): t["shape"] for t in manifest["tensors"]
            if t["file"] == "mask_decoder" and not t["name"].startswith("det_")}
    assert declared == full
    model = onnx.load(str(BUNDLE / manifest["files"]["prompt_decoder"]))
    onnx.checker.check_model(model, full_check=True)
    n, c = manifest["model"]["num_queries"], manifest["model"]["hidden_dim"]
    assert [o.name for o in model.graph.output] == tool.PROMPT_OUTPUTS
    assert not any(list(i.dims[-2:]) == [n, c] for i in model.graph.initializer)
    assert not any(np.prod(i.dims) == 0 for i in model.graph.initializer), "zero-size tensors left"


def test_the_tool_rebuilds_the_committed_file(tmp_path):
    """Running the tool on a copy of the bundle writes the same graph and manifest."""
    for f in ("bundle.toml", "mask_decoder.onnx"):
        shutil.copy(BUNDLE / f, tmp_path / f)
    text = (tmp_path / "bundle.toml").read_text()
    # Without the declaration: the tool adds it back, as it does after an export.
    kept = [b for b in text.split("\n\n") if 'file = "prompt_decoder"' not in b]
    (tmp_path / "bundle.toml").write_text("\n\n".join(kept).replace('prompt_decoder = "prompt_decoder.onnx"\n', ""))
    report = tool.run(tmp_path)
    assert report["declared"] and report["max_diff_over_scale"] <= TOLERANCE
    ops = lambda path: [n.op_type for n in onnx.load(str(path)).graph.node]
    assert ops(tmp_path / "prompt_decoder.onnx") == ops(BUNDLE / "prompt_decoder.onnx")
    assert (tmp_path / "bundle.toml").read_text() == (BUNDLE / "bundle.toml").read_text()
    assert not tool.run(tmp_path)["declared"], "a second run leaves the manifest alone"


def test_a_graph_without_learnable_queries_is_refused(tmp_path):
    """Surgery that cannot find what it changes stops with the cause, writing nothing."""
    model = onnx.load(str(BUNDLE / "prompt_decoder.onnx"))
    with pytest.raises(tool.SurgeryError, match="expected 2 learnable-query tensors"):
        tool.drop_learnable_queries(model, 24, 64)
