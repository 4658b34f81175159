#!/usr/bin/env python3
"""pycocotools' verdict on what the pipeline emitted, frame by frame.

    segstream eval --data DIR --variants prompt-query/i1 --out OUT
    python engines/judge_frames.py --data DIR --results OUT/prompt-query-i1/frame_results.json

`frame_results.json` holds every object of every frame as the Rust runtime (ONNX Runtime
inside) emitted it: the tracker's class and score on that frame, known from past frames
only. Every frame is a COCO image (ids in video order, then frame order, as eval.py);
the figures are eval.py's (`coco_scores`: AP, AP50, class accuracy of matched objects;
semantic mIoU painted lowest score first), so the two are comparable: eval.py scores each
frame alone, this scores the streaming output. No NMS here: the tracker resolves overlaps.
Needs numpy and pycocotools only (no torch): `tests/metrics_judges.rs` runs it in CI.
"""
import argparse
import json
import sys
from pathlib import Path

import numpy as np

ENGINES = Path(__file__).resolve().parent
sys.path.insert(0, str(ENGINES))
from segmodel.cocometrics import (PAINT_MIN_SCORE, coco_scores, pooled_miou,  # noqa: E402
                                  semantic, video_bootstrap_ci)
from pycocotools import mask as mask_utils  # noqa: E402


def rle_bytes(rle):
    """pycocotools wants the compressed counts as bytes; JSON holds them as text."""
    return {"size": rle["size"], "counts": rle["counts"].encode()}


def judge(ann: dict, results: list) -> dict:
    by_video, by_frame = {}, {}
    for a in ann["annotations"]:
        by_video.setdefault(a["video_id"], []).append(a)
    for r in results:
        by_frame.setdefault((r["video_id"], r["frame"]), []).append(r)
    ncls = max(c["id"] for c in ann["categories"]) + 1
    images, gts, dets, per_video = [], [], [], []
    for v in sorted(ann["videos"], key=lambda v: v["id"]):
        h, w = v["height"], v["width"]
        conf = np.zeros((ncls, ncls), np.int64)
        for f in range(v["length"]):
            img_id = len(images) + 1
            images.append({"id": img_id, "width": w, "height": h})
            gt_sem = np.zeros((h, w), np.int64)
            for a in by_video.get(v["id"], []):
                rle = a["segmentations"][f]
                m = mask_utils.decode(rle_bytes(rle)) if rle is not None else None
                if m is None or not m.any():
                    continue
                gt_sem[m > 0] = a["category_id"]
                gts.append({"id": len(gts) + 1, "image_id": img_id, "iscrowd": 0,
                            "category_id": a["category_id"], "area": float(m.sum()),
                            "visible": a["visible_fractions"][f],
                            "segmentation": mask_utils.encode(np.asfortranarray(m))})
            pred = np.zeros((h, w), np.int64)
            frame = by_frame.get((v["id"], f), [])
            for r in sorted(frame, key=lambda r: r["score"]):     # stable: emitted order on ties
                seg = rle_bytes(r["segmentation"])
                if r["score"] > PAINT_MIN_SCORE:
                    pred[mask_utils.decode(seg) > 0] = r["category_id"]
                dets.append({"image_id": img_id, "category_id": r["category_id"],
                             "score": r["score"], "segmentation": seg})
            conf += np.bincount(gt_sem.ravel() * ncls + pred.ravel(),
                                minlength=ncls * ncls).reshape(ncls, ncls)
        per_video.append(([], conf))
    inst = coco_scores(images, gts, dets, ann["categories"])
    total = sum(c for _, c in per_video)
    sem = semantic(total)
    return {"instance": inst, "semantic_mIoU": sem["mIoU"], "semantic_per_class": sem["per_class"],
            "semantic_mIoU_ci95": video_bootstrap_ci(per_video, pooled_miou),
            "gt_objects": len(gts), "outputs": len(dets)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="dataset dir (its annotations.json)")
    ap.add_argument("--annotations", type=Path, help="or the annotations file itself")
    ap.add_argument("--results", type=Path, required=True, help="frame_results.json")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if (args.data is None) == (args.annotations is None):
        ap.error("give --data or --annotations")
    ann = json.loads((args.annotations or args.data / "annotations.json").read_text())
    res = judge(ann, json.loads(args.results.read_text()))
    print(json.dumps(res, indent=1))
    if args.out:
        args.out.write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
