#!/usr/bin/env python3
"""Where the streaming output's AP50 goes: oracle fixes of one error kind at a time.

    python engines/tools/ap50_errors.py --annotations A.json \
        --results OUT/prompt-query-i1/frame_results.json

Each row rescoring the same outputs with one kind of error removed by an oracle that
knows the ground truth (class, duplicates, outputs on no object, ranking, missed objects),
so the gap to AP50 = 1 splits into parts. Diagnosis only: the oracles use the truth.
Run it on validation data; the held-out set is measured, not studied.
"""
import argparse
import contextlib
import io
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

ENGINES = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ENGINES))
from judge_frames import rle_bytes  # noqa: E402
from pycocotools import mask as mask_utils  # noqa: E402
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402


def load(ann, results):
    """COCO images, gts and dets as judge_frames builds them (one image per frame)."""
    by_video, by_frame = {}, {}
    for a in ann["annotations"]:
        by_video.setdefault(a["video_id"], []).append(a)
    for r in results:
        by_frame.setdefault((r["video_id"], r["frame"]), []).append(r)
    images, gts, dets = [], [], []
    for v in sorted(ann["videos"], key=lambda v: v["id"]):
        for f in range(v["length"]):
            img = len(images) + 1
            images.append({"id": img, "width": v["width"], "height": v["height"]})
            for a in by_video.get(v["id"], []):
                rle = a["segmentations"][f]
                if rle is None:
                    continue
                m = mask_utils.decode(rle_bytes(rle))
                if not m.any():
                    continue
                gts.append({"id": len(gts) + 1, "image_id": img, "iscrowd": 0,
                            "category_id": a["category_id"], "area": float(m.sum()),
                            "visible": a["visible_fractions"][f],
                            "segmentation": mask_utils.encode(np.asfortranarray(m))})
            for r in by_frame.get((v["id"], f), []):
                dets.append({"image_id": img, "category_id": r["category_id"], "score": r["score"],
                             "segmentation": rle_bytes(r["segmentation"]), "track": r.get("track_id")})
    return images, gts, dets


def evaluated(images, gts, dets, cats, **params):
    """pycocotools' segm COCOeval on copies of gts/dets after evaluate(), its prints
    swallowed; `params` are set on ev.params first (maxDets, iouThrs, ...)."""
    gt = COCO()
    with contextlib.redirect_stdout(io.StringIO()):
        gt.dataset = {"images": images, "annotations": [dict(g) for g in gts], "categories": cats}
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes([dict(d) for d in dets]), "segm")
        for k, v in params.items():
            setattr(ev.params, k, v)
        ev.evaluate()
    return ev


def ap50(images, gts, dets, cats):
    ev = evaluated(images, gts, dets, cats, maxDets=[1, 10, 100], iouThrs=np.array([0.5]))
    with contextlib.redirect_stdout(io.StringIO()):
        ev.accumulate()
        ev.summarize()
    return ev.stats[0]


def best_gt(gts, dets):
    """Per det: (best IoU with any GT of its image, that GT's index or -1)."""
    g_by_img = {}
    for j, g in enumerate(gts):
        g_by_img.setdefault(g["image_id"], []).append(j)
    out = []
    for d in dets:
        js = g_by_img.get(d["image_id"], [])
        if not js:
            out.append((0.0, -1))
            continue
        iou = mask_utils.iou([d["segmentation"]], [gts[j]["segmentation"] for j in js], [0] * len(js))[0]
        k = int(np.argmax(iou))
        out.append((float(iou[k]), js[k]))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--annotations", type=Path, required=True)
    ap.add_argument("--results", type=Path, required=True)
    args = ap.parse_args()
    ann = json.loads(args.annotations.read_text())
    images, gts, dets = load(ann, json.loads(args.results.read_text()))
    cats = ann["categories"]
    bg = best_gt(gts, dets)
    rows = [("as emitted", ap50(images, gts, dets, cats))]

    # Class: an output on an object (IoU >= .5) takes that object's class.
    fixed = [dict(d, category_id=gts[j]["category_id"]) if iou >= 0.5 else d for d, (iou, j) in zip(dets, bg)]
    rows.append(("class oracle", ap50(images, gts, fixed, cats)))
    # No object: drop outputs whose best IoU with any object is < .5.
    on_obj = [d for d, (iou, _) in zip(dets, bg) if iou >= 0.5]
    rows.append(("drop outputs on no object", ap50(images, gts, on_obj, cats)))
    # Duplicates: of several outputs on one object keep the best-scored.
    seen, dedup = set(), []
    for i in sorted(range(len(dets)), key=lambda i: -dets[i]["score"]):
        iou, j = bg[i]
        if iou >= 0.5 and j in seen:
            continue
        if iou >= 0.5:
            seen.add(j)
        dedup.append(dets[i])
    rows.append(("drop duplicates", ap50(images, gts, dedup, cats)))
    # Ranking: right-class outputs on an object score above everything else.
    ranked = [dict(d, score=1.0 + d["score"]) if iou >= 0.5 and gts[j]["category_id"] == d["category_id"] else d
              for d, (iou, j) in zip(dets, bg)]
    rows.append(("ranking oracle", ap50(images, gts, ranked, cats)))
    allfix = [dict(d, category_id=gts[j]["category_id"], score=1.0 + d["score"]) for d, (iou, j) in zip(dets, bg) if iou >= 0.5]
    rows.append(("all three oracles (recall ceiling)", ap50(images, gts, allfix, cats)))

    hit = {j for iou, j in bg if iou >= 0.5}
    missed = [g for j, g in enumerate(gts) if j not in hit]
    fp_kind = Counter()
    for d, (iou, j) in zip(dets, bg):
        if iou < 0.5:
            fp_kind["no object (iou<.5) score>.3" if d["score"] > 0.3 else "no object (iou<.5) score<=.3"] += 1
        elif gts[j]["category_id"] != d["category_id"]:
            fp_kind["wrong class score>.3" if d["score"] > 0.3 else "wrong class score<=.3"] += 1
    print(f"{len(gts)} objects, {len(dets)} outputs, {len(missed)} objects no output reaches IoU .5")
    for name, v in rows:
        print(f"  AP50 {v:.4f}  {name}")
    print("  non-matching outputs:", dict(fp_kind))
    for key, edges in (("visible", (0, .2, .4, .6, .8, 1.01)), ("area", (0, 100, 200, 400, 800, 1e9))):
        band = Counter()
        total = Counter()
        for j, g in enumerate(gts):
            b = next(k for k in range(len(edges) - 1) if g[key] < edges[k + 1])
            total[b] += 1
            band[b] += j not in hit
        print(f"  missed by {key}:", ", ".join(f"[{edges[k]}, {edges[k+1]}) {band[k]}/{total[k]}" for k in sorted(total)))


if __name__ == "__main__":
    main()
