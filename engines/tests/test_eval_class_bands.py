"""eval.py's class accuracy of matched objects and its breakdown by object area and
visible fraction, through a real pycocotools COCOeval on hand-made masks.

The metric code is in segmodel/cocometrics.py (no torch), so this runs in CI.
"""
import sys
from pathlib import Path

import numpy as np
import pytest

mask_utils = pytest.importorskip("pycocotools.mask")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from segmodel.cocometrics import coco_scores  # noqa: E402

CATS = [{"id": 1, "name": "disc"}, {"id": 2, "name": "square"}]


def rect(y0, y1, x0, x1):
    m = np.zeros((64, 64), np.uint8)
    m[y0:y1, x0:x1] = 1
    return mask_utils.encode(np.asfortranarray(m))


def gt(i, seg, cat, area, visible):
    return {"id": i, "image_id": 1, "iscrowd": 0, "category_id": cat, "area": area,
            "visible": visible, "segmentation": seg}


def det(seg, cat, score):
    return {"image_id": 1, "category_id": cat, "score": score, "segmentation": seg}


def test_accuracy_splits_by_area_and_visibility():
    small, big, missed = rect(0, 10, 0, 10), rect(20, 60, 20, 60), rect(0, 10, 50, 60)
    gts = [gt(1, small, 1, 100.0, 0.4),      # matched, wrong class, small, mostly hidden
           gt(2, big, 2, 1600.0, 1.0),       # matched, right class, mid-size, whole
           gt(3, missed, 1, 100.0, 1.0)]     # no detection overlaps: not counted
    dets = [det(small, 2, 0.9), det(big, 2, 0.8)]
    res = coco_scores([{"id": 1, "width": 64, "height": 64}], gts, dets, CATS)
    assert res["class_acc_matched"] == 0.5
    by_area = {tuple(r["band"]): r for r in res["class_acc_by_area"]}
    assert by_area[(0, 300)]["objects"] == 1 and by_area[(0, 300)]["acc"] == 0.0
    assert by_area[(800, 2000)]["objects"] == 1 and by_area[(800, 2000)]["acc"] == 1.0
    assert by_area[(2000, None)]["objects"] == 0 and by_area[(2000, None)]["acc"] is None
    by_vis = {tuple(r["band"]): r for r in res["class_acc_by_visible"]}
    assert by_vis[(0.0, 0.5)]["acc"] == 0.0 and by_vis[(0.99, None)]["acc"] == 1.0
    assert sum(r["objects"] for r in res["class_acc_by_visible"]) == 2
