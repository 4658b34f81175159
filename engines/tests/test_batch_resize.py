"""train.py --final-size: a frame and its masks resized to the final phase's input size.

Opt-in like the export parity test: needs torch (not installed in CI).
"""
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch", reason="torch not installed: training tests are opt-in")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segmodel.batch import at_size  # noqa: E402


def test_frame_and_masks_scale_together_and_same_size_is_untouched():
    img = torch.zeros(3, 256, 256, dtype=torch.uint8)
    img[:, 64:128, 32:96] = 200
    masks = torch.zeros(2, 256, 256, dtype=torch.bool)
    masks[0, 64:128, 32:96] = True
    out_img, out_m = at_size(img, masks, 320)
    assert out_img.shape == (3, 320, 320) and out_img.dtype == torch.uint8
    assert out_m.shape == (2, 320, 320) and out_m.dtype == torch.bool
    # A 64 x 64 square becomes 80 x 80, and the bright pixels land where the mask is.
    assert out_m[0].sum().item() == 80 * 80
    assert (out_img[0][out_m[0]] >= 150).all()
    assert not out_m[1].any()
    same_img, same_m = at_size(img, masks, 256)
    assert same_img is img and same_m is masks


def test_a_frame_without_objects_keeps_an_empty_mask_stack():
    _, m = at_size(torch.zeros(3, 256, 256, dtype=torch.uint8), torch.zeros(0, 256, 256, dtype=torch.bool), 320)
    assert m.shape == (0, 320, 320)
