"""eval.py's detection post-processing: class-aware greedy mask NMS and the (query, class) pairs.

The code is in segmodel/cocometrics.py (no torch), so this runs in CI.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

mask_utils = pytest.importorskip("pycocotools.mask")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segmodel.cocometrics import mask_nms, top_class_pairs  # noqa: E402


def det(x0, x1, cat, score):
    m = np.zeros((16, 16), np.uint8)
    m[2:12, x0:x1] = 1
    return {"image_id": 1, "category_id": cat, "score": score,
            "segmentation": mask_utils.encode(np.asfortranarray(m))}


def test_a_same_class_duplicate_is_dropped_and_the_better_one_kept():
    kept = mask_nms([det(0, 8, 1, 0.4), det(0, 8, 1, 0.9), det(1, 8, 1, 0.5)], 0.7)
    assert [d["score"] for d in kept] == [0.9]


def test_other_classes_and_small_overlaps_survive():
    # IoU of columns 0..8 and 4..12 is 4/12 = 0.33 <= 0.7.
    dets = [det(0, 8, 1, 0.9), det(0, 8, 2, 0.8), det(4, 12, 1, 0.7)]
    assert [d["score"] for d in mask_nms(dets, 0.7)] == [0.9, 0.8, 0.7]
    assert [d["score"] for d in mask_nms(dets, 0.3)] == [0.9, 0.8]


def test_threshold_one_keeps_everything():
    dets = [det(0, 8, 1, 0.4), det(0, 8, 1, 0.9)]
    assert mask_nms(dets, 1.0) == dets


def test_each_query_offers_its_best_classes_scored_by_quality():
    probs = np.array([[0.1, 0.9, 0.5, 0.05], [0.6, 0.2, 0.3, 0.7]])
    pairs = top_class_pairs(probs, np.array([0.5, 1.0]), 2)
    assert [(q, c) for q, c, _ in pairs] == [(0, 1), (0, 2), (1, 3), (1, 0)]
    assert np.allclose([s for _, _, s in pairs], [0.45, 0.25, 0.7, 0.6])
