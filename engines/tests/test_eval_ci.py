"""eval.py's 95 % intervals: whole videos are resampled, and the interval brackets the
pooled statistic. The code is in
segmodel/cocometrics.py (no torch), so this runs in CI."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segmodel.cocometrics import mean_prompt_iou, pooled_miou, video_bootstrap_ci  # noqa: E402


def conf_of(right, wrong):
    """9x9 confusion (rows GT, columns prediction) of class 1 pixels."""
    c = np.zeros((9, 9), np.int64)
    c[1, 1], c[1, 2] = right, wrong
    return c


def test_prompt_iou_interval_brackets_the_mean_and_resamples_videos():
    # Nine good videos of five pairs each and one failed video of five pairs.
    videos = [([0.9] * 5, conf_of(1, 0))] * 9 + [([0.1] * 5, conf_of(1, 0))]
    lo, hi = video_bootstrap_ci(videos, mean_prompt_iou)
    assert mean_prompt_iou(videos) == pytest.approx(0.82)
    assert lo < 0.82 < hi
    # A resample holds 0..10 copies of the failed video: the spread is that of whole videos
    # (one video = 0.08 of the mean), far wider than 50 independent pairs would give.
    assert hi - lo >= 0.15
    assert video_bootstrap_ci(videos, mean_prompt_iou) == [lo, hi]   # seeded


def test_miou_interval_pools_confusions():
    videos = [([], conf_of(9, 1)), ([], conf_of(1, 9))]
    # Pooled: 10 right of 20 GT pixels, 10 predicted elsewhere -> IoU 10 / 20 (class 2 has
    # no GT pixels, so it is not in the mean).
    assert pooled_miou(videos) == pytest.approx(0.5)
    lo, hi = video_bootstrap_ci(videos, pooled_miou)
    # A quarter of the resamples are two copies of one video: IoU 18 / 20 or 2 / 20.
    assert (lo, hi) == (pytest.approx(0.1), pytest.approx(0.9))
    assert video_bootstrap_ci([], pooled_miou) is None
