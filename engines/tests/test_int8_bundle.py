"""The int8 bundle: engines/tiny-int8 as committed, and engines/tools/quantize_bundle.py run
afresh with a few calibration frames. ONNX Runtime only, no torch.

Agreement with fp32 is measured on the masks of the learnable queries that fp32 is sure of
(det_quality > 0.5), binarised as the runtime does (logit > 0, i.e. sigmoid > 0.5), on
frames of validation worlds (seeds 90000..) that calibration never saw. The committed bundle
gives a mean IoU of 0.995 there (41 masks); an encoder calibrated on unnormalised frames 0.56.

Run: python -m pytest engines/tests/test_int8_bundle.py -q
"""
import sys
import tomllib
from pathlib import Path

import numpy as np
import onnx
import pytest

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
sys.path.insert(0, str(ENGINES / "tools"))
import quantize_bundle as qb  # noqa: E402
from segmodel.verify import random_prompts, run_bundle, sessions  # noqa: E402

FP32, INT8 = ENGINES / "tiny", ENGINES / "tiny-int8"
MIN_MEAN_IOU = 0.95  # on confident learnable-query masks (module docstring)
SURE = 0.5  # fp32 det_quality above which a query's mask is compared


def _toml(bundle: Path) -> dict:
    return tomllib.loads((bundle / "bundle.toml").read_text())


@pytest.fixture(scope="module")
def cli():
    try:
        return qb.find_segstream(None)
    except SystemExit as e:
        pytest.skip(f"needs the segstream CLI to render world frames ({e}); run cargo build first")


@pytest.fixture(scope="module")
def frames(cli, tmp_path_factory):
    """8 preprocessed frames of 4 validation worlds (seeds 90000..)."""
    paths = qb.render_frames(cli, 8, tmp_path_factory.mktemp("val"), seed=90000)
    manifest = _toml(FP32)
    return [qb.preprocess(qb.read_png_rgb(p), manifest) for p in paths]


@pytest.fixture(scope="module")
def fp32_outputs(frames):
    s = sessions(FP32)
    return [_detect(s, x) for x in frames]


def _detect(sess, image):
    """Learnable queries only: one empty prompt, as the runtime sends with no targets."""
    return run_bundle(*sess, image, np.zeros((1, 1, 64), np.float32), np.zeros((1, 1), np.float32))


def mask_agreement(fp32_outputs, bundle: Path, frames) -> tuple[float, int]:
    """Mean IoU of fp32's confident det masks with `bundle`'s, and how many were compared."""
    sess, ious = sessions(bundle), []
    for ref, image in zip(fp32_outputs, frames):
        out = _detect(sess, image)
        a, b = ref["det_masks"] > 0, out["det_masks"] > 0
        sure = ref["det_quality"] > SURE
        inter, union = (a & b).sum((1, 2))[sure], (a | b).sum((1, 2))[sure]
        ious += list(np.where(union > 0, inter / np.maximum(union, 1), 1.0))
    return float(np.mean(ious)), len(ious)


def test_committed_manifest_differs_from_fp32_only_in_name_and_description():
    a, b = _toml(FP32), _toml(INT8)
    assert b["bundle"]["name"] == "tiny-int8"
    assert "quantize_bundle.py" in b["bundle"]["description"]
    for key in ("input", "model", "files", "tensors", "dynamic"):
        assert a[key] == b[key], key
    for key, name in b["files"].items():
        assert (INT8 / name).is_file() and not (INT8 / name).is_symlink(), name
        if key != "image_encoder":  # copies of the source bundle's files (the decoder pairs with it)
            assert (INT8 / name).read_bytes() == (FP32 / name).read_bytes(), name


def test_committed_encoder_is_int8_except_the_stem():
    graph = onnx.load(str(INT8 / "image_encoder.onnx")).graph
    ops = [n.op_type for n in graph.node]
    int8_weights = [i for i in graph.initializer if i.data_type == onnx.TensorProto.INT8]
    assert ops.count("QuantizeLinear") > 20 and len(int8_weights) >= 23, "Convs not quantized"
    float_convs = [n.name for n in graph.node if n.op_type == "Conv" and n.input[1] in
                   {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT}]
    assert float_convs == qb.stem_convs(INT8 / "image_encoder.onnx"), float_convs
    assert (INT8 / "image_encoder.onnx").stat().st_size < 0.4 * (FP32 / "image_encoder.onnx").stat().st_size


@pytest.mark.parametrize("p,t", [(1, 1), (3, 64), (32, 192)])
def test_committed_outputs_have_the_contract_shapes(p, t):
    manifest = _toml(INT8)
    rng = np.random.default_rng(p)
    i = manifest["input"]
    image = rng.standard_normal((1, 3, i["height"], i["width"])).astype(np.float32)
    tokens, valid = random_prompts(rng, p, t, manifest["model"]["hidden_dim"], empty_rows=[p - 1])
    out = run_bundle(*sessions(INT8), image, tokens, valid)
    sym = {"P": p, "T": t}
    for spec in manifest["tensors"]:
        if spec["file"] == "text_encoder" or spec["io"] == "input":
            continue
        arr = out[spec["name"]]
        assert list(arr.shape) == [sym.get(d, d) for d in spec["shape"]], spec["name"]
        assert arr.dtype == np.float32 and np.isfinite(arr).all(), spec["name"]


def test_committed_masks_agree_with_fp32(frames, fp32_outputs):
    iou, n = mask_agreement(fp32_outputs, INT8, frames)
    assert n >= 20, f"only {n} confident queries to compare"
    assert iou >= MIN_MEAN_IOU, f"mean mask IoU with fp32 {iou:.3f} < {MIN_MEAN_IOU} over {n} masks"


def test_fresh_quantization_with_few_frames_agrees(cli, frames, fp32_outputs, tmp_path):
    out = tmp_path / "int8"
    qb.main([str(FP32), str(out), "--calib-frames", "8", "--segstream", str(cli)])
    assert _toml(out)["bundle"]["name"] == "tiny-int8"
    for name in ("mask_decoder.onnx", "vocabulary.json", "tokenizer.json"):
        assert not (out / name).is_symlink() and (out / name).read_bytes() == (FP32 / name).read_bytes(), name
    iou, n = mask_agreement(fp32_outputs, out, frames)
    assert iou >= MIN_MEAN_IOU, f"mean mask IoU with fp32 {iou:.3f} over {n} masks"


def test_agreement_catches_calibration_on_unnormalised_frames(cli, frames, fp32_outputs, tmp_path):
    """The check is not vacuous: activation ranges from pixel values (0..255) instead of
    normalised ones break the encoder, and the IoU says so."""
    manifest = _toml(FP32)
    raw = dict(manifest, input=dict(manifest["input"], mean=[0.0] * 3, std=[1 / 255] * 3))
    calib = qb.render_frames(cli, 8, tmp_path / "calib")
    for name in ("mask_decoder.onnx", "vocabulary.json", "bundle.toml"):
        (tmp_path / name).symlink_to(FP32 / name)
    qb.quantize_encoder(FP32 / "image_encoder.onnx", tmp_path / "image_encoder.onnx", calib, raw,
                        "static", tmp_path)
    iou, _ = mask_agreement(fp32_outputs, tmp_path, frames)
    assert iou < 0.8, f"unnormalised calibration still agrees ({iou:.3f}): the check cannot fail"


def test_preprocess_follows_the_runtime():
    """Half-pixel bilinear: same size is the identity, 2x down averages 2 x 2 blocks; then
    (pixel/255 - mean) / std per channel."""
    manifest = {"input": {"width": 4, "height": 2, "mean": [0.5, 0.25, 0.0], "std": [0.5, 0.25, 1.0]}}
    rgb = np.arange(4 * 8 * 3, dtype=np.uint8).reshape(4, 8, 3)
    got = qb.preprocess(rgb, manifest)
    block = rgb.astype(np.float32).reshape(2, 2, 4, 2, 3).mean((1, 3))
    want = (block / 255 - np.float32([0.5, 0.25, 0.0])) / np.float32([0.5, 0.25, 1.0])
    np.testing.assert_allclose(got[0], want.transpose(2, 0, 1), atol=1e-5)
    same = qb.preprocess(rgb, {"input": dict(manifest["input"], width=8, height=4)})
    np.testing.assert_allclose(same[0, 2], (rgb[..., 2] / 255.0), atol=1e-6)


def test_manifest_rewrite_keeps_everything_else():
    text = (FP32 / "bundle.toml").read_text()
    out = qb.rewrite_manifest(text, "x-int8", 'say "hi" \\ there')
    parsed, orig = tomllib.loads(out), tomllib.loads(text)
    assert parsed["bundle"]["name"] == "x-int8" and parsed["bundle"]["description"] == 'say "hi" \\ there'
    assert parsed["tensors"] == orig["tensors"] and parsed["model"] == orig["model"]
