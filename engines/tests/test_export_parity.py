"""Export parity: ONNX Runtime equals PyTorch (max abs <= 1e-4) on random inputs.

Opt-in: needs torch (not installed in CI). Run with
    pip install torch && python -m pytest engines/tests/test_export_parity.py -q
With SEGSTREAM_CHECKPOINT=path/to/ckpt.pt it checks that trained checkpoint; otherwise the
architecture with seeded random weights. Also checks the sampler formula on known values.
"""
import math
import os
from dataclasses import replace
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: export parity is opt-in "
                            "(pip install torch), see engines/README.md")

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
from segmodel.config import DEFAULT, ROUND_ROBIN, config_for  # noqa: E402
from segmodel.verify import output_names, sessions  # noqa: E402
from segmodel.export import export_onnx  # noqa: E402
from segmodel.model import SegModel  # noqa: E402
from segmodel.parity import max_abs_diff  # noqa: E402
from segmodel import sampler  # noqa: E402


def _model(class_feat, levels=DEFAULT.layer_levels, mask_pos=False):
    torch.manual_seed(0)
    ckpt = os.environ.get("SEGSTREAM_CHECKPOINT")
    if ckpt:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)["model"]
        model = SegModel(config_for(state))
        model.load_state_dict(state)
    else:
        model = SegModel(replace(DEFAULT, class_feat=class_feat, layer_levels=levels,
                                 mask_pos=mask_pos))
        if mask_pos:  # zero-initialised in training; random here so it shows in the output
            torch.nn.init.normal_(model.encoder.pixel_decoder.pos_proj.weight, std=0.2)
        # Non-trivial BatchNorm statistics so folding them is exercised too.
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return model.eval()


@pytest.mark.parametrize("class_feat,levels,mask_pos", [(False, DEFAULT.layer_levels, False),
                                                        (True, DEFAULT.layer_levels, False),
                                                        (False, ROUND_ROBIN, False),
                                                        (False, DEFAULT.layer_levels, True)],
                         ids=["contract-v1", "class-branch", "round-robin", "mask-pos"])
def test_onnx_runtime_matches_pytorch(tmp_path, class_feat, levels, mask_pos):
    model = _model(class_feat, levels, mask_pos)
    export_onnx(model, tmp_path)
    names = output_names(sessions(tmp_path)[0])
    assert ("class_feat" in names) == model.cfg.class_feat, names
    diff = max_abs_diff(model, tmp_path, seed=3)
    assert diff <= 1e-4, f"max |ORT - torch| = {diff:.3e}"


def test_checkpoint_records_its_decoder_levels():
    """config_for rebuilds what was trained: either level order survives a state dict,
    and a state dict from before levels were recorded loads as round-robin."""
    for levels in ((0, 1, 2, 2), ROUND_ROBIN):
        state = SegModel(replace(DEFAULT, layer_levels=levels)).state_dict()
        assert config_for(state).layer_levels == levels
    assert config_for(SegModel(replace(DEFAULT, mask_pos=True)).state_dict()).mask_pos
    assert not config_for(SegModel(replace(DEFAULT, mask_pos=False)).state_dict()).mask_pos
    old = SegModel(replace(DEFAULT, layer_levels=ROUND_ROBIN)).state_dict()
    del old["decoder.layer_levels"]
    cfg = config_for(old)
    assert cfg.layer_levels == ROUND_ROBIN
    SegModel(cfg).load_state_dict(old)   # strict: the filled-in entry matches the buffer


def test_sampler_positional_encoding_formula():
    c = 64
    pe = sampler.sine_pe(torch.tensor([0.25]), torch.tensor([0.75]), c)[0]
    for k in (0, 5, 15):
        f = math.pi * 16 ** (k / (c // 4))
        assert pe[4 * k].item() == pytest.approx(math.sin(f * 0.25), abs=1e-5)
        assert pe[4 * k + 1].item() == pytest.approx(math.cos(f * 0.25), abs=1e-5)
        assert pe[4 * k + 2].item() == pytest.approx(math.sin(f * 0.75), abs=1e-5)
        assert pe[4 * k + 3].item() == pytest.approx(math.cos(f * 0.75), abs=1e-5)


def test_sampler_cells_and_centroid_fallback():
    mask = torch.zeros(128, 128)
    mask[0:24, 0:24] = 1           # covers the centres (4, 4), (12, 4), ... of cells
    cells = sampler.in_cells(mask, 16, 16)
    assert sorted(cells.tolist()) == [0, 1, 2, 16, 17, 18, 32, 33, 34]
    tiny = torch.zeros(128, 128)
    tiny[50:52, 70:72] = 1         # no cell centre inside: centroid (71, 51) -> cell (6, 8)
    assert sampler.in_cells(tiny, 16, 16).tolist() == [6 * 16 + 8]
    assert sampler.in_cells(torch.zeros(128, 128), 16, 16).numel() == 0


def test_sampler_draws_with_replacement_only_when_short():
    feat = torch.randn(64, 16, 16)
    mask = torch.zeros(128, 128)
    mask[0:24, 0:24] = 1
    tok = sampler.sample_tokens(mask, feat, 32, torch.Generator().manual_seed(0))
    assert tok.shape == (32, 64)
    big = torch.ones(128, 128)
    cells = sampler.draw_cells(sampler.in_cells(big, 16, 16), 32, torch.Generator().manual_seed(0))
    assert len(set(cells.tolist())) == 32
    # token = feature + pe of the cell centre
    i, j = 3, 5
    one = sampler.tokens_from_cells(feat, torch.tensor([i * 16 + j]))[0]
    pe = sampler.sine_pe(torch.tensor([(j + 0.5) / 16]), torch.tensor([(i + 0.5) / 16]), 64)[0]
    np.testing.assert_allclose(one.numpy(), (feat[:, i, j] + pe).numpy(), atol=1e-6)
