"""train.py --focus-partial: clips built around frames that show an object in part.

Opt-in like the export parity test: needs torch (not installed in CI).
"""
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch not installed: training tests are opt-in")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segmodel.batch import draw_clip, partial_frames  # noqa: E402
from segmodel.data import Video  # noqa: E402


def video(vid, areas):
    """One object per row of `areas`: a square of that many pixels per frame (0 = absent)."""
    a = np.array(areas)
    masks = torch.zeros(a.shape[0], a.shape[1], 32, 32, dtype=torch.bool)
    for i, row in enumerate(a):
        for f, n in enumerate(row):
            masks[i, f].view(-1)[:n] = True
    return Video(vid=vid, width=32, height=32, frames=torch.zeros(a.shape[1], 3, 32, 32, dtype=torch.uint8),
                 masks=masks, classes=torch.zeros(a.shape[0], dtype=torch.long))


def test_partial_frames_are_those_with_an_object_under_half_its_largest_area():
    vids = [video(0, [[100, 100, 40, 0, 100, 60], [10, 10, 10, 10, 10, 10]]),  # frame 2 only
            video(1, [[50, 50, 50, 50, 50, 50]]),                             # never partial
            video(2, [[0, 20, 80, 80, 80, 80]])]                              # frame 1
    got = partial_frames(vids)
    assert got.tolist() == [[0, 2], [2, 1]]


def test_focus_one_puts_a_partial_frame_in_every_clip_and_zero_keeps_the_uniform_draws():
    vids = [video(0, [[100] * 8]), video(1, [[100, 100, 100, 100, 100, 100, 100, 30]])]
    focus = partial_frames(vids)
    assert focus.tolist() == [[1, 7]]
    rng = np.random.default_rng(0)
    for _ in range(50):
        v, a, b = draw_clip(vids, rng, focus, 1.0)
        assert v is vids[1] and 7 in (a, b) and 0 <= a <= b <= 7 and b - a <= 3
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    for _ in range(50):
        v1, a1, b1 = draw_clip(vids, r1, focus, 0.0)
        v2, a2, b2 = draw_clip(vids, r2)
        assert (v1.vid, a1, b1) == (v2.vid, a2, b2)
    assert r1.random() == r2.random(), "p = 0 draws no extra random numbers"
